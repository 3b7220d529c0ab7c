/* main: `ledger-node <subcommand> [flags]` dispatch. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"

#define LG_VERSION "0.1.0"

static const char usage_text[] =
    "usage: ledger-node <command> [flags]\n"
    "\n"
    "commands:\n"
    "  dev     [--nodes 3|5] [--dir DIR]     start a local cluster on 127.0.0.1, run a demo\n"
    "                                        workload, stay up until Ctrl-C\n"
    "  demo    [--dir DIR] [--transfers N]   run the ledger in this process on a short\n"
    "                                        workload and print what it did\n"
    "  serve   --id N --data DIR --raft HOST:PORT --client HOST:PORT --gossip HOST:PORT\n"
    "          [--initial-cluster ID=HOST:PORT,...]   run a node (see serve --help)\n"
    "  verify  --data DIR                    check a node's journal offline: every CRC and\n"
    "                                        the whole hash chain\n"
    "  version                               print the version\n"
    "\n"
    "client commands (any node of --nodes H:P,... or $LEDGER_NODES; --json for scripts):\n"
    "  send    --ledger L --from A --to A --amount N --asset X   commit one posting\n"
    "  submit  --ledger L [--file PATH|-]    commit a transaction given as JSON\n"
    "  tx      --ledger L (ID | --reference R)   show one transaction\n"
    "  txs     --ledger L [--account A] [--desc] [--all] ...   list transactions\n"
    "  balance --ledger L ADDRESS|PATTERN    balances per asset, with totals\n"
    "  account --ledger L ADDRESS            volumes, balances, version, metadata\n"
    "  status                                every listed node's role and indexes\n"
    "  members                               the Raft configuration\n"
    "  digest                                the signed journal digest\n"
    "  bench   [--mode closed|open] [--concurrency C|--rate R] [--batch B] ...\n"
    "                                        transfers against the cluster: throughput and\n"
    "                                        latency percentiles\n"
    "\n"
    "`ledger-node <command> --help` describes a command. Exit codes: 0 ok, 1 failed,\n"
    "2 usage error or invalid input, 3 rejected, 4 unavailable, 5 not found.\n";

int lg_cmd_fail(int code, const char *fmt, ...)
{
    va_list ap;
    fputs("ledger-node: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

void lg_cmd_hex(const unsigned char *bytes, unsigned n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? LG_CMD_EXIT_USAGE : LG_CMD_EXIT_OK;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "version") == 0 || strcmp(sub, "--version") == 0) {
        printf("ledger-node %s\n", LG_VERSION);
        return LG_CMD_EXIT_OK;
    }
    if (strcmp(sub, "verify") == 0) {
        return lg_cmd_verify(argc - 1, argv + 1);
    }
    if (strcmp(sub, "serve") == 0) {
        return lg_cmd_serve(argc - 1, argv + 1);
    }
    if (strcmp(sub, "bench") == 0) {
        return lg_cmd_bench(argc - 1, argv + 1);
    }
    if (strcmp(sub, "dev") == 0) {
        return lg_cmd_dev(argc - 1, argv + 1);
    }
    if (strcmp(sub, "demo") == 0) {
        return lg_cmd_demo(argc - 1, argv + 1);
    }
    static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
    } client_cmds[] = {
        {"send", lg_cmd_send},       {"submit", lg_cmd_submit},   {"tx", lg_cmd_tx},
        {"txs", lg_cmd_txs},         {"balance", lg_cmd_balance}, {"account", lg_cmd_account},
        {"status", lg_cmd_status},   {"members", lg_cmd_members}, {"digest", lg_cmd_digest},
    };
    for (size_t i = 0; i < sizeof client_cmds / sizeof client_cmds[0]; i++) {
        if (strcmp(sub, client_cmds[i].name) == 0) {
            return client_cmds[i].run(argc - 1, argv + 1);
        }
    }
    fputs(usage_text, stderr);
    return lg_cmd_fail(LG_CMD_EXIT_USAGE, "unknown command '%s'", sub);
}
