"""Issue #14 part 3: the generated project's STREAM depths are the estimate's, and a threaded bounded-FIFO C simulation
of the generated project proves them deadlock-free and bit-exact against Keras (pipeline/hls/fifo_depths.py,
pipeline/hls/threaded_csim.py, pipeline/hw/fifo_sim.project_depths).

Default suite on the reduced U-Net (16x16x3, base_filters 2, depth 2, random weights): one conversion, one g++ build
of the threaded simulator (25-55 s), then runs of a fraction of a second each with depths overridden at run time.
~2 min on 2 cores. The full default U-Net (hls4ml_configs/default.yaml, 4 frames) is ``@pytest.mark.slow`` (~2.5 min)
and bench/bench_fifo.py.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import keras_model  # noqa: E402,F401
from pipeline.config import validate  # noqa: E402

SMALL = {"model": {"input_shape": [16, 16, 3], "base_filters": 2, "depth": 2}, "hls": {"reuse_factor": 4}}
FRAMES = 4


def _cfg(build_dir, model_file, **hls):
    d = json.loads(json.dumps(SMALL))
    d["build_dir"] = str(build_dir)
    d["hls"].update(model_file=str(model_file), **hls)
    return validate(d)


def _frames(n=FRAMES, hw=16):
    """Random frames plus the input mapping's boundary bytes (0, 127, 128, 129, 254, 255)."""
    x = np.random.default_rng(7).integers(0, 256, (n, hw, hw, 3)).astype(np.uint8)
    x[-1] = np.resize(np.array([0, 127, 128, 129, 254, 255], np.uint8), (hw, hw, 3))
    return x


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """The reduced U-Net with random weights saved as a model file, converted (sized depths), and its threaded
    simulator built."""
    from _support import randomize_weights

    from keras_model.model import build_model
    from pipeline.hls import threaded_csim as T
    from pipeline.hls.project import convert

    root = tmp_path_factory.mktemp("fifo")
    cfg0 = _cfg(root / "b", root / "m.h5")
    model = build_model(cfg0, quantized=True)
    randomize_weights(model, 3)
    model.save(str(root / "m.h5"))
    cfg = _cfg(root / "b", root / "m.h5")
    conv = convert(cfg)
    hm = conv.hls_model
    hls = root / "b" / "hls"
    work = root / "b" / "csim" / "bounded"  # where `unet-fsic csim --bounded` builds it: reused there
    exe = T.build(hls, hm.config.get_project_name(), work, int(np.prod(hm.get_input_variables()[0].shape)),
                  int(np.prod(hm.get_output_variables()[0].shape)))
    rec = json.loads((hls / "fifo_depths.json").read_text())
    return {"cfg": cfg, "conv": conv, "root": root, "hls": hls, "exe": exe, "rec": rec, "work": work,
            "top": T.read_top(hls, hm.config.get_project_name())}


def _run(small, depths=None, frames=None, watchdog_s=30.0):
    from pipeline.hls import threaded_csim as T
    from pipeline.hw.streams import csim_input

    x = csim_input(_frames() if frames is None else frames)
    return T.run(small["exe"], x.reshape(len(x), -1), depths, tap=_logits_stream(small), watchdog_s=watchdog_s)


def _logits_stream(small):
    from pipeline.hls.cmodel import logits_layer_name

    conv = small["conv"]
    return conv.hls_model.graph[logits_layer_name(conv.keras_model)].get_output_variable().name


def _skips(small) -> dict:
    """skip stream -> its record row (estimator FIFO, depth, row width of its feature map)."""
    return {r["stream"]: r for r in small["rec"]["streams"] if r.get("skip")}


def test_project_depths_are_the_estimate(small):
    """firmware/<project>.cpp carries the estimate's depths: every STREAM pragma equals ``unet-fsic estimate``'s
    ``depth_estimated`` of the FIFO it maps to; only the two skip FIFOs are deeper than 2; every stream is mapped."""
    from pipeline.hw.estimator import estimate

    est = estimate(small["cfg"])
    by_fifo = {q["name"]: q for q in est["fifo"]["fifos"]}
    written = small["top"].depths
    rows = [r for r in small["rec"]["streams"] if r["fifo"]]
    assert len(rows) == len(written) == len(by_fifo) - 2  # every FIFO but the two port FIFOs (source, sink)
    for r in rows:
        assert written[r["stream"]] == r["depth"] == by_fifo[r["fifo"]]["depth_estimated"], r
    skips = _skips(small)
    assert sorted(r["fifo"] for r in skips.values()) == sorted(est["fifo"]["skip_fifos"]) == [
        "enc1_relu2_clone_out1", "enc2_relu2_clone_out1"]
    assert {s for s, d in written.items() if d > 2} == set(skips)
    # the margin: sized occupancy + hls.fifo_margin_rows (1) rows, at most the feature map (hls4ml's default)
    for r in skips.values():
        row = int(np.sqrt(r["hls4ml_default"]))
        assert r["depth"] == min(r["hls4ml_default"], r["sized"] + row) and r["depth"] >= r["sized"]
    assert est["fifo"]["depths"] == "sized" and est["fifo"]["margin_rows"] == 1
    assert est["fifo"]["estimated"]["BRAM36"] <= est["fifo"]["hls4ml_default"]["BRAM36"]


