`resetall
`timescale 1ns / 1ps
`default_nettype none

// uf_cdc_sync: W-bit two-flip-flop synchroniser into the clock `clk` (the destination domain).
// The ONLY place (with uf_async_fifo's pointer synchronisers, which instantiate it) where a signal of one clock
// domain is sampled by a flip-flop of the other: `d` comes from a flip-flop of the source domain (never from
// combinational logic), and may only carry signals that are safe to sample bit by bit -- a level that changes
// rarely (status), a toggle (pulse / handshake synchronisers) or a Gray-coded pointer (one bit changes at a time).
// Synchronous active-high reset `rst` of the destination domain sets both stages to RST_VAL.
// CDC rule (fsic_wrapper/README.md "Two clocks"; tests/test_two_clock.py checks it on the netlist): a flip-flop
// whose D input depends on a flip-flop of the other clock is a `cdc_s1` flip-flop of this module, or the
// asynchronously read memory of uf_async_fifo.
module uf_cdc_sync #(
    parameter W = 1,
    parameter [W-1:0] RST_VAL = {W{1'b0}}
) (
    input  wire         clk,
    input  wire         rst,
    input  wire [W-1:0] d,
    output wire [W-1:0] q
);
    initial begin
        if (W < 1) begin
            $error("Error: uf_cdc_sync W=%0d must be >= 1 (instance %m)", W);
            $finish;
        end
    end

    (* ASYNC_REG = "TRUE" *) reg [W-1:0] cdc_s1;
    (* ASYNC_REG = "TRUE" *) reg [W-1:0] cdc_s2;
    always @(posedge clk) begin
        if (rst) begin
            cdc_s1 <= RST_VAL;
            cdc_s2 <= RST_VAL;
        end else begin
            cdc_s1 <= d;
            cdc_s2 <= cdc_s1;
        end
    end
    assign q = cdc_s2;
endmodule

`resetall
