/* test_codec: the canonical command/record codec (fsm/codec.c, version 1 of fsm/cmd.h).
 *
 * Goal: every command and record kind round-trips (decode of encode gives the value back
 * and re-encoding gives the same bytes), every non-canonical form and every bound is
 * rejected with the right code and a message naming the field, bad commands inside a
 * sound batch are rejected alone, and the idempotency digest depends on content only.
 * Method: values built in C, encoded, decoded, compared field by field; hand-written
 * msgpack bytes for the forms the encoder never produces; byte surgery on valid
 * encodings; a seeded random sweep (LG_TEST_SEED) of round trips. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "lgt.h"

#define S(lit) ((struct lg_str){(lit), (uint32_t)(sizeof(lit) - 1u)})

static struct lg_arena arena;
static struct lg_buf buf;
static struct lg_buf buf2;
static char errmsg[LG_ERRMSG_SIZE];
static int codes[LG_BATCH_COMMANDS_MAX];
static char (*errors)[LG_ERRMSG_SIZE];

static void setup(void)
{
    lg_arena_init(&arena, 64u * 1024u * 1024u);
    lg_buf_init(&buf);
    lg_buf_init(&buf2);
    errors = calloc(LG_BATCH_COMMANDS_MAX, LG_ERRMSG_SIZE);
    cr_assert_not_null(errors);
    errmsg[0] = '\0';
}

static void teardown(void)
{
    lg_arena_close(&arena);
    lg_buf_close(&buf);
    lg_buf_close(&buf2);
    free(errors);
}

TestSuite(codec, .init = setup, .fini = teardown);

static bool str_equal(struct lg_str a, struct lg_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static const struct lg_posting one_posting[] = {
    {{"world", 5}, {"users:1:main", 12}, 100, {"USD/2", 5}},
};

static struct lg_cmd submit_cmd(void)
{
    struct lg_cmd c;
    memset(&c, 0, sizeof c);
    c.kind = LG_CMD_SUBMIT;
    c.timestamp_us = 1700000000000000ull;
    c.u.submit.ledger = S("main");
    c.u.submit.postings = one_posting;
    c.u.submit.n_postings = 1;
    return c;
}

/* Encode one command as a batch into buf; assert success. */
static void encode_one(const struct lg_cmd *c)
{
    struct lg_batch b = {c, 1};
    lg_buf_reset(&buf);
    int rc = lg_cmd_encode_batch(&b, &buf, errmsg);
    cr_assert_eq(rc, LG_OK, "encode: %s", errmsg);
}

/* Decode buf as a batch; assert the envelope is fine; return command 0's code. */
static int decode_one(struct lg_batch *out)
{
    int rc = lg_cmd_decode_batch(buf.data, buf.len, &arena, out, codes, errors, errmsg);
    cr_assert_eq(rc, LG_OK, "decode: %s", errmsg);
    cr_assert_eq(out->n_cmds, 1);
    return codes[0];
}

/* Re-encode a decoded batch into buf2 and assert the bytes equal buf. */
static void assert_reencodes(const struct lg_batch *b)
{
    lg_buf_reset(&buf2);
    cr_assert_eq(lg_cmd_encode_batch(b, &buf2, errmsg), LG_OK, "%s", errmsg);
    cr_assert_eq(buf2.len, buf.len);
    cr_assert(memcmp(buf.data, buf2.data, buf.len) == 0);
}

/* Decode bytes as a batch with one command and return that command's code. */
static int decode_bytes_cmd(const void *bytes, size_t len)
{
    struct lg_batch b;
    int rc = lg_cmd_decode_batch(bytes, len, &arena, &b, codes, errors, errmsg);
    cr_assert_eq(rc, LG_OK, "envelope: %s", errmsg);
    cr_assert_eq(b.n_cmds, 1);
    if (codes[0] != LG_OK) {
        cr_assert_eq(b.cmds[0].kind, 0);
    }
    return codes[0];
}

Test(codec, buf_grows_resets_and_closes)
{
    for (int i = 0; i < 1000; i++) {
        struct lg_cmd c = submit_cmd();
        struct lg_batch b = {&c, 1};
        cr_assert_eq(lg_cmd_encode_batch(&b, &buf, NULL), LG_OK);
    }
    size_t cap = buf.cap;
    cr_assert(buf.len > 10000);
    lg_buf_reset(&buf);
    cr_assert_eq(buf.len, 0);
    cr_assert_eq(buf.cap, cap);
    lg_buf_close(&buf);
    cr_assert_null(buf.data);
    cr_assert_eq(buf.cap, 0);
}

Test(codec, submit_round_trip_minimal)
{
    struct lg_cmd c = submit_cmd();
    encode_one(&c);
    struct lg_batch b;
    cr_assert_eq(decode_one(&b), LG_OK, "%s", errors[0]);
    const struct lg_cmd *d = &b.cmds[0];
    cr_assert_eq(d->kind, LG_CMD_SUBMIT);
    cr_assert_eq(d->timestamp_us, c.timestamp_us);
    cr_assert(str_equal(d->u.submit.ledger, S("main")));
    cr_assert_eq(d->u.submit.n_postings, 1);
    cr_assert(str_equal(d->u.submit.postings[0].source, S("world")));
    cr_assert(str_equal(d->u.submit.postings[0].destination, S("users:1:main")));
    cr_assert(d->u.submit.postings[0].amount == 100);
    cr_assert(str_equal(d->u.submit.postings[0].asset, S("USD/2")));
    cr_assert_eq(d->u.submit.n_metadata, 0);
    cr_assert_eq(d->u.submit.reference.len, 0);
    cr_assert_eq(d->u.submit.n_conditions, 0);
    assert_reencodes(&b);
}

Test(codec, known_bytes_of_a_minimal_batch)
{
    /* Pins version 1 of the format: any change here is a format change. */
    struct lg_cmd c = submit_cmd();
    c.timestamp_us = 5;
    struct lg_posting p = {S("a"), S("b"), 7, S("X")};
    c.u.submit.postings = &p;
    encode_one(&c);
    static const uint8_t want[] = {
        0x82, 0xa1, 'v', 0x01, 0xa4, 'c', 'm', 'd', 's', 0x91,
        0x84, 0xa1, 'k', 0x01, 0xa2, 't', 's', 0x05,
        0xa6, 'l', 'e', 'd', 'g', 'e', 'r', 0xa4, 'm', 'a', 'i', 'n',
        0xa8, 'p', 'o', 's', 't', 'i', 'n', 'g', 's', 0x91, 0x94,
        0xa1, 'a', 0xa1, 'b', 0x07, 0xa1, 'X',
    };
    cr_assert_eq(buf.len, sizeof want);
    cr_assert(memcmp(buf.data, want, sizeof want) == 0);
}

