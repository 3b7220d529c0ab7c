/* node: one ledger node on one libuv loop (FSM + raft_uv + transport + queue + reads). */
#include "node.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../lib/assert.h"
#include "../lib/client.h"
#include "../lib/journal.h"
#include "../lib/log.h"
#include "../lib/mem.h"
#include "fsm_adapter.h"
#include "members.h"
#include "peer.h"

#define PATH_BYTES 4096u
/* The tick timer: read deadlines, role changes and the stop sequence are looked at this
 * often even when nothing else wakes the loop. */
#define TICK_MS 20u
/* Journal catch-up: each journal_read page is bounded; the fill tries each known peer. */
#define GAP_REQUEST_TIMEOUT_MS 10000u
#define GAP_CONNECT_TIMEOUT_MS 2000u
/* Budget of a fill that an apply waits for (the loop is blocked meanwhile). */
#define GAP_APPLY_BUDGET_MS 60000u

enum read_state {
    R_WAIT_INDEX = 0, /* until applied >= wait_index */
    R_NEED_BARRIER,   /* leader linearizable: a barrier issued after arrival */
    R_WAIT_BARRIER,   /* ... issued as generation barrier_gen */
    R_NEED_INDEX,     /* follower linearizable: ask the leader */
    R_WAIT_RI,        /* ... asked as generation barrier_gen */
};

/* One raft_io request whose callback we interposed. A process-wide list (loop thread
 * only): raft_uv calls our callback with the request alone. */
struct io_wrap {
    struct io_wrap *next;
    struct lg_node *node;
    void *req;
    uint64_t started_ms; /* loop time when handed to raft_uv (the watchdog's clock) */
    raft_io_append_cb append_cb;
    raft_io_snapshot_put_cb snapshot_put_cb;
};
static struct io_wrap *io_wraps;

struct lg_node {
    uv_loop_t *loop;
    uint64_t id;
    char raft_dir[PATH_BYTES];
    char raft_address[LG_RAFT_ADDRESS_BYTES_MAX];
    char client_address[LG_RAFT_ADDRESS_BYTES_MAX];
    unsigned read_timeout_ms;

    struct lg_fsm *fsm;
    struct lg_raft_fsm adapter;
    struct raft_uv_transport transport;
    bool transport_inited;
    struct raft_io io;
    bool io_inited;
    struct raft raft;
    bool raft_inited;
    bool raft_log_found; /* metadata1/2 existed before raft_init */
    struct lg_raft_queue queue;
    bool queue_inited;
    struct raft_transfer transfer; /* lives until raft_close's callback (c-raft #396) */

    /* raft_io wrapper: every disk write error is fatal (DESIGN §7). */
    int (*io_append)(struct raft_io *, struct raft_io_append *, const struct raft_entry[],
                     unsigned, raft_io_append_cb);
    int (*io_truncate)(struct raft_io *, raft_index);
    int (*io_snapshot_put)(struct raft_io *, unsigned, struct raft_io_snapshot_put *,
                           const struct raft_snapshot *, raft_io_snapshot_put_cb);
    int (*io_set_term)(struct raft_io *, raft_term);
    int (*io_set_vote)(struct raft_io *, raft_id);
    uint64_t appends;
    uint64_t fail_append_at; /* test seam (LEDGER_FAULT_APPEND_FAIL_AT), 0: off */
    uint64_t stall_append_at; /* test seam (LEDGER_FAULT_APPEND_STALL_AT), 0: off */
    uint64_t io_watchdog_ms;  /* a write outstanding this long is fatal */

    uv_prepare_t prepare;
    uv_timer_t tick;
    unsigned handles_open;

    /* Reads waiting, in arrival order. */
    struct lg_node_read *reads;
    struct lg_node_read *reads_tail;
    struct raft_barrier read_barrier;
    bool read_barrier_pending;
    uint64_t read_barrier_gen;
    uint64_t gen;        /* last barrier / read_index generation issued */
    uint64_t gen_done;   /* newest barrier generation applied here */
    struct lg_peer *peer;

    /* Journal catch-up after a restore (gap_hook, gap_turn). */
    uint64_t gap_restores_seen;
    uint64_t gap_retry_ms; /* 0: nothing to do; else loop time of the next attempt */
    bool gap_started_logged;

    /* Membership driven by gossip (raft/members.h): what gossip reported, the one change
     * in flight (its request lives here until its callback, which raft_close also runs),
     * and when the leader plans next. */
    struct lg_members_table gossip;
    struct lg_members_params members_params;
    char cluster[LG_DISC_CLUSTER_MAX + 1];
    struct raft_change change;
    bool change_inflight;
    uint8_t change_op;
    uint64_t change_id;
    uint64_t change_started_ms;
    uint64_t members_due_ms;
    bool members_enabled; /* gossip is authenticated (lg_node_config.gossip_authenticated) */
    /* When the leader last saw libraft's recent_recv set for each server (sampled every
     * loop turn: libraft clears it every election timeout), by id; 0: free slot. */
    uint64_t contact_id[LG_MEMBERS_SERVERS_MAX];
    uint64_t contact_ms[LG_MEMBERS_SERVERS_MAX];

    /* What the log said last. */
    int last_state;
    uint64_t last_leader;
    uint64_t last_snapshots;
    /* Log bounds from the mean entry size (lg_raft_log_limits), revised once a second. */
    unsigned max_threshold;
    unsigned max_trailing;
    unsigned threshold;
    unsigned trailing;
    uint64_t limits_ms;
    uint64_t limits_entries;
    uint64_t limits_bytes;
    uint64_t last_restores;

    /* Stop sequence. */
    bool stopping;
    bool closing;
    bool raft_closed;
    uint64_t drain_deadline_ms;    /* leader stopping: until in-flight writes are answered */
    uint64_t transfer_deadline_ms;
    lg_node_stop_cb stop_cb;
    void *stop_arg;
};

