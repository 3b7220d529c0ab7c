/* test_cli: the `ledger-node` client subcommands end to end against a 3-node cluster
 * (DESIGN §10, docs/cli.md, issue 5).
 *
 * Goal: the real binary, as a user runs it, follows the leader from a follower, survives a
 * leader killed between two commands, prints JSON a program can parse (checked here with
 * lib/json), lists, totals and pages correctly, takes a transaction from a JSON file, and
 * exits with the documented codes: 2 usage, 3 rejected, 4 unavailable, 5 not found; serve
 * refuses a wildcard --gossip address (exit 2, naming the fix).
 *
 * Method: each command is a child process (fork/exec of $LG_LEDGER_NODE) with stdout and
 * stderr in files of the cluster's directory, waited for with a bound and SIGKILLed if it
 * hangs. What the CLI reports is cross-checked through lib/client against the nodes. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "json.h"

#define LEDGER "main"
#define ASSET "USD/2"
/* One CLI run: bound on its whole life (ms). Retries after a leader's death stay well
 * within: 12 attempts with backoff up to 1 s. */
#define CLI_TIMEOUT_MS 30000u
#define CLI_ARGS_MAX 40u
#define U128_MAX_TEXT "340282366920938463463374607431768211455"

struct cli_run {
    int exit_code; /* -1: killed by a signal */
    char *out;     /* stdout, NUL-terminated (malloc) */
    size_t out_len;
    char *err;     /* stderr, NUL-terminated (malloc) */
    struct lg_arena arena;
    struct lg_json *doc; /* stdout parsed as JSON (cli_json) */
};

static void cli_free(struct cli_run *r)
{
    free(r->out);
    free(r->err);
    lg_arena_close(&r->arena);
    memset(r, 0, sizeof *r);
}

/* Files of a test live in the cluster's directory (a path within LGT_PATH_MAX). */
#define FILE_PATH_MAX (LGT_PATH_MAX + 32u)

static char *slurp(struct lgt_cluster *c, const char *path, size_t *len)
{
    size_t n = 0;
    uint8_t *bytes = lgt_read_file(path, &n);
    LGT_CHECK(c, bytes != NULL, "cannot read %s", path);
    char *s = malloc(n + 1);
    LGT_CHECK(c, s != NULL, "out of memory");
    memcpy(s, bytes, n);
    s[n] = '\0';
    free(bytes);
    if (len != NULL) {
        *len = n;
    }
    return s;
}

/* Run `ledger-node <args...>` (NULL-terminated), stdin from stdin_path (NULL: /dev/null),
 * bounded by CLI_TIMEOUT_MS. */
static void cli_runv(struct lgt_cluster *c, struct cli_run *r, const char *stdin_path,
                     const char *const *args)
{
    memset(r, 0, sizeof *r);
    lg_arena_init(&r->arena, 0);
    char out_path[FILE_PATH_MAX];
    char err_path[FILE_PATH_MAX];
    snprintf(out_path, sizeof out_path, "%s/cli.out", c->dir);
    snprintf(err_path, sizeof err_path, "%s/cli.err", c->dir);
    const char *argv[CLI_ARGS_MAX + 2];
    unsigned n = 0;
    argv[n++] = c->binary;
    char line[1024] = "";
    size_t line_len = 0;
    for (; args[n - 1] != NULL; n++) {
        LGT_CHECK(c, n <= CLI_ARGS_MAX, "too many CLI arguments");
        argv[n] = args[n - 1];
        int w = snprintf(line + line_len, sizeof line - line_len, " %s", args[n - 1]);
        line_len = w > 0 && (size_t)w < sizeof line - line_len ? line_len + (size_t)w
                                                                : line_len;
    }
    argv[n] = NULL;
    pid_t parent = getpid();
    pid_t pid = fork();
    LGT_CHECK(c, pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) {
            _exit(127);
        }
        int in = open(stdin_path != NULL ? stdin_path : "/dev/null", O_RDONLY);
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 ||
            dup2(err, 2) < 0) {
            _exit(126);
        }
        unsetenv("LEDGER_NODES");
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    uint64_t deadline = lgt_now_ms() + CLI_TIMEOUT_MS;
    int status = 0;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) {
            break;
        }
        LGT_CHECK(c, w == 0, "waitpid: %s", strerror(errno));
        if (lgt_now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            LGT_CHECK(c, false, "ledger-node%s did not finish within %u ms", line,
                      CLI_TIMEOUT_MS);
        }
        lgt_sleep_ms(LGT_POLL_MS);
    }
    r->out = slurp(c, out_path, &r->out_len);
    r->err = slurp(c, err_path, NULL);
    char why[64];
    LGT_CHECK(c, WIFEXITED(status), "ledger-node%s: %s; stderr: %s", line,
              lgt_wait_status_text(status, why, sizeof why), r->err);
    r->exit_code = WEXITSTATUS(status);
}

