"""``estimate`` stage and ``unet-fsic estimate``: the offline resource / latency / FIFO estimate of the build (the
model is :mod:`pipeline.hw.estimator`), written to ``<build_dir>/estimate/estimate.{json,md}`` + ``utilization.png``;
``--synth`` runs the vendor synthesis instead (:mod:`pipeline.stages.import_report`)."""
from __future__ import annotations

from pathlib import Path

from ..build import BuildDir
from ..errors import UserError
from . import Stage


def to_markdown(res: dict) -> str:
    t, cap, u = res["totals"], res["capacity"], res["utilization"]
    e = res["expected_error"]
    lines = [
        f"# Resource / latency estimate — {res['part']}, {res['strategy']}, {res['io_type']}, "
        f"{1000 / res['clock_ns']:.0f} MHz",
        "",
        f"All figures: **{res['provenance']}**. Expected error: LUT ±{e['LUT']:.0%}, FF ±{e['FF']:.0%}, "
        f"BRAM ±{e['BRAM36']:.0%}, DSP ±{e['DSP']:.0%}, cycles ±{e['cycles']:.0%}.",
        "",
        "| resource | estimate | capacity | utilization |",
        "|---|---|---|---|",
    ]
    for k in ("LUT", "FF", "BRAM36", "DSP"):
        lines.append(f"| {k} | {t[k]:,} | {cap[k]:,} | {100 * u[k]:.1f} % |")
    lines += [
        "",
        f"Fits {res['part']}: **{'yes' if res['fits'] else 'NO'}** (estimate). Multipliers: {t['mults']:,} "
        f"({t['mults_dsp']:,} DSP48E1, {t['mults_lut']:,} LUT). Weight storage: {t['weight_bits']:,} bits. "
        f"MACs/frame: {t['macs']:,}.",
        "",
        f"Frame interval: {res['interval_cycles']:,} cycles = **{res['interval_ms']:.3f} ms/frame** "
        f"({res['fps']:.1f} frames/s, slowest layer `{res['slowest_layer']}`); one-frame latency "
        + (f"{res['latency_cycles']:,} cycles = {res['latency_ms']:.3f} ms" if res["latency_cycles"] else "n/a")
        + " (dataflow simulation, estimated FIFO depths).",
        "",
        f"FIFOs: estimated depths {res['fifo']['estimated']['BRAM36']} BRAM36 / {res['fifo']['estimated']['LUT']:,} "
        f"LUT vs hls4ml default depths (full feature map each) {res['fifo']['hls4ml_default']['BRAM36']} BRAM36; "
        f"skip FIFOs sized by deadlock analysis: {', '.join(res['fifo']['skip_fifos']) or '-'}.",
        "",
        "| layer | kind | RF | mults | mapping | cycles | LUT | FF | BRAM36 | DSP |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in res["layers"]:
        if r["kind"] in ("map", "clone", "pad", "concat", "pool") and not r["mults"]:
            continue
        lines.append(f"| {r['name']} | {r['kind']} | {r['rf']} | {r['mults']:,} | {r['mapping']} | "
                     f"{r['cycles']:,} | {r['LUT']:,} | {r['FF']:,} | {r['BRAM36']:g} | {r['DSP']} |")
    lines.append("")
    lines.append("(element-wise / pool / pad / clone / concat processes are included in the totals, not listed)")
    return "\n".join(lines) + "\n"


def plot_utilization(res: dict, path: Path) -> Path:
    """Horizontal bars: estimated LUT / FF / BRAM36 / DSP as a fraction of the part (estimate, labelled)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = ["LUT", "FF", "BRAM36", "DSP"]
    u = [100 * res["utilization"][k] for k in keys]
    fig, ax = plt.subplots(figsize=(6.5, 2.4))
    bars = ax.barh(keys, u, color=["#d62728" if v > 100 else "#1f77b4" for v in u])
    ax.axvline(100, color="k", lw=1, ls="--")
    for bar_, k, v in zip(bars, keys, u):
        ax.text(min(v, 100) + 1, bar_.get_y() + bar_.get_height() / 2,
                f"{res['totals'][k]:,} / {res['capacity'][k]:,} ({v:.0f} %)", va="center", fontsize=8)
    ax.set_xlim(0, max(130, max(u) + 30))
    ax.invert_yaxis()
    ax.set_xlabel(f"% of {res['part']} (estimate, not synthesis)")
    ax.set_title(f"{res['interval_ms']:.2f} ms/frame at {1000 / res['clock_ns']:.0f} MHz (estimate)", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# --- run stage -------------------------------------------------------------------------------------------------------
def write_estimate(config) -> dict:
    """Estimate the build and write BUILD/estimate/estimate.{json,md} + utilization.png; returns the estimate."""
    from keras_model.model_io import save_json

    from ..hw.estimator import estimate

    res = estimate(config)
    out = BuildDir.of(config).estimate
    save_json(out / "estimate.json", res)
    (out / "estimate.md").write_text(to_markdown(res))
    plot_utilization(res, out / "utilization.png")
    return res


def run_stage(config) -> dict:
    """``unet-fsic run``'s estimate stage (:func:`write_estimate`); returns the headline figures."""
    res = write_estimate(config)
    t = res["totals"]
    return {"provenance": res["provenance"], "part": res["part"], "clock_MHz": round(1000 / res["clock_ns"], 1),
            "LUT": t["LUT"], "FF": t["FF"], "BRAM36": t["BRAM36"], "DSP": t["DSP"],
            "utilization": {k: round(v, 4) for k, v in res["utilization"].items()}, "fits": res["fits"],
            "interval_ms": round(res["interval_ms"], 4), "fps": round(res["fps"], 2),
            "latency_ms": round(res["latency_ms"], 4) if res["latency_cycles"] else None,
            "expected_error": res["expected_error"]}


def headline(s: dict) -> str:
    u = s["utilization"]
    return (f"{s['interval_ms']:.2f} ms/frame at {s['clock_MHz']:g} MHz, LUT {100 * u['LUT']:.0f} %, BRAM "
            f"{100 * u['BRAM36']:.0f} %, DSP {100 * u['DSP']:.0f} % of {s['part']}, fits: "
            f"{'yes' if s['fits'] else 'NO'} [estimate]")


STAGE = Stage("estimate", ("hls",), ("train",), ("estimate/estimate.json",), run_stage, headline)


def register_cli(add):
    def cmd_estimate(args, cfg):
        # 0 used to fall through to a full estimate and a negative target printed None for every layer
        if args.propose_rf is not None and args.propose_rf <= 0:
            raise UserError(f"--propose-rf: expected a positive number of cycles per frame, got {args.propose_rf}")
        from keras_model.model_io import save_json

        out = BuildDir.of(cfg).estimate
        if args.propose_rf is not None:
            from ..hw.estimator import propose_reuse_factors

            rfs = propose_reuse_factors(cfg, args.propose_rf)
            print("hls:\n  reuse_factors:")
            for k, v in rfs.items():
                print(f"    {k}: {v}")
            return 0
        if args.synth:
            from .import_report import synthesize

            res = synthesize(cfg)
            save_json(out / "vendor_report.json", res)
        else:
            res = write_estimate(cfg)
            print(to_markdown(res))
        print(f"[estimate] outputs in {out}")
        return 0

    sp = add("estimate", cmd_estimate, "offline resource / latency / FIFO-depth estimate of the io_stream build "
             "against the part (estimate, calibrated; see docs/estimate.md); BUILD/estimate/estimate.{json,md}")
    sp.add_argument("--synth", action="store_true", help="run the vendor HLS + Vivado synthesis through hls4ml "
                    "instead (needs vitis_hls/vivado_hls on PATH) and import its reports")
    sp.add_argument("--propose-rf", type=int, metavar="CYCLES", help="print per-layer reuse factors keeping every "
                    "layer at or below CYCLES per frame")
