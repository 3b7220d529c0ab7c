/* merkle: the RFC 9162 Merkle tree over the journal's records, stored beside the journal.
 *
 * The tree (RFC 9162 §2.1, exactly; an independent verifier checks it):
 *   leaf hash  = SHA-256(0x00 || body)          body = the record body bytes as stored
 *   node hash  = SHA-256(0x01 || left || right)
 *   MTH({})    = SHA-256("")                    the empty tree
 *   MTH(D[n])  = node(MTH(D[0:k]), MTH(D[k:n])) k = the largest power of two < n
 * The leaf with index i is the record with seq i + 1. Tree size n = number of records.
 *
 * Storage (docs/verification.md): one append-only file, <dir>/.merkle (hidden, so the
 * journal ignores it when dir is the journal directory), holding a 64-byte header and then
 * the hash of every complete subtree of level >= 1 (2, 4, 8 ... leaves, aligned) in the
 * order they complete: about 32 bytes per record. Leaf hashes are not stored: a root reads
 * at most one record body through the source (below), an inclusion proof two, a
 * consistency proof three, and recomputes their leaf hashes. Every root, inclusion proof
 * and consistency proof costs O(log n) hash reads (memory reads through a read-only
 * mapping of the file); nothing walks the tree.
 *
 * The file is derived data: appends are buffered and written without fsync on the hot
 * path; lg_merkle_sync() writes, fdatasyncs and then records in the header how many
 * hashes are durable, the records L they cover and the source's chain hash of record L
 * (the journal's chained hash of seq L, which covers every record up to L). Open
 * reconciles the file with the source (the journal): a missing, foreign, damaged or
 * version-1 header, or a chain hash of record L that is not the source's (a file left
 * beside another history) mean a full rebuild; durable hashes covering more records than
 * the source has (it lost synced records) or a file holding fewer hashes than its header
 * calls durable mean that every stored hash is recomputed and compared; hashes beyond the
 * source's size (the journal was cut by recovery) are truncated; hashes written after the
 * last sync are recomputed from the records and compared (a mismatch is overwritten); a
 * short file is extended. Each of these says so in one log line (lib/log.h, merkle_*).
 * Damage inside the synced part (bit rot, tampering) is trusted by open; it is found by
 * lg_merkle_check() (`ledger-node verify`), by the server's check of every answer against
 * the current root (cmd/server.c: it then calls lg_merkle_mark_damaged, so the next open
 * recomputes everything) and by the cross-replica audit; deleting the file rebuilds it.
 *
 * Errors: LG_OK; LG_ERANGE (a size or index outside the tree); LG_EINVAL (bad arguments,
 * e.g. a proof buffer too small: LG_MERKLE_PROOF_MAX always suffices); LG_EIO/LG_ENOSPC
 * (file I/O; sticky: the tree then refuses appends until closed); LG_ECORRUPT (the
 * source's record could not be read or verified); LG_ENOMEM.
 *
 * Threading: one thread at a time (the node's loop thread: apply and the read ops). */
#ifndef LG_MERKLE_H
#define LG_MERKLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "journal.h"

/* Hash bytes (SHA-256). Equal to LG_HASH_BYTES. */
#define LG_MERKLE_HASH_BYTES 32u
/* The largest tree size the module accepts (2^62 leaves; file offsets and the proof
 * length bound below stay far from overflow). */
#define LG_MERKLE_SIZE_MAX (UINT64_C(1) << 62)
/* Hashes in the longest inclusion or consistency proof for any size <= LG_MERKLE_SIZE_MAX:
 * inclusion <= ceil(log2 n) = 62, consistency <= ceil(log2 n) + 1 = 63. */
#define LG_MERKLE_PROOF_MAX 64u
/* The tree file's name inside dir. */
#define LG_MERKLE_FILE ".merkle"

/* Called for each leaf a source delivers: index (0-based), the body bytes (borrowed for
 * the call). A non-zero return stops the read and is returned by it. */
typedef int (*lg_merkle_leaf_cb)(void *arg, uint64_t index, const uint8_t *body,
                                 uint32_t len);

/* Where the tree gets record bodies it does not store: the journal in a node
 * (lg_merkle_source_journal), synthetic bodies in a benchmark. read() calls leaf for
 * every index in [first, first + count), in order, then returns LG_OK; or returns the
 * first non-zero code of leaf, or its own error (LG_ECORRUPT, LG_EIO, LG_ERANGE).
 * count == 1 is a random read (a proof's sibling leaf); larger counts are sequential. */
