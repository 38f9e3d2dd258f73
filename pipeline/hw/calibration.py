"""Calibration of the offline estimator (:mod:`pipeline.hw.estimator`) against published hls4ml builds (issue #13).

``calibration_points.yaml`` holds the published vendor results of real hls4ml builds, each with its source, and each
network as a list of estimator layer specs. This module

- models a point with the estimator's own code (:func:`model_point`: :func:`~pipeline.hw.estimator.compute_layer`
  per process, :func:`~pipeline.hw.estimator.design_totals` for the totals), in both equivalents: ``hls`` (what
  csynth reports) and ``vivado`` (what Vivado synthesis / placement reports);
- fits the estimator's fitted constants (:func:`fit_constants`): each one is a median (or, for the Vivado / csynth
  ratios, a geometric mean) of a per-process or per-design ratio of reported numbers -- no optimiser;
- measures the error leave-one-out (:func:`error_table`): every point is predicted with constants fitted on the
  other points only, and its relative error ``(estimate - reported) / max(reported, 1)`` is reported per quantity
  (LUT, FF, BRAM36, DSP, interval, latency); the overall figures are the median and the maximum |error|.

``EXPECTED_ERROR`` of the estimator (what every estimate carries) is the maximum |leave-one-out error| of the
Vivado-synthesis equivalent over the points with a Vivado result (LUT, FF, BRAM36, DSP) and of the csynth interval
over the points whose interval is modelled (cycles). Commands::

    python -m pipeline.hw.calibration --write      # refit; write calibration_error.json and the docs' tables
    python -m pipeline.hw.calibration --markdown   # print the error table (docs/estimate.md, BENCHMARKS.md)
    python -m pipeline.hw.calibration --check      # exit 1 when calibration_error.json is not what the code computes
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

import yaml

from . import estimator as E

POINTS_FILE = Path(__file__).with_name("calibration_points.yaml")
ERROR_FILE = E.CALIBRATION_FILE
DOCS = Path(__file__).resolve().parents[2] / "docs"
DOC_TABLES = (DOCS / "estimate.md", DOCS / "calibration" / "table.md", DOCS.parent / "BENCHMARKS.md")  # where marked
BEGIN = "<!-- calibration-table:begin (python -m pipeline.hw.calibration --write) -->"
END = "<!-- calibration-table:end -->"
HLS_Q = ("LUT", "FF", "BRAM36", "DSP", "interval", "latency")
VIV_Q = ("LUT", "FF", "BRAM36", "DSP")
FIT_KEYS = ("DSP_CONST_FRACTION", "LUT_PER_DSP_MULT", "FF_PER_DSP_MULT", "LUT_PER_CONST_PRODUCT",
            "FF_PER_CONST_PRODUCT", "MAP_LUT_PER_BIT", "MAP_FF_PER_BIT", "POOL_LUT_PER_BIT", "POOL_FF_PER_BIT",
            "SOFTMAX_LUT", "SOFTMAX_FF", "SOFTMAX_BRAM18", "SOFTMAX_DSP_PER_CLASS", "SOFTMAX_INIT_LUT",
            "SOFTMAX_INIT_FF", "SOFTMAX_INIT_BRAM18", "SOFTMAX_INIT_DSP_PER_CLASS", "WRAPPER_LUT", "WRAPPER_FF",
            "WRAPPER_BRAM18", "CONV_MIN_II", "DENSE_PIPE_CYCLES", "HLS_FIFO_LUT", "HLS_FIFO_FF", "VIVADO_RATIO_LUT",
            "VIVADO_RATIO_FF", "VIVADO_RATIO_DSP")
METHOD = ("max |leave-one-out relative error| of the Vivado-synthesis equivalent over the points with a Vivado "
          "result (LUT, FF, BRAM36, DSP) and of the csynth interval (cycles)")
_PLACEHOLDER = {k: 1.0 for k in FIT_KEYS}  # geometry (mults, mapping, pixels) does not depend on the fit


def load_points(path: Path = POINTS_FILE) -> list[dict]:
    return yaml.safe_load(Path(path).read_text())["points"]


# --- one point --------------------------------------------------------------------------------------------------------
def _fifos(point: dict) -> list[dict]:
    agg = point["backend"] != "Vivado"  # Vivado HLS splits a stream into one FIFO per channel
    return [{"depth": q["depth"], "bits": q["bits"], "channels": q.get("channels", 1), "aggregate": agg}
            for q in point.get("fifos", [])]


def _pipeline_depth(row: dict) -> int:
    """Cycles a process adds to the latency of a chain when it is not the slowest one (the ``lat`` values of
    :mod:`pipeline.hw.fifo_sim`; a dense / softmax process runs to completion once its input is complete)."""
    if row["kind"] in ("conv", "convt"):
        return row["rf"] + 4
    if row["kind"] == "bn":
        return row["rf"] + 3
    if row["kind"] in ("dense", "softmax"):
        return row["cycles"] - row.get("init_cycles", 0)  # a softmax fills its tables while its input arrives
    return 0 if row["kind"] == "wrapper" else 1


def model_point(point: dict, fit: dict | None = None) -> dict:
    """The estimator's numbers for a calibration point: ``hls`` (LUT, FF, BRAM36, DSP, interval, latency) and
    ``vivado`` (LUT, FF, BRAM36, DSP), and the process ``rows``. Interval = the slowest process; latency = interval +
    the pipeline depths of the other processes (the points are chains without skip FIFOs)."""
    rows = [E.compute_layer(spec, point["strategy"], fit) for spec in point["layers"]]
    t = E.design_totals(rows, _fifos(point), fit)
    slowest = max(rows, key=lambda r: r["cycles"])
    interval = slowest["cycles"]
    latency = interval + sum(_pipeline_depth(r) for r in rows if r is not slowest)
    return {"hls": {**t["hls"], "interval": interval, "latency": latency}, "vivado": t["vivado"], "rows": rows}


def reported(point: dict) -> dict:
    """The point's vendor numbers in the estimator's units: ``hls`` (csynth; BRAM36 = ceil(BRAM18 / 2), as the
    estimator totals) and ``vivado`` (BRAM36 = Block RAM tiles = RAMB36 + RAMB18 / 2), None where absent. Quantities
    the fixture marks as not compared are left out."""
    h, v = point["reported"]["hls"], point["reported"].get("vivado")
    hls = {"LUT": h["LUT"], "FF": h["FF"], "BRAM36": math.ceil(h["BRAM18"] / 2), "DSP": h["DSP"],
           "interval": h["interval"], "latency": h["latency"]}
    for q, on in point.get("compare", {}).items():
        if on is False:
            hls.pop(q, None)
    viv = None
    if v:
        viv = {"LUT": v["LUT"], "FF": v["FF"], "DSP": v["DSP"],
               "BRAM36": v["BRAM36"] if "BRAM36" in v else v["RAMB36"] + v["RAMB18"] / 2}
    return {"hls": hls, "vivado": viv}


# --- fitting ----------------------------------------------------------------------------------------------------------
def _process_rows(points: list[dict]):
    """(point, spec, geometry row, reported csynth row) for every process with a csynth instance row."""
    for p in points:
        for spec in p["layers"]:
            if "hls" in spec:
                yield p, spec, E.compute_layer(spec, p["strategy"], _PLACEHOLDER), spec["hls"]


def _med(values: list, what: str) -> float:
    if not values:
        raise ValueError(f"calibration: no calibration data for {what}")
    return round(float(statistics.median(values)), 4)


def _pooled(pairs: list, what: str) -> float:
    """Median over points of the point's pooled ratio (sum of reported costs / sum of units over its processes of
    one category): large processes weigh more within a point, and no single point dominates."""
    per_point: dict = {}
    for pid, num, den in pairs:
        n, d = per_point.get(pid, (0.0, 0.0))
        per_point[pid] = (n + num, d + den)
    return _med([n / d for n, d in per_point.values() if d > 0], what)


def _geomean(values: list, what: str) -> float:
    if not values:
        raise ValueError(f"calibration: no calibration data for {what}")
    return round(math.exp(sum(math.log(x) for x in values) / len(values)), 4)


def _categories(points: list[dict]) -> dict:
    """Per category of process, (point id, reported row, units) for every process with a csynth instance row."""
    cat = {k: [] for k in ("dsp", "lutc", "map", "pool", "softmax", "softmax_init", "wrapper", "conv_ii", "dense")}
    for p, spec, g, r in _process_rows(points):
        kind, pid = spec["kind"], p["id"]
        if kind in ("conv", "dense") and p["strategy"] == "Latency":
            cat["dsp" if g["mapping"] == "DSP48E1" else "lutc"].append((pid, r, g["mults"]))
        if kind == "conv" and g["rf"] == 1:
            cat["conv_ii"].append((pid, r, g["px_in"]))
        if kind == "dense":
            cat["dense"].append((pid, r, int(spec.get("in_tokens", 1)) * g["rf"]))
        if kind in ("map", "pad", "clone", "concat", "pool"):
            bits = max(spec.get("cin", 1), spec.get("cout", spec.get("cin", 1))) * spec.get("a_bits", 8)
            cat["pool" if kind == "pool" else "map"].append((pid, r, bits))
        if kind == "softmax":
            cat["softmax_init" if spec.get("table_init") else "softmax"].append((pid, r, spec.get("cin", 1)))
        if kind == "wrapper":
            cat["wrapper"].append((pid, r, 1))
    return cat


def fit_constants(points: list[dict]) -> dict:
    """The estimator's fitted constants (:data:`FIT_KEYS`) from ``points`` (docs/estimate.md says what each is)."""
    c = _categories(points)

    def per_unit(name, q):
        return _pooled([(pid, r[q], n) for pid, r, n in c[name]], f"{name} {q}")

    f = {"DSP_CONST_FRACTION": per_unit("dsp", "DSP"), "LUT_PER_DSP_MULT": per_unit("dsp", "LUT"),
         "FF_PER_DSP_MULT": per_unit("dsp", "FF"), "LUT_PER_CONST_PRODUCT": per_unit("lutc", "LUT"),
         "FF_PER_CONST_PRODUCT": per_unit("lutc", "FF"), "MAP_LUT_PER_BIT": per_unit("map", "LUT"),
         "MAP_FF_PER_BIT": per_unit("map", "FF"), "POOL_LUT_PER_BIT": per_unit("pool", "LUT"),
         "POOL_FF_PER_BIT": per_unit("pool", "FF"),
         "CONV_MIN_II": _med([r["interval"] / n for _, r, n in c["conv_ii"]], "conv interval at RF 1"),
         "DENSE_PIPE_CYCLES": _med([r["interval"] - n for _, r, n in c["dense"]], "dense intervals")}
    for name, pre in (("softmax", "SOFTMAX"), ("softmax_init", "SOFTMAX_INIT"), ("wrapper", "WRAPPER")):
        for q in ("LUT", "FF", "BRAM18"):
            f[f"{pre}_{q}"] = _med([r[q] for _, r, _ in c[name]], f"{name} {q}")
        if name != "wrapper":
            f[f"{pre}_DSP_PER_CLASS"] = per_unit(name, "DSP")
    fifo = [p["reported"]["hls"]["fifo"] for p in points if "fifo" in p["reported"]["hls"]]
    f["HLS_FIFO_LUT"] = _med([q["LUT"] / q["count"] for q in fifo], "csynth FIFO rows")
    f["HLS_FIFO_FF"] = _med([q["FF"] / q["count"] for q in fifo], "csynth FIFO rows")
    both = [(p["reported"]["hls"], p["reported"]["vivado"]) for p in points if p["reported"].get("vivado")]
    for q in ("LUT", "FF", "DSP"):
        f[f"VIVADO_RATIO_{q}"] = _geomean([v[q] / h[q] for h, v in both if h[q] and v[q]], f"Vivado / csynth {q}")
    return {k: f[k] for k in FIT_KEYS}


