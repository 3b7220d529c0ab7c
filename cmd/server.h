/* server: the node's client TCP server (DESIGN §8) over one lg_node.
 *
 * Accepts connections on the client address; per connection an incremental frame decoder
 * (lib/frame.h), requests decoded by lib/proto.h and executed against the node
 * (raft/node.h): writes go through lg_node_submit, reads through lg_node_read at the
 * requested consistency, then answer from the FSM. Requests are pipelined: every request
 * is executed as it arrives and answered when done (responses may be out of order,
 * matched by id). Bad input is answered with its error code and a message naming the
 * field; a bad frame (empty, over 16 MiB) is answered and the connection closed; the
 * node keeps serving everyone else.
 *
 * Bounds: at most conns_max connections (more are accepted and closed at once, logged),
 * at most inflight_max requests in progress per connection (reading pauses until answers
 * go out), at most out_bytes_max bytes of unwritten responses per connection (past it the
 * connection is closed and the reason logged: a client that does not read cannot stall
 * the node), writes answered `timeout` after write_timeout_ms (the outcome is then
 * unknown: retry with the same reference). Input a client controls is bounded too: a frame
 * started and not completed within frame_timeout_ms ends the connection, so does
 * idle_timeout_ms without a request, and the input held over all connections (split
 * frames being gathered and requests in progress) is kept near total_in_bytes_max by
 * pausing reading.
 *
 * Threading: the loop thread only. */
#ifndef LG_CMD_SERVER_H
#define LG_CMD_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct lg_metrics;

#include "../raft/node.h"

#define LG_SERVER_CONNS_MAX 1024u
#define LG_SERVER_INFLIGHT_MAX 1024u
#define LG_SERVER_OUT_BYTES_MAX (64u * 1024u * 1024u)
#define LG_SERVER_WRITE_TIMEOUT_MS 10000u
/* Memory of the requests in progress on one connection (frame copies and decoded arrays)
 * above which reading pauses, like inflight_max: with 16 MiB frames, request count alone
 * does not bound memory. One request is always admitted, however big. */
#define LG_SERVER_IN_BYTES_MAX (64u * 1024u * 1024u)
/* After a bad frame is answered and the write side shut down, how long the connection
 * waits for the client to close before closing itself (closing with unread input sends a
 * reset, which can destroy the answer before the client reads it). Also the bound of
 * lg_server_close: answers already encoded are written, FIN sent and input discarded for
 * at most this long. */
#define LG_SERVER_LINGER_MS 1000u
/* A frame whose first bytes arrived this long ago and that is still incomplete (while the
 * server was willing to read it) ends its connection: a client cannot pin a 16 MiB
 * split-frame buffer by sending a header and stopping. Long enough for a 16 MiB frame
 * over a slow link (13 Mbit/s). */
#define LG_SERVER_FRAME_TIMEOUT_MS 10000u
/* A connection with no request in progress, nothing to write and no partial frame for
 * this long is closed (FIN: an orderly end of stream for the client). */
#define LG_SERVER_IDLE_TIMEOUT_MS 300000u
/* Bytes of input held over all connections (split-frame buffers of the frame decoders,
 * plus the frame copies and decoded arrays of requests in progress) above which
 * connections that would take more stop being read until it drops back: with 1024
 * connections of 16 MiB frames the per-connection bounds alone allow 80 GiB. */
#define LG_SERVER_TOTAL_IN_BYTES_MAX (512u * 1024u * 1024u)

struct lg_gossip; /* discovery/gossip.h */

struct lg_sign_key; /* lib/sign.h */
struct lg_proto_audit; /* lib/proto.h */

/* The cross-replica audit's counters for status (cmd/audit.h's lg_audit_stats). */
typedef void (*lg_server_audit_fn)(void *arg, struct lg_proto_audit *out);

