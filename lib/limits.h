/* limits: every bound of the system, with why it is what it is. Queues and buffers are
 * sized from these at start; anything beyond them is rejected with a precise error. */
#ifndef LG_LIMITS_H
#define LG_LIMITS_H

#include "assert.h"

/* Wire frame body (DESIGN §8): 1 ≤ N ≤ 16 MiB. Big enough for a full batch, small enough
 * that a hostile length prefix cannot make a node allocate much. */
#define LG_FRAME_BYTES_MAX (16u * 1024u * 1024u)

/* Ledger name: [a-z0-9_-]{1,64} (DESIGN §5). */
#define LG_LEDGER_BYTES_MAX 64u

/* Account address: at most 256 bytes (DESIGN §5). */
#define LG_ADDRESS_BYTES_MAX 256u

/* Asset: [A-Z][A-Z0-9]{0,15}(/[0-9]{1,2})? → 16 + 3 bytes. */
#define LG_ASSET_BYTES_MAX 19u

/* Postings per transaction. Real transfers have a handful; 1024 leaves room for
 * payouts/splits while keeping one transaction's apply cost and record size bounded. */
#define LG_POSTINGS_MAX 1024u

/* Metadata entries per transaction or account, and their sizes. */
#define LG_METADATA_ENTRIES_MAX 64u
#define LG_METADATA_KEY_BYTES_MAX 128u
#define LG_METADATA_VALUE_BYTES_MAX 4096u

/* Idempotency reference: printable bytes, at most 128 (like Stripe's idempotency keys
 * plus room for a prefix). */
#define LG_REFERENCE_BYTES_MAX 128u

/* Conditions per transaction. */
#define LG_CONDITIONS_MAX 64u

/* Commands in one Raft entry (one FSM batch). */
#define LG_BATCH_COMMANDS_MAX 4096u

/* One journal record body. A transaction with LG_POSTINGS_MAX postings, full metadata
 * and post-transaction volumes fits well below this. */
#define LG_RECORD_BODY_BYTES_MAX (4u * 1024u * 1024u)

/* Decoding budget of one Raft entry (bytes the decoder may request from its arena; see
 * lib/arena.h): decoding expands input by at most LG_DECODE_EXPANSION_MAX arena bytes per
 * input byte (an array of n items of at most 16 * their smallest encoding, rounded up to
 * 16 bytes, over at least 1 + n * that many input bytes; fsm/fsm.c asserts the struct
 * sizes), plus the command array (one frame's worth at most). So every valid entry up to
 * LG_FRAME_BYTES_MAX fits: going over is a deterministic "too large", never a function of
 * memory. Only what an entry needs is ever allocated. */
#define LG_DECODE_EXPANSION_MAX 16u
#define LG_DECODE_ARENA_BYTES_MAX ((LG_DECODE_EXPANSION_MAX + 1u) * (size_t)LG_FRAME_BYTES_MAX)

/* A page of query results. */
#define LG_PAGE_LIMIT_DEFAULT 100u
#define LG_PAGE_LIMIT_MAX 1000u

LG_STATIC_ASSERT(LG_RECORD_BODY_BYTES_MAX <= LG_FRAME_BYTES_MAX,
                 "a record must fit in one wire frame");
LG_STATIC_ASSERT(LG_PAGE_LIMIT_DEFAULT <= LG_PAGE_LIMIT_MAX, "default page within max");
LG_STATIC_ASSERT(LG_POSTINGS_MAX * (2u * LG_ADDRESS_BYTES_MAX + 64u) < LG_RECORD_BODY_BYTES_MAX,
                 "largest posting list fits in a record");

#endif /* LG_LIMITS_H */