def test_bounded_csim_sized_depths_bit_exact_against_keras(small):
    """The threaded simulation (every process a thread, every FIFO bounded at its pragma depth) completes all frames,
    and its logits (recorded on the logits stream) and argmax output equal Keras' -- the model file loaded with
    keras_model.model_io.load_model, fed through keras_model.data.to_model_input, independent of the pipeline's
    input mapping."""
    from keras_model import data
    from keras_model.model_io import load_model
    from pipeline.hls import threaded_csim as T

    frames = _frames()
    res = _run(small, frames=frames)
    assert res.completed and res.status == "completed" and res.frames == FRAMES
    km = load_model(small["cfg"]["hls"]["model_file"])
    logits = km.predict(data.to_model_input(frames), verbose=0).astype(np.float64)
    np.testing.assert_array_equal(res.tap.reshape(logits.shape), logits)
    np.testing.assert_array_equal(res.outputs.reshape(logits.shape[:-1]), np.argmax(logits, axis=-1))
    assert len(np.unique(np.argmax(logits, axis=-1))) > 3  # varied classes: not a trivial comparison
    rep = T.verify(small["conv"], frames, small["work"])  # the same through the packaged check
    assert rep["passed"] and rep["frames_bit_exact"] == FRAMES and rep["compile_s"] < 5  # reused the build
    assert "completed, 4/4 frames bit-exact" in T.summary(rep)


def test_relative_build_dir(small, monkeypatch):
    """A relative build dir (the default config's ``build/default``): the simulator is built and run by absolute
    paths (it runs from its own directory), so the same frames complete, bit-exact as above."""
    from pipeline.hls import threaded_csim as T
    from pipeline.hw.streams import csim_input

    monkeypatch.chdir(small["root"])
    hm = small["conv"].hls_model
    exe = T.build(Path("b") / "hls", hm.config.get_project_name(), Path("b") / "csim" / "bounded",
                  int(np.prod(hm.get_input_variables()[0].shape)), int(np.prod(hm.get_output_variables()[0].shape)))
    assert exe.is_absolute() and exe == small["exe"]  # the same (cached) build
    x = csim_input(_frames())
    rel = Path(os.path.relpath(exe, small["root"]))
    res = T.run(rel, x.reshape(len(x), -1), tap=_logits_stream(small))
    ref = _run(small)
    assert res.completed and np.array_equal(res.tap, ref.tap) and np.array_equal(res.outputs, ref.outputs)


def test_csim_bounded_command(small):
    """``unet-fsic csim --bounded N``'s core: N validation frames, ``csim/bounded.json``; a bad N is one error line
    before anything runs."""
    from pipeline.errors import UserError
    from pipeline.stages import csim

    rep = csim.bounded(small["cfg"], 2, small["conv"])
    assert rep["passed"] and rep["frames"] == 2 and rep["compile_s"] < 5
    saved = json.loads((small["root"] / "b" / "csim" / "bounded.json").read_text())
    assert saved["frames_bit_exact"] == 2 and saved["skip_fifos"] == sorted(_skips(small))
    for bad in (0, 10**6):
        with pytest.raises(UserError, match=f"csim --bounded: {bad} is out of range"):
            csim.bounded(small["cfg"], bad, small["conv"])


