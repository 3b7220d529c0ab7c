/* harness: real ledger-node processes on loopback (see harness.h). */
#include "harness.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* Bounds. */
#define ARGS_MAX 64u
#define ENV_MAX 512u
#define PORT_TRIES_MAX 200u
#define FD_CLOSE_MAX 1024
#define FAILURE_BYTES_MAX (48u * 1024u)
#define TAIL_READ_BYTES (16u * 1024u)
#define KILL_WAIT_MS 5000u

/* The cluster of the running test (one per Criterion worker), and its pids for the
 * signal handlers (plain stores of pid_t; read-only in the handlers). */
static struct lgt_cluster *current;
static volatile pid_t live_pids[LGT_CLUSTER_NODES_MAX];
static bool handlers_installed;

/* ---- time --------------------------------------------------------------------------- */

uint64_t lgt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void lgt_sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000u),
                          .tv_nsec = (long)(ms % 1000u) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- last-resort cleanup -------------------------------------------------------------- */

static void kill_live_pids(void)
{
    for (unsigned i = 0; i < LGT_CLUSTER_NODES_MAX; i++) {
        pid_t pid = live_pids[i];
        if (pid > 0) {
            kill(pid, SIGKILL);
        }
    }
}

static void at_exit_kill(void)
{
    kill_live_pids();
    for (unsigned i = 0; i < LGT_CLUSTER_NODES_MAX; i++) {
        pid_t pid = live_pids[i];
        if (pid > 0) {
            waitpid(pid, NULL, 0); /* SIGKILLed: returns at once */
            live_pids[i] = 0;
        }
    }
}

static void on_fatal_signal(int sig)
{
    kill_live_pids();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install_handlers(void)
{
    if (handlers_installed) {
        return;
    }
    handlers_installed = true;
    atexit(at_exit_kill);
    static const int sigs[] = {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTERM, SIGINT};
    for (size_t k = 0; k < sizeof sigs / sizeof sigs[0]; k++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_fatal_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(sigs[k], &sa, NULL);
    }
}

/* ---- failure reports ------------------------------------------------------------------ */

/* Append the last `lines` lines of path (at most TAIL_READ_BYTES) to out. */
static void append_tail(char *out, size_t size, const char *path, unsigned lines)
{
    size_t used = strlen(out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(out + used, size - used, "  (no log: %s)\n", strerror(errno));
        return;
    }
    static char buf[TAIL_READ_BYTES + 1u];
    off_t end = lseek(fd, 0, SEEK_END);
    off_t from = end > (off_t)TAIL_READ_BYTES ? end - (off_t)TAIL_READ_BYTES : 0;
    ssize_t n = end > 0 ? pread(fd, buf, (size_t)(end - from), from) : 0;
    close(fd);
    if (n <= 0) {
        snprintf(out + used, size - used, "  (empty log)\n");
        return;
    }
    buf[n] = '\0';
    size_t len = (size_t)n;
    if (len > 0 && buf[len - 1] == '\n') {
        len--;
    }
    size_t start = len;
    unsigned seen = 0;
    while (start > 0 && seen < lines) {
        start--;
        if (buf[start] == '\n') {
            seen++;
        }
    }
    if (buf[start] == '\n') {
        start++;
    }
    for (size_t p = start; p < len && used + 8u < size;) {
        const char *nl = memchr(buf + p, '\n', len - p);
        size_t l = nl != NULL ? (size_t)(nl - (buf + p)) : len - p;
        int w = snprintf(out + used, size - used, "  | %.*s\n", (int)l, buf + p);
        if (w < 0) {
            break;
        }
        used += (size_t)w;
        if (used >= size) {
            used = size - 1u;
            break;
        }
        p += l + 1u;
    }
}

/* The report of a failure: what, where the data is, each node's state and log tail. */
static void failure_report(const struct lgt_cluster *c, char *out, size_t size,
                           const char *what)
{
    snprintf(out, size, "%s\n%s%scluster directory kept: %s\n", what, c->note,
             c->note[0] != '\0' ? "\n" : "", c->dir);
    for (unsigned i = 0; i < c->o.n_nodes; i++) {
        const struct lgt_node *n = &c->nodes[i];
        size_t used = strlen(out);
        char st[64] = "";
        if (n->pid == 0 && n->wait_status != -1) {
            lgt_wait_status_text(n->wait_status, st, sizeof st);
        }
        snprintf(out + used, size - used, "--- node %llu (client %s, %s%s%s), %s:\n",
                 (unsigned long long)n->id, n->client_address,
                 n->pid != 0 ? "running" : (n->starts > 0 ? "not running" : "never started"),
                 st[0] != '\0' ? ", last " : "", st, n->log_path);
        append_tail(out, size, n->log_path, LGT_LOG_TAIL_LINES);
    }
}

static void write_failure_file(struct lgt_cluster *c, const char *report)
{
    char path[LGT_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/FAILURE.txt", c->dir);
    FILE *f = fopen(path, "w");
    if (f != NULL) {
        fputs(report, f);
        fclose(f);
    }
    c->failure_written = true;
}

_Noreturn void lgt_cluster_fail(struct lgt_cluster *c, const char *file, int line,
                                const char *cond, const char *fmt, ...)
{
    static char what[2048];
    int w = snprintf(what, sizeof what, "%s:%d: check failed: %s\n  ", file, line, cond);
    if (w > 0 && (size_t)w < sizeof what) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what + w, sizeof what - (size_t)w, fmt, ap);
        va_end(ap);
    }
    static char report[FAILURE_BYTES_MAX];
    failure_report(c, report, sizeof report, what);
    write_failure_file(c, report);
    fprintf(stderr, "%s", report);
    cr_assert_fail("%s", report);
    abort(); /* cr_assert_fail does not return */
}

/* printf into a path buffer; fails the test when it does not fit (through vsnprintf, so
 * -Wformat-truncation does not flag a cut that is checked here). */
