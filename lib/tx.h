/* tx: the parts of a transaction (postings, metadata, reference, conditions) as carried by
 * both codecs (fsm/codec.c, the canonical internal encoding; lib/proto.c, the client wire
 * protocol), and their validation with messages naming the field path.
 *
 * Values are views: strings are (pointer, length), not NUL-terminated, and may hold any
 * bytes; nothing here allocates or keeps a pointer. Bad values are answered with a code
 * (LG_EBADREQ, LG_ETOOLARGE) and "<path>: <reason>" in the context's errmsg, never
 * asserted; the only assertions are on the caller's arguments (a NULL array with n > 0).
 *
 * Field paths: a context carries a prefix ("cmds[3]", "txs[2]", "record" or "") and every
 * message names "<prefix>.<field>" ("cmds[3].postings[1].asset: ..."), the field alone
 * when the prefix is empty. Paths are bounded; one too long for its buffer is cut short,
 * which only shortens a message. */
#ifndef LG_TX_H
#define LG_TX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "amount.h"
#include "err.h"
#include "limits.h"

/* A string view: len bytes at ptr, not NUL-terminated. len 0 = empty or absent. */
struct lg_str {
    const char *ptr;
    uint32_t len;
};

struct lg_posting {
    struct lg_str source;
    struct lg_str destination;
    lg_u128 amount; /* > 0 */
    struct lg_str asset;
};

struct lg_kv {
    struct lg_str key;
    struct lg_str value;
};

enum lg_cond_kind {
    LG_COND_VERSION = 1,     /* account.version == version */
    LG_COND_MIN_BALANCE = 2, /* balance(account, asset) >= min (min is >= 0) */
};

struct lg_condition {
    uint8_t kind; /* enum lg_cond_kind */
    struct lg_str account;
    struct lg_str asset;   /* LG_COND_MIN_BALANCE only */
    uint64_t version;      /* LG_COND_VERSION only */
    lg_u128 min;           /* LG_COND_MIN_BALANCE only */
};

/* Room for a path prefix: "cmds[4294967295]" and "txs[4294967295]" fit. */
#define LG_TX_PREFIX_BYTES 32u
/* Room for a full field path in a message. */
#define LG_TX_PATH_BYTES 128u
/* lg_tx_quote's output: 40 bytes, "..." and the NUL. */
#define LG_TX_QUOTE_BYTES 64u

/* Where messages go and how field paths start. */
struct lg_tx_ctx {
    char *errmsg;                     /* LG_ERRMSG_SIZE bytes, never NULL */
    char prefix[LG_TX_PREFIX_BYTES]; /* without the trailing '.'; "" for none */
};

/* A context is initialised in place: `struct lg_tx_ctx c = {errmsg, ""}` or
 * `{errmsg, "record"}`. */

/* Replace the prefix (printf). */
void lg_tx_ctx_prefix(struct lg_tx_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Replace the prefix with name[i] (what lg_tx_ctx_prefix(c, "%s[%u]", name, i) gives, without
 * printf: it runs once per command of every entry on every node). */
void lg_tx_ctx_prefix_index(struct lg_tx_ctx *c, const char *name, uint32_t i);

/* printf into a bounded path buffer of size bytes; a path too long is cut short. Through
 * vsnprintf, so -Wformat-truncation (-O3) does not flag a cut that only shortens a message. */
void lg_tx_path_printf(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Write "<prefix>.<field>" (field a printf format, may give "") into out (n bytes). */
void lg_tx_path(const struct lg_tx_ctx *c, char *out, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Fail with "<path>: <reason>" (just the reason when the path is empty). Returns code. */
int lg_tx_fail(const struct lg_tx_ctx *c, int code, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Fail with "<path>: " then a printf reason; field is the literal field name. Returns code. */
int lg_tx_failf(const struct lg_tx_ctx *c, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A lib/name.h checker: lg_name_check_ledger, _address, _asset, _pattern. */
typedef int (*lg_tx_name_fn)(const char *s, size_t len, const char *what, char *errmsg);

/* Validate s with fn; on failure the message names the printf field path. */
int lg_tx_check_name(const struct lg_tx_ctx *c, lg_tx_name_fn fn, struct lg_str s,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Order of two strings by bytes (a prefix sorts first): <0, 0, >0. */
int lg_tx_str_cmp(struct lg_str a, struct lg_str b);
bool lg_tx_str_eq(struct lg_str a, struct lg_str b);

/* At most 40 bytes of s for a message, printable ASCII only (others and '"' become '?'),
 * "..." when cut. out has LG_TX_QUOTE_BYTES bytes. */
void lg_tx_quote(struct lg_str s, char *out);

/* Is s valid UTF-8 (shortest forms, no surrogates, at most U+10FFFF)? */
bool lg_tx_utf8_valid(const void *s, size_t len);

/* Sort metadata by key into idx (n <= LG_METADATA_ENTRIES_MAX entries). Returns the
 * position in idx of the first duplicate key, or n when keys are unique. */
uint32_t lg_tx_metadata_order(const struct lg_kv *kv, uint32_t n, uint8_t *idx);

enum lg_tx_meta_order {
    LG_TX_META_ANY = 0,    /* any order, keys unique */
    LG_TX_META_SORTED = 1, /* canonical: keys strictly increasing by bytes */
};

/* Metadata named field: at most LG_METADATA_ENTRIES_MAX entries, keys 1..
 * LG_METADATA_KEY_BYTES_MAX bytes, values up to LG_METADATA_VALUE_BYTES_MAX, both UTF-8,
 * keys unique (and sorted, with LG_TX_META_SORTED). */
int lg_tx_check_metadata(const struct lg_tx_ctx *c, const struct lg_kv *kv, uint32_t n,
                         enum lg_tx_meta_order order, const char *field);

/* Postings: 1..LG_POSTINGS_MAX, valid addresses and asset, amount > 0,
 * source != destination. */
int lg_tx_check_postings(const struct lg_tx_ctx *c, const struct lg_posting *p, uint32_t n);

/* A token named field: at most max printable ASCII bytes (len 0: absent). */
int lg_tx_check_token(const struct lg_tx_ctx *c, struct lg_str s, uint32_t max,
                      const char *field);

/* A reference: a token of at most LG_REFERENCE_BYTES_MAX bytes. */
int lg_tx_check_reference(const struct lg_tx_ctx *c, struct lg_str r);

/* Conditions: at most LG_CONDITIONS_MAX, known kinds, valid account (and asset). */
int lg_tx_check_conditions(const struct lg_tx_ctx *c, const struct lg_condition *cond,
                           uint32_t n);

#endif /* LG_TX_H */
