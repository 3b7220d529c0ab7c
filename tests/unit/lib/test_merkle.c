/* test_merkle: the stored RFC 9162 tree (lib/merkle) and the independent checker
 * (lib/proofcheck).
 *
 * Goal: roots and proofs are exactly RFC 9162's for every size and leaf tried; every proof
 * verifies with the checker and stops verifying after any change (body byte, index, size,
 * path hash, path length); the tree file survives restart and is rebuilt, truncated,
 * repaired or extended to match the records whatever happened to it; the offline check
 * finds a damaged hash and says where.
 *
 * Method: a naive recursive implementation of MTH, PATH and PROOF written in this file from
 * the RFC's definitions (§2.1.1, §2.1.3.1, §2.1.4.1) over an in-memory array of bodies gives
 * the expected roots and proofs; the tree reads bodies through an in-memory source that
 * counts reads; files are damaged in place with the lgt_ helpers. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "journal.h"
#include "lgt.h"
#include "merkle.h"
#include "proofcheck.h"

#define H 32u
#define N_MAX 300u
#define BODY_CAP 40u
#define PATH_BYTES (LGT_PATH_MAX + 64)

typedef uint8_t hash_t[H];

/* ---- bodies and an in-memory source ---- */

struct bodies {
    uint8_t data[N_MAX][BODY_CAP];
    uint32_t len[N_MAX];
    uint64_t n;     /* leaves the source claims */
    uint64_t reads; /* bodies delivered */
};

static struct bodies B;
static char dir[LGT_PATH_MAX];
static char file[PATH_BYTES];

static void bodies_fill(struct bodies *b, uint64_t n, uint32_t salt)
{
    b->n = n;
    for (uint64_t i = 0; i < n; i++) {
        b->len[i] = lgt_journal_body(i + 1u, salt, b->data[i], BODY_CAP);
    }
}

static int mem_read(void *arg, uint64_t first, uint64_t count, lg_merkle_leaf_cb leaf,
                    void *leaf_arg)
{
    struct bodies *b = arg;
    if (first + count > b->n) {
        return LG_ERANGE;
    }
    for (uint64_t i = first; i < first + count; i++) {
        b->reads++;
        int rc = leaf(leaf_arg, i, b->data[i], b->len[i]);
        if (rc != LG_OK) {
            return rc;
        }
    }
    return LG_OK;
}

static struct lg_merkle_source mem_source(void)
{
    struct lg_merkle_source s = {.read = mem_read, .arg = &B};
    return s;
}

/* ---- the naive reference, straight from RFC 9162 §2.1 ---- */

static void sha(const void *a, size_t alen, const void *b, size_t blen, const void *c,
                size_t clen, uint8_t out[H])
{
    uint8_t buf[1 + 2 * H + BODY_CAP];
    size_t n = 0;
    memcpy(buf, a, alen);
    n += alen;
    if (blen > 0) {
        memcpy(buf + n, b, blen);
        n += blen;
    }
    if (clen > 0) {
        memcpy(buf + n, c, clen);
        n += clen;
    }
    unsigned int olen = 0;
    cr_assert(EVP_Digest(buf, n, out, &olen, EVP_sha256(), NULL) == 1);
}

static void naive_leaf(uint64_t i, uint8_t out[H])
{
    static const uint8_t zero = 0;
    sha(&zero, 1, B.data[i], B.len[i], NULL, 0, out);
}

static void naive_node(const uint8_t l[H], const uint8_t r[H], uint8_t out[H])
{
    static const uint8_t one = 1;
    hash_t a, b;
    memcpy(a, l, H);
    memcpy(b, r, H);
    sha(&one, 1, a, H, b, H, out);
}

static uint64_t largest_pow2_below(uint64_t n)
{
    uint64_t k = 1;
    while (k * 2u < n) {
        k *= 2u;
    }
    return k;
}

/* MTH(D[lo:hi]) */
static void naive_mth(uint64_t lo, uint64_t hi, uint8_t out[H])
{
    if (hi == lo) {
        sha("", 0, NULL, 0, NULL, 0, out);
    } else if (hi - lo == 1) {
        naive_leaf(lo, out);
    } else {
        uint64_t k = largest_pow2_below(hi - lo);
        hash_t l, r;
        naive_mth(lo, lo + k, l);
        naive_mth(lo + k, hi, r);
        naive_node(l, r, out);
    }
}

/* PATH(m, D[lo:hi]), appended to path. */
static void naive_path(uint64_t m, uint64_t lo, uint64_t hi, hash_t *path, size_t *n)
{
    if (hi - lo <= 1) {
        return;
    }
    uint64_t k = largest_pow2_below(hi - lo);
    if (m < k) {
        naive_path(m, lo, lo + k, path, n);
        naive_mth(lo + k, hi, path[(*n)++]);
    } else {
        naive_path(m - k, lo + k, hi, path, n);
        naive_mth(lo, lo + k, path[(*n)++]);
    }
}