static void path_printf(char *out, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void path_printf(char *out, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(out, size, fmt, ap);
    va_end(ap);
    cr_assert(w >= 0 && (size_t)w < size, "path too long: %s", out);
}

/* ---- setup ------------------------------------------------------------------------------ */

/* Ports. Drawn at random BELOW the kernel's ephemeral range (ip_local_port_range) and
 * checked free by binding them. Outgoing connections (ours, the nodes', anyone's on the
 * machine) take their local ports from the ephemeral range, so none can hold a node's
 * port while the node is down or not yet listening; bind(0) hands out exactly those
 * ports, and two suites run at once collided that way ("Address already in use"). When
 * the range cannot be read, bind(0) it is. */
#define PORT_SPAN 16384u
#define PORT_FLOOR 1024u

static struct lgt_rng port_rng;
static bool port_rng_ready;

/* [lo, hi] to draw from; false: use bind(0). */
static bool port_range(uint16_t *lo, uint16_t *hi)
{
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f == NULL) {
        return false;
    }
    unsigned eph_lo = 0;
    unsigned eph_hi = 0;
    int got = fscanf(f, "%u %u", &eph_lo, &eph_hi);
    fclose(f);
    if (got != 2 || eph_lo <= PORT_FLOOR + 1024u || eph_lo > 65535u) {
        return false;
    }
    *hi = (uint16_t)(eph_lo - 1u);
    *lo = (uint16_t)(eph_lo - 1u - PORT_FLOOR > PORT_SPAN ? eph_lo - PORT_SPAN : PORT_FLOOR);
    return true;
}

/* Is port free on 127.0.0.1 for TCP (and UDP when udp_too)? port 0: let the kernel
 * choose, and *out gets it. */
static bool probe_port(uint16_t port, bool udp_too, uint16_t *out)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return false;
    }
    socklen_t len = sizeof a;
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    if (udp_too) {
        int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        cr_assert_geq(u, 0);
        int rc = bind(u, (struct sockaddr *)&a, sizeof a);
        close(u);
        if (rc != 0) {
            return false;
        }
    }
    *out = ntohs(a.sin_port);
    return true;
}

static uint16_t free_port(uint16_t *taken, unsigned n_taken, bool udp_too)
{
    if (!port_rng_ready) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        lgt_rng_init(&port_rng, (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32) ^
                                    (uint64_t)ts.tv_sec);
        port_rng_ready = true;
    }
    uint16_t lo = 0;
    uint16_t hi = 0;
    bool ranged = port_range(&lo, &hi);
    for (unsigned t = 0; t < PORT_TRIES_MAX; t++) {
        uint16_t want = ranged ? (uint16_t)(lo + lgt_rng_below(&port_rng, hi - lo + 1u)) : 0;
        uint16_t p = 0;
        bool dup = !probe_port(want, udp_too, &p);
        for (unsigned k = 0; k < n_taken && !dup; k++) {
            dup = taken[k] == p;
        }
        if (!dup) {
            taken[n_taken] = p;
            return p;
        }
    }
    cr_assert_fail("no free port after %u tries", PORT_TRIES_MAX);
    return 0;
}

/* Fresh ports for every node, and the --initial-cluster naming them. Only before any node
 * has run (the Raft addresses are in the nodes' configuration from bootstrap on). */
static void assign_addresses(struct lgt_cluster *c)
{
    uint16_t taken[3u * LGT_CLUSTER_NODES_MAX];
    unsigned n_taken = 0;
    size_t used = 0;
    for (unsigned i = 0; i < c->o.n_nodes; i++) {
        struct lgt_node *n = &c->nodes[i];
        uint16_t raft = free_port(taken, n_taken++, false);
        uint16_t client = free_port(taken, n_taken++, false);
        uint16_t gossip = free_port(taken, n_taken++, true);
        snprintf(n->raft_address, sizeof n->raft_address, "localhost:%u", (unsigned)raft);
        snprintf(n->client_address, sizeof n->client_address, "127.0.0.1:%u",
                 (unsigned)client);
        snprintf(n->gossip_address, sizeof n->gossip_address, "127.0.0.1:%u",
                 (unsigned)gossip);
        int w = snprintf(c->initial_cluster + used, sizeof c->initial_cluster - used,
                         "%s%llu=%s", i == 0 ? "" : ",", (unsigned long long)n->id,
                         n->raft_address);
        cr_assert(w > 0 && (size_t)w < sizeof c->initial_cluster - used);
        used += (size_t)w;
    }
}

/* The port of a "HOST:PORT" the harness wrote. */
static uint16_t address_port(const char *address)
{
    const char *colon = strrchr(address, ':');
    cr_assert_not_null(colon);
    return (uint16_t)strtoul(colon + 1, NULL, 10);
}

unsigned lgt_cluster_add_joiner(struct lgt_cluster *c)
{
    cr_assert_lt(c->o.n_nodes, LGT_CLUSTER_NODES_MAX, "at most %u nodes",
                 LGT_CLUSTER_NODES_MAX);
    uint16_t taken[3u * LGT_CLUSTER_NODES_MAX];
    unsigned n_taken = 0;
    for (unsigned i = 0; i < c->o.n_nodes; i++) {
        taken[n_taken++] = address_port(c->nodes[i].raft_address);
        taken[n_taken++] = address_port(c->nodes[i].client_address);
        taken[n_taken++] = address_port(c->nodes[i].gossip_address);
    }
    unsigned i = c->o.n_nodes;
    struct lgt_node *n = &c->nodes[i];
    memset(n, 0, sizeof *n);
    n->id = i + 1u;
    n->wait_status = -1;
    n->joiner = true;
    path_printf(n->data_dir, sizeof n->data_dir, "%s/node-%u", c->dir, i + 1u);
    path_printf(n->log_path, sizeof n->log_path, "%s/node-%u.log", c->dir, i + 1u);
    uint16_t raft = free_port(taken, n_taken++, false);
    uint16_t client = free_port(taken, n_taken++, false);
    uint16_t gossip = free_port(taken, n_taken++, true);
    snprintf(n->raft_address, sizeof n->raft_address, "localhost:%u", (unsigned)raft);
    snprintf(n->client_address, sizeof n->client_address, "127.0.0.1:%u", (unsigned)client);
    snprintf(n->gossip_address, sizeof n->gossip_address, "127.0.0.1:%u", (unsigned)gossip);
    c->o.n_nodes++;
    return i;
}

