"""The build report: ``report.md`` and a self-contained ``report.html`` (images embedded) in the build directory.

Built from what the stages wrote (``evaluate/metrics.json``, ``csim/report.json``, the cosim / estimate / firmware
summaries, the register map). Every number carries its provenance: Keras, csim (g++), RTL sim (iverilog/verilator),
yosys, vendor report, or estimate. Sections whose stage did not run say so instead of showing anything.
"""
from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import yaml

from .build import REPO, BuildDir
from .config import public
from .stages import pct as _pct

# A block is one of: ("h2", text) ("p", text) ("table", header, rows) ("img", path, caption) ("pre", text)


def _load_json(p: Path):
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None


def build_blocks(cfg: dict, stages: dict) -> list[tuple]:
    bd = BuildDir.of(cfg)
    b: list[tuple] = []
    b.append(("p", f"Build directory `{bd.root}`, configuration `{cfg.get('_config_file', '?')}`. Provenance of every "
                   "number is given next to it: **Keras** (TensorFlow inference), **csim (g++)** (hls4ml C "
                   "simulation), **RTL sim** (iverilog / verilator via cocotb), **yosys**, **vendor report**, or "
                   "**estimate** (unet-fsic's model, not synthesis)."))

    # stages
    b.append(("h2", "Stages"))
    rows = [[n, r["status"], f"{r['seconds']:.1f} s", r.get("headline", "")] for n, r in stages.items()]
    b.append(("table", ["stage", "status", "time (when it ran)", "result"], rows))

    for section in (_accuracy, _csim, _cosim, _register_map, _estimate):
        b += section(bd)
    fw = stages.get("firmware", {}).get("summary")
    if fw:
        b.append(("h2", "Firmware"))
        b.append(("table", ["quantity", "value"], [[k, _fmt(v)] for k, v in fw.items() if not isinstance(v, dict)]))
    b.append(("h2", "Configuration"))
    b.append(("pre", yaml.safe_dump(public(cfg), sort_keys=False, default_flow_style=None)))
    return b


def _accuracy(bd: BuildDir) -> list[tuple]:
    b = [("h2", "Accuracy: float vs W5A8")]
    ev = _load_json(bd.evaluate / "metrics.json")
    if ev:
        vs = list(ev["variants"])
        rows = [["pixel accuracy"] + [_pct(ev["variants"][v]["pixel_accuracy"]) for v in vs],
                ["mIoU"] + [_pct(ev["variants"][v]["miou"]) for v in vs]]
        b.append(("p", f"{ev['frames']} validation frames; provenance: {ev['provenance']}. Majority-class baseline: "
                       f"{_pct(ev['majority_class_pixel_accuracy'])} pixel accuracy."))
        b.append(("table", ["metric"] + vs, rows))
        b.append(("img", bd.evaluate / "iou_per_class.png", "Per-class IoU (Keras)"))
        b.append(("img", bd.train / "curves.png", "Training curves (Keras)"))
        b.append(("h2", "Segmentation overlays"))
        b.append(("img", bd.evaluate / "overlays.png", "Input, ground truth, float and W5A8 predictions (Keras)"))
        b.append(("p", "Your own images through this build: `unet-fsic infer CONFIG IMAGE_OR_DIR...` -- see "
                       f"[Try it on your own image]({REPO / 'README.md'}#try-it-on-your-own-image) in the README."))
    else:
        b.append(("p", "Not evaluated (the evaluate stage did not run)."))

    return b


def _csim(bd: BuildDir) -> list[tuple]:
    b = [("h2", "C simulation fidelity")]
    cs = _load_json(bd.csim / "report.json")
    if cs:
        b.append(("p", "Provenance: **csim (g++)** -- the compiled hls4ml project vs Keras on the same validation "
                       "frames, bit for bit."))
        rows = [["frames", cs["frames"]], ["backend / io", f"{cs['backend']} / {cs['io_type']}"],
                ["output head", cs["output_head"]],
                ["logits bit-exact", f"{_pct(cs['logits_bit_exact_fraction'])} ({cs['frames_bit_exact']}/"
                                     f"{cs['frames']} frames fully exact)"],
                ["max abs diff", f"{cs['max_abs_diff_lsb']:g} LSB of {cs['logits_type']}"],
                ["argmax agreement", f"{_pct(cs['argmax_agreement'])} of {cs['argmax_pixels']:,} pixels"],
                ["threshold", f"{_pct(cs['threshold'])}: {'PASS' if cs['passed'] else 'FAIL'}"],
                ["csim speed", f"{cs['csim_frames_per_s']} frames/s ({cs['workers']} processes)"]]
        b.append(("table", ["quantity", "value"], rows))
        if cs.get("first_divergence"):
            dv = cs["first_divergence"]
            b.append(("p", f"First diverging layer (hls4ml trace vs Keras, frame {dv.get('frame')}): "
                           f"`{dv.get('layer')}`."))
    else:
        b.append(("p", "Not run (the csim stage did not run)."))

    return b


