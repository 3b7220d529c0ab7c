/* test_bad_input: hostile and invalid client input, and every error code of DESIGN §8, on
 * real `ledger-node serve` processes (docs/protocol.md "Bad input" and "Error codes").
 *
 * Goal: each kind of bad input of the protocol issue gets its documented code, with a
 * message that names the field at fault, and never costs the node its health: after every
 * case a new connection to the same node is answered `status`. A bad frame (length 0, or
 * above 16 MiB) is answered with id 0 and then the connection ends; a bad request in a
 * good frame is answered with its id and the connection goes on (a ping on it is
 * answered). Every wire error code is reached by a test of the cluster suite: the codes
 * of the state machine (insufficient_funds, condition_failed, conflict, overflow), a read
 * that cannot reach its index (timeout), and `internal`, honestly: a journal byte flipped
 * under a frozen follower, found by that follower's history read (the journal verifies
 * every record it reads, never what it wrote earlier: docs/journal.md).
 *
 * Method: requests are built byte by byte (a small msgpack writer below: the client's
 * encoder refuses to produce invalid requests) and sent with lg_conn_send_raw; answers are
 * read with lg_conn_recv_frame and decoded with lg_proto_decode_response. One 3-node
 * cluster serves every check of a test, to keep the suite fast. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frame.h"
#include "harness.h"

#define LEDGER "main"
#define ASSET "USD/2"
/* Request id of the bad requests (answers must carry it back). */
#define BAD_ID 4242u
/* Per-connection bound of each exchange (ms). */
#define CONN_TIMEOUT_MS 5000u
/* 10 000 postings: ten times LG_POSTINGS_MAX. */
#define MANY_POSTINGS 10000u
/* Nesting of the deep-map case (LG_PROTO_DEPTH_MAX is 16). */
#define DEEP_LEVELS 100u
/* A read `after` an index that never comes is answered timeout after the node's read
 * bound (LG_NODE_READ_TIMEOUT_MS, 5 s; not included: the tests see the binary only). */
#define READ_TIMEOUT_MS 5000u
#define READ_TIMEOUT_SLACK_MS 3000u
#define FAR_INDEX 1000000000000ull
/* The journal's on-disk layout (docs/journal.md): 64-byte segment header, then records of
 * a 64-byte header (body_len u32 at 8, seq u64 at 16, little-endian) and a body padded to
 * 8. The first segment's file name. */
#define SEG_HDR_BYTES 64u
#define REC_HDR_BYTES 64u
#define FIRST_SEGMENT "journal/seg-00000000000000000001.log"
/* Records of BIG_ENTRIES metadata values of BIG_VALUE_BYTES (~256 KB each): BIG_RECORDS of
 * them overflow the journal's 1 MiB write buffer. */
#define BIG_ENTRIES 64u
#define BIG_VALUE_BYTES 4000u
#define BIG_RECORDS 6u

/* ---- a tiny msgpack writer --------------------------------------------------------------- */

/* Bytes of a frame being built: 4 bytes reserved for the length prefix, then the body. An
 * allocation failure is remembered and fails the test at send time. */
struct mp {
    struct lg_buf b;
    bool failed;
};

static void mp_init(struct mp *m)
{
    lg_buf_init(&m->b);
    static const uint8_t zero[LG_FRAME_HEADER_BYTES] = {0};
    m->failed = !lg_buf_append(&m->b, zero, sizeof zero);
}

static void mp_raw(struct mp *m, const void *bytes, size_t n)
{
    if (!m->failed && !lg_buf_append(&m->b, bytes, n)) {
        m->failed = true;
    }
}

/* A type byte followed by v in n big-endian bytes (n 0..8). */
static void mp_tag(struct mp *m, uint8_t tag, uint64_t v, unsigned n)
{
    uint8_t out[9];
    out[0] = tag;
    for (unsigned k = 0; k < n; k++) {
        out[1u + k] = (uint8_t)(v >> (8u * (n - 1u - k)));
    }
    mp_raw(m, out, 1u + n);
}

static void mp_map(struct mp *m, uint32_t n)
{
    if (n < 16u) {
        mp_tag(m, (uint8_t)(0x80u | n), 0, 0);
    } else if (n <= 0xffffu) {
        mp_tag(m, 0xde, n, 2);
    } else {
        mp_tag(m, 0xdf, n, 4);
    }
}

static void mp_arr(struct mp *m, uint32_t n)
{
    if (n < 16u) {
        mp_tag(m, (uint8_t)(0x90u | n), 0, 0);
    } else if (n <= 0xffffu) {
        mp_tag(m, 0xdc, n, 2);
    } else {
        mp_tag(m, 0xdd, n, 4);
    }
}

static void mp_str(struct mp *m, const char *s)
{
    size_t n = strlen(s);
    if (n < 32u) {
        mp_tag(m, (uint8_t)(0xa0u | n), 0, 0);
    } else if (n <= 0xffu) {
        mp_tag(m, 0xd9, n, 1);
    } else {
        mp_tag(m, 0xda, n, 2);
    }
    mp_raw(m, s, n);
}

