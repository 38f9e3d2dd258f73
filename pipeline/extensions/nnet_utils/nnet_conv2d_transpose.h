#ifndef NNET_CONV2D_TRANSPOSE_H_
#define NNET_CONV2D_TRANSPOSE_H_

// Conv2DTranspose (channels_last) by stride-phase decomposition -- unet-fsic hls4ml extension (pipeline/extensions).
//
// Algorithm. Full (uncropped) output y[t,u] = sum_{iy*s_h+ky=t, ix*s_w+kx=u} x[iy,ix] . K[ky,kx]. Output pixel (oy,ox)
// is full pixel (t,u) = (oy+pad_top, ox+pad_left). Write t = q*s_h + p (phase p, base q): the only input rows that
// reach t are iy = q-m with ky = p+m*s_h, m < M_h = ceil(k_h/s_h) (same for columns). Hence each output pixel is ONE
// dense product: window[(m*M_w+n)*Cin+c] = x[q-m, qx-n, c] (0 outside the input) times the phase-(p_y,p_x) weight
// matrix (n_in = M_h*M_w*Cin, n_out = Cout), built offline from the Keras kernel. No inserted zero is multiplied;
// for k == s (e.g. the U-Net's k2s2) there are exactly Cin*Cout products per output pixel = Cin*Cout*k^2 per input
// pixel.
//
// The per-pixel product (convt_pixel_product, shared by the io_parallel kernel below, the io_stream kernel and the
// fused conv block) takes the phase as a runtime value and the WHOLE weight array (never a pointer into it):
//
// * Latency: weights in hls4ml's DenseLatency order, phase-major: weights[phase*n_w + i*n_out + o]. The phase's
//   matrix is selected into a fully partitioned local copy by an explicit n_phases-input mux per weight, then
//   hls4ml's own nnet::dense (CONFIG_T::mult_config: DenseLatency, ALLOCATION limit = multiplier_limit).
// * Resource: our own copy of hls4ml's dense_resource (same ReuseLoop / MultLoop, same index patterns for the three
//   variants rf_leq_nin, rf_gt_nin_rem0, rf_gt_nin; accumulators in accum_t initialised with the bias, one cast at the
//   end), reading ONE reshaped word per ReuseLoop iteration. Weight layout ("phase-major Resource word order"):
//
//       weights[(phase*RF + ir) + im*(n_phases*RF)] = W_phase[o][i]   with  o*n_in + i = ir + im*RF,
//
//   ir < RF (ReuseLoop), im < block_factor = n_in*n_out/RF (MultLoop lane), W_phase the (n_out x n_in) matrix of the
//   phase (hls4ml's transposed Resource layout). ARRAY_RESHAPE block factor=block_factor on the whole array makes word
//   w = {weights[w + im*n_phases*RF] : im < block_factor}, so word phase*RF + ir holds exactly the block_factor weights
//   of ReuseLoop iteration ir of that phase: one word per cycle, n_phases*RF words of block_factor*W_w bits (a ROM
//   of depth n_phases*RF). hls4ml's snapped ReuseFactors divide n_in*n_out (FPGABackend._validate_reuse_factor), so
//   the words are full; the Python side (InitConv2DTranspose) refuses anything else.

#include "nnet_common.h"
#include "nnet_dense.h"
#include "nnet_mult.h"
#include <assert.h>