def _cosim(bd: BuildDir) -> list[tuple]:
    b = [("h2", "RTL co-simulation")]
    co = _load_json(bd.cosim / "report.json")
    if co:
        b.append(("p", f"Provenance: **{'vendor report' if co['kind'] == 'vendor' else 'RTL sim'}** -- "
                       f"{co['provenance']}."))
        if co["kind"] == "open":
            b.append(("p", f"{co['frames']} validation frames through FSIC USER_PRJ0 (AXI-Stream in, "
                           f"{co['words_in_per_frame']:,} words/frame; out, {co['words_out_per_frame']:,} "
                           f"words/frame), random back-pressure and gaps; compared with the {co['compared_with']}."))
            b.append(("table", ["simulator", "bit-exact vs Keras", "frames exact", "sim cycles (all frames)",
                                "stream-rule violations", "result"],
                      [[x["simulator"], _pct(x["bit_exact_fraction"]), f"{x['frames_bit_exact']}/{co['frames']}",
                        f"{x.get('sim_cycles', 'n/a'):,}" if isinstance(x.get("sim_cycles"), int) else "n/a",
                        x.get("protocol_violations", "n/a"), "PASS" if x["passed"] else "FAIL"]
                       for x in co["simulators"]]))
        else:
            b.append(("table", ["quantity", "value"], [[k, _fmt(v)] for k, v in co["vendor"].items()
                                                       if not isinstance(v, dict)]))
    else:
        b.append(("p", "Not run (the cosim stage did not run)."))

    return b


def _register_map(bd: BuildDir) -> list[tuple]:
    from .hw import regmap

    b = [("h2", "FSIC register map")]
    bj = _load_json(bd.build_json)
    if bj:
        b.append(("p", f"USER_PRJ0 of this build (`{bd.fsic}`): HLS IP `{bj['hls_top_name']}`, output "
                       f"{bj['output_mode']}, {bj['words_in']:,} input words and {bj['words_out']:,} output words per "
                       f"frame; identity registers read H={bj['H']}, W={bj['W']}, C={bj['C']}, classes="
                       f"{bj['classes']}, W{bj['weight_bits']}A{bj['act_bits']}, model hash "
                       f"0x{bj['model_hash']:08X}. Offsets from `fsic_wrapper/regmap.yaml` (the single source of "
                       f"the Verilog, C and Python constants)."))
    b.append(("md", regmap.render_markdown(regmap.load_regmap())))

    return b


def _estimate(bd: BuildDir) -> list[tuple]:
    b = [("h2", "Resources and latency (estimate)")]
    es = _load_json(bd.estimate / "estimate.json")
    if es and "budget" not in es:  # an estimate.json from before issue #13
        b.append(("p", "The estimate predates the USER_PRJ0 budget; re-run `unet-fsic estimate`."))
    elif es:
        e = es["expected_error"]
        n = f" from {e['points']} calibration points ({e['method']})" if "points" in e else ""
        b.append(("p", f"Provenance: **estimate** ({es['provenance']}); not synthesis. Expected error{n}: LUT "
                       f"±{e['LUT']:.0%}, FF ±{e['FF']:.0%}, BRAM ±{e['BRAM36']:.0%}, DSP ±{e['DSP']:.0%}, cycles "
                       f"±{e['cycles']:.0%}."))
        t, bud, f, tm = es["totals"], es["budget"], es["fit"], es["timing"]
        b.append(("table", ["resource", "estimate", "upper bound", "IP's share of USER_PRJ0 (budget - our wrapper)",
                            "use (nominal / upper)",
                            f"{es['part']}", "FSIC platform" if "FSIC" in bud["source"] else "reserved"],
                  [[k, f"{t[k]:,}", f"{f['upper'][k]:,}", f"{bud['available'][k]:,g}",
                    f"{_pct(f['use_of_budget'][k])} / {_pct(f['use_of_budget_upper'][k])}",
                    f"{bud['capacity'][k]:,}", f"{bud['reserved'][k]:g}"] for k in ("LUT", "FF", "BRAM36", "DSP")]))
        yes = {True: "yes", False: "NO"}
        b.append(("p", f"Fits USER_PRJ0's budget (wrapper {bud.get('wrapper', {}).get('LUT', 0):,} LUT included): "
                       f"**{yes[f['fits_nominal']]}** at the nominal estimate, "
                       f"**{yes[f['fits_upper']]}** at the upper error bound. Frame interval "
                       f"{tm['interval_cycles']:,} cycles = **{tm['interval_ms']:.3f} ms/frame at "
                       f"{tm['ip_clock_mhz']:g} MHz** (IP clock: {tm['ip_clock']}; slowest layer "
                       f"`{es['slowest_layer']}`); the frame on the bus: {tm['stream_words']['in']:,} + "
                       f"{tm['stream_words']['out']:,} words = {tm['bus_ms']:.3f} ms at {tm['bus_clock_mhz']:g} MHz. "
                       f"Reuse factors: {es['reuse']['mode']}"
                       + (f" ({es['reuse']['how']})" if es["reuse"]["mode"] == "auto" else "") + "."))
        b.append(("img", bd.estimate / "utilization.png",
                  "Estimated use of USER_PRJ0's budget (estimate; whisker: upper error bound)"))
    else:
        b.append(("p", "Not run (the estimate stage did not run)."))

    return b


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(_fmt(x) for x in v)
    return str(v)


