/* buf: a growable output buffer (malloc). Encoders append to it; reset between uses keeps
 * the memory, so steady-state encoding allocates nothing. */
#ifndef LG_BUF_H
#define LG_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lg_buf {
    uint8_t *data; /* len bytes of content, cap bytes allocated (NULL when cap is 0) */
    size_t len;
    size_t cap;
};

/* An empty buffer (no memory until the first append). */
void lg_buf_init(struct lg_buf *b);

/* len = 0, keeps the memory. */
void lg_buf_reset(struct lg_buf *b);

/* Free the memory; the buffer is empty and reusable afterwards. */
void lg_buf_close(struct lg_buf *b);

/* Append n bytes (bytes borrowed for the call). Returns false when out of memory or the
 * size would overflow; b is then unchanged. */
bool lg_buf_append(struct lg_buf *b, const void *bytes, size_t n);

#endif /* LG_BUF_H */
