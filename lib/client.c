/* client: a blocking client of the node's TCP protocol (DESIGN §8); see client.h.
 *
 * Every socket is non-blocking and every wait is a poll(2) bounded by a deadline on the
 * monotonic clock: a call takes at most its timeout however the server behaves (silent,
 * one byte at a time, endless frames). Bytes from the server are never trusted: the
 * frame length is checked by lib/frame.h's decoder before anything is allocated (at most
 * LG_FRAME_BYTES_MAX), and bodies are parsed by the bounded readers of lib/mpread.h and
 * lib/proto.c. Writes use MSG_NOSIGNAL, so a peer that went away is an error, never a
 * SIGPIPE. Name resolution (getaddrinfo) happens at every open and is bounded by the
 * resolver's own timeouts (resolv.conf), not by ours.
 *
 * A connection fails for good (sticky, like an LMDB txn error) when the stream can no
 * longer be trusted: the peer closed, a socket error, a bad frame from the server, or a
 * frame written only in part. A read that times out is not such a failure: its response
 * may still arrive and be read by the next receive. */
#include "client.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "assert.h"
#include "frame.h"
#include "mpread.h"

/* Bytes read from the socket at once. A frame wholly inside one read is handed out as a
 * view (no copy); a bigger one is gathered by the frame decoder. */
#define CLIENT_READ_CHUNK_BYTES (64u * 1024u)

/* Longest wait poll(2) is asked for at once (its timeout is an int). */
#define CLIENT_POLL_SLICE_MS 1000000

LG_STATIC_ASSERT(LG_CLIENT_BACKOFF_MS <= LG_CLIENT_BACKOFF_MAX_MS, "first backoff within max");
LG_STATIC_ASSERT(LG_CLIENT_ADDRESS_BYTES_MAX >= 253u + 2u + 6u,
                 "a DNS name or a bracketed IPv6 literal, ':' and a port fit");

struct lg_conn {
    int fd;
    int err;                     /* sticky: LG_OK until the stream is lost */
    unsigned timeout_ms;         /* every later write and read */
    struct lg_buf out;           /* the request being written */
    uint8_t *in;                 /* CLIENT_READ_CHUNK_BYTES read from the socket */
    size_t in_len;               /* bytes in in[] */
    size_t in_pos;               /* bytes of in[] fed to the decoder */
    struct lg_frame_decoder dec;
    char address[LG_CLIENT_ADDRESS_BYTES_MAX + 1u];
    char errmsg[LG_ERRMSG_SIZE]; /* why err was set */
};

/* ---------------------------------------------------------------------------------------
 * Time */

