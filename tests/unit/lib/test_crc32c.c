/* test_crc32c: CRC-32C is right on both paths (SSE4.2 and slicing-by-8).
 *
 * Method: published vectors (the "123456789" check value and the iSCSI vectors of
 * RFC 3720 B.4) through lg_crc32c, lg_crc32c_sw and, when the CPU has it, lg_crc32c_hw;
 * then random buffers at every alignment and length up to 300 bytes, and chained calls,
 * comparing the two implementations. */
#include <criterion/criterion.h>
#include <string.h>

#include "crc32c.h"
#include "lgt.h"

static void check_vector(const void *data, size_t len, uint32_t want)
{
    cr_assert_eq(lg_crc32c(0, data, len), want, "lg_crc32c len %zu", len);
    cr_assert_eq(lg_crc32c_sw(0, data, len), want, "sw len %zu", len);
    if (lg_crc32c_hw_available()) {
        cr_assert_eq(lg_crc32c_hw(0, data, len), want, "hw len %zu", len);
    }
}

Test(crc32c, known_vectors)
{
    check_vector("123456789", 9, 0xE3069283u);
    check_vector(NULL, 0, 0u);
    uint8_t buf[32];
    memset(buf, 0, sizeof buf);
    check_vector(buf, sizeof buf, 0x8A9136AAu);
    memset(buf, 0xFF, sizeof buf);
    check_vector(buf, sizeof buf, 0x62A8AB43u);
    for (int i = 0; i < 32; i++) {
        buf[i] = (uint8_t)i;
    }
    check_vector(buf, sizeof buf, 0x46DD794Eu);
    for (int i = 0; i < 32; i++) {
        buf[i] = (uint8_t)(31 - i);
    }
    check_vector(buf, sizeof buf, 0x113FDB5Cu);
}

Test(crc32c, machine_has_sse42)
{
    /* The deployment machines have SSE4.2; if this fails the fast path is not tested. */
    cr_assert(lg_crc32c_hw_available());
}

Test(crc32c, hw_and_sw_agree_at_every_alignment_and_length)
{
    cr_assert(lg_crc32c_hw_available());
    struct lgt_rng r;
    lgt_rng_init(&r, lgt_seed());
    uint8_t buf[512];
    for (size_t i = 0; i < sizeof buf; i++) {
        buf[i] = (uint8_t)lgt_rng_next(&r);
    }
    for (size_t align = 0; align < 16; align++) {
        for (size_t len = 0; len <= 300; len++) {
            uint32_t seed = (uint32_t)lgt_rng_next(&r);
            cr_assert_eq(lg_crc32c_hw(seed, buf + align, len), lg_crc32c_sw(seed, buf + align, len),
                         "align %zu len %zu", align, len);
        }
    }
}

Test(crc32c, chaining_equals_one_pass)
{
    struct lgt_rng r;
    lgt_rng_init(&r, lgt_seed());
    uint8_t buf[4096];
    for (size_t i = 0; i < sizeof buf; i++) {
        buf[i] = (uint8_t)lgt_rng_next(&r);
    }
    uint32_t whole = lg_crc32c(0, buf, sizeof buf);
    cr_assert_eq(lg_crc32c_sw(0, buf, sizeof buf), whole);
    for (int k = 0; k < 200; k++) {
        size_t cut = (size_t)lgt_rng_below(&r, sizeof buf + 1);
        cr_assert_eq(lg_crc32c(lg_crc32c(0, buf, cut), buf + cut, sizeof buf - cut), whole);
        cr_assert_eq(lg_crc32c_sw(lg_crc32c_sw(0, buf, cut), buf + cut, sizeof buf - cut),
                     whole);
    }
}