# --- the error table --------------------------------------------------------------------------------------------------
def _rel(est: float, rep: float) -> float:
    return round((est - rep) / max(abs(rep), 1), 4)


def _point_entry(p: dict, others: list[dict]) -> dict:
    est = model_point(p, fit_constants(others))
    rep = reported(p)
    entry = {"id": p["id"], "label": p["label"], "source": p["source"], "part": p["part"],
             "hls_tool": p["hls_tool"], "vivado_stage": (p["reported"].get("vivado") or {}).get("stage"),
             "estimate": {}, "reported": {}, "error": {}}
    for level, qs in (("hls", HLS_Q), ("vivado", VIV_Q)):
        if rep[level] is None:
            continue
        qs = [q for q in qs if q in rep[level]]
        entry["estimate"][level] = {q: est[level][q] for q in qs}
        entry["reported"][level] = {q: rep[level][q] for q in qs}
        entry["error"][level] = {q: _rel(est[level][q], rep[level][q]) for q in qs}
    return entry


def _overall(entries: list[dict]) -> dict:
    out = {}
    for level, qs in (("hls", HLS_Q), ("vivado", VIV_Q)):
        out[level] = {}
        for q in qs:
            errs = [e["error"][level][q] for e in entries if q in e["error"].get(level, {})]
            ratio = [e["reported"][level][q] / max(e["estimate"][level][q], 1) for e in entries
                     if q in e["error"].get(level, {})]
            out[level][q] = {"n": len(errs), "median_abs": round(statistics.median(abs(x) for x in errs), 4),
                             "max_abs": round(max(abs(x) for x in errs), 4),
                             "max_reported_over_estimate": round(max(ratio), 4)}
    return out


