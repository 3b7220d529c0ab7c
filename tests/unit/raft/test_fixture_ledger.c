/* test_fixture_ledger: the ledger state machine replicated by libraft's in-memory fixture.
 *
 * Goal: the Raft side's core rules hold without processes: every replica that applied the
 * same entries has the same chain head and state digest (3 and 5 servers); entries are
 * padded to 8 bytes and odd-length payloads round-trip; a malformed entry is a rejection
 * on every replica and never stalls; a follower that missed compacted entries catches up
 * through InstallSnapshot + restore (+ journal gap fill); a partitioned leader's write and
 * its retry under the same reference commit exactly once; a journal write error calls
 * the fatal hook (default: exit LG_RAFT_EXIT_FATAL); the leader queue batches requests into
 * one entry per flush, hands out no timestamp before its post-election barrier applied,
 * stamps max(last_ts + 1, now), and answers not_leader / unavailable on leadership loss.
 * Method: raft_fixture (zeroed, c-raft §13) with one lg_fsm per server in its own temp
 * dir behind lg_raft_fsm; seeded random batches (LG_TEST_SEED replays a run); every
 * stepping loop bounded by simulated time. */
#include <criterion/criterion.h>
#include <raft.h>
#include <raft/fixture.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "fsm_adapter.h"
#include "lgt.h"
#include "queue.h"

#define S(lit) ((struct lg_str){(lit), (uint32_t)(sizeof(lit) - 1u)})
#define N_USERS 40u
#define PER_ENTRY 16u
#define STEP_MS 20000u

static const char *const assets[] = {"USD/2", "EUR/2"};

/* Names shared by all generated commands (views into these stay valid). */
static char user_addr[N_USERS][24];
static char ref_names[4096][16];

static struct lg_str str_of(const char *s)
{
    return (struct lg_str){s, (uint32_t)strlen(s)};
}

static void names_init(void)
{
    for (unsigned i = 0; i < N_USERS; i++) {
        snprintf(user_addr[i], sizeof user_addr[i], "users:%u", i);
    }
    for (unsigned i = 0; i < 4096; i++) {
        snprintf(ref_names[i], sizeof ref_names[i], "ref-%u", i);
    }
}

/* ---- the cluster ---- */

struct cluster {
    struct raft_fixture f;
    unsigned n;
    char dir[RAFT_FIXTURE_MAX_SERVERS][LGT_PATH_MAX];
    struct lg_fsm *fsm[RAFT_FIXTURE_MAX_SERVERS];
    struct lg_raft_fsm ad[RAFT_FIXTURE_MAX_SERVERS];
    unsigned gap_fills; /* records appended by the gap hook */
};

static struct lg_fsm *open_fsm(const char *dir)
{
    char j[LGT_PATH_MAX + 16];
    char s[LGT_PATH_MAX + 16];
    snprintf(j, sizeof j, "%s/journal", dir);
    snprintf(s, sizeof s, "%s/state", dir);
    struct lg_fsm_options o = {.journal_dir = j, .state_dir = s, .create = true};
    struct lg_fsm *f = NULL;
    char err[LG_ERRMSG_SIZE];
    int rc = lg_fsm_open(&f, &o, err);
    cr_assert_eq(rc, LG_OK, "lg_fsm_open: %s", err);
    return f;
}

/* The gap hook: what the node will do over the network, done here from the FSM of the
 * replica with the longest journal (the records are byte-identical on every replica). */
static void gap_fill(void *arg, struct lg_fsm *fsm)
{
    struct cluster *c = arg;
    struct lg_journal *dst = lg_fsm_journal(fsm);
    uint64_t from = lg_journal_last_seq(dst) + 1u;
    uint64_t to = lg_fsm_last_seq(fsm);
    struct lg_fsm *src = NULL;
    for (unsigned i = 0; i < c->n; i++) {
        if (c->fsm[i] != fsm && lg_journal_last_seq(lg_fsm_journal(c->fsm[i])) >= to) {
            src = c->fsm[i];
        }
    }
    cr_assert_not_null(src, "no replica holds seqs %llu..%llu", (unsigned long long)from,
                       (unsigned long long)to);
    struct lg_journal *sj = lg_fsm_journal(src);
    cr_assert_eq(lg_journal_sync(sj), LG_OK);
    struct lg_journal_iter it;
    cr_assert_eq(lg_journal_iter_init(&it, sj, from, to), LG_OK);
    struct lg_journal_record rec;
    int got;
    while ((got = lg_journal_iter_next(&it, &rec)) == 1) {
        int rc = lg_fsm_gap_append(fsm, rec.body, rec.body_len);
        cr_assert_eq(rc, LG_OK, "gap_append seq %llu: %s", (unsigned long long)rec.seq,
                     lg_fsm_errmsg(fsm));
        c->gap_fills++;
    }
    cr_assert_eq(got, 0);
    cr_assert_eq(lg_fsm_journal_gap(fsm), 0);
}

static struct cluster *cluster_start(unsigned n, unsigned threshold, unsigned trailing)
{
    struct cluster *c = calloc(1, sizeof *c); /* zeroed: 0.15.0 does not reset f.n */
    cr_assert_not_null(c);
    c->n = n;
    cr_assert_eq(raft_fixture_initialize(&c->f), 0);
    for (unsigned i = 0; i < n; i++) {
        lgt_tmpdir(c->dir[i]);
        c->fsm[i] = open_fsm(c->dir[i]);
        lg_raft_fsm_init(&c->ad[i], c->fsm[i]);
        lg_raft_fsm_set_gap(&c->ad[i], gap_fill, c);
        cr_assert_eq(raft_fixture_grow(&c->f, &c->ad[i].fsm), 0);
        /* After grow: the fixture's raft_io has version 0, which raft_init refuses with a
         * snapshot_async (c-raft §13); its async_work runs the job at the next step. */
        lg_raft_fsm_set_async(&c->ad[i]);
        struct raft *r = raft_fixture_get(&c->f, i);
        lg_raft_fsm_attach(&c->ad[i], r);
        raft_set_pre_vote(r, true); /* as the node will run (c-raft §11) */
        if (threshold > 0) {
            raft_set_snapshot_threshold(r, threshold);
            raft_set_snapshot_trailing(r, trailing);
        }
    }
    struct raft_configuration conf;
    cr_assert_eq(raft_fixture_configuration(&c->f, n, &conf), 0);
    cr_assert_eq(raft_fixture_bootstrap(&c->f, &conf), 0);
    raft_configuration_close(&conf);
    cr_assert_eq(raft_fixture_start(&c->f), 0);
    cr_assert(raft_fixture_step_until_has_leader(&c->f, STEP_MS));
    return c;
}

/* After raft_fixture_close: the adapters, FSMs and directories. */
static void cluster_free(struct cluster *c)
{
    for (unsigned i = 0; i < c->n; i++) {
        lg_raft_fsm_close(&c->ad[i]);
        cr_assert_eq(lg_fsm_close(c->fsm[i]), LG_OK);
        lgt_rmtree(c->dir[i]);
    }
    free(c);
}

static void cluster_stop(struct cluster *c)
{
    raft_fixture_close(&c->f);
    cluster_free(c);
}

/* The current leader, stepping (bounded) until there is one. */
static unsigned leader_of(struct cluster *c)
{
    if (raft_fixture_leader_index(&c->f) >= c->n) {
        raft_fixture_step_until_has_leader(&c->f, STEP_MS);
    }
    unsigned l = raft_fixture_leader_index(&c->f);
    cr_assert_lt(l, c->n, "no leader");
    return l;
}

/* ---- proposals ---- */

struct proposal {
    struct raft_apply req;
    bool done;
    int status;
    uint64_t index;
    uint32_t n_results;
    bool malformed;
    struct lg_cmd_result results[PER_ENTRY];
};

