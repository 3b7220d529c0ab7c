/* cli: flags, client, exit codes and output shared by the client subcommands (cli.h). */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "addr.h"
#include "assert.h"
#include "cmd.h"

#define DEFAULT_NODES "127.0.0.1:7201"

static const char common_usage[] =
    "\n"
    "common flags:\n"
    "  --nodes H:P,H:P      nodes to talk to (else $LEDGER_NODES, else " DEFAULT_NODES ");\n"
    "                       any node will do: writes follow the leader\n"
    "  --json               one JSON document on stdout (amounts as decimal strings)\n"
    "  --timeout-ms N       per attempt (default 15000)\n"
    "  --attempts N         tries before giving up (default 12, with backoff)\n"
    "exit codes: 0 ok, 1 failed, 2 usage or invalid input, 3 rejected, 4 unavailable,\n"
    "5 not found (docs/cli.md)\n";

static const char read_usage[] =
    "  --consistency C      stale | after | linearizable (default)\n"
    "  --after-index N      wait until the answering node applied index N (implies after)\n";

struct lg_str lg_cmd_cli_str(const char *s)
{
    struct lg_str v = {s, s != NULL ? (uint32_t)strnlen(s, UINT32_MAX) : 0u};
    return v;
}

const char *lg_cmd_cli_cstr(struct lg_str s, char *out, size_t size)
{
    LG_PRE(out != NULL && size > 0);
    size_t n = s.len < size - 1 ? s.len : size - 1;
    if (n > 0) {
        memcpy(out, s.ptr, n);
    }
    out[n] = '\0';
    return out;
}

bool lg_cmd_cli_u64(const char *s, uint64_t max, uint64_t *out)
{
    LG_PRE(s != NULL && out != NULL);
    if (s[0] < '0' || s[0] > '9' || (s[0] == '0' && s[1] != '\0')) {
        return false;
    }
    uint64_t v = 0;
    for (const char *p = s; *p != '\0'; p++) {
        if (*p < '0' || *p > '9') {
            return false;
        }
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (UINT64_MAX - d) / 10u) {
            return false;
        }
        v = v * 10u + d;
    }
    if (v > max) {
        return false;
    }
    *out = v;
    return true;
}

int lg_cmd_cli_reference(char out[LG_CMD_CLI_REFERENCE_BYTES])
{
    unsigned char rnd[16];
    size_t got = 0;
    while (got < sizeof rnd) {
        ssize_t n = getrandom(rnd + got, sizeof rnd - got, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return LG_EIO;
        }
        got += (size_t)n;
    }
    memcpy(out, "cli-", 4);
    lg_cmd_hex(rnd, sizeof rnd, out + 4);
    LG_POST(strlen(out) == LG_CMD_CLI_REFERENCE_BYTES - 1u);
    return LG_OK;
}

void lg_cmd_cli_time(uint64_t us, char out[32])
{
    time_t secs = (time_t)(us / 1000000u);
    struct tm tm;
    if (gmtime_r(&secs, &tm) == NULL) {
        snprintf(out, 32, "%llu", (unsigned long long)us);
        return;
    }
    char day[24];
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 32, "%.20s.%06uZ", day, (unsigned)(us % 1000000u));
}

/* ---- exit codes ---- */

int lg_cmd_cli_exit_for(int code)
{
    switch (code) {
    case LG_OK:
        return LG_CMD_EXIT_OK;
    case LG_EBADREQ:
    case LG_ETOOLARGE:
        return LG_CMD_EXIT_USAGE; /* the input the user gave was refused */
    case LG_EFUNDS:
    case LG_ECONDITION:
    case LG_ECONFLICT:
    case LG_EOVERFLOW:
        return LG_CMD_EXIT_REJECTED;
    case LG_ENOTFOUND:
    case LG_ERANGE:
        return LG_CMD_EXIT_NOTFOUND;
    case LG_ENOTLEADER:
    case LG_EUNAVAIL:
    case LG_ETIMEOUT:
        return LG_CMD_EXIT_UNAVAIL;
    default:
        return LG_CMD_EXIT_FAILED; /* unknown_op (an older server), internal */
    }
}

