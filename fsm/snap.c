/* snap: the snapshot / checkpoint byte format of the FSM state, and its validating decoder.
 *
 * Little-endian fixed-width fields (version 1):
 *   "LGFSMSNP" u32 version u32 flags(bit 0: applied index present)
 *   u64 last_seq, [32] last_hash, u64 last_ts, (flags&1: u64 applied_index)
 *   u32 n_assets, n x (u8 len, bytes)                      interning order
 *   u32 n_ledgers, n x ledger                              creation order
 *     ledger:  u8 len, name, u64 n_txs, u32 n_accounts, accounts (address order),
 *              u32 n_refs, refs (tx_id order)
 *     account: u16 len, address, u64 version,
 *              u32 n_vols x (u32 asset, u128 input, u128 output)
 *              u32 n_limits x (u32 asset, u8 unlimited, u128 limit)
 *              u32 n_meta x (u16 klen, key, u16 vlen, value)    key order
 *     ref:     u8 len, bytes, u64 tx_id, [32] digest
 *   [32] SHA-256 of every byte before it.
 * Every order above is a function of the history, never of a hash table, so equal states
 * encode to equal bytes. History indexes are not included (docs/state-machine.md). */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "fsm_int.h"
#include "mem.h"
#include "name.h"

#define SNAP_MAGIC "LGFSMSNP"
#define SNAP_VERSION 1u
#define SNAP_FLAG_APPLIED 1u

int lg_fsm_buf_reserve(struct lg_buf *b, size_t more)
{
    if (b->cap - b->len >= more) {
        return LG_OK;
    }
    size_t cap = b->cap == 0 ? 4096u : b->cap;
    while (cap - b->len < more) {
        if (cap > SIZE_MAX / 2u) {
            return LG_ENOMEM;
        }
        cap *= 2u;
    }
    /* a snapshot of a large state is hundreds of MiB: populated, not faulted page by page */
    uint8_t *d = lg_mem_grow(b->data, b->len, cap);
    if (d == NULL) {
        return LG_ENOMEM;
    }
    b->data = d;
    b->cap = cap;
    return LG_OK;
}

/* Writer: capacity is reserved per section, so puts cannot fail. */
static void put(struct lg_buf *b, const void *p, size_t n)
{
    LG_ASSERT(b->cap - b->len >= n);
    if (n > 0) {
        memcpy(b->data + b->len, p, n);
    }
    b->len += n;
}

static void put_u64(struct lg_buf *b, uint64_t v)
{
    uint8_t x[8];
    for (unsigned i = 0; i < 8; i++) {
        x[i] = (uint8_t)(v >> (8u * i));
    }
    put(b, x, 8);
}

static void put_u32(struct lg_buf *b, uint32_t v)
{
    uint8_t x[4];
    for (unsigned i = 0; i < 4; i++) {
        x[i] = (uint8_t)(v >> (8u * i));
    }
    put(b, x, 4);
}

static void put_u16(struct lg_buf *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    put(b, x, 2);
}

static void put_u8(struct lg_buf *b, uint8_t v)
{
    put(b, &v, 1);
}

static void put_u128(struct lg_buf *b, lg_u128 v)
{
    put_u64(b, (uint64_t)v);
    put_u64(b, (uint64_t)(v >> 64));
}

static int encode_account(const struct fsm_acct *a, struct lg_buf *b)
{
    const struct fsm_acct_ext *e = a->ext;
    uint32_t n_vols = (a->asset0 != FSM_NONE ? 1u : 0u) + (e != NULL ? e->n_vols : 0u);
    uint32_t n_limits = e != NULL ? e->n_limits : 0u;
    uint32_t n_meta = e != NULL ? e->n_meta : 0u;
    size_t need = 2u + a->addr_len + 8u + 12u + (size_t)n_vols * 36u + (size_t)n_limits * 21u;
    for (uint32_t i = 0; i < n_meta; i++) {
        need += 4u + (size_t)e->meta[i].klen + e->meta[i].vlen;
    }
    int rc = lg_fsm_buf_reserve(b, need);
    if (rc != LG_OK) {
        return rc;
    }
    put_u16(b, a->addr_len);
    put(b, a->addr, a->addr_len);
    put_u64(b, a->version);
    put_u32(b, n_vols);
    if (a->asset0 != FSM_NONE) {
        put_u32(b, a->asset0);
        put_u128(b, a->in0);
        put_u128(b, a->out0);
    }
    for (uint32_t i = 0; e != NULL && i < e->n_vols; i++) {
        put_u32(b, e->vols[i].asset);
        put_u128(b, e->vols[i].input);
        put_u128(b, e->vols[i].output);
    }
    put_u32(b, n_limits);
    for (uint32_t i = 0; i < n_limits; i++) {
        put_u32(b, e->limits[i].asset);
        put_u8(b, e->limits[i].unlimited ? 1u : 0u);
        put_u128(b, e->limits[i].limit);
    }
    put_u32(b, n_meta);
    for (uint32_t i = 0; i < n_meta; i++) {
        put_u16(b, (uint16_t)e->meta[i].klen);
        put(b, e->meta[i].block, e->meta[i].klen);
        put_u16(b, (uint16_t)e->meta[i].vlen);
        put(b, e->meta[i].block + e->meta[i].klen, e->meta[i].vlen);
    }
    return LG_OK;
}

