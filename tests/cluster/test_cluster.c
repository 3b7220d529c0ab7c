/* test_cluster: bootstrap, redirects, follower reads and write availability of real
 * `ledger-node serve` processes on loopback (DESIGN §1, §3, §4, §8, §12).
 *
 * Goal: a fresh 3- or 5-node cluster elects one leader; a write through the leader is
 * readable on every follower at each consistency level (`after` the write's index,
 * `linearizable`, `stale` once applied); a follower refuses a write with not_leader naming
 * the leader's client address; replicas that applied the same index hold the same chain
 * head. Without a quorum a write gets an error answer within a bound: never a hang, never
 * an acknowledgement.
 *
 * Method: tests/cluster/harness.h starts the processes with free ports and short Raft
 * timeouts and polls `status` with bounds; requests go through lib/client.h. Every check
 * that fails prints the node logs' tails and keeps the cluster directory. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

#define LEDGER "main"
#define ASSET "USD/2"
#define CREDIT 12345u
/* How long a follower may take to learn the leader's client address (it comes with the
 * leader's first connection, so it is known by the time a write has replicated). */
#define LEADER_HINT_TIMEOUT_MS 3000u
/* A submit without quorum must be answered within this bound. */
#define NO_QUORUM_ANSWER_MS 15000u

/* Submit through node i's own connection (no redirect following). */
static int submit_on(struct lgt_cluster *c, unsigned i, const struct lgt_transfer *t,
                     struct lg_arena *arena, struct lg_proto_response *resp, char *err,
                     unsigned timeout_ms)
{
    struct lg_conn *conn = lgt_node_conn(c, i, timeout_ms);
    struct lg_proto_request req;
    struct lg_posting posting;
    struct lg_kv kv;
    lgt_req_submit(&req, &posting, &kv, t);
    req.id = 1;
    memset(resp, 0, sizeof *resp);
    int rc = lg_conn_call(conn, &req, arena, resp, err);
    /* The response's views point into the connection's buffer: copy what is kept before
     * closing, so callers only read the fixed fields and error strings copied here. */
    static char message[512];
    static char leader[LG_CLIENT_ADDRESS_BYTES_MAX + 1u];
    if (rc == LG_OK && !resp->ok) {
        size_t m = resp->error.message.len < sizeof message - 1u ? resp->error.message.len
                                                                 : sizeof message - 1u;
        memcpy(message, resp->error.message.ptr, m);
        message[m] = '\0';
        size_t l = resp->error.leader.len < sizeof leader - 1u ? resp->error.leader.len
                                                               : sizeof leader - 1u;
        if (l > 0) {
            memcpy(leader, resp->error.leader.ptr, l);
        }
        leader[l] = '\0';
        resp->error.message = lgt_str(message);
        resp->error.leader = lgt_str(leader);
    }
    lg_conn_close(conn);
    return rc;
}

/* One read on node i (its own connection); fails the test unless the answer is ok. The
 * response stays valid until the next call (arena reset, connection kept open). */
static struct lg_conn *read_conn;
static void read_ok(struct lgt_cluster *c, unsigned i, struct lg_proto_request *req,
                    struct lg_arena *arena, struct lg_proto_response *resp, const char *what)
{
    if (read_conn != NULL) {
        lg_conn_close(read_conn);
    }
    read_conn = lgt_node_conn(c, i, 10000);
    lg_arena_reset(arena);
    memset(resp, 0, sizeof *resp);
    char err[LG_ERRMSG_SIZE] = "";
    req->id = 7;
    int rc = lg_conn_call(read_conn, req, arena, resp, err);
    LGT_CHECK(c, rc == LG_OK, "%s on node %u: no answer: %s %s", what, i + 1u,
              lg_err_name(rc), err);
    LGT_CHECK(c, resp->ok, "%s on node %u refused: %s %.*s", what, i + 1u,
              lg_err_wire(resp->error.code), (int)resp->error.message.len,
              resp->error.message.ptr);
}

