/* digest.h — SHA-256 / SHA-512 through OpenSSL's EVP interface. */
#ifndef SMOLC_DIGEST_H
#define SMOLC_DIGEST_H

#include <stddef.h>
#include <stdint.h>

enum digest_alg { DIGEST_SHA256, DIGEST_SHA512 };

struct digest;                                   /* opaque streaming context */
struct digest *digest_new(enum digest_alg alg);
void digest_update(struct digest *d, const void *data, size_t len);
void digest_update_str(struct digest *d, const char *s); /* includes a trailing NUL as separator */
/* Finish into hex (lowercase, NUL-terminated). hex must hold 129 bytes.
 * The context is freed. */
void digest_final_hex(struct digest *d, char *hex);
void digest_free(struct digest *d);

/* One-shot helpers. hex must hold 65 (sha256) / 129 (sha512) bytes. */
void sha256_hex(const void *data, size_t len, char hex[65]);
/* Digest a file's content; returns 0 or -1 with errno set. */
int digest_file_hex(enum digest_alg alg, const char *path, char *hex);

#endif
