"""Behavioural model of the FSIC side of USER_PRJ0, written from the shared facts
(../shared/design/fsic_user_project.md), not from FSIC's source:

* **The FPGA->SoC link is one shared link.** The FPGA issues, in order, stream words for the project's ``ss_*`` input
  and tunnelled AXI-Lite accesses (writes and reads of the project's registers). The link moves at most one item per
  core clock. Stream words go into the AXI-Stream switch's receive FIFO (``fifo_depth`` = 16 entries) that feeds
  ``ss_*``; when that FIFO is full the head of the link waits -- and every AXI-Lite access queued behind it waits too
  (head-of-line blocking). An AXI-Lite access at the head is carried out on the project's AXI-Lite port by FSIC's
  config control (:class:`fsic_tb.FsicAxilMaster`: awvalid+wvalid together, address zeroed after awready, no B
  channel) and the link moves on when it is done.
* **The SoC->FPGA direction** is granted by the switch to one source at a time: the project's ``sm_*`` stream or the
  other upstream traffic (mailbox messages, the answers of FPGA-side reads). A grant to the project is held until
  its ``sm_tlast``. ``High_pri_req`` is the project's high-priority grant request: while it is high the switch grants
  the project (at the next frame boundary) and keeps the grant -- even with no frame being sent, which blocks the
  mailbox (the failure measured in FSIC; :attr:`FsicSide.idle_hold_cycles` counts such cycles).

* **FSIC's line framing** (its example host code / testbench): :meth:`FsicSide.send_lines` sends a frame with
  ``tlast`` at the end of every line, ``tkeep`` = 0000 and the sideband ``ss_tupsb`` = {eol, sof} (bit 0 = sof on the
  frame's first word, bit 1 = eol on each line's last word; driven as the source's ``tuser`` when the design has the
  port, i.e. compiled with ``USER_PROJECT_SIDEBAND_SUPPORT``); lines can be dropped, repeated or cut to make broken
  frames. ``sm_tupsb`` is recorded per output word (:attr:`FsicSide.sm_sb`, :meth:`FsicSide.out_frames_sof`).

Built on cocotbext-axi where it fits: an :class:`AxiStreamSource` drives ``ss_*`` and is paused whenever the modelled
receive FIFO holds no word the link has delivered (so the source presents exactly the FIFO's head). ``sm_tready`` is
the switch's grant (and the FPGA side's readiness), so the model drives it itself at the falling edge: an
``AxiStreamSink``'s pause acts one cycle late (it samples ``pause`` before the edge), which would let a word through
after the grant moved on. cocotbext's ``AxiLiteMaster`` needs the B channel FSIC's user-project bus does not have,
so the config-control master of ``fsic_tb`` is used for the AXI-Lite side.

All bookkeeping runs at the falling clock edge, from signal values that are stable mid-cycle, and states what
happens at the next rising edge. Cycle numbers (``self.cycle``) count rising edges.
"""
from __future__ import annotations

import collections
import random
from dataclasses import dataclass, field

import cocotb
from cocotb.triggers import Event, FallingEdge, RisingEdge
from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamSource
from fsic_tb import FsicAxilMaster


class _SidebandBus(AxiStreamBus):
    """ss_* with FSIC's sideband ss_tupsb as the stream's tuser (FSIC's own ss_tuser is always 00)."""
    _signals = {"tdata": "tdata"}
    _optional_signals = {"tvalid": "tvalid", "tready": "tready", "tlast": "tlast", "tkeep": "tkeep", "tuser": "tupsb"}


def has_sideband(dut) -> bool:
    try:
        dut.ss_tupsb
    except AttributeError:
        return False
    return True


@dataclass
class _Access:
    kind: str                  # 'w' or 'r'
    addr: int
    data: int = 0
    issued: int = 0            # cycle the FPGA issued it
    done: int | None = None    # cycle it completed on the project's port
    value: int | None = None   # read data
    event: Event = field(default_factory=Event)


@dataclass
class _Msg:                    # an upstream (SoC->FPGA) message other than the project's stream
    words: int
    issued: int
    done: int | None = None
    event: Event = field(default_factory=Event)


