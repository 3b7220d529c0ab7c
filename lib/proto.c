/* proto: client protocol requests and responses (DESIGN §8), both directions.
 *
 * Decoding is a small bounded reader over the frame body (lib/mpread.h, LG_MPREAD_ANY):
 * it accepts every msgpack form of a value (clients' libraries differ in integer widths),
 * bounds every count by the limits and by the bytes left before allocating, and never
 * recurses: request shapes are fixed, and skipping an unknown value walks an explicit
 * stack of LG_PROTO_DEPTH_MAX levels. A request map is read twice: first for "id" and
 * "op" (keys come in any order), then for the op's arguments; when "op" precedes the
 * arguments, as encoders write it, one pass reaches the same verdict and message (pass 1's
 * skip walks a whole batch). Paths in messages ("txs[2].postings[0].amount") are formatted
 * only on the way to failing, never for each item decoded. One validator (lib/tx.h for a
 * transaction's parts) serves the decoder and the request encoder, so a value gets the
 * same verdict and message on both sides. Encoding uses msgpack-c's packer (shortest
 * forms). */
#include "proto.h"

#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assert.h"
#include "frame.h"
#include "mpread.h"
#include "name.h"

/* ---------------------------------------------------------------------------------------
 * Names */

static const char *const op_names[LG_PROTO_OP_COUNT] = {
    "", "ping", "status", "submit", "submit_batch", "get_tx", "list_txs", "account",
    "balances", "digest", "members", "read_index", "journal_read", "proof", "consistency",
};

static const char *const role_names[LG_PROTO_ROLE_COUNT] = {
    "leader", "follower", "candidate", "standby", "spare",
};

static const char *const consistency_names[] = {"", "stale", "after", "linearizable"};
static const char *const order_names[] = {"", "asc", "desc"};

/* Name of an op. */
const char *lg_proto_op_name(int op)
{
    return op > 0 && op < LG_PROTO_OP_COUNT ? op_names[op] : "";
}

static bool str_is(const char *s, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    return n == len && memcmp(s, lit, n) == 0;
}

/* Index of s in names[0..n), or -1 (entries "" never match). */
static int name_index(const char *s, size_t len, const char *const *names, int n)
{
    for (int i = 0; i < n; i++) {
        if (names[i][0] != '\0' && str_is(s, len, names[i])) {
            return i;
        }
    }
    return -1;
}

/* Op named by s. */
int lg_proto_op_from_name(const char *s, size_t len)
{
    LG_PRE(s != NULL || len == 0);
    int i = name_index(s, len, op_names, LG_PROTO_OP_COUNT);
    return i < 0 ? LG_PROTO_OP_NONE : i;
}

/* Name of a role. */
const char *lg_proto_role_name(int role)
{
    return role >= 0 && role < LG_PROTO_ROLE_COUNT ? role_names[role] : "";
}

/* ---------------------------------------------------------------------------------------
 * Validation (shared by the request decoder and encoder; a transaction's parts: lib/tx.h).
 * The context's prefix is "txs[i]" inside a batch, else "". */

static int check_submit(const struct lg_tx_ctx *c, const struct lg_proto_submit *s)
{
    int rc = lg_tx_check_name(c, lg_name_check_ledger, s->ledger, "ledger");
    if (rc == LG_OK) {
        rc = lg_tx_check_postings(c, s->postings, s->n_postings);
    }
    if (rc == LG_OK) {
        rc = lg_tx_check_metadata(c, s->metadata, s->n_metadata, LG_TX_META_ANY, "metadata");
    }
    if (rc == LG_OK) {
        rc = lg_tx_check_reference(c, s->reference);
    }
    if (rc == LG_OK) {
        rc = lg_tx_check_conditions(c, s->conditions, s->n_conditions);
    }
    return rc;
}

static bool op_is_read(int op)
{
    return op == LG_PROTO_OP_GET_TX || op == LG_PROTO_OP_LIST_TXS ||
           op == LG_PROTO_OP_ACCOUNT || op == LG_PROTO_OP_BALANCES || op == LG_PROTO_OP_DIGEST ||
           op == LG_PROTO_OP_PROOF || op == LG_PROTO_OP_CONSISTENCY;
}

static int check_read(const struct lg_tx_ctx *c, const struct lg_proto_request *q)
{
    if (q->consistency > LG_PROTO_READ_LINEARIZABLE) {
        return lg_tx_fail(c, LG_EBADREQ, "must be \"stale\", \"after\" or \"linearizable\"",
                          "consistency");
    }
    if (q->consistency != LG_PROTO_READ_DEFAULT && !op_is_read(q->op)) {
        return lg_tx_failf(c, LG_EBADREQ, "consistency", "not an argument of %s",
                           lg_proto_op_name(q->op));
    }
    if (q->consistency != LG_PROTO_READ_AFTER && q->after_index != 0) {
        return lg_tx_fail(c, LG_EBADREQ, "only with consistency \"after\"", "after_index");
    }
    return LG_OK;
}

static int check_request(const struct lg_tx_ctx *c0, const struct lg_proto_request *q)
{
    struct lg_tx_ctx c = *c0;
    int rc = check_read(&c, q);
    if (rc != LG_OK) {
        return rc;
    }
    switch (q->op) {
    case LG_PROTO_OP_PING:
    case LG_PROTO_OP_STATUS:
    case LG_PROTO_OP_DIGEST:
    case LG_PROTO_OP_MEMBERS:
    case LG_PROTO_OP_READ_INDEX:
        return LG_OK;
    case LG_PROTO_OP_SUBMIT:
        return check_submit(&c, &q->u.submit);
    case LG_PROTO_OP_PROOF: {
        const struct lg_proto_proof_req *f = &q->u.proof;
        if (f->seq == 0) {
            return lg_tx_fail(&c, LG_EBADREQ, "must be greater than 0 (records are numbered "
                              "from 1)", "seq");
        }
        if (f->has_tree_size && f->seq > f->tree_size) {
            return lg_tx_failf(&c, LG_EBADREQ, "seq", "%llu is beyond tree_size %llu",
                               (unsigned long long)f->seq, (unsigned long long)f->tree_size);
        }
        return LG_OK;
    }
    case LG_PROTO_OP_CONSISTENCY: {
        const struct lg_proto_consistency_req *k = &q->u.consistency;
        if (k->from_size == 0) {
            return lg_tx_fail(&c, LG_EBADREQ, "must be greater than 0 (every tree extends "
                              "the empty one)", "from_size");
        }
        if (k->from_size > k->to_size) {
            return lg_tx_failf(&c, LG_EBADREQ, "from_size", "%llu is greater than to_size %llu",
                               (unsigned long long)k->from_size,
                               (unsigned long long)k->to_size);
        }
        return LG_OK;
    }
    case LG_PROTO_OP_JOURNAL_READ: {
        const struct lg_proto_journal_read *j = &q->u.journal_read;
        if (j->from_seq == 0) {
            return lg_tx_fail(&c, LG_EBADREQ, "must be greater than 0", "from_seq");
        }
        if (j->max_bytes > LG_PROTO_JOURNAL_READ_BYTES_MAX) {
            return lg_tx_failf(&c, LG_ETOOLARGE, "max_bytes", "%u, at most %u", j->max_bytes,
                               LG_PROTO_JOURNAL_READ_BYTES_MAX);
        }
        return LG_OK;
    }
    case LG_PROTO_OP_SUBMIT_BATCH: {
        const struct lg_proto_submit_batch *b = &q->u.batch;
        if (b->n_txs == 0) {
            return lg_tx_fail(&c, LG_EBADREQ, "must not be empty", "txs");
        }
        if (b->n_txs > LG_PROTO_BATCH_TXS_MAX) {
            return lg_tx_failf(&c, LG_ETOOLARGE, "txs", "%u transactions, at most %u", b->n_txs,
                               LG_PROTO_BATCH_TXS_MAX);
        }
        for (uint32_t i = 0; i < b->n_txs; i++) {
            rc = check_submit(&c, &b->txs[i]);
            if (rc != LG_OK) {
                /* Name the transaction only when one fails: validation is pure, so a
                 * second check with the prefix "txs[i]" writes the same verdict's message
                 * (no prefix formatted for each of a batch's valid transactions). */
                lg_tx_ctx_prefix(&c, "txs[%u]", i);
                int again = check_submit(&c, &b->txs[i]);
                LG_ASSERT(again == rc);
                return again;
            }
        }
        return LG_OK;
    }
    case LG_PROTO_OP_GET_TX: {
        const struct lg_proto_get_tx *g = &q->u.get_tx;
        rc = lg_tx_check_name(&c, lg_name_check_ledger, g->ledger, "ledger");
        if (rc == LG_OK && g->by_reference) {
            if (g->reference.len == 0) {
                return lg_tx_fail(&c, LG_EBADREQ, "must not be empty", "reference");
            }
            rc = lg_tx_check_reference(&c, g->reference);
        }
        return rc;
    }
    case LG_PROTO_OP_LIST_TXS: {
        const struct lg_proto_list_txs *l = &q->u.list_txs;
        rc = lg_tx_check_name(&c, lg_name_check_ledger, l->ledger, "ledger");
        if (rc == LG_OK && l->account.len != 0) {
            rc = lg_tx_check_name(&c, lg_name_check_address, l->account, "account");
        }
        if (rc == LG_OK && l->has_from_ts && l->has_to_ts && l->from_ts > l->to_ts) {
            rc = lg_tx_fail(&c, LG_EBADREQ, "must not be after to_ts", "from_ts");
        }
        if (rc == LG_OK && l->order > LG_PROTO_ORDER_DESC) {
            rc = lg_tx_fail(&c, LG_EBADREQ, "must be \"asc\" or \"desc\"", "order");
        }
        if (rc == LG_OK && l->limit > LG_PAGE_LIMIT_MAX) {
            rc = lg_tx_failf(&c, LG_ETOOLARGE, "limit", "%u, at most %u", l->limit,
                             LG_PAGE_LIMIT_MAX);
        }
        if (rc == LG_OK) {
            rc = lg_tx_check_token(&c, l->cursor, LG_PROTO_CURSOR_BYTES_MAX, "cursor");
        }
        return rc;
    }
    case LG_PROTO_OP_ACCOUNT:
        rc = lg_tx_check_name(&c, lg_name_check_ledger, q->u.account.ledger, "ledger");
        if (rc == LG_OK) {
            rc = lg_tx_check_name(&c, lg_name_check_address, q->u.account.address, "address");
        }
        return rc;
    case LG_PROTO_OP_BALANCES: {
        const struct lg_proto_balances_req *b = &q->u.balances;
        rc = lg_tx_check_name(&c, lg_name_check_ledger, b->ledger, "ledger");
        if (rc == LG_OK && (b->address.len == 0) == (b->pattern.len == 0)) {
            rc = lg_tx_fail(&c, LG_EBADREQ, "give exactly one of address and pattern", "address");
        }
        if (rc == LG_OK && b->address.len != 0) {
            rc = lg_tx_check_name(&c, lg_name_check_address, b->address, "address");
        }
        if (rc == LG_OK && b->pattern.len != 0) {
            rc = lg_tx_check_name(&c, lg_name_check_pattern, b->pattern, "pattern");
        }
        if (rc == LG_OK && b->asset.len != 0) {
            rc = lg_tx_check_name(&c, lg_name_check_asset, b->asset, "asset");
        }
        return rc;
    }
    default:
        return lg_errmsg_printf(c.errmsg, LG_EUNKNOWNOP, "op: unknown operation %u", q->op);
    }
}

/* Validate a request as the decoder would. */
int lg_proto_check_request(const struct lg_proto_request *req, char *errmsg)
{
    LG_PRE(req != NULL);
    char local[LG_ERRMSG_SIZE];
    struct lg_tx_ctx c = {errmsg != NULL ? errmsg : local, ""};
    return check_request(&c, req);
}

/* ---------------------------------------------------------------------------------------
 * Reader: every msgpack form accepted, every length bounded */

/* The reader is lib/mpread.h's, accepting every form. */
enum {
    RD_BADTEXT = LG_MPREAD_USER, /* a decimal string that is not one */
    RD_OVERFLOW,                 /* an amount above 2^128 - 1 (or a balance outside i128) */
};

LG_STATIC_ASSERT(LG_PROTO_DEPTH_MAX <= LG_MPREAD_DEPTH_MAX, "lg_mpread_skip walks the depth");

static int rd_uint(struct lg_mpread *r, uint64_t *v)
{
    return lg_mpread_uint(r, LG_MPREAD_ANY, v);
}

static bool rd_is_str(const struct lg_mpread *r)
{
    return r->p < r->end &&
           ((*r->p >= 0xa0 && *r->p <= 0xbf) || *r->p == 0xd9 || *r->p == 0xda || *r->p == 0xdb);
}

static bool rd_is_nil(const struct lg_mpread *r)
{
    return r->p < r->end && *r->p == 0xc0;
}

/* A string, as a view into the input. */
static int rd_str(struct lg_mpread *r, struct lg_str *s)
{
    return lg_mpread_str(r, LG_MPREAD_ANY, &s->ptr, &s->len);
}

static int rd_array(struct lg_mpread *r, uint32_t *n)
{
    return lg_mpread_array(r, LG_MPREAD_ANY, n);
}

static int rd_map(struct lg_mpread *r, uint32_t *n)
{
    return lg_mpread_map(r, LG_MPREAD_ANY, n);
}

static int rd_bool(struct lg_mpread *r, bool *v)
{
    if (r->p == r->end) {
        return LG_MPREAD_TRUNCATED;
    }
    if (*r->p != 0xc2 && *r->p != 0xc3) {
        return LG_MPREAD_TYPE;
    }
    *v = *r->p == 0xc3;
    r->p++;
    return LG_MPREAD_OK;
}

