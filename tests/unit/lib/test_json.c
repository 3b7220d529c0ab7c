/* json: the bounded JSON reader of the CLI's `submit` input and the string quoter of its
 * --json output.
 *
 * Goal: every valid document gives the tree it means; every invalid one is refused with
 * LG_EBADREQ or LG_ETOOLARGE and a message with its position; amounts of up to 128 bits
 * parse exactly; bounds (depth 32, 16 MiB, arena budget) hold without recursion.
 * Method: small documents checked field by field, tables of invalid ones, and generated
 * deep and large documents. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "json.h"

static struct lg_arena arena;

static void setup(void)
{
    lg_arena_init(&arena, 0);
}

static void teardown(void)
{
    lg_arena_close(&arena);
}

TestSuite(json, .init = setup, .fini = teardown);

static struct lg_json *parse_ok(const char *text)
{
    struct lg_json *v = NULL;
    char msg[LG_ERRMSG_SIZE] = "";
    int rc = lg_json_parse(text, strlen(text), &arena, &v, msg);
    cr_assert_eq(rc, LG_OK, "'%s' refused: %s", text, msg);
    cr_assert_not_null(v);
    return v;
}

static int parse_err(const char *text, size_t len, char *msg)
{
    struct lg_json *v = (struct lg_json *)1;
    msg[0] = '\0';
    int rc = lg_json_parse(text, len, &arena, &v, msg);
    cr_assert_neq(rc, LG_OK, "'%.*s' accepted", (int)(len > 80 ? 80 : len), text);
    cr_assert_null(v);
    cr_assert_neq(msg[0], '\0', "no message for '%.*s'", (int)(len > 80 ? 80 : len), text);
    return rc;
}

static const char tx_doc[] =
    " {\"postings\": [{\"source\": \"world\", \"destination\": \"users:1\",\n"
    "   \"amount\": 340282366920938463463374607431768211455, \"asset\": \"USD/2\"}],\n"
    "  \"metadata\": {\"k\": \"v\"}, \"reference\": \"r-1\", \"ok\": true,\n"
    "  \"no\": false, \"none\": null, \"neg\": -7, \"f\": 1.5e3} ";

Test(json, parses_a_transaction_document)
{
    struct lg_json *doc = parse_ok(tx_doc);
    cr_assert_eq(doc->type, LG_JSON_OBJECT);
    cr_assert_eq(doc->n, 8);
    const struct lg_json *postings = lg_json_member(doc, "postings");
    cr_assert_not_null(postings);
    cr_assert_eq(postings->type, LG_JSON_ARRAY);
    cr_assert_eq(postings->n, 1);
    const struct lg_json *p0 = postings->child;
    cr_assert_eq(p0->type, LG_JSON_OBJECT);
    cr_assert_null(p0->next);
    cr_assert_str_eq(lg_json_member(p0, "source")->str, "world");
    cr_assert_str_eq(lg_json_member(p0, "asset")->str, "USD/2");
    lg_u128 amount = 0;
    cr_assert_eq(lg_json_amount(lg_json_member(p0, "amount"), &amount, NULL), LG_OK);
    cr_assert(amount == LG_U128_MAX);
    cr_assert_eq(lg_json_member(doc, "ok")->type, LG_JSON_TRUE);
    cr_assert_eq(lg_json_member(doc, "no")->type, LG_JSON_FALSE);
    cr_assert_eq(lg_json_member(doc, "none")->type, LG_JSON_NULL);
    const struct lg_json *neg = lg_json_member(doc, "neg");
    cr_assert(neg->integer);
    cr_assert_str_eq(neg->str, "-7");
    const struct lg_json *f = lg_json_member(doc, "f");
    cr_assert_eq(f->type, LG_JSON_NUMBER);
    cr_assert_not(f->integer);
    cr_assert_str_eq(f->str, "1.5e3");
    cr_assert_null(lg_json_member(doc, "absent"));
    cr_assert_null(lg_json_member(postings, "source"), "arrays have no members");
    /* Members in document order; offsets point at each value's first character. */
    cr_assert_str_eq(doc->child->key, "postings");
    cr_assert_str_eq(doc->child->next->key, "metadata");
    cr_assert_eq(doc->offset, 1);
    cr_assert_eq(lg_json_member(doc, "metadata")->offset,
                 (size_t)(strstr(tx_doc, "{\"k\"") - tx_doc));
}