/* ---- errors ---- */

int lg_cmd_cli_usage(struct lg_cmd_cli *c, const char *fmt, ...)
{
    char msg[LG_ERRMSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "ledger-node: %s: %s\n", c->name, msg);
    fprintf(stderr, "(ledger-node %s --help describes the flags)\n", c->name);
    return LG_CMD_EXIT_USAGE;
}

int lg_cmd_cli_error(struct lg_cmd_cli *c, int exit_code, const char *wire, const char *fmt,
                     ...)
{
    char msg[2 * LG_ERRMSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "ledger-node: %s: %s: %s\n", c->name, wire, msg);
    if (c->json) {
        lg_buf_reset(&c->out);
        memset(&c->jw, 0, sizeof c->jw);
        c->jw.b = &c->out;
        lg_cmd_jw_open(&c->jw, '{');
        lg_cmd_jw_key(&c->jw, "error");
        lg_cmd_jw_open(&c->jw, '{');
        lg_cmd_jw_key(&c->jw, "code");
        lg_cmd_jw_cstr(&c->jw, wire);
        lg_cmd_jw_key(&c->jw, "message");
        lg_cmd_jw_cstr(&c->jw, msg);
        lg_cmd_jw_key(&c->jw, "exit");
        lg_cmd_jw_u64(&c->jw, (uint64_t)exit_code);
        lg_cmd_jw_close(&c->jw, '}');
        lg_cmd_jw_close(&c->jw, '}');
        if (!c->jw.failed && lg_buf_append(&c->out, "\n", 1)) {
            fwrite(c->out.data, 1, c->out.len, stdout);
            fflush(stdout);
        }
        lg_buf_reset(&c->out);
    }
    return exit_code;
}

/* ---- flags ---- */

static int parse_nodes(struct lg_cmd_cli *c, const char *list, const char *from)
{
    size_t len = strlen(list);
    if (len == 0 || len >= sizeof c->nodes_text) {
        return lg_cmd_cli_usage(c, "%s: give 1..%u HOST:PORT addresses, comma-separated", from,
                                LG_CLIENT_NODES_MAX);
    }
    memcpy(c->nodes_text, list, len + 1);
    c->n_nodes = 0;
    char *p = c->nodes_text;
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma != NULL) {
            *comma = '\0';
        }
        if (c->n_nodes == LG_CLIENT_NODES_MAX) {
            return lg_cmd_cli_usage(c, "%s: more than %u nodes", from, LG_CLIENT_NODES_MAX);
        }
        char host[LG_ADDR_BYTES_MAX];
        char port[8];
        char msg[LG_ERRMSG_SIZE];
        if (lg_addr_split(p, host, sizeof host, port, sizeof port, 0, msg) != LG_OK) {
            return lg_cmd_cli_usage(c, "%s: '%s': %s", from, p, msg);
        }
        c->nodes[c->n_nodes++] = p;
        if (comma == NULL) {
            break;
        }
        p = comma + 1;
    }
    return -1;
}

static int parse_meta(struct lg_cmd_cli *c, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (eq == NULL || eq == kv) {
        return lg_cmd_cli_usage(c, "--meta takes KEY=VALUE, got '%s'", kv);
    }
    if (c->n_meta == LG_CMD_CLI_META_MAX) {
        return lg_cmd_cli_usage(c, "more than %u --meta pairs", LG_CMD_CLI_META_MAX);
    }
    struct lg_kv *m = &c->meta[c->n_meta++];
    m->key.ptr = kv;
    m->key.len = (uint32_t)(eq - kv);
    m->value = lg_cmd_cli_str(eq + 1);
    return -1;
}

static int parse_u64_flag(struct lg_cmd_cli *c, const char *flag, const char *v, uint64_t min,
                          uint64_t max, uint64_t *out)
{
    if (!lg_cmd_cli_u64(v, max, out) || *out < min) {
        return lg_cmd_cli_usage(c, "%s takes an integer in %llu..%llu, got '%s'", flag,
                                (unsigned long long)min, (unsigned long long)max, v);
    }
    return -1;
}

