/* amount: unsigned 128-bit money amounts and signed balances, checked arithmetic only.
 *
 * Amounts are u128 (DESIGN §5). Nothing wraps: every operation that could overflow
 * reports it and leaves its output untouched. Text form is plain decimal, no sign for
 * amounts, an optional leading '-' for balances, no leading '+', no spaces, no leading
 * zeros except "0". */
#ifndef LG_AMOUNT_H
#define LG_AMOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* -Wpedantic rejects __int128 without __extension__. */
__extension__ typedef unsigned __int128 lg_u128;
__extension__ typedef __int128 lg_i128;

#define LG_U128_MAX (~(lg_u128)0)
#define LG_I128_MAX ((lg_i128)(LG_U128_MAX >> 1))
#define LG_I128_MIN (-LG_I128_MAX - 1)

/* Decimal text of the largest u128 has 39 digits; a balance adds a sign; plus NUL. */
#define LG_AMOUNT_TEXT_MAX 41u

/* Checked arithmetic: return true and set *out on success, false (out untouched) on
 * overflow. */
bool lg_amount_add(lg_u128 a, lg_u128 b, lg_u128 *out);
bool lg_amount_sub(lg_u128 a, lg_u128 b, lg_u128 *out); /* false if b > a */

/* balance = input - output as a signed value; false if it does not fit in i128. */
bool lg_amount_balance(lg_u128 input, lg_u128 output, lg_i128 *out);

/* Parse decimal text (len bytes, not NUL-terminated). Returns LG_OK, LG_EBADREQ (empty,
 * non-digit, sign, leading zero) or LG_EOVERFLOW (> 2^128 - 1). */
int lg_amount_parse(const char *s, size_t len, lg_u128 *out);

/* Parse a signed balance text ("-12", "7"). LG_OK, LG_EBADREQ, LG_EOVERFLOW. */
int lg_amount_parse_signed(const char *s, size_t len, lg_i128 *out);

/* Format into buf (at least LG_AMOUNT_TEXT_MAX bytes); returns the length written
 * (without the NUL). */
size_t lg_amount_format(lg_u128 v, char *buf);
size_t lg_amount_format_signed(lg_i128 v, char *buf);

/* True when v fits in 64 bits (the wire then uses a msgpack integer, else a string). */
bool lg_amount_fits_u64(lg_u128 v);

#endif /* LG_AMOUNT_H */
