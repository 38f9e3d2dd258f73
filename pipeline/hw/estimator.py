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
  multiply goes to a DSP48E1 when both operands are at least ``DSP_MIN_BITS`` wide, otherwise to LUTs -- unless
  ``hls.multiplier_binding`` binds the conv / convT multiplies ('lut' / 'dsp', or 'auto': :func:`assign_bindings`
  fills USER_PRJ0's DSP budget, most LUTs saved per DSP first; applied to the rows by :func:`apply_bindings`).
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

from .parts import BRAM18_SHAPES, PARTS, part_capacity  # noqa: F401  (PARTS re-exported: the estimator's part table)
from .share import CALIBRATION_FILE  # the same file the budget's upper factors read

# --- constants (docs/estimate.md "The model" says where each comes from) ----------------------------------------------
# Rules (not fitted):
DSP48_A_BITS, DSP48_B_BITS = 25, 18  # DSP48E1 multiplier operands (7 Series DSP48E1 user guide UG479)
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


def dsp48_per_mult(a_bits: int, b_bits: int) -> int:
    """DSP48E1s of one ``a_bits`` x ``b_bits`` multiply bound to DSP (``hls.multiplier_binding``): one for operands
    within its 25 x 18 two's-complement multiplier (UG479; W5 x A8 and the 8 x 16 BatchNorm epilogue fit), else one
    per 25 x 18 partial product (a rule, no calibration point binds a wider multiply)."""
    big, small = max(a_bits, b_bits), min(a_bits, b_bits)
    return 1 if big <= DSP48_A_BITS and small <= DSP48_B_BITS else \
        math.ceil(big / DSP48_A_BITS) * math.ceil(small / DSP48_B_BITS)


def mult_cost(a_bits: int, b_bits: int, n: int, constant_weights: bool = False, fit: dict | None = None,
              binding: str | None = None) -> dict:
    """``n`` multipliers of ``a_bits`` x ``b_bits`` (HLS-estimate equivalent). ``binding`` None (what HLS does by
    itself, every calibration point): DSP48E1 when both operands are at least ``DSP_MIN_BITS`` wide, else LUTs.
    ``'dsp'`` / ``'lut'`` (``hls.multiplier_binding``, the pragma forces it): DSP48E1 resp. LUTs whatever the widths.
    Constant weights (Strategy Latency): the fitted costs per multiplier (DSP-bound: a fitted fraction gets a DSP,
    the rest become shift/add logic -- all of them when bound) or per nonzero LUT-bound product, which include the
    adder tree. Variable (ROM-fed) weights: DSP-bound 1 DSP (:func:`dsp48_per_mult`) plus the calibrated LUT / FF per
    DSP multiplier (``LUT_PER_DSP_MULT`` / ``FF_PER_DSP_MULT``, fitted on the 16-bit calibration points, adder tree
    included); LUT-bound ``a*b`` LUT and ``a+b`` FF (rule, not measured) -- the caller adds its accumulator."""
    f = FIT if fit is None else fit
    if n <= 0:
        return {"DSP": 0, "LUT": 0, "FF": 0, "mapping": "-"}
    if binding not in (None, "dsp", "lut"):
        raise ValueError(f"multiplier binding must be 'dsp', 'lut' or None, got {binding!r}")
    to_dsp = min(a_bits, b_bits) >= DSP_MIN_BITS if binding is None else binding == "dsp"
    if to_dsp:
        if binding == "dsp":
            dsp = n * dsp48_per_mult(a_bits, b_bits)
        else:
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
    # a strided transposed conv under Latency: the kernel selects the phase's constant weights with a mux
    # (nnet_conv2d_transpose.h convt_product_latency), so its ceil(n_in*n_out / RF) multipliers (hls4ml's
    # multiplier_limit, RF not snapped under Latency) see variable weights, plus the phase-select logic
    convt_mux = const_w and kind == "convt" and phases > 1
    rf = int(spec.get("rf", 1)) if convt_mux else snap_reuse_factor(n_in, n_out, int(spec.get("rf", 1)))
    nonzero = n_in * n_out - int(spec.get("n_zeros", 0)) if const_w and not convt_mux else n_in * n_out
    mb = {"w_bits": wb, "a_bits": ab, "acc_bits": acc, "const": const_w and not convt_mux, "products": nonzero,
          "rf": rf, "binding": spec.get("binding")}  # what rebind_row needs (hls.multiplier_binding)
    mc = _mult_block(mb, mb["binding"], f)
    mults = mc["mults"]
    row.update(rf=rf, rf_requested=int(spec.get("rf", 1)), n_in=n_in, n_out=n_out, mults=mults, mult_block=mb)
    row.update(mapping=mc["mapping"], DSP=mc["DSP"], LUT=mc["LUT"], FF=mc["FF"], weight_bits=n_in * n_out * phases * wb)
    if convt_mux:  # phase select: at most one LUT6 per weight bit (a function of the phase bits)
        row["LUT"] += n_in * n_out * wb
    if not const_w:
        row["LUT"] += LAYER_LUT
        row["FF"] += LAYER_FF
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


def _mult_block(mb: dict, binding: str | None, f: dict) -> dict:
    """The multipliers of a conv / convT / dense row (``mult_block``: operand / accumulator widths, constant weights,
    products, RF) under ``binding``: their count (constant weights: hls4ml's multiplier limit ``ceil(products / RF)``
    when DSP-bound, else every nonzero product -- LUT-bound constant products become adders that RF does not share,
    Liu), :func:`mult_cost`, and for ROM weights the accumulator adder of every LUT-bound multiplier (``acc_bits``
    LUT + FF each; a DSP48E1 accumulates in its post-adder -- the calibrated per-DSP cost includes the adder)."""
    wb, ab, const_w, products, rf = mb["w_bits"], mb["a_bits"], mb["const"], mb["products"], mb["rf"]
    to_dsp = min(wb, ab) >= DSP_MIN_BITS if binding is None else binding == "dsp"
    mults = (math.ceil(products / rf) if to_dsp else products) if const_w else math.ceil(products / rf)
    mc = mult_cost(wb, ab, mults, const_w, f, binding)
    if not const_w and mc["mapping"] == "LUT":
        mc["LUT"] += mults * mb["acc_bits"]
        mc["FF"] += mults * mb["acc_bits"]
    return {**mc, "mults": mults}


#: estimator rows whose multiplies ``hls.multiplier_binding`` binds (the generated Conv2D / PointwiseConv2D /
#: FsicConv2DTranspose / FsicFusedConvBlock processes: pipeline/extensions/mult_binding.py)
BINDABLE_KINDS = ("conv", "convt")


def rebind_row(row: dict, binding: str | None, fit: dict | None = None) -> dict:
    """A copy of a conv / convT row (:func:`compute_layer`) with its multipliers bound to ``binding`` ('dsp' |
    'lut' | None = HLS's own choice): the multiplier + accumulator cost swapped, everything else (control, weight
    ROM, line buffer, cycles) kept. A fused block's epilogue multipliers (``row['epilogue']``) are rebound too: exactly
    when the epilogue records its operand widths (``scale_bits`` / ``in_bits``), else (DSP) one DSP48E1 each with no
    LUTs credited."""
    f = FIT if fit is None else fit
    out = dict(row)
    mb = row["mult_block"]
    old, new = _mult_block(mb, mb["binding"], f), _mult_block(mb, binding, f)
    for k in ("DSP", "LUT", "FF"):
        out[k] = row[k] - old[k] + new[k]
    out.update(mults=new["mults"], mapping=new["mapping"], mult_block={**mb, "binding": binding},
               binding=binding or "rule")
    epi = row.get("epilogue")
    if epi and not ("scale_bits" in epi and "in_bits" in epi):
        # operand widths not recorded: count one DSP48E1 per epilogue multiplier when bound to DSP (the 8-bit scale x
        # the conv result fit a 25 x 18 multiplier) and credit no LUTs -- the budget never misses a bound DSP
        add = int(epi.get("mults", 0)) if binding == "dsp" and epi.get("mapping") == "LUT" else 0
        out["epilogue"] = {**epi, "binding": binding, "DSP": epi["DSP"] - epi.get("dsp_added", 0) + add,
                           "dsp_added": add}
        out["DSP"] += add - epi.get("dsp_added", 0)
    elif epi:
        n, const_w = int(epi["mults"]), bool(epi.get("const", False))
        e_old = mult_cost(epi["scale_bits"], epi["in_bits"], n, const_w, f, epi.get("binding"))
        e_new = mult_cost(epi["scale_bits"], epi["in_bits"], n, const_w, f, binding)
        out["epilogue"] = {**epi, "binding": binding, "mapping": e_new["mapping"],
                           **{k: epi[k] - e_old[k] + e_new[k] for k in ("DSP", "LUT", "FF")}}
        for k in ("DSP", "LUT", "FF"):
            out[k] += e_new[k] - e_old[k]
    return out


def binding_options(row: dict, fit: dict | None = None) -> dict:
    """``{'lut': row, 'dsp': row}``: the row under either binding, ``lut_saved``: the LUTs a DSP binding saves
    (Vivado-synthesis equivalent, as the budget), and ``dsp_used``: the DSP48E1s it takes -- counted as they are bound,
    one per multiply, not scaled by the fitted Vivado / csynth DSP ratio (< 1: fitted on constant-weight designs,
    where Vivado folds some DSP multiplies into logic; a bound multiply of a ROM-fed weight does not fold, and the
    part has 220 DSP48E1s whatever the ratio)."""
    f = FIT if fit is None else fit
    lut, dsp = rebind_row(row, "lut", f), rebind_row(row, "dsp", f)
    return {"lut": lut, "dsp": dsp, "lut_saved": (lut["LUT"] - dsp["LUT"]) * f["VIVADO_RATIO_LUT"],
            "dsp_used": dsp["DSP"] - lut["DSP"]}


def assign_bindings(rows: list[dict], dsp_budget: float, fixed: dict | None = None,
                    fit: dict | None = None) -> dict:
    """``hls.multiplier_binding: auto``: ``{layer: 'dsp' | 'lut'}`` for every bindable row (:data:`BINDABLE_KINDS`).
    Greedy: the layers in decreasing order of LUTs saved per DSP (ties: more LUTs saved first, then by name), each
    put on DSPs if its DSPs still fit ``dsp_budget`` (DSP48E1s as bound, :func:`binding_options`; the DSPs of every
    other row -- non-bindable rows and the ``fixed`` per-layer bindings -- are taken from it first), else left on
    LUTs; a layer that saves no LUTs stays on LUTs. Deterministic in its inputs."""
    f = FIT if fit is None else fit
    fixed = dict(fixed or {})
    out, cands, used = {}, [], 0.0
    for r in rows:
        if r["kind"] in BINDABLE_KINDS and "mult_block" in r:
            if r["name"] in fixed:
                out[r["name"]] = fixed[r["name"]]
                used += rebind_row(r, fixed[r["name"]], f)["DSP"]
                continue
            o = binding_options(r, f)
            used += o["lut"]["DSP"]
            out[r["name"]] = "lut"
            if o["lut_saved"] > 0 and o["dsp_used"] > 0:
                cands.append((o["lut_saved"] / o["dsp_used"], o["lut_saved"], r["name"], o["dsp_used"]))
        else:
            used += r.get("DSP", 0)
    left = float(dsp_budget) - used
    for _ratio, _saved, name, dsp in sorted(cands, key=lambda c: (-c[0], -c[1], c[2])):
        if dsp <= left + 1e-9:
            out[name] = "dsp"
            left -= dsp
    return out


def bindings_of(config) -> tuple[str | None, dict]:
    """(mode, explicit per-layer bindings) of a build config (``hls.multiplier_binding`` / ``_bindings``); mode None
    when the config has no such key."""
    h = config["hls"]
    return h.get("multiplier_binding"), dict(h.get("multiplier_bindings") or {})


def dsp_budget_for(config) -> float:
    """The DSPs ``auto`` may fill: USER_PRJ0's DSP budget (:func:`pipeline.hw.budget.budget`), divided by the
    calibrated upper-bound factor when ``target.fit_at`` is 'upper'."""
    from .share import budget, upper_factors

    avail = float(budget(config)["available"]["DSP"])
    if config.get("target", {}).get("fit_at") == "upper":
        avail /= upper_factors()["DSP"]
    return max(0.0, avail)


def apply_bindings(config, rows: list[dict]) -> tuple[list[dict], dict]:
    """The rows with ``hls.multiplier_binding`` applied (every bindable row bound; ``auto`` resolved by
    :func:`assign_bindings` against :func:`dsp_budget_for`) and ``{layer: binding}``."""
    mode, explicit = bindings_of(config)
    if mode is None:  # a config without the key (hand-made): HLS's own choice, as before the key existed
        return rows, {}
    names = [r["name"] for r in rows if r["kind"] in BINDABLE_KINDS and "mult_block" in r]
    if mode == "auto":
        chosen = assign_bindings(rows, dsp_budget_for(config), fixed=explicit)
    else:
        chosen = {n: explicit.get(n, mode) for n in names}
    out = [rebind_row(r, chosen[r["name"]]) if r["name"] in chosen else r for r in rows]
    return out, {n: chosen[n] for n in names}


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
        # hls.fuse_conv_blocks: conv -> (bn, relu) chains the converter fuses into one process
        self.fused = fused_chains(model) if (config["hls"].get("fuse_conv_blocks")
                                             and config["hls"]["io_type"] == "io_stream") else {}
        self.absorbed = {n for bn_relu in self.fused.values() for n in bn_relu}

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
                              out_pixels=hh * ww, out_row=ww, channels=cc, bits=bits)
            self.add_row({"name": f"{name}_clone", "kind": "clone", "in_hw": (hh, ww), "cin": cc, "a_bits": bits})
            self.out_of[name] = list(outs)
        else:
            self.out_of[name] = list(fifos_single)
        self.bits_of[name] = bits

    def layer(self, lay):
        cls, name = lay.__class__.__name__, lay.name
        if name in self.absorbed:  # the BatchNorm / ReLU of a fused conv block: inside the conv's process
            return
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
        epi = self.epilogue(lay, row, ain)
        f = self.g.add(name, "conv", [src], h=hi + pad, w=wi + pad, k=k, ii=row["rf"] + epi, lat=row["rf"] + 4 + epi,
                       width=co * self.abits, out_pixels=ho * wo, out_row=wo, channels=co, bits=self.abits)
        self.publish_conv(name, f, (ho, wo, co))

    def epilogue(self, lay, row, ain) -> int:
        """A fused conv block (``hls.fuse_conv_blocks``): add the BatchNorm + ReLU epilogue to the conv's row
        (:func:`fused_epilogue`); returns its extra pipeline latency in cycles (0 when not fused)."""
        if lay.name not in self.fused:
            return 0
        bn_name, relu_name = self.fused[lay.name]
        bn = self.model.get_layer(bn_name)
        epi = fused_epilogue(row, cout=int(row["n_out"]), rf=int(row["rf"]),
                             in_bits=self.abits + 8 if self.quantized else 16,  # the conv result, as publish_conv
                             scale_bits=int(getattr(bn, "scale_bits", 8)), bn_bits=int(getattr(bn, "out_bits", 16)),
                             out_bits=self.abits, folded=self.fold, const_w=self.strategy == "Latency")
        row["fused"] = {"conv": lay.name, "bn": bn_name, "relu": relu_name}
        return epi

    def publish_conv(self, name, fifos, hwc):
        """Publish a conv's output: the accumulator-wide stream to its BatchNorm, or -- fused -- the ReLU's 8-bit
        stream under the ReLU's name (its readers, a clone when several, read it from the conv's process)."""
        if name in self.fused:
            self.publish(self.fused[name][1], fifos, hwc, self.abits)
        else:
            self.publish(name, fifos, hwc, 16 if not self.quantized else self.abits + 8)  # accum-width to BN

    def convt(self, lay, inb, i_hwc, o_hwc, ain, rf):
        (hi, wi, ci), (ho, wo, co), name = i_hwc, o_hwc, lay.name
        k, s = int(lay.kernel_size[0]), int(lay.strides[0])
        row = self.add_row({"name": name, "kind": "convt", "in_hw": (hi, wi), "out_hw": (ho, wo), "cin": ci,
                            "cout": co, "k": k, "s": s, "rf": rf, "w_bits": self.wbits, "a_bits": ain,
                            "acc_bits": ain + self.wbits + 8}, self.strategy)
        epi = self.epilogue(lay, row, ain)
        f = self.g.add(name, "convt", [self.take(inb[0].name)], h=hi, w=wi, s=s, ii=row["rf"] + epi,
                       lat=row["rf"] + 4 + epi, width=co * self.abits, out_pixels=ho * wo, out_row=wo, channels=co,
                       bits=self.abits)
        if name in self.fused:
            self.publish_conv(name, f, (ho, wo, co))
        else:
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


