/* name: validation of ledgers, addresses, assets and patterns (DESIGN §5), and matching.
 *
 * The success path (every posting of every command on every replica) is a few compares
 * per byte and never formats anything; messages are built only on failure. */
#include "name.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "assert.h"
#include "err.h"
#include "limits.h"

#define NAME_ASSET_BASE_MAX 16u  /* [A-Z][A-Z0-9]{0,15} */
#define NAME_ASSET_SCALE_MAX 2u  /* /[0-9]{1,2} */

LG_STATIC_ASSERT(LG_ASSET_BYTES_MAX == NAME_ASSET_BASE_MAX + 1u + NAME_ASSET_SCALE_MAX,
                 "asset limit matches its grammar");

static const char ASSET_RULE[] = "must match [A-Z][A-Z0-9]{0,15}(/[0-9]{1,2})?";

/* Byte classes, one table lookup per byte on the hot path. */
#define NAME_SEGMENT 0x01u /* [A-Za-z0-9_-]: address segment byte */
#define NAME_LEDGER 0x02u  /* [a-z0-9_-]: ledger byte */
#define NAME_UPPER 0x04u   /* [A-Z] */
#define NAME_DIGIT 0x08u   /* [0-9] */

static const uint8_t name_class[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, /* 0x20 */
    11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 0, 0, 0, 0, 0, 0, /* 0x30 */
    0, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, /* 0x40 */
    5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 0, 0, 0, 0, 3, /* 0x50 */
    0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 0x60 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 0, 0, /* 0x70 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x80 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x90 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xa0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xb0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xc0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xd0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xe0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xf0 */
};

static bool name_is_upper(unsigned char c)
{
    return (name_class[c] & NAME_UPPER) != 0;
}

static bool name_is_digit(unsigned char c)
{
    return (name_class[c] & NAME_DIGIT) != 0;
}

static bool name_is_segment_byte(unsigned char c)
{
    return (name_class[c] & NAME_SEGMENT) != 0;
}

static bool name_is_ledger_byte(unsigned char c)
{
    return (name_class[c] & NAME_LEDGER) != 0;
}

/* Render byte c for a message: 'x' when printable, else 0xNN. */
static void name_render_byte(unsigned char c, char out[8])
{
    if (c >= 0x20 && c < 0x7f && c != '\'') {
        snprintf(out, 8, "'%c'", c);
    } else {
        snprintf(out, 8, "0x%02x", c);
    }
}

/* Fail with "<what or fallback>: <reason>" in errmsg (when not NULL). Returns LG_EBADREQ. */
static int name_fail(char *errmsg, const char *what, const char *fallback, const char *fmt,
                     ...) __attribute__((format(printf, 4, 5)));

static int name_fail(char *errmsg, const char *what, const char *fallback, const char *fmt,
                     ...)
{
    if (errmsg == NULL) {
        return LG_EBADREQ;
    }
    char reason[LG_ERRMSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    return lg_errmsg_printf(errmsg, LG_EBADREQ, "%s: %s", what != NULL ? what : fallback,
                            reason);
}

/* Validate a ledger name: [a-z0-9_-]{1,64}. LG_OK or LG_EBADREQ naming the byte. */
int lg_name_check_ledger(const char *s, size_t len, const char *what, char *errmsg)
{
    LG_PRE(s != NULL || len == 0);
    if (len == 0) {
        return name_fail(errmsg, what, "ledger", "must not be empty");
    }
    if (len > LG_LEDGER_BYTES_MAX) {
        return name_fail(errmsg, what, "ledger", "%zu bytes, at most %u", len,
                         LG_LEDGER_BYTES_MAX);
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!name_is_ledger_byte(c)) {
            char shown[8];
            name_render_byte(c, shown);
            return name_fail(errmsg, what, "ledger",
                             "invalid character %s at byte %zu (allowed: [a-z0-9_-])", shown, i);
        }
    }
    return LG_OK;
}

/* Shared body of address and pattern validation: segments of [A-Za-z0-9_-]+ joined by
 * ':', at most LG_ADDRESS_BYTES_MAX bytes; with allow_star a segment may be exactly "*". */
static int name_check_segments(const char *s, size_t len, const char *what, char *errmsg,
                               bool allow_star)
{
    const char *fallback = allow_star ? "pattern" : "address";
    if (len == 0) {
        return name_fail(errmsg, what, fallback, "must not be empty");
    }
    if (len > LG_ADDRESS_BYTES_MAX) {
        return name_fail(errmsg, what, fallback, "%zu bytes, at most %u", len,
                         LG_ADDRESS_BYTES_MAX);
    }
    size_t seg_start = 0;
    for (size_t i = 0; i <= len; i++) {
        while (i < len && name_is_segment_byte((unsigned char)s[i])) {
            i++;
        }
        if (i == len || s[i] == ':') {
            if (i == seg_start) {
                return name_fail(errmsg, what, fallback, "empty segment at byte %zu", i);
            }
            seg_start = i + 1;
            continue;
        }
        unsigned char c = (unsigned char)s[i];
        if (c == '*') {
            if (!allow_star) {
                return name_fail(errmsg, what, fallback,
                                 "'*' at byte %zu: wildcards are only allowed in patterns", i);
            }
            bool alone = i == seg_start && (i + 1 == len || s[i + 1] == ':');
            if (!alone) {
                return name_fail(errmsg, what, fallback,
                                 "'*' at byte %zu must be a whole segment", i);
            }
            continue;
        }
        char shown[8];
        name_render_byte(c, shown);
        return name_fail(errmsg, what, fallback,
                         "invalid character %s at byte %zu (allowed: [A-Za-z0-9_-] and ':' "
                         "between segments)",
                         shown, i);
    }
    return LG_OK;
}

