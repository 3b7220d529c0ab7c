/* test_journal: the segmented, hash-chained journal (lib/journal).
 *
 * Goal: every promise of journal.h holds: appends read back exactly (body and hash) across
 * segment rolls, reopen continues the chain, a torn tail at any byte is cut back to the
 * last whole record, any flipped bit or forged record in a sealed segment is reported as
 * LG_ECORRUPT with its seq and file offset, indexes that are missing, short or wrong are
 * rebuilt, bad input gets precise errors, and write failures are sticky.
 *
 * Method: small segments (4-16 KiB) so a few hundred records roll many times; bodies and
 * hashes are recomputed independently (lgt_journal_body, lg_journal_chain_hash) and
 * compared; files are damaged in place with the lgt_ helpers, byte by byte where the
 * search space is small. Early writeback and page-cache recycling are observed by
 * interposing sync_file_range(2), fdatasync(2) and posix_fadvise(2) (as posix_fadvise64, the
 * symbol the journal's object references with 64-bit off_t: check with nm): this
 * executable's definitions win over libc's for the journal linked into it; they record each
 * call and forward it to the kernel (or fail it on request). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "crc32c.h"
#include "journal.h"
#include "lgt.h"
#include "limits.h"

#define BODY_CAP 300u
#define SEQ_MAX 2000u
#define PATH_BYTES (LGT_PATH_MAX + 64)

/* The expected chain, computed outside the journal. */
struct model {
    uint64_t n;
    uint8_t hash[SEQ_MAX + 1][LG_HASH_BYTES];
    uint32_t salt;
};

static char dir[LGT_PATH_MAX];
static struct model model;

/* Mirror LG_JOURNAL_WRITEBACK_BYTES, WBUF_BYTES, LG_JOURNAL_CACHE_BYTES and
 * DROP_ALIGN_BYTES of lib/journal.c. */
#define WRITEBACK_BYTES (4u * 1024u * 1024u)
#define WBUF_BYTES (1024u * 1024u)
#define CACHE_BYTES (8u * 1024u * 1024u)
#define DROP_ALIGN_BYTES (64u * 1024u)
#define SFR_CALLS_MAX 256u

/* Calls seen by the interposed sync_file_range and fdatasync (per test: one process each). */
static struct {
    size_t calls;
    off64_t off[SFR_CALLS_MAX];
    off64_t len[SFR_CALLS_MAX];
    unsigned int flags[SFR_CALLS_MAX];
    int fail_errno; /* nonzero: fail every call with this errno, forwarding nothing */
    size_t fdatasyncs;
} sfr;

int sync_file_range(int fd, off64_t off, off64_t len, unsigned int flags)
{
    if (sfr.calls < SFR_CALLS_MAX) {
        sfr.off[sfr.calls] = off;
        sfr.len[sfr.calls] = len;
        sfr.flags[sfr.calls] = flags;
    }
    sfr.calls++;
    if (sfr.fail_errno != 0) {
        errno = sfr.fail_errno;
        return -1;
    }
    return (int)syscall(SYS_sync_file_range, fd, off, len, flags);
}

int fdatasync(int fd)
{
    sfr.fdatasyncs++;
    return (int)syscall(SYS_fdatasync, fd);
}

/* Calls seen by the interposed posix_fadvise64. */
static struct {
    size_t calls;
    off64_t off[SFR_CALLS_MAX];
    off64_t len[SFR_CALLS_MAX];
    int advice[SFR_CALLS_MAX];
    size_t kicks_before[SFR_CALLS_MAX]; /* sfr.calls when it came */
    size_t syncs_before[SFR_CALLS_MAX]; /* sfr.fdatasyncs when it came */
    int fail; /* nonzero: return this error number, forwarding nothing */
} fadv;

int posix_fadvise64(int fd, off64_t off, off64_t len, int advice)
{
    if (fadv.calls < SFR_CALLS_MAX) {
        fadv.off[fadv.calls] = off;
        fadv.len[fadv.calls] = len;
        fadv.advice[fadv.calls] = advice;
        fadv.kicks_before[fadv.calls] = sfr.calls;
        fadv.syncs_before[fadv.calls] = sfr.fdatasyncs;
    }
    fadv.calls++;
    if (fadv.fail != 0) {
        return fadv.fail;
    }
    /* The kernel's fadvise64 returns -1 and sets errno; posix_fadvise returns the error. */
    return syscall(SYS_fadvise64, fd, off, len, advice) == 0 ? 0 : errno;
}

static void setup(void)
{
    lgt_tmpdir(dir);
    memset(&model, 0, sizeof model);
}

static void teardown(void)
{
    lgt_rmtree(dir);
}

static struct lg_journal *jopen(uint64_t seg_bytes, uint32_t every)
{
    struct lg_journal_options o = {.segment_bytes_max = seg_bytes, .index_every = every,
                                   .create = true};
    char err[LG_ERRMSG_SIZE];
    struct lg_journal *j = NULL;
    int rc = lg_journal_open(&j, dir, &o, err, NULL);
    cr_assert_eq(rc, LG_OK, "open: %s: %s", lg_err_name(rc), err);
    return j;
}

static int jopen_rc(uint64_t seg_bytes, struct lg_journal **j, char err[LG_ERRMSG_SIZE],
                    struct lg_journal_corruption *c)
{
    struct lg_journal_options o = {.segment_bytes_max = seg_bytes, .index_every = 4};
    return lg_journal_open(j, dir, &o, err, c);
}

/* Append records model.n+1..to, checking seq and hash against the model. */
static void fill(struct lg_journal *j, uint64_t to)
{
    uint8_t body[BODY_CAP];
    for (uint64_t seq = model.n + 1; seq <= to; seq++) {
        uint32_t len = lgt_journal_body(seq, model.salt, body, BODY_CAP);
        lg_journal_chain_hash(model.hash[seq - 1], body, len, model.hash[seq]);
        uint64_t got = 0;
        uint8_t hash[LG_HASH_BYTES];
        int rc = lg_journal_append(j, body, len, &got, hash);
        cr_assert_eq(rc, LG_OK, "append %llu: %s", (unsigned long long)seq,
                     lg_journal_errmsg(j));
        cr_assert_eq(got, seq);
        cr_assert_arr_eq(hash, model.hash[seq], LG_HASH_BYTES);
    }
    model.n = to;
}

static void check_record(const struct lg_journal_record *rec, uint64_t seq)
{
    uint8_t body[BODY_CAP];
    uint32_t len = lgt_journal_body(seq, model.salt, body, BODY_CAP);
    cr_assert_eq(rec->seq, seq);
    cr_assert_eq(rec->body_len, len, "seq %llu", (unsigned long long)seq);
    cr_assert_arr_eq(rec->body, body, len);
    cr_assert_arr_eq(rec->hash, model.hash[seq], LG_HASH_BYTES);
    cr_assert_arr_eq(rec->prev_hash, model.hash[seq - 1], LG_HASH_BYTES);
}

