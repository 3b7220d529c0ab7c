/* test_failover: leader loss under load and graceful leader stop (DESIGN §1.1-1.5, §1.7,
 * §7, §12).
 *
 * Goal: killing the leader with SIGKILL while clients write loses no acknowledged
 * transaction and applies none twice (clients retry with the same reference across the
 * leader change); a new leader is elected within a bound; after the killed node restarts
 * every replica holds the same transactions and chain head, and the bank invariant holds
 * (per asset the balances sum to zero, no account but `world` below zero). A SIGTERMed
 * leader hands leadership over, exits 0, and resumes from its data when restarted.
 *
 * Method: LOAD_THREADS threads, each with its own lg_client over all nodes, fund their
 * accounts from `world` and then move small amounts between them and a shared account,
 * every transaction with a unique reference; each thread records which references were
 * acknowledged and which calls ended without an answer (outcome unknown). After the load
 * stops and the cluster converges, every node's full transaction list is compared with
 * those records and with the balances the nodes report. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"

#define LEDGER "main"
#define ASSET "USD/2"
#define LOAD_THREADS 4u
#define ACCOUNTS_PER_THREAD 3u
#define FUNDING 1000000000u
#define AMOUNT_MAX 100u
/* Bounds of one load thread: operations, and refs kept. */
#define LOAD_OPS_MAX 20000u
/* Load phases (ms): before the kill (at least, and until MIN_ACKED acks), after it. */
#define LOAD_BEFORE_KILL_MS 1500u
#define LOAD_AFTER_KILL_MS 2000u
#define MIN_ACKED_BEFORE_KILL 50u
#define PHASE_TIMEOUT_MS 20000u
/* A new leader must be known within this after the kill. */
#define FAILOVER_MAX_MS 3000u
/* lg_client settings of the load: per-attempt timeout and attempts. */
#define LOAD_REQUEST_TIMEOUT_MS 3000u
#define LOAD_ATTEMPTS 40u
/* SIGTERM: exit bound and leader bound after it. */
#define TERM_EXIT_MS 5000u
#define TERM_NEW_LEADER_MS 3000u

#define SHARED_ACCOUNT "users:shared:main"

struct acked {
    char reference[LGT_REFERENCE_BYTES];
    uint64_t tx_id;
    uint64_t index;
    uint8_t hash[LG_PROTO_HASH_BYTES];
};

struct load_worker {
    pthread_t thread;
    unsigned index;
    uint64_t seed;
    const char *nodes[LGT_CLUSTER_NODES_MAX];
    unsigned n_nodes;
    atomic_bool *stop;
    atomic_uint *acked_total;
    /* Results (read by the main thread after join). */
    struct acked *acked;
    size_t n_acked;
    char (*unknown)[LGT_REFERENCE_BYTES];
    size_t n_unknown;
    unsigned ops;
    char failure[512]; /* first unexpected answer; "" none */
};

static void account_name(char *out, size_t size, unsigned thread, unsigned k)
{
    snprintf(out, size, "users:t%u-%u:main", thread, k);
}

