"""The transposed-conv kernels as synthesis will see them (issue #14 item 4) -- a structural review in code, since no
Vivado / Vitis HLS runs here.

* **Multipliers** (:func:`test_multipliers_match_estimator`): from the generated ``firmware/parameters.h`` -- Resource:
  the kernel's MultLoop has ``block_factor = ceil(n_in*n_out / RF)`` lanes (checked in the kernel source), Latency:
  hls4ml's ``multiplier_limit`` (the ALLOCATION limit of DenseLatency) -- equal to the estimator's row ``mults``
  (:func:`pipeline.hw.estimator.compute_layer`), and the Resource weight ROM the estimator assumes (``RF * phases``
  words of ``mults * w_bits``) is the one the layout gives. RF < n_in, RF == n_in, RF > n_in (hls4ml's
  ``dense_resource_rf_leq_nin`` / ``rf_gt_nin_rem0`` index patterns) and Latency.
* **Pixel loop** (:func:`test_pixel_loop_pipelined_only_for_latency`): parsing the headers, every ``PIPELINE``
  pragma that pipelines a ConvT pixel loop (``OutCols``; io_stream, io_parallel) sits inside ``if
  (CONFIG_T::strategy == nnet::latency)``; the Resource product pipelines its ReuseLoop at II=1, unrolls its MultLoop
  over ``block_factor``, reshapes the whole weight array by ``block_factor`` and reads word ``phase*RF + ir`` only;
  the fused conv block has no ConvT copy of its own.
* **Weight order** (:func:`test_weight_array_in_phase_major_word_order`): the generated weights header holds the
  kernel in the documented order, recomputed here in numpy straight from the Keras kernel (not through
  :func:`pipeline.extensions.conv2d_transpose.resource_word_order`): Resource flat index
  ``(phase*RF + ir) + im*(P*RF)``, Latency ``phase*n_w + i*n_out + o``.
* **Bit-exactness of the product and the line buffer** (:func:`test_kernel_harness_bit_exact`): ONE g++ program
  instantiates the io_stream, io_parallel and fused-block (BatchNorm + ReLU epilogue) ConvT kernels with configs
  formatted by the real config templates, for every
  Resource variant (including ``rf_gt_nin`` with RF % n_in != 0, which hls4ml's snapping never produces but the
  kernel mirrors), Latency RF 1 / 2, Cin / Cout 1 and non-powers of two, k2s2, k3s2, k > s line buffers (k5s1,
  k5s2, k7s2, k4s3), saturating and exact result types, inputs all-0 / all-max / all-min / random; outputs compared
  with a numpy scatter-add transposed convolution in integers. Default: 14 cases (one compile, ~5 s); ``-m slow``:
  342 cases (~90 s).

The Keras-vs-hls4ml matrix (``tests/test_ext_conv2d_transpose.py``) and the fused blocks
(``tests/test_fused_conv_block.py``) test the same kernels end to end.
"""
from __future__ import annotations

import itertools
import os
import re
import subprocess
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import hls4ml  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from qkeras import QActivation, QConv2DTranspose, quantized_bits  # noqa: E402

import keras_model  # noqa: E402,F401  (QKeras / TF 2.14 compat fixes)
from pipeline.extensions import conv2d_transpose as ct_ext  # noqa: E402
from pipeline.extensions import register_extensions  # noqa: E402
from pipeline.extensions.fused_conv_block import fused_epilogue_config_template  # noqa: E402
from pipeline.hw.estimator import compute_layer  # noqa: E402

register_extensions()

NNET_EXT = Path(ct_ext.__file__).resolve().parent / "nnet_utils"
HLS4ML_VIVADO = Path(hls4ml.__file__).resolve().parent / "templates" / "vivado"
STREAM_H = NNET_EXT / "nnet_conv2d_transpose_stream.h"
PARALLEL_H = NNET_EXT / "nnet_conv2d_transpose.h"
FUSED_H = NNET_EXT / "nnet_fsic_fused_conv_block_stream.h"
W_BITS, A_BITS = 5, 8


# --------------------------------------------------------------------------------------------------------------------
# conversion of a one-layer QConv2DTranspose model (write only, no g++)
# --------------------------------------------------------------------------------------------------------------------
def _model(k, s, padding, H, W, cin, cout, seed=0):
    inp = tf.keras.Input((H, W, cin), name="x_in")
    x = QActivation(quantized_bits(A_BITS, 2, alpha=1), name="qin")(inp)
    layer = QConv2DTranspose(cout, k, strides=s, padding=padding, name="ct",
                             kernel_quantizer=quantized_bits(W_BITS, 0, alpha=1),
                             bias_quantizer=quantized_bits(8, 2, alpha=1))
    model = tf.keras.Model(inp, layer(x))
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in layer.get_weights()])
    return model, layer


