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
       frame from sm_* (up to tlast; only bytes with tkeep) within n clock cycles.  A build in line framing
       (fsic.in_framing / out_framing = line; simulated with USER_PROJECT_SIDEBAND_SUPPORT) is driven in FSIC's
       convention: the frame goes out in lines (tlast per line, tkeep 0000, ss_tupsb {eol, sof}) and the output
       frame is the lines received from one with sof up to its last word
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
from fsic_side import _SidebandBus, has_sideband
from fsic_tb import FsicAxilMaster, assert_reset, start_clock_and_reset
from ip_model import HlsIpModel
from models import load_model

CYCLE_NS = 10


async def send_lines(src, data: bytes, line_words: int):
    """One frame in FSIC's line convention: tlast per line of line_words words, tkeep 0000, ss_tupsb {eol, sof}."""
    words = (len(data) + 3) // 4
    padded = data + bytes(4 * words - len(data))
    for i in range(0, words, line_words):
        n = min(line_words, words - i)
        tuser = []
        for j in range(n):
            tuser += [(1 if i == 0 and j == 0 else 0) | (2 if j == n - 1 else 0)] * 4
        await src.send(AxiStreamFrame(padded[4 * i:4 * (i + n)], tkeep=[0] * (4 * n), tuser=tuser))


async def recv_lines(sink, p) -> bytes:
    """One output frame in line framing: lines (tlast each) from the one starting with sof, up to the frame's
    words_out words; bytes with tkeep only."""
    out, words = bytearray(), 0
    while words < p["words_out"]:
        fr = await sink.recv(compact=False)
        if words == 0 and not (fr.tuser[0] & 1):
            continue                       # not a frame start: skip up to the next sof
        for k in range(0, len(fr.tdata), 4):
            out += bytes(b for b, kp in zip(fr.tdata[k:k + 4], fr.tkeep[k:k + 4]) if kp)
            words += 1
    return bytes(out)


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
    ip_clk = dut.user_clock2 if p.get("two_clock") else dut.axis_clk   # two-clock build: the IP on user_clock2
    ip = HlsIpModel(dut.u_ip, ip_clk, p, model, latency=int(os.environ.get("UF_LATENCY", "8")))
    sb = has_sideband(dut)
    in_line, out_line = bool(p.get("in_line")) and sb, bool(p.get("out_line")) and sb
    src = AxiStreamSource(_SidebandBus(dut, "ss") if sb else AxiStreamBus.from_prefix(dut, "ss"), dut.axis_clk,
                          dut.axis_rst_n, reset_active_level=False)
    sink = AxiStreamSink(_SidebandBus(dut, "sm") if sb else AxiStreamBus.from_prefix(dut, "sm"), dut.axis_clk,
                         dut.axis_rst_n, reset_active_level=False)
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
                data = bytes.fromhex(req["data"])
                if in_line:
                    await send_lines(src, data, p["in_line_words"])
                else:
                    await src.send(AxiStreamFrame(data, tkeep=None))
                rx = cocotb.start_soon(recv_lines(sink, p) if out_line else sink.recv())
                res = await First(rx, ClockCycles(dut.axis_clk, int(req["cycles"])))
                if rx.done():
                    got = rx.result()
                    reply({"ok": True, "data": (got if isinstance(got, bytes) else bytes(got.tdata)).hex()})
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
