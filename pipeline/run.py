"""``unet-fsic run``: the whole flow in one command, with stages cached by content.

A stage is a transaction. Its key is the SHA-256 of the config sections it reads, the keys of the stages it depends
on, and the package version. Before a stage runs, its record and those of every stage depending on it are deleted;
only after it finished is ``{key, summary, seconds, outputs}`` written to ``<build_dir>/.stages/<stage>.json``
(atomically), where ``outputs`` are content hashes of what later stages read (``Stage.outputs``). A stage counts as
cached only when its key matches *and* those outputs still hash the same -- a changed, half-written or deleted output
means "run", never "cached". ``--from STAGE`` re-runs that stage and everything after it, ``--only STAGE`` just that
one. A failing or interrupted stage stops the run with one clear line; earlier stages' records and outputs stay.
"""
from __future__ import annotations

import hashlib
import json
import time

from .build import REPO, BuildDir
from .errors import UserError
from .guard import content_hash
from .stages import Stage, convert, cosim, csim, estimate, evaluate, firmware, train, wrap

VERSION = "0.1.0"


def stages() -> list[Stage]:
    """The pipeline, in order: one stage module each (pipeline/stages/)."""
    return [m.STAGE for m in (train, evaluate, convert, csim, wrap, cosim, firmware, estimate)]


# --- caching ----------------------------------------------------------------------------------------------------------
def _section(cfg, dotted):
    v = cfg
    for part in dotted.split("."):
        v = v.get(part) if isinstance(v, dict) else None
    return v


def stage_key(stage: Stage, cfg: dict, dep_keys: dict[str, str]) -> str:
    payload = {"stage": stage.name, "version": VERSION, "config": {s: _section(cfg, s) for s in stage.sections},
               "deps": {d: dep_keys[d] for d in stage.deps},
               "inputs": {i: content_hash(REPO, i) for i in stage.inputs}}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _record_path(cfg, name):
    return BuildDir.of(cfg).stage_record(name)


def output_hashes(cfg, st: Stage) -> dict[str, str | None]:
    """Content hash of each output a stage declares (a file, a directory tree, or a glob of files)."""
    root = BuildDir.of(cfg).root
    return {o: content_hash(root, o) for o in st.outputs}


def dependents(name: str) -> list[str]:
    """``name`` and every stage that (transitively) reads its outputs, in pipeline order."""
    hit, out = {name}, []
    for st in stages():
        if st.name in hit or any(d in hit for d in st.deps):
            hit.add(st.name)
            out.append(st.name)
    return out


def invalidate(cfg, name: str) -> None:
    """Before a stage starts: its record and its dependents' records go first, so an interrupted or failed stage
    never leaves a record that describes outputs it was rewriting."""
    for n in dependents(name):
        _record_path(cfg, n).unlink(missing_ok=True)


def load_record(cfg, name) -> dict | None:
    p = _record_path(cfg, name)
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None


def _write_record(cfg, name, rec):
    from keras_model.model_io import save_json

    save_json(_record_path(cfg, name), rec)


# --- the run ----------------------------------------------------------------------------------------------------------
def plan(cfg: dict, from_stage: str | None = None, only: str | None = None) -> list[dict]:
    """What ``run`` would do, stage by stage, without running anything: ``{stage, key, action, reason, record}`` with
    action ``run`` (key changed / no record / output missing / forced), ``cached``, or ``skip`` (``--only`` another
    stage; such a stage must be up to date)."""
    all_stages = stages()
    names = [s.name for s in all_stages]
    for opt, val in (("--from", from_stage), ("--only", only)):
        if val is not None and val not in names:
            raise UserError(f"{opt} {val}: unknown stage (stages: {', '.join(names)})")
    force = set(names[names.index(from_stage):]) if from_stage else set()
    if only:
        force = {only}
    keys: dict[str, str] = {}
    rerun: set[str] = set()
    out = []
    for st in all_stages:
        key = stage_key(st, cfg, keys)
        keys[st.name] = key
        rec = load_record(cfg, st.name)
        changed = [] if rec is None else [o for o, h in output_hashes(cfg, st).items()
                                          if (rec.get("outputs") or {}).get(o, "-") != h]
        if rec is None:
            action, reason = "run", "no record"
        elif rec.get("key") != key:
            action, reason = "run", "inputs changed"
        elif changed:
            action, reason = "run", f"output changed or missing: {changed[0]}"
        else:
            action, reason = "cached", "up to date"
        if st.name in force and action == "cached":
            action, reason = "run", "forced (--from/--only)"
        redo = [d for d in st.deps if d in rerun]
        if redo and action == "cached" and only is None:
            action, reason = "run", f"{redo[0]} re-runs"
        if action == "run":
            rerun.add(st.name)
        if only is not None and st.name != only:
            if action != "cached":
                raise UserError(f"--only {only}: stage '{st.name}' it depends on is not up to date "
                                f"(run `unet-fsic run` or `--from {st.name}` first)")
            action = "skip"
        out.append({"stage": st.name, "key": key, "action": action, "reason": reason, "record": rec, "st": st})
    return out


