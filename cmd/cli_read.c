/* cli_read: the reading subcommands: tx, txs, balance, account, status, members
 * (docs/cli.md). Each builds one request (txs --all: one per page), calls it through the
 * cluster client, and prints a table or one JSON document. */
#include <stdio.h>
#include <string.h>

#include "assert.h"
#include "cli.h"
#include "cmd.h"

#define HEX_BYTES (2u * LG_PROTO_HASH_BYTES + 1u)

static const char tx_usage[] =
    "usage: ledger-node tx --ledger L (ID | --reference R) [flags]\n"
    "\n"
    "Shows one committed transaction: by its per-ledger id, or by its reference.\n"
    "Exit 5 when there is none.\n"
    "\n";

static const char txs_usage[] =
    "usage: ledger-node txs --ledger L [--account A] [--from-ts US] [--to-ts US] [--desc]\n"
    "                       [--limit N] [--cursor C | --all] [flags]\n"
    "\n"
    "Lists committed transactions, oldest first (--desc: newest first), optionally of one\n"
    "account and within [from-ts, to-ts) in microseconds since the epoch. One page of\n"
    "--limit (1..1000, default 100) at a time: the next page's cursor is printed; --all\n"
    "follows cursors (at most 1000 pages, then says where it stopped).\n"
    "\n"
    "  --account A    transactions touching account A\n"
    "  --from-ts US   from this timestamp (inclusive)\n"
    "  --to-ts US     to this timestamp (exclusive)\n"
    "  --desc         newest first\n"
    "  --limit N      page size\n"
    "  --cursor C     the page after the one that printed C\n"
    "  --all          every page\n";

static const char balance_usage[] =
    "usage: ledger-node balance --ledger L ADDRESS|PATTERN [--asset A] [flags]\n"
    "\n"
    "Balances of one account, or of every account matching a pattern whose segments may\n"
    "be '*' (users:*:main), per asset, with per-asset totals.\n"
    "\n"
    "  --asset A      only this asset\n";

static const char account_usage[] =
    "usage: ledger-node account --ledger L ADDRESS [flags]\n"
    "\n"
    "One account: version, metadata, and per asset its input and output volumes and\n"
    "balance.\n"
    "\n";

static const char status_usage[] =
    "usage: ledger-node status [flags]\n"
    "\n"
    "Asks every node of --nodes for its status, one row each (role, term, indexes, journal\n"
    "seq, chain head, leader) and its gossip view, GOSSIP: members alive/suspect/dead/left,\n"
    "then the gossip packets it dropped: bad HMAC/another cluster/malformed. An unreachable\n"
    "node is shown as such. Exit 0 when every node answered, 4 otherwise.\n";

static const char members_usage[] =
    "usage: ledger-node members [flags]\n"
    "\n"
    "The Raft configuration and the gossip members as a node knows them, by id: role\n"
    "(voter, standby, spare; none when only gossip knows the node), gossip state (alive,\n"
    "suspect, dead, left; - when gossip does not know it) and incarnation, which member\n"
    "leads, Raft and client addresses.\n";

/* Decimal text of n into out (24 bytes). */
static const char *u64_text(uint64_t n, char out[24])
{
    snprintf(out, 24, "%llu", (unsigned long long)n);
    return out;
}

static const char *amount_text(lg_u128 v, char out[LG_AMOUNT_TEXT_MAX])
{
    lg_amount_format(v, out);
    return out;
}

static const char *balance_text(lg_i128 v, char out[LG_AMOUNT_TEXT_MAX])
{
    lg_amount_format_signed(v, out);
    return out;
}

/* ---- tx ---- */