/* SUBPROOF(m, D[lo:hi], b), appended to path. */
static void naive_subproof(uint64_t m, uint64_t lo, uint64_t hi, bool b, hash_t *path,
                           size_t *n)
{
    if (m == hi - lo) {
        if (!b) {
            naive_mth(lo, hi, path[(*n)++]);
        }
        return;
    }
    uint64_t k = largest_pow2_below(hi - lo);
    if (m <= k) {
        naive_subproof(m, lo, lo + k, b, path, n);
        naive_mth(lo + k, hi, path[(*n)++]);
    } else {
        naive_subproof(m - k, lo + k, hi, false, path, n);
        naive_mth(lo, lo + k, path[(*n)++]);
    }
}

/* ---- fixture ---- */

static hash_t roots[N_MAX + 1];

static void setup(void)
{
    lgt_tmpdir(dir);
    snprintf(file, sizeof file, "%s/%s", dir, LG_MERKLE_FILE);
    memset(&B, 0, sizeof B);
}

static void teardown(void)
{
    lgt_rmtree(dir);
}

static void naive_roots(uint64_t n)
{
    for (uint64_t m = 0; m <= n; m++) {
        naive_mth(0, m, roots[m]);
    }
}

static struct lg_merkle *topen(uint64_t n)
{
    B.n = n;
    struct lg_merkle_source src = mem_source();
    struct lg_merkle *t = NULL;
    char err[LG_ERRMSG_SIZE];
    int rc = lg_merkle_open(&t, dir, &src, n, err);
    cr_assert_eq(rc, LG_OK, "open: %s", err);
    cr_assert_eq(lg_merkle_size(t), n);
    return t;
}

/* A tree of n leaves built by appending (bodies salt 1). */
static struct lg_merkle *build(uint64_t n)
{
    bodies_fill(&B, n, 1);
    struct lg_merkle *t = topen(0);
    for (uint64_t i = 0; i < n; i++) {
        B.n = i + 1u;
        cr_assert_eq(lg_merkle_append(t, B.data[i], B.len[i]), LG_OK);
    }
    return t;
}

static void assert_root(struct lg_merkle *t, uint64_t m)
{
    hash_t r;
    cr_assert_eq(lg_merkle_root(t, m, r), LG_OK, "%s", lg_merkle_errmsg(t));
    cr_assert(memcmp(r, roots[m], H) == 0, "root of size %llu", (unsigned long long)m);
}

TestSuite(merkle, .init = setup, .fini = teardown, .timeout = 120);

Test(merkle, empty_root_is_sha256_of_nothing)
{
    struct lg_merkle *t = topen(0);
    hash_t r, e;
    cr_assert_eq(lg_merkle_root(t, 0, r), LG_OK);
    lg_proofcheck_empty_root(e);
    static const uint8_t known[H] = {
        0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4,
        0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b,
        0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55};
    cr_assert(memcmp(r, known, H) == 0);
    cr_assert(memcmp(e, known, H) == 0);
    cr_assert_eq(lg_merkle_root(t, 1, r), LG_ERANGE);
    lg_merkle_close(t);
}

Test(merkle, leaf_hash_prefixes_zero_byte)
{
    /* RFC 9162 leaf of the empty body: SHA-256(0x00). */
    static const uint8_t known[H] = {
        0x6e, 0x34, 0x0b, 0x9c, 0xff, 0xb3, 0x7a, 0x98, 0x9c, 0xa5, 0x44,
        0xe6, 0xbb, 0x78, 0x0a, 0x2c, 0x78, 0x90, 0x1d, 0x3f, 0xb3, 0x37,
        0x38, 0x76, 0x85, 0x11, 0xa3, 0x06, 0x17, 0xaf, 0xa0, 0x1d};
    hash_t a, b;
    lg_merkle_leaf_hash("", 0, a);
    lg_proofcheck_leaf_hash("", 0, b);
    cr_assert(memcmp(a, known, H) == 0);
    cr_assert(memcmp(b, known, H) == 0);
}

Test(merkle, roots_of_every_size_match_the_rfc)
{
    bodies_fill(&B, N_MAX, 1);
    naive_roots(N_MAX);
    struct lg_merkle *t = topen(0);
    for (uint64_t i = 0; i < N_MAX; i++) {
        B.n = i + 1u;
        cr_assert_eq(lg_merkle_append(t, B.data[i], B.len[i]), LG_OK);
        assert_root(t, i + 1u);
    }
    for (uint64_t m = 0; m <= N_MAX; m++) {
        assert_root(t, m); /* older sizes, from the stored subtrees */
    }
    cr_assert_eq(lg_merkle_storage_bytes(t),
                 64u + 32u * (N_MAX - (uint64_t)__builtin_popcountll(N_MAX)));
    lg_merkle_close(t);
}

static int check_incl(uint64_t i, uint64_t n, const uint8_t leaf[H], hash_t *p, size_t len,
                      const uint8_t root[H])
{
    return lg_proofcheck_inclusion(i, n, leaf, p[0], len, root);
}

