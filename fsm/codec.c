/* codec: the canonical, versioned msgpack encodings of command batches and journal
 * records (fsm/cmd.h, version 1), their validation, and the idempotency digest.
 *
 * Encoding goes through msgpack-c's packer (shortest integer, string and container
 * forms) into an lg_buf. Decoding is a small bounded reader over the bytes (lib/mpread.h
 * in its LG_MPREAD_SHORTEST mode): it never recurses on input (the shapes are fixed),
 * bounds every count by the bytes left before allocating, and rejects every form the
 * encoder would not produce, so decode then encode gives back the input bytes. One
 * validator (lib/tx.h for a transaction's parts) serves lg_cmd_check, the encoders and
 * the decoders, so the same value gets the same verdict and message everywhere. */
#include "cmd.h"

#include <msgpack.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../lib/mpread.h"
#include "../lib/name.h"

/* Nesting below a command: cmd map > postings array > posting array > string. The
 * decoder reads fixed shapes, so nesting is bounded by construction; the generic skip
 * used to step over a rejected command keeps no stack at all. */
#define CODEC_COND_VERSION_ITEMS 3u
#define CODEC_COND_MIN_ITEMS 4u
#define CODEC_POSTING_ITEMS 4u
#define CODEC_VOLUME_ITEMS 4u
#define CODEC_AMOUNT_BYTES 16u
/* Volumes of a transaction: each posting touches at most two (account, asset) pairs. */
#define CODEC_VOLUMES_MAX (2u * LG_POSTINGS_MAX)

LG_STATIC_ASSERT(LG_METADATA_ENTRIES_MAX <= 255u, "metadata order fits in uint8_t indexes");
LG_STATIC_ASSERT(LG_BATCH_COMMANDS_MAX <= UINT32_MAX, "command count fits n_cmds");

/* ---------------------------------------------------------------------------------------
 * Validation (shared by check, encode and decode; a transaction's parts: lib/tx.h). The
 * context's prefix is "cmds[i]" inside a batch, "record" for a record body, else "". */

/* Metadata: sorted and unique when canonical (decoding), else any order, unique. */
static int check_meta(const struct lg_tx_ctx *c, const struct lg_kv *kv, uint32_t n,
                      bool canonical)
{
    return lg_tx_check_metadata(c, kv, n, canonical ? LG_TX_META_SORTED : LG_TX_META_ANY,
                                "metadata");
}

/* Validate a submit's content. */
static int check_submit(const struct lg_tx_ctx *c, const struct lg_cmd_submit *s, bool canonical)
{
    int rc = lg_tx_check_name(c, lg_name_check_ledger, s->ledger, "ledger");
    if (rc == LG_OK) {
        rc = lg_tx_check_postings(c, s->postings, s->n_postings);
    }
    if (rc == LG_OK) {
        rc = check_meta(c, s->metadata, s->n_metadata, canonical);
    }
    if (rc == LG_OK) {
        rc = lg_tx_check_reference(c, s->reference);
    }
    if (rc == LG_OK) {
        rc = lg_tx_check_conditions(c, s->conditions, s->n_conditions);
    }
    return rc;
}

/* Validate one command of any kind. */
static int check_cmd(const struct lg_tx_ctx *c, const struct lg_cmd *cmd, bool canonical)
{
    switch (cmd->kind) {
    case LG_CMD_SUBMIT:
        return check_submit(c, &cmd->u.submit, canonical);
    case LG_CMD_SET_METADATA: {
        const struct lg_cmd_set_metadata *m = &cmd->u.set_metadata;
        int rc = lg_tx_check_name(c, lg_name_check_ledger, m->ledger, "ledger");
        if (rc == LG_OK) {
            rc = lg_tx_check_name(c, lg_name_check_address, m->address, "address");
        }
        if (rc == LG_OK && m->n_metadata == 0) {
            rc = lg_tx_fail(c, LG_EBADREQ, "must not be empty", "metadata");
        }
        if (rc == LG_OK) {
            rc = check_meta(c, m->metadata, m->n_metadata, canonical);
        }
        return rc;
    }
    case LG_CMD_SET_LIMIT: {
        const struct lg_cmd_set_limit *l = &cmd->u.set_limit;
        int rc = lg_tx_check_name(c, lg_name_check_ledger, l->ledger, "ledger");
        if (rc == LG_OK) {
            rc = lg_tx_check_name(c, lg_name_check_address, l->address, "address");
        }
        if (rc == LG_OK) {
            rc = lg_tx_check_name(c, lg_name_check_asset, l->asset, "asset");
        }
        return rc;
    }
    default:
        return lg_tx_failf(c, LG_EBADREQ, "k", "unknown command kind %u", cmd->kind);
    }
}

/* Validate volumes: bounds, names, strictly increasing by (account, asset). */
static int check_volumes(const struct lg_tx_ctx *c, const struct lg_volume *v, uint32_t n)
{
    if (n == 0) {
        return lg_tx_fail(c, LG_EBADREQ, "must not be empty", "volumes");
    }
    if (n > CODEC_VOLUMES_MAX) {
        return lg_tx_failf(c, LG_ETOOLARGE, "volumes", "%u entries, at most %u", n,
                           CODEC_VOLUMES_MAX);
    }
    LG_ASSERT(v != NULL);
    for (uint32_t i = 0; i < n; i++) {
        int rc = lg_tx_check_name(c, lg_name_check_address, v[i].account, "volumes[%u].account", i);
        if (rc == LG_OK) {
            rc = lg_tx_check_name(c, lg_name_check_asset, v[i].asset, "volumes[%u].asset", i);
        }
        if (rc != LG_OK) {
            return rc;
        }
        if (i > 0) {
            int order = lg_tx_str_cmp(v[i - 1].account, v[i].account);
            if (order == 0) {
                order = lg_tx_str_cmp(v[i - 1].asset, v[i].asset);
            }
            if (order >= 0) {
                return lg_tx_fail(c, LG_EBADREQ,
                                  "not sorted by account then asset, or duplicate",
                                  "volumes[%u]", i);
            }
        }
    }
    return LG_OK;
}

