/* test_fsm: the ledger state machine's rules, queries and persistence.
 *
 * Goal: every rule of the issue (all-or-nothing, no overdraft, limits, precise rejection
 * codes, idempotent references, conditions, determinism) and every query answer as
 * documented in fsm.h; restart skip, checkpoint + replay, corrupted checkpoint fallback,
 * snapshot -> restore (+ journal gap fill) answering identically, garbage refused.
 * Method: one FSM per test in a fresh temporary directory, fed hand-built batches through
 * lg_fsm_apply_batch or canonical bytes through lg_fsm_apply; state compared through
 * queries and lg_fsm_state_digest; journals compared as files. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsm.h"
#include "lgt.h"

#define S(lit) ((struct lg_str){(lit), (uint32_t)(sizeof(lit) - 1u)})

struct fx {
    char dir[LGT_PATH_MAX];
    char jdir[LGT_PATH_MAX + 16];
    char sdir[LGT_PATH_MAX + 16];
    struct lg_fsm *f;
    uint64_t index;
    uint64_t ts;
    struct lg_arena arena;
};

static void fx_open_dirs(struct fx *x, uint64_t checkpoint_every)
{
    struct lg_fsm_options o;
    memset(&o, 0, sizeof o);
    o.journal_dir = x->jdir;
    o.state_dir = x->sdir;
    o.create = true;
    o.checkpoint_every = checkpoint_every;
    o.journal.segment_bytes_max = 64u * 1024u;
    char err[LG_ERRMSG_SIZE];
    int rc = lg_fsm_open(&x->f, &o, err);
    cr_assert_eq(rc, LG_OK, "open: %s: %s", lg_err_name(rc), err);
    x->index = lg_fsm_applied_index(x->f);
    x->ts = lg_fsm_last_timestamp(x->f);
}

static void fx_init(struct fx *x)
{
    memset(x, 0, sizeof *x);
    lgt_tmpdir(x->dir);
    snprintf(x->jdir, sizeof x->jdir, "%s/journal", x->dir);
    snprintf(x->sdir, sizeof x->sdir, "%s/state", x->dir);
    lg_arena_init(&x->arena, 64u * 1024u * 1024u);
    fx_open_dirs(x, 0);
}

static void fx_fini(struct fx *x)
{
    if (x->f != NULL) {
        cr_assert_eq(lg_fsm_close(x->f), LG_OK);
    }
    x->f = NULL;
    lg_arena_close(&x->arena);
    lgt_rmtree(x->dir);
}

static void fx_reopen(struct fx *x)
{
    cr_assert_eq(lg_fsm_close(x->f), LG_OK);
    x->f = NULL;
    fx_open_dirs(x, 0);
}

/* Apply one command as its own entry; returns its result by value. */
static struct lg_cmd_result fx_cmd(struct fx *x, struct lg_cmd *cmd)
{
    cmd->timestamp_us = ++x->ts;
    struct lg_batch b = {cmd, 1};
    const struct lg_cmd_result *res;
    uint32_t n;
    cr_assert_eq(lg_fsm_apply_batch(x->f, ++x->index, &b, &res, &n), LG_OK);
    cr_assert_eq(n, 1);
    return res[0];
}

static struct lg_cmd_result fx_submit(struct fx *x, const char *ledger,
                                      const struct lg_posting *p, uint32_t n,
                                      const char *ref)
{
    struct lg_cmd c;
    memset(&c, 0, sizeof c);
    c.kind = LG_CMD_SUBMIT;
    c.u.submit.ledger = (struct lg_str){ledger, (uint32_t)strlen(ledger)};
    c.u.submit.postings = p;
    c.u.submit.n_postings = n;
    if (ref != NULL) {
        c.u.submit.reference = (struct lg_str){ref, (uint32_t)strlen(ref)};
    }
    return fx_cmd(x, &c);
}

static struct lg_posting P(const char *src, const char *dst, lg_u128 amount, const char *asset)
{
    struct lg_posting p = {
        {src, (uint32_t)strlen(src)}, {dst, (uint32_t)strlen(dst)}, amount,
        {asset, (uint32_t)strlen(asset)}};
    return p;
}

static struct lg_cmd_result fx_send(struct fx *x, const char *src, const char *dst,
                                    lg_u128 amount, const char *asset)
{
    struct lg_posting p = P(src, dst, amount, asset);
    return fx_submit(x, "main", &p, 1, NULL);
}

static lg_i128 fx_balance(struct fx *x, const char *ledger, const char *addr,
                          const char *asset)
{
    struct lg_fsm_account a;
    lg_arena_reset(&x->arena);
    int rc = lg_fsm_account(x->f, (struct lg_str){ledger, (uint32_t)strlen(ledger)},
                            (struct lg_str){addr, (uint32_t)strlen(addr)}, &x->arena, &a);
    if (rc == LG_ENOTFOUND) {
        return 0;
    }
    cr_assert_eq(rc, LG_OK);
    for (uint32_t i = 0; i < a.n_volumes; i++) {
        if (a.volumes[i].asset.len == strlen(asset) &&
            memcmp(a.volumes[i].asset.ptr, asset, strlen(asset)) == 0) {
            cr_assert(a.volumes[i].balance_ok);
            return a.volumes[i].balance;
        }
    }
    return 0;
}

static uint64_t fx_version(struct fx *x, const char *addr)
{
    struct lg_fsm_account a;
    lg_arena_reset(&x->arena);
    int rc = lg_fsm_account(x->f, S("main"), (struct lg_str){addr, (uint32_t)strlen(addr)},
                            &x->arena, &a);
    return rc == LG_OK ? a.version : 0;
}

static void digest(struct lg_fsm *f, uint8_t out[LG_HASH_BYTES])
{
    cr_assert_eq(lg_fsm_state_digest(f, out), LG_OK);
}

/* ---- apply rules ---- */

Test(fsm, transfer_commits_and_numbers)
{
    struct fx x;
    fx_init(&x);
    struct lg_cmd_result r = fx_send(&x, "world", "alice", 100, "USD/2");
    cr_assert_eq(r.code, LG_OK, "%s", r.message);
    cr_assert_eq(r.tx_id, 0);
    cr_assert_eq(r.seq, 1);
    cr_assert_eq(r.raft_index, 1);
    r = fx_send(&x, "alice", "bob", 30, "USD/2");
    cr_assert_eq(r.code, LG_OK, "%s", r.message);
    cr_assert_eq(r.tx_id, 1);
    cr_assert_eq(r.seq, 2);
    cr_assert(fx_balance(&x, "main", "alice", "USD/2") == 70);
    cr_assert(fx_balance(&x, "main", "bob", "USD/2") == 30);
    cr_assert(fx_balance(&x, "main", "world", "USD/2") == -100);
    cr_assert_eq(fx_version(&x, "alice"), 2);
    cr_assert_eq(fx_version(&x, "bob"), 1);
    cr_assert_eq(lg_fsm_last_seq(x.f), 2);
    cr_assert_eq(lg_fsm_ledger_count(x.f), 1);
    cr_assert_eq(lg_fsm_account_count(x.f), 3);
    uint8_t h[LG_HASH_BYTES];
    lg_fsm_chain_head(x.f, h);
    cr_assert_eq(memcmp(h, r.hash, LG_HASH_BYTES), 0);
    fx_fini(&x);
}

Test(fsm, overdraft_rejected_and_nothing_changes)
{
    struct fx x;
    fx_init(&x);
    fx_send(&x, "world", "alice", 10, "USD");
    uint8_t before[LG_HASH_BYTES];
    digest(x.f, before);
    struct lg_cmd_result r = fx_send(&x, "alice", "bob", 11, "USD");
    cr_assert_eq(r.code, LG_EFUNDS);
    cr_assert(strstr(r.message, "alice") != NULL, "%s", r.message);
    uint8_t after[LG_HASH_BYTES];
    digest(x.f, after);
    cr_assert_eq(memcmp(before, after, LG_HASH_BYTES), 0);
    cr_assert_eq(lg_fsm_last_seq(x.f), 1);
    cr_assert_eq(lg_fsm_account_count(x.f), 2, "bob must not be created");
    fx_fini(&x);
}

Test(fsm, all_postings_or_none)
{
    struct fx x;
    fx_init(&x);
    fx_send(&x, "world", "alice", 10, "USD");
    struct lg_posting p[2] = {P("alice", "bob", 5, "USD"), P("carol", "bob", 1, "USD")};
    struct lg_cmd_result r = fx_submit(&x, "main", p, 2, NULL);
    cr_assert_eq(r.code, LG_EFUNDS);
    cr_assert(strstr(r.message, "postings[1]") != NULL, "%s", r.message);
    cr_assert(fx_balance(&x, "main", "alice", "USD") == 10);
    cr_assert(fx_balance(&x, "main", "bob", "USD") == 0);
    fx_fini(&x);
}

Test(fsm, postings_are_evaluated_in_order)
{
    struct fx x;
    fx_init(&x);
    fx_send(&x, "world", "a", 10, "USD");
    /* b -> c before a -> b: b would be below zero after the first posting */
    struct lg_posting bad[2] = {P("b", "c", 10, "USD"), P("a", "b", 10, "USD")};
    cr_assert_eq(fx_submit(&x, "main", bad, 2, NULL).code, LG_EFUNDS);
    /* a -> b then b -> c: passes through b */
    struct lg_posting good[2] = {P("a", "b", 10, "USD"), P("b", "c", 10, "USD")};
    cr_assert_eq(fx_submit(&x, "main", good, 2, NULL).code, LG_OK);
    cr_assert(fx_balance(&x, "main", "c", "USD") == 10);
    cr_assert(fx_balance(&x, "main", "b", "USD") == 0);
    cr_assert_eq(fx_version(&x, "b"), 1, "one transaction touches b once");
    fx_fini(&x);
}

Test(fsm, overdraft_limit_and_unlimited)
{
    struct fx x;
    fx_init(&x);
    struct lg_cmd c;
    memset(&c, 0, sizeof c);
    c.kind = LG_CMD_SET_LIMIT;
    c.u.set_limit = (struct lg_cmd_set_limit){S("main"), S("alice"), S("USD"), 50, false};
    struct lg_cmd_result r = fx_cmd(&x, &c);
    cr_assert_eq(r.code, LG_OK, "%s", r.message);
    cr_assert_eq(fx_version(&x, "alice"), 1);
    cr_assert_eq(fx_send(&x, "alice", "bob", 51, "USD").code, LG_EFUNDS);
    cr_assert_eq(fx_send(&x, "alice", "bob", 50, "USD").code, LG_OK);
    cr_assert_eq(fx_send(&x, "alice", "bob", 1, "USD").code, LG_EFUNDS);
    cr_assert_eq(fx_send(&x, "alice", "bob", 1, "EUR").code, LG_EFUNDS, "limit is per asset");
    c.u.set_limit = (struct lg_cmd_set_limit){S("main"), S("alice"), S("USD"), 0, true};
    cr_assert_eq(fx_cmd(&x, &c).code, LG_OK);
    cr_assert_eq(fx_send(&x, "alice", "bob", 1000000, "USD").code, LG_OK);
    cr_assert(fx_balance(&x, "main", "alice", "USD") == -1000050);
    c.u.set_limit = (struct lg_cmd_set_limit){S("main"), S("world"), S("USD"), 1, false};
    cr_assert_eq(fx_cmd(&x, &c).code, LG_EBADREQ);
    struct lg_fsm_account a;
    cr_assert_eq(lg_fsm_account(x.f, S("main"), S("alice"), &x.arena, &a), LG_OK);
    cr_assert_eq(a.n_volumes, 1);
    cr_assert(a.volumes[0].has_limit && a.volumes[0].unlimited);
    fx_fini(&x);
}

