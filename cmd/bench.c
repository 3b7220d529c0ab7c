/* bench: `ledger-node bench`, transfers against a running cluster (docs/benchmarks.md).
 *
 *   ledger-node bench [--nodes H:P,...] [--mode closed|open] [--concurrency C]
 *                     [--rate R] [--connections K] [--batch B] [--accounts A]
 *                     [--duration S | --transfers N] [--ledger L] [--no-reference] [--json]
 *
 * Finds the leader, funds A accounts from `world` (batches of 1000, references so a re-run
 * on the same ledger does not fund twice), then sends transfers between random accounts:
 * - closed loop: C requests in flight at all times, spread over K connections
 *   (pipelined; default one per 256 in flight); new requests leave as soon as answers come.
 * - open loop: R requests a second offered on a fixed schedule over K connections,
 *   whatever the answers do; a request's latency counts from its scheduled time (no
 *   coordinated omission). At most LG_BENCH_OPEN_INFLIGHT_MAX in flight per connection:
 *   beyond that the schedule is late and the report says how many sends were late.
 * One thread per connection; each turn it sends every request that may leave in one write,
 * waits once, and takes every answer that read brought before sending again (a syscall
 * costs ~1 µs and a wake-up ~13 µs on a small VM: the client must not outspend a node).
 * A request carries one transfer (`submit`, B = 1) or B transfers (`submit_batch`, not
 * atomic). Every transfer carries a unique reference unless --no-reference. A progress
 * line each second (stderr). The report: transfers/s, requests/s, latency p50/p99/p999/max
 * per request, answers by code; --json prints it as one JSON object on stdout. A worker
 * stops at the first not_leader answer (the leader moved: resending would measure refusals).
 * A benchmark, not a test: it reports figures; exit 0 when every request was answered ok,
 * 1 when some failed or were rejected, 2 usage, 4 no leader. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../lib/assert.h"
#include "../lib/client.h"
#include "cli.h"
#include "cmd.h"

#define BENCH_CONNS_MAX 256u
#define BENCH_BATCH_MAX 1000u
#define BENCH_WINDOW_MAX 4096u
/* Closed loop, default: one connection per this many requests in flight. Each connection
 * costs the client a thread and a wake-up per burst of answers (~13 µs on a small VM): at
 * C = 64 on 2 cores, 1 connection gave the most transfers/s and 2..16 fewer (docs/cli.md).
 * Well under the server's LG_SERVER_INFLIGHT_MAX (1024) per connection. */
#define BENCH_CONN_INFLIGHT_DEFAULT 256u
/* Open loop: transfers in flight per connection (requests: this / batch + 1). */
#define LG_BENCH_OPEN_INFLIGHT_MAX 4096u
#define BENCH_FUND_BATCH 1000u
#define BENCH_NAME_BYTES 40u
/* A reference: "b", a 64-bit run id in hex, "-", a worker, "-", a sequence, "-", the index
 * in the batch. */
#define BENCH_REF_BYTES 64u
/* Latency histogram: log-linear, 2^7 sub-buckets per power of two (< 1 % error). */
#define HIST_SUB_BITS 7u
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_BUCKETS (HIST_SUB * 40u)

LG_STATIC_ASSERT(BENCH_CONNS_MAX <= 999u && BENCH_BATCH_MAX <= 1000u, "3 digits each");
LG_STATIC_ASSERT(BENCH_REF_BYTES >= 1u + 16u + 1u + 3u + 1u + 20u + 1u + 3u, "a reference fits");

static const char bench_usage[] =
    "usage: ledger-node bench [--nodes H:P,...] [--mode closed|open] [--concurrency C]\n"
    "                         [--rate R] [--connections K] [--batch B] [--accounts A]\n"
    "                         [--duration S | --transfers N] [--ledger L] [--no-reference]\n"
    "                         [--json]\n"
    "\n"
    "Transfers against a running cluster (the leader of --nodes, or $LEDGER_NODES).\n"
    "  --mode closed     C requests in flight at all times (default)\n"
    "  --mode open       R requests/s on a fixed schedule; latency from the scheduled time\n"
    "  --concurrency C   closed loop: requests in flight (default 64)\n"
    "  --rate R          open loop: requests offered per second (required)\n"
    "  --connections K   TCP connections (default: one per 256 requests in flight, so 1\n"
    "                    up to C = 256; open loop 8)\n"
    "  --batch B         transfers per request: 1 = submit (default), more = submit_batch\n"
    "  --accounts A      accounts the transfers pick from (default 10000; fewer = more\n"
    "                    contention on the same balances)\n"
    "  --duration S      seconds to run (default 10), or --transfers N to stop after N\n"
    "  --ledger L        ledger name (default bench)\n"
    "  --no-reference    transfers without a reference (no exactly-once index)\n"
    "  --json            the report as one JSON object\n";

