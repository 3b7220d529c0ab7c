/* fuzz_segment: journal recovery and reads on arbitrary segment (and index) bytes.
 *
 * Input: byte 0 is the mode; the rest is file content.
 *   mode & 1 == 0: the rest is seg-00000000000000000001.log, the journal's only segment
 *                  (open or, with a valid trailer, sealed);
 *   mode & 1 == 1: bytes 1-2 (little-endian) split the rest into the .log and its .idx.
 * The target opens the journal (recovery), iterates it, reads some seqs, verifies it,
 * appends, syncs, closes and opens it again. It must never crash, leak or trip an
 * assertion: bad bytes are answered with error codes.
 *
 * The seed corpus (corpus/segment/) was produced by this file's generator:
 *   cc -DFUZZ_SEGMENT_GENERATE -D_GNU_SOURCE -Ilib tests/fuzz/fuzz_segment.c \
 *      build/lib/liblg.a -lcrypto -o /tmp/gen && /tmp/gen tests/fuzz/corpus/segment */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SEG_NAME "seg-00000000000000000001.log"
#define IDX_NAME "seg-00000000000000000001.idx"
#define PATH_BYTES 4200

static int write_file(const char *dir, const char *name, const uint8_t *p, size_t n)
{
    char path[PATH_BYTES];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) {
        return -1;
    }
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    if (fd < 0) {
        return -1;
    }
    ssize_t w = n > 0 ? write(fd, p, n) : 0;
    close(fd);
    return w == (ssize_t)n ? 0 : -1;
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
                unlinkat(dirfd(d), e->d_name, 0);
            }
        }
        closedir(d);
    }
    rmdir(dir);
}

static void exercise(const char *dir)
{
    struct lg_journal_options o = {.segment_bytes_max = 4096, .index_every = 2};
    struct lg_journal *j = NULL;
    char err[LG_ERRMSG_SIZE];
    struct lg_journal_corruption c;
    if (lg_journal_open(&j, dir, &o, err, &c) != LG_OK) {
        return;
    }
    uint64_t last = lg_journal_last_seq(j);
    struct lg_journal_iter it;
    struct lg_journal_record rec;
    if (lg_journal_iter_init(&it, j, 1, 0) == LG_OK) {
        for (uint64_t i = 0; i <= last && lg_journal_iter_next(&it, &rec) == 1; i++) {
        }
    }
    uint64_t probes[] = {1, last / 2, last, last + 1};
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        (void)lg_journal_read(j, probes[i], &rec);
    }
    (void)lg_journal_verify(j, 1, NULL, NULL);
    static const uint8_t body[] = "fuzz";
    (void)lg_journal_append(j, body, sizeof body, NULL, NULL);
    (void)lg_journal_sync(j);
    (void)lg_journal_close(j);
    if (lg_journal_open(&j, dir, &o, err, &c) == LG_OK) {
        (void)lg_journal_verify(j, 1, NULL, NULL);
        (void)lg_journal_close(j);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    const char *base = getenv("TMPDIR");
    char dir[PATH_BYTES];
    snprintf(dir, sizeof dir, "%s/fuzz-segment-XXXXXX", base && base[0] ? base : "/tmp");
    if (mkdtemp(dir) == NULL) {
        return 0;
    }
    uint8_t mode = data[0];
    const uint8_t *rest = data + 1;
    size_t n = size - 1;
    int ok = 0;
    if ((mode & 1u) == 0 || n < 2) {
        ok = write_file(dir, SEG_NAME, rest, n);
    } else {
        size_t split = (size_t)rest[0] | ((size_t)rest[1] << 8);
        rest += 2;
        n -= 2;
        if (split > n) {
            split = n;
        }
        ok = write_file(dir, SEG_NAME, rest, split);
        if (ok == 0) {
            ok = write_file(dir, IDX_NAME, rest + split, n - split);
        }
    }
    if (ok == 0) {
        exercise(dir);
    }
    remove_dir(dir);
    return 0;
}

#ifdef FUZZ_SEGMENT_GENERATE
/* Seed generator: valid journals made by the real code, then cut and damaged variants. */
static uint8_t *slurp(const char *dir, const char *name, size_t *len)
{
    char path[PATH_BYTES];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    uint8_t *buf = malloc(1 << 20);
    *len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

static void emit(const char *out, const char *name, uint8_t mode, const uint8_t *a, size_t na,
                 const uint8_t *b, size_t nb)
{
    char path[PATH_BYTES];
    snprintf(path, sizeof path, "%s/%s", out, name);
    FILE *f = fopen(path, "wb");
    fputc(mode, f);
    if (mode & 1u) {
        fputc((int)(na & 0xFF), f);
        fputc((int)(na >> 8), f);
    }
    fwrite(a, 1, na, f);
    if (b != NULL) {
        fwrite(b, 1, nb, f);
    }
    fclose(f);
}

static void make(const char *dir, int records, uint32_t seg_bytes)
{
    struct lg_journal_options o = {.segment_bytes_max = seg_bytes, .index_every = 2,
                                   .create = true};
    struct lg_journal *j = NULL;
    char err[LG_ERRMSG_SIZE];
    if (lg_journal_open(&j, dir, &o, err, NULL) != LG_OK) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    for (int i = 1; i <= records; i++) {
        char body[4000];
        int len = snprintf(body, 100, "record %d", i);
        memset(body + len, 'a' + i, (size_t)(i == 3 ? 3650 : 20));
        lg_journal_append(j, body, (uint32_t)len + (i == 3 ? 3650u : 20u), NULL, NULL);
    }
    lg_journal_sync(j);
    lg_journal_close(j);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        return 2;
    }
    char a[] = "/tmp/gen-seg-a-XXXXXX";
    char b[] = "/tmp/gen-seg-b-XXXXXX";
    mkdtemp(a);
    mkdtemp(b);
    remove_dir(a);
    remove_dir(b);
    make(a, 3, 1u << 20); /* one open segment of 3 records */
    make(b, 4, 4096);     /* 3 records sealed (the 4th rolled over) */
    size_t la = 0, lb = 0, li = 0;
    uint8_t *sa = slurp(a, SEG_NAME, &la);
    uint8_t *sb = slurp(b, SEG_NAME, &lb);
    uint8_t *ib = slurp(b, IDX_NAME, &li);
    emit(argv[1], "open-3-records", 0, sa, la, NULL, 0);
    emit(argv[1], "open-torn-header", 0, sa, 64 + 100, NULL, 0);
    emit(argv[1], "open-torn-body", 0, sa, la - 50, NULL, 0);
    emit(argv[1], "short-header", 0, sa, 30, NULL, 0);
    emit(argv[1], "sealed-3-records", 0, sb, lb, NULL, 0);
    emit(argv[1], "sealed-with-index", 1, sb, lb, ib, li);
    emit(argv[1], "sealed-short-index", 1, sb, lb, ib, li - 5);
    sb[64 + 64 + 3] ^= 0x10; /* flip a bit of record 1's body */
    emit(argv[1], "sealed-flipped-body", 1, sb, lb, ib, li);
    sb[64 + 64 + 3] ^= 0x10;
    sb[lb - 40] ^= 0x01; /* flip a bit of the trailer's last hash */
    emit(argv[1], "sealed-flipped-trailer", 0, sb, lb, NULL, 0);
    remove_dir(a);
    remove_dir(b);
    free(sa);
    free(sb);
    free(ib);
    return 0;
}
#endif
