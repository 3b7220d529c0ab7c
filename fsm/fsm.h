/* fsm: the deterministic ledger state machine (DESIGN §3, §5, §6, §7).
 *
 * An lg_fsm owns the in-memory ledger state (ledgers, accounts, volumes, limits, metadata,
 * the reference index), the indexes that answer history queries, and the local journal.
 * lg_fsm_apply() takes one Raft entry (a canonical batch of commands, fsm/cmd.h), applies
 * each command in order and returns one result per command. Every committed command
 * appends one journal record; rejections append nothing and change nothing.
 *
 * Determinism: no clock, no randomness, no output in hash-table order. Two FSMs fed the
 * same entries produce byte-identical journals, results and snapshots.
 *
 * Rules (docs/state-machine.md has the full list):
 * - A transaction commits all its postings or none.
 * - Postings are evaluated in order with balances updated as they go (Formance
 *   semantics): after each posting the source must not be below its floor (0, or -limit
 *   when an overdraft limit is set; `world` and "unlimited" accounts have no floor).
 * - Amount 0, empty postings, source == destination, invalid names: LG_EBADREQ. Any
 *   volume overflow: LG_EOVERFLOW. Funds: LG_EFUNDS. Conditions: LG_ECONDITION.
 * - A reference is unique per ledger: identical content (ledger, postings, metadata,
 *   reference; conditions are preconditions, not content) returns the original result
 *   with duplicate = true; different content is LG_ECONFLICT.
 * - Committed timestamp = max(command timestamp, last committed timestamp): timestamps
 *   never go down along the journal.
 *
 * Threading: one thread at a time. Views returned by queries stay valid until the next
 * apply, restore, gap_append or close on the same FSM (arrays the caller's arena holds
 * live as long as that arena). */
#ifndef LG_FSM_H
#define LG_FSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "cmd.h"

struct lg_fsm; /* opaque */

struct lg_fsm_options {
    const char *journal_dir;          /* <data>/journal */
    const char *state_dir;            /* <data>/state: checkpoints */
    struct lg_journal_options journal;
    uint64_t checkpoint_every;        /* write a checkpoint every this many records; 0 never */
    bool create;                      /* create the directories when absent */
};

/* Open: the newest valid checkpoint of state_dir, then the journal records after it
 * (records before it only rebuild the history indexes). A checkpoint that fails its
 * magic, version, length or hash is skipped for an older one, else full replay.
 * On success *out is an FSM to close with lg_fsm_close(); on failure *out is NULL and
 * errmsg (LG_ERRMSG_SIZE bytes, may be NULL) says why.
 * Returns LG_OK; LG_EINVAL (bad options); LG_ENOTFOUND (directory absent, !create);
 * LG_ECORRUPT (journal corruption, or a valid checkpoint whose chain head does not match
 * the journal's hash at its seq); LG_EIO; LG_ENOMEM. */
int lg_fsm_open(struct lg_fsm **out, const struct lg_fsm_options *opts, char *errmsg);

/* Clean shutdown: fsync the journal, write a checkpoint (unless the FSM failed or has a
 * journal gap), free everything. Returns LG_OK or the first I/O error (resources are
 * freed either way). NULL is a no-op. */
int lg_fsm_close(struct lg_fsm *fsm);

/* Free without syncing or checkpointing: what a crash leaves (tests). NULL is a no-op. */
void lg_fsm_abandon(struct lg_fsm *fsm);

/* Apply one Raft entry: decode the batch (buf borrowed for the call) and apply its
 * commands in order. *results points to *n_results results in one FSM-owned array valid
 * until the next apply on this FSM.
 * - Malformed bytes: one result LG_EBADREQ (or LG_ETOOLARGE), nothing changed. An entry
 *   whose decoding needs more than LG_DECODE_ARENA_BYTES_MAX bytes (a function of the
 *   entry alone; every entry up to LG_FRAME_BYTES_MAX fits) is LG_ETOOLARGE.
 * - A command that failed validation: its own rejection; the others apply.
 * - raft_index <= lg_fsm_applied_index(): recognised and skipped, zero results (restart
 *   re-feeds entries). The one exception is the entry whose journal records a crash may
 *   have cut short: command i is matched to the journaled record (raft_index, pos i);
 *   before the last journaled pos, a command without a record was rejected the first time
 *   and now reports LG_EUNAVAIL ("outcome decided before a restart; retry with the same
 *   reference"); commands after it are applied (docs/state-machine.md, "Restart").
 * Returns LG_OK for every entry. Non-OK means no progress and the node must stop:
 * LG_EIO/LG_ENOSPC (a journal or Merkle tree write failed; sticky), LG_EUNAVAIL (a
 * journal gap after a restore must be filled first: lg_fsm_gap_append), LG_ESHUTDOWN (FSM
 * failed earlier),
 * LG_ENOMEM (malloc failed while decoding: nothing changed, not sticky; the node stops and
 * restarts rather than turn its own memory shortage into a rejection replicas disagree
 * on). */