def error_table(points: list[dict]) -> dict:
    """Leave-one-out error of every point and overall, the constants fitted on all points, and the estimator's
    ``expected_error`` derived from the error (see the module docstring). JSON-serialisable; deterministic."""
    entries = [_point_entry(p, [q for q in points if q is not p]) for p in points]
    overall = _overall(entries)
    v, h = overall["vivado"], overall["hls"]
    expected = {"LUT": v["LUT"]["max_abs"], "FF": v["FF"]["max_abs"], "BRAM36": v["BRAM36"]["max_abs"],
                "DSP": v["DSP"]["max_abs"], "cycles": h["interval"]["max_abs"], "points": len(points),
                "vivado_points": v["LUT"]["n"], "method": METHOD}
    return {"about": "generated by python -m pipeline.hw.calibration --write from calibration_points.yaml; "
                     "do not edit (tests/test_calibration.py recomputes it)",
            "error": "(estimate - reported) / max(reported, 1), each point predicted with constants fitted on the "
                     "other points (leave-one-out)",
            "constants": fit_constants(points), "expected_error": expected, "overall": overall, "points": entries}


# --- Markdown ---------------------------------------------------------------------------------------------------------
def _cell(entry: dict, level: str, q: str) -> str:
    if q not in entry["error"].get(level, {}):
        return "–"
    est, rep, err = entry["estimate"][level][q], entry["reported"][level][q], entry["error"][level][q]
    return f"{est:,g} / {rep:,g} ({err + 0.0 if round(err, 2) else 0.0:+.0%})"  # no "-0%"


