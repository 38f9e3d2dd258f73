"""USER_PRJ0 inside a behavioural model of the FSIC side (fsic_wrapper/sim/fsic_side.py, written from the shared FSIC
facts): the shared FPGA->SoC link with the switch's 16-entry FIFO and AXI-Lite behind stream data, the upstream
grant held until tlast, High_pri_req as a grant request. Runs fsic_wrapper/sim/test_fsic_side.py on Icarus and
Verilator (issue #15: High_pri_req never an interrupt, the link never held, frame CRCs)."""
from __future__ import annotations

import pytest
from _support import require_tools

from pipeline.hw import rtl, rtlsim

CONFIGS = {
    # High_pri_req option on; FSIC split writes (wready after awready)
    "argmax_3x5_hp": dict(H=3, W=5, C=3, classes=21, output_mode="argmax", model_hash=0xC0FFEE01,
                          hls_out_port="layer27_out", in_elem_bits=16, in_shift=2, axil_wready_lag=1,
                          high_pri_req=True),
    # option off (High_pri_req constant 0); a buffer deeper than one frame
    "logits_3x5": dict(H=3, W=5, C=3, classes=21, output_mode="logits", model_hash=0x12345678,
                       hls_top_name="unet_ip", hls_in_port="x_in", hls_out_port="y_out", in_buf_words=20),
    # the real frame: 3,072 words in a 3,072-word block-RAM buffer, 683 words out
    "argmax_64x64_hp": dict(H=64, W=64, C=3, classes=21, output_mode="argmax", high_pri_req=True),
}
# FSIC's line framing (issue #15 item 3), compiled with USER_PROJECT_SIDEBAND_SUPPORT (ss_tupsb / sm_tupsb)
LINE_CONFIGS = {
    # input and output in line framing, High_pri_req on; 4x4x3: 3-word lines, 4 lines; 1-word output lines
    "line_argmax_4x4_hp": dict(H=4, W=4, C=3, classes=21, output_mode="argmax", high_pri_req=True,
                               in_framing="line", out_framing="line"),
    # input in line framing, output in frame framing; logits
    "line_logits_4x4": dict(H=4, W=4, C=3, classes=21, output_mode="logits", hls_top_name="unet_ip",
                            hls_in_port="x_in", hls_out_port="y_out", in_framing="line"),
    # uneven lines: 4x5x3 = 15 words in lines of 4 (the last of 3); logits output lines 27,27,27,24 words
    "line_logits_4x5_uneven": dict(H=4, W=5, C=3, classes=21, output_mode="logits", in_framing="line",
                                   out_framing="line", in_elem_bits=16, in_shift=2),
}
LINE_TESTS = ["test_line_framing", "test_line_errors"]
LINE_PLAN = {"line_argmax_4x4_hp": LINE_TESTS, "line_logits_4x4": LINE_TESTS,
             "line_logits_4x5_uneven": ["test_line_framing"]}
SIDEBAND = {"USER_PROJECT_SIDEBAND_SUPPORT": 1}
ALL = ["test_hp_never_interrupt", "test_hp_mailbox_during_frames", "test_link_write_before_start",
       "test_link_while_busy"]
PLAN = {"argmax_3x5_hp": ALL, "logits_3x5": ALL, "argmax_64x64_hp": ["test_link_write_before_start"]}
SIMS = ["icarus", "verilator"]


@pytest.mark.parametrize("sim", SIMS)
@pytest.mark.parametrize("cfg_name", list(CONFIGS))
def test_fsic_side_model(sim, cfg_name, tmp_path):
    require_tools("iverilog" if sim == "icarus" else "verilator")
    rtl.write_wrapper(tmp_path, CONFIGS[cfg_name])
    total, failed = rtlsim.run_fsic(sim, tmp_path / "fsic", "test_fsic_side", PLAN[cfg_name], tmp_path)
    assert total == len(PLAN[cfg_name]) and failed == 0, f"{failed} of {total} cocotb tests failed"