static uint64_t now_ms(void)
{
    struct timespec ts;
    int rc = clock_gettime(CLOCK_MONOTONIC, &ts);
    LG_ASSERT(rc == 0);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Milliseconds left until deadline (0 when passed), as a poll(2) timeout. */
static int ms_left(uint64_t deadline)
{
    uint64_t now = now_ms();
    if (now >= deadline) {
        return 0;
    }
    uint64_t left = deadline - now;
    return left > CLIENT_POLL_SLICE_MS ? CLIENT_POLL_SLICE_MS : (int)left;
}

/* Sleep ms milliseconds (signals do not cut it short). */
static void sleep_ms(unsigned ms)
{
    uint64_t deadline = now_ms() + ms;
    int left;
    while ((left = ms_left(deadline)) > 0) {
        (void)poll(NULL, 0, left);
    }
}

/* Wait until fd is ready for events or deadline passes. Returns LG_OK (ready, or an error
 * condition the next call on fd will report), LG_ETIMEOUT, LG_EUNAVAIL (poll failed). */
static int wait_fd(int fd, short events, uint64_t deadline, char *errmsg, const char *what)
{
    for (;;) {
        struct pollfd p = {fd, events, 0};
        int left = ms_left(deadline);
        int n = poll(&p, 1, left);
        if (n > 0) {
            return LG_OK;
        }
        if (n < 0 && errno != EINTR) {
            return lg_errmsg_printf(errmsg, LG_EUNAVAIL, "%s: poll: %s", what, strerror(errno));
        }
        if (n == 0 && left == 0) {
            return lg_errmsg_printf(errmsg, LG_ETIMEOUT, "%s: timed out", what);
        }
    }
}

/* Connect one resolved address before deadline. Returns the socket or -1 with errmsg. */
static int connect_one(const struct addrinfo *ai, uint64_t deadline, int *code, char *errmsg,
                       const char *address)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
    if (fd < 0) {
        *code = lg_errmsg_printf(errmsg, LG_EUNAVAIL, "%s: socket: %s", address,
                                 strerror(errno));
        return -1;
    }
    int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc != 0 && errno != EINPROGRESS && errno != EINTR) {
        *code = lg_errmsg_printf(errmsg, LG_EUNAVAIL, "%s: connect: %s", address,
                                 strerror(errno));
        close(fd);
        return -1;
    }
    if (rc != 0) {
        *code = wait_fd(fd, POLLOUT, deadline, errmsg, "connect");
        if (*code != LG_OK) {
            /* A connect that does not finish in time is "unavailable", as documented. */
            *code = lg_errmsg_wrap(errmsg, LG_EUNAVAIL, "%s", address);
            close(fd);
            return -1;
        }
        int soerr = 0;
        socklen_t n = sizeof soerr;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &n) != 0) {
            soerr = errno;
        }
        if (soerr != 0) {
            *code = lg_errmsg_printf(errmsg, LG_EUNAVAIL, "%s: connect: %s", address,
                                     strerror(soerr));
            close(fd);
            return -1;
        }
    }
    int one = 1;
    /* Requests are small and latency-bound: no Nagle delay. Failure only costs latency. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* ---------------------------------------------------------------------------------------
 * Connection */

/* Mark the connection lost (sticky) and return code. */
static int conn_fail(struct lg_conn *c, int code, const char *errmsg)
{
    LG_ASSERT(code != LG_OK);
    if (c->err == LG_OK) {
        c->err = code;
        memcpy(c->errmsg, errmsg, LG_ERRMSG_SIZE);
        c->errmsg[LG_ERRMSG_SIZE - 1] = '\0';
    }
    return code;
}

/* A lost connection refuses work with LG_EUNAVAIL and the first reason. */
static int conn_check(const struct lg_conn *c, char *errmsg)
{
    if (c->err == LG_OK) {
        return LG_OK;
    }
    return lg_errmsg_printf(errmsg, LG_EUNAVAIL, "connection lost: %s", c->errmsg);
}

