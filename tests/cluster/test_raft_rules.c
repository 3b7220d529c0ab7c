/* cluster: libraft 0.15.0 mitigations (DESIGN §7) that only a real process shows:
 * auto-recovery off (a corrupt Raft log stops the node instead of silently dropping
 * entries) and no linearizable read from a new leader before its barrier applied. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define LEDGER "rules"
#define ASSET "USD/2"

/* Is name a closed raft_uv segment ("%016llu-%016llu")? */
static bool closed_segment(const char *name)
{
    if (strlen(name) != 33u || name[16] != '-') {
        return false;
    }
    for (unsigned i = 0; i < 33u; i++) {
        if (i != 16u && (name[i] < '0' || name[i] > '9')) {
            return false;
        }
    }
    return true;
}

/* Count files in dir whose name starts with prefix; remember the largest closed segment. */
static unsigned scan_raft_dir(const char *dir, const char *prefix, char *biggest,
                              size_t biggest_size, off_t *biggest_bytes)
{
    unsigned n = 0;
    *biggest_bytes = 0;
    DIR *d = opendir(dir);
    if (d == NULL) {
        return 0;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
            n++;
        }
        char path[LGT_PATH_MAX + 64];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (closed_segment(e->d_name) && stat(path, &sb) == 0 && sb.st_size > *biggest_bytes) {
            *biggest_bytes = sb.st_size;
            snprintf(biggest, biggest_size, "%s", path);
        }
    }
    closedir(d);
    return n;
}

Test(cluster, corrupt_raft_log_stops_the_node_instead_of_dropping_entries,
     .fini = lgt_cluster_fini, .timeout = 120)
{
    struct lgt_cluster_options o = {.n_nodes = 3};
    struct lgt_cluster *c = lgt_cluster_new(&o);
    lgt_cluster_start(c);
    unsigned leader = lgt_cluster_leader(c, LGT_LEADER_TIMEOUT_MS);
    struct lg_client *cl = lgt_cluster_client(c, NULL, 0, 5000, 40);
    struct lg_proto_tx_result w;
    char ref[32];
    for (unsigned k = 0; k < 40; k++) {
        snprintf(ref, sizeof ref, "corrupt-%u", k);
        struct lgt_transfer t = {.ledger = LEDGER, .source = "world",
                                 .destination = "users:1:main", .amount = 1 + k,
                                 .asset = ASSET, .reference = ref};
        lgt_submit_ok(c, cl, &t, &w);
    }
    lg_client_close(cl);
    lgt_cluster_wait_converged(c, w.index, LGT_CONVERGE_TIMEOUT_MS, NULL);
    /* Stop a follower cleanly: raft_uv closes its open segments into closed ones. */
    unsigned victim = (leader + 1u) % 3u;
    lgt_node_signal(c, victim, SIGTERM);
    int st = 0;
    LGT_CHECK(c, lgt_node_wait_exit(c, victim, LGT_EXIT_TIMEOUT_MS, &st) && WIFEXITED(st) &&
                     WEXITSTATUS(st) == 0,
              "node %u did not stop cleanly", victim + 1u);
    char raft_dir[LGT_PATH_MAX + 8];
    snprintf(raft_dir, sizeof raft_dir, "%s/raft", c->nodes[victim].data_dir);
    char segment[LGT_PATH_MAX + 64] = "";
    off_t bytes = 0;
    scan_raft_dir(raft_dir, "corrupt", segment, sizeof segment, &bytes);
    LGT_CHECK(c, bytes > 64, "no closed segment in %s", raft_dir);
    /* Flip one byte in the middle of the segment (inside a batch: a CRC covers it). */
    int fd = open(segment, O_RDWR);
    LGT_CHECK(c, fd >= 0, "open %s", segment);
    off_t at = bytes / 2;
    unsigned char b = 0;
    LGT_CHECK(c, pread(fd, &b, 1, at) == 1, "read %s", segment);
    b ^= 0x5a;
    LGT_CHECK(c, pwrite(fd, &b, 1, at) == 1 && fsync(fd) == 0, "write %s", segment);
    close(fd);
    /* With libraft's auto-recovery (the default) the segment would be renamed corrupt-…
     * and the node would start without those committed entries. Ours must refuse. */
    lgt_node_start(c, victim);
    LGT_CHECK(c, lgt_node_wait_exit(c, victim, LGT_EXIT_TIMEOUT_MS, &st),
              "node %u started on a corrupt Raft log", victim + 1u);
    char text[64];
    LGT_CHECK(c, WIFEXITED(st) && WEXITSTATUS(st) != 0, "node %u %s", victim + 1u,
              lgt_wait_status_text(st, text, sizeof text));
    LGT_CHECK(c, lgt_node_log_contains(c, victim, "raft_start", true),
              "node %u's log does not say raft_start failed", victim + 1u);
    char unused[8];
    LGT_CHECK(c, scan_raft_dir(raft_dir, "corrupt", unused, sizeof unused, &bytes) == 0,
              "segments were renamed corrupt-* (auto-recovery ran)");
    lgt_cluster_pass(c);
}