static void check_all(struct lg_journal *j)
{
    cr_assert_eq(lg_journal_last_seq(j), model.n);
    uint8_t last[LG_HASH_BYTES];
    lg_journal_last_hash(j, last);
    cr_assert_arr_eq(last, model.hash[model.n], LG_HASH_BYTES);
    for (uint64_t seq = 1; seq <= model.n; seq++) {
        struct lg_journal_record rec;
        int rc = lg_journal_read(j, seq, &rec);
        cr_assert_eq(rc, LG_OK, "read %llu: %s", (unsigned long long)seq, lg_journal_errmsg(j));
        check_record(&rec, seq);
    }
    cr_assert_eq(lg_journal_verify(j, 1, NULL, NULL), LG_OK, "%s", lg_journal_errmsg(j));
}

static void check_iter(struct lg_journal *j, uint64_t from, uint64_t to)
{
    struct lg_journal_iter it;
    int rc = lg_journal_iter_init(&it, j, from, to);
    cr_assert_eq(rc, LG_OK, "iter %llu..%llu: %s", (unsigned long long)from,
                 (unsigned long long)to, lg_journal_errmsg(j));
    uint64_t end = to == 0 ? model.n : to;
    struct lg_journal_record rec;
    for (uint64_t seq = from; seq <= end; seq++) {
        cr_assert_eq(lg_journal_iter_next(&it, &rec), 1, "iter at %llu: %s",
                     (unsigned long long)seq, lg_journal_errmsg(j));
        check_record(&rec, seq);
    }
    cr_assert_eq(lg_journal_iter_next(&it, &rec), 0);
}

/* Sorted segment file names of dir (".log"), count returned. */
static size_t segments(char names[][64], size_t cap)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".log") == 0 && n < cap) {
            snprintf(names[n++], 64, "%s", e->d_name);
        }
    }
    closedir(d);
    qsort(names, n, 64, (int (*)(const void *, const void *))strcmp);
    return n;
}

static void path_of(char out[PATH_BYTES], const char *name)
{
    snprintf(out, PATH_BYTES, "%s/%s", dir, name);
}

/* Record layout of one segment file: offsets of its records (parsed from body lengths). */
struct layout {
    uint64_t first_seq;
    size_t n;
    uint64_t off[512];
    uint64_t end; /* end of the record area */
};

static void layout_of(const char *path, struct layout *l, bool sealed)
{
    size_t len = 0;
    uint8_t *d = lgt_read_file(path, &len);
    cr_assert_not_null(d);
    l->first_seq = 0;
    for (int i = 7; i >= 0; i--) {
        l->first_seq = (l->first_seq << 8) | d[8 + i];
    }
    uint64_t off = 64;
    uint64_t limit = sealed ? len - 64 : len;
    l->n = 0;
    while (off + 64 <= limit) {
        uint32_t bl = (uint32_t)d[off + 8] | ((uint32_t)d[off + 9] << 8) |
                      ((uint32_t)d[off + 10] << 16) | ((uint32_t)d[off + 11] << 24);
        cr_assert_lt(l->n, 512);
        l->off[l->n++] = off;
        off += 64 + ((bl + 7u) & ~7u);
    }
    l->end = off;
    free(d);
}

Test(journal, append_read_iterate_across_rolls, .init = setup, .fini = teardown)
{
    struct lg_journal *j = jopen(4096, 4);
    cr_assert_eq(lg_journal_last_seq(j), 0);
    uint8_t h[LG_HASH_BYTES];
    lg_journal_last_hash(j, h);
    cr_assert_arr_eq(h, model.hash[0], LG_HASH_BYTES);
    fill(j, 600);
    check_all(j);
    char names[256][64];
    size_t n = segments(names, 256);
    cr_assert_gt(n, 10, "only %zu segments", n);
    cr_assert_str_eq(names[0], "seg-00000000000000000001.log");
    /* Every sealed segment is read-only and within the roll size. */
    for (size_t i = 0; i + 1 < n; i++) {
        char p[PATH_BYTES];
        path_of(p, names[i]);
        struct stat st;
        cr_assert_eq(stat(p, &st), 0);
        cr_assert_eq(st.st_mode & 0777, 0444, "%s", names[i]);
        cr_assert_leq(st.st_size, 4096);
    }
    check_iter(j, 1, 0);
    struct lgt_rng r;
    lgt_rng_init(&r, lgt_seed());
    for (int k = 0; k < 50; k++) {
        uint64_t a = 1 + lgt_rng_below(&r, model.n);
        uint64_t b = a + lgt_rng_below(&r, model.n - a + 1);
        check_iter(j, a, b);
    }
    check_iter(j, model.n, model.n);
    check_iter(j, 5, 4); /* empty range */
    check_iter(j, model.n + 1, 0);
    cr_assert_eq(lg_journal_close(j), LG_OK);
}

Test(journal, reads_interleaved_with_appends_see_buffered_records, .init = setup,
     .fini = teardown)
{
    struct lg_journal *j = jopen(16384, 8);
    for (uint64_t n = 1; n <= 300; n++) {
        fill(j, n);
        struct lg_journal_record rec;
        cr_assert_eq(lg_journal_read(j, n, &rec), LG_OK, "%s", lg_journal_errmsg(j));
        check_record(&rec, n);
        uint64_t back = 1 + (n * 7919u) % n;
        cr_assert_eq(lg_journal_read(j, back, &rec), LG_OK);
        check_record(&rec, back);
    }
    lg_journal_close(j);
}

Test(journal, reopen_continues_the_chain, .init = setup, .fini = teardown)
{
    struct lg_journal *j = jopen(8192, 4);
    fill(j, 100);
    cr_assert_eq(lg_journal_sync(j), LG_OK);
    cr_assert_eq(lg_journal_close(j), LG_OK);
    for (int round = 0; round < 3; round++) {
        j = jopen(8192, 4);
        cr_assert_eq(lg_journal_recovered_bytes(j), 0);
        check_all(j);
        fill(j, model.n + 77);
        check_all(j);
        cr_assert_eq(lg_journal_close(j), LG_OK); /* close without sync: flushed */
    }
    /* A different roll size and index density on reopen is fine. */
    j = jopen(16384, 1);
    check_all(j);
    fill(j, model.n + 50);
    check_all(j);
    lg_journal_close(j);
}

Test(journal, large_records_bypass_the_write_buffer, .init = setup, .fini = teardown)
{
    struct lg_journal *j = jopen(0, 0);
    size_t big = 3u * 1024u * 1024u + 5u;
    uint8_t *body = malloc(big);
    cr_assert_not_null(body);
    for (size_t i = 0; i < big; i++) {
        body[i] = (uint8_t)(i * 31u);
    }
    uint8_t small[10] = {1, 2, 3};
    cr_assert_eq(lg_journal_append(j, small, sizeof small, NULL, NULL), LG_OK);
    cr_assert_eq(lg_journal_append(j, body, (uint32_t)big, NULL, NULL), LG_OK);
    cr_assert_eq(lg_journal_append(j, small, sizeof small, NULL, NULL), LG_OK);
    struct lg_journal_record rec;
    cr_assert_eq(lg_journal_read(j, 2, &rec), LG_OK, "%s", lg_journal_errmsg(j));
    cr_assert_eq(rec.body_len, big);
    cr_assert_arr_eq(rec.body, body, big);
    cr_assert_eq(lg_journal_read(j, 3, &rec), LG_OK);
    cr_assert_arr_eq(rec.body, small, sizeof small);
    lg_journal_close(j);
    j = jopen(0, 0);
    cr_assert_eq(lg_journal_verify(j, 1, NULL, NULL), LG_OK);
    cr_assert_eq(lg_journal_read(j, 2, &rec), LG_OK);
    cr_assert_arr_eq(rec.body, body, big);
    lg_journal_close(j);
    free(body);
}

