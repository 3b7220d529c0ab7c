/* fsm_adapter: the ledger state machine (fsm/) behind libraft's struct raft_fsm.
 *
 * One struct lg_raft_fsm per node wraps one lg_fsm and exposes a version-2 raft_fsm
 * (apply, snapshot, snapshot_finalize, restore). The rules it enforces (DESIGN §7,
 * notes/c-raft.md §4, §15):
 * - apply ALWAYS returns 0 to libraft. A rejected command, and even a malformed entry, is
 *   a deterministic result. A failure to make progress (journal write error, FSM failed)
 *   calls the fatal hook, which by default logs and exits the process.
 * - *result points to the adapter's one struct lg_raft_result, valid until the apply
 *   callback returns (until the next apply); nothing is allocated per entry.
 * - snapshot hands libraft one malloc'd buffer (lg_fsm_snapshot, which fsyncs the
 *   journal first) that snapshot_finalize frees; the buffer is never touched again by
 *   the FSM, so the pool thread that writes it reads frozen bytes.
 * - restore: lg_fsm_restore, then the adapter frees the buffer with raft_free (0.15.0
 *   transfers ownership of buf->base to the FSM on success; on failure raft frees it).
 *
 * Entry format (docs/raft.md): every buffer given to raft_apply is
 *   [0..2) magic "LE", [2] format version 1, [3] flags 0, [4..8) payload length u32 LE,
 *   payload (a canonical batch, fsm/cmd.h), zero padding to a multiple of 8 bytes
 * so libraft 0.15.0's raft_uv never writes an unpadded entry (c-raft §0.3).
 *
 * Threading: the loop thread only, like every libraft callback, except for the apply
 * thread of lg_raft_fsm_start. */
#ifndef LG_RAFT_FSM_ADAPTER_H
#define LG_RAFT_FSM_ADAPTER_H

#include <raft.h>
#include <stdbool.h>
#include <uv.h>
#include <stddef.h>
#include <stdint.h>

#include "../fsm/fsm.h"

#define LG_RAFT_ENTRY_MAGIC0 ((uint8_t)'L')
#define LG_RAFT_ENTRY_MAGIC1 ((uint8_t)'E')
#define LG_RAFT_ENTRY_VERSION 1u
#define LG_RAFT_ENTRY_HEADER_BYTES 8u
/* Every raft_apply buffer length is a multiple of this (c-raft §0.3). */
#define LG_RAFT_ENTRY_ALIGN 8u
/* Largest payload: one frame's worth of commands (lib/limits.h). */
#define LG_RAFT_ENTRY_PAYLOAD_MAX LG_FRAME_BYTES_MAX

/* Exit status of the default fatal hook (sysexits' EX_IOERR: the supervisor restarts). */
#define LG_RAFT_EXIT_FATAL 74

/* What the apply callback of the proposing leader receives as `result`: the per-command
 * results of the entry at index. A view into the adapter, valid until the callback
 * returns. n_results is 0 when the entry was already applied before (a re-fed index). */
struct lg_raft_ticket;
struct lg_raft_result {
    uint64_t index;
    const struct lg_cmd_result *results;
    uint32_t n_results;
    bool malformed; /* the entry envelope was invalid: results[0] says why */
    /* Threaded apply (lg_raft_fsm_start): the entry is handed to the apply thread and the
     * fields above are not filled yet. The apply callback calls lg_raft_result_defer to
     * get them later, on the loop thread. NULL: the result is complete. */
    struct lg_raft_ticket *ticket;
};

/* Receives a deferred result (loop thread); res is valid during the call only. */
typedef void (*lg_raft_result_cb)(void *arg, const struct lg_raft_result *res);

/* What the apply thread last published: the FSM as of its last applied entry. */
struct lg_raft_fsm_view {
    /* libraft's last_applied when the thread has nothing left; otherwise the index of the
     * last command entry the FSM applied (libraft may be ahead) */
    uint64_t applied_index;
    uint64_t last_seq;      /* lg_fsm_last_seq */
    uint64_t journal_seq;   /* the local journal's last seq */
    uint64_t journal_gap;
    uint8_t chain_head[LG_HASH_BYTES];
};

/* Called when the node cannot go on (journal I/O error, failed restore, FSM failed):
 * code is an LG_ code, what says where. Must not return in production (the default logs
 * to stderr and _exit(LG_RAFT_EXIT_FATAL)s). If a test hook returns, the adapter is
 * marked failed, answers every later entry with an LG_EUNAVAIL result and still returns
 * 0 to libraft. */
typedef void (*lg_raft_fatal_cb)(void *arg, int code, const char *what);

