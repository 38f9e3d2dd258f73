"""``estimate`` stage and ``unet-fsic estimate``: the offline resource / latency / FIFO estimate of the build (the
model is :mod:`pipeline.hw.estimator`), written to ``<build_dir>/estimate/estimate.{json,md}`` + ``utilization.png``;
``--synth`` runs the vendor synthesis instead (:mod:`pipeline.stages.import_report`)."""
from __future__ import annotations

from pathlib import Path

from ..build import BuildDir
from ..errors import UserError
from . import Stage


def _error_note(e: dict) -> str:
    n = f" ({e['points']} calibration points, {e['method']})" if "points" in e else ""
    return (f"Expected error{n}: LUT ±{e['LUT']:.0%}, FF ±{e['FF']:.0%}, BRAM ±{e['BRAM36']:.0%}, "
            f"DSP ±{e['DSP']:.0%}, cycles ±{e['cycles']:.0%}.")


def _budget_lines(res: dict) -> list[str]:
    t, b, f = res["totals"], res["budget"], res["fit"]
    lines = [f"Budget: **USER_PRJ0's share** of {res['part']} = {b['source']}.", "",
             "| resource | estimate | upper bound | USER_PRJ0 budget | use (nominal / upper) | part | reserved |",
             "|---|---|---|---|---|---|---|"]
    for k in ("LUT", "FF", "BRAM36", "DSP"):
        lines.append(f"| {k} | {t[k]:,} | {f['upper'][k]:,} | {b['available'][k]:,g} | "
                     f"{100 * f['use_of_budget'][k]:.0f} % / {100 * f['use_of_budget_upper'][k]:.0f} % | "
                     f"{b['capacity'][k]:,} | {b['reserved'][k]:g} |")
    yes = {True: "yes", False: "NO"}
    lines += ["", f"Fits USER_PRJ0: **{yes[f['fits_nominal']]}** at the nominal estimate, "
              f"**{yes[f['fits_upper']]}** at its upper bound (limiting at nominal: {f['limiting']}); fits the whole "
              f"part: {yes[res['fits_part']]}. Upper bound = nominal x the largest reported / estimate ratio of the "
              "calibration's leave-one-out Vivado predictions (" + ", ".join(
                  f"{k} x{v:.2f}" for k, v in f.get("upper_factors", {}).items()) + ")."]
    return lines


def _timing_lines(res: dict) -> list[str]:
    tm = res["timing"]
    lat = (f"{tm['latency_cycles']:,} cycles = {tm['latency_ms']:.3f} ms" if tm["latency_cycles"] else "n/a")
    clk = "the bus clock axis_clk" if tm["ip_clock"] == "axis_clk" else "user_clock2"
    return [f"Frame interval: {tm['interval_cycles']:,} cycles = **{tm['interval_ms']:.3f} ms/frame at "
            f"{tm['ip_clock_mhz']:g} MHz** (the IP runs on {clk}; slowest layer `{res['slowest_layer']}`); "
            f"one-frame latency {lat} (dataflow simulation, estimated FIFO depths). On the bus: "
            f"{tm['stream_words']['in']:,} words in + {tm['stream_words']['out']:,} out = "
            f"{tm['bus_ms']:.3f} ms at {tm['bus_clock_mhz']:g} MHz; back to back **{tm['frame_ms']:.3f} ms/frame** "
            f"({tm['fps']:.2f} frames/s). At the HLS clock ({1000 / res['clock_ns']:g} MHz) the interval would be "
            f"{res['at_hls_clock']['interval_ms']:.3f} ms."]


def _reuse_line(res: dict) -> str:
    r = res["reuse"]
    if r["mode"] != "auto":
        return "Reuse factors: from the config."
    return (f"Reuse factors: `auto` — {r['how']}; target {r['target_cycles']:,} cycles/frame; every conv / "
            f"transposed conv at the largest valid RF within it, every BatchNorm likewise.")


