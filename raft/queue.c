/* queue: leader write path (validate, queue, stamp, group commit, answer). */
#include "queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/assert.h"

/* One proposed entry: its apply request and the requests it carries, in order. */
struct inflight {
    struct raft_apply req;
    struct lg_raft_queue *q;
    uint32_t n;
    struct lg_raft_submit *reqs[]; /* n */
};

/* Upper bound of a command's encoded size: every string with a 5-byte header, every
 * integer 9 bytes, every amount 18 (bin8 of 16), map keys about 12 bytes each. */
static size_t estimate_bytes(const struct lg_cmd *cmd)
{
    size_t n = 96;
    switch (cmd->kind) {
        case LG_CMD_SUBMIT: {
            const struct lg_cmd_submit *s = &cmd->u.submit;
            n += s->ledger.len + s->reference.len + 10u;
            for (uint32_t i = 0; i < s->n_postings; i++) {
                const struct lg_posting *p = &s->postings[i];
                n += p->source.len + p->destination.len + p->asset.len + 40u;
            }
            for (uint32_t i = 0; i < s->n_metadata; i++) {
                n += s->metadata[i].key.len + s->metadata[i].value.len + 10u;
            }
            for (uint32_t i = 0; i < s->n_conditions; i++) {
                const struct lg_condition *c = &s->conditions[i];
                n += c->account.len + c->asset.len + 48u;
            }
            break;
        }
        case LG_CMD_SET_METADATA: {
            const struct lg_cmd_set_metadata *m = &cmd->u.set_metadata;
            n += m->ledger.len + m->address.len;
            for (uint32_t i = 0; i < m->n_metadata; i++) {
                n += m->metadata[i].key.len + m->metadata[i].value.len + 10u;
            }
            break;
        }
        default: {
            const struct lg_cmd_set_limit *l = &cmd->u.set_limit;
            n += l->ledger.len + l->address.len + l->asset.len + 40u;
            break;
        }
    }
    return n;
}

/* Answer one request with a synthesized result. */
static void answer(struct lg_raft_queue *q, struct lg_raft_submit *req, int code,
                   const char *msg)
{
    LG_PRE(code != LG_OK);
    memset(&q->answer, 0, sizeof q->answer);
    q->answer.code = code;
    size_t n = strnlen(msg, sizeof q->answer.message - 1u);
    memcpy(q->answer.message, msg, n);
    q->answer.message[n] = '\0';
    req->cb(req, &q->answer);
}

/* Answer every queued request (none proposed) with code. */
static void fail_queued(struct lg_raft_queue *q, int code, const char *msg)
{
    while (q->head != NULL) {
        struct lg_raft_submit *req = q->head;
        q->head = req->next;
        q->n_queued--;
        q->bytes_queued -= req->bytes;
        req->next = NULL;
        answer(q, req, code, msg);
    }
    q->tail = NULL;
    LG_POST(q->n_queued == 0 && q->bytes_queued == 0);
}

int lg_raft_queue_init(struct lg_raft_queue *q, struct raft *r, struct lg_fsm *fsm,
                       const struct lg_raft_queue_options *opts)
{
    LG_PRE(q != NULL && r != NULL && fsm != NULL && opts != NULL);
    memset(q, 0, sizeof *q);
    q->o = *opts;
    if (q->o.cmds_max == 0) {
        q->o.cmds_max = LG_RAFT_QUEUE_CMDS_DEFAULT;
    }
    if (q->o.bytes_max == 0) {
        q->o.bytes_max = LG_RAFT_QUEUE_BYTES_DEFAULT;
    }
    if (q->o.inflight_max == 0) {
        q->o.inflight_max = LG_RAFT_QUEUE_INFLIGHT_DEFAULT;
    }
    if (q->o.depth_max == 0) {
        q->o.depth_max = LG_RAFT_QUEUE_DEPTH_DEFAULT;
    }
    if (q->o.cmds_max > LG_BATCH_COMMANDS_MAX || q->o.bytes_max > LG_RAFT_ENTRY_PAYLOAD_MAX ||
        q->o.now_us == NULL) {
        return LG_EINVAL;
    }
    q->scratch = calloc(q->o.cmds_max, sizeof *q->scratch);
    if (q->scratch == NULL) {
        return LG_ENOMEM;
    }
    q->raft = r;
    q->fsm = fsm;
    q->state = LG_RAFT_QUEUE_FOLLOWER;
    return LG_OK;
}

