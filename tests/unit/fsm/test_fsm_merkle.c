/* test_fsm_merkle: the state machine keeps the Merkle tree of its journal (fsm.h,
 * lg_fsm_merkle; lib/merkle.h).
 *
 * Goal: after apply, restart, a crash, a lost or damaged tree file, a journal whose torn tail
 * recovery cut, and a snapshot install followed by the journal catch-up, the FSM's tree has
 * exactly one leaf per journal record and its root and proofs are RFC 9162's over the
 * records' bodies; during a journal gap the hook answers LG_EUNAVAIL.
 *
 * Method: transactions applied through lg_fsm_apply_batch; the expected root is computed in
 * this file by a naive recursive MTH over the bodies read back from the journal, and every
 * proof is checked with lib/proofcheck; files are removed, damaged and cut with lgt_. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "fsm.h"
#include "lgt.h"
#include "merkle.h"
#include "proofcheck.h"

#define H 32u
#define PATH_BYTES (LGT_PATH_MAX + 64)

struct fx {
    char dir[LGT_PATH_MAX];
    char jdir[PATH_BYTES];
    char sdir[PATH_BYTES];
    char tree[PATH_BYTES + 16];
    struct lg_fsm *f;
    uint64_t index;
    uint64_t ts;
};

static void fx_open(struct fx *x)
{
    struct lg_fsm_options o;
    memset(&o, 0, sizeof o);
    o.journal_dir = x->jdir;
    o.state_dir = x->sdir;
    o.create = true;
    o.journal.segment_bytes_max = 16u * 1024u;
    char err[LG_ERRMSG_SIZE];
    int rc = lg_fsm_open(&x->f, &o, err);
    cr_assert_eq(rc, LG_OK, "open: %s: %s", lg_err_name(rc), err);
    x->index = lg_fsm_applied_index(x->f);
    x->ts = lg_fsm_last_timestamp(x->f);
}

static void fx_init(struct fx *x)
{
    memset(x, 0, sizeof *x);
    lgt_tmpdir(x->dir);
    snprintf(x->jdir, sizeof x->jdir, "%s/journal", x->dir);
    snprintf(x->sdir, sizeof x->sdir, "%s/state", x->dir);
    snprintf(x->tree, sizeof x->tree, "%s/%s", x->jdir, LG_MERKLE_FILE);
    fx_open(x);
}

static void fx_fini(struct fx *x)
{
    if (x->f != NULL) {
        cr_assert_eq(lg_fsm_close(x->f), LG_OK);
    }
    lgt_rmtree(x->dir);
}

/* n transfers world -> users:i:main, `per` commands per entry. */
static void fx_apply(struct fx *x, uint32_t n, uint32_t per)
{
    char addr[64][32];
    struct lg_posting p[64];
    struct lg_cmd c[64];
    cr_assert_leq(per, 64);
    for (uint32_t done = 0; done < n;) {
        uint32_t k = n - done < per ? n - done : per;
        for (uint32_t i = 0; i < k; i++) {
            snprintf(addr[i], sizeof addr[i], "users:%u:main", (done + i) % 50u);
            p[i] = (struct lg_posting){{"world", 5}, {addr[i], (uint32_t)strlen(addr[i])},
                                       (lg_u128)(done + i + 1u), {"USD/2", 5}};
            memset(&c[i], 0, sizeof c[i]);
            c[i].kind = LG_CMD_SUBMIT;
            c[i].timestamp_us = ++x->ts;
            c[i].u.submit.ledger = (struct lg_str){"main", 4};
            c[i].u.submit.postings = &p[i];
            c[i].u.submit.n_postings = 1;
        }
        struct lg_batch b = {c, k};
        const struct lg_cmd_result *res;
        uint32_t nres;
        cr_assert_eq(lg_fsm_apply_batch(x->f, ++x->index, &b, &res, &nres), LG_OK);
        for (uint32_t i = 0; i < nres; i++) {
            cr_assert_eq(res[i].code, LG_OK);
        }
        done += k;
    }
}

/* ---- the naive reference over the journal's bodies ---- */

struct leaves {
    uint8_t (*h)[H];
    uint64_t n;
};