static void tx_print(const struct lg_proto_tx *tx)
{
    char ts[32];
    char hash[HEX_BYTES];
    char buf[LG_REFERENCE_BYTES_MAX + 1u];
    lg_cmd_cli_time(tx->timestamp_us, ts);
    lg_cmd_hex(tx->hash, LG_PROTO_HASH_BYTES, hash);
    printf("tx         %llu\n", (unsigned long long)tx->tx_id);
    printf("ledger     %.*s\n", (int)tx->ledger.len, tx->ledger.ptr);
    printf("timestamp  %s (%llu)\n", ts, (unsigned long long)tx->timestamp_us);
    printf("reference  %s\n",
           tx->reference.len ? lg_cmd_cli_cstr(tx->reference, buf, sizeof buf) : "-");
    printf("seq        %llu\n", (unsigned long long)tx->seq);
    printf("index      %llu\n", (unsigned long long)tx->index);
    printf("hash       %s\n", hash);
    for (uint32_t i = 0; i < tx->n_metadata; i++) {
        printf("%-10s %.*s=%.*s\n", i == 0 ? "metadata" : "", (int)tx->metadata[i].key.len,
               tx->metadata[i].key.ptr, (int)tx->metadata[i].value.len,
               tx->metadata[i].value.ptr);
    }
    fputc('\n', stdout);
    struct lg_cmd_table t;
    lg_cmd_table_init(&t, 4, 1u << 2);
    const char *head[] = {"SOURCE", "DESTINATION", "AMOUNT", "ASSET"};
    lg_cmd_table_row(&t, head);
    for (uint32_t i = 0; i < tx->n_postings; i++) {
        const struct lg_posting *p = &tx->postings[i];
        char src[LG_ADDRESS_BYTES_MAX + 1u];
        char dst[LG_ADDRESS_BYTES_MAX + 1u];
        char amt[LG_AMOUNT_TEXT_MAX];
        char asset[LG_ASSET_BYTES_MAX + 1u];
        const char *row[] = {lg_cmd_cli_cstr(p->source, src, sizeof src),
                             lg_cmd_cli_cstr(p->destination, dst, sizeof dst),
                             amount_text(p->amount, amt),
                             lg_cmd_cli_cstr(p->asset, asset, sizeof asset)};
        lg_cmd_table_row(&t, row);
    }
    lg_cmd_table_print(&t);
}

int lg_cmd_tx(int argc, char **argv)
{
    struct lg_cmd_cli c;
    int rc = lg_cmd_cli_parse(&c, "tx", tx_usage,
                              LG_CMD_CLI_F_LEDGER | LG_CMD_CLI_F_READ | LG_CMD_CLI_F_REF, 0, 1,
                              argc, argv);
    if (rc >= 0) {
        goto out;
    }
    struct lg_proto_request req;
    memset(&req, 0, sizeof req);
    req.op = LG_PROTO_OP_GET_TX;
    req.u.get_tx.ledger = lg_cmd_cli_str(c.ledger);
    if ((c.n_args == 1) == (c.reference != NULL)) {
        rc = lg_cmd_cli_usage(&c, "give either a transaction ID or --reference R");
        goto out;
    }
    if (c.reference != NULL) {
        req.u.get_tx.by_reference = true;
        req.u.get_tx.reference = lg_cmd_cli_str(c.reference);
    } else if (!lg_cmd_cli_u64(c.args[0], UINT64_MAX, &req.u.get_tx.tx_id)) {
        rc = lg_cmd_cli_usage(&c, "transaction ID must be an integer, got '%s'", c.args[0]);
        goto out;
    }
    lg_cmd_cli_read_options(&c, &req);
    struct lg_proto_response resp;
    rc = lg_cmd_cli_call(&c, &req, &resp, NULL);
    if (rc >= 0) {
        goto out;
    }
    if (c.json) {
        lg_cmd_jw_tx(&c.jw, &resp.u.get_tx);
    } else {
        tx_print(&resp.u.get_tx);
    }
    rc = lg_cmd_cli_finish(&c);
out:
    lg_cmd_cli_close(&c);
    return rc;
}

/* ---- txs ---- */

static void txs_rows(struct lg_cmd_table *t, const struct lg_proto_tx *tx)
{
    char id[24];
    char ts[32];
    char ref[LG_REFERENCE_BYTES_MAX + 1u];
    lg_cmd_cli_time(tx->timestamp_us, ts);
    u64_text(tx->tx_id, id);
    lg_cmd_cli_cstr(tx->reference, ref, sizeof ref);
    for (uint32_t i = 0; i < tx->n_postings; i++) {
        const struct lg_posting *p = &tx->postings[i];
        char src[LG_ADDRESS_BYTES_MAX + 1u];
        char dst[LG_ADDRESS_BYTES_MAX + 1u];
        char amt[LG_AMOUNT_TEXT_MAX];
        char asset[LG_ASSET_BYTES_MAX + 1u];
        const char *row[] = {i == 0 ? id : "", i == 0 ? ts : "",
                             lg_cmd_cli_cstr(p->source, src, sizeof src),
                             lg_cmd_cli_cstr(p->destination, dst, sizeof dst),
                             amount_text(p->amount, amt),
                             lg_cmd_cli_cstr(p->asset, asset, sizeof asset),
                             i == 0 && ref[0] != '\0' ? ref : i == 0 ? "-" : ""};
        lg_cmd_table_row(t, row);
    }
}

