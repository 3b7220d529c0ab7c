/* state: the FSM's in-memory data structures (hash tables, slabs, B+tree, ledgers,
 * accounts, assets). Nothing here knows about commands or the journal. */
#include <stdlib.h>
#include <string.h>

#include "fsm_int.h"
#include "mem.h"
#include "name.h"

#define SLAB_CHUNK_BYTES (64u * 1024u)

/* A fixed 64-bit hash (8 bytes at a time, murmur-style finalizer). Its values never
 * escape: they only place keys in tables. */
uint64_t lg_fsm_hash(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ ((uint64_t)n * 0xC2B2AE3D27D4EB4Full);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h ^= w * 0x87C37B91114253D5ull;
        h = (h << 31) | (h >> 33);
        h *= 0x4CF5AD432745937Full;
        s += 8;
        n -= 8;
    }
    uint64_t t = 0;
    for (size_t i = 0; i < n; i++) {
        t |= (uint64_t)s[i] << (8u * i);
    }
    h ^= t * 0x87C37B91114253D5ull;
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDull;
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 33;
    return h;
}

/* Find key in m; returns its index or FSM_NONE. */
uint32_t lg_fsm_map_find(const struct fsm_map *m, uint64_t h, const char *key, size_t len,
                         fsm_map_eq_cb eq, const void *ctx)
{
    if (m->cap == 0) {
        return FSM_NONE;
    }
    uint32_t h32 = (uint32_t)(h >> 32);
    uint32_t mask = m->cap - 1u;
    uint32_t i = h32 & mask;
    for (;;) {
        uint64_t slot = m->slots[i];
        if (slot == 0) {
            return FSM_NONE;
        }
        if ((uint32_t)(slot >> 32) == h32) {
            uint32_t idx = (uint32_t)slot - 1u;
            if (eq(ctx, idx, key, len)) {
                return idx;
            }
        }
        i = (i + 1u) & mask;
    }
}

static void map_place(uint64_t *slots, uint32_t cap, uint64_t slot, uint32_t low)
{
    uint32_t mask = cap - 1u;
    uint32_t i = low & mask;
    while (slots[i] != 0) {
        i = (i + 1u) & mask;
    }
    slots[i] = slot;
}

/* Insert idx under hash h (the key must be absent). The high 32 bits of the hash are
 * stored in the slot and also place it, so growing never needs the keys.
 * Returns LG_OK or LG_ENOMEM. */
int lg_fsm_map_insert(struct fsm_map *m, uint64_t h, uint32_t idx)
{
    LG_PRE(idx != FSM_NONE);
    if ((uint64_t)(m->n + 1u) * 4u > (uint64_t)m->cap * 3u) {
        uint32_t cap = m->cap == 0 ? 16u : m->cap * 2u;
        LG_ASSERT(cap > m->cap);
        uint64_t *slots = lg_mem_zalloc((size_t)cap * sizeof *slots);
        if (slots == NULL) {
            return LG_ENOMEM;
        }
        for (uint32_t i = 0; i < m->cap; i++) {
            uint64_t slot = m->slots[i];
            if (slot != 0) {
                map_place(slots, cap, slot, (uint32_t)(slot >> 32));
            }
        }
        free(m->slots);
        m->slots = slots;
        m->cap = cap;
    }
    uint32_t h32 = (uint32_t)(h >> 32);
    map_place(m->slots, m->cap, ((uint64_t)h32 << 32) | ((uint64_t)idx + 1u),
              h32);
    m->n++;
    return LG_OK;
}

void lg_fsm_map_free(struct fsm_map *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = 0;
    m->n = 0;
}

/* ---- slab ---- */

