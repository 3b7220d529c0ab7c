/* journal: the segmented, hash-chained, append-only record store every replica keeps.
 *
 * A journal is a directory of segments. Each segment is a file of records plus a sparse
 * offset index file; file names carry the segment's first seq, zero-padded to 20 digits,
 * so `ls` sorts them. Records are numbered by seq from 1 with no gaps. Each record holds
 * an opaque body (the state machine decides what it is), the CRC32C of the body, and
 * hash = SHA-256(prev_hash || body), the first record chaining from 32 zero bytes.
 *
 * Only the last segment is open for appends. When it would exceed segment_bytes_max it is
 * sealed: its trailer (last seq, last hash) is written, the file and its index fsync'd and
 * made read-only; it is never written again.
 *
 * Durability: append does not fsync. lg_journal_sync() writes out buffered records and
 * fsyncs the open segment (and the directory after a segment was created or sealed).
 *
 * Recovery (lg_journal_open): the open segment is scanned; the first record whose header,
 * CRC or chain does not verify ends it and the file is truncated there (a torn tail after
 * a crash). Sealed segments are checked for their header and trailer and for the chain
 * links between segments; a bad sealed segment is corruption (LG_ECORRUPT with its seq and
 * file offset in lg_journal_corruption()), never skipped. A missing, truncated or invalid
 * index file is rebuilt from its segment. Reads verify the CRCs of every record they return.
 * lg_journal_verify() checks everything: every CRC and the whole chain.
 *
 * Threading: a journal is used by one thread at a time. */
#ifndef LG_JOURNAL_H
#define LG_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define LG_HASH_BYTES 32u

/* Default size at which the open segment rolls: 64 MiB. */
#define LG_JOURNAL_SEGMENT_BYTES_DEFAULT (64u * 1024u * 1024u)
/* Smallest allowed roll size (tests use small ones to exercise many rolls). */
#define LG_JOURNAL_SEGMENT_BYTES_MIN (4u * 1024u)

struct lg_journal_options {
    uint64_t segment_bytes_max; /* roll size; 0 means LG_JOURNAL_SEGMENT_BYTES_DEFAULT */
    uint32_t index_every;       /* one sparse index entry per this many records; 0 = 64 */
    bool create;                /* create the directory/journal if absent */
    bool read_only;             /* change nothing on disk (for verify tools): no truncation,
                                   no index rewrite, no lock; append/sync return LG_EINVAL */
};

/* What recovery or a read found wrong (valid after LG_ECORRUPT). */
struct lg_journal_corruption {
    uint64_t seq;      /* seq of the first bad record (or the segment's first seq) */
    uint64_t offset;   /* byte offset in that file */
    char file[256];    /* segment file name (no directory) */
};

/* A record as returned by reads: a view. body points into the journal's read buffer and
 * is valid until the next call on the same journal (or iterator). */
struct lg_journal_record {
    uint64_t seq;
    const uint8_t *body;
    uint32_t body_len;
    uint8_t hash[LG_HASH_BYTES];      /* this record's chained hash */
    uint8_t prev_hash[LG_HASH_BYTES]; /* the previous record's hash (zeros for seq 1) */
};

struct lg_journal; /* opaque */

/* Open (and recover) the journal in dir. On success *out is a journal to close with
 * lg_journal_close(). On failure *out is NULL and errmsg (LG_ERRMSG_SIZE bytes, may be
 * NULL) says why. corruption (may be NULL) is filled on LG_ECORRUPT.
 * Returns LG_OK; LG_ENOTFOUND (dir absent and !create); LG_EINVAL (dir is not a journal:
 * foreign files named like segments, bad magic or version, bad options); LG_ECORRUPT;
 * LG_EIO; LG_ENOMEM. Recovery that truncated a torn tail is not an error: see
 * lg_journal_recovered_bytes(). */
int lg_journal_open(struct lg_journal **out, const char *dir,
                    const struct lg_journal_options *opts, char *errmsg,
                    struct lg_journal_corruption *corruption);