Test(fsm, invalid_input_has_precise_codes)
{
    struct fx x;
    fx_init(&x);
    fx_send(&x, "world", "alice", 10, "USD");
    struct lg_cmd_result r = fx_send(&x, "world", "alice", 0, "USD");
    cr_assert_eq(r.code, LG_EBADREQ);
    cr_assert(strstr(r.message, "amount") != NULL, "%s", r.message);
    r = fx_send(&x, "alice", "alice", 1, "USD");
    cr_assert_eq(r.code, LG_EBADREQ);
    cr_assert(strstr(r.message, "same account") != NULL, "%s", r.message);
    r = fx_send(&x, "alice", "bad address", 1, "USD");
    cr_assert_eq(r.code, LG_EBADREQ);
    cr_assert(strstr(r.message, "destination") != NULL, "%s", r.message);
    r = fx_send(&x, "alice::x", "bob", 1, "USD");
    cr_assert_eq(r.code, LG_EBADREQ);
    r = fx_send(&x, "alice", "bob", 1, "usd");
    cr_assert_eq(r.code, LG_EBADREQ);
    cr_assert(strstr(r.message, "asset") != NULL, "%s", r.message);
    r = fx_submit(&x, "main", NULL, 0, NULL);
    cr_assert_eq(r.code, LG_EBADREQ);
    cr_assert(strstr(r.message, "empty") != NULL, "%s", r.message);
    struct lg_posting p = P("world", "alice", 1, "USD");
    r = fx_submit(&x, "Main!", &p, 1, NULL);
    cr_assert_eq(r.code, LG_EBADREQ);
    cr_assert_eq(lg_fsm_last_seq(x.f), 1);
    fx_fini(&x);
}

Test(fsm, overflow_rejected)
{
    struct fx x;
    fx_init(&x);
    cr_assert_eq(fx_send(&x, "world", "a", LG_U128_MAX, "USD").code, LG_OK);
    struct lg_cmd_result r = fx_send(&x, "world", "a", 1, "USD");
    cr_assert_eq(r.code, LG_EOVERFLOW, "%s", r.message);
    cr_assert(strstr(r.message, "output volume of world") != NULL, "%s", r.message);
    cr_assert_eq(fx_send(&x, "world", "b", 1, "EUR").code, LG_OK);
    cr_assert_eq(fx_send(&x, "b", "a", 1, "EUR").code, LG_OK);
    cr_assert_eq(fx_send(&x, "world", "c", LG_U128_MAX, "EUR").code, LG_EOVERFLOW);
    cr_assert_eq(lg_fsm_last_seq(x.f), 3);
    fx_fini(&x);
}

Test(fsm, reference_is_idempotent_and_conflicts)
{
    struct fx x;
    fx_init(&x);
    struct lg_posting p = P("world", "alice", 10, "USD");
    struct lg_cmd_result first = fx_submit(&x, "main", &p, 1, "order-1");
    cr_assert_eq(first.code, LG_OK);
    fx_send(&x, "world", "bob", 1, "USD");
    struct lg_cmd_result again = fx_submit(&x, "main", &p, 1, "order-1");
    cr_assert_eq(again.code, LG_OK);
    cr_assert(again.duplicate);
    cr_assert_eq(again.tx_id, first.tx_id);
    cr_assert_eq(again.seq, first.seq);
    cr_assert_eq(again.raft_index, first.raft_index);
    cr_assert_eq(again.timestamp_us, first.timestamp_us);
    cr_assert_eq(memcmp(again.hash, first.hash, LG_HASH_BYTES), 0);
    cr_assert(fx_balance(&x, "main", "alice", "USD") == 10);
    struct lg_posting q = P("world", "alice", 11, "USD");
    cr_assert_eq(fx_submit(&x, "main", &q, 1, "order-1").code, LG_ECONFLICT);
    /* per ledger: the same reference elsewhere is new */
    cr_assert_eq(fx_submit(&x, "other", &p, 1, "order-1").duplicate, false);
    /* across a restart */
    fx_reopen(&x);
    again = fx_submit(&x, "main", &p, 1, "order-1");
    cr_assert(again.duplicate);
    cr_assert_eq(again.seq, first.seq);
    cr_assert_eq(memcmp(again.hash, first.hash, LG_HASH_BYTES), 0);
    cr_assert_eq(fx_submit(&x, "main", &q, 1, "order-1").code, LG_ECONFLICT);
    struct lg_fsm_tx t;
    cr_assert_eq(lg_fsm_get_tx_by_ref(x.f, S("main"), S("order-1"), &x.arena, &t), LG_OK);
    cr_assert_eq(t.rec.tx_id, first.tx_id);
    cr_assert_eq(lg_fsm_get_tx_by_ref(x.f, S("main"), S("nope"), &x.arena, &t), LG_ENOTFOUND);
    fx_fini(&x);
}

Test(fsm, duplicate_in_the_same_entry_reports_the_original)
{
    struct fx x;
    fx_init(&x);
    struct lg_posting p = P("world", "alice", 10, "USD");
    struct lg_cmd c[2];
    memset(c, 0, sizeof c);
    for (int i = 0; i < 2; i++) {
        c[i].kind = LG_CMD_SUBMIT;
        c[i].timestamp_us = 10u + (uint64_t)i;
        c[i].u.submit = (struct lg_cmd_submit){.ledger = S("main"), .postings = &p,
                                               .n_postings = 1, .reference = S("once")};
    }
    struct lg_batch b = {c, 2};
    const struct lg_cmd_result *res;
    uint32_t n;
    cr_assert_eq(lg_fsm_apply_batch(x.f, 1, &b, &res, &n), LG_OK);
    cr_assert_eq(n, 2);
    cr_assert_eq(res[0].code, LG_OK);
    cr_assert(!res[0].duplicate);
    cr_assert(res[1].duplicate);
    cr_assert_eq(res[1].seq, res[0].seq);
    cr_assert_eq(res[1].timestamp_us, res[0].timestamp_us);
    cr_assert_eq(res[1].raft_index, 1);
    cr_assert_eq(memcmp(res[1].hash, res[0].hash, LG_HASH_BYTES), 0);
    cr_assert(fx_balance(&x, "main", "alice", "USD") == 10);
    fx_fini(&x);
}

Test(fsm, rejected_reference_can_be_retried)
{
    struct fx x;
    fx_init(&x);
    struct lg_posting p = P("alice", "bob", 10, "USD");
    cr_assert_eq(fx_submit(&x, "main", &p, 1, "r").code, LG_EFUNDS);
    fx_send(&x, "world", "alice", 10, "USD");
    struct lg_cmd_result r = fx_submit(&x, "main", &p, 1, "r");
    cr_assert_eq(r.code, LG_OK);
    cr_assert(!r.duplicate);
    fx_fini(&x);
}

Test(fsm, conditions_version_and_min_balance)
{
    struct fx x;
    fx_init(&x);
    fx_send(&x, "world", "alice", 10, "USD");
    struct lg_posting p = P("alice", "bob", 1, "USD");
    struct lg_condition cond = {.kind = LG_COND_VERSION, .account = S("alice"), .version = 1};
    struct lg_cmd c;
    memset(&c, 0, sizeof c);
    c.kind = LG_CMD_SUBMIT;
    c.u.submit = (struct lg_cmd_submit){.ledger = S("main"), .postings = &p, .n_postings = 1,
                                        .conditions = &cond, .n_conditions = 1};
    cr_assert_eq(fx_cmd(&x, &c).code, LG_OK);
    struct lg_cmd_result r = fx_cmd(&x, &c); /* alice is at version 2 now */
    cr_assert_eq(r.code, LG_ECONDITION);
    cr_assert(strstr(r.message, "version 2") != NULL, "%s", r.message);
    cond = (struct lg_condition){.kind = LG_COND_MIN_BALANCE, .account = S("alice"),
                                 .asset = S("USD"), .min = 9};
    cr_assert_eq(fx_cmd(&x, &c).code, LG_OK);  /* balance 9 >= 9 */
    cr_assert_eq(fx_cmd(&x, &c).code, LG_ECONDITION); /* 8 < 9 */
    cr_assert(fx_balance(&x, "main", "alice", "USD") == 8);
    cond = (struct lg_condition){.kind = LG_COND_VERSION, .account = S("nobody"), .version = 0};
    cr_assert_eq(fx_cmd(&x, &c).code, LG_OK, "an absent account is at version 0");
    fx_fini(&x);
}

Test(fsm, account_metadata_merges_and_versions)
{
    struct fx x;
    fx_init(&x);
    struct lg_kv kv[2] = {{S("a"), S("1")}, {S("b"), S("2")}};
    struct lg_cmd c;
    memset(&c, 0, sizeof c);
    c.kind = LG_CMD_SET_METADATA;
    c.u.set_metadata = (struct lg_cmd_set_metadata){S("main"), S("users:1"), kv, 2};
    cr_assert_eq(fx_cmd(&x, &c).code, LG_OK);
    struct lg_kv kv2[2] = {{S("b"), S("3")}, {S("c"), S("4")}};
    c.u.set_metadata.metadata = kv2;
    struct lg_cmd_result r = fx_cmd(&x, &c);
    cr_assert_eq(r.code, LG_OK);
    cr_assert_eq(r.seq, 2);
    struct lg_fsm_account a;
    cr_assert_eq(lg_fsm_account(x.f, S("main"), S("users:1"), &x.arena, &a), LG_OK);
    cr_assert_eq(a.version, 2);
    cr_assert_eq(a.n_metadata, 3);
    cr_assert_eq(memcmp(a.metadata[1].key.ptr, "b", 1), 0);
    cr_assert_eq(memcmp(a.metadata[1].value.ptr, "3", 1), 0);
    cr_assert_eq(a.n_volumes, 0);
    struct lg_kv unsorted[2] = {{S("z"), S("1")}, {S("a"), S("2")}};
    c.u.set_metadata.metadata = unsorted;
    cr_assert_eq(fx_cmd(&x, &c).code, LG_EBADREQ);
    fx_fini(&x);
}