#define CLI(c, r, stdin_path, ...)                                                         \
    do {                                                                                   \
        const char *const cli_args_[] = {__VA_ARGS__, NULL};                              \
        cli_runv((c), (r), (stdin_path), cli_args_);                                       \
    } while (0)

/* The run must have exited with code and, for 0, printed exactly one JSON document, which
 * is parsed into r->doc. */
static void cli_expect(struct lgt_cluster *c, struct cli_run *r, int code, bool json)
{
    LGT_CHECK(c, r->exit_code == code, "exit %d, expected %d; stdout: %s; stderr: %s",
              r->exit_code, code, r->out, r->err);
    if (!json) {
        return;
    }
    char msg[LG_ERRMSG_SIZE] = "";
    int rc = lg_json_parse(r->out, r->out_len, &r->arena, &r->doc, msg);
    LGT_CHECK(c, rc == LG_OK, "stdout is not one JSON document (%s): %s", msg, r->out);
    LGT_CHECK(c, r->doc->type == LG_JSON_OBJECT, "not an object: %s", r->out);
}

/* A member that must be there, of the given type. */
static const struct lg_json *get(struct lgt_cluster *c, const struct lg_json *obj,
                                 const char *key, int type)
{
    const struct lg_json *v = lg_json_member(obj, key);
    LGT_CHECK(c, v != NULL, "no \"%s\" in the output", key);
    LGT_CHECK(c, v->type == type, "\"%s\" is a %s, expected a %s", key,
              lg_json_type_name(v->type), lg_json_type_name(type));
    return v;
}

static uint64_t get_u64(struct lgt_cluster *c, const struct lg_json *obj, const char *key)
{
    uint64_t v = 0;
    LGT_CHECK(c, lg_json_u64(get(c, obj, key, LG_JSON_NUMBER), &v, NULL) == LG_OK,
              "\"%s\" is not an unsigned integer", key);
    return v;
}

static const char *get_str(struct lgt_cluster *c, const struct lg_json *obj, const char *key)
{
    return get(c, obj, key, LG_JSON_STRING)->str;
}

static unsigned follower_of(const struct lgt_cluster *c, unsigned leader)
{
    return (leader + 1u) % c->o.n_nodes;
}

/* "a,b,c": the client addresses of the listed nodes, in order. */
static const char *nodes_arg(struct lgt_cluster *c, const unsigned *idx, unsigned n,
                             char *out, size_t size)
{
    size_t len = 0;
    out[0] = '\0';
    for (unsigned k = 0; k < n; k++) {
        int w = snprintf(out + len, size - len, "%s%s", k ? "," : "",
                         c->nodes[idx[k]].client_address);
        LGT_CHECK(c, w > 0 && (size_t)w < size - len, "node list too long");
        len += (size_t)w;
    }
    return out;
}

static const char *all_nodes(struct lgt_cluster *c, char *out, size_t size)
{
    unsigned idx[LGT_CLUSTER_NODES_MAX];
    for (unsigned i = 0; i < c->o.n_nodes; i++) {
        idx[i] = i;
    }
    return nodes_arg(c, idx, c->o.n_nodes, out, size);
}

/* get_tx through lib/client (stale read on node i after index): the independent check of
 * what the CLI reported. Returns false when not found. */
static bool tx_on_node(struct lgt_cluster *c, unsigned i, const char *reference,
                       uint64_t index, struct lgt_tx *out)
{
    struct lg_conn *conn = lgt_node_conn(c, i, 5000);
    struct lg_arena arena;
    lg_arena_init(&arena, 0);
    struct lg_proto_request req;
    lgt_req_get_tx(&req, LEDGER, 0, reference, LG_PROTO_READ_AFTER, index);
    req.id = 1;
    struct lg_proto_response resp;
    char msg[LG_ERRMSG_SIZE] = "";
    int rc = lg_conn_call(conn, &req, &arena, &resp, msg);
    LGT_CHECK(c, rc == LG_OK, "get_tx %s on node %u: %s", reference, i, msg);
    bool found = resp.ok;
    if (found) {
        lgt_tx_copy(c, &resp.u.get_tx, out);
    } else {
        LGT_CHECK(c, resp.error.code == LG_ENOTFOUND, "get_tx %s: %s", reference,
                  lg_err_wire(resp.error.code));
    }
    lg_arena_close(&arena);
    lg_conn_close(conn);
    return found;
}

