/* bench-journal: append throughput of lib/journal, with and without periodic sync.
 *
 *   bench-journal --dir DIR [--records N] [--body-bytes B] [--sync-every K]
 *
 * Each run writes a fresh journal in DIR/bench-journal-<pid>-<run> (removed afterwards)
 * with the default 64 MiB segments and prints appends/s and MB/s (bytes written to the
 * segments: 64-byte record headers, bodies padded to 8, segment headers/trailers). Without
 * --sync-every it runs twice: no sync (one sync at the end, timed separately) and a sync
 * every 1000 records. A program, not a test: it prints figures (docs/benchmarks.md). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "journal.h"
#include "limits.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t dir_bytes_and_remove(const char *dir)
{
    uint64_t total = 0;
    DIR *d = opendir(dir);
    if (d == NULL) {
        return 0;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, 0) == 0 && strstr(e->d_name, ".log") != NULL) {
            total += (uint64_t)st.st_size;
        }
        unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
    rmdir(dir);
    return total;
}

static int run(const char *base, int index, uint64_t records, uint32_t body_bytes,
               uint64_t sync_every)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/bench-journal-%d-%d", base, (int)getpid(), index);
    struct lg_journal_options o = {.create = true};
    struct lg_journal *j = NULL;
    char err[LG_ERRMSG_SIZE];
    int rc = lg_journal_open(&j, dir, &o, err, NULL);
    if (rc != LG_OK) {
        fprintf(stderr, "open %s: %s\n", dir, err);
        return 1;
    }
    uint8_t *body = malloc(body_bytes);
    if (body == NULL) {
        return 1;
    }
    for (uint32_t i = 0; i < body_bytes; i++) {
        body[i] = (uint8_t)(i * 131u + 7u);
    }
    double t0 = now_s();
    for (uint64_t n = 1; n <= records; n++) {
        body[0] = (uint8_t)n; /* bodies differ, as real ones do */
        rc = lg_journal_append(j, body, body_bytes, NULL, NULL);
        if (rc == LG_OK && sync_every != 0 && n % sync_every == 0) {
            rc = lg_journal_sync(j);
        }
        if (rc != LG_OK) {
            fprintf(stderr, "append %llu: %s\n", (unsigned long long)n, lg_journal_errmsg(j));
            return 1;
        }
    }
    double t1 = now_s();
    rc = lg_journal_sync(j);
    double t2 = now_s();
    lg_journal_close(j);
    free(body);
    if (rc != LG_OK) {
        fprintf(stderr, "final sync failed\n");
        return 1;
    }
    uint64_t bytes = dir_bytes_and_remove(dir);
    double loop = t1 - t0;
    double all = t2 - t0;
    char mode[64];
    if (sync_every == 0) {
        snprintf(mode, sizeof mode, "no sync");
    } else {
        snprintf(mode, sizeof mode, "sync every %llu", (unsigned long long)sync_every);
    }
    printf("%-18s records=%llu body=%u bytes=%llu loop=%.3fs appends/s=%.0f MB/s=%.1f | "
           "with final sync: %.3fs appends/s=%.0f MB/s=%.1f\n",
           mode, (unsigned long long)records, body_bytes, (unsigned long long)bytes, loop,
           (double)records / loop, (double)bytes / loop / 1e6, all, (double)records / all,
           (double)bytes / all / 1e6);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench-journal --dir DIR [--records N] [--body-bytes B] "
                    "[--sync-every K]\n");
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    uint64_t records = 2000000;
    unsigned long body_bytes = 200;
    long long sync_every = -1;
    for (int i = 1; i < argc; i += 2) { /* flags come in pairs: --name value */
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--dir") == 0 && v != NULL) {
            dir = v;
        } else if (strcmp(argv[i], "--records") == 0 && v != NULL) {
            records = strtoull(v, NULL, 10);
        } else if (strcmp(argv[i], "--body-bytes") == 0 && v != NULL) {
            body_bytes = strtoul(v, NULL, 10);
        } else if (strcmp(argv[i], "--sync-every") == 0 && v != NULL) {
            sync_every = strtoll(v, NULL, 10);
        } else {
            usage();
            return 2;
        }
    }
    if (dir == NULL || records == 0 || body_bytes == 0 ||
        body_bytes > LG_RECORD_BODY_BYTES_MAX || sync_every < -1) {
        usage();
        return 2;
    }
    if (sync_every >= 0) {
        return run(dir, 0, records, (uint32_t)body_bytes, (uint64_t)sync_every);
    }
    int rc = run(dir, 0, records, (uint32_t)body_bytes, 0);
    if (rc == 0) {
        rc = run(dir, 1, records, (uint32_t)body_bytes, 1000);
    }
    return rc;
}
