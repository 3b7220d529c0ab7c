/* server: the node's client TCP server (DESIGN §8) on libuv, over one lg_node.
 *
 * Objects (each lives in the heap and never moves; libuv handles are freed only in their
 * close callbacks, STYLE §9):
 * - struct lg_server: the listener, one timer (write timeouts, lingering closes, frame and
 *   idle timeouts, accept retry after an allocation failure: every deadline list is a FIFO
 *   with one fixed delay, so the timer is armed for the earliest head), one idle handle
 *   (on the next loop turn: resumes paused connections, never from inside a node callback,
 *   then writes the answers collected since the last turn: see Output below), the list of
 *   connections, the input memory held over all of them (in_bytes). Its close
 *   callback runs once every handle it opened is closed; the timer is closed last, once
 *   the last connection is (lg_server_close lets them finish writing).
 * - struct conn: one accepted connection: the TCP handle, its own read buffer (alloc_cb
 *   hands it out; bytes not yet decoded stay there while reading is paused), a frame
 *   decoder, two output buffers (one being written by libuv, at most one write in flight;
 *   one collecting responses meanwhile), the requests it waits on.
 *   States: OPEN (reading requests) -> DRAIN (no more requests: end of input, a bad or
 *   timed-out frame, the idle timeout, lg_server_close; answers still go out) -> SHUTDOWN
 *   (all answered and written: FIN sent, input discarded until the peer closes or
 *   LG_SERVER_LINGER_MS pass) -> CLOSING (uv_close called). Any state -> CLOSING on an I/O
 *   error, a bound, or LG_SERVER_LINGER_MS after lg_server_close.
 * - struct pending: one request: a copy of the frame body (the decoded request's views
 *   point into it), the arena holding the decoded arrays, and what the node holds for it
 *   (an lg_node_read or lg_raft_submit requests). It is attached to its connection until
 *   answered; it is freed when it is neither attached nor held by the node (node_refs).
 *   A request the node still holds when its connection closes, or when the server answered
 *   it `timeout`, stays alive until the node's callbacks, which then free it and answer
 *   nobody: the node may outlive the server and the other way round.
 *
 * Bounds (server.h): conns_max connections; per connection inflight_max requests and
 * in_bytes_max bytes of input (requests in progress and the decoder's split-frame buffer:
 * reading pauses, backpressure, never an error), out_bytes_max bytes of unwritten responses
 * (past it the connection closes: a client that does not read cannot make the node buffer
 * without bound), frame_timeout_ms for a frame once started, idle_timeout_ms without a
 * request. Over all connections, total_in_bytes_max bytes of input: past it, connections
 * that would allocate more (a new frame) are not read until it drops back; a connection
 * whose split frame is already allocated may finish it (that frees its buffer). Memory a
 * client controls is then bounded by about total_in_bytes_max plus one frame and its
 * decoding, and for at most frame_timeout_ms per frame, whatever the clients send.
 *
 * Input accounting: c->in_bytes = charges of the requests attached to c + its decoder's
 * buffer (dec_bytes); s->in_bytes = sum over open connections. Both move together through
 * conn_in_add / conn_in_sub only.
 *
 * Output: answers are appended to c->out (out_bytes_max checked at every append) and
 * written once per loop turn per connection: a connection with new output joins s->flushes
 * and the idle handle writes them all on the next turn (before the loop polls again), so an
 * applied Raft entry answering several requests of one connection costs it one write(2),
 * not one per answer. A write is first tried synchronously (uv_try_write: no request, no
 * callback, and no epoll_ctl, which libuv issues after every completed uv_write); only
 * what the socket does not take goes through uv_write (wbuf, from wbuf_sent), and answers
 * produced meanwhile wait in c->out for its callback. Answers leave in the order they were
 * appended. While the server closes, output is written at once (the idle handle is gone). */
#include "server.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../discovery/gossip.h"
#include "../fsm/fsm.h"
#include "../lib/arena.h"
#include "../lib/assert.h"
#include "../lib/buf.h"
#include "../lib/err.h"
#include "../lib/frame.h"
#include "../lib/merkle.h"
#include "../lib/sign.h"
#include "../lib/journal.h"
#include "../lib/limits.h"
#include "../lib/log.h"
#include "../lib/metrics.h"
#include "../lib/proofcheck.h"
#include "../lib/proto.h"
#include "../lib/tx.h"

/* listen(2) backlog: the usual Linux somaxconn default, enough for reconnect storms. */
#define SERVER_BACKLOG 511
/* The read buffer of a connection: one read fills at most this much. */
#define SERVER_READ_BYTES (64u * 1024u)
/* An output buffer bigger than this is freed after its write instead of kept for reuse,
 * so an idle connection does not pin the memory of its largest response. */
#define SERVER_KEEP_BYTES (64u * 1024u)
/* After a failed allocation while accepting, retry accepting after this long. */
#define SERVER_ACCEPT_RETRY_MS 100u
/* Arena of one read's query results (FSM records, converted arrays). A response is at
 * most one frame (16 MiB); decoded records take a few times their encoded size. Past the
 * budget list_txs halves its page, others answer too_large. */
#define SERVER_QUERY_ARENA_BYTES_MAX (64u * 1024u * 1024u)
/* balances: accounts gathered (FSM pages of LG_PAGE_LIMIT_MAX) into one answer. */
#define SERVER_BALANCES_PAGES_MAX 10u
#define SERVER_BALANCES_ACCOUNTS_MAX (SERVER_BALANCES_PAGES_MAX * LG_PAGE_LIMIT_MAX)
/* A list_txs cursor: a uint64 in decimal, at most 20 digits. */
#define SERVER_CURSOR_DIGITS_MAX 20u
/* "[" INET6_ADDRSTRLEN "]:65535" */
#define SERVER_PEER_BYTES 64u
/* Largest accepted out_bytes_max / in_bytes_max: one uv_buf_t holds at most UINT_MAX. */
#define SERVER_BYTES_LIMIT (1024u * 1024u * 1024u)

#define TIMEOUT_MESSAGE "outcome unknown: retry with the same reference"
#define SHUTDOWN_MESSAGE "node shutting down: retry on another node"

LG_STATIC_ASSERT(LG_SERVER_OUT_BYTES_MAX <= SERVER_BYTES_LIMIT, "default output bound valid");
LG_STATIC_ASSERT(LG_SERVER_IN_BYTES_MAX <= SERVER_BYTES_LIMIT, "default input bound valid");
LG_STATIC_ASSERT(LG_SERVER_TOTAL_IN_BYTES_MAX >= LG_SERVER_IN_BYTES_MAX,
                 "one connection can use its whole bound when alone");
LG_STATIC_ASSERT(LG_SERVER_FRAME_TIMEOUT_MS < LG_SERVER_IDLE_TIMEOUT_MS,
                 "a partial frame ends before an idle connection would");
LG_STATIC_ASSERT(LG_PROTO_CURSOR_BYTES_MAX > SERVER_CURSOR_DIGITS_MAX, "cursor fits the wire");

#define CONTAINER_OF(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* Intrusive doubly-linked list with a sentinel head (the objects never move). */
struct link {
    struct link *prev;
    struct link *next;
};

static void link_init(struct link *head)
{
    head->prev = head;
    head->next = head;
}

static bool link_empty(const struct link *head)
{
    return head->next == head;
}

static bool link_linked(const struct link *l)
{
    return l->next != NULL;
}

static void link_push(struct link *head, struct link *l)
{
    LG_PRE(!link_linked(l));
    l->prev = head->prev;
    l->next = head;
    head->prev->next = l;
    head->prev = l;
}

static void link_remove(struct link *l)
{
    LG_PRE(link_linked(l));
    l->prev->next = l->next;
    l->next->prev = l->prev;
    l->prev = NULL;
    l->next = NULL;
}

enum conn_state {
    CONN_OPEN = 0, /* reading and executing requests */
    CONN_DRAIN,    /* no more requests; answering those in progress */
    CONN_SHUTDOWN, /* everything written, FIN sent: discarding input until EOF or linger */
    CONN_CLOSING,  /* uv_close called; freed in the close callback */
};

struct lg_server {
    uv_loop_t *loop;
    struct lg_node *node;
    struct lg_gossip *gossip; /* borrowed; NULL: none */
    unsigned conns_max;
    unsigned inflight_max;
    size_t out_bytes_max;
    size_t in_bytes_max;
    unsigned write_timeout_ms;
    unsigned frame_timeout_ms;
    unsigned idle_timeout_ms;
    size_t total_in_bytes_max;
    size_t in_bytes;      /* input held over all open connections (sum of conn.in_bytes) */
    char bind[LG_RAFT_ADDRESS_BYTES_MAX];
    unsigned port;
    uv_tcp_t listener;
    bool listener_open;   /* initialised and not yet closed */
    uv_timer_t timer;
    bool timer_open;
    bool timer_armed;
    uint64_t timer_due_ms;
    uv_idle_t idle;
    bool idle_open;
    bool idle_active;
    unsigned n_handles;   /* handles initialised and not yet through their close callback */
    bool start_failed;    /* free the server when the last handle is closed */
    bool closing;
    bool closed;          /* close callback delivered */
    lg_server_close_cb close_cb;
    void *close_arg;
    bool accept_stalled;  /* a connection waits in the listener: retry on the timer */
    struct link conns;    /* struct conn.link */
    unsigned n_conns;
    struct link writes;   /* struct pending.wlink, by deadline (one fixed timeout) */
    struct link lingers;  /* struct conn.linger_link, by deadline */
    struct link resume;   /* struct conn.resume_link: paused connections to read again */
    struct link frames;   /* struct conn.frame_link: partial frames, by deadline */
    struct link idles;    /* struct conn.idle_link: idle connections, by deadline */
    struct link budget;   /* struct conn.budget_link: paused over total_in_bytes_max */
    struct link flushes;  /* struct conn.flush_link: output to write on the next turn */
    uint64_t next_conn_id;
    struct lg_server_stats stats;
    struct lg_metrics *metrics; /* cfg->metrics: NULL counts nothing */
    const struct lg_sign_key *key; /* signs digests; NULL: digest and proof unavailable */
    uint8_t public_key[LG_SIGN_PUBLIC_KEY_BYTES];
    lg_server_audit_fn audit_stats; /* NULL: status has no audit */
    void *audit_arg;
};

struct conn {
    uv_tcp_t tcp; /* tcp.data = this */
    struct lg_server *s;
    struct link link;        /* s->conns */
    struct link pending;     /* struct pending.link: attached requests */
    struct link resume_link; /* s->resume */
    struct link linger_link; /* s->lingers */
    uint64_t linger_due_ms;
    struct link frame_link;  /* s->frames while a frame is partial and being read */
    uint64_t frame_due_ms;
    struct link idle_link;   /* s->idles while nothing is in progress */
    uint64_t idle_due_ms;
    struct link budget_link; /* s->budget while paused over total_in_bytes_max */
    struct link flush_link;  /* s->flushes while c->out waits for the turn's flush */
    uint64_t id;
    uint8_t state;           /* enum conn_state */
    bool reading;            /* uv_read_start in effect */
    bool eof;                /* the peer closed its side */
    bool writing;            /* wreq in flight with wbuf */
    uint32_t inflight;       /* attached requests */
    size_t in_bytes;         /* memory held by attached requests + dec_bytes */
    size_t dec_bytes;        /* the decoder's split-frame buffer, as counted in in_bytes */
    uint64_t n_requests;
    struct lg_frame_decoder dec;
    struct lg_buf out;       /* responses not yet handed to libuv */
    struct lg_buf wbuf;      /* bytes of the write in flight: [wbuf_sent, len) unwritten */
    size_t wbuf_sent;        /* leading bytes of wbuf already taken by the socket */
    uv_write_t wreq;
    uv_shutdown_t sreq;
    size_t rpos;             /* rbuf[rpos..rlen) received, not yet fed to the decoder */
    size_t rlen;
    char peer[SERVER_PEER_BYTES];
    uint8_t rbuf[SERVER_READ_BYTES];
};

/* A connection refused at accept (over conns_max): closed at once. */
struct refused {
    uv_tcp_t tcp;
    struct lg_server *s;
};

struct pending {
    struct conn *c;        /* NULL once answered or detached */
    struct link link;      /* c->pending */
    struct link wlink;     /* s->writes while a write waits for the node */
    uint64_t due_ms;       /* write deadline */
    uint32_t node_refs;    /* callbacks the node still owes (reads, submits) */
    bool timed_out;        /* answered `timeout`: late callbacks only free */
    uint64_t conn_id;      /* for log lines after detaching */
    uint64_t id;           /* request id (0 when it could not be read) */
    uint8_t op;            /* enum lg_proto_op */
    uint64_t start_ns;     /* uv_hrtime() when the frame was taken (metrics) */
    size_t charged;        /* bytes counted in c->in_bytes */
    struct lg_arena arena; /* decoded request arrays, batch bookkeeping */
    struct lg_proto_request req;
    struct lg_node_read read;
    struct lg_raft_submit one;         /* submit */
    struct lg_raft_submit *subs;       /* n_subs: &one, or the batch's (arena) */
    struct lg_proto_batch_item *items; /* submit_batch answers (arena) */
    uint32_t n_subs;
    uint32_t n_done;       /* submits answered (batch) */
    size_t body_len;
    uint8_t body[];        /* the frame body: the request's views point here */
};

static void conn_close(struct conn *c, int level, const char *reason, const char *detail);
static void conn_process(struct conn *c);
static void conn_timers_update(struct conn *c);
static void conn_maybe_finish(struct conn *c);
static void conn_drain(struct conn *c);
static void server_accept(struct lg_server *s);

/* ---------------------------------------------------------------------------------------
 * Small pure helpers */

/* Write a list_txs cursor (the FSM's next_cursor, never 0) as decimal digits into out
 * (SERVER_CURSOR_DIGITS_MAX + 1 bytes). Returns the string. */
static struct lg_str server_cursor_format(uint64_t cursor, char *out)
{
    LG_PRE(cursor != 0);
    char tmp[SERVER_CURSOR_DIGITS_MAX];
    uint32_t n = 0;
    while (cursor != 0) {
        tmp[n++] = (char)('0' + (int)(cursor % 10u));
        cursor /= 10u;
    }
    for (uint32_t i = 0; i < n; i++) {
        out[i] = tmp[n - 1u - i];
    }
    out[n] = '\0';
    struct lg_str s = {out, n};
    return s;
}

/* Parse a cursor written by server_cursor_format: 1..20 digits, no overflow, not 0.
 * Returns false for anything else (the client's bytes: never trusted). */
static bool server_cursor_parse(struct lg_str s, uint64_t *out)
{
    if (s.len == 0 || s.len > SERVER_CURSOR_DIGITS_MAX) {
        return false;
    }
    uint64_t v = 0;
    for (uint32_t i = 0; i < s.len; i++) {
        char ch = s.ptr[i];
        if (ch < '0' || ch > '9') {
            return false;
        }
        uint64_t d = (uint64_t)(ch - '0');
        if (v > (UINT64_MAX - d) / 10u) {
            return false;
        }
        v = v * 10u + d;
    }
    if (v == 0) {
        return false;
    }
    *out = v;
    return true;
}

