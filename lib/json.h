/* json: a small, bounded JSON reader (RFC 8259) for the command line's input (`ledger-node
 * submit`), and a string quoter for its --json output.
 *
 * Why here and not a library: no JSON package is on the project's allowed list
 * (libjansson-dev is proposed); this reader does only what the CLI needs, with bounds.
 *
 * Reading: lg_json_parse() turns one document into a tree of struct lg_json allocated
 * from the caller's arena. Bounds: the input is at most LG_JSON_BYTES_MAX bytes, containers
 * nest at most LG_JSON_DEPTH_MAX levels, and every allocation counts toward the arena's
 * budget. The parser never recurses: containers open and close on an explicit stack.
 * Strict: no comments, no trailing commas, no leading zeros, no NaN/Infinity, strings valid
 * UTF-8 without raw control characters, lone surrogates refused, duplicate object keys
 * refused (a financial document must not mean two things), nothing after the document but
 * whitespace.
 *
 * Numbers are kept as the text written, never converted to double: an amount up to
 * 2^128 - 1 parses exactly (lg_json_amount), and a fraction or exponent is recognised and
 * refused where an integer belongs.
 *
 * Errors: LG_EBADREQ (syntax) or LG_ETOOLARGE (size, depth, arena budget), with a message
 * "line L, column C (offset O): <what>" in errmsg (LG_ERRMSG_SIZE bytes).
 *
 * Ownership: the tree and every string in it live in the arena until its reset or close;
 * nothing points into the input, which may be freed after the call. */
#ifndef LG_JSON_H
#define LG_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "amount.h"
#include "arena.h"
#include "buf.h"

/* Nesting of arrays and objects. A transaction document needs 3 (document > postings >
 * posting); 32 leaves room and bounds the parser's stack. */
#define LG_JSON_DEPTH_MAX 32u
/* Input size: one wire frame's worth (DESIGN §8), since the document becomes one request. */
#define LG_JSON_BYTES_MAX (16u * 1024u * 1024u)

enum lg_json_type {
    LG_JSON_NULL = 1,
    LG_JSON_FALSE,
    LG_JSON_TRUE,
    LG_JSON_NUMBER,
    LG_JSON_STRING,
    LG_JSON_ARRAY,
    LG_JSON_OBJECT,
};

/* One value. Siblings form a list through next; an array's or object's children start at
 * child, n of them, in document order. */
struct lg_json {
    uint8_t type;          /* enum lg_json_type */
    bool integer;          /* NUMBER: no fraction and no exponent */
    uint32_t n;            /* ARRAY, OBJECT: number of children */
    const char *str;       /* STRING: decoded UTF-8 (may hold NUL bytes), NUL-terminated;
                            * NUMBER: the text as written; else NULL */
    uint32_t len;          /* bytes at str, without the terminating NUL */
    const char *key;       /* a member of an OBJECT: its decoded key; else NULL */
    uint32_t key_len;
    size_t offset;         /* byte offset of the value's first character in the input */
    struct lg_json *child; /* ARRAY, OBJECT: first child; else NULL */
    struct lg_json *next;  /* next sibling; NULL for the last */
};

/* Parse len bytes of text (not NUL-terminated) into *out. Returns LG_OK, LG_EBADREQ
 * (syntax, encoding, duplicate key), LG_ETOOLARGE (len above LG_JSON_BYTES_MAX, nesting
 * deeper than LG_JSON_DEPTH_MAX, the arena's budget exhausted) or LG_ENOMEM. On error *out
 * is NULL and errmsg says where and what. */
int lg_json_parse(const char *text, size_t len, struct lg_arena *arena, struct lg_json **out,
                  char *errmsg);

/* "null", "boolean", "number", "string", "array", "object" (for messages). Never NULL. */
const char *lg_json_type_name(int type);

/* The member of object obj named key (NUL-terminated), or NULL (also when obj is not an
 * object). Keys are unique, so there is at most one. */
const struct lg_json *lg_json_member(const struct lg_json *obj, const char *key);

/* An amount (u128, DESIGN §5) from a JSON integer or a string of decimal digits. Returns
 * LG_OK; LG_EBADREQ ("must be an integer": a fraction or exponent; "must not be negative";
 * not a number or string; a string that is not plain decimal digits) or LG_EOVERFLOW
 * (above 2^128 - 1). errmsg (may be NULL) gets the reason without a field name. */
int lg_json_amount(const struct lg_json *v, lg_u128 *out, char *errmsg);

/* An unsigned 64-bit integer from a JSON integer. LG_OK, LG_EBADREQ, LG_EOVERFLOW. */
int lg_json_u64(const struct lg_json *v, uint64_t *out, char *errmsg);

/* Append s (len bytes) to b as a quoted JSON string: '"', '\\' and control characters
 * escaped, valid UTF-8 copied, each byte of an invalid sequence written as U+FFFD (so the
 * output is always valid JSON). Returns false when out of memory (b may then hold part). */
bool lg_json_quote(struct lg_buf *b, const char *s, size_t len);

#endif /* LG_JSON_H */
