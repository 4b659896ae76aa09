/* util.c — see util.h. */
#include "util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int smol_debug_enabled;

void sb_init(struct strbuf *sb)
{
	sb->buf = NULL;
	sb->len = sb->cap = 0;
}

static void sb_grow(struct strbuf *sb, size_t extra)
{
	if (sb->len + extra + 1 > sb->cap) {
		size_t cap = sb->cap ? sb->cap : 64;
		while (cap < sb->len + extra + 1)
			cap *= 2;
		sb->buf = xrealloc(sb->buf, cap);
		sb->cap = cap;
	}
}

void sb_add(struct strbuf *sb, const char *s, size_t n)
{
	sb_grow(sb, n);
	memcpy(sb->buf + sb->len, s, n);
	sb->len += n;
	sb->buf[sb->len] = 0;
}

void sb_adds(struct strbuf *sb, const char *s)
{
	sb_add(sb, s, strlen(s));
}

void sb_addc(struct strbuf *sb, char c)
{
	sb_add(sb, &c, 1);
}

void sb_printf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap, ap2;
	va_start(ap, fmt);
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n > 0) {
		sb_grow(sb, (size_t)n);
		vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
		sb->len += (size_t)n;
	}
	va_end(ap);
}

const char *sb_cstr(struct strbuf *sb)
{
	return sb->buf ? sb->buf : "";
}

char *sb_detach(struct strbuf *sb)
{
	char *p = sb->buf ? sb->buf : xstrdup("");
	/* give back the slack: detached strings live long (the IR holds
	 * tens of thousands), and malloc reuses a shrunk chunk's tail */
	if (sb->buf && sb->cap > sb->len + 1 + 16)
		p = xrealloc(p, sb->len + 1);
	sb_init(sb);
	return p;
}

void sb_reset(struct strbuf *sb)
{
	sb->len = 0;
	if (sb->buf)
		sb->buf[0] = 0;
}

void sb_free(struct strbuf *sb)
{
	free(sb->buf);
	sb_init(sb);
}

void sv_push(struct strvec *sv, char *s)
{
	VEC_GROW(sv->v, sv->n + 1, sv->cap);
	sv->v[sv->n++] = s;
	sv->v[sv->n] = NULL;
}

void sv_pushdup(struct strvec *sv, const char *s)
{
	sv_push(sv, xstrdup(s));
}

void sv_free(struct strvec *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = sv->cap = 0;
}

int read_file(const char *path, size_t max, char **data, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) < 0)
		goto fail;
	if (S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		goto fail;
	}
	size_t cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 4096, n = 0;
	if (S_ISREG(st.st_mode) && (size_t)st.st_size > max) {
		errno = EFBIG;
		goto fail;
	}
	char *buf = xmalloc(cap);
	for (;;) {
		if (n + 1 >= cap) {
			if (S_ISREG(st.st_mode) && n == (size_t)st.st_size) {
				/* read to its stat size: probe for EOF before
				 * doubling a buffer that is exactly right */
				char probe;
				ssize_t r;
				while ((r = read(fd, &probe, 1)) < 0 && errno == EINTR)
					;
				if (r < 0) {
					free(buf);
					goto fail;
				}
				if (r == 0)
					break;
				cap *= 2; /* the file grew while we read it */
				buf = xrealloc(buf, cap);
				buf[n++] = probe;
				if (n > max) {
					free(buf);
					errno = EFBIG;
					goto fail;
				}
				continue; /* make room again before reading on */
			} else {
				cap *= 2;
				buf = xrealloc(buf, cap);
			}
		}
		ssize_t r = read(fd, buf + n, cap - n - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			free(buf);
			goto fail;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			free(buf);
			errno = EFBIG;
			goto fail;
		}
	}
	buf[n] = 0;
	close(fd);
	*data = buf;
	*len = n;
	return 0;
fail:;
	int e = errno;
	close(fd);
	errno = e;
	return -1;
}

static int write_file_renamed(const char *path, const void *data, size_t len, unsigned mode, bool sync)
{
	char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		free(tmp);
		return -1;
	}
	const char *p = data;
	size_t left = len;
	while (left) {
		ssize_t w = write(fd, p, left);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		p += w;
		left -= (size_t)w;
	}
	if (fchmod(fd, mode) < 0 || (sync && fsync(fd) < 0))
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		goto fail;
	free(tmp);
	return 0;
fail:;
	int e = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	free(tmp);
	errno = e;
	return -1;
}

int write_file_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
	return write_file_renamed(path, data, len, mode, true);
}

int write_file_atomic_nosync(const char *path, const void *data, size_t len, unsigned mode)
{
	return write_file_renamed(path, data, len, mode, false);
}

