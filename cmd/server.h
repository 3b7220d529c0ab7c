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
 * unknown: retry with the same reference).
 *
 * Threading: the loop thread only. */
#ifndef LG_CMD_SERVER_H
#define LG_CMD_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "../raft/node.h"

#define LG_SERVER_CONNS_MAX 1024u
#define LG_SERVER_INFLIGHT_MAX 1024u
#define LG_SERVER_OUT_BYTES_MAX (64u * 1024u * 1024u)
#define LG_SERVER_WRITE_TIMEOUT_MS 10000u

struct lg_server_config {
    const char *bind;          /* "HOST:PORT" to listen on (the --client flag) */
    unsigned conns_max;        /* 0: default */
    unsigned inflight_max;     /* 0: default */
    size_t out_bytes_max;      /* 0: default */
    unsigned write_timeout_ms; /* 0: default */
};

struct lg_server; /* opaque */

/* Listen and serve. Returns LG_OK, LG_EINVAL (bad address), LG_EIO (cannot bind: errmsg
 * says why), LG_ENOMEM. */
int lg_server_start(struct lg_server **out, uv_loop_t *loop, struct lg_node *node,
                    const struct lg_server_config *cfg, char *errmsg);

/* Stop accepting new connections (existing ones keep being served). */
void lg_server_stop_accepting(struct lg_server *s);

/* Close every connection and the listener. Requests still waiting on the node are
 * detached: their node callbacks still run later and free them, and answer nobody; so
 * the node may be stopped after this. cb runs once every handle is closed. */
typedef void (*lg_server_close_cb)(struct lg_server *s, void *arg);
void lg_server_close(struct lg_server *s, lg_server_close_cb cb, void *arg);
void lg_server_free(struct lg_server *s);

/* The bound port (after start). */
unsigned lg_server_port(const struct lg_server *s);

#endif /* LG_CMD_SERVER_H */