/* Parts under construction: head ranges are offsets into b (it may still move), borrowed
 * ones are pointers. */
static int part_add(struct lg_fsm_snap *p, const void *base, size_t head_off, size_t len)
{
    if (len == 0) {
        return LG_OK;
    }
    if (p->n_parts == p->cap_parts) {
        size_t cap = p->cap_parts == 0 ? 64u : p->cap_parts * 2u;
        struct lg_fsm_snap_part *v = realloc(p->parts, cap * sizeof *v);
        if (v == NULL) {
            return LG_ENOMEM;
        }
        p->parts = v;
        p->cap_parts = cap;
    }
    p->parts[p->n_parts++] = (struct lg_fsm_snap_part){.base = base, .len = len,
                                                        .head_off = head_off};
    p->bytes += len;
    return LG_OK;
}

/* The references of l after their count: copied into b (p NULL), or borrowed from the
 * reference chunks as parts after the head bytes [*head_from, b->len). */
static int encode_refs(const struct fsm_ledger *l, struct lg_buf *b, struct lg_fsm_snap *p,
                       size_t *head_from)
{
    const struct fsm_reflog *g = &l->refs;
    int rc;
    if (p != NULL) {
        if ((rc = part_add(p, NULL, *head_from, b->len - *head_from)) != LG_OK) {
            return rc;
        }
        for (uint32_t i = 0; i < g->n_chunks; i++) {
            if ((rc = part_add(p, g->chunks[i].base, SIZE_MAX, g->chunks[i].used)) != LG_OK) {
                return rc;
            }
        }
        *head_from = b->len;
        return LG_OK;
    }
    size_t bytes = 0;
    for (uint32_t i = 0; i < g->n_chunks; i++) {
        bytes += g->chunks[i].used;
    }
    if ((rc = lg_fsm_buf_reserve(b, bytes)) != LG_OK) {
        return rc;
    }
    for (uint32_t i = 0; i < g->n_chunks; i++) {
        put(b, g->chunks[i].base, g->chunks[i].used);
    }
    return LG_OK;
}

/* The encoding of the state (header comment): into b whole with its hash (p NULL), or as
 * parts: b holds the bytes that are not borrowed, and the hash is left to
 * lg_fsm_snap_seal. */
