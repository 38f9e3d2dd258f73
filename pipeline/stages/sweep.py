"""Accuracy-vs-resource sweeps on Dask (``unet-fsic sweep SWEEP.yaml``).

A sweep spec (``hls4ml_configs/sweep_*.yaml``, validated here, one-line errors) names a base build config, overrides
applied to every point, and axes. The cartesian product of the axes (plus any explicit ``points``) gives the points;
each point's *resolved* build config is hashed (sha256 of its canonical JSON + the per-point settings) to its key.

Axes (and keys of explicit ``points``): weight_bits, act_bits, width_multiplier, reuse (an RF, or {reuse_factor,
reuse_factors, strategy, name}), output_head, fold_batchnorm.

Per point (in a Dask worker, TF limited to one thread): W5A8 QAT fine-tuned from a float checkpoint
(``train.mode: finetune``; one float model per channel-width multiplier, trained first, itself a cached task) or QAT
from scratch (``train.mode: qat``) -- once per training identity (:func:`qat_key`): points that differ only in hls
settings copy the finished checkpoint; Keras pixel accuracy and mIoU on the validation split; optional C-simulation
fidelity through :mod:`pipeline.stages.csim` (``csim.enabled``); the offline estimate (:mod:`pipeline.hw.estimator`)
or, with
``vendor: true`` and a vendor tool on PATH, synthesis numbers.

Durability: every finished point is appended by the client to ``<build_dir>/results.jsonl`` as one line written with
``flock`` + ``write`` + ``fsync``; re-running skips every key already in the file, and a worker killed mid-point loses
only that point (Dask re-runs it on a surviving worker; if the whole sweep is killed, the next run recomputes only the
missing points). Outputs: ``results.jsonl``, ``results.md`` (table), ``pareto.png`` (mIoU vs LUT / BRAM / latency).
"""
from __future__ import annotations

import copy
import fcntl
import hashlib
import itertools
import json
import math
import os
import tempfile
import time
from pathlib import Path

from ..build import BuildDir
from ..errors import ConfigError, UserError

AXES = ("weight_bits", "act_bits", "width_multiplier", "reuse", "output_head", "fold_batchnorm")
SPEC_KEYS = {"base_config", "build_dir", "overrides", "axes", "points", "train", "csim", "vendor", "workers",
             "scheduler", "description"}
MAX_POINTS = 1000  # points of one sweep (each one is a QAT training)


# ---------------------------------------------------------------------------------------------------------------------
# spec
def _fail(file, key, msg):
    from ..config import oneline

    raise ConfigError(f"{oneline(file)}: {oneline(key)}: {msg}")


def load_spec(path) -> dict:
    """Read (size cap, UTF-8, no YAML anchors / aliases / duplicate keys: :func:`pipeline.config.load_yaml`) and
    validate a sweep spec; one ``ConfigError`` line otherwise."""
    from ..config import load_yaml, oneline

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{oneline(path)}: no such sweep file")
    spec = load_yaml(p, "sweep file")
    return validate_spec({} if spec is None else spec, str(path), p.parent)


