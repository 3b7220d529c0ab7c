/* client: a blocking client of the node's TCP protocol (DESIGN §8), for the CLI, tests,
 * benchmarks, and the node's own journal catch-up.
 *
 * Two layers:
 * - lg_conn: one TCP connection to one "HOST:PORT" (host names resolved with getaddrinfo,
 *   IPv4/IPv6), with timeouts on connect, write and read (poll(2), never an unbounded
 *   wait). Requests may be pipelined: send several, then receive responses in any order
 *   (match them by id). Raw bytes can be written for tests of bad input.
 * - lg_client: a list of nodes. lg_client_call() sends one request and returns its
 *   response, following `not_leader` to the named leader, and retrying `unavailable`,
 *   `timeout` and connection failures on the same or the next node with exponential
 *   backoff (bounded count and total time). The retried request is byte-identical, so a
 *   submit with a reference is never applied twice (the ledger's reference index answers
 *   the retry with the original result).
 *
 * Ownership: responses are views into the connection's receive buffer and the caller's
 * arena: valid until the next receive on that connection (lg_conn) or the next call
 * (lg_client), and while the arena lives. Threading: one thread per object. */
#ifndef LG_CLIENT_H
#define LG_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "arena.h"
#include "buf.h"
#include "err.h"
#include "proto.h"

#define LG_CLIENT_CONNECT_TIMEOUT_MS 3000u
#define LG_CLIENT_REQUEST_TIMEOUT_MS 15000u
#define LG_CLIENT_ATTEMPTS_MAX 12u
#define LG_CLIENT_BACKOFF_MS 50u
#define LG_CLIENT_BACKOFF_MAX_MS 1000u
#define LG_CLIENT_NODES_MAX 16u
/* Longest node address, "HOST:PORT" or "[V6]:PORT", without its NUL (lib/addr.h). */
#define LG_CLIENT_ADDRESS_BYTES_MAX (LG_ADDR_BYTES_MAX - 1u)

struct lg_conn; /* opaque */

/* Connect to address ("HOST:PORT" or "[V6]:PORT") within timeout_ms (0: default).
 * Returns LG_OK; LG_EINVAL (malformed address); LG_EUNAVAIL (does not resolve, refused,
 * unreachable, timed out); LG_ENOMEM. errmsg (LG_ERRMSG_SIZE, may be NULL) says why. */
int lg_conn_open(struct lg_conn **out, const char *address, unsigned timeout_ms,
                 char *errmsg);
void lg_conn_close(struct lg_conn *c); /* NULL is a no-op */

/* Bound every later write and read (0: default request timeout). */
void lg_conn_set_timeout(struct lg_conn *c, unsigned timeout_ms);

/* Encode and write one request frame. LG_OK; the encoder's codes (invalid request);
 * LG_EUNAVAIL (connection failed or closed); LG_ETIMEOUT. */
int lg_conn_send(struct lg_conn *c, const struct lg_proto_request *req, char *errmsg);

/* Write raw bytes: several request frames encoded by the caller (lg_proto_encode_request
 * appends, so a pipeline leaves in one write), or bad input for tests. LG_OK, LG_EUNAVAIL,
 * LG_ETIMEOUT. */
int lg_conn_send_raw(struct lg_conn *c, const void *bytes, size_t len, char *errmsg);

/* Read one response frame body (view valid until the next receive). LG_OK; LG_EUNAVAIL
 * (closed by the peer: *len 0 and the connection is done); LG_ETIMEOUT (nothing complete
 * within the timeout; the connection stays usable and a late frame is read next time);
 * LG_EBADREQ (bad frame length from the server: 0, or above LG_FRAME_BYTES_MAX, checked
 * before anything is allocated); LG_ENOMEM. Every error but LG_ETIMEOUT is final for the
 * connection: later calls on it return LG_EUNAVAIL. */
int lg_conn_recv_frame(struct lg_conn *c, const uint8_t **body, size_t *len, char *errmsg);

/* lg_conn_recv_frame for a caller that expects nothing to be waiting on the socket (it has
 * taken every buffered frame with lg_conn_recv_buffered): when no complete frame is
 * buffered it polls before it reads, so no recv(2) comes back empty. Same returns. */
int lg_conn_recv_frame_wait(struct lg_conn *c, const uint8_t **body, size_t *len,
                            char *errmsg);

/* The next frame already read from the socket, without any system call (one read often
 * brings several answers of a pipeline). LG_OK with a view as lg_conn_recv_frame's;
 * LG_ETIMEOUT when no complete frame is buffered (errmsg untouched; the connection stays
 * usable and a partial frame is completed by the next receive); the other codes of
 * lg_conn_recv_frame when the stream failed. */
int lg_conn_recv_buffered(struct lg_conn *c, const uint8_t **body, size_t *len, char *errmsg);

/* The "id" of a response frame body without decoding the rest (other keys are skipped,
 * whatever their order). LG_OK or LG_EBADREQ (not a map, no readable "id"). */
int lg_conn_response_id(const uint8_t *body, size_t len, uint64_t *id);

/* send + receive the matching response + decode it for req->op (responses to other ids
 * are an error here, LG_EBADREQ: use send/recv_frame to pipeline). resp's views live in
 * arena and the connection's buffer. The timeout bounds the whole call. Returns LG_OK when
 * a response arrived (resp->ok says whether the server accepted), or the transport /
 * decoding code. */
int lg_conn_call(struct lg_conn *c, const struct lg_proto_request *req,
                 struct lg_arena *arena, struct lg_proto_response *resp, char *errmsg);

struct lg_client_options {
    const char *const *nodes;  /* "HOST:PORT" client addresses, 1..LG_CLIENT_NODES_MAX */
    uint32_t n_nodes;
    unsigned connect_timeout_ms; /* 0: default */
    unsigned request_timeout_ms; /* per attempt; 0: default */
    uint32_t attempts_max;       /* 0: default; 1: no retry */
    unsigned backoff_ms;         /* first backoff; 0: default; doubles up to the max */
};

struct lg_client; /* opaque */

int lg_client_open(struct lg_client **out, const struct lg_client_options *o, char *errmsg);
void lg_client_close(struct lg_client *c); /* NULL is a no-op */

/* One request, retried as described above. Returns LG_OK when a response arrived that is
 * final: resp->ok true, or a non-retryable error (resp->error.code is then the server's
 * code: insufficient_funds, conflict, not_found, bad_request...). Returns LG_EUNAVAIL /
 * LG_ETIMEOUT when every attempt failed (errmsg has the last reason; resp is then
 * unspecified), or the encoder's code for an invalid request. A server that breaks the
 * protocol (bad frame length, a response that does not decode or answers another id) is
 * not retried: LG_EBADREQ, LG_ETOOLARGE or LG_EOVERFLOW from the decoder. req->id is
 * assigned by the client.
 * Retries: a `not_leader` naming a leader (even one not in the list) switches to it at
 * once; `not_leader` without a leader, `unavailable`, `timeout`, and connection failures
 * back off (backoff_ms doubling up to LG_CLIENT_BACKOFF_MAX_MS) and try the next listed
 * node; every try counts toward attempts_max. */
int lg_client_call(struct lg_client *c, struct lg_proto_request *req, struct lg_arena *arena,
                   struct lg_proto_response *resp, char *errmsg);

/* The node address the client is currently talking to ("" before the first call). */
const char *lg_client_current(const struct lg_client *c);

#endif /* LG_CLIENT_H */