Test(cluster, new_leader_linearizable_read_sees_every_acknowledged_write,
     .fini = lgt_cluster_fini, .timeout = 120)
{
    struct lgt_cluster_options o = {.n_nodes = 3};
    struct lgt_cluster *c = lgt_cluster_new(&o);
    lgt_cluster_start(c);
    unsigned leader = lgt_cluster_leader(c, LGT_LEADER_TIMEOUT_MS);
    unsigned only[] = {leader};
    struct lg_client *cl = lgt_cluster_client(c, only, 1, 5000, 1);
    struct lg_proto_tx_result w;
    char ref[32];
    int64_t total = 0;
    for (unsigned k = 0; k < 200; k++) {
        snprintf(ref, sizeof ref, "lin-%u", k);
        struct lgt_transfer t = {.ledger = LEDGER, .source = "world",
                                 .destination = "users:1:main", .amount = 1 + k,
                                 .asset = ASSET, .reference = ref};
        lgt_submit_ok(c, cl, &t, &w);
        total += (int64_t)(1 + k);
    }
    lg_client_close(cl);
    /* Kill the leader right after its last acknowledgement: the followers may not know
     * the last commit index yet. The first linearizable answer from any survivor must
     * include every acknowledged write. */
    lgt_node_signal(c, leader, SIGKILL);
    int st = 0;
    lgt_node_wait_exit(c, leader, LGT_EXIT_TIMEOUT_MS, &st);
    struct lg_arena arena;
    lg_arena_init(&arena, 0);
    unsigned answers = 0;
    uint64_t deadline = lgt_now_ms() + 15000u;
    while (answers < 4 && lgt_now_ms() < deadline) {
        for (unsigned i = 0; i < 3; i++) {
            if (i == leader) {
                continue;
            }
            struct lg_conn *conn = NULL;
            char err[LG_ERRMSG_SIZE];
            if (lg_conn_open(&conn, c->nodes[i].client_address, 500, err) != LG_OK) {
                continue;
            }
            lg_conn_set_timeout(conn, 3000);
            struct lg_proto_request req;
            lgt_req_balances(&req, LEDGER, "users:1:main", ASSET, LG_PROTO_READ_LINEARIZABLE,
                             0);
            req.id = 1;
            struct lg_proto_response resp;
            lg_arena_reset(&arena);
            if (lg_conn_call(conn, &req, &arena, &resp, err) == LG_OK && resp.ok) {
                lg_i128 bal = 0;
                LGT_CHECK(c, lgt_balance_of(&resp, "users:1:main", ASSET, &bal),
                          "node %u: no balance", i + 1u);
                LGT_CHECK(c, bal == (lg_i128)total,
                          "node %u answered a linearizable read with balance %lld, but "
                          "%lld was acknowledged", i + 1u, (long long)bal, (long long)total);
                answers++;
            }
            lg_conn_close(conn);
        }
        lgt_sleep_ms(LGT_POLL_MS);
    }
    lg_arena_close(&arena);
    LGT_CHECK(c, answers > 0, "no survivor answered a linearizable read in 15 s");
    cr_log_info("%u linearizable answers after the kill, all complete", answers);
    lgt_cluster_pass(c);
}

