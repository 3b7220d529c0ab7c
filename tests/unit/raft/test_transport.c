/* test_transport: raft/transport.c, the node's raft_uv_transport (TCP, names per connect).
 *
 * Goal: three real raft_uv nodes elect and commit over it with `localhost:PORT` addresses;
 * an unresolvable peer fails with RAFT_NOCONNECTION while the others carry on; a name is
 * resolved again at every connect and a peer whose IP changed is reached; garbage,
 * oversized and stalled handshakes are closed without harming the listener; closing with
 * connects in flight cancels them and leaves no handle open (uv_loop_close succeeds, and
 * ASan reports no leak in the sanitizer build).
 * Method: one libuv loop per test in the test process, every run bounded in iterations and
 * in milliseconds; loopback only (127.0.0.1, 127.0.0.2, localhost), ports found by binding
 * port 0. */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <raft.h>
#include <raft/uv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "lgt.h"
#include "transport.h"

/* ---- helpers ------------------------------------------------------------------------- */

typedef bool (*pred_fn)(void *arg);

/* Wake-up timer so UV_RUN_ONCE returns at least every 5 ms. */
static void tick_cb(uv_timer_t *timer)
{
    (void)timer;
}

/* Run loop until pred(arg) or max_ms elapse; bounded in iterations too. */
static bool run_until(uv_loop_t *loop, pred_fn pred, void *arg, unsigned max_ms)
{
    uv_timer_t tick;
    uv_timer_init(loop, &tick);
    uv_timer_start(&tick, tick_cb, 5, 5);
    uv_update_time(loop);
    uint64_t deadline = uv_now(loop) + max_ms;
    bool ok = false;
    for (unsigned i = 0; i < 200000; i++) {
        if (pred(arg)) {
            ok = true;
            break;
        }
        if (uv_now(loop) > deadline) {
            break;
        }
        uv_run(loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return ok;
}

static bool flag_set(void *arg)
{
    return *(bool *)arg;
}

/* Close the loop, asserting every handle was closed (after letting close callbacks run). */
static void loop_finish(uv_loop_t *loop)
{
    for (unsigned i = 0; i < 100 && uv_run(loop, UV_RUN_NOWAIT) != 0; i++) {
    }
    cr_assert_eq(uv_loop_close(loop), 0, "a handle was left open");
}

/* A TCP port free on 127.0.0.1 right now (bind port 0, read it, close). */
static unsigned free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t len = sizeof sa;
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static void stream_free_cb(uv_handle_t *handle)
{
    raft_free(handle);
}

/* ---- pure functions ------------------------------------------------------------------ */

Test(transport, parses_addresses)
{
    char host[LG_RAFT_ADDRESS_BYTES_MAX];
    char port[8];
    cr_assert_eq(lg_addr_split("localhost:9000", host, sizeof host, port,
                                                 sizeof port, 0, NULL), 0);
    cr_assert_str_eq(host, "localhost");
    cr_assert_str_eq(port, "9000");
    cr_assert_eq(lg_addr_split("[::1]:65535", host, sizeof host, port,
                                                 sizeof port, 0, NULL), 0);
    cr_assert_str_eq(host, "::1");
    cr_assert_str_eq(port, "65535");
    cr_assert_eq(lg_addr_split("pod-0.ledger.svc:7001", host, sizeof host,
                                                 port, sizeof port, 0, NULL), 0);
    const char *bad[] = {"", "host", ":80", "host:", "host:0", "host:65536", "host:8a",
                         "::1:80", "[::1]80", "[::1", "[]:80", "h:123456"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_neq(lg_addr_split(bad[i], host, sizeof host, port,
                                                      sizeof port, 0, NULL), 0, "%s", bad[i]);
    }
    char longname[400];
    memset(longname, 'a', sizeof longname);
    memcpy(longname + sizeof longname - 6, ":8080", 6);
    cr_assert_neq(lg_addr_split(longname, host, sizeof host, port,
                                                  sizeof port, 0, NULL), 0);
}

Test(transport, encodes_handshake)
{
    uint8_t buf[LG_RAFT_HANDSHAKE_BYTES_MAX];
    size_t n = lg_raft_transport_encode_handshake(0x0102030405060708u, "h:1", "c:22", buf,
                                                  sizeof buf);
    cr_assert_eq(n, LG_RAFT_HANDSHAKE_HEADER_BYTES + 3 + 4);
    cr_assert_eq(memcmp(buf, "LGRH", 4), 0);
    cr_assert_eq(buf[4], 2);
    cr_assert_eq(buf[5], 0);
    cr_assert_eq(buf[6], 0);
    cr_assert_eq(buf[8], 0x08);
    cr_assert_eq(buf[15], 0x01);
    cr_assert_eq(buf[16], 3);
    cr_assert_eq(buf[17], 0);
    cr_assert_eq(buf[18], 4);
    cr_assert_eq(buf[19], 0);
    cr_assert_eq(memcmp(buf + 24, "h:1c:22", 7), 0);
    cr_assert_eq(lg_raft_transport_encode_handshake(1, "h:1", "", buf, sizeof buf),
                 LG_RAFT_HANDSHAKE_HEADER_BYTES + 3);
    cr_assert_eq(lg_raft_transport_encode_handshake(0, "h:1", "", buf, sizeof buf), 0);
    cr_assert_eq(lg_raft_transport_encode_handshake(1, "", "", buf, sizeof buf), 0);
    cr_assert_eq(lg_raft_transport_encode_handshake(1, "h:1", "", buf, 26), 0);
    cr_assert_eq(lg_raft_transport_encode_handshake(1, "h:1", "c:22", buf, 30), 0);
}

/* ---- real raft_uv clusters ------------------------------------------------------------ */

#define NODES 3

struct node {
    struct raft raft;
    struct raft_io io;
    struct raft_uv_transport transport;
    struct raft_fsm fsm;
    unsigned applied;
    bool running;
    bool closed;
    char dir[LGT_PATH_MAX];
    char address[64];
};

struct cluster {
    uv_loop_t loop;
    struct node nodes[NODES];
    unsigned n_running;
    struct raft_apply apply_req;
    bool apply_done;
    int apply_status;
};

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    struct node *n = fsm->data;
    cr_assert_eq(buf->len % 8, 0);
    n->applied++;
    *result = NULL;
    return 0;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n)
{
    (void)fsm;
    (void)bufs;
    (void)n;
    return RAFT_BUSY;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    (void)fsm;
    raft_free(buf->base);
    return 0;
}

/* Start nodes [0, n_running) of a cluster whose voters have the given addresses. */
static void cluster_start(struct cluster *c, const char *const addresses[NODES],
                          unsigned n_running)
{
    memset(c, 0, sizeof *c);
    cr_assert_eq(uv_loop_init(&c->loop), 0);
    c->n_running = n_running;
    for (unsigned i = 0; i < n_running; i++) {
        struct node *n = &c->nodes[i];
        snprintf(n->address, sizeof n->address, "%s", addresses[i]);
        lgt_tmpdir(n->dir);
        cr_assert_eq(lg_raft_transport_init(&n->transport, &c->loop), 0);
        lg_raft_transport_set_timeouts(&n->transport, 1000, 1000);
        char client[32];
        snprintf(client, sizeof client, "client-%u:%u", i + 1, 9000 + i);
        cr_assert_eq(lg_raft_transport_set_client_address(&n->transport, client), 0);
        cr_assert_eq(raft_uv_init(&n->io, &c->loop, n->dir, &n->transport), 0);
        raft_uv_set_auto_recovery(&n->io, false);
        raft_uv_set_connect_retry_delay(&n->io, 100);
        n->fsm.version = 1;
        n->fsm.data = n;
        n->fsm.apply = fsm_apply;
        n->fsm.snapshot = fsm_snapshot;
        n->fsm.restore = fsm_restore;
        cr_assert_eq(raft_init(&n->raft, &n->io, &n->fsm, i + 1, n->address), 0, "%s",
                     n->io.errmsg);
        n->raft.data = n;
        raft_set_election_timeout(&n->raft, 400);
        raft_set_heartbeat_timeout(&n->raft, 50);
        struct raft_configuration conf;
        raft_configuration_init(&conf);
        for (unsigned j = 0; j < NODES; j++) {
            cr_assert_eq(raft_configuration_add(&conf, j + 1, addresses[j], RAFT_VOTER), 0);
        }
        cr_assert_eq(raft_bootstrap(&n->raft, &conf), 0);
        raft_configuration_close(&conf);
        cr_assert_eq(raft_start(&n->raft), 0, "%s", raft_errmsg(&n->raft));
        n->running = true;
    }
}

static bool cluster_has_leader(void *arg)
{
    struct cluster *c = arg;
    for (unsigned i = 0; i < c->n_running; i++) {
        if (raft_state(&c->nodes[i].raft) == RAFT_LEADER) {
            return true;
        }
    }
    return false;
}

static bool cluster_all_applied(void *arg)
{
    struct cluster *c = arg;
    for (unsigned i = 0; i < c->n_running; i++) {
        if (c->nodes[i].applied < 1) {
            return false;
        }
    }
    return c->apply_done;
}

static void apply_cb(struct raft_apply *req, int status, void *result)
{
    struct cluster *c = req->data;
    (void)result;
    c->apply_done = true;
    c->apply_status = status;
}

static void node_close_cb(struct raft *r)
{
    struct node *n = r->data;
    n->closed = true;
}

static bool cluster_all_closed(void *arg)
{
    struct cluster *c = arg;
    for (unsigned i = 0; i < c->n_running; i++) {
        if (!c->nodes[i].closed) {
            return false;
        }
    }
    return true;
}

/* Elect, apply one 8-byte entry on the leader, wait until every running node applied it. */
static void cluster_elect_and_commit(struct cluster *c)
{
    cr_assert(run_until(&c->loop, cluster_has_leader, c, 15000), "no leader elected");
    unsigned leader = NODES;
    for (unsigned i = 0; i < c->n_running; i++) {
        if (raft_state(&c->nodes[i].raft) == RAFT_LEADER) {
            leader = i;
        }
    }
    cr_assert_lt(leader, NODES);
    struct raft_buffer buf;
    buf.len = 8;
    buf.base = raft_malloc(buf.len);
    cr_assert_not_null(buf.base);
    memcpy(buf.base, "ENTRY-01", 8);
    c->apply_req.data = c;
    int rv = raft_apply(&c->nodes[leader].raft, &c->apply_req, &buf, 1, apply_cb);
    if (rv != 0) {
        raft_free(buf.base);
    }
    cr_assert_eq(rv, 0);
    cr_assert(run_until(&c->loop, cluster_all_applied, c, 15000), "entry not applied everywhere");
    cr_assert_eq(c->apply_status, 0);
}

static void cluster_stop(struct cluster *c)
{
    for (unsigned i = 0; i < c->n_running; i++) {
        raft_close(&c->nodes[i].raft, node_close_cb);
    }
    cr_assert(run_until(&c->loop, cluster_all_closed, c, 10000), "raft_close hung");
    for (unsigned i = 0; i < c->n_running; i++) {
        raft_uv_close(&c->nodes[i].io);
        lg_raft_transport_close(&c->nodes[i].transport);
        lgt_rmtree(c->nodes[i].dir);
    }
    loop_finish(&c->loop);
}

Test(transport, three_raft_uv_nodes_elect_and_commit_over_localhost_names, .timeout = 60)
{
    static struct cluster c;
    char a[NODES][64];
    const char *addresses[NODES];
    for (unsigned i = 0; i < NODES; i++) {
        snprintf(a[i], sizeof a[i], "localhost:%u", free_port());
        addresses[i] = a[i];
    }
    cluster_start(&c, addresses, NODES);
    cluster_elect_and_commit(&c);
    raft_id leader_id = 0;
    const char *leader_address = NULL;
    raft_leader(&c.nodes[0].raft, &leader_id, &leader_address);
    cr_assert_neq(leader_id, 0);
    char want[32];
    snprintf(want, sizeof want, "client-%u:%u", (unsigned)leader_id,
             9000 + (unsigned)leader_id - 1);
    for (unsigned i = 0; i < NODES; i++) {
        cr_assert_eq(c.nodes[i].applied, 1);
        cr_assert_geq(lg_raft_transport_resolve_count(&c.nodes[i].transport), 1);
        /* The leader connected to every follower: each learnt its client address. */
        char got[LG_RAFT_ADDRESS_BYTES_MAX];
        if (i + 1 != leader_id) {
            cr_assert(lg_raft_transport_peer_client(&c.nodes[i].transport, leader_id, got,
                                                    sizeof got));
            cr_assert_str_eq(got, want);
        }
        cr_assert_not(lg_raft_transport_peer_client(&c.nodes[i].transport, 99, got,
                                                    sizeof got));
    }
    cluster_stop(&c);
}

Test(transport, unresolvable_voter_fails_and_the_others_commit, .timeout = 60)
{
    static struct cluster c;
    char a[2][64];
    snprintf(a[0], sizeof a[0], "localhost:%u", free_port());
    snprintf(a[1], sizeof a[1], "127.0.0.1:%u", free_port());
    const char *addresses[NODES] = {a[0], a[1], "node-3.does-not-exist.invalid:7000"};
    cluster_start(&c, addresses, 2);
    cluster_elect_and_commit(&c);
    cluster_stop(&c);
}

/* ---- transports driven directly -------------------------------------------------------- */

struct conn {
    struct raft_uv_connect req;
    int calls;
    int status;
};

static void conn_cb(struct raft_uv_connect *req, uv_stream_t *stream, int status)
{
    struct conn *k = req->data;
    k->calls++;
    k->status = status;
    if (status == 0) {
        cr_assert_not_null(stream);
        uv_close((uv_handle_t *)stream, stream_free_cb);
    } else {
        cr_assert_null(stream);
    }
}

static bool conn_called(void *arg)
{
    return ((struct conn *)arg)->calls > 0;
}

struct acceptor {
    int accepted;
    raft_id last_id;
    char last_address[LG_RAFT_ADDRESS_BYTES_MAX];
};

static void accept_cb(struct raft_uv_transport *t, raft_id id, const char *address,
                      uv_stream_t *stream)
{
    struct acceptor *a = t->data;
    a->accepted++;
    a->last_id = id;
    snprintf(a->last_address, sizeof a->last_address, "%s", address);
    uv_close((uv_handle_t *)stream, stream_free_cb);
}

static bool accepted_one(void *arg)
{
    return ((struct acceptor *)arg)->accepted > 0;
}

static void transport_closed_cb(struct raft_uv_transport *t)
{
    *(bool *)t->data = true;
}

/* Close t (its data becomes the closed flag) and release it. */
static void transport_shutdown(uv_loop_t *loop, struct raft_uv_transport *t)
{
    bool closed = false;
    t->data = &closed;
    t->close(t, transport_closed_cb);
    cr_assert(run_until(loop, flag_set, &closed, 5000), "transport close hung");
    lg_raft_transport_close(t);
}

/* A listening transport with id and address, accept callbacks counted in a. */
static void listener_start(uv_loop_t *loop, struct raft_uv_transport *t, raft_id id,
                           const char *address, struct acceptor *a)
{
    cr_assert_eq(lg_raft_transport_init(t, loop), 0);
    lg_raft_transport_set_timeouts(t, 1000, 300);
    cr_assert_eq(t->init(t, id, address), 0);
    t->data = a;
    cr_assert_eq(t->listen(t, accept_cb), 0, "%s", t->errmsg);
}

Test(transport, unresolvable_name_fails_with_noconnection)
{
    uv_loop_t loop;
    cr_assert_eq(uv_loop_init(&loop), 0);
    struct raft_uv_transport t;
    cr_assert_eq(lg_raft_transport_init(&t, &loop), 0);
    cr_assert_eq(t.init(&t, 1, "127.0.0.1:1"), 0);
    struct conn k = {0};
    k.req.data = &k;
    cr_assert_eq(t.connect(&t, &k.req, 2, "no-such-host.invalid:7000", conn_cb), 0);
    cr_assert(run_until(&loop, conn_called, &k, 10000));
    cr_assert_eq(k.calls, 1);
    cr_assert_eq(k.status, RAFT_NOCONNECTION);
    /* A refused port fails the same way. */
    struct conn r = {0};
    r.req.data = &r;
    char refused[64];
    snprintf(refused, sizeof refused, "127.0.0.1:%u", free_port());
    cr_assert_eq(t.connect(&t, &r.req, 2, refused, conn_cb), 0);
    cr_assert(run_until(&loop, conn_called, &r, 10000));
    cr_assert_eq(r.status, RAFT_NOCONNECTION);
    /* A malformed address is refused by connect itself (no callback). */
    struct conn m = {0};
    m.req.data = &m;
    cr_assert_eq(t.connect(&t, &m.req, 2, "no-port", conn_cb), RAFT_NOCONNECTION);
    transport_shutdown(&loop, &t);
    cr_assert_eq(m.calls, 0);
    loop_finish(&loop);
}

/* Resolve hook: "peer.test" maps to the IP in arg (a string the test changes). */
struct hook_state {
    const char *ip;
    int calls;
};

static int peer_hook(void *arg, const char *host, char *out, size_t out_size)
{
    struct hook_state *h = arg;
    h->calls++;
    snprintf(out, out_size, "%s", strcmp(host, "peer.test") == 0 ? h->ip : host);
    return 0;
}

Test(transport, peer_whose_ip_changed_is_reached_again, .timeout = 30)
{
    uv_loop_t loop;
    cr_assert_eq(uv_loop_init(&loop), 0);
    unsigned port = free_port();
    char bind_a[64];
    char bind_b[64];
    char peer[64];
    snprintf(bind_a, sizeof bind_a, "127.0.0.1:%u", port);
    snprintf(bind_b, sizeof bind_b, "127.0.0.2:%u", port);
    snprintf(peer, sizeof peer, "peer.test:%u", port);

    struct raft_uv_transport client;
    cr_assert_eq(lg_raft_transport_init(&client, &loop), 0);
    cr_assert_eq(client.init(&client, 7, "client.test:9999"), 0);
    struct hook_state h = {"127.0.0.1", 0};
    lg_raft_transport_set_resolve_hook(&client, peer_hook, &h);

    struct acceptor a = {0};
    struct raft_uv_transport server_a;
    listener_start(&loop, &server_a, 2, bind_a, &a);
    struct conn k1 = {0};
    k1.req.data = &k1;
    cr_assert_eq(client.connect(&client, &k1.req, 2, peer, conn_cb), 0);
    cr_assert(run_until(&loop, conn_called, &k1, 5000));
    cr_assert_eq(k1.status, 0);
    cr_assert(run_until(&loop, accepted_one, &a, 5000));
    cr_assert_eq(a.last_id, 7);
    cr_assert_str_eq(a.last_address, "client.test:9999");
    transport_shutdown(&loop, &server_a);

    /* The peer moves to 127.0.0.2; the same name now resolves there. */
    h.ip = "127.0.0.2";
    struct acceptor b = {0};
    struct raft_uv_transport server_b;
    listener_start(&loop, &server_b, 2, bind_b, &b);
    struct conn k2 = {0};
    k2.req.data = &k2;
    cr_assert_eq(client.connect(&client, &k2.req, 2, peer, conn_cb), 0);
    cr_assert(run_until(&loop, conn_called, &k2, 5000));
    cr_assert_eq(k2.status, 0);
    cr_assert(run_until(&loop, accepted_one, &b, 5000));
    cr_assert_eq(b.last_id, 7);
    cr_assert_eq(h.calls, 2);
    cr_assert_eq(lg_raft_transport_resolve_count(&client), 2);

    /* Old IP no longer answers: the name is still resolved (a third time) and fails. */
    h.ip = "127.0.0.1";
    struct conn k3 = {0};
    k3.req.data = &k3;
    cr_assert_eq(client.connect(&client, &k3.req, 2, peer, conn_cb), 0);
    cr_assert(run_until(&loop, conn_called, &k3, 5000));
    cr_assert_eq(k3.status, RAFT_NOCONNECTION);
    cr_assert_eq(lg_raft_transport_resolve_count(&client), 3);

    transport_shutdown(&loop, &server_b);
    transport_shutdown(&loop, &client);
    loop_finish(&loop);
}

/* ---- hostile peers ------------------------------------------------------------------- */

#define RAW_MAX 100

struct raw {
    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_write_t write;
    uint8_t data[64];
    size_t len;
    char rbuf[64];
    bool connected;
    bool peer_closed;
    bool closed;
};

static void raw_close_cb(uv_handle_t *handle)
{
    struct raw *r = handle->data;
    r->closed = true;
}

static void raw_alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    struct raw *r = handle->data;
    (void)suggested;
    *buf = uv_buf_init(r->rbuf, sizeof r->rbuf);
}

