/* digest.c — see digest.h. */
#include "digest.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct digest {
	EVP_MD_CTX *ctx;
};

/* The algorithms, fetched once (an implicit fetch per EVP_DigestInit_ex
 * triples the cost of the many small digests a plan makes). OpenSSL is
 * told not to read openssl.cnf: smolc only hashes (content addresses,
 * download checks) and a system config (engines, providers) has nothing to
 * add to that but start-up time. */
static const EVP_MD *alg_md(enum digest_alg alg)
{
	static EVP_MD *md[2];
	int i = alg == DIGEST_SHA256 ? 0 : 1;
	if (!md[i]) {
		static bool inited;
		if (!inited) {
			OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
			inited = true;
		}
		md[i] = EVP_MD_fetch(NULL, i == 0 ? "SHA256" : "SHA512", NULL);
	}
	return md[i];
}

struct digest *digest_new(enum digest_alg alg)
{
	struct digest *d = xcalloc(1, sizeof(*d));
	d->ctx = EVP_MD_CTX_new();
	const EVP_MD *md = alg_md(alg);
	if (!d->ctx || !md || !EVP_DigestInit_ex(d->ctx, md, NULL)) {
		fputs("smolc: OpenSSL digest initialisation failed\n", stderr);
		abort();
	}
	return d;
}

void digest_update(struct digest *d, const void *data, size_t len)
{
	EVP_DigestUpdate(d->ctx, data, len);
}

void digest_update_str(struct digest *d, const char *s)
{
	EVP_DigestUpdate(d->ctx, s, strlen(s) + 1);
}

void digest_final_hex(struct digest *d, char *hex)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	EVP_DigestFinal_ex(d->ctx, md, &n);
	static const char x[] = "0123456789abcdef";
	for (unsigned i = 0; i < n; i++) {
		hex[2 * i] = x[md[i] >> 4];
		hex[2 * i + 1] = x[md[i] & 15];
	}
	hex[2 * n] = 0;
	digest_free(d);
}

void digest_free(struct digest *d)
{
	if (!d)
		return;
	EVP_MD_CTX_free(d->ctx);
	free(d);
}

void sha256_hex(const void *data, size_t len, char hex[65])
{
	struct digest *d = digest_new(DIGEST_SHA256);
	digest_update(d, data, len);
	digest_final_hex(d, hex);
}

int digest_file_hex(enum digest_alg alg, const char *path, char *hex)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct digest *d = digest_new(alg);
	char *buf = xmalloc(1 << 16);
	for (;;) {
		ssize_t r = read(fd, buf, 1 << 16);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			free(buf);
			digest_free(d);
			close(fd);
			errno = e;
			return -1;
		}
		if (r == 0)
			break;
		digest_update(d, buf, (size_t)r);
	}
	free(buf);
	close(fd);
	digest_final_hex(d, hex);
	return 0;
}