Test(fsm, timestamps_never_go_back)
{
    struct fx x;
    fx_init(&x);
    fx_send(&x, "world", "a", 1, "USD");
    uint64_t t0 = lg_fsm_last_timestamp(x.f);
    struct lg_posting p = P("world", "a", 1, "USD");
    struct lg_cmd c;
    memset(&c, 0, sizeof c);
    c.kind = LG_CMD_SUBMIT;
    c.u.submit = (struct lg_cmd_submit){.ledger = S("main"), .postings = &p, .n_postings = 1};
    c.timestamp_us = 0;
    struct lg_batch b = {&c, 1};
    const struct lg_cmd_result *res;
    uint32_t n;
    cr_assert_eq(lg_fsm_apply_batch(x.f, 100, &b, &res, &n), LG_OK);
    cr_assert_eq(res[0].timestamp_us, t0);
    fx_fini(&x);
}

/* ---- entries: decoding, skipping, batches ---- */

Test(fsm, encoded_batch_and_malformed_bytes)
{
    struct fx x;
    fx_init(&x);
    struct lg_posting p[3] = {P("world", "a", 5, "USD"), P("a", "b", 2, "USD"),
                              P("a", "b", 4, "USD")};
    struct lg_cmd cmds[3];
    memset(cmds, 0, sizeof cmds);
    for (int i = 0; i < 3; i++) {
        cmds[i].kind = LG_CMD_SUBMIT;
        cmds[i].timestamp_us = 1000u + (uint64_t)i;
        cmds[i].u.submit.ledger = S("main");
        cmds[i].u.submit.postings = &p[i];
        cmds[i].u.submit.n_postings = 1;
    }
    struct lg_batch b = {cmds, 3};
    struct lg_buf buf;
    lg_buf_init(&buf);
    char err[LG_ERRMSG_SIZE];
    cr_assert_eq(lg_cmd_encode_batch(&b, &buf, err), LG_OK, "%s", err);
    const struct lg_cmd_result *res;
    uint32_t n;
    cr_assert_eq(lg_fsm_apply(x.f, 1, buf.data, buf.len, &res, &n), LG_OK);
    cr_assert_eq(n, 3);
    cr_assert_eq(res[0].code, LG_OK);
    cr_assert_eq(res[1].code, LG_OK);
    cr_assert_eq(res[2].code, LG_EFUNDS, "a holds 3 after two commands: %s", res[2].message);
    /* same index again: skipped */
    cr_assert_eq(lg_fsm_apply(x.f, 1, buf.data, buf.len, &res, &n), LG_OK);
    cr_assert_eq(n, 0);
    cr_assert_eq(lg_fsm_last_seq(x.f), 2);
    /* garbage */
    static const uint8_t junk[] = {0xc1, 0x00, 0xff};
    cr_assert_eq(lg_fsm_apply(x.f, 2, junk, sizeof junk, &res, &n), LG_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(res[0].code, LG_EBADREQ);
    cr_assert_eq(lg_fsm_applied_index(x.f), 2);
    cr_assert_eq(lg_fsm_last_seq(x.f), 2);
    lg_buf_close(&buf);
    fx_fini(&x);
}

Test(fsm, restart_skips_applied_entries_and_keeps_state)
{
    struct fx x;
    fx_init(&x);
    for (int i = 0; i < 20; i++) {
        fx_send(&x, "world", i % 2 ? "a" : "b", 3, "USD");
    }
    fx_send(&x, "a", "z", 1000, "USD"); /* a rejection: index advances, no record */
    uint8_t before[LG_HASH_BYTES];
    digest(x.f, before);
    uint64_t applied = lg_fsm_applied_index(x.f);
    fx_reopen(&x);
    cr_assert_eq(lg_fsm_applied_index(x.f), applied);
    uint8_t after[LG_HASH_BYTES];
    digest(x.f, after);
    cr_assert_eq(memcmp(before, after, LG_HASH_BYTES), 0);
    struct lg_posting p = P("world", "a", 1, "USD");
    struct lg_cmd c;
    memset(&c, 0, sizeof c);
    c.kind = LG_CMD_SUBMIT;
    c.u.submit = (struct lg_cmd_submit){.ledger = S("main"), .postings = &p, .n_postings = 1};
    struct lg_batch b = {&c, 1};
    const struct lg_cmd_result *res;
    uint32_t n;
    for (uint64_t i = 1; i <= applied; i++) {
        cr_assert_eq(lg_fsm_apply_batch(x.f, i, &b, &res, &n), LG_OK);
        cr_assert_eq(n, 0);
    }
    cr_assert_eq(lg_fsm_last_seq(x.f), 20);
    fx_fini(&x);
}

/* Crash in the middle of an entry: the journal holds only the first records of the entry;
 * re-feeding the entry applies only what is missing. */
Test(fsm, entry_cut_by_a_crash_is_completed_once)
{
    struct fx x;
    fx_init(&x);
    fx_send(&x, "world", "a", 100, "USD");
    struct lg_posting p[4] = {P("a", "b", 10, "USD"), P("a", "c", 1000, "USD"),
                              P("a", "d", 20, "USD"), P("b", "e", 5, "USD")};
    struct lg_cmd cmds[4];
    memset(cmds, 0, sizeof cmds);
    for (int i = 0; i < 4; i++) {
        cmds[i].kind = LG_CMD_SUBMIT;
        cmds[i].timestamp_us = 500u + (uint64_t)i;
        cmds[i].u.submit = (struct lg_cmd_submit){.ledger = S("main"), .postings = &p[i],
                                                  .n_postings = 1};
    }
    struct lg_batch b = {cmds, 4};
    const struct lg_cmd_result *res;
    uint32_t n;
    cr_assert_eq(lg_fsm_apply_batch(x.f, 7, &b, &res, &n), LG_OK);
    cr_assert_eq(res[1].code, LG_EFUNDS);
    uint8_t full[LG_HASH_BYTES];
    digest(x.f, full);
    uint8_t head[LG_HASH_BYTES];
    lg_fsm_chain_head(x.f, head);
    /* A journal holding the first 3 records (seq 1..3: entry 7 cut after 2 of its 3). */
    struct lg_journal *src = lg_fsm_journal(x.f);
    cr_assert_eq(lg_journal_sync(src), LG_OK);
    char jdir2[LGT_PATH_MAX + 32];
    char sdir2[LGT_PATH_MAX + 32];
    snprintf(jdir2, sizeof jdir2, "%s/journal2", x.dir);
    snprintf(sdir2, sizeof sdir2, "%s/state2", x.dir);
    struct lg_journal_options jo = {.create = true};
    struct lg_journal *dst;
    cr_assert_eq(lg_journal_open(&dst, jdir2, &jo, NULL, NULL), LG_OK);
    for (uint64_t seq = 1; seq <= 3; seq++) {
        struct lg_journal_record jr;
        cr_assert_eq(lg_journal_read(src, seq, &jr), LG_OK);
        cr_assert_eq(lg_journal_append(dst, jr.body, jr.body_len, NULL, NULL), LG_OK);
    }
    cr_assert_eq(lg_journal_sync(dst), LG_OK);
    cr_assert_eq(lg_journal_close(dst), LG_OK);
    struct lg_fsm_options o = {.journal_dir = jdir2, .state_dir = sdir2, .create = true};
    struct lg_fsm *g;
    cr_assert_eq(lg_fsm_open(&g, &o, NULL), LG_OK);
    cr_assert_eq(lg_fsm_applied_index(g), 7);
    cr_assert_eq(lg_fsm_apply_batch(g, 7, &b, &res, &n), LG_OK);
    cr_assert_eq(n, 4);
    cr_assert_eq(res[0].code, LG_OK);
    cr_assert_eq(res[0].seq, 2);
    cr_assert_neq(res[1].code, LG_OK);
    cr_assert_eq(res[2].code, LG_OK);
    cr_assert_eq(res[2].seq, 3);
    cr_assert_eq(res[3].code, LG_OK);
    cr_assert_eq(res[3].seq, 4);
    uint8_t d2[LG_HASH_BYTES];
    digest(g, d2);
    cr_assert_eq(memcmp(full, d2, LG_HASH_BYTES), 0);
    uint8_t h2[LG_HASH_BYTES];
    lg_fsm_chain_head(g, h2);
    cr_assert_eq(memcmp(head, h2, LG_HASH_BYTES), 0);
    /* and once more: now a plain skip */
    cr_assert_eq(lg_fsm_apply_batch(g, 7, &b, &res, &n), LG_OK);
    cr_assert_eq(n, 0);
    cr_assert_eq(lg_fsm_close(g), LG_OK);
    fx_fini(&x);
}

/* A copy of x's journal holding its first n records (what a crash that cut the last entry
 * leaves behind), opened as a new FSM in <dir>/journal-<tag>, <dir>/state-<tag>. */
static struct lg_fsm *open_cut_copy(struct fx *x, uint64_t n, const char *tag)
{
    struct lg_journal *src = lg_fsm_journal(x->f);
    cr_assert_eq(lg_journal_sync(src), LG_OK);
    char jdir[LGT_PATH_MAX + 64];
    char sdir[LGT_PATH_MAX + 64];
    snprintf(jdir, sizeof jdir, "%s/journal-%s", x->dir, tag);
    snprintf(sdir, sizeof sdir, "%s/state-%s", x->dir, tag);
    struct lg_journal_options jo = {.create = true};
    struct lg_journal *dst;
    cr_assert_eq(lg_journal_open(&dst, jdir, &jo, NULL, NULL), LG_OK);
    for (uint64_t seq = 1; seq <= n; seq++) {
        struct lg_journal_record jr;
        cr_assert_eq(lg_journal_read(src, seq, &jr), LG_OK);
        cr_assert_eq(lg_journal_append(dst, jr.body, jr.body_len, NULL, NULL), LG_OK);
    }
    cr_assert_eq(lg_journal_sync(dst), LG_OK);
    cr_assert_eq(lg_journal_close(dst), LG_OK);
    struct lg_fsm_options o = {.journal_dir = jdir, .state_dir = sdir, .create = true};
    struct lg_fsm *g;
    char err[LG_ERRMSG_SIZE];
    cr_assert_eq(lg_fsm_open(&g, &o, err), LG_OK, "%s", err);
    return g;
}

static void submit_cmd(struct lg_cmd *c, uint64_t ts, const struct lg_posting *p,
                       const char *ref)
{
    memset(c, 0, sizeof *c);
    c->kind = LG_CMD_SUBMIT;
    c->timestamp_us = ts;
    c->u.submit.ledger = S("main");
    c->u.submit.postings = p;
    c->u.submit.n_postings = 1;
    if (ref != NULL) {
        c->u.submit.reference = (struct lg_str){ref, (uint32_t)strlen(ref)};
    }
}

static void assert_same_history(struct lg_fsm *a, struct lg_fsm *b)
{
    uint8_t ha[LG_HASH_BYTES];
    uint8_t hb[LG_HASH_BYTES];
    lg_fsm_chain_head(a, ha);
    lg_fsm_chain_head(b, hb);
    cr_assert_eq(memcmp(ha, hb, LG_HASH_BYTES), 0, "chain heads differ");
    cr_assert_eq(lg_fsm_last_seq(a), lg_fsm_last_seq(b));
    digest(a, ha);
    digest(b, hb);
    cr_assert_eq(memcmp(ha, hb, LG_HASH_BYTES), 0, "states differ");
}

/* The reviewer's case: equal timestamps, a rejected command (condition) between two
 * commands of identical content. Matching by content reported the rejected one as
 * committed and applied the last one a second time (b.input 10, last_seq 3). */
Test(fsm, refed_entry_matches_records_by_position_not_content)
{
    struct fx x;
    fx_init(&x);
    struct lg_posting p0 = P("world", "a", 10, "USD");
    struct lg_posting p1 = P("a", "b", 5, "USD");
    struct lg_condition cond = {.kind = LG_COND_VERSION, .account = S("a"), .version = 99};
    struct lg_cmd c[3];
    submit_cmd(&c[0], 500, &p0, NULL);
    submit_cmd(&c[1], 500, &p1, NULL);
    c[1].u.submit.conditions = &cond;
    c[1].u.submit.n_conditions = 1;
    submit_cmd(&c[2], 500, &p1, NULL);
    struct lg_batch b = {c, 3};
    const struct lg_cmd_result *r;
    uint32_t n;
    cr_assert_eq(lg_fsm_apply_batch(x.f, 1, &b, &r, &n), LG_OK);
    cr_assert_eq(r[0].code, LG_OK);
    cr_assert_eq(r[1].code, LG_ECONDITION);
    cr_assert_eq(r[2].code, LG_OK);
    lg_fsm_abandon(x.f); /* SIGKILL: no checkpoint */
    x.f = NULL;
    fx_open_dirs(&x, 0);
    cr_assert_eq(lg_fsm_applied_index(x.f), 1);
    cr_assert_eq(lg_fsm_apply_batch(x.f, 1, &b, &r, &n), LG_OK); /* libraft re-feeds */
    cr_assert_eq(n, 3);
    cr_assert_eq(r[0].code, LG_OK);
    cr_assert_eq(r[0].seq, 1);
    cr_assert_eq(r[1].code, LG_EUNAVAIL);
    cr_assert_str_eq(r[1].message,
                     "outcome decided before a restart; retry with the same reference");
    cr_assert_eq(r[2].code, LG_OK);
    cr_assert_eq(r[2].seq, 2);
    cr_assert_eq(r[2].tx_id, 1);
    cr_assert_eq(r[2].timestamp_us, 500);
    cr_assert_eq(fx_balance(&x, "main", "b", "USD"), 5);
    cr_assert_eq(lg_fsm_last_seq(x.f), 2);
    /* a later entry continues normally */
    struct lg_cmd_result later = fx_send(&x, "a", "b", 1, "USD");
    cr_assert_eq(later.code, LG_OK);
    cr_assert_eq(later.seq, 3);
    cr_assert_eq(later.tx_id, 2);
    cr_assert_eq(fx_balance(&x, "main", "b", "USD"), 6);
    cr_assert_eq(fx_balance(&x, "main", "a", "USD"), 4);
    fx_fini(&x);
}

/* A duplicate reference inside the cut entry, cut after its first record (the duplicate
 * is recomputed: it follows the last journaled pos) and not cut at all (the duplicate
 * precedes a journaled record: its first outcome cannot be recomputed). */
Test(fsm, refed_entry_with_a_duplicate_reference)
{
    struct fx x;
    fx_init(&x);
    cr_assert_eq(fx_send(&x, "world", "a", 100, "USD").code, LG_OK); /* seq 1, index 1 */
    struct lg_posting pb = P("a", "b", 5, "USD");
    struct lg_posting pc = P("a", "c", 5, "USD");
    struct lg_posting pb6 = P("a", "b", 6, "USD");
    struct lg_cmd c[4];
    submit_cmd(&c[0], 900, &pb, "R");
    submit_cmd(&c[1], 900, &pb, "R");  /* duplicate of c0 */
    submit_cmd(&c[2], 900, &pc, NULL); /* commits */
    submit_cmd(&c[3], 900, &pb6, "R"); /* conflict */
    struct lg_batch b = {c, 4};
    const struct lg_cmd_result *r;
    uint32_t n;
    cr_assert_eq(lg_fsm_apply_batch(x.f, 2, &b, &r, &n), LG_OK);
    cr_assert_eq(r[0].code, LG_OK);
    cr_assert(r[1].code == LG_OK && r[1].duplicate && r[1].seq == 2);
    cr_assert_eq(r[2].code, LG_OK);
    cr_assert_eq(r[2].seq, 3);
    cr_assert_eq(r[3].code, LG_ECONFLICT);
    /* cut after c0's record */
    struct lg_fsm *g = open_cut_copy(&x, 2, "cut");
    cr_assert_eq(lg_fsm_apply_batch(g, 2, &b, &r, &n), LG_OK);
    cr_assert_eq(n, 4);
    cr_assert(r[0].code == LG_OK && !r[0].duplicate && r[0].seq == 2);
    cr_assert(r[1].code == LG_OK && r[1].duplicate && r[1].seq == 2 && r[1].tx_id == 1);
    cr_assert(r[2].code == LG_OK && r[2].seq == 3 && r[2].tx_id == 2);
    cr_assert_eq(r[3].code, LG_ECONFLICT);
    assert_same_history(x.f, g);
    cr_assert_eq(lg_fsm_close(g), LG_OK);
    /* whole entry journaled */
    g = open_cut_copy(&x, 3, "full");
    cr_assert_eq(lg_fsm_apply_batch(g, 2, &b, &r, &n), LG_OK);
    cr_assert_eq(n, 4);
    cr_assert(r[0].code == LG_OK && r[0].seq == 2);
    cr_assert_eq(r[1].code, LG_EUNAVAIL);
    cr_assert(r[2].code == LG_OK && r[2].seq == 3 && r[2].tx_id == 2);
    cr_assert_eq(r[3].code, LG_ECONFLICT);
    assert_same_history(x.f, g);
    cr_assert_eq(lg_fsm_close(g), LG_OK);
    cr_assert_eq(fx_balance(&x, "main", "b", "USD"), 5);
    cr_assert_eq(fx_balance(&x, "main", "c", "USD"), 5);
    fx_fini(&x);
}

/* Three committing commands with equal timestamps, cut after the first: the other two
 * are applied exactly once and the chain equals that of the FSM that never crashed. */
Test(fsm, refed_entry_cut_after_its_first_record)
{
    struct fx x;
    fx_init(&x);
    cr_assert_eq(fx_send(&x, "world", "a", 100, "USD").code, LG_OK);
    struct lg_posting p[3] = {P("a", "b", 7, "USD"), P("a", "b", 7, "USD"),
                              P("b", "c", 7, "USD")};
    struct lg_cmd c[3];
    for (int i = 0; i < 3; i++) {
        submit_cmd(&c[i], 800, &p[i], NULL);
    }
    struct lg_batch b = {c, 3};
    const struct lg_cmd_result *r;
    uint32_t n;
    cr_assert_eq(lg_fsm_apply_batch(x.f, 2, &b, &r, &n), LG_OK);
    struct lg_cmd_result orig[3];
    memcpy(orig, r, sizeof orig);
    struct lg_fsm *g = open_cut_copy(&x, 2, "one");
    cr_assert_eq(lg_fsm_last_seq(g), 2);
    cr_assert_eq(lg_fsm_apply_batch(g, 2, &b, &r, &n), LG_OK);
    cr_assert_eq(n, 3);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(r[i].code, LG_OK, "%d", i);
        cr_assert_eq(r[i].seq, orig[i].seq, "%d", i);
        cr_assert_eq(r[i].tx_id, orig[i].tx_id, "%d", i);
        cr_assert_eq(memcmp(r[i].hash, orig[i].hash, LG_HASH_BYTES), 0, "%d", i);
    }
    assert_same_history(x.f, g);
    cr_assert_eq(lg_fsm_apply_batch(g, 2, &b, &r, &n), LG_OK);
    cr_assert_eq(n, 0, "a second re-feed is a plain skip");
    cr_assert_eq(lg_fsm_close(g), LG_OK);
    fx_fini(&x);
}