int lg_conn_open(struct lg_conn **out, const char *address, unsigned timeout_ms,
                 char *errmsg)
{
    LG_PRE(out != NULL && address != NULL);
    char local[LG_ERRMSG_SIZE];
    errmsg = errmsg != NULL ? errmsg : local;
    *out = NULL;
    char host[LG_CLIENT_ADDRESS_BYTES_MAX + 1u];
    char port[8];
    int rc = lg_addr_split(address, host, sizeof host, port, sizeof port, 0, errmsg);
    if (rc != LG_OK) {
        return rc;
    }
    uint64_t deadline = now_ms() + (timeout_ms != 0 ? timeout_ms : LG_CLIENT_CONNECT_TIMEOUT_MS);
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = AI_NUMERICSERV;
    struct addrinfo *list = NULL;
    int gai = getaddrinfo(host, port, &hints, &list);
    if (gai != 0) {
        if (gai == EAI_MEMORY) {
            return lg_errmsg_printf(errmsg, LG_ENOMEM, "%s: resolve: out of memory", address);
        }
        return lg_errmsg_printf(errmsg, LG_EUNAVAIL, "%s: resolve: %s", address,
                                gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
    }
    /* Every address the name has, in the resolver's order, within one deadline. */
    int fd = -1;
    rc = lg_errmsg_printf(errmsg, LG_EUNAVAIL, "%s: no address", address);
    for (const struct addrinfo *ai = list; ai != NULL && fd < 0; ai = ai->ai_next) {
        if (ms_left(deadline) == 0) {
            rc = lg_errmsg_printf(errmsg, LG_EUNAVAIL, "%s: connect: timed out", address);
            break;
        }
        fd = connect_one(ai, deadline, &rc, errmsg, address);
    }
    freeaddrinfo(list);
    if (fd < 0) {
        LG_ASSERT(rc != LG_OK);
        return rc;
    }
    struct lg_conn *c = calloc(1, sizeof *c);
    uint8_t *in = malloc(CLIENT_READ_CHUNK_BYTES);
    if (c == NULL || in == NULL) {
        free(c);
        free(in);
        close(fd);
        return lg_errmsg_printf(errmsg, LG_ENOMEM, "%s: out of memory", address);
    }
    c->fd = fd;
    c->err = LG_OK;
    c->timeout_ms = LG_CLIENT_REQUEST_TIMEOUT_MS;
    c->in = in;
    lg_buf_init(&c->out);
    lg_frame_decoder_init(&c->dec, 0);
    LG_STATIC_ASSERT(sizeof c->address == LG_CLIENT_ADDRESS_BYTES_MAX + 1u, "address room");
    memcpy(c->address, address, strlen(address) + 1u); /* bounded by lg_addr_split */
    *out = c;
    return LG_OK;
}

void lg_conn_close(struct lg_conn *c)
{
    if (c == NULL) {
        return;
    }
    LG_ASSERT(c->fd >= 0);
    close(c->fd);
    lg_frame_decoder_close(&c->dec);
    lg_buf_close(&c->out);
    free(c->in);
    free(c);
}

void lg_conn_set_timeout(struct lg_conn *c, unsigned timeout_ms)
{
    LG_PRE(c != NULL);
    c->timeout_ms = timeout_ms != 0 ? timeout_ms : LG_CLIENT_REQUEST_TIMEOUT_MS;
}

/* Write len bytes before deadline. */
static int conn_write(struct lg_conn *c, const uint8_t *bytes, size_t len, uint64_t deadline,
                      char *errmsg)
{
    int rc = conn_check(c, errmsg);
    if (rc != LG_OK) {
        return rc;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t n = send(c->fd, bytes + done, len - done, MSG_NOSIGNAL);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            lg_errmsg_printf(errmsg, LG_EUNAVAIL, "%s: send: %s", c->address, strerror(errno));
            return conn_fail(c, LG_EUNAVAIL, errmsg);
        }
        rc = wait_fd(c->fd, POLLOUT, deadline, errmsg, "send");
        if (rc != LG_OK) {
            lg_errmsg_wrap(errmsg, rc, "%s", c->address);
            /* Part of a frame on the wire: the stream cannot carry another one. */
            return done > 0 ? conn_fail(c, rc, errmsg) : rc;
        }
    }
    return LG_OK;
}

int lg_conn_send(struct lg_conn *c, const struct lg_proto_request *req, char *errmsg)
{
    LG_PRE(c != NULL && req != NULL);
    char local[LG_ERRMSG_SIZE];
    errmsg = errmsg != NULL ? errmsg : local;
    lg_buf_reset(&c->out);
    int rc = lg_proto_encode_request(req, &c->out, errmsg);
    if (rc != LG_OK) {
        return rc;
    }
    return conn_write(c, c->out.data, c->out.len, now_ms() + c->timeout_ms, errmsg);
}

int lg_conn_send_raw(struct lg_conn *c, const void *bytes, size_t len, char *errmsg)
{
    LG_PRE(c != NULL);
    LG_PRE(bytes != NULL || len == 0);
    char local[LG_ERRMSG_SIZE];
    errmsg = errmsg != NULL ? errmsg : local;
    return conn_write(c, bytes, len, now_ms() + c->timeout_ms, errmsg);
}

/* How conn_recv may reach the socket when no complete frame is buffered. */
enum conn_recv_mode {
    CONN_RECV_READ_FIRST, /* recv(2), and poll(2) only when it finds nothing */
    CONN_RECV_WAIT_FIRST, /* poll(2) first: the caller expects the socket empty */
    CONN_RECV_BUFFERED,   /* no system call: LG_ETIMEOUT, errmsg untouched */
};