static void *load_run(void *arg)
{
    struct load_worker *wk = arg;
    struct lg_client_options o;
    memset(&o, 0, sizeof o);
    o.nodes = wk->nodes;
    o.n_nodes = wk->n_nodes;
    o.connect_timeout_ms = 1000;
    o.request_timeout_ms = LOAD_REQUEST_TIMEOUT_MS;
    o.attempts_max = LOAD_ATTEMPTS;
    o.backoff_ms = 20;
    struct lg_client *cl = NULL;
    char err[LG_ERRMSG_SIZE] = "";
    if (lg_client_open(&cl, &o, err) != LG_OK) {
        snprintf(wk->failure, sizeof wk->failure, "lg_client_open: %s", err);
        return NULL;
    }
    struct lg_arena arena;
    lg_arena_init(&arena, 0);
    struct lgt_rng rng;
    lgt_rng_init(&rng, wk->seed);
    for (unsigned op = 0; op < LOAD_OPS_MAX; op++) {
        if (op >= ACCOUNTS_PER_THREAD && atomic_load(wk->stop)) {
            break;
        }
        char ref[LGT_REFERENCE_BYTES];
        char src[LGT_NAME_BYTES];
        char dst[LGT_NAME_BYTES];
        struct lgt_transfer t = {.ledger = LEDGER, .asset = ASSET, .reference = ref,
                                 .source = src, .destination = dst};
        if (op < ACCOUNTS_PER_THREAD) {
            /* Funding first: every later transfer is covered. */
            snprintf(ref, sizeof ref, "w%u-fund-%u", wk->index, op);
            snprintf(src, sizeof src, "world");
            account_name(dst, sizeof dst, wk->index, op);
            t.amount = FUNDING;
        } else {
            snprintf(ref, sizeof ref, "w%u-op-%u", wk->index, op);
            unsigned a = (unsigned)lgt_rng_below(&rng, ACCOUNTS_PER_THREAD);
            unsigned b = (a + 1u + (unsigned)lgt_rng_below(&rng, ACCOUNTS_PER_THREAD - 1u)) %
                         ACCOUNTS_PER_THREAD;
            account_name(src, sizeof src, wk->index, a);
            if (op % 5u == 0) {
                snprintf(dst, sizeof dst, SHARED_ACCOUNT);
            } else {
                account_name(dst, sizeof dst, wk->index, b);
            }
            t.amount = 1u + lgt_rng_below(&rng, AMOUNT_MAX);
        }
        struct lg_proto_request req;
        struct lg_posting posting;
        struct lg_kv kv;
        lgt_req_submit(&req, &posting, &kv, &t);
        struct lg_proto_response resp;
        memset(&resp, 0, sizeof resp);
        lg_arena_reset(&arena);
        int rc = lg_client_call(cl, &req, &arena, &resp, err);
        wk->ops = op + 1u;
        if (rc == LG_OK && resp.ok) {
            struct acked *a = &wk->acked[wk->n_acked++];
            snprintf(a->reference, sizeof a->reference, "%s", ref);
            a->tx_id = resp.u.submit.tx_id;
            a->index = resp.u.submit.index;
            memcpy(a->hash, resp.u.submit.hash, sizeof a->hash);
            atomic_fetch_add(wk->acked_total, 1u);
        } else if (rc == LG_OK && (resp.error.code == LG_EFUNDS ||
                                   resp.error.code == LG_ECONFLICT ||
                                   resp.error.code == LG_EBADREQ ||
                                   resp.error.code == LG_ECONDITION ||
                                   resp.error.code == LG_EOVERFLOW)) {
            /* A business answer to a request that must succeed: a bug. */
            snprintf(wk->failure, sizeof wk->failure, "%s: answered %s %.*s", ref,
                     lg_err_wire(resp.error.code), (int)resp.error.message.len,
                     resp.error.message.ptr);
            break;
        } else {
            /* No final answer (or an internal one): the outcome is unknown. */
            snprintf(wk->unknown[wk->n_unknown++], LGT_REFERENCE_BYTES, "%s", ref);
            if (op < ACCOUNTS_PER_THREAD) {
                snprintf(wk->failure, sizeof wk->failure, "%s: funding got no answer: %s %s",
                         ref, lg_err_name(rc), err);
                break;
            }
        }
    }
    lg_arena_close(&arena);
    lg_client_close(cl);
    return NULL;
}

static int cmp_tx_ref(const void *a, const void *b)
{
    return strcmp(((const struct lgt_tx *)a)->reference, ((const struct lgt_tx *)b)->reference);
}

static const struct lgt_tx *find_ref(const struct lgt_tx *sorted, size_t n, const char *ref)
{
    struct lgt_tx key;
    snprintf(key.reference, sizeof key.reference, "%s", ref);
    return bsearch(&key, sorted, n, sizeof *sorted, cmp_tx_ref);
}

