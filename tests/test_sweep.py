"""Sweeps on a Dask LocalCluster with 2 workers over a tiny U-Net (hls4ml_configs/sweep_tiny.yaml: width x frame_ms
plus an infeasible point): spec validation (incl. the frame_ms axis), the fit classes against an independently
computed USER_PRJ0 budget (part capacity from pipeline/hw/parts.py minus the config's reserve), the Pareto front within
budget on hand-made records, the table and plot rendering, a full sweep with outputs, and resume after a killed worker
(no recomputation on re-run). ~3-4 min on 2 cores."""
import copy
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.errors import ConfigError, UserError
from pipeline.stages import sweep

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "hls4ml_configs" / "sweep_tiny.yaml"


def test_spec_errors(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text(f"base_config: {ROOT}/hls4ml_configs/default.yaml\nbuild_dir: x\naxes: {{weight_bitz: [4]}}\n")
    with pytest.raises(ConfigError, match=r"axes.weight_bitz: unknown axis"):
        sweep.load_spec(p)
    p.write_text(f"base_config: {ROOT}/hls4ml_configs/default.yaml\nbuild_dir: x\naxes: {{weight_bits: [1]}}\n")
    with pytest.raises(ConfigError, match=r"quant.weight_bits"):
        sweep.load_spec(p)


@pytest.mark.parametrize("body, msg", [
    ("axes: {frame_ms: [fastest, slow]}", "axes.frame_ms: expected 'fastest', null or a frame-interval target in ms "
                                          "at the IP clock in (0, 1e+06], got 'slow'"),
    ("axes: {frame_ms: [0]}", "axes.frame_ms: expected 'fastest'"),
    ("axes: {frame_ms: [-5]}", "axes.frame_ms: expected 'fastest'"),
    ("axes: {frame_ms: [true]}", "axes.frame_ms: expected 'fastest'"),
    ("axes: {frame_ms: [.inf]}", "axes.frame_ms: expected 'fastest'"),
    ("axes: {frame_ms: [2000000]}", "axes.frame_ms: expected 'fastest'"),
    ("axes: {frame_ms: 100}", "axes.frame_ms: expected a non-empty list, got 100"),
    ("axes: {frame_ms: [100], reuse: [8]}", "axes.frame_ms: frame_ms and reuse both choose the reuse factors"),
    ("points: [{frame_ms: [1, 2]}]", "points[0].frame_ms: expected 'fastest'"),
    ("points: [{frame_ms: 100, reuse: 8}]", "points[0].frame_ms: frame_ms and reuse both choose the reuse factors"),
])
def test_frame_ms_spec_errors_are_one_line_naming_the_key(tmp_path, body, msg):
    p = tmp_path / "s.yaml"
    p.write_text(f"base_config: {ROOT}/hls4ml_configs/default.yaml\nbuild_dir: x\n{body}\n")
    with pytest.raises(ConfigError) as ei:
        sweep.load_spec(p)
    assert str(ei.value).startswith(f"{p}: {msg}") and "\n" not in str(ei.value)


def test_frame_ms_axis_expansion():
    """width x frame_ms (+ the explicit infeasible point): frame_ms sets hls.reuse_factor auto (the base config's RF 4
    and any per-layer RFs replaced) and target.frame_interval_ms ('fastest' = null); frame_ms points of one width share
    one float and one QAT training, widths do not."""
    spec = sweep.load_spec(SPEC)
    pts = sweep.expand(spec)
    assert pts == [{"width_multiplier": 0.5, "frame_ms": "fastest"}, {"width_multiplier": 0.5, "frame_ms": 5},
                   {"width_multiplier": 1.0, "frame_ms": "fastest"}, {"width_multiplier": 1.0, "frame_ms": 5},
                   {"width_multiplier": 1.0, "frame_ms": 0.01}]
    cfgs = [sweep.resolve_point(spec, p)[0] for p in pts]
    for p, c in zip(pts, cfgs):
        assert c["hls"]["reuse_factor"] == "auto" and c["hls"]["reuse_factors"] == {}
        assert c["target"]["frame_interval_ms"] == (None if p["frame_ms"] == "fastest" else p["frame_ms"])
        assert c["target"]["frame_interval_cycles"] is None
        assert c["model"]["width_multiplier"] == p["width_multiplier"]
    assert len({sweep.qat_key(c) for c in cfgs}) == 2 and len({sweep.float_key(c) for c in cfgs}) == 2
    assert sweep.qat_key(cfgs[2]) == sweep.qat_key(cfgs[3]) == sweep.qat_key(cfgs[4]) != sweep.qat_key(cfgs[0])
    spec2 = copy.deepcopy(spec)
    spec2["overrides"] = {**spec["overrides"], "hls": {"reuse_factor": 4, "reuse_factors": {"enc1_conv1": 8}},
                          "target": {"frame_interval_cycles": 1000}}
    c = sweep.resolve_point(spec2, {"frame_ms": None})[0]
    assert (c["hls"]["reuse_factor"], c["hls"]["reuse_factors"]) == ("auto", {})
    assert (c["target"]["frame_interval_ms"], c["target"]["frame_interval_cycles"]) == (None, None)
    c = sweep.resolve_point(spec2, {"reuse": 2})[0]  # an RF for the whole model drops the per-layer ones too
    assert (c["hls"]["reuse_factor"], c["hls"]["reuse_factors"]) == (2, {})


def test_keys_stable_and_distinct():
    spec = sweep.load_spec(SPEC)
    keys = [sweep.resolve_point(spec, p)[1] for p in sweep.expand(spec)]
    assert len(set(keys)) == 5
    assert keys == [sweep.resolve_point(spec, p)[1] for p in sweep.expand(spec)]


def _independent_budget(cfg) -> dict:
    """The IP's share of USER_PRJ0 computed here: the part's capacity (pipeline/hw/parts.py) x max_utilization minus
    the config's reserve minus our wrapper (the yosys table, which tests/test_budget.py re-synthesizes) -- not
    pipeline.hw.budget's arithmetic."""
    from pipeline.hw.parts import PARTS
    from pipeline.hw.share import FSIC_WRAPPER

    cap = next(v for k, v in PARTS.items() if cfg["hls"]["part"].lower().startswith(k))
    t, w = cfg["target"], FSIC_WRAPPER[cfg["hls"]["output_head"]]
    return {k: cap[k] * t["max_utilization"] - t["reserved"][k] - w[k] for k in ("LUT", "FF", "BRAM36", "DSP")}


def _expected_class(hw, avail) -> str:
    res = ("LUT", "FF", "BRAM36", "DSP")
    if not all(hw[k] <= avail[k] for k in res):
        return "does not fit"
    up = all(hw[k] * hw["upper_factors"][k] <= avail[k] for k in res)
    return "fits at the upper bound" if up else "fits nominal only"


def test_fit_classes_against_an_independent_budget():
    """The hardware record of a point (pipeline.hw.budget.assess through sweep.hardware) on the tiny model at a 5 ms
    target, judged with three reserves: the default (fits at the upper bound), one leaving the LUT budget between the
    nominal estimate and its upper bound (nominal x the calibration's upper factor), one leaving less than the nominal
    estimate. Budget, fits and class are checked
    against the independent computation; an unmeetable target is an infeasible UserError, one line."""
    import keras_model  # noqa: F401
    from keras_model.model import build_model

    spec = sweep.load_spec(SPEC)
    cfg = sweep.resolve_point(spec, {"width_multiplier": 1.0, "frame_ms": 5})[0]
    model = build_model(cfg, quantized=True)
    hw0, reuse, cfg_hw = sweep.hardware(spec, cfg, model)
    assert reuse["mode"] == "auto" and reuse["target_cycles"] == 5 * 5000  # 5 ms at the 5 MHz bus clock
    assert cfg_hw["hls"]["reuse_factors"] == reuse["reuse_factors"] and cfg_hw["hls"]["reuse_factor"] == 1
    from pipeline.hw.budget import upper_factors

    assert hw0["upper_factors"] == upper_factors() and all(f >= 1 for f in hw0["upper_factors"].values())
    lut, fac = hw0["LUT"], hw0["upper_factors"]["LUT"]
    assert hw0["ip_clock_mhz"] == 5.0 and hw0["interval_ms"] == pytest.approx(hw0["interval_cycles"] / 5e3)
    assert hw0["interval_ms"] <= 5 and hw0["provenance"].startswith("estimate")
    from pipeline.hw.share import FSIC_WRAPPER

    cap_lut = 53200 - FSIC_WRAPPER[cfg["hls"]["output_head"]]["LUT"]  # what the reserve and our wrapper share
    seen = set()
    for reserved_lut in (None, cap_lut - int(lut * (1 + fac) / 2), cap_lut - int(lut * 0.9)):
        s2 = copy.deepcopy(spec)
        if reserved_lut is not None:
            s2["overrides"] = {**spec["overrides"], "target": {"reserved": {"LUT": reserved_lut}}}
        c2 = sweep.resolve_point(s2, {"width_multiplier": 1.0, "frame_ms": 5})[0]
        hw = sweep.hardware(s2, c2, model)[0]
        avail = _independent_budget(c2)
        assert hw["budget"] == pytest.approx(avail, abs=0.05)
        assert hw["fits_nominal"] == all(hw[k] <= avail[k] for k in avail)
        assert hw["use_of_budget"]["LUT"] == pytest.approx(hw["LUT"] / avail["LUT"], rel=1e-3)
        cls = sweep.fit_class({"hw": hw})
        assert cls == _expected_class(hw, avail)
        seen.add(cls)
    assert seen == {"fits at the upper bound", "fits nominal only", "does not fit"}
    bad = sweep.resolve_point(spec, {"width_multiplier": 1.0, "frame_ms": 0.01})[0]
    with pytest.raises(UserError, match=r"50 cycles/frame at 5 MHz cannot be met: layer '\w+' needs at least") as ei:
        sweep.hardware(spec, bad, model)
    assert "\n" not in str(ei.value)


def _rec(key, lut, ms, miou, cls="upper", width=1.0, wb=5, ab=8, frame=None, bram=10, csim=None):
    """A hand-made sweep record (the fields the reports read)."""
    cfg = {"width_multiplier": width, "weight_bits": wb, "act_bits": ab, "reuse_factor": "auto", "reuse_factors": {},
           "output_head": "argmax", "fold_batchnorm": False, "frame_interval_ms": frame, "frame_interval_cycles": None}
    r = {"key": key, "point": {}, "config": cfg, "keras": {"miou": miou, "pixel_accuracy": 0.9, "frames": 128},
         "timings": {"total_s": 10.0}, "reuse": {"mode": "auto", "target_cycles": int(ms * 5000)}}
    if cls == "infeasible":
        return {**r, "hw": None, "infeasible": "target.frame_interval: 5 cycles/frame at 5 MHz cannot be met"}
    avail = {"LUT": 39000, "FF": 91600, "BRAM36": 133.5, "DSP": 220}
    tot = {"LUT": lut, "FF": lut, "BRAM36": bram, "DSP": 0}
    r["hw"] = {"provenance": "estimate (hand-made)", **tot, "budget": avail, "part": "xc7z020clg400-1",
               "expected_error": {"LUT": 0.5, "FF": 0.5, "BRAM36": 0.35, "DSP": 0.25, "cycles": 0.15},
               "upper_factors": {"LUT": 1.5, "FF": 1.5, "BRAM36": 1.35, "DSP": 1.25},
               "fits_nominal": cls in ("upper", "nominal"), "fits_upper": cls == "upper",
               "use_of_budget": {k: tot[k] / avail[k] for k in avail}, "ip_clock": "axis_clk", "ip_clock_mhz": 5.0,
               "interval_cycles": int(ms * 5000), "interval_ms": ms, "bus_ms": 0.751}
    if csim:
        r["csim"] = {"miou": csim, "keras_miou": miou, "frames": 8, "logits_bit_exact_fraction": 1.0}
    return r


def test_pareto_front_within_budget_known_answer():
    recs = [_rec("a", 10000, 100, 0.50), _rec("b", 20000, 50, 0.50), _rec("c", 20000, 100, 0.50),  # c: by a and b
            _rec("d", 30000, 400, 0.60, cls="nominal"), _rec("e", 30000, 400, 0.60),  # d = e: both kept
            _rec("f", 5000, 10, 0.90, cls="no"),  # would dominate everything, but does not fit
            _rec("g", 1, 1, 0.99, cls="infeasible"), _rec("h", 35000, 500, 0.55),  # h: by d / e
            _rec("i", 10000, 100, 0.45)]  # i: by a (equal LUT and time, lower mIoU)
    front = [r["key"] for r in sweep.pareto_within_budget(recs)]
    assert front == ["a", "b", "d", "e"]
    assert sweep.pareto_within_budget([recs[5], recs[6]]) == []
    assert [sweep.fit_class(r) for r in recs[3:7]] == ["fits nominal only", "fits at the upper bound", "does not fit",
                                                       "infeasible"]


def _many_records():
    recs, n = [], 0
    for w in (0.5, 0.75, 1.0):
        for wb in (4, 5, 6):
            for frame, ms in ((None, 20), (100, 94), (400, 369)):
                n += 1
                lut = int(30000 * w * (1 + wb / 10) * (1 + 20 / ms))
                cls = "upper" if lut * 1.5 <= 39000 else ("nominal" if lut <= 39000 else "no")
                recs.append(_rec(f"k{n}", lut, ms, 0.3 + 0.05 * wb + 0.1 * w, cls, w, wb, 8, frame))
    recs.append(_rec("inf", 0, 1, 0.7, "infeasible", 1.0, 5, 6, 0.001))
    recs.append(_rec("csim", 15000, 94, 0.6, "upper", 0.5, 5, 6, 100, csim=0.59))
    return recs


def test_table_and_plot_are_readable(tmp_path):
    """results.md: every point numbered, resources in % of USER_PRJ0's budget, frame ms at the named IP clock, fits at
    nominal / upper, csim beside Keras, infeasible rows and reasons, the Pareto section. pareto.png: four panels, no
    text labels in them (numbers are markers), a figure legend with the fit classes, the key table beside."""
    recs = _many_records()
    md = sweep.to_markdown(recs)
    table = md.split("## Pareto front within budget")[0]
    rows = [ln for ln in table.splitlines() if re.match(r"\| \d+( \*)? \| ", ln)]
    assert len(rows) == len(recs) and [int(r.split()[1]) for r in rows] == list(range(1, len(recs) + 1))
    head = next(ln for ln in table.splitlines() if ln.startswith("| # |"))
    for col in ("width", "W/A", "RF mode / target", "Keras mIoU %", "csim mIoU % (Keras, same frames)",
                "LUT (% budget)", "BRAM36 (% budget)", "DSP (% budget)", "frame ms @ 5 MHz", "fits nominal",
                "fits upper"):
        assert f"| {col} |" in head, col
    assert "| **infeasible** |" in table and "#23 x1 W5A6 auto 0.001 ms: target.frame_interval" in md
    assert "| 59.00 (60.00, n=8) |" in table and "auto 100 ms" in table and "auto fastest" in table
    front = sweep.pareto_within_budget(recs)
    ids = {r["key"]: i for i, r in sweep.numbered(recs)}
    section = md.split("## Pareto front within budget")[1].split("## Infeasible points")[0]
    listed = [int(ln.split("|")[1]) for ln in section.splitlines() if re.match(r"\| \d+ \| ", ln)]
    assert front and listed == [ids[r["key"]] for r in front]  # the same numbers as the table and the plot
    assert sorted(int(r.split()[1]) for r in rows if " * |" in r) == sorted(listed)
    fig = sweep.pareto_figure(recs)
    try:
        panels = [ax for ax in fig.axes if ax.get_xlabel()]
        assert [ax.get_xlabel() for ax in panels] == ["LUT (estimate)", "BRAM36 (estimate)", "DSP (estimate)",
                                                      "frame interval, ms at the IP clock (estimate)"]
        for ax in fig.axes:
            assert len(ax.texts) == 0, list(ax.texts)  # no text labels / annotations anywhere in the axes
        assert len(fig.legends) == 1
        labels = [t.get_text() for t in fig.legends[0].get_texts()]
        assert any("fits at the upper bound" in t for t in labels) and any("does not fit" in t for t in labels)
        tables = [t for ax in fig.axes for t in ax.tables]
        assert len(tables) == 1 and max(r for r, _ in tables[0].get_celld()) == len(recs)
        for ax, avail in zip(panels[:3], (39000, 133.5, 220)):  # the budget as a dashed vertical line
            assert any(ln.get_linestyle() == "--" and list(ln.get_xdata()) == [avail, avail] for ln in ax.get_lines())
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)
    sweep.write_reports(recs, tmp_path)
    assert (tmp_path / "pareto.png").stat().st_size > 20_000 and (tmp_path / "results.md").read_text() == md


