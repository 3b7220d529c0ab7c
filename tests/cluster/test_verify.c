/* test_verify: the verifiable ledger against real nodes (issue 8; docs/verification.md,
 * docs/protocol.md `digest`, `proof`, `consistency`; docs/cli.md `digest`, `verify`).
 *
 * Goal: the replicas of a 3-node cluster sign identical Merkle roots at the same size (the
 * current one and older ones); the proof of every transaction of a small ledger, served
 * by a follower, verifies against a digest with the independent checker (lib/proofcheck.h)
 * and its body is that transaction's record; every consistency proof between two sizes
 * verifies; bad requests get their codes and messages; `ledger-node digest --save` and
 * `verify --tx` / `verify --from --to` prove what they should and fail (exit 1) on a
 * tampered digest file (root, tree_size, signature), on swapped files, and on a digest
 * whose signature is valid but whose root is forged (signed with the node's own key: the
 * proof itself must catch it); a follower whose stored tree history was damaged on disk
 * refuses (`internal`) every answer the damage reaches instead of serving or signing it
 * (the server checks each answer against its current root), logs merkle_damaged once, and
 * recomputes its tree at the next start; the cross-replica audit finds the damage too
 * (status counts it, the log has the error event).
 *
 * Method: requests through lib/client.h to chosen nodes; the CLI as child processes of
 * $LG_LEDGER_NODE (bounded, SIGKILLed if they hang); digest files edited in place; the
 * damaged tree is the follower's journal/.merkle with every stored subtree hash
 * overwritten while the node is stopped (the header left valid, so the node trusts it). */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd.h"
#include "harness.h"
#include "proofcheck.h"
#include "sign.h"

#define LEDGER "main"
#define ASSET "USD/2"
#define CONN_TIMEOUT_MS 5000u
#define CLI_TIMEOUT_MS 30000u
#define CLI_ARGS_MAX 24u
#define FILE_PATH_MAX (LGT_PATH_MAX + 64u)
/* The audit test's round interval, and how long it may take to see a mismatch. */
#define AUDIT_INTERVAL "LEDGER_AUDIT_INTERVAL_MS=200"
#define AUDIT_WAIT_MS 20000u
/* The tree file: a 64-byte header, then 32-byte subtree hashes (lib/merkle.c). */
#define MERKLE_HDR_BYTES 64u

/* ---- requests -------------------------------------------------------------------------------- */

/* Send req to node i and expect code (LG_OK: success, *resp holds the answer, its views in
 * arena; else the wire code, and a message containing needle). */
static void call_expect(struct lgt_cluster *c, unsigned i, struct lg_proto_request *req,
                        struct lg_arena *arena, struct lg_proto_response *resp, int code,
                        const char *needle, const char *what)
{
    static struct lg_conn *conn; /* one per call: the answer's views live in its buffer */
    lg_conn_close(conn);
    conn = lgt_node_conn(c, i, CONN_TIMEOUT_MS);
    char err[LG_ERRMSG_SIZE] = "";
    req->id = 77;
    memset(resp, 0, sizeof *resp);
    int rc = lg_conn_call(conn, req, arena, resp, err);
    LGT_CHECK(c, rc == LG_OK, "%s: no answer: %s %s", what, lg_err_name(rc), err);
    if (code == LG_OK) {
        LGT_CHECK(c, resp->ok, "%s: refused: %s %.*s", what, lg_err_wire(resp->error.code),
                  (int)resp->error.message.len, resp->error.message.ptr);
        return;
    }
    LGT_CHECK(c, !resp->ok, "%s: accepted (expected %s)", what, lg_err_wire(code));
    LGT_CHECK(c, strcmp(lg_err_wire(resp->error.code), lg_err_wire(code)) == 0 &&
                     memmem(resp->error.message.ptr, resp->error.message.len, needle,
                            strlen(needle)) != NULL,
              "%s: answered %s \"%.*s\"; expected %s naming \"%s\"", what,
              lg_err_wire(resp->error.code), (int)resp->error.message.len,
              resp->error.message.ptr, lg_err_wire(code), needle);
    cr_log_info("%s: %s \"%.*s\"", what, lg_err_wire(resp->error.code),
                (int)resp->error.message.len, resp->error.message.ptr);
}

/* Node i's signed digest (at size when has_size), its signature checked. */
static void digest_of(struct lgt_cluster *c, unsigned i, bool has_size, uint64_t size,
                      uint8_t consistency, struct lg_sign_digest *d)
{
    struct lg_proto_request req;
    memset(&req, 0, sizeof req);
    req.op = LG_PROTO_OP_DIGEST;
    req.consistency = consistency;
    req.u.digest.has_tree_size = has_size;
    req.u.digest.tree_size = size;
    struct lg_arena arena;
    lg_arena_init(&arena, 0);
    struct lg_proto_response resp;
    call_expect(c, i, &req, &arena, &resp, LG_OK, "", "digest");
    const struct lg_proto_digest *w = &resp.u.digest;
    LGT_CHECK(c, w->public_key.len == LG_SIGN_PUBLIC_KEY_BYTES &&
                     w->signature.len == LG_SIGN_SIGNATURE_BYTES,
              "node %u: key %u bytes, signature %u bytes", i, w->public_key.len,
              w->signature.len);
    LGT_CHECK(c, !has_size || w->tree_size == size, "node %u: digest of %llu, asked %llu", i,
              (unsigned long long)w->tree_size, (unsigned long long)size);
    LGT_CHECK(c, w->node_id == c->nodes[i].id, "node %u signed as node %llu", i,
              (unsigned long long)w->node_id);
    memset(d, 0, sizeof *d);
    d->tree_size = w->tree_size;
    memcpy(d->root, w->root, LG_SIGN_ROOT_BYTES);
    d->timestamp_us = w->timestamp_us;
    d->node_id = w->node_id;
    memcpy(d->public_key, w->public_key.ptr, LG_SIGN_PUBLIC_KEY_BYTES);
    memcpy(d->signature, w->signature.ptr, LG_SIGN_SIGNATURE_BYTES);
    LGT_CHECK(c, lg_sign_digest_verify(d) == LG_OK, "node %u: digest signature invalid", i);
    lg_arena_close(&arena);
}

/* Node i's status (with the added public_key and audit). */
static void status_of(struct lgt_cluster *c, unsigned i, struct lg_proto_status *st,
                      uint8_t key[LG_SIGN_PUBLIC_KEY_BYTES])
{
    struct lg_proto_request req;
    memset(&req, 0, sizeof req);
    req.op = LG_PROTO_OP_STATUS;
    struct lg_arena arena;
    lg_arena_init(&arena, 0);
    struct lg_proto_response resp;
    call_expect(c, i, &req, &arena, &resp, LG_OK, "", "status");
    *st = resp.u.status;
    LGT_CHECK(c, st->public_key.len == LG_SIGN_PUBLIC_KEY_BYTES, "node %u: status public_key "
              "of %u bytes", i, st->public_key.len);
    LGT_CHECK(c, st->has_audit, "node %u: status without audit", i);
    if (key != NULL) {
        memcpy(key, st->public_key.ptr, LG_SIGN_PUBLIC_KEY_BYTES);
    }
    st->public_key = (struct lg_str){NULL, 0};
    st->leader_client = (struct lg_str){NULL, 0};
    lg_arena_close(&arena);
}