Test(json, scalars_and_empty_containers_are_documents)
{
    cr_assert_eq(parse_ok("0")->type, LG_JSON_NUMBER);
    cr_assert_eq(parse_ok("\"\"")->len, 0);
    cr_assert_eq(parse_ok("null")->type, LG_JSON_NULL);
    struct lg_json *a = parse_ok("[ ]");
    cr_assert_eq(a->type, LG_JSON_ARRAY);
    cr_assert_eq(a->n, 0);
    cr_assert_null(a->child);
    struct lg_json *o = parse_ok("{}");
    cr_assert_eq(o->type, LG_JSON_OBJECT);
    cr_assert_eq(o->n, 0);
    struct lg_json *nested = parse_ok("[[],{},[[1,2],3]]");
    cr_assert_eq(nested->n, 3);
    cr_assert_eq(nested->child->next->next->child->n, 2);
    cr_assert_str_eq(nested->child->next->next->child->next->str, "3");
}

Test(json, decodes_escapes_to_utf8)
{
    struct lg_json *s = parse_ok("\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u0041\\u00e9\\u20ac"
                                 "\\ud83d\\ude00\\u0000z\"");
    static const char want[] = "a\"b\\c/d\b\f\n\r\tA\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\0z";
    cr_assert_eq(s->len, sizeof want - 1);
    cr_assert_eq(memcmp(s->str, want, sizeof want - 1), 0);
    cr_assert_eq(s->str[s->len], '\0');
    /* Raw UTF-8 passes through; keys are decoded too. */
    struct lg_json *o = parse_ok("{\"k\\u00e9\": \"\xe2\x82\xac\"}");
    cr_assert_str_eq(o->child->key, "k\xc3\xa9");
    cr_assert_str_eq(o->child->str, "\xe2\x82\xac");
    cr_assert_not_null(lg_json_member(o, "k\xc3\xa9"));
}

Test(json, refuses_invalid_documents_with_a_position)
{
    static const char *const bad[] = {
        "", " ", "{", "[", "]", "}", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "{\"a\":}",
        "[1 2]", "01", "-", "-01", "1.", ".5", "1e", "1e+", "+1", "tru", "nul", "nulll",
        "NaN", "Infinity", "\"abc", "\"a\\x\"", "\"\\u12\"", "\"\\u12g4\"", "\"\\ud800\"",
        "\"\\ud800\\u0041\"", "\"\\udc00\"", "\"a\tb\"", "\"\x01\"", "\"\xff\"",
        "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\"\xe2\x82\"",
        "[1] x", "{} {}", "// c\n1", "[1,,2]", "{\"a\":1 \"b\":2}", "\x00",
        "{\"a\":1,\"a\":2}", "{\"x\":{\"b\":1,\"c\":2,\"b\":3}}", "'a'",
    };
    char msg[LG_ERRMSG_SIZE];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t len = strlen(bad[i]);
        if (i == sizeof bad / sizeof bad[0] - 4) {
            len = 1; /* "\x00": a NUL byte */
        }
        cr_assert_eq(parse_err(bad[i], len, msg), LG_EBADREQ, "'%s': %s", bad[i], msg);
        cr_assert_not_null(strstr(msg, "offset "), "'%s': no offset in '%s'", bad[i], msg);
    }
}

