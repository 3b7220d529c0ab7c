/* swim: the SWIM membership protocol core, with no I/O (DESIGN §9; docs/discovery.md).
 *
 * The core owns the membership table (keyed by node id), the probe cycle (ping, ack,
 * ping_req through k members), suspicion with incarnation numbers, dissemination of
 * updates piggybacked on every packet (each at most retransmit_mult * ceil(log10(n + 1))
 * times), join through seeds, push-pull sync of the full state, graceful leave, and the
 * packet codec (msgpack, version, cluster name, HMAC-SHA-256 tag).
 *
 * It never reads a clock, a socket or a random source: time is passed in (ms, any
 * monotonic origin), packets go out through cfg.send to "HOST:PORT" strings, events
 * through cfg.event, and the probe order comes from a PRNG seeded by cfg.seed. So a test
 * drives many cores on a simulated network, deterministically (tests/unit/discovery/).
 * discovery/gossip.c binds it to libuv.
 *
 * Callbacks are called from inside lg_swim_receive, lg_swim_tick, lg_swim_join and
 * lg_swim_leave; they must not call back into the same core. Not thread-safe. */
#ifndef LG_DISCOVERY_SWIM_H
#define LG_DISCOVERY_SWIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "events.h"

/* Largest packet sent or accepted (bytes): under a 1500-byte Ethernet MTU with IPv6 and
 * UDP headers, so no packet is ever fragmented. */
#define LG_SWIM_PACKET_MAX 1400u
/* Members in the table, this node included. A full table reclaims the entry of the
 * longest dead or left member; a new member is ignored when none is. */
#define LG_SWIM_MEMBERS_MAX 256u
/* Seeds (join targets). */
#define LG_SWIM_SEEDS_MAX 16u
/* Indirect probes per failed direct probe, at most. */
#define LG_SWIM_INDIRECT_MAX 8u
/* ping_req relays in flight on one node (older ones are forgotten). */
#define LG_SWIM_RELAYS_MAX 32u
/* Member records decoded from one packet, at most (bounded by the packet size anyway). */
#define LG_SWIM_RECORDS_MAX 64u
/* The wire version (first element of every packet). */
#define LG_SWIM_WIRE_VERSION 1u
/* HMAC-SHA-256 tag bytes. */
#define LG_SWIM_TAG_BYTES 32u
/* Highest incarnation: a record above it is malformed (dropped and counted), and this
 * node's own never goes past it, so incarnation + 1 never wraps. One per refutation or
 * metadata change, a real node never comes near it. */
#define LG_SWIM_INCARNATION_MAX (UINT64_C(1) << 62)

/* Message types (the body's "type" on the wire: their names). */
enum lg_swim_type {
    LG_SWIM_PING = 1,     /* probe; answered by ack with the same seq */
    LG_SWIM_ACK = 2,      /* answer to ping (direct, or relayed for a ping_req) */
    LG_SWIM_PING_REQ = 3, /* please ping target at target_address and relay its ack */
    LG_SWIM_JOIN = 4,     /* a new node's state to a seed; answered by sync (reply) */
    LG_SWIM_SYNC = 5,     /* push-pull of the full state; reply=false asks for the other's */
    LG_SWIM_LEAVE = 6,    /* carries the leaver's own record in state left */
};

/* One member record on the wire (and in a decoded packet). */
struct lg_swim_record {
    uint64_t id;
    uint64_t incarnation;
    uint8_t state; /* enum lg_disc_state */
    char gossip_address[LG_ADDR_BYTES_MAX];
    char raft_address[LG_ADDR_BYTES_MAX];   /* "" when none */
    char client_address[LG_ADDR_BYTES_MAX]; /* "" when none */
    char version[LG_DISC_VERSION_MAX + 1];
};

/* A decoded message body (lg_swim_body_decode). */
struct lg_swim_msg {
    uint8_t type;  /* enum lg_swim_type */
    uint64_t from; /* sender's node id, >= 1 */
    uint32_t seq;  /* ping, ack, ping_req */
    uint64_t target;                         /* ping (0: whoever answers), ping_req */
    char target_address[LG_ADDR_BYTES_MAX];  /* ping_req */
    bool reply;                              /* sync: this is an answer */
    uint32_t chunk;                          /* join, sync: part number of a full state */
    struct lg_swim_record records[LG_SWIM_RECORDS_MAX];
    uint32_t n_records;
};

/* Result of lg_swim_envelope_decode. */
enum lg_swim_drop {
    LG_SWIM_KEEP = 0,
    LG_SWIM_DROP_MALFORMED = 1, /* not a packet of ours: bad msgpack, version, sizes */
    LG_SWIM_DROP_CLUSTER = 2,   /* well formed, another cluster name */
    LG_SWIM_DROP_AUTH = 3,      /* our cluster, the tag does not verify under our key */
};

typedef void (*lg_swim_send_cb)(void *arg, const char *address, const uint8_t *packet,
                                size_t len);