/* n one-posting transactions through the leader; returns the last Raft index. */
static uint64_t write_txs(struct lgt_cluster *c, unsigned n, unsigned salt)
{
    struct lg_client *cl = lgt_cluster_client(c, NULL, 0, 5000, 0);
    struct lg_proto_tx_result w;
    memset(&w, 0, sizeof w);
    for (unsigned k = 0; k < n; k++) {
        char ref[32];
        char to[32];
        snprintf(ref, sizeof ref, "v-%u-%u", salt, k);
        snprintf(to, sizeof to, "users:%u:main", k % 4u);
        struct lgt_transfer t = {.ledger = LEDGER, .source = "world", .destination = to,
                                 .amount = 100u + k, .asset = ASSET, .reference = ref};
        lgt_submit_ok(c, cl, &t, &w);
    }
    lg_client_close(cl);
    return w.index;
}

static struct lgt_cluster *cluster_up(bool audit)
{
    struct lgt_cluster_options o = {.n_nodes = 3};
    struct lgt_cluster *c = lgt_cluster_new(&o);
    for (unsigned i = 0; audit && i < c->o.n_nodes; i++) {
        lgt_node_set_env(c, i, AUDIT_INTERVAL);
    }
    lgt_cluster_start(c);
    return c;
}

/* ---- replicas agree -------------------------------------------------------------------------- */

/* Replicas that applied the same entries hold the same journal: the same root at every
 * size, each signed by its own key (the one status shows). */
Test(verify, replicas_report_identical_roots, .fini = lgt_cluster_fini, .timeout = 120)
{
    struct lgt_cluster *c = cluster_up(false);
    uint64_t index = write_txs(c, 11, 1);
    struct lgt_status conv;
    lgt_cluster_wait_converged(c, index, LGT_CONVERGE_TIMEOUT_MS, &conv);
    LGT_CHECK(c, conv.journal_seq == 11, "journal_seq %llu after 11 transactions",
              (unsigned long long)conv.journal_seq);
    static const uint64_t sizes[] = {1, 2, 3, 7, 8, 10};
    struct lg_sign_digest first[1 + sizeof sizes / sizeof sizes[0]];
    uint8_t keys[LGT_CLUSTER_NODES_MAX][LG_SIGN_PUBLIC_KEY_BYTES];
    for (unsigned i = 0; i < c->o.n_nodes; i++) {
        struct lg_sign_digest d;
        digest_of(c, i, false, 0, LG_PROTO_READ_STALE, &d);
        LGT_CHECK(c, d.tree_size == 11, "node %u: current tree_size %llu, want 11", i,
                  (unsigned long long)d.tree_size);
        char a[65];
        char b[65];
        LGT_CHECK(c, i == 0 || memcmp(d.root, first[0].root, 32) == 0,
                  "node %u's root %s at 11 differs from node 0's %s", i, lgt_hex(d.root, a),
                  lgt_hex(first[0].root, b));
        if (i == 0) {
            first[0] = d;
        }
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            digest_of(c, i, true, sizes[k], LG_PROTO_READ_LINEARIZABLE, &d);
            LGT_CHECK(c, i == 0 || memcmp(d.root, first[1 + k].root, 32) == 0,
                      "node %u's root %s at %llu differs from node 0's %s", i,
                      lgt_hex(d.root, a), (unsigned long long)sizes[k],
                      lgt_hex(first[1 + k].root, b));
            LGT_CHECK(c, memcmp(d.root, first[0].root, 32) != 0, "the root at %llu equals "
                      "the root at 11", (unsigned long long)sizes[k]);
            if (i == 0) {
                first[1 + k] = d;
            }
        }
        struct lg_proto_status st;
        status_of(c, i, &st, keys[i]);
        LGT_CHECK(c, memcmp(keys[i], d.public_key, LG_SIGN_PUBLIC_KEY_BYTES) == 0,
                  "node %u: status public_key differs from the digest's", i);
        for (unsigned j = 0; j < i; j++) {
            LGT_CHECK(c, memcmp(keys[i], keys[j], LG_SIGN_PUBLIC_KEY_BYTES) != 0,
                      "nodes %u and %u have the same key", i, j);
        }
    }
    /* The empty tree's root is SHA-256 of nothing, on every node. */
    uint8_t empty[32];
    lg_proofcheck_empty_root(empty);
    struct lg_sign_digest d0;
    digest_of(c, 2, true, 0, LG_PROTO_READ_STALE, &d0);
    LGT_CHECK(c, memcmp(d0.root, empty, 32) == 0, "the root at tree_size 0 is not "
              "SHA-256(\"\")");
    lgt_cluster_pass(c);
}

/* ---- proofs ---------------------------------------------------------------------------------- */

/* Every transaction's inclusion proof from a follower checks against the leader's digest,
 * and its body is that transaction's record; every consistency proof m -> n checks. */
