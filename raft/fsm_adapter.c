/* fsm_adapter: struct raft_fsm (version 2 or 3) over an lg_fsm, applied on the loop or
 * on a thread of its own; the entry envelope. */
#include "fsm_adapter.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../lib/assert.h"
#include "../lib/journal.h"

/* A byte the batch decoder can never accept (msgpack's "never used" 0xc1): fed to the
 * FSM for an entry whose envelope is invalid, so that the FSM consumes the index with a
 * deterministic rejection like any malformed batch. */
static const uint8_t never_a_batch[1] = {0xc1};

LG_STATIC_ASSERT(LG_RAFT_ENTRY_HEADER_BYTES % LG_RAFT_ENTRY_ALIGN == 0,
                 "the header keeps the payload aligned");
LG_STATIC_ASSERT(LG_RAFT_ENTRY_PAYLOAD_MAX <= UINT32_MAX - LG_RAFT_ENTRY_ALIGN,
                 "payload length fits the u32 header field with its padding");

/* Default fatal hook: say why on stderr and leave; the supervisor restarts the node,
 * which recovers from its journal and the Raft log (DESIGN §7: disk errors are fatal). */
static void fatal_default(void *arg, int code, const char *what)
{
    (void)arg;
    fprintf(stderr, "ledger-node: fatal: %s: %s (%s)\n", what, lg_err_message(code),
            lg_err_name(code));
    fflush(stderr);
    _exit(LG_RAFT_EXIT_FATAL);
}

/* Report an unrecoverable condition through the hook; if the hook returns (tests), the
 * adapter stops applying. */
static void adapter_fatal(struct lg_raft_fsm *a, int code, const char *what)
{
    LG_PRE(code != LG_OK);
    lg_errmsg_printf(a->errmsg, code, "%s: %s", what, lg_fsm_errmsg(a->ledger));
    a->failed = true;
    a->fatal(a->fatal_arg, code, a->errmsg);
}

/* Fill a one-result slot with a rejection and point out's results at it. */
static void set_own_result(struct lg_raft_result *out, struct lg_cmd_result *r,
                           uint64_t index, int code, const char *msg)
{
    memset(r, 0, sizeof *r);
    r->code = code;
    r->raft_index = index;
    size_t n = strnlen(msg, sizeof r->message - 1u);
    memcpy(r->message, msg, n); /* truncated to the result's message size */
    r->message[n] = '\0';
    out->results = r;
    out->n_results = 1;
}

/* Index of the entry being applied: libraft advances last_applied after apply returns,
 * in 0.15.0 and later (c-raft §4). */
static uint64_t entry_index(const struct lg_raft_fsm *a)
{
    LG_PRE(a->raft != NULL);
    return (uint64_t)raft_last_applied(a->raft) + 1u;
}

/* Apply one entry to the FSM (the loop, or the apply thread which owns the FSM then):
 * decode the envelope, apply the batch, fill out (results in the FSM's memory or in
 * slot). gap_ok: the gap hook may be called (loop thread only). */
static void apply_entry(struct lg_raft_fsm *a, uint64_t index, const void *base, size_t len,
                        struct lg_raft_result *out, struct lg_cmd_result *slot, bool gap_ok)
{
    if (a->failed) {
        set_own_result(out, slot, index, LG_EUNAVAIL, "node failed: not applying");
        return;
    }
    const void *payload;
    size_t payload_len;
    char msg[LG_ERRMSG_SIZE];
    int rc = lg_raft_entry_decode(base, len, &payload, &payload_len, msg);
    if (rc != LG_OK) {
        out->malformed = true;
        payload = never_a_batch;
        payload_len = sizeof never_a_batch;
    }
    const struct lg_cmd_result *res = NULL;
    uint32_t n = 0;
    int frc = lg_fsm_apply(a->ledger, index, payload, payload_len, &res, &n);
    if (frc == LG_EUNAVAIL && gap_ok && a->gap != NULL && lg_fsm_journal_gap(a->ledger) > 0) {
        a->gap(a->gap_arg, a->ledger);
        frc = lg_fsm_apply(a->ledger, index, payload, payload_len, &res, &n);
    }
    if (frc != LG_OK) {
        adapter_fatal(a, frc, "apply");
        set_own_result(out, slot, index, LG_EUNAVAIL, "node failed: not applying");
        return;
    }
    out->results = res;
    out->n_results = n;
    if (rc != LG_OK && n > 0) {
        /* The FSM consumed the index; the client sees the envelope's reason. */
        set_own_result(out, slot, index, LG_EBADREQ, msg);
    }
}

