/* test_fsm_prop: the bank invariants under a random workload.
 *
 * Goal: after 100 000 random transactions (1-5 postings, 3 assets, 1 000 accounts, some
 * over-spending, some limits, some references and retries): per asset the balances of a
 * ledger sum to 0; no account except world is below its floor; replaying the journal into
 * an empty state gives the same state and chain head; a snapshot restored into a fresh FSM
 * (journal gap then filled from the first FSM's journal) answers every query identically.
 * Method: seeded random batches (LG_TEST_SEED replays a run) of 100 commands per entry
 * through lg_fsm_apply_batch; invariants checked through the public queries. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsm.h"
#include "lgt.h"

#define S(lit) ((struct lg_str){(lit), (uint32_t)(sizeof(lit) - 1u)})
#define N_TX 100000u
#define N_ACCOUNTS 1000u
#define PER_ENTRY 100u

static const char *const assets[] = {"USD/2", "EUR/2", "JPY"};

struct world_gen {
    char addr[N_ACCOUNTS][24];
    char refs[N_TX][16];
};

static struct lg_str A(const struct world_gen *g, uint64_t i)
{
    return (struct lg_str){g->addr[i], (uint32_t)strlen(g->addr[i])};
}

static struct lg_fsm *open_fsm(const char *dir, const char *sub)
{
    char j[LGT_PATH_MAX + 32];
    char s[LGT_PATH_MAX + 32];
    snprintf(j, sizeof j, "%s/%s-journal", dir, sub);
    snprintf(s, sizeof s, "%s/%s-state", dir, sub);
    struct lg_fsm_options o = {.journal_dir = j, .state_dir = s, .create = true};
    struct lg_fsm *f;
    char err[LG_ERRMSG_SIZE];
    int rc = lg_fsm_open(&f, &o, err);
    cr_assert_eq(rc, LG_OK, "%s", err);
    return f;
}

static void check_invariants(struct lg_fsm *f, struct lg_arena *arena)
{
    struct lg_fsm_balances b;
    struct lg_fsm_balances_query q = {.ledger = S("bank"), .match = LG_FSM_MATCH_PREFIX,
                                      .address = S(""), .totals = true,
                                      .limit = LG_PAGE_LIMIT_MAX};
    char cursor[LG_ADDRESS_BYTES_MAX];
    uint32_t accounts = 0;
    for (;;) {
        lg_arena_reset(arena);
        cr_assert_eq(lg_fsm_balances(f, &q, arena, &b), LG_OK);
        cr_assert_eq(b.n_totals, 3);
        for (uint32_t i = 0; i < b.n_totals; i++) {
            cr_assert(b.totals[i].total == 0, "asset %.*s does not sum to 0",
                      (int)b.totals[i].asset.len, b.totals[i].asset.ptr);
        }
        for (uint32_t i = 0; i < b.n_rows; i++) {
            const struct lg_fsm_balance_row *r = &b.rows[i];
            if (r->balance >= 0 || (r->address.len == 5 && memcmp(r->address.ptr, "world",
                                                                    5) == 0)) {
                continue;
            }
            struct lg_fsm_account a;
            cr_assert_eq(lg_fsm_account(f, S("bank"), r->address, arena, &a), LG_OK);
            bool ok = false;
            for (uint32_t k = 0; k < a.n_volumes; k++) {
                const struct lg_fsm_volume *v = &a.volumes[k];
                if (v->asset.len == r->asset.len &&
                    memcmp(v->asset.ptr, r->asset.ptr, r->asset.len) == 0) {
                    ok = v->has_limit && (v->unlimited || -(lg_i128)v->limit <= r->balance);
                }
            }
            cr_assert(ok, "%.*s below its floor", (int)r->address.len, r->address.ptr);
        }
        accounts += b.n_accounts;
        if (b.next_cursor.len == 0) {
            break;
        }
        memcpy(cursor, b.next_cursor.ptr, b.next_cursor.len);
        q.cursor = (struct lg_str){cursor, b.next_cursor.len};
    }
    cr_assert_gt(accounts, N_ACCOUNTS / 2);
}

static void same_answers(struct lg_fsm *a, struct lg_fsm *b, const struct world_gen *g,
                         struct lg_arena *arena_a, struct lg_arena *arena_b, uint64_t seed)
{
    uint8_t da[LG_HASH_BYTES];
    uint8_t db[LG_HASH_BYTES];
    cr_assert_eq(lg_fsm_state_digest(a, da), LG_OK);
    cr_assert_eq(lg_fsm_state_digest(b, db), LG_OK);
    cr_assert_eq(memcmp(da, db, LG_HASH_BYTES), 0);
    lg_fsm_chain_head(a, da);
    lg_fsm_chain_head(b, db);
    cr_assert_eq(memcmp(da, db, LG_HASH_BYTES), 0);
    cr_assert_eq(lg_fsm_account_count(a), lg_fsm_account_count(b));
    struct lgt_rng rng;
    lgt_rng_init(&rng, seed ^ 0x5eed);
    static uint64_t ia[LG_PAGE_LIMIT_MAX];
    static uint64_t ib[LG_PAGE_LIMIT_MAX];
    for (uint32_t i = 0; i < N_ACCOUNTS; i++) {
        struct lg_fsm_account va;
        struct lg_fsm_account vb;
        lg_arena_reset(arena_a);
        lg_arena_reset(arena_b);
        int ra = lg_fsm_account(a, S("bank"), A(g, i), arena_a, &va);
        cr_assert_eq(ra, lg_fsm_account(b, S("bank"), A(g, i), arena_b, &vb));
        if (ra != LG_OK) {
            continue;
        }
        cr_assert_eq(va.version, vb.version);
        cr_assert_eq(va.n_txs, vb.n_txs);
        cr_assert_eq(va.n_volumes, vb.n_volumes);
        for (uint32_t k = 0; k < va.n_volumes; k++) {
            cr_assert(va.volumes[k].input == vb.volumes[k].input);
            cr_assert(va.volumes[k].output == vb.volumes[k].output);
        }
        struct lg_fsm_tx_query q = {.ledger = S("bank"), .account = A(g, i), .limit = 50,
                                    .order = (uint8_t)(i % 2)};
        uint32_t na;
        uint32_t nb;
        uint64_t ca;
        uint64_t cb;
        cr_assert_eq(lg_fsm_list_txs(a, &q, ia, &na, &ca), LG_OK);
        cr_assert_eq(lg_fsm_list_txs(b, &q, ib, &nb, &cb), LG_OK);
        cr_assert_eq(na, nb);
        cr_assert_eq(ca, cb);
        cr_assert_eq(memcmp(ia, ib, na * sizeof ia[0]), 0);
        if (i % 10 == 0 && na > 0) {
            uint64_t tx = ia[lgt_rng_below(&rng, na)];
            const char *asset = assets[lgt_rng_below(&rng, 3)];
            struct lg_str as = {asset, (uint32_t)strlen(asset)};
            lg_u128 in_a;
            lg_u128 out_a;
            lg_u128 in_b;
            lg_u128 out_b;
            cr_assert_eq(lg_fsm_balance_at(a, S("bank"), A(g, i), as, false, tx, &in_a, &out_a),
                         LG_OK);
            cr_assert_eq(lg_fsm_balance_at(b, S("bank"), A(g, i), as, false, tx, &in_b, &out_b),
                         LG_OK);
            cr_assert(in_a == in_b && out_a == out_b);
            struct lg_fsm_tx ta;
            struct lg_fsm_tx tb;
            cr_assert_eq(lg_fsm_get_tx(a, S("bank"), tx, arena_a, &ta), LG_OK);
            cr_assert_eq(lg_fsm_get_tx(b, S("bank"), tx, arena_b, &tb), LG_OK);
            cr_assert_eq(memcmp(ta.hash, tb.hash, LG_HASH_BYTES), 0);
        }
    }
    /* time-range listings */
    for (int k = 0; k < 50; k++) {
        uint64_t from = lgt_rng_below(&rng, N_TX * 2u);
        struct lg_fsm_tx_query q = {.ledger = S("bank"), .has_from = true, .from_ts = from,
                                    .has_to = true, .to_ts = from + 500u, .limit = 100,
                                    .order = (uint8_t)(k % 2)};
        uint32_t na;
        uint32_t nb;
        uint64_t ca;
        uint64_t cb;
        cr_assert_eq(lg_fsm_list_txs(a, &q, ia, &na, &ca), LG_OK);
        cr_assert_eq(lg_fsm_list_txs(b, &q, ib, &nb, &cb), LG_OK);
        cr_assert_eq(na, nb);
        cr_assert_eq(ca, cb);
        cr_assert_eq(memcmp(ia, ib, na * sizeof ia[0]), 0);
    }
    /* pattern balances with totals */
    struct lg_fsm_balances_query bq = {.ledger = S("bank"), .match = LG_FSM_MATCH_PATTERN,
                                       .address = S("users:*:main"), .totals = true,
                                       .limit = 100};
    struct lg_fsm_balances ba;
    struct lg_fsm_balances bb;
    lg_arena_reset(arena_a);
    lg_arena_reset(arena_b);
    cr_assert_eq(lg_fsm_balances(a, &bq, arena_a, &ba), LG_OK);
    cr_assert_eq(lg_fsm_balances(b, &bq, arena_b, &bb), LG_OK);
    cr_assert_eq(ba.n_rows, bb.n_rows);
    cr_assert_eq(ba.n_totals, bb.n_totals);
    for (uint32_t i = 0; i < ba.n_rows; i++) {
        cr_assert(ba.rows[i].balance == bb.rows[i].balance);
    }
    for (uint32_t i = 0; i < ba.n_totals; i++) {
        cr_assert(ba.totals[i].total == bb.totals[i].total);
    }
}