Test(verify, every_proof_of_a_small_ledger_verifies, .fini = lgt_cluster_fini, .timeout = 120)
{
    struct lgt_cluster *c = cluster_up(false);
    unsigned leader = lgt_cluster_leader(c, LGT_LEADER_TIMEOUT_MS);
    unsigned follower = (leader + 1u) % c->o.n_nodes;
    enum { N = 13 };
    uint64_t index = write_txs(c, N, 2);
    lgt_cluster_wait_converged(c, index, LGT_CONVERGE_TIMEOUT_MS, NULL);
    struct lg_sign_digest dn;
    digest_of(c, leader, false, 0, LG_PROTO_READ_LINEARIZABLE, &dn);
    LGT_CHECK(c, dn.tree_size == N, "tree_size %llu", (unsigned long long)dn.tree_size);
    struct lg_arena arena;
    lg_arena_init(&arena, 0);
    for (uint64_t tx = 0; tx < N; tx++) {
        struct lg_proto_request req;
        struct lg_proto_response resp;
        lg_arena_reset(&arena);
        lgt_req_get_tx(&req, LEDGER, tx, NULL, LG_PROTO_READ_STALE, 0);
        call_expect(c, follower, &req, &arena, &resp, LG_OK, "", "get_tx");
        uint64_t seq = resp.u.get_tx.seq;
        memset(&req, 0, sizeof req);
        req.op = LG_PROTO_OP_PROOF;
        req.u.proof.seq = seq;
        req.u.proof.has_tree_size = true;
        req.u.proof.tree_size = N;
        req.consistency = LG_PROTO_READ_STALE;
        call_expect(c, follower, &req, &arena, &resp, LG_OK, "", "proof");
        const struct lg_proto_proof *f = &resp.u.proof;
        LGT_CHECK(c, f->seq == seq && f->leaf_index == seq - 1u && f->tree_size == N,
                  "proof of seq %llu: seq %llu leaf %llu size %llu", (unsigned long long)seq,
                  (unsigned long long)f->seq, (unsigned long long)f->leaf_index,
                  (unsigned long long)f->tree_size);
        LGT_CHECK(c, memcmp(f->digest.root, dn.root, 32) == 0 &&
                         f->digest.node_id == c->nodes[follower].id,
                  "proof of seq %llu: the embedded digest is not the follower's at %u",
                  (unsigned long long)seq, N);
        uint8_t leaf[32];
        lg_proofcheck_leaf_hash(f->body.ptr, f->body.len, leaf);
        int rc = lg_proofcheck_inclusion(seq - 1u, N, leaf, (const uint8_t *)f->path.hashes,
                                         f->path.n, dn.root);
        LGT_CHECK(c, rc == LG_OK, "tx %llu (seq %llu): inclusion proof of %u hashes does not "
                  "verify: %s", (unsigned long long)tx, (unsigned long long)seq, f->path.n,
                  lg_err_name(rc));
        /* The checker is not a rubber stamp: one changed body byte fails. */
        uint8_t *body = lg_arena_alloc(&arena, f->body.len);
        memcpy(body, f->body.ptr, f->body.len);
        body[f->body.len / 2u] ^= 1u;
        lg_proofcheck_leaf_hash(body, f->body.len, leaf);
        LGT_CHECK(c, lg_proofcheck_inclusion(seq - 1u, N, leaf, (const uint8_t *)f->path.hashes,
                                             f->path.n, dn.root) == LG_ECORRUPT,
                  "a changed body still verifies");
        struct lg_record rec;
        char msg[LG_ERRMSG_SIZE] = "";
        rc = lg_record_decode(f->body.ptr, f->body.len, &arena, &rec, msg);
        LGT_CHECK(c, rc == LG_OK && rec.kind == LG_CMD_SUBMIT && rec.tx_id == tx &&
                         rec.seq == seq && lgt_str_is(rec.ledger, LEDGER),
                  "tx %llu: the proven body is not its record (%s %s)",
                  (unsigned long long)tx, lg_err_name(rc), msg);
    }
    /* Consistency m -> n for every m, against each size's signed root. */
    for (uint64_t m = 1; m <= N; m++) {
        struct lg_sign_digest dm;
        digest_of(c, follower, true, m, LG_PROTO_READ_STALE, &dm);
        struct lg_proto_request req;
        struct lg_proto_response resp;
        memset(&req, 0, sizeof req);
        req.op = LG_PROTO_OP_CONSISTENCY;
        req.u.consistency.from_size = m;
        req.u.consistency.to_size = N;
        lg_arena_reset(&arena);
        call_expect(c, (follower + 1u) % c->o.n_nodes, &req, &arena, &resp, LG_OK, "",
                    "consistency");
        const struct lg_proto_consistency_proof *k = &resp.u.consistency;
        LGT_CHECK(c, k->from_size == m && k->to_size == N, "consistency %llu -> %u answered "
                  "%llu -> %llu", (unsigned long long)m, N, (unsigned long long)k->from_size,
                  (unsigned long long)k->to_size);
        int rc = lg_proofcheck_consistency(m, N, dm.root, dn.root, (const uint8_t *)k->path.hashes,
                                           k->path.n);
        LGT_CHECK(c, rc == LG_OK, "consistency %llu -> %u (%u hashes) does not verify: %s",
                  (unsigned long long)m, N, k->path.n, lg_err_name(rc));
        if (m < N) {
            rc = lg_proofcheck_consistency(m, N, dn.root, dm.root,
                                           (const uint8_t *)k->path.hashes, k->path.n);
            LGT_CHECK(c, rc != LG_OK, "consistency %llu -> %u verifies with the roots swapped",
                      (unsigned long long)m, N);
        }
    }
    lg_arena_close(&arena);
    lgt_cluster_pass(c);
}

/* Bad arguments get bad_request, sizes beyond the tree not_found; each message names the
 * field; the node keeps serving. */
