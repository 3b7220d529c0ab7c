/* node: one ledger node = one libuv loop hosting one Raft group (DESIGN §2, §3, §4, §7).
 *
 * Owns: the FSM (<data>/journal, <data>/state), raft_uv (<data>/raft) over the node's own
 * transport (raft/transport.h), the FSM adapter, the leader's write queue (raft/queue.h),
 * read waiters, and the follower's read-index client (asks the leader). It does not own
 * the client TCP server (cmd/server.c), which drives it through the calls below.
 *
 * libraft 0.15.0 rules applied here (DESIGN §7, notes/c-raft.md §15; docs/raft.md):
 * raft_uv_set_auto_recovery(false); pre-vote on; heartbeat < election; snapshot threshold
 * and trailing sized for small entries; entries padded to 8 bytes (adapter); one
 * raft_apply per batch (queue); a barrier on becoming leader before timestamps and
 * linearizable reads (queue + reads); any disk write error is fatal (log, exit 74: the
 * supervisor restarts the node); the raft_transfer request lives in the node until
 * raft_close's callback.
 *
 * Threading: the loop thread only. */
#ifndef LG_RAFT_NODE_H
#define LG_RAFT_NODE_H

#include <raft.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "../discovery/events.h"
#include "../fsm/fsm.h"
#include "../lib/proto.h"
#include "queue.h"
#include "transport.h"

#define LG_NODE_VOTERS_MAX 7u
#define LG_NODE_ELECTION_TIMEOUT_MS 1000u
#define LG_NODE_HEARTBEAT_TIMEOUT_MS 100u
/* Entries between Raft snapshots / kept behind one (docs/raft.md explains the sizing). */
#define LG_NODE_SNAPSHOT_THRESHOLD 16384u
#define LG_NODE_SNAPSHOT_TRAILING 32768u
/* How long an `after` or `linearizable` read may wait for the applied index. */
#define LG_NODE_READ_TIMEOUT_MS 5000u
/* A Raft log append or snapshot write outstanding this long stops the node (exit 74). */
#define LG_NODE_IO_WATCHDOG_MS 30000u
/* A stopping leader waits at most this long for the writes it accepted to be answered. */
#define LG_NODE_DRAIN_TIMEOUT_MS 2000u
/* A graceful stop waits at most this long for a leadership transfer. */
#define LG_NODE_TRANSFER_TIMEOUT_MS 3000u

struct lg_node_peer {
    uint64_t id;
    char raft_address[LG_RAFT_ADDRESS_BYTES_MAX];
};

struct lg_node_config {
    uint64_t id;                  /* >= 1 */
    const char *data_dir;         /* <data>; raft/, journal/, state/ are created inside */
    const char *raft_address;     /* HOST:PORT peers dial (advertised) */
    const char *raft_bind;        /* NULL: listen on raft_address */
    const char *client_address;   /* HOST:PORT clients dial (advertised to peers) */
    const struct lg_node_peer *initial; /* bootstrap voters (same on every initial node) */
    uint32_t n_initial;           /* 0: no bootstrap (restart, or join later) */
    unsigned election_timeout_ms; /* 0: default */
    unsigned heartbeat_timeout_ms;
    unsigned snapshot_threshold;
    unsigned snapshot_trailing;
    uint64_t checkpoint_every;    /* journal records between local checkpoints; 0: default */
    unsigned read_timeout_ms;     /* 0: default */
    /* Membership driven by gossip (raft/members.h; docs/raft.md "Membership"). */
    const char *cluster;          /* cluster name; gossip members of another are ignored */
    unsigned voters_target;       /* voters the leader keeps (odd, 1..7); 0: 3 */
    unsigned dead_voter_grace_ms; /* a voter dead this long is replaced; 0: 30000 */
    /* Gossip is authenticated (serve --key-file): only then does the leader change the
     * membership from it. False: no automatic change at all (event=membership_disabled
     * reason=no_key at start), as unauthenticated gossip would let any host that can send
     * UDP make itself a voter and receive the ledger. */
    bool gossip_authenticated;
};

struct lg_node; /* opaque */

/* Open the FSM (checkpoint + journal replay), init raft_uv and raft, bootstrap when the
 * raft directory is empty and initial voters are given (RAFT_CANTBOOTSTRAP: already
 * bootstrapped, the flag is ignored), start raft. On failure nothing is left running and
 * errmsg says why. Returns LG_OK, LG_EINVAL (bad config), LG_EIO, LG_ECORRUPT, LG_ENOMEM. */
int lg_node_start(struct lg_node **out, uv_loop_t *loop, const struct lg_node_config *cfg,
                  char *errmsg);

/* Graceful stop: stop taking writes; a leader lets the writes it accepted commit and be
 * answered (bounded by LG_NODE_DRAIN_TIMEOUT_MS), then transfers leadership
 * (raft_transfer, bounded by LG_NODE_TRANSFER_TIMEOUT_MS); raft_close; every waiting
 * request is answered (LG_ESHUTDOWN / LG_EUNAVAIL); the journal is synced and a
 * checkpoint written; then cb runs on the loop. Call once. After cb, lg_node_free. */