static void check_tx(struct lgt_cluster *c, unsigned i, const struct lg_proto_tx *got,
                     const struct lg_proto_tx_result *w, const char *what)
{
    char h1[65], h2[65];
    LGT_CHECK(c, got->tx_id == w->tx_id && got->seq == w->seq && got->index == w->index,
              "%s on node %u: tx_id/seq/index %llu/%llu/%llu, written %llu/%llu/%llu", what,
              i + 1u, (unsigned long long)got->tx_id, (unsigned long long)got->seq,
              (unsigned long long)got->index, (unsigned long long)w->tx_id,
              (unsigned long long)w->seq, (unsigned long long)w->index);
    LGT_CHECK(c, memcmp(got->hash, w->hash, LG_PROTO_HASH_BYTES) == 0,
              "%s on node %u: hash %s, written %s", what, i + 1u, lgt_hex(got->hash, h1),
              lgt_hex(w->hash, h2));
    LGT_CHECK(c, got->timestamp_us == w->timestamp_us, "%s on node %u: timestamp differs",
              what, i + 1u);
    LGT_CHECK(c, got->n_postings == 1 && lgt_str_is(got->postings[0].source, "world") &&
                     lgt_str_is(got->postings[0].destination, "users:1:main") &&
                     lgt_str_is(got->postings[0].asset, ASSET) &&
                     got->postings[0].amount == CREDIT,
              "%s on node %u: postings differ from the write", what, i + 1u);
    LGT_CHECK(c, lgt_str_is(got->reference, "basics-1"), "%s on node %u: reference %.*s",
              what, i + 1u, (int)got->reference.len, got->reference.ptr);
}

/* Submit t to the leader (its own connection); fails the test unless acknowledged. */
static struct lg_proto_tx_result write_on_leader(struct lgt_cluster *c, unsigned leader,
                                                 const struct lgt_transfer *t,
                                                 struct lg_arena *arena)
{
    struct lg_proto_response resp;
    char err[LG_ERRMSG_SIZE] = "";
    lg_arena_reset(arena);
    int rc = submit_on(c, leader, t, arena, &resp, err, 10000);
    LGT_CHECK(c, rc == LG_OK, "submit %s to the leader: %s %s", t->reference, lg_err_name(rc),
              err);
    LGT_CHECK(c, resp.ok, "submit %s to the leader refused: %s %.*s", t->reference,
              lg_err_wire(resp.error.code), (int)resp.error.message.len,
              resp.error.message.ptr);
    return resp.u.submit;
}

/* Test 1 and 2: the basics, on a started cluster. Each follower read at `after` or
 * `linearizable` is sent right after a new write was acknowledged, before the follower has
 * necessarily applied it: a follower answering from its state as is would miss it. */