def _convert(tmp_path, model, strategy, rf, io_type="io_stream", backend="Vitis"):
    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend=backend)
    cfg["Model"]["Strategy"] = strategy
    cfg["Model"]["ReuseFactor"] = rf
    hm = hls4ml.converters.convert_from_keras_model(model, hls_config=cfg, io_type=io_type, backend=backend,
                                                    output_dir=str(tmp_path / "prj"))
    hm.write()
    return hm, tmp_path / "prj" / "firmware"


def _struct(params: str, name: str) -> dict:
    """``static const unsigned`` members and typedefs of ``struct <name> : ...`` in parameters.h."""
    m = re.search(r"struct " + re.escape(name) + r" : [^{]*\{(.*?)\n\};", params, re.S)
    assert m, name
    body = m.group(1)
    out = {k: v.strip() for k, v in re.findall(r"static const (?:unsigned|bool) (\w+) = ([^;]+);", body)}
    for k, v in out.items():
        if re.fullmatch(r"\d+", v):
            out[k] = int(v)
    out["_body"] = body
    return out


def _weights(firmware: Path, var: str) -> np.ndarray:
    """The synthesis initializer of ``var`` in ``firmware/weights/<var>.h``."""
    text = (firmware / "weights" / f"{var}.h").read_text()
    m = re.search(r"#else\s*\n[^\n]*\b" + re.escape(var) + r"\[(\d+)\] = \{([^}]*)\};", text)
    assert m, text[:400]
    vals = np.array([float(v) for v in m.group(2).split(",")])
    assert len(vals) == int(m.group(1))
    return vals


# geometry, strategy, RF (RF < n_in, == n_in, > n_in (RF % n_in == 0 -- hls4ml's only RF > n_in), Latency)
# k3s2 same, Cin 6, Cout 4: n_in = 2*2*6 = 24, n_out = 4, 4 phases
GEOM_K3 = dict(k=3, s=2, padding="same", H=3, W=4, cin=6, cout=4)
# k2s2 valid (the U-Net's up-convolution), Cin 3, Cout 5: n_in = 3
GEOM_K2 = dict(k=2, s=2, padding="valid", H=2, W=3, cin=3, cout=5)
STRUCT_CASES = [
    ("k3s2_res_rf4_lt_nin", GEOM_K3, "Resource", 4),
    ("k3s2_res_rf24_eq_nin", GEOM_K3, "Resource", 24),
    ("k3s2_res_rf48_gt_nin", GEOM_K3, "Resource", 48),
    ("k3s2_lat_rf1", GEOM_K3, "Latency", 1),
    ("k2s2_res_rf1", GEOM_K2, "Resource", 1),
    ("k2s2_res_rf3_eq_nin", GEOM_K2, "Resource", 3),
    ("k2s2_res_rf15_gt_nin", GEOM_K2, "Resource", 15),
    ("k2s2_lat_rf1", GEOM_K2, "Latency", 1),
]


