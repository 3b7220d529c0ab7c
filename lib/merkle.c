/* merkle: the RFC 9162 tree stored as its complete subtrees (see merkle.h and
 * docs/verification.md).
 *
 * Layout. A tree of s leaves has s - popcount(s) complete subtrees of level >= 1 (a level-k
 * subtree covers the 2^k leaves [i 2^k, (i + 1) 2^k)). They are stored in the order they
 * complete: appending leaf s - 1 completes the subtrees of levels 1 .. ctz(s) ending at it,
 * written lowest level first. So the subtree (k, i) completes when the tree reaches
 * s = (i + 1) 2^k leaves and sits at position nodes(s) - 1 - (ctz(s) - k), with
 * nodes(s) = s - popcount(s): an O(1) offset, one pread per hash. The file is
 *
 *   header (64 bytes, offset 0)          hash at position p: offset 64 + 32 p
 *     0  u32 magic 0x4B4D474C ("LGMK")   8  u64 durable: hashes known durable (fdatasync'd)
 *     4  u16 version 2, 6 u16 flags 0    16 u64 leaves: the records they cover,
 *                                           durable == nodes(leaves)
 *     24..55 the source's chain hash of record `leaves` (the journal's chained hash of
 *            seq leaves; zero when leaves is 0 or the source has no chain)
 *     56 u32 CRC-32C of bytes 0..55, 60 u32 zero
 *
 * The chain hash binds the durable hashes to one history: the journal's hash of record L
 * covers every record up to L, so open trusts the durable part only when the journal's
 * own hash of record L is the stored one (one lg_journal_read); otherwise the file belongs
 * to another history and is rebuilt. Version 1 (no binding) files are rebuilt once.
 *
 * The frontier (the complete subtrees of the size's binary decomposition, one per set
 * bit) is kept in memory: appending is one leaf hash plus one node hash on average, and
 * the current root needs no read at all. MTH of any prefix [0, m) or aligned range
 * [lo, hi) is the right fold of its decomposition (largest subtree first), exactly the
 * RFC's recursion MTH(D[n]) = node(MTH(D[0:k]), MTH(D[k:n])). */
#include "merkle.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "assert.h"
#include "crc32c.h"
#include "log.h"

#define MK_HDR_BYTES 64u
#define MK_MAGIC 0x4B4D474Cu /* "LGMK" little-endian */
#define MK_VERSION 2u
#define MK_HASH LG_MERKLE_HASH_BYTES
/* Hashes buffered before one pwrite: 64 KiB, about 2048 appends. */
#define MK_WBUF_HASHES 2048u
/* Hashes read at once when comparing stored hashes with recomputed ones (open, check). */
#define MK_RBUF_HASHES 2048u
/* Levels: a size below 2^62 has at most 62 set bits; 64 slots keep indexes simple. */
#define MK_LEVELS 64u
#define MK_PATH_BYTES_MAX 4096u
/* Smallest read mapping (address space only; pages come from the page cache). */
#define MK_MAP_BYTES_MIN (UINT64_C(64) << 20)

LG_STATIC_ASSERT(MK_HASH == LG_HASH_BYTES, "one SHA-256 size");
LG_STATIC_ASSERT(LG_MERKLE_PROOF_MAX >= 63u, "inclusion 62, consistency 63 for 2^62 leaves");

struct lg_merkle {
    int fd;
    bool read_only; /* lg_merkle_check: compare, never write */
    char *path;
    struct lg_merkle_source src;
    EVP_MD *md;
    EVP_MD_CTX *ctx;
    uint64_t size;       /* leaves */
    uint64_t nodes_file; /* hashes in the file (positions below are on disk or in its cache) */
    uint64_t durable;    /* hashes the header says are durable */
    uint64_t anchor_leaves;         /* records the durable hashes cover (header) */
    uint8_t anchor[MK_HASH];        /* the source's chain hash of record anchor_leaves */
    bool damaged;        /* lg_merkle_mark_damaged: the header trusts nothing until reopened */
    uint8_t (*wbuf)[MK_HASH]; /* hashes at positions nodes_file .. nodes_file + wbuf_n */
    /* A read-only shared mapping of the file's first map_bytes, reserved ahead of the
     * file's end (twice what is written, at least MK_MAP_BYTES_MIN): a proof's ~log2(n)
     * reads are memory reads, not system calls, and a growing file is remapped rarely.
     * Only bytes already written (below 64 + 32 nodes_file) are ever read through it: pages
     * past the end of the file would fault. Unmapped before any truncation. NULL: pread. */
    const uint8_t *map;
    uint64_t map_bytes;
    uint32_t wbuf_n;
    /* Reconciliation (open) and check: positions below check_end are stored in the file
     * and are compared with the recomputed hash instead of written. */
    uint64_t check_end;
    uint8_t (*rbuf)[MK_HASH];
    uint64_t rbuf_first; /* position of rbuf[0] */
    uint32_t rbuf_n;
    struct lg_merkle_check_report *report; /* check: where the first mismatch goes */
    uint64_t repaired;   /* open: stored hashes that were wrong and rewritten */
    uint8_t frontier[MK_LEVELS][MK_HASH]; /* [k] valid when bit k of size is set */
    int fail_code;       /* sticky write failure */
    char errmsg[LG_ERRMSG_SIZE];
};

/* ---- arithmetic ---- */

static uint64_t nodes_of(uint64_t s)
{
    return s - (uint64_t)__builtin_popcountll(s);
}

static unsigned ctz64(uint64_t x)
{
    LG_PRE(x != 0);
    return (unsigned)__builtin_ctzll(x);
}

/* Largest power of two strictly below n (n >= 2). */
static uint64_t split_of(uint64_t n)
{
    LG_PRE(n >= 2);
    unsigned hb = 63u - (unsigned)__builtin_clzll(n - 1u);
    return UINT64_C(1) << hb;
}

/* Position of the complete subtree (level k >= 1, index i) in the file. */
static uint64_t pos_of(unsigned k, uint64_t i)
{
    LG_PRE(k >= 1 && k < MK_LEVELS);
    uint64_t s = (i + 1u) << k;
    unsigned z = ctz64(s);
    LG_ASSERT(z >= k);
    return nodes_of(s) - 1u - (z - k);
}