static uint64_t wall_us(void *arg)
{
    (void)arg;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The client address of peer id: what it announced in its transport handshake, else what
 * gossip metadata says (a node of our cluster only). False when neither knows. */
static bool peer_client(struct lg_node *n, uint64_t id, char *out, size_t size)
{
    if (lg_raft_transport_peer_client(&n->transport, id, out, size)) {
        return true;
    }
    const struct lg_members_peer *p = lg_members_table_find(&n->gossip, id);
    if (p == NULL || p->client_address[0] == '\0' ||
        (n->cluster[0] != '\0' && strcmp(p->cluster, n->cluster) != 0)) {
        return false;
    }
    int w = snprintf(out, size, "%s", p->client_address);
    return w > 0 && (size_t)w < size;
}

/* ---- fatal errors --------------------------------------------------------------------- */

/* The adapter's fatal hook and ours: log one line, exit 74; the supervisor restarts. */
static void node_fatal(void *arg, int code, const char *what)
{
    (void)arg;
    char q[512];
    lg_log(LG_LOG_ERROR, "fatal", "code=%s exit=%d msg=%s", lg_err_name(code),
           LG_RAFT_EXIT_FATAL, lg_log_quote(what, q, sizeof q));
    _exit(LG_RAFT_EXIT_FATAL);
}

static void io_fatal(struct lg_node *n, const char *what, int status)
{
    char msg[LG_ERRMSG_SIZE];
    snprintf(msg, sizeof msg, "raft %s failed: %s (%.150s)", what, raft_strerror(status),
             n->io.errmsg);
    node_fatal(n, LG_EIO, msg);
}

/* ---- raft_io wrapper ------------------------------------------------------------------ */

/* The node whose raft_io this is (io is embedded in struct lg_node). */
static struct lg_node *io_node(struct raft_io *io)
{
    return (struct lg_node *)(void *)((char *)io - offsetof(struct lg_node, io));
}

static struct io_wrap *wrap_take(void *req)
{
    for (struct io_wrap **p = &io_wraps; *p != NULL; p = &(*p)->next) {
        if ((*p)->req == req) {
            struct io_wrap *w = *p;
            *p = w->next;
            return w;
        }
    }
    return NULL;
}

static struct io_wrap *wrap_push(struct lg_node *n, void *req)
{
    struct io_wrap *w = calloc(1, sizeof *w);
    if (w == NULL) {
        node_fatal(n, LG_ENOMEM, "out of memory in the raft I/O wrapper");
    }
    w->node = n;
    w->req = req;
    w->started_ms = uv_now(n->loop);
    w->next = io_wraps;
    io_wraps = w;
    return w;
}

/* A wrapped request completed: take its record back; any error but RAFT_CANCELED (raft_uv
 * cancels writes at close) is fatal. The caller calls the original callback. */
static struct io_wrap *wrap_done(void *req, int status, const char *what)
{
    struct io_wrap *w = wrap_take(req);
    LG_ASSERT(w != NULL);
    if (status != 0 && status != RAFT_CANCELED) {
        io_fatal(w->node, what, status);
    }
    return w;
}

/* Hand a wrapped asynchronous write to raft_uv (the original function's rv): a
 * synchronous failure is fatal too, except RAFT_CANCELED while the node closes: raft_uv
 * refuses new writes once raft_close started, and an async snapshot whose hash finished
 * after that is put then (libraft finalizes it; nothing was lost). */
static int wrap_started(struct lg_node *n, struct io_wrap *w, int rv, const char *what)
{
    if (rv != 0) {
        wrap_take(w->req);
        free(w);
        if (!(rv == RAFT_CANCELED && n->closing)) {
            io_fatal(n, what, rv);
        }
    }
    return rv;
}

/* A synchronous metadata write or truncate: any error is fatal. */
static int sync_checked(struct lg_node *n, int rv, const char *what)
{
    if (rv != 0) {
        io_fatal(n, what, rv);
    }
    return rv;
}

static void append_cb(struct raft_io_append *req, int status)
{
    struct io_wrap *w = wrap_done(req, status, "log append");
    raft_io_append_cb cb = w->append_cb;
    free(w);
    cb(req, status);
}

static int node_io_append(struct raft_io *io, struct raft_io_append *req,
                          const struct raft_entry entries[], unsigned n_entries,
                          raft_io_append_cb cb)
{
    struct lg_node *n = io_node(io);
    n->appends++;
    if (n->fail_append_at != 0 && n->appends >= n->fail_append_at) {
        io_fatal(n, "log append (injected by LEDGER_FAULT_APPEND_FAIL_AT)", RAFT_IOERR);
    }
    struct io_wrap *w = wrap_push(n, req);
    w->append_cb = cb;
    if (n->stall_append_at != 0 && n->appends == n->stall_append_at) {
        return 0; /* injected: raft_uv never sees it, so it never completes */
    }
    return wrap_started(n, w, n->io_append(io, req, entries, n_entries, append_cb),
                        "log append");
}

static int node_io_truncate(struct raft_io *io, raft_index index)
{
    struct lg_node *n = io_node(io);
    return sync_checked(n, n->io_truncate(io, index), "log truncate");
}

static void snapshot_put_cb(struct raft_io_snapshot_put *req, int status)
{
    struct io_wrap *w = wrap_done(req, status, "snapshot write");
    raft_io_snapshot_put_cb cb = w->snapshot_put_cb;
    free(w);
    cb(req, status);
}

static int node_io_snapshot_put(struct raft_io *io, unsigned trailing,
                                struct raft_io_snapshot_put *req,
                                const struct raft_snapshot *snapshot,
                                raft_io_snapshot_put_cb cb)
{
    struct lg_node *n = io_node(io);
    struct io_wrap *w = wrap_push(n, req);
    w->snapshot_put_cb = cb;
    return wrap_started(n, w, n->io_snapshot_put(io, trailing, req, snapshot, snapshot_put_cb),
                        "snapshot write");
}

static int node_io_set_term(struct raft_io *io, raft_term term)
{
    struct lg_node *n = io_node(io);
    return sync_checked(n, n->io_set_term(io, term), "term write");
}

static int node_io_set_vote(struct raft_io *io, raft_id id)
{
    struct lg_node *n = io_node(io);
    return sync_checked(n, n->io_set_vote(io, id), "vote write");
}

/* raft_uv 0.15.0 records some write failures only in an internal flag (a failed write
 * submission, segment finalize or truncate): the requests behind them never complete,
 * the leader stays leader with writes stalled, and raft_close waits forever. A write
 * (append or snapshot) outstanding longer than the watchdog is therefore fatal too. */
static void io_watchdog(struct lg_node *n)
{
    uint64_t now = uv_now(n->loop);
    for (struct io_wrap *w = io_wraps; w != NULL; w = w->next) {
        if (w->node == n && now - w->started_ms >= n->io_watchdog_ms) {
            char what[96];
            snprintf(what, sizeof what, "%s stalled for %llu ms (watchdog)",
                     w->append_cb != NULL ? "log append" : "snapshot write",
                     (unsigned long long)(now - w->started_ms));
            io_fatal(n, what, RAFT_IOERR);
        }
    }
}

static void wrap_io(struct lg_node *n)
{
    n->io_append = n->io.append;
    n->io.append = node_io_append;
    n->io_truncate = n->io.truncate;
    n->io.truncate = node_io_truncate;
    n->io_snapshot_put = n->io.snapshot_put;
    n->io.snapshot_put = node_io_snapshot_put;
    n->io_set_term = n->io.set_term;
    n->io.set_term = node_io_set_term;
    n->io_set_vote = n->io.set_vote;
    n->io.set_vote = node_io_set_vote;
}

/* ---- journal catch-up after a restore from a peer's snapshot ------------------------ */

/* Fetch the records the journal lacks from one peer's client port and append them
 * (lg_fsm_gap_append verifies the chain and, at the end, the snapshot's last hash).
 * Blocking, bounded by GAP_REQUEST_TIMEOUT_MS per page: it runs on the loop thread. */
static int gap_fill_from(struct lg_node *n, const char *address, unsigned pages_max,
                         uint64_t deadline_ms, char *errmsg)
{
    struct lg_conn *c = NULL;
    int rc = lg_conn_open(&c, address, GAP_CONNECT_TIMEOUT_MS, errmsg);
    if (rc != LG_OK) {
        return rc;
    }
    lg_conn_set_timeout(c, GAP_REQUEST_TIMEOUT_MS);
    struct lg_arena arena;
    lg_arena_init(&arena, LG_DECODE_ARENA_BYTES_MAX);
    uint64_t id = 1;
    unsigned pages = 0;
    while (rc == LG_OK && lg_fsm_journal_gap(n->fsm) > 0 && pages < pages_max) {
        uv_update_time(n->loop);
        if (uv_now(n->loop) >= deadline_ms) {
            rc = lg_errmsg_printf(errmsg, LG_ETIMEOUT, "journal catch-up time budget spent");
            break;
        }
        pages++;
        uint64_t from = lg_journal_last_seq(lg_fsm_journal(n->fsm)) + 1u;
        struct lg_proto_request req;
        memset(&req, 0, sizeof req);
        req.id = id++;
        req.op = LG_PROTO_OP_JOURNAL_READ;
        req.u.journal_read.from_seq = from;
        struct lg_proto_response resp;
        lg_arena_reset(&arena);
        rc = lg_conn_call(c, &req, &arena, &resp, errmsg);
        if (rc != LG_OK) {
            break;
        }
        if (!resp.ok) {
            rc = lg_errmsg_printf(errmsg, resp.error.code, "journal_read: %.*s",
                                  (int)resp.error.message.len, resp.error.message.ptr);
            break;
        }
        if (resp.u.journal_read.n_records == 0 || resp.u.journal_read.first_seq != from) {
            rc = lg_errmsg_printf(errmsg, LG_EUNAVAIL,
                                  "peer has no records from seq %llu (its last: %llu)",
                                  (unsigned long long)from,
                                  (unsigned long long)resp.u.journal_read.last_seq);
            break;
        }
        for (uint32_t i = 0; i < resp.u.journal_read.n_records && rc == LG_OK; i++) {
            const struct lg_str *r = &resp.u.journal_read.records[i];
            if (lg_fsm_journal_gap(n->fsm) == 0) {
                break;
            }
            rc = lg_fsm_gap_append(n->fsm, r->ptr, (uint32_t)r->len);
            if (rc != LG_OK) {
                lg_errmsg_printf(errmsg, rc, "record %llu from %s: %s",
                                 (unsigned long long)(from + i), address, lg_fsm_errmsg(n->fsm));
            }
        }
    }
    lg_arena_close(&arena);
    lg_conn_close(c);
    return rc;
}

/* Fill the journal gap now (blocking). Tries the leader, then every peer that announced
 * a client address. A chain mismatch is fatal (the FSM is failed); an unreachable peer
 * leaves the gap open (history reads in it answer unavailable; the adapter stops the node
 * if an apply needs it). */
static void gap_fill(struct lg_node *n, unsigned pages_max, unsigned budget_ms)
{
    uint64_t missing = lg_fsm_journal_gap(n->fsm);
    if (missing == 0) {
        return;
    }
    uv_update_time(n->loop);
    uint64_t deadline_ms = uv_now(n->loop) + budget_ms;
    uint64_t from = lg_journal_last_seq(lg_fsm_journal(n->fsm)) + 1u;
    if (!n->gap_started_logged) {
        n->gap_started_logged = true;
        lg_log(LG_LOG_INFO, "journal_catchup_started", "from_seq=%llu records=%llu",
               (unsigned long long)from, (unsigned long long)missing);
    }
    raft_id candidates[LG_NODE_VOTERS_MAX + 1];
    unsigned n_candidates = 0;
    raft_id leader = 0;
    const char *leader_raft = NULL;
    raft_leader(&n->raft, &leader, &leader_raft);
    if (leader != 0 && leader != n->id) {
        candidates[n_candidates++] = leader;
    }
    for (unsigned i = 0; i < n->raft.configuration.n && n_candidates <= LG_NODE_VOTERS_MAX;
         i++) {
        raft_id id = n->raft.configuration.servers[i].id;
        if (id != n->id && id != leader) {
            candidates[n_candidates++] = id;
        }
    }
    char errmsg[LG_ERRMSG_SIZE] = "no peer has announced its client address yet";
    for (unsigned i = 0; i < n_candidates && lg_fsm_journal_gap(n->fsm) > 0; i++) {
        char address[LG_RAFT_ADDRESS_BYTES_MAX];
        if (!peer_client(n, candidates[i], address, sizeof address)) {
            continue;
        }
        uint64_t before = lg_fsm_journal_gap(n->fsm);
        int rc = gap_fill_from(n, address, pages_max, deadline_ms, errmsg);
        if (rc == LG_ECORRUPT || rc == LG_EIO || rc == LG_ENOSPC) {
            node_fatal(n, rc, errmsg);
        }
        if (lg_fsm_journal_gap(n->fsm) < before) {
            break; /* this peer serves: the next turn asks it again */
        }
    }
    char q[LG_ERRMSG_SIZE + 8];
    uint64_t left = lg_fsm_journal_gap(n->fsm);
    if (left == missing) {
        lg_log(LG_LOG_WARN, "journal_catchup_failed", "missing=%llu msg=%s",
               (unsigned long long)left, lg_log_quote(errmsg, q, sizeof q));
        return;
    }
    if (left == 0) {
        n->gap_started_logged = false;
        lg_log(LG_LOG_INFO, "journal_catchup_done", "last_seq=%llu",
               (unsigned long long)lg_fsm_last_seq(n->fsm));
    }
}

/* The adapter's gap hook. Right after a restore (inside libraft's InstallSnapshot path)
 * it only notes the gap: restore must not block on the network (c-raft §7); the next loop
 * turn fills it. Before an apply the gap blocks, it fills at once (the entry needs it). */
static void gap_hook(void *arg, struct lg_fsm *fsm)
{
    struct lg_node *n = arg;
    (void)fsm;
    if (n->adapter.n_restores != n->gap_restores_seen) {
        n->gap_restores_seen = n->adapter.n_restores;
        n->gap_retry_ms = 1; /* as soon as possible */
        return;
    }
    /* An apply needs the gap closed now: every page, within a time budget (a failure is
     * then fatal in the adapter: the node restarts and tries again). */
    gap_fill(n, UINT32_MAX, GAP_APPLY_BUDGET_MS);
}

/* From the loop: fill a gap left by a restore one page per turn (the loop keeps serving
 * between pages); retry every second while no peer serves. */
static void gap_turn(struct lg_node *n)
{
    if (n->gap_retry_ms == 0 || uv_now(n->loop) < n->gap_retry_ms) {
        return;
    }
    lg_raft_fsm_sync(&n->adapter);
    if (lg_fsm_journal_gap(n->fsm) == 0) {
        n->gap_retry_ms = 0;
        return;
    }
    uint64_t before = lg_fsm_journal_gap(n->fsm);
    gap_fill(n, 1, GAP_REQUEST_TIMEOUT_MS);
    uv_update_time(n->loop);
    uint64_t after = lg_fsm_journal_gap(n->fsm);
    n->gap_retry_ms = after == 0 ? 0 : after < before ? 1 : uv_now(n->loop) + 1000u;
}

/* ---- reads ---------------------------------------------------------------------------- */

static void reads_remove(struct lg_node *n, struct lg_node_read *prev, struct lg_node_read *r)
{
    if (prev == NULL) {
        n->reads = r->next;
    } else {
        prev->next = r->next;
    }
    if (n->reads_tail == r) {
        n->reads_tail = prev;
    }
    r->next = NULL;
}

void lg_node_read(struct lg_node *n, struct lg_node_read *r)
{
    LG_PRE(n != NULL && r != NULL && r->cb != NULL);
    r->next = NULL;
    r->barrier_gen = 0;
    r->wait_index = 0;
    r->deadline_ms = uv_now(n->loop) + n->read_timeout_ms;
    switch (r->consistency) {
        case LG_PROTO_READ_STALE:
            r->state = R_WAIT_INDEX;
            break;
        case LG_PROTO_READ_AFTER:
            r->state = R_WAIT_INDEX;
            r->wait_index = r->after_index;
            break;
        default:
            r->state = R_NEED_BARRIER; /* becomes R_NEED_INDEX on a follower */
            break;
    }
    if (n->reads_tail != NULL) {
        n->reads_tail->next = r;
    } else {
        n->reads = r;
    }
    n->reads_tail = r;
}

static void read_barrier_cb(struct raft_barrier *req, int status)
{
    struct lg_node *n = req->data;
    n->read_barrier_pending = false;
    if (status == 0 && n->read_barrier_gen > n->gen_done) {
        n->gen_done = n->read_barrier_gen;
        return;
    }
    /* Failed: the reads of that generation go back to asking (leader or not). */
    for (struct lg_node_read *r = n->reads; r != NULL; r = r->next) {
        if (r->state == R_WAIT_BARRIER && r->barrier_gen == n->read_barrier_gen) {
            r->state = R_NEED_BARRIER;
        }
    }
}

static void peer_cb(void *arg, uint64_t tag, int status, uint64_t index, const char *msg)
{
    struct lg_node *n = arg;
    struct lg_node_read *prev = NULL;
    struct lg_node_read *r = n->reads;
    while (r != NULL) {
        struct lg_node_read *next = r->next;
        if (r->state == R_WAIT_RI && r->barrier_gen == tag) {
            if (status == LG_OK) {
                r->state = R_WAIT_INDEX;
                r->wait_index = index;
            } else {
                reads_remove(n, prev, r);
                r->cb(r, status == LG_ENOTLEADER ? LG_EUNAVAIL : status,
                      status == LG_ENOTLEADER ? "leader changed: retry" : msg);
                r = next;
                continue;
            }
        }
        prev = r;
        r = next;
    }
}

/* Move every read forward; answer those that are done. Runs once per loop turn. */
static void reads_process(struct lg_node *n)
{
    if (n->reads == NULL) {
        return;
    }
    uint64_t now = uv_now(n->loop);
    struct lg_raft_fsm_view v;
    lg_raft_fsm_view(&n->adapter, &v); /* the FSM's applied index, not libraft's */
    uint64_t applied = v.applied_index;
    bool leader = raft_state(&n->raft) == RAFT_LEADER;
    bool need_barrier = false;
    bool need_index = false;
    struct lg_node_read *prev = NULL;
    struct lg_node_read *r = n->reads;
    while (r != NULL) {
        struct lg_node_read *next = r->next;
        int status = -1;
        const char *msg = NULL;
        if (n->closing) {
            status = LG_ESHUTDOWN;
            msg = "node shutting down";
        } else {
            if (r->state == R_NEED_BARRIER && !leader) {
                r->state = R_NEED_INDEX;
            } else if (r->state == R_NEED_INDEX && leader) {
                r->state = R_NEED_BARRIER;
            }
            if (r->state == R_WAIT_BARRIER && r->barrier_gen <= n->gen_done) {
                status = LG_OK;
            } else if (r->state == R_WAIT_INDEX && applied >= r->wait_index) {
                status = LG_OK;
            } else if (now >= r->deadline_ms && r->state == R_NEED_INDEX) {
                status = LG_EUNAVAIL;
                msg = "no leader known for a linearizable read (election in progress?)";
            } else if (now >= r->deadline_ms) {
                status = LG_ETIMEOUT;
                msg = r->state == R_WAIT_INDEX ? "applied index did not reach the requested "
                                                 "index in time"
                                               : "the leader did not confirm an index in time";
            }
        }
        if (status >= 0) {
            reads_remove(n, prev, r);
            r->cb(r, status, msg);
            r = next;
            continue;
        }
        need_barrier = need_barrier || r->state == R_NEED_BARRIER;
        need_index = need_index || r->state == R_NEED_INDEX;
        prev = r;
        r = next;
    }
    if (need_barrier && leader && !n->read_barrier_pending && !n->stopping) {
        n->read_barrier.data = n;
        uint64_t gen = n->gen + 1u;
        if (raft_barrier(&n->raft, &n->read_barrier, read_barrier_cb) == 0) {
            n->gen = gen;
            n->read_barrier_gen = gen;
            n->read_barrier_pending = true;
            for (r = n->reads; r != NULL; r = r->next) {
                if (r->state == R_NEED_BARRIER) {
                    r->state = R_WAIT_BARRIER;
                    r->barrier_gen = gen;
                }
            }
        }
    }
    if (need_index) {
        raft_id leader_id = 0;
        const char *leader_raft = NULL;
        raft_leader(&n->raft, &leader_id, &leader_raft);
        char address[LG_RAFT_ADDRESS_BYTES_MAX];
        bool known = leader_id != 0 && leader_id != n->id &&
                     peer_client(n, leader_id, address, sizeof address);
        /* Without a known leader the reads wait (until their deadline) for one. */
        if (known) {
            uint64_t gen = ++n->gen;
            for (r = n->reads; r != NULL; r = r->next) {
                if (r->state == R_NEED_INDEX) {
                    r->state = R_WAIT_RI;
                    r->barrier_gen = gen;
                }
            }
            lg_peer_read_index(n->peer, address, gen);
        }
    }
}

/* ---- loop hooks ----------------------------------------------------------------------- */

static const char *state_name(int state)
{
    switch (state) {
        case RAFT_LEADER:
            return "leader";
        case RAFT_CANDIDATE:
            return "candidate";
        case RAFT_FOLLOWER:
            return "follower";
        default:
            return "unavailable";
    }
}

/* One structured line per change of role, leader, snapshots taken or restored. */
static void log_changes(struct lg_node *n)
{
    int state = raft_state(&n->raft);
    raft_id leader = 0;
    const char *leader_raft = NULL;
    raft_leader(&n->raft, &leader, &leader_raft);
    if (state != n->last_state || leader != n->last_leader) {
        char q[LG_RAFT_ADDRESS_BYTES_MAX + 8];
        lg_log(LG_LOG_INFO,
               state == RAFT_LEADER && leader == n->id ? "leader_elected" : "role_changed",
               "role=%s term=%llu leader_id=%llu leader_raft=%s applied=%llu", state_name(state),
               (unsigned long long)n->raft.current_term, (unsigned long long)leader,
               lg_log_quote(leader_raft != NULL ? leader_raft : "", q, sizeof q),
               (unsigned long long)raft_last_applied(&n->raft));
        n->last_state = state;
        n->last_leader = leader;
    }
    if (n->adapter.n_snapshots != n->last_snapshots) {
        n->last_snapshots = n->adapter.n_snapshots;
        lg_log(LG_LOG_INFO, "snapshot_taken",
               "index=%llu journal_seq=%llu count=%llu bytes=%zu took_ms=%llu hash_ms=%llu",
               (unsigned long long)n->adapter.snapshot_index,
               (unsigned long long)n->adapter.snapshot_seq,
               (unsigned long long)n->last_snapshots, n->adapter.snapshot_bytes,
               (unsigned long long)(n->adapter.snapshot_us / 1000u),
               (unsigned long long)(n->adapter.seal_us / 1000u));
    }
    if (n->adapter.n_restores != n->last_restores) {
        n->last_restores = n->adapter.n_restores;
        lg_raft_fsm_sync(&n->adapter);
        lg_log(LG_LOG_INFO, "snapshot_restored", "index=%llu journal_seq=%llu journal_gap=%llu",
               (unsigned long long)lg_fsm_applied_index(n->fsm),
               (unsigned long long)lg_fsm_last_seq(n->fsm),
               (unsigned long long)lg_fsm_journal_gap(n->fsm));
    }
}

/* ---- membership driven by gossip (raft/members.h) ---------------------------------------- */

static void change_cb(struct raft_change *req, int status)
{
    struct lg_node *n = req->data;
    uint64_t now = uv_now(n->loop);
    char q[96];
    if (!n->change_inflight) {
        /* libraft 0.15: raft_assign that fails synchronously can leave leader_state.change
         * pointing at our request; a later step-down then calls us with nothing in
         * flight. Nothing of ours to finish. */
        lg_log(LG_LOG_WARN, "membership_change_unexpected", "result=%s action=ignored",
               status == 0 ? "committed" : lg_log_quote(raft_strerror(status), q, sizeof q));
        return;
    }
    n->change_inflight = false;
    /* RAFT_LEADERSHIPLOST: the change may still commit; the next leader re-reads its
     * configuration and plans from that, never retrying this one blind. */
    lg_log(status == 0 ? LG_LOG_INFO : LG_LOG_WARN, "membership_change_done",
           "op=%s id=%llu result=%s took_ms=%llu", lg_members_op_name(n->change_op),
           (unsigned long long)n->change_id,
           status == 0 ? "committed" : lg_log_quote(raft_strerror(status), q, sizeof q),
           (unsigned long long)(now - n->change_started_ms));
    n->members_due_ms = status == 0 ? now : now + LG_MEMBERS_BACKOFF_MS;
}

void lg_node_test_stale_change(struct lg_node *n)
{
    if (raft_state(&n->raft) != RAFT_LEADER || n->change_inflight ||
        n->raft.leader_state.change != NULL) {
        return;
    }
    n->change.data = n;
    n->change.cb = change_cb;
    n->raft.leader_state.change = &n->change;
}

/* The leader samples libraft's recent_recv (an AppendEntries result since the last
 * election timeout) into contact_ms, so that a reset just before planning does not read
 * as silence. */
static void members_sample_contact(struct lg_node *n, uint64_t now)
{
    if (raft_state(&n->raft) != RAFT_LEADER || n->raft.leader_state.progress == NULL) {
        return;
    }
    const struct raft_configuration *conf = &n->raft.configuration;
    for (unsigned i = 0; i < conf->n; i++) {
        if (!n->raft.leader_state.progress[i].recent_recv) {
            continue;
        }
        uint64_t id = conf->servers[i].id;
        unsigned slot = LG_MEMBERS_SERVERS_MAX;
        unsigned oldest = 0;
        for (unsigned k = 0; k < LG_MEMBERS_SERVERS_MAX && slot == LG_MEMBERS_SERVERS_MAX; k++) {
            slot = n->contact_id[k] == id || n->contact_id[k] == 0 ? k : slot;
            oldest = n->contact_ms[k] < n->contact_ms[oldest] ? k : oldest;
        }
        slot = slot < LG_MEMBERS_SERVERS_MAX ? slot : oldest;
        n->contact_id[slot] = id;
        n->contact_ms[slot] = now;
    }
}

/* Raft heard from server id within two election timeouts (libraft's window, and one more
 * for the sampling). */
static bool members_raft_recent(const struct lg_node *n, uint64_t id, uint64_t now)
{
    uint64_t window = 2u * (uint64_t)n->raft.election_timeout + TICK_MS;
    for (unsigned k = 0; k < LG_MEMBERS_SERVERS_MAX; k++) {
        if (n->contact_id[k] == id) {
            return now - n->contact_ms[k] <= window;
        }
    }
    return false;
}

static uint8_t members_role(int role)
{
    return role == RAFT_VOTER     ? LG_MEMBERS_ROLE_VOTER
           : role == RAFT_STANDBY ? LG_MEMBERS_ROLE_STANDBY
                                  : LG_MEMBERS_ROLE_SPARE;
}

/* Log, once per address, a gossip member whose Raft address is configured under another
 * id: addresses cannot be edited (c-raft §8), the operator removes the old id. */
static void members_report_conflict(struct lg_node *n, const struct lg_members_action *a)
{
    for (uint32_t i = 0; i < n->gossip.n; i++) {
        struct lg_members_peer *p = &n->gossip.peers[i];
        if (p->id == a->conflict_id && !p->conflict_reported) {
            p->conflict_reported = true;
            char q[LG_RAFT_ADDRESS_BYTES_MAX + 8];
            lg_log(LG_LOG_WARN, "membership_conflict",
                   "id=%llu raft=%s configured_id=%llu action=skipped reason=\"raft address "
                   "configured under another id: added once that id is removed (by the "
                   "leader when it is a voter down past the grace period)\"",
                   (unsigned long long)p->id, lg_log_quote(p->raft_address, q, sizeof q),
                   (unsigned long long)a->conflict_with_id);
        }
    }
}

/* The leader's reconciler: every LG_MEMBERS_INTERVAL_MS (sooner after a gossip event),
 * when no change is in flight, plan one change from the configuration, the replication
 * progress and the gossip table, and start it. */
static void members_turn(struct lg_node *n)
{
    uint64_t now = uv_now(n->loop);
    if (!n->members_enabled || now < n->members_due_ms || n->change_inflight) {
        return;
    }
    n->members_due_ms = now + LG_MEMBERS_INTERVAL_MS;
    if (raft_state(&n->raft) != RAFT_LEADER) {
        return;
    }
    const struct raft_configuration *conf = &n->raft.configuration;
    struct lg_members_server servers[LG_MEMBERS_SERVERS_MAX];
    uint32_t n_servers = 0;
    for (unsigned i = 0; i < conf->n && n_servers < LG_MEMBERS_SERVERS_MAX; i++) {
        struct lg_members_server *s = &servers[n_servers++];
        s->id = conf->servers[i].id;
        s->raft_address = conf->servers[i].address;
        s->role = members_role(conf->servers[i].role);
        s->match_index = n->raft.leader_state.progress != NULL
                             ? n->raft.leader_state.progress[i].match_index
                             : 0;
        s->raft_recent = members_raft_recent(n, s->id, now);
    }
    struct lg_members_view v;
    memset(&v, 0, sizeof v);
    v.self_id = n->id;
    v.cluster = n->cluster;
    /* A leader plans only once its election barrier applied (every earlier entry, and so
     * the configuration it inherited, is committed and applied). */
    v.leader = n->queue.state == LG_RAFT_QUEUE_READY;
    v.busy = n->raft.configuration_uncommitted_index != 0 ||
             n->raft.leader_state.promotee_id != 0 || n->raft.transfer != NULL;
    v.last_index = raft_last_index(&n->raft);
    v.now_ms = now;
    v.servers = servers;
    v.n_servers = n_servers;
    v.gossip = &n->gossip;
    struct lg_members_action a;
    lg_members_plan(&v, &n->members_params, &a);
    if (a.conflict_id != 0) {
        members_report_conflict(n, &a);
    }
    if (a.op == LG_MEMBERS_NONE) {
        return;
    }
    n->change.data = n;
    int rv = 0;
    switch (a.op) {
        case LG_MEMBERS_ADD:
            rv = raft_add(&n->raft, &n->change, a.id, a.raft_address, change_cb);
            break;
        case LG_MEMBERS_STANDBY:
            rv = raft_assign(&n->raft, &n->change, a.id, RAFT_STANDBY, change_cb);
            break;
        case LG_MEMBERS_VOTER:
            rv = raft_assign(&n->raft, &n->change, a.id, RAFT_VOTER, change_cb);
            break;
        case LG_MEMBERS_REMOVE:
            rv = raft_remove(&n->raft, &n->change, a.id, change_cb);
            break;
        default:
            LG_UNREACHABLE("planner op");
    }
    const struct lg_members_peer *p = lg_members_table_find(&n->gossip, a.id);
    char q[LG_RAFT_ADDRESS_BYTES_MAX + 8];
    char r[96];
    if (rv != 0) {
        /* RAFT_CANTCHANGE (a change still settling) and the rest: plan again later. */
        char e[LG_ERRMSG_SIZE + 8];
        char why[96];
        lg_log(LG_LOG_WARN, "membership_change_failed", "op=%s id=%llu error=%s msg=%s",
               lg_members_op_name(a.op), (unsigned long long)a.id,
               lg_log_quote(raft_strerror(rv), why, sizeof why),
               lg_log_quote(raft_errmsg(&n->raft), e, sizeof e));
        n->members_due_ms = now + LG_MEMBERS_BACKOFF_MS;
        return;
    }
    n->change_inflight = true;
    n->change_op = a.op;
    n->change_id = a.id;
    n->change_started_ms = now;
    lg_log(LG_LOG_INFO, "membership_change",
           "op=%s id=%llu raft=%s gossip=%s replaces=%llu successor=%llu voters_target=%u "
           "reason=%s",
           lg_members_op_name(a.op), (unsigned long long)a.id,
           lg_log_quote(p != NULL ? p->raft_address : "", q, sizeof q),
           p != NULL && lg_members_state_name(p->state)[0] != '\0'
               ? lg_members_state_name(p->state)
               : "unknown",
           (unsigned long long)a.replaces_id, (unsigned long long)a.successor_id,
           n->members_params.voters_target, lg_log_quote(a.reason, r, sizeof r));
}

void lg_node_disc_event(void *node, enum lg_disc_event ev, const struct lg_disc_member *m)
{
    struct lg_node *n = node;
    LG_PRE(n != NULL && m != NULL);
    if (n->closing || n->raft_closed || m->id == n->id) {
        return;
    }
    uint64_t now = uv_now(n->loop);
    const struct lg_members_peer *before = lg_members_table_find(&n->gossip, m->id);
    uint8_t old_state = before != NULL ? before->state : 0;
    const struct lg_members_peer *p = lg_members_table_update(&n->gossip, ev, m, now);
    if (p == NULL) {
        lg_log(LG_LOG_WARN, "membership_table_full", "id=%llu max=%u action=ignored",
               (unsigned long long)m->id, LG_MEMBERS_PEERS_MAX);
        return;
    }
    if (p->state != old_state) {
        char q[LG_RAFT_ADDRESS_BYTES_MAX + 8];
        lg_log(LG_LOG_DEBUG, "membership_gossip", "id=%llu state=%s raft=%s",
               (unsigned long long)p->id, lg_members_state_name(p->state),
               lg_log_quote(p->raft_address, q, sizeof q));
    }
    if (n->members_due_ms > now + LG_MEMBERS_DEBOUNCE_MS) {
        n->members_due_ms = now + LG_MEMBERS_DEBOUNCE_MS;
    }
}

static void stop_continue(struct lg_node *n);

/* Once a second: bound the log libraft holds in memory by bytes, not only entries. */
static void log_limits_turn(struct lg_node *n)
{
    uint64_t now = uv_now(n->loop);
    if (now - n->limits_ms < 1000u) {
        return;
    }
    n->limits_ms = now;
    uint64_t entries = n->adapter.n_entries - n->limits_entries;
    uint64_t bytes = n->adapter.entry_bytes - n->limits_bytes;
    if (entries < 16u) {
        return; /* too few to say: keep the bounds */
    }
    n->limits_entries = n->adapter.n_entries;
    n->limits_bytes = n->adapter.entry_bytes;
    unsigned threshold;
    unsigned trailing;
    lg_raft_log_limits(bytes / entries, n->max_threshold, n->max_trailing, &threshold,
                       &trailing);
    if (threshold != n->threshold || trailing != n->trailing) {
        n->threshold = threshold;
        n->trailing = trailing;
        raft_set_snapshot_threshold(&n->raft, threshold);
        raft_set_snapshot_trailing(&n->raft, trailing);
        lg_log(LG_LOG_DEBUG, "log_limits", "mean_entry_bytes=%llu threshold=%u trailing=%u",
               (unsigned long long)(bytes / entries), threshold, trailing);
    }
}

static void node_turn(struct lg_node *n)
{
    if (n->raft_closed) {
        return;
    }
    io_watchdog(n); /* also while closing: raft_close waits for stalled writes */
    if (!n->closing) {
        log_changes(n);
        gap_turn(n);
        lg_raft_queue_tick(&n->queue);
        lg_raft_queue_flush(&n->queue);
    }
    if (!n->closing && !n->stopping) {
        members_sample_contact(n, uv_now(n->loop));
        members_turn(n);
        log_limits_turn(n);
    }
    reads_process(n);
    if (n->stopping && !n->closing) {
        stop_continue(n);
    }
    /* Populate heap the next requests will touch: one madvise per step instead of one
     * page fault per page (lib/mem.h). */
    (void)lg_mem_prefault_heap();
}

static void prepare_cb(uv_prepare_t *h)
{
    node_turn(h->data);
}

static void tick_cb(uv_timer_t *h)
{
    node_turn(h->data);
}

/* ---- start ---------------------------------------------------------------------------- */

static int make_dir(const char *path, char *errmsg)
{
    if (mkdir(path, 0750) != 0 && errno != EEXIST) {
        return lg_errmsg_printf(errmsg, LG_EIO, "mkdir %s: %s", path, strerror(errno));
    }
    return LG_OK;
}

static int join_path(char *out, const char *dir, const char *name, char *errmsg)
{
    int w = snprintf(out, PATH_BYTES, "%s/%s", dir, name);
    if (w < 0 || (size_t)w >= PATH_BYTES) {
        return lg_errmsg_printf(errmsg, LG_EINVAL, "data directory path too long");
    }
    return LG_OK;
}

static int copy_address(char *out, const char *in, const char *what, char *errmsg)
{
    size_t len = in == NULL ? 0 : strlen(in);
    if (len == 0 || len >= LG_RAFT_ADDRESS_BYTES_MAX) {
        return lg_errmsg_printf(errmsg, LG_EINVAL, "%s: missing or too long", what);
    }
    memcpy(out, in, len + 1u);
    return LG_OK;
}

static void node_free_parts(struct lg_node *n);

/* Bootstrap when initial voters are given; an already bootstrapped directory is the normal
 * restart case and the flag is then ignored (DESIGN §10). */
static bool file_exists(const char *dir, const char *name)
{
    char path[PATH_BYTES + 16];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &sb) == 0;
}