/* send through a follower only: the CLI must follow not_leader. The JSON result names a
 * generated reference; `tx --json` (also through the follower) shows the transaction,
 * including a 128-bit amount exactly; lib/client finds it on every node. */
Test(cluster, cli_send_through_a_follower_and_tx_json, .fini = lgt_cluster_fini,
     .timeout = 180)
{
    struct lgt_cluster_options o = {.n_nodes = 3};
    struct lgt_cluster *c = lgt_cluster_new(&o);
    lgt_cluster_start(c);
    unsigned leader = lgt_cluster_leader(c, LGT_LEADER_TIMEOUT_MS);
    unsigned follower = follower_of(c, leader);
    const char *faddr = c->nodes[follower].client_address;

    struct cli_run r;
    CLI(c, &r, NULL, "send", "--nodes", faddr, "--ledger", LEDGER, "--from", "world", "--to",
        "users:1:main", "--amount", U128_MAX_TEXT, "--asset", "BIG", "--meta", "note=first",
        "--json");
    cli_expect(c, &r, 0, true);
    uint64_t tx_id = get_u64(c, r.doc, "tx_id");
    uint64_t index = get_u64(c, r.doc, "index");
    char reference[LGT_REFERENCE_BYTES];
    snprintf(reference, sizeof reference, "%s", get_str(c, r.doc, "reference"));
    char hash[2 * LG_PROTO_HASH_BYTES + 1];
    snprintf(hash, sizeof hash, "%s", get_str(c, r.doc, "hash"));
    LGT_CHECK(c, tx_id == 0, "first transaction has tx_id %llu", (unsigned long long)tx_id);
    LGT_CHECK(c, strncmp(reference, "cli-", 4) == 0 && strlen(reference) == 36,
              "generated reference '%s'", reference);
    LGT_CHECK(c, strlen(hash) == 64, "hash '%s'", hash);
    cli_free(&r);

    /* Human output names the reference too. */
    CLI(c, &r, NULL, "send", "--nodes", faddr, "--ledger", LEDGER, "--from", "world", "--to",
        "users:2:main", "--amount", "5", "--asset", ASSET, "--reference", "human-1");
    cli_expect(c, &r, 0, false);
    LGT_CHECK(c, strstr(r.out, "committed tx 1") != NULL && strstr(r.out, "human-1") != NULL,
              "human output: %s", r.out);
    cli_free(&r);

    /* tx --json by id, through the follower, read after the write's index. */
    char idx_text[24];
    snprintf(idx_text, sizeof idx_text, "%llu", (unsigned long long)index);
    CLI(c, &r, NULL, "tx", "--nodes", faddr, "--ledger", LEDGER, "0", "--after-index",
        idx_text, "--json");
    cli_expect(c, &r, 0, true);
    LGT_CHECK(c, get_u64(c, r.doc, "tx_id") == 0, "tx_id");
    LGT_CHECK(c, strcmp(get_str(c, r.doc, "ledger"), LEDGER) == 0, "ledger");
    LGT_CHECK(c, strcmp(get_str(c, r.doc, "reference"), reference) == 0, "reference %s",
              get_str(c, r.doc, "reference"));
    LGT_CHECK(c, strcmp(get_str(c, r.doc, "hash"), hash) == 0, "hash differs from send's");
    LGT_CHECK(c, get_u64(c, r.doc, "index") == index, "index");
    const struct lg_json *postings = get(c, r.doc, "postings", LG_JSON_ARRAY);
    LGT_CHECK(c, postings->n == 1, "%u postings", postings->n);
    const struct lg_json *p0 = postings->child;
    LGT_CHECK(c, strcmp(get_str(c, p0, "source"), "world") == 0, "source");
    LGT_CHECK(c, strcmp(get_str(c, p0, "destination"), "users:1:main") == 0, "destination");
    LGT_CHECK(c, strcmp(get_str(c, p0, "asset"), "BIG") == 0, "asset");
    LGT_CHECK(c, strcmp(get_str(c, p0, "amount"), U128_MAX_TEXT) == 0,
              "amount %s is not 2^128 - 1", get_str(c, p0, "amount"));
    const struct lg_json *meta = get(c, r.doc, "metadata", LG_JSON_OBJECT);
    LGT_CHECK(c, meta->n == 1 && strcmp(get_str(c, meta, "note"), "first") == 0, "metadata");
    cli_free(&r);

    /* By reference too. */
    CLI(c, &r, NULL, "tx", "--nodes", faddr, "--ledger", LEDGER, "--reference", "human-1",
        "--json");
    cli_expect(c, &r, 0, true);
    LGT_CHECK(c, get_u64(c, r.doc, "tx_id") == 1, "tx by reference");
    cli_free(&r);

    /* The CLI's account of it is what every node holds: exactly once, same hash. */
    for (unsigned i = 0; i < c->o.n_nodes; i++) {
        struct lgt_tx tx;
        LGT_CHECK(c, tx_on_node(c, i, reference, index, &tx), "node %u lacks %s", i,
                  reference);
        char h[2 * LG_PROTO_HASH_BYTES + 1];
        LGT_CHECK(c, tx.tx_id == 0 && strcmp(lgt_hex(tx.hash, h), hash) == 0,
                  "node %u: tx %llu hash %s", i, (unsigned long long)tx.tx_id, h);
        LGT_CHECK(c, tx.amount == LG_U128_MAX, "node %u: amount", i);
    }
    lgt_cluster_pass(c);
}

