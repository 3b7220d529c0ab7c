/* test_membership: raft/members.c, the leader's gossip-driven membership planner.
 *
 * Goal: every rule of members.h gives exactly the one change expected, and nothing when it
 * must not act: a new node is added as a spare, a spare becomes a standby, a caught-up
 * standby becomes a voter while voters are below the target (one still catching up is
 * waited for), a voter dead past the grace period is replaced (promotion first) and then
 * removed, never within the grace period, never without a replacement (no shrinking),
 * never once it came back alive; a non-leader or a busy leader plans nothing; an address
 * configured under another id is skipped and reported; the gossip table follows events.
 * Method: plain values (a configuration with match indexes, a gossip table, a clock) into
 * lg_members_plan; no Raft, no loop. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "members.h"

#define LAST_INDEX 1000u
#define NOW_MS 10000000u

struct world {
    struct lg_members_server servers[8];
    char addresses[8][32];
    uint32_t n;
    struct lg_members_table gossip;
    struct lg_members_params p;
    struct lg_members_view v;
};

static void world_init(struct world *w)
{
    memset(w, 0, sizeof *w);
    lg_members_table_init(&w->gossip);
    lg_members_params_default(&w->p);
    w->v.self_id = 1;
    w->v.cluster = "ledger";
    w->v.leader = true;
    w->v.last_index = LAST_INDEX;
    w->v.now_ms = NOW_MS;
    w->v.servers = w->servers;
    w->v.gossip = &w->gossip;
}

static void server(struct world *w, uint64_t id, uint8_t role, uint64_t match)
{
    cr_assert_lt(w->n, 8u);
    snprintf(w->addresses[w->n], sizeof w->addresses[w->n], "localhost:%llu",
             (unsigned long long)(9000u + id));
    w->servers[w->n].id = id;
    w->servers[w->n].raft_address = w->addresses[w->n];
    w->servers[w->n].role = role;
    w->servers[w->n].match_index = match;
    w->n++;
    w->v.n_servers = w->n;
}

/* A gossip event about id (state_since_ms = since). */
static void gossip_at(struct world *w, uint64_t id, enum lg_disc_event ev, uint8_t state,
                      uint64_t since, const char *raft_address)
{
    struct lg_disc_member m;
    memset(&m, 0, sizeof m);
    m.id = id;
    snprintf(m.cluster, sizeof m.cluster, "ledger");
    if (raft_address != NULL) {
        snprintf(m.raft_address, sizeof m.raft_address, "%s", raft_address);
    } else {
        snprintf(m.raft_address, sizeof m.raft_address, "localhost:%llu",
                 (unsigned long long)(9000u + id));
    }
    snprintf(m.client_address, sizeof m.client_address, "127.0.0.1:%llu",
             (unsigned long long)(8000u + id));
    m.state = state;
    m.state_since_ms = since;
    cr_assert_not_null(lg_members_table_update(&w->gossip, ev, &m, since));
}

static void alive(struct world *w, uint64_t id)
{
    gossip_at(w, id, LG_DISC_EV_JOINED, LG_DISC_ALIVE, NOW_MS - 100000u + 1u, NULL);
}

static void dead_since(struct world *w, uint64_t id, uint64_t ms_ago)
{
    gossip_at(w, id, LG_DISC_EV_DEAD, LG_DISC_DEAD, NOW_MS - ms_ago, NULL);
}

/* Three healthy voters 1 (this node), 2, 3, all known alive. */
static void three_voters(struct world *w)
{
    server(w, 1, LG_MEMBERS_ROLE_VOTER, LAST_INDEX);
    server(w, 2, LG_MEMBERS_ROLE_VOTER, LAST_INDEX);
    server(w, 3, LG_MEMBERS_ROLE_VOTER, LAST_INDEX);
    alive(w, 2);
    alive(w, 3);
}

static struct lg_members_action plan(struct world *w)
{
    struct lg_members_action a;
    lg_members_plan(&w->v, &w->p, &a);
    return a;
}

static void expect(struct world *w, uint8_t op, uint64_t id)
{
    struct lg_members_action a = plan(w);
    cr_assert_eq(a.op, op, "op %s, expected %s (id %llu)", lg_members_op_name(a.op),
                 lg_members_op_name(op), (unsigned long long)a.id);
    if (op != LG_MEMBERS_NONE) {
        cr_assert_eq(a.id, id, "id %llu, expected %llu", (unsigned long long)a.id,
                     (unsigned long long)id);
        cr_assert_neq(a.reason[0], '\0');
    }
}

