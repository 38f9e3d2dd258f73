`resetall
`timescale 1ns / 1ps
`default_nettype none

// uf_ip_cdc: the clock-domain crossing between the wrapper (domain A: axis_clk -- AXI-Lite registers, input
// buffer, gearboxes, sm_*) and the hls4ml IP (domain B: user_clock2), used by USER_PRJ0 when the build has
// target.ip_clock = user_clock2 (fsic_wrapper/README.md "Two clocks").  The A side looks to unet_fsic_core like
// the IP itself (ap_ctrl_hs + two axis streams); the B side drives the IP.
//   streams      : uf_async_fifo (2**FIFO_AW entries) core -> IP input, IP output -> core
//   ap_start     : toggle handshake, one start in flight: A sees the core's ap_start and no start outstanding ->
//                  toggles; B holds the IP's ap_start from the toggle until the IP's ap_ready, then toggles back;
//                  A turns that toggle into the core's one-cycle ap_ready (which clears CTRL.AP_START)
//   ap_done      : toggle -> one-cycle pulse in A (debug bus only)
//   ap_idle      : level, two-flip-flop synchronised (status)
//   resets       : a four-phase handshake per direction.  A reset source in A (bus reset or SOFT_RESET: a_ip_rst_n
//                  low) raises a_req; B holds itself in reset (IP ap_rst_n, B side of both FIFOs and handshakes)
//                  while it sees a_req and echoes it; A drops a_req once the echo arrived and its source ended, and
//                  stays in reset until the echo dropped.  Symmetrically a B source (uck2_rst_n low) raises b_req,
//                  A holds its side AND the core's datapath (a_link_rst -> unet_fsic_core ip_link_rst: input
//                  buffer, gearboxes, output framing) in reset while it sees b_req, B waits for the echo.  So every
//                  reset of either domain puts both sides in reset at the same time and aborts the frame in flight
//                  everywhere (like SOFT_RESET); the registers and counters (A, reset only by the bus reset) keep
//                  their values.  uck2_rst_n must be held for >= 2 user_clock2 cycles.
// Every signal crossing A <-> B goes through uf_cdc_sync (directly or inside uf_async_fifo); see the CDC rule in
// uf_cdc_sync.v.  All resets are synchronous.
module uf_ip_cdc #(
    parameter IW      = 24,   // IP input TDATA width
    parameter OW      = 8,    // IP output TDATA width
    parameter FIFO_AW = 3     // FIFO depth 2**FIFO_AW
) (
    // ---- domain A (axis_clk): the core's view of the IP
    input  wire          a_clk,
    input  wire          a_ip_rst_n,     // the core's IP reset (bus reset & ~SOFT_RESET)
    output wire          a_link_rst,     // to the core: hold the datapath in reset (either domain resetting)
    input  wire          a_ap_start,
    output wire          a_ap_ready,
    output wire          a_ap_done,
    output wire          a_ap_idle,
    input  wire [IW-1:0] a_in_tdata,
    input  wire          a_in_tvalid,
    output wire          a_in_tready,
    output wire [OW-1:0] a_out_tdata,
    output wire          a_out_tvalid,
    input  wire          a_out_tready,
    // ---- domain B (user_clock2): the IP
    input  wire          b_clk,
    input  wire          b_rst_n,        // uck2_rst_n
    output wire          b_ip_rst_n,
    output wire          b_ap_start,
    input  wire          b_ap_ready,
    input  wire          b_ap_done,
    input  wire          b_ap_idle,
    output wire [IW-1:0] b_in_tdata,
    output wire          b_in_tvalid,
    input  wire          b_in_tready,
    input  wire [OW-1:0] b_out_tdata,
    input  wire          b_out_tvalid,
    output wire          b_out_tready
);
    // ================================================================ reset handshake
    wire a_src = ~a_ip_rst_n;
    wire b_src = ~b_rst_n;
    reg  a_req, b_req;
    wire a_ack_s, a_breq_s;    // in A: B's echo of a_req; b_req
    wire b_ack_s, b_areq_s;    // in B: A's echo of b_req; a_req
    always @(posedge a_clk) a_req <= a_src | (a_req & ~a_ack_s);
    always @(posedge b_clk) b_req <= b_src | (b_req & ~b_ack_s);
    // the echo of a request is the second synchroniser stage that received it (a flip-flop of the echoing domain)
    uf_cdc_sync #(.W(2)) u_sync_a_rst (.clk(a_clk), .rst(a_src), .d({b_areq_s, b_req}), .q({a_ack_s, a_breq_s}));
    uf_cdc_sync #(.W(2)) u_sync_b_rst (.clk(b_clk), .rst(b_src), .d({a_breq_s, a_req}), .q({b_ack_s, b_areq_s}));
    wire a_lrst = a_src | a_req | a_ack_s | a_breq_s;
    wire b_lrst = b_src | b_req | b_ack_s | b_areq_s;
    assign a_link_rst = a_lrst;
    assign b_ip_rst_n = ~b_lrst;

    // ================================================================ ap_start / ap_ready / ap_done / ap_idle
    reg  a_st_tog, a_st_busy, a_rdy_prev, a_done_prev;
    wire a_rdy_s, a_done_s;
    wire a_rdy_ev  = a_rdy_s ^ a_rdy_prev;
    always @(posedge a_clk) begin
        if (a_lrst) begin
            a_st_tog    <= 1'b0;
            a_st_busy   <= 1'b0;
            a_rdy_prev  <= 1'b0;
            a_done_prev <= 1'b0;
        end else begin
            a_rdy_prev  <= a_rdy_s;
            a_done_prev <= a_done_s;
            if (a_rdy_ev) a_st_busy <= 1'b0;
            else if (a_ap_start && !a_st_busy) begin
                a_st_busy <= 1'b1;
                a_st_tog  <= ~a_st_tog;
            end
        end
    end
    assign a_ap_ready = a_rdy_ev;
    assign a_ap_done  = a_done_s ^ a_done_prev;

    reg  b_start, b_st_prev, b_rdy_tog, b_done_tog;
    wire b_st_s;
    always @(posedge b_clk) begin
        if (b_lrst) begin
            b_start    <= 1'b0;
            b_st_prev  <= 1'b0;
            b_rdy_tog  <= 1'b0;
            b_done_tog <= 1'b0;
        end else begin
            b_st_prev <= b_st_s;
            if (b_start && b_ap_ready) begin
                b_start   <= 1'b0;
                b_rdy_tog <= ~b_rdy_tog;
            end else if (b_st_s ^ b_st_prev) b_start <= 1'b1;
            if (b_ap_done) b_done_tog <= ~b_done_tog;
        end
    end
    assign b_ap_start = b_start;

    reg b_idle_q;    // registered so the synchroniser samples a flip-flop of B
    always @(posedge b_clk) b_idle_q <= b_lrst | b_ap_idle;

    uf_cdc_sync #(.W(1)) u_sync_start (.clk(b_clk), .rst(b_lrst), .d(a_st_tog), .q(b_st_s));
    uf_cdc_sync #(.W(2)) u_sync_rdy (.clk(a_clk), .rst(a_lrst), .d({b_done_tog, b_rdy_tog}), .q({a_done_s, a_rdy_s}));
    uf_cdc_sync #(.W(1), .RST_VAL(1'b1)) u_sync_idle (.clk(a_clk), .rst(a_lrst), .d(b_idle_q), .q(a_ap_idle));

    // ================================================================ streams
    uf_async_fifo #(.W(IW), .AW(FIFO_AW)) u_fifo_in (
        .w_clk(a_clk), .w_rst_n(~a_lrst), .w_data(a_in_tdata), .w_valid(a_in_tvalid), .w_ready(a_in_tready),
        .r_clk(b_clk), .r_rst_n(~b_lrst), .r_data(b_in_tdata), .r_valid(b_in_tvalid), .r_ready(b_in_tready));
    uf_async_fifo #(.W(OW), .AW(FIFO_AW)) u_fifo_out (
        .w_clk(b_clk), .w_rst_n(~b_lrst), .w_data(b_out_tdata), .w_valid(b_out_tvalid), .w_ready(b_out_tready),
        .r_clk(a_clk), .r_rst_n(~a_lrst), .r_data(a_out_tdata), .r_valid(a_out_tvalid), .r_ready(a_out_tready));
endmodule

`resetall
