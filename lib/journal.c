/* journal: segmented, hash-chained, append-only record store (see journal.h and
 * docs/journal.md for the on-disk format, recovery rules and durability contract).
 *
 * Layout of this file: little-endian codecs; the three on-disk structures (segment
 * header, record header, trailer) and the index file; the read cache ("views"); the write
 * buffer; segment create/seal; scanning and index load/rebuild; open/recovery; the public
 * API. */
#include "journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "assert.h"
#include "crc32c.h"
#include "limits.h"

/* On-disk constants. Magics read as ASCII in a hex dump: "LGSG", "LGRC", "LGTR", "LGIX". */
#define SEG_MAGIC 0x4753474Cu
#define REC_MAGIC 0x4352474Cu
#define TRL_MAGIC 0x5254474Cu
#define IDX_MAGIC 0x5849474Cu
#define FORMAT_VERSION 1u

#define SEG_HDR_BYTES 64u
#define REC_HDR_BYTES 64u
#define TRL_BYTES 64u
#define IDX_HDR_BYTES 32u
#define IDX_ENTRY_BYTES 24u
#define CRC_AT 56u /* the header/trailer CRC covers bytes [0, 56) */

#define INDEX_EVERY_DEFAULT 64u
#define INDEX_EVERY_MAX (1u << 20)
/* Largest roll size accepted: keeps offsets and counts far from any overflow. */
#define SEGMENT_BYTES_MAX_LIMIT (1ull << 40)
/* User-space write buffer: appends are copied here and written with one pwrite(2). */
#define WBUF_BYTES (1024u * 1024u)
/* Early writeback (RocksDB's bytes_per_sync): once this many bytes were written to the open
 * segment since the last kick, sync_file_range(SYNC_FILE_RANGE_WRITE) starts their writeback
 * and returns without waiting: one syscall per 4 MiB (checked after each buffer flush, so a
 * kick spans 4 to 5 MiB; ~0.6 ms mean on ext4 here). Otherwise the page cache piles up
 * dirty journal bytes until a sync or the kernel's flusher writes them in bursts that delay
 * the raft log's O_DSYNC writes on the same disk, and lg_journal_sync() (on the loop thread)
 * waits for all of them. This is advice, never durability: lg_journal_sync() still
 * fdatasyncs everything. */
#define LG_JOURNAL_WRITEBACK_BYTES (4u * 1024u * 1024u)
/* Page-cache recycling: at each kick, the open segment's bytes more than this far behind
 * the newest kick (kicked at least one kick earlier, so normally written back by now) are
 * dropped from the page cache with POSIX_FADV_DONTNEED, which never waits: pages still
 * dirty or under writeback are skipped (when appends outrun the disk), so the seal, after
 * its fdatasync, drops all but the segment's last CACHE bytes once more. The freed pages
 * are the ones the next appends get: on a VM whose host backs guest memory lazily (free
 * page reporting gives freed pages back to the host), a never-recycled page cache makes
 * every new journal page a host fault (~1-2.5 s of system CPU per GiB written against
 * ~0.3 s recycled here: bench/pagecache.c). Reads of older records go to the disk (the
 * newest CACHE bytes, and a sealed segment's last CACHE bytes, stay cached). */
#define LG_JOURNAL_CACHE_BYTES (8u * 1024u * 1024u)
/* The kernel keeps the partial pages at both ends of a DONTNEED range: ranges end on a
 * multiple of any page size (4-64 KiB), so the next one starts on a page boundary and no
 * page straddling two ranges stays cached. */
#define DROP_ALIGN_BYTES (64u * 1024u)
/* Read-ahead of sequential scans/iteration, and of a random read's forward scan. */
#define READAHEAD_SEQ_BYTES (1024u * 1024u)
#define READAHEAD_RANDOM_BYTES (64u * 1024u)
/* Sealed segments whose fd and index stay loaded at once (LRU beyond). */
#define HOT_SEGMENTS_MAX 8u
#define PROGRESS_BYTES (64ull * 1024u * 1024u)
/* Longest journal directory path accepted (file names are appended to it). */
#define JOURNAL_DIR_BYTES_MAX 4000u

LG_STATIC_ASSERT(SEG_HDR_BYTES == REC_HDR_BYTES && TRL_BYTES == REC_HDR_BYTES,
                 "all fixed structures are 64 bytes: records stay 8-aligned");
LG_STATIC_ASSERT(LG_JOURNAL_SEGMENT_BYTES_MIN >= SEG_HDR_BYTES + REC_HDR_BYTES + 8u + TRL_BYTES,
                 "a minimum segment holds at least one small record");
LG_STATIC_ASSERT(LG_RECORD_BODY_BYTES_MAX < UINT32_MAX - REC_HDR_BYTES - 8u,
                 "record sizes fit in 32 bits");
LG_STATIC_ASSERT(LG_JOURNAL_WRITEBACK_BYTES >= WBUF_BYTES,
                 "a writeback kick spans whole buffer flushes");
LG_STATIC_ASSERT(LG_JOURNAL_CACHE_BYTES >= LG_JOURNAL_WRITEBACK_BYTES,
                 "bytes dropped from the page cache were kicked at least one kick earlier");
LG_STATIC_ASSERT(LG_JOURNAL_CACHE_BYTES % DROP_ALIGN_BYTES == 0, "drop ranges stay aligned");

static const uint8_t zero_hash[LG_HASH_BYTES];

struct journal_seg {
    uint64_t first_seq;
    uint64_t last_seq;   /* first_seq - 1 while empty */
    uint64_t file_bytes; /* sealed: file size with trailer; open: logical size (+buffer) */
    uint8_t prev_hash[LG_HASH_BYTES];
    uint8_t last_hash[LG_HASH_BYTES];
    bool sealed;
    int fd;             /* -1 when closed (sealed segments are opened lazily) */
    uint64_t *idx;      /* offset of record first_seq + k * idx_every; NULL: not loaded */
    size_t idx_count;
    size_t idx_cap;
    uint32_t idx_every;
    uint64_t tick;      /* last use, for the LRU of hot sealed segments */
};

struct lg_journal {
    char dir[JOURNAL_DIR_BYTES_MAX];
    int dirfd;
    uint64_t segment_bytes_max;
    uint32_t index_every;
    bool read_only; /* opened with options.read_only: nothing on disk changes */
    struct journal_seg *segs;
    size_t seg_count;
    size_t seg_cap;
    uint64_t last_seq;
    uint8_t last_hash[LG_HASH_BYTES];
    /* Write buffer of the open segment: bytes for file offsets [wbuf_off, +wbuf_len). */
    uint8_t *wbuf;
    size_t wbuf_len;
    uint64_t wbuf_off;
    /* Writeback of the open segment's [0, wb_kicked_off) was started (advice only); reset
     * with wbuf_off whenever that moves anywhere but forward (new segment, recovery). */
    uint64_t wb_kicked_off;
    /* [wbuf_reset's off, wb_dropped_off) was advised out of the page cache (recycling). */
    uint64_t wb_dropped_off;
    bool wb_unsupported; /* sync_file_range said EINVAL/ENOSYS/ESPIPE: no more kicks */
    bool unsynced;  /* written to the open segment since the last fdatasync */
    bool dir_dirty; /* a segment was created, sealed or removed since the last dir fsync */
    int failed;     /* sticky LG_EIO/LG_ENOSPC after a failed write or fsync */
    char failed_msg[LG_ERRMSG_SIZE];
    /* Read cache: bytes [rbuf_off, +rbuf_len) of segment rbuf_seg (SIZE_MAX: none). */
    uint8_t *rbuf;
    size_t rbuf_cap;
    size_t rbuf_len;
    uint64_t rbuf_off;
    size_t rbuf_seg;
    /* Scratch offsets built by a scan. */
    uint64_t *scan_idx;
    size_t scan_idx_count;
    size_t scan_idx_cap;
    size_t hot_count;
    uint64_t tick;
    EVP_MD *md;
    EVP_MD_CTX *mdctx;
    uint64_t recovered_bytes;
    struct lg_journal_corruption corruption;
    char errmsg[LG_ERRMSG_SIZE];
};

/* ---- little-endian codecs (explicit bytes, no struct dumps) ---- */

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

/* Bytes a record with this body takes on disk: header plus body padded to 8. */
static uint64_t rec_bytes(uint32_t body_len)
{
    return REC_HDR_BYTES + (((uint64_t)body_len + 7u) & ~(uint64_t)7u);
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != 0) {
            return false;
        }
    }
    return true;
}

/* ---- on-disk structures ---- */

/* Segment header: magic, version, flags, first_seq, prev_hash, 8 reserved zero bytes,
 * CRC32C of bytes [0, 56), 4 zero bytes. */
static void seg_hdr_encode(uint8_t h[SEG_HDR_BYTES], uint64_t first_seq,
                           const uint8_t prev_hash[LG_HASH_BYTES])
{
    memset(h, 0, SEG_HDR_BYTES);
    put32(h, SEG_MAGIC);
    put16(h + 4, FORMAT_VERSION);
    put64(h + 8, first_seq);
    memcpy(h + 16, prev_hash, LG_HASH_BYTES);
    put32(h + CRC_AT, lg_crc32c(0, h, CRC_AT));
}

/* Check a segment header. Returns LG_OK, LG_EINVAL (not a journal segment: wrong magic
 * with a CRC that does not match either, or unknown version) or LG_ECORRUPT; *why says
 * which check failed. */
static int seg_hdr_check(const uint8_t h[SEG_HDR_BYTES], const char **why)
{
    if (get32(h) != SEG_MAGIC) {
        /* A damaged magic (the rest still matching its CRC) is corruption; anything else
         * is a file that was never a segment. */
        uint8_t fixed[SEG_HDR_BYTES];
        memcpy(fixed, h, sizeof fixed);
        put32(fixed, SEG_MAGIC);
        if (lg_crc32c(0, fixed, CRC_AT) == get32(h + CRC_AT)) {
            *why = "segment header magic damaged";
            return LG_ECORRUPT;
        }
        *why = "bad segment magic (not a journal segment)";
        return LG_EINVAL;
    }
    if (lg_crc32c(0, h, CRC_AT) != get32(h + CRC_AT)) {
        *why = "segment header CRC mismatch";
        return LG_ECORRUPT;
    }
    if (get16(h + 4) != FORMAT_VERSION) {
        *why = "unsupported segment format version";
        return LG_EINVAL;
    }
    if (get16(h + 6) != 0 || !all_zero(h + 48, 8) || get32(h + 60) != 0) {
        *why = "segment header flags/reserved bytes not zero";
        return LG_ECORRUPT;
    }
    return LG_OK;
}