/* ---- hashing ---- */

static void hash_leaf(struct lg_merkle *t, const void *body, size_t len, uint8_t out[MK_HASH])
{
    static const uint8_t prefix = 0x00;
    unsigned int n = 0;
    int ok = EVP_DigestInit_ex2(t->ctx, t->md, NULL) == 1 &&
             EVP_DigestUpdate(t->ctx, &prefix, 1) == 1 &&
             EVP_DigestUpdate(t->ctx, body, len) == 1 &&
             EVP_DigestFinal_ex(t->ctx, out, &n) == 1;
    LG_ASSERT(ok);
    LG_ASSERT(n == MK_HASH);
}

static void hash_node(struct lg_merkle *t, const uint8_t l[MK_HASH], const uint8_t r[MK_HASH],
                      uint8_t out[MK_HASH])
{
    uint8_t in[1 + 2 * MK_HASH];
    in[0] = 0x01;
    memcpy(in + 1, l, MK_HASH);
    memcpy(in + 1 + MK_HASH, r, MK_HASH);
    unsigned int n = 0;
    int ok = EVP_DigestInit_ex2(t->ctx, t->md, NULL) == 1 &&
             EVP_DigestUpdate(t->ctx, in, sizeof in) == 1 &&
             EVP_DigestFinal_ex(t->ctx, out, &n) == 1;
    LG_ASSERT(ok);
    LG_ASSERT(n == MK_HASH);
}

void lg_merkle_leaf_hash(const void *body, size_t len, uint8_t out[LG_MERKLE_HASH_BYTES])
{
    LG_PRE(out != NULL);
    LG_PRE(body != NULL || len == 0);
    static const uint8_t prefix = 0x00;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    LG_ASSERT(ctx != NULL);
    unsigned int n = 0;
    int ok = EVP_DigestInit_ex2(ctx, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, &prefix, 1) == 1 && EVP_DigestUpdate(ctx, body, len) == 1 &&
             EVP_DigestFinal_ex(ctx, out, &n) == 1;
    EVP_MD_CTX_free(ctx);
    LG_ASSERT(ok && n == MK_HASH);
}

/* ---- header and file I/O ---- */

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (unsigned i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8u * i));
    }
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (unsigned i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8u * i));
    }
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < 8; i++) {
        v |= (uint64_t)p[i] << (8u * i);
    }
    return v;
}

static void header_encode(uint8_t h[MK_HDR_BYTES], uint64_t durable, uint64_t leaves,
                          const uint8_t anchor[MK_HASH])
{
    memset(h, 0, MK_HDR_BYTES);
    put_u32(h, MK_MAGIC);
    put_u16(h + 4, MK_VERSION);
    put_u64(h + 8, durable);
    put_u64(h + 16, leaves);
    memcpy(h + 24, anchor, MK_HASH);
    put_u32(h + 56, lg_crc32c(0, h, 56));
}

static uint64_t nodes_of(uint64_t s);

/* NULL when valid (durable, leaves and anchor set), else why not. */
static const char *header_decode(const uint8_t h[MK_HDR_BYTES], uint64_t *durable,
                                 uint64_t *leaves, uint8_t anchor[MK_HASH])
{
    if (get_u32(h) != MK_MAGIC) {
        return "bad magic";
    }
    if (get_u32(h + 56) != lg_crc32c(0, h, 56)) {
        return "bad header CRC";
    }
    if (h[4] == 1 && h[5] == 0) {
        return "version 1 file (not bound to its journal)";
    }
    if (h[4] != MK_VERSION || h[5] != 0 || h[6] != 0 || h[7] != 0) {
        return "unknown version or flags";
    }
    if (get_u32(h + 60) != 0) {
        return "non-zero reserved bytes";
    }
    uint64_t d = get_u64(h + 8);
    uint64_t l = get_u64(h + 16);
    if (l > LG_MERKLE_SIZE_MAX || d != nodes_of(l)) {
        return "durable hash count does not match its record count";
    }
    *durable = d;
    *leaves = l;
    memcpy(anchor, h + 24, MK_HASH);
    return NULL;
}

static int io_fail(struct lg_merkle *t, int errnum, const char *what)
{
    int code = lg_err_from_errno(errnum);
    if (code != LG_ENOSPC) {
        code = LG_EIO;
    }
    t->fail_code = code;
    return lg_errmsg_printf(t->errmsg, code, "%s %s: %s", what, t->path, strerror(errnum));
}

static int pwrite_all(struct lg_merkle *t, const void *buf, size_t len, uint64_t off,
                      const char *what)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t w = pwrite(t->fd, p, len, (off_t)off);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return io_fail(t, w < 0 ? errno : ENOSPC, what);
        }
        p += w;
        len -= (size_t)w;
        off += (uint64_t)w;
    }
    return LG_OK;
}

/* Read exactly len bytes at off. A short file is LG_EIO (the file was cut under us). */
static int pread_all(struct lg_merkle *t, void *buf, size_t len, uint64_t off)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t r = pread(t->fd, p, len, (off_t)off);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return lg_errmsg_printf(t->errmsg, LG_EIO, "read %s at offset %llu: %s", t->path,
                                    (unsigned long long)off,
                                    r < 0 ? strerror(errno) : "file too short");
        }
        p += r;
        len -= (size_t)r;
        off += (uint64_t)r;
    }
    return LG_OK;
}

static int header_write(struct lg_merkle *t)
{
    uint8_t h[MK_HDR_BYTES];
    header_encode(h, t->durable, t->anchor_leaves, t->anchor);
    return pwrite_all(t, h, sizeof h, 0, "write header of");
}

/* Trust no stored hash at the next open: it recomputes every one and compares. */
static void forget_durable(struct lg_merkle *t)
{
    t->durable = 0;
    t->anchor_leaves = 0;
    memset(t->anchor, 0, MK_HASH);
}