Test(journal, truncates_torn_tail, .init = setup, .fini = teardown)
{
    struct lg_journal *j = jopen(16384, 4);
    fill(j, 30);
    cr_assert_eq(lg_journal_close(j), LG_OK);
    char names[16][64];
    size_t n = segments(names, 16);
    char p[PATH_BYTES];
    path_of(p, names[n - 1]);
    struct layout l;
    layout_of(p, &l, false);
    cr_assert_geq(l.n, 2);
    size_t orig_len = 0;
    uint8_t *orig = lgt_read_file(p, &orig_len);
    uint64_t rec_start = l.off[l.n - 1];
    cr_assert_eq(l.end, orig_len);
    /* Cut the file at every byte of the last record. */
    for (uint64_t cut = rec_start; cut < orig_len; cut++) {
        lgt_truncate(p, cut);
        struct model saved = model;
        model.n = 29;
        j = jopen(16384, 4);
        cr_assert_eq(lg_journal_last_seq(j), 29, "cut %llu", (unsigned long long)cut);
        cr_assert_eq(lg_journal_recovered_bytes(j), cut - rec_start);
        cr_assert_eq(lgt_file_size(p), rec_start);
        /* Appending afterwards continues a valid chain (the same record 30 again). */
        fill(j, 31);
        check_all(j);
        lg_journal_close(j);
        model = saved;
        lgt_write_at(p, 0, orig, orig_len);
        lgt_truncate(p, orig_len);
    }
    free(orig);
}

Test(journal, truncates_garbage_after_the_last_record, .init = setup, .fini = teardown)
{
    struct lg_journal *j = jopen(16384, 4);
    fill(j, 10);
    lg_journal_close(j);
    char names[4][64];
    size_t n = segments(names, 4);
    char p[PATH_BYTES];
    path_of(p, names[n - 1]);
    uint64_t size = lgt_file_size(p);
    uint8_t junk[100];
    memset(junk, 0xA5, sizeof junk);
    lgt_write_at(p, size, junk, sizeof junk);
    j = jopen(16384, 4);
    cr_assert_eq(lg_journal_recovered_bytes(j), sizeof junk);
    check_all(j);
    lg_journal_close(j);
    /* Zeros (a preallocated or half-persisted tail) too. */
    memset(junk, 0, sizeof junk);
    lgt_write_at(p, size, junk, sizeof junk);
    j = jopen(16384, 4);
    cr_assert_eq(lg_journal_recovered_bytes(j), sizeof junk);
    check_all(j);
    lg_journal_close(j);
}

Test(journal, damage_inside_the_open_segment_is_corruption_not_a_torn_tail, .init = setup,
     .fini = teardown)
{
    struct lg_journal *j = jopen(1024 * 1024, 4);
    fill(j, 50);
    lg_journal_close(j);
    char names[4][64];
    segments(names, 4);
    char p[PATH_BYTES];
    path_of(p, names[0]);
    struct layout l;
    layout_of(p, &l, false);
    uint64_t size = lgt_file_size(p);
    /* A flipped bit in records 1..49 (header or body): good records follow, so open must
     * refuse with LG_ECORRUPT and leave the file alone. */
    for (size_t k = 0; k + 1 < l.n; k += 3) {
        uint64_t off = l.off[k] + (k * 37u) % (l.off[k + 1] - l.off[k]);
        lgt_flip_bit(p, off, (unsigned)(k % 8u));
        char err[LG_ERRMSG_SIZE];
        struct lg_journal_corruption c;
        cr_assert_eq(jopen_rc(1024 * 1024, &j, err, &c), LG_ECORRUPT, "record %zu", k);
        cr_assert_eq(c.seq, k + 1, "%s", err);
        cr_assert_eq(c.offset, l.off[k]);
        cr_assert_eq(lgt_file_size(p), size);
        lgt_flip_bit(p, off, (unsigned)(k % 8u));
    }
    j = jopen(1024 * 1024, 4);
    cr_assert_eq(lg_journal_recovered_bytes(j), 0);
    check_all(j);
    lg_journal_close(j);
}

Test(journal, read_only_open_changes_nothing, .init = setup, .fini = teardown)
{
    struct lg_journal *j = jopen(4096, 4);
    fill(j, 100);
    lg_journal_close(j);
    char names[64][64];
    size_t n = segments(names, 64);
    char p[PATH_BYTES];
    path_of(p, names[n - 1]);
    uint64_t size = lgt_file_size(p);
    uint8_t junk[40];
    memset(junk, 0x33, sizeof junk);
    lgt_write_at(p, size, junk, sizeof junk); /* a torn tail */
    char idx[PATH_BYTES];
    snprintf(idx, sizeof idx, "%s/%.24s.idx", dir, names[0]);
    chmod(idx, 0600);
    unlink(idx); /* a missing index */
    struct lg_journal_options o = {.segment_bytes_max = 4096, .read_only = true};
    char err[LG_ERRMSG_SIZE];
    cr_assert_eq(lg_journal_open(&j, dir, &o, err, NULL), LG_OK, "%s", err);
    cr_assert_eq(lg_journal_recovered_bytes(j), sizeof junk);
    check_all(j);
    uint8_t b = 1;
    cr_assert_eq(lg_journal_append(j, &b, 1, NULL, NULL), LG_EINVAL);
    cr_assert_eq(lg_journal_sync(j), LG_EINVAL);
    lg_journal_close(j);
    cr_assert_eq(lgt_file_size(p), size + sizeof junk);
    cr_assert_eq(access(idx, F_OK), -1);
    /* A writable open then repairs both. */
    j = jopen(4096, 4);
    cr_assert_eq(lg_journal_recovered_bytes(j), sizeof junk);
    check_all(j);
    lg_journal_close(j);
    cr_assert_eq(lgt_file_size(p), size);
    cr_assert_eq(access(idx, F_OK), 0);
}

/* Flip every bit position class (one bit per byte, rotating) of the first sealed segment;
 * each time the damage must surface as LG_ECORRUPT naming the right place. */
