/* test_gossip: SWIM gossip between real nodes (issue 6; docs/discovery.md).
 *
 * Goal: on real processes over loopback UDP, with the default gossip timing: 5 nodes
 * converge within 5 s; a SIGKILL'd node is dead on every other node within 10 s; a
 * SIGSTOP'd node is suspected and, after SIGCONT, refutes (its incarnation grows) and is
 * alive again, never left dead; with --key-file, UDP packets with a bad HMAC, of another
 * cluster or malformed, sent by the test to a node's gossip port, are dropped and counted
 * in `status`; writes keep succeeding throughout.
 *
 * Method: the harness starts each node with --join naming the other initial nodes' gossip
 * addresses (its default); the test reads each node's view through the `members` op
 * (gossip state and incarnation by id) and the `status` op's gossip map, polling every
 * 50 ms with bounded waits. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../discovery/swim.h"
#include "arena.h"
#include "client.h"
#include "harness.h"

#define LEDGER "gossip"
#define POLL_MS 50u

/* One member as node i sees it (members op). */
struct view {
    bool known;           /* gossip knows it */
    char state[16];       /* "alive", "suspect", "dead", "left" */
    uint64_t incarnation;
    char role[16];
};

/* Node i's gossip view of every node (views[k] for id k + 1). false when i did not answer
 * (it is stopped, or busy). */
static bool members_of(struct lgt_cluster *c, unsigned i, struct view *views, unsigned n)
{
    memset(views, 0, n * sizeof *views);
    struct lg_conn *conn = NULL;
    if (lg_conn_open(&conn, c->nodes[i].client_address, 1000, NULL) != LG_OK) {
        return false;
    }
    lg_conn_set_timeout(conn, 2000);
    struct lg_arena arena;
    lg_arena_init(&arena, 0);
    struct lg_proto_request req;
    memset(&req, 0, sizeof req);
    req.id = 1;
    req.op = LG_PROTO_OP_MEMBERS;
    struct lg_proto_response resp;
    char err[LG_ERRMSG_SIZE];
    bool ok = lg_conn_call(conn, &req, &arena, &resp, err) == LG_OK && resp.ok;
    for (uint32_t k = 0; ok && k < resp.u.members.n_items; k++) {
        const struct lg_proto_member *m = &resp.u.members.items[k];
        if (m->id >= 1 && m->id <= n) {
            struct view *v = &views[m->id - 1u];
            v->known = m->gossip.len > 0;
            snprintf(v->state, sizeof v->state, "%.*s", (int)m->gossip.len, m->gossip.ptr);
            snprintf(v->role, sizeof v->role, "%.*s", (int)m->role.len, m->role.ptr);
            v->incarnation = m->incarnation;
        }
    }
    lg_arena_close(&arena);
    lg_conn_close(conn);
    return ok;
}

/* Node i's status gossip map. */
static bool gossip_status(struct lgt_cluster *c, unsigned i, struct lg_proto_gossip *out)
{
    struct lg_conn *conn = lgt_node_conn(c, i, 5000);
    struct lg_arena arena;
    lg_arena_init(&arena, 0);
    struct lg_proto_request req;
    memset(&req, 0, sizeof req);
    req.id = 2;
    req.op = LG_PROTO_OP_STATUS;
    struct lg_proto_response resp;
    char err[LG_ERRMSG_SIZE];
    bool ok = lg_conn_call(conn, &req, &arena, &resp, err) == LG_OK && resp.ok &&
              resp.u.status.has_gossip;
    if (ok) {
        *out = resp.u.status.gossip;
    }
    lg_arena_close(&arena);
    lg_conn_close(conn);
    return ok;
}

/* Does every running, not stopped node but `except` see node `id` in state? (n nodes) */
static bool all_see(struct lgt_cluster *c, unsigned n, uint64_t id, const char *state,
                    unsigned except)
{
    for (unsigned i = 0; i < n; i++) {
        if (i == except || i + 1u == id || !lgt_node_running(c, i) || c->nodes[i].stopped) {
            continue;
        }
        struct view v[LGT_CLUSTER_NODES_MAX];
        if (!members_of(c, i, v, n) || strcmp(v[id - 1u].state, state) != 0) {
            return false;
        }
    }
    return true;
}

/* Every running node sees all n nodes alive. */
static bool converged(struct lgt_cluster *c, unsigned n)
{
    for (uint64_t id = 1; id <= n; id++) {
        if (!all_see(c, n, id, "alive", LGT_CLUSTER_NODES_MAX)) {
            return false;
        }
    }
    return true;
}