Test(verify, bad_requests_get_their_codes, .fini = lgt_cluster_fini, .timeout = 120)
{
    struct lgt_cluster *c = cluster_up(false);
    uint64_t index = write_txs(c, 3, 3);
    lgt_cluster_wait_converged(c, index, LGT_CONVERGE_TIMEOUT_MS, NULL);
    struct lg_arena arena;
    lg_arena_init(&arena, 0);
    struct lg_proto_response resp;
    struct {
        uint8_t op;
        uint64_t a, b;
        bool has_b;
        int code;
        const char *needle;
    } cases[] = {
        {LG_PROTO_OP_PROOF, 0, 0, false, LG_EBADREQ, "seq: must be greater than 0"},
        {LG_PROTO_OP_PROOF, 3, 2, true, LG_EBADREQ, "seq: 3 is beyond tree_size 2"},
        {LG_PROTO_OP_PROOF, 4, 0, false, LG_ENOTFOUND, "seq: no record 4 in a tree of 3"},
        {LG_PROTO_OP_PROOF, 1, 4, true, LG_ENOTFOUND, "tree_size: 4 is beyond this node's tree"},
        {LG_PROTO_OP_CONSISTENCY, 0, 2, true, LG_EBADREQ, "from_size: must be greater than 0"},
        {LG_PROTO_OP_CONSISTENCY, 3, 2, true, LG_EBADREQ, "from_size: 3 is greater than "
                                                          "to_size 2"},
        {LG_PROTO_OP_CONSISTENCY, 1, 9, true, LG_ENOTFOUND, "to_size: 9 is beyond this node's "
                                                            "tree (3 records)"},
        {LG_PROTO_OP_DIGEST, 0, 1000, true, LG_ENOTFOUND, "tree_size: 1000 is beyond this "
                                                          "node's tree (3 records)"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        struct lg_proto_request req;
        memset(&req, 0, sizeof req);
        req.op = cases[k].op;
        req.consistency = LG_PROTO_READ_STALE;
        if (req.op == LG_PROTO_OP_PROOF) {
            req.u.proof = (struct lg_proto_proof_req){cases[k].a, cases[k].has_b, cases[k].b};
        } else if (req.op == LG_PROTO_OP_CONSISTENCY) {
            req.u.consistency = (struct lg_proto_consistency_req){cases[k].a, cases[k].b};
        } else {
            req.u.digest = (struct lg_proto_digest_req){cases[k].has_b, cases[k].b};
        }
        /* The client's encoder refuses what the server would: send the bytes raw. */
        if (cases[k].code == LG_EBADREQ) {
            char msg[LG_ERRMSG_SIZE] = "";
            LGT_CHECK(c, lg_proto_check_request(&req, msg) == LG_EBADREQ &&
                             strstr(msg, cases[k].needle) != NULL,
                      "case %zu: the client accepts it (%s)", k, msg);
            continue;
        }
        lg_arena_reset(&arena);
        call_expect(c, (unsigned)(k % c->o.n_nodes), &req, &arena, &resp, cases[k].code,
                    cases[k].needle, lg_proto_op_name(cases[k].op));
    }
    /* The server's own check of what a client's encoder would refuse: hand-written frames. */
    static const struct {
        const char *what;
        uint8_t bytes[64];
        size_t len;
        const char *needle;
    } raw[] = {
        {"proof seq 0", {0x83, 0xa2, 'i', 'd', 0x05, 0xa2, 'o', 'p', 0xa5, 'p', 'r', 'o', 'o',
                         'f', 0xa3, 's', 'e', 'q', 0x00}, 19, "seq: must be greater than 0"},
        {"consistency 3 -> 2", {0x84, 0xa2, 'i', 'd', 0x05, 0xa2, 'o', 'p', 0xab, 'c', 'o', 'n',
                                's', 'i', 's', 't', 'e', 'n', 'c', 'y', 0xa9, 'f', 'r', 'o',
                                'm', '_', 's', 'i', 'z', 'e', 0x03, 0xa7, 't', 'o', '_', 's',
                                'i', 'z', 'e', 0x02}, 40, "from_size: 3 is greater than "
                                                          "to_size 2"},
    };
    for (size_t k = 0; k < sizeof raw / sizeof raw[0]; k++) {
        struct lg_conn *conn = lgt_node_conn(c, 0, CONN_TIMEOUT_MS);
        uint8_t frame[4 + 64];
        frame[0] = 0;
        frame[1] = 0;
        frame[2] = 0;
        frame[3] = (uint8_t)raw[k].len;
        memcpy(frame + 4, raw[k].bytes, raw[k].len);
        char err[LG_ERRMSG_SIZE] = "";
        LGT_CHECK(c, lg_conn_send_raw(conn, frame, 4 + raw[k].len, err) == LG_OK, "send: %s",
                  err);
        const uint8_t *body = NULL;
        size_t len = 0;
        LGT_CHECK(c, lg_conn_recv_frame(conn, &body, &len, err) == LG_OK, "recv: %s", err);
        lg_arena_reset(&arena);
        LGT_CHECK(c, lg_proto_decode_response(LG_PROTO_OP_PING, body, len, &arena, &resp,
                                              err) == LG_OK, "decode: %s", err);
        LGT_CHECK(c, !resp.ok && resp.id == 5 && resp.error.code == LG_EBADREQ &&
                         memmem(resp.error.message.ptr, resp.error.message.len,
                                raw[k].needle, strlen(raw[k].needle)) != NULL,
                  "%s: answered %s \"%.*s\"", raw[k].what, lg_err_wire(resp.error.code),
                  (int)resp.error.message.len, resp.error.message.ptr);
        lg_conn_close(conn);
    }
    struct lg_proto_status st;
    for (unsigned i = 0; i < c->o.n_nodes; i++) {
        status_of(c, i, &st, NULL); /* every node still serves */
    }
    lg_arena_close(&arena);
    lgt_cluster_pass(c);
}

/* ---- the command line ------------------------------------------------------------------------ */

struct cli_run {
    int exit_code;
    char out[8192];
    char err[8192];
};

static void read_small(const char *path, char *out, size_t size)
{
    size_t n = 0;
    uint8_t *bytes = lgt_read_file(path, &n);
    n = bytes == NULL ? 0 : n < size - 1u ? n : size - 1u;
    if (n > 0) {
        memcpy(out, bytes, n);
    }
    out[n] = '\0';
    free(bytes);
}

/* --nodes of the next CLI runs; NULL: every node of the cluster. */
static const char *cli_nodes_override;

/* `ledger-node <args>` (NULL-terminated) with --nodes naming every node, bounded. */
static void cli_runv(struct lgt_cluster *c, struct cli_run *r, const char *const *args)
{
    memset(r, 0, sizeof *r);
    char out_path[FILE_PATH_MAX];
    char err_path[FILE_PATH_MAX];
    snprintf(out_path, sizeof out_path, "%s/cli.out", c->dir);
    snprintf(err_path, sizeof err_path, "%s/cli.err", c->dir);
    static char nodes[LGT_CLUSTER_NODES_MAX * (LGT_ADDRESS_BYTES + 1u)];
    nodes[0] = '\0';
    for (unsigned i = 0; i < c->o.n_nodes; i++) {
        size_t len = strlen(nodes);
        snprintf(nodes + len, sizeof nodes - len, "%s%s", i > 0 ? "," : "",
                 c->nodes[i].client_address);
    }
    const char *argv[CLI_ARGS_MAX + 4];
    unsigned n = 0;
    argv[n++] = c->binary;
    char line[1024] = "";
    for (unsigned k = 0; args[k] != NULL; k++) {
        LGT_CHECK(c, n < CLI_ARGS_MAX, "too many CLI arguments");
        argv[n++] = args[k];
        size_t len = strlen(line);
        snprintf(line + len, sizeof line - len, " %s", args[k]);
    }
    argv[n++] = "--nodes";
    argv[n++] = cli_nodes_override != NULL ? cli_nodes_override : nodes;
    argv[n] = NULL;
    pid_t parent = getpid();
    pid_t pid = fork();
    LGT_CHECK(c, pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) {
            _exit(127);
        }
        int in = open("/dev/null", O_RDONLY);
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 ||
            dup2(err, 2) < 0) {
            _exit(126);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    uint64_t deadline = lgt_now_ms() + CLI_TIMEOUT_MS;
    int status = 0;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) {
            break;
        }
        LGT_CHECK(c, w == 0, "waitpid: %s", strerror(errno));
        if (lgt_now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            LGT_CHECK(c, false, "ledger-node%s did not finish in %u ms", line, CLI_TIMEOUT_MS);
        }
        lgt_sleep_ms(LGT_POLL_MS);
    }
    read_small(out_path, r->out, sizeof r->out);
    read_small(err_path, r->err, sizeof r->err);
    LGT_CHECK(c, WIFEXITED(status), "ledger-node%s: killed; stderr: %s", line, r->err);
    r->exit_code = WEXITSTATUS(status);
    cr_log_info("ledger-node%s -> %d; %s%s", line, r->exit_code, r->out, r->err);
}

#define CLI(c, r, ...)                                                                     \
    do {                                                                                   \
        const char *const cli_args_[] = {__VA_ARGS__, NULL};                              \
        cli_runv((c), (r), cli_args_);                                                     \
    } while (0)

/* Exit code and a string in stdout or stderr. */
static void cli_expect(struct lgt_cluster *c, const struct cli_run *r, int code,
                       const char *needle)
{
    LGT_CHECK(c, r->exit_code == code, "exit %d, expected %d; stdout: %s; stderr: %s",
              r->exit_code, code, r->out, r->err);
    LGT_CHECK(c, strstr(r->out, needle) != NULL || strstr(r->err, needle) != NULL,
              "output lacks \"%s\"; stdout: %s; stderr: %s", needle, r->out, r->err);
}

/* dst = src with the first occurrence of from replaced by to (same length). */
static void file_edit(struct lgt_cluster *c, const char *src, const char *dst, const char *from,
                      const char *to)
{
    char text[4096];
    read_small(src, text, sizeof text);
    char *at = strstr(text, from);
    LGT_CHECK(c, at != NULL && strlen(from) == strlen(to), "%s lacks \"%s\": %s", src, from,
              text);
    memcpy(at, to, strlen(to));
    lgt_write_at_create(dst, text, strlen(text));
}

/* The hex value of key in a digest file ("key":"<hex>"), into out. */
static void file_hex(struct lgt_cluster *c, const char *path, const char *key, char *out,
                     size_t size)
{
    char text[4096];
    read_small(path, text, sizeof text);
    char pat[32];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *at = strstr(text, pat);
    LGT_CHECK(c, at != NULL, "%s lacks %s: %s", path, key, text);
    at += strlen(pat);
    const char *end = strchr(at, '"');
    LGT_CHECK(c, end != NULL && (size_t)(end - at) < size, "%s: bad %s", path, key);
    memcpy(out, at, (size_t)(end - at));
    out[end - at] = '\0';
}

/* A digest at d's size with a forged root, validly signed with node i's own key (what a
 * compromised or lying node could produce), written as a digest file at path. */