/* ---- threaded apply ---- */

/* One entry handed to the apply thread: a copy of its bytes, then its results. */
struct lg_raft_ticket {
    struct lg_raft_ticket *next;
    struct lg_raft_result result; /* what libraft passes on: {index, ticket = this} */
    struct lg_raft_result done;   /* written by the thread: the results, no ticket */
    struct lg_cmd_result own;     /* a one-result answer (malformed entry, failed node) */
    struct lg_cmd_result *copy;   /* the results, copied out of the FSM (keep) */
    bool keep;                    /* proposed by this node as leader: keep the results */
    lg_raft_result_cb cb;
    void *cb_arg;
    size_t len;
    uint8_t bytes[];
};

static void ticket_free(struct lg_raft_ticket *t)
{
    free(t->copy);
    free(t);
}

static void view_fill(struct lg_raft_fsm *a, struct lg_raft_fsm_view *v)
{
    v->applied_index = lg_fsm_applied_index(a->ledger);
    v->last_seq = lg_fsm_last_seq(a->ledger);
    v->journal_seq = lg_journal_last_seq(lg_fsm_journal(a->ledger));
    v->journal_gap = lg_fsm_journal_gap(a->ledger);
    lg_fsm_chain_head(a->ledger, v->chain_head);
}

/* The apply thread: entries in log order until stop with nothing left. */
static void apply_thread(void *arg)
{
    struct lg_raft_fsm *a = arg;
    uv_mutex_lock(&a->mu);
    for (;;) {
        while (a->todo == NULL && !a->stop) {
            uv_cond_wait(&a->work, &a->mu);
        }
        struct lg_raft_ticket *t = a->todo;
        if (t == NULL) {
            break; /* stop, and nothing left */
        }
        a->todo = t->next;
        if (a->todo == NULL) {
            a->todo_tail = NULL;
        }
        a->todo_n--;
        a->todo_bytes -= t->len;
        a->busy = true;
        uv_mutex_unlock(&a->mu);

        /* t->result is read by the loop (apply callback) meanwhile: not written here */
        struct lg_raft_result *r = &t->done;
        *r = (struct lg_raft_result){.index = t->result.index};
        apply_entry(a, r->index, t->bytes, t->len, r, &t->own, false);
        if (t->keep && r->n_results > 0 && r->results != &t->own) {
            t->copy = malloc(r->n_results * sizeof *t->copy);
            if (t->copy != NULL) {
                memcpy(t->copy, r->results, r->n_results * sizeof *t->copy);
                r->results = t->copy;
            } else {
                set_own_result(r, &t->own, r->index, LG_EUNAVAIL,
                               "out of memory for the results: outcome unknown, retry "
                               "with the same reference");
            }
        } else if (!t->keep) {
            r->results = NULL;
            r->n_results = 0;
        }
        struct lg_raft_fsm_view v;
        view_fill(a, &v);

        uv_mutex_lock(&a->mu);
        a->n_malformed += r->malformed ? 1u : 0u;
        a->view = v;
        a->busy = false;
        t->next = NULL;
        if (a->done_tail != NULL) {
            a->done_tail->next = t;
        } else {
            a->done = t;
        }
        a->done_tail = t;
        uv_cond_broadcast(&a->progress);
        uv_async_send(&a->async);
    }
    uv_mutex_unlock(&a->mu);
}

/* Hand the done tickets to their callbacks (loop thread), in log order. */
static void deliver(struct lg_raft_fsm *a)
{
    uv_mutex_lock(&a->mu);
    struct lg_raft_ticket *t = a->done;
    a->done = a->done_tail = NULL;
    uv_mutex_unlock(&a->mu);
    while (t != NULL) {
        struct lg_raft_ticket *next = t->next;
        if (t->cb != NULL) {
            t->cb(t->cb_arg, &t->done);
        }
        ticket_free(t);
        t = next;
    }
}