/* A string copied into the arena (NUL-terminated); len 0 when s is empty or on failure
 * (the encoder then writes the code's default message). */
static struct lg_str arena_strdup(struct lg_arena *a, const char *s)
{
    struct lg_str out = {NULL, 0};
    size_t n = strnlen(s, LG_PROTO_TEXT_BYTES_MAX);
    if (n == 0) {
        return out;
    }
    char *p = lg_arena_alloc(a, n + 1u);
    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
        out.ptr = p;
        out.len = (uint32_t)n;
    }
    return out;
}

/* ---------------------------------------------------------------------------------------
 * Queries: a request's result from the FSM, into the caller's arena. Each returns LG_OK
 * or a code with errmsg saying why, in the terms the client used. */

/* A committed transaction record as a protocol transaction (views into t). */
static int tx_from_record(const struct lg_fsm_tx *t, struct lg_proto_tx *out, char *errmsg)
{
    if (t->rec.kind != LG_CMD_SUBMIT) {
        return lg_errmsg_printf(errmsg, LG_ECORRUPT,
                                "journal: record %llu is not a transaction (kind %u)",
                                (unsigned long long)t->rec.seq, (unsigned)t->rec.kind);
    }
    memset(out, 0, sizeof *out);
    out->ledger = t->rec.ledger;
    out->tx_id = t->rec.tx_id;
    out->seq = t->rec.seq;
    out->index = t->rec.raft_index;
    out->timestamp_us = t->rec.timestamp_us;
    out->postings = t->rec.postings;
    out->n_postings = t->rec.n_postings;
    out->metadata = t->rec.metadata;
    out->n_metadata = t->rec.n_metadata;
    out->reference = t->rec.reference;
    LG_STATIC_ASSERT(LG_PROTO_HASH_BYTES == LG_HASH_BYTES, "one hash size");
    memcpy(out->hash, t->hash, LG_PROTO_HASH_BYTES);
    return LG_OK;
}

/* Message for a failed journal-backed FSM query (history reads). */
static int query_fail(struct lg_fsm *fsm, int rc, const char *what, char *errmsg)
{
    switch (rc) {
    case LG_EUNAVAIL:
        return lg_errmsg_printf(errmsg, rc,
                                "%s: in the part of the journal this node is still fetching "
                                "(catch-up after a snapshot): retry, or ask another node",
                                what);
    case LG_ENOMEM:
        return lg_errmsg_printf(errmsg, rc, "%s: out of memory", what);
    case LG_ECORRUPT:
    case LG_EIO:
        return lg_errmsg_printf(errmsg, rc, "%s: journal: %s", what,
                                lg_journal_errmsg(lg_fsm_journal(fsm)));
    default:
        return lg_errmsg_printf(errmsg, rc, "%s: %s", what, lg_err_message(rc));
    }
}

static int query_get_tx(struct lg_fsm *fsm, const struct lg_proto_get_tx *g,
                        struct lg_arena *a, struct lg_proto_tx *out, char *errmsg)
{
    struct lg_fsm_tx t;
    int rc = g->by_reference ? lg_fsm_get_tx_by_ref(fsm, g->ledger, g->reference, a, &t)
                             : lg_fsm_get_tx(fsm, g->ledger, g->tx_id, a, &t);
    if (rc == LG_ENOTFOUND) {
        char ql[LG_TX_QUOTE_BYTES];
        lg_tx_quote(g->ledger, ql);
        if (g->by_reference) {
            char qr[LG_TX_QUOTE_BYTES];
            lg_tx_quote(g->reference, qr);
            return lg_errmsg_printf(errmsg, rc,
                                    "reference: no transaction \"%s\" in ledger \"%s\"", qr,
                                    ql);
        }
        return lg_errmsg_printf(errmsg, rc, "tx_id: no transaction %llu in ledger \"%s\"",
                                (unsigned long long)g->tx_id, ql);
    }
    if (rc != LG_OK) {
        return query_fail(fsm, rc, "get_tx", errmsg);
    }
    return tx_from_record(&t, out, errmsg);
}

/* One page of list_txs with at most limit transactions, from cursor (0: first page).
 * cursor_buf (SERVER_CURSOR_DIGITS_MAX + 1 bytes) holds the next page's cursor. */
static int query_list_txs(struct lg_fsm *fsm, const struct lg_proto_list_txs *l,
                          uint64_t cursor, uint32_t limit, struct lg_arena *a,
                          struct lg_proto_response *r, char *cursor_buf, char *errmsg)
{
    LG_PRE(limit >= 1 && limit <= LG_PAGE_LIMIT_MAX);
    struct lg_fsm_tx_query q;
    memset(&q, 0, sizeof q);
    q.ledger = l->ledger;
    q.account = l->account;
    q.has_from = l->has_from_ts;
    q.from_ts = l->from_ts;
    q.has_to = l->has_to_ts;
    q.to_ts = l->to_ts;
    q.order = l->order == LG_PROTO_ORDER_DESC ? LG_FSM_DESC : LG_FSM_ASC;
    q.limit = limit;
    q.cursor = cursor;
    uint64_t *ids = lg_arena_calloc(a, limit, sizeof *ids);
    struct lg_proto_tx *txs = lg_arena_calloc(a, limit, sizeof *txs);
    if (ids == NULL || txs == NULL) {
        return query_fail(fsm, LG_ENOMEM, "list_txs", errmsg);
    }
    uint32_t n = 0;
    uint64_t next = 0;
    int rc = lg_fsm_list_txs(fsm, &q, ids, &n, &next);
    if (rc == LG_EBADREQ) {
        return lg_errmsg_printf(errmsg, rc, "cursor: invalid");
    }
    if (rc != LG_OK) {
        return query_fail(fsm, rc, "list_txs", errmsg);
    }
    LG_ASSERT(n <= limit);
    for (uint32_t i = 0; i < n; i++) {
        struct lg_fsm_tx t;
        rc = lg_fsm_get_tx(fsm, l->ledger, ids[i], a, &t);
        if (rc == LG_ENOTFOUND) {
            rc = LG_ECORRUPT; /* listed by the index, absent from the journal */
        }
        if (rc != LG_OK) {
            return query_fail(fsm, rc, "list_txs", errmsg);
        }
        rc = tx_from_record(&t, &txs[i], errmsg);
        if (rc != LG_OK) {
            return rc;
        }
    }
    r->u.list_txs.txs = txs;
    r->u.list_txs.n_txs = n;
    r->u.list_txs.cursor.ptr = NULL;
    r->u.list_txs.cursor.len = 0;
    if (next != 0) {
        r->u.list_txs.cursor = server_cursor_format(next, cursor_buf);
    }
    return LG_OK;
}

static int query_account(struct lg_fsm *fsm, const struct lg_proto_account_req *q,
                         struct lg_arena *a, struct lg_proto_account *out, char *errmsg)
{
    struct lg_fsm_account acc;
    int rc = lg_fsm_account(fsm, q->ledger, q->address, a, &acc);
    if (rc == LG_ENOTFOUND) {
        char qa[LG_TX_QUOTE_BYTES];
        char ql[LG_TX_QUOTE_BYTES];
        lg_tx_quote(q->address, qa);
        lg_tx_quote(q->ledger, ql);
        return lg_errmsg_printf(errmsg, rc, "address: no account \"%s\" in ledger \"%s\"", qa,
                                ql);
    }
    if (rc == LG_EBADREQ) {
        return lg_errmsg_printf(errmsg, rc, "address: invalid");
    }
    if (rc != LG_OK) {
        return query_fail(fsm, rc, "account", errmsg);
    }
    struct lg_proto_volume *vols = lg_arena_calloc(a, acc.n_volumes == 0 ? 1u : acc.n_volumes,
                                                   sizeof *vols);
    if (vols == NULL) {
        return query_fail(fsm, LG_ENOMEM, "account", errmsg);
    }
    for (uint32_t i = 0; i < acc.n_volumes; i++) {
        const struct lg_fsm_volume *v = &acc.volumes[i];
        if (!v->balance_ok) {
            char qs[LG_TX_QUOTE_BYTES];
            lg_tx_quote(v->asset, qs);
            return lg_errmsg_printf(errmsg, LG_EOVERFLOW,
                                    "account: the balance in %s does not fit in 128 bits", qs);
        }
        vols[i].asset = v->asset;
        vols[i].input = v->input;
        vols[i].output = v->output;
        vols[i].balance = v->balance;
    }
    memset(out, 0, sizeof *out);
    out->address = acc.address;
    out->metadata = acc.metadata;
    out->n_metadata = acc.n_metadata;
    out->version = acc.version;
    out->volumes = vols;
    out->n_volumes = acc.n_volumes;
    return LG_OK;
}

/* Balances of an address (exact) or a pattern, every matching account in one answer (at
 * most SERVER_BALANCES_ACCOUNTS_MAX), rows grouped per account, totals over all matches. */
static int query_balances(struct lg_fsm *fsm, const struct lg_proto_balances_req *b,
                          struct lg_arena *a, struct lg_proto_balances *out, char *errmsg)
{
    struct lg_fsm_balances_query q;
    memset(&q, 0, sizeof q);
    q.ledger = b->ledger;
    q.match = b->pattern.len > 0 ? LG_FSM_MATCH_PATTERN : LG_FSM_MATCH_EXACT;
    q.address = b->pattern.len > 0 ? b->pattern : b->address;
    q.asset = b->asset;
    q.limit = LG_PAGE_LIMIT_MAX;
    q.totals = true; /* over every match: the first page's are the answer's */
    struct lg_fsm_balances pages[SERVER_BALANCES_PAGES_MAX];
    uint32_t n_pages = 0;
    uint32_t n_rows = 0;
    for (;;) {
        struct lg_fsm_balances *pg = &pages[n_pages];
        int rc = lg_fsm_balances(fsm, &q, a, pg);
        if (rc == LG_EBADREQ) {
            return lg_errmsg_printf(errmsg, rc, "%s: invalid",
                                    b->pattern.len > 0 ? "pattern" : "address");
        }
        if (rc == LG_EOVERFLOW) {
            return lg_errmsg_printf(errmsg, rc,
                                    "balances: a balance or total does not fit in 128 bits");
        }
        if (rc != LG_OK) {
            return query_fail(fsm, rc, "balances", errmsg);
        }
        n_rows += pg->n_rows;
        n_pages++;
        if (pg->next_cursor.len == 0) {
            break;
        }
        if (n_pages == SERVER_BALANCES_PAGES_MAX) {
            return lg_errmsg_printf(errmsg, LG_ETOOLARGE,
                                    "balances: more than %u accounts match: narrow the pattern "
                                    "or name an asset",
                                    SERVER_BALANCES_ACCOUNTS_MAX);
        }
        q.cursor = pg->next_cursor; /* a view into the FSM: valid within this read */
        q.totals = false;
    }
    struct lg_proto_account_balances *groups =
        lg_arena_calloc(a, n_rows == 0 ? 1u : n_rows, sizeof *groups);
    struct lg_proto_balance *bals = lg_arena_calloc(a, n_rows == 0 ? 1u : n_rows, sizeof *bals);
    const struct lg_fsm_balances *first = &pages[0];
    struct lg_proto_balance *totals =
        lg_arena_calloc(a, first->n_totals == 0 ? 1u : first->n_totals, sizeof *totals);
    if (groups == NULL || bals == NULL || totals == NULL) {
        return query_fail(fsm, LG_ENOMEM, "balances", errmsg);
    }
    uint32_t n_groups = 0;
    uint32_t k = 0;
    for (uint32_t p = 0; p < n_pages; p++) {
        for (uint32_t i = 0; i < pages[p].n_rows; i++) {
            const struct lg_fsm_balance_row *row = &pages[p].rows[i];
            if (n_groups == 0 || !lg_tx_str_eq(groups[n_groups - 1u].address, row->address)) {
                groups[n_groups].address = row->address;
                groups[n_groups].balances = &bals[k];
                groups[n_groups].n_balances = 0;
                n_groups++;
            }
            bals[k].asset = row->asset;
            bals[k].balance = row->balance;
            k++;
            groups[n_groups - 1u].n_balances++;
        }
    }
    LG_ASSERT(k == n_rows);
    for (uint32_t i = 0; i < first->n_totals; i++) {
        totals[i].asset = first->totals[i].asset;
        totals[i].balance = first->totals[i].total;
    }
    out->accounts = groups;
    out->n_accounts = n_groups;
    out->totals = totals;
    out->n_totals = first->n_totals;
    return LG_OK;
}

/* journal_read: records from_seq.. of the local journal, bodies totalling at most
 * max_bytes (at least one when any), copied into the arena. */
static int query_journal_read(struct lg_fsm *fsm, const struct lg_proto_journal_read *q,
                              struct lg_arena *a, struct lg_proto_response *r, char *errmsg)
{
    struct lg_journal *j = lg_fsm_journal(fsm);
    uint64_t last = lg_journal_last_seq(j);
    uint64_t max_bytes = q->max_bytes == 0 ? LG_PROTO_JOURNAL_READ_BYTES_DEFAULT : q->max_bytes;
    LG_PRE(q->from_seq >= 1);
    r->u.journal_read.records = NULL;
    r->u.journal_read.n_records = 0;
    r->u.journal_read.first_seq = q->from_seq;
    r->u.journal_read.last_seq = last;
    if (q->from_seq > last) {
        return LG_OK;
    }
    uint64_t count = last - q->from_seq + 1u;
    if (count > LG_PROTO_JOURNAL_READ_RECORDS_MAX) {
        count = LG_PROTO_JOURNAL_READ_RECORDS_MAX;
    }
    struct lg_str *records = lg_arena_calloc(a, (size_t)count, sizeof *records);
    if (records == NULL) {
        return query_fail(fsm, LG_ENOMEM, "journal_read", errmsg);
    }
    struct lg_journal_iter it;
    int rc = lg_journal_iter_init(&it, j, q->from_seq, q->from_seq + count - 1u);
    if (rc != LG_OK) {
        return lg_errmsg_printf(errmsg, LG_EIO, "journal_read: seqs %llu..%llu: %s",
                                (unsigned long long)q->from_seq,
                                (unsigned long long)(q->from_seq + count - 1u),
                                lg_err_message(rc));
    }
    uint32_t n = 0;
    uint64_t total = 0;
    while (n < count) {
        struct lg_journal_record rec;
        int got = lg_journal_iter_next(&it, &rec);
        if (got == 0) {
            break;
        }
        if (got < 0) {
            if (n == 0) {
                return query_fail(fsm, -got, "journal_read", errmsg);
            }
            break; /* serve what verified; the next page starts at the bad record */
        }
        if (rec.seq != q->from_seq + n) {
            return lg_errmsg_printf(errmsg, LG_ECORRUPT, "journal_read: seq %llu, want %llu",
                                    (unsigned long long)rec.seq,
                                    (unsigned long long)(q->from_seq + n));
        }
        if (n > 0 && total + rec.body_len > max_bytes) {
            break;
        }
        uint8_t *copy = lg_arena_alloc(a, rec.body_len);
        if (copy == NULL) {
            if (n == 0) {
                return query_fail(fsm, LG_ENOMEM, "journal_read", errmsg);
            }
            break;
        }
        memcpy(copy, rec.body, rec.body_len);
        records[n].ptr = (const char *)copy;
        records[n].len = rec.body_len;
        total += rec.body_len;
        n++;
    }
    r->u.journal_read.records = records;
    r->u.journal_read.n_records = n;
    return LG_OK;
}

