/* transport: the node's struct raft_uv_transport over TCP with per-connect name resolution.
 *
 * Objects and their handles (each freed only when all its handles' close callbacks ran):
 * - struct tp (t->impl): the listener (heap uv_tcp_t, freed in its close callback), the
 *   lists of outgoing attempts and incoming handshakes, a count of stray handles.
 * - struct outgoing: one connect request: a getaddrinfo request, a timer, and the TCP
 *   handle (raft_malloc'd alone, because on success libraft takes it and raft_free()s it).
 * - struct incoming: one accepted connection reading the handshake: a timer and the TCP
 *   handle (handed to libraft on success, like above).
 * The transport's close callback runs once the listener, every outgoing, every incoming
 * and every stray handle is gone. */
#include "transport.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "assert.h"
#include "crc32c.h"
#include "err.h"

#define HS_MAGIC "LGRH"

/* Intrusive doubly-linked list (the objects never move). */
struct link {
    struct link *prev;
    struct link *next;
};

#define CONTAINER_OF(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

struct tp {
    struct raft_uv_transport *t;
    uv_loop_t *loop;
    raft_id id;
    char address[LG_RAFT_ADDRESS_BYTES_MAX];
    char bind_address[LG_RAFT_ADDRESS_BYTES_MAX]; /* empty: bind address */
    char client_address[LG_RAFT_ADDRESS_BYTES_MAX]; /* announced; empty: none */
    struct {
        raft_id id;
        char client[LG_RAFT_ADDRESS_BYTES_MAX];
    } peers[LG_RAFT_PEERS_MAX]; /* client addresses announced by peers (id 0: free) */
    unsigned peers_next;         /* slot replaced when the table is full */
    bool initialized;
    bool closing;
    raft_uv_accept_cb accept_cb;
    raft_uv_transport_close_cb close_cb;
    uv_tcp_t *listener; /* NULL when not listening or closed */
    unsigned port;
    unsigned connect_timeout_ms;
    unsigned handshake_timeout_ms;
    lg_raft_transport_resolve_hook resolve_hook;
    void *resolve_arg;
    uint64_t resolve_count;
    struct link outgoing;
    struct link incoming;
    unsigned n_incoming;
    unsigned n_stray; /* handles being closed that belong to no object */
};

struct outgoing {
    struct link link;
    struct tp *tp;
    struct raft_uv_connect *req;
    uv_getaddrinfo_t gai;
    bool gai_pending;
    struct addrinfo *ai_list;
    struct addrinfo *ai_next;
    uv_timer_t timer;
    bool timer_open;
    uv_tcp_t *tcp; /* owned until handed to libraft; NULL once freed or handed */
    bool tcp_closing;
    uv_connect_t connect_req;
    uv_write_t write_req;
    bool done;       /* outcome decided: status is final */
    bool fire_cb;    /* false when connect() itself failed (no callback then) */
    int status;      /* RAFT_NOCONNECTION, RAFT_CANCELED, or 0 once handed */
    size_t hs_len;
    uint8_t hs[LG_RAFT_HANDSHAKE_BYTES_MAX];
};

struct incoming {
    struct link link;
    struct tp *tp;
    uv_tcp_t *tcp; /* owned until handed to libraft; NULL once freed or handed */
    uv_timer_t timer;
    bool timer_open;
    bool done;
    size_t nread;
    size_t need;
    bool header_read;
    uint8_t buf[LG_RAFT_HANDSHAKE_BYTES_MAX];
};

/* Insert l at the tail of list head. */
static void link_push(struct link *head, struct link *l)
{
    l->prev = head->prev;
    l->next = head;
    head->prev->next = l;
    head->prev = l;
}

/* Remove l from its list. */
static void link_remove(struct link *l)
{
    LG_PRE(l->prev != NULL && l->next != NULL);
    l->prev->next = l->next;
    l->next->prev = l->prev;
    l->prev = NULL;
    l->next = NULL;
}

/* Little-endian stores and loads (these six): the handshake is byte-order independent. */
static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (unsigned i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (unsigned i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < 4; i++) {
        v |= (uint32_t)p[i] << (8 * i);
    }
    return v;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < 8; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

/* True when every byte of s[0..n) is printable ASCII other than space. */
static bool address_chars_ok(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x21 || s[i] > 0x7e) {
            return false;
        }
    }
    return true;
}

