/* bench-fsm: state machine throughput and memory (docs/benchmarks.md, "State machine").
 *
 * Single thread, journal included (records encoded, hashed and appended; no fsync, as in
 * steady state: the Raft log is the write-ahead log). Entries of --batch commands go
 * through lg_fsm_apply_batch (decoding excluded) or, with --decode, through lg_fsm_apply
 * with canonical bytes (decoding included).
 *
 *   bench-fsm [--accounts N] [--tx N] [--tx5 N] [--batch N] [--decode] [--references]
 *             [--no-prefault] [--dir PATH]
 *
 * Phases: fund N accounts (one world -> account posting each; resident bytes per account
 * measured across this phase), then 1-posting transfers between random accounts, then
 * 5-posting transfers. With --references every transaction carries a unique reference
 * (the exactly-once index, as `ledger-node bench` sends by default). Memory is tuned and
 * prefaulted as in `ledger-node serve` (lib/mem.h) unless --no-prefault. Prints one line
 * per phase. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fsm.h"
#include "mem.h"

#define ADDR_MAX 32
#define REF_MAX 24

struct bench {
    struct lg_fsm *f;
    uint64_t index;
    uint64_t ts;
    uint32_t batch;
    bool decode;
    bool references;
    bool prefault;
    uint64_t n_refs;
    struct lg_buf buf;
    char (*addr)[ADDR_MAX];
    uint32_t n_accounts;
    uint64_t rng;
};

static uint64_t rng_next(struct bench *b)
{
    b->rng ^= b->rng << 13;
    b->rng ^= b->rng >> 7;
    b->rng ^= b->rng << 17;
    return b->rng;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static long rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0;
    long resident = 0;
    if (f != NULL) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2) {
            resident = 0;
        }
        fclose(f);
    }
    return resident * sysconf(_SC_PAGESIZE);
}

static struct lg_str str(const char *s)
{
    return (struct lg_str){s, (uint32_t)strlen(s)};
}

static void run_entry(struct bench *b, const struct lg_cmd *cmds, uint32_t n, uint64_t *ok)
{
    struct lg_batch batch = {cmds, n};
    const struct lg_cmd_result *res;
    uint32_t nres;
    int rc;
    if (b->decode) {
        lg_buf_reset(&b->buf);
        char err[LG_ERRMSG_SIZE];
        if (lg_cmd_encode_batch(&batch, &b->buf, err) != LG_OK) {
            fprintf(stderr, "encode: %s\n", err);
            exit(1);
        }
        rc = lg_fsm_apply(b->f, ++b->index, b->buf.data, b->buf.len, &res, &nres);
    } else {
        rc = lg_fsm_apply_batch(b->f, ++b->index, &batch, &res, &nres);
    }
    if (b->prefault) {
        lg_mem_prefault_heap(); /* as a node does once per loop turn */
    }
    if (rc != LG_OK) {
        fprintf(stderr, "apply: %s %s\n", lg_err_name(rc), lg_fsm_errmsg(b->f));
        exit(1);
    }
    for (uint32_t i = 0; i < nres; i++) {
        *ok += res[i].code == LG_OK;
    }
}

/* Run n transactions of k postings; returns wall seconds, *cpu the process CPU seconds
 * (the figure to trust on a shared machine). */
static double phase(struct bench *b, uint64_t n, uint32_t k, bool fund, uint64_t *ok,
                    double *cpu)
{
    struct lg_cmd *cmds = calloc(b->batch, sizeof *cmds);
    struct lg_posting *p = calloc((size_t)b->batch * k, sizeof *p);
    char (*refs)[REF_MAX] = calloc(b->batch, sizeof *refs);
    if (cmds == NULL || p == NULL || refs == NULL) {
        exit(1);
    }
    double t0 = now_s();
    double c0 = cpu_s();
    uint64_t done = 0;
    while (done < n) {
        uint32_t m = n - done < b->batch ? (uint32_t)(n - done) : b->batch;
        for (uint32_t c = 0; c < m; c++) {
            struct lg_posting *pp = &p[(size_t)c * k];
            for (uint32_t j = 0; j < k; j++) {
                if (fund) {
                    pp[j] = (struct lg_posting){str("world"), str(b->addr[done + c]),
                                                1000000000u, str("USD/2")};
                } else {
                    uint32_t s = (uint32_t)(rng_next(b) % b->n_accounts);
                    uint32_t d = (uint32_t)(rng_next(b) % b->n_accounts);
                    d = d == s ? (d + 1u) % b->n_accounts : d;
                    pp[j] = (struct lg_posting){str(b->addr[s]), str(b->addr[d]),
                                                1u + rng_next(b) % 100u, str("USD/2")};
                }
            }
            cmds[c].kind = LG_CMD_SUBMIT;
            cmds[c].timestamp_us = ++b->ts;
            cmds[c].u.submit = (struct lg_cmd_submit){.ledger = str("bench"), .postings = pp,
                                                      .n_postings = k};
            if (b->references) {
                snprintf(refs[c], REF_MAX, "r%llu", (unsigned long long)++b->n_refs);
                cmds[c].u.submit.reference = str(refs[c]);
            }
        }
        run_entry(b, cmds, m, ok);
        done += m;
    }
    double t = now_s() - t0;
    *cpu = cpu_s() - c0;
    free(cmds);
    free(p);
    free(refs);
    return t;
}