static void mp_uint(struct mp *m, uint64_t v)
{
    if (v < 128u) {
        mp_tag(m, (uint8_t)v, 0, 0);
    } else if (v <= 0xffu) {
        mp_tag(m, 0xcc, v, 1);
    } else if (v <= 0xffffu) {
        mp_tag(m, 0xcd, v, 2);
    } else if (v <= 0xffffffffu) {
        mp_tag(m, 0xce, v, 4);
    } else {
        mp_tag(m, 0xcf, v, 8);
    }
}

/* A negative integer, always as int64 (0xd3): any integer form must be refused alike. */
static void mp_neg(struct mp *m, int64_t v)
{
    mp_tag(m, 0xd3, (uint64_t)v, 8);
}

/* The envelope {"id": BAD_ID, "op": op, ...} with n_args more pairs to follow. */
static void mp_request(struct mp *m, const char *op, uint32_t n_args)
{
    mp_map(m, 2u + n_args);
    mp_str(m, "id");
    mp_uint(m, BAD_ID);
    mp_str(m, "op");
    mp_str(m, op);
}

/* One posting {source, destination, amount (written by amount_fn), asset}. */
static void mp_posting(struct mp *m, const char *source, const char *destination,
                       const char *asset, void (*amount_fn)(struct mp *m))
{
    mp_map(m, 4);
    mp_str(m, "source");
    mp_str(m, source);
    mp_str(m, "destination");
    mp_str(m, destination);
    mp_str(m, "amount");
    amount_fn(m);
    mp_str(m, "asset");
    mp_str(m, asset);
}

/* A submit on ledger with one posting. */
static void mp_submit1(struct mp *m, const char *ledger, const char *source,
                       const char *destination, const char *asset,
                       void (*amount_fn)(struct mp *m))
{
    mp_request(m, "submit", 2);
    mp_str(m, "ledger");
    mp_str(m, ledger);
    mp_str(m, "postings");
    mp_arr(m, 1);
    mp_posting(m, source, destination, asset, amount_fn);
}

static void amount_ten(struct mp *m) { mp_uint(m, 10); }
static void amount_zero(struct mp *m) { mp_uint(m, 0); }
static void amount_negative(struct mp *m) { mp_neg(m, -5); }
static void amount_2p128(struct mp *m) { mp_str(m, "340282366920938463463374607431768211456"); }
static void amount_map(struct mp *m)
{
    mp_map(m, 1);
    mp_str(m, "value");
    mp_uint(m, 10);
}

/* ---- exchanges ----------------------------------------------------------------------------- */

/* An answer, copied out of the connection's buffer. */
struct answer {
    uint64_t id;
    bool ok;
    int code;
    char message[LG_ERRMSG_SIZE * 2];
};

/* Receive one frame on conn and decode it as an answer to op. Fails the test when nothing
 * (decodable) arrives within the connection's timeout. */
static void recv_answer(struct lgt_cluster *c, struct lg_conn *conn, int op,
                        struct answer *a, const char *what)
{
    const uint8_t *body = NULL;
    size_t len = 0;
    char err[LG_ERRMSG_SIZE] = "";
    int rc = lg_conn_recv_frame(conn, &body, &len, err);
    LGT_CHECK(c, rc == LG_OK, "%s: no answer: %s %s", what, lg_err_name(rc), err);
    struct lg_arena arena;
    lg_arena_init(&arena, 0);
    struct lg_proto_response resp;
    memset(&resp, 0, sizeof resp);
    rc = lg_proto_decode_response(op, body, len, &arena, &resp, err);
    LGT_CHECK(c, rc == LG_OK, "%s: the answer does not decode: %s %s", what, lg_err_name(rc),
              err);
    memset(a, 0, sizeof *a);
    a->id = resp.id;
    a->ok = resp.ok;
    if (!resp.ok) {
        a->code = resp.error.code;
        size_t n = resp.error.message.len < sizeof a->message - 1u
                       ? resp.error.message.len
                       : sizeof a->message - 1u;
        memcpy(a->message, resp.error.message.ptr, n);
        a->message[n] = '\0';
    }
    lg_arena_close(&arena);
}

/* The node answers `status` on a new connection (the health check after each case). */
static void node_healthy(struct lgt_cluster *c, unsigned i, const char *what)
{
    struct lgt_status st;
    char err[LG_ERRMSG_SIZE] = "";
    int rc = lgt_node_status(c, i, &st, err);
    LGT_CHECK(c, rc == LG_OK, "after %s, node %u does not answer status on a new connection: "
              "%s %s", what, i + 1u, lg_err_name(rc), err);
    LGT_CHECK(c, lgt_node_running(c, i), "after %s, node %u is gone", what, i + 1u);
}

