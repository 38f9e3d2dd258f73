`resetall
`timescale 1ns / 1ps
`default_nettype none

// uf_in_framer: frames the 32-bit input stream by count and checks ss_tlast/ss_tkeep against it.
//  A frame is WORDS words; every word carries 4 bytes except the last (LAST_BYTES, zero padding above).
//  Output: the word plus its number of valid bytes (o_cnt) towards the unpacking gearbox.
//  Errors (one-cycle pulses):
//   err_short - tlast before the frame's last word: the rest of the frame is fed as zero words (ss_tready low
//               meanwhile) so the IP stays frame-aligned.
//   err_long  - the frame's last word came without tlast: the frame is closed by count and further words
//               are dropped up to and including the next tlast.
//   err_keep  - tkeep differs from the expected valid-byte mask of the word.
//  Parameter constraints (checked at time 0 of simulation; a violation stops it with $error + $finish):
//   WORDS >= 1;  1 <= LAST_BYTES <= 4;  PW (<= 32) bits hold the word index WORDS-1.
module uf_in_framer #(
    parameter WORDS      = 3072,
    parameter LAST_BYTES = 4,
    parameter PW         = (WORDS > 1) ? $clog2(WORDS) : 1
) (
    input  wire        clk,
    input  wire        rst_n,
    input  wire [31:0] s_tdata,
    input  wire [3:0]  s_tkeep,
    input  wire        s_tlast,
    input  wire        s_tvalid,
    output wire        s_tready,
    output wire [31:0] o_data,
    output wire [7:0]  o_cnt,
    output wire        o_valid,
    input  wire        o_ready,
    output wire        busy,         // mid-frame (not at word 0) or padding/dropping
    output wire        frame_in,     // pulse: last word of a frame handed on
    output wire        word_in,      // pulse: ss handshake
    output wire        err_short,
    output wire        err_long,
    output wire        err_keep
);
    // check configuration
    initial begin
        if (WORDS < 1) begin
            $error("Error: uf_in_framer needs WORDS >= 1, not %0d (instance %m)", WORDS);
            $finish;
        end
        if (LAST_BYTES < 1 || LAST_BYTES > 4) begin
            $error("Error: uf_in_framer LAST_BYTES=%0d must be 1..4 (instance %m)", LAST_BYTES);
            $finish;
        end
        if (PW < 1 || PW > 32 || (WORDS > 1 && $clog2(WORDS) > PW)) begin
            $error("Error: uf_in_framer PW=%0d bits (at most 32) cannot hold the word index %0d (instance %m)",
                   PW, WORDS - 1);
            $finish;
        end
    end

    localparam S_NORM = 2'd0, S_PAD = 2'd1, S_DROP = 2'd2;
    localparam [3:0] LAST_KEEP = (LAST_BYTES >= 4) ? 4'hF : ((4'h1 << LAST_BYTES) - 4'h1);
    localparam integer LAST_WIDX_I = WORDS - 1;
    localparam integer LAST_CNT_I  = LAST_BYTES;
    localparam [PW-1:0] LAST_WIDX = LAST_WIDX_I[PW-1:0];
    localparam [7:0]    LAST_CNT  = LAST_CNT_I[7:0];

    reg [1:0]    state;
    reg [PW-1:0] widx;

    wire is_last = (widx == LAST_WIDX);
    wire [3:0] exp_keep = is_last ? LAST_KEEP : 4'hF;

    assign s_tready = (state == S_NORM) ? o_ready : (state == S_DROP);
    assign o_valid  = (state == S_NORM) ? s_tvalid : (state == S_PAD);
    assign o_data   = (state == S_NORM) ? s_tdata : 32'd0;
    assign o_cnt    = is_last ? LAST_CNT : 8'd4;

    wire s_hs = s_tvalid & s_tready;
    wire o_hs = o_valid & o_ready;

    assign busy      = (widx != {PW{1'b0}}) || (state != S_NORM);
    assign word_in   = s_hs;
    assign frame_in  = o_hs & is_last;
    assign err_short = (state == S_NORM) & s_hs & s_tlast & ~is_last;
    assign err_long  = (state == S_NORM) & s_hs & ~s_tlast & is_last;
    assign err_keep  = (state == S_NORM) & s_hs & (s_tkeep != exp_keep);

    always @(posedge clk) begin
        if (!rst_n) begin
            state <= S_NORM;
            widx  <= {PW{1'b0}};
        end else begin
            if (o_hs) widx <= is_last ? {PW{1'b0}} : widx + 1'b1;
            case (state)
                S_NORM: begin
                    if (err_short) state <= S_PAD;
                    else if (err_long) state <= S_DROP;
                end
                S_PAD:  if (o_hs & is_last) state <= S_NORM;
                S_DROP: if (s_hs & s_tlast) state <= S_NORM;
                default: state <= S_NORM;
            endcase
        end
    end
endmodule

`resetall
