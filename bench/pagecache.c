/* bench-pagecache: what writing a journal-like file costs the writer, with the page cache
 * left to grow against recycled (lib/journal.c, LG_JOURNAL_CACHE_BYTES; docs/journal.md).
 *
 *   bench-pagecache DIR [MiB]
 *
 * Writes MiB (default 4096) sequentially in 64 KiB pwrites to DIR/bench-pagecache-<pid>,
 * twice: "plain" (nothing but the writes), then "recycled" (what the journal does: every
 * 4 MiB sync_file_range(SYNC_FILE_RANGE_WRITE) of them, then POSIX_FADV_DONTNEED of the
 * bytes more than 8 MiB behind that kick; neither waits). Prints per GiB written: wall time,
 * user and system CPU of this process (writeback itself runs in kernel threads), then the
 * final fdatasync and how much of the file is still in the page cache after it. On a VM
 * whose host backs guest memory lazily, fresh page-cache pages are host faults: system CPU.
 * Each mode starts PAUSE_S after the last file was removed, so that the pages it freed
 * are free pages again (given back to the host by free page reporting), as on a node. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define WRITE_BYTES (64u * 1024u)
#define KICK_BYTES (4u * 1024u * 1024u)  /* LG_JOURNAL_WRITEBACK_BYTES */
#define CACHE_BYTES (8u * 1024u * 1024u) /* LG_JOURNAL_CACHE_BYTES */
#define PAUSE_S 10u

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double cpu_s(const struct timeval *tv)
{
    return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

/* MiB of the file's first `bytes` resident in the page cache. */
static double cached_mib(int fd, size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        return -1.0;
    }
    long page = sysconf(_SC_PAGESIZE);
    size_t pages = (bytes + (size_t)page - 1) / (size_t)page;
    unsigned char *vec = malloc(pages);
    size_t resident = 0;
    if (vec != NULL && mincore(p, bytes, vec) == 0) {
        for (size_t i = 0; i < pages; i++) {
            resident += vec[i] & 1u;
        }
    }
    free(vec);
    munmap(p, bytes);
    return (double)resident * (double)page / (1024.0 * 1024.0);
}

static int run(const char *path, size_t bytes, int recycled)
{
    static unsigned char buf[WRITE_BYTES];
    memset(buf, 'x', sizeof buf);
    sleep(PAUSE_S);
    int fd = open(path, O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0644);
    if (fd < 0) {
        perror(path);
        return 1;
    }
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    double t0 = now_s();
    size_t kicked = 0;
    size_t dropped = 0;
    for (size_t off = 0; off < bytes; off += WRITE_BYTES) {
        if (pwrite(fd, buf, WRITE_BYTES, (off_t)off) != (ssize_t)WRITE_BYTES) {
            perror("pwrite");
            return 1;
        }
        if (recycled && off + WRITE_BYTES - kicked >= KICK_BYTES) {
            (void)sync_file_range(fd, (off_t)kicked, (off_t)(off + WRITE_BYTES - kicked),
                                  SYNC_FILE_RANGE_WRITE);
            kicked = off + WRITE_BYTES;
            if (kicked - dropped > CACHE_BYTES) {
                (void)posix_fadvise(fd, (off_t)dropped, (off_t)(kicked - CACHE_BYTES - dropped),
                                    POSIX_FADV_DONTNEED);
                dropped = kicked - CACHE_BYTES;
            }
        }
    }
    double t1 = now_s();
    getrusage(RUSAGE_SELF, &r1);
    if (fdatasync(fd) != 0) {
        perror("fdatasync");
        return 1;
    }
    double t2 = now_s();
    double gib = (double)bytes / (1024.0 * 1024.0 * 1024.0);
    printf("%-9s %6.3f s wall  %6.3f s user  %6.3f s sys  per GiB; fdatasync %6.0f ms; "
           "%5.0f MiB cached after\n",
           recycled ? "recycled" : "plain", (t1 - t0) / gib,
           (cpu_s(&r1.ru_utime) - cpu_s(&r0.ru_utime)) / gib,
           (cpu_s(&r1.ru_stime) - cpu_s(&r0.ru_stime)) / gib, (t2 - t1) * 1e3,
           cached_mib(fd, bytes));
    close(fd);
    unlink(path);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: bench-pagecache DIR [MiB]\n");
        return 2;
    }
    long mib = argc == 3 ? atol(argv[2]) : 4096;
    if (mib < 16) {
        fprintf(stderr, "bench-pagecache: MiB must be at least 16\n");
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/bench-pagecache-%ld", argv[1], (long)getpid());
    size_t bytes = (size_t)mib << 20;
    return run(path, bytes, 0) || run(path, bytes, 1);
}
