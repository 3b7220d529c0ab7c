/* events: the small interface between discovery/ and its subscribers (DESIGN §2, §9).
 *
 * raft/ includes this header and nothing else of discovery/: it receives membership
 * events as plain values and keeps what it needs. discovery/ knows nothing of Raft.
 *
 * A member is identified by its node id (unique within a cluster name). Its metadata is
 * what the node announced about itself; a node changes it by announcing again with a
 * higher incarnation (SWIM). */
#ifndef LG_DISCOVERY_EVENTS_H
#define LG_DISCOVERY_EVENTS_H

#include <stdint.h>

#include "../lib/addr.h"

/* Longest cluster name (bytes, without the NUL); names are [A-Za-z0-9._-]+. */
#define LG_DISC_CLUSTER_MAX 63u
/* Longest version string (bytes, without the NUL). */
#define LG_DISC_VERSION_MAX 31u

enum lg_disc_state {
    LG_DISC_ALIVE = 1,   /* answers probes */
    LG_DISC_SUSPECT = 2, /* missed a probe; may refute until the suspicion timeout */
    LG_DISC_DEAD = 3,    /* confirmed failed: suspicion timed out unrefuted */
    LG_DISC_LEFT = 4,    /* announced a graceful leave */
};

/* The first event about a member is joined when it is first heard of alive; a member
 * first heard of suspect, dead or left (this node started after it failed or left) is
 * first reported by that state's event, with no joined before it. */
enum lg_disc_event {
    LG_DISC_EV_JOINED = 1,  /* first heard of, alive */
    LG_DISC_EV_UPDATED = 2, /* metadata changed, or back to alive (a refuted suspicion,
                             * a dead or left node that came back) */
    LG_DISC_EV_SUSPECT = 3, /* became suspect, or first heard of as suspect */
    LG_DISC_EV_DEAD = 4,    /* became dead, or first heard of as dead */
    LG_DISC_EV_LEFT = 5,    /* left, or first heard of as left */
};

struct lg_disc_member {
    uint64_t id;
    char cluster[LG_DISC_CLUSTER_MAX + 1];
    char gossip_address[LG_ADDR_BYTES_MAX]; /* HOST:PORT it is probed at */
    char raft_address[LG_ADDR_BYTES_MAX];
    char client_address[LG_ADDR_BYTES_MAX];
    char version[LG_DISC_VERSION_MAX + 1];
    uint8_t state;          /* enum lg_disc_state */
    uint64_t incarnation;
    uint64_t state_since_ms; /* the observer's clock (uv_now) when state last changed, or
                              * when the observer first heard of the member */
};

/* Called on the loop thread, never from inside a call the subscriber made into
 * discovery/. m is valid only during the call (copy what you keep). Events about this
 * node itself are not delivered. */
typedef void (*lg_disc_event_cb)(void *arg, enum lg_disc_event ev,
                                 const struct lg_disc_member *m);

/* Static names for logs and the wire: "alive", "suspect", "dead", "left" ("?" else). */
const char *lg_disc_state_name(uint8_t state);

#endif /* LG_DISCOVERY_EVENTS_H */
