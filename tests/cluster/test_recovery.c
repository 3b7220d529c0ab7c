/* test_recovery: restarts, snapshots with journal catch-up, and fatal disk errors
 * (DESIGN §1.1, §1.6, §1.7, §6, §7, §12).
 *
 * Goal: SIGKILL of every node at once loses no acknowledged transaction, whatever the
 * entry sizes; a follower that missed many entries is brought up to date by an
 * InstallSnapshot and then fetches the journal records the snapshot does not carry from a
 * peer, so it serves the whole history; a node whose Raft log append fails exits with
 * status 74 (the supervisor restarts it) while the others keep taking writes.
 *
 * Method: real processes (tests/cluster/harness.h); transactions written one by one through
 * lib/client.h, each acknowledged result kept; after restarts the cluster must converge
 * (same applied index, journal seq and chain head everywhere) and every acknowledged
 * transaction must read back with the same tx_id and hash on every node. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"

#define LEDGER "main"
#define ASSET "USD/2"
/* all_nodes_restart: metadata values of lengths 1..META_LEN_MAX, one per transaction. */
#define META_LEN_MAX 40u
/* snapshot_install: Raft snapshot settings and how many single writes the follower misses. */
#define SNAP_THRESHOLD 16u
#define SNAP_TRAILING 8u
#define SNAP_WRITES 200u
#define SNAP_CONVERGE_MS 60000u
/* disk_write_error: the follower's failing append, and the write bound to reach it. */
#define FAULT_APPEND_AT "20"
#define FAULT_WRITES_MAX 2000u
#define FAULT_WRITES_MS 20000u
#define FAULT_EXIT_STATUS 74
#define AFTER_FAULT_WRITES 10u

/* get_tx by tx_id on node i must return tx_id with hash; returns the metadata value length
 * of the first pair (0 if none). */
static uint32_t expect_tx(struct lgt_cluster *c, struct lg_conn *conn, unsigned i,
                          struct lg_arena *arena, uint64_t tx_id, const uint8_t *hash,
                          const char *reference)
{
    struct lg_proto_request req;
    lgt_req_get_tx(&req, LEDGER, tx_id, NULL, LG_PROTO_READ_STALE, 0);
    req.id = tx_id + 1u;
    struct lg_proto_response resp;
    memset(&resp, 0, sizeof resp);
    char err[LG_ERRMSG_SIZE] = "";
    lg_arena_reset(arena);
    int rc = lg_conn_call(conn, &req, arena, &resp, err);
    LGT_CHECK(c, rc == LG_OK, "get_tx %llu on node %u: %s %s", (unsigned long long)tx_id,
              i + 1u, lg_err_name(rc), err);
    LGT_CHECK(c, resp.ok, "get_tx %llu on node %u refused: %s %.*s (acknowledged write lost?)",
              (unsigned long long)tx_id, i + 1u, lg_err_wire(resp.error.code),
              (int)resp.error.message.len, resp.error.message.ptr);
    char h1[65], h2[65];
    LGT_CHECK(c, resp.u.get_tx.tx_id == tx_id &&
                     memcmp(resp.u.get_tx.hash, hash, LG_PROTO_HASH_BYTES) == 0,
              "get_tx %llu on node %u: tx %llu hash %s, acknowledged hash %s",
              (unsigned long long)tx_id, i + 1u, (unsigned long long)resp.u.get_tx.tx_id,
              lgt_hex(resp.u.get_tx.hash, h1), lgt_hex(hash, h2));
    LGT_CHECK(c, reference == NULL || lgt_str_is(resp.u.get_tx.reference, reference),
              "get_tx %llu on node %u: reference %.*s, written %s", (unsigned long long)tx_id,
              i + 1u, (int)resp.u.get_tx.reference.len, resp.u.get_tx.reference.ptr,
              reference != NULL ? reference : "");
    return resp.u.get_tx.n_metadata > 0 ? resp.u.get_tx.metadata[0].value.len : 0u;
}

