/* proofcheck: verify RFC 9162 inclusion and consistency proofs against roots.
 *
 * The checking half of the verifiable ledger (docs/verification.md). It is written from
 * RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency) alone and shares no code with
 * the tree that builds proofs (lib/merkle.c) except OpenSSL's SHA-256: a bug in the
 * builder cannot hide itself by being repeated here. Hashes:
 *   leaf = SHA-256(0x00 || body), node = SHA-256(0x01 || left || right),
 *   root of the empty tree = SHA-256("").
 * A path is path_len 32-byte hashes back to back (path_len * 32 bytes; NULL when path_len
 * is 0), in the RFC's order (from the leaf up). A flat byte array, so that callers holding
 * uint8_t (*)[32] or a decoded buffer pass it without casts across qualifiers.
 *
 * Results: LG_OK (the proof verifies); LG_ECORRUPT (it does not: wrong hashes, wrong
 * length, wrong index or size for these hashes); LG_EBADREQ (the question is malformed:
 * leaf_index >= tree_size, size1 > size2, more than LG_PROOFCHECK_PATH_MAX hashes).
 * Pure functions of their arguments (no I/O, no allocation); any thread. */
#ifndef LG_PROOFCHECK_H
#define LG_PROOFCHECK_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define LG_PROOFCHECK_HASH_BYTES 32u
/* No valid proof for a tree of fewer than 2^64 leaves has more hashes. */
#define LG_PROOFCHECK_PATH_MAX 65u

/* SHA-256(0x00 || body): the leaf hash of a record body. */
void lg_proofcheck_leaf_hash(const void *body, size_t len,
                             uint8_t out[LG_PROOFCHECK_HASH_BYTES]);

/* SHA-256(""): the root of the empty tree. */
void lg_proofcheck_empty_root(uint8_t out[LG_PROOFCHECK_HASH_BYTES]);

/* RFC 9162 §2.1.3.2: does path prove that leaf_hash is leaf leaf_index of the tree of
 * tree_size leaves whose root is root? */
int lg_proofcheck_inclusion(uint64_t leaf_index, uint64_t tree_size,
                            const uint8_t leaf_hash[LG_PROOFCHECK_HASH_BYTES],
                            const uint8_t *path, size_t path_len,
                            const uint8_t root[LG_PROOFCHECK_HASH_BYTES]);

/* RFC 9162 §2.1.4.2: does path prove that the tree of size1 leaves with root root1 is a
 * prefix of the tree of size2 leaves with root root2? size1 == size2 needs an empty path
 * and equal roots; size1 == 0 needs an empty path and root1 = the empty root. */
int lg_proofcheck_consistency(uint64_t size1, uint64_t size2,
                              const uint8_t root1[LG_PROOFCHECK_HASH_BYTES],
                              const uint8_t root2[LG_PROOFCHECK_HASH_BYTES],
                              const uint8_t *path, size_t path_len);

#endif /* LG_PROOFCHECK_H */
