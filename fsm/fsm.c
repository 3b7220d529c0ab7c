/* fsm: open, apply, replay, restore, checkpoint (see fsm.h and docs/state-machine.md). */
#include "fsm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsm_int.h"
#include "name.h"

/* Decoding budget of one entry (or one record): LG_DECODE_ARENA_BYTES_MAX (lib/limits.h).
 * The batch decoder allocates only arrays: cmds (at most LG_BATCH_COMMANDS_MAX), and per
 * command postings, metadata and conditions. An array of n items costs n * size rounded
 * up to 16 and its encoding takes at least 1 + n * min bytes (min: the smallest encoded
 * item); with size <= 16 * min every such array costs at most 16 arena bytes per input
 * byte, and the cmds array at most one more frame. So any entry up to LG_FRAME_BYTES_MAX
 * decodes within (16 + 1) * LG_FRAME_BYTES_MAX. */
#define FSM_ARENA_BYTES_MAX LG_DECODE_ARENA_BYTES_MAX
LG_STATIC_ASSERT(sizeof(struct lg_posting) <= LG_DECODE_EXPANSION_MAX * 5u,
                 "posting: [s, d, amount, asset] encodes to at least 5 bytes");
LG_STATIC_ASSERT(sizeof(struct lg_kv) <= LG_DECODE_EXPANSION_MAX * 2u,
                 "metadata entry: key and value encode to at least 2 bytes");
LG_STATIC_ASSERT(sizeof(struct lg_condition) <= LG_DECODE_EXPANSION_MAX * 4u,
                 "condition: [kind, account, version] encodes to at least 4 bytes");
LG_STATIC_ASSERT(sizeof(struct lg_volume) <= LG_DECODE_EXPANSION_MAX * 5u,
                 "volume: [account, asset, input, output] encodes to at least 5 bytes");
LG_STATIC_ASSERT(LG_BATCH_COMMANDS_MAX * sizeof(struct lg_cmd) <= LG_FRAME_BYTES_MAX,
                 "the cmds array fits in one frame's worth of budget");
LG_STATIC_ASSERT(LG_DECODE_ARENA_BYTES_MAX >=
                     (LG_DECODE_EXPANSION_MAX + 1u) * (size_t)LG_FRAME_BYTES_MAX,
                 "any entry up to a frame decodes within the budget");
#define FSM_PAIRS_MAX (2u * LG_POSTINGS_MAX)
#define FSM_CHECKPOINTS_KEPT 2u
#define FSM_CKPT_PREFIX "checkpoint-"
#define FSM_CKPT_SUFFIX ".ckpt"
#define FSM_CKPT_NAME_LEN (sizeof FSM_CKPT_PREFIX - 1u + 20u + sizeof FSM_CKPT_SUFFIX - 1u)

/* ---- small helpers ---- */

