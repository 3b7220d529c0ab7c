/* peer: the follower's asynchronous read_index client (one connection to the leader). */
#include "peer.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/arena.h"
#include "../lib/assert.h"
#include "../lib/buf.h"
#include "../lib/frame.h"
#include "../lib/proto.h"
#include "transport.h"

/* The timer delivers failures and enforces timeouts this often. */
#define PEER_TICK_MS 20u
/* A response frame to read_index is tiny; anything bigger is a bad peer. */
#define PEER_FRAME_BYTES_MAX (64u * 1024u)

struct pending {
    bool used;
    bool sent;
    int status;          /* -1: waiting; else the status to deliver */
    uint64_t tag;
    uint64_t index;
    uint64_t deadline_ms;
};

struct conn {
    struct lg_peer *p;   /* NULL once detached (closing) */
    char address[LG_RAFT_ADDRESS_BYTES_MAX];
    uv_getaddrinfo_t gai;
    bool gai_pending;
    uv_tcp_t tcp;
    bool tcp_open;
    bool connected;
    uv_connect_t creq;
    struct lg_frame_decoder dec;
};

struct write_req {
    uv_write_t req;
    struct lg_buf buf;
};

struct lg_peer {
    uv_loop_t *loop;
    lg_peer_cb cb;
    void *arg;
    struct conn *conn;
    struct pending pend[LG_PEER_INFLIGHT_MAX];
    uv_timer_t timer;
    char errmsg[LG_ERRMSG_SIZE];
};

/* ---- connection lifetime -------------------------------------------------------------- */

static void conn_free_maybe(struct conn *c)
{
    if (c->p == NULL && !c->gai_pending && !c->tcp_open) {
        lg_frame_decoder_close(&c->dec);
        free(c);
    }
}

static void tcp_close_cb(uv_handle_t *h)
{
    struct conn *c = h->data;
    c->tcp_open = false;
    conn_free_maybe(c);
}

/* Fail every request that waits on the connection (sent or not), detach it from the peer
 * and close its handles. */
static void conn_fail(struct conn *c, int status)
{
    struct lg_peer *p = c->p;
    if (p != NULL) {
        for (unsigned i = 0; i < LG_PEER_INFLIGHT_MAX; i++) {
            if (p->pend[i].used && p->pend[i].status < 0) {
                p->pend[i].status = status;
            }
        }
        if (p->conn == c) {
            p->conn = NULL;
        }
        c->p = NULL;
    }
    if (c->gai_pending) {
        uv_cancel((uv_req_t *)&c->gai);
    }
    if (c->tcp_open && !uv_is_closing((uv_handle_t *)&c->tcp)) {
        uv_close((uv_handle_t *)&c->tcp, tcp_close_cb);
    }
    conn_free_maybe(c);
}

/* ---- sending -------------------------------------------------------------------------- */

static void write_cb(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)(void *)req;
    struct conn *c = req->data;
    lg_buf_close(&w->buf);
    free(w);
    if (status != 0 && c->p != NULL) {
        lg_errmsg_printf(c->p->errmsg, LG_EUNAVAIL, "write to %s: %s", c->address,
                         uv_strerror(status));
        conn_fail(c, LG_EUNAVAIL);
    }
}

/* Write every request not yet sent, in one frame batch. */
static void conn_send_pending(struct conn *c)
{
    struct lg_peer *p = c->p;
    struct write_req *w = calloc(1, sizeof *w);
    if (w == NULL) {
        conn_fail(c, LG_EUNAVAIL);
        return;
    }
    lg_buf_init(&w->buf);
    for (unsigned i = 0; i < LG_PEER_INFLIGHT_MAX; i++) {
        struct pending *e = &p->pend[i];
        if (!e->used || e->sent || e->status >= 0) {
            continue;
        }
        struct lg_proto_request req;
        memset(&req, 0, sizeof req);
        req.id = e->tag;
        req.op = LG_PROTO_OP_READ_INDEX;
        if (lg_proto_encode_request(&req, &w->buf, NULL) != LG_OK) {
            e->status = LG_EUNAVAIL;
            continue;
        }
        e->sent = true;
    }
    if (w->buf.len == 0) {
        lg_buf_close(&w->buf);
        free(w);
        return;
    }
    w->req.data = c;
    uv_buf_t b = uv_buf_init((char *)w->buf.data, (unsigned)w->buf.len);
    int rv = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, write_cb);
    if (rv != 0) {
        lg_buf_close(&w->buf);
        free(w);
        conn_fail(c, LG_EUNAVAIL);
    }
}

/* ---- receiving ------------------------------------------------------------------------ */

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    size_t size = suggested < 4096u ? 4096u : suggested;
    char *base = malloc(size);
    *buf = uv_buf_init(base, base != NULL ? (unsigned)size : 0u);
}