/* submit --file, balance --json totals, txs --all --json across pages, account --json. */
Test(cluster, cli_submit_file_balance_totals_and_txs_all, .fini = lgt_cluster_fini,
     .timeout = 180)
{
    struct lgt_cluster_options o = {.n_nodes = 3};
    struct lgt_cluster *c = lgt_cluster_new(&o);
    lgt_cluster_start(c);
    char nodes[512];
    all_nodes(c, nodes, sizeof nodes);

    /* Fund five accounts with 100, 200, ... 500. */
    for (unsigned i = 1; i <= 5; i++) {
        char to[32];
        char amount[16];
        snprintf(to, sizeof to, "users:%u:main", i);
        snprintf(amount, sizeof amount, "%u", 100u * i);
        struct cli_run r;
        CLI(c, &r, NULL, "send", "--nodes", nodes, "--ledger", LEDGER, "--from", "world",
            "--to", to, "--amount", amount, "--asset", ASSET);
        cli_expect(c, &r, 0, false);
        cli_free(&r);
    }
    /* A two-posting transaction from a JSON file: users:5 pays 50 to users:1 and 25 to
     * users:2 (amounts as an integer and as a string), with metadata, a reference and a
     * version condition. */
    char path[FILE_PATH_MAX];
    snprintf(path, sizeof path, "%s/tx.json", c->dir);
    FILE *f = fopen(path, "w");
    LGT_CHECK(c, f != NULL, "cannot write %s", path);
    fputs("{\n  \"postings\": [\n"
          "    {\"source\": \"users:5:main\", \"destination\": \"users:1:main\",\n"
          "     \"amount\": 50, \"asset\": \"USD/2\"},\n"
          "    {\"source\": \"users:5:main\", \"destination\": \"users:2:main\",\n"
          "     \"amount\": \"25\", \"asset\": \"USD/2\"}],\n"
          "  \"metadata\": {\"order\": \"caf\\u00e9-42\"},\n"
          "  \"reference\": \"file-1\",\n"
          "  \"conditions\": [{\"account\": \"users:5:main\", \"version\": 1}]\n}\n",
          f);
    LGT_CHECK(c, fclose(f) == 0, "cannot write %s", path);
    struct cli_run r;
    CLI(c, &r, NULL, "submit", "--nodes", nodes, "--ledger", LEDGER, "--file", path, "--json");
    cli_expect(c, &r, 0, true);
    LGT_CHECK(c, get_u64(c, r.doc, "tx_id") == 5, "submit tx_id");
    LGT_CHECK(c, strcmp(get_str(c, r.doc, "reference"), "file-1") == 0, "reference");
    cli_free(&r);
    /* The same file from stdin is the same transaction (idempotent by reference). */
    CLI(c, &r, path, "submit", "--nodes", nodes, "--ledger", LEDGER, "--json");
    cli_expect(c, &r, 0, true);
    LGT_CHECK(c, get_u64(c, r.doc, "tx_id") == 5, "re-submitted file applied again");
    cli_free(&r);
    CLI(c, &r, NULL, "tx", "--nodes", nodes, "--ledger", LEDGER, "5", "--json");
    cli_expect(c, &r, 0, true);
    LGT_CHECK(c, get(c, r.doc, "postings", LG_JSON_ARRAY)->n == 2, "two postings");
    LGT_CHECK(c, strcmp(get_str(c, get(c, r.doc, "metadata", LG_JSON_OBJECT), "order"),
                        "caf\xc3\xa9-42") == 0, "metadata value decoded from \\u00e9");
    cli_free(&r);

    /* Balances: users 1..5 hold 150, 225, 300, 400, 425; total 1500 (world -1500). */
    CLI(c, &r, NULL, "balance", "--nodes", nodes, "--ledger", LEDGER, "users:*:main",
        "--json");
    cli_expect(c, &r, 0, true);
    const struct lg_json *accounts = get(c, r.doc, "accounts", LG_JSON_OBJECT);
    LGT_CHECK(c, accounts->n == 5, "%u accounts", accounts->n);
    static const char *const want[] = {"150", "225", "300", "400", "425"};
    for (unsigned i = 1; i <= 5; i++) {
        char addr[32];
        snprintf(addr, sizeof addr, "users:%u:main", i);
        const struct lg_json *a = get(c, accounts, addr, LG_JSON_OBJECT);
        LGT_CHECK(c, strcmp(get_str(c, a, ASSET), want[i - 1]) == 0, "%s: %s, expected %s",
                  addr, get_str(c, a, ASSET), want[i - 1]);
    }
    const struct lg_json *totals = get(c, r.doc, "totals", LG_JSON_OBJECT);
    LGT_CHECK(c, strcmp(get_str(c, totals, ASSET), "1500") == 0, "total %s",
              get_str(c, totals, ASSET));
    cli_free(&r);
    CLI(c, &r, NULL, "balance", "--nodes", nodes, "--ledger", LEDGER, "world", "--json");
    cli_expect(c, &r, 0, true);
    LGT_CHECK(c, strcmp(get_str(c, get(c, r.doc, "totals", LG_JSON_OBJECT), ASSET),
                        "-1500") == 0, "world's total");
    cli_free(&r);

    /* account --json: volumes and version. */
    CLI(c, &r, NULL, "account", "--nodes", nodes, "--ledger", LEDGER, "users:5:main",
        "--json");
    cli_expect(c, &r, 0, true);
    const struct lg_json *vol = get(c, get(c, r.doc, "volumes", LG_JSON_OBJECT), ASSET,
                                    LG_JSON_OBJECT);
    LGT_CHECK(c, strcmp(get_str(c, vol, "input"), "500") == 0 &&
                     strcmp(get_str(c, vol, "output"), "75") == 0 &&
                     strcmp(get_str(c, vol, "balance"), "425") == 0,
              "volumes of users:5:main: %s", r.out);
    cli_free(&r);

    /* txs --all in pages of 2: all 6 transactions, in order, no cursor left. */
    CLI(c, &r, NULL, "txs", "--nodes", nodes, "--ledger", LEDGER, "--all", "--limit", "2",
        "--json");
    cli_expect(c, &r, 0, true);
    const struct lg_json *txs = get(c, r.doc, "txs", LG_JSON_ARRAY);
    LGT_CHECK(c, txs->n == 6 && get_u64(c, r.doc, "count") == 6, "%u transactions", txs->n);
    uint64_t next = 0;
    for (const struct lg_json *t = txs->child; t != NULL; t = t->next) {
        LGT_CHECK(c, get_u64(c, t, "tx_id") == next, "tx_id out of order");
        next++;
    }
    LGT_CHECK(c, lg_json_member(r.doc, "cursor") == NULL, "a cursor after the last page");
    cli_free(&r);
    /* One page only: two transactions and a cursor; --desc starts with the newest; an
     * account filter. */
    CLI(c, &r, NULL, "txs", "--nodes", nodes, "--ledger", LEDGER, "--limit", "2", "--desc",
        "--json");
    cli_expect(c, &r, 0, true);
    txs = get(c, r.doc, "txs", LG_JSON_ARRAY);
    LGT_CHECK(c, txs->n == 2 && get_u64(c, txs->child, "tx_id") == 5, "desc page");
    get(c, r.doc, "cursor", LG_JSON_STRING);
    cli_free(&r);
    CLI(c, &r, NULL, "txs", "--nodes", nodes, "--ledger", LEDGER, "--account", "users:2:main",
        "--all", "--json");
    cli_expect(c, &r, 0, true);
    LGT_CHECK(c, get_u64(c, r.doc, "count") == 2, "users:2:main is in 2 transactions");
    cli_free(&r);
    lgt_cluster_pass(c);
}