def to_markdown(blocks, title) -> str:
    out = [f"# {title}", ""]
    for blk in blocks:
        kind = blk[0]
        if kind == "h2":
            out += [f"## {blk[1]}", ""]
        elif kind in ("p", "md"):
            out += [blk[1], ""]
        elif kind == "table":
            out.append("| " + " | ".join(blk[1]) + " |")
            out.append("|" + "---|" * len(blk[1]))
            out += ["| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in blk[2]]
            out.append("")
        elif kind == "img":
            p = Path(blk[1])
            if p.exists():
                out += [f"![{blk[2]}]({p.resolve()})", f"*{blk[2]}*", ""]
        elif kind == "pre":
            out += ["```yaml", blk[1].rstrip(), "```", ""]
    return "\n".join(out)


def _md_inline(text: str) -> str:
    """Escape, then render `code`, [links](target) and **bold** (the only inline markup the report uses)."""
    import re

    t = html.escape(text)
    t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
    t = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r"<a href='\2'>\1</a>", t)
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", t)


def _md_table_to_html(md: str) -> str:
    out, rows = [], []
    for line in md.splitlines() + [""]:
        if line.startswith("|"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
            continue
        if rows:
            head, body = rows[0], [r for r in rows[1:] if not set("".join(r)) <= set("-: ")]
            out.append("<table><tr>" + "".join(f"<th>{_md_inline(c)}</th>" for c in head) + "</tr>" +
                       "".join("<tr>" + "".join(f"<td>{_md_inline(c)}</td>" for c in r) + "</tr>" for r in body) +
                       "</table>")
            rows = []
        if line.strip() and not line.lstrip().startswith("<!--"):
            out.append(f"<p>{_md_inline(line.lstrip('#').strip())}</p>")
    return "\n".join(out)


def to_html(blocks, title) -> str:
    css = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
           "table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:.25em .6em;"
           "text-align:left;font-size:.92em}th{background:#f0f0f0}img{max-width:100%;border:1px solid #ddd}"
           "figure{margin:1em 0}figcaption{color:#555;font-size:.9em}pre{background:#f6f6f6;padding:1em;"
           "overflow:auto}h2{border-bottom:2px solid #e0e0e0;padding-bottom:.2em;margin-top:1.6em}")
    out = ["<!DOCTYPE html>", "<html lang='en'><head><meta charset='utf-8'>", f"<title>{html.escape(title)}</title>",
           f"<style>{css}</style></head><body>", f"<h1>{html.escape(title)}</h1>"]
    for blk in blocks:
        kind = blk[0]
        if kind == "h2":
            sid = blk[1].lower().split(":")[0].replace(" ", "-")
            out.append(f"<h2 id='{html.escape(sid)}'>{html.escape(blk[1])}</h2>")
        elif kind == "p":
            out.append(f"<p>{_md_inline(blk[1])}</p>")
        elif kind == "md":
            out.append(_md_table_to_html(blk[1]))
        elif kind == "table":
            out.append("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in blk[1]) + "</tr>" +
                       "".join("<tr>" + "".join(f"<td>{_md_inline(str(c))}</td>" for c in r) + "</tr>"
                               for r in blk[2]) + "</table>")
        elif kind == "img":
            p = Path(blk[1])
            if p.exists():
                data = base64.b64encode(p.read_bytes()).decode()
                out.append(f"<figure><img alt='{html.escape(blk[2])}' src='data:image/png;base64,{data}'>"
                           f"<figcaption>{html.escape(blk[2])}</figcaption></figure>")
        elif kind == "pre":
            out.append(f"<pre>{html.escape(blk[1])}</pre>")
    # self-check for headless viewers: how many embedded images decoded (read back by the report test)
    out.append("<script>window.addEventListener('load',function(){var n=0;document.querySelectorAll('img')"
               ".forEach(function(i){if(i.naturalWidth>0)n++;});document.body.setAttribute('data-images-loaded',n);"
               "});</script>")
    out.append("</body></html>")
    return "\n".join(out)


def write(cfg: dict, stages: dict) -> list[Path]:
    bd = BuildDir.of(cfg)
    title = f"unet-fsic build report — {Path(cfg.get('_config_file', 'config')).name}"
    blocks = build_blocks(cfg, stages)
    paths = []
    for p, text in ((bd.report_md, to_markdown(blocks, title)), (bd.report_html, to_html(blocks, title))):
        tmp = p.with_suffix(p.suffix + ".tmp")
        tmp.write_text(text)
        tmp.replace(p)
        paths.append(p)
    return paths