int lg_cmd_txs(int argc, char **argv)
{
    struct lg_cmd_cli c;
    struct lg_cmd_table t;
    lg_cmd_table_init(&t, 7, 1u << 0 | 1u << 4);
    char cursor[LG_PROTO_CURSOR_BYTES_MAX + 1u] = "";
    int rc = lg_cmd_cli_parse(&c, "txs", txs_usage,
                              LG_CMD_CLI_F_LEDGER | LG_CMD_CLI_F_READ | LG_CMD_CLI_F_TXS, 0, 0,
                              argc, argv);
    if (rc >= 0) {
        goto out;
    }
    if (c.all && c.cursor != NULL) {
        rc = lg_cmd_cli_usage(&c, "--all starts from the first page: drop --cursor");
        goto out;
    }
    if (c.cursor != NULL) {
        if (strlen(c.cursor) > LG_PROTO_CURSOR_BYTES_MAX) {
            rc = lg_cmd_cli_usage(&c, "--cursor is at most %u bytes",
                                  LG_PROTO_CURSOR_BYTES_MAX);
            goto out;
        }
        lg_cmd_cli_cstr(lg_cmd_cli_str(c.cursor), cursor, sizeof cursor);
    }
    const char *head[] = {"TX", "TIMESTAMP", "SOURCE", "DESTINATION", "AMOUNT", "ASSET",
                          "REFERENCE"};
    lg_cmd_table_row(&t, head);
    if (c.json) {
        lg_cmd_jw_open(&c.jw, '{');
        lg_cmd_jw_key(&c.jw, "txs");
        lg_cmd_jw_open(&c.jw, '[');
    }
    uint64_t count = 0;
    unsigned pages = 0;
    for (;;) {
        struct lg_proto_request req;
        memset(&req, 0, sizeof req);
        req.op = LG_PROTO_OP_LIST_TXS;
        struct lg_proto_list_txs *l = &req.u.list_txs;
        l->ledger = lg_cmd_cli_str(c.ledger);
        l->account = lg_cmd_cli_str(c.account);
        l->has_from_ts = c.has_from_ts;
        l->from_ts = c.from_ts;
        l->has_to_ts = c.has_to_ts;
        l->to_ts = c.to_ts;
        l->order = c.desc ? LG_PROTO_ORDER_DESC : LG_PROTO_ORDER_ASC;
        l->limit = c.limit != 0 ? c.limit : c.all ? LG_PAGE_LIMIT_MAX : 0u;
        l->cursor = lg_cmd_cli_str(cursor);
        lg_cmd_cli_read_options(&c, &req);
        struct lg_proto_response resp;
        lg_arena_reset(&c.arena); /* the previous page was printed and its cursor copied */
        rc = lg_cmd_cli_call(&c, &req, &resp, NULL);
        if (rc >= 0) {
            goto out;
        }
        pages++;
        for (uint32_t i = 0; i < resp.u.list_txs.n_txs; i++) {
            if (c.json) {
                lg_cmd_jw_tx(&c.jw, &resp.u.list_txs.txs[i]);
            } else {
                txs_rows(&t, &resp.u.list_txs.txs[i]);
            }
        }
        count += resp.u.list_txs.n_txs;
        /* Copy the next cursor out of the response before the next call reuses it. */
        lg_cmd_cli_cstr(resp.u.list_txs.cursor, cursor, sizeof cursor);
        if (!c.all || cursor[0] == '\0' || pages == LG_CMD_CLI_PAGES_MAX) {
            break;
        }
    }
    if (c.all && cursor[0] != '\0') {
        fprintf(stderr,
                "ledger-node: txs: stopped after %u pages; continue with --cursor %s\n",
                pages, cursor);
    }
    if (c.json) {
        lg_cmd_jw_close(&c.jw, ']');
        lg_cmd_jw_key(&c.jw, "count");
        lg_cmd_jw_u64(&c.jw, count);
        if (cursor[0] != '\0') {
            lg_cmd_jw_key(&c.jw, "cursor");
            lg_cmd_jw_cstr(&c.jw, cursor);
        }
        lg_cmd_jw_close(&c.jw, '}');
    } else {
        if (!lg_cmd_table_print(&t)) {
            rc = lg_cmd_cli_error(&c, LG_CMD_EXIT_FAILED, "internal", "out of memory");
            goto out;
        }
        printf("(%llu transaction%s)\n", (unsigned long long)count, count == 1 ? "" : "s");
        if (cursor[0] != '\0') {
            printf("next page: --cursor %s\n", cursor);
        }
    }
    rc = lg_cmd_cli_finish(&c);
out:
    lg_cmd_table_free(&t);
    lg_cmd_cli_close(&c);
    return rc;
}