def fused_chains(model) -> dict[str, tuple[str, str]]:
    """The Keras conv -> BatchNorm -> ReLU chains ``hls.fuse_conv_blocks`` fuses into one process: ``{conv: (bn,
    relu)}``. The same rule as the converter's pass (:func:`pipeline.extensions.fused_conv_block.chain_of`, which
    decides on hls4ml's graph): a QConv2D / QConv2DTranspose read only by one FxpBatchNorm, read only by one
    quantized_relu / ReLU, neither output a model output. tests/test_estimate.py checks both agree."""
    outputs = {t.name for t in model.outputs}
    readers: dict[str, list] = {}
    for lay in model.layers:
        for node in lay._inbound_nodes:
            inb = node.inbound_layers if isinstance(node.inbound_layers, list) else [node.inbound_layers]
            for il in inb:
                readers.setdefault(il.name, []).append(lay)

    def sole(lay):
        r = readers.get(lay.name, [])
        return r[0] if len(r) == 1 and lay.output.name not in outputs and not isinstance(r[0].input, list) else None

    def is_relu(lay):
        if lay.__class__.__name__ == "ReLU":
            return True
        act = getattr(lay, "activation", None)
        return lay.__class__.__name__ == "QActivation" and "relu" in str(getattr(act, "__name__", act)).lower()

    out = {}
    for lay in model.layers:
        if lay.__class__.__name__ not in ("QConv2D", "QConv2DTranspose"):
            continue
        bn = sole(lay)
        if bn is None or bn.__class__.__name__ != "FxpBatchNorm":
            continue
        relu = sole(bn)
        if relu is not None and is_relu(relu):
            out[lay.name] = (bn.name, relu.name)
    return out