/* One flag with its value (v NULL for a boolean flag). Returns -1 or an exit code. */
static int parse_flag(struct lg_cmd_cli *c, const char *f, const char *v)
{
    uint64_t n = 0;
    int rc = -1;
    if (strcmp(f, "--nodes") == 0) {
        return parse_nodes(c, v, "--nodes");
    }
    if (strcmp(f, "--timeout-ms") == 0) {
        rc = parse_u64_flag(c, f, v, 1, 3600000, &n);
        c->timeout_ms = (unsigned)n;
        return rc;
    }
    if (strcmp(f, "--attempts") == 0) {
        rc = parse_u64_flag(c, f, v, 1, 1000, &n);
        c->attempts = (uint32_t)n;
        return rc;
    }
    unsigned fl = c->flags;
    if ((fl & (LG_CMD_CLI_F_LEDGER | LG_CMD_CLI_F_LEDGER_OPT)) && strcmp(f, "--ledger") == 0) {
        c->ledger = v;
    } else if ((fl & LG_CMD_CLI_F_READ) && strcmp(f, "--consistency") == 0) {
        if (strcmp(v, "stale") == 0) {
            c->consistency = LG_PROTO_READ_STALE;
        } else if (strcmp(v, "after") == 0) {
            c->consistency = LG_PROTO_READ_AFTER;
        } else if (strcmp(v, "linearizable") == 0) {
            c->consistency = LG_PROTO_READ_LINEARIZABLE;
        } else {
            return lg_cmd_cli_usage(c, "--consistency is stale, after or linearizable, got "
                                    "'%s'", v);
        }
    } else if ((fl & LG_CMD_CLI_F_READ) && strcmp(f, "--after-index") == 0) {
        rc = parse_u64_flag(c, f, v, 1, UINT64_MAX, &c->after_index);
    } else if ((fl & (LG_CMD_CLI_F_SEND | LG_CMD_CLI_F_VERIFY)) && strcmp(f, "--from") == 0) {
        c->from = v;
    } else if ((fl & (LG_CMD_CLI_F_SEND | LG_CMD_CLI_F_VERIFY)) && strcmp(f, "--to") == 0) {
        c->to = v;
    } else if ((fl & LG_CMD_CLI_F_DIGEST) && strcmp(f, "--tree-size") == 0) {
        rc = parse_u64_flag(c, f, v, 0, UINT64_MAX, &c->tree_size);
        c->has_tree_size = true;
    } else if ((fl & LG_CMD_CLI_F_DIGEST) && strcmp(f, "--save") == 0) {
        c->save = v;
    } else if ((fl & LG_CMD_CLI_F_VERIFY) && strcmp(f, "--tx") == 0) {
        rc = parse_u64_flag(c, f, v, 0, UINT64_MAX, &c->tx_id);
        c->has_tx = true;
    } else if ((fl & LG_CMD_CLI_F_VERIFY) && strcmp(f, "--digest") == 0) {
        c->digest = v;
    } else if ((fl & LG_CMD_CLI_F_SEND) && strcmp(f, "--amount") == 0) {
        c->amount = v;
    } else if ((fl & (LG_CMD_CLI_F_SEND | LG_CMD_CLI_F_ASSET)) && strcmp(f, "--asset") == 0) {
        c->asset = v;
    } else if ((fl & LG_CMD_CLI_F_SEND) && strcmp(f, "--meta") == 0) {
        rc = parse_meta(c, v);
    } else if ((fl & LG_CMD_CLI_F_REF) && strcmp(f, "--reference") == 0) {
        c->reference = v;
    } else if ((fl & LG_CMD_CLI_F_FILE) && strcmp(f, "--file") == 0) {
        c->file = v;
    } else if ((fl & LG_CMD_CLI_F_TXS) && strcmp(f, "--account") == 0) {
        c->account = v;
    } else if ((fl & LG_CMD_CLI_F_TXS) && strcmp(f, "--from-ts") == 0) {
        rc = parse_u64_flag(c, f, v, 0, UINT64_MAX, &c->from_ts);
        c->has_from_ts = true;
    } else if ((fl & LG_CMD_CLI_F_TXS) && strcmp(f, "--to-ts") == 0) {
        rc = parse_u64_flag(c, f, v, 0, UINT64_MAX, &c->to_ts);
        c->has_to_ts = true;
    } else if ((fl & LG_CMD_CLI_F_TXS) && strcmp(f, "--limit") == 0) {
        rc = parse_u64_flag(c, f, v, 1, LG_PAGE_LIMIT_MAX, &n);
        c->limit = (uint32_t)n;
    } else if ((fl & LG_CMD_CLI_F_TXS) && strcmp(f, "--cursor") == 0) {
        c->cursor = v;
    } else {
        return lg_cmd_cli_usage(c, "unknown flag '%s'", f);
    }
    return rc;
}