static void raw_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct raw *r = stream->data;
    (void)buf;
    if (nread < 0) {
        r->peer_closed = true;
        uv_close((uv_handle_t *)stream, raw_close_cb);
    }
}

static void raw_write_cb(uv_write_t *req, int status)
{
    (void)req;
    (void)status;
}

static void raw_connect_cb(uv_connect_t *req, int status)
{
    struct raw *r = req->data;
    if (status != 0) {
        uv_close((uv_handle_t *)&r->tcp, raw_close_cb);
        return;
    }
    r->connected = true;
    if (r->len > 0) {
        uv_buf_t buf = uv_buf_init((char *)r->data, (unsigned)r->len);
        cr_assert_eq(uv_write(&r->write, (uv_stream_t *)&r->tcp, &buf, 1, raw_write_cb), 0);
    }
    cr_assert_eq(uv_read_start((uv_stream_t *)&r->tcp, raw_alloc_cb, raw_read_cb), 0);
}

/* Connect r to 127.0.0.1:port and send data[0..len). */
static void raw_start(uv_loop_t *loop, struct raw *r, unsigned port, const void *data,
                      size_t len)
{
    cr_assert_leq(len, sizeof r->data);
    memcpy(r->data, data, len);
    r->len = len;
    r->tcp.data = r;
    r->connect.data = r;
    cr_assert_eq(uv_tcp_init(loop, &r->tcp), 0);
    struct sockaddr_in sa;
    cr_assert_eq(uv_ip4_addr("127.0.0.1", (int)port, &sa), 0);
    cr_assert_eq(uv_tcp_connect(&r->connect, &r->tcp, (struct sockaddr *)&sa, raw_connect_cb),
                 0);
}