static void async_cb(uv_async_t *h)
{
    deliver((struct lg_raft_fsm *)((char *)h - offsetof(struct lg_raft_fsm, async)));
}

int lg_raft_fsm_start(struct lg_raft_fsm *a, uv_loop_t *loop)
{
    LG_PRE(a != NULL && loop != NULL && !a->threaded && a->raft != NULL);
    if (uv_mutex_init(&a->mu) != 0) {
        return LG_ENOMEM;
    }
    if (uv_cond_init(&a->work) != 0) {
        uv_mutex_destroy(&a->mu);
        return LG_ENOMEM;
    }
    if (uv_cond_init(&a->progress) != 0) {
        uv_cond_destroy(&a->work);
        uv_mutex_destroy(&a->mu);
        return LG_ENOMEM;
    }
    if (uv_async_init(loop, &a->async, async_cb) != 0) {
        uv_cond_destroy(&a->progress);
        uv_cond_destroy(&a->work);
        uv_mutex_destroy(&a->mu);
        return LG_ENOMEM;
    }
    view_fill(a, &a->view);
    a->gap_open = a->view.journal_gap > 0;
    a->inline_max = LG_RAFT_APPLY_INLINE_BYTES;
    a->stop = false;
    if (uv_thread_create(&a->thread, apply_thread, a) != 0) {
        uv_close((uv_handle_t *)&a->async, NULL); /* done by the next loop turn */
        uv_cond_destroy(&a->progress);
        uv_cond_destroy(&a->work);
        uv_mutex_destroy(&a->mu);
        return LG_ENOMEM;
    }
    a->threaded = true;
    return LG_OK;
}

void lg_raft_fsm_sync(struct lg_raft_fsm *a)
{
    LG_PRE(a != NULL);
    if (!a->threaded) {
        return;
    }
    uv_mutex_lock(&a->mu);
    while (a->todo != NULL || a->busy) {
        uv_cond_wait(&a->progress, &a->mu);
    }
    uv_mutex_unlock(&a->mu);
}

void lg_raft_fsm_view(struct lg_raft_fsm *a, struct lg_raft_fsm_view *out)
{
    LG_PRE(a != NULL && out != NULL);
    if (!a->threaded) {
        view_fill(a, out);
        out->applied_index = a->raft != NULL ? (uint64_t)raft_last_applied(a->raft)
                                             : out->applied_index;
        return;
    }
    uv_mutex_lock(&a->mu);
    *out = a->view;
    bool idle = a->todo == NULL && !a->busy;
    uv_mutex_unlock(&a->mu);
    if (idle) {
        /* Barrier and configuration entries never reach the FSM: caught up, the FSM is at
         * libraft's last_applied. */
        out->applied_index = (uint64_t)raft_last_applied(a->raft);
    }
}

void lg_raft_result_defer(const struct lg_raft_result *res, lg_raft_result_cb cb, void *arg)
{
    LG_PRE(res != NULL && res->ticket != NULL && cb != NULL);
    /* Only the loop delivers, and not before this callback returns to libraft: the ticket
     * is still queued, being applied, or done and waiting for the async callback. The
     * thread does not read cb. */
    res->ticket->cb = cb;
    res->ticket->cb_arg = arg;
}

bool lg_raft_fsm_stop(struct lg_raft_fsm *a, uv_close_cb close_cb, void *close_data)
{
    LG_PRE(a != NULL);
    if (!a->threaded) {
        return false;
    }
    uv_mutex_lock(&a->mu);
    a->stop = true;
    uv_cond_signal(&a->work);
    uv_mutex_unlock(&a->mu);
    uv_thread_join(&a->thread);
    a->threaded = false;
    deliver(a);
    a->async.data = close_data;
    uv_close((uv_handle_t *)&a->async, close_cb);
    uv_cond_destroy(&a->progress);
    uv_cond_destroy(&a->work);
    uv_mutex_destroy(&a->mu);
    return true;
}