/* Balances computed from the transactions: name -> balance. */
struct ledger_sum {
    char names[LOAD_THREADS * ACCOUNTS_PER_THREAD + 2u][LGT_NAME_BYTES];
    lg_i128 balance[LOAD_THREADS * ACCOUNTS_PER_THREAD + 2u];
    unsigned n;
};

static lg_i128 *sum_slot(struct lgt_cluster *c, struct ledger_sum *s, const char *name)
{
    for (unsigned k = 0; k < s->n; k++) {
        if (strcmp(s->names[k], name) == 0) {
            return &s->balance[k];
        }
    }
    LGT_CHECK(c, s->n < sizeof s->names / sizeof s->names[0], "unexpected account %s", name);
    snprintf(s->names[s->n], LGT_NAME_BYTES, "%s", name);
    s->balance[s->n] = 0;
    return &s->balance[s->n++];
}

/* The checks after the load (see the file comment). */
static void check_after_load(struct lgt_cluster *c, struct load_worker *wk, unsigned n_wk)
{
    size_t n_acked = 0;
    size_t n_unknown = 0;
    for (unsigned w = 0; w < n_wk; w++) {
        n_acked += wk[w].n_acked;
        n_unknown += wk[w].n_unknown;
    }
    /* 1. Every node lists the same transactions. */
    struct lgt_tx *lists[LGT_CLUSTER_NODES_MAX] = {NULL};
    size_t counts[LGT_CLUSTER_NODES_MAX] = {0};
    for (unsigned i = 0; i < c->o.n_nodes; i++) {
        counts[i] = lgt_list_all(c, i, LEDGER, &lists[i]);
    }
    size_t n = counts[0];
    for (unsigned i = 1; i < c->o.n_nodes; i++) {
        LGT_CHECK(c, counts[i] == n, "node %u lists %zu transactions, node 1 lists %zu",
                  i + 1u, counts[i], n);
        for (size_t k = 0; k < n; k++) {
            LGT_CHECK(c, memcmp(lists[i][k].hash, lists[0][k].hash, LG_PROTO_HASH_BYTES) == 0 &&
                             strcmp(lists[i][k].reference, lists[0][k].reference) == 0 &&
                             lists[i][k].seq == lists[0][k].seq,
                      "tx %zu differs between node 1 and node %u", k, i + 1u);
        }
    }
    /* 2. Balances from the list (double entry, computed here) and reference uniqueness. */
    struct ledger_sum sum;
    memset(&sum, 0, sizeof sum);
    for (size_t k = 0; k < n; k++) {
        const struct lgt_tx *t = &lists[0][k];
        LGT_CHECK(c, strcmp(t->asset, ASSET) == 0, "tx %zu asset %s", k, t->asset);
        *sum_slot(c, &sum, t->source) -= (lg_i128)t->amount;
        *sum_slot(c, &sum, t->destination) += (lg_i128)t->amount;
    }
    struct lgt_tx *sorted = malloc((n > 0 ? n : 1u) * sizeof *sorted);
    LGT_CHECK(c, sorted != NULL, "out of memory");
    memcpy(sorted, lists[0], n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_tx_ref);
    for (size_t k = 0; k < n; k++) {
        LGT_CHECK(c, sorted[k].reference[0] != '\0', "tx %llu has no reference",
                  (unsigned long long)sorted[k].tx_id);
        LGT_CHECK(c, k == 0 || strcmp(sorted[k - 1].reference, sorted[k].reference) != 0,
                  "reference %s committed twice (tx %llu and tx %llu): applied twice",
                  sorted[k].reference, (unsigned long long)sorted[k - 1].tx_id,
                  (unsigned long long)sorted[k].tx_id);
    }
    /* 3. Every acknowledged reference is there once, as acknowledged; nothing else but the
     * unknown-outcome references is there. */
    size_t unknown_found = 0;
    for (unsigned w = 0; w < n_wk; w++) {
        for (size_t k = 0; k < wk[w].n_acked; k++) {
            const struct acked *a = &wk[w].acked[k];
            const struct lgt_tx *t = find_ref(sorted, n, a->reference);
            LGT_CHECK(c, t != NULL, "acknowledged %s (tx %llu, index %llu) is lost",
                      a->reference, (unsigned long long)a->tx_id, (unsigned long long)a->index);
            char h1[65], h2[65];
            LGT_CHECK(c, t->tx_id == a->tx_id && memcmp(t->hash, a->hash, 32) == 0,
                      "%s: acknowledged as tx %llu hash %s, committed as tx %llu hash %s",
                      a->reference, (unsigned long long)a->tx_id, lgt_hex(a->hash, h1),
                      (unsigned long long)t->tx_id, lgt_hex(t->hash, h2));
        }
        for (size_t k = 0; k < wk[w].n_unknown; k++) {
            unknown_found += find_ref(sorted, n, wk[w].unknown[k]) != NULL ? 1u : 0u;
        }
    }
    LGT_CHECK(c, n == n_acked + unknown_found, "%zu transactions committed, but %zu "
              "acknowledged + %zu of %zu unknown-outcome references found", n, n_acked,
              unknown_found, n_unknown);
    /* 4. get_tx by reference of every acknowledged transaction on every node. */
    struct lg_arena arena;
    lg_arena_init(&arena, 0);
    for (unsigned i = 0; i < c->o.n_nodes; i++) {
        struct lg_conn *conn = lgt_node_conn(c, i, 10000);
        uint64_t id = 1;
        for (unsigned w = 0; w < n_wk; w++) {
            for (size_t k = 0; k < wk[w].n_acked; k++) {
                const struct acked *a = &wk[w].acked[k];
                struct lg_proto_request req;
                lgt_req_get_tx(&req, LEDGER, 0, a->reference, LG_PROTO_READ_STALE, 0);
                req.id = id++;
                struct lg_proto_response resp;
                memset(&resp, 0, sizeof resp);
                char err[LG_ERRMSG_SIZE] = "";
                lg_arena_reset(&arena);
                int rc = lg_conn_call(conn, &req, &arena, &resp, err);
                LGT_CHECK(c, rc == LG_OK && resp.ok, "get_tx %s on node %u: %s %s %s",
                          a->reference, i + 1u, lg_err_name(rc), err,
                          rc == LG_OK ? lg_err_wire(resp.error.code) : "");
                LGT_CHECK(c, resp.u.get_tx.tx_id == a->tx_id &&
                                 memcmp(resp.u.get_tx.hash, a->hash, 32) == 0,
                          "get_tx %s on node %u: tx %llu, acknowledged tx %llu", a->reference,
                          i + 1u, (unsigned long long)resp.u.get_tx.tx_id,
                          (unsigned long long)a->tx_id);
            }
        }
        lg_conn_close(conn);
    }
    /* 5. The balances the nodes report: equal to the computed ones; the bank invariant. */
    for (unsigned i = 0; i < c->o.n_nodes; i++) {
        struct lg_conn *conn = lgt_node_conn(c, i, 10000);
        lg_i128 total = 0;
        for (unsigned k = 0; k < sum.n; k++) {
            struct lg_proto_request req;
            lgt_req_balances(&req, LEDGER, sum.names[k], ASSET, LG_PROTO_READ_STALE, 0);
            req.id = k + 1u;
            struct lg_proto_response resp;
            memset(&resp, 0, sizeof resp);
            char err[LG_ERRMSG_SIZE] = "";
            lg_arena_reset(&arena);
            int rc = lg_conn_call(conn, &req, &arena, &resp, err);
            LGT_CHECK(c, rc == LG_OK && resp.ok, "balances %s on node %u: %s %s", sum.names[k],
                      i + 1u, lg_err_name(rc), err);
            lg_i128 bal = 0;
            LGT_CHECK(c, lgt_balance_of(&resp, sum.names[k], ASSET, &bal),
                      "node %u: no %s balance for %s", i + 1u, ASSET, sum.names[k]);
            LGT_CHECK(c, bal == sum.balance[k], "node %u: %s balance %lld, transactions give "
                      "%lld", i + 1u, sum.names[k], (long long)bal, (long long)sum.balance[k]);
            LGT_CHECK(c, bal >= 0 || strcmp(sum.names[k], "world") == 0,
                      "node %u: %s is negative (%lld)", i + 1u, sum.names[k], (long long)bal);
            total += bal;
        }
        LGT_CHECK(c, total == 0, "node %u: %s balances sum to %lld, not 0", i + 1u, ASSET,
                  (long long)total);
        lg_conn_close(conn);
    }
    lg_arena_close(&arena);
    free(sorted);
    for (unsigned i = 0; i < c->o.n_nodes; i++) {
        free(lists[i]);
    }
    cr_log_info("load: %zu acknowledged, %zu unknown (%zu committed), %zu transactions",
                n_acked, n_unknown, unknown_found, n);
}

