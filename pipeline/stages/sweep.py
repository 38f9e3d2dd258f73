"""Accuracy-vs-resource sweeps within FSIC's USER_PRJ0 budget, on Dask (``unet-fsic sweep SWEEP.yaml``; docs/sweep.md).

A sweep spec (``hls4ml_configs/sweep_*.yaml``, validated here, one-line errors naming the key) names a base build
config, overrides applied to every point, and axes. The cartesian product of the axes (plus any explicit ``points``)
gives the points; each point's *resolved* build config is hashed (sha256 of its canonical JSON + the per-point
settings) to its key.

Axes (and keys of explicit ``points``): width_multiplier, weight_bits, act_bits, frame_ms, reuse (an RF, or
{reuse_factor, reuse_factors, strategy, name}), output_head, fold_batchnorm. ``frame_ms`` is the frame-interval target
in ms at the IP clock (``target.ip_clock``; FSIC's 5 MHz bus clock by default): it sets ``hls.reuse_factor: auto``
(per-layer RFs chosen by :mod:`pipeline.hw.budget`; the base config's per-layer RFs are dropped) and
``target.frame_interval_ms``; ``fastest`` (or null) = auto without a target, i.e. the fastest interval whose design
fits USER_PRJ0's budget. ``frame_ms`` and ``reuse`` both choose the reuse factors: a point takes one of them.

Per point (in a Dask worker, TF limited to one thread): W5A8 QAT, fine-tuned from a float checkpoint (``train.mode:
finetune``; one float model per float-training identity, :func:`float_key`) or from scratch (``train.mode: qat``) --
one Dask task per training identity (:func:`qat_key`), so points that differ only in hls / target settings (RF mode,
frame_ms, output head) share one training; Keras pixel accuracy and mIoU on the validation split; the hardware numbers
of :func:`pipeline.hw.budget.assess` (the estimate of the build as it will be converted, judged against USER_PRJ0's
budget at the nominal estimate and at its upper error bound; frame time at the IP clock) or, with ``vendor: true`` and
a vendor tool on PATH, synthesis numbers judged against the same budget (no estimate error); with ``csim.enabled``
the C simulation on the first ``csim.frames`` validation frames: bit-exact fraction vs Keras, and mIoU / pixel
accuracy of the C model's classes next to Keras' on exactly those frames. A point whose frame-interval target no
reuse factor can meet, or whose "fastest that fits" search finds no design that fits, is recorded as *infeasible*
with the one-line reason (its Keras accuracy is still measured).

Durability: every finished point is appended by the client to ``<build_dir>/results.jsonl`` as one line written with
``flock`` + ``write`` + ``fsync``; re-running skips every key already in the file, and a worker killed mid-point loses
only that point (Dask re-runs it on a surviving worker; if the whole sweep is killed, the next run recomputes only the
missing points). Outputs: ``results.jsonl``, ``results.md`` (table + the Pareto front within budget,
:func:`to_markdown`) and ``pareto.png`` (mIoU vs LUT / BRAM36 / DSP / frame ms, :func:`pareto_figure`).
"""
from __future__ import annotations

import copy
import fcntl
import hashlib
import itertools
import json
import math
import os
import shutil
import tempfile
import time
from pathlib import Path

from ..build import BuildDir
from ..errors import ConfigError, UserError

AXES = ("width_multiplier", "weight_bits", "act_bits", "frame_ms", "reuse", "output_head", "fold_batchnorm")
SPEC_KEYS = {"base_config", "build_dir", "overrides", "axes", "points", "train", "csim", "vendor", "workers",
             "scheduler", "description"}
MAX_POINTS = 1000  # points of one sweep (each one is a QAT training)
FASTEST = "fastest"  # frame_ms: no target, the fastest interval that fits
MAX_FRAME_MS = 1e6  # as target.frame_interval_ms
RESOURCES = ("LUT", "FF", "BRAM36", "DSP")


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
    out["axes"], out["points"] = _check_axes(spec, file), _check_points(spec, file)
    n_points = math.prod(len(v) for v in out["axes"].values()) if out["axes"] else 0
    if n_points + len(out["points"]) > MAX_POINTS:
        _fail(file, "axes" if n_points > MAX_POINTS else "points",
              f"{n_points} axis combinations + {len(out['points'])} points, at most {MAX_POINTS}")
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


def _frame_ms_ok(v) -> bool:
    if v is None or v == FASTEST:
        return True
    return (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            and 0 < v <= MAX_FRAME_MS)


def _check_frame_ms(file, key, v):
    from ..config import short

    if not _frame_ms_ok(v):
        _fail(file, key, f"expected '{FASTEST}', null or a frame-interval target in ms at the IP clock in "
                         f"(0, {MAX_FRAME_MS:g}], got {short(v)}")


def _check_axes(spec: dict, file: str) -> dict:
    from ..config import short

    axes = spec.get("axes") or {}
    if not isinstance(axes, dict):
        _fail(file, "axes", "expected a mapping axis -> list of values")
    for k, v in axes.items():
        if k not in AXES:
            _fail(file, f"axes.{k}", f"unknown axis (known: {', '.join(AXES)})")
        if not isinstance(v, list) or not v:
            _fail(file, f"axes.{k}", f"expected a non-empty list, got {short(v)}")
    for v in axes.get("frame_ms", []):
        _check_frame_ms(file, "axes.frame_ms", v)
    if "frame_ms" in axes and "reuse" in axes:
        _fail(file, "axes.frame_ms", "frame_ms and reuse both choose the reuse factors: use one of the two axes")
    return axes