int main(int argc, char **argv)
{
    uint32_t accounts = 100000;
    uint64_t tx1 = 1000000;
    uint64_t tx5 = 200000;
    struct bench b;
    memset(&b, 0, sizeof b);
    b.batch = 1000;
    b.prefault = true;
    b.rng = 0x9E3779B97F4A7C15ull;
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--accounts") == 0 && i + 1 < argc) {
            accounts = (uint32_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--tx") == 0 && i + 1 < argc) {
            tx1 = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--tx5") == 0 && i + 1 < argc) {
            tx5 = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) {
            b.batch = (uint32_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--decode") == 0) {
            b.decode = true;
        } else if (strcmp(argv[i], "--no-prefault") == 0) {
            b.prefault = false;
        } else if (strcmp(argv[i], "--references") == 0) {
            b.references = true;
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            dir = argv[++i];
        } else {
            fprintf(stderr, "usage: %s [--accounts N] [--tx N] [--tx5 N] [--batch N] "
                            "[--decode] [--references] [--no-prefault] [--dir PATH]\n",
                    argv[0]);
            return 2;
        }
    }
    if (b.prefault) {
        lg_mem_tune(); /* as `ledger-node serve` does (lib/mem.h) */
    }
    if (accounts < 2 || b.batch == 0 || b.batch > LG_BATCH_COMMANDS_MAX) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    char tmp[] = "/tmp/bench-fsm-XXXXXX";
    if (dir == NULL) {
        dir = mkdtemp(tmp);
        if (dir == NULL) {
            perror("mkdtemp");
            return 1;
        }
    }
    char jdir[4096];
    char sdir[4096];
    snprintf(jdir, sizeof jdir, "%s/journal", dir);
    snprintf(sdir, sizeof sdir, "%s/state", dir);
    b.n_accounts = accounts;
    b.addr = calloc(accounts, sizeof *b.addr);
    for (uint32_t i = 0; i < accounts; i++) {
        snprintf(b.addr[i], ADDR_MAX, "users:%u:main", i);
    }
    lg_buf_init(&b.buf);
    struct lg_fsm_options o = {.journal_dir = jdir, .state_dir = sdir, .create = true};
    char err[LG_ERRMSG_SIZE];
    if (lg_fsm_open(&b.f, &o, err) != LG_OK) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    printf("bench-fsm: %u accounts, batch %u, %s%s\n", accounts, b.batch,
           b.decode ? "decoding included (lg_fsm_apply)" : "pre-decoded (lg_fsm_apply_batch)",
           b.references ? ", a reference on every transaction" : "");
    uint64_t ok = 0;
    long rss0 = rss_bytes();
    double cpu;
    double t = phase(&b, accounts, 1, true, &ok, &cpu);
    long rss1 = rss_bytes();
    printf("fund      %10u tx  %8.3f s  %10.0f tx/s  %10.0f tx/cpu-s  (creates the accounts)\n",
           accounts, t, accounts / t, accounts / cpu);
    if (!b.prefault) { /* prefaulting populates the heap ahead: RSS says nothing then */
        printf("memory    %10.1f resident bytes per account (1 asset, 1 tx indexed; state + "
               "indexes)\n", (double)(rss1 - rss0) / accounts);
    }
    ok = 0;
    t = phase(&b, tx1, 1, false, &ok, &cpu);
    printf("1-posting %10llu tx  %8.3f s  %10.0f tx/s  %10.0f tx/cpu-s  (%llu committed)\n",
           (unsigned long long)tx1, t, (double)tx1 / t, (double)tx1 / cpu,
           (unsigned long long)ok);
    ok = 0;
    t = phase(&b, tx5, 5, false, &ok, &cpu);
    printf("5-posting %10llu tx  %8.3f s  %10.0f tx/s  %10.0f tx/cpu-s  %10.0f postings/s  "
           "(%llu committed)\n", (unsigned long long)tx5, t, (double)tx5 / t,
           (double)tx5 / cpu, (double)tx5 * 5 / t, (unsigned long long)ok);
    struct lg_buf snap;
    lg_buf_init(&snap);
    double j0 = now_s();
    if (lg_journal_sync(lg_fsm_journal(b.f)) != LG_OK) {
        fprintf(stderr, "journal sync failed\n");
        return 1;
    }
    printf("jsync     %8.3f s  (the journal's fsync alone, before the snapshot)\n",
           now_s() - j0);
    double s0 = now_s();
    if (lg_fsm_snapshot(b.f, &snap) != LG_OK) {
        fprintf(stderr, "snapshot: %s\n", lg_fsm_errmsg(b.f));
        return 1;
    }
    printf("snapshot  %10.1f MiB  %8.3f s  (lg_fsm_snapshot: the journal synced just above, "
           "tree fsync, state encode)\n", (double)snap.len / 1048576.0, now_s() - s0);
    lg_buf_close(&snap);
    printf("journal   %llu records, RSS %.1f MiB\n",
           (unsigned long long)lg_fsm_last_seq(b.f), (double)rss_bytes() / 1048576.0);
    lg_fsm_abandon(b.f);
    lg_buf_close(&b.buf);
    free(b.addr);
    if (dir == tmp) {
        char cmd[4200];
        snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
        if (system(cmd) != 0) {
            fprintf(stderr, "could not remove %s\n", tmp);
        }
    }
    return 0;
}
