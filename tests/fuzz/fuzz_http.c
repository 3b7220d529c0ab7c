/* fuzz_http: lg_http_parse_head on arbitrary bytes (whatever reaches a node's /metrics
 * port). Properties: never crash or read past len; PARTIAL only for inputs under the head
 * bound without an empty line; DONE gives a non-empty method of token characters, a path
 * starting where the request line says, both NUL-terminated within their bounds, and a
 * head length within the input that ends in a newline. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 2 * LG_HTTP_HEAD_MAX) {
        return 0;
    }
    /* An exact-size copy, so reading past size is caught by ASan. */
    char *buf = malloc(size == 0 ? 1 : size);
    if (buf == NULL) {
        return 0;
    }
    if (size > 0) {
        memcpy(buf, data, size);
    }
    char method[LG_HTTP_METHOD_MAX + 1];
    char path[LG_HTTP_PATH_MAX + 1];
    size_t head_len = 0;
    enum lg_http_parse r = lg_http_parse_head(buf, size, method, path, &head_len);
    if (r == LG_HTTP_DONE) {
        size_t ml = strnlen(method, sizeof method);
        size_t pl = strnlen(path, sizeof path);
        if (ml == 0 || ml > LG_HTTP_METHOD_MAX || pl == 0 || pl > LG_HTTP_PATH_MAX ||
            head_len == 0 || head_len > size || buf[head_len - 1] != '\n' ||
            memcmp(buf, method, ml) != 0 || buf[ml] != ' ') {
            abort();
        }
    } else if (r == LG_HTTP_PARTIAL) {
        if (size >= LG_HTTP_HEAD_MAX || memmem(buf, size, "\n\n", 2) != NULL ||
            memmem(buf, size, "\n\r\n", 3) != NULL) {
            abort();
        }
    } else if (r != LG_HTTP_BAD) {
        abort();
    }
    free(buf);
    return 0;
}