/* Validate a record body (canonical: metadata must already be sorted). */
static int check_record(const struct lg_tx_ctx *c, const struct lg_record *r, bool canonical)
{
    if (r->seq == 0) {
        return lg_tx_fail(c, LG_EBADREQ, "must be at least 1", "seq");
    }
    if (r->pos >= LG_BATCH_COMMANDS_MAX) {
        return lg_tx_failf(c, LG_EBADREQ, "pos", "%u: at most %u", r->pos,
                           LG_BATCH_COMMANDS_MAX - 1u);
    }
    int rc = lg_tx_check_name(c, lg_name_check_ledger, r->ledger, "ledger");
    if (rc != LG_OK) {
        return rc;
    }
    switch (r->kind) {
    case LG_CMD_SUBMIT:
        rc = lg_tx_check_postings(c, r->postings, r->n_postings);
        if (rc == LG_OK) {
            rc = check_meta(c, r->metadata, r->n_metadata, canonical);
        }
        if (rc == LG_OK) {
            rc = lg_tx_check_reference(c, r->reference);
        }
        if (rc == LG_OK) {
            rc = check_volumes(c, r->volumes, r->n_volumes);
        }
        return rc;
    case LG_CMD_SET_METADATA:
        rc = lg_tx_check_name(c, lg_name_check_address, r->address, "address");
        if (rc == LG_OK && r->n_metadata == 0) {
            rc = lg_tx_fail(c, LG_EBADREQ, "must not be empty", "metadata");
        }
        if (rc == LG_OK) {
            rc = check_meta(c, r->metadata, r->n_metadata, canonical);
        }
        return rc;
    case LG_CMD_SET_LIMIT:
        rc = lg_tx_check_name(c, lg_name_check_address, r->address, "address");
        if (rc == LG_OK) {
            rc = lg_tx_check_name(c, lg_name_check_asset, r->asset, "asset");
        }
        return rc;
    default:
        return lg_tx_failf(c, LG_EBADREQ, "k", "unknown record kind %u", r->kind);
    }
}

/* ---------------------------------------------------------------------------------------
 * Encoding */

/* Packer target: an lg_buf with a sticky out-of-memory flag. */
struct enc_sink {
    struct lg_buf *out;
    bool oom;
};

/* msgpack write callback into an lg_buf. */
static int enc_write(void *data, const char *bytes, size_t n)
{
    struct enc_sink *s = data;
    struct lg_buf *b = s->out;
    /* Fast path: the packer writes 1 to ~30 bytes at a time, mostly into room the buffer
     * already has (it is reset, not freed, between records). */
    if (!s->oom && b->data != NULL && n <= b->cap - b->len) {
        memcpy(b->data + b->len, bytes, n);
        b->len += n;
        return 0;
    }
    if (s->oom || !lg_buf_append(b, bytes, n)) {
        s->oom = true;
        return -1;
    }
    return 0;
}

/* Pack a map key (a literal). */
#define PACK_KEY(pk, lit) pack_bytes((pk), (lit), sizeof(lit) - 1u)