/* Read one frame before deadline; see lg_conn_recv_frame and the modes above. */
static int conn_recv(struct lg_conn *c, const uint8_t **body, size_t *len, uint64_t deadline,
                     enum conn_recv_mode mode, char *errmsg)
{
    *body = NULL;
    *len = 0;
    int rc = conn_check(c, errmsg);
    if (rc != LG_OK) {
        return rc;
    }
    for (;;) {
        if (c->in_pos < c->in_len) {
            size_t used = 0;
            const uint8_t *frame = NULL;
            uint32_t frame_len = 0;
            rc = lg_frame_decoder_feed(&c->dec, c->in + c->in_pos, c->in_len - c->in_pos, &used,
                                       &frame, &frame_len);
            c->in_pos += used;
            if (rc == LG_ENOMEM) {
                lg_errmsg_printf(errmsg, rc, "%s: %s", c->address, c->dec.errmsg);
                return conn_fail(c, rc, errmsg);
            }
            if (rc != LG_OK) {
                /* A zero or oversized length: the server broke the protocol. */
                lg_errmsg_printf(errmsg, LG_EBADREQ, "%s: bad response %s", c->address,
                                 c->dec.errmsg);
                return conn_fail(c, LG_EBADREQ, errmsg);
            }
            if (frame != NULL) {
                *body = frame;
                *len = frame_len;
                return LG_OK;
            }
            LG_ASSERT(c->in_pos == c->in_len);
        }
        /* Everything read so far was fed: the buffer is free for the next read (views
         * into it were valid until this receive). */
        c->in_pos = 0;
        c->in_len = 0;
        if (mode == CONN_RECV_BUFFERED) {
            return LG_ETIMEOUT; /* a partial frame stays in the decoder for the next one */
        }
        if (mode == CONN_RECV_WAIT_FIRST) {
            mode = CONN_RECV_READ_FIRST; /* once: a frame split over reads reads on */
            rc = wait_fd(c->fd, POLLIN, deadline, errmsg, "recv");
            if (rc != LG_OK) {
                return lg_errmsg_wrap(errmsg, rc, "%s", c->address);
            }
        }
        ssize_t n = recv(c->fd, c->in, CLIENT_READ_CHUNK_BYTES, 0);
        if (n > 0) {
            c->in_len = (size_t)n;
            continue;
        }
        if (n == 0) {
            lg_errmsg_printf(errmsg, LG_EUNAVAIL, "%s: connection closed by the peer%s",
                             c->address, lg_frame_decoder_idle(&c->dec) ? "" : " mid-frame");
            return conn_fail(c, LG_EUNAVAIL, errmsg);
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            lg_errmsg_printf(errmsg, LG_EUNAVAIL, "%s: recv: %s", c->address, strerror(errno));
            return conn_fail(c, LG_EUNAVAIL, errmsg);
        }
        rc = wait_fd(c->fd, POLLIN, deadline, errmsg, "recv");
        if (rc != LG_OK) {
            /* Not sticky: a late response can still be read by the next receive. */
            return lg_errmsg_wrap(errmsg, rc, "%s", c->address);
        }
    }
}

int lg_conn_recv_frame(struct lg_conn *c, const uint8_t **body, size_t *len, char *errmsg)
{
    LG_PRE(c != NULL && body != NULL && len != NULL);
    char local[LG_ERRMSG_SIZE];
    errmsg = errmsg != NULL ? errmsg : local;
    return conn_recv(c, body, len, now_ms() + c->timeout_ms, CONN_RECV_READ_FIRST, errmsg);
}

int lg_conn_recv_frame_wait(struct lg_conn *c, const uint8_t **body, size_t *len,
                            char *errmsg)
{
    LG_PRE(c != NULL && body != NULL && len != NULL);
    char local[LG_ERRMSG_SIZE];
    errmsg = errmsg != NULL ? errmsg : local;
    return conn_recv(c, body, len, now_ms() + c->timeout_ms, CONN_RECV_WAIT_FIRST, errmsg);
}

