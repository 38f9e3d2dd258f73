"""FSIC's user-project budget, the clocks the IP really runs at, and ``hls.reuse_factor: auto`` (issue #13).

* :func:`budget` -- what USER_PRJ0 may use: the part's capacity times ``target.max_utilization`` minus the area
  FSIC's own platform takes (``target.reserved``; default: the measured PYNQ-Z2 figures, docs/budget.md).
* :func:`judge` -- does an estimate fit that budget at its nominal value, and at its upper error bound (nominal x (1 +
  the calibrated expected error))?
* :func:`timing` -- the frame interval / latency at the clock the IP runs at (``target.ip_clock``: FSIC's reference
  build runs USER_PRJ0 on ``axis_clk`` = the 5 MHz bus clock) and the time the frame needs on the bus (input words +
  output words at the bus clock, one 32-bit word per cycle at best).
* :func:`resolve_reuse_factors` -- per-layer reuse factors for ``hls.reuse_factor: auto``: every conv / transposed
  conv gets the largest valid RF (hls4ml's own validity rule) whose cycles per frame stay within a frame-interval
  target, every BatchNorm the largest RF within it (at most its channel count), so no layer is much faster than the
  slowest; the target is ``target.frame_interval_ms`` / ``cycles_at``, or, when neither is set, the fastest interval
  whose design fits the budget (binary search over the achievable intervals, with the full estimate incl. FIFO
  sizing at every step).
* :func:`resolve_bindings` -- per-layer multiplier bindings for ``hls.multiplier_binding: auto`` (the estimator's
  greedy DSP assignment within USER_PRJ0's DSP budget), resolved after the reuse factors; :func:`resolved_config`
  does both, :func:`assess` reports them (``multiplier_binding``).

Every figure here is an estimate (:mod:`pipeline.hw.estimator`); vendor numbers come from ``estimate --synth`` /
``import-report``.
"""
from __future__ import annotations

import copy
import json
import math
from functools import lru_cache

from ..errors import UserError
from .estimator import dsp_budget_for, estimate, layer_cycles, layer_specs, valid_reuse_factors
from .share import FSIC_RESERVED, FSIC_WRAPPER, RESOURCES, budget, upper_factors  # noqa: F401  (re-exported)

FSIC_BUS_CLOCK_MHZ = 5.0
AUTO = "auto"


# --- fit and clocks ---------------------------------------------------------------------------------------------------
def judge(totals: dict, bud: dict, factors: dict) -> dict:
    """Fit of ``totals`` against ``bud`` (:func:`budget`): at the nominal value and at ``totals x factors`` (the upper
    bound: :func:`upper_factors` for an estimate, 1 for a vendor report)."""
    avail = bud["available"]
    upper = {k: totals[k] * float(factors[k]) for k in RESOURCES}
    use = {k: (totals[k] / avail[k] if avail[k] > 0 else math.inf) for k in RESOURCES}
    use_upper = {k: (upper[k] / avail[k] if avail[k] > 0 else math.inf) for k in RESOURCES}
    return {
        "fits_nominal": all(totals[k] <= avail[k] for k in RESOURCES),
        "fits_upper": all(upper[k] <= avail[k] for k in RESOURCES),
        "use_of_budget": {k: round(v, 4) for k, v in use.items()},
        "use_of_budget_upper": {k: round(v, 4) for k, v in use_upper.items()},
        "upper": {k: math.ceil(v) for k, v in upper.items()},
        "limiting": max(RESOURCES, key=lambda k: use[k]),
    }


def ip_clock_mhz(config) -> float:
    t = config["target"]
    return float(t["bus_clock_mhz"] if t["ip_clock"] == "axis_clk" else t["user_clock2_mhz"])


def stream_words(config) -> dict:
    """32-bit bus words per frame each way, as the wrapper packs them (pipeline/hw/rtl.py ``wrap_params``): input 4
    bytes per word; output argmax ``floor(32 / class_bits)`` class indices per word, logits 4 bytes per word."""
    h, w, c = config["model"]["input_shape"]
    n = config["model"]["num_classes"]
    words_in = math.ceil(h * w * c / 4)
    if config["hls"]["output_head"] == "argmax":
        per = 32 // max(1, math.ceil(math.log2(n)))
        words_out = math.ceil(h * w / per)
    else:
        words_out = math.ceil(h * w * n / 4)
    return {"in": words_in, "out": words_out}


