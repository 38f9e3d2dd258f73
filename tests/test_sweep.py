"""Sweeps on a Dask LocalCluster with 2 workers over a tiny U-Net (hls4ml_configs/sweep_tiny.yaml): spec validation,
a full sweep with outputs, and resume after a killed worker (no recomputation on re-run). ~2-3 min on 2 cores."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.errors import ConfigError
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


def test_keys_stable_and_distinct():
    spec = sweep.load_spec(SPEC)
    keys = [sweep.resolve_point(spec, p)[1] for p in sweep.expand(spec)]
    assert len(set(keys)) == 4
    assert keys == [sweep.resolve_point(spec, p)[1] for p in sweep.expand(spec)]


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
    assert s1["computed"] + len(s1["failed"]) == 4
    for r in recs:
        assert 0 <= r["keras"]["miou"] <= 1 and r["hw"]["LUT"] > 0 and "estimate" in r["hw"]["provenance"]
    # re-run: finishes the missing points (if any) and recomputes nothing that is already in results.jsonl
    proc2 = _run_sub(bd)
    out2, _ = proc2.communicate(timeout=400)
    s2 = _summary(out2)
    assert s2["skipped"] == len(recs) and s2["computed"] == 4 - len(recs)
    recs2 = sweep.read_results(res)
    assert [r["key"] for r in recs2][: len(recs)] == keys  # old lines untouched
    assert len({r["key"] for r in recs2}) == 4
    proc3 = _run_sub(bd)
    s3 = _summary(proc3.communicate(timeout=400)[0])
    assert s3["computed"] == 0 and s3["skipped"] == 4
    assert (bd / "pareto.png").stat().st_size > 10_000
    md = (bd / "results.md").read_text()
    assert "estimate (unet-fsic model" in md and md.count("| W") == 4


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