const char *lg_fsm_slab_copy(struct fsm_slab *s, const char *p, size_t n)
{
    LG_PRE(n <= SLAB_CHUNK_BYTES);
    if (s->n_chunks == 0 || s->used + n > SLAB_CHUNK_BYTES) {
        if (s->n_chunks == s->cap_chunks) {
            uint32_t cap = s->cap_chunks == 0 ? 8u : s->cap_chunks * 2u;
            char **chunks = realloc(s->chunks, cap * sizeof *chunks);
            if (chunks == NULL) {
                return NULL;
            }
            s->chunks = chunks;
            s->cap_chunks = cap;
        }
        char *c = malloc(SLAB_CHUNK_BYTES);
        if (c == NULL) {
            return NULL;
        }
        s->chunks[s->n_chunks++] = c;
        s->used = 0;
        s->bytes += SLAB_CHUNK_BYTES;
    }
    char *dst = s->chunks[s->n_chunks - 1u] + s->used;
    if (n > 0) {
        memcpy(dst, p, n);
    }
    s->used += n;
    return dst;
}

void lg_fsm_slab_free(struct fsm_slab *s)
{
    for (uint32_t i = 0; i < s->n_chunks; i++) {
        free(s->chunks[i]);
    }
    free(s->chunks);
    memset(s, 0, sizeof *s);
}

/* ---- B+tree ---- */

int lg_fsm_addr_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n > 0 ? memcmp(a, b, n) : 0;
    if (c != 0) {
        return c < 0 ? -1 : 1;
    }
    return alen < blen ? -1 : (alen > blen ? 1 : 0);
}

static int bt_cmp_idx(const struct fsm_ledger *l, uint32_t a, uint32_t b)
{
    const struct fsm_acct *x = fsm_acct_at(l, a);
    const struct fsm_acct *y = fsm_acct_at(l, b);
    return lg_fsm_addr_cmp(x->addr, x->addr_len, y->addr, y->addr_len);
}

static int bt_cmp_key(const struct fsm_ledger *l, uint32_t a, const char *key, size_t len)
{
    const struct fsm_acct *x = fsm_acct_at(l, a);
    return lg_fsm_addr_cmp(x->addr, x->addr_len, key, len);
}

static struct fsm_bt_node *bt_node_new(struct fsm_bt *t, bool leaf)
{
    size_t size = sizeof(struct fsm_bt_node) +
                  (leaf ? 0u : (FSM_BT_MAX + 2u) * sizeof(struct fsm_bt_node *));
    struct fsm_bt_node *n = calloc(1, size);
    if (n != NULL) {
        n->leaf = leaf;
        t->bytes += size;
    }
    return n;
}

/* Insert idx below node; on a split, *right is the new right sibling and *sep its first
 * key (leaf) or the promoted key (internal). */
static int bt_insert_rec(struct fsm_ledger *l, struct fsm_bt_node *node, uint32_t idx,
                         struct fsm_bt_node **right, uint32_t *sep)
{
    *right = NULL;
    /* upper bound: number of keys <= idx's address (keys are unique, so "<") */
    uint16_t lo = 0;
    uint16_t hi = node->n;
    while (lo < hi) {
        uint16_t mid = (uint16_t)((lo + hi) / 2u);
        if (bt_cmp_idx(l, node->keys[mid], idx) < 0) {
            lo = (uint16_t)(mid + 1u);
        } else {
            hi = mid;
        }
    }
    if (node->leaf) {
        memmove(&node->keys[lo + 1u], &node->keys[lo], (size_t)(node->n - lo) * 4u);
        node->keys[lo] = idx;
        node->n++;
        if (node->n <= FSM_BT_MAX) {
            return LG_OK;
        }
        struct fsm_bt_node *r = bt_node_new(&l->order, true);
        if (r == NULL) {
            return LG_ENOMEM;
        }
        uint16_t keep = (uint16_t)(node->n / 2u);
        r->n = (uint16_t)(node->n - keep);
        memcpy(r->keys, &node->keys[keep], (size_t)r->n * 4u);
        node->n = keep;
        r->next = node->next;
        node->next = r;
        *right = r;
        *sep = r->keys[0];
        return LG_OK;
    }
    /* internal: child lo holds keys between keys[lo-1] and keys[lo] */
    struct fsm_bt_node *kid_right = NULL;
    uint32_t kid_sep = 0;
    int rc = bt_insert_rec(l, node->kids[lo], idx, &kid_right, &kid_sep);
    if (rc != LG_OK || kid_right == NULL) {
        return rc;
    }
    memmove(&node->keys[lo + 1u], &node->keys[lo], (size_t)(node->n - lo) * 4u);
    memmove(&node->kids[lo + 2u], &node->kids[lo + 1u],
            (size_t)(node->n - lo) * sizeof node->kids[0]);
    node->keys[lo] = kid_sep;
    node->kids[lo + 1u] = kid_right;
    node->n++;
    if (node->n <= FSM_BT_MAX) {
        return LG_OK;
    }
    struct fsm_bt_node *r = bt_node_new(&l->order, false);
    if (r == NULL) {
        return LG_ENOMEM;
    }
    uint16_t mid = (uint16_t)(node->n / 2u);
    *sep = node->keys[mid];
    r->n = (uint16_t)(node->n - mid - 1u);
    memcpy(r->keys, &node->keys[mid + 1u], (size_t)r->n * 4u);
    memcpy(r->kids, &node->kids[mid + 1u], ((size_t)r->n + 1u) * sizeof r->kids[0]);
    node->n = mid;
    *right = r;
    return LG_OK;
}