static int bootstrap(struct lg_node *n, const struct lg_node_config *cfg, char *errmsg)
{
    /* A journal or checkpoint without a Raft log means the Raft data was lost (a wiped
     * raft/ directory). Bootstrapping again under the same id would make this node a voter
     * with an empty log that can elect a leader lacking committed entries (DESIGN §1.1).
     * raft_uv writes metadata1/metadata2 on bootstrap and on every term or vote (and raft_init
 * creates them when absent, so lg_node_start looks before raft_init). */
    if ((lg_fsm_last_seq(n->fsm) > 0 || lg_fsm_applied_index(n->fsm) > 0) &&
        !n->raft_log_found) {
        return lg_errmsg_printf(errmsg, LG_ECORRUPT,
                                "%s has no Raft log but the journal holds %llu records "
                                "(applied index %llu): this node's Raft data was lost. "
                                "Refusing to start (it could vote with an empty log); wipe "
                                "the data directory and add the machine under a new id",
                                n->raft_dir, (unsigned long long)lg_fsm_last_seq(n->fsm),
                                (unsigned long long)lg_fsm_applied_index(n->fsm));
    }
    if (cfg->n_initial == 0) {
        return LG_OK;
    }
    bool self = false;
    struct raft_configuration conf;
    raft_configuration_init(&conf);
    int rv = 0;
    for (uint32_t i = 0; i < cfg->n_initial && rv == 0; i++) {
        self = self || cfg->initial[i].id == cfg->id;
        rv = raft_configuration_add(&conf, cfg->initial[i].id, cfg->initial[i].raft_address,
                                    RAFT_VOTER);
    }
    if (rv != 0) {
        raft_configuration_close(&conf);
        return lg_errmsg_printf(errmsg, LG_EINVAL, "initial cluster: %s", raft_strerror(rv));
    }
    if (!self) {
        raft_configuration_close(&conf);
        return lg_errmsg_printf(errmsg, LG_EINVAL,
                                "initial cluster does not contain this node's id %llu",
                                (unsigned long long)cfg->id);
    }
    rv = raft_bootstrap(&n->raft, &conf);
    raft_configuration_close(&conf);
    if (rv == RAFT_CANTBOOTSTRAP) {
        lg_log(LG_LOG_INFO, "bootstrap_skipped", "reason=\"raft directory not empty\"");
        return LG_OK;
    }
    if (rv != 0) {
        return lg_errmsg_printf(errmsg, LG_EIO, "raft_bootstrap: %s (%s)", raft_strerror(rv),
                                raft_errmsg(&n->raft));
    }
    lg_log(LG_LOG_INFO, "bootstrapped", "voters=%u", cfg->n_initial);
    return LG_OK;
}

