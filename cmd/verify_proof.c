/* verify_proof: the client half of the verifiable ledger (issue 8; docs/cli.md):
 *   ledger-node digest [--tree-size N] [--save FILE]
 *   ledger-node verify --tx ID [--ledger L] --digest FILE
 *   ledger-node verify --from FILE --to FILE
 *
 * A digest file is the JSON document `digest --json` prints: {tree_size, root, timestamp,
 * node_id, public_key, signature}. Every check here uses lib/proofcheck.h (written from
 * RFC 9162 alone, sharing nothing with the tree that builds proofs but SHA-256) and
 * lib/sign.h's signature check; the node's answers are never trusted, only checked against
 * what the user saved earlier.
 *
 * Exit codes (docs/cli.md): 0 proven; 1 not proven (a signature, path, record or size that
 * does not check: the message says which); 2 usage, or a digest file that cannot be read
 * or parsed; 4 the cluster could not be asked; 5 no such transaction. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fsm/cmd.h"
#include "../lib/assert.h"
#include "../lib/json.h"
#include "../lib/proofcheck.h"
#include "../lib/sign.h"
#include "cli.h"
#include "cmd.h"

/* A digest file is a few hundred bytes; anything much larger is not one. */
#define DIGEST_FILE_BYTES_MAX (64u * 1024u)
#define HASH_HEX_BYTES (2u * LG_PROTO_HASH_BYTES + 1u)
#define KEY_HEX_BYTES (2u * LG_SIGN_PUBLIC_KEY_BYTES + 1u)
#define SIG_HEX_BYTES (2u * LG_SIGN_SIGNATURE_BYTES + 1u)
/* The wire-like code of a proof that does not check (the error document's "code"). */
#define NOT_PROVEN "verification_failed"

LG_STATIC_ASSERT(LG_PROOFCHECK_HASH_BYTES == LG_PROTO_HASH_BYTES, "one hash size");
LG_STATIC_ASSERT(LG_SIGN_ROOT_BYTES == LG_PROTO_HASH_BYTES, "one hash size");
LG_STATIC_ASSERT(LG_PROTO_PATH_HASHES_MAX <= LG_PROOFCHECK_PATH_MAX, "paths fit the checker");

static const char digest_usage[] =
    "usage: ledger-node digest [--tree-size N] [--save FILE] [flags]\n"
    "\n"
    "The node's signed digest of the journal's Merkle tree (RFC 9162): tree size, root,\n"
    "timestamp, signer's id and Ed25519 public key, signature. Without --tree-size: the\n"
    "current size; with it, the root at that older size. The signature is checked before\n"
    "anything is printed or saved.\n"
    "\n"
    "  --tree-size N        the digest of the first N records (not_found, exit 5, when the\n"
    "                       tree is smaller)\n"
    "  --save FILE          also write the digest to FILE as JSON (every field), for\n"
    "                       `verify --digest FILE` or `verify --from/--to` later\n";

static const char verify_usage[] =
    "usage: ledger-node verify --tx ID [--ledger L] --digest FILE [flags]\n"
    "       ledger-node verify --from FILE --to FILE [flags]\n"
    "\n"
    "--tx: proves that transaction ID of ledger L (default main) is in the journal whose\n"
    "digest FILE was saved earlier (`digest --save`): checks the digest's signature, fetches\n"
    "the inclusion proof of the transaction's record at the digest's tree size, checks it\n"
    "against the saved root, and checks that the record is that transaction.\n"
    "--from/--to: proves that the journal of the --to digest extends the one of the --from\n"
    "digest (nothing was changed or removed in between): checks both signatures, fetches\n"
    "the consistency proof and checks it against both saved roots.\n"
    "Exit 0 proven, 1 not proven (the message says what failed), 2 usage or unreadable\n"
    "digest file, 4 cluster unavailable, 5 no such transaction.\n"
    "\n"
    "  --tx ID              a transaction id of ledger L\n"
    "  --ledger L           its ledger (default main)\n"
    "  --digest FILE        a digest saved by `ledger-node digest --save FILE`\n"
    "  --from FILE          the older saved digest\n"
    "  --to FILE            the newer saved digest\n";

/* ---- digests and their files ----------------------------------------------------------- */

