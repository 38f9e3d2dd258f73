`resetall
`timescale 1ns / 1ps
`default_nettype none

// uf_gearbox: frame-aware field re-packer between two valid/ready streams.
//  Input beats carry up to IN_N fields of FW bits (field 0 in the LSBs; in_cnt = number of valid fields,
//  1..IN_N, fields above in_cnt are ignored).  Output beats carry OUT_N fields (field 0 in the LSBs); a frame
//  is FRAME_N fields, its last beat carries the LAST_N remaining fields only (out_cnt), unused fields are
//  zero, and out_last is set on it.  Fields keep their order; nothing is dropped or duplicated.  Input beats
//  need not be aligned to frames (a beat may hold the end of one frame and the start of the next).
//  The buffer holds BUF_N fields; input is accepted while at least IN_N fields are free (registered
//  decision: no combinational path from out_ready to in_ready).
//  Implementation: output shifts are constants (a full beat or the constant tail); the append position is a
//  staged barrel shifter on the field count (no multipliers).
//  Parameter constraints (checked at time 0 of simulation; a violation stops it with $error + $finish):
//   FW, IN_N, OUT_N, FRAME_N >= 1;  BUF_N >= IN_N + OUT_N - 1 (else the buffer can be too full for input yet
//   too empty for an output beat: deadlock);  $clog2(BUF_N + 1) <= CW <= 32 (counts hold BUF_N).
module uf_gearbox #(
    parameter FW      = 8,
    parameter IN_N    = 4,
    parameter OUT_N   = 3,
    parameter FRAME_N = 12,
    parameter BUF_N   = 2 * (IN_N + OUT_N),
    parameter CW      = 8    // width of counts (must hold BUF_N)
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
    localparam WORDS  = (FRAME_N + OUT_N - 1) / OUT_N;          // output beats per frame
    localparam LAST_N = FRAME_N - OUT_N * (WORDS - 1);           // fields in the last beat
    localparam WW     = (WORDS > 1) ? $clog2(WORDS) : 1;
    localparam SW     = $clog2(BUF_N + 1);                       // bits of a field count in the buffer
    localparam BW     = BUF_N * FW;

    // check configuration
    initial begin
        if (FW < 1 || IN_N < 1 || OUT_N < 1 || FRAME_N < 1) begin
            $error("Error: uf_gearbox needs FW, IN_N, OUT_N, FRAME_N >= 1 (FW=%0d IN_N=%0d OUT_N=%0d FRAME_N=%0d; instance %m)",
                   FW, IN_N, OUT_N, FRAME_N);
            $finish;
        end
        if (BUF_N < IN_N + OUT_N - 1) begin
            $error("Error: uf_gearbox BUF_N=%0d < IN_N + OUT_N - 1 = %0d: the buffer could deadlock (instance %m)",
                   BUF_N, IN_N + OUT_N - 1);
            $finish;
        end
        if (CW < SW || CW > 32) begin
            $error("Error: uf_gearbox CW=%0d bits cannot hold BUF_N=%0d, need %0d <= CW <= 32 (instance %m)",
                   CW, BUF_N, SW);
            $finish;
        end
    end

    // the constants compared with the registers, at the registers' widths
    localparam integer LAST_WIDX_I = WORDS - 1;
    localparam integer OUT_N_I     = OUT_N;
    localparam integer LAST_N_I    = LAST_N;
    localparam integer IN_LIMIT_I  = BUF_N - IN_N;               // accept input while cnt <= IN_LIMIT
    localparam [WW-1:0] LAST_WIDX = LAST_WIDX_I[WW-1:0];
    localparam [CW-1:0] OUT_N_C   = OUT_N_I[CW-1:0];
    localparam [CW-1:0] LAST_N_C  = LAST_N_I[CW-1:0];
    localparam [CW-1:0] IN_LIMIT  = IN_LIMIT_I[CW-1:0];

    reg [BW-1:0]  buffer;
    reg [CW-1:0]  cnt;
    reg [WW-1:0]  widx;

    wire          tail   = (widx == LAST_WIDX);
    wire [CW-1:0] n_emit = tail ? LAST_N_C : OUT_N_C;

    localparam [OUT_N*FW-1:0] TAIL_MASK = ~({(OUT_N*FW){1'b1}} << (LAST_N * FW));
    assign out_data  = tail ? (buffer[OUT_N*FW-1:0] & TAIL_MASK) : buffer[OUT_N*FW-1:0];
    assign out_cnt   = n_emit;
    assign out_last  = tail;
    assign out_valid = (cnt >= n_emit);
    assign in_ready  = (cnt <= IN_LIMIT);
    assign empty     = (cnt == {CW{1'b0}}) && (widx == {WW{1'b0}});

    wire do_out = out_valid & out_ready;
    wire do_in  = in_valid & in_ready;

    wire [BW-1:0] after_out = !do_out ? buffer : tail ? (buffer >> (LAST_N * FW)) : (buffer >> (OUT_N * FW));
    wire [CW-1:0] cnt_after = do_out ? (cnt - n_emit) : cnt;

    // input fields beyond in_cnt are zeroed
    reg [BW-1:0] in_ext;
    integer k;
    always @(*) begin
        in_ext = {BW{1'b0}};
        for (k = 0; k < IN_N; k = k + 1)
            if (k < in_cnt) in_ext[k*FW +: FW] = in_data[k*FW +: FW];
    end

    // staged barrel shift of the input to field position cnt_after
    reg [BW-1:0] in_pos;
    integer b;
    always @(*) begin
        in_pos = in_ext;
        for (b = 0; b < SW; b = b + 1)
            if (cnt_after[b]) in_pos = in_pos << ((1 << b) * FW);
    end

    always @(posedge clk) begin
        if (!rst_n) begin
            buffer <= {BW{1'b0}};
            cnt    <= {CW{1'b0}};
            widx   <= {WW{1'b0}};
        end else begin
            if (do_in) begin
                buffer <= after_out | in_pos;
                cnt    <= cnt_after + in_cnt;
            end else begin
                buffer <= after_out;
                cnt    <= cnt_after;
            end
            if (do_out) widx <= tail ? {WW{1'b0}} : widx + 1'b1;
        end
    end
endmodule

`resetall
