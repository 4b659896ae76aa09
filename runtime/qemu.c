/* qemu.c — QEMU argument vector from a run config (see qemu.h).
 *
 * Device naming is fixed (hd0, net0, fsN, con0) so --dry-run output is
 * stable and tests can compare it verbatim. Devices are virtio-mmio
 * (`-device virtio-*-device`) on microvm, virtio-pci on virt. */
#include "qemu.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

const char *qemu_binary_name(const char *arch)
{
	if (arch && !strcmp(arch, "i386"))
		return "qemu-system-i386";
	if (arch && !strcmp(arch, "evbarm-aarch64"))
		return "qemu-system-aarch64";
	return "qemu-system-x86_64";
}

const char *qemu_debian_package(const char *arch)
{
	if (arch && !strcmp(arch, "evbarm-aarch64"))
		return "qemu-system-arm";
	return "qemu-system-x86";
}

char *qemu_find_binary(const char *name)
{
	if (strchr(name, '/'))
		return access(name, X_OK) == 0 ? xstrdup(name) : NULL;
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	const char *p = path;
	for (;;) {
		const char *colon = strchr(p, ':');
		size_t n = colon ? (size_t)(colon - p) : strlen(p);
		char *dir = n ? xstrndup(p, n) : xstrdup(".");
		char *full = path_join(dir, name);
		free(dir);
		if (access(full, X_OK) == 0)
			return full;
		free(full);
		if (!colon)
			return NULL;
		p = colon + 1;
	}
}

const char *qemu_machine_options(const char *profile)
{
	static const struct {
		const char *profile, *microvm;
	} machines[] = {
		{"netbsd", "microvm,rtc=on,acpi=off,pic=off"},
		{"linux", "microvm,rtc=on,acpi=on,pic=on"},
	};
	for (size_t i = 0; profile && i < ARRAY_LEN(machines); i++)
		if (!strcmp(profile, machines[i].profile))
			return machines[i].microvm;
	return machines[0].microvm;
}

/* The first "<key> : <number>" line of a /proc-style file, scaled. */
static unsigned read_khz(const char *path, const char *key, double scale)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	char line[256];
	double v = 0;
	size_t kl = key ? strlen(key) : 0;
	while (fgets(line, sizeof(line), f)) {
		const char *p = line;
		if (key) {
			if (strncmp(line, key, kl))
				continue;
			p = strchr(line + kl, ':');
			if (!p)
				continue;
			p++;
		}
		char *end;
		errno = 0;
		v = strtod(p, &end);
		if (end == p || errno)
			v = 0;
		break;
	}
	fclose(f);
	v *= scale;
	return v >= 1000 && v < 100e6 ? (unsigned)(v + 0.5) : 0;
}

unsigned qemu_host_tsc_khz(void)
{
	unsigned khz = read_khz("/sys/devices/system/cpu/cpu0/tsc_freq_khz", NULL, 1);
	return khz ? khz : read_khz("/proc/cpuinfo", "cpu MHz", 1000);
}

/* QEMU option values: ',' must be written ",,". */
static char *opt_escape(const char *s)
{
	struct strbuf sb;
	sb_init(&sb);
	for (; *s; s++) {
		if (*s == ',')
			sb_addc(&sb, ',');
		sb_addc(&sb, *s);
	}
	sb_cstr(&sb);
	return sb_detach(&sb);
}

static void add(struct strvec *v, const char *s)
{
	sv_pushdup(v, s);
}

static void add2(struct strvec *v, const char *a, const char *b)
{
	sv_pushdup(v, a);
	sv_pushdup(v, b);
}

static void add_port(struct strbuf *net, const struct runconf_port *p)
{
	bool v6 = strchr(p->host_addr, ':') != NULL;
	sb_printf(net, ",hostfwd=%s:%s%s%s:%u-:%u", p->proto == RUNCONF_UDP ? "udp" : "tcp",
		  v6 ? "[" : "", p->host_addr, v6 ? "]" : "", p->host_port, p->guest_port);
}

static void add_share(struct strvec *v, const struct runconf *rc, const struct runconf_share *s,
		      size_t idx, bool pci)
{
	char *host = runconf_resolve(rc, s->host_path);
	char *esc = opt_escape(host);
	char *tag = opt_escape(s->tag);
	add(v, "-fsdev");
	sv_push(v, xasprintf("local,id=fs%zu,path=%s,security_model=none%s", idx, esc,
			     s->readonly ? ",readonly=on" : ""));
	add(v, "-device");
	sv_push(v, xasprintf("%s,fsdev=fs%zu,mount_tag=%s", pci ? "virtio-9p-pci" : "virtio-9p-device",
			     idx, tag));
	free(tag);
	free(esc);
	free(host);
}