Test(journal, detects_flipped_bit_anywhere_in_sealed_segment, .init = setup, .fini = teardown)
{
    struct lg_journal *j = jopen(4096, 4);
    fill(j, 120);
    lg_journal_close(j);
    char names[64][64];
    size_t n = segments(names, 64);
    cr_assert_geq(n, 3);
    char p[PATH_BYTES];
    path_of(p, names[1]);
    struct layout l;
    layout_of(p, &l, true);
    uint64_t size = lgt_file_size(p);
    for (uint64_t off = 0; off < size; off++) {
        unsigned bit = (unsigned)(off % 8u);
        lgt_flip_bit(p, off, bit);
        struct lg_journal *jj = NULL;
        char err[LG_ERRMSG_SIZE];
        struct lg_journal_corruption c;
        memset(&c, 0, sizeof c);
        int rc = jopen_rc(4096, &jj, err, &c);
        if (off < 64 || off >= size - 64) {
            /* Header or trailer: open checks them. */
            cr_assert_eq(rc, LG_ECORRUPT, "off %llu: %s %s", (unsigned long long)off,
                         lg_err_name(rc), err);
            cr_assert_str_eq(c.file, names[1]);
        } else {
            cr_assert_eq(rc, LG_OK, "off %llu: %s", (unsigned long long)off, err);
            rc = lg_journal_verify(jj, 1, NULL, NULL);
            cr_assert_eq(rc, LG_ECORRUPT, "off %llu not detected", (unsigned long long)off);
            const struct lg_journal_corruption *cc = lg_journal_corruption(jj);
            cr_assert_str_eq(cc->file, names[1]);
            size_t k = 0;
            while (k + 1 < l.n && l.off[k + 1] <= off) {
                k++;
            }
            cr_assert_eq(cc->seq, l.first_seq + k, "off %llu: seq %llu", (unsigned long long)off,
                         (unsigned long long)cc->seq);
            cr_assert_eq(cc->offset, l.off[k]);
            /* Reading that record fails the same way. */
            struct lg_journal_record rec;
            cr_assert_eq(lg_journal_read(jj, l.first_seq + k, &rec), LG_ECORRUPT,
                         "read off %llu", (unsigned long long)off);
            lg_journal_close(jj);
        }
        lgt_flip_bit(p, off, bit);
    }
    j = jopen(4096, 4);
    check_all(j);
    lg_journal_close(j);
}

Test(journal, detects_broken_chain_with_valid_crcs, .init = setup, .fini = teardown)
{
    struct lg_journal *j = jopen(4096, 4);
    fill(j, 120);
    lg_journal_close(j);
    char names[64][64];
    segments(names, 64);
    char p[PATH_BYTES];
    path_of(p, names[1]);
    struct layout l;
    layout_of(p, &l, true);
    size_t len = 0;
    uint8_t *orig = lgt_read_file(p, &len);
    /* 1. Change one body byte of the third record and fix both CRCs: only the chain sees. */
    uint64_t at = l.off[2];
    uint8_t b = orig[at + 64] ^ 0x01;
    lgt_write_at(p, at + 64, &b, 1);
    lgt_journal_fix_record_crcs(p, at);
    j = jopen(4096, 4);
    cr_assert_eq(lg_journal_verify(j, 1, NULL, NULL), LG_ECORRUPT);
    const struct lg_journal_corruption *c = lg_journal_corruption(j);
    cr_assert_eq(c->seq, l.first_seq + 2);
    cr_assert_eq(c->offset, at);
    cr_assert_str_eq(c->file, names[1]);
    cr_assert(strstr(lg_journal_errmsg(j), "chain") != NULL, "%s", lg_journal_errmsg(j));
    struct lg_journal_record rec;
    cr_assert_eq(lg_journal_read(j, l.first_seq + 2, &rec), LG_ECORRUPT);
    struct lg_journal_iter it;
    cr_assert_eq(lg_journal_iter_init(&it, j, 1, 0), LG_OK);
    int got;
    uint64_t seen = 0;
    while ((got = lg_journal_iter_next(&it, &rec)) == 1) {
        seen++;
    }
    cr_assert_eq(got, -LG_ECORRUPT);
    cr_assert_eq(seen, l.first_seq + 1);
    lg_journal_close(j);
    /* 2. Also forge that record's hash (a consistent rewrite of one record): the next
     * record's link catches it. */
    uint8_t prev[LG_HASH_BYTES];
    memcpy(prev, orig + l.off[1] + 24, LG_HASH_BYTES);
    uint8_t forged[LG_HASH_BYTES];
    uint32_t bl = (uint32_t)orig[at + 8] | ((uint32_t)orig[at + 9] << 8);
    uint8_t *body = malloc(bl);
    memcpy(body, orig + at + 64, bl);
    body[0] ^= 0x01;
    lg_journal_chain_hash(prev, body, bl, forged);
    lgt_write_at(p, at + 24, forged, LG_HASH_BYTES);
    lgt_journal_fix_record_crcs(p, at);
    j = jopen(4096, 4);
    cr_assert_eq(lg_journal_verify(j, 1, NULL, NULL), LG_ECORRUPT);
    cr_assert_eq(lg_journal_corruption(j)->seq, l.first_seq + 3);
    lg_journal_close(j);
    free(body);
    /* 3. Forge the whole rest of the segment including the trailer's last hash: the next
     * segment's prev_hash no longer links, so open refuses. */
    lgt_write_at(p, 0, orig, len);
    uint8_t h2[LG_HASH_BYTES];
    memset(h2, 0x5A, sizeof h2);
    uint64_t tr = len - 64;
    lgt_write_at(p, tr + 16, h2, sizeof h2);
    j = NULL;
    char err[LG_ERRMSG_SIZE];
    cr_assert_eq(jopen_rc(4096, &j, err, NULL), LG_ECORRUPT); /* trailer CRC */
    free(orig);
}

Test(journal, detects_segment_chain_link_mismatch, .init = setup, .fini = teardown)
{
    struct lg_journal *j = jopen(4096, 4);
    fill(j, 60);
    lg_journal_close(j);
    char names[64][64];
    segments(names, 64);
    char p[PATH_BYTES];
    path_of(p, names[2]);
    /* Rewrite the header's prev_hash with a valid CRC: only the link check sees it. */
    size_t len = 0;
    uint8_t *d = lgt_read_file(p, &len);
    d[16] ^= 0xFF;
    uint32_t crc = lg_crc32c(0, d, 56);
    for (int i = 0; i < 4; i++) {
        d[56 + i] = (uint8_t)(crc >> (8 * i));
    }
    lgt_write_at(p, 0, d, 64);
    free(d);
    char err[LG_ERRMSG_SIZE];
    struct lg_journal_corruption c;
    cr_assert_eq(jopen_rc(4096, &j, err, &c), LG_ECORRUPT);
    cr_assert_null(j);
    cr_assert_str_eq(c.file, names[2]);
    cr_assert(strstr(err, "chain") != NULL, "%s", err);
}

Test(journal, deleted_index_is_rebuilt, .init = setup, .fini = teardown)
{
    struct lg_journal *j = jopen(4096, 4);
    fill(j, 200);
    lg_journal_close(j);
    char names[64][64];
    size_t n = segments(names, 64);
    char idx[PATH_BYTES];
    snprintf(idx, sizeof idx, "%s/%.24s.idx", dir, names[1]);
    size_t len0 = 0;
    uint8_t *good = lgt_read_file(idx, &len0);
    cr_assert_not_null(good, "%s", idx);
    chmod(idx, 0600);
    cr_assert_eq(unlink(idx), 0);
    j = jopen(4096, 4);
    check_all(j); /* reads go through the rebuilt index */
    lg_journal_close(j);
    size_t len1 = 0;
    uint8_t *again = lgt_read_file(idx, &len1);
    cr_assert_not_null(again, "index not rewritten");
    cr_assert_eq(len1, len0);
    cr_assert_arr_eq(again, good, len0);
    free(again);
    free(good);
    (void)n;
}

Test(journal, truncated_index_is_rebuilt, .init = setup, .fini = teardown)
{
    struct lg_journal *j = jopen(4096, 4);
    fill(j, 200);
    lg_journal_close(j);
    char names[64][64];
    segments(names, 64);
    char idx[PATH_BYTES];
    snprintf(idx, sizeof idx, "%s/%.24s.idx", dir, names[2]);
    uint64_t size = lgt_file_size(idx);
    for (uint64_t cut = 0; cut < size; cut += 7) {
        lgt_truncate(idx, cut);
        j = jopen(4096, 4);
        check_all(j);
        lg_journal_close(j);
        cr_assert_eq(lgt_file_size(idx), size, "cut %llu", (unsigned long long)cut);
    }
}

