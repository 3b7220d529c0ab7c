/* cmd: the state machine's commands, journal records and results, and their canonical,
 * versioned msgpack encodings (implemented in fsm/codec.c).
 *
 * A batch of commands is what one Raft entry carries. Its encoding is canonical: one
 * byte sequence per value (fixed map key order, shortest integer forms, metadata sorted
 * by key with no duplicates), so replicas that decode and re-encode agree byte for byte.
 * Decoding never trusts its input: every length is bounded (lib/limits.h), every name is
 * validated (lib/name.h), and failure is an error code with a message naming the field.
 *
 * Decoded values are views: strings and arrays point into the caller's input buffer or
 * into the lg_arena passed to the decoder, valid while both live.
 *
 * Encodings (version 1). Maps with these keys in this order; absent optionals omitted.
 *   batch:   {"v": 1, "cmds": [cmd...]}
 *   cmd:     {"k": kind(uint), "ts": timestamp_us(uint), ...kind fields}
 *     submit:       "ledger", "postings": [[source, destination, amount, asset]...],
 *                   "metadata"?: {k: v}, "reference"?: str, "conditions"?: [cond...]
 *     set_metadata: "ledger", "address", "metadata": {k: v}
 *     set_limit:    "ledger", "address", "asset", "limit": amount | nil (nil = unlimited)
 *   cond:    [kind(uint), account, version(uint)] | [kind, account, asset, min(amount)]
 *   amount:  uint when < 2^64, else bin8 of 16 bytes big-endian (canonical: never bin for
 *            a value that fits in 64 bits).
 *   record:  {"v": 1, "k": kind, "seq", "index", "pos", "ts", "ledger", ...kind fields}
 *            "pos": the command's 0-based position in its Raft entry, below
 *            LG_BATCH_COMMANDS_MAX; (index, pos) names the command that produced the
 *            record (a re-fed entry is matched by it after a restart).
 *     tx:           "tx_id", "postings", "metadata"?, "reference"?, "volumes":
 *                   [[account, asset, input, output]...] (post-transaction volumes of
 *                   every (account, asset) touched, sorted by account then asset)
 *     set_metadata: "address", "metadata"
 *     set_limit:    "address", "asset", "limit" */
#ifndef LG_FSM_CMD_H
#define LG_FSM_CMD_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/amount.h"
#include "../lib/arena.h"
#include "../lib/buf.h"
#include "../lib/err.h"
#include "../lib/journal.h"
#include "../lib/limits.h"
#include "../lib/tx.h"

#define LG_CMD_VERSION 1u
#define LG_RECORD_VERSION 1u

/* struct lg_str, lg_posting, lg_kv, lg_condition and enum lg_cond_kind: lib/tx.h. */

enum lg_cmd_kind {
    LG_CMD_SUBMIT = 1,
    LG_CMD_SET_METADATA = 2,
    LG_CMD_SET_LIMIT = 3,
};

struct lg_cmd_submit {
    struct lg_str ledger;
    const struct lg_posting *postings;
    uint32_t n_postings;
    const struct lg_kv *metadata; /* sorted by key, unique */
    uint32_t n_metadata;
    struct lg_str reference;      /* len 0 = none */
    const struct lg_condition *conditions;
    uint32_t n_conditions;
};

struct lg_cmd_set_metadata {
    struct lg_str ledger;
    struct lg_str address;
    const struct lg_kv *metadata; /* merged into the account's; sorted, unique */
    uint32_t n_metadata;
};

/* Overdraft limit: the account's balance in asset may go down to -limit. */
struct lg_cmd_set_limit {
    struct lg_str ledger;
    struct lg_str address;
    struct lg_str asset;
    lg_u128 limit;
    bool unlimited; /* true: no floor (like world) */
};

struct lg_cmd {
    uint8_t kind;          /* enum lg_cmd_kind */
    uint64_t timestamp_us; /* stamped by the leader; microseconds since the Unix epoch */
    union {
        struct lg_cmd_submit submit;
        struct lg_cmd_set_metadata set_metadata;
        struct lg_cmd_set_limit set_limit;
    } u;
};

struct lg_batch {
    const struct lg_cmd *cmds;
    uint32_t n_cmds;
};

/* Post-transaction volumes of one (account, asset). */
struct lg_volume {
    struct lg_str account;
    struct lg_str asset;
    lg_u128 input;
    lg_u128 output;
};

/* A decoded journal record body. */
struct lg_record {
    uint8_t kind; /* enum lg_cmd_kind: what was committed */
    uint64_t seq;
    uint64_t raft_index;
    uint32_t pos; /* position of the command in its Raft entry, 0-based */
    uint64_t timestamp_us;
    struct lg_str ledger;
    /* LG_CMD_SUBMIT */
    uint64_t tx_id;
    const struct lg_posting *postings;
    uint32_t n_postings;
    const struct lg_kv *metadata; /* also LG_CMD_SET_METADATA */
    uint32_t n_metadata;
    struct lg_str reference;
    const struct lg_volume *volumes;
    uint32_t n_volumes;
    /* LG_CMD_SET_METADATA, LG_CMD_SET_LIMIT */
    struct lg_str address;
    /* LG_CMD_SET_LIMIT */
    struct lg_str asset;
    lg_u128 limit;
    bool unlimited;
};