static int snap_encode(const struct fsm_state *s, struct lg_buf *b, bool with_manifest,
                       struct lg_fsm_snap *p)
{
    size_t start = b->len;
    size_t head_from = start;
    int rc = lg_fsm_buf_reserve(b, 128u + (size_t)s->n_assets * (1u + LG_ASSET_BYTES_MAX));
    if (rc != LG_OK) {
        return rc;
    }
    put(b, SNAP_MAGIC, 8);
    put_u32(b, SNAP_VERSION);
    put_u32(b, with_manifest ? SNAP_FLAG_APPLIED : 0u);
    put_u64(b, s->last_seq);
    put(b, s->last_hash, LG_HASH_BYTES);
    put_u64(b, s->last_ts);
    if (with_manifest) {
        put_u64(b, s->applied_index);
    }
    put_u32(b, s->n_assets);
    for (uint32_t i = 0; i < s->n_assets; i++) {
        put_u8(b, s->assets[i].len);
        put(b, s->assets[i].name, s->assets[i].len);
    }
    put_u32(b, s->n_ledgers);
    for (uint32_t li = 0; li < s->n_ledgers; li++) {
        const struct fsm_ledger *l = s->ledgers[li];
        if ((rc = lg_fsm_buf_reserve(b, 1u + LG_LEDGER_BYTES_MAX + 12u)) != LG_OK) {
            return rc;
        }
        put_u8(b, l->name_len);
        put(b, l->name, l->name_len);
        put_u64(b, l->n_txs);
        put_u32(b, l->n_accts);
        struct fsm_bt_pos pos;
        lg_fsm_bt_seek(l, "", 0, false, &pos);
        uint32_t count = 0;
        for (uint32_t idx = lg_fsm_bt_get(&pos); idx != FSM_NONE; idx = lg_fsm_bt_get(&pos)) {
            if ((rc = encode_account(fsm_acct_at(l, idx), b)) != LG_OK) {
                return rc;
            }
            count++;
            lg_fsm_bt_next(&pos);
        }
        LG_ASSERT(count == l->n_accts);
        if ((rc = lg_fsm_buf_reserve(b, 4u)) != LG_OK) {
            return rc;
        }
        put_u32(b, l->refs.n);
        if ((rc = encode_refs(l, b, p, &head_from)) != LG_OK) {
            return rc;
        }
    }
    if (p != NULL) {
        if ((rc = part_add(p, NULL, head_from, b->len - head_from)) != LG_OK ||
            (rc = part_add(p, p->hash, SIZE_MAX, LG_HASH_BYTES)) != LG_OK) {
            return rc;
        }
        for (size_t i = 0; i < p->n_parts; i++) {
            if (p->parts[i].head_off != SIZE_MAX) {
                p->parts[i].base = b->data + p->parts[i].head_off;
            }
        }
        return LG_OK;
    }
    if ((rc = lg_fsm_buf_reserve(b, LG_HASH_BYTES)) != LG_OK) {
        return rc;
    }
    static const uint8_t zero[LG_HASH_BYTES];
    uint8_t h[LG_HASH_BYTES];
    lg_journal_chain_hash(zero, b->data + start, b->len - start, h);
    put(b, h, LG_HASH_BYTES);
    return LG_OK;
}

int lg_fsm_snap_encode(const struct fsm_state *s, struct lg_buf *b, bool with_manifest)
{
    return snap_encode(s, b, with_manifest, NULL);
}

int lg_fsm_snap_encode_parts(const struct fsm_state *s, struct lg_fsm_snap *p)
{
    LG_PRE(p->n_parts == 0 && p->bytes == 0 && p->head.len == 0);
    return snap_encode(s, &p->head, true, p);
}

void lg_fsm_snap_seal(struct lg_fsm_snap *p)
{
    LG_PRE(p->n_parts > 0 && p->parts[p->n_parts - 1u].base == p->hash);
    static const uint8_t zero[LG_HASH_BYTES];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    LG_ASSERT(ctx != NULL);
    unsigned int n = 0;
    int ok = EVP_DigestInit_ex2(ctx, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, zero, LG_HASH_BYTES) == 1;
    for (size_t i = 0; ok && i + 1u < p->n_parts; i++) {
        ok = EVP_DigestUpdate(ctx, p->parts[i].base, p->parts[i].len) == 1;
    }
    ok = ok && EVP_DigestFinal_ex(ctx, p->hash, &n) == 1;
    EVP_MD_CTX_free(ctx);
    LG_ASSERT(ok && n == LG_HASH_BYTES);
}

/* ---- decoding: every field is checked; bytes may be hostile ---- */

struct rd {
    const uint8_t *p;
    size_t left;
    bool bad;
};

static const uint8_t *take(struct rd *r, size_t n)
{
    if (r->bad || r->left < n) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += n;
    r->left -= n;
    return p;
}

static uint64_t get_u64(struct rd *r)
{
    const uint8_t *p = take(r, 8);
    uint64_t v = 0;
    for (unsigned i = 0; p != NULL && i < 8; i++) {
        v |= (uint64_t)p[i] << (8u * i);
    }
    return v;
}

static uint32_t get_u32(struct rd *r)
{
    const uint8_t *p = take(r, 4);
    uint32_t v = 0;
    for (unsigned i = 0; p != NULL && i < 4; i++) {
        v |= (uint32_t)p[i] << (8u * i);
    }
    return v;
}

static uint16_t get_u16(struct rd *r)
{
    const uint8_t *p = take(r, 2);
    if (p == NULL) {
        return 0;
    }
    return (uint16_t)((unsigned)p[0] | ((unsigned)p[1] << 8u));
}

static uint8_t get_u8(struct rd *r)
{
    const uint8_t *p = take(r, 1);
    return p == NULL ? 0 : p[0];
}

static lg_u128 get_u128(struct rd *r)
{
    uint64_t lo = get_u64(r);
    uint64_t hi = get_u64(r);
    return ((lg_u128)hi << 64) | lo;
}