def test_skip_fifo_one_row_too_shallow_deadlocks_and_is_named(small):
    """The level-1 skip FIFO (sized to its full 16x16 map) made one frame-row (16 entries) too shallow: the run
    deadlocks, the watchdog stops it, and the report blames exactly that FIFO (full, its writer -- the clone --
    blocked writing it, its reader -- the concat -- blocked reading the up path)."""
    from pipeline.hls import threaded_csim as T

    s1 = next(s for s, r in _skips(small).items() if r["fifo"] == "enc1_relu2_clone_out1")
    depth = small["top"].depths[s1]
    assert depth == 256
    res = _run(small, {s1: depth - 16})
    assert not res.completed and res.status == "deadlock"
    assert T.culprits(res, small["rec"]) == [s1]
    assert res.blocked["clone_enc1_relu2"] == ("blocked writing", s1)
    assert res.blocked["dec1_concat"][0] == "blocked reading"
    assert s1 in res.stderr and "FULL" in res.stderr
    rep = T.verify(small["conv"], _frames(), small["work"], depths={s1: depth - 16})
    assert not rep["passed"] and rep["culprits"] == [{"stream": s1, "fifo": "enc1_relu2_clone_out1", "depth": 240}]
    assert "DEADLOCK -- too shallow: " + s1 in T.summary(rep)


def test_sizing_model_minimum_is_the_kernels_minimum(small):
    """For every skip FIFO, the dataflow simulation's smallest deadlock-free depth (fifo_sim, minimize) runs the real
    kernels; one frame-row less deadlocks, naming it; so does two entries less (the model's minimum is at most one
    entry above the kernels': its clone writes both copies in one step, the C clone one after the other)."""
    from pipeline.hls import threaded_csim as T
    from pipeline.hls.fifo_depths import plan
    from pipeline.hw.fifo_sim import size_fifos

    g, _ = plan(small["cfg"], build_fresh(small["cfg"]))
    minimal = size_fifos(g, minimize=True)["depths"]
    for s, r in _skips(small).items():
        m, row = minimal[r["fifo"]], int(np.sqrt(r["hls4ml_default"]))
        assert m <= r["sized"] <= r["depth"]
        assert _run(small, {s: m}, frames=_frames(2)).completed, (s, m)
        for shallow in (m - row, m - 2):
            res = _run(small, {s: shallow}, frames=_frames(2))
            assert res.status == "deadlock" and T.culprits(res, small["rec"]) == [s], (s, shallow)


def build_fresh(cfg):
    from keras_model.model import build_model

    return build_model(cfg, quantized=True)


def test_non_skip_fifos_at_depth_one_still_complete(small):
    """Every FIFO but the skip FIFOs at depth 1 (below the sized 2): still deadlock-free and bit-exact -- only the
    skip FIFOs need depth for correctness (the others' 2 is for throughput)."""
    skips = _skips(small)
    ref = _run(small)
    res = _run(small, {s: 1 for s in small["top"].depths if s not in skips})
    assert res.completed
    np.testing.assert_array_equal(res.tap, ref.tap)
    np.testing.assert_array_equal(res.outputs, ref.outputs)


def test_hls4ml_mode_keeps_full_feature_maps(small, tmp_path):
    """``hls.fifo_depths: hls4ml``: the project keeps hls4ml's depths (a full feature map per stream) and the
    estimate reports the same."""
    from pipeline.hls.project import convert
    from pipeline.hw.estimator import estimate

    cfg = _cfg(tmp_path / "b", small["cfg"]["hls"]["model_file"], fifo_depths="hls4ml")
    hm = convert(cfg).hls_model
    rec = json.loads((tmp_path / "b" / "hls" / "fifo_depths.json").read_text())
    est = {q["name"]: q for q in estimate(cfg)["fifo"]["fifos"]}
    text = (tmp_path / "b" / "hls" / "firmware" / f"{hm.config.get_project_name()}.cpp").read_text()
    for r in rec["streams"]:
        if r["fifo"]:
            assert r["depth"] == r["hls4ml_default"] == est[r["fifo"]]["depth_estimated"]
            assert f"#pragma HLS STREAM variable={r['stream']} depth={r['depth']}\n" in text
    assert rec["mode"] == "hls4ml"


def test_project_depths_margin_and_modes():
    """fifo_sim.project_depths on the small skip graph: only the skip FIFO grows, by margin_rows rows, capped at the
    full map; 'hls4ml' is the full map everywhere."""
    from pipeline.hw.fifo_sim import project_depths, simulate, skip_graph

    g = skip_graph(16, 16, rf_down=2, rf_up=2)
    for m in (0, 1, 3):
        r = project_depths(g, "sized", m)
        sized = r["sized_depths"]["clone_out1"]
        assert r["depths"]["clone_out1"] == min(256, sized + 16 * m)
        assert all(d == 2 for f, d in r["depths"].items() if f != "clone_out1")
        simulate(g, r["depths"])
    r = project_depths(g, "hls4ml")
    assert r["depths"] == {f: q.default_depth for f, q in g.fifos.items()}
    with pytest.raises(ValueError):
        project_depths(g, "bogus")