/* One response frame: match it to its request by id (= tag). */
static void on_frame(struct conn *c, const void *body, size_t len)
{
    struct lg_peer *p = c->p;
    struct lg_arena arena;
    lg_arena_init(&arena, 64u * 1024u);
    struct lg_proto_response r;
    char msg[LG_ERRMSG_SIZE];
    int rc = lg_proto_decode_response(LG_PROTO_OP_READ_INDEX, body, len, &arena, &r, msg);
    if (rc != LG_OK) {
        lg_arena_close(&arena);
        lg_errmsg_printf(p->errmsg, LG_EUNAVAIL, "bad read_index response from %s: %s",
                         c->address, msg);
        conn_fail(c, LG_EUNAVAIL);
        return;
    }
    for (unsigned i = 0; i < LG_PEER_INFLIGHT_MAX; i++) {
        struct pending *e = &p->pend[i];
        if (e->used && e->sent && e->status < 0 && e->tag == r.id) {
            if (r.ok) {
                e->status = LG_OK;
                e->index = r.u.read_index;
            } else {
                e->status = r.error.code == LG_ENOTLEADER ? LG_ENOTLEADER : LG_EUNAVAIL;
                lg_errmsg_printf(p->errmsg, e->status, "leader %s: %.*s", c->address,
                                 (int)r.error.message.len, r.error.message.ptr);
            }
        }
    }
    lg_arena_close(&arena);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = s->data;
    if (nread < 0 || c->p == NULL) {
        free(buf->base);
        if (c->p != NULL) {
            lg_errmsg_printf(c->p->errmsg, LG_EUNAVAIL, "connection to %s: %s", c->address,
                             uv_strerror((int)nread));
            conn_fail(c, LG_EUNAVAIL);
        }
        return;
    }
    const uint8_t *data = (const uint8_t *)buf->base;
    size_t left = (size_t)nread;
    while (c->p != NULL) {
        size_t used = 0;
        const uint8_t *frame = NULL;
        uint32_t frame_len = 0;
        int rc = lg_frame_decoder_feed(&c->dec, data, left, &used, &frame, &frame_len);
        if (rc != LG_OK) {
            lg_errmsg_printf(c->p->errmsg, LG_EUNAVAIL, "bad frame from %s", c->address);
            conn_fail(c, LG_EUNAVAIL);
            break;
        }
        data += used;
        left -= used;
        if (frame == NULL) {
            break;
        }
        on_frame(c, frame, frame_len);
    }
    free(buf->base);
}

/* ---- connecting ----------------------------------------------------------------------- */

static void connect_cb(uv_connect_t *req, int status)
{
    struct conn *c = req->data;
    if (c->p == NULL) {
        return;
    }
    if (status != 0) {
        lg_errmsg_printf(c->p->errmsg, LG_EUNAVAIL, "connect %s: %s", c->address,
                         uv_strerror(status));
        conn_fail(c, LG_EUNAVAIL);
        return;
    }
    c->connected = true;
    uv_tcp_nodelay(&c->tcp, 1);
    if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) != 0) {
        conn_fail(c, LG_EUNAVAIL);
        return;
    }
    conn_send_pending(c);
}

static void gai_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct conn *c = req->data;
    c->gai_pending = false;
    if (c->p == NULL || status != 0 || res == NULL) {
        uv_freeaddrinfo(res);
        if (c->p == NULL) {
            conn_free_maybe(c); /* detached while resolving: nothing else holds it */
            return;
        }
        lg_errmsg_printf(c->p->errmsg, LG_EUNAVAIL, "resolve %s: %s", c->address,
                         uv_strerror(status != 0 ? status : UV_EAI_NONAME));
        conn_fail(c, LG_EUNAVAIL); /* frees c (no handle is open yet) */
        return;
    }
    int rv = uv_tcp_init(c->p->loop, &c->tcp);
    if (rv == 0) {
        c->tcp_open = true;
        c->tcp.data = c;
        c->creq.data = c;
        rv = uv_tcp_connect(&c->creq, &c->tcp, res->ai_addr, connect_cb);
    }
    uv_freeaddrinfo(res);
    if (rv != 0) {
        lg_errmsg_printf(c->p->errmsg, LG_EUNAVAIL, "connect %s: %s", c->address,
                         uv_strerror(rv));
        conn_fail(c, LG_EUNAVAIL);
    }
}

