/* test_frame: the client protocol's frame codec (lib/frame.c, DESIGN §8).
 *
 * Goal: the incremental decoder yields exactly the frames that were sent, whatever the
 * chunking (every split point of a pipelined stream, one byte at a time, many frames in
 * one chunk); an empty frame is bad_request and an oversized length too_large, both
 * before any allocation and sticky; 16 MiB exactly is accepted.
 * Method: encode frames with lg_frame_encode, feed them back in every chunking, compare. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "frame.h"

/* Frames seen by feed_all, concatenated with their lengths. */
struct seen {
    uint8_t bytes[4096];
    size_t len;
    unsigned frames;
};

/* Feed data[0..len) to d, collecting frames into s. Returns the feed's last code. */
static int feed_all(struct lg_frame_decoder *d, const uint8_t *data, size_t len,
                    struct seen *s)
{
    size_t off = 0;
    for (;;) {
        size_t used = 0;
        const uint8_t *f = NULL;
        uint32_t flen = 0;
        int rc = lg_frame_decoder_feed(d, data + off, len - off, &used, &f, &flen);
        off += used;
        if (rc != LG_OK) {
            return rc;
        }
        if (f == NULL) {
            cr_assert_eq(off, len, "no frame means all input consumed");
            return LG_OK;
        }
        cr_assert(s->len + flen + 1 <= sizeof s->bytes);
        s->bytes[s->len++] = (uint8_t)flen;
        memcpy(s->bytes + s->len, f, flen);
        s->len += flen;
        s->frames++;
    }
}

/* Three frames of lengths 1, 5 and 200 in one stream. */
static size_t make_stream(uint8_t *out, size_t cap, struct seen *want)
{
    static const uint32_t lens[] = {1, 5, 200};
    size_t len = 0;
    memset(want, 0, sizeof *want);
    for (unsigned i = 0; i < 3; i++) {
        uint8_t body[256];
        for (uint32_t k = 0; k < lens[i]; k++) {
            body[k] = (uint8_t)(0x80u + i + k);
        }
        size_t w = 0;
        cr_assert_eq(lg_frame_encode(body, lens[i], out + len, cap - len, &w), LG_OK);
        cr_assert_eq(w, lens[i] + 4u);
        len += w;
        want->bytes[want->len++] = (uint8_t)lens[i];
        memcpy(want->bytes + want->len, body, lens[i]);
        want->len += lens[i];
        want->frames++;
    }
    return len;
}

Test(frame, whole_frame_in_one_chunk_is_a_view)
{
    uint8_t buf[16];
    size_t w = 0;
    cr_assert_eq(lg_frame_encode("\x80", 1, buf, sizeof buf, &w), LG_OK);
    cr_assert_eq(w, 5u);
    cr_assert_eq(memcmp(buf, "\x00\x00\x00\x01\x80", 5), 0);
    struct lg_frame_decoder d;
    lg_frame_decoder_init(&d, 0);
    size_t used = 0;
    const uint8_t *f = NULL;
    uint32_t flen = 0;
    cr_assert_eq(lg_frame_decoder_feed(&d, buf, w, &used, &f, &flen), LG_OK);
    cr_assert_eq(f, buf + 4, "zero copy");
    cr_assert_eq(flen, 1u);
    cr_assert_eq(used, 5u);
    cr_assert(lg_frame_decoder_idle(&d));
    cr_assert_null(d.body, "nothing allocated");
    lg_frame_decoder_close(&d);
}

Test(frame, pipelined_frames_split_at_every_byte_boundary)
{
    uint8_t stream[512];
    struct seen want;
    size_t n = make_stream(stream, sizeof stream, &want);
    for (size_t a = 0; a <= n; a++) {
        for (size_t b = a; b <= n; b += (b < a + 8 || b + 8 > n) ? 1 : 7) {
            struct lg_frame_decoder d;
            struct seen got = {.len = 0};
            lg_frame_decoder_init(&d, 0);
            cr_assert_eq(feed_all(&d, stream, a, &got), LG_OK);
            cr_assert_eq(feed_all(&d, stream + a, b - a, &got), LG_OK);
            cr_assert_eq(feed_all(&d, stream + b, n - b, &got), LG_OK);
            cr_assert_eq(got.frames, 3u, "split at %zu and %zu", a, b);
            cr_assert_eq(got.len, want.len);
            cr_assert_eq(memcmp(got.bytes, want.bytes, want.len), 0);
            cr_assert(lg_frame_decoder_idle(&d));
            lg_frame_decoder_close(&d);
        }
    }
}

Test(frame, one_byte_at_a_time)
{
    uint8_t stream[512];
    struct seen want;
    size_t n = make_stream(stream, sizeof stream, &want);
    struct lg_frame_decoder d;
    struct seen got = {.len = 0};
    lg_frame_decoder_init(&d, 0);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(feed_all(&d, stream + i, 1, &got), LG_OK);
        cr_assert_eq(lg_frame_decoder_idle(&d), i + 1 == 5 || i + 1 == 14 || i + 1 == n);
    }
    cr_assert_eq(got.frames, 3u);
    cr_assert_eq(memcmp(got.bytes, want.bytes, want.len), 0);
    cr_assert_eq(feed_all(&d, NULL, 0, &got), LG_OK, "an empty chunk is fine");
    lg_frame_decoder_close(&d);
}