Test(journal, corrupted_index_entry_is_detected_and_rebuilt, .init = setup, .fini = teardown)
{
    struct lg_journal *j = jopen(4096, 2);
    fill(j, 200);
    lg_journal_close(j);
    char names[64][64];
    segments(names, 64);
    char idx[PATH_BYTES];
    snprintf(idx, sizeof idx, "%s/%.24s.idx", dir, names[1]);
    size_t len = 0;
    uint8_t *good = lgt_read_file(idx, &len);
    /* Any flipped bit: the CRCs catch it; the index is rebuilt, reads stay right. */
    for (uint64_t off = 0; off < len; off++) {
        lgt_flip_bit(idx, off, (unsigned)(off % 8u));
        j = jopen(4096, 2);
        check_all(j);
        lg_journal_close(j);
        size_t l2 = 0;
        uint8_t *now = lgt_read_file(idx, &l2);
        cr_assert_eq(l2, len);
        cr_assert_arr_eq(now, good, len, "off %llu", (unsigned long long)off);
        free(now);
    }
    /* An entry pointing at the wrong record with a valid CRC: the seq check catches it. */
    uint8_t e[24];
    memcpy(e, good + 32 + 24 * 2, 24);
    e[8] = (uint8_t)(e[8] + 8u); /* offset + 8: mid-record */
    uint32_t crc = lg_crc32c(0, e, 16);
    for (int i = 0; i < 4; i++) {
        e[16 + i] = (uint8_t)(crc >> (8 * i));
    }
    lgt_write_at(idx, 32 + 24 * 2, e, sizeof e);
    j = jopen(4096, 2);
    check_all(j);
    lg_journal_close(j);
    size_t l3 = 0;
    uint8_t *now = lgt_read_file(idx, &l3);
    cr_assert_arr_eq(now, good, len);
    free(now);
    free(good);
}

Test(journal, rejects_bad_input, .init = setup, .fini = teardown)
{
    struct lg_journal *j = jopen(4096, 4);
    uint8_t b[4] = {1, 2, 3, 4};
    cr_assert_eq(lg_journal_append(j, b, 0, NULL, NULL), LG_EINVAL);
    cr_assert_eq(lg_journal_append(j, NULL, 4, NULL, NULL), LG_EINVAL);
    uint8_t *big = calloc(1, LG_RECORD_BODY_BYTES_MAX + 1u);
    cr_assert_eq(lg_journal_append(j, big, LG_RECORD_BODY_BYTES_MAX + 1u, NULL, NULL),
                 LG_ETOOLARGE);
    cr_assert(strstr(lg_journal_errmsg(j), "exceeds") != NULL);
    cr_assert_eq(lg_journal_append(j, big, LG_RECORD_BODY_BYTES_MAX, NULL, NULL), LG_OK);
    free(big);
    struct lg_journal_record rec;
    cr_assert_eq(lg_journal_read(j, 0, &rec), LG_ERANGE);
    cr_assert_eq(lg_journal_read(j, 2, &rec), LG_ERANGE);
    cr_assert_neq(strlen(lg_journal_errmsg(j)), 0);
    struct lg_journal_iter it;
    cr_assert_eq(lg_journal_iter_init(&it, j, 0, 0), LG_ERANGE);
    cr_assert_eq(lg_journal_iter_init(&it, j, 3, 0), LG_ERANGE);
    cr_assert_eq(lg_journal_iter_init(&it, j, 1, 5), LG_ERANGE);
    cr_assert_eq(lg_journal_iter_next(&it, &rec), 0);
    cr_assert_eq(lg_journal_verify(j, 5, NULL, NULL), LG_ERANGE);
    cr_assert_eq(lg_journal_verify(j, 2, NULL, NULL), LG_OK);
    lg_journal_close(j);
    /* Options. */
    struct lg_journal_options o = {.segment_bytes_max = 100, .create = true};
    char err[LG_ERRMSG_SIZE];
    cr_assert_eq(lg_journal_open(&j, dir, &o, err, NULL), LG_EINVAL);
    cr_assert_null(j);
    cr_assert(strstr(err, "segment_bytes_max") != NULL, "%s", err);
}

Test(journal, missing_directory_without_create, .init = setup, .fini = teardown)
{
    char sub[PATH_BYTES];
    snprintf(sub, sizeof sub, "%s/nope", dir);
    struct lg_journal_options o = {0};
    struct lg_journal *j = NULL;
    char err[LG_ERRMSG_SIZE];
    cr_assert_eq(lg_journal_open(&j, sub, &o, err, NULL), LG_ENOTFOUND);
    cr_assert_null(j);
    cr_assert(strstr(err, "not found") != NULL, "%s", err);
    o.create = true;
    cr_assert_eq(lg_journal_open(&j, sub, &o, err, NULL), LG_OK, "%s", err);
    cr_assert_eq(lg_journal_last_seq(j), 0);
    lg_journal_close(j);
    /* A file instead of a directory. */
    char file[PATH_BYTES];
    snprintf(file, sizeof file, "%s/file", dir);
    lgt_write_at_create(file, "x", 1);
    cr_assert_eq(lg_journal_open(&j, file, &o, err, NULL), LG_EINVAL);
}

Test(journal, rejects_directory_that_is_not_a_journal, .init = setup, .fini = teardown)
{
    struct lg_journal *j = NULL;
    char err[LG_ERRMSG_SIZE];
    char p[PATH_BYTES];
    /* A garbage file named almost like a segment. */
    snprintf(p, sizeof p, "%s/seg-12.log", dir);
    lgt_write_at_create(p, "hello", 5);
    cr_assert_eq(jopen_rc(4096, &j, err, NULL), LG_EINVAL);
    cr_assert(strstr(err, "seg-12.log") != NULL, "%s", err);
    unlink(p);
    /* A foreign file. */
    snprintf(p, sizeof p, "%s/notes.txt", dir);
    lgt_write_at_create(p, "hello", 5);
    cr_assert_eq(jopen_rc(4096, &j, err, NULL), LG_EINVAL);
    unlink(p);
    /* A file named exactly like a segment, holding text: bad magic. */
    snprintf(p, sizeof p, "%s/seg-00000000000000000001.log", dir);
    char text[200];
    memset(text, 'x', sizeof text);
    lgt_write_at_create(p, text, sizeof text);
    cr_assert_eq(jopen_rc(4096, &j, err, NULL), LG_EINVAL);
    cr_assert(strstr(err, "magic") != NULL, "%s", err);
    cr_assert_null(j);
}

Test(journal, last_segment_sealed_before_crash_gets_a_new_segment, .init = setup,
     .fini = teardown)
{
    struct lg_journal *j = jopen(4096, 4);
    fill(j, 100);
    lg_journal_close(j);
    char names[64][64];
    size_t n = segments(names, 64);
    /* Drop the open segment: the journal now ends with a sealed one (as after a crash
     * between sealing and creating the next segment). */
    char p[PATH_BYTES];
    path_of(p, names[n - 1]);
    struct layout l;
    layout_of(p, &l, false);
    unlink(p);
    model.n = l.first_seq - 1;
    j = jopen(4096, 4);
    check_all(j);
    fill(j, model.n + 40);
    check_all(j);
    lg_journal_close(j);
    j = jopen(4096, 4);
    check_all(j);
    lg_journal_close(j);
}

