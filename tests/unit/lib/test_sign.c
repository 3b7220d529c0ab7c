/* test_sign: the node key and signed digests (lib/sign).
 *
 * Goal: the digest text is exactly "ledger-node-digest-v1:<tree_size>:<root hex>:
 * <timestamp>:<node_id>"; signatures are RFC 8032 Ed25519 (a published test vector);
 * a digest verifies and stops verifying after any change of any field or signature bit;
 * the key file is generated with mode 0600, loaded again with the same public key, and
 * refused when group/other bits are set or when it is not an Ed25519 key; first starts
 * racing on one key file all end with the one key the file holds (none replaces another's).
 *
 * Method: a private key written by the test from the RFC 8032 vector through OpenSSL's own
 * PEM writer; files edited and chmod'ed in a temporary directory. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "lgt.h"
#include "sign.h"

#define PATH_BYTES (LGT_PATH_MAX + 64)

static char dir[LGT_PATH_MAX];
static char keypath[PATH_BYTES];

static void setup(void)
{
    lgt_tmpdir(dir);
    snprintf(keypath, sizeof keypath, "%s/%s", dir, LG_SIGN_KEY_FILE);
}

static void teardown(void)
{
    lgt_rmtree(dir);
}

TestSuite(sign, .init = setup, .fini = teardown);

static void unhex(const char *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        cr_assert_eq(sscanf(s + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
}

Test(sign, digest_text_is_exact)
{
    uint8_t root[32];
    for (unsigned i = 0; i < 32; i++) {
        root[i] = (uint8_t)(i * 8u + 7u);
    }
    char text[LG_SIGN_DIGEST_TEXT_MAX];
    size_t n = lg_sign_digest_text(text, sizeof text, 42, root, 1700000000123456u, 3);
    const char *want = "ledger-node-digest-v1:42:"
                       "070f171f272f373f474f575f676f777f878f979fa7afb7bfc7cfd7dfe7eff7ff"
                       ":1700000000123456:3";
    cr_assert_str_eq(text, want);
    cr_assert_eq(n, strlen(want));
    n = lg_sign_digest_text(text, sizeof text, UINT64_MAX, root, UINT64_MAX, UINT64_MAX);
    cr_assert_eq(n, strlen(text));
    cr_assert_lt(n, LG_SIGN_DIGEST_TEXT_MAX);
    memset(root, 0, sizeof root);
    lg_sign_digest_text(text, sizeof text, 0, root, 0, 0);
    cr_assert_str_eq(text, "ledger-node-digest-v1:0:"
                           "0000000000000000000000000000000000000000000000000000000000000000"
                           ":0:0");
}

/* RFC 8032 §7.1, TEST 1 (empty message). */
static const char *const rfc_secret =
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
static const char *const rfc_public =
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
static const char *const rfc_sig =
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e"
    "39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

static void write_rfc_key(const char *path)
{
    uint8_t sk[32];
    unhex(rfc_secret, sk, 32);
    EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, sk, 32);
    cr_assert_not_null(pkey);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    cr_assert_eq(PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
    EVP_PKEY_free(pkey);
    cr_assert_eq(chmod(path, 0600), 0);
}

Test(sign, rfc8032_vector)
{
    write_rfc_key(keypath);
    struct lg_sign_key *k = NULL;
    char err[LG_ERRMSG_SIZE];
    bool created = true;
    cr_assert_eq(lg_sign_key_open(&k, keypath, false, &created, err), LG_OK, "%s", err);
    cr_assert(!created);
    uint8_t pub[32], want_pub[32], sig[64], want_sig[64];
    lg_sign_public_key(k, pub);
    unhex(rfc_public, want_pub, 32);
    unhex(rfc_sig, want_sig, 64);
    cr_assert(memcmp(pub, want_pub, 32) == 0);
    cr_assert_eq(lg_sign_bytes(k, "", 0, sig), LG_OK);
    cr_assert(memcmp(sig, want_sig, 64) == 0);
    cr_assert_eq(lg_sign_verify_bytes(pub, "", 0, sig), LG_OK);
    cr_assert_eq(lg_sign_verify_bytes(pub, "x", 1, sig), LG_ECORRUPT);
    lg_sign_key_close(k);
}