/* Write out the buffered hashes (no fsync). */
static int flush(struct lg_merkle *t)
{
    if (t->fail_code != LG_OK) {
        return t->fail_code;
    }
    if (t->wbuf_n == 0) {
        return LG_OK;
    }
    LG_ASSERT(!t->read_only);
    int rc = pwrite_all(t, t->wbuf, (size_t)t->wbuf_n * MK_HASH,
                        MK_HDR_BYTES + t->nodes_file * MK_HASH, "write");
    if (rc != LG_OK) {
        return rc;
    }
    t->nodes_file += t->wbuf_n;
    t->wbuf_n = 0;
    return LG_OK;
}

static void unmap(struct lg_merkle *t)
{
    if (t->map != NULL) {
        munmap((void *)(uintptr_t)t->map, (size_t)t->map_bytes);
    }
    t->map = NULL;
    t->map_bytes = 0;
}

/* Map the file with room to grow. On failure reads fall back to pread. */
static void remap(struct lg_merkle *t)
{
    unmap(t);
    uint64_t len = 2u * (MK_HDR_BYTES + t->nodes_file * MK_HASH);
    if (len < MK_MAP_BYTES_MIN) {
        len = MK_MAP_BYTES_MIN;
    }
    void *m = mmap(NULL, (size_t)len, PROT_READ, MAP_SHARED, t->fd, 0);
    if (m != MAP_FAILED) {
        t->map = m;
        t->map_bytes = len;
    }
}

/* Cut the file to its first n hashes and make that durable before anything else is written
 * (the header must never claim more than the file holds). Not on the hot path. */
static int cut_file(struct lg_merkle *t, uint64_t n)
{
    LG_PRE(t->wbuf_n == 0);
    unmap(t);
    if (ftruncate(t->fd, (off_t)(MK_HDR_BYTES + n * MK_HASH)) != 0) {
        return io_fail(t, errno, "truncate");
    }
    if (t->durable > n) {
        forget_durable(t); /* not reached by reconcile, which forgets first: defensive */
    }
    int rc = header_write(t);
    if (rc == LG_OK && fdatasync(t->fd) != 0) {
        rc = io_fail(t, errno, "fdatasync");
    }
    return rc;
}

/* The stored hash at position p (p < nodes_file + wbuf_n). */
static int stored_at(struct lg_merkle *t, uint64_t p, uint8_t out[MK_HASH])
{
    if (p >= t->nodes_file) {
        uint64_t b = p - t->nodes_file;
        LG_ASSERT(b < t->wbuf_n);
        memcpy(out, t->wbuf[b], MK_HASH);
        return LG_OK;
    }
    uint64_t off = MK_HDR_BYTES + p * MK_HASH; /* p < nodes_file: written out */
    if (off + MK_HASH > t->map_bytes && !t->read_only) {
        remap(t);
    }
    if (off + MK_HASH <= t->map_bytes) {
        memcpy(out, t->map + off, MK_HASH);
        return LG_OK;
    }
    return pread_all(t, out, MK_HASH, off);
}

/* ---- appending ---- */

/* A complete subtree of level >= 1 was computed: it completes the tree at s leaves. While
 * reconciling, positions below check_end are compared with the file (a mismatch is
 * rewritten on open, reported by a check); others are buffered (or dropped by a check). */
static int emit(struct lg_merkle *t, const uint8_t h[MK_HASH], unsigned level, uint64_t s)
{
    uint64_t p = t->nodes_file + t->wbuf_n;
    if (p < t->check_end) {
        LG_ASSERT(t->wbuf_n == 0);
        if (p < t->rbuf_first || p >= t->rbuf_first + t->rbuf_n) {
            uint64_t n = t->check_end - p;
            t->rbuf_n = n < MK_RBUF_HASHES ? (uint32_t)n : MK_RBUF_HASHES;
            t->rbuf_first = p;
            int rc = pread_all(t, t->rbuf, (size_t)t->rbuf_n * MK_HASH,
                               MK_HDR_BYTES + p * MK_HASH);
            if (rc != LG_OK) {
                return rc;
            }
        }
        if (memcmp(t->rbuf[p - t->rbuf_first], h, MK_HASH) == 0) {
            t->nodes_file++;
            if (t->report != NULL) {
                t->report->hashes_checked++;
            }
            return LG_OK;
        }
        if (t->read_only) {
            struct lg_merkle_check_report *r = t->report;
            LG_ASSERT(r != NULL);
            r->bad_level = level;
            r->bad_index = (s >> level) - 1u;
            r->bad_seq = s;
            r->bad_offset = MK_HDR_BYTES + p * MK_HASH;
            return lg_errmsg_printf(t->errmsg, LG_ECORRUPT,
                                    "%s: hash of the level-%u subtree ending at seq %llu "
                                    "(offset %llu) does not match the records",
                                    t->path, level, (unsigned long long)s,
                                    (unsigned long long)r->bad_offset);
        }
        /* Open: a hash written after the last sync did not survive, or was damaged. */
        lg_log(LG_LOG_WARN, "merkle_repair",
               "file=%s offset=%llu level=%u seq=%llu stored=%llu msg=\"stored hash differs "
               "from the records; rewriting the tree from here\"",
               t->path, (unsigned long long)(MK_HDR_BYTES + p * MK_HASH), level,
               (unsigned long long)s, (unsigned long long)t->check_end);
        t->repaired += t->check_end - p;
        t->check_end = p;
        t->rbuf_n = 0;
        int rc = cut_file(t, p);
        if (rc != LG_OK) {
            return rc;
        }
    }
    if (t->read_only) {
        return LG_OK; /* beyond the stored hashes: nothing to compare */
    }
    memcpy(t->wbuf[t->wbuf_n], h, MK_HASH);
    t->wbuf_n++;
    if (t->wbuf_n == MK_WBUF_HASHES) {
        return flush(t);
    }
    return LG_OK;
}

