/* bench-cluster: replicated write throughput and latency against a running cluster.
 *
 *   bench-cluster --nodes H:P,H:P,H:P [--connections C] [--pipeline W] [--tx N]
 *                 [--accounts A] [--ledger NAME]
 *
 * Finds the leader (status on each node), then C threads each open one connection to it
 * and keep W submits in flight (pipelined, matched by id) until N transfers in total are
 * acknowledged: first A accounts are funded from `world`, then transfers between them.
 * Every submit carries a reference. Prints acknowledged tx/s and latency percentiles
 * (send to response) and the errors by code. A benchmark, not a test: it prints figures. */
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../lib/client.h"

#define NODES_MAX 8u
#define THREADS_MAX 64u
#define WINDOW_MAX 1024u

struct opts {
    const char *nodes[NODES_MAX];
    uint32_t n_nodes;
    unsigned connections;
    unsigned pipeline;
    uint64_t tx;
    unsigned accounts;
    const char *ledger;
};

struct worker {
    pthread_t thread;
    const struct opts *o;
    const char *leader;
    unsigned index;
    uint64_t count;  /* submits this worker sends */
    uint64_t *lat_us; /* count entries */
    uint64_t n_lat;
    uint64_t n_err;
    int first_err;
    char errmsg[LG_ERRMSG_SIZE];
};

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Request number seq of worker w: funding for the first accounts, then transfers. */
static void make_request(const struct worker *w, uint64_t seq, struct lg_proto_request *r,
                         struct lg_posting *p, char *src, char *dst, char *ref)
{
    const struct opts *o = w->o;
    memset(r, 0, sizeof *r);
    memset(p, 0, sizeof *p);
    uint64_t global = seq * o->connections + w->index;
    unsigned a = (unsigned)(global % o->accounts);
    unsigned b = (unsigned)((global * 7u + 1u) % o->accounts);
    if (b == a) {
        b = (a + 1u) % o->accounts;
    }
    bool fund = seq < (o->accounts + o->connections - 1u) / o->connections;
    snprintf(src, 64, fund ? "world" : "users:%u:main", a);
    snprintf(dst, 64, "users:%u:main", fund ? a : b);
    snprintf(ref, 64, "bench-%u-%llu-%llu", w->index, (unsigned long long)seq,
             (unsigned long long)now_us());
    p->source = (struct lg_str){src, (uint32_t)strlen(src)};
    p->destination = (struct lg_str){dst, (uint32_t)strlen(dst)};
    p->asset = (struct lg_str){"USD/2", 5};
    p->amount = fund ? (lg_u128)1000000000u : (lg_u128)1u;
    r->id = seq + 1u;
    r->op = LG_PROTO_OP_SUBMIT;
    r->u.submit.ledger = (struct lg_str){o->ledger, (uint32_t)strlen(o->ledger)};
    r->u.submit.postings = p;
    r->u.submit.n_postings = 1;
    r->u.submit.reference = (struct lg_str){ref, (uint32_t)strlen(ref)};
}

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    struct lg_conn *c = NULL;
    if (lg_conn_open(&c, w->leader, 3000, w->errmsg) != LG_OK) {
        w->first_err = LG_EUNAVAIL;
        return NULL;
    }
    lg_conn_set_timeout(c, 30000);
    uint64_t *sent_at = calloc(w->count + 1u, sizeof *sent_at);
    struct lg_arena arena;
    lg_arena_init(&arena, 1u << 20);
    uint64_t next = 0;
    uint64_t done = 0;
    while (done < w->count && sent_at != NULL) {
        while (next < w->count && next - done < w->o->pipeline) {
            struct lg_proto_request r;
            struct lg_posting p;
            char src[64];
            char dst[64];
            char ref[64];
            make_request(w, next, &r, &p, src, dst, ref);
            sent_at[next] = now_us();
            if (lg_conn_send(c, &r, w->errmsg) != LG_OK) {
                w->first_err = LG_EUNAVAIL;
                goto out;
            }
            next++;
        }
        const uint8_t *body = NULL;
        size_t len = 0;
        if (lg_conn_recv_frame(c, &body, &len, w->errmsg) != LG_OK) {
            w->first_err = LG_EUNAVAIL;
            goto out;
        }
        uint64_t id = 0;
        struct lg_proto_response resp;
        lg_arena_reset(&arena);
        if (lg_conn_response_id(body, len, &id) != LG_OK || id == 0 || id > w->count ||
            lg_proto_decode_response(LG_PROTO_OP_SUBMIT, body, len, &arena, &resp,
                                     w->errmsg) != LG_OK) {
            w->first_err = LG_EBADREQ;
            goto out;
        }
        if (resp.ok) {
            w->lat_us[w->n_lat++] = now_us() - sent_at[id - 1u];
        } else {
            if (w->n_err++ == 0) {
                w->first_err = resp.error.code;
                snprintf(w->errmsg, sizeof w->errmsg, "%.*s", (int)resp.error.message.len,
                         resp.error.message.ptr);
            }
        }
        done++;
    }