Test(cluster, all_nodes_restart_keep_every_entry, .fini = lgt_cluster_fini, .timeout = 120)
{
    struct lgt_cluster_options o = {.n_nodes = 3};
    struct lgt_cluster *c = lgt_cluster_new(&o);
    lgt_cluster_start(c);
    lgt_cluster_leader(c, LGT_LEADER_TIMEOUT_MS);
    struct lg_client *cl = lgt_cluster_client(c, NULL, 0, 5000, 40);
    struct lg_proto_tx_result w[META_LEN_MAX + 1u];
    char refs[META_LEN_MAX + 1u][32];
    char dst[META_LEN_MAX + 1u][32];
    char meta[META_LEN_MAX + 1u];
    uint64_t max_index = 0;
    /* Entry sizes vary by one byte at a time, so they are not all multiples of 8 before
     * the adapter pads them. */
    for (unsigned k = 0; k < META_LEN_MAX; k++) {
        unsigned len = k + 1u;
        memset(meta, 'a' + (int)(k % 26u), len);
        meta[len] = '\0';
        snprintf(refs[k], sizeof refs[k], "all-%02u", k);
        snprintf(dst[k], sizeof dst[k], "users:%u:main", k % 4u);
        struct lgt_transfer t = {.ledger = LEDGER, .source = "world", .destination = dst[k],
                                 .amount = k + 1u, .asset = ASSET, .reference = refs[k],
                                 .meta_key = "note", .meta_value = meta};
        lgt_submit_ok(c, cl, &t, &w[k]);
        LGT_CHECK(c, w[k].tx_id == k, "write %u got tx_id %llu", k,
                  (unsigned long long)w[k].tx_id);
        max_index = w[k].index > max_index ? w[k].index : max_index;
    }
    lg_client_close(cl);
    /* SIGKILL every node at once, then reap them. */
    for (unsigned i = 0; i < c->o.n_nodes; i++) {
        lgt_node_signal(c, i, SIGKILL);
    }
    for (unsigned i = 0; i < c->o.n_nodes; i++) {
        int st = 0;
        LGT_CHECK(c, lgt_node_wait_exit(c, i, LGT_EXIT_TIMEOUT_MS, &st), "node %u lives", i);
        LGT_CHECK(c, WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "node %u ended otherwise",
                  i + 1u);
    }
    lgt_cluster_start(c);
    lgt_cluster_wait_converged(c, max_index, LGT_CONVERGE_TIMEOUT_MS, NULL);
    struct lg_arena arena;
    lg_arena_init(&arena, 0);
    for (unsigned i = 0; i < c->o.n_nodes; i++) {
        struct lg_conn *conn = lgt_node_conn(c, i, 10000);
        for (unsigned k = 0; k < META_LEN_MAX; k++) {
            uint32_t len = expect_tx(c, conn, i, &arena, k, w[k].hash, refs[k]);
            LGT_CHECK(c, len == k + 1u, "tx %u on node %u: metadata of %u bytes, wrote %u", k,
                      i + 1u, len, k + 1u);
        }
        lg_conn_close(conn);
    }
    /* New writes work and continue the numbering. */
    cl = lgt_cluster_client(c, NULL, 0, 5000, 40);
    struct lgt_transfer t = {.ledger = LEDGER, .source = "world", .destination = "users:9:main",
                             .amount = 7, .asset = ASSET, .reference = "all-new"};
    lgt_submit_ok(c, cl, &t, &w[META_LEN_MAX]);
    LGT_CHECK(c, w[META_LEN_MAX].tx_id == META_LEN_MAX, "new write got tx_id %llu",
              (unsigned long long)w[META_LEN_MAX].tx_id);
    lg_client_close(cl);
    struct lgt_status st;
    lgt_cluster_wait_converged(c, w[META_LEN_MAX].index, LGT_CONVERGE_TIMEOUT_MS, &st);
    LGT_CHECK(c, st.journal_seq == META_LEN_MAX + 1u, "journal_seq %llu",
              (unsigned long long)st.journal_seq);
    lg_arena_close(&arena);
    lgt_cluster_pass(c);
}

Test(cluster, snapshot_install_and_journal_catchup, .fini = lgt_cluster_fini, .timeout = 180)
{
    struct lgt_cluster_options o = {.n_nodes = 3, .snapshot_threshold = SNAP_THRESHOLD,
                                    .snapshot_trailing = SNAP_TRAILING};
    struct lgt_cluster *c = lgt_cluster_new(&o);
    lgt_cluster_start(c);
    unsigned leader = lgt_cluster_leader(c, LGT_LEADER_TIMEOUT_MS);
    unsigned follower = (leader + 1u) % c->o.n_nodes;
    lgt_node_kill(c, follower);
    struct lg_client *cl = lgt_cluster_client(c, NULL, 0, 5000, 40);
    struct lg_proto_tx_result first, last;
    char ref[32];
    char dst[32];
    for (unsigned k = 0; k < SNAP_WRITES; k++) {
        snprintf(ref, sizeof ref, "snap-%u", k);
        snprintf(dst, sizeof dst, "users:%u:main", k % 7u);
        struct lgt_transfer t = {.ledger = LEDGER, .source = "world", .destination = dst,
                                 .amount = k + 1u, .asset = ASSET, .reference = ref};
        lgt_submit_ok(c, cl, &t, &last);
        if (k == 0) {
            first = last;
        }
    }
    lg_client_close(cl);
    LGT_CHECK(c, first.tx_id == 0 && last.tx_id == SNAP_WRITES - 1u, "tx_ids %llu..%llu",
              (unsigned long long)first.tx_id, (unsigned long long)last.tx_id);
    /* The follower comes back far behind the leader's snapshot. */
    lgt_node_start(c, follower);
    lgt_node_wait_ready(c, follower, LGT_READY_TIMEOUT_MS);
    struct lgt_status st;
    lgt_cluster_wait_converged(c, last.index, SNAP_CONVERGE_MS, &st);
    LGT_CHECK(c, st.journal_seq == SNAP_WRITES, "journal_seq %llu after %u writes",
              (unsigned long long)st.journal_seq, SNAP_WRITES);
    LGT_CHECK(c, lgt_node_log_contains(c, follower, "event=snapshot_restored", true),
              "follower %u did not restore a snapshot", follower + 1u);
    LGT_CHECK(c, lgt_node_log_contains(c, follower, "event=journal_catchup_done", true),
              "follower %u did not finish a journal catch-up", follower + 1u);
    /* History from before the snapshot is served by the follower, chained the same. */
    struct lg_arena arena;
    lg_arena_init(&arena, 0);
    struct lg_conn *conn = lgt_node_conn(c, follower, 10000);
    expect_tx(c, conn, follower, &arena, first.tx_id, first.hash, "snap-0");
    snprintf(ref, sizeof ref, "snap-%u", SNAP_WRITES - 1u);
    expect_tx(c, conn, follower, &arena, last.tx_id, last.hash, ref);
    lg_conn_close(conn);
    lg_arena_close(&arena);
    lgt_cluster_pass(c);
}

