/* tx: validation of a transaction's parts, shared by fsm/codec.c and lib/proto.c so the
 * same value gets the same verdict and message in both codecs. */
#include "tx.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "assert.h"
#include "name.h"

LG_STATIC_ASSERT(LG_METADATA_ENTRIES_MAX <= 255u, "metadata order fits in uint8_t indexes");
LG_STATIC_ASSERT(LG_TX_PREFIX_BYTES < LG_TX_PATH_BYTES, "a prefix leaves room for a field");

/* ---------------------------------------------------------------------------------------
 * Errors and field paths */

void lg_tx_path_printf(char *buf, size_t size, const char *fmt, ...)
{
    LG_PRE(buf != NULL && size > 0);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, size, fmt, ap);
    va_end(ap);
}

static void tx_vprefix(struct lg_tx_ctx *c, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void tx_vprefix(struct lg_tx_ctx *c, const char *fmt, va_list ap)
{
    vsnprintf(c->prefix, sizeof c->prefix, fmt, ap);
}

void lg_tx_ctx_prefix(struct lg_tx_ctx *c, const char *fmt, ...)
{
    LG_PRE(c != NULL);
    va_list ap;
    va_start(ap, fmt);
    tx_vprefix(c, fmt, ap);
    va_end(ap);
}

void lg_tx_ctx_prefix_index(struct lg_tx_ctx *c, const char *name, uint32_t i)
{
    LG_PRE(c != NULL && name != NULL);
    char digits[10];
    size_t nd = 0;
    do {
        digits[nd++] = (char)('0' + i % 10u);
        i /= 10u;
    } while (i > 0);
    size_t len = strnlen(name, sizeof c->prefix);
    LG_PRE(len + nd + 3u <= sizeof c->prefix); /* "name[digits]" and the NUL */
    memcpy(c->prefix, name, len);
    c->prefix[len++] = '[';
    while (nd > 0) {
        c->prefix[len++] = digits[--nd];
    }
    c->prefix[len++] = ']';
    c->prefix[len] = '\0';
}

static void tx_vpath(const struct lg_tx_ctx *c, char *out, size_t n, const char *fmt,
                     va_list ap) __attribute__((format(printf, 4, 0)));

static void tx_vpath(const struct lg_tx_ctx *c, char *out, size_t n, const char *fmt,
                     va_list ap)
{
    LG_PRE(out != NULL && n > 0);
    char field[LG_TX_PATH_BYTES];
    vsnprintf(field, sizeof field, fmt, ap);
    if (c->prefix[0] == '\0') {
        snprintf(out, n, "%s", field);
        return;
    }
    if (field[0] == '\0') {
        snprintf(out, n, "%s", c->prefix);
        return;
    }
    /* Two parts of bounded buffers: truncation only shortens a message (the vsnprintf
     * path keeps -Wformat-truncation quiet at -O3). */
    lg_tx_path_printf(out, n, "%s.%s", c->prefix, field);
}

void lg_tx_path(const struct lg_tx_ctx *c, char *out, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tx_vpath(c, out, n, fmt, ap);
    va_end(ap);
}

int lg_tx_fail(const struct lg_tx_ctx *c, int code, const char *reason, const char *fmt, ...)
{
    LG_PRE(code != LG_OK);
    char path[LG_TX_PATH_BYTES];
    va_list ap;
    va_start(ap, fmt);
    tx_vpath(c, path, sizeof path, fmt, ap);
    va_end(ap);
    if (path[0] == '\0') {
        return lg_errmsg_printf(c->errmsg, code, "%s", reason);
    }
    return lg_errmsg_printf(c->errmsg, code, "%s: %s", path, reason);
}

int lg_tx_failf(const struct lg_tx_ctx *c, int code, const char *field, const char *fmt, ...)
{
    char reason[LG_ERRMSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    return lg_tx_fail(c, code, reason, "%s", field);
}

int lg_tx_check_name(const struct lg_tx_ctx *c, lg_tx_name_fn fn, struct lg_str s,
                     const char *fmt, ...)
{
    LG_PRE(fn != NULL);
    if (fn(s.ptr, s.len, NULL, NULL) == LG_OK) {
        return LG_OK;
    }
    char path[LG_TX_PATH_BYTES];
    va_list ap;
    va_start(ap, fmt);
    tx_vpath(c, path, sizeof path, fmt, ap);
    va_end(ap);
    return fn(s.ptr, s.len, path, c->errmsg);
}

/* ---------------------------------------------------------------------------------------
 * Strings */

int lg_tx_str_cmp(struct lg_str a, struct lg_str b)
{
    uint32_t n = a.len < b.len ? a.len : b.len;
    int r = n == 0 ? 0 : memcmp(a.ptr, b.ptr, n);
    if (r != 0) {
        return r;
    }
    return a.len < b.len ? -1 : (a.len > b.len ? 1 : 0);
}

bool lg_tx_str_eq(struct lg_str a, struct lg_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

void lg_tx_quote(struct lg_str s, char *out)
{
    LG_PRE(out != NULL);
    uint32_t n = s.len > 40 ? 40 : s.len;
    for (uint32_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)s.ptr[i];
        out[i] = b >= 0x20 && b < 0x7f && b != '"' ? (char)b : '?';
    }
    out[n] = '\0';
    if (s.len > n) {
        memcpy(out + n, "...", 4);
    }
}

bool lg_tx_utf8_valid(const void *buf, size_t len)
{
    LG_PRE(len == 0 || buf != NULL);
    const uint8_t *s = buf;
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp;
        uint32_t min;
        if ((c & 0xe0) == 0xc0) {
            n = 1, cp = c & 0x1fu, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2, cp = c & 0x0fu, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3, cp = c & 0x07u, min = 0x10000;
        } else {
            return false;
        }
        if (len - i - 1 < n) {
            return false;
        }
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (s[i + k] & 0x3fu);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return false;
        }
        i += n + 1;
    }
    return true;
}