static bool str_eq(struct lg_str a, struct lg_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static void reject(struct lg_cmd_result *res, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void reject(struct lg_cmd_result *res, int code, const char *fmt, ...)
{
    LG_PRE(code != LG_OK);
    memset(res, 0, offsetof(struct lg_cmd_result, message));
    res->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->message, sizeof res->message, fmt, ap);
    va_end(ap);
}

static void fail(struct lg_fsm *f, int code, const char *what)
{
    f->failed = true;
    f->fail_code = code;
    lg_errmsg_printf(f->errmsg, code, "%s: %s (%s)", what, lg_err_message(code),
                     f->journal != NULL ? lg_journal_errmsg(f->journal) : "");
}

/* A write error of the Merkle tree file is a write error of this node's disk: fatal like
 * the journal's (sticky). */
static int tree_fail(struct lg_fsm *f, int code, const char *what)
{
    f->failed = true;
    f->fail_code = code;
    return lg_errmsg_printf(f->errmsg, code, "%s: %s", what, lg_merkle_errmsg(f->merkle));
}

/* Add the leaf of the record just journaled to the Merkle tree. */
static int tree_append(struct lg_fsm *f, const void *body, uint32_t len)
{
    int rc = lg_merkle_append(f->merkle, body, len);
    return rc == LG_OK ? LG_OK : tree_fail(f, rc, "merkle append");
}

static uint64_t journal_last(const struct lg_fsm *f)
{
    return lg_journal_last_seq(f->journal);
}

uint64_t lg_fsm_journal_gap(const struct lg_fsm *f)
{
    uint64_t jl = journal_last(f);
    return f->st.last_seq > jl ? f->st.last_seq - jl : 0;
}

/* ---- validation ----
 * Every command is validated once, by the codec's one validator (fsm/codec.c, lib/tx.c):
 * lg_fsm_apply's decoder runs it on the entry's bytes; lg_fsm_apply_batch runs it in
 * canonical mode on hand-built commands (apply_entry). apply_* below add only the rules
 * that need the state (funds, conditions, references, limits of world). */

/* ---- mutation: one code path for apply and replay ---- */

/* Apply a committed record to the state (state true) or only to the history indexes
 * (state false: records the state already covers). digest: the reference digest when
 * known (apply), else computed from the record. Returns LG_OK, LG_ECORRUPT (a record
 * that contradicts the state), LG_ENOMEM. */
/* Accounts and asset ids of rec's volumes, resolved by apply (all existed before the
 * transaction), so the hot path does not look them up again. */
struct fsm_resolved {
    struct fsm_acct *const *accts;
    const uint32_t *assets;
};

static int mutate(struct lg_fsm *f, const struct lg_record *rec, bool state,
                  const uint8_t *digest, const struct fsm_resolved *hint)
{
    struct fsm_state *s = &f->st;
    struct fsm_ledger *l = NULL;
    int rc;
    if (state) {
        if ((rc = lg_fsm_ledger_get(s, rec->ledger.ptr, rec->ledger.len, &l)) != LG_OK) {
            return rc;
        }
    } else {
        l = lg_fsm_ledger_find(s, rec->ledger.ptr, rec->ledger.len);
        if (l == NULL) {
            return LG_ECORRUPT;
        }
    }
    uint32_t idx;
    uint32_t asset;
    switch (rec->kind) {
    case LG_CMD_SUBMIT: {
        if (rec->tx_id != l->n_txix || (state && rec->tx_id != l->n_txs) ||
            (!state && rec->tx_id >= l->n_txs)) {
            return LG_ECORRUPT;
        }
        if (state && hint == NULL) {
            /* creation order = posting order, as apply creates them */
            for (uint32_t i = 0; i < rec->n_postings; i++) {
                const struct lg_posting *p = &rec->postings[i];
                if ((rc = lg_fsm_acct_get(s, l, p->source.ptr, p->source.len, &idx)) ||
                    (rc = lg_fsm_acct_get(s, l, p->destination.ptr, p->destination.len,
                                          &idx)) ||
                    (rc = lg_fsm_asset_get(s, p->asset.ptr, p->asset.len, &asset))) {
                    return rc;
                }
            }
        }
        struct fsm_acct *a = NULL;
        for (uint32_t i = 0; i < rec->n_volumes; i++) {
            const struct lg_volume *v = &rec->volumes[i];
            bool new_acct = i == 0 || !str_eq(v->account, rec->volumes[i - 1].account);
            if (i > 0) {
                const struct lg_volume *u = &rec->volumes[i - 1];
                int c = lg_fsm_addr_cmp(u->account.ptr, u->account.len, v->account.ptr,
                                        v->account.len);
                if (c > 0 || (c == 0 && lg_fsm_addr_cmp(u->asset.ptr, u->asset.len,
                                                        v->asset.ptr, v->asset.len) >= 0)) {
                    return LG_ECORRUPT; /* volumes must be sorted and unique */
                }
            }
            if (new_acct && hint != NULL) {
                a = hint->accts[i];
            } else if (new_acct) {
                idx = lg_fsm_acct_find(l, v->account.ptr, v->account.len,
                                       lg_fsm_hash(v->account.ptr, v->account.len));
                if (idx == FSM_NONE) {
                    return LG_ECORRUPT;
                }
                a = fsm_acct_at(l, idx);
            }
            if (new_acct) {
                if ((rc = lg_fsm_acct_push_tx(a, rec->tx_id)) != LG_OK) {
                    return rc;
                }
                if (state) {
                    a->version++;
                }
            }
            if (state) {
                asset = hint != NULL ? hint->assets[i]
                                     : lg_fsm_asset_find(s, v->asset.ptr, v->asset.len);
                if (asset == FSM_NONE) {
                    return LG_ECORRUPT;
                }
                if ((rc = lg_fsm_acct_set_volumes(a, asset, v->input, v->output)) != LG_OK) {
                    return rc;
                }
            }
        }
        if ((rc = lg_fsm_txix_push(l, rec->seq, rec->timestamp_us)) != LG_OK) {
            return rc;
        }
        if (state) {
            if (rec->reference.len > 0) {
                uint8_t d[LG_HASH_BYTES];
                if (digest == NULL) {
                    struct lg_cmd_submit sub = {
                        .ledger = rec->ledger,
                        .postings = rec->postings,
                        .n_postings = rec->n_postings,
                        .metadata = rec->metadata,
                        .n_metadata = rec->n_metadata,
                        .reference = rec->reference,
                    };
                    /* a record read back was validated by lg_record_decode */
                    rc = lg_cmd_submit_digest_valid(f->digest_ctx, f->sha256, &sub, d);
                    if (rc != LG_OK) {
                        return rc;
                    }
                    digest = d;
                }
                if (lg_fsm_ref_find(l, rec->reference.ptr, rec->reference.len) != FSM_NONE) {
                    return LG_ECORRUPT;
                }
                rc = lg_fsm_ref_add(l, rec->reference.ptr, rec->reference.len, rec->tx_id,
                                    digest);
                if (rc != LG_OK) {
                    return rc;
                }
            }
            l->n_txs++;
        }
        return LG_OK;
    }
    case LG_CMD_SET_METADATA:
        if (!state) {
            return LG_OK;
        }
        if ((rc = lg_fsm_acct_get(s, l, rec->address.ptr, rec->address.len, &idx)) != LG_OK) {
            return rc;
        }
        if (lg_fsm_acct_meta_merged_count(fsm_acct_at(l, idx), rec->metadata,
                                          rec->n_metadata) > LG_METADATA_ENTRIES_MAX) {
            return LG_ECORRUPT;
        }
        if ((rc = lg_fsm_acct_meta_merge(fsm_acct_at(l, idx), rec->metadata,
                                         rec->n_metadata)) != LG_OK) {
            return rc;
        }
        fsm_acct_at(l, idx)->version++;
        return LG_OK;
    case LG_CMD_SET_LIMIT:
        if (!state) {
            return LG_OK;
        }
        if ((rc = lg_fsm_acct_get(s, l, rec->address.ptr, rec->address.len, &idx)) ||
            (rc = lg_fsm_asset_get(s, rec->asset.ptr, rec->asset.len, &asset))) {
            return rc;
        }
        if (fsm_acct_at(l, idx)->world) {
            return LG_ECORRUPT;
        }
        if ((rc = lg_fsm_acct_set_limit(fsm_acct_at(l, idx), asset, rec->limit,
                                        rec->unlimited)) != LG_OK) {
            return rc;
        }
        fsm_acct_at(l, idx)->version++;
        return LG_OK;
    default:
        return LG_ECORRUPT;
    }
}

/* Encode rec, append it to the journal, then mutate the state. A rejection decided here
 * (record too large, encoder refusal) fills res and returns LG_OK; a journal or memory
 * failure is fatal (sticky) and returned. */
static int commit(struct lg_fsm *f, struct lg_record *rec, const uint8_t *digest,
                  const struct fsm_resolved *hint, struct lg_cmd_result *res)
{
    char msg[LG_ERRMSG_SIZE];
    rec->seq = f->st.last_seq + 1u;
    lg_buf_reset(&f->enc);
    /* built from a checked command and the state's own volumes */
    int rc = lg_record_encode_valid(rec, &f->enc, msg);
    if (rc != LG_OK) {
        fail(f, rc, "encoding a journal record");
        return rc;
    }
    if (f->enc.len > LG_RECORD_BODY_BYTES_MAX) {
        reject(res, LG_ETOOLARGE, "journal record of %zu bytes exceeds %u", f->enc.len,
               LG_RECORD_BODY_BYTES_MAX);
        return LG_OK;
    }
    uint64_t seq = 0;
    uint8_t hash[LG_HASH_BYTES];
    rc = lg_journal_append(f->journal, f->enc.data, (uint32_t)f->enc.len, &seq, hash);
    if (rc != LG_OK) {
        fail(f, rc, "journal append");
        return rc;
    }
    LG_ASSERT(seq == rec->seq);
    rc = tree_append(f, f->enc.data, (uint32_t)f->enc.len);
    if (rc != LG_OK) {
        return rc;
    }
    rc = mutate(f, rec, true, digest, hint);
    if (rc != LG_OK) {
        fail(f, rc, "applying a committed record");
        return rc;
    }
    f->st.last_seq = seq;
    memcpy(f->st.last_hash, hash, LG_HASH_BYTES);
    f->st.last_ts = rec->timestamp_us;
    memset(res, 0, sizeof *res);
    res->code = LG_OK;
    res->tx_id = rec->kind == LG_CMD_SUBMIT ? rec->tx_id : 0;
    res->seq = seq;
    res->raft_index = rec->raft_index;
    res->timestamp_us = rec->timestamp_us;
    memcpy(res->hash, hash, LG_HASH_BYTES);
    return LG_OK;
}

/* Find (or add) the pair (addr, asset); NULL when FSM_PAIRS_MAX is reached (cannot
 * happen: a transaction has at most 2 * LG_POSTINGS_MAX pairs). */
static struct fsm_pair *pair_get(struct lg_fsm *f, uint32_t *n, const struct fsm_ledger *l,
                                 uint32_t asset_id, struct lg_str addr, struct lg_str asset)
{
    uint64_t h = lg_fsm_hash(addr.ptr, addr.len);
    for (uint32_t i = 0; i < *n; i++) {
        struct fsm_pair *p = &f->pairs[i];
        if (p->h == h && p->addr_len == addr.len && p->asset_len == asset.len &&
            memcmp(p->addr, addr.ptr, addr.len) == 0 &&
            memcmp(p->asset, asset.ptr, asset.len) == 0) {
            return p;
        }
    }
    LG_ASSERT(*n < FSM_PAIRS_MAX);
    struct fsm_pair *p = &f->pairs[(*n)++];
    memset(p, 0, sizeof *p);
    p->addr = addr.ptr;
    p->addr_len = addr.len;
    p->asset = asset.ptr;
    p->asset_len = asset.len;
    p->h = h;
    p->asset_id = asset_id;
    p->unbounded = lg_name_is_world(addr.ptr, addr.len);
    if (l != NULL) {
        uint32_t idx = lg_fsm_acct_find(l, addr.ptr, addr.len, h);
        if (idx != FSM_NONE) {
            p->acct = fsm_acct_at(l, idx);
            if (p->acct->n_txs > 0) {
                __builtin_prefetch(&p->acct->txs[p->acct->n_txs - 1u], 1);
            }
            if (asset_id != FSM_NONE) {
                lg_fsm_acct_volumes(p->acct, asset_id, &p->in, &p->out);
                lg_fsm_acct_floor(p->acct, asset_id, &p->unbounded, &p->limit);
            }
        }
    }
    return p;
}

/* Order of pairs by address then asset (bytes); qsort over pointers, no global state. */
static int pair_order_cmp(const void *a, const void *b)
{
    const struct fsm_pair *x = *(const struct fsm_pair *const *)a;
    const struct fsm_pair *y = *(const struct fsm_pair *const *)b;
    int c = lg_fsm_addr_cmp(x->addr, x->addr_len, y->addr, y->addr_len);
    return c != 0 ? c : lg_fsm_addr_cmp(x->asset, x->asset_len, y->asset, y->asset_len);
}

static uint64_t commit_ts(const struct lg_fsm *f, uint64_t ts)
{
    return ts > f->st.last_ts ? ts : f->st.last_ts;
}

/* Complete a duplicate's answer (hash, raft index, timestamp) from its journal record.
 * A record in a journal gap (not fetched yet) leaves those fields zero. A failed read is
 * an I/O failure of this node (the journal is sticky-failed by then): it stops apply. */
static int fill_from_journal(struct lg_fsm *f, uint64_t seq, struct lg_cmd_result *res)
{
    struct lg_journal_record jr;
    if (seq == 0 || seq > journal_last(f)) {
        return LG_OK;
    }
    int rc = lg_journal_read(f->journal, seq, &jr);
    if (rc != LG_OK) {
        fail(f, rc, "reading the record of a duplicate reference");
        return rc;
    }
    memcpy(res->hash, jr.hash, LG_HASH_BYTES);
    struct lg_record rec;
    lg_arena_reset(&f->rec_arena);
    rc = lg_record_decode(jr.body, jr.body_len, &f->rec_arena, &rec, NULL);
    if (rc != LG_OK) {
        fail(f, LG_ECORRUPT, "decoding the record of a duplicate reference");
        return LG_ECORRUPT;
    }
    res->raft_index = rec.raft_index;
    res->timestamp_us = rec.timestamp_us;
    return LG_OK;
}

/* Hint: the reference and account map slots command i will look up (if a submit in a
 * known ledger), loaded while command i - 1 is applied: with millions of references the
 * reference map is a DRAM miss per lookup (bench-fsm --references: +15-20 % tx/cpu-s). */
static void prefetch_lookups(const struct lg_fsm *f, const struct lg_batch *batch, uint32_t i)
{
    if (i >= batch->n_cmds || batch->cmds[i].kind != LG_CMD_SUBMIT) {
        return;
    }
    const struct lg_cmd_submit *s = &batch->cmds[i].u.submit;
    if (s->ledger.len == 0 || s->ledger.len > LG_LEDGER_BYTES_MAX) {
        return;
    }
    const struct fsm_ledger *l = lg_fsm_ledger_find(&f->st, s->ledger.ptr, s->ledger.len);
    if (l == NULL) {
        return;
    }
    if (s->reference.len > 0) {
        lg_fsm_ref_prefetch(l, s->reference.ptr, s->reference.len);
    }
    for (uint32_t k = 0; k < s->n_postings && k < 4u; k++) {
        lg_fsm_acct_prefetch(l, s->postings[k].source.ptr, s->postings[k].source.len);
        lg_fsm_acct_prefetch(l, s->postings[k].destination.ptr, s->postings[k].destination.len);
    }
}

static int apply_submit(struct lg_fsm *f, uint64_t raft_index, uint32_t pos,
                        const struct lg_cmd *cmd,
                        struct lg_cmd_result *res)
{
    const struct lg_cmd_submit *s = &cmd->u.submit;
    struct fsm_state *st = &f->st;
    const struct fsm_ledger *l = lg_fsm_ledger_find(st, s->ledger.ptr, s->ledger.len);
    uint8_t digest[LG_HASH_BYTES];
    if (s->reference.len > 0) {
        struct lg_cmd_submit content = *s;
        content.conditions = NULL;
        content.n_conditions = 0;
        /* apply_entry checked the command (lg_cmd_check_canonical) */
        int rc = lg_cmd_submit_digest_valid(f->digest_ctx, f->sha256, &content, digest);
        if (rc != LG_OK) {
            reject(res, rc, "reference: cannot digest the transaction");
            return LG_OK;
        }
        uint32_t r = l == NULL ? FSM_NONE
                               : lg_fsm_ref_find(l, s->reference.ptr, s->reference.len);
        if (r != FSM_NONE) {
            const uint8_t *ref = l->refs.at[r];
            uint64_t ref_tx = fsm_ref_tx(ref);
            if (memcmp(fsm_ref_digest(ref), digest, LG_HASH_BYTES) != 0) {
                reject(res, LG_ECONFLICT, "reference %.*s: already used by tx %llu with "
                       "different content", (int)s->reference.len, s->reference.ptr,
                       (unsigned long long)ref_tx);
                return LG_OK;
            }
            memset(res, 0, sizeof *res);
            res->code = LG_OK;
            res->duplicate = true;
            res->tx_id = ref_tx;
            if (ref_tx < l->n_txix) {
                res->seq = l->txix[ref_tx].seq;
                res->timestamp_us = l->txix[ref_tx].ts;
                return fill_from_journal(f, res->seq, res);
            }
            return LG_OK;
        }
    }
    /* Conditions, against the state before the transaction. */
    for (uint32_t i = 0; i < s->n_conditions; i++) {
        const struct lg_condition *c = &s->conditions[i];
        const struct fsm_acct *a = NULL;
        if (l != NULL) {
            uint32_t idx = lg_fsm_acct_find(l, c->account.ptr, c->account.len,
                                            lg_fsm_hash(c->account.ptr, c->account.len));
            a = idx == FSM_NONE ? NULL : fsm_acct_at(l, idx);
        }
        if (c->kind == LG_COND_VERSION) {
            uint64_t v = a == NULL ? 0 : a->version;
            if (v != c->version) {
                reject(res, LG_ECONDITION, "conditions[%u]: account %.*s is at version %llu, "
                       "expected %llu", i, (int)c->account.len, c->account.ptr,
                       (unsigned long long)v, (unsigned long long)c->version);
                return LG_OK;
            }
        } else {
            lg_u128 in = 0;
            lg_u128 out = 0;
            uint32_t asset = lg_fsm_asset_find(st, c->asset.ptr, c->asset.len);
            if (a != NULL && asset != FSM_NONE) {
                lg_fsm_acct_volumes(a, asset, &in, &out);
            }
            if (in < out || in - out < c->min) {
                char buf[LG_AMOUNT_TEXT_MAX];
                lg_amount_format(c->min, buf);
                reject(res, LG_ECONDITION, "conditions[%u]: balance of %.*s in %.*s is below "
                       "%s", i, (int)c->account.len, c->account.ptr, (int)c->asset.len,
                       c->asset.ptr, buf);
                return LG_OK;
            }
        }
    }
    /* Postings in order, balances updated as we go; nothing is written yet. */
    uint32_t n = 0;
    for (uint32_t i = 0; i < s->n_postings; i++) {
        const struct lg_posting *p = &s->postings[i];
        uint32_t asset = lg_fsm_asset_find(st, p->asset.ptr, p->asset.len);
        struct fsm_pair *src = pair_get(f, &n, l, asset, p->source, p->asset);
        struct fsm_pair *dst = pair_get(f, &n, l, asset, p->destination, p->asset);
        lg_u128 v;
        if (!lg_amount_add(src->out, p->amount, &v)) {
            reject(res, LG_EOVERFLOW, "postings[%u]: output volume of %.*s in %.*s would "
                   "overflow", i, (int)p->source.len, p->source.ptr, (int)p->asset.len,
                   p->asset.ptr);
            return LG_OK;
        }
        src->out = v;
        if (!lg_amount_add(dst->in, p->amount, &v)) {
            reject(res, LG_EOVERFLOW, "postings[%u]: input volume of %.*s in %.*s would "
                   "overflow", i, (int)p->destination.len, p->destination.ptr,
                   (int)p->asset.len, p->asset.ptr);
            return LG_OK;
        }
        dst->in = v;
        if (!src->unbounded && src->out > src->in && src->out - src->in > src->limit) {
            reject(res, LG_EFUNDS, "postings[%u]: insufficient funds in %.*s for %.*s",
                   i, (int)p->source.len, p->source.ptr, (int)p->asset.len, p->asset.ptr);
            return LG_OK;
        }
    }
    /* The record: post-transaction volumes sorted by account then asset. */
    for (uint32_t i = 0; i < n; i++) {
        f->order[i] = &f->pairs[i];
    }
    if (n > 16u) {
        qsort(f->order, n, sizeof f->order[0], pair_order_cmp);
    } else {
        for (uint32_t i = 1; i < n; i++) { /* small: insertion sort */
            const struct fsm_pair *v = f->order[i];
            uint32_t j = i;
            while (j > 0 && pair_order_cmp(&f->order[j - 1], &v) > 0) {
                f->order[j] = f->order[j - 1];
                j--;
            }
            f->order[j] = v;
        }
    }
    bool resolved = true;
    for (uint32_t i = 0; i < n; i++) {
        const struct fsm_pair *p = f->order[i];
        f->vol_accts[i] = p->acct;
        f->vol_assets[i] = p->asset_id;
        resolved = resolved && p->acct != NULL && p->asset_id != FSM_NONE;
        f->vols[i].account.ptr = p->addr;
        f->vols[i].account.len = p->addr_len;
        f->vols[i].asset.ptr = p->asset;
        f->vols[i].asset.len = p->asset_len;
        f->vols[i].input = p->in;
        f->vols[i].output = p->out;
    }
    struct lg_record rec;
    memset(&rec, 0, sizeof rec);
    rec.kind = LG_CMD_SUBMIT;
    rec.raft_index = raft_index;
    rec.pos = pos;
    rec.timestamp_us = commit_ts(f, cmd->timestamp_us);
    rec.ledger = s->ledger;
    rec.tx_id = l == NULL ? 0 : l->n_txs;
    rec.postings = s->postings;
    rec.n_postings = s->n_postings;
    rec.metadata = s->metadata;
    rec.n_metadata = s->n_metadata;
    rec.reference = s->reference;
    rec.volumes = f->vols;
    rec.n_volumes = n;
    struct fsm_resolved hint = {f->vol_accts, f->vol_assets};
    return commit(f, &rec, s->reference.len > 0 ? digest : NULL, resolved ? &hint : NULL,
                  res);
}

static int apply_set_metadata(struct lg_fsm *f, uint64_t raft_index, uint32_t pos,
                        const struct lg_cmd *cmd,
                              struct lg_cmd_result *res)
{
    const struct lg_cmd_set_metadata *m = &cmd->u.set_metadata;
    const struct fsm_ledger *l = lg_fsm_ledger_find(&f->st, m->ledger.ptr, m->ledger.len);
    if (l != NULL) {
        uint32_t idx = lg_fsm_acct_find(l, m->address.ptr, m->address.len,
                                        lg_fsm_hash(m->address.ptr, m->address.len));
        if (idx != FSM_NONE &&
            lg_fsm_acct_meta_merged_count(fsm_acct_at(l, idx), m->metadata, m->n_metadata) >
                LG_METADATA_ENTRIES_MAX) {
            reject(res, LG_EBADREQ, "metadata: account %.*s would hold more than %u entries",
                   (int)m->address.len, m->address.ptr, LG_METADATA_ENTRIES_MAX);
            return LG_OK;
        }
    }
    struct lg_record rec;
    memset(&rec, 0, sizeof rec);
    rec.kind = LG_CMD_SET_METADATA;
    rec.raft_index = raft_index;
    rec.pos = pos;
    rec.timestamp_us = commit_ts(f, cmd->timestamp_us);
    rec.ledger = m->ledger;
    rec.address = m->address;
    rec.metadata = m->metadata;
    rec.n_metadata = m->n_metadata;
    return commit(f, &rec, NULL, NULL, res);
}

static int apply_set_limit(struct lg_fsm *f, uint64_t raft_index, uint32_t pos,
                        const struct lg_cmd *cmd,
                           struct lg_cmd_result *res)
{
    const struct lg_cmd_set_limit *m = &cmd->u.set_limit;
    if (lg_name_is_world(m->address.ptr, m->address.len)) {
        reject(res, LG_EBADREQ, "address: world has no floor; it takes no limit");
        return LG_OK;
    }
    struct lg_record rec;
    memset(&rec, 0, sizeof rec);
    rec.kind = LG_CMD_SET_LIMIT;
    rec.raft_index = raft_index;
    rec.pos = pos;
    rec.timestamp_us = commit_ts(f, cmd->timestamp_us);
    rec.ledger = m->ledger;
    rec.address = m->address;
    rec.asset = m->asset;
    rec.limit = m->unlimited ? 0 : m->limit;
    rec.unlimited = m->unlimited;
    return commit(f, &rec, NULL, NULL, res);
}

/* The message of a re-fed command whose first outcome was a rejection (see match_cmd). */
#define FSM_REFED_REJECTED "outcome decided before a restart; retry with the same reference"

/* Command pos of the crash-cut entry, pos <= match_last_pos (docs/state-machine.md,
 * "Restart"). Records are identified by (raft_index, pos), never by content: the next
 * journaled record of the entry either has this pos (the command committed: report it) or
 * a later one (the command was rejected at its first apply: its rejection was computed
 * against a state that later records of the entry have since changed, so it cannot be
 * recomputed; report LG_EUNAVAIL, the client retries with its reference). Results are
 * answers to clients that waited on the old leader; what must be identical on every
 * replica is the state and the journal, and neither changes here.
 * Returns LG_OK or a fatal journal code. */
static int match_cmd(struct lg_fsm *f, uint32_t pos, struct lg_cmd_result *res)
{
    LG_PRE(pos <= f->match_last_pos);
    /* the entry's record of pos match_last_pos is journaled and not reported yet */
    LG_ASSERT(f->match_seq <= journal_last(f));
    struct lg_journal_record jr;
    int rc = lg_journal_read(f->journal, f->match_seq, &jr);
    if (rc != LG_OK) {
        fail(f, rc, "reading a journaled record of a re-fed entry");
        return rc;
    }
    struct lg_record rec;
    lg_arena_reset(&f->rec_arena);
    rc = lg_record_decode(jr.body, jr.body_len, &f->rec_arena, &rec, NULL);
    if (rc != LG_OK || rec.seq != jr.seq || rec.raft_index != f->partial_index ||
        rec.pos < pos) {
        fail(f, LG_ECORRUPT, "decoding a journaled record of a re-fed entry");
        return LG_ECORRUPT;
    }
    if (rec.pos != pos) {
        reject(res, LG_EUNAVAIL, "%s", FSM_REFED_REJECTED);
        return LG_OK;
    }
    memset(res, 0, sizeof *res);
    res->code = LG_OK;
    res->tx_id = rec.kind == LG_CMD_SUBMIT ? rec.tx_id : 0;
    res->seq = jr.seq;
    res->raft_index = rec.raft_index;
    res->timestamp_us = rec.timestamp_us;
    memcpy(res->hash, jr.hash, LG_HASH_BYTES);
    if (rec.kind == LG_CMD_SUBMIT) {
        /* the state was built from this very record at open */
        const struct fsm_ledger *l = lg_fsm_ledger_find(&f->st, rec.ledger.ptr,
                                                        rec.ledger.len);
        LG_ASSERT(l != NULL);
        LG_ASSERT(rec.tx_id < l->n_txix);
        LG_ASSERT(l->txix[rec.tx_id].seq == jr.seq);
    }
    f->match_seq++;
    return LG_OK;
}

static void auto_checkpoint(struct lg_fsm *f)
{
    if (f->checkpoint_every == 0 || f->st.last_seq - f->last_ckpt_seq < f->checkpoint_every) {
        return;
    }
    /* A failed checkpoint costs replay time at the next open, never correctness: it is
     * reported through lg_fsm_errmsg and retried after the next interval. */
    if (lg_fsm_checkpoint(f) != LG_OK) {
        f->last_ckpt_seq = f->st.last_seq;
    }
}

static int apply_entry(struct lg_fsm *f, uint64_t raft_index, const struct lg_batch *batch,
                       const int *codes, char (*errors)[LG_ERRMSG_SIZE],
                       const struct lg_cmd_result **results, uint32_t *n_results)
{
    LG_PRE(results != NULL && n_results != NULL);
    *results = f->results;
    *n_results = 0;
    if (f->failed) {
        return LG_ESHUTDOWN;
    }
    if (lg_fsm_journal_gap(f) > 0) {
        return LG_EUNAVAIL;
    }
    bool matching = false;
    if (raft_index <= f->st.applied_index) {
        if (raft_index == 0 || raft_index != f->partial_index) {
            return LG_OK;
        }
        matching = true;
    }
    if (batch->n_cmds > LG_BATCH_COMMANDS_MAX) {
        reject(&f->results[0], LG_ETOOLARGE, "cmds: %u commands, at most %u", batch->n_cmds,
               LG_BATCH_COMMANDS_MAX);
        *n_results = 1;
    } else {
        for (uint32_t i = 0; i < batch->n_cmds; i++) {
            const struct lg_cmd *cmd = &batch->cmds[i];
            struct lg_cmd_result *res = &f->results[i];
            prefetch_lookups(f, batch, i + 1u);
            int rc = LG_OK;
            int code = codes != NULL ? codes[i] : lg_cmd_check_canonical(cmd, f->check_errmsg);
            if (code != LG_OK) {
                reject(res, code, "cmds[%u]: %s", i,
                       codes == NULL ? f->check_errmsg
                       : errors != NULL ? errors[i] : lg_err_message(code));
            } else if (matching && i <= f->match_last_pos) {
                rc = match_cmd(f, i, res);
            } else if (cmd->kind == LG_CMD_SUBMIT) {
                rc = apply_submit(f, raft_index, i, cmd, res);
            } else if (cmd->kind == LG_CMD_SET_METADATA) {
                rc = apply_set_metadata(f, raft_index, i, cmd, res);
            } else if (cmd->kind == LG_CMD_SET_LIMIT) {
                rc = apply_set_limit(f, raft_index, i, cmd, res);
            } else {
                reject(res, LG_EBADREQ, "cmds[%u].k: unknown command kind %u", i, cmd->kind);
            }
            if (rc != LG_OK) {
                return rc;
            }
        }
        *n_results = batch->n_cmds;
    }
    if (matching) {
        f->partial_index = 0;
    }
    if (raft_index > f->st.applied_index) {
        f->st.applied_index = raft_index;
    }
    auto_checkpoint(f);
    return LG_OK;
}

int lg_fsm_apply_batch(struct lg_fsm *f, uint64_t raft_index, const struct lg_batch *batch,
                       const struct lg_cmd_result **results, uint32_t *n_results)
{
    LG_PRE(f != NULL && batch != NULL);
    return apply_entry(f, raft_index, batch, NULL, NULL, results, n_results);
}

int lg_fsm_apply(struct lg_fsm *f, uint64_t raft_index, const void *buf, size_t len,
                 const struct lg_cmd_result **results, uint32_t *n_results)
{
    LG_PRE(f != NULL && results != NULL && n_results != NULL);
    *results = f->results;
    *n_results = 0;
    if (f->failed) {
        return LG_ESHUTDOWN;
    }
    if (raft_index <= f->st.applied_index && raft_index != f->partial_index) {
        return LG_OK; /* skip before paying for decoding */
    }
    struct lg_batch batch;
    char msg[LG_ERRMSG_SIZE];
    msg[0] = '\0';
    lg_arena_reset(&f->arena);
    for (uint32_t i = 0; i < LG_BATCH_COMMANDS_MAX; i++) {
        f->cmd_codes[i] = LG_OK;
    }
    int rc = lg_cmd_decode_batch(buf, len, &f->arena, &batch, f->cmd_codes, f->cmd_errors,
                                 msg);
    if (rc != LG_OK) {
        if (lg_fsm_journal_gap(f) > 0) {
            return LG_EUNAVAIL;
        }
        bool over_budget = rc == LG_ENOMEM && lg_arena_over_budget(&f->arena);
        if (rc == LG_ENOMEM && !over_budget) {
            /* malloc failed: this node's problem, not the entry's. No progress. */
            lg_errmsg_printf(f->errmsg, LG_ENOMEM, "decoding entry %llu: out of memory",
                             (unsigned long long)raft_index);
            return LG_ENOMEM;
        }
        /* Malformed entry: one deterministic rejection, state unchanged but the index
         * moves on (the entry is consumed). Over the decode budget (bytes requested, a
         * function of the entry alone) is "too large", the same on every replica. */
        if (over_budget) {
            reject(&f->results[0], LG_ETOOLARGE, "entry needs more than %zu bytes to decode",
                   (size_t)FSM_ARENA_BYTES_MAX);
        } else {
            reject(&f->results[0], rc, "%s", msg[0] != '\0' ? msg : lg_err_message(rc));
        }
        if (raft_index > f->st.applied_index) {
            f->st.applied_index = raft_index;
        }
        f->partial_index = raft_index == f->partial_index ? 0 : f->partial_index;
        *n_results = 1;
        return LG_OK;
    }
    return apply_entry(f, raft_index, &batch, f->cmd_codes, f->cmd_errors, results,
                       n_results);
}

/* ---- accessors ---- */

uint64_t lg_fsm_applied_index(const struct lg_fsm *f)
{
    return f->st.applied_index;
}

uint64_t lg_fsm_last_seq(const struct lg_fsm *f)
{
    return f->st.last_seq;
}

void lg_fsm_chain_head(const struct lg_fsm *f, uint8_t hash[LG_HASH_BYTES])
{
    memcpy(hash, f->st.last_hash, LG_HASH_BYTES);
}

uint64_t lg_fsm_last_timestamp(const struct lg_fsm *f)
{
    return f->st.last_ts;
}

uint32_t lg_fsm_ledger_count(const struct lg_fsm *f)
{
    return f->st.n_ledgers;
}

uint64_t lg_fsm_account_count(const struct lg_fsm *f)
{
    return f->st.n_accts;
}

const char *lg_fsm_errmsg(const struct lg_fsm *f)
{
    return f->errmsg;
}

struct lg_journal *lg_fsm_journal(struct lg_fsm *f)
{
    return f->journal;
}

int lg_fsm_merkle(struct lg_fsm *f, struct lg_merkle **out)
{
    LG_PRE(f != NULL && out != NULL);
    *out = f->merkle;
    if (f->failed) {
        return LG_ESHUTDOWN; /* a failed append may have left the tree one leaf short */
    }
    LG_ASSERT(lg_merkle_size(f->merkle) == journal_last(f));
    return lg_fsm_journal_gap(f) > 0 ? LG_EUNAVAIL : LG_OK;
}

/* ---- replay ---- */

/* Walk the journal: records <= state_from_seq - 1 only feed the indexes (the state
 * already covers them), later ones are applied to the state. */
static int replay(struct lg_fsm *f, uint64_t state_from_seq, uint64_t ckpt_applied)
{
    uint64_t jl = journal_last(f);
    if (jl == 0) {
        return LG_OK;
    }
    struct lg_journal_iter it;
    int rc = lg_journal_iter_init(&it, f->journal, 1, jl);
    if (rc != LG_OK) {
        return lg_errmsg_printf(f->errmsg, rc, "journal iteration: %s", lg_err_message(rc));
    }
    uint64_t cur_index = 0;
    uint64_t cur_first_seq = 0;
    uint32_t cur_last_pos = 0;
    struct lg_journal_record jr;
    for (;;) {
        int n = lg_journal_iter_next(&it, &jr);
        if (n == 0) {
            break;
        }
        if (n < 0) {
            return lg_errmsg_printf(f->errmsg, -n, "journal read during replay: %s",
                                    lg_journal_errmsg(f->journal));
        }
        struct lg_record rec;
        char msg[LG_ERRMSG_SIZE];
        lg_arena_reset(&f->rec_arena);
        rc = lg_record_decode(jr.body, jr.body_len, &f->rec_arena, &rec, msg);
        if (rc != LG_OK || rec.seq != jr.seq) {
            return lg_errmsg_printf(f->errmsg, LG_ECORRUPT, "journal record %llu: %s",
                                    (unsigned long long)jr.seq,
                                    rc != LG_OK ? msg : "seq does not match its position");
        }
        bool state = jr.seq >= state_from_seq;
        rc = mutate(f, &rec, state, NULL, NULL);
        if (rc != LG_OK) {
            return lg_errmsg_printf(f->errmsg, rc, "journal record %llu: %s",
                                    (unsigned long long)jr.seq,
                                    rc == LG_ECORRUPT ? "contradicts the state"
                                                      : lg_err_message(rc));
        }
        if (state) {
            if (rec.timestamp_us < f->st.last_ts || rec.raft_index < cur_index) {
                return lg_errmsg_printf(f->errmsg, LG_ECORRUPT,
                                        "journal record %llu: timestamp or index goes back",
                                        (unsigned long long)jr.seq);
            }
            if (rec.raft_index == cur_index && rec.pos <= cur_last_pos) {
                return lg_errmsg_printf(f->errmsg, LG_ECORRUPT,
                                        "journal record %llu: pos %u does not follow pos %u "
                                        "of the same entry",
                                        (unsigned long long)jr.seq, rec.pos, cur_last_pos);
            }
            if (rec.raft_index != cur_index) {
                cur_index = rec.raft_index;
                cur_first_seq = jr.seq;
            }
            cur_last_pos = rec.pos;
            f->st.last_seq = jr.seq;
            memcpy(f->st.last_hash, jr.hash, LG_HASH_BYTES);
            f->st.last_ts = rec.timestamp_us;
            if (rec.raft_index > f->st.applied_index) {
                f->st.applied_index = rec.raft_index;
            }
        }
    }
    if (cur_index > ckpt_applied) {
        /* The last entry seen may have been cut by a crash after some of its records. */
        f->partial_index = cur_index;
        f->match_seq = cur_first_seq;
        f->match_last_pos = cur_last_pos;
    }
    return LG_OK;
}

/* ---- checkpoints ---- */

static int name_is_checkpoint(const char *name)
{
    size_t len = strlen(name);
    if (len != FSM_CKPT_NAME_LEN || strncmp(name, FSM_CKPT_PREFIX, 11) != 0 ||
        strcmp(name + 31, FSM_CKPT_SUFFIX) != 0) {
        return 0;
    }
    for (size_t i = 11; i < 31; i++) {
        if (name[i] < '0' || name[i] > '9') {
            return 0;
        }
    }
    return 1;
}

static int name_cmp_desc(const void *a, const void *b)
{
    return strcmp(*(char *const *)b, *(char *const *)a);
}

/* Checkpoint file names in state_dir, newest first (malloc'd array of malloc'd names). */
static int list_checkpoints(const char *dir, char ***names, size_t *n)
{
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (d == NULL) {
        return lg_err_from_errno(errno);
    }
    size_t cap = 0;
    struct dirent *e;
    int rc = LG_OK;
    while ((e = readdir(d)) != NULL) {
        if (!name_is_checkpoint(e->d_name)) {
            continue;
        }
        if (*n == cap) {
            cap = cap == 0 ? 8 : cap * 2;
            char **v = realloc(*names, cap * sizeof *v);
            if (v == NULL) {
                rc = LG_ENOMEM;
                break;
            }
            *names = v;
        }
        (*names)[*n] = strdup(e->d_name);
        if ((*names)[*n] == NULL) {
            rc = LG_ENOMEM;
            break;
        }
        (*n)++;
    }
    closedir(d);
    if (*n > 1) {
        qsort(*names, *n, sizeof **names, name_cmp_desc);
    }
    return rc;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);
}

