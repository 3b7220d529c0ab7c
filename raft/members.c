/* members: gossip table and the leader's membership planner (pure; see members.h). */
#include "members.h"

#include <stdio.h>
#include <string.h>

#include "../lib/assert.h"

void lg_members_params_default(struct lg_members_params *p)
{
    memset(p, 0, sizeof *p);
    p->voters_target = LG_MEMBERS_VOTERS_DEFAULT;
    p->dead_grace_ms = LG_MEMBERS_DEAD_GRACE_MS_DEFAULT;
    p->catchup_entries = LG_MEMBERS_CATCHUP_ENTRIES_DEFAULT;
}

void lg_members_table_init(struct lg_members_table *t)
{
    memset(t, 0, sizeof *t);
}

static bool state_gone(uint8_t state)
{
    return state == LG_DISC_DEAD || state == LG_DISC_LEFT;
}

const struct lg_members_peer *lg_members_table_find(const struct lg_members_table *t,
                                                    uint64_t id)
{
    for (uint32_t i = 0; i < t->n; i++) {
        if (t->peers[i].id == id) {
            return &t->peers[i];
        }
    }
    return NULL;
}

static uint8_t event_state(enum lg_disc_event ev, uint8_t reported)
{
    switch (ev) {
        case LG_DISC_EV_SUSPECT:
            return LG_DISC_SUSPECT;
        case LG_DISC_EV_DEAD:
            return LG_DISC_DEAD;
        case LG_DISC_EV_LEFT:
            return LG_DISC_LEFT;
        default: /* joined, updated: what the member says (alive unless told otherwise) */
            return reported >= LG_DISC_ALIVE && reported <= LG_DISC_LEFT ? reported
                                                                         : LG_DISC_ALIVE;
    }
}

static void copy_field(char *dst, size_t size, const char *src)
{
    size_t len = strnlen(src, size - 1u);
    memcpy(dst, src, len);
    dst[len] = '\0';
}

struct lg_members_peer *lg_members_table_update(struct lg_members_table *t,
                                                enum lg_disc_event ev,
                                                const struct lg_disc_member *m,
                                                uint64_t now_ms)
{
    LG_PRE(t != NULL && m != NULL);
    LG_PRE(t->n <= LG_MEMBERS_PEERS_MAX);
    struct lg_members_peer *p = NULL;
    for (uint32_t i = 0; i < t->n && p == NULL; i++) {
        p = t->peers[i].id == m->id ? &t->peers[i] : NULL;
    }
    bool fresh = p == NULL;
    if (fresh && t->n < LG_MEMBERS_PEERS_MAX) {
        p = &t->peers[t->n++];
    }
    for (uint32_t i = 0; i < t->n && p == NULL; i++) {
        p = state_gone(t->peers[i].state) ? &t->peers[i] : NULL; /* reuse a gone one */
    }
    if (p == NULL) {
        return NULL;
    }
    uint8_t state = event_state(ev, m->state);
    if (fresh) {
        memset(p, 0, sizeof *p);
        p->id = m->id;
    }
    if (fresh || p->state != state) {
        p->state = state;
        p->since_ms = m->state_since_ms != 0 && m->state_since_ms <= now_ms ? m->state_since_ms
                                                                             : now_ms;
    }
    if (strncmp(p->raft_address, m->raft_address, sizeof p->raft_address) != 0) {
        p->conflict_reported = false; /* a new address: report a conflict again */
    }
    copy_field(p->cluster, sizeof p->cluster, m->cluster);
    copy_field(p->raft_address, sizeof p->raft_address, m->raft_address);
    copy_field(p->client_address, sizeof p->client_address, m->client_address);
    LG_POST(p->id == m->id);
    return p;
}

const char *lg_members_state_name(uint8_t state)
{
    switch (state) {
        case LG_DISC_ALIVE:
            return "alive";
        case LG_DISC_SUSPECT:
            return "suspect";
        case LG_DISC_DEAD:
            return "dead";
        case LG_DISC_LEFT:
            return "left";
        default:
            return "";
    }
}

const char *lg_members_op_name(uint8_t op)
{
    switch (op) {
        case LG_MEMBERS_ADD:
            return "add";
        case LG_MEMBERS_STANDBY:
            return "standby";
        case LG_MEMBERS_VOTER:
            return "voter";
        case LG_MEMBERS_REMOVE:
            return "remove";
        default:
            return "none";
    }
}

/* ---- planner ---------------------------------------------------------------------------- */

/* What the planner knows of one configured server. */
struct seen {
    const struct lg_members_server *s;
    const struct lg_members_peer *peer; /* NULL: gossip never reported it */
    bool self;
    bool alive; /* this node, or gossip reports it alive at its configured Raft address */
    bool live;  /* alive, or Raft heard from it recently (counted for a majority) */
    bool down;  /* gossip dead or left for at least the grace period, no recent Raft contact */
};

