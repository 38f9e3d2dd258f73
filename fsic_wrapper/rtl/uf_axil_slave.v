`resetall
`timescale 1ns / 1ps
`default_nettype none

// uf_axil_slave: AXI-Lite slave front end for FSIC's config control (no B channel, no RRESP) that also
// works with any standard AXI-Lite master.
//  * Write: AW and W are accepted independently and latched; the register write happens in the cycle the
//    second of the two is seen (or the same cycle when both arrive together).  FSIC drops (and zeroes) the
//    address after awready, so the address is latched at the AW handshake.  WREADY_LAG=1 makes wready wait
//    until the address is latched (wready one cycle after awready), the case FSIC handles by dropping awvalid.
//  * Read: arready while no read data is pending; the address is latched at the AR handshake, rdata is
//    captured (rd_en pulse, used for clear-on-read side effects) and presented with rvalid the next cycle,
//    held until rready.
module uf_axil_slave #(
    parameter ADDR_W = 12,
    parameter WREADY_LAG = 0
) (
    input  wire              clk,
    input  wire              rst_n,
    // AXI-Lite (FSIC subset)
    input  wire              awvalid,
    input  wire [ADDR_W-1:0] awaddr,
    output wire              awready,
    input  wire              wvalid,
    input  wire [31:0]       wdata,
    input  wire [3:0]        wstrb,
    output wire              wready,
    input  wire              arvalid,
    input  wire [ADDR_W-1:0] araddr,
    output wire              arready,
    output reg               rvalid,
    output reg  [31:0]       rdata,
    input  wire              rready,
    // register file side
    output wire              wr_en,
    output wire [ADDR_W-1:0] wr_addr,
    output wire [31:0]       wr_data,
    output wire [3:0]        wr_strb,
    output wire              rd_en,
    output wire [ADDR_W-1:0] rd_addr,
    input  wire [31:0]       rd_data
);
    // check configuration
    initial begin
        if (ADDR_W < 1) begin
            $error("Error: uf_axil_slave needs ADDR_W >= 1, not %0d (instance %m)", ADDR_W);
            $finish;
        end
        if (WREADY_LAG != 0 && WREADY_LAG != 1) begin
            $error("Error: uf_axil_slave WREADY_LAG=%0d must be 0 or 1 (instance %m)", WREADY_LAG);
            $finish;
        end
    end

    reg              aw_got;
    reg [ADDR_W-1:0] aw_q;
    reg              w_got;
    reg [31:0]       w_q;
    reg [3:0]        s_q;

    assign awready = ~aw_got;
    assign wready  = (WREADY_LAG != 0) ? (aw_got & ~w_got) : ~w_got;

    wire aw_hs = awvalid & awready;
    wire w_hs  = wvalid & wready;
    wire aw_have = aw_got | aw_hs;
    wire w_have  = w_got | w_hs;

    assign wr_en   = aw_have & w_have;
    assign wr_addr = aw_got ? aw_q : awaddr;
    assign wr_data = w_got ? w_q : wdata;
    assign wr_strb = w_got ? s_q : wstrb;

    always @(posedge clk) begin
        if (!rst_n) begin
            aw_got <= 1'b0;
            w_got  <= 1'b0;
            aw_q   <= {ADDR_W{1'b0}};
            w_q    <= 32'd0;
            s_q    <= 4'd0;
        end else if (wr_en) begin
            aw_got <= 1'b0;
            w_got  <= 1'b0;
        end else begin
            if (aw_hs) begin
                aw_got <= 1'b1;
                aw_q   <= awaddr;
            end
            if (w_hs) begin
                w_got <= 1'b1;
                w_q   <= wdata;
                s_q   <= wstrb;
            end
        end
    end

    // read channel
    assign arready = ~rvalid;
    assign rd_en   = arvalid & arready;
    assign rd_addr = araddr;

    always @(posedge clk) begin
        if (!rst_n) begin
            rvalid <= 1'b0;
            rdata  <= 32'd0;
        end else if (rd_en) begin
            rvalid <= 1'b1;
            rdata  <= rd_data;
        end else if (rvalid & rready) begin
            rvalid <= 1'b0;
        end
    end
endmodule

`resetall