struct raws {
    struct raw *r;
    size_t n;
};

static bool raws_all_closed(void *arg)
{
    struct raws *rs = arg;
    for (size_t i = 0; i < rs->n; i++) {
        if (!rs->r[i].closed) {
            return false;
        }
    }
    return true;
}

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

Test(transport, garbage_handshakes_are_closed_and_listener_keeps_accepting, .timeout = 60)
{
    static struct raw raws[RAW_MAX];
    memset(raws, 0, sizeof raws);
    uv_loop_t loop;
    cr_assert_eq(uv_loop_init(&loop), 0);
    unsigned port = free_port();
    char address[64];
    snprintf(address, sizeof address, "127.0.0.1:%u", port);
    struct acceptor a = {0};
    struct raft_uv_transport server;
    listener_start(&loop, &server, 1, address, &a);

    struct lgt_rng rng;
    lgt_rng_init(&rng, lgt_seed());
    uint8_t msg[64];
    size_t n = 0;
    /* 1: random bytes. */
    for (size_t i = 0; i < sizeof msg; i++) {
        msg[i] = (uint8_t)lgt_rng_next(&rng);
    }
    raw_start(&loop, &raws[n++], port, msg, sizeof msg);
    /* 2: our header with an address length of 2^32-1. */
    uint8_t hs[LG_RAFT_HANDSHAKE_BYTES_MAX];
    size_t hs_len = lg_raft_transport_encode_handshake(5, "x.test:1", "", hs, sizeof hs);
    cr_assert_gt(hs_len, 0);
    memcpy(msg, hs, 24);
    put_le(msg + 16, 0xffffffffu, 4);
    raw_start(&loop, &raws[n++], port, msg, 24);
    /* 3: libraft's own handshake (protocol 1, id, length 2^32-1). */
    memset(msg, 0, sizeof msg);
    put_le(msg, 1, 8);
    put_le(msg + 8, 5, 8);
    put_le(msg + 16, 0xffffffffu, 8);
    raw_start(&loop, &raws[n++], port, msg, 24);
    /* 4: a valid handshake with one address byte changed (checksum mismatch). */
    memcpy(msg, hs, hs_len);
    msg[hs_len - 1] ^= 1;
    raw_start(&loop, &raws[n++], port, msg, hs_len);
    /* 5: id 0. */
    memcpy(msg, hs, hs_len);
    put_le(msg + 8, 0, 8);
    raw_start(&loop, &raws[n++], port, msg, hs_len);
    /* 6: a stalled client that sent half a header, 7: one that sent nothing. */
    raw_start(&loop, &raws[n++], port, hs, 10);
    raw_start(&loop, &raws[n++], port, hs, 0);
    /* 8..: more stalled clients than LG_RAFT_INCOMING_MAX at once. */
    while (n < RAW_MAX) {
        raw_start(&loop, &raws[n++], port, hs, 3);
    }
    struct raws rs = {raws, n};
    cr_assert(run_until(&loop, raws_all_closed, &rs, 20000), "a hostile client stayed open");
    for (size_t i = 0; i < n; i++) {
        cr_assert(raws[i].connected, "client %zu", i);
        cr_assert(raws[i].peer_closed, "client %zu not closed by the server", i);
    }
    cr_assert_eq(a.accepted, 0);

    /* A valid peer still gets through. */
    struct raft_uv_transport client;
    cr_assert_eq(lg_raft_transport_init(&client, &loop), 0);
    cr_assert_eq(client.init(&client, 9, "good.test:1234"), 0);
    struct conn k = {0};
    k.req.data = &k;
    cr_assert_eq(client.connect(&client, &k.req, 1, address, conn_cb), 0);
    cr_assert(run_until(&loop, accepted_one, &a, 5000));
    cr_assert(run_until(&loop, conn_called, &k, 5000));
    cr_assert_eq(k.status, 0);
    cr_assert_eq(a.last_id, 9);
    cr_assert_str_eq(a.last_address, "good.test:1234");
    transport_shutdown(&loop, &client);
    transport_shutdown(&loop, &server);
    loop_finish(&loop);
}

