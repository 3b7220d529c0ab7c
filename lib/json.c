/* json: a small, bounded JSON reader and a string quoter (see json.h). */
#include "json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assert.h"
#include "err.h"

LG_STATIC_ASSERT(LG_JSON_BYTES_MAX < UINT32_MAX, "string lengths fit in uint32_t");
LG_STATIC_ASSERT(LG_JSON_DEPTH_MAX >= 3u, "a transaction document nests 3 deep");

struct parser {
    const char *s;
    size_t len;
    size_t pos;
    struct lg_arena *arena;
    char *errmsg;
};

/* Report code at byte offset at: "line L, column C (offset O): <fmt>". */
__attribute__((format(printf, 4, 5))) static int parser_fail(const struct parser *p, int code,
                                                             size_t at, const char *fmt, ...)
{
    if (p->errmsg == NULL) {
        return code;
    }
    size_t line = 1;
    size_t col = 1;
    for (size_t i = 0; i < at && i < p->len; i++) {
        if (p->s[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    char what[LG_ERRMSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return lg_errmsg_printf(p->errmsg, code, "line %zu, column %zu (offset %zu): %s", line, col,
                            at, what);
}

static int parser_nomem(const struct parser *p, size_t at)
{
    if (lg_arena_over_budget(p->arena)) {
        return parser_fail(p, LG_ETOOLARGE, at, "document too large for the memory budget");
    }
    return parser_fail(p, LG_ENOMEM, at, "out of memory");
}

static void skip_ws(struct parser *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            return;
        }
        p->pos++;
    }
}

/* A printable description of the character at pos (for messages). */
static void describe_at(const struct parser *p, size_t pos, char out[16])
{
    if (pos >= p->len) {
        memcpy(out, "end of input", 13);
        return;
    }
    unsigned char c = (unsigned char)p->s[pos];
    if (c >= 0x20 && c < 0x7f && c != '\'') {
        snprintf(out, 16, "'%c'", c);
    } else {
        snprintf(out, 16, "byte 0x%02x", c);
    }
}

static int expected(const struct parser *p, const char *what)
{
    char got[16];
    describe_at(p, p->pos, got);
    return parser_fail(p, LG_EBADREQ, p->pos, "expected %s, found %s", what, got);
}

/* Length of the valid UTF-8 sequence at s[0..n) (shortest form, no surrogates, at most
 * U+10FFFF), or 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80) {
        return 1;
    }
    size_t need;
    uint32_t min;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
        need = 2;
        min = 0x80;
        cp = c & 0x1fu;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        min = 0x800;
        cp = c & 0x0fu;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        min = 0x10000;
        cp = c & 0x07u;
    } else {
        return 0;
    }
    if (n < need) {
        return 0;
    }
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xc0u) != 0x80u) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    if (cp < min || cp > 0x10ffffu || (cp >= 0xd800u && cp <= 0xdfffu)) {
        return 0;
    }
    return need;
}

static size_t utf8_put(uint32_t cp, char *out)
{
    if (cp < 0x80u) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800u) {
        out[0] = (char)(0xc0u | (cp >> 6));
        out[1] = (char)(0x80u | (cp & 0x3fu));
        return 2;
    }
    if (cp < 0x10000u) {
        out[0] = (char)(0xe0u | (cp >> 12));
        out[1] = (char)(0x80u | ((cp >> 6) & 0x3fu));
        out[2] = (char)(0x80u | (cp & 0x3fu));
        return 3;
    }
    LG_ASSERT(cp <= 0x10ffffu);
    out[0] = (char)(0xf0u | (cp >> 18));
    out[1] = (char)(0x80u | ((cp >> 12) & 0x3fu));
    out[2] = (char)(0x80u | ((cp >> 6) & 0x3fu));
    out[3] = (char)(0x80u | (cp & 0x3fu));
    return 4;
}

static int hex4(const struct parser *p, size_t at, uint32_t *out)
{
    if (p->len - at < 4) {
        return parser_fail(p, LG_EBADREQ, at, "truncated \\u escape");
    }
    uint32_t v = 0;
    for (size_t i = 0; i < 4; i++) {
        char c = p->s[at + i];
        uint32_t d;
        if (c >= '0' && c <= '9') {
            d = (uint32_t)(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            d = (uint32_t)(c - 'a' + 10);
        } else if (c >= 'A' && c <= 'F') {
            d = (uint32_t)(c - 'A' + 10);
        } else {
            return parser_fail(p, LG_EBADREQ, at + i, "\\u escape needs 4 hex digits");
        }
        v = (v << 4) | d;
    }
    *out = v;
    return LG_OK;
}

/* A string starting at p->pos ('"'): decoded into the arena, NUL-terminated. Decoding never
 * grows the text (an escape of n bytes gives at most n bytes of UTF-8), so the raw length
 * bounds the output. */
static int parse_string(struct parser *p, const char **out, uint32_t *out_len)
{
    LG_PRE(p->s[p->pos] == '"');
    size_t start = p->pos + 1;
    size_t end = start;
    while (end < p->len && p->s[end] != '"') {
        end += p->s[end] == '\\' ? 2u : 1u;
    }
    if (end >= p->len) {
        return parser_fail(p, LG_EBADREQ, p->pos, "unterminated string");
    }
    char *dst = lg_arena_alloc(p->arena, end - start + 1u);
    if (dst == NULL) {
        return parser_nomem(p, p->pos);
    }
    size_t n = 0;
    size_t i = start;
    while (i < end) {
        unsigned char c = (unsigned char)p->s[i];
        if (c < 0x20) {
            return parser_fail(p, LG_EBADREQ, i,
                               "control character 0x%02x in a string (escape it)", c);
        }
        if (c != '\\') {
            size_t k = utf8_seq((const unsigned char *)p->s + i, end - i);
            if (k == 0) {
                return parser_fail(p, LG_EBADREQ, i, "invalid UTF-8 in a string");
            }
            memcpy(dst + n, p->s + i, k);
            n += k;
            i += k;
            continue;
        }
        char e = p->s[i + 1];
        static const char from[] = "\"\\/bfnrt";
        static const char to[] = "\"\\/\b\f\n\r\t";
        const char *hit = e != '\0' ? strchr(from, e) : NULL;
        if (hit != NULL) {
            dst[n++] = to[hit - from];
            i += 2;
            continue;
        }
        if (e != 'u') {
            return parser_fail(p, LG_EBADREQ, i, "unknown escape in a string");
        }
        uint32_t cp;
        int rc = hex4(p, i + 2, &cp);
        if (rc != LG_OK) {
            return rc;
        }
        size_t at = i;
        i += 6;
        if (cp >= 0xdc00u && cp <= 0xdfffu) {
            return parser_fail(p, LG_EBADREQ, at, "lone low surrogate \\u%04x", (unsigned)cp);
        }
        if (cp >= 0xd800u && cp <= 0xdbffu) {
            uint32_t lo = 0;
            if (end - i < 6 || p->s[i] != '\\' || p->s[i + 1] != 'u' ||
                hex4(p, i + 2, &lo) != LG_OK || lo < 0xdc00u || lo > 0xdfffu) {
                return parser_fail(p, LG_EBADREQ, at,
                                   "high surrogate \\u%04x not followed by a low one",
                                   (unsigned)cp);
            }
            cp = 0x10000u + ((cp - 0xd800u) << 10) + (lo - 0xdc00u);
            i += 6;
        }
        n += utf8_put(cp, dst + n);
    }
    LG_ASSERT(n <= end - start);
    dst[n] = '\0';
    *out = dst;
    *out_len = (uint32_t)n;
    p->pos = end + 1;
    return LG_OK;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* A number at p->pos: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, kept as text. */
static int parse_number(struct parser *p, struct lg_json *v)
{
    size_t start = p->pos;
    size_t i = start;
    if (i < p->len && p->s[i] == '-') {
        i++;
    }
    if (i >= p->len || !is_digit(p->s[i])) {
        return parser_fail(p, LG_EBADREQ, i, "a number needs a digit here");
    }
    if (p->s[i] == '0' && i + 1 < p->len && is_digit(p->s[i + 1])) {
        return parser_fail(p, LG_EBADREQ, i, "leading zero in a number");
    }
    while (i < p->len && is_digit(p->s[i])) {
        i++;
    }
    v->integer = true;
    if (i < p->len && p->s[i] == '.') {
        i++;
        if (i >= p->len || !is_digit(p->s[i])) {
            return parser_fail(p, LG_EBADREQ, i, "a fraction needs a digit after '.'");
        }
        while (i < p->len && is_digit(p->s[i])) {
            i++;
        }
        v->integer = false;
    }
    if (i < p->len && (p->s[i] == 'e' || p->s[i] == 'E')) {
        i++;
        if (i < p->len && (p->s[i] == '+' || p->s[i] == '-')) {
            i++;
        }
        if (i >= p->len || !is_digit(p->s[i])) {
            return parser_fail(p, LG_EBADREQ, i, "an exponent needs a digit");
        }
        while (i < p->len && is_digit(p->s[i])) {
            i++;
        }
        v->integer = false;
    }
    char *text = lg_arena_alloc(p->arena, i - start + 1u);
    if (text == NULL) {
        return parser_nomem(p, start);
    }
    memcpy(text, p->s + start, i - start);
    text[i - start] = '\0';
    v->type = LG_JSON_NUMBER;
    v->str = text;
    v->len = (uint32_t)(i - start);
    p->pos = i;
    return LG_OK;
}

static int parse_literal(struct parser *p, struct lg_json *v)
{
    static const struct {
        const char *word;
        uint8_t type;
    } lits[] = {{"null", LG_JSON_NULL}, {"false", LG_JSON_FALSE}, {"true", LG_JSON_TRUE}};
    for (size_t k = 0; k < sizeof lits / sizeof lits[0]; k++) {
        size_t n = strlen(lits[k].word);
        if (p->len - p->pos >= n && memcmp(p->s + p->pos, lits[k].word, n) == 0) {
            v->type = lits[k].type;
            p->pos += n;
            return LG_OK;
        }
    }
    return expected(p, "a value");
}

static int key_cmp(const void *a, const void *b)
{
    const struct lg_json *x = *(const struct lg_json *const *)a;
    const struct lg_json *y = *(const struct lg_json *const *)b;
    uint32_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->key, y->key, n);
    if (c != 0) {
        return c;
    }
    return x->key_len < y->key_len ? -1 : x->key_len > y->key_len ? 1 : 0;
}

/* An object just closed: refuse duplicate keys (sorted copy of the members, O(n log n)). */
static int check_unique_keys(struct parser *p, const struct lg_json *obj)
{
    if (obj->n < 2) {
        return LG_OK;
    }
    const struct lg_json **sorted = lg_arena_calloc(p->arena, obj->n, sizeof *sorted);
    if (sorted == NULL) {
        return parser_nomem(p, obj->offset);
    }
    uint32_t k = 0;
    for (const struct lg_json *m = obj->child; m != NULL; m = m->next) {
        LG_ASSERT(k < obj->n);
        sorted[k++] = m;
    }
    LG_ASSERT(k == obj->n);
    qsort(sorted, k, sizeof *sorted, key_cmp);
    for (uint32_t i = 1; i < k; i++) {
        if (key_cmp(&sorted[i - 1], &sorted[i]) == 0) {
            const struct lg_json *later =
                sorted[i]->offset > sorted[i - 1]->offset ? sorted[i] : sorted[i - 1];
            return parser_fail(p, LG_EBADREQ, later->offset, "duplicate key \"%.*s\"",
                               (int)(later->key_len > 64u ? 64u : later->key_len),
                               later->key);
        }
    }
    return LG_OK;
}

/* After an object's '{' or ',': a key string and ':'. */
static int parse_key(struct parser *p, const char **key, uint32_t *key_len)
{
    skip_ws(p);
    if (p->pos >= p->len || p->s[p->pos] != '"') {
        return expected(p, "a string key");
    }
    int rc = parse_string(p, key, key_len);
    if (rc != LG_OK) {
        return rc;
    }
    skip_ws(p);
    if (p->pos >= p->len || p->s[p->pos] != ':') {
        return expected(p, "':' after an object key");
    }
    p->pos++;
    return LG_OK;
}

int lg_json_parse(const char *text, size_t len, struct lg_arena *arena, struct lg_json **out,
                  char *errmsg)
{
    LG_PRE(arena != NULL && out != NULL);
    LG_PRE(text != NULL || len == 0);
    *out = NULL;
    struct parser p = {text, len, 0, arena, errmsg};
    if (len > LG_JSON_BYTES_MAX) {
        if (errmsg != NULL) {
            lg_errmsg_printf(errmsg, LG_ETOOLARGE, "document of %zu bytes is over the %u byte "
                             "limit", len, LG_JSON_BYTES_MAX);
        }
        return LG_ETOOLARGE;
    }
    struct lg_json *stack[LG_JSON_DEPTH_MAX];
    struct lg_json *tail[LG_JSON_DEPTH_MAX];
    uint32_t depth = 0;
    struct lg_json *root = NULL;
    const char *key = NULL;
    uint32_t key_len = 0;
    int rc = LG_OK;

    skip_ws(&p);
    for (;;) {
        /* A value at p.pos, to become root or the next child of stack[depth - 1]. */
        if (p.pos >= p.len) {
            return expected(&p, "a value");
        }
        struct lg_json *v = lg_arena_calloc(arena, 1, sizeof *v);
        if (v == NULL) {
            return parser_nomem(&p, p.pos);
        }
        v->offset = p.pos;
        v->key = key;
        v->key_len = key_len;
        key = NULL;
        key_len = 0;
        char c = p.s[p.pos];
        bool opened = false;
        rc = LG_OK;
        if (c == '{' || c == '[') {
            if (depth == LG_JSON_DEPTH_MAX) {
                return parser_fail(&p, LG_ETOOLARGE, p.pos, "nested deeper than %u levels",
                                   LG_JSON_DEPTH_MAX);
            }
            v->type = c == '{' ? LG_JSON_OBJECT : LG_JSON_ARRAY;
            p.pos++;
            opened = true;
        } else if (c == '"') {
            v->type = LG_JSON_STRING;
            rc = parse_string(&p, &v->str, &v->len);
        } else if (c == '-' || is_digit(c)) {
            rc = parse_number(&p, v);
        } else {
            rc = parse_literal(&p, v);
        }
        if (!opened && rc != LG_OK) {
            return rc;
        }
        /* Attach. */
        if (depth == 0) {
            root = v;
        } else {
            struct lg_json *parent = stack[depth - 1];
            if (tail[depth - 1] == NULL) {
                parent->child = v;
            } else {
                tail[depth - 1]->next = v;
            }
            tail[depth - 1] = v;
            parent->n++;
        }
        if (opened) {
            stack[depth] = v;
            tail[depth] = NULL;
            depth++;
            skip_ws(&p);
            char close = v->type == LG_JSON_OBJECT ? '}' : ']';
            if (p.pos < p.len && p.s[p.pos] == close) {
                p.pos++;
                depth--;
            } else if (v->type == LG_JSON_OBJECT) {
                rc = parse_key(&p, &key, &key_len);
                if (rc != LG_OK) {
                    return rc;
                }
                skip_ws(&p);
                continue;
            } else {
                continue;
            }
        }
        /* A value ended: close containers, or go on to the next element. */
        for (;;) {
            skip_ws(&p);
            if (depth == 0) {
                if (p.pos != p.len) {
                    return expected(&p, "end of input after the document");
                }
                LG_POST(root != NULL);
                *out = root;
                return LG_OK;
            }
            struct lg_json *parent = stack[depth - 1];
            char close = parent->type == LG_JSON_OBJECT ? '}' : ']';
            if (p.pos < p.len && p.s[p.pos] == close) {
                p.pos++;
                depth--;
                if (parent->type == LG_JSON_OBJECT) {
                    rc = check_unique_keys(&p, parent);
                    if (rc != LG_OK) {
                        return rc;
                    }
                }
                continue;
            }
            if (p.pos < p.len && p.s[p.pos] == ',') {
                p.pos++;
                if (parent->type == LG_JSON_OBJECT) {
                    rc = parse_key(&p, &key, &key_len);
                    if (rc != LG_OK) {
                        return rc;
                    }
                }
                skip_ws(&p);
                break;
            }
            return expected(&p, parent->type == LG_JSON_OBJECT ? "',' or '}'" : "',' or ']'");
        }
    }
}

const char *lg_json_type_name(int type)
{
    switch (type) {
    case LG_JSON_NULL:
        return "null";
    case LG_JSON_FALSE:
    case LG_JSON_TRUE:
        return "boolean";
    case LG_JSON_NUMBER:
        return "number";
    case LG_JSON_STRING:
        return "string";
    case LG_JSON_ARRAY:
        return "array";
    case LG_JSON_OBJECT:
        return "object";
    default:
        return "?";
    }
}

const struct lg_json *lg_json_member(const struct lg_json *obj, const char *key)
{
    LG_PRE(key != NULL);
    if (obj == NULL || obj->type != LG_JSON_OBJECT) {
        return NULL;
    }
    size_t n = strlen(key);
    for (const struct lg_json *m = obj->child; m != NULL; m = m->next) {
        if (m->key_len == n && memcmp(m->key, key, n) == 0) {
            return m;
        }
    }
    return NULL;
}

static int reason(char *errmsg, int code, const char *why)
{
    if (errmsg != NULL) {
        lg_errmsg_printf(errmsg, code, "%s", why);
    }
    return code;
}

int lg_json_amount(const struct lg_json *v, lg_u128 *out, char *errmsg)
{
    LG_PRE(v != NULL && out != NULL);
    if (v->type == LG_JSON_NUMBER) {
        if (!v->integer) {
            return reason(errmsg, LG_EBADREQ,
                          "must be an integer (no fraction or exponent; amounts are in the "
                          "asset's smallest unit)");
        }
        if (v->str[0] == '-') {
            return reason(errmsg, LG_EBADREQ, "must not be negative");
        }
    } else if (v->type != LG_JSON_STRING) {
        return reason(errmsg, LG_EBADREQ, "must be an integer or a string of decimal digits");
    }
    int rc = lg_amount_parse(v->str, v->len, out);
    if (rc == LG_EOVERFLOW) {
        return reason(errmsg, rc, "above 2^128 - 1");
    }
    if (rc != LG_OK) {
        return reason(errmsg, LG_EBADREQ,
                      "must be decimal digits without sign, spaces or leading zeros");
    }
    return LG_OK;
}

int lg_json_u64(const struct lg_json *v, uint64_t *out, char *errmsg)
{
    LG_PRE(v != NULL && out != NULL);
    if (v->type != LG_JSON_NUMBER || !v->integer) {
        return reason(errmsg, LG_EBADREQ, "must be an integer");
    }
    if (v->str[0] == '-') {
        return reason(errmsg, LG_EBADREQ, "must not be negative");
    }
    lg_u128 x;
    int rc = lg_amount_parse(v->str, v->len, &x);
    if (rc == LG_OK && x > UINT64_MAX) {
        rc = LG_EOVERFLOW;
    }
    if (rc == LG_EOVERFLOW) {
        return reason(errmsg, rc, "above 2^64 - 1");
    }
    if (rc != LG_OK) {
        return reason(errmsg, LG_EBADREQ, "must be an integer");
    }
    *out = (uint64_t)x;
    return LG_OK;
}

bool lg_json_quote(struct lg_buf *b, const char *s, size_t len)
{
    LG_PRE(b != NULL);
    LG_PRE(s != NULL || len == 0);
    static const char hex[] = "0123456789abcdef";
    if (!lg_buf_append(b, "\"", 1)) {
        return false;
    }
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        /* Copy a run of bytes that need no escape in one append. */
        size_t run = i;
        while (run < len) {
            unsigned char r = (unsigned char)s[run];
            if (r < 0x20 || r == '"' || r == '\\' || r >= 0x80) {
                break;
            }
            run++;
        }
        if (run > i) {
            if (!lg_buf_append(b, s + i, run - i)) {
                return false;
            }
            i = run;
            continue;
        }
        char esc[8];
        size_t n;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            n = 2;
        } else if (c == '\n' || c == '\t' || c == '\r') {
            esc[0] = '\\';
            esc[1] = c == '\n' ? 'n' : c == '\t' ? 't' : 'r';
            n = 2;
        } else if (c < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15u];
            n = 6;
        } else {
            size_t k = utf8_seq((const unsigned char *)s + i, len - i);
            if (k != 0) {
                if (!lg_buf_append(b, s + i, k)) {
                    return false;
                }
                i += k;
                continue;
            }
            memcpy(esc, "\xef\xbf\xbd", 3); /* U+FFFD for one invalid byte */
            n = 3;
        }
        if (!lg_buf_append(b, esc, n)) {
            return false;
        }
        i++;
    }
    return lg_buf_append(b, "\"", 1);
}