/* Add a leaf hash: merge it with the frontier's subtrees it completes. */
static int push_leaf(struct lg_merkle *t, const uint8_t leaf[MK_HASH])
{
    uint8_t h[MK_HASH];
    memcpy(h, leaf, MK_HASH);
    uint64_t s = t->size + 1u;
    unsigned level = 0;
    while ((t->size >> level) & 1u) {
        hash_node(t, t->frontier[level], h, h);
        level++;
        int rc = emit(t, h, level, s);
        if (rc != LG_OK) {
            return rc;
        }
    }
    LG_ASSERT(level < MK_LEVELS);
    memcpy(t->frontier[level], h, MK_HASH);
    t->size = s;
    return LG_OK;
}

int lg_merkle_append(struct lg_merkle *t, const void *body, uint32_t len)
{
    LG_PRE(t != NULL);
    if (t->fail_code != LG_OK) {
        return t->fail_code;
    }
    if (body == NULL || len == 0 || t->size >= LG_MERKLE_SIZE_MAX) {
        return lg_errmsg_printf(t->errmsg, LG_EINVAL, "append: empty body or full tree");
    }
    LG_ASSERT(t->check_end <= t->nodes_file);
    uint8_t leaf[MK_HASH];
    hash_leaf(t, body, len, leaf);
    return push_leaf(t, leaf);
}

/* ---- reading the tree ---- */

struct leaf_read {
    struct lg_merkle *t;
    uint8_t *out;
    int seen;
};

static int leaf_read_cb(void *arg, uint64_t index, const uint8_t *body, uint32_t len)
{
    struct leaf_read *lr = arg;
    (void)index;
    hash_leaf(lr->t, body, len, lr->out);
    lr->seen++;
    return LG_OK;
}

static int leaf_from_source(struct lg_merkle *t, uint64_t i, uint8_t out[MK_HASH]);

/* Hash of the complete subtree (level k, index i), which must lie within size leaves. */
static int node_get(struct lg_merkle *t, unsigned k, uint64_t i, uint8_t out[MK_HASH])
{
    LG_PRE(k < MK_LEVELS);
    LG_PRE(((i + 1u) << k) <= t->size);
    if (((t->size >> k) & 1u) && i == (t->size >> k) - 1u) {
        memcpy(out, t->frontier[k], MK_HASH); /* a subtree of the current decomposition */
        return LG_OK;
    }
    if (k > 0) {
        return stored_at(t, pos_of(k, i), out);
    }
    return leaf_from_source(t, i, out);
}

/* Leaf hash of leaf i, recomputed from its record body. */
static int leaf_from_source(struct lg_merkle *t, uint64_t i, uint8_t out[MK_HASH])
{
    struct leaf_read lr = {t, out, 0};
    int rc = t->src.read(t->src.arg, i, 1, leaf_read_cb, &lr);
    if (rc == LG_OK && lr.seen != 1) {
        rc = lg_errmsg_printf(t->errmsg, LG_ECORRUPT, "source gave no body for leaf %llu",
                              (unsigned long long)i);
    } else if (rc != LG_OK) {
        lg_errmsg_printf(t->errmsg, rc, "reading the body of leaf %llu (seq %llu)",
                         (unsigned long long)i, (unsigned long long)(i + 1u));
    }
    return rc;
}

/* MTH(D[lo:hi]) for an aligned range: lo is a multiple of the smallest power of two
 * >= hi - lo (every range the RFC's recursion visits is). The fold of its decomposition,
 * largest subtree first: node(c0, node(c1, ... node(c_{j-1}, c_j))). */
static int range_hash(struct lg_merkle *t, uint64_t lo, uint64_t hi, uint8_t out[MK_HASH])
{
    LG_PRE(lo < hi && hi <= t->size);
    uint8_t parts[MK_LEVELS][MK_HASH];
    unsigned n = 0;
    uint64_t start = lo;
    for (unsigned b = MK_LEVELS; b-- > 0;) {
        uint64_t w = UINT64_C(1) << b;
        if (((hi - lo) & w) == 0) {
            continue;
        }
        LG_ASSERT(start % w == 0);
        int rc = node_get(t, b, start >> b, parts[n]);
        if (rc != LG_OK) {
            return rc;
        }
        n++;
        start += w;
    }
    LG_ASSERT(n >= 1 && start == hi);
    memcpy(out, parts[n - 1], MK_HASH);
    for (unsigned j = n - 1; j-- > 0;) {
        hash_node(t, parts[j], out, out);
    }
    return LG_OK;
}

int lg_merkle_root(struct lg_merkle *t, uint64_t size, uint8_t root[LG_MERKLE_HASH_BYTES])
{
    LG_PRE(t != NULL && root != NULL);
    if (size > t->size) {
        return lg_errmsg_printf(t->errmsg, LG_ERANGE, "root: size %llu above the tree's %llu",
                                (unsigned long long)size, (unsigned long long)t->size);
    }
    if (size == 0) {
        unsigned int n = 0;
        int ok = EVP_DigestInit_ex2(t->ctx, t->md, NULL) == 1 &&
                 EVP_DigestFinal_ex(t->ctx, root, &n) == 1;
        LG_ASSERT(ok && n == MK_HASH);
        return LG_OK;
    }
    return range_hash(t, 0, size, root);
}

/* Copy the proof collected top-down into path bottom-up (the RFC's order). */
static int path_out(struct lg_merkle *t, uint8_t (*stack)[MK_HASH], size_t n,
                    uint8_t (*path)[MK_HASH], size_t cap, size_t *len)
{
    if (n > cap) {
        return lg_errmsg_printf(t->errmsg, LG_EINVAL, "proof of %zu hashes, room for %zu", n,
                                cap);
    }
    for (size_t i = 0; i < n; i++) {
        memcpy(path[i], stack[n - 1u - i], MK_HASH);
    }
    *len = n;
    return LG_OK;
}

