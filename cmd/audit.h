/* audit: the cross-replica audit of the verifiable ledger (issue 8; docs/protocol.md,
 * "Cross-replica audit"), and the node's signing key at serve start.
 *
 * Every interval_ms, the node asks each peer of its Raft configuration whose client
 * address it knows (lg_node_members: a follower knows the leader's, the leader every
 * follower's) for `digest {tree_size: S}` with S its own tree size (consistency stale: what
 * the peer holds, not what the cluster committed). A peer whose tree is shorter answers
 * not_found; it is then asked for its current digest and the comparison is made at its
 * size. Then the same peer is asked for its root at a random older size (the spot check:
 * a current root comes from the tree's in-memory frontier, an older one from the subtree
 * hashes stored on disk and at most one record). One older root reads only the ~log2(m)
 * stored hashes of m's decomposition, so the spot check samples stored history; it does
 * not cover it all (a damaged hash that only right-hand siblings in proofs use is never on
 * a root's fold). What covers every answer is the server's own check (cmd/server.c: each
 * digest, proof and consistency answer is checked against the current root before it is
 * sent, and refused `internal` if a stored hash is wrong); `ledger-node verify --data`
 * covers every stored hash offline. Each peer's signature over
 * its digest is checked, then its root is compared with this node's root at the same
 * size. Replicas hold byte-identical journals (DESIGN §1.7),
 * so any difference means one of the two trees or journals is damaged or was changed:
 * logged at error level (`event=audit_mismatch peer=ID tree_size=S local_root=..
 * peer_root=..`), counted, and shown by `status` (`audit`). A peer that cannot be asked,
 * or answers something that does not check, is counted in `errors` and logged at warn; a
 * peer that answers `unavailable` (filling a catch-up gap) is counted in `skipped` and
 * logged at info (when only its spot check was unavailable, its current root is still
 * compared);
 * this node failing to compute its own root (a damaged record) is logged at error level
 * (`event=audit_local_failed`) and counted in `errors`.
 *
 * The network calls never run on the event loop: one worker thread asks the peers with
 * the blocking client (lib/client.h, bounded by timeout_ms per call) and posts the answers
 * back with uv_async; the roots are read and compared on the loop thread (the tree is the
 * loop's). One round at a time: a round still running when the timer fires again is not
 * doubled.
 *
 * Lifetime: lg_audit_start (loop thread, after the node started); lg_audit_close (loop
 * thread, before or while the node stops: no more rounds, handles closing); run the loop
 * until its handles are closed; lg_audit_free (joins the worker: at most one peer call,
 * ~2 * timeout_ms, is waited for). */
#ifndef LG_CMD_AUDIT_H
#define LG_CMD_AUDIT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "../lib/buf.h"
#include "../lib/proto.h"
#include "../lib/sign.h"
#include "../raft/node.h"

/* Default time between two rounds. */
#define LG_AUDIT_INTERVAL_MS 30000u
/* Bound of one connect and of one answer from a peer. */
#define LG_AUDIT_TIMEOUT_MS 2000u
/* Peers asked per round (the Raft configuration as lg_node_members gives it). */
#define LG_AUDIT_PEERS_MAX LG_PROTO_MEMBERS_MAX

struct lg_audit_config {
    unsigned interval_ms; /* 0: the audit is off (no thread, status shows interval_ms 0) */
    unsigned timeout_ms;  /* 0: LG_AUDIT_TIMEOUT_MS */
};

struct lg_audit; /* opaque */

/* Start the audit over node (borrowed: it must outlive lg_audit_close). Returns LG_OK, or
 * LG_ENOMEM / LG_EIO (a thread or handle could not be created; errmsg says which). */
int lg_audit_start(struct lg_audit **out, uv_loop_t *loop, struct lg_node *node,
                   const struct lg_audit_config *cfg, char *errmsg);

/* Stop rounds and close the handles (loop thread). Answers of a round in flight are
 * dropped. NULL is a no-op. Call once. */
void lg_audit_close(struct lg_audit *a);

/* Join the worker and free (after the loop ran the close callbacks). NULL is a no-op. */
void lg_audit_free(struct lg_audit *a);

/* The counters for status (loop thread). Matches lg_server_audit_fn (arg: the audit). */
void lg_audit_stats(void *audit, struct lg_proto_audit *out);

/* Append the audit's counters to a Prometheus page (docs/metrics.md):
 * ledger_audit_checks_total, ledger_audit_mismatches_total, ledger_audit_errors_total,
 * ledger_audit_skipped_total.
 * Returns false when out could not grow. */
bool lg_audit_metrics(const struct lg_audit *a, struct lg_buf *out);

/* The node's signing key, <data_dir>/node.key (lib/sign.h), generated on first start;
 * logged once (event=node_key, with the public key in hex and whether it was created).
 * Returns lg_sign_key_open's codes; errmsg says why. */
int lg_audit_key_open(const char *data_dir, struct lg_sign_key **out, char *errmsg);

#endif /* LG_CMD_AUDIT_H */