static uint64_t wait_converged(struct lgt_cluster *c, unsigned n, unsigned timeout_ms)
{
    uint64_t start = lgt_now_ms();
    while (!converged(c, n)) {
        LGT_CHECK(c, lgt_now_ms() - start < timeout_ms,
                  "gossip did not converge on %u nodes in %u ms", n, timeout_ms);
        lgt_sleep_ms(POLL_MS);
    }
    return lgt_now_ms() - start;
}

/* A write through the nodes in idx (acknowledged, or the test fails). */
static void write_ok(struct lgt_cluster *c, const unsigned *idx, unsigned n, unsigned k)
{
    struct lg_client *cl = lgt_cluster_client(c, idx, n, 5000, 40);
    char ref[32];
    snprintf(ref, sizeof ref, "gossip-%u", k);
    struct lgt_transfer t = {.ledger = LEDGER, .source = "world", .destination = "users:1",
                             .amount = k + 1u, .asset = "USD", .reference = ref};
    struct lg_proto_tx_result r;
    lgt_submit_ok(c, cl, &t, &r);
    lg_client_close(cl);
}

Test(gossip, five_nodes_converge_within_5s, .fini = lgt_cluster_fini, .timeout = 120)
{
    struct lgt_cluster_options o = {.n_nodes = 5};
    struct lgt_cluster *c = lgt_cluster_new(&o);
    uint64_t t0 = lgt_now_ms();
    lgt_cluster_start(c);
    uint64_t up = lgt_now_ms() - t0;
    wait_converged(c, 5, 10000);
    uint64_t took = lgt_now_ms() - t0;
    cr_log_info("5 nodes: every node answers after %llu ms; gossip converged (5 alive on "
                "each) %llu ms after the first start", (unsigned long long)up,
                (unsigned long long)took);
    LGT_CHECK(c, took <= 5000, "converged after %llu ms (> 5 s)", (unsigned long long)took);
    for (unsigned i = 0; i < 5; i++) {
        struct view v[5];
        LGT_CHECK(c, members_of(c, i, v, 5), "members of node %u", i + 1u);
        for (unsigned k = 0; k < 5; k++) {
            LGT_CHECK(c, strcmp(v[k].role, "voter") == 0, "node %u: role of %u is %s",
                      i + 1u, k + 1u, v[k].role);
        }
        struct lg_proto_gossip g;
        LGT_CHECK(c, gossip_status(c, i, &g), "status of node %u", i + 1u);
        LGT_CHECK(c, g.alive == 5 && g.suspect == 0 && g.dead == 0 && g.left == 0,
                  "node %u: status gossip alive %llu", i + 1u, (unsigned long long)g.alive);
    }
    unsigned all[5] = {0, 1, 2, 3, 4};
    write_ok(c, all, 5, 1);
    lgt_cluster_pass(c);
}

Test(gossip, sigkilled_node_is_dead_everywhere_within_10s, .fini = lgt_cluster_fini,
     .timeout = 120)
{
    struct lgt_cluster_options o = {.n_nodes = 5};
    struct lgt_cluster *c = lgt_cluster_new(&o);
    lgt_cluster_start(c);
    wait_converged(c, 5, 10000);
    lgt_cluster_leader(c, LGT_LEADER_TIMEOUT_MS);
    unsigned victim = 3;
    uint64_t t0 = lgt_now_ms();
    lgt_node_kill(c, victim);
    while (!all_see(c, 5, victim + 1u, "dead", victim)) {
        LGT_CHECK(c, lgt_now_ms() - t0 < 10000, "node %u not dead on every other node "
                  "within 10 s", victim + 1u);
        lgt_sleep_ms(POLL_MS);
    }
    uint64_t took = lgt_now_ms() - t0;
    cr_log_info("SIGKILL'd node dead on the 4 others after %llu ms", (unsigned long long)took);
    unsigned rest[4] = {0, 1, 2, 4};
    write_ok(c, rest, 4, 2);
    for (uint64_t id = 1; id <= 5; id++) {
        LGT_CHECK(c, id == victim + 1u || all_see(c, 5, id, "alive", victim),
                  "node %llu still alive everywhere", (unsigned long long)id);
    }
    lgt_cluster_pass(c);
}