Test(merkle, inclusion_proofs_for_every_leaf_of_sizes_1_to_300)
{
    struct lg_merkle *t = build(N_MAX);
    naive_roots(N_MAX);
    hash_t path[LG_MERKLE_PROOF_MAX + 2];
    hash_t want[LG_MERKLE_PROOF_MAX];
    uint64_t proofs = 0;
    for (uint64_t n = 1; n <= N_MAX; n++) {
        for (uint64_t i = 0; i < n; i++) {
            size_t len = 0;
            int rc = lg_merkle_inclusion(t, i, n, path, LG_MERKLE_PROOF_MAX, &len);
            cr_assert_eq(rc, LG_OK, "%s", lg_merkle_errmsg(t));
            size_t wl = 0;
            naive_path(i, 0, n, want, &wl);
            cr_assert_eq(len, wl, "leaf %llu size %llu", (unsigned long long)i,
                         (unsigned long long)n);
            cr_assert(memcmp(path, want, len * H) == 0);
            hash_t leaf;
            lg_proofcheck_leaf_hash(B.data[i], B.len[i], leaf);
            cr_assert_eq(check_incl(i, n, leaf, path, len, roots[n]), LG_OK,
                         "leaf %llu size %llu", (unsigned long long)i, (unsigned long long)n);
            proofs++;
            /* a changed byte of the body */
            uint8_t body[BODY_CAP];
            memcpy(body, B.data[i], B.len[i]);
            body[(i * 7u) % B.len[i]] ^= 0x20;
            hash_t bad;
            lg_proofcheck_leaf_hash(body, B.len[i], bad);
            cr_assert_eq(check_incl(i, n, bad, path, len, roots[n]), LG_ECORRUPT);
            /* another leaf's hash at this index */
            if (n > 1) {
                hash_t other;
                uint64_t o = (i + 1u) % n;
                lg_proofcheck_leaf_hash(B.data[o], B.len[o], other);
                cr_assert_eq(check_incl(i, n, other, path, len, roots[n]), LG_ECORRUPT);
            }
            /* every wrong index (small trees) or a few */
            for (uint64_t j = 0; j < n; j++) {
                if (j == i || (n > 40 && j != (i ^ 1u) && j != n - 1u && j != 0)) {
                    continue;
                }
                cr_assert_eq(check_incl(j, n, leaf, path, len, roots[n]), LG_ECORRUPT,
                             "index %llu accepted for leaf %llu size %llu",
                             (unsigned long long)j, (unsigned long long)i,
                             (unsigned long long)n);
            }
            cr_assert_eq(check_incl(n, n, leaf, path, len, roots[n]), LG_EBADREQ);
            /* truncated and extended paths */
            if (len > 0) {
                cr_assert_eq(check_incl(i, n, leaf, path, len - 1u, roots[n]), LG_ECORRUPT);
                cr_assert_eq(check_incl(i, n, leaf, path + 1, len - 1u, roots[n]),
                             LG_ECORRUPT);
            }
            memcpy(path[len], roots[n], H);
            cr_assert_eq(check_incl(i, n, leaf, path, len + 1u, roots[n]), LG_ECORRUPT);
            /* a flipped bit in each path hash */
            for (size_t k = 0; k < len; k++) {
                path[k][k % H] ^= 1u;
                cr_assert_eq(check_incl(i, n, leaf, path, len, roots[n]), LG_ECORRUPT);
                path[k][k % H] ^= 1u;
            }
            /* a wrong size, with that size's own root */
            if (n > 1) {
                cr_assert_eq(check_incl(i, n - 1u, leaf, path, len, roots[n - 1u]),
                             i < n - 1u ? LG_ECORRUPT : LG_EBADREQ);
            }
            if (n < N_MAX) {
                cr_assert_eq(check_incl(i, n + 1u, leaf, path, len, roots[n + 1u]),
                             LG_ECORRUPT, "size %llu+1 leaf %llu", (unsigned long long)n,
                             (unsigned long long)i);
            }
            /* the wrong root */
            cr_assert_eq(check_incl(i, n, leaf, path, len, roots[n - 1u]), LG_ECORRUPT);
        }
    }
    cr_assert_eq(proofs, N_MAX * (N_MAX + 1u) / 2u);
    size_t len = 0;
    cr_assert_eq(lg_merkle_inclusion(t, 5, N_MAX + 1u, path, LG_MERKLE_PROOF_MAX, &len),
                 LG_ERANGE);
    cr_assert_eq(lg_merkle_inclusion(t, 7, 7, path, LG_MERKLE_PROOF_MAX, &len), LG_ERANGE);
    cr_assert_eq(lg_merkle_inclusion(t, 0, 256, path, 7, &len), LG_EINVAL); /* needs 8 */
    lg_merkle_close(t);
}

static int check_cons(uint64_t m, uint64_t n, hash_t *p, size_t len)
{
    return lg_proofcheck_consistency(m, n, roots[m], roots[n], p[0], len);
}