/* A string; short ones (fixstr, the common case: keys, names) in one write. */
static void pack_bytes(msgpack_packer *pk, const char *s, size_t n)
{
    if (n < 32u) {
        char tmp[32];
        tmp[0] = (char)(0xa0u | n);
        if (n > 0) {
            memcpy(tmp + 1, s, n);
        }
        pk->callback(pk->data, tmp, n + 1u);
        return;
    }
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static void pack_str(msgpack_packer *pk, struct lg_str s)
{
    pack_bytes(pk, s.ptr, s.len);
}

/* An amount: uint when it fits in 64 bits, else bin8 of 16 big-endian bytes. */
static void pack_amount(msgpack_packer *pk, lg_u128 v)
{
    if (lg_amount_fits_u64(v)) {
        msgpack_pack_uint64(pk, (uint64_t)v);
        return;
    }
    uint8_t be[CODEC_AMOUNT_BYTES];
    for (unsigned i = 0; i < CODEC_AMOUNT_BYTES; i++) {
        be[CODEC_AMOUNT_BYTES - 1u - i] = (uint8_t)(v >> (8u * i));
    }
    msgpack_pack_bin(pk, CODEC_AMOUNT_BYTES);
    msgpack_pack_bin_body(pk, be, CODEC_AMOUNT_BYTES);
}

static void pack_postings(msgpack_packer *pk, const struct lg_posting *p, uint32_t n)
{
    msgpack_pack_array(pk, n);
    for (uint32_t i = 0; i < n; i++) {
        msgpack_pack_array(pk, CODEC_POSTING_ITEMS);
        pack_str(pk, p[i].source);
        pack_str(pk, p[i].destination);
        pack_amount(pk, p[i].amount);
        pack_str(pk, p[i].asset);
    }
}

/* Metadata sorted by key (validated: keys unique). */
static void pack_metadata(msgpack_packer *pk, const struct lg_kv *kv, uint32_t n)
{
    uint8_t idx[LG_METADATA_ENTRIES_MAX];
    LG_ASSERT(n <= LG_METADATA_ENTRIES_MAX);
    uint32_t dup = lg_tx_metadata_order(kv, n, idx);
    LG_ASSERT(dup == n);
    msgpack_pack_map(pk, n);
    for (uint32_t i = 0; i < n; i++) {
        pack_str(pk, kv[idx[i]].key);
        pack_str(pk, kv[idx[i]].value);
    }
}

static void pack_conditions(msgpack_packer *pk, const struct lg_condition *c, uint32_t n)
{
    msgpack_pack_array(pk, n);
    for (uint32_t i = 0; i < n; i++) {
        if (c[i].kind == LG_COND_VERSION) {
            msgpack_pack_array(pk, CODEC_COND_VERSION_ITEMS);
            msgpack_pack_uint8(pk, c[i].kind);
            pack_str(pk, c[i].account);
            msgpack_pack_uint64(pk, c[i].version);
        } else {
            LG_ASSERT(c[i].kind == LG_COND_MIN_BALANCE);
            msgpack_pack_array(pk, CODEC_COND_MIN_ITEMS);
            msgpack_pack_uint8(pk, c[i].kind);
            pack_str(pk, c[i].account);
            pack_str(pk, c[i].asset);
            pack_amount(pk, c[i].min);
        }
    }
}

/* The submit fields after "k"/"ts" (or alone, for the digest): ledger, postings,
 * metadata?, reference?, conditions?. */
static uint32_t submit_fields(const struct lg_cmd_submit *s)
{
    return 2u + (s->n_metadata > 0) + (s->reference.len > 0) + (s->n_conditions > 0);
}

static void pack_submit_fields(msgpack_packer *pk, const struct lg_cmd_submit *s)
{
    PACK_KEY(pk, "ledger");
    pack_str(pk, s->ledger);
    PACK_KEY(pk, "postings");
    pack_postings(pk, s->postings, s->n_postings);
    if (s->n_metadata > 0) {
        PACK_KEY(pk, "metadata");
        pack_metadata(pk, s->metadata, s->n_metadata);
    }
    if (s->reference.len > 0) {
        PACK_KEY(pk, "reference");
        pack_str(pk, s->reference);
    }
    if (s->n_conditions > 0) {
        PACK_KEY(pk, "conditions");
        pack_conditions(pk, s->conditions, s->n_conditions);
    }
}

/* One validated command. */
static void pack_cmd(msgpack_packer *pk, const struct lg_cmd *cmd)
{
    uint32_t fields = 2u;
    switch (cmd->kind) {
    case LG_CMD_SUBMIT:
        fields += submit_fields(&cmd->u.submit);
        break;
    case LG_CMD_SET_METADATA:
        fields += 3u;
        break;
    case LG_CMD_SET_LIMIT:
        fields += 4u;
        break;
    default:
        LG_UNREACHABLE("command validated before packing");
    }
    msgpack_pack_map(pk, fields);
    PACK_KEY(pk, "k");
    msgpack_pack_uint8(pk, cmd->kind);
    PACK_KEY(pk, "ts");
    msgpack_pack_uint64(pk, cmd->timestamp_us);
    if (cmd->kind == LG_CMD_SUBMIT) {
        pack_submit_fields(pk, &cmd->u.submit);
    } else if (cmd->kind == LG_CMD_SET_METADATA) {
        const struct lg_cmd_set_metadata *m = &cmd->u.set_metadata;
        PACK_KEY(pk, "ledger");
        pack_str(pk, m->ledger);
        PACK_KEY(pk, "address");
        pack_str(pk, m->address);
        PACK_KEY(pk, "metadata");
        pack_metadata(pk, m->metadata, m->n_metadata);
    } else {
        const struct lg_cmd_set_limit *l = &cmd->u.set_limit;
        PACK_KEY(pk, "ledger");
        pack_str(pk, l->ledger);
        PACK_KEY(pk, "address");
        pack_str(pk, l->address);
        PACK_KEY(pk, "asset");
        pack_str(pk, l->asset);
        PACK_KEY(pk, "limit");
        if (l->unlimited) {
            msgpack_pack_nil(pk);
        } else {
            pack_amount(pk, l->limit);
        }
    }
}

static int batch_pack(const struct lg_batch *batch, struct lg_buf *out, char *errmsg);

/* Validate and canonically encode a batch, appended to out. LG_OK; LG_EBADREQ,
 * LG_ETOOLARGE or LG_EOVERFLOW with the field path in errmsg; LG_ENOMEM. On error out->len
 * is as it was. */
int lg_cmd_encode_batch(const struct lg_batch *batch, struct lg_buf *out, char *errmsg)
{
    LG_PRE(batch != NULL);
    LG_PRE(out != NULL);
    LG_PRE(batch->n_cmds == 0 || batch->cmds != NULL);
    char local[LG_ERRMSG_SIZE];
    struct lg_tx_ctx c = {errmsg != NULL ? errmsg : local, ""};
    if (batch->n_cmds > LG_BATCH_COMMANDS_MAX) {
        return lg_tx_failf(&c, LG_ETOOLARGE, "cmds", "%u commands, at most %u", batch->n_cmds,
                           LG_BATCH_COMMANDS_MAX);
    }
    for (uint32_t i = 0; i < batch->n_cmds; i++) {
        lg_tx_ctx_prefix_index(&c, "cmds", i);
        int rc = check_cmd(&c, &batch->cmds[i], false);
        if (rc != LG_OK) {
            return rc;
        }
    }
    return batch_pack(batch, out, c.errmsg);
}

int lg_cmd_encode_batch_valid(const struct lg_batch *batch, struct lg_buf *out, char *errmsg)
{
    LG_PRE(batch != NULL);
    LG_PRE(out != NULL);
    LG_PRE(batch->n_cmds <= LG_BATCH_COMMANDS_MAX);
    LG_PRE(batch->n_cmds == 0 || batch->cmds != NULL);
    char local[LG_ERRMSG_SIZE];
    char *msg = errmsg != NULL ? errmsg : local;
    for (uint32_t i = 0; i < batch->n_cmds; i++) {
        LG_DEBUG_ASSERT(lg_cmd_check(&batch->cmds[i], NULL) == LG_OK);
    }
    return batch_pack(batch, out, msg);
}

/* Encode a batch whose commands are valid, appended to out: LG_OK or LG_ENOMEM (out->len
 * as it was). */
static int batch_pack(const struct lg_batch *batch, struct lg_buf *out, char *errmsg)
{
    size_t len0 = out->len;
    struct enc_sink sink = {out, false};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sink, enc_write);
    msgpack_pack_map(&pk, 2);
    PACK_KEY(&pk, "v");
    msgpack_pack_uint32(&pk, LG_CMD_VERSION);
    PACK_KEY(&pk, "cmds");
    msgpack_pack_array(&pk, batch->n_cmds);
    for (uint32_t i = 0; i < batch->n_cmds; i++) {
        pack_cmd(&pk, &batch->cmds[i]);
    }
    if (sink.oom) {
        out->len = len0;
        return lg_errmsg_printf(errmsg, LG_ENOMEM, "encoding a batch: out of memory");
    }
    return LG_OK;
}

/* Validate one command (shape, names, amounts, limits; never balances). Metadata may be
 * in any order but keys must be unique. LG_OK, LG_EBADREQ, LG_ETOOLARGE. */
int lg_cmd_check(const struct lg_cmd *cmd, char *errmsg)
{
    LG_PRE(cmd != NULL);
    char local[LG_ERRMSG_SIZE];
    struct lg_tx_ctx c = {errmsg != NULL ? errmsg : local, ""};
    return check_cmd(&c, cmd, false);
}

int lg_cmd_check_canonical(const struct lg_cmd *cmd, char *errmsg)
{
    LG_PRE(cmd != NULL);
    char local[LG_ERRMSG_SIZE];
    struct lg_tx_ctx c = {errmsg != NULL ? errmsg : local, ""};
    return check_cmd(&c, cmd, true);
}

static int record_pack(const struct lg_record *rec, struct lg_buf *out, char *errmsg);

/* Validate and encode a record body, appended to out. LG_OK; LG_EINVAL when the record
 * is not well-formed (a programming error upstream; message in errmsg); LG_ENOMEM. */