static void digest_from_wire(const struct lg_proto_digest *w, struct lg_sign_digest *d)
{
    memset(d, 0, sizeof *d);
    d->tree_size = w->tree_size;
    memcpy(d->root, w->root, LG_SIGN_ROOT_BYTES);
    d->timestamp_us = w->timestamp_us;
    d->node_id = w->node_id;
    if (w->public_key.len == LG_SIGN_PUBLIC_KEY_BYTES) {
        memcpy(d->public_key, w->public_key.ptr, LG_SIGN_PUBLIC_KEY_BYTES);
    }
    if (w->signature.len == LG_SIGN_SIGNATURE_BYTES) {
        memcpy(d->signature, w->signature.ptr, LG_SIGN_SIGNATURE_BYTES);
    }
}

/* The six fields as members of the JSON object being written. */
static void digest_json(struct lg_cmd_jw *w, const struct lg_sign_digest *d)
{
    char root[HASH_HEX_BYTES];
    char key[KEY_HEX_BYTES];
    char sig[SIG_HEX_BYTES];
    lg_cmd_hex(d->root, LG_SIGN_ROOT_BYTES, root);
    lg_cmd_hex(d->public_key, LG_SIGN_PUBLIC_KEY_BYTES, key);
    lg_cmd_hex(d->signature, LG_SIGN_SIGNATURE_BYTES, sig);
    lg_cmd_jw_key(w, "tree_size");
    lg_cmd_jw_u64(w, d->tree_size);
    lg_cmd_jw_key(w, "root");
    lg_cmd_jw_cstr(w, root);
    lg_cmd_jw_key(w, "timestamp");
    lg_cmd_jw_u64(w, d->timestamp_us);
    lg_cmd_jw_key(w, "node_id");
    lg_cmd_jw_u64(w, d->node_id);
    lg_cmd_jw_key(w, "public_key");
    lg_cmd_jw_cstr(w, key);
    lg_cmd_jw_key(w, "signature");
    lg_cmd_jw_cstr(w, sig);
}

/* Write d to path as one JSON document (a temporary file renamed over path, so a reader
 * never sees half a digest). Returns -1, or the reported failure's exit code. */
static int digest_save(struct lg_cmd_cli *c, const char *path, const struct lg_sign_digest *d)
{
    struct lg_buf b;
    lg_buf_init(&b);
    struct lg_cmd_jw w;
    memset(&w, 0, sizeof w);
    w.b = &b;
    lg_cmd_jw_open(&w, '{');
    digest_json(&w, d);
    lg_cmd_jw_close(&w, '}');
    char tmp[4096];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int rc = -1;
    if (w.failed || !lg_buf_append(&b, "\n", 1)) {
        rc = lg_cmd_cli_error(c, LG_CMD_EXIT_FAILED, "internal", "out of memory");
    } else if (n < 0 || (size_t)n >= sizeof tmp) {
        rc = lg_cmd_cli_usage(c, "--save: path too long");
    } else {
        FILE *fp = fopen(tmp, "wb");
        bool ok = fp != NULL && fwrite(b.data, 1, b.len, fp) == b.len;
        ok = fp != NULL && fclose(fp) == 0 && ok;
        if (!ok || rename(tmp, path) != 0) {
            int e = errno;
            (void)remove(tmp);
            rc = lg_cmd_cli_error(c, LG_CMD_EXIT_USAGE, "bad_request", "--save %s: %s", path,
                                  strerror(e));
        }
    }
    lg_buf_close(&b);
    return rc;
}

/* Lowercase hex of exactly n bytes from member key of obj into out. */
static bool json_hex(const struct lg_json *obj, const char *key, uint8_t *out, size_t n)
{
    const struct lg_json *v = lg_json_member(obj, key);
    if (v == NULL || v->type != LG_JSON_STRING || v->len != 2u * n) {
        return false;
    }
    for (size_t i = 0; i < 2u * n; i++) {
        char ch = v->str[i];
        int x = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
        if (x < 0) {
            return false;
        }
        out[i / 2u] = (uint8_t)(i % 2u == 0 ? x << 4 : out[i / 2u] | x);
    }
    return true;
}

/* Read a digest file (flag names it in messages). Returns -1 with *d, or the exit code of
 * the reported failure (2: the file cannot be read or is not a digest). */