Test(membership, new_node_is_added_as_spare)
{
    struct world w;
    world_init(&w);
    three_voters(&w);
    alive(&w, 4);
    struct lg_members_action a = plan(&w);
    cr_assert_eq(a.op, LG_MEMBERS_ADD);
    cr_assert_eq(a.id, 4u);
    cr_assert_str_eq(a.raft_address, "localhost:9004");
}

Test(membership, node_of_another_cluster_or_not_alive_is_not_added)
{
    struct world w;
    world_init(&w);
    three_voters(&w);
    gossip_at(&w, 4, LG_DISC_EV_SUSPECT, LG_DISC_SUSPECT, NOW_MS, NULL);
    expect(&w, LG_MEMBERS_NONE, 0);
    struct lg_disc_member m;
    memset(&m, 0, sizeof m);
    m.id = 5;
    snprintf(m.cluster, sizeof m.cluster, "other");
    snprintf(m.raft_address, sizeof m.raft_address, "localhost:9005");
    m.state = LG_DISC_ALIVE;
    cr_assert_not_null(lg_members_table_update(&w.gossip, LG_DISC_EV_JOINED, &m, NOW_MS));
    expect(&w, LG_MEMBERS_NONE, 0);
}

Test(membership, spare_becomes_standby)
{
    struct world w;
    world_init(&w);
    three_voters(&w);
    server(&w, 4, LG_MEMBERS_ROLE_SPARE, 0);
    alive(&w, 4);
    expect(&w, LG_MEMBERS_STANDBY, 4);
}

Test(membership, caught_up_standby_becomes_voter_below_target)
{
    struct world w;
    world_init(&w);
    server(&w, 1, LG_MEMBERS_ROLE_VOTER, LAST_INDEX);
    server(&w, 2, LG_MEMBERS_ROLE_STANDBY, LAST_INDEX - 10u);
    alive(&w, 2);
    struct lg_members_action a = plan(&w);
    cr_assert_eq(a.op, LG_MEMBERS_VOTER);
    cr_assert_eq(a.id, 2u);
    cr_assert_eq(a.replaces_id, 0u);
}

Test(membership, standby_not_caught_up_waits)
{
    struct world w;
    world_init(&w);
    server(&w, 1, LG_MEMBERS_ROLE_VOTER, LAST_INDEX);
    server(&w, 2, LG_MEMBERS_ROLE_STANDBY, LAST_INDEX - 500u);
    alive(&w, 2);
    expect(&w, LG_MEMBERS_NONE, 0);
    w.servers[1].match_index = LAST_INDEX - LG_MEMBERS_CATCHUP_ENTRIES_DEFAULT;
    expect(&w, LG_MEMBERS_VOTER, 2);
}

Test(membership, standby_stays_standby_at_target)
{
    struct world w;
    world_init(&w);
    three_voters(&w);
    server(&w, 4, LG_MEMBERS_ROLE_STANDBY, LAST_INDEX);
    alive(&w, 4);
    expect(&w, LG_MEMBERS_NONE, 0);
}

Test(membership, dead_voter_past_grace_is_replaced_then_removed)
{
    struct world w;
    world_init(&w);
    three_voters(&w);
    server(&w, 4, LG_MEMBERS_ROLE_STANDBY, LAST_INDEX);
    alive(&w, 4);
    dead_since(&w, 3, LG_MEMBERS_DEAD_GRACE_MS_DEFAULT);
    struct lg_members_action a = plan(&w);
    cr_assert_eq(a.op, LG_MEMBERS_VOTER, "promote first, got %s", lg_members_op_name(a.op));
    cr_assert_eq(a.id, 4u);
    cr_assert_eq(a.replaces_id, 3u);
    w.servers[3].role = LG_MEMBERS_ROLE_VOTER; /* the promotion committed */
    a = plan(&w);
    cr_assert_eq(a.op, LG_MEMBERS_REMOVE);
    cr_assert_eq(a.id, 3u);
    w.n--; /* the removal committed (3 was the last but one; keep 4 in place) */
    w.servers[2] = w.servers[3];
    w.v.n_servers = w.n;
    expect(&w, LG_MEMBERS_NONE, 0);
}

Test(membership, dead_voter_within_grace_is_kept)
{
    struct world w;
    world_init(&w);
    three_voters(&w);
    server(&w, 4, LG_MEMBERS_ROLE_STANDBY, LAST_INDEX);
    alive(&w, 4);
    dead_since(&w, 3, LG_MEMBERS_DEAD_GRACE_MS_DEFAULT - 1u);
    expect(&w, LG_MEMBERS_NONE, 0);
    gossip_at(&w, 3, LG_DISC_EV_SUSPECT, LG_DISC_SUSPECT, NOW_MS - 600000u, NULL);
    expect(&w, LG_MEMBERS_NONE, 0); /* suspicion alone never counts */
}