def _check_points(spec: dict, file: str) -> list:
    from ..config import short

    pts = spec.get("points") or []
    if not isinstance(pts, list):
        _fail(file, "points", "expected a list of {axis: value} mappings")
    for i, pt in enumerate(pts):
        if not isinstance(pt, dict):
            _fail(file, f"points[{i}]", f"expected a mapping, got {short(pt)}")
        for k in pt:
            if k not in AXES:
                _fail(file, f"points[{i}].{k}", f"unknown axis (known: {', '.join(AXES)})")
        if "frame_ms" in pt:
            _check_frame_ms(file, f"points[{i}].frame_ms", pt["frame_ms"])
            if "reuse" in pt:
                _fail(file, f"points[{i}].frame_ms", "frame_ms and reuse both choose the reuse factors: set one")
    return pts


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


def _frame_override(v) -> tuple[dict, dict]:
    """``frame_ms`` axis value -> (hls update, target update): auto RFs with that target ('fastest' / null: none)."""
    ms = None if v in (None, FASTEST) else float(v)
    return {"reuse_factor": "auto", "reuse_factors": {}}, {"frame_interval_ms": ms, "frame_interval_cycles": None}


def _point_update(point: dict, tr: dict) -> dict:
    """The build-config update of one point (axes) and the sweep's training settings."""
    upd: dict = {}
    for axis, (sec, key) in {"weight_bits": ("quant", "weight_bits"), "act_bits": ("quant", "act_bits"),
                             "width_multiplier": ("model", "width_multiplier"),
                             "output_head": ("hls", "output_head"),
                             "fold_batchnorm": ("hls", "fold_batchnorm")}.items():
        if axis in point:
            upd.setdefault(sec, {})[key] = point[axis]
    if "reuse" in point:
        ro = _reuse_override(point["reuse"])
        if ro:
            upd.setdefault("hls", {}).update(ro)
    if "frame_ms" in point:
        h, t = _frame_override(point["frame_ms"])
        upd.setdefault("hls", {}).update(h)
        upd["target"] = t
    if tr["qat_epochs"] is not None:
        upd.setdefault("train", {}).setdefault("qat", {})["epochs"] = tr["qat_epochs"]
    if tr["float_epochs"] is not None:
        upd.setdefault("train", {}).setdefault("float", {})["epochs"] = tr["float_epochs"]
    upd.setdefault("train", {}).setdefault("qat", {})["init"] = "float" if tr["mode"] == "finetune" else "scratch"
    return upd


def resolve_point(spec, point: dict, base_user: dict | None = None) -> tuple[dict, str]:
    """(validated build config, key) of one point. The config's build_dir is ``<sweep>/points/<key>``."""
    from ..config import deep_update, public, validate

    user = copy.deepcopy(base_user if base_user is not None else _base_user(spec))
    upd = _point_update(point, spec["train"])
    user = deep_update(user, upd)
    if "reuse_factors" in upd.get("hls", {}) and not upd["hls"]["reuse_factors"]:
        user["hls"]["reuse_factors"] = {}  # an RF for the whole model (or auto) replaces the per-layer ones
    user["build_dir"] = "<point>"
    cfg = validate(user, spec.get("_file", "<sweep>"))
    ident = {"config": public(cfg), "csim": spec["csim"], "vendor": spec["vendor"], "mode": spec["train"]["mode"]}
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
    that differ only in hls / target settings such as the reuse factor, frame_ms or the output head)."""
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


def train_qat_task(spec: dict, cfg: dict, float_ckpt: str | None) -> dict:
    """The W5A8 (QAT) training of ``cfg``'s training identity, once: ``<sweep>/qat/<qat_key>/`` holds the finished
    train directory (published atomically; an existing one is reused). Returns {dir, trained, train_s}."""
    t0 = time.time()
    _worker_env()
    cache = Path(spec["build_dir"]) / "qat" / qat_key(cfg)
    if (cache / "w5a8_model.h5").is_file():
        return {"dir": str(cache), "trained": False, "train_s": 0.0}
    from keras_model import train

    cache.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=cache.parent, prefix=".work-"))
    try:
        c = copy.deepcopy(cfg)
        c["build_dir"], c["train"]["verbose"] = str(work), 0
        tdir = BuildDir.of(c).train
        tdir.mkdir(parents=True, exist_ok=True)
        if float_ckpt:
            shutil.copyfile(float_ckpt, tdir / "float_model.h5")
        train.run(c, ("w5a8",))
        try:
            os.replace(tdir, cache)  # atomic publish; a concurrent identical training may have won the race
        except OSError:
            pass
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"dir": str(cache), "trained": True, "train_s": time.time() - t0}


def point_task(spec: dict, point: dict, cfg: dict, key: str, float_ckpt: str | None, qat: dict | None = None) -> dict:
    """Evaluate + judge (+ csim) one point; returns its record (the client appends it). ``qat``: the result of
    :func:`train_qat_task` for this point's training identity (None: run it here)."""
    t0 = time.time()
    _worker_env()
    from keras_model import data, metrics, train
    from keras_model.evaluate import predict_classes

    cfg = copy.deepcopy(cfg)
    cfg["train"]["verbose"] = 0
    if qat is None:
        qat = train_qat_task(spec, cfg, float_ckpt)
    tdir = BuildDir.of(cfg).train
    tdir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(qat["dir"], tdir, dirs_exist_ok=True)  # the shared QAT checkpoint (and its float parent)
    rec: dict = {"key": key, "point": point, "pid": os.getpid(), "qat_cache": "miss" if qat["trained"] else "hit",
                 "qat": {"key": qat_key(cfg), "trained_in_this_run": qat["trained"], "train_s": qat["train_s"]},
                 "timings": {"train_s": time.time() - t0}, "config": _config_record(cfg)}
    model = train.load_trained(cfg, "w5a8")
    x, y = data.load(cfg, "val")
    pred = predict_classes(model, x, cfg["evaluate"]["batch_size"])
    sc = metrics.scores(metrics.confusion_matrix(y, pred, cfg["model"]["num_classes"]))
    rec["keras"] = {"pixel_accuracy": sc["pixel_accuracy"], "miou": sc["miou"], "frames": int(len(x)),
                    "provenance": "Keras inference (TensorFlow, CPU), validation split, void ignored"}
    t1 = time.time()
    try:
        rec["hw"], rec["reuse"], cfg_hw = hardware(spec, cfg, model)
    except UserError as e:  # no reuse factor meets the target / nothing fits: a result, not a failure
        from ..config import oneline

        rec["hw"], rec["reuse"], cfg_hw = None, {"mode": "auto"}, None
        rec["infeasible"] = oneline(e, 300)
    rec["timings"]["estimate_s"] = time.time() - t1
    if spec["csim"]["enabled"] and cfg_hw is not None:
        t1 = time.time()
        rec["csim"] = csim_point(spec, cfg_hw, x, y, pred)
        rec["timings"]["csim_s"] = time.time() - t1
    rec["timings"]["total_s"] = time.time() - t0
    return rec