Test(cluster, unresolvable_leader_address_answers_unavailable_and_keeps_serving,
     .fini = lgt_cluster_fini, .timeout = 120)
{
    struct lgt_cluster_options o = {.n_nodes = 3};
    struct lgt_cluster *c = lgt_cluster_new(&o);
    /* Every node advertises a client address that does not resolve (a pod name not yet
     * published, a typo): a follower's read-index request to the leader cannot connect. */
    for (unsigned i = 0; i < 3; i++) {
        lgt_node_set_env(c, i, "LEDGER_ADVERTISE_CLIENT=bad-host.invalid:1");
    }
    lgt_cluster_start(c);
    unsigned leader = lgt_cluster_leader(c, LGT_LEADER_TIMEOUT_MS);
    unsigned follower = (leader + 1u) % 3u;
    struct lg_arena arena;
    lg_arena_init(&arena, 0);
    struct lg_conn *conn = lgt_node_conn(c, follower, 10000);
    for (unsigned k = 0; k < 3; k++) {
        struct lg_proto_request req;
        lgt_req_balances(&req, LEDGER, "users:1:main", ASSET, LG_PROTO_READ_LINEARIZABLE, 0);
        req.id = 1 + k;
        struct lg_proto_response resp;
        char err[LG_ERRMSG_SIZE];
        lg_arena_reset(&arena);
        int rc = lg_conn_call(conn, &req, &arena, &resp, err);
        LGT_CHECK(c, rc == LG_OK, "follower %u did not answer: %s", follower + 1u, err);
        LGT_CHECK(c, !resp.ok && resp.error.code == LG_EUNAVAIL,
                  "linearizable read on follower %u: ok=%d code=%s", follower + 1u, resp.ok,
                  lg_err_name(resp.ok ? LG_OK : resp.error.code));
    }
    lg_conn_close(conn);
    lg_arena_close(&arena);
    LGT_CHECK(c, lgt_node_running(c, follower), "follower %u died", follower + 1u);
    struct lgt_status st;
    char err[LG_ERRMSG_SIZE];
    LGT_CHECK(c, lgt_node_status(c, follower, &st, err) == LG_OK, "status: %s", err);
    lgt_cluster_pass(c);
}

Test(cluster, lost_raft_log_with_a_journal_refuses_to_rebootstrap, .fini = lgt_cluster_fini,
     .timeout = 120)
{
    struct lgt_cluster_options o = {.n_nodes = 3};
    struct lgt_cluster *c = lgt_cluster_new(&o);
    lgt_cluster_start(c);
    unsigned leader = lgt_cluster_leader(c, LGT_LEADER_TIMEOUT_MS);
    struct lg_client *cl = lgt_cluster_client(c, NULL, 0, 5000, 40);
    struct lg_proto_tx_result w;
    struct lgt_transfer t = {.ledger = LEDGER, .source = "world",
                             .destination = "users:1:main", .amount = 5, .asset = ASSET,
                             .reference = "lost-1"};
    lgt_submit_ok(c, cl, &t, &w);
    lg_client_close(cl);
    lgt_cluster_wait_converged(c, w.index, LGT_CONVERGE_TIMEOUT_MS, NULL);
    unsigned victim = (leader + 1u) % 3u;
    /* A clean stop syncs the journal and writes a checkpoint (after SIGKILL the journal's
     * unsynced tail is rebuilt from the Raft log, which is what goes missing here). */
    lgt_node_signal(c, victim, SIGTERM);
    int st = 0;
    lgt_node_wait_exit(c, victim, LGT_EXIT_TIMEOUT_MS, &st);
    /* Lose the Raft directory only (the journal and checkpoints stay). Restarted with the
     * same --initial-cluster it would bootstrap again as a voter with an empty log. */
    char cmd[LGT_PATH_MAX + 32];
    snprintf(cmd, sizeof cmd, "rm -rf '%s/raft'", c->nodes[victim].data_dir);
    LGT_CHECK(c, system(cmd) == 0, "%s", cmd);
    lgt_node_start(c, victim);
    LGT_CHECK(c, lgt_node_wait_exit(c, victim, LGT_EXIT_TIMEOUT_MS, &st),
              "node %u started again without its Raft log", victim + 1u);
    char text[64];
    LGT_CHECK(c, WIFEXITED(st) && WEXITSTATUS(st) != 0, "node %u %s", victim + 1u,
              lgt_wait_status_text(st, text, sizeof text));
    LGT_CHECK(c, lgt_node_log_contains(c, victim, "Raft data was lost", true),
              "node %u's log does not say why", victim + 1u);
    lgt_cluster_pass(c);
}