struct hist {
    uint64_t n[HIST_BUCKETS];
    uint64_t count;
    uint64_t max;
    uint64_t sum;
};

static unsigned hist_index(uint64_t v)
{
    if (v < HIST_SUB) {
        return (unsigned)v;
    }
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - HIST_SUB_BITS + 1u;
    unsigned idx = (shift + 1u) * HIST_SUB / 2u + (unsigned)((v >> shift) - HIST_SUB / 2u);
    return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1u;
}

/* The lowest value of bucket idx (inverse of hist_index). */
static uint64_t hist_value(unsigned idx)
{
    if (idx < HIST_SUB) {
        return idx;
    }
    unsigned shift = idx / (HIST_SUB / 2u) - 1u;
    uint64_t sub = idx % (HIST_SUB / 2u) + HIST_SUB / 2u;
    return sub << shift;
}

static void hist_add(struct hist *h, uint64_t v)
{
    h->n[hist_index(v)]++;
    h->count++;
    h->sum += v;
    h->max = v > h->max ? v : h->max;
}

static void hist_merge(struct hist *into, const struct hist *h)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        into->n[i] += h->n[i];
    }
    into->count += h->count;
    into->sum += h->sum;
    into->max = h->max > into->max ? h->max : into->max;
}

static uint64_t hist_quantile(const struct hist *h, double q)
{
    if (h->count == 0) {
        return 0;
    }
    uint64_t rank = (uint64_t)ceil(q * (double)h->count);
    rank = rank == 0 ? 1 : rank;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->n[i];
        if (seen >= rank) {
            uint64_t v = hist_value(i);
            return v > h->max ? h->max : v;
        }
    }
    return h->max;
}

struct opts {
    const char *nodes[LG_CLIENT_NODES_MAX];
    uint32_t n_nodes;
    bool open;
    unsigned concurrency;
    double rate;
    unsigned connections;
    unsigned batch;
    unsigned accounts;
    double duration_s;
    uint64_t transfers; /* 0: run for duration */
    const char *ledger;
    bool reference;
    bool json;
};

struct shared {
    const struct opts *o;
    char leader[LG_CLIENT_ADDRESS_BYTES_MAX + 1];
    uint64_t run_id;
    uint64_t t0_ns;
    uint64_t end_ns;              /* duration mode */
    atomic_uint_fast64_t budget;  /* transfers mode: transfers left to hand out */
    atomic_uint_fast64_t done_transfers;
    atomic_uint_fast64_t done_requests;
    atomic_bool stop;
};

struct worker {
    pthread_t thread;
    struct shared *sh;
    unsigned index;
    unsigned window;   /* closed loop: in flight on this connection */
    double rate;       /* open loop: requests/s on this connection */
    struct hist lat;   /* per request, µs */
    uint64_t transfers_ok;
    uint64_t by_code[LG_ERR_COUNT];
    uint64_t late;     /* open loop: sends after their schedule because the window was full */
    uint64_t rng;
    int fatal;         /* transport failure that ended this worker */
    bool joined;       /* the main thread joined it */
    char errmsg[LG_ERRMSG_SIZE];
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* One request in flight; its transfers are txs/posts/names/refs [slot * batch, + n). */
struct slot {
    uint64_t id;        /* 0: free */
    uint64_t sched_ns;  /* when it was due (open) or sent (closed) */
    uint32_t n;
};

/* Take up to want transfers from the shared budget (transfers mode); t_ns is now. */
static uint32_t take(struct shared *sh, uint32_t want, uint64_t t_ns)
{
    if (sh->o->transfers == 0) {
        return t_ns < sh->end_ns && !atomic_load(&sh->stop) ? want : 0u;
    }
    uint_fast64_t left = atomic_load(&sh->budget);
    while (left > 0) {
        uint32_t n = left < want ? (uint32_t)left : want;
        if (atomic_compare_exchange_weak(&sh->budget, &left, left - n)) {
            return n;
        }
    }
    return 0;
}

struct wmem {
    struct slot *slots;    /* window */
    struct lg_proto_submit *txs;        /* window * batch */
    struct lg_posting *posts;           /* window * batch */
    char (*names)[2][BENCH_NAME_BYTES]; /* window * batch */
    char (*refs)[BENCH_REF_BYTES];      /* window * batch */
    unsigned *fresh;       /* window: slots whose requests are in out */
    struct lg_buf out;     /* the request frames of one write */
    char ref_prefix[BENCH_REF_BYTES];   /* "b<run id>-<worker>-" */
    uint32_t ref_prefix_len;
    unsigned window;
};

/* Decimal digits of v at p (no NUL); returns the end. At most 20 characters. */
static char *put_u64(char *p, uint64_t v)
{
    char tmp[20];
    unsigned n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0);
    while (n > 0) {
        *p++ = tmp[--n];
    }
    return p;
}