class FsicSide:
    def __init__(self, dut, fifo_depth: int = 16, fpga_bp: float = 0.0, seed: int = 5, hp_lead: int = 1):
        self.dut, self.clk = dut, dut.axis_clk
        self.fifo_depth = fifo_depth
        self.rng = random.Random(seed)
        self.fpga_bp = fpga_bp                # probability the FPGA side holds the upstream stream (sm_tready) low
        self.cycle = 0
        self.axil = FsicAxilMaster(dut, timeout=10**7)
        # downstream link: items are ('s', None) for a stream word (the data is in the source's frames) or _Access
        self.link: collections.deque = collections.deque()
        self.delivered = 0                    # stream words moved by the link into the receive FIFO
        self.consumed = 0                     # ss handshakes
        self._link_busy: _Access | None = None
        self.max_fifo = 0
        # ss_* monitor
        self.ss_stall_run = 0                 # current run of ss_tvalid && !ss_tready cycles
        self.ss_stall_max = 0
        self.ss_words: list[tuple[int, int, int]] = []
        # upstream switch
        self.grant: str | None = None         # None, 'prj', 'msg'
        self.msgs: collections.deque = collections.deque()
        self._msg_left = 0
        self.sm_words: list[tuple[int, int, int]] = []
        self.hp_log: list[tuple[int, int]] = []   # (cycle, value) of High_pri_req changes
        self._hp = 0
        self.sm_first_cycles: list[int] = []   # cycle of each output frame's first handshake
        self.sm_last_cycles: list[int] = []    # cycle of each output frame's tlast handshake
        self._sm_mid = False
        # High_pri_req high while the project offers nothing and is not mid-frame, beyond the first hp_lead cycles of
        # such a run (a request may lead its frame by hp_lead cycles: the switch sees it before the first word)
        self.hp_lead = hp_lead
        self.idle_hold_cycles = 0
        self._idle_run = 0
        # FSIC's sideband {eol, sof} (USER_PROJECT_SIDEBAND_SUPPORT): ss_tupsb driven as the source's tuser
        self.sideband = has_sideband(dut)
        self.sm_sb: list[int] = []            # sm_tupsb of each sm handshake (sideband builds)
        bus = _SidebandBus(dut, "ss") if self.sideband else AxiStreamBus.from_prefix(dut, "ss")
        self.src = AxiStreamSource(bus, self.clk, dut.axis_rst_n, reset_active_level=False)
        self.src.log.setLevel("WARNING")
        self.src.pause = True
        dut.sm_tready.value = 0
        cocotb.start_soon(self._run())

    # ------------------------------------------------------------------ FPGA-side API
    def send_frame(self, data: bytes, tkeep=None):
        """The FPGA sends one frame (bytes, 4 per word, tlast on its last word) into the link."""
        frame = AxiStreamFrame(data, tkeep=tkeep)
        self.src.send_nowait(frame)
        for _ in range((len(frame.tdata) + 3) // 4):
            self.link.append(("s", None))

    def send_lines(self, data: bytes, line_words: int, lines=None, tkeep0: bool = True, sof: bool = True):
        """The FPGA sends one frame in FSIC's line convention (its example host code / testbench): ``tlast`` at the
        end of every line of ``line_words`` words, ``tkeep`` = ``tstrb`` = 0000 (``tkeep0``; else the valid bytes),
        ``ss_tupsb`` = {eol, sof}: sof (bit 0) on the frame's first word (``sof``), eol (bit 1) on each line's last
        word. The frame bytes are zero-padded to whole words. ``lines``: the lines to send, as lists of word indices
        into the frame (default: all, in order) -- drop, repeat or cut lines to make broken frames; a word index past
        the frame sends a random word."""
        n = len(data)
        words = (n + 3) // 4
        padded = data + bytes(4 * words - n)
        if lines is None:
            lines = [list(range(i, min(i + line_words, words))) for i in range(0, words, line_words)]
        first = True
        for line in lines:
            tdata, tkeep, tuser = bytearray(), [], []
            for j, w in enumerate(line):
                chunk = padded[4 * w:4 * w + 4] if w < words else self.rng.randbytes(4)
                tdata += chunk
                valid = min(4, max(0, n - 4 * w)) if w < words else 4
                tkeep += [0] * 4 if tkeep0 else [1 if b < valid else 0 for b in range(4)]
                sb = (1 if (first and j == 0 and sof) else 0) | (2 if j == len(line) - 1 else 0)
                tuser += [sb] * 4
            first = False
            self.src.send_nowait(AxiStreamFrame(bytes(tdata), tkeep=tkeep, tuser=tuser))
            for _ in line:
                self.link.append(("s", None))

    def fpga_write_nowait(self, addr: int, data: int) -> _Access:
        """Queue a tunnelled FPGA-side register write behind whatever the FPGA sent before (now, in program order);
        ``await a.event.wait()`` for its completion."""
        a = _Access("w", addr, data, issued=self.cycle)
        self.link.append(a)
        return a

    def fpga_read_nowait(self, addr: int) -> _Access:
        a = _Access("r", addr, issued=self.cycle)
        self.link.append(a)
        return a

    async def fpga_write(self, addr: int, data: int) -> _Access:
        """A tunnelled FPGA-side register write, queued behind whatever the FPGA sent before; returns when done."""
        a = self.fpga_write_nowait(addr, data)
        await a.event.wait()
        return a

    async def fpga_read(self, addr: int, a: _Access | None = None) -> _Access:
        """A tunnelled FPGA-side register read (``a``: one queued by :meth:`fpga_read_nowait`); returns when its
        answer has come back upstream (``a.value``, ``a.done``)."""
        a = a or self.fpga_read_nowait(addr)
        await a.event.wait()
        m = self.mailbox(1)             # the answer travels back upstream
        await m.event.wait()
        a.done = m.done
        return a

    def mailbox(self, words: int = 1) -> _Msg:
        """A SoC->FPGA mailbox message of ``words`` words (needs the upstream grant)."""
        m = _Msg(words, issued=self.cycle)
        self.msgs.append(m)
        return m

    # ------------------------------------------------------------------ SoC-side API (not behind the link)
    async def soc_write(self, addr: int, data: int):
        await self.axil.write(addr, data)

    async def soc_read(self, addr: int) -> int:
        return await self.axil.read(addr)

    # ------------------------------------------------------------------ frames seen
    def out_frames(self):
        frames, cur = [], []
        for b in self.sm_words:
            cur.append(b)
            if b[2]:
                frames.append(cur)
                cur = []
        return frames, cur

    def out_frames_sof(self):
        """Output frames split at sm_tupsb's sof (line framing: sm_tlast ends lines): ([[(data, keep, last, sb)]],
        the words before the first sof)."""
        frames, lead = [], []
        for wd, sb in zip(self.sm_words, self.sm_sb):
            if sb & 1:
                frames.append([])
            (frames[-1] if frames else lead).append((*wd, sb))
        return frames, lead

    @property
    def hp_high_now(self) -> int:
        return self._hp

    def idle(self) -> bool:
        """Nothing left on the downstream link or in the receive FIFO."""
        return not self.link and self._link_busy is None and self.delivered == self.consumed

    def state(self) -> str:
        return (f"cycle {self.cycle}: link {len(self.link)} items, FIFO {self.delivered - self.consumed}, grant "
                f"{self.grant}, msgs {len(self.msgs)}, ss words {len(self.ss_words)}, sm words {len(self.sm_words)}")

    # ------------------------------------------------------------------ the model
    async def _do_access(self, a: _Access):
        if a.kind == "w":
            await self.axil.write(a.addr, a.data)
        else:
            a.value = await self.axil.read(a.addr)
        a.done = self.cycle
        self._link_busy = None
        a.event.set()

    async def _count(self):
        while True:
            await RisingEdge(self.clk)
            self.cycle += 1

    async def _run(self):
        d = self.dut
        cocotb.start_soon(self._count())
        while True:
            await FallingEdge(self.clk)
            if not (d.axis_rst_n.value.is_resolvable and int(d.axis_rst_n.value)):
                d.sm_tready.value = 0
                continue
            nxt = self.cycle + 1   # the rising edge the values below act on
            # ---- downstream: ss handshake at the next edge
            sv, sr = int(d.ss_tvalid.value), int(d.ss_tready.value)
            hs = sv & sr
            if hs:
                self.ss_words.append((int(d.ss_tdata.value), int(d.ss_tkeep.value), int(d.ss_tlast.value)))
            if sv and not sr:
                self.ss_stall_run += 1
                self.ss_stall_max = max(self.ss_stall_max, self.ss_stall_run)
            else:
                self.ss_stall_run = 0
            # the link: one item per cycle; a stream word needs room in the receive FIFO
            if self._link_busy is None and self.link:
                head = self.link[0]
                if isinstance(head, tuple):
                    if self.delivered - self.consumed < self.fifo_depth:
                        self.link.popleft()
                        self.delivered += 1
                else:
                    self.link.popleft()
                    self._link_busy = head
                    cocotb.start_soon(self._do_access(head))
            self.max_fifo = max(self.max_fifo, self.delivered - self.consumed)
            # the source presents a new word only when the FIFO holds one beyond the word leaving now
            self.src.pause = (self.delivered - self.consumed - hs) < 1
            self.consumed += hs
            # ---- upstream switch
            hp = int(d.High_pri_req.value)
            if hp != self._hp:            # changed at the last rising edge
                self.hp_log.append((self.cycle, hp))
                self._hp = hp
            mv, ml = int(d.sm_tvalid.value), int(d.sm_tlast.value)
            # the grant for the coming edge (decided from what the switch sees now)
            if self.grant is None:
                if hp:
                    self.grant = "prj"
                elif self.msgs:
                    self.grant = "msg"
                    self._msg_left = self.msgs[0].words
                elif mv:
                    self.grant = "prj"
            tr = int(self.grant == "prj" and not (self.fpga_bp > 0 and self.rng.random() < self.fpga_bp))
            d.sm_tready.value = tr
            mhs = mv & tr
            if mhs:
                self.sm_words.append((int(d.sm_tdata.value), int(d.sm_tkeep.value), ml))
                if self.sideband:
                    self.sm_sb.append(int(d.sm_tupsb.value))
                if not self._sm_mid:
                    self.sm_first_cycles.append(nxt)
                self._sm_mid = not ml
                if ml:
                    self.sm_last_cycles.append(nxt)
            if hp and not mv and not self._sm_mid:
                self._idle_run += 1
                if self._idle_run > self.hp_lead:
                    self.idle_hold_cycles += 1
            else:
                self._idle_run = 0
            # the grant after the coming edge: a message word per cycle; the project's grant ends with its tlast
            # (unless High_pri_req keeps it), or when it offers nothing and does not request
            if self.grant == "msg":
                self._msg_left -= 1
                if self._msg_left == 0:
                    m = self.msgs.popleft()
                    m.done = nxt
                    m.event.set()
                    self.grant = None
            elif self.grant == "prj":
                if (mhs and ml and not hp) or (not hp and not mv and not self._sm_mid):
                    self.grant = None