Test(codec, submit_round_trip_full)
{
    static const struct lg_posting postings[] = {
        {{"world", 5}, {"a:b", 3}, (lg_u128)1 << 64, {"EUR", 3}},
        {{"a:b", 3}, {"c", 1}, LG_U128_MAX, {"BTC/8", 5}},
        {{"c", 1}, {"d", 1}, UINT64_MAX, {"X", 1}},
    };
    /* Given out of order: the encoder sorts. */
    static const struct lg_kv meta[] = {
        {{"zeta", 4}, {"last", 4}},
        {{"alpha", 5}, {"", 0}},
        {{"al", 2}, {"prefix sorts first", 18}},
    };
    static const struct lg_condition conds[] = {
        {LG_COND_VERSION, {"a:b", 3}, {NULL, 0}, 42, 0},
        {LG_COND_MIN_BALANCE, {"c", 1}, {"EUR", 3}, 0, (lg_u128)1 << 100},
        {LG_COND_MIN_BALANCE, {"c", 1}, {"EUR", 3}, 0, 0},
    };
    struct lg_cmd c = submit_cmd();
    c.u.submit.postings = postings;
    c.u.submit.n_postings = 3;
    c.u.submit.metadata = meta;
    c.u.submit.n_metadata = 3;
    c.u.submit.reference = S("order-123");
    c.u.submit.conditions = conds;
    c.u.submit.n_conditions = 3;
    c.timestamp_us = UINT64_MAX;
    encode_one(&c);
    struct lg_batch b;
    cr_assert_eq(decode_one(&b), LG_OK, "%s", errors[0]);
    const struct lg_cmd_submit *s = &b.cmds[0].u.submit;
    cr_assert_eq(b.cmds[0].timestamp_us, UINT64_MAX);
    cr_assert_eq(s->n_postings, 3);
    for (uint32_t i = 0; i < 3; i++) {
        cr_assert(s->postings[i].amount == postings[i].amount);
        cr_assert(str_equal(s->postings[i].asset, postings[i].asset));
    }
    cr_assert_eq(s->n_metadata, 3);
    cr_assert(str_equal(s->metadata[0].key, S("al")));
    cr_assert(str_equal(s->metadata[1].key, S("alpha")));
    cr_assert(str_equal(s->metadata[1].value, S("")));
    cr_assert(str_equal(s->metadata[2].key, S("zeta")));
    cr_assert(str_equal(s->reference, S("order-123")));
    cr_assert_eq(s->n_conditions, 3);
    cr_assert_eq(s->conditions[0].kind, LG_COND_VERSION);
    cr_assert_eq(s->conditions[0].version, 42);
    cr_assert_eq(s->conditions[1].kind, LG_COND_MIN_BALANCE);
    cr_assert(s->conditions[1].min == (lg_u128)1 << 100);
    cr_assert(str_equal(s->conditions[1].asset, S("EUR")));
    cr_assert(s->conditions[2].min == 0);
    assert_reencodes(&b);
}

Test(codec, set_metadata_and_set_limit_round_trip)
{
    static const struct lg_kv meta[] = {{{"b", 1}, {"2", 1}}, {{"a", 1}, {"1", 1}}};
    struct lg_cmd cmds[3];
    memset(cmds, 0, sizeof cmds);
    cmds[0].kind = LG_CMD_SET_METADATA;
    cmds[0].timestamp_us = 1;
    cmds[0].u.set_metadata = (struct lg_cmd_set_metadata){S("l"), S("users:1"), meta, 2};
    cmds[1].kind = LG_CMD_SET_LIMIT;
    cmds[1].timestamp_us = 2;
    cmds[1].u.set_limit = (struct lg_cmd_set_limit){S("l"), S("users:1"), S("USD"), 500, false};
    cmds[2].kind = LG_CMD_SET_LIMIT;
    cmds[2].timestamp_us = 3;
    cmds[2].u.set_limit = (struct lg_cmd_set_limit){S("l"), S("users:2"), S("USD"), 0, true};
    struct lg_batch in = {cmds, 3};
    cr_assert_eq(lg_cmd_encode_batch(&in, &buf, errmsg), LG_OK, "%s", errmsg);
    struct lg_batch b;
    cr_assert_eq(lg_cmd_decode_batch(buf.data, buf.len, &arena, &b, codes, errors, errmsg),
                 LG_OK, "%s", errmsg);
    cr_assert_eq(b.n_cmds, 3);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(codes[i], LG_OK, "%s", errors[i]);
        cr_assert_eq(b.cmds[i].timestamp_us, (uint64_t)(i + 1));
    }
    const struct lg_cmd_set_metadata *m = &b.cmds[0].u.set_metadata;
    cr_assert_eq(b.cmds[0].kind, LG_CMD_SET_METADATA);
    cr_assert(str_equal(m->address, S("users:1")));
    cr_assert_eq(m->n_metadata, 2);
    cr_assert(str_equal(m->metadata[0].key, S("a")));
    cr_assert_eq(b.cmds[1].kind, LG_CMD_SET_LIMIT);
    cr_assert(b.cmds[1].u.set_limit.limit == 500);
    cr_assert_not(b.cmds[1].u.set_limit.unlimited);
    cr_assert(b.cmds[2].u.set_limit.unlimited);
    cr_assert(str_equal(b.cmds[2].u.set_limit.asset, S("USD")));
    assert_reencodes(&b);
}

Test(codec, empty_batch_round_trips)
{
    struct lg_batch in = {NULL, 0};
    cr_assert_eq(lg_cmd_encode_batch(&in, &buf, errmsg), LG_OK);
    struct lg_batch b;
    cr_assert_eq(lg_cmd_decode_batch(buf.data, buf.len, &arena, &b, NULL, NULL, errmsg), LG_OK);
    cr_assert_eq(b.n_cmds, 0);
}