/* "bench:<a>" into out; its length. */
static uint32_t put_account(char out[BENCH_NAME_BYTES], unsigned a)
{
    static const char prefix[] = "bench:";
    memcpy(out, prefix, sizeof prefix - 1u);
    char *end = put_u64(out + sizeof prefix - 1u, a);
    *end = '\0';
    return (uint32_t)(end - out);
}

/* Point every transfer at its strings once: fill() then writes only what changes. */
static void wmem_link(struct worker *w, struct wmem *m)
{
    const struct opts *o = w->sh->o;
    size_t n = (size_t)m->window * o->batch;
    for (size_t at = 0; at < n; at++) {
        struct lg_posting *p = &m->posts[at];
        p->source = (struct lg_str){m->names[at][0], 0};
        p->destination = (struct lg_str){m->names[at][1], 0};
        p->asset = lg_cmd_cli_str("USD/2");
        struct lg_proto_submit *t = &m->txs[at];
        t->ledger = lg_cmd_cli_str(o->ledger);
        t->postings = p;
        t->n_postings = 1;
        t->reference = (struct lg_str){o->reference ? m->refs[at] : NULL, 0};
    }
    int len = snprintf(m->ref_prefix, sizeof m->ref_prefix, "b%llx-%u-",
                       (unsigned long long)w->sh->run_id, w->index);
    LG_ASSERT(len > 0 && (size_t)len < sizeof m->ref_prefix);
    m->ref_prefix_len = (uint32_t)len;
}

/* n random transfers for slot si; references "b<run id>-<worker>-<seq>-<k>". */
static void fill(struct worker *w, struct wmem *m, unsigned si, uint32_t n, uint64_t seq)
{
    const struct opts *o = w->sh->o;
    m->slots[si].n = n;
    for (uint32_t k = 0; k < n; k++) {
        size_t at = (size_t)si * o->batch + k;
        uint64_t r = rng_next(&w->rng);
        unsigned a = (unsigned)(r % o->accounts);
        unsigned b = (unsigned)((r >> 32) % (o->accounts - 1u));
        b = b >= a ? b + 1u : b;
        struct lg_posting *p = &m->posts[at];
        p->source.len = put_account(m->names[at][0], a);
        p->destination.len = put_account(m->names[at][1], b);
        p->amount = (lg_u128)(1u + r % 100u);
        if (o->reference) {
            char *ref = m->refs[at];
            memcpy(ref, m->ref_prefix, m->ref_prefix_len);
            char *end = put_u64(ref + m->ref_prefix_len, seq);
            *end++ = '-';
            end = put_u64(end, k);
            m->txs[at].reference.len = (uint32_t)(end - ref);
        }
    }
}

/* Append slot si's request frame to m->out. */
static int encode_slot(struct worker *w, struct wmem *m, unsigned si)
{
    struct slot *s = &m->slots[si];
    struct lg_proto_submit *txs = &m->txs[(size_t)si * w->sh->o->batch];
    struct lg_proto_request req;
    memset(&req, 0, sizeof req);
    req.id = s->id;
    if (s->n == 1 && w->sh->o->batch == 1) {
        req.op = LG_PROTO_OP_SUBMIT;
        req.u.submit = txs[0];
    } else {
        req.op = LG_PROTO_OP_SUBMIT_BATCH;
        req.u.batch.txs = txs;
        req.u.batch.n_txs = s->n;
    }
    return lg_proto_encode_request(&req, &m->out, w->errmsg);
}

/* Answers taken by one wake of a worker. */
struct answers {
    uint64_t t_ns;      /* when they were read (0: not yet) */
    uint64_t requests;
    uint64_t transfers;
};