out:
    lg_arena_close(&arena);
    free(sent_at);
    lg_conn_close(c);
    return NULL;
}

static int find_leader(const struct opts *o, char *out, size_t size)
{
    struct lg_arena arena;
    lg_arena_init(&arena, 1u << 16);
    int found = -1;
    for (uint32_t i = 0; i < o->n_nodes && found < 0; i++) {
        struct lg_conn *c = NULL;
        char err[LG_ERRMSG_SIZE];
        if (lg_conn_open(&c, o->nodes[i], 2000, err) != LG_OK) {
            continue;
        }
        struct lg_proto_request r;
        memset(&r, 0, sizeof r);
        r.id = 1;
        r.op = LG_PROTO_OP_STATUS;
        struct lg_proto_response resp;
        if (lg_conn_call(c, &r, &arena, &resp, err) == LG_OK && resp.ok &&
            resp.u.status.leader_client.len > 0 && resp.u.status.leader_client.len < size) {
            memcpy(out, resp.u.status.leader_client.ptr, resp.u.status.leader_client.len);
            out[resp.u.status.leader_client.len] = '\0';
            found = 0;
        }
        lg_conn_close(c);
    }
    lg_arena_close(&arena);
    return found;
}

/* After the run: wait (bounded) until every node reports the same applied index, then
 * print each node's role, applied index, journal seq and chain head. Returns 0 when all
 * answered and agree. */