int lg_fsm_apply(struct lg_fsm *fsm, uint64_t raft_index, const void *buf, size_t len,
                 const struct lg_cmd_result **results, uint32_t *n_results);

/* Same as lg_fsm_apply for an already decoded batch (tests, benchmarks, replay tools).
 * Every command is validated as the decoder would (names, amounts, bounds). */
int lg_fsm_apply_batch(struct lg_fsm *fsm, uint64_t raft_index, const struct lg_batch *batch,
                       const struct lg_cmd_result **results, uint32_t *n_results);

/* Accessors. */
uint64_t lg_fsm_applied_index(const struct lg_fsm *fsm);
uint64_t lg_fsm_last_seq(const struct lg_fsm *fsm);          /* state's last journal seq */
void lg_fsm_chain_head(const struct lg_fsm *fsm, uint8_t hash[LG_HASH_BYTES]);
uint64_t lg_fsm_last_timestamp(const struct lg_fsm *fsm);    /* 0 before any record */
uint32_t lg_fsm_ledger_count(const struct lg_fsm *fsm);
uint64_t lg_fsm_account_count(const struct lg_fsm *fsm);     /* all ledgers, world included */
/* Records the state covers but the local journal lacks (after a restore from a peer's
 * snapshot): seqs journal_last+1 .. lg_fsm_last_seq(). 0 when none. */
uint64_t lg_fsm_journal_gap(const struct lg_fsm *fsm);
/* Message of the last internal error (empty when none). */
const char *lg_fsm_errmsg(const struct lg_fsm *fsm);
/* The FSM's journal (borrowed; for serving segments to peers and `verify`). */
struct lg_journal *lg_fsm_journal(struct lg_fsm *fsm);

/* The FSM's Merkle tree over its local journal (lib/merkle.h; borrowed, valid until
 * lg_fsm_close): the FSM appends a leaf with every journal record (apply and gap fill),
 * reconciles the tree with the journal at open and syncs it with the journal. The tree's
 * size is always the local journal's last seq. *out is always set.
 * Returns LG_OK when that is the state's size (lg_fsm_last_seq()): roots and proofs up to
 * it can be served. LG_EUNAVAIL while a journal gap exists (a snapshot was installed and
 * lg_fsm_gap_append() has not yet filled the missing records): the tree covers only the
 * local prefix, lg_merkle_size(*out) < lg_fsm_last_seq(); sizes up to lg_merkle_size()
 * still work, larger ones are not known to this node yet (answer `unavailable`).
 * LG_ESHUTDOWN when the FSM failed (journal or tree write error): serve nothing. */
struct lg_merkle;
int lg_fsm_merkle(struct lg_fsm *fsm, struct lg_merkle **out);

/* ---- Queries. ledger/address/asset arguments are views (not NUL-terminated). ---- */

/* A committed record with its chained hash. rec's strings and arrays live in the arena
 * passed to the query. */
struct lg_fsm_tx {
    struct lg_record rec;
    uint8_t hash[LG_HASH_BYTES];
};

/* Transaction by (ledger, tx_id) / by (ledger, reference).
 * Returns LG_OK; LG_ENOTFOUND (no such ledger, tx or reference); LG_EUNAVAIL (the
 * record is in the journal gap); LG_ENOMEM (arena full); LG_ECORRUPT/LG_EIO (journal). */
int lg_fsm_get_tx(struct lg_fsm *fsm, struct lg_str ledger, uint64_t tx_id,
                  struct lg_arena *arena, struct lg_fsm_tx *out);
int lg_fsm_get_tx_by_ref(struct lg_fsm *fsm, struct lg_str ledger, struct lg_str reference,
                         struct lg_arena *arena, struct lg_fsm_tx *out);

enum lg_fsm_order {
    LG_FSM_ASC = 0,  /* oldest first */
    LG_FSM_DESC = 1, /* newest first */
};