/* A submit command from the wire's submit arguments (views into the request). */
static void cmd_from_submit(struct lg_cmd *cmd, const struct lg_proto_submit *s)
{
    memset(cmd, 0, sizeof *cmd);
    cmd->kind = LG_CMD_SUBMIT;
    cmd->u.submit.ledger = s->ledger;
    cmd->u.submit.postings = s->postings;
    cmd->u.submit.n_postings = s->n_postings;
    cmd->u.submit.metadata = s->metadata; /* wire order: the queue's encoder sorts */
    cmd->u.submit.n_metadata = s->n_metadata;
    cmd->u.submit.reference = s->reference;
    cmd->u.submit.conditions = s->conditions;
    cmd->u.submit.n_conditions = s->n_conditions;
}

static void tx_result_from(const struct lg_cmd_result *res, struct lg_proto_tx_result *out)
{
    out->tx_id = res->tx_id;
    out->seq = res->seq;
    out->index = res->raft_index;
    out->timestamp_us = res->timestamp_us;
    memcpy(out->hash, res->hash, LG_PROTO_HASH_BYTES);
}

/* ---------------------------------------------------------------------------------------
 * Server handles and the timer */

static void server_maybe_closed(struct lg_server *s)
{
    if (s->n_handles > 0) {
        return;
    }
    if (s->start_failed) {
        free(s);
        return;
    }
    if (s->closing && !s->closed) {
        s->closed = true;
        if (s->close_cb != NULL) {
            s->close_cb(s, s->close_arg);
        }
    }
}

static void server_handle_closed(uv_handle_t *h)
{
    struct lg_server *s = h->data;
    LG_PRE(s->n_handles > 0);
    s->n_handles--;
    server_maybe_closed(s);
}

static void timer_cb(uv_timer_t *t);

/* Make the timer fire at due_ms (loop time) or earlier. Also while closing: lingering
 * connections need it until the last one is closed (then the timer is closed). */
static void timer_arm(struct lg_server *s, uint64_t due_ms)
{
    if (!s->timer_open) {
        return;
    }
    if (s->timer_armed && s->timer_due_ms <= due_ms) {
        return;
    }
    uint64_t now = uv_now(s->loop);
    int rc = uv_timer_start(&s->timer, timer_cb, due_ms > now ? due_ms - now : 0, 0);
    if (rc != 0) {
        lg_log(LG_LOG_ERROR, "server_timer_failed", "err=%s", uv_err_name(rc));
        return;
    }
    s->timer_armed = true;
    s->timer_due_ms = due_ms;
}

static void idle_cb(uv_idle_t *h);

/* Arm the timer for the earliest head of the deadline lists. */
static void timer_rearm(struct lg_server *s)
{
    if (!link_empty(&s->writes)) {
        timer_arm(s, CONTAINER_OF(s->writes.next, struct pending, wlink)->due_ms);
    }
    if (!link_empty(&s->lingers)) {
        timer_arm(s, CONTAINER_OF(s->lingers.next, struct conn, linger_link)->linger_due_ms);
    }
    if (!link_empty(&s->frames)) {
        timer_arm(s, CONTAINER_OF(s->frames.next, struct conn, frame_link)->frame_due_ms);
    }
    if (!link_empty(&s->idles)) {
        timer_arm(s, CONTAINER_OF(s->idles.next, struct conn, idle_link)->idle_due_ms);
    }
}

/* Run idle_cb on the next loop turn (an active idle handle also keeps the loop from
 * blocking in poll before it). Returns 0 or a libuv code. */
static int server_wake(struct lg_server *s)
{
    if (s->idle_active) {
        return 0;
    }
    int rc = uv_idle_start(&s->idle, idle_cb);
    if (rc == 0) {
        s->idle_active = true;
    }
    return rc;
}

/* Read again from a paused connection on the next loop turn. */
static void resume_queue(struct conn *c)
{
    struct lg_server *s = c->s;
    if (link_linked(&c->resume_link) || s->closing) {
        return;
    }
    link_push(&s->resume, &c->resume_link);
    int rc = server_wake(s);
    if (rc != 0) {
        link_remove(&c->resume_link);
        conn_close(c, LG_LOG_ERROR, "resume_failed", uv_strerror(rc));
    }
}

/* ---------------------------------------------------------------------------------------
 * Requests: attach, answer, release */

/* The connection's own bounds: inflight_max requests, in_bytes_max bytes of input once a
 * request is in progress (so one request, and the frame being gathered when none is in
 * progress, is always admitted however big). */
static bool conn_full(const struct conn *c)
{
    return c->inflight >= c->s->inflight_max ||
           (c->inflight > 0 && c->in_bytes > c->s->in_bytes_max);
}

static bool server_over_budget(const struct lg_server *s)
{
    return s->in_bytes > s->total_in_bytes_max;
}

/* The body of a split frame is being gathered into a buffer already allocated (and
 * counted): reading more allocates nothing new, and completing it frees that buffer. */
static bool conn_body_allocated(const struct conn *c)
{
    return c->dec.body_len > 0 && c->dec.body != NULL && c->dec.body_cap >= c->dec.body_len;
}

/* Over the server-wide budget, a connection is not read when more input could allocate. */
static bool conn_budget_blocked(const struct conn *c)
{
    return server_over_budget(c->s) && !conn_body_allocated(c);
}

/* May c's input be fed to its decoder now? */
static bool conn_may_take(const struct conn *c)
{
    return !conn_full(c) && !conn_budget_blocked(c);
}

static void conn_in_add(struct conn *c, size_t n)
{
    LG_ASSERT(c->in_bytes <= SIZE_MAX - n);
    c->in_bytes += n;
    c->s->in_bytes += n;
}

/* Less input held: once under the budget, connections it paused are read again. */
static void conn_in_sub(struct conn *c, size_t n)
{
    struct lg_server *s = c->s;
    LG_ASSERT(c->in_bytes >= n);
    LG_ASSERT(s->in_bytes >= n);
    c->in_bytes -= n;
    s->in_bytes -= n;
    while (!server_over_budget(s) && !link_empty(&s->budget)) {
        struct conn *w = CONTAINER_OF(s->budget.next, struct conn, budget_link);
        link_remove(&w->budget_link);
        resume_queue(w);
    }
}

/* Count the decoder's split-frame buffer (allocated size) in c's input. */
static void conn_dec_sync(struct conn *c)
{
    size_t now = c->dec.body_cap;
    size_t before = c->dec_bytes;
    c->dec_bytes = now;
    if (now > before) {
        conn_in_add(c, now - before);
    } else if (now < before) {
        conn_in_sub(c, before - now);
    }
}

/* No more frames from c: free the decoder's buffer now, not when the handle is closed. */
static void conn_dec_release(struct conn *c)
{
    lg_frame_decoder_close(&c->dec);
    conn_dec_sync(c);
    LG_POST(c->dec_bytes == 0);
}

/* Count p's memory in its connection (again after its arena grew). */
static void pending_charge(struct pending *p)
{
    LG_PRE(p->c != NULL);
    size_t now = sizeof *p + p->body_len + p->arena.bytes_total;
    size_t before = p->charged;
    p->charged = now;
    if (now > before) {
        conn_in_add(p->c, now - before);
    } else if (now < before) {
        conn_in_sub(p->c, before - now);
    }
}

static void pending_attach(struct conn *c, struct pending *p)
{
    p->c = c;
    p->conn_id = c->id;
    link_push(&c->pending, &p->link);
    c->inflight++;
    pending_charge(p);
}

/* Free p once nobody holds it. */
static void pending_release(struct pending *p)
{
    if (p->c != NULL || p->node_refs > 0) {
        return;
    }
    LG_ASSERT(!link_linked(&p->wlink));
    lg_arena_close(&p->arena);
    free(p);
}

/* p is answered (or abandoned): it leaves its connection, which may read again. */
static void pending_unlink(struct pending *p)
{
    struct conn *c = p->c;
    LG_PRE(c != NULL);
    link_remove(&p->link);
    if (link_linked(&p->wlink)) {
        link_remove(&p->wlink);
    }
    LG_ASSERT(c->inflight > 0);
    c->inflight--;
    size_t charged = p->charged;
    p->charged = 0;
    p->c = NULL;
    conn_in_sub(c, charged);
    if (c->state == CONN_OPEN && !c->reading && !conn_full(c)) {
        resume_queue(c);
    }
    conn_timers_update(c);
}

/* The connection closes while p waits: the node's callbacks free it later. */
static void pending_detach(struct pending *p)
{
    LG_PRE(p->c != NULL);
    LG_PRE(p->node_refs > 0); /* only requests the node holds are ever left waiting */
    struct conn *c = p->c;
    link_remove(&p->link);
    if (link_linked(&p->wlink)) {
        link_remove(&p->wlink);
    }
    LG_ASSERT(c->inflight > 0);
    c->inflight--;
    size_t charged = p->charged;
    p->charged = 0;
    p->c = NULL;
    conn_in_sub(c, charged);
}

/* ---------------------------------------------------------------------------------------
 * Output */

static void conn_write_cb(uv_write_t *req, int status);

/* Hand the collected responses to the socket when no write is in flight: as much as it
 * takes now (uv_try_write), the rest with uv_write (callback: conn_write_cb). */
static void conn_flush(struct conn *c)
{
    if (c->writing || c->out.len == 0 || c->state == CONN_CLOSING) {
        return;
    }
    LG_ASSERT(c->wbuf.len == 0);
    LG_ASSERT(c->out.len <= SERVER_BYTES_LIMIT);
    uv_buf_t b = uv_buf_init((char *)c->out.data, (unsigned)c->out.len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n < 0 && n != UV_EAGAIN) {
        conn_close(c, LG_LOG_DEBUG, "write_failed", uv_strerror(n));
        return;
    }
    size_t sent = n > 0 ? (size_t)n : 0u;
    LG_ASSERT(sent <= c->out.len);
    if (sent == c->out.len) {
        lg_buf_reset(&c->out);
        if (c->out.cap > SERVER_KEEP_BYTES) {
            lg_buf_close(&c->out);
        }
        return;
    }
    struct lg_buf tmp = c->wbuf;
    c->wbuf = c->out;
    c->out = tmp;
    c->wbuf_sent = sent;
    b = uv_buf_init((char *)c->wbuf.data + sent, (unsigned)(c->wbuf.len - sent));
    c->wreq.data = c;
    int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, conn_write_cb);
    if (rc != 0) {
        lg_buf_reset(&c->wbuf); /* no callback comes */
        c->wbuf_sent = 0;
        conn_close(c, LG_LOG_DEBUG, "write_failed", uv_strerror(rc));
        return;
    }
    c->writing = true;
}

/* Write c's output now (conn_flush), then finish a draining connection and move its
 * idle deadline: what follows every write that may complete without a callback. */
static void conn_write_out(struct conn *c)
{
    conn_flush(c);
    if (c->state == CONN_CLOSING) {
        return;
    }
    conn_maybe_finish(c);
    if (c->state != CONN_CLOSING) {
        conn_timers_update(c);
    }
}

static void conn_write_cb(uv_write_t *req, int status)
{
    struct conn *c = req->data;
    LG_PRE(c->writing);
    c->writing = false;
    lg_buf_reset(&c->wbuf);
    c->wbuf_sent = 0;
    if (c->wbuf.cap > SERVER_KEEP_BYTES) {
        lg_buf_close(&c->wbuf);
    }
    if (status == UV_ECANCELED || c->state == CONN_CLOSING) {
        return;
    }
    if (status < 0) {
        conn_close(c, LG_LOG_DEBUG, "write_failed", uv_strerror(status));
        return;
    }
    /* What was appended while this write was in flight: at once (the socket had room
     * again), it no longer waits for the turn's flush. */
    if (link_linked(&c->flush_link)) {
        link_remove(&c->flush_link);
    }
    conn_write_out(c);
}

/* Write the output of every connection queued since the last flush (once per loop turn). */
static void server_flush(struct lg_server *s)
{
    while (!link_empty(&s->flushes)) {
        struct conn *c = CONTAINER_OF(s->flushes.next, struct conn, flush_link);
        link_remove(&c->flush_link);
        conn_write_out(c);
    }
}

/* After appending to c->out: enforce out_bytes_max, then have it written on the next loop
 * turn with whatever else is answered until then (at once while the server closes). */
static void conn_appended(struct conn *c)
{
    struct lg_server *s = c->s;
    LG_ASSERT(c->wbuf_sent <= c->wbuf.len);
    size_t unwritten = c->out.len + (c->wbuf.len - c->wbuf_sent);
    if (unwritten > s->out_bytes_max) {
        char detail[96];
        snprintf(detail, sizeof detail, "%zu unwritten response bytes, at most %zu", unwritten,
                 s->out_bytes_max);
        s->stats.closed_out_bytes++;
        conn_close(c, LG_LOG_WARN, "out_bytes_max", detail);
        return;
    }
    if (c->writing || link_linked(&c->flush_link)) {
        return; /* conn_write_cb or the turn's flush takes it */
    }
    if (s->closing || server_wake(s) != 0) {
        conn_write_out(c);
        return;
    }
    link_push(&s->flushes, &c->flush_link);
}

/* Count p's answer in the metrics (lib/metrics.h). */
static void pending_count(const struct pending *p, int code)
{
    struct lg_metrics *m = p->c->s->metrics;
    if (m != NULL) {
        lg_metrics_request(m, p->op, code, (uv_hrtime() - p->start_ns) / 1000u);
    }
}

/* Answer p with an error. */
static void pending_fail(struct pending *p, int code, const char *message, const char *leader)
{
    LG_PRE(code != LG_OK);
    struct conn *c = p->c;
    LG_PRE(c != NULL);
    int rc = lg_proto_encode_error(p->id, code, message, leader, &c->out);
    pending_count(p, code);
    pending_unlink(p);
    if (rc != LG_OK) {
        conn_close(c, LG_LOG_ERROR, "encode_failed", lg_err_message(rc));
    } else {
        conn_appended(c);
    }
    pending_release(p);
}

/* Encode r as p's answer. LG_OK: appended, p is answered (and may be freed). Else the
 * encoder's code: nothing appended, p still waits. */
static int pending_try_respond(struct pending *p, struct lg_proto_response *r)
{
    struct conn *c = p->c;
    LG_PRE(c != NULL);
    r->id = p->id;
    r->ok = true;
    int rc = lg_proto_encode_response(p->op, r, &c->out);
    if (rc != LG_OK) {
        return rc;
    }
    pending_count(p, LG_OK);
    pending_unlink(p);
    conn_appended(c);
    pending_release(p);
    return LG_OK;
}