Test(codec, amount_boundaries_round_trip)
{
    static const lg_u128 amounts[] = {
        1, 127, 128, 255, 256, 65535, 65536, UINT32_MAX, (lg_u128)UINT32_MAX + 1,
        UINT64_MAX, (lg_u128)UINT64_MAX + 1, LG_U128_MAX,
    };
    static const size_t want_len[] = {1, 1, 2, 2, 3, 3, 5, 5, 9, 9, 18, 18};
    size_t base = 0;
    for (size_t i = 0; i < sizeof amounts / sizeof amounts[0]; i++) {
        struct lg_posting p = {S("a"), S("b"), amounts[i], S("X")};
        struct lg_cmd c = submit_cmd();
        c.u.submit.postings = &p;
        encode_one(&c);
        /* Everything but the amount is the same as for amount 1 (one byte). */
        if (i == 0) {
            base = buf.len - 1;
        }
        size_t amount_len = buf.len - base;
        cr_assert_eq(amount_len, want_len[i], "amount %zu: %zu bytes", i, amount_len);
        struct lg_batch b;
        cr_assert_eq(decode_one(&b), LG_OK, "%s", errors[0]);
        cr_assert(b.cmds[0].u.submit.postings[0].amount == amounts[i]);
        assert_reencodes(&b);
    }
}

Test(codec, validation_rules_on_encode_and_check)
{
    struct lg_posting p = {S("a"), S("b"), 1, S("USD")};
    struct lg_cmd c = submit_cmd();
    c.u.submit.postings = &p;
    struct lg_batch b = {&c, 1};

    p.amount = 0;
    cr_assert_eq(lg_cmd_check(&c, errmsg), LG_EBADREQ);
    cr_assert_str_eq(errmsg, "postings[0].amount: must be greater than 0");
    cr_assert_eq(lg_cmd_encode_batch(&b, &buf, errmsg), LG_EBADREQ);
    cr_assert_str_eq(errmsg, "cmds[0].postings[0].amount: must be greater than 0");
    cr_assert_eq(buf.len, 0, "a failed encode leaves the buffer as it was");
    p.amount = 1;

    p.destination = S("a");
    cr_assert_eq(lg_cmd_check(&c, errmsg), LG_EBADREQ);
    cr_assert_str_eq(errmsg, "postings[0]: source and destination are the same account");
    p.destination = S("b");

    p.asset = S("usd");
    cr_assert_eq(lg_cmd_encode_batch(&b, &buf, errmsg), LG_EBADREQ);
    cr_assert_str_eq(errmsg, "cmds[0].postings[0].asset: must match "
                             "[A-Z][A-Z0-9]{0,15}(/[0-9]{1,2})? (invalid at byte 0)");
    p.asset = S("USD");

    p.source = S("a::b");
    cr_assert_eq(lg_cmd_check(&c, errmsg), LG_EBADREQ);
    cr_assert_str_eq(errmsg, "postings[0].source: empty segment at byte 2");
    p.source = S("a");

    c.u.submit.ledger = S("Main");
    cr_assert_eq(lg_cmd_check(&c, errmsg), LG_EBADREQ);
    cr_assert(strstr(errmsg, "ledger: invalid character 'M' at byte 0") == errmsg, "%s", errmsg);
    c.u.submit.ledger = S("main");

    c.u.submit.n_postings = 0;
    cr_assert_eq(lg_cmd_check(&c, errmsg), LG_EBADREQ);
    cr_assert_str_eq(errmsg, "postings: must not be empty");
    c.u.submit.n_postings = 1;

    c.kind = 9;
    cr_assert_eq(lg_cmd_check(&c, errmsg), LG_EBADREQ);
    c.kind = LG_CMD_SUBMIT;
    cr_assert_eq(lg_cmd_check(&c, errmsg), LG_OK, "%s", errmsg);
}

Test(codec, limits_enforced)
{
    struct lg_posting *many = calloc(LG_POSTINGS_MAX + 1u, sizeof *many);
    cr_assert_not_null(many);
    for (uint32_t i = 0; i <= LG_POSTINGS_MAX; i++) {
        many[i] = (struct lg_posting){S("world"), S("bank"), 1, S("USD")};
    }
    struct lg_cmd c = submit_cmd();
    c.u.submit.postings = many;
    c.u.submit.n_postings = LG_POSTINGS_MAX;
    cr_assert_eq(lg_cmd_check(&c, errmsg), LG_OK, "%s", errmsg);
    encode_one(&c);
    struct lg_batch b;
    cr_assert_eq(decode_one(&b), LG_OK, "%s", errors[0]);
    cr_assert_eq(b.cmds[0].u.submit.n_postings, LG_POSTINGS_MAX);
    c.u.submit.n_postings = LG_POSTINGS_MAX + 1u;
    cr_assert_eq(lg_cmd_check(&c, errmsg), LG_ETOOLARGE);
    cr_assert_str_eq(errmsg, "postings: 1025 postings, at most 1024");
    c.u.submit.n_postings = 1;

    struct lg_kv meta[LG_METADATA_ENTRIES_MAX + 1];
    char keys[LG_METADATA_ENTRIES_MAX + 1][8];
    for (uint32_t i = 0; i <= LG_METADATA_ENTRIES_MAX; i++) {
        snprintf(keys[i], sizeof keys[i], "k%03u", i);
        meta[i] = (struct lg_kv){{keys[i], 4}, {"v", 1}};
    }
    c.u.submit.metadata = meta;
    c.u.submit.n_metadata = LG_METADATA_ENTRIES_MAX;
    cr_assert_eq(lg_cmd_check(&c, errmsg), LG_OK, "%s", errmsg);
    c.u.submit.n_metadata = LG_METADATA_ENTRIES_MAX + 1u;
    cr_assert_eq(lg_cmd_check(&c, errmsg), LG_ETOOLARGE);
    c.u.submit.n_metadata = 1;

    char big[LG_METADATA_VALUE_BYTES_MAX + 1];
    memset(big, 'x', sizeof big);
    meta[0].value = (struct lg_str){big, LG_METADATA_VALUE_BYTES_MAX};
    cr_assert_eq(lg_cmd_check(&c, errmsg), LG_OK, "%s", errmsg);
    meta[0].value.len++;
    cr_assert_eq(lg_cmd_check(&c, errmsg), LG_ETOOLARGE);
    meta[0].value.len = 1;
    meta[0].key = (struct lg_str){big, LG_METADATA_KEY_BYTES_MAX};
    cr_assert_eq(lg_cmd_check(&c, errmsg), LG_OK, "%s", errmsg);
    meta[0].key.len++;
    cr_assert_eq(lg_cmd_check(&c, errmsg), LG_ETOOLARGE);
    meta[0].key = (struct lg_str){"", 0};
    cr_assert_eq(lg_cmd_check(&c, errmsg), LG_EBADREQ);
    meta[0].key = (struct lg_str){"k", 1};

    c.u.submit.reference = (struct lg_str){big, LG_REFERENCE_BYTES_MAX};
    cr_assert_eq(lg_cmd_check(&c, errmsg), LG_OK, "%s", errmsg);
    c.u.submit.reference.len++;
    cr_assert_eq(lg_cmd_check(&c, errmsg), LG_ETOOLARGE);
    c.u.submit.reference = S("tab\there");
    cr_assert_eq(lg_cmd_check(&c, errmsg), LG_EBADREQ);
    c.u.submit.reference = S("");

    struct lg_condition conds[LG_CONDITIONS_MAX + 1];
    for (uint32_t i = 0; i <= LG_CONDITIONS_MAX; i++) {
        conds[i] = (struct lg_condition){LG_COND_VERSION, S("a"), {NULL, 0}, i, 0};
    }
    c.u.submit.conditions = conds;
    c.u.submit.n_conditions = LG_CONDITIONS_MAX;
    cr_assert_eq(lg_cmd_check(&c, errmsg), LG_OK, "%s", errmsg);
    c.u.submit.n_conditions = LG_CONDITIONS_MAX + 1u;
    cr_assert_eq(lg_cmd_check(&c, errmsg), LG_ETOOLARGE);
    c.u.submit.n_conditions = 0;

    struct lg_batch too_many = {&c, LG_BATCH_COMMANDS_MAX + 1u};
    cr_assert_eq(lg_cmd_encode_batch(&too_many, &buf, errmsg), LG_ETOOLARGE);
    free(many);
}