int lg_conn_recv_buffered(struct lg_conn *c, const uint8_t **body, size_t *len, char *errmsg)
{
    LG_PRE(c != NULL && body != NULL && len != NULL);
    char local[LG_ERRMSG_SIZE];
    errmsg = errmsg != NULL ? errmsg : local;
    return conn_recv(c, body, len, 0, CONN_RECV_BUFFERED, errmsg);
}

int lg_conn_response_id(const uint8_t *body, size_t len, uint64_t *id)
{
    LG_PRE(id != NULL);
    LG_PRE(body != NULL || len == 0);
    struct lg_mpread r = {body, body + len};
    *id = 0;
    uint32_t n;
    if (lg_mpread_map(&r, LG_MPREAD_ANY, &n) != LG_MPREAD_OK) {
        return LG_EBADREQ;
    }
    for (uint32_t k = 0; k < n; k++) {
        const char *key;
        uint32_t key_len;
        if (lg_mpread_str(&r, LG_MPREAD_ANY, &key, &key_len) != LG_MPREAD_OK) {
            return LG_EBADREQ;
        }
        if (key_len == 2 && memcmp(key, "id", 2) == 0) {
            return lg_mpread_uint(&r, LG_MPREAD_ANY, id) == LG_MPREAD_OK ? LG_OK : LG_EBADREQ;
        }
        if (lg_mpread_skip(&r, LG_PROTO_DEPTH_MAX) != LG_MPREAD_OK) {
            return LG_EBADREQ;
        }
    }
    return LG_EBADREQ;
}

/* Receive the response to id before deadline and decode it for op. */
static int conn_call_recv(struct lg_conn *c, uint64_t id, int op, uint64_t deadline,
                          struct lg_arena *arena, struct lg_proto_response *resp, char *errmsg)
{
    const uint8_t *body;
    size_t len;
    int rc = conn_recv(c, &body, &len, deadline, CONN_RECV_READ_FIRST, errmsg);
    if (rc != LG_OK) {
        return rc;
    }
    uint64_t got;
    if (lg_conn_response_id(body, len, &got) != LG_OK) {
        return lg_errmsg_printf(errmsg, LG_EBADREQ, "%s: response without a readable id",
                                c->address);
    }
    if (got != id) {
        return lg_errmsg_printf(errmsg, LG_EBADREQ, "%s: response to id %llu, expected %llu",
                                c->address, (unsigned long long)got, (unsigned long long)id);
    }
    rc = lg_proto_decode_response(op, body, len, arena, resp, errmsg);
    if (rc != LG_OK) {
        lg_errmsg_wrap(errmsg, rc, "%s: bad response", c->address);
    }
    return rc;
}

