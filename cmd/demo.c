/* demo: `ledger-node demo` runs the ledger state machine in this process on a short
 * workload and prints what happened: accounts funded from `world`, a few thousand
 * transfers in batches (as Raft entries will carry them), a rejected overdraft, an
 * idempotent retry and a conflicting one, balances by pattern with per-asset totals,
 * then a restart (checkpoint + journal replay) that must reproduce the same chain head,
 * and a full journal verification. Until the Raft cluster exists this is the main job. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "fsm.h"

#define DEMO_USERS 100u
#define DEMO_BATCH_MAX 500u
#define DEMO_FUNDING 100000u /* USD/2 cents per user */

static const char demo_usage[] =
    "usage: ledger-node demo [--dir DIR] [--transfers N]\n"
    "\n"
    "Runs the ledger in this process: funds 100 accounts users:NNN:main from world,\n"
    "makes N transfers (default 5000) in batches, shows a rejected overdraft and an\n"
    "idempotent retry, prints balances, restarts from the data directory and checks\n"
    "that the chain head is unchanged, then verifies the whole journal. DIR (default: a\n"
    "new directory under /tmp) keeps the data: `ledger-node verify --data DIR` checks it.\n";

struct demo {
    struct lg_fsm *fsm;
    uint64_t raft_index; /* the index the next entry gets, as Raft would assign it */
    uint64_t now_us;
    struct lg_buf buf;
    struct lg_cmd cmds[DEMO_BATCH_MAX];
    struct lg_posting postings[DEMO_BATCH_MAX];
    char names[DEMO_BATCH_MAX][2][32];
    uint32_t n;
    uint64_t committed;
    uint64_t rejected_funds;
};

static uint64_t demo_clock_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static struct lg_str demo_str(const char *s)
{
    struct lg_str v = {s, (uint32_t)strlen(s)};
    return v;
}

/* Queue one single-posting submit; names are copied into the batch's own storage. */
static void demo_queue(struct demo *d, const char *from, const char *to, uint64_t amount,
                       const char *reference)
{
    uint32_t i = d->n++;
    snprintf(d->names[i][0], sizeof d->names[i][0], "%s", from);
    snprintf(d->names[i][1], sizeof d->names[i][1], "%s", to);
    struct lg_posting *p = &d->postings[i];
    p->source = demo_str(d->names[i][0]);
    p->destination = demo_str(d->names[i][1]);
    p->amount = amount;
    p->asset = demo_str("USD/2");
    struct lg_cmd *c = &d->cmds[i];
    memset(c, 0, sizeof *c);
    c->kind = LG_CMD_SUBMIT;
    c->timestamp_us = ++d->now_us;
    c->u.submit.ledger = demo_str("demo");
    c->u.submit.postings = p;
    c->u.submit.n_postings = 1;
    c->u.submit.reference = reference ? demo_str(reference) : (struct lg_str){NULL, 0};
}

/* Encode the queued commands as one entry and apply it; returns the results. */
static int demo_flush(struct demo *d, const struct lg_cmd_result **results, uint32_t *n)
{
    char errmsg[LG_ERRMSG_SIZE] = "";
    struct lg_batch batch = {d->cmds, d->n};
    lg_buf_reset(&d->buf);
    int rv = lg_cmd_encode_batch(&batch, &d->buf, errmsg);
    if (rv != LG_OK) {
        return lg_cmd_fail(LG_CMD_EXIT_FAILED, "demo: encode: %s", errmsg);
    }
    rv = lg_fsm_apply(d->fsm, d->raft_index++, d->buf.data, d->buf.len, results, n);
    if (rv != LG_OK) {
        return lg_cmd_fail(LG_CMD_EXIT_FAILED, "demo: apply: %s", lg_fsm_errmsg(d->fsm));
    }
    for (uint32_t i = 0; i < *n; i++) {
        d->committed += (*results)[i].code == LG_OK;
        d->rejected_funds += (*results)[i].code == LG_EFUNDS;
    }
    d->n = 0;
    return LG_CMD_EXIT_OK;
}

static int demo_open(struct demo *d, const char *dir)
{
    char journal[4096];
    char state[4096];
    snprintf(journal, sizeof journal, "%s/journal", dir);
    snprintf(state, sizeof state, "%s/state", dir);
    struct lg_fsm_options opts;
    memset(&opts, 0, sizeof opts);
    opts.journal_dir = journal;
    opts.state_dir = state;
    opts.create = true;
    opts.journal.create = true;
    char errmsg[LG_ERRMSG_SIZE] = "";
    int rv = lg_fsm_open(&d->fsm, &opts, errmsg);
    if (rv != LG_OK) {
        return lg_cmd_fail(LG_CMD_EXIT_UNAVAIL, "demo: open %s: %s (%s)", dir, errmsg,
                           lg_err_name(rv));
    }
    d->raft_index = lg_fsm_applied_index(d->fsm) + 1;
    return LG_CMD_EXIT_OK;
}