/* The membership flags of node n: --voters and --dead-voter-grace-ms when set, and for a
 * joiner --join with every initial node's gossip address instead of --initial-cluster (an
 * initial node gets --join with the other initial nodes' unless the option
 * gossip_isolated); --key-file when set. Returns the new argument count. */
static unsigned membership_args(const struct lgt_cluster *c, const struct lgt_node *n,
                                const char **argv, unsigned a, char *voters, char *grace,
                                size_t size)
{
    if (n->joiner) {
        for (unsigned k = 0; k < c->o.n_nodes && a + 2u < ARGS_MAX; k++) {
            if (!c->nodes[k].joiner) {
                argv[a++] = "--join";
                argv[a++] = c->nodes[k].gossip_address;
            }
        }
    } else {
        argv[a++] = "--initial-cluster";
        argv[a++] = c->initial_cluster;
        for (unsigned k = 0; !c->o.gossip_isolated && k < c->o.n_nodes && a + 2u < ARGS_MAX;
             k++) {
            if (!c->nodes[k].joiner && &c->nodes[k] != n) {
                argv[a++] = "--join";
                argv[a++] = c->nodes[k].gossip_address;
            }
        }
    }
    if (c->o.key_file != NULL) {
        argv[a++] = "--key-file";
        argv[a++] = c->o.key_file;
    }
    if (c->o.voters != 0) {
        snprintf(voters, size, "%u", c->o.voters);
        argv[a++] = "--voters";
        argv[a++] = voters;
    }
    if (c->o.dead_voter_grace_ms != 0) {
        snprintf(grace, size, "%u", c->o.dead_voter_grace_ms);
        argv[a++] = "--dead-voter-grace-ms";
        argv[a++] = grace;
    }
    cr_assert_lt(a, ARGS_MAX);
    return a;
}

struct lgt_cluster *lgt_cluster_new(const struct lgt_cluster_options *o)
{
    cr_assert(current == NULL, "one cluster per test");
    cr_assert(o->n_nodes >= 1 && o->n_nodes <= LGT_CLUSTER_NODES_MAX, "n_nodes %u",
              o->n_nodes);
    struct lgt_cluster *c = calloc(1, sizeof *c);
    cr_assert_not_null(c);
    c->o = *o;
    if (c->o.election_timeout_ms == 0) {
        c->o.election_timeout_ms = 300;
    }
    if (c->o.heartbeat_timeout_ms == 0) {
        c->o.heartbeat_timeout_ms = 50;
    }
    if (c->o.log_level == NULL) {
        c->o.log_level = "info";
    }
    const char *bin = getenv("LG_LEDGER_NODE");
    if (bin == NULL || bin[0] == '\0') {
        const char *build = getenv("LG_TEST_BUILDDIR");
        cr_assert(build != NULL && build[0] != '\0',
                  "set LG_LEDGER_NODE to the ledger-node executable (meson test does)");
        snprintf(c->binary, sizeof c->binary, "%s/cmd/ledger-node", build);
    } else {
        snprintf(c->binary, sizeof c->binary, "%s", bin);
    }
    cr_assert_eq(access(c->binary, X_OK), 0, "ledger-node binary %s: %s", c->binary,
                 strerror(errno));
    install_handlers();
    current = c;
    lgt_tmpdir(c->dir);
    for (unsigned i = 0; i < c->o.n_nodes; i++) {
        struct lgt_node *n = &c->nodes[i];
        n->id = i + 1u;
        n->wait_status = -1;
        path_printf(n->data_dir, sizeof n->data_dir, "%s/node-%u", c->dir, i + 1u);
        path_printf(n->log_path, sizeof n->log_path, "%s/node-%u.log", c->dir, i + 1u);
    }
    assign_addresses(c);
    return c;
}

void lgt_cluster_note(struct lgt_cluster *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->note, sizeof c->note, fmt, ap);
    va_end(ap);
}

/* Lines no node may ever log: a failed assertion, sanitizer reports (under
 * -Db_sanitize=address,undefined the nodes run instrumented and report to their log). */
static const char *const log_alarms[] = {
    "assertion failed",
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",
};

void lgt_cluster_pass(struct lgt_cluster *c)
{
    for (unsigned i = 0; i < c->o.n_nodes; i++) {
        for (size_t k = 0; k < sizeof log_alarms / sizeof log_alarms[0]; k++) {
            LGT_CHECK(c, !lgt_node_log_contains(c, i, log_alarms[k], false),
                      "node %u's log contains \"%s\"", i + 1u, log_alarms[k]);
        }
    }
    c->passed = true;
}

static void reap_all(struct lgt_cluster *c)
{
    for (unsigned i = 0; i < c->o.n_nodes; i++) {
        struct lgt_node *n = &c->nodes[i];
        if (n->pid > 0) {
            kill(n->pid, SIGKILL);
        }
    }
    for (unsigned i = 0; i < c->o.n_nodes; i++) {
        struct lgt_node *n = &c->nodes[i];
        if (n->pid > 0) {
            int st = 0;
            lgt_node_wait_exit(c, i, KILL_WAIT_MS, &st);
        }
    }
}

void lgt_cluster_fini(void)
{
    struct lgt_cluster *c = current;
    if (c == NULL) {
        return;
    }
    reap_all(c);
    const char *keep = getenv("LG_TEST_KEEP");
    if (c->passed && keep != NULL && keep[0] != '\0' && strcmp(keep, "0") != 0) {
        fprintf(stderr, "LG_TEST_KEEP: cluster directory kept: %s\n", c->dir);
    } else if (c->passed) {
        lgt_rmtree(c->dir);
    } else {
        static char report[FAILURE_BYTES_MAX];
        failure_report(c, report, sizeof report, "test failed (see the assertion above)");
        if (!c->failure_written) {
            write_failure_file(c, report);
        }
        fprintf(stderr, "%s", report);
    }
    current = NULL;
    free(c);
}

/* ---- processes ------------------------------------------------------------------------ */

static bool env_is_ledger(const char *e)
{
    return strncmp(e, "LEDGER_", 7) == 0;
}