static void proposal_cb(struct raft_apply *req, int status, void *result)
{
    struct proposal *p = req->data;
    p->done = true;
    p->status = status;
    if (status == 0) {
        const struct lg_raft_result *r = result;
        cr_assert_not_null(r);
        p->index = r->index;
        p->malformed = r->malformed;
        p->n_results = r->n_results;
        cr_assert_leq(r->n_results, PER_ENTRY);
        memcpy(p->results, r->results, r->n_results * sizeof r->results[0]);
    }
}

/* raft_apply one buffer (taken: raft owns it on success, freed here on failure). */
static int propose_buffer(struct cluster *c, unsigned server, struct raft_buffer buf,
                          struct proposal *p)
{
    memset(p, 0, sizeof *p);
    p->req.data = p;
    int rv = raft_apply(raft_fixture_get(&c->f, server), &p->req, &buf, 1, proposal_cb);
    if (rv != 0) {
        raft_free(buf.base);
    }
    return rv;
}

static int propose(struct cluster *c, unsigned server, const struct lg_batch *b,
                   struct proposal *p)
{
    struct raft_buffer buf;
    char err[LG_ERRMSG_SIZE];
    int rc = lg_raft_entry_encode(b, &buf, err);
    cr_assert_eq(rc, LG_OK, "encode: %s", err);
    cr_assert_eq(buf.len % 8u, 0, "entry of %zu bytes is not padded", buf.len);
    return propose_buffer(c, server, buf, p);
}

struct wait_done {
    struct proposal *p;
    unsigned n;
};

static bool all_done(struct raft_fixture *f, void *arg)
{
    (void)f;
    struct wait_done *w = arg;
    for (unsigned i = 0; i < w->n; i++) {
        if (!w->p[i].done) {
            return false;
        }
    }
    return true;
}

/* ---- workload ---- */

/* One batch's storage: commands and their postings (views into static names). */
struct gen_batch {
    struct lg_cmd cmds[PER_ENTRY];
    struct lg_posting postings[PER_ENTRY][2];
    uint32_t n;
};

struct gen {
    struct lgt_rng rng;
    uint64_t ts;
    uint32_t next_ref;
    struct lg_cmd last_ref_cmd;       /* a committed-or-not referenced command to retry */
    struct lg_posting last_ref_posting[2];
    bool has_last_ref;
};

static void gen_batch(struct gen *g, struct gen_batch *b, bool funding)
{
    memset(b, 0, sizeof *b);
    b->n = 1u + (uint32_t)lgt_rng_below(&g->rng, PER_ENTRY);
    for (uint32_t c = 0; c < b->n; c++) {
        struct lg_cmd *cmd = &b->cmds[c];
        cmd->kind = LG_CMD_SUBMIT;
        cmd->timestamp_us = ++g->ts;
        if (g->has_last_ref && lgt_rng_below(&g->rng, 8) == 0) {
            /* a client retrying an earlier request: same content, same reference */
            *cmd = g->last_ref_cmd;
            memcpy(b->postings[c], g->last_ref_posting, sizeof b->postings[c]);
            cmd->u.submit.postings = b->postings[c];
            cmd->timestamp_us = g->ts;
            continue;
        }
        struct lg_cmd_submit *s = &cmd->u.submit;
        s->ledger = S("bank");
        s->postings = b->postings[c];
        s->n_postings = 1u + (uint32_t)lgt_rng_below(&g->rng, 2);
        for (uint32_t p = 0; p < s->n_postings; p++) {
            uint64_t src = lgt_rng_below(&g->rng, N_USERS);
            uint64_t dst = lgt_rng_below(&g->rng, N_USERS);
            if (dst == src) {
                dst = (src + 1u) % N_USERS;
            }
            const char *asset = assets[lgt_rng_below(&g->rng, 2)];
            bool fund = funding || lgt_rng_below(&g->rng, 6) == 0;
            b->postings[c][p] = (struct lg_posting){
                fund ? S("world") : str_of(user_addr[src]), str_of(user_addr[dst]),
                1u + lgt_rng_below(&g->rng, fund ? 10000u : 3000u), str_of(asset)};
        }
        if (lgt_rng_below(&g->rng, 4) == 0 && g->next_ref < 4096u) {
            s->reference = str_of(ref_names[g->next_ref++]);
            g->last_ref_cmd = *cmd;
            memcpy(g->last_ref_posting, b->postings[c], sizeof g->last_ref_posting);
            g->has_last_ref = true;
        }
    }
}

/* ---- checks ---- */

static void check_sums_zero(struct lg_fsm *f)
{
    struct lg_arena arena;
    lg_arena_init(&arena, 64u * 1024u * 1024u);
    struct lg_fsm_balances b;
    struct lg_fsm_balances_query q = {.ledger = S("bank"), .match = LG_FSM_MATCH_PREFIX,
                                      .address = S(""), .totals = true,
                                      .limit = LG_PAGE_LIMIT_MAX};
    cr_assert_eq(lg_fsm_balances(f, &q, &arena, &b), LG_OK);
    cr_assert_gt(b.n_totals, 0);
    for (uint32_t i = 0; i < b.n_totals; i++) {
        cr_assert(b.totals[i].total == 0, "asset %.*s does not sum to 0",
                  (int)b.totals[i].asset.len, b.totals[i].asset.ptr);
    }
    for (uint32_t i = 0; i < b.n_rows; i++) {
        bool world = b.rows[i].address.len == 5 && memcmp(b.rows[i].address.ptr, "world", 5) == 0;
        cr_assert(world || b.rows[i].balance >= 0, "%.*s is overdrawn",
                  (int)b.rows[i].address.len, b.rows[i].address.ptr);
    }
    lg_arena_close(&arena);
}

/* Every replica in [0, n) except skip has the same chain head, digest and last seq as
 * replica 0 (or the first not skipped). */
static void check_identical(struct cluster *c)
{
    uint8_t h0[LG_HASH_BYTES];
    uint8_t d0[LG_HASH_BYTES];
    lg_fsm_chain_head(c->fsm[0], h0);
    cr_assert_eq(lg_fsm_state_digest(c->fsm[0], d0), LG_OK);
    for (unsigned i = 1; i < c->n; i++) {
        uint8_t h[LG_HASH_BYTES];
        uint8_t d[LG_HASH_BYTES];
        lg_fsm_chain_head(c->fsm[i], h);
        cr_assert_eq(lg_fsm_state_digest(c->fsm[i], d), LG_OK);
        cr_assert_eq(memcmp(h0, h, LG_HASH_BYTES), 0, "replica %u: chain head differs", i);
        cr_assert_eq(memcmp(d0, d, LG_HASH_BYTES), 0, "replica %u: state differs", i);
        cr_assert_eq(lg_fsm_last_seq(c->fsm[0]), lg_fsm_last_seq(c->fsm[i]));
        cr_assert_eq(lg_journal_last_seq(lg_fsm_journal(c->fsm[i])), lg_fsm_last_seq(c->fsm[i]),
                     "replica %u: journal and state disagree", i);
    }
}

/* Propose n_entries random batches to the leader, at most `inflight` at a time, and
 * check every result. Returns the index of the last entry. */
static uint64_t run_stream(struct cluster *c, struct gen *g, unsigned n_entries,
                           unsigned inflight, uint32_t *committed, uint32_t *funds,
                           uint32_t *dups)
{
    struct proposal *p = calloc(inflight, sizeof *p);
    struct gen_batch *b = calloc(1, sizeof *b);
    cr_assert(p != NULL && b != NULL);
    uint64_t last = 0;
    for (unsigned done = 0; done < n_entries; done += inflight) {
        unsigned k = n_entries - done < inflight ? n_entries - done : inflight;
        unsigned leader = leader_of(c);
        uint32_t n_cmds[64];
        cr_assert_leq(k, 64);
        for (unsigned i = 0; i < k; i++) {
            gen_batch(g, b, done == 0 && i == 0);
            n_cmds[i] = b->n;
            struct lg_batch lb = {b->cmds, b->n};
            cr_assert_eq(propose(c, leader, &lb, &p[i]), 0);
        }
        struct wait_done w = {p, k};
        cr_assert(raft_fixture_step_until(&c->f, all_done, &w, STEP_MS));
        for (unsigned i = 0; i < k; i++) {
            cr_assert_eq(p[i].status, 0, "apply status %d", p[i].status);
            cr_assert_eq(p[i].n_results, n_cmds[i]);
            cr_assert_eq(p[i].index, p[i].req.index);
            last = p[i].index > last ? p[i].index : last;
            for (uint32_t r = 0; r < p[i].n_results; r++) {
                const struct lg_cmd_result *res = &p[i].results[r];
                cr_assert(res->code == LG_OK || res->code == LG_EFUNDS,
                          "%s: %s", lg_err_name(res->code), res->message);
                *committed += res->code == LG_OK && !res->duplicate;
                *funds += res->code == LG_EFUNDS;
                *dups += res->duplicate;
            }
        }
    }
    free(b);
    free(p);
    return last;
}

