/* cli_write: the writing subcommands, send (one posting from flags) and submit (a
 * transaction from a JSON document), docs/cli.md.
 *
 * Exactly once: a transaction without a reference gets a generated one, "cli-" and 128
 * random bits, before it is encoded. lib/client retries unavailable/timeout/not_leader with
 * the very same bytes, so a retry after a lost answer (a leader killed between commit and
 * reply) finds the reference and returns the original result instead of applying twice.
 * The reference is printed, and when every attempt failed the message says to re-run with
 * it: the outcome is then unknown, and the same reference makes the re-run safe. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "assert.h"
#include "cli.h"
#include "cmd.h"

static const char send_usage[] =
    "usage: ledger-node send --ledger L --from ADDR --to ADDR --amount N --asset A\n"
    "                        [--reference R] [--meta KEY=VALUE]... [flags]\n"
    "\n"
    "Commits one posting: N units (the asset's smallest unit, up to 2^128 - 1) of A from\n"
    "ADDR to ADDR. 'world' may go negative; any other source needs the funds (exit 3 when\n"
    "it lacks them). Without --reference a random one (cli-...) is generated and printed:\n"
    "re-running with it never applies the transfer twice.\n"
    "\n"
    "  --reference R      idempotency key, unique per ledger (printable, <= 128 bytes)\n"
    "  --meta KEY=VALUE   transaction metadata (repeatable)\n";

static const char submit_usage[] =
    "usage: ledger-node submit --ledger L [--file PATH|-] [--reference R] [flags]\n"
    "\n"
    "Commits one transaction read as JSON from PATH (default: standard input):\n"
    "  {\"postings\": [{\"source\": \"world\", \"destination\": \"users:1\",\n"
    "                 \"amount\": 100, \"asset\": \"USD/2\"}],\n"
    "   \"metadata\": {\"order\": \"42\"}, \"reference\": \"order-42\",\n"
    "   \"conditions\": [{\"account\": \"users:1\", \"version\": 3},\n"
    "                  {\"account\": \"users:1\", \"asset\": \"USD/2\", \"min_balance\": 0}]}\n"
    "Amounts are JSON integers or strings of decimal digits (no fractions). Only postings\n"
    "is required; \"ledger\" may be given instead of --ledger. Without a reference a random\n"
    "one is generated and printed (see send --help).\n"
    "\n"
    "  --file PATH|-      the document (- or absent: standard input; at most 16 MiB)\n"
    "  --reference R      idempotency key, when the document has none\n";

/* Report an invalid document: "<path> (line L, offset O): <why>". */
__attribute__((format(printf, 5, 6))) static int doc_bad(struct lg_cmd_cli *c, int code,
                                                         const struct lg_json *v,
                                                         const char *path, const char *fmt,
                                                         ...)
{
    char why[LG_ERRMSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return lg_cmd_cli_error(c, LG_CMD_EXIT_USAGE, lg_err_wire(code), "%s: %s (offset %zu)",
                            path, why, v != NULL ? v->offset : (size_t)0);
}

static int doc_string(struct lg_cmd_cli *c, const struct lg_json *v, const char *path,
                      struct lg_str *out)
{
    if (v == NULL) {
        return doc_bad(c, LG_EBADREQ, NULL, path, "missing");
    }
    if (v->type != LG_JSON_STRING) {
        return doc_bad(c, LG_EBADREQ, v, path, "must be a string, not %s",
                       lg_json_type_name(v->type));
    }
    out->ptr = v->str;
    out->len = v->len;
    return -1;
}

/* Every member of obj must be one of the names (NULL-terminated list). */
static int doc_known_keys(struct lg_cmd_cli *c, const struct lg_json *obj, const char *path,
                          const char *const *names)
{
    for (const struct lg_json *m = obj->child; m != NULL; m = m->next) {
        bool known = false;
        for (const char *const *n = names; *n != NULL; n++) {
            known |= strlen(*n) == m->key_len && memcmp(*n, m->key, m->key_len) == 0;
        }
        if (!known) {
            return doc_bad(c, LG_EBADREQ, m, path, "unknown field \"%.*s\"",
                           (int)(m->key_len > 64 ? 64 : m->key_len), m->key);
        }
    }
    return -1;
}

static int doc_postings(struct lg_cmd_cli *c, const struct lg_json *arr,
                        struct lg_proto_submit *s)
{
    if (arr == NULL) {
        return doc_bad(c, LG_EBADREQ, NULL, "postings", "missing");
    }
    if (arr->type != LG_JSON_ARRAY || arr->n == 0) {
        return doc_bad(c, LG_EBADREQ, arr, "postings", "must be a non-empty array");
    }
    if (arr->n > LG_POSTINGS_MAX) {
        return doc_bad(c, LG_ETOOLARGE, arr, "postings", "%u postings, at most %u", arr->n,
                       LG_POSTINGS_MAX);
    }
    struct lg_posting *p = lg_arena_calloc(&c->arena, arr->n, sizeof *p);
    if (p == NULL) {
        return lg_cmd_cli_error(c, LG_CMD_EXIT_FAILED, "internal", "out of memory");
    }
    static const char *const keys[] = {"source", "destination", "amount", "asset", NULL};
    uint32_t i = 0;
    for (const struct lg_json *e = arr->child; e != NULL; e = e->next, i++) {
        char path[64];
        snprintf(path, sizeof path, "postings[%u]", i);
        if (e->type != LG_JSON_OBJECT) {
            return doc_bad(c, LG_EBADREQ, e, path, "must be an object");
        }
        int rc = doc_known_keys(c, e, path, keys);
        if (rc >= 0) {
            return rc;
        }
        char field[96];
        snprintf(field, sizeof field, "%s.source", path);
        if ((rc = doc_string(c, lg_json_member(e, "source"), field, &p[i].source)) >= 0) {
            return rc;
        }
        snprintf(field, sizeof field, "%s.destination", path);
        if ((rc = doc_string(c, lg_json_member(e, "destination"), field, &p[i].destination)) >=
            0) {
            return rc;
        }
        snprintf(field, sizeof field, "%s.asset", path);
        if ((rc = doc_string(c, lg_json_member(e, "asset"), field, &p[i].asset)) >= 0) {
            return rc;
        }
        snprintf(field, sizeof field, "%s.amount", path);
        const struct lg_json *amount = lg_json_member(e, "amount");
        if (amount == NULL) {
            return doc_bad(c, LG_EBADREQ, e, field, "missing");
        }
        char why[LG_ERRMSG_SIZE];
        int arc = lg_json_amount(amount, &p[i].amount, why);
        if (arc != LG_OK) {
            return doc_bad(c, arc, amount, field, "%s", why);
        }
    }
    s->postings = p;
    s->n_postings = arr->n;
    return -1;
}

static int doc_metadata(struct lg_cmd_cli *c, const struct lg_json *obj,
                        struct lg_proto_submit *s)
{
    if (obj == NULL) {
        return -1;
    }
    if (obj->type != LG_JSON_OBJECT) {
        return doc_bad(c, LG_EBADREQ, obj, "metadata", "must be an object of strings");
    }
    if (obj->n > LG_METADATA_ENTRIES_MAX) {
        return doc_bad(c, LG_ETOOLARGE, obj, "metadata", "%u entries, at most %u", obj->n,
                       LG_METADATA_ENTRIES_MAX);
    }
    struct lg_kv *kv = lg_arena_calloc(&c->arena, obj->n + 1u, sizeof *kv);
    if (kv == NULL) {
        return lg_cmd_cli_error(c, LG_CMD_EXIT_FAILED, "internal", "out of memory");
    }
    uint32_t i = 0;
    for (const struct lg_json *m = obj->child; m != NULL; m = m->next, i++) {
        char path[LG_METADATA_KEY_BYTES_MAX + 16u];
        snprintf(path, sizeof path, "metadata.%.*s", (int)(m->key_len > 64 ? 64 : m->key_len),
                 m->key);
        kv[i].key.ptr = m->key;
        kv[i].key.len = m->key_len;
        int rc = doc_string(c, m, path, &kv[i].value);
        if (rc >= 0) {
            return rc;
        }
    }
    s->metadata = kv;
    s->n_metadata = obj->n;
    return -1;
}

static int doc_conditions(struct lg_cmd_cli *c, const struct lg_json *arr,
                          struct lg_proto_submit *s)
{
    if (arr == NULL) {
        return -1;
    }
    if (arr->type != LG_JSON_ARRAY) {
        return doc_bad(c, LG_EBADREQ, arr, "conditions", "must be an array");
    }
    if (arr->n > LG_CONDITIONS_MAX) {
        return doc_bad(c, LG_ETOOLARGE, arr, "conditions", "%u conditions, at most %u", arr->n,
                       LG_CONDITIONS_MAX);
    }
    struct lg_condition *cond = lg_arena_calloc(&c->arena, arr->n + 1u, sizeof *cond);
    if (cond == NULL) {
        return lg_cmd_cli_error(c, LG_CMD_EXIT_FAILED, "internal", "out of memory");
    }
    static const char *const keys[] = {"account", "version", "asset", "min_balance", NULL};
    uint32_t i = 0;
    for (const struct lg_json *e = arr->child; e != NULL; e = e->next, i++) {
        char path[64];
        char field[96];
        char why[LG_ERRMSG_SIZE];
        snprintf(path, sizeof path, "conditions[%u]", i);
        if (e->type != LG_JSON_OBJECT) {
            return doc_bad(c, LG_EBADREQ, e, path, "must be an object");
        }
        int rc = doc_known_keys(c, e, path, keys);
        if (rc >= 0) {
            return rc;
        }
        snprintf(field, sizeof field, "%s.account", path);
        if ((rc = doc_string(c, lg_json_member(e, "account"), field, &cond[i].account)) >= 0) {
            return rc;
        }
        const struct lg_json *version = lg_json_member(e, "version");
        const struct lg_json *asset = lg_json_member(e, "asset");
        const struct lg_json *min = lg_json_member(e, "min_balance");
        if (version != NULL && asset == NULL && min == NULL) {
            cond[i].kind = LG_COND_VERSION;
            snprintf(field, sizeof field, "%s.version", path);
            int vrc = lg_json_u64(version, &cond[i].version, why);
            if (vrc != LG_OK) {
                return doc_bad(c, vrc, version, field, "%s", why);
            }
        } else if (version == NULL && asset != NULL && min != NULL) {
            cond[i].kind = LG_COND_MIN_BALANCE;
            snprintf(field, sizeof field, "%s.asset", path);
            if ((rc = doc_string(c, asset, field, &cond[i].asset)) >= 0) {
                return rc;
            }
            snprintf(field, sizeof field, "%s.min_balance", path);
            int arc = lg_json_amount(min, &cond[i].min, why);
            if (arc != LG_OK) {
                return doc_bad(c, arc, min, field, "%s", why);
            }
        } else {
            return doc_bad(c, LG_EBADREQ, e, path,
                           "give either version, or asset and min_balance");
        }
    }
    s->conditions = cond;
    s->n_conditions = arr->n;
    return -1;
}

/* The whole document into s (views into the arena's tree). */
static int doc_submit(struct lg_cmd_cli *c, const struct lg_json *doc,
                      struct lg_proto_submit *s)
{
    if (doc->type != LG_JSON_OBJECT) {
        return doc_bad(c, LG_EBADREQ, doc, "document", "must be an object, not %s",
                       lg_json_type_name(doc->type));
    }
    static const char *const keys[] = {"ledger",    "postings",   "metadata",
                                       "reference", "conditions", NULL};
    int rc = doc_known_keys(c, doc, "document", keys);
    if (rc < 0) {
        rc = doc_postings(c, lg_json_member(doc, "postings"), s);
    }
    if (rc < 0) {
        rc = doc_metadata(c, lg_json_member(doc, "metadata"), s);
    }
    if (rc < 0) {
        rc = doc_conditions(c, lg_json_member(doc, "conditions"), s);
    }
    const struct lg_json *ledger = lg_json_member(doc, "ledger");
    if (rc < 0 && ledger != NULL) {
        struct lg_str l;
        rc = doc_string(c, ledger, "ledger", &l);
        if (rc < 0 && c->ledger != NULL && !lg_tx_str_eq(l, lg_cmd_cli_str(c->ledger))) {
            rc = doc_bad(c, LG_EBADREQ, ledger, "ledger", "differs from --ledger %s",
                         c->ledger);
        }
        s->ledger = l;
    }
    const struct lg_json *ref = lg_json_member(doc, "reference");
    if (rc < 0 && ref != NULL) {
        struct lg_str r;
        rc = doc_string(c, ref, "reference", &r);
        if (rc < 0 && c->reference != NULL && !lg_tx_str_eq(r, lg_cmd_cli_str(c->reference))) {
            rc = doc_bad(c, LG_EBADREQ, ref, "reference", "differs from --reference %s",
                         c->reference);
        }
        s->reference = r;
    }
    return rc;
}

/* Read the whole input (a file or stdin), at most LG_JSON_BYTES_MAX bytes, into b. */
static int read_input(struct lg_cmd_cli *c, struct lg_buf *b)
{
    bool is_stdin = c->file == NULL || strcmp(c->file, "-") == 0;
    const char *name = is_stdin ? "standard input" : c->file;
    FILE *f = is_stdin ? stdin : fopen(c->file, "rb");
    if (f == NULL) {
        return lg_cmd_cli_error(c, LG_CMD_EXIT_USAGE, "bad_request", "cannot open %s: %s",
                                name, strerror(errno));
    }
    char chunk[65536];
    int rc = -1;
    for (;;) {
        size_t n = fread(chunk, 1, sizeof chunk, f);
        if (n > 0 && (b->len + n > LG_JSON_BYTES_MAX || !lg_buf_append(b, chunk, n))) {
            rc = b->len + n > LG_JSON_BYTES_MAX
                     ? lg_cmd_cli_error(c, LG_CMD_EXIT_USAGE, "too_large",
                                        "%s is over %u bytes", name, LG_JSON_BYTES_MAX)
                     : lg_cmd_cli_error(c, LG_CMD_EXIT_FAILED, "internal", "out of memory");
            break;
        }
        if (n < sizeof chunk) {
            if (ferror(f)) {
                rc = lg_cmd_cli_error(c, LG_CMD_EXIT_USAGE, "bad_request", "cannot read %s",
                                      name);
            }
            break;
        }
    }
    if (!is_stdin) {
        fclose(f);
    }
    return rc;
}

/* Submit s (its reference set or generated here) and print the result. */
static int submit_and_print(struct lg_cmd_cli *c, struct lg_proto_submit *s)
{
    char generated[LG_CMD_CLI_REFERENCE_BYTES];
    if (s->reference.len == 0) {
        if (lg_cmd_cli_reference(generated) != LG_OK) {
            return lg_cmd_cli_error(c, LG_CMD_EXIT_FAILED, "internal",
                                    "no randomness for a reference: give --reference R");
        }
        s->reference = lg_cmd_cli_str(generated);
    }
    char ref[LG_REFERENCE_BYTES_MAX + 1u];
    lg_cmd_cli_cstr(s->reference, ref, sizeof ref);
    char hint[LG_REFERENCE_BYTES_MAX + 96u];
    snprintf(hint, sizeof hint,
             "; the outcome is unknown: re-run with --reference %s (it applies at most once)",
             ref);
    struct lg_proto_request req;
    memset(&req, 0, sizeof req);
    req.op = LG_PROTO_OP_SUBMIT;
    req.u.submit = *s;
    struct lg_proto_response resp;
    int rc = lg_cmd_cli_call(c, &req, &resp, hint);
    if (rc >= 0) {
        return rc;
    }
    const struct lg_proto_tx_result *r = &resp.u.submit;
    char hash[2u * LG_PROTO_HASH_BYTES + 1u];
    lg_cmd_hex(r->hash, LG_PROTO_HASH_BYTES, hash);
    if (c->json) {
        lg_cmd_jw_open(&c->jw, '{');
        lg_cmd_jw_key(&c->jw, "ledger");
        lg_cmd_jw_str(&c->jw, s->ledger);
        lg_cmd_jw_key(&c->jw, "tx_id");
        lg_cmd_jw_u64(&c->jw, r->tx_id);
        lg_cmd_jw_key(&c->jw, "seq");
        lg_cmd_jw_u64(&c->jw, r->seq);
        lg_cmd_jw_key(&c->jw, "index");
        lg_cmd_jw_u64(&c->jw, r->index);
        lg_cmd_jw_key(&c->jw, "timestamp");
        lg_cmd_jw_u64(&c->jw, r->timestamp_us);
        lg_cmd_jw_key(&c->jw, "hash");
        lg_cmd_jw_cstr(&c->jw, hash);
        lg_cmd_jw_key(&c->jw, "reference");
        lg_cmd_jw_cstr(&c->jw, ref);
        lg_cmd_jw_close(&c->jw, '}');
    } else {
        char ts[32];
        lg_cmd_cli_time(r->timestamp_us, ts);
        printf("committed tx %llu in ledger %.*s\n", (unsigned long long)r->tx_id,
               (int)s->ledger.len, s->ledger.ptr);
        printf("reference  %s\n", ref);
        printf("timestamp  %s\n", ts);
        printf("seq        %llu\n", (unsigned long long)r->seq);
        printf("index      %llu  (reads with --after-index %llu see it on any node)\n",
               (unsigned long long)r->index, (unsigned long long)r->index);
        printf("hash       %s\n", hash);
    }
    return lg_cmd_cli_finish(c);
}

int lg_cmd_send(int argc, char **argv)
{
    struct lg_cmd_cli c;
    int rc = lg_cmd_cli_parse(&c, "send", send_usage,
                              LG_CMD_CLI_F_LEDGER | LG_CMD_CLI_F_SEND | LG_CMD_CLI_F_REF, 0, 0,
                              argc, argv);
    if (rc >= 0) {
        goto out;
    }
    if (c.from == NULL || c.to == NULL || c.amount == NULL || c.asset == NULL) {
        rc = lg_cmd_cli_usage(&c, "--from, --to, --amount and --asset are required");
        goto out;
    }
    struct lg_posting posting;
    memset(&posting, 0, sizeof posting);
    posting.source = lg_cmd_cli_str(c.from);
    posting.destination = lg_cmd_cli_str(c.to);
    posting.asset = lg_cmd_cli_str(c.asset);
    int arc = lg_amount_parse(c.amount, strlen(c.amount), &posting.amount);
    if (arc != LG_OK) {
        rc = lg_cmd_cli_usage(&c, "--amount must be decimal digits (the asset's smallest "
                              "unit, at most 2^128 - 1), got '%s'", c.amount);
        goto out;
    }
    struct lg_proto_submit s;
    memset(&s, 0, sizeof s);
    s.ledger = lg_cmd_cli_str(c.ledger);
    s.postings = &posting;
    s.n_postings = 1;
    s.metadata = c.meta;
    s.n_metadata = c.n_meta;
    s.reference = lg_cmd_cli_str(c.reference);
    rc = submit_and_print(&c, &s);
out:
    lg_cmd_cli_close(&c);
    return rc;
}

int lg_cmd_submit(int argc, char **argv)
{
    struct lg_cmd_cli c;
    struct lg_buf input;
    lg_buf_init(&input);
    int rc = lg_cmd_cli_parse(&c, "submit", submit_usage, LG_CMD_CLI_F_FILE | LG_CMD_CLI_F_REF |
                              LG_CMD_CLI_F_LEDGER_OPT, 0, 0, argc, argv);
    if (rc >= 0) {
        goto out;
    }
    rc = read_input(&c, &input);
    if (rc >= 0) {
        goto out;
    }
    struct lg_json *doc = NULL;
    char msg[LG_ERRMSG_SIZE] = "";
    int jrc = lg_json_parse((const char *)input.data, input.len, &c.arena, &doc, msg);
    if (jrc != LG_OK) {
        rc = lg_cmd_cli_error(&c, jrc == LG_ENOMEM ? LG_CMD_EXIT_FAILED : LG_CMD_EXIT_USAGE,
                              lg_err_wire(jrc), "%s: %s",
                              c.file != NULL ? c.file : "standard input", msg);
        goto out;
    }
    struct lg_proto_submit s;
    memset(&s, 0, sizeof s);
    s.ledger = lg_cmd_cli_str(c.ledger);
    s.reference = lg_cmd_cli_str(c.reference);
    rc = doc_submit(&c, doc, &s);
    if (rc >= 0) {
        goto out;
    }
    if (s.ledger.len == 0) {
        rc = lg_cmd_cli_usage(&c, "--ledger L is required (or \"ledger\" in the document)");
        goto out;
    }
    rc = submit_and_print(&c, &s);
out:
    lg_buf_close(&input);
    lg_cmd_cli_close(&c);
    return rc;
}