def _config_record(cfg) -> dict:
    return {"weight_bits": cfg["quant"]["weight_bits"], "act_bits": cfg["quant"]["act_bits"],
            "width_multiplier": cfg["model"]["width_multiplier"], "reuse_factor": cfg["hls"]["reuse_factor"],
            "reuse_factors": cfg["hls"]["reuse_factors"], "strategy": cfg["hls"]["strategy"],
            "output_head": cfg["hls"]["output_head"], "fold_batchnorm": cfg["hls"]["fold_batchnorm"],
            "part": cfg["hls"]["part"], "frame_interval_ms": cfg["target"]["frame_interval_ms"],
            "frame_interval_cycles": cfg["target"]["frame_interval_cycles"], "ip_clock": cfg["target"]["ip_clock"],
            "fit_at": cfg["target"]["fit_at"]}


def hardware(spec: dict, cfg: dict, model) -> tuple[dict, dict, dict]:
    """(hw record, reuse record, the config with the reuse factors resolved) of one point: :func:`budget.assess`, or
    with ``vendor: true`` and a vendor tool on PATH the synthesis totals judged against the same budget with no
    estimate error. Raises :class:`UserError` when ``hls.reuse_factor: auto`` finds no design (infeasible)."""
    from ..hw import budget

    res = budget.assess(cfg, model=model)
    reuse = {k: v for k, v in res["reuse"].items() if k != "search"}
    reuse["search_steps"] = len(res["reuse"].get("search") or [])
    cfg_hw = budget.with_reuse_factors(cfg, res["reuse"]["reuse_factors"]) if reuse["mode"] == "auto" else cfg
    fit = {"upper_factors": budget.upper_factors(), **res["fit"]}
    hw = _hw_record(res["provenance"], res["totals"], res["expected_error"], res["budget"], fit, res["timing"])
    if spec["vendor"]:
        from ..hw import vendor_reports
        from .import_report import synthesize

        if vendor_reports.vendor_tool():
            rep = synthesize(cfg_hw, model)  # judged against the same budget, with no error band (factor 1)
            fit = rep.get("fit") or budget.judge(rep["totals"], res["budget"], {k: 1.0 for k in RESOURCES})
            tm = rep.get("timing") or budget.timing(cfg, res["interval_cycles"], res.get("latency_cycles"))
            hw = _hw_record(rep["provenance"], rep["totals"], {}, res["budget"], {**fit, "upper_factors": {
                k: 1.0 for k in RESOURCES}}, tm)
            hw["cycles_from"] = "vendor report" if rep.get("timing") else "estimate"
    return hw, reuse, cfg_hw


def _hw_record(provenance, totals, expected_error, bud, fit, tm) -> dict:
    """The point's hardware record: totals, USER_PRJ0's budget and the fit (nominal, and at the upper bound = nominal x
    ``upper_factors``), the frame interval at the IP clock and the bus time."""
    return {"provenance": provenance, **{k: totals[k] for k in RESOURCES}, "mults": totals.get("mults"),
            "expected_error": {k: v for k, v in expected_error.items() if isinstance(v, (int, float))},
            "upper_factors": dict(fit["upper_factors"]), "budget": dict(bud["available"]), "part": bud["part"],
            "fits_nominal": fit["fits_nominal"], "fits_upper": fit["fits_upper"], "fits": fit["fits_nominal"],
            "use_of_budget": fit["use_of_budget"], "use_of_budget_upper": fit["use_of_budget_upper"],
            "upper": fit["upper"], "limiting": fit["limiting"],
            **{k: tm.get(k) for k in ("ip_clock", "ip_clock_mhz", "bus_clock_mhz", "interval_cycles", "interval_ms",
                                      "latency_ms", "bus_ms", "frame_ms")}}


