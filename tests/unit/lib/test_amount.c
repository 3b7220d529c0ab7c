/* test_amount: u128 amounts and i128 balances (lib/amount.c).
 *
 * Goal: checked arithmetic never wraps, the decimal text form is strict (no sign, no
 * spaces, no leading zeros except "0") and exact at every boundary (0, 1, 2^64 - 1, 2^64,
 * 2^128 - 1, 2^128; 39 and 40 digits; i128 min and max), and format/parse round-trip.
 * Method: table-driven boundary cases, then a seeded random sweep (LG_TEST_SEED) checking
 * parse(format(x)) == x and format(parse(s)) == s. */
#include <criterion/criterion.h>
#include <string.h>

#include "amount.h"
#include "err.h"
#include "lgt.h"

#define P(lit, out) lg_amount_parse((lit), sizeof(lit) - 1u, (out))
#define PS(lit, out) lg_amount_parse_signed((lit), sizeof(lit) - 1u, (out))

static const lg_u128 TWO_64 = (lg_u128)1 << 64;

static void assert_formats(lg_u128 v, const char *want)
{
    char buf[LG_AMOUNT_TEXT_MAX];
    size_t n = lg_amount_format(v, buf);
    cr_assert_str_eq(buf, want);
    cr_assert_eq(n, strlen(want));
}

Test(amount, add_and_sub_are_checked)
{
    lg_u128 out = 7;
    cr_assert(lg_amount_add(1, 2, &out) && out == 3);
    cr_assert(lg_amount_add(LG_U128_MAX - 1, 1, &out) && out == LG_U128_MAX);
    out = 7;
    cr_assert_not(lg_amount_add(LG_U128_MAX, 1, &out));
    cr_assert(out == 7, "output untouched on overflow");
    cr_assert_not(lg_amount_add(LG_U128_MAX, LG_U128_MAX, &out));
    cr_assert(lg_amount_add(UINT64_MAX, 1, &out) && out == TWO_64);
    cr_assert(lg_amount_sub(5, 5, &out) && out == 0);
    cr_assert(lg_amount_sub(TWO_64, 1, &out) && out == UINT64_MAX);
    out = 9;
    cr_assert_not(lg_amount_sub(4, 5, &out));
    cr_assert(out == 9);
    cr_assert_not(lg_amount_sub(0, LG_U128_MAX, &out));
}

Test(amount, balance_is_signed_and_checked)
{
    lg_i128 b = 1;
    cr_assert(lg_amount_balance(10, 3, &b) && b == 7);
    cr_assert(lg_amount_balance(3, 10, &b) && b == -7);
    cr_assert(lg_amount_balance(0, 0, &b) && b == 0);
    cr_assert(lg_amount_balance((lg_u128)LG_I128_MAX, 0, &b) && b == LG_I128_MAX);
    cr_assert_not(lg_amount_balance((lg_u128)LG_I128_MAX + 1, 0, &b));
    cr_assert(lg_amount_balance(0, (lg_u128)LG_I128_MAX + 1, &b) && b == LG_I128_MIN);
    b = 5;
    cr_assert_not(lg_amount_balance(0, (lg_u128)LG_I128_MAX + 2, &b));
    cr_assert(b == 5);
    cr_assert_not(lg_amount_balance(0, LG_U128_MAX, &b));
    cr_assert(lg_amount_balance(LG_U128_MAX, LG_U128_MAX, &b) && b == 0);
}

Test(amount, parse_boundaries)
{
    lg_u128 v = 0;
    cr_assert_eq(P("0", &v), LG_OK);
    cr_assert(v == 0);
    cr_assert_eq(P("1", &v), LG_OK);
    cr_assert(v == 1);
    cr_assert_eq(P("18446744073709551615", &v), LG_OK);
    cr_assert(v == UINT64_MAX);
    cr_assert_eq(P("18446744073709551616", &v), LG_OK);
    cr_assert(v == TWO_64);
    /* 2^128 - 1 has 39 digits. */
    cr_assert_eq(P("340282366920938463463374607431768211455", &v), LG_OK);
    cr_assert(v == LG_U128_MAX);
    v = 3;
    cr_assert_eq(P("340282366920938463463374607431768211456", &v), LG_EOVERFLOW, "2^128");
    cr_assert(v == 3, "output untouched on error");
    cr_assert_eq(P("999999999999999999999999999999999999999", &v), LG_EOVERFLOW, "39 nines");
    cr_assert_eq(P("1000000000000000000000000000000000000000", &v), LG_EOVERFLOW, "40 digits");
    cr_assert_eq(P("100000000000000000000000000000000000000", &v), LG_OK, "10^38");
}