void lg_raft_queue_close(struct lg_raft_queue *q)
{
    if (q == NULL) {
        return;
    }
    fail_queued(q, LG_ESHUTDOWN, "shutting down: not proposed, retry on another node");
    free(q->scratch);
    q->scratch = NULL;
}

/* The barrier issued on becoming leader has applied here: every entry of earlier terms is
 * applied, so the FSM's last timestamp is the floor for ours (DESIGN §7). */
static void barrier_cb(struct raft_barrier *req, int status)
{
    struct lg_raft_queue *q = req->data;
    LG_PRE(q != NULL && q->barrier_pending);
    q->barrier_pending = false;
    if (status == 0 && q->state == LG_RAFT_QUEUE_BARRIER &&
        raft_state(q->raft) == RAFT_LEADER && q->raft->current_term == q->term) {
        q->state = LG_RAFT_QUEUE_READY;
        if (q->o.adapter != NULL) {
            lg_raft_fsm_sync(q->o.adapter);
        }
        uint64_t ts = lg_fsm_last_timestamp(q->fsm);
        q->last_ts = ts > q->last_ts ? ts : q->last_ts;
        q->n_barriers++;
    } else if (q->state == LG_RAFT_QUEUE_BARRIER) {
        q->state = LG_RAFT_QUEUE_FOLLOWER; /* the next tick tries again if still leader */
    }
}

void lg_raft_queue_tick(struct lg_raft_queue *q)
{
    LG_PRE(q != NULL && q->scratch != NULL);
    bool leader = raft_state(q->raft) == RAFT_LEADER;
    if (!leader) {
        q->state = LG_RAFT_QUEUE_FOLLOWER;
        fail_queued(q, LG_ENOTLEADER, "not the leader (leadership changed before proposing)");
        return;
    }
    uint64_t term = q->raft->current_term;
    if (q->state != LG_RAFT_QUEUE_FOLLOWER && q->term == term) {
        return;
    }
    if (q->barrier_pending) {
        return; /* the previous term's barrier has not been answered yet */
    }
    q->state = LG_RAFT_QUEUE_BARRIER;
    q->term = term;
    q->barrier.data = q;
    q->barrier_pending = true;
    int rv = raft_barrier(q->raft, &q->barrier, barrier_cb);
    if (rv != 0) {
        q->barrier_pending = false;
        q->state = LG_RAFT_QUEUE_FOLLOWER;
    }
}

int lg_raft_queue_submit(struct lg_raft_queue *q, struct lg_raft_submit *req, char *errmsg)
{
    LG_PRE(q != NULL && req != NULL && req->cb != NULL);
    char local[LG_ERRMSG_SIZE];
    char *msg = errmsg != NULL ? errmsg : local;
    msg[0] = '\0';
    if (raft_state(q->raft) != RAFT_LEADER) {
        return lg_errmsg_printf(msg, LG_ENOTLEADER, "not the leader");
    }
    if (!req->checked) {
        int rc = lg_cmd_check(&req->cmd, msg);
        if (rc != LG_OK) {
            return rc;
        }
    }
    LG_DEBUG_ASSERT(lg_cmd_check(&req->cmd, NULL) == LG_OK);
    if (q->n_queued >= q->o.depth_max) {
        return lg_errmsg_printf(msg, LG_EUNAVAIL, "write queue full (%u requests)",
                                q->n_queued);
    }
    req->next = NULL;
    req->bytes = estimate_bytes(&req->cmd);
    if (q->tail != NULL) {
        q->tail->next = req;
    } else {
        q->head = req;
    }
    q->tail = req;
    q->n_queued++;
    q->bytes_queued += req->bytes;
    /* No flush here: a failed proposal answers its requests, and this one must not be
     * answered inside its own submit. The owner flushes once per loop turn, which still
     * cuts entries at cmds_max / bytes_max. */
    return LG_OK;
}