Test(json, messages_name_line_column_offset_and_what)
{
    char msg[LG_ERRMSG_SIZE];
    const char *t = "{\n  \"a\": 1,\n  \"b\": [1 2]\n}";
    parse_err(t, strlen(t), msg);
    cr_assert_str_eq(msg, "line 3, column 11 (offset 22): expected ',' or ']', found '2'");
    t = "{\"amount\": 1, \"amount\": 2}";
    parse_err(t, strlen(t), msg);
    cr_assert_str_eq(msg, "line 1, column 25 (offset 24): duplicate key \"amount\"");
    t = "[\"\\ud834\"]";
    parse_err(t, strlen(t), msg);
    cr_assert_not_null(strstr(msg, "(offset 2): high surrogate \\ud834"), "%s", msg);
}

Test(json, depth_is_bounded_at_32)
{
    char doc[2 * 40 + 1];
    char msg[LG_ERRMSG_SIZE];
    for (unsigned depth = 31; depth <= 33; depth++) {
        memset(doc, '[', depth);
        memset(doc + depth, ']', depth);
        doc[2 * depth] = '\0';
        struct lg_json *v = NULL;
        int rc = lg_json_parse(doc, 2 * depth, &arena, &v, msg);
        if (depth <= LG_JSON_DEPTH_MAX) {
            cr_assert_eq(rc, LG_OK, "depth %u: %s", depth, msg);
        } else {
            cr_assert_eq(rc, LG_ETOOLARGE, "depth %u", depth);
            cr_assert_not_null(strstr(msg, "nested deeper than 32"), "%s", msg);
        }
    }
    /* Objects count too. */
    char objs[33 * 5 + 1 + 33];
    size_t k = 0;
    for (unsigned i = 0; i < 33; i++) {
        memcpy(objs + k, "{\"a\":", 5);
        k += 5;
    }
    objs[k++] = '1';
    memset(objs + k, '}', 33);
    k += 33;
    cr_assert_eq(parse_err(objs, k, msg), LG_ETOOLARGE);
    cr_assert_eq(parse_ok("{\"a\":{\"a\":{\"a\":1}}}")->child->child->child->str[0], '1');
    /* A very deep document is refused at the bound, without recursing. */
    size_t n = 1000000;
    char *deep = malloc(n);
    cr_assert_not_null(deep);
    memset(deep, '[', n);
    cr_assert_eq(parse_err(deep, n, msg), LG_ETOOLARGE);
    free(deep);
}

Test(json, size_and_budget_are_bounded)
{
    char msg[LG_ERRMSG_SIZE];
    size_t n = (size_t)LG_JSON_BYTES_MAX + 1u;
    char *big = malloc(n);
    cr_assert_not_null(big);
    memset(big, ' ', n);
    big[0] = '0';
    cr_assert_eq(parse_err(big, n, msg), LG_ETOOLARGE);
    cr_assert_not_null(strstr(msg, "limit"), "%s", msg);
    /* Exactly at the limit: accepted. */
    struct lg_json *v = NULL;
    cr_assert_eq(lg_json_parse(big, n - 1, &arena, &v, msg), LG_OK, "%s", msg);
    free(big);
    /* An arena budget turns a document of many small values into too_large, not a crash. */
    struct lg_arena small;
    lg_arena_init(&small, 4096);
    char doc[4096 * 2 + 2];
    doc[0] = '[';
    size_t k = 1;
    for (int i = 0; i < 2000; i++) {
        doc[k++] = '0';
        doc[k++] = ',';
    }
    doc[k - 1] = ']';
    v = NULL;
    cr_assert_eq(lg_json_parse(doc, k, &small, &v, msg), LG_ETOOLARGE);
    cr_assert_not_null(strstr(msg, "memory budget"), "%s", msg);
    cr_assert_null(v);
    lg_arena_close(&small);
}