struct lg_merkle_source {
    int (*read)(void *arg, uint64_t first, uint64_t count, lg_merkle_leaf_cb leaf,
                void *leaf_arg);
    void *arg;
    /* Optional (NULL: the file is not bound to the source's history): the chain hash of
     * leaf index's record (the journal's chained hash of seq index + 1), which depends on
     * every record up to it. Read once per lg_merkle_sync and per open. LG_OK or the
     * source's error. */
    int (*chain)(void *arg, uint64_t index, uint8_t out[32]);
};

/* A source over a journal (borrowed; must outlive the tree): leaf i = record seq i + 1.
 * Single leaves use lg_journal_read, ranges an iterator. Never appends to j. */
void lg_merkle_source_journal(struct lg_merkle_source *src, struct lg_journal *j);

struct lg_merkle; /* opaque */

/* Open (create when absent) the tree file <dir>/.merkle and reconcile it with src, whose
 * leaf count is size (the journal's last seq): see the top of this file. src is copied;
 * what it points to is borrowed until lg_merkle_close(). On success *out is a tree of
 * exactly size leaves. On failure *out is NULL and errmsg (LG_ERRMSG_SIZE bytes, may be
 * NULL) says why. Returns LG_OK; LG_EINVAL (size > LG_MERKLE_SIZE_MAX, NULL arguments);
 * LG_ENOTFOUND (dir absent); LG_EIO/LG_ENOSPC; LG_ECORRUPT/LG_EIO from src; LG_ENOMEM. */
int lg_merkle_open(struct lg_merkle **out, const char *dir, const struct lg_merkle_source *src,
                   uint64_t size, char *errmsg);

/* Write out buffered hashes (no fsync), free. Returns LG_OK or LG_EIO (resources are freed
 * either way). NULL is a no-op. */
int lg_merkle_close(struct lg_merkle *t);

/* Append the leaf for the next record (index lg_merkle_size()): body borrowed for the
 * call. Hashes the leaf and every subtree it completes (one node hash on average); buffered,
 * no system call on most calls. Returns LG_OK; LG_EINVAL (len 0, or the tree is full);
 * LG_EIO/LG_ENOSPC (writing the buffer out failed; sticky). */
int lg_merkle_append(struct lg_merkle *t, const void *body, uint32_t len);

/* Write out buffered hashes, fdatasync the file, then record in its header that they are
 * durable (open trusts them without recomputing), with the source's chain hash of the last
 * record (one source read; none when the source has no chain). Call after
 * lg_journal_sync(): the tree must never claim more than the journal keeps. After
 * lg_merkle_mark_damaged it only writes the hashes out. Returns LG_OK; LG_EIO/LG_ENOSPC
 * (sticky); the source's error reading the chain hash (not sticky: the header keeps its
 * previous, still true, contents). */
int lg_merkle_sync(struct lg_merkle *t);

/* Number of leaves (= records). */
uint64_t lg_merkle_size(const struct lg_merkle *t);

/* Root hash of the tree of the first size leaves, size <= lg_merkle_size() (0: the empty
 * root). O(log n) hash reads, at most one record read. Returns LG_OK; LG_ERANGE; LG_EIO;
 * LG_ECORRUPT (source). */
int lg_merkle_root(struct lg_merkle *t, uint64_t size, uint8_t root[LG_MERKLE_HASH_BYTES]);

/* Inclusion proof (RFC 9162 §2.1.3.1, PATH(m, D[n])) of leaf leaf_index in the tree of the
 * first size leaves: the sibling hashes from the leaf up, into path[0..*len). cap is the
 * room in path (LG_MERKLE_PROOF_MAX suffices). At most two record reads.
 * Returns LG_OK; LG_ERANGE (leaf_index >= size, or size > lg_merkle_size()); LG_EINVAL
 * (cap too small); LG_EIO; LG_ECORRUPT (source). */
int lg_merkle_inclusion(struct lg_merkle *t, uint64_t leaf_index, uint64_t size,
                        uint8_t (*path)[LG_MERKLE_HASH_BYTES], size_t cap, size_t *len);

