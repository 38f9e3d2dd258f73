"""CLI paths no other test runs, through the installed ``unet-fsic`` entry point (a subprocess: exit status, stdout,
and stderr as the user sees them):

- ``estimate CONFIG --propose-rf CYCLES``: every proposed RF is one hls4ml accepts (hls4ml's own
  ``get_valid_reuse_factors`` on the layer's multiplier sizes computed here from the Keras layers, and a conversion with
  those RFs keeps them unchanged); an estimate run with them (``estimate/estimate.json``) keeps every conv / convT at or
  below the target; the next larger valid RF would not (docs/estimate.md cycle formulas, computed here). A target
  <= 0 is one error line, exit 2, nothing written.
- ``sweep SPEC --scheduler ADDRESS``: a one-point sweep runs on a Dask cluster started here (the point's worker pid
  is one of that cluster's workers, and no local cluster was created).
- ``import-report CONFIG DIR``: on the published hls4ml report fixture (tests/fixtures/reports/PROVENANCE.md) writes
  ``reports/vendor_report.json`` with the numbers read from those files by hand; a bad DIR is one error line, exit 2,
  nothing written.

Runtime (2 cores): ~1.5-2 min (TensorFlow start-up in each subprocess, a tiny conversion, a one-point sweep)."""
import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = ROOT / "tests" / "fixtures" / "reports" / "published" / "hls4ml_test_report_vivado"
TINY = {"model": {"input_shape": [16, 16, 3], "base_filters": 2, "depth": 2}}


def _cli():
    from _support import cli_command

    return cli_command()


