/* transport: the node's struct raft_uv_transport over TCP, resolving host names per connect.
 *
 * libraft 0.15.0's stock transport (raft_uv_tcp_init) accepts IPv4 literals only; in
 * Kubernetes pod IPs change while `pod-N.service` names do not (DESIGN §7). This one:
 * - connect(id, "HOST:PORT"): resolves HOST with uv_getaddrinfo at EVERY connect (no
 *   cache), IPv4 and IPv6, tries the addresses in order, writes our handshake, and gives
 *   libraft the stream; one timer bounds resolve + connect + handshake. Failure: the
 *   callback gets RAFT_NOCONNECTION; transport close: RAFT_CANCELED.
 * - listen(accept_cb): binds the node's address (or the bind address, a name or
 *   "0.0.0.0:PORT"), reads the handshake with strict bounds and a timeout, never more
 *   bytes than the handshake, then hands (id, address, stream) to libraft.
 * - close(cb): cancels pending resolutions, connects and handshakes, closes every handle
 *   through uv_close callbacks, then calls cb.
 * Handshake format: docs/transport.md. TLS will go between TCP connect and the handshake
 * (both sides); nothing of it is code yet.
 *
 * Errors: the raft_uv_transport function pointers return RAFT_* codes because libraft
 * reads them (with detail in t->errmsg); the lg_raft_transport_* functions return LG_*.
 *
 * Ownership: streams handed to libraft are uv_tcp_t allocated with raft_malloc on their
 * own (libraft uv_close()s them and frees them with raft_free). Every other handle lives
 * in a heap object freed only in its close callback.
 *
 * Threading: the loop thread only. */
#ifndef LG_RAFT_TRANSPORT_H
#define LG_RAFT_TRANSPORT_H

#include <raft.h>
#include <raft/uv.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "../lib/addr.h"

/* Longest "HOST:PORT" string including its NUL (lib/addr.h parses them). */
#define LG_RAFT_ADDRESS_BYTES_MAX LG_ADDR_BYTES_MAX

/* Handshake: fixed 24-byte header, then the sender's raft address and its client address
 * (docs/transport.md). */
#define LG_RAFT_HANDSHAKE_HEADER_BYTES 24u
#define LG_RAFT_HANDSHAKE_BYTES_MAX \
    (LG_RAFT_HANDSHAKE_HEADER_BYTES + 2u * LG_RAFT_ADDRESS_BYTES_MAX)
#define LG_RAFT_HANDSHAKE_VERSION 2u
/* Peers whose announced client address is remembered (lg_raft_transport_peer_client). */
#define LG_RAFT_PEERS_MAX 16u

/* Defaults: a connect attempt (resolve + TCP connect + handshake write) and an incoming
 * handshake are abandoned after these; at most INCOMING_MAX handshakes are read at once
 * (further connections are accepted and closed at once, bounding memory). */
#define LG_RAFT_CONNECT_TIMEOUT_MS 3000u
#define LG_RAFT_HANDSHAKE_TIMEOUT_MS 3000u
#define LG_RAFT_INCOMING_MAX 64u
#define LG_RAFT_LISTEN_BACKLOG 64

/* Test seam: rewrite HOST before it is resolved (write a NUL-terminated name into
 * out[0..out_size) and return 0; non-zero fails the connect). Used to simulate a peer
 * whose name resolves to a different IP between connects. */
typedef int (*lg_raft_transport_resolve_hook)(void *arg, const char *host, char *out,
                                              size_t out_size);

/* Fill t with this transport (function pointers and impl). t->data is libraft's. Returns
 * LG_OK or LG_ENOMEM. Pair with lg_raft_transport_close. */
int lg_raft_transport_init(struct raft_uv_transport *t, uv_loop_t *loop);

/* Release the memory of t: after t->close's callback has run, or when t->init was never
 * called (raft_uv_init/raft_init failed early). Asserts no handle is still open. */
void lg_raft_transport_close(struct raft_uv_transport *t);

/* Listen on address ("HOST:PORT", a name, "0.0.0.0:PORT" or "[::]:PORT") instead of the
 * node's own address. Before listen. LG_OK or LG_EINVAL (malformed or too long). */
int lg_raft_transport_set_bind_address(struct raft_uv_transport *t, const char *address);

/* Override the connect and incoming-handshake timeouts (both > 0). */
void lg_raft_transport_set_timeouts(struct raft_uv_transport *t, unsigned connect_timeout_ms,
                                    unsigned handshake_timeout_ms);

/* Install (or clear with NULL) the resolve test seam. */
void lg_raft_transport_set_resolve_hook(struct raft_uv_transport *t,
                                        lg_raft_transport_resolve_hook hook, void *arg);

/* How many name resolutions connect has started since init (one per connect). */
uint64_t lg_raft_transport_resolve_count(const struct raft_uv_transport *t);

/* The bound port after a successful listen (0 before). */
unsigned lg_raft_transport_port(const struct raft_uv_transport *t);

/* Encode the handshake of (id, address, client_address) into out[0..cap). client_address
 * may be "" (none). Returns the byte count, or 0 when id is 0, the address is empty, an
 * address is too long, or cap is too small. */
size_t lg_raft_transport_encode_handshake(raft_id id, const char *address,
                                          const char *client_address, uint8_t *out,
                                          size_t cap);

/* The client address ("HOST:PORT") this node announces in its handshakes, so that peers
 * can name it in `not_leader` answers. Before connects. LG_OK or LG_EINVAL (too long or
 * not printable). */
int lg_raft_transport_set_client_address(struct raft_uv_transport *t, const char *address);

/* Copy into out (size >= LG_RAFT_ADDRESS_BYTES_MAX) the client address that peer id
 * announced in its last handshake to us. False (out "") when unknown. */
bool lg_raft_transport_peer_client(const struct raft_uv_transport *t, raft_id id, char *out,
                                   size_t size);

#endif /* LG_RAFT_TRANSPORT_H */