static size_t total_acked(const struct load_worker *wk, unsigned n)
{
    size_t s = 0;
    for (unsigned w = 0; w < n; w++) {
        s += wk[w].n_acked;
    }
    return s;
}

Test(cluster, leader_sigkill_under_load_loses_nothing, .fini = lgt_cluster_fini,
     .timeout = 240)
{
    struct lgt_cluster_options o = {.n_nodes = 3};
    struct lgt_cluster *c = lgt_cluster_new(&o);
    lgt_cluster_start(c);
    unsigned leader = lgt_cluster_leader(c, LGT_LEADER_TIMEOUT_MS);

    /* Static: a failed check leaves this frame (longjmp to .fini) while the threads still
     * run; they must not point into a dead stack. */
    static struct load_worker wk[LOAD_THREADS];
    memset(wk, 0, sizeof wk);
    static atomic_bool stop;
    atomic_init(&stop, false);
    static atomic_uint acked_total;
    atomic_init(&acked_total, 0u);
    uint64_t seed = lgt_seed();
    lgt_cluster_note(c, "LG_TEST_SEED=%llu", (unsigned long long)seed);
    for (unsigned w = 0; w < LOAD_THREADS; w++) {
        wk[w].index = w;
        wk[w].seed = seed + w;
        wk[w].n_nodes = c->o.n_nodes;
        for (unsigned i = 0; i < c->o.n_nodes; i++) {
            wk[w].nodes[i] = c->nodes[i].client_address;
        }
        wk[w].stop = &stop;
        wk[w].acked_total = &acked_total;
        wk[w].acked = calloc(LOAD_OPS_MAX, sizeof *wk[w].acked);
        wk[w].unknown = calloc(LOAD_OPS_MAX, sizeof *wk[w].unknown);
        LGT_CHECK(c, wk[w].acked != NULL && wk[w].unknown != NULL, "out of memory");
    }
    for (unsigned w = 0; w < LOAD_THREADS; w++) {
        LGT_CHECK(c, pthread_create(&wk[w].thread, NULL, load_run, &wk[w]) == 0,
                  "pthread_create");
    }
    /* Phase 1: load on a healthy cluster. */
    uint64_t t_start = lgt_now_ms();
    while (lgt_now_ms() - t_start < PHASE_TIMEOUT_MS &&
           (lgt_now_ms() - t_start < LOAD_BEFORE_KILL_MS ||
            atomic_load(&acked_total) < MIN_ACKED_BEFORE_KILL)) {
        lgt_sleep_ms(LGT_POLL_MS);
    }
    unsigned before_kill = atomic_load(&acked_total);
    /* Phase 2: SIGKILL the leader; a new one must be known within the bound. */
    uint64_t t_kill = lgt_now_ms();
    lgt_node_kill(c, leader);
    unsigned new_leader = lgt_cluster_leader(c, FAILOVER_MAX_MS);
    uint64_t failover_ms = lgt_now_ms() - t_kill;
    LGT_CHECK(c, new_leader != leader, "the killed node is leader");
    LGT_CHECK(c, failover_ms < FAILOVER_MAX_MS, "new leader after %llu ms",
              (unsigned long long)failover_ms);
    unsigned at_failover = atomic_load(&acked_total);
    uint64_t t_after = lgt_now_ms();
    while (lgt_now_ms() - t_after < PHASE_TIMEOUT_MS &&
           (lgt_now_ms() - t_after < LOAD_AFTER_KILL_MS ||
            atomic_load(&acked_total) < at_failover + MIN_ACKED_BEFORE_KILL)) {
        lgt_sleep_ms(LGT_POLL_MS);
    }
    atomic_store(&stop, true);
    for (unsigned w = 0; w < LOAD_THREADS; w++) {
        pthread_join(wk[w].thread, NULL);
    }
    for (unsigned w = 0; w < LOAD_THREADS; w++) {
        LGT_CHECK(c, wk[w].failure[0] == '\0', "load thread %u: %s", w, wk[w].failure);
    }
    size_t acked = total_acked(wk, LOAD_THREADS);
    LGT_CHECK(c, before_kill >= MIN_ACKED_BEFORE_KILL, "only %u writes before the kill",
              before_kill);
    LGT_CHECK(c, acked >= at_failover + MIN_ACKED_BEFORE_KILL,
              "writes did not continue after the failover: %zu acknowledged, %u at failover",
              acked, at_failover);
    cr_log_info("failover in %llu ms; %u acks before the kill, %zu in all",
                (unsigned long long)failover_ms, before_kill, acked);

    /* Phase 3: restart the killed node; every replica converges. */
    lgt_node_start(c, leader);
    lgt_node_wait_ready(c, leader, LGT_READY_TIMEOUT_MS);
    uint64_t max_index = 0;
    for (unsigned w = 0; w < LOAD_THREADS; w++) {
        for (size_t k = 0; k < wk[w].n_acked; k++) {
            max_index = wk[w].acked[k].index > max_index ? wk[w].acked[k].index : max_index;
        }
    }
    lgt_cluster_wait_converged(c, max_index, LGT_CONVERGE_TIMEOUT_MS, NULL);
    check_after_load(c, wk, LOAD_THREADS);
    for (unsigned w = 0; w < LOAD_THREADS; w++) {
        free(wk[w].acked);
        free(wk[w].unknown);
    }
    lgt_cluster_pass(c);
}