int lg_record_encode(const struct lg_record *rec, struct lg_buf *out, char *errmsg)
{
    LG_PRE(rec != NULL);
    LG_PRE(out != NULL);
    char local[LG_ERRMSG_SIZE];
    struct lg_tx_ctx c = {errmsg != NULL ? errmsg : local, "record"};
    int rc = check_record(&c, rec, false);
    if (rc != LG_OK) {
        return lg_errmsg_wrap(c.errmsg, LG_EINVAL, "record encode");
    }
    return record_pack(rec, out, c.errmsg);
}

int lg_record_encode_valid(const struct lg_record *rec, struct lg_buf *out, char *errmsg)
{
    LG_PRE(rec != NULL);
    LG_PRE(out != NULL);
    char local[LG_ERRMSG_SIZE];
    char *msg = errmsg != NULL ? errmsg : local;
    LG_DEBUG_ASSERT(check_record(&(struct lg_tx_ctx){msg, "record"}, rec, false) == LG_OK);
    return record_pack(rec, out, msg);
}

/* Encode rec (already validated) appended to out: LG_OK or LG_ENOMEM. */
static int record_pack(const struct lg_record *rec, struct lg_buf *out, char *errmsg)
{
    size_t len0 = out->len;
    struct enc_sink sink = {out, false};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sink, enc_write);
    uint32_t fields = 7u;
    switch (rec->kind) {
    case LG_CMD_SUBMIT:
        fields += 3u + (rec->n_metadata > 0) + (rec->reference.len > 0);
        break;
    case LG_CMD_SET_METADATA:
        fields += 2u;
        break;
    default:
        fields += 3u;
        break;
    }
    msgpack_pack_map(&pk, fields);
    PACK_KEY(&pk, "v");
    msgpack_pack_uint32(&pk, LG_RECORD_VERSION);
    PACK_KEY(&pk, "k");
    msgpack_pack_uint8(&pk, rec->kind);
    PACK_KEY(&pk, "seq");
    msgpack_pack_uint64(&pk, rec->seq);
    PACK_KEY(&pk, "index");
    msgpack_pack_uint64(&pk, rec->raft_index);
    PACK_KEY(&pk, "pos");
    msgpack_pack_uint32(&pk, rec->pos);
    PACK_KEY(&pk, "ts");
    msgpack_pack_uint64(&pk, rec->timestamp_us);
    PACK_KEY(&pk, "ledger");
    pack_str(&pk, rec->ledger);
    if (rec->kind == LG_CMD_SUBMIT) {
        PACK_KEY(&pk, "tx_id");
        msgpack_pack_uint64(&pk, rec->tx_id);
        PACK_KEY(&pk, "postings");
        pack_postings(&pk, rec->postings, rec->n_postings);
        if (rec->n_metadata > 0) {
            PACK_KEY(&pk, "metadata");
            pack_metadata(&pk, rec->metadata, rec->n_metadata);
        }
        if (rec->reference.len > 0) {
            PACK_KEY(&pk, "reference");
            pack_str(&pk, rec->reference);
        }
        PACK_KEY(&pk, "volumes");
        msgpack_pack_array(&pk, rec->n_volumes);
        for (uint32_t i = 0; i < rec->n_volumes; i++) {
            const struct lg_volume *v = &rec->volumes[i];
            msgpack_pack_array(&pk, CODEC_VOLUME_ITEMS);
            pack_str(&pk, v->account);
            pack_str(&pk, v->asset);
            pack_amount(&pk, v->input);
            pack_amount(&pk, v->output);
        }
    } else if (rec->kind == LG_CMD_SET_METADATA) {
        PACK_KEY(&pk, "address");
        pack_str(&pk, rec->address);
        PACK_KEY(&pk, "metadata");
        pack_metadata(&pk, rec->metadata, rec->n_metadata);
    } else {
        PACK_KEY(&pk, "address");
        pack_str(&pk, rec->address);
        PACK_KEY(&pk, "asset");
        pack_str(&pk, rec->asset);
        PACK_KEY(&pk, "limit");
        if (rec->unlimited) {
            msgpack_pack_nil(&pk);
        } else {
            pack_amount(&pk, rec->limit);
        }
    }
    if (sink.oom) {
        out->len = len0;
        return lg_errmsg_printf(errmsg, LG_ENOMEM, "encoding a record: out of memory");
    }
    return LG_OK;
}

/* Packer target streaming into a SHA-256 context through a small staging buffer. */
struct digest_sink {
    EVP_MD_CTX *md;
    bool failed;
    size_t len;
    uint8_t stage[512];
};

static void digest_flush(struct digest_sink *s)
{
    if (s->len > 0 && !s->failed && EVP_DigestUpdate(s->md, s->stage, s->len) != 1) {
        s->failed = true;
    }
    s->len = 0;
}

static int digest_write(void *data, const char *bytes, size_t n)
{
    struct digest_sink *s = data;
    if (n > sizeof s->stage - s->len) {
        digest_flush(s);
        if (n > sizeof s->stage) {
            if (!s->failed && EVP_DigestUpdate(s->md, bytes, n) != 1) {
                s->failed = true;
            }
            return s->failed ? -1 : 0;
        }
    }
    memcpy(s->stage + s->len, bytes, n);
    s->len += n;
    return 0;
}

int lg_cmd_submit_digest_valid(EVP_MD_CTX *ctx, const EVP_MD *md,
                               const struct lg_cmd_submit *submit, uint8_t out[LG_HASH_BYTES])
{
    LG_PRE(ctx != NULL && md != NULL && submit != NULL && out != NULL);
    struct digest_sink sink;
    sink.md = ctx;
    sink.failed = false;
    sink.len = 0;
    if (EVP_DigestInit_ex2(ctx, md, NULL) != 1) {
        return LG_EIO;
    }
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sink, digest_write);
    msgpack_pack_map(&pk, submit_fields(submit));
    pack_submit_fields(&pk, submit);
    digest_flush(&sink);
    unsigned int n = 0;
    if (sink.failed || EVP_DigestFinal_ex(ctx, out, &n) != 1) {
        return LG_EIO;
    }
    LG_POST(n == LG_HASH_BYTES);
    return LG_OK;
}

/* SHA-256 over the canonical map {ledger, postings, metadata?, reference?, conditions?}
 * of a submit (no kind, no timestamp). LG_OK; LG_EBADREQ/LG_ETOOLARGE when the content is
 * invalid (duplicate metadata keys...); LG_ENOMEM/LG_EIO when OpenSSL fails. */