static void check_basics(struct lgt_cluster *c)
{
    unsigned leader = lgt_cluster_leader(c, LGT_LEADER_TIMEOUT_MS);
    const char *leader_client = c->nodes[leader].client_address;
    struct lg_arena arena;
    lg_arena_init(&arena, 0);
    struct lg_proto_response resp;
    char err[LG_ERRMSG_SIZE] = "";

    /* A write through the leader. */
    struct lgt_transfer t = {.ledger = LEDGER, .source = "world",
                             .destination = "users:1:main", .amount = CREDIT, .asset = ASSET,
                             .reference = "basics-1", .meta_key = "note",
                             .meta_value = "first"};
    struct lg_proto_tx_result w = write_on_leader(c, leader, &t, &arena);
    LGT_CHECK(c, w.tx_id == 0 && w.seq == 1, "first transaction got tx_id %llu seq %llu",
              (unsigned long long)w.tx_id, (unsigned long long)w.seq);
    LGT_CHECK(c, w.index > 0, "write index 0");
    uint64_t writes = 1;
    lg_i128 credited = CREDIT;
    uint64_t last_index = w.index;

    for (unsigned i = 0; i < c->o.n_nodes; i++) {
        if (i == leader) {
            continue;
        }
        /* A follower refuses a write and names the leader's client address. */
        char ref[32];
        snprintf(ref, sizeof ref, "basics-follower-%u", i + 1u);
        struct lgt_transfer ft = t;
        ft.reference = ref;
        uint64_t deadline = lgt_now_ms() + LEADER_HINT_TIMEOUT_MS;
        for (unsigned tries = 0;; tries++) {
            lg_arena_reset(&arena);
            int rc = submit_on(c, i, &ft, &arena, &resp, err, 10000);
            LGT_CHECK(c, rc == LG_OK, "submit to follower %u: %s %s", i + 1u, lg_err_name(rc),
                      err);
            LGT_CHECK(c, !resp.ok, "follower %u accepted a write (leader is node %u)", i + 1u,
                      leader + 1u);
            LGT_CHECK(c, resp.error.code == LG_ENOTLEADER, "follower %u answered %s %.*s, "
                      "expected not_leader", i + 1u, lg_err_wire(resp.error.code),
                      (int)resp.error.message.len, resp.error.message.ptr);
            if (resp.error.leader.len > 0 || lgt_now_ms() >= deadline || tries > 1000u) {
                break;
            }
            lgt_sleep_ms(LGT_POLL_MS);
        }
        LGT_CHECK(c, lgt_str_is(resp.error.leader, leader_client),
                  "follower %u's not_leader names leader \"%.*s\", the leader's --client is "
                  "%s", i + 1u, (int)resp.error.leader.len, resp.error.leader.ptr,
                  leader_client);

        /* Read-your-writes on the follower: a new write, then get_tx after its index. */
        char ref_after[32];
        snprintf(ref_after, sizeof ref_after, "basics-after-%u", i + 1u);
        struct lgt_transfer at = {.ledger = LEDGER, .source = "world",
                                  .destination = "users:1:main", .amount = 1, .asset = ASSET,
                                  .reference = ref_after};
        struct lg_proto_tx_result wa = write_on_leader(c, leader, &at, &arena);
        writes++;
        credited += 1;
        struct lg_proto_request req;
        lgt_req_get_tx(&req, LEDGER, wa.tx_id, NULL, LG_PROTO_READ_AFTER, wa.index);
        read_ok(c, i, &req, &arena, &resp, "get_tx after");
        char h1[65], h2[65];
        LGT_CHECK(c, resp.u.get_tx.tx_id == wa.tx_id && resp.u.get_tx.index == wa.index &&
                         memcmp(resp.u.get_tx.hash, wa.hash, LG_PROTO_HASH_BYTES) == 0,
                  "get_tx after %llu on node %u: tx %llu index %llu hash %s, written tx %llu "
                  "hash %s", (unsigned long long)wa.index, i + 1u,
                  (unsigned long long)resp.u.get_tx.tx_id,
                  (unsigned long long)resp.u.get_tx.index, lgt_hex(resp.u.get_tx.hash, h1),
                  (unsigned long long)wa.tx_id, lgt_hex(wa.hash, h2));

        /* Linearizable balance on the follower, right after another write. */
        char ref_lin[32];
        snprintf(ref_lin, sizeof ref_lin, "basics-lin-%u", i + 1u);
        at.reference = ref_lin;
        struct lg_proto_tx_result wl = write_on_leader(c, leader, &at, &arena);
        writes++;
        credited += 1;
        last_index = wl.index;
        lgt_req_balances(&req, LEDGER, "users:1:main", ASSET, LG_PROTO_READ_LINEARIZABLE, 0);
        read_ok(c, i, &req, &arena, &resp, "balances linearizable");
        lg_i128 bal = 0;
        LGT_CHECK(c, lgt_balance_of(&resp, "users:1:main", ASSET, &bal),
                  "balances on node %u: no users:1:main %s", i + 1u, ASSET);
        LGT_CHECK(c, bal == credited, "linearizable balance on node %u: %lld, expected %lld "
                  "(write %s at index %llu acknowledged before the read)", i + 1u,
                  (long long)bal, (long long)credited, ref_lin, (unsigned long long)wl.index);

        /* Stale reads (everything above is applied here now). */
        lgt_req_get_tx(&req, LEDGER, 0, "basics-1", LG_PROTO_READ_STALE, 0);
        read_ok(c, i, &req, &arena, &resp, "get_tx stale by reference");
        check_tx(c, i, &resp.u.get_tx, &w, "get_tx stale by reference");
        lgt_req_balances(&req, LEDGER, "world", ASSET, LG_PROTO_READ_STALE, 0);
        read_ok(c, i, &req, &arena, &resp, "balances stale");
        LGT_CHECK(c, lgt_balance_of(&resp, "world", ASSET, &bal) && bal == -credited,
                  "node %u: world's stale balance %lld, expected -%lld", i + 1u,
                  (long long)bal, (long long)credited);
    }

    /* Every replica at the same applied index holds the same chain head. */
    struct lgt_status st;
    lgt_cluster_wait_converged(c, last_index, LGT_CONVERGE_TIMEOUT_MS, &st);
    LGT_CHECK(c, st.journal_seq == writes, "journal_seq %llu after %llu writes",
              (unsigned long long)st.journal_seq, (unsigned long long)writes);

    /* The writes the followers refused changed nothing. */
    for (unsigned i = 0; i < c->o.n_nodes; i++) {
        if (i == leader) {
            continue;
        }
        char ref[32];
        snprintf(ref, sizeof ref, "basics-follower-%u", i + 1u);
        struct lg_proto_request req;
        lgt_req_get_tx(&req, LEDGER, 0, ref, LG_PROTO_READ_LINEARIZABLE, 0);
        if (read_conn != NULL) {
            lg_conn_close(read_conn);
        }
        read_conn = lgt_node_conn(c, leader, 10000);
        lg_arena_reset(&arena);
        memset(&resp, 0, sizeof resp);
        req.id = 9;
        int rc = lg_conn_call(read_conn, &req, &arena, &resp, err);
        LGT_CHECK(c, rc == LG_OK && !resp.ok && resp.error.code == LG_ENOTFOUND,
                  "get_tx %s (refused by a follower) should be not_found: %s ok %d %s", ref,
                  lg_err_name(rc), (int)resp.ok, lg_err_wire(resp.error.code));
    }
    lg_conn_close(read_conn);
    read_conn = NULL;
    lg_arena_close(&arena);
}

