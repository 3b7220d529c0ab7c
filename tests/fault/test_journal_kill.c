/* test_journal_kill: SIGKILL at a random moment never loses a synced journal record.
 *
 * Goal: DESIGN §1.1 at the journal level. Every seq that lg_journal_sync() confirmed before
 * the kill is present after reopen with the right body, the whole chain verifies, and
 * appending continues from there.
 *
 * Method: a child process appends batches of records (bodies derived from seq by
 * lgt_journal_body, so the parent can recompute them) into small segments (so kills also
 * land during rolls), syncs after each batch and reports the synced seq through a pipe.
 * The parent kills it with SIGKILL after a random delay (seeded by lgt_seed()), reaps it,
 * reopens the journal and checks. Several rounds continue the same journal. Every loop is
 * bounded in count and time. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "journal.h"
#include "lgt.h"

#define ROUNDS 8
#define BODY_CAP 400u
#define SEGMENT_BYTES (64u * 1024u)
#define CHILD_BATCHES_MAX 1000000u
#define CHILD_SECONDS_MAX 20

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The child: append and sync until killed (or its own bounds run out). Never returns. */
static _Noreturn void child_run(const char *dir, int fd, uint64_t seed)
{
    struct lg_journal_options o = {.segment_bytes_max = SEGMENT_BYTES, .index_every = 8,
                                   .create = true};
    struct lg_journal *j = NULL;
    char err[LG_ERRMSG_SIZE];
    if (lg_journal_open(&j, dir, &o, err, NULL) != LG_OK) {
        fprintf(stderr, "child open: %s\n", err);
        _exit(2);
    }
    struct lgt_rng r;
    lgt_rng_init(&r, seed);
    uint8_t body[BODY_CAP];
    uint64_t start = now_ms();
    for (uint32_t b = 0; b < CHILD_BATCHES_MAX; b++) {
        uint64_t n = 1 + lgt_rng_below(&r, 30);
        for (uint64_t i = 0; i < n; i++) {
            uint64_t seq = lg_journal_last_seq(j) + 1;
            uint32_t len = lgt_journal_body(seq, 0, body, BODY_CAP);
            if (lg_journal_append(j, body, len, NULL, NULL) != LG_OK) {
                _exit(3);
            }
        }
        if (lg_journal_sync(j) != LG_OK) {
            _exit(4);
        }
        uint64_t synced = lg_journal_last_seq(j);
        if (write(fd, &synced, sizeof synced) != (ssize_t)sizeof synced) {
            _exit(5);
        }
        if (now_ms() - start > CHILD_SECONDS_MAX * 1000u) {
            break;
        }
    }
    _exit(0);
}

/* Check the journal after a kill: everything up to synced is there and right. Returns the
 * last seq. */
static uint64_t check_after_kill(const char *dir, uint64_t synced)
{
    struct lg_journal_options o = {.segment_bytes_max = SEGMENT_BYTES, .index_every = 8};
    struct lg_journal *j = NULL;
    char err[LG_ERRMSG_SIZE];
    int rc = lg_journal_open(&j, dir, &o, err, NULL);
    cr_assert_eq(rc, LG_OK, "reopen: %s %s", lg_err_name(rc), err);
    uint64_t last = lg_journal_last_seq(j);
    cr_assert_geq(last, synced, "lost synced records: last %llu < synced %llu",
                  (unsigned long long)last, (unsigned long long)synced);
    cr_assert_eq(lg_journal_verify(j, 1, NULL, NULL), LG_OK, "%s", lg_journal_errmsg(j));
    uint8_t body[BODY_CAP];
    uint8_t hash[LG_HASH_BYTES] = {0};
    struct lg_journal_iter it;
    cr_assert_eq(lg_journal_iter_init(&it, j, 1, 0), LG_OK);
    struct lg_journal_record rec;
    for (uint64_t seq = 1; seq <= last; seq++) {
        cr_assert_eq(lg_journal_iter_next(&it, &rec), 1, "seq %llu: %s",
                     (unsigned long long)seq, lg_journal_errmsg(j));
        uint32_t len = lgt_journal_body(seq, 0, body, BODY_CAP);
        cr_assert_eq(rec.body_len, len, "seq %llu", (unsigned long long)seq);
        cr_assert_arr_eq(rec.body, body, len);
        lg_journal_chain_hash(hash, body, len, hash);
        cr_assert_arr_eq(rec.hash, hash, LG_HASH_BYTES);
    }
    cr_assert_eq(lg_journal_iter_next(&it, &rec), 0);
    /* Appending continues the chain. */
    uint32_t len = lgt_journal_body(last + 1, 0, body, BODY_CAP);
    uint64_t seq = 0;
    uint8_t got[LG_HASH_BYTES];
    cr_assert_eq(lg_journal_append(j, body, len, &seq, got), LG_OK);
    cr_assert_eq(seq, last + 1);
    lg_journal_chain_hash(hash, body, len, hash);
    cr_assert_arr_eq(got, hash, LG_HASH_BYTES);
    cr_assert_eq(lg_journal_sync(j), LG_OK);
    cr_assert_eq(lg_journal_close(j), LG_OK);
    return last + 1;
}

Test(journal_kill, synced_records_survive_sigkill, .timeout = 300)
{
    char dir[LGT_PATH_MAX];
    lgt_tmpdir(dir);
    struct lgt_rng r;
    lgt_rng_init(&r, lgt_seed());
    uint64_t synced_total = 0;
    for (int round = 0; round < ROUNDS; round++) {
        int fds[2];
        cr_assert_eq(pipe(fds), 0);
        uint64_t child_seed = lgt_rng_next(&r);
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
            close(fds[0]);
            child_run(dir, fds[1], child_seed);
        }
        close(fds[1]);
        uint64_t delay_ms = 20 + lgt_rng_below(&r, 400);
        uint64_t deadline = now_ms() + delay_ms;
        uint64_t synced = 0;
        bool eof = false;
        while (!eof && now_ms() < deadline) {
            struct pollfd p = {.fd = fds[0], .events = POLLIN};
            int wait = (int)(deadline - now_ms());
            if (poll(&p, 1, wait > 0 ? wait : 0) > 0) {
                uint64_t v;
                ssize_t n = read(fds[0], &v, sizeof v);
                if (n == (ssize_t)sizeof v) {
                    synced = v;
                } else {
                    eof = true;
                }
            }
        }
        cr_assert_eq(kill(pid, SIGKILL), 0);
        int status = 0;
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        /* Reports written before the kill count as synced too. */
        uint64_t v;
        while (read(fds[0], &v, sizeof v) == (ssize_t)sizeof v) {
            synced = v;
        }
        close(fds[0]);
        cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                  "round %d: child ended on its own (status %d)", round, status);
        if (synced > synced_total) {
            synced_total = synced;
        }
        uint64_t last = check_after_kill(dir, synced_total);
        synced_total = last; /* the parent's append was synced too */
    }
    cr_assert_gt(synced_total, 100, "the child made too little progress to test anything");
    lgt_rmtree(dir);
}