/* The decode budget is a function of the entry: an FSM that first decoded a big entry
 * (its arena kept those chunks) gives the same results and journal for a following
 * ~58 MiB-to-decode entry as a fresh FSM. Before, the chunks kept from the first entry
 * counted against the budget and only the first FSM rejected it as too large. */
static void encode_rejected_batch(uint32_t n_cmds, struct lg_buf *out)
{
    static struct lg_posting p[1000];
    for (int i = 0; i < 1000; i++) {
        p[i] = P("a", "b", 1, "USD"); /* a has nothing: every command is LG_EFUNDS */
    }
    struct lg_cmd *c = calloc(n_cmds, sizeof *c);
    cr_assert_not_null(c);
    for (uint32_t i = 0; i < n_cmds; i++) {
        c[i].kind = LG_CMD_SUBMIT;
        c[i].timestamp_us = 1000;
        c[i].u.submit = (struct lg_cmd_submit){.ledger = S("main"), .postings = p,
                                               .n_postings = 1000};
    }
    struct lg_batch b = {c, n_cmds};
    char err[LG_ERRMSG_SIZE];
    lg_buf_reset(out);
    cr_assert_eq(lg_cmd_encode_batch(&b, out, err), LG_OK, "%s", err);
    free(c);
}

Test(fsm, too_large_does_not_depend_on_earlier_entries)
{
    struct fx a;
    struct fx b;
    fx_init(&a);
    fx_init(&b);
    struct lg_buf big;
    lg_buf_init(&big);
    const struct lg_cmd_result *r;
    uint32_t n;
    encode_rejected_batch(200, &big);
    cr_assert_eq(lg_fsm_apply(a.f, 1, big.data, big.len, &r, &n), LG_OK);
    cr_assert_eq(n, 200);
    cr_assert_eq(r[0].code, LG_EFUNDS);
    encode_rejected_batch(900, &big);
    uint32_t codes[2][900];
    struct fx *both[2] = {&a, &b};
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(lg_fsm_apply(both[k]->f, 2, big.data, big.len, &r, &n), LG_OK);
        cr_assert_eq(n, 900, "fsm %d: %u results, first %s: %s", k, n, lg_err_name(r[0].code),
                     r[0].message);
        for (uint32_t i = 0; i < n; i++) {
            codes[k][i] = (uint32_t)r[i].code;
        }
        both[k]->index = 2;
    }
    cr_assert_eq(memcmp(codes[0], codes[1], sizeof codes[0]), 0);
    lg_buf_close(&big);
    for (int i = 0; i < 5; i++) {
        struct lg_cmd_result ra = fx_send(&a, "world", "a", 10, "USD");
        struct lg_cmd_result rb = fx_send(&b, "world", "a", 10, "USD");
        cr_assert(ra.code == LG_OK && rb.code == LG_OK);
        cr_assert_eq(memcmp(ra.hash, rb.hash, LG_HASH_BYTES), 0);
    }
    assert_same_history(a.f, b.f);
    cr_assert_eq(lg_fsm_close(a.f), LG_OK);
    cr_assert_eq(lg_fsm_close(b.f), LG_OK);
    a.f = NULL;
    b.f = NULL;
    char cmd[3 * LGT_PATH_MAX];
    snprintf(cmd, sizeof cmd, "diff -r %s %s >/dev/null", a.jdir, b.jdir);
    cr_assert_eq(system(cmd), 0, "journal directories differ");
    fx_fini(&a);
    fx_fini(&b);
}

