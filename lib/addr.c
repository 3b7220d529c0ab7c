/* addr: "HOST:PORT" parsing. */
#include "addr.h"

#include <string.h>

#include "err.h"

int lg_addr_split(const char *address, char *host, size_t host_size, char *port,
                  size_t port_size, unsigned flags, char *errmsg)
{
    char local[LG_ERRMSG_SIZE];
    errmsg = errmsg != NULL ? errmsg : local;
    size_t len = strnlen(address, LG_ADDR_BYTES_MAX);
    if (len == 0 || len >= LG_ADDR_BYTES_MAX) {
        return lg_errmsg_printf(errmsg, LG_EINVAL, "address: must be HOST:PORT of 1..%u bytes",
                                LG_ADDR_BYTES_MAX - 1u);
    }
    const char *host_begin = address;
    const char *host_end;
    const char *colon;
    if (address[0] == '[') {
        host_begin = address + 1;
        host_end = strchr(address, ']');
        if (host_end == NULL || host_end[1] != ':') {
            return lg_errmsg_printf(errmsg, LG_EINVAL, "address \"%s\": must be [V6]:PORT",
                                    address);
        }
        colon = host_end + 1;
    } else {
        colon = strchr(address, ':');
        if (colon == NULL) {
            return lg_errmsg_printf(errmsg, LG_EINVAL, "address \"%s\": must be HOST:PORT",
                                    address);
        }
        if (strchr(colon + 1, ':') != NULL) {
            return lg_errmsg_printf(errmsg, LG_EINVAL,
                                    "address \"%s\": an IPv6 host goes in brackets", address);
        }
        host_end = colon;
    }
    size_t host_len = (size_t)(host_end - host_begin);
    size_t port_len = strlen(colon + 1);
    unsigned long value = 0;
    for (size_t i = 0; i < port_len && i < 6u; i++) {
        char c = colon[1 + i];
        value = c >= '0' && c <= '9' ? value * 10u + (unsigned long)(c - '0') : 70000u;
    }
    unsigned long min = (flags & LG_ADDR_PORT_ZERO_OK) != 0 ? 0u : 1u;
    if (port_len == 0 || port_len > 5 || value < min || value > 65535u) {
        return lg_errmsg_printf(errmsg, LG_EINVAL,
                                "address \"%s\": must be HOST:PORT with a port %lu..65535",
                                address, min);
    }
    if (host_len == 0 || host_len >= host_size || port_len >= port_size) {
        return lg_errmsg_printf(errmsg, LG_EINVAL, "address \"%s\": empty or too long host",
                                address);
    }
    memcpy(host, host_begin, host_len);
    host[host_len] = '\0';
    memcpy(port, colon + 1, port_len);
    port[port_len] = '\0';
    return LG_OK;
}
