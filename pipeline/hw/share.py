"""USER_PRJ0's share of the part and what is left of it for the hls4ml IP (docs/budget.md): the budget, our wrapper's
share, and the calibrated upper-bound factors. A leaf module: the estimator (``hls.multiplier_binding: auto`` fills
the DSP budget) and :mod:`pipeline.hw.budget` (fit, clocks, ``reuse_factor: auto``) both read it."""
from __future__ import annotations

import json
from pathlib import Path

from .parts import part_capacity

#: the calibration the estimator is fitted on (pipeline/hw/calibration.py writes it)
CALIBRATION_FILE = Path(__file__).with_name("calibration_error.json")
RESOURCES = ("LUT", "FF", "BRAM36", "DSP")
# FSIC's platform on the PYNQ-Z2 (../shared/design/fsic_user_project.md, "Area and clocks of the reference PYNQ-Z2
# build": yosys 0.23 synth_xilinx of the FSIC FPGA build with the user projects as black boxes + vendor csynth of its
# two small HLS IPs + the Xilinx glue IP inferred). Repeated in docs/estimate.md; config.py holds the defaults.
FSIC_RESERVED = {"LUT": 14200, "FF": 14800, "BRAM36": 6.5, "DSP": 0}
# Our own USER_PRJ0 wrapper around the IP (AXI-Lite registers, input frame buffer (3 BRAM36) + stall watchdog,
# gearboxes, counters, frame CRCs: fsic_wrapper/rtl), per
# output head: yosys 0.23 synth_xilinx -flatten with the hls4ml IP as a black box, default 64x64 build
# (bench/bench_wrapper_synth.py; BENCHMARKS.md "FSIC wrapper"; tests/test_budget.py re-synthesizes the wrapper and
# checks these numbers). USER_PRJ0 = wrapper + IP, so the IP's share is the budget minus this.
FSIC_WRAPPER = {"argmax": {"LUT": 1618, "FF": 709, "BRAM36": 3, "DSP": 0},
                "logits": {"LUT": 2659, "FF": 1043, "BRAM36": 3, "DSP": 0}}
# The two-clock wrapper (target.ip_clock: user_clock2; + uf_ip_cdc: two async FIFOs of 8 words in LUT RAM,
# synchronisers), same synthesis (bench/bench_wrapper_synth.py --ip-clock user_clock2); LUT includes the LUT RAM
# (4 LUTs per RAM32M).  tests/test_two_clock.py re-synthesizes and checks these numbers.
FSIC_WRAPPER_USER_CLOCK2 = {"argmax": {"LUT": 1631, "FF": 796, "BRAM36": 3, "DSP": 0},
                            "logits": {"LUT": 3022, "FF": 1130, "BRAM36": 3, "DSP": 0}}


def wrapper_share(config) -> dict:
    """Our wrapper's LUT/FF/BRAM36/DSP for the build's output head and IP clock (target.ip_clock)."""
    two = config["target"].get("ip_clock") == "user_clock2"
    return dict((FSIC_WRAPPER_USER_CLOCK2 if two else FSIC_WRAPPER)[config["hls"]["output_head"]])


def budget(config) -> dict:
    """The hls4ml IP's share of the part: USER_PRJ0's ``capacity * max_utilization - reserved`` per resource
    (``user_prj0``) minus our own wrapper around the IP (``wrapper``, :data:`FSIC_WRAPPER` for the build's output
    head) = ``available``, what every estimate and vendor report of the IP is judged against (may be <= 0 only if
    the config check was bypassed)."""
    t = config["target"]
    cap = part_capacity(config["hls"]["part"])
    share = {k: cap[k] * t["max_utilization"] - t["reserved"][k] for k in RESOURCES}
    wrapper = wrapper_share(config)
    return {"part": config["hls"]["part"], "capacity": cap, "max_utilization": t["max_utilization"],
            "reserved": dict(t["reserved"]), "user_prj0": {k: round(v, 1) for k, v in share.items()},
            "wrapper": dict(wrapper), "available": {k: round(share[k] - wrapper[k], 1) for k in RESOURCES},
            "source": ("capacity x max_utilization - reserved (reserved = FSIC platform on the PYNQ-Z2, measured; "
                       "docs/budget.md)" if t["reserved"] == FSIC_RESERVED else
                       "capacity x max_utilization - reserved (reserved from the config)")
            + f" - our USER_PRJ0 wrapper ({config['hls']['output_head']} head"
            + (", two-clock: IP on user_clock2" if t.get("ip_clock") == "user_clock2" else "") + ", yosys)"}


def upper_factors() -> dict:
    """Per resource, the factor from the nominal estimate to its upper bound: the largest ``reported / estimate`` of
    the calibration's leave-one-out predictions of Vivado results (``pipeline/hw/calibration_error.json``; docs/
    estimate.md). Not ``1 + |relative error|``: an estimate 77 % low means the truth is 4.4x the estimate."""
    viv = json.loads(CALIBRATION_FILE.read_text())["overall"]["vivado"]
    return {k: max(1.0, float(viv[k]["max_reported_over_estimate"])) for k in RESOURCES}