#define BAD(what)                                                                  \
    do {                                                                           \
        lg_errmsg_printf(errmsg, LG_ECORRUPT, "snapshot: %s", what);               \
        return LG_ECORRUPT;                                                        \
    } while (0)

static int decode_account(struct rd *r, struct fsm_state *s, struct fsm_ledger *l,
                          const char **prev, uint16_t *prev_len, char *errmsg)
{
    uint16_t alen = get_u16(r);
    const char *addr = (const char *)take(r, alen);
    if (addr == NULL || lg_name_check_address(addr, alen, "address", NULL) != LG_OK) {
        BAD("invalid account address");
    }
    if (*prev != NULL && lg_fsm_addr_cmp(*prev, *prev_len, addr, alen) >= 0) {
        BAD("accounts not in strictly increasing address order");
    }
    uint32_t idx;
    int rc = lg_fsm_acct_get(s, l, addr, alen, &idx);
    if (rc != LG_OK) {
        return rc;
    }
    struct fsm_acct *a = fsm_acct_at(l, idx);
    *prev = a->addr;
    *prev_len = a->addr_len;
    a->version = get_u64(r);
    uint32_t n_vols = get_u32(r);
    if (r->bad || n_vols > s->n_assets) {
        BAD("account volume count");
    }
    for (uint32_t i = 0; i < n_vols; i++) {
        uint32_t asset = get_u32(r);
        lg_u128 in = get_u128(r);
        lg_u128 out = get_u128(r);
        if (r->bad || asset >= s->n_assets) {
            BAD("volume asset id");
        }
        bool seen = a->asset0 == asset;
        for (uint32_t j = 0; a->ext != NULL && j < a->ext->n_vols; j++) {
            seen = seen || a->ext->vols[j].asset == asset;
        }
        if (seen) {
            BAD("duplicate volume asset");
        }
        if ((rc = lg_fsm_acct_set_volumes(a, asset, in, out)) != LG_OK) {
            return rc;
        }
    }
    uint32_t n_limits = get_u32(r);
    if (r->bad || n_limits > s->n_assets || (n_limits > 0 && a->world)) {
        BAD("account limit count");
    }
    for (uint32_t i = 0; i < n_limits; i++) {
        uint32_t asset = get_u32(r);
        uint8_t unlimited = get_u8(r);
        lg_u128 limit = get_u128(r);
        if (r->bad || asset >= s->n_assets || unlimited > 1 || (unlimited && limit != 0)) {
            BAD("account limit");
        }
        for (uint32_t j = 0; a->ext != NULL && j < a->ext->n_limits; j++) {
            if (a->ext->limits[j].asset == asset) {
                BAD("duplicate limit asset");
            }
        }
        if ((rc = lg_fsm_acct_set_limit(a, asset, limit, unlimited != 0)) != LG_OK) {
            return rc;
        }
    }
    uint32_t n_meta = get_u32(r);
    if (r->bad || n_meta > LG_METADATA_ENTRIES_MAX) {
        BAD("account metadata count");
    }
    struct lg_kv kv[LG_METADATA_ENTRIES_MAX];
    for (uint32_t i = 0; i < n_meta; i++) {
        uint16_t klen = get_u16(r);
        const char *k = (const char *)take(r, klen);
        uint16_t vlen = get_u16(r);
        const char *v = (const char *)take(r, vlen);
        if (r->bad || klen == 0 || klen > LG_METADATA_KEY_BYTES_MAX ||
            vlen > LG_METADATA_VALUE_BYTES_MAX) {
            BAD("account metadata entry");
        }
        if (i > 0 && lg_fsm_addr_cmp(kv[i - 1].key.ptr, kv[i - 1].key.len, k, klen) >= 0) {
            BAD("account metadata keys not sorted");
        }
        kv[i].key.ptr = k;
        kv[i].key.len = klen;
        kv[i].value.ptr = v;
        kv[i].value.len = vlen;
    }
    if (n_meta > 0 && (rc = lg_fsm_acct_meta_merge(a, kv, n_meta)) != LG_OK) {
        return rc;
    }
    return LG_OK;
}

