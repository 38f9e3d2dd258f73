"""Reliability of `unet-fsic run` (issue #12): a stage is a transaction, one writer per build dir, interruption.

On one tiny build (made once, ~2 min), copied per test:
* SIGTERM in the middle of `convert` (between writing the new project and swapping it in; the interruption point is
  a test hook, ``UNET_FSIC_TEST_SIGNAL_AT``): one line, exit 143, no temporary directory, no process of the command's
  session left, the records of convert and every stage after it gone; the re-run recomputes them and the outputs
  equal the uninterrupted build's (weights, model hash, csim report);
* SIGTERM from outside while csim's g++ or cosim's Icarus simulation runs: the tool ends with the command, no record
  of that stage or later ones, and the re-run passes bit-exact;
* Ctrl-C during the training of a *changed* config, then the old config: train is not "cached" (its outputs changed);
* a changed output (garbage appended to a weight file / a generated .cpp, a deleted file) means "run", never "cached";
* a second writer on the same build dir: one line naming the holder's PID, exit 2.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
TINY = {
    "seed": 5,
    "model": {"input_shape": [16, 16, 3], "base_filters": 2, "depth": 2},
    "data": {"source": "synthetic", "synthetic": {"train": 24, "val": 8, "seed": 1}},
    "train": {"float": {"epochs": 1, "batch_size": 8}, "qat": {"epochs": 1, "batch_size": 8}, "verbose": 0},
    "evaluate": {"overlay_frames": 1},
    "hls": {"reuse_factor": 4},
    "csim": {"frames": 2},
    "cosim": {"frames": 1, "simulators": ["icarus"]},
}
ALL = ["train", "evaluate", "convert", "csim", "wrap", "cosim", "firmware", "estimate"]


def _env(home, **extra):
    return {"PYTHONPATH": str(REPO), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), **extra}


def _cli(args, cwd, home, **env):
    """Run the CLI in its own session (process group = its PID); returns (result, pgid)."""
    p = subprocess.Popen([sys.executable, "-m", "pipeline.cli", *args], cwd=cwd, env=_env(home, **env),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    out, err = p.communicate(timeout=1200)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err), p.pid


def _group_members(pgid: int) -> list[str]:
    """Live processes whose process group is ``pgid`` (from /proc)."""
    left = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            f = stat[stat.rindex(")") + 2:].split()
            if int(f[2]) == pgid and f[0] != "Z":
                left.append(stat[:stat.rindex(")") + 1])
    return left


def _config(d: Path, build: Path, **changes) -> Path:
    cfg = json.loads(json.dumps(TINY))
    for dotted, v in changes.items():
        *path, key = dotted.split("__")
        node = cfg
        for k in path:
            node = node.setdefault(k, {})
        node[key] = v
    cfg["build_dir"] = str(build)
    p = d / f"c{len(list(d.glob('c*.yaml')))}.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    d = tmp_path_factory.mktemp("intr")
    home = tmp_path_factory.mktemp("home")
    cfgp = _config(d, d / "build")
    r, _ = _cli(["run", str(cfgp)], d, home)
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-2000:])
    return d / "build", home


def _copy(built, tmp_path) -> Path:
    bd = tmp_path / "build"
    shutil.copytree(built[0], bd)
    return bd


def _plan(cfgp, cwd, home) -> dict:
    r, _ = _cli(["run", str(cfgp), "--dry-run"], cwd, home)
    assert r.returncode == 0, r.stderr
    return {ln.split()[0]: ln.split(None, 1)[1] for ln in r.stdout.strip().splitlines()}


def _weights_digest(bd: Path) -> dict:
    import hashlib

    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((bd / "hls" / "firmware" / "weights").iterdir())}


def test_sigterm_during_convert_then_rerun_recomputes_the_same_outputs(built, tmp_path):
    bd = _copy(built, tmp_path)
    cfgp = _config(tmp_path, bd)
    r, pgid = _cli(["run", str(cfgp), "--from", "convert"], tmp_path, built[1],
                   UNET_FSIC_TEST_SIGNAL_AT="convert:before-swap", UNET_FSIC_TEST_SIGNAL="SIGTERM")
    err = r.stderr.strip().splitlines()
    assert r.returncode == 128 + signal.SIGTERM, (r.stdout[-1500:], r.stderr[-1500:])
    assert len(err) == 1 and err[0].startswith("unet-fsic: interrupted (SIGTERM)"), err
    time.sleep(0.5)
    assert _group_members(pgid) == [], "processes of the interrupted command are still running"
    assert not [p.name for p in bd.iterdir() if ".tmp-" in p.name or ".old-" in p.name]
    left = sorted(p.stem for p in (bd / ".stages").glob("*.json"))
    # convert and every stage that reads its outputs lost their records (estimate reads only the model and config)
    assert left == ["estimate", "evaluate", "train"], left
    redo = ["convert", "csim", "wrap", "cosim", "firmware"]
    plan = _plan(cfgp, tmp_path, built[1])
    assert [s for s in ALL if plan[s].startswith("would run")] == redo, plan
    r2, _ = _cli(["run", str(cfgp)], tmp_path, built[1])
    assert r2.returncode == 0, (r2.stdout[-2000:], r2.stderr[-2000:])
    assert all(f"{s}: running" in r2.stdout for s in redo) and "train: cached" in r2.stdout
    ref = built[0]
    assert _weights_digest(bd) == _weights_digest(ref)
    for f in ("fsic/python/unet_fsic_build.json", "hls/interface.json"):
        assert json.loads((bd / f).read_text()) == json.loads((ref / f).read_text()), f
    a, b = (json.loads((x / "csim" / "report.json").read_text()) for x in (bd, ref))
    assert a["passed"] and a["logits_bit_exact_fraction"] == b["logits_bit_exact_fraction"] == 1.0


def test_interrupted_training_of_a_changed_config_is_not_cached_for_the_old_one(built, tmp_path):
    bd = _copy(built, tmp_path)
    old = _config(tmp_path, bd)
    new = _config(tmp_path, bd, train__float__epochs=2)
    r, pgid = _cli(["run", str(new)], tmp_path, built[1], UNET_FSIC_TEST_SIGNAL_AT="train:after-float")
    assert r.returncode == 128 + signal.SIGINT, (r.stdout[-1500:], r.stderr[-1500:])
    assert r.stderr.strip().startswith("unet-fsic: interrupted (SIGINT)")
    assert _group_members(pgid) == []
    assert not list((bd / ".stages").glob("*.json")), "records survived a stage that was rewriting their inputs"
    plan = _plan(old, tmp_path, built[1])
    assert all(plan[s].startswith("would run") for s in ALL), plan


def test_changed_or_missing_outputs_are_never_cached(built, tmp_path):
    bd = _copy(built, tmp_path)
    cfgp = _config(tmp_path, bd)
    assert all(v.startswith("cached") for v in _plan(cfgp, tmp_path, built[1]).values())
    w = sorted((bd / "hls" / "firmware" / "weights").iterdir())[0]
    with open(w, "a") as fh:
        fh.write("garbage\n")
    plan = _plan(cfgp, tmp_path, built[1])
    assert plan["convert"].startswith("would run") and "output changed" in plan["convert"]
    assert [s for s in ALL if plan[s].startswith("cached")] == ["train", "evaluate", "estimate"], plan
    shutil.copytree(built[0] / "hls", bd / "hls", dirs_exist_ok=True)  # restore
    cpp = next(p for p in (bd / "hls" / "firmware").glob("*.cpp") if "bridge" not in p.name and "test" not in p.name)
    with open(cpp, "a") as fh:
        fh.write("// garbage\n")
    plan = _plan(cfgp, tmp_path, built[1])
    assert [s for s in ALL if plan[s].startswith("would run")] == ["csim", "cosim"], plan
    shutil.copytree(built[0] / "hls", bd / "hls", dirs_exist_ok=True)
    (bd / "fsic" / "rtl" / "USER_PRJ0.v").unlink()
    plan = _plan(cfgp, tmp_path, built[1])
    assert [s for s in ALL if plan[s].startswith("would run")] == ["wrap", "cosim", "firmware"], plan


def test_second_writer_is_refused_with_the_holders_pid(built, tmp_path):
    from pipeline.guard import build_lock

    bd = _copy(built, tmp_path)
    cfgp = _config(tmp_path, bd, csim__frames=1)
    before = sorted(p.name for p in (bd / ".stages").iterdir())
    with build_lock(bd):
        r, _ = _cli(["run", str(cfgp)], tmp_path, built[1])
    err = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(err) == 1, (r.stdout[-800:], r.stderr[-800:])
    assert f"(PID {os.getpid()})" in err[0] and "another unet-fsic command" in err[0]
    assert sorted(p.name for p in (bd / ".stages").iterdir()) == before


def _descendant_named(pgid: int, name: str) -> bool:
    return any(f"({name})" in m for m in _group_members(pgid))


@pytest.mark.parametrize("stage,child", [("csim", "cc1plus"), ("cosim", "vvp")])
def test_sigterm_while_a_tool_runs_ends_it_and_leaves_no_record(built, tmp_path, stage, child):
    """SIGTERM sent from outside while csim's g++ / cosim's Icarus simulation runs: the tool is ended with the
    command, one line, no record of the stage or the stages after it; the re-run passes bit-exact."""
    bd = _copy(built, tmp_path)
    cfgp = _config(tmp_path, bd)
    p = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "run", str(cfgp), "--from", stage], cwd=tmp_path,
                         env=_env(built[1]), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    deadline = time.monotonic() + 600
    while not _descendant_named(p.pid, child):
        assert p.poll() is None and time.monotonic() < deadline, f"{stage} finished before {child} was seen"
        time.sleep(0.05)
    os.kill(p.pid, signal.SIGTERM)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 128 + signal.SIGTERM, (out[-1000:], err[-1000:])
    assert err.strip().splitlines()[-1].startswith("unet-fsic: interrupted (SIGTERM)")
    time.sleep(0.5)
    assert _group_members(p.pid) == [], f"{child} (or another child) outlived the interrupted command"
    assert not (bd / ".stages" / f"{stage}.json").exists() and not (bd / ".stages" / "cosim.json").exists()
    assert not [q.name for q in bd.rglob("*") if ".tmp-" in q.name]
    r, _ = _cli(["run", str(cfgp)], tmp_path, built[1])
    assert r.returncode == 0 and f"{stage}: running" in r.stdout, (r.stdout[-1500:], r.stderr[-1500:])
    assert json.loads((bd / "csim" / "report.json").read_text())["logits_bit_exact_fraction"] == 1.0
    co = json.loads((bd / "cosim" / "report.json").read_text())
    assert co["passed"] and co["simulators"][0]["bit_exact_fraction"] == 1.0
