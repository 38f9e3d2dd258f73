#ifndef NNET_CONV2D_TRANSPOSE_STREAM_H_
#define NNET_CONV2D_TRANSPOSE_STREAM_H_

// io_stream Conv2DTranspose (stride-phase decomposition, see nnet_conv2d_transpose.h for the algorithm, the per-pixel
// product and the weight layouts).
//
// Streaming schedule. Output rows are produced in raster order. Output row oy needs input rows q-M_h+1 .. q with
// q = (oy+pad_top) / s_h, and q never decreases with oy, so a ring buffer of the last M_h input rows
// (M_h * in_width * n_chan values -- one row for k <= s, never a full frame) is enough: before row oy we read input
// rows up to min(q, in_height-1) into the ring (row r lives in slot r % M_h), then emit out_width pixels, each one
// dense product of its M_h x M_w x Cin window with its phase's weight matrix. Rows/cols outside the input are zeros.
//
// Line buffer, conflict-free for any k/s: line_buf[slot][bank][addr][c] holds input column ix of the row in ring
// slot `slot` at bank ix % M_w, address ix / M_w; dimensions slot, bank and channel are fully partitioned, so each
// (slot, bank, c) is its own memory of depth ceil(in_width / M_w). The window of a pixel spans the M_h ring slots
// and M_w consecutive columns qx-M_w+1 .. qx, i.e. one column per bank: every memory is read exactly ONCE per output
// pixel (at a runtime address), and the taps are then routed by a mux over registers (tap m <- slot (q-m) % M_h,
// tap n <- bank (qx-n) % M_w). The input loop writes one column (one address per memory) per cycle.
//
// Pixel loop: pipelined at II = reuse_factor for Latency only (hls4ml's nnet_conv2d_stream.h does the same); with
// Resource it is left unpipelined so the product's own ReuseLoop (PIPELINE II=1) is what synthesis pipelines, with
// block_factor multipliers -- pipelining the pixel loop would unroll the ReuseLoop into n_in*n_out multipliers.
//
// One core, two users. conv2d_transpose_stream_core takes an EMIT_T policy that turns the pixel's product (an array
// of EMIT_T::prod_t, cast from the accumulator by the product) into one stream write: convt_emit_pack (below, the
// plain layer: pack and write) and the fused conv block's BatchNorm + ReLU epilogue
// (nnet_fsic_fused_conv_block_stream.h). EMIT_T::emit gets two arrays (arg0, arg1) of its own types, passed through
// unchanged (the epilogue's scale and bias; unused by convt_emit_pack).

#include "hls_stream.h"
#include "nnet_common.h"
#include "nnet_conv2d_transpose.h"
#include "nnet_dense.h"