/* ---- balance ---- */

int lg_cmd_balance(int argc, char **argv)
{
    struct lg_cmd_cli c;
    int rc = lg_cmd_cli_parse(&c, "balance", balance_usage,
                              LG_CMD_CLI_F_LEDGER | LG_CMD_CLI_F_READ | LG_CMD_CLI_F_ASSET, 1, 1,
                              argc, argv);
    if (rc >= 0) {
        goto out;
    }
    struct lg_proto_request req;
    memset(&req, 0, sizeof req);
    req.op = LG_PROTO_OP_BALANCES;
    struct lg_proto_balances_req *b = &req.u.balances;
    b->ledger = lg_cmd_cli_str(c.ledger);
    if (strchr(c.args[0], '*') != NULL) {
        b->pattern = lg_cmd_cli_str(c.args[0]);
    } else {
        b->address = lg_cmd_cli_str(c.args[0]);
    }
    b->asset = lg_cmd_cli_str(c.asset);
    lg_cmd_cli_read_options(&c, &req);
    struct lg_proto_response resp;
    rc = lg_cmd_cli_call(&c, &req, &resp, NULL);
    if (rc >= 0) {
        goto out;
    }
    const struct lg_proto_balances *r = &resp.u.balances;
    if (c.json) {
        lg_cmd_jw_open(&c.jw, '{');
        lg_cmd_jw_key(&c.jw, "accounts");
        lg_cmd_jw_open(&c.jw, '{');
        for (uint32_t i = 0; i < r->n_accounts; i++) {
            lg_cmd_jw_keyn(&c.jw, r->accounts[i].address);
            lg_cmd_jw_open(&c.jw, '{');
            for (uint32_t k = 0; k < r->accounts[i].n_balances; k++) {
                lg_cmd_jw_keyn(&c.jw, r->accounts[i].balances[k].asset);
                lg_cmd_jw_balance(&c.jw, r->accounts[i].balances[k].balance);
            }
            lg_cmd_jw_close(&c.jw, '}');
        }
        lg_cmd_jw_close(&c.jw, '}');
        lg_cmd_jw_key(&c.jw, "totals");
        lg_cmd_jw_open(&c.jw, '{');
        for (uint32_t k = 0; k < r->n_totals; k++) {
            lg_cmd_jw_keyn(&c.jw, r->totals[k].asset);
            lg_cmd_jw_balance(&c.jw, r->totals[k].balance);
        }
        lg_cmd_jw_close(&c.jw, '}');
        lg_cmd_jw_close(&c.jw, '}');
    } else {
        struct lg_cmd_table t;
        lg_cmd_table_init(&t, 3, 1u << 2);
        const char *head[] = {"ACCOUNT", "ASSET", "BALANCE"};
        lg_cmd_table_row(&t, head);
        char addr[LG_ADDRESS_BYTES_MAX + 1u];
        char asset[LG_ASSET_BYTES_MAX + 1u];
        char bal[LG_AMOUNT_TEXT_MAX];
        for (uint32_t i = 0; i < r->n_accounts; i++) {
            for (uint32_t k = 0; k < r->accounts[i].n_balances; k++) {
                const char *row[] = {
                    lg_cmd_cli_cstr(r->accounts[i].address, addr, sizeof addr),
                    lg_cmd_cli_cstr(r->accounts[i].balances[k].asset, asset, sizeof asset),
                    balance_text(r->accounts[i].balances[k].balance, bal)};
                lg_cmd_table_row(&t, row);
            }
        }
        for (uint32_t k = 0; k < r->n_totals; k++) {
            const char *row[] = {k == 0 ? "TOTAL" : "",
                                 lg_cmd_cli_cstr(r->totals[k].asset, asset, sizeof asset),
                                 balance_text(r->totals[k].balance, bal)};
            lg_cmd_table_row(&t, row);
        }
        if (!lg_cmd_table_print(&t)) {
            rc = lg_cmd_cli_error(&c, LG_CMD_EXIT_FAILED, "internal", "out of memory");
            goto out;
        }
        printf("(%u account%s)\n", r->n_accounts, r->n_accounts == 1 ? "" : "s");
    }
    rc = lg_cmd_cli_finish(&c);
out:
    lg_cmd_cli_close(&c);
    return rc;
}

/* ---- account ---- */