static int digest_load(struct lg_cmd_cli *c, const char *flag, const char *path,
                       struct lg_sign_digest *d)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        return lg_cmd_cli_error(c, LG_CMD_EXIT_USAGE, "bad_request", "%s %s: %s", flag, path,
                                strerror(errno));
    }
    static char text[DIGEST_FILE_BYTES_MAX + 1u];
    size_t len = fread(text, 1, sizeof text, fp);
    bool err = ferror(fp) != 0;
    fclose(fp);
    if (err || len > DIGEST_FILE_BYTES_MAX) {
        return lg_cmd_cli_error(c, LG_CMD_EXIT_USAGE, "bad_request", "%s %s: %s", flag, path,
                                err ? "read error" : "too large for a digest file");
    }
    struct lg_json *doc = NULL;
    char msg[LG_ERRMSG_SIZE] = "";
    if (lg_json_parse(text, len, &c->arena, &doc, msg) != LG_OK) {
        return lg_cmd_cli_error(c, LG_CMD_EXIT_USAGE, "bad_request", "%s %s: %s", flag, path,
                                msg);
    }
    memset(d, 0, sizeof *d);
    static const char *const nums[] = {"tree_size", "timestamp", "node_id"};
    uint64_t *slots[] = {&d->tree_size, &d->timestamp_us, &d->node_id};
    for (size_t i = 0; i < 3; i++) {
        const struct lg_json *v = lg_json_member(doc, nums[i]);
        if (v == NULL || lg_json_u64(v, slots[i], msg) != LG_OK) {
            return lg_cmd_cli_error(c, LG_CMD_EXIT_USAGE, "bad_request",
                                    "%s %s: %s: %s", flag, path, nums[i],
                                    v == NULL ? "missing (not a digest file)" : msg);
        }
    }
    static const char *const hexes[] = {"root", "public_key", "signature"};
    uint8_t *bytes[] = {d->root, d->public_key, d->signature};
    const size_t sizes[] = {LG_SIGN_ROOT_BYTES, LG_SIGN_PUBLIC_KEY_BYTES,
                            LG_SIGN_SIGNATURE_BYTES};
    for (size_t i = 0; i < 3; i++) {
        if (!json_hex(doc, hexes[i], bytes[i], sizes[i])) {
            return lg_cmd_cli_error(c, LG_CMD_EXIT_USAGE, "bad_request",
                                    "%s %s: %s: must be %zu lowercase hex digits", flag, path,
                                    hexes[i], 2u * sizes[i]);
        }
    }
    return -1;
}

/* Check d's signature under the key it names. Returns -1, or exit 1 reported. */
static int digest_check(struct lg_cmd_cli *c, const char *what, const struct lg_sign_digest *d)
{
    int rc = lg_sign_digest_verify(d);
    if (rc == LG_OK) {
        return -1;
    }
    if (rc == LG_ENOMEM) {
        return lg_cmd_cli_error(c, LG_CMD_EXIT_FAILED, "internal", "%s: out of memory", what);
    }
    return lg_cmd_cli_error(c, LG_CMD_EXIT_FAILED, NOT_PROVEN,
                            "%s: the Ed25519 signature does not verify over tree_size %llu, "
                            "root, timestamp and node_id %llu under its public_key: the "
                            "digest was changed, or not signed by that key",
                            what, (unsigned long long)d->tree_size,
                            (unsigned long long)d->node_id);
}

/* ---- ledger-node digest ------------------------------------------------------------------ */