/* ---- close with work in flight --------------------------------------------------------- */

#define INFLIGHT 12

static void delay_cb(uv_timer_t *timer)
{
    struct raft_uv_transport *t = timer->data;
    t->close(t, transport_closed_cb);
}

static void delay_close_cb(uv_handle_t *handle)
{
    *(bool *)handle->data = true;
}

Test(transport, close_cancels_connects_in_flight, .timeout = 120)
{
    uv_loop_t loop;
    cr_assert_eq(uv_loop_init(&loop), 0);
    unsigned port = free_port();
    char address[64];
    snprintf(address, sizeof address, "127.0.0.1:%u", port);
    char named[64];
    snprintf(named, sizeof named, "localhost:%u", port);
    char refused[64];
    snprintf(refused, sizeof refused, "127.0.0.1:%u", free_port());
    struct acceptor a = {0};
    struct raft_uv_transport server;
    listener_start(&loop, &server, 1, address, &a);
    const char *targets[4] = {address, named, refused, "nowhere.invalid:80"};
    const unsigned delays_ms[] = {0, 1, 2, 3, 5, 8, 13, 30};
    unsigned n_ok = 0;
    unsigned n_canceled = 0;
    for (size_t d = 0; d < sizeof delays_ms / sizeof delays_ms[0]; d++) {
        struct raft_uv_transport client;
        cr_assert_eq(lg_raft_transport_init(&client, &loop), 0);
        cr_assert_eq(client.init(&client, 2, "client.test:1"), 0);
        struct conn k[INFLIGHT];
        memset(k, 0, sizeof k);
        for (unsigned i = 0; i < INFLIGHT; i++) {
            k[i].req.data = &k[i];
            cr_assert_eq(client.connect(&client, &k[i].req, 1, targets[i % 4], conn_cb), 0);
        }
        bool closed = false;
        client.data = &closed;
        uv_timer_t delay;
        cr_assert_eq(uv_timer_init(&loop, &delay), 0);
        delay.data = &client;
        if (delays_ms[d] == 0) {
            client.close(&client, transport_closed_cb); /* same tick as the connects */
        } else {
            uv_timer_start(&delay, delay_cb, delays_ms[d], 0);
        }
        cr_assert(run_until(&loop, flag_set, &closed, 10000), "close hung (delay %u)",
                  delays_ms[d]);
        bool delay_closed = false;
        delay.data = &delay_closed;
        uv_close((uv_handle_t *)&delay, delay_close_cb);
        cr_assert(run_until(&loop, flag_set, &delay_closed, 1000)); /* delay is reused */
        for (unsigned i = 0; i < INFLIGHT; i++) {
            cr_assert_eq(k[i].calls, 1, "connect %u called %d times", i, k[i].calls);
            cr_assert(k[i].status == 0 || k[i].status == RAFT_CANCELED ||
                      k[i].status == RAFT_NOCONNECTION);
            n_ok += k[i].status == 0;
            n_canceled += k[i].status == RAFT_CANCELED;
        }
        /* connect on a closing transport is refused. */
        struct conn late = {0};
        late.req.data = &late;
        cr_assert_eq(client.connect(&client, &late.req, 1, address, conn_cb), RAFT_CANCELED);
        lg_raft_transport_close(&client);
    }
    cr_assert_gt(n_canceled, 0);
    cr_log_info("in-flight connects: %u succeeded, %u cancelled", n_ok, n_canceled);
    /* Let the server finish (or time out) the handshakes it was reading, then close it. */
    bool never = false;
    run_until(&loop, flag_set, &never, 400);
    transport_shutdown(&loop, &server);
    loop_finish(&loop);
}