Test(journal, recovers_from_crash_while_creating_a_segment, .init = setup, .fini = teardown)
{
    struct lg_journal *j = jopen(4096, 4);
    fill(j, 100);
    lg_journal_close(j);
    char names[64][64];
    size_t n = segments(names, 64);
    char p[PATH_BYTES];
    path_of(p, names[n - 1]);
    struct layout l;
    layout_of(p, &l, false);
    unlink(p);
    model.n = l.first_seq - 1;
    /* Empty, short, and all-zero new segment files. */
    uint8_t zeros[300] = {0};
    uint8_t hdr_start[10] = {'L', 'G', 'S', 'G', 1, 0};
    const uint8_t *contents[] = {NULL, hdr_start, zeros};
    size_t sizes[] = {0, sizeof hdr_start, sizeof zeros};
    for (size_t k = 0; k < 3; k++) {
        lgt_write_at_create(p, contents[k], sizes[k]);
        j = jopen(4096, 4);
        cr_assert_eq(lg_journal_recovered_bytes(j), sizes[k]);
        check_all(j);
        lg_journal_close(j);
    }
    lgt_write_at_create(p, zeros, 10);
    j = jopen(4096, 4);
    fill(j, model.n + 30);
    check_all(j);
    lg_journal_close(j);
}

Test(journal, sealed_segment_without_trailer_is_corruption, .init = setup, .fini = teardown)
{
    struct lg_journal *j = jopen(4096, 4);
    fill(j, 100);
    lg_journal_close(j);
    char names[64][64];
    segments(names, 64);
    char p[PATH_BYTES];
    path_of(p, names[0]);
    lgt_truncate(p, lgt_file_size(p) - 64);
    char err[LG_ERRMSG_SIZE];
    struct lg_journal_corruption c;
    cr_assert_eq(jopen_rc(4096, &j, err, &c), LG_ECORRUPT);
    cr_assert_str_eq(c.file, names[0]);
    cr_assert_eq(c.seq, 1);
}

Test(journal, write_failure_is_sticky, .init = setup, .fini = teardown)
{
    signal(SIGXFSZ, SIG_IGN);
    struct lg_journal *j = jopen(1024 * 1024, 4);
    fill(j, 10);
    cr_assert_eq(lg_journal_sync(j), LG_OK);
    struct rlimit rl = {.rlim_cur = 64 * 1024, .rlim_max = RLIM_INFINITY};
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
    uint8_t body[1000];
    memset(body, 7, sizeof body);
    int rc = LG_OK;
    for (int i = 0; i < 200 && rc == LG_OK; i++) {
        rc = lg_journal_append(j, body, sizeof body, NULL, NULL);
    }
    cr_assert_eq(rc, LG_OK); /* still buffered: 200 KB < 1 MiB buffer */
    rc = lg_journal_sync(j);
    cr_assert_eq(rc, LG_EIO, "%s", lg_err_name(rc));
    cr_assert(strstr(lg_journal_errmsg(j), "File too large") != NULL, "%s",
              lg_journal_errmsg(j));
    rl.rlim_cur = RLIM_INFINITY;
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
    /* Sticky, even though the cause went away. */
    cr_assert_eq(lg_journal_append(j, body, sizeof body, NULL, NULL), LG_EIO);
    cr_assert_eq(lg_journal_sync(j), LG_EIO);
    cr_assert(strstr(lg_journal_errmsg(j), "sticky") != NULL);
    /* What was synced is intact. */
    struct lg_journal_record rec;
    cr_assert_eq(lg_journal_read(j, 10, &rec), LG_OK);
    check_record(&rec, 10);
    lg_journal_close(j);
    j = jopen(1024 * 1024, 4);
    cr_assert_geq(lg_journal_last_seq(j), 10);
    cr_assert_eq(lg_journal_verify(j, 1, NULL, NULL), LG_OK);
    lg_journal_close(j);
}

static void count_progress(void *arg, uint64_t done, uint64_t last)
{
    uint64_t *calls = arg;
    cr_assert_leq(done, last);
    (*calls)++;
}

Test(journal, verify_reports_progress_and_checks_from_a_seq, .init = setup, .fini = teardown)
{
    struct lg_journal *j = jopen(4096, 4);
    fill(j, 300);
    uint64_t calls = 0;
    cr_assert_eq(lg_journal_verify(j, 1, count_progress, &calls), LG_OK);
    cr_assert_geq(calls, 10);
    cr_assert_eq(lg_journal_verify(j, 150, NULL, NULL), LG_OK);
    cr_assert_eq(lg_journal_verify(j, 300, NULL, NULL), LG_OK);
    lg_journal_close(j);
}

Test(journal, second_open_of_the_same_directory_is_refused, .init = setup, .fini = teardown)
{
    struct lg_journal *j = jopen(4096, 4);
    struct lg_journal *k = NULL;
    char err[LG_ERRMSG_SIZE];
    cr_assert_eq(jopen_rc(4096, &k, err, NULL), LG_EIO);
    cr_assert(strstr(err, "locked") != NULL, "%s", err);
    lg_journal_close(j);
}

Test(journal, chain_hash_matches_sha256, .init = setup, .fini = teardown)
{
    /* SHA-256 of 32 zero bytes followed by "abc", computed with sha256sum. */
    static const uint8_t want[LG_HASH_BYTES] = {
        0x36, 0x5a, 0xa7, 0xd8, 0xf7, 0xf9, 0x40, 0x2c, 0x4b, 0x94, 0x34, 0x50, 0x2b, 0x4c, 0xc8,
        0x9d, 0xdb, 0x09, 0xfe, 0x50, 0xd7, 0xcd, 0x95, 0xb4, 0x93, 0xb8, 0x34, 0xc6, 0x2d, 0x5a,
        0x53, 0x70};
    uint8_t zero[LG_HASH_BYTES] = {0};
    uint8_t out[LG_HASH_BYTES];
    lg_journal_chain_hash(zero, "abc", 3, out);
    cr_assert_arr_eq(out, want, LG_HASH_BYTES);
}

/* Append records of body_len bytes until the open segment's file reaches `bytes` more. */
static void append_bytes(struct lg_journal *j, uint64_t bytes, uint32_t body_len)
{
    static uint8_t body[4096];
    cr_assert_leq(body_len, sizeof body);
    for (uint64_t done = 0; done < bytes; done += 64u + body_len) {
        body[0] = (uint8_t)done;
        int rc = lg_journal_append(j, body, body_len, NULL, NULL);
        cr_assert_eq(rc, LG_OK, "append: %s", lg_journal_errmsg(j));
    }
}

static uint64_t file_bytes(const char *name)
{
    char path[PATH_BYTES];
    path_of(path, name);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "stat %s", path);
    return (uint64_t)st.st_size;
}