def markdown(table: dict) -> str:
    """The per-point and overall error tables (Markdown), as docs/estimate.md and BENCHMARKS.md show them."""
    lines = ["Each cell: estimate / reported (error). Estimates are leave-one-out: constants fitted on the other "
             "points. **csynth** rows are the HLS-estimate equivalent (`totals_hls`), **Vivado** rows the "
             "Vivado-synthesis equivalent (`totals`).", "",
             "| point | equivalent | LUT | FF | BRAM36 | DSP | interval | latency |",
             "|---|---|---|---|---|---|---|---|"]
    for e in table["points"]:
        lines.append(f"| {e['id']} | csynth ({e['hls_tool']}) | "
                     + " | ".join(_cell(e, "hls", q) for q in HLS_Q) + " |")
        if "vivado" in e["error"]:
            lines.append(f"| {e['id']} | Vivado {e['vivado_stage']} | "
                         + " | ".join(_cell(e, "vivado", q) for q in VIV_Q) + " | – | – |")
    lines += ["", "| equivalent | quantity | points | median abs. error | max abs. error | max reported / estimate |",
              "|---|---|---|---|---|---|"]
    for level, name in (("hls", "csynth"), ("vivado", "Vivado")):
        for q, o in table["overall"][level].items():
            lines.append(f"| {name} | {q} | {o['n']} | {o['median_abs']:.0%} | {o['max_abs']:.0%} | "
                         f"{o['max_reported_over_estimate']:.2f} |")
    x = table["expected_error"]
    lines += ["", f"`EXPECTED_ERROR` ({x['points']} points, {x['vivado_points']} with a Vivado result; "
                  f"{x['method']}): " + ", ".join(f"{k} ±{x[k]:.0%}" for k in ("LUT", "FF", "BRAM36", "DSP", "cycles"))
              + ".", "", "Fitted constants (`FIT`, the fit on all points):", "", "| constant | value |", "|---|---|"]
    lines += [f"| `{k}` | {v:g} |" for k, v in table["constants"].items()]
    return "\n".join(lines) + "\n"


def replace_block(text: str, block: str) -> str:
    """``text`` with the generated table between the :data:`BEGIN` / :data:`END` markers replaced by ``block``."""
    a, b = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[:a] + "\n" + block + text[b:]


def write(table: dict) -> list[Path]:
    ERROR_FILE.write_text(json.dumps(table, indent=1, sort_keys=False) + "\n")
    done = [ERROR_FILE]
    for doc in DOC_TABLES:
        if doc.exists() and BEGIN in doc.read_text():
            doc.write_text(replace_block(doc.read_text(), markdown(table)))
            done.append(doc)
    return done


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipeline.hw.calibration", description=__doc__.split("\n")[0])
    ap.add_argument("--write", action="store_true", help="write calibration_error.json and the docs' tables")
    ap.add_argument("--markdown", action="store_true", help="print the error table")
    ap.add_argument("--check", action="store_true", help="exit 1 when calibration_error.json is stale")
    a = ap.parse_args(argv)
    table = json.loads(json.dumps(error_table(load_points())))
    if a.write:
        for path in write(table):
            print(f"wrote {path}")
    if a.markdown:
        print(markdown(table), end="")
    if a.check:
        ok = ERROR_FILE.exists() and json.loads(ERROR_FILE.read_text()) == table
        print("calibration_error.json is up to date" if ok else "calibration_error.json is stale: run --write")
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
