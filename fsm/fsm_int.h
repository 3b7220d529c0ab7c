/* fsm_int: the state machine's internal data structures, shared by the fsm/ sources only.
 *
 * State (what snapshots carry): interned assets, ledgers; per ledger the accounts (a pool
 * of fixed-address structs found by an open-addressing hash table and ordered by a B+tree
 * on address), the tx counter and the reference index. Indexes (rebuilt from the local
 * journal, never in snapshots): per ledger tx_id -> (seq, timestamp), per account the
 * list of tx ids touching it. Hash tables map bytes to indexes; nothing ever iterates one
 * to produce output. */
#ifndef LG_FSM_INT_H
#define LG_FSM_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fsm.h"
#include "merkle.h"

#define FSM_NONE UINT32_MAX

/* Open-addressing hash table (linear probing) from a key to a uint32 index. A slot holds
 * (hash32 << 32 | index + 1), 0 = empty; keys are compared through a callback, so the
 * table stores no key bytes. Grows at 3/4 load; never shrinks (nothing is deleted). */
struct fsm_map {
    uint64_t *slots;
    uint32_t cap; /* power of two, or 0 */
    uint32_t n;
};
typedef bool (*fsm_map_eq_cb)(const void *ctx, uint32_t idx, const char *key, size_t len);

uint64_t lg_fsm_hash(const void *p, size_t n);
uint32_t lg_fsm_map_find(const struct fsm_map *m, uint64_t h, const char *key, size_t len,
                         fsm_map_eq_cb eq, const void *ctx);
int lg_fsm_map_insert(struct fsm_map *m, uint64_t h, uint32_t idx);
void lg_fsm_map_free(struct fsm_map *m);

/* Bump allocator for immutable bytes (addresses, references): chunks never move. */
struct fsm_slab {
    char **chunks;
    uint32_t n_chunks;
    uint32_t cap_chunks;
    size_t used; /* bytes used in the last chunk */
    size_t bytes; /* total chunk bytes (memory accounting) */
};
const char *lg_fsm_slab_copy(struct fsm_slab *s, const char *p, size_t n);
void lg_fsm_slab_free(struct fsm_slab *s);

/* Extra volumes of an account beyond its first asset. */
struct fsm_vol {
    lg_u128 input;
    lg_u128 output;
    uint32_t asset;
};

struct fsm_limit {
    lg_u128 limit;
    uint32_t asset;
    bool unlimited;
};

/* A metadata entry: one malloc'd block holding the key then the value. */
struct fsm_meta {
    char *block;
    uint32_t klen;
    uint32_t vlen;
};

/* Out-of-line account data, usually absent. */
struct fsm_acct_ext {
    struct fsm_vol *vols;
    uint32_t n_vols;
    uint32_t cap_vols;
    struct fsm_limit *limits;
    uint32_t n_limits;
    uint32_t n_meta;
    struct fsm_meta *meta; /* sorted by key */
};

/* An account: 112 bytes; an address longer than FSM_ADDR_INLINE bytes lives in the
 * ledger's slab. Keeping short addresses inline saves a cache miss per lookup. */
#define FSM_ADDR_INLINE 30u
struct fsm_acct {
    lg_u128 in0;  /* volumes of asset0 */
    lg_u128 out0;
    const char *addr; /* inl, or the slab */
    char inl[FSM_ADDR_INLINE];
    uint64_t version;
    uint64_t *txs; /* tx ids touching the account, ascending (index) */
    struct fsm_acct_ext *ext;
    uint32_t n_txs;
    uint32_t cap_txs;
    uint32_t asset0; /* FSM_NONE: no volume yet */
    uint16_t addr_len;
    bool world;
};

/* Insert-only B+tree of account indexes ordered by address bytes. */
#define FSM_BT_MAX 64
struct fsm_bt_node {
    uint16_t n;
    bool leaf;
    uint32_t keys[FSM_BT_MAX + 1];
    struct fsm_bt_node *next;                 /* leaves: right neighbour */
    struct fsm_bt_node *kids[];               /* internal nodes only: FSM_BT_MAX + 2 */
};
struct fsm_bt {
    struct fsm_bt_node *root;
    size_t bytes;
};

/* References, stored as the snapshot encodes them (snap.c: u8 len, bytes, u64 tx_id little-
 * endian, [32] digest), appended in tx order to chunks that never move and are never
 * rewritten (4 KiB first, each twice the last up to 4 MiB): a snapshot borrows the chunks'
 * used prefixes instead of copying the index (lg_fsm_snapshot_parts), and the apply
 * thread may append while another thread reads them. at[i] is reference i's entry (the
 * ref map's index). */