Test(codec, duplicate_metadata_rejected)
{
    static const struct lg_kv meta[] = {{{"a", 1}, {"1", 1}}, {{"b", 1}, {"", 0}},
                                        {{"a", 1}, {"2", 1}}};
    struct lg_cmd c = submit_cmd();
    c.u.submit.metadata = meta;
    c.u.submit.n_metadata = 3;
    struct lg_batch b = {&c, 1};
    cr_assert_eq(lg_cmd_encode_batch(&b, &buf, errmsg), LG_EBADREQ);
    cr_assert_str_eq(errmsg, "cmds[0].metadata: duplicate key \"a\"");
    uint8_t digest[LG_HASH_BYTES];
    cr_assert_eq(lg_cmd_submit_digest(&c.u.submit, digest), LG_EBADREQ);
}

/* Hand-built batch bytes: envelope then one command map given as raw bytes. */
static size_t batch_bytes(uint8_t *out, const uint8_t *cmd, size_t cmd_len)
{
    static const uint8_t head[] = {0x82, 0xa1, 'v', 0x01, 0xa4, 'c', 'm', 'd', 's', 0x91};
    memcpy(out, head, sizeof head);
    memcpy(out + sizeof head, cmd, cmd_len);
    return sizeof head + cmd_len;
}

/* A valid one-posting submit body with amount bytes `amount`. */
static size_t submit_bytes(uint8_t *out, const uint8_t *amount, size_t amount_len)
{
    static const uint8_t pre[] = {
        0x84, 0xa1, 'k', 0x01, 0xa2, 't', 's', 0x05,
        0xa6, 'l', 'e', 'd', 'g', 'e', 'r', 0xa4, 'm', 'a', 'i', 'n',
        0xa8, 'p', 'o', 's', 't', 'i', 'n', 'g', 's', 0x91, 0x94, 0xa1, 'a', 0xa1, 'b',
    };
    uint8_t cmd[128];
    memcpy(cmd, pre, sizeof pre);
    memcpy(cmd + sizeof pre, amount, amount_len);
    cmd[sizeof pre + amount_len] = 0xa1;
    cmd[sizeof pre + amount_len + 1] = 'X';
    return batch_bytes(out, cmd, sizeof pre + amount_len + 2);
}

Test(codec, non_canonical_amounts_rejected)
{
    uint8_t bytes[256];
    static const uint8_t ok[] = {0x07};
    cr_assert_eq(decode_bytes_cmd(bytes, submit_bytes(bytes, ok, sizeof ok)), LG_OK,
                 "%s", errors[0]);
    static const uint8_t u8_small[] = {0xcc, 0x07};
    cr_assert_eq(decode_bytes_cmd(bytes, submit_bytes(bytes, u8_small, 2)), LG_EBADREQ);
    cr_assert(strstr(errors[0], "cmds[0].postings[0].amount: not in canonical form") != NULL,
              "%s", errors[0]);
    static const uint8_t u16_small[] = {0xcd, 0x00, 0xff};
    cr_assert_eq(decode_bytes_cmd(bytes, submit_bytes(bytes, u16_small, 3)), LG_EBADREQ);
    static const uint8_t u64_small[] = {0xcf, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff};
    cr_assert_eq(decode_bytes_cmd(bytes, submit_bytes(bytes, u64_small, 9)), LG_EBADREQ);
    uint8_t bin_small[18] = {0xc4, 16};
    bin_small[17] = 1;
    cr_assert_eq(decode_bytes_cmd(bytes, submit_bytes(bytes, bin_small, 18)), LG_EBADREQ,
                 "a bin for a value < 2^64 is not canonical");
    uint8_t bin_ok[18] = {0xc4, 16};
    bin_ok[9] = 1; /* 2^64 */
    cr_assert_eq(decode_bytes_cmd(bytes, submit_bytes(bytes, bin_ok, 18)), LG_OK, "%s",
                 errors[0]);
    uint8_t bin_short[17] = {0xc4, 15, 1};
    cr_assert_eq(decode_bytes_cmd(bytes, submit_bytes(bytes, bin_short, 17)), LG_EBADREQ);
    uint8_t bin_wide[19] = {0xc4, 17, 1};
    cr_assert_eq(decode_bytes_cmd(bytes, submit_bytes(bytes, bin_wide, 19)), LG_EOVERFLOW,
                 "2^128 and above overflow");
    cr_assert(strstr(errors[0], "amount exceeds 128 bits") != NULL, "%s", errors[0]);
    static const uint8_t zero[] = {0x00};
    cr_assert_eq(decode_bytes_cmd(bytes, submit_bytes(bytes, zero, 1)), LG_EBADREQ);
    static const uint8_t negative[] = {0xff};
    cr_assert_eq(decode_bytes_cmd(bytes, submit_bytes(bytes, negative, 1)), LG_EBADREQ);
    static const uint8_t text[] = {0xa2, '1', '0'};
    cr_assert_eq(decode_bytes_cmd(bytes, submit_bytes(bytes, text, 3)), LG_EBADREQ);
    static const uint8_t str8_short[] = {0xd9, 0x02, '1', '0'};
    cr_assert_eq(decode_bytes_cmd(bytes, submit_bytes(bytes, str8_short, 4)), LG_EBADREQ);
}