int lg_fsm_bt_insert(struct fsm_ledger *l, uint32_t idx)
{
    struct fsm_bt *t = &l->order;
    if (t->root == NULL) {
        t->root = bt_node_new(t, true);
        if (t->root == NULL) {
            return LG_ENOMEM;
        }
    }
    struct fsm_bt_node *right = NULL;
    uint32_t sep = 0;
    int rc = bt_insert_rec(l, t->root, idx, &right, &sep);
    if (rc != LG_OK || right == NULL) {
        return rc;
    }
    struct fsm_bt_node *root = bt_node_new(t, false);
    if (root == NULL) {
        return LG_ENOMEM;
    }
    root->n = 1;
    root->keys[0] = sep;
    root->kids[0] = t->root;
    root->kids[1] = right;
    t->root = root;
    return LG_OK;
}

static void bt_free_rec(struct fsm_bt_node *n)
{
    if (!n->leaf) {
        for (uint16_t i = 0; i <= n->n; i++) {
            bt_free_rec(n->kids[i]);
        }
    }
    free(n);
}

void lg_fsm_bt_free(struct fsm_bt *t)
{
    if (t->root != NULL) {
        bt_free_rec(t->root);
    }
    t->root = NULL;
    t->bytes = 0;
}

void lg_fsm_bt_seek(const struct fsm_ledger *l, const char *key, size_t len, bool after_key,
                    struct fsm_bt_pos *pos)
{
    pos->leaf = NULL;
    pos->pos = 0;
    const struct fsm_bt_node *n = l->order.root;
    if (n == NULL) {
        return;
    }
    while (!n->leaf) {
        /* child = number of separators <= key */
        uint16_t lo = 0;
        uint16_t hi = n->n;
        while (lo < hi) {
            uint16_t mid = (uint16_t)((lo + hi) / 2u);
            if (bt_cmp_key(l, n->keys[mid], key, len) <= 0) {
                lo = (uint16_t)(mid + 1u);
            } else {
                hi = mid;
            }
        }
        n = n->kids[lo];
    }
    uint16_t lo = 0;
    uint16_t hi = n->n;
    while (lo < hi) {
        uint16_t mid = (uint16_t)((lo + hi) / 2u);
        int c = bt_cmp_key(l, n->keys[mid], key, len);
        if (c < 0 || (after_key && c == 0)) {
            lo = (uint16_t)(mid + 1u);
        } else {
            hi = mid;
        }
    }
    pos->leaf = n;
    pos->pos = lo;
    if (lo >= n->n) {
        pos->leaf = n->next;
        pos->pos = 0;
    }
}

uint32_t lg_fsm_bt_get(const struct fsm_bt_pos *pos)
{
    if (pos->leaf == NULL) {
        return FSM_NONE;
    }
    LG_ASSERT(pos->pos < pos->leaf->n);
    return pos->leaf->keys[pos->pos];
}

void lg_fsm_bt_next(struct fsm_bt_pos *pos)
{
    if (pos->leaf == NULL) {
        return;
    }
    pos->pos++;
    if (pos->pos >= pos->leaf->n) {
        pos->leaf = pos->leaf->next;
        pos->pos = 0;
    }
}

