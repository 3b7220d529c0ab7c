/* query: read-only answers from the state, the history indexes and the journal. Pages are
 * bounded by LG_PAGE_LIMIT_MAX; every output is in address, asset or tx order. */
#include <stdlib.h>
#include <string.h>

#include "fsm_int.h"
#include "name.h"

static const struct fsm_ledger *find_ledger(struct lg_fsm *f, struct lg_str ledger)
{
    if (ledger.len == 0 || ledger.len > LG_LEDGER_BYTES_MAX) {
        return NULL;
    }
    return lg_fsm_ledger_find(&f->st, ledger.ptr, ledger.len);
}

static const struct fsm_acct *find_acct(const struct fsm_ledger *l, struct lg_str addr)
{
    uint32_t idx = lg_fsm_acct_find(l, addr.ptr, addr.len, lg_fsm_hash(addr.ptr, addr.len));
    return idx == FSM_NONE ? NULL : fsm_acct_at(l, idx);
}

/* Read record seq and decode it into the arena (the body is copied there first: journal
 * read views die at the next journal call). */
static int read_record(struct lg_fsm *f, uint64_t seq, struct lg_arena *arena,
                       struct lg_fsm_tx *out)
{
    if (seq == 0 || seq > lg_journal_last_seq(f->journal)) {
        return LG_EUNAVAIL;
    }
    struct lg_journal_record jr;
    int rc = lg_journal_read(f->journal, seq, &jr);
    if (rc != LG_OK) {
        return rc;
    }
    uint8_t *copy = lg_arena_alloc(arena, jr.body_len);
    if (copy == NULL) {
        return LG_ENOMEM;
    }
    memcpy(copy, jr.body, jr.body_len);
    memcpy(out->hash, jr.hash, LG_HASH_BYTES);
    rc = lg_record_decode(copy, jr.body_len, arena, &out->rec, NULL);
    if (rc == LG_OK && out->rec.seq != seq) {
        rc = LG_ECORRUPT;
    }
    return rc;
}

int lg_fsm_get_tx(struct lg_fsm *f, struct lg_str ledger, uint64_t tx_id,
                  struct lg_arena *arena, struct lg_fsm_tx *out)
{
    LG_PRE(f != NULL && arena != NULL && out != NULL);
    const struct fsm_ledger *l = find_ledger(f, ledger);
    if (l == NULL || tx_id >= l->n_txs) {
        return LG_ENOTFOUND;
    }
    if (tx_id >= l->n_txix) {
        return LG_EUNAVAIL;
    }
    return read_record(f, l->txix[tx_id].seq, arena, out);
}

int lg_fsm_get_tx_by_ref(struct lg_fsm *f, struct lg_str ledger, struct lg_str reference,
                         struct lg_arena *arena, struct lg_fsm_tx *out)
{
    LG_PRE(f != NULL && arena != NULL && out != NULL);
    const struct fsm_ledger *l = find_ledger(f, ledger);
    if (l == NULL || reference.len == 0 || reference.len > LG_REFERENCE_BYTES_MAX) {
        return LG_ENOTFOUND;
    }
    uint32_t r = lg_fsm_ref_find(l, reference.ptr, reference.len);
    if (r == FSM_NONE) {
        return LG_ENOTFOUND;
    }
    return lg_fsm_get_tx(f, ledger, fsm_ref_tx(l->refs.at[r]), arena, out);
}