/* Exit codes: rejected 3 (funds, conflict), usage 2 (flags, invalid names, bad JSON: and
 * nothing is written), not found 5, unavailable 4 (no node reachable). */
Test(cluster, cli_exit_codes_for_rejections_usage_and_unavailable, .fini = lgt_cluster_fini,
     .timeout = 180)
{
    struct lgt_cluster_options o = {.n_nodes = 3};
    struct lgt_cluster *c = lgt_cluster_new(&o);
    lgt_cluster_start(c);
    char nodes[512];
    all_nodes(c, nodes, sizeof nodes);
    struct cli_run r;
    CLI(c, &r, NULL, "send", "--nodes", nodes, "--ledger", LEDGER, "--from", "world", "--to",
        "users:1:main", "--amount", "10", "--asset", ASSET, "--reference", "ok-1");
    cli_expect(c, &r, 0, false);
    cli_free(&r);

    /* Overdraft: exit 3, the code and the account in the message, JSON error document. */
    CLI(c, &r, NULL, "send", "--nodes", nodes, "--ledger", LEDGER, "--from", "users:1:main",
        "--to", "users:2:main", "--amount", "11", "--asset", ASSET, "--json");
    cli_expect(c, &r, 3, true);
    LGT_CHECK(c, strstr(r.err, "insufficient_funds") != NULL &&
                     strstr(r.err, "users:1:main") != NULL, "stderr: %s", r.err);
    const struct lg_json *e = get(c, r.doc, "error", LG_JSON_OBJECT);
    LGT_CHECK(c, strcmp(get_str(c, e, "code"), "insufficient_funds") == 0, "code");
    cli_free(&r);
    /* The reference reused with other content: conflict, 3. */
    CLI(c, &r, NULL, "send", "--nodes", nodes, "--ledger", LEDGER, "--from", "world", "--to",
        "users:1:main", "--amount", "11", "--asset", ASSET, "--reference", "ok-1");
    cli_expect(c, &r, 3, false);
    LGT_CHECK(c, strstr(r.err, "conflict") != NULL, "stderr: %s", r.err);
    cli_free(&r);

    /* Usage: a missing flag, an unknown flag, a bad amount, an invalid address, a
     * fractional JSON amount: 2, nothing on stdout. */
    CLI(c, &r, NULL, "send", "--nodes", nodes, "--ledger", LEDGER, "--from", "world", "--to",
        "users:1:main", "--asset", ASSET);
    cli_expect(c, &r, 2, false);
    LGT_CHECK(c, r.out_len == 0 && strstr(r.err, "--amount") != NULL, "stderr: %s", r.err);
    cli_free(&r);
    CLI(c, &r, NULL, "txs", "--nodes", nodes, "--ledger", LEDGER, "--frobnicate", "1");
    cli_expect(c, &r, 2, false);
    LGT_CHECK(c, strstr(r.err, "unknown flag '--frobnicate'") != NULL, "stderr: %s", r.err);
    cli_free(&r);
    CLI(c, &r, NULL, "send", "--nodes", nodes, "--ledger", LEDGER, "--from", "world", "--to",
        "users:1:main", "--amount", "1.5", "--asset", ASSET);
    cli_expect(c, &r, 2, false);
    cli_free(&r);
    CLI(c, &r, NULL, "send", "--nodes", nodes, "--ledger", LEDGER, "--from", "world", "--to",
        "bad address", "--amount", "1", "--asset", ASSET);
    cli_expect(c, &r, 2, false);
    LGT_CHECK(c, strstr(r.err, "destination") != NULL, "stderr: %s", r.err);
    cli_free(&r);
    char path[FILE_PATH_MAX];
    snprintf(path, sizeof path, "%s/bad.json", c->dir);
    FILE *f = fopen(path, "w");
    LGT_CHECK(c, f != NULL, "cannot write %s", path);
    fputs("{\"postings\": [{\"source\": \"world\", \"destination\": \"users:1:main\", "
          "\"amount\": 1e2, \"asset\": \"USD/2\"}]}",
          f);
    fclose(f);
    CLI(c, &r, NULL, "submit", "--nodes", nodes, "--ledger", LEDGER, "--file", path);
    cli_expect(c, &r, 2, false);
    LGT_CHECK(c, strstr(r.err, "postings[0].amount") != NULL, "stderr: %s", r.err);
    cli_free(&r);
    /* None of those wrote anything: still one transaction. */
    CLI(c, &r, NULL, "txs", "--nodes", nodes, "--ledger", LEDGER, "--all", "--json");
    cli_expect(c, &r, 0, true);
    LGT_CHECK(c, get_u64(c, r.doc, "count") == 1, "refused commands wrote: %s", r.out);
    cli_free(&r);

    /* Not found: 5. */
    CLI(c, &r, NULL, "tx", "--nodes", nodes, "--ledger", LEDGER, "99");
    cli_expect(c, &r, 5, false);
    LGT_CHECK(c, strstr(r.err, "not_found") != NULL, "stderr: %s", r.err);
    cli_free(&r);

    /* digest is served (issue 8; test_verify.c covers it): a size beyond the tree is 5. */
    CLI(c, &r, NULL, "digest", "--nodes", nodes, "--json", "--tree-size", "1000000");
    cli_expect(c, &r, 5, true);
    LGT_CHECK(c, strcmp(get_str(c, get(c, r.doc, "error", LG_JSON_OBJECT), "code"),
                        "not_found") == 0, "digest: %s", r.out);
    cli_free(&r);
    /* Unavailable: a node list nobody listens on. */
    unsigned leader = lgt_cluster_leader(c, LGT_LEADER_TIMEOUT_MS);
    unsigned dead = follower_of(c, leader);
    char dead_addr[LGT_ADDRESS_BYTES];
    snprintf(dead_addr, sizeof dead_addr, "%s", c->nodes[dead].client_address);
    lgt_node_kill(c, dead);
    CLI(c, &r, NULL, "tx", "--nodes", dead_addr, "--ledger", LEDGER, "0", "--attempts", "2");
    cli_expect(c, &r, 4, false);
    LGT_CHECK(c, strstr(r.err, "unavailable") != NULL, "stderr: %s", r.err);
    cli_free(&r);
    lgt_cluster_pass(c);
}

