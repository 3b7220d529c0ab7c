/* test_gossip: the libuv binding (discovery/gossip.c) on one loop, over loopback UDP.
 *
 * Goal: two lg_gossip instances meet through a seed given as a DNS name (resolved
 * asynchronously), deliver events to their subscribers, and a graceful close sends
 * `leave` (the other sees left at once) and releases every handle (the loop closes
 * cleanly); a port already bound fails with LG_EIO and leaks nothing; bad configurations
 * are refused. Method: ports chosen by the kernel (bind 127.0.0.1:0), short probe
 * intervals, the loop run in slices until a condition holds (bounded). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "../../../discovery/gossip.h"
#include "../../../lib/err.h"
#include "../../../lib/log.h"

struct sub {
    unsigned events[6];
    uint64_t last_id;
};

static void on_event(void *arg, enum lg_disc_event ev, const struct lg_disc_member *m)
{
    struct sub *s = arg;
    cr_assert(ev >= LG_DISC_EV_JOINED && ev <= LG_DISC_EV_LEFT);
    s->events[ev]++;
    s->last_id = m->id;
}

static void config(struct lg_gossip_config *cfg, uint64_t id, const char *const *seeds,
                   uint32_t n_seeds)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->id = id;
    cfg->bind = "127.0.0.1:0";
    cfg->raft_address = "127.0.0.1:7001";
    cfg->client_address = "127.0.0.1:7002";
    cfg->seeds = seeds;
    cfg->n_seeds = n_seeds;
    cfg->key = (const uint8_t *)"k";
    cfg->key_len = 1;
    cfg->probe_interval_ms = 100;
    cfg->probe_timeout_ms = 50;
    cfg->seed = id;
}

/* Run the loop until cond(arg) or timeout_ms; returns cond's last value. */
static bool run_until(uv_loop_t *loop, bool (*cond)(void *), void *arg, uint64_t timeout_ms)
{
    uint64_t start = uv_now(loop);
    while (!cond(arg) && uv_now(loop) - start < timeout_ms) {
        uv_run(loop, UV_RUN_ONCE);
        uv_update_time(loop);
    }
    return cond(arg);
}

struct pair {
    struct lg_gossip *a;
    struct lg_gossip *b;
    struct sub sa;
    struct sub sb;
    int closed;
};

static bool both_know_both(void *arg)
{
    struct pair *p = arg;
    struct lg_gossip_stats x;
    struct lg_gossip_stats y;
    lg_gossip_stats(p->a, &x);
    lg_gossip_stats(p->b, &y);
    return x.alive == 2 && y.alive == 2;
}

static bool a_saw_leave(void *arg)
{
    struct pair *p = arg;
    return p->sa.events[LG_DISC_EV_LEFT] == 1;
}

static bool two_closed(void *arg)
{
    return ((struct pair *)arg)->closed == 2;
}

static void closed(struct lg_gossip *g, void *arg)
{
    (void)g;
    ((struct pair *)arg)->closed++;
}

Test(gossip, two_nodes_meet_through_a_dns_seed_and_leave, .timeout = 30)
{
    lg_log_setup(0, LG_LOG_WARN);
    uv_loop_t loop;
    cr_assert_eq(uv_loop_init(&loop), 0);
    struct pair p;
    memset(&p, 0, sizeof p);
    char errmsg[LG_ERRMSG_SIZE];
    struct lg_gossip_config cfg;
    config(&cfg, 1, NULL, 0);
    cr_assert_eq(lg_gossip_start(&p.a, &loop, &cfg, errmsg), LG_OK, "%s", errmsg);
    cr_assert_eq(lg_gossip_subscribe(p.a, on_event, &p.sa), LG_OK);
    struct lg_disc_member me;
    cr_assert_eq(lg_gossip_members(p.a, &me, 1), 1u);
    const char *colon = strrchr(me.gossip_address, ':');
    cr_assert(colon != NULL && strcmp(colon, ":0") != 0, "advertised %s", me.gossip_address);
    cr_assert_str_eq(me.cluster, "ledger");
    char seed[64];
    snprintf(seed, sizeof seed, "localhost%s", colon); /* a name: resolved asynchronously */
    const char *seeds[] = {seed};
    config(&cfg, 2, seeds, 1);
    cr_assert_eq(lg_gossip_start(&p.b, &loop, &cfg, errmsg), LG_OK, "%s", errmsg);
    cr_assert_eq(lg_gossip_subscribe(p.b, on_event, &p.sb), LG_OK);
    cr_assert(run_until(&loop, both_know_both, &p, 5000), "they never met");
    cr_assert_eq(p.sa.events[LG_DISC_EV_JOINED], 1u);
    cr_assert_eq(p.sb.events[LG_DISC_EV_JOINED], 1u);
    cr_assert_eq(p.sa.last_id, 2u);
    struct lg_disc_member list[4];
    cr_assert_eq(lg_gossip_members(p.b, list, 4), 2u);
    cr_assert_eq(list[0].id, 2u, "this node first");
    cr_assert_str_eq(list[1].client_address, "127.0.0.1:7002");
    lg_gossip_close(p.b, true, closed, &p);
    cr_assert(run_until(&loop, a_saw_leave, &p, 2000), "node 1 did not see the leave");
    cr_assert_eq(p.sa.events[LG_DISC_EV_DEAD], 0u);
    cr_assert_eq(p.sa.events[LG_DISC_EV_SUSPECT], 0u);
    lg_gossip_close(p.a, false, closed, &p);
    cr_assert(run_until(&loop, two_closed, &p, 2000), "close callbacks");
    lg_gossip_free(p.a);
    lg_gossip_free(p.b);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&loop), 0, "a handle is still open");
}