/* Largest checkpoint file read: far beyond any real state (which lives in memory too),
 * small enough that a corrupted size cannot make open allocate without bound. */
#define FSM_CKPT_BYTES_MAX ((uint64_t)4u * 1024u * 1024u * 1024u)

/* The whole file at path (malloc'd), or NULL when it cannot be read, is empty or is
 * larger than FSM_CKPT_BYTES_MAX (the caller then tries an older checkpoint). */
static uint8_t *read_whole(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return NULL;
    }
    struct stat sb;
    uint8_t *buf = NULL;
    if (fstat(fd, &sb) == 0 && sb.st_size > 0 && (uint64_t)sb.st_size <= FSM_CKPT_BYTES_MAX &&
        (uint64_t)sb.st_size <= SIZE_MAX) {
        size_t size = (size_t)sb.st_size;
        buf = malloc(size);
        size_t got = 0;
        while (buf != NULL && got < size) {
            ssize_t r = read(fd, buf + got, size - got);
            if (r < 0 && errno == EINTR) {
                continue;
            }
            if (r <= 0) {
                free(buf);
                buf = NULL;
                break;
            }
            got += (size_t)r;
        }
        *len = size;
    }
    close(fd);
    return buf;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return lg_err_from_errno(errno);
    }
    int rc = fsync(fd) == 0 ? LG_OK : lg_err_from_errno(errno);
    close(fd);
    return rc;
}