def csim_point(spec: dict, cfg_hw: dict, x, y, keras_pred) -> dict:
    """C simulation of the point's converted project on the first ``csim.frames`` validation frames: the csim stage's
    fidelity figures (bit-exact logits, argmax agreement vs Keras) plus mIoU / pixel accuracy of the C model's classes
    and of Keras' (:func:`keras_model.evaluate.predict_classes`) on exactly those frames."""
    import numpy as np

    from keras_model import metrics

    from ..hls.cmodel import predict_csim
    from ..hls.project import convert
    from . import csim

    n = min(int(spec["csim"]["frames"]), len(x))
    conv = convert(cfg_hw)
    rep = csim.run(cfg_hw, frames=n, conversion=conv, workers=1, progress=False)
    out = np.asarray(predict_csim(conv.hls_model, x[:n], workers=1))
    shape = tuple(y[:n].shape)
    c_pred = (out.reshape(shape) if conv.output_head == "argmax" else np.argmax(out.reshape(shape + (-1,)), axis=-1))
    ncls = cfg_hw["model"]["num_classes"]
    sc_c = metrics.scores(metrics.confusion_matrix(y[:n], c_pred.astype(np.int64), ncls))
    sc_k = metrics.scores(metrics.confusion_matrix(y[:n], keras_pred[:n], ncls))
    keep = ("frames", "logits_bit_exact_fraction", "frames_bit_exact", "max_abs_diff_lsb", "argmax_agreement",
            "passed", "output_head")
    return {**{k: rep[k] for k in keep}, "miou": sc_c["miou"], "pixel_accuracy": sc_c["pixel_accuracy"],
            "keras_miou": sc_k["miou"], "keras_pixel_accuracy": sc_k["pixel_accuracy"],
            "provenance": "hls4ml C simulation (g++) vs Keras on the first frames of the validation split"}


# ---------------------------------------------------------------------------------------------------------------------
# driver
def _plan(spec) -> tuple[list, int]:
    """(points still to compute as (point, config, key), number of points of the spec)."""
    done = {r["key"] for r in read_results(Path(spec["build_dir"]) / "results.jsonl")}
    base = _base_user(spec)
    pts = expand(spec)
    todo = []
    for pt in pts:
        cfg, key = resolve_point(spec, pt, base)
        if key not in done:
            todo.append((pt, cfg, key))
    return todo, len(pts)


def _submit(client, spec, todo) -> dict:
    """Float trainings (finetune mode), one QAT training per training identity, then the points; {future: key}."""
    out = Path(spec["build_dir"])
    floats, qats, futs = {}, {}, {}
    for pt, cfg, key in todo:
        fk = float_key(cfg)
        if spec["train"]["mode"] == "finetune" and fk not in floats:
            floats[fk] = client.submit(train_float_task, cfg, str(out / "float" / fk), key=f"float-{fk}", pure=False)
        qk = qat_key(cfg)
        if qk not in qats:
            qats[qk] = client.submit(train_qat_task, spec, cfg, floats.get(fk), key=f"qat-{qk}", pure=False)
        futs[client.submit(point_task, spec, pt, cfg, key, None, qats[qk], key=f"point-{key}", pure=False)] = key
    return futs


def _collect(futs: dict, results_path: Path, summary: dict, bar) -> None:
    from dask.distributed import as_completed

    for fut in as_completed(list(futs)):
        key = futs[fut]
        try:
            rec = fut.result()
        except Exception as e:  # a point failing does not stop the sweep; it is retried next run
            summary["failed"].append({"key": key, "error": f"{type(e).__name__}: {str(e)[:300]}"})
        else:
            rec["finished_at"] = time.time()
            append_result(results_path, rec)
            summary["computed"] += 1
        if bar:
            bar.update(1)


def run(spec: dict, scheduler: str | None = None, workers: int | None = None, progress: bool = True) -> dict:
    """Run (or resume) a sweep. Returns a summary dict; writes results.jsonl / results.md / pareto.png."""
    from dask.distributed import Client, LocalCluster

    t0 = time.time()
    out = Path(spec["build_dir"])
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.jsonl"
    todo, n_all = _plan(spec)
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
        bar = None
        try:
            futs = _submit(client, spec, todo)
            if progress:
                from tqdm import tqdm

                bar = tqdm(total=n_all, initial=summary["skipped"], desc="sweep", unit="point")
            _collect(futs, results_path, summary, bar)
        finally:
            if bar:
                bar.close()
            client.close()
            if cluster is not None:
                cluster.close()
    recs = read_results(results_path)
    write_reports(recs, out, spec)
    summary["infeasible"] = sum(1 for r in recs if r.get("infeasible"))
    summary["wall_s"] = time.time() - t0
    summary["results"] = str(results_path)
    return summary