static void stream_case(unsigned n_servers)
{
    names_init();
    uint64_t seed = lgt_seed();
    struct gen g = {.ts = 1000};
    lgt_rng_init(&g.rng, seed);
    struct cluster *c = cluster_start(n_servers, 0, 0);
    uint32_t committed = 0;
    uint32_t funds = 0;
    uint32_t dups = 0;
    uint64_t last = run_stream(c, &g, 200, 8, &committed, &funds, &dups);
    cr_assert(raft_fixture_step_until_applied(&c->f, c->n, (raft_index)last, STEP_MS));
    for (unsigned i = 0; i < c->n; i++) {
        cr_assert_eq(lg_fsm_applied_index(c->fsm[i]), last);
        check_sums_zero(c->fsm[i]);
    }
    check_identical(c);
    cr_assert_gt(committed, 100);
    cr_assert_gt(funds, 0, "the workload must over-spend sometimes");
    cr_assert_gt(dups, 0, "the workload must retry references sometimes");
    fprintf(stderr, "stream %u servers: %u committed, %u funds, %u duplicates, index %llu\n",
            n_servers, committed, funds, dups, (unsigned long long)last);
    cluster_stop(c);
}

Test(raft_fixture, stream_identical_heads_3, .timeout = 120)
{
    stream_case(3);
}

Test(raft_fixture, stream_identical_heads_5, .timeout = 120)
{
    stream_case(5);
}

/* ---- (b) padding ---- */

Test(raft_entry, wrap_pads_and_round_trips)
{
    uint8_t payload[64];
    for (unsigned i = 0; i < sizeof payload; i++) {
        payload[i] = (uint8_t)(0xA5u ^ i);
    }
    for (size_t len = 0; len <= sizeof payload; len++) {
        struct raft_buffer buf;
        cr_assert_eq(lg_raft_entry_wrap(payload, len, &buf), LG_OK);
        cr_assert_eq(buf.len % 8u, 0);
        cr_assert_geq(buf.len, len + 8u);
        cr_assert_lt(buf.len, len + 16u);
        const void *out;
        size_t out_len;
        char err[LG_ERRMSG_SIZE];
        cr_assert_eq(lg_raft_entry_decode(buf.base, buf.len, &out, &out_len, err), LG_OK, "%s",
                     err);
        cr_assert_eq(out_len, len);
        cr_assert_eq(memcmp(out, payload, len), 0);
        raft_free(buf.base);
    }
}

Test(raft_entry, decode_rejects_bad_envelopes)
{
    uint8_t payload[13] = "thirteen-byte";
    struct raft_buffer buf;
    cr_assert_eq(lg_raft_entry_wrap(payload, sizeof payload, &buf), LG_OK);
    cr_assert_eq(buf.len, 24u);
    uint8_t *p = buf.base;
    const void *out;
    size_t out_len;
    char err[LG_ERRMSG_SIZE];
    /* odd length, short, truncated to a multiple of 8 */
    cr_assert_eq(lg_raft_entry_decode(p, 23, &out, &out_len, err), LG_EBADREQ);
    cr_assert_eq(lg_raft_entry_decode(p, 7, &out, &out_len, err), LG_EBADREQ);
    cr_assert_eq(lg_raft_entry_decode(p, 16, &out, &out_len, err), LG_EBADREQ);
    cr_assert_eq(lg_raft_entry_decode(NULL, 0, &out, &out_len, err), LG_EBADREQ);
    /* each header byte and the padding */
    const size_t probes[] = {0, 1, 2, 3, 4, 7, 21, 23};
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        uint8_t saved = p[probes[i]];
        p[probes[i]] ^= 0x40u;
        cr_assert_eq(lg_raft_entry_decode(p, buf.len, &out, &out_len, err), LG_EBADREQ,
                     "byte %zu", probes[i]);
        p[probes[i]] = saved;
    }
    cr_assert_eq(lg_raft_entry_decode(p, buf.len, &out, &out_len, err), LG_OK);
    raft_free(buf.base);
    cr_assert_eq(lg_raft_entry_wrap(payload, (size_t)LG_RAFT_ENTRY_PAYLOAD_MAX + 1u, &buf),
                 LG_ETOOLARGE);
}

/* Batches whose canonical encoding has every length mod 8 go through the fixture: each
 * raft_apply buffer is padded and each commits with the expected result. */
Test(raft_fixture, odd_length_batches_are_padded, .timeout = 60)
{
    names_init();
    struct cluster *c = cluster_start(3, 0, 0);
    char refs[16][48];
    bool residues[8] = {false};
    uint64_t last = 0;
    for (unsigned k = 0; k < 16; k++) {
        /* a reference of k+1 characters moves the payload length one byte at a time */
        memset(refs[k], 'r', k + 1u);
        refs[k][k + 1u] = '\0';
        struct lg_posting post = {S("world"), str_of(user_addr[k]), 100u + k, S("USD/2")};
        struct lg_cmd cmd = {.kind = LG_CMD_SUBMIT, .timestamp_us = 10u + k};
        cmd.u.submit = (struct lg_cmd_submit){.ledger = S("bank"), .postings = &post,
                                              .n_postings = 1, .reference = str_of(refs[k])};
        struct lg_batch b = {&cmd, 1};
        struct lg_buf plain;
        lg_buf_init(&plain);
        cr_assert_eq(lg_cmd_encode_batch(&b, &plain, NULL), LG_OK);
        residues[plain.len % 8u] = true;
        struct raft_buffer buf;
        cr_assert_eq(lg_raft_entry_encode(&b, &buf, NULL), LG_OK);
        cr_assert_eq(buf.len % 8u, 0);
        const void *out;
        size_t out_len;
        cr_assert_eq(lg_raft_entry_decode(buf.base, buf.len, &out, &out_len, NULL), LG_OK);
        cr_assert_eq(out_len, plain.len);
        cr_assert_eq(memcmp(out, plain.data, plain.len), 0);
        lg_buf_close(&plain);
        struct proposal p;
        cr_assert_eq(propose_buffer(c, leader_of(c), buf, &p), 0);
        struct wait_done w = {&p, 1};
        cr_assert(raft_fixture_step_until(&c->f, all_done, &w, STEP_MS));
        cr_assert_eq(p.status, 0);
        cr_assert_eq(p.n_results, 1);
        cr_assert_eq(p.results[0].code, LG_OK, "%s", p.results[0].message);
        last = p.index;
    }
    for (unsigned r = 0; r < 8; r++) {
        cr_assert(residues[r], "no payload of length %u mod 8 was tried", r);
    }
    cr_assert(raft_fixture_step_until_applied(&c->f, c->n, (raft_index)last, STEP_MS));
    check_identical(c);
    cluster_stop(c);
}

/* ---- (e) malformed entries ---- */

