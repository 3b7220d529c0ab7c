/* audit: the cross-replica audit (audit.h) and the node's key at serve start.
 *
 * Objects: one struct lg_audit per node, heap, never moves. Loop side: a repeating timer
 * starts rounds, an async handle receives their answers. Worker side: one thread that
 * waits on a condition variable for a round, asks each peer in turn, and sends the async.
 * Shared under mu: the round (peers, size, answers), stop, and async_open (the worker never
 * touches the async handle once lg_audit_close began closing it). While a round runs
 * (busy), the loop thread leaves the round's arrays alone; the worker leaves them once it
 * has set done. */
#include "audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fsm/fsm.h"
#include "../lib/arena.h"
#include "../lib/assert.h"
#include "../lib/client.h"
#include "../lib/log.h"
#include "../lib/merkle.h"
#include "cmd.h"

/* Decoding one digest answer: a few hundred bytes. */
#define AUDIT_ARENA_BYTES (64u * 1024u)
#define HEX_BYTES (2u * LG_PROTO_HASH_BYTES + 1u)

LG_STATIC_ASSERT(LG_SIGN_ROOT_BYTES == LG_PROTO_HASH_BYTES, "one hash size");

/* One peer of a round: asked by the worker, compared by the loop. */
struct audit_peer {
    uint64_t id;
    char address[LG_RAFT_ADDRESS_BYTES_MAX];
    /* OUT (worker): rc LG_OK with the peer's size and root, else msg says why; and the
     * spot check at an older size (old_size 0: none). */
    int rc;
    char msg[LG_ERRMSG_SIZE];
    uint64_t size;
    uint8_t root[LG_PROTO_HASH_BYTES];
    uint64_t old_size;
    uint8_t old_root[LG_PROTO_HASH_BYTES];
    /* The peer answered `unavailable` (filling a catch-up gap, shutting down): not a fault
     * of its tree; counted as skipped, not as an error. With rc LG_OK: only the spot check
     * was skipped. */
    bool skipped;
};

struct lg_audit {
    uv_loop_t *loop;
    struct lg_node *node;
    unsigned interval_ms;
    unsigned timeout_ms;
    uv_timer_t timer;
    uv_async_t async;
    unsigned n_handles; /* initialised and not yet through their close callback */
    bool closing;
    bool busy;          /* a round is with the worker (loop thread's view) */
    struct lg_proto_audit stats;
    /* Shared with the worker under mu. */
    bool thread_started;
    uv_thread_t thread;
    uv_mutex_t mu;
    uv_cond_t cond;
    bool stop;
    bool async_open;
    bool ready;         /* a round waits for the worker */
    bool done;          /* the worker finished the round */
    uint64_t size;      /* this node's tree size when the round started */
    struct audit_peer peers[LG_AUDIT_PEERS_MAX];
    uint32_t n_peers;
    struct lg_node_member members[LG_AUDIT_PEERS_MAX]; /* loop thread scratch */
};

static void hex(const uint8_t *bytes, char out[HEX_BYTES])
{
    lg_cmd_hex(bytes, LG_PROTO_HASH_BYTES, out);
}

/* ---- worker ------------------------------------------------------------------------- */

static bool audit_stopping(struct lg_audit *a)
{
    uv_mutex_lock(&a->mu);
    bool stop = a->stop;
    uv_mutex_unlock(&a->mu);
    return stop;
}

/* One digest request on conn: LG_OK with *resp ok; else a code and p->msg. */
static int audit_call(struct lg_conn *conn, struct audit_peer *p, bool has_size,
                      uint64_t size, struct lg_arena *arena, struct lg_proto_response *resp)
{
    struct lg_proto_request req;
    memset(&req, 0, sizeof req);
    req.id = has_size ? 1u : 2u;
    req.op = LG_PROTO_OP_DIGEST;
    req.consistency = LG_PROTO_READ_STALE;
    req.u.digest.has_tree_size = has_size;
    req.u.digest.tree_size = size;
    char msg[LG_ERRMSG_SIZE] = "";
    int rc = lg_conn_call(conn, &req, arena, resp, msg);
    if (rc != LG_OK) {
        return lg_errmsg_printf(p->msg, rc, "digest: %s", msg);
    }
    if (!resp->ok && resp->error.code == LG_EUNAVAIL) {
        p->skipped = true;
    }
    if (!resp->ok) {
        return lg_errmsg_printf(p->msg, resp->error.code, "digest: %s: %.*s",
                                lg_err_wire(resp->error.code), (int)resp->error.message.len,
                                resp->error.message.ptr != NULL ? resp->error.message.ptr
                                                                : "");
    }
    return LG_OK;
}