def _kernel_multipliers(mult: dict, conv: dict) -> int:
    """What the kernel asks synthesis for: Resource -> the MultLoop's block_factor lanes (convt_geom), Latency ->
    hls4ml's DenseLatency ALLOCATION limit multiplier_limit = ceil(n_in*n_out/RF) - n_zeros/RF."""
    n_in, n_out, rf = mult["n_in"], mult["n_out"], mult["reuse_factor"]
    assert conv["reuse_factor"] == rf
    if conv["strategy"] == "nnet::resource":
        return -(-n_in * n_out // rf)
    assert mult["multiplier_limit"] == "DIV_ROUNDUP(n_in * n_out, reuse_factor) - n_zeros / reuse_factor"
    return -(-n_in * n_out // rf) - mult["n_zeros"] // rf


def _estimator_row(geom, strategy, rf, hm):
    node = hm.graph["ct"]
    return compute_layer({"name": "ct", "kind": "convt", "in_hw": (geom["H"], geom["W"]),
                          "out_hw": (node.get_attr("out_height"), node.get_attr("out_width")), "cin": geom["cin"],
                          "cout": geom["cout"], "k": geom["k"], "s": geom["s"], "rf": rf, "w_bits": W_BITS,
                          "a_bits": A_BITS, "acc_bits": A_BITS + W_BITS + 8}, strategy)


def test_kernel_source_block_factor_is_the_multloop_width():
    """The Resource product's lanes: block_factor = DIV_ROUNDUP(n_w, reuse_factor), every MultLoop unrolled over it."""
    src = PARALLEL_H.read_text()
    assert re.search(r"block_factor = DIV_ROUNDUP\(n_w, CONFIG_T::reuse_factor\);", src)
    assert "n_w = n_in * CONFIG_T::n_filt;" in src
    body = _function_body(src, "convt_product_resource")
    loops = re.findall(r"(MultLoop\w*):\s*for \(int im = 0; im < (\w+); im\+\+\) \{\s*#pragma HLS UNROLL", body)
    assert [b for _, b in loops] == ["block_factor"] * 3, loops  # rf_leq_nin, rf_gt_nin_rem0, rf_gt_nin
    assert "const int block_factor = convt_geom<CONFIG_T>::block_factor;" in body


@pytest.mark.parametrize("geom,strategy,rf", [pytest.param(*c[1:], id=c[0]) for c in STRUCT_CASES])
def test_multipliers_match_estimator(tmp_path, geom, strategy, rf):
    model, _ = _model(**geom)
    hm, fw = _convert(tmp_path, model, strategy, rf)
    node = hm.graph["ct"]
    assert node.get_attr("reuse_factor") == rf  # every case uses a valid RF
    params = (fw / "parameters.h").read_text()
    idx = node.index
    mult, conv = _struct(params, f"config{idx}_mult"), _struct(params, f"config{idx}")
    n_in, n_out = geom["cin"] * ct_ext.n_taps(geom["k"], geom["s"]) ** 2, geom["cout"]
    assert (mult["n_in"], mult["n_out"]) == (n_in, n_out)
    kernel_mults = _kernel_multipliers(mult, conv)
    row = _estimator_row(geom, strategy, rf, hm)
    assert row["rf"] == rf
    assert kernel_mults == row["mults"], (kernel_mults, row["mults"])
    if strategy == "Resource":
        phases = geom["s"] ** 2
        # one ROM word per ReuseLoop iteration and phase: RF*phases words of block_factor weights
        assert row["weight_rom"]["depth"] == rf * phases
        assert row["weight_rom"]["width"] == kernel_mults * W_BITS
        assert len(_weights(fw, node.get_weights("weight").name)) == rf * phases * kernel_mults


def test_latency_rf_gt_1_multipliers_vs_estimator(tmp_path):
    """Latency RF 2 with W5A8 types: the kernel's ALLOCATION limit is ceil(n_in*n_out/2). The ConvT's Latency weights
    are NOT constants at the multipliers when there are several phases (they come through the per-phase mux), so the
    estimator prices ceil(n_in*n_out / RF) variable-weight multipliers (not its constant-weight rule for Conv2D)."""
    model, _ = _model(**GEOM_K3)
    hm, fw = _convert(tmp_path, model, "Latency", 2)
    params = (fw / "parameters.h").read_text()
    idx = hm.graph["ct"].index
    kernel_mults = _kernel_multipliers(_struct(params, f"config{idx}_mult"), _struct(params, f"config{idx}"))
    assert kernel_mults == 24 * 4 // 2
    row = _estimator_row(GEOM_K3, "Latency", 2, hm)
    assert row["mults"] == kernel_mults  # ceil(n_in*n_out / RF) multipliers of the phase-selected weights


# --------------------------------------------------------------------------------------------------------------------
# header structure
# --------------------------------------------------------------------------------------------------------------------
def _strip_comments(src: str) -> str:
    src = re.sub(r"/\*.*?\*/", "", src, flags=re.S)
    return re.sub(r"//[^\n]*", "", src)


def _block_end(src: str, open_idx: int) -> int:
    depth = 0
    for i in range(open_idx, len(src)):
        if src[i] == "{":
            depth += 1
        elif src[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    raise AssertionError("unbalanced braces")


def _function_body(src: str, name: str) -> str:
    src = _strip_comments(src)
    m = re.search(r"\bvoid " + re.escape(name) + r"\s*\(", src)
    assert m, name
    open_idx = src.index("{", _params_end(src, m.end() - 1))
    return src[open_idx:_block_end(src, open_idx) + 1]


def _params_end(src: str, paren_idx: int) -> int:
    depth = 0
    for i in range(paren_idx, len(src)):
        if src[i] == "(":
            depth += 1
        elif src[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    raise AssertionError("unbalanced parentheses")


def _enclosing_headers(body: str, pos: int) -> list[str]:
    """Headers (the text before each '{') of the blocks enclosing ``pos``, innermost first."""
    stack = []
    for i, ch in enumerate(body[:pos]):
        if ch == "{":
            stack.append(i)
        elif ch == "}":
            stack.pop()
    headers = []
    for i in reversed(stack):
        start = max(body.rfind(";", 0, i), body.rfind("{", 0, i), body.rfind("}", 0, i)) + 1
        headers.append(" ".join(body[start:i].split()))
    return headers


def _pixel_loop_pipelines(body: str) -> list[list[str]]:
    """For each PIPELINE pragma directly inside the OutCols loop (not in a nested loop): its enclosing headers up to
    the OutCols loop."""
    m = re.search(r"OutCols:\s*for \([^)]*\)\s*\{", body)
    assert m, "no OutCols loop"
    loop = body[m.end() - 1:_block_end(body, m.end() - 1) + 1]
    out = []
    for pm in re.finditer(r"#pragma HLS PIPELINE[^\n]*", loop):
        headers = _enclosing_headers(loop, pm.start())
        inner = headers[:-1]  # drop the OutCols loop itself
        if any(h.startswith("for") or h.startswith("while") for h in inner):
            continue  # pipelines a nested loop
        out.append(inner)
    return out


@pytest.mark.parametrize("header,function", [(STREAM_H, "conv2d_transpose_stream_core"),
                                             (PARALLEL_H, "conv2d_transpose_cl")])
def test_pixel_loop_pipelined_only_for_latency(header, function):
    body = _function_body(header.read_text(), function)
    pipes = _pixel_loop_pipelines(body)
    assert pipes, "the Latency pixel loop must still be pipelined"
    for headers in pipes:
        assert headers and headers[0] == "if (CONFIG_T::strategy == nnet::latency)", headers
    assert "dense<" not in body and "&weights[" not in body  # no pointer into the global weight array
    assert "convt_pixel_product<" in body


def test_resource_product_reads_one_word_per_cycle():
    src = PARALLEL_H.read_text()
    body = _function_body(src, "convt_product_resource")
    assert "#pragma HLS ARRAY_RESHAPE   variable=weights block factor=block_factor" in body
    assert "const int lane_stride = CONFIG_T::n_phases * rufactor;" in body
    assert "const int word_base = phase * rufactor;" in body
    reads = re.findall(r"weights\[([^\]]+)\]", body)
    assert reads and set(reads) == {"word_base + ir + im * lane_stride"}, reads
    for loop in re.findall(r"(ReuseLoop\w*):\s*for \(int ir = 0; ir < rufactor; ir\+\+\) \{\s*(#pragma[^\n]*)", body):
        assert loop[1] == "#pragma HLS PIPELINE II=1 rewind", loop
    assert len(re.findall(r"ReuseLoop\w*:", body)) == 3
    assert "acc[iacc] = (typename mult_T::accum_t)biases[iacc];" in body
    assert "res[ires] = cast<data_T, res_T, mult_T>(acc[ires]);" in body
    # the reshape: block factor BF over P*RF*BF elements -> word w holds flat w + j*P*RF; iteration (phase, ir) reads
    # word phase*RF + ir and nothing else
    for p, rf, bf in ((4, 4, 24), (4, 48, 2), (9, 3, 5), (1, 7, 1)):
        n = p * rf * bf
        word_of = {w + j * (n // bf): w for w in range(n // bf) for j in range(bf)}
        for phase, ir in itertools.product(range(p), range(rf)):
            words = {word_of[phase * rf + ir + im * p * rf] for im in range(bf)}
            assert words == {phase * rf + ir}


def test_latency_product_selects_phase_by_mux():
    body = _function_body(PARALLEL_H.read_text(), "convt_product_latency")
    assert "#pragma HLS ARRAY_PARTITION variable=w_phase complete" in body
    assert "if (phase == p)" in body and "w = weights[p * n_w + k];" in body
    assert "dense<data_T, res_T, typename CONFIG_T::mult_config>(data, res, w_phase, biases);" in body


def test_line_buffer_read_is_conflict_free_and_loops_have_tripcounts():
    body = _function_body(STREAM_H.read_text(), "conv2d_transpose_stream_core")
    for dim in (1, 2, 4):
        assert f"#pragma HLS ARRAY_PARTITION variable=line_buf complete dim={dim}" in body
    reads = re.findall(r"line_buf\[([^\]]+)\]\[([^\]]+)\]\[([^\]]+)\]\[([^\]]+)\]", body)
    # one read site: constant slot r and bank b (unrolled loop variables), one runtime address -> one read per memory
    assert sorted(reads) == sorted([("M_h", "M_w", "depth", "CONFIG_T::n_chan"),  # the declaration
                                    ("slot", "bank", "addr", "c"),  # the input write: one column per cycle
                                    ("r", "b", "a", "c")]), reads  # the window read
    read = body[body.index("ReadSlots:"):body.index("Taps:")]
    assert re.search(r"for \(unsigned r = 0; r < M_h; r\+\+\) \{\s*#pragma HLS UNROLL", read)
    assert re.search(r"for \(unsigned b = 0; b < M_w; b\+\+\) \{\s*#pragma HLS UNROLL", read)
    for loop in ("ReadRows", "DrainRows"):
        m = re.search(loop + r":\s*(?:while|for) \([^{]*\{\s*(#pragma[^\n]*)", body)
        assert m and m.group(1).startswith("#pragma HLS LOOP_TRIPCOUNT"), loop


def test_fused_block_uses_the_shared_core():
    src = _strip_comments(FUSED_H.read_text())
    body = _function_body(FUSED_H.read_text(), "fsic_fused_conv2d_transpose_cl")
    assert "conv2d_transpose_stream_core<" in body and "fsic_convt_emit_block<" in body
    assert "for (" not in body and not re.search(r"\bline_buf\b", src)
    emit = src[src.index("struct fsic_convt_emit_block"):]
    emit = emit[:emit.index("};")]
    assert "fsic_block_epilogue<res_T, CONFIG_T>(x, res_pack, scale, bn_bias);" in emit
    assert "typedef typename CONFIG_T::conv_res_t prod_t;" in emit


# --------------------------------------------------------------------------------------------------------------------
# weight order
# --------------------------------------------------------------------------------------------------------------------
def _expected_order(kernel, s, strategy, rf):
    """The flat weight array recomputed from the Keras kernel (k, k, Cout, Cin), element by element."""
    k, _, cout, cin = kernel.shape
    M = -(-k // s)
    P, n_in = s * s, M * M * cin
    n_w = n_in * cout

    def w_of(phase, i, o):
        py, px = divmod(phase, s)
        (m, n), c = divmod(i // cin, M), i % cin
        ky, kx = py + m * s, px + n * s
        return kernel[ky, kx, o, c] if ky < k and kx < k else 0.0

    out = np.zeros(P * n_w)
    if strategy == "Latency":
        for phase, i, o in itertools.product(range(P), range(n_in), range(cout)):
            out[phase * n_w + i * cout + o] = w_of(phase, i, o)
        return out
    bf = n_w // rf
    for phase, ir, im in itertools.product(range(P), range(rf), range(bf)):
        o, i = divmod(ir + im * rf, n_in)
        out[(phase * rf + ir) + im * (P * rf)] = w_of(phase, i, o)
    return out


@pytest.mark.parametrize("geom,strategy,rf", [pytest.param(*c[1:], id=c[0]) for c in STRUCT_CASES])
def test_weight_array_in_phase_major_word_order(tmp_path, geom, strategy, rf):
    model, layer = _model(**geom, seed=7)
    hm, fw = _convert(tmp_path, model, strategy, rf)
    kernel = layer.kernel_quantizer_internal(layer.kernel).numpy()
    assert np.count_nonzero(kernel) > kernel.size // 2
    got = _weights(fw, hm.graph["ct"].get_weights("weight").name)
    np.testing.assert_array_equal(got, _expected_order(kernel, geom["s"], strategy, rf))
    if strategy == "Resource":
        assert hm.graph["ct"].get_attr("weight_layout_rf") == rf


def test_resource_word_order_helper_matches_numpy():
    rng = np.random.default_rng(1)
    for k, s, cin, cout in ((3, 2, 5, 3), (2, 2, 1, 1), (5, 3, 2, 3), (4, 1, 3, 2)):
        kernel = rng.integers(-16, 16, (k, k, cout, cin)).astype(float)
        n_w = ct_ext.n_taps(k, s) ** 2 * cin * cout
        for rf in [r for r in range(1, n_w + 1) if n_w % r == 0]:
            got = ct_ext.resource_word_order(ct_ext.phase_weights(kernel, (s, s)), rf).ravel()
            np.testing.assert_array_equal(got, _expected_order(kernel, s, "Resource", rf))
    with pytest.raises(ValueError):
        ct_ext.resource_word_order(np.zeros((4, 3, 5)), 4)


# --------------------------------------------------------------------------------------------------------------------
# g++ harness: the kernels themselves, every Resource variant, k > s line buffers, adversarial inputs
# --------------------------------------------------------------------------------------------------------------------
def _valid_rfs(n_in, n_out):
    return hls4ml.backends.get_backend("Vivado").get_valid_reuse_factors(n_in, n_out)


# id, k, s, padding, H, W, cin, cout, io, strategy, rf, result bits (saturating ap_fixed<RB,RB,AP_RND,AP_SAT>)
HARNESS_DEFAULT = [
    ("k2s2_c1_res_rf1", 2, 2, "valid", 2, 3, 1, 1, "stream", "resource", 1, 32),
    ("k2s2_c3to5_res_leq1", 2, 2, "valid", 3, 2, 3, 5, "stream", "resource", 1, 32),
    ("k2s2_c6to7_res_leq2", 2, 2, "same", 2, 3, 6, 7, "stream", "resource", 2, 12),
    ("k2s2_c6to7_res_eq6", 2, 2, "valid", 2, 3, 6, 7, "parallel", "resource", 6, 32),
    ("k2s2_c6to7_res_rem0_42", 2, 2, "valid", 2, 2, 6, 7, "stream", "resource", 42, 12),
    ("k3s2_c5to3_res_leq5", 3, 2, "same", 3, 4, 5, 3, "stream", "resource", 5, 12),
    ("k3s2_c5to3_res_rem0_60", 3, 2, "valid", 2, 3, 5, 3, "stream", "resource", 60, 32),
    ("k3s2_c5to3_res_gt_30", 3, 2, "same", 2, 3, 5, 3, "stream", "resource", 30, 32),  # RF % n_in != 0
    ("k3s2_c2to6_lat_rf1", 3, 2, "valid", 3, 3, 2, 6, "stream", "latency", 1, 12),
    ("k5s1_c3to2_res_leq5", 5, 1, "same", 3, 4, 3, 2, "stream", "resource", 5, 32),
    ("k4s3_c3to2_lat_rf2", 4, 3, "valid", 2, 3, 3, 2, "stream", "latency", 2, 32),
    ("k7s2_c1to2_res_rem0", 7, 2, "same", 3, 5, 1, 2, "stream", "resource", 32, 12),
    ("fused_k3s2_c5to3_res_leq4", 3, 2, "same", 3, 4, 5, 3, "fused", "resource", 4, 12),
    ("fused_k5s2_c2to3_lat_rf1", 5, 2, "valid", 2, 3, 2, 3, "fused", "latency", 1, 32),
]


def _harness_full():
    out = []
    geoms = [(2, 2, "valid", 2, 3, 1, 1), (2, 2, "same", 3, 2, 3, 5), (2, 2, "valid", 2, 2, 6, 7),
             (3, 2, "same", 3, 4, 5, 3), (3, 2, "valid", 2, 3, 2, 6), (5, 1, "same", 3, 4, 3, 2),
             (5, 2, "valid", 2, 3, 2, 3), (4, 3, "same", 2, 4, 3, 2), (7, 2, "same", 3, 5, 1, 2),
             (1, 3, "same", 3, 2, 2, 3)]
    for k, s, pad, H, W, cin, cout in geoms:
        n_in, n_out = ct_ext.n_taps(k, s) ** 2 * cin, cout
        valid = _valid_rfs(n_in, n_out)
        rfs = {1, max([r for r in valid if r < n_in] or [1]), n_in, valid[-1]}
        rfs |= {min([r for r in valid if r > n_in] or [n_in])}
        rfs |= set([r for r in range(n_in + 1, n_in * n_out) if (n_in * n_out) % r == 0 and r % n_in][:1])  # rf_gt_nin
        rfs = sorted(rfs)
        for io in ("stream", "parallel", "fused"):
            for rf in rfs:
                for rb in (32, 12):
                    out.append((f"k{k}s{s}{pad[0]}_c{cin}to{cout}_{io}_res_rf{rf}_r{rb}", k, s, pad, H, W, cin, cout,
                                io, "resource", rf, rb))
            for rf in (1, 2, 3):
                out.append((f"k{k}s{s}{pad[0]}_c{cin}to{cout}_{io}_lat_rf{rf}", k, s, pad, H, W, cin, cout, io,
                            "latency", rf, 12))
    return out


def _reference(x, kernel, bias, s, padding, rb):
    """Transposed conv by scatter-add (the definition), integers; + bias; saturate to rb bits."""
    H, W, cin = x.shape
    k, _, cout, _ = kernel.shape
    oh, ow = ct_ext.output_size(H, k, s, padding), ct_ext.output_size(W, k, s, padding)
    pt, pl = ct_ext.pad_before(k, s, padding), ct_ext.pad_before(k, s, padding)
    full = np.zeros((max((H - 1) * s + k, pt + oh), max((W - 1) * s + k, pl + ow), cout), dtype=np.int64)
    for iy, ix in itertools.product(range(H), range(W)):
        full[iy * s:iy * s + k, ix * s:ix * s + k] += np.einsum("c,abfc->abf", x[iy, ix], kernel)
    y = full[pt:pt + oh, pl:pl + ow] + bias
    return np.clip(y, -(2 ** (rb - 1)), 2 ** (rb - 1) - 1)


def _frames(H, W, cin, rng):
    return np.stack([np.zeros((H, W, cin), np.int64), np.full((H, W, cin), 127, np.int64),
                     np.full((H, W, cin), -128, np.int64), rng.integers(-128, 128, (H, W, cin))])


def _cpp_list(a):
    return "{" + ", ".join(str(int(v)) for v in np.ravel(a)) + "}"


def _case_cpp(i, case, rng):
    cid, k, s, pad, H, W, cin, cout, io, strategy, rf, rb = case
    M = ct_ext.n_taps(k, s)
    n_in = M * M * cin
    kernel = rng.integers(-16, 16, (k, k, cout, cin))
    if i % 3 == 0:
        kernel[...] = 15  # all-max weights: with all-max inputs the saturating result types saturate
    bias = rng.integers(-128, 128, cout)
    frames = _frames(H, W, cin, rng)
    pw = ct_ext.phase_weights(kernel.astype(float), (s, s))
    flat = pw.ravel() if strategy == "latency" else ct_ext.resource_word_order(pw, rf).ravel()
    oh, ow = ct_ext.output_size(H, k, s, pad), ct_ext.output_size(W, k, s, pad)
    name = SimpleNamespace  # the real config templates, formatted with this case's values
    params = dict(index=i, n_in=n_in, n_out=cout, reuse=rf, strategy=strategy, nzeros=0,
                  accum_t=name(name="acc_t"), bias_t=name(name="b_t"), weight_t=name(name="w_t"),
                  dense_function="nnet::DenseLatency", product_type="mult", in_height=H, in_width=W, n_chan=cin,
                  out_height=oh, out_width=ow, n_filt=cout, filt_height=k, filt_width=k, stride_height=s,
                  stride_width=s, pad_top=ct_ext.pad_before(k, s, pad), pad_left=ct_ext.pad_before(k, s, pad),
                  n_taps_h=M, n_taps_w=M)
    cfg = ct_ext.conv2d_transpose_mult_config_template.format(**params) + \
        ct_ext.conv2d_transpose_config_template.format(**params)
    n_frames = len(frames)
    extra, post = "", None
    if io == "fused":  # the fused conv block's ConvT producer: the same core with the BatchNorm + ReLU epilogue
        scale, bn_bias = rng.integers(-8, 8, cout), rng.integers(-512, 512, cout)
        scale[0] = 0
        cfg += fused_epilogue_config_template.format(
            index=i, n_filt=cout, epilogue_reuse=rf, epilogue_mults=-(-cout // rf), conv_result_t=name(name=f"r{i}_t"),
            bn_result_t=name(name="bn_t"), bn_scale_t=name(name="sc_t"), bn_bias_t=name(name="bb_t"),
            product_type="mult")
        extra = f"""
    static const int SV[] = {_cpp_list(scale)};
    static const int BBV[] = {_cpp_list(bn_bias)};
    static sc_t sc[{cout}];
    static bb_t bb[{cout}];
    for (int j = 0; j < {cout}; j++) {{ sc[j] = SV[j]; bb[j] = BBV[j]; }}"""

        def post(y):  # nnet::normalize (exact, one AP_TRN/AP_SAT cast to bn_t) -> relu into relu_t (AP_SAT)
            bn = np.clip(y.reshape(-1, cout) * scale + bn_bias, -(2 ** 13), 2 ** 13 - 1)
            return np.clip(bn, 0, 63).ravel()
    if io in ("stream", "fused"):
        out_t = f"r{i}_t" if io == "stream" else "relu_t"
        fn_name = "conv2d_transpose_cl_stream" if io == "stream" else "fsic_fused_conv2d_transpose_cl"
        cfg_name = f"config{i}" if io == "stream" else f"config{i}_fsic"
        args = "w, b" if io == "stream" else "w, b, sc, bb"
        call = f"""
        hls::stream<nnet::array<in_t, {cin}>> din;
        hls::stream<nnet::array<{out_t}, {cout}>> dout;
        for (int p = 0; p < {H * W}; p++) {{
            nnet::array<in_t, {cin}> px;
            for (int c = 0; c < {cin}; c++) px[c] = X[(f * {H * W} + p) * {cin} + c];
            din.write(px);
        }}
        nnet::{fn_name}<nnet::array<in_t, {cin}>, nnet::array<{out_t}, {cout}>, {cfg_name}>(din, dout, {args});
        if (!din.empty()) {{ printf("ERROR input left\\n"); }}
        for (int p = 0; p < {oh * ow}; p++) {{
            nnet::array<{out_t}, {cout}> px = dout.read();
            for (int o = 0; o < {cout}; o++) printf(" %.0f", px[o].to_double());
        }}
        if (!dout.empty()) {{ printf(" ERROR output left"); }}"""
    else:
        call = f"""
        in_t xin[{H * W * cin}];
        r{i}_t y[{oh * ow * cout}];
        for (int j = 0; j < {H * W * cin}; j++) xin[j] = X[f * {H * W * cin} + j];
        nnet::conv2d_transpose_cl<in_t, r{i}_t, config{i}>(xin, y, w, b);
        for (int j = 0; j < {oh * ow * cout}; j++) printf(" %.0f", y[j].to_double());"""
    fn = f"""
typedef ap_fixed<{rb}, {rb}, AP_RND, AP_SAT> r{i}_t;
{cfg}
void run{i}() {{
    static const int X[] = {_cpp_list(frames)};
    static const int WV[] = {_cpp_list(flat)};
    static const int BV[] = {_cpp_list(bias)};
    static w_t w[{len(flat)}];
    static b_t b[{cout}];
    for (int j = 0; j < {len(flat)}; j++) w[j] = WV[j];
    for (int j = 0; j < {cout}; j++) b[j] = BV[j];{extra}
    for (int f = 0; f < {n_frames}; f++) {{
        printf("CASE {i} %d", f);{call}
        printf("\\n");
    }}
}}
"""
    refs = [_reference(x, kernel, bias, s, pad, rb).ravel() for x in frames]
    if post is not None:
        refs = [post(r) for r in refs]
    return fn, refs


def _run_harness(cases, tmp_path):
    rng = np.random.default_rng(2026)
    fns, refs = [], []
    for i, case in enumerate(cases):
        fn, ref = _case_cpp(i, case, rng)
        fns.append(fn)
        refs.append(ref)
    src = f"""#include <cstdio>
#include "ap_fixed.h"
#include "hls_stream.h"
#include "nnet_utils/nnet_types.h"
#include "nnet_conv2d_transpose_stream.h"
#include "nnet_fsic_fused_conv_block_stream.h"
typedef ap_fixed<8, 8> in_t;
typedef ap_fixed<5, 5> w_t;
typedef ap_fixed<8, 8> b_t;
typedef ap_fixed<32, 32> acc_t;
typedef ap_fixed<4, 4> sc_t;
typedef ap_fixed<10, 10> bb_t;
typedef ap_fixed<14, 14, AP_TRN, AP_SAT> bn_t;
typedef ap_ufixed<6, 6, AP_RND_CONV, AP_SAT> relu_t;
{''.join(fns)}
int main() {{
{''.join(f'    run{i}();' + chr(10) for i in range(len(cases)))}    return 0;
}}
"""
    cpp, exe = tmp_path / "harness.cpp", tmp_path / "harness"
    cpp.write_text(src)
    cmd = ["g++", "-O1", "-std=c++14", f"-I{HLS4ML_VIVADO / 'ap_types'}", f"-I{HLS4ML_VIVADO}",
           f"-I{HLS4ML_VIVADO / 'nnet_utils'}", f"-I{NNET_EXT}", str(cpp), "-o", str(exe)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    assert "ERROR" not in out
    got: dict = {}
    for line in out.splitlines():
        parts = line.split()
        got[(int(parts[1]), int(parts[2]))] = np.array([float(v) for v in parts[3:]])
    n_sat = 0
    for i, case in enumerate(cases):
        for f, ref in enumerate(refs[i]):
            np.testing.assert_array_equal(got[(i, f)], ref, err_msg=f"{case[0]} frame {f}")
            n_sat += int(case[8] != "fused" and np.any(np.abs(ref) >= 2 ** (case[-1] - 1) - 1))
    return n_sat


def test_kernel_harness_bit_exact(tmp_path):
    # every Resource variant appears, and saturation is reached
    kinds = set()
    for _, k, s, _, _, _, cin, cout, _, strategy, rf, _ in HARNESS_DEFAULT:
        n_in = ct_ext.n_taps(k, s) ** 2 * cin
        kinds.add(strategy if strategy == "latency" else
                  "leq" if rf < n_in else "eq" if rf == n_in else "rem0" if rf % n_in == 0 else "gt")
    assert kinds == {"latency", "leq", "eq", "rem0", "gt"}
    assert _run_harness(HARNESS_DEFAULT, tmp_path) > 0


@pytest.mark.slow
def test_kernel_harness_bit_exact_full(tmp_path):
    cases = _harness_full()
    assert len(cases) > 100
    assert _run_harness(cases, tmp_path) > 0
