`timescale 1ns / 1ps
// uf_gearbox: frame-aware field re-packer between two valid/ready streams.
//  Input beats carry up to IN_N fields of FW bits (field 0 in the LSBs; in_cnt = number of valid fields).
//  Output beats carry OUT_N fields (field 0 in the LSBs); the last beat of a frame (FRAME_N fields per frame)
//  carries the remaining fields only (out_cnt), unused fields are zero, and out_last is set on it.
//  Fields keep their order; nothing is dropped or duplicated.  The buffer holds BUF_N fields; input is
//  accepted while at least IN_N fields are free (registered decision, no combinational ready path).
module uf_gearbox #(
    parameter FW      = 8,
    parameter IN_N    = 4,
    parameter OUT_N   = 3,
    parameter FRAME_N = 12,
    parameter BUF_N   = 2 * (IN_N + OUT_N),
    parameter CW      = 8,   // width of counts (must hold BUF_N)
    parameter PW      = 32   // width of the frame position counter (must hold FRAME_N)
) (
    input  wire                clk,
    input  wire                rst_n,
    input  wire [IN_N*FW-1:0]  in_data,
    input  wire [CW-1:0]       in_cnt,
    input  wire                in_valid,
    output wire                in_ready,
    output wire [OUT_N*FW-1:0] out_data,
    output wire [CW-1:0]       out_cnt,
    output wire                out_last,
    output wire                out_valid,
    input  wire                out_ready,
    output wire                empty
);
    reg [BUF_N*FW-1:0] buffer;
    reg [CW-1:0]       cnt;
    reg [PW-1:0]       pos;

    wire [PW-1:0] remaining = FRAME_N - pos;
    wire          tail      = (remaining <= OUT_N);
    wire [CW-1:0] n_emit    = tail ? remaining[CW-1:0] : OUT_N;

    // masks of the low n fields
    wire [BUF_N*FW-1:0] ones = {(BUF_N*FW){1'b1}};
    wire [BUF_N*FW-1:0] out_mask = ~(ones << (n_emit * FW));
    wire [BUF_N*FW-1:0] in_mask  = ~(ones << (in_cnt * FW));
    wire [BUF_N*FW-1:0] masked   = buffer & out_mask;

    assign out_data  = masked[OUT_N*FW-1:0];
    assign out_cnt   = n_emit;
    assign out_last  = tail;
    assign out_valid = (cnt >= n_emit);
    assign in_ready  = (cnt <= BUF_N - IN_N);
    assign empty     = (cnt == 0) && (pos == 0);

    wire do_out = out_valid & out_ready;
    wire do_in  = in_valid & in_ready;

    wire [BUF_N*FW-1:0] after_out = do_out ? (buffer >> (n_emit * FW)) : buffer;
    wire [CW-1:0]       cnt_after = do_out ? (cnt - n_emit) : cnt;
    wire [BUF_N*FW-1:0] in_ext    = {{((BUF_N - IN_N) * FW){1'b0}}, in_data} & in_mask;

    always @(posedge clk) begin
        if (!rst_n) begin
            buffer <= {(BUF_N*FW){1'b0}};
            cnt    <= {CW{1'b0}};
            pos    <= {PW{1'b0}};
        end else begin
            if (do_in) begin
                buffer <= after_out | (in_ext << (cnt_after * FW));
                cnt    <= cnt_after + in_cnt;
            end else begin
                buffer <= after_out;
                cnt    <= cnt_after;
            end
            if (do_out) pos <= tail ? {PW{1'b0}} : pos + n_emit;
        end
    end
endmodule