static void demo_print_head(const char *when, struct lg_fsm *fsm)
{
    uint8_t head[LG_HASH_BYTES];
    char hex[2 * LG_HASH_BYTES + 1];
    lg_fsm_chain_head(fsm, head);
    lg_cmd_hex(head, LG_HASH_BYTES, hex);
    printf("%-9s journal seq %llu, applied index %llu, chain head %s\n", when,
           (unsigned long long)lg_fsm_last_seq(fsm),
           (unsigned long long)lg_fsm_applied_index(fsm), hex);
}

static int demo_balances(struct demo *d)
{
    struct lg_arena arena;
    lg_arena_init(&arena, 16u << 20);
    struct lg_fsm_balances_query q;
    memset(&q, 0, sizeof q);
    q.ledger = demo_str("demo");
    q.match = LG_FSM_MATCH_PATTERN;
    q.address = demo_str("users:*:main");
    q.limit = 5;
    q.totals = true;
    struct lg_fsm_balances out;
    int rv = lg_fsm_balances(d->fsm, &q, &arena, &out);
    if (rv != LG_OK) {
        lg_arena_close(&arena);
        return lg_cmd_fail(LG_CMD_EXIT_FAILED, "demo: balances: %s", lg_err_name(rv));
    }
    char text[LG_AMOUNT_TEXT_MAX];
    printf("balances users:*:main (first %u accounts):\n", out.n_accounts);
    for (uint32_t i = 0; i < out.n_rows; i++) {
        lg_amount_format_signed(out.rows[i].balance, text);
        printf("  %-20.*s %10s %.*s\n", (int)out.rows[i].address.len, out.rows[i].address.ptr,
               text, (int)out.rows[i].asset.len, out.rows[i].asset.ptr);
    }
    lg_i128 users_total = 0;
    for (uint32_t i = 0; i < out.n_totals; i++) {
        lg_amount_format_signed(out.totals[i].total, text);
        printf("  %-20s %10s %.*s\n", "total", text, (int)out.totals[i].asset.len,
               out.totals[i].asset.ptr);
        users_total += out.totals[i].total;
    }
    struct lg_fsm_account world;
    rv = lg_fsm_account(d->fsm, demo_str("demo"), demo_str("world"), &arena, &world);
    if (rv == LG_OK && world.n_volumes == 1 && world.volumes[0].balance_ok) {
        lg_amount_format_signed(world.volumes[0].balance, text);
        printf("  %-20s %10s USD/2   (sum of all balances: %s)\n", "world", text,
               world.volumes[0].balance + users_total == 0 ? "0, double entry holds"
                                                           : "NOT ZERO");
    }
    lg_arena_close(&arena);
    return LG_CMD_EXIT_OK;
}

static int demo_run(struct demo *d, uint32_t transfers)
{
    const struct lg_cmd_result *res;
    uint32_t n;
    char from[32];
    char to[32];
    int rv;

    for (uint32_t u = 0; u < DEMO_USERS; u++) {
        snprintf(to, sizeof to, "users:%03u:main", u);
        demo_queue(d, "world", to, DEMO_FUNDING, NULL);
    }
    if ((rv = demo_flush(d, &res, &n)) != LG_CMD_EXIT_OK) {
        return rv;
    }
    printf("funded    %u accounts with 1000.00 USD/2 each from world (1 entry)\n", DEMO_USERS);

    uint64_t x = 0x9E3779B97F4A7C15u; /* a fixed LCG: the demo is the same every run */
    uint64_t entries = 0;
    for (uint32_t t = 0; t < transfers; t++) {
        x = x * 6364136223846793005u + 1442695040888963407u;
        uint32_t a = (uint32_t)(x >> 33) % DEMO_USERS;
        uint32_t b = (a + 1 + (uint32_t)(x >> 17) % (DEMO_USERS - 1)) % DEMO_USERS;
        snprintf(from, sizeof from, "users:%03u:main", a);
        snprintf(to, sizeof to, "users:%03u:main", b);
        demo_queue(d, from, to, 1 + (x >> 40) % 40000u, NULL);
        if (d->n == DEMO_BATCH_MAX || t + 1 == transfers) {
            if ((rv = demo_flush(d, &res, &n)) != LG_CMD_EXIT_OK) {
                return rv;
            }
            entries++;
            if (isatty(STDOUT_FILENO)) {
                printf("\rtransfers %u/%u", t + 1, transfers);
                fflush(stdout);
            }
        }
    }
    printf("%stransfers %u in %llu entries: %llu committed, %llu rejected (insufficient "
           "funds)\n",
           isatty(STDOUT_FILENO) ? "\r" : "", transfers, (unsigned long long)entries,
           (unsigned long long)d->committed - DEMO_USERS,
           (unsigned long long)d->rejected_funds);

    demo_queue(d, "users:000:main", "users:001:main", 1000000000u, NULL);
    if ((rv = demo_flush(d, &res, &n)) != LG_CMD_EXIT_OK) {
        return rv;
    }
    printf("overdraft users:000:main -> users:001:main 10000000.00: %s (%s)\n",
           lg_err_wire(res[0].code), res[0].message);

    demo_queue(d, "users:002:main", "users:003:main", 1234, "invoice-2026-0001");
    if ((rv = demo_flush(d, &res, &n)) != LG_CMD_EXIT_OK) {
        return rv;
    }
    uint64_t first_tx = res[0].tx_id;
    printf("reference invoice-2026-0001: %s, tx_id %llu\n", lg_err_wire(res[0].code),
           (unsigned long long)first_tx);
    demo_queue(d, "users:002:main", "users:003:main", 1234, "invoice-2026-0001");
    if ((rv = demo_flush(d, &res, &n)) != LG_CMD_EXIT_OK) {
        return rv;
    }
    printf("  retried, same content: %s, tx_id %llu, duplicate=%s (applied once)\n",
           lg_err_wire(res[0].code), (unsigned long long)res[0].tx_id,
           res[0].duplicate ? "true" : "false");
    demo_queue(d, "users:002:main", "users:003:main", 9999, "invoice-2026-0001");
    if ((rv = demo_flush(d, &res, &n)) != LG_CMD_EXIT_OK) {
        return rv;
    }
    printf("  retried, other amount:  %s (%s)\n", lg_err_wire(res[0].code), res[0].message);
    return demo_balances(d);
}

