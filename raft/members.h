/* members: the leader's membership planner, driven by gossip (DESIGN §7; docs/raft.md).
 *
 * Two pure parts, no Raft and no libuv, so tests drive them with plain values:
 * - the gossip table: what discovery/ reported about each other node (id, cluster,
 *   addresses, state and since when), updated from lg_disc_member events;
 * - the planner: from the Raft configuration as the leader sees it (roles, each server's
 *   match index, whether Raft heard from it recently), the gossip table, the leader's
 *   last index, the clock and the parameters, at most ONE configuration change to make
 *   next (or none).
 * raft/node.c makes that change (raft_add / raft_assign / raft_remove), waits for its
 * callback, re-reads the configuration and plans again.
 *
 * Down: a configured server is down when gossip has reported it dead or left for at least
 * the grace period AND Raft has not heard from it recently (raft_recent: the leader's
 * replication progress, sampled by node.c). Gossip loss alone (UDP blocked while Raft
 * works) never makes a working server down. Alive: this node, or gossip reports it alive
 * at its configured Raft address (a member announcing another Raft address than the one
 * configured is not healthy: it is never promoted). Live (counted for a majority): alive,
 * or Raft heard from it recently.
 *
 * Rules (in priority order; the first that applies is the action):
 * 1. Not leader, or a change is in flight or uncommitted: nothing.
 * 2. Fewer healthy voters than the target (healthy: not down): promote the most caught-up
 *    standby that is alive and whose match index is within catchup_entries of the last
 *    index. A standby still catching up is waited for (later rules may still act).
 * 3. A voter down, while more voters than the target are configured (its replacement was
 *    promoted first) and the live voters that would remain are still a majority of the
 *    new configuration: remove it. Otherwise it stays: the cluster never shrinks below the
 *    target, nor below a majority of live voters, by its own action.
 * 4. A voter down whose Raft address an alive, unconfigured gossip member now announces
 *    (a dead machine replaced under a new id, same stable address): remove the old id
 *    when the live voters that remain are a majority of the new configuration (the same
 *    arithmetic as rule 3, without the target: the new id is added by rule 7 and promoted
 *    by rule 2). Addresses cannot be edited, so the old id must go first.
 * 5. A standby or spare down: remove it.
 * 6. A spare that is alive: make it a standby.
 * 7. A node gossip reports alive, of this cluster, whose id is not configured: add it (as
 *    a spare). One whose Raft address is configured under another id is skipped and
 *    reported (until rule 4 or 5 removes that id, or the operator does).
 * A node that came back alive is never removed; a server gossip never reported is never
 * acted on; this node (the leader) is never removed. Ties go to the lowest id.
 *
 * node.c runs the planner only when gossip is authenticated (a cluster key): without one
 * any host that can send UDP could get itself made a voter (docs/raft.md).
 *
 * Threading: none (pure functions on caller-owned values). */
#ifndef LG_RAFT_MEMBERS_H
#define LG_RAFT_MEMBERS_H

#include <stdbool.h>
#include <stdint.h>

#include "../discovery/events.h"

/* Nodes the gossip table remembers (a small cluster: voters plus a few standbys). */
#define LG_MEMBERS_PEERS_MAX 64u
/* Servers the planner looks at; a larger configuration is not grown further. */
#define LG_MEMBERS_SERVERS_MAX 32u
/* Defaults of the parameters (serve flags --voters, --dead-voter-grace-ms). */
#define LG_MEMBERS_VOTERS_DEFAULT 3u
#define LG_MEMBERS_DEAD_GRACE_MS_DEFAULT 30000u
/* A standby whose match index is within this many entries of the leader's last index is
 * caught up (libraft's promotion then finishes in one short catch-up round). */
#define LG_MEMBERS_CATCHUP_ENTRIES_DEFAULT 64u
/* The leader re-plans this often, and this long after a gossip event (a burst of events
 * gives one plan). After a failed change it waits the backoff before trying again. */
#define LG_MEMBERS_INTERVAL_MS 500u
#define LG_MEMBERS_DEBOUNCE_MS 50u
#define LG_MEMBERS_BACKOFF_MS 2000u

