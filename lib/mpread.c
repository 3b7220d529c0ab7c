/* mpread: the bounded msgpack reader (see mpread.h). */
#include "mpread.h"

#include "assert.h"

size_t lg_mpread_left(const struct lg_mpread *r)
{
    return (size_t)(r->end - r->p);
}

uint64_t lg_mpread_be(const uint8_t *p, unsigned n)
{
    LG_PRE(n <= 8);
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

/* A length-prefixed header: fix form (fix_base..fix_base+fix_max), then 8/16/32-bit
 * forms at codes c8 (0 = none), c16, c32. SHORTEST: each wider form only for a length
 * the narrower ones cannot hold. */
static int mp_header(struct lg_mpread *r, enum lg_mpread_form form, uint8_t fix_base,
                     uint32_t fix_max, uint8_t c8, uint8_t c16, uint8_t c32, uint32_t *n)
{
    if (r->p == r->end) {
        return LG_MPREAD_TRUNCATED;
    }
    uint8_t b = *r->p;
    if (fix_max > 0 && b >= fix_base && b <= fix_base + fix_max) {
        r->p++;
        *n = (uint32_t)(b - fix_base);
        return LG_MPREAD_OK;
    }
    unsigned width;
    uint32_t min;
    if (c8 != 0 && b == c8) {
        width = 1, min = fix_max > 0 ? fix_max + 1u : 0u;
    } else if (b == c16) {
        width = 2, min = c8 != 0 ? 0x100u : fix_max + 1u;
    } else if (b == c32) {
        width = 4, min = 0x10000u;
    } else {
        return LG_MPREAD_TYPE;
    }
    if (lg_mpread_left(r) < 1u + width) {
        return LG_MPREAD_TRUNCATED;
    }
    uint32_t x = (uint32_t)lg_mpread_be(r->p + 1, width);
    if (form == LG_MPREAD_SHORTEST && x < min) {
        return LG_MPREAD_NONCANONICAL;
    }
    r->p += 1u + width;
    *n = x;
    return LG_MPREAD_OK;
}

int lg_mpread_integer(struct lg_mpread *r, bool *neg, uint64_t *v)
{
    if (r->p == r->end) {
        return LG_MPREAD_TRUNCATED;
    }
    uint8_t b = *r->p;
    *neg = false;
    if (b <= 0x7f) {
        r->p++;
        *v = b;
        return LG_MPREAD_OK;
    }
    if (b >= 0xe0) {
        r->p++;
        *neg = true;
        *v = (uint64_t)(int64_t)(int8_t)b;
        return LG_MPREAD_OK;
    }
    unsigned n;
    bool is_signed;
    if (b >= 0xcc && b <= 0xcf) {
        n = 1u << (b - 0xcc), is_signed = false;
    } else if (b >= 0xd0 && b <= 0xd3) {
        n = 1u << (b - 0xd0), is_signed = true;
    } else {
        return LG_MPREAD_TYPE;
    }
    if (lg_mpread_left(r) < 1u + n) {
        return LG_MPREAD_TRUNCATED;
    }
    uint64_t x = lg_mpread_be(r->p + 1, n);
    r->p += 1u + n;
    if (is_signed) {
        unsigned shift = 64u - 8u * n;
        int64_t s = (int64_t)(x << shift) >> shift; /* sign-extend */
        *neg = s < 0;
        x = (uint64_t)s;
    }
    *v = x;
    return LG_MPREAD_OK;
}

/* An unsigned integer in its shortest form: positive fixint or uint 8/16/32/64, each only
 * for values the narrower forms cannot hold; signed forms are another type. */
static int mp_uint_shortest(struct lg_mpread *r, uint64_t *v)
{
    if (r->p < r->end && *r->p >= 0xd0 && (*r->p <= 0xd3 || *r->p >= 0xe0)) {
        return LG_MPREAD_TYPE;
    }
    static const uint64_t min[] = {0x80u, 0x100u, 0x10000u, 0x100000000ull};
    const uint8_t *start = r->p;
    bool neg;
    uint64_t x;
    int st = lg_mpread_integer(r, &neg, &x);
    if (st != LG_MPREAD_OK) {
        return st;
    }
    LG_ASSERT(!neg);
    if (*start >= 0xcc && x < min[*start - 0xcc]) {
        r->p = start;
        return LG_MPREAD_NONCANONICAL;
    }
    *v = x;
    return LG_MPREAD_OK;
}

int lg_mpread_uint(struct lg_mpread *r, enum lg_mpread_form form, uint64_t *v)
{
    if (form == LG_MPREAD_SHORTEST) {
        return mp_uint_shortest(r, v);
    }
    bool neg;
    uint64_t x;
    int st = lg_mpread_integer(r, &neg, &x);
    if (st != LG_MPREAD_OK) {
        return st;
    }
    if (neg) {
        return LG_MPREAD_NEGATIVE;
    }
    *v = x;
    return LG_MPREAD_OK;
}

/* A length header (as mp_header) then that many bytes, viewed in place. On failure the
 * position is unchanged. */
static int mp_bytes(struct lg_mpread *r, enum lg_mpread_form form, uint8_t fix_base,
                    uint32_t fix_max, const uint8_t codes[3], const uint8_t **ptr,
                    uint32_t *len)
{
    const uint8_t *start = r->p;
    uint32_t n = 0;
    int st = mp_header(r, form, fix_base, fix_max, codes[0], codes[1], codes[2], &n);
    if (st == LG_MPREAD_OK && lg_mpread_left(r) < n) {
        st = LG_MPREAD_TRUNCATED;
    }
    if (st != LG_MPREAD_OK) {
        r->p = start;
        return st;
    }
    *ptr = r->p;
    *len = n;
    r->p += n;
    return LG_MPREAD_OK;
}

int lg_mpread_str(struct lg_mpread *r, enum lg_mpread_form form, const char **ptr,
                  uint32_t *len)
{
    static const uint8_t codes[3] = {0xd9, 0xda, 0xdb}; /* str 8/16/32 */
    const uint8_t *bytes = NULL;
    int st = mp_bytes(r, form, 0xa0, 31, codes, &bytes, len);
    if (st == LG_MPREAD_OK) {
        *ptr = (const char *)bytes;
    }
    return st;
}

int lg_mpread_bin(struct lg_mpread *r, enum lg_mpread_form form, const uint8_t **ptr,
                  uint32_t *len)
{
    static const uint8_t codes[3] = {0xc4, 0xc5, 0xc6}; /* bin 8/16/32 */
    return mp_bytes(r, form, 0, 0, codes, ptr, len);
}

int lg_mpread_array(struct lg_mpread *r, enum lg_mpread_form form, uint32_t *n)
{
    return mp_header(r, form, 0x90, 15, 0, 0xdc, 0xdd, n);
}

int lg_mpread_map(struct lg_mpread *r, enum lg_mpread_form form, uint32_t *n)
{
    return mp_header(r, form, 0x80, 15, 0, 0xde, 0xdf, n);
}

int lg_mpread_head(struct lg_mpread *r, uint64_t *items, uint64_t *body)
{
    if (r->p == r->end) {
        return LG_MPREAD_TRUNCATED;
    }
    uint8_t b = *r->p;
    uint32_t n = 0;
    int st = LG_MPREAD_OK;
    *items = 0;
    *body = 0;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
        r->p++;
    } else if (b <= 0x8f || b == 0xde || b == 0xdf) {
        st = lg_mpread_map(r, LG_MPREAD_ANY, &n);
        *items = 2u * (uint64_t)n;
    } else if (b <= 0x9f || b == 0xdc || b == 0xdd) {
        st = lg_mpread_array(r, LG_MPREAD_ANY, &n);
        *items = n;
    } else if (b <= 0xbf) {
        r->p++;
        *body = b & 0x1fu;
    } else if (b == 0xc1) {
        return LG_MPREAD_BADBYTE;
    } else if (b >= 0xc4 && b <= 0xc6) { /* bin 8/16/32 */
        st = mp_header(r, LG_MPREAD_ANY, 0, 0, 0xc4, 0xc5, 0xc6, &n);
        *body = n;
    } else if (b >= 0xc7 && b <= 0xc9) { /* ext 8/16/32: length, type, payload */
        st = mp_header(r, LG_MPREAD_ANY, 0, 0, 0xc7, 0xc8, 0xc9, &n);
        *body = (uint64_t)n + 1u;
    } else if (b == 0xca || b == 0xcb) {
        r->p++;
        *body = b == 0xca ? 4u : 8u;
    } else if (b >= 0xcc && b <= 0xd3) {
        r->p++;
        *body = 1u << ((b - 0xcc) & 3u);
    } else if (b >= 0xd4 && b <= 0xd8) { /* fixext: type + 1..16 bytes */
        r->p++;
        *body = 1u + (1u << (b - 0xd4));
    } else { /* str 8/16/32 */
        st = mp_header(r, LG_MPREAD_ANY, 0, 0, 0xd9, 0xda, 0xdb, &n);
        *body = n;
    }
    return st;
}

