/* serve: `ledger-node serve`, one node: flags (DESIGN §10), the loop, signals. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../discovery/gossip.h"
#include "../lib/assert.h"
#include "../lib/log.h"
#include "../lib/mem.h"
#include "../lib/metrics.h"
#include "../raft/node.h"
#include "cli.h"
#include "cmd.h"
#include "metrics_http.h"
#include "audit.h"
#include "server.h"

#define JOIN_MAX 16u

static const char serve_usage[] =
    "usage: ledger-node serve --id N --data DIR --raft HOST:PORT --client HOST:PORT\n"
    "                         --gossip HOST:PORT\n"
    "                         [--initial-cluster 1=HOST:PORT,2=HOST:PORT,3=HOST:PORT]\n"
    "                         [--join HOST:PORT ...] [--cluster NAME] [--key-file PATH]\n"
    "\n"
    "Runs one node in the foreground until SIGTERM or SIGINT (a leader first hands over\n"
    "leadership). Every flag also reads an environment variable, used when the flag is\n"
    "absent: LEDGER_ID, LEDGER_DATA, LEDGER_RAFT, LEDGER_CLIENT, LEDGER_GOSSIP,\n"
    "LEDGER_INITIAL_CLUSTER, LEDGER_JOIN (comma-separated), LEDGER_CLUSTER, LEDGER_KEY_FILE.\n"
    "\n"
    "  --id N                 this node's Raft id (>= 1)\n"
    "  --data DIR             data directory (raft/, journal/, state/ inside)\n"
    "  --raft HOST:PORT       Raft address: listened on, and dialled by peers (host names\n"
    "                         are resolved at every connect)\n"
    "  --client HOST:PORT     client protocol address (DESIGN §8)\n"
    "  --gossip HOST:PORT     gossip address (UDP): listened on, and announced to peers\n"
    "                         (so the address peers reach, never 0.0.0.0 or [::])\n"
    "  --initial-cluster LIST the bootstrap voters, ID=HOST:PORT (Raft addresses), the same\n"
    "                         on every initial node; ignored once the node has data\n"
    "  --join HOST:PORT       gossip seed of a running cluster (repeatable)\n"
    "  --cluster NAME         cluster name (default \"ledger\")\n"
    "  --key-file PATH        gossip key file, mode 0600 (its bytes less one trailing\n"
    "                         newline are the HMAC key; without it gossip is\n"
    "                         unauthenticated and the leader makes no membership\n"
    "                         change: no node is added, promoted or removed)\n"
    "\n"
    "tuning (also LEDGER_<NAME> with '-' as '_', e.g. LEDGER_ELECTION_TIMEOUT_MS):\n"
    "  --advertise-client HOST:PORT  client address named in not_leader answers (default:\n"
    "                                --client)\n"
    "  --election-timeout-ms N       default 1000\n"
    "  --heartbeat-timeout-ms N      default 100 (below the election timeout)\n"
    "  --snapshot-threshold N        Raft entries between snapshots, default 16384\n"
    "  --snapshot-trailing N         entries kept behind a snapshot, default 32768\n"
    "  --voters N                    voters the leader keeps: 1, 3, 5 or 7 (default 3); nodes\n"
    "                                found by gossip become voters while there are fewer,\n"
    "                                else standbys\n"
    "  --dead-voter-grace-ms N       a voter gossip reports dead or left for this long, and\n"
    "                                the leader has not heard from over Raft, is replaced\n"
    "                                by a caught-up standby then removed, or removed for a\n"
    "                                new id at its Raft address (default 30000)\n"
    "  --log-level LEVEL             debug, info (default), warn, error\n"
    "  --audit-interval-ms N         cross-replica audit of Merkle roots, default 30000;\n"
    "                                0: off (docs/protocol.md)\n"
    "  --gossip-probe-interval-ms N  default 1000 (docs/discovery.md)\n"
    "  --gossip-probe-timeout-ms N   default 500 (below the probe interval)\n"
    "  --gossip-indirect-probes N    default 3 (1..8)\n"
    "  --gossip-suspicion-mult N     default 4: suspicion timeout = N * max(1, log10(n))\n"
    "                                * probe interval\n"
    "  --metrics HOST:PORT           serve Prometheus metrics at http://HOST:PORT/metrics\n"
    "                                (docs/metrics.md; default: none)\n";

struct serve_flags {
    const char *id;
    const char *data;
    const char *raft;
    const char *client;
    const char *gossip;
    const char *initial_cluster;
    const char *join[JOIN_MAX];
    unsigned n_join;
    const char *cluster;
    const char *key_file;
    const char *advertise_client;
    const char *election_timeout_ms;
    const char *heartbeat_timeout_ms;
    const char *snapshot_threshold;
    const char *snapshot_trailing;
    const char *voters;
    const char *dead_voter_grace_ms;
    const char *log_level;
    const char *audit_interval_ms;
    const char *gossip_probe_interval_ms;
    const char *gossip_probe_timeout_ms;
    const char *gossip_indirect_probes;
    const char *gossip_suspicion_mult;
    const char *metrics;
};

struct serve {
    uv_loop_t loop;
    struct lg_node *node;
    struct lg_server *server;
    struct lg_gossip *gossip;
    struct lg_sign_key *key; /* issue 8: signs digests */
    struct lg_audit *audit;
    uv_signal_t sigterm;
    uv_signal_t sigint;
    bool stopping;
    int exit_code;
    struct lg_metrics metrics;
    struct lg_metrics_http *metrics_http; /* NULL: no --metrics */
};