/* A ping on conn is answered ok (the connection survived a bad request). */
static void conn_pings(struct lgt_cluster *c, struct lg_conn *conn, const char *what)
{
    struct mp m;
    mp_init(&m);
    mp_map(&m, 2);
    mp_str(&m, "id");
    mp_uint(&m, BAD_ID + 1u);
    mp_str(&m, "op");
    mp_str(&m, "ping");
    LGT_CHECK(c, !m.failed, "out of memory");
    lg_frame_header_put((uint32_t)(m.b.len - LG_FRAME_HEADER_BYTES), m.b.data);
    char err[LG_ERRMSG_SIZE] = "";
    int rc = lg_conn_send_raw(conn, m.b.data, m.b.len, err);
    lg_buf_close(&m.b);
    LGT_CHECK(c, rc == LG_OK, "%s: ping on the same connection: %s %s", what, lg_err_name(rc),
              err);
    struct answer a;
    recv_answer(c, conn, LG_PROTO_OP_PING, &a, what);
    LGT_CHECK(c, a.ok && a.id == BAD_ID + 1u, "%s: the ping after it on the same connection "
              "was answered id %llu %s %s", what, (unsigned long long)a.id,
              a.ok ? "ok" : lg_err_wire(a.code), a.message);
}

/* Send m's body as one frame to node i on a new connection; the answer must be error
 * code with id want_id and a message containing needle (the field's path). Then the same
 * connection still answers a ping, and a new one answers status. Frees m. */
static void expect_refused(struct lgt_cluster *c, unsigned i, struct mp *m, uint64_t want_id,
                           int code, const char *needle, const char *what)
{
    LGT_CHECK(c, !m->failed, "%s: out of memory building the request", what);
    lg_frame_header_put((uint32_t)(m->b.len - LG_FRAME_HEADER_BYTES), m->b.data);
    struct lg_conn *conn = lgt_node_conn(c, i, CONN_TIMEOUT_MS);
    char err[LG_ERRMSG_SIZE] = "";
    int rc = lg_conn_send_raw(conn, m->b.data, m->b.len, err);
    size_t sent = m->b.len;
    lg_buf_close(&m->b);
    LGT_CHECK(c, rc == LG_OK, "%s: send %zu bytes: %s %s", what, sent, lg_err_name(rc), err);
    struct answer a;
    recv_answer(c, conn, LG_PROTO_OP_SUBMIT, &a, what);
    LGT_CHECK(c, !a.ok, "%s: accepted", what);
    LGT_CHECK(c, a.code == code && a.id == want_id && strstr(a.message, needle) != NULL,
              "%s: answered id %llu %s \"%s\"; expected id %llu %s naming \"%s\"", what,
              (unsigned long long)a.id, lg_err_wire(a.code), a.message,
              (unsigned long long)want_id, lg_err_wire(code), needle);
    cr_log_info("%s: %s \"%s\"", what, lg_err_wire(a.code), a.message);
    conn_pings(c, conn, what);
    lg_conn_close(conn);
    node_healthy(c, i, what);
}

/* Send raw bytes (a bad frame) to node i: answered id 0 with code and needle in the
 * message, then the node ends the connection; a new connection answers status. */
static void expect_bad_frame(struct lgt_cluster *c, unsigned i, const uint8_t *bytes,
                             size_t len, int code, const char *needle, const char *what)
{
    struct lg_conn *conn = lgt_node_conn(c, i, CONN_TIMEOUT_MS);
    char err[LG_ERRMSG_SIZE] = "";
    int rc = lg_conn_send_raw(conn, bytes, len, err);
    LGT_CHECK(c, rc == LG_OK, "%s: send: %s %s", what, lg_err_name(rc), err);
    struct answer a;
    recv_answer(c, conn, LG_PROTO_OP_PING, &a, what);
    LGT_CHECK(c, !a.ok && a.code == code && a.id == 0 && strstr(a.message, needle) != NULL,
              "%s: answered id %llu %s \"%s\"; expected id 0 %s naming \"%s\"", what,
              (unsigned long long)a.id, a.ok ? "ok" : lg_err_wire(a.code), a.message,
              lg_err_wire(code), needle);
    cr_log_info("%s: %s \"%s\"", what, lg_err_wire(a.code), a.message);
    const uint8_t *body = NULL;
    size_t blen = 0;
    rc = lg_conn_recv_frame(conn, &body, &blen, err);
    LGT_CHECK(c, rc == LG_EUNAVAIL, "%s: after the answer the connection should end: %s %s",
              what, lg_err_name(rc), err);
    lg_conn_close(conn);
    node_healthy(c, i, what);
}

/* ---- tests -------------------------------------------------------------------------------- */