Test(merkle, consistency_proofs_for_all_sizes_up_to_100)
{
    const uint64_t top = 100;
    struct lg_merkle *t = build(top);
    naive_roots(top);
    hash_t path[LG_MERKLE_PROOF_MAX + 2];
    hash_t want[LG_MERKLE_PROOF_MAX];
    for (uint64_t n = 0; n <= top; n++) {
        for (uint64_t m = 0; m <= n; m++) {
            size_t len = 0;
            int rc = lg_merkle_consistency(t, m, n, path, LG_MERKLE_PROOF_MAX, &len);
            cr_assert_eq(rc, LG_OK, "%s", lg_merkle_errmsg(t));
            size_t wl = 0;
            if (m > 0 && m < n) {
                naive_subproof(m, 0, n, true, want, &wl);
            }
            cr_assert_eq(len, wl, "m %llu n %llu", (unsigned long long)m,
                         (unsigned long long)n);
            cr_assert(memcmp(path, want, len * H) == 0);
            cr_assert_eq(check_cons(m, n, path, len), LG_OK, "m %llu n %llu",
                         (unsigned long long)m, (unsigned long long)n);
            if (m == n) {
                if (n > 0) {
                    cr_assert_eq(lg_proofcheck_consistency(m, n, roots[m], roots[n - 1u],
                                                           NULL, 0),
                                 LG_ECORRUPT);
                }
                continue;
            }
            /* swapped or wrong roots */
            cr_assert_eq(lg_proofcheck_consistency(m, n, roots[n], roots[n],
                                                   path[0], len),
                         LG_ECORRUPT);
            if (m > 0) {
                cr_assert_eq(lg_proofcheck_consistency(m, n, roots[m], roots[m],
                                                       path[0], len),
                             LG_ECORRUPT);
            }
            cr_assert_eq(lg_proofcheck_consistency(n, m, roots[n], roots[m],
                                                   path[0], len),
                         LG_EBADREQ);
            if (m == 0) {
                continue;
            }
            for (size_t k = 0; k < len; k++) {
                path[k][(k + 3u) % H] ^= 0x80;
                cr_assert_eq(check_cons(m, n, path, len), LG_ECORRUPT);
                path[k][(k + 3u) % H] ^= 0x80;
            }
            cr_assert_eq(check_cons(m, n, path, len - 1u), LG_ECORRUPT);
            cr_assert_eq(check_cons(m, n, path + 1, len - 1u), LG_ECORRUPT);
            memcpy(path[len], roots[n], H);
            cr_assert_eq(check_cons(m, n, path, len + 1u), LG_ECORRUPT);
            /* wrong sizes with their own roots */
            if (m + 1u < n) {
                cr_assert_eq(check_cons(m + 1u, n, path, len), LG_ECORRUPT);
            }
            if (m > 1) {
                cr_assert_eq(check_cons(m - 1u, n, path, len), LG_ECORRUPT);
            }
            if (n < top) {
                cr_assert_eq(check_cons(m, n + 1u, path, len), LG_ECORRUPT);
            }
            if (n - 1u > m) {
                cr_assert_eq(check_cons(m, n - 1u, path, len), LG_ECORRUPT);
            }
        }
    }
    size_t len = 0;
    cr_assert_eq(lg_merkle_consistency(t, 5, 4, path, LG_MERKLE_PROOF_MAX, &len), LG_ERANGE);
    cr_assert_eq(lg_merkle_consistency(t, 5, top + 1u, path, LG_MERKLE_PROOF_MAX, &len),
                 LG_ERANGE);
    lg_merkle_close(t);
}

Test(merkle, proofs_read_few_bodies)
{
    struct lg_merkle *t = build(N_MAX);
    hash_t path[LG_MERKLE_PROOF_MAX];
    const uint64_t n = N_MAX - 1u; /* an odd size below the tree's */
    for (uint64_t i = 0; i < n; i++) {
        size_t len = 0;
        B.reads = 0;
        cr_assert_eq(lg_merkle_inclusion(t, i, n, path, LG_MERKLE_PROOF_MAX, &len), LG_OK);
        cr_assert_leq(B.reads, 2u, "leaf %llu read %llu bodies", (unsigned long long)i,
                      (unsigned long long)B.reads);
        B.reads = 0;
        hash_t r;
        cr_assert_eq(lg_merkle_root(t, i + 1u, r), LG_OK);
        cr_assert_leq(B.reads, 1u);
        B.reads = 0;
        cr_assert_eq(lg_merkle_consistency(t, i + 1u, n, path, LG_MERKLE_PROOF_MAX, &len),
                     LG_OK);
        cr_assert_leq(B.reads, 3u);
    }
    lg_merkle_close(t);
}

/* ---- persistence and reconciliation ---- */

