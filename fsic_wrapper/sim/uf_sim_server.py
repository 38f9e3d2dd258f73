"""cocotb test module: the FPGA side of FSIC, served to pipeline.host's ``sim`` backend over a loopback socket.

Started by ``python -m pipeline.hw.rtlsim serve`` (pipeline.host's sim backend; one simulator process per
opened device).  The simulated design is the build's
generated USER_PRJ0 (the real wrapper RTL) with the HLS IP shell driven by fsic_wrapper/sim/ip_model.py, whose
per-frame result is ``model(frame)`` -- the model named by UF_MODEL ('module:factory', 'path/to/file.py:factory',
or the wrapper's defaults 'summod'/'bytefn').

Requests are JSON lines; simulated time only advances while a request is being served (a blocking socket read
freezes the simulator, so the host is never "late"):
  {"op": "hello"}                               -> {"ok": true, "cycle_ns": 10}
  {"op": "read", "off": int}                    -> {"ok": true, "v": int}      FSIC-pattern AXI-Lite read
  {"op": "write", "off": int, "v": int}         -> {"ok": true}                FSIC-pattern AXI-Lite write
  {"op": "transfer", "data": hex, "cycles": n}  -> {"ok": true, "data": hex} | {"ok": false, "timeout": true}
       send one input frame on ss_* (tlast on the last word, tkeep of the short last word) and receive one output
       frame from sm_* (up to tlast; only bytes with tkeep) within n clock cycles
  {"op": "flush"}                               -> {"ok": true, "dropped": n}  drop queued input / received output
  {"op": "close"}                               -> {"ok": true}                ends the test (and the simulator)
Env: UF_HOST_PORT, UF_BUILD_JSON, UF_MODEL, UF_LATENCY (IP latency, cycles).
"""
from __future__ import annotations

import json
import os
import socket

import cocotb
from cocotb.triggers import ClockCycles, First, Timer
from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamSink, AxiStreamSource
from fsic_tb import FsicAxilMaster, assert_reset, start_clock_and_reset
from ip_model import HlsIpModel
from models import load_model

CYCLE_NS = 10


@cocotb.test()
async def serve(dut):
    p = json.loads(open(os.environ["UF_BUILD_JSON"]).read())
    sock = socket.create_connection(("127.0.0.1", int(os.environ["UF_HOST_PORT"])))
    rf = sock.makefile("rb")

    def reply(obj):
        sock.sendall((json.dumps(obj) + "\n").encode())

    await start_clock_and_reset(dut, period_ns=CYCLE_NS)
    try:
        model = load_model(os.environ.get("UF_MODEL") or None, p)
    except Exception as e:  # noqa: BLE001 - reported to the host as a startup failure
        reply({"ok": False, "error": f"model: {e!r}"})
        sock.close()
        return
    # cocotbext-axi objects only after the clock runs (Verilator reset quirk, see fsic_wrapper/README.md)
    ip = HlsIpModel(dut.u_ip, dut.axis_clk, p, model, latency=int(os.environ.get("UF_LATENCY", "8")))
    src = AxiStreamSource(AxiStreamBus.from_prefix(dut, "ss"), dut.axis_clk, dut.axis_rst_n,
                          reset_active_level=False)
    sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "sm"), dut.axis_clk, dut.axis_rst_n,
                         reset_active_level=False)
    src.log.setLevel("WARNING")
    sink.log.setLevel("WARNING")
    ip.start()
    await assert_reset(dut)
    bus = FsicAxilMaster(dut, timeout=1000)
    reply({"ok": True, "cycle_ns": CYCLE_NS})

    while True:
        line = rf.readline()          # blocking: simulated time stands still while the host thinks
        if not line:
            break
        req = json.loads(line)
        op = req.get("op")
        try:
            if op == "hello":
                reply({"ok": True, "cycle_ns": CYCLE_NS})
            elif op == "read":
                reply({"ok": True, "v": await bus.read(int(req["off"]))})
            elif op == "write":
                await bus.write(int(req["off"]), int(req["v"]))
                reply({"ok": True})
            elif op == "transfer":
                await src.send(AxiStreamFrame(bytes.fromhex(req["data"]), tkeep=None))
                rx = cocotb.start_soon(sink.recv())
                res = await First(rx, ClockCycles(dut.axis_clk, int(req["cycles"])))
                if rx.done():
                    reply({"ok": True, "data": bytes(rx.result().tdata).hex()})
                else:
                    rx.kill()
                    reply({"ok": False, "timeout": True})
                del res
            elif op == "flush":
                n = sink.count()
                src.clear()
                sink.clear()
                await Timer(1, "ns")
                reply({"ok": True, "dropped": n})
            elif op == "close":
                reply({"ok": True})
                break
            else:
                reply({"ok": False, "error": f"unknown op {op!r}"})
        except Exception as e:  # noqa: BLE001 - the host raises it
            reply({"ok": False, "error": repr(e)})
    sock.close()