static bool same_cluster(const struct lg_members_view *v, const struct lg_members_peer *p)
{
    return v->cluster == NULL || v->cluster[0] == '\0' ||
           strncmp(v->cluster, p->cluster, sizeof p->cluster) == 0;
}

/* The Raft address gossip reports for a configured server is the configured one. */
static bool same_address(const struct lg_members_server *s, const struct lg_members_peer *p)
{
    return s->raft_address != NULL &&
           strncmp(s->raft_address, p->raft_address, sizeof p->raft_address) == 0;
}

static void see(const struct lg_members_view *v, const struct lg_members_params *p,
                struct seen *out, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        const struct lg_members_server *s = &v->servers[i];
        struct seen *e = &out[i];
        memset(e, 0, sizeof *e);
        e->s = s;
        e->self = s->id == v->self_id;
        const struct lg_members_peer *peer =
            e->self ? NULL : lg_members_table_find(v->gossip, s->id);
        e->peer = peer != NULL && same_cluster(v, peer) ? peer : NULL;
        e->alive = e->self || (e->peer != NULL && e->peer->state == LG_DISC_ALIVE &&
                               same_address(s, e->peer));
        e->live = e->alive || s->raft_recent;
        e->down = !e->self && !s->raft_recent && e->peer != NULL &&
                  state_gone(e->peer->state) && v->now_ms >= e->peer->since_ms &&
                  v->now_ms - e->peer->since_ms >= p->dead_grace_ms;
        LG_ERGO(e->down, !e->live);
    }
}

static bool caught_up(const struct lg_members_view *v, const struct lg_members_params *p,
                      const struct lg_members_server *s)
{
    return s->match_index > 0 && s->match_index + p->catchup_entries >= v->last_index;
}

static void act(struct lg_members_action *out, uint8_t op, uint64_t id, const char *reason)
{
    out->op = op;
    out->id = id;
    out->reason = reason;
}

/* The index of the configured server whose Raft address is addr, other than id; n none. */
static uint32_t address_owner(const struct lg_members_view *v, uint32_t n, const char *addr,
                              uint64_t id)
{
    for (uint32_t i = 0; i < n; i++) {
        const struct lg_members_server *s = &v->servers[i];
        if (s->id != id && s->raft_address != NULL &&
            strncmp(s->raft_address, addr, LG_ADDR_BYTES_MAX) == 0) {
            return i;
        }
    }
    return n;
}

/* A gossip member that rule 7 would add if its address were free: alive, of this cluster,
 * with a Raft address, not configured, not this node. */
static bool candidate(const struct lg_members_view *v, uint32_t n, const struct seen *seen,
                      const struct lg_members_peer *peer)
{
    for (uint32_t i = 0; i < n; i++) {
        if (seen[i].s->id == peer->id) {
            return false;
        }
    }
    return peer->id != 0 && peer->id != v->self_id && peer->state == LG_DISC_ALIVE &&
           same_cluster(v, peer) && peer->raft_address[0] != '\0';
}

/* Rule 4: the down voter (lowest id) whose Raft address a candidate announces; NULL none.
 * *by gets that candidate. */
static const struct seen *address_reused(const struct lg_members_view *v, uint32_t n,
                                         const struct seen *seen,
                                         const struct lg_members_peer **by)
{
    const struct seen *old = NULL;
    for (uint32_t k = 0; k < v->gossip->n; k++) {
        const struct lg_members_peer *peer = &v->gossip->peers[k];
        if (!candidate(v, n, seen, peer)) {
            continue;
        }
        uint32_t o = address_owner(v, n, peer->raft_address, peer->id);
        if (o == n || seen[o].s->role != LG_MEMBERS_ROLE_VOTER || !seen[o].down) {
            continue;
        }
        if (old == NULL || seen[o].s->id < old->s->id ||
            (seen[o].s->id == old->s->id && peer->id < (*by)->id)) {
            old = &seen[o];
            *by = peer;
        }
    }
    return old;
}

/* Rule 7: the alive, unconfigured gossip member of lowest id. */
static void plan_add(const struct lg_members_view *v, uint32_t n, const struct seen *seen,
                     struct lg_members_action *out)
{
    if (v->n_servers >= LG_MEMBERS_SERVERS_MAX) {
        return;
    }
    const struct lg_members_peer *best = NULL;
    for (uint32_t k = 0; k < v->gossip->n; k++) {
        const struct lg_members_peer *peer = &v->gossip->peers[k];
        if (!candidate(v, n, seen, peer)) {
            continue;
        }
        uint32_t owner = address_owner(v, n, peer->raft_address, peer->id);
        if (owner != n) {
            if (out->conflict_id == 0 || peer->id < out->conflict_id) {
                out->conflict_id = peer->id;
                out->conflict_with_id = seen[owner].s->id;
            }
            continue;
        }
        if (best == NULL || peer->id < best->id) {
            best = peer;
        }
    }
    if (best != NULL) {
        act(out, LG_MEMBERS_ADD, best->id, "new gossip member");
        out->raft_address = best->raft_address;
    }
}