Test(membership, dead_voter_without_standby_is_kept)
{
    struct world w;
    world_init(&w);
    three_voters(&w);
    dead_since(&w, 3, 10u * LG_MEMBERS_DEAD_GRACE_MS_DEFAULT);
    expect(&w, LG_MEMBERS_NONE, 0);
    /* A standby still catching up does not change that. */
    server(&w, 4, LG_MEMBERS_ROLE_STANDBY, 1);
    alive(&w, 4);
    expect(&w, LG_MEMBERS_NONE, 0);
}

Test(membership, voter_back_alive_is_kept)
{
    struct world w;
    world_init(&w);
    three_voters(&w);
    server(&w, 4, LG_MEMBERS_ROLE_VOTER, LAST_INDEX); /* 4 voters: one above the target */
    alive(&w, 4);
    dead_since(&w, 3, 2u * LG_MEMBERS_DEAD_GRACE_MS_DEFAULT);
    expect(&w, LG_MEMBERS_REMOVE, 3);
    gossip_at(&w, 3, LG_DISC_EV_UPDATED, LG_DISC_ALIVE, NOW_MS - 1u, NULL);
    expect(&w, LG_MEMBERS_NONE, 0);
}

Test(membership, removal_keeps_a_live_majority)
{
    struct world w;
    world_init(&w);
    /* Five voters, target 3, three dead past grace: removing one would leave 4 voters of
     * which only 2 are alive. */
    three_voters(&w);
    server(&w, 4, LG_MEMBERS_ROLE_VOTER, LAST_INDEX);
    server(&w, 5, LG_MEMBERS_ROLE_VOTER, LAST_INDEX);
    dead_since(&w, 3, 2u * LG_MEMBERS_DEAD_GRACE_MS_DEFAULT);
    dead_since(&w, 4, 2u * LG_MEMBERS_DEAD_GRACE_MS_DEFAULT);
    dead_since(&w, 5, 2u * LG_MEMBERS_DEAD_GRACE_MS_DEFAULT);
    expect(&w, LG_MEMBERS_NONE, 0);
    /* One of them back: 4 voters left with 3 alive is a majority. */
    gossip_at(&w, 5, LG_DISC_EV_UPDATED, LG_DISC_ALIVE, NOW_MS, NULL);
    expect(&w, LG_MEMBERS_REMOVE, 3);
}

Test(membership, dead_standby_past_grace_is_removed)
{
    struct world w;
    world_init(&w);
    three_voters(&w);
    server(&w, 4, LG_MEMBERS_ROLE_STANDBY, LAST_INDEX);
    gossip_at(&w, 4, LG_DISC_EV_LEFT, LG_DISC_LEFT, NOW_MS - LG_MEMBERS_DEAD_GRACE_MS_DEFAULT,
              NULL);
    expect(&w, LG_MEMBERS_REMOVE, 4);
}

Test(membership, unknown_server_is_never_acted_on)
{
    struct world w;
    world_init(&w);
    server(&w, 1, LG_MEMBERS_ROLE_VOTER, LAST_INDEX);
    server(&w, 2, LG_MEMBERS_ROLE_VOTER, LAST_INDEX);
    server(&w, 3, LG_MEMBERS_ROLE_VOTER, LAST_INDEX);
    server(&w, 4, LG_MEMBERS_ROLE_SPARE, 0);
    server(&w, 5, LG_MEMBERS_ROLE_STANDBY, LAST_INDEX);
    expect(&w, LG_MEMBERS_NONE, 0); /* gossip never reported 2..5 */
}

Test(membership, one_action_at_a_time)
{
    struct world w;
    world_init(&w);
    three_voters(&w);
    server(&w, 4, LG_MEMBERS_ROLE_SPARE, 0);
    alive(&w, 4);
    alive(&w, 5);
    alive(&w, 6);
    struct lg_members_action a = plan(&w);
    cr_assert_eq(a.op, LG_MEMBERS_STANDBY, "the spare first, got %s",
                 lg_members_op_name(a.op));
    cr_assert_eq(a.id, 4u);
    w.v.busy = true; /* that change is in flight or uncommitted */
    expect(&w, LG_MEMBERS_NONE, 0);
    w.v.busy = false;
    w.servers[3].role = LG_MEMBERS_ROLE_STANDBY;
    expect(&w, LG_MEMBERS_ADD, 5); /* lowest id first */
}