def _run(*args, timeout=600):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(_cli() + [str(a) for a in args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def _config(tmp_path, name="c.yaml", **extra):
    d = {"build_dir": str(tmp_path / "b"), **json.loads(json.dumps(TINY))}
    for k, v in extra.items():
        d.setdefault(k, {}).update(v)
    p = tmp_path / name
    p.write_text(yaml.safe_dump(d))
    return p


def _assert_one_error_line(r, *needles):
    assert r.returncode == 2, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("unet-fsic: error: "), r.stderr
    for n in needles:
        assert n in lines[0], lines[0]


# ---------------------------------------------------------------------------------------------------------------------
def test_estimate_propose_rf(tmp_path):
    from hls4ml.backends import get_backend

    import keras_model  # noqa: F401
    from keras_model.model import build_model
    from pipeline.config import load_config
    from pipeline.hls.project import convert

    target = 2000
    cfg_file = _config(tmp_path)
    r = _run("estimate", cfg_file, "--propose-rf", target)
    assert r.returncode == 0, r.stderr[-3000:]
    proposal = yaml.safe_load(r.stdout[r.stdout.index("hls:"):])["hls"]["reuse_factors"]
    assert not (tmp_path / "b").exists()  # --propose-rf only prints

    model = build_model(load_config(cfg_file), quantized=True)
    be = get_backend("Vivado")
    sizes, cycles_at = {}, {}
    for lay in model.layers:
        cls = lay.__class__.__name__
        if cls not in ("QConv2D", "QConv2DTranspose"):
            continue
        (_, hi, wi, ci), (_, ho, wo, co) = lay.input_shape, lay.output_shape
        kh, kw = lay.kernel_size
        if cls == "QConv2D":  # every input of the k x k window feeds every filter; 'same' pads k-1
            sizes[lay.name] = (kh * kw * ci, co)
            ph, pw = (kh - 1, kw - 1) if lay.padding == "same" else (0, 0)
            # fused with its BatchNorm + ReLU (the default; Strategy Resource): per pixel RF cycles, then the
            # epilogue's ceil(Cout / n_mult) multiplies (n_mult = ceil(Cout / RF)) + 2
            bn = lay.outbound_nodes[0].outbound_layer.__class__.__name__ == "FxpBatchNorm"
            cycles_at[lay.name] = lambda rf, n=(hi + ph) * (wi + pw), c=co, e=bn: n * (
                rf + (math.ceil(c / math.ceil(c / rf)) + 2 if e else 0))
        else:  # transposed conv: an output pixel sees ceil(k/s)^2 input pixels
            sh, sw = lay.strides
            sizes[lay.name] = (math.ceil(kh / sh) * math.ceil(kw / sw) * ci, co)
            cycles_at[lay.name] = lambda rf, a=hi * wi, b=ho * wo: a + b * rf
    assert set(proposal) == set(sizes)
    for name, rf in proposal.items():
        valid = be.get_valid_reuse_factors(*sizes[name])  # hls4ml's own rule
        assert isinstance(rf, int) and rf in valid, (name, rf, valid)
        assert cycles_at[name](rf) <= target, name
        larger = [v for v in valid if v > rf]
        assert not larger or cycles_at[name](larger[0]) > target, (name, rf, larger[0])  # the largest that fits

    # hls4ml keeps every proposed RF (an invalid one would be snapped to the closest valid one)
    cfg2 = _config(tmp_path, "c2.yaml", hls={"reuse_factors": proposal})
    hm = convert(load_config(cfg2), model=model, write=False).hls_model
    for name, rf in proposal.items():
        assert hm.graph[name].get_attr("reuse_factor") == rf, name

    # the estimator's own numbers with those RFs (estimate.json): every conv / convT at or below the target
    r = _run("estimate", cfg2)
    assert r.returncode == 0, r.stderr[-3000:]
    est = json.loads((tmp_path / "b" / "estimate" / "estimate.json").read_text())
    rows = {x["name"]: x for x in est["layers"] if x["kind"] in ("conv", "convt")}
    assert set(rows) == set(proposal)
    for name, rf in proposal.items():
        assert rows[name]["rf"] == rf and rows[name]["cycles"] == cycles_at[name](rf) <= target, rows[name]


@pytest.mark.parametrize("cycles", ["-5", "0"])
def test_estimate_propose_rf_not_positive(tmp_path, cycles):
    r = _run("estimate", _config(tmp_path), "--propose-rf", cycles)
    _assert_one_error_line(r, "--propose-rf", cycles)
    assert r.stdout == "" and not (tmp_path / "b").exists()


# ---------------------------------------------------------------------------------------------------------------------
def test_sweep_on_given_scheduler(tmp_path):
    """``unet-fsic sweep SPEC --scheduler ADDRESS``: the point runs on the cluster at ADDRESS."""
    from distributed import Client, LocalCluster

    bd = tmp_path / "sw"
    spec = {
        "description": "one-point CLI test sweep",
        "base_config": str(ROOT / "hls4ml_configs" / "default.yaml"),
        "build_dir": str(bd),
        "overrides": {**TINY, "data": {"synthetic": {"train": 8, "val": 4}},
                      "train": {"float": {"epochs": 1, "batch_size": 8, "lr_milestones": []},
                                "qat": {"epochs": 1, "batch_size": 8, "lr_milestones": []}},
                      "hls": {"reuse_factor": 4}},
        "axes": {"weight_bits": [4]},
        "train": {"mode": "finetune", "float_epochs": 1, "qat_epochs": 1},
        "csim": {"enabled": False},
        "workers": 1,
    }
    sp = tmp_path / "sweep.yaml"
    sp.write_text(yaml.safe_dump(spec))
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                      local_directory=str(tmp_path / "dask")) as cluster, Client(cluster) as client:
        worker_pids = set(client.run(os.getpid).values())
        r = _run("sweep", sp, "--scheduler", cluster.scheduler_address, "--no-progress", timeout=300)
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    assert "1 points: 1 computed, 0 already done, 0 failed" in r.stdout
    recs = [json.loads(x) for x in (bd / "results.jsonl").read_text().splitlines()]
    assert len(recs) == 1 and recs[0]["pid"] in worker_pids  # computed by the given cluster's worker
    assert recs[0]["config"]["weight_bits"] == 4 and recs[0]["point"] == {"weight_bits": 4}
    assert 0 <= recs[0]["keras"]["miou"] <= 1 and recs[0]["keras"]["frames"] == 4
    assert not (bd / "dask-worker-space").exists()  # no local cluster of its own
    assert (bd / "results.md").is_file() and (bd / "pareto.png").stat().st_size > 0


# ---------------------------------------------------------------------------------------------------------------------
def test_import_report_cli(tmp_path):
    """The published hls4ml report (Vivado HLS 2020.1 csynth + Vivado 2020.1 report_utilization); expected numbers read
    from the files: vivado_synth.rpt 'Slice LUTs*' 1526, 'Slice Registers' 2428, 'Block RAM Tile' 0, 'DSPs' 66 (of
    53200 / 106400 / 140 / 220); csynth: 5.00 ns target, 4.049 ns estimated, latency 10, interval 8."""
    rep_dir = tmp_path / "vendor"
    shutil.copytree(PUBLISHED, rep_dir)
    r = _run("import-report", _config(tmp_path), rep_dir)
    assert r.returncode == 0, r.stderr[-3000:]
    out = tmp_path / "b" / "reports" / "vendor_report.json"
    rep = json.loads(out.read_text())
    assert rep["provenance"].startswith("vendor report")
    assert rep["totals"] == {"LUT": 1526, "FF": 2428, "BRAM36": 0, "DSP": 66}
    assert rep["capacity"] == {"LUT": 53200, "FF": 106400, "BRAM36": 140, "DSP": 220}
    assert rep["part"] == "xc7z020-clg400-1" and rep["clock_ns"] == 5.0 and rep["estimated_clock_ns"] == 4.049
    assert rep["latency_cycles"] == 10 and rep["interval_cycles"] == 8 and rep["fits"] is True
    assert rep["interval_ms"] == pytest.approx(8 * 5.0e-6) and rep["latency_ms"] == pytest.approx(10 * 5.0e-6)
    assert rep["utilization"]["DSP"] == pytest.approx(66 / 220)
    assert str(out) in r.stdout
    # judged against the IP's share of USER_PRJ0's budget (xc7z020 minus FSIC's platform minus our wrapper, 1,618 LUT /
    # 709 FF / 3 BRAM36 with the argmax head; docs/budget.md), with no error band
    assert rep["budget"]["user_prj0"] == {"LUT": 39000, "FF": 91600, "BRAM36": 133.5, "DSP": 220}
    assert rep["budget"]["available"] == {"LUT": 39000 - 1618, "FF": 91600 - 709, "BRAM36": 133.5 - 3, "DSP": 220}
    assert rep["fit"]["fits_nominal"] is rep["fit"]["fits_upper"] is True and rep["fits_part"] is True
    assert rep["fit"]["use_of_budget"]["LUT"] == pytest.approx(1526 / (39000 - 1618), abs=1e-4)
    assert rep["timing"]["ip_clock_mhz"] == 5.0 and rep["timing"]["interval_ms"] == pytest.approx(8 / 5e3)


def test_import_report_cli_bad_dir(tmp_path):
    r = _run("import-report", _config(tmp_path), tmp_path / "no_such_dir")
    _assert_one_error_line(r, "no_such_dir", "no such report directory")
    assert not (tmp_path / "b").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    r = _run("import-report", _config(tmp_path), empty)
    _assert_one_error_line(r, "no csynth")
    assert not (tmp_path / "b").exists()