Test(codec, non_canonical_maps_rejected)
{
    uint8_t bytes[256];
    /* Keys out of order: ts before k. */
    static const uint8_t swapped[] = {
        0x84, 0xa2, 't', 's', 0x05, 0xa1, 'k', 0x01,
        0xa6, 'l', 'e', 'd', 'g', 'e', 'r', 0xa4, 'm', 'a', 'i', 'n',
        0xa8, 'p', 'o', 's', 't', 'i', 'n', 'g', 's', 0x91, 0x94, 0xa1, 'a', 0xa1, 'b', 0x07,
        0xa1, 'X',
    };
    cr_assert_eq(decode_bytes_cmd(bytes, batch_bytes(bytes, swapped, sizeof swapped)),
                 LG_EBADREQ);
    cr_assert(strstr(errors[0], "expected key \"k\"") != NULL, "%s", errors[0]);
    /* Unknown extra key. */
    static const uint8_t extra[] = {
        0x85, 0xa1, 'k', 0x01, 0xa2, 't', 's', 0x05,
        0xa6, 'l', 'e', 'd', 'g', 'e', 'r', 0xa4, 'm', 'a', 'i', 'n',
        0xa8, 'p', 'o', 's', 't', 'i', 'n', 'g', 's', 0x91, 0x94, 0xa1, 'a', 0xa1, 'b', 0x07,
        0xa1, 'X', 0xa3, 'z', 'z', 'z', 0xc0,
    };
    cr_assert_eq(decode_bytes_cmd(bytes, batch_bytes(bytes, extra, sizeof extra)), LG_EBADREQ);
    cr_assert(strstr(errors[0], "unknown or out-of-order key \"zzz\"") != NULL, "%s",
              errors[0]);
    /* Metadata unsorted, duplicate, empty. */
    static const uint8_t unsorted[] = {
        0x85, 0xa1, 'k', 0x01, 0xa2, 't', 's', 0x05,
        0xa6, 'l', 'e', 'd', 'g', 'e', 'r', 0xa4, 'm', 'a', 'i', 'n',
        0xa8, 'p', 'o', 's', 't', 'i', 'n', 'g', 's', 0x91, 0x94, 0xa1, 'a', 0xa1, 'b', 0x07,
        0xa1, 'X', 0xa8, 'm', 'e', 't', 'a', 'd', 'a', 't', 'a', 0x82, 0xa1, 'b', 0xa0, 0xa1,
        'a', 0xa0,
    };
    cr_assert_eq(decode_bytes_cmd(bytes, batch_bytes(bytes, unsorted, sizeof unsorted)),
                 LG_EBADREQ);
    cr_assert(strstr(errors[0], "cmds[0].metadata[1]: keys not sorted") != NULL, "%s",
              errors[0]);
    uint8_t dup[sizeof unsorted];
    memcpy(dup, unsorted, sizeof unsorted);
    dup[sizeof dup - 2] = 'b';
    cr_assert_eq(decode_bytes_cmd(bytes, batch_bytes(bytes, dup, sizeof dup)), LG_EBADREQ);
    uint8_t sorted[sizeof unsorted];
    memcpy(sorted, unsorted, sizeof unsorted);
    sorted[sizeof sorted - 5] = 'a';
    sorted[sizeof sorted - 2] = 'b';
    cr_assert_eq(decode_bytes_cmd(bytes, batch_bytes(bytes, sorted, sizeof sorted)), LG_OK,
                 "%s", errors[0]);
    static const uint8_t empty_meta[] = {
        0x85, 0xa1, 'k', 0x01, 0xa2, 't', 's', 0x05,
        0xa6, 'l', 'e', 'd', 'g', 'e', 'r', 0xa4, 'm', 'a', 'i', 'n',
        0xa8, 'p', 'o', 's', 't', 'i', 'n', 'g', 's', 0x91, 0x94, 0xa1, 'a', 0xa1, 'b', 0x07,
        0xa1, 'X', 0xa8, 'm', 'e', 't', 'a', 'd', 'a', 't', 'a', 0x80,
    };
    cr_assert_eq(decode_bytes_cmd(bytes, batch_bytes(bytes, empty_meta, sizeof empty_meta)),
                 LG_EBADREQ);
    /* A map16 header for 4 entries (fixmap is shortest). */
    static const uint8_t map16[] = {
        0xde, 0x00, 0x04, 0xa1, 'k', 0x01, 0xa2, 't', 's', 0x05,
        0xa6, 'l', 'e', 'd', 'g', 'e', 'r', 0xa4, 'm', 'a', 'i', 'n',
        0xa8, 'p', 'o', 's', 't', 'i', 'n', 'g', 's', 0x91, 0x94, 0xa1, 'a', 0xa1, 'b', 0x07,
        0xa1, 'X',
    };
    cr_assert_eq(decode_bytes_cmd(bytes, batch_bytes(bytes, map16, sizeof map16)),
                 LG_EBADREQ);
    /* A str8 key (fixstr is shortest). */
    static const uint8_t str8_key[] = {
        0x84, 0xd9, 0x01, 'k', 0x01, 0xa2, 't', 's', 0x05,
        0xa6, 'l', 'e', 'd', 'g', 'e', 'r', 0xa4, 'm', 'a', 'i', 'n',
        0xa8, 'p', 'o', 's', 't', 'i', 'n', 'g', 's', 0x91, 0x94, 0xa1, 'a', 0xa1, 'b', 0x07,
        0xa1, 'X',
    };
    cr_assert_eq(decode_bytes_cmd(bytes, batch_bytes(bytes, str8_key, sizeof str8_key)),
                 LG_EBADREQ);
}

