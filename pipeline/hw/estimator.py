"""Offline resource / latency / FIFO estimator for the hls4ml io_stream build (``unet-fsic estimate CONFIG``).

No vendor tool runs on these machines and hls4ml has no CNN resource estimator, so this module models what hls4ml
1.3 + Vivado/Vitis HLS generate for our network, from the Keras W5A8 model and the build config (the same
``hls.reuse_factor`` / ``hls.reuse_factors`` / ``hls.strategy`` / ``quant.*`` the converter uses). Every number it
produces is an **estimate** (``provenance`` says so, with the calibration source); ``--synth`` / ``import-report``
(:mod:`pipeline.hw.vendor_reports`) give vendor numbers in the same schema.

Two equivalents (docs/estimate.md for the derivation, the calibration points and the measured error): every process
row is the **HLS-estimate (csynth) equivalent**; the design totals come as ``totals_hls`` (csynth equivalent) and
``totals`` (**Vivado-synthesis equivalent**, what the FSIC budget is judged against): process LUT / FF / DSP times
fitted Vivado / csynth ratios, memories as they are, FIFOs by what Vivado builds for their depth.

- ReuseFactor: snapped to the closest valid one exactly as hls4ml does (``n_in*n_out % RF == 0`` ...).
- Multipliers of a conv (k x k or kh x kw) / convT / dense: ``n_in*n_out / RF`` (BatchNorm: ``ceil(C / RF)``). A
  multiply goes to a DSP48E1 when both operands are at least ``DSP_MIN_BITS`` wide, otherwise to LUTs.
- Strategy Resource (weights in a ROM, our U-Net): ``a*b`` LUT per LUT multiplier plus its accumulator; one weight
  ROM per layer, ``RF`` deep and ``mults * w_bits`` wide; <= ``ROM_LUT_MAX_DEPTH`` deep -> LUT ROM, else BRAM18.
  Strategy Latency (constant weights, every calibration point): zero weights vanish; fitted costs per DSP-bound
  multiplier / per LUT-bound nonzero product (adder tree included).
- Element-wise processes, pools, softmax, accelerator wrappers: fitted costs per bit / per process.
- FIFOs: csynth's rule (SRL up to ``HLS_SRL_MAX_DEPTH`` deep or ``HLS_SRL_MAX_BITS``, else BRAM_18K) and Vivado's
  (registers at depth 1, SRL / LUTRAM up to ``SRL_MAX_DEPTH``, else BRAM18); depths: hls4ml's default and ours from
  :mod:`pipeline.hw.fifo_sim`.
- Cycles per frame: conv = padded input pixels x RF (at least ``CONV_MIN_II`` with constant weights); convT = input
  pixels + output pixels x RF; BatchNorm = pixels x RF; dense = input tokens x RF + a fitted pipeline depth;
  everything else one pixel per cycle. Frame interval = the slowest process; latency = the dataflow simulation's
  last output cycle for one frame.

The fitted constants (:data:`FIT`) and the measured error (:data:`EXPECTED_ERROR`) come from
``calibration_error.json``, written by :mod:`pipeline.hw.calibration` from ``calibration_points.yaml``.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

from .parts import BRAM18_SHAPES, PARTS, part_capacity  # noqa: F401  (PARTS re-exported: the estimator's part table)

# --- constants (docs/estimate.md "The model" says where each comes from) ----------------------------------------------
# Rules (not fitted):
DSP_MIN_BITS = 10  # both operands >= this -> DSP48E1, else LUTs (16x16 and 16-bit-typed weights -> DSP in every
#                    16-bit point; 8x8, 6x6, 4-bit x N -> LUT in LeNet-5, Liu, HGQ2)
LUT_PER_BITPROD = 1.0  # HLS LUTs of an a x b multiplier with a variable (ROM-fed, Strategy Resource) weight: a*b
FF_PER_LUT_MULT_BIT = 1.0  # its FFs per operand bit: a+b (no calibration point uses Strategy Resource)
LAYER_LUT = 150  # control of a Strategy-Resource conv / convT / BatchNorm process (not measured)
LAYER_FF = 200
ROM_LUT_MAX_DEPTH = 64
FIFO_FF_MAX_DEPTH = 1  # Vivado: a depth-1 FIFO is registers (seanlipps: 2 depth-1 FIFOs, 0 LUT as memory)
SRL_MAX_DEPTH = 64  # Vivado: deeper FIFOs go to BRAM (seanlipps 128/130 deep -> RAMB36), up to 64 SRL / LUTRAM
HLS_SRL_MAX_DEPTH = 2  # Vitis HLS FIFO binding (config_storage fifo -impl autosrl defaults, UG1399): SRL when at
HLS_SRL_MAX_BITS = 1024  # most this deep or this many bits (depth x width), else memory (all 47 report FIFO rows)
SOFTMAX_TABLE_SIZE = 1024  # hls4ml's exp / inv table size; filled by hardware when table_init (kojos: 1053 cycles)
# Fitted: pipeline/hw/calibration.py fits these on the calibration points (pipeline/hw/calibration_points.yaml) and
# writes them, with the leave-one-out error of the whole estimate, to calibration_error.json (python -m
# pipeline.hw.calibration --write). EXPECTED_ERROR is that measured error, not a stated one.
CALIBRATION_FILE = Path(__file__).with_name("calibration_error.json")
_CAL = (json.loads(CALIBRATION_FILE.read_text()) if CALIBRATION_FILE.exists()
        else {"constants": {}, "expected_error": {}})  # only before the first --write
FIT: dict = _CAL["constants"]
EXPECTED_ERROR: dict = _CAL["expected_error"]
CALIBRATION_SOURCE = (f"{EXPECTED_ERROR.get('points', 0)} published hls4ml builds with vendor results "
                      "(pipeline/hw/calibration_points.yaml; leave-one-out error in calibration_error.json)")
PROVENANCE = f"estimate (unet-fsic model, calibrated against {CALIBRATION_SOURCE})"

# --- primitives ------------------------------------------------------------------------------------------------------
def valid_reuse_factors(n_in: int, n_out: int) -> list[int]:
    """hls4ml 1.3 ``FPGABackend._validate_reuse_factor`` (same conditions), without enumerating 1..n_in*n_out."""
    total = n_in * n_out
    out = []
    for rf in _divisors(total):
        multfactor = min(n_in, rf)
        limit = math.ceil(total / multfactor)
        ok = (limit % n_out == 0) or rf >= n_in
        ok = ok and ((rf % n_in == 0) or rf < n_in)
        if ok:
            out.append(rf)
    return out


def _divisors(n: int) -> list[int]:
    small, large = [], []
    i = 1
    while i * i <= n:
        if n % i == 0:
            small.append(i)
            if i != n // i:
                large.append(n // i)
        i += 1
    return small + large[::-1]


def snap_reuse_factor(n_in: int, n_out: int, rf: int) -> int:
    """The RF hls4ml actually uses: ``rf`` if valid, else the closest valid one (ties -> smaller)."""
    valid = valid_reuse_factors(n_in, n_out)
    if rf in valid:
        return rf
    return min(valid, key=lambda v: (abs(v - rf), v))


def bram18_for(depth: int, width: int) -> int:
    """BRAM18 primitives for a depth x width memory (cheapest aspect ratio)."""
    if depth <= 0 or width <= 0:
        return 0
    return min(math.ceil(depth / d) * math.ceil(width / w) for d, w in BRAM18_SHAPES)


def rom_cost(depth: int, width: int) -> dict:
    if depth <= ROM_LUT_MAX_DEPTH:
        per = 0.5 if depth <= 32 else 1.0  # LUT6 as 2 x 32-deep (O5/O6) or 1 x 64-deep ROM
        return {"LUT": math.ceil(width * per * math.ceil(depth / 64)), "BRAM18": 0}
    return {"LUT": 0, "BRAM18": bram18_for(depth, width)}


def _fifos(bits: int, channels: int, aggregate: bool) -> tuple[int, int]:
    """(number of FIFOs, width): Vitis HLS aggregates a stream of ``channels`` x ``bits`` into one FIFO
    ``channels*bits`` wide (``aggregate``); Vivado HLS splits it into one FIFO per channel."""
    return (1, channels * bits) if aggregate else (channels, bits)


def fifo_cost_hls(depth: int, bits: int, channels: int, aggregate: bool = True, fit: dict | None = None) -> dict:
    """What csynth reports for a stream FIFO (HLS-estimate equivalent): fitted control LUT / FF per FIFO, and for a
    memory FIFO (deeper than ``HLS_SRL_MAX_DEPTH`` and more than ``HLS_SRL_MAX_BITS`` bits) ``ceil(depth/1024) *
    ceil(width/18)`` BRAM_18K (45 of the 47 FIFO rows of the calibration reports; seanlipps' two 128 x 256 FIFOs
    have 8 each, not 15)."""
    f = FIT if fit is None else fit
    n, w = _fifos(bits, channels, aggregate)
    mem = depth > HLS_SRL_MAX_DEPTH and depth * w > HLS_SRL_MAX_BITS
    return {"LUT": round(n * f["HLS_FIFO_LUT"]), "FF": round(n * f["HLS_FIFO_FF"]),
            "BRAM18": n * math.ceil(depth / 1024) * math.ceil(w / 18) if mem else 0}


def fifo_cost(depth: int, bits: int, channels: int, aggregate: bool = True, fit: dict | None = None) -> dict:
    """What Vivado builds for a stream FIFO (Vivado-synthesis equivalent): the storage by its depth -- registers at
    depth 1, SRL / LUTRAM (one LUT per bit) up to ``SRL_MAX_DEPTH``, BRAM18 deeper (cheapest aspect ratio) -- plus
    the control, csynth's FIFO control scaled by the fitted Vivado / csynth ratios."""
    f = FIT if fit is None else fit
    n, w = _fifos(bits, channels, aggregate)
    lut, ff = n * f["HLS_FIFO_LUT"] * f["VIVADO_RATIO_LUT"], n * f["HLS_FIFO_FF"] * f["VIVADO_RATIO_FF"]
    if depth <= FIFO_FF_MAX_DEPTH:
        return {"LUT": round(lut), "FF": round(ff + n * w * depth), "BRAM18": 0}
    if depth <= SRL_MAX_DEPTH:
        return {"LUT": round(lut + n * w), "FF": round(ff), "BRAM18": 0}
    return {"LUT": round(lut), "FF": round(ff), "BRAM18": n * bram18_for(depth, w)}


