/* dev: `ledger-node dev`, a local cluster on loopback for trying the ledger (docs/cli.md).
 *
 *   ledger-node dev [--nodes 3|5] [--dir DIR] [--transfers N] [--exit-after-demo]
 *
 * Starts N `ledger-node serve` processes (this binary) on 127.0.0.1 with free ports and
 * data under DIR (default: a new /tmp/ledger-dev-XXXXXX) and a fresh random cluster key in
 * DIR/gossip.key (mode 0600, --key-file of every node: gossip is authenticated, so the
 * leader manages the membership), waits for a leader, prints each node's addresses and
 * how to talk to it, runs a short demo workload through the client library (accounts
 * funded from `world`, transfers in batches with a progress line, a rejected overdraft,
 * an idempotent retry and a conflicting one), prints balances and every node's chain
 * head, then stays in the foreground until SIGINT/SIGTERM, which stops every node with
 * SIGTERM (a leader hands over first) and waits for each. A node that exits on its own is
 * reported and stops the cluster. Children also get SIGTERM when this process dies
 * (PR_SET_PDEATHSIG), so no node outlives it. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../lib/arena.h"
#include "../lib/client.h"
#include "../lib/err.h"
#include "cli.h"
#include "cmd.h"

#define DEV_NODES_MAX 5u
#define DEV_PATH_MAX 512u
#define DEV_ADDR_BYTES 32u
#define DEV_LEDGER "demo"
#define DEV_ASSET "USD/2"
#define DEV_USERS 20u
#define DEV_FUND 1000000u  /* cents per user: 10 000.00 USD */
#define DEV_BATCH 100u     /* transfers per submit_batch */
#define DEV_READY_MS 20000u
#define DEV_STOP_MS 15000u
#define DEV_POLL_MS 50u

static const char dev_usage[] =
    "usage: ledger-node dev [--nodes 3|5] [--dir DIR] [--transfers N] [--exit-after-demo]\n"
    "\n"
    "Starts a local cluster of `ledger-node serve` processes on 127.0.0.1 (free ports, data\n"
    "in DIR, default a new /tmp/ledger-dev-XXXXXX), prints each node's addresses, runs a\n"
    "short demo workload (funding, N transfers (default 5000), a rejected overdraft, an\n"
    "idempotent retry), prints balances and every node's chain head, then stays up until\n"
    "Ctrl-C, which stops every node cleanly. --exit-after-demo stops right after the demo.\n";

struct dev_node {
    uint64_t id;
    char raft[DEV_ADDR_BYTES];
    char client[DEV_ADDR_BYTES];
    char gossip[DEV_ADDR_BYTES];
    char metrics[DEV_ADDR_BYTES]; /* HTTP /metrics */
    char data[DEV_PATH_MAX + 32u];
    char log[DEV_PATH_MAX + 32u];
    pid_t pid; /* 0: not running */
};

struct dev {
    unsigned n;
    char dir[DEV_PATH_MAX];
    char binary[DEV_PATH_MAX];
    char key_file[DEV_PATH_MAX + 16u]; /* <dir>/gossip.key, passed as --key-file */
    uint64_t transfers;
    bool exit_after_demo;
    struct dev_node nodes[DEV_NODES_MAX];
    const char *client_list[DEV_NODES_MAX];
    struct lg_client *client;
    struct lg_arena arena;
};

static volatile sig_atomic_t dev_signal;

static void on_signal(int sig)
{
    dev_signal = sig;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Probe sockets held open until every node's ports are chosen, so the kernel never hands
 * the same port out twice in one cluster (it did: a node's client port was another's
 * metrics port, and that node could not start). */
struct port_probes {
    int fds[4u * DEV_NODES_MAX];
    unsigned n;
};

/* A port the kernel says is free now for type (SOCK_STREAM / SOCK_DGRAM) on 127.0.0.1,
 * its probe socket kept in pp until ports_release. The node binds it a moment later; a
 * race lost to another process makes that node fail to start, which is reported. Returns
 * 0 on failure. */
static unsigned free_port(int type, struct port_probes *pp)
{
    LG_ASSERT(pp->n < sizeof pp->fds / sizeof pp->fds[0]);
    int fd = socket(AF_INET, type, 0);
    if (fd < 0) {
        return 0;
    }
    pp->fds[pp->n++] = fd;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    unsigned port = 0;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0) {
        port = ntohs(sa.sin_port);
    }
    return port;
}