int lg_cmd_digest(int argc, char **argv)
{
    struct lg_cmd_cli c;
    int rc = lg_cmd_cli_parse(&c, "digest", digest_usage,
                              LG_CMD_CLI_F_READ | LG_CMD_CLI_F_DIGEST, 0, 0, argc, argv);
    if (rc >= 0) {
        goto out;
    }
    struct lg_proto_request req;
    memset(&req, 0, sizeof req);
    req.op = LG_PROTO_OP_DIGEST;
    req.u.digest.has_tree_size = c.has_tree_size;
    req.u.digest.tree_size = c.tree_size;
    lg_cmd_cli_read_options(&c, &req);
    struct lg_proto_response resp;
    rc = lg_cmd_cli_call(&c, &req, &resp, NULL);
    if (rc >= 0) {
        goto out;
    }
    const struct lg_proto_digest *w = &resp.u.digest;
    if (w->public_key.len != LG_SIGN_PUBLIC_KEY_BYTES ||
        w->signature.len != LG_SIGN_SIGNATURE_BYTES ||
        (c.has_tree_size && w->tree_size != c.tree_size)) {
        rc = lg_cmd_cli_error(&c, LG_CMD_EXIT_FAILED, "internal",
                              "bad answer from %s: tree_size %llu, a key of %u bytes and a "
                              "signature of %u (want %u and %u)", lg_client_current(c.client),
                              (unsigned long long)w->tree_size, w->public_key.len,
                              w->signature.len, LG_SIGN_PUBLIC_KEY_BYTES,
                              LG_SIGN_SIGNATURE_BYTES);
        goto out;
    }
    struct lg_sign_digest d;
    digest_from_wire(w, &d);
    if ((rc = digest_check(&c, "digest", &d)) >= 0) {
        goto out;
    }
    if (c.save != NULL && (rc = digest_save(&c, c.save, &d)) >= 0) {
        goto out;
    }
    if (c.json) {
        lg_cmd_jw_open(&c.jw, '{');
        digest_json(&c.jw, &d);
        lg_cmd_jw_close(&c.jw, '}');
    } else {
        char root[HASH_HEX_BYTES];
        char key[KEY_HEX_BYTES];
        char sig[SIG_HEX_BYTES];
        char ts[32];
        lg_cmd_hex(d.root, LG_SIGN_ROOT_BYTES, root);
        lg_cmd_hex(d.public_key, LG_SIGN_PUBLIC_KEY_BYTES, key);
        lg_cmd_hex(d.signature, LG_SIGN_SIGNATURE_BYTES, sig);
        lg_cmd_cli_time(d.timestamp_us, ts);
        printf("tree_size   %llu\nroot        %s\ntimestamp   %s\nnode        %llu\n"
               "public_key  %s\nsignature   %s (verified)\n",
               (unsigned long long)d.tree_size, root, ts, (unsigned long long)d.node_id, key,
               sig);
        if (c.save != NULL) {
            printf("saved to    %s\n", c.save);
        }
    }
    rc = lg_cmd_cli_finish(&c);
out:
    lg_cmd_cli_close(&c);
    return rc;
}

/* The answering node's tree is smaller than a signed size (not_found). Only a
 * linearizable read proves that the cluster's history does not reach it (the node first
 * caught up with everything committed): exit 1. With --consistency stale or after, the
 * node may only lag behind: exit 4, retry elsewhere or linearizable. */
static int tree_smaller(struct lg_cmd_cli *c, const char *whose, uint64_t size)
{
    bool linearizable = c->after_index == 0 && (c->consistency == LG_PROTO_READ_DEFAULT ||
                                                c->consistency == LG_PROTO_READ_LINEARIZABLE);
    if (linearizable) {
        return lg_cmd_cli_error(c, LG_CMD_EXIT_FAILED, NOT_PROVEN,
                                "the cluster's tree is smaller than %s (%llu records): its "
                                "history does not extend what was signed",
                                whose, (unsigned long long)size);
    }
    return lg_cmd_cli_error(c, LG_CMD_EXIT_UNAVAIL, "unavailable",
                            "%s has a tree smaller than %s (%llu records), but the read was "
                            "not linearizable: that node may only lag behind; nothing is "
                            "proven either way (retry with --consistency linearizable, the "
                            "default)",
                            lg_client_current(c->client), whose, (unsigned long long)size);
}

/* ---- ledger-node verify --tx ------------------------------------------------------------- */

/* Does body decode to the record of transaction tx_id of ledger at seq? Returns NULL, or
 * what is wrong (into why). */
static const char *record_mismatch(struct lg_arena *arena, struct lg_str body,
                                   const char *ledger, uint64_t tx_id, uint64_t seq,
                                   char *why, size_t why_size)
{
    struct lg_record rec;
    char msg[LG_ERRMSG_SIZE] = "";
    if (lg_record_decode(body.ptr, body.len, arena, &rec, msg) != LG_OK) {
        snprintf(why, why_size, "the proven record body is not a journal record: %s", msg);
        return why;
    }
    size_t ledger_len = strlen(ledger);
    if (rec.kind != LG_CMD_SUBMIT || rec.seq != seq || rec.tx_id != tx_id ||
        rec.ledger.len != ledger_len || memcmp(rec.ledger.ptr, ledger, ledger_len) != 0) {
        snprintf(why, why_size, "the proven record (seq %llu, kind %u, ledger \"%.*s\", tx %llu) "
                 "is not transaction %llu of ledger \"%s\" at seq %llu",
                 (unsigned long long)rec.seq, (unsigned)rec.kind, (int)rec.ledger.len,
                 rec.ledger.ptr != NULL ? rec.ledger.ptr : "", (unsigned long long)rec.tx_id,
                 (unsigned long long)tx_id, ledger, (unsigned long long)seq);
        return why;
    }
    return NULL;
}