def mult_cost(a_bits: int, b_bits: int, n: int, constant_weights: bool = False, fit: dict | None = None) -> dict:
    """``n`` multipliers of ``a_bits`` x ``b_bits`` (HLS-estimate equivalent). DSP48E1 when both operands are at
    least ``DSP_MIN_BITS`` wide, else LUTs. Constant weights (Strategy Latency): the fitted costs per multiplier
    (DSP-bound: a fitted fraction gets a DSP, the rest become shift/add logic) or per nonzero LUT-bound product,
    which include the adder tree. Variable (ROM-fed) weights: ``a*b`` LUT and ``a+b`` FF (rule, not measured)."""
    f = FIT if fit is None else fit
    if n <= 0:
        return {"DSP": 0, "LUT": 0, "FF": 0, "mapping": "-"}
    if min(a_bits, b_bits) >= DSP_MIN_BITS:
        dsp = round(n * f["DSP_CONST_FRACTION"]) if constant_weights else n
        return {"DSP": dsp, "LUT": round(n * f["LUT_PER_DSP_MULT"]), "FF": round(n * f["FF_PER_DSP_MULT"]),
                "mapping": "DSP48E1"}
    if constant_weights:
        return {"DSP": 0, "LUT": round(n * f["LUT_PER_CONST_PRODUCT"]), "FF": round(n * f["FF_PER_CONST_PRODUCT"]),
                "mapping": "LUT"}
    return {"DSP": 0, "LUT": math.ceil(n * LUT_PER_BITPROD * a_bits * b_bits),
            "FF": math.ceil(n * FF_PER_LUT_MULT_BIT * (a_bits + b_bits)), "mapping": "LUT"}


