/* verify: `ledger-node verify --data DIR` checks a node's journal offline. Every record's
 * header and body CRC, every index entry and the whole hash chain are checked, then every
 * hash stored in the Merkle tree file beside the journal (docs/verification.md) against the
 * tree recomputed from the records; the first problem is printed with its seq, file and
 * offset and the exit code is 1. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "journal.h"
#include "merkle.h"

static const char verify_usage[] =
    "usage: ledger-node verify --data DIR\n"
    "\n"
    "Checks the journal in DIR/journal (a node's data directory) or DIR itself when it\n"
    "holds journal segments: every CRC and the whole SHA-256 chain. Prints the record\n"
    "count and chain head; on damage prints the first bad seq, file and offset and exits 1.\n"
    "Then checks every hash of the Merkle tree file (.merkle, beside the segments) against\n"
    "the tree of the records and prints its root.\n"
    "\n"
    "Proofs from a running cluster against digests saved earlier (`verify --tx 1 --help`):\n"
    "       ledger-node verify --tx ID [--ledger L] --digest FILE\n"
    "       ledger-node verify --from FILE --to FILE\n";

static void verify_progress(void *arg, uint64_t seq_done, uint64_t seq_last)
{
    (void)arg;
    if (isatty(STDERR_FILENO)) {
        fprintf(stderr, "\rverify: %llu / %llu records", (unsigned long long)seq_done,
                (unsigned long long)seq_last);
    }
}

static void verify_tree_progress(void *arg, uint64_t done, uint64_t total)
{
    (void)arg;
    if (isatty(STDERR_FILENO)) {
        fprintf(stderr, "\rverify: merkle tree %llu / %llu records", (unsigned long long)done,
                (unsigned long long)total);
    }
}

static int verify_open(const char *data, struct lg_journal **j, char *errmsg,
                       struct lg_journal_corruption *bad, char path[4096])
{
    struct lg_journal_options opts = {0};
    opts.create = false;
    opts.read_only = true; /* a checker never writes: a torn tail is reported, not cut */
    snprintf(path, 4096, "%s/journal", data);
    if (access(path, F_OK) != 0) {
        snprintf(path, 4096, "%s", data);
    }
    return lg_journal_open(j, path, &opts, errmsg, bad);
}

/* Every stored hash of <dir>/.merkle against the tree of j's records (read-only). An absent
 * or short file is not damage: the node rebuilds or extends it when it opens the journal. */
static int verify_tree(struct lg_journal *j, const char *dir)
{
    struct lg_merkle_source src;
    lg_merkle_source_journal(&src, j);
    struct lg_merkle_check_report rep;
    char errmsg[LG_ERRMSG_SIZE] = "";
    uint64_t n = lg_journal_last_seq(j);
    int rv = lg_merkle_check(dir, &src, n, verify_tree_progress, NULL, &rep, errmsg);
    if (isatty(STDERR_FILENO)) {
        fputc('\n', stderr);
    }
    if (rv == LG_ENOTFOUND) {
        printf("merkle tree: no %s file (the node rebuilds it from the journal at start)\n",
               LG_MERKLE_FILE);
        return LG_CMD_EXIT_OK;
    }
    if (rv == LG_ECORRUPT) {
        return lg_cmd_fail(LG_CMD_EXIT_FAILED,
                           "verify: MERKLE TREE CORRUPT at seq %llu, %s offset %llu: %s "
                           "(history is intact; remove the file and the node rebuilds it)",
                           (unsigned long long)rep.bad_seq, LG_MERKLE_FILE,
                           (unsigned long long)rep.bad_offset, errmsg);
    }
    if (rv != LG_OK) {
        return lg_cmd_fail(LG_CMD_EXIT_UNAVAIL, "verify: cannot check the merkle tree: %s (%s)",
                           errmsg, lg_err_name(rv));
    }
    char root_hex[2 * LG_MERKLE_HASH_BYTES + 1];
    lg_cmd_hex(rep.root, LG_MERKLE_HASH_BYTES, root_hex);
    printf("merkle tree ok: %llu stored hashes checked, tree size %llu, root %s\n",
           (unsigned long long)rep.hashes_checked, (unsigned long long)n, root_hex);
    if (rep.covered < n) {
        printf("note: the tree file covers %llu of %llu records (written without fsync; the "
               "node extends it when it opens the journal)\n",
               (unsigned long long)rep.covered, (unsigned long long)n);
    }
    if (rep.extra_hashes > 0) {
        printf("note: the tree file holds %llu hashes beyond the %llu records (written for "
               "records a torn journal tail lost, after the last sync; the node cuts them when "
               "it opens the journal)\n",
               (unsigned long long)rep.extra_hashes, (unsigned long long)n);
    }
    if (rep.partial_bytes > 0) {
        printf("note: the tree file ends in %u bytes of a partial hash (a write cut by a "
               "crash; the node cuts them when it opens the journal)\n",
               (unsigned)rep.partial_bytes);
    }
    return LG_CMD_EXIT_OK;
}

