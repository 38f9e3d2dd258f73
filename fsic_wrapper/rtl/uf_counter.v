`resetall
`timescale 1ns / 1ps
`default_nettype none

// uf_counter: free-running event counter with synchronous clear (clear wins over increment).
module uf_counter #(
    parameter W = 32
) (
    input  wire         clk,
    input  wire         rst_n,
    input  wire         clr,
    input  wire         inc,
    output reg  [W-1:0] count
);
    // check configuration
    initial begin
        if (W < 1) begin
            $error("Error: uf_counter needs W >= 1, not %0d (instance %m)", W);
            $finish;
        end
    end

    always @(posedge clk) begin
        if (!rst_n || clr) count <= {W{1'b0}};
        else if (inc)      count <= count + {{(W-1){1'b0}}, 1'b1};
    end
endmodule

`resetall