def write_reports(recs: list[dict], out: Path, spec: dict | None = None) -> None:
    """``results.md`` always; ``pareto.png`` when there is a record."""
    (Path(out) / "results.md").write_text(to_markdown(recs, spec))
    if recs:
        plot_pareto(recs, Path(out) / "pareto.png")


# ---------------------------------------------------------------------------------------------------------------------
# reports
FIT_CLASSES = ("fits at the upper bound", "fits nominal only", "does not fit", "infeasible")
_STYLE = {FIT_CLASSES[0]: ("o", "#2ca02c"), FIT_CLASSES[1]: ("s", "#ff7f0e"), FIT_CLASSES[2]: ("D", "#d62728")}
_SHORT = dict(zip(FIT_CLASSES, ("upper", "nominal", "no", "infeasible")))


def fit_class(r: dict) -> str:
    """One of :data:`FIT_CLASSES`: fits USER_PRJ0's budget at the upper error bound (hence also nominally), at the
    nominal estimate only, not at all, or no design (infeasible)."""
    hw = r.get("hw")
    if r.get("infeasible") or not hw:
        return FIT_CLASSES[3]
    if not hw.get("fits_nominal", hw.get("fits")):
        return FIT_CLASSES[2]
    return FIT_CLASSES[0] if hw.get("fits_upper") else FIT_CLASSES[1]


def pareto_within_budget(recs: list[dict]) -> list[dict]:
    """The Pareto front within USER_PRJ0's budget, ordered by LUT.

    Candidates: the points with hardware numbers (not infeasible) that fit the budget at the nominal estimate
    (``hw.fits_nominal``). Each candidate is the vector (LUT, frame interval in ms at the IP clock = ``hw.interval_ms``,
    Keras validation mIoU = ``keras.miou``). Candidate *a* dominates *b* iff a.LUT <= b.LUT and a.interval_ms <=
    b.interval_ms and a.miou >= b.miou, with at least one of the three strict. The front is every candidate no other
    candidate dominates (points equal in all three are all kept)."""
    cand = [r for r in recs if fit_class(r) in FIT_CLASSES[:2]]

    def vec(r):
        return (r["hw"]["LUT"], r["hw"]["interval_ms"], -r["keras"]["miou"])

    def dominates(a, b):
        va, vb = vec(a), vec(b)
        return all(x <= y for x, y in zip(va, vb)) and va != vb

    front = [b for b in cand if not any(dominates(a, b) for a in cand)]
    return sorted(front, key=vec)


def _rf_label(c: dict) -> str:
    if c.get("reuse_factor") == "auto":
        if c.get("frame_interval_ms") is not None:
            return f"auto {c['frame_interval_ms']:g} ms"
        if c.get("frame_interval_cycles") is not None:
            return f"auto {c['frame_interval_cycles']:,} cyc"
        return "auto fastest"
    return "RF per-layer" if c.get("reuse_factors") else f"RF {c.get('reuse_factor')}"


def _sort_key(r: dict):
    c = r.get("config") or {}
    if c.get("reuse_factor") == "auto":
        t = c.get("frame_interval_ms")
        mode = (0, 0.0) if t is None and c.get("frame_interval_cycles") is None else (
            (1, float(t)) if t is not None else (2, float(c["frame_interval_cycles"])))
    else:
        mode = (4, 0.0) if c.get("reuse_factors") else (3, float(c.get("reuse_factor") or 0))
    return (float(c.get("width_multiplier", 1.0)), c.get("weight_bits", 0), c.get("act_bits", 0),
            str(c.get("output_head")), bool(c.get("fold_batchnorm")), mode, r.get("key", ""))


def numbered(recs: list[dict]) -> list[tuple[int, dict]]:
    """(number, record) in a fixed order (width, W, A, head, BN, RF mode / target): the numbers of the table and of
    the plot's markers."""
    return [(i + 1, r) for i, r in enumerate(sorted(recs, key=_sort_key))]


def _label(r) -> str:
    c = r["config"]
    extra = (" BNfold" if c.get("fold_batchnorm") else "") + (" logits" if c.get("output_head") == "logits" else "")
    return f"x{c['width_multiplier']:g} W{c['weight_bits']}A{c['act_bits']} {_rf_label(c)}{extra}"


def _prov(recs) -> str:
    kinds = {"estimate" if "estimate" in r["hw"]["provenance"] else "vendor report" for r in recs if r.get("hw")}
    return " / ".join(sorted(kinds)) or "none"


def _ms(v) -> str:
    if v is None:
        return "-"
    return f"{v:,.0f}" if v >= 100 else (f"{v:.1f}" if v >= 1 else f"{v:.3f}")


def _res_cell(hw, k) -> str:
    use = hw.get("use_of_budget", {}).get(k)
    val = f"{hw[k]:,}" if isinstance(hw[k], int) else f"{hw[k]:,.1f}"
    return val if use is None else f"{val} ({'inf' if use == math.inf else f'{100 * use:.0f}'} %)"


