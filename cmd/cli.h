/* cli: the client subcommands of ledger-node (DESIGN §10; docs/cli.md is the reference):
 * send, submit, tx, txs, balance, account, status, members, digest.
 *
 * Shared here: one flag parser for every subcommand (each names the flags it takes), the
 * node list (--nodes, LEDGER_NODES, default 127.0.0.1:7201), one lib/client.h client per
 * run, the mapping of outcomes to exit codes, and two outputs: aligned tables for people,
 * or with --json exactly one JSON document on stdout (amounts and balances as strings of
 * decimal digits so 128-bit values survive any JSON reader; hashes lowercase hex).
 *
 * Errors: one line "ledger-node: <command>: <code>: <message>" on stderr; with --json also
 * {"error": {"code", "message"}} on stdout (once the flags parsed). Usage errors print the
 * command's usage on stderr.
 *
 * Ownership: a struct lg_cmd_cli lives on the subcommand's stack for the whole run; its
 * arena holds decoded responses (reset between calls by lg_cmd_cli_call) and its buffers
 * the output; lg_cmd_cli_close frees all of it. */
#ifndef LG_CMD_CLI_H
#define LG_CMD_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "client.h"
#include "json.h"
#include "proto.h"

/* Pages that `txs --all` follows before it stops (and says so): with pages of 1000
 * transactions that is a million, which keeps the output buffer in the hundreds of MiB. */
#define LG_CMD_CLI_PAGES_MAX 1000u
/* Decoding arena for one response: a full frame expands at most LG_DECODE_EXPANSION_MAX. */
#define LG_CMD_CLI_ARENA_BYTES ((size_t)LG_DECODE_EXPANSION_MAX * LG_FRAME_BYTES_MAX)
/* `--meta k=v` pairs: a transaction's metadata bound. */
#define LG_CMD_CLI_META_MAX LG_METADATA_ENTRIES_MAX
/* Positional arguments a subcommand may take. */
#define LG_CMD_CLI_ARGS_MAX 2u
/* A generated reference: "cli-" and 32 hex digits (128 random bits). */
#define LG_CMD_CLI_REFERENCE_BYTES (4u + 32u + 1u)
/* Columns of a table. */
#define LG_CMD_TABLE_COLS_MAX 10u

/* The flags a subcommand takes (bits). --nodes, --json, --timeout-ms, --attempts and
 * --help are common to all. */
enum lg_cmd_cli_flag {
    LG_CMD_CLI_F_LEDGER = 1u << 0,  /* --ledger L */
    LG_CMD_CLI_F_READ = 1u << 1,    /* --consistency C, --after-index N */
    LG_CMD_CLI_F_SEND = 1u << 2,    /* --from --to --amount --asset --meta */
    LG_CMD_CLI_F_REF = 1u << 3,     /* --reference R */
    LG_CMD_CLI_F_FILE = 1u << 4,    /* --file PATH|- */
    LG_CMD_CLI_F_TXS = 1u << 5,     /* --account --from-ts --to-ts --desc --limit --cursor
                                     * --all */
    LG_CMD_CLI_F_ASSET = 1u << 6,   /* --asset A (balance) */
    LG_CMD_CLI_F_LEDGER_OPT = 1u << 7, /* --ledger L, not required (submit) */
    LG_CMD_CLI_F_DIGEST = 1u << 8,  /* --tree-size N, --save FILE (digest) */
    LG_CMD_CLI_F_VERIFY = 1u << 9,  /* --tx ID, --digest FILE, --from FILE, --to FILE */
};

/* The JSON output under construction. */
struct lg_cmd_jw {
    struct lg_buf *b;
    uint32_t depth;
    bool comma[LG_JSON_DEPTH_MAX]; /* a value was written at this depth */
    bool after_key;                /* the next value follows a key: no comma */
    bool failed;                   /* out of memory: the run fails */
};

