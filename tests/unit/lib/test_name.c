/* test_name: ledger, address, asset and pattern rules (lib/name.c, DESIGN §5).
 *
 * Goal: every rule's boundary is exact (ledger 64/65 bytes, address 256/257 bytes, asset
 * 16/17 name characters and 1-2 scale digits), invalid input gets LG_EBADREQ with a
 * message naming the field and the byte offset, '*' is only accepted as a whole pattern
 * segment, and pattern prefix/matching behave as documented. Method: table-driven cases
 * with exact expected messages, plus every byte value tried in each position class. */
#include <criterion/criterion.h>
#include <string.h>

#include "err.h"
#include "limits.h"
#include "name.h"

#define L(lit) (lit), (sizeof(lit) - 1u)

static char msg[LG_ERRMSG_SIZE];

Test(name, ledger_rules)
{
    cr_assert_eq(lg_name_check_ledger(L("main"), NULL, msg), LG_OK);
    cr_assert_eq(lg_name_check_ledger(L("a-b_c-09"), NULL, msg), LG_OK);
    char buf[LG_LEDGER_BYTES_MAX + 1];
    memset(buf, 'a', sizeof buf);
    cr_assert_eq(lg_name_check_ledger(buf, LG_LEDGER_BYTES_MAX, NULL, msg), LG_OK);
    cr_assert_eq(lg_name_check_ledger(buf, LG_LEDGER_BYTES_MAX + 1, NULL, msg), LG_EBADREQ);
    cr_assert_str_eq(msg, "ledger: 65 bytes, at most 64");
    cr_assert_eq(lg_name_check_ledger("", 0, "req.ledger", msg), LG_EBADREQ);
    cr_assert_str_eq(msg, "req.ledger: must not be empty");
    cr_assert_eq(lg_name_check_ledger(L("Main"), NULL, msg), LG_EBADREQ);
    cr_assert_str_eq(msg, "ledger: invalid character 'M' at byte 0 (allowed: [a-z0-9_-])");
    cr_assert_eq(lg_name_check_ledger(L("a:b"), NULL, msg), LG_EBADREQ);
    cr_assert_eq(lg_name_check_ledger(L("a\x01"), NULL, msg), LG_EBADREQ);
    cr_assert_str_eq(msg, "ledger: invalid character 0x01 at byte 1 (allowed: [a-z0-9_-])");
    cr_assert_eq(lg_name_check_ledger(L("a b"), NULL, NULL), LG_EBADREQ, "errmsg may be NULL");
}

Test(name, address_rules)
{
    cr_assert_eq(lg_name_check_address(L("world"), NULL, msg), LG_OK);
    cr_assert_eq(lg_name_check_address(L("users:42:main"), NULL, msg), LG_OK);
    cr_assert_eq(lg_name_check_address(L("A-z_0:9"), NULL, msg), LG_OK);
    char buf[LG_ADDRESS_BYTES_MAX + 1];
    memset(buf, 'a', sizeof buf);
    buf[100] = ':';
    cr_assert_eq(lg_name_check_address(buf, 256, NULL, msg), LG_OK);
    cr_assert_eq(lg_name_check_address(buf, 257, "source", msg), LG_EBADREQ);
    cr_assert_str_eq(msg, "source: 257 bytes, at most 256");
    cr_assert_eq(lg_name_check_address("", 0, NULL, msg), LG_EBADREQ);
    cr_assert_str_eq(msg, "address: must not be empty");
    cr_assert_eq(lg_name_check_address(L("users::x"), NULL, msg), LG_EBADREQ);
    cr_assert_str_eq(msg, "address: empty segment at byte 6");
    cr_assert_eq(lg_name_check_address(L(":a"), NULL, msg), LG_EBADREQ);
    cr_assert_str_eq(msg, "address: empty segment at byte 0");
    cr_assert_eq(lg_name_check_address(L("a:"), NULL, msg), LG_EBADREQ);
    cr_assert_str_eq(msg, "address: empty segment at byte 2");
    cr_assert_eq(lg_name_check_address(L(":"), NULL, msg), LG_EBADREQ);
    cr_assert_eq(lg_name_check_address(L("users:*"), "destination", msg), LG_EBADREQ);
    cr_assert_str_eq(msg, "destination: '*' at byte 6: wildcards are only allowed in patterns");
    cr_assert_eq(lg_name_check_address(L("a.b"), NULL, msg), LG_EBADREQ);
    cr_assert_str_eq(msg, "address: invalid character '.' at byte 1 (allowed: [A-Za-z0-9_-] "
                          "and ':' between segments)");
    cr_assert_eq(lg_name_check_address(L("caf\xc3\xa9"), NULL, msg), LG_EBADREQ);
    cr_assert(strstr(msg, "0xc3 at byte 3") != NULL, "%s", msg);
}