int lg_cmd_submit_digest(const struct lg_cmd_submit *submit, uint8_t out[LG_HASH_BYTES])
{
    LG_PRE(submit != NULL);
    LG_PRE(out != NULL);
    char errmsg[LG_ERRMSG_SIZE];
    struct lg_tx_ctx c = {errmsg, ""};
    int rc = check_submit(&c, submit, false);
    if (rc != LG_OK) {
        return rc;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return LG_ENOMEM;
    }
    rc = lg_cmd_submit_digest_valid(ctx, EVP_sha256(), submit, out);
    EVP_MD_CTX_free(ctx);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * Decoding: a bounded reader that accepts only the canonical forms */

/* The reader is lib/mpread.h's, in its canonical mode. */
enum {
    RD_OVERFLOW = LG_MPREAD_USER, /* amount wider than 128 bits */
};

static int rd_uint(struct lg_mpread *r, uint64_t *v)
{
    return lg_mpread_uint(r, LG_MPREAD_SHORTEST, v);
}

static int rd_str(struct lg_mpread *r, struct lg_str *s)
{
    return lg_mpread_str(r, LG_MPREAD_SHORTEST, &s->ptr, &s->len);
}

static int rd_array(struct lg_mpread *r, uint32_t *n)
{
    return lg_mpread_array(r, LG_MPREAD_SHORTEST, n);
}

static int rd_map(struct lg_mpread *r, uint32_t *n)
{
    return lg_mpread_map(r, LG_MPREAD_SHORTEST, n);
}

/* An amount: uint (shortest) or bin8 of 16 big-endian bytes holding a value >= 2^64. A
 * longer bin with a non-zero high byte is RD_OVERFLOW. */
static int rd_amount(struct lg_mpread *r, lg_u128 *v)
{
    if (r->p == r->end) {
        return LG_MPREAD_TRUNCATED;
    }
    uint8_t b = *r->p;
    if (b != 0xc4 && b != 0xc5 && b != 0xc6) {
        uint64_t x;
        int st = rd_uint(r, &x);
        if (st == LG_MPREAD_OK) {
            *v = x;
        }
        return st;
    }
    const uint8_t *bytes;
    uint32_t n;
    int st = lg_mpread_bin(r, LG_MPREAD_SHORTEST, &bytes, &n);
    if (st != LG_MPREAD_OK) {
        return st;
    }
    if (n > CODEC_AMOUNT_BYTES) {
        for (uint32_t i = 0; i < n - CODEC_AMOUNT_BYTES; i++) {
            if (bytes[i] != 0) {
                return RD_OVERFLOW;
            }
        }
        return LG_MPREAD_NONCANONICAL;
    }
    if (n != CODEC_AMOUNT_BYTES) {
        return LG_MPREAD_NONCANONICAL;
    }
    lg_u128 x = ((lg_u128)lg_mpread_be(bytes, 8) << 64) | lg_mpread_be(bytes + 8, 8);
    if (lg_amount_fits_u64(x)) {
        return LG_MPREAD_NONCANONICAL;
    }
    *v = x;
    return LG_MPREAD_OK;
}

/* Consume the key lit (n bytes) if it is next. */
static bool rd_key_is(struct lg_mpread *r, const char *lit, size_t n)
{
    if (lg_mpread_left(r) < 1u + n || r->p[0] != (uint8_t)(0xa0u | n)) {
        return false;
    }
    if (memcmp(r->p + 1, lit, n) != 0) {
        return false;
    }
    r->p += 1u + n;
    return true;
}

/* Decoder state: reader, arena, message context. */
struct dec {
    struct lg_mpread r;
    struct lg_arena *arena;
    struct lg_tx_ctx c;
};

static const char *rd_reason(int st, const char *want)
{
    switch (st) {
    case LG_MPREAD_TRUNCATED:
        return "truncated";
    case LG_MPREAD_NONCANONICAL:
        return "not in canonical form (shortest encoding)";
    case RD_OVERFLOW:
        return "amount exceeds 128 bits";
    default:
        return want;
    }
}

/* Fail decoding on reader status st at path. */
static int dec_fail_rd(struct dec *d, int st, const char *want, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int dec_fail_rd(struct dec *d, int st, const char *want, const char *fmt, ...)
{
    char field[LG_TX_PATH_BYTES];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(field, sizeof field, fmt, ap);
    va_end(ap);
    int code = st == RD_OVERFLOW ? LG_EOVERFLOW : LG_EBADREQ;
    return lg_tx_fail(&d->c, code, rd_reason(st, want), "%s", field);
}

/* Read helpers that return from the calling function with a message on failure. */
#define D_READ(d, call, want, ...)                                            \
    do {                                                                      \
        int st_ = (call);                                                     \
        if (st_ != LG_MPREAD_OK) {                                                   \
            return dec_fail_rd((d), st_, (want), __VA_ARGS__);                \
        }                                                                     \
    } while (0)
#define D_UINT(d, out, ...) D_READ(d, rd_uint(&(d)->r, (out)), "must be an unsigned integer", \
                                   __VA_ARGS__)
#define D_STR(d, out, ...) D_READ(d, rd_str(&(d)->r, (out)), "must be a string", __VA_ARGS__)
#define D_ARRAY(d, out, ...) D_READ(d, rd_array(&(d)->r, (out)), "must be an array", \
                                    __VA_ARGS__)
#define D_MAP(d, out, ...) D_READ(d, rd_map(&(d)->r, (out)), "must be a map", __VA_ARGS__)
#define D_AMOUNT(d, out, ...) D_READ(d, rd_amount(&(d)->r, (out)), \
                                     "must be an unsigned integer or bin 16", __VA_ARGS__)

/* Keys of a map read in the spec's order: `left` entries remain. */
struct dec_map {
    uint32_t left;
};

/* Require key lit next. */
static int dec_key(struct dec *d, struct dec_map *m, const char *lit, size_t n)
{
    if (m->left == 0) {
        return lg_tx_failf(&d->c, LG_EBADREQ, "", "missing key \"%s\"", lit);
    }
    if (!rd_key_is(&d->r, lit, n)) {
        return lg_tx_failf(&d->c, LG_EBADREQ, "", "expected key \"%s\" (keys in canonical order)",
                           lit);
    }
    m->left--;
    return LG_OK;
}