Test(cluster, three_nodes_bootstrap_write_and_follower_reads, .fini = lgt_cluster_fini,
     .timeout = 120)
{
    struct lgt_cluster_options o = {.n_nodes = 3};
    struct lgt_cluster *c = lgt_cluster_new(&o);
    lgt_cluster_start(c);
    check_basics(c);
    lgt_cluster_pass(c);
}

Test(cluster, five_nodes_bootstrap_and_replicate, .fini = lgt_cluster_fini, .timeout = 120)
{
    struct lgt_cluster_options o = {.n_nodes = 5};
    struct lgt_cluster *c = lgt_cluster_new(&o);
    lgt_cluster_start(c);
    check_basics(c);
    lgt_cluster_pass(c);
}

/* Without a quorum: the leader loses both followers; a submit to it (and a second one,
 * once it has noticed) is answered with an error within the bound, never acknowledged. */
Test(cluster, no_quorum_writes_fail_fast, .fini = lgt_cluster_fini, .timeout = 120)
{
    struct lgt_cluster_options o = {.n_nodes = 3};
    struct lgt_cluster *c = lgt_cluster_new(&o);
    lgt_cluster_start(c);
    unsigned leader = lgt_cluster_leader(c, LGT_LEADER_TIMEOUT_MS);
    struct lg_client *cl = lgt_cluster_client(c, NULL, 0, 5000, 0);
    struct lg_proto_tx_result w;
    struct lgt_transfer t = {.ledger = LEDGER, .source = "world",
                             .destination = "users:1:main", .amount = 1, .asset = ASSET,
                             .reference = "quorum-0"};
    lgt_submit_ok(c, cl, &t, &w);
    lg_client_close(cl);
    for (unsigned i = 0; i < c->o.n_nodes; i++) {
        if (i != leader) {
            lgt_node_kill(c, i);
        }
    }
    struct lg_arena arena;
    lg_arena_init(&arena, 0);
    for (unsigned k = 1; k <= 2; k++) {
        char ref[32];
        snprintf(ref, sizeof ref, "quorum-%u", k);
        t.reference = ref;
        struct lg_proto_response resp;
        char err[LG_ERRMSG_SIZE] = "";
        uint64_t t0 = lgt_now_ms();
        lg_arena_reset(&arena);
        int rc = submit_on(c, leader, &t, &arena, &resp, err, NO_QUORUM_ANSWER_MS);
        uint64_t elapsed = lgt_now_ms() - t0;
        LGT_CHECK(c, rc == LG_OK, "submit %u without quorum: no answer after %llu ms: %s %s",
                  k, (unsigned long long)elapsed, lg_err_name(rc), err);
        LGT_CHECK(c, !resp.ok, "submit %u was acknowledged by 1 node of 3 (index %llu)", k,
                  (unsigned long long)resp.u.submit.index);
        LGT_CHECK(c, resp.error.code == LG_EUNAVAIL || resp.error.code == LG_ENOTLEADER ||
                         resp.error.code == LG_ETIMEOUT,
                  "submit %u answered %s %s, expected unavailable, not_leader or timeout", k,
                  lg_err_wire(resp.error.code), resp.error.message.ptr);
        LGT_CHECK(c, elapsed < NO_QUORUM_ANSWER_MS, "submit %u answered after %llu ms", k,
                  (unsigned long long)elapsed);
        cr_log_info("no quorum: submit %u answered %s in %llu ms", k,
                    lg_err_wire(resp.error.code), (unsigned long long)elapsed);
    }
    lg_arena_close(&arena);
    /* The survivor is still serving. */
    struct lgt_status st;
    char err[LG_ERRMSG_SIZE] = "";
    int rc = lgt_node_status(c, leader, &st, err);
    LGT_CHECK(c, rc == LG_OK, "survivor status: %s %s", lg_err_name(rc), err);
    LGT_CHECK(c, lgt_node_running(c, leader) && !lgt_node_exited(c, leader, NULL),
              "the survivor exited");
    lgt_cluster_pass(c);
}