static void forge_digest(struct lgt_cluster *c, unsigned i, const char *path,
                         const struct lg_sign_digest *d)
{
    char key_path[FILE_PATH_MAX];
    snprintf(key_path, sizeof key_path, "%s/%s", c->nodes[i].data_dir, LG_SIGN_KEY_FILE);
    struct lg_sign_key *k = NULL;
    char err[LG_ERRMSG_SIZE] = "";
    LGT_CHECK(c, lg_sign_key_open(&k, key_path, false, NULL, err) == LG_OK, "%s: %s", key_path,
              err);
    struct lg_sign_digest f = *d;
    f.root[0] ^= 0x80u;
    LGT_CHECK(c, lg_sign_digest(k, &f) == LG_OK, "sign");
    lg_sign_key_close(k);
    LGT_CHECK(c, lg_sign_digest_verify(&f) == LG_OK, "the forged digest's signature");
    char root[65];
    char pub[65];
    char sig[129];
    lgt_hex(f.root, root);
    lgt_hex(f.public_key, pub);
    for (unsigned b = 0; b < LG_SIGN_SIGNATURE_BYTES; b++) {
        snprintf(sig + 2u * b, 3, "%02x", f.signature[b]);
    }
    char text[1024];
    int n = snprintf(text, sizeof text, "{\"tree_size\":%llu,\"root\":\"%s\",\"timestamp\":%llu,"
                     "\"node_id\":%llu,\"public_key\":\"%s\",\"signature\":\"%s\"}\n",
                     (unsigned long long)f.tree_size, root,
                     (unsigned long long)f.timestamp_us, (unsigned long long)f.node_id, pub,
                     sig);
    lgt_write_at_create(path, text, (size_t)n);
}

/* digest --save, then verify --tx: proven; and not proven (exit 1) with a digest file whose
 * root, tree_size or signature was changed, or whose root is forged but validly signed. */
Test(verify, cli_digest_save_and_verify_tx, .fini = lgt_cluster_fini, .timeout = 180)
{
    struct lgt_cluster *c = cluster_up(false);
    uint64_t index = write_txs(c, 6, 4);
    lgt_cluster_wait_converged(c, index, LGT_CONVERGE_TIMEOUT_MS, NULL);
    char d6[FILE_PATH_MAX];
    char bad[FILE_PATH_MAX];
    snprintf(d6, sizeof d6, "%s/d6.json", c->dir);
    snprintf(bad, sizeof bad, "%s/bad.json", c->dir);
    struct cli_run r;
    CLI(c, &r, "digest", "--save", d6);
    cli_expect(c, &r, 0, "(verified)");
    CLI(c, &r, "digest", "--tree-size", "2", "--json");
    cli_expect(c, &r, 0, "\"tree_size\":2,");
    /* Every transaction of the digest proves; --json says so. */
    for (unsigned tx = 0; tx < 6; tx++) {
        char id[8];
        snprintf(id, sizeof id, "%u", tx);
        CLI(c, &r, "verify", "--tx", id, "--ledger", LEDGER, "--digest", d6);
        cli_expect(c, &r, 0, "verified: transaction");
    }
    CLI(c, &r, "verify", "--tx", "3", "--digest", d6, "--json", "--consistency", "stale");
    cli_expect(c, &r, 0, "\"verified\":true");
    /* A transaction after the digest: not proven by it. */
    index = write_txs(c, 1, 5);
    CLI(c, &r, "verify", "--tx", "6", "--digest", d6);
    cli_expect(c, &r, 1, "after the digest's tree of 6 records");
    CLI(c, &r, "verify", "--tx", "60", "--digest", d6);
    cli_expect(c, &r, 5, "not_found");
    /* Tampered files: a root digit, the tree size, a signature digit. */
    char root[80];
    file_hex(c, d6, "root", root, sizeof root);
    char root2[80];
    memcpy(root2, root, sizeof root2);
    root2[10] = root2[10] == '0' ? '1' : '0';
    file_edit(c, d6, bad, root, root2);
    CLI(c, &r, "verify", "--tx", "1", "--digest", bad);
    cli_expect(c, &r, 1, "signature does not verify");
    file_edit(c, d6, bad, "\"tree_size\":6,", "\"tree_size\":7,");
    CLI(c, &r, "verify", "--tx", "1", "--digest", bad);
    cli_expect(c, &r, 1, "signature does not verify");
    char sig[160];
    file_hex(c, d6, "signature", sig, sizeof sig);
    char sig2[160];
    memcpy(sig2, sig, sizeof sig2);
    sig2[0] = sig2[0] == 'a' ? 'b' : 'a';
    file_edit(c, d6, bad, sig, sig2);
    CLI(c, &r, "verify", "--tx", "1", "--digest", bad);
    cli_expect(c, &r, 1, "signature does not verify");
    /* A validly signed digest with a forged root: the inclusion proof catches it. */
    struct lg_sign_digest d;
    digest_of(c, 0, true, 6, LG_PROTO_READ_STALE, &d);
    forge_digest(c, 0, bad, &d);
    CLI(c, &r, "verify", "--tx", "1", "--digest", bad);
    cli_expect(c, &r, 1, "does not lead to the saved root");
    /* Not a digest file: usage (2). */
    file_edit(c, d6, bad, "\"root\"", "\"rooT\"");
    CLI(c, &r, "verify", "--tx", "1", "--digest", bad);
    cli_expect(c, &r, 2, "root: must be 64 lowercase hex digits");
    CLI(c, &r, "verify", "--tx", "1", "--digest", "/nonexistent/d.json");
    cli_expect(c, &r, 2, "No such file");
    CLI(c, &r, "verify", "--tx", "1");
    cli_expect(c, &r, 2, "--tx ID and --digest FILE go together");
    lgt_cluster_pass(c);
}

/* verify --from/--to: proven for an older and a newer digest (from two nodes); not proven
 * when swapped, when a file was changed, or when the newer root is forged and signed. */
