/* metrics_http: see metrics_http.h. */
#include "metrics_http.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/addr.h"
#include "../lib/assert.h"
#include "../lib/err.h"
#include "../lib/http.h"
#include "../discovery/gossip.h"
#include "../lib/log.h"
#include "../lib/metrics.h"
#include "../raft/node.h"
#include "server.h"

struct hconn {
    struct lg_metrics_http *h;
    struct hconn *next;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t write;
    uv_shutdown_t shutdown;
    struct lg_buf out;
    size_t in_len;
    unsigned handles; /* open handles (tcp, timer) */
    bool answered;
    bool closing;
    char in[LG_HTTP_HEAD_MAX];
};

struct lg_metrics_http {
    uv_loop_t *loop;
    uv_tcp_t listener;
    lg_metrics_collect_fn collect;
    void *arg;
    struct hconn *conns;
    unsigned n_conns;
    unsigned handles; /* listener + every connection's */
    bool closing;
};

static void http_maybe_free(struct lg_metrics_http *h)
{
    if (h->closing && h->handles == 0) {
        free(h);
    }
}

static void conn_handle_closed(uv_handle_t *handle)
{
    struct hconn *c = handle->data;
    struct lg_metrics_http *h = c->h;
    LG_ASSERT(c->handles > 0 && h->handles > 0);
    c->handles--;
    h->handles--;
    if (c->handles == 0) {
        struct hconn **pp = &h->conns;
        while (*pp != c) {
            pp = &(*pp)->next;
        }
        *pp = c->next;
        h->n_conns--;
        lg_buf_close(&c->out);
        free(c);
    }
    http_maybe_free(h);
}

static void conn_close(struct hconn *c)
{
    if (c->closing) {
        return;
    }
    c->closing = true;
    uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
    uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
}

static void shutdown_cb(uv_shutdown_t *req, int status)
{
    (void)status;
    conn_close(req->data);
}

static void write_cb(uv_write_t *req, int status)
{
    struct hconn *c = req->data;
    if (status != 0 || c->closing) {
        conn_close(c);
        return;
    }
    c->shutdown.data = c;
    if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, shutdown_cb) != 0) {
        conn_close(c);
    }
}

static void respond(struct hconn *c, int status, const char *reason, const char *type,
                    const struct lg_buf *body, bool head_only)
{
    c->answered = true;
    uv_read_stop((uv_stream_t *)&c->tcp);
    char head[256];
    size_t body_len = body != NULL ? body->len : strlen(reason) + 1u;
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     status, reason, type, body_len);
    LG_ASSERT(n > 0 && (size_t)n < sizeof head);
    bool ok = lg_buf_append(&c->out, head, (size_t)n);
    if (!head_only) {
        if (body != NULL) {
            ok = ok && lg_buf_append(&c->out, body->data, body->len);
        } else {
            ok = ok && lg_buf_append(&c->out, reason, strlen(reason)) &&
                 lg_buf_append(&c->out, "\n", 1);
        }
    }
    if (!ok) {
        conn_close(c);
        return;
    }
    uv_buf_t b = uv_buf_init((char *)c->out.data, (unsigned)c->out.len);
    c->write.data = c;
    if (uv_write(&c->write, (uv_stream_t *)&c->tcp, &b, 1, write_cb) != 0) {
        conn_close(c);
    }
}

static void serve_head(struct hconn *c, const char *method, const char *path)
{
    bool head_only = strcmp(method, "HEAD") == 0;
    if (strcmp(method, "GET") != 0 && !head_only) {
        respond(c, 405, "Method Not Allowed", "text/plain; charset=utf-8", NULL, false);
        return;
    }
    if (strcmp(path, "/metrics") != 0) {
        respond(c, 404, "Not Found", "text/plain; charset=utf-8", NULL, head_only);
        return;
    }
    struct lg_buf page;
    lg_buf_init(&page);
    if (!c->h->collect(c->h->arg, &page)) {
        lg_buf_close(&page);
        respond(c, 500, "Internal Server Error", "text/plain; charset=utf-8", NULL, head_only);
        return;
    }
    respond(c, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", &page, head_only);
    lg_buf_close(&page);
}

static void alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    struct hconn *c = handle->data;
    (void)suggested;
    buf->base = c->in + c->in_len;
    buf->len = sizeof c->in - c->in_len;
}

