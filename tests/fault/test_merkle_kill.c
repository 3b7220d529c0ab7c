/* test_merkle_kill: SIGKILL at a random moment never leaves a Merkle tree that disagrees
 * with the journal once it is reopened.
 *
 * Goal: lib/merkle's reconciliation under real crashes. The tree file is written without
 * fsync and with a buffer 16 times smaller than the journal's, so a kill leaves it ahead
 * of the journal's durable records (truncated at open), behind them (extended), or with a
 * hash half written (recomputed); after reopen its size is the journal's, its root is RFC
 * 9162's over the journal's bodies and every stored hash passes lg_merkle_check.
 *
 * Method: a child process appends records (bodies derived from seq by lgt_journal_body) to
 * a journal and its tree, as the state machine does, syncing the journal and then the tree
 * every few batches, until the parent kills it with SIGKILL after a random delay (seeded
 * by lgt_seed()). The parent reopens both, compares with a naive recursive root over the
 * bodies read back, checks random inclusion proofs with lib/proofcheck, and lets the next
 * round continue the same files. Every loop is bounded in count and time. */
#include <criterion/criterion.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "journal.h"
#include "lgt.h"
#include "merkle.h"
#include "proofcheck.h"

#define ROUNDS 8
#define BODY_CAP 300u
#define SEGMENT_BYTES (256u * 1024u)
#define CHILD_BATCHES_MAX 1000000u
#define CHILD_SECONDS_MAX 20
#define H 32u

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static struct lg_journal *jopen(const char *dir)
{
    struct lg_journal_options o = {.segment_bytes_max = SEGMENT_BYTES, .create = true};
    struct lg_journal *j = NULL;
    char err[LG_ERRMSG_SIZE];
    int rc = lg_journal_open(&j, dir, &o, err, NULL);
    if (rc != LG_OK) {
        fprintf(stderr, "journal open: %s\n", err);
        return NULL;
    }
    return j;
}

static struct lg_merkle *topen(const char *dir, struct lg_journal *j)
{
    struct lg_merkle_source src;
    lg_merkle_source_journal(&src, j);
    struct lg_merkle *t = NULL;
    char err[LG_ERRMSG_SIZE];
    if (lg_merkle_open(&t, dir, &src, lg_journal_last_seq(j), err) != LG_OK) {
        fprintf(stderr, "merkle open: %s\n", err);
        return NULL;
    }
    return t;
}

/* The child: append to journal and tree, sync both now and then, until killed. */
static _Noreturn void child_run(const char *dir, int fd, uint64_t seed)
{
    struct lg_journal *j = jopen(dir);
    struct lg_merkle *t = j != NULL ? topen(dir, j) : NULL;
    if (t == NULL) {
        _exit(2);
    }
    struct lgt_rng r;
    lgt_rng_init(&r, seed);
    uint8_t body[BODY_CAP];
    uint64_t start = now_ms();
    for (uint32_t b = 0; b < CHILD_BATCHES_MAX; b++) {
        uint64_t n = 1 + lgt_rng_below(&r, 200);
        for (uint64_t i = 0; i < n; i++) {
            uint64_t seq = lg_journal_last_seq(j) + 1;
            uint32_t len = lgt_journal_body(seq, 0, body, BODY_CAP);
            if (lg_journal_append(j, body, len, NULL, NULL) != LG_OK ||
                lg_merkle_append(t, body, len) != LG_OK) {
                _exit(3);
            }
        }
        if (lgt_rng_below(&r, 64) == 0) {
            /* the FSM's order: journal first, then the tree */
            if (lg_journal_sync(j) != LG_OK || lg_merkle_sync(t) != LG_OK) {
                _exit(4);
            }
        }
        uint64_t done = lg_journal_last_seq(j);
        if (write(fd, &done, sizeof done) != (ssize_t)sizeof done) {
            _exit(5);
        }
        if (now_ms() - start > CHILD_SECONDS_MAX * 1000u) {
            break;
        }
    }
    _exit(0);
}

