/*
 * unet_fsic.h -- driver for the unet-fsic USER_PRJ0 (FSIC user project 0), Caravel management core (VexRiscv,
 * RV32I) and host builds.
 *
 * Register offsets, LSBs and masks come ONLY from the generated unet_fsic_regs.h (python -m pipeline.hw.regmap, from
 * fsic_wrapper/regmap.yaml).  Build identity values come from a build's generated include/unet_fsic_build.h
 * (pipeline.hw.rtl.write_wrapper); see UNET_FSIC_IDENTITY_FROM_BUILD below.
 *
 * MMIO: on the target every access is a volatile 32-bit load/store at base + offset.  Compile with
 * -DUNET_FSIC_HOST_MMIO to route every access through two functions the host program supplies
 * (unet_fsic_mmio_read / unet_fsic_mmio_write) -- this is how the driver is unit-tested natively against a
 * register model (firmware/test/).
 *
 * Completion is taken from ISR.DONE (write-1-to-clear), not from CTRL.AP_DONE (clear-on-read), so reading CTRL for
 * status never loses a done event.  No function blocks without a bound: every wait takes a poll budget.
 */
#ifndef UNET_FSIC_H
#define UNET_FSIC_H

#include <stdint.h>
#include "unet_fsic_regs.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- result codes (also the low byte of the example's reported result) ---- */
#define UNET_FSIC_OK          0
#define UNET_FSIC_E_TIMEOUT  (-1)  /* poll budget exhausted (start not accepted / no done / reset stuck) */
#define UNET_FSIC_E_FLAGS    (-2)  /* ERR register non-zero; flags in dev->last_err (left set for inspection) */
#define UNET_FSIC_E_IDENTITY (-3)  /* ID_* registers differ from the build the firmware was compiled for */
#define UNET_FSIC_E_BUSY     (-4)  /* a start is still pending (CTRL.AP_START reads 1) */
#define UNET_FSIC_E_ARG      (-5)  /* NULL pointer / bad argument */

/* ---- MMIO hook ---- */
#ifdef UNET_FSIC_HOST_MMIO
uint32_t unet_fsic_mmio_read(uintptr_t addr);
void unet_fsic_mmio_write(uintptr_t addr, uint32_t value);
#else
static inline uint32_t unet_fsic_mmio_read(uintptr_t addr) { return *(volatile uint32_t *)addr; }
static inline void unet_fsic_mmio_write(uintptr_t addr, uint32_t value) { *(volatile uint32_t *)addr = value; }
#endif

typedef struct {
    uintptr_t base;        /* UNET_FSIC_BASE_CARAVEL on the SoC, UNET_FSIC_BASE_FPGA from the PYNQ side */
    uint32_t ctrl_keep;    /* CTRL bits that must be rewritten on every CTRL write (AUTO_RESTART is RW) */
    uint32_t last_err;     /* ERR flags seen by the last wait (0 if none) */
    uint32_t last_isr;     /* ISR value that ended the last wait */
    uint32_t last_polls;   /* polls used by the last wait */
} unet_fsic_t;

/* Identity as the registers hold it (packed exactly like ID_* / OUT_MODE). */
typedef struct {
    uint32_t magic, version, img, ch, bits, model_hash, words_in, words_out, out_mode;
} unet_fsic_identity_t;

/* Bits of the mismatch mask returned by unet_fsic_identity_diff / unet_fsic_check_identity. */
enum {
    UNET_FSIC_IDDIFF_MAGIC = 1u << 0, UNET_FSIC_IDDIFF_VERSION = 1u << 1, UNET_FSIC_IDDIFF_IMG = 1u << 2,
    UNET_FSIC_IDDIFF_CH = 1u << 3, UNET_FSIC_IDDIFF_BITS = 1u << 4, UNET_FSIC_IDDIFF_MODEL_HASH = 1u << 5,
    UNET_FSIC_IDDIFF_WORDS_IN = 1u << 6, UNET_FSIC_IDDIFF_WORDS_OUT = 1u << 7, UNET_FSIC_IDDIFF_OUT_MODE = 1u << 8
};

typedef struct {
    uint32_t frames_done, words_in, words_out, frames_in;
} unet_fsic_counters_t;

/* Expected identity from a build's unet_fsic_build.h (include it before using this macro). OUT_MODE includes the
 * build options HIGH_PRI, IN_LINES, OUT_LINES (UNET_FSIC_BUILD_HIGH_PRI / _IN_LINES / _OUT_LINES). */
