/* buf: growable output buffer. */
#include "buf.h"

#include <stdlib.h>
#include <string.h>

#include "assert.h"

void lg_buf_init(struct lg_buf *b)
{
    LG_PRE(b != NULL);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void lg_buf_reset(struct lg_buf *b)
{
    LG_PRE(b != NULL);
    b->len = 0;
}

void lg_buf_close(struct lg_buf *b)
{
    LG_PRE(b != NULL);
    free(b->data);
    lg_buf_init(b);
}

/* Make room for extra more bytes, doubling from 256. false when out of memory. */
static bool buf_reserve(struct lg_buf *b, size_t extra)
{
    if (b->cap - b->len >= extra) {
        return true;
    }
    if (extra > SIZE_MAX / 2 - b->len) {
        return false;
    }
    size_t cap = b->cap != 0 ? b->cap : 256;
    while (cap - b->len < extra) {
        cap *= 2;
    }
    uint8_t *data = realloc(b->data, cap);
    if (data == NULL) {
        return false;
    }
    b->data = data;
    b->cap = cap;
    return true;
}

bool lg_buf_append(struct lg_buf *b, const void *bytes, size_t n)
{
    LG_PRE(b != NULL);
    LG_PRE(bytes != NULL || n == 0);
    if (n == 0) {
        return true;
    }
    if (!buf_reserve(b, n)) {
        return false;
    }
    memcpy(b->data + b->len, bytes, n);
    b->len += n;
    LG_POST(b->len <= b->cap);
    return true;
}
