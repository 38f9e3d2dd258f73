`resetall
`timescale 1ns / 1ps
`default_nettype none

// uf_crc32: CRC-32 of a frame of 32-bit words, exactly Python's zlib.crc32 (IEEE 802.3 / zlib: reflected polynomial
// 0xEDB88320, initial value and final XOR 0xFFFFFFFF) of the bytes of the words, each word taken as 4 bytes
// little-endian (bits [7:0] first, then [15:8], [23:16], [31:24]) -- the stream's byte order.  All 4 bytes of every
// word count (also the padding bytes of a frame's short last word, as they were on the bus).
//   en     - a word of the current frame (data)
//   close  - with en: data is the frame's last word; crc (the last completed frame's CRC) is updated
//   abort  - forget the current frame (no update of crc)
//   restart- with en: data is the first word of a new frame (the current one is forgotten, no update of crc)
// crc keeps its value over frame_rst_n (the datapath reset restarts the running CRC only); rst_n clears it.
module uf_crc32 (
    input  wire        clk,
    input  wire        rst_n,
    input  wire        frame_rst_n,
    input  wire        en,
    input  wire        close,
    input  wire        abort,
    input  wire        restart,
    input  wire [31:0] data,
    output reg  [31:0] crc
);
    function [31:0] crc32_word;   // 32 data bits, LSB first, into the reflected CRC register c
        input [31:0] c;
        input [31:0] d;
        integer i;
        reg [31:0] r;
        begin
            r = c;
            for (i = 0; i < 32; i = i + 1)
                r = (r >> 1) ^ ((r[0] ^ d[i]) ? 32'hEDB88320 : 32'h0);
            crc32_word = r;
        end
    endfunction

    reg  [31:0] run;
    wire [31:0] nxt = crc32_word(restart ? 32'hFFFFFFFF : run, data);

    always @(posedge clk) begin
        if (!rst_n || !frame_rst_n) run <= 32'hFFFFFFFF;
        else if (abort) run <= 32'hFFFFFFFF;
        else if (en) run <= close ? 32'hFFFFFFFF : nxt;
    end

    always @(posedge clk) begin
        if (!rst_n) crc <= 32'h0;
        else if (en && close && !abort) crc <= ~nxt;
    end
endmodule

`resetall