/* Answer p with r, or with the reason it cannot be encoded. */
static void pending_respond(struct pending *p, struct lg_proto_response *r)
{
    int rc = pending_try_respond(p, r);
    if (rc == LG_OK) {
        return;
    }
    char msg[LG_ERRMSG_SIZE];
    if (rc == LG_ETOOLARGE) {
        lg_errmsg_printf(msg, rc, "response: larger than one frame (%u bytes): ask for less",
                         LG_FRAME_BYTES_MAX);
    } else {
        lg_errmsg_printf(msg, rc, "response: cannot encode: %s", lg_err_message(rc));
        lg_log(LG_LOG_ERROR, "response_encode_failed", "conn=%llu id=%llu op=%s code=%s",
               (unsigned long long)p->conn_id, (unsigned long long)p->id,
               lg_proto_op_name(p->op), lg_err_name(rc));
    }
    pending_fail(p, rc == LG_EINVAL ? LG_EIO : rc, msg, NULL);
}

/* Wire code for an internal query failure, logged: this node has a problem. */
static void pending_fail_query(struct pending *p, int rc, const char *msg)
{
    if (rc == LG_ECORRUPT || rc == LG_EIO || rc == LG_EINVAL) {
        char q[LG_ERRMSG_SIZE + 8];
        lg_log(LG_LOG_ERROR, "query_failed", "conn=%llu id=%llu op=%s code=%s msg=%s",
               (unsigned long long)p->conn_id, (unsigned long long)p->id,
               lg_proto_op_name(p->op), lg_err_name(rc), lg_log_quote(msg, q, sizeof q));
    }
    pending_fail(p, rc, msg, NULL);
}

/* Once the node is stopping, lg_node_submit and lg_node_read must not be called (a read
 * started after Raft closed would never be answered): such requests are answered
 * `unavailable` here, without calling the node. Returns true when p was answered so. */
static bool pending_refuse_stopping(struct pending *p)
{
    if (!lg_node_stopping(p->c->s->node)) {
        return false;
    }
    pending_fail(p, LG_EUNAVAIL, SHUTDOWN_MESSAGE, NULL);
    return true;
}

/* The answer to a request this node cannot serve because it does not lead: not_leader
 * naming the leader's client address (copied to leader_out, LG_RAFT_ADDRESS_BYTES_MAX
 * bytes, "" otherwise), or unavailable when the leader or its address is unknown.
 * Returns the code; msg (LG_ERRMSG_SIZE) gets the message. */
static int not_leader_answer(struct lg_server *s, char *msg, char *leader_out)
{
    struct lg_node_status st;
    lg_node_status(s->node, &st);
    leader_out[0] = '\0';
    if (st.leader_id != 0 && st.leader_id != st.node_id && st.leader_client[0] != '\0') {
        snprintf(leader_out, LG_RAFT_ADDRESS_BYTES_MAX, "%s", st.leader_client);
        return lg_errmsg_printf(msg, LG_ENOTLEADER, "not the leader: the leader is node %llu "
                                "at %s", (unsigned long long)st.leader_id, st.leader_client);
    }
    if (st.leader_id != 0 && st.leader_id != st.node_id) {
        return lg_errmsg_printf(msg, LG_EUNAVAIL, "not the leader: leader node %llu's client "
                                "address is not known yet", (unsigned long long)st.leader_id);
    }
    return lg_errmsg_printf(msg, LG_EUNAVAIL, "no leader known (election in progress)");
}

static void pending_not_leader(struct pending *p)
{
    char msg[LG_ERRMSG_SIZE];
    char leader[LG_RAFT_ADDRESS_BYTES_MAX];
    int code = not_leader_answer(p->c->s, msg, leader);
    pending_fail(p, code, msg, leader[0] != '\0' ? leader : NULL);
}

/* ---------------------------------------------------------------------------------------
 * Writes: submit, submit_batch */

/* The wire error for a failed submit (synchronous code or the queue's result). The code
 * and message go to *code / msg; *leader_out is set for not_leader. */
static int submit_error(struct lg_server *s, int rc, const char *message, char *msg,
                        char *leader_out)
{
    leader_out[0] = '\0';
    switch (rc) {
    case LG_ENOTLEADER:
        return not_leader_answer(s, msg, leader_out);
    case LG_ESHUTDOWN:
        return lg_errmsg_printf(msg, LG_EUNAVAIL, SHUTDOWN_MESSAGE);
    case LG_EUNAVAIL:
        if (message == NULL || message[0] == '\0') {
            message = "leadership lost: " TIMEOUT_MESSAGE;
        }
        return lg_errmsg_printf(msg, rc, "%s", message);
    default:
        if (message == NULL || message[0] == '\0') {
            message = lg_err_message(rc);
        }
        return lg_errmsg_printf(msg, rc, "%s", message);
    }
}

static void pending_writes_push(struct pending *p)
{
    struct lg_server *s = p->c->s;
    p->due_ms = uv_now(s->loop) + s->write_timeout_ms;
    link_push(&s->writes, &p->wlink);
    timer_arm(s, p->due_ms);
}

static void batch_item_fail(struct pending *p, uint32_t i, int code, const char *msg,
                            const char *leader)
{
    struct lg_proto_batch_item *it = &p->items[i];
    it->ok = false;
    it->error.code = code;
    it->error.message = arena_strdup(&p->arena, msg);
    it->error.leader.len = 0;
    if (leader != NULL && leader[0] != '\0') {
        it->error.leader = arena_strdup(&p->arena, leader);
    }
}

static void batch_respond(struct pending *p)
{
    struct lg_proto_response r;
    memset(&r, 0, sizeof r);
    r.u.batch.items = p->items;
    r.u.batch.n_items = p->n_subs;
    pending_respond(p, &r);
}

static void submit_cb(struct lg_raft_submit *req, const struct lg_cmd_result *res)
{
    struct pending *p = req->data;
    LG_PRE(p->node_refs > 0);
    LG_PRE(req >= p->subs && req < p->subs + p->n_subs);
    p->node_refs--;
    uint32_t i = (uint32_t)(req - p->subs);
    if (p->c == NULL) {
        if (p->timed_out) {
            lg_log(LG_LOG_INFO, "write_late",
                   "conn=%llu id=%llu item=%u code=%s tx_id=%llu seq=%llu",
                   (unsigned long long)p->conn_id, (unsigned long long)p->id, i,
                   lg_err_name(res->code), (unsigned long long)res->tx_id,
                   (unsigned long long)res->seq);
        }
        pending_release(p);
        return;
    }
    struct lg_server *s = p->c->s;
    if (s->metrics != NULL && res->code != LG_ENOTLEADER && res->code != LG_EUNAVAIL &&
        res->code != LG_ESHUTDOWN && res->code != LG_ETIMEOUT) {
        lg_metrics_transaction(s->metrics, res->code); /* an outcome, not a refusal */
    }
    char msg[LG_ERRMSG_SIZE];
    char leader[LG_RAFT_ADDRESS_BYTES_MAX];
    int code = LG_OK;
    if (res->code != LG_OK) {
        code = submit_error(s, res->code, res->message, msg, leader);
    }
    if (p->op == LG_PROTO_OP_SUBMIT) {
        if (code != LG_OK) {
            pending_fail(p, code, msg, leader[0] != '\0' ? leader : NULL);
            return;
        }
        struct lg_proto_response r;
        memset(&r, 0, sizeof r);
        tx_result_from(res, &r.u.submit); /* a duplicate answers like the original */
        pending_respond(p, &r);
        return;
    }
    LG_ASSERT(p->op == LG_PROTO_OP_SUBMIT_BATCH);
    if (code != LG_OK) {
        batch_item_fail(p, i, code, msg, leader);
    } else {
        p->items[i].ok = true;
        tx_result_from(res, &p->items[i].result);
    }
    p->n_done++;
    if (p->n_done == p->n_subs) {
        batch_respond(p);
    }
}

static void sub_prepare(struct pending *p, uint32_t i, const struct lg_proto_submit *tx)
{
    struct lg_raft_submit *sub = &p->subs[i];
    memset(sub, 0, sizeof *sub);
    sub->data = p;
    sub->cb = submit_cb;
    sub->checked = true; /* lg_proto_decode_request validated it (the same lib/tx checks) */
    cmd_from_submit(&sub->cmd, tx);
}

static void op_submit(struct pending *p)
{
    struct lg_server *s = p->c->s;
    if (pending_refuse_stopping(p)) {
        return;
    }
    p->subs = &p->one;
    p->n_subs = 1;
    sub_prepare(p, 0, &p->req.u.submit);
    char errmsg[LG_ERRMSG_SIZE];
    errmsg[0] = '\0';
    int rc = lg_node_submit(s->node, &p->one, errmsg);
    if (rc == LG_OK) {
        p->node_refs++;
        pending_writes_push(p);
        return;
    }
    if (rc == LG_ENOTLEADER) {
        pending_not_leader(p);
        return;
    }
    char msg[LG_ERRMSG_SIZE];
    char leader[LG_RAFT_ADDRESS_BYTES_MAX];
    int code = submit_error(s, rc, errmsg, msg, leader);
    pending_fail(p, code, msg, leader[0] != '\0' ? leader : NULL);
}

/* Non-atomic batch: one queued command per transaction (the queue may put them in one
 * Raft entry), each answered on its own, the whole answer once all are. */
static void op_submit_batch(struct pending *p)
{
    struct lg_server *s = p->c->s;
    const struct lg_proto_submit_batch *b = &p->req.u.batch;
    if (b->atomic) {
        pending_fail(p, LG_EBADREQ, "txs: atomic batches are not supported yet", NULL);
        return;
    }
    if (pending_refuse_stopping(p)) {
        return;
    }
    LG_PRE(b->n_txs >= 1 && b->n_txs <= LG_PROTO_BATCH_TXS_MAX);
    p->subs = lg_arena_calloc(&p->arena, b->n_txs, sizeof *p->subs);
    p->items = lg_arena_calloc(&p->arena, b->n_txs, sizeof *p->items);
    if (p->subs == NULL || p->items == NULL) {
        pending_fail(p, LG_ENOMEM, "submit_batch: out of memory", NULL);
        return;
    }
    p->n_subs = b->n_txs;
    p->n_done = 0;
    pending_charge(p);
    for (uint32_t i = 0; i < b->n_txs; i++) {
        sub_prepare(p, i, &b->txs[i]);
        char errmsg[LG_ERRMSG_SIZE];
        errmsg[0] = '\0';
        int rc = lg_node_submit(s->node, &p->subs[i], errmsg);
        if (rc == LG_OK) {
            p->node_refs++;
            continue;
        }
        if (rc == LG_ENOTLEADER && i == 0) {
            pending_not_leader(p); /* nothing was queued: the whole batch goes elsewhere */
            return;
        }
        char msg[LG_ERRMSG_SIZE];
        char leader[LG_RAFT_ADDRESS_BYTES_MAX];
        int code = submit_error(s, rc, errmsg, msg, leader);
        batch_item_fail(p, i, code, msg, leader);
        p->n_done++;
    }
    pending_charge(p);
    if (p->n_done == p->n_subs) {
        LG_ASSERT(p->node_refs == 0);
        batch_respond(p);
        return;
    }
    pending_writes_push(p);
}

/* write_timeout_ms passed without the node's answer. */
static void write_timeout(struct pending *p)
{
    LG_PRE(p->c != NULL && p->node_refs > 0);
    lg_log(LG_LOG_INFO, "write_timeout", "conn=%llu id=%llu op=%s waiting=%u",
           (unsigned long long)p->conn_id, (unsigned long long)p->id, lg_proto_op_name(p->op),
           p->node_refs);
    p->timed_out = true;
    if (p->op == LG_PROTO_OP_SUBMIT) {
        pending_fail(p, LG_ETIMEOUT, TIMEOUT_MESSAGE, NULL);
        return;
    }
    for (uint32_t i = 0; i < p->n_subs; i++) {
        const struct lg_proto_batch_item *it = &p->items[i];
        if (!it->ok && it->error.code == LG_OK) {
            batch_item_fail(p, i, LG_ETIMEOUT, TIMEOUT_MESSAGE, NULL);
        }
    }
    batch_respond(p);
}

/* ---------------------------------------------------------------------------------------
 * Reads */

/* A query answered in one go: get_tx, account, balances (list_txs pages itself). */
typedef int (*query_fn)(struct lg_fsm *fsm, const struct lg_proto_request *q,
                        struct lg_arena *a, struct lg_proto_response *r, char *errmsg);

static int query_get_tx_req(struct lg_fsm *fsm, const struct lg_proto_request *q,
                            struct lg_arena *a, struct lg_proto_response *r, char *errmsg)
{
    return query_get_tx(fsm, &q->u.get_tx, a, &r->u.get_tx, errmsg);
}

static int query_account_req(struct lg_fsm *fsm, const struct lg_proto_request *q,
                             struct lg_arena *a, struct lg_proto_response *r, char *errmsg)
{
    return query_account(fsm, &q->u.account, a, &r->u.account, errmsg);
}

static int query_balances_req(struct lg_fsm *fsm, const struct lg_proto_request *q,
                              struct lg_arena *a, struct lg_proto_response *r, char *errmsg)
{
    int rc = query_balances(fsm, &q->u.balances, a, &r->u.balances, errmsg);
    if (rc == LG_ENOMEM && lg_arena_over_budget(a)) {
        rc = lg_errmsg_printf(errmsg, LG_ETOOLARGE,
                              "balances: too many accounts match: narrow the pattern");
    }
    return rc;
}

static void serve_query(struct pending *p, struct lg_fsm *fsm, query_fn fn)
{
    struct lg_arena a;
    lg_arena_init(&a, SERVER_QUERY_ARENA_BYTES_MAX);
    struct lg_proto_response r;
    memset(&r, 0, sizeof r);
    char errmsg[LG_ERRMSG_SIZE];
    int rc = fn(fsm, &p->req, &a, &r, errmsg);
    if (rc == LG_OK) {
        pending_respond(p, &r);
    } else {
        pending_fail_query(p, rc, errmsg);
    }
    lg_arena_close(&a);
}

/* list_txs: the page the client asked for, halved until it fits one frame. */
static void serve_list_txs(struct pending *p, struct lg_fsm *fsm)
{
    const struct lg_proto_list_txs *l = &p->req.u.list_txs;
    uint64_t cursor = 0;
    if (l->cursor.len > 0 && !server_cursor_parse(l->cursor, &cursor)) {
        pending_fail(p, LG_EBADREQ, "cursor: invalid", NULL);
        return;
    }
    uint32_t limit = l->limit == 0 ? LG_PAGE_LIMIT_DEFAULT : l->limit;
    struct lg_arena a;
    lg_arena_init(&a, SERVER_QUERY_ARENA_BYTES_MAX);
    for (;;) {
        lg_arena_reset(&a);
        struct lg_proto_response r;
        memset(&r, 0, sizeof r);
        char errmsg[LG_ERRMSG_SIZE];
        char cursor_buf[SERVER_CURSOR_DIGITS_MAX + 1u];
        int rc = query_list_txs(fsm, l, cursor, limit, &a, &r, cursor_buf, errmsg);
        bool over = rc == LG_ENOMEM && lg_arena_over_budget(&a);
        if (rc == LG_OK) {
            rc = pending_try_respond(p, &r);
            if (rc == LG_OK) {
                break;
            }
            over = rc == LG_ETOOLARGE;
            lg_errmsg_printf(errmsg, rc, "list_txs: response: %s", lg_err_message(rc));
        }
        if (over && limit > 1) {
            limit /= 2u;
            continue;
        }
        if (over) {
            lg_errmsg_printf(errmsg, LG_ETOOLARGE, "list_txs: one transaction is too large "
                                                   "to answer");
            rc = LG_ETOOLARGE;
        }
        pending_fail_query(p, rc == LG_EINVAL ? LG_EIO : rc, errmsg);
        break;
    }
    lg_arena_close(&a);
}