def timing(config, interval_cycles: int, latency_cycles: int | None) -> dict:
    """Frame interval / latency at the IP clock and the frame's time on the bus, each naming its clock."""
    t = config["target"]
    f_ip, f_bus = ip_clock_mhz(config), float(t["bus_clock_mhz"])
    words = stream_words(config)
    bus_cycles = words["in"] + words["out"]
    out = {
        "ip_clock": t["ip_clock"], "ip_clock_mhz": f_ip, "bus_clock_mhz": f_bus,
        "interval_cycles": int(interval_cycles), "interval_ms": interval_cycles / f_ip / 1e3,
        "latency_cycles": latency_cycles, "latency_ms": latency_cycles / f_ip / 1e3 if latency_cycles else None,
        "stream_words": words, "bus_cycles": bus_cycles, "bus_ms": bus_cycles / f_bus / 1e3,
        "hls_clock_mhz": 1000.0 / float(config["hls"]["clock_period"]),
    }
    # frames back to back: the slower of the IP's interval and the bus (the IP reads and writes while it computes)
    out["frame_ms"] = max(out["interval_ms"], out["bus_ms"])
    out["fps"] = 1e3 / out["frame_ms"]
    return out


def target_cycles(config) -> int | None:
    """The configured frame-interval target in IP clock cycles (None: the fastest that fits)."""
    t = config["target"]
    if t["frame_interval_cycles"] is not None:
        return int(t["frame_interval_cycles"])
    if t["frame_interval_ms"] is not None:
        return int(math.floor(t["frame_interval_ms"] * 1e3 * ip_clock_mhz(config)))
    return None


# --- hls.reuse_factor: auto -------------------------------------------------------------------------------------------
def _tunable(rows) -> list[dict]:
    return [r for r in rows if r["kind"] in ("conv", "convt", "bn")]


def cycles_at(r: dict, rf: int) -> int:
    if r["kind"] in ("conv", "convt"):  # a fused block's epilogue included (estimator.pixel_ii)
        return layer_cycles(r, rf)
    return r["pixels"] * rf  # bn: one pixel every RF cycles


def rf_choices(r: dict) -> list[int]:
    if r["kind"] == "bn":
        # hls4ml does not validate a BatchNorm RF; its pipeline II is n_in / ceil(n_in / RF), = RF for a divisor of
        # the channel count (and RF > C only slows it down)
        return [d for d in range(1, r["cin"] + 1) if r["cin"] % d == 0]
    return valid_reuse_factors(r["n_in"], r["n_out"])


def assign(rows, target: int) -> dict | None:
    """Largest RF per tunable layer with cycles <= ``target``; None if some layer cannot meet it even at RF 1."""
    out = {}
    for r in rows:
        ok = [rf for rf in rf_choices(r) if cycles_at(r, rf) <= target]
        if not ok:
            return None
        out[r["name"]] = max(ok)
    return out


def tunable_layers(config, model) -> list[dict]:
    """Per tunable layer: name, kind, n_in / n_out (conv) or channels (bn), pixels -- from the estimator's specs."""
    cfg = copy.deepcopy(config)
    cfg["hls"]["reuse_factor"], cfg["hls"]["reuse_factors"] = 1, {}
    rows, _ = layer_specs(cfg, model)
    out = []
    for r in _tunable(rows):
        g = {"name": r["name"], "kind": r["kind"]}
        if r["kind"] == "bn":
            g.update(cin=r["mults"], pixels=r["cycles"])  # at RF 1: C multipliers, one pixel per cycle
        else:
            g.update(n_in=r["n_in"], n_out=r["n_out"], px_in=r["px_in"], px_out=r.get("px_out", 0))
            if "epilogue" in r:  # a fused conv block: its epilogue's cycles per pixel depend on the RF (pixel_ii)
                g["epilogue"] = {"cycles_per_pixel": r["epilogue"]["cycles_per_pixel"]}
            if "min_ii" in r:
                g["min_ii"] = r["min_ii"]
        out.append(g)
    return out


def with_reuse_factors(config, rfs: dict) -> dict:
    cfg = copy.deepcopy(config)
    explicit = dict(config["hls"].get("reuse_factors") or {})
    cfg["hls"]["reuse_factor"] = 1
    cfg["hls"]["reuse_factors"] = {**rfs, **explicit}  # the user's per-layer RFs win
    return cfg


def _fits_at(config, model, rfs, bud, fit_at: str) -> tuple[bool, dict]:
    res = estimate(with_reuse_factors(config, rfs), model=model)
    j = judge(res["totals"], bud, upper_factors())
    return (j["fits_nominal"] if fit_at == "nominal" else j["fits_upper"]), res