/* One value's head and payload; its items (if a container) are left to the caller. */
static int mp_skip_head_body(struct lg_mpread *r, uint64_t *items)
{
    uint64_t body = 0;
    int st = lg_mpread_head(r, items, &body);
    if (st == LG_MPREAD_OK && lg_mpread_left(r) < body) {
        st = LG_MPREAD_TRUNCATED;
    }
    r->p += st == LG_MPREAD_OK ? body : 0u;
    return st;
}

int lg_mpread_skip(struct lg_mpread *r, unsigned depth_max)
{
    LG_PRE(depth_max <= LG_MPREAD_DEPTH_MAX);
    uint64_t stack[LG_MPREAD_DEPTH_MAX + 1];
    unsigned depth = 0;
    uint64_t pending = 1; /* values left at the current level */
    for (;;) {
        while (pending == 0) {
            if (depth == 0) {
                return LG_MPREAD_OK;
            }
            pending = stack[--depth];
        }
        pending--;
        uint64_t items;
        int st = mp_skip_head_body(r, &items);
        if (st != LG_MPREAD_OK) {
            return st;
        }
        if (items > 0) {
            if (items > lg_mpread_left(r)) {
                return LG_MPREAD_TRUNCATED; /* every value takes at least one byte */
            }
            if (depth == depth_max) {
                return LG_MPREAD_DEEP;
            }
            stack[depth++] = pending;
            pending = items;
        }
    }
}

int lg_mpread_skip_any(struct lg_mpread *r)
{
    uint64_t pending = 1;
    while (pending > 0) {
        if (pending > lg_mpread_left(r)) {
            return LG_MPREAD_TRUNCATED; /* every value takes at least one byte */
        }
        pending--;
        uint64_t items;
        int st = mp_skip_head_body(r, &items);
        if (st != LG_MPREAD_OK) {
            return st;
        }
        pending += items;
    }
    return LG_MPREAD_OK;
}