/* ---- queries ---- */

static void fill_history(struct fx *x)
{
    /* tx i: world -> users:<i%5>:main, amount i+1; plus transfers */
    for (int i = 0; i < 30; i++) {
        char addr[32];
        snprintf(addr, sizeof addr, "users:%d:main", i % 5);
        cr_assert_eq(fx_send(x, "world", addr, (lg_u128)(i + 1), "USD").code, LG_OK);
    }
    cr_assert_eq(fx_send(x, "users:1:main", "users:2:savings", 5, "USD").code, LG_OK);
    cr_assert_eq(fx_send(x, "world", "users:3:main", 7, "EUR").code, LG_OK);
}

Test(fsm, get_tx_returns_the_record)
{
    struct fx x;
    fx_init(&x);
    fill_history(&x);
    struct lg_fsm_tx t;
    cr_assert_eq(lg_fsm_get_tx(x.f, S("main"), 30, &x.arena, &t), LG_OK);
    cr_assert_eq(t.rec.tx_id, 30);
    cr_assert_eq(t.rec.n_postings, 1);
    cr_assert_eq(t.rec.postings[0].amount, 5);
    cr_assert_eq(t.rec.n_volumes, 2);
    cr_assert_eq(t.rec.volumes[0].account.len, strlen("users:1:main"));
    cr_assert_eq(lg_fsm_get_tx(x.f, S("main"), 32, &x.arena, &t), LG_ENOTFOUND);
    cr_assert_eq(lg_fsm_get_tx(x.f, S("nope"), 0, &x.arena, &t), LG_ENOTFOUND);
    fx_fini(&x);
}

static void list_all(struct fx *x, struct lg_fsm_tx_query *q, uint64_t *out, uint32_t *n_out)
{
    uint64_t page[LG_PAGE_LIMIT_MAX];
    *n_out = 0;
    q->cursor = 0;
    for (int guard = 0; guard < 1000; guard++) {
        uint32_t n;
        uint64_t next;
        cr_assert_eq(lg_fsm_list_txs(x->f, q, page, &n, &next), LG_OK);
        cr_assert_leq(n, q->limit == 0 ? LG_PAGE_LIMIT_DEFAULT : q->limit);
        memcpy(out + *n_out, page, n * sizeof page[0]);
        *n_out += n;
        if (next == 0) {
            return;
        }
        q->cursor = next;
    }
    cr_assert_fail("pagination does not end");
}

Test(fsm, list_txs_pages_both_orders_account_and_time)
{
    struct fx x;
    fx_init(&x);
    fill_history(&x);
    uint64_t ids[64];
    uint32_t n;
    struct lg_fsm_tx_query q = {.ledger = S("main"), .limit = 7};
    list_all(&x, &q, ids, &n);
    cr_assert_eq(n, 32);
    for (uint32_t i = 0; i < n; i++) {
        cr_assert_eq(ids[i], i);
    }
    q.order = LG_FSM_DESC;
    list_all(&x, &q, ids, &n);
    cr_assert_eq(n, 32);
    for (uint32_t i = 0; i < n; i++) {
        cr_assert_eq(ids[i], 31 - i);
    }
    /* account users:1:main: txs 1, 6, 11, 16, 21, 26 and 30 */
    q = (struct lg_fsm_tx_query){.ledger = S("main"), .account = S("users:1:main"), .limit = 3};
    list_all(&x, &q, ids, &n);
    cr_assert_eq(n, 7);
    cr_assert_eq(ids[0], 1);
    cr_assert_eq(ids[5], 26);
    cr_assert_eq(ids[6], 30);
    q.order = LG_FSM_DESC;
    list_all(&x, &q, ids, &n);
    cr_assert_eq(n, 7);
    cr_assert_eq(ids[0], 30);
    cr_assert_eq(ids[6], 1);
    /* time range: tx i has timestamp i + 1 (one command per entry, ts from 1) */
    struct lg_fsm_tx t;
    cr_assert_eq(lg_fsm_get_tx(x.f, S("main"), 10, &x.arena, &t), LG_OK);
    uint64_t t10 = t.rec.timestamp_us;
    q = (struct lg_fsm_tx_query){.ledger = S("main"), .has_from = true, .from_ts = t10,
                                 .has_to = true, .to_ts = t10 + 5, .limit = 2};
    list_all(&x, &q, ids, &n);
    cr_assert_eq(n, 5);
    cr_assert_eq(ids[0], 10);
    cr_assert_eq(ids[4], 14);
    q.account = S("users:1:main");
    list_all(&x, &q, ids, &n);
    cr_assert_eq(n, 1);
    cr_assert_eq(ids[0], 11);
    q.order = LG_FSM_DESC;
    q.account = (struct lg_str){NULL, 0};
    list_all(&x, &q, ids, &n);
    cr_assert_eq(n, 5);
    cr_assert_eq(ids[0], 14);
    q.limit = LG_PAGE_LIMIT_MAX + 1;
    uint64_t next;
    cr_assert_eq(lg_fsm_list_txs(x.f, &q, ids, &n, &next), LG_EBADREQ);
    fx_fini(&x);
}

Test(fsm, balances_patterns_prefix_totals_and_pages)
{
    struct fx x;
    fx_init(&x);
    fill_history(&x);
    struct lg_fsm_balances b;
    struct lg_fsm_balances_query q = {.ledger = S("main"), .match = LG_FSM_MATCH_PATTERN,
                                      .address = S("users:*:main"), .totals = true};
    cr_assert_eq(lg_fsm_balances(x.f, &q, &x.arena, &b), LG_OK);
    cr_assert_eq(b.n_accounts, 5);
    cr_assert_eq(b.n_rows, 6); /* users:3:main holds EUR too */
    cr_assert_eq(b.rows[0].address.len, strlen("users:0:main"));
    cr_assert_eq(memcmp(b.rows[0].address.ptr, "users:0:main", 12), 0);
    /* users:0:main got 1+6+11+16+21+26 = 81 */
    cr_assert(b.rows[0].balance == 81);
    cr_assert_eq(memcmp(b.rows[3].asset.ptr, "EUR", 3), 0, "asset order within an account");
    cr_assert_eq(b.n_totals, 2);
    cr_assert_eq(memcmp(b.totals[0].asset.ptr, "EUR", 3), 0);
    cr_assert(b.totals[0].total == 7);
    cr_assert(b.totals[1].total == 465 - 5);
    cr_assert_eq(b.next_cursor.len, 0);
    /* pages of 2 accounts, totals over everything each time */
    q.limit = 2;
    q.asset = S("USD");
    char cursor[LG_ADDRESS_BYTES_MAX];
    uint32_t seen = 0;
    for (int page = 0; page < 10; page++) {
        lg_arena_reset(&x.arena);
        cr_assert_eq(lg_fsm_balances(x.f, &q, &x.arena, &b), LG_OK);
        seen += b.n_accounts;
        cr_assert_eq(b.n_totals, 1);
        cr_assert(b.totals[0].total == 460);
        if (b.next_cursor.len == 0) {
            break;
        }
        memcpy(cursor, b.next_cursor.ptr, b.next_cursor.len);
        q.cursor = (struct lg_str){cursor, b.next_cursor.len};
    }
    cr_assert_eq(seen, 5);
    /* prefix */
    q = (struct lg_fsm_balances_query){.ledger = S("main"), .match = LG_FSM_MATCH_PREFIX,
                                       .address = S("users:2:"), .totals = true};
    cr_assert_eq(lg_fsm_balances(x.f, &q, &x.arena, &b), LG_OK);
    cr_assert_eq(b.n_accounts, 2);
    cr_assert(b.totals[0].total == 3 + 8 + 13 + 18 + 23 + 28 + 5);
    /* exact */
    q = (struct lg_fsm_balances_query){.ledger = S("main"), .match = LG_FSM_MATCH_EXACT,
                                       .address = S("world"), .totals = true};
    cr_assert_eq(lg_fsm_balances(x.f, &q, &x.arena, &b), LG_OK);
    cr_assert_eq(b.n_accounts, 1);
    cr_assert_eq(b.n_rows, 2);
    /* the whole ledger sums to zero per asset */
    q = (struct lg_fsm_balances_query){.ledger = S("main"), .match = LG_FSM_MATCH_PREFIX,
                                       .address = S(""), .totals = true};
    cr_assert_eq(lg_fsm_balances(x.f, &q, &x.arena, &b), LG_OK);
    for (uint32_t i = 0; i < b.n_totals; i++) {
        cr_assert(b.totals[i].total == 0);
    }
    q.match = LG_FSM_MATCH_PATTERN;
    q.address = S("users:**");
    cr_assert_eq(lg_fsm_balances(x.f, &q, &x.arena, &b), LG_EBADREQ);
    fx_fini(&x);
}

Test(fsm, balance_as_of_tx_and_time)
{
    struct fx x;
    fx_init(&x);
    fill_history(&x);
    lg_u128 in;
    lg_u128 out;
    /* users:1:main after tx 6: 2 + 7 */
    cr_assert_eq(lg_fsm_balance_at(x.f, S("main"), S("users:1:main"), S("USD"), false, 6, &in,
                                   &out), LG_OK);
    cr_assert(in == 9 && out == 0);
    cr_assert_eq(lg_fsm_balance_at(x.f, S("main"), S("users:1:main"), S("USD"), false, 8, &in,
                                   &out), LG_OK);
    cr_assert(in == 9 && out == 0);
    cr_assert_eq(lg_fsm_balance_at(x.f, S("main"), S("users:1:main"), S("USD"), false, 0, &in,
                                   &out), LG_OK);
    cr_assert(in == 0 && out == 0);
    cr_assert_eq(lg_fsm_balance_at(x.f, S("main"), S("users:1:main"), S("USD"), false, 31, &in,
                                   &out), LG_OK);
    cr_assert(in == 2 + 7 + 12 + 17 + 22 + 27 && out == 5);
    /* users:3:main in USD as of tx 31 (an EUR transaction): skips back to tx 28 */
    cr_assert_eq(lg_fsm_balance_at(x.f, S("main"), S("users:3:main"), S("USD"), false, 31, &in,
                                   &out), LG_OK);
    cr_assert(in == 4 + 9 + 14 + 19 + 24 + 29);
    struct lg_fsm_tx t;
    cr_assert_eq(lg_fsm_get_tx(x.f, S("main"), 6, &x.arena, &t), LG_OK);
    cr_assert_eq(lg_fsm_balance_at(x.f, S("main"), S("users:1:main"), S("USD"), true,
                                   t.rec.timestamp_us, &in, &out), LG_OK);
    cr_assert(in == 9);
    cr_assert_eq(lg_fsm_balance_at(x.f, S("main"), S("users:1:main"), S("USD"), true, 0, &in,
                                   &out), LG_OK);
    cr_assert(in == 0);
    cr_assert_eq(lg_fsm_balance_at(x.f, S("main"), S("users:1:main"), S("USD"), false, 99, &in,
                                   &out), LG_ENOTFOUND);
    fx_fini(&x);
}