namespace nnet {

// Plain ConvT: the product is computed directly in the output type and packed into one stream word.
template <class res_T, typename CONFIG_T> struct convt_emit_pack {
    typedef typename res_T::value_type prod_t;
    typedef typename CONFIG_T::bias_t arg0_t; // unused
    typedef typename CONFIG_T::bias_t arg1_t; // unused
    static const unsigned n_arg = CONFIG_T::n_filt;
    static void emit(prod_t x[CONFIG_T::n_filt], hls::stream<res_T> &res, arg0_t arg0[n_arg], arg1_t arg1[n_arg]) {
        #pragma HLS INLINE
        res_T out_pack;
        PRAGMA_DATA_PACK(out_pack)
    Pack:
        for (unsigned o = 0; o < CONFIG_T::n_filt; o++) {
            #pragma HLS UNROLL
            out_pack[o] = x[o];
        }
        res.write(out_pack);
    }
};

template <class data_T, class res_T, typename CONFIG_T, class EMIT_T>
void conv2d_transpose_stream_core(hls::stream<data_T> &data, hls::stream<res_T> &res,
                                  typename CONFIG_T::weight_t weights[CONFIG_T::n_phases * convt_geom<CONFIG_T>::n_w],
                                  typename CONFIG_T::bias_t biases[CONFIG_T::n_filt],
                                  typename EMIT_T::arg0_t arg0[EMIT_T::n_arg],
                                  typename EMIT_T::arg1_t arg1[EMIT_T::n_arg]) {
    #pragma HLS INLINE
    typedef typename data_T::value_type in_t;
    const unsigned n_in = convt_geom<CONFIG_T>::n_in;
    const unsigned M_h = CONFIG_T::n_taps_h;
    const unsigned M_w = CONFIG_T::n_taps_w;
    const unsigned depth = DIV_ROUNDUP(CONFIG_T::in_width, CONFIG_T::n_taps_w);

    in_t line_buf[M_h][M_w][depth][CONFIG_T::n_chan];
    #pragma HLS ARRAY_PARTITION variable=line_buf complete dim=1
    #pragma HLS ARRAY_PARTITION variable=line_buf complete dim=2
    #pragma HLS ARRAY_PARTITION variable=line_buf complete dim=4
    in_t col[M_h][M_w][CONFIG_T::n_chan];
    #pragma HLS ARRAY_PARTITION variable=col complete dim=0
    in_t window[n_in];
    #pragma HLS ARRAY_PARTITION variable=window complete
    typename EMIT_T::prod_t prod[CONFIG_T::n_filt];
    #pragma HLS ARRAY_PARTITION variable=prod complete

    int rows_read = 0;
OutRows:
    for (unsigned oy = 0; oy < CONFIG_T::out_height; oy++) {
        const int t = oy + CONFIG_T::pad_top;
        const int q = t / CONFIG_T::stride_height;
        const unsigned py = t % CONFIG_T::stride_height;
        const unsigned q_slot = q % M_h;
        const int last_needed = q < (int)CONFIG_T::in_height ? q : (int)CONFIG_T::in_height - 1;
    ReadRows:
        while (rows_read <= last_needed) {
            #pragma HLS LOOP_TRIPCOUNT min=0 max=CONFIG_T::n_taps_h avg=1
            const unsigned slot = rows_read % M_h;
            unsigned bank = 0, addr = 0;
        ReadCols:
            for (unsigned ix = 0; ix < CONFIG_T::in_width; ix++) {
                #pragma HLS PIPELINE
                data_T pix = data.read();
                for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
                    #pragma HLS UNROLL
                    line_buf[slot][bank][addr][c] = pix[c];
                }
                if (bank + 1 == M_w) {
                    bank = 0;
                    addr++;
                } else {
                    bank++;
                }
            }
            rows_read++;
        }
    OutCols:
        for (unsigned ox = 0; ox < CONFIG_T::out_width; ox++) {
            if (CONFIG_T::strategy == nnet::latency) {
                #pragma HLS PIPELINE II=CONFIG_T::reuse_factor
            }
            const int u = ox + CONFIG_T::pad_left;
            const int qx = u / CONFIG_T::stride_width;
            const unsigned px = u % CONFIG_T::stride_width;
            const unsigned qx_bank = qx % M_w;
        // one read per line-buffer memory: slot r holds row q - ((q - r) mod M_h), bank b column qx - ((qx - b) mod M_w)
        ReadSlots:
            for (unsigned r = 0; r < M_h; r++) {
                #pragma HLS UNROLL
                const int iy = q - (int)((q_slot + M_h - r) % M_h);
                const bool row_ok = iy >= 0 && iy < (int)CONFIG_T::in_height;
            ReadBanks:
                for (unsigned b = 0; b < M_w; b++) {
                    #pragma HLS UNROLL
                    const int ix = qx - (int)((qx_bank + M_w - b) % M_w);
                    const bool ok = row_ok && ix >= 0 && ix < (int)CONFIG_T::in_width;
                    const unsigned a = ok ? (unsigned)ix / M_w : 0;
                ReadChan:
                    for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
                        #pragma HLS UNROLL
                        col[r][b][c] = ok ? line_buf[r][b][a][c] : in_t(0);
                    }
                }
            }
        // route: tap (m, n) = input (q-m, qx-n) = slot (q-m) mod M_h, bank (qx-n) mod M_w
        Taps:
            for (unsigned m = 0; m < M_h; m++) {
                #pragma HLS UNROLL
                const unsigned r = (q_slot + M_h - m) % M_h;
                for (unsigned n = 0; n < M_w; n++) {
                    #pragma HLS UNROLL
                    const unsigned b = (qx_bank + M_w - n) % M_w;
                    for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
                        #pragma HLS UNROLL
                        window[(m * M_w + n) * CONFIG_T::n_chan + c] = col[r][b][c];
                    }
                }
            }
            const unsigned phase = py * CONFIG_T::stride_width + px;
            convt_pixel_product<in_t, typename EMIT_T::prod_t, CONFIG_T>(window, prod, phase, weights, biases);
            EMIT_T::emit(prod, res, arg0, arg1);
        }
    }
// Defensive drain (never taken for Keras output sizes: the last output row always has q >= in_height-1).
DrainRows:
    for (; rows_read < (int)CONFIG_T::in_height; rows_read++) {
        #pragma HLS LOOP_TRIPCOUNT min=0 max=CONFIG_T::in_height avg=0
        for (unsigned ix = 0; ix < CONFIG_T::in_width; ix++) {
            #pragma HLS PIPELINE
            data.read();
        }
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void conv2d_transpose_cl_stream(hls::stream<data_T> &data, hls::stream<res_T> &res,
                                typename CONFIG_T::weight_t weights[CONFIG_T::n_phases * convt_geom<CONFIG_T>::n_w],
                                typename CONFIG_T::bias_t biases[CONFIG_T::n_filt]) {
    conv2d_transpose_stream_core<data_T, res_T, CONFIG_T, convt_emit_pack<res_T, CONFIG_T>>(data, res, weights, biases,
                                                                                            biases, biases);
}

} // namespace nnet

#endif