static void ports_release(struct port_probes *pp)
{
    while (pp->n > 0) {
        close(pp->fds[--pp->n]);
    }
}

static int parse_flags(int argc, char **argv, struct dev *d)
{
    d->n = 3;
    d->transfers = 5000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(dev_usage, stdout);
            return -1;
        }
        if (strcmp(a, "--exit-after-demo") == 0) {
            d->exit_after_demo = true;
            continue;
        }
        if (i + 1 >= argc) {
            fputs(dev_usage, stderr);
            return lg_cmd_fail(LG_CMD_EXIT_USAGE, "dev: %s needs a value", a);
        }
        const char *v = argv[++i];
        uint64_t u = 0;
        if (strcmp(a, "--nodes") == 0) {
            if (!lg_cmd_cli_u64(v, 5, &u) || (u != 3 && u != 5)) {
                return lg_cmd_fail(LG_CMD_EXIT_USAGE, "dev: --nodes must be 3 or 5, got '%s'",
                                   v);
            }
            d->n = (unsigned)u;
        } else if (strcmp(a, "--transfers") == 0) {
            if (!lg_cmd_cli_u64(v, 10000000u, &u)) {
                return lg_cmd_fail(LG_CMD_EXIT_USAGE,
                                   "dev: --transfers must be 0..10000000, got '%s'", v);
            }
            d->transfers = u;
        } else if (strcmp(a, "--dir") == 0) {
            int w = snprintf(d->dir, sizeof d->dir, "%s", v);
            if (w <= 0 || (size_t)w >= sizeof d->dir) {
                return lg_cmd_fail(LG_CMD_EXIT_USAGE, "dev: --dir is empty or too long");
            }
        } else {
            fputs(dev_usage, stderr);
            return lg_cmd_fail(LG_CMD_EXIT_USAGE, "dev: unknown flag '%s'", a);
        }
    }
    return 0;
}

/* A fresh random cluster key for this run: 64 hex characters, mode 0600. Without a key
 * the nodes' gossip is unauthenticated and the leader makes no membership change. */
static int write_key_file(struct dev *d)
{
    uint8_t raw[32];
    char hex[2u * sizeof raw + 2u];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
        return lg_cmd_fail(LG_CMD_EXIT_FAILED, "dev: getrandom: %s", strerror(errno));
    }
    for (size_t i = 0; i < sizeof raw; i++) {
        snprintf(hex + 2u * i, 3, "%02x", raw[i]);
    }
    hex[2u * sizeof raw] = '\n';
    hex[2u * sizeof raw + 1u] = '\0';
    snprintf(d->key_file, sizeof d->key_file, "%s/gossip.key", d->dir);
    int fd = open(d->key_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && fchmod(fd, 0600) == 0 &&
              write(fd, hex, 2u * sizeof raw + 1u) == (ssize_t)(2u * sizeof raw + 1u);
    int err = errno;
    ok = (fd < 0 || close(fd) == 0) && ok;
    if (!ok) {
        return lg_cmd_fail(LG_CMD_EXIT_FAILED, "dev: %s: %s", d->key_file, strerror(err));
    }
    return 0;
}