Test(membership, non_leader_plans_nothing)
{
    struct world w;
    world_init(&w);
    server(&w, 1, LG_MEMBERS_ROLE_VOTER, LAST_INDEX);
    server(&w, 2, LG_MEMBERS_ROLE_STANDBY, LAST_INDEX);
    alive(&w, 2);
    alive(&w, 3);
    w.v.leader = false;
    expect(&w, LG_MEMBERS_NONE, 0);
    w.v.leader = true;
    expect(&w, LG_MEMBERS_VOTER, 2);
}

Test(membership, address_configured_under_another_id_is_skipped)
{
    struct world w;
    world_init(&w);
    three_voters(&w);
    gossip_at(&w, 7, LG_DISC_EV_JOINED, LG_DISC_ALIVE, NOW_MS, "localhost:9003");
    struct lg_members_action a = plan(&w);
    cr_assert_eq(a.op, LG_MEMBERS_NONE);
    cr_assert_eq(a.conflict_id, 7u);
    cr_assert_eq(a.conflict_with_id, 3u);
    alive(&w, 8); /* another one is still added */
    a = plan(&w);
    cr_assert_eq(a.op, LG_MEMBERS_ADD);
    cr_assert_eq(a.id, 8u);
}

Test(membership, voter_target_five)
{
    struct world w;
    world_init(&w);
    w.p.voters_target = 5;
    three_voters(&w);
    server(&w, 4, LG_MEMBERS_ROLE_STANDBY, LAST_INDEX);
    alive(&w, 4);
    expect(&w, LG_MEMBERS_VOTER, 4);
}

Test(membership, table_follows_events)
{
    struct lg_members_table t;
    lg_members_table_init(&t);
    struct lg_disc_member m;
    memset(&m, 0, sizeof m);
    m.id = 9;
    snprintf(m.raft_address, sizeof m.raft_address, "localhost:1");
    m.state = LG_DISC_ALIVE;
    m.state_since_ms = 10;
    lg_members_table_update(&t, LG_DISC_EV_JOINED, &m, 50);
    const struct lg_members_peer *p = lg_members_table_find(&t, 9);
    cr_assert_not_null(p);
    cr_assert_eq(p->state, LG_DISC_ALIVE);
    cr_assert_eq(p->since_ms, 10u);
    m.state_since_ms = 0; /* unset: the caller's clock */
    lg_members_table_update(&t, LG_DISC_EV_DEAD, &m, 70);
    cr_assert_eq(p->state, LG_DISC_DEAD);
    cr_assert_eq(p->since_ms, 70u);
    lg_members_table_update(&t, LG_DISC_EV_DEAD, &m, 90); /* same state: since kept */
    cr_assert_eq(p->since_ms, 70u);
    /* A full table reuses a gone entry, and refuses when none is gone. */
    for (uint64_t id = 100; t.n < LG_MEMBERS_PEERS_MAX; id++) {
        m.id = id;
        m.state = LG_DISC_ALIVE;
        cr_assert_not_null(lg_members_table_update(&t, LG_DISC_EV_JOINED, &m, 100));
    }
    m.id = 5000;
    cr_assert_not_null(lg_members_table_update(&t, LG_DISC_EV_JOINED, &m, 100));
    cr_assert_null(lg_members_table_find(&t, 9));
    m.id = 5001;
    cr_assert_null(lg_members_table_update(&t, LG_DISC_EV_JOINED, &m, 100));
}

/* Finding: gossip loss alone (UDP blocked while Raft works) made a working voter "dead".
 * A voter gossip reports dead past grace is not down while Raft heard from it recently:
 * no promotion on its behalf, no removal; once Raft is silent too, it is replaced. */
Test(membership, voter_raft_still_hears_is_not_down)
{
    struct world w;
    world_init(&w);
    three_voters(&w);
    server(&w, 4, LG_MEMBERS_ROLE_STANDBY, LAST_INDEX);
    alive(&w, 4);
    dead_since(&w, 3, 10u * LG_MEMBERS_DEAD_GRACE_MS_DEFAULT);
    w.servers[2].raft_recent = true;
    expect(&w, LG_MEMBERS_NONE, 0);
    server(&w, 5, LG_MEMBERS_ROLE_VOTER, LAST_INDEX); /* 4 voters: 3 is not removed either */
    alive(&w, 5);
    expect(&w, LG_MEMBERS_NONE, 0);
    w.servers[2].raft_recent = false;
    expect(&w, LG_MEMBERS_REMOVE, 3);
    w.n--; /* back to 3 voters + standby 4: the standby replaces 3 */
    w.v.n_servers = w.n;
    expect(&w, LG_MEMBERS_VOTER, 4);
}

