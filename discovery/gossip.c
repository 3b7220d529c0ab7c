/* gossip: the libuv binding of the SWIM core (see gossip.h; docs/discovery.md).
 *
 * One UDP socket, one timer ticking the core, and a small cache of resolved gossip
 * addresses: IPv4 and IPv6 literals are used as they are; a DNS name is resolved with
 * uv_getaddrinfo (the thread pool, never blocking the loop), the packet that asked for it
 * waits for the answer, and the name is resolved again every LG_GOSSIP_RESOLVE_TTL_MS
 * (in Kubernetes a pod's IP changes when it is rescheduled) while the old address keeps
 * being used. Packets go out with uv_udp_try_send: a datagram the kernel cannot take at
 * once is dropped, as the network may drop it anyway (counted). */
#include "gossip.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/addr.h"
#include "../lib/assert.h"
#include "../lib/err.h"
#include "../lib/log.h"
#include "swim.h"

#ifndef LG_DISC_BUILD_VERSION
#define LG_DISC_BUILD_VERSION "dev"
#endif

/* DNS names resolved and kept at once (members' and seeds' gossip addresses). */
#define GOSSIP_NAMES_MAX 64u
/* A resolved name is resolved again after this long. */
#define LG_GOSSIP_RESOLVE_TTL_MS 30000u
/* A name that failed to resolve is tried again after this long. */
#define GOSSIP_RESOLVE_RETRY_MS 1000u
#define GOSSIP_SUBSCRIBERS_MAX 4u
/* Receive buffer: larger than any packet of ours, so a larger datagram is seen as such. */
#define GOSSIP_RECV_BYTES 2048u

LG_STATIC_ASSERT(GOSSIP_RECV_BYTES > LG_SWIM_PACKET_MAX, "oversized datagrams detected");
LG_STATIC_ASSERT(LG_GOSSIP_SEEDS_MAX <= LG_SWIM_SEEDS_MAX, "seeds fit the core");

struct gossip_name {
    struct lg_gossip *g;
    bool used;
    bool resolving; /* req in flight */
    bool resolved;  /* sa holds an address */
    char name[LG_ADDR_BYTES_MAX];
    struct sockaddr_storage sa;
    uint64_t resolved_ms; /* when sa was set, or when resolution last failed */
    uv_getaddrinfo_t req;
    uint8_t *pending; /* one packet waiting for the first resolution (malloc) */
    size_t pending_len;
};

struct gossip_sub {
    lg_disc_event_cb cb;
    void *arg;
};

struct lg_gossip {
    uv_loop_t *loop;
    uv_udp_t udp;
    uv_timer_t timer;
    struct lg_swim *swim;
    int family; /* of the bound socket */
    struct gossip_sub subs[GOSSIP_SUBSCRIBERS_MAX];
    unsigned n_subs;
    struct gossip_name names[GOSSIP_NAMES_MAX];
    unsigned open;     /* handles not yet closed, requests not yet returned */
    bool closing;
    bool free_when_closed; /* a failed start: freed when the handles are closed */
    lg_gossip_close_cb close_cb;
    void *close_arg;
    uint64_t dropped_oversize; /* datagrams too large to be ours */
    uint64_t send_failed;
    uint8_t rbuf[GOSSIP_RECV_BYTES];
};

/* ---- sending ---------------------------------------------------------------------------- */

static void try_send(struct lg_gossip *g, const struct sockaddr *sa, const uint8_t *packet,
                     size_t len)
{
    uv_buf_t b = uv_buf_init((char *)(uintptr_t)packet, (unsigned)len);
    int rc = uv_udp_try_send(&g->udp, &b, 1, sa);
    if (rc < 0) {
        g->send_failed++;
        if (g->send_failed == 1 || g->send_failed % 1000u == 0) {
            lg_log(LG_LOG_DEBUG, "gossip_send_failed", "error=%s count=%llu",
                   uv_err_name(rc), (unsigned long long)g->send_failed);
        }
    }
}

static void maybe_closed(struct lg_gossip *g)
{
    if (g->closing && g->open == 0 && g->close_cb != NULL) {
        lg_gossip_close_cb cb = g->close_cb;
        g->close_cb = NULL;
        cb(g, g->close_arg);
    }
}