def _run_sub(build_dir):
    code = ("import sys; from pipeline.stages import sweep\n"
            "if __name__ == '__main__':\n"
            f"    spec = sweep.load_spec({str(SPEC)!r}); spec['build_dir'] = {str(build_dir)!r}\n"
            "    s = sweep.run(spec, progress=False); print('SUMMARY', __import__('json').dumps(s))\n")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _summary(out):
    line = [ln for ln in out.splitlines() if ln.startswith("SUMMARY ")][-1]
    return json.loads(line[len("SUMMARY "):])


def test_sweep_localcluster_kill_worker_and_resume(tmp_path):
    import psutil

    bd = tmp_path / "sw"
    proc = _run_sub(bd)
    me = psutil.Process(proc.pid)
    res = bd / "results.jsonl"
    killed = None
    t0 = time.time()
    while time.time() - t0 < 240 and proc.poll() is None:  # wait for the first finished point, then kill a worker
        if res.exists() and res.read_text().strip():
            pids = {r["pid"] for r in sweep.read_results(res)}
            workers = [c for c in me.children(recursive=True) if c.pid in pids or "spawn" in " ".join(c.cmdline())]
            busy = [c for c in workers if c.pid not in pids] or workers
            if busy:
                killed = busy[0].pid
                os.kill(killed, signal.SIGKILL)
            break
        time.sleep(0.5)
    out, _ = proc.communicate(timeout=400)
    assert proc.returncode == 0, out[-3000:]
    s1 = _summary(out)
    recs = sweep.read_results(res)
    keys = [r["key"] for r in recs]
    assert len(keys) == len(set(keys))  # each point exactly once
    assert killed is not None
    # with a worker killed, its point is lost from this run at most; Dask retries it on the surviving worker
    assert s1["computed"] + len(s1["failed"]) == 5
    for r in recs:
        assert 0 <= r["keras"]["miou"] <= 1
        if r["point"].get("frame_ms") == 0.01:  # recorded as infeasible, with its reason, not dropped
            assert r["hw"] is None and "cannot be met" in r["infeasible"]
        else:
            assert r["hw"]["LUT"] > 0 and "estimate" in r["hw"]["provenance"] and r["reuse"]["mode"] == "auto"
            assert {"fits_nominal", "fits_upper", "use_of_budget", "interval_ms", "ip_clock_mhz", "bus_ms",
                    "upper_factors", "interval_cycles"} <= set(r["hw"]) and r["reuse"]["reuse_factors"]
    # re-run: finishes the missing points (if any) and recomputes nothing that is already in results.jsonl
    proc2 = _run_sub(bd)
    out2, _ = proc2.communicate(timeout=400)
    s2 = _summary(out2)
    assert s2["skipped"] == len(recs) and s2["computed"] == 5 - len(recs)
    recs2 = sweep.read_results(res)
    assert [r["key"] for r in recs2][: len(recs)] == keys  # old lines untouched
    assert len({r["key"] for r in recs2}) == 5
    proc3 = _run_sub(bd)
    s3 = _summary(proc3.communicate(timeout=400)[0])
    assert s3["computed"] == 0 and s3["skipped"] == 5 and s3["infeasible"] == 1
    assert (bd / "pareto.png").stat().st_size > 10_000
    md = (bd / "results.md").read_text()
    assert "estimate (unet-fsic model" in md and md.count("| W5A8 |") == 5 and md.count("| **infeasible** |") == 1