static int prepare(struct dev *d)
{
    ssize_t len = readlink("/proc/self/exe", d->binary, sizeof d->binary - 1u);
    if (len <= 0 || (size_t)len >= sizeof d->binary - 1u) {
        return lg_cmd_fail(LG_CMD_EXIT_FAILED, "dev: cannot find this binary: %s",
                           strerror(errno));
    }
    d->binary[len] = '\0';
    if (d->dir[0] == '\0') {
        snprintf(d->dir, sizeof d->dir, "/tmp/ledger-dev-XXXXXX");
        if (mkdtemp(d->dir) == NULL) {
            return lg_cmd_fail(LG_CMD_EXIT_FAILED, "dev: mkdtemp: %s", strerror(errno));
        }
    } else if (mkdir(d->dir, 0700) != 0 && errno != EEXIST) {
        return lg_cmd_fail(LG_CMD_EXIT_FAILED, "dev: mkdir %s: %s", d->dir, strerror(errno));
    }
    struct port_probes pp = {.n = 0};
    for (unsigned i = 0; i < d->n; i++) {
        struct dev_node *nd = &d->nodes[i];
        nd->id = i + 1u;
        unsigned pr = free_port(SOCK_STREAM, &pp);
        unsigned pc = free_port(SOCK_STREAM, &pp);
        unsigned pg = free_port(SOCK_DGRAM, &pp);
        unsigned pm = free_port(SOCK_STREAM, &pp);
        if (pr == 0 || pc == 0 || pg == 0 || pm == 0) {
            ports_release(&pp);
            return lg_cmd_fail(LG_CMD_EXIT_FAILED, "dev: no free port on 127.0.0.1");
        }
        snprintf(nd->raft, sizeof nd->raft, "127.0.0.1:%u", pr);
        snprintf(nd->client, sizeof nd->client, "127.0.0.1:%u", pc);
        snprintf(nd->gossip, sizeof nd->gossip, "127.0.0.1:%u", pg);
        snprintf(nd->metrics, sizeof nd->metrics, "127.0.0.1:%u", pm);
        snprintf(nd->data, sizeof nd->data, "%s/node-%u", d->dir, i + 1u);
        snprintf(nd->log, sizeof nd->log, "%s/node-%u.log", d->dir, i + 1u);
        d->client_list[i] = nd->client;
    }
    ports_release(&pp);
    return write_key_file(d);
}

static int spawn(struct dev *d, unsigned i, const char *initial)
{
    struct dev_node *nd = &d->nodes[i];
    char id[24];
    snprintf(id, sizeof id, "%llu", (unsigned long long)nd->id);
    int fd = open(nd->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        return lg_cmd_fail(LG_CMD_EXIT_FAILED, "dev: %s: %s", nd->log, strerror(errno));
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(fd);
        return lg_cmd_fail(LG_CMD_EXIT_FAILED, "dev: fork: %s", strerror(errno));
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) {
            _exit(1);
        }
        signal(SIGINT, SIG_IGN); /* Ctrl-C reaches dev, which stops the nodes in order */
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) {
            dup2(devnull, STDIN_FILENO);
        }
        /* Every node gets the others' gossip addresses as seeds: without them a node has
         * nobody to probe and gossip never forms. */
        char *argv[24 + 2u * DEV_NODES_MAX];
        unsigned a = 0;
        char *const fixed[] = {
            d->binary, "serve", "--id", id, "--data", nd->data, "--raft", nd->raft,
            "--client", nd->client, "--gossip", nd->gossip, "--initial-cluster",
            (char *)initial, "--cluster", "dev", "--metrics", nd->metrics,
            "--key-file", d->key_file,
        };
        for (size_t k = 0; k < sizeof fixed / sizeof fixed[0]; k++) {
            argv[a++] = fixed[k];
        }
        for (unsigned k = 0; k < d->n; k++) {
            if (k != i) {
                argv[a++] = "--join";
                argv[a++] = d->nodes[k].gossip;
            }
        }
        argv[a] = NULL;
        execv(d->binary, argv);
        _exit(127);
    }
    close(fd);
    nd->pid = pid;
    return 0;
}