Test(verify, cli_verify_from_to, .fini = lgt_cluster_fini, .timeout = 180)
{
    struct lgt_cluster *c = cluster_up(false);
    uint64_t index = write_txs(c, 5, 6);
    lgt_cluster_wait_converged(c, index, LGT_CONVERGE_TIMEOUT_MS, NULL);
    char d5[FILE_PATH_MAX];
    char d9[FILE_PATH_MAX];
    char d9b[FILE_PATH_MAX];
    char bad[FILE_PATH_MAX];
    snprintf(d5, sizeof d5, "%s/d5.json", c->dir);
    snprintf(d9, sizeof d9, "%s/d9.json", c->dir);
    snprintf(d9b, sizeof d9b, "%s/d9b.json", c->dir);
    snprintf(bad, sizeof bad, "%s/bad.json", c->dir);
    struct cli_run r;
    CLI(c, &r, "digest", "--save", d5);
    cli_expect(c, &r, 0, "saved to");
    index = write_txs(c, 4, 7);
    lgt_cluster_wait_converged(c, index, LGT_CONVERGE_TIMEOUT_MS, NULL);
    CLI(c, &r, "digest", "--save", d9, "--json");
    cli_expect(c, &r, 0, "\"tree_size\":9,");
    CLI(c, &r, "verify", "--from", d5, "--to", d9);
    cli_expect(c, &r, 0, "is a prefix of the journal of 9 records");
    CLI(c, &r, "verify", "--from", d5, "--to", d5);
    cli_expect(c, &r, 0, "verified");
    CLI(c, &r, "verify", "--from", d9, "--to", d5);
    cli_expect(c, &r, 1, "swapped");
    /* Changed files. */
    char root[80];
    file_hex(c, d9, "root", root, sizeof root);
    char root2[80];
    memcpy(root2, root, sizeof root2);
    root2[63] = root2[63] == 'f' ? 'e' : 'f';
    file_edit(c, d9, bad, root, root2);
    CLI(c, &r, "verify", "--from", d5, "--to", bad);
    cli_expect(c, &r, 1, "signature does not verify");
    file_edit(c, d5, bad, "\"tree_size\":5,", "\"tree_size\":4,");
    CLI(c, &r, "verify", "--from", bad, "--to", d9);
    cli_expect(c, &r, 1, "signature does not verify");
    /* Signed by node 1's key but forged: the consistency proof catches it, both ways. */
    struct lg_sign_digest d;
    digest_of(c, 1, true, 9, LG_PROTO_READ_STALE, &d);
    forge_digest(c, 1, d9b, &d);
    CLI(c, &r, "verify", "--from", d5, "--to", d9b);
    cli_expect(c, &r, 1, "does not show the tree of 5 records");
    digest_of(c, 1, true, 5, LG_PROTO_READ_STALE, &d);
    forge_digest(c, 1, bad, &d);
    CLI(c, &r, "verify", "--from", bad, "--to", d9);
    cli_expect(c, &r, 1, "does not show the tree of 5 records");
    CLI(c, &r, "verify", "--from", d5);
    cli_expect(c, &r, 2, "--from FILE and --to FILE go together");
    lgt_cluster_pass(c);
}

/* A node that lags behind a digest answers a stale read of a larger size not_found: that
 * proves nothing about the cluster's history, so verify --tx and verify --from --to exit 4
 * (unavailable, "may only lag") instead of 1. The lagging node: a follower stopped while
 * four more transactions commit, restarted with the other two nodes SIGSTOPped (no leader:
 * it cannot catch up). Before the fix both exited 1 ("does not extend what was signed"). */
Test(verify, cli_stale_reads_on_a_lagging_node_prove_nothing, .fini = lgt_cluster_fini,
     .timeout = 180)
{
    struct lgt_cluster *c = cluster_up(false);
    uint64_t index = write_txs(c, 5, 9);
    lgt_cluster_wait_converged(c, index, LGT_CONVERGE_TIMEOUT_MS, NULL);
    char d5[FILE_PATH_MAX];
    char d9[FILE_PATH_MAX];
    snprintf(d5, sizeof d5, "%s/d5.json", c->dir);
    snprintf(d9, sizeof d9, "%s/d9.json", c->dir);
    struct cli_run r;
    CLI(c, &r, "digest", "--save", d5);
    cli_expect(c, &r, 0, "saved to");
    unsigned leader = lgt_cluster_leader(c, LGT_LEADER_TIMEOUT_MS);
    unsigned lag = (leader + 1u) % c->o.n_nodes;
    unsigned other = (leader + 2u) % c->o.n_nodes;
    lgt_node_signal(c, lag, SIGTERM);
    int status = 0;
    LGT_CHECK(c, lgt_node_wait_exit(c, lag, LGT_EXIT_TIMEOUT_MS, &status), "no clean stop");
    static char up[2 * (LGT_ADDRESS_BYTES + 1u)];
    snprintf(up, sizeof up, "%s,%s", c->nodes[leader].client_address,
             c->nodes[other].client_address);
    cli_nodes_override = up;
    write_txs(c, 4, 10);
    CLI(c, &r, "digest", "--save", d9, "--json");
    cli_expect(c, &r, 0, "\"tree_size\":9,");
    lgt_node_signal(c, leader, SIGSTOP);
    lgt_node_signal(c, other, SIGSTOP);
    lgt_node_start(c, lag);
    lgt_node_wait_ready(c, lag, LGT_READY_TIMEOUT_MS);
    cli_nodes_override = c->nodes[lag].client_address;
    CLI(c, &r, "verify", "--tx", "1", "--digest", d9, "--consistency", "stale");
    cli_expect(c, &r, 4, "may only lag");
    CLI(c, &r, "verify", "--from", d5, "--to", d9, "--consistency", "stale");
    cli_expect(c, &r, 4, "may only lag");
    /* What the lagging node holds still proves. */
    CLI(c, &r, "verify", "--tx", "1", "--digest", d5, "--consistency", "stale");
    cli_expect(c, &r, 0, "verified: transaction");
    cli_nodes_override = NULL;
    lgt_node_signal(c, leader, SIGCONT);
    lgt_node_signal(c, other, SIGCONT);
    lgt_cluster_pass(c);
}

/* ---- the cross-replica audit ----------------------------------------------------------------- */

/* Records of the audit test's ledger. */
#define N_AUDIT 24u

/* Is stored hash position p one of the tree's frontier for size n (the complete subtrees
 * of n's binary decomposition, which the node reads back into memory at open: the current
 * root)? The subtree of level k ending at s = (i + 1) 2^k sits at position
 * nodes(s) - 1 - (ctz(s) - k), nodes(s) = s - popcount(s) (lib/merkle.c). */
static bool frontier_position(uint64_t n, uint64_t p)
{
    uint64_t s = 0;
    for (int k = 63; k >= 1; k--) {
        if (!(n & (UINT64_C(1) << k))) {
            continue;
        }
        s += UINT64_C(1) << k;
        uint64_t nodes = s - (uint64_t)__builtin_popcountll(s);
        uint64_t at = nodes - 1u - ((uint64_t)__builtin_ctzll(s) - (uint64_t)k);
        if (at == p) {
            return true;
        }
    }
    return false;
}

/* Count of needle in node i's log (every run). */
static unsigned log_count(struct lgt_cluster *c, unsigned i, const char *needle)
{
    size_t len = 0;
    char *text = (char *)lgt_read_file(c->nodes[i].log_path, &len);
    LGT_CHECK(c, text != NULL, "cannot read node %u's log", i);
    unsigned n = 0;
    for (const char *at = text; (at = memmem(at, len - (size_t)(at - text), needle,
                                             strlen(needle))) != NULL;
         at++) {
        n++;
    }
    free(text);
    return n;
}

/* Every node audits its peers every 200 ms. With healthy replicas: checks, no mismatch.
 * Then a follower is stopped, the stored subtree hashes of its tree file (its history, on
 * disk beside the journal) are damaged, all but the current root's, and it is started
 * again: its current root still agrees. Every answer the damage reaches fails the check
 * against that current root: a digest at an older size (it would sign a wrong root), a
 * proof (its path), a consistency proof: each is refused `internal` naming the damage,
 * merkle_damaged is logged once. The audit: the damaged follower finds its roots at older
 * sizes differ from the leader's (an error event, status counts the mismatch and names the
 * peer and an older size); the leader's spot checks of it fail (errors, never a wrong root
 * accepted). After a restart the follower recomputes its tree: its older roots agree. */