/* Prefer an address of the socket's family. */
static const struct addrinfo *pick(const struct addrinfo *ai, int family)
{
    const struct addrinfo *first = NULL;
    for (unsigned i = 0; ai != NULL && i < 64; ai = ai->ai_next, i++) {
        if (ai->ai_family == family) {
            return ai;
        }
        first = first != NULL ? first : ai;
    }
    return first;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct gossip_name *e = req->data;
    struct lg_gossip *g = e->g;
    e->resolving = false;
    g->open--;
    const struct addrinfo *ai = status == 0 ? pick(res, g->family) : NULL;
    if (ai != NULL && ai->ai_addrlen <= sizeof e->sa) {
        memcpy(&e->sa, ai->ai_addr, ai->ai_addrlen);
        e->resolved = true;
    } else if (status != UV_ECANCELED && status != UV_EAI_CANCELED) {
        /* A lookup cancelled by lg_gossip_close reports UV_EAI_CANCELED: no failure. */
        char q[LG_ADDR_BYTES_MAX + 8];
        lg_log(LG_LOG_WARN, "gossip_resolve_failed", "address=%s error=%s",
               lg_log_quote(e->name, q, sizeof q), uv_err_name(status));
    }
    e->resolved_ms = uv_now(g->loop);
    if (res != NULL) {
        uv_freeaddrinfo(res);
    }
    if (e->pending != NULL) {
        if (e->resolved && !g->closing) {
            try_send(g, (const struct sockaddr *)&e->sa, e->pending, e->pending_len);
        }
        free(e->pending);
        e->pending = NULL;
    }
    maybe_closed(g);
}

static void resolve(struct lg_gossip *g, struct gossip_name *e)
{
    char host[LG_ADDR_BYTES_MAX];
    char port[8];
    if (lg_addr_split(e->name, host, sizeof host, port, sizeof port, 0, NULL) != 0) {
        return;
    }
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    e->req.data = e;
    int rc = uv_getaddrinfo(g->loop, &e->req, on_resolved, host, port, &hints);
    if (rc == 0) {
        e->resolving = true;
        g->open++;
    } else {
        /* Failed at once (no callback will come): the waiting packet is dropped here, or
         * the next send to this name would overwrite it. */
        e->resolved_ms = uv_now(g->loop);
        free(e->pending);
        e->pending = NULL;
        char q[LG_ADDR_BYTES_MAX + 8];
        lg_log(LG_LOG_WARN, "gossip_resolve_failed", "address=%s error=%s",
               lg_log_quote(e->name, q, sizeof q), uv_err_name(rc));
    }
}

static struct gossip_name *name_slot(struct lg_gossip *g, const char *address)
{
    struct gossip_name *victim = NULL;
    for (unsigned i = 0; i < GOSSIP_NAMES_MAX; i++) {
        struct gossip_name *e = &g->names[i];
        if (e->used && strcmp(e->name, address) == 0) {
            return e;
        }
        if (!e->resolving && (victim == NULL || !e->used ||
                              (victim->used && e->resolved_ms < victim->resolved_ms))) {
            victim = !e->used || victim == NULL || victim->used ? e : victim;
        }
    }
    if (victim == NULL || strlen(address) >= sizeof victim->name) {
        return NULL;
    }
    free(victim->pending);
    memset(victim, 0, sizeof *victim);
    victim->g = g;
    victim->used = true;
    snprintf(victim->name, sizeof victim->name, "%s", address);
    return victim;
}

/* The core's send callback. */
static void gossip_send(void *arg, const char *address, const uint8_t *packet, size_t len)
{
    struct lg_gossip *g = arg;
    char host[LG_ADDR_BYTES_MAX];
    char port[8];
    if (lg_addr_split(address, host, sizeof host, port, sizeof port, 0, NULL) != 0) {
        return;
    }
    int p = atoi(port);
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
    } lit;
    if (uv_ip4_addr(host, p, &lit.in4) == 0 || uv_ip6_addr(host, p, &lit.in6) == 0) {
        try_send(g, &lit.sa, packet, len);
        return;
    }
    struct gossip_name *e = name_slot(g, address);
    if (e == NULL) {
        g->send_failed++;
        return;
    }
    uint64_t now = uv_now(g->loop);
    if (e->resolved) {
        try_send(g, (const struct sockaddr *)&e->sa, packet, len);
        if (!e->resolving && now - e->resolved_ms >= LG_GOSSIP_RESOLVE_TTL_MS &&
            !g->closing) {
            resolve(g, e);
        }
        return;
    }
    if (e->resolving || (e->resolved_ms != 0 && now - e->resolved_ms < GOSSIP_RESOLVE_RETRY_MS)
        || g->closing) {
        return; /* waiting for the first answer, or a recent failure: drop */
    }
    uint8_t *copy = malloc(len);
    if (copy != NULL) {
        memcpy(copy, packet, len);
        e->pending = copy;
        e->pending_len = len;
    }
    resolve(g, e);
}