/* Record header: magic, version, flags, body_len, body_crc32c, seq, hash, CRC32C of bytes
 * [0, 56), 4 zero bytes. */
static void rec_hdr_encode(uint8_t h[REC_HDR_BYTES], uint32_t body_len, uint32_t body_crc,
                           uint64_t seq, const uint8_t hash[LG_HASH_BYTES])
{
    put32(h, REC_MAGIC);
    put16(h + 4, FORMAT_VERSION);
    put16(h + 6, 0);
    put32(h + 8, body_len);
    put32(h + 12, body_crc);
    put64(h + 16, seq);
    memcpy(h + 24, hash, LG_HASH_BYTES);
    put32(h + CRC_AT, lg_crc32c(0, h, CRC_AT));
    put32(h + 60, 0);
}

/* Check a record header in isolation (magic, CRC, version, flags, pad, body length).
 * Returns NULL when valid, else why not. */
static const char *rec_hdr_check(const uint8_t h[REC_HDR_BYTES])
{
    if (get32(h) != REC_MAGIC) {
        return "bad record magic";
    }
    if (lg_crc32c(0, h, CRC_AT) != get32(h + CRC_AT)) {
        return "record header CRC mismatch";
    }
    if (get16(h + 4) != FORMAT_VERSION || get16(h + 6) != 0 || get32(h + 60) != 0) {
        return "record header version/flags/pad invalid";
    }
    uint32_t body_len = get32(h + 8);
    if (body_len == 0 || body_len > LG_RECORD_BODY_BYTES_MAX) {
        return "record body length out of range";
    }
    return NULL;
}

/* Trailer: magic, version, flags, last_seq, last_hash, record_count, CRC32C of [0, 56),
 * 4 zero bytes. */
static void trl_encode(uint8_t t[TRL_BYTES], uint64_t last_seq,
                       const uint8_t last_hash[LG_HASH_BYTES], uint64_t count)
{
    put32(t, TRL_MAGIC);
    put16(t + 4, FORMAT_VERSION);
    put16(t + 6, 0);
    put64(t + 8, last_seq);
    memcpy(t + 16, last_hash, LG_HASH_BYTES);
    put64(t + 48, count);
    put32(t + CRC_AT, lg_crc32c(0, t, CRC_AT));
    put32(t + 60, 0);
}

/* Check a trailer against its segment's first seq and file size. NULL when valid. */
static const char *trl_check(const uint8_t t[TRL_BYTES], uint64_t first_seq, uint64_t size)
{
    if (get32(t) != TRL_MAGIC) {
        return "bad trailer magic";
    }
    if (lg_crc32c(0, t, CRC_AT) != get32(t + CRC_AT)) {
        return "trailer CRC mismatch";
    }
    if (get16(t + 4) != FORMAT_VERSION || get16(t + 6) != 0 || get32(t + 60) != 0) {
        return "trailer version/flags/pad invalid";
    }
    uint64_t last_seq = get64(t + 8);
    uint64_t count = get64(t + 48);
    if (last_seq < first_seq || count != last_seq - first_seq + 1) {
        return "trailer seq/count inconsistent with the segment's first seq";
    }
    if (count > (size - SEG_HDR_BYTES - TRL_BYTES) / (REC_HDR_BYTES + 8u)) {
        return "trailer record count does not fit the file size";
    }
    return NULL;
}

/* ---- errors ---- */

static int io_code(int errnum)
{
    return (errnum == ENOSPC || errnum == EDQUOT) ? LG_ENOSPC : LG_EIO;
}

/* Record a failed write/fsync: the journal refuses appends and syncs from now on. */
static int journal_fail(struct lg_journal *j, int errnum, const char *what)
{
    int code = io_code(errnum);
    lg_errmsg_printf(j->errmsg, code, "%s: %s", what, strerror(errnum));
    memcpy(j->failed_msg, j->errmsg, sizeof j->failed_msg);
    j->failed = code;
    return code;
}

static int journal_sticky(struct lg_journal *j)
{
    return lg_errmsg_printf(j->errmsg, j->failed, "journal failed earlier (sticky): %s",
                            j->failed_msg);
}

static void seg_name(const struct lg_journal *j, uint64_t first_seq, const char *ext,
                     char out[64])
{
    (void)j;
    snprintf(out, 64, "seg-%020llu.%s", (unsigned long long)first_seq, ext);
}

/* Report corruption in segment si at (seq, offset). Returns LG_ECORRUPT. */
static int journal_corrupt(struct lg_journal *j, size_t si, uint64_t seq, uint64_t offset,
                           const char *why)
{
    char name[64];
    seg_name(j, j->segs[si].first_seq, "log", name);
    j->corruption.seq = seq;
    j->corruption.offset = offset;
    snprintf(j->corruption.file, sizeof j->corruption.file, "%s", name);
    return lg_errmsg_printf(j->errmsg, LG_ECORRUPT, "%s: seq %llu at offset %llu: %s", name,
                            (unsigned long long)seq, (unsigned long long)offset, why);
}

/* ---- hashing ---- */

static void journal_hash(struct lg_journal *j, const uint8_t prev[LG_HASH_BYTES],
                         const void *body, size_t body_len, uint8_t out[LG_HASH_BYTES])
{
    unsigned int n = 0;
    int ok = EVP_DigestInit_ex2(j->mdctx, j->md, NULL) == 1 &&
             EVP_DigestUpdate(j->mdctx, prev, LG_HASH_BYTES) == 1 &&
             EVP_DigestUpdate(j->mdctx, body, body_len) == 1 &&
             EVP_DigestFinal_ex(j->mdctx, out, &n) == 1;
    LG_ASSERT(ok);
    LG_ASSERT(n == LG_HASH_BYTES);
}

void lg_journal_chain_hash(const uint8_t prev[LG_HASH_BYTES], const void *body, size_t body_len,
                           uint8_t out[LG_HASH_BYTES])
{
    LG_PRE(prev != NULL && out != NULL);
    LG_PRE(body != NULL || body_len == 0);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    LG_ASSERT(ctx != NULL);
    unsigned int n = 0;
    int ok = EVP_DigestInit_ex2(ctx, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, prev, LG_HASH_BYTES) == 1 &&
             EVP_DigestUpdate(ctx, body, body_len) == 1 &&
             EVP_DigestFinal_ex(ctx, out, &n) == 1;
    EVP_MD_CTX_free(ctx);
    LG_ASSERT(ok && n == LG_HASH_BYTES);
}

/* ---- file helpers ---- */

/* Write all of buf at off. Returns 0 or an errno value. */
static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno;
        }
        if (n == 0) {
            return EIO;
        }
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