static int write_file_durably(const char *dir, const char *name, const uint8_t *data,
                              size_t len, char *errmsg)
{
    char tmp[4096];
    char path[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s/%s.tmp", dir, name) >= sizeof tmp ||
        (size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path) {
        return lg_errmsg_printf(errmsg, LG_EINVAL, "state directory path too long");
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        return lg_errmsg_printf(errmsg, lg_err_from_errno(errno), "create %s: %s", tmp,
                                strerror(errno));
    }
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, data + done, len - done);
        if (w <= 0) {
            if (w < 0 && errno == EINTR) {
                continue;
            }
            int e = w < 0 ? errno : ENOSPC; /* 0 bytes written: never spin */
            close(fd);
            unlink(tmp);
            return lg_errmsg_printf(errmsg, lg_err_from_errno(e), "write %s: %s", tmp,
                                    strerror(e));
        }
        done += (size_t)w;
    }
    if (fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return lg_errmsg_printf(errmsg, lg_err_from_errno(e), "fsync %s: %s", tmp,
                                strerror(e));
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return lg_errmsg_printf(errmsg, lg_err_from_errno(e), "rename %s: %s", tmp,
                                strerror(e));
    }
    int rc = fsync_dir(dir);
    if (rc != LG_OK) {
        return lg_errmsg_printf(errmsg, rc, "fsync directory %s", dir);
    }
    return LG_OK;
}