static int decode_ledger(struct rd *r, struct fsm_state *s, char *errmsg)
{
    uint8_t nlen = get_u8(r);
    const char *name = (const char *)take(r, nlen);
    if (name == NULL || lg_name_check_ledger(name, nlen, "ledger", NULL) != LG_OK) {
        BAD("invalid ledger name");
    }
    if (lg_fsm_ledger_find(s, name, nlen) != NULL) {
        BAD("duplicate ledger");
    }
    struct fsm_ledger *l;
    int rc = lg_fsm_ledger_get(s, name, nlen, &l);
    if (rc != LG_OK) {
        return rc;
    }
    l->n_txs = get_u64(r);
    uint32_t n_accts = get_u32(r);
    if (r->bad || n_accts > r->left / 23u) {
        BAD("account count");
    }
    const char *prev = NULL;
    uint16_t prev_len = 0;
    for (uint32_t i = 0; i < n_accts; i++) {
        if ((rc = decode_account(r, s, l, &prev, &prev_len, errmsg)) != LG_OK) {
            return rc;
        }
    }
    uint32_t n_refs = get_u32(r);
    if (r->bad || n_refs > r->left / 42u || n_refs > l->n_txs) {
        BAD("reference count");
    }
    uint64_t prev_tx = 0;
    for (uint32_t i = 0; i < n_refs; i++) {
        uint8_t len = get_u8(r);
        const char *ref = (const char *)take(r, len);
        uint64_t tx_id = get_u64(r);
        const uint8_t *digest = take(r, LG_HASH_BYTES);
        if (r->bad || len == 0 || len > LG_REFERENCE_BYTES_MAX || tx_id >= l->n_txs ||
            (i > 0 && tx_id <= prev_tx)) {
            BAD("reference entry");
        }
        if (lg_fsm_ref_find(l, ref, len) != FSM_NONE) {
            BAD("duplicate reference");
        }
        if ((rc = lg_fsm_ref_add(l, ref, len, tx_id, digest)) != LG_OK) {
            return rc;
        }
        prev_tx = tx_id;
    }
    return LG_OK;
}

int lg_fsm_snap_decode(const void *buf, size_t len, struct fsm_state *s, char *errmsg)
{
    static const uint8_t zero[LG_HASH_BYTES];
    if (buf == NULL || len < 8u + 8u + 8u + LG_HASH_BYTES + 8u + 8u + LG_HASH_BYTES) {
        BAD("too short");
    }
    const uint8_t *bytes = buf;
    if (memcmp(bytes, SNAP_MAGIC, 8) != 0) {
        BAD("bad magic");
    }
    uint8_t h[LG_HASH_BYTES];
    lg_journal_chain_hash(zero, bytes, len - LG_HASH_BYTES, h);
    if (memcmp(h, bytes + len - LG_HASH_BYTES, LG_HASH_BYTES) != 0) {
        BAD("hash mismatch");
    }
    struct rd r = {bytes + 8, len - 8u - LG_HASH_BYTES, false};
    if (get_u32(&r) != SNAP_VERSION) {
        BAD("unsupported version");
    }
    uint32_t flags = get_u32(&r);
    if (flags != SNAP_FLAG_APPLIED) {
        BAD("flags (not a snapshot with a manifest)");
    }
    s->last_seq = get_u64(&r);
    const uint8_t *hash = take(&r, LG_HASH_BYTES);
    s->last_ts = get_u64(&r);
    s->applied_index = get_u64(&r);
    if (r.bad) {
        BAD("truncated manifest");
    }
    memcpy(s->last_hash, hash, LG_HASH_BYTES);
    if (s->last_seq == 0 && memcmp(hash, zero, LG_HASH_BYTES) != 0) {
        BAD("empty journal with a non-zero chain head");
    }
    uint32_t n_assets = get_u32(&r);
    if (r.bad || n_assets > r.left / 2u) {
        BAD("asset count");
    }
    for (uint32_t i = 0; i < n_assets; i++) {
        uint8_t alen = get_u8(&r);
        const char *name = (const char *)take(&r, alen);
        if (name == NULL || lg_name_check_asset(name, alen, "asset", NULL) != LG_OK) {
            BAD("invalid asset");
        }
        if (lg_fsm_asset_find(s, name, alen) != FSM_NONE) {
            BAD("duplicate asset");
        }
        uint32_t id;
        int rc = lg_fsm_asset_get(s, name, alen, &id);
        if (rc != LG_OK) {
            return rc;
        }
    }
    uint32_t n_ledgers = get_u32(&r);
    if (r.bad || n_ledgers > r.left / 14u) {
        BAD("ledger count");
    }
    for (uint32_t i = 0; i < n_ledgers; i++) {
        int rc = decode_ledger(&r, s, errmsg);
        if (rc != LG_OK) {
            return rc;
        }
    }
    if (r.bad || r.left != 0) {
        BAD("trailing or missing bytes");
    }
    if (s->n_ledgers > 0 && s->last_seq == 0) {
        BAD("ledgers without journal records");
    }
    return LG_OK;
}