int lg_merkle_inclusion(struct lg_merkle *t, uint64_t leaf_index, uint64_t size,
                        uint8_t (*path)[LG_MERKLE_HASH_BYTES], size_t cap, size_t *len)
{
    LG_PRE(t != NULL && len != NULL);
    LG_PRE(path != NULL || cap == 0);
    *len = 0;
    if (size > t->size || leaf_index >= size) {
        return lg_errmsg_printf(t->errmsg, LG_ERANGE,
                                "inclusion: leaf %llu in size %llu (tree has %llu)",
                                (unsigned long long)leaf_index, (unsigned long long)size,
                                (unsigned long long)t->size);
    }
    /* PATH(m, D[lo:hi]): k = split; m < k: PATH(m, D[lo:lo+k]) : MTH(D[lo+k:hi]);
     * else PATH(m - k, D[lo+k:hi]) : MTH(D[lo:lo+k]). Collected outermost first. */
    uint8_t stack[LG_MERKLE_PROOF_MAX][MK_HASH];
    size_t n = 0;
    uint64_t lo = 0;
    uint64_t hi = size;
    while (hi - lo > 1u) {
        uint64_t k = split_of(hi - lo);
        LG_ASSERT(n < LG_MERKLE_PROOF_MAX);
        int rc;
        if (leaf_index < lo + k) {
            rc = range_hash(t, lo + k, hi, stack[n]);
            hi = lo + k;
        } else {
            rc = node_get(t, ctz64(k), lo / k, stack[n]);
            lo += k;
        }
        if (rc != LG_OK) {
            return rc;
        }
        n++;
    }
    return path_out(t, stack, n, path, cap, len);
}

int lg_merkle_consistency(struct lg_merkle *t, uint64_t from_size, uint64_t to_size,
                          uint8_t (*path)[LG_MERKLE_HASH_BYTES], size_t cap, size_t *len)
{
    LG_PRE(t != NULL && len != NULL);
    LG_PRE(path != NULL || cap == 0);
    *len = 0;
    if (to_size > t->size || from_size > to_size) {
        return lg_errmsg_printf(t->errmsg, LG_ERANGE,
                                "consistency: from %llu to %llu (tree has %llu)",
                                (unsigned long long)from_size, (unsigned long long)to_size,
                                (unsigned long long)t->size);
    }
    if (from_size == 0 || from_size == to_size) {
        return LG_OK;
    }
    /* SUBPROOF(m, D[lo:hi], b): m == hi - lo: {} if b, else {MTH(D[lo:hi])};
     * k = split; m <= k: SUBPROOF(m, D[lo:lo+k], b) : MTH(D[lo+k:hi]);
     * else SUBPROOF(m - k, D[lo+k:hi], false) : MTH(D[lo:lo+k]). */
    uint8_t stack[LG_MERKLE_PROOF_MAX][MK_HASH];
    size_t n = 0;
    uint64_t lo = 0;
    uint64_t hi = to_size;
    uint64_t m = from_size;
    bool whole = true;
    for (;;) {
        LG_ASSERT(n < LG_MERKLE_PROOF_MAX);
        int rc = LG_OK;
        if (m == hi - lo) {
            if (!whole) {
                rc = range_hash(t, lo, hi, stack[n++]);
            }
            if (rc != LG_OK) {
                return rc;
            }
            break;
        }
        uint64_t k = split_of(hi - lo);
        if (m <= k) {
            rc = range_hash(t, lo + k, hi, stack[n]);
            hi = lo + k;
        } else {
            rc = node_get(t, ctz64(k), lo / k, stack[n]);
            m -= k;
            lo += k;
            whole = false;
        }
        if (rc != LG_OK) {
            return rc;
        }
        n++;
    }
    return path_out(t, stack, n, path, cap, len);
}

uint64_t lg_merkle_size(const struct lg_merkle *t)
{
    LG_PRE(t != NULL);
    return t->size;
}

uint64_t lg_merkle_storage_bytes(const struct lg_merkle *t)
{
    LG_PRE(t != NULL);
    return MK_HDR_BYTES + (t->nodes_file + t->wbuf_n) * MK_HASH;
}

const char *lg_merkle_errmsg(const struct lg_merkle *t)
{
    LG_PRE(t != NULL);
    return t->errmsg;
}

int lg_merkle_sync(struct lg_merkle *t)
{
    LG_PRE(t != NULL);
    int rc = flush(t);
    if (rc != LG_OK) {
        return rc;
    }
    if (t->durable == t->nodes_file || t->damaged) {
        return LG_OK; /* damaged: the header keeps trusting nothing (lg_merkle_mark_damaged) */
    }
    LG_ASSERT(t->nodes_file == nodes_of(t->size));
    /* The chain hash of the last record: read before anything changes (a failed read
     * leaves the old header, which is still right). */
    uint8_t anchor[MK_HASH] = {0};
    if (t->size > 0 && t->src.chain != NULL) {
        rc = t->src.chain(t->src.arg, t->size - 1u, anchor);
        if (rc != LG_OK) {
            return lg_errmsg_printf(t->errmsg, rc, "sync %s: chain hash of record %llu: %s",
                                    t->path, (unsigned long long)t->size, lg_err_message(rc));
        }
    }
    if (fdatasync(t->fd) != 0) {
        return io_fail(t, errno, "fdatasync");
    }
    /* The header is written after the hashes are durable; it needs no fsync of its own: a
     * lost header write only makes the next open recompute more. */
    t->durable = t->nodes_file;
    t->anchor_leaves = t->size;
    memcpy(t->anchor, anchor, MK_HASH);
    return header_write(t);
}

int lg_merkle_mark_damaged(struct lg_merkle *t)
{
    LG_PRE(t != NULL && !t->read_only);
    if (t->damaged) {
        return LG_OK;
    }
    t->damaged = true;
    if (t->fail_code != LG_OK) {
        return t->fail_code;
    }
    forget_durable(t);
    int rc = header_write(t);
    if (rc == LG_OK && fdatasync(t->fd) != 0) {
        rc = io_fail(t, errno, "fdatasync");
    }
    return rc;
}

bool lg_merkle_damaged(const struct lg_merkle *t)
{
    LG_PRE(t != NULL);
    return t->damaged;
}

/* ---- sources ---- */