/* Reap node i if it has exited; prints why. Returns true when it is not running. */
static bool reap(struct dev *d, unsigned i, bool report)
{
    struct dev_node *nd = &d->nodes[i];
    if (nd->pid == 0) {
        return true;
    }
    int st = 0;
    pid_t r = waitpid(nd->pid, &st, WNOHANG);
    if (r != nd->pid) {
        return false;
    }
    if (report) {
        if (WIFEXITED(st)) {
            fprintf(stderr, "ledger-node: dev: node %llu exited with %d (log: %s)\n",
                    (unsigned long long)nd->id, WEXITSTATUS(st), nd->log);
        } else if (WIFSIGNALED(st)) {
            fprintf(stderr, "ledger-node: dev: node %llu killed by signal %d (log: %s)\n",
                    (unsigned long long)nd->id, WTERMSIG(st), nd->log);
        }
    }
    nd->pid = 0;
    return true;
}

/* SIGTERM every running node, wait (bounded) for each, SIGKILL what is left. */
static void stop_all(struct dev *d)
{
    for (unsigned i = 0; i < d->n; i++) {
        if (d->nodes[i].pid != 0) {
            kill(d->nodes[i].pid, SIGTERM);
        }
    }
    uint64_t deadline = now_ms() + DEV_STOP_MS;
    for (;;) {
        bool all = true;
        for (unsigned i = 0; i < d->n; i++) {
            all = reap(d, i, false) && all;
        }
        if (all || now_ms() > deadline) {
            break;
        }
        sleep_ms(DEV_POLL_MS);
    }
    for (unsigned i = 0; i < d->n; i++) {
        if (d->nodes[i].pid != 0) {
            fprintf(stderr, "ledger-node: dev: node %llu did not stop in %u s: SIGKILL\n",
                    (unsigned long long)d->nodes[i].id, DEV_STOP_MS / 1000u);
            kill(d->nodes[i].pid, SIGKILL);
            waitpid(d->nodes[i].pid, NULL, 0);
            d->nodes[i].pid = 0;
        }
    }
}

static int call(struct dev *d, struct lg_proto_request *req, struct lg_proto_response *resp)
{
    char errmsg[LG_ERRMSG_SIZE] = "";
    int rc = lg_client_call(d->client, req, &d->arena, resp, errmsg);
    if (rc != LG_OK) {
        lg_cmd_fail(LG_CMD_EXIT_UNAVAIL, "dev: %s", errmsg);
    }
    return rc;
}

/* Wait until every node answers and they agree on a leader. */
static int wait_ready(struct dev *d)
{
    uint64_t deadline = now_ms() + DEV_READY_MS;
    while (now_ms() < deadline && dev_signal == 0) {
        unsigned agree = 0;
        uint64_t leader = 0;
        for (unsigned i = 0; i < d->n; i++) {
            if (reap(d, i, true)) {
                return LG_CMD_EXIT_FAILED;
            }
            struct lg_proto_status st;
            lg_arena_reset(&d->arena);
            if (lg_cmd_cli_node_status(d->nodes[i].client, &d->arena, &st) == LG_OK &&
                st.leader_id != 0 && (leader == 0 || leader == st.leader_id)) {
                leader = st.leader_id;
                agree++;
            }
        }
        if (agree == d->n) {
            printf("leader elected: node %llu\n", (unsigned long long)leader);
            return 0;
        }
        sleep_ms(100);
    }
    return lg_cmd_fail(LG_CMD_EXIT_UNAVAIL, "dev: no leader within %u s (logs in %s)",
                       DEV_READY_MS / 1000u, d->dir);
}

static struct lg_str str(const char *s)
{
    return (struct lg_str){s, (uint32_t)strlen(s)};
}

