/* proto: the client protocol of DESIGN §8 (operations, arguments, results), both sides.
 *
 * Server side: lg_proto_decode_request() turns one frame body into a tagged, fully
 * validated request; lg_proto_encode_response() / lg_proto_encode_error() write one
 * response frame. Client side: lg_proto_encode_request() and lg_proto_decode_response().
 * The encoders take plain structs; nothing here calls the state machine or the network.
 *
 * Wire rules (docs/protocol.md is the reference):
 * - Request `{"id": uint, "op": str, ...arguments}`; keys in any order, each at most once;
 *   an unknown argument is rejected (a field an old server would silently ignore could
 *   change the meaning of a financial request).
 * - Response `{"id", "ok": true, "result": {...}}` or
 *   `{"id", "ok": false, "error": {"code", "message", "leader"?}}`. Response decoding
 *   ignores unknown keys: a server may return more fields, never fewer.
 * - Amounts: msgpack integer when they fit in 64 bits, else a decimal string; both are
 *   accepted on input. Balances (signed): integer when they fit in int64, else a decimal
 *   string with an optional '-'. Hashes and keys: lowercase hex strings.
 * - Timestamps: microseconds since the Unix epoch.
 *
 * Decoded values are views: strings point into the input buffer, arrays into the arena
 * given to the decoder; valid while both live. Bad input is answered, never asserted:
 * every decoder returns a code and a message naming the field
 * ("txs[2].postings[0].amount: must be greater than 0"). */
#ifndef LG_PROTO_H
#define LG_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "amount.h"
#include "arena.h"
#include "buf.h"
#include "err.h"
#include "limits.h"
#include "tx.h"

/* Transactions in one submit_batch. An atomic batch commits as one Raft entry, so it must
 * fit in one FSM batch; 1024 keeps a batch's decode and apply cost bounded. */
#define LG_PROTO_BATCH_TXS_MAX 1024u
/* Opaque list_txs cursor returned by the server. */
#define LG_PROTO_CURSOR_BYTES_MAX 256u
/* Nesting of msgpack containers in a request. The request shapes need 5
 * (request > txs > tx > postings > posting); anything deeper is refused, never walked by
 * recursion. */
#define LG_PROTO_DEPTH_MAX 16u
/* Node-provided strings in responses (leader client address, messages). */
#define LG_PROTO_TEXT_BYTES_MAX 4096u
/* Hashes (SHA-256) on the wire: 64 lowercase hex characters. */
#define LG_PROTO_HASH_BYTES 32u
/* Public key and signature of a digest. */
#define LG_PROTO_KEY_BYTES_MAX 512u
/* Hashes in one proof path (RFC 9162 §2.1.3, §2.1.4): an inclusion path has at most one
 * hash per tree level, a consistency path one more; no valid proof for a tree of fewer
 * than 2^64 records has more than 65. */
#define LG_PROTO_PATH_HASHES_MAX 65u
/* journal_read page size bounds (record bodies; the frame also carries their headers). */
#define LG_PROTO_JOURNAL_READ_BYTES_DEFAULT (1024u * 1024u)
#define LG_PROTO_JOURNAL_READ_BYTES_MAX (8u * 1024u * 1024u)
#define LG_PROTO_JOURNAL_READ_RECORDS_MAX 65536u

LG_STATIC_ASSERT(LG_PROTO_BATCH_TXS_MAX <= LG_BATCH_COMMANDS_MAX,
                 "an atomic batch fits in one FSM batch");
LG_STATIC_ASSERT(LG_PROTO_DEPTH_MAX >= 5u, "request shapes nest 5 deep");

