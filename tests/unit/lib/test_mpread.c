/* test_mpread: the bounded msgpack reader (lib/mpread.c) shared by both codecs.
 *
 * Goal: SHORTEST accepts exactly the forms msgpack-c's packer writes and calls every
 * longer form NONCANONICAL; ANY accepts every form of the type; truncated input is
 * TRUNCATED at every cut, never read past; a type mismatch leaves the position alone;
 * both skips step over every msgpack type (checked against what msgpack-c packs), the
 * stacked one refuses nesting beyond its depth, the stackless one walks any depth.
 * Method: hand-written byte strings for each form and boundary, and values packed by
 * msgpack-c then skipped and read back. */
#include <criterion/criterion.h>
#include <msgpack.h>
#include <string.h>

#include "mpread.h"

#define B(...) ((const uint8_t[]){__VA_ARGS__})
#define RD(bytes, n) rd_over((bytes), (n))

/* A reader over n bytes at p (a function: p is evaluated once). */
static struct lg_mpread rd_over(const uint8_t *p, size_t n)
{
    return (struct lg_mpread){p, p + n};
}

static int uint_of(const uint8_t *b, size_t n, enum lg_mpread_form form, uint64_t *v)
{
    struct lg_mpread r = RD(b, n);
    int st = lg_mpread_uint(&r, form, v);
    if (st == LG_MPREAD_OK) {
        cr_assert_eq(r.p, r.end, "uint consumed all of its bytes");
    }
    return st;
}

