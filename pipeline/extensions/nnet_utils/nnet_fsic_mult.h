#ifndef NNET_FSIC_MULT_H_
#define NNET_FSIC_MULT_H_

// unet-fsic: hls.multiplier_binding (docs/hls.md#multiplier-binding). Product classes with the same interface as
// hls4ml's nnet::product::mult (nnet_mult.h) whose multiply is bound to a DSP48 or to LUT fabric. A layer's
// mult_config names one of them (`using product = nnet::product::fsic_mult_dsp<x_T, y_T>;`); the dense kernels
// (nnet_dense_resource.h / nnet_dense_latency.h) call CONFIG_T::template product<...>::product(a, w) for every
// multiply. The product is computed into the named local `p`, the variable the binding pragma sits on:
//   Vitis HLS (UG1399):  #pragma HLS BIND_OP variable=p op=mul impl=dsp | impl=fabric
//   Vivado HLS (UG902):  #pragma HLS RESOURCE variable=p core=DSP48 | core=Mul_LUT
// (__VITIS_HLS__ picks the form, as hls4ml's nnet_dense_compressed.h does.) C simulation: a plain a * w, bit-exact
// with nnet::product::mult.

#include "nnet_mult.h"

namespace nnet {

namespace product {

template <class x_T, class w_T> class fsic_mult_dsp : public Product {
  public:
    static auto product(x_T a, w_T w) -> decltype(a * w) {
        #pragma HLS INLINE
        decltype(a * w) p = a * w;
#ifdef __VITIS_HLS__
        #pragma HLS BIND_OP variable=p op=mul impl=dsp
#else
        #pragma HLS RESOURCE variable=p core=DSP48
#endif
        return p;
    }
};

template <class x_T, class w_T> class fsic_mult_lut : public Product {
  public:
    static auto product(x_T a, w_T w) -> decltype(a * w) {
        #pragma HLS INLINE
        decltype(a * w) p = a * w;
#ifdef __VITIS_HLS__
        #pragma HLS BIND_OP variable=p op=mul impl=fabric
#else
        #pragma HLS RESOURCE variable=p core=Mul_LUT
#endif
        return p;
    }
};

} // namespace product

} // namespace nnet

#endif