Test(transport, close_cancels_handshakes_being_read)
{
    static struct raw raws[8];
    memset(raws, 0, sizeof raws);
    uv_loop_t loop;
    cr_assert_eq(uv_loop_init(&loop), 0);
    unsigned port = free_port();
    char address[64];
    snprintf(address, sizeof address, "127.0.0.1:%u", port);
    struct acceptor a = {0};
    struct raft_uv_transport server;
    listener_start(&loop, &server, 1, address, &a);
    uint8_t hs[LG_RAFT_HANDSHAKE_BYTES_MAX];
    cr_assert_gt(lg_raft_transport_encode_handshake(5, "x.test:1", "", hs, sizeof hs), 0);
    for (size_t i = 0; i < 8; i++) {
        raw_start(&loop, &raws[i], port, hs, 5);
    }
    bool never = false;
    run_until(&loop, flag_set, &never, 100); /* accepted, handshakes half read */
    transport_shutdown(&loop, &server);
    struct raws rs = {raws, 8};
    cr_assert(run_until(&loop, raws_all_closed, &rs, 5000));
    cr_assert_eq(a.accepted, 0);
    loop_finish(&loop);
}

struct many {
    struct conn *k;
    unsigned n;
};

static bool many_called(void *arg)
{
    struct many *m = arg;
    for (unsigned i = 0; i < m->n; i++) {
        if (m->k[i].calls == 0) {
            return false;
        }
    }
    return true;
}

