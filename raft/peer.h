/* peer: the follower's asynchronous read_index client (DESIGN §4, linearizable reads).
 *
 * A follower serving a linearizable read asks the leader, over the leader's client port,
 * for an index the leader has confirmed with a Raft barrier (op read_index,
 * docs/protocol.md); the follower then waits until its applied index reaches it. One TCP
 * connection to the current leader's client address, re-made when the leader changes;
 * host names resolved at every connect. Requests are tagged by the caller (one request
 * serves every read that arrived before it was sent).
 *
 * Every lg_peer_read_index() is answered exactly once through the callback, never from
 * inside the call except when LG_PEER_INFLIGHT_MAX requests are already in flight (then
 * LG_EUNAVAIL at once): status LG_OK with the index, LG_ENOTLEADER (the node asked is not the
 * leader), LG_EUNAVAIL (connect/resolve failed, connection lost, bad response, too many in
 * flight), LG_ETIMEOUT (no answer within the timeout), LG_ESHUTDOWN (closed).
 * Threading: the loop thread only. */
#ifndef LG_RAFT_PEER_H
#define LG_RAFT_PEER_H

#include <stdint.h>
#include <uv.h>

#define LG_PEER_TIMEOUT_MS 5000u
#define LG_PEER_INFLIGHT_MAX 64u

typedef void (*lg_peer_cb)(void *arg, uint64_t tag, int status, uint64_t index,
                           const char *msg);

struct lg_peer; /* opaque */

/* LG_OK or LG_ENOMEM. */
int lg_peer_init(struct lg_peer **out, uv_loop_t *loop, lg_peer_cb cb, void *arg);

/* Ask address ("HOST:PORT") for a read index, tagged tag. */
void lg_peer_read_index(struct lg_peer *p, const char *address, uint64_t tag);

/* Fail every request in flight with LG_ESHUTDOWN (callbacks run inside this call), close
 * the handles and free p once they are closed. p is unusable after the call. */
void lg_peer_close(struct lg_peer *p);

#endif /* LG_RAFT_PEER_H */
