/* metrics and http: the /metrics page's parts (docs/metrics.md). Goal: the request head
 * parser accepts what scrapers send and refuses anything else precisely; the counters
 * render valid, cumulative Prometheus text with one series per wire code. */
#include <criterion/criterion.h>
#include <string.h>

#include "http.h"
#include "lgt.h"
#include "metrics.h"

static enum lg_http_parse parse(const char *s, char *method, char *path, size_t *head)
{
    return lg_http_parse_head(s, strlen(s), method, path, head);
}

Test(http, accepts_requests_scrapers_send)
{
    char m[LG_HTTP_METHOD_MAX + 1];
    char p[LG_HTTP_PATH_MAX + 1];
    size_t head = 0;
    const char *req = "GET /metrics?name[]=x HTTP/1.1\r\nHost: a:1\r\nAccept: */*\r\n\r\nrest";
    cr_assert_eq(parse(req, m, p, &head), LG_HTTP_DONE);
    cr_assert_str_eq(m, "GET");
    cr_assert_str_eq(p, "/metrics");
    cr_assert_eq(head, strlen(req) - 4);
    cr_assert_eq(parse("HEAD / HTTP/1.0\n\n", m, p, &head), LG_HTTP_DONE);
    cr_assert_str_eq(m, "HEAD");
    cr_assert_str_eq(p, "/");
}

Test(http, waits_for_the_empty_line)
{
    char m[LG_HTTP_METHOD_MAX + 1];
    char p[LG_HTTP_PATH_MAX + 1];
    size_t head = 0;
    cr_assert_eq(parse("", m, p, &head), LG_HTTP_PARTIAL);
    cr_assert_eq(parse("GET /metrics HTTP/1.1\r\n", m, p, &head), LG_HTTP_PARTIAL);
    cr_assert_eq(parse("GET /metrics HTTP/1.1\r\nHost: a\r\n\r", m, p, &head), LG_HTTP_PARTIAL);
}

Test(http, refuses_malformed_heads)
{
    char m[LG_HTTP_METHOD_MAX + 1];
    char p[LG_HTTP_PATH_MAX + 1];
    size_t head = 0;
    static const char *const bad[] = {
        "\r\n\r\n", "GET\r\n\r\n", "GET /metrics\r\n\r\n", " GET / HTTP/1.1\r\n\r\n",
        "GET  / HTTP/1.1\r\n\r\n", "GET / HTTP/2.0\r\n\r\n", "GET / HTTP/1.1 x\r\n\r\n",
        "G(T / HTTP/1.1\r\n\r\n", "GET /\x7f HTTP/1.1\r\n\r\n", "GET / FTP/1.1\r\n\r\n",
        "VERYLONGMETHODNAME / HTTP/1.1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(parse(bad[i], m, p, &head), LG_HTTP_BAD, "%s", bad[i]);
    }
    /* A NUL byte, a path over its bound, a head over LG_HTTP_HEAD_MAX. */
    cr_assert_eq(lg_http_parse_head("GET /\0 HTTP/1.1\r\n\r\n", 20, m, p, &head), LG_HTTP_BAD);
    static char big[LG_HTTP_HEAD_MAX + 16];
    memset(big, 'a', sizeof big);
    memcpy(big, "GET /", 5);
    memcpy(big + 5 + LG_HTTP_PATH_MAX + 1, " HTTP/1.1\r\n\r\n", 13);
    cr_assert_eq(lg_http_parse_head(big, 5 + LG_HTTP_PATH_MAX + 14, m, p, &head), LG_HTTP_BAD);
    memset(big, 'a', sizeof big);
    memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
    cr_assert_eq(lg_http_parse_head(big, sizeof big, m, p, &head), LG_HTTP_BAD);
    cr_assert_eq(lg_http_parse_head(big, LG_HTTP_HEAD_MAX - 1, m, p, &head), LG_HTTP_PARTIAL);
}

Test(metrics, renders_cumulative_histograms_and_one_series_per_wire_code)
{
    static struct lg_metrics m;
    memset(&m, 0, sizeof m);
    lg_metrics_request(&m, LG_PROTO_OP_SUBMIT, LG_OK, 50);        /* <= 100 µs */
    lg_metrics_request(&m, LG_PROTO_OP_SUBMIT, LG_OK, 2000);      /* <= 2.5 ms */
    lg_metrics_request(&m, LG_PROTO_OP_SUBMIT, LG_EFUNDS, 20000000); /* > 10 s */
    lg_metrics_request(&m, LG_PROTO_OP_STATUS, LG_EIO, 10);
    lg_metrics_request(&m, LG_PROTO_OP_STATUS, LG_ENOMEM, 10); /* also "internal" */
    lg_metrics_request(&m, 250, 999, 10);                         /* clamped, no crash */
    lg_metrics_transaction(&m, LG_OK);
    lg_metrics_transaction(&m, LG_ECONFLICT);
    struct lg_buf out;
    lg_buf_init(&out);
    cr_assert(lg_metrics_render(&m, &out));
    cr_assert(lg_buf_append(&out, "", 1));
    const char *t = (const char *)out.data;
    cr_assert(strstr(t, "ledger_requests_total{op=\"submit\",code=\"ok\"} 2\n") != NULL, "%s", t);
    cr_assert(strstr(t, "ledger_requests_total{op=\"submit\",code=\"insufficient_funds\"} 1\n"));
    cr_assert(strstr(t, "ledger_requests_total{op=\"status\",code=\"internal\"} 2\n") != NULL,
              "%s", t);
    cr_assert(strstr(t, "ledger_requests_total{op=\"unreadable\",code=\"internal\"} 1\n"));
    cr_assert(strstr(t, "_bucket{op=\"submit\",le=\"0.0001\"} 1\n") != NULL, "%s", t);
    cr_assert(strstr(t, "_bucket{op=\"submit\",le=\"0.0025\"} 2\n") != NULL, "%s", t);
    cr_assert(strstr(t, "_bucket{op=\"submit\",le=\"10\"} 2\n") != NULL, "%s", t);
    cr_assert(strstr(t, "_bucket{op=\"submit\",le=\"+Inf\"} 3\n") != NULL, "%s", t);
    cr_assert(strstr(t, "ledger_request_duration_seconds_count{op=\"submit\"} 3\n"));
    cr_assert(strstr(t, "ledger_request_duration_seconds_sum{op=\"submit\"} 20.002050\n"),
              "%s", t);
    cr_assert(strstr(t, "ledger_transactions_total{result=\"ok\"} 1\n"));
    cr_assert(strstr(t, "ledger_transactions_total{result=\"conflict\"} 1\n"));
    cr_assert_null(strstr(t, "op=\"get_tx\""), "no series for what never happened");
    lg_buf_close(&out);
}
