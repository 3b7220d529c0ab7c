/* verify: `ledger-node verify --data DIR` checks a node's journal offline. Every record's
 * header and body CRC, every index entry and the whole hash chain are checked; the first
 * problem is printed with its seq, file and offset and the exit code is 1. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "journal.h"

static const char verify_usage[] =
    "usage: ledger-node verify --data DIR\n"
    "\n"
    "Checks the journal in DIR/journal (a node's data directory) or DIR itself when it\n"
    "holds journal segments: every CRC and the whole SHA-256 chain. Prints the record\n"
    "count and chain head; on damage prints the first bad seq, file and offset and exits 1.\n"
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

static int verify_open(const char *data, struct lg_journal **j, char *errmsg,
                       struct lg_journal_corruption *bad)
{
    struct lg_journal_options opts = {0};
    opts.create = false;
    opts.read_only = true; /* a checker never writes: a torn tail is reported, not cut */
    char path[4096];
    snprintf(path, sizeof path, "%s/journal", data);
    if (access(path, F_OK) != 0) {
        snprintf(path, sizeof path, "%s", data);
    }
    return lg_journal_open(j, path, &opts, errmsg, bad);
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
    int rv = verify_open(data, &j, errmsg, &bad);
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
    lg_journal_close(j);
    return LG_CMD_EXIT_OK;
}