int lg_cmd_account(int argc, char **argv)
{
    struct lg_cmd_cli c;
    int rc = lg_cmd_cli_parse(&c, "account", account_usage,
                              LG_CMD_CLI_F_LEDGER | LG_CMD_CLI_F_READ, 1, 1, argc, argv);
    if (rc >= 0) {
        goto out;
    }
    struct lg_proto_request req;
    memset(&req, 0, sizeof req);
    req.op = LG_PROTO_OP_ACCOUNT;
    req.u.account.ledger = lg_cmd_cli_str(c.ledger);
    req.u.account.address = lg_cmd_cli_str(c.args[0]);
    lg_cmd_cli_read_options(&c, &req);
    struct lg_proto_response resp;
    rc = lg_cmd_cli_call(&c, &req, &resp, NULL);
    if (rc >= 0) {
        goto out;
    }
    const struct lg_proto_account *a = &resp.u.account;
    if (c.json) {
        lg_cmd_jw_open(&c.jw, '{');
        lg_cmd_jw_key(&c.jw, "address");
        lg_cmd_jw_str(&c.jw, a->address);
        lg_cmd_jw_key(&c.jw, "version");
        lg_cmd_jw_u64(&c.jw, a->version);
        lg_cmd_jw_key(&c.jw, "metadata");
        lg_cmd_jw_open(&c.jw, '{');
        for (uint32_t i = 0; i < a->n_metadata; i++) {
            lg_cmd_jw_keyn(&c.jw, a->metadata[i].key);
            lg_cmd_jw_str(&c.jw, a->metadata[i].value);
        }
        lg_cmd_jw_close(&c.jw, '}');
        lg_cmd_jw_key(&c.jw, "volumes");
        lg_cmd_jw_open(&c.jw, '{');
        for (uint32_t i = 0; i < a->n_volumes; i++) {
            lg_cmd_jw_keyn(&c.jw, a->volumes[i].asset);
            lg_cmd_jw_open(&c.jw, '{');
            lg_cmd_jw_key(&c.jw, "input");
            lg_cmd_jw_amount(&c.jw, a->volumes[i].input);
            lg_cmd_jw_key(&c.jw, "output");
            lg_cmd_jw_amount(&c.jw, a->volumes[i].output);
            lg_cmd_jw_key(&c.jw, "balance");
            lg_cmd_jw_balance(&c.jw, a->volumes[i].balance);
            lg_cmd_jw_close(&c.jw, '}');
        }
        lg_cmd_jw_close(&c.jw, '}');
        lg_cmd_jw_close(&c.jw, '}');
    } else {
        printf("account    %.*s\n", (int)a->address.len, a->address.ptr);
        printf("version    %llu\n", (unsigned long long)a->version);
        for (uint32_t i = 0; i < a->n_metadata; i++) {
            printf("%-10s %.*s=%.*s\n", i == 0 ? "metadata" : "", (int)a->metadata[i].key.len,
                   a->metadata[i].key.ptr, (int)a->metadata[i].value.len,
                   a->metadata[i].value.ptr);
        }
        fputc('\n', stdout);
        struct lg_cmd_table t;
        lg_cmd_table_init(&t, 4, 1u << 1 | 1u << 2 | 1u << 3);
        const char *head[] = {"ASSET", "INPUT", "OUTPUT", "BALANCE"};
        lg_cmd_table_row(&t, head);
        for (uint32_t i = 0; i < a->n_volumes; i++) {
            char asset[LG_ASSET_BYTES_MAX + 1u];
            char in[LG_AMOUNT_TEXT_MAX];
            char outv[LG_AMOUNT_TEXT_MAX];
            char bal[LG_AMOUNT_TEXT_MAX];
            const char *row[] = {lg_cmd_cli_cstr(a->volumes[i].asset, asset, sizeof asset),
                                 amount_text(a->volumes[i].input, in),
                                 amount_text(a->volumes[i].output, outv),
                                 balance_text(a->volumes[i].balance, bal)};
            lg_cmd_table_row(&t, row);
        }
        lg_cmd_table_print(&t);
    }
    rc = lg_cmd_cli_finish(&c);
out:
    lg_cmd_cli_close(&c);
    return rc;
}

/* ---- status ---- */