def validate_spec(spec: dict, file: str = "<sweep>", base_dir: Path | None = None) -> dict:
    from ..config import check_build, check_build_dir, oneline, short

    if not isinstance(spec, dict):
        _fail(file, "(top level)", f"expected a mapping, got {short(spec)}")
    for k in spec:
        if k not in SPEC_KEYS:
            _fail(file, k, f"unknown key (known: {', '.join(sorted(SPEC_KEYS))})")
    out = {"base_config": spec.get("base_config", "hls4ml_configs/default.yaml"),
           "build_dir": spec.get("build_dir"), "overrides": spec.get("overrides") or {},
           "description": spec.get("description", "")}
    if not out["build_dir"] or not isinstance(out["build_dir"], str):
        _fail(file, "build_dir", "required: where results.jsonl and every point's outputs go")
    check_build_dir(out["build_dir"], file)
    if not isinstance(out["base_config"], str) or not out["base_config"]:
        _fail(file, "base_config", f"expected a path, got {short(out['base_config'])}")
    if not isinstance(out["description"], str):
        _fail(file, "description", f"expected a string, got {short(out['description'])}")
    bc = Path(out["base_config"])
    if not bc.is_file() and base_dir is not None and (Path(base_dir) / bc).is_file():
        bc = Path(base_dir) / bc
    if not bc.is_file():
        _fail(file, "base_config", f"no such config file: {oneline(out['base_config'])}")
    out["base_config"] = str(bc)
    if not isinstance(out["overrides"], dict):
        _fail(file, "overrides", "expected a mapping of build-config keys")
    axes = spec.get("axes") or {}
    if not isinstance(axes, dict):
        _fail(file, "axes", "expected a mapping axis -> list of values")
    for k, v in axes.items():
        if k not in AXES:
            _fail(file, f"axes.{k}", f"unknown axis (known: {', '.join(AXES)})")
        if not isinstance(v, list) or not v:
            _fail(file, f"axes.{k}", f"expected a non-empty list, got {short(v)}")
    out["axes"] = axes
    pts = spec.get("points") or []
    if not isinstance(pts, list):
        _fail(file, "points", "expected a list of {axis: value} mappings")
    n_points = math.prod(len(v) for v in axes.values()) if axes else 0
    if n_points + len(pts) > MAX_POINTS:
        _fail(file, "axes" if n_points > MAX_POINTS else "points",
              f"{n_points} axis combinations + {len(pts)} points, at most {MAX_POINTS}")
    for i, pt in enumerate(pts):
        if not isinstance(pt, dict):
            _fail(file, f"points[{i}]", f"expected a mapping, got {short(pt)}")
        for k in pt:
            if k not in AXES:
                _fail(file, f"points[{i}].{k}", f"unknown axis (known: {', '.join(AXES)})")
    out["points"] = pts
    out.update(_spec_settings(spec, file))
    out["_file"] = file
    # resolve every point now so a bad value fails before anything runs
    base = _base_user(out)
    for i, pt in enumerate(expand(out)):
        try:
            check_build(resolve_point(out, pt, base)[0], file)
        except ConfigError as e:
            raise ConfigError(f"{oneline(file)}: point {i} {short(pt, 120)}: {oneline(e, 400)}") from None
    return out


def _spec_settings(spec: dict, file: str) -> dict:
    """The per-point settings of a sweep spec (train, csim, vendor, workers, scheduler), checked."""
    from ..config import short

    out: dict = {}
    tr = spec.get("train") or {}
    if not isinstance(tr, dict):
        _fail(file, "train", "expected a mapping")
    mode = tr.get("mode", "finetune")
    if mode not in ("finetune", "qat"):
        _fail(file, "train.mode", f"expected 'finetune' or 'qat', got {short(mode)}")
    for k in tr:
        if k not in ("mode", "float_epochs", "qat_epochs"):
            _fail(file, f"train.{k}", "unknown key (known: mode, float_epochs, qat_epochs)")
    for k in ("float_epochs", "qat_epochs"):
        v = tr.get(k)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
            _fail(file, f"train.{k}", f"expected an integer >= 0, got {short(v)}")
    out["train"] = {"mode": mode, "float_epochs": tr.get("float_epochs"), "qat_epochs": tr.get("qat_epochs")}
    cs = spec.get("csim") or {}
    if not isinstance(cs, dict) or set(cs) - {"enabled", "frames"}:
        _fail(file, "csim", "expected {enabled: bool, frames: int}")
    if not isinstance(cs.get("enabled", False), bool):
        _fail(file, "csim.enabled", f"expected true or false, got {short(cs.get('enabled'))}")
    fr = cs.get("frames", 8)
    if not isinstance(fr, int) or isinstance(fr, bool) or not 1 <= fr <= 10000:
        _fail(file, "csim.frames", f"expected an integer in [1, 10000], got {short(fr)}")
    out["csim"] = {"enabled": cs.get("enabled", False), "frames": fr}
    if not isinstance(spec.get("vendor", False), bool):
        _fail(file, "vendor", f"expected true or false, got {short(spec.get('vendor'))}")
    out["vendor"] = spec.get("vendor", False)
    w = spec.get("workers", 2)
    if not isinstance(w, int) or isinstance(w, bool) or not 1 <= w <= 256:
        _fail(file, "workers", f"expected an integer in [1, 256], got {short(w)}")
    out["workers"] = w
    out["scheduler"] = spec.get("scheduler")
    if out["scheduler"] is not None and not isinstance(out["scheduler"], str):
        _fail(file, "scheduler", f"expected a scheduler address, got {short(out['scheduler'])}")
    return out