int lg_fsm_checkpoint(struct lg_fsm *f)
{
    LG_PRE(f != NULL);
    if (f->failed) {
        return LG_ESHUTDOWN;
    }
    if (lg_fsm_journal_gap(f) > 0) {
        return LG_EUNAVAIL;
    }
    struct lg_buf buf;
    lg_buf_init(&buf);
    int rc = lg_fsm_snapshot(f, &buf);
    if (rc == LG_OK) {
        char name[64];
        snprintf(name, sizeof name, FSM_CKPT_PREFIX "%020llu" FSM_CKPT_SUFFIX,
                 (unsigned long long)f->st.last_seq);
        rc = write_file_durably(f->state_dir, name, buf.data, buf.len, f->errmsg);
    }
    lg_buf_close(&buf);
    if (rc != LG_OK) {
        return rc;
    }
    f->last_ckpt_seq = f->st.last_seq;
    char **names;
    size_t n;
    if (list_checkpoints(f->state_dir, &names, &n) == LG_OK) {
        for (size_t i = FSM_CHECKPOINTS_KEPT; i < n; i++) {
            char path[4096];
            if ((size_t)snprintf(path, sizeof path, "%s/%s", f->state_dir, names[i]) <
                sizeof path) {
                unlink(path);
            }
        }
    }
    free_names(names, n);
    return LG_OK;
}