Test(name, every_byte_value_in_an_address)
{
    for (unsigned c = 0; c < 256; c++) {
        char s[3] = {'a', (char)c, 'b'};
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == ':';
        int want = ok ? LG_OK : LG_EBADREQ;
        cr_assert_eq(lg_name_check_address(s, 3, NULL, msg), want, "byte 0x%02x", c);
        int want_ledger = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                                  c == '-'
                              ? LG_OK
                              : LG_EBADREQ;
        cr_assert_eq(lg_name_check_ledger(s, 3, NULL, msg), want_ledger, "byte 0x%02x", c);
    }
}

Test(name, asset_rules)
{
    cr_assert_eq(lg_name_check_asset(L("USD"), NULL, msg), LG_OK);
    cr_assert_eq(lg_name_check_asset(L("USD/2"), NULL, msg), LG_OK);
    cr_assert_eq(lg_name_check_asset(L("BTC/18"), NULL, msg), LG_OK);
    cr_assert_eq(lg_name_check_asset(L("X"), NULL, msg), LG_OK);
    cr_assert_eq(lg_name_check_asset(L("A1B2"), NULL, msg), LG_OK);
    cr_assert_eq(lg_name_check_asset(L("ABCDEFGHIJKLMNOP"), NULL, msg), LG_OK, "16 chars");
    cr_assert_eq(lg_name_check_asset(L("ABCDEFGHIJKLMNOP/99"), NULL, msg), LG_OK, "19 bytes");
    cr_assert_eq(lg_name_check_asset(L("ABCDEFGHIJKLMNOPQ"), "asset", msg), LG_EBADREQ,
                 "17 chars");
    cr_assert_str_eq(msg, "asset: must match [A-Z][A-Z0-9]{0,15}(/[0-9]{1,2})? (name longer "
                          "than 16 at byte 16)");
    cr_assert_eq(lg_name_check_asset(L("USD/123"), NULL, msg), LG_EBADREQ);
    cr_assert_str_eq(msg, "asset: must match [A-Z][A-Z0-9]{0,15}(/[0-9]{1,2})? (scale longer "
                          "than 2 digits at byte 6)");
    cr_assert_eq(lg_name_check_asset(L("usd"), "postings[1].asset", msg), LG_EBADREQ);
    cr_assert_str_eq(msg, "postings[1].asset: must match [A-Z][A-Z0-9]{0,15}(/[0-9]{1,2})? "
                          "(invalid at byte 0)");
    cr_assert_eq(lg_name_check_asset(L("USd"), NULL, msg), LG_EBADREQ);
    cr_assert(strstr(msg, "(invalid at byte 2)") != NULL, "%s", msg);
    cr_assert_eq(lg_name_check_asset(L("1USD"), NULL, msg), LG_EBADREQ);
    cr_assert_eq(lg_name_check_asset(L("USD/"), NULL, msg), LG_EBADREQ);
    cr_assert(strstr(msg, "missing scale digits at byte 4") != NULL, "%s", msg);
    cr_assert_eq(lg_name_check_asset(L("USD/2a"), NULL, msg), LG_EBADREQ);
    cr_assert_eq(lg_name_check_asset(L("USD/A"), NULL, msg), LG_EBADREQ);
    cr_assert_eq(lg_name_check_asset(L("USD//2"), NULL, msg), LG_EBADREQ);
    cr_assert_eq(lg_name_check_asset(L("US D"), NULL, msg), LG_EBADREQ);
    cr_assert_eq(lg_name_check_asset("", 0, NULL, msg), LG_EBADREQ);
    cr_assert_eq(lg_name_check_asset(L("/2"), NULL, msg), LG_EBADREQ);
}

