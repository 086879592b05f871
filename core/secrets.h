/*
 * Credentials at rest: sealing with libsodium's secretbox under the service
 * key, and masking for responses and logs.
 *
 * The key comes from QUARRY_SECRET_KEY (base64 of 32 bytes) or from a key
 * file, generated with mode 0600 on first run when absent.
 */
#ifndef QUARRY_SECRETS_H
#define QUARRY_SECRETS_H

#include <stddef.h>

#include <jansson.h>

struct secrets;

/*
 * `key_b64` (may be NULL/empty) wins; otherwise `key_file` is read, or
 * created with a fresh random key. NULL with a message in `err` on failure
 * (a malformed key, a key file of the wrong size or readable by others).
 */
struct secrets *secrets_open(const char *key_b64, const char *key_file, char *err, size_t errlen);
void secrets_close(struct secrets *secrets);

/* Encrypts `len` bytes; returns a malloc'd blob (nonce + ciphertext) and its size. */
unsigned char *secrets_seal(const struct secrets *secrets, const void *plain, size_t len,
                            size_t *sealed_len);
/* Decrypts; returns a malloc'd NUL-terminated plaintext, or NULL if the blob is forged/corrupt. */
char *secrets_open_blob(const struct secrets *secrets, const unsigned char *sealed,
                        size_t sealed_len, size_t *plain_len);

/*
 * A connection URL with its password replaced by "***":
 * "postgresql://app:s3cret@db:5432/sales" -> "postgresql://app:***@db:5432/sales".
 * Also masks password-like query parameters (password=, pwd=, secret=, token=...).
 * Returns a malloc'd string (never NULL unless out of memory).
 */
char *secrets_mask_url(const char *url);

/* 1 if a connection_params key names a secret (password, sslkey, token, secret, ...). */
int secrets_is_secret_key(const char *key);

/*
 * Splits connection params: returns a new object with secret values replaced
 * by "***" and puts the secret pairs in `*secret_out` (a new object, possibly
 * empty). Nested objects are handled recursively.
 */
json_t *secrets_split_params(json_t *params, json_t **secret_out);

#endif
