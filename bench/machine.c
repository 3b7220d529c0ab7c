/* bench-machine: what the machine charges for the kernel operations a node pays per
 * request or per entry (docs/benchmarks.md, "Where the time goes"). On a VM whose kernel
 * entries exit to the hypervisor these dwarf the ledger's own work.
 *
 *   bench-machine
 *
 * Prints: one cheap system call (getppid); a wake-up round trip between two threads (pipe
 * ping-pong: two sleeps and two wake-ups); writing 256 MiB of fresh anonymous memory
 * (one page fault per 4 KiB page) against the same after one madvise(MADV_POPULATE_WRITE)
 * (lib/mem.h); and against memory already touched. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CALLS 1000000L
#define ROUNDS 20000L
#define MEM_BYTES ((size_t)256 << 20)

static int ping[2];
static int pong[2];

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void *echo(void *arg)
{
    (void)arg;
    char c;
    for (long i = 0; i < ROUNDS; i++) {
        if (read(ping[0], &c, 1) != 1 || write(pong[1], &c, 1) != 1) {
            break;
        }
    }
    return NULL;
}

static unsigned char *map(size_t n)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    return p;
}

int main(void)
{
    double t = now_s();
    for (long i = 0; i < CALLS; i++) {
        (void)syscall(SYS_getppid);
    }
    printf("system call (getppid)            %8.2f us\n", (now_s() - t) * 1e6 / CALLS);

    if (pipe(ping) != 0 || pipe(pong) != 0) {
        perror("pipe");
        return 1;
    }
    pthread_t th;
    if (pthread_create(&th, NULL, echo, NULL) != 0) {
        return 1;
    }
    char c = 1;
    t = now_s();
    for (long i = 0; i < ROUNDS; i++) {
        if (write(ping[1], &c, 1) != 1 || read(pong[0], &c, 1) != 1) {
            return 1;
        }
    }
    printf("thread wake-up round trip (pipe) %8.2f us\n", (now_s() - t) * 1e6 / ROUNDS);
    pthread_join(th, NULL);

    unsigned char *a = map(MEM_BYTES);
    t = now_s();
    memset(a, 1, MEM_BYTES);
    double faulted = now_s() - t;
    t = now_s();
    memset(a, 2, MEM_BYTES);
    double touched = now_s() - t;
    munmap(a, MEM_BYTES);
    unsigned char *b = map(MEM_BYTES);
    t = now_s();
    int rc = madvise(b, MEM_BYTES, MADV_POPULATE_WRITE);
    double populate = now_s() - t;
    memset(b, 1, MEM_BYTES);
    double populated = now_s() - t;
    munmap(b, MEM_BYTES);
    double mib = (double)(MEM_BYTES >> 20);
    printf("fresh memory, page faults        %8.0f MiB/s  (%.1f us per 4 KiB page)\n",
           mib / faulted, faulted * 1e6 / (double)(MEM_BYTES / 4096u));
    printf("fresh memory, populated first    %8.0f MiB/s  (the madvise alone: %.0f MiB/s)%s\n",
           mib / populated, mib / populate, rc == 0 ? "" : "  (MADV_POPULATE_WRITE unsupported)");
    printf("memory already touched           %8.0f MiB/s\n", mib / touched);
    return 0;
}