def fused_epilogue(row: dict, cout: int, rf: int, in_bits: int, scale_bits: int, bn_bits: int, out_bits: int,
                   folded: bool, const_w: bool, fit: dict | None = None) -> int:
    """Add a fused conv block's per-pixel epilogue (exact BatchNorm affine + quantized ReLU, issue #14) to the conv's
    row: ``ceil(Cout / RF)`` scale multipliers of ``scale_bits`` x the conv result (time-multiplexed over the RF
    cycles the conv spends per pixel, as the kernel's ``ALLOCATION`` limit asks), their bias adders (none when
    folded), the ReLU's round/clip and its ``Cout x out_bits`` output register. No process control, no FIFO: the
    conv's own. A rule, not fitted (no published build has the fused kernel).

    Cycles: with Strategy Latency the pixel loop is pipelined at II = RF and the epilogue is a stage of that
    pipeline (cycles unchanged). With Strategy Resource the pixel loop is not pipelined (as in hls4ml's own conv), so
    per output pixel the epilogue's ``ceil(Cout / mults)`` multiplies plus ~2 cycles (add, ReLU) follow the conv's RF
    cycles: ``epilogue_cycles`` is added to every pixel's II (``row['ii']``; the conv's ``cycles`` use it). Returns
    ``epilogue_cycles``."""
    mults = max(1, math.ceil(cout / max(1, rf)))
    mc = mult_cost(scale_bits, in_bits, mults, const_w, fit)
    adders = 0 if folded else mults * bn_bits
    epi = 0 if const_w else epilogue_cycles(cout, rf)
    row["epilogue"] = {"mults": mults, "mapping": mc["mapping"], "DSP": mc["DSP"], "LUT": mc["LUT"] + adders
                       + cout * out_bits // 2, "FF": mc["FF"] + cout * out_bits, "cycles_per_pixel": epi,
                       "scale_bits": scale_bits, "in_bits": in_bits, "const": const_w}  # rebind_row reads these
    for k in ("DSP", "LUT", "FF"):
        row[k] += row["epilogue"][k]
    row["mults_epilogue"] = mults
    row["ii"] = row["rf"] + epi
    if epi and row["kind"] == "conv":  # conv: every (padded) input pixel at the II (as _conv_geometry)
        row["cycles"] = row["px_in"] * max(row["ii"], row.get("min_ii", 1))
    elif epi:  # convt: input pixels + output pixels at the II (as _convt_geometry)
        row["cycles"] = row["px_in"] + row["px_out"] * row["ii"]
    return epi


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
                    "depth_sized": fifo_info["sized_depths"][name] if fifo_info else dflt,
                    "BRAM18": fifo_cost(est, bits, ch, aggregate)["BRAM18"],
                    "BRAM18_default": fifo_cost(dflt, bits, ch, aggregate)["BRAM18"]})
    return out