Test(codec, envelope_errors_fail_the_whole_batch)
{
    struct lg_cmd c = submit_cmd();
    encode_one(&c);
    struct lg_batch b;
    /* Trailing byte. */
    uint8_t *bytes = malloc(buf.len + 1);
    cr_assert_not_null(bytes);
    memcpy(bytes, buf.data, buf.len);
    bytes[buf.len] = 0xc0;
    cr_assert_eq(lg_cmd_decode_batch(bytes, buf.len + 1, &arena, &b, codes, errors, errmsg),
                 LG_EBADREQ);
    cr_assert_str_eq(errmsg, "1 trailing bytes after the batch");
    /* Every truncation. */
    for (size_t n = 0; n < buf.len; n++) {
        int rc = lg_cmd_decode_batch(bytes, n, &arena, &b, codes, errors, errmsg);
        cr_assert_eq(rc, LG_EBADREQ, "truncated at %zu", n);
    }
    /* Wrong version. */
    bytes[3] = 2;
    cr_assert_eq(lg_cmd_decode_batch(bytes, buf.len, &arena, &b, codes, errors, errmsg),
                 LG_EBADREQ);
    cr_assert_str_eq(errmsg, "v: unsupported batch version 2 (want 1)");
    free(bytes);
    /* Too many commands (array16 header claiming 4097). */
    static const uint8_t huge[] = {0x82, 0xa1, 'v', 0x01, 0xa4, 'c', 'm', 'd', 's',
                                   0xdc, 0x10, 0x01};
    cr_assert_eq(lg_cmd_decode_batch(huge, sizeof huge, &arena, &b, codes, errors, errmsg),
                 LG_ETOOLARGE);
    /* Not a map. */
    static const uint8_t nil[] = {0xc0};
    cr_assert_eq(lg_cmd_decode_batch(nil, 1, &arena, &b, codes, errors, errmsg), LG_EBADREQ);
}

Test(codec, bad_command_rejected_alone)
{
    struct lg_posting good = {S("world"), S("a"), 5, S("USD")};
    struct lg_cmd cmds[3];
    for (int i = 0; i < 3; i++) {
        cmds[i] = submit_cmd();
        cmds[i].u.submit.postings = &good;
    }
    struct lg_batch in = {cmds, 3};
    cr_assert_eq(lg_cmd_encode_batch(&in, &buf, errmsg), LG_OK);
    /* Corrupt command 1's asset "USD" into "usd" in place (same length). */
    uint8_t *bytes = buf.data;
    size_t hits = 0;
    for (size_t i = 0; i + 3 < buf.len; i++) {
        if (bytes[i] == 0xa3 && memcmp(bytes + i + 1, "USD", 3) == 0 && ++hits == 2) {
            memcpy(bytes + i + 1, "usd", 3);
        }
    }
    cr_assert_eq(hits, 3);
    struct lg_batch b;
    cr_assert_eq(lg_cmd_decode_batch(buf.data, buf.len, &arena, &b, codes, errors, errmsg),
                 LG_OK, "%s", errmsg);
    cr_assert_eq(b.n_cmds, 3);
    cr_assert_eq(codes[0], LG_OK);
    cr_assert_eq(codes[1], LG_EBADREQ);
    cr_assert_eq(codes[2], LG_OK);
    cr_assert_eq(b.cmds[1].kind, 0);
    cr_assert_eq(b.cmds[2].kind, LG_CMD_SUBMIT);
    cr_assert(strncmp(errors[1], "cmds[1].postings[0].asset: must match", 37) == 0, "%s",
              errors[1]);
    cr_assert_str_eq(errors[0], "");
}

Test(codec, unknown_kind_and_bad_types_are_per_command)
{
    uint8_t bytes[256];
    static const uint8_t kind9[] = {0x82, 0xa1, 'k', 0x09, 0xa2, 't', 's', 0x05};
    cr_assert_eq(decode_bytes_cmd(bytes, batch_bytes(bytes, kind9, sizeof kind9)), LG_EBADREQ);
    cr_assert_str_eq(errors[0], "cmds[0].k: unknown command kind 9");
    static const uint8_t not_map[] = {0x93, 0x01, 0x02, 0x03};
    cr_assert_eq(decode_bytes_cmd(bytes, batch_bytes(bytes, not_map, sizeof not_map)),
                 LG_EBADREQ);
    cr_assert_str_eq(errors[0], "cmds[0]: must be a map");
    /* A float, an ext and a nested array inside the command are skipped structurally. */
    static const uint8_t odd[] = {0x82, 0xa1, 'k', 0xcb, 0, 0, 0, 0, 0, 0, 0, 0,
                                  0xa1, 'x', 0x92, 0xd4, 0x01, 0x02, 0x91, 0xc3};
    cr_assert_eq(decode_bytes_cmd(bytes, batch_bytes(bytes, odd, sizeof odd)), LG_EBADREQ);
    cr_assert_str_eq(errors[0], "cmds[0].k: must be an unsigned integer");
    /* 0xc1 (never used) inside a command breaks the envelope. */
    static const uint8_t never[] = {0x81, 0xa1, 'k', 0xc1};
    struct lg_batch b;
    size_t n = batch_bytes(bytes, never, sizeof never);
    cr_assert_eq(lg_cmd_decode_batch(bytes, n, &arena, &b, codes, errors, errmsg), LG_EBADREQ);
}

Test(codec, conditions_shapes)
{
    struct lg_cmd c = submit_cmd();
    struct lg_condition cond = {LG_COND_VERSION, S("a:*"), {NULL, 0}, 1, 0};
    c.u.submit.conditions = &cond;
    c.u.submit.n_conditions = 1;
    cr_assert_eq(lg_cmd_check(&c, errmsg), LG_EBADREQ);
    cr_assert(strstr(errmsg, "conditions[0].account: '*' at byte 2") == errmsg, "%s", errmsg);
    cond.account = S("a");
    cond.kind = 3;
    cr_assert_eq(lg_cmd_check(&c, errmsg), LG_EBADREQ);
    cond.kind = LG_COND_MIN_BALANCE;
    cr_assert_eq(lg_cmd_check(&c, errmsg), LG_EBADREQ, "min balance needs an asset");
    cond.asset = S("USD");
    cr_assert_eq(lg_cmd_check(&c, errmsg), LG_OK, "%s", errmsg);
}

static struct lg_record tx_record(void)
{
    static const struct lg_volume volumes[] = {
        {{"users:1:main", 12}, {"USD/2", 5}, 100, 0},
        {{"world", 5}, {"USD/2", 5}, 0, 100},
    };
    static const struct lg_kv meta[] = {{{"order", 5}, {"42", 2}}};
    struct lg_record r;
    memset(&r, 0, sizeof r);
    r.kind = LG_CMD_SUBMIT;
    r.seq = 1;
    r.raft_index = 7;
    r.timestamp_us = 1700000000000000ull;
    r.ledger = S("main");
    r.tx_id = 0;
    r.postings = one_posting;
    r.n_postings = 1;
    r.metadata = meta;
    r.n_metadata = 1;
    r.reference = S("ref-1");
    r.volumes = volumes;
    r.n_volumes = 2;
    return r;
}