/* ---- persistence ---- */

static size_t count_checkpoints(const char *dir)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        n += strncmp(e->d_name, "checkpoint-", 11) == 0 ? 1u : 0u;
    }
    closedir(d);
    return n;
}

Test(fsm, checkpoint_then_replay_gives_the_same_state)
{
    struct fx x;
    fx_init(&x);
    fill_history(&x);
    cr_assert_eq(lg_fsm_checkpoint(x.f), LG_OK);
    fx_send(&x, "users:0:main", "users:4:main", 1, "USD");
    cr_assert_eq(lg_fsm_checkpoint(x.f), LG_OK);
    fx_send(&x, "users:0:main", "users:4:main", 1, "USD");
    cr_assert_eq(lg_fsm_checkpoint(x.f), LG_OK);
    cr_assert_eq(count_checkpoints(x.sdir), 2);
    fx_send(&x, "users:0:main", "users:4:main", 1, "USD");
    uint8_t before[LG_HASH_BYTES];
    digest(x.f, before);
    uint64_t applied = lg_fsm_applied_index(x.f);
    lg_fsm_abandon(x.f); /* no checkpoint at close: replay from the last one */
    x.f = NULL;
    fx_open_dirs(&x, 0);
    uint8_t after[LG_HASH_BYTES];
    digest(x.f, after);
    cr_assert_eq(memcmp(before, after, LG_HASH_BYTES), 0);
    cr_assert_eq(lg_fsm_applied_index(x.f), applied);
    /* queries backed by the rebuilt indexes */
    uint64_t ids[64];
    uint32_t n;
    struct lg_fsm_tx_query q = {.ledger = S("main"), .account = S("users:4:main"),
                                .limit = 100};
    list_all(&x, &q, ids, &n);
    cr_assert_eq(n, 9);
    /* full replay with no checkpoint at all */
    cr_assert_eq(lg_fsm_close(x.f), LG_OK);
    x.f = NULL;
    lgt_rmtree(x.sdir);
    fx_open_dirs(&x, 0);
    digest(x.f, after);
    cr_assert_eq(memcmp(before, after, LG_HASH_BYTES), 0);
    fx_fini(&x);
}

Test(fsm, corrupted_checkpoint_falls_back)
{
    struct fx x;
    fx_init(&x);
    fill_history(&x);
    cr_assert_eq(lg_fsm_checkpoint(x.f), LG_OK);
    fx_send(&x, "world", "late", 1, "USD");
    uint8_t before[LG_HASH_BYTES];
    digest(x.f, before);
    cr_assert_eq(lg_fsm_close(x.f), LG_OK); /* writes the newest checkpoint */
    x.f = NULL;
    char path[LGT_PATH_MAX + 320];
    snprintf(path, sizeof path, "%s/checkpoint-%020llu.ckpt", x.sdir, 33ull);
    cr_assert_eq(lgt_file_size(path) > 100, true);
    lgt_flip_bit(path, 100, 3);
    fx_open_dirs(&x, 0);
    uint8_t after[LG_HASH_BYTES];
    digest(x.f, after);
    cr_assert_eq(memcmp(before, after, LG_HASH_BYTES), 0);
    cr_assert_eq(lg_fsm_close(x.f), LG_OK);
    x.f = NULL;
    /* both damaged: full replay */
    DIR *d = opendir(x.sdir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "checkpoint-", 11) == 0) {
            snprintf(path, sizeof path, "%s/%s", x.sdir, e->d_name);
            lgt_truncate(path, 20);
        }
    }
    closedir(d);
    fx_open_dirs(&x, 0);
    digest(x.f, after);
    cr_assert_eq(memcmp(before, after, LG_HASH_BYTES), 0);
    fx_fini(&x);
}

/* Open removes checkpoint-*.ckpt.tmp files a crash left behind (and nothing else), and
 * skips a checkpoint larger than 4 GiB (a sparse file here) for the next one without
 * reading it. */
Test(fsm, open_removes_stale_tmp_and_skips_oversized_checkpoints)
{
    struct fx x;
    fx_init(&x);
    fill_history(&x);
    uint8_t before[LG_HASH_BYTES];
    digest(x.f, before);
    uint64_t last = lg_fsm_last_seq(x.f);
    cr_assert_eq(lg_fsm_close(x.f), LG_OK);
    x.f = NULL;
    char tmp[LGT_PATH_MAX + 320];
    char keep[LGT_PATH_MAX + 320];
    char huge[LGT_PATH_MAX + 320];
    snprintf(tmp, sizeof tmp, "%s/checkpoint-%020llu.ckpt.tmp", x.sdir,
             (unsigned long long)last + 5u);
    snprintf(keep, sizeof keep, "%s/notes.tmp", x.sdir);
    snprintf(huge, sizeof huge, "%s/checkpoint-%020llu.ckpt", x.sdir,
             (unsigned long long)last);
    FILE *fp = fopen(tmp, "w");
    cr_assert_not_null(fp);
    fputs("half a checkpoint", fp);
    fclose(fp);
    fp = fopen(keep, "w");
    cr_assert_not_null(fp);
    fclose(fp);
    /* the newest checkpoint becomes 4 GiB + 1 byte (sparse): skipped, the older one and
     * the journal rebuild the same state */
    cr_assert_eq(truncate(huge, (off_t)4 * 1024 * 1024 * 1024 + 1), 0);
    fx_open_dirs(&x, 0);
    uint8_t after[LG_HASH_BYTES];
    digest(x.f, after);
    cr_assert_eq(memcmp(before, after, LG_HASH_BYTES), 0);
    cr_assert_eq(access(tmp, F_OK), -1, "stale tmp checkpoint not removed");
    cr_assert_eq(access(keep, F_OK), 0, "an unrelated file was removed");
    fx_fini(&x);
}

Test(fsm, checkpoint_from_another_history_is_corruption)
{
    struct fx a;
    struct fx b;
    fx_init(&a);
    fx_init(&b);
    fx_send(&a, "world", "x", 1, "USD");
    fx_send(&b, "world", "x", 2, "USD");
    cr_assert_eq(lg_fsm_checkpoint(a.f), LG_OK);
    cr_assert_eq(lg_fsm_close(b.f), LG_OK);
    b.f = NULL;
    lgt_rmtree(b.sdir);
    char cmd[3 * LGT_PATH_MAX];
    snprintf(cmd, sizeof cmd, "cp -r %s %s", a.sdir, b.sdir);
    cr_assert_eq(system(cmd), 0);
    struct lg_fsm_options o = {.journal_dir = b.jdir, .state_dir = b.sdir};
    char err[LG_ERRMSG_SIZE];
    struct lg_fsm *g;
    cr_assert_eq(lg_fsm_open(&g, &o, err), LG_ECORRUPT);
    cr_assert_null(g);
    fx_fini(&a);
    fx_fini(&b);
}

/* A checkpoint is written only after a journal fsync and never with a journal gap, so a
 * journal that ends before its checkpoint lost durable records: open must refuse. */
Test(fsm, journal_shorter_than_its_checkpoint_is_corruption)
{
    struct fx a;
    fx_init(&a);
    fx_send(&a, "world", "x", 1, "USD");
    cr_assert_eq(lg_fsm_checkpoint(a.f), LG_OK); /* syncs the journal: seq 1 is durable */
    char early[2 * LGT_PATH_MAX];
    snprintf(early, sizeof early, "%s/journal-early", a.dir);
    char cmd[8 * LGT_PATH_MAX];
    snprintf(cmd, sizeof cmd, "cp -r %s %s", a.jdir, early);
    cr_assert_eq(system(cmd), 0);
    fx_send(&a, "world", "x", 2, "USD");
    fx_send(&a, "world", "x", 3, "USD");
    cr_assert_eq(lg_fsm_close(a.f), LG_OK); /* checkpoint at seq 3 */
    a.f = NULL;
    snprintf(cmd, sizeof cmd, "chmod -R u+w %s && rm -rf %s && mv %s %s", a.jdir, a.jdir,
             early, a.jdir);
    cr_assert_eq(system(cmd), 0);
    struct lg_fsm_options o = {.journal_dir = a.jdir, .state_dir = a.sdir};
    char err[LG_ERRMSG_SIZE];
    struct lg_fsm *g;
    cr_assert_eq(lg_fsm_open(&g, &o, err), LG_ECORRUPT, "%s", err);
    cr_assert_null(g);
    cr_assert_not_null(strstr(err, "durable records are missing"), "%s", err);
    fx_fini(&a);
}

Test(fsm, automatic_checkpoints)
{
    struct fx x;
    fx_init(&x);
    cr_assert_eq(lg_fsm_close(x.f), LG_OK);
    x.f = NULL;
    lgt_rmtree(x.sdir);
    fx_open_dirs(&x, 10);
    for (int i = 0; i < 25; i++) {
        fx_send(&x, "world", "a", 1, "USD");
    }
    cr_assert_eq(count_checkpoints(x.sdir), 2);
    fx_fini(&x);
}

static void feed_same(struct fx *x, uint64_t seed)
{
    struct lgt_rng rng;
    lgt_rng_init(&rng, seed);
    static const char *const assets[] = {"USD/2", "EUR", "BTC/8"};
    for (int i = 0; i < 300; i++) {
        char a[32];
        char b[32];
        snprintf(a, sizeof a, "acc:%u", (unsigned)lgt_rng_below(&rng, 20));
        snprintf(b, sizeof b, "acc:%u", (unsigned)lgt_rng_below(&rng, 20));
        const char *src = lgt_rng_below(&rng, 3) == 0 ? "world" : a;
        if (strcmp(src, b) == 0) {
            continue;
        }
        fx_send(x, src, b, 1 + lgt_rng_below(&rng, 100), assets[lgt_rng_below(&rng, 3)]);
    }
}

Test(fsm, two_fsms_same_entries_identical_journals)
{
    struct fx a;
    struct fx b;
    fx_init(&a);
    fx_init(&b);
    uint64_t seed = lgt_seed();
    feed_same(&a, seed);
    feed_same(&b, seed);
    uint8_t ha[LG_HASH_BYTES];
    uint8_t hb[LG_HASH_BYTES];
    lg_fsm_chain_head(a.f, ha);
    lg_fsm_chain_head(b.f, hb);
    cr_assert_eq(memcmp(ha, hb, LG_HASH_BYTES), 0);
    struct lg_buf sa;
    struct lg_buf sb;
    lg_buf_init(&sa);
    lg_buf_init(&sb);
    cr_assert_eq(lg_fsm_snapshot(a.f, &sa), LG_OK);
    cr_assert_eq(lg_fsm_snapshot(b.f, &sb), LG_OK);
    cr_assert_eq(sa.len, sb.len);
    cr_assert_eq(memcmp(sa.data, sb.data, sa.len), 0);
    lg_buf_close(&sa);
    lg_buf_close(&sb);
    cr_assert_eq(lg_fsm_close(a.f), LG_OK);
    cr_assert_eq(lg_fsm_close(b.f), LG_OK);
    a.f = NULL;
    b.f = NULL;
    char cmd[3 * LGT_PATH_MAX];
    snprintf(cmd, sizeof cmd, "diff -r %s %s >/dev/null", a.jdir, b.jdir);
    cr_assert_eq(system(cmd), 0, "journal directories differ");
    snprintf(cmd, sizeof cmd, "diff -r %s %s >/dev/null", a.sdir, b.sdir);
    cr_assert_eq(system(cmd), 0, "checkpoints differ");
    fx_fini(&a);
    fx_fini(&b);
}