static void read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct hconn *c = stream->data;
    (void)buf;
    if (nread < 0) {
        conn_close(c);
        return;
    }
    if (c->answered) {
        return;
    }
    c->in_len += (size_t)nread;
    char method[LG_HTTP_METHOD_MAX + 1];
    char path[LG_HTTP_PATH_MAX + 1];
    size_t head_len = 0;
    switch (lg_http_parse_head(c->in, c->in_len, method, path, &head_len)) {
    case LG_HTTP_PARTIAL:
        if (c->in_len == sizeof c->in) {
            respond(c, 400, "Bad Request", "text/plain; charset=utf-8", NULL, false);
        }
        return;
    case LG_HTTP_BAD:
        respond(c, 400, "Bad Request", "text/plain; charset=utf-8", NULL, false);
        return;
    case LG_HTTP_DONE:
        serve_head(c, method, path);
        return;
    }
}

static void timer_cb(uv_timer_t *t)
{
    conn_close(t->data);
}

static void connection_cb(uv_stream_t *listener, int status)
{
    struct lg_metrics_http *h = listener->data;
    if (status != 0 || h->closing) {
        return;
    }
    struct hconn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return;
    }
    c->h = h;
    lg_buf_init(&c->out);
    uv_tcp_init(h->loop, &c->tcp);
    uv_timer_init(h->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->handles = 2;
    h->handles += 2;
    c->next = h->conns;
    h->conns = c;
    h->n_conns++;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    if (h->n_conns > LG_METRICS_HTTP_CONNS_MAX) {
        lg_log(LG_LOG_WARN, "metrics_conn_refused", "reason=conns_max max=%u",
               LG_METRICS_HTTP_CONNS_MAX);
        conn_close(c);
        return;
    }
    uv_timer_start(&c->timer, timer_cb, LG_METRICS_HTTP_TIMEOUT_MS, 0);
    if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) != 0) {
        conn_close(c);
    }
}

static void listener_closed(uv_handle_t *handle)
{
    struct lg_metrics_http *h = handle->data;
    h->handles--;
    http_maybe_free(h);
}

int lg_metrics_http_start(struct lg_metrics_http **out, uv_loop_t *loop, const char *address,
                          lg_metrics_collect_fn collect, void *arg, char *errmsg)
{
    *out = NULL;
    char host[LG_ADDR_BYTES_MAX];
    char port[8];
    int rc = lg_addr_split(address, host, sizeof host, port, sizeof port, LG_ADDR_PORT_ZERO_OK,
                           errmsg);
    if (rc != LG_OK) {
        return rc;
    }
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        lg_errmsg_printf(errmsg, LG_EINVAL, "metrics address %s: %s", address,
                         gai_strerror(gai));
        return LG_EINVAL;
    }
    struct lg_metrics_http *h = calloc(1, sizeof *h);
    if (h == NULL) {
        freeaddrinfo(res);
        return LG_ENOMEM;
    }
    h->loop = loop;
    h->collect = collect;
    h->arg = arg;
    uv_tcp_init(loop, &h->listener);
    h->listener.data = h;
    h->handles = 1;
    int uv = uv_tcp_bind(&h->listener, res->ai_addr, 0);
    freeaddrinfo(res);
    if (uv == 0) {
        uv = uv_listen((uv_stream_t *)&h->listener, 64, connection_cb);
    }
    if (uv != 0) {
        lg_errmsg_printf(errmsg, LG_EIO, "metrics: cannot listen on %s: %s", address,
                         uv_strerror(uv));
        h->closing = true;
        uv_close((uv_handle_t *)&h->listener, listener_closed);
        return LG_EIO;
    }
    *out = h;
    return LG_OK;
}

void lg_metrics_http_close(struct lg_metrics_http *h)
{
    LG_PRE(!h->closing);
    h->closing = true;
    for (struct hconn *c = h->conns; c != NULL; c = c->next) {
        conn_close(c);
    }
    uv_close((uv_handle_t *)&h->listener, listener_closed);
}

/* ---- the node's page ---------------------------------------------------------------- */