/* ---- state, ledgers, assets ---- */

void lg_fsm_state_init(struct fsm_state *s)
{
    memset(s, 0, sizeof *s);
}

static void acct_free(struct fsm_acct *a)
{
    free(a->txs);
    if (a->ext != NULL) {
        for (uint32_t i = 0; i < a->ext->n_meta; i++) {
            free(a->ext->meta[i].block);
        }
        free(a->ext->meta);
        free(a->ext->vols);
        free(a->ext->limits);
        free(a->ext);
    }
}

static void ledger_free(struct fsm_ledger *l)
{
    for (uint32_t i = 0; i < l->n_accts; i++) {
        acct_free(fsm_acct_at(l, i));
    }
    for (uint32_t i = 0; i < l->n_chunks; i++) {
        free(l->chunks[i]);
    }
    free(l->chunks);
    lg_fsm_map_free(&l->acct_map);
    lg_fsm_bt_free(&l->order);
    lg_fsm_slab_free(&l->strings);
    free(l->txix);
    for (uint32_t i = 0; i < l->refs.n_chunks; i++) {
        free(l->refs.chunks[i].base);
    }
    free(l->refs.chunks);
    free(l->refs.at);
    lg_fsm_map_free(&l->ref_map);
    free(l);
}

void lg_fsm_state_free(struct fsm_state *s)
{
    for (uint32_t i = 0; i < s->n_ledgers; i++) {
        ledger_free(s->ledgers[i]);
    }
    free(s->ledgers);
    free(s->assets);
    lg_fsm_map_free(&s->asset_map);
    lg_fsm_map_free(&s->ledger_map);
    memset(s, 0, sizeof *s);
}

static bool ledger_eq(const void *ctx, uint32_t idx, const char *key, size_t len)
{
    const struct fsm_state *s = ctx;
    const struct fsm_ledger *l = s->ledgers[idx];
    return l->name_len == len && memcmp(l->name, key, len) == 0;
}

struct fsm_ledger *lg_fsm_ledger_find(const struct fsm_state *s, const char *name, size_t len)
{
    uint32_t idx = lg_fsm_map_find(&s->ledger_map, lg_fsm_hash(name, len), name, len,
                                   ledger_eq, s);
    return idx == FSM_NONE ? NULL : s->ledgers[idx];
}

/* Find or create a ledger (name already validated). */
int lg_fsm_ledger_get(struct fsm_state *s, const char *name, size_t len,
                      struct fsm_ledger **out)
{
    LG_PRE(len > 0 && len <= LG_LEDGER_BYTES_MAX);
    uint64_t h = lg_fsm_hash(name, len);
    uint32_t idx = lg_fsm_map_find(&s->ledger_map, h, name, len, ledger_eq, s);
    if (idx != FSM_NONE) {
        *out = s->ledgers[idx];
        return LG_OK;
    }
    if (s->n_ledgers == s->cap_ledgers) {
        uint32_t cap = s->cap_ledgers == 0 ? 4u : s->cap_ledgers * 2u;
        struct fsm_ledger **v = realloc(s->ledgers, cap * sizeof *v);
        if (v == NULL) {
            return LG_ENOMEM;
        }
        s->ledgers = v;
        s->cap_ledgers = cap;
    }
    struct fsm_ledger *l = calloc(1, sizeof *l);
    if (l == NULL) {
        return LG_ENOMEM;
    }
    memcpy(l->name, name, len);
    l->name_len = (uint8_t)len;
    if (lg_fsm_map_insert(&s->ledger_map, h, s->n_ledgers) != LG_OK) {
        free(l);
        return LG_ENOMEM;
    }
    s->ledgers[s->n_ledgers++] = l;
    *out = l;
    return LG_OK;
}

static bool asset_eq(const void *ctx, uint32_t idx, const char *key, size_t len)
{
    const struct fsm_state *s = ctx;
    return s->assets[idx].len == len && memcmp(s->assets[idx].name, key, len) == 0;
}

