/* test_swim: the SWIM core (discovery/swim.c) on a simulated network.
 *
 * Goal: the protocol's promises (DESIGN §9, docs/discovery.md) hold under loss, delay and
 * partitions: convergence within a few probe rounds, detection of a stopped node within
 * the documented bound, refutation of a false suspicion, no false death under 10 % loss,
 * graceful leave, metadata propagation, join through a seed, bad packets dropped and
 * counted by kind, and convergence after a partition heals.
 *
 * Method: N cores share a fake clock advanced in 10 ms steps; each packet sent is queued
 * with a random delay (and dropped with the loss rate, or when a partition separates its
 * ends) and delivered when due; a stopped node neither ticks nor receives. Everything is
 * drawn from one seed (LG_TEST_SEED replays a run; the seed is printed on stderr and in
 * every failure message). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../discovery/swim.h"
#include "../../../lib/err.h"
#include "../../../lib/log.h"
#include "lgt.h"

#define SIM_NODES_MAX 12u
#define SIM_INFLIGHT_MAX 8192u
#define SIM_STEP_MS 10u

struct sim;

struct sim_node {
    struct sim *sim;
    unsigned idx;
    struct lg_swim *core;
    bool up;
    char addr[LG_ADDR_BYTES_MAX];
    unsigned group; /* partition group: packets cross only within one group */
    unsigned events[SIM_NODES_MAX + 1][6]; /* [member id][event] counts */
};

struct sim_packet {
    uint64_t due_ms;
    unsigned to;
    char from[LG_ADDR_BYTES_MAX];
    size_t len;
    uint8_t data[LG_SWIM_PACKET_MAX];
};

struct sim {
    uint64_t seed;
    uint64_t now_ms;
    struct lgt_rng rng;
    unsigned n;
    struct sim_node nodes[SIM_NODES_MAX];
    struct sim_packet *inflight; /* SIM_INFLIGHT_MAX */
    unsigned n_inflight;
    unsigned loss_permille;
    unsigned delay_min_ms;
    unsigned delay_max_ms;
    uint64_t sent;
    uint64_t lost;
    unsigned pause_on_probe; /* this node stops right after sending a probe (a ping with a
                                seq); SIM_NODES_MAX: none */
    struct lg_swim_config base; /* timing used for every node */
    bool long_names;            /* addresses of the longest names (253 bytes) */
};

static unsigned long long g_seed;
/* An assertion that names the seed to replay the run with. */
#define CHECK(cond, ...)                                                         \
    do {                                                                         \
        if (!(cond)) {                                                           \
            cr_log_error("replay with LG_TEST_SEED=%llu", g_seed);               \
            cr_assert_fail(__VA_ARGS__);                                         \
        }                                                                        \
    } while (0)

static void sim_send(void *arg, const char *address, const uint8_t *packet, size_t len)
{
    struct sim_node *from = arg;
    struct sim *s = from->sim;
    s->sent++;
    if (from->idx == s->pause_on_probe) {
        static struct lg_swim_msg msg;
        const uint8_t *body = NULL;
        size_t body_len = 0;
        if (lg_swim_envelope_decode(packet, len, s->base.cluster, s->base.key,
                                    s->base.key_len, &body, &body_len) == LG_SWIM_KEEP &&
            lg_swim_body_decode(body, body_len, &msg) == LG_OK &&
            msg.type == LG_SWIM_PING && msg.seq != 0) {
            from->up = false; /* this ping still goes out; its ack will find us stopped */
            s->pause_on_probe = SIM_NODES_MAX;
        }
    }
    unsigned to = SIM_NODES_MAX;
    for (unsigned i = 0; i < s->n; i++) {
        to = strcmp(s->nodes[i].addr, address) == 0 ? i : to;
    }
    if (to == SIM_NODES_MAX || s->nodes[to].group != from->group ||
        lgt_rng_below(&s->rng, 1000) < s->loss_permille ||
        s->n_inflight == SIM_INFLIGHT_MAX) {
        s->lost++;
        return;
    }
    cr_assert(len <= LG_SWIM_PACKET_MAX);
    struct sim_packet *p = &s->inflight[s->n_inflight++];
    unsigned span = s->delay_max_ms - s->delay_min_ms + 1u;
    p->due_ms = s->now_ms + s->delay_min_ms + lgt_rng_below(&s->rng, span);
    p->to = to;
    snprintf(p->from, sizeof p->from, "%s", from->addr);
    p->len = len;
    memcpy(p->data, packet, len);
}

static void sim_event(void *arg, enum lg_disc_event ev, const struct lg_disc_member *m)
{
    struct sim_node *node = arg;
    cr_assert(ev >= LG_DISC_EV_JOINED && ev <= LG_DISC_EV_LEFT);
    cr_assert(m->id != node->idx + 1u, "no event about oneself");
    if (m->id >= 1 && m->id <= SIM_NODES_MAX) { /* mutated packets may name any id */
        node->events[m->id][ev]++;
    }
}

static void sim_init(struct sim *s, unsigned n)
{
    memset(s, 0, sizeof *s);
    s->seed = lgt_seed();
    g_seed = (unsigned long long)s->seed;
    lgt_rng_init(&s->rng, s->seed);
    s->n = n;
    s->inflight = calloc(SIM_INFLIGHT_MAX, sizeof *s->inflight);
    cr_assert(s->inflight != NULL);
    s->pause_on_probe = SIM_NODES_MAX;
    s->delay_min_ms = 1;
    s->delay_max_ms = 20;
    s->now_ms = 1000;
    s->base.cluster = "ledger";
    s->base.probe_interval_ms = 1000;
    s->base.probe_timeout_ms = 500;
    s->base.indirect_probes = 3;
    s->base.suspicion_mult = 4;
    s->base.retransmit_mult = 4;
    s->base.sync_interval_ms = 30000;
    s->base.key = (const uint8_t *)"0123456789abcdef";
    s->base.key_len = 16;
    for (unsigned i = 0; i < SIM_NODES_MAX; i++) {
        s->nodes[i].sim = s;
        s->nodes[i].idx = i;
        snprintf(s->nodes[i].addr, sizeof s->nodes[i].addr, "10.0.0.%u:7946", i + 1u);
    }
    lg_log_setup(0, LG_LOG_WARN);
}