int lg_node_start(struct lg_node **out, uv_loop_t *loop, const struct lg_node_config *cfg,
                  char *errmsg)
{
    LG_PRE(out != NULL && loop != NULL && cfg != NULL);
    *out = NULL;
    char local[LG_ERRMSG_SIZE];
    char *msg = errmsg != NULL ? errmsg : local;
    msg[0] = '\0';
    if (cfg->id == 0 || cfg->data_dir == NULL || cfg->n_initial > LG_NODE_VOTERS_MAX) {
        return lg_errmsg_printf(msg, LG_EINVAL, "node id must be >= 1, data dir set, at most "
                                "%u initial voters", LG_NODE_VOTERS_MAX);
    }
    if (cfg->voters_target > LG_NODE_VOTERS_MAX || (cfg->voters_target % 2u == 0 &&
                                                    cfg->voters_target != 0)) {
        return lg_errmsg_printf(msg, LG_EINVAL, "voters target must be odd, 1..%u, got %u",
                                LG_NODE_VOTERS_MAX, cfg->voters_target);
    }
    if (cfg->cluster != NULL && strlen(cfg->cluster) > LG_DISC_CLUSTER_MAX) {
        return lg_errmsg_printf(msg, LG_EINVAL, "cluster name longer than %u bytes",
                                LG_DISC_CLUSTER_MAX);
    }
    unsigned election = cfg->election_timeout_ms ? cfg->election_timeout_ms
                                                 : LG_NODE_ELECTION_TIMEOUT_MS;
    unsigned heartbeat = cfg->heartbeat_timeout_ms ? cfg->heartbeat_timeout_ms
                                                   : LG_NODE_HEARTBEAT_TIMEOUT_MS;
    if (heartbeat >= election) {
        /* raft_start only asserts it, and asserts are compiled out (c-raft §2). */
        return lg_errmsg_printf(msg, LG_EINVAL, "heartbeat timeout (%u ms) must be below the "
                                "election timeout (%u ms)", heartbeat, election);
    }
    struct lg_node *n = calloc(1, sizeof *n);
    if (n == NULL) {
        return lg_errmsg_printf(msg, LG_ENOMEM, "out of memory");
    }
    n->loop = loop;
    n->id = cfg->id;
    n->read_timeout_ms = cfg->read_timeout_ms ? cfg->read_timeout_ms : LG_NODE_READ_TIMEOUT_MS;
    lg_members_table_init(&n->gossip);
    lg_members_params_default(&n->members_params);
    if (cfg->voters_target != 0) {
        n->members_params.voters_target = cfg->voters_target;
    }
    if (cfg->dead_voter_grace_ms != 0) {
        n->members_params.dead_grace_ms = cfg->dead_voter_grace_ms;
    }
    n->members_enabled = cfg->gossip_authenticated;
    snprintf(n->cluster, sizeof n->cluster, "%s", cfg->cluster != NULL ? cfg->cluster : "");
    n->last_state = -1;
    const char *fault = getenv("LEDGER_FAULT_APPEND_FAIL_AT");
    n->fail_append_at = fault != NULL ? strtoull(fault, NULL, 10) : 0;
    const char *stall = getenv("LEDGER_FAULT_APPEND_STALL_AT");
    n->stall_append_at = stall != NULL ? strtoull(stall, NULL, 10) : 0;
    /* With the stall seam on, a short watchdog keeps its test fast. */
    n->io_watchdog_ms = n->stall_append_at != 0 ? 1000u : LG_NODE_IO_WATCHDOG_MS;
    char journal_dir[PATH_BYTES];
    char state_dir[PATH_BYTES];
    int rc = copy_address(n->raft_address, cfg->raft_address, "raft address", msg);
    if (rc == LG_OK) {
        rc = copy_address(n->client_address, cfg->client_address, "client address", msg);
    }
    if (rc == LG_OK) {
        rc = make_dir(cfg->data_dir, msg);
    }
    if (rc == LG_OK) {
        rc = join_path(n->raft_dir, cfg->data_dir, "raft", msg);
    }
    if (rc == LG_OK) {
        rc = join_path(journal_dir, cfg->data_dir, "journal", msg);
    }
    if (rc == LG_OK) {
        rc = join_path(state_dir, cfg->data_dir, "state", msg);
    }
    if (rc == LG_OK) {
        rc = make_dir(n->raft_dir, msg);
    }
    if (rc != LG_OK) {
        free(n);
        return rc;
    }

    struct lg_fsm_options fo;
    memset(&fo, 0, sizeof fo);
    fo.journal_dir = journal_dir;
    fo.state_dir = state_dir;
    fo.create = true;
    fo.checkpoint_every = cfg->checkpoint_every;
    rc = lg_fsm_open(&n->fsm, &fo, msg);
    if (rc != LG_OK) {
        free(n);
        return rc;
    }
    lg_raft_fsm_init(&n->adapter, n->fsm);
    lg_raft_fsm_set_fatal(&n->adapter, node_fatal, n);
    lg_raft_fsm_set_gap(&n->adapter, gap_hook, n);

    rc = lg_raft_transport_init(&n->transport, loop);
    if (rc != LG_OK) {
        lg_errmsg_printf(msg, rc, "transport: out of memory");
        goto fail;
    }
    n->transport_inited = true;
    if (cfg->raft_bind != NULL && cfg->raft_bind[0] != '\0' &&
        lg_raft_transport_set_bind_address(&n->transport, cfg->raft_bind) != LG_OK) {
        rc = lg_errmsg_printf(msg, LG_EINVAL, "raft bind address \"%.64s\" malformed",
                              cfg->raft_bind);
        goto fail;
    }
    if (lg_raft_transport_set_client_address(&n->transport, n->client_address) != LG_OK) {
        rc = lg_errmsg_printf(msg, LG_EINVAL, "client address not printable");
        goto fail;
    }
    n->raft_log_found = file_exists(n->raft_dir, "metadata1") ||
                        file_exists(n->raft_dir, "metadata2");
    int rv = raft_uv_init(&n->io, loop, n->raft_dir, &n->transport);
    if (rv != 0) {
        rc = lg_errmsg_printf(msg, LG_EIO, "raft_uv_init: %s (%s)", raft_strerror(rv),
                              n->io.errmsg);
        goto fail;
    }
    n->io_inited = true;
    raft_uv_set_auto_recovery(&n->io, false); /* c-raft §9: never drop log segments */
    /* Snapshots are written as they are: LZ4 (on by default) took a pool thread ~0.5 s of
     * CPU and a second copy of the state per snapshot to save a third of its bytes (the
     * references' digests do not compress). Compressed snapshots still load. */
    raft_uv_set_snapshot_compression(&n->io, false);
    /* raft_uv 0.15.0 leaves its version at 1, which makes raft_init refuse an fsm whose
     * snapshot_async is set, though it implements async_work (c-raft §0.9). */
    n->io.version = 2;
    lg_raft_fsm_set_async(&n->adapter);
    raft_uv_set_connect_retry_delay(&n->io, 200);
    wrap_io(n);
    rv = raft_init(&n->raft, &n->io, &n->adapter.fsm, cfg->id, n->raft_address);
    if (rv != 0) {
        rc = lg_errmsg_printf(msg, LG_EIO, "raft_init: %s (%s)", raft_strerror(rv),
                              raft_errmsg(&n->raft));
        goto fail;
    }
    n->raft_inited = true;
    n->raft.data = n;
    lg_raft_fsm_attach(&n->adapter, &n->raft);
    raft_set_election_timeout(&n->raft, election);
    raft_set_heartbeat_timeout(&n->raft, heartbeat);
    raft_set_pre_vote(&n->raft, true);
    n->max_threshold = cfg->snapshot_threshold ? cfg->snapshot_threshold
                                               : LG_NODE_SNAPSHOT_THRESHOLD;
    n->max_trailing = cfg->snapshot_trailing ? cfg->snapshot_trailing
                                             : LG_NODE_SNAPSHOT_TRAILING;
    n->threshold = n->max_threshold;
    n->trailing = n->max_trailing;
    raft_set_snapshot_threshold(&n->raft, n->threshold);
    raft_set_snapshot_trailing(&n->raft, n->trailing);
    raft_set_install_snapshot_timeout(&n->raft, 120000);
    rc = bootstrap(n, cfg, msg);
    if (rc != LG_OK) {
        goto fail;
    }
    struct lg_raft_queue_options qo;
    memset(&qo, 0, sizeof qo);
    qo.now_us = wall_us;
    qo.adapter = &n->adapter; /* its thread starts after raft_start */
    rc = lg_raft_queue_init(&n->queue, &n->raft, n->fsm, &qo);
    if (rc != LG_OK) {
        lg_errmsg_printf(msg, rc, "write queue: out of memory");
        goto fail;
    }
    n->queue_inited = true;
    rc = lg_peer_init(&n->peer, loop, peer_cb, n);
    if (rc != LG_OK) {
        lg_errmsg_printf(msg, rc, "read-index client: out of memory");
        goto fail;
    }
    rv = raft_start(&n->raft);
    if (rv != 0) {
        rc = lg_errmsg_printf(msg, LG_EIO, "raft_start: %s (%s)", raft_strerror(rv),
                              raft_errmsg(&n->raft));
        goto fail;
    }
    uv_prepare_init(loop, &n->prepare);
    n->prepare.data = n;
    uv_prepare_start(&n->prepare, prepare_cb);
    uv_timer_init(loop, &n->tick);
    n->tick.data = n;
    uv_timer_start(&n->tick, tick_cb, TICK_MS, TICK_MS);
    n->handles_open = 2;
    uint8_t head[LG_HASH_BYTES];
    char hex[2 * LG_HASH_BYTES + 1];
    lg_fsm_chain_head(n->fsm, head);
    for (unsigned i = 0; i < LG_HASH_BYTES; i++) {
        snprintf(hex + 2 * i, 3, "%02x", head[i]);
    }
    lg_log(LG_LOG_INFO, "node_started",
           "raft=%s client=%s applied=%llu journal_seq=%llu chain_head=%s election_ms=%u "
           "heartbeat_ms=%u voters_target=%u dead_voter_grace_ms=%llu",
           n->raft_address, n->client_address, (unsigned long long)lg_fsm_applied_index(n->fsm),
           (unsigned long long)lg_fsm_last_seq(n->fsm), hex, election, heartbeat,
           n->members_params.voters_target,
           (unsigned long long)n->members_params.dead_grace_ms);
    /* Apply on a thread from now on (docs/raft.md "Apply off the loop"). */
    if (lg_raft_fsm_start(&n->adapter, loop) != LG_OK) {
        lg_log(LG_LOG_WARN, "apply_thread_failed", "detail=\"applying on the loop thread\"");
    }
    if (!n->members_enabled) {
        lg_log(LG_LOG_WARN, "membership_disabled",
               "reason=no_key detail=\"gossip is unauthenticated (no --key-file): the leader "
               "makes no membership change from it; add nodes with a cluster key\"");
    }
    if (n->raft.configuration.n == 0) {
        lg_log(LG_LOG_INFO, "waiting_to_be_added",
               "reason=\"no Raft configuration yet (no --initial-cluster, no Raft data): the "
               "leader adds this node once gossip reports it alive\"");
    }
    *out = n;
    return LG_OK;

fail:
    LG_ASSERT(rc != LG_OK);
    if (n->raft_inited) {
        /* raft_close is required after a failed raft_start (c-raft §2); run the loop until
         * its callback, then free. */
        n->stopping = true;
        n->closing = true;
        lg_node_stop(n, NULL, NULL);
        while (!n->raft_closed) {
            uv_run(loop, UV_RUN_ONCE);
        }
        lg_node_free(n);
        return rc;
    }
    node_free_parts(n);
    free(n);
    return rc;
}