static int report_nodes(const struct opts *o)
{
    struct lg_arena arena;
    lg_arena_init(&arena, 1u << 16);
    struct lg_proto_status st[NODES_MAX];
    bool ok[NODES_MAX];
    int agree = -1;
    for (int round = 0; round < 50 && agree != 0; round++) {
        agree = 0;
        for (uint32_t i = 0; i < o->n_nodes; i++) {
            ok[i] = false;
            struct lg_conn *c = NULL;
            char err[LG_ERRMSG_SIZE];
            if (lg_conn_open(&c, o->nodes[i], 2000, err) != LG_OK) {
                agree = -1;
                continue;
            }
            struct lg_proto_request r;
            memset(&r, 0, sizeof r);
            r.id = 1;
            r.op = LG_PROTO_OP_STATUS;
            struct lg_proto_response resp;
            if (lg_conn_call(c, &r, &arena, &resp, err) == LG_OK && resp.ok) {
                st[i] = resp.u.status;
                ok[i] = true;
            }
            lg_conn_close(c);
            if (!ok[i] || st[i].applied_index != st[0].applied_index ||
                memcmp(st[i].chain_head, st[0].chain_head, sizeof st[i].chain_head) != 0) {
                agree = -1;
            }
        }
        if (agree != 0) {
            struct timespec ts = {0, 100 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    for (uint32_t i = 0; i < o->n_nodes; i++) {
        if (!ok[i]) {
            printf("node %s: no answer\n", o->nodes[i]);
            continue;
        }
        char head[2 * LG_PROTO_HASH_BYTES + 1];
        for (unsigned k = 0; k < LG_PROTO_HASH_BYTES; k++) {
            snprintf(head + 2 * k, 3, "%02x", st[i].chain_head[k]);
        }
        printf("node %llu %-9s applied_index=%llu journal_seq=%llu chain_head=%s\n",
               (unsigned long long)st[i].node_id, lg_proto_role_name(st[i].role),
               (unsigned long long)st[i].applied_index, (unsigned long long)st[i].journal_seq,
               head);
    }
    printf(agree == 0 ? "replicas identical (same applied index and chain head)\n"
                      : "replicas DIFFER or did not answer\n");
    lg_arena_close(&arena);
    return agree;
}

static unsigned long parse_num(const char *s, const char *flag)
{
    char *end = NULL;
    unsigned long v = strtoul(s, &end, 10);
    if (end == s || *end != '\0' || v == 0) {
        fprintf(stderr, "bench-cluster: %s needs a positive integer\n", flag);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    struct opts o = {.connections = 4, .pipeline = 64, .tx = 100000, .accounts = 1000,
                     .ledger = "bench"};
    static char nodes_copy[4096];
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL) {
            fprintf(stderr, "bench-cluster: %s needs a value\n", f);
            return 2;
        }
        i++;
        if (strcmp(f, "--nodes") == 0) {
            snprintf(nodes_copy, sizeof nodes_copy, "%s", v);
            char *p = nodes_copy;
            while (p != NULL && *p != '\0' && o.n_nodes < NODES_MAX) {
                o.nodes[o.n_nodes++] = p;
                p = strchr(p, ',');
                if (p != NULL) {
                    *p++ = '\0';
                }
            }
        } else if (strcmp(f, "--connections") == 0) {
            o.connections = (unsigned)parse_num(v, f);
        } else if (strcmp(f, "--pipeline") == 0) {
            o.pipeline = (unsigned)parse_num(v, f);
        } else if (strcmp(f, "--tx") == 0) {
            o.tx = parse_num(v, f);
        } else if (strcmp(f, "--accounts") == 0) {
            o.accounts = (unsigned)parse_num(v, f);
        } else if (strcmp(f, "--ledger") == 0) {
            o.ledger = v;
        } else {
            fprintf(stderr, "bench-cluster: unknown flag %s\n", f);
            return 2;
        }
    }
    if (o.n_nodes == 0 || o.connections > THREADS_MAX || o.pipeline > WINDOW_MAX ||
        o.accounts < 2) {
        fprintf(stderr, "usage: bench-cluster --nodes H:P,... [--connections C<=%u] "
                "[--pipeline W<=%u] [--tx N] [--accounts A>=2] [--ledger NAME]\n",
                THREADS_MAX, WINDOW_MAX);
        return 2;
    }
    char leader[LG_CLIENT_ADDRESS_BYTES_MAX];
    if (find_leader(&o, leader, sizeof leader) != 0) {
        fprintf(stderr, "bench-cluster: no node reports a leader\n");
        return 4;
    }
    struct worker w[THREADS_MAX];
    memset(w, 0, sizeof w);
    uint64_t start = now_us();
    for (unsigned i = 0; i < o.connections; i++) {
        w[i].o = &o;
        w[i].leader = leader;
        w[i].index = i;
        w[i].count = o.tx / o.connections + (i < o.tx % o.connections ? 1u : 0u);
        w[i].lat_us = calloc(w[i].count + 1u, sizeof *w[i].lat_us);
        pthread_create(&w[i].thread, NULL, worker_run, &w[i]);
    }
    uint64_t total = 0;
    uint64_t errors = 0;
    for (unsigned i = 0; i < o.connections; i++) {
        pthread_join(w[i].thread, NULL);
        total += w[i].n_lat;
        errors += w[i].n_err;
        if (w[i].first_err != 0) {
            fprintf(stderr, "connection %u: first error %s: %s\n", i,
                    lg_err_wire(w[i].first_err), w[i].errmsg);
        }
    }
    double secs = (double)(now_us() - start) / 1e6;
    uint64_t *all = calloc(total + 1u, sizeof *all);
    uint64_t k = 0;
    for (unsigned i = 0; i < o.connections; i++) {
        for (uint64_t j = 0; j < w[i].n_lat && all != NULL; j++) {
            all[k++] = w[i].lat_us[j];
        }
        free(w[i].lat_us);
    }
    if (all != NULL && total > 0) {
        qsort(all, total, sizeof *all, cmp_u64);
    }
    uint64_t p50 = total > 0 && all ? all[total / 2u] : 0;
    uint64_t p99 = total > 0 && all ? all[(total * 99u) / 100u] : 0;
    uint64_t max = total > 0 && all ? all[total - 1u] : 0;
    free(all);
    printf("leader %s connections=%u pipeline=%u acknowledged=%llu errors=%llu in %.2fs: "
           "%.0f tx/s, latency p50=%.2fms p99=%.2fms max=%.2fms\n",
           leader, o.connections, o.pipeline, (unsigned long long)total,
           (unsigned long long)errors, secs, (double)total / secs, (double)p50 / 1000.0,
           (double)p99 / 1000.0, (double)max / 1000.0);
    int agree = report_nodes(&o);
    return errors > 0 || total < o.tx || agree != 0 ? 1 : 0;
}
