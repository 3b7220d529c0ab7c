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
#include <unistd.h>
#include <uv.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

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

/* stderr (where lg_log writes) captured in a temporary file between capture_start and
 * capture_end, which returns what was written (static; at most 64 KiB). */
static int saved_stderr = -1;
static FILE *captured;

static void capture_start(void)
{
    fflush(stderr);
    captured = tmpfile();
    cr_assert_not_null(captured);
    saved_stderr = dup(STDERR_FILENO);
    cr_assert(saved_stderr >= 0 && dup2(fileno(captured), STDERR_FILENO) >= 0);
}

static const char *capture_end(void)
{
    static char text[65536];
    fflush(stderr);
    cr_assert(dup2(saved_stderr, STDERR_FILENO) >= 0);
    close(saved_stderr);
    rewind(captured);
    size_t n = fread(text, 1, sizeof text - 1u, captured);
    text[n] = '\0';
    fclose(captured);
    fputs(text, stderr); /* still shown */
    return text;
}

/* Thread pool work that waits until released: the pool's threads are all busy, so a
 * lookup queued after them is still queued when it is cancelled. */
static uv_sem_t pool_gate;

static void blocked_work(uv_work_t *w)
{
    (void)w;
    uv_sem_wait(&pool_gate);
}

static void blocked_done(uv_work_t *w, int status)
{
    (void)w;
    (void)status;
}

static bool one_closed(void *arg)
{
    return ((struct pair *)arg)->closed == 1;
}

/* A close while a name lookup is queued cancels it; libuv then reports UV_EAI_CANCELED
 * (not UV_ECANCELED), which is no resolution failure: nothing is logged. */
Test(gossip, a_close_with_a_lookup_pending_logs_no_failure, .timeout = 30)
{
    lg_log_setup(0, LG_LOG_WARN);
    uv_loop_t loop;
    cr_assert_eq(uv_loop_init(&loop), 0);
    cr_assert_eq(uv_sem_init(&pool_gate, 0), 0);
    uv_work_t blockers[128]; /* the pool has at most 128 threads (libuv) */
    const char *env = getenv("UV_THREADPOOL_SIZE");
    unsigned n_block = env != NULL && atoi(env) > 4 ? (unsigned)atoi(env) : 4u;
    n_block = n_block > 128u ? 128u : n_block;
    for (unsigned i = 0; i < n_block; i++) {
        cr_assert_eq(uv_queue_work(&loop, &blockers[i], blocked_work, blocked_done), 0);
    }
    const char *seeds[] = {"localhost:9"}; /* a name: its lookup goes to the pool */
    struct lg_gossip_config cfg;
    config(&cfg, 1, seeds, 1);
    struct pair p;
    memset(&p, 0, sizeof p);
    char errmsg[LG_ERRMSG_SIZE];
    capture_start();
    cr_assert_eq(lg_gossip_start(&p.a, &loop, &cfg, errmsg), LG_OK, "%s", errmsg);
    lg_gossip_close(p.a, false, closed, &p); /* the join's lookup is queued: cancelled */
    for (unsigned i = 0; i < n_block; i++) {
        uv_sem_post(&pool_gate);
    }
    bool done = run_until(&loop, one_closed, &p, 5000);
    uv_run(&loop, UV_RUN_DEFAULT);
    const char *log = capture_end();
    cr_assert(done, "close callback");
    cr_assert(strstr(log, "gossip_resolve_failed") == NULL, "a cancelled lookup logged as "
              "failed:\n%s", log);
    lg_gossip_free(p.a);
    cr_assert_eq(uv_loop_close(&loop), 0, "a handle is still open");
    uv_sem_destroy(&pool_gate);
}

/* A name uv_getaddrinfo refuses at once (not valid UTF-8: no IDNA form): the failure is
 * logged, and the packet that waited for it is freed then, not overwritten by the next
 * send to that name (a leak; the sanitizer build checks for leaks here). */
Test(gossip, a_lookup_failing_at_once_is_logged_and_leaks_nothing, .timeout = 30)
{
    lg_log_setup(0, LG_LOG_WARN);
    uv_loop_t loop;
    cr_assert_eq(uv_loop_init(&loop), 0);
    const char *seeds[] = {"\xff\xfe:9"};
    struct lg_gossip_config cfg;
    config(&cfg, 1, seeds, 1);
    struct pair p;
    memset(&p, 0, sizeof p);
    char errmsg[LG_ERRMSG_SIZE];
    capture_start();
    cr_assert_eq(lg_gossip_start(&p.a, &loop, &cfg, errmsg), LG_OK, "%s", errmsg);
    /* Joins are retried every 100 ms; the name again after each 1 s failure backoff. */
    uv_update_time(&loop);
    uint64_t start = uv_now(&loop);
    while (uv_now(&loop) - start < 2500u) {
        uv_run(&loop, UV_RUN_ONCE);
        uv_update_time(&loop);
    }
    lg_gossip_close(p.a, false, closed, &p);
    bool done = run_until(&loop, one_closed, &p, 2000);
    const char *log = capture_end();
    cr_assert(done, "close callback");
    const char *hit = strstr(log, "gossip_resolve_failed");
    cr_assert(hit != NULL && strstr(hit + 1, "gossip_resolve_failed") != NULL,
              "each failure logged (two at least in 2.5 s):\n%s", log);
    lg_gossip_free(p.a);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&loop), 0, "a handle is still open");
#if defined(__SANITIZE_ADDRESS__)
    cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "a packet waiting for a lookup "
                 "leaked");
#endif
}