/* Take one answer and account for it: waiting for it (within the connection's timeout)
 * when wait, else only one already read. LG_OK: one answered; LG_ETIMEOUT: none; else
 * the connection failed. */
static int receive(struct worker *w, struct lg_conn *c, struct wmem *m, struct lg_arena *arena,
                   bool wait, struct answers *got)
{
    const uint8_t *body = NULL;
    size_t len = 0;
    int rc = wait ? lg_conn_recv_frame_wait(c, &body, &len, w->errmsg)
                  : lg_conn_recv_buffered(c, &body, &len, w->errmsg);
    if (rc != LG_OK) {
        return rc;
    }
    if (got->t_ns == 0) {
        got->t_ns = now_ns(); /* every answer of this read was there by now */
    }
    uint64_t id = 0;
    if (lg_conn_response_id(body, len, &id) != LG_OK) {
        return LG_EBADREQ;
    }
    unsigned si = (unsigned)((id - 1u) % m->window);
    struct slot *s = &m->slots[si];
    if (s->id != id) {
        return LG_EBADREQ;
    }
    uint8_t op = s->n == 1 && w->sh->o->batch == 1 ? LG_PROTO_OP_SUBMIT
                                                    : LG_PROTO_OP_SUBMIT_BATCH;
    struct lg_proto_response resp;
    lg_arena_reset(arena);
    rc = lg_proto_decode_response(op, body, len, arena, &resp, w->errmsg);
    if (rc != LG_OK) {
        return rc;
    }
    hist_add(&w->lat, got->t_ns > s->sched_ns ? (got->t_ns - s->sched_ns) / 1000u : 0u);
    bool moved = false;
    if (!resp.ok) {
        w->by_code[resp.error.code < LG_ERR_COUNT ? resp.error.code : LG_EIO]++;
        moved = resp.error.code == LG_ENOTLEADER;
    } else if (op == LG_PROTO_OP_SUBMIT) {
        w->by_code[LG_OK]++;
        w->transfers_ok++;
    } else {
        for (uint32_t k = 0; k < resp.u.batch.n_items; k++) {
            const struct lg_proto_batch_item *it = &resp.u.batch.items[k];
            int code = it->ok ? LG_OK : it->error.code;
            w->by_code[code < LG_ERR_COUNT ? code : LG_EIO]++;
            w->transfers_ok += it->ok ? 1u : 0u;
        }
    }
    got->transfers += s->n;
    got->requests++;
    s->id = 0;
    if (moved) { /* resending to a node that is no longer leader only measures refusals */
        return lg_errmsg_printf(w->errmsg, LG_ENOTLEADER,
                                "%s is no longer the leader (leader now: %.*s)", w->sh->leader,
                                (int)resp.error.leader.len,
                                resp.error.leader.len > 0 ? resp.error.leader.ptr : "unknown");
    }
    return LG_OK;
}

/* One connection's loop. Each turn: every request that may leave now, encoded into one
 * buffer and sent in one write; then one wait for an answer (poll, then one read) and
 * every other answer that read brought, taken without a system call. */