/* Read up to len bytes at off (fewer only at end of file). Returns bytes read or -1. */
static ssize_t pread_all(int fd, void *buf, size_t len, uint64_t off)
{
    uint8_t *p = buf;
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(fd, p + got, len - got, (off_t)(off + got));
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        if (n == 0) {
            break;
        }
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/* ---- hot sealed segments (open fd, loaded index), bounded by an LRU ---- */

static bool seg_is_hot(const struct journal_seg *s)
{
    return s->sealed && (s->fd >= 0 || s->idx != NULL);
}

static void seg_cool(struct lg_journal *j, size_t si)
{
    struct journal_seg *s = &j->segs[si];
    LG_PRE(s->sealed);
    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
    free(s->idx);
    s->idx = NULL;
    s->idx_count = 0;
    s->idx_cap = 0;
    if (j->rbuf_seg == si) {
        j->rbuf_seg = SIZE_MAX;
    }
}

/* Mark segment si used; when it becomes hot and too many are, cool the least recently
 * used other one. Call before giving si an fd or an index. */
static void seg_touch(struct lg_journal *j, size_t si)
{
    struct journal_seg *s = &j->segs[si];
    s->tick = ++j->tick;
    if (!s->sealed || seg_is_hot(s)) {
        return;
    }
    j->hot_count++;
    if (j->hot_count <= HOT_SEGMENTS_MAX) {
        return;
    }
    size_t victim = SIZE_MAX;
    for (size_t i = 0; i < j->seg_count; i++) {
        if (i != si && seg_is_hot(&j->segs[i]) &&
            (victim == SIZE_MAX || j->segs[i].tick < j->segs[victim].tick)) {
            victim = i;
        }
    }
    LG_ASSERT(victim != SIZE_MAX);
    seg_cool(j, victim);
    j->hot_count--;
}

/* Ensure segment si has an open fd. Returns LG_OK or LG_EIO. */
static int seg_fd(struct lg_journal *j, size_t si)
{
    struct journal_seg *s = &j->segs[si];
    seg_touch(j, si);
    if (s->fd >= 0) {
        return LG_OK;
    }
    /* seg_touch counted si as hot already, so it stays hot even if the open fails. */
    char name[64];
    seg_name(j, s->first_seq, "log", name);
    s->fd = openat(j->dirfd, name, O_RDONLY | O_CLOEXEC);
    if (s->fd < 0) {
        return lg_errmsg_printf(j->errmsg, LG_EIO, "open %s/%s: %s", j->dir, name,
                                strerror(errno));
    }
    return LG_OK;
}

/* ---- write buffer ---- */

/* Point the (empty) write buffer at offset off of the open segment: after creating it, or
 * after recovery cut its tail. Writeback kicks restart there: bytes before off are not ours
 * to kick (the header is in the buffer; a recovered tail was fdatasync'd or predates us). */
static void wbuf_reset(struct lg_journal *j, uint64_t off)
{
    j->wbuf_off = off;
    j->wbuf_len = 0;
    j->wb_kicked_off = off;
    j->wb_dropped_off = off;
}

/* Advise the open segment's bytes [from, end rounded down to DROP_ALIGN_BYTES) out of the
 * page cache (LG_JOURNAL_CACHE_BYTES) and move wb_dropped_off to that end if it is further.
 * Advice only: POSIX_FADV_DONTNEED starts writeback of dirty pages without waiting, skips
 * pages dirty or under writeback, and leaves the file's writeback error (errseq) to the
 * next fdatasync; its error (none is expected on a regular file) only leaves pages cached. */
static void wb_drop(struct lg_journal *j, int fd, uint64_t from, uint64_t end)
{
    LG_PRE(fd >= 0);
    end -= end % DROP_ALIGN_BYTES;
    if (end <= from) {
        return;
    }
    (void)posix_fadvise(fd, (off_t)from, (off_t)(end - from), POSIX_FADV_DONTNEED);
    if (end > j->wb_dropped_off) {
        j->wb_dropped_off = end;
    }
}

/* After writing the open segment up to wbuf_off: start writeback of the bytes written since
 * the last kick once they reach LG_JOURNAL_WRITEBACK_BYTES (see there). Does not wait. A
 * sealed segment's unkicked tail is left to the seal's fdatasync. Returns LG_OK or
 * LG_EIO/LG_ENOSPC (sticky). */
static int wb_kick(struct lg_journal *j, int fd)
{
    LG_PRE(fd >= 0);
    LG_PRE(j->wb_kicked_off <= j->wbuf_off);
    uint64_t len = j->wbuf_off - j->wb_kicked_off;
    if (len < LG_JOURNAL_WRITEBACK_BYTES || j->wb_unsupported) {
        return LG_OK;
    }
    /* WRITE alone neither waits nor consumes the file's writeback error (errseq), so the
     * next fdatasync still reports any failure of the writeback started here. */
    if (sync_file_range(fd, (off_t)j->wb_kicked_off, (off_t)len, SYNC_FILE_RANGE_WRITE) != 0) {
        int err = errno;
        if (err == EINVAL || err == ENOSYS || err == ESPIPE) {
            j->wb_unsupported = true; /* no advice taken here: fdatasync does it all */
        } else if (err != ENOMEM && err != EINTR) {
            /* EIO, ENOSPC...: the bytes may never reach the disk; refuse from now on, as a
             * failed pwrite would. ENOMEM, EINTR: advice not taken, the pages stay dirty
             * for the sync. */
            return journal_fail(j, err, "start writeback of the open segment");
        }
    }
    j->wb_kicked_off = j->wbuf_off;
    if (!j->wb_unsupported && j->wb_kicked_off >= LG_JOURNAL_CACHE_BYTES) {
        wb_drop(j, fd, j->wb_dropped_off, j->wb_kicked_off - LG_JOURNAL_CACHE_BYTES);
    }
    return LG_OK;
}

static int wbuf_flush(struct lg_journal *j)
{
    if (j->wbuf_len == 0) {
        return LG_OK;
    }
    struct journal_seg *s = &j->segs[j->seg_count - 1];
    LG_ASSERT(!s->sealed && s->fd >= 0);
    int err = pwrite_all(s->fd, j->wbuf, j->wbuf_len, j->wbuf_off);
    if (err != 0) {
        return journal_fail(j, err, "write to the open segment");
    }
    j->wbuf_off += j->wbuf_len;
    j->wbuf_len = 0;
    j->unsynced = true;
    return wb_kick(j, s->fd);
}

/* ---- reads: views into the read cache ---- */

/* End of the record area of segment si (before the trailer of a sealed one). */
static uint64_t seg_limit(const struct lg_journal *j, size_t si)
{
    const struct journal_seg *s = &j->segs[si];
    return s->sealed ? s->file_bytes - TRL_BYTES : s->file_bytes;
}

/* Point *out at bytes [off, off + len) of segment si, reading ahead up to readahead
 * bytes. *out is NULL when the range goes past the end of the file. The view is valid
 * until the next view. Returns LG_OK, LG_EIO or LG_ENOMEM. */
static int seg_view(struct lg_journal *j, size_t si, uint64_t off, size_t len, size_t readahead,
                    const uint8_t **out)
{
    struct journal_seg *s = &j->segs[si];
    *out = NULL;
    if (off + len > s->file_bytes) {
        return LG_OK;
    }
    if (j->rbuf_seg == si && off >= j->rbuf_off && off + len <= j->rbuf_off + j->rbuf_len) {
        *out = j->rbuf + (off - j->rbuf_off);
        return LG_OK;
    }
    if (!s->sealed && j->wbuf_len > 0 && off + len > j->wbuf_off) {
        if (j->failed) {
            return journal_sticky(j);
        }
        int rc = wbuf_flush(j);
        if (rc != LG_OK) {
            return rc;
        }
    }
    int rc = seg_fd(j, si);
    if (rc != LG_OK) {
        return rc;
    }
    size_t want = len > readahead ? len : readahead;
    if (want > s->file_bytes - off) {
        want = (size_t)(s->file_bytes - off);
    }
    if (want > j->rbuf_cap) {
        uint8_t *grown = realloc(j->rbuf, want);
        if (grown == NULL) {
            return lg_errmsg_printf(j->errmsg, LG_ENOMEM, "read buffer of %zu bytes", want);
        }
        j->rbuf = grown;
        j->rbuf_cap = want;
    }
    j->rbuf_seg = SIZE_MAX;
    ssize_t got = pread_all(s->fd, j->rbuf, want, off);
    if (got < 0) {
        char name[64];
        seg_name(j, s->first_seq, "log", name);
        return lg_errmsg_printf(j->errmsg, LG_EIO, "read %s at %llu: %s", name,
                                (unsigned long long)off, strerror(errno));
    }
    j->rbuf_seg = si;
    j->rbuf_off = off;
    j->rbuf_len = (size_t)got;
    if ((size_t)got >= len) {
        *out = j->rbuf;
    }
    return LG_OK;
}

/* Read and check the record at off of segment si, which must be expect_seq and end at or
 * before limit. With prev (not NULL) the body CRC, padding and hash chain are checked and
 * rec (may be NULL) is filled; without, only the header. *next_off is where the next
 * record starts. Returns LG_OK, LG_ECORRUPT with *why set (no report made: callers
 * decide between truncation and corruption), LG_EIO or LG_ENOMEM. */
static int rec_load(struct lg_journal *j, size_t si, uint64_t off, uint64_t limit,
                    uint64_t expect_seq, const uint8_t *prev, size_t readahead,
                    struct lg_journal_record *rec, uint64_t *next_off, const char **why)
{
    const uint8_t *h;
    if (off + REC_HDR_BYTES > limit) {
        *why = "record header cut short";
        return LG_ECORRUPT;
    }
    int rc = seg_view(j, si, off, REC_HDR_BYTES, readahead, &h);
    if (rc != LG_OK) {
        return rc;
    }
    if (h == NULL) {
        *why = "record header past end of file";
        return LG_ECORRUPT;
    }
    const char *bad = rec_hdr_check(h);
    if (bad != NULL) {
        *why = bad;
        return LG_ECORRUPT;
    }
    if (get64(h + 16) != expect_seq) {
        *why = "record seq out of sequence";
        return LG_ECORRUPT;
    }
    uint32_t body_len = get32(h + 8);
    uint64_t size = rec_bytes(body_len);
    if (off + size > limit) {
        *why = "record body cut short";
        return LG_ECORRUPT;
    }
    *next_off = off + size;
    if (prev == NULL) {
        if (rec != NULL) {
            memcpy(rec->hash, h + 24, LG_HASH_BYTES);
        }
        return LG_OK;
    }
    const uint8_t *r;
    rc = seg_view(j, si, off, (size_t)size, readahead, &r);
    if (rc != LG_OK) {
        return rc;
    }
    if (r == NULL) {
        *why = "record body past end of file";
        return LG_ECORRUPT;
    }
    const uint8_t *body = r + REC_HDR_BYTES;
    if (lg_crc32c(0, body, body_len) != get32(r + 12)) {
        *why = "record body CRC mismatch";
        return LG_ECORRUPT;
    }
    if (!all_zero(body + body_len, (size_t)(size - REC_HDR_BYTES - body_len))) {
        *why = "record padding not zero";
        return LG_ECORRUPT;
    }
    uint8_t hash[LG_HASH_BYTES];
    journal_hash(j, prev, body, body_len, hash);
    if (memcmp(hash, r + 24, LG_HASH_BYTES) != 0) {
        *why = "hash chain broken (hash != SHA-256(prev_hash || body))";
        return LG_ECORRUPT;
    }
    if (rec != NULL) {
        rec->seq = expect_seq;
        rec->body = body;
        rec->body_len = body_len;
        memcpy(rec->hash, hash, LG_HASH_BYTES);
        memcpy(rec->prev_hash, prev, LG_HASH_BYTES);
    }
    return LG_OK;
}

/* ---- scanning ---- */

struct scan {
    uint64_t end_off;                 /* end of the last good record */
    uint64_t last_seq;                /* its seq (first_seq - 1 when none) */
    uint8_t last_hash[LG_HASH_BYTES]; /* its hash (the segment's prev_hash when none) */
    uint64_t bad_off;                 /* where the scan stopped on a bad record */
    const char *why;                  /* NULL: the scan reached limit cleanly */
    /* progress for verify */
    void (*progress)(void *arg, uint64_t seq_done, uint64_t seq_last);
    void *progress_arg;
    uint64_t progress_bytes;
};

static int scan_idx_push(struct lg_journal *j, uint64_t off)
{
    if (j->scan_idx_count == j->scan_idx_cap) {
        size_t cap = j->scan_idx_cap ? j->scan_idx_cap * 2 : 256;
        uint64_t *grown = realloc(j->scan_idx, cap * sizeof *grown);
        if (grown == NULL) {
            return lg_errmsg_printf(j->errmsg, LG_ENOMEM, "index of %zu entries", cap);
        }
        j->scan_idx = grown;
        j->scan_idx_cap = cap;
    }
    j->scan_idx[j->scan_idx_count++] = off;
    return LG_OK;
}

/* Scan every record of segment si from its first to limit with full checks, collecting
 * one offset per `every` records into j->scan_idx. Stops at the first bad record
 * (sc->why). Returns LG_OK (even when a bad record stopped it), LG_EIO or LG_ENOMEM. */
static int seg_scan(struct lg_journal *j, size_t si, uint64_t limit, uint32_t every,
                    struct scan *sc)
{
    struct journal_seg *s = &j->segs[si];
    uint64_t off = SEG_HDR_BYTES;
    uint64_t seq = s->first_seq;
    uint8_t prev[LG_HASH_BYTES];
    memcpy(prev, s->prev_hash, sizeof prev);
    j->scan_idx_count = 0;
    sc->why = NULL;
    uint64_t progress_mark = off;
    while (off < limit) {
        struct lg_journal_record rec;
        uint64_t next = 0;
        const char *why = NULL;
        int rc = rec_load(j, si, off, limit, seq, prev, READAHEAD_SEQ_BYTES, &rec, &next, &why);
        if (rc == LG_ECORRUPT) {
            sc->why = why;
            sc->bad_off = off;
            break;
        }
        if (rc != LG_OK) {
            return rc;
        }
        if ((seq - s->first_seq) % every == 0) {
            rc = scan_idx_push(j, off);
            if (rc != LG_OK) {
                return rc;
            }
        }
        memcpy(prev, rec.hash, sizeof prev);
        off = next;
        seq++;
        if (sc->progress != NULL && off - progress_mark >= sc->progress_bytes) {
            sc->progress(sc->progress_arg, seq - 1, j->last_seq);
            progress_mark = off;
        }
    }
    sc->end_off = off;
    sc->last_seq = seq - 1;
    memcpy(sc->last_hash, prev, sizeof prev);
    return LG_OK;
}

/* ---- index files ---- */

/* Write the index of sealed segment si from j->scan_idx (every records apart) to its
 * .idx file: a temporary file, fsync'd, made read-only, renamed over. Returns LG_OK or
 * LG_EIO/LG_ENOSPC/LG_ENOMEM (errmsg set). */
static int idx_write(struct lg_journal *j, size_t si, uint32_t every)
{
    struct journal_seg *s = &j->segs[si];
    size_t n = j->scan_idx_count;
    size_t bytes = IDX_HDR_BYTES + n * IDX_ENTRY_BYTES;
    uint8_t *buf = calloc(1, bytes);
    if (buf == NULL) {
        return lg_errmsg_printf(j->errmsg, LG_ENOMEM, "index file buffer of %zu bytes", bytes);
    }
    put32(buf, IDX_MAGIC);
    put16(buf + 4, FORMAT_VERSION);
    put64(buf + 8, s->first_seq);
    put32(buf + 16, every);
    put32(buf + 20, (uint32_t)n);
    put32(buf + 24, lg_crc32c(0, buf, 24));
    for (size_t k = 0; k < n; k++) {
        uint8_t *e = buf + IDX_HDR_BYTES + k * IDX_ENTRY_BYTES;
        put64(e, s->first_seq + (uint64_t)k * every);
        put64(e + 8, j->scan_idx[k]);
        put32(e + 16, lg_crc32c(0, e, 16));
    }
    char name[64];
    char tmp[64];
    seg_name(j, s->first_seq, "idx", name);
    seg_name(j, s->first_seq, "idx.tmp", tmp);
    int rc = LG_OK;
    int err = 0;
    const char *what = "create";
    int fd = openat(j->dirfd, tmp, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) {
        err = errno;
    } else {
        what = "write";
        err = pwrite_all(fd, buf, bytes, 0);
        if (err == 0 && fsync(fd) != 0) {
            what = "fsync";
            err = errno;
        }
        if (err == 0 && fchmod(fd, 0444) != 0) {
            what = "chmod";
            err = errno;
        }
        close(fd);
        if (err == 0 && renameat(j->dirfd, tmp, j->dirfd, name) != 0) {
            what = "rename";
            err = errno;
        }
        if (err != 0) {
            unlinkat(j->dirfd, tmp, 0);
        }
    }
    if (err != 0) {
        rc = lg_errmsg_printf(j->errmsg, io_code(err), "%s index %s: %s", what, name,
                              strerror(err));
    } else {
        j->dir_dirty = true;
    }
    free(buf);
    return rc;
}

/* Install j->scan_idx as the loaded index of segment si. Returns LG_OK or LG_ENOMEM. */
static int idx_install(struct lg_journal *j, size_t si, uint32_t every)
{
    struct journal_seg *s = &j->segs[si];
    size_t n = j->scan_idx_count;
    uint64_t *copy = malloc((n ? n : 1) * sizeof *copy);
    if (copy == NULL) {
        return lg_errmsg_printf(j->errmsg, LG_ENOMEM, "index of %zu entries", n);
    }
    memcpy(copy, j->scan_idx, n * sizeof *copy);
    seg_touch(j, si);
    free(s->idx);
    s->idx = copy;
    s->idx_count = n;
    s->idx_cap = n;
    s->idx_every = every;
    return LG_OK;
}

/* Rebuild the index of sealed segment si by a full scan (which also verifies every record
 * and the trailer's last seq and hash), install it and rewrite the .idx file (a failure
 * to write it is not an error: the index in memory is good). Returns LG_OK, LG_ECORRUPT,
 * LG_EIO or LG_ENOMEM. */
static int idx_rebuild(struct lg_journal *j, size_t si)
{
    struct journal_seg *s = &j->segs[si];
    LG_PRE(s->sealed);
    struct scan sc = {0};
    uint64_t limit = seg_limit(j, si);
    int rc = seg_scan(j, si, limit, j->index_every, &sc);
    if (rc != LG_OK) {
        return rc;
    }
    if (sc.why != NULL) {
        return journal_corrupt(j, si, sc.last_seq + 1, sc.bad_off, sc.why);
    }
    if (sc.last_seq != s->last_seq || memcmp(sc.last_hash, s->last_hash, LG_HASH_BYTES) != 0) {
        return journal_corrupt(j, si, sc.last_seq, limit,
                               "records do not match the trailer's last seq/hash");
    }
    rc = idx_install(j, si, j->index_every);
    if (rc != LG_OK) {
        return rc;
    }
    if (!j->read_only) {
        char keep[LG_ERRMSG_SIZE];
        memcpy(keep, j->errmsg, sizeof keep);
        (void)idx_write(j, si, j->index_every);
        memcpy(j->errmsg, keep, sizeof keep);
    }
    return LG_OK;
}

/* Try to load the .idx file of sealed segment si. Returns true when it was valid and is
 * now installed; false when missing or invalid in any way (the caller rebuilds). */
static bool idx_read_file(struct lg_journal *j, size_t si)
{
    struct journal_seg *s = &j->segs[si];
    char name[64];
    seg_name(j, s->first_seq, "idx", name);
    int fd = openat(j->dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    bool ok = false;
    uint8_t *buf = NULL;
    struct stat st;
    uint8_t h[IDX_HDR_BYTES];
    if (fstat(fd, &st) != 0 || pread_all(fd, h, sizeof h, 0) != (ssize_t)sizeof h) {
        goto out;
    }
    uint32_t every = get32(h + 16);
    uint64_t count = s->last_seq - s->first_seq + 1;
    if (get32(h) != IDX_MAGIC || lg_crc32c(0, h, 24) != get32(h + 24) ||
        get16(h + 4) != FORMAT_VERSION || get16(h + 6) != 0 || get32(h + 28) != 0 ||
        get64(h + 8) != s->first_seq || every == 0 || every > INDEX_EVERY_MAX) {
        goto out;
    }
    uint64_t n = (count + every - 1) / every;
    if (get32(h + 20) != n || (uint64_t)st.st_size != IDX_HDR_BYTES + n * IDX_ENTRY_BYTES) {
        goto out;
    }
    size_t bytes = (size_t)(n * IDX_ENTRY_BYTES);
    buf = malloc(bytes ? bytes : 1);
    if (buf == NULL || pread_all(fd, buf, bytes, IDX_HDR_BYTES) != (ssize_t)bytes) {
        goto out;
    }
    j->scan_idx_count = 0;
    uint64_t limit = seg_limit(j, si);
    uint64_t prev_off = 0;
    for (uint64_t k = 0; k < n; k++) {
        const uint8_t *e = buf + k * IDX_ENTRY_BYTES;
        uint64_t off = get64(e + 8);
        if (lg_crc32c(0, e, 16) != get32(e + 16) || get32(e + 20) != 0 ||
            get64(e) != s->first_seq + k * every || off < SEG_HDR_BYTES || off >= limit ||
            off <= prev_off || (off - SEG_HDR_BYTES) % 8u != 0 ||
            (k == 0 && off != SEG_HDR_BYTES) || scan_idx_push(j, off) != LG_OK) {
            goto out;
        }
        prev_off = off;
    }
    ok = idx_install(j, si, every) == LG_OK;
out:
    free(buf);
    close(fd);
    return ok;
}

/* Ensure segment si has an index in memory (the open segment always has). Returns LG_OK,
 * LG_ECORRUPT (the rebuild found a bad record), LG_EIO or LG_ENOMEM. */
static int idx_load(struct lg_journal *j, size_t si)
{
    struct journal_seg *s = &j->segs[si];
    if (!s->sealed || s->idx != NULL) {
        seg_touch(j, si);
        return LG_OK;
    }
    if (idx_read_file(j, si)) {
        return LG_OK;
    }
    return idx_rebuild(j, si);
}

/* ---- locating a seq ---- */

/* Index of the segment holding seq (1 <= seq <= last_seq). */
static size_t seg_find(const struct lg_journal *j, uint64_t seq)
{
    LG_PRE(j->seg_count > 0 && seq >= j->segs[0].first_seq);
    size_t lo = 0;
    size_t hi = j->seg_count; /* answer in [lo, hi) */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (j->segs[mid].first_seq <= seq) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* Find where record seq starts and the hash of the record before it: index lookup, then
 * a short forward scan over record headers. A stale or damaged index of a sealed segment
 * is rebuilt once. Returns LG_OK, LG_ECORRUPT (reported), LG_EIO or LG_ENOMEM. */
static int journal_locate(struct lg_journal *j, uint64_t seq, size_t *si_out, uint64_t *off_out,
                          uint8_t prev[LG_HASH_BYTES])
{
    LG_PRE(seq >= 1 && seq <= j->last_seq);
    size_t si = seg_find(j, seq);
    struct journal_seg *s = &j->segs[si];
    *si_out = si;
    if (seq == s->first_seq) {
        *off_out = SEG_HDR_BYTES;
        memcpy(prev, s->prev_hash, LG_HASH_BYTES);
        return LG_OK;
    }
    uint64_t limit = seg_limit(j, si);
    for (int attempt = 0;; attempt++) {
        int rc = idx_load(j, si);
        if (rc != LG_OK) {
            return rc;
        }
        uint64_t k = (seq - 1 - s->first_seq) / s->idx_every;
        LG_ASSERT(k < s->idx_count);
        uint64_t at = s->first_seq + k * s->idx_every;
        uint64_t off = s->idx[k];
        const char *why = NULL;
        while (rc == LG_OK && at < seq) {
            struct lg_journal_record rec;
            uint64_t next = 0;
            rc = rec_load(j, si, off, limit, at, NULL, READAHEAD_RANDOM_BYTES, &rec, &next,
                          &why);
            if (rc == LG_OK) {
                memcpy(prev, rec.hash, LG_HASH_BYTES);
                off = next;
                at++;
            }
        }
        if (rc == LG_OK) {
            *off_out = off;
            return LG_OK;
        }
        if (rc != LG_ECORRUPT) {
            return rc;
        }
        if (!s->sealed || attempt > 0) {
            return journal_corrupt(j, si, at, off, why);
        }
        /* The index pointed at something that is not the record it names: rebuild it
         * (the rebuild's full scan reports real corruption of the segment) and retry. */
        rc = idx_rebuild(j, si);
        if (rc != LG_OK) {
            return rc;
        }
    }
}

/* ---- segments: create, seal ---- */

static int segs_reserve(struct lg_journal *j)
{
    if (j->seg_count < j->seg_cap) {
        return LG_OK;
    }
    size_t cap = j->seg_cap ? j->seg_cap * 2 : 8;
    struct journal_seg *grown = realloc(j->segs, cap * sizeof *grown);
    if (grown == NULL) {
        return lg_errmsg_printf(j->errmsg, LG_ENOMEM, "segment table of %zu", cap);
    }
    j->segs = grown;
    j->seg_cap = cap;
    return LG_OK;
}

static struct journal_seg *seg_push(struct lg_journal *j, uint64_t first_seq,
                                    const uint8_t prev_hash[LG_HASH_BYTES])
{
    struct journal_seg *s = &j->segs[j->seg_count++];
    memset(s, 0, sizeof *s);
    s->first_seq = first_seq;
    s->last_seq = first_seq - 1;
    s->fd = -1;
    s->idx_every = j->index_every;
    memcpy(s->prev_hash, prev_hash, LG_HASH_BYTES);
    memcpy(s->last_hash, prev_hash, LG_HASH_BYTES);
    return s;
}

/* Create the next open segment (first seq last_seq + 1), its header in the write buffer.
 * Returns LG_OK, LG_ENOMEM or LG_EIO/LG_ENOSPC (sticky). */
static int seg_create(struct lg_journal *j)
{
    LG_PRE(j->seg_count == 0 || j->segs[j->seg_count - 1].sealed);
    LG_PRE(j->wbuf_len == 0);
    int rc = segs_reserve(j);
    if (rc != LG_OK) {
        return rc;
    }
    char name[64];
    seg_name(j, j->last_seq + 1, "log", name);
    int fd = openat(j->dirfd, name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0644);
    if (fd < 0) {
        return journal_fail(j, errno, "create segment");
    }
    struct journal_seg *s = seg_push(j, j->last_seq + 1, j->last_hash);
    s->fd = fd;
    wbuf_reset(j, 0);
    seg_hdr_encode(j->wbuf, s->first_seq, s->prev_hash);
    j->wbuf_len = SEG_HDR_BYTES;
    s->file_bytes = SEG_HDR_BYTES;
    j->dir_dirty = true;
    return LG_OK;
}

/* Seal the open segment: write out the buffer and the trailer, fdatasync, write the index
 * file, make the segment read-only. Returns LG_OK or LG_EIO/LG_ENOSPC (sticky). */
static int seg_seal(struct lg_journal *j)
{
    size_t si = j->seg_count - 1;
    struct journal_seg *s = &j->segs[si];
    LG_PRE(!s->sealed && s->last_seq >= s->first_seq);
    int rc = wbuf_flush(j);
    if (rc != LG_OK) {
        return rc;
    }
    uint8_t t[TRL_BYTES];
    trl_encode(t, s->last_seq, s->last_hash, s->last_seq - s->first_seq + 1);
    int err = pwrite_all(s->fd, t, sizeof t, s->file_bytes);
    if (err != 0) {
        return journal_fail(j, err, "write segment trailer");
    }
    if (fdatasync(s->fd) != 0) {
        return journal_fail(j, errno, "fdatasync sealed segment");
    }
    if (!j->wb_unsupported && s->file_bytes + TRL_BYTES > LG_JOURNAL_CACHE_BYTES) {
        /* Every page is clean now: drop what the kicks' advice skipped (pages then still
         * under writeback), and up to the last CACHE bytes; from 0: a recovered segment's
         * older bytes are as old. */
        wb_drop(j, s->fd, 0, s->file_bytes + TRL_BYTES - LG_JOURNAL_CACHE_BYTES);
    }
    /* The index file: from the in-memory index of the open segment. */
    j->scan_idx_count = 0;
    for (size_t k = 0; k < s->idx_count; k++) {
        rc = scan_idx_push(j, s->idx[k]);
        if (rc != LG_OK) {
            return rc;
        }
    }
    rc = idx_write(j, si, s->idx_every);
    if (rc != LG_OK) {
        memcpy(j->failed_msg, j->errmsg, sizeof j->failed_msg);
        j->failed = rc == LG_ENOSPC ? LG_ENOSPC : LG_EIO;
        return j->failed;
    }
    if (fchmod(s->fd, 0444) != 0) {
        return journal_fail(j, errno, "chmod sealed segment read-only");
    }
    close(s->fd);
    s->fd = -1;
    free(s->idx);
    s->idx = NULL;
    s->idx_count = 0;
    s->idx_cap = 0;
    s->file_bytes += TRL_BYTES;
    s->sealed = true;
    j->unsynced = false;
    j->dir_dirty = true;
    if (j->rbuf_seg == si) {
        j->rbuf_seg = SIZE_MAX;
    }
    return LG_OK;
}

/* ---- open and recovery ---- */

/* Parse "seg-<20 digits>.<ext>" into *seq; returns the extension or NULL when name does
 * not have that shape. */
static const char *name_parse(const char *name, uint64_t *seq)
{
    if (strncmp(name, "seg-", 4) != 0) {
        return NULL;
    }
    uint64_t v = 0;
    for (int i = 0; i < 20; i++) {
        char c = name[4 + i];
        if (c < '0' || c > '9') {
            return NULL;
        }
        uint64_t d = (uint64_t)(c - '0');
        if (v > (UINT64_MAX - d) / 10u) {
            return NULL;
        }
        v = v * 10u + d;
    }
    if (name[24] != '.') {
        return NULL;
    }
    *seq = v;
    return name + 25;
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

struct seq_list {
    uint64_t *v;
    size_t n;
    size_t cap;
};

static int seq_list_push(struct lg_journal *j, struct seq_list *l, uint64_t seq)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        uint64_t *grown = realloc(l->v, cap * sizeof *grown);
        if (grown == NULL) {
            return lg_errmsg_printf(j->errmsg, LG_ENOMEM, "directory listing");
        }
        l->v = grown;
        l->cap = cap;
    }
    l->v[l->n++] = seq;
    return LG_OK;
}

/* List the directory: segment files into segs, index files into idxs; remove leftover
 * temporary index files. Anything else named seg-* (or any other non-hidden file) means
 * the directory is not a journal: LG_EINVAL. */
static int dir_list(struct lg_journal *j, struct seq_list *segs, struct seq_list *idxs)
{
    int fd = dup(j->dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d == NULL) {
        if (fd >= 0) {
            close(fd);
        }
        return lg_errmsg_printf(j->errmsg, LG_EIO, "list %s: %s", j->dir, strerror(errno));
    }
    int rc = LG_OK;
    struct dirent *e;
    while (rc == LG_OK && (e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        if (name[0] == '.') {
            continue;
        }
        uint64_t seq = 0;
        const char *ext = name_parse(name, &seq);
        if (ext != NULL && seq >= 1 && strcmp(ext, "log") == 0) {
            rc = seq_list_push(j, segs, seq);
        } else if (ext != NULL && seq >= 1 && strcmp(ext, "idx") == 0) {
            rc = seq_list_push(j, idxs, seq);
        } else if (ext != NULL && seq >= 1 && strcmp(ext, "idx.tmp") == 0) {
            if (!j->read_only) {
                unlinkat(j->dirfd, name, 0);
            }
        } else {
            rc = lg_errmsg_printf(j->errmsg, LG_EINVAL,
                                  "%s is not a journal directory: unexpected file '%s'", j->dir,
                                  name);
        }
    }
    closedir(d);
    if (rc == LG_OK) {
        if (segs->n > 1) {
            qsort(segs->v, segs->n, sizeof *segs->v, u64_cmp);
        }
        if (idxs->n > 1) {
            qsort(idxs->v, idxs->n, sizeof *idxs->v, u64_cmp);
        }
    }
    return rc;
}

/* A last segment cut short before its header was written (crash right after creating it):
 * shorter than a header, or nothing but zero bytes. */
static int seg_is_torn_creation(struct lg_journal *j, uint64_t first_seq, bool *torn,
                                uint64_t *size)
{
    char name[64];
    seg_name(j, first_seq, "log", name);
    int fd = openat(j->dirfd, name, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int err = errno;
        if (fd >= 0) {
            close(fd);
        }
        return lg_errmsg_printf(j->errmsg, LG_EIO, "open %s: %s", name, strerror(err));
    }
    *size = (uint64_t)st.st_size;
    *torn = *size < SEG_HDR_BYTES;
    if (!*torn) {
        uint8_t buf[4096];
        uint64_t off = 0;
        bool zero = true;
        while (zero && off < *size) {
            ssize_t n = pread_all(fd, buf, sizeof buf, off);
            if (n <= 0) {
                break;
            }
            zero = all_zero(buf, (size_t)n);
            off += (uint64_t)n;
        }
        *torn = zero && off >= *size;
    }
    close(fd);
    return LG_OK;
}

/* Open segment number si (already pushed with its first seq from the file name): read and
 * check its header and chain link; read its trailer when there is one. *sealed says
 * whether a valid trailer was found. The fd stays open in s->fd. */
static int seg_open_file(struct lg_journal *j, size_t si, bool writable, bool *sealed,
                         const char **trailer_why)
{
    struct journal_seg *s = &j->segs[si];
    char name[64];
    seg_name(j, s->first_seq, "log", name);
    s->fd = openat(j->dirfd, name, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (s->fd < 0) {
        return lg_errmsg_printf(j->errmsg, LG_EIO, "open %s/%s: %s", j->dir, name,
                                strerror(errno));
    }
    struct stat st;
    if (fstat(s->fd, &st) != 0) {
        return lg_errmsg_printf(j->errmsg, LG_EIO, "stat %s: %s", name, strerror(errno));
    }
    s->file_bytes = (uint64_t)st.st_size;
    uint8_t h[SEG_HDR_BYTES];
    ssize_t got = pread_all(s->fd, h, sizeof h, 0);
    if (got < 0) {
        return lg_errmsg_printf(j->errmsg, LG_EIO, "read %s: %s", name, strerror(errno));
    }
    if (got < (ssize_t)sizeof h) {
        return journal_corrupt(j, si, s->first_seq, 0, "segment shorter than its header");
    }
    const char *why = NULL;
    int rc = seg_hdr_check(h, &why);
    if (rc == LG_EINVAL) {
        return lg_errmsg_printf(j->errmsg, LG_EINVAL, "%s/%s: %s", j->dir, name, why);
    }
    if (rc != LG_OK) {
        return journal_corrupt(j, si, s->first_seq, 0, why);
    }
    if (get64(h + 8) != s->first_seq) {
        return journal_corrupt(j, si, s->first_seq, 8,
                               "segment header first seq does not match the file name");
    }
    memcpy(s->prev_hash, h + 16, LG_HASH_BYTES);
    memcpy(s->last_hash, h + 16, LG_HASH_BYTES);
    if (si == 0) {
        if (s->first_seq != 1 || memcmp(s->prev_hash, zero_hash, LG_HASH_BYTES) != 0) {
            return journal_corrupt(j, si, s->first_seq, 0,
                                   "first segment does not start at seq 1 from a zero hash");
        }
    } else {
        const struct journal_seg *p = &j->segs[si - 1];
        if (s->first_seq != p->last_seq + 1) {
            return journal_corrupt(j, si, s->first_seq, 8,
                                   "seq gap or overlap with the previous segment");
        }
        if (memcmp(s->prev_hash, p->last_hash, LG_HASH_BYTES) != 0) {
            return journal_corrupt(j, si, s->first_seq, 16,
                                   "chain broken between segments (prev_hash != last hash "
                                   "of the previous segment)");
        }
    }
    *sealed = false;
    *trailer_why = "segment shorter than header plus trailer";
    if (s->file_bytes >= SEG_HDR_BYTES + TRL_BYTES) {
        uint8_t t[TRL_BYTES];
        if (pread_all(s->fd, t, sizeof t, s->file_bytes - TRL_BYTES) != (ssize_t)sizeof t) {
            return lg_errmsg_printf(j->errmsg, LG_EIO, "read trailer of %s", name);
        }
        *trailer_why = trl_check(t, s->first_seq, s->file_bytes);
        if (*trailer_why == NULL) {
            *sealed = true;
            s->last_seq = get64(t + 8);
            memcpy(s->last_hash, t + 16, LG_HASH_BYTES);
        }
    }
    return LG_OK;
}

/* Is there, after the bad record at bad_off, a record header that verifies on its own
 * (magic, header CRC) with a seq above bad_seq? Then the damage is in the middle of the
 * open segment, not a torn tail, and truncating would drop good records. */
static int tail_has_later_record(struct lg_journal *j, size_t si, uint64_t bad_off,
                                 uint64_t bad_seq, bool *later)
{
    const struct journal_seg *s = &j->segs[si];
    *later = false;
    for (uint64_t off = bad_off + 8; off + REC_HDR_BYTES <= s->file_bytes; off += 8) {
        const uint8_t *h;
        int rc = seg_view(j, si, off, REC_HDR_BYTES, READAHEAD_SEQ_BYTES, &h);
        if (rc != LG_OK) {
            return rc;
        }
        if (h != NULL && get32(h) == REC_MAGIC && rec_hdr_check(h) == NULL &&
            get64(h + 16) > bad_seq) {
            *later = true;
            return LG_OK;
        }
    }
    return LG_OK;
}

/* Recover the last segment when it has no trailer: scan it, truncate a torn tail, build
 * its in-memory index. A read-only last segment was sealed (chmod follows the trailer's
 * fdatasync), so a missing trailer there is corruption. */
static int seg_recover_open(struct lg_journal *j, size_t si, mode_t mode,
                            const char *trailer_why)
{
    struct journal_seg *s = &j->segs[si];
    if ((mode & 0222) == 0) {
        return journal_corrupt(j, si, s->first_seq, s->file_bytes > TRL_BYTES
                                                        ? s->file_bytes - TRL_BYTES
                                                        : 0,
                               trailer_why);
    }
    struct scan sc = {0};
    int rc = seg_scan(j, si, s->file_bytes, j->index_every, &sc);
    if (rc != LG_OK) {
        return rc;
    }
    if (sc.why != NULL) {
        bool later = false;
        rc = tail_has_later_record(j, si, sc.bad_off, sc.last_seq + 1, &later);
        if (rc != LG_OK) {
            return rc;
        }
        if (later) {
            char why[160];
            snprintf(why, sizeof why, "%s, and valid records follow (not a torn tail)",
                     sc.why);
            return journal_corrupt(j, si, sc.last_seq + 1, sc.bad_off, why);
        }
    }
    if (sc.end_off < s->file_bytes && j->read_only) {
        /* Report what a writable open would cut; reads stop at the last good record. */
        j->recovered_bytes += s->file_bytes - sc.end_off;
        s->file_bytes = sc.end_off;
        j->rbuf_seg = SIZE_MAX;
    } else if (sc.end_off < s->file_bytes) {
        char name[64];
        seg_name(j, s->first_seq, "log", name);
        if (ftruncate(s->fd, (off_t)sc.end_off) != 0 || fdatasync(s->fd) != 0) {
            return lg_errmsg_printf(j->errmsg, LG_EIO, "truncate torn tail of %s: %s", name,
                                    strerror(errno));
        }
        j->recovered_bytes += s->file_bytes - sc.end_off;
        s->file_bytes = sc.end_off;
        j->rbuf_seg = SIZE_MAX;
    }
    s->last_seq = sc.last_seq;
    memcpy(s->last_hash, sc.last_hash, LG_HASH_BYTES);
    rc = idx_install(j, si, j->index_every);
    if (rc != LG_OK) {
        return rc;
    }
    wbuf_reset(j, s->file_bytes);
    return LG_OK;
}

static int journal_open_dir(struct lg_journal *j, const char *dir, bool create)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (errno != ENOENT) {
            return lg_errmsg_printf(j->errmsg, LG_EIO, "stat %s: %s", dir, strerror(errno));
        }
        if (!create || j->read_only) {
            return lg_errmsg_printf(j->errmsg, LG_ENOTFOUND, "journal directory %s not found",
                                    dir);
        }
        if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
            return lg_errmsg_printf(j->errmsg, errno == ENOENT ? LG_ENOTFOUND : LG_EIO,
                                    "create journal directory %s: %s", dir, strerror(errno));
        }
        /* Make the new directory's entry durable in its parent. */
        char parent[JOURNAL_DIR_BYTES_MAX + 8];
        snprintf(parent, sizeof parent, "%s/..", dir);
        int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pfd >= 0) {
            (void)fsync(pfd);
            close(pfd);
        }
    } else if (!S_ISDIR(st.st_mode)) {
        return lg_errmsg_printf(j->errmsg, LG_EINVAL, "%s is not a directory", dir);
    }
    j->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (j->dirfd < 0) {
        return lg_errmsg_printf(j->errmsg, LG_EIO, "open %s: %s", dir, strerror(errno));
    }
    if (!j->read_only && flock(j->dirfd, LOCK_EX | LOCK_NB) != 0) {
        return lg_errmsg_printf(j->errmsg, LG_EIO, "journal %s is locked by another user: %s",
                                dir, strerror(errno));
    }
    return LG_OK;
}