/* ---- flags ------------------------------------------------------------------------------ */

struct flag_def {
    const char *name;
    const char *env;
    size_t offset;
};

#define FLAG(n, e, f) {n, e, offsetof(struct serve_flags, f)}
static const struct flag_def flag_defs[] = {
    FLAG("--id", "LEDGER_ID", id),
    FLAG("--data", "LEDGER_DATA", data),
    FLAG("--raft", "LEDGER_RAFT", raft),
    FLAG("--client", "LEDGER_CLIENT", client),
    FLAG("--gossip", "LEDGER_GOSSIP", gossip),
    FLAG("--initial-cluster", "LEDGER_INITIAL_CLUSTER", initial_cluster),
    FLAG("--cluster", "LEDGER_CLUSTER", cluster),
    FLAG("--key-file", "LEDGER_KEY_FILE", key_file),
    FLAG("--advertise-client", "LEDGER_ADVERTISE_CLIENT", advertise_client),
    FLAG("--election-timeout-ms", "LEDGER_ELECTION_TIMEOUT_MS", election_timeout_ms),
    FLAG("--heartbeat-timeout-ms", "LEDGER_HEARTBEAT_TIMEOUT_MS", heartbeat_timeout_ms),
    FLAG("--snapshot-threshold", "LEDGER_SNAPSHOT_THRESHOLD", snapshot_threshold),
    FLAG("--snapshot-trailing", "LEDGER_SNAPSHOT_TRAILING", snapshot_trailing),
    FLAG("--voters", "LEDGER_VOTERS", voters),
    FLAG("--dead-voter-grace-ms", "LEDGER_DEAD_VOTER_GRACE_MS", dead_voter_grace_ms),
    FLAG("--log-level", "LEDGER_LOG_LEVEL", log_level),
    FLAG("--audit-interval-ms", "LEDGER_AUDIT_INTERVAL_MS", audit_interval_ms),
    FLAG("--gossip-probe-interval-ms", "LEDGER_GOSSIP_PROBE_INTERVAL_MS",
         gossip_probe_interval_ms),
    FLAG("--gossip-probe-timeout-ms", "LEDGER_GOSSIP_PROBE_TIMEOUT_MS",
         gossip_probe_timeout_ms),
    FLAG("--gossip-indirect-probes", "LEDGER_GOSSIP_INDIRECT_PROBES", gossip_indirect_probes),
    FLAG("--gossip-suspicion-mult", "LEDGER_GOSSIP_SUSPICION_MULT", gossip_suspicion_mult),
    FLAG("--metrics", "LEDGER_METRICS", metrics),
};
#undef FLAG

static const char **flag_slot(struct serve_flags *f, const struct flag_def *d)
{
    return (const char **)(void *)((char *)f + d->offset);
}