Test(mpread, uint_forms)
{
    uint64_t v = 0;
    cr_assert_eq(uint_of(B(0x05), 1, LG_MPREAD_SHORTEST, &v), LG_MPREAD_OK);
    cr_assert_eq(v, 5u);
    cr_assert_eq(uint_of(B(0xcc, 0x80), 2, LG_MPREAD_SHORTEST, &v), LG_MPREAD_OK);
    cr_assert_eq(v, 0x80u);
    cr_assert_eq(uint_of(B(0xcc, 0x7f), 2, LG_MPREAD_SHORTEST, &v), LG_MPREAD_NONCANONICAL);
    cr_assert_eq(uint_of(B(0xcc, 0x7f), 2, LG_MPREAD_ANY, &v), LG_MPREAD_OK);
    cr_assert_eq(v, 0x7fu);
    cr_assert_eq(uint_of(B(0xcd, 0x00, 0xff), 3, LG_MPREAD_SHORTEST, &v),
                 LG_MPREAD_NONCANONICAL);
    cr_assert_eq(uint_of(B(0xce, 0x00, 0x00, 0xff, 0xff), 5, LG_MPREAD_SHORTEST, &v),
                 LG_MPREAD_NONCANONICAL);
    cr_assert_eq(uint_of(B(0xce, 0x00, 0x01, 0x00, 0x00), 5, LG_MPREAD_SHORTEST, &v),
                 LG_MPREAD_OK);
    cr_assert_eq(v, 0x10000u);
    const uint8_t max[] = {0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    cr_assert_eq(uint_of(max, sizeof max, LG_MPREAD_SHORTEST, &v), LG_MPREAD_OK);
    cr_assert_eq(v, UINT64_MAX);
    const uint8_t small64[] = {0xcf, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff};
    cr_assert_eq(uint_of(small64, sizeof small64, LG_MPREAD_SHORTEST, &v),
                 LG_MPREAD_NONCANONICAL);
    /* Signed forms: TYPE when canonical, fine when non-negative in ANY. */
    cr_assert_eq(uint_of(B(0xd0, 0x05), 2, LG_MPREAD_SHORTEST, &v), LG_MPREAD_TYPE);
    cr_assert_eq(uint_of(B(0xd0, 0x05), 2, LG_MPREAD_ANY, &v), LG_MPREAD_OK);
    cr_assert_eq(v, 5u);
    cr_assert_eq(uint_of(B(0xd0, 0xfb), 2, LG_MPREAD_ANY, &v), LG_MPREAD_NEGATIVE);
    cr_assert_eq(uint_of(B(0xff), 1, LG_MPREAD_SHORTEST, &v), LG_MPREAD_TYPE);
    cr_assert_eq(uint_of(B(0xff), 1, LG_MPREAD_ANY, &v), LG_MPREAD_NEGATIVE);
    cr_assert_eq(uint_of(B(0xa1, 'x'), 2, LG_MPREAD_ANY, &v), LG_MPREAD_TYPE);
    cr_assert_eq(uint_of(B(0), 0, LG_MPREAD_ANY, &v), LG_MPREAD_TRUNCATED);
    cr_assert_eq(uint_of(B(0xcd, 0x01), 2, LG_MPREAD_SHORTEST, &v), LG_MPREAD_TRUNCATED);
    cr_assert_eq(uint_of(B(0xcd, 0x01), 2, LG_MPREAD_ANY, &v), LG_MPREAD_TRUNCATED);
}

Test(mpread, integers_sign_extend)
{
    bool neg;
    uint64_t v;
    struct lg_mpread r = RD(B(0xd1, 0xff, 0x38), 3);
    cr_assert_eq(lg_mpread_integer(&r, &neg, &v), LG_MPREAD_OK);
    cr_assert(neg);
    cr_assert_eq((int64_t)v, -200);
    r = RD(B(0xe0), 1);
    cr_assert_eq(lg_mpread_integer(&r, &neg, &v), LG_MPREAD_OK);
    cr_assert(neg);
    cr_assert_eq((int64_t)v, -32);
    r = RD(B(0xd2, 0x00, 0x00, 0x01, 0x00), 5);
    cr_assert_eq(lg_mpread_integer(&r, &neg, &v), LG_MPREAD_OK);
    cr_assert(!neg);
    cr_assert_eq(v, 256u);
}

Test(mpread, strings)
{
    const char *p = NULL;
    uint32_t n = 0;
    struct lg_mpread r = RD(B(0xa3, 'a', 'b', 'c'), 4);
    cr_assert_eq(lg_mpread_str(&r, LG_MPREAD_SHORTEST, &p, &n), LG_MPREAD_OK);
    cr_assert_eq(n, 3u);
    cr_assert(memcmp(p, "abc", 3) == 0);
    cr_assert_eq(r.p, r.end);
    /* str8 holding 3 bytes: a fixstr would do. */
    const uint8_t s8[] = {0xd9, 0x03, 'a', 'b', 'c'};
    r = RD(s8, sizeof s8);
    cr_assert_eq(lg_mpread_str(&r, LG_MPREAD_SHORTEST, &p, &n), LG_MPREAD_NONCANONICAL);
    cr_assert_eq(r.p, s8, "position unchanged on failure");
    cr_assert_eq(lg_mpread_str(&r, LG_MPREAD_ANY, &p, &n), LG_MPREAD_OK);
    cr_assert_eq(n, 3u);
    /* str16 holding 200 bytes: str8 would do. */
    uint8_t s16[3 + 200];
    s16[0] = 0xda, s16[1] = 0x00, s16[2] = 200;
    memset(s16 + 3, 'x', 200);
    r = RD(s16, sizeof s16);
    cr_assert_eq(lg_mpread_str(&r, LG_MPREAD_SHORTEST, &p, &n), LG_MPREAD_NONCANONICAL);
    cr_assert_eq(lg_mpread_str(&r, LG_MPREAD_ANY, &p, &n), LG_MPREAD_OK);
    cr_assert_eq(n, 200u);
    /* Every cut of a valid string is TRUNCATED and leaves the position. */
    for (size_t cut = 0; cut < sizeof s8; cut++) {
        r = RD(s8, cut);
        cr_assert_eq(lg_mpread_str(&r, LG_MPREAD_ANY, &p, &n), LG_MPREAD_TRUNCATED);
        cr_assert_eq(r.p, s8);
    }
    r = RD(B(0xc4, 0x00), 2);
    cr_assert_eq(lg_mpread_str(&r, LG_MPREAD_ANY, &p, &n), LG_MPREAD_TYPE);
}

Test(mpread, bins)
{
    const uint8_t *p = NULL;
    uint32_t n = 7;
    struct lg_mpread r = RD(B(0xc4, 0x00), 2);
    cr_assert_eq(lg_mpread_bin(&r, LG_MPREAD_SHORTEST, &p, &n), LG_MPREAD_OK);
    cr_assert_eq(n, 0u);
    const uint8_t b16[] = {0xc5, 0x00, 0x02, 1, 2};
    r = RD(b16, sizeof b16);
    cr_assert_eq(lg_mpread_bin(&r, LG_MPREAD_SHORTEST, &p, &n), LG_MPREAD_NONCANONICAL);
    cr_assert_eq(lg_mpread_bin(&r, LG_MPREAD_ANY, &p, &n), LG_MPREAD_OK);
    cr_assert_eq(n, 2u);
    cr_assert_eq(p[1], 2);
    r = RD(B(0xa1, 'x'), 2);
    cr_assert_eq(lg_mpread_bin(&r, LG_MPREAD_ANY, &p, &n), LG_MPREAD_TYPE);
}

Test(mpread, containers)
{
    uint32_t n = 0;
    struct lg_mpread r = RD(B(0x9f), 1);
    cr_assert_eq(lg_mpread_array(&r, LG_MPREAD_SHORTEST, &n), LG_MPREAD_OK);
    cr_assert_eq(n, 15u);
    r = RD(B(0xdc, 0x00, 0x0f), 3);
    cr_assert_eq(lg_mpread_array(&r, LG_MPREAD_SHORTEST, &n), LG_MPREAD_NONCANONICAL);
    cr_assert_eq(lg_mpread_array(&r, LG_MPREAD_ANY, &n), LG_MPREAD_OK);
    cr_assert_eq(n, 15u);
    r = RD(B(0xdc, 0x00, 0x10), 3);
    cr_assert_eq(lg_mpread_array(&r, LG_MPREAD_SHORTEST, &n), LG_MPREAD_OK);
    cr_assert_eq(n, 16u);
    r = RD(B(0xdf, 0x00, 0x00, 0xff, 0xff), 5);
    cr_assert_eq(lg_mpread_map(&r, LG_MPREAD_SHORTEST, &n), LG_MPREAD_NONCANONICAL);
    cr_assert_eq(lg_mpread_map(&r, LG_MPREAD_ANY, &n), LG_MPREAD_OK);
    cr_assert_eq(n, 0xffffu);
    r = RD(B(0x81), 1);
    cr_assert_eq(lg_mpread_array(&r, LG_MPREAD_ANY, &n), LG_MPREAD_TYPE);
    cr_assert_eq(lg_mpread_map(&r, LG_MPREAD_ANY, &n), LG_MPREAD_OK);
    cr_assert_eq(n, 1u);
    r = RD(B(0xde, 0x00), 2);
    cr_assert_eq(lg_mpread_map(&r, LG_MPREAD_ANY, &n), LG_MPREAD_TRUNCATED);
}

Test(mpread, heads)
{
    uint64_t items;
    uint64_t body;
    struct lg_mpread r = RD(B(0x82), 1);
    cr_assert_eq(lg_mpread_head(&r, &items, &body), LG_MPREAD_OK);
    cr_assert_eq(items, 4u);
    cr_assert_eq(body, 0u);
    r = RD(B(0xc7, 0x03, 0x01), 3); /* ext 8: 3 bytes + type */
    cr_assert_eq(lg_mpread_head(&r, &items, &body), LG_MPREAD_OK);
    cr_assert_eq(body, 4u);
    cr_assert_eq(lg_mpread_left(&r), 1u);
    r = RD(B(0xd8), 1); /* fixext 16 */
    cr_assert_eq(lg_mpread_head(&r, &items, &body), LG_MPREAD_OK);
    cr_assert_eq(body, 17u);
    r = RD(B(0xcb), 1); /* float 64 */
    cr_assert_eq(lg_mpread_head(&r, &items, &body), LG_MPREAD_OK);
    cr_assert_eq(body, 8u);
    r = RD(B(0xc1), 1);
    cr_assert_eq(lg_mpread_head(&r, &items, &body), LG_MPREAD_BADBYTE);
}

/* Pack one of everything msgpack-c writes into sb. */
static void pack_everything(msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_map(&pk, 20);
    for (int i = 0; i < 20; i++) {
        msgpack_pack_int(&pk, -i * 1000);
        switch (i % 10) {
        case 0: msgpack_pack_nil(&pk); break;
        case 1: msgpack_pack_true(&pk); break;
        case 2: msgpack_pack_double(&pk, 1.5); break;
        case 3: msgpack_pack_float(&pk, 2.5f); break;
        case 4: msgpack_pack_uint64(&pk, UINT64_MAX); break;
        case 5: msgpack_pack_int64(&pk, INT64_MIN); break;
        case 6: msgpack_pack_str_with_body(&pk, "hello", 5); break;
        case 7: msgpack_pack_bin_with_body(&pk, "\x00\x01", 2); break;
        case 8: msgpack_pack_ext_with_body(&pk, "abcd", 4, 7); break;
        default: msgpack_pack_ext_with_body(&pk, "abcdefghijklmnopq", 17, 1); break;
        }
    }
    char big[70000];
    memset(big, 'b', sizeof big);
    msgpack_pack_str_with_body(&pk, big, sizeof big);
    msgpack_pack_array(&pk, 300);
    for (int i = 0; i < 300; i++) {
        msgpack_pack_array(&pk, 1);
        msgpack_pack_uint16(&pk, (uint16_t)(i * 300));
    }
}

Test(mpread, skips_what_msgpack_c_packs)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    pack_everything(&sb);
    const uint8_t *bytes = (const uint8_t *)sb.data;
    struct lg_mpread r = RD(bytes, sb.size);
    cr_assert_eq(lg_mpread_skip(&r, 3), LG_MPREAD_OK);
    cr_assert_eq(r.p, r.end);
    r = RD(bytes, sb.size);
    cr_assert_eq(lg_mpread_skip_any(&r), LG_MPREAD_OK);
    cr_assert_eq(r.p, r.end);
    r = RD(bytes, sb.size);
    cr_assert_eq(lg_mpread_skip(&r, 1), LG_MPREAD_DEEP);
    /* Every cut: never OK, never past the end. */
    for (size_t cut = 0; cut < sb.size; cut += 1 + cut / 64) {
        r = RD(bytes, cut);
        cr_assert_neq(lg_mpread_skip(&r, 3), LG_MPREAD_OK, "cut at %zu", cut);
        cr_assert(r.p <= r.end);
        r = RD(bytes, cut);
        cr_assert_neq(lg_mpread_skip_any(&r), LG_MPREAD_OK, "cut at %zu", cut);
        cr_assert(r.p <= r.end);
    }
    msgpack_sbuffer_destroy(&sb);
}

