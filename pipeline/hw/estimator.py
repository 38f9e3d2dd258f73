"""Offline resource / latency / FIFO estimator for the hls4ml io_stream build (``unet-fsic estimate CONFIG``).

No vendor tool runs on these machines and hls4ml has no CNN resource estimator, so this module models what hls4ml
1.3 + Vivado/Vitis HLS generate for our network, from the Keras W5A8 model and the build config (the same
``hls.reuse_factor`` / ``hls.reuse_factors`` / ``hls.strategy`` / ``quant.*`` the converter uses). Every number it
produces is an **estimate** (``provenance`` says so, with the calibration source); ``--synth`` / ``import-report``
(:mod:`pipeline.hw.vendor_reports`) give vendor numbers in the same schema.

Model (see docs/estimate.md for the derivation, calibration and measured error):

- ReuseFactor: snapped to the closest valid one exactly as hls4ml does (``n_in*n_out % RF == 0`` ...).
- Multipliers of a conv / convT / dense: ``n_in*n_out / RF`` (BatchNorm: ``ceil(C / RF)``). A multiply goes to a
  DSP48E1 when both operands are at least ``DSP_MIN_BITS`` wide, otherwise to LUTs (``LUT_PER_BITPROD * a * b``).
- Weight storage (Strategy Resource): one ROM per layer, ``RF`` deep and ``mults * w_bits`` wide (hls4ml reshapes the
  weights by the block factor); <= ``ROM_LUT_MAX_DEPTH`` deep -> LUT ROM (64 bits per LUT6), else BRAM18 in the
  cheapest aspect ratio. Strategy Latency: weights are constants (no ROM; constant multipliers, half the LUTs).
- FIFOs: one per channel (Vivado splits the stream struct), ``act_bits`` wide; <= ``SRL_MAX_DEPTH`` -> SRL LUTs, else
  BRAM18. Depths: hls4ml's default (a full feature map each) and ours from :mod:`pipeline.hw.fifo_sim`.
- Line buffers of k x k convs: (k-1) x C shift registers of the padded row width (SRL LUTs).
- Cycles per frame: conv = padded input pixels x RF; convT = input pixels + output pixels x RF; BatchNorm = pixels
  x RF; everything else one pixel per cycle. Frame interval = the slowest process; latency = the dataflow
  simulation's last output cycle for one frame.
"""
from __future__ import annotations

import math
import time

from .parts import BRAM18_SHAPES, PARTS, part_capacity  # noqa: F401  (PARTS re-exported: the estimator's part table)

# --- calibration constants (docs/estimate.md) -----------------------------------------------------------------------
DSP_MIN_BITS = 10  # both operands >= this -> DSP48E1 (Vivado HLS default binding; anchor: 16x16 -> DSP)
LUT_PER_BITPROD = 1.0  # LUTs of an a x b LUT multiplier ~ a*b
LUT_PER_DSP_MULT = 17.0  # glue LUTs (adder tree / muxing) per DSP-mapped multiplier (calibrated, anchor A)
FF_PER_DSP_MULT = 28.0  # pipeline registers per DSP-mapped multiplier (calibrated, anchor A)
FF_PER_LUT_MULT_BIT = 1.0  # FFs per product bit of a LUT multiplier (pipeline registers)
LAYER_LUT = 150  # control / handshake LUTs per dataflow process
LAYER_FF = 200
ROM_LUT_MAX_DEPTH = 64
SRL_MAX_DEPTH = 64  # deeper FIFOs go to BRAM
FIFO_CTRL_LUT = 12  # per FIFO (anchor A: 5 depth-1 16-bit FIFOs = 140 LUT, 25 FF in csynth)
FIFO_CTRL_FF = 5
EXPECTED_ERROR = {"LUT": 0.5, "FF": 0.5, "BRAM36": 0.35, "DSP": 0.25, "cycles": 0.15}
CALIBRATION_SOURCE = ("hls4ml repository test report test/pytest/test_report/Vivado (Vivado HLS 2020.1 + Vivado "
                      "2020.1 synth, xc7z020, Dense 16->5 ap_fixed<16,6>, io_stream)")
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


def fifo_cost(depth: int, bits: int, channels: int, aggregate: bool = True) -> dict:
    """A stream of ``channels`` x ``bits``: Vitis HLS aggregates the struct into one FIFO ``channels*bits`` wide
    (``aggregate``); Vivado HLS splits it into one FIFO per channel."""
    n, wbits = (1, channels * bits) if aggregate else (channels, bits)
    if depth <= SRL_MAX_DEPTH:
        return {"LUT": n * (wbits * math.ceil(depth / 32) + FIFO_CTRL_LUT), "FF": n * FIFO_CTRL_FF, "BRAM18": 0}
    return {"LUT": n * FIFO_CTRL_LUT * 2, "FF": n * FIFO_CTRL_FF * 3, "BRAM18": n * bram18_for(depth, wbits)}


