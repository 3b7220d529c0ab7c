/* log: structured log lines (logfmt) on stderr, one write(2) per line. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t log_node_id;
static int log_min_level = LG_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void lg_log_setup(uint64_t node_id, int min_level)
{
    log_node_id = node_id;
    log_min_level = min_level;
}

void lg_log(int level, const char *event, const char *fmt, ...)
{
    if (level < log_min_level || level < LG_LOG_DEBUG || level > LG_LOG_ERROR) {
        return;
    }
    char line[LG_LOG_LINE_MAX];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line,
                     "ts=%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ level=%s", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000L, level_names[level]);
    size_t len = n > 0 ? (size_t)n : 0u;
    if (log_node_id != 0 && len < sizeof line) {
        n = snprintf(line + len, sizeof line - len, " node=%llu",
                     (unsigned long long)log_node_id);
        len += n > 0 ? (size_t)n : 0u;
    }
    if (len < sizeof line) {
        n = snprintf(line + len, sizeof line - len, " event=%s", event);
        len += n > 0 ? (size_t)n : 0u;
    }
    if (fmt != NULL && len + 1u < sizeof line) {
        line[len++] = ' ';
        va_list ap;
        va_start(ap, fmt);
        n = vsnprintf(line + len, sizeof line - len, fmt, ap);
        va_end(ap);
        len += n > 0 ? (size_t)n : 0u;
    }
    if (len >= sizeof line - 1u) {
        len = sizeof line - 5u;
        memcpy(line + len, "...", 3);
        len += 3u;
    }
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

const char *lg_log_quote(const char *s, char *out, size_t out_size)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    out[o++] = '"';
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        size_t need = (c == '"' || c == '\\') ? 2u : (c < 0x20u || c == 0x7fu) ? 4u : 1u;
        if (o + need + 2u > out_size) {
            break;
        }
        if (need == 2u) {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (need == 4u) {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15u];
        } else {
            out[o++] = (char)c;
        }
    }
    out[o++] = '"';
    out[o] = '\0';
    return out;
}
