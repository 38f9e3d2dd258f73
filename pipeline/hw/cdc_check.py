"""Structural clock-domain-crossing check of a generated USER_PRJ0 (fsic_wrapper/README.md "Two clocks").

``check(fsic_dir) -> list[str]`` synthesises ``<fsic_dir>/filelist.f`` with yosys (``proc; flatten; opt;
memory_collect``; the IP as a black box read from ``sim/<hls_top>.v`` with ``-lib``), then walks the netlist:

* every flip-flop, memory write port and black-box instance belongs to the clock on its clock pin (a top-level
  clock port: ``axis_clk``/``axi_clk`` = domain A, ``user_clock2`` = domain B); top-level inputs belong to A
  (``uck2_rst_n`` to B), top-level outputs are sampled in A;
* for every sink (a flip-flop's data/enable/reset inputs, a memory write port, a black-box input, a top output) the
  combinational cone is traced back to its sources (flip-flops, memory read data, black-box outputs, top inputs);
* a source of the other domain is allowed only
  - into a flip-flop named ``cdc_s1`` (first stage of ``uf_cdc_sync``) whose D input is driven **directly** by
    flip-flops (no logic in between), or
  - as the read data of a memory declared in ``uf_async_fifo.v`` (written in one domain, read asynchronously at
    a pointer of the other; the pointers cross in uf_cdc_sync).
Returns the violations (empty = clean).  Needs yosys on PATH.
"""
from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

DOMAIN_OF_CLOCK = {"axis_clk": "A", "axi_clk": "A", "user_clock2": "B"}
FF_TYPES = {"$dff", "$dffe", "$sdff", "$sdffe", "$sdffce", "$adff", "$adffe", "$aldff", "$aldffe", "$dffsr",
            "$dffsre"}
FIFO_SRC = "uf_async_fifo.v"


def netlist(fsic_dir: Path | str) -> dict:
    fsic = Path(fsic_dir)
    p = json.loads((fsic / "python" / "unet_fsic_build.json").read_text())
    files = [str(fsic / ln.strip()) for ln in (fsic / "filelist.f").read_text().splitlines() if ln.strip()]
    with tempfile.TemporaryDirectory() as td:
        out = Path(td) / "n.json"
        script = (f"read_verilog -lib {fsic / 'sim' / (p['hls_top_name'] + '.v')}; read_verilog {' '.join(files)}; "
                  f"hierarchy -top USER_PRJ0; proc; flatten; opt; memory_collect; opt_clean; write_json {out}")
        subprocess.run(["yosys", "-q", "-p", script], check=True, capture_output=True, text=True)
        return json.loads(out.read_text())