/* CRC-32C over the header's first 20 bytes followed by both addresses (contiguous). */
static uint32_t handshake_crc(const uint8_t *header, const uint8_t *addresses, size_t len)
{
    uint32_t crc = lg_crc32c(0, header, 20);
    return lg_crc32c(crc, addresses, len);
}

/* Public: see transport.h. Layout in docs/transport.md. */
size_t lg_raft_transport_encode_handshake(raft_id id, const char *address,
                                          const char *client_address, uint8_t *out,
                                          size_t cap)
{
    size_t len = strnlen(address, LG_RAFT_ADDRESS_BYTES_MAX);
    size_t clen = strnlen(client_address, LG_RAFT_ADDRESS_BYTES_MAX);
    if (id == 0 || len == 0 || len >= LG_RAFT_ADDRESS_BYTES_MAX ||
        clen >= LG_RAFT_ADDRESS_BYTES_MAX) {
        return 0;
    }
    if (cap < LG_RAFT_HANDSHAKE_HEADER_BYTES + len + clen) {
        return 0;
    }
    memcpy(out, HS_MAGIC, 4);
    put_u16(out + 4, LG_RAFT_HANDSHAKE_VERSION);
    put_u16(out + 6, 0); /* flags: reserved (TLS, authentication) */
    put_u64(out + 8, id);
    put_u16(out + 16, (uint16_t)len);
    put_u16(out + 18, (uint16_t)clen);
    memcpy(out + LG_RAFT_HANDSHAKE_HEADER_BYTES, address, len);
    memcpy(out + LG_RAFT_HANDSHAKE_HEADER_BYTES + len, client_address, clen);
    put_u32(out + 20, handshake_crc(out, out + LG_RAFT_HANDSHAKE_HEADER_BYTES, len + clen));
    LG_POST(get_u64(out + 8) == id);
    return LG_RAFT_HANDSHAKE_HEADER_BYTES + len + clen;
}

/* Public: see transport.h. */
int lg_raft_transport_set_client_address(struct raft_uv_transport *t, const char *address)
{
    struct tp *tp = t->impl;
    size_t len = strnlen(address, LG_RAFT_ADDRESS_BYTES_MAX);
    if (len >= LG_RAFT_ADDRESS_BYTES_MAX || !address_chars_ok((const uint8_t *)address, len)) {
        return LG_EINVAL;
    }
    memcpy(tp->client_address, address, len + 1u);
    return LG_OK;
}

/* Public: see transport.h. */
bool lg_raft_transport_peer_client(const struct raft_uv_transport *t, raft_id id, char *out,
                                   size_t size)
{
    const struct tp *tp = t->impl;
    LG_PRE(size >= LG_RAFT_ADDRESS_BYTES_MAX);
    out[0] = '\0';
    for (unsigned i = 0; i < LG_RAFT_PEERS_MAX && id != 0; i++) {
        if (tp->peers[i].id == id) {
            memcpy(out, tp->peers[i].client, strlen(tp->peers[i].client) + 1u);
            return out[0] != '\0';
        }
    }
    return false;
}

/* Remember the client address peer id announced (replace its entry, a free one, or the
 * oldest). */
static void remember_peer(struct tp *tp, raft_id id, const uint8_t *client, size_t len)
{
    unsigned slot = LG_RAFT_PEERS_MAX;
    for (unsigned i = 0; i < LG_RAFT_PEERS_MAX; i++) {
        if (tp->peers[i].id == id) {
            slot = i;
            break;
        }
        if (tp->peers[i].id == 0 && slot == LG_RAFT_PEERS_MAX) {
            slot = i;
        }
    }
    if (slot == LG_RAFT_PEERS_MAX) {
        slot = tp->peers_next;
        tp->peers_next = (tp->peers_next + 1u) % LG_RAFT_PEERS_MAX;
    }
    tp->peers[slot].id = id;
    memcpy(tp->peers[slot].client, client, len);
    tp->peers[slot].client[len] = '\0';
}