Test(codec, record_round_trips)
{
    static const struct lg_kv meta[] = {{{"x", 1}, {"y", 1}}};
    struct lg_record recs[4];
    recs[0] = tx_record();
    recs[1] = tx_record();
    recs[1].n_metadata = 0;
    recs[1].reference = S("");
    recs[1].tx_id = UINT64_MAX;
    recs[1].pos = LG_BATCH_COMMANDS_MAX - 1u; /* uint16 form */
    recs[0].pos = 200;                         /* uint8 form */
    memset(&recs[2], 0, sizeof recs[2]);
    recs[2].kind = LG_CMD_SET_METADATA;
    recs[2].seq = 2;
    recs[2].ledger = S("l");
    recs[2].address = S("a:b");
    recs[2].metadata = meta;
    recs[2].n_metadata = 1;
    memset(&recs[3], 0, sizeof recs[3]);
    recs[3].kind = LG_CMD_SET_LIMIT;
    recs[3].seq = 3;
    recs[3].ledger = S("l");
    recs[3].address = S("a:b");
    recs[3].asset = S("EUR");
    recs[3].limit = LG_U128_MAX;
    recs[3].pos = 5; /* fixint */
    for (int i = 0; i < 4; i++) {
        lg_buf_reset(&buf);
        cr_assert_eq(lg_record_encode(&recs[i], &buf, errmsg), LG_OK, "%d: %s", i, errmsg);
        struct lg_record d;
        cr_assert_eq(lg_record_decode(buf.data, buf.len, &arena, &d, errmsg), LG_OK, "%d: %s",
                     i, errmsg);
        cr_assert_eq(d.kind, recs[i].kind);
        cr_assert_eq(d.seq, recs[i].seq);
        cr_assert_eq(d.raft_index, recs[i].raft_index);
        cr_assert_eq(d.pos, recs[i].pos);
        cr_assert_eq(d.timestamp_us, recs[i].timestamp_us);
        cr_assert(str_equal(d.ledger, recs[i].ledger));
        cr_assert_eq(d.tx_id, recs[i].tx_id);
        cr_assert_eq(d.n_postings, recs[i].n_postings);
        cr_assert_eq(d.n_metadata, recs[i].n_metadata);
        cr_assert(str_equal(d.reference, recs[i].reference));
        cr_assert_eq(d.n_volumes, recs[i].n_volumes);
        for (uint32_t v = 0; v < d.n_volumes; v++) {
            cr_assert(str_equal(d.volumes[v].account, recs[i].volumes[v].account));
            cr_assert(d.volumes[v].input == recs[i].volumes[v].input);
            cr_assert(d.volumes[v].output == recs[i].volumes[v].output);
        }
        cr_assert(str_equal(d.address, recs[i].address));
        cr_assert(str_equal(d.asset, recs[i].asset));
        cr_assert(d.limit == recs[i].limit);
        cr_assert_eq(d.unlimited, recs[i].unlimited);
        lg_buf_reset(&buf2);
        cr_assert_eq(lg_record_encode(&d, &buf2, errmsg), LG_OK, "%s", errmsg);
        cr_assert_eq(buf2.len, buf.len);
        cr_assert(memcmp(buf.data, buf2.data, buf.len) == 0);
    }
}

/* "pos" follows "index", in its shortest form, below LG_BATCH_COMMANDS_MAX: a longer
 * form of the same value or a value out of range is not a valid record. */
static uint8_t *find_bytes(uint8_t *hay, size_t n, const void *needle, size_t k)
{
    for (size_t i = 0; i + k <= n; i++) {
        if (memcmp(hay + i, needle, k) == 0) {
            return hay + i;
        }
    }
    return NULL;
}

Test(codec, record_pos_is_canonical_and_bounded)
{
    struct lg_record r = tx_record();
    r.pos = 3;
    lg_buf_reset(&buf);
    cr_assert_eq(lg_record_encode(&r, &buf, errmsg), LG_OK, "%s", errmsg);
    static const uint8_t key[] = {0xa3, 'p', 'o', 's', 0x03};
    uint8_t *at = find_bytes(buf.data, buf.len, key, sizeof key);
    cr_assert_not_null(at);
    cr_assert(at > find_bytes(buf.data, buf.len, "\xa5index", 6), "pos after index");
    size_t off = (size_t)(at - buf.data) + 4u;
    /* the same value as uint8 (0xcc 0x03): non-canonical */
    uint8_t long_form[512];
    cr_assert_lt(buf.len + 1u, sizeof long_form);
    memcpy(long_form, buf.data, off);
    long_form[off] = 0xcc;
    memcpy(long_form + off + 1u, buf.data + off, buf.len - off);
    struct lg_record d;
    cr_assert_eq(lg_record_decode(long_form, buf.len + 1u, &arena, &d, errmsg), LG_ECORRUPT);
    cr_assert(strstr(errmsg, "pos") != NULL, "%s", errmsg);
    /* 4096 (uint16 0xcd 0x10 0x00) is out of range */
    uint8_t big[512];
    memcpy(big, buf.data, off);
    big[off] = 0xcd;
    big[off + 1u] = 0x10;
    big[off + 2u] = 0x00;
    memcpy(big + off + 3u, buf.data + off + 1u, buf.len - off - 1u);
    cr_assert_eq(lg_record_decode(big, buf.len + 2u, &arena, &d, errmsg), LG_ECORRUPT);
    cr_assert(strstr(errmsg, "pos") != NULL, "%s", errmsg);
    r.pos = LG_BATCH_COMMANDS_MAX;
    cr_assert_eq(lg_record_encode(&r, &buf, errmsg), LG_EINVAL);
}

Test(codec, record_corruption_is_ecorrupt)
{
    struct lg_record r = tx_record();
    cr_assert_eq(lg_record_encode(&r, &buf, errmsg), LG_OK, "%s", errmsg);
    struct lg_record d;
    for (size_t n = 0; n < buf.len; n++) {
        cr_assert_eq(lg_record_decode(buf.data, n, &arena, &d, errmsg), LG_ECORRUPT,
                     "truncated at %zu", n);
        cr_assert_eq(d.kind, 0);
    }
    /* Every single-bit flip either fails as corrupt or decodes to something that
     * re-encodes to the flipped bytes exactly (canonical). */
    for (size_t i = 0; i < buf.len; i++) {
        for (unsigned bit = 0; bit < 8; bit++) {
            buf.data[i] ^= (uint8_t)(1u << bit);
            int rc = lg_record_decode(buf.data, buf.len, &arena, &d, errmsg);
            cr_assert(rc == LG_OK || rc == LG_ECORRUPT);
            if (rc == LG_OK) {
                lg_buf_reset(&buf2);
                cr_assert_eq(lg_record_encode(&d, &buf2, errmsg), LG_OK, "%s", errmsg);
                cr_assert_eq(buf2.len, buf.len);
                cr_assert(memcmp(buf2.data, buf.data, buf.len) == 0);
            }
            buf.data[i] ^= (uint8_t)(1u << bit);
            lg_arena_reset(&arena);
        }
    }
}