/* Hand an entry to the apply thread; false when out of memory (apply it inline). */
static bool apply_later(struct lg_raft_fsm *a, uint64_t index, const struct raft_buffer *buf,
                        void **result)
{
    struct lg_raft_ticket *t = malloc(sizeof *t + buf->len);
    if (t == NULL) {
        return false;
    }
    memset(t, 0, sizeof *t);
    memcpy(t->bytes, buf->base, buf->len);
    t->len = buf->len;
    t->result.index = index;
    t->result.ticket = t;
    t->keep = raft_state(a->raft) == RAFT_LEADER;
    *result = &t->result;
    uv_mutex_lock(&a->mu);
    while (a->todo_n >= LG_RAFT_APPLY_QUEUE_MAX ||
           (a->todo_n > 0 && a->todo_bytes + t->len > LG_RAFT_APPLY_QUEUE_BYTES)) {
        a->n_waits++;
        uv_cond_wait(&a->progress, &a->mu);
    }
    if (a->todo_tail != NULL) {
        a->todo_tail->next = t;
    } else {
        a->todo = t;
    }
    a->todo_tail = t;
    a->todo_n++;
    a->todo_bytes += t->len;
    uv_cond_signal(&a->work);
    uv_mutex_unlock(&a->mu);
    return true;
}

/* A small entry while the thread has nothing queued, running or undelivered: applied
 * inline, so one write at a time does not pay two thread wake-ups (the order of the
 * answers stays the log's). */
static bool thread_idle(struct lg_raft_fsm *a, size_t len)
{
    if (len > a->inline_max) {
        return false;
    }
    uv_mutex_lock(&a->mu);
    bool idle = a->todo == NULL && !a->busy && a->done == NULL;
    uv_mutex_unlock(&a->mu);
    return idle;
}

/* raft_fsm.apply: apply the entry (or hand it to the apply thread); never fail towards
 * libraft. */
static int adapter_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    struct lg_raft_fsm *a = fsm->data;
    LG_PRE(a != NULL && buf != NULL && result != NULL);
    uint64_t index = entry_index(a);
    a->n_entries++;
    a->entry_bytes += buf->len;
    if (a->threaded && !a->gap_open && !thread_idle(a, buf->len) &&
        apply_later(a, index, buf, result)) {
        return 0;
    }
    lg_raft_fsm_sync(a);
    a->result = (struct lg_raft_result){.index = index};
    *result = &a->result;
    apply_entry(a, index, buf->base, buf->len, &a->result, &a->envelope_result, true);
    if (a->result.malformed) {
        a->n_malformed++;
    }
    if (a->threaded) {
        view_fill(a, &a->view); /* the thread is idle */
        a->gap_open = a->view.journal_gap > 0;
    }
    return 0;
}

static uint64_t since_us(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (uint64_t)(t1.tv_sec - t0->tv_sec) * 1000000u +
           (uint64_t)(t1.tv_nsec - t0->tv_nsec + 1000000000L) / 1000u - 1000000u;
}

/* raft_fsm.snapshot (loop thread): the state as parts (lg_fsm_snapshot_parts): the
 * reference index is borrowed, not copied, so this costs the journal and tree syncs plus
 * the accounts' encoding, whatever the number of references. The trailing hash is
 * computed here (fsm v2) or by adapter_snapshot_async on a pool thread (v3,
 * lg_raft_fsm_set_async). Returns 0 or RAFT_BUSY only (c-raft §4: other codes can turn a
 * follower unavailable). */