/* An amount: an unsigned integer, or a decimal string (any u128). */
static int rd_amount(struct lg_mpread *r, lg_u128 *v)
{
    if (rd_is_str(r)) {
        struct lg_str s;
        int st = rd_str(r, &s);
        if (st != LG_MPREAD_OK) {
            return st;
        }
        int rc = lg_amount_parse(s.ptr, s.len, v);
        return rc == LG_OK ? LG_MPREAD_OK : rc == LG_EOVERFLOW ? RD_OVERFLOW : RD_BADTEXT;
    }
    uint64_t x;
    int st = rd_uint(r, &x);
    if (st == LG_MPREAD_OK) {
        *v = x;
    }
    return st;
}

/* A balance: any integer, or a signed decimal string. */
static int rd_balance(struct lg_mpread *r, lg_i128 *v)
{
    if (rd_is_str(r)) {
        struct lg_str s;
        int st = rd_str(r, &s);
        if (st != LG_MPREAD_OK) {
            return st;
        }
        int rc = lg_amount_parse_signed(s.ptr, s.len, v);
        return rc == LG_OK ? LG_MPREAD_OK : rc == LG_EOVERFLOW ? RD_OVERFLOW : RD_BADTEXT;
    }
    bool neg;
    uint64_t x;
    int st = lg_mpread_integer(r, &neg, &x);
    if (st == LG_MPREAD_OK) {
        *v = neg ? (lg_i128)(int64_t)x : (lg_i128)x;
    }
    return st;
}

/* ---------------------------------------------------------------------------------------
 * Decoder helpers */

struct dec {
    struct lg_mpread r;
    struct lg_arena *arena;
    struct lg_tx_ctx c;
    int op;             /* response decoding: the op whose result is expected */
    uint32_t last_seen; /* response decoding: fields seen by the last dec_fields */
    bool in_tx;         /* request decoding: inside submit_batch's txs[tx] */
    uint32_t tx;
};

/* The context for a message about to be written. Inside a batch's transaction the prefix
 * "txs[i]" is formatted here, on the way to failing, rather than for every transaction. */
static const struct lg_tx_ctx *dec_ctx(struct dec *d)
{
    if (d->in_tx) {
        lg_tx_ctx_prefix(&d->c, "txs[%u]", d->tx);
    }
    return &d->c;
}

static const char *rd_reason(int st, const char *want)
{
    switch (st) {
    case LG_MPREAD_TRUNCATED:
        return "truncated";
    case LG_MPREAD_NEGATIVE:
        return "must not be negative";
    case RD_BADTEXT:
        return "must be a decimal string of digits (no sign, spaces or leading zeros)";
    case RD_OVERFLOW:
        return "exceeds 2^128 - 1";
    case LG_MPREAD_DEEP:
        return "nested too deeply";
    case LG_MPREAD_BADBYTE:
        return "invalid msgpack byte 0xc1";
    default:
        return want;
    }
}