/* ---- writes, status ------------------------------------------------------------------- */

int lg_node_submit(struct lg_node *n, struct lg_raft_submit *req, char *errmsg)
{
    if (n->stopping) {
        return lg_errmsg_printf(errmsg, LG_EUNAVAIL, "node shutting down: retry on another");
    }
    return lg_raft_queue_submit(&n->queue, req, errmsg);
}

struct lg_fsm *lg_node_fsm(struct lg_node *n)
{
    if (n->fsm != NULL) {
        lg_raft_fsm_sync(&n->adapter); /* the FSM is the loop's until it returns */
    }
    return n->fsm;
}

uint64_t lg_node_id(const struct lg_node *n)
{
    return n->id;
}

bool lg_node_stopping(const struct lg_node *n)
{
    return n->stopping;
}

bool lg_node_is_leader(struct lg_node *n)
{
    return !n->raft_closed && raft_state(&n->raft) == RAFT_LEADER;
}

void lg_node_status(struct lg_node *n, struct lg_node_status *out)
{
    memset(out, 0, sizeof *out);
    out->node_id = n->id;
    out->stopping = n->stopping;
    int state = n->raft_closed ? RAFT_UNAVAILABLE : raft_state(&n->raft);
    raft_id leader = 0;
    const char *leader_raft = NULL;
    if (!n->raft_closed) {
        raft_leader(&n->raft, &leader, &leader_raft);
    }
    out->role = state == RAFT_LEADER      ? LG_PROTO_ROLE_LEADER
                : state == RAFT_CANDIDATE ? LG_PROTO_ROLE_CANDIDATE
                                          : LG_PROTO_ROLE_FOLLOWER;
    /* A standby or spare replicates or waits without voting (DESIGN §7). */
    for (unsigned i = 0; !n->raft_closed && i < n->raft.configuration.n; i++) {
        if (n->raft.configuration.servers[i].id == n->id) {
            int role = n->raft.configuration.servers[i].role;
            out->role = role == RAFT_STANDBY ? LG_PROTO_ROLE_STANDBY
                        : role == RAFT_SPARE ? LG_PROTO_ROLE_SPARE
                                             : out->role;
        }
    }
    out->leader_id = leader;
    if (leader_raft != NULL) {
        snprintf(out->leader_raft, sizeof out->leader_raft, "%s", leader_raft);
    }
    if (leader == n->id) {
        memcpy(out->leader_client, n->client_address, strlen(n->client_address) + 1u);
    } else if (leader != 0) {
        peer_client(n, leader, out->leader_client, sizeof out->leader_client);
    }
    out->term = n->raft.current_term;
    out->commit_index = n->raft.commit_index;
    out->applied_index = raft_last_applied(&n->raft);
    if (n->fsm != NULL) { /* NULL once stopped */
        /* What the FSM has applied (the apply thread may be behind libraft); no wait. */
        struct lg_raft_fsm_view v;
        lg_raft_fsm_view(&n->adapter, &v);
        out->applied_index = v.applied_index;
        out->journal_seq = v.journal_seq;
        out->journal_gap = v.journal_gap;
        memcpy(out->chain_head, v.chain_head, sizeof out->chain_head);
    }
}