Test(cluster, account_read_on_a_follower_after_a_write, .fini = lgt_cluster_fini,
     .timeout = 60)
{
    struct lgt_cluster_options o = {.n_nodes = 3};
    struct lgt_cluster *c = lgt_cluster_new(&o);
    lgt_cluster_start(c);
    unsigned leader = lgt_cluster_leader(c, LGT_LEADER_TIMEOUT_MS);
    struct lg_client *cl = lgt_cluster_client(c, NULL, 0, 5000, 40);
    struct lg_proto_tx_result w;
    struct lgt_transfer t = {.ledger = "acct", .source = "world",
                             .destination = "users:7:main", .amount = 1234, .asset = "EUR/2",
                             .reference = "acct-1", .meta_key = "k", .meta_value = "v"};
    lgt_submit_ok(c, cl, &t, &w);
    lg_client_close(cl);
    unsigned follower = (leader + 1u) % 3u;
    struct lg_conn *conn = lgt_node_conn(c, follower, 10000);
    struct lg_arena arena;
    lg_arena_init(&arena, 0);
    struct lg_proto_request req;
    memset(&req, 0, sizeof req);
    req.id = 9;
    req.op = LG_PROTO_OP_ACCOUNT;
    req.consistency = LG_PROTO_READ_AFTER;
    req.after_index = w.index;
    req.u.account.ledger = lgt_str("acct");
    req.u.account.address = lgt_str("users:7:main");
    struct lg_proto_response resp;
    char err[LG_ERRMSG_SIZE];
    LGT_CHECK(c, lg_conn_call(conn, &req, &arena, &resp, err) == LG_OK, "account: %s", err);
    LGT_CHECK(c, resp.ok, "account: %s %.*s", lg_err_name(resp.error.code),
              (int)resp.error.message.len, resp.error.message.ptr);
    LGT_CHECK(c, lgt_str_is(resp.u.account.address, "users:7:main") &&
                     resp.u.account.n_volumes == 1 &&
                     lgt_str_is(resp.u.account.volumes[0].asset, "EUR/2") &&
                     resp.u.account.volumes[0].input == 1234 &&
                     resp.u.account.volumes[0].output == 0 &&
                     resp.u.account.volumes[0].balance == 1234 && resp.u.account.version >= 1,
              "account on follower %u: %u volumes", follower + 1u, resp.u.account.n_volumes);
    /* An unknown account is not_found, not an empty success. */
    req.id = 10;
    req.u.account.address = lgt_str("users:8:main");
    lg_arena_reset(&arena);
    LGT_CHECK(c, lg_conn_call(conn, &req, &arena, &resp, err) == LG_OK, "account: %s", err);
    LGT_CHECK(c, !resp.ok && resp.error.code == LG_ENOTFOUND, "unknown account: ok=%d",
              resp.ok);
    lg_conn_close(conn);
    lg_arena_close(&arena);
    lgt_cluster_pass(c);
}