struct lg_fsm_tx_query {
    struct lg_str ledger;
    struct lg_str account; /* len 0: every transaction of the ledger */
    bool has_from;
    uint64_t from_ts;      /* inclusive */
    bool has_to;
    uint64_t to_ts;        /* exclusive */
    uint8_t order;         /* enum lg_fsm_order */
    uint32_t limit;        /* 0: LG_PAGE_LIMIT_DEFAULT; at most LG_PAGE_LIMIT_MAX */
    uint64_t cursor;       /* 0: first page; else next_cursor of the previous page */
};

/* One page of tx ids (ledger-local, in the requested order) into tx_ids (room for the
 * query's limit). *next_cursor is 0 on the last page. Cursors stay valid forever (history
 * is immutable); a desc listing never shows transactions newer than its first page.
 * Time ranges use a binary search over the ledger's timestamps (monotonic).
 * Returns LG_OK (an unknown ledger or account gives an empty page); LG_EBADREQ (limit
 * > LG_PAGE_LIMIT_MAX, bad order, bad cursor); LG_EUNAVAIL (range in the journal gap). */
int lg_fsm_list_txs(struct lg_fsm *fsm, const struct lg_fsm_tx_query *q, uint64_t *tx_ids,
                    uint32_t *n, uint64_t *next_cursor);

/* Volumes of one asset of an account. */
struct lg_fsm_volume {
    struct lg_str asset;
    lg_u128 input;   /* received */
    lg_u128 output;  /* sent */
    lg_i128 balance; /* input - output; valid when balance_ok */
    bool balance_ok; /* false only when the balance does not fit in i128 */
    bool has_limit;  /* an overdraft limit is set for this asset */
    bool unlimited;  /* ... and it is "no floor" */
    lg_u128 limit;   /* floor is -limit */
};

struct lg_fsm_account {
    struct lg_str address;         /* view into the FSM */
    uint64_t version;              /* incremented each time the account is touched */
    uint64_t n_txs;                /* transactions touching it (locally indexed) */
    const struct lg_kv *metadata;  /* sorted by key; in the arena */
    uint32_t n_metadata;
    struct lg_fsm_volume *volumes; /* sorted by asset name; in the arena; assets with a
                                      limit but no volume appear with zero volumes */
    uint32_t n_volumes;
};

/* Account by address. Returns LG_OK; LG_ENOTFOUND; LG_EBADREQ (invalid address);
 * LG_ENOMEM (arena full). */
int lg_fsm_account(struct lg_fsm *fsm, struct lg_str ledger, struct lg_str address,
                   struct lg_arena *arena, struct lg_fsm_account *out);

enum lg_fsm_match {
    LG_FSM_MATCH_EXACT = 0,   /* one address */
    LG_FSM_MATCH_PREFIX = 1,  /* addresses starting with these bytes ("users:") */
    LG_FSM_MATCH_PATTERN = 2, /* segments may be "*" ("users:*:main") */
};

struct lg_fsm_balances_query {
    struct lg_str ledger;
    uint8_t match;         /* enum lg_fsm_match */
    struct lg_str address; /* address, prefix or pattern */
    struct lg_str asset;   /* len 0: every asset */
    uint32_t limit;        /* accounts per page; 0: default; at most LG_PAGE_LIMIT_MAX */
    struct lg_str cursor;  /* len 0: first page; else next_cursor of the previous page */
    bool totals;           /* compute per-asset totals over every matching account */
};

struct lg_fsm_balance_row {
    struct lg_str address; /* view into the FSM */
    struct lg_str asset;
    lg_i128 balance;
};

struct lg_fsm_total {
    struct lg_str asset;
    lg_i128 total;
};

struct lg_fsm_balances {
    struct lg_fsm_balance_row *rows; /* address order, then asset order; in the arena */
    uint32_t n_rows;
    uint32_t n_accounts;             /* accounts on this page (<= limit) */
    struct lg_fsm_total *totals;     /* asset order; over all matches, not just the page */
    uint32_t n_totals;
    struct lg_str next_cursor;       /* len 0: last page; else a view (copy it) */
};

/* Balances of the accounts matching an address, prefix or pattern, in address order.
 * Returns LG_OK (no match: empty); LG_EBADREQ (invalid pattern/asset/limit);
 * LG_EOVERFLOW (a balance or total does not fit in i128); LG_ENOMEM (arena full). */
int lg_fsm_balances(struct lg_fsm *fsm, const struct lg_fsm_balances_query *q,
                    struct lg_arena *arena, struct lg_fsm_balances *out);

