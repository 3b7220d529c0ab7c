/* err: names, wire codes and messages generated from LG_ERR_LIST; foreign code mapping. */
#include "err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const err_names[] = {
#define LG_ERR_NAME(code, wire, msg) #code,
    LG_ERR_LIST(LG_ERR_NAME)
#undef LG_ERR_NAME
};

static const char *const err_wires[] = {
#define LG_ERR_WIRE(code, wire, msg) wire,
    LG_ERR_LIST(LG_ERR_WIRE)
#undef LG_ERR_WIRE
};

static const char *const err_messages[] = {
#define LG_ERR_MSG(code, wire, msg) msg,
    LG_ERR_LIST(LG_ERR_MSG)
#undef LG_ERR_MSG
};

static int err_known(int code)
{
    return code >= 0 && code < LG_ERR_COUNT;
}

const char *lg_err_name(int code)
{
    return err_known(code) ? err_names[code] : "LG_E?";
}

const char *lg_err_wire(int code)
{
    return err_known(code) ? err_wires[code] : "internal";
}

const char *lg_err_message(int code)
{
    return err_known(code) ? err_messages[code] : "unknown error";
}

int lg_err_from_wire(const char *wire)
{
    if (wire == NULL) {
        return LG_EINVAL;
    }
    if (strcmp(wire, "internal") == 0) {
        return LG_EIO;
    }
    for (int code = 0; code < LG_ERR_COUNT; code++) {
        if (strcmp(err_wires[code], wire) == 0) {
            return code;
        }
    }
    return LG_EINVAL;
}

int lg_err_from_errno(int errnum)
{
    switch (errnum) {
    case 0:
        return LG_OK;
    case ENOMEM:
        return LG_ENOMEM;
    case ENOSPC:
    case EDQUOT:
        return LG_ENOSPC;
    case ENOENT:
        return LG_ENOTFOUND;
    case EINVAL:
    case ENOTDIR:
    case EISDIR:
        return LG_EINVAL;
    case ETIMEDOUT:
        return LG_ETIMEOUT;
    case E2BIG:
    case EMSGSIZE:
        return LG_ETOOLARGE;
    default:
        return LG_EIO;
    }
}

int lg_err_from_uv(int uv_code)
{
    /* libuv codes are negated errno values on Unix. */
    return lg_err_from_errno(uv_code < 0 ? -uv_code : uv_code);
}

int lg_errmsg_printf(char *errmsg, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errmsg, LG_ERRMSG_SIZE, fmt, ap);
    va_end(ap);
    return code;
}

int lg_errmsg_wrap(char *errmsg, int code, const char *fmt, ...)
{
    char prefix[LG_ERRMSG_SIZE];
    char old[LG_ERRMSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, errmsg, LG_ERRMSG_SIZE);
    old[LG_ERRMSG_SIZE - 1] = '\0';
    /* Truncation is the intent: the buffer is fixed so the error path never allocates. */
    size_t n = strlen(prefix);
    memcpy(errmsg, prefix, n);
    size_t rest = LG_ERRMSG_SIZE - 1 - n;
    const char sep[] = ": ";
    size_t k = rest < 2 ? rest : 2;
    memcpy(errmsg + n, sep, k);
    n += k;
    rest -= k;
    size_t m = strlen(old);
    m = m < rest ? m : rest;
    memcpy(errmsg + n, old, m);
    errmsg[n + m] = '\0';
    return code;
}