struct lg_swim_config {
    uint64_t id;                /* >= 1 */
    const char *cluster;        /* 1..LG_DISC_CLUSTER_MAX of [A-Za-z0-9._-] */
    const char *gossip_address; /* HOST:PORT others probe us at */
    const char *raft_address;   /* metadata; NULL: "" */
    const char *client_address; /* metadata; NULL: "" */
    const char *version;        /* metadata; NULL: "" */
    const uint8_t *key;         /* NULL: the empty key (unauthenticated) */
    size_t key_len;
    unsigned probe_interval_ms; /* all >= 1 (the binding applies defaults) */
    unsigned probe_timeout_ms;  /* < probe_interval_ms */
    unsigned indirect_probes;   /* 0..LG_SWIM_INDIRECT_MAX */
    unsigned suspicion_mult;    /* >= 1 */
    unsigned retransmit_mult;   /* >= 1 */
    unsigned sync_interval_ms;  /* >= 1 */
    uint64_t seed;              /* PRNG seed */
    lg_swim_send_cb send;
    void *send_arg;
    lg_disc_event_cb event; /* may be NULL */
    void *event_arg;
};

struct lg_swim_stats {
    uint64_t packets_sent;
    uint64_t packets_received; /* accepted (decoded, our cluster, tag verified) */
    uint64_t dropped_auth;
    uint64_t dropped_cluster;
    uint64_t dropped_malformed;
    uint32_t alive; /* members by state now, this node included */
    uint32_t suspect;
    uint32_t dead;
    uint32_t left;
};

struct lg_swim; /* opaque */

/* A core for cfg at time now_ms (copies every string and the key). Returns LG_OK,
 * LG_EINVAL (errmsg says which field) or LG_ENOMEM. */
int lg_swim_init(struct lg_swim **out, const struct lg_swim_config *cfg, uint64_t now_ms,
                 char *errmsg);
void lg_swim_free(struct lg_swim *s);

/* Seeds to join through: `join` is sent to each now and again every probe interval until
 * one answers, and again whenever no other member is alive. Addresses are copied; at most
 * LG_SWIM_SEEDS_MAX. Returns LG_OK or LG_EINVAL. */
int lg_swim_join(struct lg_swim *s, const char *const *seeds, uint32_t n_seeds,
                 uint64_t now_ms);

/* Advance timers to now_ms: probes, indirect probes, suspicion timeouts, join retries,
 * sync. Call at least every lg_swim_tick_ms. */
void lg_swim_tick(struct lg_swim *s, uint64_t now_ms);
/* The tick period the core needs (a tenth of the probe timeout, at least 1 ms). */
unsigned lg_swim_tick_ms(const struct lg_swim *s);

/* One datagram received from address (the sender's "IP:PORT"; replies go there). Bad
 * input is counted and dropped. */
void lg_swim_receive(struct lg_swim *s, const char *from, const uint8_t *packet, size_t len,
                     uint64_t now_ms);

/* Leave gracefully: this node's record becomes left (incarnation + 1) and is sent to
 * every member not dead or left. The core then stops probing and answering. */
void lg_swim_leave(struct lg_swim *s, uint64_t now_ms);

/* Announce a new client address (incarnation + 1; propagates). LG_OK or LG_EINVAL. */
int lg_swim_set_client_address(struct lg_swim *s, const char *client_address,
                               uint64_t now_ms);

/* Members, this node first, then by id; returns how many were written. */
uint32_t lg_swim_members(const struct lg_swim *s, struct lg_disc_member *out, uint32_t max);
/* One member by id: true and *out filled when known. */
bool lg_swim_member(const struct lg_swim *s, uint64_t id, struct lg_disc_member *out);
void lg_swim_stats(const struct lg_swim *s, struct lg_swim_stats *out);

/* Suspicion timeout (ms) for n members: suspicion_mult * max(1, log10(n)) * interval. */
uint64_t lg_swim_suspicion_ms(unsigned suspicion_mult, unsigned probe_interval_ms,
                              uint32_t n);

/* ---- codec (exposed for the fuzz target and tests) ---- */

/* Split a packet: checks the envelope [version, cluster, body, tag], the cluster name
 * against cluster, then the tag under key. On LG_SWIM_KEEP *body and *body_len view the
 * body inside packet. */
enum lg_swim_drop lg_swim_envelope_decode(const uint8_t *packet, size_t len,
                                          const char *cluster, const uint8_t *key,
                                          size_t key_len, const uint8_t **body,
                                          size_t *body_len);
/* Wrap body into a packet in out (out_size >= LG_SWIM_PACKET_MAX). Returns the packet's
 * length, 0 when it would exceed LG_SWIM_PACKET_MAX. */
size_t lg_swim_envelope_encode(const uint8_t *body, size_t body_len, const char *cluster,
                               const uint8_t *key, size_t key_len, uint8_t *out,
                               size_t out_size);
/* Decode a body into *msg (bounded: every string, count and value checked). Returns
 * LG_OK or LG_EBADREQ. */
int lg_swim_body_decode(const uint8_t *body, size_t len, struct lg_swim_msg *msg);
/* Static wire name of a message type ("?" when unknown). */
const char *lg_swim_type_name(uint8_t type);

#endif /* LG_DISCOVERY_SWIM_H */
