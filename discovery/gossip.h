/* gossip: SWIM membership over UDP on the node's libuv loop (DESIGN §9; docs/discovery.md).
 *
 * This is the libuv binding of the pure protocol core (discovery/swim.h): it owns the UDP
 * socket, the timers, name resolution of gossip addresses and the key; the core owns the
 * membership table, probes, suspicion, dissemination and the packet codec, and is driven
 * by tests with a fake clock and a fake network.
 *
 * Threading: the loop thread only. */
#ifndef LG_DISCOVERY_GOSSIP_H
#define LG_DISCOVERY_GOSSIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "events.h"

/* Gossip seeds given with --join. */
#define LG_GOSSIP_SEEDS_MAX 16u
/* Longest cluster key (bytes). */
#define LG_GOSSIP_KEY_MAX 1024u

/* Defaults (DESIGN §9); each has a `serve` tuning flag (docs/discovery.md). */
#define LG_GOSSIP_PROBE_INTERVAL_MS 1000u
#define LG_GOSSIP_PROBE_TIMEOUT_MS 500u
#define LG_GOSSIP_INDIRECT_PROBES 3u
/* Suspicion timeout = LG_GOSSIP_SUSPICION_MULT * max(1, log10(n)) * probe interval. */
#define LG_GOSSIP_SUSPICION_MULT 4u
/* Each update is piggybacked at most RETRANSMIT_MULT * ceil(log10(n + 1)) times. */
#define LG_GOSSIP_RETRANSMIT_MULT 4u
/* Push-pull of the full state with one random member every this many ms. */
#define LG_GOSSIP_SYNC_INTERVAL_MS 30000u

struct lg_gossip_config {
    uint64_t id;                 /* this node's id, >= 1 */
    const char *cluster;         /* cluster name; "" or NULL: "ledger" */
    const char *bind;            /* HOST:PORT to listen on (UDP) */
    const char *advertise;       /* HOST:PORT others reach us at; NULL: bind */
    const char *raft_address;    /* metadata */
    const char *client_address;  /* metadata */
    const char *version;         /* metadata; NULL: the build's version */
    const char *const *seeds;    /* --join: gossip addresses of running members */
    uint32_t n_seeds;
    const uint8_t *key;          /* HMAC-SHA-256 key; NULL: unauthenticated (warned once) */
    size_t key_len;              /* 1..LG_GOSSIP_KEY_MAX when key != NULL */
    unsigned probe_interval_ms;  /* 0: default; likewise below */
    unsigned probe_timeout_ms;
    unsigned indirect_probes;
    unsigned suspicion_mult;
    unsigned retransmit_mult;
    unsigned sync_interval_ms;
    uint64_t seed;               /* PRNG seed for probe order; 0: from the clock and id */
};

/* Counters since start (status, /metrics). */
struct lg_gossip_stats {
    uint64_t packets_sent;
    uint64_t packets_received;
    uint64_t dropped_auth;      /* HMAC did not verify */
    uint64_t dropped_cluster;   /* another cluster name */
    uint64_t dropped_malformed; /* could not be decoded */
    uint32_t alive;             /* members by state now, this node included */
    uint32_t suspect;
    uint32_t dead;
    uint32_t left;
};

struct lg_gossip; /* opaque */

/* Bind the UDP socket, start probing, send `join` to every seed (retried until one
 * answers). Returns LG_OK, LG_EINVAL (bad config; errmsg says which field), LG_EIO
 * (bind failed: errmsg has the address and the system's reason), LG_ENOMEM. */
int lg_gossip_start(struct lg_gossip **out, uv_loop_t *loop,
                    const struct lg_gossip_config *cfg, char *errmsg);

/* Add a subscriber (at most 4). Members already known are not replayed: subscribe right
 * after lg_gossip_start, before the loop runs. Returns LG_OK or LG_EINVAL (full). */
int lg_gossip_subscribe(struct lg_gossip *g, lg_disc_event_cb cb, void *arg);

/* Change this node's announced metadata (bumps the incarnation; propagates). */
int lg_gossip_set_client_address(struct lg_gossip *g, const char *client_address);

/* Graceful stop: announce `leave` to a few members (best effort, bounded by about one
 * probe timeout), close the socket and timers, then cb on the loop. Call once; after cb,
 * lg_gossip_free. */
typedef void (*lg_gossip_close_cb)(struct lg_gossip *g, void *arg);
void lg_gossip_close(struct lg_gossip *g, bool leave, lg_gossip_close_cb cb, void *arg);
void lg_gossip_free(struct lg_gossip *g);

/* Members known, this node first, then by id; returns how many were written. */
uint32_t lg_gossip_members(const struct lg_gossip *g, struct lg_disc_member *out,
                           uint32_t max);
void lg_gossip_stats(const struct lg_gossip *g, struct lg_gossip_stats *out);

#endif /* LG_DISCOVERY_GOSSIP_H */
