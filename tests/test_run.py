"""`unet-fsic run` end to end on a tiny config: every stage, the report (rendered in headless Chromium), caching,
--from / --only, and a failing stage that leaves earlier results intact."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "tests" / "artifacts"

TINY = {
    "seed": 5,
    "model": {"input_shape": [16, 16, 3], "base_filters": 2, "depth": 2},
    "data": {"source": "synthetic", "synthetic": {"train": 24, "val": 8, "seed": 1}},
    "train": {"float": {"epochs": 1, "batch_size": 8}, "qat": {"epochs": 1, "batch_size": 8}, "verbose": 0},
    "evaluate": {"overlay_frames": 2},
    "hls": {"reuse_factor": 4},
    "csim": {"frames": 4},
    "cosim": {"frames": 1, "simulators": ["icarus"]},
}


def _run(args, cwd, home):
    env = {"PYTHONPATH": str(REPO), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=1500, env=env)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    d = tmp_path_factory.mktemp("run")
    home = tmp_path_factory.mktemp("home")
    cfgp = d / "tiny.yaml"
    cfgp.write_text(yaml.safe_dump(dict(TINY, build_dir="build")))  # relative: to the working directory, as in
    # hls4ml_configs/default.yaml (the simulator and g++ run elsewhere; every path handed to them must be resolved)
    r = _run(["run", str(cfgp)], d, home)
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    return cfgp, d / "build", r, home


def test_every_stage_ran_and_report_written(built):
    cfgp, bd, r, _ = built
    from pipeline.run import stages

    names = [s.name for s in stages()]
    for n in names:
        rec = json.loads((bd / ".stages" / f"{n}.json").read_text())
        assert rec["key"] and "summary" in rec, n
    assert (bd / "report.md").is_file() and (bd / "report.html").is_file()
    md = (bd / "report.md").read_text()
    for section in ("## Accuracy: float vs W5A8", "## Segmentation overlays", "## C simulation fidelity",
                    "## RTL co-simulation", "## FSIC register map", "## Resources and latency (estimate)",
                    "## Configuration"):
        assert section in md, section
    assert "stage" in r.stdout and "total" in r.stdout  # the summary table
    assert names == ["train", "evaluate", "convert", "csim", "wrap", "cosim", "firmware", "estimate"]
    # the numbers in the report are the stages' own, with their provenance
    cs = json.loads((bd / "csim" / "report.json").read_text())
    co = json.loads((bd / "cosim" / "report.json").read_text())
    assert cs["passed"] and co["passed"] and co["simulators"][0]["bit_exact_fraction"] == 1.0
    assert "Provenance: **csim (g++)**" in md and "Provenance: **RTL sim**" in md and "Provenance: **estimate**" in md
    assert "| icarus | 100.00 % | 1/1 |" in md
    assert "| AP_START |" in md and "identity registers read H=16, W=16, C=3" in md
    if shutil.which("riscv64-unknown-elf-gcc") or os.environ.get("CI"):  # CI has the toolchain: it must build
        assert (bd / "firmware" / "unet_fsic_example.elf").is_file() and "| arch | rv32i" in md
    else:
        assert "skipped: riscv64-unknown-elf-gcc not on PATH" in r.stdout


def test_rerun_is_cached_and_fast(built):
    """Nothing changed: every stage cached, and the re-run never even imports TensorFlow, hls4ml or cocotb (that is
    what makes it take about a second -- measured in BENCHMARKS.md; no wall-clock assert here)."""
    cfgp, bd, _, home = built
    env = {"PYTHONPATH": str(REPO), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}
    code = ("import sys; from pipeline.cli import main; rc = main(['run', sys.argv[1]]); "
            "print('HEAVY', sorted(m for m in ('tensorflow', 'hls4ml', 'cocotb', 'qkeras') if m in sys.modules)); "
            "sys.exit(rc)")
    r = subprocess.run([sys.executable, "-c", code, str(cfgp)], cwd=cfgp.parent, capture_output=True, text=True,
                       timeout=600, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "every stage was cached" in r.stdout
    assert "running" not in r.stdout
    assert "HEAVY []" in r.stdout, r.stdout[-500:]


def test_from_and_only_rerun_selectively(built):
    cfgp, bd, _, home = built
    rec = {n: json.loads((bd / ".stages" / f"{n}.json").read_text())["finished"]
           for n in ("train", "cosim", "evaluate")}
    r = _run(["run", str(cfgp), "--from", "firmware"], cfgp.parent, home)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "firmware: running" in r.stdout and "estimate: running" in r.stdout
    assert "train: cached" in r.stdout and "cosim: cached" in r.stdout
    r = _run(["run", str(cfgp), "--only", "evaluate"], cfgp.parent, home)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "evaluate: running" in r.stdout and "estimate: running" not in r.stdout
    after = {n: json.loads((bd / ".stages" / f"{n}.json").read_text())["finished"] for n in rec}
    assert after["train"] == rec["train"] and after["cosim"] == rec["cosim"] and after["evaluate"] > rec["evaluate"]
    r = _run(["run", str(cfgp), "--only", "nosuchstage"], cfgp.parent, home)
    assert r.returncode == 2 and "--only nosuchstage: unknown stage" in r.stderr


def test_failed_stage_stops_and_keeps_earlier_results(built, tmp_path):
    cfgp, bd, _, home = built
    # a copy of the build asking csim for more frames than the validation split has: csim fails, the stages before
    # it keep their records (a corrupt *output* of an earlier stage would instead make that stage re-run)
    bd2 = tmp_path / "build"
    shutil.copytree(bd, bd2)
    cfg = yaml.safe_load(cfgp.read_text())
    cfg["build_dir"] = str(bd2)
    cfg["csim"]["frames"] = 9  # the validation split has 8
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(cfg))
    r = _run(["run", str(p)], tmp_path, home)
    assert r.returncode == 2
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and "stage 'csim' failed" in err[0] and "--from csim" in err[0], err
    for kept in ("train", "evaluate", "convert"):
        assert (bd2 / ".stages" / f"{kept}.json").is_file(), kept
    assert not (bd2 / ".stages" / "csim.json").exists() and not (bd2 / ".stages" / "cosim.json").exists()


def test_html_report_renders_in_chromium(built):
    _, bd, _, _ = built
    from _support import require_tools

    require_tools("chromium")
    chromium = shutil.which("chromium")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={bd.parent / 'chrome-profile'}", "--virtual-time-budget=5000"]
    url = (bd / "report.html").resolve().as_uri()
    dom = subprocess.run([chromium, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    for sid in ("accuracy", "segmentation-overlays", "c-simulation-fidelity", "rtl-co-simulation",
                "fsic-register-map", "resources-and-latency-(estimate)", "configuration"):
        assert f'id="{sid}"' in html, sid
    import re

    m = re.search(r'data-images-loaded="(\d+)"', html)
    assert m and int(m.group(1)) >= 3, "embedded images (IoU chart, curves, overlays) did not decode"
    r = subprocess.run([chromium, *flags, "--window-size=1200,2400", f"--screenshot={shot}", url],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# What re-runs when one config section changes. The expected sets are the product's promise (README, `run`): a stage
# re-runs when a section it reads changes or a stage it depends on re-runs -- written out here by hand, not derived
# from pipeline.run's stage table.
ALL = ["train", "evaluate", "convert", "csim", "wrap", "cosim", "firmware", "estimate"]
CHANGES = [
    ("nothing", None, []),
    ("csim.frames", ("csim", "frames", 3), ["csim", "cosim"]),
    ("csim.threshold", ("csim", "threshold", 0.999), ["csim", "cosim"]),
    ("cosim.ip_latency", ("cosim", "ip_latency", 11), ["cosim"]),
    ("evaluate.overlay_frames", ("evaluate", "overlay_frames", 1), ["evaluate"]),
    ("hls.reuse_factor", ("hls", "reuse_factor", 8), ["convert", "csim", "wrap", "cosim", "firmware", "estimate"]),
    ("hls.output_head", ("hls", "output_head", "logits"),
     ["convert", "csim", "wrap", "cosim", "firmware", "estimate"]),
    ("train.qat.epochs", ("train", "qat", "epochs", 2), ALL),
    ("seed", ("seed", 6), ALL),
]


def _changed_cfg(cfgp: Path, change, dest: Path) -> Path:
    cfg = yaml.safe_load(cfgp.read_text())
    if change is not None:
        *path, key, value = change
        d = cfg
        for k in path:
            d = d.setdefault(k, {})
        d[key] = value
    dest.write_text(yaml.safe_dump(cfg))
    return dest


def _tree_state(d: Path) -> dict:
    return {str(p.relative_to(d)): p.stat().st_mtime_ns for p in d.rglob("*")}


@pytest.mark.parametrize("name,change,expected", CHANGES, ids=[c[0] for c in CHANGES])
def test_dry_run_names_exactly_the_stages_a_change_reruns(built, name, change, expected, tmp_path):
    cfgp, bd, _, home = built
    before = _tree_state(bd)
    p = _changed_cfg(cfgp, change, cfgp.parent / f"dry_{name}.yaml")
    try:
        r = _run(["run", str(p), "--dry-run"], cfgp.parent, home)
    finally:
        p.unlink()
    assert r.returncode == 0, r.stderr[-2000:]
    rows = dict(ln.split()[:2] for ln in r.stdout.strip().splitlines())
    assert list(rows) == ALL
    assert sorted(s for s, a in rows.items() if a == "would") == sorted(expected), r.stdout
    assert _tree_state(bd) == before, "--dry-run wrote into the build dir"


def test_changed_csim_frames_reruns_exactly_csim_and_cosim(built, tmp_path):
    """The real thing, on a copy of the build: change csim.frames, and exactly csim and cosim run; the others say
    cached and their records are untouched."""
    cfgp, bd, _, home = built
    bd2 = tmp_path / "build"
    shutil.copytree(bd, bd2)
    cfg = yaml.safe_load(cfgp.read_text())
    cfg["build_dir"] = str(bd2)
    cfg["csim"]["frames"] = 3
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(cfg))
    rec = {n: json.loads((bd2 / ".stages" / f"{n}.json").read_text())["finished"] for n in ALL}
    r = _run(["run", str(p)], tmp_path, home)
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-2000:])
    ran = [n for n in ALL if f"{n}: running" in r.stdout]
    cached = [n for n in ALL if f"{n}: cached" in r.stdout]
    assert ran == ["csim", "cosim"] and cached == [n for n in ALL if n not in ran], r.stdout
    after = {n: json.loads((bd2 / ".stages" / f"{n}.json").read_text())["finished"] for n in ALL}
    assert {n for n in ALL if after[n] != rec[n]} == {"csim", "cosim"}
    assert json.loads((bd2 / "csim" / "report.json").read_text())["frames"] == 3