typedef void (*lg_node_stop_cb)(struct lg_node *n, void *arg);
void lg_node_stop(struct lg_node *n, lg_node_stop_cb cb, void *arg);
void lg_node_free(struct lg_node *n);

/* ---- writes (leader) ---- */

/* Queue a command (lg_raft_queue_submit). Returns LG_OK (req->cb runs exactly once,
 * later), LG_EBADREQ, LG_ENOTLEADER (see lg_node_status for the leader), LG_EUNAVAIL
 * (queue full, stopping). */
int lg_node_submit(struct lg_node *n, struct lg_raft_submit *req, char *errmsg);

/* ---- reads (every node, DESIGN §4) ---- */

struct lg_node_read;
/* status: LG_OK: read the FSM now, inside the callback; LG_ETIMEOUT (the index was not
 * reached in time); LG_EUNAVAIL (no leader known or reachable for a linearizable read);
 * LG_ESHUTDOWN (stopping). msg says why when not OK. */
typedef void (*lg_node_read_cb)(struct lg_node_read *r, int status, const char *msg);

struct lg_node_read {
    void *data;            /* the caller's */
    uint8_t consistency;   /* enum lg_proto_consistency (DEFAULT = linearizable) */
    uint64_t after_index;  /* AFTER only */
    lg_node_read_cb cb;
    /* internal */
    struct lg_node_read *next;
    uint64_t wait_index;
    uint64_t deadline_ms;
    uint64_t barrier_gen;
    uint8_t state;
};

/* Start a read. The callback runs exactly once, never from inside this call (stale and
 * already satisfied reads are answered from the loop's next prepare phase). r stays
 * caller-owned and alive until its callback. Not once lg_node_status() reports stopping
 * (reads already waiting are answered LG_ESHUTDOWN at close; callers refuse new ones). */
void lg_node_read(struct lg_node *n, struct lg_node_read *r);

/* The FSM, for reading inside a read callback (or for stale reads at any time). */
struct lg_fsm *lg_node_fsm(struct lg_node *n);

/* ---- status ---- */

struct lg_node_status {
    uint64_t node_id;
    uint8_t role;          /* enum lg_proto_role */
    uint64_t leader_id;    /* 0: unknown */
    char leader_client[LG_RAFT_ADDRESS_BYTES_MAX]; /* "" when unknown */
    char leader_raft[LG_RAFT_ADDRESS_BYTES_MAX];   /* "" when unknown */
    uint64_t term;
    uint64_t commit_index;
    uint64_t applied_index;
    uint64_t journal_seq;  /* last journal seq held locally */
    uint64_t journal_gap;  /* records the state covers but the journal lacks (catch-up) */
    uint8_t chain_head[LG_PROTO_HASH_BYTES];
    bool stopping;
};

void lg_node_status(struct lg_node *n, struct lg_node_status *out);

uint64_t lg_node_id(const struct lg_node *n);

/* Cheap checks for the request path (lg_node_status copies addresses and the chain
 * head): stopping has begun (no new submit or read may be started); this node leads. */
bool lg_node_stopping(const struct lg_node *n);
bool lg_node_is_leader(struct lg_node *n);

/* One server of the Raft configuration as this node knows it. */
struct lg_node_member {
    uint64_t id;
    char raft_address[LG_RAFT_ADDRESS_BYTES_MAX];
    char client_address[LG_RAFT_ADDRESS_BYTES_MAX]; /* "" when not announced to us */
    const char *role; /* "voter", "standby" or "spare" (static strings) */
    bool leader;
    /* What gossip last reported: "alive", "suspect", "dead", "left"; "" never reported
     * (this node itself: "alive"). Static strings. */
    const char *gossip;
};

/* The configuration (r->configuration, the newest in the log) into out[0..max), in id
 * order; returns how many were written (0 once stopped). Client addresses: this node's
 * own, those peers announced in their transport handshake (a follower knows the
 * leader's; the leader knows every follower that answered it), else what gossip
 * metadata says (so a node that has not talked to the leader yet still names it). */
uint32_t lg_node_members(struct lg_node *n, struct lg_node_member *out, uint32_t max);

/* ---- membership driven by discovery (DESIGN §7; docs/raft.md) ---- */

/* A discovery event (discovery/events.h). cmd/serve.c subscribes it with the node as arg
 * (lg_gossip_subscribe). The node keeps what it needs (client addresses, who is dead
 * since when); the leader reconciles the Raft configuration from it: one change at a
 * time (raft_add as spare, raft_assign standby/voter, raft_remove), planned by
 * raft/members.h every LG_MEMBERS_INTERVAL_MS and shortly after each event, each logged
 * (event=membership_change, membership_change_done, membership_change_failed,
 * membership_conflict). Ignored once the node stops. Without gossip_authenticated the
 * events are kept (client addresses, the members list) but no change is ever made. */
void lg_node_disc_event(void *node, enum lg_disc_event ev, const struct lg_disc_member *m);

/* Test seam: leave this leader in the state libraft 0.15 leaves after raft_assign failed
 * synchronously (leader_state.change still pointing at the node's idle request), so that
 * the next step-down runs the change callback with nothing in flight. No-op unless
 * leader with nothing in flight. */
void lg_node_test_stale_change(struct lg_node *n);

#endif /* LG_RAFT_NODE_H */