/* Frames: empty, over 16 MiB, and one cut short by the client's close. */
Test(cluster, bad_frames_are_answered_then_closed, .fini = lgt_cluster_fini, .timeout = 60)
{
    struct lgt_cluster_options o = {.n_nodes = 3};
    struct lgt_cluster *c = lgt_cluster_new(&o);
    lgt_cluster_start(c);
    unsigned node = lgt_cluster_leader(c, LGT_LEADER_TIMEOUT_MS);

    uint8_t hdr[LG_FRAME_HEADER_BYTES];
    lg_frame_header_put(0, hdr);
    expect_bad_frame(c, node, hdr, sizeof hdr, LG_EBADREQ, "frame", "empty frame");

    /* 16 MiB + 1 declared: refused from the 4 length bytes, nothing else sent. */
    lg_frame_header_put(LG_FRAME_BYTES_MAX + 1u, hdr);
    expect_bad_frame(c, node, hdr, sizeof hdr, LG_ETOOLARGE, "frame", "frame of 16 MiB + 1");

    /* A frame declared 100 bytes long, 10 sent, then the client closes. */
    uint8_t cut[LG_FRAME_HEADER_BYTES + 10u];
    memset(cut, 0x81, sizeof cut);
    lg_frame_header_put(100, cut);
    struct lg_conn *conn = lgt_node_conn(c, node, CONN_TIMEOUT_MS);
    char err[LG_ERRMSG_SIZE] = "";
    int rc = lg_conn_send_raw(conn, cut, sizeof cut, err);
    LGT_CHECK(c, rc == LG_OK, "truncated frame: send: %s %s", lg_err_name(rc), err);
    lg_conn_close(conn);
    node_healthy(c, node, "a truncated frame then close");
    /* And a frame cut inside its length prefix. */
    conn = lgt_node_conn(c, node, CONN_TIMEOUT_MS);
    rc = lg_conn_send_raw(conn, cut, 2, err);
    LGT_CHECK(c, rc == LG_OK, "truncated prefix: send: %s %s", lg_err_name(rc), err);
    lg_conn_close(conn);
    node_healthy(c, node, "a truncated length prefix then close");
    lgt_cluster_pass(c);
}

/* Bad msgpack and bad shapes: not msgpack, not a map, missing and mistyped envelope
 * fields, unknown op and field, duplicate key, deep nesting. */
Test(cluster, bad_envelopes_are_answered_and_the_connection_goes_on,
     .fini = lgt_cluster_fini, .timeout = 90)
{
    struct lgt_cluster_options o = {.n_nodes = 3};
    struct lgt_cluster *c = lgt_cluster_new(&o);
    lgt_cluster_start(c);
    unsigned node = lgt_cluster_leader(c, LGT_LEADER_TIMEOUT_MS);
    struct mp m;

    /* 0xc1 is never used by msgpack. */
    mp_init(&m);
    mp_tag(&m, 0xc1, 0, 0);
    expect_refused(c, node, &m, 0, LG_EBADREQ, "request: ", "malformed msgpack (0xc1)");

    /* A map announcing 3 pairs, then a str8 claiming 200 bytes of which 3 follow. */
    mp_init(&m);
    mp_map(&m, 3);
    mp_str(&m, "id");
    mp_uint(&m, BAD_ID);
    mp_tag(&m, 0xd9, 200, 1);
    mp_raw(&m, "op\0", 3);
    expect_refused(c, node, &m, BAD_ID, LG_EBADREQ, "request: truncated",
                   "truncated msgpack string");

    /* A map followed by trailing bytes. */
    mp_init(&m);
    mp_request(&m, "ping", 0);
    mp_uint(&m, 7);
    expect_refused(c, node, &m, BAD_ID, LG_EBADREQ, "request: trailing",
                   "trailing bytes after the map");

    mp_init(&m);
    mp_arr(&m, 2);
    mp_str(&m, "ping");
    mp_uint(&m, 1);
    expect_refused(c, node, &m, 0, LG_EBADREQ, "request: must be a map", "an array, not a map");

    mp_init(&m);
    mp_uint(&m, 123456);
    expect_refused(c, node, &m, 0, LG_EBADREQ, "request: must be a map",
                   "an integer, not a map");

    mp_init(&m);
    mp_map(&m, 1);
    mp_str(&m, "id");
    mp_uint(&m, BAD_ID);
    expect_refused(c, node, &m, BAD_ID, LG_EBADREQ, "op", "missing op");

    mp_init(&m);
    mp_map(&m, 1);
    mp_str(&m, "op");
    mp_str(&m, "ping");
    expect_refused(c, node, &m, 0, LG_EBADREQ, "id", "missing id");

    mp_init(&m);
    mp_map(&m, 2);
    mp_str(&m, "id");
    mp_str(&m, "4242");
    mp_str(&m, "op");
    mp_str(&m, "ping");
    expect_refused(c, node, &m, 0, LG_EBADREQ, "id", "id as a string");

    mp_init(&m);
    mp_map(&m, 2);
    mp_str(&m, "id");
    mp_uint(&m, BAD_ID);
    mp_str(&m, "op");
    mp_uint(&m, 3);
    expect_refused(c, node, &m, BAD_ID, LG_EBADREQ, "op", "op as an integer");

    mp_init(&m);
    mp_request(&m, "transfer", 0);
    expect_refused(c, node, &m, BAD_ID, LG_EUNKNOWNOP, "op", "unknown op");

    mp_init(&m);
    mp_request(&m, "ping", 1);
    mp_str(&m, "memo");
    mp_str(&m, "x");
    expect_refused(c, node, &m, BAD_ID, LG_EBADREQ, "memo", "unknown field");

    mp_init(&m);
    mp_request(&m, "ping", 1);
    mp_str(&m, "op");
    mp_str(&m, "ping");
    expect_refused(c, node, &m, BAD_ID, LG_EBADREQ, "op", "duplicate key");

    /* Maps nested DEEP_LEVELS deep as a submit's metadata. */
    mp_init(&m);
    mp_request(&m, "submit", 1);
    mp_str(&m, "metadata");
    for (unsigned k = 0; k < DEEP_LEVELS; k++) {
        mp_map(&m, 1);
        mp_str(&m, "a");
    }
    mp_str(&m, "leaf");
    expect_refused(c, node, &m, BAD_ID, LG_EBADREQ, "metadata: nested too deeply",
                   "maps nested 100 deep");

    /* Arrays nested DEEP_LEVELS deep under an unknown key. */
    mp_init(&m);
    mp_request(&m, "ping", 1);
    mp_str(&m, "deep");
    for (unsigned k = 0; k < DEEP_LEVELS; k++) {
        mp_arr(&m, 1);
    }
    mp_uint(&m, 1);
    expect_refused(c, node, &m, BAD_ID, LG_EBADREQ, "deep: nested too deeply",
                   "arrays nested 100 deep");
    lgt_cluster_pass(c);
}