#define FSM_REF_CHUNK_BYTES (4u * 1024u * 1024u) /* the largest; the first is 4 KiB */
#define FSM_REF_CHUNK_FIRST_BYTES 4096u
#define FSM_REF_ENTRY_BYTES(len) (1u + (size_t)(len) + 8u + LG_HASH_BYTES)
LG_STATIC_ASSERT(FSM_REF_ENTRY_BYTES(LG_REFERENCE_BYTES_MAX) <= FSM_REF_CHUNK_FIRST_BYTES,
                 "any reference fits in the smallest chunk");
struct fsm_ref_chunk {
    uint8_t *base;
    size_t used;
    size_t cap; /* doubling from FSM_REF_CHUNK_FIRST_BYTES: a ledger with few references
                 * (ledgers are created by any submit) costs bytes, not 4 MiB */
};
struct fsm_reflog {
    struct fsm_ref_chunk *chunks;
    uint32_t n_chunks;
    uint32_t cap_chunks;
    const uint8_t **at;
    uint32_t n;
    uint32_t cap;
};

static inline uint8_t fsm_ref_len(const uint8_t *e)
{
    return e[0];
}

static inline const char *fsm_ref_bytes(const uint8_t *e)
{
    return (const char *)e + 1;
}

static inline uint64_t fsm_ref_tx(const uint8_t *e)
{
    const uint8_t *p = e + 1u + e[0];
    uint64_t v = 0;
    for (unsigned i = 0; i < 8; i++) {
        v |= (uint64_t)p[i] << (8u * i);
    }
    return v;
}

static inline const uint8_t *fsm_ref_digest(const uint8_t *e)
{
    return e + 1u + e[0] + 8u;
}

struct fsm_txix {
    uint64_t seq;
    uint64_t ts;
};

#define FSM_ACCT_CHUNK_SHIFT 10u
#define FSM_ACCT_CHUNK (1u << FSM_ACCT_CHUNK_SHIFT)

struct fsm_ledger {
    char name[LG_LEDGER_BYTES_MAX];
    uint8_t name_len;
    /* accounts */
    struct fsm_acct **chunks;
    uint32_t n_chunks;
    uint32_t n_accts;
    struct fsm_map acct_map;
    struct fsm_bt order;
    struct fsm_slab strings;
    /* transactions: state */
    uint64_t n_txs;
    /* transactions: index (local journal) */
    struct fsm_txix *txix;
    uint64_t n_txix;
    uint64_t cap_txix;
    /* references: state */
    struct fsm_reflog refs;
    struct fsm_map ref_map;
};

struct fsm_asset {
    char name[LG_ASSET_BYTES_MAX];
    uint8_t len;
};

struct fsm_state {
    struct fsm_asset *assets;
    uint32_t n_assets;
    uint32_t cap_assets;
    struct fsm_map asset_map;
    struct fsm_ledger **ledgers; /* creation order */
    uint32_t n_ledgers;
    uint32_t cap_ledgers;
    struct fsm_map ledger_map;
    uint64_t n_accts;
    /* manifest */
    uint64_t last_seq;
    uint8_t last_hash[LG_HASH_BYTES];
    uint64_t applied_index;
    uint64_t last_ts;
};

static inline struct fsm_acct *fsm_acct_at(const struct fsm_ledger *l, uint32_t idx)
{
    return &l->chunks[idx >> FSM_ACCT_CHUNK_SHIFT][idx & (FSM_ACCT_CHUNK - 1u)];
}

/* One (account, asset) touched by the transaction being checked. */
struct fsm_pair {
    const char *addr;
    const char *asset;
    struct fsm_acct *acct; /* NULL: the account does not exist yet */
    uint64_t h;            /* hash of addr */
    lg_u128 in;            /* running volumes */
    lg_u128 out;
    lg_u128 limit;
    uint32_t addr_len;
    uint32_t asset_len;
    uint32_t asset_id; /* FSM_NONE: the asset does not exist yet */
    bool unbounded;
};

struct lg_fsm {
    struct fsm_state st;
    struct lg_journal *journal;
    struct lg_merkle *merkle; /* the RFC 9162 tree over the journal, one leaf per record */
    char *journal_dir;
    char *state_dir;
    uint64_t checkpoint_every;
    uint64_t last_ckpt_seq;
    /* The entry whose records a crash may have cut short (see apply_entry): its index,
     * the seq of its next journaled record to report, the pos of its last one. */
    uint64_t partial_index;
    uint64_t match_seq;
    uint32_t match_last_pos;
    bool failed; /* sticky: a journal write failed */
    int fail_code;
    /* scratch, allocated once */
    struct lg_cmd_result *results;
    int *cmd_codes;
    char (*cmd_errors)[LG_ERRMSG_SIZE];
    char check_errmsg[LG_ERRMSG_SIZE]; /* lg_fsm_apply_batch's validation message */
    struct lg_arena arena;     /* batch decoding */
    struct lg_arena rec_arena; /* record decoding (replay, matching, duplicates) */
    struct fsm_pair *pairs;
    const struct fsm_pair **order; /* pairs sorted by (address, asset) */
    struct lg_volume *vols;
    struct fsm_acct **vol_accts;
    uint32_t *vol_assets;
    struct lg_buf enc;
    EVP_MD *sha256;        /* fetched once: submit digests (lg_cmd_submit_digest_valid) */
    EVP_MD_CTX *digest_ctx;
    /* Snapshots made by lg_fsm_snapshot_parts and not yet released: they borrow the
     * reference chunks of st, so a state replaced meanwhile (restore) is kept in retired
     * until the last release. */
    uint32_t snaps_held;
    struct fsm_state *retired;
    size_t n_retired;
    char errmsg[LG_ERRMSG_SIZE];
};