/* The chardev backend of a console spec for viocon ("stdio" → "stdio,
 * id=con0,..."); NULL for "none". -1 with *err on a bad spec. */
static int viocon_chardev(const char *console, char **out, struct error **err)
{
	*out = NULL;
	if (!strcmp(console, "stdio")) {
		*out = xstrdup("stdio,id=con0,mux=on,signal=on");
	} else if (!strcmp(console, "pty")) {
		*out = xstrdup("pty,id=con0");
	} else if (!strcmp(console, "none")) {
		return 0;
	} else if (str_startswith(console, "tcp:")) {
		char *end;
		errno = 0;
		unsigned long port = strtoul(console + 4, &end, 10);
		if (!console[4] || *end || errno || port == 0 || port > 65535) {
			error_set(err, "--console %s: expected tcp:PORT with PORT from 1 to 65535", console);
			return -1;
		}
		*out = xasprintf("socket,id=con0,host=127.0.0.1,port=%lu,server=on,wait=off", port);
	} else if (str_startswith(console, "file:") && console[5]) {
		char *esc = opt_escape(console + 5);
		*out = xasprintf("file,id=con0,path=%s", esc);
		free(esc);
	} else {
		error_set(err, "--console %s: expected stdio, pty, none, tcp:PORT or file:PATH", console);
		return -1;
	}
	return 0;
}

static int add_console(struct strvec *v, const char *console, struct error **err)
{
	if (!strcmp(console, "stdio")) {
		add2(v, "-serial", "mon:stdio");
	} else if (!strcmp(console, "pty")) {
		add2(v, "-serial", "pty");
	} else if (!strcmp(console, "none")) {
		add2(v, "-serial", "none");
	} else if (str_startswith(console, "tcp:")) {
		char *end;
		errno = 0;
		unsigned long port = strtoul(console + 4, &end, 10);
		if (!console[4] || *end || errno || port == 0 || port > 65535) {
			error_set(err, "--console %s: expected tcp:PORT with PORT from 1 to 65535", console);
			return -1;
		}
		add(v, "-serial");
		sv_push(v, xasprintf("tcp:127.0.0.1:%lu,server=on,wait=off", port));
	} else if (str_startswith(console, "file:") && console[5]) {
		char *esc = opt_escape(console + 5);
		add(v, "-chardev");
		sv_push(v, xasprintf("file,id=con0,path=%s", esc));
		add2(v, "-serial", "chardev:con0");
		free(esc);
	} else {
		error_set(err, "--console %s: expected stdio, pty, none, tcp:PORT or file:PATH", console);
		return -1;
	}
	return 0;
}

int qemu_build_argv(const struct runconf *rc, const struct qemu_opts *o,
		    struct strvec *argv, struct error **err)
{
	bool arm = !strcmp(rc->arch, "evbarm-aarch64");
	bool pci = arm || !strcmp(runconf_machine(rc), "virt");
	bool kvm = o->accel == ACCEL_KVM;
	bool hw = o->accel != ACCEL_TCG;

	add(argv, o->binary ? o->binary : qemu_binary_name(rc->arch));
	add(argv, "-nodefaults");
	add(argv, "-no-user-config");
	add(argv, "-M");
	if (!strcmp(runconf_machine(rc), "microvm"))
		add(argv, qemu_machine_options(runconf_profile(rc)));
	else
		add(argv, arm ? (kvm ? "virt,highmem=off,gic-version=host" : "virt,highmem=off,gic-version=3")
			      : "virt");
	if (o->bios_workaround && !pci)
		add2(argv, "-bios", "bios-microvm.bin");
	add2(argv, "-accel", accel_name(o->accel));
	add(argv, "-cpu");
	if (arm)
		add(argv, hw ? "host" : "max");
	else if (hw)
		add(argv, "host,+invtsc");
	else
		add(argv, !strcmp(rc->arch, "i386") ? "qemu32" : "qemu64");
	add(argv, "-m");
	sv_push(argv, xasprintf("%u", o->memory_mib ? o->memory_mib : runconf_memory(rc)));
	add(argv, "-smp");
	sv_push(argv, xasprintf("%u", o->cpus ? o->cpus : runconf_cpus(rc)));