/* Node i's status over its own connection: LG_OK with *s, else a code and msg. */
static int status_of(const struct lg_cmd_cli *c, const char *address, struct lg_arena *arena,
                     struct lg_proto_status *s, char *msg)
{
    unsigned timeout = c->timeout_ms != 0 ? c->timeout_ms : LG_CLIENT_CONNECT_TIMEOUT_MS;
    struct lg_conn *conn = NULL;
    int rc = lg_conn_open(&conn, address, timeout, msg);
    if (rc != LG_OK) {
        return rc;
    }
    lg_conn_set_timeout(conn, timeout);
    struct lg_proto_request req;
    memset(&req, 0, sizeof req);
    req.id = 1;
    req.op = LG_PROTO_OP_STATUS;
    struct lg_proto_response resp;
    memset(&resp, 0, sizeof resp);
    rc = lg_conn_call(conn, &req, arena, &resp, msg);
    if (rc == LG_OK && !resp.ok) {
        rc = resp.error.code;
        lg_errmsg_printf(msg, rc, "%s: %.*s", lg_err_wire(rc), (int)resp.error.message.len,
                         resp.error.message.ptr != NULL ? resp.error.message.ptr : "");
    } else if (rc == LG_OK) {
        *s = resp.u.status; /* leader_client points into conn's buffer: copied below */
    }
    if (rc == LG_OK) {
        static char leader[LG_CLIENT_ADDRESS_BYTES_MAX + 1u];
        lg_cmd_cli_cstr(s->leader_client, leader, sizeof leader);
        s->leader_client = lg_cmd_cli_str(leader);
    }
    lg_conn_close(conn);
    return rc;
}

/* status --json: the node's public key (null when it has none) and, when it audits, the
 * cross-replica audit's counters (issue 8). */
static void status_json_verifiable(struct lg_cmd_cli *c, const struct lg_proto_status *s)
{
    char key[2u * LG_PROTO_KEY_BYTES_MAX + 1u];
    lg_cmd_jw_key(&c->jw, "public_key");
    if (s->public_key.len == 0) {
        lg_cmd_jw_str_or_null(&c->jw, s->public_key);
    } else {
        lg_cmd_hex((const unsigned char *)s->public_key.ptr, s->public_key.len, key);
        lg_cmd_jw_cstr(&c->jw, key);
    }
    if (!s->has_audit) {
        return;
    }
    const char *names[] = {"interval_ms", "checks", "mismatches", "errors", "skipped",
                           "last_mismatch_peer", "last_mismatch_size"};
    const uint64_t values[] = {s->audit.interval_ms, s->audit.checks, s->audit.mismatches,
                               s->audit.errors, s->audit.skipped, s->audit.last_mismatch_peer,
                               s->audit.last_mismatch_size};
    lg_cmd_jw_key(&c->jw, "audit");
    lg_cmd_jw_open(&c->jw, '{');
    for (unsigned k = 0; k < 7; k++) {
        lg_cmd_jw_key(&c->jw, names[k]);
        lg_cmd_jw_u64(&c->jw, values[k]);
    }
    lg_cmd_jw_close(&c->jw, '}');
}

