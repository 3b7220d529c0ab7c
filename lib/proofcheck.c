/* proofcheck: RFC 9162 proof verification, written from the RFC's verification algorithms
 * (§2.1.3.2, §2.1.4.2) and nothing else (see proofcheck.h). Variable names follow the RFC:
 * fn/sn are the first/second node indexes, r/fr/sr the running hashes. */
#include "proofcheck.h"

#include <stdbool.h>
#include <string.h>

#include <openssl/evp.h>

#include "assert.h"

#define PC_HASH LG_PROOFCHECK_HASH_BYTES

/* One SHA-256 context per verification: fetched once, reused for every hash of a path. */
struct pc_sha {
    EVP_MD *md;
    EVP_MD_CTX *ctx;
};

static void pc_sha_init(struct pc_sha *h)
{
    h->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    h->ctx = EVP_MD_CTX_new();
    LG_ASSERT(h->md != NULL);
    LG_ASSERT(h->ctx != NULL);
}

static void pc_sha_free(struct pc_sha *h)
{
    EVP_MD_CTX_free(h->ctx);
    EVP_MD_free(h->md);
}

static void pc_sha(struct pc_sha *h, const void *a, size_t alen, const void *b, size_t blen,
                   const void *c, size_t clen, uint8_t out[PC_HASH])
{
    unsigned int n = 0;
    int ok = EVP_DigestInit_ex2(h->ctx, h->md, NULL) == 1 &&
             (alen == 0 || EVP_DigestUpdate(h->ctx, a, alen) == 1) &&
             (blen == 0 || EVP_DigestUpdate(h->ctx, b, blen) == 1) &&
             (clen == 0 || EVP_DigestUpdate(h->ctx, c, clen) == 1) &&
             EVP_DigestFinal_ex(h->ctx, out, &n) == 1;
    LG_ASSERT(ok && n == PC_HASH);
}

static void sha256_parts(const void *a, size_t alen, const void *b, size_t blen,
                         const void *c, size_t clen, uint8_t out[PC_HASH])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    LG_ASSERT(ctx != NULL);
    unsigned int n = 0;
    int ok = EVP_DigestInit_ex2(ctx, EVP_sha256(), NULL) == 1 &&
             (alen == 0 || EVP_DigestUpdate(ctx, a, alen) == 1) &&
             (blen == 0 || EVP_DigestUpdate(ctx, b, blen) == 1) &&
             (clen == 0 || EVP_DigestUpdate(ctx, c, clen) == 1) &&
             EVP_DigestFinal_ex(ctx, out, &n) == 1;
    EVP_MD_CTX_free(ctx);
    LG_ASSERT(ok && n == PC_HASH);
}

void lg_proofcheck_leaf_hash(const void *body, size_t len, uint8_t out[PC_HASH])
{
    LG_PRE(out != NULL && (body != NULL || len == 0));
    static const uint8_t zero = 0x00;
    sha256_parts(&zero, 1, body, len, NULL, 0, out);
}

void lg_proofcheck_empty_root(uint8_t out[PC_HASH])
{
    LG_PRE(out != NULL);
    sha256_parts(NULL, 0, NULL, 0, NULL, 0, out);
}

/* HASH(0x01 || left || right) */
static void interior(struct pc_sha *h, const uint8_t left[PC_HASH],
                     const uint8_t right[PC_HASH], uint8_t out[PC_HASH])
{
    static const uint8_t one = 0x01;
    uint8_t l[PC_HASH];
    uint8_t r[PC_HASH];
    memcpy(l, left, PC_HASH); /* out may alias either input */
    memcpy(r, right, PC_HASH);
    pc_sha(h, &one, 1, l, PC_HASH, r, PC_HASH, out);
}

static bool lsb(uint64_t x)
{
    return (x & 1u) != 0;
}