Test(raft_fixture, malformed_entry_is_a_rejection_everywhere, .timeout = 60)
{
    names_init();
    struct cluster *c = cluster_start(3, 0, 0);
    unsigned leader = leader_of(c);
    /* garbage of odd length, garbage padded to 8, a valid envelope around garbage */
    struct raft_buffer bufs[3];
    bufs[0].len = 13;
    bufs[0].base = raft_malloc(bufs[0].len);
    memset(bufs[0].base, 0xEE, bufs[0].len);
    bufs[1].len = 24;
    bufs[1].base = raft_malloc(bufs[1].len);
    memset(bufs[1].base, 0x5A, bufs[1].len);
    cr_assert_eq(lg_raft_entry_wrap("\x93\x01\x02", 3, &bufs[2]), LG_OK);
    struct proposal p[4];
    for (unsigned i = 0; i < 3; i++) {
        cr_assert_eq(propose_buffer(c, leader, bufs[i], &p[i]), 0);
    }
    /* and a valid entry behind them */
    struct lg_posting post = {S("world"), S("users:1"), 5u, S("USD/2")};
    struct lg_cmd cmd = {.kind = LG_CMD_SUBMIT, .timestamp_us = 7};
    cmd.u.submit = (struct lg_cmd_submit){.ledger = S("bank"), .postings = &post,
                                          .n_postings = 1};
    struct lg_batch b = {&cmd, 1};
    cr_assert_eq(propose(c, leader, &b, &p[3]), 0);
    struct wait_done w = {p, 4};
    cr_assert(raft_fixture_step_until(&c->f, all_done, &w, STEP_MS));
    for (unsigned i = 0; i < 3; i++) {
        cr_assert_eq(p[i].status, 0);
        cr_assert_eq(p[i].n_results, 1);
        cr_assert_eq(p[i].results[0].code, LG_EBADREQ);
        cr_assert_eq(p[i].malformed, i < 2, "entry %u", i);
        cr_assert_neq(p[i].results[0].message[0], '\0');
    }
    cr_assert_eq(p[3].results[0].code, LG_OK, "%s", p[3].results[0].message);
    cr_assert(raft_fixture_step_until_applied(&c->f, c->n, (raft_index)p[3].index, STEP_MS));
    for (unsigned i = 0; i < c->n; i++) {
        cr_assert_eq(lg_fsm_applied_index(c->fsm[i]), p[3].index);
        cr_assert_eq(c->ad[i].n_malformed, 2);
        cr_assert_eq(lg_fsm_last_seq(c->fsm[i]), 1);
        cr_assert_eq(raft_state(raft_fixture_get(&c->f, i)) == RAFT_UNAVAILABLE, false);
    }
    check_identical(c);
    cluster_stop(c);
}

/* ---- (c) InstallSnapshot ---- */

Test(raft_fixture, lagging_follower_catches_up_by_snapshot, .timeout = 120)
{
    names_init();
    uint64_t seed = lgt_seed();
    struct gen g = {.ts = 1000};
    lgt_rng_init(&g.rng, seed);
    struct cluster *c = cluster_start(3, 8, 2);
    unsigned leader = leader_of(c);
    unsigned lag = (leader + 1u) % c->n;
    unsigned other = (leader + 2u) % c->n;
    uint32_t committed = 0;
    uint32_t funds = 0;
    uint32_t dups = 0;
    uint64_t last = run_stream(c, &g, 4, 2, &committed, &funds, &dups);
    cr_assert(raft_fixture_step_until_applied(&c->f, c->n, (raft_index)last, STEP_MS));
    raft_fixture_kill(&c->f, lag);
    last = run_stream(c, &g, 60, 4, &committed, &funds, &dups);
    cr_assert(raft_fixture_step_until_applied(&c->f, other, (raft_index)last, STEP_MS));
    cr_assert_gt(c->ad[leader].n_snapshots, 0);
    cr_assert_lt(lg_fsm_applied_index(c->fsm[lag]), last);
    raft_fixture_revive(&c->f, lag);
    cr_assert(raft_fixture_step_until_applied(&c->f, c->n, (raft_index)last, STEP_MS));
    cr_assert_gt(raft_fixture_n_recv(&c->f, lag, RAFT_IO_INSTALL_SNAPSHOT), 0);
    cr_assert_gt(c->ad[lag].n_restores, 0);
    cr_assert_gt(c->gap_fills, 0, "the restore left a journal gap that was filled");
    cr_assert_eq(lg_fsm_journal_gap(c->fsm[lag]), 0);
    /* writes go on, the caught-up follower applies them too */
    last = run_stream(c, &g, 8, 4, &committed, &funds, &dups);
    cr_assert(raft_fixture_step_until_applied(&c->f, c->n, (raft_index)last, STEP_MS));
    check_identical(c);
    for (unsigned i = 0; i < c->n; i++) {
        check_sums_zero(c->fsm[i]);
    }
    cluster_stop(c);
}

/* ---- (d) partitioned leader, retried reference ---- */

struct stored_arg {
    struct cluster *c;
    unsigned leader;
    raft_index index;
};

static bool followers_stored(struct raft_fixture *f, void *arg)
{
    struct stored_arg *a = arg;
    for (unsigned j = 0; j < a->c->n; j++) {
        if (j != a->leader && raft_fixture_get(f, j)->last_stored < a->index) {
            return false;
        }
    }
    return true;
}

static bool leader_is_not(struct raft_fixture *f, void *arg)
{
    unsigned old = *(unsigned *)arg;
    unsigned l = raft_fixture_leader_index(f);
    return l < raft_fixture_n(f) && l != old;
}

static void partition(struct cluster *c, unsigned who, bool cut)
{
    for (unsigned j = 0; j < c->n; j++) {
        if (j == who) {
            continue;
        }
        if (cut) {
            raft_fixture_saturate(&c->f, who, j);
            raft_fixture_saturate(&c->f, j, who);
        } else {
            raft_fixture_desaturate(&c->f, who, j);
            raft_fixture_desaturate(&c->f, j, who);
        }
    }
}

static void partition_case(unsigned n_servers)
{
    names_init();
    uint64_t seed = lgt_seed();
    struct gen g = {.ts = 1000};
    lgt_rng_init(&g.rng, seed);
    struct cluster *c = cluster_start(n_servers, 0, 0);
    uint32_t committed = 0;
    uint32_t funds = 0;
    uint32_t dups = 0;
    run_stream(c, &g, 6, 3, &committed, &funds, &dups);
    unsigned old = leader_of(c);

    /* The request reaches every follower's log, then its leader is cut off. */
    struct lg_posting post = {S("world"), S("users:retry"), 77u, S("USD/2")};
    struct lg_cmd cmd = {.kind = LG_CMD_SUBMIT, .timestamp_us = ++g.ts};
    cmd.u.submit = (struct lg_cmd_submit){.ledger = S("bank"), .postings = &post,
                                          .n_postings = 1, .reference = S("retry-1")};
    struct lg_batch b = {&cmd, 1};
    struct proposal *first = calloc(1, sizeof *first);
    struct proposal *retry = calloc(1, sizeof *retry);
    cr_assert(first != NULL && retry != NULL);
    cr_assert_eq(propose(c, old, &b, first), 0);
    struct stored_arg sa = {c, old, first->req.index};
    cr_assert(raft_fixture_step_until(&c->f, followers_stored, &sa, STEP_MS));
    partition(c, old, true);
    cr_assert(raft_fixture_step_until(&c->f, leader_is_not, &old, STEP_MS));
    unsigned now = leader_of(c);

    /* The client saw no answer (or an ambiguous one) and retries with its reference. */
    cmd.timestamp_us = ++g.ts;
    cr_assert_eq(propose(c, now, &b, retry), 0);
    struct wait_done w = {retry, 1};
    cr_assert(raft_fixture_step_until(&c->f, all_done, &w, STEP_MS));
    cr_assert_eq(retry->status, 0);
    cr_assert_eq(retry->results[0].code, LG_OK, "%s", retry->results[0].message);
    uint64_t last = run_stream(c, &g, 12, 4, &committed, &funds, &dups);

    /* Heal: the old leader learns the new term and converges. */
    partition(c, old, false);
    w.p = first;
    cr_assert(raft_fixture_step_until(&c->f, all_done, &w, STEP_MS));
    cr_assert(first->status == 0 || first->status == RAFT_LEADERSHIPLOST,
              "first attempt: status %d", first->status);
    last = run_stream(c, &g, 4, 2, &committed, &funds, &dups);
    cr_assert(raft_fixture_step_until_applied(&c->f, c->n, (raft_index)last, STEP_MS));
    check_identical(c);
    struct lg_arena arena;
    lg_arena_init(&arena, 1024u * 1024u);
    for (unsigned i = 0; i < c->n; i++) {
        struct lg_fsm_tx tx;
        lg_arena_reset(&arena);
        cr_assert_eq(lg_fsm_get_tx_by_ref(c->fsm[i], S("bank"), S("retry-1"), &arena, &tx),
                     LG_OK);
        cr_assert_eq(tx.rec.tx_id, retry->results[0].tx_id);
        struct lg_fsm_account acc;
        cr_assert_eq(lg_fsm_account(c->fsm[i], S("bank"), S("users:retry"), &arena, &acc),
                     LG_OK);
        cr_assert_eq(acc.n_txs, 1, "replica %u: the reference applied %llu times", i,
                     (unsigned long long)acc.n_txs);
        cr_assert_eq(acc.n_volumes, 1);
        cr_assert(acc.volumes[0].input == 77u);
        check_sums_zero(c->fsm[i]);
    }
    fprintf(stderr, "partition %u servers: leader %u -> %u, first status %d, retry %s\n",
            n_servers, old, now, first->status,
            retry->results[0].duplicate ? "duplicate of the first" : "new");
    lg_arena_close(&arena);
    free(first);
    free(retry);
    cluster_stop(c);
}