/* Validate an account address. LG_OK or LG_EBADREQ naming the byte. */
int lg_name_check_address(const char *s, size_t len, const char *what, char *errmsg)
{
    LG_PRE(s != NULL || len == 0);
    return name_check_segments(s, len, what, errmsg, false);
}

/* Validate an address pattern ("*" segments allowed). LG_OK or LG_EBADREQ. */
int lg_name_check_pattern(const char *s, size_t len, const char *what, char *errmsg)
{
    LG_PRE(s != NULL || len == 0);
    return name_check_segments(s, len, what, errmsg, true);
}

/* Validate an asset: [A-Z][A-Z0-9]{0,15}(/[0-9]{1,2})?. LG_OK or LG_EBADREQ naming the
 * first offending byte. */
int lg_name_check_asset(const char *s, size_t len, const char *what, char *errmsg)
{
    LG_PRE(s != NULL || len == 0);
    if (len == 0) {
        return name_fail(errmsg, what, "asset", "%s (empty)", ASSET_RULE);
    }
    if (!name_is_upper((unsigned char)s[0])) {
        return name_fail(errmsg, what, "asset", "%s (invalid at byte 0)", ASSET_RULE);
    }
    size_t i = 1;
    while (i < len && (name_is_upper((unsigned char)s[i]) || name_is_digit((unsigned char)s[i]))) {
        i++;
    }
    if (i > NAME_ASSET_BASE_MAX) {
        return name_fail(errmsg, what, "asset", "%s (name longer than %u at byte %u)",
                         ASSET_RULE, NAME_ASSET_BASE_MAX, NAME_ASSET_BASE_MAX);
    }
    if (i == len) {
        return LG_OK;
    }
    if (s[i] != '/') {
        return name_fail(errmsg, what, "asset", "%s (invalid at byte %zu)", ASSET_RULE, i);
    }
    size_t scale_start = ++i;
    while (i < len && name_is_digit((unsigned char)s[i])) {
        i++;
    }
    if (i == scale_start) {
        return name_fail(errmsg, what, "asset", "%s (missing scale digits at byte %zu)",
                         ASSET_RULE, i);
    }
    if (i - scale_start > NAME_ASSET_SCALE_MAX) {
        return name_fail(errmsg, what, "asset", "%s (scale longer than %u digits at byte %zu)",
                         ASSET_RULE, NAME_ASSET_SCALE_MAX, scale_start + NAME_ASSET_SCALE_MAX);
    }
    if (i != len) {
        return name_fail(errmsg, what, "asset", "%s (invalid at byte %zu)", ASSET_RULE, i);
    }
    LG_POST(len <= LG_ASSET_BYTES_MAX);
    return LG_OK;
}

/* True when s is exactly "world". */
bool lg_name_is_world(const char *s, size_t len)
{
    return len == sizeof(LG_WORLD) - 1u && memcmp(s, LG_WORLD, len) == 0;
}

/* Offset of the first "*" segment of pattern, or len when there is none. */
static size_t name_first_star(const char *pattern, size_t len)
{
    size_t seg_start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || pattern[i] == ':') {
            if (i - seg_start == 1 && pattern[seg_start] == '*') {
                return seg_start;
            }
            seg_start = i + 1;
        }
    }
    return len;
}

/* True when pattern has at least one "*" segment. */
bool lg_name_pattern_has_wildcard(const char *pattern, size_t len)
{
    LG_PRE(pattern != NULL || len == 0);
    return name_first_star(pattern, len) < len;
}

/* Bytes of pattern before its first "*" segment (the ':' before it included). */
size_t lg_name_pattern_prefix_len(const char *pattern, size_t len)
{
    LG_PRE(pattern != NULL || len == 0);
    size_t n = name_first_star(pattern, len);
    LG_POST(n <= len);
    return n;
}

/* Does addr match pattern: same number of segments, literal segments equal, "*" any one
 * segment? Both are assumed valid; on invalid input the answer is false or a plain
 * segment comparison, never a crash. */
bool lg_name_pattern_match(const char *pattern, size_t plen, const char *addr, size_t alen)
{
    LG_PRE(pattern != NULL || plen == 0);
    LG_PRE(addr != NULL || alen == 0);
    size_t p = 0;
    size_t a = 0;
    for (;;) {
        size_t pe = p;
        while (pe < plen && pattern[pe] != ':') {
            pe++;
        }
        size_t ae = a;
        while (ae < alen && addr[ae] != ':') {
            ae++;
        }
        bool star = pe - p == 1 && pattern[p] == '*';
        size_t seg = pe - p;
        bool equal = seg == ae - a && (seg == 0 || memcmp(pattern + p, addr + a, seg) == 0);
        if (!star && !equal) {
            return false;
        }
        bool pattern_done = pe == plen;
        bool addr_done = ae == alen;
        if (pattern_done || addr_done) {
            return pattern_done && addr_done;
        }
        p = pe + 1;
        a = ae + 1;
    }
}
