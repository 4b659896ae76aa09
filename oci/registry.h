/* registry.h — a small OCI distribution client (libcurl; JSON with jansson).
 *
 * What it speaks (OCI distribution spec v1.1, as Docker's "distribution"
 * registry and the hosted registries implement it):
 *   GET  /v2/                                   ping (and the auth challenge)
 *   HEAD /v2/<repo>/blobs/<digest>              does the registry have a blob
 *   POST /v2/<repo>/blobs/uploads/[?mount=&from=]  start an upload / mount
 *   PUT  <location>?digest=<d>                  monolithic upload (or close)
 *   PATCH <location>                            one chunk (Content-Range)
 *   GET  /v2/<repo>/blobs/<digest>              download (redirects followed)
 *   GET/PUT /v2/<repo>/manifests/<ref>          manifests
 *
 * Scheme: https, with the system CA store or --ca-cert FILE. Plain http
 * only for localhost, 127.0.0.1 and ::1, or any host with insecure set:
 * then https is tried first and http is used when the server does not
 * speak TLS at all (a certificate that does not verify is an error, never
 * a reason to drop TLS).
 *
 * Authentication: anonymous first; on 401 the WWW-Authenticate challenge
 * decides: Basic (the credentials, over TLS or to a local registry) or
 * Bearer realm=,service=,scope= (a token from the realm, asked with the
 * credentials when there are some; scope repository:<repo>:pull[,push]).
 * Credentials come from regauth.h (~/.docker/config.json auths). They and
 * tokens are never printed, also not with --debug.
 *
 * Integrity: every download is checked against its digest while it
 * streams (sha256); a mismatch is an error and the caller's file is
 * truncated to nothing. Manifests fetched by tag are checked against
 * Docker-Content-Digest when the registry sends one.
 *
 * Retries: transient failures (connection reset, timeouts, HTTP 5xx, 408,
 * 429) are retried `tries` times in all with doubling backoff; uploads and
 * downloads restart from the beginning of the blob. Connection refused,
 * DNS and TLS errors, 4xx fail at once with one line naming the URL.
 *
 * Progress: for blobs, a \r-redrawn line (label, bytes, rate) on `log`
 * when it is a terminal, nothing otherwise.
 *
 * Ownership: struct reg is the caller's (reg_free). Errors: -1 with *err
 * (one line, caller frees). Not thread-safe. */
#ifndef SMOLC_REGISTRY_H
#define SMOLC_REGISTRY_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define OCI_MANIFEST_TYPE "application/vnd.oci.image.manifest.v1+json"
#define OCI_INDEX_TYPE "application/vnd.oci.image.index.v1+json"
#define OCI_EMPTY_TYPE "application/vnd.oci.empty.v1+json"
#define OCI_EMPTY_DIGEST "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
#define DOCKER_MANIFEST_TYPE "application/vnd.docker.distribution.manifest.v2+json"

/* REGISTRY/REPO[:TAG|@sha256:<hex>]. The registry is the first component
 * (it must contain '.' or ':' or be "localhost"); tag defaults to
 * "latest" when no digest is given. */
struct reg_ref {
	char *host;     /* "127.0.0.1:5000", "registry.example.org" */
	char *repo;     /* "smol/hello" */
	char *tag;      /* NULL with a digest */
	char *digest;   /* "sha256:<hex>" or NULL */
};
int reg_ref_parse(const char *s, struct reg_ref *r, struct error **err);
void reg_ref_clear(struct reg_ref *r);
/* "host/repo:tag" or "host/repo@digest" (caller frees). */
char *reg_ref_str(const struct reg_ref *r);

struct reg_opts {
	const char *ca_cert;   /* PEM file of CAs to trust (else the system store) */
	bool insecure;         /* allow plain http for any host */
	FILE *log;             /* progress; NULL = stderr */
	bool quiet;            /* no progress */
	unsigned tries;        /* 0 = 3 */
	unsigned backoff_ms;   /* 0 = 500 */
	uint64_t chunk_size;   /* > 0: upload blobs larger than this in chunks of this size */
	const char *config_dir;/* docker config directory; NULL = regauth_default_dir() */
};

struct reg;

/* A client for one repository of one registry (nothing is sent yet). */
struct reg *reg_new(const char *host, const char *repo, const struct reg_opts *o, struct error **err);
void reg_free(struct reg *r);

/* Use these credentials instead of the docker config's (smolc login). */
void reg_set_credentials(struct reg *r, const char *user, const char *pass);

/* GET /v2/ with authentication: 0 when the registry accepts us. */
int reg_ping(struct reg *r, struct error **err);

/* 1 when the repository has the blob, 0 when not, -1 on error. */
int reg_blob_exists(struct reg *r, const char *digest, struct error **err);

/* Mount a blob from another repository of the same registry: 1 mounted,
 * 0 when the registry would not (the caller uploads), -1 on error. */
int reg_blob_mount(struct reg *r, const char *digest, const char *from_repo, struct error **err);

/* Upload a file / a buffer as the blob `digest` (the caller computed it;
 * the registry checks it too). label names it in progress and errors. */
int reg_blob_put_file(struct reg *r, const char *path, const char *digest, uint64_t size, const char *label,
		      struct error **err);
int reg_blob_put_mem(struct reg *r, const void *data, size_t len, const char *digest, struct error **err);

/* Download the blob into fd (from offset 0, truncated first; all-zero
 * 4 KiB blocks are left as holes when sparse), checking size and digest.
 * On failure fd is truncated to 0. */
int reg_blob_get_fd(struct reg *r, const char *digest, uint64_t size, int fd, bool sparse, const char *label,
		    struct error **err);
/* Download the blob into a stream reader: write() gets the bytes as they
 * arrive (any split; -1 with *err stops the download and is the error);
 * before a retried attempt reset() is called (start over). Size and
 * digest are checked at the end: only a 0 return means the bytes the
 * reader got are the blob. */
typedef int (*reg_stream_fn)(void *ctx, const void *buf, size_t n, struct error **err);
typedef int (*reg_reset_fn)(void *ctx, struct error **err);
int reg_blob_get_stream(struct reg *r, const char *digest, uint64_t size, reg_stream_fn write, reg_reset_fn reset,
			void *ctx, const char *label, struct error **err);
/* Download a small blob (at most max bytes) into memory, checked. */
int reg_blob_get_mem(struct reg *r, const char *digest, size_t max, char **data, size_t *len, struct error **err);

/* PUT a manifest under ref (tag or digest); *digest_out (if non-NULL)
 * gets "sha256:<hex>" of the bytes. */
int reg_manifest_put(struct reg *r, const char *ref, const char *media_type, const char *data, size_t len,
		     char **digest_out, struct error **err);
/* GET a manifest (OCI manifest or index, Docker v2 manifest). *data is
 * NUL-terminated; *media_type and *digest ("sha256:…") are the caller's.
 * Returns 1 (no error) when the registry has no such manifest. */
int reg_manifest_get(struct reg *r, const char *ref, char **data, size_t *len, char **media_type, char **digest,
		     struct error **err);

/* "sha256:<hex>" of a buffer (caller frees). */
char *reg_digest_mem(const void *data, size_t len);
bool reg_digest_valid(const char *digest);

#endif