/* Is f a flag of this subcommand (common flags: mask 0)? */
static bool flag_known(const struct lg_cmd_cli *c, const char *f)
{
    static const struct {
        const char *name;
        unsigned mask;
    } known[] = {
        {"--nodes", 0},
        {"--timeout-ms", 0},
        {"--attempts", 0},
        {"--ledger", LG_CMD_CLI_F_LEDGER | LG_CMD_CLI_F_LEDGER_OPT},
        {"--consistency", LG_CMD_CLI_F_READ},
        {"--after-index", LG_CMD_CLI_F_READ},
        {"--from", LG_CMD_CLI_F_SEND | LG_CMD_CLI_F_VERIFY},
        {"--to", LG_CMD_CLI_F_SEND | LG_CMD_CLI_F_VERIFY},
        {"--tree-size", LG_CMD_CLI_F_DIGEST},
        {"--save", LG_CMD_CLI_F_DIGEST},
        {"--tx", LG_CMD_CLI_F_VERIFY},
        {"--digest", LG_CMD_CLI_F_VERIFY},
        {"--amount", LG_CMD_CLI_F_SEND},
        {"--asset", LG_CMD_CLI_F_SEND | LG_CMD_CLI_F_ASSET},
        {"--meta", LG_CMD_CLI_F_SEND},
        {"--reference", LG_CMD_CLI_F_REF},
        {"--file", LG_CMD_CLI_F_FILE},
        {"--account", LG_CMD_CLI_F_TXS},
        {"--from-ts", LG_CMD_CLI_F_TXS},
        {"--to-ts", LG_CMD_CLI_F_TXS},
        {"--limit", LG_CMD_CLI_F_TXS},
        {"--cursor", LG_CMD_CLI_F_TXS},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (strcmp(f, known[i].name) == 0) {
            return known[i].mask == 0 || (known[i].mask & c->flags) != 0;
        }
    }
    return false;
}

/* Flags that take no value. */
static bool is_switch(const struct lg_cmd_cli *c, const char *f)
{
    if (strcmp(f, "--json") == 0) {
        return true;
    }
    return (c->flags & LG_CMD_CLI_F_TXS) && (strcmp(f, "--desc") == 0 ||
                                              strcmp(f, "--all") == 0);
}