/* Without kicks, everything appended stays dirty in the page cache until the next sync and
 * then that sync writes it all on the caller's (the loop's) thread. Each kick must ask for
 * writeback only (no waiting), cover exactly the bytes written since the previous kick of the
 * same segment (from 0 in a new one, from the recovered end after a reopen that cut a torn
 * tail), and come once at least WRITEBACK_BYTES are pending; a sync still fdatasyncs. */
Test(journal, starts_writeback_every_4_mib_and_still_fdatasyncs, .init = setup,
     .fini = teardown)
{
    const uint64_t seg_bytes = 5u * WRITEBACK_BYTES; /* 20 MiB: two rolls in 48 MiB */
    const uint32_t body_len = 3000;
    struct lg_journal *j = jopen(seg_bytes, 0);
    append_bytes(j, 48u * 1024u * 1024u, body_len);
    cr_assert_eq(lg_journal_sync(j), LG_OK);
    char names[8][64];
    size_t nseg = segments(names, 8);
    cr_assert_eq(nseg, 3);
    size_t kicks = sfr.calls;
    cr_assert_leq(kicks, SFR_CALLS_MAX);
    /* Walk the kicks segment by segment: contiguous from 0, each at least WRITEBACK_BYTES
     * and at most one buffer flush (plus a record) more, the unkicked tail shorter than a
     * kick. */
    size_t k = 0;
    for (size_t si = 0; si < nseg; si++) {
        uint64_t size = file_bytes(names[si]);
        uint64_t end = 0;
        /* A kick at offset 0 after this segment's first one belongs to the next. */
        while (k < kicks && (uint64_t)sfr.off[k] == end) {
            cr_assert_eq(sfr.flags[k], SYNC_FILE_RANGE_WRITE, "kick %zu waits", k);
            cr_assert_geq((uint64_t)sfr.len[k], WRITEBACK_BYTES, "kick %zu", k);
            cr_assert_leq((uint64_t)sfr.len[k], WRITEBACK_BYTES + WBUF_BYTES, "kick %zu", k);
            end += (uint64_t)sfr.len[k];
            k++;
        }
        cr_assert_leq(end, size, "%s", names[si]);
        cr_assert_lt(size - end, WRITEBACK_BYTES + WBUF_BYTES, "%s: %llu of %llu unkicked",
                     names[si], (unsigned long long)(size - end), (unsigned long long)size);
    }
    cr_assert_eq(k, kicks, "kicks left over: %zu of %zu", kicks - k, kicks);
    /* The sync is still a real one: an unsynced tail gets its fdatasync, kicks or not. */
    append_bytes(j, 1000, body_len);
    size_t syncs = sfr.fdatasyncs;
    cr_assert_eq(lg_journal_sync(j), LG_OK);
    cr_assert_eq(sfr.fdatasyncs, syncs + 1);
    cr_assert_eq(sfr.calls, kicks, "sync kicked instead of syncing");
    lg_journal_close(j);

    /* A torn tail cut by recovery moves the write offset back: kicks restart there. */
    char path[PATH_BYTES];
    path_of(path, names[2]); /* the open segment */
    cr_assert_eq(truncate(path, (off_t)(file_bytes(names[2]) - 100)), 0);
    j = jopen(seg_bytes, 0);
    cr_assert_gt(lg_journal_recovered_bytes(j), 0);
    uint64_t recovered_end = file_bytes(names[2]);
    sfr.calls = 0;
    append_bytes(j, WRITEBACK_BYTES + WBUF_BYTES, body_len);
    cr_assert_geq(sfr.calls, 1);
    cr_assert_eq((uint64_t)sfr.off[0], recovered_end);
    cr_assert_geq((uint64_t)sfr.len[0], WRITEBACK_BYTES);
    cr_assert_eq(lg_journal_sync(j), LG_OK);
    cr_assert_eq(lg_journal_verify(j, 1, NULL, NULL), LG_OK, "%s", lg_journal_errmsg(j));
    lg_journal_close(j);
}

/* sync_file_range is advice: EINVAL/ENOSYS (a filesystem or kernel without it) switch the
 * kicks off and appends and syncs go on; a real error (EIO) is sticky, as a failed write. */
Test(journal, writeback_advice_refused_is_ignored, .init = setup, .fini = teardown)
{
    struct lg_journal *j = jopen(0, 0);
    sfr.fail_errno = EINVAL;
    append_bytes(j, 3u * WRITEBACK_BYTES, 3000);
    cr_assert_eq(sfr.calls, 1, "kicks after EINVAL: %zu", sfr.calls);
    cr_assert_eq(lg_journal_sync(j), LG_OK, "%s", lg_journal_errmsg(j));
    cr_assert_eq(lg_journal_verify(j, 1, NULL, NULL), LG_OK, "%s", lg_journal_errmsg(j));
    lg_journal_close(j);
}

Test(journal, writeback_error_is_sticky, .init = setup, .fini = teardown)
{
    struct lg_journal *j = jopen(0, 0);
    sfr.fail_errno = EIO;
    uint8_t body[3000];
    memset(body, 5, sizeof body);
    int rc = LG_OK;
    for (int i = 0; i < 4000 && rc == LG_OK; i++) {
        rc = lg_journal_append(j, body, sizeof body, NULL, NULL);
    }
    cr_assert_eq(rc, LG_EIO, "%s", lg_err_name(rc));
    cr_assert_eq(sfr.calls, 1);
    cr_assert(strstr(lg_journal_errmsg(j), "writeback") != NULL, "%s", lg_journal_errmsg(j));
    sfr.fail_errno = 0;
    cr_assert_eq(lg_journal_append(j, body, sizeof body, NULL, NULL), LG_EIO);
    cr_assert_eq(lg_journal_sync(j), LG_EIO);
    lg_journal_close(j);
}

/* Page-cache recycling. A never-recycled page cache gives every new journal page a fresh
 * (on a lazily backed VM: host-faulted) page, so at each kick the bytes more than
 * CACHE_BYTES behind it are advised out with POSIX_FADV_DONTNEED. Each advice must be
 * DONTNEED, continue where the previous one of the segment ended (from where writing
 * started: 0 in a new segment), end on a DROP_ALIGN_BYTES boundary at least CACHE_BYTES
 * behind the newest kick (never into the bytes still cached on purpose, never past bytes
 * not yet kicked), and together they cover all of the segment but its last CACHE_BYTES, a
 * kick and a buffer. Reads and syncs go on as before. */
static void check_drops(size_t first, size_t last, uint64_t from, uint64_t size)
{
    uint64_t end = from;
    for (size_t i = first; i < last; i++) {
        cr_assert_eq(fadv.advice[i], POSIX_FADV_DONTNEED, "advice %zu: %d", i, fadv.advice[i]);
        cr_assert_eq((uint64_t)fadv.off[i], end, "advice %zu not contiguous", i);
        cr_assert_gt(fadv.len[i], 0, "advice %zu", i);
        end += (uint64_t)fadv.len[i];
        cr_assert_eq(end % DROP_ALIGN_BYTES, 0, "advice %zu ends at %llu", i,
                     (unsigned long long)end);
        size_t k = fadv.kicks_before[i];
        cr_assert_gt(k, 0, "advice %zu before any kick", i);
        uint64_t kicked = (uint64_t)(sfr.off[k - 1] + sfr.len[k - 1]);
        cr_assert_leq(end + CACHE_BYTES, kicked, "advice %zu ends %llu behind the kick", i,
                      (unsigned long long)(kicked - end));
    }
    cr_assert_leq(end, size);
    cr_assert_lt(size - end, CACHE_BYTES + WRITEBACK_BYTES + WBUF_BYTES + DROP_ALIGN_BYTES,
                 "%llu of %llu bytes never dropped", (unsigned long long)(size - end),
                 (unsigned long long)size);
}

