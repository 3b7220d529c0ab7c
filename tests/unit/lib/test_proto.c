/* test_proto: the client protocol's requests and responses (lib/proto.c, DESIGN §8).
 *
 * Goal: every operation decodes with its arguments; every bad input is answered with its
 * exact code and a message naming the field (bad types, missing and duplicate keys,
 * amounts 0 / negative / over 128 bits / as text where an integer belongs, limits,
 * names, deep nesting, unknown op, missing id answered with id 0); requests and responses
 * of every op round-trip through encoder and decoder byte for byte.
 * Method: requests are written as JSON-like text (single quotes) and turned into msgpack
 * by a small converter below, so each case reads like the wire; large inputs are packed
 * directly. */
#include <criterion/criterion.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "frame.h"
#include "proto.h"

/* --- JSON-like text to msgpack: {'k': v}, [..], 'str', 123, -5, 1.5, true, false, null */

static void j_skip_ws(const char **p)
{
    while (**p == ' ' || **p == '\n') {
        (*p)++;
    }
}

static void j_value(const char **p, msgpack_packer *pk);

/* Count items of the container starting at *p (just after its opening bracket). */
static size_t j_count(const char *p, char close)
{
    int depth = 0;
    size_t n = 0;
    bool any = false;
    bool in_str = false;
    for (; *p; p++) {
        if (in_str) {
            in_str = *p != '\'';
            continue;
        }
        if (*p == '\'') {
            in_str = true;
        } else if (*p == '{' || *p == '[') {
            depth++;
        } else if (*p == '}' || *p == ']') {
            if (depth == 0) {
                break;
            }
            depth--;
        } else if (*p == ',' && depth == 0) {
            n++;
        }
        if (*p != ' ' && !(depth == 0 && *p == close)) {
            any = true;
        }
    }
    return any ? n + 1 : 0;
}

static void j_value(const char **p, msgpack_packer *pk)
{
    j_skip_ws(p);
    char c = **p;
    if (c == '{' || c == '[') {
        (*p)++;
        size_t n = j_count(*p, c == '{' ? '}' : ']');
        if (c == '{') {
            msgpack_pack_map(pk, n);
        } else {
            msgpack_pack_array(pk, n);
        }
        for (size_t i = 0; i < n; i++) {
            j_value(p, pk);
            j_skip_ws(p);
            if (c == '{') {
                cr_assert_eq(**p, ':', "at %s", *p);
                (*p)++;
                j_value(p, pk);
                j_skip_ws(p);
            }
            if (**p == ',') {
                (*p)++;
            }
        }
        j_skip_ws(p);
        (*p)++;
    } else if (c == '\'') {
        const char *end = strchr(*p + 1, '\'');
        size_t n = (size_t)(end - *p - 1);
        msgpack_pack_str(pk, n);
        msgpack_pack_str_body(pk, *p + 1, n);
        *p = end + 1;
    } else if (strncmp(*p, "true", 4) == 0) {
        msgpack_pack_true(pk);
        *p += 4;
    } else if (strncmp(*p, "false", 5) == 0) {
        msgpack_pack_false(pk);
        *p += 5;
    } else if (strncmp(*p, "null", 4) == 0) {
        msgpack_pack_nil(pk);
        *p += 4;
    } else {
        char *end;
        const char *dot = strchr(*p, '.');
        if (dot != NULL && dot < strpbrk(*p, ",}] ")) {
            double v = strtod(*p, &end);
            msgpack_pack_double(pk, v);
        } else if (c == '-') {
            long long v = strtoll(*p, &end, 10);
            msgpack_pack_int64(pk, v);
        } else {
            unsigned long long v = strtoull(*p, &end, 10);
            msgpack_pack_uint64(pk, v);
        }
        *p = end;
    }
}

static msgpack_sbuffer sb;