static void leaves_read(struct lg_journal *j, struct leaves *l)
{
    l->n = lg_journal_last_seq(j);
    l->h = calloc(l->n + 1u, H);
    cr_assert_not_null(l->h);
    for (uint64_t s = 1; s <= l->n; s++) {
        struct lg_journal_record r;
        cr_assert_eq(lg_journal_read(j, s, &r), LG_OK);
        lg_proofcheck_leaf_hash(r.body, r.body_len, l->h[s - 1u]);
    }
}

static void mth(const struct leaves *l, uint64_t lo, uint64_t hi, uint8_t out[H])
{
    if (hi == lo) {
        lg_proofcheck_empty_root(out);
        return;
    }
    if (hi - lo == 1) {
        memcpy(out, l->h[lo], H);
        return;
    }
    uint64_t k = 1;
    while (2u * k < hi - lo) {
        k *= 2u;
    }
    uint8_t buf[1 + 2 * H];
    buf[0] = 1;
    mth(l, lo, lo + k, buf + 1);
    mth(l, lo + k, hi, buf + 1 + H);
    unsigned int olen = 0;
    cr_assert(EVP_Digest(buf, sizeof buf, out, &olen, EVP_sha256(), NULL) == 1);
}

/* The FSM's tree is the records' tree: size, root at every 7th size, a proof per record. */
static void assert_tree(struct fx *x)
{
    struct lg_merkle *t = NULL;
    cr_assert_eq(lg_fsm_merkle(x->f, &t), LG_OK);
    cr_assert_not_null(t);
    struct leaves l;
    leaves_read(lg_fsm_journal(x->f), &l);
    cr_assert_eq(lg_merkle_size(t), l.n);
    cr_assert_eq(l.n, lg_fsm_last_seq(x->f));
    uint8_t root[H], want[H];
    for (uint64_t m = 0; m <= l.n; m += (m < l.n && m + 7u > l.n) ? l.n - m : 7u) {
        cr_assert_eq(lg_merkle_root(t, m, root), LG_OK);
        mth(&l, 0, m, want);
        cr_assert(memcmp(root, want, H) == 0, "root at size %llu", (unsigned long long)m);
        if (m == l.n) {
            break;
        }
    }
    cr_assert_eq(lg_merkle_root(t, l.n, root), LG_OK);
    uint8_t path[LG_MERKLE_PROOF_MAX][H];
    for (uint64_t i = 0; i < l.n; i++) {
        size_t len = 0;
        cr_assert_eq(lg_merkle_inclusion(t, i, l.n, path, LG_MERKLE_PROOF_MAX, &len), LG_OK);
        cr_assert_eq(lg_proofcheck_inclusion(i, l.n, l.h[i], path[0], len, root), LG_OK,
                     "seq %llu", (unsigned long long)(i + 1u));
    }
    free(l.h);
}

/* The tree file header's count of durable hashes (lib/merkle.c: bytes 8..15). */
static uint64_t durable_of(struct fx *x)
{
    size_t len = 0;
    uint8_t *b = lgt_read_file(x->tree, &len);
    cr_assert(b != NULL && len >= 64);
    uint64_t v = 0;
    for (unsigned i = 0; i < 8; i++) {
        v |= (uint64_t)b[8 + i] << (8u * i);
    }
    free(b);
    return v;
}

static uint64_t nodes_of(uint64_t n)
{
    return n - (uint64_t)__builtin_popcountll(n);
}

static void root_of(struct fx *x, uint8_t out[H])
{
    struct lg_merkle *t = NULL;
    cr_assert_eq(lg_fsm_merkle(x->f, &t), LG_OK);
    cr_assert_eq(lg_merkle_root(t, lg_merkle_size(t), out), LG_OK);
}

TestSuite(fsm_merkle, .timeout = 120);

Test(fsm_merkle, apply_adds_one_leaf_per_record)
{
    struct fx x;
    fx_init(&x);
    assert_tree(&x);
    fx_apply(&x, 1, 1);
    assert_tree(&x);
    fx_apply(&x, 250, 7);
    assert_tree(&x);
    fx_fini(&x);
}

