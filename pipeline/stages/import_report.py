"""``unet-fsic import-report CONFIG DIR`` and the vendor synthesis behind ``unet-fsic estimate --synth``.

* ``import-report``: imports a report directory copied from a machine with the vendor tools (an hls4ml project dir,
  or any directory holding ``*csynth.xml`` / ``*csynth.rpt`` / ``vivado_synth.rpt``) into
  ``<build_dir>/reports/vendor_report.{json,md}`` (parsers: :mod:`pipeline.hw.vendor_reports`).
* :func:`synthesize`: when ``vitis_hls``/``vivado_hls``/``vitis-run`` is on PATH, converts the model, runs hls4ml's
  ``build(synth=True, vsynth=True)`` and imports its reports; otherwise one clear error.
"""
from __future__ import annotations

from ..build import BuildDir
from ..errors import ToolMissingError
from ..hw.vendor_reports import import_report, to_markdown, vendor_tool


def judge_vendor(rep: dict, config) -> dict:
    """Judge imported vendor totals against USER_PRJ0's budget (``target``; docs/budget.md) like the estimate -- with
    no error band (a report is a measurement, not an estimate) -- and give its interval at the IP clock."""
    from ..hw.budget import RESOURCES, budget, judge, timing

    t = rep.get("totals") or {}
    rep["fits_part"] = rep.get("fits")
    if all(t.get(k) is not None for k in RESOURCES):
        rep["budget"] = budget(config)
        rep["fit"] = judge(t, rep["budget"], {k: 1.0 for k in RESOURCES})
        rep["fits"] = rep["fit"]["fits_nominal"]
    if rep.get("interval_cycles"):
        rep["timing"] = timing(config, rep["interval_cycles"], rep.get("latency_cycles"))
    return rep


def synthesize(config, model=None) -> dict:
    """Convert, run the vendor HLS synthesis (+ Vivado synth) through hls4ml, import the reports."""
    tool = vendor_tool()
    if tool is None:
        raise ToolMissingError("--synth needs vitis_hls, vivado_hls or vitis-run on PATH (none found); use "
                               "`unet-fsic import-report` with reports from a machine that has them")
    from ..hls.project import convert

    hls_model = convert(config, model=model).hls_model
    hls_model.build(csim=False, synth=True, vsynth=True, export=False)
    return judge_vendor(import_report(hls_model.config.get_output_dir(), config), config)


def register_cli(add):
    def cmd_import(args, cfg):
        from keras_model.model_io import save_json

        rep = judge_vendor(import_report(args.report_dir, cfg), cfg)
        out = BuildDir.of(cfg).reports
        save_json(out / "vendor_report.json", rep)
        (out / "vendor_report.md").write_text(to_markdown(rep))
        print(to_markdown(rep))
        print(f"[import-report] {out / 'vendor_report.json'}")
        return 0

    sp = add("import-report", cmd_import, "import Vivado/Vitis HLS csynth + Vivado utilization reports from DIR "
             "(a vendor machine's hls4ml project) into BUILD/reports/vendor_report.json, same schema as `estimate`")
    sp.add_argument("report_dir", metavar="DIR")