static int verify_tx(struct lg_cmd_cli *c)
{
    const char *ledger = c->ledger != NULL ? c->ledger : "main";
    struct lg_sign_digest d;
    int rc = digest_load(c, "--digest", c->digest, &d);
    if (rc >= 0 || (rc = digest_check(c, "--digest", &d)) >= 0) {
        return rc;
    }
    /* The transaction's seq. */
    struct lg_proto_request req;
    memset(&req, 0, sizeof req);
    req.op = LG_PROTO_OP_GET_TX;
    req.u.get_tx.ledger = lg_cmd_cli_str(ledger);
    req.u.get_tx.tx_id = c->tx_id;
    lg_cmd_cli_read_options(c, &req);
    struct lg_proto_response resp;
    if ((rc = lg_cmd_cli_call(c, &req, &resp, NULL)) >= 0) {
        return rc;
    }
    uint64_t seq = resp.u.get_tx.seq;
    if (seq == 0 || seq > d.tree_size) {
        return lg_cmd_cli_error(c, LG_CMD_EXIT_FAILED, NOT_PROVEN,
                                "transaction %llu of ledger %s is journal record %llu, after "
                                "the digest's tree of %llu records: save a newer digest",
                                (unsigned long long)c->tx_id, ledger,
                                (unsigned long long)seq, (unsigned long long)d.tree_size);
    }
    /* Its inclusion proof at the saved size. */
    memset(&req, 0, sizeof req);
    req.op = LG_PROTO_OP_PROOF;
    req.u.proof.seq = seq;
    req.u.proof.has_tree_size = true;
    req.u.proof.tree_size = d.tree_size;
    lg_cmd_cli_read_options(c, &req);
    lg_arena_reset(&c->arena);
    rc = lg_cmd_cli_call(c, &req, &resp, NULL);
    if (rc == LG_CMD_EXIT_NOTFOUND) {
        return tree_smaller(c, "the digest's", d.tree_size);
    }
    if (rc >= 0) {
        return rc;
    }
    const struct lg_proto_proof *f = &resp.u.proof;
    if (f->seq != seq || f->tree_size != d.tree_size) {
        return lg_cmd_cli_error(c, LG_CMD_EXIT_FAILED, "internal",
                                "bad answer from %s: a proof of seq %llu in %llu, asked %llu "
                                "in %llu", lg_client_current(c->client),
                                (unsigned long long)f->seq, (unsigned long long)f->tree_size,
                                (unsigned long long)seq, (unsigned long long)d.tree_size);
    }
    uint8_t leaf[LG_PROOFCHECK_HASH_BYTES];
    lg_proofcheck_leaf_hash(f->body.ptr, f->body.len, leaf);
    char root_hex[HASH_HEX_BYTES];
    lg_cmd_hex(d.root, LG_SIGN_ROOT_BYTES, root_hex);
    rc = lg_proofcheck_inclusion(seq - 1u, d.tree_size, leaf, (const uint8_t *)f->path.hashes,
                                 f->path.n, d.root);
    if (rc != LG_OK) {
        char node_root[HASH_HEX_BYTES];
        lg_cmd_hex(f->digest.root, LG_PROTO_HASH_BYTES, node_root);
        bool same = memcmp(f->digest.root, d.root, LG_PROTO_HASH_BYTES) == 0;
        return lg_cmd_cli_error(c, LG_CMD_EXIT_FAILED, NOT_PROVEN,
                                "the inclusion proof of record %llu (%u hashes) does not lead "
                                "to the saved root %s at tree_size %llu%s%s",
                                (unsigned long long)seq, f->path.n, root_hex,
                                (unsigned long long)d.tree_size,
                                same ? "" : "; the node's own root at that size is ",
                                same ? "" : node_root);
    }
    char why[2 * LG_ERRMSG_SIZE];
    if (record_mismatch(&c->arena, f->body, ledger, c->tx_id, seq, why, sizeof why) != NULL) {
        return lg_cmd_cli_error(c, LG_CMD_EXIT_FAILED, NOT_PROVEN, "%s", why);
    }
    char leaf_hex[HASH_HEX_BYTES];
    char key_hex[KEY_HEX_BYTES];
    lg_cmd_hex(leaf, LG_PROOFCHECK_HASH_BYTES, leaf_hex);
    lg_cmd_hex(d.public_key, LG_SIGN_PUBLIC_KEY_BYTES, key_hex);
    if (c->json) {
        lg_cmd_jw_open(&c->jw, '{');
        lg_cmd_jw_key(&c->jw, "verified");
        lg_cmd_jw_bool(&c->jw, true);
        lg_cmd_jw_key(&c->jw, "ledger");
        lg_cmd_jw_cstr(&c->jw, ledger);
        lg_cmd_jw_key(&c->jw, "tx_id");
        lg_cmd_jw_u64(&c->jw, c->tx_id);
        lg_cmd_jw_key(&c->jw, "seq");
        lg_cmd_jw_u64(&c->jw, seq);
        lg_cmd_jw_key(&c->jw, "leaf_index");
        lg_cmd_jw_u64(&c->jw, seq - 1u);
        lg_cmd_jw_key(&c->jw, "leaf_hash");
        lg_cmd_jw_cstr(&c->jw, leaf_hex);
        lg_cmd_jw_key(&c->jw, "path_length");
        lg_cmd_jw_u64(&c->jw, f->path.n);
        lg_cmd_jw_key(&c->jw, "digest");
        lg_cmd_jw_open(&c->jw, '{');
        digest_json(&c->jw, &d);
        lg_cmd_jw_close(&c->jw, '}');
        lg_cmd_jw_close(&c->jw, '}');
    } else {
        char ts[32];
        lg_cmd_cli_time(d.timestamp_us, ts);
        printf("verified: transaction %llu of ledger %s is journal record %llu (leaf %llu) of "
               "the tree of %llu records\n"
               "root        %s\n"
               "signed by   node %llu at %s, public key %s\n"
               "leaf_hash   %s (SHA-256 of 0x00 and the record body)\n"
               "path        %u hashes (RFC 9162 inclusion proof)\n",
               (unsigned long long)c->tx_id, ledger, (unsigned long long)seq,
               (unsigned long long)(seq - 1u), (unsigned long long)d.tree_size, root_hex,
               (unsigned long long)d.node_id, ts, key_hex, leaf_hex, f->path.n);
    }
    return lg_cmd_cli_finish(c);
}