/* Fail on reader status st at the printf path. */
static int dec_fail_rd(struct dec *d, int st, const char *want, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int dec_fail_rd(struct dec *d, int st, const char *want, const char *fmt, ...)
{
    char path[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    int code = st == RD_OVERFLOW ? LG_EOVERFLOW : LG_EBADREQ;
    return lg_tx_fail(dec_ctx(d), code, rd_reason(st, want), "%s", path);
}

/* Fail on reader status st at "<field>.<key>", the key quoted (a map's value). */
static int dec_fail_rd_key(struct dec *d, int st, const char *want, const char *field,
                           struct lg_str key)
{
    char q[LG_TX_QUOTE_BYTES];
    lg_tx_quote(key, q);
    return field[0] == '\0' ? dec_fail_rd(d, st, want, "%s", q)
                            : dec_fail_rd(d, st, want, "%s.%s", field, q);
}

#define D_READ(d, call, want, ...)                                            \
    do {                                                                      \
        int st_ = (call);                                                     \
        if (st_ != LG_MPREAD_OK) {                                                   \
            return dec_fail_rd((d), st_, (want), __VA_ARGS__);                \
        }                                                                     \
    } while (0)
/* Mark field i of a map seen; a second time is a duplicate key, named by the printf path
 * (formatted only then). */
#define D_SEEN(d, seen, i, ...)                                                            \
    do {                                                                                   \
        LG_ASSERT((i) < 32u);                                                              \
        if (*(seen) & (1u << (i))) {                                                       \
            return lg_tx_fail(dec_ctx(d), LG_EBADREQ, "duplicate key", __VA_ARGS__);       \
        }                                                                                  \
        *(seen) |= 1u << (i);                                                              \
    } while (0)
#define D_TRY(expr)                                                           \
    do {                                                                      \
        int rc_ = (expr);                                                     \
        if (rc_ != LG_OK) {                                                   \
            return rc_;                                                       \
        }                                                                     \
    } while (0)

#define W_UINT "must be an unsigned integer"
#define W_STR "must be a string"
#define W_MAP "must be a map"
#define W_ARRAY "must be an array"
#define W_AMOUNT "must be an integer or a decimal string"
#define W_KEY "map keys must be strings"

/* A count of at most max items, each taking at least min_bytes: checked before any
 * allocation. */
static int dec_count(struct dec *d, uint32_t n, uint32_t max, size_t min_bytes,
                     const char *what, const char *field)
{
    if (n > max) {
        return lg_tx_failf(dec_ctx(d), LG_ETOOLARGE, field, "%u %s, at most %u", n, what, max);
    }
    if ((uint64_t)n * min_bytes > lg_mpread_left(&d->r)) {
        return lg_tx_fail(dec_ctx(d), LG_EBADREQ, "truncated", "%s", field);
    }
    return LG_OK;
}

static int dec_alloc(struct dec *d, size_t n, size_t size, void **out)
{
    *out = NULL;
    if (n == 0) {
        return LG_OK;
    }
    *out = lg_arena_calloc(d->arena, n, size);
    if (*out == NULL) {
        return lg_errmsg_printf(d->c.errmsg, LG_ENOMEM, "decode: arena exhausted");
    }
    return LG_OK;
}

/* Read a map key (a string) at the printf path of the map. */
static int dec_key(struct dec *d, struct lg_str *k, const char *map)
{
    int st = rd_str(&d->r, k);
    if (st != LG_MPREAD_OK) {
        return dec_fail_rd(d, st, W_KEY, "%s", map);
    }
    return LG_OK;
}

/* Mark field i of a map seen; a second time is a duplicate key. */
static int dec_seen(struct dec *d, uint32_t *seen, unsigned i, const char *path)
{
    LG_ASSERT(i < 32);
    if (*seen & (1u << i)) {
        return lg_tx_fail(dec_ctx(d), LG_EBADREQ, "duplicate key", "%s", path);
    }
    *seen |= 1u << i;
    return LG_OK;
}

/* A non-empty string argument. */
static int dec_nonempty(struct dec *d, struct lg_str *s, const char *path)
{
    D_READ(d, rd_str(&d->r, s), W_STR, "%s", path);
    if (s->len == 0) {
        return lg_tx_fail(dec_ctx(d), LG_EBADREQ, "must not be empty", "%s", path);
    }
    return LG_OK;
}

/* A {str: str} map into the arena (metadata). */
static int dec_kv_map(struct dec *d, const struct lg_kv **out, uint32_t *n_out,
                      uint32_t max, const char *field)
{
    uint32_t n;
    D_READ(d, rd_map(&d->r, &n), W_MAP, "%s", field);
    D_TRY(dec_count(d, n, max, 2, "entries", field));
    struct lg_kv *kv;
    D_TRY(dec_alloc(d, n, sizeof *kv, (void **)&kv));
    for (uint32_t i = 0; i < n; i++) {
        D_TRY(dec_key(d, &kv[i].key, field));
        int st = rd_str(&d->r, &kv[i].value);
        if (st != LG_MPREAD_OK) {
            return dec_fail_rd_key(d, st, W_STR, field, kv[i].key);
        }
    }
    *out = kv;
    *n_out = n;
    return LG_OK;
}

/* ---------------------------------------------------------------------------------------
 * Request decoding */

/* Is the key (a struct lg_str) the string literal lit? For the switches on a key's length
 * below, where the length test folds away and memcmp of a constant size is inlined. */
#define KEY_IS(key, lit) ((key).len == sizeof(lit) - 1u && memcmp((key).ptr, (lit), (key).len) == 0)

static const char *const posting_keys[] = {"source", "destination", "amount", "asset"};

/* Index of a posting's key in posting_keys, or -1. */
static int posting_key(struct lg_str k)
{
    switch (k.len) {
    case 5:
        return KEY_IS(k, "asset") ? 3 : -1;
    case 6:
        return KEY_IS(k, "source") ? 0 : KEY_IS(k, "amount") ? 2 : -1;
    case 11:
        return KEY_IS(k, "destination") ? 1 : -1;
    default:
        return -1;
    }
}

/* Paths are formatted only on failure: "postings[i]" and "postings[i].<field>". */
static int dec_posting(struct dec *d, struct lg_posting *p, uint32_t i)
{
    uint32_t n;
    D_READ(d, rd_map(&d->r, &n), W_MAP, "postings[%u]", i);
    uint32_t seen = 0;
    for (uint32_t k = 0; k < n; k++) {
        struct lg_str key;
        D_READ(d, rd_str(&d->r, &key), W_KEY, "postings[%u]", i);
        int f = posting_key(key);
        if (f < 0) {
            char q[LG_TX_QUOTE_BYTES];
            lg_tx_quote(key, q);
            return lg_tx_fail(dec_ctx(d), LG_EBADREQ, "unknown field", "postings[%u].%s", i, q);
        }
        D_SEEN(d, &seen, (unsigned)f, "postings[%u].%s", i, posting_keys[f]);
        int st;
        switch (f) {
        case 0:
            st = rd_str(&d->r, &p->source);
            break;
        case 1:
            st = rd_str(&d->r, &p->destination);
            break;
        case 2:
            st = rd_amount(&d->r, &p->amount);
            break;
        default:
            st = rd_str(&d->r, &p->asset);
            break;
        }
        if (st != LG_MPREAD_OK) {
            return dec_fail_rd(d, st, f == 2 ? W_AMOUNT : W_STR, "postings[%u].%s", i,
                               posting_keys[f]);
        }
    }
    for (unsigned f = 0; f < 4; f++) {
        if (!(seen & (1u << f))) {
            return lg_tx_fail(dec_ctx(d), LG_EBADREQ, "missing", "postings[%u].%s", i,
                              posting_keys[f]);
        }
    }
    return LG_OK;
}

static const char *const condition_keys[] = {"account", "version", "asset", "min_balance"};

/* Index of a condition's key in condition_keys, or -1. */
static int condition_key(struct lg_str k)
{
    switch (k.len) {
    case 5:
        return KEY_IS(k, "asset") ? 2 : -1;
    case 7:
        return KEY_IS(k, "account") ? 0 : KEY_IS(k, "version") ? 1 : -1;
    case 11:
        return KEY_IS(k, "min_balance") ? 3 : -1;
    default:
        return -1;
    }
}

/* Paths are formatted only on failure: "conditions[i]" and "conditions[i].<field>". */
static int dec_condition(struct dec *d, struct lg_condition *c, uint32_t i)
{
    uint32_t n;
    D_READ(d, rd_map(&d->r, &n), W_MAP, "conditions[%u]", i);
    uint32_t seen = 0;
    for (uint32_t k = 0; k < n; k++) {
        struct lg_str key;
        D_READ(d, rd_str(&d->r, &key), W_KEY, "conditions[%u]", i);
        int f = condition_key(key);
        if (f < 0) {
            char q[LG_TX_QUOTE_BYTES];
            lg_tx_quote(key, q);
            return lg_tx_fail(dec_ctx(d), LG_EBADREQ, "unknown field", "conditions[%u].%s", i,
                              q);
        }
        D_SEEN(d, &seen, (unsigned)f, "conditions[%u].%s", i, condition_keys[f]);
        int st;
        switch (f) {
        case 0:
            st = rd_str(&d->r, &c->account);
            break;
        case 1:
            st = rd_uint(&d->r, &c->version);
            break;
        case 2:
            st = rd_str(&d->r, &c->asset);
            break;
        default:
            st = rd_amount(&d->r, &c->min);
            break;
        }
        if (st != LG_MPREAD_OK) {
            const char *want = f == 1 ? W_UINT : f == 3 ? W_AMOUNT : W_STR;
            return dec_fail_rd(d, st, want, "conditions[%u].%s", i, condition_keys[f]);
        }
    }
    if (!(seen & 1u)) {
        return lg_tx_fail(dec_ctx(d), LG_EBADREQ, "missing", "conditions[%u].account", i);
    }
    if (seen == 0x3u) {
        c->kind = LG_COND_VERSION;
    } else if (seen == 0xdu) {
        c->kind = LG_COND_MIN_BALANCE;
    } else {
        return lg_tx_fail(dec_ctx(d), LG_EBADREQ,
                          "give either version, or asset and min_balance", "conditions[%u]", i);
    }
    return LG_OK;
}

/* Arguments of every op, decoded into one flat struct, then assembled per op. */
enum arg {
    A_ID, A_OP, A_LEDGER, A_POSTINGS, A_METADATA, A_REFERENCE, A_CONDITIONS, A_TXS, A_ATOMIC,
    A_TX_ID, A_ACCOUNT, A_FROM_TS, A_TO_TS, A_ORDER, A_LIMIT, A_CURSOR, A_ADDRESS,
    A_PATTERN, A_ASSET, A_CONSISTENCY, A_AFTER_INDEX, A_FROM_SEQ, A_MAX_BYTES, A_TREE_SIZE,
    A_SEQ, A_FROM_SIZE, A_TO_SIZE, A_COUNT
};

static const char *const arg_names[A_COUNT] = {
    "id", "op", "ledger", "postings", "metadata", "reference", "conditions", "txs", "atomic",
    "tx_id", "account", "from_ts", "to_ts", "order", "limit", "cursor", "address", "pattern",
    "asset", "consistency", "after_index", "from_seq", "max_bytes", "tree_size", "seq",
    "from_size", "to_size",
};

#define BIT(a) (1u << (a))
#define READ_ARGS (BIT(A_CONSISTENCY) | BIT(A_AFTER_INDEX))
#define SUBMIT_ARGS                                                                        \
    (BIT(A_LEDGER) | BIT(A_POSTINGS) | BIT(A_METADATA) | BIT(A_REFERENCE) |              \
     BIT(A_CONDITIONS))

/* Arguments allowed per op (besides id and op). */
static const uint32_t op_args[LG_PROTO_OP_COUNT] = {
    [LG_PROTO_OP_PING] = 0,
    [LG_PROTO_OP_STATUS] = 0,
    [LG_PROTO_OP_SUBMIT] = SUBMIT_ARGS,
    [LG_PROTO_OP_SUBMIT_BATCH] = BIT(A_TXS) | BIT(A_ATOMIC),
    [LG_PROTO_OP_GET_TX] = BIT(A_LEDGER) | BIT(A_TX_ID) | BIT(A_REFERENCE) | READ_ARGS,
    [LG_PROTO_OP_LIST_TXS] = BIT(A_LEDGER) | BIT(A_ACCOUNT) | BIT(A_FROM_TS) | BIT(A_TO_TS) |
                             BIT(A_ORDER) | BIT(A_LIMIT) | BIT(A_CURSOR) | READ_ARGS,
    [LG_PROTO_OP_ACCOUNT] = BIT(A_LEDGER) | BIT(A_ADDRESS) | READ_ARGS,
    [LG_PROTO_OP_BALANCES] = BIT(A_LEDGER) | BIT(A_ADDRESS) | BIT(A_PATTERN) | BIT(A_ASSET) |
                             READ_ARGS,
    [LG_PROTO_OP_DIGEST] = BIT(A_TREE_SIZE) | READ_ARGS,
    [LG_PROTO_OP_MEMBERS] = 0,
    [LG_PROTO_OP_READ_INDEX] = 0,
    [LG_PROTO_OP_JOURNAL_READ] = BIT(A_FROM_SEQ) | BIT(A_MAX_BYTES),
    [LG_PROTO_OP_PROOF] = BIT(A_SEQ) | BIT(A_TREE_SIZE) | READ_ARGS,
    [LG_PROTO_OP_CONSISTENCY] = BIT(A_FROM_SIZE) | BIT(A_TO_SIZE) | READ_ARGS,
};

/* Required arguments per op. */
static const uint32_t op_required[LG_PROTO_OP_COUNT] = {
    [LG_PROTO_OP_SUBMIT] = BIT(A_LEDGER) | BIT(A_POSTINGS),
    [LG_PROTO_OP_SUBMIT_BATCH] = BIT(A_TXS),
    [LG_PROTO_OP_GET_TX] = BIT(A_LEDGER),
    [LG_PROTO_OP_LIST_TXS] = BIT(A_LEDGER),
    [LG_PROTO_OP_ACCOUNT] = BIT(A_LEDGER) | BIT(A_ADDRESS),
    [LG_PROTO_OP_BALANCES] = BIT(A_LEDGER),
    [LG_PROTO_OP_JOURNAL_READ] = BIT(A_FROM_SEQ),
    [LG_PROTO_OP_PROOF] = BIT(A_SEQ),
    [LG_PROTO_OP_CONSISTENCY] = BIT(A_FROM_SIZE) | BIT(A_TO_SIZE),
};

LG_STATIC_ASSERT(A_COUNT <= 32, "argument bits fit a uint32_t");

struct args {
    uint32_t seen;
    struct lg_str str[A_COUNT];  /* string arguments by index */
    uint64_t num[A_COUNT];             /* integer arguments by index */
    bool atomic;
    struct lg_posting *postings;
    uint32_t n_postings;
    const struct lg_kv *metadata;
    uint32_t n_metadata;
    struct lg_condition *conditions;
    uint32_t n_conditions;
    struct lg_proto_submit *txs;
    uint32_t n_txs;
};

static int dec_submit_map(struct dec *d, struct lg_proto_submit *s, uint32_t i);

/* Decode the value of argument a into args. */
static int dec_arg(struct dec *d, int a, struct args *g)
{
    const char *name = arg_names[a];
    uint32_t n;
    switch (a) {
    case A_POSTINGS:
        D_READ(d, rd_array(&d->r, &n), W_ARRAY, "postings");
        D_TRY(dec_count(d, n, LG_POSTINGS_MAX, 1, "postings", "postings"));
        D_TRY(dec_alloc(d, n, sizeof *g->postings, (void **)&g->postings));
        g->n_postings = n;
        for (uint32_t i = 0; i < n; i++) {
            D_TRY(dec_posting(d, &g->postings[i], i));
        }
        return LG_OK;
    case A_METADATA:
        return dec_kv_map(d, &g->metadata, &g->n_metadata, LG_METADATA_ENTRIES_MAX,
                          "metadata");
    case A_CONDITIONS:
        D_READ(d, rd_array(&d->r, &n), W_ARRAY, "conditions");
        D_TRY(dec_count(d, n, LG_CONDITIONS_MAX, 1, "conditions", "conditions"));
        D_TRY(dec_alloc(d, n, sizeof *g->conditions, (void **)&g->conditions));
        g->n_conditions = n;
        for (uint32_t i = 0; i < n; i++) {
            D_TRY(dec_condition(d, &g->conditions[i], i));
        }
        return LG_OK;
    case A_TXS:
        D_READ(d, rd_array(&d->r, &n), W_ARRAY, "txs");
        D_TRY(dec_count(d, n, LG_PROTO_BATCH_TXS_MAX, 1, "transactions", "txs"));
        D_TRY(dec_alloc(d, n, sizeof *g->txs, (void **)&g->txs));
        g->n_txs = n;
        for (uint32_t i = 0; i < n; i++) {
            D_TRY(dec_submit_map(d, &g->txs[i], i));
        }
        return LG_OK;
    case A_ATOMIC:
        D_READ(d, rd_bool(&d->r, &g->atomic), "must be a boolean", "atomic");
        return LG_OK;
    case A_TX_ID:
    case A_FROM_TS:
    case A_TO_TS:
    case A_LIMIT:
    case A_AFTER_INDEX:
    case A_FROM_SEQ:
    case A_MAX_BYTES:
    case A_TREE_SIZE:
    case A_SEQ:
    case A_FROM_SIZE:
    case A_TO_SIZE:
        D_READ(d, rd_uint(&d->r, &g->num[a]), W_UINT, "%s", name);
        return LG_OK;
    default:
        return dec_nonempty(d, &g->str[a], name);
    }
}

/* Assemble a submit from decoded arguments. */
static void args_submit(const struct args *g, struct lg_proto_submit *s)
{
    s->ledger = g->str[A_LEDGER];
    s->postings = g->postings;
    s->n_postings = g->n_postings;
    s->metadata = g->metadata;
    s->n_metadata = g->n_metadata;
    s->reference = g->str[A_REFERENCE];
    s->conditions = g->conditions;
    s->n_conditions = g->n_conditions;
}

/* Check presence of the required arguments in mask. */
static int args_required(struct dec *d, const struct args *g, uint32_t mask)
{
    if ((mask & ~g->seen) == 0) {
        return LG_OK;
    }
    for (int a = 0; a < A_COUNT; a++) {
        if ((mask & BIT(a)) && !(g->seen & BIT(a))) {
            return lg_tx_fail(dec_ctx(d), LG_EBADREQ, "missing", "%s", arg_names[a]);
        }
    }
    LG_UNREACHABLE("a required argument is missing");
}

/* The argument of a transaction (submit, or one of submit_batch's txs) named by key:
 * A_LEDGER, A_POSTINGS, A_METADATA, A_REFERENCE, A_CONDITIONS, or -1. */
static int submit_arg(struct lg_str k)
{
    switch (k.len) {
    case 6:
        return KEY_IS(k, "ledger") ? A_LEDGER : -1;
    case 8:
        return KEY_IS(k, "postings") ? A_POSTINGS : KEY_IS(k, "metadata") ? A_METADATA : -1;
    case 9:
        return KEY_IS(k, "reference") ? A_REFERENCE : -1;
    case 10:
        return KEY_IS(k, "conditions") ? A_CONDITIONS : -1;
    default:
        return -1;
    }
}

/* One transaction map of submit_batch. */
static int dec_submit_map(struct dec *d, struct lg_proto_submit *s, uint32_t i)
{
    uint32_t n;
    D_READ(d, rd_map(&d->r, &n), W_MAP, "txs[%u]", i);
    LG_ASSERT(!d->in_tx && d->c.prefix[0] == '\0');
    d->in_tx = true; /* messages from here on are under "txs[i]" (dec_ctx) */
    d->tx = i;
    struct args g;
    memset(&g, 0, sizeof g);
    for (uint32_t k = 0; k < n; k++) {
        struct lg_str key;
        D_TRY(dec_key(d, &key, "map"));
        int a = submit_arg(key);
        if (a < 0) {
            char q[LG_TX_QUOTE_BYTES];
            lg_tx_quote(key, q);
            return lg_tx_fail(dec_ctx(d), LG_EBADREQ, "unknown field", "%s", q);
        }
        LG_ASSERT(SUBMIT_ARGS & BIT(a));
        D_TRY(dec_seen(d, &g.seen, (unsigned)a, arg_names[a]));
        D_TRY(dec_arg(d, a, &g));
    }
    D_TRY(args_required(d, &g, op_required[LG_PROTO_OP_SUBMIT]));
    args_submit(&g, s);
    d->in_tx = false;
    return LG_OK;
}

/* Assemble the request for op from args; checks that need presence information. */
static int args_assemble(struct dec *d, const struct args *g, struct lg_proto_request *q)
{
    D_TRY(args_required(d, g, op_required[q->op]));
    if (g->seen & BIT(A_CONSISTENCY)) {
        struct lg_str s = g->str[A_CONSISTENCY];
        int c = name_index(s.ptr, s.len, consistency_names, 4);
        if (c < 0) {
            return lg_tx_fail(&d->c, LG_EBADREQ,
                              "must be \"stale\", \"after\" or \"linearizable\"", "consistency");
        }
        q->consistency = (uint8_t)c;
    }
    if (g->seen & BIT(A_AFTER_INDEX)) {
        if (q->consistency == LG_PROTO_READ_DEFAULT) {
            q->consistency = LG_PROTO_READ_AFTER;
        }
        if (q->consistency != LG_PROTO_READ_AFTER) {
            return lg_tx_fail(&d->c, LG_EBADREQ, "only with consistency \"after\"",
                              "after_index");
        }
        if (g->num[A_AFTER_INDEX] == 0) {
            return lg_tx_fail(&d->c, LG_EBADREQ, "must be greater than 0", "after_index");
        }
        q->after_index = g->num[A_AFTER_INDEX];
    } else if (q->consistency == LG_PROTO_READ_AFTER) {
        return lg_tx_fail(&d->c, LG_EBADREQ, "required with consistency \"after\"",
                          "after_index");
    }
    switch (q->op) {
    case LG_PROTO_OP_SUBMIT:
        args_submit(g, &q->u.submit);
        break;
    case LG_PROTO_OP_SUBMIT_BATCH:
        q->u.batch.txs = g->txs;
        q->u.batch.n_txs = g->n_txs;
        q->u.batch.atomic = g->atomic;
        break;
    case LG_PROTO_OP_GET_TX: {
        bool by_id = (g->seen & BIT(A_TX_ID)) != 0;
        bool by_ref = (g->seen & BIT(A_REFERENCE)) != 0;
        if (by_id == by_ref) {
            return lg_tx_fail(&d->c, LG_EBADREQ, "give exactly one of tx_id and reference",
                              "tx_id");
        }
        q->u.get_tx.ledger = g->str[A_LEDGER];
        q->u.get_tx.by_reference = by_ref;
        q->u.get_tx.tx_id = g->num[A_TX_ID];
        q->u.get_tx.reference = g->str[A_REFERENCE];
        break;
    }
    case LG_PROTO_OP_LIST_TXS: {
        struct lg_proto_list_txs *l = &q->u.list_txs;
        l->ledger = g->str[A_LEDGER];
        l->account = g->str[A_ACCOUNT];
        l->has_from_ts = (g->seen & BIT(A_FROM_TS)) != 0;
        l->from_ts = g->num[A_FROM_TS];
        l->has_to_ts = (g->seen & BIT(A_TO_TS)) != 0;
        l->to_ts = g->num[A_TO_TS];
        if (g->seen & BIT(A_ORDER)) {
            struct lg_str s = g->str[A_ORDER];
            int o = name_index(s.ptr, s.len, order_names, 3);
            if (o < 0) {
                return lg_tx_fail(&d->c, LG_EBADREQ, "must be \"asc\" or \"desc\"", "order");
            }
            l->order = (uint8_t)o;
        }
        if (g->seen & BIT(A_LIMIT)) {
            uint64_t lim = g->num[A_LIMIT];
            if (lim == 0) {
                return lg_tx_failf(&d->c, LG_EBADREQ, "limit", "must be between 1 and %u",
                                   LG_PAGE_LIMIT_MAX);
            }
            if (lim > LG_PAGE_LIMIT_MAX) {
                return lg_tx_failf(&d->c, LG_ETOOLARGE, "limit", "%llu, at most %u",
                                   (unsigned long long)lim, LG_PAGE_LIMIT_MAX);
            }
            l->limit = (uint32_t)lim;
        }
        l->cursor = g->str[A_CURSOR];
        break;
    }
    case LG_PROTO_OP_ACCOUNT:
        q->u.account.ledger = g->str[A_LEDGER];
        q->u.account.address = g->str[A_ADDRESS];
        break;
    case LG_PROTO_OP_BALANCES:
        q->u.balances.ledger = g->str[A_LEDGER];
        q->u.balances.address = g->str[A_ADDRESS];
        q->u.balances.pattern = g->str[A_PATTERN];
        q->u.balances.asset = g->str[A_ASSET];
        break;
    case LG_PROTO_OP_JOURNAL_READ: {
        struct lg_proto_journal_read *j = &q->u.journal_read;
        j->from_seq = g->num[A_FROM_SEQ];
        if (g->seen & BIT(A_MAX_BYTES)) {
            uint64_t max = g->num[A_MAX_BYTES];
            if (max == 0) {
                return lg_tx_failf(&d->c, LG_EBADREQ, "max_bytes", "must be between 1 and %u",
                                   LG_PROTO_JOURNAL_READ_BYTES_MAX);
            }
            if (max > LG_PROTO_JOURNAL_READ_BYTES_MAX) {
                return lg_tx_failf(&d->c, LG_ETOOLARGE, "max_bytes", "%llu, at most %u",
                                   (unsigned long long)max, LG_PROTO_JOURNAL_READ_BYTES_MAX);
            }
            j->max_bytes = (uint32_t)max;
        }
        break;
    }
    case LG_PROTO_OP_DIGEST:
        q->u.digest.has_tree_size = (g->seen & BIT(A_TREE_SIZE)) != 0;
        q->u.digest.tree_size = g->num[A_TREE_SIZE];
        break;
    case LG_PROTO_OP_PROOF:
        q->u.proof.seq = g->num[A_SEQ];
        q->u.proof.has_tree_size = (g->seen & BIT(A_TREE_SIZE)) != 0;
        q->u.proof.tree_size = g->num[A_TREE_SIZE];
        break;
    case LG_PROTO_OP_CONSISTENCY:
        q->u.consistency.from_size = g->num[A_FROM_SIZE];
        q->u.consistency.to_size = g->num[A_TO_SIZE];
        break;
    default:
        break;
    }
    return LG_OK;
}

/* Pass 1: find id and op among the top-level keys, skipping the other values. */
static int dec_envelope(struct dec *d, uint32_t n, struct lg_proto_request *q,
                        struct lg_str *op)
{
    uint32_t seen = 0;
    for (uint32_t k = 0; k < n; k++) {
        struct lg_str key;
        D_TRY(dec_key(d, &key, "request"));
        if (str_is(key.ptr, key.len, "id")) {
            D_TRY(dec_seen(d, &seen, A_ID, "id"));
            uint64_t id;
            D_READ(d, rd_uint(&d->r, &id), W_UINT, "id");
            q->id = id;
        } else if (str_is(key.ptr, key.len, "op")) {
            D_TRY(dec_seen(d, &seen, A_OP, "op"));
            D_READ(d, rd_str(&d->r, op), W_STR, "op");
        } else {
            int st = lg_mpread_skip(&d->r, LG_PROTO_DEPTH_MAX - 1u);
            if (st != LG_MPREAD_OK) {
                return dec_fail_rd_key(d, st, "", "", key);
            }
        }
    }
    if (d->r.p != d->r.end) {
        return lg_tx_fail(&d->c, LG_EBADREQ, "trailing bytes after the map", "request");
    }
    if (!(seen & BIT(A_ID))) {
        return lg_tx_fail(&d->c, LG_EBADREQ, "missing", "id");
    }
    if (!(seen & BIT(A_OP))) {
        return lg_tx_fail(&d->c, LG_EBADREQ, "missing", "op");
    }
    return LG_OK;
}

/* Argument a (name_index of key; not id or op) of op o: its value into g. */
static int dec_request_arg(struct dec *d, int o, struct lg_str key, int a, struct args *g)
{
    LG_PRE(a != A_ID && a != A_OP);
    if (a < 0 || !(op_args[o] & BIT(a))) {
        char q[LG_TX_QUOTE_BYTES];
        lg_tx_quote(key, q);
        return lg_tx_failf(dec_ctx(d), LG_EBADREQ, q, "unknown field for %s", op_names[o]);
    }
    D_TRY(dec_seen(d, &g->seen, (unsigned)a, arg_names[a]));
    return dec_arg(d, a, g);
}

/* dec_one_pass: the map is not of its shape, or breaks a rule of pass 1; the two passes
 * decide. Not an lg_err code. */
#define DEC_TWO_PASS (-1)

/* The common case in one pass, when "op" comes before the arguments (encoders write "id"
 * and "op" first), saving pass 1's walk over every value (a batch's txs: about a third of
 * the decoding). Returns LG_OK with q's id and op and g's arguments, every value read
 * exactly as pass 1 then pass 2 read it; DEC_TWO_PASS when an argument comes before "op",
 * the op is unknown, or the map breaks a rule of pass 1 (id or op unreadable or twice,
 * id missing, trailing bytes); else the error of an argument, which pass 2 gives
 * identically once pass 1 accepts the map. Nothing is allocated before the op is known,
 * and DEC_TWO_PASS after an allocation always means pass 1 fails. */
static int dec_one_pass(struct dec *d, uint32_t n, struct lg_proto_request *q, struct args *g)
{
    bool has_id = false;
    int o = LG_PROTO_OP_NONE;
    for (uint32_t k = 0; k < n; k++) {
        struct lg_str key;
        if (rd_str(&d->r, &key) != LG_MPREAD_OK) {
            return DEC_TWO_PASS;
        }
        if (str_is(key.ptr, key.len, "id")) {
            uint64_t id;
            if (has_id || rd_uint(&d->r, &id) != LG_MPREAD_OK) {
                return DEC_TWO_PASS;
            }
            q->id = id;
            has_id = true;
        } else if (str_is(key.ptr, key.len, "op")) {
            struct lg_str op;
            if (o != LG_PROTO_OP_NONE || rd_str(&d->r, &op) != LG_MPREAD_OK) {
                return DEC_TWO_PASS;
            }
            o = lg_proto_op_from_name(op.ptr, op.len);
            if (o == LG_PROTO_OP_NONE) {
                return DEC_TWO_PASS;
            }
            q->op = (uint8_t)o;
        } else if (o == LG_PROTO_OP_NONE) {
            return DEC_TWO_PASS;
        } else {
            D_TRY(dec_request_arg(d, o, key, name_index(key.ptr, key.len, arg_names, A_COUNT),
                                  g));
        }
    }
    if (!has_id || o == LG_PROTO_OP_NONE || d->r.p != d->r.end) {
        return DEC_TWO_PASS;
    }
    return LG_OK;
}

/* Decode and validate one request. Pass 1 (dec_envelope) then pass 2 define the verdict;
 * dec_one_pass reaches the same one in a single pass when it can. */
int lg_proto_decode_request(const void *buf, size_t len, struct lg_arena *arena,
                            struct lg_proto_request *out, char *errmsg)
{
    LG_PRE(out != NULL && arena != NULL);
    LG_PRE(buf != NULL || len == 0);
    char local[LG_ERRMSG_SIZE];
    struct dec d = {{buf, (const uint8_t *)buf + len}, arena, {errmsg ? errmsg : local, ""},
                    LG_PROTO_OP_NONE, 0, false, 0};
    memset(out, 0, sizeof *out);
    uint32_t n;
    D_READ(&d, rd_map(&d.r, &n), W_MAP, "request");
    const uint8_t *args_at = d.r.p;
    struct args g;
    memset(&g, 0, sizeof g);
    int one = dec_one_pass(&d, n, out, &g);
    if (one == LG_OK) {
        D_TRY(args_assemble(&d, &g, out));
        return check_request(&d.c, out);
    }
    /* Two passes, from a clean state (the failure may have left a "txs[i]" prefix). */
    d = (struct dec){{args_at, (const uint8_t *)buf + len}, arena, {d.c.errmsg, ""},
                     LG_PROTO_OP_NONE, 0, false, 0};
    memset(out, 0, sizeof *out);
    struct lg_str op = {NULL, 0};
    D_TRY(dec_envelope(&d, n, out, &op));
    int o = lg_proto_op_from_name(op.ptr, op.len);
    if (o == LG_PROTO_OP_NONE) {
        char q[LG_TX_QUOTE_BYTES];
        lg_tx_quote(op, q);
        return lg_tx_failf(&d.c, LG_EUNKNOWNOP, "op", "unknown operation \"%s\"", q);
    }
    out->op = (uint8_t)o;
    if (one != DEC_TWO_PASS) {
        return one; /* pass 1 accepts the map: pass 2 would fail the same way, same message */
    }
    /* Pass 2: the op's arguments. */
    d.r.p = args_at;
    memset(&g, 0, sizeof g);
    for (uint32_t k = 0; k < n; k++) {
        struct lg_str key;
        D_TRY(dec_key(&d, &key, "request"));
        int a = name_index(key.ptr, key.len, arg_names, A_COUNT);
        if (a == A_ID || a == A_OP) {
            D_READ(&d, lg_mpread_skip(&d.r, 0), "", "%s", arg_names[a]);
            continue;
        }
        D_TRY(dec_request_arg(&d, o, key, a, &g));
    }
    LG_ASSERT(d.r.p == d.r.end);
    D_TRY(args_assemble(&d, &g, out));
    return check_request(&d.c, out);
}

/* ---------------------------------------------------------------------------------------
 * Encoding: msgpack-c's packer into one frame of an lg_buf */

/* 1 when x holds, else 0, as a size (for counting map entries). */
#define CNT(x) ((size_t)((x) ? 1u : 0u))

struct wr {
    struct lg_buf *b;
    size_t start; /* offset of the frame's length prefix */
    int err;      /* sticky: LG_ENOMEM or LG_ETOOLARGE */
    msgpack_packer pk;
};

static int wr_write(void *data, const char *bytes, size_t n)
{
    struct wr *w = data;
    struct lg_buf *b = w->b;
    if (w->err != LG_OK) {
        return -1;
    }
    if (b->len - w->start + n > (size_t)LG_FRAME_BYTES_MAX + LG_FRAME_HEADER_BYTES) {
        w->err = LG_ETOOLARGE;
        return -1;
    }
    if (!lg_buf_append(b, bytes, n)) {
        w->err = LG_ENOMEM;
        return -1;
    }
    return 0;
}

static void wr_begin(struct wr *w, struct lg_buf *b)
{
    LG_PRE(b != NULL);
    w->b = b;
    w->start = b->len;
    w->err = LG_OK;
    msgpack_packer_init(&w->pk, w, wr_write);
    static const char zero[LG_FRAME_HEADER_BYTES] = {0};
    (void)wr_write(w, zero, sizeof zero); /* the prefix, patched by wr_end */
}

/* Finish the frame: patch the prefix, or roll back on error. */
static int wr_end(struct wr *w)
{
    if (w->err != LG_OK) {
        w->b->len = w->start;
        return w->err;
    }
    size_t body = w->b->len - w->start - LG_FRAME_HEADER_BYTES;
    LG_ASSERT(body > 0 && body <= LG_FRAME_BYTES_MAX);
    lg_frame_header_put((uint32_t)body, w->b->data + w->start);
    return LG_OK;
}

static void p_map(struct wr *w, size_t n)
{
    msgpack_pack_map(&w->pk, n);
}

static void p_array(struct wr *w, size_t n)
{
    msgpack_pack_array(&w->pk, n);
}

static void p_bytes(struct wr *w, const char *s, size_t n)
{
    msgpack_pack_str(&w->pk, n);
    if (n > 0) {
        msgpack_pack_str_body(&w->pk, s, n);
    }
}

static void p_cstr(struct wr *w, const char *s)
{
    p_bytes(w, s, strlen(s));
}

static void p_str(struct wr *w, struct lg_str s)
{
    p_bytes(w, s.ptr, s.len);
}

/* A string, or nil when empty. */
static void p_str_nil(struct wr *w, struct lg_str s)
{
    if (s.len == 0) {
        msgpack_pack_nil(&w->pk);
    } else {
        p_str(w, s);
    }
}

static void p_u64(struct wr *w, uint64_t v)
{
    msgpack_pack_uint64(&w->pk, v);
}

static void p_bool(struct wr *w, bool v)
{
    if (v) {
        msgpack_pack_true(&w->pk);
    } else {
        msgpack_pack_false(&w->pk);
    }
}

/* An amount: integer when it fits in 64 bits, else decimal text. */
static void p_amount(struct wr *w, lg_u128 v)
{
    if (lg_amount_fits_u64(v)) {
        p_u64(w, (uint64_t)v);
        return;
    }
    char text[LG_AMOUNT_TEXT_MAX];
    size_t n = lg_amount_format(v, text);
    p_bytes(w, text, n);
}

/* A balance: integer when it fits in int64, else signed decimal text. */
static void p_balance(struct wr *w, lg_i128 v)
{
    if (v >= INT64_MIN && v <= INT64_MAX) {
        msgpack_pack_int64(&w->pk, (int64_t)v);
        return;
    }
    char text[LG_AMOUNT_TEXT_MAX];
    size_t n = lg_amount_format_signed(v, text);
    p_bytes(w, text, n);
}

/* Bytes as lowercase hex text (written in chunks: a record body is up to 4 MiB). */
static void p_hex(struct wr *w, const uint8_t *bytes, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    char chunk[256];
    msgpack_pack_str(&w->pk, 2u * n);
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        chunk[used++] = digits[bytes[i] >> 4];
        chunk[used++] = digits[bytes[i] & 15u];
        if (used == sizeof chunk || i + 1u == n) {
            msgpack_pack_str_body(&w->pk, chunk, used);
            used = 0;
        }
    }
}

static void p_kv(struct wr *w, const struct lg_kv *kv, uint32_t n)
{
    p_map(w, n);
    for (uint32_t i = 0; i < n; i++) {
        p_str(w, kv[i].key);
        p_str(w, kv[i].value);
    }
}

static void p_postings(struct wr *w, const struct lg_posting *p, uint32_t n)
{
    p_array(w, n);
    for (uint32_t i = 0; i < n; i++) {
        p_map(w, 4);
        p_cstr(w, "source");
        p_str(w, p[i].source);
        p_cstr(w, "destination");
        p_str(w, p[i].destination);
        p_cstr(w, "amount");
        p_amount(w, p[i].amount);
        p_cstr(w, "asset");
        p_str(w, p[i].asset);
    }
}

/* The fields of a submit (without a map header); returns how many. */
static size_t submit_fields(const struct lg_proto_submit *s)
{
    return 2u + CNT(s->n_metadata > 0) + CNT(s->reference.len > 0) + CNT(s->n_conditions > 0);
}

static void p_submit_fields(struct wr *w, const struct lg_proto_submit *s)
{
    p_cstr(w, "ledger");
    p_str(w, s->ledger);
    p_cstr(w, "postings");
    p_postings(w, s->postings, s->n_postings);
    if (s->n_metadata > 0) {
        p_cstr(w, "metadata");
        p_kv(w, s->metadata, s->n_metadata);
    }
    if (s->reference.len > 0) {
        p_cstr(w, "reference");
        p_str(w, s->reference);
    }
    if (s->n_conditions > 0) {
        p_cstr(w, "conditions");
        p_array(w, s->n_conditions);
        for (uint32_t i = 0; i < s->n_conditions; i++) {
            const struct lg_condition *c = &s->conditions[i];
            bool v = c->kind == LG_COND_VERSION;
            p_map(w, v ? 2 : 3);
            p_cstr(w, "account");
            p_str(w, c->account);
            if (v) {
                p_cstr(w, "version");
                p_u64(w, c->version);
            } else {
                p_cstr(w, "asset");
                p_str(w, c->asset);
                p_cstr(w, "min_balance");
                p_amount(w, c->min);
            }
        }
    }
}

/* Optional string argument: key and value when non-empty. */
static void p_opt_str(struct wr *w, const char *key, struct lg_str s)
{
    if (s.len > 0) {
        p_cstr(w, key);
        p_str(w, s);
    }
}

/* Client side: one request frame. */
int lg_proto_encode_request(const struct lg_proto_request *q, struct lg_buf *out,
                            char *errmsg)
{
    LG_PRE(q != NULL && out != NULL);
    char local[LG_ERRMSG_SIZE];
    struct lg_tx_ctx c = {errmsg != NULL ? errmsg : local, ""};
    D_TRY(check_request(&c, q));
    size_t n = 2;
    bool after = q->consistency == LG_PROTO_READ_AFTER;
    n += CNT(q->consistency != LG_PROTO_READ_DEFAULT) + CNT(after);
    switch (q->op) {
    case LG_PROTO_OP_SUBMIT:
        n += submit_fields(&q->u.submit);
        break;
    case LG_PROTO_OP_SUBMIT_BATCH:
        n += 1u + CNT(q->u.batch.atomic);
        break;
    case LG_PROTO_OP_GET_TX:
        n += 2;
        break;
    case LG_PROTO_OP_LIST_TXS: {
        const struct lg_proto_list_txs *l = &q->u.list_txs;
        n += 1u + CNT(l->account.len > 0) + CNT(l->has_from_ts) + CNT(l->has_to_ts) +
             CNT(l->order != LG_PROTO_ORDER_DEFAULT) + CNT(l->limit != 0) +
             CNT(l->cursor.len > 0);
        break;
    }
    case LG_PROTO_OP_ACCOUNT:
        n += 2;
        break;
    case LG_PROTO_OP_BALANCES:
        n += 2u + CNT(q->u.balances.asset.len > 0);
        break;
    case LG_PROTO_OP_JOURNAL_READ:
        n += 1u + CNT(q->u.journal_read.max_bytes != 0);
        break;
    case LG_PROTO_OP_DIGEST:
        n += CNT(q->u.digest.has_tree_size);
        break;
    case LG_PROTO_OP_PROOF:
        n += 1u + CNT(q->u.proof.has_tree_size);
        break;
    case LG_PROTO_OP_CONSISTENCY:
        n += 2u;
        break;
    default:
        break;
    }
    struct wr w;
    wr_begin(&w, out);
    p_map(&w, n);
    p_cstr(&w, "id");
    p_u64(&w, q->id);
    p_cstr(&w, "op");
    p_cstr(&w, op_names[q->op]);
    if (q->consistency != LG_PROTO_READ_DEFAULT) {
        p_cstr(&w, "consistency");
        p_cstr(&w, consistency_names[q->consistency]);
    }
    if (after) {
        p_cstr(&w, "after_index");
        p_u64(&w, q->after_index);
    }
    switch (q->op) {
    case LG_PROTO_OP_SUBMIT:
        p_submit_fields(&w, &q->u.submit);
        break;
    case LG_PROTO_OP_SUBMIT_BATCH:
        p_cstr(&w, "txs");
        p_array(&w, q->u.batch.n_txs);
        for (uint32_t i = 0; i < q->u.batch.n_txs; i++) {
            p_map(&w, submit_fields(&q->u.batch.txs[i]));
            p_submit_fields(&w, &q->u.batch.txs[i]);
        }
        if (q->u.batch.atomic) {
            p_cstr(&w, "atomic");
            p_bool(&w, true);
        }
        break;
    case LG_PROTO_OP_GET_TX:
        p_cstr(&w, "ledger");
        p_str(&w, q->u.get_tx.ledger);
        if (q->u.get_tx.by_reference) {
            p_cstr(&w, "reference");
            p_str(&w, q->u.get_tx.reference);
        } else {
            p_cstr(&w, "tx_id");
            p_u64(&w, q->u.get_tx.tx_id);
        }
        break;
    case LG_PROTO_OP_LIST_TXS: {
        const struct lg_proto_list_txs *l = &q->u.list_txs;
        p_cstr(&w, "ledger");
        p_str(&w, l->ledger);
        p_opt_str(&w, "account", l->account);
        if (l->has_from_ts) {
            p_cstr(&w, "from_ts");
            p_u64(&w, l->from_ts);
        }
        if (l->has_to_ts) {
            p_cstr(&w, "to_ts");
            p_u64(&w, l->to_ts);
        }
        if (l->order != LG_PROTO_ORDER_DEFAULT) {
            p_cstr(&w, "order");
            p_cstr(&w, order_names[l->order]);
        }
        if (l->limit != 0) {
            p_cstr(&w, "limit");
            p_u64(&w, l->limit);
        }
        p_opt_str(&w, "cursor", l->cursor);
        break;
    }
    case LG_PROTO_OP_ACCOUNT:
        p_cstr(&w, "ledger");
        p_str(&w, q->u.account.ledger);
        p_cstr(&w, "address");
        p_str(&w, q->u.account.address);
        break;
    case LG_PROTO_OP_BALANCES:
        p_cstr(&w, "ledger");
        p_str(&w, q->u.balances.ledger);
        p_opt_str(&w, "address", q->u.balances.address);
        p_opt_str(&w, "pattern", q->u.balances.pattern);
        p_opt_str(&w, "asset", q->u.balances.asset);
        break;
    case LG_PROTO_OP_JOURNAL_READ:
        p_cstr(&w, "from_seq");
        p_u64(&w, q->u.journal_read.from_seq);
        if (q->u.journal_read.max_bytes != 0) {
            p_cstr(&w, "max_bytes");
            p_u64(&w, q->u.journal_read.max_bytes);
        }
        break;
    case LG_PROTO_OP_DIGEST:
        if (q->u.digest.has_tree_size) {
            p_cstr(&w, "tree_size");
            p_u64(&w, q->u.digest.tree_size);
        }
        break;
    case LG_PROTO_OP_PROOF:
        p_cstr(&w, "seq");
        p_u64(&w, q->u.proof.seq);
        if (q->u.proof.has_tree_size) {
            p_cstr(&w, "tree_size");
            p_u64(&w, q->u.proof.tree_size);
        }
        break;
    case LG_PROTO_OP_CONSISTENCY:
        p_cstr(&w, "from_size");
        p_u64(&w, q->u.consistency.from_size);
        p_cstr(&w, "to_size");
        p_u64(&w, q->u.consistency.to_size);
        break;
    default:
        break;
    }
    int rc = wr_end(&w);
    if (rc != LG_OK) {
        return lg_errmsg_printf(c.errmsg, rc, "request: %s", lg_err_message(rc));
    }
    return LG_OK;
}

static void p_error_map(struct wr *w, const struct lg_proto_error *e)
{
    p_map(w, 2u + CNT(e->leader.len > 0));
    p_cstr(w, "code");
    p_cstr(w, lg_err_wire(e->code));
    p_cstr(w, "message");
    if (e->message.len > 0) {
        p_str(w, e->message);
    } else {
        p_cstr(w, lg_err_message(e->code));
    }
    if (e->leader.len > 0) {
        p_cstr(w, "leader");
        p_str(w, e->leader);
    }
}

static void p_tx_result(struct wr *w, const struct lg_proto_tx_result *t)
{
    p_map(w, 5);
    p_cstr(w, "tx_id");
    p_u64(w, t->tx_id);
    p_cstr(w, "seq");
    p_u64(w, t->seq);
    p_cstr(w, "index");
    p_u64(w, t->index);
    p_cstr(w, "timestamp");
    p_u64(w, t->timestamp_us);
    p_cstr(w, "hash");
    p_hex(w, t->hash, LG_PROTO_HASH_BYTES);
}

static void p_tx(struct wr *w, const struct lg_proto_tx *t)
{
    p_map(w, 9);
    p_cstr(w, "ledger");
    p_str(w, t->ledger);
    p_cstr(w, "tx_id");
    p_u64(w, t->tx_id);
    p_cstr(w, "seq");
    p_u64(w, t->seq);
    p_cstr(w, "index");
    p_u64(w, t->index);
    p_cstr(w, "timestamp");
    p_u64(w, t->timestamp_us);
    p_cstr(w, "postings");
    p_postings(w, t->postings, t->n_postings);
    p_cstr(w, "metadata");
    p_kv(w, t->metadata, t->n_metadata);
    p_cstr(w, "reference");
    p_str_nil(w, t->reference);
    p_cstr(w, "hash");
    p_hex(w, t->hash, LG_PROTO_HASH_BYTES);
}

/* Raw bytes as a msgpack bin. */
static void p_bin(struct wr *w, struct lg_str s)
{
    msgpack_pack_bin(&w->pk, s.len);
    if (s.len > 0) {
        msgpack_pack_bin_body(&w->pk, s.ptr, s.len);
    }
}

/* journal_read's records: records[i] holds seq first_seq + i, and the serving node's last
 * seq is at least the last of them. True when n is 0 or they are so (no overflow). */
static bool journal_read_seqs_valid(uint64_t first_seq, uint32_t n, uint64_t last_seq)
{
    return n == 0 || (first_seq >= 1 && n <= last_seq && first_seq - 1u <= last_seq - n);
}

/* The reason a journal record body cannot be carried, or NULL. */
static const char *journal_record_invalid(struct lg_str body)
{
    if (body.len == 0) {
        return "must not be empty";
    }
    if (body.len > LG_RECORD_BODY_BYTES_MAX) {
        return "exceeds the record body limit";
    }
    return NULL;
}

static int p_journal_read(struct wr *w, const struct lg_proto_response *r)
{
    uint32_t n = r->u.journal_read.n_records;
    LG_PRE(n == 0 || r->u.journal_read.records != NULL);
    if (n > LG_PROTO_JOURNAL_READ_RECORDS_MAX) {
        return LG_ETOOLARGE;
    }
    if (!journal_read_seqs_valid(r->u.journal_read.first_seq, n, r->u.journal_read.last_seq)) {
        return LG_EINVAL;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (journal_record_invalid(r->u.journal_read.records[i]) != NULL) {
            return r->u.journal_read.records[i].len == 0 ? LG_EINVAL : LG_ETOOLARGE;
        }
    }
    p_map(w, 3);
    p_cstr(w, "records");
    p_array(w, n);
    for (uint32_t i = 0; i < n; i++) {
        p_bin(w, r->u.journal_read.records[i]);
    }
    p_cstr(w, "first_seq");
    p_u64(w, r->u.journal_read.first_seq);
    p_cstr(w, "last_seq");
    p_u64(w, r->u.journal_read.last_seq);
    return LG_OK;
}

static void p_balance_map(struct wr *w, const struct lg_proto_balance *b, uint32_t n)
{
    p_map(w, n);
    for (uint32_t i = 0; i < n; i++) {
        p_str(w, b[i].asset);
        p_balance(w, b[i].balance);
    }
}

/* The reason a proof result cannot be carried, or NULL: the codec checks its shape on both
 * sides (never whether it proves anything: that is the verifier's job). */
static const char *proof_invalid(const struct lg_proto_proof *f)
{
    if (f->seq == 0 || f->seq > f->tree_size) {
        return "seq must be in 1..tree_size";
    }
    if (f->leaf_index != f->seq - 1u) {
        return "leaf_index must be seq - 1";
    }
    if (f->digest.tree_size != f->tree_size) {
        return "digest.tree_size must be tree_size";
    }
    if (f->body.len == 0 || f->body.len > LG_RECORD_BODY_BYTES_MAX) {
        return "body must hold 1 .. 4 MiB";
    }
    if (f->path.n > LG_PROTO_PATH_HASHES_MAX) {
        return "path is too long";
    }
    return NULL;
}

static const char *consistency_invalid(const struct lg_proto_consistency_proof *k)
{
    if (k->from_size == 0 || k->from_size > k->to_size) {
        return "from_size must be in 1..to_size";
    }
    if (k->path.n > LG_PROTO_PATH_HASHES_MAX) {
        return "path is too long";
    }
    return NULL;
}

/* The digest map (also nested in a proof). */
static void p_digest(struct wr *w, const struct lg_proto_digest *g)
{
    p_map(w, 6);
    p_cstr(w, "tree_size");
    p_u64(w, g->tree_size);
    p_cstr(w, "root");
    p_hex(w, g->root, LG_PROTO_HASH_BYTES);
    p_cstr(w, "timestamp");
    p_u64(w, g->timestamp_us);
    p_cstr(w, "node_id");
    p_u64(w, g->node_id);
    p_cstr(w, "public_key");
    p_hex(w, (const uint8_t *)g->public_key.ptr, g->public_key.len);
    p_cstr(w, "signature");
    p_hex(w, (const uint8_t *)g->signature.ptr, g->signature.len);
}

/* A proof path: an array of hex hashes. */
static void p_path(struct wr *w, const struct lg_proto_path *path)
{
    LG_PRE(path->n == 0 || path->hashes != NULL);
    p_array(w, path->n);
    for (uint32_t i = 0; i < path->n; i++) {
        p_hex(w, path->hashes[i], LG_PROTO_HASH_BYTES);
    }
}

static int p_proof(struct wr *w, const struct lg_proto_proof *f)
{
    if (proof_invalid(f) != NULL) {
        return f->body.len > LG_RECORD_BODY_BYTES_MAX ? LG_ETOOLARGE : LG_EINVAL;
    }
    p_map(w, 6);
    p_cstr(w, "seq");
    p_u64(w, f->seq);
    p_cstr(w, "leaf_index");
    p_u64(w, f->leaf_index);
    p_cstr(w, "tree_size");
    p_u64(w, f->tree_size);
    p_cstr(w, "body");
    p_hex(w, (const uint8_t *)f->body.ptr, f->body.len);
    p_cstr(w, "path");
    p_path(w, &f->path);
    p_cstr(w, "digest");
    p_digest(w, &f->digest);
    return LG_OK;
}

static int p_consistency(struct wr *w, const struct lg_proto_consistency_proof *k)
{
    if (consistency_invalid(k) != NULL) {
        return LG_EINVAL;
    }
    p_map(w, 3);
    p_cstr(w, "from_size");
    p_u64(w, k->from_size);
    p_cstr(w, "to_size");
    p_u64(w, k->to_size);
    p_cstr(w, "path");
    p_path(w, &k->path);
    return LG_OK;
}

/* status's audit map. */
static void p_audit(struct wr *w, const struct lg_proto_audit *a)
{
    p_map(w, 7);
    p_cstr(w, "interval_ms");
    p_u64(w, a->interval_ms);
    p_cstr(w, "checks");
    p_u64(w, a->checks);
    p_cstr(w, "mismatches");
    p_u64(w, a->mismatches);
    p_cstr(w, "errors");
    p_u64(w, a->errors);
    p_cstr(w, "skipped");
    p_u64(w, a->skipped);
    p_cstr(w, "last_mismatch_peer");
    p_u64(w, a->last_mismatch_peer);
    p_cstr(w, "last_mismatch_size");
    p_u64(w, a->last_mismatch_size);
}

static void p_gossip(struct wr *w, const struct lg_proto_gossip *g)
{
    p_map(w, 7);
    p_cstr(w, "alive");
    p_u64(w, g->alive);
    p_cstr(w, "suspect");
    p_u64(w, g->suspect);
    p_cstr(w, "dead");
    p_u64(w, g->dead);
    p_cstr(w, "left");
    p_u64(w, g->left);
    p_cstr(w, "dropped_auth");
    p_u64(w, g->dropped_auth);
    p_cstr(w, "dropped_cluster");
    p_u64(w, g->dropped_cluster);
    p_cstr(w, "dropped_malformed");
    p_u64(w, g->dropped_malformed);
}

/* members: {members: [{id, raft_address, client_address, role, leader, gossip,
 * incarnation}...]}. */
static int p_members(struct wr *w, const struct lg_proto_response *r)
{
    uint32_t n = r->u.members.n_items;
    if (n > LG_PROTO_MEMBERS_MAX) {
        return LG_EINVAL;
    }
    p_map(w, 1);
    p_cstr(w, "members");
    p_array(w, n);
    for (uint32_t i = 0; i < n; i++) {
        const struct lg_proto_member *m = &r->u.members.items[i];
        if (m->raft_address.len == 0 || m->role.len == 0) {
            return LG_EINVAL;
        }
        p_map(w, 7);
        p_cstr(w, "id");
        p_u64(w, m->id);
        p_cstr(w, "raft_address");
        p_str(w, m->raft_address);
        p_cstr(w, "client_address");
        p_str_nil(w, m->client_address);
        p_cstr(w, "role");
        p_str(w, m->role);
        p_cstr(w, "leader");
        p_bool(w, m->leader);
        p_cstr(w, "gossip");
        p_str_nil(w, m->gossip);
        p_cstr(w, "incarnation");
        p_u64(w, m->incarnation);
    }
    return LG_OK;
}

/* The result map of op. */
static int p_result(struct wr *w, int op, const struct lg_proto_response *r)
{
    switch (op) {
    case LG_PROTO_OP_PING:
        p_map(w, 1);
        p_cstr(w, "node_id");
        p_u64(w, r->u.ping_node_id);
        return LG_OK;
    case LG_PROTO_OP_STATUS: {
        const struct lg_proto_status *s = &r->u.status;
        if (s->role >= LG_PROTO_ROLE_COUNT) {
            return LG_EINVAL;
        }
        p_map(w, 9u + CNT(s->public_key.len > 0) + CNT(s->has_audit) + CNT(s->has_gossip));
        p_cstr(w, "node_id");
        p_u64(w, s->node_id);
        p_cstr(w, "role");
        p_cstr(w, role_names[s->role]);
        p_cstr(w, "leader_id");
        p_u64(w, s->leader_id);
        p_cstr(w, "leader_client");
        p_str_nil(w, s->leader_client);
        p_cstr(w, "term");
        p_u64(w, s->term);
        p_cstr(w, "commit_index");
        p_u64(w, s->commit_index);
        p_cstr(w, "applied_index");
        p_u64(w, s->applied_index);
        p_cstr(w, "journal_seq");
        p_u64(w, s->journal_seq);
        p_cstr(w, "chain_head");
        p_hex(w, s->chain_head, LG_PROTO_HASH_BYTES);
        if (s->public_key.len > 0) {
            p_cstr(w, "public_key");
            p_hex(w, (const uint8_t *)s->public_key.ptr, s->public_key.len);
        }
        if (s->has_audit) {
            p_cstr(w, "audit");
            p_audit(w, &s->audit);
        }
        if (s->has_gossip) {
            p_cstr(w, "gossip");
            p_gossip(w, &s->gossip);
        }
        return LG_OK;
    }
    case LG_PROTO_OP_SUBMIT:
        p_tx_result(w, &r->u.submit);
        return LG_OK;
    case LG_PROTO_OP_SUBMIT_BATCH:
        p_map(w, 1);
        p_cstr(w, "results");
        p_array(w, r->u.batch.n_items);
        for (uint32_t i = 0; i < r->u.batch.n_items; i++) {
            const struct lg_proto_batch_item *it = &r->u.batch.items[i];
            p_map(w, 2);
            p_cstr(w, "ok");
            p_bool(w, it->ok);
            if (it->ok) {
                p_cstr(w, "result");
                p_tx_result(w, &it->result);
            } else {
                p_cstr(w, "error");
                p_error_map(w, &it->error);
            }
        }
        return LG_OK;
    case LG_PROTO_OP_GET_TX:
        p_tx(w, &r->u.get_tx);
        return LG_OK;
    case LG_PROTO_OP_LIST_TXS:
        p_map(w, 1u + CNT(r->u.list_txs.cursor.len > 0));
        p_cstr(w, "txs");
        p_array(w, r->u.list_txs.n_txs);
        for (uint32_t i = 0; i < r->u.list_txs.n_txs; i++) {
            p_tx(w, &r->u.list_txs.txs[i]);
        }
        p_opt_str(w, "cursor", r->u.list_txs.cursor);
        return LG_OK;
    case LG_PROTO_OP_ACCOUNT: {
        const struct lg_proto_account *a = &r->u.account;
        p_map(w, 4);
        p_cstr(w, "address");
        p_str(w, a->address);
        p_cstr(w, "metadata");
        p_kv(w, a->metadata, a->n_metadata);
        p_cstr(w, "version");
        p_u64(w, a->version);
        p_cstr(w, "volumes");
        p_map(w, a->n_volumes);
        for (uint32_t i = 0; i < a->n_volumes; i++) {
            p_str(w, a->volumes[i].asset);
            p_map(w, 3);
            p_cstr(w, "input");
            p_amount(w, a->volumes[i].input);
            p_cstr(w, "output");
            p_amount(w, a->volumes[i].output);
            p_cstr(w, "balance");
            p_balance(w, a->volumes[i].balance);
        }
        return LG_OK;
    }
    case LG_PROTO_OP_BALANCES: {
        const struct lg_proto_balances *b = &r->u.balances;
        p_map(w, 2);
        p_cstr(w, "accounts");
        p_map(w, b->n_accounts);
        for (uint32_t i = 0; i < b->n_accounts; i++) {
            p_str(w, b->accounts[i].address);
            p_balance_map(w, b->accounts[i].balances, b->accounts[i].n_balances);
        }
        p_cstr(w, "totals");
        p_balance_map(w, b->totals, b->n_totals);
        return LG_OK;
    }
    case LG_PROTO_OP_DIGEST:
        p_digest(w, &r->u.digest);
        return LG_OK;
    case LG_PROTO_OP_PROOF:
        return p_proof(w, &r->u.proof);
    case LG_PROTO_OP_CONSISTENCY:
        return p_consistency(w, &r->u.consistency);
    case LG_PROTO_OP_MEMBERS:
        return p_members(w, r);
    case LG_PROTO_OP_READ_INDEX:
        p_map(w, 1);
        p_cstr(w, "index");
        p_u64(w, r->u.read_index);
        return LG_OK;
    case LG_PROTO_OP_JOURNAL_READ:
        return p_journal_read(w, r);
    default:
        return LG_EINVAL;
    }
}

/* Server side: one response frame. */
int lg_proto_encode_response(int op, const struct lg_proto_response *r,
                             struct lg_buf *out)
{
    LG_PRE(r != NULL && out != NULL);
    if (r->ok && (op <= LG_PROTO_OP_NONE || op >= LG_PROTO_OP_COUNT)) {
        return LG_EINVAL;
    }
    struct wr w;
    wr_begin(&w, out);
    p_map(&w, 3);
    p_cstr(&w, "id");
    p_u64(&w, r->id);
    p_cstr(&w, "ok");
    p_bool(&w, r->ok);
    if (r->ok) {
        p_cstr(&w, "result");
        int rc = p_result(&w, op, r);
        if (rc != LG_OK) {
            w.err = rc;
        }
    } else {
        p_cstr(&w, "error");
        p_error_map(&w, &r->error);
    }
    return wr_end(&w);
}

/* Shorthand for an error response. */
int lg_proto_encode_error(uint64_t id, int code, const char *message, const char *leader,
                          struct lg_buf *out)
{
    LG_PRE(code != LG_OK);
    struct lg_proto_response r;
    memset(&r, 0, sizeof r);
    r.id = id;
    r.ok = false;
    r.error.code = code;
    if (message != NULL) {
        size_t n = strlen(message);
        r.error.message.ptr = message;
        r.error.message.len = (uint32_t)(n > LG_PROTO_TEXT_BYTES_MAX ? LG_PROTO_TEXT_BYTES_MAX
                                                                     : n);
    }
    if (leader != NULL) {
        r.error.leader.ptr = leader;
        r.error.leader.len = (uint32_t)strnlen(leader, LG_PROTO_TEXT_BYTES_MAX);
    }
    return lg_proto_encode_response(LG_PROTO_OP_NONE, &r, out);
}

/* ---------------------------------------------------------------------------------------
 * Response decoding (client side): table-driven maps, unknown keys skipped */

enum ftype {
    F_U64,
    F_STR,
    F_STR_NIL, /* string or nil (len 0) */
    F_HASH,    /* 64 lowercase hex characters into uint8_t[32] */
    F_HEX,     /* lowercase hex into arena bytes (struct lg_str) */
    F_ROLE,    /* role name into uint8_t */
    F_BOOL,
    F_CUSTOM,  /* decoded by the map's callback */
};

struct field {
    const char *name;
    uint8_t type;
    bool optional;
    size_t off;
};

typedef int (*custom_fn)(struct dec *d, void *base, const char *name, const char *path);

static int hex_nibble(char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }
    return -1;
}