int mkdir_p(const char *path, unsigned mode)
{
	char *p = xstrdup(path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		if (mkdir(p, mode) < 0 && errno != EEXIST) {
			int e = errno;
			free(p);
			errno = e;
			return -1;
		}
		*s = '/';
	}
	int r = mkdir(p, mode);
	int e = errno;
	free(p);
	if (r < 0 && e != EEXIST) {
		errno = e;
		return -1;
	}
	return 0;
}

int remove_tree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlink(path);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	struct dirent *de;
	int rc = 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char *sub = path_join(path, de->d_name);
		if (remove_tree(sub) < 0)
			rc = -1;
		free(sub);
	}
	closedir(d);
	if (rmdir(path) < 0)
		rc = -1;
	return rc;
}

char *path_join(const char *a, const char *b)
{
	if (!a || !*a || b[0] == '/')
		return xstrdup(b);
	size_t la = strlen(a);
	return xasprintf("%s%s%s", a, a[la - 1] == '/' ? "" : "/", b);
}

char *path_dirname(const char *p)
{
	const char *s = strrchr(p, '/');
	if (!s)
		return xstrdup(".");
	if (s == p)
		return xstrdup("/");
	return xstrndup(p, (size_t)(s - p));
}

const char *path_basename(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

bool path_exists(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0;
}

bool str_startswith(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool str_endswith(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

bool str_ieq(const char *a, const char *b)
{
	for (; *a && *b; a++, b++)
		if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
			return false;
	return *a == *b;
}

size_t levenshtein(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 64 || lb > 64)
		return (size_t)-1;
	size_t row[65];
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t prev = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t cur = row[j];
			size_t cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
			size_t best = prev + cost;
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			prev = cur;
		}
	}
	return row[lb];
}

double now_monotonic(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *human_bytes(uint64_t n, char *buf, size_t bufsz)
{
	static const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)n;
	size_t i = 0;
	while (v >= 1024 && i + 1 < ARRAY_LEN(u)) {
		v /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(buf, bufsz, "%llu B", (unsigned long long)n);
	else
		snprintf(buf, bufsz, "%.1f %s", v, u[i]);
	return buf;
}

void debugf(const char *fmt, ...)
{
	if (!smol_debug_enabled)
		return;
	va_list ap;
	va_start(ap, fmt);
	fputs("smolc: debug: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

void fault_point(const char *name)
{
	static unsigned hits;
	const char *f = getenv("SMOLC_FAULT");
	if (!f || !*f)
		return;
	size_t n = strlen(name);
	if (strncmp(f, name, n) || (f[n] && f[n] != '@'))
		return;
	unsigned long want = f[n] == '@' ? strtoul(f + n + 1, NULL, 10) : 1;
	if (++hits >= want)
		kill(getpid(), SIGKILL);
}

size_t utf8_seq(const unsigned char *s)
{
	unsigned char c = s[0];
	size_t n;
	uint32_t cp;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1fu;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0fu;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07u;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3fu);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

void sb_add_shquoted(struct strbuf *sb, const char *s)
{
	sb_addc(sb, '\'');
	for (; *s; s++) {
		if (*s == '\'')
			sb_adds(sb, "'\\''");
		else
			sb_addc(sb, *s);
	}
	sb_addc(sb, '\'');
}

void sb_add_escaped(struct strbuf *sb, const char *str, bool keep_nl)
{
	const unsigned char *s = (const unsigned char *)(str ? str : "");
	while (*s) {
		unsigned char c = *s;
		if (c == '\n' && keep_nl) {
			sb_addc(sb, '\n');
			s++;
			continue;
		}
		if (c < 0x20 || c == 0x7f) {
			const char *e = NULL;
			switch (c) {
			case '\a': e = "\\a"; break;
			case '\b': e = "\\b"; break;
			case '\t': e = "\\t"; break;
			case '\n': e = "\\n"; break;
			case '\v': e = "\\v"; break;
			case '\f': e = "\\f"; break;
			case '\r': e = "\\r"; break;
			default: break;
			}
			if (e)
				sb_adds(sb, e);
			else
				sb_printf(sb, "\\x%02x", c);
			s++;
			continue;
		}
		size_t n = utf8_seq(s);
		if (n == 0) {
			sb_printf(sb, "\\x%02x", c);
			s++;
			continue;
		}
		if (n == 2 && c == 0xc2 && s[1] < 0xa0) { /* C1 control, e.g. CSI */
			sb_printf(sb, "\\x%02x\\x%02x", s[0], s[1]);
			s += 2;
			continue;
		}
		sb_add(sb, (const char *)s, n);
		s += n;
	}
}

char *str_escape(const char *s)
{
	struct strbuf sb;
	sb_init(&sb);
	sb_add_escaped(&sb, s, false);
	return sb_detach(&sb);
}