uint32_t lg_fsm_asset_find(const struct fsm_state *s, const char *name, size_t len)
{
    return lg_fsm_map_find(&s->asset_map, lg_fsm_hash(name, len), name, len, asset_eq, s);
}

int lg_fsm_asset_get(struct fsm_state *s, const char *name, size_t len, uint32_t *out)
{
    LG_PRE(len > 0 && len <= LG_ASSET_BYTES_MAX);
    uint64_t h = lg_fsm_hash(name, len);
    uint32_t idx = lg_fsm_map_find(&s->asset_map, h, name, len, asset_eq, s);
    if (idx != FSM_NONE) {
        *out = idx;
        return LG_OK;
    }
    if (s->n_assets == s->cap_assets) {
        uint32_t cap = s->cap_assets == 0 ? 8u : s->cap_assets * 2u;
        struct fsm_asset *v = realloc(s->assets, cap * sizeof *v);
        if (v == NULL) {
            return LG_ENOMEM;
        }
        s->assets = v;
        s->cap_assets = cap;
    }
    if (lg_fsm_map_insert(&s->asset_map, h, s->n_assets) != LG_OK) {
        return LG_ENOMEM;
    }
    memcpy(s->assets[s->n_assets].name, name, len);
    s->assets[s->n_assets].len = (uint8_t)len;
    *out = s->n_assets++;
    return LG_OK;
}

/* ---- accounts ---- */

static bool acct_eq(const void *ctx, uint32_t idx, const char *key, size_t len)
{
    const struct fsm_acct *a = fsm_acct_at(ctx, idx);
    return a->addr_len == len && memcmp(a->addr, key, len) == 0;
}

uint32_t lg_fsm_acct_find(const struct fsm_ledger *l, const char *addr, size_t len,
                          uint64_t h)
{
    return lg_fsm_map_find(&l->acct_map, h, addr, len, acct_eq, l);
}

/* Find or create an account (address already validated). */
int lg_fsm_acct_get(struct fsm_state *s, struct fsm_ledger *l, const char *addr, size_t len,
                    uint32_t *out)
{
    LG_PRE(len > 0 && len <= LG_ADDRESS_BYTES_MAX);
    uint64_t h = lg_fsm_hash(addr, len);
    uint32_t idx = lg_fsm_map_find(&l->acct_map, h, addr, len, acct_eq, l);
    if (idx != FSM_NONE) {
        *out = idx;
        return LG_OK;
    }
    if (l->n_accts == UINT32_MAX - 1u) {
        return LG_ENOMEM;
    }
    idx = l->n_accts;
    uint32_t chunk = idx >> FSM_ACCT_CHUNK_SHIFT;
    if (chunk == l->n_chunks) {
        struct fsm_acct **v = realloc(l->chunks, ((size_t)chunk + 1u) * sizeof *v);
        if (v == NULL) {
            return LG_ENOMEM;
        }
        l->chunks = v;
        v[chunk] = malloc(FSM_ACCT_CHUNK * sizeof(struct fsm_acct));
        if (v[chunk] == NULL) {
            return LG_ENOMEM;
        }
        l->n_chunks++;
    }
    struct fsm_acct *a = fsm_acct_at(l, idx);
    memset(a, 0, sizeof *a);
    const char *copy = a->inl;
    if (len <= FSM_ADDR_INLINE) {
        memcpy(a->inl, addr, len);
    } else if ((copy = lg_fsm_slab_copy(&l->strings, addr, len)) == NULL) {
        return LG_ENOMEM;
    }
    a->addr = copy;
    a->addr_len = (uint16_t)len;
    a->asset0 = FSM_NONE;
    a->world = lg_name_is_world(addr, len);
    if (lg_fsm_map_insert(&l->acct_map, h, idx) != LG_OK) {
        return LG_ENOMEM;
    }
    l->n_accts++;
    if (lg_fsm_bt_insert(l, idx) != LG_OK) {
        return LG_ENOMEM;
    }
    s->n_accts++;
    *out = idx;
    return LG_OK;
}

