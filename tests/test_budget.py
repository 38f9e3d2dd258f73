"""FSIC's USER_PRJ0 budget, the clocks the IP runs at, and ``hls.reuse_factor: auto`` (issue #13).

Independent references: the FSIC platform's area and clocks from the shared design note
(``../shared/design/fsic_user_project.md``: 53,200 LUT / 106,400 FF / 140 BRAM36 / 220 DSP on the xc7z020, the platform
~14.2k LUT / ~14.8k FF / 6.5 BRAM36 / 0 DSP, 5 MHz bus; 3,072 + 683 words per frame from the issue), hls4ml's own
``get_valid_reuse_factors`` for the RFs, and cycle counts computed here from the Keras layers' shapes (a 'same' k x k
conv reads (H+k-1)(W+k-1) padded pixels at II=RF; a stride-2 transposed conv reads H*W and writes 4*H*W pixels at
II=RF; a BatchNorm takes RF cycles per pixel).
"""
import json
import math
import os
import subprocess
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402
import yaml  # noqa: E402

from pipeline.config import load_config, validate  # noqa: E402
from pipeline.errors import ConfigError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TINY = {"model": {"input_shape": [16, 16, 3], "base_filters": 2, "depth": 2}}


def _tiny(**sections):
    d = json.loads(json.dumps(TINY))
    for k, v in sections.items():
        d.setdefault(k, {}).update(v)
    return validate(d)


# --- budget, fit, clocks ----------------------------------------------------------------------------------------------
def test_default_budget_is_the_part_minus_fsic_platform():
    from pipeline.hw.budget import budget

    b = budget(load_config(ROOT / "hls4ml_configs" / "default.yaml"))
    assert b["user_prj0"] == {"LUT": 53200 - 14200, "FF": 106400 - 14800, "BRAM36": 140 - 6.5, "DSP": 220}
    # the IP's share: USER_PRJ0 minus our wrapper (argmax head: 1,618 LUT / 709 FF / 3 BRAM36 by yosys, BENCHMARKS.md)
    assert b["available"] == {"LUT": 39000 - 1618, "FF": 91600 - 709, "BRAM36": 133.5 - 3, "DSP": 220}
    assert "FSIC" in b["source"] and "wrapper" in b["source"]
    routable = budget(_tiny(target={"max_utilization": 0.8}))
    assert routable["user_prj0"]["LUT"] == pytest.approx(0.8 * 53200 - 14200)  # "about 28k LUT" in the design note
    assert routable["available"]["LUT"] == pytest.approx(0.8 * 53200 - 14200 - routable["wrapper"]["LUT"])


def test_upper_bound_factor_is_the_worst_underestimate_of_the_calibration():
    """An estimate that was 77 % low means the truth was 4.4x the estimate: the bound is nominal x max(reported /
    estimate) over the calibration's leave-one-out Vivado predictions, recomputed here from the per-point table."""
    from pipeline.hw.budget import upper_factors
    from pipeline.hw.estimator import CALIBRATION_FILE

    cal = json.loads(CALIBRATION_FILE.read_text())
    f = upper_factors()
    for k in ("LUT", "FF", "BRAM36", "DSP"):
        ratios = [p["reported"]["vivado"][k] / max(p["estimate"]["vivado"][k], 1) for p in cal["points"]
                  if (p.get("reported") or {}).get("vivado", {}).get(k) is not None]
        assert len(ratios) >= 5 and f[k] == pytest.approx(max(1.0, max(ratios)), rel=2e-3), k


def test_fit_at_nominal_and_upper_bound():
    from pipeline.hw.budget import judge

    bud = {"available": {"LUT": 1000, "FF": 1000, "BRAM36": 10, "DSP": 10}}
    err = {"LUT": 1.5, "FF": 1.5, "BRAM36": 1.5, "DSP": 1.5}  # upper bound = 1.5 x nominal
    both = judge({"LUT": 600, "FF": 100, "BRAM36": 1, "DSP": 0}, bud, err)  # 600 * 1.5 = 900 <= 1000
    nominal = judge({"LUT": 800, "FF": 100, "BRAM36": 1, "DSP": 0}, bud, err)  # 800 * 1.5 = 1200 > 1000
    none = judge({"LUT": 100, "FF": 100, "BRAM36": 11, "DSP": 0}, bud, err)
    assert (both["fits_nominal"], both["fits_upper"]) == (True, True)
    assert (nominal["fits_nominal"], nominal["fits_upper"]) == (True, False) and nominal["limiting"] == "LUT"
    assert (none["fits_nominal"], none["fits_upper"]) == (False, False) and none["limiting"] == "BRAM36"
    assert nominal["upper"]["LUT"] == 1200 and nominal["use_of_budget"]["LUT"] == 0.8


