`timescale 1ns / 1ps
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
    always @(posedge clk) begin
        if (!rst_n || clr) count <= {W{1'b0}};
        else if (inc)      count <= count + {{(W-1){1'b0}}, 1'b1};
    end
endmodule