static int journal_recover(struct lg_journal *j, struct seq_list *segs, struct seq_list *idxs)
{
    /* Orphan index files (no segment) are stale: remove them. */
    for (size_t i = 0; i < idxs->n; i++) {
        if (segs->n == 0 ||
            bsearch(&idxs->v[i], segs->v, segs->n, sizeof *segs->v, u64_cmp) == NULL) {
            if (j->read_only) {
                continue;
            }
            char name[64];
            seg_name(j, idxs->v[i], "idx", name);
            unlinkat(j->dirfd, name, 0);
            j->dir_dirty = true;
        }
    }
    if (segs->n == 0) {
        return LG_OK;
    }
    bool torn = false;
    uint64_t size = 0;
    int rc = seg_is_torn_creation(j, segs->v[segs->n - 1], &torn, &size);
    if (rc != LG_OK) {
        return rc;
    }
    if (torn) {
        char name[64];
        seg_name(j, segs->v[segs->n - 1], "log", name);
        if (!j->read_only && unlinkat(j->dirfd, name, 0) != 0) {
            return lg_errmsg_printf(j->errmsg, LG_EIO, "remove torn %s: %s", name,
                                    strerror(errno));
        }
        j->recovered_bytes += size;
        j->dir_dirty = true;
        segs->n--;
    }
    for (size_t i = 0; i < segs->n; i++) {
        rc = segs_reserve(j);
        if (rc != LG_OK) {
            return rc;
        }
        bool last = i + 1 == segs->n;
        seg_push(j, segs->v[i], zero_hash);
        struct journal_seg *s = &j->segs[i];
        bool sealed = false;
        const char *trailer_why = NULL;
        char name[64];
        seg_name(j, s->first_seq, "log", name);
        struct stat st;
        if (fstatat(j->dirfd, name, &st, 0) != 0) {
            return lg_errmsg_printf(j->errmsg, LG_EIO, "stat %s: %s", name, strerror(errno));
        }
        if (!S_ISREG(st.st_mode)) {
            return lg_errmsg_printf(j->errmsg, LG_EINVAL, "%s/%s is not a regular file",
                                    j->dir, name);
        }
        bool writable = last && (st.st_mode & 0200) != 0 && !j->read_only;
        rc = seg_open_file(j, i, writable, &sealed, &trailer_why);
        if (rc != LG_OK) {
            return rc;
        }
        if (sealed) {
            s->sealed = true;
            if (last && !j->read_only) {
                /* Crash after the seal, before the next segment existed: finish the seal
                 * (durable, read-only) and let the next append create a segment. */
                (void)fdatasync(s->fd);
                (void)fchmod(s->fd, 0444);
            }
            close(s->fd);
            s->fd = -1;
        } else if (!last) {
            return journal_corrupt(j, i, s->first_seq,
                                   s->file_bytes > TRL_BYTES ? s->file_bytes - TRL_BYTES : 0,
                                   trailer_why);
        } else {
            rc = seg_recover_open(j, i, st.st_mode, trailer_why);
            if (rc != LG_OK) {
                return rc;
            }
        }
    }
    if (j->seg_count == 0) {
        return LG_OK; /* the only segment was a torn creation */
    }
    const struct journal_seg *s = &j->segs[j->seg_count - 1];
    j->last_seq = s->last_seq;
    memcpy(j->last_hash, s->last_hash, LG_HASH_BYTES);
    return LG_OK;
}