/* Fire the transport's close callback once nothing is left open. */
static void tp_maybe_closed(struct tp *tp)
{
    if (!tp->closing || tp->close_cb == NULL) {
        return;
    }
    if (tp->listener != NULL || tp->outgoing.next != &tp->outgoing ||
        tp->incoming.next != &tp->incoming || tp->n_stray > 0) {
        return;
    }
    raft_uv_transport_close_cb cb = tp->close_cb;
    tp->close_cb = NULL;
    cb(tp->t);
}

/* Close callback of a handle that belongs to no object (raft_malloc'd alone). */
static void stray_close_cb(uv_handle_t *handle)
{
    struct tp *tp = handle->data;
    LG_ASSERT(tp->n_stray > 0);
    tp->n_stray--;
    raft_free(handle);
    tp_maybe_closed(tp);
}

/* Close a raft_malloc'd TCP handle that belongs to no object. */
static void stray_close(struct tp *tp, uv_tcp_t *tcp)
{
    tcp->data = tp;
    tp->n_stray++;
    uv_close((uv_handle_t *)tcp, stray_close_cb);
}

/* ---- outgoing ------------------------------------------------------------------------ */

static void out_try_next(struct outgoing *o);

/* Free o once its resolution, timer and TCP handle are all finished; fires the user's
 * callback with the failure status first (success fired it already). */
static void out_maybe_free(struct outgoing *o)
{
    LG_PRE(o->done);
    if (o->gai_pending || o->timer_open || o->tcp != NULL) {
        return;
    }
    struct tp *tp = o->tp;
    link_remove(&o->link);
    if (o->ai_list != NULL) {
        uv_freeaddrinfo(o->ai_list);
    }
    if (o->fire_cb && o->status != 0) {
        struct raft_uv_connect *req = o->req;
        req->cb(req, NULL, o->status);
    }
    free(o);
    tp_maybe_closed(tp);
}

/* The attempt's timer is closed: free the attempt if nothing else is open. */
static void out_timer_close_cb(uv_handle_t *handle)
{
    struct outgoing *o = handle->data;
    o->timer_open = false;
    out_maybe_free(o);
}

/* The attempt's TCP handle is closed: free it, then try the next address or finish. */
static void out_tcp_close_cb(uv_handle_t *handle)
{
    struct outgoing *o = handle->data;
    LG_ASSERT(handle == (uv_handle_t *)o->tcp);
    raft_free(o->tcp);
    o->tcp = NULL;
    o->tcp_closing = false;
    if (o->done) {
        out_maybe_free(o);
    } else {
        out_try_next(o); /* this address failed: try the next one */
    }
}

/* Close o's current TCP handle (if any and not closing already). */
static void out_close_tcp(struct outgoing *o)
{
    if (o->tcp != NULL && !o->tcp_closing) {
        o->tcp_closing = true;
        uv_close((uv_handle_t *)o->tcp, out_tcp_close_cb);
    }
}

/* Decide the outcome of o as a failure and start releasing everything it holds. The
 * user's callback runs from out_maybe_free, after the last close callback. */
static void out_fail(struct outgoing *o, int status)
{
    LG_PRE(status != 0);
    if (o->done) {
        return;
    }
    o->done = true;
    o->status = status;
    if (o->gai_pending) {
        uv_cancel((uv_req_t *)&o->gai); /* EBUSY if running: its callback comes anyway */
    }
    out_close_tcp(o);
    if (o->timer_open && !uv_is_closing((uv_handle_t *)&o->timer)) {
        uv_timer_stop(&o->timer);
        uv_close((uv_handle_t *)&o->timer, out_timer_close_cb);
    }
    out_maybe_free(o);
}

/* Connect timeout: resolution, TCP connect and handshake write took too long. */
static void out_timer_cb(uv_timer_t *timer)
{
    struct outgoing *o = timer->data;
    lg_errmsg_printf(o->tp->t->errmsg, RAFT_NOCONNECTION, "connect: timed out after %u ms",
                     o->tp->connect_timeout_ms);
    out_fail(o, RAFT_NOCONNECTION);
}