/* Start node i (id i + 1) now, joining through the given seed nodes. */
static void sim_start(struct sim *s, unsigned i, const unsigned *seeds, unsigned n_seeds)
{
    struct sim_node *node = &s->nodes[i];
    struct lg_swim_config cfg = s->base;
    char raft[LG_ADDR_BYTES_MAX];
    char client[LG_ADDR_BYTES_MAX];
    snprintf(raft, sizeof raft, "10.0.0.%u:7001", i + 1u);
    snprintf(client, sizeof client, "10.0.0.%u:7002", i + 1u);
    if (s->long_names) {
        /* Labels of 63, 63, 63 and 61 bytes: a 253-byte name, then ":6553N". */
        char label[64];
        memset(label, 'a', 63);
        label[63] = '\0';
        snprintf(node->addr, sizeof node->addr, "n%u%s.%s.%s.%s:65535", i % 10u,
                 label + 2, label, label, label + 2);
        snprintf(raft, sizeof raft, "r%u%s.%s.%s.%s:65534", i % 10u, label + 2, label,
                 label, label + 2);
        snprintf(client, sizeof client, "c%u%s.%s.%s.%s:65533", i % 10u, label + 2, label,
                 label, label + 2);
    }
    cfg.id = i + 1u;
    cfg.gossip_address = node->addr;
    cfg.raft_address = raft;
    cfg.client_address = client;
    cfg.version = "test";
    cfg.seed = s->seed * 31u + i;
    cfg.send = sim_send;
    cfg.send_arg = node;
    cfg.event = sim_event;
    cfg.event_arg = node;
    char errmsg[LG_ERRMSG_SIZE];
    CHECK(lg_swim_init(&node->core, &cfg, s->now_ms, errmsg) == LG_OK, "%s", errmsg);
    node->up = true;
    const char *addrs[LG_SWIM_SEEDS_MAX];
    for (unsigned k = 0; k < n_seeds; k++) {
        addrs[k] = s->nodes[seeds[k]].addr;
    }
    CHECK(lg_swim_join(node->core, addrs, n_seeds, s->now_ms) == LG_OK, "join");
}

/* All n nodes, each joining through node 0. */
static void sim_start_all(struct sim *s)
{
    unsigned seed = 0;
    for (unsigned i = 0; i < s->n; i++) {
        sim_start(s, i, &seed, i == 0 ? 0 : 1);
    }
}

static void sim_free(struct sim *s)
{
    for (unsigned i = 0; i < s->n; i++) {
        lg_swim_free(s->nodes[i].core);
    }
    free(s->inflight);
}

static void sim_step(struct sim *s)
{
    s->now_ms += SIM_STEP_MS;
    /* Deliver what is due (in queue order: deterministic), then tick every node. */
    unsigned i = 0;
    while (i < s->n_inflight) {
        struct sim_packet *p = &s->inflight[i];
        if (p->due_ms > s->now_ms) {
            i++;
            continue;
        }
        struct sim_packet pk = *p;
        *p = s->inflight[--s->n_inflight];
        struct sim_node *to = &s->nodes[pk.to];
        if (to->up && to->core != NULL) {
            lg_swim_receive(to->core, pk.from, pk.data, pk.len, s->now_ms);
        }
    }
    for (unsigned k = 0; k < s->n; k++) {
        if (s->nodes[k].up && s->nodes[k].core != NULL) {
            lg_swim_tick(s->nodes[k].core, s->now_ms);
        }
    }
}

static void sim_run(struct sim *s, uint64_t ms)
{
    for (uint64_t t = 0; t < ms; t += SIM_STEP_MS) {
        sim_step(s);
    }
}

/* Node i's view of member id (state 0 when unknown). */
static struct lg_disc_member view(const struct sim *s, unsigned i, uint64_t id)
{
    struct lg_disc_member m;
    memset(&m, 0, sizeof m);
    lg_swim_member(s->nodes[i].core, id, &m);
    return m;
}

/* Every up node (but `except`) sees member id in state. */
static bool all_see(const struct sim *s, uint64_t id, uint8_t state, unsigned except)
{
    for (unsigned i = 0; i < s->n; i++) {
        if (i != except && s->nodes[i].up && i + 1u != id && view(s, i, id).state != state) {
            return false;
        }
    }
    return true;
}

/* Every up node sees every other up node alive. */
static bool converged(const struct sim *s)
{
    for (unsigned j = 0; j < s->n; j++) {
        if (s->nodes[j].up && !all_see(s, j + 1u, LG_DISC_ALIVE, SIM_NODES_MAX)) {
            return false;
        }
    }
    return true;
}

/* Run until pred holds or limit_ms passes; returns the time it took (UINT64_MAX: never). */
static uint64_t run_until(struct sim *s, bool (*pred)(const struct sim *, const void *),
                          const void *arg, uint64_t limit_ms)
{
    uint64_t start = s->now_ms;
    while (s->now_ms - start <= limit_ms) {
        if (pred(s, arg)) {
            return s->now_ms - start;
        }
        sim_step(s);
    }
    return UINT64_MAX;
}