/* ---------------------------------------------------------------------------------------
 * Validation */

/* Insertion sort: metadata is small and usually already sorted. */
uint32_t lg_tx_metadata_order(const struct lg_kv *kv, uint32_t n, uint8_t *idx)
{
    LG_PRE(n <= LG_METADATA_ENTRIES_MAX);
    LG_PRE(n == 0 || (kv != NULL && idx != NULL));
    for (uint32_t i = 0; i < n; i++) {
        uint32_t j = i;
        while (j > 0 && lg_tx_str_cmp(kv[idx[j - 1]].key, kv[i].key) > 0) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = (uint8_t)i;
    }
    for (uint32_t i = 1; i < n; i++) {
        if (lg_tx_str_eq(kv[idx[i - 1]].key, kv[idx[i]].key)) {
            return i;
        }
    }
    return n;
}

int lg_tx_check_metadata(const struct lg_tx_ctx *c, const struct lg_kv *kv, uint32_t n,
                         enum lg_tx_meta_order order, const char *field)
{
    LG_PRE(field != NULL);
    if (n > LG_METADATA_ENTRIES_MAX) {
        return lg_tx_failf(c, LG_ETOOLARGE, field, "%u entries, at most %u", n,
                           LG_METADATA_ENTRIES_MAX);
    }
    LG_ASSERT(n == 0 || kv != NULL);
    for (uint32_t i = 0; i < n; i++) {
        struct lg_str k = kv[i].key;
        struct lg_str v = kv[i].value;
        char q[LG_TX_QUOTE_BYTES];
        lg_tx_quote(k, q);
        if (k.len == 0) {
            return lg_tx_fail(c, LG_EBADREQ, "key must not be empty", "%s", field);
        }
        if (k.len > LG_METADATA_KEY_BYTES_MAX) {
            return lg_tx_failf(c, LG_ETOOLARGE, field, "key \"%s\" is %u bytes, at most %u",
                               q, k.len, LG_METADATA_KEY_BYTES_MAX);
        }
        if (!lg_tx_utf8_valid(k.ptr, k.len)) {
            return lg_tx_failf(c, LG_EBADREQ, field, "key \"%s\" is not valid UTF-8", q);
        }
        if (v.len > LG_METADATA_VALUE_BYTES_MAX) {
            return lg_tx_failf(c, LG_ETOOLARGE, field,
                               "value of \"%s\" is %u bytes, at most %u", q, v.len,
                               LG_METADATA_VALUE_BYTES_MAX);
        }
        if (!lg_tx_utf8_valid(v.ptr, v.len)) {
            return lg_tx_failf(c, LG_EBADREQ, field, "value of \"%s\" is not valid UTF-8", q);
        }
        if (order == LG_TX_META_SORTED && i > 0 && lg_tx_str_cmp(kv[i - 1].key, k) >= 0) {
            return lg_tx_fail(c, LG_EBADREQ, "keys not sorted by bytes or duplicate",
                              "%s[%u]", field, i);
        }
    }
    if (order == LG_TX_META_ANY && n > 1) {
        uint8_t idx[LG_METADATA_ENTRIES_MAX];
        uint32_t dup = lg_tx_metadata_order(kv, n, idx);
        if (dup < n) {
            char q[LG_TX_QUOTE_BYTES];
            lg_tx_quote(kv[idx[dup]].key, q);
            return lg_tx_failf(c, LG_EBADREQ, field, "duplicate key \"%s\"", q);
        }
    }
    return LG_OK;
}