/* Check a peer's digest: the size asked for (any size <= max when has_size is false), a
 * key and signature of the right lengths, and the signature; then keep its size and root
 * in *size_out and root_out. */
static int audit_check_digest(struct audit_peer *p, const struct lg_proto_digest *d,
                              bool has_size, uint64_t size, uint64_t *size_out,
                              uint8_t root_out[LG_PROTO_HASH_BYTES])
{
    if (has_size ? d->tree_size != size : d->tree_size > size) {
        return lg_errmsg_printf(p->msg, LG_EBADREQ, "digest: tree_size %llu, asked %s%llu",
                                (unsigned long long)d->tree_size, has_size ? "" : "<= ",
                                (unsigned long long)size);
    }
    if (d->public_key.len != LG_SIGN_PUBLIC_KEY_BYTES ||
        d->signature.len != LG_SIGN_SIGNATURE_BYTES) {
        return lg_errmsg_printf(p->msg, LG_EBADREQ, "digest: public_key or signature of the "
                                "wrong length (%u, %u bytes)", d->public_key.len,
                                d->signature.len);
    }
    struct lg_sign_digest sd;
    memset(&sd, 0, sizeof sd);
    sd.tree_size = d->tree_size;
    memcpy(sd.root, d->root, LG_SIGN_ROOT_BYTES);
    sd.timestamp_us = d->timestamp_us;
    sd.node_id = d->node_id;
    memcpy(sd.public_key, d->public_key.ptr, LG_SIGN_PUBLIC_KEY_BYTES);
    memcpy(sd.signature, d->signature.ptr, LG_SIGN_SIGNATURE_BYTES);
    int rc = lg_sign_digest_verify(&sd);
    if (rc != LG_OK) {
        return lg_errmsg_printf(p->msg, rc, "digest: the signature does not verify");
    }
    if (d->node_id != p->id) {
        return lg_errmsg_printf(p->msg, LG_EBADREQ, "digest: signed by node %llu",
                                (unsigned long long)d->node_id);
    }
    *size_out = d->tree_size;
    memcpy(root_out, d->root, LG_PROTO_HASH_BYTES);
    return LG_OK;
}

/* A pseudo-random number for the spot check's size (worker thread only; not security:
 * it only spreads the checks over the history). xorshift64*. */
static uint64_t audit_random(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * UINT64_C(2685821657736338717);
}

/* Ask peer p for its root at size, or at its own size when its tree is shorter; then for
 * its root at a random older size (the spot check: the current roots come from memory, an
 * older root from the stored subtree hashes and records, so history damaged on disk shows
 * there). */
static int audit_ask(struct lg_audit *a, struct audit_peer *p, uint64_t size,
                     struct lg_arena *arena, uint64_t *rnd)
{
    struct lg_conn *conn = NULL;
    char msg[LG_ERRMSG_SIZE] = "";
    int rc = lg_conn_open(&conn, p->address, a->timeout_ms, msg);
    if (rc != LG_OK) {
        return lg_errmsg_printf(p->msg, rc, "connect: %s", msg);
    }
    lg_conn_set_timeout(conn, a->timeout_ms);
    struct lg_proto_response resp;
    lg_arena_reset(arena);
    rc = audit_call(conn, p, true, size, arena, &resp);
    bool shorter = rc == LG_ENOTFOUND || rc == LG_ERANGE;
    if (rc == LG_OK) {
        rc = audit_check_digest(p, &resp.u.digest, true, size, &p->size, p->root);
    } else if (shorter && !audit_stopping(a)) {
        lg_arena_reset(arena);
        rc = audit_call(conn, p, false, 0, arena, &resp);
        if (rc == LG_OK) {
            rc = audit_check_digest(p, &resp.u.digest, false, size, &p->size, p->root);
        }
    }
    if (rc == LG_OK && p->size >= 2u && !audit_stopping(a)) {
        uint64_t old = 1u + audit_random(rnd) % (p->size - 1u);
        lg_arena_reset(arena);
        rc = audit_call(conn, p, true, old, arena, &resp);
        if (rc == LG_OK) {
            rc = audit_check_digest(p, &resp.u.digest, true, old, &p->old_size, p->old_root);
        } else if (p->skipped) {
            rc = LG_OK; /* the current roots still compare; no spot check this round */
            p->old_size = 0;
        }
    }
    lg_conn_close(conn);
    return rc;
}