/* Before any snapshot: everything it covers is durable in the journal, then the tree. */
static int sync_for_snapshot(struct lg_fsm *f)
{
    int rc = lg_journal_sync(f->journal);
    if (rc != LG_OK) {
        fail(f, rc, "journal sync before snapshot");
        return rc;
    }
    /* After the journal: the tree file must never claim records the journal may lose. */
    rc = lg_merkle_sync(f->merkle);
    if (rc != LG_OK) {
        return tree_fail(f, rc, "merkle sync before snapshot");
    }
    return LG_OK;
}

int lg_fsm_snapshot(struct lg_fsm *f, struct lg_buf *out)
{
    LG_PRE(f != NULL && out != NULL);
    if (f->failed) {
        return LG_ESHUTDOWN;
    }
    int rc = sync_for_snapshot(f);
    return rc != LG_OK ? rc : lg_fsm_snap_encode(&f->st, out, true);
}

void lg_fsm_snap_init(struct lg_fsm_snap *p)
{
    LG_PRE(p != NULL);
    memset(p, 0, sizeof *p);
    lg_buf_init(&p->head);
}

/* Forget the parts (keeping the memory) and unpin the FSM's state. */
static void snap_clear(struct lg_fsm_snap *p)
{
    struct lg_fsm *f = p->fsm;
    if (f != NULL) {
        LG_ASSERT(f->snaps_held > 0);
        if (--f->snaps_held == 0) {
            for (size_t i = 0; i < f->n_retired; i++) {
                lg_fsm_state_free(&f->retired[i]);
            }
            free(f->retired);
            f->retired = NULL;
            f->n_retired = 0;
        }
    }
    p->fsm = NULL;
    p->n_parts = 0;
    p->bytes = 0;
    lg_buf_reset(&p->head);
}