/* Consume optional key lit if it is next. */
static bool dec_opt_key(struct dec *d, struct dec_map *m, const char *lit, size_t n)
{
    if (m->left == 0 || !rd_key_is(&d->r, lit, n)) {
        return false;
    }
    m->left--;
    return true;
}

/* After the last known key: any entry left is unknown or out of order. */
static int dec_map_end(struct dec *d, const struct dec_map *m)
{
    if (m->left == 0) {
        return LG_OK;
    }
    struct lg_str k = {NULL, 0};
    if (rd_str(&d->r, &k) != LG_MPREAD_OK) {
        return lg_tx_failf(&d->c, LG_EBADREQ, "", "map key must be a string");
    }
    return lg_tx_failf(&d->c, LG_EBADREQ, "", "unknown or out-of-order key \"%.*s\"",
                       (int)(k.len > 64 ? 64 : k.len), k.ptr);
}

#define D_KEY(d, m, lit)                                                      \
    do {                                                                      \
        int rc_ = dec_key((d), (m), (lit), sizeof(lit) - 1u);                 \
        if (rc_ != LG_OK) {                                                   \
            return rc_;                                                       \
        }                                                                     \
    } while (0)
#define D_OPT_KEY(d, m, lit) dec_opt_key((d), (m), (lit), sizeof(lit) - 1u)
#define D_TRY(expr)                                                           \
    do {                                                                      \
        int rc_ = (expr);                                                     \
        if (rc_ != LG_OK) {                                                   \
            return rc_;                                                       \
        }                                                                     \
    } while (0)

/* Allocate n items of size from the arena (NULL for n == 0). */
static int dec_alloc(struct dec *d, size_t n, size_t size, void **out)
{
    void *mem = NULL;
    if (n != 0) {
        mem = lg_arena_alloc(d->arena, n * size);
        if (mem == NULL) {
            return lg_errmsg_printf(d->c.errmsg, LG_ENOMEM, "decode: arena exhausted");
        }
    }
    *out = mem;
    return LG_OK;
}

/* A count for an array of at most max items that each take at least min_bytes. */
static int dec_count(struct dec *d, uint32_t n, uint32_t max, size_t min_bytes,
                     const char *field)
{
    if (n > max) {
        return lg_tx_failf(&d->c, LG_ETOOLARGE, field, "%u items, at most %u", n, max);
    }
    if ((uint64_t)n * min_bytes > lg_mpread_left(&d->r)) {
        return lg_tx_fail(&d->c, LG_EBADREQ, "truncated", "%s", field);
    }
    return LG_OK;
}

static int dec_postings(struct dec *d, const struct lg_posting **out, uint32_t *n_out)
{
    uint32_t n;
    D_ARRAY(d, &n, "postings");
    D_TRY(dec_count(d, n, LG_POSTINGS_MAX, 1u + CODEC_POSTING_ITEMS, "postings"));
    struct lg_posting *p;
    void *p_mem = NULL;
    D_TRY(dec_alloc(d, n, sizeof *p, &p_mem));
    p = p_mem;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t items;
        D_ARRAY(d, &items, "postings[%u]", i);
        if (items != CODEC_POSTING_ITEMS) {
            return lg_tx_failf(&d->c, LG_EBADREQ, "postings",
                               "item %u has %u elements, want [source, destination, amount, "
                               "asset]",
                               i, items);
        }
        D_STR(d, &p[i].source, "postings[%u].source", i);
        D_STR(d, &p[i].destination, "postings[%u].destination", i);
        D_AMOUNT(d, &p[i].amount, "postings[%u].amount", i);
        D_STR(d, &p[i].asset, "postings[%u].asset", i);
    }
    *out = p;
    *n_out = n;
    return LG_OK;
}

/* Metadata map (may be empty here; callers decide whether empty is allowed). */
static int dec_metadata(struct dec *d, const struct lg_kv **out, uint32_t *n_out)
{
    uint32_t n;
    D_MAP(d, &n, "metadata");
    D_TRY(dec_count(d, n, LG_METADATA_ENTRIES_MAX, 2u, "metadata"));
    struct lg_kv *kv;
    void *kv_mem = NULL;
    D_TRY(dec_alloc(d, n, sizeof *kv, &kv_mem));
    kv = kv_mem;
    for (uint32_t i = 0; i < n; i++) {
        D_STR(d, &kv[i].key, "metadata[%u] key", i);
        D_STR(d, &kv[i].value, "metadata[%u] value", i);
    }
    *out = kv;
    *n_out = n;
    return LG_OK;
}

static int dec_conditions(struct dec *d, const struct lg_condition **out, uint32_t *n_out)
{
    uint32_t n;
    D_ARRAY(d, &n, "conditions");
    D_TRY(dec_count(d, n, LG_CONDITIONS_MAX, 1u + CODEC_COND_VERSION_ITEMS, "conditions"));
    struct lg_condition *c;
    void *c_mem = NULL;
    D_TRY(dec_alloc(d, n, sizeof *c, &c_mem));
    c = c_mem;
    for (uint32_t i = 0; i < n; i++) {
        memset(&c[i], 0, sizeof c[i]);
        uint32_t items;
        D_ARRAY(d, &items, "conditions[%u]", i);
        uint64_t kind;
        if (items == 0) {
            return lg_tx_fail(&d->c, LG_EBADREQ, "must not be empty", "conditions[%u]", i);
        }
        D_UINT(d, &kind, "conditions[%u].kind", i);
        if (kind == LG_COND_VERSION && items == CODEC_COND_VERSION_ITEMS) {
            D_STR(d, &c[i].account, "conditions[%u].account", i);
            D_UINT(d, &c[i].version, "conditions[%u].version", i);
        } else if (kind == LG_COND_MIN_BALANCE && items == CODEC_COND_MIN_ITEMS) {
            D_STR(d, &c[i].account, "conditions[%u].account", i);
            D_STR(d, &c[i].asset, "conditions[%u].asset", i);
            D_AMOUNT(d, &c[i].min, "conditions[%u].min", i);
        } else {
            return lg_tx_fail(&d->c, LG_EBADREQ,
                              "want [1, account, version] or [2, account, asset, min]",
                              "conditions[%u]", i);
        }
        c[i].kind = (uint8_t)kind;
    }
    *out = c;
    *n_out = n;
    return LG_OK;
}