int lg_cmd_status(int argc, char **argv)
{
    struct lg_cmd_cli c;
    struct lg_cmd_table t;
    lg_cmd_table_init(&t, 10, 1u << 1 | 1u << 3 | 1u << 4 | 1u << 5 | 1u << 6);
    int rc = lg_cmd_cli_parse(&c, "status", status_usage, 0, 0, 0, argc, argv);
    if (rc >= 0) {
        goto out;
    }
    const char *head[] = {"NODE", "ID", "ROLE", "TERM", "COMMIT", "APPLIED", "JOURNAL_SEQ",
                          "LEADER", "CHAIN_HEAD", "GOSSIP"};
    lg_cmd_table_row(&t, head);
    if (c.json) {
        lg_cmd_jw_open(&c.jw, '{');
        lg_cmd_jw_key(&c.jw, "nodes");
        lg_cmd_jw_open(&c.jw, '[');
    }
    uint32_t answered = 0;
    for (uint32_t i = 0; i < c.n_nodes; i++) {
        struct lg_proto_status s;
        memset(&s, 0, sizeof s);
        char msg[LG_ERRMSG_SIZE] = "";
        lg_arena_reset(&c.arena);
        int st = status_of(&c, c.nodes[i], &c.arena, &s, msg);
        answered += st == LG_OK;
        char hash[HEX_BYTES];
        lg_cmd_hex(s.chain_head, LG_PROTO_HASH_BYTES, hash);
        if (c.json) {
            lg_cmd_jw_open(&c.jw, '{');
            lg_cmd_jw_key(&c.jw, "address");
            lg_cmd_jw_cstr(&c.jw, c.nodes[i]);
            lg_cmd_jw_key(&c.jw, "reachable");
            lg_cmd_jw_bool(&c.jw, st == LG_OK);
            if (st != LG_OK) {
                lg_cmd_jw_key(&c.jw, "error");
                lg_cmd_jw_cstr(&c.jw, msg);
            } else {
                lg_cmd_jw_key(&c.jw, "node_id");
                lg_cmd_jw_u64(&c.jw, s.node_id);
                lg_cmd_jw_key(&c.jw, "role");
                lg_cmd_jw_cstr(&c.jw, lg_proto_role_name(s.role));
                lg_cmd_jw_key(&c.jw, "leader_id");
                lg_cmd_jw_u64(&c.jw, s.leader_id);
                lg_cmd_jw_key(&c.jw, "leader_client");
                lg_cmd_jw_str_or_null(&c.jw, s.leader_client);
                lg_cmd_jw_key(&c.jw, "term");
                lg_cmd_jw_u64(&c.jw, s.term);
                lg_cmd_jw_key(&c.jw, "commit_index");
                lg_cmd_jw_u64(&c.jw, s.commit_index);
                lg_cmd_jw_key(&c.jw, "applied_index");
                lg_cmd_jw_u64(&c.jw, s.applied_index);
                lg_cmd_jw_key(&c.jw, "journal_seq");
                lg_cmd_jw_u64(&c.jw, s.journal_seq);
                lg_cmd_jw_key(&c.jw, "chain_head");
                lg_cmd_jw_cstr(&c.jw, hash);
                if (s.has_gossip) {
                    const struct lg_proto_gossip *g = &s.gossip;
                    const char *names[] = {"alive", "suspect", "dead", "left", "dropped_auth",
                                           "dropped_cluster", "dropped_malformed"};
                    const uint64_t values[] = {g->alive, g->suspect, g->dead, g->left,
                                               g->dropped_auth, g->dropped_cluster,
                                               g->dropped_malformed};
                    lg_cmd_jw_key(&c.jw, "gossip");
                    lg_cmd_jw_open(&c.jw, '{');
                    for (unsigned k = 0; k < 7; k++) {
                        lg_cmd_jw_key(&c.jw, names[k]);
                        lg_cmd_jw_u64(&c.jw, values[k]);
                    }
                    lg_cmd_jw_close(&c.jw, '}');
                }
                status_json_verifiable(&c, &s);
            }
            lg_cmd_jw_close(&c.jw, '}');
            continue;
        }
        if (st != LG_OK) {
            const char *row[] = {c.nodes[i], "-", "unreachable", "", "", "", "", "", "", ""};
            lg_cmd_table_row(&t, row);
            fprintf(stderr, "ledger-node: status: %s: %s\n", c.nodes[i], msg);
            continue;
        }
        char id[24], term[24], commit[24], applied[24], seq[24], leader[24];
        hash[16] = '\0'; /* a prefix is enough to compare replicas by eye */
        char gossip[160] = "-";
        if (s.has_gossip) {
            snprintf(gossip, sizeof gossip, "%llu/%llu/%llu/%llu dropped %llu/%llu/%llu",
                     (unsigned long long)s.gossip.alive, (unsigned long long)s.gossip.suspect,
                     (unsigned long long)s.gossip.dead, (unsigned long long)s.gossip.left,
                     (unsigned long long)s.gossip.dropped_auth,
                     (unsigned long long)s.gossip.dropped_cluster,
                     (unsigned long long)s.gossip.dropped_malformed);
        }
        const char *row[] = {c.nodes[i],
                             u64_text(s.node_id, id),
                             lg_proto_role_name(s.role),
                             u64_text(s.term, term),
                             u64_text(s.commit_index, commit),
                             u64_text(s.applied_index, applied),
                             u64_text(s.journal_seq, seq),
                             s.leader_id != 0 ? u64_text(s.leader_id, leader) : "?",
                             hash,
                             gossip};
        lg_cmd_table_row(&t, row);
        if (s.has_audit && s.audit.mismatches > 0) {
            fprintf(stderr, "ledger-node: status: %s: AUDIT: %llu Merkle root mismatches with "
                    "peers (last: node %llu at tree size %llu): see its log, event "
                    "audit_mismatch\n", c.nodes[i], (unsigned long long)s.audit.mismatches,
                    (unsigned long long)s.audit.last_mismatch_peer,
                    (unsigned long long)s.audit.last_mismatch_size);
        }
    }
    if (c.json) {
        lg_cmd_jw_close(&c.jw, ']');
        lg_cmd_jw_close(&c.jw, '}');
    } else if (!lg_cmd_table_print(&t)) {
        rc = lg_cmd_cli_error(&c, LG_CMD_EXIT_FAILED, "internal", "out of memory");
        goto out;
    }
    rc = lg_cmd_cli_finish(&c);
    if (rc == LG_CMD_EXIT_OK && answered < c.n_nodes) {
        fprintf(stderr, "ledger-node: status: %u of %u nodes did not answer\n",
                c.n_nodes - answered, c.n_nodes);
        rc = LG_CMD_EXIT_UNAVAIL;
    }
out:
    lg_cmd_table_free(&t);
    lg_cmd_cli_close(&c);
    return rc;
}