static void reopen_and_check(uint64_t n, uint64_t max_reads)
{
    naive_roots(n);
    B.reads = 0;
    struct lg_merkle *t = topen(n);
    cr_assert_leq(B.reads, max_reads, "open read %llu bodies", (unsigned long long)B.reads);
    for (uint64_t m = 0; m <= n; m++) {
        assert_root(t, m);
    }
    hash_t path[LG_MERKLE_PROOF_MAX];
    for (uint64_t i = 0; i < n; i++) {
        size_t len = 0;
        cr_assert_eq(lg_merkle_inclusion(t, i, n, path, LG_MERKLE_PROOF_MAX, &len), LG_OK);
        hash_t leaf;
        naive_leaf(i, leaf);
        cr_assert_eq(check_incl(i, n, leaf, path, len, roots[n]), LG_OK);
    }
    cr_assert_eq(lg_merkle_storage_bytes(t), 64u + 32u * (n - (uint64_t)__builtin_popcountll(n)));
    cr_assert_eq(lg_merkle_sync(t), LG_OK);
    cr_assert_eq(lg_merkle_close(t), LG_OK);
    cr_assert_eq(lgt_file_size(file), 64u + 32u * (n - (uint64_t)__builtin_popcountll(n)));
}

Test(merkle, restart_keeps_the_root_without_rereading)
{
    struct lg_merkle *t = build(N_MAX);
    cr_assert_eq(lg_merkle_sync(t), LG_OK);
    cr_assert_eq(lg_merkle_close(t), LG_OK);
    reopen_and_check(N_MAX, 0); /* 300 = even: the frontier needs no leaf */
    /* appended after the last sync: only the tail is recomputed */
    bodies_fill(&B, N_MAX, 1);
    t = topen(N_MAX - 5u);
    cr_assert_eq(lg_merkle_sync(t), LG_OK);
    for (uint64_t i = N_MAX - 5u; i < N_MAX; i++) {
        cr_assert_eq(lg_merkle_append(t, B.data[i], B.len[i]), LG_OK);
    }
    cr_assert_eq(lg_merkle_close(t), LG_OK); /* no sync */
    reopen_and_check(N_MAX, 8);
}

Test(merkle, missing_file_is_rebuilt)
{
    lg_merkle_close(build(N_MAX));
    cr_assert_eq(unlink(file), 0);
    reopen_and_check(N_MAX, N_MAX);
}

Test(merkle, source_longer_than_file_is_extended)
{
    struct lg_merkle *t = build(100);
    cr_assert_eq(lg_merkle_sync(t), LG_OK);
    lg_merkle_close(t);
    bodies_fill(&B, N_MAX, 1);
    reopen_and_check(N_MAX, N_MAX - 100u + 1u);
}

Test(merkle, truncated_file_is_extended_at_any_cut)
{
    struct lg_merkle *t = build(N_MAX);
    cr_assert_eq(lg_merkle_sync(t), LG_OK);
    lg_merkle_close(t);
    uint64_t full = lgt_file_size(file);
    static const uint64_t cuts[] = {0, 1, 63, 64, 65, 64 + 32, 64 + 32 * 7 + 5, 4000};
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
        cr_assert_lt(cuts[c], full);
        lgt_truncate(file, cuts[c]);
        reopen_and_check(N_MAX, N_MAX);
        cr_assert_eq(lgt_file_size(file), full);
    }
}

Test(merkle, damaged_header_means_rebuild)
{
    struct lg_merkle *t = build(N_MAX);
    cr_assert_eq(lg_merkle_sync(t), LG_OK);
    lg_merkle_close(t);
    for (uint64_t off = 0; off < 64; off += 5) {
        lgt_flip_bit(file, off, (unsigned)(off % 8));
        reopen_and_check(N_MAX, N_MAX);
    }
}

Test(merkle, unsynced_damage_is_repaired_at_open)
{
    uint64_t n_hashes = N_MAX - (uint64_t)__builtin_popcountll(N_MAX);
    for (uint64_t p = 0; p < n_hashes; p += 37) {
        lg_merkle_close(build(N_MAX)); /* never synced: open trusts none of it */
        lgt_flip_bit(file, 64 + 32 * p + p % 32, (unsigned)(p % 8));
        reopen_and_check(N_MAX, N_MAX);
    }
}

Test(merkle, journal_recovery_cut_truncates_the_tree)
{
    struct lg_merkle *t = build(N_MAX);
    cr_assert_eq(lg_merkle_sync(t), LG_OK);
    lg_merkle_close(t);
    /* the journal lost its tail: the tree follows, then grows with other records */
    reopen_and_check(N_MAX - 77u, N_MAX - 77u); /* synced records lost: all compared */
    struct bodies keep = B;
    bodies_fill(&B, N_MAX, 2); /* new bodies from seq 224 on */
    memcpy(B.data, keep.data, sizeof B.data[0] * (N_MAX - 77u));
    memcpy(B.len, keep.len, sizeof B.len[0] * (N_MAX - 77u));
    t = topen(N_MAX - 77u);
    for (uint64_t i = N_MAX - 77u; i < N_MAX; i++) {
        B.n = i + 1u;
        cr_assert_eq(lg_merkle_append(t, B.data[i], B.len[i]), LG_OK);
    }
    lg_merkle_close(t);
    reopen_and_check(N_MAX, N_MAX);
    reopen_and_check(1, 1);
    reopen_and_check(0, 0);
}