/* status lists every node, one leader; a killed node is shown unreachable and makes the
 * exit code 4; members lists the three voters with one leader. */
Test(cluster, cli_status_and_members, .fini = lgt_cluster_fini, .timeout = 180)
{
    struct lgt_cluster_options o = {.n_nodes = 3};
    struct lgt_cluster *c = lgt_cluster_new(&o);
    lgt_cluster_start(c);
    unsigned leader = lgt_cluster_leader(c, LGT_LEADER_TIMEOUT_MS);
    char nodes[512];
    all_nodes(c, nodes, sizeof nodes);
    struct cli_run r;
    CLI(c, &r, NULL, "status", "--nodes", nodes, "--json");
    cli_expect(c, &r, 0, true);
    const struct lg_json *list = get(c, r.doc, "nodes", LG_JSON_ARRAY);
    LGT_CHECK(c, list->n == 3, "%u nodes", list->n);
    unsigned leaders = 0;
    unsigned k = 0;
    for (const struct lg_json *n = list->child; n != NULL; n = n->next, k++) {
        LGT_CHECK(c, get(c, n, "reachable", LG_JSON_TRUE) != NULL, "reachable");
        LGT_CHECK(c, strcmp(get_str(c, n, "address"), c->nodes[k].client_address) == 0,
                  "row %u address", k);
        LGT_CHECK(c, get_u64(c, n, "node_id") == c->nodes[k].id, "row %u id", k);
        leaders += strcmp(get_str(c, n, "role"), "leader") == 0;
        LGT_CHECK(c, get_u64(c, n, "leader_id") == c->nodes[leader].id, "leader_id");
        LGT_CHECK(c, strlen(get_str(c, n, "chain_head")) == 64, "chain_head");
    }
    LGT_CHECK(c, leaders == 1, "%u leaders", leaders);
    cli_free(&r);

    CLI(c, &r, NULL, "members", "--nodes", nodes, "--json");
    cli_expect(c, &r, 0, true);
    list = get(c, r.doc, "members", LG_JSON_ARRAY);
    LGT_CHECK(c, list->n == 3, "%u members", list->n);
    leaders = 0;
    for (const struct lg_json *m = list->child; m != NULL; m = m->next) {
        LGT_CHECK(c, strcmp(get_str(c, m, "role"), "voter") == 0, "role");
        if (lg_json_member(m, "leader")->type == LG_JSON_TRUE) {
            leaders++;
            LGT_CHECK(c, get_u64(c, m, "id") == c->nodes[leader].id, "leader id");
        }
    }
    LGT_CHECK(c, leaders == 1, "%u leaders among members", leaders);
    cli_free(&r);

    unsigned dead = follower_of(c, leader);
    lgt_node_kill(c, dead);
    CLI(c, &r, NULL, "status", "--nodes", nodes, "--timeout-ms", "1000");
    cli_expect(c, &r, 4, false);
    LGT_CHECK(c, strstr(r.out, "unreachable") != NULL, "table: %s", r.out);
    LGT_CHECK(c, strstr(r.err, c->nodes[dead].client_address) != NULL, "stderr: %s", r.err);
    cli_free(&r);
    CLI(c, &r, NULL, "status", "--nodes", nodes, "--timeout-ms", "1000", "--json");
    cli_expect(c, &r, 4, true);
    list = get(c, r.doc, "nodes", LG_JSON_ARRAY);
    k = 0;
    for (const struct lg_json *n = list->child; n != NULL; n = n->next, k++) {
        LGT_CHECK(c, get(c, n, "reachable", k == dead ? LG_JSON_FALSE : LG_JSON_TRUE) != NULL,
                  "row %u reachable", k);
    }
    cli_free(&r);
    lgt_cluster_pass(c);
}