def _md_intro(recs, spec) -> list[str]:
    hw = [r["hw"] for r in recs if r.get("hw") and "budget" in r["hw"]]  # (records of older sweeps have no budget)
    lines = [spec["description"], ""] if spec and spec.get("description") else []
    first = next((r["hw"] for r in recs if r.get("hw")), None)
    lines.append(f"Hardware columns: **{_prov(recs)}**" + (f" ({first['provenance']})" if first else "") + ".")
    if hw:
        b = hw[0]["budget"]
        fac = hw[0].get("upper_factors") or {}
        lines += [
            f"Resources as numbers and in % of **USER_PRJ0's budget** on {hw[0]['part']} ("
            + ", ".join(f"{k} {b[k]:,g}" for k in RESOURCES)
            + ": capacity x target.max_utilization - target.reserved, the FSIC platform; docs/budget.md).",
            "Fits: at the **nominal** estimate and at its **upper** error bound (nominal x "
            + ", ".join(f"{k} {float(fac[k]):.2f}" for k in RESOURCES if k in fac)
            + ": the calibration's largest reported / estimate ratio, docs/estimate.md; a vendor report has no "
            "error band).",
            f"Frame ms: the frame interval at the IP clock ({hw[0]['ip_clock']}, {hw[0]['ip_clock_mhz']:g} MHz); "
            "bus ms: the frame's words in + out on the bus at one word per cycle."]
    lines += ["Accuracy: Keras inference on the validation split (void ignored). csim: hls4ml C simulation on the "
              "first n validation frames, with Keras' mIoU on exactly those n frames in brackets; bit-exact: "
              "fraction of logits equal to Keras'.",
              "`*` after # = on the Pareto front within budget (below). Numbers # are the markers of pareto.png.", ""]
    return lines


def _md_row(i, r, front) -> str:
    c, hw, cs = r["config"], r.get("hw"), r.get("csim")
    rf = _rf_label(c)
    if r.get("reuse", {}).get("target_cycles") and c.get("reuse_factor") == "auto":
        rf += f" ({r['reuse']['target_cycles']:,} cyc)"
    csim = "-" if not cs else f"{100 * cs['miou']:.2f} ({100 * cs['keras_miou']:.2f}, n={cs['frames']})"
    be = "-" if not cs else f"{100 * cs['logits_bit_exact_fraction']:.1f}"
    cells = [f"{i}{' *' if r['key'] in front else ''}", f"{c['width_multiplier']:g}",
             f"W{c['weight_bits']}A{c['act_bits']}", rf, f"{100 * r['keras']['miou']:.2f}", csim, be]
    if hw:
        yes = {True: "yes", False: "no", None: "-"}
        cells += [_res_cell(hw, k) for k in RESOURCES]
        cells += [_ms(hw.get("interval_ms")), _ms(hw.get("bus_ms")),
                  yes[hw.get("fits_nominal", hw.get("fits"))], yes[hw.get("fits_upper")]]
    else:
        cells += ["-"] * 6 + ["**infeasible**", "-"]
    cells.append(f"{r['timings']['total_s']:.0f}")
    return "| " + " | ".join(cells) + " |"


def to_markdown(recs, spec=None) -> str:
    """results.md: every point (numbered as in pareto.png), the Pareto front within budget, the infeasible points."""
    lines = ["# Sweep results", ""] + _md_intro(recs, spec)
    clocks = {(r["hw"].get("ip_clock"), r["hw"].get("ip_clock_mhz")) for r in recs if r.get("hw")}
    clock = (f"frame ms @ {next(iter(clocks))[1]:g} MHz" if len(clocks) == 1 and None not in next(iter(clocks))
             else "frame ms @ IP clock")
    head = ["#", "width", "W/A", "RF mode / target", "Keras mIoU %", "csim mIoU % (Keras, same frames)",
            "csim bit-exact %", *(f"{k} (% budget)" for k in RESOURCES), clock, "bus ms", "fits nominal", "fits upper",
            "point s"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * 16]
    front = pareto_within_budget(recs)
    keys = {r["key"] for r in front}
    num = numbered(recs)
    lines += [_md_row(i, r, keys) for i, r in num]
    ids = {r["key"]: i for i, r in num}
    lines += ["", "## Pareto front within budget", "",
              "The points that fit USER_PRJ0's budget at the nominal estimate and that no other such point dominates "
              "in (lower LUT, lower frame interval at the IP clock, higher Keras mIoU): *a* dominates *b* iff "
              "a.LUT <= b.LUT, a.frame_ms <= b.frame_ms and a.mIoU >= b.mIoU, at least one strictly.", ""]
    if front:
        lines += [f"| # | point | Keras mIoU % | LUT (% budget) | {clock} | fits upper |", "|---|---|---|---|---|---|"]
        lines += [f"| {ids[r['key']]} | {_label(r)} | {100 * r['keras']['miou']:.2f} | {_res_cell(r['hw'], 'LUT')} | "
                  f"{_ms(r['hw']['interval_ms'])} | {'yes' if r['hw'].get('fits_upper') else 'no'} |" for r in front]
    else:
        lines.append("No point fits USER_PRJ0's budget at the nominal estimate: the front is empty.")
    inf = [(i, r) for i, r in num if fit_class(r) == FIT_CLASSES[3]]
    if inf:
        lines += ["", "## Infeasible points", ""] + [f"- #{i} {_label(r)}: {r.get('infeasible', 'no hardware numbers')}"
                                                     for i, r in inf]
    return "\n".join(lines) + "\n"


_PANELS = (("LUT", "LUT"), ("BRAM36", "BRAM36"), ("DSP", "DSP"), ("interval_ms", "frame interval, ms at the IP clock"))


