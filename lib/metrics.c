/* metrics: see metrics.h. */
#include "metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "assert.h"

static const uint64_t bucket_us[LG_METRICS_BUCKETS] = {
    100,    250,    500,     1000,    2500,    5000,     10000,    25000,
    50000,  100000, 250000,  500000,  1000000, 2500000,  5000000,  10000000,
};

void lg_metrics_request(struct lg_metrics *m, uint8_t op, int code, uint64_t latency_us)
{
    if (op >= LG_PROTO_OP_COUNT) {
        op = LG_PROTO_OP_NONE;
    }
    if (code < 0 || code >= LG_ERR_COUNT) {
        code = LG_EIO;
    }
    m->requests[op][code]++;
    struct lg_metrics_hist *h = &m->latency[op];
    unsigned b = 0;
    while (b < LG_METRICS_BUCKETS && latency_us > bucket_us[b]) {
        b++;
    }
    if (b < LG_METRICS_BUCKETS) {
        h->le[b]++;
    } else {
        h->inf++;
    }
    h->count++;
    h->sum_us += latency_us;
}

void lg_metrics_transaction(struct lg_metrics *m, int code)
{
    if (code < 0 || code >= LG_ERR_COUNT) {
        code = LG_EIO;
    }
    m->transactions[code]++;
}

static bool appendf(struct lg_buf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool appendf(struct lg_buf *out, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    LG_ASSERT(n >= 0 && (size_t)n < sizeof line);
    return lg_buf_append(out, line, (size_t)n);
}

/* Several internal codes share one wire code ("internal"; LG_ERANGE is "not_found"): a
 * series per wire code, summed. first_of(code) is false for a code whose wire code an
 * earlier code already has. */
static bool first_of(int code)
{
    for (int c = 0; c < code; c++) {
        if (strcmp(lg_err_wire(c), lg_err_wire(code)) == 0) {
            return false;
        }
    }
    return true;
}

static uint64_t sum_wire(const uint64_t *by_code, int code)
{
    uint64_t sum = 0;
    for (int c = code; c < LG_ERR_COUNT; c++) {
        if (strcmp(lg_err_wire(c), lg_err_wire(code)) == 0) {
            sum += by_code[c];
        }
    }
    return sum;
}

static const char *op_label(unsigned op)
{
    return op == LG_PROTO_OP_NONE ? "unreadable" : lg_proto_op_name((int)op);
}

bool lg_metrics_gauge(struct lg_buf *out, const char *name, const char *help,
                      const char *labels, double value)
{
    return appendf(out, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name) &&
           lg_metrics_sample(out, name, labels, value);
}

bool lg_metrics_sample(struct lg_buf *out, const char *name, const char *labels,
                       double value)
{
    return appendf(out, "%s%s%s%s %.17g\n", name, labels[0] != '\0' ? "{" : "", labels,
                   labels[0] != '\0' ? "}" : "", value);
}

bool lg_metrics_render(const struct lg_metrics *m, struct lg_buf *out)
{
    bool ok = appendf(out, "# HELP ledger_requests_total Client requests answered, by "
                           "operation and answer code.\n"
                           "# TYPE ledger_requests_total counter\n");
    for (unsigned op = 0; op < LG_PROTO_OP_COUNT && ok; op++) {
        for (int code = 0; code < LG_ERR_COUNT && ok; code++) {
            uint64_t n = first_of(code) ? sum_wire(m->requests[op], code) : 0u;
            if (n != 0) {
                ok = appendf(out, "ledger_requests_total{op=\"%s\",code=\"%s\"} %" PRIu64 "\n",
                             op_label(op), lg_err_wire(code), n);
            }
        }
    }
    ok = ok && appendf(out, "# HELP ledger_request_duration_seconds Time from a request's "
                            "frame to its answer, by operation.\n"
                            "# TYPE ledger_request_duration_seconds histogram\n");
    for (unsigned op = 0; op < LG_PROTO_OP_COUNT && ok; op++) {
        const struct lg_metrics_hist *h = &m->latency[op];
        if (h->count == 0) {
            continue;
        }
        uint64_t cum = 0;
        for (unsigned b = 0; b < LG_METRICS_BUCKETS && ok; b++) {
            cum += h->le[b];
            ok = appendf(out, "ledger_request_duration_seconds_bucket{op=\"%s\",le=\"%g\"} "
                              "%" PRIu64 "\n", op_label(op), (double)bucket_us[b] / 1e6, cum);
        }
        ok = ok && appendf(out, "ledger_request_duration_seconds_bucket{op=\"%s\",le=\"+Inf\"} "
                                "%" PRIu64 "\n", op_label(op), h->count);
        ok = ok && appendf(out, "ledger_request_duration_seconds_sum{op=\"%s\"} %.6f\n",
                           op_label(op), (double)h->sum_us / 1e6);
        ok = ok && appendf(out, "ledger_request_duration_seconds_count{op=\"%s\"} %" PRIu64 "\n",
                           op_label(op), h->count);
    }
    ok = ok && appendf(out, "# HELP ledger_transactions_total Transactions this node answered "
                            "as leader: committed (ok) or rejected, by outcome.\n"
                            "# TYPE ledger_transactions_total counter\n");
    /* Always the committed sample, so a scraper sees the family from the start. */
    ok = ok && appendf(out, "ledger_transactions_total{result=\"ok\"} %" PRIu64 "\n",
                       m->transactions[LG_OK]);
    for (int code = 1; code < LG_ERR_COUNT && ok; code++) {
        uint64_t n = first_of(code) ? sum_wire(m->transactions, code) : 0u;
        if (n != 0) {
            ok = appendf(out, "ledger_transactions_total{result=\"%s\"} %" PRIu64 "\n",
                         lg_err_wire(code), n);
        }
    }
    return ok;
}
