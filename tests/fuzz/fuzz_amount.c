/* fuzz_amount: lg_amount_parse / lg_amount_parse_signed on arbitrary bytes.
 * Properties: never crash; whatever parses formats back to the very same text (the text
 * form is canonical); the arithmetic helpers agree with each other on parsed values. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "amount.h"
#include "err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    char buf[LG_AMOUNT_TEXT_MAX];
    lg_u128 v = 0;
    int rc = lg_amount_parse(s, size, &v);
    if (rc != LG_OK && rc != LG_EBADREQ && rc != LG_EOVERFLOW) {
        abort();
    }
    if (rc == LG_OK) {
        size_t n = lg_amount_format(v, buf);
        if (n != size || memcmp(buf, s, n) != 0) {
            abort();
        }
        lg_u128 sum;
        lg_u128 back;
        if (lg_amount_add(v, v, &sum) && (!lg_amount_sub(sum, v, &back) || back != v)) {
            abort();
        }
        lg_i128 bal;
        if (lg_amount_balance(v, v, &bal) && bal != 0) {
            abort();
        }
    }
    lg_i128 sv = 0;
    rc = lg_amount_parse_signed(s, size, &sv);
    if (rc != LG_OK && rc != LG_EBADREQ && rc != LG_EOVERFLOW) {
        abort();
    }
    if (rc == LG_OK) {
        size_t n = lg_amount_format_signed(sv, buf);
        if (n != size || memcmp(buf, s, n) != 0) {
            abort();
        }
    }
    return 0;
}