/* One command's outcome. code LG_OK: committed (tx_id valid for submits); else a
 * rejection (LG_EBADREQ, LG_EFUNDS, LG_ECONDITION, LG_ECONFLICT, LG_EOVERFLOW) with a
 * message naming the field, account or asset. A submit whose reference was already
 * committed with identical content returns the original result with code LG_OK and
 * duplicate = true. */
struct lg_cmd_result {
    int code;
    bool duplicate;
    uint64_t tx_id;
    uint64_t seq;
    uint64_t raft_index;
    uint64_t timestamp_us;
    uint8_t hash[LG_HASH_BYTES];
    char message[160];
};

/* Encode a batch canonically into out (appended after out->len). Metadata passed in any
 * order is sorted; duplicate keys are LG_EBADREQ. Returns LG_OK, LG_EBADREQ (invalid
 * names, amount 0, too many postings... the same checks as decoding, message in errmsg),
 * LG_ENOMEM. */
int lg_cmd_encode_batch(const struct lg_batch *batch, struct lg_buf *out, char *errmsg);

/* The same for commands that already passed lg_cmd_check (the leader's queue): no
 * validation outside -Ddebug_asserts builds. LG_OK or LG_ENOMEM. */
int lg_cmd_encode_batch_valid(const struct lg_batch *batch, struct lg_buf *out, char *errmsg);

/* Decode a batch. Strings point into buf; arrays are allocated from arena. Every field is
 * checked: type, presence, bounds, names (lib/name.h), amounts > 0, canonical form.
 * Returns LG_OK, LG_EBADREQ / LG_ETOOLARGE (message names the field: "cmds[3].postings[1]
 * .asset: ..."), LG_ENOMEM.
 *
 * Per-command validation: a batch whose envelope is valid but one command is invalid
 * decodes; that command has kind 0 and cmd_errors[i] (LG_ERRMSG_SIZE bytes each, may be
 * NULL) / cmd_codes[i] say why, so the state machine can reject it alone, deterministically.
 * cmd_codes/cmd_errors have room for LG_BATCH_COMMANDS_MAX entries. */
int lg_cmd_decode_batch(const void *buf, size_t len, struct lg_arena *arena,
                        struct lg_batch *out, int *cmd_codes, char (*cmd_errors)[LG_ERRMSG_SIZE],
                        char *errmsg);

/* Validate and canonicalise one command without encoding (used by the leader before
 * queueing: shape, names, amounts, limits — never balances). */
int lg_cmd_check(const struct lg_cmd *cmd, char *errmsg);

/* lg_cmd_check plus the canonical form the decoder guarantees (metadata sorted by key,
 * unique): for commands that reach the state machine without being decoded
 * (lg_fsm_apply_batch). Same codes and messages as the decoder. */
int lg_cmd_check_canonical(const struct lg_cmd *cmd, char *errmsg);

/* Encode a journal record body canonically into out. */
int lg_record_encode(const struct lg_record *rec, struct lg_buf *out, char *errmsg);

/* The same for a record the caller built from validated parts (the state machine's
 * commit): no validation outside -Ddebug_asserts builds. LG_OK or LG_ENOMEM. */
int lg_record_encode_valid(const struct lg_record *rec, struct lg_buf *out, char *errmsg);

/* Decode a record body (bytes from disk: validated like network input; LG_ECORRUPT when
 * the bytes are not a valid record). */
int lg_record_decode(const void *buf, size_t len, struct lg_arena *arena,
                     struct lg_record *out, char *errmsg);

/* Digest of a submit command's content for idempotency: SHA-256 over the canonical
 * encoding of (ledger, postings, metadata, reference), excluding the timestamp and the
 * conditions (preconditions, not content: a retry may carry different ones; any in
 * submit are ignored). Two submits with the same reference are "identical" iff their
 * digests are equal. */
int lg_cmd_submit_digest(const struct lg_cmd_submit *submit, uint8_t out[LG_HASH_BYTES]);

/* The same digest of a submit that already passed lg_cmd_check (no validation here), with
 * a caller-owned context and a fetched SHA-256 (no allocation or algorithm lookup per
 * call: the state machine digests every referenced transaction). LG_OK or LG_EIO. */
int lg_cmd_submit_digest_valid(EVP_MD_CTX *ctx, const EVP_MD *md,
                               const struct lg_cmd_submit *submit, uint8_t out[LG_HASH_BYTES]);

#endif /* LG_FSM_CMD_H */