static void serve_read_index(struct pending *p)
{
    struct lg_node_status st;
    lg_node_status(p->c->s->node, &st);
    if (st.role != LG_PROTO_ROLE_LEADER) {
        pending_not_leader(p); /* leadership lost during the barrier */
        return;
    }
    struct lg_proto_response r;
    memset(&r, 0, sizeof r);
    /* The commit index, not the applied one: this node's apply thread may not have
     * reached entries an earlier leader acknowledged (the view's applied index lags
     * libraft's), and the follower must wait for every one of them. */
    r.u.read_index = st.commit_index;
    pending_respond(p, &r);
}

/* ---------------------------------------------------------------------------------------
 * Verifiable ledger (issue 8; docs/protocol.md): digest, proof, consistency. Served from
 * the FSM's Merkle tree (lib/merkle.h) inside a read callback, at the request's
 * consistency; digests are signed with the node's key (lib/sign.h). */

LG_STATIC_ASSERT(LG_MERKLE_PROOF_MAX <= LG_PROTO_PATH_HASHES_MAX, "a proof fits the wire bound");
LG_STATIC_ASSERT(LG_MERKLE_HASH_BYTES == LG_PROTO_HASH_BYTES, "one hash size");
LG_STATIC_ASSERT(LG_SIGN_ROOT_BYTES == LG_PROTO_HASH_BYTES, "one hash size");

#define GAP_MESSAGE                                                                        \
    "this node is still fetching the journal records a snapshot skipped (catch-up), so "   \
    "its tree is incomplete: retry, or ask another node"

/* A signed digest's bytes, and the wire view of them (views into sd). */
struct server_digest {
    struct lg_sign_digest sd;
    struct lg_proto_digest wire;
};

/* A stored hash of the tree failed the check of an answer (below): the answer is refused
 * (`internal`, LG_ECORRUPT), the damage logged once (merkle_damaged) and counted, and the
 * tree file marked so that the next start recomputes every hash from the journal (no
 * rebuild here: it would block the loop for a read of the whole journal). */
static int tree_damaged(struct lg_server *s, struct lg_merkle *t, const char *op,
                        const char *check, uint64_t size, char *errmsg)
{
    s->stats.merkle_damaged++;
    if (!lg_merkle_damaged(t)) {
        int mrc = lg_merkle_mark_damaged(t);
        lg_log(LG_LOG_ERROR, "merkle_damaged",
               "op=%s check=%s tree_size=%llu current_size=%llu marked=%s msg=\"a stored hash "
               "of the Merkle tree file is wrong: answers using it are refused (internal); "
               "the tree is recomputed from the journal at the next start (or delete "
               "journal/.merkle and restart)\"",
               op, check, (unsigned long long)size, (unsigned long long)lg_merkle_size(t),
               mrc == LG_OK ? "yes" : lg_err_name(mrc));
    }
    return lg_errmsg_printf(errmsg, LG_ECORRUPT,
                            "%s: this node's Merkle tree file is damaged (the answer at "
                            "tree_size %llu failed its %s check against the current root); it "
                            "is recomputed at the node's next start: ask another node",
                            op, (unsigned long long)size, check);
}

/* Check a root of the tree of size records against the in-memory current root: a
 * consistency proof from size to the current size, checked with lib/proofcheck (O(log n)).
 * A root at the current size is the current root itself (the frontier, no stored hash). */
static int verifiable_check_prefix(struct lg_server *s, struct lg_merkle *t, const char *op,
                                   uint64_t size, const uint8_t root[LG_MERKLE_HASH_BYTES],
                                   char *errmsg)
{
    uint64_t n = lg_merkle_size(t);
    if (size == 0 || size == n) {
        return LG_OK;
    }
    static uint8_t proof[LG_MERKLE_PROOF_MAX][LG_MERKLE_HASH_BYTES];
    uint8_t cur[LG_MERKLE_HASH_BYTES];
    size_t len = 0;
    int rc = lg_merkle_root(t, n, cur);
    if (rc == LG_OK) {
        rc = lg_merkle_consistency(t, size, n, proof, LG_MERKLE_PROOF_MAX, &len);
    }
    if (rc != LG_OK) {
        return lg_errmsg_printf(errmsg, rc == LG_ERANGE ? LG_EIO : rc,
                                "%s: checking tree_size %llu against %llu: %s", op,
                                (unsigned long long)size, (unsigned long long)n,
                                lg_merkle_errmsg(t));
    }
    if (lg_proofcheck_consistency(size, n, root, cur, &proof[0][0], len) != LG_OK) {
        return tree_damaged(s, t, op, "consistency", size, errmsg);
    }
    return LG_OK;
}

/* The tree of the first size records, checked against the current root, signed now.
 * LG_OK or a code with errmsg. */