static int adapter_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n)
{
    struct lg_raft_fsm *a = fsm->data;
    LG_PRE(a != NULL && bufs != NULL && n != NULL);
    *bufs = NULL;
    *n = 0;
    lg_raft_fsm_sync(a); /* the snapshot is at raft_last_applied: every entry applied */
    if (a->failed) {
        return RAFT_BUSY;
    }
    LG_ASSERT(!a->snap_lent); /* libraft takes one snapshot at a time */
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = lg_fsm_snapshot_parts(a->ledger, &a->snap);
    if (rc != LG_OK) {
        if (rc != LG_ENOMEM) {
            adapter_fatal(a, rc, "snapshot (journal sync)");
        }
        return RAFT_BUSY;
    }
    LG_ASSERT(a->snap.n_parts > 0 && a->snap.n_parts <= UINT_MAX);
    struct raft_buffer *arr = malloc(a->snap.n_parts * sizeof *arr);
    if (arr == NULL) {
        lg_fsm_snap_release(&a->snap);
        return RAFT_BUSY;
    }
    for (size_t i = 0; i < a->snap.n_parts; i++) {
        /* lent to raft until finalize, read-only (raft_buffer has no const) */
        arr[i].base = (void *)(uintptr_t)a->snap.parts[i].base;
        arr[i].len = a->snap.parts[i].len;
    }
    if (fsm->version < 3) {
        lg_fsm_snap_seal(&a->snap);
    }
    a->snap_lent = true;
    *bufs = arr;
    *n = (unsigned)a->snap.n_parts;
    a->snapshot_us = since_us(&t0);
    a->snapshot_bytes = a->snap.bytes;
    a->snapshot_index = a->raft != NULL ? raft_last_applied(a->raft) : 0;
    a->snapshot_seq = lg_fsm_last_seq(a->ledger);
    a->seal_us_pending = 0;
    return 0;
}

/* raft_fsm.snapshot_async (pool thread, v3): seal the parts adapter_snapshot lent. Reads
 * only bytes no apply changes (lg_fsm_snapshot_parts), writes only the hash part; the
 * time taken is published by finalize, on the loop thread. */
static int adapter_snapshot_async(struct raft_fsm *fsm, struct raft_buffer *bufs[],
                                  unsigned *n)
{
    struct lg_raft_fsm *a = fsm->data;
    LG_PRE(a != NULL && bufs != NULL && n != NULL && a->snap_lent);
    LG_ASSERT(*n == a->snap.n_parts);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    lg_fsm_snap_seal(&a->snap);
    a->seal_us_pending = since_us(&t0);
    return 0;
}

/* raft_fsm.snapshot_finalize (loop thread): take back what adapter_snapshot lent (called
 * after the write, whether it worked or not, or when the take failed): the array is
 * freed, the parts released (their memory kept for the next snapshot). */
static int adapter_snapshot_finalize(struct raft_fsm *fsm, struct raft_buffer *bufs[],
                                     unsigned *n)
{
    struct lg_raft_fsm *a = fsm->data;
    LG_PRE(a != NULL && bufs != NULL && n != NULL);
    if (*bufs != NULL) {
        LG_ASSERT(a->snap_lent && *n == a->snap.n_parts);
        free(*bufs);
    }
    if (a->snap_lent) {
        lg_fsm_snap_release(&a->snap);
        a->snap_lent = false;
        a->seal_us = a->seal_us_pending;
        a->n_snapshots++;
    }
    *bufs = NULL;
    *n = 0;
    return 0;
}

/* raft_fsm.restore: replace the state; on success the buffer is ours (raft_free it). A
 * failed restore is fatal: 0.15.0 does not retry it until a restart (c-raft §4). */
static int adapter_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    struct lg_raft_fsm *a = fsm->data;
    LG_PRE(a != NULL && buf != NULL);
    lg_raft_fsm_sync(a);
    if (a->failed) {
        return RAFT_SHUTDOWN; /* raft frees buf */
    }
    int rc = lg_fsm_restore(a->ledger, buf->base, buf->len);
    if (rc != LG_OK) {
        adapter_fatal(a, rc, "restore");
        return RAFT_CORRUPT; /* only reached when a test hook returns; raft frees buf */
    }
    raft_free(buf->base);
    buf->base = NULL;
    a->n_restores++;
    if (a->gap != NULL && lg_fsm_journal_gap(a->ledger) > 0) {
        a->gap(a->gap_arg, a->ledger);
    }
    if (a->threaded) {
        view_fill(a, &a->view); /* the thread is idle */
        a->gap_open = a->view.journal_gap > 0;
    }
    return 0;
}

static unsigned log_entries(uint64_t mean_bytes, unsigned cap)
{
    uint64_t n = mean_bytes == 0 ? cap : LG_RAFT_LOG_BYTES_BUDGET / mean_bytes;
    n = n < LG_RAFT_LOG_ENTRIES_MIN ? LG_RAFT_LOG_ENTRIES_MIN : n;
    n = n > cap ? cap : n;
    return (unsigned)n;
}

