/* unet_app.c -- see unet_app.h */
#include "unet_app.h"

static uint32_t fail(uf_app_result_t *r, uint32_t step, int rc, uint32_t detail)
{
    r->status = UF_STATUS_FAIL | (step << 8) | ((uint32_t)(-rc) & 0xFFu);
    r->detail = detail;
    return r->status;
}

uint32_t uf_app_run(uintptr_t prj_sel_addr, uintptr_t base, const unet_fsic_identity_t *expected,
                    uint32_t max_polls, uf_app_result_t *r)
{
    unet_fsic_t dev;
    uint32_t diff = 0;
    int rc;

    r->status = UF_STATUS_RUNNING;
    r->detail = 0;
    r->err = 0;
    r->polls = 0;
    r->cnt.frames_done = r->cnt.words_in = r->cnt.words_out = r->cnt.frames_in = 0;

    unet_fsic_select_project(prj_sel_addr, 0u);          /* FSIC: 0 selects user project 0 */
    unet_fsic_init(&dev, base);

    rc = unet_fsic_check_identity(&dev, expected, &diff);
    if (rc != UNET_FSIC_OK) return fail(r, UF_STEP_IDENTITY, rc, diff);

    unet_fsic_irq_enable(&dev, UNET_FSIC_IER_DONE_LOW_MASK | UNET_FSIC_IER_ERR_LOW_MASK);
    unet_fsic_clear_errors(&dev, UNET_FSIC_ERR_SHORT_MASK | UNET_FSIC_ERR_LONG_MASK | UNET_FSIC_ERR_KEEP_MASK
                                     | UNET_FSIC_ERR_OVERFLOW_MASK);
    unet_fsic_clear_counters(&dev);

    rc = unet_fsic_start(&dev);
    if (rc != UNET_FSIC_OK) return fail(r, UF_STEP_START, rc, 0);
    rc = unet_fsic_wait_done(&dev, max_polls);
    r->polls = dev.last_polls;
    unet_fsic_read_counters(&dev, &r->cnt);
    r->err = unet_fsic_errors(&dev);
    if (rc != UNET_FSIC_OK) return fail(r, UF_STEP_WAIT, rc, dev.last_err);

    if (r->cnt.frames_done != 1u) return fail(r, UF_STEP_COUNTERS, UNET_FSIC_E_FLAGS, 1u);
    if (r->cnt.frames_in != 1u) return fail(r, UF_STEP_COUNTERS, UNET_FSIC_E_FLAGS, 2u);
    if (r->cnt.words_in != expected->words_in) return fail(r, UF_STEP_COUNTERS, UNET_FSIC_E_FLAGS, 3u);
    if (r->cnt.words_out != expected->words_out) return fail(r, UF_STEP_COUNTERS, UNET_FSIC_E_FLAGS, 4u);

    r->status = UF_STATUS_PASS;
    return r->status;
}

void uf_app_report(uintptr_t mailbox_addr, uintptr_t gpio_addr, const uf_app_result_t *r)
{
    if (mailbox_addr) {
        unet_fsic_mmio_write(mailbox_addr + 0x00u, r->status);
        unet_fsic_mmio_write(mailbox_addr + 0x04u, r->detail);
        unet_fsic_mmio_write(mailbox_addr + 0x08u, r->cnt.frames_done);
        unet_fsic_mmio_write(mailbox_addr + 0x0Cu, r->cnt.words_in);
        unet_fsic_mmio_write(mailbox_addr + 0x10u, r->cnt.words_out);
        unet_fsic_mmio_write(mailbox_addr + 0x14u, r->err);
        unet_fsic_mmio_write(mailbox_addr + 0x18u, r->polls);
    }
    if (gpio_addr) unet_fsic_mmio_write(gpio_addr, r->status);
}
