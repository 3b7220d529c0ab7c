/* harness: real `ledger-node serve` processes on loopback for the cluster suite (DESIGN §12).
 *
 * A cluster is N (3 or 5) nodes started from the binary named by $LG_LEDGER_NODE, each with
 * free ports (drawn below the ephemeral port range and checked by binding them: see
 * free_port in harness.c), its own data directory under one temporary
 * directory, the same --initial-cluster (Raft addresses as `localhost:PORT`, so host names
 * are resolved by the node's transport; client addresses as `127.0.0.1:PORT`) and short
 * Raft timeouts. A node's stdout and stderr go to `<dir>/node-<id>.log`; every start
 * appends a marker line, so a test can search the lines of the current run only.
 *
 * Failure reporting: Criterion with --tap sends the workers' stderr to /dev/null, so a
 * failure message carries what is needed to debug it: LGT_CHECK builds the message, adds
 * the tail of every node's log and the kept directory, and fails the test. The directory
 * is removed only when the test called lgt_cluster_pass() (and LG_TEST_KEEP is unset or
 * "0"); otherwise it is kept and, after a failure, `<dir>/FAILURE.txt` holds the message.
 *
 * No process survives a test: children get PR_SET_PDEATHSIG(SIGKILL) (they die with the
 * Criterion worker, even when it is killed on timeout), lgt_cluster_fini (the tests'
 * .fini) SIGKILLs and reaps every node, and an atexit handler and fatal-signal handlers
 * kill whatever is left. Every wait is bounded in time and polls with short sleeps.
 *
 * Threading: the harness is driven from the test's main thread; the node addresses
 * (lgt_node_client_address) may be read from other threads while the cluster lives. */
#ifndef LGT_CLUSTER_HARNESS_H
#define LGT_CLUSTER_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "client.h"
#include "lgt.h"
#include "proto.h"

/* 5 initial nodes, plus nodes added later with --join (lgt_cluster_add_joiner). */
#define LGT_CLUSTER_NODES_MAX 7u
#define LGT_ADDRESS_BYTES 64u
/* Bounds of the harness's waits (ms). */
#define LGT_READY_TIMEOUT_MS 10000u
#define LGT_LEADER_TIMEOUT_MS 10000u
#define LGT_EXIT_TIMEOUT_MS 10000u
#define LGT_CONVERGE_TIMEOUT_MS 30000u
#define LGT_POLL_MS 20u
/* One status request: connect and answer bounds (ms). */
#define LGT_STATUS_CONNECT_MS 500u
#define LGT_STATUS_TIMEOUT_MS 2000u
/* Log lines per node in a failure message. */
#define LGT_LOG_TAIL_LINES 20u
#define LGT_ENV_BYTES 128u

struct lgt_cluster_options {
    unsigned n_nodes;              /* 3 or 5 */
    unsigned election_timeout_ms;  /* 0: 300 */
    unsigned heartbeat_timeout_ms; /* 0: 50 */
    unsigned snapshot_threshold;   /* 0: the node's default */
    unsigned snapshot_trailing;    /* 0: the node's default */
    const char *log_level;         /* NULL: "info" */
    unsigned voters;               /* --voters; 0: not passed (the node's default, 3) */
    unsigned dead_voter_grace_ms;  /* --dead-voter-grace-ms; 0: not passed (30000) */
    bool gossip_isolated;          /* initial nodes get no --join (by default each gets
                                      --join with the other initial nodes' gossip
                                      addresses, as dev and the StatefulSet do) */
    const char *key_file;          /* --key-file for every node (mode 0600); NULL: none */
};

/* One node as the harness sees it. Index i in the cluster has Raft id i + 1. */
struct lgt_node {
    uint64_t id;
    char raft_address[LGT_ADDRESS_BYTES];   /* "localhost:PORT" */
    char client_address[LGT_ADDRESS_BYTES]; /* "127.0.0.1:PORT" */
    char gossip_address[LGT_ADDRESS_BYTES]; /* "127.0.0.1:PORT" */
    char data_dir[LGT_PATH_MAX];
    char log_path[LGT_PATH_MAX];
    char env[LGT_ENV_BYTES]; /* "NAME=VALUE" added to the node's environment; "" none */
    pid_t pid;               /* 0: not running (never started, or reaped) */
    bool stopped;            /* SIGSTOP sent and no SIGCONT since */
    int wait_status;         /* waitpid status of the last exit; -1 none yet */
    unsigned starts;         /* how many times it was started */
    uint64_t log_offset;     /* log file size when the current run started */
    bool joiner; /* started with --join (the initial nodes' gossip addresses) and no
                  * --initial-cluster: the leader adds it (lgt_cluster_add_joiner) */
};

