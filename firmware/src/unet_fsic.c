/* unet_fsic.c -- see unet_fsic.h.  Freestanding C99: no libc, no multiply/divide (RV32I without M). */
#include "unet_fsic.h"

#define ISR_ALL (UNET_FSIC_ISR_DONE_MASK | UNET_FSIC_ISR_ERR_MASK)

void unet_fsic_select_project(uintptr_t prj_sel_addr, uint32_t prj)
{
    unet_fsic_mmio_write(prj_sel_addr, prj);
}

void unet_fsic_init(unet_fsic_t *dev, uintptr_t base)
{
    dev->base = base;
    dev->ctrl_keep = 0;
    dev->last_err = 0;
    dev->last_isr = 0;
    dev->last_polls = 0;
}

uint32_t unet_fsic_rd(const unet_fsic_t *dev, uint32_t offset)
{
    return unet_fsic_mmio_read(dev->base + offset);
}

void unet_fsic_wr(const unet_fsic_t *dev, uint32_t offset, uint32_t value)
{
    unet_fsic_mmio_write(dev->base + offset, value);
}

void unet_fsic_read_identity(const unet_fsic_t *dev, unet_fsic_identity_t *id)
{
    id->magic = unet_fsic_rd(dev, UNET_FSIC_ID_MAGIC);
    id->version = unet_fsic_rd(dev, UNET_FSIC_ID_VERSION);
    id->img = unet_fsic_rd(dev, UNET_FSIC_ID_IMG);
    id->ch = unet_fsic_rd(dev, UNET_FSIC_ID_CH);
    id->bits = unet_fsic_rd(dev, UNET_FSIC_ID_BITS);
    id->model_hash = unet_fsic_rd(dev, UNET_FSIC_ID_MODEL_HASH);
    id->words_in = unet_fsic_rd(dev, UNET_FSIC_ID_WORDS_IN);
    id->words_out = unet_fsic_rd(dev, UNET_FSIC_ID_WORDS_OUT);
    id->out_mode = unet_fsic_rd(dev, UNET_FSIC_OUT_MODE);
}

uint32_t unet_fsic_identity_diff(const unet_fsic_identity_t *got, const unet_fsic_identity_t *exp)
{
    uint32_t d = 0;
    if (got->magic != exp->magic) d |= UNET_FSIC_IDDIFF_MAGIC;
    if (got->version != exp->version) d |= UNET_FSIC_IDDIFF_VERSION;
    if (got->img != exp->img) d |= UNET_FSIC_IDDIFF_IMG;
    if (got->ch != exp->ch) d |= UNET_FSIC_IDDIFF_CH;
    if (got->bits != exp->bits) d |= UNET_FSIC_IDDIFF_BITS;
    if (got->model_hash != exp->model_hash) d |= UNET_FSIC_IDDIFF_MODEL_HASH;
    if (got->words_in != exp->words_in) d |= UNET_FSIC_IDDIFF_WORDS_IN;
    if (got->words_out != exp->words_out) d |= UNET_FSIC_IDDIFF_WORDS_OUT;
    if (got->out_mode != exp->out_mode) d |= UNET_FSIC_IDDIFF_OUT_MODE;
    return d;
}

int unet_fsic_check_identity(const unet_fsic_t *dev, const unet_fsic_identity_t *expected, uint32_t *diff)
{
    unet_fsic_identity_t got;
    uint32_t d;
    if (!dev || !expected) return UNET_FSIC_E_ARG;
    unet_fsic_read_identity(dev, &got);
    d = unet_fsic_identity_diff(&got, expected);
    if (diff) *diff = d;
    return d ? UNET_FSIC_E_IDENTITY : UNET_FSIC_OK;
}

void unet_fsic_irq_enable(const unet_fsic_t *dev, uint32_t ier)
{
    unet_fsic_wr(dev, UNET_FSIC_IER, ier);
}

void unet_fsic_set_auto_restart(unet_fsic_t *dev, int on)
{
    dev->ctrl_keep = on ? UNET_FSIC_CTRL_AUTO_RESTART_MASK : 0u;
    unet_fsic_wr(dev, UNET_FSIC_CTRL, dev->ctrl_keep);
}