	add(argv, "-kernel");
	sv_push(argv, runconf_resolve(rc, rc->kernel));
	if (o->initrd && *o->initrd) {
		add2(argv, "-initrd", o->initrd);
	} else if (rc->initrd) {
		add(argv, "-initrd");
		sv_push(argv, runconf_resolve(rc, rc->initrd));
	}
	const char *condev = o->console_device ? o->console_device : rc->console_device ? rc->console_device : "com";
	bool viocon = !strcmp(condev, "viocon");
	char *cmdline = runconf_cmdline(rc);
	if (viocon) {
		/* the NetBSD kernel's console: console=com → console=viocon */
		char *c = strstr(cmdline, "console=com");
		if (c && (c == cmdline || c[-1] == ' ') && (c[11] == ' ' || !c[11])) {
			char *n = xasprintf("%.*sconsole=viocon%s", (int)(c - cmdline), cmdline, c + 11);
			free(cmdline);
			cmdline = n;
		}
	}
	struct strbuf cl;
	sb_init(&cl);
	sb_adds(&cl, cmdline);
	free(cmdline);
	if (o->extra_append && *o->extra_append)
		sb_printf(&cl, " %s", o->extra_append);
	/* Linux under TCG: the host's TSC frequency, so the guest need not
	 * calibrate it against the emulated PIT (see qemu.h) */
	if (!hw && !arm && !strcmp(runconf_profile(rc), "linux") && !strstr(sb_cstr(&cl), "tsc_early_khz=")) {
		unsigned khz = o->tsc_khz ? o->tsc_khz : qemu_host_tsc_khz();
		if (khz)
			sb_printf(&cl, " tsc_early_khz=%u", khz);
	}
	add(argv, "-append");
	sv_push(argv, sb_detach(&cl));

	char *img = runconf_resolve(rc, rc->image);
	char *img_esc = opt_escape(img);
	add(argv, "-drive");
	sv_push(argv, xasprintf("if=none,file=%s,format=raw,id=hd0%s", img_esc,
				rc->readonly ? ",readonly=on" : o->snapshot ? ",snapshot=on" : ""));
	free(img_esc);
	free(img);
	const char *blk = pci ? "virtio-blk-pci" : "virtio-blk-device";
	add(argv, "-device");
	sv_push(argv, xasprintf("%s,drive=hd0%s", blk, rc->share_rw ? ",share-rw=on" : ""));
	for (size_t i = 0; i < rc->ndrives; i++) {
		char *dp = runconf_resolve(rc, rc->drives[i].path);
		char *de = opt_escape(dp);
		add(argv, "-drive");
		sv_push(argv, xasprintf("if=none,file=%s,format=raw,id=hd%zu%s", de, i + 1,
					rc->drives[i].readonly ? ",readonly=on" : ""));
		add(argv, "-device");
		sv_push(argv, xasprintf("%s,drive=hd%zu", blk, i + 1));
		free(de);
		free(dp);
	}

	const char *nic = pci ? "virtio-net-pci" : "virtio-net-device";
	/* a builder VM without --network: -nic none; --no-network: no device
	 * at all (-nodefaults gives none) */
	if (o->no_network) {
		add2(argv, "-nic", "none");
	} else if (!rc->no_network) {
		struct strbuf net;
		sb_init(&net);
		sb_adds(&net, "user,id=net0,ipv6=off");
		for (size_t i = 0; i < rc->nports; i++)
			add_port(&net, &rc->ports[i]);
		for (size_t i = 0; i < o->nports; i++)
			add_port(&net, &o->ports[i]);
		add(argv, "-netdev");
		sv_push(argv, sb_detach(&net));
		add(argv, "-device");
		sv_push(argv, xasprintf("%s,netdev=net0", nic));
	}
	if (rc->bridge && !o->no_network) {
		char *br = opt_escape(rc->bridge);
		add(argv, "-netdev");
		sv_push(argv, xasprintf("bridge,id=net1,br=%s", br));
		add(argv, "-device");
		sv_push(argv, xasprintf("%s,netdev=net1", nic));
		free(br);
	}

	size_t fs = 0;
	for (size_t i = 0; i < rc->nshares; i++) {
		/* a --share with the same mount tag replaces the config's share */
		bool overridden = false;
		for (size_t k = 0; k < o->nshares && !overridden; k++)
			overridden = !strcmp(o->shares[k].tag, rc->shares[i].tag);
		if (!overridden)
			add_share(argv, rc, &rc->shares[i], fs++, pci);
	}
	for (size_t i = 0; i < o->nshares; i++)
		add_share(argv, rc, &o->shares[i], fs++, pci);
	if (arm)
		add2(argv, "-device", "virtio-rng-pci");

