#ifndef NNET_FSIC_FUSED_CONV_BLOCK_STREAM_H_
#define NNET_FSIC_FUSED_CONV_BLOCK_STREAM_H_

// Fused conv block (unet-fsic hls4ml extension, pipeline/extensions/fused_conv_block.py): Conv2D / FsicConv2DTranspose
// -> BatchNormalization (our exact FxpBatchNorm) -> ReLU (quantized_relu) as ONE io_stream process.
//
// Bit-exactness by construction: everything up to the conv's accumulators is hls4ml's own code (the line buffer
// nnet::shift_line_buffer / nnet::kernel_shift_1d of nnet_conv_stream.h, the dense kernel the conv's mult_config names,
// i.e. DenseLatency / DenseResource_*), or, for the transposed conv, our conv2d_transpose_stream_core itself. What
// changes is only what happens to the dense result of one output pixel: instead of packing it into the conv's output
// stream, the epilogue applies the very casts the unfused chain applies, in the same order and with the same types:
//
//   conv_res_t x = dense(...)                      (the conv's former result type: the dense casts accum_t -> it)
//   bn_res_t   y = product(x, scale[o]) + bias[o]   (nnet::normalize: exact product and sum, ONE cast: AP_TRN, AP_SAT)
//   res_T[o]     = y > 0 ? y : 0                   (nnet::relu into the quantized_relu type: AP_RND_CONV, AP_SAT)
//
// and writes the ReLU's (8-bit) pixel to the output stream.
//
// Epilogue schedule: one call per output pixel, pipelined at II = CONFIG_T::reuse_factor (the conv's ReuseFactor by
// default) with at most CONFIG_T::n_mult = ceil(n_filt / reuse_factor) multipliers -- the Cout BatchNorm multiplies
// are time-multiplexed over the cycles the conv itself spends per pixel (hls4ml's normalize idiom: PIPELINE II +
// ALLOCATION limit), not Cout parallel multipliers.

#include "ap_shift_reg.h"
#include "hls_stream.h"
#include "nnet_common.h"
#include "nnet_conv2d.h"
#include "nnet_conv2d_stream.h"
#include "nnet_conv2d_transpose_stream.h"
#include "nnet_dense.h"
#include "nnet_mult.h"