int lg_cmd_cli_parse(struct lg_cmd_cli *c, const char *name, const char *usage,
                     unsigned flags, unsigned n_args_min, unsigned n_args_max, int argc,
                     char **argv)
{
    LG_PRE(c != NULL && name != NULL && usage != NULL);
    LG_PRE(n_args_min <= n_args_max && n_args_max <= LG_CMD_CLI_ARGS_MAX);
    memset(c, 0, sizeof *c);
    c->name = name;
    c->usage = usage;
    c->flags = flags;
    c->n_args_min = n_args_min;
    c->n_args_max = n_args_max;
    lg_arena_init(&c->arena, LG_CMD_CLI_ARENA_BYTES);
    lg_buf_init(&c->out);
    c->jw.b = &c->out;

    bool nodes_given = false;
    bool positional_only = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!positional_only && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
            fputs(usage, stdout);
            if (flags & LG_CMD_CLI_F_READ) {
                fputs(read_usage, stdout);
            }
            fputs(common_usage, stdout);
            return LG_CMD_EXIT_OK;
        }
        if (!positional_only && strcmp(a, "--") == 0) {
            positional_only = true;
            continue;
        }
        if (positional_only || strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            if (c->n_args == n_args_max) {
                return lg_cmd_cli_usage(c, "unexpected argument '%s'", a);
            }
            c->args[c->n_args++] = a;
            continue;
        }
        if (is_switch(c, a)) {
            c->json |= strcmp(a, "--json") == 0;
            c->desc |= strcmp(a, "--desc") == 0;
            c->all |= strcmp(a, "--all") == 0;
            continue;
        }
        /* --flag=value or --flag value. */
        char flag[64];
        const char *eq = strchr(a, '=');
        const char *v;
        if (eq != NULL) {
            if ((size_t)(eq - a) >= sizeof flag) {
                return lg_cmd_cli_usage(c, "unknown flag '%s'", a);
            }
            memcpy(flag, a, (size_t)(eq - a));
            flag[eq - a] = '\0';
            v = eq + 1;
        } else {
            lg_cmd_cli_cstr(lg_cmd_cli_str(a), flag, sizeof flag);
            if (!flag_known(c, flag)) {
                return lg_cmd_cli_usage(c, "unknown flag '%s'", a);
            }
            if (i + 1 >= argc) {
                return lg_cmd_cli_usage(c, "%s needs a value", a);
            }
            v = argv[++i];
        }
        if (!flag_known(c, flag)) {
            return lg_cmd_cli_usage(c, "unknown flag '%s'", flag);
        }
        nodes_given |= strcmp(flag, "--nodes") == 0;
        int rc = parse_flag(c, flag, v);
        if (rc >= 0) {
            return rc;
        }
    }
    if (c->n_args < n_args_min) {
        return lg_cmd_cli_usage(c, "missing argument (see --help)");
    }
    if ((flags & LG_CMD_CLI_F_LEDGER) && c->ledger == NULL) {
        return lg_cmd_cli_usage(c, "--ledger L is required");
    }
    if (c->after_index != 0 && c->consistency != LG_PROTO_READ_DEFAULT &&
        c->consistency != LG_PROTO_READ_AFTER) {
        return lg_cmd_cli_usage(c, "--after-index goes with --consistency after only");
    }
    if (c->consistency == LG_PROTO_READ_AFTER && c->after_index == 0) {
        return lg_cmd_cli_usage(c, "--consistency after needs --after-index N");
    }
    if (!nodes_given) {
        const char *env = getenv("LEDGER_NODES");
        int rc = parse_nodes(c, env != NULL && env[0] != '\0' ? env : DEFAULT_NODES,
                             env != NULL && env[0] != '\0' ? "LEDGER_NODES" : "default");
        if (rc >= 0) {
            return rc;
        }
    }
    return -1;
}

void lg_cmd_cli_close(struct lg_cmd_cli *c)
{
    lg_client_close(c->client);
    c->client = NULL;
    lg_arena_close(&c->arena);
    lg_buf_close(&c->out);
}

void lg_cmd_cli_read_options(const struct lg_cmd_cli *c, struct lg_proto_request *req)
{
    req->consistency = c->after_index != 0 ? LG_PROTO_READ_AFTER : c->consistency;
    req->after_index = c->after_index;
}

/* ---- calls ---- */