Test(merkle, check_finds_every_damaged_hash)
{
    struct lg_merkle *t = build(N_MAX);
    cr_assert_eq(lg_merkle_sync(t), LG_OK);
    lg_merkle_close(t);
    naive_roots(N_MAX);
    struct lg_merkle_source src = mem_source();
    struct lg_merkle_check_report rep;
    char err[LG_ERRMSG_SIZE];
    cr_assert_eq(lg_merkle_check(dir, &src, N_MAX, NULL, NULL, &rep, err), LG_OK, "%s", err);
    uint64_t n_hashes = N_MAX - (uint64_t)__builtin_popcountll(N_MAX);
    cr_assert_eq(rep.hashes_checked, n_hashes);
    cr_assert_eq(rep.covered, N_MAX);
    cr_assert(memcmp(rep.root, roots[N_MAX], H) == 0);
    for (uint64_t p = 0; p < n_hashes; p++) {
        uint64_t off = 64 + 32 * p + (p * 5u) % 32u;
        lgt_flip_bit(file, off, (unsigned)(p % 8));
        int rc = lg_merkle_check(dir, &src, N_MAX, NULL, NULL, &rep, err);
        cr_assert_eq(rc, LG_ECORRUPT, "hash %llu", (unsigned long long)p);
        cr_assert_eq(rep.bad_offset, 64 + 32 * p);
        cr_assert_eq(rep.hashes_checked, p);
        /* the reported subtree is the one stored there */
        cr_assert_eq(rep.bad_seq % (UINT64_C(1) << rep.bad_level), 0);
        cr_assert_eq(rep.bad_index, (rep.bad_seq >> rep.bad_level) - 1u);
        lgt_flip_bit(file, off, (unsigned)(p % 8));
    }
    /* synced damage is trusted by open (documented) but a rebuild fixes it */
    lgt_flip_bit(file, 64 + 32 * 10, 3);
    t = topen(N_MAX);
    cr_assert_eq(lg_merkle_rebuild(t), LG_OK);
    lg_merkle_close(t);
    cr_assert_eq(lg_merkle_check(dir, &src, N_MAX, NULL, NULL, &rep, err), LG_OK, "%s", err);
    /* header damage, a missing file, a short file */
    lgt_flip_bit(file, 9, 0);
    cr_assert_eq(lg_merkle_check(dir, &src, N_MAX, NULL, NULL, &rep, err), LG_ECORRUPT);
    lgt_truncate(file, 64 + 32 * 3);
    cr_assert_eq(lg_merkle_check(dir, &src, N_MAX, NULL, NULL, &rep, err), LG_ECORRUPT);
    cr_assert_eq(unlink(file), 0);
    cr_assert_eq(lg_merkle_check(dir, &src, N_MAX, NULL, NULL, &rep, err), LG_ENOTFOUND);
}

Test(merkle, check_accepts_a_short_file)
{
    struct lg_merkle *t = build(100);
    lg_merkle_close(t);
    bodies_fill(&B, N_MAX, 1);
    struct lg_merkle_source src = mem_source();
    struct lg_merkle_check_report rep;
    char err[LG_ERRMSG_SIZE];
    cr_assert_eq(lg_merkle_check(dir, &src, N_MAX, NULL, NULL, &rep, err), LG_OK, "%s", err);
    cr_assert_eq(rep.covered, 101); /* 101 leaves need no hash more than 100 do */
    cr_assert_eq(rep.hashes_checked, 100u - 3u);
}

Test(merkle, write_failure_is_sticky_and_reopen_recovers)
{
    signal(SIGXFSZ, SIG_IGN);
    struct lg_merkle *t = build(100);
    cr_assert_eq(lg_merkle_sync(t), LG_OK);
    struct rlimit rl = {.rlim_cur = lgt_file_size(file) + 100, .rlim_max = RLIM_INFINITY};
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
    static struct bodies more;
    bodies_fill(&more, N_MAX, 1);
    int rc = LG_OK;
    uint64_t i = 100;
    for (; i < N_MAX && rc == LG_OK; i++) {
        rc = lg_merkle_append(t, more.data[i], more.len[i]);
    }
    if (rc == LG_OK) {
        rc = lg_merkle_sync(t); /* fewer appends than one buffer: the sync writes */
    }
    cr_assert_eq(rc, LG_EIO, "%s", lg_err_name(rc));
    rl.rlim_cur = RLIM_INFINITY;
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
    cr_assert_eq(lg_merkle_append(t, more.data[0], more.len[0]), LG_EIO); /* sticky */
    cr_assert_eq(lg_merkle_sync(t), LG_EIO);
    lg_merkle_close(t);
    bodies_fill(&B, N_MAX, 1);
    reopen_and_check(N_MAX, N_MAX - 100u + 1u);
}

/* ---- over a real journal ---- */