void lg_fsm_acct_volumes(const struct fsm_acct *a, uint32_t asset, lg_u128 *in, lg_u128 *out)
{
    if (a->asset0 == asset) {
        *in = a->in0;
        *out = a->out0;
        return;
    }
    if (a->ext != NULL) {
        for (uint32_t i = 0; i < a->ext->n_vols; i++) {
            if (a->ext->vols[i].asset == asset) {
                *in = a->ext->vols[i].input;
                *out = a->ext->vols[i].output;
                return;
            }
        }
    }
    *in = 0;
    *out = 0;
}

static struct fsm_acct_ext *acct_ext(struct fsm_acct *a)
{
    if (a->ext == NULL) {
        a->ext = calloc(1, sizeof *a->ext);
    }
    return a->ext;
}

int lg_fsm_acct_set_volumes(struct fsm_acct *a, uint32_t asset, lg_u128 in, lg_u128 out)
{
    LG_PRE(asset != FSM_NONE);
    if (a->asset0 == asset || a->asset0 == FSM_NONE) {
        a->asset0 = asset;
        a->in0 = in;
        a->out0 = out;
        return LG_OK;
    }
    struct fsm_acct_ext *e = acct_ext(a);
    if (e == NULL) {
        return LG_ENOMEM;
    }
    for (uint32_t i = 0; i < e->n_vols; i++) {
        if (e->vols[i].asset == asset) {
            e->vols[i].input = in;
            e->vols[i].output = out;
            return LG_OK;
        }
    }
    if (e->n_vols == e->cap_vols) {
        uint32_t cap = e->cap_vols == 0 ? 2u : e->cap_vols * 2u;
        struct fsm_vol *v = realloc(e->vols, cap * sizeof *v);
        if (v == NULL) {
            return LG_ENOMEM;
        }
        e->vols = v;
        e->cap_vols = cap;
    }
    e->vols[e->n_vols].asset = asset;
    e->vols[e->n_vols].input = in;
    e->vols[e->n_vols].output = out;
    e->n_vols++;
    return LG_OK;
}

void lg_fsm_acct_floor(const struct fsm_acct *a, uint32_t asset, bool *unbounded,
                       lg_u128 *limit)
{
    *unbounded = a->world;
    *limit = 0;
    if (a->ext == NULL || a->world) {
        return;
    }
    for (uint32_t i = 0; i < a->ext->n_limits; i++) {
        if (a->ext->limits[i].asset == asset) {
            *unbounded = a->ext->limits[i].unlimited;
            *limit = a->ext->limits[i].limit;
            return;
        }
    }
}

int lg_fsm_acct_set_limit(struct fsm_acct *a, uint32_t asset, lg_u128 limit, bool unlimited)
{
    struct fsm_acct_ext *e = acct_ext(a);
    if (e == NULL) {
        return LG_ENOMEM;
    }
    for (uint32_t i = 0; i < e->n_limits; i++) {
        if (e->limits[i].asset == asset) {
            e->limits[i].limit = unlimited ? 0 : limit;
            e->limits[i].unlimited = unlimited;
            return LG_OK;
        }
    }
    struct fsm_limit *v = realloc(e->limits, ((size_t)e->n_limits + 1u) * sizeof *v);
    if (v == NULL) {
        return LG_ENOMEM;
    }
    e->limits = v;
    e->limits[e->n_limits].asset = asset;
    e->limits[e->n_limits].limit = unlimited ? 0 : limit;
    e->limits[e->n_limits].unlimited = unlimited;
    e->n_limits++;
    return LG_OK;
}

static int meta_cmp(const struct fsm_meta *m, const struct lg_kv *kv)
{
    return lg_fsm_addr_cmp(m->block, m->klen, kv->key.ptr, kv->key.len);
}

uint32_t lg_fsm_acct_meta_merged_count(const struct fsm_acct *a, const struct lg_kv *kv,
                                       uint32_t n)
{
    uint32_t have = a->ext == NULL ? 0 : a->ext->n_meta;
    uint32_t i = 0;
    uint32_t j = 0;
    uint32_t count = 0;
    while (i < have || j < n) {
        if (i == have) {
            j++;
        } else if (j == n) {
            i++;
        } else {
            int c = meta_cmp(&a->ext->meta[i], &kv[j]);
            i += c <= 0 ? 1u : 0u;
            j += c >= 0 ? 1u : 0u;
        }
        count++;
    }
    return count;
}