enum lg_members_role {
    LG_MEMBERS_ROLE_SPARE = 1,
    LG_MEMBERS_ROLE_STANDBY = 2,
    LG_MEMBERS_ROLE_VOTER = 3,
};

enum lg_members_op {
    LG_MEMBERS_NONE = 0,
    LG_MEMBERS_ADD = 1,     /* raft_add (as a spare) */
    LG_MEMBERS_STANDBY = 2, /* raft_assign RAFT_STANDBY */
    LG_MEMBERS_VOTER = 3,   /* raft_assign RAFT_VOTER */
    LG_MEMBERS_REMOVE = 4,  /* raft_remove */
};

/* One node as gossip reported it (the table's entry). */
struct lg_members_peer {
    uint64_t id;
    char cluster[LG_DISC_CLUSTER_MAX + 1];
    char raft_address[LG_ADDR_BYTES_MAX];
    char client_address[LG_ADDR_BYTES_MAX];
    uint8_t state;     /* enum lg_disc_state */
    uint64_t since_ms; /* when it entered that state (the node's loop clock) */
    bool conflict_reported; /* its address conflict was logged (node.c) */
};

struct lg_members_table {
    struct lg_members_peer peers[LG_MEMBERS_PEERS_MAX];
    uint32_t n;
};

/* One server of the Raft configuration as the leader sees it. */
struct lg_members_server {
    uint64_t id;
    const char *raft_address; /* borrowed for the call */
    uint8_t role;             /* enum lg_members_role */
    uint64_t match_index;     /* leader's progress; 0 unknown */
    bool raft_recent;         /* the leader heard from it over Raft recently (node.c) */
};

struct lg_members_view {
    uint64_t self_id;
    const char *cluster; /* this node's cluster name; NULL or "": any */
    bool leader;         /* this node leads (and its election barrier applied) */
    bool busy;           /* a change is in flight, uncommitted, or a promotion catching up */
    uint64_t last_index; /* the leader's last log index */
    uint64_t now_ms;
    const struct lg_members_server *servers;
    uint32_t n_servers;
    const struct lg_members_table *gossip;
};

struct lg_members_params {
    unsigned voters_target;    /* odd, 1..7 */
    uint64_t dead_grace_ms;    /* dead or left this long (and no Raft contact): down */
    uint64_t catchup_entries;  /* see LG_MEMBERS_CATCHUP_ENTRIES_DEFAULT */
};

struct lg_members_action {
    uint8_t op;               /* enum lg_members_op */
    uint64_t id;              /* the server to add / assign / remove */
    const char *raft_address; /* ADD: the peer's (a view into the table) */
    const char *reason;       /* static text for the log */
    uint64_t replaces_id;     /* VOTER or REMOVE on behalf of this dead voter; 0 none */
    uint64_t successor_id;    /* REMOVE by rule 4: the new id announcing its address */
    /* A gossip member skipped because its Raft address is configured under another id
     * (0: none): for the log. */
    uint64_t conflict_id;
    uint64_t conflict_with_id;
};

/* Fill p with the defaults. */
void lg_members_params_default(struct lg_members_params *p);

/* The table starts empty. */
void lg_members_table_init(struct lg_members_table *t);

/* Apply a discovery event about m (copied). A changed state restarts since_ms (from
 * m->state_since_ms when set, else now_ms). Returns the entry, or NULL when the table is
 * full (an entry of a dead or left node is reused first). */
struct lg_members_peer *lg_members_table_update(struct lg_members_table *t,
                                                enum lg_disc_event ev,
                                                const struct lg_disc_member *m,
                                                uint64_t now_ms);

/* The entry for id, or NULL. */
const struct lg_members_peer *lg_members_table_find(const struct lg_members_table *t,
                                                    uint64_t id);

/* Plan the next change (see the rules above); out->op is LG_MEMBERS_NONE when there is
 * nothing to do now. */
void lg_members_plan(const struct lg_members_view *v, const struct lg_members_params *p,
                     struct lg_members_action *out);

/* "alive", "suspect", "dead", "left"; "" for anything else (never reported). */
const char *lg_members_state_name(uint8_t state);

/* "add", "standby", "voter", "remove", "none". */
const char *lg_members_op_name(uint8_t op);

#endif /* LG_RAFT_MEMBERS_H */