/* The handshake is written: hand the stream to libraft. */
static void out_write_cb(uv_write_t *req, int status)
{
    struct outgoing *o = req->data;
    if (o->done) {
        return; /* failing or cancelled; the TCP close callback finishes o */
    }
    if (status != 0) {
        lg_errmsg_printf(o->tp->t->errmsg, RAFT_NOCONNECTION, "handshake write: %s",
                         uv_strerror(status));
        out_close_tcp(o); /* then the next address */
        return;
    }
    uv_tcp_t *tcp = o->tcp;
    o->tcp = NULL;
    o->done = true;
    o->status = 0;
    tcp->data = NULL;
    uv_timer_stop(&o->timer);
    uv_close((uv_handle_t *)&o->timer, out_timer_close_cb);
    struct raft_uv_connect *user = o->req;
    user->cb(user, (uv_stream_t *)tcp, 0);
}

/* TCP connected (or not): write the handshake, or try the next address. */
static void out_connect_cb(uv_connect_t *req, int status)
{
    struct outgoing *o = req->data;
    if (o->done) {
        return;
    }
    if (status != 0) {
        lg_errmsg_printf(o->tp->t->errmsg, RAFT_NOCONNECTION, "connect: %s",
                         uv_strerror(status));
        out_close_tcp(o);
        return;
    }
    /* TLS hook: a TLS client handshake would run here, before ours, on the same stream. */
    uv_buf_t buf = uv_buf_init((char *)o->hs, (unsigned)o->hs_len);
    int rv = uv_write(&o->write_req, (uv_stream_t *)o->tcp, &buf, 1, out_write_cb);
    if (rv != 0) {
        lg_errmsg_printf(o->tp->t->errmsg, RAFT_NOCONNECTION, "handshake write: %s",
                         uv_strerror(rv));
        out_close_tcp(o);
    }
}

/* Start a TCP connect to the next resolved address; fail o when none is left. */
static void out_try_next(struct outgoing *o)
{
    LG_PRE(!o->done);
    LG_PRE(o->tcp == NULL);
    while (o->ai_next != NULL) {
        struct addrinfo *ai = o->ai_next;
        o->ai_next = ai->ai_next;
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) {
            continue;
        }
        uv_tcp_t *tcp = raft_malloc(sizeof *tcp);
        if (tcp == NULL) {
            lg_errmsg_printf(o->tp->t->errmsg, RAFT_NOCONNECTION, "connect: out of memory");
            break;
        }
        int rv = uv_tcp_init(o->tp->loop, tcp);
        if (rv != 0) {
            raft_free(tcp);
            lg_errmsg_printf(o->tp->t->errmsg, RAFT_NOCONNECTION, "tcp init: %s",
                             uv_strerror(rv));
            break;
        }
        tcp->data = o;
        o->tcp = tcp;
        /* Raft messages are small and answered by small ones: Nagle + delayed ACK would
         * hold them up to 40 ms (libuv applies the flag when the socket is created). */
        (void)uv_tcp_nodelay(tcp, 1);
        rv = uv_tcp_connect(&o->connect_req, tcp, ai->ai_addr, out_connect_cb);
        if (rv != 0) {
            lg_errmsg_printf(o->tp->t->errmsg, RAFT_NOCONNECTION, "connect: %s",
                             uv_strerror(rv));
            out_close_tcp(o); /* its close callback tries the next address */
        }
        return;
    }
    out_fail(o, RAFT_NOCONNECTION);
}

/* Resolution done (or cancelled): connect to the first address, or fail. */
static void out_gai_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct outgoing *o = req->data;
    o->gai_pending = false;
    o->ai_list = res;
    o->ai_next = res;
    if (o->done) {
        out_maybe_free(o);
        return;
    }
    if (status != 0) {
        lg_errmsg_printf(o->tp->t->errmsg, RAFT_NOCONNECTION, "resolve: %s",
                         uv_strerror(status));
        out_fail(o, RAFT_NOCONNECTION);
        return;
    }
    out_try_next(o);
}

