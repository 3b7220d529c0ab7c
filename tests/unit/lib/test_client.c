/* test_client: the blocking client of the node protocol (lib/client.c, DESIGN §8).
 *
 * Goal: lg_conn round trips, pipelines (responses out of order, matched by id; several
 * requests in one write, answers that came together taken without another read), and turns
 * every misbehaviour of a server into an error within its timeout (closed port, silence,
 * a zero or oversized frame length, a closed connection, no SIGPIPE); lg_client follows
 * not_leader to a leader outside its list, retries unavailable and connection failures
 * with the very same bytes, and returns final errors as responses.
 * Method: each fake server is a thread listening on 127.0.0.1, port 0, answering frames
 * with lg_proto_encode_response / lg_proto_encode_error according to its mode. Every
 * wait in the fake is a poll of at most 20 ms that rechecks a stop flag; fake_stop joins
 * the thread and frees everything, so LeakSanitizer sees a clean exit. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "frame.h"
#include "proto.h"

enum fake_mode {
    FAKE_PING,          /* ping: {node_id}; read_index: {index: 77} */
    FAKE_REVERSE3,      /* gather 3 pings, answer them last first, node_id = id * 7 */
    FAKE_NOT_LEADER,    /* not_leader naming f->leader */
    FAKE_UNAVAIL_FIRST, /* unavailable to the first f->n_fail requests, then as FAKE_PING */
    FAKE_SILENT,        /* read requests, never answer */
    FAKE_RAW,           /* answer each request with the bytes f->raw */
    FAKE_DRIP,          /* as FAKE_PING, one byte per send */
    FAKE_ERROR,         /* answer error f->code */
    FAKE_CLOSE,         /* close each connection as soon as it is accepted */
    FAKE_JOURNAL,       /* journal_read: 3 records of 100 KiB (bigger than a read chunk) */
};

#define FAKE_RECORD_BYTES (100u * 1024u)

struct fake {
    int lfd;
    char addr[32];
    enum fake_mode mode;
    uint64_t node_id;
    const char *leader;
    int n_fail;
    int code;
    const uint8_t *raw;
    size_t raw_len;
    atomic_bool stop;
    atomic_int requests; /* requests read */
    atomic_int accepts;
    /* Written by the server thread, read after fake_stop joined it. */
    uint8_t first[512];  /* the first request frame body */
    size_t first_len;
    bool all_same;       /* every request so far had the first one's bytes */
    pthread_t thread;
};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Write everything (the fake's socket is blocking; the client may be gone). */
static void fake_write(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k <= 0) {
            return;
        }
        p += k;
        n -= (size_t)k;
    }
}

/* Answer one decoded request (or a decoding error rc) into out. */
static void fake_answer(struct fake *f, const struct lg_proto_request *q, int rc,
                        const char *why, struct lg_buf *out)
{
    struct lg_proto_response r;
    memset(&r, 0, sizeof r);
    r.id = q->id;
    r.ok = true;
    int n = atomic_load(&f->requests);
    if (rc != LG_OK) {
        cr_assert_eq(lg_proto_encode_error(q->id, rc, why, NULL, out), LG_OK);
        return;
    }
    switch (f->mode) {
    case FAKE_NOT_LEADER:
        cr_assert_eq(lg_proto_encode_error(q->id, LG_ENOTLEADER, NULL, f->leader, out), LG_OK);
        return;
    case FAKE_ERROR:
        cr_assert_eq(lg_proto_encode_error(q->id, f->code, "no", NULL, out), LG_OK);
        return;
    case FAKE_UNAVAIL_FIRST:
        if (n <= f->n_fail) {
            cr_assert_eq(lg_proto_encode_error(q->id, LG_EUNAVAIL, "electing", NULL, out),
                         LG_OK);
            return;
        }
        break;
    case FAKE_REVERSE3:
        r.u.ping_node_id = q->id * 7u;
        cr_assert_eq(lg_proto_encode_response(q->op, &r, out), LG_OK);
        return;
    case FAKE_JOURNAL: {
        static char body[FAKE_RECORD_BYTES];
        struct lg_str recs[3];
        for (unsigned i = 0; i < 3; i++) {
            memset(body, 'a', sizeof body);
            recs[i] = (struct lg_str){body, FAKE_RECORD_BYTES - i};
        }
        r.u.journal_read.records = recs;
        r.u.journal_read.n_records = 3;
        r.u.journal_read.first_seq = q->u.journal_read.from_seq;
        r.u.journal_read.last_seq = q->u.journal_read.from_seq + 9u;
        cr_assert_eq(lg_proto_encode_response(q->op, &r, out), LG_OK);
        return;
    }
    default:
        break;
    }
    if (q->op == LG_PROTO_OP_READ_INDEX) {
        r.u.read_index = 77;
    } else {
        r.u.ping_node_id = f->node_id;
    }
    cr_assert_eq(lg_proto_encode_response(q->op, &r, out), LG_OK);
}