	add2(argv, "-global", "virtio-mmio.force-legacy=false");
	add2(argv, "-display", "none");
	/* No ACPI power-off on microvm: the guest's halt/poweroff is a reset,
	 * which -no-reboot turns into a QEMU exit. */
	add(argv, "-no-reboot");
	add2(argv, "-rtc", "base=utc,clock=host,driftfix=slew");
	const char *console = o->console ? o->console : runconf_console(rc);
	if (viocon || rc->console_ports) {
		const char *serial = pci ? "virtio-serial-pci" : "virtio-serial-device";
		add(argv, "-device");
		sv_push(argv, xasprintf("%s,max_ports=%u", serial, rc->console_ports + (viocon ? 1 : 0)));
	}
	if (viocon) {
		char *cd = NULL;
		if (viocon_chardev(console, &cd, err) < 0)
			goto fail;
		if (cd) {
			add(argv, "-chardev");
			sv_push(argv, cd);
			add2(argv, "-device", "virtconsole,chardev=con0,name=con0");
		}
		add2(argv, "-serial", "none");
	} else if (add_console(argv, console, err) < 0) {
		goto fail;
	}
	for (unsigned k = 1; k <= rc->console_ports; k++) {
		add(argv, "-chardev");
		sv_push(argv, xasprintf("socket,path=cons%u.sock,server=on,wait=off,id=cons%u", k, k));
		add(argv, "-device");
		sv_push(argv, xasprintf("virtconsole,chardev=cons%u,name=cons%u", k, k));
	}
	for (size_t i = 0; i < rc->nfwcfg; i++) {
		const struct runconf_fwcfg *f = &rc->fwcfg[i];
		char *val = f->is_file ? runconf_resolve(rc, f->value) : xstrdup(f->value);
		char *esc = opt_escape(val);
		add(argv, "-fw_cfg");
		sv_push(argv, xasprintf("opt/org.smolbsd.%s.%s,%s=%s", f->is_file ? "file" : "var", f->name,
					f->is_file ? "file" : "string", esc));
		free(esc);
		free(val);
	}
	if (o->pidfile)
		add2(argv, "-pidfile", o->pidfile);
	if (o->qmp_socket) {
		char *q = opt_escape(o->qmp_socket);
		add(argv, "-qmp");
		sv_push(argv, xasprintf("unix:%s,server=on,wait=off", q));
		free(q);
	}
	if (o->daemonize)
		add(argv, "-daemonize");
	for (size_t i = 0; i < rc->qemu_args.n; i++)
		add(argv, rc->qemu_args.v[i]);
	return 0;
fail:
	sv_free(argv);
	return -1;
}

/* Find the section named `want` via the section-header string table. */
#define ELF_LIMIT (16u << 20)

static bool read_at(int fd, void *buf, size_t n, off_t off)
{
	return pread(fd, buf, n, off) == (ssize_t)n;
}

/* Scan [off, off+size) of fd for the NUL-terminated name. */
static bool strtab_has(int fd, uint64_t off, uint64_t size, const char *name)
{
	if (size == 0 || size > ELF_LIMIT)
		return false;
	char *buf = xmalloc((size_t)size + 1);
	bool found = false;
	if (read_at(fd, buf, (size_t)size, (off_t)off)) {
		buf[size] = 0;
		size_t nl = strlen(name);
		for (size_t i = 0; i + nl < size + 1 && !found; i += strlen(buf + i) + 1)
			found = !strcmp(buf + i, name);
	}
	free(buf);
	return found;
}

/* Section header i of a little-endian ELF file of either class: its type,
 * link, offset and size. false when it cannot be read. */
static bool shdr_at(int fd, bool is64, uint64_t shoff, unsigned i, uint32_t *type, uint32_t *link, uint64_t *off,
		    uint64_t *size)
{
	if (is64) {
		Elf64_Shdr sh;
		if (!read_at(fd, &sh, sizeof(sh), (off_t)(shoff + (uint64_t)i * sizeof(sh))))
			return false;
		*type = sh.sh_type, *link = sh.sh_link, *off = sh.sh_offset, *size = sh.sh_size;
	} else {
		Elf32_Shdr sh;
		if (!read_at(fd, &sh, sizeof(sh), (off_t)(shoff + (uint64_t)i * sizeof(sh))))
			return false;
		*type = sh.sh_type, *link = sh.sh_link, *off = sh.sh_offset, *size = sh.sh_size;
	}
	return true;
}