/* raft_uv_transport->connect. */
static int tp_connect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id,
                      const char *address, raft_uv_connect_cb cb)
{
    struct tp *tp = t->impl;
    char host[LG_RAFT_ADDRESS_BYTES_MAX];
    char resolved[LG_RAFT_ADDRESS_BYTES_MAX];
    char port[8];
    (void)id;
    LG_PRE(tp->initialized);
    if (tp->closing) {
        lg_errmsg_printf(t->errmsg, RAFT_CANCELED, "connect: transport is closing");
        return RAFT_CANCELED;
    }
    if (lg_addr_split(address, host, sizeof host, port, sizeof port, 0, NULL) != 0) {
        lg_errmsg_printf(t->errmsg, RAFT_NOCONNECTION, "connect: bad address \"%.64s\"",
                         address);
        return RAFT_NOCONNECTION;
    }
    const char *name = host;
    if (tp->resolve_hook != NULL) {
        if (tp->resolve_hook(tp->resolve_arg, host, resolved, sizeof resolved) != 0) {
            lg_errmsg_printf(t->errmsg, RAFT_NOCONNECTION, "connect: resolve hook failed");
            return RAFT_NOCONNECTION;
        }
        name = resolved;
    }
    struct outgoing *o = calloc(1, sizeof *o);
    if (o == NULL) {
        lg_errmsg_printf(t->errmsg, RAFT_NOMEM, "connect: out of memory");
        return RAFT_NOMEM;
    }
    o->tp = tp;
    o->req = req;
    o->gai.data = o;
    o->timer.data = o;
    o->connect_req.data = o;
    o->write_req.data = o;
    o->hs_len = lg_raft_transport_encode_handshake(tp->id, tp->address, tp->client_address, o->hs,
                                                   sizeof o->hs);
    LG_ASSERT(o->hs_len > 0); /* init validated id and address */
    req->cb = cb;
    int rv = uv_timer_init(tp->loop, &o->timer);
    if (rv != 0) {
        free(o);
        lg_errmsg_printf(t->errmsg, RAFT_NOCONNECTION, "timer: %s", uv_strerror(rv));
        return RAFT_NOCONNECTION;
    }
    o->timer_open = true;
    o->fire_cb = true;
    link_push(&tp->outgoing, &o->link);
    uv_timer_start(&o->timer, out_timer_cb, tp->connect_timeout_ms, 0);

    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = AI_NUMERICSERV;
    tp->resolve_count++;
    rv = uv_getaddrinfo(tp->loop, &o->gai, out_gai_cb, name, port, &hints);
    if (rv != 0) {
        /* No callback for a call that fails: o is released through its timer's close. */
        o->fire_cb = false;
        out_fail(o, RAFT_NOCONNECTION);
        lg_errmsg_printf(t->errmsg, RAFT_NOCONNECTION, "resolve: %s", uv_strerror(rv));
        return RAFT_NOCONNECTION;
    }
    o->gai_pending = true;
    return 0;
}

/* ---- incoming ------------------------------------------------------------------------ */

/* Free in once its timer and TCP handle (if still ours) are closed. */
static void in_maybe_free(struct incoming *in)
{
    LG_PRE(in->done);
    if (in->tcp != NULL || in->timer_open) {
        return;
    }
    struct tp *tp = in->tp;
    link_remove(&in->link);
    LG_ASSERT(tp->n_incoming > 0);
    tp->n_incoming--;
    free(in);
    tp_maybe_closed(tp);
}

/* The handshake timer is closed. */
static void in_timer_close_cb(uv_handle_t *handle)
{
    struct incoming *in = handle->data;
    in->timer_open = false;
    in_maybe_free(in);
}

/* The rejected connection is closed: free its handle. */
static void in_tcp_close_cb(uv_handle_t *handle)
{
    struct incoming *in = handle->data;
    LG_ASSERT(handle == (uv_handle_t *)in->tcp);
    raft_free(in->tcp);
    in->tcp = NULL;
    in_maybe_free(in);
}

/* Stop reading the handshake: close the connection (if still ours) and the timer. */
static void in_abort(struct incoming *in)
{
    if (in->done) {
        return;
    }
    in->done = true;
    if (in->tcp != NULL) {
        uv_close((uv_handle_t *)in->tcp, in_tcp_close_cb);
    }
    uv_timer_stop(&in->timer);
    uv_close((uv_handle_t *)&in->timer, in_timer_close_cb);
}

/* Handshake timeout: the peer stalled. */
static void in_timer_cb(uv_timer_t *timer)
{
    in_abort(timer->data); /* stalled peer */
}

/* Hand out exactly the bytes still missing from the current handshake part, so that no
 * byte of the Raft stream that follows is ever consumed here. */
static void in_alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    struct incoming *in = handle->data;
    (void)suggested;
    LG_ASSERT(in->nread < in->need);
    LG_ASSERT(in->need <= LG_RAFT_HANDSHAKE_BYTES_MAX);
    *buf = uv_buf_init((char *)in->buf + in->nread, (unsigned)(in->need - in->nread));
}

