/*
 * unet-fsic example for the Caravel management core (VexRiscv RV32I) in FSIC.
 *
 * 1. tag "running" on reg_mprj_datal (0xAB60_0000), 2. select user project 0 (write 0 to 0x3000_5000),
 * 3. compare ID_* with the build this image was compiled for (unet_fsic_build.h), 4. enable the done/error
 * interrupts (low__pri_irq = Caravel user_irq[1]), 5. start one frame -- the FPGA side streams the frame in
 * and takes the result -- and poll ISR with a bounded budget, 6. read counters and ERR, 7. report through the
 * FSIC mailbox (0x3000_2000.., which the FPGA side reads at 0x6000_2000..) and reg_mprj_datal
 * (0xAB61_0000 = pass, 0xAB6F_ssrr = fail at step ss with driver code -rr).
 */
#include <stdint.h>
#include "unet_fsic.h"
#include "unet_fsic_build.h"
#include "unet_app.h"

/* Caravel housekeeping: user-area GPIO data, low word (Caravel "reg_mprj_datal"). */
#define CARAVEL_MPRJ_DATAL 0x2600000Cu
/* FSIC AXI-Lite<->AXIS bridge mailbox (8 words, 0x3000_2000..0x3000_201F). */
#define FSIC_MAILBOX       0x30002000u
#ifndef UF_EXAMPLE_MAX_POLLS
#define UF_EXAMPLE_MAX_POLLS 2000000u   /* ISR polls; each is one Wishbone->AXI-Lite read (several us at 5 MHz) */
#endif

static const unet_fsic_identity_t expected = UNET_FSIC_IDENTITY_FROM_BUILD;

/* Register offsets and the expected identity as compiled, in a non-loaded section (.uf_regmap, INFO) so tools
 * and tests can check the image against the generated header and the build.  Not part of the flash image. */
typedef struct { char name[16]; uint32_t value; } uf_sig_t;
#define SIG(n) { #n, UNET_FSIC_##n }
__attribute__((section(".uf_regmap"), used)) static const struct {
    unet_fsic_identity_t expected;   /* 9 words */
    uf_sig_t regs[27];
} uf_regmap_sig = {
    UNET_FSIC_IDENTITY_FROM_BUILD,
    { SIG(CTRL), SIG(IER), SIG(ISR), SIG(FRAMES_DONE), SIG(WORDS_IN), SIG(WORDS_OUT), SIG(FRAMES_IN), SIG(ERR),
      SIG(OUT_MODE), SIG(ID_MAGIC), SIG(ID_VERSION), SIG(ID_IMG), SIG(ID_CH), SIG(ID_BITS), SIG(ID_MODEL_HASH),
      SIG(ID_WORDS_IN), SIG(ID_WORDS_OUT), SIG(ID_HLS), SIG(IN_CRC), SIG(OUT_CRC), SIG(DROP_FRAMES),
      SIG(STALL_LIMIT), SIG(IN_LEVEL), SIG(ID_IN_BUF), SIG(ID_LINES),
      { "BASE", UNET_FSIC_BASE_CARAVEL }, { "PRJ_SEL", UNET_FSIC_PRJ_SEL_ADDR } },
};

int main(void)
{
    uf_app_result_t r;
    unet_fsic_mmio_write(CARAVEL_MPRJ_DATAL, UF_STATUS_RUNNING);
    uf_app_run(UNET_FSIC_PRJ_SEL_ADDR, UNET_FSIC_BASE_CARAVEL, &expected, UF_EXAMPLE_MAX_POLLS, &r);
    uf_app_report(FSIC_MAILBOX, CARAVEL_MPRJ_DATAL, &r);
    return r.status == UF_STATUS_PASS ? 0 : 1;
}