Test(raft_fixture, partitioned_leader_retry_applies_once_3, .timeout = 120)
{
    partition_case(3);
}

Test(raft_fixture, partitioned_leader_retry_applies_once_5, .timeout = 120)
{
    partition_case(5);
}

/* ---- (f) journal write errors are fatal ---- */

/* Cap regular files at 64 KiB for this test process (Criterion runs each test in its own
 * process): the journal's writes past it fail with EFBIG instead of raising SIGXFSZ. */
static void cap_file_size(void)
{
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {64u * 1024u, 64u * 1024u};
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

/* Write until the journal fails; returns how many entries were proposed. */
static unsigned write_until_failed(struct cluster *c, struct gen *g, const bool *failed)
{
    struct proposal *p = calloc(1, sizeof *p);
    struct gen_batch *b = calloc(1, sizeof *b);
    cr_assert(p != NULL && b != NULL);
    unsigned k = 0;
    for (; k < 2000 && !*failed; k++) {
        gen_batch(g, b, k == 0);
        struct lg_batch lb = {b->cmds, b->n};
        cr_assert_eq(propose(c, leader_of(c), &lb, p), 0);
        struct wait_done w = {p, 1};
        cr_assert(raft_fixture_step_until(&c->f, all_done, &w, STEP_MS));
        cr_assert_eq(p->status, 0);
    }
    free(b);
    free(p);
    return k;
}

Test(raft_fatal, journal_error_exits_the_process, .timeout = 60,
     .exit_code = LG_RAFT_EXIT_FATAL)
{
    names_init();
    struct gen g = {.ts = 1000};
    lgt_rng_init(&g.rng, 7);
    struct cluster *c = cluster_start(1, 8, 2);
    cap_file_size();
    bool never = false;
    write_until_failed(c, &g, &never); /* the default hook _exits from inside raft */
    cr_assert_fail("the journal never failed");
}

struct fatal_seen {
    bool failed;
    int code;
    char what[LG_ERRMSG_SIZE];
};

static void fatal_record(void *arg, int code, const char *what)
{
    struct fatal_seen *s = arg;
    s->failed = true;
    s->code = code;
    snprintf(s->what, sizeof s->what, "%s", what);
}

Test(raft_fatal, hook_sees_the_error_and_apply_still_returns_0, .timeout = 60)
{
    names_init();
    struct gen g = {.ts = 1000};
    lgt_rng_init(&g.rng, 7);
    struct cluster *c = cluster_start(1, 8, 2);
    struct fatal_seen seen = {0};
    lg_raft_fsm_set_fatal(&c->ad[0], fatal_record, &seen);
    cap_file_size();
    unsigned k = write_until_failed(c, &g, &seen.failed);
    cr_assert(seen.failed, "the journal never failed in %u entries", k);
    cr_assert(seen.code == LG_EIO || seen.code == LG_ENOSPC, "%s: %s", lg_err_name(seen.code),
              seen.what);
    fprintf(stderr, "fatal after %u entries: %s\n", k, seen.what);
    /* libraft saw success: the node is not stuck in RAFT_UNAVAILABLE, and later entries
     * answer "unavailable" instead of applying. */
    struct proposal p;
    struct lg_posting post = {S("world"), S("users:1"), 5u, S("USD/2")};
    struct lg_cmd cmd = {.kind = LG_CMD_SUBMIT, .timestamp_us = ++g.ts};
    cmd.u.submit = (struct lg_cmd_submit){.ledger = S("bank"), .postings = &post,
                                          .n_postings = 1};
    struct lg_batch b = {&cmd, 1};
    cr_assert_eq(propose(c, leader_of(c), &b, &p), 0);
    struct wait_done w = {&p, 1};
    cr_assert(raft_fixture_step_until(&c->f, all_done, &w, STEP_MS));
    cr_assert_eq(p.status, 0);
    cr_assert_eq(p.results[0].code, LG_EUNAVAIL);
    cr_assert_eq(raft_state(raft_fixture_get(&c->f, 0)), RAFT_LEADER);
    struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};
    setrlimit(RLIMIT_FSIZE, &rl);
    raft_fixture_close(&c->f);
    lg_fsm_abandon(c->fsm[0]); /* the FSM failed: close would report the I/O error */
    lgt_rmtree(c->dir[0]);
    free(c);
}

/* ---- the leader queue ---- */

struct qcluster {
    struct cluster *c;
    struct lg_raft_queue q[RAFT_FIXTURE_MAX_SERVERS];
    uint64_t now; /* the fake wall clock, µs */
};

static uint64_t fake_now(void *arg)
{
    return ((struct qcluster *)arg)->now;
}

static struct qcluster *qcluster_start(unsigned n, uint32_t cmds_max, uint32_t inflight_max)
{
    struct qcluster *qc = calloc(1, sizeof *qc);
    cr_assert_not_null(qc);
    qc->c = cluster_start(n, 0, 0);
    qc->now = 5000;
    struct lg_raft_queue_options o = {.cmds_max = cmds_max, .inflight_max = inflight_max,
                                      .now_us = fake_now, .now_arg = qc};
    for (unsigned i = 0; i < n; i++) {
        cr_assert_eq(lg_raft_queue_init(&qc->q[i], raft_fixture_get(&qc->c->f, i),
                                        qc->c->fsm[i], &o), LG_OK);
    }
    return qc;
}

static void qcluster_stop(struct qcluster *qc)
{
    raft_fixture_close(&qc->c->f); /* fails in-flight entries before the queues go */
    for (unsigned i = 0; i < qc->c->n; i++) {
        lg_raft_queue_close(&qc->q[i]);
    }
    cluster_free(qc->c);
    free(qc);
}

/* One loop turn of every node: tick then flush (what the node's uv_check will do). */
static void queues_turn(struct qcluster *qc)
{
    for (unsigned i = 0; i < qc->c->n; i++) {
        lg_raft_queue_tick(&qc->q[i]);
        lg_raft_queue_flush(&qc->q[i]);
    }
}

struct sub {
    struct lg_raft_submit s;
    struct lg_posting post;
    char ref[24];
    bool done;
    unsigned answers;
    struct lg_cmd_result res;
};

static void sub_cb(struct lg_raft_submit *req, const struct lg_cmd_result *res)
{
    struct sub *x = req->data;
    x->done = true;
    x->answers++;
    x->res = *res;
}