/* Called when the FSM has a journal gap (after a restore from a peer's snapshot, and
 * before an apply that the gap blocks): the node fills it (lg_fsm_gap_append). If the
 * gap is still open when an entry must be applied, that is fatal. */
typedef void (*lg_raft_gap_cb)(void *arg, struct lg_fsm *fsm);

struct lg_raft_fsm {
    struct raft_fsm fsm;       /* give &a->fsm to raft_init; fsm.data points to a */
    struct lg_fsm *ledger;     /* borrowed; outlives the adapter */
    struct raft *raft;         /* set by lg_raft_fsm_attach after raft_init */
    struct lg_raft_result result;
    struct lg_cmd_result envelope_result; /* the result of a malformed entry */
    lg_raft_fatal_cb fatal;
    void *fatal_arg;
    lg_raft_gap_cb gap;
    void *gap_arg;
    bool failed;
    uint64_t n_entries;        /* RAFT_COMMAND entries seen by apply */
    uint64_t entry_bytes;      /* ... and their bytes */
    uint64_t n_malformed;      /* ... of which had an invalid envelope */
    uint64_t n_snapshots;      /* snapshots taken and finalized (the fields below) */
    uint64_t snapshot_index;   /* the last one's raft index and journal seq */
    uint64_t snapshot_seq;
    uint64_t snapshot_us;      /* the last one: time on the loop thread (journal sync,
                                * tree sync, encoding of all but the references) and its
                                * size */
    size_t snapshot_bytes;
    uint64_t seal_us;          /* the last finalized one: its hash (a pool thread with v3) */
    uint64_t seal_us_pending;  /* written by snapshot_async, published by finalize */
    /* The snapshot's parts (lg_fsm_snapshot_parts), reused from one snapshot to the next.
     * Lent to libraft between snapshot and snapshot_finalize; closed by close. */
    struct lg_fsm_snap snap;
    bool snap_lent;
    uint64_t n_restores;       /* restores done */
    char errmsg[LG_ERRMSG_SIZE];
    /* Threaded apply (lg_raft_fsm_start). The mutex guards the lists, the flags and the
     * view; the FSM itself belongs to the apply thread while an entry is queued or being
     * applied, and to the loop thread after lg_raft_fsm_sync. */
    bool threaded;
    bool gap_open;             /* loop: the FSM had a journal gap (apply inline) */
    size_t inline_max;         /* LG_RAFT_APPLY_INLINE_BYTES (tests set 0: always queue) */
    uv_thread_t thread;
    uv_mutex_t mu;
    uv_cond_t work;            /* the thread waits for entries */
    uv_cond_t progress;        /* the loop waits for the thread */
    uv_async_t async;          /* the thread tells the loop results are done */
    struct lg_raft_ticket *todo, *todo_tail, *done, *done_tail;
    uint32_t todo_n;
    size_t todo_bytes;
    bool busy;                 /* the thread is applying an entry */
    bool stop;
    struct lg_raft_fsm_view view;
    uint64_t n_waits;          /* times the loop waited for the thread (backpressure) */
};

/* libraft keeps its log in memory from the last snapshot minus the trailing entries on,
 * and counts both bounds in entries, while an entry holds 1 to 4096 commands. The node
 * therefore derives the entry counts from the mean entry size so that the log since the
 * last snapshot, and the trailing part kept after one, each stay under about
 * LG_RAFT_LOG_BYTES_BUDGET: threshold = budget / mean_bytes clamped to
 * [LG_RAFT_LOG_ENTRIES_MIN, max_threshold], trailing likewise up to max_trailing (the
 * configured values are the caps). mean_bytes 0 (unknown yet) gives the caps. */
#define LG_RAFT_LOG_BYTES_BUDGET ((uint64_t)512u << 20)
#define LG_RAFT_LOG_ENTRIES_MIN 128u
void lg_raft_log_limits(uint64_t mean_bytes, unsigned max_threshold, unsigned max_trailing,
                        unsigned *threshold, unsigned *trailing);

/* Fill a (zeroed first) around ledger: version-2 callbacks, default fatal hook, no gap
 * hook. Always succeeds. */
void lg_raft_fsm_init(struct lg_raft_fsm *a, struct lg_fsm *ledger);

/* Before raft_init: version-3 callbacks, so a snapshot's hash (SHA-256 over the whole
 * state, ~0.15 s per 250 MB here) is computed by snapshot_async on a libuv pool thread,
 * not on the loop. The raft_io must be version 2 with async_work (raft_uv 0.15.0 needs
 * io.version set to 2 by hand, c-raft §0.9). */