static int journal_source_read(void *arg, uint64_t first, uint64_t count, lg_merkle_leaf_cb leaf,
                               void *leaf_arg)
{
    struct lg_journal *j = arg;
    struct lg_journal_record rec;
    if (count == 0) {
        return LG_OK;
    }
    if (count == 1) {
        int rc = lg_journal_read(j, first + 1u, &rec);
        return rc != LG_OK ? rc : leaf(leaf_arg, first, rec.body, rec.body_len);
    }
    struct lg_journal_iter it;
    int rc = lg_journal_iter_init(&it, j, first + 1u, first + count);
    if (rc != LG_OK) {
        return rc;
    }
    for (uint64_t i = first; i < first + count; i++) {
        int r = lg_journal_iter_next(&it, &rec);
        if (r <= 0) {
            return r < 0 ? -r : LG_ERANGE;
        }
        LG_ASSERT(rec.seq == i + 1u);
        rc = leaf(leaf_arg, i, rec.body, rec.body_len);
        if (rc != LG_OK) {
            return rc;
        }
    }
    return LG_OK;
}

static int journal_source_chain(void *arg, uint64_t index, uint8_t out[LG_MERKLE_HASH_BYTES])
{
    struct lg_journal_record rec;
    int rc = lg_journal_read(arg, index + 1u, &rec);
    if (rc == LG_OK) {
        memcpy(out, rec.hash, MK_HASH);
    }
    return rc;
}

void lg_merkle_source_journal(struct lg_merkle_source *src, struct lg_journal *j)
{
    LG_PRE(src != NULL && j != NULL);
    src->read = journal_source_read;
    src->chain = journal_source_chain;
    src->arg = j;
}

/* ---- open, reconcile, rebuild, check ---- */

struct extend {
    struct lg_merkle *t;
    uint64_t next;
    uint64_t total;
    uint64_t step;
    uint64_t next_report;
    void (*progress)(void *arg, uint64_t done, uint64_t total);
    void *progress_arg;
};

static int extend_cb(void *arg, uint64_t index, const uint8_t *body, uint32_t len)
{
    struct extend *x = arg;
    struct lg_merkle *t = x->t;
    if (index != x->next || index != t->size) {
        return lg_errmsg_printf(t->errmsg, LG_ECORRUPT, "source gave leaf %llu, expected %llu",
                                (unsigned long long)index, (unsigned long long)x->next);
    }
    x->next++;
    uint8_t leaf[MK_HASH];
    hash_leaf(t, body, len, leaf);
    int rc = push_leaf(t, leaf);
    if (rc == LG_OK && x->progress != NULL && t->size >= x->next_report) {
        x->progress(x->progress_arg, t->size, x->total);
        x->next_report = t->size + x->step;
    }
    return rc;
}

/* Read leaves [t->size, to) from the source and add them. */
static int extend_to(struct lg_merkle *t, uint64_t to,
                     void (*progress)(void *arg, uint64_t done, uint64_t total), void *arg)
{
    if (to == t->size) {
        return LG_OK;
    }
    LG_PRE(to > t->size);
    struct extend x = {t, t->size, to, 0, 0, progress, arg};
    x.step = to / 100u > 0 ? to / 100u : 1u;
    x.next_report = t->size + x.step;
    int rc = t->src.read(t->src.arg, t->size, to - t->size, extend_cb, &x);
    if (rc == LG_OK && t->size != to) {
        rc = lg_errmsg_printf(t->errmsg, LG_ECORRUPT, "source ended at leaf %llu of %llu",
                              (unsigned long long)t->size, (unsigned long long)to);
    } else if (rc != LG_OK && t->errmsg[0] == '\0') {
        lg_errmsg_printf(t->errmsg, rc, "reading records from seq %llu",
                         (unsigned long long)(t->size + 1u));
    }
    return rc;
}

/* Largest s <= limit with nodes_of(s) <= n (nodes_of is non-decreasing). */
static uint64_t size_covered(uint64_t n, uint64_t limit)
{
    uint64_t lo = 0;
    uint64_t hi = limit;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo + 1u) / 2u;
        if (nodes_of(mid) <= n) {
            lo = mid;
        } else {
            hi = mid - 1u;
        }
    }
    return lo;
}

/* Start the in-memory tree at s0 leaves from the stored hashes (all below nodes_file):
 * the frontier is one stored hash per set bit of s0 (a leaf from the source for bit 0). */
static int start_at(struct lg_merkle *t, uint64_t s0)
{
    LG_PRE(nodes_of(s0) <= t->nodes_file);
    t->size = s0;
    for (unsigned k = 0; k < MK_LEVELS; k++) {
        if (((s0 >> k) & 1u) == 0) {
            continue;
        }
        uint64_t i = (s0 >> k) - 1u;
        int rc;
        if (k > 0) {
            rc = stored_at(t, pos_of(k, i), t->frontier[k]);
        } else {
            rc = leaf_from_source(t, i, t->frontier[0]);
        }
        if (rc != LG_OK) {
            return rc;
        }
    }
    return LG_OK;
}

static void merkle_free(struct lg_merkle *t)
{
    unmap(t);
    if (t->fd >= 0) {
        close(t->fd);
    }
    EVP_MD_CTX_free(t->ctx);
    EVP_MD_free(t->md);
    free(t->wbuf);
    free(t->rbuf);
    free(t->path);
    free(t);
}