/* Invalid values of a submit and a get_tx, each named by its path. */
Test(cluster, bad_fields_are_answered_naming_the_field, .fini = lgt_cluster_fini,
     .timeout = 90)
{
    struct lgt_cluster_options o = {.n_nodes = 3};
    struct lgt_cluster *c = lgt_cluster_new(&o);
    lgt_cluster_start(c);
    unsigned node = lgt_cluster_leader(c, LGT_LEADER_TIMEOUT_MS);
    struct mp m;

    mp_init(&m);
    mp_request(&m, "submit", 2);
    mp_str(&m, "ledger");
    mp_uint(&m, 5);
    mp_str(&m, "postings");
    mp_arr(&m, 1);
    mp_posting(&m, "world", "users:1:main", ASSET, amount_ten);
    expect_refused(c, node, &m, BAD_ID, LG_EBADREQ, "ledger", "ledger as an integer");

    mp_init(&m);
    mp_submit1(&m, LEDGER, "world", "users:1:main", ASSET, amount_map);
    expect_refused(c, node, &m, BAD_ID, LG_EBADREQ, "postings[0].amount", "amount as a map");

    mp_init(&m);
    mp_submit1(&m, "Main!", "world", "users:1:main", ASSET, amount_ten);
    expect_refused(c, node, &m, BAD_ID, LG_EBADREQ, "ledger", "invalid ledger name");

    mp_init(&m);
    mp_submit1(&m, LEDGER, "users::1", "users:1:main", ASSET, amount_ten);
    expect_refused(c, node, &m, BAD_ID, LG_EBADREQ, "postings[0].source",
                   "invalid source address");

    mp_init(&m);
    mp_submit1(&m, LEDGER, "world", "users 1", ASSET, amount_ten);
    expect_refused(c, node, &m, BAD_ID, LG_EBADREQ, "postings[0].destination",
                   "invalid destination address");

    mp_init(&m);
    mp_submit1(&m, LEDGER, "world", "users:1:main", "usd", amount_ten);
    expect_refused(c, node, &m, BAD_ID, LG_EBADREQ, "postings[0].asset", "invalid asset");

    mp_init(&m);
    mp_submit1(&m, LEDGER, "world", "users:1:main", ASSET, amount_zero);
    expect_refused(c, node, &m, BAD_ID, LG_EBADREQ, "postings[0].amount", "amount 0");

    mp_init(&m);
    mp_submit1(&m, LEDGER, "world", "users:1:main", ASSET, amount_negative);
    expect_refused(c, node, &m, BAD_ID, LG_EBADREQ, "postings[0].amount", "negative amount");

    mp_init(&m);
    mp_submit1(&m, LEDGER, "world", "users:1:main", ASSET, amount_2p128);
    expect_refused(c, node, &m, BAD_ID, LG_EOVERFLOW, "postings[0].amount", "amount 2^128");

    /* A string where an unsigned integer belongs. */
    mp_init(&m);
    mp_request(&m, "get_tx", 2);
    mp_str(&m, "ledger");
    mp_str(&m, LEDGER);
    mp_str(&m, "tx_id");
    mp_str(&m, "abc");
    expect_refused(c, node, &m, BAD_ID, LG_EBADREQ, "tx_id", "tx_id \"abc\"");

    /* MANY_POSTINGS postings (LG_POSTINGS_MAX is 1024). */
    mp_init(&m);
    mp_request(&m, "submit", 2);
    mp_str(&m, "ledger");
    mp_str(&m, LEDGER);
    mp_str(&m, "postings");
    mp_arr(&m, MANY_POSTINGS);
    for (unsigned k = 0; k < MANY_POSTINGS; k++) {
        mp_posting(&m, "world", "users:1:main", ASSET, amount_ten);
    }
    expect_refused(c, node, &m, BAD_ID, LG_ETOOLARGE, "postings", "10 000 postings");

    /* None of it was written. */
    struct lgt_status st;
    char err[LG_ERRMSG_SIZE] = "";
    int rc = lgt_node_status(c, node, &st, err);
    LGT_CHECK(c, rc == LG_OK && st.journal_seq == 0, "after refused requests: status %s, "
              "journal_seq %llu", lg_err_name(rc), (unsigned long long)st.journal_seq);
    lgt_cluster_pass(c);
}

