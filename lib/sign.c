/* sign: Ed25519 node key and digest signatures over OpenSSL 3 EVP (see sign.h). */
#include "sign.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "assert.h"

/* A PEM Ed25519 private key is about 120 bytes; anything much larger is not one. */
#define SIGN_KEY_FILE_BYTES_MAX 4096u
#define SIGN_PATH_BYTES_MAX 4096u

struct lg_sign_key {
    EVP_PKEY *pkey;
    uint8_t pub[LG_SIGN_PUBLIC_KEY_BYTES];
};

/* Never prompt for a passphrase: an encrypted key file is refused. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return 0;
}

static int key_from_pem(struct lg_sign_key **out, const uint8_t *pem, size_t len,
                        const char *path, char *errmsg)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL) {
        return lg_errmsg_printf(errmsg, LG_ENOMEM, "key %s: out of memory", path);
    }
    EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
    BIO_free(bio);
    if (pkey == NULL || !EVP_PKEY_is_a(pkey, "ED25519")) {
        EVP_PKEY_free(pkey);
        return lg_errmsg_printf(errmsg, LG_EINVAL,
                                "key %s: not an unencrypted Ed25519 private key (PEM)", path);
    }
    struct lg_sign_key *k = calloc(1, sizeof *k);
    size_t plen = LG_SIGN_PUBLIC_KEY_BYTES;
    if (k == NULL || EVP_PKEY_get_raw_public_key(pkey, k->pub, &plen) != 1 ||
        plen != LG_SIGN_PUBLIC_KEY_BYTES) {
        free(k);
        EVP_PKEY_free(pkey);
        return lg_errmsg_printf(errmsg, LG_ENOMEM, "key %s: public key", path);
    }
    k->pkey = pkey;
    *out = k;
    return LG_OK;
}

static int key_load(struct lg_sign_key **out, const char *path, char *errmsg)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        int e = errno;
        return lg_errmsg_printf(errmsg, e == ENOENT ? LG_ENOTFOUND : LG_EIO, "key %s: %s",
                                path, strerror(e));
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return lg_errmsg_printf(errmsg, LG_EIO, "key %s: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return lg_errmsg_printf(errmsg, LG_EINVAL, "key %s: not a regular file", path);
    }
    if ((sb.st_mode & 077) != 0) {
        close(fd);
        return lg_errmsg_printf(errmsg, LG_EINVAL,
                                "key %s is accessible by group or others (mode %03o): "
                                "chmod 600 it",
                                path, (unsigned)(sb.st_mode & 0777));
    }
    if (sb.st_size <= 0 || (uint64_t)sb.st_size > SIGN_KEY_FILE_BYTES_MAX) {
        close(fd);
        return lg_errmsg_printf(errmsg, LG_EINVAL, "key %s: %lld bytes is not a key file",
                                path, (long long)sb.st_size);
    }
    uint8_t buf[SIGN_KEY_FILE_BYTES_MAX];
    size_t len = 0;
    while (len < (size_t)sb.st_size) {
        ssize_t r = read(fd, buf + len, (size_t)sb.st_size - len);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            break;
        }
        len += (size_t)r;
    }
    close(fd);
    int rc = len == (size_t)sb.st_size
                 ? key_from_pem(out, buf, len, path, errmsg)
                 : lg_errmsg_printf(errmsg, LG_EIO, "key %s: short read", path);
    OPENSSL_cleanse(buf, sizeof buf);
    return rc;
}

static int write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* fsync the directory holding path. */
static int sync_parent(const char *path)
{
    char dir[SIGN_PATH_BYTES_MAX];
    int n = snprintf(dir, sizeof dir, "%s", path);
    if (n < 0 || (size_t)n >= sizeof dir) {
        return -1;
    }
    char *slash = strrchr(dir, '/');
    if (slash == NULL) {
        dir[0] = '.';
        dir[1] = '\0';
    } else if (slash == dir) {
        dir[1] = '\0';
    } else {
        *slash = '\0';
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* Generate a key and write it to path: a temporary file of its own (path.tmp.XXXXXX, 0600,
 * a unique name so concurrent first starts never touch each other's file), fsync, then
 * link() to path, which never replaces an existing file, then unlink of the temporary name
 * and fsync of the directory. *raced is set when path existed by then (another process
 * created the key first): that key is the node's and the caller loads it. */
static int key_create(const char *path, bool *raced, char *errmsg)
{
    *raced = false;
    char tmp[SIGN_PATH_BYTES_MAX];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        return lg_errmsg_printf(errmsg, LG_EINVAL, "key path too long");
    }
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (pkey == NULL) {
        return lg_errmsg_printf(errmsg, LG_EIO, "key %s: Ed25519 key generation failed", path);
    }
    BIO *bio = BIO_new(BIO_s_mem());
    int ok = bio != NULL &&
             PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) == 1;
    EVP_PKEY_free(pkey);
    char *pem = NULL;
    long pem_len = ok ? BIO_get_mem_data(bio, &pem) : 0;
    if (!ok || pem == NULL || pem_len <= 0) {
        BIO_free(bio);
        return lg_errmsg_printf(errmsg, LG_ENOMEM, "key %s: encoding the key", path);
    }
    int fd = mkostemp(tmp, O_CLOEXEC); /* mode 0600, O_EXCL */
    int rc = LG_OK;
    if (fd < 0) {
        rc = lg_errmsg_printf(errmsg, LG_EIO, "key %s: %s", tmp, strerror(errno));
    } else {
        if (fchmod(fd, 0600) != 0 || write_all(fd, pem, (size_t)pem_len) != 0 ||
            fsync(fd) != 0) {
            rc = lg_errmsg_printf(errmsg, LG_EIO, "key %s: %s", tmp, strerror(errno));
        }
        close(fd);
        if (rc == LG_OK && link(tmp, path) != 0) {
            if (errno == EEXIST) {
                *raced = true;
            } else {
                rc = lg_errmsg_printf(errmsg, LG_EIO, "key %s: link: %s", path,
                                      strerror(errno));
            }
        }
        (void)unlink(tmp);
        if (rc == LG_OK && !*raced && sync_parent(path) != 0) {
            rc = lg_errmsg_printf(errmsg, LG_EIO, "key %s: fsync of its directory: %s", path,
                                  strerror(errno));
        }
    }
    OPENSSL_cleanse(pem, (size_t)pem_len);
    BIO_free(bio);
    return rc;
}

int lg_sign_key_open(struct lg_sign_key **out, const char *path, bool create, bool *created,
                     char *errmsg)
{
    LG_PRE(out != NULL && path != NULL);
    char scratch[LG_ERRMSG_SIZE];
    if (errmsg == NULL) {
        errmsg = scratch;
    }
    errmsg[0] = '\0';
    *out = NULL;
    if (created != NULL) {
        *created = false;
    }
    int rc = key_load(out, path, errmsg);
    if (rc != LG_ENOTFOUND || !create) {
        return rc;
    }
    bool raced = false;
    rc = key_create(path, &raced, errmsg);
    if (rc != LG_OK) {
        return rc;
    }
    if (created != NULL) {
        *created = !raced;
    }
    return key_load(out, path, errmsg);
}

void lg_sign_key_close(struct lg_sign_key *k)
{
    if (k == NULL) {
        return;
    }
    EVP_PKEY_free(k->pkey);
    free(k);
}

void lg_sign_public_key(const struct lg_sign_key *k, uint8_t pub[LG_SIGN_PUBLIC_KEY_BYTES])
{
    LG_PRE(k != NULL && pub != NULL);
    memcpy(pub, k->pub, LG_SIGN_PUBLIC_KEY_BYTES);
}

int lg_sign_bytes(const struct lg_sign_key *k, const void *msg, size_t len,
                  uint8_t sig[LG_SIGN_SIGNATURE_BYTES])
{
    LG_PRE(k != NULL && sig != NULL && (msg != NULL || len == 0));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return LG_ENOMEM;
    }
    size_t slen = LG_SIGN_SIGNATURE_BYTES;
    int ok = EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pkey) == 1 &&
             EVP_DigestSign(ctx, sig, &slen, msg, len) == 1 && slen == LG_SIGN_SIGNATURE_BYTES;
    EVP_MD_CTX_free(ctx);
    return ok ? LG_OK : LG_EIO;
}