static int merkle_new(struct lg_merkle **out, const char *dir, const struct lg_merkle_source *src,
                      uint64_t size, char *errmsg)
{
    *out = NULL;
    if (dir == NULL || src == NULL || src->read == NULL || size > LG_MERKLE_SIZE_MAX) {
        return lg_errmsg_printf(errmsg, LG_EINVAL, "merkle: bad arguments");
    }
    size_t dlen = strlen(dir);
    if (dlen == 0 || dlen + sizeof "/" LG_MERKLE_FILE > MK_PATH_BYTES_MAX) {
        return lg_errmsg_printf(errmsg, LG_EINVAL, "merkle: directory path length %zu", dlen);
    }
    struct lg_merkle *t = calloc(1, sizeof *t);
    if (t == NULL) {
        return lg_errmsg_printf(errmsg, LG_ENOMEM, "merkle: out of memory");
    }
    t->fd = -1;
    t->src = *src;
    t->path = malloc(dlen + sizeof "/" LG_MERKLE_FILE);
    t->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    t->ctx = EVP_MD_CTX_new();
    t->wbuf = malloc((size_t)MK_WBUF_HASHES * MK_HASH);
    t->rbuf = malloc((size_t)MK_RBUF_HASHES * MK_HASH);
    if (t->path == NULL || t->md == NULL || t->ctx == NULL || t->wbuf == NULL ||
        t->rbuf == NULL) {
        merkle_free(t);
        return lg_errmsg_printf(errmsg, LG_ENOMEM, "merkle: out of memory");
    }
    memcpy(t->path, dir, dlen);
    memcpy(t->path + dlen, "/" LG_MERKLE_FILE, sizeof "/" LG_MERKLE_FILE);
    *out = t;
    return LG_OK;
}

/* Reset to an empty file (rebuild). */
static int reset_file(struct lg_merkle *t)
{
    t->wbuf_n = 0;
    t->nodes_file = 0;
    t->check_end = 0;
    t->rbuf_n = 0;
    t->size = 0;
    t->damaged = false; /* everything is recomputed from the source */
    forget_durable(t);
    return cut_file(t, 0);
}

/* Whether the header's durable hashes belong to the source's history: why[0] == '\0' when
 * they do (or the source has no chain to tell, or fewer records than they cover: the
 * caller then trusts none of them), else why not. Returns LG_OK or the source's error
 * reading the chain hash (one record read). */
static int binding_check(struct lg_merkle *t, uint64_t size, char *why, size_t cap)
{
    why[0] = '\0';
    uint64_t l = t->anchor_leaves;
    if (l == 0 || l > size || t->src.chain == NULL) {
        return LG_OK;
    }
    uint8_t h[MK_HASH];
    int rc = t->src.chain(t->src.arg, l - 1u, h);
    if (rc != LG_OK) {
        return lg_errmsg_printf(t->errmsg, rc, "reading the chain hash of seq %llu: %s",
                                (unsigned long long)l, lg_err_message(rc));
    }
    if (memcmp(h, t->anchor, MK_HASH) != 0) {
        snprintf(why, cap, "the journal's chain hash of seq %llu is not the one the tree file "
                 "was synced with (the file belongs to another history)",
                 (unsigned long long)l);
    }
    return LG_OK;
}

/* Reconcile the opened file with the source's size leaves (merkle.h). */
static int reconcile(struct lg_merkle *t, uint64_t size, uint64_t fsize, const char *bad_why)
{
    uint64_t target = nodes_of(size);
    char why[LG_ERRMSG_SIZE];
    if (bad_why == NULL) {
        int rc = binding_check(t, size, why, sizeof why);
        if (rc != LG_OK) {
            return rc;
        }
        bad_why = why[0] != '\0' ? why : NULL;
    }
    if (bad_why != NULL) {
        if (size > 0 || fsize > 0) {
            lg_log(LG_LOG_WARN, "merkle_rebuild", "file=%s records=%llu reason=\"%s\"", t->path,
                   (unsigned long long)size, bad_why);
        }
        int rc = reset_file(t);
        if (rc != LG_OK) {
            return rc;
        }
        return extend_to(t, size, NULL, NULL);
    }
    uint64_t stored = (fsize - MK_HDR_BYTES) / MK_HASH;
    if (t->anchor_leaves > size) {
        /* The journal lost records the tree had synced (or is a shorter history): the
         * binding cannot be checked; every stored hash within the records is compared. */
        lg_log(LG_LOG_WARN, "merkle_repair",
               "file=%s durable_records=%llu records=%llu msg=\"the tree's durable hashes "
               "cover more records than the journal has; recomputing and comparing every "
               "hash\"",
               t->path, (unsigned long long)t->anchor_leaves, (unsigned long long)size);
        forget_durable(t);
    }
    if (t->durable > stored) {
        lg_log(LG_LOG_WARN, "merkle_repair",
               "file=%s durable=%llu hashes=%llu msg=\"the file holds fewer hashes than its "
               "header says are durable (cut or damaged); recomputing and comparing every "
               "hash\"",
               t->path, (unsigned long long)t->durable, (unsigned long long)stored);
        forget_durable(t);
    }
    if ((fsize - MK_HDR_BYTES) % MK_HASH != 0 || stored > target) {
        if (stored > target) {
            lg_log(LG_LOG_WARN, "merkle_truncate",
                   "file=%s hashes=%llu keep=%llu records=%llu msg=\"the tree is longer than "
                   "the journal (recovery cut its tail)\"",
                   t->path, (unsigned long long)stored, (unsigned long long)target,
                   (unsigned long long)size);
            stored = target;
        }
        int rc = cut_file(t, stored);
        if (rc != LG_OK) {
            return rc;
        }
    }
    /* Trust the durable hashes; recompute and compare the rest, then extend. */
    uint64_t s0 = size_covered(t->durable, size);
    t->nodes_file = nodes_of(s0);
    t->check_end = stored;
    int rc = start_at(t, s0);
    if (rc != LG_OK) {
        return rc;
    }
    uint64_t covered = size_covered(stored, size);
    rc = extend_to(t, size, NULL, NULL);
    if (rc != LG_OK) {
        return rc;
    }
    LG_ASSERT(t->check_end <= t->nodes_file);
    t->check_end = 0;
    if (covered < size || t->repaired > 0) {
        lg_log(LG_LOG_INFO, "merkle_extend",
               "file=%s records=%llu from=%llu recomputed=%llu repaired=%llu", t->path,
               (unsigned long long)size, (unsigned long long)covered,
               (unsigned long long)(size - s0), (unsigned long long)t->repaired);
    }
    return LG_OK;
}