Test(gossip, a_bound_port_fails_cleanly, .timeout = 30)
{
    lg_log_setup(0, LG_LOG_ERROR);
    uv_loop_t loop;
    cr_assert_eq(uv_loop_init(&loop), 0);
    char errmsg[LG_ERRMSG_SIZE];
    struct lg_gossip_config cfg;
    config(&cfg, 1, NULL, 0);
    struct lg_gossip *a = NULL;
    cr_assert_eq(lg_gossip_start(&a, &loop, &cfg, errmsg), LG_OK, "%s", errmsg);
    struct lg_disc_member me;
    lg_gossip_members(a, &me, 1);
    config(&cfg, 2, NULL, 0);
    cfg.bind = me.gossip_address;
    struct lg_gossip *b = NULL;
    cr_assert_eq(lg_gossip_start(&b, &loop, &cfg, errmsg), LG_EIO);
    cr_assert_null(b);
    cr_assert(strstr(errmsg, me.gossip_address) != NULL, "%s", errmsg);
    struct pair p;
    memset(&p, 0, sizeof p);
    lg_gossip_close(a, true, closed, &p);
    uv_run(&loop, UV_RUN_DEFAULT); /* closes the failed start's handles too */
    cr_assert_eq(p.closed, 1);
    lg_gossip_free(a);
    cr_assert_eq(uv_loop_close(&loop), 0, "a handle is still open");
}

Test(gossip, bad_configurations_are_refused)
{
    lg_log_setup(0, LG_LOG_ERROR);
    uv_loop_t loop;
    cr_assert_eq(uv_loop_init(&loop), 0);
    char errmsg[LG_ERRMSG_SIZE];
    struct lg_gossip_config cfg;
    struct lg_gossip *g = NULL;
    const char *seeds[LG_GOSSIP_SEEDS_MAX + 1];
    for (unsigned i = 0; i <= LG_GOSSIP_SEEDS_MAX; i++) {
        seeds[i] = "127.0.0.1:1";
    }
    config(&cfg, 1, seeds, LG_GOSSIP_SEEDS_MAX + 1u);
    cr_assert_eq(lg_gossip_start(&g, &loop, &cfg, errmsg), LG_EINVAL);
    config(&cfg, 1, NULL, 0);
    cfg.key_len = 0;
    cr_assert_eq(lg_gossip_start(&g, &loop, &cfg, errmsg), LG_EINVAL);
    config(&cfg, 1, NULL, 0);
    cfg.bind = "no port";
    cr_assert_eq(lg_gossip_start(&g, &loop, &cfg, errmsg), LG_EINVAL);
    config(&cfg, 1, NULL, 0);
    cfg.cluster = "bad cluster";
    cr_assert_eq(lg_gossip_start(&g, &loop, &cfg, errmsg), LG_EINVAL);
    cr_assert(strstr(errmsg, "cluster") != NULL, "%s", errmsg);
    const char *bad_seed[] = {"nope"};
    config(&cfg, 1, bad_seed, 1);
    cr_assert_eq(lg_gossip_start(&g, &loop, &cfg, errmsg), LG_EINVAL);
    cr_assert_null(g);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&loop), 0, "a handle is still open");
}
