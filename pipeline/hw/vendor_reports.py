"""Vendor report parsers: Vivado/Vitis HLS csynth (XML and text) and Vivado ``report_utilization``, combined by
:func:`import_report` into the same schema as :func:`pipeline.hw.estimator.estimate` (``totals`` LUT/FF/BRAM36/DSP,
``utilization``, ``fits``, ``interval_*``, ``latency_*``, ``provenance``). Used by ``unet-fsic import-report`` and
``unet-fsic estimate --synth`` (:mod:`pipeline.stages.import_report`).

Post-synthesis utilization (Vivado) wins over the HLS estimate (csynth) for resources when both exist; latency and
interval always come from csynth.
"""
from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

from ..errors import UserError

VENDOR_TOOLS = ("vitis_hls", "vivado_hls", "vitis-run")


def vendor_tool() -> str | None:
    for t in VENDOR_TOOLS:
        if shutil.which(t):
            return t
    return None


def _num(s):
    s = str(s).strip().replace(",", "")
    try:
        return int(s)
    except ValueError:
        try:
            return float(s)
        except ValueError:
            return None


# ---------------------------------------------------------------------------------------------------------------------
def parse_csynth_xml(path) -> dict:
    """Vivado HLS / Vitis HLS ``<top>_csynth.xml``."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise UserError(f"{path}: not a valid csynth XML ({e})") from None

    def txt(p):
        el = root.find(p)
        return el.text.strip() if el is not None and el.text else None

    res = root.find("AreaEstimates/Resources")
    avail = root.find("AreaEstimates/AvailableResources")
    if res is None:
        raise UserError(f"{path}: no AreaEstimates/Resources in csynth XML")

    def rd(node):
        d = {c.tag: _num(c.text) for c in node} if node is not None else {}
        dsp = d.get("DSP48E", d.get("DSP"))
        return {"LUT": d.get("LUT"), "FF": d.get("FF"), "BRAM18": d.get("BRAM_18K"), "DSP": dsp, "URAM": d.get("URAM")}

    r, a = rd(res), rd(avail)
    lat = _num(txt("PerformanceEstimates/SummaryOfOverallLatency/Worst-caseLatency"))
    ii = _num(txt("PerformanceEstimates/SummaryOfOverallLatency/Interval-max"))
    return {
        "source": "csynth.xml", "tool_version": txt("ReportVersion/Version"), "part": txt("UserAssignments/Part"),
        "top": txt("UserAssignments/TopModelName"), "clock_ns": _num(txt("UserAssignments/TargetClockPeriod")),
        "estimated_clock_ns": _num(txt("PerformanceEstimates/SummaryOfTimingAnalysis/EstimatedClockPeriod")),
        "latency_cycles": lat, "interval_cycles": ii, "resources": r,
        "available": a,
    }


_ROW = re.compile(r"^\s*\|(.+)\|\s*$")


def _table_rows(lines, start):
    """Rows (lists of stripped cells) of the ASCII table starting at/after line ``start``."""
    rows, i, seen = [], start, 0
    while i < len(lines):
        ln = lines[i]
        if ln.strip().startswith("+"):
            seen += 1
            i += 1
            continue
        m = _ROW.match(ln)
        if not m:
            if seen:
                break
            i += 1
            continue
        rows.append([c.strip() for c in m.group(1).split("|")])
        i += 1
    return rows


def parse_csynth_rpt(path) -> dict:
    """Vivado HLS / Vitis HLS ``<top>_csynth.rpt`` (text): timing, latency summary, utilization totals, instances."""
    lines = Path(path).read_text(errors="replace").splitlines()
    out = {"source": "csynth.rpt", "instances": []}
    for ln in lines:
        m = re.search(r"\* Version:\s*(\S+)", ln)
        if m:
            out["tool_version"] = m.group(1)
        m = re.search(r"\* (?:Target device|Part):\s*(\S+)", ln)
        if m:
            out["part"] = m.group(1)
        m = re.search(r"== (?:Vivado|Vitis) HLS Report for '([^']+)'", ln)
        if m:
            out["top"] = m.group(1)
        m = re.match(r"\s*\|ap_clk\s*\|\s*([\d.]+)\s*ns\s*\|\s*([\d.]+)\s*ns", ln)
        if m:
            out["clock_ns"], out["estimated_clock_ns"] = float(m.group(1)), float(m.group(2))
    # latency summary: first table after "+ Latency:" whose first data row is numeric
    for i, ln in enumerate(lines):
        if ln.strip().startswith("+ Latency"):
            for row in _table_rows(lines, i + 1):
                if row and _num(row[0]) is not None:
                    out["latency_cycles"] = _num(row[1])
                    out["interval_cycles"] = _num(row[5]) if len(row) > 5 else None
                    break
            break
    # utilization summary
    for i, ln in enumerate(lines):
        if ln.strip().startswith("== Utilization Estimates"):
            rows = _table_rows(lines, i + 1)
            hdr = rows[0]
            idx = {h: j for j, h in enumerate(hdr)}
            for row in rows[1:]:
                if row[0] in ("Total", "Available"):
                    d = {"BRAM18": _num(row[idx["BRAM_18K"]]),
                         "DSP": _num(row[idx.get("DSP48E", idx.get("DSP", 2))]),
                         "FF": _num(row[idx["FF"]]), "LUT": _num(row[idx["LUT"]])}
                    out["resources" if row[0] == "Total" else "available"] = d
            # per-instance detail
            for k in range(i, len(lines)):
                if lines[k].strip().startswith("* Instance:"):
                    rows = _table_rows(lines, k + 1)
                    h = rows[0]
                    col = {x: j for j, x in enumerate(h)}
                    for row in rows[1:]:
                        if row[0] in ("Total", ""):
                            continue
                        out["instances"].append({
                            "instance": row[0], "module": row[1],
                            "BRAM18": _num(row[col["BRAM_18K"]]), "DSP": _num(row[col.get("DSP48E", col.get("DSP"))]),
                            "FF": _num(row[col["FF"]]), "LUT": _num(row[col["LUT"]])})
                    break
            break
    if "resources" not in out:
        raise UserError(f"{path}: no utilization summary found (not a csynth report?)")
    return out


def parse_vivado_utilization(path) -> dict:
    """Vivado ``report_utilization`` text (hls4ml's ``vivado_synth.rpt``)."""
    txt = Path(path).read_text(errors="replace")

    def used(label):
        m = re.search(r"^\|\s*" + re.escape(label) + r"\s*\|\s*([\d.]+)\s*\|\s*\d+\s*\|\s*([\d.]*)\s*\|", txt, re.M)
        if not m:
            return None, None
        return _num(m.group(1)), _num(m.group(2)) if m.group(2) else None

    lut, lut_a = used("Slice LUTs*")
    if lut is None:
        lut, lut_a = used("Slice LUTs")
    if lut is None:
        lut, lut_a = used("CLB LUTs*")
    ff, ff_a = used("Slice Registers")
    if ff is None:
        ff, ff_a = used("CLB Registers")
    bram, bram_a = used("Block RAM Tile")
    dsp, dsp_a = used("DSPs")
    if lut is None or bram is None:
        raise UserError(f"{path}: not a Vivado report_utilization file (no 'Slice LUTs' / 'Block RAM Tile' rows)")
    m = re.search(r"\|\s*Device\s*:\s*(\S+)", txt)
    v = re.search(r"Tool Version\s*:\s*(Vivado v\.\S+)", txt)
    return {"source": "vivado report_utilization", "part": m.group(1) if m else None,
            "tool_version": v.group(1) if v else None,
            "resources": {"LUT": lut, "FF": ff, "BRAM36": bram, "DSP": dsp},
            "available": {"LUT": lut_a, "FF": ff_a, "BRAM36": bram_a, "DSP": dsp_a}}


# ---------------------------------------------------------------------------------------------------------------------
def import_report(directory, config=None) -> dict:
    """Combine the reports found under ``directory`` into the estimator's schema."""
    d = Path(directory)
    if not d.is_dir():
        raise UserError(f"{directory}: no such report directory")
    xmls = sorted(d.rglob("*csynth.xml"))
    rpts = sorted(d.rglob("*csynth.rpt"))
    utils = sorted(p for p in d.rglob("*.rpt") if "synth" in p.name and "csynth" not in p.name
                   or "utilization" in p.name)
    # prefer the top-level report (shortest name) when per-module reports are present
    hls = None
    if xmls:
        hls = parse_csynth_xml(min(xmls, key=lambda p: len(p.name)))
        if rpts:
            hls["instances"] = parse_csynth_rpt(min(rpts, key=lambda p: len(p.name))).get("instances", [])
    elif rpts:
        hls = parse_csynth_rpt(min(rpts, key=lambda p: len(p.name)))
    viv = parse_vivado_utilization(utils[0]) if utils else None
    if hls is None and viv is None:
        raise UserError(f"{directory}: no csynth (*csynth.xml / *csynth.rpt) or Vivado utilization report found")
    sources = []
    totals, cap = {}, {}
    if viv:
        totals = dict(viv["resources"])
        cap = {k: v for k, v in viv["available"].items() if v}
        sources.append(f"Vivado synth utilization ({viv.get('tool_version') or 'Vivado'})")
    elif hls:
        r = hls["resources"]
        totals = {"LUT": r["LUT"], "FF": r["FF"], "BRAM36": (r["BRAM18"] or 0) / 2, "DSP": r["DSP"]}
        a = hls.get("available") or {}
        if a.get("LUT"):
            cap = {"LUT": a["LUT"], "FF": a["FF"], "BRAM36": (a["BRAM18"] or 0) / 2, "DSP": a["DSP"]}
    if hls:
        sources.append(f"HLS csynth ({hls.get('tool_version') or '?'})")
    part = (hls or {}).get("part") or (viv or {}).get("part") or (config or {}).get("hls", {}).get("part")
    if not cap and part:
        from .parts import part_capacity

        try:
            cap = part_capacity(part if part.startswith("x") else "x" + part)
        except UserError:
            cap = {}
    clock = (hls or {}).get("clock_ns") or ((config or {}).get("hls", {}).get("clock_period"))
    lat, ii = (hls or {}).get("latency_cycles"), (hls or {}).get("interval_cycles")
    out = {
        "provenance": "vendor report (" + "; ".join(sources) + f"; imported from {d})",
        "part": part, "capacity": cap, "clock_ns": clock,
        "totals": totals,
        "utilization": {k: totals[k] / cap[k] for k in ("LUT", "FF", "BRAM36", "DSP")
                        if cap.get(k) and totals.get(k) is not None},
        "fits": all(totals.get(k) is not None and totals[k] <= cap[k] for k in cap) if cap else None,
        "interval_cycles": ii, "latency_cycles": lat,
        "interval_ms": ii * clock * 1e-6 if ii and clock else None,
        "latency_ms": lat * clock * 1e-6 if lat and clock else None,
        "estimated_clock_ns": (hls or {}).get("estimated_clock_ns"),
        "layers": (hls or {}).get("instances", []),
        "hls": hls, "vivado": viv,
    }
    return out


def to_markdown(rep: dict) -> str:
    t, cap = rep["totals"], rep.get("capacity") or {}
    lines = [f"# Vendor report — {rep.get('part')}", "", f"All figures: **{rep['provenance']}**.", "",
             "| resource | used | capacity |", "|---|---|---|"]
    for k in ("LUT", "FF", "BRAM36", "DSP"):
        lines.append(f"| {k} | {t.get(k)} | {cap.get(k, '-')} |")
    if rep.get("fit"):
        b, f = rep["budget"]["available"], rep["fit"]
        lines += ["", "USER_PRJ0 budget (docs/budget.md): " + ", ".join(f"{k} {b[k]:,g}" for k in b)
                  + f" -> fits: **{'yes' if f['fits_nominal'] else 'NO'}** (vendor numbers, no error band)."]
    if rep.get("timing"):
        tm = rep["timing"]
        lines += ["", f"At the IP clock ({tm['ip_clock']}, {tm['ip_clock_mhz']:g} MHz): {tm['interval_ms']:.3f} "
                  f"ms/frame; the frame on the bus: {tm['bus_ms']:.3f} ms at {tm['bus_clock_mhz']:g} MHz."]
    if rep.get("interval_ms") is not None:
        lines += ["", f"Interval {rep['interval_cycles']:,} cycles = {rep['interval_ms']:.4f} ms; latency "
                  f"{rep['latency_cycles']:,} cycles = {rep['latency_ms']:.4f} ms at {rep['clock_ns']} ns "
                  f"(estimated clock {rep.get('estimated_clock_ns')} ns)."]
    return "\n".join(lines) + "\n"