bool lg_metrics_node_page(struct lg_node *node, struct lg_server *server,
                          const struct lg_gossip *gossip, const struct lg_metrics *m,
                          struct lg_buf *out)
{
    struct lg_node_status st;
    lg_node_status(node, &st);
    struct lg_server_stats ss;
    lg_server_stats(server, &ss);
    static const char *const roles[] = {"leader", "follower", "candidate", "standby", "spare"};
    char labels[64];
    snprintf(labels, sizeof labels, "node_id=\"%llu\"", (unsigned long long)st.node_id);
    bool ok = lg_metrics_gauge(out, "ledger_node_info", "This node's id (value 1).", labels, 1.0);
    static const char role_head[] = "# HELP ledger_role The node's Raft role (1 for the "
                                    "current one).\n# TYPE ledger_role gauge\n";
    ok = ok && lg_buf_append(out, role_head, sizeof role_head - 1u);
    for (unsigned r = 0; r < LG_PROTO_ROLE_COUNT && ok; r++) {
        snprintf(labels, sizeof labels, "role=\"%s\"", roles[r]);
        ok = lg_metrics_sample(out, "ledger_role", labels, st.role == r ? 1.0 : 0.0);
    }
    ok = ok && lg_metrics_gauge(out, "ledger_leader_id", "The leader's node id (0: unknown).",
                                "", (double)st.leader_id);
    ok = ok && lg_metrics_gauge(out, "ledger_term", "The Raft term.", "", (double)st.term);
    ok = ok && lg_metrics_gauge(out, "ledger_commit_index", "The Raft commit index.", "",
                                (double)st.commit_index);
    ok = ok && lg_metrics_gauge(out, "ledger_applied_index", "The last Raft index applied.",
                                "", (double)st.applied_index);
    ok = ok && lg_metrics_gauge(out, "ledger_journal_seq", "The last journal record held.",
                                "", (double)st.journal_seq);
    ok = ok && lg_metrics_gauge(out, "ledger_journal_gap", "Journal records the state covers "
                                "but this node still fetches from a peer.", "",
                                (double)st.journal_gap);
    ok = ok && lg_metrics_gauge(out, "ledger_client_connections", "Open client connections.",
                                "", (double)ss.conns);
    static const char damaged_head[] = "# HELP ledger_merkle_damaged_total Verifiable answers "
                                       "refused because a stored Merkle hash failed the check "
                                       "against the current root.\n"
                                       "# TYPE ledger_merkle_damaged_total counter\n";
    ok = ok && lg_buf_append(out, damaged_head, sizeof damaged_head - 1u);
    ok = ok && lg_metrics_sample(out, "ledger_merkle_damaged_total", "",
                                 (double)ss.merkle_damaged);
    if (gossip != NULL) {
        struct lg_gossip_stats gs;
        lg_gossip_stats(gossip, &gs);
        static const char members_head[] = "# HELP ledger_gossip_members Gossip members by "
                                           "state, this node included.\n"
                                           "# TYPE ledger_gossip_members gauge\n";
        ok = ok && lg_buf_append(out, members_head, sizeof members_head - 1u);
        ok = ok && lg_metrics_sample(out, "ledger_gossip_members", "state=\"alive\"", gs.alive);
        ok = ok && lg_metrics_sample(out, "ledger_gossip_members", "state=\"suspect\"",
                                     gs.suspect);
        ok = ok && lg_metrics_sample(out, "ledger_gossip_members", "state=\"dead\"", gs.dead);
        ok = ok && lg_metrics_sample(out, "ledger_gossip_members", "state=\"left\"", gs.left);
        static const char dropped_head[] = "# HELP ledger_gossip_dropped_total Gossip packets "
                                           "dropped, by reason.\n"
                                           "# TYPE ledger_gossip_dropped_total counter\n";
        ok = ok && lg_buf_append(out, dropped_head, sizeof dropped_head - 1u);
        ok = ok && lg_metrics_sample(out, "ledger_gossip_dropped_total", "reason=\"auth\"",
                                     (double)gs.dropped_auth);
        ok = ok && lg_metrics_sample(out, "ledger_gossip_dropped_total", "reason=\"cluster\"",
                                     (double)gs.dropped_cluster);
        ok = ok && lg_metrics_sample(out, "ledger_gossip_dropped_total",
                                     "reason=\"malformed\"", (double)gs.dropped_malformed);
    }
    return ok && lg_metrics_render(m, out);
}