/* ---- outcome codes ------------------------------------------------------------------------- */

/* req (id assigned here) on a new connection to node i: answered ok when code is LG_OK,
 * else refused with code and needle in the message. *out (may be NULL) gets a submit's
 * result. Then node i answers status on another connection. */
static void call_expect(struct lgt_cluster *c, unsigned i, struct lg_proto_request *req,
                        int code, const char *needle, struct lg_proto_tx_result *out,
                        const char *what)
{
    struct lg_conn *conn = lgt_node_conn(c, i, 3u * READ_TIMEOUT_MS);
    struct lg_arena arena;
    lg_arena_init(&arena, 0);
    struct lg_proto_response resp;
    memset(&resp, 0, sizeof resp);
    char err[LG_ERRMSG_SIZE] = "";
    req->id = BAD_ID;
    int rc = lg_conn_call(conn, req, &arena, &resp, err);
    LGT_CHECK(c, rc == LG_OK, "%s: no answer: %s %s", what, lg_err_name(rc), err);
    if (code == LG_OK) {
        LGT_CHECK(c, resp.ok, "%s: refused: %s %.*s", what, lg_err_wire(resp.error.code),
                  (int)resp.error.message.len, resp.error.message.ptr);
        if (out != NULL) {
            *out = resp.u.submit;
        }
    } else {
        LGT_CHECK(c, !resp.ok, "%s: accepted (expected %s)", what, lg_err_wire(code));
        LGT_CHECK(c, strcmp(lg_err_wire(resp.error.code), lg_err_wire(code)) == 0 &&
                         memmem(resp.error.message.ptr, resp.error.message.len, needle,
                                strlen(needle)) != NULL,
                  "%s: answered %s \"%.*s\"; expected %s naming \"%s\"", what,
                  lg_err_wire(resp.error.code), (int)resp.error.message.len,
                  resp.error.message.ptr, lg_err_wire(code), needle);
        cr_log_info("%s: %s \"%.*s\"", what, lg_err_wire(resp.error.code),
                    (int)resp.error.message.len, resp.error.message.ptr);
    }
    lg_arena_close(&arena);
    lg_conn_close(conn);
    node_healthy(c, i, what);
}

/* The state machine's rejections (insufficient_funds, condition_failed, conflict,
 * overflow), not_found, and a read that cannot reach its index (timeout). Nothing refused
 * is written: the journal holds exactly the accepted transactions afterwards. */