static int demo_parse(int argc, char **argv, const char **dir, uint32_t *transfers)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(demo_usage, stdout);
            return -1;
        }
        if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            *dir = argv[++i];
        } else if (strcmp(argv[i], "--transfers") == 0 && i + 1 < argc) {
            char *end;
            unsigned long v = strtoul(argv[++i], &end, 10);
            if (*end != '\0' || v == 0 || v > 10000000ul) {
                return lg_cmd_fail(LG_CMD_EXIT_USAGE, "demo: --transfers wants 1..10000000");
            }
            *transfers = (uint32_t)v;
        } else {
            fputs(demo_usage, stderr);
            return lg_cmd_fail(LG_CMD_EXIT_USAGE, "demo: unexpected argument '%s'", argv[i]);
        }
    }
    return LG_CMD_EXIT_OK;
}

int lg_cmd_demo(int argc, char **argv)
{
    const char *dir = NULL;
    uint32_t transfers = 5000;
    int rv = demo_parse(argc, argv, &dir, &transfers);
    if (rv != LG_CMD_EXIT_OK) {
        return rv < 0 ? LG_CMD_EXIT_OK : rv;
    }
    char tmp[] = "/tmp/ledger-demo-XXXXXX";
    if (dir != NULL && mkdir(dir, 0700) != 0 && errno != EEXIST) {
        return lg_cmd_fail(LG_CMD_EXIT_UNAVAIL, "demo: mkdir %s: %s", dir, strerror(errno));
    }
    if (dir == NULL) {
        if (mkdtemp(tmp) == NULL) {
            return lg_cmd_fail(LG_CMD_EXIT_FAILED, "demo: cannot create a directory in /tmp");
        }
        dir = tmp;
    }
    struct demo *d = calloc(1, sizeof *d);
    if (d == NULL) {
        return lg_cmd_fail(LG_CMD_EXIT_FAILED, "demo: out of memory");
    }
    lg_buf_init(&d->buf);
    d->now_us = demo_clock_us();
    printf("ledger-node demo: one replica's state machine, data in %s\n", dir);
    if ((rv = demo_open(d, dir)) != LG_CMD_EXIT_OK) {
        goto out;
    }
    demo_print_head("opened", d->fsm);
    if ((rv = demo_run(d, transfers)) != LG_CMD_EXIT_OK) {
        goto out;
    }
    uint8_t before[LG_HASH_BYTES];
    uint8_t after[LG_HASH_BYTES];
    lg_fsm_chain_head(d->fsm, before);
    demo_print_head("before", d->fsm);
    int close_rv = lg_fsm_close(d->fsm);
    d->fsm = NULL;
    if (close_rv != LG_OK) {
        rv = lg_cmd_fail(LG_CMD_EXIT_FAILED, "demo: close: %s", lg_err_name(close_rv));
        goto out;
    }
    if ((rv = demo_open(d, dir)) != LG_CMD_EXIT_OK) {
        goto out;
    }
    lg_fsm_chain_head(d->fsm, after);
    demo_print_head("restarted", d->fsm);
    if (memcmp(before, after, LG_HASH_BYTES) != 0) {
        rv = lg_cmd_fail(LG_CMD_EXIT_FAILED, "demo: chain head changed across restart");
        goto out;
    }
    rv = lg_journal_verify(lg_fsm_journal(d->fsm), 1, NULL, NULL);
    if (rv != LG_OK) {
        rv = lg_cmd_fail(LG_CMD_EXIT_FAILED, "demo: journal verify: %s",
                         lg_journal_errmsg(lg_fsm_journal(d->fsm)));
        goto out;
    }
    printf("verified  every record's CRC and the whole SHA-256 chain: ok\n");
    printf("check it yourself: ledger-node verify --data %s\n", dir);
out:
    lg_fsm_close(d->fsm);
    lg_buf_close(&d->buf);
    free(d);
    return rv;
}