static bool pred_converged(const struct sim *s, const void *arg)
{
    (void)arg;
    return converged(s);
}

struct seen {
    uint64_t id;
    uint8_t state;
};

static bool pred_all_see(const struct sim *s, const void *arg)
{
    const struct seen *w = arg;
    return all_see(s, w->id, w->state, SIM_NODES_MAX);
}

static unsigned count_events(const struct sim *s, uint64_t id, enum lg_disc_event ev)
{
    unsigned n = 0;
    for (unsigned i = 0; i < s->n; i++) {
        n += s->nodes[i].events[id][ev];
    }
    return n;
}

TestSuite(swim, .timeout = 120);

Test(swim, converges_within_a_few_rounds)
{
    struct sim s;
    sim_init(&s, 8);
    sim_start_all(&s);
    /* Three probe rounds (measured: 0.6 to 2.1 s over 200 seeds). */
    uint64_t took = run_until(&s, pred_converged, NULL, 3000);
    CHECK(took <= 3000, "8 nodes joining through one seed did not converge in 3 s");
    cr_log_info("seed=%llu: 8 nodes converged in %llu ms", g_seed, (unsigned long long)took);
    for (unsigned i = 1; i <= 8; i++) {
        CHECK(count_events(&s, i, LG_DISC_EV_JOINED) == 7u, "node %u joined once each", i);
    }
    struct lg_disc_member m = view(&s, 5, 3);
    CHECK(strcmp(m.raft_address, "10.0.0.3:7001") == 0, "metadata: %s", m.raft_address);
    CHECK(strcmp(m.client_address, "10.0.0.3:7002") == 0, "metadata: %s", m.client_address);
    CHECK(strcmp(m.version, "test") == 0 && strcmp(m.cluster, "ledger") == 0, "metadata");
    struct lg_swim_stats st;
    lg_swim_stats(s.nodes[7].core, &st);
    CHECK(st.alive == 8u && st.suspect == 0 && st.dead == 0, "stats alive %u", st.alive);
    struct lg_disc_member list[SIM_NODES_MAX];
    CHECK(lg_swim_members(s.nodes[4].core, list, SIM_NODES_MAX) == 8u, "members");
    CHECK(list[0].id == 5u, "this node first");
    for (unsigned i = 2; i < 8; i++) {
        CHECK(list[i - 1].id < list[i].id, "then by id");
    }
    sim_free(&s);
}

/* Documented bound (docs/discovery.md): a stopped node is dead on every other node within
 * (n - 1) * I (until probed) + I (the probe) + S (suspicion) + 2 * I (dissemination):
 * 11 s for n = 5 at the defaults (I = 1 s, S = 4 s); and never before S. */
Test(swim, detects_a_stopped_node_within_the_bound)
{
    for (unsigned n = 3; n <= 5; n += 2) {
        struct sim s;
        sim_init(&s, n);
        sim_start_all(&s);
        CHECK(run_until(&s, pred_converged, NULL, 5000) != UINT64_MAX, "converge");
        sim_run(&s, 2000);
        s.nodes[n - 1].up = false;
        uint64_t suspicion = lg_swim_suspicion_ms(4, 1000, n);
        uint64_t bound = (n - 1u) * 1000u + 1000u + suspicion + 2000u;
        struct seen w = {n, LG_DISC_DEAD};
        uint64_t took = run_until(&s, pred_all_see, &w, bound);
        CHECK(took <= bound, "n=%u: not dead everywhere within %llu ms", n,
              (unsigned long long)bound);
        CHECK(took >= suspicion, "n=%u: dead after %llu ms, before the suspicion timeout", n,
              (unsigned long long)took);
        cr_log_info("seed=%llu: n=%u stopped node dead everywhere after %llu ms (bound %llu)",
                    g_seed, n, (unsigned long long)took, (unsigned long long)bound);
        CHECK(count_events(&s, n, LG_DISC_EV_DEAD) == n - 1u, "one dead event per node");
        for (unsigned j = 1; j < n; j++) {
            CHECK(all_see(&s, j, LG_DISC_ALIVE, n - 1u), "the others stay alive");
        }
        sim_free(&s);
    }
}

Test(swim, a_suspected_node_refutes_and_stays_alive)
{
    struct sim s;
    sim_init(&s, 5);
    sim_start_all(&s);
    CHECK(run_until(&s, pred_converged, NULL, 5000) != UINT64_MAX, "converge");
    sim_run(&s, 2000);
    uint64_t inc0 = view(&s, 0, 5).incarnation;
    /* Cut node 5 off long enough to be suspected, shorter than the suspicion timeout. */
    s.nodes[4].group = 1;
    struct seen w = {5, LG_DISC_SUSPECT};
    uint64_t start = s.now_ms;
    bool suspected = false;
    while (!suspected && s.now_ms - start < 4000) {
        sim_step(&s);
        for (unsigned i = 0; i < 4; i++) {
            suspected = suspected || view(&s, i, 5).state == LG_DISC_SUSPECT;
        }
    }
    (void)w;
    CHECK(suspected, "node 5 cut off was never suspected");
    s.nodes[4].group = 0;
    struct seen alive = {5, LG_DISC_ALIVE};
    CHECK(run_until(&s, pred_all_see, &alive, 5000) != UINT64_MAX, "not alive again");
    sim_run(&s, 10000);
    CHECK(all_see(&s, 5, LG_DISC_ALIVE, SIM_NODES_MAX), "alive for good");
    CHECK(count_events(&s, 5, LG_DISC_EV_DEAD) == 0, "never declared dead");
    CHECK(count_events(&s, 5, LG_DISC_EV_SUSPECT) >= 1u, "suspect events");
    CHECK(count_events(&s, 5, LG_DISC_EV_UPDATED) >= 1u, "back to alive is an update");
    for (unsigned i = 0; i < 4; i++) {
        CHECK(view(&s, i, 5).incarnation > inc0, "node %u: incarnation grew", i + 1u);
    }
    struct lg_disc_member me;
    lg_swim_member(s.nodes[4].core, 5, &me);
    CHECK(me.incarnation > inc0 && me.state == LG_DISC_ALIVE, "node 5 bumped itself");
    sim_free(&s);
}