/* Raft contact also counts a voter as live for the majority of a removal: five voters,
 * target 3, 3..5 dead in gossip past grace but 4 and 5 still heard over Raft: 3 goes. */
Test(membership, raft_contact_counts_for_the_majority)
{
    struct world w;
    world_init(&w);
    three_voters(&w);
    server(&w, 4, LG_MEMBERS_ROLE_VOTER, LAST_INDEX);
    server(&w, 5, LG_MEMBERS_ROLE_VOTER, LAST_INDEX);
    dead_since(&w, 2, 2u * LG_MEMBERS_DEAD_GRACE_MS_DEFAULT);
    dead_since(&w, 3, 2u * LG_MEMBERS_DEAD_GRACE_MS_DEFAULT);
    dead_since(&w, 4, 2u * LG_MEMBERS_DEAD_GRACE_MS_DEFAULT);
    dead_since(&w, 5, 2u * LG_MEMBERS_DEAD_GRACE_MS_DEFAULT);
    expect(&w, LG_MEMBERS_NONE, 0);
    w.servers[3].raft_recent = true;
    w.servers[4].raft_recent = true;
    expect(&w, LG_MEMBERS_REMOVE, 2);
}

/* A standby that gossip reports alive under another Raft address than the configured one
 * is not healthy: never promoted. */
Test(membership, standby_at_another_address_is_not_promoted)
{
    struct world w;
    world_init(&w);
    server(&w, 1, LG_MEMBERS_ROLE_VOTER, LAST_INDEX);
    server(&w, 2, LG_MEMBERS_ROLE_STANDBY, LAST_INDEX);
    gossip_at(&w, 2, LG_DISC_EV_JOINED, LG_DISC_ALIVE, NOW_MS, "otherhost:9002");
    expect(&w, LG_MEMBERS_NONE, 0);
    gossip_at(&w, 2, LG_DISC_EV_UPDATED, LG_DISC_ALIVE, NOW_MS, NULL);
    expect(&w, LG_MEMBERS_VOTER, 2);
}

/* Finding: a dead machine replaced under a new id at the same (stable DNS) Raft address
 * deadlocked: the new id conflicts, the old one could not be removed (no standby, target
 * not kept). Past the grace period the old id is removed (the live voters left are a
 * majority), then the new one is added as usual. */
Test(membership, replaced_machine_at_the_same_address)
{
    struct world w;
    world_init(&w);
    three_voters(&w);
    gossip_at(&w, 7, LG_DISC_EV_JOINED, LG_DISC_ALIVE, NOW_MS, "localhost:9003");
    dead_since(&w, 3, LG_MEMBERS_DEAD_GRACE_MS_DEFAULT - 1u);
    struct lg_members_action a = plan(&w);
    cr_assert_eq(a.op, LG_MEMBERS_NONE, "within grace: %s", lg_members_op_name(a.op));
    cr_assert_eq(a.conflict_id, 7u);
    w.v.now_ms++; /* the grace period has passed */
    w.servers[2].raft_recent = true; /* Raft still hears the old one: kept */
    expect(&w, LG_MEMBERS_NONE, 0);
    w.servers[2].raft_recent = false;
    a = plan(&w);
    cr_assert_eq(a.op, LG_MEMBERS_REMOVE, "got %s", lg_members_op_name(a.op));
    cr_assert_eq(a.id, 3u);
    cr_assert_eq(a.replaces_id, 3u);
    cr_assert_eq(a.successor_id, 7u);
    w.n--; /* removed */
    w.v.n_servers = w.n;
    a = plan(&w);
    cr_assert_eq(a.op, LG_MEMBERS_ADD, "then added: %s", lg_members_op_name(a.op));
    cr_assert_eq(a.id, 7u);
    cr_assert_str_eq(a.raft_address, "localhost:9003");
}

/* The same, but the voters left would have no live majority: kept. */
Test(membership, replaced_machine_keeps_a_live_majority)
{
    struct world w;
    world_init(&w);
    three_voters(&w);
    gossip_at(&w, 7, LG_DISC_EV_JOINED, LG_DISC_ALIVE, NOW_MS, "localhost:9003");
    dead_since(&w, 3, 2u * LG_MEMBERS_DEAD_GRACE_MS_DEFAULT);
    dead_since(&w, 2, 2u * LG_MEMBERS_DEAD_GRACE_MS_DEFAULT); /* 1 of 2 left: no majority */
    struct lg_members_action a = plan(&w);
    cr_assert_eq(a.op, LG_MEMBERS_NONE, "got %s %llu", lg_members_op_name(a.op),
                 (unsigned long long)a.id);
}