Test(cluster, members_lists_the_configuration_with_roles_and_leader, .fini = lgt_cluster_fini,
     .timeout = 60)
{
    struct lgt_cluster_options o = {.n_nodes = 3};
    struct lgt_cluster *c = lgt_cluster_new(&o);
    lgt_cluster_start(c);
    unsigned leader = lgt_cluster_leader(c, LGT_LEADER_TIMEOUT_MS);
    unsigned follower = (leader + 1u) % 3u;
    struct lg_conn *conn = lgt_node_conn(c, follower, 10000);
    struct lg_arena arena;
    lg_arena_init(&arena, 0);
    struct lg_proto_request req;
    memset(&req, 0, sizeof req);
    req.id = 3;
    req.op = LG_PROTO_OP_MEMBERS;
    struct lg_proto_response resp;
    char err[LG_ERRMSG_SIZE];
    LGT_CHECK(c, lg_conn_call(conn, &req, &arena, &resp, err) == LG_OK && resp.ok,
              "members: %s", err);
    LGT_CHECK(c, resp.u.members.n_items == 3, "%u members", resp.u.members.n_items);
    unsigned leaders = 0;
    for (uint32_t i = 0; i < resp.u.members.n_items; i++) {
        const struct lg_proto_member *m = &resp.u.members.items[i];
        LGT_CHECK(c, m->id == i + 1u, "member %u has id %llu (want id order)", i,
                  (unsigned long long)m->id);
        LGT_CHECK(c, lgt_str_is(m->raft_address, c->nodes[i].raft_address),
                  "member %u raft address %.*s", i, (int)m->raft_address.len,
                  m->raft_address.ptr);
        LGT_CHECK(c, lgt_str_is(m->role, "voter"), "member %u role %.*s", i,
                  (int)m->role.len, m->role.ptr);
        leaders += m->leader ? 1u : 0u;
        /* The follower knows its own client address and the leader's (handshake). */
        if (i == follower || i == leader) {
            LGT_CHECK(c, lgt_str_is(m->client_address, c->nodes[i].client_address),
                      "member %u client address %.*s", i, (int)m->client_address.len,
                      m->client_address.ptr);
        }
        LGT_CHECK(c, m->leader == (i == leader), "member %u leader flag", i);
    }
    LGT_CHECK(c, leaders == 1, "%u leaders", leaders);
    lg_conn_close(conn);
    lg_arena_close(&arena);
    lgt_cluster_pass(c);
}

/* A client that never reads: the node keeps its answers up to the per-connection bound
 * (64 MiB), then closes that connection and logs why, and keeps serving everyone else. */