Test(sign, key_generated_0600_then_loaded)
{
    struct lg_sign_key *k = NULL;
    char err[LG_ERRMSG_SIZE];
    cr_assert_eq(lg_sign_key_open(&k, keypath, false, NULL, err), LG_ENOTFOUND);
    cr_assert_null(k);
    bool created = false;
    cr_assert_eq(lg_sign_key_open(&k, keypath, true, &created, err), LG_OK, "%s", err);
    cr_assert(created);
    struct stat sb;
    cr_assert_eq(stat(keypath, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0600);
    uint8_t pub1[32], pub2[32];
    lg_sign_public_key(k, pub1);
    lg_sign_key_close(k);
    char tmp[PATH_BYTES + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", keypath);
    cr_assert_neq(access(tmp, F_OK), 0, "no temporary file left");

    cr_assert_eq(lg_sign_key_open(&k, keypath, true, &created, err), LG_OK, "%s", err);
    cr_assert(!created);
    lg_sign_public_key(k, pub2);
    cr_assert(memcmp(pub1, pub2, 32) == 0, "same key the second time");
    lg_sign_key_close(k);

    /* a second generated key differs (fresh randomness) */
    char other[PATH_BYTES + 8];
    snprintf(other, sizeof other, "%s/other.key", dir);
    cr_assert_eq(lg_sign_key_open(&k, other, true, NULL, err), LG_OK, "%s", err);
    lg_sign_public_key(k, pub2);
    cr_assert(memcmp(pub1, pub2, 32) != 0);
    lg_sign_key_close(k);
}

/* Processes starting at once on a data directory without a key: each may generate one,
 * but only the first to publish it wins; the others load that key (created false). Before
 * the fix a later rename() replaced the file (two nodes' digests under different keys from
 * one directory) or one starter unlinked another's temporary file (an open error). */
#define RACERS 6
#define RACE_ROUNDS 15

Test(sign, concurrent_first_starts_agree_on_one_key)
{
    for (int round = 0; round < RACE_ROUNDS; round++) {
        char path[PATH_BYTES + 16];
        snprintf(path, sizeof path, "%s/race%d.key", dir, round);
        int go[2];
        int res[2];
        cr_assert_eq(pipe(go), 0);
        cr_assert_eq(pipe(res), 0);
        pid_t kids[RACERS];
        for (int i = 0; i < RACERS; i++) {
            kids[i] = fork();
            cr_assert_geq(kids[i], 0);
            if (kids[i] == 0) {
                close(go[1]);
                char c;
                (void)!read(go[0], &c, 1); /* all start together when the pipe closes */
                uint8_t msg[1 + 32] = {0};
                struct lg_sign_key *k = NULL;
                bool created = false;
                if (lg_sign_key_open(&k, path, true, &created, NULL) == LG_OK) {
                    msg[0] = created ? 2 : 1;
                    lg_sign_public_key(k, msg + 1);
                    lg_sign_key_close(k);
                }
                (void)!write(res[1], msg, sizeof msg);
                _exit(0);
            }
        }
        close(go[0]);
        close(go[1]);
        close(res[1]);
        uint8_t pubs[RACERS][32];
        int creators = 0;
        for (int i = 0; i < RACERS; i++) {
            uint8_t msg[1 + 32];
            cr_assert_eq(read(res[0], msg, sizeof msg), (ssize_t)sizeof msg);
            cr_assert_neq(msg[0], 0, "round %d: a starter failed to open the key", round);
            creators += msg[0] == 2;
            memcpy(pubs[i], msg + 1, 32);
        }
        close(res[0]);
        for (int i = 0; i < RACERS; i++) {
            int st = 0;
            cr_assert_eq(waitpid(kids[i], &st, 0), kids[i]);
        }
        struct lg_sign_key *k = NULL;
        cr_assert_eq(lg_sign_key_open(&k, path, false, NULL, NULL), LG_OK);
        uint8_t file_pub[32];
        lg_sign_public_key(k, file_pub);
        lg_sign_key_close(k);
        cr_assert_eq(creators, 1, "round %d: %d starters say they created the key", round,
                     creators);
        for (int i = 0; i < RACERS; i++) {
            cr_assert(memcmp(pubs[i], file_pub, 32) == 0,
                      "round %d: starter %d signs with a key the file no longer holds", round,
                      i);
        }
    }
}

Test(sign, key_readable_by_others_is_refused)
{
    struct lg_sign_key *k = NULL;
    char err[LG_ERRMSG_SIZE];
    cr_assert_eq(lg_sign_key_open(&k, keypath, true, NULL, err), LG_OK, "%s", err);
    lg_sign_key_close(k);
    static const mode_t bad[] = {0640, 0604, 0660, 0644, 0610, 0601, 0620, 0602};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(chmod(keypath, bad[i]), 0);
        k = NULL;
        cr_assert_eq(lg_sign_key_open(&k, keypath, true, NULL, err), LG_EINVAL, "mode %o",
                     (unsigned)bad[i]);
        cr_assert_null(k);
        cr_assert(strstr(err, "chmod 600") != NULL, "%s", err);
    }
    cr_assert_eq(chmod(keypath, 0400), 0);
    cr_assert_eq(lg_sign_key_open(&k, keypath, true, NULL, err), LG_OK, "%s", err);
    lg_sign_key_close(k);
}

Test(sign, not_a_key_is_refused)
{
    struct lg_sign_key *k = NULL;
    char err[LG_ERRMSG_SIZE];
    lgt_write_at_create(keypath, "hello\n", 6);
    cr_assert_eq(chmod(keypath, 0600), 0);
    cr_assert_eq(lg_sign_key_open(&k, keypath, true, NULL, err), LG_EINVAL);
    /* an EC key is a private key, not an Ed25519 one */
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    cr_assert_not_null(ec);
    FILE *f = fopen(keypath, "w");
    cr_assert_not_null(f);
    cr_assert_eq(PEM_write_PrivateKey(f, ec, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
    EVP_PKEY_free(ec);
    cr_assert_eq(lg_sign_key_open(&k, keypath, true, NULL, err), LG_EINVAL);
    cr_assert_eq(unlink(keypath), 0);
    cr_assert_eq(mkdir(keypath, 0700), 0);
    cr_assert_eq(lg_sign_key_open(&k, keypath, true, NULL, err), LG_EINVAL);
    cr_assert_null(k);
}

Test(sign, digest_fails_after_any_change)
{
    struct lg_sign_key *k = NULL;
    char err[LG_ERRMSG_SIZE];
    cr_assert_eq(lg_sign_key_open(&k, keypath, true, NULL, err), LG_OK, "%s", err);
    struct lg_sign_digest d;
    memset(&d, 0, sizeof d);
    d.tree_size = 1000;
    for (unsigned i = 0; i < 32; i++) {
        d.root[i] = (uint8_t)(i * 31u);
    }
    d.timestamp_us = 1763900000000000u;
    d.node_id = 2;
    cr_assert_eq(lg_sign_digest(k, &d), LG_OK);
    uint8_t pub[32];
    lg_sign_public_key(k, pub);
    cr_assert(memcmp(d.public_key, pub, 32) == 0);
    cr_assert_eq(lg_sign_digest_verify(&d), LG_OK);
    char text[LG_SIGN_DIGEST_TEXT_MAX];
    size_t n = lg_sign_digest_text(text, sizeof text, d.tree_size, d.root, d.timestamp_us,
                                   d.node_id);
    cr_assert_eq(lg_sign_verify_bytes(pub, text, n, d.signature), LG_OK);

    struct lg_sign_digest e = d;
    e.tree_size++;
    cr_assert_eq(lg_sign_digest_verify(&e), LG_ECORRUPT);
    e = d;
    e.timestamp_us--;
    cr_assert_eq(lg_sign_digest_verify(&e), LG_ECORRUPT);
    e = d;
    e.node_id = 3;
    cr_assert_eq(lg_sign_digest_verify(&e), LG_ECORRUPT);
    for (unsigned i = 0; i < 32 * 8; i++) {
        e = d;
        e.root[i / 8] ^= (uint8_t)(1u << (i % 8));
        cr_assert_eq(lg_sign_digest_verify(&e), LG_ECORRUPT, "root bit %u", i);
        e = d;
        e.public_key[i / 8] ^= (uint8_t)(1u << (i % 8));
        cr_assert_eq(lg_sign_digest_verify(&e), LG_ECORRUPT, "key bit %u", i);
    }
    for (unsigned i = 0; i < 64 * 8; i++) {
        e = d;
        e.signature[i / 8] ^= (uint8_t)(1u << (i % 8));
        cr_assert_eq(lg_sign_digest_verify(&e), LG_ECORRUPT, "signature bit %u", i);
    }
    /* another node's key over the same fields */
    char other[PATH_BYTES + 8];
    snprintf(other, sizeof other, "%s/other.key", dir);
    struct lg_sign_key *k2 = NULL;
    cr_assert_eq(lg_sign_key_open(&k2, other, true, NULL, err), LG_OK, "%s", err);
    e = d;
    cr_assert_eq(lg_sign_digest(k2, &e), LG_OK);
    memcpy(e.public_key, d.public_key, 32);
    cr_assert_eq(lg_sign_digest_verify(&e), LG_ECORRUPT);
    lg_sign_key_close(k2);
    lg_sign_key_close(k);
}