_NUM_PT = 7.5  # height of the digits on the markers, in points


def _label_width(lab: str, h: float) -> float:
    """Width of a number label whose digits are ``h`` high (DejaVu Sans: a digit ~0.87 h wide, a comma ~0.45 h)."""
    return h * (0.87 * sum(c.isdigit() for c in lab) + 0.45 * lab.count(","))


def _clusters(xy_px, ids, h_px: float) -> list[tuple[tuple[float, float], list[int]]]:
    """Merge numbered points whose number labels (digits ``h_px`` high, centred on the display positions ``xy_px``)
    would overlap, until none does: [((x, y) display centre of the group, [numbers])]. One "1,2" marker per group
    replaces numbers drawn over each other."""
    groups = [[[k], [i]] for k, i in enumerate(ids)]

    def centre(g):
        return (sum(xy_px[k][0] for k in g[0]) / len(g[0]), sum(xy_px[k][1] for k in g[0]) / len(g[0]))

    def overlap(a, b):
        (xa, ya), (xb, yb) = centre(a), centre(b)
        wa, wb = (_label_width(",".join(map(str, g[1])), h_px) for g in (a, b))
        return abs(xa - xb) < (wa + wb) / 2 + 3 and abs(ya - yb) < h_px + 3

    merged = True
    while merged:
        merged = False
        for a, b in itertools.combinations(groups, 2):
            if overlap(a, b):
                a[0], a[1] = a[0] + b[0], sorted(a[1] + b[1])
                groups.remove(b)
                merged = True
                break
    return [(centre(g), g[1]) for g in groups]


def _numbers(ax, pts) -> None:
    """Draw each point's number ``(i, x, y)`` as a marker (a mathtext path, not a text artist), after the layout is
    final; labels that would overlap are merged into one (:func:`_clusters`) at their centre."""
    if not pts:
        return
    ax.set_autoscale_on(False)
    h_px = _NUM_PT * ax.figure.dpi / 72
    xy = ax.transData.transform([(x, y) for _, x, y in pts])
    for (cx, cy), group in _clusters([tuple(p) for p in xy], [i for i, _, _ in pts], h_px):
        lab = ",".join(map(str, group))
        x, y = ax.transData.inverted().transform((cx, cy))
        size = max(_NUM_PT, _label_width(lab, _NUM_PT))  # a mathtext marker is scaled to max(width, height)
        ax.scatter([x], [y], s=size ** 2, marker=f"${lab}$", color="k", linewidths=0, zorder=5, clip_on=False)


def _panel(ax, k: str, name: str, shown, front: set, prov: str) -> list:
    """One panel: mIoU vs ``hw[k]``; marker shape / colour = fit class, a ring on the Pareto front within budget,
    whiskers from nominal to the upper error bound, the budget as a vertical dashed line. Returns the (number, x, y)
    of its points for :func:`_numbers`."""
    from matplotlib import ticker

    for cls, (mk, col) in _STYLE.items():
        pts = [r for _, r in shown if fit_class(r) == cls]
        if pts:
            ax.scatter([r["hw"][k] for r in pts], [100 * r["keras"]["miou"] for r in pts], s=260, marker=mk,
                       facecolor=col, edgecolor=col, alpha=0.35, zorder=3)
    for _, r in shown:
        x, y = r["hw"][k], 100 * r["keras"]["miou"]
        if k == "interval_ms":
            up = x * (1 + float((r["hw"].get("expected_error") or {}).get("cycles", 0.0)))
        else:
            up = x * float((r["hw"].get("upper_factors") or {}).get(k, 1.0))
        if up > x:
            ax.errorbar([x], [y], xerr=[[0], [up - x]], fmt="none", ecolor="0.45", elinewidth=1, capsize=3, zorder=2)
        if r["key"] in front:
            ax.scatter([x], [y], s=520, marker="o", facecolor="none", edgecolor="k", linewidths=1.3, zorder=4)
    bud = shown[0][1]["hw"].get("budget", {}) if shown else {}
    if k in bud:
        ax.axvline(bud[k], color="k", ls="--", lw=1.2, zorder=1)
    xs = [r["hw"][k] for _, r in shown]
    log = k in ("LUT", "interval_ms") and bool(xs) and min(xs) > 0 and max(xs) / min(xs) > 20
    if log:
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(ticker.LogLocator(subs=(1, 2, 5)))
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:,g}"))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.margins(x=0.07, y=0.08)
    ax.set_xlabel(f"{name} ({prov})")
    ax.set_ylabel("mIoU % (Keras, validation)")
    ax.grid(alpha=0.3)
    return [(i, r["hw"][k], 100 * r["keras"]["miou"]) for i, r in shown]