int unet_fsic_start(unet_fsic_t *dev)
{
    if (!dev) return UNET_FSIC_E_ARG;
    if (unet_fsic_rd(dev, UNET_FSIC_CTRL) & UNET_FSIC_CTRL_AP_START_MASK) return UNET_FSIC_E_BUSY;
    /* a DONE left over from an earlier frame must not end this frame's wait */
    unet_fsic_wr(dev, UNET_FSIC_ISR, UNET_FSIC_ISR_DONE_MASK);
    unet_fsic_wr(dev, UNET_FSIC_CTRL, dev->ctrl_keep | UNET_FSIC_CTRL_AP_START_MASK);
    return UNET_FSIC_OK;
}

int unet_fsic_wait_done(unet_fsic_t *dev, uint32_t max_polls)
{
    uint32_t n, isr, err;
    if (!dev) return UNET_FSIC_E_ARG;
    dev->last_err = 0;
    dev->last_isr = 0;
    for (n = 0; n < max_polls; n++) {
        isr = unet_fsic_rd(dev, UNET_FSIC_ISR) & ISR_ALL;
        if (!isr) continue;
        dev->last_polls = n + 1;
        dev->last_isr = isr;
        unet_fsic_wr(dev, UNET_FSIC_ISR, isr);       /* W1C what we saw */
        err = unet_fsic_rd(dev, UNET_FSIC_ERR);
        dev->last_err = err;
        if (err || (isr & UNET_FSIC_ISR_ERR_MASK)) return UNET_FSIC_E_FLAGS;
        return UNET_FSIC_OK;                         /* isr == DONE, no flags */
    }
    dev->last_polls = max_polls;
    return UNET_FSIC_E_TIMEOUT;
}

int unet_fsic_run_frame(unet_fsic_t *dev, uint32_t max_polls)
{
    int rc = unet_fsic_start(dev);
    if (rc != UNET_FSIC_OK) return rc;
    return unet_fsic_wait_done(dev, max_polls);
}

void unet_fsic_read_counters(const unet_fsic_t *dev, unet_fsic_counters_t *c)
{
    c->frames_done = unet_fsic_rd(dev, UNET_FSIC_FRAMES_DONE);
    c->words_in = unet_fsic_rd(dev, UNET_FSIC_WORDS_IN);
    c->words_out = unet_fsic_rd(dev, UNET_FSIC_WORDS_OUT);
    c->frames_in = unet_fsic_rd(dev, UNET_FSIC_FRAMES_IN);
}

void unet_fsic_clear_counters(const unet_fsic_t *dev)
{
    unet_fsic_wr(dev, UNET_FSIC_FRAMES_DONE, 0);
    unet_fsic_wr(dev, UNET_FSIC_WORDS_IN, 0);
    unet_fsic_wr(dev, UNET_FSIC_WORDS_OUT, 0);
    unet_fsic_wr(dev, UNET_FSIC_FRAMES_IN, 0);
}

uint32_t unet_fsic_errors(const unet_fsic_t *dev)
{
    return unet_fsic_rd(dev, UNET_FSIC_ERR);
}

void unet_fsic_clear_errors(const unet_fsic_t *dev, uint32_t mask)
{
    unet_fsic_wr(dev, UNET_FSIC_ERR, mask);
}

void unet_fsic_read_crcs(const unet_fsic_t *dev, uint32_t *in_crc, uint32_t *out_crc)
{
    if (in_crc) *in_crc = unet_fsic_rd(dev, UNET_FSIC_IN_CRC);
    if (out_crc) *out_crc = unet_fsic_rd(dev, UNET_FSIC_OUT_CRC);
}

uint32_t unet_fsic_drop_frames(const unet_fsic_t *dev)
{
    return unet_fsic_rd(dev, UNET_FSIC_DROP_FRAMES);
}

void unet_fsic_set_stall_limit(const unet_fsic_t *dev, uint32_t cycles)
{
    unet_fsic_wr(dev, UNET_FSIC_STALL_LIMIT, cycles & UNET_FSIC_STALL_LIMIT_LIMIT_MASK);
}

int unet_fsic_soft_reset(unet_fsic_t *dev, uint32_t max_polls)
{
    uint32_t n;
    if (!dev) return UNET_FSIC_E_ARG;
    unet_fsic_wr(dev, UNET_FSIC_CTRL, dev->ctrl_keep | UNET_FSIC_CTRL_SOFT_RESET_MASK);
    for (n = 0; n < max_polls; n++) {
        if (!(unet_fsic_rd(dev, UNET_FSIC_CTRL) & UNET_FSIC_CTRL_SOFT_RESET_MASK)) {
            dev->last_polls = n + 1;
            return UNET_FSIC_OK;
        }
    }
    dev->last_polls = max_polls;
    return UNET_FSIC_E_TIMEOUT;
}
