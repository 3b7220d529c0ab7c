/* metrics_http: the `/metrics` HTTP endpoint of `serve --metrics HOST:PORT` (docs/metrics.md).
 *
 * A minimal HTTP/1.x responder on the node's loop: GET (or HEAD) /metrics answers 200 with
 * the Prometheus text format (the collect callback writes it at request time); any other
 * path 404, another method 405, a malformed or oversized head 400. One request per
 * connection (Connection: close). Bounded: at most LG_METRICS_HTTP_CONNS_MAX connections
 * (more are closed at once), a head of at most LG_HTTP_HEAD_MAX bytes, read within
 * LG_METRICS_HTTP_TIMEOUT_MS.
 *
 * Why not libmicrohttpd (Debian: libmicrohttpd-dev): it polls from its own thread or
 * loop, while everything the page reports lives on the node's libuv loop thread; one
 * path and a bounded head do not need a general server. Threading: the loop thread. */
#ifndef LG_CMD_METRICS_HTTP_H
#define LG_CMD_METRICS_HTTP_H

#include <stdbool.h>
#include <uv.h>

#include "../lib/buf.h"

#define LG_METRICS_HTTP_CONNS_MAX 16u
#define LG_METRICS_HTTP_TIMEOUT_MS 5000u

/* Append the page to out; false: it could not be produced (answered 500). */
typedef bool (*lg_metrics_collect_fn)(void *arg, struct lg_buf *out);

struct lg_metrics_http; /* opaque */

/* Listen on address (HOST:PORT, resolved now). Returns LG_OK, LG_EINVAL (bad address),
 * LG_EIO (cannot bind: errmsg says why), LG_ENOMEM. */
int lg_metrics_http_start(struct lg_metrics_http **out, uv_loop_t *loop, const char *address,
                          lg_metrics_collect_fn collect, void *arg, char *errmsg);

/* Close the listener and every connection; the memory is released once libuv has closed
 * every handle (the loop's next turns). Call once. */
void lg_metrics_http_close(struct lg_metrics_http *h);

/* The node's page (docs/metrics.md): role, term, indexes, journal seq and gap, client
 * connections, gossip members by state and dropped packets (gossip may be NULL), then m's
 * request and transaction families (lib/metrics.h). */
struct lg_node;
struct lg_server;
struct lg_gossip;
struct lg_metrics;
bool lg_metrics_node_page(struct lg_node *node, struct lg_server *server,
                          const struct lg_gossip *gossip, const struct lg_metrics *m,
                          struct lg_buf *out);

#endif /* LG_CMD_METRICS_HTTP_H */