static void *worker_run(void *arg)
{
    struct worker *w = arg;
    struct shared *sh = w->sh;
    const struct opts *o = sh->o;
    struct wmem m;
    memset(&m, 0, sizeof m);
    m.window = o->open ? LG_BENCH_OPEN_INFLIGHT_MAX / o->batch + 1u : w->window;
    m.slots = calloc(m.window, sizeof *m.slots);
    m.txs = calloc((size_t)m.window * o->batch, sizeof *m.txs);
    m.posts = calloc((size_t)m.window * o->batch, sizeof *m.posts);
    m.names = calloc((size_t)m.window * o->batch, sizeof *m.names);
    m.refs = o->reference ? calloc((size_t)m.window * o->batch, sizeof *m.refs) : NULL;
    m.fresh = calloc(m.window, sizeof *m.fresh);
    lg_buf_init(&m.out);
    struct lg_arena arena;
    lg_arena_init(&arena, 4u << 20);
    struct lg_conn *c = NULL;
    if (m.slots == NULL || m.txs == NULL || m.posts == NULL || m.names == NULL ||
        (o->reference && m.refs == NULL) || m.fresh == NULL) {
        w->fatal = LG_ENOMEM;
        goto out;
    }
    wmem_link(w, &m);
    if ((w->fatal = lg_conn_open(&c, sh->leader, 3000, w->errmsg)) != LG_OK) {
        goto out;
    }
    uint64_t next_id = 1;
    unsigned inflight = 0;
    bool more = true;
    double interval_ns = o->open ? 1e9 / w->rate : 0.0;
    uint64_t sent = 0; /* open loop: requests sent, for the schedule */
    unsigned timeout_ms = 0;
    while ((more || inflight > 0) && !atomic_load(&sh->stop)) {
        /* Every request that may leave now, in one write. */
        lg_buf_reset(&m.out);
        unsigned n_fresh = 0;
        uint64_t t = now_ns();
        while (more && inflight + n_fresh < m.window) {
            uint64_t due = o->open ? sh->t0_ns + (uint64_t)(interval_ns * (double)sent) : t;
            if (due > t) {
                break;
            }
            unsigned si = (unsigned)((next_id - 1u) % m.window);
            if (m.slots[si].id != 0) { /* the oldest is still out: wait for it */
                break;
            }
            uint32_t n = take(sh, o->batch, t);
            if (n == 0) {
                more = false;
                break;
            }
            fill(w, &m, si, n, next_id);
            m.slots[si].id = next_id;
            m.slots[si].sched_ns = due;
            if ((w->fatal = encode_slot(w, &m, si)) != LG_OK) {
                goto out;
            }
            m.fresh[n_fresh++] = si;
            next_id++;
            sent++;
        }
        if (n_fresh > 0) {
            if (!o->open) { /* closed loop: latency from the write */
                uint64_t t_send = now_ns();
                for (unsigned i = 0; i < n_fresh; i++) {
                    m.slots[m.fresh[i]].sched_ns = t_send;
                }
            }
            if (timeout_ms != 30000u) { /* a send gets the full timeout, not the wait's */
                lg_conn_set_timeout(c, 30000u);
                timeout_ms = 30000u;
            }
            if ((w->fatal = lg_conn_send_raw(c, m.out.data, m.out.len, w->errmsg)) != LG_OK) {
                goto out;
            }
            inflight += n_fresh;
        }
        if (o->open && more && inflight == m.window) {
            w->late++;
        }
        if (inflight == 0) {
            if (!more) {
                break;
            }
            uint64_t due = sh->t0_ns + (uint64_t)(interval_ns * (double)sent);
            t = now_ns();
            if (due > t) {
                struct timespec ts = {0, (long)(due - t)};
                nanosleep(&ts, NULL);
            }
            continue;
        }
        /* Wait for an answer: until the next send is due (open), else up to 30 s. */
        unsigned wait_ms = 30000;
        if (o->open && more) {
            uint64_t due = sh->t0_ns + (uint64_t)(interval_ns * (double)sent);
            t = now_ns();
            wait_ms = due > t ? (unsigned)((due - t) / 1000000u) + 1u : 1u;
        }
        if (wait_ms != timeout_ms) {
            lg_conn_set_timeout(c, wait_ms);
            timeout_ms = wait_ms;
        }
        struct answers got = {0, 0, 0};
        int rc = receive(w, c, &m, &arena, true, &got);
        while (rc == LG_OK) {
            inflight--;
            rc = receive(w, c, &m, &arena, false, &got);
        }
        if (got.requests > 0) {
            atomic_fetch_add(&sh->done_transfers, got.transfers);
            atomic_fetch_add(&sh->done_requests, got.requests);
        }
        if (rc != LG_ETIMEOUT || (!o->open && got.requests == 0)) {
            w->fatal = rc;
            goto out;
        }
    }
out:
    lg_conn_close(c);
    lg_arena_close(&arena);
    lg_buf_close(&m.out);
    free(m.slots);
    free(m.txs);
    free(m.posts);
    free(m.names);
    free(m.refs);
    free(m.fresh);
    return NULL;
}

static int find_leader(const struct opts *o, char *out, size_t size)
{
    struct lg_arena arena;
    lg_arena_init(&arena, 1u << 16);
    int rc = -1;
    for (int round = 0; round < 50 && rc != 0; round++) {
        for (uint32_t i = 0; i < o->n_nodes && rc != 0; i++) {
            struct lg_proto_status st;
            lg_arena_reset(&arena);
            if (lg_cmd_cli_node_status(o->nodes[i], &arena, &st) == LG_OK &&
                st.leader_client.len > 0 && st.leader_client.len < size) {
                memcpy(out, st.leader_client.ptr, st.leader_client.len);
                out[st.leader_client.len] = '\0';
                rc = 0;
            }
        }
        if (rc != 0) {
            usleep(100000);
        }
    }
    lg_arena_close(&arena);
    return rc;
}