# --- one compute layer -----------------------------------------------------------------------------------------------
def compute_layer(spec: dict, strategy: str = "Resource", fit: dict | None = None) -> dict:
    """Estimate one hls4ml process, as the HLS-estimate (csynth) equivalent. ``spec``: ``kind`` (conv | convt | dense
    | bn | map | pool | concat | clone | pad | softmax | wrapper), ``in_hw`` (H, W), ``out_hw``, ``cin``, ``cout``,
    ``k`` (square kernel) or ``kh`` / ``kw``, ``s`` (stride), ``pad`` (total padding per axis, conv), ``rf``,
    ``w_bits``, ``a_bits`` (input bits per channel), ``acc_bits`` (accumulator), ``out_bits``, ``n_zeros`` (zero
    weights, removed by HLS when the weights are constants), ``in_tokens`` (stream reads of a dense layer),
    ``table_init`` (softmax tables filled by hardware). ``strategy`` Latency = constant weights, Resource = weights
    in a ROM. ``fit``: the fitted constants (default :data:`FIT`). Returns the per-layer row (all numbers estimates)."""
    f = FIT if fit is None else fit
    h, w = spec.get("in_hw", (1, 1))
    oh, ow = spec.get("out_hw", (h, w))
    row = {"name": spec["name"], "kind": spec["kind"], "cycles": oh * ow, "mults": 0, "mapping": "-", "rf": 1,
           "DSP": 0, "LUT": 0, "FF": 0, "BRAM18": 0, "weight_bits": 0, "macs": 0}
    if spec["kind"] in ("conv", "dense", "convt"):
        _mac_layer(spec, row, strategy, f)
    elif spec["kind"] == "bn":
        _bn_layer(spec, row, strategy, f)
    else:
        _other_layer(spec, row, f)
    row["BRAM36"] = row["BRAM18"] / 2
    return row


