`resetall
`timescale 1ns / 1ps
`default_nettype none

// uf_in_buf: the input side of USER_PRJ0 -- frames the 32-bit ss_* stream by count, checks ss_tlast/ss_tkeep, and
// buffers whole frames in a block RAM of DEPTH (>= WORDS) words, so the shared FPGA->SoC link is never held:
//
//  * ss_tready is low only while the buffer is full (or for the STALL_LIMIT-th cycle, see below).  A frame sent
//    before AP_START is taken in whole and waits in the buffer for the start.
//  * Stall watchdog: when ss_tvalid has been high with ss_tready low for stall_limit consecutive cycles (buffer full,
//    the IP not consuming), the frame being received is dropped: the words of it already in the buffer are taken back
//    (write pointer rewound to the frame's start -- none of them can have been read, the buffer holds DEPTH >= WORDS
//    words and the frame fewer), and the rest of it is accepted and discarded up to and including its ss_tlast
//    (ev_drop pulse: ERR.DROP + DROP_FRAMES).  So ss_tvalid && !ss_tready never lasts more than stall_limit
//    consecutive cycles (stall_limit = 0: no watchdog, back-pressure as long as the IP does not consume).
//  * Framing errors (one-cycle pulses), checked as words are written:
//     err_short - ss_tlast before the frame's last word: the word is stored with an end-of-short-frame mark and the
//                 read side feeds the rest of the frame to the IP as zero words (the IP stays frame-aligned; no
//                 back-pressure for the padding);
//     err_long  - the frame's last word came without ss_tlast: the frame is closed by count and further words are
//                 dropped up to and including the next ss_tlast;
//     err_keep  - ss_tkeep differs from the expected valid-byte mask of the word (flag only).
//  * Read side: the words in order, o_cnt valid bytes each (4, LAST_BYTES on a frame's last word), to the unpacking
//    gearbox; frame_in pulses when a frame's last word was handed on.
//  * CRC: crc is the zlib CRC-32 (uf_crc32) of the words of the last frame completely written into the buffer (a
//    dropped frame does not count; a long frame's words up to its last counted word).
//  * Line framing (LINE=1, FSIC's convention: ss_tlast at the end of every line, ss_tkeep = 0000, sideband {eol, sof}):
//    a frame is WORDS words in lines of LINE_WORDS words (the last line the remainder); s_sof (when SOF=1) starts
//    a frame, ss_tlast ends a line and does not end the frame, ss_tkeep = 0000 counts as all bytes valid.
//     err_short / err_long - ss_tlast inside a line / missing at a line's end (flag only: words are counted);
//     err_miss   - s_sof at a line start before the frame's last word (lines missing): the new frame starts at the
//                  sof word, the broken frame is zero-padded to WORDS words on the read side (bit 32 of the sof
//                  word marks "pad before me"); the IP stays frame-aligned and the new frame is exact;
//     err_sofmid - s_sof inside a line (a partial line): as err_miss;
//     err_extra  - a word that should start a frame came without s_sof (a line beyond the frame's last line, or
//                  input after a drop): it and every word up to the next s_sof are dropped.
//    The stall watchdog drops the frame being received up to the next s_sof.  SOF=0 (no sideband port): frames
//    are counted words only (a missing line shifts every later frame -- use the sideband).
//  Timing of the block RAM: one synchronous read port with an output register (first-word-fall-through), one write
//  port; DEPTH x 33 bits (data + end-of-short-frame mark).
//  Parameter constraints (checked at time 0 of simulation; a violation stops it with $error + $finish):
//   WORDS >= 1;  1 <= LAST_BYTES <= 4;  DEPTH >= WORDS;  DEPTH < 2**20.
module uf_in_buf #(
    parameter WORDS      = 3072,
    parameter LAST_BYTES = 4,
    parameter DEPTH      = WORDS,
    parameter SW         = 16,      // width of stall_limit / the stall counter
    parameter LINE       = 0,       // 1: FSIC line framing (see above)
    parameter LINE_WORDS = WORDS,   // line length in words (LINE=1)
    parameter SOF        = 1        // LINE=1: s_sof is connected (FSIC's ss_tupsb[0])
) (
    input  wire          clk,
    input  wire          rst_n,          // datapath reset (hard or soft)
    input  wire          regs_rst_n,     // register reset (hard only): keeps crc over a soft reset
    input  wire [31:0]   s_tdata,
    input  wire [3:0]    s_tkeep,
    input  wire          s_tlast,
    input  wire          s_tvalid,
    input  wire          s_sof,          // LINE=1, SOF=1: start of frame (sideband)
    output wire          s_tready,
    input  wire [SW-1:0] stall_limit,
    output wire [31:0]   o_data,
    output wire [7:0]    o_cnt,
    output wire          o_valid,
    input  wire          o_ready,
    output wire          busy,           // a frame partly written or read, or words buffered
    output wire [20:0]   level,          // words in the buffer
    output wire          frame_in,       // pulse: last word of a frame handed on to the IP side
    output wire          word_in,        // pulse: ss handshake (also dropped words)
    output wire          err_short,
    output wire          err_long,
    output wire          err_keep,
    output wire          ev_drop,        // pulse: a frame dropped by the stall watchdog
    output wire          err_miss,       // LINE=1 pulses, see above
    output wire          err_extra,
    output wire          err_sofmid,
    output wire [31:0]   crc
);
    localparam AW = (DEPTH > 1) ? $clog2(DEPTH) : 1;
    localparam PW = (WORDS > 1) ? $clog2(WORDS) : 1;
    localparam LW = (LINE_WORDS > 1) ? $clog2(LINE_WORDS) : 1;
    localparam LN = (LINE != 0);              // line framing
    localparam LS = (LINE != 0) && (SOF != 0); // line framing with a sof sideband

    // check configuration
    initial begin
        if (WORDS < 1) begin
            $error("Error: uf_in_buf needs WORDS >= 1, not %0d (instance %m)", WORDS);
            $finish;
        end
        if (LAST_BYTES < 1 || LAST_BYTES > 4) begin
            $error("Error: uf_in_buf LAST_BYTES=%0d must be 1..4 (instance %m)", LAST_BYTES);
            $finish;
        end
        if (DEPTH < WORDS || DEPTH >= (1 << 20)) begin
            $error("Error: uf_in_buf DEPTH=%0d must hold a whole frame of WORDS=%0d words and be < 2**20 (instance %m)",
                   DEPTH, WORDS);
            $finish;
        end
        if (LINE != 0 && (LINE != 1 || LINE_WORDS < 1 || LINE_WORDS > WORDS || (SOF != 0 && SOF != 1))) begin
            $error("Error: uf_in_buf LINE=%0d needs 1 <= LINE_WORDS=%0d <= WORDS=%0d and SOF 0/1 (instance %m)",
                   LINE, LINE_WORDS, WORDS);
            $finish;
        end
        if (SW < 1 || SW > 31) begin
            $error("Error: uf_in_buf SW=%0d must be 1..31 (instance %m)", SW);
            $finish;
        end
    end

    localparam S_NORM = 1'b0, S_DROP = 1'b1;
    localparam [3:0] LAST_KEEP = (LAST_BYTES >= 4) ? 4'hF : ((4'h1 << LAST_BYTES) - 4'h1);
    localparam integer LAST_WIDX_I = WORDS - 1;
    localparam integer LAST_CNT_I  = LAST_BYTES;
    localparam integer DEPTH_I     = DEPTH;
    localparam integer LAST_ADDR_I = DEPTH - 1;
    localparam [PW-1:0] LAST_WIDX = LAST_WIDX_I[PW-1:0];
    localparam [7:0]    LAST_CNT  = LAST_CNT_I[7:0];
    localparam [20:0]   DEPTH_C   = DEPTH_I[20:0];
    localparam [AW-1:0] LAST_ADDR = LAST_ADDR_I[AW-1:0];
    localparam integer LAST_LIDX_I = LINE_WORDS - 1;
    localparam [LW-1:0] LAST_LIDX = LAST_LIDX_I[LW-1:0];

    // ---------------------------------------------------------------- buffer
    reg [32:0]   mem [0:DEPTH-1];
    reg [AW-1:0] wptr, rptr, fstart;
    reg [20:0]   cnt;             // words in mem (not counting the output register)
    reg [32:0]   q;
    reg          q_valid;

    // ---------------------------------------------------------------- write side (ss_*)
    reg          state;
    reg [PW-1:0] widx;
    reg [LW-1:0] lidx;            // LINE=1: word in its line
    reg [SW-1:0] stall_cnt;

    wire full    = (cnt == DEPTH_C);
    wire is_last = (widx == LAST_WIDX);
    wire l_end   = is_last | (lidx == LAST_LIDX);        // LINE=1: a line's last word
    wire w0      = (widx == {PW{1'b0}});
    assign s_tready = rst_n & ((state == S_DROP) | ~full);   // low in reset: no word is taken and lost

    wire s_hs  = s_tvalid & s_tready;
    wire sof   = LS & s_sof;
    // LINE=1 + sof: a word is written when it starts a frame (sof) or continues one; words that should start a
    // frame but have no sof, and words in S_DROP up to the next sof, are dropped
    wire wr    = LS ? (s_hs & (sof | ((state == S_NORM) & ~w0))) : ((state == S_NORM) & s_hs);
    wire brk   = wr & sof & ~w0;                         // sof inside a frame: the frame is broken off
    wire stall = s_tvalid & ~s_tready;
    wire abort = stall & (stall_limit != {SW{1'b0}}) & (stall_cnt >= stall_limit - 1'b1);  // >=: a lowered limit acts at once
    wire fin   = LN ? (brk ? (LAST_WIDX == {PW{1'b0}}) : is_last) : (is_last | s_tlast);   // this word ends its frame
    wire close = wr & fin;

    wire [3:0] exp_keep = (LN ? (is_last & ~brk) : is_last) ? LAST_KEEP : 4'hF;
    assign word_in   = s_hs;
    assign err_short = LN ? (wr & s_tlast & ~brk & ~l_end) : (wr & s_tlast & ~is_last);
    assign err_long  = LN ? (wr & ~s_tlast & ~brk & l_end) : (wr & ~s_tlast & is_last);
    assign err_keep  = wr & (s_tkeep != exp_keep) & ~(LN & (s_tkeep == 4'h0));
    assign ev_drop   = abort;
    assign err_miss   = brk & (lidx == {LW{1'b0}});
    assign err_sofmid = brk & (lidx != {LW{1'b0}});
    assign err_extra  = LS & s_hs & ~sof & w0 & (state == S_NORM);

    function [AW-1:0] inc;
        input [AW-1:0] a;
        begin
            inc = (a == LAST_ADDR) ? {AW{1'b0}} : a + 1'b1;
        end
    endfunction

    // ---------------------------------------------------------------- read side
    reg          rpad;
    reg [PW-1:0] ridx;
    wire r_last = (ridx == LAST_WIDX);
    // LINE=1: a word marked "pad before me" (it starts the frame after a broken one) waits while the broken
    // frame is padded with zero words to its length
    wire pre = LN & q_valid & q[32] & (ridx != {PW{1'b0}});
    assign o_valid = rpad | q_valid;
    assign o_data  = (rpad | pre) ? 32'd0 : q[31:0];
    assign o_cnt   = r_last ? LAST_CNT : 8'd4;
    wire o_hs   = o_valid & o_ready;
    wire q_take = ~rpad & ~pre & o_hs;
    wire ld     = (cnt != 21'd0) & (~q_valid | q_take);
    assign frame_in = o_hs & r_last;

    // rewind on abort: the words of the current frame (widx of them, none read yet) leave the buffer
    reg  [20:0] widx_w;          // widx at the count's width (PW <= 20 in any valid configuration)
    always @(*) begin
        widx_w = 21'd0;
        widx_w[PW-1:0] = widx;
    end
    wire [20:0] cnt_nx = cnt + {20'd0, wr} - {20'd0, ld} - (abort ? widx_w : 21'd0);

    always @(posedge clk) begin
        if (wr) mem[wptr] <= {LN ? brk : (s_tlast & ~is_last), s_tdata};
        if (ld) q <= mem[rptr];
    end

    always @(posedge clk) begin
        if (!rst_n) begin
            state     <= S_NORM;
            widx      <= {PW{1'b0}};
            lidx      <= {LW{1'b0}};
            stall_cnt <= {SW{1'b0}};
            wptr      <= {AW{1'b0}};
            fstart    <= {AW{1'b0}};
            rptr      <= {AW{1'b0}};
            cnt       <= 21'd0;
            q_valid   <= 1'b0;
            rpad      <= 1'b0;
            ridx      <= {PW{1'b0}};
        end else begin
            // write side
            stall_cnt <= (stall && !abort) ? stall_cnt + 1'b1 : {SW{1'b0}};
            if (abort) begin
                state <= S_DROP;
                wptr  <= fstart;
                if (!(LN && !LS)) widx <= {PW{1'b0}};   // LINE without sof: count the dropped frame's rest
                lidx  <= {LW{1'b0}};
            end else if (wr) begin
                wptr <= inc(wptr);
                if (LS) state <= S_NORM;
                if (close) begin
                    widx   <= {PW{1'b0}};
                    lidx   <= {LW{1'b0}};
                    fstart <= inc(wptr);
                    if (err_long && !LN) state <= S_DROP;
                end else begin
                    widx   <= brk ? {{(PW-1){1'b0}}, 1'b1} : widx + 1'b1;
                    if (brk) lidx <= (LAST_LIDX == {LW{1'b0}}) ? {LW{1'b0}} : {{(LW-1){1'b0}}, 1'b1};
                    else     lidx <= l_end ? {LW{1'b0}} : lidx + 1'b1;
                    if (brk) fstart <= wptr;
                end
            end else if (LS) begin
                if (err_extra) state <= S_DROP;
            end else if (LN) begin
                if (state == S_DROP && s_hs) begin          // no sof: the dropped frame ends by count
                    widx <= is_last ? {PW{1'b0}} : widx + 1'b1;
                    if (is_last) state <= S_NORM;
                end
            end else if (state == S_DROP && s_hs && s_tlast) begin
                state <= S_NORM;
            end
            cnt <= cnt_nx;
            // read side
            if (ld) rptr <= inc(rptr);
            if (ld) q_valid <= 1'b1;
            else if (q_take) q_valid <= 1'b0;
            if (o_hs) begin
                ridx <= r_last ? {PW{1'b0}} : ridx + 1'b1;
                if (rpad) begin
                    if (r_last) rpad <= 1'b0;
                end else if (!LN && q[32] && !r_last) begin
                    rpad <= 1'b1;
                end
            end
        end
    end

    assign busy  = ~w0 | ((state != S_NORM) & ~LS) | (cnt != 21'd0) | q_valid | rpad | (ridx != {PW{1'b0}});
    assign level = cnt + {20'd0, q_valid};

    uf_crc32 u_crc (.clk(clk), .rst_n(regs_rst_n), .frame_rst_n(rst_n), .en(wr), .close(close), .abort(abort),
                    .restart(brk), .data(s_tdata), .crc(crc));
endmodule

`resetall