static void submit_req(struct lg_proto_request *req, struct lg_proto_submit *s,
                       struct lg_posting *p, const char *src, const char *dst, uint64_t amount,
                       const char *reference)
{
    memset(p, 0, sizeof *p);
    memset(s, 0, sizeof *s);
    p->source = str(src);
    p->destination = str(dst);
    p->asset = str(DEV_ASSET);
    p->amount = (lg_u128)amount;
    s->ledger = str(DEV_LEDGER);
    s->postings = p;
    s->n_postings = 1;
    s->reference = reference != NULL ? str(reference) : (struct lg_str){NULL, 0};
    memset(req, 0, sizeof *req);
    req->op = LG_PROTO_OP_SUBMIT;
    req->u.submit = *s;
}

static void print_result(const char *what, const struct lg_proto_response *r)
{
    if (r->ok) {
        printf("  %-44s ok: tx %llu, seq %llu\n", what, (unsigned long long)r->u.submit.tx_id,
               (unsigned long long)r->u.submit.seq);
    } else {
        printf("  %-44s %s: %.*s\n", what, lg_err_wire(r->error.code),
               (int)r->error.message.len, r->error.message.ptr);
    }
}

static int demo(struct dev *d, const char *run_id)
{
    struct lg_proto_request req;
    struct lg_proto_submit s;
    struct lg_posting p;
    struct lg_proto_response resp;
    char user[64];
    char other[64];
    char ref[96];

    printf("\n== demo workload (ledger '%s', asset %s) ==\n", DEV_LEDGER, DEV_ASSET);
    for (unsigned u = 0; u < DEV_USERS; u++) {
        snprintf(user, sizeof user, "users:u%02u:main", u);
        snprintf(ref, sizeof ref, "dev-%s-fund-%u", run_id, u);
        submit_req(&req, &s, &p, "world", user, DEV_FUND, ref);
        lg_arena_reset(&d->arena);
        if (call(d, &req, &resp) != LG_OK) {
            return LG_CMD_EXIT_UNAVAIL;
        }
        if (!resp.ok) {
            print_result("funding", &resp);
            return LG_CMD_EXIT_FAILED;
        }
    }
    printf("  funded %u accounts users:uNN:main with 10000.00 from world\n", DEV_USERS);

    /* Transfers in batches of DEV_BATCH; a deterministic walk over the users. */
    static struct lg_proto_submit txs[DEV_BATCH];
    static struct lg_posting posts[DEV_BATCH];
    static char names[DEV_BATCH][2][32];
    static char refs[DEV_BATCH][96];
    uint64_t done = 0;
    uint64_t rejected = 0;
    uint64_t t0 = now_ms();
    uint64_t shown = 0;
    uint64_t rng = 0x9e3779b97f4a7c15u;
    bool tty = isatty(STDOUT_FILENO) != 0;
    while (done < d->transfers) {
        uint32_t n = (uint32_t)(d->transfers - done < DEV_BATCH ? d->transfers - done
                                                                : DEV_BATCH);
        for (uint32_t k = 0; k < n; k++) {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            unsigned a = (unsigned)(rng % DEV_USERS);
            unsigned b = (unsigned)((rng >> 20) % (DEV_USERS - 1u));
            b = b >= a ? b + 1u : b;
            snprintf(names[k][0], sizeof names[k][0], "users:u%02u:main", a);
            snprintf(names[k][1], sizeof names[k][1], "users:u%02u:main", b);
            snprintf(refs[k], sizeof refs[k], "dev-%s-t-%llu", run_id,
                     (unsigned long long)(done + k));
            submit_req(&req, &txs[k], &posts[k], names[k][0], names[k][1],
                       1u + (rng >> 40) % 5000u, refs[k]);
            txs[k].postings = &posts[k];
        }
        memset(&req, 0, sizeof req);
        req.op = LG_PROTO_OP_SUBMIT_BATCH;
        req.u.batch.txs = txs;
        req.u.batch.n_txs = n;
        lg_arena_reset(&d->arena);
        if (call(d, &req, &resp) != LG_OK) {
            return LG_CMD_EXIT_UNAVAIL;
        }
        if (!resp.ok) {
            print_result("transfer batch", &resp);
            return LG_CMD_EXIT_FAILED;
        }
        for (uint32_t k = 0; k < resp.u.batch.n_items; k++) {
            rejected += resp.u.batch.items[k].ok ? 0u : 1u;
        }
        done += n;
        uint64_t t = now_ms();
        /* A progress line rewritten in place on a terminal, a line a second otherwise. */
        if (t - shown >= (tty ? 200u : 1000u) || done == d->transfers) {
            shown = t;
            double secs = (double)(t - t0) / 1000.0;
            printf("%s  transfers %llu/%llu  %.0f tx/s  rejected %llu%s", tty ? "\r" : "",
                   (unsigned long long)done, (unsigned long long)d->transfers,
                   secs > 0 ? (double)done / secs : 0.0, (unsigned long long)rejected,
                   tty ? "   " : "\n");
            fflush(stdout);
        }
        if (dev_signal != 0) {
            printf("\n");
            return LG_CMD_EXIT_FAILED;
        }
    }
    if (tty) {
        printf("\n");
    }

    /* An overdraft: more than the whole ledger gave this user. */
    submit_req(&req, &s, &p, "users:u00:main", "users:u01:main", 100u * DEV_FUND * DEV_USERS,
               NULL);
    lg_arena_reset(&d->arena);
    if (call(d, &req, &resp) != LG_OK) {
        return LG_CMD_EXIT_UNAVAIL;
    }
    print_result("overdraft u00 -> u01 of 2000000.00:", &resp);
    if (resp.ok) {
        return lg_cmd_fail(LG_CMD_EXIT_FAILED, "dev: the overdraft was accepted");
    }

    /* The same reference twice: one transaction. Then other content: conflict. */
    snprintf(ref, sizeof ref, "dev-%s-retry", run_id);
    uint64_t first = 0;
    for (int k = 0; k < 3; k++) {
        snprintf(user, sizeof user, "users:u02:main");
        snprintf(other, sizeof other, k < 2 ? "users:u03:main" : "users:u04:main");
        submit_req(&req, &s, &p, user, other, 1234, ref);
        lg_arena_reset(&d->arena);
        if (call(d, &req, &resp) != LG_OK) {
            return LG_CMD_EXIT_UNAVAIL;
        }
        static const char *const what[] = {
            "u02 -> u03 12.34, reference ...-retry:", "the same again (a client retry):",
            "same reference, other content:"};
        print_result(what[k], &resp);
        if (k == 0 && resp.ok) {
            first = resp.u.submit.tx_id;
        }
        if (k == 1 && (!resp.ok || resp.u.submit.tx_id != first)) {
            return lg_cmd_fail(LG_CMD_EXIT_FAILED, "dev: the retry was not idempotent");
        }
        if (k == 2 && resp.ok) {
            return lg_cmd_fail(LG_CMD_EXIT_FAILED, "dev: a conflicting retry was accepted");
        }
    }
    printf("  the retry returned the original transaction %llu: applied once\n",
           (unsigned long long)first);
    return 0;
}