/* A node that does not run for 3 s (its timers and socket frozen, as under SIGSTOP) is
 * suspected by the others and refutes once it runs again; it must not, on waking, suspect
 * the member it was probing (whose ack is waiting unread) nor anyone else. */
Test(swim, a_paused_node_suspects_nobody_on_waking)
{
    struct sim s;
    sim_init(&s, 5);
    sim_start_all(&s);
    CHECK(run_until(&s, pred_converged, NULL, 5000) != UINT64_MAX, "converge");
    for (unsigned round = 0; round < 10; round++) {
        /* Stop node 1 right after it sends a probe: packets to it are lost meanwhile. */
        s.pause_on_probe = 0;
        for (unsigned t = 0; t < 300 && s.nodes[0].up; t++) {
            sim_step(&s);
        }
        CHECK(!s.nodes[0].up, "node 1 sent no probe in 3 s");
        sim_run(&s, 3000);
        s.nodes[0].up = true;
        sim_run(&s, 8000);
    }
    for (unsigned id = 2; id <= 5; id++) {
        CHECK(s.nodes[0].events[id][LG_DISC_EV_SUSPECT] == 0, "node 1 suspected node %u "
              "after waking", id);
    }
    CHECK(count_events(&s, 1, LG_DISC_EV_SUSPECT) >= 1u, "the others suspected node 1");
    CHECK(count_events(&s, 1, LG_DISC_EV_DEAD) == 0, "and it refuted every time");
    CHECK(converged(&s), "all alive at the end");
    sim_free(&s);
}

Test(swim, no_false_death_under_ten_percent_loss, .timeout = 300)
{
    struct sim s;
    sim_init(&s, 8);
    s.loss_permille = 100;
    sim_start_all(&s);
    CHECK(run_until(&s, pred_converged, NULL, 15000) != UINT64_MAX, "converge under loss");
    sim_run(&s, 600000); /* ten simulated minutes */
    unsigned suspects = 0;
    for (unsigned id = 1; id <= 8; id++) {
        CHECK(count_events(&s, id, LG_DISC_EV_DEAD) == 0, "node %u falsely declared dead", id);
        suspects += count_events(&s, id, LG_DISC_EV_SUSPECT);
    }
    uint64_t lost = s.lost;
    uint64_t sent = s.sent;
    s.loss_permille = 0; /* a suspicion may be pending at the 10-minute mark */
    sim_run(&s, 10000);
    CHECK(converged(&s), "all alive at the end");
    for (unsigned id = 1; id <= 8; id++) {
        CHECK(count_events(&s, id, LG_DISC_EV_DEAD) == 0, "no death after the loss stopped");
    }
    s.lost = lost;
    s.sent = sent;
    cr_log_info("seed=%llu: 10 min at 10%% loss: %llu packets, %llu lost, %u suspicions "
                "refuted, no death", g_seed, (unsigned long long)s.sent,
                (unsigned long long)s.lost, suspects);
    CHECK(s.lost * 100u > s.sent * 8u, "the loss was applied");
    sim_free(&s);
}

Test(swim, graceful_leave)
{
    struct sim s;
    sim_init(&s, 5);
    sim_start_all(&s);
    CHECK(run_until(&s, pred_converged, NULL, 5000) != UINT64_MAX, "converge");
    lg_swim_leave(s.nodes[2].core, s.now_ms);
    struct seen w = {3, LG_DISC_LEFT};
    uint64_t took = run_until(&s, pred_all_see, &w, 1000);
    CHECK(took <= 100, "left seen everywhere within one packet delay, took %llu ms",
          (unsigned long long)took);
    sim_run(&s, 20000);
    CHECK(all_see(&s, 3, LG_DISC_LEFT, 2), "still left");
    CHECK(count_events(&s, 3, LG_DISC_EV_LEFT) == 4u, "one left event per node");
    CHECK(count_events(&s, 3, LG_DISC_EV_DEAD) == 0 &&
          count_events(&s, 3, LG_DISC_EV_SUSPECT) == 0, "a leaver is not suspected");
    struct lg_swim_stats st;
    lg_swim_stats(s.nodes[0].core, &st);
    CHECK(st.alive == 4u && st.left == 1u, "stats");
    sim_free(&s);
}

Test(swim, metadata_update_propagates)
{
    struct sim s;
    sim_init(&s, 6);
    sim_start_all(&s);
    CHECK(run_until(&s, pred_converged, NULL, 5000) != UINT64_MAX, "converge");
    CHECK(lg_swim_set_client_address(s.nodes[1].core, "node-2.example:9000", s.now_ms) ==
          LG_OK, "set");
    CHECK(lg_swim_set_client_address(s.nodes[1].core, "bad address", s.now_ms) == LG_EINVAL,
          "a bad address is refused");
    uint64_t start = s.now_ms;
    bool everywhere = false;
    while (!everywhere && s.now_ms - start < 5000) {
        sim_step(&s);
        everywhere = true;
        for (unsigned i = 0; i < 6; i++) {
            everywhere = everywhere && (i == 1 || strcmp(view(&s, i, 2).client_address,
                                                         "node-2.example:9000") == 0);
        }
    }
    CHECK(everywhere, "the new client address did not reach every node in 5 s");
    cr_log_info("seed=%llu: metadata update everywhere after %llu ms", g_seed,
                (unsigned long long)(s.now_ms - start));
    CHECK(count_events(&s, 2, LG_DISC_EV_UPDATED) == 5u, "one update event per node");
    sim_free(&s);
}