struct lgt_cluster {
    struct lgt_cluster_options o;
    char dir[LGT_PATH_MAX];
    char binary[LGT_PATH_MAX];
    char initial_cluster[LGT_CLUSTER_NODES_MAX * (LGT_ADDRESS_BYTES + 24u)];
    struct lgt_node nodes[LGT_CLUSTER_NODES_MAX];
    bool passed;
    bool failure_written;
    char note[128]; /* printed first in a failure report (e.g. the test's seed) */
};

/* A node's status (DESIGN §8), copied out of the response. */
struct lgt_status {
    uint64_t node_id;
    int role; /* enum lg_proto_role */
    uint64_t leader_id;
    char leader_client[LG_CLIENT_ADDRESS_BYTES_MAX + 1u];
    uint64_t term;
    uint64_t commit_index;
    uint64_t applied_index;
    uint64_t journal_seq;
    uint8_t chain_head[LG_PROTO_HASH_BYTES];
};

/* Fail the test unless cond: the message (printf) is followed by every node's log tail. */
#define LGT_CHECK(c, cond, ...)                                                            \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            lgt_cluster_fail((c), __FILE__, __LINE__, #cond, __VA_ARGS__);                 \
        }                                                                                  \
    } while (0)

/* Create the cluster's directory, ports and flags (no process yet) and make it the one
 * lgt_cluster_fini cleans up. One cluster per test. */
struct lgt_cluster *lgt_cluster_new(const struct lgt_cluster_options *o);

/* .fini of every cluster test: SIGKILL and reap every node; remove the directory when the
 * test passed, else keep it (and print the log tails to stderr). */
void lgt_cluster_fini(void);

