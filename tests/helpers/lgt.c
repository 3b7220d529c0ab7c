/* lgt: test helpers. */
#include "lgt.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void lgt_tmpdir(char out[LGT_PATH_MAX])
{
    const char *base = getenv("TMPDIR");
    if (base == NULL || base[0] == '\0') {
        base = "/tmp";
    }
    snprintf(out, LGT_PATH_MAX, "%s/lgt-XXXXXX", base);
    cr_assert_not_null(mkdtemp(out), "mkdtemp(%s)", out);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (flag == FTW_DP || flag == FTW_D) {
        return rmdir(path) == 0 ? 0 : 0;
    }
    if (st != NULL && (st->st_mode & S_IWUSR) == 0) {
        chmod(path, 0600);
    }
    unlink(path);
    return 0;
}

void lgt_rmtree(const char *path)
{
    if (path == NULL || path[0] == '\0') {
        return;
    }
    chmod(path, 0700);
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

uint64_t lgt_seed(void)
{
    const char *env = getenv("LG_TEST_SEED");
    uint64_t seed;
    if (env != NULL && env[0] != '\0') {
        seed = strtoull(env, NULL, 0);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid();
    }
    fprintf(stderr, "LG_TEST_SEED=%llu\n", (unsigned long long)seed);
    return seed;
}

void lgt_rng_init(struct lgt_rng *r, uint64_t seed)
{
    r->state = seed;
}

uint64_t lgt_rng_next(struct lgt_rng *r)
{
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t lgt_rng_below(struct lgt_rng *r, uint64_t n)
{
    cr_assert_gt(n, 0);
    return lgt_rng_next(r) % n;
}

uint8_t *lgt_read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return NULL;
    }
    size_t size = (size_t)st.st_size;
    uint8_t *data = malloc(size ? size : 1);
    size_t got = 0;
    while (data != NULL && got < size) {
        ssize_t n = pread(fd, data + got, size - got, (off_t)got);
        if (n <= 0) {
            free(data);
            data = NULL;
            break;
        }
        got += (size_t)n;
    }
    close(fd);
    if (data != NULL) {
        *len = size;
    }
    return data;
}

static int open_writable(const char *path, mode_t *mode_out)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "stat(%s)", path);
    *mode_out = st.st_mode & 07777;
    chmod(path, *mode_out | S_IWUSR);
    int fd = open(path, O_WRONLY);
    cr_assert_geq(fd, 0, "open(%s)", path);
    return fd;
}

void lgt_write_at(const char *path, uint64_t offset, const void *bytes, size_t n)
{
    mode_t mode;
    int fd = open_writable(path, &mode);
    cr_assert_eq(pwrite(fd, bytes, n, (off_t)offset), (ssize_t)n, "pwrite(%s)", path);
    close(fd);
    chmod(path, mode);
}

void lgt_flip_bit(const char *path, uint64_t offset, unsigned bit)
{
    int fd = open(path, O_RDONLY);
    cr_assert_geq(fd, 0, "open(%s)", path);
    uint8_t byte;
    cr_assert_eq(pread(fd, &byte, 1, (off_t)offset), 1, "pread(%s@%llu)", path,
                 (unsigned long long)offset);
    close(fd);
    byte ^= (uint8_t)(1u << (bit & 7u));
    lgt_write_at(path, offset, &byte, 1);
}

void lgt_truncate(const char *path, uint64_t size)
{
    mode_t mode;
    int fd = open_writable(path, &mode);
    cr_assert_eq(ftruncate(fd, (off_t)size), 0, "ftruncate(%s)", path);
    close(fd);
    chmod(path, mode);
}

uint64_t lgt_file_size(const char *path)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "stat(%s)", path);
    return (uint64_t)st.st_size;
}

/* ---- journal helpers ---- */

#include "crc32c.h"

uint32_t lgt_journal_body(uint64_t seq, uint32_t salt, uint8_t *buf, uint32_t cap)
{
    cr_assert_geq(cap, 1);
    struct lgt_rng r;
    lgt_rng_init(&r, seq * 0x9E3779B97F4A7C15ull ^ salt);
    uint32_t len = 1 + (uint32_t)lgt_rng_below(&r, cap);
    for (uint32_t i = 0; i < len; i++) {
        buf[i] = (uint8_t)lgt_rng_next(&r);
    }
    return len;
}

/* Record header layout (docs/journal.md): body_len u32 at 8, body_crc at 12, header CRC
 * of bytes [0, 56) at 56, body at 64. */
void lgt_journal_fix_record_crcs(const char *path, uint64_t offset)
{
    size_t len = 0;
    uint8_t *data = lgt_read_file(path, &len);
    cr_assert_not_null(data, "read %s", path);
    cr_assert_leq(offset + 64, len);
    uint8_t *h = data + offset;
    uint32_t body_len = (uint32_t)h[8] | ((uint32_t)h[9] << 8) | ((uint32_t)h[10] << 16) |
                        ((uint32_t)h[11] << 24);
    cr_assert_leq(offset + 64 + body_len, len);
    uint32_t crc = lg_crc32c(0, h + 64, body_len);
    for (int i = 0; i < 4; i++) {
        h[12 + i] = (uint8_t)(crc >> (8 * i));
    }
    crc = lg_crc32c(0, h, 56);
    for (int i = 0; i < 4; i++) {
        h[56 + i] = (uint8_t)(crc >> (8 * i));
    }
    lgt_write_at(path, offset, h, 64);
    free(data);
}

void lgt_write_at_create(const char *path, const void *bytes, size_t n)
{
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    cr_assert_geq(fd, 0, "create %s", path);
    if (n > 0) {
        cr_assert_eq(pwrite(fd, bytes, n, 0), (ssize_t)n, "write %s", path);
    }
    close(fd);
}
