"""Generate the FSIC user-project wrapper (USER_PRJ0) for one unet-fsic build.

Public API
----------
``resolve_params(params) -> dict``
    Fill defaults and derived values (stream words per frame, fields per word, TDATA widths, ...) and validate.
``write_wrapper(build_dir, params) -> list[Path]``
    Write ``<build_dir>/fsic/``: the Verilog (generated ``rtl/USER_PRJ0.v`` + copied helpers, ``uf_regs.v`` with the
    register map's localparams spliced in: self-contained, no include directory), ``sim/<hls_top>.v`` (simulation
    shell of the HLS IP, driven by cocotb),
    ``include/unet_fsic_regs.h`` and ``include/unet_fsic_build.h`` (C), ``python/unet_fsic_regs.py`` and
    ``python/unet_fsic_build.json``, and the file lists ``filelist.f`` (synthesis, IP excluded) and
    ``filelist_sim.f`` (adds the IP shell), with paths relative to ``fsic/``.  Returns the written paths.
``render_user_prj0(params)`` / ``render_ip_shell(params)``
    The two generated Verilog sources as strings.

``params`` keys (lead supplies the first group from the build):
    H, W, C, classes, output_mode ('argmax' | 'logits'), weight_bits, act_bits, model_hash (int or hex str),
    hls_top_name, in_tdata_width, out_tdata_width
optional:
    hls_in_port ('input_1'), hls_out_port ('layer_out'): the C argument names of the HLS top, which become
        the <port>_TDATA/_TVALID/_TREADY names of the exported IP;
    in_elem_bits (8), in_shift (0): each input byte is placed at bits [in_shift+7:in_shift] of its
        in_elem_bits-wide channel element (element c at bits [c*in_elem_bits +: in_elem_bits] of TDATA);
    out_elem_bits (logits: out_tdata_width // classes rounded down to the natural width; argmax:
        out_tdata_width), out_shift (0): where the streamed field sits in each output element;
    class_bits (5), logit_bits (8), axil_wready_lag (0);
    in_buf_words (words_in: one whole frame; at least that): depth of the input frame buffer (block RAM);
    in_stall_limit (4096): reset value of the STALL_LIMIT register (input stall watchdog, cycles, 0 = off);
    high_pri_req (False): High_pri_req requests FSIC's upstream priority for each output frame (never an interrupt);
    in_framing ('frame'), out_framing ('frame'): 'frame' = tlast on a frame's last word; 'line' = FSIC's convention,
        tlast at the end of every line (in_line_words / out_line_words words: ceil(one image row / words)) and the
        sideband ss_tupsb / sm_tupsb = {eol, sof} (fsic_wrapper/README.md "Framing").
    ip_clock ('axis_clk'): the IP's clock -- 'axis_clk' (one clock) or 'user_clock2' (the IP on user_clock2 /
        uck2_rst_n behind uf_ip_cdc: async FIFOs on both streams, synchronised start/done/idle/resets; README "Two
        clocks"); cdc_fifo_aw (3): those FIFOs hold 2**cdc_fifo_aw words.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..build import REPO
from . import regmap

RTL_DIR = REPO / "fsic_wrapper" / "rtl"
HELPERS_F = RTL_DIR / "wrapper.f"   # the helper RTL copied into each build, in compile order
CDC_F = RTL_DIR / "cdc.f"           # added for ip_clock = user_clock2 (the two-clock wrapper)
IP_CLOCKS = ("axis_clk", "user_clock2")


def helper_files(flist: Path | str = HELPERS_F) -> list[Path]:
    """The helper RTL files named by the ``.f`` file list ``flist`` (one path per line, relative to the list's
    folder; blank lines and ``//`` comments ignored), in its order. FileNotFoundError names a missing file."""
    flist = Path(flist)
    files: list[Path] = []
    for n, line in enumerate(flist.read_text().splitlines(), 1):
        entry = line.split("//", 1)[0].strip()
        if not entry:
            continue
        path = flist.parent / entry
        if not path.is_file():
            raise FileNotFoundError(f"{flist}:{n}: names {entry!r}, but {path} does not exist")
        if any(f.name == path.name for f in files):
            raise ValueError(f"{flist}:{n}: a second file named {path.name!r} (the build copies them into one folder)")
        files.append(path)
    return files

DEFAULTS = dict(H=64, W=64, C=3, classes=21, output_mode="argmax", weight_bits=5, act_bits=8, model_hash=0,
                hls_top_name="myproject", hls_in_port="input_1", hls_out_port="layer_out",
                in_elem_bits=8, in_shift=0, out_shift=0, class_bits=5, logit_bits=8, axil_wready_lag=0,
                in_buf_words=None, in_stall_limit=4096, high_pri_req=False, in_framing="frame", out_framing="frame",
                ip_clock="axis_clk", cdc_fifo_aw=3)
FRAMINGS = ("frame", "line")


def _round8(n: int) -> int:
    return (n + 7) // 8 * 8


def resolve_params(params: dict | None = None) -> dict:
    """Defaults + derived stream geometry; raises ValueError on an inconsistent set."""
    p = dict(DEFAULTS)
    p.update({k: v for k, v in (params or {}).items() if v is not None})
    for k in ("H", "W", "C", "classes", "weight_bits", "act_bits", "in_elem_bits", "in_shift", "out_shift",
              "class_bits", "logit_bits", "axil_wready_lag"):
        p[k] = int(p[k])
    mh = p["model_hash"]
    p["model_hash"] = int(mh, 16) if isinstance(mh, str) else int(mh)
    p["model_hash"] &= 0xFFFFFFFF
    mode = str(p["output_mode"]).lower()
    if mode not in ("argmax", "logits"):
        raise ValueError(f"output_mode must be 'argmax' or 'logits', not {p['output_mode']!r}")
    p["output_mode"] = mode
    argmax = mode == "argmax"
    if argmax and (1 << p["class_bits"]) < p["classes"]:
        raise ValueError(f"class_bits={p['class_bits']} cannot hold {p['classes']} classes")
    if p["in_shift"] + 8 > p["in_elem_bits"]:
        raise ValueError("in_shift + 8 must fit in in_elem_bits")
    p.setdefault("in_tdata_width", None)
    p.setdefault("out_tdata_width", None)
    if p["in_tdata_width"] is None:
        p["in_tdata_width"] = _round8(p["C"] * p["in_elem_bits"])
    fw = p["class_bits"] if argmax else p["logit_bits"]
    if p["out_tdata_width"] is None:
        p["out_tdata_width"] = _round8(fw) if argmax else _round8(p["classes"] * p["logit_bits"])
    p["in_tdata_width"], p["out_tdata_width"] = int(p["in_tdata_width"]), int(p["out_tdata_width"])
    if p.get("out_elem_bits") is None:
        p["out_elem_bits"] = p["out_tdata_width"] if argmax else p["out_tdata_width"] // p["classes"]
    p["out_elem_bits"] = int(p["out_elem_bits"])
    if p["in_tdata_width"] < p["C"] * p["in_elem_bits"]:
        raise ValueError("in_tdata_width < C * in_elem_bits")
    n_out = 1 if argmax else p["classes"]
    if p["out_tdata_width"] < n_out * p["out_elem_bits"] or p["out_shift"] + fw > p["out_elem_bits"]:
        raise ValueError("output field does not fit the IP output TDATA")
    pixels = p["H"] * p["W"]
    in_bytes = pixels * p["C"]
    p["argmax"] = int(argmax)
    p["field_bits"] = fw
    p["fields_per_word"] = 32 // fw
    p["out_fields"] = pixels * n_out
    p["words_in"] = (in_bytes + 3) // 4
    p["words_out"] = (p["out_fields"] + p["fields_per_word"] - 1) // p["fields_per_word"]
    p["last_in_bytes"] = in_bytes - 4 * (p["words_in"] - 1)
    p["in_buf_words"] = int(p["in_buf_words"]) if p.get("in_buf_words") is not None else p["words_in"]
    if not p["words_in"] <= p["in_buf_words"] < (1 << 20):
        raise ValueError(f"in_buf_words={p['in_buf_words']} must hold one input frame ({p['words_in']} words) "
                         f"and be < 2**20")
    p["in_stall_limit"] = int(p["in_stall_limit"])
    if not 0 <= p["in_stall_limit"] < (1 << 16):
        raise ValueError(f"in_stall_limit={p['in_stall_limit']} must be 0..65535 cycles")
    hp = p["high_pri_req"]
    if not isinstance(hp, (bool, int)) or int(hp) not in (0, 1):
        raise ValueError(f"high_pri_req must be true or false, not {hp!r}")
    p["high_pri_req"] = int(hp)
    for k in ("in_framing", "out_framing"):
        v = str(p[k]).lower()
        if v not in FRAMINGS:
            raise ValueError(f"{k} must be one of {', '.join(FRAMINGS)}, not {p[k]!r}")
        p[k] = v
    p["in_line"], p["out_line"] = int(p["in_framing"] == "line"), int(p["out_framing"] == "line")
    # the IP clock: axis_clk (one clock, no crossing) or user_clock2 (uf_ip_cdc: async FIFOs + synchronisers)
    if p["ip_clock"] not in IP_CLOCKS:
        raise ValueError(f"ip_clock must be one of {', '.join(IP_CLOCKS)}, not {p['ip_clock']!r}")
    p["cdc_fifo_aw"] = int(p["cdc_fifo_aw"])
    if not 2 <= p["cdc_fifo_aw"] <= 12:
        raise ValueError(f"cdc_fifo_aw={p['cdc_fifo_aw']} must be 2..12 (FIFO depth 4..4096)")
    p["two_clock"] = int(p["ip_clock"] == "user_clock2")
    # line framing: a line is one image row of the frame's word stream, rounded up to whole words
    p["in_line_words"] = (p["W"] * p["C"] + 3) // 4
    p["in_lines"] = -(-p["words_in"] // p["in_line_words"])
    p["out_line_words"] = -(-p["W"] * n_out // p["fields_per_word"])
    p["out_lines"] = -(-p["words_out"] // p["out_line_words"])
    last_f = p["out_fields"] - p["fields_per_word"] * (p["words_out"] - 1)
    p["last_out_fields"] = last_f
    p["last_out_bytes"] = (last_f * fw + 7) // 8
    return p


USER_PRJ0_TEMPLATE = """\
`resetall
`timescale 1ns / 1ps
`default_nettype none

// GENERATED by pipeline/hw/rtl.py -- unet-fsic USER_PRJ0 for build:
//   image {H}x{W}x{C}, {classes} classes, output {output_mode}, W{weight_bits}A{act_bits},
//   model hash 0x{model_hash:08X}
//   HLS IP: module {hls_top_name}, input {hls_in_port}_TDATA[{in_tdata_width_m1}:0],
//   output {hls_out_port}_TDATA[{out_tdata_width_m1}:0]
//   stream words per frame: {words_in} in, {words_out} out; input buffer {in_buf_words} words
//   High_pri_req: {hp_text}
//   framing: input {in_framing}, output {out_framing} (line: {in_line_words} / {out_line_words} words per line)
//   IP clock: {ip_clock} (user_clock2: the IP behind uf_ip_cdc, async FIFOs of 2**{cdc_fifo_aw} words)
// Port list exactly as FSIC's USER_PRJ0 (no B channel / RRESP on the AXI-Lite slave).
module USER_PRJ0 #(
    parameter pUSER_PROJECT_SIDEBAND_WIDTH = 5,
    parameter pADDR_WIDTH = 12,
    parameter pDATA_WIDTH = 32
) (
    output wire                      awready,
    output wire                      arready,
    output wire                      wready,
    output wire                      rvalid,
    output wire [(pDATA_WIDTH-1):0]  rdata,
    input  wire                      awvalid,
    input  wire [11:0]               awaddr,
    input  wire                      arvalid,
    input  wire [11:0]               araddr,
    input  wire                      wvalid,
    input  wire [3:0]                wstrb,
    input  wire [(pDATA_WIDTH-1):0]  wdata,
    input  wire                      rready,
    input  wire                      ss_tvalid,
    input  wire [(pDATA_WIDTH-1):0]  ss_tdata,
    input  wire [1:0]                ss_tuser,
`ifdef USER_PROJECT_SIDEBAND_SUPPORT
    input  wire [pUSER_PROJECT_SIDEBAND_WIDTH-1:0] ss_tupsb,
`endif
    input  wire [3:0]                ss_tstrb,
    input  wire [3:0]                ss_tkeep,
    input  wire                      ss_tlast,
    input  wire                      sm_tready,
    output wire                      ss_tready,
    output wire                      sm_tvalid,
    output wire [(pDATA_WIDTH-1):0]  sm_tdata,
    output wire [2:0]                sm_tid,
`ifdef USER_PROJECT_SIDEBAND_SUPPORT
    output wire [pUSER_PROJECT_SIDEBAND_WIDTH-1:0] sm_tupsb,
`endif
    output wire [3:0]                sm_tstrb,
    output wire [3:0]                sm_tkeep,
    output wire                      sm_tlast,
    output wire                      low__pri_irq,
    output wire                      High_pri_req,
    output wire [23:0]               la_data_o,
    input  wire                      axi_clk,
    input  wire                      axis_clk,
    input  wire                      axi_reset_n,
    input  wire                      axis_rst_n,
    input  wire                      user_clock2,
    input  wire                      uck2_rst_n
);
    // check configuration: the core implements FSIC's 12-bit address / 32-bit data user-project bus
    initial begin
        if (pADDR_WIDTH != 12 || pDATA_WIDTH != 32) begin
            $error("Error: USER_PRJ0 needs pADDR_WIDTH=12, pDATA_WIDTH=32, not %0d, %0d (instance %m)",
                   pADDR_WIDTH, pDATA_WIDTH);
            $finish;
        end
        if (pUSER_PROJECT_SIDEBAND_WIDTH < 2) begin
            $error("Error: USER_PRJ0 needs pUSER_PROJECT_SIDEBAND_WIDTH >= 2 ({{eol, sof}}; instance %m)");
            $finish;
        end
    end

    // FSIC clocks axi_clk and axis_clk from the same Caravel core clock: the wrapper runs on axis_clk.
    wire clk   = axis_clk;
    wire rst_n = axi_reset_n & axis_rst_n;

    // FSIC sideband {{eol, sof}} = ss_tupsb[1:0] / sm_tupsb[1:0] (line framing; without
    // USER_PROJECT_SIDEBAND_SUPPORT there is none: input lines are counted, no sof)
    wire [1:0]  ss_sb, sm_sb;
`ifdef USER_PROJECT_SIDEBAND_SUPPORT
    localparam SB = 1;
    assign ss_sb = ss_tupsb[1:0];
`else
    localparam SB = 0;
    assign ss_sb = 2'b00;
`endif

    wire        ip_rst_n, ip_ap_start, ip_ap_done, ip_ap_idle, ip_ap_ready;
    wire [{in_tdata_width_m1}:0] ip_in_tdata;
    wire        ip_in_tvalid, ip_in_tready;
    wire [{out_tdata_width_m1}:0] ip_out_tdata;
    wire        ip_out_tvalid, ip_out_tready;

    unet_fsic_core #(
        .IMG_H({H}), .IMG_W({W}), .IMG_C({C}), .CLASSES({classes}), .ARGMAX({argmax}),
        .CLASS_BITS({class_bits}), .LOGIT_BITS({logit_bits}), .WEIGHT_BITS({weight_bits}), .ACT_BITS({act_bits}),
        .MODEL_HASH(32'h{model_hash:08X}),
        .HLS_IN_TDATA_W({in_tdata_width}), .IN_ELEM_BITS({in_elem_bits}), .IN_SHIFT({in_shift}),
        .HLS_OUT_TDATA_W({out_tdata_width}), .OUT_ELEM_BITS({out_elem_bits}), .OUT_SHIFT({out_shift}),
        .WREADY_LAG({axil_wready_lag}), .IN_BUF_WORDS({in_buf_words}), .STALL_LIMIT({in_stall_limit}),
        .HIGH_PRI({high_pri_req}), .IN_LINE({in_line}), .IN_SOF(SB), .OUT_LINE({out_line})
    ) u_core (
        .clk(clk), .rst_n(rst_n),
        .awvalid(awvalid), .awaddr(awaddr), .awready(awready),
        .wvalid(wvalid), .wdata(wdata), .wstrb(wstrb), .wready(wready),
        .arvalid(arvalid), .araddr(araddr), .arready(arready),
        .rvalid(rvalid), .rdata(rdata), .rready(rready),
        .ss_tdata(ss_tdata), .ss_tkeep(ss_tkeep), .ss_tlast(ss_tlast), .ss_tvalid(ss_tvalid), .ss_sb(ss_sb),
        .ss_tready(ss_tready),
        .sm_tdata(sm_tdata), .sm_tkeep(sm_tkeep), .sm_tlast(sm_tlast), .sm_tvalid(sm_tvalid), .sm_sb(sm_sb),
        .sm_tready(sm_tready),
        .irq_low(low__pri_irq), .irq_high(High_pri_req), .la_data(la_data_o),
        .ip_link_rst(ip_link_rst),
        .ip_rst_n(ip_rst_n), .ip_ap_start(ip_ap_start), .ip_ap_done(ip_ap_done), .ip_ap_idle(ip_ap_idle),
        .ip_ap_ready(ip_ap_ready),
        .ip_in_tdata(ip_in_tdata), .ip_in_tvalid(ip_in_tvalid), .ip_in_tready(ip_in_tready),
        .ip_out_tdata(ip_out_tdata), .ip_out_tvalid(ip_out_tvalid), .ip_out_tready(ip_out_tready));

    assign sm_tstrb = sm_tkeep;
    assign sm_tid   = 3'b000;   // FSIC's switch tags project traffic itself
`ifdef USER_PROJECT_SIDEBAND_SUPPORT
    generate
        if (pUSER_PROJECT_SIDEBAND_WIDTH > 2) begin : g_sb
            assign sm_tupsb = {{{{(pUSER_PROJECT_SIDEBAND_WIDTH-2){{1'b0}}}}, sm_sb}};
            wire _unused_sideband_ok = &{{1'b0, ss_tupsb[pUSER_PROJECT_SIDEBAND_WIDTH-1:2], 1'b0}};
        end else begin : g_sb2
            assign sm_tupsb = sm_sb;
        end
    endgenerate
`else
    wire _unused_sideband_ok = &{{1'b0, sm_sb, 1'b0}};
`endif
    // not used: ss_tuser is always 00 in FSIC, input validity comes from ss_tkeep, one clock (axis_clk)
    wire _unused_ok = &{{1'b0, ss_tuser, ss_tstrb, axi_clk, {unused_clk}1'b0}};

{cdc_block}
    // hls4ml io_stream top (Vivado/Vitis HLS): ap_ctrl_hs block protocol, axis data ports without side
    // channels, active-low ap_rst_n (HLS forces active-low reset when AXI4 interfaces are present).
    {hls_top_name} u_ip (
        .ap_clk({ip_clk}),
        .ap_rst_n({ipn}rst_n),
        .ap_start({ipn}ap_start),
        .ap_done({ipn}ap_done),
        .ap_idle({ipn}ap_idle),
        .ap_ready({ipn}ap_ready),
        .{hls_in_port}_TDATA({ipn}in_tdata),
        .{hls_in_port}_TVALID({ipn}in_tvalid),
        .{hls_in_port}_TREADY({ipn}in_tready),
        .{hls_out_port}_TDATA({ipn}out_tdata),
        .{hls_out_port}_TVALID({ipn}out_tvalid),
        .{hls_out_port}_TREADY({ipn}out_tready)
    );
endmodule

`resetall
"""

IP_SHELL_TEMPLATE = """\
`resetall
`timescale 1ns / 1ps
`default_nettype none

// GENERATED by pipeline/hw/rtl.py -- SIMULATION SHELL of the hls4ml IP `{hls_top_name}`.
// Same ports as the Vivado/Vitis HLS export of an io_stream hls4ml design; outputs are plain regs whose
// values are driven by the cocotb model fsic_wrapper/sim/ip_model.py (HlsIpModel).  Not synthesizable IP.
module {hls_top_name} (
    input  wire        ap_clk,
    input  wire        ap_rst_n,
    input  wire        ap_start,
    output reg         ap_done,
    output reg         ap_idle,
    output reg         ap_ready,
    input  wire [{in_tdata_width_m1}:0] {hls_in_port}_TDATA,
    input  wire        {hls_in_port}_TVALID,
    output reg         {hls_in_port}_TREADY,
    output reg  [{out_tdata_width_m1}:0] {hls_out_port}_TDATA,
    output reg         {hls_out_port}_TVALID,
    input  wire        {hls_out_port}_TREADY
);
    initial begin
        ap_done = 1'b0;
        ap_idle = 1'b1;
        ap_ready = 1'b0;
        {hls_in_port}_TREADY = 1'b0;
        {hls_out_port}_TDATA = {{{out_tdata_width}{{1'b0}}}};
        {hls_out_port}_TVALID = 1'b0;
    end
    // the inputs are read by the cocotb model, not by this shell
    wire _unused_ok = &{{1'b0, ap_clk, ap_rst_n, ap_start, {hls_in_port}_TDATA, {hls_in_port}_TVALID,
                         {hls_out_port}_TREADY, 1'b0}};
endmodule

`resetall
"""


CDC_BLOCK_ONE = """\
    wire ip_link_rst = 1'b0;   // one clock (ip_clock = axis_clk): no crossing

"""

# ip_clock = user_clock2: the IP runs on user_clock2 / uck2_rst_n behind uf_ip_cdc (fsic_wrapper/README.md
# "Two clocks"); ip2_* are the IP-domain signals
CDC_BLOCK_TWO = """\
    // ---- the IP on its own clock (ip_clock = user_clock2): async FIFOs + synchronisers (uf_ip_cdc)
    wire        ip_link_rst;
    wire        ip2_rst_n, ip2_ap_start, ip2_ap_done, ip2_ap_idle, ip2_ap_ready;
    wire [{in_tdata_width_m1}:0] ip2_in_tdata;
    wire        ip2_in_tvalid, ip2_in_tready;
    wire [{out_tdata_width_m1}:0] ip2_out_tdata;
    wire        ip2_out_tvalid, ip2_out_tready;

    uf_ip_cdc #(.IW({in_tdata_width}), .OW({out_tdata_width}), .FIFO_AW({cdc_fifo_aw})) u_cdc (
        .a_clk(clk), .a_ip_rst_n(ip_rst_n), .a_link_rst(ip_link_rst),
        .a_ap_start(ip_ap_start), .a_ap_ready(ip_ap_ready), .a_ap_done(ip_ap_done), .a_ap_idle(ip_ap_idle),
        .a_in_tdata(ip_in_tdata), .a_in_tvalid(ip_in_tvalid), .a_in_tready(ip_in_tready),
        .a_out_tdata(ip_out_tdata), .a_out_tvalid(ip_out_tvalid), .a_out_tready(ip_out_tready),
        .b_clk(user_clock2), .b_rst_n(uck2_rst_n), .b_ip_rst_n(ip2_rst_n),
        .b_ap_start(ip2_ap_start), .b_ap_ready(ip2_ap_ready), .b_ap_done(ip2_ap_done), .b_ap_idle(ip2_ap_idle),
        .b_in_tdata(ip2_in_tdata), .b_in_tvalid(ip2_in_tvalid), .b_in_tready(ip2_in_tready),
        .b_out_tdata(ip2_out_tdata), .b_out_tvalid(ip2_out_tvalid), .b_out_tready(ip2_out_tready));

"""


def _fmt(template: str, p: dict) -> str:
    hp_text = ("upstream priority request per output frame (never an interrupt)" if p["high_pri_req"]
               else "constant 0 (never an interrupt)")
    kw = dict(in_tdata_width_m1=p["in_tdata_width"] - 1, out_tdata_width_m1=p["out_tdata_width"] - 1,
              hp_text=hp_text, **p)
    two = bool(p.get("two_clock"))
    kw.update(cdc_block=(CDC_BLOCK_TWO if two else CDC_BLOCK_ONE).format(**kw),
              unused_clk="" if two else "user_clock2, uck2_rst_n, ",
              ip_clk="user_clock2" if two else "clk", ipn="ip2_" if two else "ip_")
    return template.format(**kw)


def render_user_prj0(params: dict) -> str:
    return _fmt(USER_PRJ0_TEMPLATE, resolve_params(params))


def render_ip_shell(params: dict) -> str:
    return _fmt(IP_SHELL_TEMPLATE, resolve_params(params))


def render_build_header(p: dict) -> str:
    p = resolve_params(p)
    lines = ["/* GENERATED by pipeline/hw/rtl.py: identity of this build; compare with the ID_* registers. */",
             "#ifndef UNET_FSIC_BUILD_H", "#define UNET_FSIC_BUILD_H",
             f"#define UNET_FSIC_BUILD_H_PX {p['H']}u", f"#define UNET_FSIC_BUILD_W_PX {p['W']}u",
             f"#define UNET_FSIC_BUILD_C {p['C']}u", f"#define UNET_FSIC_BUILD_CLASSES {p['classes']}u",
             f"#define UNET_FSIC_BUILD_ARGMAX {p['argmax']}u",
             f"#define UNET_FSIC_BUILD_WEIGHT_BITS {p['weight_bits']}u",
             f"#define UNET_FSIC_BUILD_ACT_BITS {p['act_bits']}u",
             f"#define UNET_FSIC_BUILD_LOGIT_BITS {p['logit_bits']}u",
             f"#define UNET_FSIC_BUILD_CLASS_BITS {p['class_bits']}u",
             f"#define UNET_FSIC_BUILD_MODEL_HASH 0x{p['model_hash']:08X}u",
             f"#define UNET_FSIC_BUILD_WORDS_IN {p['words_in']}u",
             f"#define UNET_FSIC_BUILD_WORDS_OUT {p['words_out']}u",
             f"#define UNET_FSIC_BUILD_FIELDS_PER_WORD {p['fields_per_word']}u",
             f"#define UNET_FSIC_BUILD_FIELD_BITS {p['field_bits']}u",
             f"#define UNET_FSIC_BUILD_HIGH_PRI {p['high_pri_req']}u",
             f"#define UNET_FSIC_BUILD_IN_LINES {p['in_line']}u",
             f"#define UNET_FSIC_BUILD_OUT_LINES {p['out_line']}u",
             f"#define UNET_FSIC_BUILD_IN_LINE_WORDS {p['in_line_words']}u",
             f"#define UNET_FSIC_BUILD_OUT_LINE_WORDS {p['out_line_words']}u",
             "#endif /* UNET_FSIC_BUILD_H */"]
    return "\n".join(lines) + "\n"


def write_wrapper(build_dir: Path | str, params: dict) -> list[Path]:
    """Write the wrapper for one build into ``<build_dir>/fsic/``; returns the written files."""
    p = resolve_params(params)
    out = Path(build_dir) / "fsic"
    rtl, sim, inc, py = out / "rtl", out / "sim", out / "include", out / "python"
    for d in (rtl, sim, inc, py):
        d.mkdir(parents=True, exist_ok=True)
    rm = regmap.load_regmap()
    written: list[Path] = []

    def put(path: Path, text: str):
        path.write_text(text)
        written.append(path)

    helpers = helper_files() + (helper_files(CDC_F) if p["two_clock"] else [])
    for src in helpers:
        if src.name == regmap.REGS_V.name:   # the register file with this map's localparams spliced in
            put(rtl / src.name, regmap.splice_verilog(rm, src.read_text()))
            continue
        shutil.copyfile(src, rtl / src.name)
        written.append(rtl / src.name)
    put(rtl / "USER_PRJ0.v", render_user_prj0(p))
    put(sim / f"{p['hls_top_name']}.v", render_ip_shell(p))
    put(inc / "unet_fsic_regs.h", regmap.render_c_header(rm))
    put(inc / "unet_fsic_build.h", render_build_header(p))
    put(py / "unet_fsic_regs.py", regmap.render_python(rm))
    put(py / "unet_fsic_build.json", json.dumps(p, indent=2, sort_keys=True) + "\n")
    # file lists relative to the fsic/ directory (portable; use from there: `iverilog -f filelist_sim.f`)
    synth = [f"rtl/{src.name}" for src in helpers] + ["rtl/USER_PRJ0.v"]
    # self-contained sources: no +incdir+ (FSIC's file lists have no include directories)
    put(out / "filelist.f", "\n".join(synth) + "\n")
    put(out / "filelist_sim.f", "\n".join(synth + [f"sim/{p['hls_top_name']}.v"]) + "\n")
    return written