def _mac_layer(spec: dict, row: dict, strategy: str, f: dict) -> None:
    """conv / convT / dense: multipliers, weights (ROM or constants), line buffers, cycles."""
    kind = spec["kind"]
    cin, cout = spec.get("cin", 1), spec.get("cout", spec.get("cin", 1))
    wb, ab = spec.get("w_bits", 8), spec.get("a_bits", 8)
    acc = spec.get("acc_bits", ab + wb + 8)
    const_w = strategy == "Latency"
    k, s = spec.get("k", 1), spec.get("s", 1)
    kh, kw = spec.get("kh", k), spec.get("kw", k)
    if kind == "convt":
        n_in, n_out, phases = math.ceil(k / s) ** 2 * cin, cout, s * s
    else:
        n_in, n_out, phases = kh * kw * cin, cout, 1
    rf = snap_reuse_factor(n_in, n_out, int(spec.get("rf", 1)))
    if const_w:  # hls4ml's multiplier limit; LUT-bound constant products become adders that RF does not share (Liu)
        nonzero = n_in * n_out - int(spec.get("n_zeros", 0))
        mults = math.ceil(nonzero / rf) if min(wb, ab) >= DSP_MIN_BITS else nonzero
    else:
        mults = n_in * n_out // rf
    row.update(rf=rf, rf_requested=int(spec.get("rf", 1)), n_in=n_in, n_out=n_out, mults=mults)
    mc = mult_cost(wb, ab, mults, const_w, f)
    row.update(mapping=mc["mapping"], DSP=mc["DSP"], LUT=mc["LUT"], FF=mc["FF"], weight_bits=n_in * n_out * phases * wb)
    if not const_w:
        row["LUT"] += LAYER_LUT
        row["FF"] += LAYER_FF
        if mc["mapping"] == "LUT":  # a DSP48E1 accumulates in its own post-adder
            row["LUT"] += mults * acc
            row["FF"] += mults * acc
        rc = rom_cost(rf * phases, mults * wb)
        row["LUT"] += rc["LUT"]
        row["BRAM18"] += rc["BRAM18"]
        row["weight_rom"] = {"depth": rf * phases, "width": mults * wb, **rc}
    if kind == "conv":
        _conv_geometry(spec, row, (kh, kw), const_w, f)
    elif kind == "convt":
        _convt_geometry(spec, row, math.ceil(k / s) ** 2)
    else:  # dense: reads its input tokens, then the adder tree (calibration: interval = tokens + a few cycles)
        row["cycles"] = int(spec.get("in_tokens", 1)) * rf + round(f["DENSE_PIPE_CYCLES"])
        row["macs"] = n_in * n_out


def _conv_geometry(spec: dict, row: dict, kernel: tuple, const_w: bool, f: dict) -> None:
    """Cycles (one padded input pixel per RF cycles; with constant weights at least ``CONV_MIN_II``, measured only
    with Strategy Latency) and, for ROM weights, the line buffer: (kh-1) x C shift registers of the padded row width
    (SRL LUTs) and the kh x kw window registers. With constant weights the line buffer is inside the fitted
    per-multiplier costs (fitted on whole conv processes)."""
    (h, w), (kh, kw) = spec.get("in_hw", (1, 1)), kernel
    oh, ow = spec.get("out_hw", (h, w))
    cin, ab, pad = spec.get("cin", 1), spec.get("a_bits", 8), spec.get("pad", 0)
    hp, wp = h + spec.get("pad_h", pad if kh > 1 else 0), w + spec.get("pad_w", pad if kw > 1 else 0)
    row["px_in"], row["min_ii"] = hp * wp, round(f["CONV_MIN_II"]) if const_w else 1
    row["cycles"] = hp * wp * max(row["rf"], row["min_ii"])
    row["macs"] = oh * ow * row["n_in"] * row["n_out"]
    if not const_w and (kh > 1 or kw > 1):
        row["LUT"] += (kh - 1) * cin * ab * math.ceil(wp / 32)
        row["FF"] += kh * kw * cin * ab


def _convt_geometry(spec: dict, row: dict, taps: int) -> None:
    (h, w), cin, ab = spec.get("in_hw", (1, 1)), spec.get("cin", 1), spec.get("a_bits", 8)
    oh, ow = spec.get("out_hw", (h, w))
    row["px_in"], row["px_out"] = h * w, oh * ow
    row["cycles"] = h * w + oh * ow * row["rf"]
    row["macs"] = oh * ow * row["n_in"] * row["n_out"]
    row["BRAM18"] += 0 if w * cin * ab * taps <= 4096 else cin * bram18_for(w, ab)
    row["LUT"] += 0 if w * cin * ab * taps > 4096 else cin * ab * math.ceil(w / 32)


def _bn_layer(spec: dict, row: dict, strategy: str, f: dict) -> None:
    """BatchNorm: ceil(C / RF) multipliers of scale_bits x input bits, bias adders, output registers."""
    (h, w), cin = spec.get("in_hw", (1, 1)), spec.get("cin", 1)
    ab, sb, ob = spec.get("a_bits", 8), spec.get("scale_bits", 8), spec.get("out_bits", 16)
    acc = spec.get("acc_bits", ab + spec.get("w_bits", 8) + 8)
    const_w = strategy == "Latency"
    rf = int(spec.get("rf", 1))
    mults = math.ceil(cin / rf)
    mc = mult_cost(sb, ab, mults, const_w, f)
    row.update(rf=rf, mults=mults, mapping=mc["mapping"], cycles=h * w * rf, DSP=mc["DSP"])
    folded = bool(spec.get("folded"))  # shift moved into the conv bias: no bias adders, no bias storage
    adders = 0 if folded or const_w else mults * acc  # the fitted constant-weight cost includes the adder
    row["LUT"] = (0 if const_w else LAYER_LUT) + mc["LUT"] + adders + cin * ob // 2
    row["FF"] = (0 if const_w else LAYER_FF) + mc["FF"] + cin * ob
    row["weight_bits"] = (1 if folded else 2) * cin * sb