static void journal_free(struct lg_journal *j)
{
    for (size_t i = 0; i < j->seg_count; i++) {
        if (j->segs[i].fd >= 0) {
            close(j->segs[i].fd);
        }
        free(j->segs[i].idx);
    }
    free(j->segs);
    free(j->wbuf);
    free(j->rbuf);
    free(j->scan_idx);
    EVP_MD_CTX_free(j->mdctx);
    EVP_MD_free(j->md);
    if (j->dirfd >= 0) {
        close(j->dirfd);
    }
    free(j);
}

static int journal_open_inner(struct lg_journal *j, const char *dir,
                              const struct lg_journal_options *opts)
{
    struct lg_journal_options o = {0};
    if (opts != NULL) {
        o = *opts;
    }
    j->segment_bytes_max = o.segment_bytes_max ? o.segment_bytes_max
                                               : LG_JOURNAL_SEGMENT_BYTES_DEFAULT;
    j->index_every = o.index_every ? o.index_every : INDEX_EVERY_DEFAULT;
    if (j->segment_bytes_max < LG_JOURNAL_SEGMENT_BYTES_MIN ||
        j->segment_bytes_max > SEGMENT_BYTES_MAX_LIMIT) {
        return lg_errmsg_printf(j->errmsg, LG_EINVAL,
                                "segment_bytes_max %llu outside [%u, %llu]",
                                (unsigned long long)j->segment_bytes_max,
                                LG_JOURNAL_SEGMENT_BYTES_MIN,
                                (unsigned long long)SEGMENT_BYTES_MAX_LIMIT);
    }
    if (j->index_every > INDEX_EVERY_MAX) {
        return lg_errmsg_printf(j->errmsg, LG_EINVAL, "index_every %u above %u",
                                j->index_every, INDEX_EVERY_MAX);
    }
    size_t dir_len = strlen(dir);
    if (dir_len == 0 || dir_len >= JOURNAL_DIR_BYTES_MAX) {
        return lg_errmsg_printf(j->errmsg, LG_EINVAL, "journal directory path length %zu",
                                dir_len);
    }
    memcpy(j->dir, dir, dir_len + 1);
    j->read_only = o.read_only;
    j->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    j->mdctx = EVP_MD_CTX_new();
    j->wbuf = malloc(WBUF_BYTES);
    if (j->md == NULL || j->mdctx == NULL || j->wbuf == NULL) {
        return lg_errmsg_printf(j->errmsg, LG_ENOMEM, "journal buffers or SHA-256 context");
    }
    int rc = journal_open_dir(j, dir, o.create);
    if (rc != LG_OK) {
        return rc;
    }
    struct seq_list segs = {0};
    struct seq_list idxs = {0};
    rc = dir_list(j, &segs, &idxs);
    if (rc == LG_OK) {
        rc = journal_recover(j, &segs, &idxs);
    }
    free(segs.v);
    free(idxs.v);
    return rc;
}