Test(amount, parse_rejects_non_canonical_text)
{
    lg_u128 v;
    cr_assert_eq(lg_amount_parse("", 0, &v), LG_EBADREQ);
    cr_assert_eq(lg_amount_parse(NULL, 0, &v), LG_EBADREQ);
    cr_assert_eq(P("00", &v), LG_EBADREQ);
    cr_assert_eq(P("01", &v), LG_EBADREQ);
    cr_assert_eq(P("0001000000000000000000000000000000000000000", &v), LG_EBADREQ,
                 "leading zeros are bad_request even when long");
    cr_assert_eq(P("+1", &v), LG_EBADREQ);
    cr_assert_eq(P("-1", &v), LG_EBADREQ);
    cr_assert_eq(P(" 1", &v), LG_EBADREQ);
    cr_assert_eq(P("1 ", &v), LG_EBADREQ);
    cr_assert_eq(P("1.0", &v), LG_EBADREQ);
    cr_assert_eq(P("1e3", &v), LG_EBADREQ);
    cr_assert_eq(P("0x10", &v), LG_EBADREQ);
    cr_assert_eq(lg_amount_parse("12\0", 3, &v), LG_EBADREQ, "embedded NUL");
    cr_assert_eq(lg_amount_parse("123", 2, &v), LG_OK, "length, not NUL, ends the text");
    cr_assert(v == 12);
}

Test(amount, signed_parse)
{
    lg_i128 v = 0;
    cr_assert_eq(PS("0", &v), LG_OK);
    cr_assert(v == 0);
    cr_assert_eq(PS("-12", &v), LG_OK);
    cr_assert(v == -12);
    cr_assert_eq(PS("7", &v), LG_OK);
    cr_assert(v == 7);
    cr_assert_eq(PS("170141183460469231731687303715884105727", &v), LG_OK);
    cr_assert(v == LG_I128_MAX);
    cr_assert_eq(PS("170141183460469231731687303715884105728", &v), LG_EOVERFLOW);
    cr_assert_eq(PS("-170141183460469231731687303715884105728", &v), LG_OK);
    cr_assert(v == LG_I128_MIN);
    cr_assert_eq(PS("-170141183460469231731687303715884105729", &v), LG_EOVERFLOW);
    cr_assert_eq(PS("-0", &v), LG_EBADREQ);
    cr_assert_eq(PS("-", &v), LG_EBADREQ);
    cr_assert_eq(PS("--1", &v), LG_EBADREQ);
    cr_assert_eq(PS("+1", &v), LG_EBADREQ);
    cr_assert_eq(PS("-01", &v), LG_EBADREQ);
    cr_assert_eq(PS("", &v), LG_EBADREQ);
}

Test(amount, format_boundaries)
{
    assert_formats(0, "0");
    assert_formats(1, "1");
    assert_formats(9, "9");
    assert_formats(10, "10");
    assert_formats(UINT64_MAX, "18446744073709551615");
    assert_formats(TWO_64, "18446744073709551616");
    assert_formats((lg_u128)10000000000000000000ull, "10000000000000000000");
    assert_formats((lg_u128)10000000000000000000ull * 10000000000000000000ull,
                   "100000000000000000000000000000000000000");
    assert_formats(LG_U128_MAX, "340282366920938463463374607431768211455");
    char buf[LG_AMOUNT_TEXT_MAX];
    cr_assert_eq(lg_amount_format_signed(LG_I128_MIN, buf), 40u);
    cr_assert_str_eq(buf, "-170141183460469231731687303715884105728");
    lg_amount_format_signed(LG_I128_MAX, buf);
    cr_assert_str_eq(buf, "170141183460469231731687303715884105727");
    lg_amount_format_signed(-1, buf);
    cr_assert_str_eq(buf, "-1");
    lg_amount_format_signed(0, buf);
    cr_assert_str_eq(buf, "0");
}

Test(amount, fits_u64)
{
    cr_assert(lg_amount_fits_u64(0));
    cr_assert(lg_amount_fits_u64(UINT64_MAX));
    cr_assert_not(lg_amount_fits_u64(TWO_64));
    cr_assert_not(lg_amount_fits_u64(LG_U128_MAX));
}

Test(amount, random_round_trips)
{
    struct lgt_rng rng;
    lgt_rng_init(&rng, lgt_seed());
    for (int i = 0; i < 20000; i++) {
        lg_u128 x = ((lg_u128)lgt_rng_next(&rng) << 64) | lgt_rng_next(&rng);
        x >>= lgt_rng_below(&rng, 128);
        char buf[LG_AMOUNT_TEXT_MAX];
        size_t n = lg_amount_format(x, buf);
        lg_u128 y;
        cr_assert_eq(lg_amount_parse(buf, n, &y), LG_OK, "%s", buf);
        cr_assert(x == y, "%s", buf);
        lg_i128 s = (lg_i128)x;
        n = lg_amount_format_signed(s, buf);
        lg_i128 t;
        cr_assert_eq(lg_amount_parse_signed(buf, n, &t), LG_OK, "%s", buf);
        cr_assert(s == t, "%s", buf);
    }
}