def _other_layer(spec: dict, row: dict, f: dict) -> None:
    """Element-wise processes (map, pad, clone, concat), pool, softmax and an accelerator wrapper: fitted costs."""
    kind = spec["kind"]
    (h, w), cin = spec.get("in_hw", (1, 1)), spec.get("cin", 1)
    oh, ow = spec.get("out_hw", (h, w))
    if kind == "softmax":  # two implementations in the reports: tables filled by hardware at start, or ROMs
        p, init = ("SOFTMAX_INIT", SOFTMAX_TABLE_SIZE) if spec.get("table_init") else ("SOFTMAX", 0)
        row.update(LUT=round(f[f"{p}_LUT"]), FF=round(f[f"{p}_FF"]), BRAM18=round(f[f"{p}_BRAM18"]),
                   DSP=round(f[f"{p}_DSP_PER_CLASS"] * cin), cycles=cin + init, init_cycles=init)
    elif kind == "wrapper":
        row.update(LUT=round(f["WRAPPER_LUT"]), FF=round(f["WRAPPER_FF"]), BRAM18=round(f["WRAPPER_BRAM18"]), cycles=0)
    else:
        bits = max(cin, spec.get("cout", cin)) * spec.get("a_bits", 8)
        p = "POOL" if kind == "pool" else "MAP"
        row.update(LUT=round(f[f"{p}_LUT_PER_BIT"] * bits), FF=round(f[f"{p}_FF_PER_BIT"] * bits),
                   cycles=oh * ow if kind == "pad" else h * w)


# --- from the Keras model to layer specs and a stream graph ----------------------------------------------------------
def _shape(t):
    s = t.shape
    return int(s[1]), int(s[2]), int(s[3])


def _inbound(lay) -> list:
    inb = lay._inbound_nodes[0].inbound_layers
    return inb if isinstance(inb, list) else [inb]