/* ---- ledger-node verify --from --to ------------------------------------------------------ */

static int verify_consistency(struct lg_cmd_cli *c)
{
    struct lg_sign_digest a;
    struct lg_sign_digest b;
    int rc = digest_load(c, "--from", c->from, &a);
    if (rc >= 0 || (rc = digest_load(c, "--to", c->to, &b)) >= 0 ||
        (rc = digest_check(c, "--from", &a)) >= 0 || (rc = digest_check(c, "--to", &b)) >= 0) {
        return rc;
    }
    if (a.tree_size > b.tree_size) {
        return lg_cmd_cli_error(c, LG_CMD_EXIT_FAILED, NOT_PROVEN,
                                "--from's tree (%llu records) is larger than --to's (%llu): "
                                "a journal never shrinks (are the files swapped?)",
                                (unsigned long long)a.tree_size,
                                (unsigned long long)b.tree_size);
    }
    struct lg_proto_response resp;
    memset(&resp, 0, sizeof resp);
    const uint8_t *path = NULL; /* n hashes back to back */
    uint32_t n = 0;
    if (a.tree_size > 0) { /* from the empty tree there is nothing to fetch */
        struct lg_proto_request req;
        memset(&req, 0, sizeof req);
        req.op = LG_PROTO_OP_CONSISTENCY;
        req.u.consistency.from_size = a.tree_size;
        req.u.consistency.to_size = b.tree_size;
        lg_cmd_cli_read_options(c, &req);
        rc = lg_cmd_cli_call(c, &req, &resp, NULL);
        if (rc == LG_CMD_EXIT_NOTFOUND) {
            return tree_smaller(c, "--to's", b.tree_size);
        }
        if (rc >= 0) {
            return rc;
        }
        if (resp.u.consistency.from_size != a.tree_size ||
            resp.u.consistency.to_size != b.tree_size) {
            return lg_cmd_cli_error(c, LG_CMD_EXIT_FAILED, "internal",
                                    "bad answer from %s: a proof from %llu to %llu",
                                    lg_client_current(c->client),
                                    (unsigned long long)resp.u.consistency.from_size,
                                    (unsigned long long)resp.u.consistency.to_size);
        }
        path = (const uint8_t *)resp.u.consistency.path.hashes;
        n = resp.u.consistency.path.n;
    }
    char ra[HASH_HEX_BYTES];
    char rb[HASH_HEX_BYTES];
    lg_cmd_hex(a.root, LG_SIGN_ROOT_BYTES, ra);
    lg_cmd_hex(b.root, LG_SIGN_ROOT_BYTES, rb);
    rc = lg_proofcheck_consistency(a.tree_size, b.tree_size, a.root, b.root, path, n);
    if (rc != LG_OK) {
        return lg_cmd_cli_error(c, LG_CMD_EXIT_FAILED, NOT_PROVEN,
                                "the consistency proof (%u hashes) does not show the tree of "
                                "%llu records (root %s) to be a prefix of the tree of %llu "
                                "records (root %s)", n, (unsigned long long)a.tree_size, ra,
                                (unsigned long long)b.tree_size, rb);
    }
    if (c->json) {
        lg_cmd_jw_open(&c->jw, '{');
        lg_cmd_jw_key(&c->jw, "consistent");
        lg_cmd_jw_bool(&c->jw, true);
        lg_cmd_jw_key(&c->jw, "path_length");
        lg_cmd_jw_u64(&c->jw, n);
        lg_cmd_jw_key(&c->jw, "from");
        lg_cmd_jw_open(&c->jw, '{');
        digest_json(&c->jw, &a);
        lg_cmd_jw_close(&c->jw, '}');
        lg_cmd_jw_key(&c->jw, "to");
        lg_cmd_jw_open(&c->jw, '{');
        digest_json(&c->jw, &b);
        lg_cmd_jw_close(&c->jw, '}');
        lg_cmd_jw_close(&c->jw, '}');
    } else {
        printf("verified: the journal of %llu records (root %s, signed by node %llu) is a "
               "prefix of the journal of %llu records (root %s, signed by node %llu)\n"
               "path        %u hashes (RFC 9162 consistency proof)\n",
               (unsigned long long)a.tree_size, ra, (unsigned long long)a.node_id,
               (unsigned long long)b.tree_size, rb, (unsigned long long)b.node_id, n);
    }
    return lg_cmd_cli_finish(c);
}