enum lg_proto_op {
    LG_PROTO_OP_NONE = 0,
    LG_PROTO_OP_PING,
    LG_PROTO_OP_STATUS,
    LG_PROTO_OP_SUBMIT,
    LG_PROTO_OP_SUBMIT_BATCH,
    LG_PROTO_OP_GET_TX,
    LG_PROTO_OP_LIST_TXS,
    LG_PROTO_OP_ACCOUNT,
    LG_PROTO_OP_BALANCES,
    LG_PROTO_OP_DIGEST,
    LG_PROTO_OP_MEMBERS,      /* members {} -> {members: [member...]} */
    /* Node-to-node operations on the client port (docs/protocol.md, "Internal"). */
    LG_PROTO_OP_READ_INDEX,   /* read_index {} -> {index}: the leader's confirmed index */
    LG_PROTO_OP_JOURNAL_READ, /* journal_read {from_seq, max_bytes?} ->
                               * {records, first_seq, last_seq}: journal record bodies */
    /* Verifiable ledger (issue 8; reads, like digest). */
    LG_PROTO_OP_PROOF,       /* proof {seq, tree_size?} -> {seq, leaf_index, tree_size, body,
                              * path, digest}: RFC 9162 inclusion proof of record seq */
    LG_PROTO_OP_CONSISTENCY, /* consistency {from_size, to_size} -> {from_size, to_size,
                              * path}: RFC 9162 consistency proof */
    LG_PROTO_OP_COUNT
};

/* Read consistency (DESIGN §4). DEFAULT: the argument was absent; the server applies
 * linearizable. */
enum lg_proto_consistency {
    LG_PROTO_READ_DEFAULT = 0,
    LG_PROTO_READ_STALE,
    LG_PROTO_READ_AFTER,
    LG_PROTO_READ_LINEARIZABLE,
};

enum lg_proto_order {
    LG_PROTO_ORDER_DEFAULT = 0, /* absent: ascending */
    LG_PROTO_ORDER_ASC,
    LG_PROTO_ORDER_DESC,
};

enum lg_proto_role {
    LG_PROTO_ROLE_LEADER = 0,
    LG_PROTO_ROLE_FOLLOWER,
    LG_PROTO_ROLE_CANDIDATE,
    LG_PROTO_ROLE_STANDBY,
    LG_PROTO_ROLE_SPARE,
    LG_PROTO_ROLE_COUNT
};

/* submit arguments (and one element of submit_batch's txs). Strings, postings, metadata
 * and conditions are lib/tx.h's types; on the wire a condition is {"account", "version":
 * uint} (LG_COND_VERSION) or {"account", "asset", "min_balance": amount}
 * (LG_COND_MIN_BALANCE, in lg_condition.min). */
struct lg_proto_submit {
    struct lg_str ledger;
    const struct lg_posting *postings; /* 1..LG_POSTINGS_MAX */
    uint32_t n_postings;
    const struct lg_kv *metadata;      /* wire order, keys unique */
    uint32_t n_metadata;
    struct lg_str reference;           /* len 0: none */
    const struct lg_condition *conditions;
    uint32_t n_conditions;
};

struct lg_proto_submit_batch {
    const struct lg_proto_submit *txs; /* 1..LG_PROTO_BATCH_TXS_MAX */
    uint32_t n_txs;
    bool atomic;
};

struct lg_proto_get_tx {
    struct lg_str ledger;
    bool by_reference; /* else by tx_id */
    uint64_t tx_id;
    struct lg_str reference;
};

struct lg_proto_list_txs {
    struct lg_str ledger;
    struct lg_str account; /* len 0: all */
    bool has_from_ts;
    uint64_t from_ts;      /* inclusive, µs */
    bool has_to_ts;
    uint64_t to_ts;        /* exclusive, µs */
    uint8_t order;         /* enum lg_proto_order */
    uint32_t limit;        /* 0: absent (LG_PAGE_LIMIT_DEFAULT); else 1..MAX */
    struct lg_str cursor;  /* len 0: first page */
};

struct lg_proto_account_req {
    struct lg_str ledger;
    struct lg_str address;
};

/* journal_read: records from_seq.. (at least one when from_seq <= last_seq) whose bodies
 * total at most max_bytes (0: LG_PROTO_JOURNAL_READ_BYTES_DEFAULT). */