def _base_user(spec) -> dict:
    from ..config import deep_update, load_yaml, oneline, short

    user = load_yaml(spec["base_config"], "config file") or {}
    if not isinstance(user, dict):
        raise ConfigError(f"{oneline(spec['base_config'])}: (top level): expected a mapping, got {short(user)}")
    return deep_update(user, spec["overrides"])


def expand(spec) -> list[dict]:
    axes = spec["axes"]
    names = [a for a in AXES if a in axes]
    pts = [dict(zip(names, vals)) for vals in itertools.product(*(axes[a] for a in names))] if names else []
    pts += [dict(p) for p in spec["points"]]
    seen, out = set(), []
    for p in pts:
        k = json.dumps(p, sort_keys=True)
        if k not in seen:
            seen.add(k)
            out.append(p)
    return out


def _reuse_override(r) -> dict:
    """``reuse`` axis value: an int (global RF), 'default', or a mapping {reuse_factor, reuse_factors, strategy}."""
    if r in (None, "default"):
        return {}
    if isinstance(r, int) and not isinstance(r, bool):
        return {"reuse_factor": r, "reuse_factors": {}}
    if isinstance(r, dict):
        bad = set(r) - {"reuse_factor", "reuse_factors", "strategy", "name"}
        if bad:
            raise ConfigError(f"reuse: unknown key(s) {sorted(bad)}")
        return {k: v for k, v in r.items() if k != "name"}
    raise ConfigError(f"reuse: expected an int, 'default' or a mapping, got {r!r}")


def resolve_point(spec, point: dict, base_user: dict | None = None) -> tuple[dict, str]:
    """(validated build config, key) of one point. The config's build_dir is ``<sweep>/points/<key>``."""
    from ..config import deep_update, public, validate

    user = copy.deepcopy(base_user if base_user is not None else _base_user(spec))
    upd: dict = {}
    if "weight_bits" in point:
        upd.setdefault("quant", {})["weight_bits"] = point["weight_bits"]
    if "act_bits" in point:
        upd.setdefault("quant", {})["act_bits"] = point["act_bits"]
    if "width_multiplier" in point:
        upd.setdefault("model", {})["width_multiplier"] = point["width_multiplier"]
    if "output_head" in point:
        upd.setdefault("hls", {})["output_head"] = point["output_head"]
    if "fold_batchnorm" in point:
        upd.setdefault("hls", {})["fold_batchnorm"] = point["fold_batchnorm"]
    if "reuse" in point:
        ro = _reuse_override(point["reuse"])
        if ro:
            upd.setdefault("hls", {}).update(ro)
    tr = spec["train"]
    if tr["qat_epochs"] is not None:
        upd.setdefault("train", {}).setdefault("qat", {})["epochs"] = tr["qat_epochs"]
    if tr["float_epochs"] is not None:
        upd.setdefault("train", {}).setdefault("float", {})["epochs"] = tr["float_epochs"]
    upd.setdefault("train", {}).setdefault("qat", {})["init"] = "float" if tr["mode"] == "finetune" else "scratch"
    user = deep_update(user, upd)
    user["build_dir"] = "<point>"
    cfg = validate(user, spec.get("_file", "<sweep>"))
    ident = {"config": public(cfg), "csim": spec["csim"], "vendor": spec["vendor"], "mode": tr["mode"]}
    key = hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:16]
    cfg["build_dir"] = str(Path(spec["build_dir"]) / "points" / key)
    return cfg, key


def float_key(cfg) -> str:
    """Float checkpoints are shared by every point with the same model/data/float-training settings."""
    ident = {k: cfg[k] for k in ("model", "data", "seed")}
    ident["train"] = cfg["train"]["float"]
    ident["model"] = {k: v for k, v in cfg["model"].items() if k != "variant"}
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:16]


