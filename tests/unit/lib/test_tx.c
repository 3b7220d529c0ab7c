/* test_tx: a transaction's parts and their validation (lib/tx.c), shared by both codecs.
 *
 * Goal: each check accepts what both codecs accept and rejects the rest with the exact
 * code and a message naming the field path, with or without a prefix ("cmds[3]",
 * "txs[2]"); metadata is checked unique in any order or strictly sorted; UTF-8 rejects
 * overlong forms, surrogates, code points above U+10FFFF and truncated sequences; long
 * paths and quotes are cut, never overrun. Method: small literal cases with exact expected
 * messages, plus every limit at its boundary. */
#include <criterion/criterion.h>
#include <string.h>

#include "err.h"
#include "limits.h"
#include "name.h"
#include "tx.h"

#define S(lit) ((struct lg_str){(lit), sizeof(lit) - 1u})

static char msg[LG_ERRMSG_SIZE];

static struct lg_posting posting(const char *src, const char *dst, lg_u128 amount,
                                 const char *asset)
{
    struct lg_posting p = {
        {src, (uint32_t)strlen(src)},
        {dst, (uint32_t)strlen(dst)},
        amount,
        {asset, (uint32_t)strlen(asset)},
    };
    return p;
}

Test(tx, paths_join_the_prefix)
{
    struct lg_tx_ctx c = {msg, ""};
    char path[LG_TX_PATH_BYTES];
    lg_tx_path(&c, path, sizeof path, "postings[%u].asset", 1u);
    cr_assert_str_eq(path, "postings[1].asset");
    lg_tx_ctx_prefix(&c, "cmds[%u]", 3u);
    lg_tx_path(&c, path, sizeof path, "postings[%u].asset", 1u);
    cr_assert_str_eq(path, "cmds[3].postings[1].asset");
    lg_tx_path(&c, path, sizeof path, "%s", "");
    cr_assert_str_eq(path, "cmds[3]");
    cr_assert_eq(lg_tx_fail(&c, LG_EBADREQ, "truncated", "%s", ""), LG_EBADREQ);
    cr_assert_str_eq(msg, "cmds[3]: truncated");
    cr_assert_eq(lg_tx_failf(&c, LG_ETOOLARGE, "v", "%u, at most %u", 5u, 4u), LG_ETOOLARGE);
    cr_assert_str_eq(msg, "cmds[3].v: 5, at most 4");
    struct lg_tx_ctx bare = {msg, ""};
    cr_assert_eq(lg_tx_fail(&bare, LG_EBADREQ, "malformed", "%s", ""), LG_EBADREQ);
    cr_assert_str_eq(msg, "malformed");
}

Test(tx, index_prefix_is_the_printf_one)
{
    uint32_t is[] = {0, 7, 10, 99, 4095, 4096, 123456789, UINT32_MAX};
    for (size_t k = 0; k < sizeof is / sizeof is[0]; k++) {
        struct lg_tx_ctx a = {msg, ""};
        struct lg_tx_ctx b = {msg, ""};
        lg_tx_ctx_prefix(&a, "cmds[%u]", is[k]);
        lg_tx_ctx_prefix_index(&b, "cmds", is[k]);
        cr_assert_str_eq(b.prefix, a.prefix);
        lg_tx_ctx_prefix(&a, "txs[%u]", is[k]);
        lg_tx_ctx_prefix_index(&b, "txs", is[k]);
        cr_assert_str_eq(b.prefix, a.prefix);
    }
}

Test(tx, long_paths_are_cut)
{
    struct lg_tx_ctx c = {msg, ""};
    char field[300];
    memset(field, 'f', sizeof field - 1);
    field[sizeof field - 1] = '\0';
    lg_tx_ctx_prefix(&c, "%s", field);
    cr_assert_eq(strlen(c.prefix), LG_TX_PREFIX_BYTES - 1u);
    char path[16];
    lg_tx_path(&c, path, sizeof path, "%s", field);
    cr_assert_eq(strlen(path), sizeof path - 1u);
    lg_tx_path_printf(path, sizeof path, "%s.%s", "a", field);
    cr_assert_eq(strlen(path), sizeof path - 1u);
    cr_assert(strncmp(path, "a.fff", 5) == 0, "%s", path);
    cr_assert_eq(lg_tx_fail(&c, LG_EBADREQ, "bad", "%s", field), LG_EBADREQ);
    cr_assert_lt(strlen(msg), (size_t)LG_ERRMSG_SIZE);
}

Test(tx, names_carry_the_path)
{
    struct lg_tx_ctx c = {msg, "txs[2]"};
    cr_assert_eq(lg_tx_check_name(&c, lg_name_check_asset, S("USD/2"), "asset"), LG_OK);
    cr_assert_eq(lg_tx_check_name(&c, lg_name_check_asset, S("usd"), "x[%u].asset", 4u),
                 LG_EBADREQ);
    cr_assert(strncmp(msg, "txs[2].x[4].asset: ", 19) == 0, "%s", msg);
}