def _side_table(ax, num, front: set) -> None:
    ax.axis("off")
    csim = any(r.get("csim") for _, r in num)
    rows = []
    for i, r in num:
        hw = r.get("hw") or {}
        use = (hw.get("use_of_budget") or {}).get("LUT")
        rows.append([f"{i}{'*' if r['key'] in front else ''}", _label(r),
                     f"{100 * r['keras']['miou']:.1f}" + (f" / {100 * r['csim']['miou']:.1f}" if r.get("csim") else ""),
                     "-" if use is None else f"{100 * use:.0f}", _ms(hw.get("interval_ms")), _SHORT[fit_class(r)]])
    cols = ["#", "point (width, bits, RF)", "mIoU %" + (" K/csim" if csim else ""), "LUT %", "frame ms", "fits"]
    h = min(1.0, 0.032 * (len(rows) + 1))
    tab = ax.table(cellText=rows, colLabels=cols, cellLoc="left", colLoc="left",
                   colWidths=[0.06, 0.37, 0.19, 0.11, 0.12, 0.15], bbox=[0, 1 - h, 1, h])
    tab.auto_set_font_size(False)
    tab.set_fontsize(8 if len(rows) <= 40 else 6)
    shade = {"upper": "#e6f4e6", "nominal": "#fdebd3", "no": "#f8dede"}
    for (row, col), cell in tab.get_celld().items():
        cell.set_linewidth(0.3)
        if row == 0:
            cell.set_facecolor("0.9")
        elif col == 5 and rows[row - 1][5] in shade:
            cell.set_facecolor(shade[rows[row - 1][5]])
    ax.set_title("# = the number on the markers; * = on the Pareto front within budget\nLUT % = % of USER_PRJ0's "
                 "LUT budget; frame ms at the IP clock\nfits: upper = at the upper error bound, nominal = nominal only",
                 fontsize=8, loc="left")


def pareto_figure(recs: list[dict]):
    """The figure of pareto.png: four panels (mIoU vs LUT, BRAM36, DSP, frame interval at the IP clock), the points
    as numbered markers whose key is the table beside them (no text labels in the panels), one figure legend.
    Infeasible points are left out of the panels (they are in the table)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    num = numbered(recs)
    shown = [(i, r) for i, r in num if r.get("hw")]
    front = {r["key"] for r in pareto_within_budget(recs)}
    prov = _prov(recs)
    fig = plt.figure(figsize=(17, 10))
    gs = fig.add_gridspec(2, 3, width_ratios=[1, 1, 1.1])
    panels = []
    for n, (k, name) in enumerate(_PANELS):
        ax = fig.add_subplot(gs[n // 2, n % 2])
        panels.append((ax, _panel(ax, k, name, shown, front, prov)))
    _side_table(fig.add_subplot(gs[:, 2]), num, front)
    handles = [Line2D([], [], marker=mk, ls="", color=col, alpha=0.5, ms=11, label=f"{cls} (USER_PRJ0 budget)")
               for cls, (mk, col) in _STYLE.items()]
    handles += [Line2D([], [], marker="o", ls="", mfc="none", mec="k", ms=15, label="Pareto front within budget (*)"),
                Line2D([], [], color="k", ls="--", label="USER_PRJ0 budget = capacity x max_utilization - FSIC")]
    if "estimate" in prov:
        handles.append(Line2D([], [], color="0.45", marker="|", ms=8,
                              label="estimate: nominal -> upper bound (frame: + the cycles error)"))
    fig.legend(handles=handles, loc="lower left", ncol=3, fontsize=9, frameon=False, bbox_to_anchor=(0.02, 0.0))
    n_inf = len(num) - len(shown)
    fig.suptitle(f"Accuracy vs USER_PRJ0 resources and frame time, {len(num)} points (hardware: "
                 + ("estimate, not synthesis -- docs/estimate.md" if prov == "estimate" else prov) + ")"
                 + (f"; {n_inf} infeasible point(s) not plotted (table, results.md)" if n_inf else ""), fontsize=11)
    fig.tight_layout(rect=(0, 0.06, 1, 0.97))
    for ax, pts in panels:  # the numbers last: their overlap is judged on the final layout
        _numbers(ax, pts)
    return fig


def plot_pareto(recs: list[dict], path: Path) -> None:
    import matplotlib.pyplot as plt

    fig = pareto_figure(recs)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def register_cli(add):
    def cmd_sweep(args):  # the positional is the sweep spec, not a build config: bypass the config loader
        spec = load_spec(args.config)
        if args.build_dir:
            from ..config import check_build_dir

            check_build_dir(args.build_dir, args.config, "build_dir (--build-dir)")
            spec["build_dir"] = args.build_dir
        s = run(spec, args.scheduler, args.workers, not args.no_progress)
        print(f"[sweep] {s['points']} points: {s['computed']} computed, {s['skipped']} already done, "
              f"{len(s['failed'])} failed ({s['infeasible']} recorded infeasible), {s['wall_s']:.0f} s; "
              f"{s['results']}")
        for f in s["failed"]:
            print(f"[sweep] failed {f['key']}: {f['error']}")
        return 1 if s["failed"] else 0

    sp = add("sweep", cmd_sweep, "accuracy-vs-hardware sweep within FSIC's USER_PRJ0 budget from SWEEP.yaml "
             "(hls4ml_configs/sweep_*.yaml; docs/sweep.md) on Dask; resumable; results.jsonl, results.md, pareto.png "
             "in the sweep's build_dir")
    sp.set_defaults(fn=cmd_sweep)
    sp.add_argument("--scheduler", metavar="ADDRESS", help="existing Dask scheduler (default: a local cluster)")
    sp.add_argument("--workers", type=int, help="local cluster workers (default: the spec's `workers`)")
    sp.add_argument("--no-progress", action="store_true")