static void audit_thread(void *arg)
{
    struct lg_audit *a = arg;
    struct lg_arena arena;
    lg_arena_init(&arena, AUDIT_ARENA_BYTES);
    uint64_t rnd = uv_hrtime() | 1u;
    uv_mutex_lock(&a->mu);
    for (;;) {
        while (!a->stop && !a->ready) {
            uv_cond_wait(&a->cond, &a->mu);
        }
        if (a->stop) {
            break;
        }
        a->ready = false;
        uint32_t n = a->n_peers;
        uint64_t size = a->size;
        uv_mutex_unlock(&a->mu);
        for (uint32_t i = 0; i < n; i++) {
            struct audit_peer *p = &a->peers[i];
            p->msg[0] = '\0';
            p->size = 0;
            p->old_size = 0;
            p->skipped = false;
            p->rc = audit_stopping(a) ? LG_ESHUTDOWN : audit_ask(a, p, size, &arena, &rnd);
        }
        uv_mutex_lock(&a->mu);
        a->done = true;
        if (a->async_open) {
            uv_async_send(&a->async);
        }
    }
    uv_mutex_unlock(&a->mu);
    lg_arena_close(&arena);
}

/* ---- loop side ---------------------------------------------------------------------- */

/* Compare peer p's root at size with this node's (loop thread). */
static void audit_compare_at(struct lg_audit *a, struct lg_merkle *t,
                             const struct audit_peer *p, uint64_t size,
                             const uint8_t root[LG_PROTO_HASH_BYTES])
{
    LG_PRE(size >= 1);
    uint8_t local[LG_PROTO_HASH_BYTES];
    int rc = size <= lg_merkle_size(t) ? lg_merkle_root(t, size, local) : LG_ERANGE;
    if (rc != LG_OK) {
        a->stats.errors++;
        char q[LG_ERRMSG_SIZE + 8];
        lg_log(LG_LOG_ERROR, "audit_local_failed",
               "peer=%llu tree_size=%llu code=%s msg=%s", (unsigned long long)p->id,
               (unsigned long long)size, lg_err_name(rc),
               lg_log_quote(lg_merkle_errmsg(t), q, sizeof q));
        return;
    }
    a->stats.checks++;
    char lh[HEX_BYTES];
    char ph[HEX_BYTES];
    hex(local, lh);
    hex(root, ph);
    if (memcmp(local, root, LG_PROTO_HASH_BYTES) == 0) {
        lg_log(LG_LOG_DEBUG, "audit_ok", "peer=%llu tree_size=%llu root=%s",
               (unsigned long long)p->id, (unsigned long long)size, lh);
        return;
    }
    a->stats.mismatches++;
    a->stats.last_mismatch_peer = p->id;
    a->stats.last_mismatch_size = size;
    lg_log(LG_LOG_ERROR, "audit_mismatch",
           "peer=%llu address=%s tree_size=%llu local_root=%s peer_root=%s mismatches=%llu "
           "msg=\"the replicas' Merkle roots differ at the same size: one journal or tree is "
           "damaged or was changed (ledger-node verify --data on each)\"",
           (unsigned long long)p->id, p->address, (unsigned long long)size, lh, ph,
           (unsigned long long)a->stats.mismatches);
}

/* Compare peer p's answers with this node's tree (loop thread). */
static void audit_compare(struct lg_audit *a, struct lg_merkle *t, const struct audit_peer *p)
{
    if (p->skipped) {
        a->stats.skipped++;
        char q[LG_ERRMSG_SIZE + 8];
        lg_log(LG_LOG_INFO, "audit_peer_skipped", "peer=%llu address=%s what=%s msg=%s",
               (unsigned long long)p->id, p->address,
               p->rc == LG_OK ? "spot_check" : "round", lg_log_quote(p->msg, q, sizeof q));
    }
    if (p->rc != LG_OK && p->skipped) {
        return;
    }
    if (p->rc != LG_OK) {
        a->stats.errors++;
        char q[LG_ERRMSG_SIZE + 8];
        lg_log(LG_LOG_WARN, "audit_peer_failed", "peer=%llu address=%s code=%s msg=%s",
               (unsigned long long)p->id, p->address, lg_err_name(p->rc),
               lg_log_quote(p->msg, q, sizeof q));
        return;
    }
    if (p->size == 0) {
        return; /* two empty trees: nothing to compare */
    }
    audit_compare_at(a, t, p, p->size, p->root);
    if (p->old_size != 0) {
        audit_compare_at(a, t, p, p->old_size, p->old_root);
    }
}