Test(merkle, journal_source_gives_the_record_bodies)
{
    char jdir[PATH_BYTES];
    snprintf(jdir, sizeof jdir, "%s/journal", dir);
    struct lg_journal_options o = {.segment_bytes_max = 4096, .create = true};
    struct lg_journal *j = NULL;
    char err[LG_ERRMSG_SIZE];
    cr_assert_eq(lg_journal_open(&j, jdir, &o, err, NULL), LG_OK, "%s", err);
    bodies_fill(&B, 150, 3);
    for (uint64_t i = 0; i < 150; i++) {
        cr_assert_eq(lg_journal_append(j, B.data[i], B.len[i], NULL, NULL), LG_OK);
    }
    naive_roots(150);
    struct lg_merkle_source src;
    lg_merkle_source_journal(&src, j);
    struct lg_merkle *t = NULL;
    cr_assert_eq(lg_merkle_open(&t, jdir, &src, 150, err), LG_OK, "%s", err);
    hash_t path[LG_MERKLE_PROOF_MAX];
    for (uint64_t i = 0; i < 150; i++) {
        size_t len = 0;
        cr_assert_eq(lg_merkle_inclusion(t, i, 149 + (i == 149), path, LG_MERKLE_PROOF_MAX,
                                         &len),
                     LG_OK);
        hash_t leaf;
        naive_leaf(i, leaf);
        cr_assert_eq(check_incl(i, 149 + (i == 149), leaf, path, len, roots[149 + (i == 149)]),
                     LG_OK);
    }
    lg_merkle_close(t);
    lg_journal_close(j);
    /* the hidden tree file does not disturb the journal */
    cr_assert_eq(lg_journal_open(&j, jdir, &o, err, NULL), LG_OK, "%s", err);
    lg_journal_close(j);
}

/* A journal of n records in dir/name with bodies: the first `shared` from salt 3, the rest
 * from salt 4 (B holds them afterwards); its tree synced and closed. */
static struct lg_journal *journal_with(const char *name, uint64_t n, uint64_t shared,
                                       char *jdir)
{
    snprintf(jdir, PATH_BYTES, "%s/%s", dir, name);
    struct lg_journal_options o = {.segment_bytes_max = 4096, .create = true};
    struct lg_journal *j = NULL;
    char err[LG_ERRMSG_SIZE];
    cr_assert_eq(lg_journal_open(&j, jdir, &o, err, NULL), LG_OK, "%s", err);
    static struct bodies other;
    bodies_fill(&B, n, 3);
    bodies_fill(&other, n, 4);
    for (uint64_t i = shared; i < n; i++) {
        memcpy(B.data[i], other.data[i], other.len[i]);
        B.len[i] = other.len[i];
    }
    for (uint64_t i = 0; i < n; i++) {
        cr_assert_eq(lg_journal_append(j, B.data[i], B.len[i], NULL, NULL), LG_OK);
    }
    cr_assert_eq(lg_journal_sync(j), LG_OK);
    return j;
}

static void copy_file(const char *from, const char *to)
{
    size_t len = 0;
    uint8_t *bytes = lgt_read_file(from, &len);
    cr_assert_not_null(bytes);
    unlink(to);
    lgt_write_at_create(to, bytes, len);
    free(bytes);
}

/* Goal: a tree file is bound to the history it was synced with. Method: a synced .merkle of
 * one journal copied beside another journal of the same length (wholly different, or
 * sharing the first 100 records): open rebuilds (the journal's chain hash of the last
 * covered record differs), so every root is the new journal's; lg_merkle_check calls it
 * damage. Without the binding, open trusted the foreign hashes and served wrong roots. */
Test(merkle, a_tree_file_beside_another_history_is_rebuilt)
{
    static const uint64_t shared[] = {0, 100, 149};
    for (size_t c = 0; c < sizeof shared / sizeof shared[0]; c++) {
        char adir[PATH_BYTES];
        char bdir[PATH_BYTES];
        char aname[32];
        char bname[32];
        snprintf(aname, sizeof aname, "a%zu", c);
        snprintf(bname, sizeof bname, "b%zu", c);
        struct lg_journal *ja = journal_with(aname, 150, 150, adir);
        struct lg_merkle_source src;
        lg_merkle_source_journal(&src, ja);
        struct lg_merkle *t = NULL;
        char err[LG_ERRMSG_SIZE];
        cr_assert_eq(lg_merkle_open(&t, adir, &src, 150, err), LG_OK, "%s", err);
        cr_assert_eq(lg_merkle_sync(t), LG_OK, "%s", lg_merkle_errmsg(t));
        cr_assert_eq(lg_merkle_close(t), LG_OK);
        lg_journal_close(ja);

        struct lg_journal *jb = journal_with(bname, 150, shared[c], bdir);
        naive_roots(150);
        char from[PATH_BYTES + 16];
        char to[PATH_BYTES + 16];
        snprintf(from, sizeof from, "%s/%s", adir, LG_MERKLE_FILE);
        snprintf(to, sizeof to, "%s/%s", bdir, LG_MERKLE_FILE);
        copy_file(from, to);
        lg_merkle_source_journal(&src, jb);
        struct lg_merkle_check_report rep;
        cr_assert_eq(lg_merkle_check(bdir, &src, 150, NULL, NULL, &rep, err), LG_ECORRUPT,
                     "shared %llu", (unsigned long long)shared[c]);
        cr_assert_eq(rep.bad_offset, 24);
        cr_assert_eq(rep.bad_seq, 150);
        cr_assert(strstr(err, "another history") != NULL, "%s", err);
        cr_assert_eq(lg_merkle_open(&t, bdir, &src, 150, err), LG_OK, "%s", err);
        for (uint64_t m = 0; m <= 150; m++) {
            assert_root(t, m);
        }
        cr_assert_eq(lg_merkle_sync(t), LG_OK);
        cr_assert_eq(lg_merkle_close(t), LG_OK);
        cr_assert_eq(lg_merkle_check(bdir, &src, 150, NULL, NULL, &rep, err), LG_OK, "%s", err);
        lg_journal_close(jb);
    }
}