void lgt_node_set_env(struct lgt_cluster *c, unsigned i, const char *name_value)
{
    cr_assert_lt(i, c->o.n_nodes);
    struct lgt_node *n = &c->nodes[i];
    if (name_value == NULL) {
        n->env[0] = '\0';
        return;
    }
    cr_assert_lt(strlen(name_value), sizeof n->env);
    cr_assert_not_null(strchr(name_value, '='));
    snprintf(n->env, sizeof n->env, "%s", name_value);
}

void lgt_node_start(struct lgt_cluster *c, unsigned i)
{
    cr_assert_lt(i, c->o.n_nodes);
    struct lgt_node *n = &c->nodes[i];
    LGT_CHECK(c, n->pid == 0, "node %llu is already running (pid %d)",
              (unsigned long long)n->id, (int)n->pid);
    char id[24], et[24], ht[24], st[24], sr[24];
    snprintf(id, sizeof id, "%llu", (unsigned long long)n->id);
    snprintf(et, sizeof et, "%u", c->o.election_timeout_ms);
    snprintf(ht, sizeof ht, "%u", c->o.heartbeat_timeout_ms);
    snprintf(st, sizeof st, "%u", c->o.snapshot_threshold);
    snprintf(sr, sizeof sr, "%u", c->o.snapshot_trailing);
    const char *argv[ARGS_MAX];
    unsigned a = 0;
    argv[a++] = c->binary;
    argv[a++] = "serve";
    argv[a++] = "--id";
    argv[a++] = id;
    argv[a++] = "--data";
    argv[a++] = n->data_dir;
    argv[a++] = "--raft";
    argv[a++] = n->raft_address;
    argv[a++] = "--client";
    argv[a++] = n->client_address;
    argv[a++] = "--gossip";
    argv[a++] = n->gossip_address;
    char voters[24], grace[24];
    a = membership_args(c, n, argv, a, voters, grace, sizeof voters);
    argv[a++] = "--election-timeout-ms";
    argv[a++] = et;
    argv[a++] = "--heartbeat-timeout-ms";
    argv[a++] = ht;
    if (c->o.snapshot_threshold != 0) {
        argv[a++] = "--snapshot-threshold";
        argv[a++] = st;
    }
    if (c->o.snapshot_trailing != 0) {
        argv[a++] = "--snapshot-trailing";
        argv[a++] = sr;
    }
    argv[a++] = "--log-level";
    argv[a++] = c->o.log_level;
    argv[a] = NULL;

    /* The environment: ours without LEDGER_* (a developer's settings must not leak in),
     * plus the node's extra variable. Built before fork: the child only calls
     * async-signal-safe functions. */
    const char *envp[ENV_MAX];
    unsigned e = 0;
    for (char **p = environ; *p != NULL && e + 2u < ENV_MAX; p++) {
        if (!env_is_ledger(*p)) {
            envp[e++] = *p;
        }
    }
    if (n->env[0] != '\0') {
        envp[e++] = n->env;
    }
    envp[e] = NULL;

    int log = open(n->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    LGT_CHECK(c, log >= 0, "open %s: %s", n->log_path, strerror(errno));
    struct stat sb;
    LGT_CHECK(c, fstat(log, &sb) == 0, "fstat: %s", strerror(errno));
    n->log_offset = (uint64_t)sb.st_size;
    n->starts++;
    dprintf(log, "--- lgt: start %u of node %llu%s%s ---\n", n->starts,
            (unsigned long long)n->id, n->env[0] != '\0' ? " with " : "", n->env);
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    LGT_CHECK(c, null >= 0, "open /dev/null: %s", strerror(errno));
    pid_t parent = getpid();
    pid_t pid = fork();
    LGT_CHECK(c, pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        /* Die with the test process, even if it is SIGKILLed on timeout. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) {
            _exit(126);
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        static const int reset[] = {SIGTERM, SIGINT, SIGPIPE, SIGABRT, SIGSEGV, SIGCHLD};
        for (size_t k = 0; k < sizeof reset / sizeof reset[0]; k++) {
            signal(reset[k], SIG_DFL);
        }
        if (dup2(null, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0) {
            _exit(126);
        }
        for (int fd = 3; fd < FD_CLOSE_MAX; fd++) {
            close(fd);
        }
        execve(argv[0], (char *const *)(void *)argv, (char *const *)(void *)envp);
        static const char msg[] = "lgt: execve failed\n";
        ssize_t ignored = write(2, msg, sizeof msg - 1u);
        (void)ignored;
        _exit(127);
    }
    close(null);
    close(log);
    n->pid = pid;
    n->stopped = false;
    live_pids[i] = pid;
}

bool lgt_node_running(const struct lgt_cluster *c, unsigned i)
{
    return i < c->o.n_nodes && c->nodes[i].pid > 0;
}

const char *lgt_wait_status_text(int status, char *buf, size_t size)
{
    if (WIFEXITED(status)) {
        snprintf(buf, size, "exited with %d", WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
        snprintf(buf, size, "killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    } else {
        snprintf(buf, size, "wait status %d", status);
    }
    return buf;
}

static void node_reaped(struct lgt_cluster *c, unsigned i, int status)
{
    struct lgt_node *n = &c->nodes[i];
    n->pid = 0;
    n->stopped = false;
    n->wait_status = status;
    live_pids[i] = 0;
}

bool lgt_node_exited(struct lgt_cluster *c, unsigned i, int *status)
{
    struct lgt_node *n = &c->nodes[i];
    if (n->pid <= 0) {
        if (status != NULL) {
            *status = n->wait_status;
        }
        return true;
    }
    int st = 0;
    pid_t r = waitpid(n->pid, &st, WNOHANG);
    if (r < 0 && errno == ECHILD) {
        st = -1; /* reaped elsewhere: gone, status unknown */
        r = n->pid;
    }
    if (r == n->pid) {
        node_reaped(c, i, st);
        if (status != NULL) {
            *status = st;
        }
        return true;
    }
    return false;
}

bool lgt_node_wait_exit(struct lgt_cluster *c, unsigned i, unsigned timeout_ms, int *status)
{
    uint64_t deadline = lgt_now_ms() + timeout_ms;
    for (;;) {
        if (lgt_node_exited(c, i, status)) {
            return true;
        }
        if (lgt_now_ms() >= deadline) {
            return false;
        }
        lgt_sleep_ms(5);
    }
}

void lgt_node_signal(struct lgt_cluster *c, unsigned i, int sig)
{
    cr_assert_lt(i, c->o.n_nodes);
    struct lgt_node *n = &c->nodes[i];
    LGT_CHECK(c, n->pid > 0, "signal %d to node %llu, which is not running", sig,
              (unsigned long long)n->id);
    LGT_CHECK(c, kill(n->pid, sig) == 0, "kill(%d, %d): %s", (int)n->pid, sig,
              strerror(errno));
    if (sig == SIGSTOP) {
        n->stopped = true;
    } else if (sig == SIGCONT) {
        n->stopped = false;
    }
}

void lgt_node_kill(struct lgt_cluster *c, unsigned i)
{
    lgt_node_signal(c, i, SIGKILL);
    int st = 0;
    bool gone = lgt_node_wait_exit(c, i, KILL_WAIT_MS, &st);
    LGT_CHECK(c, gone, "node %llu still alive %u ms after SIGKILL",
              (unsigned long long)c->nodes[i].id, KILL_WAIT_MS);
}

/* ---- requests ------------------------------------------------------------------------- */

struct lg_str lgt_str(const char *s)
{
    struct lg_str r = {s, s != NULL ? (uint32_t)strlen(s) : 0u};
    return r;
}

bool lgt_str_is(struct lg_str s, const char *z)
{
    size_t n = strlen(z);
    return s.len == n && (n == 0 || memcmp(s.ptr, z, n) == 0);
}

const char *lgt_hex(const uint8_t *hash, char out[2u * LG_PROTO_HASH_BYTES + 1u])
{
    static const char digits[] = "0123456789abcdef";
    for (unsigned k = 0; k < LG_PROTO_HASH_BYTES; k++) {
        out[2u * k] = digits[hash[k] >> 4];
        out[2u * k + 1u] = digits[hash[k] & 15u];
    }
    out[2u * LG_PROTO_HASH_BYTES] = '\0';
    return out;
}

void lgt_req_submit(struct lg_proto_request *req, struct lg_posting *posting, struct lg_kv *kv,
                    const struct lgt_transfer *t)
{
    memset(req, 0, sizeof *req);
    memset(posting, 0, sizeof *posting);
    req->op = LG_PROTO_OP_SUBMIT;
    posting->source = lgt_str(t->source);
    posting->destination = lgt_str(t->destination);
    posting->amount = t->amount;
    posting->asset = lgt_str(t->asset);
    req->u.submit.ledger = lgt_str(t->ledger);
    req->u.submit.postings = posting;
    req->u.submit.n_postings = 1;
    if (t->reference != NULL) {
        req->u.submit.reference = lgt_str(t->reference);
    }
    if (t->meta_key != NULL) {
        kv->key = lgt_str(t->meta_key);
        kv->value = lgt_str(t->meta_value);
        req->u.submit.metadata = kv;
        req->u.submit.n_metadata = 1;
    }
}

void lgt_req_get_tx(struct lg_proto_request *req, const char *ledger, uint64_t tx_id,
                    const char *reference, uint8_t consistency, uint64_t after_index)
{
    memset(req, 0, sizeof *req);
    req->op = LG_PROTO_OP_GET_TX;
    req->consistency = consistency;
    req->after_index = after_index;
    req->u.get_tx.ledger = lgt_str(ledger);
    if (reference != NULL) {
        req->u.get_tx.by_reference = true;
        req->u.get_tx.reference = lgt_str(reference);
    } else {
        req->u.get_tx.tx_id = tx_id;
    }
}

void lgt_req_balances(struct lg_proto_request *req, const char *ledger, const char *address,
                      const char *asset, uint8_t consistency, uint64_t after_index)
{
    memset(req, 0, sizeof *req);
    req->op = LG_PROTO_OP_BALANCES;
    req->consistency = consistency;
    req->after_index = after_index;
    req->u.balances.ledger = lgt_str(ledger);
    req->u.balances.address = lgt_str(address);
    if (asset != NULL) {
        req->u.balances.asset = lgt_str(asset);
    }
}

void lgt_req_list_txs(struct lg_proto_request *req, const char *ledger, uint32_t limit,
                      struct lg_str cursor, uint8_t consistency)
{
    memset(req, 0, sizeof *req);
    req->op = LG_PROTO_OP_LIST_TXS;
    req->consistency = consistency;
    req->u.list_txs.ledger = lgt_str(ledger);
    req->u.list_txs.order = LG_PROTO_ORDER_ASC;
    req->u.list_txs.limit = limit;
    req->u.list_txs.cursor = cursor;
}

bool lgt_balance_of(const struct lg_proto_response *resp, const char *address,
                    const char *asset, lg_i128 *out)
{
    const struct lg_proto_balances *b = &resp->u.balances;
    for (uint32_t k = 0; k < b->n_accounts; k++) {
        const struct lg_proto_account_balances *a = &b->accounts[k];
        if (!lgt_str_is(a->address, address)) {
            continue;
        }
        for (uint32_t j = 0; j < a->n_balances; j++) {
            if (lgt_str_is(a->balances[j].asset, asset)) {
                *out = a->balances[j].balance;
                return true;
            }
        }
    }
    return false;
}

/* ---- connections ---------------------------------------------------------------------- */

struct lg_conn *lgt_node_conn(struct lgt_cluster *c, unsigned i, unsigned timeout_ms)
{
    cr_assert_lt(i, c->o.n_nodes);
    struct lg_conn *conn = NULL;
    char err[LG_ERRMSG_SIZE] = "";
    int rc = lg_conn_open(&conn, c->nodes[i].client_address, LGT_STATUS_CONNECT_MS * 4u, err);
    LGT_CHECK(c, rc == LG_OK, "connect to node %llu (%s): %s %s",
              (unsigned long long)c->nodes[i].id, c->nodes[i].client_address,
              lg_err_name(rc), err);
    lg_conn_set_timeout(conn, timeout_ms);
    return conn;
}

struct lg_client *lgt_cluster_client(struct lgt_cluster *c, const unsigned *idx, unsigned n,
                                     unsigned request_timeout_ms, uint32_t attempts_max)
{
    const char *nodes[LGT_CLUSTER_NODES_MAX];
    unsigned count = idx != NULL ? n : c->o.n_nodes;
    cr_assert(count >= 1 && count <= LGT_CLUSTER_NODES_MAX);
    for (unsigned k = 0; k < count; k++) {
        unsigned i = idx != NULL ? idx[k] : k;
        cr_assert_lt(i, c->o.n_nodes);
        nodes[k] = c->nodes[i].client_address;
    }
    struct lg_client_options o;
    memset(&o, 0, sizeof o);
    o.nodes = nodes;
    o.n_nodes = count;
    o.connect_timeout_ms = 1000;
    o.request_timeout_ms = request_timeout_ms;
    o.attempts_max = attempts_max;
    o.backoff_ms = 20;
    struct lg_client *cl = NULL;
    char err[LG_ERRMSG_SIZE] = "";
    int rc = lg_client_open(&cl, &o, err);
    LGT_CHECK(c, rc == LG_OK, "lg_client_open: %s %s", lg_err_name(rc), err);
    return cl;
}

int lgt_node_status(struct lgt_cluster *c, unsigned i, struct lgt_status *out, char *errmsg)
{
    cr_assert_lt(i, c->o.n_nodes);
    memset(out, 0, sizeof *out);
    errmsg[0] = '\0';
    struct lg_conn *conn = NULL;
    int rc = lg_conn_open(&conn, c->nodes[i].client_address, LGT_STATUS_CONNECT_MS, errmsg);
    if (rc != LG_OK) {
        return rc;
    }
    lg_conn_set_timeout(conn, LGT_STATUS_TIMEOUT_MS);
    struct lg_arena arena;
    lg_arena_init(&arena, 0);
    struct lg_proto_request req;
    memset(&req, 0, sizeof req);
    req.id = 1;
    req.op = LG_PROTO_OP_STATUS;
    struct lg_proto_response resp;
    memset(&resp, 0, sizeof resp);
    rc = lg_conn_call(conn, &req, &arena, &resp, errmsg);
    if (rc == LG_OK && !resp.ok) {
        rc = resp.error.code != LG_OK ? resp.error.code : LG_EIO;
        snprintf(errmsg, LG_ERRMSG_SIZE, "status answered %s: %.*s", lg_err_wire(rc),
                 (int)resp.error.message.len, resp.error.message.ptr);
    }
    if (rc == LG_OK) {
        const struct lg_proto_status *s = &resp.u.status;
        out->node_id = s->node_id;
        out->role = s->role;
        out->leader_id = s->leader_id;
        size_t len = s->leader_client.len < sizeof out->leader_client
                         ? s->leader_client.len
                         : sizeof out->leader_client - 1u;
        if (len > 0) {
            memcpy(out->leader_client, s->leader_client.ptr, len);
        }
        out->leader_client[len] = '\0';
        out->term = s->term;
        out->commit_index = s->commit_index;
        out->applied_index = s->applied_index;
        out->journal_seq = s->journal_seq;
        memcpy(out->chain_head, s->chain_head, sizeof out->chain_head);
    }
    lg_arena_close(&arena);
    lg_conn_close(conn);
    return rc;
}

/* Wait until node i answers status. Returns true; or false with why (the node exited, or
 * did not answer in time). */
static bool node_ready(struct lgt_cluster *c, unsigned i, unsigned timeout_ms, char *why,
                       size_t why_size)
{
    struct lgt_node *n = &c->nodes[i];
    uint64_t deadline = lgt_now_ms() + timeout_ms;
    char err[LG_ERRMSG_SIZE] = "";
    int rc = LG_EUNAVAIL;
    for (unsigned tries = 0; tries < 100000u; tries++) {
        int st = 0;
        if (lgt_node_exited(c, i, &st)) {
            char text[64];
            snprintf(why, why_size, "node %llu %s while starting", (unsigned long long)n->id,
                     lgt_wait_status_text(st, text, sizeof text));
            return false;
        }
        struct lgt_status s;
        rc = lgt_node_status(c, i, &s, err);
        if (rc == LG_OK) {
            LGT_CHECK(c, s.node_id == n->id, "node at %s says it is %llu, expected %llu",
                      n->client_address, (unsigned long long)s.node_id,
                      (unsigned long long)n->id);
            return true;
        }
        if (lgt_now_ms() >= deadline) {
            break;
        }
        lgt_sleep_ms(LGT_POLL_MS);
    }
    snprintf(why, why_size, "node %llu (%s) did not answer status within %u ms: %s %s",
             (unsigned long long)n->id, n->client_address, timeout_ms, lg_err_name(rc), err);
    return false;
}

void lgt_node_wait_ready(struct lgt_cluster *c, unsigned i, unsigned timeout_ms)
{
    char why[512];
    if (!node_ready(c, i, timeout_ms, why, sizeof why)) {
        lgt_cluster_fail(c, __FILE__, __LINE__, "node ready", "%s", why);
    }
}

/* First starts are retried with new ports when one was taken meanwhile (see free_port). */
#define START_ATTEMPTS_MAX 3u

void lgt_cluster_start_some(struct lgt_cluster *c, const unsigned *idx, unsigned n)
{
    unsigned count = idx != NULL ? n : c->o.n_nodes;
    bool fresh = true;
    for (unsigned i = 0; i < c->o.n_nodes; i++) {
        fresh = fresh && c->nodes[i].starts == 0;
    }
    for (unsigned attempt = 1;; attempt++) {
        for (unsigned k = 0; k < count; k++) {
            lgt_node_start(c, idx != NULL ? idx[k] : k);
        }
        char why[512] = "";
        int bad = -1;
        for (unsigned k = 0; k < count && bad < 0; k++) {
            unsigned i = idx != NULL ? idx[k] : k;
            if (!node_ready(c, i, LGT_READY_TIMEOUT_MS, why, sizeof why)) {
                bad = (int)i;
            }
        }
        if (bad < 0) {
            return;
        }
        bool in_use = lgt_node_log_contains(c, (unsigned)bad, "Address already in use", true) ||
                      lgt_node_log_contains(c, (unsigned)bad, "address already in use", true);
        if (!fresh || !in_use || attempt == START_ATTEMPTS_MAX) {
            lgt_cluster_fail(c, __FILE__, __LINE__, "nodes ready", "start attempt %u: %s",
                             attempt, why);
        }
        /* A port was taken between the check and the node's bind: start over with new
         * ports and empty data directories. */
        reap_all(c);
        for (unsigned i = 0; i < c->o.n_nodes; i++) {
            lgt_rmtree(c->nodes[i].data_dir);
            int log = open(c->nodes[i].log_path, O_WRONLY | O_APPEND | O_CLOEXEC);
            if (log >= 0) {
                dprintf(log, "--- lgt: a port was in use (node %d): new ports, start over "
                        "---\n", bad + 1);
                close(log);
            }
        }
        assign_addresses(c);
    }
}

void lgt_cluster_start(struct lgt_cluster *c)
{
    lgt_cluster_start_some(c, NULL, 0);
}

/* Running and not SIGSTOPped: the nodes polls expect an answer from. */
static bool node_live(const struct lgt_cluster *c, unsigned i)
{
    return lgt_node_running(c, i) && !c->nodes[i].stopped;
}

/* Statuses of every live node; false when one does not answer (why in err). */
static bool poll_all(struct lgt_cluster *c, struct lgt_status *st, char *why, size_t why_size)
{
    for (unsigned i = 0; i < c->o.n_nodes; i++) {
        if (!node_live(c, i)) {
            continue;
        }
        char err[LG_ERRMSG_SIZE] = "";
        int rc = lgt_node_status(c, i, &st[i], err);
        if (rc != LG_OK) {
            snprintf(why, why_size, "node %llu: status failed: %s %s",
                     (unsigned long long)c->nodes[i].id, lg_err_name(rc), err);
            return false;
        }
    }
    return true;
}

/* The index of the one leader all running nodes agree on, or -1 (why says why). */
static int agreed_leader(struct lgt_cluster *c, const struct lgt_status *st, char *why,
                         size_t why_size)
{
    int leader = -1;
    for (unsigned i = 0; i < c->o.n_nodes; i++) {
        if (node_live(c, i) && st[i].role == LG_PROTO_ROLE_LEADER) {
            if (leader >= 0) {
                snprintf(why, why_size, "nodes %d and %u both report role leader",
                         leader + 1, i + 1u);
                return -1;
            }
            leader = (int)i;
        }
    }
    if (leader < 0) {
        snprintf(why, why_size, "no running node reports role leader");
        return -1;
    }
    uint64_t id = c->nodes[leader].id;
    for (unsigned i = 0; i < c->o.n_nodes; i++) {
        if (node_live(c, i) && st[i].leader_id != id) {
            snprintf(why, why_size, "node %u reports leader_id %llu, node %llu is leader",
                     i + 1u, (unsigned long long)st[i].leader_id, (unsigned long long)id);
            return -1;
        }
    }
    return leader;
}

unsigned lgt_cluster_leader(struct lgt_cluster *c, unsigned timeout_ms)
{
    uint64_t deadline = lgt_now_ms() + timeout_ms;
    char why[512] = "no poll";
    for (unsigned tries = 0; tries < 100000u; tries++) {
        struct lgt_status st[LGT_CLUSTER_NODES_MAX];
        if (poll_all(c, st, why, sizeof why)) {
            int leader = agreed_leader(c, st, why, sizeof why);
            if (leader >= 0) {
                return (unsigned)leader;
            }
        }
        if (lgt_now_ms() >= deadline) {
            break;
        }
        lgt_sleep_ms(LGT_POLL_MS);
    }
    lgt_cluster_fail(c, __FILE__, __LINE__, "one leader", "no agreed leader within %u ms: %s",
                     timeout_ms, why);
}

void lgt_cluster_wait_converged(struct lgt_cluster *c, uint64_t min_index, unsigned timeout_ms,
                                struct lgt_status *out)
{
    uint64_t deadline = lgt_now_ms() + timeout_ms;
    char why[1024] = "no poll";
    for (unsigned tries = 0; tries < 100000u; tries++) {
        struct lgt_status st[LGT_CLUSTER_NODES_MAX];
        int leader = -1;
        if (poll_all(c, st, why, sizeof why)) {
            leader = agreed_leader(c, st, why, sizeof why);
        }
        bool ok = leader >= 0;
        if (ok && st[leader].commit_index < min_index) {
            snprintf(why, sizeof why, "leader %d commit_index %llu < %llu", leader + 1,
                     (unsigned long long)st[leader].commit_index,
                     (unsigned long long)min_index);
            ok = false;
        }
        for (unsigned i = 0; ok && i < c->o.n_nodes; i++) {
            if (!node_live(c, i)) {
                continue;
            }
            const struct lgt_status *l = &st[leader];
            char h1[65], h2[65];
            if (st[i].applied_index != l->commit_index ||
                st[i].journal_seq != l->journal_seq ||
                memcmp(st[i].chain_head, l->chain_head, LG_PROTO_HASH_BYTES) != 0) {
                snprintf(why, sizeof why, "node %u applied %llu journal_seq %llu head %s; "
                         "leader %d commit %llu applied %llu journal_seq %llu head %s",
                         i + 1u, (unsigned long long)st[i].applied_index,
                         (unsigned long long)st[i].journal_seq, lgt_hex(st[i].chain_head, h1),
                         leader + 1, (unsigned long long)l->commit_index,
                         (unsigned long long)l->applied_index,
                         (unsigned long long)l->journal_seq, lgt_hex(l->chain_head, h2));
                ok = false;
            }
        }
        if (ok) {
            if (out != NULL) {
                *out = st[leader];
            }
            return;
        }
        if (lgt_now_ms() >= deadline) {
            break;
        }
        lgt_sleep_ms(LGT_POLL_MS);
    }
    lgt_cluster_fail(c, __FILE__, __LINE__, "converged", "replicas did not converge within "
                     "%u ms: %s", timeout_ms, why);
}

bool lgt_node_log_contains(const struct lgt_cluster *c, unsigned i, const char *needle,
                           bool this_run)
{
    const struct lgt_node *n = &c->nodes[i];
    size_t len = 0;
    uint8_t *bytes = lgt_read_file(n->log_path, &len);
    if (bytes == NULL) {
        return false;
    }
    size_t from = this_run && n->log_offset <= len ? (size_t)n->log_offset : 0u;
    bool found = memmem(bytes + from, len - from, needle, strlen(needle)) != NULL;
    free(bytes);
    return found;
}

/* ---- shared checks -------------------------------------------------------------------- */

void lgt_submit_ok(struct lgt_cluster *c, struct lg_client *cl, const struct lgt_transfer *t,
                   struct lg_proto_tx_result *out)
{
    struct lg_proto_request req;
    struct lg_posting posting;
    struct lg_kv kv;
    lgt_req_submit(&req, &posting, &kv, t);
    struct lg_arena arena;
    lg_arena_init(&arena, 0);
    struct lg_proto_response resp;
    memset(&resp, 0, sizeof resp);
    char err[LG_ERRMSG_SIZE] = "";
    int rc = lg_client_call(cl, &req, &arena, &resp, err);
    LGT_CHECK(c, rc == LG_OK, "submit %s: no answer: %s %s (last node %s)",
              t->reference != NULL ? t->reference : "(no reference)", lg_err_name(rc), err,
              lg_client_current(cl));
    LGT_CHECK(c, resp.ok, "submit %s refused: %s %.*s (node %s)",
              t->reference != NULL ? t->reference : "(no reference)",
              lg_err_wire(resp.error.code), (int)resp.error.message.len,
              resp.error.message.ptr, lg_client_current(cl));
    *out = resp.u.submit;
    lg_arena_close(&arena);
}

static void copy_str(char *dst, size_t size, struct lg_str s)
{
    size_t n = s.len < size ? s.len : size - 1u;
    if (n > 0) {
        memcpy(dst, s.ptr, n);
    }
    dst[n] = '\0';
}

void lgt_tx_copy(struct lgt_cluster *c, const struct lg_proto_tx *src, struct lgt_tx *dst)
{
    memset(dst, 0, sizeof *dst);
    LGT_CHECK(c, src->n_postings == 1, "tx %llu has %u postings, the suite writes one",
              (unsigned long long)src->tx_id, src->n_postings);
    dst->tx_id = src->tx_id;
    dst->seq = src->seq;
    dst->index = src->index;
    memcpy(dst->hash, src->hash, sizeof dst->hash);
    copy_str(dst->reference, sizeof dst->reference, src->reference);
    copy_str(dst->source, sizeof dst->source, src->postings[0].source);
    copy_str(dst->destination, sizeof dst->destination, src->postings[0].destination);
    copy_str(dst->asset, sizeof dst->asset, src->postings[0].asset);
    dst->amount = src->postings[0].amount;
    dst->n_metadata = src->n_metadata;
    dst->meta_value_len = src->n_metadata > 0 ? src->metadata[0].value.len : 0u;
}

/* Pages of list_txs: bounds. */
#define LIST_PAGE 1000u
#define LIST_PAGES_MAX 10000u

size_t lgt_list_all(struct lgt_cluster *c, unsigned i, const char *ledger, struct lgt_tx **out)
{
    struct lg_conn *conn = lgt_node_conn(c, i, 10000);
    struct lg_arena arena;
    lg_arena_init(&arena, 0);
    size_t n = 0;
    size_t cap = 1024;
    struct lgt_tx *txs = malloc(cap * sizeof *txs);
    LGT_CHECK(c, txs != NULL, "out of memory");
    char cursor[LG_PROTO_CURSOR_BYTES_MAX + 1u] = "";
    uint32_t cursor_len = 0;
    unsigned pages = 0;
    for (; pages < LIST_PAGES_MAX; pages++) {
        struct lg_proto_request req;
        struct lg_str cur = {cursor, cursor_len};
        lgt_req_list_txs(&req, ledger, LIST_PAGE, cur, LG_PROTO_READ_STALE);
        req.id = pages + 1u;
        struct lg_proto_response resp;
        memset(&resp, 0, sizeof resp);
        char err[LG_ERRMSG_SIZE] = "";
        lg_arena_reset(&arena);
        int rc = lg_conn_call(conn, &req, &arena, &resp, err);
        LGT_CHECK(c, rc == LG_OK && resp.ok, "list_txs page %u on node %u: %s %s %.*s", pages,
                  i + 1u, lg_err_name(rc), err, rc == LG_OK ? (int)resp.error.message.len : 0,
                  rc == LG_OK ? resp.error.message.ptr : "");
        for (uint32_t k = 0; k < resp.u.list_txs.n_txs; k++) {
            if (n == cap) {
                cap *= 2u;
                struct lgt_tx *bigger = realloc(txs, cap * sizeof *txs);
                LGT_CHECK(c, bigger != NULL, "out of memory");
                txs = bigger;
            }
            lgt_tx_copy(c, &resp.u.list_txs.txs[k], &txs[n]);
            LGT_CHECK(c, txs[n].tx_id == n, "node %u: list_txs gave tx_id %llu at position "
                      "%zu (ascending order, ids from 0 without gaps)", i + 1u,
                      (unsigned long long)txs[n].tx_id, n);
            n++;
        }
        struct lg_str next = resp.u.list_txs.cursor;
        if (next.len == 0) {
            break;
        }
        LGT_CHECK(c, resp.u.list_txs.n_txs > 0, "node %u: empty page with a cursor", i + 1u);
        LGT_CHECK(c, next.len <= LG_PROTO_CURSOR_BYTES_MAX, "cursor of %u bytes", next.len);
        memcpy(cursor, next.ptr, next.len);
        cursor_len = next.len;
    }
    LGT_CHECK(c, pages < LIST_PAGES_MAX, "list_txs did not end within %u pages",
              LIST_PAGES_MAX);
    lg_arena_close(&arena);
    lg_conn_close(conn);
    *out = txs;
    return n;
}