#define UNET_FSIC_IDENTITY_FROM_BUILD { \
    UNET_FSIC_MAGIC, UNET_FSIC_REGMAP_VERSION, \
    (UNET_FSIC_BUILD_H_PX << UNET_FSIC_ID_IMG_H_LSB) | (UNET_FSIC_BUILD_W_PX << UNET_FSIC_ID_IMG_W_LSB), \
    (UNET_FSIC_BUILD_C << UNET_FSIC_ID_CH_C_LSB) | (UNET_FSIC_BUILD_CLASSES << UNET_FSIC_ID_CH_CLASSES_LSB), \
    (UNET_FSIC_BUILD_WEIGHT_BITS << UNET_FSIC_ID_BITS_WEIGHT_BITS_LSB) \
        | (UNET_FSIC_BUILD_ACT_BITS << UNET_FSIC_ID_BITS_ACT_BITS_LSB) \
        | (UNET_FSIC_BUILD_LOGIT_BITS << UNET_FSIC_ID_BITS_LOGIT_BITS_LSB) \
        | (UNET_FSIC_BUILD_CLASS_BITS << UNET_FSIC_ID_BITS_CLASS_BITS_LSB), \
    UNET_FSIC_BUILD_MODEL_HASH, UNET_FSIC_BUILD_WORDS_IN, UNET_FSIC_BUILD_WORDS_OUT, \
    (UNET_FSIC_BUILD_ARGMAX << UNET_FSIC_OUT_MODE_ARGMAX_LSB) \
        | (UNET_FSIC_BUILD_HIGH_PRI << UNET_FSIC_OUT_MODE_HIGH_PRI_LSB) \
        | (UNET_FSIC_BUILD_IN_LINES << UNET_FSIC_OUT_MODE_IN_LINES_LSB) \
        | (UNET_FSIC_BUILD_OUT_LINES << UNET_FSIC_OUT_MODE_OUT_LINES_LSB) \
        | (UNET_FSIC_BUILD_FIELDS_PER_WORD << UNET_FSIC_OUT_MODE_FIELDS_PER_WORD_LSB) \
        | (UNET_FSIC_BUILD_FIELD_BITS << UNET_FSIC_OUT_MODE_FIELD_BITS_LSB) }

/* Select FSIC user project `prj` (0 for unet-fsic) by a write to config control (UNET_FSIC_PRJ_SEL_ADDR). */
void unet_fsic_select_project(uintptr_t prj_sel_addr, uint32_t prj);

void unet_fsic_init(unet_fsic_t *dev, uintptr_t base);
uint32_t unet_fsic_rd(const unet_fsic_t *dev, uint32_t offset);
void unet_fsic_wr(const unet_fsic_t *dev, uint32_t offset, uint32_t value);

void unet_fsic_read_identity(const unet_fsic_t *dev, unet_fsic_identity_t *id);
uint32_t unet_fsic_identity_diff(const unet_fsic_identity_t *got, const unet_fsic_identity_t *expected);
/* UNET_FSIC_OK or UNET_FSIC_E_IDENTITY; *diff (may be NULL) gets the UNET_FSIC_IDDIFF_* mask. */
int unet_fsic_check_identity(const unet_fsic_t *dev, const unet_fsic_identity_t *expected, uint32_t *diff);

/* IER value, e.g. UNET_FSIC_IER_DONE_LOW_MASK | UNET_FSIC_IER_ERR_LOW_MASK: the interrupt is low__pri_irq
 * (Caravel user_irq[1]).  High_pri_req (user_irq[2]) is NOT an interrupt -- FSIC's switch takes it as the project's
 * upstream priority request; no register drives it (build option high_pri_req, OUT_MODE.HIGH_PRI).  Do not enable
 * user_irq[2] for this project. */
void unet_fsic_irq_enable(const unet_fsic_t *dev, uint32_t ier);
void unet_fsic_set_auto_restart(unet_fsic_t *dev, int on);

/* Acknowledge a stale ISR.DONE, then request one frame (CTRL.AP_START, W1S).  E_BUSY if a start is pending. */
int unet_fsic_start(unet_fsic_t *dev);
/* Poll ISR up to max_polls times.  OK on ISR.DONE without error flags (DONE acknowledged);
 * E_FLAGS if ISR.ERR or ERR != 0 (ISR acknowledged, ERR left set, flags in dev->last_err); E_TIMEOUT otherwise. */
int unet_fsic_wait_done(unet_fsic_t *dev, uint32_t max_polls);
int unet_fsic_run_frame(unet_fsic_t *dev, uint32_t max_polls);   /* start + wait */

void unet_fsic_read_counters(const unet_fsic_t *dev, unet_fsic_counters_t *c);
void unet_fsic_clear_counters(const unet_fsic_t *dev);            /* any write clears a counter */
uint32_t unet_fsic_errors(const unet_fsic_t *dev);
void unet_fsic_clear_errors(const unet_fsic_t *dev, uint32_t mask); /* W1C */
/* Frame integrity: CRC-32 (zlib.crc32 of the words as 4 little-endian bytes each) of the last input frame received
 * and the last output frame sent.  Either pointer may be NULL. */
void unet_fsic_read_crcs(const unet_fsic_t *dev, uint32_t *in_crc, uint32_t *out_crc);
/* Input frames dropped by the stall watchdog (ERR.DROP); any write clears the counter. */
uint32_t unet_fsic_drop_frames(const unet_fsic_t *dev);
/* Stall watchdog: cycles ss_tvalid may wait on a full input buffer before the frame is dropped (0 = never). */
void unet_fsic_set_stall_limit(const unet_fsic_t *dev, uint32_t cycles);
/* Pulse CTRL.SOFT_RESET and poll until it reads 0 again. */
int unet_fsic_soft_reset(unet_fsic_t *dev, uint32_t max_polls);

#ifdef __cplusplus
}
#endif
#endif /* UNET_FSIC_H */