/* Serve one connection until the peer closes or the fake stops. */
static void fake_serve(struct fake *f, int fd)
{
    struct lg_frame_decoder dec;
    struct lg_arena arena;
    struct lg_buf out;
    lg_frame_decoder_init(&dec, 0);
    lg_arena_init(&arena, 0);
    lg_buf_init(&out);
    static uint8_t in[64 * 1024];
    uint64_t held[3];
    int n_held = 0;
    while (!atomic_load(&f->stop)) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 20) <= 0) {
            continue;
        }
        ssize_t got = recv(fd, in, sizeof in, 0);
        if (got <= 0) {
            break;
        }
        size_t pos = 0;
        while (pos < (size_t)got) {
            size_t used;
            const uint8_t *body;
            uint32_t len;
            if (lg_frame_decoder_feed(&dec, in + pos, (size_t)got - pos, &used, &body, &len) !=
                LG_OK) {
                goto done;
            }
            pos += used;
            if (body == NULL) {
                continue;
            }
            int n = atomic_fetch_add(&f->requests, 1) + 1;
            if (n == 1 && len <= sizeof f->first) {
                memcpy(f->first, body, len);
                f->first_len = len;
                f->all_same = true;
            } else if (len != f->first_len || memcmp(body, f->first, len) != 0) {
                f->all_same = false;
            }
            if (f->mode == FAKE_SILENT) {
                continue;
            }
            if (f->mode == FAKE_RAW) {
                fake_write(fd, f->raw, f->raw_len);
                continue;
            }
            struct lg_proto_request q;
            char why[LG_ERRMSG_SIZE];
            lg_arena_reset(&arena);
            int rc = lg_proto_decode_request(body, len, &arena, &q, why);
            lg_buf_reset(&out);
            if (f->mode == FAKE_REVERSE3 && rc == LG_OK) {
                held[n_held++] = q.id;
                if (n_held < 3) {
                    continue;
                }
                for (int i = 2; i >= 0; i--) {
                    q.id = held[i];
                    fake_answer(f, &q, LG_OK, NULL, &out);
                }
                n_held = 0;
            } else {
                fake_answer(f, &q, rc, why, &out);
            }
            if (f->mode == FAKE_DRIP) {
                for (size_t i = 0; i < out.len; i++) {
                    fake_write(fd, out.data + i, 1);
                    usleep(1000);
                }
            } else {
                fake_write(fd, out.data, out.len);
            }
        }
    }
done:
    lg_frame_decoder_close(&dec);
    lg_arena_close(&arena);
    lg_buf_close(&out);
}

static void *fake_main(void *arg)
{
    struct fake *f = arg;
    while (!atomic_load(&f->stop)) {
        struct pollfd p = {f->lfd, POLLIN, 0};
        if (poll(&p, 1, 20) <= 0) {
            continue;
        }
        int fd = accept(f->lfd, NULL, NULL);
        if (fd < 0) {
            continue;
        }
        atomic_fetch_add(&f->accepts, 1);
        if (f->mode != FAKE_CLOSE) {
            fake_serve(f, fd);
        }
        close(fd);
    }
    return NULL;
}

/* A listening socket on 127.0.0.1, port 0; its address into addr. */
static int listen_any(char *addr, size_t size)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    cr_assert_eq(listen(fd, 16), 0);
    socklen_t n = sizeof sa;
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &n), 0);
    snprintf(addr, size, "127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
    return fd;
}