static void print_i128(lg_i128 v)
{
    char digits[48];
    unsigned n = 0;
    lg_u128 m = v < 0 ? (lg_u128)0 - (lg_u128)v : (lg_u128)v;
    do {
        digits[n++] = (char)('0' + (int)(m % 10u));
        m /= 10u;
    } while (m != 0 && n < sizeof digits);
    while (n < 3) {
        digits[n++] = '0';
    }
    printf("%s", v < 0 ? "-" : "");
    for (unsigned i = n; i > 2; i--) {
        putchar(digits[i - 1]);
    }
    printf(".%c%c", digits[1], digits[0]);
}

static int balances(struct dev *d)
{
    printf("\n== balances (%s, linearizable reads) ==\n", DEV_ASSET);
    lg_i128 sum = 0;
    static const char *const patterns[] = {"users:*:main", "world"};
    for (unsigned k = 0; k < 2; k++) {
        struct lg_proto_request req;
        struct lg_proto_response resp;
        memset(&req, 0, sizeof req);
        req.op = LG_PROTO_OP_BALANCES;
        req.u.balances.ledger = str(DEV_LEDGER);
        if (k == 0) {
            req.u.balances.pattern = str(patterns[k]);
        } else {
            req.u.balances.address = str(patterns[k]);
        }
        req.u.balances.asset = str(DEV_ASSET);
        lg_arena_reset(&d->arena);
        if (call(d, &req, &resp) != LG_OK) {
            return LG_CMD_EXIT_UNAVAIL;
        }
        if (!resp.ok) {
            return lg_cmd_fail(LG_CMD_EXIT_FAILED, "dev: balances: %.*s",
                               (int)resp.error.message.len, resp.error.message.ptr);
        }
        const struct lg_proto_balances *b = &resp.u.balances;
        for (uint32_t i = 0; i < b->n_accounts; i++) {
            if (k == 0 && i >= 4u && i + 1u < b->n_accounts) {
                if (i == 4u) {
                    printf("  ... %u more\n", b->n_accounts - 5u);
                }
                continue;
            }
            printf("  %-20.*s ", (int)b->accounts[i].address.len, b->accounts[i].address.ptr);
            for (uint32_t j = 0; j < b->accounts[i].n_balances; j++) {
                print_i128(b->accounts[i].balances[j].balance);
            }
            printf("\n");
        }
        for (uint32_t j = 0; j < b->n_totals; j++) {
            sum += b->totals[j].balance;
        }
    }
    printf("  sum over every account: ");
    print_i128(sum);
    printf(" (double entry: always zero)\n");
    return sum == 0 ? 0 : lg_cmd_fail(LG_CMD_EXIT_FAILED, "dev: balances do not sum to zero");
}