struct lg_proto_journal_read {
    uint64_t from_seq; /* >= 1 */
    uint32_t max_bytes; /* 0 or 1..LG_PROTO_JOURNAL_READ_BYTES_MAX */
};

struct lg_proto_balances_req {
    struct lg_str ledger;
    struct lg_str address; /* exactly one of address and pattern */
    struct lg_str pattern;
    struct lg_str asset;   /* len 0: every asset */
};

/* digest {tree_size?}: the signed root at tree_size (absent: the node's current size). */
struct lg_proto_digest_req {
    bool has_tree_size;
    uint64_t tree_size; /* has_tree_size: any, 0 is the empty tree */
};

/* proof {seq, tree_size?}: inclusion of record seq (leaf seq - 1) in the tree of tree_size
 * records (absent: the node's current size). */
struct lg_proto_proof_req {
    uint64_t seq; /* >= 1; <= tree_size when given */
    bool has_tree_size;
    uint64_t tree_size;
};

/* consistency {from_size, to_size}: the tree of to_size records extends that of
 * from_size. */
struct lg_proto_consistency_req {
    uint64_t from_size; /* >= 1 */
    uint64_t to_size;   /* >= from_size */
};

/* A decoded request. read applies to get_tx, list_txs, account, balances, digest, proof
 * and consistency. */
struct lg_proto_request {
    uint64_t id;
    uint8_t op; /* enum lg_proto_op */
    uint8_t consistency; /* enum lg_proto_consistency */
    uint64_t after_index; /* consistency AFTER only */
    union {
        struct lg_proto_submit submit;
        struct lg_proto_submit_batch batch;
        struct lg_proto_get_tx get_tx;
        struct lg_proto_list_txs list_txs;
        struct lg_proto_account_req account;
        struct lg_proto_balances_req balances;
        struct lg_proto_journal_read journal_read;
        struct lg_proto_digest_req digest;
        struct lg_proto_proof_req proof;
        struct lg_proto_consistency_req consistency;
    } u;
};

/* Results. */

struct lg_proto_error {
    int code;             /* LG_E...; the wire carries lg_err_wire(code) */
    struct lg_str message;
    struct lg_str leader; /* not_leader: the leader's client address; len 0: none */
};

struct lg_proto_tx_result {
    uint64_t tx_id;
    uint64_t seq;
    uint64_t index;
    uint64_t timestamp_us;
    uint8_t hash[LG_PROTO_HASH_BYTES];
};

struct lg_proto_batch_item {
    bool ok;
    struct lg_proto_tx_result result; /* ok */
    struct lg_proto_error error;      /* !ok */
};

/* The cross-replica audit's counters (status `audit`, cmd/audit.c). */
struct lg_proto_audit {
    uint64_t interval_ms;        /* 0: the audit is off */
    uint64_t checks;             /* peer roots compared */
    uint64_t mismatches;         /* ... that differed from this node's */
    uint64_t errors;             /* peers that could not be asked or answered wrongly */
    uint64_t skipped;            /* peer checks skipped: it answered unavailable (catch-up) */
    uint64_t last_mismatch_peer; /* node id; 0: no mismatch yet */
    uint64_t last_mismatch_size; /* tree size of that comparison */
};

/* Gossip as one node sees it (status): members by state, this node included, and the
 * packets dropped since start (docs/discovery.md). */
struct lg_proto_gossip {
    uint64_t alive;
    uint64_t suspect;
    uint64_t dead;
    uint64_t left;
    uint64_t dropped_auth;      /* HMAC did not verify */
    uint64_t dropped_cluster;   /* another cluster name */
    uint64_t dropped_malformed; /* could not be decoded */
};

struct lg_proto_status {
    uint64_t node_id;
    uint8_t role; /* enum lg_proto_role */
    uint64_t leader_id; /* 0: unknown */
    struct lg_str leader_client; /* len 0: unknown (encoded as nil) */
    uint64_t term;
    uint64_t commit_index;
    uint64_t applied_index;
    uint64_t journal_seq;
    uint8_t chain_head[LG_PROTO_HASH_BYTES];
    struct lg_str public_key; /* raw Ed25519 key, hex on the wire; len 0: absent */
    bool has_audit;           /* audit present (absent from older nodes) */
    struct lg_proto_audit audit;
    bool has_gossip;          /* gossip present (absent from nodes without gossip) */
    struct lg_proto_gossip gossip;
};