int lg_journal_open(struct lg_journal **out, const char *dir,
                    const struct lg_journal_options *opts, char *errmsg,
                    struct lg_journal_corruption *corruption)
{
    LG_PRE(out != NULL);
    *out = NULL;
    if (dir == NULL) {
        if (errmsg != NULL) {
            lg_errmsg_printf(errmsg, LG_EINVAL, "journal directory is NULL");
        }
        return LG_EINVAL;
    }
    struct lg_journal *j = calloc(1, sizeof *j);
    if (j == NULL) {
        if (errmsg != NULL) {
            lg_errmsg_printf(errmsg, LG_ENOMEM, "journal object");
        }
        return LG_ENOMEM;
    }
    j->dirfd = -1;
    j->rbuf_seg = SIZE_MAX;
    int rc = journal_open_inner(j, dir, opts);
    if (rc != LG_OK) {
        if (errmsg != NULL) {
            memcpy(errmsg, j->errmsg, LG_ERRMSG_SIZE);
        }
        if (corruption != NULL && rc == LG_ECORRUPT) {
            *corruption = j->corruption;
        }
        journal_free(j);
        return rc;
    }
    if (errmsg != NULL) {
        errmsg[0] = '\0';
    }
    *out = j;
    return LG_OK;
}

int lg_journal_close(struct lg_journal *j)
{
    if (j == NULL) {
        return LG_OK;
    }
    int rc = LG_OK;
    if (!j->failed && j->seg_count > 0 && !j->segs[j->seg_count - 1].sealed) {
        rc = wbuf_flush(j);
    }
    journal_free(j);
    return rc;
}