/* A leader SIGKILLed between two sends: the second, given the dead leader first in
 * --nodes, succeeds on the new leader; both transactions are there exactly once. */
Test(cluster, cli_send_after_the_leader_is_killed, .fini = lgt_cluster_fini, .timeout = 180)
{
    struct lgt_cluster_options o = {.n_nodes = 3};
    struct lgt_cluster *c = lgt_cluster_new(&o);
    lgt_cluster_start(c);
    unsigned leader = lgt_cluster_leader(c, LGT_LEADER_TIMEOUT_MS);
    unsigned order[3] = {leader, (leader + 1u) % 3u, (leader + 2u) % 3u};
    char nodes[512];
    nodes_arg(c, order, 3, nodes, sizeof nodes);
    struct cli_run r;
    CLI(c, &r, NULL, "send", "--nodes", nodes, "--ledger", LEDGER, "--from", "world", "--to",
        "users:1:main", "--amount", "7", "--asset", ASSET, "--json");
    cli_expect(c, &r, 0, true);
    char ref1[LGT_REFERENCE_BYTES];
    snprintf(ref1, sizeof ref1, "%s", get_str(c, r.doc, "reference"));
    cli_free(&r);

    lgt_node_kill(c, leader);
    CLI(c, &r, NULL, "send", "--nodes", nodes, "--ledger", LEDGER, "--from", "world", "--to",
        "users:2:main", "--amount", "9", "--asset", ASSET, "--json");
    cli_expect(c, &r, 0, true);
    LGT_CHECK(c, get_u64(c, r.doc, "tx_id") == 1, "second send is tx %llu",
              (unsigned long long)get_u64(c, r.doc, "tx_id"));
    char ref2[LGT_REFERENCE_BYTES];
    snprintf(ref2, sizeof ref2, "%s", get_str(c, r.doc, "reference"));
    uint64_t index = get_u64(c, r.doc, "index");
    LGT_CHECK(c, strcmp(ref1, ref2) != 0, "two sends share reference %s", ref1);
    cli_free(&r);

    /* Both there, once each, on the survivors. */
    CLI(c, &r, NULL, "txs", "--nodes", nodes, "--ledger", LEDGER, "--all", "--json");
    cli_expect(c, &r, 0, true);
    LGT_CHECK(c, get_u64(c, r.doc, "count") == 2, "transactions: %s", r.out);
    cli_free(&r);
    for (unsigned i = 0; i < 3; i++) {
        if (i == leader) {
            continue;
        }
        struct lgt_tx tx;
        LGT_CHECK(c, tx_on_node(c, i, ref1, index, &tx) && tx.tx_id == 0, "node %u: %s", i,
                  ref1);
        LGT_CHECK(c, tx_on_node(c, i, ref2, index, &tx) && tx.tx_id == 1, "node %u: %s", i,
                  ref2);
    }
    lgt_cluster_pass(c);
}