Test(fsm_merkle, restart_keeps_the_root)
{
    struct fx x;
    fx_init(&x);
    fx_apply(&x, 300, 10);
    uint8_t a[H], b[H];
    /* a snapshot syncs the tree after the journal: the header says so */
    struct lg_buf snap;
    lg_buf_init(&snap);
    cr_assert_eq(lg_fsm_snapshot(x.f, &snap), LG_OK);
    lg_buf_close(&snap);
    cr_assert_eq(durable_of(&x), nodes_of(300));
    fx_apply(&x, 20, 3);
    cr_assert_eq(durable_of(&x), nodes_of(300));
    root_of(&x, a);
    cr_assert_eq(lg_fsm_close(x.f), LG_OK);
    cr_assert_eq(durable_of(&x), nodes_of(320), "close syncs the tree");
    uint64_t size = lgt_file_size(x.tree);
    cr_assert_eq(size, 64u + 32u * nodes_of(320));
    fx_open(&x);
    root_of(&x, b);
    cr_assert(memcmp(a, b, H) == 0);
    fx_apply(&x, 33, 4);
    assert_tree(&x);
    fx_fini(&x);
}

Test(fsm_merkle, crash_without_sync_is_reconciled)
{
    struct fx x;
    fx_init(&x);
    fx_apply(&x, 200, 9);
    cr_assert_eq(lg_fsm_close(x.f), LG_OK);
    fx_open(&x);
    fx_apply(&x, 150, 11);
    lg_fsm_abandon(x.f); /* buffers lost: journal and tree both short of the state */
    fx_open(&x);
    assert_tree(&x);
    fx_fini(&x);
}

Test(fsm_merkle, lost_or_damaged_tree_is_rebuilt)
{
    struct fx x;
    fx_init(&x);
    fx_apply(&x, 200, 9);
    uint8_t a[H], b[H];
    root_of(&x, a);
    cr_assert_eq(lg_fsm_close(x.f), LG_OK);
    cr_assert_eq(unlink(x.tree), 0);
    fx_open(&x);
    root_of(&x, b);
    cr_assert(memcmp(a, b, H) == 0);
    assert_tree(&x);
    cr_assert_eq(lg_fsm_close(x.f), LG_OK);
    lgt_truncate(x.tree, 64 + 32 * 50 + 3);
    fx_open(&x);
    assert_tree(&x);
    cr_assert_eq(lg_fsm_close(x.f), LG_OK);
    lgt_flip_bit(x.tree, 2, 1); /* header */
    fx_open(&x);
    assert_tree(&x);
    fx_fini(&x);
}

Test(fsm_merkle, journal_recovery_cut_truncates_the_tree)
{
    struct fx x;
    fx_init(&x);
    fx_apply(&x, 120, 6);
    /* everything durable, no checkpoint (which would cover the records about to be cut) */
    struct lg_merkle *t = NULL;
    cr_assert_eq(lg_fsm_merkle(x.f, &t), LG_OK);
    cr_assert_eq(lg_journal_sync(lg_fsm_journal(x.f)), LG_OK);
    cr_assert_eq(lg_merkle_sync(t), LG_OK);
    uint64_t before = lg_merkle_size(t);
    lg_fsm_abandon(x.f);
    /* tear the last record of the open segment */
    char seg[PATH_BYTES + 64];
    char cmd[3 * PATH_BYTES];
    snprintf(cmd, sizeof cmd, "ls %s/seg-*.log | tail -1 > %s/last", x.jdir, x.dir);
    cr_assert_eq(system(cmd), 0);
    snprintf(seg, sizeof seg, "%s/last", x.dir);
    size_t len = 0;
    char *name = (char *)lgt_read_file(seg, &len);
    cr_assert(name != NULL && len > 1);
    name[len - 1] = '\0';
    uint64_t sz = lgt_file_size(name);
    lgt_truncate(name, sz - 10u);
    free(name);
    fx_open(&x);
    cr_assert_eq(lg_merkle_size((lg_fsm_merkle(x.f, &t), t)), before - 1u);
    cr_assert_eq(lgt_file_size(x.tree),
                 64u + 32u * ((before - 1u) - (uint64_t)__builtin_popcountll(before - 1u)));
    assert_tree(&x);
    fx_apply(&x, 5, 2); /* raft re-applies: the tree follows the new records */
    assert_tree(&x);
    fx_fini(&x);
}