/* A funding request world -> users:q<k> of k+1 units with reference "q-<k>". */
static void sub_init(struct sub *x, unsigned k)
{
    memset(x, 0, sizeof *x);
    snprintf(x->ref, sizeof x->ref, "q-%u", k);
    x->post = (struct lg_posting){S("world"), str_of(user_addr[k % N_USERS]), 1u + k,
                                  S("USD/2")};
    x->s.data = x;
    x->s.cb = sub_cb;
    x->s.cmd.kind = LG_CMD_SUBMIT;
    x->s.cmd.u.submit = (struct lg_cmd_submit){.ledger = S("bank"), .postings = &x->post,
                                               .n_postings = 1, .reference = str_of(x->ref)};
}

struct turn_arg {
    struct qcluster *qc;
    struct sub *subs;
    unsigned n;
    unsigned server; /* for turn_ready */
};

static bool subs_done(const struct sub *subs, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        if (!subs[i].done) {
            return false;
        }
    }
    return true;
}

static bool turn_all_done(struct raft_fixture *f, void *arg)
{
    (void)f;
    struct turn_arg *t = arg;
    queues_turn(t->qc);
    return subs_done(t->subs, t->n);
}

static bool turn_ready(struct raft_fixture *f, void *arg)
{
    (void)f;
    struct turn_arg *t = arg;
    queues_turn(t->qc);
    return t->qc->q[t->server].state == LG_RAFT_QUEUE_READY;
}

Test(raft_queue, batches_and_stamps_after_the_barrier, .timeout = 60)
{
    names_init();
    struct qcluster *qc = qcluster_start(3, 10, 8);
    unsigned l = leader_of(qc->c);
    struct lg_raft_queue *q = &qc->q[l];
    /* History from an earlier leader whose clock was ahead of ours. */
    struct lg_posting post = {S("world"), S("users:0"), 1u, S("USD/2")};
    struct lg_cmd cmd = {.kind = LG_CMD_SUBMIT, .timestamp_us = 1000000u};
    cmd.u.submit = (struct lg_cmd_submit){.ledger = S("bank"), .postings = &post,
                                          .n_postings = 1};
    struct lg_batch b = {&cmd, 1};
    struct proposal p;
    cr_assert_eq(propose(qc->c, l, &b, &p), 0);

    /* Requests accepted before the barrier are queued, not stamped. */
    static struct sub subs[28];
    for (unsigned k = 0; k < 25; k++) {
        sub_init(&subs[k], k);
        cr_assert_eq(lg_raft_queue_submit(q, &subs[k].s, NULL), LG_OK);
    }
    cr_assert_eq(q->n_queued, 25);
    cr_assert_eq(q->n_entries, 0);
    cr_assert_eq(subs[0].s.cmd.timestamp_us, 0, "stamped before the barrier applied");
    struct turn_arg t = {qc, subs, 25, l};
    cr_assert(raft_fixture_step_until(&qc->c->f, turn_all_done, &t, STEP_MS));
    cr_assert_eq(q->n_barriers, 1);
    cr_assert_eq(q->n_entries, 3, "25 requests, 10 per entry");
    for (unsigned k = 0; k < 25; k++) {
        cr_assert_eq(subs[k].answers, 1);
        cr_assert_eq(subs[k].res.code, LG_OK, "%s", subs[k].res.message);
        cr_assert_eq(subs[k].res.timestamp_us, 1000001u + k, "clock behind: last_ts + 1");
        cr_assert_eq(subs[k].res.tx_id, 1u + k);
    }
    /* The clock moves ahead: now, then +1 for requests stamped in the same turn. */
    qc->now = 2000000u;
    for (unsigned k = 25; k < 28; k++) {
        sub_init(&subs[k], k);
        cr_assert_eq(lg_raft_queue_submit(q, &subs[k].s, NULL), LG_OK);
    }
    t = (struct turn_arg){qc, subs + 25, 3, l};
    cr_assert(raft_fixture_step_until(&qc->c->f, turn_all_done, &t, STEP_MS));
    for (unsigned k = 25; k < 28; k++) {
        cr_assert_eq(subs[k].res.timestamp_us, 2000000u + (k - 25u));
    }
    cr_assert_eq(q->n_entries, 4);

    /* Followers refuse; invalid shapes are refused before queueing. */
    struct sub x;
    sub_init(&x, 99);
    char err[LG_ERRMSG_SIZE];
    cr_assert_eq(lg_raft_queue_submit(&qc->q[(l + 1u) % 3u], &x.s, err), LG_ENOTLEADER);
    x.post.amount = 0;
    cr_assert_eq(lg_raft_queue_submit(q, &x.s, err), LG_EBADREQ);
    cr_assert_eq(x.answers, 0);
    cr_assert(raft_fixture_step_until_applied(&qc->c->f, 3, raft_last_applied(
                                                  raft_fixture_get(&qc->c->f, l)), STEP_MS));
    check_identical(qc->c);
    qcluster_stop(qc);
}

Test(raft_queue, leadership_loss_answers_and_retries_apply_once, .timeout = 120)
{
    names_init();
    struct qcluster *qc = qcluster_start(3, 4, 1);
    unsigned old = leader_of(qc->c);
    struct turn_arg t = {qc, NULL, 0, old};
    cr_assert(raft_fixture_step_until(&qc->c->f, turn_ready, &t, STEP_MS));
    static struct sub subs[12];
    for (unsigned k = 0; k < 12; k++) {
        sub_init(&subs[k], k);
        cr_assert_eq(lg_raft_queue_submit(&qc->q[old], &subs[k].s, NULL), LG_OK);
    }
    /* One entry (4 requests) proposed, 8 requests still queued: cut the leader off. */
    lg_raft_queue_flush(&qc->q[old]);
    cr_assert_eq(qc->q[old].n_inflight, 1);
    cr_assert_eq(qc->q[old].n_queued, 8);
    /* the barrier is stored (it applied): the proposed entry is the next index */
    struct stored_arg sa = {qc->c, old, raft_fixture_get(&qc->c->f, old)->last_stored + 1u};
    cr_assert(raft_fixture_step_until(&qc->c->f, followers_stored, &sa, STEP_MS));
    partition(qc->c, old, true);
    t.subs = subs;
    t.n = 12;
    cr_assert(raft_fixture_step_until(&qc->c->f, turn_all_done, &t, STEP_MS));
    unsigned unavailable = 0;
    unsigned not_leader = 0;
    for (unsigned k = 0; k < 12; k++) {
        cr_assert_eq(subs[k].answers, 1);
        cr_assert(subs[k].res.code == LG_EUNAVAIL || subs[k].res.code == LG_ENOTLEADER ||
                      subs[k].res.code == LG_OK,
                  "%s: %s", lg_err_name(subs[k].res.code), subs[k].res.message);
        unavailable += subs[k].res.code == LG_EUNAVAIL;
        not_leader += subs[k].res.code == LG_ENOTLEADER;
    }
    cr_assert_gt(not_leader, 0, "queued requests must get not_leader");
    cr_assert_gt(unavailable + not_leader, 0);
    unsigned now = leader_of(qc->c);
    cr_assert_neq(now, old);
    /* Clients retry every request that did not succeed, on the new leader. */
    uint64_t floor_ts = lg_fsm_last_timestamp(qc->c->fsm[now]);
    t.server = now;
    cr_assert(raft_fixture_step_until(&qc->c->f, turn_ready, &t, STEP_MS));
    cr_assert_geq(qc->q[now].last_ts, floor_ts);
    for (unsigned k = 0; k < 12; k++) {
        if (subs[k].res.code != LG_OK) {
            subs[k].done = false;
            cr_assert_eq(lg_raft_queue_submit(&qc->q[now], &subs[k].s, NULL), LG_OK);
        }
    }
    cr_assert(raft_fixture_step_until(&qc->c->f, turn_all_done, &t, STEP_MS));
    partition(qc->c, old, false);
    cr_assert(raft_fixture_step_until_has_leader(&qc->c->f, STEP_MS));
    unsigned dup = 0;
    for (unsigned k = 0; k < 12; k++) {
        cr_assert_eq(subs[k].res.code, LG_OK, "%s", subs[k].res.message);
        dup += subs[k].res.duplicate;
    }
    raft_index last = raft_last_applied(raft_fixture_get(&qc->c->f, now));
    cr_assert(raft_fixture_step_until_applied(&qc->c->f, 3, last, STEP_MS));
    check_identical(qc->c);
    struct lg_arena arena;
    lg_arena_init(&arena, 1024u * 1024u);
    for (unsigned i = 0; i < 3; i++) {
        cr_assert_eq(lg_fsm_last_seq(qc->c->fsm[i]), 12, "each request committed once");
        for (unsigned k = 0; k < 12; k++) {
            struct lg_fsm_tx tx;
            lg_arena_reset(&arena);
            cr_assert_eq(lg_fsm_get_tx_by_ref(qc->c->fsm[i], S("bank"), str_of(subs[k].ref),
                                              &arena, &tx), LG_OK);
            cr_assert_eq(tx.rec.tx_id, subs[k].res.tx_id);
        }
    }
    lg_arena_close(&arena);
    fprintf(stderr, "queue: leader %u -> %u, %u unavailable, %u not_leader, %u duplicates\n",
            old, now, unavailable, not_leader, dup);
    qcluster_stop(qc);
}

