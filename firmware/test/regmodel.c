#include <stdio.h>
#include <string.h>
#include "regmodel.h"
#include "unet_fsic.h"
#include "unet_fsic_build.h"

regmodel_t RM;

void rm_reset(void)
{
    memset(&RM, 0, sizeof RM);
    RM.id_magic = UNET_FSIC_MAGIC;
    RM.id_version = UNET_FSIC_REGMAP_VERSION;
    RM.id_img = (UNET_FSIC_BUILD_H_PX << UNET_FSIC_ID_IMG_H_LSB) | UNET_FSIC_BUILD_W_PX;
    RM.id_ch = (UNET_FSIC_BUILD_C << UNET_FSIC_ID_CH_C_LSB) | UNET_FSIC_BUILD_CLASSES;
    RM.id_bits = UNET_FSIC_BUILD_WEIGHT_BITS | (UNET_FSIC_BUILD_ACT_BITS << UNET_FSIC_ID_BITS_ACT_BITS_LSB)
                 | (UNET_FSIC_BUILD_LOGIT_BITS << UNET_FSIC_ID_BITS_LOGIT_BITS_LSB)
                 | (UNET_FSIC_BUILD_CLASS_BITS << UNET_FSIC_ID_BITS_CLASS_BITS_LSB);
    RM.id_hash = UNET_FSIC_BUILD_MODEL_HASH;
    RM.id_words_in = UNET_FSIC_BUILD_WORDS_IN;
    RM.id_words_out = UNET_FSIC_BUILD_WORDS_OUT;
    RM.id_hls = (8u << UNET_FSIC_ID_HLS_OUT_TDATA_W_LSB) | 24u;
    RM.out_mode = UNET_FSIC_BUILD_ARGMAX | (UNET_FSIC_BUILD_FIELDS_PER_WORD << UNET_FSIC_OUT_MODE_FIELDS_PER_WORD_LSB)
                  | (UNET_FSIC_BUILD_FIELD_BITS << UNET_FSIC_OUT_MODE_FIELD_BITS_LSB);
    RM.prj_sel = 0xFFFFFFFFu;
    RM.accept_after = 2;
    RM.done_after = 10;
    RM.reset_len = 4;
    RM.stall_limit = 4096;
}

static void violation(const char *what, uintptr_t addr, uint32_t v)
{
    RM.violations++;
    snprintf(RM.last_violation, sizeof RM.last_violation, "%s @0x%08lx val 0x%08x", what, (unsigned long)addr, v);
}

/* advance model time by one access */
static void tick(void)
{
    RM.tick++;
    RM.accesses++;
    if (RM.soft_reset_left && RM.reset_len >= 0) {
        RM.soft_reset_left--;
        if (!RM.soft_reset_left) { RM.start_pending = 0; RM.running = 0; }
    }
    if (RM.start_pending && RM.accept_after >= 0 && RM.tick - RM.t_start >= RM.accept_after) {
        RM.start_pending = 0;
        RM.running = 1;
        RM.t_accept = RM.tick;
    }
    if (RM.running && RM.done_after >= 0 && RM.tick - RM.t_accept >= RM.done_after) {
        RM.running = 0;
        RM.frames_in++;
        RM.words_in += RM.id_words_in;
        RM.frames_done++;
        RM.words_out += RM.id_words_out;
        RM.ap_done = 1;
        RM.isr |= UNET_FSIC_ISR_DONE_MASK;
        if (RM.err_on_done) {
            RM.err |= RM.err_on_done;
            RM.isr |= UNET_FSIC_ISR_ERR_MASK;
        }
    }
}

static int in_project(uintptr_t addr, uint32_t *off)
{
    if (addr < UNET_FSIC_BASE_CARAVEL || addr >= UNET_FSIC_BASE_CARAVEL + 0x1000u) return 0;
    *off = (uint32_t)(addr - UNET_FSIC_BASE_CARAVEL);
    return 1;
}