/* An optional amount or nil (nil = unlimited). */
static int dec_limit(struct dec *d, lg_u128 *limit, bool *unlimited)
{
    if (d->r.p < d->r.end && *d->r.p == 0xc0) {
        d->r.p++;
        *limit = 0;
        *unlimited = true;
        return LG_OK;
    }
    D_AMOUNT(d, limit, "limit");
    *unlimited = false;
    return LG_OK;
}

/* Submit fields after "k" and "ts"; optional ones present only when non-empty. */
static int dec_submit(struct dec *d, struct dec_map *m, struct lg_cmd_submit *s)
{
    D_KEY(d, m, "ledger");
    D_STR(d, &s->ledger, "ledger");
    D_KEY(d, m, "postings");
    D_TRY(dec_postings(d, &s->postings, &s->n_postings));
    if (D_OPT_KEY(d, m, "metadata")) {
        D_TRY(dec_metadata(d, &s->metadata, &s->n_metadata));
        if (s->n_metadata == 0) {
            return lg_tx_fail(&d->c, LG_EBADREQ, "empty map must be omitted (canonical form)",
                              "metadata");
        }
    }
    if (D_OPT_KEY(d, m, "reference")) {
        D_STR(d, &s->reference, "reference");
        if (s->reference.len == 0) {
            return lg_tx_fail(&d->c, LG_EBADREQ, "must not be empty (omit it instead)",
                              "reference");
        }
    }
    if (D_OPT_KEY(d, m, "conditions")) {
        D_TRY(dec_conditions(d, &s->conditions, &s->n_conditions));
        if (s->n_conditions == 0) {
            return lg_tx_fail(&d->c, LG_EBADREQ, "empty array must be omitted (canonical form)",
                              "conditions");
        }
    }
    return LG_OK;
}

/* One command map into cmd (zeroed first). */
static int dec_cmd(struct dec *d, struct lg_cmd *cmd)
{
    memset(cmd, 0, sizeof *cmd);
    struct dec_map m;
    D_MAP(d, &m.left, "%s", "");
    uint64_t kind;
    D_KEY(d, &m, "k");
    D_UINT(d, &kind, "k");
    if (kind < LG_CMD_SUBMIT || kind > LG_CMD_SET_LIMIT) {
        return lg_tx_failf(&d->c, LG_EBADREQ, "k", "unknown command kind %llu",
                           (unsigned long long)kind);
    }
    D_KEY(d, &m, "ts");
    D_UINT(d, &cmd->timestamp_us, "ts");
    cmd->kind = (uint8_t)kind;
    if (kind == LG_CMD_SUBMIT) {
        D_TRY(dec_submit(d, &m, &cmd->u.submit));
    } else if (kind == LG_CMD_SET_METADATA) {
        struct lg_cmd_set_metadata *s = &cmd->u.set_metadata;
        D_KEY(d, &m, "ledger");
        D_STR(d, &s->ledger, "ledger");
        D_KEY(d, &m, "address");
        D_STR(d, &s->address, "address");
        D_KEY(d, &m, "metadata");
        D_TRY(dec_metadata(d, &s->metadata, &s->n_metadata));
    } else {
        struct lg_cmd_set_limit *s = &cmd->u.set_limit;
        D_KEY(d, &m, "ledger");
        D_STR(d, &s->ledger, "ledger");
        D_KEY(d, &m, "address");
        D_STR(d, &s->address, "address");
        D_KEY(d, &m, "asset");
        D_STR(d, &s->asset, "asset");
        D_KEY(d, &m, "limit");
        D_TRY(dec_limit(d, &s->limit, &s->unlimited));
    }
    D_TRY(dec_map_end(d, &m));
    return check_cmd(&d->c, cmd, true);
}

/* Decode a batch; see cmd.h. Envelope errors fail the whole decode; a bad command inside
 * a sound envelope gets kind 0 and its own code and message. */
int lg_cmd_decode_batch(const void *buf, size_t len, struct lg_arena *arena,
                        struct lg_batch *out, int *cmd_codes, char (*cmd_errors)[LG_ERRMSG_SIZE],
                        char *errmsg)
{
    LG_PRE(buf != NULL || len == 0);
    LG_PRE(arena != NULL);
    LG_PRE(out != NULL);
    char local[LG_ERRMSG_SIZE];
    struct dec d = {
        .r = {buf, (const uint8_t *)buf + len},
        .arena = arena,
        .c = {errmsg != NULL ? errmsg : local, ""},
    };
    out->cmds = NULL;
    out->n_cmds = 0;
    struct dec_map m;
    D_MAP(&d, &m.left, "batch");
    D_KEY(&d, &m, "v");
    uint64_t version;
    D_UINT(&d, &version, "v");
    if (version != LG_CMD_VERSION) {
        return lg_tx_failf(&d.c, LG_EBADREQ, "v", "unsupported batch version %llu (want %u)",
                           (unsigned long long)version, LG_CMD_VERSION);
    }
    D_KEY(&d, &m, "cmds");
    uint32_t n;
    D_ARRAY(&d, &n, "cmds");
    if (n > LG_BATCH_COMMANDS_MAX) {
        return lg_tx_failf(&d.c, LG_ETOOLARGE, "cmds", "%u commands, at most %u", n,
                           LG_BATCH_COMMANDS_MAX);
    }
    D_TRY(dec_count(&d, n, LG_BATCH_COMMANDS_MAX, 1u, "cmds"));
    D_TRY(dec_map_end(&d, &m));
    struct lg_cmd *cmds;
    void *cmds_mem = NULL;
    D_TRY(dec_alloc(&d, n, sizeof *cmds, &cmds_mem));
    cmds = cmds_mem;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *start = d.r.p;
        char cmd_msg[LG_ERRMSG_SIZE];
        struct dec cd = d;
        cd.c.errmsg = cmd_errors != NULL ? cmd_errors[i] : cmd_msg;
        lg_tx_ctx_prefix_index(&cd.c, "cmds", i);
        int rc = dec_cmd(&cd, &cmds[i]);
        if (cmd_codes != NULL) {
            cmd_codes[i] = rc;
        }
        if (rc == LG_OK) {
            d.r = cd.r;
            if (cmd_errors != NULL) {
                cmd_errors[i][0] = '\0';
            }
            continue;
        }
        if (rc == LG_ENOMEM) {
            return lg_errmsg_printf(d.c.errmsg, LG_ENOMEM, "%s", cd.c.errmsg);
        }
        /* Step over the rejected command; bytes that are not msgpack break the envelope. */
        memset(&cmds[i], 0, sizeof cmds[i]);
        d.r.p = start;
        if (lg_mpread_skip_any(&d.r) != LG_MPREAD_OK) {
            return lg_errmsg_printf(d.c.errmsg, LG_EBADREQ, "cmds[%u]: malformed msgpack (%s)",
                                    i, cd.c.errmsg);
        }
    }
    if (d.r.p != d.r.end) {
        return lg_errmsg_printf(d.c.errmsg, LG_EBADREQ, "%zu trailing bytes after the batch",
                                lg_mpread_left(&d.r));
    }
    out->cmds = cmds;
    out->n_cmds = n;
    return LG_OK;
}