/* Split a comma-separated LEDGER_JOIN into f->join (the string is the environment's). */
static int env_join(struct serve_flags *f, char *copy)
{
    char *p = copy;
    while (*p != '\0') {
        char *comma = strchr(p, ',');
        if (comma != NULL) {
            *comma = '\0';
        }
        if (*p != '\0') {
            if (f->n_join == JOIN_MAX) {
                return lg_cmd_fail(LG_CMD_EXIT_USAGE, "LEDGER_JOIN: at most %u seeds",
                                   JOIN_MAX);
            }
            f->join[f->n_join++] = p;
        }
        if (comma == NULL) {
            break;
        }
        p = comma + 1;
    }
    return LG_CMD_EXIT_OK;
}

static int parse_flags(int argc, char **argv, struct serve_flags *f, char *join_env,
                       size_t join_env_size)
{
    memset(f, 0, sizeof *f);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            fputs(serve_usage, stdout);
            return -1;
        }
        if (i + 1 >= argc) {
            return lg_cmd_fail(LG_CMD_EXIT_USAGE, "serve: %s needs a value (see --help)", arg);
        }
        const char *value = argv[++i];
        if (strcmp(arg, "--join") == 0) {
            if (f->n_join == JOIN_MAX) {
                return lg_cmd_fail(LG_CMD_EXIT_USAGE, "serve: at most %u --join", JOIN_MAX);
            }
            f->join[f->n_join++] = value;
            continue;
        }
        bool known = false;
        for (size_t k = 0; k < sizeof flag_defs / sizeof flag_defs[0]; k++) {
            if (strcmp(arg, flag_defs[k].name) == 0) {
                const char **slot = flag_slot(f, &flag_defs[k]);
                if (*slot != NULL) {
                    return lg_cmd_fail(LG_CMD_EXIT_USAGE, "serve: %s given twice", arg);
                }
                *slot = value;
                known = true;
            }
        }
        if (!known) {
            return lg_cmd_fail(LG_CMD_EXIT_USAGE, "serve: unknown flag '%s' (see --help)", arg);
        }
    }
    for (size_t k = 0; k < sizeof flag_defs / sizeof flag_defs[0]; k++) {
        const char **slot = flag_slot(f, &flag_defs[k]);
        const char *env = getenv(flag_defs[k].env);
        if (*slot == NULL && env != NULL && env[0] != '\0') {
            *slot = env;
        }
    }
    const char *env = getenv("LEDGER_JOIN");
    if (f->n_join == 0 && env != NULL && env[0] != '\0') {
        int w = snprintf(join_env, join_env_size, "%s", env);
        if (w < 0 || (size_t)w >= join_env_size) {
            return lg_cmd_fail(LG_CMD_EXIT_USAGE, "LEDGER_JOIN too long");
        }
        int rc = env_join(f, join_env);
        if (rc != LG_CMD_EXIT_OK) {
            return rc;
        }
    }
    static const char *const required[] = {"--id", "--data", "--raft", "--client", "--gossip"};
    const char *const values[] = {f->id, f->data, f->raft, f->client, f->gossip};
    for (size_t k = 0; k < sizeof required / sizeof required[0]; k++) {
        if (values[k] == NULL) {
            return lg_cmd_fail(LG_CMD_EXIT_USAGE, "serve: %s is required (see --help)",
                               required[k]);
        }
    }
    return LG_CMD_EXIT_OK;
}

/* A decimal in [min, max]; name is for the message. */
static int parse_uint(const char *s, uint64_t min, uint64_t max, const char *name,
                      uint64_t *out)
{
    if (s == NULL) {
        *out = 0;
        return LG_CMD_EXIT_OK;
    }
    uint64_t v = 0;
    if (!lg_cmd_cli_u64(s, max, &v) || v < min) {
        return lg_cmd_fail(LG_CMD_EXIT_USAGE, "serve: %s must be an integer in %llu..%llu, "
                           "got '%s'", name, (unsigned long long)min, (unsigned long long)max,
                           s);
    }
    *out = v;
    return LG_CMD_EXIT_OK;
}

