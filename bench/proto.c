/* bench-proto: request decoding throughput of lib/proto (the leader's per-request CPU).
 *
 *   bench-proto [--requests N] [--batch B] [--seconds S]
 *
 * Encodes N (default 1000) submit_batch requests of B (default 100) one-posting transfers,
 * each with a unique reference, shaped as `ledger-node bench --batch B` sends them
 * (cmd/bench.c fill: ledger "bench", accounts "bench:<0..9999>", asset "USD/2", amounts
 * 1..100, references "b<run>-<worker>-<seq>-<k>"), then decodes them round-robin with
 * lg_proto_decode_request for about S (default 2) seconds of this thread's CPU time, one
 * arena reset per request as in steady state. Prints requests/s and ns per transfer per CPU
 * second (so other load on the machine weighs less; wall time is printed too). Single
 * thread. A program, not a test: it prints figures (docs/benchmarks.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "frame.h"
#include "proto.h"

#define BENCH_ACCOUNTS 10000u
#define BENCH_NAME_BYTES 40u
#define BENCH_REF_BYTES 64u /* "b" 16 hex "-" worker "-" seq "-" k: room for any values */
#define BENCH_RUN_ID 0x68f1c2a39d04e5b7ull /* any fixed value: references keep their width */

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static struct lg_str str(const char *s)
{
    return (struct lg_str){s, (uint32_t)strlen(s)};
}

/* Parse a positive integer option value; exits on a bad one. */
static unsigned long opt_u(const char *flag, const char *v)
{
    char *end = NULL;
    unsigned long u = v != NULL ? strtoul(v, &end, 10) : 0;
    if (v == NULL || *end != '\0' || u == 0) {
        fprintf(stderr, "bench-proto: %s needs a positive integer\n", flag);
        exit(2);
    }
    return u;
}

/* Append request id (transfers like cmd/bench.c fill) to out. Returns LG_OK or a code. */
static int encode_one(uint64_t id, uint32_t batch, uint64_t *rng, struct lg_buf *out)
{
    struct lg_proto_submit *txs = calloc(batch, sizeof *txs);
    struct lg_posting *posts = calloc(batch, sizeof *posts);
    char(*names)[2][BENCH_NAME_BYTES] = calloc(batch, sizeof *names);
    char(*refs)[BENCH_REF_BYTES] = calloc(batch, sizeof *refs);
    if (txs == NULL || posts == NULL || names == NULL || refs == NULL) {
        free(txs), free(posts), free(names), free(refs);
        return LG_ENOMEM;
    }
    for (uint32_t k = 0; k < batch; k++) {
        uint64_t r = rng_next(rng);
        unsigned a = (unsigned)(r % BENCH_ACCOUNTS);
        unsigned b = (unsigned)((r >> 32) % (BENCH_ACCOUNTS - 1u));
        b = b >= a ? b + 1u : b;
        snprintf(names[k][0], BENCH_NAME_BYTES, "bench:%u", a);
        snprintf(names[k][1], BENCH_NAME_BYTES, "bench:%u", b);
        snprintf(refs[k], BENCH_REF_BYTES, "b%llx-%u-%llu-%u", BENCH_RUN_ID, 0u,
                 (unsigned long long)id, k);
        posts[k].source = str(names[k][0]);
        posts[k].destination = str(names[k][1]);
        posts[k].asset = str("USD/2");
        posts[k].amount = (lg_u128)(1u + r % 100u);
        txs[k].ledger = str("bench");
        txs[k].postings = &posts[k];
        txs[k].n_postings = 1;
        txs[k].reference = str(refs[k]);
    }
    struct lg_proto_request req;
    memset(&req, 0, sizeof req);
    req.id = id;
    req.op = LG_PROTO_OP_SUBMIT_BATCH;
    req.u.batch.txs = txs;
    req.u.batch.n_txs = batch;
    char errmsg[LG_ERRMSG_SIZE];
    int rc = lg_proto_encode_request(&req, out, errmsg);
    if (rc != LG_OK) {
        fprintf(stderr, "bench-proto: encode: %s\n", errmsg);
    }
    free(txs), free(posts), free(names), free(refs);
    return rc;
}

int main(int argc, char **argv)
{
    unsigned long n_requests = 1000;
    unsigned long batch = 100;
    unsigned long seconds = 2;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--requests") == 0) {
            n_requests = opt_u(argv[i], v), i++;
        } else if (strcmp(argv[i], "--batch") == 0) {
            batch = opt_u(argv[i], v), i++;
        } else if (strcmp(argv[i], "--seconds") == 0) {
            seconds = opt_u(argv[i], v), i++;
        } else {
            fprintf(stderr, "usage: bench-proto [--requests N] [--batch B] [--seconds S]\n");
            return 2;
        }
    }
    if (batch > LG_PROTO_BATCH_TXS_MAX) {
        fprintf(stderr, "bench-proto: --batch is at most %u\n", LG_PROTO_BATCH_TXS_MAX);
        return 2;
    }
    struct lg_buf buf;
    lg_buf_init(&buf);
    size_t *at = calloc(n_requests + 1u, sizeof *at); /* frame i is [at[i], at[i + 1]) */
    if (at == NULL) {
        return 1;
    }
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    for (unsigned long i = 0; i < n_requests; i++) {
        at[i] = buf.len;
        if (encode_one(i + 1u, (uint32_t)batch, &rng, &buf) != LG_OK) {
            return 1;
        }
    }
    at[n_requests] = buf.len;

    struct lg_arena arena;
    lg_arena_init(&arena, 64u << 20);
    char errmsg[LG_ERRMSG_SIZE];
    uint64_t decoded = 0;
    uint64_t checksum = 0; /* keeps the decode from being optimised away */
    double wall0 = clock_s(CLOCK_MONOTONIC);
    double t0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
    double t1 = t0;
    while (t1 - t0 < (double)seconds) {
        for (unsigned long i = 0; i < n_requests; i++) {
            const uint8_t *body = buf.data + at[i] + LG_FRAME_HEADER_BYTES;
            size_t len = at[i + 1] - at[i] - LG_FRAME_HEADER_BYTES;
            struct lg_proto_request req;
            lg_arena_reset(&arena);
            if (lg_proto_decode_request(body, len, &arena, &req, errmsg) != LG_OK) {
                fprintf(stderr, "bench-proto: decode of request %lu: %s\n", i + 1u, errmsg);
                return 1;
            }
            checksum += req.id + req.u.batch.n_txs;
        }
        decoded += n_requests;
        t1 = clock_s(CLOCK_THREAD_CPUTIME_ID);
    }
    double elapsed = t1 - t0;
    double wall = clock_s(CLOCK_MONOTONIC) - wall0;
    double per_s = (double)decoded / elapsed;
    printf("bench-proto: %lu requests x %lu transfers (%.0f bytes/request), %llu decoded "
           "in %.2f s CPU (%.2f s wall): %.0f requests/s, %.1f ns/transfer (checksum %llu)\n",
           n_requests, batch, (double)buf.len / (double)n_requests,
           (unsigned long long)decoded, elapsed, wall, per_s,
           elapsed * 1e9 / ((double)decoded * (double)batch), (unsigned long long)checksum);
    lg_arena_close(&arena);
    lg_buf_close(&buf);
    free(at);
    return 0;
}