bool lg_cmd_verify_is_online(int argc, char **argv)
{
    static const char *const flags[] = {"--tx", "--digest", "--from", "--to"};
    for (int i = 1; i < argc; i++) {
        for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++) {
            size_t n = strlen(flags[k]);
            if (strncmp(argv[i], flags[k], n) == 0 &&
                (argv[i][n] == '\0' || argv[i][n] == '=')) {
                return true;
            }
        }
    }
    return false;
}

int lg_cmd_verify_online(int argc, char **argv)
{
    struct lg_cmd_cli c;
    int rc = lg_cmd_cli_parse(&c, "verify", verify_usage,
                              LG_CMD_CLI_F_READ | LG_CMD_CLI_F_VERIFY | LG_CMD_CLI_F_LEDGER_OPT,
                              0, 0, argc, argv);
    if (rc >= 0) {
        goto out;
    }
    bool tx_mode = c.has_tx || c.digest != NULL;
    bool range_mode = c.from != NULL || c.to != NULL;
    if (tx_mode == range_mode) {
        rc = lg_cmd_cli_usage(&c, "give either --tx ID --digest FILE, or --from FILE --to FILE");
    } else if (tx_mode && (!c.has_tx || c.digest == NULL)) {
        rc = lg_cmd_cli_usage(&c, "--tx ID and --digest FILE go together");
    } else if (range_mode && (c.from == NULL || c.to == NULL)) {
        rc = lg_cmd_cli_usage(&c, "--from FILE and --to FILE go together");
    } else if (range_mode && c.ledger != NULL) {
        rc = lg_cmd_cli_usage(&c, "--ledger goes with --tx only");
    } else {
        rc = tx_mode ? verify_tx(&c) : verify_consistency(&c);
    }
out:
    lg_cmd_cli_close(&c);
    return rc;
}