def to_markdown(res: dict) -> str:
    t = res["totals"]
    lines = [
        f"# Resource / latency estimate — {res['part']}, {res['strategy']}, {res['io_type']}, IP at "
        f"{res['timing']['ip_clock_mhz']:g} MHz",
        "",
        f"All figures: **{res['provenance']}**. {_error_note(res['expected_error'])}",
        "",
        *_budget_lines(res),
        "",
        "Totals are the **Vivado-synthesis equivalent** (what Vivado would report; the budget is judged on them). "
        + ("The HLS (csynth) estimate equivalent: " + ", ".join(f"{k} {res['totals_hls'][k]:,}" for k in
           ("LUT", "FF", "BRAM36", "DSP")) + ". " if res.get("totals_hls") else ""),
        "",
        f"Multipliers: {t['mults']:,} ({t['mults_dsp']:,} DSP48E1, {t['mults_lut']:,} LUT). Weight storage: "
        f"{t['weight_bits']:,} bits. MACs/frame: {t['macs']:,}.",
        "",
        *_timing_lines(res),
        "",
        _reuse_line(res),
        "",
        f"FIFOs: estimated depths {res['fifo']['estimated']['BRAM36']} BRAM36 / {res['fifo']['estimated']['LUT']:,} "
        f"LUT vs hls4ml default depths (full feature map each) {res['fifo']['hls4ml_default']['BRAM36']} BRAM36; "
        f"skip FIFOs sized by deadlock analysis: {', '.join(res['fifo']['skip_fifos']) or '-'}.",
        "",
        "Per layer (HLS csynth equivalent, before the Vivado ratios and the FIFOs):",
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
    """Horizontal bars: estimated LUT / FF / BRAM36 / DSP as a fraction of USER_PRJ0's budget, with the upper error
    bound as a whisker (estimate, labelled)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = ["LUT", "FF", "BRAM36", "DSP"]
    f, avail = res["fit"], res["budget"]["available"]
    u = [100 * f["use_of_budget"][k] for k in keys]
    up = [100 * f["use_of_budget_upper"][k] for k in keys]
    fig, ax = plt.subplots(figsize=(7, 2.6))
    bars = ax.barh(keys, u, xerr=[[0] * 4, [b - a for a, b in zip(u, up)]], capsize=3,
                   color=["#d62728" if v > 100 else ("#ff7f0e" if w > 100 else "#2ca02c") for v, w in zip(u, up)])
    ax.axvline(100, color="k", lw=1, ls="--")
    for bar_, k, v in zip(bars, keys, u):
        ax.text(2, bar_.get_y() + bar_.get_height() / 2, f"{res['totals'][k]:,} / {avail[k]:,g} ({v:.0f} %)",
                va="center", fontsize=8)
    ax.set_xlim(0, max(130, max(up) * 1.05))
    ax.invert_yaxis()
    ax.set_xlabel(f"% of USER_PRJ0's budget on {res['part']} (estimate, not synthesis; whisker: upper error bound)")
    ax.set_title(f"{res['timing']['interval_ms']:.2f} ms/frame at {res['timing']['ip_clock_mhz']:g} MHz IP clock "
                 f"(estimate)", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# --- run stage -------------------------------------------------------------------------------------------------------
def write_estimate(config) -> dict:
    """Estimate the build and write BUILD/estimate/estimate.{json,md} + utilization.png; returns the estimate."""
    from keras_model.model_io import save_json

    from ..hw.budget import assess

    res = assess(config)
    out = BuildDir.of(config).estimate
    save_json(out / "estimate.json", res)
    (out / "estimate.md").write_text(to_markdown(res))
    plot_utilization(res, out / "utilization.png")
    return res


def run_stage(config) -> dict:
    """``unet-fsic run``'s estimate stage (:func:`write_estimate`); returns the headline figures."""
    res = write_estimate(config)
    t = res["totals"]
    tm, f = res["timing"], res["fit"]
    return {"provenance": res["provenance"], "part": res["part"], "clock_MHz": tm["ip_clock_mhz"],
            "bus_clock_MHz": tm["bus_clock_mhz"], "LUT": t["LUT"], "FF": t["FF"], "BRAM36": t["BRAM36"],
            "DSP": t["DSP"], "budget": res["budget"]["available"], "use_of_budget": f["use_of_budget"],
            "utilization": {k: round(v, 4) for k, v in res["utilization"].items()}, "fits": f["fits_nominal"],
            "fits_upper": f["fits_upper"], "interval_ms": round(tm["interval_ms"], 4),
            "bus_ms": round(tm["bus_ms"], 4), "fps": round(tm["fps"], 3),
            "latency_ms": round(tm["latency_ms"], 4) if tm["latency_cycles"] else None,
            "reuse": res["reuse"]["mode"], "expected_error": res["expected_error"]}


def headline(s: dict) -> str:
    u = s["use_of_budget"]
    yes = {True: "yes", False: "NO"}
    return (f"{s['interval_ms']:.2f} ms/frame at {s['clock_MHz']:g} MHz (bus {s['bus_ms']:.2f} ms at "
            f"{s['bus_clock_MHz']:g} MHz), LUT {100 * u['LUT']:.0f} %, FF {100 * u['FF']:.0f} %, BRAM "
            f"{100 * u['BRAM36']:.0f} %, DSP {100 * u['DSP']:.0f} % of USER_PRJ0's budget, fits: "
            f"{yes[s['fits']]} (upper bound: {yes[s['fits_upper']]}) [estimate]")


# the estimate is made by these: a re-calibrated or changed estimator re-estimates (tests/test_calibration.py)
INPUTS = ("pipeline/hw/calibration_error.json", "pipeline/hw/estimator.py", "pipeline/hw/budget.py",
          "pipeline/hw/fifo_sim.py")
STAGE = Stage("estimate", ("model", "quant", "hls", "target"), ("train",), ("estimate/estimate.json",), run_stage,
              headline, inputs=INPUTS)


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