Test(swim, join_through_a_seed_retried_until_it_answers)
{
    struct sim s;
    sim_init(&s, 5);
    unsigned seed = 0;
    for (unsigned i = 0; i < 4; i++) {
        sim_start(&s, i, &seed, i == 0 ? 0 : 1);
    }
    s.n = 5; /* node 5 starts later, through node 3 */
    CHECK(run_until(&s, pred_converged, NULL, 5000) != UINT64_MAX, "converge");
    s.nodes[2].up = false; /* the seed is down when node 5 starts */
    unsigned via = 2;
    sim_start(&s, 4, &via, 1);
    sim_run(&s, 3000);
    CHECK(view(&s, 4, 1).state == 0, "no one answered yet");
    s.nodes[2].up = true;
    uint64_t took = run_until(&s, pred_converged, NULL, 5000);
    CHECK(took <= 5000, "node 5 did not join once its seed was back");
    CHECK(count_events(&s, 5, LG_DISC_EV_JOINED) == 4u, "everyone learnt of node 5");
    sim_free(&s);
}

/* A packet from a node with another key, another cluster name, or malformed bytes. */
Test(swim, bad_packets_are_dropped_and_counted)
{
    struct sim s;
    sim_init(&s, 3);
    sim_start_all(&s);
    CHECK(run_until(&s, pred_converged, NULL, 5000) != UINT64_MAX, "converge");
    struct lg_swim_stats before;
    lg_swim_stats(s.nodes[0].core, &before);
    CHECK(before.dropped_auth == 0 && before.dropped_cluster == 0 &&
          before.dropped_malformed == 0, "nothing dropped yet");
    /* Node 4 with another key, node 5 of another cluster: both join through node 1. */
    s.n = 5;
    unsigned seed = 0;
    s.base.key = (const uint8_t *)"another key";
    s.base.key_len = 11;
    sim_start(&s, 3, &seed, 1);
    s.base.key = (const uint8_t *)"0123456789abcdef";
    s.base.key_len = 16;
    s.base.cluster = "other";
    sim_start(&s, 4, &seed, 1);
    sim_run(&s, 5000);
    /* Malformed: garbage, a truncated packet, a packet too large. */
    static const uint8_t junk[] = {0x94, 0x01, 0xa6, 'l', 'e', 'd', 'g', 'e', 'r', 0xc4};
    lg_swim_receive(s.nodes[0].core, "10.0.0.9:1", junk, sizeof junk, s.now_ms);
    lg_swim_receive(s.nodes[0].core, "10.0.0.9:1", (const uint8_t *)"hello", 5, s.now_ms);
    static uint8_t big[LG_SWIM_PACKET_MAX + 1];
    lg_swim_receive(s.nodes[0].core, "10.0.0.9:1", big, sizeof big, s.now_ms);
    struct lg_swim_stats after;
    lg_swim_stats(s.nodes[0].core, &after);
    CHECK(after.dropped_auth >= 3u, "another key: dropped_auth %llu",
          (unsigned long long)after.dropped_auth);
    CHECK(after.dropped_cluster >= 3u, "another cluster: dropped_cluster %llu",
          (unsigned long long)after.dropped_cluster);
    CHECK(after.dropped_malformed == 3u, "malformed: %llu",
          (unsigned long long)after.dropped_malformed);
    CHECK(after.alive == 3u, "neither intruder was added (alive %u)", after.alive);
    CHECK(view(&s, 0, 4).state == 0 && view(&s, 0, 5).state == 0, "unknown to node 1");
    CHECK(view(&s, 3, 1).state == 0 && view(&s, 4, 1).state == 0, "and they know nobody");
    sim_free(&s);
}

/* A node started after one member died and another left learns of both (from its seed's
 * sync, where dead reads as suspect, or a piggybacked update): the dead one is added in
 * its reported state, probed, and dead here after the suspicion timeout; the left one is
 * left and never probed. Each is reported by its state's event, never as joined, with
 * state_since_ms when this node first heard. (Before: such records about an unknown id
 * were dropped, and the late node never had them in its table.) */
