/* bench-merkle: the Merkle tree's costs at scale (docs/benchmarks.md, "Merkle tree").
 *
 * Builds a tree of N leaves straight through the lib/merkle API (no FSM, no journal) from
 * synthetic record bodies that a source regenerates on demand (a proof reads at most two),
 * then measures, single thread:
 *   append     leaves per second (leaf hash + the subtrees each completes, buffered writes)
 *   storage    bytes of tree file per record
 *   reopen     time to open the synced tree again (no recomputation expected)
 *   inclusion  proofs per second (random leaf, current size; and random older sizes)
 *   verify     inclusion proofs checked per second with lib/proofcheck (leaf hash included)
 *   consistency proofs per second (random from_size, current size) and their checks
 *
 *   bench-merkle [--records N] [--proofs N] [--body BYTES] [--dir PATH] [--journal]
 *
 * --journal: the bodies are also appended to a journal in DIR/journal and the tree reads
 * leaves from it (lg_merkle_source_journal), as in a node: a proof then pays one journal
 * read (index lookup, forward scan, CRC and chain check) for its sibling leaf.
 *
 * Defaults: 10 000 000 records of 250 bytes, 200 000 proofs, a temporary directory under
 * /tmp (removed at the end). Hot page cache: the tree file is read back right after it is
 * written (4 GiB+ of RAM on the machines we run it on). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "journal.h"
#include "merkle.h"
#include "proofcheck.h"

#define BODY_MAX 4096u

struct synth {
    uint32_t body_len;
    uint64_t reads;
};

static uint64_t mix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15u;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9u;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBu;
    return x ^ (x >> 31);
}

static void synth_body(uint64_t i, uint8_t *out, uint32_t len)
{
    for (uint32_t k = 0; k < len; k += 8) {
        uint64_t v = mix(i * 1024u + k);
        uint32_t n = len - k < 8u ? len - k : 8u;
        memcpy(out + k, &v, n);
    }
}

static int synth_read(void *arg, uint64_t first, uint64_t count, lg_merkle_leaf_cb leaf,
                      void *leaf_arg)
{
    struct synth *s = arg;
    uint8_t body[BODY_MAX];
    for (uint64_t i = first; i < first + count; i++) {
        synth_body(i, body, s->body_len);
        s->reads++;
        int rc = leaf(leaf_arg, i, body, s->body_len);
        if (rc != LG_OK) {
            return rc;
        }
    }
    return LG_OK;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static uint64_t rng_state = 0x2545F4914F6CDD1Du;
static uint64_t rng_below(uint64_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state % n;
}

static void line(const char *what, uint64_t n, double wall, double cpu, const char *unit)
{
    printf("%-12s %10llu %-8s %8.3f s %12.0f /s %12.0f /cpu-s\n", what, (unsigned long long)n,
           unit, wall, (double)n / wall, (double)n / (cpu > 0 ? cpu : wall));
}

static int die(const char *what, int rc, const char *msg)
{
    fprintf(stderr, "bench-merkle: %s: %s (%s)\n", what, msg, lg_err_name(rc));
    return 1;
}

int main(int argc, char **argv)
{
    uint64_t records = 10000000u;
    uint64_t proofs = 200000u;
    uint32_t body = 250u;
    const char *dir_arg = NULL;
    bool use_journal = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--records") == 0 && i + 1 < argc) {
            records = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--proofs") == 0 && i + 1 < argc) {
            proofs = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--body") == 0 && i + 1 < argc) {
            body = (uint32_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--journal") == 0) {
            use_journal = true;
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            dir_arg = argv[++i];
        } else {
            fprintf(stderr, "usage: bench-merkle [--records N] [--proofs N] [--body BYTES] "
                            "[--dir PATH]\n");
            return 2;
        }
    }
    if (records < 2 || body == 0 || body > BODY_MAX || proofs == 0) {
        fprintf(stderr, "bench-merkle: need --records >= 2, 1 <= --body <= %u\n", BODY_MAX);
        return 2;
    }
    char tmpl[] = "/tmp/bench-merkle-XXXXXX";
    const char *dir = dir_arg;
    if (dir == NULL) {
        dir = mkdtemp(tmpl);
        if (dir == NULL) {
            perror("mkdtemp");
            return 1;
        }
    }
    struct synth s = {body, 0};
    struct lg_merkle_source src = {.read = synth_read, .arg = &s};
    struct lg_merkle *t = NULL;
    char err[LG_ERRMSG_SIZE];
    struct lg_journal *j = NULL;
    char jdir[4200];
    snprintf(jdir, sizeof jdir, "%s/journal", dir);
    int rc;
    if (use_journal) {
        struct lg_journal_options jo = {.create = true};
        rc = lg_journal_open(&j, jdir, &jo, err, NULL);
        if (rc != LG_OK) {
            return die("journal open", rc, err);
        }
        lg_merkle_source_journal(&src, j);
    }
    rc = lg_merkle_open(&t, use_journal ? jdir : dir, &src, 0, err);
    if (rc != LG_OK) {
        return die("open", rc, err);
    }

    /* append */
    uint8_t buf[BODY_MAX];
    double w0 = now_s();
    double c0 = cpu_s();
    for (uint64_t i = 0; i < records; i++) {
        synth_body(i, buf, body);
        if (j != NULL && (rc = lg_journal_append(j, buf, body, NULL, NULL)) != LG_OK) {
            return die("journal append", rc, lg_journal_errmsg(j));
        }
        rc = lg_merkle_append(t, buf, body);
        if (rc != LG_OK) {
            return die("append", rc, lg_merkle_errmsg(t));
        }
    }
    if (j != NULL && (rc = lg_journal_sync(j)) != LG_OK) {
        return die("journal sync", rc, lg_journal_errmsg(j));
    }
    rc = lg_merkle_sync(t);
    if (rc != LG_OK) {
        return die("sync", rc, lg_merkle_errmsg(t));
    }
    line(j != NULL ? "append+jrnl" : "append", records, now_s() - w0, cpu_s() - c0, "leaves");
    /* the body generator alone, to subtract */
    w0 = now_s();
    c0 = cpu_s();
    uint64_t sink = 0;
    for (uint64_t i = 0; i < records; i++) {
        synth_body(i, buf, body);
        sink += buf[i % body];
    }
    line("(bodies)", records, now_s() - w0, cpu_s() - c0, "bodies");
    uint64_t bytes = lg_merkle_storage_bytes(t);
    printf("storage      %llu bytes for %llu records: %.2f bytes per record (%u-byte bodies)\n",
           (unsigned long long)bytes, (unsigned long long)records,
           (double)bytes / (double)records, body);
    lg_merkle_close(t);

    /* reopen */
    s.reads = 0;
    w0 = now_s();
    rc = lg_merkle_open(&t, use_journal ? jdir : dir, &src, records, err);
    if (rc != LG_OK) {
        return die("reopen", rc, err);
    }
    printf("reopen       %.6f s, %llu bodies read\n", now_s() - w0,
           (unsigned long long)s.reads);
    uint8_t root[LG_MERKLE_HASH_BYTES];
    rc = lg_merkle_root(t, records, root);
    if (rc != LG_OK) {
        return die("root", rc, lg_merkle_errmsg(t));
    }

    /* inclusion proofs at the current size */
    uint8_t (*paths)[LG_MERKLE_PROOF_MAX][LG_MERKLE_HASH_BYTES] =
        malloc(sizeof *paths * (size_t)(proofs < 100000u ? proofs : 100000u));
    size_t *lens = malloc(sizeof *lens * (size_t)(proofs < 100000u ? proofs : 100000u));
    uint64_t *leaves = malloc(sizeof *leaves * (size_t)(proofs < 100000u ? proofs : 100000u));
    if (paths == NULL || lens == NULL || leaves == NULL) {
        return die("malloc", LG_ENOMEM, "proof buffers");
    }
    uint64_t keep = proofs < 100000u ? proofs : 100000u;
    s.reads = 0;
    w0 = now_s();
    c0 = cpu_s();
    for (uint64_t p = 0; p < proofs; p++) {
        uint64_t k = p % keep;
        leaves[k] = rng_below(records);
        rc = lg_merkle_inclusion(t, leaves[k], records, paths[k], LG_MERKLE_PROOF_MAX,
                                 &lens[k]);
        if (rc != LG_OK) {
            return die("inclusion", rc, lg_merkle_errmsg(t));
        }
    }
    line("inclusion", proofs, now_s() - w0, cpu_s() - c0, "proofs");
    /* again, with the tree's pages mapped (steady state of a serving node) */
    w0 = now_s();
    c0 = cpu_s();
    for (uint64_t p = 0; p < proofs; p++) {
        uint64_t k = p % keep;
        rc = lg_merkle_inclusion(t, leaves[k], records, paths[k], LG_MERKLE_PROOF_MAX,
                                 &lens[k]);
        if (rc != LG_OK) {
            return die("inclusion", rc, lg_merkle_errmsg(t));
        }
    }
    line("inclusion²", proofs, now_s() - w0, cpu_s() - c0, "proofs");
    if (j == NULL) {
        printf("             %.2f hashes per proof, %.2f bodies read per proof\n",
               (double)lens[0], (double)s.reads / (2.0 * (double)proofs));
    }

    /* verify them (the leaf hash from the body is part of a verification) */
    w0 = now_s();
    c0 = cpu_s();
    uint64_t bad = 0;
    for (uint64_t p = 0; p < proofs; p++) {
        uint64_t k = p % keep;
        synth_body(leaves[k], buf, body);
        uint8_t leaf[LG_PROOFCHECK_HASH_BYTES];
        lg_proofcheck_leaf_hash(buf, body, leaf);
        if (lg_proofcheck_inclusion(leaves[k], records, leaf, paths[k][0], lens[k], root) !=
            LG_OK) {
            bad++;
        }
    }
    line("verify", proofs, now_s() - w0, cpu_s() - c0, "proofs");
    if (bad != 0) {
        fprintf(stderr, "bench-merkle: %llu proofs did not verify\n", (unsigned long long)bad);
        return 1;
    }

    /* inclusion proofs at random older sizes (root of that size computed too) */
    w0 = now_s();
    c0 = cpu_s();
    uint64_t n_old = proofs / 4u > 0 ? proofs / 4u : 1u;
    for (uint64_t p = 0; p < n_old; p++) {
        uint64_t size = 1u + rng_below(records);
        uint64_t leaf = rng_below(size);
        size_t len = 0;
        rc = lg_merkle_inclusion(t, leaf, size, paths[0], LG_MERKLE_PROOF_MAX, &len);
        if (rc == LG_OK) {
            rc = lg_merkle_root(t, size, root);
        }
        if (rc != LG_OK) {
            return die("inclusion (old size)", rc, lg_merkle_errmsg(t));
        }
    }
    line("incl+root@m", n_old, now_s() - w0, cpu_s() - c0, "proofs");

    /* consistency proofs from a random size to the current one, and their checks */
    rc = lg_merkle_root(t, records, root);
    if (rc != LG_OK) {
        return die("root", rc, lg_merkle_errmsg(t));
    }
    uint64_t *froms = leaves;
    w0 = now_s();
    c0 = cpu_s();
    for (uint64_t p = 0; p < n_old; p++) {
        uint64_t k = p % keep;
        froms[k] = 1u + rng_below(records - 1u);
        rc = lg_merkle_consistency(t, froms[k], records, paths[k], LG_MERKLE_PROOF_MAX,
                                   &lens[k]);
        if (rc != LG_OK) {
            return die("consistency", rc, lg_merkle_errmsg(t));
        }
    }
    line("consistency", n_old, now_s() - w0, cpu_s() - c0, "proofs");
    uint8_t (*old_roots)[LG_MERKLE_HASH_BYTES] = malloc(sizeof *old_roots * (size_t)keep);
    if (old_roots == NULL) {
        return die("malloc", LG_ENOMEM, "roots");
    }
    uint64_t n_check = n_old < keep ? n_old : keep;
    for (uint64_t p = 0; p < n_check; p++) {
        rc = lg_merkle_root(t, froms[p], old_roots[p]);
        if (rc != LG_OK) {
            return die("root", rc, lg_merkle_errmsg(t));
        }
    }
    w0 = now_s();
    c0 = cpu_s();
    for (uint64_t p = 0; p < n_check; p++) {
        if (lg_proofcheck_consistency(froms[p], records, old_roots[p], root, paths[p][0],
                                      lens[p]) != LG_OK) {
            bad++;
        }
    }
    line("cons-verify", n_check, now_s() - w0, cpu_s() - c0, "proofs");
    if (bad != 0) {
        fprintf(stderr, "bench-merkle: %llu consistency proofs did not verify\n",
                (unsigned long long)bad);
        return 1;
    }
    printf("(checksum %llu)\n", (unsigned long long)(sink & 0xff));
    free(old_roots);
    free(paths);
    free(lens);
    free(leaves);
    lg_merkle_close(t);
    lg_journal_close(j);
    if (dir_arg == NULL) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) {
            fprintf(stderr, "bench-merkle: could not remove %s\n", dir);
        }
    }
    return 0;
}