def test_points_differing_only_in_hls_share_one_qat_training(tmp_path):
    """qat_key ignores hls settings and follows training settings; a second point with another reuse factor copies
    the first point's W5A8 checkpoint (cache hit) instead of retraining, and gets the same Keras accuracy."""
    spec = sweep.load_spec(SPEC)
    spec["build_dir"] = str(tmp_path / "sw")
    a, ka = sweep.resolve_point(spec, {"weight_bits": 4, "act_bits": 8, "reuse": 2})
    b, kb = sweep.resolve_point(spec, {"weight_bits": 4, "act_bits": 8, "reuse": 8})
    c, _ = sweep.resolve_point(spec, {"weight_bits": 5, "act_bits": 8, "reuse": 2})
    assert ka != kb and sweep.qat_key(a) == sweep.qat_key(b) != sweep.qat_key(c)
    fl = sweep.train_float_task(a, str(tmp_path / "sw" / "float" / sweep.float_key(a)))
    ra = sweep.point_task(spec, {"weight_bits": 4, "act_bits": 8, "reuse": 2}, a, ka, fl)
    rb = sweep.point_task(spec, {"weight_bits": 4, "act_bits": 8, "reuse": 8}, b, kb, fl)
    assert ra["qat_cache"] == "miss" and rb["qat_cache"] == "hit"
    assert ra["keras"] == rb["keras"]
    assert ra["hw"]["LUT"] != rb["hw"]["LUT"]  # the hardware side still differs per point
    wa = Path(a["build_dir"]) / "train" / "w5a8_model.h5"
    wb = Path(b["build_dir"]) / "train" / "w5a8_model.h5"
    assert wa.read_bytes() == wb.read_bytes()