def _fastest_fitting(config, model, rows, bud, progress=None) -> tuple[int, dict, list]:
    """Smallest achievable interval whose design fits (binary search; resources fall as the interval grows)."""
    fit_at = config["target"]["fit_at"]
    cands = sorted({cycles_at(r, rf) for r in rows for rf in rf_choices(r)})
    floor_ = max(min(cycles_at(r, rf) for rf in rf_choices(r)) for r in rows)  # the slowest layer at its fastest
    cands = [c for c in cands if c >= floor_]
    lo, hi, best, trail = 0, len(cands) - 1, None, []
    fits_hi, _ = _fits_at(config, model, assign(rows, cands[hi]), bud, fit_at)
    trail.append({"target_cycles": cands[hi], "fits": fits_hi})
    if not fits_hi:
        raise UserError(f"hls.reuse_factor: auto: even the slowest design (every layer at its largest reuse factor, "
                        f"{cands[hi]:,} cycles/frame) does not fit the IP's share of USER_PRJ0 (budget minus our "
                        f"wrapper) {_fmt(bud['available'])} at the {fit_at} estimate; use a narrower model "
                        f"(model.width_multiplier) or fewer bits")
    best = hi
    hi -= 1
    while lo <= hi:
        mid = (lo + hi) // 2
        ok, _ = _fits_at(config, model, assign(rows, cands[mid]), bud, fit_at)
        trail.append({"target_cycles": cands[mid], "fits": ok})
        if progress:
            progress(len(trail))
        if ok:
            best, hi = mid, mid - 1
        else:
            lo = mid + 1
    return cands[best], assign(rows, cands[best]), trail


def _fmt(d: dict) -> str:
    return ", ".join(f"{k} {v:,.0f}" for k, v in d.items())


def _key(config) -> str:
    keep = {k: config[k] for k in ("model", "quant", "hls", "target")}
    return json.dumps(keep, sort_keys=True, default=str)


def resolve_reuse_factors(config, model=None) -> dict:
    """``hls.reuse_factor: auto`` -> ``{"reuse_factors": {layer: rf}, "target_cycles": T, "how": ...}`` (see the
    module docstring). Deterministic in the config; the layer geometry comes from the untrained model."""
    if config["hls"]["reuse_factor"] != AUTO:
        raise ValueError("resolve_reuse_factors needs hls.reuse_factor: auto")
    if model is None:
        return copy.deepcopy(_resolve_cached(_key(config)))
    return _resolve(config, model)


@lru_cache(maxsize=8)
def _resolve_cached(key: str) -> dict:
    return _resolve(json.loads(key), None)


def _resolve(config, model) -> dict:
    if model is None:
        import keras_model  # noqa: F401  (QKeras compat first)
        from keras_model.model import build_model

        model = build_model(config, quantized=config["model"].get("variant", "w5a8") == "w5a8")
    rows = tunable_layers(config, model)
    explicit = config["hls"].get("reuse_factors") or {}
    rows = [r for r in rows if r["name"] not in explicit]
    want = target_cycles(config)
    bud = budget(config)
    if want is not None:
        rfs = assign(rows, want)
        if rfs is None:
            slow = max(rows, key=lambda r: min(cycles_at(r, rf) for rf in rf_choices(r)))
            best = min(cycles_at(slow, rf) for rf in rf_choices(slow))
            raise UserError(f"target.frame_interval: {want:,} cycles/frame at {ip_clock_mhz(config):g} MHz cannot be "
                            f"met: layer '{slow['name']}' needs at least {best:,} cycles even at reuse factor 1")
        return {"reuse_factors": rfs, "target_cycles": want, "how": "frame-interval target from the config",
                "search": []}
    t, rfs, trail = _fastest_fitting(config, model, rows, bud)
    return {"reuse_factors": rfs, "target_cycles": t, "search": trail,
            "how": f"fastest interval that fits USER_PRJ0's budget at the {config['target']['fit_at']} estimate "
                   f"(binary search, {len(trail)} estimates)"}


def resolved_config(config, model=None, bindings: bool = True) -> tuple[dict, dict | None]:
    """``config`` as it is converted: ``hls.reuse_factor: auto`` replaced by explicit per-layer RFs (model-level RF
    1), then (``bindings``) ``hls.multiplier_binding: auto`` by explicit per-layer bindings (:func:`resolve_bindings`,
    at those RFs); and the RF resolution record (None for a numeric RF). Unchanged when neither is 'auto'."""
    info = None
    if config["hls"]["reuse_factor"] == AUTO:
        info = resolve_reuse_factors(config, model)
        config = with_reuse_factors(config, info["reuse_factors"])
    if bindings and config["hls"].get("multiplier_binding") == AUTO:
        config = with_bindings(config, resolve_bindings(config, model))
    return config, info