static int verifiable_digest(struct lg_server *s, struct lg_merkle *t, const char *op,
                             uint64_t size, struct server_digest *out, char *errmsg)
{
    LG_PRE(s->key != NULL);
    memset(out, 0, sizeof *out);
    out->sd.tree_size = size;
    int rc = lg_merkle_root(t, size, out->sd.root);
    if (rc != LG_OK) {
        return lg_errmsg_printf(errmsg, rc, "digest: root at tree_size %llu: %s",
                                (unsigned long long)size, lg_merkle_errmsg(t));
    }
    rc = verifiable_check_prefix(s, t, op, size, out->sd.root, errmsg);
    if (rc != LG_OK) {
        return rc;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    out->sd.timestamp_us = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    out->sd.node_id = lg_node_id(s->node);
    rc = lg_sign_digest(s->key, &out->sd);
    if (rc != LG_OK) {
        return lg_errmsg_printf(errmsg, rc, "digest: signing failed: %s", lg_err_message(rc));
    }
    out->wire.tree_size = size;
    memcpy(out->wire.root, out->sd.root, LG_PROTO_HASH_BYTES);
    out->wire.timestamp_us = out->sd.timestamp_us;
    out->wire.node_id = out->sd.node_id;
    out->wire.public_key = (struct lg_str){(const char *)out->sd.public_key,
                                           LG_SIGN_PUBLIC_KEY_BYTES};
    out->wire.signature = (struct lg_str){(const char *)out->sd.signature,
                                          LG_SIGN_SIGNATURE_BYTES};
    return LG_OK;
}

/* The size a request names (has: given) checked against the tree: LG_OK with *size;
 * LG_ERANGE (not_found) beyond the tree, which with the request's consistency means beyond
 * what the cluster had committed; LG_EUNAVAIL beyond a tree a journal gap leaves short. */
static int verifiable_size(struct lg_merkle *t, bool gap, bool has, uint64_t want,
                           const char *field, uint64_t *size, char *errmsg)
{
    uint64_t have = lg_merkle_size(t);
    if (!has && gap) {
        return lg_errmsg_printf(errmsg, LG_EUNAVAIL, "%s: " GAP_MESSAGE, field);
    }
    if (!has) {
        *size = have;
        return LG_OK;
    }
    if (want > have && gap) {
        return lg_errmsg_printf(errmsg, LG_EUNAVAIL, "%s: %llu: " GAP_MESSAGE, field,
                                (unsigned long long)want);
    }
    if (want > have) {
        return lg_errmsg_printf(errmsg, LG_ERANGE,
                                "%s: %llu is beyond this node's tree (%llu records)", field,
                                (unsigned long long)want, (unsigned long long)have);
    }
    *size = want;
    return LG_OK;
}

/* proof: the record body (copied into a: the tree's own reads reuse the journal's view),
 * its inclusion path into path, and the digest at that size into dg. */
static int verifiable_proof(struct lg_server *s, struct lg_fsm *fsm, struct lg_merkle *t,
                            bool gap, const struct lg_proto_proof_req *q, struct lg_arena *a,
                            struct lg_proto_response *r, struct server_digest *dg,
                            uint8_t (*path)[LG_MERKLE_HASH_BYTES], char *errmsg)
{
    uint64_t size = 0;
    int rc = verifiable_size(t, gap, q->has_tree_size, q->tree_size, "tree_size", &size,
                             errmsg);
    if (rc != LG_OK) {
        return rc;
    }
    if (q->seq > size) {
        return lg_errmsg_printf(errmsg, LG_ERANGE, "seq: no record %llu in a tree of %llu "
                                "records", (unsigned long long)q->seq,
                                (unsigned long long)size);
    }
    struct lg_journal *j = lg_fsm_journal(fsm);
    struct lg_journal_record rec;
    rc = lg_journal_read(j, q->seq, &rec);
    if (rc != LG_OK) {
        return lg_errmsg_printf(errmsg, rc == LG_ERANGE ? LG_EIO : rc,
                                "proof: journal record %llu: %s", (unsigned long long)q->seq,
                                lg_journal_errmsg(j));
    }
    uint8_t *body = lg_arena_alloc(a, rec.body_len);
    if (body == NULL) {
        return lg_errmsg_printf(errmsg, LG_ENOMEM, "proof: out of memory");
    }
    memcpy(body, rec.body, rec.body_len);
    size_t n = 0;
    rc = lg_merkle_inclusion(t, q->seq - 1u, size, path, LG_MERKLE_PROOF_MAX, &n);
    if (rc != LG_OK) {
        return lg_errmsg_printf(errmsg, rc == LG_ERANGE ? LG_EIO : rc,
                                "proof: inclusion of %llu in %llu: %s",
                                (unsigned long long)q->seq, (unsigned long long)size,
                                lg_merkle_errmsg(t));
    }
    rc = verifiable_digest(s, t, "proof", size, dg, errmsg);
    if (rc != LG_OK) {
        return rc;
    }
    /* The path must prove the body against the (checked) root it is sent with. */
    uint8_t leaf[LG_MERKLE_HASH_BYTES];
    lg_proofcheck_leaf_hash(body, rec.body_len, leaf);
    if (lg_proofcheck_inclusion(q->seq - 1u, size, leaf, &path[0][0], n, dg->sd.root) !=
        LG_OK) {
        return tree_damaged(s, t, "proof", "inclusion", size, errmsg);
    }
    struct lg_proto_proof *f = &r->u.proof;
    f->seq = q->seq;
    f->leaf_index = q->seq - 1u;
    f->tree_size = size;
    f->body = (struct lg_str){(const char *)body, rec.body_len};
    f->path.hashes = (const uint8_t(*)[LG_PROTO_HASH_BYTES])path;
    f->path.n = (uint32_t)n;
    f->digest = dg->wire;
    return LG_OK;
}

static int verifiable_consistency(struct lg_server *s, struct lg_merkle *t, bool gap,
                                  const struct lg_proto_consistency_req *q,
                                  struct lg_proto_response *r,
                                  uint8_t (*path)[LG_MERKLE_HASH_BYTES], char *errmsg)
{
    LG_PRE(q->from_size >= 1 && q->from_size <= q->to_size);
    uint64_t size = 0;
    int rc = verifiable_size(t, gap, true, q->to_size, "to_size", &size, errmsg);
    if (rc != LG_OK) {
        return rc;
    }
    size_t n = 0;
    rc = lg_merkle_consistency(t, q->from_size, size, path, LG_MERKLE_PROOF_MAX, &n);
    if (rc != LG_OK) {
        return lg_errmsg_printf(errmsg, rc == LG_ERANGE ? LG_EIO : rc,
                                "consistency: %llu to %llu: %s",
                                (unsigned long long)q->from_size, (unsigned long long)size,
                                lg_merkle_errmsg(t));
    }
    /* The path must link the two roots, and the newer one the current root. */
    uint8_t from_root[LG_MERKLE_HASH_BYTES];
    uint8_t to_root[LG_MERKLE_HASH_BYTES];
    rc = lg_merkle_root(t, q->from_size, from_root);
    if (rc == LG_OK) {
        rc = lg_merkle_root(t, size, to_root);
    }
    if (rc != LG_OK) {
        return lg_errmsg_printf(errmsg, rc == LG_ERANGE ? LG_EIO : rc,
                                "consistency: roots at %llu and %llu: %s",
                                (unsigned long long)q->from_size, (unsigned long long)size,
                                lg_merkle_errmsg(t));
    }
    if (lg_proofcheck_consistency(q->from_size, size, from_root, to_root, &path[0][0], n) !=
        LG_OK) {
        return tree_damaged(s, t, "consistency", "consistency", q->from_size, errmsg);
    }
    rc = verifiable_check_prefix(s, t, "consistency", size, to_root, errmsg);
    if (rc != LG_OK) {
        return rc;
    }
    r->u.consistency.from_size = q->from_size;
    r->u.consistency.to_size = size;
    r->u.consistency.path.hashes = (const uint8_t(*)[LG_PROTO_HASH_BYTES])path;
    r->u.consistency.path.n = (uint32_t)n;
    return LG_OK;
}

/* digest, proof or consistency, inside a read callback. */
static void serve_verifiable(struct pending *p, struct lg_fsm *fsm)
{
    struct lg_server *s = p->c->s;
    const char *op = lg_proto_op_name(p->op);
    char errmsg[LG_ERRMSG_SIZE];
    if (s->key == NULL && p->op != LG_PROTO_OP_CONSISTENCY) {
        lg_errmsg_printf(errmsg, LG_EUNAVAIL, "%s: this node has no signing key", op);
        pending_fail(p, LG_EUNAVAIL, errmsg, NULL);
        return;
    }
    struct lg_merkle *t = NULL;
    int rc = lg_fsm_merkle(fsm, &t);
    bool gap = rc == LG_EUNAVAIL;
    if (rc != LG_OK && !gap) {
        lg_errmsg_printf(errmsg, LG_EUNAVAIL, "%s: this node's journal or tree failed (%s): "
                         "ask another node", op, lg_err_message(rc));
        pending_fail(p, LG_EUNAVAIL, errmsg, NULL);
        return;
    }
    LG_ASSERT(t != NULL);
    /* Loop thread only; the answer is encoded before they are used again. */
    static struct server_digest dg;
    static uint8_t path[LG_MERKLE_PROOF_MAX][LG_MERKLE_HASH_BYTES];
    struct lg_arena a;
    lg_arena_init(&a, SERVER_QUERY_ARENA_BYTES_MAX);
    struct lg_proto_response r;
    memset(&r, 0, sizeof r);
    uint64_t size = 0;
    uint64_t damaged_before = s->stats.merkle_damaged;
    switch (p->op) {
    case LG_PROTO_OP_DIGEST:
        rc = verifiable_size(t, gap, p->req.u.digest.has_tree_size, p->req.u.digest.tree_size,
                             "tree_size", &size, errmsg);
        if (rc == LG_OK) {
            rc = verifiable_digest(s, t, "digest", size, &dg, errmsg);
            r.u.digest = dg.wire;
        }
        break;
    case LG_PROTO_OP_PROOF:
        rc = verifiable_proof(s, fsm, t, gap, &p->req.u.proof, &a, &r, &dg, path, errmsg);
        break;
    default:
        LG_ASSERT(p->op == LG_PROTO_OP_CONSISTENCY);
        rc = verifiable_consistency(s, t, gap, &p->req.u.consistency, &r, path, errmsg);
        break;
    }
    if (rc == LG_OK) {
        pending_respond(p, &r);
    } else if (s->stats.merkle_damaged != damaged_before) {
        pending_fail(p, rc, errmsg, NULL); /* logged once as merkle_damaged */
    } else {
        pending_fail_query(p, rc, errmsg);
    }
    lg_arena_close(&a);
}

static void node_read_cb(struct lg_node_read *rd, int status, const char *msg)
{
    struct pending *p = rd->data;
    LG_PRE(p->node_refs > 0);
    p->node_refs--;
    if (p->c == NULL) {
        pending_release(p);
        return;
    }
    if (status != LG_OK) {
        int code = status;
        if (status == LG_ESHUTDOWN) {
            code = LG_EUNAVAIL;
            msg = SHUTDOWN_MESSAGE;
        } else if (status != LG_ETIMEOUT && status != LG_EUNAVAIL) {
            code = LG_EIO;
        }
        char text[LG_ERRMSG_SIZE];
        lg_errmsg_printf(text, code, "read: %s",
                         msg != NULL && msg[0] != '\0' ? msg : lg_err_message(status));
        pending_fail(p, code, text, NULL);
        return;
    }
    struct lg_fsm *fsm = lg_node_fsm(p->c->s->node);
    if (fsm == NULL) {
        pending_fail(p, LG_EUNAVAIL, SHUTDOWN_MESSAGE, NULL);
        return;
    }
    switch (p->op) {
    case LG_PROTO_OP_GET_TX:
        serve_query(p, fsm, query_get_tx_req);
        break;
    case LG_PROTO_OP_LIST_TXS:
        serve_list_txs(p, fsm);
        break;
    case LG_PROTO_OP_ACCOUNT:
        serve_query(p, fsm, query_account_req);
        break;
    case LG_PROTO_OP_BALANCES:
        serve_query(p, fsm, query_balances_req);
        break;
    case LG_PROTO_OP_READ_INDEX:
        serve_read_index(p);
        break;
    case LG_PROTO_OP_DIGEST:
    case LG_PROTO_OP_PROOF:
    case LG_PROTO_OP_CONSISTENCY:
        serve_verifiable(p, fsm);
        break;
    default:
        LG_UNREACHABLE("a read of an op that does not read");
    }
}

static void op_read(struct pending *p, uint8_t consistency, uint64_t after_index)
{
    if (pending_refuse_stopping(p)) {
        return;
    }
    memset(&p->read, 0, sizeof p->read);
    p->read.data = p;
    p->read.consistency = consistency;
    p->read.after_index = after_index;
    p->read.cb = node_read_cb;
    p->node_refs++;
    lg_node_read(p->c->s->node, &p->read);
}

static void op_read_index(struct pending *p)
{
    if (pending_refuse_stopping(p)) {
        return;
    }
    if (!lg_node_is_leader(p->c->s->node)) {
        pending_not_leader(p);
        return;
    }
    op_read(p, LG_PROTO_READ_LINEARIZABLE, 0);
}

static void op_status(struct pending *p)
{
    struct lg_node_status st;
    lg_node_status(p->c->s->node, &st);
    struct lg_proto_response r;
    memset(&r, 0, sizeof r);
    struct lg_proto_status *o = &r.u.status;
    o->node_id = st.node_id;
    o->role = st.role;
    o->leader_id = st.leader_id;
    o->leader_client.ptr = st.leader_client;
    o->leader_client.len = (uint32_t)strnlen(st.leader_client, sizeof st.leader_client);
    o->term = st.term;
    o->commit_index = st.commit_index;
    o->applied_index = st.applied_index;
    o->journal_seq = st.journal_seq;
    memcpy(o->chain_head, st.chain_head, LG_PROTO_HASH_BYTES);
    if (p->c->s->gossip != NULL) {
        struct lg_gossip_stats gs;
        lg_gossip_stats(p->c->s->gossip, &gs);
        o->has_gossip = true;
        o->gossip = (struct lg_proto_gossip){gs.alive, gs.suspect, gs.dead, gs.left,
                                             gs.dropped_auth, gs.dropped_cluster,
                                             gs.dropped_malformed};
    }
    struct lg_server *s = p->c->s;
    if (s->key != NULL) {
        o->public_key = (struct lg_str){(const char *)s->public_key, LG_SIGN_PUBLIC_KEY_BYTES};
    }
    if (s->audit_stats != NULL) {
        o->has_audit = true;
        s->audit_stats(s->audit_arg, &o->audit);
    }
    pending_respond(p, &r);
}

/* The union of the Raft configuration (items[0..n), id order) and the gossip members by
 * id (members): gossip state and incarnation beside the Raft role; a member gossip knows
 * and Raft does not has role "none". Returns the new count (id order, at most
 * LG_PROTO_MEMBERS_MAX). The strings point into a static table (loop thread only). */
static uint32_t members_add_gossip(struct lg_gossip *g, struct lg_proto_member *items,
                                   uint32_t n)
{
    static struct lg_disc_member gm[LG_PROTO_MEMBERS_MAX];
    if (g == NULL) {
        return n;
    }
    uint32_t ng = lg_gossip_members(g, gm, LG_PROTO_MEMBERS_MAX);
    for (uint32_t k = 0; k < ng; k++) {
        const struct lg_disc_member *d = &gm[k];
        const char *state = lg_disc_state_name(d->state);
        struct lg_proto_member *it = NULL;
        for (uint32_t i = 0; i < n && it == NULL; i++) {
            it = items[i].id == d->id ? &items[i] : NULL;
        }
        if (it == NULL) {
            if (n == LG_PROTO_MEMBERS_MAX || d->raft_address[0] == '\0') {
                continue;
            }
            uint32_t j = n++; /* insert in id order */
            while (j > 0 && items[j - 1].id > d->id) {
                items[j] = items[j - 1];
                j--;
            }
            it = &items[j];
            *it = (struct lg_proto_member){0};
            it->id = d->id;
            it->raft_address = (struct lg_str){d->raft_address,
                                               (uint32_t)strlen(d->raft_address)};
            it->role = (struct lg_str){"none", 4};
        }
        if (it->client_address.len == 0) {
            it->client_address = (struct lg_str){d->client_address,
                                                 (uint32_t)strlen(d->client_address)};
        }
        it->gossip = (struct lg_str){state, (uint32_t)strlen(state)};
        it->incarnation = d->incarnation;
    }
    return n;
}

static void op_members(struct pending *p)
{
    static struct lg_node_member m[LG_PROTO_MEMBERS_MAX]; /* loop thread only */
    struct lg_proto_member items[LG_PROTO_MEMBERS_MAX];
    if (lg_node_fsm(p->c->s->node) == NULL) {
        pending_fail(p, LG_EUNAVAIL, SHUTDOWN_MESSAGE, NULL);
        return;
    }
    /* Empty on a node no leader has contacted yet (no configuration). */
    uint32_t n = lg_node_members(p->c->s->node, m, LG_PROTO_MEMBERS_MAX);
    for (uint32_t i = 0; i < n; i++) {
        items[i] = (struct lg_proto_member){0};
        items[i].id = m[i].id;
        items[i].raft_address = (struct lg_str){m[i].raft_address,
                                                (uint32_t)strlen(m[i].raft_address)};
        items[i].client_address = (struct lg_str){m[i].client_address,
                                                  (uint32_t)strlen(m[i].client_address)};
        items[i].role = (struct lg_str){m[i].role, (uint32_t)strlen(m[i].role)};
        items[i].leader = m[i].leader;
    }
    n = members_add_gossip(p->c->s->gossip, items, n);
    struct lg_proto_response r;
    memset(&r, 0, sizeof r);
    r.u.members.items = items;
    r.u.members.n_items = n;
    pending_respond(p, &r);
}

static void op_journal_read(struct pending *p)
{
    struct lg_fsm *fsm = lg_node_fsm(p->c->s->node);
    if (fsm == NULL) {
        pending_fail(p, LG_EUNAVAIL, SHUTDOWN_MESSAGE, NULL);
        return;
    }
    struct lg_arena a;
    lg_arena_init(&a, SERVER_QUERY_ARENA_BYTES_MAX);
    struct lg_proto_response r;
    memset(&r, 0, sizeof r);
    char errmsg[LG_ERRMSG_SIZE];
    int rc = query_journal_read(fsm, &p->req.u.journal_read, &a, &r, errmsg);
    if (rc == LG_OK) {
        pending_respond(p, &r);
    } else {
        pending_fail_query(p, rc, errmsg);
    }
    lg_arena_close(&a);
}

/* One frame from c: decode into a new request and start it. */
static void request_start(struct conn *c, const uint8_t *frame, uint32_t len)
{
    struct lg_server *s = c->s;
    c->n_requests++;
    s->stats.requests++;
    struct pending *p = malloc(sizeof *p + len);
    if (p == NULL) {
        /* Cannot even hold the request to learn its id: answer id 0 and close. */
        lg_log(LG_LOG_ERROR, "request_nomem", "conn=%llu bytes=%u", (unsigned long long)c->id,
               len);
        if (lg_proto_encode_error(0, LG_ENOMEM, "server out of memory", NULL, &c->out) !=
            LG_OK) {
            conn_close(c, LG_LOG_ERROR, "nomem", NULL);
            return;
        }
        conn_appended(c);
        conn_drain(c);
        return;
    }
    memset(p, 0, sizeof *p);
    p->start_ns = uv_hrtime();
    memcpy(p->body, frame, len);
    p->body_len = len;
    lg_arena_init(&p->arena, LG_DECODE_ARENA_BYTES_MAX);
    char errmsg[LG_ERRMSG_SIZE];
    errmsg[0] = '\0';
    int rc = lg_proto_decode_request(p->body, len, &p->arena, &p->req, errmsg);
    p->id = p->req.id;
    p->op = rc == LG_OK ? p->req.op : (uint8_t)LG_PROTO_OP_NONE;
    pending_attach(c, p);
    if (rc != LG_OK) {
        if (rc == LG_ENOMEM && lg_arena_over_budget(&p->arena)) {
            rc = lg_errmsg_printf(errmsg, LG_ETOOLARGE, "request: decoding needs more than %zu "
                                                        "bytes",
                                  (size_t)LG_DECODE_ARENA_BYTES_MAX);
        }
        char q[LG_ERRMSG_SIZE + 8];
        lg_log(LG_LOG_DEBUG, "bad_request", "conn=%llu id=%llu code=%s msg=%s",
               (unsigned long long)c->id, (unsigned long long)p->id, lg_err_name(rc),
               lg_log_quote(errmsg, q, sizeof q));
        pending_fail(p, rc, errmsg, NULL);
        return;
    }
    switch (p->op) {
    case LG_PROTO_OP_PING: {
        struct lg_proto_response r;
        memset(&r, 0, sizeof r);
        r.u.ping_node_id = lg_node_id(s->node);
        pending_respond(p, &r);
        return;
    }
    case LG_PROTO_OP_STATUS:
        op_status(p);
        return;
    case LG_PROTO_OP_MEMBERS:
        op_members(p);
        return;
    case LG_PROTO_OP_SUBMIT:
        op_submit(p);
        return;
    case LG_PROTO_OP_SUBMIT_BATCH:
        op_submit_batch(p);
        return;
    case LG_PROTO_OP_GET_TX:
    case LG_PROTO_OP_LIST_TXS:
    case LG_PROTO_OP_ACCOUNT:
    case LG_PROTO_OP_BALANCES:
    case LG_PROTO_OP_DIGEST:
    case LG_PROTO_OP_PROOF:
    case LG_PROTO_OP_CONSISTENCY:
        op_read(p, p->req.consistency, p->req.after_index);
        return;
    case LG_PROTO_OP_READ_INDEX:
        op_read_index(p);
        return;
    case LG_PROTO_OP_JOURNAL_READ:
        op_journal_read(p);
        return;
    default: {
        /* decoded but not served by this server version */
        lg_errmsg_printf(errmsg, LG_EUNKNOWNOP, "op: \"%s\" is not served by this node",
                         lg_proto_op_name(p->op));
        pending_fail(p, LG_EUNKNOWNOP, errmsg, NULL);
        return;
    }
    }
}

/* ---------------------------------------------------------------------------------------
 * Connections */

/* While closing, the timer lives as long as a connection does (lingering ones need it). */
static void server_close_timer(struct lg_server *s)
{
    if (s->closing && s->n_conns == 0 && s->timer_open) {
        uv_close((uv_handle_t *)&s->timer, server_handle_closed);
        s->timer_open = false;
        s->timer_armed = false;
    }
}

/* c leaves the lists of connections waiting to be read again and its frame and idle
 * deadlines (not its linger deadline). */
static void conn_unlink_waits(struct conn *c)
{
    if (link_linked(&c->resume_link)) {
        link_remove(&c->resume_link);
    }
    if (link_linked(&c->budget_link)) {
        link_remove(&c->budget_link);
    }
    if (link_linked(&c->frame_link)) {
        link_remove(&c->frame_link);
    }
    if (link_linked(&c->idle_link)) {
        link_remove(&c->idle_link);
    }
}

static void conn_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    struct lg_server *s = c->s;
    LG_PRE(c->state == CONN_CLOSING);
    LG_PRE(!c->writing);
    LG_PRE(link_empty(&c->pending));
    LG_PRE(c->in_bytes == 0); /* uncounted by conn_close */
    link_remove(&c->link);
    LG_ASSERT(s->n_conns > 0);
    s->n_conns--;
    lg_frame_decoder_close(&c->dec);
    lg_buf_close(&c->out);
    lg_buf_close(&c->wbuf);
    free(c);
    LG_ASSERT(s->n_handles > 0);
    s->n_handles--;
    server_close_timer(s);
    server_maybe_closed(s);
}

/* Close c now: requests still held by the node are detached (their callbacks free them).
 * reason is a short token; detail (may be NULL) free text. */
static void conn_close(struct conn *c, int level, const char *reason, const char *detail)
{
    if (c->state == CONN_CLOSING) {
        return;
    }
    char q[LG_ERRMSG_SIZE + 8];
    lg_log(level, "client_close", "conn=%llu peer=%s reason=%s requests=%llu inflight=%u%s%s",
           (unsigned long long)c->id, c->peer, reason, (unsigned long long)c->n_requests,
           c->inflight, detail != NULL ? " detail=" : "",
           detail != NULL ? lg_log_quote(detail, q, sizeof q) : "");
    c->state = CONN_CLOSING;
    conn_unlink_waits(c);
    if (link_linked(&c->linger_link)) {
        link_remove(&c->linger_link);
    }
    if (link_linked(&c->flush_link)) {
        link_remove(&c->flush_link); /* unwritten output is dropped with the connection */
    }
    while (!link_empty(&c->pending)) {
        struct pending *p = CONTAINER_OF(c->pending.next, struct pending, link);
        pending_detach(p);
    }
    LG_ASSERT(c->inflight == 0);
    conn_dec_release(c);
    LG_ASSERT(c->in_bytes == 0);
    c->reading = false;
    uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct conn *c = h->data;
    (void)suggested;
    LG_PRE(c->rpos == c->rlen); /* nothing undecoded is overwritten */
    buf->base = (char *)c->rbuf;
    buf->len = sizeof c->rbuf;
}