Test(fsm_merkle, journal_gap_makes_the_tree_unavailable_until_filled)
{
    struct fx a;
    struct fx b;
    fx_init(&a);
    fx_init(&b);
    fx_apply(&a, 180, 12);
    uint8_t ra[H], rb[H];
    root_of(&a, ra);
    struct lg_buf snap;
    lg_buf_init(&snap);
    cr_assert_eq(lg_fsm_snapshot(a.f, &snap), LG_OK);
    cr_assert_eq(lg_fsm_restore(b.f, snap.data, snap.len), LG_OK);
    lg_buf_close(&snap);
    struct lg_merkle *t = NULL;
    cr_assert_eq(lg_fsm_merkle(b.f, &t), LG_EUNAVAIL);
    cr_assert_not_null(t);
    cr_assert_eq(lg_merkle_size(t), 0);
    struct lg_journal *ja = lg_fsm_journal(a.f);
    for (uint64_t seq = 1; seq <= lg_fsm_last_seq(a.f); seq++) {
        struct lg_journal_record jr;
        cr_assert_eq(lg_journal_read(ja, seq, &jr), LG_OK);
        cr_assert_eq(lg_fsm_gap_append(b.f, jr.body, jr.body_len), LG_OK);
        int rc = lg_fsm_merkle(b.f, &t);
        cr_assert_eq(lg_merkle_size(t), seq);
        cr_assert_eq(rc, seq == lg_fsm_last_seq(a.f) ? LG_OK : LG_EUNAVAIL);
    }
    root_of(&b, rb);
    cr_assert(memcmp(ra, rb, H) == 0, "replicas report identical roots");
    assert_tree(&b);
    fx_fini(&a);
    fx_fini(&b);
}

Test(fsm_merkle, two_fsms_same_entries_same_tree_files)
{
    struct fx a;
    struct fx b;
    fx_init(&a);
    fx_init(&b);
    fx_apply(&a, 140, 5);
    fx_apply(&b, 140, 5);
    cr_assert_eq(lg_fsm_close(a.f), LG_OK);
    cr_assert_eq(lg_fsm_close(b.f), LG_OK);
    a.f = NULL;
    b.f = NULL;
    size_t la = 0, lb = 0;
    uint8_t *fa = lgt_read_file(a.tree, &la);
    uint8_t *fb = lgt_read_file(b.tree, &lb);
    cr_assert(fa != NULL && fb != NULL && la == lb && memcmp(fa, fb, la) == 0);
    free(fa);
    free(fb);
    fx_fini(&a);
    fx_fini(&b);
}

Test(fsm_merkle, close_during_a_gap_syncs_the_tree)
{
    struct fx a;
    struct fx b;
    fx_init(&a);
    fx_init(&b);
    fx_apply(&a, 100, 10);
    struct lg_buf snap;
    lg_buf_init(&snap);
    cr_assert_eq(lg_fsm_snapshot(a.f, &snap), LG_OK);
    cr_assert_eq(lg_fsm_restore(b.f, snap.data, snap.len), LG_OK);
    lg_buf_close(&snap);
    struct lg_journal *ja = lg_fsm_journal(a.f);
    for (uint64_t seq = 1; seq <= 50; seq++) {
        struct lg_journal_record jr;
        cr_assert_eq(lg_journal_read(ja, seq, &jr), LG_OK);
        cr_assert_eq(lg_fsm_gap_append(b.f, jr.body, jr.body_len), LG_OK);
    }
    cr_assert_eq(lg_fsm_close(b.f), LG_OK); /* no checkpoint with a gap: the tree still syncs */
    b.f = NULL;
    cr_assert_eq(durable_of(&b), nodes_of(50));
    fx_fini(&a);
    fx_fini(&b);
}

Test(fsm_merkle, damaged_record_stops_the_rebuild_with_the_journal_s_words)
{
    struct fx x;
    fx_init(&x);
    fx_apply(&x, 300, 10);
    cr_assert_eq(lg_fsm_close(x.f), LG_OK);
    x.f = NULL;
    cr_assert_eq(unlink(x.tree), 0); /* the rebuild reads every record */
    char seg[PATH_BYTES + 64];
    snprintf(seg, sizeof seg, "%s/seg-00000000000000000001.log", x.jdir);
    lgt_flip_bit(seg, lgt_file_size(seg) / 2u, 4);
    struct lg_fsm_options o;
    memset(&o, 0, sizeof o);
    o.journal_dir = x.jdir;
    o.state_dir = x.sdir;
    o.journal.segment_bytes_max = 16u * 1024u;
    char err[LG_ERRMSG_SIZE];
    struct lg_fsm *f = NULL;
    cr_assert_eq(lg_fsm_open(&f, &o, err), LG_ECORRUPT, "%s", err);
    cr_assert_null(f);
    cr_assert(strstr(err, "seg-00000000000000000001.log") != NULL, "%s", err);
    fx_fini(&x);
}