uint32_t unet_fsic_mmio_read(uintptr_t addr)
{
    uint32_t off, v = 0;
    tick();
    if (addr & 3u) { violation("unaligned read", addr, 0); return 0; }
    if (addr >= RM_MAILBOX && addr < RM_MAILBOX + 32u) return RM.mailbox[(addr - RM_MAILBOX) / 4u];
    if (!in_project(addr, &off)) { violation("read outside the mapped addresses", addr, 0); return 0; }
    if (RM.prj_sel != 0u) { violation("project read before selecting project 0", addr, 0); return 0; }
    switch (off) {
    case UNET_FSIC_CTRL:
        RM.ctrl_reads++;
        v = (RM.start_pending ? UNET_FSIC_CTRL_AP_START_MASK : 0u) | (RM.ap_done ? UNET_FSIC_CTRL_AP_DONE_MASK : 0u)
            | (!RM.start_pending && !RM.running ? UNET_FSIC_CTRL_AP_IDLE_MASK : 0u)
            | (RM.auto_restart ? UNET_FSIC_CTRL_AUTO_RESTART_MASK : 0u)
            | (RM.soft_reset_left ? UNET_FSIC_CTRL_SOFT_RESET_MASK : 0u);
        RM.ap_done = 0;  /* clear-on-read */
        break;
    case UNET_FSIC_IER: v = RM.ier; break;
    case UNET_FSIC_ISR: RM.isr_reads++; v = RM.isr; break;
    case UNET_FSIC_FRAMES_DONE: v = RM.frames_done; break;
    case UNET_FSIC_WORDS_IN: v = RM.words_in; break;
    case UNET_FSIC_WORDS_OUT: v = RM.words_out; break;
    case UNET_FSIC_FRAMES_IN: v = RM.frames_in; break;
    case UNET_FSIC_ERR: v = RM.err; break;
    case UNET_FSIC_OUT_MODE: v = RM.out_mode; break;
    case UNET_FSIC_ID_MAGIC: v = RM.id_magic; break;
    case UNET_FSIC_ID_VERSION: v = RM.id_version; break;
    case UNET_FSIC_ID_IMG: v = RM.id_img; break;
    case UNET_FSIC_ID_CH: v = RM.id_ch; break;
    case UNET_FSIC_ID_BITS: v = RM.id_bits; break;
    case UNET_FSIC_ID_MODEL_HASH: v = RM.id_hash; break;
    case UNET_FSIC_ID_WORDS_IN: v = RM.id_words_in; break;
    case UNET_FSIC_ID_WORDS_OUT: v = RM.id_words_out; break;
    case UNET_FSIC_ID_HLS: v = RM.id_hls; break;
    case UNET_FSIC_IN_CRC: v = RM.in_crc; break;
    case UNET_FSIC_OUT_CRC: v = RM.out_crc; break;
    case UNET_FSIC_DROP_FRAMES: v = RM.drop_frames; break;
    case UNET_FSIC_STALL_LIMIT: v = RM.stall_limit; break;
    case UNET_FSIC_IN_LEVEL: v = 0; break;
    case UNET_FSIC_ID_IN_BUF: v = RM.id_words_in; break;
    default: violation("read of an unmapped offset", addr, 0); v = 0;
    }
    return v;
}

void unet_fsic_mmio_write(uintptr_t addr, uint32_t v)
{
    uint32_t off;
    const uint32_t ctrl_w = UNET_FSIC_CTRL_AP_START_MASK | UNET_FSIC_CTRL_AP_DONE_MASK
                            | UNET_FSIC_CTRL_AUTO_RESTART_MASK | UNET_FSIC_CTRL_SOFT_RESET_MASK;
    /* v2: only the two low__pri_irq enables; High_pri_req is no interrupt and has no IER bit */
    const uint32_t ier_w = UNET_FSIC_IER_DONE_LOW_MASK | UNET_FSIC_IER_ERR_LOW_MASK;
    const uint32_t isr_w = UNET_FSIC_ISR_DONE_MASK | UNET_FSIC_ISR_ERR_MASK;
    const uint32_t err_w = UNET_FSIC_ERR_SHORT_MASK | UNET_FSIC_ERR_LONG_MASK | UNET_FSIC_ERR_KEEP_MASK
                           | UNET_FSIC_ERR_OVERFLOW_MASK | UNET_FSIC_ERR_DROP_MASK;
    tick();
    if (addr & 3u) { violation("unaligned write", addr, v); return; }
    if (addr == UNET_FSIC_PRJ_SEL_ADDR) { RM.prj_sel = v & 0x1Fu; return; }
    if (addr >= RM_MAILBOX && addr < RM_MAILBOX + 32u) { RM.mailbox[(addr - RM_MAILBOX) / 4u] = v; return; }
    if (addr == RM_GPIO) { RM.gpio = v; return; }
    if (!in_project(addr, &off)) { violation("write outside the mapped addresses", addr, v); return; }
    if (RM.prj_sel != 0u) { violation("project write before selecting project 0", addr, v); return; }
    switch (off) {
    case UNET_FSIC_CTRL:
        if (v & ~ctrl_w) violation("CTRL write sets read-only/reserved bits", addr, v);
        RM.auto_restart = (v & UNET_FSIC_CTRL_AUTO_RESTART_MASK) ? 1u : 0u;
        if (v & UNET_FSIC_CTRL_AP_DONE_MASK) RM.ap_done = 0;
        if (v & UNET_FSIC_CTRL_SOFT_RESET_MASK) RM.soft_reset_left = RM.reset_len < 0 ? 1u : (uint32_t)RM.reset_len;
        if (v & UNET_FSIC_CTRL_AP_START_MASK) {
            if (RM.start_pending) violation("AP_START while a start is pending", addr, v);
            RM.start_pending = 1;
            RM.starts++;
            RM.t_start = RM.tick;
        }
        break;
    case UNET_FSIC_IER:
        if (v & ~ier_w) violation("IER reserved bits", addr, v);
        RM.ier = v & ier_w;
        break;
    case UNET_FSIC_ISR:
        if (v & ~isr_w) violation("ISR reserved bits", addr, v);
        RM.isr &= ~v;
        break;
    case UNET_FSIC_FRAMES_DONE: RM.frames_done = 0; break;
    case UNET_FSIC_WORDS_IN: RM.words_in = 0; break;
    case UNET_FSIC_WORDS_OUT: RM.words_out = 0; break;
    case UNET_FSIC_FRAMES_IN: RM.frames_in = 0; break;
    case UNET_FSIC_DROP_FRAMES: RM.drop_frames = 0; break;
    case UNET_FSIC_STALL_LIMIT: RM.stall_limit = v & UNET_FSIC_STALL_LIMIT_LIMIT_MASK; break;
    case UNET_FSIC_ERR:
        if (v & ~err_w) violation("ERR reserved bits", addr, v);
        RM.err &= ~v;
        break;
    default: violation("write to a read-only or unmapped offset", addr, v);
    }
}