static void conn_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

/* Start or stop reading as the state asks: OPEN reads while it may take input (not full,
 * not paused by the server-wide budget) and nothing is stashed; DRAIN and SHUTDOWN read to
 * discard until the peer closes. A connection paused by the budget waits in s->budget. */
static void conn_update_reading(struct conn *c)
{
    struct lg_server *s = c->s;
    bool want;
    switch (c->state) {
    case CONN_OPEN:
        want = c->rpos == c->rlen && conn_may_take(c);
        if (!want && !conn_full(c) && conn_budget_blocked(c)) {
            if (!link_linked(&c->budget_link)) {
                link_push(&s->budget, &c->budget_link);
                s->stats.budget_pauses++;
                lg_log(LG_LOG_DEBUG, "client_budget_pause",
                       "conn=%llu in_bytes=%zu total_in_bytes=%zu total_in_bytes_max=%zu",
                       (unsigned long long)c->id, c->in_bytes, s->in_bytes,
                       s->total_in_bytes_max);
            }
        } else if (link_linked(&c->budget_link)) {
            link_remove(&c->budget_link);
        }
        break;
    case CONN_DRAIN:
    case CONN_SHUTDOWN:
        want = !c->eof;
        break;
    default:
        return;
    }
    if (want && !c->reading) {
        int rc = uv_read_start((uv_stream_t *)&c->tcp, conn_alloc_cb, conn_read_cb);
        if (rc != 0) {
            conn_close(c, LG_LOG_DEBUG, "read_start_failed", uv_strerror(rc));
            return;
        }
        c->reading = true;
    } else if (!want && c->reading) {
        int rc = uv_read_stop((uv_stream_t *)&c->tcp);
        if (rc != 0) {
            conn_close(c, LG_LOG_DEBUG, "read_stop_failed", uv_strerror(rc));
            return;
        }
        c->reading = false;
    }
}

static void shutdown_cb(uv_shutdown_t *req, int status)
{
    struct conn *c = req->data;
    if (status == UV_ECANCELED || c->state == CONN_CLOSING) {
        return;
    }
    if (status < 0 || c->eof) {
        conn_close(c, LG_LOG_DEBUG, status < 0 ? "shutdown_failed" : "done",
                   status < 0 ? uv_strerror(status) : NULL);
        return;
    }
    /* Wait (bounded) for the peer to close after reading our last answer: closing with its
     * unread bytes in our receive buffer would send a reset that can destroy the answer.
     * While the server closes, the deadline set by lg_server_close stands. */
    struct lg_server *s = c->s;
    if (!link_linked(&c->linger_link)) {
        c->linger_due_ms = uv_now(s->loop) + LG_SERVER_LINGER_MS;
        link_push(&s->lingers, &c->linger_link);
        timer_arm(s, c->linger_due_ms);
    }
    conn_update_reading(c);
}

/* In DRAIN with nothing left to answer or write: close (the peer already closed) or send
 * FIN and linger. */
static void conn_maybe_finish(struct conn *c)
{
    if (c->state != CONN_DRAIN || c->inflight > 0 || c->writing || c->out.len > 0) {
        return;
    }
    if (c->eof) {
        conn_close(c, LG_LOG_DEBUG, "done", NULL);
        return;
    }
    c->state = CONN_SHUTDOWN;
    c->sreq.data = c;
    int rc = uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, shutdown_cb);
    if (rc != 0) {
        conn_close(c, LG_LOG_DEBUG, "shutdown_failed", uv_strerror(rc));
    }
}

/* No more requests from c: answer those in progress, then finish. The split-frame buffer
 * and undecoded input are dropped. */
static void conn_drain(struct conn *c)
{
    if (c->state != CONN_OPEN) {
        return;
    }
    c->state = CONN_DRAIN;
    c->rpos = c->rlen; /* undecoded input is dropped */
    conn_unlink_waits(c);
    conn_dec_release(c);
    conn_update_reading(c);
    conn_maybe_finish(c);
}

/* Frame and idle deadlines follow c's state; called after every change of it. A partial
 * frame is timed while the server is willing to read it: a pause by the connection's own
 * bounds (its requests in progress) stops the clock and the frame gets a new full timeout
 * when reading resumes (frames are sequential, so the client cannot start a new request
 * meanwhile); a pause by the server-wide budget does not (the budget is freed by these
 * timeouts, among others). Idle: open, nothing in progress, nothing to write. */
static void conn_timers_update(struct conn *c)
{
    struct lg_server *s = c->s;
    bool open = c->state == CONN_OPEN;
    bool partial = open && !lg_frame_decoder_idle(&c->dec) && !conn_full(c);
    bool idle = open && c->inflight == 0 && lg_frame_decoder_idle(&c->dec) &&
                c->rpos == c->rlen && !c->writing && c->out.len == 0;
    LG_ASSERT(!(partial && idle));
    uint64_t now = uv_now(s->loop);
    if (partial && !link_linked(&c->frame_link)) {
        c->frame_due_ms = now + s->frame_timeout_ms;
        link_push(&s->frames, &c->frame_link);
        timer_arm(s, c->frame_due_ms);
    } else if (!partial && link_linked(&c->frame_link)) {
        link_remove(&c->frame_link);
    }
    if (idle && !link_linked(&c->idle_link)) {
        c->idle_due_ms = now + s->idle_timeout_ms;
        link_push(&s->idles, &c->idle_link);
        timer_arm(s, c->idle_due_ms);
    } else if (!idle && link_linked(&c->idle_link)) {
        link_remove(&c->idle_link);
    }
}

/* A frame started frame_timeout_ms ago is still incomplete: answer `timeout` with id 0,
 * drop the partial frame (its buffer is freed now) and end the connection like after a bad
 * frame (requests in progress are still answered, then FIN). */
static void conn_frame_timeout(struct conn *c)
{
    struct lg_server *s = c->s;
    LG_PRE(c->state == CONN_OPEN);
    link_remove(&c->frame_link);
    s->stats.frame_timeouts++;
    uint32_t received = c->dec.header_have + c->dec.body_have;
    uint32_t declared = c->dec.body_len;
    lg_log(LG_LOG_WARN, "client_frame_timeout",
           "conn=%llu peer=%s timeout_ms=%u received=%u declared=%u frame_timeouts=%llu",
           (unsigned long long)c->id, c->peer, s->frame_timeout_ms, received, declared,
           (unsigned long long)s->stats.frame_timeouts);
    conn_dec_release(c);
    char msg[LG_ERRMSG_SIZE];
    if (declared > 0) {
        lg_errmsg_printf(msg, LG_ETIMEOUT,
                         "frame: incomplete after %u ms (%u of %u body bytes): closing",
                         s->frame_timeout_ms, received - LG_FRAME_HEADER_BYTES, declared);
    } else {
        lg_errmsg_printf(msg, LG_ETIMEOUT,
                         "frame: incomplete after %u ms (%u of %u length bytes): closing",
                         s->frame_timeout_ms, received, LG_FRAME_HEADER_BYTES);
    }
    if (lg_proto_encode_error(0, LG_ETIMEOUT, msg, NULL, &c->out) != LG_OK) {
        conn_close(c, LG_LOG_ERROR, "encode_failed", NULL);
        return;
    }
    conn_appended(c);
    conn_drain(c);
}

/* Nothing from c for idle_timeout_ms: end it with FIN (an orderly end of stream). */
static void conn_idle_timeout(struct conn *c)
{
    struct lg_server *s = c->s;
    LG_PRE(c->state == CONN_OPEN);
    link_remove(&c->idle_link);
    s->stats.idle_timeouts++;
    lg_log(LG_LOG_INFO, "client_idle_timeout", "conn=%llu peer=%s idle_ms=%u requests=%llu",
           (unsigned long long)c->id, c->peer, s->idle_timeout_ms,
           (unsigned long long)c->n_requests);
    conn_drain(c);
}

/* A bad frame (sticky): answer with id 0, then close once everything is written. */
static void conn_bad_frame(struct conn *c, int rc)
{
    char q[LG_ERRMSG_SIZE + 8];
    lg_log(LG_LOG_INFO, "client_bad_frame", "conn=%llu peer=%s code=%s msg=%s",
           (unsigned long long)c->id, c->peer, lg_err_name(rc),
           lg_log_quote(c->dec.errmsg, q, sizeof q));
    c->s->stats.bad_frames++;
    if (lg_proto_encode_error(0, rc, c->dec.errmsg, NULL, &c->out) != LG_OK) {
        conn_close(c, LG_LOG_ERROR, "encode_failed", NULL);
        return;
    }
    conn_appended(c);
    conn_drain(c);
}

/* Feed the stashed input to the decoder and start its requests, until it is used up or the
 * connection may not take more (full, or over the server-wide budget: the rest stays in
 * rbuf until requests are answered or memory is freed). The budget is checked before each
 * frame, so a loop turn goes past it by at most one frame per connection. */
static void conn_process(struct conn *c)
{
    while (c->state == CONN_OPEN && c->rpos < c->rlen && conn_may_take(c)) {
        size_t used = 0;
        const uint8_t *frame = NULL;
        uint32_t frame_len = 0;
        int rc = lg_frame_decoder_feed(&c->dec, c->rbuf + c->rpos, c->rlen - c->rpos, &used,
                                       &frame, &frame_len);
        LG_ASSERT(used <= c->rlen - c->rpos);
        c->rpos += used;
        if (rc != LG_OK) {
            conn_bad_frame(c, rc);
            return;
        }
        if (frame != NULL) {
            request_start(c, frame, frame_len); /* copies the frame first */
            if (c->state == CONN_OPEN) {
                /* The frame view is dead: let the decoder free a big split-frame buffer now
                 * rather than at the next frame (the copy holds the bytes meanwhile). */
                size_t none = 0;
                rc = lg_frame_decoder_feed(&c->dec, NULL, 0, &none, &frame, &frame_len);
                LG_ASSERT(rc == LG_OK && none == 0 && frame == NULL);
            }
        }
        if (c->state == CONN_OPEN) {
            conn_dec_sync(c);
        }
    }
    if (c->state != CONN_OPEN) {
        return;
    }
    if (c->rpos == c->rlen) {
        c->rpos = 0;
        c->rlen = 0;
    }
    conn_update_reading(c);
    if (c->state == CONN_OPEN) {
        conn_timers_update(c);
    }
}

static void conn_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = stream->data;
    (void)buf;
    if (nread == 0 || c->state == CONN_CLOSING) {
        return; /* 0 is "try again", not EOF */
    }
    if (nread < 0) {
        if (nread != UV_EOF) {
            conn_close(c, LG_LOG_DEBUG, "read_failed", uv_strerror((int)nread));
            return;
        }
        c->eof = true;
        if (c->state == CONN_OPEN && !lg_frame_decoder_idle(&c->dec)) {
            lg_log(LG_LOG_DEBUG, "client_eof_mid_frame", "conn=%llu peer=%s",
                   (unsigned long long)c->id, c->peer);
        }
        if (c->reading) {
            int rc = uv_read_stop(stream);
            if (rc != 0) {
                conn_close(c, LG_LOG_DEBUG, "read_stop_failed", uv_strerror(rc));
                return;
            }
            c->reading = false;
        }
        if (c->state == CONN_OPEN) {
            conn_drain(c);
        } else if (c->state == CONN_SHUTDOWN) {
            conn_close(c, LG_LOG_DEBUG, "done", NULL);
        } else {
            conn_maybe_finish(c);
        }
        return;
    }
    if (c->state != CONN_OPEN) {
        return; /* draining after a bad frame, or lingering: input is discarded */
    }
    LG_ASSERT(c->rpos == 0 && c->rlen == 0);
    LG_ASSERT((size_t)nread <= sizeof c->rbuf);
    c->rlen = (size_t)nread;
    conn_process(c);
}

static void refused_closed(uv_handle_t *h)
{
    struct refused *r = h->data;
    struct lg_server *s = r->s;
    free(r);
    LG_ASSERT(s->n_handles > 0);
    s->n_handles--;
    server_maybe_closed(s);
}

/* The peer's "ADDR:PORT" ("[ADDR]:PORT" for IPv6), or "?" when unknown. */
static void peer_name(uv_tcp_t *tcp, char *out, size_t size)
{
    struct sockaddr_storage ss;
    int len = (int)sizeof ss;
    snprintf(out, size, "?");
    if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len) != 0) {
        return;
    }
    char ip[INET6_ADDRSTRLEN];
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)&ss;
        if (uv_ip4_name(a, ip, sizeof ip) == 0) {
            snprintf(out, size, "%s:%u", ip, (unsigned)ntohs(a->sin_port));
        }
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)(const void *)&ss;
        if (uv_ip6_name(a, ip, sizeof ip) == 0) {
            snprintf(out, size, "[%s]:%u", ip, (unsigned)ntohs(a->sin6_port));
        }
    }
}

/* A connection above conns_max: accept it and close it at once. Returns false when it
 * could not even be accepted (no memory: retried later). */
static bool server_refuse(struct lg_server *s)
{
    struct refused *r = malloc(sizeof *r);
    if (r == NULL) {
        return false;
    }
    r->s = s;
    int rc = uv_tcp_init(s->loop, &r->tcp);
    if (rc != 0) {
        free(r);
        return false;
    }
    r->tcp.data = r;
    s->n_handles++;
    rc = uv_accept((uv_stream_t *)&s->listener, (uv_stream_t *)&r->tcp);
    char peer[SERVER_PEER_BYTES];
    snprintf(peer, sizeof peer, "?");
    if (rc == 0) {
        peer_name(&r->tcp, peer, sizeof peer);
        s->stats.refused++;
        lg_log(LG_LOG_WARN, "client_refused", "peer=%s conns=%u conns_max=%u refused=%llu",
               peer, s->n_conns, s->conns_max, (unsigned long long)s->stats.refused);
    } else {
        lg_log(LG_LOG_DEBUG, "accept_failed", "err=%s", uv_err_name(rc));
    }
    uv_close((uv_handle_t *)&r->tcp, refused_closed);
    return true;
}