/* ---- append, sync ---- */

int lg_journal_append(struct lg_journal *j, const void *body, uint32_t body_len,
                      uint64_t *seq_out, uint8_t *hash_out)
{
    LG_PRE(j != NULL);
    if (j->failed) {
        return journal_sticky(j);
    }
    if (j->read_only) {
        return lg_errmsg_printf(j->errmsg, LG_EINVAL, "append: journal opened read-only");
    }
    if (body == NULL || body_len == 0) {
        return lg_errmsg_printf(j->errmsg, LG_EINVAL, "append: empty record body");
    }
    if (body_len > LG_RECORD_BODY_BYTES_MAX) {
        return lg_errmsg_printf(j->errmsg, LG_ETOOLARGE,
                                "append: record body of %u bytes exceeds %u", body_len,
                                LG_RECORD_BODY_BYTES_MAX);
    }
    uint64_t size = rec_bytes(body_len);
    struct journal_seg *s = j->seg_count > 0 ? &j->segs[j->seg_count - 1] : NULL;
    if (s != NULL && !s->sealed && s->last_seq >= s->first_seq &&
        s->file_bytes + size + TRL_BYTES > j->segment_bytes_max) {
        int rc = seg_seal(j);
        if (rc != LG_OK) {
            return rc;
        }
    }
    if (s == NULL || s->sealed) {
        int rc = seg_create(j);
        if (rc != LG_OK) {
            return rc;
        }
        s = &j->segs[j->seg_count - 1];
    }
    uint64_t seq = j->last_seq + 1;
    /* Reserve the index entry first, so ENOMEM leaves nothing half done. */
    bool indexed = (seq - s->first_seq) % s->idx_every == 0;
    if (indexed && s->idx_count == s->idx_cap) {
        size_t cap = s->idx_cap ? s->idx_cap * 2 : 64;
        uint64_t *grown = realloc(s->idx, cap * sizeof *grown);
        if (grown == NULL) {
            return lg_errmsg_printf(j->errmsg, LG_ENOMEM, "append: index of %zu entries", cap);
        }
        s->idx = grown;
        s->idx_cap = cap;
    }
    uint8_t hash[LG_HASH_BYTES];
    journal_hash(j, j->last_hash, body, body_len, hash);
    uint8_t h[REC_HDR_BYTES];
    rec_hdr_encode(h, body_len, lg_crc32c(0, body, body_len), seq, hash);
    uint64_t off = s->file_bytes;
    if (j->wbuf_len + size > WBUF_BYTES) {
        int rc = wbuf_flush(j);
        if (rc != LG_OK) {
            return rc;
        }
    }
    if (size > WBUF_BYTES) {
        /* Bigger than the buffer: written directly (the buffer is empty here). */
        static const uint8_t pad[8];
        int err = pwrite_all(s->fd, h, sizeof h, off);
        if (err == 0) {
            err = pwrite_all(s->fd, body, body_len, off + REC_HDR_BYTES);
        }
        if (err == 0) {
            err = pwrite_all(s->fd, pad, (size_t)(size - REC_HDR_BYTES - body_len),
                             off + REC_HDR_BYTES + body_len);
        }
        if (err != 0) {
            return journal_fail(j, err, "append: write record");
        }
        j->wbuf_off = off + size;
        j->unsynced = true;
        int rc = wb_kick(j, s->fd);
        if (rc != LG_OK) {
            return rc;
        }
    } else {
        uint8_t *p = j->wbuf + j->wbuf_len;
        memcpy(p, h, sizeof h);
        memcpy(p + REC_HDR_BYTES, body, body_len);
        memset(p + REC_HDR_BYTES + body_len, 0, (size_t)(size - REC_HDR_BYTES - body_len));
        j->wbuf_len += (size_t)size;
    }
    LG_ASSERT(j->wbuf_off + j->wbuf_len == off + size);
    if (indexed) {
        s->idx[s->idx_count++] = off;
    }
    s->file_bytes = off + size;
    s->last_seq = seq;
    memcpy(s->last_hash, hash, LG_HASH_BYTES);
    j->last_seq = seq;
    memcpy(j->last_hash, hash, LG_HASH_BYTES);
    if (seq_out != NULL) {
        *seq_out = seq;
    }
    if (hash_out != NULL) {
        memcpy(hash_out, hash, LG_HASH_BYTES);
    }
    return LG_OK;
}

