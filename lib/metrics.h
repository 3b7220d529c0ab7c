/* metrics: the node's request and transaction counters, rendered in the Prometheus text
 * exposition format (version 0.0.4) for `/metrics` (docs/metrics.md).
 *
 * Counters are plain integers updated on the loop thread (no atomics); rendering reads
 * them on the same thread. Gauges that belong to other modules (role, indexes, gossip)
 * are written by the caller with lg_metrics_gauge next to lg_metrics_render. */
#ifndef LG_METRICS_H
#define LG_METRICS_H

#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "proto.h"

/* Request latency buckets (upper bounds, µs): 100 µs .. 10 s, then +Inf. */
#define LG_METRICS_BUCKETS 16u

struct lg_metrics_hist {
    uint64_t le[LG_METRICS_BUCKETS]; /* cumulative when rendered; stored per bucket */
    uint64_t inf;                    /* over the last bound */
    uint64_t count;
    uint64_t sum_us;
};

struct lg_metrics {
    /* ledger_requests_total{op, code}: answered requests by operation and wire code. */
    uint64_t requests[LG_PROTO_OP_COUNT][LG_ERR_COUNT];
    /* ledger_request_duration_seconds{op}: receipt of the frame to the answer encoded. */
    struct lg_metrics_hist latency[LG_PROTO_OP_COUNT];
    /* ledger_transactions_total{result}: transactions the leader committed ("ok"), or
     * rejected by their outcome code (insufficient_funds, conflict, ...). A duplicate
     * (same reference, same content) counts as "ok" again. */
    uint64_t transactions[LG_ERR_COUNT];
};

/* One answered request: op (enum lg_proto_op, NONE when unreadable), code (LG_OK or the
 * error answered), latency in µs. */
void lg_metrics_request(struct lg_metrics *m, uint8_t op, int code, uint64_t latency_us);

/* One transaction outcome (LG_OK: committed). */
void lg_metrics_transaction(struct lg_metrics *m, int code);

/* Append every family of m to out. Returns false when out could not grow. */
bool lg_metrics_render(const struct lg_metrics *m, struct lg_buf *out);

/* Append one gauge family with a single sample: "# HELP", "# TYPE name gauge" and
 * "name{labels} value" (labels: "" or `k="v",...` already escaped). Returns false when
 * out could not grow. */
bool lg_metrics_gauge(struct lg_buf *out, const char *name, const char *help,
                      const char *labels, double value);

/* The same, a sample of a family already announced (no HELP/TYPE lines). */
bool lg_metrics_sample(struct lg_buf *out, const char *name, const char *labels,
                       double value);

#endif /* LG_METRICS_H */