Test(swim, a_late_node_learns_of_dead_and_left_members)
{
    struct sim s;
    sim_init(&s, 5);
    s.n = 4; /* node 5 starts later */
    sim_start_all(&s);
    CHECK(run_until(&s, pred_converged, NULL, 5000) != UINT64_MAX, "converge");
    s.nodes[2].up = false; /* node 3 crashes */
    lg_swim_leave(s.nodes[1].core, s.now_ms); /* node 2 leaves (its packets are out) */
    s.nodes[1].up = false;
    struct seen dead = {3, LG_DISC_DEAD};
    CHECK(run_until(&s, pred_all_see, &dead, 15000) != UINT64_MAX, "node 3 dead");
    sim_run(&s, 40000); /* every update's piggyback budget spent, a push-pull round done */
    s.n = 5;
    unsigned seed = 0;
    uint64_t started = s.now_ms;
    sim_start(&s, 4, &seed, 1);
    const struct sim_node *late = &s.nodes[4];
    uint64_t limit = 1000u + 1000u + lg_swim_suspicion_ms(4, 1000, 4) + 3000u;
    while (view(&s, 4, 3).state != LG_DISC_DEAD && s.now_ms - started < limit) {
        sim_step(&s);
    }
    struct lg_disc_member m3 = view(&s, 4, 3);
    CHECK(m3.state == LG_DISC_DEAD, "node 5 sees node 3 %s, not dead, after %llu ms",
          lg_disc_state_name(m3.state), (unsigned long long)(s.now_ms - started));
    CHECK(m3.state_since_ms >= started, "since: when node 5 heard");
    CHECK(strcmp(m3.raft_address, "10.0.0.3:7001") == 0, "metadata: %s", m3.raft_address);
    CHECK(late->events[3][LG_DISC_EV_DEAD] == 1u, "one dead event");
    CHECK(late->events[3][LG_DISC_EV_JOINED] == 0u && late->events[3][LG_DISC_EV_UPDATED] == 0u,
          "a dead member is not reported joined");
    struct lg_disc_member m2 = view(&s, 4, 2);
    CHECK(m2.state == LG_DISC_LEFT, "node 5 sees node 2 %s", lg_disc_state_name(m2.state));
    CHECK(m2.state_since_ms >= started, "since: when node 5 heard");
    CHECK(late->events[2][LG_DISC_EV_LEFT] == 1u && late->events[2][LG_DISC_EV_JOINED] == 0u,
          "node 2: one left event, no joined");
    sim_run(&s, 40000);
    CHECK(view(&s, 4, 3).state == LG_DISC_DEAD && view(&s, 4, 2).state == LG_DISC_LEFT,
          "still dead and left");
    CHECK(late->events[2][LG_DISC_EV_SUSPECT] == 0u && late->events[2][LG_DISC_EV_DEAD] == 0u,
          "a left member is not probed (never suspected)");
    CHECK(view(&s, 4, 1).state == LG_DISC_ALIVE && view(&s, 4, 4).state == LG_DISC_ALIVE &&
          view(&s, 0, 5).state == LG_DISC_ALIVE, "the live ones meet as usual");
    struct lg_swim_stats st;
    lg_swim_stats(late->core, &st);
    CHECK(st.alive == 3u && st.dead == 1u && st.left == 1u, "stats %u/%u/%u", st.alive,
          st.dead, st.left);
    sim_free(&s);
}

/* A hand-made body builder (msgpack): a map of type, from (seq 0 for an ack) and updates. */
struct hand {
    uint8_t b[LG_SWIM_PACKET_MAX];
    size_t len;
};

static void h_byte(struct hand *h, unsigned v)
{
    cr_assert(h->len < sizeof h->b);
    h->b[h->len++] = (uint8_t)v;
}

static void h_str(struct hand *h, const char *str)
{
    size_t n = strlen(str);
    cr_assert(n <= 31);
    h_byte(h, 0xa0u | (unsigned)n);
    for (size_t i = 0; i < n; i++) {
        h_byte(h, (unsigned char)str[i]);
    }
}

static void h_u64(struct hand *h, uint64_t v)
{
    h_byte(h, 0xcf);
    for (int sh = 56; sh >= 0; sh -= 8) {
        h_byte(h, (unsigned)(v >> sh) & 0xffu);
    }
}

static void make_ack(struct hand *h, uint64_t from, const struct lg_swim_record *recs,
                     unsigned n)
{
    h->len = 0;
    h_byte(h, 0x84);
    h_str(h, "type");
    h_str(h, "ack");
    h_str(h, "from");
    h_u64(h, from);
    h_str(h, "seq");
    h_byte(h, 0);
    h_str(h, "updates");
    cr_assert(n <= 15);
    h_byte(h, 0x90u | n);
    for (unsigned i = 0; i < n; i++) {
        h_byte(h, 0x97);
        h_u64(h, recs[i].id);
        h_u64(h, recs[i].incarnation);
        h_byte(h, recs[i].state);
        h_str(h, recs[i].gossip_address);
        h_str(h, recs[i].raft_address);
        h_str(h, recs[i].client_address);
        h_str(h, recs[i].version);
    }
}

static struct lg_swim_record rec_of(uint64_t id, uint64_t inc, uint8_t state)
{
    struct lg_swim_record r;
    memset(&r, 0, sizeof r);
    r.id = id;
    r.incarnation = inc;
    r.state = state;
    snprintf(r.gossip_address, sizeof r.gossip_address, "10.1.%u.%u:1",
             (unsigned)(id / 250u % 250u), (unsigned)(id % 250u));
    return r;
}

/* Deliver a hand-made ack from id 2 holding recs to core, under the sim's key. */
static void deliver(const struct sim *s, struct lg_swim *core,
                    const struct lg_swim_record *recs, unsigned n)
{
    static struct hand h;
    uint8_t pkt[LG_SWIM_PACKET_MAX];
    make_ack(&h, 2, recs, n);
    size_t len = lg_swim_envelope_encode(h.b, h.len, "ledger", s->base.key, s->base.key_len,
                                         pkt, sizeof pkt);
    cr_assert(len > 0);
    lg_swim_receive(core, "10.1.0.2:1", pkt, len, s->now_ms);
}

/* Incarnations above LG_SWIM_INCARNATION_MAX are malformed, and this node's own never goes
 * past it: a forged dead record at 2^64 - 1 no longer wraps the refutation to 0 (after
 * which the node could never refute). */