/* Validate the fixed header; set need to the full handshake length. False on garbage. */
static bool in_parse_header(struct incoming *in)
{
    const uint8_t *h = in->buf;
    if (memcmp(h, HS_MAGIC, 4) != 0 || get_u16(h + 4) != LG_RAFT_HANDSHAKE_VERSION ||
        get_u16(h + 6) != 0 || get_u64(h + 8) == 0) {
        return false;
    }
    uint16_t len = get_u16(h + 16);
    uint16_t clen = get_u16(h + 18);
    if (len == 0 || len >= LG_RAFT_ADDRESS_BYTES_MAX || clen >= LG_RAFT_ADDRESS_BYTES_MAX) {
        return false;
    }
    in->need = LG_RAFT_HANDSHAKE_HEADER_BYTES + len + clen;
    LG_POST(in->need <= LG_RAFT_HANDSHAKE_BYTES_MAX);
    return true;
}

/* Handshake bytes arrived: parse the header, then validate the address and hand the
 * stream to libraft, or close on anything malformed, EOF or error. */
static void in_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct incoming *in = stream->data;
    (void)buf;
    if (nread == 0) {
        return; /* EAGAIN, not EOF */
    }
    if (nread < 0) {
        in_abort(in);
        return;
    }
    LG_ASSERT((size_t)nread <= in->need - in->nread);
    in->nread += (size_t)nread;
    if (in->nread < in->need) {
        return;
    }
    if (!in->header_read) {
        in->header_read = true;
        if (!in_parse_header(in)) {
            in_abort(in);
        }
        return;
    }
    size_t len = get_u16(in->buf + 16);
    size_t clen = get_u16(in->buf + 18);
    const uint8_t *payload = in->buf + LG_RAFT_HANDSHAKE_HEADER_BYTES;
    if (get_u32(in->buf + 20) != handshake_crc(in->buf, payload, len + clen) ||
        !address_chars_ok(payload, len) || !address_chars_ok(payload + len, clen)) {
        in_abort(in);
        return;
    }
    char address[LG_RAFT_ADDRESS_BYTES_MAX];
    memcpy(address, payload, len);
    address[len] = '\0';
    raft_id peer_id = get_u64(in->buf + 8);
    remember_peer(in->tp, peer_id, payload + len, clen);
    uv_read_stop(stream);
    struct tp *tp = in->tp;
    uv_tcp_t *tcp = in->tcp;
    in->tcp = NULL;
    tcp->data = NULL;
    in->done = true;
    uv_timer_stop(&in->timer);
    uv_close((uv_handle_t *)&in->timer, in_timer_close_cb); /* frees in later */
    tp->accept_cb(tp->t, peer_id, address, (uv_stream_t *)tcp);
}

/* A peer connected: accept it and start reading its handshake (or close it at once when
 * over LG_RAFT_INCOMING_MAX). */
static void listen_cb(uv_stream_t *server, int status)
{
    struct tp *tp = server->data;
    if (status != 0 || tp->closing) {
        return;
    }
    uv_tcp_t *tcp = raft_malloc(sizeof *tcp);
    if (tcp == NULL) {
        return; /* the connection stays in the backlog; retried at the next one */
    }
    int rv = uv_tcp_init(tp->loop, tcp);
    if (rv != 0) {
        raft_free(tcp);
        return;
    }
    rv = uv_accept(server, (uv_stream_t *)tcp);
    if (rv == 0) {
        (void)uv_tcp_nodelay(tcp, 1); /* see connect: no Nagle on Raft messages */
    }
    struct incoming *in = NULL;
    if (rv == 0 && tp->n_incoming < LG_RAFT_INCOMING_MAX) {
        in = calloc(1, sizeof *in);
    }
    if (in == NULL) {
        stray_close(tp, tcp); /* over the cap, out of memory or accept failed */
        return;
    }
    in->tp = tp;
    in->tcp = tcp;
    in->need = LG_RAFT_HANDSHAKE_HEADER_BYTES;
    tcp->data = in;
    in->timer.data = in;
    rv = uv_timer_init(tp->loop, &in->timer);
    if (rv != 0) {
        free(in);
        stray_close(tp, tcp);
        return;
    }
    in->timer_open = true;
    tp->n_incoming++;
    link_push(&tp->incoming, &in->link);
    /* TLS hook: a TLS server handshake would run here, before ours. */
    uv_timer_start(&in->timer, in_timer_cb, tp->handshake_timeout_ms, 0);
    rv = uv_read_start((uv_stream_t *)tcp, in_alloc_cb, in_read_cb);
    if (rv != 0) {
        in_abort(in);
    }
}