/* ---- receiving, ticking, events ----------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct lg_gossip *g = h->data;
    (void)suggested;
    *buf = uv_buf_init((char *)g->rbuf, sizeof g->rbuf);
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                    const struct sockaddr *addr, unsigned flags)
{
    struct lg_gossip *g = h->data;
    (void)buf;
    if (nread <= 0 || addr == NULL || g->closing) {
        return;
    }
    if ((flags & UV_UDP_PARTIAL) != 0 || (size_t)nread > LG_SWIM_PACKET_MAX) {
        g->dropped_oversize++;
        return;
    }
    char ip[64];
    char from[LG_ADDR_BYTES_MAX];
    if (addr->sa_family == AF_INET) {
        const struct sockaddr_in *in4 = (const struct sockaddr_in *)(const void *)addr;
        uv_ip4_name(in4, ip, sizeof ip);
        snprintf(from, sizeof from, "%s:%u", ip, (unsigned)ntohs(in4->sin_port));
    } else if (addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)addr;
        uv_ip6_name(in6, ip, sizeof ip);
        snprintf(from, sizeof from, "[%s]:%u", ip, (unsigned)ntohs(in6->sin6_port));
    } else {
        return;
    }
    lg_swim_receive(g->swim, from, g->rbuf, (size_t)nread, uv_now(g->loop));
}

static void on_tick(uv_timer_t *t)
{
    struct lg_gossip *g = t->data;
    if (!g->closing) {
        lg_swim_tick(g->swim, uv_now(g->loop));
    }
}

static const char *event_name(enum lg_disc_event ev)
{
    static const char *const names[] = {"?", "joined", "updated", "suspect", "dead", "left"};
    return (unsigned)ev <= LG_DISC_EV_LEFT ? names[ev] : "?";
}

static void on_event(void *arg, enum lg_disc_event ev, const struct lg_disc_member *m)
{
    struct lg_gossip *g = arg;
    char q1[LG_ADDR_BYTES_MAX + 8];
    char q2[LG_ADDR_BYTES_MAX + 8];
    char q3[LG_ADDR_BYTES_MAX + 8];
    lg_log(LG_LOG_INFO, "gossip_member",
           "event=%s member=%llu state=%s incarnation=%llu gossip=%s raft=%s client=%s",
           event_name(ev), (unsigned long long)m->id, lg_disc_state_name(m->state),
           (unsigned long long)m->incarnation,
           lg_log_quote(m->gossip_address, q1, sizeof q1),
           lg_log_quote(m->raft_address, q2, sizeof q2),
           lg_log_quote(m->client_address, q3, sizeof q3));
    for (unsigned i = 0; i < g->n_subs; i++) {
        g->subs[i].cb(g->subs[i].arg, ev, m);
    }
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

static unsigned or_default(unsigned v, unsigned d)
{
    return v != 0 ? v : d;
}

/* Resolve bind (a literal or a name, once, at start) into sa. */
static int bind_address(uv_loop_t *loop, const char *bind, struct sockaddr_storage *sa,
                        char *errmsg)
{
    char host[LG_ADDR_BYTES_MAX];
    char port[8];
    if (bind == NULL || lg_addr_split(bind, host, sizeof host, port, sizeof port,
                                      LG_ADDR_PORT_ZERO_OK, NULL) != 0) {
        return lg_errmsg_printf(errmsg, LG_EINVAL, "gossip: bind address must be HOST:PORT");
    }
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_PASSIVE;
    uv_getaddrinfo_t req;
    int rc = uv_getaddrinfo(loop, &req, NULL, host, port, &hints); /* synchronous */
    if (rc != 0) {
        return lg_errmsg_printf(errmsg, LG_EIO, "gossip: cannot resolve %s: %s", bind,
                                uv_strerror(rc));
    }
    const struct addrinfo *ai = pick(req.addrinfo, AF_INET);
    rc = ai != NULL && ai->ai_addrlen <= sizeof *sa ? 0 : UV_EAI_NONAME;
    if (rc == 0) {
        memcpy(sa, ai->ai_addr, ai->ai_addrlen);
    }
    uv_freeaddrinfo(req.addrinfo);
    if (rc != 0) {
        return lg_errmsg_printf(errmsg, LG_EIO, "gossip: no address for %s", bind);
    }
    return LG_OK;
}

static void handle_closed(uv_handle_t *h)
{
    struct lg_gossip *g = h->data;
    g->open--;
    if (g->free_when_closed && g->open == 0) {
        lg_swim_free(g->swim);
        free(g);
        return;
    }
    maybe_closed(g);
}