/* Volumes of (address, asset) just after transaction tx_id (by_time false) or after the
 * last transaction with timestamp <= ts (by_time true); zero before the first.
 * Read from the post-transaction volumes journaled with each transaction.
 * Returns LG_OK; LG_ENOTFOUND (ledger or tx_id unknown); LG_EBADREQ; LG_EUNAVAIL (gap);
 * LG_ECORRUPT/LG_EIO (journal). */
int lg_fsm_balance_at(struct lg_fsm *fsm, struct lg_str ledger, struct lg_str address,
                      struct lg_str asset, bool by_time, uint64_t tx_id_or_ts,
                      lg_u128 *input, lg_u128 *output);

/* ---- Persistence ---- */

/* Append a snapshot of the state plus the journal manifest (last seq, last hash, applied
 * raft index) to out; never journal records. fsyncs the journal first (DESIGN §6).
 * Deterministic: equal states give equal bytes. Returns LG_OK, LG_EIO, LG_ENOMEM. */
int lg_fsm_snapshot(struct lg_fsm *fsm, struct lg_buf *out);

/* Replace the state with a snapshot (buf borrowed). Everything is validated (bytes from
 * the network): magic, version, hash, every name, order and bound; on error nothing
 * changes. If the local journal already holds the manifest's seq with the same hash, the
 * state is already at least as new: it is kept and only the applied index moves up.
 * If the journal is behind, the state is replaced and lg_fsm_journal_gap() reports the
 * missing records. Returns LG_OK; LG_ECORRUPT (invalid snapshot, or it contradicts the
 * local journal); LG_ENOMEM; LG_EIO. */
int lg_fsm_restore(struct lg_fsm *fsm, const void *buf, size_t len);

/* Append a record fetched from a peer to fill the journal gap (body borrowed). The
 * record's seq must be the next missing one; the history indexes learn it. When the gap
 * closes, the chain head must equal the snapshot's (else LG_ECORRUPT, sticky).
 * Returns LG_OK; LG_ERANGE (no gap); LG_ECORRUPT; LG_EIO. */
int lg_fsm_gap_append(struct lg_fsm *fsm, const void *body, uint32_t len);

/* Write the snapshot bytes to <state>/checkpoint-<seq, 20 digits>.ckpt (tmp file, fsync,
 * rename, directory fsync) after syncing the journal; keep the newest two.
 * Returns LG_OK, LG_EIO, LG_ENOSPC, LG_ENOMEM, LG_EUNAVAIL (journal gap). */
int lg_fsm_checkpoint(struct lg_fsm *fsm);

/* The bytes lg_fsm_snapshot appends, as an ordered list of ranges whose concatenation they
 * are, without copying the reference index: most parts borrow the state's reference
 * chunks, which are append-only and never move, so they stay valid and unchanged while
 * apply goes on. For a snapshot written by another thread (libraft's snapshot_async):
 *   lg_fsm_snapshot_parts (FSM thread: syncs the journal and tree first, as
 *   lg_fsm_snapshot) -> lg_fsm_snap_seal (any thread: computes the trailing hash, the
 *   last part) -> the parts are read -> lg_fsm_snap_release (FSM thread).
 * A restore while a snapshot is held keeps the replaced state until the last release.
 * The struct is reusable (its memory kept) until lg_fsm_snap_close. */
struct lg_fsm_snap_part {
    const void *base;
    size_t len;
    size_t head_off; /* private */
};
struct lg_fsm_snap {
    struct lg_fsm_snap_part *parts;
    size_t n_parts;
    size_t bytes; /* sum of the parts' lengths */
    /* private */
    size_t cap_parts;
    struct lg_buf head; /* the parts that are not borrowed */
    struct lg_fsm *fsm; /* set while held */
    uint8_t hash[LG_HASH_BYTES];
};
void lg_fsm_snap_init(struct lg_fsm_snap *snap);
/* Returns LG_OK; LG_EIO (journal/tree sync: the FSM failed); LG_ESHUTDOWN (failed before);
 * LG_ENOMEM. On error nothing is held. Release every snapshot before lg_fsm_close. */
int lg_fsm_snapshot_parts(struct lg_fsm *fsm, struct lg_fsm_snap *snap);
void lg_fsm_snap_seal(struct lg_fsm_snap *snap);
void lg_fsm_snap_release(struct lg_fsm_snap *snap);
void lg_fsm_snap_close(struct lg_fsm_snap *snap);

/* SHA-256 of the state part of a snapshot (tests compare states with it). */
int lg_fsm_state_digest(struct lg_fsm *fsm, uint8_t out[LG_HASH_BYTES]);

#endif /* LG_FSM_H */
