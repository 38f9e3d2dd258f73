/* regmodel.h -- behavioural model of the unet-fsic USER_PRJ0 registers (+ FSIC project select, mailbox and
 * Caravel GPIO) behind the driver's host MMIO hook.  It enforces the access protocol: any access before project 0
 * is selected, outside the mapped addresses, unaligned, a write to a read-only/unmapped register, reserved bits
 * in W1C writes, or a second AP_START while one is pending counts as a violation.
 * Time is counted in MMIO accesses: a started frame is accepted `accept_after` accesses after the start and
 * completes `done_after` accesses after acceptance (-1 = never). */
#ifndef REGMODEL_H
#define REGMODEL_H
#include <stdint.h>

typedef struct {
    /* identity (register values) */
    uint32_t id_magic, id_version, id_img, id_ch, id_bits, id_hash, id_words_in, id_words_out, id_hls, out_mode;
    /* state */
    uint32_t prj_sel;          /* 0xFFFFFFFF until written */
    uint32_t auto_restart, start_pending, ap_done, running, soft_reset_left;
    uint32_t ier, isr, err, frames_done, words_in, words_out, frames_in;
    uint32_t in_crc, out_crc, drop_frames, stall_limit;
    /* script */
    int accept_after, done_after, reset_len; /* -1 = never */
    uint32_t err_on_done;
    /* bookkeeping */
    long tick, t_start, t_accept;
    uint32_t starts, isr_reads, ctrl_reads, accesses;
    uint32_t mailbox[8], gpio;
    int violations;
    char last_violation[160];
} regmodel_t;

extern regmodel_t RM;
#define RM_MAILBOX 0x30002000u
#define RM_GPIO    0x2600000Cu

/* Reset the model to power-on state with the identity of the build header the test was compiled with. */
void rm_reset(void);
#endif