class _SpecBuilder:
    """Walks the Keras model in layer order and adds, per hls4ml process, an estimator row (:func:`compute_layer`)
    and a node of the stream graph (:class:`pipeline.hw.fifo_sim.Graph`), with hls4ml's clones for streams read
    more than once and the zero-padding process of 'same' convolutions."""

    def __init__(self, config, model):
        from .fifo_sim import Graph

        q = config["quant"]
        self.config, self.model = config, model
        self.wbits, self.abits, self.ibits = q["weight_bits"], q["act_bits"], q["input_bits"]
        self.quantized = any(getattr(lay, "kernel_quantizer_internal", None) is not None for lay in model.layers)
        if not self.quantized:
            self.wbits = self.abits = self.ibits = 16  # float model -> hls4ml ap_fixed<16,6> defaults
        self.strategy = config["hls"]["strategy"]
        self.fold = bool(config["hls"].get("fold_batchnorm"))
        self.specs: list[dict] = []
        self.g = Graph()
        self.consumers: dict[str, int] = {}
        for lay in model.layers:
            for node in lay._inbound_nodes:
                for il in node.inbound_layers if isinstance(node.inbound_layers, list) else [node.inbound_layers]:
                    self.consumers[il.name] = self.consumers.get(il.name, 0) + 1
        self.out_of: dict[str, list] = {}  # keras layer -> FIFO names available to readers (after clone)
        self.bits_of: dict[str, int] = {}

    def take(self, name):
        return self.out_of[name].pop(0)

    def add_row(self, spec, strategy="Resource"):
        row = compute_layer(spec, strategy)
        self.specs.append(row)
        return row

    def publish(self, name, fifos_single, hwc, bits):
        n = self.consumers.get(name, 0)
        if n > 1:
            hh, ww, cc = hwc
            outs = self.g.add(f"{name}_clone", "clone", fifos_single, n_out=n, pixels=hh * ww, width=cc * bits,
                              out_pixels=hh * ww, channels=cc, bits=bits)
            self.add_row({"name": f"{name}_clone", "kind": "clone", "in_hw": (hh, ww), "cin": cc, "a_bits": bits})
            self.out_of[name] = list(outs)
        else:
            self.out_of[name] = list(fifos_single)
        self.bits_of[name] = bits

    def layer(self, lay):
        cls, name = lay.__class__.__name__, lay.name
        if cls == "InputLayer":
            hh, ww, cc = _shape(lay.output)
            f = self.g.add(name, "source", pixels=hh * ww, width=cc * self.ibits, out_pixels=hh * ww, channels=cc,
                           bits=self.ibits)
            self.publish(name, f, (hh, ww, cc), self.ibits)
            return
        inb = _inbound(lay)
        geo = (_shape(lay.input if not isinstance(lay.input, list) else lay.input[0]), _shape(lay.output),
               self.bits_of[inb[0].name], int((self.config["hls"].get("reuse_factors") or {}).get(
                   name, self.config["hls"]["reuse_factor"])))
        if cls in ("QConv2D", "Conv2D"):
            self.conv(lay, inb, *geo)
        elif cls in ("QConv2DTranspose", "Conv2DTranspose"):
            self.convt(lay, inb, *geo)
        elif "BatchNorm" in cls:
            self.batchnorm(lay, inb, *geo)
        elif cls == "MaxPooling2D":
            self.simple(name, "pool", inb, *geo, graph_kind="pool")
        elif cls == "Concatenate":
            self.concat(name, inb, *geo)
        else:  # QActivation / ReLU / Activation: element-wise
            self.simple(name, "map", inb, *geo, graph_kind="map")

    def conv(self, lay, inb, i_hwc, o_hwc, ain, rf):
        (hi, wi, ci), (ho, wo, co), name = i_hwc, o_hwc, lay.name
        k = int(lay.kernel_size[0])
        src = self.take(inb[0].name)
        pad = k - 1 if lay.padding == "same" else 0
        if pad:
            (src,) = self.g.add(f"{name}_pad", "pad", [src], h=hi, w=wi, pt=pad // 2, pb=pad - pad // 2,
                                pl=pad // 2, pr=pad - pad // 2, width=ci * ain, out_pixels=(hi + pad) * (wi + pad),
                                channels=ci, bits=ain)
            self.add_row({"name": f"{name}_pad", "kind": "pad", "in_hw": (hi, wi), "out_hw": (hi + pad, wi + pad),
                          "cin": ci, "a_bits": ain})
        row = self.add_row({"name": name, "kind": "conv", "in_hw": (hi, wi), "out_hw": (ho, wo), "cin": ci,
                            "cout": co, "k": k, "pad": pad, "rf": rf, "w_bits": self.wbits, "a_bits": ain,
                            "acc_bits": ain + self.wbits + 8}, self.strategy)
        f = self.g.add(name, "conv", [src], h=hi + pad, w=wi + pad, k=k, ii=row["rf"], lat=row["rf"] + 4,
                       width=co * self.abits, out_pixels=ho * wo, channels=co, bits=self.abits)
        self.publish(name, f, (ho, wo, co), 16 if not self.quantized else self.abits + 8)  # accum-width to BN

    def convt(self, lay, inb, i_hwc, o_hwc, ain, rf):
        (hi, wi, ci), (ho, wo, co), name = i_hwc, o_hwc, lay.name
        k, s = int(lay.kernel_size[0]), int(lay.strides[0])
        row = self.add_row({"name": name, "kind": "convt", "in_hw": (hi, wi), "out_hw": (ho, wo), "cin": ci,
                            "cout": co, "k": k, "s": s, "rf": rf, "w_bits": self.wbits, "a_bits": ain,
                            "acc_bits": ain + self.wbits + 8}, self.strategy)
        f = self.g.add(name, "convt", [self.take(inb[0].name)], h=hi, w=wi, s=s, ii=row["rf"], lat=row["rf"] + 4,
                       width=co * self.abits, out_pixels=ho * wo, channels=co, bits=self.abits)
        self.publish(name, f, (ho, wo, co), self.abits + 8)

    def batchnorm(self, lay, inb, i_hwc, o_hwc, ain, rf):
        # hls.fold_batchnorm moves only the BN shift into the conv bias (pipeline/extensions/fxp_batchnorm.py); the
        # per-channel scale stays a BatchNorm process (a multiply without the bias add), so the conv weights stay
        # 5-bit -- the process is still there
        (hi, wi, ci), name = i_hwc, lay.name
        obits = int(getattr(lay, "out_bits", 16))
        row = self.add_row({"name": name, "kind": "bn", "in_hw": (hi, wi), "cin": ci, "rf": rf, "a_bits": ain,
                            "scale_bits": int(getattr(lay, "scale_bits", 8)), "out_bits": obits,
                            "acc_bits": ain + 8, "folded": self.fold})
        f = self.g.add(name, "map", [self.take(inb[0].name)], pixels=hi * wi, ii=row["rf"], lat=row["rf"] + 3,
                       width=ci * obits, out_pixels=hi * wi, channels=ci, bits=obits)
        self.publish(name, f, (hi, wi, ci), obits)

    def concat(self, name, inb, i_hwc, o_hwc, ain, rf):
        (ho, wo, co) = o_hwc
        srcs = [self.take(il.name) for il in inb]
        self.add_row({"name": name, "kind": "concat", "in_hw": (ho, wo), "cin": co, "a_bits": ain})
        f = self.g.add(name, "concat", srcs, pixels=ho * wo, width=co * ain, out_pixels=ho * wo, channels=co,
                       bits=ain)
        self.publish(name, f, (ho, wo, co), ain)

    def simple(self, name, kind, inb, i_hwc, o_hwc, ain, rf, graph_kind):
        (hi, wi, _), (ho, wo, co) = i_hwc, o_hwc
        if kind == "pool":
            self.add_row({"name": name, "kind": "pool", "in_hw": (hi, wi), "out_hw": (ho, wo), "cin": co,
                          "a_bits": ain})
            f = self.g.add(name, "pool", [self.take(inb[0].name)], h=hi, w=wi, width=co * ain, out_pixels=ho * wo,
                           channels=co, bits=ain)
            self.publish(name, f, (ho, wo, co), ain)
            return
        self.add_row({"name": name, "kind": "map", "in_hw": (ho, wo), "cin": co, "a_bits": ain})
        f = self.g.add(name, graph_kind, [self.take(inb[0].name)], pixels=ho * wo, width=co * self.abits,
                       out_pixels=ho * wo, channels=co, bits=self.abits)
        self.publish(name, f, (ho, wo, co), self.abits)

    def finish(self):
        """The optional argmax head and the output sink."""
        ho, wo, co = _shape(self.model.output)
        src = self.take(self.model.layers[-1].name)
        if self.config["hls"].get("output_head") == "argmax":
            cb = max(1, math.ceil(math.log2(co)))
            self.add_row({"name": "argmax", "kind": "map", "in_hw": (ho, wo), "cin": co, "a_bits": self.abits})
            (src,) = self.g.add("argmax", "map", [src], pixels=ho * wo, lat=3, width=cb, out_pixels=ho * wo,
                                channels=1, bits=cb)
        self.g.add("output", "sink", [src], pixels=ho * wo)


