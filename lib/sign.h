/* sign: the node's Ed25519 key and signed Merkle digests (OpenSSL 3 EVP).
 *
 * A digest is {tree_size, root, timestamp, node_id} signed by the node. The signature is
 * Ed25519 (RFC 8032, pure, no prehash) over the UTF-8 text
 *
 *     ledger-node-digest-v1:<tree_size>:<root hex>:<timestamp>:<node_id>
 *
 * tree_size, timestamp (microseconds since the Unix epoch) and node_id in decimal without
 * leading zeros, root as 64 lowercase hex digits, no trailing newline
 * (lg_sign_digest_text() formats exactly that). public_key is the raw 32-byte Ed25519 key.
 *
 * Key file (docs/verification.md): <data>/node.key, the private key as PKCS#8 PEM, mode
 * 0600, generated on first start (written to a temporary file of a unique name with mode
 * 0600, fsync'd, link()ed to the key's name, which never replaces an existing file, unlinked,
 * directory fsync'd; when the name exists by then, another starter won and its key is
 * loaded instead, *created false). A key file with any group or other permission bit is
 * refused (LG_EINVAL: "chmod 600 it"), as is a file that is not an Ed25519 private key.
 *
 * Every OpenSSL object is freed before return; a key is one heap object. Threading: a key
 * may be used by one thread at a time; lg_sign_verify and the text helpers by any. */
#ifndef LG_SIGN_H
#define LG_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define LG_SIGN_PUBLIC_KEY_BYTES 32u
#define LG_SIGN_SIGNATURE_BYTES 64u
#define LG_SIGN_ROOT_BYTES 32u
/* The key file's name in the data directory. */
#define LG_SIGN_KEY_FILE "node.key"
/* Room for the digest text and its NUL: 21 (prefix) + 4 colons + 3 * 20 digits + 64 hex
 * + 1 = 150, rounded up. */
#define LG_SIGN_DIGEST_TEXT_MAX 192u
/* The digest text's prefix (the format's version lives in it). */
#define LG_SIGN_DIGEST_PREFIX "ledger-node-digest-v1"

struct lg_sign_key; /* opaque: an Ed25519 private key */

/* Load the key at path; when path does not exist and create is true, generate one and
 * write it there first (*created, may be NULL, says which happened).
 * Returns LG_OK; LG_ENOTFOUND (absent and !create); LG_EINVAL (group/other permission bits
 * set, not a regular file, not an Ed25519 PEM private key); LG_EIO; LG_ENOMEM.
 * errmsg (LG_ERRMSG_SIZE, may be NULL) says why. */
int lg_sign_key_open(struct lg_sign_key **out, const char *path, bool create, bool *created,
                     char *errmsg);

/* Free the key. NULL is a no-op. */
void lg_sign_key_close(struct lg_sign_key *k);

/* The raw 32-byte public key. */
void lg_sign_public_key(const struct lg_sign_key *k, uint8_t pub[LG_SIGN_PUBLIC_KEY_BYTES]);

/* Ed25519 signature of msg[0..len). Returns LG_OK, LG_ENOMEM or LG_EIO (OpenSSL failed). */
int lg_sign_bytes(const struct lg_sign_key *k, const void *msg, size_t len,
                  uint8_t sig[LG_SIGN_SIGNATURE_BYTES]);

/* Check an Ed25519 signature of msg[0..len) under the raw public key pub.
 * Returns LG_OK (valid); LG_ECORRUPT (invalid signature, or pub is not a valid key);
 * LG_ENOMEM. */
int lg_sign_verify_bytes(const uint8_t pub[LG_SIGN_PUBLIC_KEY_BYTES], const void *msg,
                         size_t len, const uint8_t sig[LG_SIGN_SIGNATURE_BYTES]);

/* A signed digest (field names as on the wire, docs/protocol.md). */
struct lg_sign_digest {
    uint64_t tree_size;
    uint8_t root[LG_SIGN_ROOT_BYTES];
    uint64_t timestamp_us;
    uint64_t node_id;
    uint8_t public_key[LG_SIGN_PUBLIC_KEY_BYTES];
    uint8_t signature[LG_SIGN_SIGNATURE_BYTES];
};

/* Format "ledger-node-digest-v1:<tree_size>:<root hex>:<timestamp>:<node_id>" into
 * out[0..size) with a NUL. Returns its length (without the NUL), always <
 * LG_SIGN_DIGEST_TEXT_MAX; size must be at least LG_SIGN_DIGEST_TEXT_MAX. */
size_t lg_sign_digest_text(char *out, size_t size, uint64_t tree_size,
                           const uint8_t root[LG_SIGN_ROOT_BYTES], uint64_t timestamp_us,
                           uint64_t node_id);

/* Sign d's tree_size, root, timestamp_us and node_id with k: fills d->public_key and
 * d->signature. Returns like lg_sign_bytes. */
int lg_sign_digest(const struct lg_sign_key *k, struct lg_sign_digest *d);

/* Check d->signature over d's fields under d->public_key. The caller decides whether it
 * trusts that key (e.g. it was saved from a known node). Returns like lg_sign_verify_bytes. */
int lg_sign_digest_verify(const struct lg_sign_digest *d);

#endif /* LG_SIGN_H */