Test(gossip, sigstopped_node_is_suspected_then_refutes, .fini = lgt_cluster_fini,
     .timeout = 120)
{
    struct lgt_cluster_options o = {.n_nodes = 5};
    struct lgt_cluster *c = lgt_cluster_new(&o);
    lgt_cluster_start(c);
    wait_converged(c, 5, 10000);
    unsigned victim = 2;
    struct view before[5];
    LGT_CHECK(c, members_of(c, 0, before, 5), "members");
    uint64_t inc0 = before[victim].incarnation;
    lgt_node_signal(c, victim, SIGSTOP);
    uint64_t t0 = lgt_now_ms();
    bool suspected = false;
    unsigned seen_by = 0;
    while (!suspected) {
        LGT_CHECK(c, lgt_now_ms() - t0 < 10000, "the stopped node was never suspected");
        for (unsigned i = 0; i < 5 && !suspected; i++) {
            struct view v[5];
            if (i != victim && members_of(c, i, v, 5) &&
                strcmp(v[victim].state, "suspect") == 0) {
                suspected = true;
                seen_by = i;
            }
        }
        lgt_sleep_ms(POLL_MS / 2u);
    }
    uint64_t suspected_ms = lgt_now_ms() - t0;
    lgt_node_signal(c, victim, SIGCONT);
    uint64_t t1 = lgt_now_ms();
    bool refuted = false;
    while (!refuted) {
        LGT_CHECK(c, lgt_now_ms() - t1 < 10000, "not alive again everywhere within 10 s of "
                  "SIGCONT");
        refuted = true;
        for (unsigned i = 0; i < 5 && refuted; i++) {
            struct view v[5];
            refuted = i == victim || (members_of(c, i, v, 5) &&
                                      strcmp(v[victim].state, "alive") == 0 &&
                                      v[victim].incarnation > inc0);
        }
        lgt_sleep_ms(POLL_MS);
    }
    cr_log_info("SIGSTOP: suspected by node %u after %llu ms; after SIGCONT alive again "
                "everywhere with a higher incarnation after %llu ms", seen_by + 1u,
                (unsigned long long)suspected_ms, (unsigned long long)(lgt_now_ms() - t1));
    LGT_CHECK(c, lgt_node_log_contains(c, victim, "event=gossip_refute", true),
              "the node logged its refutation");
    unsigned all[5] = {0, 1, 2, 3, 4};
    write_ok(c, all, 5, 3);
    lgt_sleep_ms(3000);
    LGT_CHECK(c, all_see(c, 5, victim + 1u, "alive", victim), "still alive 3 s later");
    lgt_cluster_pass(c);
}

/* Send one datagram to a gossip address "127.0.0.1:PORT". */
static void send_udp(struct lgt_cluster *c, const char *address, const uint8_t *buf,
                     size_t len)
{
    const char *colon = strrchr(address, ':');
    LGT_CHECK(c, colon != NULL, "address %s", address);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)atoi(colon + 1));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    LGT_CHECK(c, fd >= 0, "socket");
    ssize_t w = sendto(fd, buf, len, 0, (const struct sockaddr *)&sa, sizeof sa);
    close(fd);
    LGT_CHECK(c, w == (ssize_t)len, "sendto");
}