Test(cluster, bad_outcomes_reach_the_state_machine_codes, .fini = lgt_cluster_fini,
     .timeout = 90)
{
    struct lgt_cluster_options o = {.n_nodes = 3};
    struct lgt_cluster *c = lgt_cluster_new(&o);
    lgt_cluster_start(c);
    unsigned leader = lgt_cluster_leader(c, LGT_LEADER_TIMEOUT_MS);
    struct lg_proto_request req;
    struct lg_posting posting;
    struct lg_kv kv;
    struct lg_proto_tx_result fund;
    struct lg_proto_tx_result again;

    struct lgt_transfer t = {.ledger = LEDGER, .source = "world",
                             .destination = "users:a:main", .amount = 100, .asset = ASSET,
                             .reference = "fund-1"};
    lgt_req_submit(&req, &posting, &kv, &t);
    call_expect(c, leader, &req, LG_OK, "", &fund, "fund users:a:main");

    /* The same reference and content: the original result, applied once. */
    lgt_req_submit(&req, &posting, &kv, &t);
    call_expect(c, leader, &req, LG_OK, "", &again, "the same submit again");
    LGT_CHECK(c, again.tx_id == fund.tx_id && again.seq == fund.seq,
              "a retried submit got tx %llu seq %llu, the original tx %llu seq %llu",
              (unsigned long long)again.tx_id, (unsigned long long)again.seq,
              (unsigned long long)fund.tx_id, (unsigned long long)fund.seq);

    /* The same reference, other content. */
    t.amount = 101;
    lgt_req_submit(&req, &posting, &kv, &t);
    call_expect(c, leader, &req, LG_ECONFLICT, "reference", NULL,
                "the reference reused with another amount");

    /* More than the balance. */
    struct lgt_transfer spend = {.ledger = LEDGER, .source = "users:a:main",
                                 .destination = "users:b:main", .amount = 1000,
                                 .asset = ASSET};
    lgt_req_submit(&req, &posting, &kv, &spend);
    call_expect(c, leader, &req, LG_EFUNDS, "postings[0]", NULL, "spend 1000 of 100");

    /* Conditions that do not hold: an account version, a minimum balance. */
    struct lg_condition cond = {.kind = LG_COND_VERSION, .account = lgt_str("users:a:main"),
                                .version = 999};
    spend.amount = 1;
    lgt_req_submit(&req, &posting, &kv, &spend);
    req.u.submit.conditions = &cond;
    req.u.submit.n_conditions = 1;
    call_expect(c, leader, &req, LG_ECONDITION, "conditions[0]", NULL,
                "version condition 999");
    cond = (struct lg_condition){.kind = LG_COND_MIN_BALANCE,
                                 .account = lgt_str("users:a:main"), .asset = lgt_str(ASSET),
                                 .min = 1000};
    lgt_req_submit(&req, &posting, &kv, &spend);
    req.u.submit.conditions = &cond;
    req.u.submit.n_conditions = 1;
    call_expect(c, leader, &req, LG_ECONDITION, "conditions[0]", NULL,
                "min_balance condition 1000");

    /* Two credits to one account summing over 2^128 - 1 (their own ledger: world's
     * balance there no longer fits a signed 128-bit integer). */
    struct lgt_transfer big = {.ledger = "big", .source = "world",
                               .destination = "users:whale:main", .amount = 1,
                               .asset = "BIG"};
    lgt_req_submit(&req, &posting, &kv, &big);
    posting.amount = ~(lg_u128)0;
    call_expect(c, leader, &req, LG_OK, "", NULL, "credit 2^128 - 1");
    lgt_req_submit(&req, &posting, &kv, &big);
    call_expect(c, leader, &req, LG_EOVERFLOW, "postings[0]", NULL, "credit 1 more");

    /* Unknown transaction, reference, ledger. */
    lgt_req_get_tx(&req, LEDGER, 999, NULL, LG_PROTO_READ_LINEARIZABLE, 0);
    call_expect(c, leader, &req, LG_ENOTFOUND, "", NULL, "get_tx 999");
    lgt_req_get_tx(&req, LEDGER, 0, "no-such-ref", LG_PROTO_READ_LINEARIZABLE, 0);
    call_expect(c, leader, &req, LG_ENOTFOUND, "", NULL, "get_tx of an unknown reference");
    lgt_req_get_tx(&req, "nowhere", 0, NULL, LG_PROTO_READ_STALE, 0);
    call_expect(c, leader, &req, LG_ENOTFOUND, "", NULL, "get_tx on an unknown ledger");

    /* A read after an index the cluster will not reach for ages, on a follower. */
    unsigned follower = (leader + 1u) % c->o.n_nodes;
    lgt_req_get_tx(&req, LEDGER, fund.tx_id, NULL, LG_PROTO_READ_AFTER, FAR_INDEX);
    uint64_t t0 = lgt_now_ms();
    call_expect(c, follower, &req, LG_ETIMEOUT, "", NULL, "get_tx after a far index");
    uint64_t waited = lgt_now_ms() - t0;
    LGT_CHECK(c, waited + 100u >= READ_TIMEOUT_MS &&
                     waited <= READ_TIMEOUT_MS + READ_TIMEOUT_SLACK_MS,
              "the read after a far index was answered timeout after %llu ms (bound %u ms)",
              (unsigned long long)waited, READ_TIMEOUT_MS);

    /* Only the two accepted transactions were written. */
    struct lgt_status st;
    lgt_cluster_wait_converged(c, 1, LGT_CONVERGE_TIMEOUT_MS, &st);
    LGT_CHECK(c, st.journal_seq == 2, "journal_seq %llu after 2 accepted transactions",
              (unsigned long long)st.journal_seq);
    lgt_cluster_pass(c);
}

/* ---- internal ------------------------------------------------------------------------------ */

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* Flip one byte in the middle of the body of record seq in node i's first journal
 * segment (its process must be frozen or down). */
