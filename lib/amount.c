/* amount: checked u128 arithmetic, signed balances and the strict decimal text form. */
#include "amount.h"

#include "assert.h"
#include "err.h"

/* 10^19: the largest power of ten below 2^64, used to format u128 in two u64 steps. */
#define AMOUNT_POW10_19 10000000000000000000ull

/* Largest digit count of a u128 (2^128 - 1 has 39 digits). */
#define AMOUNT_DIGITS_MAX 39u

LG_STATIC_ASSERT(LG_AMOUNT_TEXT_MAX >= AMOUNT_DIGITS_MAX + 2u, "room for sign, digits, NUL");

/* a + b into *out. Returns false (out untouched) when the sum exceeds 2^128 - 1. */
bool lg_amount_add(lg_u128 a, lg_u128 b, lg_u128 *out)
{
    LG_PRE(out != NULL);
    lg_u128 sum = a + b;
    if (sum < a) {
        return false;
    }
    *out = sum;
    return true;
}

/* a - b into *out. Returns false (out untouched) when b > a. */
bool lg_amount_sub(lg_u128 a, lg_u128 b, lg_u128 *out)
{
    LG_PRE(out != NULL);
    if (b > a) {
        return false;
    }
    *out = a - b;
    return true;
}

/* input - output as a signed i128. Returns false when the difference is outside
 * [-2^127, 2^127 - 1]. */
bool lg_amount_balance(lg_u128 input, lg_u128 output, lg_i128 *out)
{
    LG_PRE(out != NULL);
    if (input >= output) {
        lg_u128 diff = input - output;
        if (diff > (lg_u128)LG_I128_MAX) {
            return false;
        }
        *out = (lg_i128)diff;
        return true;
    }
    lg_u128 diff = output - input;
    lg_u128 min_magnitude = (lg_u128)LG_I128_MAX + 1u;
    if (diff > min_magnitude) {
        return false;
    }
    /* -diff computed without overflowing i128: -(diff - 1) - 1. */
    *out = -(lg_i128)(diff - 1u) - 1;
    return true;
}

/* Parse an unsigned magnitude of decimal digits (the shared body of both parsers) up to
 * max. Returns LG_OK, LG_EBADREQ (empty, non-digit, leading zero) or LG_EOVERFLOW. */
static int amount_parse_magnitude(const char *s, size_t len, lg_u128 max, lg_u128 *out)
{
    if (len == 0) {
        return LG_EBADREQ;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return LG_EBADREQ;
        }
    }
    if (s[0] == '0' && len > 1) {
        return LG_EBADREQ;
    }
    if (len > AMOUNT_DIGITS_MAX) {
        return LG_EOVERFLOW;
    }
    lg_u128 v = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned digit = (unsigned)(s[i] - '0');
        if (v > (max - digit) / 10u) {
            return LG_EOVERFLOW;
        }
        v = v * 10u + digit;
    }
    *out = v;
    return LG_OK;
}

/* Parse a non-negative amount: digits only, no sign, no leading zeros except "0".
 * Returns LG_OK, LG_EBADREQ or LG_EOVERFLOW (value > 2^128 - 1); out untouched on error. */
int lg_amount_parse(const char *s, size_t len, lg_u128 *out)
{
    LG_PRE(out != NULL);
    LG_PRE(s != NULL || len == 0);
    return amount_parse_magnitude(s, len, LG_U128_MAX, out);
}

/* Parse a signed balance: an optional '-' then an amount; "-0" is not canonical and is
 * LG_EBADREQ. Returns LG_OK, LG_EBADREQ or LG_EOVERFLOW (outside i128). */
int lg_amount_parse_signed(const char *s, size_t len, lg_i128 *out)
{
    LG_PRE(out != NULL);
    LG_PRE(s != NULL || len == 0);
    bool negative = len > 0 && s[0] == '-';
    const char *digits = negative ? s + 1 : s;
    size_t ndigits = negative ? len - 1 : len;
    lg_u128 max = negative ? (lg_u128)LG_I128_MAX + 1u : (lg_u128)LG_I128_MAX;
    lg_u128 magnitude = 0;
    int rc = amount_parse_magnitude(digits, ndigits, max, &magnitude);
    if (rc != LG_OK) {
        return rc;
    }
    if (negative && magnitude == 0) {
        return LG_EBADREQ;
    }
    *out = negative ? -(lg_i128)(magnitude - 1u) - 1 : (lg_i128)magnitude;
    return LG_OK;
}

/* Write the decimal digits of v backwards ending at end; returns the first digit. */
static char *amount_digits_backwards(uint64_t v, char *end, unsigned min_digits)
{
    unsigned n = 0;
    do {
        *--end = (char)('0' + (v % 10u));
        v /= 10u;
        n++;
    } while (v != 0 || n < min_digits);
    return end;
}

/* Format v as decimal into buf (LG_AMOUNT_TEXT_MAX bytes), NUL-terminated. Returns the
 * length without the NUL. */
size_t lg_amount_format(lg_u128 v, char *buf)
{
    LG_PRE(buf != NULL);
    char tmp[LG_AMOUNT_TEXT_MAX];
    char *end = tmp + sizeof tmp;
    char *start;
    if (v <= UINT64_MAX) {
        start = amount_digits_backwards((uint64_t)v, end, 1);
    } else {
        /* Two divisions by 10^19 split v into at most three u64 groups of 19 digits. */
        uint64_t low = (uint64_t)(v % AMOUNT_POW10_19);
        lg_u128 rest = v / AMOUNT_POW10_19;
        start = amount_digits_backwards(low, end, 19);
        if (rest > UINT64_MAX) {
            uint64_t mid = (uint64_t)(rest % AMOUNT_POW10_19);
            start = amount_digits_backwards(mid, start, 19);
            rest /= AMOUNT_POW10_19;
        }
        start = amount_digits_backwards((uint64_t)rest, start, 1);
    }
    size_t n = (size_t)(end - start);
    LG_POST(n >= 1 && n <= AMOUNT_DIGITS_MAX);
    for (size_t i = 0; i < n; i++) {
        buf[i] = start[i];
    }
    buf[n] = '\0';
    return n;
}

/* Format a signed balance ("-12", "0", "7") into buf (LG_AMOUNT_TEXT_MAX bytes). Returns
 * the length without the NUL. */
size_t lg_amount_format_signed(lg_i128 v, char *buf)
{
    LG_PRE(buf != NULL);
    if (v >= 0) {
        return lg_amount_format((lg_u128)v, buf);
    }
    /* |v| without overflow for LG_I128_MIN: (u128)(-(v + 1)) + 1. */
    lg_u128 magnitude = (lg_u128)(-(v + 1)) + 1u;
    buf[0] = '-';
    return 1u + lg_amount_format(magnitude, buf + 1);
}

/* True when v fits in 64 bits. */
bool lg_amount_fits_u64(lg_u128 v)
{
    return v <= UINT64_MAX;
}