Test(fsm, snapshot_restore_with_gap_fill_answers_identically)
{
    struct fx a;
    struct fx b;
    fx_init(&a);
    fx_init(&b);
    fill_history(&a);
    struct lg_posting p = P("world", "users:9:main", 3, "USD");
    fx_submit(&a, "main", &p, 1, "ref-9");
    struct lg_buf snap;
    lg_buf_init(&snap);
    cr_assert_eq(lg_fsm_snapshot(a.f, &snap), LG_OK);
    cr_assert_eq(lg_fsm_restore(b.f, snap.data, snap.len), LG_OK);
    cr_assert_eq(lg_fsm_journal_gap(b.f), lg_fsm_last_seq(a.f));
    uint8_t da[LG_HASH_BYTES];
    uint8_t db[LG_HASH_BYTES];
    digest(a.f, da);
    digest(b.f, db);
    cr_assert_eq(memcmp(da, db, LG_HASH_BYTES), 0);
    cr_assert_eq(lg_fsm_applied_index(b.f), lg_fsm_applied_index(a.f));
    /* state queries work at once; history waits for the gap */
    cr_assert(fx_balance(&b, "main", "users:0:main", "USD") == 81);
    struct lg_fsm_tx t;
    cr_assert_eq(lg_fsm_get_tx(b.f, S("main"), 3, &b.arena, &t), LG_EUNAVAIL);
    const struct lg_cmd_result *res;
    uint32_t n;
    struct lg_cmd c;
    memset(&c, 0, sizeof c);
    struct lg_batch batch = {&c, 1};
    cr_assert_eq(lg_fsm_apply_batch(b.f, 1000, &batch, &res, &n), LG_EUNAVAIL);
    /* duplicate detection survives the transfer */
    struct lg_journal *ja = lg_fsm_journal(a.f);
    for (uint64_t seq = 1; seq <= lg_fsm_last_seq(a.f); seq++) {
        struct lg_journal_record jr;
        cr_assert_eq(lg_journal_read(ja, seq, &jr), LG_OK);
        cr_assert_eq(lg_fsm_gap_append(b.f, jr.body, jr.body_len), LG_OK);
    }
    cr_assert_eq(lg_fsm_journal_gap(b.f), 0);
    /* every query answers the same */
    for (uint64_t id = 0; id < 33; id++) {
        struct lg_fsm_tx ta;
        struct lg_fsm_tx tb;
        cr_assert_eq(lg_fsm_get_tx(a.f, S("main"), id, &a.arena, &ta), LG_OK);
        cr_assert_eq(lg_fsm_get_tx(b.f, S("main"), id, &b.arena, &tb), LG_OK);
        cr_assert_eq(memcmp(ta.hash, tb.hash, LG_HASH_BYTES), 0);
    }
    static const char *const accts[] = {"users:0:main", "users:1:main", "users:2:savings",
                                        "users:9:main", "world"};
    for (size_t i = 0; i < 5; i++) {
        struct lg_str addr = {accts[i], (uint32_t)strlen(accts[i])};
        struct lg_fsm_tx_query q = {.ledger = S("main"), .account = addr, .limit = 1000,
                                    .order = LG_FSM_DESC};
        uint64_t ia[64];
        uint64_t ib[64];
        uint32_t na;
        uint32_t nb;
        list_all(&a, &q, ia, &na);
        list_all(&b, &q, ib, &nb);
        cr_assert_eq(na, nb);
        cr_assert_eq(memcmp(ia, ib, na * sizeof ia[0]), 0);
        lg_u128 in_a;
        lg_u128 out_a;
        lg_u128 in_b;
        lg_u128 out_b;
        cr_assert_eq(lg_fsm_balance_at(a.f, S("main"), addr, S("USD"), false, 20, &in_a,
                                       &out_a), LG_OK);
        cr_assert_eq(lg_fsm_balance_at(b.f, S("main"), addr, S("USD"), false, 20, &in_b,
                                       &out_b), LG_OK);
        cr_assert(in_a == in_b && out_a == out_b);
    }
    b.index = lg_fsm_applied_index(b.f);
    b.ts = lg_fsm_last_timestamp(b.f);
    struct lg_cmd_result r = fx_submit(&b, "main", &p, 1, "ref-9");
    cr_assert(r.duplicate);
    cr_assert_eq(r.tx_id, 32);
    lg_buf_close(&snap);
    fx_fini(&a);
    fx_fini(&b);
}

Test(fsm, restore_of_an_older_snapshot_keeps_the_newer_state)
{
    struct fx x;
    fx_init(&x);
    fill_history(&x);
    struct lg_buf snap;
    lg_buf_init(&snap);
    cr_assert_eq(lg_fsm_snapshot(x.f, &snap), LG_OK);
    fx_send(&x, "world", "later", 1, "USD");
    uint8_t before[LG_HASH_BYTES];
    digest(x.f, before);
    cr_assert_eq(lg_fsm_restore(x.f, snap.data, snap.len), LG_OK);
    uint8_t after[LG_HASH_BYTES];
    digest(x.f, after);
    cr_assert_eq(memcmp(before, after, LG_HASH_BYTES), 0);
    lg_buf_close(&snap);
    fx_fini(&x);
}

/* Snapshot mutations with the trailing hash recomputed (SHA-256 of zeros || bytes, as
 * fsm/snap.c computes it), so the structural checks (names, orders, counts, bounds) are
 * reached, not only the hash check. Every copy is restored into an FSM with an empty
 * journal (so a valid-looking snapshot is installed, not compared with a journal): a
 * rejection must leave its state digest unchanged; an accepted snapshot must be
 * self-consistent: re-snapshotting it gives the same bytes, and restoring those into
 * another fresh FSM gives the same state digest. Plus raw garbage and truncations
 * against the FSM holding the history (hash check). */
static struct lg_fsm *open_fresh(struct fx *x, int k)
{
    char jdir[LGT_PATH_MAX + 64];
    char sdir[LGT_PATH_MAX + 64];
    snprintf(jdir, sizeof jdir, "%s/fresh-journal-%d", x->dir, k);
    snprintf(sdir, sizeof sdir, "%s/fresh-state-%d", x->dir, k);
    struct lg_fsm_options o = {.journal_dir = jdir, .state_dir = sdir, .create = true};
    struct lg_fsm *g;
    char err[LG_ERRMSG_SIZE];
    cr_assert_eq(lg_fsm_open(&g, &o, err), LG_OK, "%s", err);
    return g;
}

static void rehash(uint8_t *snap, size_t len)
{
    static const uint8_t zero[LG_HASH_BYTES];
    lg_journal_chain_hash(zero, snap, len - LG_HASH_BYTES, snap + len - LG_HASH_BYTES);
}

Test(fsm, restore_rejects_garbage_without_changing_state)
{
    struct fx x;
    fx_init(&x);
    fill_history(&x);
    struct lg_kv kv = {S("k"), S("v")};
    struct lg_cmd m;
    memset(&m, 0, sizeof m);
    m.kind = LG_CMD_SET_METADATA;
    m.u.set_metadata = (struct lg_cmd_set_metadata){S("main"), S("users:1"), &kv, 1};
    cr_assert_eq(fx_cmd(&x, &m).code, LG_OK);
    memset(&m, 0, sizeof m);
    m.kind = LG_CMD_SET_LIMIT;
    m.u.set_limit = (struct lg_cmd_set_limit){S("main"), S("users:1"), S("EUR"), 5, false};
    cr_assert_eq(fx_cmd(&x, &m).code, LG_OK);
    struct lg_posting rp = P("world", "users:2", 3, "USD");
    cr_assert_eq(fx_submit(&x, "main", &rp, 1, "ref-1").code, LG_OK);
    struct lg_buf snap;
    lg_buf_init(&snap);
    cr_assert_eq(lg_fsm_snapshot(x.f, &snap), LG_OK);
    uint8_t before[LG_HASH_BYTES];
    digest(x.f, before);
    struct lgt_rng rng;
    lgt_rng_init(&rng, lgt_seed());
    uint8_t *copy = malloc(snap.len);
    cr_assert_not_null(copy);
    int fresh_n = 0;
    struct lg_fsm *g = open_fresh(&x, fresh_n++);
    uint8_t empty[LG_HASH_BYTES];
    digest(g, empty);
    int accepted = 0;
    int structural = 0;
    for (int i = 0; i < 1500; i++) {
        memcpy(copy, snap.data, snap.len);
        size_t len = snap.len;
        uint32_t k = 1u + (uint32_t)lgt_rng_below(&rng, 3);
        for (uint32_t j = 0; j < k; j++) {
            size_t at = 8u + lgt_rng_below(&rng, len - 8u - LG_HASH_BYTES);
            switch (lgt_rng_below(&rng, 3)) {
            case 0:
                copy[at] ^= (uint8_t)(1u << lgt_rng_below(&rng, 8));
                break;
            case 1:
                copy[at] = (uint8_t)lgt_rng_next(&rng);
                break;
            default:
                copy[at] = lgt_rng_below(&rng, 3) != 0 ? 0xff : 0;
                break;
            }
        }
        if (lgt_rng_below(&rng, 8) == 0) {
            len = LG_HASH_BYTES + 8u + lgt_rng_below(&rng, len - LG_HASH_BYTES - 8u);
        }
        rehash(copy, len);
        int rc = lg_fsm_restore(g, copy, len);
        if (rc != LG_OK) {
            cr_assert_eq(rc, LG_ECORRUPT, "case %d: %s", i, lg_err_name(rc));
            cr_assert(strstr(lg_fsm_errmsg(g), "hash mismatch") == NULL, "case %d: %s", i,
                      lg_fsm_errmsg(g));
            structural++;
            uint8_t d[LG_HASH_BYTES];
            digest(g, d);
            cr_assert_eq(memcmp(d, empty, LG_HASH_BYTES), 0, "case %d changed the state", i);
            continue;
        }
        accepted++;
        uint8_t d1[LG_HASH_BYTES];
        digest(g, d1);
        struct lg_buf again;
        lg_buf_init(&again);
        cr_assert_eq(lg_fsm_snapshot(g, &again), LG_OK);
        cr_assert_eq(again.len, len, "case %d", i);
        cr_assert_eq(memcmp(again.data, copy, len), 0, "case %d: not canonical", i);
        struct lg_fsm *h = open_fresh(&x, fresh_n++);
        cr_assert_eq(lg_fsm_restore(h, again.data, again.len), LG_OK, "case %d", i);
        uint8_t d2[LG_HASH_BYTES];
        digest(h, d2);
        cr_assert_eq(memcmp(d1, d2, LG_HASH_BYTES), 0, "case %d", i);
        lg_buf_close(&again);
        lg_fsm_abandon(h);
        lg_fsm_abandon(g);
        g = open_fresh(&x, fresh_n++);
    }
    cr_assert_gt(structural, 0);
    lg_fsm_abandon(g);
    /* Garbage without a valid hash, against the FSM with the history. */
    for (int i = 0; i < 60; i++) {
        memcpy(copy, snap.data, snap.len);
        size_t len = snap.len;
        switch (i % 3) {
        case 0:
            copy[lgt_rng_below(&rng, len)] ^= (uint8_t)(1u + lgt_rng_below(&rng, 255));
            break;
        case 1:
            len = lgt_rng_below(&rng, len);
            break;
        default:
            for (size_t k = 0; k < len; k++) {
                copy[k] = (uint8_t)lgt_rng_next(&rng);
            }
            break;
        }
        cr_assert_eq(lg_fsm_restore(x.f, copy, len), LG_ECORRUPT, "case %d", i);
    }
    free(copy);
    cr_assert_eq(lg_fsm_restore(x.f, NULL, 0), LG_ECORRUPT);
    uint8_t after[LG_HASH_BYTES];
    digest(x.f, after);
    cr_assert_eq(memcmp(before, after, LG_HASH_BYTES), 0);
    lg_buf_close(&snap);
    fx_fini(&x);
}