Test(transport, connect_timeout_fails_with_noconnection_exactly_once, .timeout = 60)
{
    uv_loop_t loop;
    cr_assert_eq(uv_loop_init(&loop), 0);
    unsigned port = free_port();
    char address[64];
    snprintf(address, sizeof address, "localhost:%u", port);
    struct acceptor a = {0};
    struct raft_uv_transport server;
    listener_start(&loop, &server, 1, address, &a);
    struct raft_uv_transport client;
    cr_assert_eq(lg_raft_transport_init(&client, &loop), 0);
    cr_assert_eq(client.init(&client, 2, "client.test:1"), 0);
    /* 1 ms: the timer races resolution (thread pool), connect and the handshake write. */
    lg_raft_transport_set_timeouts(&client, 1, 1000);
    struct conn k[40];
    memset(k, 0, sizeof k);
    for (unsigned i = 0; i < 40; i++) {
        k[i].req.data = &k[i];
        cr_assert_eq(client.connect(&client, &k[i].req, 1, address, conn_cb), 0);
    }
    struct many m = {k, 40};
    cr_assert(run_until(&loop, many_called, &m, 10000));
    unsigned timeouts = 0;
    for (unsigned i = 0; i < 40; i++) {
        cr_assert_eq(k[i].calls, 1);
        cr_assert(k[i].status == 0 || k[i].status == RAFT_NOCONNECTION);
        timeouts += k[i].status == RAFT_NOCONNECTION;
    }
    cr_log_info("1 ms connect timeout: %u of 40 timed out", timeouts);
    bool never = false;
    run_until(&loop, flag_set, &never, 100);
    cr_assert_eq(k[0].calls, 1, "no second callback after the timeout");
    transport_shutdown(&loop, &client);
    transport_shutdown(&loop, &server);
    loop_finish(&loop);
}