Test(swim, incarnations_above_the_bound_are_refused)
{
    struct sim s;
    sim_init(&s, 1);
    sim_start_all(&s);
    struct lg_swim *core = s.nodes[0].core;
    static struct hand h;
    static struct lg_swim_msg msg;
    struct lg_swim_record r = rec_of(1, LG_SWIM_INCARNATION_MAX + 1u, LG_DISC_DEAD);
    make_ack(&h, 2, &r, 1);
    CHECK(lg_swim_body_decode(h.b, h.len, &msg) == LG_EBADREQ, "above the bound: malformed");
    r.incarnation = LG_SWIM_INCARNATION_MAX;
    make_ack(&h, 2, &r, 1);
    CHECK(lg_swim_body_decode(h.b, h.len, &msg) == LG_OK, "at the bound: accepted");
    /* Dead at 2^64 - 1 and 2^64 - 2 about this node: dropped, counted, nothing refuted. */
    struct lg_swim_record forged[2] = {rec_of(1, UINT64_MAX, LG_DISC_DEAD),
                                       rec_of(1, UINT64_MAX - 1u, LG_DISC_DEAD)};
    deliver(&s, core, &forged[0], 1);
    deliver(&s, core, &forged[1], 1);
    struct lg_swim_stats st;
    lg_swim_stats(core, &st);
    CHECK(st.dropped_malformed == 2u, "dropped_malformed %llu",
          (unsigned long long)st.dropped_malformed);
    struct lg_disc_member me = view(&s, 0, 1);
    CHECK(me.incarnation == 0u && me.state == LG_DISC_ALIVE, "incarnation %llu",
          (unsigned long long)me.incarnation);
    /* Suspected just below the bound: refuted at the bound. At it: stays there. */
    r = rec_of(1, LG_SWIM_INCARNATION_MAX - 1u, LG_DISC_SUSPECT);
    deliver(&s, core, &r, 1);
    CHECK(view(&s, 0, 1).incarnation == LG_SWIM_INCARNATION_MAX, "refuted at the bound");
    r.incarnation = LG_SWIM_INCARNATION_MAX;
    deliver(&s, core, &r, 1);
    CHECK(view(&s, 0, 1).incarnation == LG_SWIM_INCARNATION_MAX, "never past it (refute)");
    CHECK(lg_swim_set_client_address(core, "10.0.0.1:7003", s.now_ms) == LG_OK, "set");
    CHECK(view(&s, 0, 1).incarnation == LG_SWIM_INCARNATION_MAX, "never past it (metadata)");
    lg_swim_leave(core, s.now_ms);
    me = view(&s, 0, 1);
    CHECK(me.incarnation == LG_SWIM_INCARNATION_MAX && me.state == LG_DISC_LEFT,
          "never past it (leave)");
    sim_free(&s);
}

/* Records of unknown dead members never grow the table past LG_SWIM_MEMBERS_MAX: they take
 * free slots, then the slots of the longest dead or left; live members are never evicted. */
Test(swim, unknown_dead_members_keep_the_table_bound)
{
    struct sim s;
    sim_init(&s, 1);
    sim_start_all(&s);
    struct lg_swim *core = s.nodes[0].core;
    struct lg_swim_record r = rec_of(2, 0, LG_DISC_ALIVE);
    deliver(&s, core, &r, 1);
    struct lg_swim_record recs[15];
    uint64_t id = 1000;
    for (unsigned pk = 0; pk < 30; pk++) { /* 450 dead ids, one packet per 10 ms */
        for (unsigned k = 0; k < 15; k++) {
            recs[k] = rec_of(id++, 7, LG_DISC_DEAD);
        }
        deliver(&s, core, recs, 15);
        s.now_ms += 10;
    }
    struct lg_swim_stats st;
    lg_swim_stats(core, &st);
    CHECK(st.alive == 2u && st.dead == LG_SWIM_MEMBERS_MAX - 2u, "alive %u dead %u",
          st.alive, st.dead);
    CHECK(view(&s, 0, 2).state == LG_DISC_ALIVE, "the live member kept");
    CHECK(view(&s, 0, id - 1u).state == LG_DISC_DEAD, "the newest dead one added");
    CHECK(view(&s, 0, 1000).state == 0, "the oldest dead one reclaimed");
    CHECK(view(&s, 0, id - 1u).incarnation == 7u, "in its reported incarnation");
    sim_free(&s);
}

/* The codec: bodies under the right key, mutated byte by byte, never crash the core and
 * never add a member with bad fields; the envelope refuses a flipped tag bit. */
Test(swim, mutated_packets_never_crash)
{
    struct sim s;
    sim_init(&s, 4);
    sim_start_all(&s);
    CHECK(run_until(&s, pred_converged, NULL, 5000) != UINT64_MAX, "converge");
    /* Take the real packets in flight after each step, check their envelope, then mutate
     * one byte of the body (and sometimes cut it), re-wrap it under the key and deliver. */
    uint8_t body[LG_SWIM_PACKET_MAX];
    uint8_t pkt[LG_SWIM_PACKET_MAX];
    const uint8_t *key = s.base.key;
    unsigned mutations = 0;
    for (unsigned round = 0; round < 6000; round++) {
        sim_step(&s);
        unsigned n0 = s.n_inflight; /* receiving may send more */
        for (unsigned k = 0; k < n0; k++) {
            const struct sim_packet *p = &s.inflight[k];
            const uint8_t *b = NULL;
            size_t blen = 0;
            CHECK(lg_swim_envelope_decode(p->data, p->len, "ledger", key, 16, &b, &blen) ==
                  LG_SWIM_KEEP, "a packet in flight decodes");
            CHECK(lg_swim_envelope_decode(p->data, p->len, "ledgex", key, 16, &b, &blen) ==
                  LG_SWIM_DROP_CLUSTER, "cluster checked");
            uint8_t flipped[LG_SWIM_PACKET_MAX];
            memcpy(flipped, p->data, p->len);
            flipped[p->len - 1] ^= 1;
            CHECK(lg_swim_envelope_decode(flipped, p->len, "ledger", key, 16, &b, &blen) ==
                  LG_SWIM_DROP_AUTH, "a flipped tag bit");
            memcpy(body, b, blen);
            size_t at = (size_t)lgt_rng_below(&s.rng, blen);
            body[at] = (uint8_t)lgt_rng_next(&s.rng);
            size_t cut = lgt_rng_below(&s.rng, 4) == 0 ? (size_t)lgt_rng_below(&s.rng, blen) + 1
                                                       : blen;
            size_t len = lg_swim_envelope_encode(body, cut, "ledger", key, 16, pkt, sizeof pkt);
            CHECK(len > 0, "re-wrap");
            struct lg_swim *to = s.nodes[(k + round) % 4].core;
            lg_swim_receive(to, "10.0.0.7:7", pkt, len, s.now_ms);
            mutations++;
            /* Right after: every member the receiver holds is sane (the protocol heals a
             * wrong state soon, so looking only at the end would hide a bad one). */
            struct lg_disc_member ms[LG_SWIM_MEMBERS_MAX];
            uint32_t nm = lg_swim_members(to, ms, LG_SWIM_MEMBERS_MAX);
            for (uint32_t i = 0; i < nm; i++) {
                CHECK(ms[i].id >= 1 && ms[i].state >= LG_DISC_ALIVE &&
                      ms[i].state <= LG_DISC_LEFT && ms[i].gossip_address[0] != '\0',
                      "member %llu state %u after a mutated packet",
                      (unsigned long long)ms[i].id, ms[i].state);
            }
        }
    }
    CHECK(mutations > 500u, "mutations %u", mutations);
    sim_free(&s);
}

