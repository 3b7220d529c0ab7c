/* lgt: helpers shared by the test suites (temporary directories, seeded randomness,
 * file surgery for corruption tests). */
#ifndef LGT_H
#define LGT_H

#include <stddef.h>
#include <stdint.h>

#define LGT_PATH_MAX 4096

/* Create a fresh private directory under $TMPDIR (or /tmp) into out; aborts the test on
 * failure. */
void lgt_tmpdir(char out[LGT_PATH_MAX]);

/* Remove a directory tree (chmods read-only files first). Ignores a missing path. */
void lgt_rmtree(const char *path);

/* The test's seed: LG_TEST_SEED from the environment, else drawn from the clock; printed
 * to stderr so a failing run can be replayed. */
uint64_t lgt_seed(void);

/* A small deterministic PRNG (xoshiro-style splitmix64) for tests. */
struct lgt_rng {
    uint64_t state;
};
void lgt_rng_init(struct lgt_rng *r, uint64_t seed);
uint64_t lgt_rng_next(struct lgt_rng *r);
uint64_t lgt_rng_below(struct lgt_rng *r, uint64_t n); /* uniform in [0, n), n > 0 */

/* Read a whole file into a malloc'd buffer (*len set); NULL if it cannot be read. */
uint8_t *lgt_read_file(const char *path, size_t *len);

/* Overwrite bytes / flip one bit / truncate, in place (chmods a read-only file, restores
 * its mode). Abort the test on failure. */
void lgt_write_at(const char *path, uint64_t offset, const void *bytes, size_t n);
void lgt_flip_bit(const char *path, uint64_t offset, unsigned bit);
void lgt_truncate(const char *path, uint64_t size);
uint64_t lgt_file_size(const char *path);

/* Journal test helpers (lib/journal). */

/* A deterministic record body for seq: 1..cap bytes (length and content derived from seq
 * and salt only), written into buf. Returns its length. cap >= 1. */
uint32_t lgt_journal_body(uint64_t seq, uint32_t salt, uint8_t *buf, uint32_t cap);

/* Recompute the body CRC32C and the header CRC32C of the journal record whose header
 * starts at offset in the segment file at path (after a test edited its body or hash),
 * so that only the hash chain can catch the change. Aborts the test on failure. */
void lgt_journal_fix_record_crcs(const char *path, uint64_t offset);

/* Create (or replace) the file at path holding exactly bytes[0..n) (bytes may be NULL
 * when n is 0). Aborts the test on failure. */
void lgt_write_at_create(const char *path, const void *bytes, size_t n);

#endif /* LGT_H */
