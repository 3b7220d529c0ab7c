/* queue: the leader's write path without sockets (DESIGN §3 steps 3-6, §7).
 *
 * Requests are validated (shape only: lg_cmd_check), queued, and flushed as ONE Raft
 * entry per batch of at most cmds_max commands / about bytes_max bytes (one raft_apply per
 * buffer: c-raft §5). Each command is stamped at flush time with the leader's timestamp
 * max(last_ts + 1, now), where last_ts starts from lg_fsm_last_timestamp() once the
 * barrier this node issued on becoming leader has applied: until then nothing is flushed
 * and no timestamp is handed out (DESIGN §7, c-raft §6). Several entries may be in flight.
 * Each request is answered exactly once through its callback with its lg_cmd_result:
 * - the FSM's result when the entry applied on this leader (with a threaded adapter:
 *   when the apply thread has applied it, lg_raft_result_defer);
 * - LG_ENOTLEADER when this node is not (or no longer) leader before the entry was
 *   proposed: nothing was proposed, the client goes to the leader;
 * - LG_EUNAVAIL when leadership was lost after proposing (RAFT_LEADERSHIPLOST): the
 *   outcome is unknown and the client retries with the same reference (exactly once is
 *   the FSM's reference index);
 * - LG_ESHUTDOWN when the queue is closed with requests still queued.
 *
 * Uses only the libuv-free raft core API (raft_state, raft_apply, raft_barrier), so it
 * runs under raft_fixture. The owner calls lg_raft_queue_tick() once per loop turn (the
 * node: from a uv_prepare/uv_check handle) and after it, lg_raft_queue_flush().
 * Threading: the loop thread only. Never call tick, flush or close from inside a libraft
 * callback (including a submit callback); submit is allowed there. */
#ifndef LG_RAFT_QUEUE_H
#define LG_RAFT_QUEUE_H

#include <raft.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fsm_adapter.h"

#define LG_RAFT_QUEUE_CMDS_DEFAULT 4096u
#define LG_RAFT_QUEUE_BYTES_DEFAULT (1024u * 1024u)
#define LG_RAFT_QUEUE_INFLIGHT_DEFAULT 64u
#define LG_RAFT_QUEUE_DEPTH_DEFAULT 65536u

struct lg_raft_submit;

/* The answer to a submit: res is valid during the call only. */
typedef void (*lg_raft_submit_cb)(struct lg_raft_submit *req, const struct lg_cmd_result *res);

/* One client request: caller-owned, alive (with every view in cmd) until cb. */
struct lg_raft_submit {
    void *data;          /* the caller's */
    struct lg_cmd cmd;   /* timestamp_us is set by the queue */
    lg_raft_submit_cb cb;
    bool checked;        /* cmd already passed lg_cmd_check (the server's decoder): not
                          * checked again here (apply checks every command anyway) */
    /* internal */
    struct lg_raft_submit *next;
    size_t bytes;        /* encoded size estimate (an upper bound) */
};

struct lg_raft_queue_options {
    uint32_t cmds_max;      /* commands per entry; 0: default; <= LG_BATCH_COMMANDS_MAX */
    size_t bytes_max;       /* payload bytes per entry (estimate); 0: default */
    uint32_t inflight_max;  /* entries proposed and not applied; 0: default */
    uint32_t depth_max;     /* queued requests before LG_EUNAVAIL; 0: default */
    uint64_t (*now_us)(void *arg); /* wall clock, µs since the epoch */
    void *now_arg;
    struct lg_raft_fsm *adapter; /* the FSM's adapter when it applies on a thread
                                  * (lg_raft_fsm_start): synced before the queue reads
                                  * the FSM; NULL otherwise */
};

enum lg_raft_queue_state {
    LG_RAFT_QUEUE_FOLLOWER = 0, /* not leader: submits get LG_ENOTLEADER */
    LG_RAFT_QUEUE_BARRIER,      /* leader, waiting for its barrier to apply */
    LG_RAFT_QUEUE_READY,        /* leader, barrier applied: flushing */
};

struct lg_raft_queue {
    struct raft *raft;
    struct lg_fsm *fsm;
    struct lg_raft_queue_options o;
    int state;                  /* enum lg_raft_queue_state */
    uint64_t term;              /* the term the barrier was issued in */
    struct raft_barrier barrier;
    bool barrier_pending;
    uint64_t last_ts;
    struct lg_raft_submit *head;
    struct lg_raft_submit *tail;
    uint32_t n_queued;
    size_t bytes_queued;
    uint32_t n_inflight;
    uint32_t n_deferred;        /* committed, waiting for the apply thread's results */
    struct lg_cmd *scratch;     /* cmds_max commands: the batch being encoded */
    struct lg_cmd_result answer; /* synthesized answers */
    uint64_t n_entries;         /* entries proposed */
    uint64_t n_barriers;        /* barriers applied */
};

/* Initialise q for raft r (after raft_init) and its FSM. Returns LG_OK, LG_EINVAL (bad
 * options: cmds_max too large, now_us NULL), LG_ENOMEM. */
int lg_raft_queue_init(struct lg_raft_queue *q, struct raft *r, struct lg_fsm *fsm,
                       const struct lg_raft_queue_options *opts);

/* Answer every queued (not proposed) request with LG_ESHUTDOWN and free the queue's
 * memory. In-flight entries are answered by libraft (raft_close fails them with
 * RAFT_LEADERSHIPLOST), so close after raft_close's callback, or keep q alive until it. */
void lg_raft_queue_close(struct lg_raft_queue *q);

/* Follow leadership: on becoming leader (or a new term) issue the barrier; on losing it
 * answer queued requests with LG_ENOTLEADER. */
void lg_raft_queue_tick(struct lg_raft_queue *q);

/* Queue a request. Returns LG_OK (cb will be called exactly once, never from inside this
 * call); LG_EBADREQ (the command's shape is invalid); LG_ENOTLEADER (this node is not
 * leader); LG_EUNAVAIL (queue full). On non-OK cb is never called. Never proposes (the
 * owner's per-turn flush does, in entries of at most cmds_max commands / bytes_max
 * bytes). errmsg (LG_ERRMSG_SIZE, may be NULL) says why on non-OK. */
int lg_raft_queue_submit(struct lg_raft_queue *q, struct lg_raft_submit *req, char *errmsg);

/* Propose the queued requests (when ready): as many entries as inflight_max allows. */
void lg_raft_queue_flush(struct lg_raft_queue *q);

#endif /* LG_RAFT_QUEUE_H */