/* ---- transport ----------------------------------------------------------------------- */

/* raft_uv_transport->init: remember this node's identity. */
static int tp_init(struct raft_uv_transport *t, raft_id id, const char *address)
{
    struct tp *tp = t->impl;
    char host[LG_RAFT_ADDRESS_BYTES_MAX];
    char port[8];
    LG_PRE(!tp->initialized);
    if (id == 0 ||
        lg_addr_split(address, host, sizeof host, port, sizeof port, 0, NULL) != 0) {
        lg_errmsg_printf(t->errmsg, RAFT_INVALID, "bad id or address \"%.64s\"", address);
        return RAFT_INVALID;
    }
    tp->id = id;
    memcpy(tp->address, address, strlen(address) + 1);
    tp->initialized = true;
    return 0;
}

/* raft_uv_transport->listen: resolve the bind host (blocking, once at start) and listen on
 * the first address that binds. */
static int tp_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
    struct tp *tp = t->impl;
    char host[LG_RAFT_ADDRESS_BYTES_MAX];
    char port[8];
    LG_PRE(tp->initialized && !tp->closing);
    LG_PRE(tp->listener == NULL);
    const char *address = tp->bind_address[0] != '\0' ? tp->bind_address : tp->address;
    if (lg_addr_split(address, host, sizeof host, port, sizeof port, 0, NULL) != 0) {
        lg_errmsg_printf(t->errmsg, RAFT_INVALID, "listen: bad address \"%.64s\"", address);
        return RAFT_INVALID;
    }
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    uv_getaddrinfo_t gai;
    int rv = uv_getaddrinfo(tp->loop, &gai, NULL, host, port, &hints); /* synchronous */
    if (rv != 0) {
        lg_errmsg_printf(t->errmsg, RAFT_IOERR, "listen: resolve %.64s: %s", host,
                         uv_strerror(rv));
        return RAFT_IOERR;
    }
    tp->accept_cb = cb;
    rv = UV_EADDRNOTAVAIL;
    for (struct addrinfo *ai = gai.addrinfo; ai != NULL; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) {
            continue;
        }
        uv_tcp_t *tcp = raft_malloc(sizeof *tcp);
        if (tcp == NULL) {
            rv = UV_ENOMEM;
            break;
        }
        rv = uv_tcp_init(tp->loop, tcp);
        if (rv != 0) {
            raft_free(tcp);
            break;
        }
        tcp->data = tp;
        rv = uv_tcp_bind(tcp, ai->ai_addr, 0);
        if (rv == 0) {
            rv = uv_listen((uv_stream_t *)tcp, LG_RAFT_LISTEN_BACKLOG, listen_cb);
        }
        if (rv != 0) {
            stray_close(tp, tcp);
            continue;
        }
        struct sockaddr_storage ss;
        int ss_len = (int)sizeof ss;
        if (uv_tcp_getsockname(tcp, (struct sockaddr *)&ss, &ss_len) == 0) {
            tp->port = ss.ss_family == AF_INET6
                           ? ntohs(((struct sockaddr_in6 *)(void *)&ss)->sin6_port)
                           : ntohs(((struct sockaddr_in *)(void *)&ss)->sin_port);
        }
        tp->listener = tcp;
        break;
    }
    uv_freeaddrinfo(gai.addrinfo);
    if (tp->listener == NULL) {
        lg_errmsg_printf(t->errmsg, RAFT_IOERR, "listen on %.64s: %s", address,
                         uv_strerror(rv));
        return RAFT_IOERR;
    }
    return 0;
}

/* The listener is closed: free it. */
static void listener_close_cb(uv_handle_t *handle)
{
    struct tp *tp = handle->data;
    LG_ASSERT(tp->closing);
    raft_free(tp->listener);
    tp->listener = NULL;
    tp_maybe_closed(tp);
}