/* Accept one connection. Returns false when out of memory (retried later). */
static bool server_accept_one(struct lg_server *s)
{
    struct conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return false;
    }
    int rc = uv_tcp_init(s->loop, &c->tcp);
    if (rc != 0) {
        free(c);
        return false;
    }
    c->tcp.data = c;
    c->s = s;
    c->id = ++s->next_conn_id;
    c->state = CONN_OPEN;
    link_init(&c->pending);
    lg_frame_decoder_init(&c->dec, 0);
    lg_buf_init(&c->out);
    lg_buf_init(&c->wbuf);
    snprintf(c->peer, sizeof c->peer, "?");
    s->n_handles++;
    s->n_conns++;
    link_push(&s->conns, &c->link);
    rc = uv_accept((uv_stream_t *)&s->listener, (uv_stream_t *)&c->tcp);
    if (rc != 0) {
        conn_close(c, LG_LOG_DEBUG, "accept_failed", uv_strerror(rc));
        return true;
    }
    s->stats.accepted++;
    peer_name(&c->tcp, c->peer, sizeof c->peer);
    rc = uv_tcp_nodelay(&c->tcp, 1);
    if (rc != 0) {
        conn_close(c, LG_LOG_DEBUG, "nodelay_failed", uv_strerror(rc));
        return true;
    }
    lg_log(LG_LOG_DEBUG, "client_open", "conn=%llu peer=%s conns=%u", (unsigned long long)c->id,
           c->peer, s->n_conns);
    conn_update_reading(c);
    if (c->state == CONN_OPEN) {
        conn_timers_update(c); /* idle from now */
    }
    return true;
}

static void server_accept(struct lg_server *s)
{
    if (!s->listener_open || s->closing) {
        return;
    }
    bool ok = s->n_conns >= s->conns_max ? server_refuse(s) : server_accept_one(s);
    if (!ok) {
        /* The connection stays queued in the listener (libuv stops watching it until an
         * accept): try again shortly. */
        lg_log(LG_LOG_ERROR, "accept_nomem", "conns=%u", s->n_conns);
        s->accept_stalled = true;
        timer_arm(s, uv_now(s->loop) + SERVER_ACCEPT_RETRY_MS);
    }
}

static void connection_cb(uv_stream_t *listener, int status)
{
    struct lg_server *s = listener->data;
    if (status < 0) {
        lg_log(LG_LOG_WARN, "accept_failed", "err=%s", uv_err_name(status));
        return;
    }
    server_accept(s);
}

static void timer_cb(uv_timer_t *t)
{
    struct lg_server *s = t->data;
    s->timer_armed = false;
    uint64_t now = uv_now(s->loop);
    while (!link_empty(&s->writes)) {
        struct pending *p = CONTAINER_OF(s->writes.next, struct pending, wlink);
        if (p->due_ms > now) {
            break;
        }
        write_timeout(p); /* answers p (the node still holds it): it leaves the list */
        LG_ASSERT(!link_linked(&p->wlink));
    }
    while (!link_empty(&s->frames)) {
        struct conn *c = CONTAINER_OF(s->frames.next, struct conn, frame_link);
        if (c->frame_due_ms > now) {
            break;
        }
        conn_frame_timeout(c); /* leaves the list */
        LG_ASSERT(!link_linked(&c->frame_link));
    }
    while (!link_empty(&s->idles)) {
        struct conn *c = CONTAINER_OF(s->idles.next, struct conn, idle_link);
        if (c->idle_due_ms > now) {
            break;
        }
        conn_idle_timeout(c); /* leaves the list */
        LG_ASSERT(!link_linked(&c->idle_link));
    }
    while (!link_empty(&s->lingers)) {
        struct conn *c = CONTAINER_OF(s->lingers.next, struct conn, linger_link);
        if (c->linger_due_ms > now) {
            break;
        }
        /* leaves the list */
        conn_close(c, LG_LOG_DEBUG, s->closing ? "server_close_timeout" : "linger_timeout",
                   NULL);
    }
    if (s->accept_stalled) {
        s->accept_stalled = false;
        server_accept(s);
    }
    timer_rearm(s);
}

static void idle_cb(uv_idle_t *h)
{
    struct lg_server *s = h->data;
    int rc = uv_idle_stop(&s->idle);
    LG_ASSERT(rc == 0); /* uv_idle_stop cannot fail */
    s->idle_active = false;
    /* Connections queued while these are processed wait for the next turn. */
    struct link batch;
    link_init(&batch);
    while (!link_empty(&s->resume)) {
        struct link *l = s->resume.next;
        link_remove(l);
        link_push(&batch, l);
    }
    while (!link_empty(&batch)) {
        struct conn *c = CONTAINER_OF(batch.next, struct conn, resume_link);
        link_remove(&c->resume_link);
        if (c->state == CONN_OPEN && !c->reading) {
            conn_process(c);
        }
    }
    /* The answers of the last turn (and of the requests just resumed), one write per
     * connection. */
    server_flush(s);
    if (s->idle_active && link_empty(&s->resume) && link_empty(&s->flushes)) {
        rc = uv_idle_stop(&s->idle); /* restarted by what was just done, and done already */
        LG_ASSERT(rc == 0);
        s->idle_active = false;
    }
}

/* ---------------------------------------------------------------------------------------
 * Start and stop */

/* A listening socket for host:port (non-blocking, close-on-exec), first address that
 * binds. Returns LG_OK with *fd_out, LG_EINVAL (does not resolve), LG_EIO (cannot bind). */
static int server_listen_fd(const char *address, const char *host, const char *port,
                            int *fd_out, char *errmsg)
{
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    struct addrinfo *list = NULL;
    int gai = getaddrinfo(host, port, &hints, &list);
    if (gai != 0) {
        return lg_errmsg_printf(errmsg, gai == EAI_AGAIN ? LG_EIO : LG_EINVAL,
                                "client address %s: %s", address, gai_strerror(gai));
    }
    int err = 0;
    int fd = -1;
    for (struct addrinfo *ai = list; ai != NULL && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
            bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SERVER_BACKLOG) != 0) {
            err = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(list);
    if (fd < 0) {
        return lg_errmsg_printf(errmsg, LG_EIO, "client address %s: cannot listen: %s", address,
                                strerror(err != 0 ? err : EADDRNOTAVAIL));
    }
    *fd_out = fd;
    return LG_OK;
}

/* Start failed after handles were initialised: close them; the last close frees s. */
static void server_abort_start(struct lg_server *s)
{
    s->start_failed = true;
    if (s->listener_open) {
        uv_close((uv_handle_t *)&s->listener, server_handle_closed);
        s->listener_open = false;
    }
    if (s->timer_open) {
        uv_close((uv_handle_t *)&s->timer, server_handle_closed);
        s->timer_open = false;
    }
    if (s->idle_open) {
        uv_close((uv_handle_t *)&s->idle, server_handle_closed);
        s->idle_open = false;
    }
    server_maybe_closed(s);
}

int lg_server_start(struct lg_server **out, uv_loop_t *loop, struct lg_node *node,
                    const struct lg_server_config *cfg, char *errmsg)
{
    LG_PRE(out != NULL && loop != NULL && node != NULL && cfg != NULL);
    char local[LG_ERRMSG_SIZE];
    errmsg = errmsg != NULL ? errmsg : local;
    *out = NULL;
    if (cfg->bind == NULL) {
        return lg_errmsg_printf(errmsg, LG_EINVAL, "client address: missing");
    }
    char host[LG_RAFT_ADDRESS_BYTES_MAX];
    char port[8];
    /* Port 0: any free port (lg_server_port says which). */
    if (lg_addr_split(cfg->bind, host, sizeof host, port, sizeof port, LG_ADDR_PORT_ZERO_OK,
                      errmsg) != LG_OK) {
        return lg_errmsg_wrap(errmsg, LG_EINVAL, "client address");
    }
    size_t out_max = cfg->out_bytes_max == 0 ? LG_SERVER_OUT_BYTES_MAX : cfg->out_bytes_max;
    size_t total_in_max =
        cfg->total_in_bytes_max == 0 ? LG_SERVER_TOTAL_IN_BYTES_MAX : cfg->total_in_bytes_max;
    size_t in_max = cfg->in_bytes_max == 0 ? LG_SERVER_IN_BYTES_MAX : cfg->in_bytes_max;
    if (out_max > SERVER_BYTES_LIMIT || in_max > SERVER_BYTES_LIMIT) {
        return lg_errmsg_printf(errmsg, LG_EINVAL, "out_bytes_max and in_bytes_max: at most %u",
                                SERVER_BYTES_LIMIT);
    }
    struct lg_server *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return lg_errmsg_printf(errmsg, LG_ENOMEM, "server: out of memory");
    }
    s->loop = loop;
    s->metrics = cfg->metrics;
    s->node = node;
    s->conns_max = cfg->conns_max == 0 ? LG_SERVER_CONNS_MAX : cfg->conns_max;
    s->inflight_max = cfg->inflight_max == 0 ? LG_SERVER_INFLIGHT_MAX : cfg->inflight_max;
    s->out_bytes_max = out_max;
    s->in_bytes_max = in_max;
    s->write_timeout_ms =
        cfg->write_timeout_ms == 0 ? LG_SERVER_WRITE_TIMEOUT_MS : cfg->write_timeout_ms;
    s->frame_timeout_ms =
        cfg->frame_timeout_ms == 0 ? LG_SERVER_FRAME_TIMEOUT_MS : cfg->frame_timeout_ms;
    s->idle_timeout_ms =
        cfg->idle_timeout_ms == 0 ? LG_SERVER_IDLE_TIMEOUT_MS : cfg->idle_timeout_ms;
    s->total_in_bytes_max = total_in_max;
    s->key = cfg->key;
    if (s->key != NULL) {
        lg_sign_public_key(s->key, s->public_key);
    }
    s->audit_stats = cfg->audit_stats;
    s->audit_arg = cfg->audit_arg;
    snprintf(s->bind, sizeof s->bind, "%s", cfg->bind);
    s->gossip = cfg->gossip;
    link_init(&s->conns);
    link_init(&s->writes);
    link_init(&s->lingers);
    link_init(&s->resume);
    link_init(&s->frames);
    link_init(&s->idles);
    link_init(&s->budget);
    link_init(&s->flushes);
    int fd = -1;
    int rc = server_listen_fd(cfg->bind, host, port, &fd, errmsg);
    if (rc != LG_OK) {
        free(s);
        return rc;
    }
    int uvrc = uv_timer_init(loop, &s->timer);
    if (uvrc == 0) {
        s->timer.data = s;
        s->timer_open = true;
        s->n_handles++;
        uvrc = uv_idle_init(loop, &s->idle);
    }
    if (uvrc == 0) {
        s->idle.data = s;
        s->idle_open = true;
        s->n_handles++;
        uvrc = uv_tcp_init(loop, &s->listener);
    }
    if (uvrc == 0) {
        s->listener.data = s;
        s->listener_open = true;
        s->n_handles++;
        uvrc = uv_tcp_open(&s->listener, fd);
        if (uvrc == 0) {
            fd = -1; /* the handle owns it */
            uvrc = uv_listen((uv_stream_t *)&s->listener, SERVER_BACKLOG, connection_cb);
        }
    }
    if (uvrc != 0) {
        if (fd >= 0) {
            close(fd);
        }
        server_abort_start(s);
        return lg_errmsg_printf(errmsg, lg_err_from_uv(uvrc) == LG_ENOMEM ? LG_ENOMEM : LG_EIO,
                                "client address %s: %s", cfg->bind, uv_strerror(uvrc));
    }
    struct sockaddr_storage ss;
    int len = (int)sizeof ss;
    uvrc = uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &len);
    if (uvrc == 0 && ss.ss_family == AF_INET) {
        s->port = ntohs(((const struct sockaddr_in *)(const void *)&ss)->sin_port);
    } else if (uvrc == 0 && ss.ss_family == AF_INET6) {
        s->port = ntohs(((const struct sockaddr_in6 *)(const void *)&ss)->sin6_port);
    }
    lg_log(LG_LOG_DEBUG, "client_listen",
           "bind=%s port=%u conns_max=%u inflight_max=%u out_bytes_max=%zu in_bytes_max=%zu "
           "write_timeout_ms=%u frame_timeout_ms=%u idle_timeout_ms=%u total_in_bytes_max=%zu",
           s->bind, s->port, s->conns_max, s->inflight_max, s->out_bytes_max, s->in_bytes_max,
           s->write_timeout_ms, s->frame_timeout_ms, s->idle_timeout_ms,
           s->total_in_bytes_max);
    *out = s;
    return LG_OK;
}

void lg_server_stop_accepting(struct lg_server *s)
{
    LG_PRE(s != NULL);
    if (s->listener_open) {
        uv_close((uv_handle_t *)&s->listener, server_handle_closed);
        s->listener_open = false;
    }
    s->accept_stalled = false;
}

/* lg_server_close for one connection: no more requests; those the node holds are
 * detached; what is already encoded is written, then FIN (conn_maybe_finish) and input is
 * discarded until the client closes; closed at the latest at the deadline. */
static void conn_server_close(struct conn *c, uint64_t due_ms)
{
    struct lg_server *s = c->s;
    if (c->state == CONN_CLOSING) {
        return;
    }
    while (!link_empty(&c->pending)) {
        pending_detach(CONTAINER_OF(c->pending.next, struct pending, link));
    }
    LG_ASSERT(c->inflight == 0);
    if (!link_linked(&c->linger_link)) {
        c->linger_due_ms = due_ms; /* the same for all: the FIFO stays ordered */
        link_push(&s->lingers, &c->linger_link);
        timer_arm(s, due_ms);
    }
    if (c->state == CONN_OPEN) {
        conn_drain(c);
    } else {
        conn_maybe_finish(c);
    }
}

void lg_server_close(struct lg_server *s, lg_server_close_cb cb, void *arg)
{
    LG_PRE(s != NULL);
    LG_PRE(!s->closing);
    lg_server_stop_accepting(s);
    s->closing = true;
    s->close_cb = cb;
    s->close_arg = arg;
    lg_log(LG_LOG_INFO, "server_close", "conns=%u linger_ms=%u", s->n_conns,
           LG_SERVER_LINGER_MS);
    uint64_t due_ms = uv_now(s->loop) + LG_SERVER_LINGER_MS;
    for (struct link *l = s->conns.next; l != &s->conns; l = l->next) {
        conn_server_close(CONTAINER_OF(l, struct conn, link), due_ms);
    }
    server_flush(s); /* answers waiting for the next turn: now (then FIN), idle closes */
    LG_ASSERT(link_empty(&s->flushes));
    LG_ASSERT(link_empty(&s->writes)); /* every waiting write was detached */
    LG_ASSERT(link_empty(&s->resume));
    LG_ASSERT(link_empty(&s->budget));
    LG_ASSERT(link_empty(&s->frames));
    LG_ASSERT(link_empty(&s->idles));
    server_close_timer(s); /* now if no connection is left, else after the last one */
    if (s->idle_open) {
        uv_close((uv_handle_t *)&s->idle, server_handle_closed);
        s->idle_open = false;
        s->idle_active = false;
    }
    LG_ASSERT(s->n_handles > 0); /* the callback comes from a close callback, never here */
}

void lg_server_free(struct lg_server *s)
{
    if (s == NULL) {
        return;
    }
    LG_PRE(s->closed);
    LG_PRE(s->n_handles == 0);
    free(s);
}

unsigned lg_server_port(const struct lg_server *s)
{
    LG_PRE(s != NULL);
    return s->port;
}

void lg_server_stats(const struct lg_server *s, struct lg_server_stats *out)
{
    LG_PRE(s != NULL && out != NULL);
    *out = s->stats;
    out->conns = s->n_conns;
    out->in_bytes = s->in_bytes;
}
