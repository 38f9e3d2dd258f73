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
// pixel. The dense product is hls4ml's own nnet::dense (CONFIG_T::mult_config), so Latency/Resource and the
// ReuseFactor behave as for Conv2D/Dense. Weights: n_phases consecutive matrices in the layout that kernel expects.

#include "nnet_common.h"
#include "nnet_dense.h"

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
    static const unsigned n_w = n_in * CONFIG_T::n_filt; // weights per phase
};

// io_parallel: data[in_height*in_width*n_chan] -> res[out_height*out_width*n_filt]
template <class data_T, class res_T, typename CONFIG_T>
void conv2d_transpose_cl(data_T data[CONFIG_T::in_height * CONFIG_T::in_width * CONFIG_T::n_chan],
                         res_T res[CONFIG_T::out_height * CONFIG_T::out_width * CONFIG_T::n_filt],
                         typename CONFIG_T::weight_t weights[CONFIG_T::n_phases * convt_geom<CONFIG_T>::n_w],
                         typename CONFIG_T::bias_t biases[CONFIG_T::n_filt]) {
    const unsigned n_in = convt_geom<CONFIG_T>::n_in;
    const unsigned n_w = convt_geom<CONFIG_T>::n_w;
    data_T window[n_in];
    #pragma HLS ARRAY_PARTITION variable=window complete

OutRows:
    for (unsigned oy = 0; oy < CONFIG_T::out_height; oy++) {
        const int t = oy + CONFIG_T::pad_top;
        const int q = t / CONFIG_T::stride_height;
        const unsigned py = t % CONFIG_T::stride_height;
    OutCols:
        for (unsigned ox = 0; ox < CONFIG_T::out_width; ox++) {
            const int u = ox + CONFIG_T::pad_left;
            const int qx = u / CONFIG_T::stride_width;
            const unsigned px = u % CONFIG_T::stride_width;
        FillRows:
            for (int m = 0; m < (int)CONFIG_T::n_taps_h; m++) {
            FillCols:
                for (int n = 0; n < (int)CONFIG_T::n_taps_w; n++) {
                    const int iy = q - m, ix = qx - n;
                    const bool inside = iy >= 0 && iy < (int)CONFIG_T::in_height && ix >= 0 && ix < (int)CONFIG_T::in_width;
                FillChan:
                    for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
                        window[(m * CONFIG_T::n_taps_w + n) * CONFIG_T::n_chan + c] =
                            inside ? data[(iy * CONFIG_T::in_width + ix) * CONFIG_T::n_chan + c] : data_T(0);
                    }
                }
            }
            const unsigned phase = py * CONFIG_T::stride_width + px;
            dense<data_T, res_T, typename CONFIG_T::mult_config>(
                window, &res[(oy * CONFIG_T::out_width + ox) * CONFIG_T::n_filt], &weights[phase * n_w], biases);
        }
    }
}

} // namespace nnet

#endif