/* A start that failed after the handles were initialised: they close on the caller's
 * next loop run, and the object is freed with the last one (no callback). */
static void start_failed(struct lg_gossip *g)
{
    g->closing = true;
    g->free_when_closed = true;
    uv_close((uv_handle_t *)&g->udp, handle_closed);
    uv_close((uv_handle_t *)&g->timer, handle_closed);
}

int lg_gossip_start(struct lg_gossip **out, uv_loop_t *loop,
                    const struct lg_gossip_config *cfg, char *errmsg)
{
    LG_PRE(out != NULL && loop != NULL && cfg != NULL);
    *out = NULL;
    if (cfg->n_seeds > LG_GOSSIP_SEEDS_MAX || (cfg->n_seeds > 0 && cfg->seeds == NULL)) {
        return lg_errmsg_printf(errmsg, LG_EINVAL, "gossip: at most %u seeds",
                                LG_GOSSIP_SEEDS_MAX);
    }
    if (cfg->key != NULL && (cfg->key_len == 0 || cfg->key_len > LG_GOSSIP_KEY_MAX)) {
        return lg_errmsg_printf(errmsg, LG_EINVAL, "gossip: the key must be 1..%u bytes",
                                LG_GOSSIP_KEY_MAX);
    }
    struct sockaddr_storage sa;
    int rc = bind_address(loop, cfg->bind, &sa, errmsg);
    if (rc != LG_OK) {
        return rc;
    }
    struct lg_gossip *g = calloc(1, sizeof *g);
    if (g == NULL) {
        return lg_errmsg_printf(errmsg, LG_ENOMEM, "gossip: out of memory");
    }
    g->loop = loop;
    g->family = sa.ss_family;
    g->udp.data = g;
    g->timer.data = g;
    uv_udp_init(loop, &g->udp);
    uv_timer_init(loop, &g->timer);
    g->open = 2;
    rc = uv_udp_bind(&g->udp, (const struct sockaddr *)&sa, 0);
    char advertise[LG_ADDR_BYTES_MAX];
    if (rc == 0) {
        /* Port 0 (tests): advertise the port the kernel chose. */
        struct sockaddr_storage bound;
        int len = (int)sizeof bound;
        char host[LG_ADDR_BYTES_MAX];
        char port[8];
        rc = uv_udp_getsockname(&g->udp, (struct sockaddr *)&bound, &len);
        const char *adv = cfg->advertise != NULL ? cfg->advertise : cfg->bind;
        if (rc == 0 && lg_addr_split(adv, host, sizeof host, port, sizeof port,
                                     LG_ADDR_PORT_ZERO_OK, NULL) == 0 &&
            strcmp(port, "0") == 0) {
            unsigned p = ntohs(bound.ss_family == AF_INET6
                                   ? ((struct sockaddr_in6 *)(void *)&bound)->sin6_port
                                   : ((struct sockaddr_in *)(void *)&bound)->sin_port);
            bool v6 = strchr(host, ':') != NULL;
            snprintf(advertise, sizeof advertise, v6 ? "[%s]:%u" : "%s:%u", host, p);
        } else {
            snprintf(advertise, sizeof advertise, "%s", adv);
        }
    }
    if (rc != 0) {
        lg_errmsg_printf(errmsg, LG_EIO, "gossip: cannot bind %s: %s", cfg->bind,
                         uv_strerror(rc));
        start_failed(g);
        return LG_EIO;
    }
    struct lg_swim_config sc;
    memset(&sc, 0, sizeof sc);
    sc.id = cfg->id;
    sc.cluster = cfg->cluster != NULL && cfg->cluster[0] != '\0' ? cfg->cluster : "ledger";
    sc.gossip_address = advertise;
    sc.raft_address = cfg->raft_address;
    sc.client_address = cfg->client_address;
    sc.version = cfg->version != NULL ? cfg->version : LG_DISC_BUILD_VERSION;
    sc.key = cfg->key;
    sc.key_len = cfg->key != NULL ? cfg->key_len : 0;
    sc.probe_interval_ms = or_default(cfg->probe_interval_ms, LG_GOSSIP_PROBE_INTERVAL_MS);
    sc.probe_timeout_ms = or_default(cfg->probe_timeout_ms, LG_GOSSIP_PROBE_TIMEOUT_MS);
    sc.indirect_probes = or_default(cfg->indirect_probes, LG_GOSSIP_INDIRECT_PROBES);
    sc.suspicion_mult = or_default(cfg->suspicion_mult, LG_GOSSIP_SUSPICION_MULT);
    sc.retransmit_mult = or_default(cfg->retransmit_mult, LG_GOSSIP_RETRANSMIT_MULT);
    sc.sync_interval_ms = or_default(cfg->sync_interval_ms, LG_GOSSIP_SYNC_INTERVAL_MS);
    sc.seed = cfg->seed != 0 ? cfg->seed : uv_hrtime() ^ (cfg->id * 0x9e3779b97f4a7c15ull);
    sc.send = gossip_send;
    sc.send_arg = g;
    sc.event = on_event;
    sc.event_arg = g;
    rc = lg_swim_init(&g->swim, &sc, uv_now(loop), errmsg);
    if (rc == LG_OK && lg_swim_join(g->swim, cfg->seeds, cfg->n_seeds, uv_now(loop)) != LG_OK) {
        rc = lg_errmsg_printf(errmsg, LG_EINVAL, "gossip: a seed is not HOST:PORT");
    }
    if (rc != LG_OK) {
        start_failed(g);
        return rc;
    }
    uv_udp_recv_start(&g->udp, on_alloc, on_recv);
    unsigned tick = lg_swim_tick_ms(g->swim);
    uv_timer_start(&g->timer, on_tick, tick, tick);
    if (cfg->key == NULL) {
        lg_log(LG_LOG_WARN, "gossip_unauthenticated",
               "reason=\"no --key-file: packets are tagged under the empty key\"");
    }
    lg_log(LG_LOG_INFO, "gossip_started",
           "bind=%s advertise=%s cluster=%s seeds=%u probe_interval_ms=%u "
           "probe_timeout_ms=%u indirect_probes=%u suspicion_mult=%u",
           cfg->bind, advertise, sc.cluster, cfg->n_seeds, sc.probe_interval_ms,
           sc.probe_timeout_ms, sc.indirect_probes, sc.suspicion_mult);
    *out = g;
    return LG_OK;
}