/* The msgpack of json in the static buffer sb. */
static void j2m(const char *json)
{
    msgpack_sbuffer_clear(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    const char *p = json;
    j_value(&p, &pk);
}

static struct lg_arena arena;
static char errmsg[LG_ERRMSG_SIZE];

static void setup(void)
{
    msgpack_sbuffer_init(&sb);
    lg_arena_init(&arena, 64u << 20);
}

static void teardown(void)
{
    msgpack_sbuffer_destroy(&sb);
    lg_arena_close(&arena);
}

TestSuite(proto, .init = setup, .fini = teardown);

/* Decode json as a request. */
static int req(const char *json, struct lg_proto_request *q)
{
    j2m(json);
    errmsg[0] = '\0';
    return lg_proto_decode_request(sb.data, sb.size, &arena, q, errmsg);
}

/* Expect code and a message containing want. */
#define BAD(json, code, want)                                                             \
    do {                                                                                  \
        struct lg_proto_request q_;                                                       \
        int rc_ = req((json), &q_);                                                       \
        cr_assert_eq(rc_, (code), "%s -> %s (%s)", (json), lg_err_name(rc_), errmsg);    \
        cr_assert(strstr(errmsg, (want)) != NULL, "%s: message \"%s\" lacks \"%s\"",      \
                  (json), errmsg, (want));                                                \
    } while (0)

#define SUB "'id': 7, 'op': 'submit', 'ledger': 'main', "
#define P1 "'postings': [{'source': 'world', 'destination': 'users:1', 'amount': 100, " \
           "'asset': 'USD/2'}]"

static bool str_eq(struct lg_str s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0;
}

Test(proto, decodes_ping_status_digest)
{
    struct lg_proto_request q;
    cr_assert_eq(req("{'op': 'ping', 'id': 1}", &q), LG_OK, "%s", errmsg);
    cr_assert_eq(q.op, LG_PROTO_OP_PING);
    cr_assert_eq(q.id, 1u);
    cr_assert_eq(req("{'id': 18446744073709551615, 'op': 'status'}", &q), LG_OK);
    cr_assert_eq(q.id, UINT64_MAX);
    cr_assert_eq(q.op, LG_PROTO_OP_STATUS);
    cr_assert_eq(req("{'id': 2, 'op': 'digest', 'consistency': 'stale'}", &q), LG_OK);
    cr_assert_eq(q.op, LG_PROTO_OP_DIGEST);
    cr_assert_eq(q.consistency, LG_PROTO_READ_STALE);
}

Test(proto, decodes_submit_with_every_field_in_any_order)
{
    struct lg_proto_request q;
    int rc = req("{'postings': [{'asset': 'USD/2', 'amount': "
                 "'340282366920938463463374607431768211455',"
                 " 'destination': 'users:1', 'source': 'world'}, {'source': 'users:1', "
                 "'destination': 'fees', 'amount': 5, 'asset': 'EUR'}], 'op': 'submit', "
                 "'metadata': {'order': '42', 'note': ''}, 'reference': 'ref-1', 'id': 9, "
                 "'ledger': 'main', 'conditions': [{'account': 'users:1', 'version': 3}, "
                 "{'account': 'users:1', 'asset': 'USD/2', 'min_balance': 0}]}", &q);
    cr_assert_eq(rc, LG_OK, "%s", errmsg);
    const struct lg_proto_submit *s = &q.u.submit;
    cr_assert_eq(q.id, 9u);
    cr_assert(str_eq(s->ledger, "main"));
    cr_assert_eq(s->n_postings, 2u);
    cr_assert(s->postings[0].amount == LG_U128_MAX);
    cr_assert(str_eq(s->postings[0].source, "world"));
    cr_assert(s->postings[1].amount == 5);
    cr_assert_eq(s->n_metadata, 2u);
    cr_assert(str_eq(s->metadata[1].key, "note") && s->metadata[1].value.len == 0);
    cr_assert(str_eq(s->reference, "ref-1"));
    cr_assert_eq(s->n_conditions, 2u);
    cr_assert_eq(s->conditions[0].kind, LG_COND_VERSION);
    cr_assert_eq(s->conditions[0].version, 3u);
    cr_assert_eq(s->conditions[1].kind, LG_COND_MIN_BALANCE);
}

Test(proto, decodes_reads)
{
    struct lg_proto_request q;
    cr_assert_eq(req("{'id': 1, 'op': 'get_tx', 'ledger': 'l', 'tx_id': 0}", &q), LG_OK);
    cr_assert_not(q.u.get_tx.by_reference);
    cr_assert_eq(req("{'id': 1, 'op': 'get_tx', 'ledger': 'l', 'reference': 'r', "
                     "'consistency': 'after', 'after_index': 12}", &q), LG_OK);
    cr_assert(q.u.get_tx.by_reference && str_eq(q.u.get_tx.reference, "r"));
    cr_assert_eq(q.consistency, LG_PROTO_READ_AFTER);
    cr_assert_eq(q.after_index, 12u);
    cr_assert_eq(req("{'id': 1, 'op': 'list_txs', 'ledger': 'l', 'account': 'a:b', "
                     "'from_ts': 5, 'to_ts': 9, 'order': 'desc', 'limit': 1000, "
                     "'cursor': 'abc', 'consistency': 'linearizable'}", &q), LG_OK, "%s", errmsg);
    cr_assert_eq(q.u.list_txs.order, LG_PROTO_ORDER_DESC);
    cr_assert_eq(q.u.list_txs.limit, 1000u);
    cr_assert(q.u.list_txs.has_from_ts && q.u.list_txs.from_ts == 5);
    cr_assert_eq(req("{'id': 1, 'op': 'account', 'ledger': 'l', 'address': 'a:b'}", &q), LG_OK);
    cr_assert_eq(req("{'id': 1, 'op': 'balances', 'ledger': 'l', 'pattern': 'users:*:main', "
                     "'asset': 'USD'}", &q), LG_OK);
    cr_assert(str_eq(q.u.balances.pattern, "users:*:main"));
    cr_assert_eq(req("{'id': 1, 'op': 'balances', 'ledger': 'l', 'address': 'a', "
                     "'after_index': 3}", &q), LG_OK);
    cr_assert_eq(q.consistency, LG_PROTO_READ_AFTER, "after_index alone means after");
}

Test(proto, envelope_errors)
{
    BAD("[1, 2]", LG_EBADREQ, "request: must be a map");
    BAD("{'op': 'ping'}", LG_EBADREQ, "id: missing");
    BAD("{'id': '1', 'op': 'ping'}", LG_EBADREQ, "id: must be an unsigned integer");
    BAD("{'id': -1, 'op': 'ping'}", LG_EBADREQ, "id: must not be negative");
    BAD("{'id': 1}", LG_EBADREQ, "op: missing");
    BAD("{'id': 1, 'op': 5}", LG_EBADREQ, "op: must be a string");
    BAD("{'id': 1, 'op': 'transfer'}", LG_EUNKNOWNOP, "op: unknown operation \"transfer\"");
    BAD("{'id': 1, 'id': 2, 'op': 'ping'}", LG_EBADREQ, "id: duplicate key");
    BAD("{'id': 1, 'op': 'ping', 'op': 'ping'}", LG_EBADREQ, "op: duplicate key");
    BAD("{'id': 1, 'op': 'ping', 'ledger': 'x'}", LG_EBADREQ, "ledger: unknown field for ping");
    BAD("{'id': 1, 'op': 'status', 'consistency': 'stale'}", LG_EBADREQ,
        "consistency: unknown field for status");
    /* The id is kept for the answer when it was readable. */
    struct lg_proto_request q;
    cr_assert_eq(req("{'op': 'nope', 'id': 44}", &q), LG_EUNKNOWNOP);
    cr_assert_eq(q.id, 44u);
    cr_assert_eq(req("{'id': 45, 'op': 'submit'}", &q), LG_EBADREQ);
    cr_assert_eq(q.id, 45u);
    cr_assert_eq(req("{'op': 'ping'}", &q), LG_EBADREQ);
    cr_assert_eq(q.id, 0u, "missing id: answer with id 0");
    /* Truncated and trailing bytes. */
    j2m("{'id': 1, 'op': 'ping'}");
    cr_assert_eq(lg_proto_decode_request(sb.data, sb.size - 1, &arena, &q, errmsg), LG_EBADREQ);
    cr_assert(strstr(errmsg, "truncated") != NULL, "%s", errmsg);
    msgpack_sbuffer_write(&sb, "\xc0", 1);
    cr_assert_eq(lg_proto_decode_request(sb.data, sb.size, &arena, &q, errmsg), LG_EBADREQ);
    cr_assert(strstr(errmsg, "trailing bytes") != NULL, "%s", errmsg);
    cr_assert_eq(lg_proto_decode_request("", 0, &arena, &q, errmsg), LG_EBADREQ);
    cr_assert_eq(lg_proto_decode_request("\xc1", 1, &arena, &q, errmsg), LG_EBADREQ);
}

Test(proto, submit_errors_name_the_field)
{
    BAD("{'id': 7, 'op': 'submit', 'ledger': 'main'}", LG_EBADREQ, "postings: missing");
    BAD("{'id': 1, 'op': 'submit', " P1 "}", LG_EBADREQ, "ledger: missing");
    BAD("{" SUB "'postings': []}", LG_EBADREQ, "postings: must not be empty");
    BAD("{" SUB "'postings': {}}", LG_EBADREQ, "postings: must be an array");
    BAD("{" SUB "'postings': [{'source': 'world', 'destination': 'a', 'amount': 0, "
        "'asset': 'USD'}]}", LG_EBADREQ, "postings[0].amount: must be greater than 0");
    BAD("{" SUB "'postings': [{'source': 'world', 'destination': 'a', 'amount': '0', "
        "'asset': 'USD'}]}", LG_EBADREQ, "postings[0].amount: must be greater than 0");
    BAD("{" SUB "'postings': [{'source': 'world', 'destination': 'a', 'amount': -5, "
        "'asset': 'USD'}]}", LG_EBADREQ, "postings[0].amount: must not be negative");
    BAD("{" SUB "'postings': [{'source': 'world', 'destination': 'a', 'amount': "
        "'340282366920938463463374607431768211456', 'asset': 'USD'}]}", LG_EOVERFLOW,
        "postings[0].amount: exceeds 2^128 - 1");
    BAD("{" SUB "'postings': [{'source': 'world', 'destination': 'a', 'amount': '-5', "
        "'asset': 'USD'}]}", LG_EBADREQ, "postings[0].amount: must be a decimal string");
    BAD("{" SUB "'postings': [{'source': 'world', 'destination': 'a', 'amount': 1.5, "
        "'asset': 'USD'}]}", LG_EBADREQ, "postings[0].amount: must be an integer or a decimal");
    BAD("{" SUB "'postings': [{'source': 'world', 'destination': 'a', 'amount': true, "
        "'asset': 'USD'}]}", LG_EBADREQ, "postings[0].amount: must be an integer");
    BAD("{" SUB "'postings': [{'source': 'world', 'destination': 'a', 'amount': 1}]}",
        LG_EBADREQ, "postings[0].asset: missing");
    BAD("{" SUB "'postings': [{'source': 'world', 'destination': 'a', 'amount': 1, "
        "'asset': 'usd'}]}", LG_EBADREQ, "postings[0].asset");
    BAD("{" SUB "'postings': [{'source': 'wo rld', 'destination': 'a', 'amount': 1, "
        "'asset': 'USD'}]}", LG_EBADREQ, "postings[0].source");
    BAD("{" SUB "'postings': [{'source': 'a', 'destination': 'a', 'amount': 1, "
        "'asset': 'USD'}]}", LG_EBADREQ, "postings[0]: source and destination are the same");
    BAD("{" SUB "'postings': [{'source': 'w', 'source': 'x', 'destination': 'a', "
        "'amount': 1, 'asset': 'USD'}]}", LG_EBADREQ, "postings[0].source: duplicate key");
    BAD("{" SUB "'postings': [{'source': 'w', 'destination': 'a', 'amount': 1, "
        "'asset': 'USD', 'memo': 'x'}]}", LG_EBADREQ, "postings[0].memo: unknown field");
    BAD("{'id': 1, 'op': 'submit', 'ledger': 'Main', " P1 "}", LG_EBADREQ, "ledger");
    BAD("{" SUB P1 ", 'ledger': 'x'}", LG_EBADREQ, "ledger: duplicate key");
    BAD("{" SUB P1 ", 'reference': ''}", LG_EBADREQ, "reference: must not be empty");
    BAD("{" SUB P1 ", 'reference': 5}", LG_EBADREQ, "reference: must be a string");
    BAD("{" SUB P1 ", 'metadata': {'a': 1}}", LG_EBADREQ, "metadata.a: must be a string");
    BAD("{" SUB P1 ", 'metadata': {'a': 'x', 'a': 'y'}}", LG_EBADREQ,
        "metadata: duplicate key \"a\"");
    BAD("{" SUB P1 ", 'metadata': {'': 'x'}}", LG_EBADREQ, "metadata: key must not be empty");
    BAD("{" SUB P1 ", 'metadata': ['a']}", LG_EBADREQ, "metadata: must be a map");
    BAD("{" SUB P1 ", 'conditions': [{'account': 'a'}]}", LG_EBADREQ,
        "conditions[0]: give either version");
    BAD("{" SUB P1 ", 'conditions': [{'account': 'a', 'version': 1, 'asset': 'USD'}]}",
        LG_EBADREQ, "conditions[0]: give either version");
    BAD("{" SUB P1 ", 'conditions': [{'version': 1}]}", LG_EBADREQ,
        "conditions[0].account: missing");
    BAD("{" SUB P1 ", 'conditions': [{'account': 'a', 'version': '1'}]}", LG_EBADREQ,
        "conditions[0].version: must be an unsigned integer");
}

Test(proto, batch_errors_carry_the_index)
{
    BAD("{'id': 1, 'op': 'submit_batch', 'txs': [{'ledger': 'l', " P1 "}, {'ledger': 'l', "
        P1 "}, {'ledger': 'l', 'postings': [{'source': 'world', 'destination': 'a', "
        "'amount': 0, 'asset': 'USD'}]}]}",
        LG_EBADREQ, "txs[2].postings[0].amount: must be greater than 0");
    BAD("{'id': 1, 'op': 'submit_batch', 'txs': [{'ledger': 'l', " P1 "}, {'ledger': 'l', "
        "'postings': [{'source': 'world', 'destination': 'a', 'amount': -1, 'asset': 'USD'}]}]}",
        LG_EBADREQ, "txs[1].postings[0].amount: must not be negative");
    BAD("{'id': 1, 'op': 'submit_batch', 'txs': []}", LG_EBADREQ, "txs: must not be empty");
    BAD("{'id': 1, 'op': 'submit_batch'}", LG_EBADREQ, "txs: missing");
    BAD("{'id': 1, 'op': 'submit_batch', 'txs': [{'ledger': 'l'}]}", LG_EBADREQ,
        "txs[0].postings: missing");
    BAD("{'id': 1, 'op': 'submit_batch', 'txs': [{'ledger': 'l', 'id': 1, " P1 "}]}", LG_EBADREQ,
        "txs[0].id: unknown field");
    BAD("{'id': 1, 'op': 'submit_batch', 'txs': [5]}", LG_EBADREQ, "txs[0]: must be a map");
    BAD("{'id': 1, 'op': 'submit_batch', 'atomic': 1, 'txs': [{'ledger': 'l', " P1 "}]}",
        LG_EBADREQ, "atomic: must be a boolean");
    struct lg_proto_request q;
    cr_assert_eq(req("{'id': 1, 'op': 'submit_batch', 'atomic': true, 'txs': [{'ledger': 'l', "
                     P1 "}]}", &q), LG_OK, "%s", errmsg);
    cr_assert(q.u.batch.atomic);
    cr_assert_eq(q.u.batch.n_txs, 1u);
}

/* Expect code and exactly the message want (no more, no less). */
#define BAD_EXACT(json, code, want)                                                       \
    do {                                                                                  \
        struct lg_proto_request q_;                                                       \
        int rc_ = req((json), &q_);                                                       \
        cr_assert_eq(rc_, (code), "%s -> %s (%s)", (json), lg_err_name(rc_), errmsg);    \
        cr_assert_str_eq(errmsg, (want), "%s", (json));                                   \
    } while (0)

#define BATCH "'id': 1, 'op': 'submit_batch', "
#define TX_OK "{'ledger': 'l', " P1 "}"

/* Messages are formatted only when decoding fails, and one pass serves maps whose "op"
 * precedes the arguments: the messages stay whole, and a rule of the envelope (duplicate
 * or missing id and op, trailing bytes, unknown op) still wins over a bad argument
 * wherever it comes in the map, without the prefix of a failed transaction. */
Test(proto, messages_are_exact_and_the_envelope_comes_first)
{
    BAD_EXACT("{" BATCH "'txs': [" TX_OK ", " TX_OK ", {'ledger': 'l', 'postings': "
              "[{'source': 'world', 'destination': 'a', 'amount': 0, 'asset': 'USD'}]}]}",
              LG_EBADREQ, "txs[2].postings[0].amount: must be greater than 0");
    BAD_EXACT("{" BATCH "'txs': [" TX_OK ", {'ledger': 'l', 'postings': [" "{'source': 'w', "
              "'destination': 'a', 'amount': -1, 'asset': 'USD'}]}]}",
              LG_EBADREQ, "txs[1].postings[0].amount: must not be negative");
    BAD_EXACT("{" BATCH "'txs': [{'ledger': 'l', " P1 ", 'metadata': {'k': 1}}]}", LG_EBADREQ,
              "txs[0].metadata.k: must be a string");
    BAD_EXACT("{" BATCH "'txs': [{'ledger': 'l', " P1 ", 'conditions': [{'account': 'a', "
              "'version': 1, 'version': 2}]}]}", LG_EBADREQ,
              "txs[0].conditions[0].version: duplicate key");
    BAD_EXACT("{" BATCH "'txs': [{'ledger': 'l', 'postings': [{'source': 'w', 'x\"y': 1}]}]}",
              LG_EBADREQ, "txs[0].postings[0].x?y: unknown field");
    BAD_EXACT("{" BATCH "'txs': [" TX_OK ", {'postings': []}]}", LG_EBADREQ,
              "txs[1].ledger: missing");
    /* The envelope's rules, after a bad argument. */
    BAD_EXACT("{" BATCH "'txs': [{'ledger': 'l', 'postings': 5}], 'id': 2}", LG_EBADREQ,
              "id: duplicate key");
    BAD_EXACT("{" BATCH "'txs': [{'ledger': 5}], 'op': 'submit'}", LG_EBADREQ,
              "op: duplicate key");
    BAD_EXACT("{'op': 'submit', 'ledger': 5}", LG_EBADREQ, "id: missing");
    BAD_EXACT("{'ledger': 5, 'op': 'nope', 'id': 1}", LG_EUNKNOWNOP,
              "op: unknown operation \"nope\"");
    BAD_EXACT("{'id': 1, 'op': 'submit', 'ledger': 5, 'id': '2'}", LG_EBADREQ,
              "id: duplicate key");
    BAD_EXACT("{'id': 1, 'op': 'submit', 'ledger': 5, 'x': [[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]}",
              LG_EBADREQ, "x: nested too deeply");
    struct lg_proto_request q;
    j2m("{'id': 1, 'op': 'submit', 'ledger': 5}");
    msgpack_sbuffer_write(&sb, "\xc0", 1);
    cr_assert_eq(lg_proto_decode_request(sb.data, sb.size, &arena, &q, errmsg), LG_EBADREQ);
    cr_assert_str_eq(errmsg, "request: trailing bytes after the map");
    /* Arguments before "op": the same verdicts. */
    BAD_EXACT("{'ledger': 'l', 'postings': [{'source': 'world', 'destination': 'a', "
              "'amount': 0, 'asset': 'USD'}], 'op': 'submit', 'id': 3}", LG_EBADREQ,
              "postings[0].amount: must be greater than 0");
    BAD_EXACT("{'txs': [" TX_OK ", {'ledger': 'l', 'reference': 7}], 'id': 3, "
              "'op': 'submit_batch'}", LG_EBADREQ, "txs[1].reference: must be a string");
    cr_assert_eq(req("{'txs': [" TX_OK "], 'atomic': true, 'id': 3, 'op': 'submit_batch'}", &q),
                 LG_OK, "%s", errmsg);
    cr_assert_eq(q.id, 3u);
    cr_assert_eq(q.op, LG_PROTO_OP_SUBMIT_BATCH);
    cr_assert(q.u.batch.atomic && q.u.batch.n_txs == 1u);
    /* The id read before a failure is kept for the answer, whichever pass failed. */
    cr_assert_eq(req("{'id': 9, 'op': 'submit', 'ledger': 5}", &q), LG_EBADREQ);
    cr_assert_eq(q.id, 9u);
    cr_assert_eq(req("{'ledger': 5, 'id': 8, 'op': 'submit'}", &q), LG_EBADREQ);
    cr_assert_eq(q.id, 8u);
}

Test(proto, read_errors)
{
    BAD("{'id': 1, 'op': 'get_tx', 'ledger': 'l'}", LG_EBADREQ,
        "tx_id: give exactly one of tx_id and reference");
    BAD("{'id': 1, 'op': 'get_tx', 'ledger': 'l', 'tx_id': 1, 'reference': 'r'}", LG_EBADREQ,
        "give exactly one");
    BAD("{'id': 1, 'op': 'get_tx', 'ledger': 'l', 'tx_id': '5'}", LG_EBADREQ,
        "tx_id: must be an unsigned integer");
    BAD("{'id': 1, 'op': 'get_tx', 'ledger': 'l', 'tx_id': 5, 'consistency': 'strong'}",
        LG_EBADREQ, "consistency: must be \"stale\", \"after\" or \"linearizable\"");
    BAD("{'id': 1, 'op': 'get_tx', 'ledger': 'l', 'tx_id': 5, 'consistency': 'after'}",
        LG_EBADREQ, "after_index: required with consistency \"after\"");
    BAD("{'id': 1, 'op': 'get_tx', 'ledger': 'l', 'tx_id': 5, 'consistency': 'stale', "
        "'after_index': 4}", LG_EBADREQ, "after_index: only with consistency \"after\"");
    BAD("{'id': 1, 'op': 'list_txs', 'ledger': 'l', 'limit': 0}", LG_EBADREQ,
        "limit: must be between 1 and 1000");
    BAD("{'id': 1, 'op': 'list_txs', 'ledger': 'l', 'limit': 1001}", LG_ETOOLARGE,
        "limit: 1001, at most 1000");
    BAD("{'id': 1, 'op': 'list_txs', 'ledger': 'l', 'order': 'up'}", LG_EBADREQ,
        "order: must be \"asc\" or \"desc\"");
    BAD("{'id': 1, 'op': 'list_txs', 'ledger': 'l', 'from_ts': 9, 'to_ts': 5}", LG_EBADREQ,
        "from_ts: must not be after to_ts");
    BAD("{'id': 1, 'op': 'list_txs', 'ledger': 'l', 'account': 'a::b'}", LG_EBADREQ, "account");
    BAD("{'id': 1, 'op': 'list_txs'}", LG_EBADREQ, "ledger: missing");
    BAD("{'id': 1, 'op': 'account', 'ledger': 'l'}", LG_EBADREQ, "address: missing");
    BAD("{'id': 1, 'op': 'balances', 'ledger': 'l'}", LG_EBADREQ,
        "address: give exactly one of address and pattern");
    BAD("{'id': 1, 'op': 'balances', 'ledger': 'l', 'address': 'a', 'pattern': 'a:*'}",
        LG_EBADREQ, "give exactly one");
    BAD("{'id': 1, 'op': 'balances', 'ledger': 'l', 'pattern': 'a:**'}", LG_EBADREQ, "pattern");
    BAD("{'id': 1, 'op': 'balances', 'ledger': 'l', 'address': 'a', 'asset': 'X/123'}",
        LG_EBADREQ, "asset");
}

/* Pack a submit with n postings and m metadata entries directly. */
static void pack_big_submit(uint32_t n_postings, uint32_t n_meta, size_t key_len,
                            size_t value_len, size_t ref_len)
{
    msgpack_sbuffer_clear(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 5 + (ref_len > 0));
    msgpack_pack_str_with_body(&pk, "id", 2);
    msgpack_pack_uint64(&pk, 1);
    msgpack_pack_str_with_body(&pk, "op", 2);
    msgpack_pack_str_with_body(&pk, "submit", 6);
    msgpack_pack_str_with_body(&pk, "ledger", 6);
    msgpack_pack_str_with_body(&pk, "main", 4);
    msgpack_pack_str_with_body(&pk, "postings", 8);
    msgpack_pack_array(&pk, n_postings);
    for (uint32_t i = 0; i < n_postings; i++) {
        msgpack_pack_map(&pk, 4);
        msgpack_pack_str_with_body(&pk, "source", 6);
        msgpack_pack_str_with_body(&pk, "world", 5);
        msgpack_pack_str_with_body(&pk, "destination", 11);
        msgpack_pack_str_with_body(&pk, "a", 1);
        msgpack_pack_str_with_body(&pk, "amount", 6);
        msgpack_pack_uint64(&pk, 1);
        msgpack_pack_str_with_body(&pk, "asset", 5);
        msgpack_pack_str_with_body(&pk, "USD", 3);
    }
    msgpack_pack_str_with_body(&pk, "metadata", 8);
    msgpack_pack_map(&pk, n_meta);
    static char big[8192];
    memset(big, 'k', sizeof big);
    for (uint32_t i = 0; i < n_meta; i++) {
        char key[16];
        int kn = snprintf(key, sizeof key, "k%u", i);
        if (i == 0 && key_len > 0) {
            msgpack_pack_str_with_body(&pk, big, key_len);
        } else {
            msgpack_pack_str_with_body(&pk, key, (size_t)kn);
        }
        msgpack_pack_str_with_body(&pk, big, i == 0 ? value_len : 1);
    }
    if (ref_len > 0) {
        msgpack_pack_str_with_body(&pk, "reference", 9);
        msgpack_pack_str_with_body(&pk, big, ref_len);
    }
}

static int dec_sb(struct lg_proto_request *q)
{
    return lg_proto_decode_request(sb.data, sb.size, &arena, q, errmsg);
}

Test(proto, limits_are_too_large)
{
    struct lg_proto_request q;
    pack_big_submit(10000, 1, 0, 1, 0);
    cr_assert_eq(dec_sb(&q), LG_ETOOLARGE, "%s", errmsg);
    cr_assert(strstr(errmsg, "postings: 10000 postings, at most 1024") != NULL, "%s", errmsg);
    pack_big_submit(LG_POSTINGS_MAX, 1, 0, 1, 0);
    cr_assert_eq(dec_sb(&q), LG_OK, "%s", errmsg);
    cr_assert_eq(q.u.submit.n_postings, LG_POSTINGS_MAX);
    pack_big_submit(1, LG_METADATA_ENTRIES_MAX + 1, 0, 1, 0);
    cr_assert_eq(dec_sb(&q), LG_ETOOLARGE);
    cr_assert(strstr(errmsg, "metadata: 65 entries, at most 64") != NULL, "%s", errmsg);
    pack_big_submit(1, LG_METADATA_ENTRIES_MAX, LG_METADATA_KEY_BYTES_MAX,
                    LG_METADATA_VALUE_BYTES_MAX, LG_REFERENCE_BYTES_MAX);
    cr_assert_eq(dec_sb(&q), LG_OK, "%s", errmsg);
    pack_big_submit(1, 1, LG_METADATA_KEY_BYTES_MAX + 1, 1, 0);
    cr_assert_eq(dec_sb(&q), LG_ETOOLARGE);
    cr_assert(strstr(errmsg, "metadata: key \"kkk") != NULL, "%s", errmsg);
    pack_big_submit(1, 1, 0, LG_METADATA_VALUE_BYTES_MAX + 1, 0);
    cr_assert_eq(dec_sb(&q), LG_ETOOLARGE);
    cr_assert(strstr(errmsg, "metadata: value of \"k0\" is 4097 bytes") != NULL, "%s", errmsg);
    pack_big_submit(1, 1, 0, 1, LG_REFERENCE_BYTES_MAX + 1);
    cr_assert_eq(dec_sb(&q), LG_ETOOLARGE);
    cr_assert(strstr(errmsg, "reference: 129 bytes, at most 128") != NULL, "%s", errmsg);
    /* A declared count far beyond the bytes present: rejected before allocating. */
    static const uint8_t lying[] = {0x83, 0xa2, 'i', 'd', 0x01, 0xa2, 'o', 'p', 0xa6, 's', 'u',
                                    'b', 'm', 'i', 't', 0xa8, 'p', 'o', 's', 't', 'i', 'n', 'g',
                                    's', 0xdd, 0x00, 0x00, 0x03, 0xff};
    cr_assert_eq(lg_proto_decode_request(lying, sizeof lying, &arena, &q, errmsg), LG_EBADREQ);
    cr_assert(strstr(errmsg, "truncated") != NULL, "%s", errmsg);
}

Test(proto, deep_nesting_is_refused_without_recursion)
{
    size_t depth = 100000;
    uint8_t *buf = malloc(depth + 32);
    cr_assert_not_null(buf);
    static const uint8_t head[] = {0x83, 0xa2, 'i', 'd', 0x01, 0xa2, 'o', 'p', 0xa4, 'p', 'i',
                                   'n', 'g', 0xa1, 'x'};
    memcpy(buf, head, sizeof head);
    memset(buf + sizeof head, 0x91, depth); /* [[[[...]]]] */
    buf[sizeof head + depth] = 0x01;
    struct lg_proto_request q;
    int rc = lg_proto_decode_request(buf, sizeof head + depth + 1, &arena, &q, errmsg);
    cr_assert_eq(rc, LG_EBADREQ);
    cr_assert(strstr(errmsg, "x: nested too deeply") != NULL, "%s", errmsg);
    cr_assert_eq(q.id, 1u);
    /* Maps too, inside an argument of submit. */
    j2m("{'id': 3, 'op': 'submit', 'ledger': 'l', 'postings': [{'source': {'a': {'b': {'c': "
        "{'d': {'e': {'f': {'g': {'h': {'i': {'j': {'k': {'l': {'m': {'n': {'o': {'p': 1}}}}}}}}}}}"
        "}}}}}}]}");
    cr_assert_eq(dec_sb(&q), LG_EBADREQ);
    cr_assert(strstr(errmsg, "postings: nested too deeply") != NULL, "%s", errmsg);
    /* Within the bound, the shape is checked field by field. */
    j2m("{'id': 3, 'op': 'submit', 'ledger': 'l', 'postings': [{'source': {'a': 1}}]}");
    cr_assert_eq(dec_sb(&q), LG_EBADREQ);
    cr_assert(strstr(errmsg, "postings[0].source: must be a string") != NULL, "%s", errmsg);
    free(buf);
}

/* Encode q, unframe, decode, re-encode: same bytes and same op/id. */
static void round_trip_request(const char *json)
{
    struct lg_proto_request q;
    cr_assert_eq(req(json, &q), LG_OK, "%s: %s", json, errmsg);
    struct lg_buf a;
    struct lg_buf b;
    lg_buf_init(&a);
    lg_buf_init(&b);
    cr_assert_eq(lg_proto_encode_request(&q, &a, errmsg), LG_OK, "%s", errmsg);
    struct lg_frame_decoder fd;
    lg_frame_decoder_init(&fd, 0);
    size_t used = 0;
    const uint8_t *f = NULL;
    uint32_t flen = 0;
    cr_assert_eq(lg_frame_decoder_feed(&fd, a.data, a.len, &used, &f, &flen), LG_OK);
    cr_assert_not_null(f);
    cr_assert_eq(used, a.len);
    struct lg_proto_request q2;
    cr_assert_eq(lg_proto_decode_request(f, flen, &arena, &q2, errmsg), LG_OK, "%s", errmsg);
    cr_assert_eq(q2.op, q.op);
    cr_assert_eq(q2.id, q.id);
    cr_assert_eq(q2.consistency, q.consistency);
    cr_assert_eq(lg_proto_encode_request(&q2, &b, errmsg), LG_OK);
    cr_assert_eq(a.len, b.len, "%s", json);
    cr_assert_eq(memcmp(a.data, b.data, a.len), 0, "%s", json);
    lg_frame_decoder_close(&fd);
    lg_buf_close(&a);
    lg_buf_close(&b);
}

Test(proto, requests_of_every_op_round_trip)
{
    round_trip_request("{'id': 1, 'op': 'ping'}");
    round_trip_request("{'id': 2, 'op': 'status'}");
    round_trip_request("{'id': 3, " "'op': 'submit', 'ledger': 'main', " P1 "}");
    round_trip_request("{" SUB P1 ", 'metadata': {'z': '1', 'a': '\xc3\xa9'}, "
                       "'reference': 'r-1', 'conditions': [{'account': 'users:1', "
                       "'version': 0}, {'account': 'x', 'asset': 'EUR', "
                       "'min_balance': '18446744073709551616'}]}");
    round_trip_request("{'id': 4, 'op': 'submit_batch', 'atomic': true, 'txs': [{'ledger': "
                       "'a', " P1 "}, {'ledger': 'b', " P1 ", 'reference': 'x'}]}");
    round_trip_request("{'id': 5, 'op': 'get_tx', 'ledger': 'l', 'tx_id': 77}");
    round_trip_request("{'id': 6, 'op': 'get_tx', 'ledger': 'l', 'reference': 'r', "
                       "'consistency': 'after', 'after_index': 9}");
    round_trip_request("{'id': 7, 'op': 'list_txs', 'ledger': 'l'}");
    round_trip_request("{'id': 8, 'op': 'list_txs', 'ledger': 'l', 'account': 'a', "
                       "'from_ts': 0, 'to_ts': 0, 'order': 'asc', 'limit': 1, 'cursor': 'c'}");
    round_trip_request("{'id': 9, 'op': 'account', 'ledger': 'l', 'address': 'a:b:c', "
                       "'consistency': 'stale'}");
    round_trip_request("{'id': 10, 'op': 'balances', 'ledger': 'l', 'pattern': '*:x', "
                       "'asset': 'USD/2', 'consistency': 'linearizable'}");
    round_trip_request("{'id': 11, 'op': 'digest'}");
    round_trip_request("{'id': 12, 'op': 'read_index'}");
    round_trip_request("{'id': 13, 'op': 'journal_read', 'from_seq': 1}");
    round_trip_request("{'max_bytes': 8388608, 'id': 14, 'from_seq': 18446744073709551615, "
                       "'op': 'journal_read'}");
}

Test(proto, request_encoder_validates)
{
    struct lg_proto_request q;
    memset(&q, 0, sizeof q);
    q.op = LG_PROTO_OP_ACCOUNT;
    q.u.account.ledger = (struct lg_str){"l", 1};
    q.u.account.address = (struct lg_str){"bad address", 11};
    struct lg_buf out;
    lg_buf_init(&out);
    cr_assert_eq(lg_proto_encode_request(&q, &out, errmsg), LG_EBADREQ);
    cr_assert(strstr(errmsg, "address") != NULL, "%s", errmsg);
    cr_assert_eq(out.len, 0u);
    q.op = 0;
    cr_assert_eq(lg_proto_encode_request(&q, &out, errmsg), LG_EUNKNOWNOP);
    memset(&q, 0, sizeof q);
    q.op = LG_PROTO_OP_JOURNAL_READ;
    cr_assert_eq(lg_proto_encode_request(&q, &out, errmsg), LG_EBADREQ);
    cr_assert(strstr(errmsg, "from_seq: must be greater than 0") != NULL, "%s", errmsg);
    q.u.journal_read.from_seq = 1;
    q.u.journal_read.max_bytes = LG_PROTO_JOURNAL_READ_BYTES_MAX + 1u;
    cr_assert_eq(lg_proto_encode_request(&q, &out, errmsg), LG_ETOOLARGE);
    cr_assert(strstr(errmsg, "max_bytes: 8388609, at most 8388608") != NULL, "%s", errmsg);
    cr_assert_eq(out.len, 0u);
    q.u.journal_read.max_bytes = 0; /* absent: the server's default */
    cr_assert_eq(lg_proto_encode_request(&q, &out, errmsg), LG_OK, "%s", errmsg);
    cr_assert_null(memmem(out.data, out.len, "max_bytes", 9));
    lg_buf_close(&out);
}

/* Encode r for op, decode it back, re-encode: same bytes. Returns the decoded copy. */
static struct lg_proto_response round_trip_response(int op, const struct lg_proto_response *r)
{
    struct lg_buf a;
    struct lg_buf b;
    lg_buf_init(&a);
    lg_buf_init(&b);
    cr_assert_eq(lg_proto_encode_response(op, r, &a), LG_OK);
    struct lg_proto_response back;
    cr_assert_eq(lg_proto_decode_response(op == 0 ? 1 : op, a.data + 4, a.len - 4, &arena, &back,
                                          errmsg), LG_OK, "%s: %s", lg_proto_op_name(op), errmsg);
    cr_assert_eq(lg_proto_encode_response(op, &back, &b), LG_OK);
    cr_assert_eq(a.len, b.len, "%s", lg_proto_op_name(op));
    cr_assert_eq(memcmp(a.data, b.data, a.len), 0, "%s", lg_proto_op_name(op));
    lg_buf_close(&a);
    lg_buf_close(&b);
    return back;
}

#define S(lit) ((struct lg_str){(lit), sizeof(lit) - 1u})

Test(proto, responses_of_every_op_round_trip)
{
    struct lg_proto_response r;
    memset(&r, 0, sizeof r);
    r.id = 5;
    r.ok = true;
    r.u.ping_node_id = 3;
    cr_assert_eq(round_trip_response(LG_PROTO_OP_PING, &r).u.ping_node_id, 3u);

    memset(&r.u, 0, sizeof r.u);
    r.u.status = (struct lg_proto_status){.node_id = 1, .role = LG_PROTO_ROLE_FOLLOWER,
        .leader_id = 2, .leader_client = S("10.0.0.2:7001"), .term = 4, .commit_index = 10,
        .applied_index = 9, .journal_seq = 8};
    memset(r.u.status.chain_head, 0xab, 32);
    struct lg_proto_response s = round_trip_response(LG_PROTO_OP_STATUS, &r);
    cr_assert_eq(s.u.status.role, LG_PROTO_ROLE_FOLLOWER);
    cr_assert_eq(s.u.status.chain_head[31], 0xab);
    r.u.status.leader_client = (struct lg_str){NULL, 0};
    r.u.status.role = LG_PROTO_ROLE_SPARE;
    round_trip_response(LG_PROTO_OP_STATUS, &r);

    memset(&r.u, 0, sizeof r.u);
    r.u.submit = (struct lg_proto_tx_result){.tx_id = 0, .seq = 1, .index = 2,
                                             .timestamp_us = 1700000000000000u};
    memset(r.u.submit.hash, 0x0f, 32);
    cr_assert_eq(round_trip_response(LG_PROTO_OP_SUBMIT, &r).u.submit.timestamp_us,
                 1700000000000000u);

    struct lg_proto_batch_item items[2];
    memset(items, 0, sizeof items);
    items[0].ok = true;
    items[0].result.seq = 3;
    items[1].ok = false;
    items[1].error = (struct lg_proto_error){LG_EFUNDS, S("users:1 has 5 USD/2"), {NULL, 0}};
    r.u.batch.items = items;
    r.u.batch.n_items = 2;
    s = round_trip_response(LG_PROTO_OP_SUBMIT_BATCH, &r);
    cr_assert_eq(s.u.batch.n_items, 2u);
    cr_assert_eq(s.u.batch.items[1].error.code, LG_EFUNDS);

    struct lg_posting postings[2] = {
        {S("world"), S("a"), LG_U128_MAX, S("USD")},
        {S("a"), S("b"), UINT64_MAX, S("EUR/2")},
    };
    struct lg_kv meta[1] = {{S("k"), S("v")}};
    struct lg_proto_tx txs[2];
    memset(txs, 0, sizeof txs);
    txs[0] = (struct lg_proto_tx){.ledger = S("main"), .tx_id = 4, .seq = 5, .index = 6,
        .timestamp_us = 7, .postings = postings, .n_postings = 2, .metadata = meta,
        .n_metadata = 1, .reference = S("ref")};
    txs[1] = txs[0];
    txs[1].reference = (struct lg_str){NULL, 0};
    txs[1].n_metadata = 0;
    memset(&r.u, 0, sizeof r.u);
    r.u.get_tx = txs[0];
    s = round_trip_response(LG_PROTO_OP_GET_TX, &r);
    cr_assert(s.u.get_tx.postings[0].amount == LG_U128_MAX);
    cr_assert(s.u.get_tx.postings[1].amount == UINT64_MAX);
    memset(&r.u, 0, sizeof r.u);
    r.u.list_txs.txs = txs;
    r.u.list_txs.n_txs = 2;
    r.u.list_txs.cursor = S("next");
    s = round_trip_response(LG_PROTO_OP_LIST_TXS, &r);
    cr_assert_eq(s.u.list_txs.n_txs, 2u);
    cr_assert_eq(s.u.list_txs.txs[1].reference.len, 0u);
    r.u.list_txs.cursor = (struct lg_str){NULL, 0};
    r.u.list_txs.n_txs = 0;
    round_trip_response(LG_PROTO_OP_LIST_TXS, &r);

    struct lg_proto_volume vols[3] = {
        {S("USD"), 10, 3, 7},
        {S("EUR"), 0, (lg_u128)1 << 70, -((lg_i128)1 << 70)},
        {S("JPY"), 0, (lg_u128)INT64_MAX + 1, (lg_i128)INT64_MIN},
    };
    memset(&r.u, 0, sizeof r.u);
    r.u.account = (struct lg_proto_account){S("users:1"), meta, 1, 12, vols, 3};
    s = round_trip_response(LG_PROTO_OP_ACCOUNT, &r);
    cr_assert(s.u.account.volumes[1].balance == -((lg_i128)1 << 70));
    cr_assert(s.u.account.volumes[2].balance == (lg_i128)INT64_MIN);

    struct lg_proto_balance bal[2] = {{S("USD"), -5}, {S("EUR"), LG_I128_MIN}};
    struct lg_proto_account_balances acc[2] = {{S("a"), bal, 2}, {S("b"), bal, 1}};
    memset(&r.u, 0, sizeof r.u);
    r.u.balances = (struct lg_proto_balances){acc, 2, bal, 2};
    s = round_trip_response(LG_PROTO_OP_BALANCES, &r);
    cr_assert(s.u.balances.accounts[0].balances[1].balance == LG_I128_MIN);
    cr_assert(s.u.balances.totals[0].balance == -5);

    memset(&r.u, 0, sizeof r.u);
    r.u.digest = (struct lg_proto_digest){.tree_size = 100, .timestamp_us = 1, .node_id = 2,
        .public_key = S("\x01\x02\xfe"), .signature = S("\x00\xff")};
    s = round_trip_response(LG_PROTO_OP_DIGEST, &r);
    cr_assert_eq(s.u.digest.public_key.len, 3u);
    cr_assert_eq((uint8_t)s.u.digest.public_key.ptr[2], 0xfe);
}

Test(proto, error_responses)
{
    struct lg_buf out;
    lg_buf_init(&out);
    cr_assert_eq(lg_proto_encode_error(9, LG_ENOTLEADER, "not the leader", "10.0.0.1:7001",
                                       &out), LG_OK);
    struct lg_proto_response r;
    cr_assert_eq(lg_proto_decode_response(LG_PROTO_OP_SUBMIT, out.data + 4, out.len - 4, &arena,
                                          &r, errmsg), LG_OK, "%s", errmsg);
    cr_assert_not(r.ok);
    cr_assert_eq(r.id, 9u);
    cr_assert_eq(r.error.code, LG_ENOTLEADER);
    cr_assert(str_eq(r.error.leader, "10.0.0.1:7001"));
    cr_assert(str_eq(r.error.message, "not the leader"));
    lg_buf_reset(&out);
    cr_assert_eq(lg_proto_encode_error(0, LG_ENOMEM, NULL, NULL, &out), LG_OK);
    cr_assert_eq(lg_proto_decode_response(LG_PROTO_OP_PING, out.data + 4, out.len - 4, &arena,
                                          &r, errmsg), LG_OK);
    cr_assert_eq(r.error.code, LG_EIO, "internal codes travel as \"internal\"");
    cr_assert(str_eq(r.error.message, "out of memory"));
    lg_buf_close(&out);
    /* A response missing its result, and one with unknown extra keys (accepted). */
    j2m("{'id': 1, 'ok': true}");
    cr_assert_eq(lg_proto_decode_response(LG_PROTO_OP_PING, sb.data, sb.size, &arena, &r,
                                          errmsg), LG_EBADREQ);
    cr_assert(strstr(errmsg, "response.result: missing") != NULL, "%s", errmsg);
    j2m("{'id': 1, 'extra': [1, {'a': 2}], 'result': {'node_id': 4, 'x': null}, 'ok': true}");
    cr_assert_eq(lg_proto_decode_response(LG_PROTO_OP_PING, sb.data, sb.size, &arena, &r,
                                          errmsg), LG_OK, "%s", errmsg);
    cr_assert_eq(r.u.ping_node_id, 4u);
    j2m("{'id': 1, 'ok': true, 'result': {'node_id': '4'}}");
    cr_assert_eq(lg_proto_decode_response(LG_PROTO_OP_PING, sb.data, sb.size, &arena, &r,
                                          errmsg), LG_EBADREQ);
    cr_assert(strstr(errmsg, "response.result.node_id: must be an unsigned integer") != NULL,
              "%s", errmsg);
}

Test(proto, wire_forms_of_amounts)
{
    /* Amounts: integer up to 2^64 - 1, text above; balances: int64 range as integers. */
    struct lg_proto_volume v[1] = {{S("USD"), UINT64_MAX, (lg_u128)UINT64_MAX + 1, -1}};
    struct lg_proto_response r;
    memset(&r, 0, sizeof r);
    r.ok = true;
    r.u.account = (struct lg_proto_account){S("a"), NULL, 0, 0, v, 1};
    struct lg_buf out;
    lg_buf_init(&out);
    cr_assert_eq(lg_proto_encode_response(LG_PROTO_OP_ACCOUNT, &r, &out), LG_OK);
    const char *hay = (const char *)out.data;
    cr_assert_not_null(memmem(hay, out.len, "\xa5input\xcf\xff\xff\xff\xff\xff\xff\xff\xff", 15));
    cr_assert_not_null(memmem(hay, out.len, "\xa6output\xb4" "18446744073709551616", 28));
    cr_assert_not_null(memmem(hay, out.len, "\xa7" "balance\xff", 9));
    lg_buf_close(&out);
    cr_assert_eq(lg_proto_encode_response(0, &r, &out), LG_EINVAL);
    r.ok = true;
    memset(&r.u, 0, sizeof r.u);
    r.u.status.role = 9;
    cr_assert_eq(lg_proto_encode_response(LG_PROTO_OP_STATUS, &r, &out), LG_EINVAL);
    cr_assert_eq(out.len, 0u, "rolled back");
    lg_buf_close(&out);
}

Test(proto, decodes_internal_ops)
{
    struct lg_proto_request q;
    cr_assert_eq(req("{'op': 'read_index', 'id': 3}", &q), LG_OK, "%s", errmsg);
    cr_assert_eq(q.op, LG_PROTO_OP_READ_INDEX);
    cr_assert_eq(q.id, 3u);
    cr_assert_eq(q.consistency, LG_PROTO_READ_DEFAULT);
    cr_assert_eq(req("{'from_seq': 7, 'op': 'journal_read', 'id': 4}", &q), LG_OK, "%s", errmsg);
    cr_assert_eq(q.op, LG_PROTO_OP_JOURNAL_READ);
    cr_assert_eq(q.u.journal_read.from_seq, 7u);
    cr_assert_eq(q.u.journal_read.max_bytes, 0u, "absent: the server's default");
    cr_assert_eq(req("{'id': 5, 'op': 'journal_read', 'from_seq': 1, 'max_bytes': 1}", &q), LG_OK);
    cr_assert_eq(q.u.journal_read.max_bytes, 1u);
    cr_assert_eq(req("{'id': 5, 'op': 'journal_read', 'from_seq': 2, 'max_bytes': 8388608}", &q),
                 LG_OK);
    cr_assert_eq(q.u.journal_read.max_bytes, LG_PROTO_JOURNAL_READ_BYTES_MAX);
}

Test(proto, internal_op_errors)
{
    BAD("{'id': 1, 'op': 'read_index', 'from_seq': 1}", LG_EBADREQ,
        "from_seq: unknown field for read_index");
    BAD("{'id': 1, 'op': 'read_index', 'consistency': 'stale'}", LG_EBADREQ,
        "consistency: unknown field for read_index");
    BAD("{'id': 1, 'op': 'read_index', 'after_index': 2}", LG_EBADREQ,
        "after_index: unknown field for read_index");
    BAD("{'id': 1, 'op': 'journal_read'}", LG_EBADREQ, "from_seq: missing");
    BAD("{'id': 1, 'op': 'journal_read', 'max_bytes': 5}", LG_EBADREQ, "from_seq: missing");
    BAD("{'id': 1, 'op': 'journal_read', 'from_seq': 0}", LG_EBADREQ,
        "from_seq: must be greater than 0");
    BAD("{'id': 1, 'op': 'journal_read', 'from_seq': '5'}", LG_EBADREQ,
        "from_seq: must be an unsigned integer");
    BAD("{'id': 1, 'op': 'journal_read', 'from_seq': -1}", LG_EBADREQ,
        "from_seq: must not be negative");
    BAD("{'id': 1, 'op': 'journal_read', 'from_seq': 1.5}", LG_EBADREQ,
        "from_seq: must be an unsigned integer");
    BAD("{'id': 1, 'op': 'journal_read', 'from_seq': 1, 'from_seq': 2}", LG_EBADREQ,
        "from_seq: duplicate key");
    BAD("{'id': 1, 'op': 'journal_read', 'from_seq': 1, 'max_bytes': 0}", LG_EBADREQ,
        "max_bytes: must be between 1 and 8388608");
    BAD("{'id': 1, 'op': 'journal_read', 'from_seq': 1, 'max_bytes': 8388609}", LG_ETOOLARGE,
        "max_bytes: 8388609, at most 8388608");
    BAD("{'id': 1, 'op': 'journal_read', 'from_seq': 1, 'max_bytes': 18446744073709551615}",
        LG_ETOOLARGE, "max_bytes: 18446744073709551615, at most 8388608");
    BAD("{'id': 1, 'op': 'journal_read', 'from_seq': 1, 'max_bytes': null}", LG_EBADREQ,
        "max_bytes: must be an unsigned integer");
    BAD("{'id': 1, 'op': 'journal_read', 'from_seq': 1, 'ledger': 'main'}", LG_EBADREQ,
        "ledger: unknown field for journal_read");
    BAD("{'id': 1, 'op': 'journal_read', 'from_seq': 1, 'consistency': 'stale'}", LG_EBADREQ,
        "consistency: unknown field for journal_read");
    BAD("{'id': 1, 'op': 'submit', 'ledger': 'l', 'from_seq': 1, " P1 "}", LG_EBADREQ,
        "from_seq: unknown field for submit");
}

Test(proto, internal_responses_round_trip)
{
    struct lg_proto_response r;
    memset(&r, 0, sizeof r);
    r.id = 8;
    r.ok = true;
    r.u.read_index = UINT64_MAX;
    cr_assert_eq(round_trip_response(LG_PROTO_OP_READ_INDEX, &r).u.read_index, UINT64_MAX);

    /* Bodies are raw bytes (NULs included), carried as msgpack bins. */
    static char big[70000];
    memset(big, 0x5a, sizeof big);
    struct lg_str recs[3] = {S("\x82\x00\x01"), {big, sizeof big}, S("x")};
    memset(&r.u, 0, sizeof r.u);
    r.u.journal_read.records = recs;
    r.u.journal_read.n_records = 3;
    r.u.journal_read.first_seq = 10;
    r.u.journal_read.last_seq = 12;
    struct lg_proto_response s = round_trip_response(LG_PROTO_OP_JOURNAL_READ, &r);
    cr_assert_eq(s.u.journal_read.n_records, 3u);
    cr_assert_eq(s.u.journal_read.first_seq, 10u);
    cr_assert_eq(s.u.journal_read.last_seq, 12u);
    /* The bodies are views into the frame: decode again from a buffer kept alive. */
    struct lg_buf out;
    lg_buf_init(&out);
    cr_assert_eq(lg_proto_encode_response(LG_PROTO_OP_JOURNAL_READ, &r, &out), LG_OK);
    cr_assert_eq(lg_proto_decode_response(LG_PROTO_OP_JOURNAL_READ, out.data + 4, out.len - 4,
                                          &arena, &s, errmsg), LG_OK, "%s", errmsg);
    cr_assert_eq(s.u.journal_read.records[0].len, 3u);
    cr_assert_eq(memcmp(s.u.journal_read.records[0].ptr, "\x82\x00\x01", 3), 0);
    cr_assert_eq(s.u.journal_read.records[1].len, sizeof big);
    cr_assert_eq(memcmp(s.u.journal_read.records[1].ptr, big, sizeof big), 0);
    cr_assert_eq(s.u.journal_read.records[2].len, 1u);
    lg_buf_reset(&out);
    /* Nothing past the end of the journal: no records, any first_seq. */
    r.u.journal_read.n_records = 0;
    r.u.journal_read.first_seq = 13;
    s = round_trip_response(LG_PROTO_OP_JOURNAL_READ, &r);
    cr_assert_eq(s.u.journal_read.n_records, 0u);
    cr_assert_eq(s.u.journal_read.first_seq, 13u);
    /* The encoder refuses what the decoder would. */
    r.u.journal_read.n_records = 3;
    r.u.journal_read.last_seq = 11;
    cr_assert_eq(lg_proto_encode_response(LG_PROTO_OP_JOURNAL_READ, &r, &out), LG_EINVAL);
    r.u.journal_read.last_seq = 12;
    r.u.journal_read.first_seq = 0;
    cr_assert_eq(lg_proto_encode_response(LG_PROTO_OP_JOURNAL_READ, &r, &out), LG_EINVAL);
    r.u.journal_read.first_seq = UINT64_MAX;
    r.u.journal_read.last_seq = UINT64_MAX;
    cr_assert_eq(lg_proto_encode_response(LG_PROTO_OP_JOURNAL_READ, &r, &out), LG_EINVAL,
                 "seqs past 2^64 - 1");
    r.u.journal_read.first_seq = UINT64_MAX - 2u;
    cr_assert_eq(lg_proto_encode_response(LG_PROTO_OP_JOURNAL_READ, &r, &out), LG_OK);
    lg_buf_reset(&out);
    recs[2].len = 0;
    cr_assert_eq(lg_proto_encode_response(LG_PROTO_OP_JOURNAL_READ, &r, &out), LG_EINVAL);
    recs[2].len = LG_RECORD_BODY_BYTES_MAX + 1u;
    cr_assert_eq(lg_proto_encode_response(LG_PROTO_OP_JOURNAL_READ, &r, &out), LG_ETOOLARGE);
    recs[2].len = 1;
    r.u.journal_read.n_records = LG_PROTO_JOURNAL_READ_RECORDS_MAX + 1u;
    cr_assert_eq(lg_proto_encode_response(LG_PROTO_OP_JOURNAL_READ, &r, &out), LG_ETOOLARGE);
    cr_assert_eq(out.len, 0u, "rolled back");
    /* An error answer to an internal op decodes like any other. */
    cr_assert_eq(lg_proto_encode_error(8, LG_ENOTLEADER, NULL, "10.0.0.3:7001", &out), LG_OK);
    cr_assert_eq(lg_proto_decode_response(LG_PROTO_OP_READ_INDEX, out.data + 4, out.len - 4,
                                          &arena, &s, errmsg), LG_OK, "%s", errmsg);
    cr_assert_not(s.ok);
    cr_assert_eq(s.error.code, LG_ENOTLEADER);
    cr_assert(str_eq(s.error.leader, "10.0.0.3:7001"));
    lg_buf_close(&out);
}

/* Pack {'id': 1, 'ok': true, 'result': {'records': [n_bins bins of `body`, then `tail`
 * raw msgpack bytes], 'first_seq': first, 'last_seq': last}} into sb. */
static void pack_journal_read(uint32_t n_bins, const char *body, size_t body_len,
                              const char *tail, size_t tail_len, uint32_t declared,
                              uint64_t first, uint64_t last)
{
    msgpack_sbuffer_clear(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    msgpack_pack_str_with_body(&pk, "id", 2);
    msgpack_pack_uint64(&pk, 1);
    msgpack_pack_str_with_body(&pk, "ok", 2);
    msgpack_pack_true(&pk);
    msgpack_pack_str_with_body(&pk, "result", 6);
    msgpack_pack_map(&pk, 3);
    msgpack_pack_str_with_body(&pk, "first_seq", 9);
    msgpack_pack_uint64(&pk, first);
    msgpack_pack_str_with_body(&pk, "records", 7);
    msgpack_pack_array(&pk, declared);
    for (uint32_t i = 0; i < n_bins; i++) {
        msgpack_pack_bin_with_body(&pk, body, body_len);
    }
    msgpack_sbuffer_write(&sb, tail, tail_len);
    msgpack_pack_str_with_body(&pk, "last_seq", 8);
    msgpack_pack_uint64(&pk, last);
}

static int dec_journal_read(struct lg_proto_response *r)
{
    errmsg[0] = '\0';
    return lg_proto_decode_response(LG_PROTO_OP_JOURNAL_READ, sb.data, sb.size, &arena, r,
                                    errmsg);
}

#define HAS(want) cr_assert(strstr(errmsg, (want)) != NULL, "\"%s\" lacks \"%s\"", errmsg, (want))

Test(proto, internal_response_errors)
{
    struct lg_proto_response r;
    pack_journal_read(2, "ab", 2, "", 0, 2, 5, 6);
    cr_assert_eq(dec_journal_read(&r), LG_OK, "%s", errmsg);
    cr_assert_eq(r.u.journal_read.n_records, 2u);
    /* A record as a string, not a bin. */
    pack_journal_read(1, "ab", 2, "\xa2" "ab", 3, 2, 5, 6);
    cr_assert_eq(dec_journal_read(&r), LG_EBADREQ);
    HAS("response.result.records[1]: must be a bin");
    pack_journal_read(1, "ab", 2, "\xc4\x00", 2, 2, 5, 6);
    cr_assert_eq(dec_journal_read(&r), LG_EBADREQ);
    HAS("response.result.records[1]: must not be empty");
    /* A bin declaring more bytes than follow. */
    pack_journal_read(0, "", 0, "\xc6\x00\x10\x00\x00", 5, 1, 5, 6);
    cr_assert_eq(dec_journal_read(&r), LG_EBADREQ);
    HAS("response.result.records[0]: truncated");
    /* Counts: above the limit, or more than the bytes left. */
    pack_journal_read(0, "", 0, "", 0, LG_PROTO_JOURNAL_READ_RECORDS_MAX + 1u, 5, 6);
    cr_assert_eq(dec_journal_read(&r), LG_ETOOLARGE);
    HAS("response.result.records: 65537 records, at most 65536");
    pack_journal_read(1, "ab", 2, "", 0, 1000, 5, 6);
    cr_assert_eq(dec_journal_read(&r), LG_EBADREQ);
    HAS("response.result.records: truncated");
    /* Seqs: the records must fit between first_seq (>= 1) and last_seq. */
    pack_journal_read(3, "ab", 2, "", 0, 3, 5, 6);
    cr_assert_eq(dec_journal_read(&r), LG_EBADREQ);
    HAS("response.result: records must hold seqs first_seq (>= 1) up to at most last_seq");
    pack_journal_read(1, "ab", 2, "", 0, 1, 0, 6);
    cr_assert_eq(dec_journal_read(&r), LG_EBADREQ);
    HAS("first_seq (>= 1)");
    pack_journal_read(2, "ab", 2, "", 0, 2, UINT64_MAX, UINT64_MAX);
    cr_assert_eq(dec_journal_read(&r), LG_EBADREQ);
    pack_journal_read(0, "", 0, "", 0, 0, 99, 6);
    cr_assert_eq(dec_journal_read(&r), LG_OK, "no records: first_seq past the end is fine");
    /* Missing fields and wrong types. */
    j2m("{'id': 1, 'ok': true, 'result': {'records': [], 'first_seq': 1}}");
    cr_assert_eq(dec_journal_read(&r), LG_EBADREQ);
    HAS("response.result.last_seq: missing");
    j2m("{'id': 1, 'ok': true, 'result': {'records': {}, 'first_seq': 1, 'last_seq': 1}}");
    cr_assert_eq(dec_journal_read(&r), LG_EBADREQ);
    HAS("response.result.records: must be an array");
    j2m("{'id': 1, 'ok': true, 'result': {'index': -3}}");
    cr_assert_eq(lg_proto_decode_response(LG_PROTO_OP_READ_INDEX, sb.data, sb.size, &arena, &r,
                                          errmsg), LG_EBADREQ);
    HAS("response.result.index: must not be negative");
    j2m("{'id': 1, 'ok': true, 'result': {}}");
    cr_assert_eq(lg_proto_decode_response(LG_PROTO_OP_READ_INDEX, sb.data, sb.size, &arena, &r,
                                          errmsg), LG_EBADREQ);
    HAS("response.result.index: missing");
    j2m("{'id': 1, 'ok': true, 'result': {'term': 3, 'index': 9}}");
    cr_assert_eq(lg_proto_decode_response(LG_PROTO_OP_READ_INDEX, sb.data, sb.size, &arena, &r,
                                          errmsg), LG_OK, "%s", errmsg);
    cr_assert_eq(r.u.read_index, 9u, "unknown keys are skipped");
}

Test(proto, names)
{
    cr_assert_eq(lg_proto_op_from_name("submit_batch", 12), LG_PROTO_OP_SUBMIT_BATCH);
    cr_assert_eq(lg_proto_op_from_name("", 0), LG_PROTO_OP_NONE);
    cr_assert_str_eq(lg_proto_op_name(LG_PROTO_OP_LIST_TXS), "list_txs");
    cr_assert_str_eq(lg_proto_op_name(99), "");
    cr_assert_str_eq(lg_proto_op_name(LG_PROTO_OP_READ_INDEX), "read_index");
    cr_assert_str_eq(lg_proto_op_name(LG_PROTO_OP_JOURNAL_READ), "journal_read");
    cr_assert_eq(lg_proto_op_from_name("journal_read", 12), LG_PROTO_OP_JOURNAL_READ);
    cr_assert_eq(lg_proto_op_from_name("read_index", 10), LG_PROTO_OP_READ_INDEX);
    cr_assert_eq(lg_proto_op_from_name("read_indexx", 11), LG_PROTO_OP_NONE);
    for (int op = 1; op < LG_PROTO_OP_COUNT; op++) {
        const char *name = lg_proto_op_name(op);
        cr_assert_neq(name[0], '\0', "op %d has a name", op);
        cr_assert_eq(lg_proto_op_from_name(name, strlen(name)), op);
    }
    cr_assert_str_eq(lg_proto_role_name(LG_PROTO_ROLE_CANDIDATE), "candidate");
}

Test(proto, members_round_trip_and_bad_members)
{
    struct lg_proto_member m[2] = {
        {1, S("pod-0.ledger:7001"), S("10.0.0.1:7002"), S("voter"), true, S("alive"), 3},
        {2, S("pod-1.ledger:7001"), {NULL, 0}, S("none"), false, {NULL, 0}, 0},
    };
    struct lg_proto_response r;
    memset(&r, 0, sizeof r);
    r.id = 4;
    r.ok = true;
    r.u.members.items = m;
    r.u.members.n_items = 2;
    struct lg_proto_response s = round_trip_response(LG_PROTO_OP_MEMBERS, &r);
    cr_assert_eq(s.u.members.n_items, 2);
    cr_assert_eq(s.u.members.items[0].id, 1);
    cr_assert(s.u.members.items[0].leader);
    cr_assert_eq(s.u.members.items[1].client_address.len, 0, "nil client address");
    cr_assert_eq(memcmp(s.u.members.items[1].role.ptr, "none", 4), 0);
    /* Gossip state beside the role (issue 6): a string, or nil when gossip does not know
     * the member; the incarnation. */
    cr_assert_eq(s.u.members.items[0].gossip.len, 5);
    cr_assert_eq(memcmp(s.u.members.items[0].gossip.ptr, "alive", 5), 0);
    cr_assert_eq(s.u.members.items[0].incarnation, 3u);
    cr_assert_eq(s.u.members.items[1].gossip.len, 0, "nil gossip state");
    /* The request takes no argument. */
    struct lg_proto_request q;
    memset(&q, 0, sizeof q);
    q.id = 1;
    q.op = LG_PROTO_OP_MEMBERS;
    q.consistency = LG_PROTO_READ_STALE;
    cr_assert_eq(lg_proto_check_request(&q, errmsg), LG_EBADREQ);
    /* status: the gossip map is optional (issue 6). */
    memset(&r.u, 0, sizeof r.u);
    r.u.status.role = LG_PROTO_ROLE_FOLLOWER;
    r.u.status.has_gossip = true;
    r.u.status.gossip = (struct lg_proto_gossip){5, 1, 2, 3, 7, 8, 9};
    s = round_trip_response(LG_PROTO_OP_STATUS, &r);
    cr_assert(s.u.status.has_gossip);
    cr_assert_eq(s.u.status.gossip.alive, 5u);
    cr_assert_eq(s.u.status.gossip.left, 3u);
    cr_assert_eq(s.u.status.gossip.dropped_auth, 7u);
    cr_assert_eq(s.u.status.gossip.dropped_cluster, 8u);
    cr_assert_eq(s.u.status.gossip.dropped_malformed, 9u);
    r.u.status.has_gossip = false;
    cr_assert_not(round_trip_response(LG_PROTO_OP_STATUS, &r).u.status.has_gossip);
    r.u.members.items = m;
    r.u.members.n_items = 2;
    /* An encoder refuses a member without a raft address; a decoder a missing field. */
    m[0].raft_address.len = 0;
    struct lg_buf b;
    lg_buf_init(&b);
    cr_assert_eq(lg_proto_encode_response(LG_PROTO_OP_MEMBERS, &r, &b), LG_EINVAL);
    lg_buf_close(&b);
    static const uint8_t no_role[] = {
        0x83, 0xa2, 'i', 'd', 0x01, 0xa2, 'o', 'k', 0xc3, 0xa6, 'r', 'e', 's', 'u', 'l', 't',
        0x81, 0xa7, 'm', 'e', 'm', 'b', 'e', 'r', 's', 0x91, 0x84, 0xa2, 'i', 'd', 0x01,
        0xac, 'r', 'a', 'f', 't', '_', 'a', 'd', 'd', 'r', 'e', 's', 's', 0xa3, 'a', ':', '1',
        0xae, 'c', 'l', 'i', 'e', 'n', 't', '_', 'a', 'd', 'd', 'r', 'e', 's', 's', 0xc0,
        0xa6, 'l', 'e', 'a', 'd', 'e', 'r', 0xc2};
    struct lg_proto_response back;
    cr_assert_eq(lg_proto_decode_response(LG_PROTO_OP_MEMBERS, no_role, sizeof no_role, &arena,
                                          &back, errmsg), LG_EBADREQ);
    cr_assert(strstr(errmsg, "role") != NULL, "%s", errmsg);
}

/* Issue 8: digest {tree_size?}, proof {seq, tree_size?}, consistency {from_size, to_size}:
 * arguments, their errors, and the results (nested digest, hex body, hex paths), plus the
 * status fields public_key and audit, both ways. */
Test(proto, verifiable_ledger_requests)
{
    struct lg_proto_request q;
    cr_assert_eq(req("{'id': 1, 'op': 'digest', 'tree_size': 0}", &q), LG_OK, "%s", errmsg);
    cr_assert(q.u.digest.has_tree_size);
    cr_assert_eq(q.u.digest.tree_size, 0u);
    cr_assert_eq(req("{'id': 1, 'op': 'digest'}", &q), LG_OK, "%s", errmsg);
    cr_assert_not(q.u.digest.has_tree_size);
    cr_assert_eq(req("{'id': 2, 'op': 'proof', 'seq': 3, 'consistency': 'stale'}", &q), LG_OK,
                 "%s", errmsg);
    cr_assert_eq(q.u.proof.seq, 3u);
    cr_assert_not(q.u.proof.has_tree_size);
    cr_assert_eq(q.consistency, LG_PROTO_READ_STALE);
    cr_assert_eq(req("{'id': 2, 'op': 'proof', 'seq': 3, 'tree_size': 3}", &q), LG_OK);
    cr_assert(q.u.proof.has_tree_size);
    cr_assert_eq(q.u.proof.tree_size, 3u);
    cr_assert_eq(req("{'id': 3, 'op': 'consistency', 'from_size': 2, 'to_size': 9, "
                     "'after_index': 4}", &q), LG_OK, "%s", errmsg);
    cr_assert_eq(q.u.consistency.from_size, 2u);
    cr_assert_eq(q.u.consistency.to_size, 9u);
    cr_assert_eq(q.consistency, LG_PROTO_READ_AFTER);
    round_trip_request("{'id': 4, 'op': 'digest', 'tree_size': 18446744073709551615}");
    round_trip_request("{'id': 5, 'op': 'proof', 'seq': 1}");
    round_trip_request("{'id': 6, 'op': 'proof', 'seq': 7, 'tree_size': 9, "
                       "'consistency': 'linearizable'}");
    round_trip_request("{'id': 7, 'op': 'consistency', 'from_size': 5, 'to_size': 5}");

    BAD("{'id': 1, 'op': 'proof'}", LG_EBADREQ, "seq: missing");
    BAD("{'id': 1, 'op': 'proof', 'seq': 0}", LG_EBADREQ, "seq: must be greater than 0");
    BAD("{'id': 1, 'op': 'proof', 'seq': 4, 'tree_size': 3}", LG_EBADREQ,
        "seq: 4 is beyond tree_size 3");
    BAD("{'id': 1, 'op': 'proof', 'seq': 1, 'tree_size': 0}", LG_EBADREQ,
        "seq: 1 is beyond tree_size 0");
    BAD("{'id': 1, 'op': 'proof', 'seq': '1'}", LG_EBADREQ, "seq: must be an unsigned integer");
    BAD("{'id': 1, 'op': 'proof', 'seq': -1}", LG_EBADREQ, "seq: must not be negative");
    BAD("{'id': 1, 'op': 'proof', 'seq': 1, 'from_size': 1}", LG_EBADREQ,
        "from_size: unknown field for proof");
    BAD("{'id': 1, 'op': 'consistency', 'to_size': 3}", LG_EBADREQ, "from_size: missing");
    BAD("{'id': 1, 'op': 'consistency', 'from_size': 3}", LG_EBADREQ, "to_size: missing");
    BAD("{'id': 1, 'op': 'consistency', 'from_size': 0, 'to_size': 3}", LG_EBADREQ,
        "from_size: must be greater than 0");
    BAD("{'id': 1, 'op': 'consistency', 'from_size': 4, 'to_size': 3}", LG_EBADREQ,
        "from_size: 4 is greater than to_size 3");
    BAD("{'id': 1, 'op': 'digest', 'tree_size': 1.5}", LG_EBADREQ,
        "tree_size: must be an unsigned integer");
    BAD("{'id': 1, 'op': 'digest', 'seq': 1}", LG_EBADREQ, "seq: unknown field for digest");
    BAD("{'id': 1, 'op': 'status', 'tree_size': 1}", LG_EBADREQ,
        "tree_size: unknown field for status");

    /* The encoder refuses what the decoder refuses. */
    memset(&q, 0, sizeof q);
    q.op = LG_PROTO_OP_CONSISTENCY;
    q.u.consistency.from_size = 5;
    q.u.consistency.to_size = 4;
    struct lg_buf out;
    lg_buf_init(&out);
    cr_assert_eq(lg_proto_encode_request(&q, &out, errmsg), LG_EBADREQ);
    cr_assert_eq(out.len, 0u);
    lg_buf_close(&out);
}

Test(proto, verifiable_ledger_responses)
{
    uint8_t path[3][LG_PROTO_HASH_BYTES];
    memset(path, 0, sizeof path);
    path[0][0] = 0x01;
    path[2][31] = 0xff;
    struct lg_proto_response r;
    memset(&r, 0, sizeof r);
    r.id = 8;
    r.ok = true;
    struct lg_proto_proof *f = &r.u.proof;
    f->seq = 5;
    f->leaf_index = 4;
    f->tree_size = 7;
    f->body = S("\x85\xa1v\x01\x00\xfe");
    f->path.hashes = (const uint8_t(*)[LG_PROTO_HASH_BYTES])path;
    f->path.n = 3;
    f->digest = (struct lg_proto_digest){.tree_size = 7, .timestamp_us = 11, .node_id = 2,
        .public_key = S("\x01\x02"), .signature = S("\x03")};
    f->digest.root[0] = 0xaa;
    struct lg_proto_response s = round_trip_response(LG_PROTO_OP_PROOF, &r);
    cr_assert_eq(s.u.proof.seq, 5u);
    cr_assert_eq(s.u.proof.body.len, 6u);
    cr_assert_eq(memcmp(s.u.proof.body.ptr, f->body.ptr, 6), 0);
    cr_assert_eq(s.u.proof.path.n, 3u);
    cr_assert_eq(s.u.proof.path.hashes[2][31], 0xff);
    cr_assert_eq(s.u.proof.digest.root[0], 0xaa);
    cr_assert_eq(s.u.proof.digest.tree_size, 7u);

    /* Shapes the codec refuses on both sides. */
    struct lg_buf b;
    lg_buf_init(&b);
    f->leaf_index = 5;
    cr_assert_eq(lg_proto_encode_response(LG_PROTO_OP_PROOF, &r, &b), LG_EINVAL);
    f->leaf_index = 4;
    f->digest.tree_size = 6;
    cr_assert_eq(lg_proto_encode_response(LG_PROTO_OP_PROOF, &r, &b), LG_EINVAL);
    f->digest.tree_size = 7;
    f->seq = 8;
    f->leaf_index = 7;
    cr_assert_eq(lg_proto_encode_response(LG_PROTO_OP_PROOF, &r, &b), LG_EINVAL);
    f->seq = 5;
    f->leaf_index = 4;
    f->body.len = 0;
    cr_assert_eq(lg_proto_encode_response(LG_PROTO_OP_PROOF, &r, &b), LG_EINVAL);
    f->body.len = 6;
    f->path.n = LG_PROTO_PATH_HASHES_MAX + 1u;
    cr_assert_eq(lg_proto_encode_response(LG_PROTO_OP_PROOF, &r, &b), LG_EINVAL);
    cr_assert_eq(b.len, 0u);
    j2m("{'id': 1, 'ok': true, 'result': {'seq': 2, 'leaf_index': 1, 'tree_size': 1, "
        "'body': '00', 'path': [], 'digest': {'tree_size': 1, 'root': "
        "'0000000000000000000000000000000000000000000000000000000000000000', "
        "'timestamp': 1, 'node_id': 1, 'public_key': '', 'signature': ''}}}");
    cr_assert_eq(lg_proto_decode_response(LG_PROTO_OP_PROOF, sb.data, sb.size, &arena, &s,
                                          errmsg), LG_EBADREQ);
    cr_assert(strstr(errmsg, "seq must be in 1..tree_size") != NULL, "%s", errmsg);
    j2m("{'id': 1, 'ok': true, 'result': {'seq': 1, 'leaf_index': 0, 'tree_size': 1, "
        "'body': '0G', 'path': [], 'digest': {}}}");
    cr_assert_eq(lg_proto_decode_response(LG_PROTO_OP_PROOF, sb.data, sb.size, &arena, &s,
                                          errmsg), LG_EBADREQ);
    cr_assert(strstr(errmsg, "body: must be lowercase hex") != NULL, "%s", errmsg);
    j2m("{'id': 1, 'ok': true, 'result': {'from_size': 1, 'to_size': 2, 'path': ['ab']}}");
    cr_assert_eq(lg_proto_decode_response(LG_PROTO_OP_CONSISTENCY, sb.data, sb.size, &arena,
                                          &s, errmsg), LG_EBADREQ);
    cr_assert(strstr(errmsg, "path[0]: must be 64 lowercase hex characters") != NULL, "%s",
              errmsg);

    memset(&r.u, 0, sizeof r.u);
    r.u.consistency.from_size = 3;
    r.u.consistency.to_size = 7;
    r.u.consistency.path.hashes = (const uint8_t(*)[LG_PROTO_HASH_BYTES])path;
    r.u.consistency.path.n = 2;
    s = round_trip_response(LG_PROTO_OP_CONSISTENCY, &r);
    cr_assert_eq(s.u.consistency.path.n, 2u);
    cr_assert_eq(s.u.consistency.path.hashes[0][0], 0x01);
    r.u.consistency.path.n = 0;
    r.u.consistency.from_size = 7;
    cr_assert_eq(round_trip_response(LG_PROTO_OP_CONSISTENCY, &r).u.consistency.path.n, 0u);
    r.u.consistency.from_size = 8;
    cr_assert_eq(lg_proto_encode_response(LG_PROTO_OP_CONSISTENCY, &r, &b), LG_EINVAL);

    /* status: public_key and audit are optional (older nodes lack them). */
    memset(&r.u, 0, sizeof r.u);
    r.u.status.role = LG_PROTO_ROLE_LEADER;
    r.u.status.public_key = S("\x11\x22\x33");
    r.u.status.has_audit = true;
    r.u.status.audit = (struct lg_proto_audit){.interval_ms = 30000, .checks = 12,
                                               .mismatches = 1, .errors = 2, .skipped = 5,
                                               .last_mismatch_peer = 3,
                                               .last_mismatch_size = 40};
    s = round_trip_response(LG_PROTO_OP_STATUS, &r);
    cr_assert_eq(s.u.status.public_key.len, 3u);
    cr_assert(s.u.status.has_audit);
    cr_assert_eq(s.u.status.audit.mismatches, 1u);
    cr_assert_eq(s.u.status.audit.skipped, 5u);
    cr_assert_eq(s.u.status.audit.last_mismatch_peer, 3u);
    cr_assert_eq(s.u.status.audit.last_mismatch_size, 40u);
    r.u.status.public_key.len = 0;
    r.u.status.has_audit = false;
    s = round_trip_response(LG_PROTO_OP_STATUS, &r);
    cr_assert_eq(s.u.status.public_key.len, 0u);
    cr_assert_not(s.u.status.has_audit);
    lg_buf_close(&b);
}