/* Consistency proof (RFC 9162 §2.1.4.1, PROOF(m, D[n])) between the trees of the first
 * from_size and to_size leaves, into path[0..*len). from_size == 0 or from_size == to_size
 * give an empty proof. Returns LG_OK; LG_ERANGE (from_size > to_size, or to_size >
 * lg_merkle_size()); LG_EINVAL (cap too small); LG_EIO; LG_ECORRUPT (source). */
int lg_merkle_consistency(struct lg_merkle *t, uint64_t from_size, uint64_t to_size,
                          uint8_t (*path)[LG_MERKLE_HASH_BYTES], size_t cap, size_t *len);

/* The tree was found to serve a stored hash that is wrong (a check of an answer against
 * the current root failed): write a header that trusts no stored hash, so the next open
 * recomputes every hash from the source and compares (repairing from the first
 * difference), and keep it so (lg_merkle_sync no longer records hashes as durable) until
 * then. The tree keeps working (no rebuild on the hot path). Idempotent. Returns LG_OK or
 * LG_EIO/LG_ENOSPC (sticky). */
int lg_merkle_mark_damaged(struct lg_merkle *t);

/* Whether lg_merkle_mark_damaged was called since open (or the last rebuild). */
bool lg_merkle_damaged(const struct lg_merkle *t);

/* Throw the stored hashes away and recompute the whole tree from the source (a full read
 * of the records). Returns like lg_merkle_open. */
int lg_merkle_rebuild(struct lg_merkle *t);

/* Bytes the tree file takes on disk (header and hashes, buffered ones included). */
uint64_t lg_merkle_storage_bytes(const struct lg_merkle *t);

/* Message of the last error returned by t (empty string when none). */
const char *lg_merkle_errmsg(const struct lg_merkle *t);

/* The builder's leaf hash: SHA-256(0x00 || body). */
void lg_merkle_leaf_hash(const void *body, size_t len, uint8_t out[LG_MERKLE_HASH_BYTES]);

/* ---- Offline check (ledger-node verify) ---- */

/* What lg_merkle_check() found. */
struct lg_merkle_check_report {
    uint64_t size;          /* leaves the check covered (the source's size) */
    uint64_t hashes_stored; /* complete hashes in the file */
    uint64_t hashes_checked;/* of those, compared with the recomputed tree */
    uint64_t durable;       /* hashes the header says are durable */
    uint64_t covered;       /* leaves the stored hashes cover (< size: the file is short,
                               which open extends; not damage) */
    uint64_t extra_hashes;  /* hashes beyond the records' tree (written for records a torn
                               journal tail lost; open cuts them): a note, not damage */
    uint32_t partial_bytes; /* bytes of a partial trailing hash (a write a crash tore; open
                               cuts it): a note, not damage */
    /* On LG_ECORRUPT: the first stored hash that differs from the records' tree. */
    uint32_t bad_level;     /* subtree level (1: two leaves) */
    uint64_t bad_index;     /* subtree index at that level */
    uint64_t bad_seq;       /* seq of the last record that subtree covers (it completes it) */
    uint64_t bad_offset;    /* byte offset of the hash in the file */
    uint8_t root[LG_MERKLE_HASH_BYTES]; /* root of the records' tree at size (on LG_OK) */
};

/* Read <dir>/.merkle without changing anything and compare every stored hash with the
 * tree recomputed from src's size leaves (one sequential read of src). progress (may be
 * NULL) is called about every 1% with the leaves done. Returns LG_OK (every stored hash
 * within the records' tree matches; notes, not damage: report->covered < size, a file
 * longer than the records' tree beyond its durable part (extra_hashes), a partial trailing
 * hash (partial_bytes)); LG_ENOTFOUND (no tree file); LG_ECORRUPT (damage: a bad or
 * version-1 header; a chain hash of the last record the durable hashes cover that is not
 * src's (another history); fewer hashes than the header calls durable; or a hash that
 * differs: report says which, errmsg says it in words; durable hashes covering more
 * records than src has are compared like the rest);
 * LG_EIO; src's errors. */
int lg_merkle_check(const char *dir, const struct lg_merkle_source *src, uint64_t size,
                    void (*progress)(void *arg, uint64_t done, uint64_t total),
                    void *progress_arg, struct lg_merkle_check_report *report, char *errmsg);

#endif /* LG_MERKLE_H */