namespace nnet {

struct fsic_fused_block_config {
    static const unsigned n_filt = 1;
    static const unsigned reuse_factor = 1; // epilogue initiation interval (cycles per output pixel)
    static const unsigned n_mult = 1;       // epilogue multipliers: ceil(n_filt / reuse_factor)
    typedef float conv_res_t;               // the conv's result type (= its exact accumulator in unet-fsic)
    typedef float bn_res_t;                 // the BatchNorm result type (ap_fixed<..., AP_TRN, AP_SAT>)
    typedef float scale_t;
    typedef float bias_t;
    template <class x_T, class y_T> using product = nnet::product::mult<x_T, y_T>;
    typedef conv2d_config conv_config; // the producer's own hls4ml config (conv2d_config / conv2d_transpose_config)
};

// ---------------------------------------------------------------------------------------------------------------------
// per-pixel epilogue: BatchNorm affine + ReLU, exactly the unfused nnet::normalize -> nnet::relu casts
// ---------------------------------------------------------------------------------------------------------------------
template <class res_T, typename CONFIG_T>
void fsic_block_epilogue(typename CONFIG_T::conv_res_t x[CONFIG_T::n_filt], res_T &out,
                         typename CONFIG_T::scale_t scale[CONFIG_T::n_filt],
                         typename CONFIG_T::bias_t bias[CONFIG_T::n_filt]) {
    #pragma HLS INLINE off
    #pragma HLS PIPELINE II=CONFIG_T::reuse_factor
    #pragma HLS ALLOCATION operation instances=mul limit=CONFIG_T::n_mult
    #pragma HLS ARRAY_PARTITION variable=scale complete
    #pragma HLS ARRAY_PARTITION variable=bias complete
Epilogue:
    for (unsigned o = 0; o < CONFIG_T::n_filt; o++) {
        #pragma HLS UNROLL
        typename CONFIG_T::bn_res_t y =
            CONFIG_T::template product<typename CONFIG_T::conv_res_t, typename CONFIG_T::scale_t>::product(x[o],
                                                                                                          scale[o]) +
            bias[o];
        if (y > 0)
            out[o] = y;
        else
            out[o] = 0;
    }
}

// One output pixel: the conv's dense product (its own kernel, its own result type), the epilogue, one stream write.
template <class data_T, class res_T, typename CONFIG_T>
void fsic_block_pixel(typename data_T::value_type window[CONFIG_T::conv_config::mult_config::n_in],
                      hls::stream<res_T> &res_stream,
                      typename CONFIG_T::conv_config::mult_config::weight_t
                          weights[CONFIG_T::conv_config::mult_config::n_in * CONFIG_T::n_filt],
                      typename CONFIG_T::conv_config::bias_t biases[CONFIG_T::n_filt],
                      typename CONFIG_T::scale_t scale[CONFIG_T::n_filt],
                      typename CONFIG_T::bias_t bn_bias[CONFIG_T::n_filt]) {
    #pragma HLS INLINE
    typedef typename CONFIG_T::conv_config::mult_config mult_T;
    typename CONFIG_T::conv_res_t conv_out[CONFIG_T::n_filt];
    #pragma HLS ARRAY_PARTITION variable=conv_out complete dim=0
    mult_T::template kernel<typename data_T::value_type, typename CONFIG_T::conv_res_t, mult_T>::dense(
        window, conv_out, weights, biases);
    res_T res_pack;
    PRAGMA_DATA_PACK(res_pack)
    fsic_block_epilogue<res_T, CONFIG_T>(conv_out, res_pack, scale, bn_bias);
    res_stream.write(res_pack);
}

// ---------------------------------------------------------------------------------------------------------------------
// Conv2D producer, hls4ml line-buffer implementation (nnet::conv_2d_buffer_cl / compute_output_buffer_{2d,1d}); the
// counters and the window test are copied verbatim, the window itself is built by hls4ml's functions.
// ---------------------------------------------------------------------------------------------------------------------
template <class data_T, class res_T, typename CONFIG_T>
void fsic_fused_output_buffer_2d(
    const data_T &in_elem,
    ap_shift_reg<typename data_T::value_type, CONFIG_T::conv_config::in_width>
        line_buffer[MAX(CONFIG_T::conv_config::filt_height - 1, 1)][CONFIG_T::conv_config::n_chan],
    hls::stream<res_T> &res_stream,
    typename CONFIG_T::conv_config::weight_t weights[CONFIG_T::conv_config::mult_config::n_in * CONFIG_T::n_filt],
    typename CONFIG_T::conv_config::bias_t biases[CONFIG_T::n_filt], typename CONFIG_T::scale_t scale[CONFIG_T::n_filt],
    typename CONFIG_T::bias_t bn_bias[CONFIG_T::n_filt]) {
    #pragma HLS INLINE OFF
    typedef typename CONFIG_T::conv_config CONV_T;
    const static int lShiftX = CONV_T::filt_width - 1;
    const static int lShiftY = CONV_T::filt_height - 1;
    static int pX = 0;
    static int pY = 0;
    static int sX = 0;
    static int sY = 0;
    static typename data_T::value_type kernel_data[CONV_T::filt_height * CONV_T::filt_width * CONV_T::n_chan];
    #pragma HLS ARRAY_PARTITION variable = kernel_data complete

    nnet::shift_line_buffer<data_T, CONV_T>(in_elem, line_buffer, kernel_data);

    if ((sX - lShiftX) == 0 && (sY - lShiftY) == 0 && pY > lShiftY - 1 && pX > lShiftX - 1) {
        fsic_block_pixel<data_T, res_T, CONFIG_T>(kernel_data, res_stream, weights, biases, scale, bn_bias);
    }

    if (pX + 1 == CONV_T::in_width) {
        pX = 0;
        sX = 0;
        if (pY + 1 == CONV_T::in_height) {
            pY = 0;
            sY = 0;
        } else {
            pY = pY + 1;
            sY = ((sY - lShiftY) == 0) ? sY - CONV_T::stride_height + 1 : sY + 1;
        }
    } else {
        pX = pX + 1;
        sX = ((sX - lShiftX) == 0) ? sX - CONV_T::stride_width + 1 : sX + 1;
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void fsic_fused_output_buffer_1d(const data_T &in_elem, hls::stream<res_T> &res_stream,
                                 typename CONFIG_T::conv_config::weight_t
                                     weights[CONFIG_T::conv_config::mult_config::n_in * CONFIG_T::n_filt],
                                 typename CONFIG_T::conv_config::bias_t biases[CONFIG_T::n_filt],
                                 typename CONFIG_T::scale_t scale[CONFIG_T::n_filt],
                                 typename CONFIG_T::bias_t bn_bias[CONFIG_T::n_filt]) {
    #pragma HLS INLINE OFF
    typedef typename CONFIG_T::conv_config CONV_T;
    const static int lShiftX = CONV_T::filt_width - 1;
    static int pX = 0;
    static int sX = 0;
    static typename data_T::value_type kernel_data[CONV_T::filt_width * CONV_T::n_chan];
    #pragma HLS ARRAY_PARTITION variable = kernel_data complete

    nnet::kernel_shift_1d<data_T, CONV_T>(in_elem, kernel_data);

    if ((sX - lShiftX) == 0 && pX > lShiftX - 1) {
        fsic_block_pixel<data_T, res_T, CONFIG_T>(kernel_data, res_stream, weights, biases, scale, bn_bias);
    }

    if (pX + 1 == CONV_T::in_width) {
        pX = 0;
        sX = 0;
    } else {
        pX = pX + 1;
        sX = ((sX - lShiftX) == 0) ? sX - CONV_T::stride_width + 1 : sX + 1;
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void fsic_fused_conv_2d_cl(
    hls::stream<data_T> &data, hls::stream<res_T> &res,
    typename CONFIG_T::conv_config::weight_t weights[CONFIG_T::conv_config::filt_height *
                                                     CONFIG_T::conv_config::filt_width *
                                                     CONFIG_T::conv_config::n_chan * CONFIG_T::n_filt],
    typename CONFIG_T::conv_config::bias_t biases[CONFIG_T::n_filt], typename CONFIG_T::scale_t scale[CONFIG_T::n_filt],
    typename CONFIG_T::bias_t bn_bias[CONFIG_T::n_filt]) {
    typedef typename CONFIG_T::conv_config CONV_T;
    assert(CONV_T::pad_top == 0 && CONV_T::pad_bottom == 0 && CONV_T::pad_left == 0 && CONV_T::pad_right == 0);

    static ap_shift_reg<typename data_T::value_type, CONV_T::in_width> line_buffer[MAX(CONV_T::filt_height - 1, 1)]
                                                                                 [CONV_T::n_chan];
    #pragma HLS ARRAY_PARTITION variable = line_buffer complete dim = 2

ReadInputHeight:
    for (unsigned i_ih = 0; i_ih < CONV_T::in_height; i_ih++) {
    ReadInputWidth:
        for (unsigned i_iw = 0; i_iw < CONV_T::in_width; i_iw++) {
            #pragma HLS LOOP_FLATTEN
            if (CONV_T::strategy == nnet::latency) {
                #pragma HLS PIPELINE II=CONV_T::reuse_factor
            }
            if (CONV_T::filt_height > 1) {
                fsic_fused_output_buffer_2d<data_T, res_T, CONFIG_T>(data.read(), line_buffer, res, weights, biases,
                                                                     scale, bn_bias);
            } else {
                fsic_fused_output_buffer_1d<data_T, res_T, CONFIG_T>(data.read(), res, weights, biases, scale,
                                                                     bn_bias);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------------
// 1x1 Conv2D producer (hls4ml turns it into PointwiseConv2D: nnet::pointwise_conv_2d_cl / pointwise_mult_buffer)
// ---------------------------------------------------------------------------------------------------------------------
template <class data_T, class res_T, typename CONFIG_T>
void fsic_fused_pointwise_conv_2d_cl(hls::stream<data_T> &data, hls::stream<res_T> &res,
                                     typename CONFIG_T::conv_config::weight_t
                                         weights[CONFIG_T::conv_config::n_chan * CONFIG_T::n_filt],
                                     typename CONFIG_T::conv_config::bias_t biases[CONFIG_T::n_filt],
                                     typename CONFIG_T::scale_t scale[CONFIG_T::n_filt],
                                     typename CONFIG_T::bias_t bn_bias[CONFIG_T::n_filt]) {
    typedef typename CONFIG_T::conv_config CONV_T;
    assert(CONV_T::pad_top == 0 && CONV_T::pad_bottom == 0 && CONV_T::pad_left == 0 && CONV_T::pad_right == 0);
    assert(CONV_T::filt_height == 1 && CONV_T::filt_width == 1);

    #pragma HLS ARRAY_PARTITION variable=weights complete
    #pragma HLS ARRAY_PARTITION variable=biases complete

ReadInputHeight:
    for (unsigned i_ih = 0; i_ih < CONV_T::in_height; i_ih++) {
    ReadInputWidth:
        for (unsigned i_iw = 0; i_iw < CONV_T::in_width; i_iw++) {
            if (CONV_T::strategy == nnet::latency) {
                #pragma HLS PIPELINE II=CONV_T::reuse_factor
            }
            if (i_ih % CONV_T::stride_height == 0 && i_iw % CONV_T::stride_width == 0) {
                data_T pix = data.read();
                typename data_T::value_type window[CONV_T::n_chan];
                #pragma HLS ARRAY_PARTITION variable=window complete
                for (unsigned c = 0; c < CONV_T::n_chan; c++) {
                    #pragma HLS UNROLL
                    window[c] = pix[c];
                }
                fsic_block_pixel<data_T, res_T, CONFIG_T>(window, res, weights, biases, scale, bn_bias);
            } else {
                data.read();
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------------
// FsicConv2DTranspose producer: the ConvT stream kernel's own core (nnet::conv2d_transpose_stream_core,
// nnet_conv2d_transpose_stream.h: line buffer, window, per-pixel product with its Latency / Resource structure and
// weight layout) with an emit policy that runs the epilogue instead of packing the product.
// ---------------------------------------------------------------------------------------------------------------------
template <class res_T, typename CONFIG_T> struct fsic_convt_emit_block {
    typedef typename CONFIG_T::conv_res_t prod_t; // the product is cast to the conv's result type, as unfused
    typedef typename CONFIG_T::scale_t arg0_t;
    typedef typename CONFIG_T::bias_t arg1_t;
    static const unsigned n_arg = CONFIG_T::n_filt;
    static void emit(prod_t x[CONFIG_T::n_filt], hls::stream<res_T> &res_stream, arg0_t scale[n_arg],
                     arg1_t bn_bias[n_arg]) {
        #pragma HLS INLINE
        res_T res_pack;
        PRAGMA_DATA_PACK(res_pack)
        fsic_block_epilogue<res_T, CONFIG_T>(x, res_pack, scale, bn_bias);
        res_stream.write(res_pack);
    }
};

template <class data_T, class res_T, typename CONFIG_T>
void fsic_fused_conv2d_transpose_cl(
    hls::stream<data_T> &data, hls::stream<res_T> &res,
    typename CONFIG_T::conv_config::weight_t
        weights[CONFIG_T::conv_config::n_phases * convt_geom<typename CONFIG_T::conv_config>::n_w],
    typename CONFIG_T::conv_config::bias_t biases[CONFIG_T::n_filt], typename CONFIG_T::scale_t scale[CONFIG_T::n_filt],
    typename CONFIG_T::bias_t bn_bias[CONFIG_T::n_filt]) {
    conv2d_transpose_stream_core<data_T, res_T, typename CONFIG_T::conv_config, fsic_convt_emit_block<res_T, CONFIG_T>>(
        data, res, weights, biases, scale, bn_bias);
}

} // namespace nnet

#endif