/* Lowercase hex text s into out (s.len / 2 bytes). false on a bad character or odd length. */
static bool hex_decode(struct lg_str s, uint8_t *out)
{
    if (s.len % 2u != 0) {
        return false;
    }
    for (uint32_t i = 0; i < s.len / 2u; i++) {
        int hi = hex_nibble(s.ptr[2u * i]);
        int lo = hex_nibble(s.ptr[2u * i + 1u]);
        if (hi < 0 || lo < 0) {
            return false;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

/* Read one field value of type t into p. */
static int dec_field_value(struct dec *d, uint8_t t, void *p, const char *path)
{
    struct lg_str s = {NULL, 0};
    switch (t) {
    case F_U64:
        D_READ(d, rd_uint(&d->r, p), W_UINT, "%s", path);
        return LG_OK;
    case F_BOOL:
        D_READ(d, rd_bool(&d->r, p), "must be a boolean", "%s", path);
        return LG_OK;
    case F_STR_NIL:
        if (rd_is_nil(&d->r)) {
            d->r.p++;
            memset(p, 0, sizeof s);
            return LG_OK;
        }
        D_READ(d, rd_str(&d->r, p), "must be a string or nil", "%s", path);
        return LG_OK;
    case F_STR:
        D_READ(d, rd_str(&d->r, p), W_STR, "%s", path);
        return LG_OK;
    case F_ROLE: {
        D_READ(d, rd_str(&d->r, &s), W_STR, "%s", path);
        int role = name_index(s.ptr, s.len, role_names, LG_PROTO_ROLE_COUNT);
        if (role < 0) {
            return lg_tx_fail(&d->c, LG_EBADREQ, "unknown role", "%s", path);
        }
        *(uint8_t *)p = (uint8_t)role;
        return LG_OK;
    }
    case F_HASH:
        D_READ(d, rd_str(&d->r, &s), W_STR, "%s", path);
        if (s.len != 2u * LG_PROTO_HASH_BYTES || !hex_decode(s, p)) {
            return lg_tx_fail(&d->c, LG_EBADREQ, "must be 64 lowercase hex characters", "%s",
                              path);
        }
        return LG_OK;
    case F_HEX: {
        D_READ(d, rd_str(&d->r, &s), W_STR, "%s", path);
        if (s.len > 2u * LG_PROTO_KEY_BYTES_MAX) {
            return lg_tx_fail(&d->c, LG_ETOOLARGE, "too long", "%s", path);
        }
        uint8_t *bytes;
        D_TRY(dec_alloc(d, s.len / 2u, 1, (void **)&bytes));
        if (!hex_decode(s, bytes)) {
            return lg_tx_fail(&d->c, LG_EBADREQ, "must be lowercase hex", "%s", path);
        }
        struct lg_str *out = p;
        out->ptr = (const char *)bytes;
        out->len = s.len / 2u;
        return LG_OK;
    }
    default:
        LG_UNREACHABLE("field type");
    }
}

/* A map whose known keys are in f[0..nf); unknown keys are skipped. */
static int dec_fields(struct dec *d, void *base, const struct field *f, unsigned nf,
                      custom_fn custom, const char *path)
{
    LG_PRE(nf <= 32);
    uint32_t n;
    D_READ(d, rd_map(&d->r, &n), W_MAP, "%s", path);
    uint32_t seen = 0;
    for (uint32_t k = 0; k < n; k++) {
        struct lg_str key;
        D_TRY(dec_key(d, &key, path));
        unsigned i = 0;
        while (i < nf && !str_is(key.ptr, key.len, f[i].name)) {
            i++;
        }
        char fpath[128];
        if (i == nf) {
            char q[LG_TX_QUOTE_BYTES];
            lg_tx_quote(key, q);
            D_READ(d, lg_mpread_skip(&d->r, LG_PROTO_DEPTH_MAX), "", "%s.%s", path, q);
            continue;
        }
        lg_tx_path_printf(fpath, sizeof fpath, "%s.%s", path, f[i].name);
        D_TRY(dec_seen(d, &seen, i, fpath));
        if (f[i].type == F_CUSTOM) {
            D_TRY(custom(d, base, f[i].name, fpath));
        } else {
            D_TRY(dec_field_value(d, f[i].type, (char *)base + f[i].off, fpath));
        }
    }
    for (unsigned i = 0; i < nf; i++) {
        if (!f[i].optional && !(seen & (1u << i))) {
            return lg_tx_fail(&d->c, LG_EBADREQ, "missing", "%s.%s", path, f[i].name);
        }
    }
    d->last_seen = seen;
    return LG_OK;
}

#define FLD(type_, name_, t, opt) {#name_, (t), (opt), offsetof(type_, name_)}

static const struct field tx_result_fields[] = {
    FLD(struct lg_proto_tx_result, tx_id, F_U64, false),
    FLD(struct lg_proto_tx_result, seq, F_U64, false),
    FLD(struct lg_proto_tx_result, index, F_U64, false),
    {"timestamp", F_U64, false, offsetof(struct lg_proto_tx_result, timestamp_us)},
    FLD(struct lg_proto_tx_result, hash, F_HASH, false),
};

static const struct field error_fields[] = {
    {"code", F_CUSTOM, false, 0},
    FLD(struct lg_proto_error, message, F_STR, false),
    FLD(struct lg_proto_error, leader, F_STR_NIL, true),
};

static int error_custom(struct dec *d, void *base, const char *name, const char *path)
{
    struct lg_proto_error *e = base;
    struct lg_str s;
    (void)name;
    D_READ(d, rd_str(&d->r, &s), W_STR, "%s", path);
    char wire[32];
    if (s.len >= sizeof wire) {
        return lg_tx_fail(&d->c, LG_EBADREQ, "unknown error code", "%s", path);
    }
    memcpy(wire, s.ptr, s.len);
    wire[s.len] = '\0';
    e->code = lg_err_from_wire(wire);
    if (e->code == LG_OK) {
        return lg_tx_fail(&d->c, LG_EBADREQ, "\"ok\" is not an error code", "%s", path);
    }
    return LG_OK;
}

static const struct field posting_fields[] = {
    FLD(struct lg_posting, source, F_STR, false),
    FLD(struct lg_posting, destination, F_STR, false),
    {"amount", F_CUSTOM, false, 0},
    FLD(struct lg_posting, asset, F_STR, false),
};

static int posting_custom(struct dec *d, void *base, const char *name, const char *path)
{
    (void)name;
    D_READ(d, rd_amount(&d->r, &((struct lg_posting *)base)->amount), W_AMOUNT, "%s",
           path);
    return LG_OK;
}

/* An array of n maps decoded with fields f into items of size each. */
static int dec_map_array(struct dec *d, void **out, uint32_t *n_out, size_t size,
                         uint32_t max, const struct field *f, unsigned nf, custom_fn custom,
                         const char *path)
{
    uint32_t n;
    D_READ(d, rd_array(&d->r, &n), W_ARRAY, "%s", path);
    D_TRY(dec_count(d, n, max, 1, "items", path));
    uint8_t *items;
    D_TRY(dec_alloc(d, n, size, (void **)&items));
    for (uint32_t i = 0; i < n; i++) {
        char ipath[128];
        lg_tx_path_printf(ipath, sizeof ipath, "%s[%u]", path, i);
        D_TRY(dec_fields(d, items + i * size, f, nf, custom, ipath));
    }
    *out = items;
    *n_out = n;
    return LG_OK;
}

static const struct field tx_fields[] = {
    FLD(struct lg_proto_tx, ledger, F_STR, false),
    FLD(struct lg_proto_tx, tx_id, F_U64, false),
    FLD(struct lg_proto_tx, seq, F_U64, false),
    FLD(struct lg_proto_tx, index, F_U64, false),
    {"timestamp", F_U64, false, offsetof(struct lg_proto_tx, timestamp_us)},
    {"postings", F_CUSTOM, false, 0},
    {"metadata", F_CUSTOM, false, 0},
    FLD(struct lg_proto_tx, reference, F_STR_NIL, false),
    FLD(struct lg_proto_tx, hash, F_HASH, false),
};

static int tx_custom(struct dec *d, void *base, const char *name, const char *path)
{
    struct lg_proto_tx *t = base;
    if (name[0] == 'p') {
        return dec_map_array(d, (void **)&t->postings, &t->n_postings, sizeof *t->postings,
                             LG_POSTINGS_MAX, posting_fields, 4, posting_custom, path);
    }
    return dec_kv_map(d, &t->metadata, &t->n_metadata, LG_METADATA_ENTRIES_MAX, path);
}

static const struct field volume_fields[] = {
    {"input", F_CUSTOM, false, 0},
    {"output", F_CUSTOM, false, 0},
    {"balance", F_CUSTOM, false, 0},
};

static int volume_custom(struct dec *d, void *base, const char *name, const char *path)
{
    struct lg_proto_volume *v = base;
    if (name[0] == 'b') {
        D_READ(d, rd_balance(&d->r, &v->balance), W_AMOUNT, "%s", path);
    } else {
        D_READ(d, rd_amount(&d->r, name[0] == 'i' ? &v->input : &v->output), W_AMOUNT, "%s",
               path);
    }
    return LG_OK;
}

/* {asset: balance} into an arena array. */
static int dec_balance_map(struct dec *d, const struct lg_proto_balance **out,
                           uint32_t *n_out, const char *path)
{
    uint32_t n;
    D_READ(d, rd_map(&d->r, &n), W_MAP, "%s", path);
    D_TRY(dec_count(d, n, UINT32_MAX, 2, "assets", path));
    struct lg_proto_balance *b;
    D_TRY(dec_alloc(d, n, sizeof *b, (void **)&b));
    for (uint32_t i = 0; i < n; i++) {
        D_TRY(dec_key(d, &b[i].asset, path));
        char q[LG_TX_QUOTE_BYTES];
        lg_tx_quote(b[i].asset, q);
        D_READ(d, rd_balance(&d->r, &b[i].balance), W_AMOUNT, "%s.%s", path, q);
    }
    *out = b;
    *n_out = n;
    return LG_OK;
}

static const struct field account_fields[] = {
    FLD(struct lg_proto_account, address, F_STR, false),
    {"metadata", F_CUSTOM, false, 0},
    FLD(struct lg_proto_account, version, F_U64, false),
    {"volumes", F_CUSTOM, false, 0},
};

static int account_custom(struct dec *d, void *base, const char *name, const char *path)
{
    struct lg_proto_account *a = base;
    if (name[0] == 'm') {
        return dec_kv_map(d, &a->metadata, &a->n_metadata, LG_METADATA_ENTRIES_MAX, path);
    }
    uint32_t n;
    D_READ(d, rd_map(&d->r, &n), W_MAP, "%s", path);
    D_TRY(dec_count(d, n, UINT32_MAX, 2, "assets", path));
    struct lg_proto_volume *v;
    D_TRY(dec_alloc(d, n, sizeof *v, (void **)&v));
    for (uint32_t i = 0; i < n; i++) {
        D_TRY(dec_key(d, &v[i].asset, path));
        char q[LG_TX_QUOTE_BYTES];
        char vpath[128];
        lg_tx_quote(v[i].asset, q);
        lg_tx_path_printf(vpath, sizeof vpath, "%s.%s", path, q);
        D_TRY(dec_fields(d, &v[i], volume_fields, 3, volume_custom, vpath));
    }
    a->volumes = v;
    a->n_volumes = n;
    return LG_OK;
}

static const struct field balances_fields[] = {
    {"accounts", F_CUSTOM, false, 0},
    {"totals", F_CUSTOM, false, 0},
};

static int balances_custom(struct dec *d, void *base, const char *name, const char *path)
{
    struct lg_proto_balances *b = base;
    if (name[0] == 't') {
        return dec_balance_map(d, &b->totals, &b->n_totals, path);
    }
    uint32_t n;
    D_READ(d, rd_map(&d->r, &n), W_MAP, "%s", path);
    D_TRY(dec_count(d, n, UINT32_MAX, 2, "accounts", path));
    struct lg_proto_account_balances *a;
    D_TRY(dec_alloc(d, n, sizeof *a, (void **)&a));
    for (uint32_t i = 0; i < n; i++) {
        D_TRY(dec_key(d, &a[i].address, path));
        char q[LG_TX_QUOTE_BYTES];
        char apath[128];
        lg_tx_quote(a[i].address, q);
        lg_tx_path_printf(apath, sizeof apath, "%s.%s", path, q);
        D_TRY(dec_balance_map(d, &a[i].balances, &a[i].n_balances, apath));
    }
    b->accounts = a;
    b->n_accounts = n;
    return LG_OK;
}

static const struct field status_fields[] = {
    FLD(struct lg_proto_status, node_id, F_U64, false),
    FLD(struct lg_proto_status, role, F_ROLE, false),
    FLD(struct lg_proto_status, leader_id, F_U64, false),
    FLD(struct lg_proto_status, leader_client, F_STR_NIL, false),
    FLD(struct lg_proto_status, term, F_U64, false),
    FLD(struct lg_proto_status, commit_index, F_U64, false),
    FLD(struct lg_proto_status, applied_index, F_U64, false),
    FLD(struct lg_proto_status, journal_seq, F_U64, false),
    FLD(struct lg_proto_status, chain_head, F_HASH, false),
    {"public_key", F_CUSTOM, true, 0},
    {"audit", F_CUSTOM, true, 0},
    {"gossip", F_CUSTOM, true, 0},
};

static const struct field gossip_fields[] = {
    FLD(struct lg_proto_gossip, alive, F_U64, false),
    FLD(struct lg_proto_gossip, suspect, F_U64, false),
    FLD(struct lg_proto_gossip, dead, F_U64, false),
    FLD(struct lg_proto_gossip, left, F_U64, false),
    FLD(struct lg_proto_gossip, dropped_auth, F_U64, false),
    FLD(struct lg_proto_gossip, dropped_cluster, F_U64, false),
    FLD(struct lg_proto_gossip, dropped_malformed, F_U64, false),
};

static const struct field audit_fields[] = {
    FLD(struct lg_proto_audit, interval_ms, F_U64, false),
    FLD(struct lg_proto_audit, checks, F_U64, false),
    FLD(struct lg_proto_audit, mismatches, F_U64, false),
    FLD(struct lg_proto_audit, errors, F_U64, false),
    FLD(struct lg_proto_audit, skipped, F_U64, true), /* absent from older nodes */
    FLD(struct lg_proto_audit, last_mismatch_peer, F_U64, false),
    FLD(struct lg_proto_audit, last_mismatch_size, F_U64, false),
};

/* Lowercase hex of 1..max bytes into arena bytes (a view). */
static int dec_hex_bytes(struct dec *d, struct lg_str *out, uint32_t max, const char *path)
{
    struct lg_str s = {NULL, 0};
    D_READ(d, rd_str(&d->r, &s), W_STR, "%s", path);
    if (s.len == 0) {
        return lg_tx_fail(&d->c, LG_EBADREQ, "must not be empty", "%s", path);
    }
    if (s.len / 2u > max) {
        return lg_tx_fail(&d->c, LG_ETOOLARGE, "too long", "%s", path);
    }
    uint8_t *bytes;
    D_TRY(dec_alloc(d, s.len / 2u + 1u, 1, (void **)&bytes));
    if (!hex_decode(s, bytes)) {
        return lg_tx_fail(&d->c, LG_EBADREQ, "must be lowercase hex", "%s", path);
    }
    out->ptr = (const char *)bytes;
    out->len = s.len / 2u;
    return LG_OK;
}

static int status_custom(struct dec *d, void *base, const char *name, const char *path)
{
    struct lg_proto_status *st = base;
    if (name[0] == 'p') {
        return dec_hex_bytes(d, &st->public_key, LG_PROTO_KEY_BYTES_MAX, path);
    }
    if (name[0] == 'g') {
        st->has_gossip = true;
        return dec_fields(d, &st->gossip, gossip_fields, 7, NULL, path);
    }
    st->has_audit = true;
    return dec_fields(d, &st->audit, audit_fields, 7, NULL, path);
}

static const struct field digest_fields[] = {
    FLD(struct lg_proto_digest, tree_size, F_U64, false),
    FLD(struct lg_proto_digest, root, F_HASH, false),
    {"timestamp", F_U64, false, offsetof(struct lg_proto_digest, timestamp_us)},
    FLD(struct lg_proto_digest, node_id, F_U64, false),
    FLD(struct lg_proto_digest, public_key, F_HEX, false),
    FLD(struct lg_proto_digest, signature, F_HEX, false),
};

/* A proof path: an array of hex hashes into the arena. */
static int dec_path(struct dec *d, struct lg_proto_path *out, const char *path)
{
    uint32_t n;
    D_READ(d, rd_array(&d->r, &n), W_ARRAY, "%s", path);
    D_TRY(dec_count(d, n, LG_PROTO_PATH_HASHES_MAX, 1, "hashes", path));
    uint8_t(*hashes)[LG_PROTO_HASH_BYTES];
    D_TRY(dec_alloc(d, n, sizeof *hashes, (void **)&hashes));
    for (uint32_t i = 0; i < n; i++) {
        char ipath[128];
        lg_tx_path_printf(ipath, sizeof ipath, "%s[%u]", path, i);
        D_TRY(dec_field_value(d, F_HASH, hashes[i], ipath));
    }
    out->hashes = (const uint8_t(*)[LG_PROTO_HASH_BYTES])hashes;
    out->n = n;
    return LG_OK;
}

static const struct field proof_fields[] = {
    FLD(struct lg_proto_proof, seq, F_U64, false),
    FLD(struct lg_proto_proof, leaf_index, F_U64, false),
    FLD(struct lg_proto_proof, tree_size, F_U64, false),
    {"body", F_CUSTOM, false, 0},
    {"path", F_CUSTOM, false, 0},
    {"digest", F_CUSTOM, false, 0},
};

static int proof_custom(struct dec *d, void *base, const char *name, const char *path)
{
    struct lg_proto_proof *f = base;
    switch (name[0]) {
    case 'b':
        return dec_hex_bytes(d, &f->body, LG_RECORD_BODY_BYTES_MAX, path);
    case 'p':
        return dec_path(d, &f->path, path);
    default:
        return dec_fields(d, &f->digest, digest_fields, 6, NULL, path);
    }
}

static const struct field consistency_fields[] = {
    FLD(struct lg_proto_consistency_proof, from_size, F_U64, false),
    FLD(struct lg_proto_consistency_proof, to_size, F_U64, false),
    {"path", F_CUSTOM, false, 0},
};

static int consistency_custom(struct dec *d, void *base, const char *name, const char *path)
{
    (void)name;
    return dec_path(d, &((struct lg_proto_consistency_proof *)base)->path, path);
}

static const struct field ping_fields[] = {
    {"node_id", F_U64, false, 0},
};

static const struct field item_fields[] = {
    FLD(struct lg_proto_batch_item, ok, F_BOOL, false),
    {"result", F_CUSTOM, true, 0},
    {"error", F_CUSTOM, true, 0},
};

static int item_custom(struct dec *d, void *base, const char *name, const char *path)
{
    struct lg_proto_batch_item *it = base;
    if (name[0] == 'r') {
        return dec_fields(d, &it->result, tx_result_fields, 5, NULL, path);
    }
    return dec_fields(d, &it->error, error_fields, 3, error_custom, path);
}

static const struct field batch_fields[] = {
    {"results", F_CUSTOM, false, 0},
};

static const struct field list_fields[] = {
    {"txs", F_CUSTOM, false, 0},
    {"cursor", F_CUSTOM, true, 0},
};

static int list_custom(struct dec *d, void *base, const char *name, const char *path)
{
    struct lg_proto_response *r = base;
    if (name[0] == 'c') {
        return dec_nonempty(d, &r->u.list_txs.cursor, path);
    }
    return dec_map_array(d, (void **)&r->u.list_txs.txs, &r->u.list_txs.n_txs,
                         sizeof(struct lg_proto_tx), LG_PAGE_LIMIT_MAX, tx_fields, 9, tx_custom,
                         path);
}

static int batch_custom(struct dec *d, void *base, const char *name, const char *path)
{
    struct lg_proto_response *r = base;
    (void)name;
    uint32_t n;
    D_READ(d, rd_array(&d->r, &n), W_ARRAY, "%s", path);
    D_TRY(dec_count(d, n, LG_PROTO_BATCH_TXS_MAX, 1, "items", path));
    struct lg_proto_batch_item *items;
    D_TRY(dec_alloc(d, n, sizeof *items, (void **)&items));
    for (uint32_t i = 0; i < n; i++) {
        char ipath[128];
        lg_tx_path_printf(ipath, sizeof ipath, "%s[%u]", path, i);
        D_TRY(dec_fields(d, &items[i], item_fields, 3, item_custom, ipath));
        /* ok selects which of result and error must be there. */
        uint32_t want = items[i].ok ? 1u << 1 : 1u << 2;
        if (!(d->last_seen & want)) {
            return lg_tx_fail(&d->c, LG_EBADREQ, "missing", "%s.%s", ipath,
                              items[i].ok ? "result" : "error");
        }
    }
    r->u.batch.items = items;
    r->u.batch.n_items = n;
    return LG_OK;
}

static const struct field member_fields[] = {
    FLD(struct lg_proto_member, id, F_U64, false),
    FLD(struct lg_proto_member, raft_address, F_STR, false),
    FLD(struct lg_proto_member, client_address, F_STR_NIL, false),
    FLD(struct lg_proto_member, role, F_STR, false),
    FLD(struct lg_proto_member, leader, F_BOOL, false),
    FLD(struct lg_proto_member, gossip, F_STR_NIL, true),
    FLD(struct lg_proto_member, incarnation, F_U64, true),
};

static const struct field members_fields[] = {
    {"members", F_CUSTOM, false, 0},
};

static int members_custom(struct dec *d, void *base, const char *name, const char *path)
{
    struct lg_proto_response *r = base;
    (void)name;
    return dec_map_array(d, (void **)&r->u.members.items, &r->u.members.n_items,
                         sizeof(struct lg_proto_member), LG_PROTO_MEMBERS_MAX, member_fields, 7,
                         NULL, path);
}

static const struct field read_index_fields[] = {
    {"index", F_U64, false, 0},
};

static const struct field journal_read_fields[] = {
    {"records", F_CUSTOM, false, 0},
    {"first_seq", F_U64, false, offsetof(struct lg_proto_response, u.journal_read.first_seq)},
    {"last_seq", F_U64, false, offsetof(struct lg_proto_response, u.journal_read.last_seq)},
};

/* journal_read's records: an array of bins (raw record bodies, views into the input). */
static int journal_read_custom(struct dec *d, void *base, const char *name, const char *path)
{
    struct lg_proto_response *r = base;
    (void)name;
    uint32_t n;
    D_READ(d, rd_array(&d->r, &n), W_ARRAY, "%s", path);
    /* A bin takes at least 2 bytes (0xc4 and its length). */
    D_TRY(dec_count(d, n, LG_PROTO_JOURNAL_READ_RECORDS_MAX, 2, "records", path));
    struct lg_str *records;
    D_TRY(dec_alloc(d, n, sizeof *records, (void **)&records));
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *ptr;
        D_READ(d, lg_mpread_bin(&d->r, LG_MPREAD_ANY, &ptr, &records[i].len), "must be a bin",
               "%s[%u]", path, i);
        records[i].ptr = (const char *)ptr;
        const char *why = journal_record_invalid(records[i]);
        if (why != NULL) {
            return lg_tx_fail(&d->c, records[i].len == 0 ? LG_EBADREQ : LG_ETOOLARGE, why,
                              "%s[%u]", path, i);
        }
    }
    r->u.journal_read.records = records;
    r->u.journal_read.n_records = n;
    return LG_OK;
}

/* The result map for d->op into r. */
static int dec_result(struct dec *d, struct lg_proto_response *r, const char *path)
{
    switch (d->op) {
    case LG_PROTO_OP_PING:
        return dec_fields(d, &r->u.ping_node_id, ping_fields, 1, NULL, path);
    case LG_PROTO_OP_STATUS:
        return dec_fields(d, &r->u.status, status_fields, 12, status_custom, path);
    case LG_PROTO_OP_SUBMIT:
        return dec_fields(d, &r->u.submit, tx_result_fields, 5, NULL, path);
    case LG_PROTO_OP_SUBMIT_BATCH:
        return dec_fields(d, r, batch_fields, 1, batch_custom, path);
    case LG_PROTO_OP_GET_TX:
        return dec_fields(d, &r->u.get_tx, tx_fields, 9, tx_custom, path);
    case LG_PROTO_OP_LIST_TXS:
        return dec_fields(d, r, list_fields, 2, list_custom, path);
    case LG_PROTO_OP_ACCOUNT:
        return dec_fields(d, &r->u.account, account_fields, 4, account_custom, path);
    case LG_PROTO_OP_BALANCES:
        return dec_fields(d, &r->u.balances, balances_fields, 2, balances_custom, path);
    case LG_PROTO_OP_DIGEST:
        return dec_fields(d, &r->u.digest, digest_fields, 6, NULL, path);
    case LG_PROTO_OP_PROOF: {
        D_TRY(dec_fields(d, &r->u.proof, proof_fields, 6, proof_custom, path));
        const char *why = proof_invalid(&r->u.proof);
        if (why != NULL) {
            return lg_tx_fail(&d->c, LG_EBADREQ, why, "%s", path);
        }
        return LG_OK;
    }
    case LG_PROTO_OP_CONSISTENCY: {
        D_TRY(dec_fields(d, &r->u.consistency, consistency_fields, 3, consistency_custom,
                         path));
        const char *why = consistency_invalid(&r->u.consistency);
        if (why != NULL) {
            return lg_tx_fail(&d->c, LG_EBADREQ, why, "%s", path);
        }
        return LG_OK;
    }
    case LG_PROTO_OP_MEMBERS:
        return dec_fields(d, r, members_fields, 1, members_custom, path);
    case LG_PROTO_OP_READ_INDEX:
        return dec_fields(d, &r->u.read_index, read_index_fields, 1, NULL, path);
    case LG_PROTO_OP_JOURNAL_READ:
        D_TRY(dec_fields(d, r, journal_read_fields, 3, journal_read_custom, path));
        if (!journal_read_seqs_valid(r->u.journal_read.first_seq, r->u.journal_read.n_records,
                                     r->u.journal_read.last_seq)) {
            return lg_tx_fail(&d->c, LG_EBADREQ,
                              "records must hold seqs first_seq (>= 1) up to at most last_seq",
                              "%s", path);
        }
        return LG_OK;
    default:
        LG_UNREACHABLE("op checked by the caller");
    }
}

static const struct field response_fields[] = {
    FLD(struct lg_proto_response, id, F_U64, false),
    FLD(struct lg_proto_response, ok, F_BOOL, false),
    {"result", F_CUSTOM, true, 0},
    {"error", F_CUSTOM, true, 0},
};

static int response_custom(struct dec *d, void *base, const char *name, const char *path)
{
    struct lg_proto_response *r = base;
    if (name[0] == 'r') {
        return dec_result(d, r, path);
    }
    return dec_fields(d, &r->error, error_fields, 3, error_custom, path);
}

/* Client side: decode one response. */
int lg_proto_decode_response(int op, const void *buf, size_t len, struct lg_arena *arena,
                             struct lg_proto_response *r, char *errmsg)
{
    LG_PRE(r != NULL && arena != NULL);
    LG_PRE(op > LG_PROTO_OP_NONE && op < LG_PROTO_OP_COUNT);
    LG_PRE(buf != NULL || len == 0);
    char local[LG_ERRMSG_SIZE];
    struct dec d = {{buf, (const uint8_t *)buf + len}, arena, {errmsg ? errmsg : local, ""},
                    op, 0, false, 0};
    memset(r, 0, sizeof *r);
    /* "result" may come before "ok": decode it whatever ok says, then check. */
    D_TRY(dec_fields(&d, r, response_fields, 4, response_custom, "response"));
    if (d.r.p != d.r.end) {
        return lg_tx_fail(&d.c, LG_EBADREQ, "trailing bytes after the map", "response");
    }
    uint32_t want = r->ok ? 1u << 2 : 1u << 3;
    if (!(d.last_seen & want)) {
        return lg_tx_fail(&d.c, LG_EBADREQ, "missing", "response.%s", r->ok ? "result" : "error");
    }
    return LG_OK;
}