/* An aligned table for people: rows of strings, printed with each column as wide as its
 * widest cell; columns in right_mask (bit per column) are right-aligned (numbers). */
struct lg_cmd_table {
    uint32_t n_cols;
    uint32_t right_mask;
    char **cells; /* n_rows * n_cols strings (malloc) */
    size_t n_rows;
    size_t cap_rows;
    bool failed;
};

struct lg_cmd_cli {
    const char *name;  /* subcommand */
    const char *usage; /* its usage text */
    unsigned flags;    /* enum lg_cmd_cli_flag */
    unsigned n_args_min;
    unsigned n_args_max;
    /* Common flags. */
    const char *nodes[LG_CLIENT_NODES_MAX];
    uint32_t n_nodes;
    char nodes_text[LG_CLIENT_NODES_MAX * (LG_CLIENT_ADDRESS_BYTES_MAX + 2u)];
    bool json;
    unsigned timeout_ms; /* per attempt; 0: the client's default */
    uint32_t attempts;   /* 0: the client's default */
    uint8_t consistency; /* enum lg_proto_consistency */
    uint64_t after_index;
    /* Subcommand flags (NULL / false / 0 when absent). */
    const char *ledger;
    const char *from;
    const char *to;
    const char *amount;
    const char *asset;
    const char *reference;
    const char *file;
    const char *account;
    const char *cursor;
    struct lg_kv meta[LG_CMD_CLI_META_MAX];
    uint32_t n_meta;
    bool has_from_ts;
    uint64_t from_ts;
    bool has_to_ts;
    uint64_t to_ts;
    bool desc;
    bool all;
    uint32_t limit;
    bool has_tree_size;   /* --tree-size */
    uint64_t tree_size;
    const char *save;     /* --save FILE */
    bool has_tx;          /* --tx */
    uint64_t tx_id;
    const char *digest;   /* --digest FILE (verify --tx); --from/--to FILE use from/to */
    const char *args[LG_CMD_CLI_ARGS_MAX];
    unsigned n_args;
    /* Run state. */
    struct lg_client *client;
    struct lg_arena arena;
    struct lg_buf out;
    struct lg_cmd_jw jw;
    char errmsg[LG_ERRMSG_SIZE];
};

/* Set up c for subcommand name and parse argv (argv[0] is the subcommand). Returns -1 when
 * the command should run, else the exit code to return at once (0 after --help; 2 after a
 * usage error, already reported). c must be closed with lg_cmd_cli_close either way. */
int lg_cmd_cli_parse(struct lg_cmd_cli *c, const char *name, const char *usage,
                     unsigned flags, unsigned n_args_min, unsigned n_args_max, int argc,
                     char **argv);
void lg_cmd_cli_close(struct lg_cmd_cli *c);