uint32_t lg_node_members(struct lg_node *n, struct lg_node_member *out, uint32_t max)
{
    if (n->raft_closed) {
        return 0;
    }
    raft_id leader = 0;
    const char *leader_raft = NULL;
    raft_leader(&n->raft, &leader, &leader_raft);
    uint32_t count = 0;
    const struct raft_configuration *conf = &n->raft.configuration;
    for (unsigned i = 0; i < conf->n && count < max; i++) {
        const struct raft_server *srv = &conf->servers[i];
        struct lg_node_member *m = &out[count++];
        memset(m, 0, sizeof *m);
        m->id = srv->id;
        snprintf(m->raft_address, sizeof m->raft_address, "%s", srv->address);
        if (srv->id == n->id) {
            memcpy(m->client_address, n->client_address, strlen(n->client_address) + 1u);
            m->gossip = "alive";
        } else {
            peer_client(n, srv->id, m->client_address, sizeof m->client_address);
            const struct lg_members_peer *p = lg_members_table_find(&n->gossip, srv->id);
            m->gossip = p != NULL ? lg_members_state_name(p->state) : "";
        }
        m->role = srv->role == RAFT_VOTER     ? "voter"
                  : srv->role == RAFT_STANDBY ? "standby"
                                              : "spare";
        m->leader = srv->id == leader;
    }
    /* Insertion sort by id: a handful of servers. */
    for (uint32_t i = 1; i < count; i++) {
        for (uint32_t j = i; j > 0 && out[j - 1u].id > out[j].id; j--) {
            struct lg_node_member t = out[j];
            out[j] = out[j - 1u];
            out[j - 1u] = t;
        }
    }
    return count;
}

