`resetall
`timescale 1ns / 1ps
`default_nettype none

// uf_async_fifo: asynchronous FIFO, 2**AW entries of W bits, valid/ready on both sides (first-word-fall-through).
// Classic Gray-pointer design (C. E. Cummings, "Simulation and Synthesis Techniques for Asynchronous FIFO Design",
// SNUG 2002, style #1): AW+1-bit binary + Gray pointers in each domain, the other side's Gray pointer through a
// two-flip-flop uf_cdc_sync; full = the write Gray pointer equals the synchronised read Gray pointer with its two
// MSBs inverted, empty = the Gray pointers equal.  The memory is written in the write domain and read
// asynchronously (LUT RAM) at the read pointer: a word is read only after its write moved the write pointer
// through the synchroniser, so it is stable when sampled.
// Resets: synchronous active-low, one per domain.  Both sides must be in reset together at some point (the
// caller, uf_ip_cdc, guarantees it with its reset handshake) -- a side in reset holds its pointers at 0, so the
// other side's synchronised view of it is 0 as well.
module uf_async_fifo #(
    parameter W  = 32,
    parameter AW = 3      // 2**AW entries; AW >= 2
) (
    input  wire         w_clk,
    input  wire         w_rst_n,
    input  wire [W-1:0] w_data,
    input  wire         w_valid,
    output wire         w_ready,
    input  wire         r_clk,
    input  wire         r_rst_n,
    output wire [W-1:0] r_data,
    output wire         r_valid,
    input  wire         r_ready
);
    initial begin
        if (W < 1 || AW < 2 || AW > 12) begin
            $error("Error: uf_async_fifo needs W >= 1 and 2 <= AW <= 12 (W=%0d, AW=%0d; instance %m)", W, AW);
            $finish;
        end
    end

    localparam [AW:0] FULL_X = {2'b11, {(AW-1){1'b0}}};   // Gray "full": the two MSBs inverted

    reg [W-1:0] mem [0:(1<<AW)-1];

    // ---------------------------------------------------------------- write domain
    reg  [AW:0] w_bin, w_gray;
    wire [AW:0] w_rgray;                                   // read Gray pointer, synchronised
    wire [AW:0] w_bin_n = w_bin + 1'b1;
    assign w_ready = (w_gray != (w_rgray ^ FULL_X));
    always @(posedge w_clk) begin
        if (!w_rst_n) begin
            w_bin  <= {(AW+1){1'b0}};
            w_gray <= {(AW+1){1'b0}};
        end else if (w_valid && w_ready) begin
            w_bin  <= w_bin_n;
            w_gray <= w_bin_n ^ (w_bin_n >> 1);
        end
    end
    always @(posedge w_clk) begin
        if (w_valid && w_ready) mem[w_bin[AW-1:0]] <= w_data;
    end
    uf_cdc_sync #(.W(AW+1)) u_sync_rgray (.clk(w_clk), .rst(!w_rst_n), .d(r_gray), .q(w_rgray));

    // ---------------------------------------------------------------- read domain
    reg  [AW:0] r_bin, r_gray;
    wire [AW:0] r_wgray;                                   // write Gray pointer, synchronised
    wire [AW:0] r_bin_n = r_bin + 1'b1;
    assign r_valid = (r_gray != r_wgray);
    assign r_data  = mem[r_bin[AW-1:0]];
    always @(posedge r_clk) begin
        if (!r_rst_n) begin
            r_bin  <= {(AW+1){1'b0}};
            r_gray <= {(AW+1){1'b0}};
        end else if (r_valid && r_ready) begin
            r_bin  <= r_bin_n;
            r_gray <= r_bin_n ^ (r_bin_n >> 1);
        end
    end
    uf_cdc_sync #(.W(AW+1)) u_sync_wgray (.clk(r_clk), .rst(!r_rst_n), .d(w_gray), .q(r_wgray));
endmodule

`resetall