/* Report a usage error (message, then the usage on stderr). Returns LG_CMD_EXIT_USAGE. */
int lg_cmd_cli_usage(struct lg_cmd_cli *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Report a failure: stderr line "<command>: <wire>: <message>", and with --json the error
 * document on stdout (replacing anything built so far). Returns exit. */
int lg_cmd_cli_error(struct lg_cmd_cli *c, int exit_code, const char *wire, const char *fmt,
                     ...) __attribute__((format(printf, 4, 5)));

/* The exit code for a server error code (docs/cli.md, "Exit codes"). */
int lg_cmd_cli_exit_for(int code);

/* One request through the cluster client (opened on first use): validates it locally
 * first (an invalid request is a usage error, exit 2), then lg_client_call with the
 * request's exact bytes on every retry. Returns -1 with *resp ok; otherwise the failure is
 * reported and its exit code returned (a server error by lg_cmd_cli_exit_for; transport
 * failures after every retry: 4; a server breaking the protocol: 1). Messages name the
 * request's op. The request may point into c's arena, which this call does not reset (the
 * caller does, between pages). hint (may be NULL) is appended to an "outcome unknown"
 * report of a write. */
int lg_cmd_cli_call(struct lg_cmd_cli *c, struct lg_proto_request *req,
                    struct lg_proto_response *resp, const char *hint);

/* Fill req's read consistency from --consistency / --after-index. */
void lg_cmd_cli_read_options(const struct lg_cmd_cli *c, struct lg_proto_request *req);

/* Write the JSON document (with --json) to stdout with a newline. Returns LG_CMD_EXIT_OK,
 * or 1 when the output could not be built or written. */
int lg_cmd_cli_finish(struct lg_cmd_cli *c);

/* A view of a NUL-terminated string. */
struct lg_str lg_cmd_cli_str(const char *s);

/* One node's status over one connection (connect 500 ms, answer 2 s): LG_OK with *out
 * (leader_client copied into arena; the connection is closed), or why not (LG_EUNAVAIL
 * when refused or answered with an error, LG_ENOMEM).
 * For dev's and bench's waits; the `status` command reports per node itself. */
int lg_cmd_cli_node_status(const char *address, struct lg_arena *arena,
                           struct lg_proto_status *out);

/* Parse unsigned decimal text (no sign, no spaces) into *out. false when invalid or over
 * max. */
bool lg_cmd_cli_u64(const char *s, uint64_t max, uint64_t *out);

/* "cli-" + 32 random hex digits into out (LG_CMD_CLI_REFERENCE_BYTES). Returns LG_OK or
 * LG_EIO (no randomness available). */
int lg_cmd_cli_reference(char out[LG_CMD_CLI_REFERENCE_BYTES]);

/* Microseconds since the epoch as "2024-05-01T12:00:00.123456Z" into out (32 bytes). */
void lg_cmd_cli_time(uint64_t us, char out[32]);

/* ---- JSON output: values are written in order; containers nest up to the bound ---- */
void lg_cmd_jw_open(struct lg_cmd_jw *w, char bracket); /* '{' or '[' */
void lg_cmd_jw_close(struct lg_cmd_jw *w, char bracket); /* '}' or ']' */
void lg_cmd_jw_key(struct lg_cmd_jw *w, const char *key);
void lg_cmd_jw_keyn(struct lg_cmd_jw *w, struct lg_str key);
void lg_cmd_jw_str(struct lg_cmd_jw *w, struct lg_str s);
void lg_cmd_jw_cstr(struct lg_cmd_jw *w, const char *s);
void lg_cmd_jw_str_or_null(struct lg_cmd_jw *w, struct lg_str s); /* len 0: null */
void lg_cmd_jw_u64(struct lg_cmd_jw *w, uint64_t v);
void lg_cmd_jw_bool(struct lg_cmd_jw *w, bool v);
void lg_cmd_jw_amount(struct lg_cmd_jw *w, lg_u128 v);  /* "123" */
void lg_cmd_jw_balance(struct lg_cmd_jw *w, lg_i128 v); /* "-123" */
void lg_cmd_jw_hash(struct lg_cmd_jw *w, const uint8_t hash[LG_PROTO_HASH_BYTES]);
/* A committed transaction as get_tx/list_txs return it. */
void lg_cmd_jw_tx(struct lg_cmd_jw *w, const struct lg_proto_tx *tx);

/* ---- tables ---- */
void lg_cmd_table_init(struct lg_cmd_table *t, uint32_t n_cols, uint32_t right_mask);
/* Add one row of n_cols cells (copied; NULL prints as "-"). */
void lg_cmd_table_row(struct lg_cmd_table *t, const char *const *cells);
/* Print to stdout and free. Returns false when a row could not be stored (out of memory). */
bool lg_cmd_table_print(struct lg_cmd_table *t);
void lg_cmd_table_free(struct lg_cmd_table *t);

/* A string view as a NUL-terminated copy into out (size bytes; cut short if needed). */
const char *lg_cmd_cli_cstr(struct lg_str s, char *out, size_t size);

#endif /* LG_CMD_CLI_H */
