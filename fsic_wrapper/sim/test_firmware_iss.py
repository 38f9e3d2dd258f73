"""cocotb bench: the compiled RV32I Caravel firmware (an ELF built by firmware/Makefile) runs in an instruction-set
simulator (rv32_iss.Rv32Soc, Unicorn) and drives the real USER_PRJ0 RTL.

Every access of the firmware to the FSIC user-project window (0x3000_0000, after it selected project 0 at
0x3000_5000) becomes an FSIC-pattern AXI-Lite access (fsic_tb.FsicAxilMaster: no B channel, no rresp) on the
simulated wrapper.  The ISS runs in a thread (``cocotb.external``); each bus access is a ``cocotb.function`` called
from that thread, which blocks the ISS until the simulator has finished the access -- so simulated time only advances
during bus accesses and a poll loop costs real AXI-Lite cycles.  The HLS IP behind the wrapper is
ip_model.HlsIpModel with the wrapper's deterministic stand-in model (models.load_model, 'summod' / 'bytefn').

The FPGA side (cocotbext-axi AxiStreamSource/Sink on ss_*/sm_*) streams one input frame once the IP's ap_start
rises -- i.e. once the firmware started a frame -- and takes the output; the sm_* beats are recorded.

Nothing is judged here: every run is recorded and written to UF_FW_RESULTS (JSON) for tests/test_firmware_rtl.py,
which compares it with independent expectations.  The cocotb test fails only if the bench itself breaks.

Environment:
  UF_BUILD_JSON   the RTL's resolved wrapper params (<build>/fsic/python/unet_fsic_build.json)
  UF_FW_RUNS      JSON list of {"name": str, "elf": path}: firmware images run one after the other, each after a
                  reset of the design
  UF_FW_RESULTS   output JSON: {"params": P, "runs": [record, ...]}
  UF_FW_SEED      seed of the input frame bytes (default 5);  UF_LATENCY  IP latency in cycles (default 8)
  UF_MODEL        IP model spec (models.load_model; default 'summod' / 'bytefn')
"""
from __future__ import annotations

import json
import os
import random
import time

import cocotb
from cocotb.triggers import ClockCycles, RisingEdge
from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamSink, AxiStreamSource
from fsic_tb import FsicAxilMaster, assert_reset, start_clock_and_reset
from ip_model import HlsIpModel
from models import load_model
from rv32_iss import Rv32Soc

CYCLE_NS = 10


@cocotb.test()
async def firmware_runs(dut):
    with open(os.environ["UF_BUILD_JSON"]) as fh:
        p = json.load(fh)
    runs = json.loads(os.environ["UF_FW_RUNS"])
    rng = random.Random(int(os.environ.get("UF_FW_SEED", "5")))
    clk = dut.axis_clk

    await start_clock_and_reset(dut, period_ns=CYCLE_NS)
    # cocotbext-axi objects only after the clock runs (Verilator reset quirk, see fsic_wrapper/README.md)
    ip_clk = dut.user_clock2 if p.get("two_clock") else clk   # two-clock build: the IP on user_clock2
    ip = HlsIpModel(dut.u_ip, ip_clk, p, load_model(os.environ.get("UF_MODEL"), p),
                    latency=int(os.environ.get("UF_LATENCY", "8")))
    src = AxiStreamSource(AxiStreamBus.from_prefix(dut, "ss"), clk, dut.axis_rst_n, reset_active_level=False)
    sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "sm"), clk, dut.axis_rst_n, reset_active_level=False)
    src.log.setLevel("WARNING")
    sink.log.setLevel("WARNING")
    ip.start()
    bus = FsicAxilMaster(dut, timeout=1000)
    sm_beats: list[list[int]] = []

    async def sm_monitor():
        while True:
            await RisingEdge(clk)
            if int(dut.axis_rst_n.value) and int(dut.sm_tvalid.value) and int(dut.sm_tready.value):
                sm_beats.append([int(dut.sm_tdata.value), int(dut.sm_tkeep.value), int(dut.sm_tlast.value)])
    cocotb.start_soon(sm_monitor())

    # the bridge: called from the ISS thread, each call blocks it until the simulator finished the access
    @cocotb.function
    async def bus_read(off: int) -> int:
        return await bus.read(off)

    @cocotb.function
    async def bus_write(off: int, value: int) -> None:
        await bus.write(off, value)

    records = []
    for run in runs:
        await assert_reset(dut)
        sink.clear()
        sm_beats.clear()
        starts0 = ip.starts
        frame = rng.randbytes(p["H"] * p["W"] * p["C"])
        sent: list[str] = []

        async def fpga_side():
            """Stream one frame once the IP is asked to start (the firmware's AP_START)."""
            while not (dut.u_ip.ap_start.value.is_resolvable and int(dut.u_ip.ap_start.value) == 1):
                await RisingEdge(clk)
            sent.append(frame.hex())
            await src.send(AxiStreamFrame(frame, tkeep=None))
        feeder = cocotb.start_soon(fpga_side())

        with open(run["elf"], "rb") as fh:
            soc = Rv32Soc(fh.read(), bus_read, bus_write)
        t_sim0, t0 = cocotb.utils.get_sim_time("ns"), time.monotonic()
        res = await cocotb.external(soc.run)()
        t_sim1, wall = cocotb.utils.get_sim_time("ns"), time.monotonic() - t0
        await ClockCycles(clk, 20)          # let a frame in flight (if any) drain before recording
        if not feeder.done():
            feeder.kill()
        out = [bytes(sink.recv_nowait().tdata).hex() for _ in range(sink.count())]
        records.append({
            "name": run["name"], "elf": run["elf"], "stop": res["stop"], "pc": res["pc"], "park": soc.park,
            "accesses": [[op, a, v] for op, a, v in soc.accesses], "violations": soc.violations,
            "mailbox": soc.mailbox[:8], "ip_starts": ip.starts - starts0, "frames_sent": sent,
            "frames_received": out, "sm_beats": list(sm_beats), "sim_ns": t_sim1 - t_sim0,
            "wall_s": round(wall, 3)})
        dut._log.info("firmware %s: %s, %d accesses, %d ns simulated, %.2f s", run["name"], res["stop"],
                      len(soc.accesses), t_sim1 - t_sim0, wall)

    with open(os.environ["UF_FW_RESULTS"], "w") as fh:
        json.dump({"params": p, "runs": records}, fh, indent=1)