/* Fund every account from world (idempotent by reference). */
static int fund(const struct opts *o, const char *leader)
{
    struct lg_client *cl = NULL;
    char err[LG_ERRMSG_SIZE];
    struct lg_client_options co = {.nodes = &leader, .n_nodes = 1, .request_timeout_ms = 30000};
    if (lg_client_open(&cl, &co, err) != LG_OK) {
        return lg_cmd_fail(LG_CMD_EXIT_UNAVAIL, "bench: %s", err);
    }
    static struct lg_proto_submit txs[BENCH_FUND_BATCH];
    static struct lg_posting posts[BENCH_FUND_BATCH];
    static char names[BENCH_FUND_BATCH][2][BENCH_NAME_BYTES];
    struct lg_arena arena;
    lg_arena_init(&arena, 8u << 20);
    int rc = 0;
    for (unsigned first = 0; first < o->accounts && rc == 0; first += BENCH_FUND_BATCH) {
        unsigned n = o->accounts - first < BENCH_FUND_BATCH ? o->accounts - first
                                                            : BENCH_FUND_BATCH;
        for (unsigned k = 0; k < n; k++) {
            snprintf(names[k][0], BENCH_NAME_BYTES, "bench:%u", first + k);
            snprintf(names[k][1], BENCH_NAME_BYTES, "bench-fund-%u", first + k);
            memset(&posts[k], 0, sizeof posts[k]);
            posts[k].source = lg_cmd_cli_str("world");
            posts[k].destination = lg_cmd_cli_str(names[k][0]);
            posts[k].asset = lg_cmd_cli_str("USD/2");
            posts[k].amount = (lg_u128)1000000000000u;
            memset(&txs[k], 0, sizeof txs[k]);
            txs[k].ledger = lg_cmd_cli_str(o->ledger);
            txs[k].postings = &posts[k];
            txs[k].n_postings = 1;
            txs[k].reference = lg_cmd_cli_str(names[k][1]);
        }
        struct lg_proto_request req;
        memset(&req, 0, sizeof req);
        req.op = LG_PROTO_OP_SUBMIT_BATCH;
        req.u.batch.txs = txs;
        req.u.batch.n_txs = n;
        struct lg_proto_response resp;
        lg_arena_reset(&arena);
        if (lg_client_call(cl, &req, &arena, &resp, err) != LG_OK) {
            rc = lg_cmd_fail(LG_CMD_EXIT_UNAVAIL, "bench: funding: %s", err);
        } else if (!resp.ok) {
            rc = lg_cmd_fail(LG_CMD_EXIT_FAILED, "bench: funding: %s: %.*s",
                             lg_err_wire(resp.error.code), (int)resp.error.message.len,
                             resp.error.message.ptr);
        }
    }
    lg_arena_close(&arena);
    lg_client_close(cl);
    return rc;
}