/* The fields of a record after the common ones. */
static int dec_record_body(struct dec *d, struct dec_map *m, struct lg_record *rec)
{
    if (rec->kind == LG_CMD_SUBMIT) {
        D_KEY(d, m, "tx_id");
        D_UINT(d, &rec->tx_id, "tx_id");
        D_KEY(d, m, "postings");
        D_TRY(dec_postings(d, &rec->postings, &rec->n_postings));
        if (D_OPT_KEY(d, m, "metadata")) {
            D_TRY(dec_metadata(d, &rec->metadata, &rec->n_metadata));
            if (rec->n_metadata == 0) {
                return lg_tx_fail(&d->c, LG_EBADREQ, "empty map must be omitted", "metadata");
            }
        }
        if (D_OPT_KEY(d, m, "reference")) {
            D_STR(d, &rec->reference, "reference");
            if (rec->reference.len == 0) {
                return lg_tx_fail(&d->c, LG_EBADREQ, "must not be empty", "reference");
            }
        }
        D_KEY(d, m, "volumes");
        uint32_t n;
        D_ARRAY(d, &n, "volumes");
        D_TRY(dec_count(d, n, CODEC_VOLUMES_MAX, 1u + CODEC_VOLUME_ITEMS, "volumes"));
        struct lg_volume *v;
        void *v_mem = NULL;
        D_TRY(dec_alloc(d, n, sizeof *v, &v_mem));
        v = v_mem;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t items;
            D_ARRAY(d, &items, "volumes[%u]", i);
            if (items != CODEC_VOLUME_ITEMS) {
                return lg_tx_fail(&d->c, LG_EBADREQ, "want [account, asset, input, output]",
                                  "volumes[%u]", i);
            }
            D_STR(d, &v[i].account, "volumes[%u].account", i);
            D_STR(d, &v[i].asset, "volumes[%u].asset", i);
            D_AMOUNT(d, &v[i].input, "volumes[%u].input", i);
            D_AMOUNT(d, &v[i].output, "volumes[%u].output", i);
        }
        rec->volumes = v;
        rec->n_volumes = n;
    } else if (rec->kind == LG_CMD_SET_METADATA) {
        D_KEY(d, m, "address");
        D_STR(d, &rec->address, "address");
        D_KEY(d, m, "metadata");
        D_TRY(dec_metadata(d, &rec->metadata, &rec->n_metadata));
    } else {
        D_KEY(d, m, "address");
        D_STR(d, &rec->address, "address");
        D_KEY(d, m, "asset");
        D_STR(d, &rec->asset, "asset");
        D_KEY(d, m, "limit");
        D_TRY(dec_limit(d, &rec->limit, &rec->unlimited));
    }
    return LG_OK;
}

/* Decode and validate the record into rec. */
static int dec_record(struct dec *d, struct lg_record *rec)
{
    struct dec_map m;
    D_MAP(d, &m.left, "%s", "");
    uint64_t version;
    uint64_t kind;
    D_KEY(d, &m, "v");
    D_UINT(d, &version, "v");
    if (version != LG_RECORD_VERSION) {
        return lg_tx_failf(&d->c, LG_EBADREQ, "v", "unsupported record version %llu",
                           (unsigned long long)version);
    }
    D_KEY(d, &m, "k");
    D_UINT(d, &kind, "k");
    if (kind < LG_CMD_SUBMIT || kind > LG_CMD_SET_LIMIT) {
        return lg_tx_failf(&d->c, LG_EBADREQ, "k", "unknown record kind %llu",
                           (unsigned long long)kind);
    }
    rec->kind = (uint8_t)kind;
    D_KEY(d, &m, "seq");
    D_UINT(d, &rec->seq, "seq");
    D_KEY(d, &m, "index");
    D_UINT(d, &rec->raft_index, "index");
    uint64_t pos;
    D_KEY(d, &m, "pos");
    D_UINT(d, &pos, "pos");
    if (pos >= LG_BATCH_COMMANDS_MAX) {
        return lg_tx_failf(&d->c, LG_EBADREQ, "pos", "%llu: at most %u", (unsigned long long)pos,
                           LG_BATCH_COMMANDS_MAX - 1u);
    }
    rec->pos = (uint32_t)pos;
    D_KEY(d, &m, "ts");
    D_UINT(d, &rec->timestamp_us, "ts");
    D_KEY(d, &m, "ledger");
    D_STR(d, &rec->ledger, "ledger");
    D_TRY(dec_record_body(d, &m, rec));
    D_TRY(dec_map_end(d, &m));
    if (d->r.p != d->r.end) {
        return lg_errmsg_printf(d->c.errmsg, LG_EBADREQ, "record: %zu trailing bytes",
                                lg_mpread_left(&d->r));
    }
    return check_record(&d->c, rec, true);
}

/* Decode a record body from disk. LG_OK; LG_ECORRUPT (message names the field) for any
 * invalid byte; LG_ENOMEM when the arena is exhausted. */
int lg_record_decode(const void *buf, size_t len, struct lg_arena *arena,
                     struct lg_record *out, char *errmsg)
{
    LG_PRE(buf != NULL || len == 0);
    LG_PRE(arena != NULL);
    LG_PRE(out != NULL);
    char local[LG_ERRMSG_SIZE];
    struct dec d = {
        .r = {buf, (const uint8_t *)buf + len},
        .arena = arena,
        .c = {errmsg != NULL ? errmsg : local, "record"},
    };
    memset(out, 0, sizeof *out);
    int rc = dec_record(&d, out);
    if (rc == LG_OK || rc == LG_ENOMEM) {
        return rc;
    }
    memset(out, 0, sizeof *out);
    char why[LG_ERRMSG_SIZE];
    memcpy(why, d.c.errmsg, sizeof why);
    return lg_errmsg_printf(d.c.errmsg, LG_ECORRUPT, "%s", why);
}
