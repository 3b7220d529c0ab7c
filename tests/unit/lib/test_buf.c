/* test_buf: the growable output buffer. Goal: appends keep every byte in order across
 * growth, reset keeps the memory, close frees it and leaves a reusable empty buffer.
 * Method: append patterned chunks of many sizes and compare with a reference. */
#include <criterion/criterion.h>
#include <string.h>

#include "buf.h"

Test(buf, appends_across_growth_keep_every_byte)
{
    struct lg_buf b;
    lg_buf_init(&b);
    cr_assert_null(b.data);
    static uint8_t ref[1u << 20];
    size_t len = 0;
    for (size_t n = 1; len + n <= sizeof ref; n = n * 3 + 1) {
        uint8_t chunk[8192];
        size_t k = n < sizeof chunk ? n : sizeof chunk;
        for (size_t i = 0; i < k; i++) {
            chunk[i] = (uint8_t)(len + i);
        }
        cr_assert(lg_buf_append(&b, chunk, k));
        memcpy(ref + len, chunk, k);
        len += k;
        cr_assert_eq(b.len, len);
        cr_assert_geq(b.cap, b.len);
    }
    cr_assert_eq(memcmp(b.data, ref, len), 0);
    lg_buf_close(&b);
    cr_assert_null(b.data);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(b.cap, 0);
}

Test(buf, reset_keeps_memory_and_empty_append_is_a_no_op)
{
    struct lg_buf b;
    lg_buf_init(&b);
    cr_assert(lg_buf_append(&b, NULL, 0));
    cr_assert_null(b.data);
    cr_assert(lg_buf_append(&b, "abc", 3));
    uint8_t *mem = b.data;
    size_t cap = b.cap;
    lg_buf_reset(&b);
    cr_assert_eq(b.len, 0);
    cr_assert(lg_buf_append(&b, "xy", 2));
    cr_assert_eq(b.data, mem);
    cr_assert_eq(b.cap, cap);
    cr_assert_eq(memcmp(b.data, "xy", 2), 0);
    lg_buf_close(&b);
    cr_assert(lg_buf_append(&b, "z", 1)); /* reusable after close */
    lg_buf_close(&b);
}