Test(verify, audit_detects_a_damaged_follower, .fini = lgt_cluster_fini, .timeout = 180)
{
    struct lgt_cluster *c = cluster_up(true);
    unsigned leader = lgt_cluster_leader(c, LGT_LEADER_TIMEOUT_MS);
    unsigned bad = (leader + 1u) % c->o.n_nodes;
    uint64_t index = write_txs(c, N_AUDIT, 8);
    lgt_cluster_wait_converged(c, index, LGT_CONVERGE_TIMEOUT_MS, NULL);
    /* Healthy: the audit runs and agrees. */
    struct lg_proto_status st;
    uint64_t deadline = lgt_now_ms() + AUDIT_WAIT_MS;
    for (unsigned i = 0; i < c->o.n_nodes; i++) {
        do {
            lgt_sleep_ms(100);
            status_of(c, i, &st, NULL);
        } while (st.audit.checks < 4 && lgt_now_ms() < deadline);
        LGT_CHECK(c, st.audit.interval_ms == 200 && st.audit.checks >= 4 &&
                         st.audit.mismatches == 0,
                  "node %u, healthy: audit interval %llu checks %llu mismatches %llu errors "
                  "%llu", i, (unsigned long long)st.audit.interval_ms,
                  (unsigned long long)st.audit.checks, (unsigned long long)st.audit.mismatches,
                  (unsigned long long)st.audit.errors);
        LGT_CHECK(c, !lgt_node_log_contains(c, i, "event=audit_mismatch", false),
                  "node %u logged a mismatch between healthy replicas", i);
    }
    /* Damage the follower's stored history while it is down (a clean stop syncs the tree, so
     * every subtree hash is in the file and trusted at the next start). */
    lgt_node_signal(c, bad, SIGTERM);
    int status = 0;
    LGT_CHECK(c, lgt_node_wait_exit(c, bad, LGT_EXIT_TIMEOUT_MS, &status), "no clean stop");
    char path[FILE_PATH_MAX];
    snprintf(path, sizeof path, "%s/journal/.merkle", c->nodes[bad].data_dir);
    uint64_t size = lgt_file_size(path);
    LGT_CHECK(c, size >= MERKLE_HDR_BYTES + 8u * 32u, "%s holds %llu bytes: no stored hashes",
              path, (unsigned long long)size);
    uint64_t flipped = 0;
    for (uint64_t p = 0; MERKLE_HDR_BYTES + 32u * (p + 1u) <= size; p++) {
        if (!frontier_position(N_AUDIT, p)) {
            lgt_flip_bit(path, MERKLE_HDR_BYTES + 32u * p + 7u, 3);
            flipped++;
        }
    }
    cr_log_info("flipped one bit of %llu of the %llu stored hashes of %s",
                (unsigned long long)flipped,
                (unsigned long long)((size - MERKLE_HDR_BYTES) / 32u), path);
    lgt_node_start(c, bad);
    lgt_node_wait_ready(c, bad, LGT_READY_TIMEOUT_MS);
    /* The damage is in the stored history only: the current roots agree; every answer that
     * reads a damaged hash fails the check against the current root and is refused. */
    struct lg_sign_digest dl;
    struct lg_sign_digest db;
    digest_of(c, leader, true, N_AUDIT, LG_PROTO_READ_STALE, &dl);
    digest_of(c, bad, true, N_AUDIT, LG_PROTO_READ_STALE, &db);
    LGT_CHECK(c, memcmp(dl.root, db.root, 32) == 0, "the damaged follower's current root "
              "differs: the damage reached the frontier");
    struct lg_proto_request req;
    struct lg_proto_response resp;
    struct lg_arena arena;
    lg_arena_init(&arena, 0);
    memset(&req, 0, sizeof req);
    req.op = LG_PROTO_OP_DIGEST;
    req.consistency = LG_PROTO_READ_STALE;
    req.u.digest.has_tree_size = true;
    req.u.digest.tree_size = 2;
    call_expect(c, bad, &req, &arena, &resp, LG_EIO, "Merkle tree file is damaged",
                "damaged follower: digest at 2");
    memset(&req, 0, sizeof req);
    req.op = LG_PROTO_OP_PROOF;
    req.consistency = LG_PROTO_READ_STALE;
    req.u.proof.seq = 1;
    call_expect(c, bad, &req, &arena, &resp, LG_EIO, "Merkle tree file is damaged",
                "damaged follower: proof of seq 1");
    memset(&req, 0, sizeof req);
    req.op = LG_PROTO_OP_CONSISTENCY;
    req.consistency = LG_PROTO_READ_STALE;
    req.u.consistency.from_size = 3;
    req.u.consistency.to_size = N_AUDIT;
    call_expect(c, bad, &req, &arena, &resp, LG_EIO, "Merkle tree file is damaged",
                "damaged follower: consistency 3 to the current size");
    lg_arena_close(&arena);
    char needle[64];
    snprintf(needle, sizeof needle, "level=error node=%llu event=merkle_damaged",
             (unsigned long long)c->nodes[bad].id);
    LGT_CHECK(c, log_count(c, bad, needle) == 1, "the damaged follower logged \"%s\" %u "
              "times, want once", needle, log_count(c, bad, needle));
    /* The damaged node finds it against a healthy peer (the leader, or another follower
     * whose client address gossip gave it): its roots at older sizes differ. */
    deadline = lgt_now_ms() + AUDIT_WAIT_MS;
    do {
        lgt_sleep_ms(100);
        status_of(c, bad, &st, NULL);
    } while (st.audit.mismatches == 0 && lgt_now_ms() < deadline);
    LGT_CHECK(c, st.audit.mismatches > 0, "the damaged follower found no mismatch");
    LGT_CHECK(c, st.audit.last_mismatch_peer >= 1 &&
                     st.audit.last_mismatch_peer <= c->o.n_nodes &&
                     st.audit.last_mismatch_peer != c->nodes[bad].id &&
                     st.audit.last_mismatch_size >= 2 && st.audit.last_mismatch_size < N_AUDIT,
              "the follower's last mismatch: peer %llu size %llu (want another node, an "
              "older size)", (unsigned long long)st.audit.last_mismatch_peer,
              (unsigned long long)st.audit.last_mismatch_size);
    LGT_CHECK(c, lgt_node_log_contains(c, bad, "event=audit_mismatch", true),
              "the damaged follower's log lacks the mismatch");
    /* The leader's spot checks of the follower are refused: errors, and never a mismatch
     * (the follower signs no wrong root). */
    deadline = lgt_now_ms() + AUDIT_WAIT_MS;
    do {
        lgt_sleep_ms(100);
        status_of(c, leader, &st, NULL);
    } while (st.audit.errors == 0 && lgt_now_ms() < deadline);
    LGT_CHECK(c, st.audit.errors > 0 && st.audit.mismatches == 0, "the leader's audit: "
              "errors %llu mismatches %llu (want errors, no mismatch)",
              (unsigned long long)st.audit.errors, (unsigned long long)st.audit.mismatches);
    /* A restart recomputes the follower's tree from its journal: its history agrees again. */
    lgt_node_signal(c, bad, SIGTERM);
    LGT_CHECK(c, lgt_node_wait_exit(c, bad, LGT_EXIT_TIMEOUT_MS, &status), "no clean stop");
    lgt_node_start(c, bad);
    lgt_node_wait_ready(c, bad, LGT_READY_TIMEOUT_MS);
    LGT_CHECK(c, lgt_node_log_contains(c, bad, "event=merkle_repair", true),
              "the restarted follower did not recompute its tree");
    digest_of(c, leader, true, 2, LG_PROTO_READ_STALE, &dl);
    digest_of(c, bad, true, 2, LG_PROTO_READ_STALE, &db);
    LGT_CHECK(c, memcmp(dl.root, db.root, 32) == 0, "the restarted follower's root at 2 "
              "still differs");
    /* The healthy follower never disagrees with the leader. */
    unsigned good = (leader + 2u) % c->o.n_nodes;
    status_of(c, good, &st, NULL);
    LGT_CHECK(c, st.audit.mismatches == 0 || st.audit.last_mismatch_peer == c->nodes[bad].id,
              "the healthy follower disagrees with node %llu",
              (unsigned long long)st.audit.last_mismatch_peer);
    lgt_cluster_pass(c);
}

