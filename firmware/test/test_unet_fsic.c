/* Native unit tests of the unet-fsic C driver and the example logic against the register model (regmodel.c).
 * Build/run: make -C firmware test.  Prints one line per test and "ALL n TESTS PASSED". */
#include <stdio.h>
#include <stdlib.h>
#include "unet_fsic.h"
#include "unet_fsic_build.h"
#include "unet_app.h"
#include "regmodel.h"

static int n_tests, n_checks;
#define CHECK(c) do { n_checks++; if (!(c)) { \
    fprintf(stderr, "FAIL %s:%d: %s (violations %d: %s)\n", __FILE__, __LINE__, #c, RM.violations, \
            RM.last_violation); exit(1); } } while (0)
#define NO_VIOLATIONS() CHECK(RM.violations == 0)

static const unet_fsic_identity_t expected = UNET_FSIC_IDENTITY_FROM_BUILD;
static unet_fsic_t dev;

static void setup(void)
{
    rm_reset();
    unet_fsic_select_project(UNET_FSIC_PRJ_SEL_ADDR, 0);
    unet_fsic_init(&dev, UNET_FSIC_BASE_CARAVEL);
}

#define TEST(name) static void name(void)
#define RUN(name) do { name(); n_tests++; printf("ok %s\n", #name); } while (0)

TEST(test_select_required)
{
    rm_reset();
    unet_fsic_init(&dev, UNET_FSIC_BASE_CARAVEL);
    (void)unet_fsic_rd(&dev, UNET_FSIC_ID_MAGIC);       /* not selected yet: the model flags it */
    CHECK(RM.violations == 1);
    setup();
    CHECK(RM.prj_sel == 0);
    CHECK(unet_fsic_rd(&dev, UNET_FSIC_ID_MAGIC) == UNET_FSIC_MAGIC);
    NO_VIOLATIONS();
}

TEST(test_identity_ok)
{
    uint32_t diff = 123;
    unet_fsic_identity_t id;
    setup();
    CHECK(unet_fsic_check_identity(&dev, &expected, &diff) == UNET_FSIC_OK);
    CHECK(diff == 0);
    unet_fsic_read_identity(&dev, &id);
    CHECK(id.words_in == UNET_FSIC_BUILD_WORDS_IN && id.words_out == UNET_FSIC_BUILD_WORDS_OUT);
    CHECK(((id.img & UNET_FSIC_ID_IMG_H_MASK) >> UNET_FSIC_ID_IMG_H_LSB) == UNET_FSIC_BUILD_H_PX);
    NO_VIOLATIONS();
}

TEST(test_identity_mismatch)
{
    uint32_t diff = 0;
    setup();
    RM.id_hash ^= 0x1u;
    CHECK(unet_fsic_check_identity(&dev, &expected, &diff) == UNET_FSIC_E_IDENTITY);
    CHECK(diff == UNET_FSIC_IDDIFF_MODEL_HASH);
    RM.id_img += 1u;
    RM.id_magic = 0;
    CHECK(unet_fsic_check_identity(&dev, &expected, &diff) == UNET_FSIC_E_IDENTITY);
    CHECK(diff == (UNET_FSIC_IDDIFF_MODEL_HASH | UNET_FSIC_IDDIFF_IMG | UNET_FSIC_IDDIFF_MAGIC));
    CHECK(unet_fsic_check_identity(&dev, NULL, &diff) == UNET_FSIC_E_ARG);
    NO_VIOLATIONS();
}

TEST(test_start_wait_ok)
{
    unet_fsic_counters_t c;
    setup();
    unet_fsic_clear_counters(&dev);
    RM.accept_after = 3;
    RM.done_after = 20;
    CHECK(unet_fsic_start(&dev) == UNET_FSIC_OK);
    CHECK(RM.starts == 1);
    CHECK(unet_fsic_wait_done(&dev, 1000) == UNET_FSIC_OK);
    CHECK(dev.last_isr == UNET_FSIC_ISR_DONE_MASK && dev.last_err == 0);
    CHECK(dev.last_polls > 1 && dev.last_polls < 1000);
    CHECK(RM.isr == 0);                                  /* done acknowledged (W1C) */
    unet_fsic_read_counters(&dev, &c);
    CHECK(c.frames_done == 1 && c.frames_in == 1);
    CHECK(c.words_in == UNET_FSIC_BUILD_WORDS_IN && c.words_out == UNET_FSIC_BUILD_WORDS_OUT);
    unet_fsic_clear_counters(&dev);
    unet_fsic_read_counters(&dev, &c);
    CHECK(c.frames_done == 0 && c.words_in == 0 && c.words_out == 0 && c.frames_in == 0);
    /* second frame through run_frame */
    CHECK(unet_fsic_run_frame(&dev, 1000) == UNET_FSIC_OK);
    CHECK(RM.starts == 2 && RM.frames_done == 1);
    NO_VIOLATIONS();
}

