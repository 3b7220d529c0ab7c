/* fuzz_frame: the frame decoder fed in chunks, then each frame through the request decoder.
 * Input: byte 0 picks the chunk size (1..256), the rest is the stream. Properties: never
 * crash; the frames yielded are exactly the ones a one-shot feed yields (chunking does not
 * matter); errors are the documented ones and sticky; each frame that decodes as a request
 * round-trips through the encoder and the frame decoder again. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "err.h"
#include "frame.h"
#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_FRAMES_MAX 64u

/* Feed stream in chunks of chunk bytes; record up to FUZZ_FRAMES_MAX (offset-free) frames
 * as hashes of their bytes. Returns the final code. */
static int run(const uint8_t *s, size_t n, size_t chunk, uint64_t *sums, unsigned *count,
               struct lg_arena *arena)
{
    struct lg_frame_decoder d;
    lg_frame_decoder_init(&d, 1u << 16);
    size_t off = 0;
    int rc = LG_OK;
    *count = 0;
    while (off < n && rc == LG_OK) {
        size_t len = n - off < chunk ? n - off : chunk;
        size_t pos = 0;
        while (rc == LG_OK) {
            size_t used = 0;
            const uint8_t *f = NULL;
            uint32_t flen = 0;
            rc = lg_frame_decoder_feed(&d, s + off + pos, len - pos, &used, &f, &flen);
            pos += used;
            if (rc != LG_OK || f == NULL) {
                break;
            }
            uint64_t h = 1469598103934665603ull ^ flen;
            for (uint32_t i = 0; i < flen; i++) {
                h = (h ^ f[i]) * 1099511628211ull;
            }
            if (*count < FUZZ_FRAMES_MAX) {
                sums[(*count)++] = h;
            }
            if (arena != NULL) {
                struct lg_proto_request q;
                char errmsg[LG_ERRMSG_SIZE];
                lg_arena_reset(arena);
                if (lg_proto_decode_request(f, flen, arena, &q, errmsg) == LG_OK) {
                    struct lg_buf out;
                    lg_buf_init(&out);
                    if (lg_proto_encode_request(&q, &out, errmsg) != LG_OK) {
                        abort();
                    }
                    struct lg_frame_decoder d2;
                    lg_frame_decoder_init(&d2, 0);
                    size_t used2 = 0;
                    const uint8_t *f2 = NULL;
                    uint32_t flen2 = 0;
                    if (lg_frame_decoder_feed(&d2, out.data, out.len, &used2, &f2, &flen2) !=
                            LG_OK || f2 == NULL || used2 != out.len ||
                        lg_proto_decode_request(f2, flen2, arena, &q, errmsg) != LG_OK) {
                        abort();
                    }
                    lg_frame_decoder_close(&d2);
                    lg_buf_close(&out);
                }
            }
        }
        if (rc == LG_OK && pos != len) {
            abort();
        }
        off += len;
    }
    if (rc != LG_OK && rc != LG_EBADREQ && rc != LG_ETOOLARGE) {
        abort();
    }
    if (rc != LG_OK) {
        size_t used = 1;
        const uint8_t *f = NULL;
        uint32_t flen = 0;
        if (lg_frame_decoder_feed(&d, s, n, &used, &f, &flen) != rc || used != 0) {
            abort(); /* sticky */
        }
    }
    lg_frame_decoder_close(&d);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    size_t chunk = (size_t)data[0] + 1u;
    struct lg_arena arena;
    lg_arena_init(&arena, 64u << 20);
    uint64_t a[FUZZ_FRAMES_MAX];
    uint64_t b[FUZZ_FRAMES_MAX];
    unsigned na = 0;
    unsigned nb = 0;
    int ra = run(data + 1, size - 1, chunk, a, &na, &arena);
    int rb = run(data + 1, size - 1, size, b, &nb, NULL);
    if (ra != rb || na != nb || memcmp(a, b, na * sizeof a[0]) != 0) {
        abort();
    }
    lg_arena_close(&arena);
    return 0;
}