static void fake_start(struct fake *f, enum fake_mode mode)
{
    f->lfd = listen_any(f->addr, sizeof f->addr);
    f->mode = mode;
    atomic_init(&f->stop, false);
    atomic_init(&f->requests, 0);
    atomic_init(&f->accepts, 0);
    f->first_len = 0;
    f->all_same = false;
    cr_assert_eq(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

static void fake_stop(struct fake *f)
{
    atomic_store(&f->stop, true);
    cr_assert_eq(pthread_join(f->thread, NULL), 0);
    close(f->lfd);
}

/* An address where nothing listens: bound, then closed. */
static void closed_port(char *addr, size_t size)
{
    int fd = listen_any(addr, size);
    close(fd);
}

static struct lg_arena arena;
static char errmsg[LG_ERRMSG_SIZE];

static void setup(void)
{
    lg_arena_init(&arena, 0);
    errmsg[0] = '\0';
}

static void teardown(void)
{
    lg_arena_close(&arena);
}

TestSuite(client, .init = setup, .fini = teardown, .timeout = 30);

static struct lg_proto_request ping(uint64_t id)
{
    struct lg_proto_request q;
    memset(&q, 0, sizeof q);
    q.id = id;
    q.op = LG_PROTO_OP_PING;
    return q;
}

#define HAS(want) cr_assert(strstr(errmsg, (want)) != NULL, "\"%s\" lacks \"%s\"", errmsg, (want))

Test(client, call_round_trip)
{
    struct fake f = {.node_id = 42};
    fake_start(&f, FAKE_PING);
    struct lg_conn *c;
    cr_assert_eq(lg_conn_open(&c, f.addr, 2000, errmsg), LG_OK, "%s", errmsg);
    for (uint64_t id = 1; id <= 3; id++) {
        struct lg_proto_request q = ping(id);
        struct lg_proto_response r;
        cr_assert_eq(lg_conn_call(c, &q, &arena, &r, errmsg), LG_OK, "%s", errmsg);
        cr_assert(r.ok);
        cr_assert_eq(r.id, id);
        cr_assert_eq(r.u.ping_node_id, 42u);
    }
    struct lg_proto_request q;
    memset(&q, 0, sizeof q);
    q.id = 9;
    q.op = LG_PROTO_OP_READ_INDEX;
    struct lg_proto_response r;
    cr_assert_eq(lg_conn_call(c, &q, &arena, &r, errmsg), LG_OK, "%s", errmsg);
    cr_assert_eq(r.u.read_index, 77u);
    /* An invalid request never reaches the wire. */
    q.op = LG_PROTO_OP_JOURNAL_READ;
    cr_assert_eq(lg_conn_call(c, &q, &arena, &r, errmsg), LG_EBADREQ);
    HAS("from_seq: must be greater than 0");
    lg_conn_close(c);
    lg_conn_close(NULL);
    fake_stop(&f);
    cr_assert_eq(atomic_load(&f.requests), 4);
}

Test(client, frames_split_across_reads)
{
    struct fake f = {.node_id = 5};
    fake_start(&f, FAKE_DRIP);
    struct lg_conn *c;
    cr_assert_eq(lg_conn_open(&c, f.addr, 2000, errmsg), LG_OK, "%s", errmsg);
    struct lg_proto_request q = ping(3);
    struct lg_proto_response r;
    cr_assert_eq(lg_conn_call(c, &q, &arena, &r, errmsg), LG_OK, "%s", errmsg);
    cr_assert_eq(r.u.ping_node_id, 5u);
    lg_conn_close(c);
    fake_stop(&f);

    /* A frame several times the read chunk: gathered by the frame decoder. */
    fake_start(&f, FAKE_JOURNAL);
    cr_assert_eq(lg_conn_open(&c, f.addr, 2000, errmsg), LG_OK, "%s", errmsg);
    memset(&q, 0, sizeof q);
    q.id = 4;
    q.op = LG_PROTO_OP_JOURNAL_READ;
    q.u.journal_read.from_seq = 11;
    cr_assert_eq(lg_conn_call(c, &q, &arena, &r, errmsg), LG_OK, "%s", errmsg);
    cr_assert(r.ok);
    cr_assert_eq(r.u.journal_read.n_records, 3u);
    cr_assert_eq(r.u.journal_read.first_seq, 11u);
    cr_assert_eq(r.u.journal_read.last_seq, 20u);
    cr_assert_eq(r.u.journal_read.records[2].len, FAKE_RECORD_BYTES - 2u);
    cr_assert_eq(r.u.journal_read.records[2].ptr[FAKE_RECORD_BYTES - 3u], 'a');
    lg_conn_close(c);
    fake_stop(&f);
}

Test(client, pipelined_responses_out_of_order_match_by_id)
{
    struct fake f = {0};
    fake_start(&f, FAKE_REVERSE3);
    struct lg_conn *c;
    cr_assert_eq(lg_conn_open(&c, f.addr, 2000, errmsg), LG_OK, "%s", errmsg);
    lg_conn_set_timeout(c, 5000);
    for (uint64_t id = 10; id < 13; id++) {
        struct lg_proto_request q = ping(id);
        cr_assert_eq(lg_conn_send(c, &q, errmsg), LG_OK, "%s", errmsg);
    }
    uint64_t order[3];
    for (int i = 0; i < 3; i++) {
        const uint8_t *body;
        size_t len;
        cr_assert_eq(lg_conn_recv_frame(c, &body, &len, errmsg), LG_OK, "%s", errmsg);
        cr_assert_eq(lg_conn_response_id(body, len, &order[i]), LG_OK);
        struct lg_proto_response r;
        cr_assert_eq(lg_proto_decode_response(LG_PROTO_OP_PING, body, len, &arena, &r, errmsg),
                     LG_OK, "%s", errmsg);
        cr_assert_eq(r.id, order[i]);
        cr_assert_eq(r.u.ping_node_id, order[i] * 7u, "the answer to that very request");
    }
    cr_assert_eq(order[0], 12u);
    cr_assert_eq(order[1], 11u);
    cr_assert_eq(order[2], 10u);
    lg_conn_close(c);
    fake_stop(&f);
}

/* A pipeline encoded into one buffer leaves in one write; lg_conn_recv_frame_wait reads
 * the answers that came together and lg_conn_recv_buffered hands out the rest without
 * reading, then says "none" without touching the connection. */
Test(client, one_write_pipeline_and_buffered_answers)
{
    struct fake f = {0};
    fake_start(&f, FAKE_REVERSE3);
    struct lg_conn *c;
    cr_assert_eq(lg_conn_open(&c, f.addr, 2000, errmsg), LG_OK, "%s", errmsg);
    lg_conn_set_timeout(c, 5000);
    const uint8_t *body;
    size_t len;
    cr_assert_eq(lg_conn_recv_buffered(c, &body, &len, errmsg), LG_ETIMEOUT);
    for (int round = 0; round < 2; round++) {
        struct lg_buf out;
        lg_buf_init(&out);
        for (uint64_t id = 20; id < 23; id++) {
            struct lg_proto_request q = ping(id);
            cr_assert_eq(lg_proto_encode_request(&q, &out, errmsg), LG_OK, "%s", errmsg);
        }
        cr_assert_eq(lg_conn_send_raw(c, out.data, out.len, errmsg), LG_OK, "%s", errmsg);
        lg_buf_close(&out);
        /* The fake answers the three in one write, last first. */
        uint64_t id;
        cr_assert_eq(lg_conn_recv_frame_wait(c, &body, &len, errmsg), LG_OK, "%s", errmsg);
        cr_assert_eq(lg_conn_response_id(body, len, &id), LG_OK);
        cr_assert_eq(id, 22u);
        for (uint64_t want = 21; want >= 20; want--) {
            cr_assert_eq(lg_conn_recv_buffered(c, &body, &len, errmsg), LG_OK, "%s", errmsg);
            cr_assert_eq(lg_conn_response_id(body, len, &id), LG_OK);
            cr_assert_eq(id, want);
            struct lg_proto_response r;
            cr_assert_eq(lg_proto_decode_response(LG_PROTO_OP_PING, body, len, &arena, &r,
                                                  errmsg), LG_OK, "%s", errmsg);
            cr_assert_eq(r.u.ping_node_id, want * 7u);
        }
        cr_assert_eq(lg_conn_recv_buffered(c, &body, &len, errmsg), LG_ETIMEOUT);
    }
    lg_conn_close(c);
    fake_stop(&f);
    cr_assert_eq(atomic_load(&f.requests), 6);
}

/* A frame that arrives a byte at a time: lg_conn_recv_buffered keeps the part it has and
 * says "none"; lg_conn_recv_frame_wait completes it. A silent server: the wait times out
 * and the connection stays usable. */
Test(client, buffered_keeps_a_partial_frame_and_wait_times_out)
{
    struct fake f = {.node_id = 9};
    fake_start(&f, FAKE_DRIP);
    struct lg_conn *c;
    cr_assert_eq(lg_conn_open(&c, f.addr, 2000, errmsg), LG_OK, "%s", errmsg);
    lg_conn_set_timeout(c, 5000);
    struct lg_proto_request q = ping(4);
    cr_assert_eq(lg_conn_send(c, &q, errmsg), LG_OK, "%s", errmsg);
    const uint8_t *body;
    size_t len;
    /* A few bytes in: read them with a short wait, then nothing complete is buffered. */
    usleep(5000);
    lg_conn_set_timeout(c, 1);
    int rc = lg_conn_recv_frame_wait(c, &body, &len, errmsg);
    cr_assert(rc == LG_ETIMEOUT || rc == LG_OK, "%d %s", rc, errmsg);
    if (rc == LG_ETIMEOUT) {
        cr_assert_eq(lg_conn_recv_buffered(c, &body, &len, errmsg), LG_ETIMEOUT);
        lg_conn_set_timeout(c, 5000);
        cr_assert_eq(lg_conn_recv_frame_wait(c, &body, &len, errmsg), LG_OK, "%s", errmsg);
    }
    struct lg_proto_response r;
    cr_assert_eq(lg_proto_decode_response(LG_PROTO_OP_PING, body, len, &arena, &r, errmsg),
                 LG_OK, "%s", errmsg);
    cr_assert_eq(r.id, 4u);
    cr_assert_eq(r.u.ping_node_id, 9u);
    lg_conn_close(c);
    fake_stop(&f);

    fake_start(&f, FAKE_SILENT);
    cr_assert_eq(lg_conn_open(&c, f.addr, 2000, errmsg), LG_OK, "%s", errmsg);
    lg_conn_set_timeout(c, 100);
    cr_assert_eq(lg_conn_send(c, &q, errmsg), LG_OK, "%s", errmsg);
    uint64_t t0 = mono_ms();
    cr_assert_eq(lg_conn_recv_frame_wait(c, &body, &len, errmsg), LG_ETIMEOUT);
    cr_assert_geq(mono_ms() - t0, 90u);
    HAS("timed out");
    cr_assert_eq(lg_conn_send(c, &q, errmsg), LG_OK, "%s", errmsg);
    lg_conn_close(c);
    fake_stop(&f);
}

Test(client, response_id_reads_only_the_id)
{
    uint64_t id;
    /* {"ok": true, "result": {"a": [1, {"b": 2}]}, "id": 300} */
    static const uint8_t late[] = {0x83, 0xa2, 'o', 'k', 0xc3, 0xa6, 'r', 'e', 's', 'u', 'l',
                                   't', 0x81, 0xa1, 'a', 0x92, 0x01, 0x81, 0xa1, 'b', 0x02,
                                   0xa2, 'i', 'd', 0xcd, 0x01, 0x2c};
    cr_assert_eq(lg_conn_response_id(late, sizeof late, &id), LG_OK);
    cr_assert_eq(id, 300u);
    /* Any integer form: int8 holding 5. */
    static const uint8_t wide[] = {0x81, 0xa2, 'i', 'd', 0xd0, 0x05};
    cr_assert_eq(lg_conn_response_id(wide, sizeof wide, &id), LG_OK);
    cr_assert_eq(id, 5u);
    static const uint8_t missing[] = {0x81, 0xa2, 'o', 'k', 0xc3};
    cr_assert_eq(lg_conn_response_id(missing, sizeof missing, &id), LG_EBADREQ);
    static const uint8_t negative[] = {0x81, 0xa2, 'i', 'd', 0xff};
    cr_assert_eq(lg_conn_response_id(negative, sizeof negative, &id), LG_EBADREQ);
    static const uint8_t text[] = {0x81, 0xa2, 'i', 'd', 0xa1, '5'};
    cr_assert_eq(lg_conn_response_id(text, sizeof text, &id), LG_EBADREQ);
    static const uint8_t not_map[] = {0x91, 0x01};
    cr_assert_eq(lg_conn_response_id(not_map, sizeof not_map, &id), LG_EBADREQ);
    static const uint8_t int_key[] = {0x82, 0x01, 0x02, 0xa2, 'i', 'd', 0x01};
    cr_assert_eq(lg_conn_response_id(int_key, sizeof int_key, &id), LG_EBADREQ);
    /* A value that claims more bytes than there are, before the id. */
    static const uint8_t lying[] = {0x82, 0xa1, 'x', 0xdb, 0x7f, 0xff, 0xff, 0xff, 0xa2, 'i',
                                    'd', 0x01};
    cr_assert_eq(lg_conn_response_id(lying, sizeof lying, &id), LG_EBADREQ);
    cr_assert_eq(lg_conn_response_id(late, 26, &id), LG_EBADREQ, "truncated id");
    cr_assert_eq(lg_conn_response_id(late, 0, &id), LG_EBADREQ);
    /* Nested deeper than the protocol allows. */
    uint8_t deep[64] = {0x82, 0xa1, 'x'};
    memset(deep + 3, 0x91, 40);
    deep[43] = 0x01;
    memcpy(deep + 44, "\xa2id\x01", 4);
    cr_assert_eq(lg_conn_response_id(deep, 48, &id), LG_EBADREQ);
}

Test(client, closed_port_is_unavailable_at_once)
{
    char addr[32];
    closed_port(addr, sizeof addr);
    struct lg_conn *c = (struct lg_conn *)&c;
    uint64_t t0 = mono_ms();
    cr_assert_eq(lg_conn_open(&c, addr, 2000, errmsg), LG_EUNAVAIL);
    cr_assert_lt(mono_ms() - t0, 1000u, "refused, not timed out");
    cr_assert_null(c);
    HAS(addr);
    HAS("refused");
    /* The client tries, backs off, and gives up after attempts_max. */
    const char *nodes[] = {addr};
    struct lg_client_options o = {.nodes = nodes, .n_nodes = 1, .attempts_max = 3,
                                  .backoff_ms = 5};
    struct lg_client *cl;
    cr_assert_eq(lg_client_open(&cl, &o, errmsg), LG_OK, "%s", errmsg);
    cr_assert_str_eq(lg_client_current(cl), "");
    struct lg_proto_request q = ping(0);
    struct lg_proto_response r;
    t0 = mono_ms();
    cr_assert_eq(lg_client_call(cl, &q, &arena, &r, errmsg), LG_EUNAVAIL);
    cr_assert_lt(mono_ms() - t0, 1000u);
    HAS("3 attempts failed");
    cr_assert_eq(q.id, 1u, "ids are assigned by the client");
    lg_client_close(cl);
    lg_client_close(NULL);
}

Test(client, bad_addresses)
{
    struct lg_conn *c;
    static const char *const bad[] = {
        "", "localhost", "127.0.0.1:", ":7001", "127.0.0.1:0", "127.0.0.1:65536",
        "127.0.0.1:70a", "127.0.0.1:123456", "::1:7001", "[::1]7001", "[::1", "[]:7001",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(lg_conn_open(&c, bad[i], 500, errmsg), LG_EINVAL, "\"%s\": %s", bad[i],
                     errmsg);
    }
    char longer[LG_CLIENT_ADDRESS_BYTES_MAX + 8u];
    memset(longer, 'a', sizeof longer - 1u);
    longer[sizeof longer - 1u] = '\0';
    cr_assert_eq(lg_conn_open(&c, longer, 500, NULL), LG_EINVAL);
    const char *nodes[] = {"127.0.0.1:1", "nope"};
    struct lg_client_options o = {.nodes = nodes, .n_nodes = 2};
    struct lg_client *cl = (struct lg_client *)&cl;
    cr_assert_eq(lg_client_open(&cl, &o, errmsg), LG_EINVAL);
    cr_assert_null(cl);
    o.n_nodes = 0;
    cr_assert_eq(lg_client_open(&cl, &o, errmsg), LG_EINVAL);
    o.n_nodes = LG_CLIENT_NODES_MAX + 1u;
    cr_assert_eq(lg_client_open(&cl, &o, errmsg), LG_EINVAL);
}

Test(client, read_timeout)
{
    struct fake f = {0};
    fake_start(&f, FAKE_SILENT);
    struct lg_conn *c;
    cr_assert_eq(lg_conn_open(&c, f.addr, 2000, errmsg), LG_OK, "%s", errmsg);
    lg_conn_set_timeout(c, 200);
    struct lg_proto_request q = ping(1);
    struct lg_proto_response r;
    uint64_t t0 = mono_ms();
    cr_assert_eq(lg_conn_call(c, &q, &arena, &r, errmsg), LG_ETIMEOUT);
    uint64_t took = mono_ms() - t0;
    cr_assert_geq(took, 190u);
    cr_assert_lt(took, 2000u);
    HAS("timed out");
    /* Not final: the connection still carries requests. */
    cr_assert_eq(lg_conn_send(c, &q, errmsg), LG_OK, "%s", errmsg);
    lg_conn_close(c);

    /* The client retries a timeout, then reports it. */
    const char *nodes[] = {f.addr};
    struct lg_client_options o = {.nodes = nodes, .n_nodes = 1, .request_timeout_ms = 100,
                                  .attempts_max = 2, .backoff_ms = 5};
    struct lg_client *cl;
    cr_assert_eq(lg_client_open(&cl, &o, errmsg), LG_OK, "%s", errmsg);
    t0 = mono_ms();
    cr_assert_eq(lg_client_call(cl, &q, &arena, &r, errmsg), LG_ETIMEOUT);
    took = mono_ms() - t0;
    cr_assert_geq(took, 200u);
    cr_assert_lt(took, 3000u);
    lg_client_close(cl);
    fake_stop(&f);
    cr_assert_eq(atomic_load(&f.requests), 4);
}

static const uint8_t too_large[] = {0x01, 0x00, 0x00, 0x01}; /* 16 MiB + 1 */
static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff};
static const uint8_t empty[] = {0x00, 0x00, 0x00, 0x00};

/* The fake answers every request with raw; expect LG_EBADREQ and a message with want;
 * final: the connection is lost afterwards. */
static void expect_bad_frame(const uint8_t *raw, size_t raw_len, const char *want, bool final)
{
    struct fake f = {.raw = raw, .raw_len = raw_len};
    fake_start(&f, FAKE_RAW);
    struct lg_conn *c;
    cr_assert_eq(lg_conn_open(&c, f.addr, 2000, errmsg), LG_OK, "%s", errmsg);
    lg_conn_set_timeout(c, 5000);
    struct lg_proto_request q = ping(1);
    struct lg_proto_response r;
    cr_assert_eq(lg_conn_call(c, &q, &arena, &r, errmsg), LG_EBADREQ, "%s", errmsg);
    HAS(want);
    if (!final) {
        lg_conn_close(c);
        fake_stop(&f);
        return;
    }
    const uint8_t *body = (const uint8_t *)"x";
    size_t len = 9;
    cr_assert_eq(lg_conn_recv_frame(c, &body, &len, errmsg), LG_EUNAVAIL);
    cr_assert_null(body);
    cr_assert_eq(len, 0u);
    HAS("connection lost");
    cr_assert_eq(lg_conn_send(c, &q, errmsg), LG_EUNAVAIL);
    lg_conn_close(c);
    fake_stop(&f);
}

Test(client, bad_frame_lengths_are_errors)
{
    expect_bad_frame(too_large, sizeof too_large, "length 16777217 exceeds the limit", true);
    expect_bad_frame(huge, sizeof huge, "length 4294967295 exceeds the limit", true);
    expect_bad_frame(empty, sizeof empty, "empty frame", true);
    /* The client does not retry a server that breaks the protocol. */
    struct fake f = {.raw = huge, .raw_len = sizeof huge};
    fake_start(&f, FAKE_RAW);
    const char *nodes[] = {f.addr};
    struct lg_client_options o = {.nodes = nodes, .n_nodes = 1, .attempts_max = 5};
    struct lg_client *cl;
    cr_assert_eq(lg_client_open(&cl, &o, errmsg), LG_OK, "%s", errmsg);
    struct lg_proto_request q = ping(0);
    struct lg_proto_response r;
    cr_assert_eq(lg_client_call(cl, &q, &arena, &r, errmsg), LG_EBADREQ);
    lg_client_close(cl);
    fake_stop(&f);
    cr_assert_eq(atomic_load(&f.requests), 1);
}

Test(client, responses_to_another_id_or_malformed_are_errors)
{
    struct lg_buf other;
    lg_buf_init(&other);
    cr_assert_eq(lg_proto_encode_error(999, LG_EFUNDS, NULL, NULL, &other), LG_OK);
    expect_bad_frame(other.data, other.len, "response to id 999, expected 1", false);
    lg_buf_close(&other);
    /* A frame holding {"id": 1, "ok": true} (no result). */
    static const uint8_t no_result[] = {0, 0, 0, 9, 0x82, 0xa2, 'i', 'd', 0x01, 0xa2, 'o', 'k',
                                       0xc3};
    expect_bad_frame(no_result, sizeof no_result, "bad response: response.result: missing",
                     false);
    /* A frame whose id cannot be read. */
    static const uint8_t no_id[] = {0, 0, 0, 4, 0x81, 0xa2, 'o', 'k'};
    expect_bad_frame(no_id, sizeof no_id, "response without a readable id", false);
}

Test(client, closed_by_the_peer_without_sigpipe)
{
    struct fake f = {0};
    fake_start(&f, FAKE_CLOSE);
    struct lg_conn *c;
    cr_assert_eq(lg_conn_open(&c, f.addr, 2000, errmsg), LG_OK, "%s", errmsg);
    lg_conn_set_timeout(c, 2000);
    const uint8_t *body;
    size_t len;
    cr_assert_eq(lg_conn_recv_frame(c, &body, &len, errmsg), LG_EUNAVAIL);
    HAS("closed by the peer");
    cr_assert_eq(len, 0u);
    lg_conn_close(c);
    /* Writing into a connection the peer closed: an error, never SIGPIPE (which would kill
     * this test's process). */
    cr_assert_eq(lg_conn_open(&c, f.addr, 2000, errmsg), LG_OK, "%s", errmsg);
    static uint8_t chunk[64 * 1024];
    int rc = LG_OK;
    for (int i = 0; i < 500 && rc == LG_OK; i++) {
        rc = lg_conn_send_raw(c, chunk, sizeof chunk, errmsg);
        if (rc == LG_OK) {
            usleep(2000);
        }
    }
    cr_assert_eq(rc, LG_EUNAVAIL, "%s", errmsg);
    lg_conn_close(c);
    fake_stop(&f);
}

Test(client, follows_not_leader_to_a_node_outside_the_list)
{
    struct fake leader = {.node_id = 2};
    fake_start(&leader, FAKE_PING);
    struct fake follower = {.leader = leader.addr};
    fake_start(&follower, FAKE_NOT_LEADER);
    const char *nodes[] = {follower.addr};
    struct lg_client_options o = {.nodes = nodes, .n_nodes = 1, .backoff_ms = 1000};
    struct lg_client *cl;
    cr_assert_eq(lg_client_open(&cl, &o, errmsg), LG_OK, "%s", errmsg);
    struct lg_proto_request q = ping(0);
    struct lg_proto_response r;
    uint64_t t0 = mono_ms();
    cr_assert_eq(lg_client_call(cl, &q, &arena, &r, errmsg), LG_OK, "%s", errmsg);
    cr_assert_lt(mono_ms() - t0, 900u, "a redirect is followed at once, without backoff");
    cr_assert(r.ok);
    cr_assert_eq(r.u.ping_node_id, 2u);
    cr_assert_str_eq(lg_client_current(cl), leader.addr);
    /* The leader stays current. */
    cr_assert_eq(lg_client_call(cl, &q, &arena, &r, errmsg), LG_OK, "%s", errmsg);
    cr_assert_eq(q.id, 2u);
    lg_client_close(cl);
    fake_stop(&follower);
    fake_stop(&leader);
    cr_assert_eq(atomic_load(&follower.requests), 1);
    cr_assert_eq(atomic_load(&leader.requests), 2);
}

Test(client, not_leader_loops_are_bounded)
{
    /* Two nodes each naming the other: every hop counts toward attempts_max. */
    struct fake a = {0};
    struct fake b = {0};
    a.leader = b.addr;
    b.leader = a.addr;
    fake_start(&a, FAKE_NOT_LEADER);
    fake_start(&b, FAKE_NOT_LEADER);
    const char *nodes[] = {a.addr};
    struct lg_client_options o = {.nodes = nodes, .n_nodes = 1, .attempts_max = 4};
    struct lg_client *cl;
    cr_assert_eq(lg_client_open(&cl, &o, errmsg), LG_OK, "%s", errmsg);
    struct lg_proto_request q = ping(0);
    struct lg_proto_response r;
    cr_assert_eq(lg_client_call(cl, &q, &arena, &r, errmsg), LG_EUNAVAIL);
    HAS("4 attempts failed");
    lg_client_close(cl);
    fake_stop(&a);
    fake_stop(&b);
    cr_assert_eq(atomic_load(&a.requests) + atomic_load(&b.requests), 4);
}

Test(client, retries_unavailable_with_the_same_bytes)
{
    struct fake f = {.node_id = 5, .n_fail = 2};
    fake_start(&f, FAKE_UNAVAIL_FIRST);
    const char *nodes[] = {f.addr};
    struct lg_client_options o = {.nodes = nodes, .n_nodes = 1, .attempts_max = 5,
                                  .backoff_ms = 20};
    struct lg_client *cl;
    cr_assert_eq(lg_client_open(&cl, &o, errmsg), LG_OK, "%s", errmsg);
    struct lg_proto_request q = ping(0);
    struct lg_proto_response r;
    uint64_t t0 = mono_ms();
    cr_assert_eq(lg_client_call(cl, &q, &arena, &r, errmsg), LG_OK, "%s", errmsg);
    cr_assert_geq(mono_ms() - t0, 20u + 40u, "backoff doubles");
    cr_assert(r.ok);
    cr_assert_eq(r.u.ping_node_id, 5u);
    lg_client_close(cl);
    fake_stop(&f);
    cr_assert_eq(atomic_load(&f.requests), 3);
    cr_assert(f.all_same, "every retry sends the very same bytes");
}

Test(client, connection_failure_moves_to_the_next_node)
{
    char dead[32];
    closed_port(dead, sizeof dead);
    struct fake f = {.node_id = 8};
    fake_start(&f, FAKE_PING);
    const char *nodes[] = {dead, f.addr};
    struct lg_client_options o = {.nodes = nodes, .n_nodes = 2, .backoff_ms = 1};
    struct lg_client *cl;
    cr_assert_eq(lg_client_open(&cl, &o, errmsg), LG_OK, "%s", errmsg);
    struct lg_proto_request q = ping(0);
    struct lg_proto_response r;
    cr_assert_eq(lg_client_call(cl, &q, &arena, &r, errmsg), LG_OK, "%s", errmsg);
    cr_assert_eq(r.u.ping_node_id, 8u);
    cr_assert_str_eq(lg_client_current(cl), f.addr);
    lg_client_close(cl);
    fake_stop(&f);
}

Test(client, final_errors_are_responses)
{
    struct fake f = {.code = LG_EFUNDS};
    fake_start(&f, FAKE_ERROR);
    const char *nodes[] = {f.addr};
    struct lg_client_options o = {.nodes = nodes, .n_nodes = 1};
    struct lg_client *cl;
    cr_assert_eq(lg_client_open(&cl, &o, errmsg), LG_OK, "%s", errmsg);
    struct lg_proto_request q = ping(0);
    struct lg_proto_response r;
    cr_assert_eq(lg_client_call(cl, &q, &arena, &r, errmsg), LG_OK, "%s", errmsg);
    cr_assert_not(r.ok);
    cr_assert_eq(r.error.code, LG_EFUNDS);
    cr_assert_eq(r.id, q.id);
    /* An invalid request is the encoder's error, nothing sent. */
    q.op = LG_PROTO_OP_JOURNAL_READ;
    cr_assert_eq(lg_client_call(cl, &q, &arena, &r, errmsg), LG_EBADREQ);
    lg_client_close(cl);
    fake_stop(&f);
    cr_assert_eq(atomic_load(&f.requests), 1);
}