/* ---- stop ----------------------------------------------------------------------------- */

static void handle_close_cb(uv_handle_t *h)
{
    struct lg_node *n = h->data;
    LG_ASSERT(n->handles_open > 0);
    n->handles_open--;
    if (n->handles_open == 0 && n->stop_cb != NULL) {
        n->stop_cb(n, n->stop_arg);
    }
}

static void on_raft_closed(struct raft *r)
{
    struct lg_node *n = r->data;
    n->raft_closed = true;
    /* Apply what the thread still has (committed entries), answer their writers, and
     * stop it: the FSM is the loop's again. */
    if (lg_raft_fsm_stop(&n->adapter, handle_close_cb, n)) {
        n->handles_open++;
    }
    reads_process(n); /* closing: every waiting read gets LG_ESHUTDOWN */
    if (n->queue_inited) {
        lg_raft_queue_close(&n->queue);
        n->queue_inited = false;
    }
    if (n->peer != NULL) {
        lg_peer_close(n->peer);
        n->peer = NULL;
    }
    /* Raft is closed, so nothing reads a snapshot's parts any more: release them before
     * the FSM they borrow from goes (libraft finalizes a pending one while closing; this
     * covers any path where it did not). */
    lg_raft_fsm_close(&n->adapter);
    int rc = lg_fsm_close(n->fsm);
    n->fsm = NULL;
    lg_log(rc == LG_OK ? LG_LOG_INFO : LG_LOG_ERROR, "node_stopped", "checkpoint=%s",
           rc == LG_OK ? "written" : lg_err_name(rc));
    if (n->handles_open == 0) {
        if (n->stop_cb != NULL) {
            n->stop_cb(n, n->stop_arg);
        }
        return;
    }
    uv_close((uv_handle_t *)&n->prepare, handle_close_cb);
    uv_close((uv_handle_t *)&n->tick, handle_close_cb);
}