/* Wait (bounded) until every node applied the same index, then print the chain heads. */
static int chain_heads(struct dev *d)
{
    printf("\n== replicas ==\n");
    struct lg_proto_status st[DEV_NODES_MAX];
    uint64_t deadline = now_ms() + 10000u;
    bool same = false;
    while (!same && now_ms() < deadline) {
        same = true;
        for (unsigned i = 0; i < d->n; i++) {
            lg_arena_reset(&d->arena);
            if (lg_cmd_cli_node_status(d->nodes[i].client, &d->arena, &st[i]) != LG_OK) {
                memset(&st[i], 0, sizeof st[i]);
                same = false;
                continue;
            }
            same = same && st[i].applied_index == st[0].applied_index &&
                   memcmp(st[i].chain_head, st[0].chain_head, sizeof st[0].chain_head) == 0;
        }
        if (!same) {
            sleep_ms(100);
        }
    }
    static const char *const roles[] = {"leader", "follower", "candidate", "standby", "spare"};
    for (unsigned i = 0; i < d->n; i++) {
        char head[2 * LG_PROTO_HASH_BYTES + 1];
        lg_cmd_hex(st[i].chain_head, LG_PROTO_HASH_BYTES, head);
        printf("  node %llu  %-9s applied %-8llu journal seq %-8llu chain head %s\n",
               (unsigned long long)d->nodes[i].id,
               st[i].role < LG_PROTO_ROLE_COUNT ? roles[st[i].role] : "?",
               (unsigned long long)st[i].applied_index, (unsigned long long)st[i].journal_seq,
               head);
    }
    if (!same) {
        return lg_cmd_fail(LG_CMD_EXIT_FAILED, "dev: the replicas did not converge in 10 s");
    }
    printf("  every node holds the same journal: identical chain heads\n");
    return 0;
}