/* Goal: lg_merkle_check's notes and damage match merkle.h: a partial trailing hash and hashes
 * beyond the records' tree (past the durable part) are notes; fewer hashes than the header
 * calls durable is damage (open recomputes and compares everything). */
Test(merkle, check_reports_partial_extra_and_missing_durable_hashes)
{
    struct lg_merkle *t = build(200);
    cr_assert_eq(lg_merkle_sync(t), LG_OK); /* durable: 200 records */
    bodies_fill(&B, N_MAX, 1);
    for (uint64_t i = 200; i < N_MAX; i++) {
        B.n = i + 1u;
        cr_assert_eq(lg_merkle_append(t, B.data[i], B.len[i]), LG_OK);
    }
    lg_merkle_close(t); /* written, not synced */
    uint64_t n_hashes = N_MAX - (uint64_t)__builtin_popcountll(N_MAX);
    struct lg_merkle_source src = mem_source();
    struct lg_merkle_check_report rep;
    char err[LG_ERRMSG_SIZE];
    /* a partial trailing hash: a note */
    lgt_truncate(file, 64 + 32 * n_hashes - 7);
    cr_assert_eq(lg_merkle_check(dir, &src, N_MAX, NULL, NULL, &rep, err), LG_OK, "%s", err);
    cr_assert_eq(rep.partial_bytes, 25);
    cr_assert_eq(rep.hashes_stored, n_hashes - 1u);
    cr_assert_eq(rep.durable, 200u - 3u);
    /* the records' tree is shorter than the file (a journal tail lost after the durable
     * part): a note */
    B.n = 250;
    cr_assert_eq(lg_merkle_check(dir, &src, 250, NULL, NULL, &rep, err), LG_OK, "%s", err);
    cr_assert_eq(rep.extra_hashes, (n_hashes - 1u) - (250u - 6u));
    cr_assert_eq(rep.partial_bytes, 25);
    /* fewer hashes than the header calls durable: damage, and open recomputes all */
    B.n = N_MAX;
    lgt_truncate(file, 64 + 32 * 150);
    cr_assert_eq(lg_merkle_check(dir, &src, N_MAX, NULL, NULL, &rep, err), LG_ECORRUPT);
    cr_assert_eq(rep.bad_offset, 8);
    cr_assert(strstr(err, "durable") != NULL, "%s", err);
    reopen_and_check(N_MAX, N_MAX);
}

/* Goal: lg_merkle_mark_damaged makes the next open recompute every stored hash, and a sync
 * in between does not undo it. Method: a byte flipped inside the synced part (open trusts
 * it: an older root is wrong); mark, sync, close; reopen: every root and proof is right.
 * Without the mark the damage survives the reopen. */
Test(merkle, marked_damage_is_recomputed_at_the_next_open)
{
    struct lg_merkle *t = build(N_MAX);
    cr_assert_eq(lg_merkle_sync(t), LG_OK);
    lg_merkle_close(t);
    naive_roots(N_MAX);
    lgt_flip_bit(file, 64 + 32 * 2 + 5, 1); /* level-1 subtree of leaves 4, 5 (seq 6) */
    t = topen(N_MAX);
    hash_t r;
    cr_assert_eq(lg_merkle_root(t, 6, r), LG_OK);
    cr_assert(memcmp(r, roots[6], H) != 0, "open trusts the synced part");
    cr_assert(!lg_merkle_damaged(t));
    cr_assert_eq(lg_merkle_mark_damaged(t), LG_OK);
    cr_assert(lg_merkle_damaged(t));
    cr_assert_eq(lg_merkle_mark_damaged(t), LG_OK); /* idempotent */
    cr_assert_eq(lg_merkle_sync(t), LG_OK);
    cr_assert_eq(lg_merkle_close(t), LG_OK);
    reopen_and_check(N_MAX, N_MAX);
}
