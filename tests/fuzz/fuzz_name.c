/* fuzz_name: the name validators and pattern functions on arbitrary bytes.
 * Input: first byte selects a split point; the rest is split into a pattern and an
 * address. Properties: never crash; every failure carries a non-empty message; a valid
 * address is a valid pattern that matches itself and has no wildcard; a valid pattern's
 * prefix is a prefix of every address it matches. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "name.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef int (*check_fn)(const char *s, size_t len, const char *what, char *errmsg);

static void check_all(const char *s, size_t len)
{
    static const check_fn fns[] = {lg_name_check_ledger, lg_name_check_address,
                                   lg_name_check_asset, lg_name_check_pattern};
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        char msg[LG_ERRMSG_SIZE];
        msg[0] = '\0';
        int rc = fns[i](s, len, "field", msg);
        if (rc != LG_OK && (rc != LG_EBADREQ || msg[0] == '\0')) {
            abort();
        }
        if ((fns[i](s, len, NULL, NULL) == LG_OK) != (rc == LG_OK)) {
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    size_t split = data[0] % size;
    const char *pattern = (const char *)data + 1;
    size_t plen = split;
    const char *addr = pattern + plen;
    size_t alen = size - 1 - plen;
    check_all(pattern, plen);
    check_all(addr, alen);
    check_all((const char *)data, size);
    if (lg_name_check_address(addr, alen, NULL, NULL) == LG_OK) {
        if (lg_name_check_pattern(addr, alen, NULL, NULL) != LG_OK ||
            !lg_name_pattern_match(addr, alen, addr, alen) ||
            lg_name_pattern_has_wildcard(addr, alen) ||
            lg_name_pattern_prefix_len(addr, alen) != alen) {
            abort();
        }
    }
    if (lg_name_check_pattern(pattern, plen, NULL, NULL) == LG_OK &&
        lg_name_check_address(addr, alen, NULL, NULL) == LG_OK &&
        lg_name_pattern_match(pattern, plen, addr, alen)) {
        size_t prefix = lg_name_pattern_prefix_len(pattern, plen);
        if (prefix > alen || memcmp(pattern, addr, prefix) != 0) {
            abort();
        }
    }
    /* Invalid input must not crash the matcher either. */
    (void)lg_name_pattern_match(pattern, plen, addr, alen);
    (void)lg_name_pattern_prefix_len(pattern, plen);
    return 0;
}