int lg_fsm_snapshot_parts(struct lg_fsm *f, struct lg_fsm_snap *p)
{
    LG_PRE(f != NULL && p != NULL && p->fsm == NULL);
    if (f->failed) {
        return LG_ESHUTDOWN;
    }
    int rc = sync_for_snapshot(f);
    if (rc != LG_OK) {
        return rc;
    }
    p->fsm = f;
    f->snaps_held++;
    rc = lg_fsm_snap_encode_parts(&f->st, p);
    if (rc != LG_OK) {
        snap_clear(p);
    }
    return rc;
}

void lg_fsm_snap_release(struct lg_fsm_snap *p)
{
    LG_PRE(p != NULL);
    snap_clear(p);
}

void lg_fsm_snap_close(struct lg_fsm_snap *p)
{
    if (p != NULL) {
        snap_clear(p);
        free(p->parts);
        lg_buf_close(&p->head);
        memset(p, 0, sizeof *p);
    }
}

int lg_fsm_state_digest(struct lg_fsm *f, uint8_t out[LG_HASH_BYTES])
{
    struct lg_buf buf;
    lg_buf_init(&buf);
    int rc = lg_fsm_snap_encode(&f->st, &buf, false);
    if (rc == LG_OK) {
        static const uint8_t zero[LG_HASH_BYTES];
        lg_journal_chain_hash(zero, buf.data, buf.len, out);
    }
    lg_buf_close(&buf);
    return rc;
}

/* Hash of the local journal's record seq (zeros for seq 0). */
static int journal_hash_at(struct lg_fsm *f, uint64_t seq, uint8_t out[LG_HASH_BYTES])
{
    if (seq == 0) {
        memset(out, 0, LG_HASH_BYTES);
        return LG_OK;
    }
    struct lg_journal_record jr;
    int rc = lg_journal_read(f->journal, seq, &jr);
    if (rc == LG_OK) {
        memcpy(out, jr.hash, LG_HASH_BYTES);
    }
    return rc;
}

/* Install a decoded state: rebuild the indexes from the local journal (records the state
 * covers) and apply the records after it. On error the FSM's state is unchanged. */
static int install_state(struct lg_fsm *f, struct fsm_state *ns)
{
    struct fsm_state old = f->st;
    f->st = *ns;
    uint64_t from = f->st.last_seq + 1u;
    uint64_t applied = f->st.applied_index;
    uint64_t partial = f->partial_index;
    f->partial_index = 0;
    int rc = replay(f, from, applied);
    if (rc != LG_OK) {
        lg_fsm_state_free(&f->st);
        f->st = old;
        f->partial_index = partial;
        lg_fsm_state_init(ns); /* ownership moved and released */
        return rc;
    }
    if (f->snaps_held > 0) {
        /* A held snapshot borrows old's reference chunks: freed at the last release. */
        struct fsm_state *v = realloc(f->retired, (f->n_retired + 1u) * sizeof *v);
        if (v != NULL) {
            f->retired = v;
            f->retired[f->n_retired++] = old;
            return LG_OK;
        }
        /* Out of memory: leak old rather than free bytes a snapshot still reads. */
        return LG_OK;
    }
    lg_fsm_state_free(&old);
    return LG_OK;
}

int lg_fsm_restore(struct lg_fsm *f, const void *buf, size_t len)
{
    LG_PRE(f != NULL);
    if (f->failed) {
        return LG_ESHUTDOWN;
    }
    struct fsm_state ns;
    lg_fsm_state_init(&ns);
    int rc = lg_fsm_snap_decode(buf, len, &ns, f->errmsg);
    if (rc != LG_OK) {
        lg_fsm_state_free(&ns);
        return rc;
    }
    uint64_t jl = journal_last(f);
    if (ns.last_seq <= jl && ns.last_seq <= f->st.last_seq) {
        uint8_t h[LG_HASH_BYTES];
        rc = journal_hash_at(f, ns.last_seq, h);
        if (rc == LG_OK && memcmp(h, ns.last_hash, LG_HASH_BYTES) != 0) {
            rc = lg_errmsg_printf(f->errmsg, LG_ECORRUPT,
                                  "snapshot chain head differs from the journal at seq %llu",
                                  (unsigned long long)ns.last_seq);
        }
        if (rc == LG_OK && ns.applied_index > f->st.applied_index) {
            f->st.applied_index = ns.applied_index;
        }
        lg_fsm_state_free(&ns);
        return rc;
    }
    /* The snapshot is ahead of this FSM: take it. The local journal must be a prefix of
     * its history; the indexes keep what the local journal holds. */
    if (ns.last_seq <= jl) {
        uint8_t h[LG_HASH_BYTES];
        rc = journal_hash_at(f, ns.last_seq, h);
        if (rc == LG_OK && memcmp(h, ns.last_hash, LG_HASH_BYTES) != 0) {
            rc = lg_errmsg_printf(f->errmsg, LG_ECORRUPT,
                                  "snapshot chain head differs from the journal at seq %llu",
                                  (unsigned long long)ns.last_seq);
        }
        if (rc != LG_OK) {
            lg_fsm_state_free(&ns);
            return rc;
        }
    }
    rc = install_state(f, &ns);
    if (rc != LG_OK) {
        lg_fsm_state_free(&ns);
        return rc;
    }
    f->last_ckpt_seq = f->st.last_seq;
    return LG_OK;
}

int lg_fsm_gap_append(struct lg_fsm *f, const void *body, uint32_t len)
{
    LG_PRE(f != NULL);
    if (f->failed) {
        return LG_ESHUTDOWN;
    }
    if (lg_fsm_journal_gap(f) == 0) {
        return LG_ERANGE;
    }
    struct lg_record rec;
    char msg[LG_ERRMSG_SIZE];
    lg_arena_reset(&f->rec_arena);
    int rc = lg_record_decode(body, len, &f->rec_arena, &rec, msg);
    if (rc != LG_OK || rec.seq != journal_last(f) + 1u) {
        return lg_errmsg_printf(f->errmsg, LG_ECORRUPT, "gap record: %s",
                                rc != LG_OK ? msg : "not the next seq");
    }
    uint64_t seq = 0;
    uint8_t hash[LG_HASH_BYTES];
    rc = lg_journal_append(f->journal, body, len, &seq, hash);
    if (rc != LG_OK) {
        fail(f, rc, "journal append (gap)");
        return rc;
    }
    rc = tree_append(f, body, len);
    if (rc != LG_OK) {
        return rc;
    }
    rc = mutate(f, &rec, false, NULL, NULL);
    if (rc == LG_OK && seq == f->st.last_seq &&
        memcmp(hash, f->st.last_hash, LG_HASH_BYTES) != 0) {
        rc = LG_ECORRUPT;
    }
    if (rc != LG_OK) {
        fail(f, rc, "filling the journal gap (records do not match the snapshot)");
    }
    return rc;
}

/* ---- open / close ---- */

static void fsm_free(struct lg_fsm *f)
{
    lg_merkle_close(f->merkle); /* borrows the journal: closed first */
    lg_journal_close(f->journal);
    lg_fsm_state_free(&f->st);
    for (size_t i = 0; i < f->n_retired; i++) {
        lg_fsm_state_free(&f->retired[i]);
    }
    free(f->retired);
    free(f->journal_dir);
    free(f->state_dir);
    free(f->results);
    free(f->cmd_codes);
    free(f->cmd_errors);
    free(f->pairs);
    free(f->order);
    free(f->vols);
    free(f->vol_accts);
    free(f->vol_assets);
    lg_arena_close(&f->arena);
    lg_arena_close(&f->rec_arena);
    lg_buf_close(&f->enc);
    EVP_MD_CTX_free(f->digest_ctx);
    EVP_MD_free(f->sha256);
    free(f);
}

static int ensure_dir(const char *dir, bool create, char *errmsg)
{
    struct stat sb;
    if (stat(dir, &sb) == 0) {
        return S_ISDIR(sb.st_mode) ? LG_OK
                                   : lg_errmsg_printf(errmsg, LG_EINVAL, "%s: not a directory",
                                                      dir);
    }
    if (!create) {
        return lg_errmsg_printf(errmsg, LG_ENOTFOUND, "%s: absent", dir);
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        return lg_errmsg_printf(errmsg, lg_err_from_errno(errno), "mkdir %s: %s", dir,
                                strerror(errno));
    }
    return LG_OK;
}

