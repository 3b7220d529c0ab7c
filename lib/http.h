/* http: the request head parser of the `/metrics` endpoint (docs/metrics.md).
 *
 * Only what a Prometheus scraper or curl sends is understood: a request line
 * "METHOD SP TARGET SP HTTP/1.x" then header lines up to an empty line. Header values are
 * not interpreted (the server always closes after one answer). Bounded: the head must fit
 * LG_HTTP_HEAD_MAX bytes. */
#ifndef LG_HTTP_H
#define LG_HTTP_H

#include <stddef.h>

#define LG_HTTP_HEAD_MAX 8192u
#define LG_HTTP_METHOD_MAX 15u
#define LG_HTTP_PATH_MAX 255u

enum lg_http_parse {
    LG_HTTP_PARTIAL = 0, /* no empty line yet: read more (if under LG_HTTP_HEAD_MAX) */
    LG_HTTP_DONE = 1,    /* head complete: method, path filled */
    LG_HTTP_BAD = 2,     /* malformed, or a part over its bound: answer 400 and close */
};

/* Parse the head in buf[0..len). method gets the method (NUL-terminated), path the
 * target without its query string. *head_len (DONE) the bytes of the head. */
enum lg_http_parse lg_http_parse_head(const char *buf, size_t len,
                                      char method[LG_HTTP_METHOD_MAX + 1],
                                      char path[LG_HTTP_PATH_MAX + 1], size_t *head_len);

#endif /* LG_HTTP_H */