def run(cfg: dict, from_stage: str | None = None, only: str | None = None, report: bool = True) -> dict:
    steps = plan(cfg, from_stage, only)
    from tqdm import tqdm

    results: list[dict] = []
    t_all = time.time()
    n = len(steps)
    bar = tqdm(total=n, desc="unet-fsic run", unit="stage", position=0, leave=True, disable=None,
               bar_format="{desc}: {n_fmt}/{total_fmt} stages |{bar:20}| {elapsed}")
    failed = None
    for i, step in enumerate(steps, 1):
        st, rec, key = step["st"], step["record"], step["key"]
        if step["action"] in ("cached", "skip"):
            if step["action"] == "cached":
                tqdm.write(f"[{i}/{n}] {st.name}: cached ({st.headline(rec['summary'])})")
            results.append({"stage": st.name, "status": "cached", "seconds": rec.get("seconds", 0.0),
                            "headline": st.headline(rec["summary"]), "summary": rec["summary"]})
            bar.update(1)
            continue
        tqdm.write(f"[{i}/{n}] {st.name}: running ({step['reason']})")
        invalidate(cfg, st.name)
        t0 = time.time()
        try:
            summary = st.run(cfg)
        except UserError as e:
            failed = (st.name, str(e))
        except Exception as e:  # an internal failure: still one clear line, earlier stages intact
            failed = (st.name, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        if failed:
            results.append({"stage": st.name, "status": "FAILED", "seconds": time.time() - t0,
                            "headline": failed[1]})
            break
        dt = time.time() - t0
        _write_record(cfg, st.name, {"key": key, "summary": summary, "seconds": dt, "finished": time.time(),
                                     "outputs": output_hashes(cfg, st)})
        results.append({"stage": st.name, "status": "ran", "seconds": dt, "headline": st.headline(summary),
                        "summary": summary})
        tqdm.write(f"[{i}/{n}] {st.name}: done in {dt:.0f} s ({st.headline(summary)})")
        bar.update(1)
    bar.close()
    out = {"build_dir": cfg["build_dir"], "stages": results, "seconds": time.time() - t_all,
           "all_cached": all(r["status"] == "cached" for r in results) and not failed}
    if report and not failed:
        from . import report as report_mod

        paths = report_mod.write(cfg, {r["stage"]: r for r in results})
        out["report"] = [str(p) for p in paths]
    print_summary(out)
    if failed:
        raise UserError(f"stage '{failed[0]}' failed: {failed[1]} (earlier stages are kept; fix and re-run, "
                        f"or `unet-fsic run CONFIG --from {failed[0]}`)")
    return out


def print_plan(steps: list[dict]) -> None:
    w = max(len(s["stage"]) for s in steps)
    for s in steps:
        print(f"{s['stage']:<{w}}  {'would run' if s['action'] == 'run' else s['action']:<9}  {s['reason']}")


def print_summary(out: dict):
    # a cached stage shows the time it took when it ran
    rows = [(r["stage"], r["status"], f"{r['seconds']:.1f} s", r.get("headline", "")) for r in out["stages"]]
    w = [max(len(x[i]) for x in rows + [("stage", "status", "time", "result")]) for i in range(3)]
    print()
    print(f"{'stage':<{w[0]}}  {'status':<{w[1]}}  {'time':>{w[2]}}  result")
    print(f"{'-' * w[0]}  {'-' * w[1]}  {'-' * w[2]}  ------")
    for s, st, t, h in rows:
        print(f"{s:<{w[0]}}  {st:<{w[1]}}  {t:>{w[2]}}  {h}")
    if out["all_cached"]:
        print(f"\nevery stage was cached ({out['seconds']:.1f} s)")
    else:
        print(f"\ntotal {out['seconds']:.0f} s")
    for p in out.get("report", []):
        print(f"report: {p}")


def register_cli(add):
    def cmd(args, cfg):
        if args.dry_run:
            print_plan(plan(cfg, from_stage=args.from_stage, only=args.only_stage))
            return 0
        run(cfg, from_stage=args.from_stage, only=args.only_stage)
        return 0

    sp = add("run", cmd, "the whole flow: train, evaluate, convert, csim, wrap, cosim, firmware, estimate, report; "
                         "stages cached by content")
    sp.add_argument("--from", dest="from_stage", metavar="STAGE", help="re-run from this stage on")
    sp.add_argument("--only", dest="only_stage", metavar="STAGE", help="re-run just this stage")
    sp.add_argument("--dry-run", action="store_true",
                    help="print which stages would run and why (nothing is run or written)")


__all__ = ["run", "plan", "stages", "stage_key", "register_cli"]