Test(cluster, client_that_never_reads_is_cut_off_and_others_are_served,
     .fini = lgt_cluster_fini, .timeout = 120)
{
    struct lgt_cluster_options o = {.n_nodes = 3};
    struct lgt_cluster *c = lgt_cluster_new(&o);
    lgt_cluster_start(c);
    unsigned leader = lgt_cluster_leader(c, LGT_LEADER_TIMEOUT_MS);
    /* 1000 transactions with 200-byte metadata: a list_txs page of 1000 is ~0.4 MB. */
    struct lg_client *cl = lgt_cluster_client(c, NULL, 0, 5000, 40);
    char meta[201];
    memset(meta, 'm', 200);
    meta[200] = '\0';
    struct lg_proto_tx_result w;
    for (unsigned k = 0; k < 1000; k++) {
        char ref[32];
        snprintf(ref, sizeof ref, "slow-%u", k);
        struct lgt_transfer t = {.ledger = "slow", .source = "world",
                                 .destination = "users:1:main", .amount = 1, .asset = ASSET,
                                 .reference = ref, .meta_key = "m", .meta_value = meta};
        lgt_submit_ok(c, cl, &t, &w);
    }
    lg_client_close(cl);
    struct lg_conn *slow = lgt_node_conn(c, leader, 10000);
    char err[LG_ERRMSG_SIZE];
    unsigned sent = 0;
    uint64_t deadline = lgt_now_ms() + 30000u;
    /* 400 pages ≈ 160 MB of answers: far past the bound. Sending may block once the node
     * stops reading (its in-flight bound); that is fine: stop at the first failure. */
    lg_conn_set_timeout(slow, 2000);
    for (; sent < 400 && lgt_now_ms() < deadline; sent++) {
        struct lg_proto_request req;
        lgt_req_list_txs(&req, "slow", 1000, (struct lg_str){NULL, 0}, LG_PROTO_READ_STALE);
        req.id = sent + 1u;
        if (lg_conn_send(slow, &req, err) != LG_OK) {
            break;
        }
    }
    bool cut = false;
    while (!cut && lgt_now_ms() < deadline) {
        cut = lgt_node_log_contains(c, leader, "reason=out_bytes_max", true);
        /* Meanwhile another client is served. */
        struct lg_conn *other = lgt_node_conn(c, leader, 5000);
        struct lg_proto_request ping;
        memset(&ping, 0, sizeof ping);
        ping.id = 1;
        ping.op = LG_PROTO_OP_PING;
        struct lg_arena arena;
        lg_arena_init(&arena, 0);
        struct lg_proto_response resp;
        LGT_CHECK(c, lg_conn_call(other, &ping, &arena, &resp, err) == LG_OK && resp.ok,
                  "ping while a client does not read: %s", err);
        lg_arena_close(&arena);
        lg_conn_close(other);
        lgt_sleep_ms(50);
    }
    LGT_CHECK(c, cut, "the node did not close the non-reading client (sent %u pages)", sent);
    lg_conn_close(slow);
    LGT_CHECK(c, lgt_node_running(c, leader), "the leader died");
    lgt_cluster_pass(c);
}

/* Hundreds of connections at once on one node, each answered. */
Test(cluster, three_hundred_connections_are_served, .fini = lgt_cluster_fini, .timeout = 60)
{
    struct lgt_cluster_options o = {.n_nodes = 3};
    struct lgt_cluster *c = lgt_cluster_new(&o);
    lgt_cluster_start(c);
    unsigned leader = lgt_cluster_leader(c, LGT_LEADER_TIMEOUT_MS);
    enum { N_CONNS = 300 };
    static struct lg_conn *conns[N_CONNS];
    char err[LG_ERRMSG_SIZE];
    for (unsigned i = 0; i < N_CONNS; i++) {
        conns[i] = lgt_node_conn(c, leader, 5000);
        struct lg_proto_request ping;
        memset(&ping, 0, sizeof ping);
        ping.id = i + 1u;
        ping.op = LG_PROTO_OP_PING;
        LGT_CHECK(c, lg_conn_send(conns[i], &ping, err) == LG_OK, "send %u: %s", i, err);
    }
    struct lg_arena arena;
    lg_arena_init(&arena, 0);
    for (unsigned i = 0; i < N_CONNS; i++) {
        const uint8_t *body = NULL;
        size_t len = 0;
        LGT_CHECK(c, lg_conn_recv_frame(conns[i], &body, &len, err) == LG_OK,
                  "connection %u: %s", i, err);
        struct lg_proto_response resp;
        lg_arena_reset(&arena);
        LGT_CHECK(c, lg_proto_decode_response(LG_PROTO_OP_PING, body, len, &arena, &resp,
                                              err) == LG_OK && resp.ok && resp.id == i + 1u &&
                         resp.u.ping_node_id == leader + 1u,
                  "connection %u: bad answer %s", i, err);
    }
    for (unsigned i = 0; i < N_CONNS; i++) {
        lg_conn_close(conns[i]);
    }
    lg_arena_close(&arena);
    lgt_cluster_pass(c);
}