static void transfer_noop_cb(struct raft_transfer *req)
{
    (void)req;
}

/* A submit that fills an entry must not propose it inside the call: if the proposal fails
 * (here raft_apply refuses during a leadership transfer) the request would be answered
 * from inside its own submit, which the header forbids (the server frees per-request state
 * from the callback). The answer comes from the next turn, once. */
Test(raft_queue, submit_never_answers_inside_the_call, .timeout = 60)
{
    names_init();
    struct qcluster *qc = qcluster_start(3, 1, 8);
    unsigned l = leader_of(qc->c);
    struct lg_raft_queue *q = &qc->q[l];
    struct turn_arg t = {qc, NULL, 0, l};
    cr_assert(raft_fixture_step_until(&qc->c->f, turn_ready, &t, STEP_MS));
    static struct raft_transfer tr;
    cr_assert_eq(raft_transfer(raft_fixture_get(&qc->c->f, l), &tr, 0, transfer_noop_cb), 0);
    cr_assert_eq(raft_state(raft_fixture_get(&qc->c->f, l)), RAFT_LEADER);
    static struct sub x;
    sub_init(&x, 1);
    cr_assert_eq(lg_raft_queue_submit(q, &x.s, NULL), LG_OK);
    cr_assert_eq(x.answers, 0, "answered inside lg_raft_queue_submit");
    lg_raft_queue_flush(q);
    cr_assert_eq(x.answers, 1);
    cr_assert_eq(x.res.code, LG_ENOTLEADER, "%s", x.res.message);
    qcluster_stop(qc);
}

/* The log libraft holds in memory is bounded by bytes: big entries (4096 commands) lower
 * the entry counts, small ones leave the configured caps, never below the floor. */
Test(raft_log_limits, entry_counts_follow_the_mean_entry_size)
{
    unsigned thr;
    unsigned trail;
    lg_raft_log_limits(0, 16384, 32768, &thr, &trail); /* unknown yet: the caps */
    cr_assert_eq(thr, 16384);
    cr_assert_eq(trail, 32768);
    lg_raft_log_limits(200, 16384, 32768, &thr, &trail); /* one small command per entry */
    cr_assert_eq(thr, 16384);
    cr_assert_eq(trail, 32768);
    uint64_t big = 600u * 1024u; /* ~4096 one-posting transfers */
    lg_raft_log_limits(big, 16384, 32768, &thr, &trail);
    cr_assert_eq(thr, LG_RAFT_LOG_BYTES_BUDGET / big);
    cr_assert_eq(trail, LG_RAFT_LOG_BYTES_BUDGET / big);
    cr_assert_leq((uint64_t)thr * big, LG_RAFT_LOG_BYTES_BUDGET);
    lg_raft_log_limits(64u << 20, 16384, 32768, &thr, &trail); /* huge: the floor */
    cr_assert_eq(thr, LG_RAFT_LOG_ENTRIES_MIN);
    cr_assert_eq(trail, LG_RAFT_LOG_ENTRIES_MIN);
    lg_raft_log_limits(big, 100, 50, &thr, &trail); /* configured below the floor: caps */
    cr_assert_eq(thr, 100);
    cr_assert_eq(trail, 50);
}

/* ---- apply on the adapter's thread (lg_raft_fsm_start, docs/raft.md) ---- */

/* A queue cluster whose adapters apply on their threads; the loop only delivers. */
struct tcluster {
    struct qcluster *qc;
    uv_loop_t loop;
    uint32_t max_deferred; /* the most answers seen waiting for the thread at once */
};

static struct tcluster *tcluster_start(unsigned n, uint32_t cmds_max, size_t inline_max,
                                       unsigned threshold)
{
    struct tcluster *t = calloc(1, sizeof *t);
    cr_assert_not_null(t);
    cr_assert_eq(uv_loop_init(&t->loop), 0);
    t->qc = qcluster_start(n, cmds_max, 8);
    for (unsigned i = 0; i < n; i++) {
        struct raft *r = raft_fixture_get(&t->qc->c->f, i);
        if (threshold > 0) {
            raft_set_snapshot_threshold(r, threshold);
            raft_set_snapshot_trailing(r, threshold / 2u);
        }
        cr_assert_eq(lg_raft_fsm_start(&t->qc->c->ad[i], &t->loop), LG_OK);
        t->qc->c->ad[i].inline_max = inline_max;
        t->qc->q[i].o.adapter = &t->qc->c->ad[i];
    }
    return t;
}

/* Stop as the node does after raft_close: the threads apply what they hold and answer it
 * before the queues close; every handle closes. */
static void tcluster_stop(struct tcluster *t)
{
    struct qcluster *qc = t->qc;
    raft_fixture_close(&qc->c->f);
    for (unsigned i = 0; i < qc->c->n; i++) {
        cr_assert(lg_raft_fsm_stop(&qc->c->ad[i], NULL, NULL));
        cr_assert_eq(qc->q[i].n_deferred, 0, "server %u: answers left waiting", i);
        lg_raft_queue_close(&qc->q[i]);
    }
    cr_assert_eq(uv_run(&t->loop, UV_RUN_DEFAULT), 0);
    cr_assert_eq(uv_loop_close(&t->loop), 0, "a handle was left open");
    cluster_free(qc->c);
    free(qc);
    free(t);
}

struct tturn {
    struct tcluster *t;
    struct sub *subs;
    unsigned n;
    bool deliver; /* run the loop (deliver answers) each turn */
};

static void tcluster_turn(struct tcluster *t, bool deliver)
{
    queues_turn(t->qc);
    for (unsigned i = 0; i < t->qc->c->n; i++) {
        uint32_t d = t->qc->q[i].n_deferred;
        t->max_deferred = d > t->max_deferred ? d : t->max_deferred;
    }
    if (deliver) {
        uv_run(&t->loop, UV_RUN_NOWAIT);
    }
}

static bool tturn_all_done(struct raft_fixture *f, void *arg)
{
    (void)f;
    struct tturn *x = arg;
    tcluster_turn(x->t, x->deliver);
    return subs_done(x->subs, x->n);
}

/* Every entry the leader proposed was applied by libraft (so handed to the thread). */
static bool tturn_all_handed(struct raft_fixture *f, void *arg)
{
    (void)f;
    struct tturn *x = arg;
    tcluster_turn(x->t, x->deliver);
    struct lg_raft_queue *q = &x->t->qc->q[leader_of(x->t->qc->c)];
    return q->state == LG_RAFT_QUEUE_READY && q->n_queued == 0 && q->n_inflight == 0;
}

