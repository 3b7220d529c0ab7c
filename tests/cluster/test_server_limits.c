/* test_server_limits: the client server's bounds on what clients control, and its stop
 * (cmd/server.c; docs/protocol.md "Server behaviour"; DESIGN §8).
 *
 * Goal: a client cannot make the node hold memory without bound or for ever: a frame
 * started and never completed ends its connection after LG_SERVER_FRAME_TIMEOUT_MS (the
 * node keeps serving others meanwhile and after); split frames held over all connections
 * stay near LG_SERVER_TOTAL_IN_BYTES_MAX (the node stops reading connections that would
 * allocate more, and reads them again once memory is freed). A node that stops (SIGTERM)
 * answers requests it can no longer serve `unavailable` "node shutting down" instead of
 * leaving them unanswered, and delivers every answer it had encoded before closing the
 * connection with an orderly end of stream (never a cut stream or a reset).
 *
 * Method: real `ledger-node serve` processes with the server's default bounds (the cluster
 * suite cannot change them: serve.c sets none), raw bytes through lg_conn_send_raw,
 * answers through lg_conn_recv_frame, the node's memory from /proc/<pid>/status, the stop
 * sequence observed through the node's log (`node_stopping`, `server_close`). Each wait
 * is bounded; each test takes under 15 s. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "frame.h"
#include "harness.h"

#define LEDGER "main"
#define ASSET "USD/2"
#define MIB (1024u * 1024u)

/* The server's defaults these tests rely on (cmd/server.h; not included: the tests see
 * the binary only). */
#define FRAME_TIMEOUT_MS 10000u
#define TOTAL_IN_BYTES_MAX (512u * MIB)
#define LINGER_MS 1000u

/* Partial frame: the node must have closed the connection by then (from the send). */
#define FRAME_CLOSE_BOUND_MS (FRAME_TIMEOUT_MS + 2000u)
/* Budget: connections sending a 16 MiB header and all but the last byte of the body; per
 * connection the send gives up after SEND_BLOCKED_MS (the node stopped reading it). */
#define BUDGET_CONNS 48u
#define SEND_BLOCKED_MS 150u
/* What the node may hold above its resident memory before the test: the budget, plus one
 * split frame that crossed it and slack for connection structures and the allocator, plus
 * an eighth of it all when the node runs under AddressSanitizer (one shadow byte per eight
 * bytes of heap). Without the budget the node holds BUDGET_CONNS * 16 MiB = 768 MiB
 * (864 MiB under ASan): above this bound either way. */
#define BUDGET_RSS_SLACK_BYTES (48u * MIB)
#define BUDGET_RSS_BOUND_BYTES                                                             \
    ((size_t)TOTAL_IN_BYTES_MAX + BUDGET_RSS_SLACK_BYTES +                                 \
     ((size_t)TOTAL_IN_BYTES_MAX + BUDGET_RSS_SLACK_BYTES) / 8u)
/* Graceful close: requests whose answers are large (a transaction with METADATA_ENTRIES
 * values of METADATA_VALUE_BYTES), so that the answers the client does not read yet are
 * far more than the kernel's socket buffers (net.ipv4.tcp_wmem and tcp_rmem maxima, 4 and
 * up to 32 MiB) but less than the server's out_bytes_max (64 MiB). */
#define METADATA_ENTRIES 64u
#define METADATA_VALUE_BYTES 4000u
#define BIG_READS 160u
/* Stop windows: log lines and the exit must come within these. */
#define STOP_LOG_MS 10000u
#define STOP_EXIT_MS 10000u