Test(tx, strings_compare_by_bytes)
{
    cr_assert_lt(lg_tx_str_cmp(S("a"), S("ab")), 0);
    cr_assert_gt(lg_tx_str_cmp(S("b"), S("ab")), 0);
    cr_assert_eq(lg_tx_str_cmp(S(""), S("")), 0);
    cr_assert_eq(lg_tx_str_cmp((struct lg_str){NULL, 0}, S("")), 0);
    cr_assert(lg_tx_str_eq(S("abc"), S("abc")));
    cr_assert(!lg_tx_str_eq(S("abc"), S("abd")));
    cr_assert(lg_tx_str_eq((struct lg_str){NULL, 0}, S("")));
}

Test(tx, quote_is_printable_and_bounded)
{
    char q[LG_TX_QUOTE_BYTES];
    lg_tx_quote(S("a\"b\n\xff"), q);
    cr_assert_str_eq(q, "a?b??");
    char big[100];
    memset(big, 'k', sizeof big);
    lg_tx_quote((struct lg_str){big, sizeof big}, q);
    cr_assert_eq(strlen(q), 43u);
    cr_assert_str_eq(q + 40, "...");
}

Test(tx, utf8_rules)
{
    cr_assert(lg_tx_utf8_valid("", 0));
    cr_assert(lg_tx_utf8_valid(NULL, 0));
    cr_assert(lg_tx_utf8_valid("caf\xc3\xa9", 5));
    cr_assert(lg_tx_utf8_valid("\xe2\x82\xac", 3));         /* U+20AC */
    cr_assert(lg_tx_utf8_valid("\xf0\x9f\x98\x80", 4));     /* U+1F600 */
    cr_assert(lg_tx_utf8_valid("\xf4\x8f\xbf\xbf", 4));     /* U+10FFFF */
    cr_assert(lg_tx_utf8_valid("\xed\x9f\xbf", 3));         /* U+D7FF */
    cr_assert(!lg_tx_utf8_valid("\xc0\x80", 2));            /* overlong NUL */
    cr_assert(!lg_tx_utf8_valid("\xc1\xbf", 2));            /* overlong */
    cr_assert(!lg_tx_utf8_valid("\xe0\x9f\xbf", 3));        /* overlong 3-byte */
    cr_assert(!lg_tx_utf8_valid("\xf0\x8f\xbf\xbf", 4));    /* overlong 4-byte */
    cr_assert(!lg_tx_utf8_valid("\xed\xa0\x80", 3));        /* surrogate U+D800 */
    cr_assert(!lg_tx_utf8_valid("\xf4\x90\x80\x80", 4));    /* U+110000 */
    cr_assert(!lg_tx_utf8_valid("\xf8\x88\x80\x80\x80", 5)); /* 5-byte form */
    cr_assert(!lg_tx_utf8_valid("\x80", 1));                /* lone continuation */
    cr_assert(!lg_tx_utf8_valid("\xe2\x82", 2));            /* truncated */
    cr_assert(!lg_tx_utf8_valid("\xe2\x28\xa1", 3));        /* bad continuation */
}

Test(tx, postings)
{
    struct lg_tx_ctx c = {msg, ""};
    struct lg_posting p[2] = {posting("world", "users:1", 10, "USD/2"),
                              posting("users:1", "users:2", 1, "EUR")};
    cr_assert_eq(lg_tx_check_postings(&c, p, 2), LG_OK);
    cr_assert_eq(lg_tx_check_postings(&c, p, 0), LG_EBADREQ);
    cr_assert_str_eq(msg, "postings: must not be empty");
    cr_assert_eq(lg_tx_check_postings(&c, p, LG_POSTINGS_MAX + 1u), LG_ETOOLARGE);
    cr_assert_str_eq(msg, "postings: 1025 postings, at most 1024");
    p[1].amount = 0;
    cr_assert_eq(lg_tx_check_postings(&c, p, 2), LG_EBADREQ);
    cr_assert_str_eq(msg, "postings[1].amount: must be greater than 0");
    lg_tx_ctx_prefix(&c, "cmds[%u]", 7u);
    cr_assert_eq(lg_tx_check_postings(&c, p, 2), LG_EBADREQ);
    cr_assert_str_eq(msg, "cmds[7].postings[1].amount: must be greater than 0");
    p[1] = posting("users:1", "users:1", 1, "EUR");
    cr_assert_eq(lg_tx_check_postings(&c, p, 2), LG_EBADREQ);
    cr_assert_str_eq(msg, "cmds[7].postings[1]: source and destination are the same account");
    p[1] = posting("users:1", "users 2", 1, "EUR");
    cr_assert_eq(lg_tx_check_postings(&c, p, 2), LG_EBADREQ);
    cr_assert(strncmp(msg, "cmds[7].postings[1].destination: ", 33) == 0, "%s", msg);
    p[1] = posting("users:1", "users:2", 1, "eur");
    cr_assert_eq(lg_tx_check_postings(&c, p, 2), LG_EBADREQ);
    cr_assert(strncmp(msg, "cmds[7].postings[1].asset: ", 27) == 0, "%s", msg);
    p[0] = posting("", "users:2", 1, "EUR");
    cr_assert_eq(lg_tx_check_postings(&c, p, 2), LG_EBADREQ);
    cr_assert(strncmp(msg, "cmds[7].postings[0].source: ", 28) == 0, "%s", msg);
}