def qat_key(cfg) -> str:
    """W5A8 (QAT) checkpoints are shared by every point whose model/quantization/data/training settings agree (points
    that differ only in hls settings such as the reuse factor or the output head)."""
    ident = {k: cfg[k] for k in ("model", "quant", "data", "seed", "train")}
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------------------------------
# results file
def append_result(path: Path, record: dict) -> None:
    """Append one JSON line atomically: exclusive flock, single write, flush, fsync."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, sort_keys=True, default=_jsonable) + "\n"
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def read_results(path: Path) -> list[dict]:
    """Every complete line (a torn last line from a crash is ignored)."""
    out = []
    if not Path(path).exists():
        return out
    for line in Path(path).read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def _jsonable(o):
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


# ---------------------------------------------------------------------------------------------------------------------
# tasks (run in workers)
def _worker_env():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    os.environ["TF_NUM_INTRAOP_THREADS"] = "1"
    os.environ["OMP_NUM_THREADS"] = "1"
    import tensorflow as tf

    import keras_model  # noqa: F401  (QKeras compat before QKeras)

    try:
        tf.config.threading.set_inter_op_parallelism_threads(1)
        tf.config.threading.set_intra_op_parallelism_threads(1)
    except RuntimeError:  # already initialised in this worker
        pass


def train_float_task(cfg: dict, float_dir: str) -> str:
    """Train the float twin once into ``float_dir`` (skipped if its checkpoint exists). Returns the checkpoint."""
    _worker_env()
    ck = BuildDir(Path(float_dir)).checkpoint("float")
    if ck.exists():
        return str(ck)
    from keras_model import train

    c = copy.deepcopy(cfg)
    c["build_dir"] = float_dir
    c["train"]["verbose"] = 0
    train.run(c, ("float",))
    return str(ck)


def point_task(spec: dict, point: dict, cfg: dict, key: str, float_ckpt: str | None) -> dict:
    """Train + evaluate + csim + estimate one point; returns its record (the client appends it)."""
    t0 = time.time()
    _worker_env()
    import shutil

    import numpy as np

    from keras_model import data, metrics, train
    from keras_model.evaluate import predict_classes

    cfg = copy.deepcopy(cfg)
    cfg["train"]["verbose"] = 0
    tdir = BuildDir.of(cfg).train
    tdir.mkdir(parents=True, exist_ok=True)
    if float_ckpt:
        shutil.copyfile(float_ckpt, tdir / "float_model.h5")
    rec: dict = {"key": key, "point": point, "pid": os.getpid(), "timings": {}}
    # QAT once per training identity: a finished checkpoint of an identical training is copied, not recomputed
    cache = Path(spec["build_dir"]) / "qat" / qat_key(cfg)
    if (cache / "w5a8_model.h5").is_file():
        shutil.copytree(cache, tdir, dirs_exist_ok=True)
        rec["qat_cache"] = "hit"
    else:
        train.run(cfg, ("w5a8",))
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=cache.parent, prefix=".tmp-"))
        shutil.copytree(tdir, tmp, dirs_exist_ok=True)
        try:
            os.replace(tmp, cache)  # atomic publish; a concurrent identical training may have won the race
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
        rec["qat_cache"] = "miss"
    rec["timings"]["train_s"] = time.time() - t0
    model = train.load_trained(cfg, "w5a8")
    x, y = data.load(cfg, "val")
    pred = predict_classes(model, x, cfg["evaluate"]["batch_size"])
    sc = metrics.scores(metrics.confusion_matrix(y, pred, cfg["model"]["num_classes"]))
    rec["keras"] = {"pixel_accuracy": sc["pixel_accuracy"], "miou": sc["miou"], "frames": int(len(x)),
                    "provenance": "Keras inference (TensorFlow, CPU), validation split, void ignored"}
    if spec["csim"]["enabled"]:
        t1 = time.time()
        from . import csim

        rep = csim.run(cfg, frames=spec["csim"]["frames"], workers=1, progress=False)
        rec["csim"] = {k: v for k, v in rep.items() if isinstance(v, (int, float, str, bool)) or v is None}
        rec["timings"]["csim_s"] = time.time() - t1
    t1 = time.time()
    from ..hw import estimator as est

    res = None
    if spec["vendor"]:
        from ..hw import vendor_reports
        from .import_report import synthesize

        if vendor_reports.vendor_tool():
            res = synthesize(cfg, model)
    if res is None:
        res = est.estimate(cfg, model=model)
    rec["hw"] = {"provenance": res["provenance"], **{k: res["totals"][k] for k in ("LUT", "FF", "BRAM36", "DSP")},
                 "interval_ms": res.get("interval_ms"), "latency_ms": res.get("latency_ms"), "fits": res.get("fits"),
                 "mults": res["totals"].get("mults")}
    rec["timings"]["estimate_s"] = time.time() - t1
    rec["timings"]["total_s"] = time.time() - t0
    rec["config"] = {"weight_bits": cfg["quant"]["weight_bits"], "act_bits": cfg["quant"]["act_bits"],
                     "width_multiplier": cfg["model"]["width_multiplier"], "reuse_factor": cfg["hls"]["reuse_factor"],
                     "reuse_factors": cfg["hls"]["reuse_factors"], "strategy": cfg["hls"]["strategy"],
                     "output_head": cfg["hls"]["output_head"], "fold_batchnorm": cfg["hls"]["fold_batchnorm"]}
    del np
    return rec


# ---------------------------------------------------------------------------------------------------------------------
# driver
def run(spec: dict, scheduler: str | None = None, workers: int | None = None, progress: bool = True) -> dict:
    """Run (or resume) a sweep. Returns a summary dict; writes results.jsonl / results.md / pareto.png."""
    from dask.distributed import Client, LocalCluster, as_completed

    t0 = time.time()
    out = Path(spec["build_dir"])
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.jsonl"
    done = {r["key"] for r in read_results(results_path)}
    base = _base_user(spec)
    todo = []
    for pt in expand(spec):
        cfg, key = resolve_point(spec, pt, base)
        if key not in done:
            todo.append((pt, cfg, key))
    n_all = len(expand(spec))
    summary = {"points": n_all, "skipped": n_all - len(todo), "computed": 0, "failed": [], "build_dir": str(out)}
    if todo:
        scheduler = scheduler or spec.get("scheduler")
        cluster = None
        if scheduler:
            client = Client(scheduler)
        else:
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
            cluster = LocalCluster(n_workers=workers or spec["workers"], threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=40,
                                   local_directory=str(out / "dask-worker-space"))
            client = Client(cluster)
        try:
            floats = {}
            if spec["train"]["mode"] == "finetune":
                for pt, cfg, key in todo:
                    fk = float_key(cfg)
                    if fk not in floats:
                        floats[fk] = client.submit(train_float_task, cfg, str(out / "float" / fk), key=f"float-{fk}",
                                                   pure=False)
            futs = {}
            for pt, cfg, key in todo:
                fck = floats.get(float_key(cfg)) if floats else None
                futs[client.submit(point_task, spec, pt, cfg, key, fck, key=f"point-{key}", pure=False)] = key
            bar = None
            if progress:
                from tqdm import tqdm

                bar = tqdm(total=n_all, initial=summary["skipped"], desc="sweep", unit="point")
            for fut in as_completed(list(futs)):
                key = futs[fut]
                try:
                    rec = fut.result()
                except Exception as e:  # a point failing does not stop the sweep; it is retried next run
                    summary["failed"].append({"key": key, "error": f"{type(e).__name__}: {str(e)[:300]}"})
                    if bar:
                        bar.update(1)
                    continue
                rec["finished_at"] = time.time()
                append_result(results_path, rec)
                summary["computed"] += 1
                if bar:
                    bar.update(1)
            if bar:
                bar.close()
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    recs = read_results(results_path)
    (out / "results.md").write_text(to_markdown(recs, spec))
    if recs:
        pts = expand(spec)
        part = resolve_point(spec, pts[0])[0]["hls"]["part"] if pts else None
        plot_pareto(recs, out / "pareto.png", part)
    summary["wall_s"] = time.time() - t0
    summary["results"] = str(results_path)
    return summary


# ---------------------------------------------------------------------------------------------------------------------
# reports
def pareto_front(recs, x_key: str) -> list[dict]:
    """Points not dominated in (lower x, higher mIoU)."""
    pts = sorted(recs, key=lambda r: (r["hw"][x_key], -r["keras"]["miou"]))
    front, best = [], -1.0
    for r in pts:
        if r["keras"]["miou"] > best:
            front.append(r)
            best = r["keras"]["miou"]
    return front


def _label(r):
    c = r["config"]
    rf = "RF*" if c.get("reuse_factors") else f"RF{c['reuse_factor']}"
    bn = " BNfold" if c.get("fold_batchnorm") else ""
    return f"W{c['weight_bits']}A{c['act_bits']} x{c['width_multiplier']:g} {rf}{bn}"


def plot_pareto(recs, path: Path, part: str | None = None):
    """mIoU vs LUT (log scale) / BRAM36 / ms per frame, Pareto fronts in red; the part's capacity (LUT, BRAM36) and
    the 5 ms/frame target as dashed lines. Hardware axes are labelled with their provenance (estimate or vendor)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..hw.parts import part_capacity

    est = "estimate" in recs[0]["hw"]["provenance"]
    try:
        cap = part_capacity(part) if part else None
    except UserError:  # a part without a capacity table: no capacity lines
        cap = None
    fig, axs = plt.subplots(1, 3, figsize=(15, 4.8))
    for ax, (k, lab) in zip(axs, (("LUT", "LUT"), ("BRAM36", "BRAM36"), ("interval_ms", "ms / frame at the clock"))):
        xs = [r["hw"][k] for r in recs]
        ys = [100 * r["keras"]["miou"] for r in recs]
        ax.scatter(xs, ys, s=25, c=["#2ca02c" if r["hw"].get("fits") else "#1f77b4" for r in recs], zorder=3)
        for r, x_, y_ in zip(recs, xs, ys):
            ax.annotate(_label(r), (x_, y_), fontsize=6, xytext=(3, 2), textcoords="offset points")
        fr = pareto_front(recs, k)
        ax.plot([r["hw"][k] for r in fr], [100 * r["keras"]["miou"] for r in fr], "r--", lw=1, label="Pareto front")
        if cap and k in cap:
            ax.axvline(cap[k], color="k", ls=":", lw=1, label=f"{part} capacity")
        if k == "interval_ms":
            ax.axvline(5.0, color="k", ls=":", lw=1, label="5 ms/frame")
        if k == "LUT":
            ax.set_xscale("log")
        ax.set_xlabel(f"{lab} ({'estimate' if est else 'vendor report'})")
        ax.set_ylabel("mIoU % (Keras, validation)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle("Accuracy vs resources (green: fits the part) -- hardware axes: "
                 + ("estimate, not synthesis (docs/estimate.md)" if est else "vendor reports"), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def to_markdown(recs, spec=None) -> str:
    lines = ["# Sweep results", ""]
    if recs:
        lines += [f"Hardware columns: **{recs[0]['hw']['provenance']}**. Accuracy: Keras inference on the validation "
                  "split (void ignored). `*` = on the mIoU-vs-LUT Pareto front.", ""]
    lines += ["| point | pixel acc % | mIoU % | csim bit-exact | LUT | FF | BRAM36 | DSP | ms/frame | fits | "
              "point wall s |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    front = {r["key"] for r in pareto_front(recs, "LUT")} if recs else set()
    for r in sorted(recs, key=lambda r: r["hw"]["LUT"]):
        cs = r.get("csim") or {}
        be = next((cs[k] for k in ("bit_exact_fraction", "logits_bit_exact_fraction", "bit_exact") if k in cs), None)
        hw = r["hw"]
        lines.append(
            f"| {_label(r)}{' *' if r['key'] in front else ''} | {100 * r['keras']['pixel_accuracy']:.2f} | "
            f"{100 * r['keras']['miou']:.2f} | {'-' if be is None else f'{100 * be:.1f} %'} | {hw['LUT']:,} | "
            f"{hw['FF']:,} | {hw['BRAM36']:,} | {hw['DSP']} | "
            f"{hw['interval_ms']:.2f} | {'yes' if hw['fits'] else 'no'} | {r['timings']['total_s']:.0f} |")
    return "\n".join(lines) + "\n"


def register_cli(add):
    def cmd_sweep(args):  # the positional is the sweep spec, not a build config: bypass the config loader
        spec = load_spec(args.config)
        if args.build_dir:
            from ..config import check_build_dir

            check_build_dir(args.build_dir, args.config, "build_dir (--build-dir)")
            spec["build_dir"] = args.build_dir
        s = run(spec, args.scheduler, args.workers, not args.no_progress)
        print(f"[sweep] {s['points']} points: {s['computed']} computed, {s['skipped']} already done, "
              f"{len(s['failed'])} failed, {s['wall_s']:.0f} s; {s['results']}")
        for f in s["failed"]:
            print(f"[sweep] failed {f['key']}: {f['error']}")
        return 1 if s["failed"] else 0

    sp = add("sweep", cmd_sweep, "accuracy-vs-resource sweep from SWEEP.yaml (hls4ml_configs/sweep_*.yaml) on Dask; "
             "resumable; results.jsonl, results.md, pareto.png in the sweep's build_dir")
    sp.set_defaults(fn=cmd_sweep)
    sp.add_argument("--scheduler", metavar="ADDRESS", help="existing Dask scheduler (default: a local cluster)")
    sp.add_argument("--workers", type=int, help="local cluster workers (default: the spec's `workers`)")
    sp.add_argument("--no-progress", action="store_true")