int lg_tx_check_postings(const struct lg_tx_ctx *c, const struct lg_posting *p, uint32_t n)
{
    if (n == 0) {
        return lg_tx_fail(c, LG_EBADREQ, "must not be empty", "postings");
    }
    if (n > LG_POSTINGS_MAX) {
        return lg_tx_failf(c, LG_ETOOLARGE, "postings", "%u postings, at most %u", n,
                           LG_POSTINGS_MAX);
    }
    LG_ASSERT(p != NULL);
    for (uint32_t i = 0; i < n; i++) {
        int rc = lg_tx_check_name(c, lg_name_check_address, p[i].source,
                                  "postings[%u].source", i);
        if (rc == LG_OK) {
            rc = lg_tx_check_name(c, lg_name_check_address, p[i].destination,
                                  "postings[%u].destination", i);
        }
        if (rc == LG_OK && p[i].amount == 0) {
            rc = lg_tx_fail(c, LG_EBADREQ, "must be greater than 0", "postings[%u].amount", i);
        }
        if (rc == LG_OK) {
            rc = lg_tx_check_name(c, lg_name_check_asset, p[i].asset, "postings[%u].asset", i);
        }
        if (rc == LG_OK && lg_tx_str_eq(p[i].source, p[i].destination)) {
            rc = lg_tx_fail(c, LG_EBADREQ, "source and destination are the same account",
                            "postings[%u]", i);
        }
        if (rc != LG_OK) {
            return rc;
        }
    }
    return LG_OK;
}

int lg_tx_check_token(const struct lg_tx_ctx *c, struct lg_str s, uint32_t max,
                      const char *field)
{
    LG_PRE(field != NULL);
    if (s.len > max) {
        return lg_tx_failf(c, LG_ETOOLARGE, field, "%u bytes, at most %u", s.len, max);
    }
    for (uint32_t i = 0; i < s.len; i++) {
        unsigned char b = (unsigned char)s.ptr[i];
        if (b < 0x20 || b > 0x7e) {
            return lg_tx_failf(c, LG_EBADREQ, field,
                               "byte 0x%02x at %u is not printable ASCII", b, i);
        }
    }
    return LG_OK;
}

int lg_tx_check_reference(const struct lg_tx_ctx *c, struct lg_str r)
{
    return lg_tx_check_token(c, r, LG_REFERENCE_BYTES_MAX, "reference");
}

int lg_tx_check_conditions(const struct lg_tx_ctx *c, const struct lg_condition *cond,
                           uint32_t n)
{
    if (n > LG_CONDITIONS_MAX) {
        return lg_tx_failf(c, LG_ETOOLARGE, "conditions", "%u conditions, at most %u", n,
                           LG_CONDITIONS_MAX);
    }
    LG_ASSERT(n == 0 || cond != NULL);
    for (uint32_t i = 0; i < n; i++) {
        if (cond[i].kind != LG_COND_VERSION && cond[i].kind != LG_COND_MIN_BALANCE) {
            char reason[48];
            snprintf(reason, sizeof reason, "unknown condition kind %u", cond[i].kind);
            return lg_tx_fail(c, LG_EBADREQ, reason, "conditions[%u].kind", i);
        }
        int rc = lg_tx_check_name(c, lg_name_check_address, cond[i].account,
                                  "conditions[%u].account", i);
        if (rc == LG_OK && cond[i].kind == LG_COND_MIN_BALANCE) {
            rc = lg_tx_check_name(c, lg_name_check_asset, cond[i].asset,
                                  "conditions[%u].asset", i);
        }
        if (rc != LG_OK) {
            return rc;
        }
    }
    return LG_OK;
}