/* A line for the failure report (printf), e.g. "LG_TEST_SEED=123". */
void lgt_cluster_note(struct lgt_cluster *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The test reached its end: fails it if a node's log holds a failed assertion or a
 * sanitizer report; otherwise its directory may be removed. */
void lgt_cluster_pass(struct lgt_cluster *c);

/* Fail the test with a message, the log tails and the kept directory. Does not return. */
_Noreturn void lgt_cluster_fail(struct lgt_cluster *c, const char *file, int line,
                                const char *cond, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Start every node, then wait (LGT_READY_TIMEOUT_MS) until each answers status. On a
 * first start, a node that could not bind a port (taken since it was checked) makes the
 * harness start over with new ports and empty data directories (at most 3 attempts). */
void lgt_cluster_start(struct lgt_cluster *c);

/* The same for the listed nodes only (idx NULL: every node); the others stay down. */
void lgt_cluster_start_some(struct lgt_cluster *c, const unsigned *idx, unsigned n);

/* Add a node to the cluster (index returned; Raft id index + 1) with fresh ports and an
 * empty data directory, started (by lgt_node_start) with --join naming the gossip
 * addresses of the initial nodes and no --initial-cluster, as an operator adds a machine
 * to a running cluster. Not started here. At most LGT_CLUSTER_NODES_MAX nodes in all. */
unsigned lgt_cluster_add_joiner(struct lgt_cluster *c);

/* Spawn node i with its flags (the same at every start; a restarted node ignores
 * --initial-cluster). Does not wait. */
void lgt_node_start(struct lgt_cluster *c, unsigned i);

/* Wait until node i answers status (bounded); fails the test if it exits meanwhile. */
void lgt_node_wait_ready(struct lgt_cluster *c, unsigned i, unsigned timeout_ms);

/* An extra environment variable for node i's next starts ("NAME=VALUE", or NULL: none). */
void lgt_node_set_env(struct lgt_cluster *c, unsigned i, const char *name_value);

/* Send sig to node i (which must be running). SIGSTOP/SIGCONT update node.stopped. */
void lgt_node_signal(struct lgt_cluster *c, unsigned i, int sig);

/* Wait (bounded) for node i to exit and reap it. Returns true with *status (waitpid's) when
 * it exited in time; false when it is still running. */
bool lgt_node_wait_exit(struct lgt_cluster *c, unsigned i, unsigned timeout_ms, int *status);

/* Has node i exited on its own? Reaps it if so (non-blocking). */
bool lgt_node_exited(struct lgt_cluster *c, unsigned i, int *status);

/* SIGKILL node i and reap it (bounded); fails the test if it does not die. */
void lgt_node_kill(struct lgt_cluster *c, unsigned i);

/* Is node i running (started, not reaped)? */
bool lgt_node_running(const struct lgt_cluster *c, unsigned i);

/* "exited with 0", "killed by signal 9", ... into buf. Returns buf. */
const char *lgt_wait_status_text(int status, char *buf, size_t size);

/* Ask node i for its status (one connection, bounded by LGT_STATUS_* ). Returns LG_OK, a
 * transport code, or the server's error code (errmsg says which). */
int lgt_node_status(struct lgt_cluster *c, unsigned i, struct lgt_status *out, char *errmsg);

/* Wait (bounded) until exactly one running node reports role leader and every other
 * running node names it as leader_id (here and below, SIGSTOPped nodes are left out).
 * Returns its index. */
unsigned lgt_cluster_leader(struct lgt_cluster *c, unsigned timeout_ms);

/* Wait (bounded) until: a leader is known, its commit_index >= min_index, and every
 * running node reports applied_index == that commit_index and the same journal_seq and
 * chain_head. *out (may be NULL) gets the leader's status. */
void lgt_cluster_wait_converged(struct lgt_cluster *c, uint64_t min_index, unsigned timeout_ms,
                                struct lgt_status *out);

/* Does node i's log contain needle (since its current run started when this_run)? */
bool lgt_node_log_contains(const struct lgt_cluster *c, unsigned i, const char *needle,
                           bool this_run);

/* A client over the listed nodes (idx NULL: every node, running or not), with a per-attempt
 * timeout and attempts bound (0: defaults). Fails the test if it cannot be created. */
struct lg_client *lgt_cluster_client(struct lgt_cluster *c, const unsigned *idx, unsigned n,
                                     unsigned request_timeout_ms, uint32_t attempts_max);

/* A connection to node i with request timeout_ms. Fails the test if it cannot connect. */
struct lg_conn *lgt_node_conn(struct lgt_cluster *c, unsigned i, unsigned timeout_ms);

/* ---- requests ---- */

/* A view of a NUL-terminated string. */
struct lg_str lgt_str(const char *s);
bool lgt_str_is(struct lg_str s, const char *z);

/* One-posting submit: source -> destination, amount of asset, optional reference and one
 * metadata pair (meta_key NULL: none). posting and kv must outlive req. */
struct lgt_transfer {
    const char *ledger;
    const char *source;
    const char *destination;
    uint64_t amount;
    const char *asset;
    const char *reference; /* NULL: none */
    const char *meta_key;  /* NULL: none */
    const char *meta_value;
};
void lgt_req_submit(struct lg_proto_request *req, struct lg_posting *posting, struct lg_kv *kv,
                    const struct lgt_transfer *t);

/* get_tx by tx_id, or by reference (reference != NULL). */
void lgt_req_get_tx(struct lg_proto_request *req, const char *ledger, uint64_t tx_id,
                    const char *reference, uint8_t consistency, uint64_t after_index);

/* balances of one address (asset NULL: every asset). */
void lgt_req_balances(struct lg_proto_request *req, const char *ledger, const char *address,
                      const char *asset, uint8_t consistency, uint64_t after_index);

/* list_txs of a ledger, ascending, one page of limit from cursor (NULL: first page). */
void lgt_req_list_txs(struct lg_proto_request *req, const char *ledger, uint32_t limit,
                      struct lg_str cursor, uint8_t consistency);

/* A balance from a balances response: the account's balance of asset; false if absent. */
bool lgt_balance_of(const struct lg_proto_response *resp, const char *address,
                    const char *asset, lg_i128 *out);

/* Submit t through cl; fails the test unless it is acknowledged. *out gets the result. */
void lgt_submit_ok(struct lgt_cluster *c, struct lg_client *cl, const struct lgt_transfer *t,
                   struct lg_proto_tx_result *out);

/* A committed transaction as listed (single-posting transactions only). */
#define LGT_REFERENCE_BYTES 64u
#define LGT_NAME_BYTES 64u
struct lgt_tx {
    uint64_t tx_id;
    uint64_t seq;
    uint64_t index;
    uint8_t hash[LG_PROTO_HASH_BYTES];
    char reference[LGT_REFERENCE_BYTES]; /* "" when none */
    char source[LGT_NAME_BYTES];
    char destination[LGT_NAME_BYTES];
    char asset[LGT_NAME_BYTES];
    lg_u128 amount;
    uint32_t n_metadata;
    uint32_t meta_value_len; /* of the first metadata value */
};

/* Every transaction of ledger on node i (list_txs pages, consistency stale, bounded), in
 * tx_id order, into a malloc'd array (*out, free it). Returns the count. Fails the test on
 * an error, a page out of order, or a transaction with other than one posting. */
size_t lgt_list_all(struct lgt_cluster *c, unsigned i, const char *ledger, struct lgt_tx **out);

/* Copy a transaction from a get_tx/list_txs response (single posting checked). */
void lgt_tx_copy(struct lgt_cluster *c, const struct lg_proto_tx *src, struct lgt_tx *dst);

/* Lowercase hex of a 32-byte hash (65 bytes with the NUL). Returns out. */
const char *lgt_hex(const uint8_t *hash, char out[2u * LG_PROTO_HASH_BYTES + 1u]);

/* Monotonic milliseconds, and a sleep. */
uint64_t lgt_now_ms(void);
void lgt_sleep_ms(unsigned ms);

#endif /* LGT_CLUSTER_HARNESS_H */