static void mth(uint8_t (*leaf)[H], uint64_t lo, uint64_t hi, uint8_t out[H])
{
    if (hi == lo) {
        lg_proofcheck_empty_root(out);
        return;
    }
    if (hi - lo == 1) {
        memcpy(out, leaf[lo], H);
        return;
    }
    uint64_t k = 1;
    while (2u * k < hi - lo) {
        k *= 2u;
    }
    uint8_t buf[1 + 2 * H];
    buf[0] = 1;
    mth(leaf, lo, lo + k, buf + 1);
    mth(leaf, lo + k, hi, buf + 1 + H);
    unsigned int olen = 0;
    cr_assert(EVP_Digest(buf, sizeof buf, out, &olen, EVP_sha256(), NULL) == 1);
}

/* Reopen after a kill: the tree is the journal's. */
static void check_after_kill(const char *dir, struct lgt_rng *r)
{
    struct lg_journal *j = jopen(dir);
    cr_assert_not_null(j);
    struct lg_merkle *t = topen(dir, j);
    cr_assert_not_null(t);
    uint64_t n = lg_journal_last_seq(j);
    cr_assert_eq(lg_merkle_size(t), n);
    uint8_t (*leaf)[H] = calloc(n + 1u, H);
    cr_assert_not_null(leaf);
    uint8_t body[BODY_CAP];
    for (uint64_t s = 1; s <= n; s++) {
        uint32_t len = lgt_journal_body(s, 0, body, BODY_CAP);
        lg_proofcheck_leaf_hash(body, len, leaf[s - 1u]);
    }
    uint8_t want[H], root[H];
    mth(leaf, 0, n, want);
    cr_assert_eq(lg_merkle_root(t, n, root), LG_OK);
    cr_assert(memcmp(root, want, H) == 0, "root after reopen at size %llu",
              (unsigned long long)n);
    uint8_t path[LG_MERKLE_PROOF_MAX][H];
    for (int k = 0; k < 200 && n > 0; k++) {
        /* mostly the current size (root known), sometimes an older one (root recomputed) */
        uint64_t size = k % 20 == 19 ? 1u + lgt_rng_below(r, n) : n;
        uint64_t i = lgt_rng_below(r, size);
        size_t len = 0;
        cr_assert_eq(lg_merkle_inclusion(t, i, size, path, LG_MERKLE_PROOF_MAX, &len), LG_OK);
        if (size == n) {
            memcpy(want, root, H);
        } else {
            mth(leaf, 0, size, want);
        }
        cr_assert_eq(lg_proofcheck_inclusion(i, size, leaf[i], path[0], len, want), LG_OK);
    }
    free(leaf);
    cr_assert_eq(lg_merkle_sync(t), LG_OK);
    cr_assert_eq(lg_merkle_close(t), LG_OK);
    struct lg_merkle_source src;
    lg_merkle_source_journal(&src, j);
    struct lg_merkle_check_report rep;
    char err[LG_ERRMSG_SIZE];
    cr_assert_eq(lg_merkle_check(dir, &src, n, NULL, NULL, &rep, err), LG_OK, "%s", err);
    cr_assert_eq(rep.covered, n);
    cr_assert_eq(rep.hashes_checked, n - (uint64_t)__builtin_popcountll(n));
    cr_assert_eq(lg_journal_close(j), LG_OK);
}

Test(merkle_kill, tree_matches_journal_after_sigkill, .timeout = 300)
{
    char dir[LGT_PATH_MAX];
    lgt_tmpdir(dir);
    struct lgt_rng r;
    lgt_rng_init(&r, lgt_seed());
    uint64_t progress = 0;
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
        uint64_t deadline = now_ms() + 30 + lgt_rng_below(&r, 400);
        bool eof = false;
        while (!eof && now_ms() < deadline) {
            struct pollfd p = {.fd = fds[0], .events = POLLIN};
            int wait = (int)(deadline - now_ms());
            if (poll(&p, 1, wait > 0 ? wait : 0) > 0) {
                uint64_t v;
                if (read(fds[0], &v, sizeof v) == (ssize_t)sizeof v) {
                    progress = v > progress ? v : progress;
                } else {
                    eof = true;
                }
            }
        }
        cr_assert_eq(kill(pid, SIGKILL), 0);
        int status = 0;
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        close(fds[0]);
        cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                  "round %d: child ended on its own (status %d)", round, status);
        check_after_kill(dir, &r);
    }
    cr_assert_gt(progress, 1000, "the child made too little progress to test anything");
    lgt_rmtree(dir);
}