int lg_cmd_cli_call(struct lg_cmd_cli *c, struct lg_proto_request *req,
                    struct lg_proto_response *resp, const char *hint)
{
    const char *what = lg_proto_op_name(req->op);
    char msg[LG_ERRMSG_SIZE] = "";
    int rc = lg_proto_check_request(req, msg);
    if (rc != LG_OK) {
        return lg_cmd_cli_error(c, LG_CMD_EXIT_USAGE, lg_err_wire(rc), "%s", msg);
    }
    if (c->client == NULL) {
        struct lg_client_options o = {0};
        o.nodes = c->nodes;
        o.n_nodes = c->n_nodes;
        o.request_timeout_ms = c->timeout_ms;
        o.connect_timeout_ms = c->timeout_ms != 0 && c->timeout_ms < LG_CLIENT_CONNECT_TIMEOUT_MS
                                   ? c->timeout_ms
                                   : 0;
        o.attempts_max = c->attempts;
        rc = lg_client_open(&c->client, &o, msg);
        if (rc != LG_OK) {
            return lg_cmd_cli_error(c, rc == LG_EINVAL ? LG_CMD_EXIT_USAGE : LG_CMD_EXIT_FAILED,
                                    lg_err_wire(rc), "%s", msg);
        }
    }
    memset(resp, 0, sizeof *resp);
    rc = lg_client_call(c->client, req, &c->arena, resp, msg);
    if (rc == LG_EUNAVAIL || rc == LG_ETIMEOUT) {
        return lg_cmd_cli_error(c, LG_CMD_EXIT_UNAVAIL, lg_err_wire(rc), "%s: %s%s", what, msg,
                                hint != NULL ? hint : "");
    }
    if (rc != LG_OK) {
        /* The request was valid (checked above), so this is the server's fault. */
        return lg_cmd_cli_error(c, LG_CMD_EXIT_FAILED, "internal",
                                "%s: bad answer from %s: %s (%s)%s", what,
                                lg_client_current(c->client), msg, lg_err_name(rc),
                                hint != NULL ? hint : "");
    }
    if (!resp->ok) {
        int code = resp->error.code;
        return lg_cmd_cli_error(c, lg_cmd_cli_exit_for(code), lg_err_wire(code), "%.*s",
                                (int)resp->error.message.len,
                                resp->error.message.ptr != NULL ? resp->error.message.ptr : "");
    }
    return -1;
}

int lg_cmd_cli_finish(struct lg_cmd_cli *c)
{
    if (!c->json) {
        return fflush(stdout) == 0 ? LG_CMD_EXIT_OK
                                   : lg_cmd_fail(LG_CMD_EXIT_FAILED, "%s: cannot write output",
                                                 c->name);
    }
    LG_ASSERT(c->jw.failed || c->jw.depth == 0);
    if (c->jw.failed || !lg_buf_append(&c->out, "\n", 1)) {
        return lg_cmd_fail(LG_CMD_EXIT_FAILED, "%s: out of memory building the output",
                           c->name);
    }
    if (fwrite(c->out.data, 1, c->out.len, stdout) != c->out.len || fflush(stdout) != 0) {
        return lg_cmd_fail(LG_CMD_EXIT_FAILED, "%s: cannot write output", c->name);
    }
    return LG_CMD_EXIT_OK;
}

/* ---- JSON output ---- */

static void jw_raw(struct lg_cmd_jw *w, const char *s, size_t n)
{
    if (!w->failed && !lg_buf_append(w->b, s, n)) {
        w->failed = true;
    }
}

/* Before a value or a key: the comma between siblings. */
static void jw_sep(struct lg_cmd_jw *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->depth > 0) {
        if (w->comma[w->depth - 1]) {
            jw_raw(w, ",", 1);
        }
        w->comma[w->depth - 1] = true;
    }
}

void lg_cmd_jw_open(struct lg_cmd_jw *w, char bracket)
{
    LG_PRE(bracket == '{' || bracket == '[');
    LG_PRE(w->depth < LG_JSON_DEPTH_MAX);
    jw_sep(w);
    jw_raw(w, &bracket, 1);
    w->comma[w->depth++] = false;
}

void lg_cmd_jw_close(struct lg_cmd_jw *w, char bracket)
{
    LG_PRE(bracket == '}' || bracket == ']');
    LG_PRE(w->depth > 0 && !w->after_key);
    w->depth--;
    jw_raw(w, &bracket, 1);
}

void lg_cmd_jw_keyn(struct lg_cmd_jw *w, struct lg_str key)
{
    LG_PRE(!w->after_key);
    jw_sep(w);
    if (!w->failed && !lg_json_quote(w->b, key.ptr, key.len)) {
        w->failed = true;
    }
    jw_raw(w, ":", 1);
    w->after_key = true;
}

void lg_cmd_jw_key(struct lg_cmd_jw *w, const char *key)
{
    lg_cmd_jw_keyn(w, lg_cmd_cli_str(key));
}

