#ifndef NNET_CONV2D_TRANSPOSE_STREAM_H_
#define NNET_CONV2D_TRANSPOSE_STREAM_H_

// io_stream Conv2DTranspose (stride-phase decomposition, see nnet_conv2d_transpose.h for the algorithm).
//
// Streaming schedule. Output rows are produced in raster order. Output row oy needs input rows q-M_h+1 .. q with
// q = (oy+pad_top) / s_h, and q never decreases with oy, so a ring buffer of the last M_h input rows
// (M_h * in_width * n_chan values -- one row for k <= s, never a full frame) is enough: before row oy we read input
// rows up to min(q, in_height-1) into the ring (row r lives in slot r % M_h), then emit out_width pixels, each one
// dense product of its M_h x M_w x Cin window with its phase's weight matrix. Rows/cols outside the input are zeros.

#include "hls_stream.h"
#include "nnet_common.h"
#include "nnet_conv2d_transpose.h"
#include "nnet_dense.h"

namespace nnet {

template <class data_T, class res_T, typename CONFIG_T>
void conv2d_transpose_cl_stream(hls::stream<data_T> &data, hls::stream<res_T> &res,
                                typename CONFIG_T::weight_t weights[CONFIG_T::n_phases * convt_geom<CONFIG_T>::n_w],
                                typename CONFIG_T::bias_t biases[CONFIG_T::n_filt]) {
    typedef typename data_T::value_type in_t;
    typedef typename res_T::value_type out_t;
    const unsigned n_in = convt_geom<CONFIG_T>::n_in;
    const unsigned n_w = convt_geom<CONFIG_T>::n_w;

    in_t line_buf[CONFIG_T::n_taps_h][CONFIG_T::in_width][CONFIG_T::n_chan];
    #pragma HLS ARRAY_PARTITION variable=line_buf complete dim=1
    #pragma HLS ARRAY_PARTITION variable=line_buf complete dim=3
    in_t window[n_in];
    #pragma HLS ARRAY_PARTITION variable=window complete
    out_t acc[CONFIG_T::n_filt];
    #pragma HLS ARRAY_PARTITION variable=acc complete

    int rows_read = 0;
OutRows:
    for (unsigned oy = 0; oy < CONFIG_T::out_height; oy++) {
        const int t = oy + CONFIG_T::pad_top;
        const int q = t / CONFIG_T::stride_height;
        const unsigned py = t % CONFIG_T::stride_height;
        const int last_needed = q < (int)CONFIG_T::in_height ? q : (int)CONFIG_T::in_height - 1;
    ReadRows:
        while (rows_read <= last_needed) {
            const unsigned slot = rows_read % CONFIG_T::n_taps_h;
        ReadCols:
            for (unsigned ix = 0; ix < CONFIG_T::in_width; ix++) {
                #pragma HLS PIPELINE
                data_T pix = data.read();
                for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
                    #pragma HLS UNROLL
                    line_buf[slot][ix][c] = pix[c];
                }
            }
            rows_read++;
        }
    OutCols:
        for (unsigned ox = 0; ox < CONFIG_T::out_width; ox++) {
            #pragma HLS PIPELINE II=CONFIG_T::reuse_factor
            const int u = ox + CONFIG_T::pad_left;
            const int qx = u / CONFIG_T::stride_width;
            const unsigned px = u % CONFIG_T::stride_width;
            for (int m = 0; m < (int)CONFIG_T::n_taps_h; m++) {
                #pragma HLS UNROLL
                const int iy = q - m;
                const bool row_ok = iy >= 0 && iy < (int)CONFIG_T::in_height;
                const unsigned slot = row_ok ? (unsigned)iy % CONFIG_T::n_taps_h : 0;
                for (int n = 0; n < (int)CONFIG_T::n_taps_w; n++) {
                    #pragma HLS UNROLL
                    const int ix = qx - n;
                    const bool ok = row_ok && ix >= 0 && ix < (int)CONFIG_T::in_width;
                    for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
                        #pragma HLS UNROLL
                        window[(m * CONFIG_T::n_taps_w + n) * CONFIG_T::n_chan + c] =
                            ok ? line_buf[slot][ix][c] : in_t(0);
                    }
                }
            }
            const unsigned phase = py * CONFIG_T::stride_width + px;
            dense<in_t, out_t, typename CONFIG_T::mult_config>(window, acc, &weights[phase * n_w], biases);
            res_T out_pack;
            PRAGMA_DATA_PACK(out_pack)
            for (unsigned o = 0; o < CONFIG_T::n_filt; o++) {
                #pragma HLS UNROLL
                out_pack[o] = acc[o];
            }
            res.write(out_pack);
        }
    }
// Defensive drain (never taken for Keras output sizes: the last output row always has q >= in_height-1).
DrainRows:
    for (; rows_read < (int)CONFIG_T::in_height; rows_read++) {
        for (unsigned ix = 0; ix < CONFIG_T::in_width; ix++) {
            data.read();
        }
    }
}

} // namespace nnet

#endif