Test(cluster, stalled_raft_write_is_fatal, .fini = lgt_cluster_fini, .timeout = 120)
{
    struct lgt_cluster_options o = {.n_nodes = 3};
    struct lgt_cluster *c = lgt_cluster_new(&o);
    const unsigned healthy[] = {0, 1};
    lgt_cluster_start_some(c, healthy, 2);
    lgt_cluster_leader(c, LGT_LEADER_TIMEOUT_MS);
    /* Node 3's 5th Raft log append never completes (what raft_uv 0.15.0 does when a write
     * submission fails after the request was queued): the watchdog (1 s with the seam)
     * must stop it with exit 74 instead of leaving it stuck. */
    lgt_node_set_env(c, 2, "LEDGER_FAULT_APPEND_STALL_AT=5");
    lgt_node_start(c, 2);
    lgt_node_wait_ready(c, 2, LGT_READY_TIMEOUT_MS);
    struct lg_client *cl = lgt_cluster_client(c, healthy, 2, 5000, 40);
    struct lg_proto_tx_result w;
    char ref[32];
    int st = 0;
    bool exited = false;
    uint64_t deadline = lgt_now_ms() + 20000u;
    for (unsigned k = 0; k < 2000 && !exited && lgt_now_ms() < deadline; k++) {
        snprintf(ref, sizeof ref, "stall-%u", k);
        struct lgt_transfer t = {.ledger = LEDGER, .source = "world",
                                 .destination = "users:1:main", .amount = 1, .asset = ASSET,
                                 .reference = ref};
        lgt_submit_ok(c, cl, &t, &w);
        exited = lgt_node_exited(c, 2, &st);
        lgt_sleep_ms(5);
    }
    lg_client_close(cl);
    if (!exited) {
        exited = lgt_node_wait_exit(c, 2, LGT_EXIT_TIMEOUT_MS, &st);
    }
    LGT_CHECK(c, exited, "node 3 still runs with a stalled Raft write");
    char text[64];
    LGT_CHECK(c, WIFEXITED(st) && WEXITSTATUS(st) == 74, "node 3 %s, expected exit 74",
              lgt_wait_status_text(st, text, sizeof text));
    LGT_CHECK(c, lgt_node_log_contains(c, 2, "stalled", true), "no 'stalled' in its log");
    lgt_cluster_pass(c);
}

#define DRAIN_WRITES 400u

/* Receive one submit response on conn; count it and mark acknowledged ids. */
static void drain_recv_one(struct lgt_cluster *c, struct lg_conn *conn, struct lg_arena *arena,
                           bool *acked, unsigned *n_ok, unsigned *n_err)
{
    char err[LG_ERRMSG_SIZE];
    const uint8_t *body = NULL;
    size_t len = 0;
    int rc = lg_conn_recv_frame(conn, &body, &len, err);
    LGT_CHECK(c, rc == LG_OK, "response %u of %u lost: %s (%s)", *n_ok + *n_err + 1u,
              DRAIN_WRITES, lg_err_name(rc), err);
    uint64_t id = 0;
    struct lg_proto_response resp;
    lg_arena_reset(arena);
    LGT_CHECK(c, lg_conn_response_id(body, len, &id) == LG_OK && id >= 1 &&
                     id <= DRAIN_WRITES &&
                     lg_proto_decode_response(LG_PROTO_OP_SUBMIT, body, len, arena, &resp,
                                              err) == LG_OK,
              "bad response: %s", err);
    if (resp.ok) {
        acked[id - 1u] = true;
        (*n_ok)++;
    } else {
        (*n_err)++;
    }
}