/* ---- snapshots as parts (lg_fsm_snapshot_parts): the reference index borrowed ---- */

/* Submit n transfers world -> refs:<i % 7> in one entry, each with reference
 * "<tag>-<first + i, 8 digits>". */
static void fx_referenced(struct fx *x, const char *ledger, const char *tag, uint32_t first,
                          uint32_t n)
{
    enum { MAX = 4096 };
    static struct lg_cmd cmds[MAX];
    static struct lg_posting ps[MAX];
    static char refs[MAX][32];
    static char addrs[MAX][16];
    for (uint32_t done = 0; done < n;) {
        uint32_t k = n - done < MAX ? n - done : MAX;
        for (uint32_t i = 0; i < k; i++) {
            snprintf(refs[i], sizeof refs[i], "%s-%08u", tag, first + done + i);
            snprintf(addrs[i], sizeof addrs[i], "refs:%u", (first + done + i) % 7u);
            ps[i] = P("world", addrs[i], 1, "USD");
            memset(&cmds[i], 0, sizeof cmds[i]);
            cmds[i].kind = LG_CMD_SUBMIT;
            cmds[i].timestamp_us = ++x->ts;
            cmds[i].u.submit.ledger = (struct lg_str){ledger, (uint32_t)strlen(ledger)};
            cmds[i].u.submit.postings = &ps[i];
            cmds[i].u.submit.n_postings = 1;
            cmds[i].u.submit.reference = (struct lg_str){refs[i], (uint32_t)strlen(refs[i])};
        }
        struct lg_batch b = {cmds, k};
        const struct lg_cmd_result *res;
        uint32_t got;
        cr_assert_eq(lg_fsm_apply_batch(x->f, ++x->index, &b, &res, &got), LG_OK);
        cr_assert_eq(got, k);
        for (uint32_t i = 0; i < k; i++) {
            cr_assert_eq(res[i].code, LG_OK, "%s: %s", refs[i], lg_err_name(res[i].code));
            cr_assert(!res[i].duplicate);
        }
        done += k;
    }
}

/* The parts' bytes, concatenated (sealed first). */
static void parts_concat(struct lg_fsm_snap *p, struct lg_buf *out)
{
    lg_fsm_snap_seal(p);
    lg_buf_reset(out);
    size_t sum = 0;
    for (size_t i = 0; i < p->n_parts; i++) {
        cr_assert(p->parts[i].len > 0, "part %zu is empty", i);
        cr_assert(lg_buf_append(out, p->parts[i].base, p->parts[i].len));
        sum += p->parts[i].len;
    }
    cr_assert_eq(sum, p->bytes);
}

/* Bytes of parts outside the snapshot's own head buffer (borrowed from the state). */
static size_t parts_borrowed(const struct lg_fsm_snap *p)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n_parts; i++) {
        const uint8_t *b = p->parts[i].base;
        bool own = (b >= p->head.data && b < p->head.data + p->head.len) || b == p->hash;
        n += own ? 0u : p->parts[i].len;
    }
    return n;
}

/* 80 000 references of 17 bytes (58-byte entries) fill the chunks of 4 KiB to 2 MiB and
 * part of a 4 MiB one. */
#define MANY_REFS 80000u

Test(fsm, snapshot_parts_are_the_snapshot_and_stay_so_while_apply_goes_on, .timeout = 60)
{
    struct fx x;
    fx_init(&x);
    fill_history(&x);
    fx_referenced(&x, "main", "main-ref", 0, MANY_REFS);
    fx_referenced(&x, "other", "other-ref", 0, 100);
    struct lg_buf whole;
    lg_buf_init(&whole);
    cr_assert_eq(lg_fsm_snapshot(x.f, &whole), LG_OK);
    uint8_t state[LG_HASH_BYTES];
    digest(x.f, state);

    struct lg_fsm_snap p;
    lg_fsm_snap_init(&p);
    cr_assert_eq(lg_fsm_snapshot_parts(x.f, &p), LG_OK);
    cr_assert_eq(p.bytes, whole.len);
    /* main: head, chunks of 4 KiB doubling to 4 MiB (11 for 4.64 MB); other: head, 2 chunks
     * (5.9 KB; its references end the bytes); the hash */
    cr_assert_eq(p.n_parts, 16, "%zu parts", p.n_parts);
    cr_assert_geq(parts_borrowed(&p), (size_t)MANY_REFS * 58u, "borrowed %zu of %zu",
                  parts_borrowed(&p), p.bytes);
    /* Apply goes on while the snapshot is held and not yet sealed: new references land
     * in the same chunks (and a new one); the held parts do not change. */
    fx_referenced(&x, "main", "late-ref", 0, 40000);
    fx_referenced(&x, "other", "late-ref", 0, 10);
    struct lg_buf cat;
    lg_buf_init(&cat);
    parts_concat(&p, &cat);
    cr_assert_eq(cat.len, whole.len);
    cr_assert_eq(memcmp(cat.data, whole.data, whole.len), 0, "parts differ from the snapshot");
    lg_fsm_snap_release(&p);

    /* The struct is reusable: a second snapshot covers the later references too. */
    cr_assert_eq(lg_fsm_snapshot_parts(x.f, &p), LG_OK);
    struct lg_buf whole2;
    lg_buf_init(&whole2);
    cr_assert_eq(lg_fsm_snapshot(x.f, &whole2), LG_OK);
    parts_concat(&p, &cat);
    cr_assert_eq(cat.len, whole2.len);
    cr_assert_eq(memcmp(cat.data, whole2.data, whole2.len), 0);
    lg_fsm_snap_release(&p);

    /* The first parts' bytes restore the state they were taken from. */
    struct fx y;
    fx_init(&y);
    cr_assert_eq(lg_fsm_restore(y.f, whole.data, whole.len), LG_OK);
    uint8_t restored[LG_HASH_BYTES];
    digest(y.f, restored);
    cr_assert_eq(memcmp(state, restored, LG_HASH_BYTES), 0);
    struct lg_fsm_tx t;
    cr_assert_eq(lg_fsm_get_tx_by_ref(y.f, S("main"), S("main-ref-00079999"), &y.arena, &t),
                 LG_EUNAVAIL, "the reference is known, its record is in the gap");
    cr_assert_eq(lg_fsm_get_tx_by_ref(y.f, S("main"), S("late-ref-00000000"), &y.arena, &t),
                 LG_ENOTFOUND);

    lg_fsm_snap_close(&p);
    lg_buf_close(&cat);
    lg_buf_close(&whole);
    lg_buf_close(&whole2);
    fx_fini(&y);
    fx_fini(&x);
}

/* A restore that replaces the state while a snapshot is held (libraft never does this,
 * the FSM does not rely on it): the held parts keep reading the replaced state's bytes
 * (ASan: no use after free), which are freed at the release (LeakSanitizer: no leak). */
Test(fsm, a_restore_while_a_snapshot_is_held_keeps_the_borrowed_bytes, .timeout = 60)
{
    struct fx a;
    struct fx x;
    fx_init(&a);
    fx_init(&x);
    fill_history(&a);
    fx_referenced(&a, "main", "a-ref", 0, 5000);
    struct lg_buf ahead;
    lg_buf_init(&ahead);
    cr_assert_eq(lg_fsm_snapshot(a.f, &ahead), LG_OK);

    fx_referenced(&x, "main", "x-ref", 0, 3000);
    struct lg_buf whole;
    lg_buf_init(&whole);
    cr_assert_eq(lg_fsm_snapshot(x.f, &whole), LG_OK);
    struct lg_fsm_snap p;
    lg_fsm_snap_init(&p);
    cr_assert_eq(lg_fsm_snapshot_parts(x.f, &p), LG_OK);
    cr_assert_eq(lg_fsm_restore(x.f, ahead.data, ahead.len), LG_OK);
    uint8_t da[LG_HASH_BYTES];
    uint8_t dx[LG_HASH_BYTES];
    digest(a.f, da);
    digest(x.f, dx);
    cr_assert_eq(memcmp(da, dx, LG_HASH_BYTES), 0, "the restore did not take");
    struct lg_buf cat;
    lg_buf_init(&cat);
    parts_concat(&p, &cat);
    cr_assert_eq(cat.len, whole.len);
    cr_assert_eq(memcmp(cat.data, whole.data, whole.len), 0);
    lg_fsm_snap_close(&p);
    lg_buf_close(&cat);
    lg_buf_close(&whole);
    lg_buf_close(&ahead);
    fx_fini(&x);
    fx_fini(&a);
}

/* Ledgers are created by any submit: one with a single reference costs its reference's
 * bytes, not a 4 MiB chunk (the first chunk is 4 KiB). Heap use is read with mallinfo2
 * (a sanitizer's allocator may report nothing: then this checks nothing more). A ledger
 * costs ~120 KB anyway today (its first account chunk: 1024 accounts), hence the bound. */
Test(fsm, a_ledger_with_one_reference_costs_little_memory, .timeout = 60)
{
    struct fx x;
    fx_init(&x);
    fill_history(&x);
    struct mallinfo2 before = mallinfo2();
    for (int i = 0; i < 200; i++) {
        char ledger[32];
        snprintf(ledger, sizeof ledger, "customer-%03d", i);
        fx_referenced(&x, ledger, "r", (uint32_t)i, 1);
    }
    struct mallinfo2 after = mallinfo2();
    /* heap and mmap'd blocks (a 4 MiB block is mmap'd with malloc's default threshold) */
    size_t was = before.uordblks + before.hblkhd;
    size_t now = after.uordblks + after.hblkhd;
    size_t grown = now > was ? now - was : 0;
    cr_assert_lt(grown, 200u * 512u * 1024u, "200 ledgers with one reference each: %zu bytes",
                 grown);
    fx_fini(&x);
}