Test(tx, metadata_any_order_unique)
{
    struct lg_tx_ctx c = {msg, "txs[0]"};
    struct lg_kv kv[3] = {{S("b"), S("1")}, {S("a"), S("")}, {S("c"), S("caf\xc3\xa9")}};
    cr_assert_eq(lg_tx_check_metadata(&c, kv, 3, LG_TX_META_ANY, "metadata"), LG_OK);
    cr_assert_eq(lg_tx_check_metadata(&c, NULL, 0, LG_TX_META_ANY, "metadata"), LG_OK);
    kv[2].key = S("b");
    cr_assert_eq(lg_tx_check_metadata(&c, kv, 3, LG_TX_META_ANY, "metadata"), LG_EBADREQ);
    cr_assert_str_eq(msg, "txs[0].metadata: duplicate key \"b\"");
    kv[2].key = S("");
    cr_assert_eq(lg_tx_check_metadata(&c, kv, 3, LG_TX_META_ANY, "metadata"), LG_EBADREQ);
    cr_assert_str_eq(msg, "txs[0].metadata: key must not be empty");
    kv[2].key = S("k\xff");
    cr_assert_eq(lg_tx_check_metadata(&c, kv, 3, LG_TX_META_ANY, "metadata"), LG_EBADREQ);
    cr_assert_str_eq(msg, "txs[0].metadata: key \"k?\" is not valid UTF-8");
    kv[2].key = S("k");
    kv[2].value = S("\xed\xa0\x80");
    cr_assert_eq(lg_tx_check_metadata(&c, kv, 3, LG_TX_META_ANY, "metadata"), LG_EBADREQ);
    cr_assert_str_eq(msg, "txs[0].metadata: value of \"k\" is not valid UTF-8");
}

Test(tx, metadata_limits)
{
    struct lg_tx_ctx c = {msg, ""};
    static char key[LG_METADATA_KEY_BYTES_MAX + 1];
    static char value[LG_METADATA_VALUE_BYTES_MAX + 1];
    memset(key, 'k', sizeof key);
    memset(value, 'v', sizeof value);
    struct lg_kv kv = {{key, LG_METADATA_KEY_BYTES_MAX}, {value, LG_METADATA_VALUE_BYTES_MAX}};
    cr_assert_eq(lg_tx_check_metadata(&c, &kv, 1, LG_TX_META_SORTED, "m"), LG_OK);
    kv.key.len++;
    cr_assert_eq(lg_tx_check_metadata(&c, &kv, 1, LG_TX_META_SORTED, "m"), LG_ETOOLARGE);
    cr_assert(strstr(msg, "...\" is 129 bytes, at most 128") != NULL, "%s", msg);
    cr_assert(strncmp(msg, "m: key \"kkk", 11) == 0, "%s", msg);
    kv.key = S("k0");
    kv.value.len++;
    cr_assert_eq(lg_tx_check_metadata(&c, &kv, 1, LG_TX_META_ANY, "m"), LG_ETOOLARGE);
    cr_assert_str_eq(msg, "m: value of \"k0\" is 4097 bytes, at most 4096");
    struct lg_kv many[LG_METADATA_ENTRIES_MAX + 1];
    char names[LG_METADATA_ENTRIES_MAX + 1][4];
    for (unsigned i = 0; i <= LG_METADATA_ENTRIES_MAX; i++) {
        names[i][0] = (char)('A' + i / 26);
        names[i][1] = (char)('a' + i % 26);
        many[i] = (struct lg_kv){{names[i], 2}, S("")};
    }
    cr_assert_eq(lg_tx_check_metadata(&c, many, LG_METADATA_ENTRIES_MAX, LG_TX_META_SORTED,
                                      "m"),
                 LG_OK);
    cr_assert_eq(lg_tx_check_metadata(&c, many, LG_METADATA_ENTRIES_MAX + 1u, LG_TX_META_ANY,
                                      "m"),
                 LG_ETOOLARGE);
    cr_assert_str_eq(msg, "m: 65 entries, at most 64");
}