static void audit_async_cb(uv_async_t *h)
{
    struct lg_audit *a = h->data;
    uv_mutex_lock(&a->mu);
    bool done = a->done;
    a->done = false;
    uv_mutex_unlock(&a->mu);
    if (!done || a->closing) {
        return;
    }
    LG_ASSERT(a->busy);
    a->busy = false;
    struct lg_fsm *fsm = lg_node_stopping(a->node) ? NULL : lg_node_fsm(a->node);
    struct lg_merkle *t = NULL;
    if (fsm == NULL || lg_fsm_merkle(fsm, &t) == LG_ESHUTDOWN) {
        return;
    }
    LG_ASSERT(t != NULL);
    for (uint32_t i = 0; i < a->n_peers; i++) {
        audit_compare(a, t, &a->peers[i]);
    }
}

/* A round: the peers with a known client address, at this node's tree size. */
static void audit_timer_cb(uv_timer_t *h)
{
    struct lg_audit *a = h->data;
    if (a->busy || a->closing || lg_node_stopping(a->node)) {
        return;
    }
    struct lg_fsm *fsm = lg_node_fsm(a->node);
    struct lg_merkle *t = NULL;
    if (fsm == NULL || lg_fsm_merkle(fsm, &t) == LG_ESHUTDOWN || lg_merkle_size(t) == 0) {
        return;
    }
    uint32_t n = lg_node_members(a->node, a->members, LG_AUDIT_PEERS_MAX);
    uint64_t self = lg_node_id(a->node);
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        const struct lg_node_member *m = &a->members[i];
        if (m->id == self || m->client_address[0] == '\0') {
            continue;
        }
        a->peers[k].id = m->id;
        memcpy(a->peers[k].address, m->client_address, sizeof a->peers[k].address);
        a->peers[k].rc = LG_OK;
        k++;
    }
    if (k == 0) {
        return;
    }
    uv_mutex_lock(&a->mu);
    a->n_peers = k;
    a->size = lg_merkle_size(t);
    a->ready = true;
    a->busy = true;
    uv_cond_signal(&a->cond);
    uv_mutex_unlock(&a->mu);
}

static void audit_handle_closed(uv_handle_t *h)
{
    struct lg_audit *a = h->data;
    LG_ASSERT(a->n_handles > 0);
    a->n_handles--;
}

int lg_audit_start(struct lg_audit **out, uv_loop_t *loop, struct lg_node *node,
                   const struct lg_audit_config *cfg, char *errmsg)
{
    LG_PRE(out != NULL && loop != NULL && node != NULL && cfg != NULL);
    *out = NULL;
    struct lg_audit *a = calloc(1, sizeof *a);
    if (a == NULL) {
        return lg_errmsg_printf(errmsg, LG_ENOMEM, "audit: out of memory");
    }
    a->loop = loop;
    a->node = node;
    a->interval_ms = cfg->interval_ms;
    a->timeout_ms = cfg->timeout_ms != 0 ? cfg->timeout_ms : LG_AUDIT_TIMEOUT_MS;
    a->stats.interval_ms = cfg->interval_ms;
    if (uv_mutex_init(&a->mu) != 0 || uv_cond_init(&a->cond) != 0) {
        free(a); /* neither can fail on Linux short of ENOMEM */
        return lg_errmsg_printf(errmsg, LG_ENOMEM, "audit: cannot create a mutex");
    }
    *out = a;
    if (a->interval_ms == 0) {
        lg_log(LG_LOG_INFO, "audit_off", "reason=\"--audit-interval-ms 0\"");
        return LG_OK;
    }
    uv_timer_init(loop, &a->timer);
    a->timer.data = a;
    a->n_handles++;
    int uvrc = uv_async_init(loop, &a->async, audit_async_cb);
    if (uvrc == 0) {
        a->async.data = a;
        a->n_handles++;
        a->async_open = true;
        uvrc = uv_thread_create(&a->thread, audit_thread, a);
        a->thread_started = uvrc == 0;
    }
    if (uvrc != 0) {
        lg_audit_close(a); /* lg_audit_free after the loop ran the close callbacks */
        return lg_errmsg_printf(errmsg, LG_EIO, "audit: %s", uv_strerror(uvrc));
    }
    uv_timer_start(&a->timer, audit_timer_cb, a->interval_ms, a->interval_ms);
    lg_log(LG_LOG_INFO, "audit_started", "interval_ms=%u timeout_ms=%u", a->interval_ms,
           a->timeout_ms);
    return LG_OK;
}