/* "1=host:port,2=host:port,..." into peers. */
static int parse_initial_cluster(const char *s, struct lg_node_peer *peers, uint32_t *n)
{
    *n = 0;
    const char *p = s;
    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (*n == LG_NODE_VOTERS_MAX || eq == NULL || eq == p) {
            return lg_cmd_fail(LG_CMD_EXIT_USAGE,
                               "serve: --initial-cluster must be ID=HOST:PORT,... with at most "
                               "%u members, got '%s'", LG_NODE_VOTERS_MAX, s);
        }
        char idbuf[24];
        size_t idlen = (size_t)(eq - p);
        size_t addrlen = len - idlen - 1u;
        if (idlen >= sizeof idbuf || addrlen == 0 || addrlen >= LG_RAFT_ADDRESS_BYTES_MAX) {
            return lg_cmd_fail(LG_CMD_EXIT_USAGE, "serve: --initial-cluster: bad member '%.*s'",
                               (int)len, p);
        }
        memcpy(idbuf, p, idlen);
        idbuf[idlen] = '\0';
        uint64_t id = 0;
        int rc = parse_uint(idbuf, 1, UINT64_MAX, "--initial-cluster id", &id);
        if (rc != LG_CMD_EXIT_OK) {
            return rc;
        }
        for (uint32_t i = 0; i < *n; i++) {
            if (peers[i].id == id) {
                return lg_cmd_fail(LG_CMD_EXIT_USAGE,
                                   "serve: --initial-cluster: id %llu given twice",
                                   (unsigned long long)id);
            }
        }
        peers[*n].id = id;
        memcpy(peers[*n].raft_address, eq + 1, addrlen);
        peers[*n].raft_address[addrlen] = '\0';
        (*n)++;
        p += len;
        if (*p == ',') {
            p++;
        }
    }
    if (*n != 1 && *n != 3 && *n != 5 && *n != 7) {
        return lg_cmd_fail(LG_CMD_EXIT_USAGE, "serve: --initial-cluster needs 1, 3, 5 or 7 "
                           "voters (an odd count), got %u", *n);
    }
    return LG_CMD_EXIT_OK;
}

static int parse_address(const char *s, const char *name)
{
    char host[LG_RAFT_ADDRESS_BYTES_MAX];
    char port[8];
    if (strlen(s) >= LG_RAFT_ADDRESS_BYTES_MAX ||
        lg_addr_split(s, host, sizeof host, port, sizeof port, 0, NULL) != 0) {
        return lg_cmd_fail(LG_CMD_EXIT_USAGE, "serve: %s must be HOST:PORT, got '%s'", name, s);
    }
    return LG_CMD_EXIT_OK;
}

/* The gossip address is announced to peers as given: a wildcard host (0.0.0.0, ::) would
 * make them send to themselves and declare this node dead. */
static int check_gossip_not_wildcard(const char *s)
{
    char host[LG_RAFT_ADDRESS_BYTES_MAX];
    char port[8];
    if (lg_addr_split(s, host, sizeof host, port, sizeof port, 0, NULL) != 0) {
        return parse_address(s, "--gossip");
    }
    struct in6_addr a6;
    struct in_addr a4;
    bool wildcard = (inet_pton(AF_INET, host, &a4) == 1 && a4.s_addr == htonl(INADDR_ANY)) ||
                    (inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_UNSPECIFIED(&a6));
    if (wildcard) {
        return lg_cmd_fail(LG_CMD_EXIT_USAGE, "serve: --gossip %s is a wildcard address, but "
                           "it is also announced to peers, which would send to themselves: "
                           "give the address peers reach this node at (e.g. 10.0.0.5:%s)",
                           s, port);
    }
    return LG_CMD_EXIT_OK;
}

/* DESIGN §9: the key file must not be readable by others. */
static int check_key_file(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        return lg_cmd_fail(LG_CMD_EXIT_USAGE, "serve: --key-file %s: %s", path, strerror(errno));
    }
    if ((sb.st_mode & 077) != 0) {
        return lg_cmd_fail(LG_CMD_EXIT_USAGE, "serve: --key-file %s is readable by others "
                           "(mode %03o): chmod 600 it", path, (unsigned)(sb.st_mode & 0777));
    }
    return LG_CMD_EXIT_OK;
}