/* Records of the longest addresses (3 x 253-byte names, 5-digit ports) and ping_req naming
 * one: every packet still fits 1400 bytes (sim_send checks), one record per packet at
 * worst, and the cluster converges and detects, under loss (indirect probes). */
Test(swim, longest_addresses_fit_a_packet, .timeout = 120)
{
    struct sim s;
    sim_init(&s, 6);
    s.long_names = true;
    s.loss_permille = 200;
    sim_start_all(&s);
    CHECK(strlen(s.nodes[0].addr) == 253u + 6u, "name length %zu", strlen(s.nodes[0].addr));
    CHECK(run_until(&s, pred_converged, NULL, 30000) != UINT64_MAX, "converge");
    s.nodes[5].up = false;
    struct seen w = {6, LG_DISC_DEAD};
    CHECK(run_until(&s, pred_all_see, &w, 30000) != UINT64_MAX, "detect");
    struct lg_disc_member m = view(&s, 1, 3);
    CHECK(strlen(m.client_address) == 253u + 6u, "metadata kept whole");
    sim_free(&s);
}

Test(swim, partition_then_heal_converges, .timeout = 300)
{
    struct sim s;
    sim_init(&s, 6);
    s.base.sync_interval_ms = 5000;
    sim_start_all(&s);
    CHECK(run_until(&s, pred_converged, NULL, 5000) != UINT64_MAX, "converge");
    for (unsigned i = 3; i < 6; i++) {
        s.nodes[i].group = 1;
    }
    sim_run(&s, 30000);
    for (unsigned i = 0; i < 3; i++) {
        for (uint64_t id = 4; id <= 6; id++) {
            CHECK(view(&s, i, id).state == LG_DISC_DEAD, "node %u sees %llu dead", i + 1u,
                  (unsigned long long)id);
            CHECK(view(&s, (unsigned)id - 1u, i + 1u).state == LG_DISC_DEAD, "and the reverse");
        }
    }
    for (unsigned i = 3; i < 6; i++) {
        s.nodes[i].group = 0;
    }
    uint64_t took = run_until(&s, pred_converged, NULL, 30000);
    CHECK(took <= 30000, "not converged 30 s after the heal");
    cr_log_info("seed=%llu: 3|3 partition healed, converged after %llu ms", g_seed,
                (unsigned long long)took);
    sim_free(&s);
}

Test(swim, config_is_checked)
{
    struct lg_swim_config cfg;
    memset(&cfg, 0, sizeof cfg);
    char errmsg[LG_ERRMSG_SIZE];
    struct lg_swim *core = NULL;
    cfg.id = 1;
    cfg.cluster = "ledger";
    cfg.gossip_address = "127.0.0.1:7946";
    cfg.probe_interval_ms = 1000;
    cfg.probe_timeout_ms = 500;
    cfg.indirect_probes = 3;
    cfg.suspicion_mult = 4;
    cfg.retransmit_mult = 4;
    cfg.sync_interval_ms = 30000;
    cfg.send = sim_send;
    cr_assert_eq(lg_swim_init(&core, &cfg, 0, errmsg), LG_OK, "%s", errmsg);
    lg_swim_free(core);
    struct lg_swim_config bad = cfg;
    bad.cluster = "bad name";
    cr_assert_eq(lg_swim_init(&core, &bad, 0, errmsg), LG_EINVAL);
    cr_assert(strstr(errmsg, "cluster") != NULL, "%s", errmsg);
    bad = cfg;
    bad.probe_timeout_ms = 1000;
    cr_assert_eq(lg_swim_init(&core, &bad, 0, errmsg), LG_EINVAL);
    bad = cfg;
    bad.gossip_address = "nope";
    cr_assert_eq(lg_swim_init(&core, &bad, 0, errmsg), LG_EINVAL);
    bad = cfg;
    bad.id = 0;
    cr_assert_eq(lg_swim_init(&core, &bad, 0, errmsg), LG_EINVAL);
    cr_assert_null(core);
    cr_assert_eq(lg_swim_suspicion_ms(4, 1000, 5), 4000u);
    cr_assert_eq(lg_swim_suspicion_ms(4, 1000, 100), 8000u);
}