TEST(test_wait_timeout)
{
    setup();
    RM.done_after = -1;                                  /* the IP never finishes */
    CHECK(unet_fsic_start(&dev) == UNET_FSIC_OK);
    RM.isr_reads = 0;
    CHECK(unet_fsic_wait_done(&dev, 500) == UNET_FSIC_E_TIMEOUT);
    CHECK(RM.isr_reads == 500);                          /* bounded: exactly the poll budget */
    CHECK(dev.last_polls == 500);
    CHECK(unet_fsic_wait_done(&dev, 0) == UNET_FSIC_E_TIMEOUT);
    NO_VIOLATIONS();
}

TEST(test_error_flags)
{
    setup();
    RM.err_on_done = UNET_FSIC_ERR_OVERFLOW_MASK | UNET_FSIC_ERR_SHORT_MASK;
    CHECK(unet_fsic_run_frame(&dev, 1000) == UNET_FSIC_E_FLAGS);
    CHECK(dev.last_err == (UNET_FSIC_ERR_OVERFLOW_MASK | UNET_FSIC_ERR_SHORT_MASK));
    CHECK(dev.last_isr & UNET_FSIC_ISR_ERR_MASK);
    CHECK(RM.isr == 0);                                  /* ISR acknowledged */
    CHECK(unet_fsic_errors(&dev) == dev.last_err);       /* ERR left for inspection */
    unet_fsic_clear_errors(&dev, UNET_FSIC_ERR_SHORT_MASK);
    CHECK(unet_fsic_errors(&dev) == UNET_FSIC_ERR_OVERFLOW_MASK);
    /* a flag that is already set (no new ISR.ERR) still fails the next frame */
    RM.err_on_done = 0;
    CHECK(unet_fsic_run_frame(&dev, 1000) == UNET_FSIC_E_FLAGS);
    CHECK(dev.last_err == UNET_FSIC_ERR_OVERFLOW_MASK && dev.last_isr == UNET_FSIC_ISR_DONE_MASK);
    unet_fsic_clear_errors(&dev, dev.last_err);
    CHECK(unet_fsic_run_frame(&dev, 1000) == UNET_FSIC_OK);
    NO_VIOLATIONS();
}

TEST(test_stale_done_ignored)
{
    setup();
    RM.isr = UNET_FSIC_ISR_DONE_MASK;                    /* left over from an earlier frame */
    RM.done_after = -1;
    CHECK(unet_fsic_start(&dev) == UNET_FSIC_OK);
    CHECK(unet_fsic_wait_done(&dev, 50) == UNET_FSIC_E_TIMEOUT);
    NO_VIOLATIONS();
}

TEST(test_busy)
{
    setup();
    RM.accept_after = -1;                                /* IP never takes the start */
    CHECK(unet_fsic_start(&dev) == UNET_FSIC_OK);
    CHECK(unet_fsic_start(&dev) == UNET_FSIC_E_BUSY);    /* no second AP_START while pending */
    CHECK(RM.starts == 1);
    CHECK(unet_fsic_start(NULL) == UNET_FSIC_E_ARG);
    NO_VIOLATIONS();
}

TEST(test_auto_restart_kept)
{
    setup();
    unet_fsic_set_auto_restart(&dev, 1);
    CHECK(RM.auto_restart == 1);
    CHECK(unet_fsic_run_frame(&dev, 1000) == UNET_FSIC_OK);
    CHECK(RM.auto_restart == 1);                         /* the start write did not clear the RW bit */
    CHECK(unet_fsic_soft_reset(&dev, 100) == UNET_FSIC_OK);
    CHECK(RM.auto_restart == 1);
    unet_fsic_set_auto_restart(&dev, 0);
    CHECK(RM.auto_restart == 0);
    NO_VIOLATIONS();
}

TEST(test_soft_reset)
{
    setup();
    RM.reset_len = 4;
    CHECK(unet_fsic_soft_reset(&dev, 100) == UNET_FSIC_OK);
    CHECK(dev.last_polls >= 1 && dev.last_polls <= 4);
    RM.reset_len = -1;                                   /* stuck in reset */
    RM.soft_reset_left = 0;
    CHECK(unet_fsic_soft_reset(&dev, 64) == UNET_FSIC_E_TIMEOUT);
    CHECK(dev.last_polls == 64);
    NO_VIOLATIONS();
}

TEST(test_irq_enable)
{
    setup();
    unet_fsic_irq_enable(&dev, UNET_FSIC_IER_DONE_LOW_MASK | UNET_FSIC_IER_ERR_LOW_MASK);
    CHECK(RM.ier == (UNET_FSIC_IER_DONE_LOW_MASK | UNET_FSIC_IER_ERR_LOW_MASK));
    CHECK(unet_fsic_rd(&dev, UNET_FSIC_IER) == RM.ier);
    NO_VIOLATIONS();
}