int lg_journal_sync(struct lg_journal *j)
{
    LG_PRE(j != NULL);
    if (j->failed) {
        return journal_sticky(j);
    }
    if (j->read_only) {
        return lg_errmsg_printf(j->errmsg, LG_EINVAL, "sync: journal opened read-only");
    }
    struct journal_seg *s = j->seg_count > 0 ? &j->segs[j->seg_count - 1] : NULL;
    if (s != NULL && !s->sealed) {
        int rc = wbuf_flush(j);
        if (rc != LG_OK) {
            return rc;
        }
        if (j->unsynced) {
            if (fdatasync(s->fd) != 0) {
                return journal_fail(j, errno, "fdatasync open segment");
            }
            j->unsynced = false;
        }
    }
    if (j->dir_dirty) {
        if (fsync(j->dirfd) != 0) {
            return journal_fail(j, errno, "fsync journal directory");
        }
        j->dir_dirty = false;
    }
    return LG_OK;
}

/* ---- reads ---- */

int lg_journal_read(struct lg_journal *j, uint64_t seq, struct lg_journal_record *rec)
{
    LG_PRE(j != NULL && rec != NULL);
    if (seq == 0 || seq > j->last_seq) {
        return lg_errmsg_printf(j->errmsg, LG_ERANGE, "read: seq %llu outside [1, %llu]",
                                (unsigned long long)seq, (unsigned long long)j->last_seq);
    }
    size_t si = 0;
    uint64_t off = 0;
    uint8_t prev[LG_HASH_BYTES];
    int rc = journal_locate(j, seq, &si, &off, prev);
    if (rc != LG_OK) {
        return rc;
    }
    uint64_t next = 0;
    const char *why = NULL;
    rc = rec_load(j, si, off, seg_limit(j, si), seq, prev, READAHEAD_RANDOM_BYTES, rec, &next,
                  &why);
    if (rc == LG_ECORRUPT) {
        return journal_corrupt(j, si, seq, off, why);
    }
    return rc;
}

uint64_t lg_journal_last_seq(const struct lg_journal *j)
{
    LG_PRE(j != NULL);
    return j->last_seq;
}

void lg_journal_last_hash(const struct lg_journal *j, uint8_t hash[LG_HASH_BYTES])
{
    LG_PRE(j != NULL && hash != NULL);
    memcpy(hash, j->last_hash, LG_HASH_BYTES);
}

uint64_t lg_journal_recovered_bytes(const struct lg_journal *j)
{
    LG_PRE(j != NULL);
    return j->recovered_bytes;
}

const struct lg_journal_corruption *lg_journal_corruption(const struct lg_journal *j)
{
    LG_PRE(j != NULL);
    return &j->corruption;
}

const char *lg_journal_errmsg(const struct lg_journal *j)
{
    LG_PRE(j != NULL);
    return j->errmsg;
}

int lg_journal_iter_init(struct lg_journal_iter *it, struct lg_journal *j, uint64_t from_seq,
                         uint64_t to_seq)
{
    LG_PRE(it != NULL && j != NULL);
    memset(it, 0, sizeof *it);
    it->j = j;
    if (to_seq == 0) {
        to_seq = j->last_seq;
    }
    if (from_seq == 0 || from_seq > j->last_seq + 1 || to_seq + 1 < from_seq ||
        to_seq > j->last_seq) {
        it->next_seq = 1;
        it->to_seq = 0;
        return lg_errmsg_printf(j->errmsg, LG_ERANGE,
                                "iterate: range [%llu, %llu] outside [1, %llu]",
                                (unsigned long long)from_seq, (unsigned long long)to_seq,
                                (unsigned long long)j->last_seq);
    }
    it->next_seq = from_seq;
    it->to_seq = to_seq;
    it->segment = -1;
    if (from_seq > to_seq) {
        return LG_OK;
    }
    size_t si = 0;
    uint64_t off = 0;
    int rc = journal_locate(j, from_seq, &si, &off, it->prev_hash);
    if (rc != LG_OK) {
        it->to_seq = from_seq - 1;
        return rc;
    }
    it->segment = (int)si;
    it->offset = off;
    return LG_OK;
}

int lg_journal_iter_next(struct lg_journal_iter *it, struct lg_journal_record *rec)
{
    LG_PRE(it != NULL && it->j != NULL && rec != NULL);
    struct lg_journal *j = it->j;
    if (it->next_seq > it->to_seq) {
        return 0;
    }
    LG_ASSERT(it->segment >= 0 && (size_t)it->segment < j->seg_count);
    size_t si = (size_t)it->segment;
    if (it->offset >= seg_limit(j, si)) {
        /* Move to the next segment; its header's prev_hash was checked at open. */
        LG_ASSERT(si + 1 < j->seg_count);
        si++;
        it->segment = (int)si;
        it->offset = SEG_HDR_BYTES;
        if (memcmp(j->segs[si].prev_hash, it->prev_hash, LG_HASH_BYTES) != 0) {
            return -journal_corrupt(j, si, it->next_seq, 16, "chain broken between segments");
        }
    }
    uint64_t next = 0;
    const char *why = NULL;
    int rc = rec_load(j, si, it->offset, seg_limit(j, si), it->next_seq, it->prev_hash,
                      READAHEAD_SEQ_BYTES, rec, &next, &why);
    if (rc == LG_ECORRUPT) {
        return -journal_corrupt(j, si, it->next_seq, it->offset, why);
    }
    if (rc != LG_OK) {
        return -rc;
    }
    memcpy(it->prev_hash, rec->hash, LG_HASH_BYTES);
    it->offset = next;
    it->next_seq++;
    return 1;
}

/* ---- verify ---- */

/* Re-read and check the header (and trailer, when sealed) of segment si against what
 * open found. */
static int verify_frame(struct lg_journal *j, size_t si, const uint8_t prev[LG_HASH_BYTES])
{
    struct journal_seg *s = &j->segs[si];
    const uint8_t *h;
    int rc = seg_view(j, si, 0, SEG_HDR_BYTES, SEG_HDR_BYTES, &h);
    if (rc != LG_OK) {
        return rc;
    }
    const char *why = NULL;
    if (h == NULL) {
        return journal_corrupt(j, si, s->first_seq, 0, "segment header missing");
    }
    if (seg_hdr_check(h, &why) != LG_OK) {
        return journal_corrupt(j, si, s->first_seq, 0, why);
    }
    if (get64(h + 8) != s->first_seq || memcmp(h + 16, prev, LG_HASH_BYTES) != 0) {
        return journal_corrupt(j, si, s->first_seq, 8,
                               "segment header does not link to the previous record");
    }
    if (!s->sealed) {
        return LG_OK;
    }
    uint64_t at = s->file_bytes - TRL_BYTES;
    rc = seg_view(j, si, at, TRL_BYTES, TRL_BYTES, &h);
    if (rc != LG_OK) {
        return rc;
    }
    why = h == NULL ? "trailer missing" : trl_check(h, s->first_seq, s->file_bytes);
    if (why == NULL && (get64(h + 8) != s->last_seq ||
                        memcmp(h + 16, s->last_hash, LG_HASH_BYTES) != 0)) {
        why = "trailer changed since open";
    }
    if (why != NULL) {
        return journal_corrupt(j, si, s->last_seq, at, why);
    }
    return LG_OK;
}

int lg_journal_verify(struct lg_journal *j, uint64_t from_seq,
                      void (*progress)(void *arg, uint64_t seq_done, uint64_t seq_last),
                      void *progress_arg)
{
    LG_PRE(j != NULL);
    if (from_seq == 0) {
        from_seq = 1;
    }
    if (from_seq > j->last_seq + 1) {
        return lg_errmsg_printf(j->errmsg, LG_ERANGE, "verify: seq %llu beyond last %llu",
                                (unsigned long long)from_seq,
                                (unsigned long long)j->last_seq);
    }
    if (from_seq > j->last_seq) {
        return LG_OK;
    }
    uint64_t total = 0;
    size_t first = seg_find(j, from_seq);
    for (size_t si = first; si < j->seg_count; si++) {
        total += j->segs[si].file_bytes;
    }
    struct scan sc = {0};
    sc.progress = progress;
    sc.progress_arg = progress_arg;
    sc.progress_bytes = total / 100u;
    if (sc.progress_bytes > PROGRESS_BYTES) {
        sc.progress_bytes = PROGRESS_BYTES;
    }
    if (sc.progress_bytes == 0) {
        sc.progress_bytes = 1;
    }
    uint8_t prev[LG_HASH_BYTES];
    memcpy(prev, j->segs[first].prev_hash, sizeof prev);
    for (size_t si = first; si < j->seg_count; si++) {
        struct journal_seg *s = &j->segs[si];
        int rc = verify_frame(j, si, prev);
        if (rc != LG_OK) {
            return rc;
        }
        uint64_t limit = seg_limit(j, si);
        /* Load (or rebuild) the index first: its entries are compared with the scan. */
        rc = idx_load(j, si);
        if (rc != LG_OK) {
            return rc;
        }
        rc = seg_scan(j, si, limit, s->idx_every, &sc);
        if (rc != LG_OK) {
            return rc;
        }
        if (sc.why != NULL) {
            return journal_corrupt(j, si, sc.last_seq + 1, sc.bad_off, sc.why);
        }
        if (sc.last_seq != s->last_seq || memcmp(sc.last_hash, s->last_hash, LG_HASH_BYTES)) {
            return journal_corrupt(j, si, sc.last_seq, limit,
                                   "records do not end at the segment's last seq/hash");
        }
        bool same = sc.end_off == limit && j->scan_idx_count == s->idx_count &&
                    memcmp(j->scan_idx, s->idx, s->idx_count * sizeof *s->idx) == 0;
        if (!same) {
            /* A wrong index is not history: replace it with the scanned one. */
            rc = idx_install(j, si, s->idx_every);
            if (rc == LG_OK && s->sealed && !j->read_only) {
                char keep[LG_ERRMSG_SIZE];
                memcpy(keep, j->errmsg, sizeof keep);
                (void)idx_write(j, si, s->idx_every);
                memcpy(j->errmsg, keep, sizeof keep);
            }
            if (rc != LG_OK) {
                return rc;
            }
        }
        memcpy(prev, s->last_hash, sizeof prev);
        if (progress != NULL) {
            progress(progress_arg, s->last_seq, j->last_seq);
        }
    }
    return LG_OK;
}