void lg_cmd_jw_str(struct lg_cmd_jw *w, struct lg_str s)
{
    jw_sep(w);
    if (!w->failed && !lg_json_quote(w->b, s.ptr, s.len)) {
        w->failed = true;
    }
}

void lg_cmd_jw_cstr(struct lg_cmd_jw *w, const char *s)
{
    lg_cmd_jw_str(w, lg_cmd_cli_str(s));
}

void lg_cmd_jw_str_or_null(struct lg_cmd_jw *w, struct lg_str s)
{
    if (s.len == 0) {
        jw_sep(w);
        jw_raw(w, "null", 4);
    } else {
        lg_cmd_jw_str(w, s);
    }
}

void lg_cmd_jw_u64(struct lg_cmd_jw *w, uint64_t v)
{
    char t[24];
    int n = snprintf(t, sizeof t, "%llu", (unsigned long long)v);
    jw_sep(w);
    jw_raw(w, t, (size_t)n);
}

void lg_cmd_jw_bool(struct lg_cmd_jw *w, bool v)
{
    jw_sep(w);
    jw_raw(w, v ? "true" : "false", v ? 4u : 5u);
}

void lg_cmd_jw_amount(struct lg_cmd_jw *w, lg_u128 v)
{
    char t[LG_AMOUNT_TEXT_MAX];
    size_t n = lg_amount_format(v, t);
    lg_cmd_jw_str(w, (struct lg_str){t, (uint32_t)n});
}

void lg_cmd_jw_balance(struct lg_cmd_jw *w, lg_i128 v)
{
    char t[LG_AMOUNT_TEXT_MAX];
    size_t n = lg_amount_format_signed(v, t);
    lg_cmd_jw_str(w, (struct lg_str){t, (uint32_t)n});
}

void lg_cmd_jw_hash(struct lg_cmd_jw *w, const uint8_t hash[LG_PROTO_HASH_BYTES])
{
    char t[2 * LG_PROTO_HASH_BYTES + 1];
    lg_cmd_hex(hash, LG_PROTO_HASH_BYTES, t);
    lg_cmd_jw_cstr(w, t);
}

void lg_cmd_jw_tx(struct lg_cmd_jw *w, const struct lg_proto_tx *tx)
{
    lg_cmd_jw_open(w, '{');
    lg_cmd_jw_key(w, "ledger");
    lg_cmd_jw_str(w, tx->ledger);
    lg_cmd_jw_key(w, "tx_id");
    lg_cmd_jw_u64(w, tx->tx_id);
    lg_cmd_jw_key(w, "seq");
    lg_cmd_jw_u64(w, tx->seq);
    lg_cmd_jw_key(w, "index");
    lg_cmd_jw_u64(w, tx->index);
    lg_cmd_jw_key(w, "timestamp");
    lg_cmd_jw_u64(w, tx->timestamp_us);
    lg_cmd_jw_key(w, "reference");
    lg_cmd_jw_str_or_null(w, tx->reference);
    lg_cmd_jw_key(w, "hash");
    lg_cmd_jw_hash(w, tx->hash);
    lg_cmd_jw_key(w, "postings");
    lg_cmd_jw_open(w, '[');
    for (uint32_t i = 0; i < tx->n_postings; i++) {
        const struct lg_posting *p = &tx->postings[i];
        lg_cmd_jw_open(w, '{');
        lg_cmd_jw_key(w, "source");
        lg_cmd_jw_str(w, p->source);
        lg_cmd_jw_key(w, "destination");
        lg_cmd_jw_str(w, p->destination);
        lg_cmd_jw_key(w, "amount");
        lg_cmd_jw_amount(w, p->amount);
        lg_cmd_jw_key(w, "asset");
        lg_cmd_jw_str(w, p->asset);
        lg_cmd_jw_close(w, '}');
    }
    lg_cmd_jw_close(w, ']');
    lg_cmd_jw_key(w, "metadata");
    lg_cmd_jw_open(w, '{');
    for (uint32_t i = 0; i < tx->n_metadata; i++) {
        lg_cmd_jw_keyn(w, tx->metadata[i].key);
        lg_cmd_jw_str(w, tx->metadata[i].value);
    }
    lg_cmd_jw_close(w, '}');
    lg_cmd_jw_close(w, '}');
}