Test(frame, empty_frame_is_bad_request_and_sticky)
{
    static const uint8_t bytes[] = {0, 0, 0, 1, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 0x80};
    struct lg_frame_decoder d;
    struct seen got = {.len = 0};
    lg_frame_decoder_init(&d, 0);
    cr_assert_eq(feed_all(&d, bytes, sizeof bytes, &got), LG_EBADREQ);
    cr_assert_eq(got.frames, 1u, "the frame before is delivered");
    cr_assert(strstr(d.errmsg, "empty frame") != NULL, "%s", d.errmsg);
    size_t used = 99;
    const uint8_t *f = NULL;
    uint32_t flen = 0;
    cr_assert_eq(lg_frame_decoder_feed(&d, bytes, 5, &used, &f, &flen), LG_EBADREQ);
    cr_assert_eq(used, 0u);
    cr_assert_null(f);
    lg_frame_decoder_close(&d);
}

Test(frame, sixteen_mib_plus_one_rejected_before_allocation)
{
    uint8_t hdr[4];
    lg_frame_header_put(LG_FRAME_BYTES_MAX + 1u, hdr);
    struct lg_frame_decoder d;
    lg_frame_decoder_init(&d, 0);
    size_t used = 0;
    const uint8_t *f = NULL;
    uint32_t flen = 0;
    cr_assert_eq(lg_frame_decoder_feed(&d, hdr, 3, &used, &f, &flen), LG_OK);
    cr_assert_eq(lg_frame_decoder_feed(&d, hdr + 3, 1, &used, &f, &flen), LG_ETOOLARGE);
    cr_assert_null(d.body, "nothing allocated");
    cr_assert_eq(d.body_cap, 0u);
    cr_assert(strstr(d.errmsg, "16777217") != NULL, "%s", d.errmsg);
    lg_frame_decoder_close(&d);
    /* The largest possible length too. */
    lg_frame_decoder_init(&d, 0);
    cr_assert_eq(lg_frame_decoder_feed(&d, "\xff\xff\xff\xff", 4, &used, &f, &flen),
                 LG_ETOOLARGE);
    cr_assert_null(d.body);
    lg_frame_decoder_close(&d);
}

Test(frame, sixteen_mib_exactly_accepted_split)
{
    size_t n = LG_FRAME_BYTES_MAX;
    uint8_t *stream = malloc(n + 4u);
    cr_assert_not_null(stream);
    memset(stream + 4, 0xa5, n);
    lg_frame_header_put((uint32_t)n, stream);
    struct lg_frame_decoder d;
    lg_frame_decoder_init(&d, 0);
    size_t off = 0;
    size_t chunk = 65536 + 3;
    const uint8_t *f = NULL;
    uint32_t flen = 0;
    while (off < n + 4u && f == NULL) {
        size_t len = n + 4u - off < chunk ? n + 4u - off : chunk;
        size_t used = 0;
        cr_assert_eq(lg_frame_decoder_feed(&d, stream + off, len, &used, &f, &flen), LG_OK);
        off += used;
        if (d.body_len != 0) {
            cr_assert_leq(d.body_cap, LG_FRAME_BYTES_MAX, "never more than declared");
        }
    }
    cr_assert_not_null(f);
    cr_assert_eq(flen, LG_FRAME_BYTES_MAX);
    cr_assert_eq(off, n + 4u);
    cr_assert_eq(f[0], 0xa5);
    cr_assert_eq(f[n - 1], 0xa5);
    /* The next feed drops the big buffer. */
    size_t used = 0;
    cr_assert_eq(lg_frame_decoder_feed(&d, NULL, 0, &used, &f, &flen), LG_OK);
    cr_assert_null(d.body);
    lg_frame_decoder_close(&d);
    free(stream);
}

Test(frame, custom_bound)
{
    struct lg_frame_decoder d;
    lg_frame_decoder_init(&d, 10);
    size_t used = 0;
    const uint8_t *f = NULL;
    uint32_t flen = 0;
    cr_assert_eq(lg_frame_decoder_feed(&d, "\0\0\0\x0b", 4, &used, &f, &flen), LG_ETOOLARGE);
    lg_frame_decoder_close(&d);
    lg_frame_decoder_init(&d, 10);
    cr_assert_eq(lg_frame_decoder_feed(&d, "\0\0\0\x0a", 4, &used, &f, &flen), LG_OK);
    cr_assert_eq(d.body_len, 10u);
    cr_assert_not(lg_frame_decoder_idle(&d));
    lg_frame_decoder_close(&d);
}

Test(frame, encode_rejects_empty_too_large_and_short_buffer)
{
    uint8_t out[8];
    size_t w = 7;
    cr_assert_eq(lg_frame_encode("x", 0, out, sizeof out, &w), LG_EBADREQ);
    cr_assert_eq(w, 0u);
    cr_assert_eq(lg_frame_encode("x", (size_t)LG_FRAME_BYTES_MAX + 1u, out, sizeof out, &w),
                 LG_ETOOLARGE);
    cr_assert_eq(lg_frame_encode("abcdef", 6, out, 9, &w), LG_EINVAL);
    cr_assert_eq(lg_frame_encode("abcd", 4, out, 8, &w), LG_OK);
    cr_assert_eq(w, 8u);
}