Test(name, pattern_rules)
{
    cr_assert_eq(lg_name_check_pattern(L("users:*:main"), NULL, msg), LG_OK);
    cr_assert_eq(lg_name_check_pattern(L("*"), NULL, msg), LG_OK);
    cr_assert_eq(lg_name_check_pattern(L("*:*"), NULL, msg), LG_OK);
    cr_assert_eq(lg_name_check_pattern(L("users:1"), NULL, msg), LG_OK, "no wildcard is fine");
    cr_assert_eq(lg_name_check_pattern(L("users*"), NULL, msg), LG_EBADREQ);
    cr_assert_str_eq(msg, "pattern: '*' at byte 5 must be a whole segment");
    cr_assert_eq(lg_name_check_pattern(L("users:*x"), NULL, msg), LG_EBADREQ);
    cr_assert_eq(lg_name_check_pattern(L("users:**"), NULL, msg), LG_EBADREQ);
    cr_assert_eq(lg_name_check_pattern(L("users::*"), NULL, msg), LG_EBADREQ);
    cr_assert_str_eq(msg, "pattern: empty segment at byte 6");
    cr_assert_eq(lg_name_check_pattern("", 0, NULL, msg), LG_EBADREQ);
}

Test(name, world)
{
    cr_assert(lg_name_is_world(L("world")));
    cr_assert_not(lg_name_is_world(L("World")));
    cr_assert_not(lg_name_is_world(L("world:x")));
    cr_assert_not(lg_name_is_world(L("worl")));
    cr_assert_not(lg_name_is_world("", 0));
}

Test(name, pattern_prefix_and_wildcard)
{
    cr_assert_eq(lg_name_pattern_prefix_len(L("users:*:main")), 6u);
    cr_assert_eq(lg_name_pattern_prefix_len(L("*")), 0u);
    cr_assert_eq(lg_name_pattern_prefix_len(L("*:a")), 0u);
    cr_assert_eq(lg_name_pattern_prefix_len(L("a:b:*")), 4u);
    cr_assert_eq(lg_name_pattern_prefix_len(L("a:b")), 3u);
    cr_assert(lg_name_pattern_has_wildcard(L("a:*")));
    cr_assert_not(lg_name_pattern_has_wildcard(L("a:b")));
    cr_assert_not(lg_name_pattern_has_wildcard("", 0));
}

Test(name, pattern_match)
{
    cr_assert(lg_name_pattern_match(L("users:*:main"), L("users:42:main")));
    cr_assert_not(lg_name_pattern_match(L("users:*:main"), L("users:42:x:main")));
    cr_assert_not(lg_name_pattern_match(L("users:*:main"), L("users:42")));
    cr_assert_not(lg_name_pattern_match(L("users:*:main"), L("users:42:mainx")));
    cr_assert(lg_name_pattern_match(L("*"), L("world")));
    cr_assert_not(lg_name_pattern_match(L("*"), L("a:b")));
    cr_assert(lg_name_pattern_match(L("*:*"), L("a:b")));
    cr_assert(lg_name_pattern_match(L("a:b"), L("a:b")));
    cr_assert_not(lg_name_pattern_match(L("a:b"), L("a:c")));
    cr_assert_not(lg_name_pattern_match(L("a:b"), L("a:bc")));
    cr_assert_not(lg_name_pattern_match(L("ab"), L("a")));
    cr_assert(lg_name_pattern_match(L("*:x:*"), L("1:x:2")));
    cr_assert_not(lg_name_pattern_match(L("*:x:*"), L("1:y:2")));
}
