/* log: structured log lines, one per event (key=value, logfmt).
 *
 *   ts=2026-11-23T10:00:00.123456Z level=info node=1 event=leader_elected term=3 ...
 *
 * A line is written with ONE write(2) to stderr (lines from one process never
 * interleave), at most LG_LOG_LINE_MAX bytes (longer lines are cut and end in "...").
 * Values are written as given: free text (messages, addresses from peers) goes through
 * lg_log_quote(). Threading: any thread. */
#ifndef LG_LOG_H
#define LG_LOG_H

#include <stddef.h>
#include <stdint.h>

#define LG_LOG_LINE_MAX 1024u

enum lg_log_level {
    LG_LOG_DEBUG = 0,
    LG_LOG_INFO,
    LG_LOG_WARN,
    LG_LOG_ERROR,
};

/* Process-wide settings: node id written on every line (0: omitted), minimum level. */
void lg_log_setup(uint64_t node_id, int min_level);

/* Write one line: level, event name, then fmt (already "k=v k=v"; may be NULL). */
void lg_log(int level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Copy s into out as a logfmt value: wrapped in double quotes, with '"' and '\\' escaped
 * and control bytes written as \xNN; cut to fit out_size (>= 3). Returns out. */
const char *lg_log_quote(const char *s, char *out, size_t out_size);

#endif /* LG_LOG_H */