static void corrupt_record(struct lgt_cluster *c, unsigned i, uint64_t seq)
{
    char path[LGT_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", c->nodes[i].data_dir, FIRST_SEGMENT);
    int fd = open(path, O_RDWR);
    LGT_CHECK(c, fd >= 0, "open %s: %s", path, strerror(errno));
    uint64_t off = SEG_HDR_BYTES;
    uint8_t hdr[REC_HDR_BYTES];
    for (;;) {
        ssize_t got = pread(fd, hdr, sizeof hdr, (off_t)off);
        LGT_CHECK(c, got == (ssize_t)sizeof hdr, "%s: no record of seq %llu (end at %llu)",
                  path, (unsigned long long)seq, (unsigned long long)off);
        uint32_t body_len = le32(hdr + 8);
        uint64_t rec_seq = le64(hdr + 16);
        LGT_CHECK(c, body_len > 0 && rec_seq <= seq, "%s: record at %llu: body %u seq %llu",
                  path, (unsigned long long)off, body_len, (unsigned long long)rec_seq);
        if (rec_seq == seq) {
            uint64_t at = off + REC_HDR_BYTES + body_len / 2u;
            uint8_t b = 0;
            LGT_CHECK(c, pread(fd, &b, 1, (off_t)at) == 1, "%s: read at %llu", path,
                      (unsigned long long)at);
            b ^= 0x01;
            LGT_CHECK(c, pwrite(fd, &b, 1, (off_t)at) == 1, "%s: write at %llu", path,
                      (unsigned long long)at);
            cr_log_info("flipped byte %llu of %s (record seq %llu, body %u bytes)",
                        (unsigned long long)at, path, (unsigned long long)seq, body_len);
            break;
        }
        off += REC_HDR_BYTES + (((uint64_t)body_len + 7u) & ~(uint64_t)7u);
    }
    close(fd);
}

/* `internal`: no request a client can send makes a healthy node fail internally, so the
 * node is made unhealthy the way disks do it. A follower is frozen (SIGSTOP), one bit of
 * a committed record's body in its journal file is flipped, and it is thawed: the journal
 * does not re-read records it has written, so only a history read finds the damage (the
 * body CRC). get_tx of that transaction on the follower is answered `internal` and
 * logged; the node keeps serving the other records and requests, and the leader's copy is
 * intact. */
Test(cluster, bad_journal_byte_answers_internal, .fini = lgt_cluster_fini, .timeout = 90)
{
    struct lgt_cluster_options o = {.n_nodes = 3};
    struct lgt_cluster *c = lgt_cluster_new(&o);
    lgt_cluster_start(c);
    unsigned leader = lgt_cluster_leader(c, LGT_LEADER_TIMEOUT_MS);
    unsigned follower = (leader + 1u) % c->o.n_nodes;
    struct lg_client *cl = lgt_cluster_client(c, NULL, 0, 5000, 0);
    struct lg_proto_tx_result w[3];
    char refs[3][16];
    for (unsigned k = 0; k < 3; k++) {
        snprintf(refs[k], sizeof refs[k], "int-%u", k);
        struct lgt_transfer t = {.ledger = LEDGER, .source = "world",
                                 .destination = "users:1:main", .amount = 10u + k,
                                 .asset = ASSET, .reference = refs[k], .meta_key = "note",
                                 .meta_value = "a record body long enough to damage"};
        lgt_submit_ok(c, cl, &t, &w[k]);
    }
    lg_client_close(cl);
    /* A follower keeps applied records in its journal's write buffer (its durability is
     * the Raft log's) until the buffer fills: large records push the three to the file
     * without any read on the follower (a read would flush them too, but leave them in
     * the journal's read cache, where the damage would not be seen). */
    static struct lg_kv kvs[BIG_ENTRIES];
    static char keys[BIG_ENTRIES][8];
    static char value[BIG_VALUE_BYTES + 1u];
    memset(value, 'v', BIG_VALUE_BYTES);
    for (unsigned k = 0; k < BIG_ENTRIES; k++) {
        snprintf(keys[k], sizeof keys[k], "k%02u", k);
        kvs[k].key = lgt_str(keys[k]);
        kvs[k].value = lgt_str(value);
    }
    struct lg_proto_request req;
    struct lg_posting posting;
    struct lg_kv kv;
    struct lg_proto_tx_result last;
    for (unsigned k = 0; k < BIG_RECORDS; k++) {
        struct lgt_transfer t = {.ledger = LEDGER, .source = "world",
                                 .destination = "users:2:main", .amount = 1, .asset = ASSET};
        lgt_req_submit(&req, &posting, &kv, &t);
        req.u.submit.metadata = kvs;
        req.u.submit.n_metadata = BIG_ENTRIES;
        call_expect(c, leader, &req, LG_OK, "", &last, "a large record");
    }
    lgt_cluster_wait_converged(c, last.index, LGT_CONVERGE_TIMEOUT_MS, NULL);

    lgt_node_signal(c, follower, SIGSTOP);
    corrupt_record(c, follower, w[1].seq);
    lgt_node_signal(c, follower, SIGCONT);

    lgt_req_get_tx(&req, LEDGER, w[1].tx_id, NULL, LG_PROTO_READ_STALE, 0);
    call_expect(c, follower, &req, LG_EIO, "", NULL, "get_tx of the damaged record");
    LGT_CHECK(c, lgt_node_log_contains(c, follower, "event=query_failed", true),
              "the follower did not log the failed read");
    lgt_req_get_tx(&req, LEDGER, w[2].tx_id, NULL, LG_PROTO_READ_STALE, 0);
    call_expect(c, follower, &req, LG_OK, "", NULL, "get_tx of the next record");
    lgt_req_get_tx(&req, LEDGER, w[1].tx_id, NULL, LG_PROTO_READ_LINEARIZABLE, 0);
    call_expect(c, leader, &req, LG_OK, "", NULL, "get_tx of the record on the leader");
    lgt_cluster_pass(c);
}