void lg_raft_fsm_set_async(struct lg_raft_fsm *a);

/* After lg_raft_fsm_attach and raft_start: apply on a thread of the adapter from now on.
 * apply then copies each entry and hands it to the thread (in log order; the loop waits
 * when more than LG_RAFT_APPLY_QUEUE_MAX entries or _BYTES bytes are queued) and returns
 * at once; the proposing leader's callback gets its results through
 * lg_raft_result_defer. An entry of at most LG_RAFT_APPLY_INLINE_BYTES while the thread
 * is idle (nothing queued, applying or waiting for delivery) is applied inline instead.
 * Snapshot, restore and an entry that meets a journal gap wait for the thread first
 * (lg_raft_fsm_sync) and run on the loop as before. Anything else on the
 * loop thread that reads the FSM must call lg_raft_fsm_sync first. Returns LG_OK or
 * LG_ENOMEM (thread or handle not created: apply stays on the loop). */
/* An entry up to this size is applied inline when the thread is idle (low load). */
#define LG_RAFT_APPLY_INLINE_BYTES ((size_t)16u << 10)
#define LG_RAFT_APPLY_QUEUE_MAX 8u
#define LG_RAFT_APPLY_QUEUE_BYTES ((size_t)8u << 20)
int lg_raft_fsm_start(struct lg_raft_fsm *a, uv_loop_t *loop);

/* Wait until every entry handed to the apply thread is applied: the FSM is then the
 * loop's to read until it returns to libraft. Loop thread; no-op when not threaded. */
void lg_raft_fsm_sync(struct lg_raft_fsm *a);

/* The FSM as of its last applied entry without waiting (any time, loop thread). */
void lg_raft_fsm_view(struct lg_raft_fsm *a, struct lg_raft_fsm_view *out);

/* From a raft_apply callback that got a result with a ticket: cb(arg, results) is called
 * on the loop thread once the thread applied the entry (also by lg_raft_fsm_stop). */
void lg_raft_result_defer(const struct lg_raft_result *res, lg_raft_result_cb cb, void *arg);

/* After raft_close's callback: apply what is queued, stop the thread, deliver every
 * deferred result, then close the async handle (close_cb gets a handle whose data is
 * close_data). No-op (close_cb not called, returns false) when not threaded. */
bool lg_raft_fsm_stop(struct lg_raft_fsm *a, uv_close_cb close_cb, void *close_data);

/* Tell the adapter which raft instance feeds it (after raft_init / raft_fixture_grow):
 * apply computes each entry's index as raft_last_applied(r) + 1 (c-raft §4). */
void lg_raft_fsm_attach(struct lg_raft_fsm *a, struct raft *r);

/* Replace the fatal hook (NULL restores the default) / set the gap hook (NULL: none). */
void lg_raft_fsm_set_fatal(struct lg_raft_fsm *a, lg_raft_fatal_cb cb, void *arg);
void lg_raft_fsm_set_gap(struct lg_raft_fsm *a, lg_raft_gap_cb cb, void *arg);

/* Free the kept snapshot buffer (the ledger is borrowed). After raft is closed. */
void lg_raft_fsm_close(struct lg_raft_fsm *a);

/* Encode a batch of commands that passed lg_cmd_check (not checked again outside
 * -Ddebug_asserts builds; apply checks every command it decodes) as one entry: header,
 * canonical batch, zero padding. out->base is raft_malloc'd (give it to raft_apply, or
 * raft_free it), out->len % 8 == 0. Returns LG_OK; LG_ETOOLARGE (payload >
 * LG_RAFT_ENTRY_PAYLOAD_MAX); LG_ENOMEM. errmsg may be NULL. */
int lg_raft_entry_encode(const struct lg_batch *batch, struct raft_buffer *out, char *errmsg);

/* Wrap an already encoded payload (any bytes) in an entry; same contract as above. */
int lg_raft_entry_wrap(const void *payload, size_t len, struct raft_buffer *out);

/* Validate an entry envelope and return a view of its payload.
 * Returns LG_OK; LG_EBADREQ (length not a multiple of 8, short, bad magic, version,
 * flags, payload length or non-zero padding; errmsg says which). errmsg may be NULL. */
int lg_raft_entry_decode(const void *buf, size_t len, const void **payload,
                         size_t *payload_len, char *errmsg);

/* Map a libraft status code to an LG_ code (RAFT_NOTLEADER -> LG_ENOTLEADER,
 * RAFT_LEADERSHIPLOST -> LG_EUNAVAIL, ...). 0 -> LG_OK. */
int lg_raft_err(int raft_code);

#endif /* LG_RAFT_FSM_ADAPTER_H */