int lg_merkle_open(struct lg_merkle **out, const char *dir, const struct lg_merkle_source *src,
                   uint64_t size, char *errmsg)
{
    LG_PRE(out != NULL);
    char scratch[LG_ERRMSG_SIZE];
    if (errmsg == NULL) {
        errmsg = scratch;
    }
    errmsg[0] = '\0';
    struct lg_merkle *t = NULL;
    int rc = merkle_new(&t, dir, src, size, errmsg);
    if (rc != LG_OK) {
        return rc;
    }
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        merkle_free(t);
        return lg_errmsg_printf(errmsg, LG_ENOTFOUND, "merkle: %s is not a directory", dir);
    }
    t->fd = open(t->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (t->fd < 0 || fstat(t->fd, &sb) != 0) {
        rc = lg_errmsg_printf(errmsg, LG_EIO, "merkle: open %s: %s", t->path, strerror(errno));
        merkle_free(t);
        return rc;
    }
    uint64_t fsize = (uint64_t)sb.st_size;
    const char *bad_why = NULL;
    if (fsize == 0) {
        bad_why = "missing";
    } else if (fsize < MK_HDR_BYTES) {
        bad_why = "file shorter than its header";
    } else {
        uint8_t h[MK_HDR_BYTES];
        rc = pread_all(t, h, sizeof h, 0);
        bad_why = rc != LG_OK ? "header unreadable"
                              : header_decode(h, &t->durable, &t->anchor_leaves, t->anchor);
    }
    rc = reconcile(t, size, fsize, bad_why);
    if (rc != LG_OK) {
        lg_errmsg_printf(errmsg, rc, "merkle: %s", t->errmsg);
        merkle_free(t);
        return rc;
    }
    LG_POST(t->size == size);
    LG_POST(t->nodes_file + t->wbuf_n == nodes_of(size));
    *out = t;
    return LG_OK;
}

int lg_merkle_rebuild(struct lg_merkle *t)
{
    LG_PRE(t != NULL && !t->read_only);
    if (t->fail_code != LG_OK) {
        return t->fail_code;
    }
    uint64_t size = t->size;
    lg_log(LG_LOG_WARN, "merkle_rebuild", "file=%s records=%llu reason=\"requested\"", t->path,
           (unsigned long long)size);
    int rc = reset_file(t);
    if (rc == LG_OK) {
        rc = extend_to(t, size, NULL, NULL);
    }
    return rc;
}

int lg_merkle_close(struct lg_merkle *t)
{
    if (t == NULL) {
        return LG_OK;
    }
    int rc = t->read_only ? LG_OK : flush(t);
    merkle_free(t);
    return rc;
}

int lg_merkle_check(const char *dir, const struct lg_merkle_source *src, uint64_t size,
                    void (*progress)(void *arg, uint64_t done, uint64_t total),
                    void *progress_arg, struct lg_merkle_check_report *report, char *errmsg)
{
    LG_PRE(report != NULL);
    char scratch[LG_ERRMSG_SIZE];
    if (errmsg == NULL) {
        errmsg = scratch;
    }
    errmsg[0] = '\0';
    memset(report, 0, sizeof *report);
    report->size = size;
    struct lg_merkle *t = NULL;
    int rc = merkle_new(&t, dir, src, size, errmsg);
    if (rc != LG_OK) {
        return rc;
    }
    t->read_only = true;
    t->report = report;
    struct stat sb;
    t->fd = open(t->path, O_RDONLY | O_CLOEXEC);
    if (t->fd < 0 || fstat(t->fd, &sb) != 0) {
        rc = errno == ENOENT ? LG_ENOTFOUND : LG_EIO;
        lg_errmsg_printf(errmsg, rc, "open %s: %s", t->path, strerror(errno));
        merkle_free(t);
        return rc;
    }
    uint64_t fsize = (uint64_t)sb.st_size;
    uint8_t h[MK_HDR_BYTES];
    const char *why = "file shorter than its header";
    if (fsize >= MK_HDR_BYTES) {
        rc = pread_all(t, h, sizeof h, 0);
        why = rc != LG_OK ? "header unreadable"
                          : header_decode(h, &t->durable, &t->anchor_leaves, t->anchor);
    }
    if (why != NULL) {
        rc = lg_errmsg_printf(errmsg, LG_ECORRUPT, "%s: %s", t->path, why);
        report->bad_offset = 0;
        merkle_free(t);
        return rc;
    }
    report->durable = t->durable;
    uint64_t stored = (fsize - MK_HDR_BYTES) / MK_HASH;
    report->hashes_stored = stored;
    report->partial_bytes = (fsize - MK_HDR_BYTES) % MK_HASH;
    /* Damage open would repair but that a synced file must not show: a history the header
     * is not bound to, durable hashes missing. */
    char bwhy[LG_ERRMSG_SIZE];
    uint64_t where = 24;
    rc = binding_check(t, size, bwhy, sizeof bwhy);
    if (rc == LG_OK && bwhy[0] == '\0' && t->durable > stored) {
        where = 8;
        snprintf(bwhy, sizeof bwhy, "the header says %llu hashes are durable but the file "
                 "holds %llu (cut or damaged)", (unsigned long long)t->durable,
                 (unsigned long long)stored);
    }
    if (rc != LG_OK || bwhy[0] != '\0') {
        if (rc == LG_OK) {
            rc = lg_errmsg_printf(errmsg, LG_ECORRUPT, "%s: %s", t->path, bwhy);
            report->bad_offset = where;
            report->bad_seq = t->anchor_leaves;
        } else {
            lg_errmsg_printf(errmsg, rc, "%s", t->errmsg);
        }
        merkle_free(t);
        return rc;
    }
    /* A file longer than the records' tree (hashes of a torn journal tail a node would
     * cut, beyond the durable part) is compared as far as the records go. */
    report->extra_hashes = stored > nodes_of(size) ? stored - nodes_of(size) : 0;
    t->check_end = stored < nodes_of(size) ? stored : nodes_of(size);
    report->covered = size_covered(stored, size);
    rc = extend_to(t, size, progress, progress_arg);
    if (rc == LG_OK) {
        rc = lg_merkle_root(t, size, report->root);
    }
    if (rc != LG_OK) {
        lg_errmsg_printf(errmsg, rc, "%s", t->errmsg);
    }
    merkle_free(t);
    return rc;
}