/* raft_uv_transport->close: stop accepting, cancel every connect (RAFT_CANCELED) and
 * handshake, then call cb once the last handle is closed (at once if none was open). */
static void tp_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb)
{
    struct tp *tp = t->impl;
    LG_PRE(!tp->closing);
    LG_PRE(cb != NULL);
    tp->closing = true;
    tp->close_cb = cb;
    /* out_fail and in_abort never free synchronously while a handle is open, but an
     * outgoing whose handles are all closed already could be freed: walk via next first. */
    for (struct link *l = tp->outgoing.next, *next; l != &tp->outgoing; l = next) {
        next = l->next;
        out_fail(CONTAINER_OF(l, struct outgoing, link), RAFT_CANCELED);
    }
    for (struct link *l = tp->incoming.next, *next; l != &tp->incoming; l = next) {
        next = l->next;
        in_abort(CONTAINER_OF(l, struct incoming, link));
    }
    if (tp->listener != NULL) {
        uv_close((uv_handle_t *)tp->listener, listener_close_cb);
    }
    tp_maybe_closed(tp);
}

/* Public: see transport.h. */
int lg_raft_transport_init(struct raft_uv_transport *t, uv_loop_t *loop)
{
    LG_PRE(t != NULL && loop != NULL);
    struct tp *tp = calloc(1, sizeof *tp);
    if (tp == NULL) {
        return LG_ENOMEM;
    }
    tp->t = t;
    tp->loop = loop;
    tp->connect_timeout_ms = LG_RAFT_CONNECT_TIMEOUT_MS;
    tp->handshake_timeout_ms = LG_RAFT_HANDSHAKE_TIMEOUT_MS;
    tp->outgoing.prev = tp->outgoing.next = &tp->outgoing;
    tp->incoming.prev = tp->incoming.next = &tp->incoming;
    memset(t, 0, sizeof *t);
    t->impl = tp;
    t->init = tp_init;
    t->listen = tp_listen;
    t->connect = tp_connect;
    t->close = tp_close;
    return LG_OK;
}

/* Public: see transport.h. */
void lg_raft_transport_close(struct raft_uv_transport *t)
{
    struct tp *tp = t->impl;
    LG_PRE(tp != NULL);
    LG_ASSERT(tp->listener == NULL);
    LG_ASSERT(tp->outgoing.next == &tp->outgoing && tp->incoming.next == &tp->incoming);
    LG_ASSERT(tp->n_stray == 0);
    free(tp);
    t->impl = NULL;
}

/* Public: see transport.h. */
int lg_raft_transport_set_bind_address(struct raft_uv_transport *t, const char *address)
{
    struct tp *tp = t->impl;
    char host[LG_RAFT_ADDRESS_BYTES_MAX];
    char port[8];
    LG_PRE(tp->listener == NULL);
    if (lg_addr_split(address, host, sizeof host, port, sizeof port, 0, NULL) != 0) {
        return LG_EINVAL;
    }
    memcpy(tp->bind_address, address, strlen(address) + 1);
    return LG_OK;
}

/* Public: see transport.h. */
void lg_raft_transport_set_timeouts(struct raft_uv_transport *t, unsigned connect_timeout_ms,
                                    unsigned handshake_timeout_ms)
{
    struct tp *tp = t->impl;
    LG_PRE(connect_timeout_ms > 0);
    LG_PRE(handshake_timeout_ms > 0);
    tp->connect_timeout_ms = connect_timeout_ms;
    tp->handshake_timeout_ms = handshake_timeout_ms;
}

/* Public: see transport.h. */
void lg_raft_transport_set_resolve_hook(struct raft_uv_transport *t,
                                        lg_raft_transport_resolve_hook hook, void *arg)
{
    struct tp *tp = t->impl;
    tp->resolve_hook = hook;
    tp->resolve_arg = arg;
}

/* Public: see transport.h. */
uint64_t lg_raft_transport_resolve_count(const struct raft_uv_transport *t)
{
    const struct tp *tp = t->impl;
    return tp->resolve_count;
}

/* Public: see transport.h. */
unsigned lg_raft_transport_port(const struct raft_uv_transport *t)
{
    const struct tp *tp = t->impl;
    return tp->port;
}