Test(cluster, sigterm_leader_answers_every_write_it_committed, .fini = lgt_cluster_fini,
     .timeout = 120)
{
    struct lgt_cluster_options o = {.n_nodes = 3};
    struct lgt_cluster *c = lgt_cluster_new(&o);
    lgt_cluster_start(c);
    unsigned leader = lgt_cluster_leader(c, LGT_LEADER_TIMEOUT_MS);
    struct lg_conn *conn = lgt_node_conn(c, leader, 10000);
    /* Many writes in flight on one pipelined connection, then SIGTERM: a graceful stop
     * must answer every write it accepted with its real outcome, so the committed count
     * equals the acknowledged count (a committed write answered "outcome unknown" would
     * make a client without a reference submit it twice). */
    static bool acked[DRAIN_WRITES];
    char err[LG_ERRMSG_SIZE];
    struct lg_arena arena;
    lg_arena_init(&arena, 0);
    unsigned n_ok = 0;
    unsigned n_err = 0;
    /* Half the writes, then wait for the first answer (the node is busy with them), then
     * the other half and SIGTERM at once: some are in flight when the stop begins. */
    for (unsigned k = 0; k < DRAIN_WRITES; k++) {
        struct lg_proto_request req;
        struct lg_posting post;
        struct lg_kv kv;
        char ref[32];
        snprintf(ref, sizeof ref, "drain-%u", k);
        struct lgt_transfer t = {.ledger = LEDGER, .source = "world",
                                 .destination = "users:1:main", .amount = 1, .asset = ASSET,
                                 .reference = ref};
        lgt_req_submit(&req, &post, &kv, &t);
        req.id = k + 1u;
        LGT_CHECK(c, lg_conn_send(conn, &req, err) == LG_OK, "send %u: %s", k, err);
        if (k + 1u == DRAIN_WRITES / 2u) {
            drain_recv_one(c, conn, &arena, acked, &n_ok, &n_err);
        }
    }
    lgt_node_signal(c, leader, SIGTERM);
    for (unsigned k = 1; k < DRAIN_WRITES; k++) {
        drain_recv_one(c, conn, &arena, acked, &n_ok, &n_err);
    }
    lg_conn_close(conn);
    int st = 0;
    LGT_CHECK(c, lgt_node_wait_exit(c, leader, LGT_EXIT_TIMEOUT_MS, &st) && WIFEXITED(st) &&
                     WEXITSTATUS(st) == 0, "the leader did not stop cleanly");
    unsigned survivor = (leader + 1u) % 3u;
    lgt_cluster_leader(c, LGT_LEADER_TIMEOUT_MS);
    lgt_cluster_wait_converged(c, 0, LGT_CONVERGE_TIMEOUT_MS, NULL);
    struct lgt_tx *txs = NULL;
    size_t n = lgt_list_all(c, survivor, LEDGER, &txs);
    unsigned found = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned k = 0;
        if (sscanf(txs[i].reference, "drain-%u", &k) == 1 && k < DRAIN_WRITES) {
            LGT_CHECK(c, acked[k], "%s committed (tx %llu) but its client got an error",
                      txs[i].reference, (unsigned long long)txs[i].tx_id);
            found++;
        }
    }
    free(txs);
    LGT_CHECK(c, found == n_ok, "%u acknowledged, %u committed", n_ok, found);
    cr_log_info("%u acknowledged, %u refused while stopping", n_ok, n_err);
    lg_arena_close(&arena);
    lgt_cluster_pass(c);
}