/* Remove <state>/checkpoint-*.ckpt.tmp left by a crash during lg_fsm_checkpoint. */
static void remove_stale_tmp(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len != FSM_CKPT_NAME_LEN + 4u || strcmp(e->d_name + FSM_CKPT_NAME_LEN, ".tmp") != 0 ||
            strncmp(e->d_name, FSM_CKPT_PREFIX, sizeof FSM_CKPT_PREFIX - 1u) != 0) {
            continue;
        }
        char path[4096];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < sizeof path) {
            unlink(path);
        }
    }
    closedir(d);
}

/* Load the newest valid checkpoint into f->st (or leave it empty); replay the journal. */
static int load(struct lg_fsm *f)
{
    remove_stale_tmp(f->state_dir);
    char **names = NULL;
    size_t n = 0;
    int rc = list_checkpoints(f->state_dir, &names, &n);
    if (rc != LG_OK) {
        free_names(names, n);
        return lg_errmsg_printf(f->errmsg, rc, "listing %s", f->state_dir);
    }
    uint64_t jl = journal_last(f);
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", f->state_dir, names[i]) >=
            sizeof path) {
            continue;
        }
        size_t len = 0;
        uint8_t *buf = read_whole(path, &len);
        if (buf == NULL) {
            continue;
        }
        struct fsm_state ns;
        lg_fsm_state_init(&ns);
        char msg[LG_ERRMSG_SIZE];
        rc = lg_fsm_snap_decode(buf, len, &ns, msg);
        free(buf);
        if (rc != LG_OK) {
            lg_fsm_state_free(&ns); /* invalid: try an older one */
            continue;
        }
        /* A checkpoint is written only after the journal was fsync'd and only without a
         * journal gap (lg_fsm_checkpoint), so a journal that ends before the checkpoint's
         * last seq has lost records it once held durably: corruption, never a gap. */
        if (ns.last_seq > jl) {
            lg_fsm_state_free(&ns);
            free_names(names, n);
            return lg_errmsg_printf(f->errmsg, LG_ECORRUPT, "%s covers journal seq %llu but "
                                    "the journal ends at seq %llu: durable records are "
                                    "missing", path, (unsigned long long)ns.last_seq,
                                    (unsigned long long)jl);
        }
        uint8_t h[LG_HASH_BYTES];
        rc = journal_hash_at(f, ns.last_seq, h);
        if (rc == LG_OK && memcmp(h, ns.last_hash, LG_HASH_BYTES) != 0) {
            rc = LG_ECORRUPT;
        }
        if (rc != LG_OK) {
            lg_fsm_state_free(&ns);
            free_names(names, n);
            return lg_errmsg_printf(f->errmsg, rc, "%s: chain head does not match the "
                                    "journal at seq %llu", path,
                                    (unsigned long long)ns.last_seq);
        }
        lg_fsm_state_free(&f->st);
        f->st = ns;
        break;
    }
    free_names(names, n);
    f->last_ckpt_seq = f->st.last_seq;
    return replay(f, f->st.last_seq + 1u, f->st.applied_index);
}

int lg_fsm_open(struct lg_fsm **out, const struct lg_fsm_options *opts, char *errmsg)
{
    LG_PRE(out != NULL);
    *out = NULL;
    char scratch[LG_ERRMSG_SIZE];
    if (errmsg == NULL) {
        errmsg = scratch;
    }
    errmsg[0] = '\0';
    if (opts == NULL || opts->journal_dir == NULL || opts->state_dir == NULL) {
        return lg_errmsg_printf(errmsg, LG_EINVAL, "journal_dir and state_dir are required");
    }
    int rc = ensure_dir(opts->state_dir, opts->create, errmsg);
    if (rc != LG_OK) {
        return rc;
    }
    struct lg_fsm *f = calloc(1, sizeof *f);
    if (f == NULL) {
        return lg_errmsg_printf(errmsg, LG_ENOMEM, "out of memory");
    }
    lg_fsm_state_init(&f->st);
    lg_arena_init(&f->arena, FSM_ARENA_BYTES_MAX);
    lg_arena_init(&f->rec_arena, FSM_ARENA_BYTES_MAX);
    lg_buf_init(&f->enc);
    f->checkpoint_every = opts->checkpoint_every;
    f->journal_dir = strdup(opts->journal_dir);
    f->state_dir = strdup(opts->state_dir);
    f->results = calloc(LG_BATCH_COMMANDS_MAX, sizeof *f->results);
    f->cmd_codes = calloc(LG_BATCH_COMMANDS_MAX, sizeof *f->cmd_codes);
    f->cmd_errors = calloc(LG_BATCH_COMMANDS_MAX, sizeof *f->cmd_errors);
    f->pairs = calloc(FSM_PAIRS_MAX, sizeof *f->pairs);
    f->order = calloc(FSM_PAIRS_MAX, sizeof *f->order);
    f->vols = calloc(FSM_PAIRS_MAX, sizeof *f->vols);
    f->vol_accts = calloc(FSM_PAIRS_MAX, sizeof *f->vol_accts);
    f->vol_assets = calloc(FSM_PAIRS_MAX, sizeof *f->vol_assets);
    f->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    f->digest_ctx = EVP_MD_CTX_new();
    if (f->journal_dir == NULL || f->state_dir == NULL || f->results == NULL ||
        f->cmd_codes == NULL || f->cmd_errors == NULL || f->pairs == NULL ||
        f->order == NULL || f->vols == NULL || f->vol_accts == NULL ||
        f->vol_assets == NULL || f->sha256 == NULL || f->digest_ctx == NULL) {
        fsm_free(f);
        return lg_errmsg_printf(errmsg, LG_ENOMEM, "out of memory");
    }
    struct lg_journal_options jo = opts->journal;
    jo.create = opts->create;
    rc = lg_journal_open(&f->journal, opts->journal_dir, &jo, errmsg, NULL);
    if (rc != LG_OK) {
        f->journal = NULL;
        fsm_free(f);
        return lg_errmsg_wrap(errmsg, rc, "journal %s", opts->journal_dir);
    }
    /* The tree lives beside the journal (a hidden file the journal ignores) and is
     * reconciled with it here: extended, cut or rebuilt to exactly the journal's records. */
    struct lg_merkle_source src;
    lg_merkle_source_journal(&src, f->journal);
    rc = lg_merkle_open(&f->merkle, opts->journal_dir, &src, journal_last(f), errmsg);
    if (rc != LG_OK) {
        /* A record the tree could not read: say what the journal found (file, seq). */
        char why[LG_ERRMSG_SIZE];
        snprintf(why, sizeof why, "%s", errmsg);
        const char *jmsg = lg_journal_errmsg(f->journal);
        lg_errmsg_printf(errmsg, rc, "merkle tree beside %s: %s%s%s", opts->journal_dir, why,
                         jmsg[0] != '\0' ? "; journal: " : "", jmsg);
        f->merkle = NULL;
        fsm_free(f);
        return rc;
    }
    rc = load(f);
    if (rc != LG_OK) {
        lg_errmsg_printf(errmsg, rc, "%s", f->errmsg);
        fsm_free(f);
        return rc;
    }
    *out = f;
    return LG_OK;
}

int lg_fsm_close(struct lg_fsm *f)
{
    if (f == NULL) {
        return LG_OK;
    }
    int rc = LG_OK;
    if (!f->failed) {
        rc = lg_journal_sync(f->journal);
        if (rc == LG_OK) {
            rc = lg_merkle_sync(f->merkle);
        }
        if (rc == LG_OK && lg_fsm_journal_gap(f) == 0) {
            rc = lg_fsm_checkpoint(f);
        }
    }
    int rc3 = lg_merkle_close(f->merkle);
    f->merkle = NULL;
    int rc2 = lg_journal_close(f->journal);
    f->journal = NULL;
    if (rc2 == LG_OK) {
        rc2 = rc3;
    }
    fsm_free(f);
    return rc != LG_OK ? rc : rc2;
}

void lg_fsm_abandon(struct lg_fsm *f)
{
    if (f == NULL) {
        return;
    }
    fsm_free(f);
}