namespace nnet {

struct conv2d_transpose_config {
    static const unsigned in_height = 4;
    static const unsigned in_width = 4;
    static const unsigned n_chan = 1;
    static const unsigned out_height = 8;
    static const unsigned out_width = 8;
    static const unsigned n_filt = 1;
    static const unsigned filt_height = 2;
    static const unsigned filt_width = 2;
    static const unsigned stride_height = 2;
    static const unsigned stride_width = 2;
    static const unsigned pad_top = 0;
    static const unsigned pad_left = 0;
    static const unsigned n_taps_h = 1;
    static const unsigned n_taps_w = 1;
    static const unsigned n_phases = 4;
    static const unsigned reuse_factor = 1;
    static const unsigned strategy = latency;
    typedef float accum_t;
    typedef float bias_t;
    typedef float weight_t;
    typedef dense_config mult_config;
};

template <typename CONFIG_T> struct convt_geom {
    static const unsigned n_in = CONFIG_T::n_taps_h * CONFIG_T::n_taps_w * CONFIG_T::n_chan;
    static const unsigned n_out = CONFIG_T::n_filt;
    static const unsigned n_w = n_in * CONFIG_T::n_filt; // weights per phase
    // Resource: multipliers (MultLoop lanes) = weights per reshaped word; words = n_phases * reuse_factor
    static const unsigned block_factor = DIV_ROUNDUP(n_w, CONFIG_T::reuse_factor);
    static const unsigned n_words = CONFIG_T::n_phases * CONFIG_T::reuse_factor;
};

// ---------------------------------------------------------------------------------------------------------------------
// Resource: hls4ml's dense_resource (nnet_dense_resource.h) on the phase-major word layout (header comment)
// ---------------------------------------------------------------------------------------------------------------------
template <class data_T, class res_T, typename CONFIG_T>
void convt_product_resource(data_T data[convt_geom<CONFIG_T>::n_in], res_T res[CONFIG_T::n_filt], unsigned phase,
                            typename CONFIG_T::weight_t weights[CONFIG_T::n_phases * convt_geom<CONFIG_T>::n_w],
                            typename CONFIG_T::bias_t biases[CONFIG_T::n_filt]) {
    typedef typename CONFIG_T::mult_config mult_T;
    const int rufactor = CONFIG_T::reuse_factor;
    const int nin = convt_geom<CONFIG_T>::n_in;
    const int nout = convt_geom<CONFIG_T>::n_out;
    const int multfactor = MIN(nin, rufactor);
    const int multiplier_limit = DIV_ROUNDUP(nin * nout, multfactor);
    const int block_factor = convt_geom<CONFIG_T>::block_factor;
    const int multscale = multiplier_limit / nout;
    const int lane_stride = CONFIG_T::n_phases * rufactor; // flat distance between two lanes of one word

    assert((multiplier_limit % nout == 0 || rufactor >= nin) && "The current Reuse Factor is not allowed");
    assert((nin * nout) % rufactor == 0 && "ConvT Resource layout needs RF | n_in*n_out (hls4ml's valid RFs)");

    #pragma HLS function_instantiate variable=weights,biases
    #pragma HLS ARRAY_RESHAPE   variable=weights block factor=block_factor
    #pragma HLS ARRAY_PARTITION variable=biases complete

    if (CONFIG_T::reuse_factor > 1) {
        #pragma HLS RESOURCE variable=weights core=ROM_nP_BRAM
    }

    typename mult_T::accum_t acc[CONFIG_T::n_filt];
    #pragma HLS ARRAY_PARTITION variable=acc complete

InitAccum:
    for (int iacc = 0; iacc < nout; iacc++) {
        #pragma HLS UNROLL
        acc[iacc] = (typename mult_T::accum_t)biases[iacc];
    }

    const int word_base = phase * rufactor; // word (phase*RF + ir) at ReuseLoop iteration ir

    if (rufactor <= nin) {
        // dense_resource_rf_leq_nin: lane im multiplies data[ir + (im % multscale)*RF] into acc[im / multscale]
    ReuseLoop:
        for (int ir = 0; ir < rufactor; ir++) {
            #pragma HLS PIPELINE II=1 rewind
            int in_index = ir;
            int out_index = 0;
            int acc_step = 0;
        MultLoop:
            for (int im = 0; im < block_factor; im++) {
                #pragma HLS UNROLL
                acc[out_index] += static_cast<typename mult_T::accum_t>(
                    mult_T::template product<data_T, typename mult_T::weight_t>::product(
                        data[in_index], weights[word_base + ir + im * lane_stride]));
                in_index += rufactor;
                if (in_index >= nin) {
                    in_index = ir;
                }
                if (acc_step + 1 >= multscale) {
                    acc_step = 0;
                    out_index++;
                } else {
                    acc_step++;
                }
            }
        }
    } else if (rufactor % nin == 0) {
        // dense_resource_rf_gt_nin_rem0: iteration ir reads data[ir % n_in]; lane im adds into acc[ir / n_in + im*RF/n_in]
        const int outscale = rufactor / nin;
        int outidx[rufactor];
        int outstep = 0;
    IndexLoop:
        for (int ir = 0; ir < rufactor; ir++) {
            outidx[ir] = outstep;
            if ((ir + 1) % nin == 0) {
                outstep++;
            }
        }
        int in_index = 0;
    ReuseLoopGt:
        for (int ir = 0; ir < rufactor; ir++) {
            #pragma HLS PIPELINE II=1 rewind
            int w_index = ir;
            int out_index = outidx[ir];
        MultLoopGt:
            for (int im = 0; im < block_factor; im++) {
                #pragma HLS UNROLL
                acc[out_index] += static_cast<typename mult_T::accum_t>(
                    mult_T::template product<data_T, typename mult_T::weight_t>::product(
                        data[in_index], weights[word_base + ir + im * lane_stride]));
                w_index += rufactor;
                if (w_index >= nin * nout)
                    break; // check out of bounds (never taken: RF | n_in*n_out)
                out_index += outscale;
            }
            in_index++;
            if (in_index >= nin) {
                in_index = 0;
            }
        }
    } else {
        // dense_resource_rf_gt_nin (RF > n_in, RF % n_in != 0; hls4ml's snapping never produces it for this layer):
        // lane im multiplies data[w % n_in] into acc[w / n_in], w = ir + im*RF
    ReuseLoopGen:
        for (int ir = 0; ir < rufactor; ir++) {
            #pragma HLS PIPELINE II=1 rewind
        MultLoopGen:
            for (int im = 0; im < block_factor; im++) {
                #pragma HLS UNROLL
                const int w_index = ir + rufactor * im;
                if (w_index >= nin * nout)
                    continue; // check out of bounds
                acc[w_index / nin] += static_cast<typename mult_T::accum_t>(
                    mult_T::template product<data_T, typename mult_T::weight_t>::product(
                        data[w_index % nin], weights[word_base + ir + im * lane_stride]));
            }
        }
    }

// Cast to "res_t" type
Result:
    for (int ires = 0; ires < nout; ires++) {
        #pragma HLS UNROLL
        res[ires] = cast<data_T, res_T, mult_T>(acc[ires]);
    }
}

// ---------------------------------------------------------------------------------------------------------------------
// Latency: explicit phase mux into a fully partitioned local matrix, then hls4ml's DenseLatency
// ---------------------------------------------------------------------------------------------------------------------
template <class data_T, class res_T, typename CONFIG_T>
void convt_product_latency(data_T data[convt_geom<CONFIG_T>::n_in], res_T res[CONFIG_T::n_filt], unsigned phase,
                           typename CONFIG_T::weight_t weights[CONFIG_T::n_phases * convt_geom<CONFIG_T>::n_w],
                           typename CONFIG_T::bias_t biases[CONFIG_T::n_filt]) {
    #pragma HLS INLINE
    #pragma HLS ARRAY_PARTITION variable=weights complete
    const unsigned n_w = convt_geom<CONFIG_T>::n_w;
    typename CONFIG_T::mult_config::weight_t w_phase[n_w];
    #pragma HLS ARRAY_PARTITION variable=w_phase complete
PhaseSelect:
    for (unsigned k = 0; k < n_w; k++) {
        #pragma HLS UNROLL
        typename CONFIG_T::weight_t w = weights[k];
    PhaseMux:
        for (unsigned p = 1; p < CONFIG_T::n_phases; p++) {
            #pragma HLS UNROLL
            if (phase == p)
                w = weights[p * n_w + k];
        }
        w_phase[k] = w;
    }
    dense<data_T, res_T, typename CONFIG_T::mult_config>(data, res, w_phase, biases);
}

// Strategy dispatch by template specialisation: only the chosen product is instantiated, so synthesis never sees
// both the Latency partitioning and the Resource reshape of the same weight array (hls4ml selects its dense kernel
// the same way, through the mult_config's `kernel` alias).
template <class data_T, class res_T, typename CONFIG_T, bool is_latency> struct convt_product_impl;

template <class data_T, class res_T, typename CONFIG_T> struct convt_product_impl<data_T, res_T, CONFIG_T, true> {
    static void product(data_T data[convt_geom<CONFIG_T>::n_in], res_T res[CONFIG_T::n_filt], unsigned phase,
                        typename CONFIG_T::weight_t weights[CONFIG_T::n_phases * convt_geom<CONFIG_T>::n_w],
                        typename CONFIG_T::bias_t biases[CONFIG_T::n_filt]) {
        #pragma HLS INLINE
        convt_product_latency<data_T, res_T, CONFIG_T>(data, res, phase, weights, biases);
    }
};

template <class data_T, class res_T, typename CONFIG_T> struct convt_product_impl<data_T, res_T, CONFIG_T, false> {
    static void product(data_T data[convt_geom<CONFIG_T>::n_in], res_T res[CONFIG_T::n_filt], unsigned phase,
                        typename CONFIG_T::weight_t weights[CONFIG_T::n_phases * convt_geom<CONFIG_T>::n_w],
                        typename CONFIG_T::bias_t biases[CONFIG_T::n_filt]) {
        #pragma HLS INLINE
        convt_product_resource<data_T, res_T, CONFIG_T>(data, res, phase, weights, biases);
    }
};

// One output pixel: res[o] = cast(bias[o] + sum_i data[i] * W_phase[i][o]) (the phase's dense product).
template <class data_T, class res_T, typename CONFIG_T>
void convt_pixel_product(data_T data[convt_geom<CONFIG_T>::n_in], res_T res[CONFIG_T::n_filt], unsigned phase,
                         typename CONFIG_T::weight_t weights[CONFIG_T::n_phases * convt_geom<CONFIG_T>::n_w],
                         typename CONFIG_T::bias_t biases[CONFIG_T::n_filt]) {
    #pragma HLS INLINE
    convt_product_impl<data_T, res_T, CONFIG_T, CONFIG_T::strategy == nnet::latency>::product(data, res, phase, weights,
                                                                                               biases);
}

// ---------------------------------------------------------------------------------------------------------------------
// io_parallel: data[in_height*in_width*n_chan] -> res[out_height*out_width*n_filt]
//
// hls4ml runs an io_parallel model with Latency layers under a top-level PIPELINE (pipeline style 'pipeline'), which
// unrolls this whole function: every output pixel gets its own product (out_height*out_width*n_in*n_out multipliers
// before the ALLOCATION limit of each DenseLatency), exactly like hls4ml's own io_parallel convolutions. With
// Resource the top is a DATAFLOW region (pipeline style 'dataflow'): the pixel loop is then sequential (not pipelined,
// as for io_stream), each pixel one shared Resource product (block_factor multipliers, one weight word per cycle).
// ---------------------------------------------------------------------------------------------------------------------
template <class data_T, class res_T, typename CONFIG_T>
void conv2d_transpose_cl(data_T data[CONFIG_T::in_height * CONFIG_T::in_width * CONFIG_T::n_chan],
                         res_T res[CONFIG_T::out_height * CONFIG_T::out_width * CONFIG_T::n_filt],
                         typename CONFIG_T::weight_t weights[CONFIG_T::n_phases * convt_geom<CONFIG_T>::n_w],
                         typename CONFIG_T::bias_t biases[CONFIG_T::n_filt]) {
    const unsigned n_in = convt_geom<CONFIG_T>::n_in;
    data_T window[n_in];
    #pragma HLS ARRAY_PARTITION variable=window complete
    res_T pix[CONFIG_T::n_filt];
    #pragma HLS ARRAY_PARTITION variable=pix complete

OutRows:
    for (unsigned oy = 0; oy < CONFIG_T::out_height; oy++) {
        const int t = oy + CONFIG_T::pad_top;
        const int q = t / CONFIG_T::stride_height;
        const unsigned py = t % CONFIG_T::stride_height;
    OutCols:
        for (unsigned ox = 0; ox < CONFIG_T::out_width; ox++) {
            if (CONFIG_T::strategy == nnet::latency) {
                #pragma HLS PIPELINE II=CONFIG_T::reuse_factor
            }
            const int u = ox + CONFIG_T::pad_left;
            const int qx = u / CONFIG_T::stride_width;
            const unsigned px = u % CONFIG_T::stride_width;
        FillRows:
            for (int m = 0; m < (int)CONFIG_T::n_taps_h; m++) {
                #pragma HLS UNROLL
            FillCols:
                for (int n = 0; n < (int)CONFIG_T::n_taps_w; n++) {
                    #pragma HLS UNROLL
                    const int iy = q - m, ix = qx - n;
                    const bool inside = iy >= 0 && iy < (int)CONFIG_T::in_height && ix >= 0 && ix < (int)CONFIG_T::in_width;
                FillChan:
                    for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
                        #pragma HLS UNROLL
                        window[(m * CONFIG_T::n_taps_w + n) * CONFIG_T::n_chan + c] =
                            inside ? data[(iy * CONFIG_T::in_width + ix) * CONFIG_T::n_chan + c] : data_T(0);
                    }
                }
            }
            const unsigned phase = py * CONFIG_T::stride_width + px;
            convt_pixel_product<data_T, res_T, CONFIG_T>(window, pix, phase, weights, biases);
        Store:
            for (unsigned o = 0; o < CONFIG_T::n_filt; o++) {
                #pragma HLS UNROLL
                res[(oy * CONFIG_T::out_width + ox) * CONFIG_T::n_filt + o] = pix[o];
            }
        }
    }
}

} // namespace nnet

#endif