/* serve refuses a wildcard --gossip (0.0.0.0:P, [::]:P): it is announced to peers as given,
 * who would then send to themselves and declare the node dead. Usage error, exit 2, naming
 * the fix; nothing is started (the data directory is not created). A specific address is
 * accepted by the same check. */
Test(cluster, cli_serve_refuses_a_wildcard_gossip_address, .fini = lgt_cluster_fini,
     .timeout = 60)
{
    struct lgt_cluster_options o = {.n_nodes = 1};
    struct lgt_cluster *c = lgt_cluster_new(&o);
    char data[FILE_PATH_MAX];
    snprintf(data, sizeof data, "%s/wild", c->dir);
    static const char *const wild[] = {"0.0.0.0:7946", "[::]:7946", "[0:0::0]:7946"};
    for (unsigned k = 0; k < 3; k++) {
        struct cli_run r;
        CLI(c, &r, NULL, "serve", "--id", "1", "--data", data, "--raft", "127.0.0.1:1",
            "--client", "127.0.0.1:2", "--gossip", wild[k], "--initial-cluster",
            "1=127.0.0.1:1");
        cli_expect(c, &r, 2, false);
        LGT_CHECK(c, strstr(r.err, "--gossip") != NULL && strstr(r.err, "wildcard") != NULL &&
                         strstr(r.err, "address peers reach") != NULL,
                  "%s: stderr does not name the problem and the fix: %s", wild[k], r.err);
        cli_free(&r);
        struct stat sb;
        LGT_CHECK(c, stat(data, &sb) != 0, "%s: the data directory was created", wild[k]);
    }
    lgt_cluster_pass(c);
}