Test(journal, drops_page_cache_behind_the_kicks, .init = setup, .fini = teardown)
{
    struct lg_journal *j = jopen(0, 0); /* 64 MiB segments: one */
    append_bytes(j, 48u * 1024u * 1024u, 3000);
    char names[2][64];
    cr_assert_eq(segments(names, 2), 1);
    cr_assert_lt(sfr.calls, SFR_CALLS_MAX);
    cr_assert_lt(fadv.calls, SFR_CALLS_MAX);
    /* One per kick once CACHE_BYTES were kicked: 48 MiB is 10-12 kicks, the first two
     * too early. */
    cr_assert_geq(fadv.calls + 3, sfr.calls, "%zu advices, %zu kicks", fadv.calls, sfr.calls);
    check_drops(0, fadv.calls, 0, file_bytes(names[0]));
    size_t drops = fadv.calls;
    size_t syncs = sfr.fdatasyncs;
    cr_assert_eq(lg_journal_sync(j), LG_OK, "%s", lg_journal_errmsg(j));
    cr_assert_eq(sfr.fdatasyncs, syncs + 1);
    cr_assert_eq(fadv.calls, drops, "a sync advised");
    cr_assert_eq(lg_journal_verify(j, 1, NULL, NULL), LG_OK, "%s", lg_journal_errmsg(j));
    lg_journal_close(j);
}

/* A new segment starts dropping at 0 again; a seal, once its fdatasync made every page
 * clean, drops the whole segment but its last CACHE_BYTES once more (what the kicks' advice
 * skipped because it was still under writeback); after a recovery that cut a torn tail,
 * drops start at the recovered end. */
Test(journal, page_cache_drops_restart_per_segment_and_after_recovery, .init = setup,
     .fini = teardown)
{
    const uint64_t seg_bytes = 5u * WRITEBACK_BYTES; /* 20 MiB: two rolls in 48 MiB */
    struct lg_journal *j = jopen(seg_bytes, 0);
    append_bytes(j, 48u * 1024u * 1024u, 3000);
    char names[4][64];
    cr_assert_eq(segments(names, 4), 3);
    cr_assert_lt(fadv.calls, SFR_CALLS_MAX);
    size_t i = 0;
    for (size_t si = 0; si < 3; si++) {
        uint64_t size = file_bytes(names[si]);
        size_t first = i;
        uint64_t end = 0;
        /* The kicks' advice: contiguous, with no fdatasync between (the seal's comes after
         * one). */
        while (i < fadv.calls && (uint64_t)fadv.off[i] == end &&
               fadv.syncs_before[i] == fadv.syncs_before[first]) {
            end += (uint64_t)fadv.len[i];
            i++;
        }
        check_drops(first, i, 0, si < 2 ? size - 64 : size);
        if (si < 2) {
            /* The seal: after its fdatasync, from 0 to its last CACHE_BYTES. */
            cr_assert_lt(i, fadv.calls, "%s: no advice at the seal", names[si]);
            cr_assert_gt(fadv.syncs_before[i], fadv.syncs_before[first], "%s", names[si]);
            cr_assert_eq(fadv.off[i], 0, "%s", names[si]);
            uint64_t want = size - CACHE_BYTES;
            want -= want % DROP_ALIGN_BYTES;
            cr_assert_eq((uint64_t)fadv.len[i], want, "%s: seal advised %lld", names[si],
                         (long long)fadv.len[i]);
            cr_assert_eq(fadv.advice[i], POSIX_FADV_DONTNEED);
            i++;
        }
    }
    cr_assert_eq(i, fadv.calls, "advices left over: %zu of %zu", fadv.calls - i, fadv.calls);
    cr_assert_eq(lg_journal_sync(j), LG_OK, "%s", lg_journal_errmsg(j));
    lg_journal_close(j);

    /* A torn tail cut by recovery: drops start at the recovered end, not before it. */
    char path[PATH_BYTES];
    path_of(path, names[2]); /* the open segment, ~8 MiB */
    cr_assert_eq(truncate(path, (off_t)(file_bytes(names[2]) - 100)), 0);
    j = jopen(0, 0); /* now 64 MiB segments: room for 24 MiB more in the open one */
    cr_assert_gt(lg_journal_recovered_bytes(j), 0);
    uint64_t recovered_end = file_bytes(names[2]);
    cr_assert_gt(recovered_end, DROP_ALIGN_BYTES);
    sfr.calls = 0;
    fadv.calls = 0;
    append_bytes(j, 24u * 1024u * 1024u, 3000);
    cr_assert_eq(segments(names, 4), 3);
    cr_assert_geq(fadv.calls, 1);
    check_drops(0, fadv.calls, recovered_end, file_bytes(names[2]));
    cr_assert_eq(lg_journal_sync(j), LG_OK);
    cr_assert_eq(lg_journal_verify(j, 1, NULL, NULL), LG_OK, "%s", lg_journal_errmsg(j));
    lg_journal_close(j);
}

/* Without kicks (sync_file_range refused: EINVAL) there is no drop either: nothing says the
 * bytes behind are being written back, and the seal's fdatasync does it all. */
Test(journal, no_page_cache_drop_without_kicks, .init = setup, .fini = teardown)
{
    struct lg_journal *j = jopen(5u * WRITEBACK_BYTES, 0);
    sfr.fail_errno = EINVAL;
    append_bytes(j, 48u * 1024u * 1024u, 3000);
    cr_assert_eq(sfr.calls, 1);
    cr_assert_eq(fadv.calls, 0, "%zu advices without kicks", fadv.calls);
    cr_assert_eq(lg_journal_sync(j), LG_OK, "%s", lg_journal_errmsg(j));
    cr_assert_eq(lg_journal_verify(j, 1, NULL, NULL), LG_OK, "%s", lg_journal_errmsg(j));
    lg_journal_close(j);
}

/* The advice failing (it should not on a regular file) changes nothing: appends, kicks,
 * seals and syncs go on, no sticky error, everything reads back. */
Test(journal, page_cache_drop_failure_changes_nothing, .init = setup, .fini = teardown)
{
    struct lg_journal *j = jopen(5u * WRITEBACK_BYTES, 0);
    fadv.fail = EINVAL;
    append_bytes(j, 48u * 1024u * 1024u, 3000);
    cr_assert_gt(fadv.calls, 4);
    size_t kicks = sfr.calls;
    cr_assert_geq(kicks, 8);
    cr_assert_eq(lg_journal_sync(j), LG_OK, "%s", lg_journal_errmsg(j));
    fadv.fail = 0;
    append_bytes(j, 2u * CACHE_BYTES, 3000);
    cr_assert_gt(sfr.calls, kicks);
    cr_assert_eq(lg_journal_sync(j), LG_OK, "%s", lg_journal_errmsg(j));
    cr_assert_eq(lg_journal_verify(j, 1, NULL, NULL), LG_OK, "%s", lg_journal_errmsg(j));
    lg_journal_close(j);
}