/* state.c */
void lg_fsm_state_init(struct fsm_state *s);
void lg_fsm_state_free(struct fsm_state *s);
struct fsm_ledger *lg_fsm_ledger_find(const struct fsm_state *s, const char *name, size_t len);
int lg_fsm_ledger_get(struct fsm_state *s, const char *name, size_t len,
                      struct fsm_ledger **out);
uint32_t lg_fsm_asset_find(const struct fsm_state *s, const char *name, size_t len);
int lg_fsm_asset_get(struct fsm_state *s, const char *name, size_t len, uint32_t *out);
uint32_t lg_fsm_acct_find(const struct fsm_ledger *l, const char *addr, size_t len,
                          uint64_t h);
int lg_fsm_acct_get(struct fsm_state *s, struct fsm_ledger *l, const char *addr, size_t len,
                    uint32_t *out);
/* Volumes of an asset (zero when none). */
void lg_fsm_acct_volumes(const struct fsm_acct *a, uint32_t asset, lg_u128 *in, lg_u128 *out);
int lg_fsm_acct_set_volumes(struct fsm_acct *a, uint32_t asset, lg_u128 in, lg_u128 out);
/* Floor: *unbounded true (world, unlimited) or the limit (0 when none). */
void lg_fsm_acct_floor(const struct fsm_acct *a, uint32_t asset, bool *unbounded,
                       lg_u128 *limit);
int lg_fsm_acct_set_limit(struct fsm_acct *a, uint32_t asset, lg_u128 limit, bool unlimited);
/* Merge metadata (sorted, unique) into the account's; fails (LG_EBADREQ) when the result
 * would exceed LG_METADATA_ENTRIES_MAX (check with lg_fsm_acct_meta_merged_count first). */
uint32_t lg_fsm_acct_meta_merged_count(const struct fsm_acct *a, const struct lg_kv *kv,
                                       uint32_t n);
int lg_fsm_acct_meta_merge(struct fsm_acct *a, const struct lg_kv *kv, uint32_t n);
int lg_fsm_acct_push_tx(struct fsm_acct *a, uint64_t tx_id);
uint32_t lg_fsm_ref_find(const struct fsm_ledger *l, const char *ref, size_t len);
/* Start loading the reference map's slot for ref (a hint: the index is a DRAM miss). */
void lg_fsm_ref_prefetch(const struct fsm_ledger *l, const char *ref, size_t len);
void lg_fsm_acct_prefetch(const struct fsm_ledger *l, const char *addr, size_t len);
int lg_fsm_ref_add(struct fsm_ledger *l, const char *ref, size_t len, uint64_t tx_id,
                   const uint8_t digest[LG_HASH_BYTES]);
int lg_fsm_txix_push(struct fsm_ledger *l, uint64_t seq, uint64_t ts);
/* B+tree */
int lg_fsm_bt_insert(struct fsm_ledger *l, uint32_t idx);
void lg_fsm_bt_free(struct fsm_bt *t);
struct fsm_bt_pos {
    const struct fsm_bt_node *leaf;
    uint16_t pos;
};
/* First address >= key (after_key: > key). pos.leaf NULL at the end. */
void lg_fsm_bt_seek(const struct fsm_ledger *l, const char *key, size_t len, bool after_key,
                    struct fsm_bt_pos *pos);
/* Current account index, FSM_NONE at the end; next advances. */
uint32_t lg_fsm_bt_get(const struct fsm_bt_pos *pos);
void lg_fsm_bt_next(struct fsm_bt_pos *pos);
int lg_fsm_addr_cmp(const char *a, size_t alen, const char *b, size_t blen);

/* snap.c */
int lg_fsm_snap_encode(const struct fsm_state *s, struct lg_buf *out, bool with_manifest);
/* The same bytes (with the manifest) as parts of p (empty), the hash part left unsealed. */
int lg_fsm_snap_encode_parts(const struct fsm_state *s, struct lg_fsm_snap *p);
int lg_fsm_snap_decode(const void *buf, size_t len, struct fsm_state *s, char *errmsg);
int lg_fsm_buf_reserve(struct lg_buf *b, size_t more);

#endif /* LG_FSM_INT_H */