int lg_proofcheck_inclusion(uint64_t leaf_index, uint64_t tree_size,
                            const uint8_t leaf_hash[PC_HASH], const uint8_t *path,
                            size_t path_len, const uint8_t root[PC_HASH])
{
    LG_PRE(leaf_hash != NULL && root != NULL);
    LG_PRE(path != NULL || path_len == 0);
    /* 1. Compare leaf_index from the inclusion_proof against tree_size. If leaf_index is
     *    greater than or equal to tree_size, then fail the proof verification. */
    if (leaf_index >= tree_size || path_len > LG_PROOFCHECK_PATH_MAX) {
        return LG_EBADREQ;
    }
    /* 2. Set fn to leaf_index and sn to tree_size - 1. 3. Set r to hash. */
    uint64_t fn = leaf_index;
    uint64_t sn = tree_size - 1u;
    uint8_t r[PC_HASH];
    memcpy(r, leaf_hash, PC_HASH);
    struct pc_sha h;
    pc_sha_init(&h);
    bool failed = false;
    /* 4. For each value p in the inclusion_path array: */
    for (size_t i = 0; i < path_len; i++) {
        const uint8_t *p = path + i * PC_HASH;
        /* a. If sn is 0, then stop the iteration and fail the proof verification. */
        if (sn == 0) {
            failed = true;
            break;
        }
        /* b. If LSB(fn) is set, or if fn is equal to sn, then: */
        if (lsb(fn) || fn == sn) {
            /* i. Set r to HASH(0x01 || p || r). */
            interior(&h, p, r, r);
            /* ii. If LSB(fn) is not set, then right-shift both fn and sn equally until
             *     either LSB(fn) is set or fn is 0. */
            while (!lsb(fn) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            /* Otherwise: set r to HASH(0x01 || r || p). */
            interior(&h, r, p, r);
        }
        /* c. Finally, right-shift both fn and sn one time. */
        fn >>= 1;
        sn >>= 1;
    }
    pc_sha_free(&h);
    /* 5. Compare sn to 0. Compare r against the root_hash. If sn is equal to 0 and r and
     *    the root_hash are equal, then the log has proven the inclusion of hash. */
    if (failed || sn != 0 || memcmp(r, root, PC_HASH) != 0) {
        return LG_ECORRUPT;
    }
    return LG_OK;
}

int lg_proofcheck_consistency(uint64_t size1, uint64_t size2, const uint8_t root1[PC_HASH],
                              const uint8_t root2[PC_HASH], const uint8_t *path,
                              size_t path_len)
{
    LG_PRE(root1 != NULL && root2 != NULL);
    LG_PRE(path != NULL || path_len == 0);
    if (size1 > size2 || path_len > LG_PROOFCHECK_PATH_MAX) {
        return LG_EBADREQ;
    }
    if (size1 == 0) {
        /* Every tree extends the empty one; its root is fixed. */
        uint8_t empty[PC_HASH];
        lg_proofcheck_empty_root(empty);
        return path_len == 0 && memcmp(root1, empty, PC_HASH) == 0 ? LG_OK : LG_ECORRUPT;
    }
    if (size1 == size2) {
        return path_len == 0 && memcmp(root1, root2, PC_HASH) == 0 ? LG_OK : LG_ECORRUPT;
    }
    /* 1. If consistency_path is an empty array, stop and fail the proof verification. */
    if (path_len == 0) {
        return LG_ECORRUPT;
    }
    /* 2. If first is an exact power of 2, then prepend first_hash to the consistency_path
     *    array. Here the path is walked with an index; `prepend` says whether element 0 is
     *    first_hash (prepended) or path[0]. */
    bool prepend = (size1 & (size1 - 1u)) == 0;
    size_t total = path_len + (prepend ? 1u : 0u);
    /* 3. Set fn to first - 1 and sn to second - 1. */
    uint64_t fn = size1 - 1u;
    uint64_t sn = size2 - 1u;
    /* 4. If LSB(fn) is set, then right-shift both fn and sn equally until LSB(fn) is not
     *    set. */
    while (lsb(fn)) {
        fn >>= 1;
        sn >>= 1;
    }
    /* 5. Set both fr and sr to the first value in the consistency_path array. */
    uint8_t fr[PC_HASH];
    uint8_t sr[PC_HASH];
    const uint8_t *c0 = prepend ? root1 : path;
    memcpy(fr, c0, PC_HASH);
    memcpy(sr, c0, PC_HASH);
    struct pc_sha h;
    pc_sha_init(&h);
    bool failed = false;
    /* 6. For each subsequent value c in the consistency_path array: */
    for (size_t i = 1; i < total; i++) {
        const uint8_t *c = path + (prepend ? i - 1u : i) * PC_HASH;
        /* a. If sn is 0, then stop the iteration and fail the proof verification. */
        if (sn == 0) {
            failed = true;
            break;
        }
        /* b. If LSB(fn) is set, or if fn is equal to sn, then: */
        if (lsb(fn) || fn == sn) {
            /* i. Set fr to HASH(0x01 || c || fr). Set sr to HASH(0x01 || c || sr). */
            interior(&h, c, fr, fr);
            interior(&h, c, sr, sr);
            /* ii. If LSB(fn) is not set, then right-shift both fn and sn equally until
             *     either LSB(fn) is set or fn is 0. */
            while (!lsb(fn) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            /* Otherwise: set sr to HASH(0x01 || sr || c). */
            interior(&h, sr, c, sr);
        }
        /* c. Finally, right-shift both fn and sn one time. */
        fn >>= 1;
        sn >>= 1;
    }
    /* 7. After completing iterating through the consistency_path array as described
     *    above, verify that the fr calculated is equal to the first_hash supplied, that the
     *    sr calculated is equal to the second_hash supplied, and that sn is 0. */
    pc_sha_free(&h);
    if (failed || memcmp(fr, root1, PC_HASH) != 0 || memcmp(sr, root2, PC_HASH) != 0 ||
        sn != 0) {
        return LG_ECORRUPT;
    }
    return LG_OK;
}