int lg_conn_call(struct lg_conn *c, const struct lg_proto_request *req,
                 struct lg_arena *arena, struct lg_proto_response *resp, char *errmsg)
{
    LG_PRE(c != NULL && req != NULL && arena != NULL && resp != NULL);
    char local[LG_ERRMSG_SIZE];
    errmsg = errmsg != NULL ? errmsg : local;
    uint64_t deadline = now_ms() + c->timeout_ms;
    lg_buf_reset(&c->out);
    int rc = lg_proto_encode_request(req, &c->out, errmsg);
    if (rc == LG_OK) {
        rc = conn_write(c, c->out.data, c->out.len, deadline, errmsg);
    }
    if (rc == LG_OK) {
        rc = conn_call_recv(c, req->id, req->op, deadline, arena, resp, errmsg);
    }
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * Client: a node list, redirects and retries */

struct lg_client {
    char nodes[LG_CLIENT_NODES_MAX][LG_CLIENT_ADDRESS_BYTES_MAX + 1u];
    uint32_t n_nodes;
    uint32_t node;               /* index in nodes of the last listed node tried */
    char current[LG_CLIENT_ADDRESS_BYTES_MAX + 1u]; /* "" before the first call */
    struct lg_conn *conn;        /* to current, or NULL */
    unsigned connect_timeout_ms;
    unsigned request_timeout_ms;
    uint32_t attempts_max;
    unsigned backoff_ms;
    uint64_t next_id;            /* ids of this client's requests, from 1 */
    struct lg_buf frame;         /* the request being sent, encoded once per call */
};

int lg_client_open(struct lg_client **out, const struct lg_client_options *o, char *errmsg)
{
    LG_PRE(out != NULL && o != NULL);
    char local[LG_ERRMSG_SIZE];
    errmsg = errmsg != NULL ? errmsg : local;
    *out = NULL;
    if (o->n_nodes == 0 || o->n_nodes > LG_CLIENT_NODES_MAX) {
        return lg_errmsg_printf(errmsg, LG_EINVAL, "client: 1..%u nodes, not %u",
                                LG_CLIENT_NODES_MAX, o->n_nodes);
    }
    LG_PRE(o->nodes != NULL);
    for (uint32_t i = 0; i < o->n_nodes; i++) {
        char host[LG_CLIENT_ADDRESS_BYTES_MAX + 1u];
        char port[8];
        if (o->nodes[i] == NULL) {
            return lg_errmsg_printf(errmsg, LG_EINVAL, "client: node %u is NULL", i);
        }
        int rc = lg_addr_split(o->nodes[i], host, sizeof host, port, sizeof port, 0, errmsg);
        if (rc != LG_OK) {
            return rc;
        }
    }
    struct lg_client *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return lg_errmsg_printf(errmsg, LG_ENOMEM, "client: out of memory");
    }
    for (uint32_t i = 0; i < o->n_nodes; i++) {
        memcpy(c->nodes[i], o->nodes[i], strlen(o->nodes[i]) + 1u); /* length checked */
    }
    c->n_nodes = o->n_nodes;
    c->node = 0;
    c->current[0] = '\0';
    c->conn = NULL;
    c->connect_timeout_ms = o->connect_timeout_ms != 0 ? o->connect_timeout_ms
                                                       : LG_CLIENT_CONNECT_TIMEOUT_MS;
    c->request_timeout_ms = o->request_timeout_ms != 0 ? o->request_timeout_ms
                                                       : LG_CLIENT_REQUEST_TIMEOUT_MS;
    c->attempts_max = o->attempts_max != 0 ? o->attempts_max : LG_CLIENT_ATTEMPTS_MAX;
    c->backoff_ms = o->backoff_ms != 0 ? o->backoff_ms : LG_CLIENT_BACKOFF_MS;
    c->next_id = 1;
    lg_buf_init(&c->frame);
    *out = c;
    return LG_OK;
}

void lg_client_close(struct lg_client *c)
{
    if (c == NULL) {
        return;
    }
    lg_conn_close(c->conn);
    lg_buf_close(&c->frame);
    free(c);
}

const char *lg_client_current(const struct lg_client *c)
{
    LG_PRE(c != NULL);
    return c->current;
}

/* Drop the connection and move on to the next listed node. */
static void client_next_node(struct lg_client *c)
{
    lg_conn_close(c->conn);
    c->conn = NULL;
    c->node = (c->node + 1u) % c->n_nodes;
    memcpy(c->current, c->nodes[c->node], sizeof c->current);
}

/* Follow a redirect to leader (a view, not NUL-terminated). False when it cannot be
 * followed: empty, too long, malformed, or the node we are talking to. */
static bool client_redirect(struct lg_client *c, struct lg_str leader)
{
    char addr[LG_CLIENT_ADDRESS_BYTES_MAX + 1u];
    char host[LG_CLIENT_ADDRESS_BYTES_MAX + 1u];
    char port[8];
    char ignored[LG_ERRMSG_SIZE];
    if (leader.len == 0 || leader.len > LG_CLIENT_ADDRESS_BYTES_MAX ||
        memchr(leader.ptr, '\0', leader.len) != NULL) {
        return false;
    }
    memcpy(addr, leader.ptr, leader.len);
    addr[leader.len] = '\0';
    if (lg_addr_split(addr, host, sizeof host, port, sizeof port, 0, ignored) != LG_OK ||
        strcmp(addr, c->current) == 0) {
        return false;
    }
    lg_conn_close(c->conn);
    c->conn = NULL;
    memcpy(c->current, addr, leader.len + 1u);
    return true;
}