def layer_specs(config, model=None) -> tuple[list[dict], "object"]:
    """Per-hls4ml-process specs and the stream graph (:class:`pipeline.hw.fifo_sim.Graph`) for ``model`` (default:
    the config's W5A8 Keras model, untrained weights suffice). ``hls.reuse_factor: auto`` must be resolved first
    (:func:`pipeline.hw.budget.resolved_config`; :func:`pipeline.hw.budget.assess` does both)."""
    if config["hls"]["reuse_factor"] == "auto":
        raise ValueError("hls.reuse_factor is 'auto': estimate pipeline.hw.budget.resolved_config(config)[0], or call "
                         "pipeline.hw.budget.assess(config)")
    if model is None:
        import keras_model  # noqa: F401  (QKeras compat first)
        from keras_model.model import build_model

        model = build_model(config, quantized=config["model"].get("variant", "w5a8") == "w5a8")
    b = _SpecBuilder(config, model)
    for lay in model.layers:
        b.layer(lay)
    b.finish()
    return b.specs, b.g


# --- the whole design ------------------------------------------------------------------------------------------------
def design_totals(rows: list[dict], fifos: list[dict], fit: dict | None = None) -> dict:
    """Totals of a design from its process rows (:func:`compute_layer`) and its FIFOs (dicts ``depth``, ``bits``,
    ``channels``, ``aggregate``) in both equivalents. ``hls``: what csynth would report (the rows plus
    :func:`fifo_cost_hls`). ``vivado``: what Vivado synthesis would report -- the rows' LUT / FF / DSP times the fitted
    Vivado / csynth ratios, their memories (weight ROMs, tables) as they are, the FIFOs by :func:`fifo_cost`. BRAM36
    = ceil(BRAM18 / 2). ``fifo_hls`` / ``fifo_vivado``: the FIFOs' share (BRAM18)."""
    f = FIT if fit is None else fit
    proc = {k: sum(r[k] for r in rows) for k in ("LUT", "FF", "BRAM18", "DSP")}
    fh, fv = {"LUT": 0, "FF": 0, "BRAM18": 0}, {"LUT": 0, "FF": 0, "BRAM18": 0}
    for q in fifos:
        args = (int(q["depth"]), int(q["bits"]), int(q.get("channels", 1)), bool(q.get("aggregate", True)), f)
        for tot, cost in ((fh, fifo_cost_hls(*args)), (fv, fifo_cost(*args))):
            for k in tot:
                tot[k] += cost[k]
    hls = {"LUT": proc["LUT"] + fh["LUT"], "FF": proc["FF"] + fh["FF"], "BRAM18": proc["BRAM18"] + fh["BRAM18"],
           "DSP": proc["DSP"]}
    viv = {"LUT": round(proc["LUT"] * f["VIVADO_RATIO_LUT"]) + fv["LUT"],
           "FF": round(proc["FF"] * f["VIVADO_RATIO_FF"]) + fv["FF"], "BRAM18": proc["BRAM18"] + fv["BRAM18"],
           "DSP": round(proc["DSP"] * f["VIVADO_RATIO_DSP"])}
    for t in (hls, viv):
        t["BRAM36"] = math.ceil(t.pop("BRAM18") / 2)
    return {"hls": hls, "vivado": viv, "fifo_hls": fh, "fifo_vivado": fv}