def mult_cost(a_bits: int, b_bits: int, n: int, constant_weights: bool = False) -> dict:
    if n <= 0:
        return {"DSP": 0, "LUT": 0, "FF": 0, "mapping": "-"}
    if min(a_bits, b_bits) >= DSP_MIN_BITS:
        return {"DSP": n, "LUT": round(n * LUT_PER_DSP_MULT), "FF": round(n * FF_PER_DSP_MULT), "mapping": "DSP48E1"}
    f = 0.5 if constant_weights else 1.0
    return {"DSP": 0, "LUT": math.ceil(n * LUT_PER_BITPROD * a_bits * b_bits * f),
            "FF": math.ceil(n * FF_PER_LUT_MULT_BIT * (a_bits + b_bits)), "mapping": "LUT"}


# --- one compute layer -----------------------------------------------------------------------------------------------
def compute_layer(spec: dict, strategy: str = "Resource") -> dict:
    """Estimate one layer. ``spec``: ``kind`` (conv | convt | dense | bn | map | pool | concat | clone | pad),
    ``in_hw`` (H, W), ``out_hw``, ``cin``, ``cout``, ``k`` (kernel), ``s`` (stride), ``pad`` (total padding per
    axis, conv), ``rf``, ``w_bits``, ``a_bits`` (input activation bits), ``acc_bits`` (accumulator), ``out_bits``.
    Returns the per-layer row (all numbers estimates)."""
    kind = spec["kind"]
    h, w = spec.get("in_hw", (1, 1))
    oh, ow = spec.get("out_hw", (h, w))
    cin, cout = spec.get("cin", 1), spec.get("cout", spec.get("cin", 1))
    row = {"name": spec["name"], "kind": kind, "cycles": oh * ow, "mults": 0, "mapping": "-", "rf": 1,
           "DSP": 0, "LUT": LAYER_LUT, "FF": LAYER_FF, "BRAM18": 0, "weight_bits": 0, "macs": 0}
    wb, ab = spec.get("w_bits", 8), spec.get("a_bits", 8)
    acc = spec.get("acc_bits", ab + wb + 8)
    const_w = strategy == "Latency"
    if kind in ("conv", "dense", "convt"):
        k, s = spec.get("k", 1), spec.get("s", 1)
        if kind == "convt":
            taps = math.ceil(k / s) ** 2
            n_in, n_out, phases = taps * cin, cout, s * s
        else:
            n_in, n_out, phases = k * k * cin, cout, 1
        rf = snap_reuse_factor(n_in, n_out, int(spec.get("rf", 1)))
        mults = n_in * n_out // rf
        row.update(rf=rf, rf_requested=int(spec.get("rf", 1)), n_in=n_in, n_out=n_out, mults=mults)
        mc = mult_cost(wb, ab, mults, const_w)
        row["mapping"] = mc["mapping"]
        row["DSP"] += mc["DSP"]
        if mc["mapping"] == "LUT":  # a DSP48E1 accumulates in its own post-adder
            row["LUT"] += mults * acc
            row["FF"] += mults * acc
        row["LUT"] += mc["LUT"]
        row["FF"] += mc["FF"]
        nweights = n_in * n_out * phases
        row["weight_bits"] = nweights * wb
        if not const_w:
            rc = rom_cost(rf * phases, mults * wb)
            row["LUT"] += rc["LUT"]
            row["BRAM18"] += rc["BRAM18"]
            row["weight_rom"] = {"depth": rf * phases, "width": mults * wb, **rc}
        if kind == "conv":
            pad = spec.get("pad", 0)
            hp, wp = h + pad, w + pad
            row["px_in"] = hp * wp
            row["cycles"] = hp * wp * rf
            row["macs"] = oh * ow * n_in * n_out
            if k > 1:  # line buffer: (k-1) x C shift registers of depth wp
                row["LUT"] += (k - 1) * cin * ab * math.ceil(wp / 32)
                row["FF"] += k * k * cin * ab  # window registers
        elif kind == "convt":
            row["px_in"], row["px_out"] = h * w, oh * ow
            row["cycles"] = h * w + oh * ow * rf
            row["macs"] = oh * ow * n_in * n_out
            row["BRAM18"] += 0 if w * cin * ab * taps <= 4096 else cin * bram18_for(w, ab)
            row["LUT"] += 0 if w * cin * ab * taps > 4096 else cin * ab * math.ceil(w / 32)
        else:
            row["cycles"] = rf
            row["macs"] = n_in * n_out
    elif kind == "bn":
        rf = int(spec.get("rf", 1))
        mults = math.ceil(cin / rf)
        mc = mult_cost(spec.get("scale_bits", 8), ab, mults, False)
        row.update(rf=rf, mults=mults, mapping=mc["mapping"], cycles=h * w * rf)
        row["DSP"] += mc["DSP"]
        folded = bool(spec.get("folded"))  # shift moved into the conv bias: no bias adders, no bias storage
        row["LUT"] += mc["LUT"] + (0 if folded else mults * acc) + cin * spec.get("out_bits", 16) // 2
        row["FF"] += mc["FF"] + cin * spec.get("out_bits", 16)
        row["weight_bits"] = (1 if folded else 2) * cin * spec.get("scale_bits", 8)
    elif kind in ("map", "concat", "clone", "pad", "pool"):
        c = max(cin, cout)
        row["LUT"] += c * ab * (2 if kind in ("map", "pool") else 1) // 2
        row["FF"] += c * ab
        if kind == "pool":  # one row of partial maxima
            row["LUT"] += cin * ab * math.ceil(w / 2 / 32)
            row["cycles"] = h * w
        elif kind == "pad":
            row["cycles"] = oh * ow
        else:
            row["cycles"] = h * w
    row["BRAM36"] = row["BRAM18"] / 2
    return row


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
    the config's W5A8 Keras model, untrained weights suffice)."""
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
def estimate(config, model=None, fifo: bool = True) -> dict:
    """Per-layer and total estimate for the build config (see the module docstring). JSON-serialisable."""
    t0 = time.time()
    from .fifo_sim import size_fifos

    specs, g = layer_specs(config, model)
    clock_ns = float(config["hls"]["clock_period"])
    cap = part_capacity(config["hls"]["part"])
    fifo_info = None
    if fifo:
        fifo_info = size_fifos(g)
    fifos = []
    tot_f = {"LUT": 0, "FF": 0, "BRAM18": 0}
    tot_f_default = {"LUT": 0, "FF": 0, "BRAM18": 0}
    for name, f in g.fifos.items():
        node = g.nodes[f.writer]
        ch, bits = int(node.p.get("channels", 1)), int(node.p.get("bits", 8))
        dflt = max(1, f.default_depth)
        est = fifo_info["depths"][name] if fifo_info else dflt
        agg = config["hls"]["backend"] == "Vitis"
        c_est, c_def = fifo_cost(est, bits, ch, agg), fifo_cost(dflt, bits, ch, agg)
        for k in tot_f:
            tot_f[k] += c_est[k]
            tot_f_default[k] += c_def[k]
        fifos.append({"name": name, "writer": f.writer, "reader": f.reader, "channels": ch, "bits": bits,
                      "depth_default": dflt, "depth_estimated": est, "BRAM18": c_est["BRAM18"],
                      "BRAM18_default": c_def["BRAM18"]})
    tot = {k: sum(r[k] for r in specs) for k in ("LUT", "FF", "BRAM18", "DSP", "mults", "weight_bits", "macs")}
    for k in ("LUT", "FF", "BRAM18"):
        tot[k] += tot_f[k]
    tot["BRAM36"] = math.ceil(tot.pop("BRAM18") / 2)
    interval = max(r["cycles"] for r in specs)
    slowest = max(specs, key=lambda r: r["cycles"])["name"]
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
        "totals": {**{k: int(v) for k, v in tot.items()}, "mults_dsp": mults_dsp,
                   "mults_lut": tot["mults"] - mults_dsp},
        "utilization": {k: tot[k] / cap[k] for k in ("LUT", "FF", "BRAM36", "DSP")},
        "fits": all(tot[k] <= cap[k] for k in ("LUT", "FF", "BRAM36", "DSP")),
        "interval_cycles": int(interval),
        "slowest_layer": slowest,
        "interval_ms": interval * clock_ns * 1e-6,
        "fps": 1e9 / (interval * clock_ns),
        "latency_cycles": int(latency) if latency is not None else None,
        "latency_ms": latency * clock_ns * 1e-6 if latency is not None else None,
        "fifo": {
            "estimated": {**tot_f, "BRAM36": math.ceil(tot_f["BRAM18"] / 2)},
            "hls4ml_default": {**tot_f_default, "BRAM36": math.ceil(tot_f_default["BRAM18"] / 2)},
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
        return row["px_in"] * rf
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