/* DESIGN §9: the key is the file's bytes less one trailing newline (1..LG_GOSSIP_KEY_MAX). */
static int read_key_file(const char *path, uint8_t *key, size_t *key_len)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        return lg_cmd_fail(LG_CMD_EXIT_USAGE, "serve: --key-file %s: %s", path, strerror(errno));
    }
    uint8_t buf[LG_GOSSIP_KEY_MAX + 2];
    size_t n = fread(buf, 1, sizeof buf, fp);
    int err = ferror(fp);
    fclose(fp);
    if (err != 0) {
        return lg_cmd_fail(LG_CMD_EXIT_USAGE, "serve: --key-file %s: read error", path);
    }
    if (n > 0 && buf[n - 1] == '\n') {
        n--;
    }
    if (n == 0 || n > LG_GOSSIP_KEY_MAX) {
        OPENSSL_cleanse(buf, sizeof buf);
        return lg_cmd_fail(LG_CMD_EXIT_USAGE, "serve: --key-file %s: the key must be 1..%u "
                           "bytes", path, LG_GOSSIP_KEY_MAX);
    }
    memcpy(key, buf, n);
    *key_len = n;
    OPENSSL_cleanse(buf, sizeof buf);
    return LG_CMD_EXIT_OK;
}

/* ---- run -------------------------------------------------------------------------------- */

static void handle_closed(uv_handle_t *h)
{
    (void)h;
}

static void gossip_closed(struct lg_gossip *g, void *arg)
{
    (void)g;
    (void)arg;
}

static void server_closed(struct lg_server *s, void *arg)
{
    struct serve *sv = arg;
    (void)s;
    uv_close((uv_handle_t *)&sv->sigterm, handle_closed);
    uv_close((uv_handle_t *)&sv->sigint, handle_closed);
}

static void node_stopped(struct lg_node *n, void *arg)
{
    struct serve *sv = arg;
    (void)n;
    lg_server_close(sv->server, server_closed, sv);
}

static bool metrics_collect(void *arg, struct lg_buf *out)
{
    struct serve *sv = arg;
    return lg_metrics_node_page(sv->node, sv->server, sv->gossip, &sv->metrics, out) &&
           lg_audit_metrics(sv->audit, out);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct serve *sv = h->data;
    if (sv->stopping) {
        lg_log(LG_LOG_WARN, "signal_again", "signal=%d action=exit", signum);
        _exit(1);
    }
    sv->stopping = true;
    lg_log(LG_LOG_INFO, "signal", "signal=%d action=graceful_stop", signum);
    lg_audit_close(sv->audit);
    if (sv->metrics_http != NULL) {
        lg_metrics_http_close(sv->metrics_http);
        sv->metrics_http = NULL;
    }
    /* Leave gossip first: peers learn at once that this node is going (left, not dead). */
    if (sv->gossip != NULL) {
        lg_gossip_close(sv->gossip, true, gossip_closed, sv);
    }
    lg_server_stop_accepting(sv->server);
    lg_node_stop(sv->node, node_stopped, sv);
}