/* A committed transaction (get_tx, list_txs). */
struct lg_proto_tx {
    struct lg_str ledger;
    uint64_t tx_id;
    uint64_t seq;
    uint64_t index;
    uint64_t timestamp_us;
    const struct lg_posting *postings;
    uint32_t n_postings;
    const struct lg_kv *metadata;
    uint32_t n_metadata;
    struct lg_str reference; /* len 0: none (encoded as nil) */
    uint8_t hash[LG_PROTO_HASH_BYTES];
};

struct lg_proto_volume {
    struct lg_str asset;
    lg_u128 input;
    lg_u128 output;
    lg_i128 balance; /* input - output, given by the caller */
};

struct lg_proto_account {
    struct lg_str address;
    const struct lg_kv *metadata;
    uint32_t n_metadata;
    uint64_t version;
    const struct lg_proto_volume *volumes;
    uint32_t n_volumes;
};

struct lg_proto_balance {
    struct lg_str asset;
    lg_i128 balance;
};

struct lg_proto_account_balances {
    struct lg_str address;
    const struct lg_proto_balance *balances;
    uint32_t n_balances;
};

struct lg_proto_balances {
    const struct lg_proto_account_balances *accounts;
    uint32_t n_accounts;
    const struct lg_proto_balance *totals;
    uint32_t n_totals;
};

struct lg_proto_digest {
    uint64_t tree_size;
    uint8_t root[LG_PROTO_HASH_BYTES];
    uint64_t timestamp_us;
    uint64_t node_id;
    struct lg_str public_key; /* raw bytes; hex on the wire */
    struct lg_str signature;  /* raw bytes; hex on the wire */
};

/* A proof path: n hashes of LG_PROTO_HASH_BYTES each, in RFC 9162 order (leaf side
 * first). */
struct lg_proto_path {
    const uint8_t (*hashes)[LG_PROTO_HASH_BYTES];
    uint32_t n; /* 0..LG_PROTO_PATH_HASHES_MAX */
};

struct lg_proto_proof {
    uint64_t seq;
    uint64_t leaf_index;  /* seq - 1 */
    uint64_t tree_size;
    struct lg_str body;   /* the journal record body (raw; hex on the wire),
                           * 1..LG_RECORD_BODY_BYTES_MAX bytes */
    struct lg_proto_path path;
    struct lg_proto_digest digest; /* signed, for tree_size */
};

struct lg_proto_consistency_proof {
    uint64_t from_size;
    uint64_t to_size;
    struct lg_proto_path path;
};

/* One member of the Raft configuration (members op). */
struct lg_proto_member {
    uint64_t id;
    struct lg_str raft_address;
    struct lg_str client_address; /* len 0: unknown (encoded as nil) */
    struct lg_str role;           /* "voter", "standby", "spare"; "none": known to gossip
                                     only */
    bool leader;                  /* the node answering believes this one leads */
    struct lg_str gossip;         /* "alive", "suspect", "dead", "left"; len 0: unknown to
                                     gossip (encoded as nil; absent from older nodes) */
    uint64_t incarnation;         /* gossip incarnation; 0 when unknown */
};

/* Members in one answer: the Raft configuration holds a handful of servers. */
#define LG_PROTO_MEMBERS_MAX 64u

