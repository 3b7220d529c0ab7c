/* frame: incremental decoder and encoder of length-prefixed frames (DESIGN §8). */
#include "frame.h"

#include <stdlib.h>
#include <string.h>

#include "assert.h"

LG_STATIC_ASSERT(LG_FRAME_BYTES_MAX <= UINT32_MAX - LG_FRAME_HEADER_BYTES,
                 "a whole frame's size fits in 32 bits");
LG_STATIC_ASSERT(LG_FRAME_KEEP_BYTES <= LG_FRAME_BYTES_MAX, "kept buffer within a frame");

/* Initialise d with a body bound (0: LG_FRAME_BYTES_MAX). */
void lg_frame_decoder_init(struct lg_frame_decoder *d, uint32_t bytes_max)
{
    LG_PRE(d != NULL);
    LG_PRE(bytes_max <= LG_FRAME_BYTES_MAX);
    memset(d, 0, sizeof *d);
    d->bytes_max = bytes_max == 0 ? LG_FRAME_BYTES_MAX : bytes_max;
    d->err = LG_OK;
}

/* Free the body buffer. */
void lg_frame_decoder_close(struct lg_frame_decoder *d)
{
    LG_PRE(d != NULL);
    free(d->body);
    d->body = NULL;
    d->body_cap = 0;
    d->body_have = 0;
    d->body_len = 0;
    d->header_have = 0;
}

/* True when no bytes of a frame are pending. */
bool lg_frame_decoder_idle(const struct lg_frame_decoder *d)
{
    LG_PRE(d != NULL);
    return d->header_have == 0 && d->body_len == 0;
}

/* Record a sticky error. Returns code. */
static int frame_fail(struct lg_frame_decoder *d, int code, const char *what, uint32_t n)
{
    LG_ASSERT(code != LG_OK);
    d->err = code;
    if (code == LG_ETOOLARGE) {
        lg_errmsg_printf(d->errmsg, code, "frame: length %u exceeds the limit of %u bytes",
                         n, d->bytes_max);
    } else {
        lg_errmsg_printf(d->errmsg, code, "frame: %s", what);
    }
    return code;
}

/* The length prefix is complete: validate it before any allocation. */
static int frame_header_done(struct lg_frame_decoder *d)
{
    uint32_t n = ((uint32_t)d->header[0] << 24) | ((uint32_t)d->header[1] << 16) |
                 ((uint32_t)d->header[2] << 8) | (uint32_t)d->header[3];
    if (n == 0) {
        return frame_fail(d, LG_EBADREQ, "empty frame (length 0)", 0);
    }
    if (n > d->bytes_max) {
        return frame_fail(d, LG_ETOOLARGE, NULL, n);
    }
    d->body_len = n;
    d->body_have = 0;
    return LG_OK;
}

/* A frame was handed out: forget it, drop a big buffer. */
static void frame_done(struct lg_frame_decoder *d)
{
    d->header_have = 0;
    d->body_len = 0;
    d->body_have = 0;
    d->frames++;
}

/* Release a buffer above the keep threshold (called at the next feed, after the caller
 * finished with the previous frame's view). */
static void frame_trim(struct lg_frame_decoder *d)
{
    if (d->body_len == 0 && d->body_cap > LG_FRAME_KEEP_BYTES) {
        free(d->body);
        d->body = NULL;
        d->body_cap = 0;
    }
}

/* Feed bytes; see frame.h. */
int lg_frame_decoder_feed(struct lg_frame_decoder *d, const void *data, size_t len,
                          size_t *consumed, const uint8_t **frame, uint32_t *frame_len)
{
    LG_PRE(d != NULL && consumed != NULL && frame != NULL && frame_len != NULL);
    LG_PRE(len == 0 || data != NULL);
    const uint8_t *p = data;
    size_t used = 0;
    *consumed = 0;
    *frame = NULL;
    *frame_len = 0;
    if (d->err != LG_OK) {
        return d->err;
    }
    frame_trim(d);
    while (d->body_len == 0 && used < len) {
        d->header[d->header_have++] = p[used++];
        if (d->header_have == LG_FRAME_HEADER_BYTES) {
            int rc = frame_header_done(d);
            if (rc != LG_OK) {
                *consumed = used;
                return rc;
            }
        }
    }
    if (d->body_len == 0) {
        *consumed = used;
        return LG_OK; /* the prefix is still incomplete */
    }
    size_t left = len - used;
    /* Zero copy: the whole body is in this chunk and nothing of it was buffered. */
    if (d->body_have == 0 && left >= d->body_len) {
        *frame = p + used;
        *frame_len = d->body_len;
        *consumed = used + d->body_len;
        frame_done(d);
        return LG_OK;
    }
    if (left == 0) {
        *consumed = used;
        return LG_OK;
    }
    if (d->body_have == 0 && d->body_cap < d->body_len) {
        /* Exactly the declared length, which frame_header_done bounded. */
        free(d->body);
        d->body_cap = 0;
        d->body = malloc(d->body_len);
        if (d->body == NULL) {
            *consumed = used;
            return frame_fail(d, LG_ENOMEM, "out of memory for a split frame", 0);
        }
        d->body_cap = d->body_len;
    }
    LG_ASSERT(d->body_cap >= d->body_len);
    size_t need = d->body_len - d->body_have;
    size_t take = left < need ? left : need;
    memcpy(d->body + d->body_have, p + used, take);
    d->body_have += (uint32_t)take;
    used += take;
    *consumed = used;
    if (d->body_have == d->body_len) {
        *frame = d->body;
        *frame_len = d->body_len;
        frame_done(d);
    }
    LG_POST(*consumed <= len);
    return LG_OK;
}

/* Big-endian length prefix. */
void lg_frame_header_put(uint32_t n, uint8_t out[LG_FRAME_HEADER_BYTES])
{
    LG_PRE(out != NULL);
    out[0] = (uint8_t)(n >> 24);
    out[1] = (uint8_t)(n >> 16);
    out[2] = (uint8_t)(n >> 8);
    out[3] = (uint8_t)n;
}

/* Prefix then body. */
int lg_frame_encode(const void *body, size_t n, uint8_t *out, size_t cap, size_t *written)
{
    LG_PRE(written != NULL);
    *written = 0;
    if (n == 0) {
        return LG_EBADREQ;
    }
    if (n > LG_FRAME_BYTES_MAX) {
        return LG_ETOOLARGE;
    }
    LG_PRE(body != NULL && out != NULL);
    if (cap < n + LG_FRAME_HEADER_BYTES) {
        return LG_EINVAL;
    }
    lg_frame_header_put((uint32_t)n, out);
    memcpy(out + LG_FRAME_HEADER_BYTES, body, n);
    *written = n + LG_FRAME_HEADER_BYTES;
    return LG_OK;
}