static int parse_opts(int argc, char **argv, struct opts *o, char *nodes_copy, size_t size)
{
    const char *nodes = getenv("LEDGER_NODES");
    double rate = 0;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        if (strcmp(f, "--help") == 0 || strcmp(f, "-h") == 0) {
            fputs(bench_usage, stdout);
            return -1;
        }
        if (strcmp(f, "--json") == 0) {
            o->json = true;
            continue;
        }
        if (strcmp(f, "--no-reference") == 0) {
            o->reference = false;
            continue;
        }
        if (i + 1 >= argc) {
            return lg_cmd_fail(LG_CMD_EXIT_USAGE, "bench: %s needs a value", f);
        }
        const char *v = argv[++i];
        uint64_t u = 0;
        bool num = lg_cmd_cli_u64(v, UINT32_MAX, &u);
        if (strcmp(f, "--nodes") == 0) {
            nodes = v;
        } else if (strcmp(f, "--ledger") == 0) {
            o->ledger = v;
        } else if (strcmp(f, "--mode") == 0) {
            if (strcmp(v, "open") != 0 && strcmp(v, "closed") != 0) {
                return lg_cmd_fail(LG_CMD_EXIT_USAGE, "bench: --mode is open or closed");
            }
            o->open = strcmp(v, "open") == 0;
        } else if (!num || u == 0) {
            return lg_cmd_fail(LG_CMD_EXIT_USAGE, "bench: %s needs a positive integer, got "
                               "'%s'", f, v);
        } else if (strcmp(f, "--concurrency") == 0) {
            o->concurrency = (unsigned)u;
        } else if (strcmp(f, "--rate") == 0) {
            rate = (double)u;
        } else if (strcmp(f, "--connections") == 0) {
            o->connections = (unsigned)u;
        } else if (strcmp(f, "--batch") == 0) {
            o->batch = (unsigned)u;
        } else if (strcmp(f, "--accounts") == 0) {
            o->accounts = (unsigned)u;
        } else if (strcmp(f, "--duration") == 0) {
            o->duration_s = (double)u;
        } else if (strcmp(f, "--transfers") == 0) {
            o->transfers = u;
        } else {
            fputs(bench_usage, stderr);
            return lg_cmd_fail(LG_CMD_EXIT_USAGE, "bench: unknown flag '%s'", f);
        }
    }
    o->rate = rate;
    if (o->open && rate <= 0) {
        return lg_cmd_fail(LG_CMD_EXIT_USAGE, "bench: --mode open needs --rate");
    }
    if (o->connections == 0) {
        uint64_t k = ((uint64_t)o->concurrency + BENCH_CONN_INFLIGHT_DEFAULT - 1u) /
                     BENCH_CONN_INFLIGHT_DEFAULT;
        o->connections = o->open ? 8u : (k < BENCH_CONNS_MAX ? (unsigned)k : BENCH_CONNS_MAX);
    }
    if (o->batch > BENCH_BATCH_MAX || o->connections > BENCH_CONNS_MAX || o->accounts < 2 ||
        (!o->open && (o->concurrency < o->connections ||
                      o->concurrency / o->connections > BENCH_WINDOW_MAX))) {
        return lg_cmd_fail(LG_CMD_EXIT_USAGE,
                           "bench: --batch <= %u, --connections <= %u and <= --concurrency, "
                           "--accounts >= 2", BENCH_BATCH_MAX, BENCH_CONNS_MAX);
    }
    if (nodes == NULL || nodes[0] == '\0') {
        nodes = "127.0.0.1:7201";
    }
    snprintf(nodes_copy, size, "%s", nodes);
    for (char *p = nodes_copy; p != NULL && *p != '\0' && o->n_nodes < LG_CLIENT_NODES_MAX;) {
        o->nodes[o->n_nodes++] = p;
        p = strchr(p, ',');
        if (p != NULL) {
            *p++ = '\0';
        }
    }
    return 0;
}