int lg_cmd_verify(int argc, char **argv)
{
    if (lg_cmd_verify_is_online(argc, argv)) {
        return lg_cmd_verify_online(argc, argv); /* proofs from a cluster: verify_proof.c */
    }
    const char *data = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(verify_usage, stdout);
            return LG_CMD_EXIT_OK;
        }
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc) {
            data = argv[++i];
        } else {
            fputs(verify_usage, stderr);
            return lg_cmd_fail(LG_CMD_EXIT_USAGE, "verify: unexpected argument '%s'", argv[i]);
        }
    }
    if (data == NULL) {
        fputs(verify_usage, stderr);
        return lg_cmd_fail(LG_CMD_EXIT_USAGE, "verify: --data DIR is required");
    }

    struct lg_journal *j = NULL;
    char errmsg[LG_ERRMSG_SIZE] = "";
    struct lg_journal_corruption bad;
    memset(&bad, 0, sizeof bad);
    char jdir[4096];
    int rv = verify_open(data, &j, errmsg, &bad, jdir);
    if (rv == LG_ECORRUPT) {
        return lg_cmd_fail(LG_CMD_EXIT_FAILED, "verify: CORRUPT at seq %llu, %s offset %llu: %s",
                           (unsigned long long)bad.seq, bad.file,
                           (unsigned long long)bad.offset, errmsg);
    }
    if (rv != LG_OK) {
        return lg_cmd_fail(LG_CMD_EXIT_UNAVAIL, "verify: cannot open journal in %s: %s (%s)",
                           data, errmsg, lg_err_name(rv));
    }
    uint64_t recovered = lg_journal_recovered_bytes(j);
    rv = lg_journal_verify(j, 1, verify_progress, NULL);
    if (isatty(STDERR_FILENO)) {
        fputc('\n', stderr);
    }
    if (rv != LG_OK) {
        const struct lg_journal_corruption *c = lg_journal_corruption(j);
        int code = lg_cmd_fail(LG_CMD_EXIT_FAILED,
                               "verify: CORRUPT at seq %llu, %s offset %llu: %s",
                               (unsigned long long)c->seq, c->file,
                               (unsigned long long)c->offset, lg_journal_errmsg(j));
        lg_journal_close(j);
        return code;
    }
    uint8_t head[LG_HASH_BYTES];
    char head_hex[2 * LG_HASH_BYTES + 1];
    lg_journal_last_hash(j, head);
    lg_cmd_hex(head, LG_HASH_BYTES, head_hex);
    printf("journal ok: %llu records, chain head %s\n",
           (unsigned long long)lg_journal_last_seq(j), head_hex);
    if (recovered > 0) {
        printf("note: a torn tail of %llu bytes follows the last record (an interrupted, "
               "unacknowledged write; the node cuts it when it opens the journal)\n",
               (unsigned long long)recovered);
    }
    int code = verify_tree(j, jdir);
    lg_journal_close(j);
    return code;
}