/* Send a ping on conn with id and wait for its answer; fails the test unless it is ok. */
static void ping_ok(struct lgt_cluster *c, struct lg_conn *conn, uint64_t id, const char *what)
{
    struct lg_proto_request req;
    memset(&req, 0, sizeof req);
    req.op = LG_PROTO_OP_PING;
    req.id = id;
    struct lg_arena arena;
    lg_arena_init(&arena, 0);
    struct lg_proto_response resp;
    memset(&resp, 0, sizeof resp);
    char err[LG_ERRMSG_SIZE] = "";
    int rc = lg_conn_call(conn, &req, &arena, &resp, err);
    LGT_CHECK(c, rc == LG_OK, "%s: ping: no answer: %s %s", what, lg_err_name(rc), err);
    LGT_CHECK(c, resp.ok, "%s: ping refused: %s", what, lg_err_wire(resp.error.code));
    lg_arena_close(&arena);
}

/* A ping on a new connection to node i. */
static void ping_new_conn_ok(struct lgt_cluster *c, unsigned i, const char *what)
{
    struct lg_conn *conn = lgt_node_conn(c, i, 3000);
    ping_ok(c, conn, 1, what);
    lg_conn_close(conn);
}

/* Receive one frame within the connection's timeout and decode it as an answer to op, or
 * to other_op when its id is other_id. Returns the receive code; on LG_OK *resp (views
 * into conn and arena) and *id are set. */
static int recv_answer(struct lgt_cluster *c, struct lg_conn *conn, int op, uint64_t other_id,
                       int other_op, struct lg_arena *arena, struct lg_proto_response *resp,
                       uint64_t *id, char *err)
{
    const uint8_t *body = NULL;
    size_t len = 0;
    int rc = lg_conn_recv_frame(conn, &body, &len, err);
    if (rc != LG_OK) {
        return rc;
    }
    LGT_CHECK(c, lg_conn_response_id(body, len, id) == LG_OK, "an answer without an id");
    memset(resp, 0, sizeof *resp);
    char derr[LG_ERRMSG_SIZE] = "";
    int drc = lg_proto_decode_response(*id == other_id ? other_op : op, body, len, arena, resp,
                                       derr);
    LGT_CHECK(c, drc == LG_OK, "answer %llu does not decode: %s %s", (unsigned long long)*id,
              lg_err_name(drc), derr);
    return LG_OK;
}

/* The end of the stream after the last answer must be orderly: the peer closed (FIN), the
 * receive was not cut mid-frame and not reset. */
static void expect_orderly_eof(struct lgt_cluster *c, struct lg_conn *conn, const char *what)
{
    const uint8_t *body = NULL;
    size_t len = 0;
    char err[LG_ERRMSG_SIZE] = "";
    int rc = lg_conn_recv_frame(conn, &body, &len, err);
    LGT_CHECK(c, rc == LG_EUNAVAIL, "%s: after the last answer: %s %s (expected the end of "
              "the stream)", what, lg_err_name(rc), err);
    LGT_CHECK(c, strstr(err, "closed by the peer") != NULL && strstr(err, "mid-frame") == NULL,
              "%s: the stream did not end in order: %s", what, err);
}

