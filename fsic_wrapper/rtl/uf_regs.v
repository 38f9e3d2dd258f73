`resetall
`timescale 1ns / 1ps
`default_nettype none

// uf_regs: the unet-fsic register file (offsets and fields from the generated unet_fsic_regs.vh, whose
// single source is fsic_wrapper/regmap.yaml).  Unmapped offsets read 0 and ignore writes.
// Parameter constraints (checked at time 0 of simulation; a violation stops it with $error + $finish): every
// identity value fits its register field (e.g. IMG_H/IMG_W/IMG_C/CLASSES < 2**16, the *_BITS values < 256).
module uf_regs #(
    parameter ADDR_W          = 12,
    parameter IMG_H           = 64,
    parameter IMG_W           = 64,
    parameter IMG_C           = 3,
    parameter CLASSES         = 21,
    parameter ARGMAX          = 1,
    parameter OUT_FIELD_BITS  = 5,
    parameter OUT_FIELDS_WORD = 6,
    parameter WEIGHT_BITS     = 5,
    parameter ACT_BITS        = 8,
    parameter LOGIT_BITS      = 8,
    parameter CLASS_BITS      = 5,
    parameter [31:0] MODEL_HASH = 32'h0,
    parameter WORDS_IN        = 3072,
    parameter WORDS_OUT       = 683,
    parameter HLS_IN_TDATA_W  = 24,
    parameter HLS_OUT_TDATA_W = 8
) (
    input  wire              clk,
    input  wire              rst_n,
    // bus side
    input  wire              wr_en,
    input  wire [ADDR_W-1:0] wr_addr,
    input  wire [31:0]       wr_data,
    input  wire [3:0]        wr_strb,
    input  wire              rd_en,
    input  wire [ADDR_W-1:0] rd_addr,
    output reg  [31:0]       rd_data,
    // datapath status / events
    input  wire              ip_idle,
    input  wire              ip_ready,
    input  wire              in_busy,
    input  wire              out_busy,
    input  wire              ev_frame_done,
    input  wire              ev_frame_in,
    input  wire              ev_word_in,
    input  wire              ev_word_out,
    input  wire [3:0]        ev_err,       // {overflow, keep, long, short}
    // control outputs
    output wire              ip_start,
    output wire              soft_rst,
    output wire              irq_low,
    output wire              irq_high
);
    // the generated map defines every field's LSB and width; not all of them are needed here
    /* verilator lint_off UNUSEDPARAM */
`include "unet_fsic_regs.vh"
    /* verilator lint_on UNUSEDPARAM */

    // check configuration: the identity values must fit their register fields
    initial begin
        if ((IMG_H >> UF_ID_IMG_H_W) != 0 || (IMG_W >> UF_ID_IMG_W_W) != 0 || IMG_H < 1 || IMG_W < 1) begin
            $error("Error: uf_regs IMG_H=%0d / IMG_W=%0d must be 1..%0d (ID_IMG fields; instance %m)",
                   IMG_H, IMG_W, (1 << UF_ID_IMG_W_W) - 1);
            $finish;
        end
        if ((IMG_C >> UF_ID_CH_C_W) != 0 || (CLASSES >> UF_ID_CH_CLASSES_W) != 0 || IMG_C < 1 || CLASSES < 1) begin
            $error("Error: uf_regs IMG_C=%0d / CLASSES=%0d must be 1..%0d (ID_CH fields; instance %m)",
                   IMG_C, CLASSES, (1 << UF_ID_CH_C_W) - 1);
            $finish;
        end
        if ((WEIGHT_BITS >> UF_ID_BITS_WEIGHT_BITS_W) != 0 || (ACT_BITS >> UF_ID_BITS_ACT_BITS_W) != 0
            || (LOGIT_BITS >> UF_ID_BITS_LOGIT_BITS_W) != 0 || (CLASS_BITS >> UF_ID_BITS_CLASS_BITS_W) != 0) begin
            $error("Error: uf_regs WEIGHT_BITS/ACT_BITS/LOGIT_BITS/CLASS_BITS must fit the 8-bit ID_BITS fields (instance %m)");
            $finish;
        end
        if ((OUT_FIELD_BITS >> UF_OUT_MODE_FIELD_BITS_W) != 0
            || (OUT_FIELDS_WORD >> UF_OUT_MODE_FIELDS_PER_WORD_W) != 0) begin
            $error("Error: uf_regs OUT_FIELD_BITS=%0d / OUT_FIELDS_WORD=%0d must fit the OUT_MODE fields (instance %m)",
                   OUT_FIELD_BITS, OUT_FIELDS_WORD);
            $finish;
        end
        if ((HLS_IN_TDATA_W >> UF_ID_HLS_IN_TDATA_W_W) != 0 || (HLS_OUT_TDATA_W >> UF_ID_HLS_OUT_TDATA_W_W) != 0) begin
            $error("Error: uf_regs HLS_IN_TDATA_W=%0d / HLS_OUT_TDATA_W=%0d must fit the ID_HLS fields (instance %m)",
                   HLS_IN_TDATA_W, HLS_OUT_TDATA_W);
            $finish;
        end
        if (ARGMAX != 0 && ARGMAX != 1) begin
            $error("Error: uf_regs ARGMAX=%0d must be 0 or 1 (instance %m)", ARGMAX);
            $finish;
        end
    end

    wire [31:0] wmask = {{8{wr_strb[3]}}, {8{wr_strb[2]}}, {8{wr_strb[1]}}, {8{wr_strb[0]}}};
    wire [31:0] wbits = wr_data & wmask;
    wire        any_strb = |wr_strb;

    wire wr_ctrl = wr_en && (wr_addr == UF_REG_CTRL);
    wire wr_ier  = wr_en && (wr_addr == UF_REG_IER);
    wire wr_isr  = wr_en && (wr_addr == UF_REG_ISR);
    wire wr_err  = wr_en && (wr_addr == UF_REG_ERR);
    wire rd_ctrl = rd_en && (rd_addr == UF_REG_CTRL);

    reg        start_pending;
    reg        ap_done;
    reg        auto_restart;
    reg [2:0]  srst_cnt;
    reg [31:0] ier;
    reg [1:0]  isr;
    reg [3:0]  err;

    assign ip_start = start_pending | auto_restart;
    assign soft_rst = (srst_cnt != 3'd0);

    // error flags
    wire [3:0] err_new = ev_err & ~err;
    always @(posedge clk) begin
        if (!rst_n) err <= 4'd0;
        else err <= (err & ~(wr_err ? wbits[3:0] : 4'd0)) | ev_err;
    end

    // control
    always @(posedge clk) begin
        if (!rst_n) begin
            start_pending <= 1'b0;
            ap_done       <= 1'b0;
            auto_restart  <= 1'b0;
            srst_cnt      <= 3'd0;
            ier           <= 32'd0;
            isr           <= 2'd0;
        end else begin
            // ap_start: W1S, cleared when the IP accepts the start (ap_start && ap_ready) or by soft reset
            if (soft_rst) start_pending <= 1'b0;
            else if (wr_ctrl && wbits[UF_CTRL_AP_START_LSB]) start_pending <= 1'b1;
            else if (ip_start && ip_ready) start_pending <= 1'b0;
            // ap_done: set by a completed output frame, clear on read of CTRL or W1C; set wins
            if (ev_frame_done) ap_done <= 1'b1;
            else if (rd_ctrl || (wr_ctrl && wbits[UF_CTRL_AP_DONE_LSB])) ap_done <= 1'b0;
            if (wr_ctrl && wr_strb[0]) auto_restart <= wr_data[UF_CTRL_AUTO_RESTART_LSB];
            if (wr_ctrl && wbits[UF_CTRL_SOFT_RESET_LSB]) srst_cnt <= 3'd4;
            else if (srst_cnt != 3'd0) srst_cnt <= srst_cnt - 3'd1;
            if (wr_ier) ier <= (ier & ~wmask) | wbits;
            isr <= (isr & ~(wr_isr ? wbits[1:0] : 2'b00))
                 | {|err_new, ev_frame_done};
        end
    end

    wire done_l = ier[UF_IER_DONE_LOW_LSB]  & isr[UF_ISR_DONE_LSB];
    wire err_l  = ier[UF_IER_ERR_LOW_LSB]   & isr[UF_ISR_ERR_LSB];
    wire done_h = ier[UF_IER_DONE_HIGH_LSB] & isr[UF_ISR_DONE_LSB];
    wire err_h  = ier[UF_IER_ERR_HIGH_LSB]  & isr[UF_ISR_ERR_LSB];
    assign irq_low  = done_l | err_l;
    assign irq_high = done_h | err_h;

    // counters (any write with a strobe clears)
    wire [31:0] frames_done, words_in, words_out, frames_in;
    uf_counter #(.W(32)) u_cnt_fd (.clk(clk), .rst_n(rst_n), .clr(wr_en && any_strb && wr_addr == UF_REG_FRAMES_DONE),
                                   .inc(ev_frame_done), .count(frames_done));
    uf_counter #(.W(32)) u_cnt_wi (.clk(clk), .rst_n(rst_n), .clr(wr_en && any_strb && wr_addr == UF_REG_WORDS_IN),
                                   .inc(ev_word_in), .count(words_in));
    uf_counter #(.W(32)) u_cnt_wo (.clk(clk), .rst_n(rst_n), .clr(wr_en && any_strb && wr_addr == UF_REG_WORDS_OUT),
                                   .inc(ev_word_out), .count(words_out));
    uf_counter #(.W(32)) u_cnt_fi (.clk(clk), .rst_n(rst_n), .clr(wr_en && any_strb && wr_addr == UF_REG_FRAMES_IN),
                                   .inc(ev_frame_in), .count(frames_in));

    wire ap_idle = ip_idle & ~start_pending & ~in_busy & ~out_busy;

    function [31:0] put;  // place value v at lsb
        input [31:0] v;
        input integer lsb;
        begin
            put = v << lsb;
        end
    endfunction

    function [31:0] put1;  // place bit v at lsb
        input v;
        input integer lsb;
        begin
            put1 = {31'd0, v} << lsb;
        end
    endfunction

    always @(*) begin
        case (rd_addr)
            UF_REG_CTRL: rd_data = put1(start_pending, UF_CTRL_AP_START_LSB) | put1(ap_done, UF_CTRL_AP_DONE_LSB)
                                 | put1(ap_idle, UF_CTRL_AP_IDLE_LSB) | put1(in_busy, UF_CTRL_IN_BUSY_LSB)
                                 | put1(out_busy, UF_CTRL_OUT_BUSY_LSB) | put1(auto_restart, UF_CTRL_AUTO_RESTART_LSB)
                                 | put1(soft_rst, UF_CTRL_SOFT_RESET_LSB);
            UF_REG_IER:  rd_data = ier & (put(1, UF_IER_DONE_LOW_LSB) | put(1, UF_IER_ERR_LOW_LSB)
                                        | put(1, UF_IER_DONE_HIGH_LSB) | put(1, UF_IER_ERR_HIGH_LSB));
            UF_REG_ISR:  rd_data = put1(isr[0], UF_ISR_DONE_LSB) | put1(isr[1], UF_ISR_ERR_LSB);
            UF_REG_FRAMES_DONE: rd_data = frames_done;
            UF_REG_WORDS_IN:    rd_data = words_in;
            UF_REG_WORDS_OUT:   rd_data = words_out;
            UF_REG_FRAMES_IN:   rd_data = frames_in;
            UF_REG_ERR:  rd_data = put1(err[0], UF_ERR_SHORT_LSB) | put1(err[1], UF_ERR_LONG_LSB)
                                 | put1(err[2], UF_ERR_KEEP_LSB) | put1(err[3], UF_ERR_OVERFLOW_LSB);
            UF_REG_OUT_MODE: rd_data = put1(ARGMAX != 0, UF_OUT_MODE_ARGMAX_LSB)
                                     | put(OUT_FIELDS_WORD, UF_OUT_MODE_FIELDS_PER_WORD_LSB)
                                     | put(OUT_FIELD_BITS, UF_OUT_MODE_FIELD_BITS_LSB);
            UF_REG_ID_MAGIC:   rd_data = UF_MAGIC;
            UF_REG_ID_VERSION: rd_data = UF_REGMAP_VERSION;
            UF_REG_ID_IMG:     rd_data = put(IMG_W, UF_ID_IMG_W_LSB) | put(IMG_H, UF_ID_IMG_H_LSB);
            UF_REG_ID_CH:      rd_data = put(CLASSES, UF_ID_CH_CLASSES_LSB) | put(IMG_C, UF_ID_CH_C_LSB);
            UF_REG_ID_BITS:    rd_data = put(WEIGHT_BITS, UF_ID_BITS_WEIGHT_BITS_LSB) | put(ACT_BITS, UF_ID_BITS_ACT_BITS_LSB)
                                       | put(LOGIT_BITS, UF_ID_BITS_LOGIT_BITS_LSB) | put(CLASS_BITS, UF_ID_BITS_CLASS_BITS_LSB);
            UF_REG_ID_MODEL_HASH: rd_data = MODEL_HASH;
            UF_REG_ID_WORDS_IN:   rd_data = WORDS_IN;
            UF_REG_ID_WORDS_OUT:  rd_data = WORDS_OUT;
            UF_REG_ID_HLS:     rd_data = put(HLS_IN_TDATA_W, UF_ID_HLS_IN_TDATA_W_LSB) | put(HLS_OUT_TDATA_W, UF_ID_HLS_OUT_TDATA_W_LSB);
            default: rd_data = 32'd0;
        endcase
    end
endmodule

`resetall