/* Write out buffered records, seal nothing, close files, free. Does not fsync: call
 * lg_journal_sync() first when durability matters. Returns LG_OK or LG_EIO (resources are
 * freed either way). NULL is a no-op. */
int lg_journal_close(struct lg_journal *j);

/* Append one record. body is borrowed for the call (copied). On success *seq_out (may be
 * NULL) is the new record's seq and hash_out (may be NULL, LG_HASH_BYTES) its hash.
 * Returns LG_OK; LG_ETOOLARGE (body_len > LG_RECORD_BODY_BYTES_MAX); LG_EINVAL (body_len 0
 * or NULL body); LG_EIO/LG_ENOSPC (the journal then refuses further appends: sticky). */
int lg_journal_append(struct lg_journal *j, const void *body, uint32_t body_len,
                      uint64_t *seq_out, uint8_t *hash_out);

/* Write out buffered records and fsync the open segment (and the directory if a segment
 * was created or sealed since the last sync). Returns LG_OK or LG_EIO/LG_ENOSPC (sticky). */
int lg_journal_sync(struct lg_journal *j);

/* Read the record with this seq (view valid until the next call on j).
 * Returns LG_OK; LG_ERANGE (seq 0 or > last seq); LG_ECORRUPT (CRC or header mismatch;
 * lg_journal_corruption() says where); LG_EIO. */
int lg_journal_read(struct lg_journal *j, uint64_t seq, struct lg_journal_record *rec);

/* Last seq (0 when empty) and its hash (zeros when empty). */
uint64_t lg_journal_last_seq(const struct lg_journal *j);
void lg_journal_last_hash(const struct lg_journal *j, uint8_t hash[LG_HASH_BYTES]);

/* Bytes cut from the open segment's torn tail by the last open (0 when clean). */
uint64_t lg_journal_recovered_bytes(const struct lg_journal *j);

/* Details of the last LG_ECORRUPT returned by j. */
const struct lg_journal_corruption *lg_journal_corruption(const struct lg_journal *j);

/* Message of the last error returned by j (empty string when none). */
const char *lg_journal_errmsg(const struct lg_journal *j);

/* Iterate records from_seq..to_seq inclusive (to_seq 0 = up to the last seq at init).
 * Sequential reads, no index lookups after the first. The iterator borrows j; do not
 * append to j while iterating. */
struct lg_journal_iter {
    struct lg_journal *j;
    uint64_t next_seq;
    uint64_t to_seq;
    int segment;      /* internal cursor */
    uint64_t offset;  /* internal cursor */
    uint8_t prev_hash[LG_HASH_BYTES]; /* internal: hash of the record before next_seq */
};

/* Returns LG_OK; LG_ERANGE (from_seq 0, or from_seq > last seq + 1, or to < from - 1, or
 * to_seq > last seq). An
 * iterator over an empty range is valid and yields nothing. */
int lg_journal_iter_init(struct lg_journal_iter *it, struct lg_journal *j, uint64_t from_seq,
                         uint64_t to_seq);

/* Next record into *rec (view valid until the next call). Returns 1 with a record, 0 at
 * the end, or a negative -LG_E... code (-LG_ECORRUPT, -LG_EIO). */
int lg_journal_iter_next(struct lg_journal_iter *it, struct lg_journal_record *rec);

/* Full check of records from_seq..last: every header, CRC, index entry, and the hash chain
 * (including the link into from_seq from its predecessor). progress (may be NULL) is called
 * about every 1% or 64 MiB with the seq reached. Returns LG_OK or LG_ECORRUPT/LG_EIO;
 * LG_ERANGE when from_seq > last seq + 1 (from_seq 0 means 1). A wrong index is repaired,
 * not reported. */
int lg_journal_verify(struct lg_journal *j, uint64_t from_seq,
                      void (*progress)(void *arg, uint64_t seq_done, uint64_t seq_last),
                      void *progress_arg);

/* Hash helper shared with the state machine: out = SHA-256(prev || body). */
void lg_journal_chain_hash(const uint8_t prev[LG_HASH_BYTES], const void *body, size_t body_len,
                           uint8_t out[LG_HASH_BYTES]);

#endif /* LG_JOURNAL_H */