/* VmRSS or VmHWM of a process, in bytes (0 when unreadable). */
static size_t proc_mem_bytes(pid_t pid, const char *field)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }
    size_t kib = 0;
    char line[256];
    size_t n = strlen(field);
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, field, n) == 0) {
            kib = (size_t)strtoull(line + n, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kib * 1024u;
}

/* Wait (bounded) for needle in node i's log of this run. */
static void wait_log(struct lgt_cluster *c, unsigned i, const char *needle, unsigned bound_ms)
{
    uint64_t deadline = lgt_now_ms() + bound_ms;
    while (!lgt_node_log_contains(c, i, needle, true)) {
        LGT_CHECK(c, lgt_now_ms() < deadline, "node %u did not log %s within %u ms", i + 1u,
                  needle, bound_ms);
        lgt_sleep_ms(5);
    }
}

/* A client sends a 16 MiB length and a few body bytes, then nothing: the node answers
 * `timeout` (id 0) and ends the connection in order after LG_SERVER_FRAME_TIMEOUT_MS,
 * keeps answering other connections meanwhile, and still does afterwards. */
Test(cluster, partial_frame_times_out_and_node_keeps_serving, .fini = lgt_cluster_fini,
     .timeout = 60)
{
    struct lgt_cluster_options o = {.n_nodes = 3};
    struct lgt_cluster *c = lgt_cluster_new(&o);
    lgt_cluster_start(c);
    struct lg_conn *slow = lgt_node_conn(c, 0, 3000);
    uint8_t bytes[LG_FRAME_HEADER_BYTES + 16u];
    memset(bytes, 0xa5, sizeof bytes);
    lg_frame_header_put(LG_FRAME_BYTES_MAX, bytes);
    char err[LG_ERRMSG_SIZE] = "";
    uint64_t t0 = lgt_now_ms();
    int rc = lg_conn_send_raw(slow, bytes, sizeof bytes, err);
    LGT_CHECK(c, rc == LG_OK, "send a partial frame: %s %s", lg_err_name(rc), err);

    /* Meanwhile the node serves others. */
    lgt_sleep_ms(500);
    ping_new_conn_ok(c, 0, "during the partial frame");

    /* The slow connection gets its answer and the end of the stream, within the bound. */
    uint64_t now = lgt_now_ms();
    lg_conn_set_timeout(slow, (unsigned)(t0 + FRAME_CLOSE_BOUND_MS - now));
    struct lg_arena arena;
    lg_arena_init(&arena, 0);
    struct lg_proto_response resp;
    uint64_t id = 1;
    rc = recv_answer(c, slow, LG_PROTO_OP_PING, 0, LG_PROTO_OP_PING, &arena, &resp, &id, err);
    uint64_t elapsed = lgt_now_ms() - t0;
    LGT_CHECK(c, rc == LG_OK, "partial frame: no answer %llu ms after it was sent: %s %s",
              (unsigned long long)elapsed, lg_err_name(rc), err);
    LGT_CHECK(c, id == 0 && !resp.ok && resp.error.code == LG_ETIMEOUT,
              "partial frame answered id %llu ok=%d %s (expected id 0, timeout)",
              (unsigned long long)id, (int)resp.ok,
              resp.ok ? "" : lg_err_wire(resp.error.code));
    expect_orderly_eof(c, slow, "partial frame");
    elapsed = lgt_now_ms() - t0;
    LGT_CHECK(c, elapsed <= FRAME_CLOSE_BOUND_MS, "partial frame: closed after %llu ms",
              (unsigned long long)elapsed);
    cr_log_info("partial frame: answered and closed after %llu ms", (unsigned long long)elapsed);
    lg_conn_close(slow);
    lg_arena_close(&arena);
    LGT_CHECK(c, lgt_node_log_contains(c, 0, "event=client_frame_timeout", true),
              "no client_frame_timeout in the node's log");

    ping_new_conn_ok(c, 0, "after the partial frame");
    lgt_cluster_pass(c);
}

/* BUDGET_CONNS connections each send a 16 MiB length and 16 MiB - 1 body bytes (the
 * measured attack: each pinned a 16 MiB buffer for ever). The node's resident memory must
 * stay within the server-wide budget (plus slack), which means it stopped reading some of
 * them; a ping on a new connection waits while the node is over the budget, and is
 * answered once the attackers go away. */
Test(cluster, split_frames_held_within_the_server_budget, .fini = lgt_cluster_fini,
     .timeout = 60)
{
    struct lgt_cluster_options o = {.n_nodes = 3};
    struct lgt_cluster *c = lgt_cluster_new(&o);
    lgt_cluster_start(c);
    pid_t pid = c->nodes[0].pid;
    size_t rss0 = proc_mem_bytes(pid, "VmRSS:");
    LGT_CHECK(c, rss0 > 0, "cannot read /proc/%d/status", (int)pid);

    size_t body = LG_FRAME_BYTES_MAX - 1u;
    uint8_t *bytes = malloc(LG_FRAME_HEADER_BYTES + body);
    LGT_CHECK(c, bytes != NULL, "out of memory");
    memset(bytes, 0x5a, LG_FRAME_HEADER_BYTES + body);
    lg_frame_header_put(LG_FRAME_BYTES_MAX, bytes);
    static struct lg_conn *conns[BUDGET_CONNS];
    unsigned blocked = 0;
    size_t rss_max = rss0;
    uint64_t t0 = lgt_now_ms();
    for (unsigned k = 0; k < BUDGET_CONNS; k++) {
        conns[k] = lgt_node_conn(c, 0, SEND_BLOCKED_MS);
        char err[LG_ERRMSG_SIZE] = "";
        int rc = lg_conn_send_raw(conns[k], bytes, LG_FRAME_HEADER_BYTES + body, err);
        LGT_CHECK(c, rc == LG_OK || rc == LG_ETIMEOUT, "connection %u: send: %s %s", k,
                  lg_err_name(rc), err);
        blocked += rc == LG_ETIMEOUT ? 1u : 0u;
        size_t rss = proc_mem_bytes(pid, "VmRSS:");
        rss_max = rss > rss_max ? rss : rss_max;
    }
    free(bytes);
    uint64_t sent_ms = lgt_now_ms() - t0;
    lgt_sleep_ms(200); /* let the node read whatever it reads */
    size_t rss = proc_mem_bytes(pid, "VmRSS:");
    rss_max = rss > rss_max ? rss : rss_max;
    size_t hwm = proc_mem_bytes(pid, "VmHWM:");
    cr_log_info("budget: %u connections in %llu ms, %u blocked; rss %zu MiB before, max %zu "
                "MiB, peak %zu MiB", BUDGET_CONNS, (unsigned long long)sent_ms, blocked,
                rss0 / MIB, rss_max / MIB, hwm / MIB);
    LGT_CHECK(c, sent_ms < FRAME_TIMEOUT_MS, "the sends took %llu ms: the frame timeout may "
              "have freed memory meanwhile", (unsigned long long)sent_ms);
    LGT_CHECK(c, hwm <= rss0 + BUDGET_RSS_BOUND_BYTES,
              "the node's memory peaked at %zu MiB, %zu MiB before: more than %zu MiB for "
              "split frames (the %u MiB budget, slack, ASan shadow)", hwm / MIB, rss0 / MIB,
              BUDGET_RSS_BOUND_BYTES / MIB, TOTAL_IN_BYTES_MAX / MIB);
    LGT_CHECK(c, blocked > 0, "every connection could send its %u MiB", BUDGET_CONNS * 16u);

    /* Over the budget, a new connection is not read: its ping waits. */
    struct lg_conn *probe = lgt_node_conn(c, 0, 300);
    struct lg_proto_request req;
    memset(&req, 0, sizeof req);
    req.op = LG_PROTO_OP_PING;
    req.id = 9;
    char err[LG_ERRMSG_SIZE] = "";
    int rc = lg_conn_send(probe, &req, err);
    LGT_CHECK(c, rc == LG_OK, "probe: send: %s %s", lg_err_name(rc), err);
    const uint8_t *frame = NULL;
    size_t len = 0;
    rc = lg_conn_recv_frame(probe, &frame, &len, err);
    LGT_CHECK(c, rc == LG_ETIMEOUT, "over the budget, a ping on a new connection was %s %s "
              "(expected no answer yet)", lg_err_name(rc), err);

    /* The attackers leave: their memory is freed and the waiting ping is read. */
    for (unsigned k = 0; k < BUDGET_CONNS; k++) {
        lg_conn_close(conns[k]);
        conns[k] = NULL;
    }
    lg_conn_set_timeout(probe, 5000);
    rc = lg_conn_recv_frame(probe, &frame, &len, err);
    LGT_CHECK(c, rc == LG_OK, "the ping waiting for the budget: %s %s", lg_err_name(rc), err);
    uint64_t id = 0;
    LGT_CHECK(c, lg_conn_response_id(frame, len, &id) == LG_OK && id == 9,
              "the waiting ping got answer %llu", (unsigned long long)id);
    lg_conn_close(probe);
    ping_new_conn_ok(c, 0, "after the attack");
    lgt_cluster_pass(c);
}

/* The leader with both followers stopped (SIGSTOP) gets SIGTERM: it is stopping for about
 * an election timeout (waiting for a leadership transfer that cannot happen). A stale read
 * and a submit sent on an open connection in that window are answered `unavailable`
 * "node shutting down" (a read must not be handed to a stopping node: after Raft closes it
 * would never be answered; a stale read answered from a closing node's state is no better),
 * then the node exits 0. */
Test(cluster, requests_while_stopping_are_answered_unavailable, .fini = lgt_cluster_fini,
     .timeout = 60)
{
    /* Longer elections: the stop window of a leader without followers lasts about one
     * election timeout, well above the test's reaction time (a log poll and a request). */
    struct lgt_cluster_options o = {.n_nodes = 3, .election_timeout_ms = 2000,
                                    .heartbeat_timeout_ms = 100};
    struct lgt_cluster *c = lgt_cluster_new(&o);
    lgt_cluster_start(c);
    unsigned leader = lgt_cluster_leader(c, LGT_LEADER_TIMEOUT_MS);
    struct lg_client *cl = lgt_cluster_client(c, NULL, 0, 5000, 0);
    struct lgt_transfer t = {.ledger = LEDGER, .source = "world",
                             .destination = "users:1:main", .amount = 5, .asset = ASSET,
                             .reference = "stopping-0"};
    struct lg_proto_tx_result w;
    lgt_submit_ok(c, cl, &t, &w);
    lg_client_close(cl);
    struct lg_conn *conn = lgt_node_conn(c, leader, 3000);
    ping_ok(c, conn, 1, "before the stop");

    for (unsigned i = 0; i < c->o.n_nodes; i++) {
        if (i != leader) {
            lgt_node_signal(c, i, SIGSTOP);
        }
    }
    lgt_node_signal(c, leader, SIGTERM);
    wait_log(c, leader, "event=node_stopping", STOP_LOG_MS);
    uint64_t t_stopping = lgt_now_ms();

    /* A stale read: the kind a node would otherwise answer from its state. */
    struct lg_proto_request req;
    lgt_req_get_tx(&req, LEDGER, w.tx_id, NULL, LG_PROTO_READ_STALE, 0);
    req.id = 2;
    struct lg_arena arena;
    lg_arena_init(&arena, 0);
    struct lg_proto_response resp;
    memset(&resp, 0, sizeof resp);
    char err[LG_ERRMSG_SIZE] = "";
    int rc = lg_conn_call(conn, &req, &arena, &resp, err);
    uint64_t answered_ms = lgt_now_ms() - t_stopping;
    LGT_CHECK(c, rc == LG_OK, "a read sent while the node stops: no answer: %s %s",
              lg_err_name(rc), err);
    LGT_CHECK(c, !resp.ok && resp.error.code == LG_EUNAVAIL &&
                     resp.error.message.len > 0 &&
                     memmem(resp.error.message.ptr, resp.error.message.len,
                            "node shutting down", 18) != NULL,
              "a read sent while the node stops was answered %s %.*s (expected unavailable "
              "\"node shutting down\")", resp.ok ? "ok" : lg_err_wire(resp.error.code),
              resp.ok ? 0 : (int)resp.error.message.len,
              resp.ok ? "" : resp.error.message.ptr);

    /* A submit: refused the same way. */
    struct lg_posting posting;
    struct lg_kv kv;
    t.reference = "stopping-1";
    lgt_req_submit(&req, &posting, &kv, &t);
    req.id = 3;
    lg_arena_reset(&arena);
    rc = lg_conn_call(conn, &req, &arena, &resp, err);
    LGT_CHECK(c, rc == LG_OK, "a submit sent while the node stops: no answer: %s %s",
              lg_err_name(rc), err);
    LGT_CHECK(c, !resp.ok && resp.error.code == LG_EUNAVAIL,
              "a submit sent while the node stops was answered %s",
              resp.ok ? "ok" : lg_err_wire(resp.error.code));
    cr_log_info("stopping: read answered %llu ms after node_stopping",
                (unsigned long long)answered_ms);
    lg_arena_close(&arena);
    lg_conn_close(conn);

    int st = 0;
    bool exited = lgt_node_wait_exit(c, leader, STOP_EXIT_MS, &st);
    char text[64];
    LGT_CHECK(c, exited, "the SIGTERMed leader still runs %u ms later", STOP_EXIT_MS);
    LGT_CHECK(c, WIFEXITED(st) && WEXITSTATUS(st) == 0, "the SIGTERMed leader %s",
              lgt_wait_status_text(st, text, sizeof text));
    lgt_cluster_pass(c);
}

/* Build a submit of a transaction with METADATA_ENTRIES large values. */
static void big_submit(struct lg_proto_request *req, struct lg_posting *posting,
                       struct lg_kv *kvs, char (*keys)[8], char *value, const char *reference)
{
    struct lgt_transfer t = {.ledger = LEDGER, .source = "world",
                             .destination = "users:big:main", .amount = 1, .asset = ASSET,
                             .reference = reference};
    struct lg_kv unused;
    lgt_req_submit(req, posting, &unused, &t);
    memset(value, 'v', METADATA_VALUE_BYTES);
    value[METADATA_VALUE_BYTES] = '\0';
    for (unsigned k = 0; k < METADATA_ENTRIES; k++) {
        snprintf(keys[k], 8, "k%02u", k);
        kvs[k].key = lgt_str(keys[k]);
        kvs[k].value = lgt_str(value);
    }
    req->u.submit.metadata = kvs;
    req->u.submit.n_metadata = METADATA_ENTRIES;
}

/* A client pipelines reads with large answers and a submit to the leader, without reading;
 * the node applies the submit (its answer is then encoded, queued behind ~40 MB of
 * answers), gets SIGTERM and closes its server. The client sends one more request and
 * starts reading only once the node logged server_close: it must still receive every
 * answer, the submit's included, then an orderly end of stream (not a stream cut
 * mid-frame, not a reset, though it sent bytes the server never answered). */
Test(cluster, sigterm_delivers_encoded_answers_then_orderly_eof, .fini = lgt_cluster_fini,
     .timeout = 60)
{
    struct lgt_cluster_options o = {.n_nodes = 3};
    struct lgt_cluster *c = lgt_cluster_new(&o);
    lgt_cluster_start(c);
    unsigned leader = lgt_cluster_leader(c, LGT_LEADER_TIMEOUT_MS);
    static struct lg_kv kvs[METADATA_ENTRIES];
    static char keys[METADATA_ENTRIES][8];
    static char value[METADATA_VALUE_BYTES + 1u];
    struct lg_posting posting;
    struct lg_proto_request req;
    struct lg_arena arena;
    lg_arena_init(&arena, 0);
    struct lg_proto_response resp;
    char err[LG_ERRMSG_SIZE] = "";

    /* The transaction the reads fetch. */
    struct lg_conn *conn = lgt_node_conn(c, leader, 10000);
    big_submit(&req, &posting, kvs, keys, value, "big-0");
    req.id = 1;
    int rc = lg_conn_call(conn, &req, &arena, &resp, err);
    LGT_CHECK(c, rc == LG_OK && resp.ok, "submit the large transaction: %s %s %s",
              lg_err_name(rc), err, rc == LG_OK && !resp.ok ? lg_err_wire(resp.error.code) : "");
    uint64_t tx_id = resp.u.submit.tx_id;
    uint64_t index0 = resp.u.submit.index;

    /* Pipelined, unread: BIG_READS reads, then a submit. */
    for (unsigned k = 0; k < BIG_READS; k++) {
        lgt_req_get_tx(&req, LEDGER, tx_id, NULL, LG_PROTO_READ_STALE, 0);
        req.id = 100u + k;
        rc = lg_conn_send(conn, &req, err);
        LGT_CHECK(c, rc == LG_OK, "send read %u: %s %s", k, lg_err_name(rc), err);
    }
    big_submit(&req, &posting, kvs, keys, value, "big-1");
    uint64_t submit_id = 100u + BIG_READS;
    req.id = submit_id;
    rc = lg_conn_send(conn, &req, err);
    LGT_CHECK(c, rc == LG_OK, "send the submit: %s %s", lg_err_name(rc), err);

    /* Once the leader applied it, the submit's answer is encoded (in the apply callback),
     * behind the reads' (the reads were started before it, and stale reads are answered on
     * the next loop turn). */
    uint64_t deadline = lgt_now_ms() + 10000u;
    for (;;) {
        struct lgt_status st;
        char serr[LG_ERRMSG_SIZE] = "";
        rc = lgt_node_status(c, leader, &st, serr);
        if (rc == LG_OK && st.applied_index > index0) {
            break;
        }
        LGT_CHECK(c, lgt_now_ms() < deadline, "the leader did not apply the pipelined submit: "
                  "%s %s", lg_err_name(rc), serr);
        lgt_sleep_ms(LGT_POLL_MS);
    }

    lgt_node_signal(c, leader, SIGTERM);
    wait_log(c, leader, "event=server_close", STOP_LOG_MS);

    /* A request sent now is not read as one (no more requests once the server closes) and
     * must not turn the end of the stream into a reset: the server discards such input. */
    memset(&req, 0, sizeof req);
    req.op = LG_PROTO_OP_PING;
    req.id = submit_id + 1u;
    rc = lg_conn_send(conn, &req, err);
    LGT_CHECK(c, rc == LG_OK, "send a ping after server_close: %s %s", lg_err_name(rc), err);

    /* Now read: every answer, in full, then the end of the stream. */
    lg_conn_set_timeout(conn, 5000);
    unsigned answers = 0;
    unsigned reads_ok = 0;
    bool submit_answered = false;
    while (!submit_answered) {
        lg_arena_reset(&arena);
        uint64_t id = 0;
        rc = recv_answer(c, conn, LG_PROTO_OP_GET_TX, submit_id, LG_PROTO_OP_SUBMIT, &arena,
                         &resp, &id, err);
        LGT_CHECK(c, rc == LG_OK, "after %u answers of %u: %s %s (answers encoded before the "
                  "close were lost)", answers, BIG_READS + 1u, lg_err_name(rc), err);
        answers++;
        if (id == submit_id) {
            submit_answered = true;
        } else {
            LGT_CHECK(c, id >= 100u && id < submit_id, "an answer to id %llu",
                      (unsigned long long)id);
            reads_ok += resp.ok ? 1u : 0u;
        }
    }
    LGT_CHECK(c, answers == BIG_READS + 1u, "%u answers, expected %u", answers,
              BIG_READS + 1u);
    expect_orderly_eof(c, conn, "after SIGTERM");
    cr_log_info("close: %u answers (%u reads ok) then an orderly end of stream", answers,
                reads_ok);
    lg_conn_close(conn);
    lg_arena_close(&arena);

    int st = 0;
    bool exited = lgt_node_wait_exit(c, leader, STOP_EXIT_MS, &st);
    char text[64];
    LGT_CHECK(c, exited, "the SIGTERMed leader still runs %u ms later", STOP_EXIT_MS);
    LGT_CHECK(c, WIFEXITED(st) && WEXITSTATUS(st) == 0, "the SIGTERMed leader %s",
              lgt_wait_status_text(st, text, sizeof text));
    lgt_cluster_pass(c);
}