bool qemu_kernel_has_viocon(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	bool found = false;
	unsigned char id[EI_NIDENT];
	if (!read_at(fd, id, sizeof(id), 0) || memcmp(id, ELFMAG, SELFMAG) || id[EI_DATA] != ELFDATA2LSB ||
	    (id[EI_CLASS] != ELFCLASS64 && id[EI_CLASS] != ELFCLASS32))
		goto out;
	bool is64 = id[EI_CLASS] == ELFCLASS64;
	uint64_t shoff;
	unsigned shnum;
	if (is64) {
		Elf64_Ehdr eh;
		if (!read_at(fd, &eh, sizeof(eh), 0) || eh.e_shentsize != sizeof(Elf64_Shdr))
			goto out;
		shoff = eh.e_shoff, shnum = eh.e_shnum;
	} else {
		Elf32_Ehdr eh;
		if (!read_at(fd, &eh, sizeof(eh), 0) || eh.e_shentsize != sizeof(Elf32_Shdr))
			goto out;
		shoff = eh.e_shoff, shnum = eh.e_shnum;
	}
	if (shnum > 4096)
		goto out;
	/* the string tables linked from SHT_SYMTAB / SHT_DYNSYM sections */
	for (unsigned i = 0; i < shnum && !found; i++) {
		uint32_t type, link, st_type, st_link;
		uint64_t off, size, st_off, st_size;
		if (!shdr_at(fd, is64, shoff, i, &type, &link, &off, &size))
			break;
		if ((type == SHT_SYMTAB || type == SHT_DYNSYM) && link < shnum &&
		    shdr_at(fd, is64, shoff, link, &st_type, &st_link, &st_off, &st_size))
			found = strtab_has(fd, st_off, st_size, "viocon_earlyinit");
	}
out:
	close(fd);
	return found;
}

/* Scan the binary for its "QEMU emulator version X.Y" string (what
 * --version prints is a literal in the executable): no need to run it. */
static int scan_version(const char *path, const struct stat *st, int *major, int *minor)
{
	static const char needle[] = "QEMU emulator version ";
	if (st->st_size <= 0 || st->st_size > (off_t)512 << 20)
		return -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	void *m = mmap(NULL, (size_t)st->st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return -1;
	int rv = -1;
	const char *hit = memmem(m, (size_t)st->st_size, needle, sizeof(needle) - 1);
	if (hit) {
		const char *v = hit + sizeof(needle) - 1;
		size_t left = (size_t)((const char *)m + st->st_size - v);
		char buf[16];
		size_t n = left < sizeof(buf) - 1 ? left : sizeof(buf) - 1;
		memcpy(buf, v, n);
		buf[n] = 0;
		if (sscanf(buf, "%d.%d", major, minor) == 2)
			rv = 0;
	}
	munmap(m, (size_t)st->st_size);
	return rv;
}

bool qemu_needs_bios_workaround(const char *qemu_path, const char *cache_file)
{
	struct stat st;
	if (stat(qemu_path, &st) < 0)
		return false;
	char key[128];
	snprintf(key, sizeof(key), "%llu %llu %lld %lld", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino,
		 (long long)st.st_size, (long long)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec);
	char *text = NULL;
	size_t len = 0;
	bool known = false, bios = false;
	if (cache_file && read_file(cache_file, 4096, &text, &len) == 0) {
		size_t kl = strlen(key);
		if (len > kl + 2 && !strncmp(text, key, kl) && text[kl] == ' ') {
			known = true;
			bios = text[kl + 1] == '1';
		}
	}
	free(text);
	if (known)
		return bios;
	int major = 0, minor = 0;
	if (scan_version(qemu_path, &st, &major, &minor) == 0)
		bios = major == 9 && (minor == 0 || minor == 1);
	if (cache_file) {
		char *line = xasprintf("%s %d\n", key, bios ? 1 : 0);
		write_file_atomic_nosync(cache_file, line, strlen(line), 0644);
		free(line);
	}
	return bios;
}

char *qemu_shell_quote(const char *s)
{
	if (!*s)
		return xstrdup("''");
	bool plain = true;
	for (const char *p = s; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+=./:,@%", *p)) {
			plain = false;
			break;
		}
	if (plain)
		return xstrdup(s);
	struct strbuf sb;
	sb_init(&sb);
	sb_addc(&sb, '\'');
	for (; *s; s++) {
		if (*s == '\'')
			sb_adds(&sb, "'\\''");
		else
			sb_addc(&sb, *s);
	}
	sb_addc(&sb, '\'');
	return sb_detach(&sb);
}

char *qemu_argv_string(const struct strvec *argv)
{
	struct strbuf sb;
	sb_init(&sb);
	for (size_t i = 0; i < argv->n; i++) {
		char *q = qemu_shell_quote(argv->v[i]);
		if (i)
			sb_addc(&sb, ' ');
		sb_adds(&sb, q);
		free(q);
	}
	sb_cstr(&sb);
	return sb_detach(&sb);
}