static void do_close(struct lg_node *n)
{
    if (n->closing && n->raft_closed) {
        return;
    }
    n->closing = true;
    raft_close(&n->raft, on_raft_closed);
}

static void transfer_cb(struct raft_transfer *req)
{
    struct lg_node *n = req->data;
    raft_id leader = 0;
    const char *address = NULL;
    raft_leader(&n->raft, &leader, &address);
    lg_log(LG_LOG_INFO, "leadership_transferred", "new_leader=%llu",
           (unsigned long long)leader);
    if (!n->closing) {
        do_close(n);
    }
}

/* Hand leadership over (or close at once when that is impossible). */
static void stop_transfer(struct lg_node *n)
{
    n->drain_deadline_ms = 0;
    if (raft_state(&n->raft) != RAFT_LEADER) {
        do_close(n);
        return;
    }
    n->transfer.data = n;
    int rv = raft_transfer(&n->raft, &n->transfer, 0, transfer_cb);
    if (rv == 0) {
        n->transfer_deadline_ms = uv_now(n->loop) + LG_NODE_TRANSFER_TIMEOUT_MS;
        return;
    }
    lg_log(LG_LOG_WARN, "leadership_transfer_failed", "error=%s", raft_strerror(rv));
    do_close(n);
}

/* The stop sequence, driven from node_turn until raft_close starts: a leader first lets
 * the writes it accepted commit and be answered (bounded), then transfers, then closes. */
static void stop_continue(struct lg_node *n)
{
    uint64_t now = uv_now(n->loop);
    if (n->drain_deadline_ms != 0) {
        bool drained = n->queue.n_queued == 0 && n->queue.n_inflight == 0 &&
                       n->queue.n_deferred == 0;
        if (drained || now >= n->drain_deadline_ms || raft_state(&n->raft) != RAFT_LEADER) {
            lg_log(drained ? LG_LOG_INFO : LG_LOG_WARN, "writes_drained",
                   "complete=%s queued=%u inflight=%u", drained ? "true" : "false",
                   n->queue.n_queued, n->queue.n_inflight);
            stop_transfer(n);
        }
        return;
    }
    if (n->transfer_deadline_ms != 0 && now >= n->transfer_deadline_ms) {
        lg_log(LG_LOG_WARN, "leadership_transfer_timeout", "after_ms=%u",
               LG_NODE_TRANSFER_TIMEOUT_MS);
        do_close(n);
    }
}

void lg_node_stop(struct lg_node *n, lg_node_stop_cb cb, void *arg)
{
    LG_PRE(n != NULL);
    n->stop_cb = cb;
    n->stop_arg = arg;
    if (n->closing) { /* failed start: raft_init done, raft_start failed or not run */
        raft_close(&n->raft, on_raft_closed);
        return;
    }
    n->stopping = true;
    lg_log(LG_LOG_INFO, "node_stopping", "role=%s", state_name(raft_state(&n->raft)));
    if (raft_state(&n->raft) == RAFT_LEADER) {
        /* New writes are refused from now on (lg_node_submit); what was accepted is
         * proposed by the next turns and answered before leadership moves, so a rolling
         * restart does not turn committed writes into "outcome unknown". */
        n->drain_deadline_ms = uv_now(n->loop) + LG_NODE_DRAIN_TIMEOUT_MS;
        return;
    }
    do_close(n);
}

static void node_free_parts(struct lg_node *n)
{
    if (n->queue_inited) {
        lg_raft_queue_close(&n->queue);
        n->queue_inited = false;
    }
    if (n->peer != NULL) {
        lg_peer_close(n->peer);
        n->peer = NULL;
    }
    if (n->io_inited) {
        raft_uv_close(&n->io);
        n->io_inited = false;
    }
    if (n->transport_inited) {
        lg_raft_transport_close(&n->transport);
        n->transport_inited = false;
    }
    lg_raft_fsm_close(&n->adapter); /* before the FSM its snapshot parts borrow from */
    if (n->fsm != NULL) {
        lg_fsm_close(n->fsm);
        n->fsm = NULL;
    }
}

void lg_node_free(struct lg_node *n)
{
    if (n == NULL) {
        return;
    }
    node_free_parts(n);
    free(n);
}

