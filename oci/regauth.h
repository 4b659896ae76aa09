/* regauth.h — registry credentials, kept the way docker keeps them:
 * <dir>/config.json, {"auths": {"<registry>": {"auth": base64("user:password")}}}
 * with <dir> = $DOCKER_CONFIG, else ~/.docker. Entries named
 * "https://<registry>" or "http://<registry>[/v1/]" match too. Credential
 * helpers (credsStore, credHelpers) are not run. Nothing here prints a
 * credential; the file is written mode 0600, temp + rename, keeping every
 * other key of it. */
#ifndef SMOLC_REGAUTH_H
#define SMOLC_REGAUTH_H

#include "error.h"

/* $DOCKER_CONFIG, else $HOME/.docker (caller frees; NULL without HOME). */
char *regauth_default_dir(void);

/* Credentials for host: 0 with *user and *pass (caller frees), 1 when
 * there are none, -1 when the file is unreadable or malformed (*err). */
int regauth_get(const char *dir, const char *host, char **user, char **pass, struct error **err);

/* Store credentials for host (replacing an entry of that name). */
int regauth_put(const char *dir, const char *host, const char *user, const char *pass, struct error **err);

#endif