class _Domains:
    """The netlist's bits, their drivers and the clock domain of every clocked cell and top-level port."""

    def __init__(self, j: dict):
        top = j["modules"]["USER_PRJ0"]
        self.cells = top["cells"]
        self.bbox = {name for name, mod in j["modules"].items() if mod.get("attributes", {}).get("blackbox")}
        self.names: dict[int, list[str]] = {}  # bit -> net name(s)
        for n, v in top["netnames"].items():
            for b in v["bits"]:
                if isinstance(b, int):
                    self.names.setdefault(b, []).append(n)
        self.clk_dom: dict[int, str] = {}  # clock bit -> domain
        self.in_dom: dict[int, str] = {}  # top input bit -> domain
        self.outs: list[tuple[str, int]] = []
        for pn, pv in top["ports"].items():
            for b in pv["bits"]:
                if not isinstance(b, int):
                    continue
                if pn in DOMAIN_OF_CLOCK:
                    self.clk_dom[b] = DOMAIN_OF_CLOCK[pn]
                elif pv["direction"] == "input":
                    self.in_dom[b] = "B" if pn == "uck2_rst_n" else "A"
                else:
                    self.outs.append((pn, b))
        # drivers: bit -> ("ff" | "mem" | "bb" | "comb", cell)
        self.driver: dict[int, tuple[str, str]] = {}
        self.cell_dom: dict[str, str] = {}
        for cn, c in self.cells.items():
            kind = self._classify(cn, c)
            conn, dirs = c["connections"], c.get("port_directions", {})
            for pn, bits in conn.items():
                out = dirs.get(pn) == "output" if dirs else pn in ("Y", "Q", "RD_DATA")
                if kind == "mem":
                    out = pn == "RD_DATA"
                if out:
                    for b in bits:
                        if isinstance(b, int):
                            self.driver[b] = (kind, cn)

    def _dom_of(self, bit, what) -> str:
        if bit not in self.clk_dom:
            raise ValueError(f"{what}: clocked by a net that is not a top-level clock port ({self.names.get(bit)})")
        return self.clk_dom[bit]

    def _classify(self, cn: str, c: dict) -> str:
        t, conn = c["type"], c["connections"]
        if t in FF_TYPES:
            self.cell_dom[cn] = self._dom_of(conn["CLK"][0], cn)
            return "ff"
        if t == "$mem_v2":
            self.cell_dom[cn] = self._dom_of(conn["WR_CLK"][0], cn)
            return "mem"
        if t in self.bbox:
            clkp = [p for p in conn if p in ("ap_clk", "clk")]
            self.cell_dom[cn] = self._dom_of(conn[clkp[0]][0], cn)
            return "bb"
        return "comb"

    def sources(self, bits) -> set:
        """(kind, name, domain) of the sources of the combinational cone of ``bits``."""
        seen, res = set(), set()
        stack = [b for b in bits if isinstance(b, int)]
        while stack:
            b = stack.pop()
            if b in seen:
                continue
            seen.add(b)
            if b in self.in_dom:
                res.add(("in", str(self.names.get(b, [b])[0]), self.in_dom[b]))
                continue
            if b in self.clk_dom or b not in self.driver:
                continue
            kind, cn = self.driver[b]
            if kind in ("ff", "bb"):
                nm = [n for n in self.names.get(b, []) if not n.startswith("$")]
                res.add((kind, nm[0] if nm and kind == "ff" else cn, self.cell_dom[cn]))
            elif kind == "mem":
                res.add(("mem", cn, self.cell_dom[cn]))
                stack += [x for x in self.cells[cn]["connections"]["RD_ADDR"] if isinstance(x, int)]
            else:
                c = self.cells[cn]
                dirs = c.get("port_directions", {})
                for pn, pbits in c["connections"].items():
                    if dirs.get(pn) == "input":
                        stack += [x for x in pbits if isinstance(x, int)]
        return res

    def is_fifo_mem(self, cn) -> bool:
        return FIFO_SRC in self.cells[cn].get("attributes", {}).get("src", "")

    def is_sync_s1(self, cn) -> bool:
        q = self.cells[cn]["connections"]["Q"]
        return all(any(n.endswith("cdc_s1") for n in self.names.get(b, [])) for b in q if isinstance(b, int))

    def judge(self, bad: list, sink: str, dom: str, bits, ff: str | None = None, d_bits=None) -> None:
        """Append to ``bad`` every source of ``bits`` from the other domain that the rules do not allow."""
        for kind, src, sdom in sorted(self.sources(bits)):
            if sdom == dom:
                continue
            if kind == "mem" and self.is_fifo_mem(src):
                continue
            if ff is not None and self.is_sync_s1(ff) and d_bits is not None:
                if all(isinstance(b, int) and self.driver.get(b, ("", ""))[0] == "ff" for b in d_bits):
                    continue
                bad.append(f"{sink} (domain {dom}): synchroniser stage 1 fed through logic from {src} ({sdom})")
                continue
            bad.append(f"{sink} (domain {dom}) depends on {kind} {src} (domain {sdom}) without a synchroniser")


def check(fsic_dir: Path | str) -> list[str]:
    """The CDC violations of the generated USER_PRJ0 in ``fsic_dir`` (module docstring); empty = clean."""
    d = _Domains(netlist(fsic_dir))
    bad: list[str] = []
    for cn, c in d.cells.items():
        t, conn = c["type"], c["connections"]
        if t in FF_TYPES:
            ins = [b for p, bits in conn.items() if p not in ("CLK", "Q") for b in bits]
            d.judge(bad, f"flip-flop {'/'.join(d.names.get(conn['Q'][0], [cn]))}", d.cell_dom[cn], ins, cn,
                    conn["D"])
        elif t == "$mem_v2":
            ins = [b for p in ("WR_ADDR", "WR_DATA", "WR_EN") for b in conn[p]]
            d.judge(bad, f"memory {cn} write port", d.cell_dom[cn], ins)
        elif t in d.bbox:
            dirs = c.get("port_directions", {})
            ins = [b for p, bits in conn.items() if dirs.get(p) == "input" and p not in ("ap_clk", "clk")
                   for b in bits]
            d.judge(bad, f"IP {cn} inputs", d.cell_dom[cn], ins)
    for pn, b in d.outs:
        d.judge(bad, f"output {pn}", "A", [b])
    return sorted(set(bad))


if __name__ == "__main__":
    import sys
    v = check(sys.argv[1])
    print("\n".join(v) if v else "CDC clean")
    sys.exit(1 if v else 0)