int lg_gossip_subscribe(struct lg_gossip *g, lg_disc_event_cb cb, void *arg)
{
    LG_PRE(g != NULL && cb != NULL);
    if (g->n_subs == GOSSIP_SUBSCRIBERS_MAX) {
        return LG_EINVAL;
    }
    g->subs[g->n_subs++] = (struct gossip_sub){cb, arg};
    return LG_OK;
}

int lg_gossip_set_client_address(struct lg_gossip *g, const char *client_address)
{
    return lg_swim_set_client_address(g->swim, client_address, uv_now(g->loop));
}

void lg_gossip_close(struct lg_gossip *g, bool leave, lg_gossip_close_cb cb, void *arg)
{
    LG_PRE(g != NULL && !g->closing);
    if (leave) {
        /* The leave packets go out synchronously (uv_udp_try_send), before the socket
         * closes. */
        lg_swim_leave(g->swim, uv_now(g->loop));
        lg_log(LG_LOG_INFO, "gossip_left", NULL);
    }
    g->closing = true;
    g->close_cb = cb;
    g->close_arg = arg;
    uv_udp_recv_stop(&g->udp);
    uv_close((uv_handle_t *)&g->udp, handle_closed);
    uv_close((uv_handle_t *)&g->timer, handle_closed);
    for (unsigned i = 0; i < GOSSIP_NAMES_MAX; i++) {
        if (g->names[i].resolving) {
            uv_cancel((uv_req_t *)&g->names[i].req); /* else its answer comes soon */
        }
    }
}

void lg_gossip_free(struct lg_gossip *g)
{
    if (g == NULL) {
        return;
    }
    LG_PRE(g->open == 0);
    for (unsigned i = 0; i < GOSSIP_NAMES_MAX; i++) {
        free(g->names[i].pending);
    }
    lg_swim_free(g->swim);
    free(g);
}

uint32_t lg_gossip_members(const struct lg_gossip *g, struct lg_disc_member *out,
                           uint32_t max)
{
    return lg_swim_members(g->swim, out, max);
}

void lg_gossip_stats(const struct lg_gossip *g, struct lg_gossip_stats *out)
{
    struct lg_swim_stats st;
    lg_swim_stats(g->swim, &st);
    memset(out, 0, sizeof *out);
    out->packets_sent = st.packets_sent;
    out->packets_received = st.packets_received;
    out->dropped_auth = st.dropped_auth;
    out->dropped_cluster = st.dropped_cluster;
    out->dropped_malformed = st.dropped_malformed + g->dropped_oversize;
    out->alive = st.alive;
    out->suspect = st.suspect;
    out->dead = st.dead;
    out->left = st.left;
}