/* A response. When ok is false only error is meaningful. */
struct lg_proto_response {
    uint64_t id;
    bool ok;
    struct lg_proto_error error;
    union {
        uint64_t ping_node_id;
        struct lg_proto_status status;
        struct lg_proto_tx_result submit;
        struct {
            const struct lg_proto_batch_item *items;
            uint32_t n_items;
        } batch;
        struct lg_proto_tx get_tx;
        struct {
            const struct lg_proto_tx *txs;
            uint32_t n_txs;
            struct lg_str cursor; /* len 0: no further page */
        } list_txs;
        struct lg_proto_account account;
        struct lg_proto_balances balances;
        struct lg_proto_digest digest;
        struct lg_proto_proof proof;
        struct lg_proto_consistency_proof consistency;
        struct {
            const struct lg_proto_member *items;
            uint32_t n_items;
        } members;
        uint64_t read_index; /* the index to wait for */
        /* records[i] has seq first_seq + i; both codecs check first_seq >= 1 and
         * first_seq + n_records - 1 <= last_seq when n_records > 0. */
        struct {
            const struct lg_str *records; /* journal record bodies, seq order; msgpack bins
                                           * of 1..LG_RECORD_BODY_BYTES_MAX bytes each */
            uint32_t n_records;
            uint64_t first_seq; /* seq of records[0] (the request's from_seq) */
            uint64_t last_seq;  /* the serving node's last journal seq */
        } journal_read;
    } u;
};

/* "submit" for LG_PROTO_OP_SUBMIT...; "" for NONE or out of range. Never NULL. */
const char *lg_proto_op_name(int op);

/* The op named by s (len bytes), or LG_PROTO_OP_NONE. */
int lg_proto_op_from_name(const char *s, size_t len);

/* "leader", "follower", ...; "" when out of range. */
const char *lg_proto_role_name(int role);

/* Decode and validate one request (a frame body of len bytes). Strings point into buf,
 * arrays are allocated from arena. out->id is set as soon as it is read, so an error can
 * be answered with the request's id (0 when absent or unreadable). Returns LG_OK,
 * LG_EBADREQ (shape, type, names, amounts, missing or duplicate field), LG_ETOOLARGE (a
 * count or size above lib/limits.h), LG_EOVERFLOW (an amount above 2^128 - 1),
 * LG_EUNKNOWNOP, LG_ENOMEM (arena); errmsg (LG_ERRMSG_SIZE bytes) names the field. */
int lg_proto_decode_request(const void *buf, size_t len, struct lg_arena *arena,
                            struct lg_proto_request *out, char *errmsg);

/* Validate a request as the decoder would (used by the request encoder). Same codes. */
int lg_proto_check_request(const struct lg_proto_request *req, char *errmsg);

/* Client side: append one request frame (length prefix + body). Validates first. Returns
 * LG_OK, the validation codes of lg_proto_check_request, LG_ETOOLARGE (over one frame),
 * LG_ENOMEM. On error out->len is unchanged. */
int lg_proto_encode_request(const struct lg_proto_request *req, struct lg_buf *out,
                            char *errmsg);

/* Server side: append one response frame for op (the request's op; it selects which
 * member of r->u is written when r->ok). Returns LG_OK, LG_ETOOLARGE (the response would
 * exceed one frame, or journal_read has more than LG_PROTO_JOURNAL_READ_RECORDS_MAX records
 * or a body above LG_RECORD_BODY_BYTES_MAX: answer with an error instead), LG_EINVAL (op
 * NONE or unknown, a role out of range, journal_read seqs inconsistent or an empty record
 * body), LG_ENOMEM. On error out->len is unchanged. */
int lg_proto_encode_response(int op, const struct lg_proto_response *r,
                             struct lg_buf *out);

/* Shorthand for an error response: code and message (NUL-terminated, may be NULL: the
 * default message), leader (NUL-terminated client address or NULL). */
int lg_proto_encode_error(uint64_t id, int code, const char *message, const char *leader,
                          struct lg_buf *out);

/* Client side: decode one response frame body for a request of op. Unknown keys are
 * skipped. Returns LG_OK (r->ok says which kind), LG_EBADREQ (malformed response),
 * LG_ETOOLARGE, LG_EOVERFLOW, LG_ENOMEM; errmsg names the field. */
int lg_proto_decode_response(int op, const void *buf, size_t len, struct lg_arena *arena,
                             struct lg_proto_response *r, char *errmsg);

#endif /* LG_PROTO_H */