int lg_sign_verify_bytes(const uint8_t pub[LG_SIGN_PUBLIC_KEY_BYTES], const void *msg,
                         size_t len, const uint8_t sig[LG_SIGN_SIGNATURE_BYTES])
{
    LG_PRE(pub != NULL && sig != NULL && (msg != NULL || len == 0));
    EVP_PKEY *pkey =
        EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, LG_SIGN_PUBLIC_KEY_BYTES);
    if (pkey == NULL) {
        return LG_ECORRUPT;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        EVP_PKEY_free(pkey);
        return LG_ENOMEM;
    }
    int ok = EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) == 1 &&
             EVP_DigestVerify(ctx, sig, LG_SIGN_SIGNATURE_BYTES, msg, len) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    return ok ? LG_OK : LG_ECORRUPT;
}

size_t lg_sign_digest_text(char *out, size_t size, uint64_t tree_size,
                           const uint8_t root[LG_SIGN_ROOT_BYTES], uint64_t timestamp_us,
                           uint64_t node_id)
{
    LG_PRE(out != NULL && root != NULL);
    LG_PRE(size >= LG_SIGN_DIGEST_TEXT_MAX);
    static const char hexdig[] = "0123456789abcdef";
    char hex[2 * LG_SIGN_ROOT_BYTES + 1];
    for (unsigned i = 0; i < LG_SIGN_ROOT_BYTES; i++) {
        hex[2 * i] = hexdig[root[i] >> 4];
        hex[2 * i + 1] = hexdig[root[i] & 15u];
    }
    hex[2 * LG_SIGN_ROOT_BYTES] = '\0';
    int n = snprintf(out, size, "%s:%" PRIu64 ":%s:%" PRIu64 ":%" PRIu64, LG_SIGN_DIGEST_PREFIX,
                     tree_size, hex, timestamp_us, node_id);
    LG_ASSERT(n > 0 && (size_t)n < LG_SIGN_DIGEST_TEXT_MAX);
    return (size_t)n;
}

int lg_sign_digest(const struct lg_sign_key *k, struct lg_sign_digest *d)
{
    LG_PRE(k != NULL && d != NULL);
    char text[LG_SIGN_DIGEST_TEXT_MAX];
    size_t n = lg_sign_digest_text(text, sizeof text, d->tree_size, d->root, d->timestamp_us,
                                   d->node_id);
    memcpy(d->public_key, k->pub, LG_SIGN_PUBLIC_KEY_BYTES);
    return lg_sign_bytes(k, text, n, d->signature);
}

int lg_sign_digest_verify(const struct lg_sign_digest *d)
{
    LG_PRE(d != NULL);
    char text[LG_SIGN_DIGEST_TEXT_MAX];
    size_t n = lg_sign_digest_text(text, sizeof text, d->tree_size, d->root, d->timestamp_us,
                                   d->node_id);
    return lg_sign_verify_bytes(d->public_key, text, n, d->signature);
}