int lg_cmd_serve(int argc, char **argv)
{
    struct serve_flags f;
    char join_env[4096];
    int rc = parse_flags(argc, argv, &f, join_env, sizeof join_env);
    if (rc != LG_CMD_EXIT_OK) {
        return rc < 0 ? LG_CMD_EXIT_OK : rc;
    }
    lg_mem_tune(); /* before any thread: no heap trimming, heap grown ahead (lib/mem.h) */
    struct lg_node_config cfg;
    memset(&cfg, 0, sizeof cfg);
    struct lg_node_peer peers[LG_NODE_VOTERS_MAX];
    uint64_t v[4] = {0};
    uint64_t gv[4] = {0};
    if ((rc = parse_uint(f.id, 1, UINT64_MAX, "--id", &cfg.id)) != 0 ||
        (rc = parse_address(f.raft, "--raft")) != 0 ||
        (rc = parse_address(f.client, "--client")) != 0 ||
        (rc = parse_address(f.gossip, "--gossip")) != 0 ||
        (rc = check_gossip_not_wildcard(f.gossip)) != 0 ||
        (f.advertise_client != NULL &&
         (rc = parse_address(f.advertise_client, "--advertise-client")) != 0) ||
        (rc = parse_uint(f.election_timeout_ms, 10, 600000, "--election-timeout-ms",
                         &v[0])) != 0 ||
        (rc = parse_uint(f.heartbeat_timeout_ms, 1, 600000, "--heartbeat-timeout-ms",
                         &v[1])) != 0 ||
        (rc = parse_uint(f.snapshot_threshold, 2, UINT32_MAX, "--snapshot-threshold",
                         &v[2])) != 0 ||
        (rc = parse_uint(f.snapshot_trailing, 1, UINT32_MAX, "--snapshot-trailing",
                         &v[3])) != 0 ||
        (rc = parse_uint(f.gossip_probe_interval_ms, 2, 600000, "--gossip-probe-interval-ms",
                         &gv[0])) != 0 ||
        (rc = parse_uint(f.gossip_probe_timeout_ms, 1, 599999, "--gossip-probe-timeout-ms",
                         &gv[1])) != 0 ||
        (rc = parse_uint(f.gossip_indirect_probes, 1, 8, "--gossip-indirect-probes",
                         &gv[2])) != 0 ||
        (rc = parse_uint(f.gossip_suspicion_mult, 1, 1000, "--gossip-suspicion-mult",
                         &gv[3])) != 0) {
        return rc;
    }
    {
        uint64_t interval = gv[0] != 0 ? gv[0] : LG_GOSSIP_PROBE_INTERVAL_MS;
        uint64_t timeout = gv[1] != 0 ? gv[1] : LG_GOSSIP_PROBE_TIMEOUT_MS;
        if (timeout >= interval) {
            return lg_cmd_fail(LG_CMD_EXIT_USAGE, "serve: --gossip-probe-timeout-ms (%llu) "
                               "must be below the probe interval (%llu)",
                               (unsigned long long)timeout, (unsigned long long)interval);
        }
    }
    if (f.cluster != NULL) {
        size_t len = strlen(f.cluster);
        bool ok = len >= 1 && len <= LG_DISC_CLUSTER_MAX;
        for (size_t i = 0; ok && i < len; i++) {
            char c = f.cluster[i];
            ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-';
        }
        if (!ok) {
            return lg_cmd_fail(LG_CMD_EXIT_USAGE, "serve: --cluster must be 1..%u of "
                               "[A-Za-z0-9._-], got '%s'", LG_DISC_CLUSTER_MAX, f.cluster);
        }
    }
    for (unsigned i = 0; i < f.n_join; i++) {
        if ((rc = parse_address(f.join[i], "--join")) != 0) {
            return rc;
        }
    }
    /* Membership (docs/raft.md "Membership"): an even voter count adds no fault tolerance. */
    uint64_t voters = 0;
    uint64_t grace_ms = 0;
    if ((rc = parse_uint(f.voters, 1, LG_NODE_VOTERS_MAX, "--voters", &voters)) != 0 ||
        (rc = parse_uint(f.dead_voter_grace_ms, 1, 86400000, "--dead-voter-grace-ms",
                         &grace_ms)) != 0) {
        return rc;
    }
    if (voters != 0 && voters % 2u == 0) {
        return lg_cmd_fail(LG_CMD_EXIT_USAGE, "serve: --voters must be odd (1, 3, 5 or 7), "
                           "got %llu", (unsigned long long)voters);
    }
    if (f.initial_cluster != NULL &&
        (rc = parse_initial_cluster(f.initial_cluster, peers, &cfg.n_initial)) != 0) {
        return rc;
    }
    static uint8_t key[LG_GOSSIP_KEY_MAX];
    size_t key_len = 0;
    if (f.key_file != NULL && ((rc = check_key_file(f.key_file)) != 0 ||
                               (rc = read_key_file(f.key_file, key, &key_len)) != 0)) {
        return rc;
    }
    uint64_t audit_ms = LG_AUDIT_INTERVAL_MS;
    if (f.audit_interval_ms != NULL &&
        (rc = parse_uint(f.audit_interval_ms, 0, 86400000, "--audit-interval-ms",
                         &audit_ms)) != 0) {
        return rc;
    }
    int level = LG_LOG_INFO;
    if (f.log_level != NULL) {
        static const char *const levels[] = {"debug", "info", "warn", "error"};
        level = -1;
        for (int i = 0; i < 4; i++) {
            level = strcmp(f.log_level, levels[i]) == 0 ? i : level;
        }
        if (level < 0) {
            return lg_cmd_fail(LG_CMD_EXIT_USAGE, "serve: --log-level must be debug, info, "
                               "warn or error");
        }
    }
    cfg.data_dir = f.data;
    cfg.raft_address = f.raft;
    cfg.client_address = f.advertise_client != NULL ? f.advertise_client : f.client;
    cfg.initial = peers;
    cfg.election_timeout_ms = (unsigned)v[0];
    cfg.heartbeat_timeout_ms = (unsigned)v[1];
    cfg.snapshot_threshold = (unsigned)v[2];
    cfg.snapshot_trailing = (unsigned)v[3];
    cfg.voters_target = (unsigned)voters;
    cfg.dead_voter_grace_ms = (unsigned)grace_ms;
    cfg.cluster = f.cluster != NULL ? f.cluster : "ledger";
    cfg.gossip_authenticated = f.key_file != NULL;
    if (cfg.n_initial > 0) {
        bool self = false;
        for (uint32_t i = 0; i < cfg.n_initial; i++) {
            self = self || peers[i].id == cfg.id;
        }
        if (!self) {
            return lg_cmd_fail(LG_CMD_EXIT_USAGE, "serve: --initial-cluster does not name "
                               "--id %llu", (unsigned long long)cfg.id);
        }
    }
    lg_log_setup(cfg.id, level);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN); /* a file size limit is an I/O error, not a kill */

    static struct serve sv;
    memset(&sv, 0, sizeof sv);
    uv_loop_init(&sv.loop);
    /* Signals first: a SIGTERM during a long start (journal replay, raft_start loading the
     * log) is kept by libuv and handled once the loop runs, instead of killing the node
     * half-way. */
    uv_signal_init(&sv.loop, &sv.sigterm);
    uv_signal_init(&sv.loop, &sv.sigint);
    sv.sigterm.data = &sv;
    sv.sigint.data = &sv;
    uv_signal_start(&sv.sigterm, on_signal, SIGTERM);
    uv_signal_start(&sv.sigint, on_signal, SIGINT);
    char errmsg[LG_ERRMSG_SIZE];
    rc = lg_node_start(&sv.node, &sv.loop, &cfg, errmsg);
    if (rc != LG_OK) {
        uv_close((uv_handle_t *)&sv.sigterm, handle_closed);
        uv_close((uv_handle_t *)&sv.sigint, handle_closed);
        uv_run(&sv.loop, UV_RUN_DEFAULT);
        uv_loop_close(&sv.loop);
        return lg_cmd_fail(rc == LG_EINVAL ? LG_CMD_EXIT_USAGE : LG_CMD_EXIT_FAILED,
                           "serve: %s", errmsg);
    }
    /* Issue 8: the node's signing key (<data>/node.key) and the cross-replica audit. */
    struct lg_audit_config acfg = {(unsigned)audit_ms, 0};
    rc = lg_audit_key_open(f.data, &sv.key, errmsg);
    if (rc == LG_OK) {
        rc = lg_audit_start(&sv.audit, &sv.loop, sv.node, &acfg, errmsg);
    }
    if (rc != LG_OK) {
        uv_close((uv_handle_t *)&sv.sigterm, handle_closed);
        uv_close((uv_handle_t *)&sv.sigint, handle_closed);
        lg_audit_close(sv.audit);
        lg_node_stop(sv.node, NULL, NULL);
        uv_run(&sv.loop, UV_RUN_DEFAULT);
        lg_audit_free(sv.audit);
        lg_sign_key_close(sv.key);
        lg_node_free(sv.node);
        uv_loop_close(&sv.loop);
        return lg_cmd_fail(rc == LG_EINVAL ? LG_CMD_EXIT_USAGE : LG_CMD_EXIT_FAILED,
                           "serve: %s", errmsg);
    }
    /* Gossip (DESIGN §9): membership events drive the node's Raft configuration. */
    struct lg_gossip_config gcfg;
    memset(&gcfg, 0, sizeof gcfg);
    gcfg.id = cfg.id;
    gcfg.cluster = f.cluster;
    gcfg.bind = f.gossip;
    gcfg.advertise = f.gossip;
    gcfg.raft_address = f.raft;
    gcfg.client_address = cfg.client_address;
    gcfg.seeds = f.join;
    gcfg.n_seeds = f.n_join;
    gcfg.key = f.key_file != NULL ? key : NULL;
    gcfg.key_len = key_len;
    gcfg.probe_interval_ms = (unsigned)gv[0];
    gcfg.probe_timeout_ms = (unsigned)gv[1];
    gcfg.indirect_probes = (unsigned)gv[2];
    gcfg.suspicion_mult = (unsigned)gv[3];
    rc = lg_gossip_start(&sv.gossip, &sv.loop, &gcfg, errmsg);
    OPENSSL_cleanse(key, sizeof key);
    if (rc == LG_OK) {
        rc = lg_gossip_subscribe(sv.gossip, lg_node_disc_event, sv.node);
        LG_ASSERT(rc == LG_OK);
    }
    struct lg_server_config scfg;
    memset(&scfg, 0, sizeof scfg);
    scfg.bind = f.client;
    scfg.gossip = sv.gossip;
    scfg.key = sv.key;
    scfg.audit_stats = lg_audit_stats;
    scfg.audit_arg = sv.audit;
    scfg.metrics = &sv.metrics;
    if (rc == LG_OK) {
        rc = lg_server_start(&sv.server, &sv.loop, sv.node, &scfg, errmsg);
        if (rc != LG_OK) {
            lg_log(LG_LOG_ERROR, "client_listen_failed", "address=%s", f.client);
        }
    } else {
        lg_log(LG_LOG_ERROR, "gossip_start_failed", "address=%s", f.gossip);
    }
    if (rc != LG_OK) {
        uv_close((uv_handle_t *)&sv.sigterm, handle_closed);
        uv_close((uv_handle_t *)&sv.sigint, handle_closed);
        if (sv.gossip != NULL) {
            lg_gossip_close(sv.gossip, false, gossip_closed, &sv);
        }
        lg_audit_close(sv.audit);
        lg_node_stop(sv.node, NULL, NULL);
        uv_run(&sv.loop, UV_RUN_DEFAULT);
        lg_gossip_free(sv.gossip);
        lg_audit_free(sv.audit);
        lg_sign_key_close(sv.key);
        lg_node_free(sv.node);
        uv_loop_close(&sv.loop);
        return lg_cmd_fail(LG_CMD_EXIT_FAILED, "serve: %s", errmsg);
    }
    lg_log(LG_LOG_INFO, "client_listening", "address=%s port=%u", f.client,
           lg_server_port(sv.server));
    if (f.metrics != NULL) {
        rc = lg_metrics_http_start(&sv.metrics_http, &sv.loop, f.metrics, metrics_collect, &sv,
                                   errmsg);
        if (rc != LG_OK) { /* the node serves without its metrics page; say so loudly */
            char q[LG_ERRMSG_SIZE + 8];
            lg_log(LG_LOG_ERROR, "metrics_listen_failed", "address=%s msg=%s", f.metrics,
                   lg_log_quote(errmsg, q, sizeof q));
        } else {
            lg_log(LG_LOG_INFO, "metrics_listening", "address=%s", f.metrics);
        }
    }
    uv_run(&sv.loop, UV_RUN_DEFAULT);
    lg_server_free(sv.server);
    lg_gossip_free(sv.gossip);
    lg_audit_free(sv.audit);
    lg_sign_key_close(sv.key);
    lg_node_free(sv.node);
    int lrc = uv_loop_close(&sv.loop);
    lg_log(LG_LOG_INFO, "exit", "code=0 loop_close=%d", lrc);
    return LG_CMD_EXIT_OK;
}
