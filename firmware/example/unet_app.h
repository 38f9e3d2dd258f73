/* unet_app.h -- the example's portable logic (target and native test share it). */
#ifndef UNET_APP_H
#define UNET_APP_H
#include <stdint.h>
#include "unet_fsic.h"

/* Caravel-style status word (the convention of the Caravel examples: a tag in the upper half of
 * reg_mprj_datal that the testbench / a logic analyzer watches, a code in the lower half). */
#define UF_STATUS_RUNNING 0xAB600000u
#define UF_STATUS_PASS    0xAB610000u
#define UF_STATUS_FAIL    0xAB6F0000u

/* Step that failed (bits 15:8 of the result code); bits 7:0 = -(driver return code). */
#define UF_STEP_NONE      0u
#define UF_STEP_IDENTITY  1u
#define UF_STEP_START     2u
#define UF_STEP_WAIT      3u
#define UF_STEP_COUNTERS  4u

typedef struct {
    uint32_t status;     /* UF_STATUS_PASS | 0, or UF_STATUS_FAIL | (step << 8) | (-rc & 0xFF) */
    uint32_t detail;     /* identity mismatch mask (UNET_FSIC_IDDIFF_*), ERR flags, or counter step detail */
    unet_fsic_counters_t cnt;
    uint32_t err;        /* ERR register at the end */
    uint32_t polls;      /* polls the wait used */
} uf_app_result_t;

/* Select project 0, check identity, enable the done/error interrupts, clear counters, run one frame (the FPGA
 * side streams it in and takes the result), read counters and error flags, and check the counters against
 * the build.  Returns the status word (also in r->status). */
uint32_t uf_app_run(uintptr_t prj_sel_addr, uintptr_t base, const unet_fsic_identity_t *expected,
                    uint32_t max_polls, uf_app_result_t *r);

/* Report: mailbox words [0]=status [1]=detail [2]=frames_done [3]=words_in [4]=words_out [5]=err [6]=polls,
 * then the status word to `gpio_addr` (Caravel reg_mprj_datal).  Either address may be 0 (skipped). */
void uf_app_report(uintptr_t mailbox_addr, uintptr_t gpio_addr, const uf_app_result_t *r);

#endif