int lg_cmd_bench(int argc, char **argv)
{
    static struct opts o = {.concurrency = 64, .batch = 1, .accounts = 10000,
                            .duration_s = 10, .ledger = "bench", .reference = true};
    static char nodes_copy[4096];
    int rc = parse_opts(argc, argv, &o, nodes_copy, sizeof nodes_copy);
    if (rc != 0) {
        return rc < 0 ? LG_CMD_EXIT_OK : rc;
    }
    static struct shared sh;
    sh.o = &o;
    if (find_leader(&o, sh.leader, sizeof sh.leader) != 0) {
        return lg_cmd_fail(LG_CMD_EXIT_UNAVAIL, "bench: no node of --nodes reports a leader");
    }
    if ((rc = fund(&o, sh.leader)) != 0) {
        return rc;
    }
    sh.run_id = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    atomic_store(&sh.budget, o.transfers);
    static struct worker w[BENCH_CONNS_MAX];
    sh.t0_ns = now_ns();
    sh.end_ns = sh.t0_ns + (uint64_t)(o.duration_s * 1e9);
    for (unsigned i = 0; i < o.connections; i++) {
        w[i].sh = &sh;
        w[i].index = i;
        w[i].rng = 0x9e3779b97f4a7c15u * (i + 1u) ^ sh.run_id;
        w[i].window = o.concurrency / o.connections + (i < o.concurrency % o.connections);
        w[i].rate = o.rate / o.connections;
        pthread_create(&w[i].thread, NULL, worker_run, &w[i]);
    }
    /* Progress, once a second, until every worker is done. */
    bool tty = isatty(STDERR_FILENO) != 0;
    uint64_t last_t = sh.t0_ns;
    uint64_t last_n = 0;
    for (;;) {
        usleep(100000);
        /* Each worker is joined exactly once (a second join of a joined thread is
         * undefined: it crashed when workers finished at different times). */
        bool all = true;
        for (unsigned i = 0; i < o.connections; i++) {
            if (!w[i].joined && pthread_tryjoin_np(w[i].thread, NULL) == 0) {
                w[i].joined = true;
            }
            all = all && w[i].joined;
        }
        uint64_t t = now_ns();
        if (t - last_t >= 1000000000u || all) {
            uint64_t n = atomic_load(&sh.done_transfers);
            fprintf(stderr, "%s  %5.1f s  %llu transfers  %.0f transfers/s%s",
                    tty ? "\r" : "", (double)(t - sh.t0_ns) / 1e9, (unsigned long long)n,
                    (double)(n - last_n) * 1e9 / (double)(t - last_t), tty ? "   " : "\n");
            last_t = t;
            last_n = n;
        }
        if (all) {
            break;
        }
    }

    if (tty) {
        fputc('\n', stderr);
    }
    double secs = (double)(now_ns() - sh.t0_ns) / 1e9;
    static struct hist all;
    uint64_t by_code[LG_ERR_COUNT] = {0};
    uint64_t ok = 0;
    uint64_t late = 0;
    int fatal = 0;
    for (unsigned i = 0; i < o.connections; i++) {
        hist_merge(&all, &w[i].lat);
        for (int k = 0; k < LG_ERR_COUNT; k++) {
            by_code[k] += w[i].by_code[k];
        }
        ok += w[i].transfers_ok;
        late += w[i].late;
        if (w[i].fatal != LG_OK && w[i].fatal != LG_ETIMEOUT) {
            fatal = w[i].fatal;
            fprintf(stderr, "ledger-node: bench: connection %u: %s: %s\n", i,
                    lg_err_wire(w[i].fatal), w[i].errmsg);
        }
    }
    double p50 = (double)hist_quantile(&all, 0.50) / 1000.0;
    double p99 = (double)hist_quantile(&all, 0.99) / 1000.0;
    double p999 = (double)hist_quantile(&all, 0.999) / 1000.0;
    double max = (double)all.max / 1000.0;
    uint64_t failed = 0;
    for (int k = 1; k < LG_ERR_COUNT; k++) {
        failed += by_code[k];
    }
    if (o.json) {
        printf("{\"mode\":\"%s\",\"leader\":\"%s\",\"connections\":%u,\"concurrency\":%u,"
               "\"rate\":%.0f,\"batch\":%u,\"accounts\":%u,\"reference\":%s,\"seconds\":%.3f,"
               "\"requests\":%llu,\"transfers_ok\":%llu,\"transfers_failed\":%llu,"
               "\"transfers_per_s\":%.1f,\"requests_per_s\":%.1f,\"late_sends\":%llu,"
               "\"latency_ms\":{\"p50\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f},"
               "\"answers\":{",
               o.open ? "open" : "closed", sh.leader, o.connections,
               o.open ? 0u : o.concurrency, o.rate, o.batch, o.accounts,
               o.reference ? "true" : "false", secs, (unsigned long long)all.count,
               (unsigned long long)ok, (unsigned long long)failed, (double)ok / secs,
               (double)all.count / secs, (unsigned long long)late, p50, p99, p999, max);
        bool first = true;
        for (int k = 0; k < LG_ERR_COUNT; k++) {
            if (by_code[k] != 0) {
                printf("%s\"%s\":%llu", first ? "" : ",", lg_err_name(k),
                       (unsigned long long)by_code[k]);
                first = false;
            }
        }
        printf("}}\n");
    } else {
        printf("%s loop, leader %s, %u connections, %s %.0f, batch %u, %u accounts%s\n",
               o.open ? "open" : "closed", sh.leader, o.connections,
               o.open ? "rate" : "concurrency", o.open ? o.rate : (double)o.concurrency,
               o.batch, o.accounts, o.reference ? ", references" : "");
        printf("%.2f s: %llu transfers ok (%.0f transfers/s), %llu requests (%.0f/s)\n", secs,
               (unsigned long long)ok, (double)ok / secs, (unsigned long long)all.count,
               (double)all.count / secs);
        printf("latency per request: p50 %.3f ms  p99 %.3f ms  p999 %.3f ms  max %.3f ms\n",
               p50, p99, p999, max);
        for (int k = 1; k < LG_ERR_COUNT; k++) {
            if (by_code[k] != 0) {
                printf("answers %s: %llu\n", lg_err_wire(k), (unsigned long long)by_code[k]);
            }
        }
        if (late != 0) {
            printf("late sends (%u transfers in flight): %llu\n", LG_BENCH_OPEN_INFLIGHT_MAX,
                   (unsigned long long)late);
        }
    }
    return fatal != 0 || failed != 0 || all.count == 0 ? LG_CMD_EXIT_FAILED : LG_CMD_EXIT_OK;
}
