/* cmd: the ledger-node command line. One function per subcommand; each returns the
 * process exit code (LG_CMD_EXIT_*). */
#ifndef LG_CMD_H
#define LG_CMD_H

#include <stdbool.h>

/* Exit codes, documented in docs/cli.md. */
#define LG_CMD_EXIT_OK 0
#define LG_CMD_EXIT_FAILED 1   /* the command ran and found a problem (e.g. corruption) */
#define LG_CMD_EXIT_USAGE 2    /* bad flags or arguments */
#define LG_CMD_EXIT_REJECTED 3 /* a transaction was rejected (funds, conditions...) */
#define LG_CMD_EXIT_UNAVAIL 4  /* the cluster or data could not be reached */
#define LG_CMD_EXIT_NOTFOUND 5 /* a client read found no such transaction or account */

int lg_cmd_verify(int argc, char **argv);
int lg_cmd_demo(int argc, char **argv);
int lg_cmd_serve(int argc, char **argv);
int lg_cmd_dev(int argc, char **argv);
int lg_cmd_bench(int argc, char **argv);

/* Client subcommands (cmd/cli*.c, docs/cli.md). */
int lg_cmd_send(int argc, char **argv);
int lg_cmd_submit(int argc, char **argv);
int lg_cmd_tx(int argc, char **argv);
int lg_cmd_txs(int argc, char **argv);
int lg_cmd_balance(int argc, char **argv);
int lg_cmd_account(int argc, char **argv);
int lg_cmd_status(int argc, char **argv);
int lg_cmd_members(int argc, char **argv);
int lg_cmd_digest(int argc, char **argv);

/* verify's online modes (cmd/verify_proof.c): --tx ID --digest FILE, --from FILE --to FILE.
 * lg_cmd_verify hands argv over when lg_cmd_verify_is_online says one of them is given. */
bool lg_cmd_verify_is_online(int argc, char **argv);
int lg_cmd_verify_online(int argc, char **argv);

/* Print "ledger-node: <msg>\n" to stderr; returns code. */
int lg_cmd_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Lowercase hex of n bytes into out (2n + 1 bytes). */
void lg_cmd_hex(const unsigned char *bytes, unsigned n, char *out);

#endif /* LG_CMD_H */
