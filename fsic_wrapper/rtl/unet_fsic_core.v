`resetall
`timescale 1ns / 1ps
`default_nettype none

// unet_fsic_core: everything of USER_PRJ0 except the hls4ml IP instance.
//   ss_* (32-bit, 4 bytes/word)  -> uf_in_buf (framing checks, whole-frame BRAM buffer, stall watchdog, CRC)
//                                -> uf_gearbox (bytes -> C bytes/pixel) -> IP input stream
//   IP output stream -> field extraction -> uf_gearbox (fields -> 32-bit words, tlast/tkeep) -> sm_* (+ CRC,
//   optional High_pri_req per output frame)
//   AXI-Lite (FSIC subset) -> uf_axil_slave -> uf_regs
// High_pri_req (irq_high here) is never an interrupt: with HIGH_PRI=1 it requests FSIC's upstream priority for an
// output frame about to be sent -- it rises one cycle before the frame's first word is offered (sm_tvalid is held
// back for that cycle) and falls with the frame's sm_tlast handshake; with HIGH_PRI=0 it is constant 0.  No register
// (IER/ISR) drives it; the interrupt is low__pri_irq (irq_low).
// Single clock (FSIC drives axi_clk and axis_clk from the same core clock); synchronous active-low reset.
// Parameter constraints (checked at time 0 of simulation; a violation stops it with $error + $finish; the
// helpers check their own, e.g. the gearboxes' 8-bit field counts, the register fields of the identity values):
//   the output field FW (CLASS_BITS for argmax, LOGIT_BITS for logits) is 1..32 bits;  argmax: CLASSES fit in
//   CLASS_BITS;  IN_ELEM_BITS >= 8 and IN_SHIFT + 8 <= IN_ELEM_BITS;  HLS_IN_TDATA_W >= IMG_C * IN_ELEM_BITS;
//   OUT_SHIFT + FW <= OUT_ELEM_BITS;  HLS_OUT_TDATA_W >= (fields per IP output beat) * OUT_ELEM_BITS.
module unet_fsic_core #(
    parameter IMG_H           = 64,
    parameter IMG_W           = 64,
    parameter IMG_C           = 3,
    parameter CLASSES         = 21,
    parameter ARGMAX          = 1,     // 1: IP outputs one class index per pixel; 0: CLASSES logits per pixel
    parameter CLASS_BITS      = 5,     // bits per class index on the output stream
    parameter LOGIT_BITS      = 8,     // bits per logit on the output stream
    parameter WEIGHT_BITS     = 5,
    parameter ACT_BITS        = 8,
    parameter [31:0] MODEL_HASH = 32'h0,
    parameter HLS_IN_TDATA_W  = 24,    // IP input TDATA width (>= IMG_C*IN_ELEM_BITS)
    parameter IN_ELEM_BITS    = 8,     // bits per channel element inside the IP input TDATA
    parameter IN_SHIFT        = 0,     // the input byte sits at bits [IN_SHIFT+7:IN_SHIFT] of its element
    parameter HLS_OUT_TDATA_W = 8,     // IP output TDATA width
    parameter OUT_ELEM_BITS   = 8,     // bits per output element inside the IP output TDATA
    parameter OUT_SHIFT       = 0,     // the streamed field sits at bits [OUT_SHIFT+FW-1:OUT_SHIFT] of its element
    parameter WREADY_LAG      = 0,     // 1: AXI-Lite wready only after the address was latched
    parameter IN_BUF_WORDS    = ((IMG_H * IMG_W * IMG_C + 3) / 4),   // input buffer depth (>= one frame)
    parameter STALL_LIMIT     = 4096,  // reset value of STALL_LIMIT (ss stall watchdog, cycles; 0 = off)
    parameter HIGH_PRI        = 0,     // 1: High_pri_req requests upstream priority for each output frame
    // ---- framing (fsic_wrapper/README.md "Framing"): 0 = tlast per frame, 1 = FSIC's tlast per line + {eol, sof}
    parameter IN_LINE         = 0,     // input line framing
    parameter IN_SOF          = 1,     // IN_LINE: ss_sb[0] (sof) is connected (USER_PROJECT_SIDEBAND_SUPPORT)
    parameter OUT_LINE        = 0      // output line framing: sm_tlast per line, sm_sb = {eol, sof}
) (
    input  wire        clk,
    input  wire        rst_n,
    // AXI-Lite (FSIC subset)
    input  wire        awvalid,
    input  wire [11:0] awaddr,
    output wire        awready,
    input  wire        wvalid,
    input  wire [31:0] wdata,
    input  wire [3:0]  wstrb,
    output wire        wready,
    input  wire        arvalid,
    input  wire [11:0] araddr,
    output wire        arready,
    output wire        rvalid,
    output wire [31:0] rdata,
    input  wire        rready,
    // stream in
    input  wire [31:0] ss_tdata,
    input  wire [3:0]  ss_tkeep,
    input  wire        ss_tlast,
    input  wire        ss_tvalid,
    input  wire [1:0]  ss_sb,          // FSIC sideband {eol, sof} (ss_tupsb[1:0]; eol is not used: tlast ends a line)
    output wire        ss_tready,
    // stream out
    output wire [31:0] sm_tdata,
    output wire [3:0]  sm_tkeep,
    output wire        sm_tlast,
    output wire        sm_tvalid,
    output wire [1:0]  sm_sb,          // OUT_LINE: {eol, sof} for sm_tupsb[1:0]; else 0
    input  wire        sm_tready,
    // interrupts / debug
    output wire        irq_low,
    output wire        irq_high,
    output wire [23:0] la_data,
    // HLS IP (ap_ctrl_hs + axis data ports)
    input  wire        ip_link_rst,    // two-clock builds (uf_ip_cdc): hold the datapath in reset; else 0
    output wire        ip_rst_n,
    output wire        ip_ap_start,
    input  wire        ip_ap_done,
    input  wire        ip_ap_idle,
    input  wire        ip_ap_ready,
    output wire [HLS_IN_TDATA_W-1:0]  ip_in_tdata,
    output wire        ip_in_tvalid,
    input  wire        ip_in_tready,
    input  wire [HLS_OUT_TDATA_W-1:0] ip_out_tdata,
    input  wire        ip_out_tvalid,
    output wire        ip_out_tready
);
    // ---------------------------------------------------------------- derived sizes
    localparam PIXELS      = IMG_H * IMG_W;
    localparam IN_BYTES    = PIXELS * IMG_C;
    localparam WORDS_IN    = (IN_BYTES + 3) / 4;
    localparam LAST_IN_B   = IN_BYTES - 4 * (WORDS_IN - 1);
    localparam FW          = ARGMAX ? CLASS_BITS : LOGIT_BITS;
    localparam OUT_N       = 32 / FW;                  // fields per output word
    localparam OUT_IN_N    = ARGMAX ? 1 : CLASSES;     // fields per IP output beat
    localparam OUT_FIELDS  = PIXELS * OUT_IN_N;
    localparam WORDS_OUT   = (OUT_FIELDS + OUT_N - 1) / OUT_N;
    localparam LAST_OUT_F  = OUT_FIELDS - OUT_N * (WORDS_OUT - 1);
    localparam LAST_OUT_B  = (LAST_OUT_F * FW + 7) / 8;
    localparam [3:0] LAST_OUT_KEEP = (LAST_OUT_B >= 4) ? 4'hF : ((4'h1 << LAST_OUT_B) - 4'h1);
    // line lengths of the line framing: ceil(one image row / words) -- exactly one row when it fills whole words
    localparam IN_LINE_WORDS  = (IMG_W * IMG_C + 3) / 4;
    localparam OUT_LINE_WORDS = (IMG_W * OUT_IN_N + OUT_N - 1) / OUT_N;

    // check configuration
    initial begin
        if (FW < 1 || FW > 32) begin
            $error("Error: unet_fsic_core output field of %0d bits (ARGMAX=%0d: CLASS_BITS, else LOGIT_BITS) must be 1..32 bits (instance %m)",
                   FW, ARGMAX);
            $finish;
        end
        if (ARGMAX != 0 && CLASS_BITS < 31 && (1 << CLASS_BITS) < CLASSES) begin
            $error("Error: unet_fsic_core CLASS_BITS=%0d cannot hold %0d class indices (instance %m)",
                   CLASS_BITS, CLASSES);
            $finish;
        end
        if (IN_ELEM_BITS < 8 || IN_SHIFT < 0 || IN_SHIFT + 8 > IN_ELEM_BITS) begin
            $error("Error: unet_fsic_core the input byte at IN_SHIFT=%0d does not fit IN_ELEM_BITS=%0d (instance %m)",
                   IN_SHIFT, IN_ELEM_BITS);
            $finish;
        end
        if (HLS_IN_TDATA_W < IMG_C * IN_ELEM_BITS) begin
            $error("Error: unet_fsic_core HLS_IN_TDATA_W=%0d < IMG_C * IN_ELEM_BITS = %0d (instance %m)",
                   HLS_IN_TDATA_W, IMG_C * IN_ELEM_BITS);
            $finish;
        end
        if (OUT_SHIFT < 0 || OUT_SHIFT + FW > OUT_ELEM_BITS) begin
            $error("Error: unet_fsic_core the %0d-bit output field at OUT_SHIFT=%0d does not fit OUT_ELEM_BITS=%0d (instance %m)",
                   FW, OUT_SHIFT, OUT_ELEM_BITS);
            $finish;
        end
        if (HLS_OUT_TDATA_W < OUT_IN_N * OUT_ELEM_BITS) begin
            $error("Error: unet_fsic_core HLS_OUT_TDATA_W=%0d < %0d elements * OUT_ELEM_BITS=%0d (instance %m)",
                   HLS_OUT_TDATA_W, OUT_IN_N, OUT_ELEM_BITS);
            $finish;
        end
    end

    wire soft_rst;
    // ip_link_rst (two-clock builds): either clock domain is resetting -- the datapath restarts with the IP.
    // ip_rst_n (the IP's own reset request) must not include it: uf_ip_cdc derives ip_link_rst from it.
    wire dp_rst_n = rst_n & ~soft_rst & ~ip_link_rst;
    assign ip_rst_n = rst_n & ~soft_rst;

    // ---------------------------------------------------------------- AXI-Lite + registers
    wire        wr_en, rd_en;
    wire [11:0] wr_addr, rd_addr;
    wire [31:0] wr_data, rd_data;
    wire [3:0]  wr_strb;

    uf_axil_slave #(.ADDR_W(12), .WREADY_LAG(WREADY_LAG)) u_axil (
        .clk(clk), .rst_n(rst_n),
        .awvalid(awvalid), .awaddr(awaddr), .awready(awready),
        .wvalid(wvalid), .wdata(wdata), .wstrb(wstrb), .wready(wready),
        .arvalid(arvalid), .araddr(araddr), .arready(arready),
        .rvalid(rvalid), .rdata(rdata), .rready(rready),
        .wr_en(wr_en), .wr_addr(wr_addr), .wr_data(wr_data), .wr_strb(wr_strb),
        .rd_en(rd_en), .rd_addr(rd_addr), .rd_data(rd_data));

    wire in_busy, out_busy, ev_frame_in, ev_word_in, err_short, err_long, err_keep, ev_drop;
    wire err_miss, err_extra, err_sofmid;
    reg  err_ovf;
    wire go_last;      // the output frame's last word (sm_tlast in frame framing)
    wire ev_word_out  = sm_tvalid & sm_tready;
    wire ev_frame_done = ev_word_out & go_last;
    wire [15:0] stall_limit;
    wire [20:0] in_level;
    wire [31:0] crc_in, crc_out;

    uf_regs #(
        .ADDR_W(12), .IMG_H(IMG_H), .IMG_W(IMG_W), .IMG_C(IMG_C), .CLASSES(CLASSES), .ARGMAX(ARGMAX),
        .OUT_FIELD_BITS(FW), .OUT_FIELDS_WORD(OUT_N), .WEIGHT_BITS(WEIGHT_BITS), .ACT_BITS(ACT_BITS),
        .LOGIT_BITS(LOGIT_BITS), .CLASS_BITS(CLASS_BITS), .MODEL_HASH(MODEL_HASH),
        .WORDS_IN(WORDS_IN), .WORDS_OUT(WORDS_OUT),
        .HLS_IN_TDATA_W(HLS_IN_TDATA_W), .HLS_OUT_TDATA_W(HLS_OUT_TDATA_W),
        .IN_BUF_WORDS(IN_BUF_WORDS), .STALL_LIMIT(STALL_LIMIT), .HIGH_PRI(HIGH_PRI),
        .IN_LINE(IN_LINE), .OUT_LINE(OUT_LINE), .IN_LINE_WORDS(IN_LINE_WORDS), .OUT_LINE_WORDS(OUT_LINE_WORDS)
    ) u_regs (
        .clk(clk), .rst_n(rst_n),
        .wr_en(wr_en), .wr_addr(wr_addr), .wr_data(wr_data), .wr_strb(wr_strb),
        .rd_en(rd_en), .rd_addr(rd_addr), .rd_data(rd_data),
        .ip_idle(ip_ap_idle), .ip_ready(ip_ap_ready), .in_busy(in_busy), .out_busy(out_busy),
        .ev_frame_done(ev_frame_done), .ev_frame_in(ev_frame_in), .ev_word_in(ev_word_in),
        .ev_word_out(ev_word_out),
        .ev_err({err_sofmid, err_extra, err_miss, ev_drop, err_ovf, err_keep, err_long, err_short}),
        .in_level(in_level), .crc_in(crc_in), .crc_out(crc_out),
        .ip_start(ip_ap_start), .soft_rst(soft_rst), .stall_limit(stall_limit), .irq_low(irq_low));

    // ---------------------------------------------------------------- input path
    wire [31:0] fr_data;
    wire [7:0]  fr_cnt;
    wire        fr_valid, fr_ready, fr_busy;

    uf_in_buf #(.WORDS(WORDS_IN), .LAST_BYTES(LAST_IN_B), .DEPTH(IN_BUF_WORDS), .SW(16),
                .LINE(IN_LINE), .LINE_WORDS(IN_LINE_WORDS), .SOF(IN_SOF)) u_inbuf (
        .clk(clk), .rst_n(dp_rst_n), .regs_rst_n(rst_n),
        .s_tdata(ss_tdata), .s_tkeep(ss_tkeep), .s_tlast(ss_tlast), .s_tvalid(ss_tvalid), .s_sof(ss_sb[0]),
        .s_tready(ss_tready),
        .stall_limit(stall_limit),
        .o_data(fr_data), .o_cnt(fr_cnt), .o_valid(fr_valid), .o_ready(fr_ready),
        .busy(fr_busy), .level(in_level), .frame_in(ev_frame_in), .word_in(ev_word_in),
        .err_short(err_short), .err_long(err_long), .err_keep(err_keep), .ev_drop(ev_drop),
        .err_miss(err_miss), .err_extra(err_extra), .err_sofmid(err_sofmid), .crc(crc_in));

    wire [IMG_C*8-1:0] px_data;
    wire [7:0]         px_cnt;
    wire               px_last, gi_empty;

    uf_gearbox #(.FW(8), .IN_N(4), .OUT_N(IMG_C), .FRAME_N(IN_BYTES)) u_unpack (
        .clk(clk), .rst_n(dp_rst_n),
        .in_data(fr_data), .in_cnt(fr_cnt), .in_valid(fr_valid), .in_ready(fr_ready),
        .out_data(px_data), .out_cnt(px_cnt), .out_last(px_last),
        .out_valid(ip_in_tvalid), .out_ready(ip_in_tready), .empty(gi_empty));

    assign in_busy = fr_busy | ~gi_empty;

    genvar gi;
    generate
        for (gi = 0; gi < IMG_C; gi = gi + 1) begin : g_in
            // channel element gi: the byte at bit IN_SHIFT, other bits 0
            assign ip_in_tdata[gi*IN_ELEM_BITS + IN_SHIFT +: 8] = px_data[gi*8 +: 8];
            if (IN_SHIFT > 0) begin : g_lo
                assign ip_in_tdata[gi*IN_ELEM_BITS +: IN_SHIFT] = {IN_SHIFT{1'b0}};
            end
            if (IN_SHIFT + 8 < IN_ELEM_BITS) begin : g_hi
                assign ip_in_tdata[gi*IN_ELEM_BITS + IN_SHIFT + 8 +: IN_ELEM_BITS - IN_SHIFT - 8] =
                    {(IN_ELEM_BITS - IN_SHIFT - 8){1'b0}};
            end
        end
        if (HLS_IN_TDATA_W > IMG_C * IN_ELEM_BITS) begin : g_in_pad
            assign ip_in_tdata[HLS_IN_TDATA_W-1:IMG_C*IN_ELEM_BITS] = {(HLS_IN_TDATA_W-IMG_C*IN_ELEM_BITS){1'b0}};
        end
    endgenerate

    // ---------------------------------------------------------------- output path
    wire [OUT_IN_N*FW-1:0] of_data;
    generate
        for (gi = 0; gi < OUT_IN_N; gi = gi + 1) begin : g_out
            assign of_data[gi*FW +: FW] = ip_out_tdata[gi*OUT_ELEM_BITS + OUT_SHIFT +: FW];
        end
    endgenerate

    wire [OUT_ELEM_BITS-1:0] out_elem0 = ip_out_tdata[OUT_ELEM_BITS-1:0];
    always @(posedge clk) begin
        if (!dp_rst_n) err_ovf <= 1'b0;
        else err_ovf <= (ARGMAX != 0) && ip_out_tvalid && ip_out_tready && (out_elem0 >= CLASSES);
    end

    wire [7:0]          out_in_cnt = OUT_IN_N;
    wire [OUT_N*FW-1:0] ow_data;
    wire [7:0]          ow_cnt;
    wire                go_empty, go_valid;

    uf_gearbox #(.FW(FW), .IN_N(OUT_IN_N), .OUT_N(OUT_N), .FRAME_N(OUT_FIELDS)) u_pack (
        .clk(clk), .rst_n(dp_rst_n),
        .in_data(of_data), .in_cnt(out_in_cnt), .in_valid(ip_out_tvalid), .in_ready(ip_out_tready),
        .out_data(ow_data), .out_cnt(ow_cnt), .out_last(go_last),
        .out_valid(go_valid), .out_ready(sm_tready & sm_tvalid), .empty(go_empty));

    // High_pri_req: an upstream priority request per output frame (HIGH_PRI=1), never an interrupt.  hp_req rises
    // when the first word of a frame is ready, sm_tvalid follows one cycle later (hp_q), hp_req falls with the
    // frame's sm_tlast handshake: the switch sees the request before the frame is offered and never while idle.
    reg out_mid;   // an output frame is partly sent
    reg hp_req, hp_q;
    always @(posedge clk) begin
        if (!dp_rst_n) begin
            out_mid <= 1'b0;
            hp_req  <= 1'b0;
            hp_q    <= 1'b0;
        end else begin
            if (ev_word_out) out_mid <= ~go_last;
            if (HIGH_PRI == 0) hp_req <= 1'b0;
            else if (ev_frame_done) hp_req <= 1'b0;
            else if (go_valid && !out_mid) hp_req <= 1'b1;
            hp_q <= hp_req & ~ev_frame_done;
        end
    end
    assign sm_tvalid = go_valid & ((HIGH_PRI == 0) | out_mid | (hp_req & hp_q));
    assign irq_high  = hp_req;

    uf_crc32 u_crc_out (.clk(clk), .rst_n(rst_n), .frame_rst_n(dp_rst_n), .en(ev_word_out), .close(go_last),
                        .abort(1'b0), .restart(1'b0), .data(sm_tdata), .crc(crc_out));

    // output framing: OUT_LINE=0: sm_tlast on the frame's last word, sm_sb = 0; OUT_LINE=1 (FSIC's convention):
    // sm_tlast at the end of every line of OUT_LINE_WORDS words (the frame's last line holds the rest),
    // sm_sb = {eol = sm_tlast, sof = the frame's first word}
    localparam OLW = (OUT_LINE_WORDS > 1) ? $clog2(OUT_LINE_WORDS) : 1;
    localparam integer OUT_LAST_LIDX_I = OUT_LINE_WORDS - 1;
    localparam [OLW-1:0] OUT_LAST_LIDX = OUT_LAST_LIDX_I[OLW-1:0];
    reg  [OLW-1:0] out_lidx;
    wire           out_eol = go_last | (out_lidx == OUT_LAST_LIDX);
    always @(posedge clk) begin
        if (!dp_rst_n) out_lidx <= {OLW{1'b0}};
        else if (ev_word_out) out_lidx <= out_eol ? {OLW{1'b0}} : out_lidx + 1'b1;
    end
    assign sm_tlast = (OUT_LINE != 0) ? out_eol : go_last;
    assign sm_sb    = (OUT_LINE != 0) ? {out_eol, ~out_mid} : 2'b00;

    assign out_busy = ~go_empty;
    generate
        if (OUT_N * FW < 32) begin : g_out_pad
            assign sm_tdata = {{(32 - OUT_N * FW){1'b0}}, ow_data};
        end else begin : g_out_nopad
            assign sm_tdata = ow_data;
        end
    endgenerate
    assign sm_tkeep = go_last ? LAST_OUT_KEEP : 4'hF;

    // the IP input stream has no side channels, and the output keep comes from the frame geometry
    wire _unused_ok = &{1'b0, px_cnt, px_last, ow_cnt, ss_sb[1], 1'b0};

    assign la_data = {7'd0, ev_drop, err_ovf, err_keep, err_long, err_short, in_busy, out_busy, irq_high, irq_low,
                      ip_ap_start, ip_ap_ready, ip_ap_done, ip_ap_idle,
                      ss_tvalid, ss_tready, sm_tvalid, sm_tready};
endmodule

`resetall