def _fifo_rows(g, fifo_info, aggregate: bool) -> list[dict]:
    """The stream graph's FIFOs: geometry, hls4ml's default depth (a full feature map) and the estimated depth."""
    out = []
    for name, f in g.fifos.items():
        node = g.nodes[f.writer]
        ch, bits = int(node.p.get("channels", 1)), int(node.p.get("bits", 8))
        dflt = max(1, f.default_depth)
        est = fifo_info["depths"][name] if fifo_info else dflt
        out.append({"name": name, "writer": f.writer, "reader": f.reader, "channels": ch, "bits": bits,
                    "aggregate": aggregate, "depth_default": dflt, "depth_estimated": est,
                    "BRAM18": fifo_cost(est, bits, ch, aggregate)["BRAM18"],
                    "BRAM18_default": fifo_cost(dflt, bits, ch, aggregate)["BRAM18"]})
    return out


def estimate(config, model=None, fifo: bool = True) -> dict:
    """Per-layer and total estimate for the build config (see the module docstring). JSON-serialisable. ``totals``
    is the Vivado-synthesis equivalent (what the FSIC budget is judged against), ``totals_hls`` the csynth
    equivalent; ``layers`` are csynth-equivalent rows."""
    t0 = time.time()
    from .fifo_sim import size_fifos

    specs, g = layer_specs(config, model)
    clock_ns = float(config["hls"]["clock_period"])
    cap = part_capacity(config["hls"]["part"])
    fifo_info = size_fifos(g) if fifo else None
    fifos = _fifo_rows(g, fifo_info, config["hls"]["backend"] == "Vitis")
    est = design_totals(specs, [{**q, "depth": q["depth_estimated"]} for q in fifos])
    dflt = design_totals([], [{**q, "depth": q["depth_default"]} for q in fifos])
    tot = {**est["vivado"], **{k: sum(r[k] for r in specs) for k in ("mults", "weight_bits", "macs")}}
    interval = max(r["cycles"] for r in specs)
    latency = fifo_info["cycles"] if fifo_info else None
    mults_dsp = sum(r["mults"] for r in specs if r["mapping"] == "DSP48E1")
    res = {
        "provenance": PROVENANCE,
        "expected_error": EXPECTED_ERROR,
        "part": config["hls"]["part"],
        "capacity": cap,
        "clock_ns": clock_ns,
        "strategy": config["hls"]["strategy"],
        "io_type": config["hls"]["io_type"],
        "totals": {**{k: int(v) for k, v in tot.items()}, "mults_dsp": mults_dsp, "mults_lut": tot["mults"] - mults_dsp,
                   "equivalent": "vivado_synth"},
        "totals_hls": {**est["hls"], "equivalent": "hls_csynth"},
        "utilization": {k: tot[k] / cap[k] for k in ("LUT", "FF", "BRAM36", "DSP")},
        "fits": all(tot[k] <= cap[k] for k in ("LUT", "FF", "BRAM36", "DSP")),
        "interval_cycles": int(interval),
        "slowest_layer": max(specs, key=lambda r: r["cycles"])["name"],
        "interval_ms": interval * clock_ns * 1e-6,
        "fps": 1e9 / (interval * clock_ns),
        "latency_cycles": int(latency) if latency is not None else None,
        "latency_ms": latency * clock_ns * 1e-6 if latency is not None else None,
        "fifo": {
            "estimated": {**est["fifo_vivado"], "BRAM36": math.ceil(est["fifo_vivado"]["BRAM18"] / 2)},
            "hls4ml_default": {**dflt["fifo_vivado"], "BRAM36": math.ceil(dflt["fifo_vivado"]["BRAM18"] / 2)},
            "latency_cycles_default_depths": fifo_info["unbounded_cycles"] if fifo_info else None,
            "skip_fifos": fifo_info["culprits"] if fifo_info else [],
            "fifos": fifos,
        },
        "layers": specs,
        "wall_s": None,
    }
    res["wall_s"] = time.time() - t0
    return res


def layer_cycles(row: dict, rf: int) -> int:
    """Cycles per frame of a conv / convT row at reuse factor ``rf``."""
    if row["kind"] == "conv":
        return row["px_in"] * max(rf, row.get("min_ii", 1))
    return row["px_in"] + row["px_out"] * rf


def propose_reuse_factors(config, target_cycles: int, model=None) -> dict:
    """Per-layer RFs (conv / convT) that keep every layer at or below ``target_cycles`` per frame: the largest valid
    RF with cycles <= target (fewest multipliers, deepest weight ROM). ``None`` if even RF=1 is too slow."""
    specs, _ = layer_specs(config, model)
    out = {}
    for r in specs:
        if r["kind"] not in ("conv", "convt"):
            continue
        ok = [rf for rf in valid_reuse_factors(r["n_in"], r["n_out"]) if layer_cycles(r, rf) <= target_cycles]
        out[r["name"]] = max(ok) if ok else None
    return out
