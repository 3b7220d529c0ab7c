/* frame: the client protocol's frame codec (DESIGN §8).
 *
 * A frame is a 4-byte big-endian unsigned length N, 1 <= N <= LG_FRAME_BYTES_MAX (16 MiB),
 * then N bytes holding one msgpack map. The decoder is incremental: it is fed whatever
 * chunks the transport delivers (one byte at a time, or many frames in one chunk, as a
 * libuv read callback would) and yields complete frame bodies one by one.
 *
 * Safety: the length is checked before anything is allocated; an empty frame is
 * LG_EBADREQ and a length above the decoder's bound is LG_ETOOLARGE, both sticky (the
 * connection is to be answered and closed, DESIGN §8). The decoder allocates at most the
 * declared, already bounded, length, and only when a frame arrives split across chunks:
 * a frame wholly inside one chunk is handed out as a view into that chunk. */
#ifndef LG_FRAME_H
#define LG_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "limits.h"

/* Bytes of the length prefix. */
#define LG_FRAME_HEADER_BYTES 4u

/* A body buffer at most this big is kept for the next split frame; a bigger one is freed
 * once its frame has been handed out, so an idle connection does not pin 16 MiB. */
#define LG_FRAME_KEEP_BYTES (64u * 1024u)

/* Incremental decoder state. One per connection; not thread-safe. */
struct lg_frame_decoder {
    uint32_t bytes_max;     /* largest accepted body (1..LG_FRAME_BYTES_MAX) */
    uint8_t header[LG_FRAME_HEADER_BYTES]; /* length prefix gathered so far */
    uint32_t header_have;   /* bytes of header[] filled */
    uint32_t body_len;      /* declared length of the frame being read (0: none yet) */
    uint32_t body_have;     /* bytes of body[] filled */
    uint8_t *body;          /* malloc'd, capacity body_cap; only for split frames */
    uint32_t body_cap;
    int err;                /* sticky: LG_OK until a bad length or out of memory */
    uint64_t frames;        /* frames handed out so far */
    char errmsg[LG_ERRMSG_SIZE];
};

/* Initialise d. bytes_max bounds the body length; 0 means LG_FRAME_BYTES_MAX, and a
 * larger value is a programming error (asserted). Allocates nothing. */
void lg_frame_decoder_init(struct lg_frame_decoder *d, uint32_t bytes_max);

/* Free the buffer. d may be initialised again afterwards. */
void lg_frame_decoder_close(struct lg_frame_decoder *d);

/* Feed bytes. Consumes input up to the end of the first complete frame, or all of it.
 *   *consumed: bytes of data used (always set; call again with data + *consumed).
 *   *frame, *frame_len: the complete frame's body, or NULL / 0 when the input ran out
 *   first. The body is a view into data or into the decoder's buffer, valid until the
 *   next call on d (or close).
 * Returns LG_OK (a frame or need more bytes), LG_EBADREQ (a zero length prefix),
 * LG_ETOOLARGE (length above bytes_max; nothing allocated), LG_ENOMEM (cannot allocate a
 * split frame's declared length). Errors are sticky: every later call returns the same
 * code and consumes nothing; d->errmsg says why. len may be 0. */
int lg_frame_decoder_feed(struct lg_frame_decoder *d, const void *data, size_t len,
                          size_t *consumed, const uint8_t **frame, uint32_t *frame_len);

/* True when no partial frame is buffered (a clean point to close the connection). */
bool lg_frame_decoder_idle(const struct lg_frame_decoder *d);

/* Write the 4-byte big-endian prefix for a body of n bytes into out. */
void lg_frame_header_put(uint32_t n, uint8_t out[LG_FRAME_HEADER_BYTES]);

/* Encode one frame: prefix then body into out (cap bytes, at least n + 4). Returns LG_OK
 * and sets *written, LG_EBADREQ for an empty body, LG_ETOOLARGE for n above
 * LG_FRAME_BYTES_MAX, LG_EINVAL when cap is too small (nothing written on error). */
int lg_frame_encode(const void *body, size_t n, uint8_t *out, size_t cap, size_t *written);

#endif /* LG_FRAME_H */