struct lg_server_config {
    const char *bind;          /* "HOST:PORT" or "[V6]:PORT" to listen on (the --client
                                  flag); port 0: any free port (lg_server_port) */
    unsigned conns_max;        /* 0: default */
    unsigned inflight_max;     /* 0: default */
    size_t out_bytes_max;      /* 0: default; at most 1 GiB. A single response bigger than
                                  this closes its connection too. */
    unsigned write_timeout_ms; /* 0: default */
    size_t in_bytes_max;       /* 0: default; at most 1 GiB */
    unsigned frame_timeout_ms; /* 0: default */
    unsigned idle_timeout_ms;  /* 0: default */
    size_t total_in_bytes_max; /* 0: default */
    const struct lg_sign_key *key; /* the node's key (lib/sign.h): signs digests, shown by
                                      status; NULL: digest and proof answer unavailable.
                                      Borrowed, must outlive the server */
    lg_server_audit_fn audit_stats; /* NULL: status has no audit map */
    void *audit_arg;
    struct lg_gossip *gossip;  /* NULL: no gossip (members and status show none); borrowed,
                                  must outlive the server */
    struct lg_metrics *metrics; /* NULL: none; else requests and transaction outcomes are
                                   counted in it (lib/metrics.h); borrowed */
};

/* Counters since start (tests, status pages). */
struct lg_server_stats {
    unsigned conns;            /* open now */
    uint64_t accepted;         /* connections served */
    uint64_t refused;          /* accepted and closed at once: over conns_max */
    uint64_t requests;         /* frames received */
    uint64_t bad_frames;       /* empty or oversized frames (connection then closed) */
    uint64_t closed_out_bytes; /* connections closed over out_bytes_max */
    uint64_t frame_timeouts;   /* connections ended over frame_timeout_ms */
    uint64_t idle_timeouts;    /* connections ended over idle_timeout_ms */
    uint64_t budget_pauses;    /* times a connection stopped being read: total_in_bytes_max */
    size_t in_bytes;           /* input held now (what total_in_bytes_max bounds) */
    uint64_t merkle_damaged;   /* digest/proof/consistency answers refused because a stored
                                  Merkle hash failed the check against the current root */
};

struct lg_server; /* opaque */

/* Listen and serve. The address is resolved with getaddrinfo (IPv4/IPv6, first that
 * binds), backlog 511, TCP_NODELAY on every connection. node is borrowed: it must outlive
 * the server's connections (see lg_server_close). Returns LG_OK, LG_EINVAL (bad address or
 * bound), LG_EIO (cannot bind: errmsg says why), LG_ENOMEM. On failure *out is NULL; if
 * libuv handles had been initialised they are closing and their memory is released by the
 * loop's next turn (run the loop before uv_loop_close). */
int lg_server_start(struct lg_server **out, uv_loop_t *loop, struct lg_node *node,
                    const struct lg_server_config *cfg, char *errmsg);

/* Stop accepting new connections (existing ones keep being served). */
void lg_server_stop_accepting(struct lg_server *s);

/* Close every connection and the listener, gracefully: no more requests are read; requests
 * still waiting on the node are detached (their node callbacks still run later and free
 * them, and answer nobody; so the node may be stopped after this, and must be before
 * lg_node_free: a detached request is freed only by its callback); answers already encoded
 * are written, then the write side is shut down (FIN) and input is discarded until the
 * client closes, so a client never gets a reset that destroys answers it has not read.
 * All of it bounded: a connection still open LG_SERVER_LINGER_MS after this call is closed.
 * cb runs once every handle is closed, from a close callback (never inside this call);
 * then lg_server_free. Call once. */
typedef void (*lg_server_close_cb)(struct lg_server *s, void *arg);
void lg_server_close(struct lg_server *s, lg_server_close_cb cb, void *arg);
void lg_server_free(struct lg_server *s);

/* The bound port (after start). */
unsigned lg_server_port(const struct lg_server *s);

void lg_server_stats(const struct lg_server *s, struct lg_server_stats *out);

#endif /* LG_CMD_SERVER_H */