void lg_raft_log_limits(uint64_t mean_bytes, unsigned max_threshold, unsigned max_trailing,
                        unsigned *threshold, unsigned *trailing)
{
    LG_PRE(threshold != NULL && trailing != NULL);
    *threshold = log_entries(mean_bytes, max_threshold);
    *trailing = log_entries(mean_bytes, max_trailing);
}

void lg_raft_fsm_init(struct lg_raft_fsm *a, struct lg_fsm *ledger)
{
    LG_PRE(a != NULL && ledger != NULL);
    memset(a, 0, sizeof *a);
    a->ledger = ledger;
    a->fsm.version = 2;
    a->fsm.data = a;
    a->fsm.apply = adapter_apply;
    a->fsm.snapshot = adapter_snapshot;
    a->fsm.snapshot_finalize = adapter_snapshot_finalize;
    a->fsm.restore = adapter_restore;
    a->fatal = fatal_default;
    lg_fsm_snap_init(&a->snap);
}

void lg_raft_fsm_set_async(struct lg_raft_fsm *a)
{
    LG_PRE(a != NULL && a->raft == NULL);
    a->fsm.version = 3;
    a->fsm.snapshot_async = adapter_snapshot_async;
}

void lg_raft_fsm_attach(struct lg_raft_fsm *a, struct raft *r)
{
    LG_PRE(a != NULL && r != NULL);
    a->raft = r;
}

void lg_raft_fsm_set_fatal(struct lg_raft_fsm *a, lg_raft_fatal_cb cb, void *arg)
{
    LG_PRE(a != NULL);
    a->fatal = cb != NULL ? cb : fatal_default;
    a->fatal_arg = cb != NULL ? arg : NULL;
}

void lg_raft_fsm_set_gap(struct lg_raft_fsm *a, lg_raft_gap_cb cb, void *arg)
{
    LG_PRE(a != NULL);
    a->gap = cb;
    a->gap_arg = arg;
}

void lg_raft_fsm_close(struct lg_raft_fsm *a)
{
    if (a != NULL) {
        LG_ASSERT(!a->threaded); /* lg_raft_fsm_stop first */
        lg_fsm_snap_close(&a->snap); /* raft is closed: nothing reads it any more */
        a->snap_lent = false;
        a->raft = NULL;
    }
}

/* ---- entry envelope ---- */

/* Bytes of an entry carrying payload_len bytes (header + payload, rounded up to 8). */
static size_t entry_bytes(size_t payload_len)
{
    size_t n = LG_RAFT_ENTRY_HEADER_BYTES + payload_len;
    return (n + LG_RAFT_ENTRY_ALIGN - 1u) / LG_RAFT_ENTRY_ALIGN * LG_RAFT_ENTRY_ALIGN;
}

int lg_raft_entry_wrap(const void *payload, size_t len, struct raft_buffer *out)
{
    LG_PRE(out != NULL);
    LG_PRE(payload != NULL || len == 0);
    out->base = NULL;
    out->len = 0;
    if (len > LG_RAFT_ENTRY_PAYLOAD_MAX) {
        return LG_ETOOLARGE;
    }
    size_t total = entry_bytes(len);
    uint8_t *p = raft_malloc(total);
    if (p == NULL) {
        return LG_ENOMEM;
    }
    uint32_t l32 = (uint32_t)len;
    p[0] = LG_RAFT_ENTRY_MAGIC0;
    p[1] = LG_RAFT_ENTRY_MAGIC1;
    p[2] = (uint8_t)LG_RAFT_ENTRY_VERSION;
    p[3] = 0;
    for (unsigned i = 0; i < 4; i++) {
        p[4 + i] = (uint8_t)(l32 >> (8u * i));
    }
    if (len > 0) {
        memcpy(p + LG_RAFT_ENTRY_HEADER_BYTES, payload, len);
    }
    memset(p + LG_RAFT_ENTRY_HEADER_BYTES + len, 0, total - LG_RAFT_ENTRY_HEADER_BYTES - len);
    out->base = p;
    out->len = total;
    LG_POST(out->len % LG_RAFT_ENTRY_ALIGN == 0);
    return LG_OK;
}

