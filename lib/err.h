/* err: the project's closed set of status codes, their wire names and messages.
 *
 * Every function that can fail returns an int: LG_OK (0) or one of the positive codes
 * below. One X-macro list generates the enum, the names, the wire strings (DESIGN §8)
 * and the default messages, so they cannot drift. Codes from libuv, errno or libraft
 * never cross a module boundary: convert them here and keep the original text in the
 * object's errmsg buffer (lg_errmsg_printf). */
#ifndef LG_ERR_H
#define LG_ERR_H

#include <stddef.h>

/* X(constant, wire code, default message). Internal codes report as "internal". */
#define LG_ERR_LIST(X)                                                                 \
    X(LG_OK, "ok", "success")                                                          \
    X(LG_EBADREQ, "bad_request", "malformed or invalid request")                       \
    X(LG_ETOOLARGE, "too_large", "request exceeds a size limit")                       \
    X(LG_EUNKNOWNOP, "unknown_op", "unknown operation")                                \
    X(LG_ENOTLEADER, "not_leader", "this node is not the leader")                      \
    X(LG_EUNAVAIL, "unavailable", "service unavailable")                               \
    X(LG_ETIMEOUT, "timeout", "operation timed out")                                   \
    X(LG_ENOTFOUND, "not_found", "not found")                                          \
    X(LG_EFUNDS, "insufficient_funds", "insufficient funds")                           \
    X(LG_ECONDITION, "condition_failed", "condition failed")                           \
    X(LG_ECONFLICT, "conflict", "reference already used with different content")       \
    X(LG_EOVERFLOW, "overflow", "arithmetic overflow")                                 \
    X(LG_ENOMEM, "internal", "out of memory")                                          \
    X(LG_EIO, "internal", "input/output error")                                        \
    X(LG_ENOSPC, "internal", "no space left on device")                                \
    X(LG_ECORRUPT, "internal", "data corruption detected")                             \
    X(LG_ESHUTDOWN, "internal", "shutting down")                                       \
    X(LG_EINVAL, "internal", "invalid argument (programming or configuration error)")  \
    X(LG_ERANGE, "not_found", "out of range")

enum lg_err {
#define LG_ERR_ENUM(code, wire, msg) code,
    LG_ERR_LIST(LG_ERR_ENUM)
#undef LG_ERR_ENUM
        LG_ERR_COUNT
};

/* Size of every errmsg buffer in the project: fixed, so the error path never allocates. */
#define LG_ERRMSG_SIZE 256

/* The constant's name ("LG_EBADREQ"); "LG_E?" for an unknown code. Never NULL. */
const char *lg_err_name(int code);

/* The wire code of DESIGN §8 ("bad_request"); "internal" for internal codes. */
const char *lg_err_wire(int code);

/* The default human message for a code. Never NULL. */
const char *lg_err_message(int code);

/* Parse a wire code back to its constant; LG_EINVAL when unknown. "internal" maps to
 * LG_EIO (the wire loses which internal code it was). */
int lg_err_from_wire(const char *wire);

/* Convert foreign codes. errno values (positive), libuv codes (negative errno) and
 * libraft codes each map to the nearest LG_ code. */
int lg_err_from_errno(int errnum);
int lg_err_from_uv(int uv_code);

/* printf into an errmsg buffer of LG_ERRMSG_SIZE bytes (always NUL-terminated, truncates).
 * Returns code, so callers write `return lg_errmsg_printf(j->errmsg, LG_EIO, "...")`. */
int lg_errmsg_printf(char *errmsg, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix context to an existing message in place: "ctx: old message". Returns code. */
int lg_errmsg_wrap(char *errmsg, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* LG_ERR_H */