static struct conn *conn_open(struct lg_peer *p, const char *address)
{
    char host[LG_RAFT_ADDRESS_BYTES_MAX];
    char port[8];
    if (lg_addr_split(address, host, sizeof host, port, sizeof port, 0, NULL) !=
        LG_OK) {
        lg_errmsg_printf(p->errmsg, LG_EUNAVAIL, "bad leader address \"%.64s\"", address);
        return NULL;
    }
    struct conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return NULL;
    }
    c->p = p;
    snprintf(c->address, sizeof c->address, "%s", address);
    lg_frame_decoder_init(&c->dec, PEER_FRAME_BYTES_MAX);
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    c->gai.data = c;
    c->gai_pending = true;
    if (uv_getaddrinfo(p->loop, &c->gai, gai_cb, host, port, &hints) != 0) {
        c->gai_pending = false;
        lg_frame_decoder_close(&c->dec);
        free(c);
        return NULL;
    }
    return c;
}

/* ---- public --------------------------------------------------------------------------- */

/* Deliver what is decided; time out what waited too long (and drop that connection: a
 * leader that does not answer is not one to keep asking). */
static void timer_cb(uv_timer_t *t)
{
    struct lg_peer *p = t->data;
    uint64_t now = uv_now(p->loop);
    bool expired = false;
    for (unsigned i = 0; i < LG_PEER_INFLIGHT_MAX; i++) {
        if (p->pend[i].used && p->pend[i].status < 0 && now >= p->pend[i].deadline_ms) {
            expired = true;
        }
    }
    if (expired && p->conn != NULL) {
        lg_errmsg_printf(p->errmsg, LG_ETIMEOUT, "no read_index answer from %s in %u ms",
                         p->conn->address, LG_PEER_TIMEOUT_MS);
        conn_fail(p->conn, LG_ETIMEOUT);
    }
    for (unsigned i = 0; i < LG_PEER_INFLIGHT_MAX; i++) {
        struct pending *e = &p->pend[i];
        if (e->used && e->status < 0 && now >= e->deadline_ms) {
            e->status = LG_ETIMEOUT;
        }
        if (e->used && e->status >= 0) {
            struct pending done = *e;
            memset(e, 0, sizeof *e);
            p->cb(p->arg, done.tag, done.status, done.index, p->errmsg);
        }
    }
}

int lg_peer_init(struct lg_peer **out, uv_loop_t *loop, lg_peer_cb cb, void *arg)
{
    struct lg_peer *p = calloc(1, sizeof *p);
    if (p == NULL) {
        return LG_ENOMEM;
    }
    p->loop = loop;
    p->cb = cb;
    p->arg = arg;
    uv_timer_init(loop, &p->timer);
    p->timer.data = p;
    uv_timer_start(&p->timer, timer_cb, PEER_TICK_MS, PEER_TICK_MS);
    *out = p;
    return LG_OK;
}

void lg_peer_read_index(struct lg_peer *p, const char *address, uint64_t tag)
{
    if (p->conn != NULL && strcmp(p->conn->address, address) != 0) {
        conn_fail(p->conn, LG_EUNAVAIL); /* the leader changed: ask the new one */
    }
    struct pending *e = NULL;
    for (unsigned i = 0; i < LG_PEER_INFLIGHT_MAX && e == NULL; i++) {
        if (!p->pend[i].used) {
            e = &p->pend[i];
        }
    }
    if (e == NULL) {
        /* Full (the only answer given inside the call, see peer.h). */
        lg_errmsg_printf(p->errmsg, LG_EUNAVAIL, "too many read_index requests in flight");
        p->cb(p->arg, tag, LG_EUNAVAIL, 0, p->errmsg);
        return;
    }
    memset(e, 0, sizeof *e);
    e->used = true;
    e->status = -1;
    e->tag = tag;
    e->deadline_ms = uv_now(p->loop) + LG_PEER_TIMEOUT_MS;
    if (p->conn == NULL) {
        p->conn = conn_open(p, address);
        if (p->conn == NULL) {
            e->status = LG_EUNAVAIL;
            return;
        }
    }
    if (p->conn->connected) {
        conn_send_pending(p->conn);
    }
}

static void peer_timer_close_cb(uv_handle_t *h)
{
    free(h->data);
}

void lg_peer_close(struct lg_peer *p)
{
    if (p == NULL) {
        return;
    }
    if (p->conn != NULL) {
        conn_fail(p->conn, LG_ESHUTDOWN);
    }
    for (unsigned i = 0; i < LG_PEER_INFLIGHT_MAX; i++) {
        struct pending *e = &p->pend[i];
        if (e->used) {
            struct pending done = *e;
            memset(e, 0, sizeof *e);
            p->cb(p->arg, done.tag, LG_ESHUTDOWN, 0, "node shutting down");
        }
    }
    uv_timer_stop(&p->timer);
    uv_close((uv_handle_t *)&p->timer, peer_timer_close_cb);
}