static void print_nodes(const struct dev *d)
{
    printf("local cluster of %u nodes, data and logs (node-N.log) in %s\n", d->n, d->dir);
    for (unsigned i = 0; i < d->n; i++) {
        const struct dev_node *nd = &d->nodes[i];
        printf("  node %llu  pid %-7d client %-16s raft %-16s gossip %-16s metrics %-16s\n",
               (unsigned long long)nd->id, (int)nd->pid, nd->client, nd->raft, nd->gossip,
               nd->metrics);
    }
}

static void print_howto(const struct dev *d)
{
    char list[DEV_NODES_MAX * DEV_ADDR_BYTES];
    size_t off = 0;
    for (unsigned i = 0; i < d->n; i++) {
        int w = snprintf(list + off, sizeof list - off, "%s%s", i ? "," : "", d->nodes[i].client);
        off += w > 0 ? (size_t)w : 0u;
    }
    printf("\n== talk to it (another terminal) ==\n"
           "  export LEDGER_NODES=%s\n"
           "  ledger-node status\n"
           "  ledger-node send --ledger %s --from world --to users:alice:main --amount 100 "
           "--asset %s\n"
           "  ledger-node balance --ledger %s 'users:*:main'\n"
           "  ledger-node txs --ledger %s --account users:u00:main --limit 5\n"
           "  ledger-node bench --duration 5\n"
           "  curl -s http://%s/metrics     (each node: its metrics address above)\n",
           list, DEV_LEDGER, DEV_ASSET, DEV_LEDGER, DEV_LEDGER, d->nodes[0].metrics);
}

int lg_cmd_dev(int argc, char **argv)
{
    static struct dev d;
    int rc = parse_flags(argc, argv, &d);
    if (rc != 0) {
        return rc < 0 ? LG_CMD_EXIT_OK : rc;
    }
    if ((rc = prepare(&d)) != 0) {
        return rc;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    char initial[DEV_NODES_MAX * (DEV_ADDR_BYTES + 8u)];
    size_t off = 0;
    for (unsigned i = 0; i < d.n; i++) {
        int w = snprintf(initial + off, sizeof initial - off, "%s%llu=%s", i ? "," : "",
                         (unsigned long long)d.nodes[i].id, d.nodes[i].raft);
        off += w > 0 ? (size_t)w : 0u;
    }
    for (unsigned i = 0; i < d.n && rc == 0; i++) {
        rc = spawn(&d, i, initial);
    }
    lg_arena_init(&d.arena, 1u << 20);
    if (rc == 0) {
        print_nodes(&d);
        rc = wait_ready(&d);
    }
    char errmsg[LG_ERRMSG_SIZE] = "";
    struct lg_client_options co = {.nodes = d.client_list, .n_nodes = d.n,
                                   .request_timeout_ms = 5000, .attempts_max = 20};
    if (rc == 0 && lg_client_open(&d.client, &co, errmsg) != LG_OK) {
        rc = lg_cmd_fail(LG_CMD_EXIT_FAILED, "dev: %s", errmsg);
    }
    char run_id[24];
    snprintf(run_id, sizeof run_id, "%llx", (unsigned long long)time(NULL));
    if (rc == 0) {
        rc = demo(&d, run_id);
    }
    if (rc == 0) {
        rc = balances(&d);
    }
    if (rc == 0) {
        rc = chain_heads(&d);
    }
    lg_client_close(d.client);
    lg_arena_close(&d.arena);
    if (rc == 0 && !d.exit_after_demo) {
        print_howto(&d);
        printf("\ncluster running; Ctrl-C stops every node\n");
        fflush(stdout);
        while (dev_signal == 0) {
            bool gone = false;
            for (unsigned i = 0; i < d.n; i++) {
                gone = reap(&d, i, true) || gone;
            }
            if (gone) {
                rc = LG_CMD_EXIT_FAILED;
                break;
            }
            sleep_ms(200);
        }
    }
    printf("\nstopping %u nodes (SIGTERM; a leader hands over first)\n", d.n);
    stop_all(&d);
    printf("stopped; data kept in %s\n", d.dir);
    return rc;
}