static int meta_make(struct fsm_meta *m, const struct lg_kv *kv)
{
    m->block = malloc((size_t)kv->key.len + kv->value.len + 1u);
    if (m->block == NULL) {
        return LG_ENOMEM;
    }
    memcpy(m->block, kv->key.ptr, kv->key.len);
    if (kv->value.len > 0) {
        memcpy(m->block + kv->key.len, kv->value.ptr, kv->value.len);
    }
    m->klen = kv->key.len;
    m->vlen = kv->value.len;
    return LG_OK;
}

/* Merge sorted, unique kv into the account's sorted metadata; a key present in both takes
 * the new value. */
int lg_fsm_acct_meta_merge(struct fsm_acct *a, const struct lg_kv *kv, uint32_t n)
{
    uint32_t total = lg_fsm_acct_meta_merged_count(a, kv, n);
    struct fsm_acct_ext *e = acct_ext(a);
    if (e == NULL) {
        return LG_ENOMEM;
    }
    struct fsm_meta *m = calloc(total == 0 ? 1u : total, sizeof *m);
    if (m == NULL) {
        return LG_ENOMEM;
    }
    uint32_t i = 0;
    uint32_t j = 0;
    uint32_t k = 0;
    while (i < e->n_meta || j < n) {
        int c = i == e->n_meta ? 1 : (j == n ? -1 : meta_cmp(&e->meta[i], &kv[j]));
        if (c < 0) {
            m[k++] = e->meta[i++];
            continue;
        }
        if (meta_make(&m[k], &kv[j]) != LG_OK) {
            for (uint32_t x = 0; x < k; x++) {
                /* entries taken from the old array stay owned by it until the swap */
                bool taken = false;
                for (uint32_t y = 0; y < e->n_meta; y++) {
                    taken = taken || e->meta[y].block == m[x].block;
                }
                if (!taken) {
                    free(m[x].block);
                }
            }
            free(m);
            return LG_ENOMEM;
        }
        k++;
        j++;
        if (c == 0) {
            free(e->meta[i].block);
            e->meta[i].block = NULL;
            i++;
        }
    }
    LG_ASSERT(k == total);
    free(e->meta);
    e->meta = m;
    e->n_meta = total;
    return LG_OK;
}

int lg_fsm_acct_push_tx(struct fsm_acct *a, uint64_t tx_id)
{
    LG_PRE(a->n_txs == 0 || a->txs[a->n_txs - 1u] < tx_id);
    if (a->n_txs == a->cap_txs) {
        if (a->cap_txs >= UINT32_MAX / 2u) {
            return LG_ENOMEM;
        }
        /* 2 first (most accounts are touched rarely: 16 bytes), then doubling */
        uint32_t cap = a->cap_txs == 0 ? 2u : a->cap_txs * 2u;
        uint64_t *v = realloc(a->txs, cap * sizeof *v);
        if (v == NULL) {
            return LG_ENOMEM;
        }
        a->txs = v;
        a->cap_txs = cap;
    }
    a->txs[a->n_txs++] = tx_id;
    return LG_OK;
}

static bool ref_eq(const void *ctx, uint32_t idx, const char *key, size_t len)
{
    const struct fsm_ledger *l = ctx;
    const uint8_t *e = l->refs.at[idx];
    return fsm_ref_len(e) == len && memcmp(fsm_ref_bytes(e), key, len) == 0;
}

uint32_t lg_fsm_ref_find(const struct fsm_ledger *l, const char *ref, size_t len)
{
    return lg_fsm_map_find(&l->ref_map, lg_fsm_hash(ref, len), ref, len, ref_eq, l);
}

static void map_prefetch(const struct fsm_map *m, const char *key, size_t len)
{
    if (m->cap > 0) {
        uint32_t h32 = (uint32_t)(lg_fsm_hash(key, len) >> 32);
        __builtin_prefetch(&m->slots[h32 & (m->cap - 1u)]);
    }
}