/* ---- a lying node ---------------------------------------------------------------------- */

/* A proxy between the CLI and a real node that answers get_tx with another record's seq:
 * what a node lying about where a transaction is would do. Everything else is forwarded
 * byte for byte. One client connection at a time, in a thread; polls so it can stop. */
struct liar {
    int listen_fd;
    unsigned port;
    char upstream[LGT_ADDRESS_BYTES];
    uint64_t fake_seq;
    volatile bool stop;
    unsigned lies; /* get_tx answers changed */
    pthread_t thread;
};

static bool read_full(int fd, void *buf, size_t len, struct liar *l)
{
    uint8_t *p = buf;
    while (len > 0 && !l->stop) {
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, 100) <= 0) {
            continue;
        }
        ssize_t n = read(fd, p, len);
        if (n <= 0) {
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return len == 0;
}

static bool write_full(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0) {
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* Serve one client connection until it closes. */
static void liar_serve(struct liar *l, int fd)
{
    struct lg_conn *up = NULL;
    char err[LG_ERRMSG_SIZE];
    if (lg_conn_open(&up, l->upstream, 2000, err) != LG_OK) {
        return;
    }
    static uint8_t body[1u << 20];
    struct lg_arena arena;
    lg_arena_init(&arena, 0);
    struct lg_buf out;
    lg_buf_init(&out);
    for (;;) {
        uint8_t hdr[4];
        if (!read_full(fd, hdr, 4, l)) {
            break;
        }
        uint32_t len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
                       (uint32_t)hdr[2] << 8 | hdr[3];
        if (len == 0 || len > sizeof body || !read_full(fd, body, len, l)) {
            break;
        }
        lg_arena_reset(&arena);
        struct lg_proto_request q;
        int op = lg_proto_decode_request(body, len, &arena, &q, err) == LG_OK ? q.op : 0;
        uint8_t frame[4 + sizeof body];
        memcpy(frame, hdr, 4);
        memcpy(frame + 4, body, len);
        const uint8_t *resp_body = NULL;
        size_t resp_len = 0;
        if (lg_conn_send_raw(up, frame, 4u + len, err) != LG_OK ||
            lg_conn_recv_frame(up, &resp_body, &resp_len, err) != LG_OK) {
            break;
        }
        struct lg_proto_response r;
        lg_buf_reset(&out);
        if (op == LG_PROTO_OP_GET_TX &&
            lg_proto_decode_response(op, resp_body, resp_len, &arena, &r, err) == LG_OK &&
            r.ok) {
            r.u.get_tx.seq = l->fake_seq;
            l->lies++;
            if (lg_proto_encode_response(op, &r, &out) != LG_OK) {
                break;
            }
        } else {
            uint8_t h[4] = {(uint8_t)(resp_len >> 24), (uint8_t)(resp_len >> 16),
                            (uint8_t)(resp_len >> 8), (uint8_t)resp_len};
            if (!lg_buf_append(&out, h, 4) || !lg_buf_append(&out, resp_body, resp_len)) {
                break;
            }
        }
        if (!write_full(fd, out.data, out.len)) {
            break;
        }
    }
    lg_buf_close(&out);
    lg_arena_close(&arena);
    lg_conn_close(up);
}

static void *liar_thread(void *arg)
{
    struct liar *l = arg;
    while (!l->stop) {
        struct pollfd pfd = {l->listen_fd, POLLIN, 0};
        if (poll(&pfd, 1, 100) <= 0) {
            continue;
        }
        int fd = accept(l->listen_fd, NULL, NULL);
        if (fd >= 0) {
            liar_serve(l, fd);
            close(fd);
        }
    }
    return NULL;
}

static void liar_start(struct lgt_cluster *c, struct liar *l, unsigned node, uint64_t fake_seq)
{
    memset(l, 0, sizeof *l);
    snprintf(l->upstream, sizeof l->upstream, "%s", c->nodes[node].client_address);
    l->fake_seq = fake_seq;
    l->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    LGT_CHECK(c, l->listen_fd >= 0, "socket: %s", strerror(errno));
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    LGT_CHECK(c, bind(l->listen_fd, (struct sockaddr *)&a, sizeof a) == 0 &&
                     listen(l->listen_fd, 8) == 0 &&
                     getsockname(l->listen_fd, (struct sockaddr *)&a, &alen) == 0,
              "liar: %s", strerror(errno));
    l->port = ntohs(a.sin_port);
    LGT_CHECK(c, pthread_create(&l->thread, NULL, liar_thread, l) == 0, "pthread_create");
}

static void liar_stop(struct liar *l)
{
    l->stop = true;
    pthread_join(l->thread, NULL);
    close(l->listen_fd);
}

/* A node that lies about where a transaction is (get_tx answers the seq of another
 * transaction's record): the proof it then serves is a true proof of that other record,
 * valid against the saved root, so only the check that the proven body is the record of
 * the transaction asked for catches the lie (exit 1). */
Test(verify, cli_verify_tx_catches_a_node_lying_about_the_record, .fini = lgt_cluster_fini,
     .timeout = 120)
{
    struct lgt_cluster *c = cluster_up(false);
    uint64_t index = write_txs(c, 5, 9);
    lgt_cluster_wait_converged(c, index, LGT_CONVERGE_TIMEOUT_MS, NULL);
    char d5[FILE_PATH_MAX];
    snprintf(d5, sizeof d5, "%s/d5.json", c->dir);
    struct cli_run r;
    CLI(c, &r, "digest", "--save", d5);
    cli_expect(c, &r, 0, "saved to");
    static struct liar l;
    liar_start(c, &l, 0, 4); /* record 4 is transaction 3 */
    char addr[LGT_ADDRESS_BYTES];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", l.port);
    cli_nodes_override = addr;
    CLI(c, &r, "verify", "--tx", "3", "--digest", d5, "--consistency", "stale");
    cli_expect(c, &r, 0, "transaction 3 of ledger main is journal record 4");
    CLI(c, &r, "verify", "--tx", "1", "--digest", d5, "--consistency", "stale");
    cli_expect(c, &r, 1, "is not transaction 1 of ledger \"main\" at seq 4");
    cli_nodes_override = NULL;
    liar_stop(&l);
    LGT_CHECK(c, l.lies == 2, "the liar answered %u get_tx", l.lies);
    lgt_cluster_pass(c);
}