/* ---- members ---- */

int lg_cmd_members(int argc, char **argv)
{
    struct lg_cmd_cli c;
    int rc = lg_cmd_cli_parse(&c, "members", members_usage, 0, 0, 0, argc, argv);
    if (rc >= 0) {
        goto out;
    }
    struct lg_proto_request req;
    memset(&req, 0, sizeof req);
    req.op = LG_PROTO_OP_MEMBERS;
    struct lg_proto_response resp;
    rc = lg_cmd_cli_call(&c, &req, &resp, NULL);
    if (rc >= 0) {
        goto out;
    }
    if (c.json) {
        lg_cmd_jw_open(&c.jw, '{');
        lg_cmd_jw_key(&c.jw, "members");
        lg_cmd_jw_open(&c.jw, '[');
        for (uint32_t i = 0; i < resp.u.members.n_items; i++) {
            const struct lg_proto_member *m = &resp.u.members.items[i];
            lg_cmd_jw_open(&c.jw, '{');
            lg_cmd_jw_key(&c.jw, "id");
            lg_cmd_jw_u64(&c.jw, m->id);
            lg_cmd_jw_key(&c.jw, "raft_address");
            lg_cmd_jw_str(&c.jw, m->raft_address);
            lg_cmd_jw_key(&c.jw, "client_address");
            lg_cmd_jw_str_or_null(&c.jw, m->client_address);
            lg_cmd_jw_key(&c.jw, "role");
            lg_cmd_jw_str(&c.jw, m->role);
            lg_cmd_jw_key(&c.jw, "leader");
            lg_cmd_jw_bool(&c.jw, m->leader);
            lg_cmd_jw_key(&c.jw, "gossip");
            lg_cmd_jw_str_or_null(&c.jw, m->gossip);
            lg_cmd_jw_key(&c.jw, "incarnation");
            lg_cmd_jw_u64(&c.jw, m->incarnation);
            lg_cmd_jw_close(&c.jw, '}');
        }
        lg_cmd_jw_close(&c.jw, ']');
        lg_cmd_jw_key(&c.jw, "answered_by");
        lg_cmd_jw_cstr(&c.jw, lg_client_current(c.client));
        lg_cmd_jw_close(&c.jw, '}');
    } else {
        struct lg_cmd_table t;
        lg_cmd_table_init(&t, 7, 1u << 0 | 1u << 3);
        const char *head[] = {"ID", "ROLE", "GOSSIP", "INCARNATION", "LEADER", "RAFT_ADDRESS",
                              "CLIENT_ADDRESS"};
        lg_cmd_table_row(&t, head);
        for (uint32_t i = 0; i < resp.u.members.n_items; i++) {
            const struct lg_proto_member *m = &resp.u.members.items[i];
            char id[24];
            char role[16];
            char gossip[16];
            char inc[24];
            char raft[LG_CLIENT_ADDRESS_BYTES_MAX + 1u];
            char client[LG_CLIENT_ADDRESS_BYTES_MAX + 1u];
            const char *row[] = {u64_text(m->id, id), lg_cmd_cli_cstr(m->role, role, sizeof role),
                                 m->gossip.len ? lg_cmd_cli_cstr(m->gossip, gossip, sizeof gossip)
                                               : "-",
                                 m->gossip.len ? u64_text(m->incarnation, inc) : "-",
                                 m->leader ? "*" : "",
                                 lg_cmd_cli_cstr(m->raft_address, raft, sizeof raft),
                                 m->client_address.len
                                     ? lg_cmd_cli_cstr(m->client_address, client, sizeof client)
                                     : "?"};
            lg_cmd_table_row(&t, row);
        }
        if (!lg_cmd_table_print(&t)) {
            rc = lg_cmd_cli_error(&c, LG_CMD_EXIT_FAILED, "internal", "out of memory");
            goto out;
        }
        printf("(as known by %s)\n", lg_client_current(c.client));
    }
    rc = lg_cmd_cli_finish(&c);
out:
    lg_cmd_cli_close(&c);
    return rc;
}