void lg_members_plan(const struct lg_members_view *v, const struct lg_members_params *p,
                     struct lg_members_action *out)
{
    LG_PRE(v != NULL && p != NULL && out != NULL);
    LG_PRE(v->gossip != NULL);
    LG_PRE(p->voters_target >= 1);
    memset(out, 0, sizeof *out);
    out->reason = "";
    if (!v->leader || v->busy) {
        return;
    }
    uint32_t n = v->n_servers < LG_MEMBERS_SERVERS_MAX ? v->n_servers : LG_MEMBERS_SERVERS_MAX;
    struct seen seen[LG_MEMBERS_SERVERS_MAX];
    see(v, p, seen, n);
    unsigned voters = 0;
    unsigned voters_down = 0;
    unsigned voters_live = 0;
    uint64_t first_down_voter = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (seen[i].s->role != LG_MEMBERS_ROLE_VOTER) {
            continue;
        }
        voters++;
        voters_live += seen[i].live ? 1u : 0u;
        if (seen[i].down) {
            voters_down++;
            if (first_down_voter == 0 || seen[i].s->id < first_down_voter) {
                first_down_voter = seen[i].s->id;
            }
        }
    }
    LG_ASSERT(voters_down <= voters);

    /* 2. Promote a caught-up, alive standby while healthy voters are below the target. */
    if (voters - voters_down < p->voters_target) {
        const struct seen *best = NULL;
        for (uint32_t i = 0; i < n; i++) {
            const struct seen *e = &seen[i];
            if (e->s->role != LG_MEMBERS_ROLE_STANDBY || !e->alive || !caught_up(v, p, e->s)) {
                continue;
            }
            if (best == NULL || e->s->match_index > best->s->match_index ||
                (e->s->match_index == best->s->match_index && e->s->id < best->s->id)) {
                best = e;
            }
        }
        if (best != NULL) {
            act(out, LG_MEMBERS_VOTER, best->s->id,
                voters_down > 0 ? "replaces a voter down past the grace period"
                                : "voters below the target count");
            out->replaces_id = first_down_voter;
            return;
        }
    }

    /* A down voter is not live: removing it leaves voters - 1, of which voters_live live. */
    bool majority_left = voters_down > 0 && voters_live >= (voters - 1u) / 2u + 1u;

    /* 3. Remove a voter down once the target is kept without it and the live voters left
     * are a majority of the new configuration. */
    if (majority_left && voters - 1u >= p->voters_target) {
        act(out, LG_MEMBERS_REMOVE, first_down_voter,
            "voter down past the grace period, replacement in place");
        out->replaces_id = first_down_voter;
        return;
    }

    /* 4. Remove a voter down whose Raft address a new gossip member announces (a machine
     * replaced under a new id): the new one can only be added once the old id is gone. */
    if (majority_left) {
        const struct lg_members_peer *by = NULL;
        const struct seen *old = address_reused(v, n, seen, &by);
        if (old != NULL) {
            act(out, LG_MEMBERS_REMOVE, old->s->id,
                "voter down past the grace period, its raft address reused by a new id");
            out->replaces_id = old->s->id;
            out->successor_id = by->id;
            return;
        }
    }

    /* 5. Remove a standby or spare down; 6. else an alive spare becomes a standby (it then
     * replicates). Lowest id first. */
    const struct seen *gone = NULL;
    const struct seen *spare = NULL;
    for (uint32_t i = 0; i < n; i++) {
        const struct seen *e = &seen[i];
        if (e->self || e->s->role == LG_MEMBERS_ROLE_VOTER) {
            continue;
        }
        if (e->down && (gone == NULL || e->s->id < gone->s->id)) {
            gone = e;
        }
        if (e->s->role == LG_MEMBERS_ROLE_SPARE && e->alive &&
            (spare == NULL || e->s->id < spare->s->id)) {
            spare = e;
        }
    }
    if (gone != NULL) {
        act(out, LG_MEMBERS_REMOVE, gone->s->id,
            gone->s->role == LG_MEMBERS_ROLE_STANDBY ? "standby down past the grace period"
                                                     : "spare down past the grace period");
        return;
    }
    if (spare != NULL) {
        act(out, LG_MEMBERS_STANDBY, spare->s->id, "alive spare");
        return;
    }

    /* 7. Add an alive gossip member that is not configured. */
    plan_add(v, n, seen, out);
}
