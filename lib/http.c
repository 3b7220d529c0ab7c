/* http: see http.h. */
#include "http.h"

#include <string.h>

/* A token character of RFC 9110 §5.6.2 (methods). */
static int is_tchar(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* A visible ASCII character (request target). */
static int is_vchar(char ch)
{
    return ch > ' ' && ch < 0x7f;
}

enum lg_http_parse lg_http_parse_head(const char *buf, size_t len,
                                      char method[LG_HTTP_METHOD_MAX + 1],
                                      char path[LG_HTTP_PATH_MAX + 1], size_t *head_len)
{
    /* The end of the head: the first empty line ("\r\n\r\n", or "\n\n" leniently). */
    size_t end = 0;
    size_t limit = len < LG_HTTP_HEAD_MAX ? len : LG_HTTP_HEAD_MAX;
    for (size_t i = 0; i < limit && end == 0; i++) {
        if (buf[i] == '\0') {
            return LG_HTTP_BAD;
        }
        if (buf[i] != '\n') {
            continue;
        }
        if (i >= 1 && buf[i - 1] == '\n') {
            end = i + 1;
        } else if (i >= 2 && buf[i - 1] == '\r' && buf[i - 2] == '\n') {
            end = i + 1;
        }
    }
    if (end == 0) {
        return len >= LG_HTTP_HEAD_MAX ? LG_HTTP_BAD : LG_HTTP_PARTIAL;
    }

    size_t i = 0;
    size_t n = 0;
    while (i < end && is_tchar(buf[i])) {
        if (n == LG_HTTP_METHOD_MAX) {
            return LG_HTTP_BAD;
        }
        method[n++] = buf[i++];
    }
    method[n] = '\0';
    if (n == 0 || i >= end || buf[i] != ' ') {
        return LG_HTTP_BAD;
    }
    i++;
    n = 0;
    int in_query = 0;
    while (i < end && is_vchar(buf[i])) {
        if (buf[i] == '?') {
            in_query = 1;
        }
        if (!in_query) {
            if (n == LG_HTTP_PATH_MAX) {
                return LG_HTTP_BAD;
            }
            path[n++] = buf[i];
        }
        i++;
    }
    path[n] = '\0';
    if (n == 0 || i >= end || buf[i] != ' ') {
        return LG_HTTP_BAD;
    }
    i++;
    static const char version[] = "HTTP/1.";
    if (end - i < sizeof version || memcmp(buf + i, version, sizeof version - 1u) != 0 ||
        (buf[i + sizeof version - 1u] != '0' && buf[i + sizeof version - 1u] != '1')) {
        return LG_HTTP_BAD;
    }
    i += sizeof version;
    if (buf[i] == '\r') {
        i++;
    }
    if (i >= end || buf[i] != '\n') {
        return LG_HTTP_BAD;
    }
    *head_len = end;
    return LG_HTTP_DONE;
}