Test(cluster, disk_write_error_is_fatal, .fini = lgt_cluster_fini, .timeout = 120)
{
    struct lgt_cluster_options o = {.n_nodes = 3};
    struct lgt_cluster *c = lgt_cluster_new(&o);
    /* Nodes 1 and 2 first (a quorum: one of them leads), then node 3 joins as a follower
     * whose 20th Raft log append fails. */
    const unsigned healthy[] = {0, 1};
    lgt_cluster_start_some(c, healthy, 2);
    lgt_cluster_leader(c, LGT_LEADER_TIMEOUT_MS);
    lgt_node_set_env(c, 2, "LEDGER_FAULT_APPEND_FAIL_AT=" FAULT_APPEND_AT);
    lgt_node_start(c, 2);
    lgt_node_wait_ready(c, 2, LGT_READY_TIMEOUT_MS);
    /* Node 3 has caught up (so it is replicating) before the writes start; from then on
     * every write reaches it in an append (alone or batched with others), so its 20th
     * append comes after at most a few dozen writes. The loop is bounded by count and
     * time, not by an expected number: batching and the exit's latency vary. */
    lgt_cluster_wait_converged(c, 0, LGT_CONVERGE_TIMEOUT_MS, NULL);
    struct lg_client *cl = lgt_cluster_client(c, healthy, 2, 5000, 40);
    struct lg_proto_tx_result w;
    char ref[32];
    int st = 0;
    unsigned k = 0;
    bool exited = false;
    uint64_t deadline = lgt_now_ms() + FAULT_WRITES_MS;
    for (; k < FAULT_WRITES_MAX && !exited && lgt_now_ms() < deadline; k++) {
        snprintf(ref, sizeof ref, "fault-%u", k);
        struct lgt_transfer t = {.ledger = LEDGER, .source = "world",
                                 .destination = "users:1:main", .amount = 1, .asset = ASSET,
                                 .reference = ref};
        lgt_submit_ok(c, cl, &t, &w);
        exited = lgt_node_exited(c, 2, &st);
    }
    if (!exited) {
        exited = lgt_node_wait_exit(c, 2, LGT_EXIT_TIMEOUT_MS, &st);
    }
    if (!exited) {
        struct lgt_status s3;
        char err[LG_ERRMSG_SIZE] = "";
        int rc = lgt_node_status(c, 2, &s3, err);
        LGT_CHECK(c, exited, "node 3 still runs after %u acknowledged writes (last index %llu) "
                  "and %u ms more; its Raft log append %s should have failed. Its status: %s "
                  "role %s applied %llu commit %llu", k, (unsigned long long)w.index,
                  LGT_EXIT_TIMEOUT_MS, FAULT_APPEND_AT, lg_err_name(rc),
                  lg_proto_role_name(s3.role), (unsigned long long)s3.applied_index,
                  (unsigned long long)s3.commit_index);
    }
    char text[64];
    LGT_CHECK(c, WIFEXITED(st) && WEXITSTATUS(st) == FAULT_EXIT_STATUS,
              "node 3 %s, expected exit status %d", lgt_wait_status_text(st, text, sizeof text),
              FAULT_EXIT_STATUS);
    LGT_CHECK(c, lgt_node_log_contains(c, 2, "event=fatal", true),
              "node 3's log has no event=fatal line");
    cr_log_info("node 3 exited 74 after %u writes", k);
    /* The other two keep accepting writes. */
    for (unsigned j = 0; j < AFTER_FAULT_WRITES; j++) {
        snprintf(ref, sizeof ref, "after-fault-%u", j);
        struct lgt_transfer t = {.ledger = LEDGER, .source = "world",
                                 .destination = "users:2:main", .amount = 1, .asset = ASSET,
                                 .reference = ref};
        lgt_submit_ok(c, cl, &t, &w);
    }
    lg_client_close(cl);
    struct lgt_status conv;
    lgt_cluster_wait_converged(c, w.index, LGT_CONVERGE_TIMEOUT_MS, &conv);
    LGT_CHECK(c, conv.journal_seq == k + AFTER_FAULT_WRITES, "journal_seq %llu, %u writes",
              (unsigned long long)conv.journal_seq, k + AFTER_FAULT_WRITES);
    lgt_cluster_pass(c);
}