void lg_fsm_ref_prefetch(const struct fsm_ledger *l, const char *ref, size_t len)
{
    map_prefetch(&l->ref_map, ref, len);
}

void lg_fsm_acct_prefetch(const struct fsm_ledger *l, const char *addr, size_t len)
{
    map_prefetch(&l->acct_map, addr, len);
}

/* Room for one more entry of `bytes` in the last chunk (a new chunk when it is full,
 * twice the last one's size up to FSM_REF_CHUNK_BYTES). */
static uint8_t *reflog_room(struct fsm_reflog *g, size_t bytes)
{
    LG_PRE(bytes <= FSM_REF_CHUNK_FIRST_BYTES);
    size_t cap = FSM_REF_CHUNK_FIRST_BYTES;
    if (g->n_chunks > 0) {
        struct fsm_ref_chunk *c = &g->chunks[g->n_chunks - 1u];
        if (c->cap - c->used >= bytes) {
            return c->base + c->used;
        }
        cap = c->cap < FSM_REF_CHUNK_BYTES / 2u ? c->cap * 2u : FSM_REF_CHUNK_BYTES;
    }
    if (g->n_chunks == g->cap_chunks) {
        uint32_t n = g->cap_chunks == 0 ? 8u : g->cap_chunks * 2u;
        struct fsm_ref_chunk *v = realloc(g->chunks, n * sizeof *v);
        if (v == NULL) {
            return NULL;
        }
        g->chunks = v;
        g->cap_chunks = n;
    }
    uint8_t *base = malloc(cap);
    if (base == NULL) {
        return NULL;
    }
    g->chunks[g->n_chunks++] = (struct fsm_ref_chunk){.base = base, .used = 0, .cap = cap};
    return base;
}

int lg_fsm_ref_add(struct fsm_ledger *l, const char *ref, size_t len, uint64_t tx_id,
                   const uint8_t digest[LG_HASH_BYTES])
{
    LG_PRE(len > 0 && len <= LG_REFERENCE_BYTES_MAX);
    struct fsm_reflog *g = &l->refs;
    if (g->n == g->cap) {
        if (g->cap >= UINT32_MAX / 2u) {
            return LG_ENOMEM;
        }
        uint32_t cap = g->cap == 0 ? 16u : g->cap * 2u;
        const uint8_t **v = lg_mem_grow(g->at, (size_t)g->cap * sizeof *v,
                                        (size_t)cap * sizeof *v);
        if (v == NULL) {
            return LG_ENOMEM;
        }
        g->at = v;
        g->cap = cap;
    }
    size_t bytes = FSM_REF_ENTRY_BYTES(len);
    uint8_t *e = reflog_room(g, bytes);
    if (e == NULL) {
        return LG_ENOMEM;
    }
    if (lg_fsm_map_insert(&l->ref_map, lg_fsm_hash(ref, len), g->n) != LG_OK) {
        return LG_ENOMEM;
    }
    e[0] = (uint8_t)len;
    memcpy(e + 1, ref, len);
    for (unsigned i = 0; i < 8; i++) {
        e[1u + len + i] = (uint8_t)(tx_id >> (8u * i));
    }
    memcpy(e + 1u + len + 8u, digest, LG_HASH_BYTES);
    g->chunks[g->n_chunks - 1u].used += bytes;
    g->at[g->n++] = e;
    return LG_OK;
}

int lg_fsm_txix_push(struct fsm_ledger *l, uint64_t seq, uint64_t ts)
{
    if (l->n_txix == l->cap_txix) {
        uint64_t cap = l->cap_txix == 0 ? 64u : l->cap_txix * 2u;
        struct fsm_txix *v = lg_mem_grow(l->txix, (size_t)l->cap_txix * sizeof *v,
                                         (size_t)cap * sizeof *v);
        if (v == NULL) {
            return LG_ENOMEM;
        }
        l->txix = v;
        l->cap_txix = cap;
    }
    l->txix[l->n_txix].seq = seq;
    l->txix[l->n_txix].ts = ts;
    l->n_txix++;
    return LG_OK;
}