Test(fsm_prop, bank_invariants_replay_and_restore, .timeout = 600)
{
    uint64_t seed = lgt_seed();
    struct lgt_rng rng;
    lgt_rng_init(&rng, seed);
    char dir[LGT_PATH_MAX];
    lgt_tmpdir(dir);
    struct world_gen *g = calloc(1, sizeof *g);
    cr_assert_not_null(g);
    for (uint32_t i = 0; i < N_ACCOUNTS; i++) {
        snprintf(g->addr[i], sizeof g->addr[i], i % 3 == 0 ? "users:%u:main" : "acc:%u", i);
    }
    snprintf(g->addr[0], sizeof g->addr[0], "world");
    struct lg_fsm *f = open_fsm(dir, "a");
    struct lg_cmd cmds[PER_ENTRY];
    struct lg_posting postings[PER_ENTRY][5];
    struct lg_arena arena;
    struct lg_arena arena_b;
    lg_arena_init(&arena, 256u * 1024u * 1024u);
    lg_arena_init(&arena_b, 256u * 1024u * 1024u);
    uint64_t index = 0;
    uint64_t ts = 0;
    uint32_t committed = 0;
    uint32_t funds = 0;
    uint32_t dups = 0;
    /* A few limits first. */
    for (uint32_t i = 1; i <= 50; i++) {
        memset(&cmds[0], 0, sizeof cmds[0]);
        cmds[0].kind = LG_CMD_SET_LIMIT;
        cmds[0].timestamp_us = ++ts;
        cmds[0].u.set_limit = (struct lg_cmd_set_limit){
            S("bank"), A(g, i * 7), {assets[i % 3], (uint32_t)strlen(assets[i % 3])},
            (lg_u128)(i * 100u), i % 10 == 0};
        struct lg_batch b = {cmds, 1};
        const struct lg_cmd_result *res;
        uint32_t n;
        cr_assert_eq(lg_fsm_apply_batch(f, ++index, &b, &res, &n), LG_OK);
        cr_assert_eq(res[0].code, LG_OK, "%s", res[0].message);
    }
    for (uint32_t done = 0; done < N_TX; done += PER_ENTRY) {
        for (uint32_t c = 0; c < PER_ENTRY; c++) {
            uint32_t txn = done + c;
            memset(&cmds[c], 0, sizeof cmds[c]);
            cmds[c].kind = LG_CMD_SUBMIT;
            cmds[c].timestamp_us = ts += 1u + lgt_rng_below(&rng, 3);
            struct lg_cmd_submit *s = &cmds[c].u.submit;
            s->ledger = S("bank");
            s->postings = postings[c];
            s->n_postings = 1u + (uint32_t)lgt_rng_below(&rng, 5);
            for (uint32_t p = 0; p < s->n_postings; p++) {
                uint64_t src = lgt_rng_below(&rng, 4) == 0 ? 0 : lgt_rng_below(&rng, N_ACCOUNTS);
                uint64_t dst = 1u + lgt_rng_below(&rng, N_ACCOUNTS - 1u);
                if (dst == src) {
                    dst = src + 1u < N_ACCOUNTS ? src + 1u : 1u;
                }
                const char *asset = assets[lgt_rng_below(&rng, 3)];
                postings[c][p] = (struct lg_posting){
                    A(g, src), A(g, dst),
                    1u + lgt_rng_below(&rng, lgt_rng_below(&rng, 4) == 0 ? 5000u : 300u),
                    {asset, (uint32_t)strlen(asset)}};
            }
            if (lgt_rng_below(&rng, 20) == 0) {
                /* a reference: new, or a retry of an earlier one (same or other content) */
                uint32_t r = txn;
                if (txn > 1000 && lgt_rng_below(&rng, 4) == 0) {
                    r = (uint32_t)lgt_rng_below(&rng, txn);
                }
                snprintf(g->refs[txn], sizeof g->refs[txn], "ref-%u", r);
                s->reference = (struct lg_str){g->refs[txn], (uint32_t)strlen(g->refs[txn])};
            }
        }
        for (uint32_t c = 1; c < PER_ENTRY; c++) {
            /* an exact retry of the previous command (a client resending) */
            if (cmds[c - 1].u.submit.reference.len > 0 && lgt_rng_below(&rng, 4) == 0) {
                uint64_t t = cmds[c].timestamp_us;
                cmds[c] = cmds[c - 1];
                cmds[c].timestamp_us = t;
            }
        }
        struct lg_batch b = {cmds, PER_ENTRY};
        const struct lg_cmd_result *res;
        uint32_t n;
        cr_assert_eq(lg_fsm_apply_batch(f, ++index, &b, &res, &n), LG_OK);
        cr_assert_eq(n, PER_ENTRY);
        for (uint32_t c = 0; c < n; c++) {
            cr_assert(res[c].code == LG_OK || res[c].code == LG_EFUNDS ||
                          res[c].code == LG_ECONFLICT,
                      "%s: %s", lg_err_name(res[c].code), res[c].message);
            committed += res[c].code == LG_OK && !res[c].duplicate;
            funds += res[c].code == LG_EFUNDS;
            dups += res[c].duplicate;
        }
    }
    cr_assert_gt(funds, 100, "the workload must over-spend sometimes");
    cr_assert_gt(dups, 10, "the workload must retry sometimes");
    cr_assert_gt(committed, N_TX / 4, "%u committed", committed);
    check_invariants(f, &arena);

    /* Replay: the journal alone, into an empty state. */
    uint8_t head[LG_HASH_BYTES];
    lg_fsm_chain_head(f, head);
    struct lg_buf snap;
    lg_buf_init(&snap);
    cr_assert_eq(lg_fsm_snapshot(f, &snap), LG_OK);
    char jdir[LGT_PATH_MAX + 32];
    snprintf(jdir, sizeof jdir, "%s/a-journal", dir);
    struct lg_fsm_options o = {.journal_dir = jdir, .state_dir = dir};
    char sdir2[LGT_PATH_MAX + 32];
    snprintf(sdir2, sizeof sdir2, "%s/replay-state", dir);
    o.state_dir = sdir2;
    o.create = true;
    struct lg_fsm *r;
    cr_assert_eq(lg_journal_sync(lg_fsm_journal(f)), LG_OK);
    cr_assert_eq(lg_fsm_close(f), LG_OK);
    /* a copy of the journal (a journal directory is locked by its user) */
    char cmd[3 * LGT_PATH_MAX];
    snprintf(cmd, sizeof cmd, "cp -r %s %s/copy-journal", jdir, dir);
    cr_assert_eq(system(cmd), 0);
    snprintf(jdir, sizeof jdir, "%s/copy-journal", dir);
    f = open_fsm(dir, "a"); /* from its checkpoint */
    char err[LG_ERRMSG_SIZE];
    int rc = lg_fsm_open(&r, &o, err); /* from nothing */
    cr_assert_eq(rc, LG_OK, "%s", err);
    uint8_t h2[LG_HASH_BYTES];
    lg_fsm_chain_head(r, h2);
    cr_assert_eq(memcmp(head, h2, LG_HASH_BYTES), 0);
    same_answers(f, r, g, &arena, &arena_b, seed);
    lg_fsm_abandon(r);

    /* Snapshot -> restore into a fresh FSM, then the journal gap filled. */
    struct lg_fsm *b = open_fsm(dir, "b");
    cr_assert_eq(lg_fsm_restore(b, snap.data, snap.len), LG_OK);
    struct lg_journal *ja = lg_fsm_journal(f);
    uint64_t last = lg_fsm_last_seq(f);
    cr_assert_eq(lg_fsm_journal_gap(b), last);
    struct lg_journal_iter it;
    cr_assert_eq(lg_journal_iter_init(&it, ja, 1, last), LG_OK);
    struct lg_journal_record jr;
    while (lg_journal_iter_next(&it, &jr) == 1) {
        cr_assert_eq(lg_fsm_gap_append(b, jr.body, jr.body_len), LG_OK);
    }
    cr_assert_eq(lg_fsm_journal_gap(b), 0);
    same_answers(f, b, g, &arena, &arena_b, seed);
    check_invariants(b, &arena);

    fprintf(stderr, "fsm_prop: %u committed, %u insufficient funds, %u duplicates\n",
            committed, funds, dups);
    cr_assert_eq(lg_fsm_close(b), LG_OK);
    cr_assert_eq(lg_fsm_close(f), LG_OK);
    lg_buf_close(&snap);
    lg_arena_close(&arena);
    lg_arena_close(&arena_b);
    free(g);
    lgt_rmtree(dir);
}