def test_frame_time_at_the_ip_clock_and_bus_time_at_the_bus_clock():
    from pipeline.hw.budget import timing

    cfg = load_config(ROOT / "hls4ml_configs" / "default.yaml")
    t = timing(cfg, 100_000, 150_000)
    assert t["stream_words"] == {"in": 3072, "out": 683}  # 64*64*3 bytes / 4; 4096 5-bit classes, 6 per word
    assert t["ip_clock"] == "axis_clk" and t["ip_clock_mhz"] == 5.0 and t["bus_clock_mhz"] == 5.0
    assert t["interval_ms"] == pytest.approx(100_000 / 5e6 * 1e3)  # 20 ms at 5 MHz, not 1 ms at 100 MHz
    assert t["latency_ms"] == pytest.approx(30.0)
    assert t["bus_ms"] == pytest.approx((3072 + 683) / 5e6 * 1e3)
    logits = timing(_tiny(hls={"output_head": "logits"}), 10, None)
    assert logits["stream_words"] == {"in": 16 * 16 * 3 // 4, "out": 16 * 16 * 21 // 4}


def test_user_clock2_is_accepted():
    """issue #15 item 5: the two-clock wrapper exists, so target.ip_clock 'user_clock2' is accepted and the frame
    time is given at user_clock2_mhz (the stream time stays at the bus clock)."""
    from pipeline.hw.budget import timing

    t = timing(_tiny(target={"ip_clock": "user_clock2", "user_clock2_mhz": 100}), 100_000, None)
    assert t["ip_clock"] == "user_clock2" and t["ip_clock_mhz"] == 100.0 and t["bus_clock_mhz"] == 5.0
    assert t["interval_ms"] == pytest.approx(1.0)


@pytest.mark.parametrize("section,value,needle", [
    ({"target": {"reserved": {"LUT": 60000}}}, None, "target.reserved.LUT: 60000 leaves nothing for the IP"),
    ({"target": {"max_utilization": 0.2}}, None, "target.reserved.LUT"),
    ({"target": {"frame_interval_ms": 5, "frame_interval_cycles": 100}}, None, "target.frame_interval_cycles"),
    ({"target": {"ip_clock": "user_clock2", "user_clock2_mhz": 200}}, None,
     "target.user_clock2_mhz: the IP would run at 200 MHz"),
    ({"target": {"bus_clock_mhz": 200}}, None, "target.bus_clock_mhz: the IP would run at 200 MHz"),
    ({"hls": {"reuse_factor": "fast"}}, None, "hls.reuse_factor: expected an integer >= 1 or 'auto'"),
    ({"hls": {"part": "xc7a35t"}}, None, "hls.part: unknown FPGA part"),
])
def test_bad_target_is_one_line(section, value, needle):
    with pytest.raises(ConfigError) as e:
        _tiny(**section)
    assert needle in str(e.value) and "\n" not in str(e.value)


# --- hls.reuse_factor: auto -------------------------------------------------------------------------------------------
def _tunable_layers(cfg):
    """(name, kind, n_in, n_out, cycles(rf)) per conv / convT / BN process of the Keras model, computed from its
    shapes. With ``hls.fuse_conv_blocks`` (Strategy Resource) a conv followed by a BatchNorm is one process whose
    pixel loop spends RF cycles on the conv, then its epilogue's ceil(Cout / n_mult) multiplies (n_mult =
    ceil(Cout / RF), the kernel's ALLOCATION limit) + 2 cycles; its BatchNorm is no process of its own."""
    import keras_model  # noqa: F401
    from keras_model.model import build_model

    fuse = cfg["hls"]["fuse_conv_blocks"]

    def epi(rf, cout):
        return math.ceil(cout / math.ceil(cout / rf)) + 2

    out = []
    for lay in build_model(cfg, quantized=True).layers:
        cls = lay.__class__.__name__
        nxt = lay.outbound_nodes[0].outbound_layer.__class__.__name__ if len(lay.outbound_nodes) == 1 else None
        if cls == "QConv2D":
            _, h, w, cin = lay.input.shape
            k = lay.kernel_size[0]
            pad = k - 1 if lay.padding == "same" else 0
            e = fuse and nxt == "FxpBatchNorm"
            out.append((lay.name, "conv", k * k * cin, lay.filters,
                        lambda rf, h=h, w=w, p=pad, e=e, c=lay.filters: (h + p) * (w + p) * (rf + (epi(rf, c) if e
                                                                                                   else 0))))
        elif cls == "QConv2DTranspose":
            _, h, w, cin = lay.input.shape
            taps = math.ceil(lay.kernel_size[0] / lay.strides[0]) ** 2
            out.append((lay.name, "convt", taps * cin, lay.filters, lambda rf, h=h, w=w: h * w + 4 * h * w * rf))
        elif cls == "FxpBatchNorm" and not fuse:
            _, h, w, c = lay.input.shape
            out.append((lay.name, "bn", c, c, lambda rf, h=h, w=w: h * w * rf))
    return out


@pytest.mark.parametrize("fuse", [False, True])
def test_auto_rfs_are_valid_meet_the_target_and_are_the_largest_that_do(fuse):
    from hls4ml.backends import get_backend

    from pipeline.hw.budget import resolve_reuse_factors

    target = 2500
    cfg = _tiny(hls={"reuse_factor": "auto", "fuse_conv_blocks": fuse}, target={"frame_interval_cycles": target})
    got = resolve_reuse_factors(cfg)
    assert got["target_cycles"] == target
    rfs, backend = got["reuse_factors"], get_backend("Vitis")
    layers = _tunable_layers(cfg)
    assert set(rfs) == {name for name, *_ in layers}
    for name, kind, n_in, n_out, cycles in layers:
        rf = rfs[name]
        assert cycles(rf) <= target, (name, rf, cycles(rf))
        if kind == "bn":
            valid = [d for d in range(1, n_in + 1) if n_in % d == 0]
        else:
            valid = backend.get_valid_reuse_factors(n_in, n_out)
        assert rf in valid, (name, rf)
        larger = [v for v in valid if v > rf]
        assert not larger or cycles(min(larger)) > target, (name, rf, min(larger))
    # balanced: no conv is much faster than the target (within its next valid step)
    assert max(c(rfs[n]) for n, _, _, _, c in layers) <= target


def test_auto_without_target_is_the_fastest_design_that_fits():
    import keras_model  # noqa: F401
    from keras_model.model import build_model
    from pipeline.hw.budget import (
        assess,
        assign,
        budget,
        cycles_at,
        judge,
        resolve_reuse_factors,
        tunable_layers,
        upper_factors,
        with_reuse_factors,
    )
    from pipeline.hw.estimator import estimate

    probe = _tiny(hls={"reuse_factor": "auto"})
    model = build_model(probe, quantized=True)
    rows = tunable_layers(probe, model)
    cands = sorted({cycles_at(r, rf) for r in rows for rf in _valid(r)})
    feasible = [c for c in cands if assign(rows, c)]

    def lut(c):
        return estimate(with_reuse_factors(probe, assign(rows, c)), model=model)["totals"]["LUT"]

    slow, fast = lut(feasible[-1]), lut(feasible[0])
    assert fast > slow * 1.2, "the tiny design's LUTs do not depend on the RFs: nothing to search"
    # a LUT budget between the slowest and the fastest design: auto must land in between
    cfg = _tiny(hls={"reuse_factor": "auto"}, target={"reserved": {"LUT": round(53200 - (slow + fast) / 2)}})
    got = resolve_reuse_factors(cfg)
    res = assess(cfg)
    assert res["fits"] and res["fit"]["fits_nominal"] and res["reuse"]["mode"] == "auto"
    assert feasible[0] < got["target_cycles"] < feasible[-1]
    assert res["interval_cycles"] <= got["target_cycles"]
    faster = [c for c in feasible if c < got["target_cycles"]]
    prev = estimate(with_reuse_factors(cfg, assign(rows, faster[-1])), model=model)
    assert not judge(prev["totals"], budget(cfg), upper_factors())["fits_nominal"]


def _valid(r):
    from pipeline.hw.budget import rf_choices

    return set(rf_choices(r))


def test_impossible_target_is_one_line():
    from pipeline.errors import UserError
    from pipeline.hw.budget import resolve_reuse_factors

    cfg = _tiny(hls={"reuse_factor": "auto"}, target={"frame_interval_cycles": 10})
    with pytest.raises(UserError, match=r"target.frame_interval: 10 cycles/frame at 5 MHz cannot be met: layer"):
        resolve_reuse_factors(cfg)


# --- through the CLI --------------------------------------------------------------------------------------------------
def _run(*args):
    from _support import cli_command

    cmd = cli_command()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(cmd + [str(a) for a in args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=900)


def _write(tmp_path, d):
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(d))
    return p


@pytest.mark.parametrize("extra,needle", [
    ({"hls": {"reuse_factor": "auto"}, "target": {"frame_interval_cycles": 10}}, "cannot be met"),
    ({"target": {"reserved": {"BRAM36": 500}}}, "target.reserved.BRAM36"),
    ({"hls": {"part": "xcku115-flvb2104-2-e"}}, "hls.part: unknown FPGA part"),
])
def test_cli_bad_budget_input_one_line_exit_2_nothing_written(tmp_path, extra, needle):
    d = {"build_dir": str(tmp_path / "b"), **json.loads(json.dumps(TINY)), **extra}
    r = _run("estimate", _write(tmp_path, d))
    assert r.returncode == 2, (r.stdout[-2000:], r.stderr[-2000:])
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("unet-fsic: error: ") and needle in lines[0], r.stderr
    assert not (tmp_path / "b" / "estimate").exists()
    assert not list((tmp_path / "b").rglob("*.json")) if (tmp_path / "b").exists() else True


def test_cli_estimate_default_config_fits_user_prj0(tmp_path):
    """``unet-fsic estimate hls4ml_configs/default.yaml`` on a fresh build dir (issue #13: what it must show)."""
    cfg = yaml.safe_load((ROOT / "hls4ml_configs" / "default.yaml").read_text())
    cfg["build_dir"] = str(tmp_path / "b")
    r = _run("estimate", _write(tmp_path, cfg))
    assert r.returncode == 0, r.stderr[-3000:]
    es = json.loads((tmp_path / "b" / "estimate" / "estimate.json").read_text())
    assert es["budget"]["user_prj0"] == {"LUT": 39000, "FF": 91600, "BRAM36": 133.5, "DSP": 220}
    assert es["budget"]["available"] == {"LUT": 39000 - 1618, "FF": 91600 - 709, "BRAM36": 133.5 - 3, "DSP": 220}
    assert es["fits"] is True and es["fit"]["fits_nominal"] is True
    assert all(es["totals"][k] <= es["budget"]["available"][k] for k in ("LUT", "FF", "BRAM36", "DSP"))
    tm = es["timing"]
    assert tm["ip_clock_mhz"] == 5.0 and tm["interval_ms"] == pytest.approx(es["interval_cycles"] / 5e3)
    assert tm["bus_clock_mhz"] == 5.0 and tm["bus_ms"] == pytest.approx(3755 / 5e3)
    e = es["expected_error"]
    assert e["points"] >= 6 and all(0 < e[k] < 5 for k in ("LUT", "FF", "BRAM36", "DSP", "cycles"))
    assert es["reuse"]["mode"] == "auto"
    assert "USER_PRJ0" in (tmp_path / "b" / "estimate" / "estimate.md").read_text()


@pytest.mark.parametrize("head", ["argmax", "logits"])
def test_wrapper_share_is_what_yosys_synthesizes(tmp_path, head):
    """The wrapper's share of USER_PRJ0 (``budget.FSIC_WRAPPER``, subtracted from the IP's budget) is the yosys
    synth_xilinx result of the wrapper as generated today (IP a black box): a wrapper change must update the table."""
    import importlib.util

    from _support import require_tools

    from pipeline.hw.budget import FSIC_WRAPPER

    require_tools("yosys")
    spec = importlib.util.spec_from_file_location("bench_wrapper_synth", ROOT / "bench" / "bench_wrapper_synth.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    r = mod.synth({"output_mode": head}, "xilinx", tmp_path)
    got = {"LUT": r["lut"], "FF": r["ff"], "BRAM36": r.get("bram36", 0), "DSP": r["cells"].get("DSP48E1", 0)}
    assert got == FSIC_WRAPPER[head]