/* ---- tables ---- */

void lg_cmd_table_init(struct lg_cmd_table *t, uint32_t n_cols, uint32_t right_mask)
{
    LG_PRE(n_cols >= 1 && n_cols <= LG_CMD_TABLE_COLS_MAX);
    memset(t, 0, sizeof *t);
    t->n_cols = n_cols;
    t->right_mask = right_mask;
}

void lg_cmd_table_row(struct lg_cmd_table *t, const char *const *cells)
{
    if (t->failed) {
        return;
    }
    if (t->n_rows == t->cap_rows) {
        size_t cap = t->cap_rows == 0 ? 16u : 2u * t->cap_rows;
        char **grown = realloc(t->cells, cap * t->n_cols * sizeof *grown);
        if (grown == NULL) {
            t->failed = true;
            return;
        }
        t->cells = grown;
        t->cap_rows = cap;
    }
    char **row = &t->cells[t->n_rows * t->n_cols];
    for (uint32_t i = 0; i < t->n_cols; i++) {
        row[i] = strdup(cells[i] != NULL ? cells[i] : "-");
        if (row[i] == NULL) {
            for (uint32_t k = 0; k < i; k++) {
                free(row[k]);
            }
            t->failed = true;
            return;
        }
    }
    t->n_rows++;
}

bool lg_cmd_table_print(struct lg_cmd_table *t)
{
    size_t width[LG_CMD_TABLE_COLS_MAX] = {0};
    for (size_t r = 0; r < t->n_rows; r++) {
        for (uint32_t i = 0; i < t->n_cols; i++) {
            size_t n = strlen(t->cells[r * t->n_cols + i]);
            width[i] = n > width[i] ? n : width[i];
        }
    }
    for (size_t r = 0; r < t->n_rows; r++) {
        for (uint32_t i = 0; i < t->n_cols; i++) {
            const char *cell = t->cells[r * t->n_cols + i];
            bool last = i + 1 == t->n_cols;
            int w = (int)width[i];
            if (t->right_mask & (1u << i)) {
                printf("%*s", w, cell);
            } else if (last) {
                fputs(cell, stdout);
            } else {
                printf("%-*s", w, cell);
            }
            fputs(last ? "\n" : "  ", stdout);
        }
    }
    bool ok = !t->failed;
    lg_cmd_table_free(t);
    return ok;
}

void lg_cmd_table_free(struct lg_cmd_table *t)
{
    for (size_t k = 0; k < t->n_rows * t->n_cols; k++) {
        free(t->cells[k]);
    }
    free(t->cells);
    t->cells = NULL;
    t->n_rows = 0;
    t->cap_rows = 0;
}

int lg_cmd_cli_node_status(const char *address, struct lg_arena *arena,
                           struct lg_proto_status *out)
{
    struct lg_conn *c = NULL;
    char errmsg[LG_ERRMSG_SIZE];
    if (lg_conn_open(&c, address, 500, errmsg) != LG_OK) {
        return LG_EUNAVAIL;
    }
    lg_conn_set_timeout(c, 2000);
    struct lg_proto_request req;
    memset(&req, 0, sizeof req);
    req.id = 1;
    req.op = LG_PROTO_OP_STATUS;
    struct lg_proto_response resp;
    int rc = lg_conn_call(c, &req, arena, &resp, errmsg);
    if (rc == LG_OK && !resp.ok) {
        rc = LG_EUNAVAIL;
    }
    if (rc == LG_OK) {
        *out = resp.u.status;
        /* The answer's strings are views into the connection's buffer: copy the one a
         * caller may keep into the arena before the connection goes. */
        struct lg_str lc = out->leader_client;
        char *copy = lc.len > 0 ? lg_arena_alloc(arena, lc.len) : NULL;
        if (lc.len > 0 && copy == NULL) {
            rc = LG_ENOMEM;
        } else if (lc.len > 0) {
            memcpy(copy, lc.ptr, lc.len);
            out->leader_client.ptr = copy;
        }
    }
    lg_conn_close(c);
    return rc;
}