# --- hls.multiplier_binding: auto -------------------------------------------------------------------------------------
def resolve_bindings(config, model=None) -> dict:
    """``hls.multiplier_binding: auto`` -> ``{layer: 'dsp' | 'lut'}`` for every conv / convT layer: the estimator's
    greedy choice (:func:`pipeline.hw.estimator.assign_bindings`: most LUTs saved per DSP first, within USER_PRJ0's
    DSP budget) at the config's (numeric or already resolved) reuse factors. Deterministic in the config."""
    if config["hls"].get("multiplier_binding") != AUTO:
        raise ValueError("resolve_bindings needs hls.multiplier_binding: auto")
    if config["hls"]["reuse_factor"] == AUTO:
        config = with_reuse_factors(config, resolve_reuse_factors(config, model)["reuse_factors"])
    if model is None:
        return dict(_bindings_cached(_key(config)))
    return _resolve_bindings(config, model)


@lru_cache(maxsize=8)
def _bindings_cached(key: str) -> tuple:
    return tuple(_resolve_bindings(json.loads(key), None).items())


def _resolve_bindings(config, model) -> dict:
    from .estimator import apply_bindings

    rows, _ = layer_specs(config, model)
    return apply_bindings(config, rows)[1]


def with_bindings(config, bindings: dict) -> dict:
    """``config`` with explicit per-layer bindings (the user's own ``hls.multiplier_bindings`` win) and the model-level
    mode 'lut' for any layer not named (none of the conv / convT layers is left out)."""
    cfg = copy.deepcopy(config)
    explicit = dict(config["hls"].get("multiplier_bindings") or {})
    cfg["hls"]["multiplier_binding"] = "lut"
    cfg["hls"]["multiplier_bindings"] = dict(sorted({**bindings, **explicit}.items()))
    return cfg


# --- the estimate judged against USER_PRJ0 ----------------------------------------------------------------------------
def assess(config, model=None) -> dict:
    """:func:`pipeline.hw.estimator.estimate` of the build as it will be converted (``auto`` RFs resolved), plus
    ``budget`` (USER_PRJ0's share), ``fit`` (nominal / upper error bound), ``timing`` (IP clock and bus clock) and
    ``reuse`` (how the RFs were chosen). ``fits`` is judged against USER_PRJ0's budget at the nominal estimate;
    ``fits_part`` against the whole part."""
    cfg, auto = resolved_config(config, model)
    res = estimate(cfg, model=model)
    mode = config["hls"].get("multiplier_binding")
    res["multiplier_binding"] = {
        **res["multiplier_binding"], "mode": mode,
        "dsp_budget": round(dsp_budget_for(config), 1) if mode == AUTO else None,
        "dsp_layers": sorted(n for n, b in res["multiplier_binding"]["bindings"].items() if b == "dsp"),
        "how": ("greedy: most LUTs saved per DSP first, within USER_PRJ0's DSP budget, at the chosen reuse factors "
                "(the reuse-factor search estimates every candidate with its own auto bindings)") if mode == AUTO
        else "from the config"}
    bud = budget(config)
    res["fits_part"] = res["fits"]
    res["budget"] = bud
    res["fit"] = judge(res["totals"], bud, upper_factors())
    res["fit"]["upper_factors"] = upper_factors()
    res["fits"] = res["fit"]["fits_nominal"]
    tm = res["timing"] = timing(config, res["interval_cycles"], res.get("latency_cycles"))
    # every frame time of the result at the clock the IP runs at (the estimator's own are at the HLS clock)
    res["at_hls_clock"] = {k: res[k] for k in ("interval_ms", "latency_ms", "fps")}
    res["interval_ms"], res["latency_ms"] = tm["interval_ms"], tm["latency_ms"]
    res["fps"] = 1e3 / tm["interval_ms"]
    res["ip_clock_mhz"] = tm["ip_clock_mhz"]
    rfs = {r["name"]: r["rf"] for r in res["layers"] if r["kind"] in ("conv", "convt", "bn")}
    res["reuse"] = {"mode": "auto" if auto else "config", "reuse_factors": rfs,
                    **({k: auto[k] for k in ("target_cycles", "how", "search")} if auto else {})}
    return res
