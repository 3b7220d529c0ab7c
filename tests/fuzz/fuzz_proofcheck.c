/* fuzz_proofcheck: the independent proof checker (lib/proofcheck) on arbitrary proofs, the
 * way `ledger-node verify --tx/--from/--to` feeds it bytes from the network and from files.
 * Input: byte 0 selects inclusion (even) or consistency (odd); bytes 1..8 and 9..16 are two
 * little-endian u64 (leaf index and tree size, or the two sizes; masked to small trees when
 * byte 0 says so, where proofs of the right length are likely), 17..48 and 49..80 two
 * hashes (leaf and root, or the two roots), the rest the path (whole hashes, the tail byte
 * remainder ignored). Properties: never crash or read out of bounds; only LG_OK, LG_ECORRUPT
 * or LG_EBADREQ; LG_EBADREQ exactly for the malformed questions (index >= size, size1 >
 * size2, too long a path); an accepted proof stays accepted (pure function) and is
 * rejected once its last path hash changes. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "proofcheck.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HDR 81u
#define PATH_BYTES_MAX ((LG_PROOFCHECK_PATH_MAX + 2u) * LG_PROOFCHECK_HASH_BYTES)

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < 8; i++) {
        v |= (uint64_t)p[i] << (8u * i);
    }
    return v;
}

static int run(bool inclusion, uint64_t a, uint64_t b, const uint8_t *h1, const uint8_t *h2,
               const uint8_t *path, size_t n)
{
    return inclusion ? lg_proofcheck_inclusion(a, b, h1, path, n, h2)
                     : lg_proofcheck_consistency(a, b, h1, h2, path, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < HDR) {
        return 0;
    }
    bool inclusion = (data[0] & 1u) == 0;
    uint64_t a = le64(data + 1);
    uint64_t b = le64(data + 9);
    if (data[0] & 2u) {
        a &= 0x3ffu; /* small trees: path lengths that can match */
        b &= 0x3ffu;
    }
    const uint8_t *h1 = data + 17;
    const uint8_t *h2 = data + 49;
    size_t n = (size - HDR) / LG_PROOFCHECK_HASH_BYTES;
    if (n * LG_PROOFCHECK_HASH_BYTES > PATH_BYTES_MAX) {
        n = PATH_BYTES_MAX / LG_PROOFCHECK_HASH_BYTES;
    }
    /* A private copy of exactly n hashes: the sanitizer catches any read beyond it. */
    uint8_t *path = n > 0 ? malloc(n * LG_PROOFCHECK_HASH_BYTES) : NULL;
    if (n > 0 && path == NULL) {
        return 0;
    }
    if (n > 0) {
        memcpy(path, data + HDR, n * LG_PROOFCHECK_HASH_BYTES);
    }
    int rc = run(inclusion, a, b, h1, h2, path, n);
    bool malformed = inclusion ? a >= b : a > b;
    malformed = malformed || n > LG_PROOFCHECK_PATH_MAX;
    if (rc != LG_OK && rc != LG_ECORRUPT && rc != LG_EBADREQ) {
        abort();
    }
    if ((rc == LG_EBADREQ) != malformed) {
        abort();
    }
    if (run(inclusion, a, b, h1, h2, path, n) != rc) {
        abort();
    }
    if (rc == LG_OK && n > 0) {
        path[n * LG_PROOFCHECK_HASH_BYTES - 1u] ^= 1u;
        if (run(inclusion, a, b, h1, h2, path, n) == LG_OK) {
            abort();
        }
    }
    free(path);
    return 0;
}