/* First tx id whose timestamp is >= ts (strict: > ts). */
static uint64_t ts_bound(const struct fsm_ledger *l, uint64_t ts, bool strict)
{
    uint64_t lo = 0;
    uint64_t hi = l->n_txix;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2u;
        uint64_t t = l->txix[mid].ts;
        if (t < ts || (strict && t == ts)) {
            lo = mid + 1u;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* Position of the first entry >= v in an ascending list (list NULL: the identity list
 * 0..n-1). */
static uint64_t list_lower(const uint64_t *list, uint64_t n, uint64_t v)
{
    if (list == NULL) {
        return v < n ? v : n;
    }
    uint64_t lo = 0;
    uint64_t hi = n;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2u;
        if (list[mid] < v) {
            lo = mid + 1u;
        } else {
            hi = mid;
        }
    }
    return lo;
}

static uint64_t list_at(const uint64_t *list, uint64_t i)
{
    return list == NULL ? i : list[i];
}

int lg_fsm_list_txs(struct lg_fsm *f, const struct lg_fsm_tx_query *q, uint64_t *tx_ids,
                    uint32_t *n, uint64_t *next_cursor)
{
    LG_PRE(f != NULL && q != NULL && tx_ids != NULL && n != NULL && next_cursor != NULL);
    *n = 0;
    *next_cursor = 0;
    uint32_t limit = q->limit == 0 ? LG_PAGE_LIMIT_DEFAULT : q->limit;
    if (limit > LG_PAGE_LIMIT_MAX || q->order > LG_FSM_DESC) {
        return LG_EBADREQ;
    }
    const struct fsm_ledger *l = find_ledger(f, q->ledger);
    if (l == NULL) {
        return LG_OK;
    }
    if (l->n_txix < l->n_txs) {
        return LG_EUNAVAIL;
    }
    uint64_t lo = q->has_from ? ts_bound(l, q->from_ts, false) : 0;
    uint64_t hi = q->has_to ? ts_bound(l, q->to_ts, false) : l->n_txix;
    if (hi < lo) {
        hi = lo;
    }
    const uint64_t *list = NULL;
    uint64_t len = l->n_txix;
    if (q->account.len > 0) {
        const struct fsm_acct *a = find_acct(l, q->account);
        if (a == NULL) {
            return LG_OK;
        }
        list = a->txs;
        len = a->n_txs;
    }
    uint64_t plo = list_lower(list, len, lo);
    uint64_t phi = list_lower(list, len, hi);
    if (q->order == LG_FSM_ASC) {
        uint64_t pos = plo;
        if (q->cursor != 0) {
            uint64_t c = list_lower(list, len, q->cursor - 1u);
            pos = c > pos ? c : pos;
        }
        while (pos < phi && *n < limit) {
            tx_ids[(*n)++] = list_at(list, pos++);
        }
        *next_cursor = pos < phi ? list_at(list, pos) + 1u : 0;
    } else {
        uint64_t end = phi; /* exclusive */
        if (q->cursor != 0) {
            uint64_t c = list_lower(list, len, q->cursor); /* entries <= cursor - 1 */
            end = c < end ? c : end;
        }
        while (end > plo && *n < limit) {
            tx_ids[(*n)++] = list_at(list, --end);
        }
        *next_cursor = end > plo ? list_at(list, end - 1u) + 1u : 0;
    }
    return LG_OK;
}

/* Asset ids of an account's volumes and limits, sorted by asset name. */
static uint32_t acct_assets(const struct fsm_state *s, const struct fsm_acct *a, uint32_t *ids,
                            bool with_limits)
{
    uint32_t n = 0;
    if (a->asset0 != FSM_NONE) {
        ids[n++] = a->asset0;
    }
    for (uint32_t i = 0; a->ext != NULL && i < a->ext->n_vols; i++) {
        ids[n++] = a->ext->vols[i].asset;
    }
    for (uint32_t i = 0; with_limits && a->ext != NULL && i < a->ext->n_limits; i++) {
        bool seen = false;
        for (uint32_t j = 0; j < n; j++) {
            seen = seen || ids[j] == a->ext->limits[i].asset;
        }
        if (!seen) {
            ids[n++] = a->ext->limits[i].asset;
        }
    }
    /* insertion sort by name: accounts hold few assets */
    for (uint32_t i = 1; i < n; i++) {
        uint32_t v = ids[i];
        uint32_t j = i;
        while (j > 0 && lg_fsm_addr_cmp(s->assets[ids[j - 1]].name, s->assets[ids[j - 1]].len,
                                        s->assets[v].name, s->assets[v].len) > 0) {
            ids[j] = ids[j - 1];
            j--;
        }
        ids[j] = v;
    }
    return n;
}

static uint32_t acct_asset_count(const struct fsm_acct *a)
{
    uint32_t n = a->asset0 != FSM_NONE ? 1u : 0u;
    if (a->ext != NULL) {
        n += a->ext->n_vols + a->ext->n_limits;
    }
    return n;
}

int lg_fsm_account(struct lg_fsm *f, struct lg_str ledger, struct lg_str address,
                   struct lg_arena *arena, struct lg_fsm_account *out)
{
    LG_PRE(f != NULL && arena != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    if (lg_name_check_address(address.ptr, address.len, "address", NULL) != LG_OK) {
        return LG_EBADREQ;
    }
    const struct fsm_ledger *l = find_ledger(f, ledger);
    const struct fsm_acct *a = l == NULL ? NULL : find_acct(l, address);
    if (a == NULL) {
        return LG_ENOTFOUND;
    }
    const struct fsm_state *s = &f->st;
    out->address.ptr = a->addr;
    out->address.len = a->addr_len;
    out->version = a->version;
    out->n_txs = a->n_txs;
    uint32_t cap = acct_asset_count(a);
    uint32_t *ids = lg_arena_calloc(arena, cap == 0 ? 1u : cap, sizeof *ids);
    out->volumes = lg_arena_calloc(arena, cap == 0 ? 1u : cap, sizeof *out->volumes);
    uint32_t n_meta = a->ext != NULL ? a->ext->n_meta : 0u;
    struct lg_kv *kv = lg_arena_calloc(arena, n_meta == 0 ? 1u : n_meta, sizeof *kv);
    if (ids == NULL || out->volumes == NULL || kv == NULL) {
        return LG_ENOMEM;
    }
    uint32_t n = acct_assets(s, a, ids, true);
    for (uint32_t i = 0; i < n; i++) {
        struct lg_fsm_volume *v = &out->volumes[i];
        v->asset.ptr = s->assets[ids[i]].name;
        v->asset.len = s->assets[ids[i]].len;
        lg_fsm_acct_volumes(a, ids[i], &v->input, &v->output);
        v->balance_ok = lg_amount_balance(v->input, v->output, &v->balance);
        for (uint32_t j = 0; a->ext != NULL && j < a->ext->n_limits; j++) {
            if (a->ext->limits[j].asset == ids[i]) {
                v->has_limit = true;
                v->unlimited = a->ext->limits[j].unlimited;
                v->limit = a->ext->limits[j].limit;
            }
        }
    }
    out->n_volumes = n;
    for (uint32_t i = 0; i < n_meta; i++) {
        const struct fsm_meta *m = &a->ext->meta[i];
        kv[i].key.ptr = m->block;
        kv[i].key.len = m->klen;
        kv[i].value.ptr = m->block + m->klen;
        kv[i].value.len = m->vlen;
    }
    out->metadata = kv;
    out->n_metadata = n_meta;
    return LG_OK;
}

struct bal_scan {
    const struct fsm_ledger *l;
    const struct lg_fsm_balances_query *q;
    const char *prefix;
    size_t prefix_len;
    uint32_t asset; /* FSM_NONE: all */
};

/* Next matching account at or after pos; FSM_NONE at the end of the range. */
static const struct fsm_acct *bal_next(const struct bal_scan *sc, struct fsm_bt_pos *pos)
{
    for (uint32_t idx = lg_fsm_bt_get(pos); idx != FSM_NONE; idx = lg_fsm_bt_get(pos)) {
        const struct fsm_acct *a = fsm_acct_at(sc->l, idx);
        if (a->addr_len < sc->prefix_len ||
            (sc->prefix_len > 0 && memcmp(a->addr, sc->prefix, sc->prefix_len) != 0)) {
            pos->leaf = NULL;
            return NULL;
        }
        lg_fsm_bt_next(pos);
        if (sc->q->match == LG_FSM_MATCH_PATTERN &&
            !lg_name_pattern_match(sc->q->address.ptr, sc->q->address.len, a->addr,
                                   a->addr_len)) {
            continue;
        }
        if (sc->q->match == LG_FSM_MATCH_EXACT && a->addr_len != sc->prefix_len) {
            pos->leaf = NULL;
            return NULL;
        }
        return a;
    }
    return NULL;
}

static bool acct_has_asset(const struct fsm_acct *a, uint32_t asset)
{
    if (a->asset0 == asset) {
        return true;
    }
    for (uint32_t i = 0; a->ext != NULL && i < a->ext->n_vols; i++) {
        if (a->ext->vols[i].asset == asset) {
            return true;
        }
    }
    return false;
}

int lg_fsm_balances(struct lg_fsm *f, const struct lg_fsm_balances_query *q,
                    struct lg_arena *arena, struct lg_fsm_balances *out)
{
    LG_PRE(f != NULL && q != NULL && arena != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    const struct fsm_state *s = &f->st;
    uint32_t limit = q->limit == 0 ? LG_PAGE_LIMIT_DEFAULT : q->limit;
    if (limit > LG_PAGE_LIMIT_MAX) {
        return LG_EBADREQ;
    }
    if (q->asset.len > 0 &&
        lg_name_check_asset(q->asset.ptr, q->asset.len, "asset", NULL) != LG_OK) {
        return LG_EBADREQ;
    }
    struct bal_scan sc = {.q = q, .prefix = q->address.ptr, .prefix_len = q->address.len};
    switch (q->match) {
    case LG_FSM_MATCH_EXACT:
        if (lg_name_check_address(q->address.ptr, q->address.len, "address", NULL) != LG_OK) {
            return LG_EBADREQ;
        }
        break;
    case LG_FSM_MATCH_PREFIX:
        if (q->address.len > LG_ADDRESS_BYTES_MAX) {
            return LG_EBADREQ;
        }
        break;
    case LG_FSM_MATCH_PATTERN:
        if (lg_name_check_pattern(q->address.ptr, q->address.len, "pattern", NULL) != LG_OK) {
            return LG_EBADREQ;
        }
        sc.prefix_len = lg_name_pattern_prefix_len(q->address.ptr, q->address.len);
        break;
    default:
        return LG_EBADREQ;
    }
    if (q->cursor.len > LG_ADDRESS_BYTES_MAX) {
        return LG_EBADREQ;
    }
    sc.l = find_ledger(f, q->ledger);
    sc.asset = FSM_NONE;
    if (q->asset.len > 0) {
        sc.asset = lg_fsm_asset_find(s, q->asset.ptr, q->asset.len);
        if (sc.asset == FSM_NONE) {
            return LG_OK; /* nobody holds an asset never seen */
        }
    }
    if (sc.l == NULL) {
        return LG_OK;
    }
    uint32_t *ids = lg_arena_calloc(arena, s->n_assets == 0 ? 1u : s->n_assets, sizeof *ids);
    if (ids == NULL) {
        return LG_ENOMEM;
    }
    /* Page: from the cursor (exclusive) or the start of the range. */
    uint32_t cap_rows = limit;
    out->rows = lg_arena_calloc(arena, cap_rows, sizeof *out->rows);
    if (out->rows == NULL) {
        return LG_ENOMEM;
    }
    struct fsm_bt_pos pos;
    if (q->cursor.len > 0 &&
        lg_fsm_addr_cmp(q->cursor.ptr, q->cursor.len, sc.prefix, sc.prefix_len) >= 0) {
        lg_fsm_bt_seek(sc.l, q->cursor.ptr, q->cursor.len, true, &pos);
    } else {
        lg_fsm_bt_seek(sc.l, sc.prefix, sc.prefix_len, false, &pos);
    }
    const struct fsm_acct *last = NULL;
    for (const struct fsm_acct *a = bal_next(&sc, &pos); a != NULL; a = bal_next(&sc, &pos)) {
        if (sc.asset != FSM_NONE && !acct_has_asset(a, sc.asset)) {
            continue;
        }
        if (sc.asset == FSM_NONE && acct_asset_count(a) == 0) {
            continue;
        }
        if (out->n_accounts == limit) {
            out->next_cursor.ptr = last->addr;
            out->next_cursor.len = last->addr_len;
            break;
        }
        uint32_t n = 0;
        if (sc.asset != FSM_NONE) {
            ids[n++] = sc.asset;
        } else {
            n = acct_assets(s, a, ids, false);
        }
        if (n == 0) {
            continue;
        }
        if (out->n_rows + n > cap_rows) {
            uint32_t cap = cap_rows * 2u > out->n_rows + n ? cap_rows * 2u : out->n_rows + n;
            struct lg_fsm_balance_row *rows = lg_arena_calloc(arena, cap, sizeof *rows);
            if (rows == NULL) {
                return LG_ENOMEM;
            }
            memcpy(rows, out->rows, (size_t)out->n_rows * sizeof *rows);
            out->rows = rows;
            cap_rows = cap;
        }
        for (uint32_t i = 0; i < n; i++) {
            struct lg_fsm_balance_row *row = &out->rows[out->n_rows++];
            lg_u128 in;
            lg_u128 o;
            lg_fsm_acct_volumes(a, ids[i], &in, &o);
            if (!lg_amount_balance(in, o, &row->balance)) {
                return LG_EOVERFLOW;
            }
            row->address.ptr = a->addr;
            row->address.len = a->addr_len;
            row->asset.ptr = s->assets[ids[i]].name;
            row->asset.len = s->assets[ids[i]].len;
        }
        out->n_accounts++;
        last = a;
    }
    if (!q->totals) {
        return LG_OK;
    }
    /* Totals: every matching account, not only the page. */
    lg_i128 *sum = lg_arena_calloc(arena, s->n_assets == 0 ? 1u : s->n_assets, sizeof *sum);
    bool *used = lg_arena_calloc(arena, s->n_assets == 0 ? 1u : s->n_assets, sizeof *used);
    out->totals = lg_arena_calloc(arena, s->n_assets == 0 ? 1u : s->n_assets,
                                  sizeof *out->totals);
    if (sum == NULL || used == NULL || out->totals == NULL) {
        return LG_ENOMEM;
    }
    lg_fsm_bt_seek(sc.l, sc.prefix, sc.prefix_len, false, &pos);
    for (const struct fsm_acct *a = bal_next(&sc, &pos); a != NULL; a = bal_next(&sc, &pos)) {
        uint32_t n = 0;
        if (sc.asset != FSM_NONE) {
            if (acct_has_asset(a, sc.asset)) {
                ids[n++] = sc.asset;
            }
        } else {
            n = acct_assets(s, a, ids, false);
        }
        for (uint32_t i = 0; i < n; i++) {
            lg_u128 in;
            lg_u128 o;
            lg_i128 b;
            lg_fsm_acct_volumes(a, ids[i], &in, &o);
            if (!lg_amount_balance(in, o, &b) ||
                __builtin_add_overflow(sum[ids[i]], b, &sum[ids[i]])) {
                return LG_EOVERFLOW;
            }
            used[ids[i]] = true;
        }
    }
    /* asset order: sort the used ids by name */
    uint32_t n = 0;
    for (uint32_t i = 0; i < s->n_assets; i++) {
        if (used[i]) {
            ids[n++] = i;
        }
    }
    for (uint32_t i = 1; i < n; i++) {
        uint32_t v = ids[i];
        uint32_t j = i;
        while (j > 0 && lg_fsm_addr_cmp(s->assets[ids[j - 1]].name, s->assets[ids[j - 1]].len,
                                        s->assets[v].name, s->assets[v].len) > 0) {
            ids[j] = ids[j - 1];
            j--;
        }
        ids[j] = v;
    }
    for (uint32_t i = 0; i < n; i++) {
        out->totals[i].asset.ptr = s->assets[ids[i]].name;
        out->totals[i].asset.len = s->assets[ids[i]].len;
        out->totals[i].total = sum[ids[i]];
    }
    out->n_totals = n;
    return LG_OK;
}

int lg_fsm_balance_at(struct lg_fsm *f, struct lg_str ledger, struct lg_str address,
                      struct lg_str asset, bool by_time, uint64_t tx_id_or_ts,
                      lg_u128 *input, lg_u128 *output)
{
    LG_PRE(f != NULL && input != NULL && output != NULL);
    *input = 0;
    *output = 0;
    if (lg_name_check_address(address.ptr, address.len, "address", NULL) != LG_OK ||
        lg_name_check_asset(asset.ptr, asset.len, "asset", NULL) != LG_OK) {
        return LG_EBADREQ;
    }
    const struct fsm_ledger *l = find_ledger(f, ledger);
    if (l == NULL) {
        return LG_ENOTFOUND;
    }
    uint64_t end; /* transactions 0..end-1 count */
    if (by_time) {
        if (l->n_txix < l->n_txs) {
            return LG_EUNAVAIL;
        }
        end = ts_bound(l, tx_id_or_ts, true);
    } else {
        if (tx_id_or_ts >= l->n_txs) {
            return LG_ENOTFOUND;
        }
        if (tx_id_or_ts >= l->n_txix) {
            return LG_EUNAVAIL;
        }
        end = tx_id_or_ts + 1u;
    }
    const struct fsm_acct *a = find_acct(l, address);
    if (a == NULL || end == 0) {
        return LG_OK;
    }
    uint64_t pos = list_lower(a->txs, a->n_txs, end);
    while (pos > 0) {
        uint64_t tx = a->txs[--pos];
        struct lg_fsm_tx t;
        lg_arena_reset(&f->rec_arena);
        int rc = read_record(f, l->txix[tx].seq, &f->rec_arena, &t);
        if (rc != LG_OK) {
            return rc;
        }
        for (uint32_t i = 0; i < t.rec.n_volumes; i++) {
            const struct lg_volume *v = &t.rec.volumes[i];
            if (v->account.len == address.len && v->asset.len == asset.len &&
                memcmp(v->account.ptr, address.ptr, address.len) == 0 &&
                memcmp(v->asset.ptr, asset.ptr, asset.len) == 0) {
                *input = v->input;
                *output = v->output;
                return LG_OK;
            }
        }
    }
    return LG_OK;
}
