/* fuzz_addr: lg_addr_split on arbitrary bytes (command-line flags, environment variables,
 * addresses announced by peers). Properties: never crash; a failure is LG_EINVAL with a
 * message; a success gives a non-empty host without ':' unless it was bracketed, a port of
 * 1..65535 (0 only with the flag), and host + port rebuild the input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > 2 * LG_ADDR_BYTES_MAX) {
        return 0;
    }
    unsigned flags = data[0] & 1u;
    char *s = malloc(size);
    if (s == NULL) {
        return 0;
    }
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0'; /* embedded NULs just end the string early */
    char host[LG_ADDR_BYTES_MAX];
    char port[8];
    char msg[LG_ERRMSG_SIZE];
    msg[0] = '\0';
    int rc = lg_addr_split(s, host, sizeof host, port, sizeof port, flags, msg);
    if (rc != LG_OK) {
        if (rc != LG_EINVAL || msg[0] == '\0') {
            abort();
        }
        free(s);
        return 0;
    }
    long p = strtol(port, NULL, 10);
    if (host[0] == '\0' || p < (flags ? 0 : 1) || p > 65535) {
        abort();
    }
    char rebuilt[2 * LG_ADDR_BYTES_MAX];
    size_t hl = strlen(host);
    size_t n = 0;
    if (s[0] == '[') {
        rebuilt[n++] = '[';
    } else if (memchr(host, ':', hl) != NULL) {
        abort();
    }
    memcpy(rebuilt + n, host, hl);
    n += hl;
    if (s[0] == '[') {
        rebuilt[n++] = ']';
    }
    rebuilt[n++] = ':';
    memcpy(rebuilt + n, port, strlen(port) + 1);
    if (strcmp(rebuilt, s) != 0) {
        abort();
    }
    free(s);
    return 0;
}