/* Answer an entry's requests from its results (res NULL: from status). */
static void answer_entry(struct inflight *e, int status, const struct lg_raft_result *res)
{
    struct lg_raft_queue *q = e->q;
    for (uint32_t i = 0; i < e->n; i++) {
        struct lg_raft_submit *s = e->reqs[i];
        if (res != NULL && res->n_results == e->n) {
            s->cb(s, &res->results[i]);
        } else if (res != NULL && res->n_results == 1 && res->malformed) {
            s->cb(s, &res->results[0]);
        } else if (status == RAFT_NOTLEADER) {
            answer(q, s, LG_ENOTLEADER, "not the leader");
        } else if (status == 0 || status == RAFT_LEADERSHIPLOST) {
            answer(q, s, LG_EUNAVAIL,
                   "leadership lost: outcome unknown, retry with the same reference");
        } else {
            answer(q, s, LG_EUNAVAIL, raft_strerror(status));
        }
    }
    free(e);
}

/* The apply thread applied the entry (lg_raft_result_defer). */
static void deferred_cb(void *arg, const struct lg_raft_result *res)
{
    struct inflight *e = arg;
    LG_PRE(e->q->n_deferred > 0);
    e->q->n_deferred--;
    answer_entry(e, 0, res);
}

/* apply callback of one entry: answer its requests from the FSM's results. */
static void apply_cb(struct raft_apply *req, int status, void *result)
{
    struct inflight *e = req->data;
    struct lg_raft_queue *q = e->q;
    LG_PRE(q->n_inflight > 0);
    q->n_inflight--;
    const struct lg_raft_result *res = status == 0 ? result : NULL;
    if (res != NULL && res->ticket != NULL) {
        lg_raft_result_defer(res, deferred_cb, e);
        q->n_deferred++;
        return;
    }
    answer_entry(e, status, res);
}

/* Take up to cmds_max requests / bytes_max bytes off the queue and propose them. */
static void flush_one(struct lg_raft_queue *q)
{
    uint32_t n = 0;
    size_t bytes = 0;
    for (struct lg_raft_submit *s = q->head; s != NULL && n < q->o.cmds_max; s = s->next) {
        if (n > 0 && bytes + s->bytes > q->o.bytes_max) {
            break;
        }
        bytes += s->bytes;
        n++;
    }
    LG_ASSERT(n > 0);
    struct inflight *e = malloc(sizeof *e + n * sizeof e->reqs[0]);
    uint64_t now = q->o.now_us(q->o.now_arg);
    for (uint32_t i = 0; i < n; i++) {
        struct lg_raft_submit *s = q->head;
        q->head = s->next;
        q->n_queued--;
        q->bytes_queued -= s->bytes;
        s->next = NULL;
        q->last_ts = now > q->last_ts ? now : q->last_ts + 1u;
        s->cmd.timestamp_us = q->last_ts;
        q->scratch[i] = s->cmd;
        if (e != NULL) {
            e->reqs[i] = s;
        } else {
            answer(q, s, LG_EUNAVAIL, "out of memory");
        }
    }
    if (q->head == NULL) {
        q->tail = NULL;
    }
    if (e == NULL) {
        return;
    }
    e->q = q;
    e->n = n;
    e->req.data = e;
    struct lg_batch batch = {q->scratch, n};
    struct raft_buffer buf;
    char msg[LG_ERRMSG_SIZE];
    int rc = lg_raft_entry_encode(&batch, &buf, msg);
    int rv = 0;
    if (rc == LG_OK) {
        rv = raft_apply(q->raft, &e->req, &buf, 1, apply_cb);
        if (rv != 0) {
            raft_free(buf.base);
            rc = lg_raft_err(rv);
            lg_errmsg_printf(msg, rc, "raft_apply: %s", raft_strerror(rv));
        }
    }
    if (rc != LG_OK) {
        for (uint32_t i = 0; i < n; i++) {
            answer(q, e->reqs[i], rc, msg);
        }
        free(e);
        if (rv == RAFT_NOTLEADER) {
            q->state = LG_RAFT_QUEUE_FOLLOWER;
        }
        return;
    }
    q->n_inflight++;
    q->n_entries++;
}

void lg_raft_queue_flush(struct lg_raft_queue *q)
{
    LG_PRE(q != NULL && q->scratch != NULL);
    while (q->state == LG_RAFT_QUEUE_READY && q->head != NULL &&
           q->n_inflight < q->o.inflight_max) {
        flush_one(q);
    }
}
