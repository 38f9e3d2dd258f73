"""Vendor report parsers on fixtures written in the Vivado/Vitis HLS and Vivado formats (tests/fixtures/reports)."""
from pathlib import Path

import pytest

from pipeline import reports as R
from pipeline.errors import UserError

FIX = Path(__file__).parent / "fixtures" / "reports"
RPT = FIX / "hls_prj/myproject_prj/solution1/syn/report"


def test_csynth_xml():
    r = R.parse_csynth_xml(RPT / "unet_fsic_csynth.xml")
    assert r["part"] == "xc7z020-clg400-1" and r["clock_ns"] == 10.0 and r["estimated_clock_ns"] == 7.312
    assert r["latency_cycles"] == 402117 and r["interval_cycles"] == 373250
    assert r["resources"] == {"LUT": 88120, "FF": 61234, "BRAM18": 211, "DSP": 12, "URAM": 0}


def test_csynth_rpt():
    r = R.parse_csynth_rpt(RPT / "unet_fsic_csynth.rpt")
    assert r["top"] == "unet_fsic" and r["tool_version"] == "2022.2" and r["clock_ns"] == 10.0
    assert r["latency_cycles"] == 402117 and r["interval_cycles"] == 373250
    assert r["resources"] == {"BRAM18": 211, "DSP": 12, "FF": 61234, "LUT": 88120}
    assert r["available"]["LUT"] == 53200
    assert [i["instance"] for i in r["instances"]][0] == "conv_2d_cl_enc1_conv1_U0"
    assert r["instances"][1]["DSP"] == 12


def test_vivado_utilization():
    r = R.parse_vivado_utilization(FIX / "hls_prj/vivado_synth.rpt")
    assert r["resources"] == {"LUT": 71342, "FF": 58870, "BRAM36": 104.5, "DSP": 12}
    assert r["available"]["BRAM36"] == 140


def test_import_report_prefers_vivado_resources_and_csynth_latency():
    r = R.import_report(FIX / "hls_prj")
    assert r["provenance"].startswith("vendor report")
    assert r["totals"]["LUT"] == 71342 and r["fits"] is False
    assert r["interval_ms"] == pytest.approx(3.7325) and r["latency_ms"] == pytest.approx(4.02117)
    r2 = R.import_report(FIX / "rpt_only")
    assert r2["totals"] == {"LUT": 88120, "FF": 61234, "BRAM36": 105.5, "DSP": 12}


def test_errors(tmp_path):
    with pytest.raises(UserError, match="no such report directory"):
        R.import_report(tmp_path / "nope")
    with pytest.raises(UserError, match="no csynth"):
        R.import_report(tmp_path)
    (tmp_path / "vivado_synth.rpt").write_text("garbage\n")
    with pytest.raises(UserError, match="not a Vivado report_utilization"):
        R.import_report(tmp_path)


def test_synth_without_tool(monkeypatch):
    monkeypatch.setattr(R, "vendor_tool", lambda: None)
    from pipeline.errors import ToolMissingError

    with pytest.raises(ToolMissingError):
        R.synthesize({})