Test(tx, metadata_sorted)
{
    struct lg_tx_ctx c = {msg, "cmds[0]"};
    struct lg_kv kv[3] = {{S("a"), S("")}, {S("ab"), S("")}, {S("b"), S("")}};
    cr_assert_eq(lg_tx_check_metadata(&c, kv, 3, LG_TX_META_SORTED, "metadata"), LG_OK);
    kv[2].key = S("ab");
    cr_assert_eq(lg_tx_check_metadata(&c, kv, 3, LG_TX_META_SORTED, "metadata"), LG_EBADREQ);
    cr_assert_str_eq(msg, "cmds[0].metadata[2]: keys not sorted by bytes or duplicate");
    kv[2].key = S("aa");
    cr_assert_eq(lg_tx_check_metadata(&c, kv, 3, LG_TX_META_SORTED, "metadata"), LG_EBADREQ);
    cr_assert_str_eq(msg, "cmds[0].metadata[2]: keys not sorted by bytes or duplicate");
    cr_assert_eq(lg_tx_check_metadata(&c, kv, 3, LG_TX_META_ANY, "metadata"), LG_OK);
}

Test(tx, metadata_order)
{
    struct lg_kv kv[4] = {{S("c"), S("")}, {S("a"), S("")}, {S("b"), S("")}, {S("ab"), S("")}};
    uint8_t idx[4];
    cr_assert_eq(lg_tx_metadata_order(kv, 4, idx), 4u);
    cr_assert_eq(idx[0], 1);
    cr_assert_eq(idx[1], 3);
    cr_assert_eq(idx[2], 2);
    cr_assert_eq(idx[3], 0);
    kv[3].key = S("c");
    cr_assert_lt(lg_tx_metadata_order(kv, 4, idx), 4u);
}

Test(tx, references_and_tokens)
{
    struct lg_tx_ctx c = {msg, ""};
    cr_assert_eq(lg_tx_check_reference(&c, S("")), LG_OK);
    cr_assert_eq(lg_tx_check_reference(&c, S("order-42 ~!")), LG_OK);
    char big[LG_REFERENCE_BYTES_MAX + 1];
    memset(big, 'r', sizeof big);
    cr_assert_eq(lg_tx_check_reference(&c, (struct lg_str){big, LG_REFERENCE_BYTES_MAX}),
                 LG_OK);
    cr_assert_eq(lg_tx_check_reference(&c, (struct lg_str){big, sizeof big}), LG_ETOOLARGE);
    cr_assert_str_eq(msg, "reference: 129 bytes, at most 128");
    cr_assert_eq(lg_tx_check_reference(&c, S("a\tb")), LG_EBADREQ);
    cr_assert_str_eq(msg, "reference: byte 0x09 at 1 is not printable ASCII");
    lg_tx_ctx_prefix(&c, "txs[%u]", 1u);
    cr_assert_eq(lg_tx_check_token(&c, S("abc\x7f"), 8, "cursor"), LG_EBADREQ);
    cr_assert_str_eq(msg, "txs[1].cursor: byte 0x7f at 3 is not printable ASCII");
    cr_assert_eq(lg_tx_check_token(&c, S("abc"), 2, "cursor"), LG_ETOOLARGE);
    cr_assert_str_eq(msg, "txs[1].cursor: 3 bytes, at most 2");
}

Test(tx, conditions)
{
    struct lg_tx_ctx c = {msg, ""};
    struct lg_condition cond[2] = {
        {.kind = LG_COND_VERSION, .account = S("users:1"), .version = 3},
        {.kind = LG_COND_MIN_BALANCE, .account = S("users:1"), .asset = S("USD"), .min = 0},
    };
    cr_assert_eq(lg_tx_check_conditions(&c, cond, 2), LG_OK);
    cr_assert_eq(lg_tx_check_conditions(&c, NULL, 0), LG_OK);
    cr_assert_eq(lg_tx_check_conditions(&c, cond, LG_CONDITIONS_MAX + 1u), LG_ETOOLARGE);
    cr_assert_str_eq(msg, "conditions: 65 conditions, at most 64");
    cond[1].asset = S("usd");
    cr_assert_eq(lg_tx_check_conditions(&c, cond, 2), LG_EBADREQ);
    cr_assert(strncmp(msg, "conditions[1].asset: ", 21) == 0, "%s", msg);
    cond[0].asset = S("usd"); /* not looked at for a version condition */
    cond[1].kind = 9;
    cr_assert_eq(lg_tx_check_conditions(&c, cond, 2), LG_EBADREQ);
    cr_assert_str_eq(msg, "conditions[1].kind: unknown condition kind 9");
    cond[0].account = S("bad address");
    cr_assert_eq(lg_tx_check_conditions(&c, cond, 1), LG_EBADREQ);
    cr_assert(strncmp(msg, "conditions[0].account: ", 23) == 0, "%s", msg);
}