Test(json, amounts_parse_exactly_and_refuse_fractions)
{
    lg_u128 a = 0;
    char msg[LG_ERRMSG_SIZE];
    cr_assert_eq(lg_json_amount(parse_ok("18446744073709551616"), &a, msg), LG_OK);
    cr_assert(a == (lg_u128)UINT64_MAX + 1u);
    cr_assert_eq(lg_json_amount(parse_ok("\"340282366920938463463374607431768211455\""), &a,
                                msg), LG_OK);
    cr_assert(a == LG_U128_MAX);
    cr_assert_eq(lg_json_amount(parse_ok("340282366920938463463374607431768211456"), &a, msg),
                 LG_EOVERFLOW);
    cr_assert_eq(lg_json_amount(parse_ok("\"340282366920938463463374607431768211456\""), &a,
                                msg), LG_EOVERFLOW);
    cr_assert_eq(lg_json_amount(parse_ok("1.0"), &a, msg), LG_EBADREQ);
    cr_assert_not_null(strstr(msg, "integer"), "%s", msg);
    cr_assert_eq(lg_json_amount(parse_ok("1e3"), &a, msg), LG_EBADREQ);
    cr_assert_eq(lg_json_amount(parse_ok("-5"), &a, msg), LG_EBADREQ);
    cr_assert_not_null(strstr(msg, "negative"), "%s", msg);
    cr_assert_eq(lg_json_amount(parse_ok("\"-5\""), &a, msg), LG_EBADREQ);
    cr_assert_eq(lg_json_amount(parse_ok("\" 5\""), &a, msg), LG_EBADREQ);
    cr_assert_eq(lg_json_amount(parse_ok("\"05\""), &a, msg), LG_EBADREQ);
    cr_assert_eq(lg_json_amount(parse_ok("\"1.5\""), &a, msg), LG_EBADREQ);
    cr_assert_eq(lg_json_amount(parse_ok("\"\""), &a, msg), LG_EBADREQ);
    cr_assert_eq(lg_json_amount(parse_ok("true"), &a, msg), LG_EBADREQ);
    cr_assert_eq(lg_json_amount(parse_ok("0"), &a, msg), LG_OK, "0 parses (> 0 is the "
                 "server's rule for postings)");
    uint64_t u = 0;
    cr_assert_eq(lg_json_u64(parse_ok("18446744073709551615"), &u, msg), LG_OK);
    cr_assert_eq(u, UINT64_MAX);
    cr_assert_eq(lg_json_u64(parse_ok("18446744073709551616"), &u, msg), LG_EOVERFLOW);
    cr_assert_eq(lg_json_u64(parse_ok("\"5\""), &u, msg), LG_EBADREQ);
    cr_assert_eq(lg_json_u64(parse_ok("-1"), &u, msg), LG_EBADREQ);
    cr_assert_eq(lg_json_u64(parse_ok("2.0"), &u, msg), LG_EBADREQ);
}

Test(json, quote_escapes_and_round_trips)
{
    struct lg_buf b;
    lg_buf_init(&b);
    static const char in[] = "a\"b\\c\n\t\r\x01/\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\0z";
    cr_assert(lg_json_quote(&b, in, sizeof in - 1));
    static const char want[] = "\"a\\\"b\\\\c\\n\\t\\r\\u0001/\xc3\xa9\xe2\x82\xac"
                               "\xf0\x9f\x98\x80\\u0000z\"";
    cr_assert_eq(b.len, sizeof want - 1);
    cr_assert_eq(memcmp(b.data, want, b.len), 0);
    struct lg_json *v = NULL;
    char msg[LG_ERRMSG_SIZE];
    cr_assert_eq(lg_json_parse((const char *)b.data, b.len, &arena, &v, msg), LG_OK, "%s", msg);
    cr_assert_eq(v->len, sizeof in - 1);
    cr_assert_eq(memcmp(v->str, in, v->len), 0);
    /* Invalid UTF-8 becomes U+FFFD per byte: the output is still valid JSON. */
    lg_buf_reset(&b);
    cr_assert(lg_json_quote(&b, "x\xff\xc3", 3));
    cr_assert_eq(b.len, 2 + 1 + 3 + 3);
    cr_assert_eq(memcmp(b.data, "\"x\xef\xbf\xbd\xef\xbf\xbd\"", b.len), 0);
    cr_assert_eq(lg_json_parse((const char *)b.data, b.len, &arena, &v, msg), LG_OK, "%s", msg);
    lg_buf_close(&b);
}
