"""Vendor report parsers on fixtures (tests/fixtures/reports, see PROVENANCE.md there): hand-written ones in the
Vivado/Vitis HLS and Vivado formats, and real published reports (hls4ml's own Vivado HLS / Vivado 2020.1 test reports,
copied verbatim; expected numbers read from the files by hand)."""
import hashlib
from pathlib import Path

import pytest

from pipeline.errors import UserError
from pipeline.hw import vendor_reports as R

FIX = Path(__file__).parent / "fixtures" / "reports"
RPT = FIX / "hls_prj/myproject_prj/solution1/syn/report"
PUB = FIX / "published" / "hls4ml_test_report_vivado"
PUB_RPT = PUB / "myproject_prj/solution1/syn/report"
PUB_SHA256 = {  # of the verbatim copies (PROVENANCE.md)
    PUB_RPT / "myproject_csynth.rpt": "b502967cc19c5405188c44a359af0136578d22456a80d04daab1afc19f98c9de",
    PUB_RPT / "myproject_csynth.xml": "7fcc73c818750e1db1cd2626c83f2b8d9c91c051cb38d73e8a434d9d3a9d76cb",
    PUB / "vivado_synth.rpt": "a446a83f7d7994ab0a45c81085cb8bfab7412bcd9294f3f95f6b17ce46f55054",
}


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
    from pipeline.errors import ToolMissingError
    from pipeline.stages import import_report

    monkeypatch.setattr(import_report, "vendor_tool", lambda: None)
    with pytest.raises(ToolMissingError):
        import_report.synthesize({})


def test_published_hls4ml_vivado_reports():
    """Real Vivado HLS 2020.1 csynth (xml + rpt) and Vivado 2020.1 report_utilization from hls4ml's test suite (a Dense
    16->5 + ReLU, ap_fixed<16,6>, io_stream, xc7z020). Expected values read from the files by hand; hls4ml's own
    test_report expects the same ones (PROVENANCE.md)."""
    for f, sha in PUB_SHA256.items():
        assert hashlib.sha256(f.read_bytes()).hexdigest() == sha, f"{f} is no longer the verbatim upstream copy"
    x = R.parse_csynth_xml(PUB_RPT / "myproject_csynth.xml")
    assert x["tool_version"] == "2020.1" and x["part"] == "xc7z020-clg400-1" and x["top"] == "myproject"
    assert x["clock_ns"] == 5.0 and x["estimated_clock_ns"] == 4.049
    assert x["latency_cycles"] == 10 and x["interval_cycles"] == 8
    assert x["resources"] == {"LUT": 2532, "FF": 7969, "BRAM18": 0, "DSP": 73, "URAM": 0}  # <DSP48E> tag
    assert x["available"] == {"LUT": 53200, "FF": 106400, "BRAM18": 280, "DSP": 220, "URAM": 0}

    t = R.parse_csynth_rpt(PUB_RPT / "myproject_csynth.rpt")
    assert t["top"] == "myproject" and t["tool_version"] == "2020.1" and t["part"] == "xc7z020-clg400-1"
    assert t["clock_ns"] == 5.0 and t["estimated_clock_ns"] == 4.049
    assert t["latency_cycles"] == 10 and t["interval_cycles"] == 8
    assert t["resources"] == {"BRAM18": 0, "DSP": 73, "FF": 7969, "LUT": 2532}
    assert t["available"] == {"BRAM18": 280, "DSP": 220, "FF": 106400, "LUT": 53200}
    # the utilization "* Instance:" table, not the latency section's instance table that comes first
    assert t["instances"] == [
        {"instance": "dense_array_array_ap_fixed_16_6_5_3_0_5u_config2_U0",
         "module": "dense_array_array_ap_fixed_16_6_5_3_0_5u_config2_s", "BRAM18": 0, "DSP": 73, "FF": 7860,
         "LUT": 2134},
        {"instance": "relu_array_array_ap_fixed_5u_relu_config3_U0",
         "module": "relu_array_array_ap_fixed_5u_relu_config3_s", "BRAM18": 0, "DSP": 0, "FF": 84, "LUT": 256}]

    v = R.parse_vivado_utilization(PUB / "vivado_synth.rpt")
    assert v["tool_version"] == "Vivado v.2020.1" and v["part"] == "7z020clg400-1"
    assert v["resources"] == {"LUT": 1526, "FF": 2428, "BRAM36": 0, "DSP": 66}
    assert v["available"] == {"LUT": 53200, "FF": 106400, "BRAM36": 140, "DSP": 220}

    r = R.import_report(PUB)  # the hls4ml project layout: Vivado resources, csynth latency / interval
    assert r["totals"] == {"LUT": 1526, "FF": 2428, "BRAM36": 0, "DSP": 66} and r["fits"] is True
    assert r["capacity"] == {"LUT": 53200, "FF": 106400, "BRAM36": 140, "DSP": 220}
    assert r["interval_ms"] == pytest.approx(8 * 5e-6) and r["latency_ms"] == pytest.approx(10 * 5e-6)
    assert [i["instance"] for i in r["layers"]] == [i["instance"] for i in t["instances"]]
    assert "Vivado v.2020.1" in r["provenance"] and "2020.1" in r["provenance"]