def test_parser_and_mapping_fail_loudly(small):
    """A stream without a depth pragma, a line the parser does not know, or a project that does not match the
    estimator's graph is an error, never a silent default."""
    from pipeline.hls.fifo_depths import FifoMappingError, parse_top, plan, stream_map

    name = small["conv"].hls_model.config.get_project_name()
    text = (small["hls"] / "firmware" / f"{name}.cpp").read_text()
    s = small["top"].streams[3][1]
    pragma = f"#pragma HLS STREAM variable={s} depth={small['top'].depths[s]}\n"
    assert pragma in text
    with pytest.raises(ValueError, match=f"without a STREAM depth pragma: \\['{s}'\\]"):
        parse_top(text.replace(pragma, ""), name)
    with pytest.raises(ValueError, match="unexpected line"):
        parse_top(text.replace(pragma, pragma + "    int unexpected = 0;\n"), name)
    other = validate({"build_dir": "/nonexistent", "model": {"input_shape": [16, 16, 3], "base_filters": 2,
                                                            "depth": 1}})
    g, _ = plan(other, build_fresh(other))
    with pytest.raises(FifoMappingError):
        stream_map(small["conv"].hls_model, g)


STAND_IN_TEST = r"""
#include "hls_stream.h"
#include <cstdio>
#include <string>
// argv[1]: "pipe" (depth-1 FIFO, 1000 tokens: completes), "cycle" (two processes each reading first: deadlock),
// "spin" (a process polling empty() forever: the no-progress watchdog)
int main(int argc, char **argv) {
    std::string mode = argv[1];
    fsic_df::rt().report_path = "report.json";
    hls::stream<int> a("a"), b("b");
    a.set_depth(1);
    b.set_depth(1);
    long sum = 0;
    fsic_df::Dataflow df;
    if (mode == "pipe") {
        df.add("producer", [&] { for (int i = 0; i < 1000; i++) a.write(i); });
        df.add("consumer", [&] { for (int i = 0; i < 1000; i++) sum += a.read(); });
    } else if (mode == "cycle") {
        df.add("p", [&] { int v = a.read(); b.write(v); });
        df.add("q", [&] { int v = b.read(); a.write(v); });
    } else {
        df.add("spinner", [&] { while (a.empty()) {} });
    }
    df.run(1.0);
    std::printf("%ld\n", sum);
    return 0;
}
"""


def test_stand_in_stream_and_watchdog(tmp_path):
    """The hls::stream stand-in and the runtime alone: a depth-1 FIFO carries 1000 tokens in order; a cycle of two
    blocked readers is an exact deadlock (exit 3, both named); a process spinning on empty() is caught by the
    no-progress watchdog (exit 4)."""
    from pipeline.hls.threaded_csim import DEADLOCK, HEADERS, STALLED

    (tmp_path / "t.cpp").write_text(STAND_IN_TEST)
    subprocess.run(["g++", "-O1", "-std=c++17", "-pthread", f"-I{HEADERS}", "t.cpp", "-o", "t"], cwd=tmp_path,
                   check=True)
    p = subprocess.run(["./t", "pipe"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.strip() == str(sum(range(1000)))
    p = subprocess.run(["./t", "cycle"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    rep = json.loads((tmp_path / "report.json").read_text())
    assert p.returncode == DEADLOCK and "deadlock" in rep["status"]
    assert {(q["name"], q["state"], q["stream"]) for q in rep["processes"]} == {
        ("p", "blocked reading", "a"), ("q", "blocked reading", "b")}
    p = subprocess.run(["./t", "spin"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert p.returncode == STALLED and "no token moved" in p.stderr


@pytest.mark.slow
def test_default_unet_bounded_csim(tmp_path):
    """The full default U-Net (hls4ml_configs/default.yaml, random weights): STREAM depths = the estimate's (only the
    4 skip FIFOs deep), the threaded bounded simulation completes 4 frames bit-exact against Keras, and the level-1
    skip FIFO one frame-row (64) too shallow deadlocks naming it. ~2.5 min (g++ ~60 s, ~1 s/frame)."""
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "bench"))
    from bench_fifo import run_default

    r = run_default(tmp_path, frames=4, shallow_check=True)
    assert r["depths_equal_estimate"] and r["only_skips_deep"]
    assert r["bounded"]["passed"] and r["bounded"]["frames_bit_exact"] == 4
    assert r["shallow"]["status"] == "deadlock" and r["shallow"]["culprits"] == [r["shallow"]["stream"]]
    assert r["bram36"]["sized"] < r["bram36"]["hls4ml_default"] / 10