Test(cluster, sigterm_leader_transfers_and_restart_resumes, .fini = lgt_cluster_fini,
     .timeout = 120)
{
    struct lgt_cluster_options o = {.n_nodes = 3};
    struct lgt_cluster *c = lgt_cluster_new(&o);
    lgt_cluster_start(c);
    unsigned leader = lgt_cluster_leader(c, LGT_LEADER_TIMEOUT_MS);
    struct lg_client *cl = lgt_cluster_client(c, NULL, 0, 5000, 40);
    enum { BEFORE = 10, AFTER = 10 };
    struct lg_proto_tx_result w[BEFORE + AFTER];
    char refs[BEFORE + AFTER][32];
    char dst[BEFORE + AFTER][32];
    for (unsigned k = 0; k < BEFORE + AFTER; k++) {
        snprintf(refs[k], sizeof refs[k], "term-%u", k);
        snprintf(dst[k], sizeof dst[k], "users:%u:main", k % 3u);
    }
    for (unsigned k = 0; k < BEFORE; k++) {
        struct lgt_transfer t = {.ledger = LEDGER, .source = "world", .destination = dst[k],
                                 .amount = k + 1u, .asset = ASSET, .reference = refs[k]};
        lgt_submit_ok(c, cl, &t, &w[k]);
    }
    /* SIGTERM: leadership is handed over, then the process exits 0. */
    uint64_t t0 = lgt_now_ms();
    lgt_node_signal(c, leader, SIGTERM);
    int st = 0;
    bool exited = lgt_node_wait_exit(c, leader, TERM_EXIT_MS, &st);
    uint64_t exit_ms = lgt_now_ms() - t0;
    LGT_CHECK(c, exited, "the leader still runs %u ms after SIGTERM", TERM_EXIT_MS);
    char text[64];
    LGT_CHECK(c, WIFEXITED(st) && WEXITSTATUS(st) == 0, "the SIGTERMed leader %s",
              lgt_wait_status_text(st, text, sizeof text));
    LGT_CHECK(c, lgt_node_log_contains(c, leader, "event=leadership_transferred", true),
              "the SIGTERMed leader did not log event=leadership_transferred");
    uint64_t t1 = lgt_now_ms();
    unsigned next = lgt_cluster_leader(c, TERM_NEW_LEADER_MS);
    LGT_CHECK(c, next != leader, "no new leader");
    cr_log_info("SIGTERM: exit after %llu ms, leader known %llu ms later",
                (unsigned long long)exit_ms, (unsigned long long)(lgt_now_ms() - t1));
    /* Writes continue. */
    for (unsigned k = BEFORE; k < BEFORE + AFTER; k++) {
        struct lgt_transfer t = {.ledger = LEDGER, .source = "world", .destination = dst[k],
                                 .amount = k + 1u, .asset = ASSET, .reference = refs[k]};
        lgt_submit_ok(c, cl, &t, &w[k]);
    }
    lg_client_close(cl);
    /* Restart with the same flags: --initial-cluster is ignored, the node resumes. */
    lgt_node_start(c, leader);
    lgt_node_wait_ready(c, leader, LGT_READY_TIMEOUT_MS);
    LGT_CHECK(c, lgt_node_log_contains(c, leader, "event=bootstrap_skipped", true),
              "the restarted node did not skip bootstrap");
    struct lgt_status conv;
    lgt_cluster_wait_converged(c, w[BEFORE + AFTER - 1].index, LGT_CONVERGE_TIMEOUT_MS, &conv);
    LGT_CHECK(c, conv.journal_seq == BEFORE + AFTER, "journal_seq %llu, %u writes",
              (unsigned long long)conv.journal_seq, BEFORE + AFTER);
    /* Everything written is readable on the restarted node. */
    struct lg_conn *conn = lgt_node_conn(c, leader, 10000);
    struct lg_arena arena;
    lg_arena_init(&arena, 0);
    for (unsigned k = 0; k < BEFORE + AFTER; k++) {
        struct lg_proto_request req;
        lgt_req_get_tx(&req, LEDGER, 0, refs[k], LG_PROTO_READ_STALE, 0);
        req.id = k + 1u;
        struct lg_proto_response resp;
        memset(&resp, 0, sizeof resp);
        char err[LG_ERRMSG_SIZE] = "";
        lg_arena_reset(&arena);
        int rc = lg_conn_call(conn, &req, &arena, &resp, err);
        LGT_CHECK(c, rc == LG_OK && resp.ok, "get_tx %s on the restarted node: %s %s",
                  refs[k], lg_err_name(rc), err);
        char h1[65], h2[65];
        LGT_CHECK(c, resp.u.get_tx.tx_id == w[k].tx_id &&
                         memcmp(resp.u.get_tx.hash, w[k].hash, LG_PROTO_HASH_BYTES) == 0,
                  "%s on the restarted node: tx %llu hash %s, written tx %llu hash %s", refs[k],
                  (unsigned long long)resp.u.get_tx.tx_id, lgt_hex(resp.u.get_tx.hash, h1),
                  (unsigned long long)w[k].tx_id, lgt_hex(w[k].hash, h2));
    }
    lg_arena_close(&arena);
    lg_conn_close(conn);
    lgt_cluster_pass(c);
}