Test(mpread, skip_depth)
{
    uint8_t deep[64];
    memset(deep, 0x91, sizeof deep); /* [[[[...]]]] */
    deep[sizeof deep - 1] = 0x00;
    struct lg_mpread r = RD(deep, sizeof deep);
    cr_assert_eq(lg_mpread_skip(&r, LG_MPREAD_DEPTH_MAX), LG_MPREAD_DEEP);
    r = RD(deep, sizeof deep);
    cr_assert_eq(lg_mpread_skip_any(&r), LG_MPREAD_OK);
    cr_assert_eq(r.p, r.end);
    r = RD(deep + sizeof deep - 3, 3); /* [[0]] */
    cr_assert_eq(lg_mpread_skip(&r, 2), LG_MPREAD_OK);
    r = RD(deep + sizeof deep - 3, 3);
    cr_assert_eq(lg_mpread_skip(&r, 1), LG_MPREAD_DEEP);
    r = RD(B(0x05), 1);
    cr_assert_eq(lg_mpread_skip(&r, 0), LG_MPREAD_OK, "scalars pass depth 0");
    r = RD(B(0x90), 1);
    cr_assert_eq(lg_mpread_skip(&r, 0), LG_MPREAD_OK, "an empty array has no items");
    r = RD(B(0x92, 0x01, 0xc1), 3);
    cr_assert_eq(lg_mpread_skip(&r, 2), LG_MPREAD_BADBYTE);
    r = RD(B(0x92, 0x01, 0xc1), 3);
    cr_assert_eq(lg_mpread_skip_any(&r), LG_MPREAD_BADBYTE);
    /* An array claiming more items than bytes left. */
    r = RD(B(0xdd, 0xff, 0xff, 0xff, 0xff, 0x00), 6);
    cr_assert_eq(lg_mpread_skip(&r, 2), LG_MPREAD_TRUNCATED);
    r = RD(B(0xdd, 0xff, 0xff, 0xff, 0xff, 0x00), 6);
    cr_assert_eq(lg_mpread_skip_any(&r), LG_MPREAD_TRUNCATED);
}