int lg_raft_entry_encode(const struct lg_batch *batch, struct raft_buffer *out, char *errmsg)
{
    LG_PRE(batch != NULL && out != NULL);
    char local[LG_ERRMSG_SIZE];
    char *msg = errmsg != NULL ? errmsg : local;
    msg[0] = '\0';
    out->base = NULL;
    out->len = 0;
    struct lg_buf b;
    lg_buf_init(&b);
    /* every command passed lg_cmd_check in the queue or the server's decoder */
    int rc = lg_cmd_encode_batch_valid(batch, &b, msg);
    if (rc == LG_OK) {
        rc = lg_raft_entry_wrap(b.data, b.len, out);
        if (rc != LG_OK) {
            lg_errmsg_printf(msg, rc, "entry of %zu bytes", b.len);
        }
    }
    lg_buf_close(&b);
    return rc;
}

int lg_raft_entry_decode(const void *buf, size_t len, const void **payload,
                         size_t *payload_len, char *errmsg)
{
    LG_PRE(payload != NULL && payload_len != NULL);
    char local[LG_ERRMSG_SIZE];
    char *msg = errmsg != NULL ? errmsg : local;
    const uint8_t *p = buf;
    *payload = NULL;
    *payload_len = 0;
    if (p == NULL || len < LG_RAFT_ENTRY_HEADER_BYTES) {
        return lg_errmsg_printf(msg, LG_EBADREQ, "entry: %zu bytes, shorter than its header",
                                len);
    }
    if (len % LG_RAFT_ENTRY_ALIGN != 0) {
        return lg_errmsg_printf(msg, LG_EBADREQ, "entry: %zu bytes, not a multiple of %u",
                                len, LG_RAFT_ENTRY_ALIGN);
    }
    if (p[0] != LG_RAFT_ENTRY_MAGIC0 || p[1] != LG_RAFT_ENTRY_MAGIC1) {
        return lg_errmsg_printf(msg, LG_EBADREQ, "entry: bad magic 0x%02x%02x", p[0], p[1]);
    }
    if (p[2] != LG_RAFT_ENTRY_VERSION || p[3] != 0) {
        return lg_errmsg_printf(msg, LG_EBADREQ, "entry: unknown version %u / flags %u", p[2],
                                p[3]);
    }
    uint32_t l32 = (uint32_t)p[4] | ((uint32_t)p[5] << 8) | ((uint32_t)p[6] << 16) |
                   ((uint32_t)p[7] << 24);
    if (l32 > LG_RAFT_ENTRY_PAYLOAD_MAX || entry_bytes(l32) != len) {
        return lg_errmsg_printf(msg, LG_EBADREQ,
                                "entry: payload length %u does not match %zu bytes", l32, len);
    }
    for (size_t i = LG_RAFT_ENTRY_HEADER_BYTES + l32; i < len; i++) {
        if (p[i] != 0) {
            return lg_errmsg_printf(msg, LG_EBADREQ, "entry: non-zero padding at %zu", i);
        }
    }
    *payload = p + LG_RAFT_ENTRY_HEADER_BYTES;
    *payload_len = l32;
    return LG_OK;
}

int lg_raft_err(int raft_code)
{
    switch (raft_code) {
        case 0:
            return LG_OK;
        case RAFT_NOTLEADER:
            return LG_ENOTLEADER;
        case RAFT_LEADERSHIPLOST:
        case RAFT_NOCONNECTION:
        case RAFT_BUSY:
        case RAFT_CANTCHANGE:
            return LG_EUNAVAIL;
        case RAFT_SHUTDOWN:
        case RAFT_CANCELED:
            return LG_ESHUTDOWN;
        case RAFT_NOMEM:
            return LG_ENOMEM;
        case RAFT_NOSPACE:
            return LG_ENOSPC;
        case RAFT_CORRUPT:
            return LG_ECORRUPT;
        case RAFT_TOOBIG:
            return LG_ETOOLARGE;
        case RAFT_NOTFOUND:
            return LG_ENOTFOUND;
        case RAFT_IOERR:
            return LG_EIO;
        default:
            return LG_EINVAL;
    }
}