static void tcluster_sync(struct tcluster *t)
{
    for (unsigned i = 0; i < t->qc->c->n; i++) {
        lg_raft_fsm_sync(&t->qc->c->ad[i]);
    }
}

/* Mutations caught: results delivered from the wrong ticket / before the thread applied
 * (tx ids, codes), the thread skipping or reordering entries (chain heads, tx ids), the
 * snapshot not syncing first (state differs or the restore fails), the view's applied
 * index ignoring barrier entries. */
Test(raft_thread, answers_come_from_the_thread_and_replicas_agree, .timeout = 120)
{
    names_init();
    struct tcluster *t = tcluster_start(3, 10, 0, 16); /* snapshots every 16 entries */
    struct cluster *c = t->qc->c;
    unsigned l = leader_of(c);
    enum { WAVES = 30, PER_WAVE = 20 };
    static struct sub subs[WAVES * PER_WAVE];
    for (unsigned w = 0; w < WAVES; w++) {
        struct sub *s = subs + w * PER_WAVE;
        for (unsigned k = 0; k < PER_WAVE; k++) {
            sub_init(&s[k], w * PER_WAVE + k);
            cr_assert_eq(lg_raft_queue_submit(&t->qc->q[l], &s[k].s, NULL), LG_OK);
        }
        struct tturn x = {t, s, PER_WAVE, true};
        cr_assert(raft_fixture_step_until(&c->f, tturn_all_done, &x, STEP_MS));
    }
    cr_assert_gt(t->max_deferred, 0, "no answer ever waited for the apply thread");
    for (unsigned k = 0; k < WAVES * PER_WAVE; k++) {
        cr_assert_eq(subs[k].answers, 1, "request %u answered %u times", k, subs[k].answers);
        cr_assert_eq(subs[k].res.code, LG_OK, "request %u: %s", k, subs[k].res.message);
        cr_assert_eq(subs[k].res.tx_id, k, "request %u got tx %llu", k,
                     (unsigned long long)subs[k].res.tx_id);
        cr_assert_eq(subs[k].res.seq, k + 1u);
    }
    /* A barrier last: an entry the FSM never sees, which the view's applied index must
     * still count once the thread is idle. */
    struct raft *lr = raft_fixture_get(&c->f, l);
    struct raft_barrier barrier = {0};
    cr_assert_eq(raft_barrier(lr, &barrier, NULL), 0);
    cr_assert(raft_fixture_step_until_applied(&c->f, 3, raft_last_applied(lr) + 1u, STEP_MS));
    tcluster_sync(t);
    cr_assert_gt(raft_last_applied(lr), lg_fsm_applied_index(c->fsm[l]));
    check_identical(c);
    cr_assert_eq(lg_fsm_last_seq(c->fsm[l]), WAVES * PER_WAVE);
    for (unsigned i = 0; i < c->n; i++) {
        struct raft *r = raft_fixture_get(&c->f, i);
        cr_assert_gt(c->ad[i].n_snapshots, 0, "server %u took no snapshot", i);
        struct lg_raft_fsm_view v;
        lg_raft_fsm_view(&c->ad[i], &v);
        cr_assert_eq(v.applied_index, raft_last_applied(r), "server %u", i);
        uint8_t head[LG_HASH_BYTES];
        lg_fsm_chain_head(c->fsm[i], head);
        cr_assert_eq(memcmp(head, v.chain_head, LG_HASH_BYTES), 0);
        cr_assert_eq(v.last_seq, lg_fsm_last_seq(c->fsm[i]));
    }
    tcluster_stop(t);
}

/* Mutations caught: lg_raft_fsm_stop not applying the queue or not delivering (answers
 * missing, n_deferred > 0), or leaving the async handle open (uv_loop_close fails). */
Test(raft_thread, stop_applies_what_is_queued_and_answers_it, .timeout = 60)
{
    names_init();
    struct tcluster *t = tcluster_start(3, 10, 0, 0);
    struct cluster *c = t->qc->c;
    unsigned l = leader_of(c);
    enum { N = 200 };
    static struct sub subs[N];
    for (unsigned k = 0; k < N; k++) {
        sub_init(&subs[k], k);
        cr_assert_eq(lg_raft_queue_submit(&t->qc->q[l], &subs[k].s, NULL), LG_OK);
    }
    /* The loop never runs: libraft applies every entry (hands it over), nothing is
     * delivered. */
    struct tturn x = {t, subs, N, false};
    cr_assert(raft_fixture_step_until(&c->f, tturn_all_handed, &x, STEP_MS));
    cr_assert_eq(t->qc->q[l].n_deferred, N / 10u, "every entry waits for its answers");
    for (unsigned k = 0; k < N; k++) {
        cr_assert(!subs[k].done, "request %u answered without the loop", k);
    }
    tcluster_stop(t); /* asserts n_deferred == 0 and a clean loop */
    for (unsigned k = 0; k < N; k++) {
        cr_assert_eq(subs[k].answers, 1, "request %u answered %u times", k, subs[k].answers);
        cr_assert_eq(subs[k].res.code, LG_OK, "request %u: %s", k, subs[k].res.message);
        cr_assert_eq(subs[k].res.tx_id, k);
    }
}

/* Mutations caught: queueing small entries while idle (nothing applied inline, so the
 * answer waits for the loop), or applying inline while the thread still holds entries
 * (answers out of log order). */
Test(raft_thread, a_small_entry_on_an_idle_thread_is_applied_inline, .timeout = 60)
{
    names_init();
    struct tcluster *t = tcluster_start(3, 10, LG_RAFT_APPLY_INLINE_BYTES, 0);
    struct cluster *c = t->qc->c;
    unsigned l = leader_of(c);
    static struct sub subs[30];
    for (unsigned k = 0; k < 10; k++) {
        sub_init(&subs[k], k);
        cr_assert_eq(lg_raft_queue_submit(&t->qc->q[l], &subs[k].s, NULL), LG_OK);
    }
    /* Idle thread, 10 small commands: answered inside libraft's apply, no loop run. */
    struct tturn x = {t, subs, 10, false};
    cr_assert(raft_fixture_step_until(&c->f, tturn_all_done, &x, STEP_MS));
    cr_assert_eq(t->max_deferred, 0);
    /* Undelivered results on the thread: the next small entry must wait behind them. */
    t->qc->c->ad[l].inline_max = 0;
    for (unsigned k = 10; k < 20; k++) {
        sub_init(&subs[k], k);
        cr_assert_eq(lg_raft_queue_submit(&t->qc->q[l], &subs[k].s, NULL), LG_OK);
    }
    x = (struct tturn){t, subs + 10, 10, false};
    cr_assert(raft_fixture_step_until(&c->f, tturn_all_handed, &x, STEP_MS));
    t->qc->c->ad[l].inline_max = LG_RAFT_APPLY_INLINE_BYTES;
    lg_raft_fsm_sync(&t->qc->c->ad[l]); /* applied, not delivered: the thread is not idle */
    for (unsigned k = 20; k < 30; k++) {
        sub_init(&subs[k], k);
        cr_assert_eq(lg_raft_queue_submit(&t->qc->q[l], &subs[k].s, NULL), LG_OK);
    }
    x = (struct tturn){t, subs + 20, 10, false};
    cr_assert(raft_fixture_step_until(&c->f, tturn_all_handed, &x, STEP_MS));
    cr_assert_eq(t->qc->q[l].n_deferred, 2, "the entry behind undelivered ones was inline");
    for (unsigned k = 10; k < 30; k++) {
        cr_assert(!subs[k].done, "request %u answered before the earlier ones", k);
    }
    x = (struct tturn){t, subs, 30, true};
    cr_assert(raft_fixture_step_until(&c->f, tturn_all_done, &x, STEP_MS));
    for (unsigned k = 0; k < 30; k++) {
        cr_assert_eq(subs[k].answers, 1);
        cr_assert_eq(subs[k].res.tx_id, k);
    }
    tcluster_stop(t);
}