def estimate(config, model=None, fifo: bool = True) -> dict:
    """Per-layer and total estimate for the build config (see the module docstring). JSON-serialisable. ``totals``
    is the Vivado-synthesis equivalent (what the FSIC budget is judged against), ``totals_hls`` the csynth
    equivalent; ``layers`` are csynth-equivalent rows."""
    t0 = time.time()
    from .fifo_sim import project_depths

    specs, g = layer_specs(config, model)
    specs, bindings = apply_bindings(config, specs)  # hls.multiplier_binding (auto: resolved here)
    clock_ns = float(config["hls"]["clock_period"])
    cap = part_capacity(config["hls"]["part"])
    h = config["hls"]  # the depths the generated project gets (pipeline/hls/fifo_depths.py writes the same)
    fifo_info = project_depths(g, h.get("fifo_depths", "sized"), h.get("fifo_margin_rows", 1)) if fifo else None
    fifos = _fifo_rows(g, fifo_info, config["hls"]["backend"] == "Vitis")
    est = design_totals(specs, [{**q, "depth": q["depth_estimated"]} for q in fifos])
    dflt = design_totals([], [{**q, "depth": q["depth_default"]} for q in fifos])
    tot = {**est["vivado"], **{k: sum(r[k] for r in specs) for k in ("mults", "weight_bits", "macs")}}
    tot["mults"] += sum(r.get("mults_epilogue", 0) for r in specs)  # fused conv blocks' BatchNorm multipliers
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
            "depths": fifo_info["mode"] if fifo_info else "hls4ml",  # hls.fifo_depths, as the project is written
            "margin_rows": fifo_info["margin_rows"] if fifo_info else 0,
            "fifos": fifos,
        },
        "layers": specs,
        "multiplier_binding": {"mode": bindings_of(config)[0], "bindings": bindings,
                               "dsp_budget": round(dsp_budget_for(config), 1)
                               if bindings_of(config)[0] == "auto" else None},
        "wall_s": None,
    }
    res["wall_s"] = time.time() - t0
    return res


def epilogue_cycles(cout: int, rf: int) -> int:
    """Cycles per pixel a fused conv block's epilogue adds under Strategy Resource (:func:`fused_epilogue`)."""
    return math.ceil(cout / max(1, math.ceil(cout / max(1, rf)))) + 2


def pixel_ii(row: dict, rf: int) -> int:
    """Cycles per pixel of a conv / convT row at reuse factor ``rf``: ``rf``, plus the epilogue of a fused block
    under Strategy Resource (``row['epilogue']['cycles_per_pixel']`` > 0)."""
    epi = row.get("epilogue", {}).get("cycles_per_pixel", 0)
    return rf + (epilogue_cycles(row["n_out"], rf) if epi else 0)


def layer_cycles(row: dict, rf: int) -> int:
    """Cycles per frame of a conv / convT row at reuse factor ``rf``."""
    if row["kind"] == "conv":
        return row["px_in"] * max(pixel_ii(row, rf), row.get("min_ii", 1))
    return row["px_in"] + row["px_out"] * pixel_ii(row, rf)


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