void lg_audit_close(struct lg_audit *a)
{
    if (a == NULL || a->closing) {
        return;
    }
    a->closing = true;
    uv_mutex_lock(&a->mu);
    a->stop = true;
    bool async_open = a->async_open;
    a->async_open = false;
    uv_cond_signal(&a->cond);
    uv_mutex_unlock(&a->mu);
    if (a->n_handles == 0) {
        return; /* the audit was off */
    }
    uv_timer_stop(&a->timer);
    uv_close((uv_handle_t *)&a->timer, audit_handle_closed);
    if (async_open) {
        uv_close((uv_handle_t *)&a->async, audit_handle_closed);
    }
}

void lg_audit_free(struct lg_audit *a)
{
    if (a == NULL) {
        return;
    }
    LG_PRE(a->n_handles == 0);
    uv_mutex_lock(&a->mu);
    a->stop = true;
    uv_cond_signal(&a->cond);
    uv_mutex_unlock(&a->mu);
    if (a->thread_started) {
        uv_thread_join(&a->thread);
    }
    uv_cond_destroy(&a->cond);
    uv_mutex_destroy(&a->mu);
    free(a);
}

void lg_audit_stats(void *audit, struct lg_proto_audit *out)
{
    const struct lg_audit *a = audit;
    *out = a->stats;
}

bool lg_audit_metrics(const struct lg_audit *a, struct lg_buf *out)
{
    static const char *const names[] = {"checks", "mismatches", "errors", "skipped"};
    static const char *const helps[] = {
        "Peer Merkle roots compared with this node's by the cross-replica audit.",
        "Peer Merkle roots that differed from this node's at the same tree size.",
        "Peers the audit could not ask or whose answer did not check, and local failures.",
        "Peer checks skipped because the peer answered unavailable (catch-up gap)."};
    const uint64_t values[] = {a->stats.checks, a->stats.mismatches, a->stats.errors,
                               a->stats.skipped};
    for (size_t i = 0; i < 4; i++) {
        char text[512];
        int n = snprintf(text, sizeof text,
                         "# HELP ledger_audit_%s_total %s\n# TYPE ledger_audit_%s_total "
                         "counter\nledger_audit_%s_total %llu\n",
                         names[i], helps[i], names[i], names[i],
                         (unsigned long long)values[i]);
        LG_ASSERT(n > 0 && (size_t)n < sizeof text);
        if (!lg_buf_append(out, text, (size_t)n)) {
            return false;
        }
    }
    return true;
}

int lg_audit_key_open(const char *data_dir, struct lg_sign_key **out, char *errmsg)
{
    char path[4096];
    int w = snprintf(path, sizeof path, "%s/%s", data_dir, LG_SIGN_KEY_FILE);
    if (w < 0 || (size_t)w >= sizeof path) {
        return lg_errmsg_printf(errmsg, LG_EINVAL, "node key: data directory path too long");
    }
    bool created = false;
    int rc = lg_sign_key_open(out, path, true, &created, errmsg);
    if (rc != LG_OK) {
        return lg_errmsg_wrap(errmsg, rc, "node key %s", path);
    }
    uint8_t pub[LG_SIGN_PUBLIC_KEY_BYTES];
    char pub_hex[2u * LG_SIGN_PUBLIC_KEY_BYTES + 1u];
    lg_sign_public_key(*out, pub);
    lg_cmd_hex(pub, LG_SIGN_PUBLIC_KEY_BYTES, pub_hex);
    lg_log(LG_LOG_INFO, "node_key", "path=%s created=%s public_key=%s", path,
           created ? "true" : "false", pub_hex);
    return LG_OK;
}