Test(gossip, bad_hmac_is_dropped_and_counted, .fini = lgt_cluster_fini, .timeout = 120)
{
    struct lgt_cluster_options o = {.n_nodes = 3};
    struct lgt_cluster *c = lgt_cluster_new(&o);
    static char key_path[LGT_PATH_MAX + 16u];
    int w = snprintf(key_path, sizeof key_path, "%s/gossip.key", c->dir);
    LGT_CHECK(c, w > 0 && (size_t)w < sizeof key_path, "key path");
    static const char key[] = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n";
    FILE *fp = fopen(key_path, "w");
    LGT_CHECK(c, fp != NULL && fputs(key, fp) >= 0 && fclose(fp) == 0, "key file");
    LGT_CHECK(c, chmod(key_path, 0600) == 0, "chmod");
    c->o.key_file = key_path;
    lgt_cluster_start(c);
    wait_converged(c, 3, 10000);
    LGT_CHECK(c, !lgt_node_log_contains(c, 0, "gossip_unauthenticated", true),
              "keyed: no unauthenticated warning");
    struct lg_proto_gossip g0;
    LGT_CHECK(c, gossip_status(c, 0, &g0), "status");
    /* A well-formed ping from a node "9" under another key, one under the right key but
     * another cluster name, and bytes that are no packet. */
    static const uint8_t body[] = {0x83, 0xa4, 't', 'y', 'p', 'e', 0xa4, 'p', 'i', 'n', 'g',
                                   0xa4, 'f', 'r', 'o', 'm', 0x09, 0xa3, 's', 'e', 'q', 0x01};
    uint8_t pkt[LG_SWIM_PACKET_MAX];
    size_t len = lg_swim_envelope_encode(body, sizeof body, "ledger", (const uint8_t *)"wrong",
                                         5, pkt, sizeof pkt);
    LGT_CHECK(c, len > 0, "encode");
    for (unsigned k = 0; k < 5; k++) {
        send_udp(c, c->nodes[0].gossip_address, pkt, len);
    }
    /* The right key (without its newline) and another cluster name. */
    len = lg_swim_envelope_encode(body, sizeof body, "other", (const uint8_t *)key,
                                  sizeof key - 2u, pkt, sizeof pkt);
    send_udp(c, c->nodes[0].gossip_address, pkt, len);
    send_udp(c, c->nodes[0].gossip_address, (const uint8_t *)"not a packet", 12);
    struct lg_proto_gossip g;
    uint64_t t0 = lgt_now_ms();
    do {
        lgt_sleep_ms(POLL_MS);
        LGT_CHECK(c, gossip_status(c, 0, &g), "status");
        LGT_CHECK(c, lgt_now_ms() - t0 < 5000, "drops not counted: auth %llu cluster %llu "
                  "malformed %llu", (unsigned long long)g.dropped_auth,
                  (unsigned long long)g.dropped_cluster, (unsigned long long)g.dropped_malformed);
    } while (g.dropped_auth < g0.dropped_auth + 5u || g.dropped_cluster < g0.dropped_cluster + 1u
             || g.dropped_malformed < g0.dropped_malformed + 1u);
    LGT_CHECK(c, g.dropped_auth == g0.dropped_auth + 5u, "exactly the 5 bad tags: %llu",
              (unsigned long long)g.dropped_auth);
    LGT_CHECK(c, g.alive == 3, "node 9 was not added (alive %llu)", (unsigned long long)g.alive);
    /* The same ping under the cluster's key is accepted: node 9 stays unknown (a ping
     * carries no record of its sender here), and nothing more is dropped. */
    len = lg_swim_envelope_encode(body, sizeof body, "ledger", (const uint8_t *)key,
                                  sizeof key - 2u, pkt, sizeof pkt);
    send_udp(c, c->nodes[0].gossip_address, pkt, len);
    lgt_sleep_ms(300);
    struct lg_proto_gossip g2;
    LGT_CHECK(c, gossip_status(c, 0, &g2), "status");
    LGT_CHECK(c, g2.dropped_auth == g.dropped_auth && g2.dropped_malformed ==
              g.dropped_malformed, "a packet under the right key is not dropped");
    LGT_CHECK(c, converged(c, 3), "the cluster still converged");
    unsigned all[3] = {0, 1, 2};
    write_ok(c, all, 3, 4);
    lgt_cluster_pass(c);
}

/* A node restarted after a member died learns of it: its seed's sync names the dead
 * member (as suspect, so the restarted node checks for itself), the restarted node adds
 * it, fails to reach it and declares it dead (event=dead), as the Raft side needs to
 * replace it. (Before: a record about an unknown member not alive was dropped, and the
 * restarted node never knew the dead voter.) */
Test(gossip, a_restarted_node_learns_of_a_dead_member, .fini = lgt_cluster_fini,
     .timeout = 120)
{
    struct lgt_cluster_options o = {.n_nodes = 3};
    struct lgt_cluster *c = lgt_cluster_new(&o);
    lgt_cluster_start(c);
    wait_converged(c, 3, 10000);
    lgt_node_kill(c, 2);
    uint64_t t0 = lgt_now_ms();
    while (!all_see(c, 3, 3, "dead", 2)) {
        LGT_CHECK(c, lgt_now_ms() - t0 < 10000, "node 3 not dead on nodes 1 and 2 in 10 s");
        lgt_sleep_ms(POLL_MS);
    }
    lgt_sleep_ms(3000); /* the dead update's piggyback budget is spent by now */
    lgt_node_kill(c, 0);
    lgt_node_start(c, 0);
    lgt_node_wait_ready(c, 0, LGT_READY_TIMEOUT_MS);
    t0 = lgt_now_ms();
    struct view v[3];
    memset(v, 0, sizeof v);
    do {
        lgt_sleep_ms(POLL_MS);
        LGT_CHECK(c, lgt_now_ms() - t0 < 15000, "restarted node 1 sees node 3 as '%s' after "
                  "15 s, want dead", v[2].state);
    } while (!members_of(c, 0, v, 3) || strcmp(v[2].state, "dead") != 0);
    cr_log_info("restarted node: dead member known dead after %llu ms",
                (unsigned long long)(lgt_now_ms() - t0));
    LGT_CHECK(c, lgt_node_log_contains(c, 0, "event=dead member=3", true),
              "the restarted node reported the death (event=dead)");
    LGT_CHECK(c, !lgt_node_log_contains(c, 0, "event=joined member=3", true),
              "a dead member is not reported joined");
    LGT_CHECK(c, strcmp(v[1].state, "alive") == 0, "node 2 alive on node 1: %s", v[1].state);
    unsigned two[2] = {0, 1};
    write_ok(c, two, 2, 5);
    lgt_cluster_pass(c);
}