@pytest.mark.slow
@pytest.mark.parametrize("sim", SIMS)
def test_fsic_side_model_64x64_all(sim, tmp_path):
    """Every FSIC-side test on the real 64x64 frame, both High_pri_req settings (slow)."""
    require_tools("iverilog" if sim == "icarus" else "verilator")
    for hp in (True, False):
        work = tmp_path / f"hp{int(hp)}"
        rtl.write_wrapper(work, {**CONFIGS["argmax_64x64_hp"], "high_pri_req": hp})
        total, failed = rtlsim.run_fsic(sim, work / "fsic", "test_fsic_side", ALL, work)
        assert total == len(ALL) and failed == 0, f"high_pri_req={hp}: {failed} of {total} cocotb tests failed"


@pytest.mark.parametrize("sim", SIMS)
@pytest.mark.parametrize("cfg_name", list(LINE_CONFIGS))
def test_fsic_line_framing(sim, cfg_name, tmp_path):
    """FSIC's line convention (tlast per line, tkeep=0000, ss_tupsb {eol, sof}): exact frames; a missing line, an extra
    line, a sof inside a line, a frame without sof are flagged and the next frame is exact; output line framing
    (sm_tlast per line, sm_tupsb {eol, sof})."""
    require_tools("iverilog" if sim == "icarus" else "verilator")
    rtl.write_wrapper(tmp_path, LINE_CONFIGS[cfg_name])
    total, failed = rtlsim.run_fsic(sim, tmp_path / "fsic", "test_fsic_side", LINE_PLAN[cfg_name], tmp_path,
                                    defines=SIDEBAND)
    assert total == len(LINE_PLAN[cfg_name]) and failed == 0, f"{failed} of {total} cocotb tests failed"


@pytest.mark.parametrize("sim", SIMS)
def test_fsic_line_framing_without_sideband(sim, tmp_path):
    """Line framing in a build without USER_PROJECT_SIDEBAND_SUPPORT (no ss_tupsb, so no sof): frames are counted
    lines; well-formed line-framed frames come out exact with no error."""
    require_tools("iverilog" if sim == "icarus" else "verilator")
    rtl.write_wrapper(tmp_path, {**LINE_CONFIGS["line_logits_4x4"], "out_framing": "frame"})
    total, failed = rtlsim.run_fsic(sim, tmp_path / "fsic", "test_fsic_side", ["test_line_framing"], tmp_path)
    assert total == 1 and failed == 0, f"{failed} of {total} cocotb tests failed"


@pytest.mark.parametrize("sim", SIMS)
def test_fsic_frame_framing_with_sideband(sim, tmp_path):
    """The default (frame) framing compiled with USER_PROJECT_SIDEBAND_SUPPORT: unchanged behaviour, sm_tupsb = 0."""
    require_tools("iverilog" if sim == "icarus" else "verilator")
    rtl.write_wrapper(tmp_path, CONFIGS["argmax_3x5_hp"])
    tests = ["test_hp_never_interrupt", "test_line_framing"]
    total, failed = rtlsim.run_fsic(sim, tmp_path / "fsic", "test_fsic_side", tests, tmp_path, defines=SIDEBAND)
    assert total == len(tests) and failed == 0, f"{failed} of {total} cocotb tests failed"


@pytest.mark.slow
@pytest.mark.parametrize("sim", SIMS)
def test_fsic_line_framing_64x64(sim, tmp_path):
    """Line framing on the real 64x64x3 frame (48-word lines, 64 lines; argmax output in 11-word lines) (slow)."""
    require_tools("iverilog" if sim == "icarus" else "verilator")
    rtl.write_wrapper(tmp_path, {**CONFIGS["argmax_64x64_hp"], "in_framing": "line", "out_framing": "line"})
    total, failed = rtlsim.run_fsic(sim, tmp_path / "fsic", "test_fsic_side", LINE_TESTS, tmp_path,
                                    defines=SIDEBAND)
    assert total == len(LINE_TESTS) and failed == 0, f"{failed} of {total} cocotb tests failed"