/* One attempt on the current node. Returns LG_OK with a decoded response, a transport
 * code (LG_EUNAVAIL, LG_ETIMEOUT: the connection is then dropped), or a protocol
 * violation of the server's (LG_EBADREQ...: not retried). */
static int client_attempt(struct lg_client *c, const struct lg_proto_request *req,
                          struct lg_arena *arena, struct lg_proto_response *resp, char *errmsg)
{
    int rc = LG_OK;
    if (c->conn == NULL) {
        rc = lg_conn_open(&c->conn, c->current, c->connect_timeout_ms, errmsg);
        if (rc != LG_OK) {
            return rc;
        }
        lg_conn_set_timeout(c->conn, c->request_timeout_ms);
    }
    uint64_t deadline = now_ms() + c->request_timeout_ms;
    rc = conn_write(c->conn, c->frame.data, c->frame.len, deadline, errmsg);
    if (rc == LG_OK) {
        rc = conn_call_recv(c->conn, req->id, req->op, deadline, arena, resp, errmsg);
    }
    if (rc != LG_OK) {
        /* The stream is unusable or out of step (a late answer would come first). */
        lg_conn_close(c->conn);
        c->conn = NULL;
    }
    return rc;
}

int lg_client_call(struct lg_client *c, struct lg_proto_request *req, struct lg_arena *arena,
                   struct lg_proto_response *resp, char *errmsg)
{
    LG_PRE(c != NULL && req != NULL && arena != NULL && resp != NULL);
    char local[LG_ERRMSG_SIZE];
    errmsg = errmsg != NULL ? errmsg : local;
    req->id = c->next_id++;
    lg_buf_reset(&c->frame);
    /* Encoded once: every retry sends the very same bytes. */
    int rc = lg_proto_encode_request(req, &c->frame, errmsg);
    if (rc != LG_OK) {
        return rc;
    }
    if (c->current[0] == '\0') {
        memcpy(c->current, c->nodes[c->node], sizeof c->current);
    }
    unsigned backoff = c->backoff_ms;
    unsigned backoff_max = backoff > LG_CLIENT_BACKOFF_MAX_MS ? backoff
                                                              : LG_CLIENT_BACKOFF_MAX_MS;
    int last = LG_EUNAVAIL;
    for (uint32_t attempt = 0; attempt < c->attempts_max; attempt++) {
        rc = client_attempt(c, req, arena, resp, errmsg);
        if (rc != LG_OK && rc != LG_EUNAVAIL && rc != LG_ETIMEOUT) {
            return rc; /* the server broke the protocol, or out of memory */
        }
        if (rc == LG_OK) {
            if (resp->ok) {
                return LG_OK;
            }
            int code = resp->error.code;
            if (code == LG_ENOTLEADER && client_redirect(c, resp->error.leader)) {
                lg_errmsg_printf(errmsg, LG_EUNAVAIL, "redirected to the leader %s",
                                 c->current);
                last = LG_EUNAVAIL;
                continue; /* at once, no backoff */
            }
            if (code != LG_ENOTLEADER && code != LG_EUNAVAIL && code != LG_ETIMEOUT) {
                return LG_OK; /* final: the caller reads resp->error */
            }
            last = code == LG_ETIMEOUT ? LG_ETIMEOUT : LG_EUNAVAIL;
            lg_errmsg_printf(errmsg, last, "%s answered %s: %.*s", c->current,
                             lg_err_wire(code), (int)resp->error.message.len,
                             resp->error.message.ptr != NULL ? resp->error.message.ptr : "");
        } else {
            last = rc;
        }
        if (attempt + 1u == c->attempts_max) {
            break;
        }
        sleep_ms(backoff);
        backoff = backoff > backoff_max / 2u ? backoff_max : backoff * 2u;
        client_next_node(c);
    }
    return lg_errmsg_wrap(errmsg, last, "%u attempts failed, the last", c->attempts_max);
}
