#ifndef NNET_FSIC_ARGMAX_H_
#define NNET_FSIC_ARGMAX_H_

// Per-pixel argmax over channels (unet-fsic output head). Tie rule: the LOWEST channel index among equal maxima
// wins (strict '>' while scanning upwards) -- identical to numpy.argmax. Output: one unsigned class index per pixel.

#include "hls_stream.h"
#include "nnet_common.h"

namespace nnet {

struct fsic_argmax_config {
    static const unsigned n_pixels = 1;
    static const unsigned n_chan = 2;
};

template <class in_T, class idx_T, typename CONFIG_T> idx_T fsic_argmax_pixel(const in_T x[CONFIG_T::n_chan]) {
    #pragma HLS INLINE
    in_T best = x[0];
    idx_T idx = 0;
    for (unsigned c = 1; c < CONFIG_T::n_chan; c++) {
        #pragma HLS UNROLL
        if (x[c] > best) {
            best = x[c];
            idx = c;
        }
    }
    return idx;
}

// io_parallel
template <class data_T, class res_T, typename CONFIG_T>
void fsic_argmax(data_T data[CONFIG_T::n_pixels * CONFIG_T::n_chan], res_T res[CONFIG_T::n_pixels]) {
    for (unsigned p = 0; p < CONFIG_T::n_pixels; p++) {
        res[p] = fsic_argmax_pixel<data_T, res_T, CONFIG_T>(&data[p * CONFIG_T::n_chan]);
    }
}

// io_stream: one input pixel (n_chan values) -> one output word (1 index)
template <class data_T, class res_T, typename CONFIG_T>
void fsic_argmax_stream(hls::stream<data_T> &data, hls::stream<res_T> &res) {
    typedef typename data_T::value_type in_t;
    typedef typename res_T::value_type out_t;
Pixels:
    for (unsigned p = 0; p < CONFIG_T::n_pixels; p++) {
        #pragma HLS PIPELINE
        data_T pix = data.read();
        in_t x[CONFIG_T::n_chan];
        #pragma HLS ARRAY_PARTITION variable=x complete
        for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
            #pragma HLS UNROLL
            x[c] = pix[c];
        }
        res_T out;
        PRAGMA_DATA_PACK(out)
        out[0] = fsic_argmax_pixel<in_t, out_t, CONFIG_T>(x);
        res.write(out);
    }
}

} // namespace nnet

#endif