Test(codec, record_encode_rejects_unsorted_volumes)
{
    static const struct lg_volume volumes[] = {
        {{"world", 5}, {"USD/2", 5}, 0, 100},
        {{"users:1:main", 12}, {"USD/2", 5}, 100, 0},
    };
    struct lg_record r = tx_record();
    r.volumes = volumes;
    cr_assert_eq(lg_record_encode(&r, &buf, errmsg), LG_EINVAL);
    cr_assert(strstr(errmsg, "record.volumes[1]: not sorted") != NULL, "%s", errmsg);
    r.seq = 0;
    cr_assert_eq(lg_record_encode(&r, &buf, errmsg), LG_EINVAL);
    cr_assert_eq(buf.len, 0);
}

Test(codec, digest_depends_on_content_only)
{
    static const struct lg_kv meta_ab[] = {{{"a", 1}, {"1", 1}}, {{"b", 1}, {"2", 1}}};
    static const struct lg_kv meta_ba[] = {{{"b", 1}, {"2", 1}}, {{"a", 1}, {"1", 1}}};
    struct lg_posting p = {S("world"), S("a"), 5, S("USD")};
    struct lg_condition cond = {LG_COND_VERSION, S("a"), {NULL, 0}, 3, 0};
    struct lg_cmd c1 = submit_cmd();
    c1.u.submit.postings = &p;
    c1.u.submit.metadata = meta_ab;
    c1.u.submit.n_metadata = 2;
    c1.u.submit.reference = S("r1");
    c1.u.submit.conditions = &cond;
    c1.u.submit.n_conditions = 1;
    struct lg_cmd c2 = c1;
    c2.u.submit.metadata = meta_ba;
    c2.timestamp_us = 1;
    uint8_t d1[LG_HASH_BYTES];
    uint8_t d2[LG_HASH_BYTES];
    cr_assert_eq(lg_cmd_submit_digest(&c1.u.submit, d1), LG_OK);
    cr_assert_eq(lg_cmd_submit_digest(&c2.u.submit, d2), LG_OK);
    cr_assert(memcmp(d1, d2, sizeof d1) == 0, "metadata order and timestamp do not matter");

    /* Any field change changes the digest. */
    struct lg_cmd_submit variants[9];
    struct lg_posting pv[5] = {p, p, p, p, p};
    struct lg_kv mv[2] = {meta_ab[0], meta_ab[1]};
    struct lg_condition cv = cond;
    for (int i = 0; i < 9; i++) {
        variants[i] = c1.u.submit;
    }
    variants[0].ledger = S("other");
    pv[0].source = S("w2");
    variants[1].postings = &pv[0];
    pv[1].destination = S("b");
    variants[2].postings = &pv[1];
    pv[2].amount = 6;
    variants[3].postings = &pv[2];
    pv[3].asset = S("EUR");
    variants[4].postings = &pv[3];
    mv[1].value = S("3");
    variants[5].metadata = mv;
    variants[6].reference = S("r2");
    cv.version = 4;
    variants[7].conditions = &cv;
    variants[8].n_metadata = 1;
    for (int i = 0; i < 9; i++) {
        cr_assert_eq(lg_cmd_submit_digest(&variants[i], d2), LG_OK);
        cr_assert(memcmp(d1, d2, sizeof d1) != 0, "variant %d", i);
    }
}

Test(codec, random_round_trips)
{
    struct lgt_rng rng;
    lgt_rng_init(&rng, lgt_seed());
    static const char *const addrs[] = {"world", "a", "users:1", "users:2:main", "b_-Z:9"};
    static const char *const assets[] = {"USD", "USD/2", "BTC/18", "X1"};
    static const char *const keys[] = {"", "a", "ab", "b", "k\xc3\xa9", "zz"};
    for (int round = 0; round < 300; round++) {
        struct lg_posting p[8];
        struct lg_kv kv[6];
        uint32_t np = 1 + (uint32_t)lgt_rng_below(&rng, 8);
        for (uint32_t i = 0; i < np; i++) {
            size_t s = lgt_rng_below(&rng, 5);
            size_t d = (s + 1 + lgt_rng_below(&rng, 4)) % 5;
            p[i].source = (struct lg_str){addrs[s], (uint32_t)strlen(addrs[s])};
            p[i].destination = (struct lg_str){addrs[d], (uint32_t)strlen(addrs[d])};
            const char *a = assets[lgt_rng_below(&rng, 4)];
            p[i].asset = (struct lg_str){a, (uint32_t)strlen(a)};
            lg_u128 amount = ((lg_u128)lgt_rng_next(&rng) << 64) | lgt_rng_next(&rng);
            amount >>= lgt_rng_below(&rng, 128);
            p[i].amount = amount == 0 ? 1 : amount;
        }
        uint32_t nm = (uint32_t)lgt_rng_below(&rng, 6);
        for (uint32_t i = 0; i < nm; i++) {
            const char *k = keys[1u + (i + (uint32_t)round) % 5u];
            kv[i] = (struct lg_kv){{k, (uint32_t)strlen(k)}, {"v", 1}};
        }
        struct lg_cmd c = submit_cmd();
        c.timestamp_us = lgt_rng_next(&rng) >> lgt_rng_below(&rng, 64);
        c.u.submit.postings = p;
        c.u.submit.n_postings = np;
        c.u.submit.metadata = kv;
        c.u.submit.n_metadata = nm;
        encode_one(&c);
        struct lg_batch b;
        cr_assert_eq(decode_one(&b), LG_OK, "%s", errors[0]);
        for (uint32_t i = 0; i < np; i++) {
            cr_assert(b.cmds[0].u.submit.postings[i].amount == p[i].amount);
        }
        assert_reencodes(&b);
        lg_arena_reset(&arena);
    }
}

Test(codec, arena_exhaustion_is_enomem)
{
    struct lg_arena small;
    lg_arena_init(&small, 64);
    struct lg_cmd c = submit_cmd();
    encode_one(&c);
    struct lg_batch b;
    cr_assert_eq(lg_cmd_decode_batch(buf.data, buf.len, &small, &b, codes, errors, errmsg),
                 LG_ENOMEM);
    lg_arena_close(&small);
}