TEST(test_irq_enable_has_no_high_priority_bits)
{
    /* v2: High_pri_req is no interrupt; a write of v1's DONE_HIGH/ERR_HIGH bits (8, 9) is a violation of the map */
    setup();
    unet_fsic_irq_enable(&dev, 1u << 8);
    CHECK(RM.violations == 1 && RM.ier == 0);
}

TEST(test_crc_drop_stall)
{
    uint32_t in = 0, out = 0;
    setup();
    RM.in_crc = 0x12345678u;
    RM.out_crc = 0x9ABCDEF0u;
    unet_fsic_read_crcs(&dev, &in, &out);
    CHECK(in == 0x12345678u && out == 0x9ABCDEF0u);
    unet_fsic_read_crcs(&dev, 0, &out);                  /* either pointer may be NULL */
    RM.drop_frames = 3;
    CHECK(unet_fsic_drop_frames(&dev) == 3);
    CHECK(RM.stall_limit == 4096u);
    unet_fsic_set_stall_limit(&dev, 0x12345u);           /* 16-bit field */
    CHECK(RM.stall_limit == 0x2345u && unet_fsic_rd(&dev, UNET_FSIC_STALL_LIMIT) == 0x2345u);
    NO_VIOLATIONS();
}

TEST(test_app_pass_and_report)
{
    uf_app_result_t r;
    rm_reset();
    RM.done_after = 30;
    CHECK(uf_app_run(UNET_FSIC_PRJ_SEL_ADDR, UNET_FSIC_BASE_CARAVEL, &expected, 1000, &r) == UF_STATUS_PASS);
    CHECK(RM.prj_sel == 0 && RM.starts == 1);
    CHECK(RM.ier == (UNET_FSIC_IER_DONE_LOW_MASK | UNET_FSIC_IER_ERR_LOW_MASK));
    CHECK(r.cnt.frames_done == 1 && r.cnt.words_out == UNET_FSIC_BUILD_WORDS_OUT && r.err == 0);
    uf_app_report(RM_MAILBOX, RM_GPIO, &r);
    CHECK(RM.gpio == UF_STATUS_PASS && RM.mailbox[0] == UF_STATUS_PASS);
    CHECK(RM.mailbox[2] == 1 && RM.mailbox[3] == UNET_FSIC_BUILD_WORDS_IN && RM.mailbox[4] == UNET_FSIC_BUILD_WORDS_OUT);
    CHECK(RM.mailbox[6] == r.polls && r.polls > 0);
    NO_VIOLATIONS();
}

TEST(test_app_failures)
{
    uf_app_result_t r;
    rm_reset();
    RM.id_hash ^= 0xFFu;
    CHECK(uf_app_run(UNET_FSIC_PRJ_SEL_ADDR, UNET_FSIC_BASE_CARAVEL, &expected, 1000, &r)
          == (UF_STATUS_FAIL | (UF_STEP_IDENTITY << 8) | 3u));
    CHECK(r.detail == UNET_FSIC_IDDIFF_MODEL_HASH && RM.starts == 0);   /* refused before starting */
    rm_reset();
    RM.done_after = -1;
    CHECK(uf_app_run(UNET_FSIC_PRJ_SEL_ADDR, UNET_FSIC_BASE_CARAVEL, &expected, 200, &r)
          == (UF_STATUS_FAIL | (UF_STEP_WAIT << 8) | 1u));
    rm_reset();
    RM.err_on_done = UNET_FSIC_ERR_LONG_MASK;
    CHECK(uf_app_run(UNET_FSIC_PRJ_SEL_ADDR, UNET_FSIC_BASE_CARAVEL, &expected, 200, &r)
          == (UF_STATUS_FAIL | (UF_STEP_WAIT << 8) | 2u));
    CHECK(r.detail == UNET_FSIC_ERR_LONG_MASK && r.err == UNET_FSIC_ERR_LONG_MASK);
    rm_reset();
    RM.id_words_out += 1;                    /* identity and counters disagree with the build -> caught */
    CHECK(uf_app_run(UNET_FSIC_PRJ_SEL_ADDR, UNET_FSIC_BASE_CARAVEL, &expected, 200, &r)
          == (UF_STATUS_FAIL | (UF_STEP_IDENTITY << 8) | 3u));
    CHECK(r.detail == UNET_FSIC_IDDIFF_WORDS_OUT);
    NO_VIOLATIONS();
}

int main(void)
{
    RUN(test_select_required);
    RUN(test_identity_ok);
    RUN(test_identity_mismatch);
    RUN(test_start_wait_ok);
    RUN(test_wait_timeout);
    RUN(test_error_flags);
    RUN(test_stale_done_ignored);
    RUN(test_busy);
    RUN(test_auto_restart_kept);
    RUN(test_soft_reset);
    RUN(test_irq_enable);
    RUN(test_irq_enable_has_no_high_priority_bits);
    RUN(test_crc_drop_stall);
    RUN(test_app_pass_and_report);
    RUN(test_app_failures);
    printf("ALL %d TESTS PASSED (%d checks)\n", n_tests, n_checks);
    return 0;
}
