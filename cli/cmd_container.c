/* cmd_container.c — every stored image as an OCI container image and a
 * Kubernetes workload: `smolc export`, `smolc k8s`, and the image that
 * `smolc push --container` uploads (SPEC.md §8.6).
 *
 * The container image has two layers:
 *   1. the runtime: the host's QEMU for the guest's architecture with the
 *      shared objects it loads (its DT_NEEDED closure and interpreter, read
 *      with libelf: oci/elfdeps.h), Debian's TCG accelerator module, the
 *      firmware microvm loads, a static busybox and the entrypoint script
 *      (/usr/lib/smolc/entrypoint). Nothing in it depends on the image, so
 *      every image exported with the same QEMU has the same layer digest.
 *   2. the guest: /smolc/disk.img, kernel, [initrd], run.yaml, and the QEMU
 *      argv for KVM and for TCG (argv.kvm, argv.tcg: one argument a line),
 *      made by qemu_build_argv — the code `smolc run` uses — from the
 *      stored run config with the forwarded ports listening on 0.0.0.0
 *      (the container's interface) and the console on stdout.
 * Both are reproducible (oci/container.h): the same image and QEMU give
 * byte-identical exports. */
#include "cache.h"
#include "cli.h"
#include "container.h"
#include "digest.h"
#include "elfneeds.h"
#include "exitcode.h"
#include "opt.h"
#include "qemu.h"
#include "registry.h"
#include "runconf.h"
#include "store.h"
#include "util.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define ENTRYPOINT "/usr/lib/smolc/entrypoint"
#define MODDIR "/usr/lib/x86_64-linux-gnu/qemu"
#define DATADIR "/usr/share/qemu"

/* The firmware QEMU's x86 microvm loads (qboot as bios-microvm.bin), and
 * the option ROMs it may ask for with -kernel. */
static const char *const x86_roms[] = {"bios-microvm.bin", "pvh.bin", "linuxboot_dma.bin", "kvmvapic.bin"};

/* The container's entrypoint: a busybox sh script, the same for every
 * image (it lives in the runtime layer). */
static const char entrypoint_sh[] =
	"#!/bin/sh\n"
	"# smolc container entrypoint (smolc export, SPEC.md 8.6): boot the micro VM\n"
	"# of /smolc with the argv smolc made for it: /smolc/argv.kvm when /dev/kvm\n"
	"# works here, else /smolc/argv.tcg (SMOLC_ACCEL=kvm|tcg forces one).\n"
	"# SIGTERM (podman stop, a pod's deletion) asks the guest to power down (QMP\n"
	"# system_powerdown, the ACPI power button) and waits SMOLC_STOP_GRACE\n"
	"# seconds (default 5) for it; then QEMU gets SIGTERM, and SIGKILL 5 s later.\n"
	"# A guest without ACPI (acpi=off: NetBSD on microvm) has no power button:\n"
	"# QEMU gets SIGTERM at once.\n"
	"# Exit status: the guest's /etc/rc status when its console reports one\n"
	"# (\"/etc/rc exited with status N\"; the VM is then stopped), 0 after a\n"
	"# stop request, else QEMU's.\n"
	"B=/bin/busybox\n"
	"export PATH=/usr/bin:/bin TMPDIR=${TMPDIR:-/tmp}\n"
	"accel=${SMOLC_ACCEL:-auto}\n"
	"grace=${SMOLC_STOP_GRACE:-5}\n"
	"case $grace in\n"
	"''|*[!0-9]*) echo \"smolc: SMOLC_STOP_GRACE=$grace: expected seconds\" >&2; exit 2 ;;\n"
	"esac\n"
	"qemu=$($B head -n 1 /smolc/argv.tcg)\n"
	"if [ \"$accel\" = auto ]; then\n"
	"\taccel=tcg\n"
	"\tif [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ] &&\n"
	"\t   echo quit | \"$qemu\" -M none -accel kvm -nodefaults -display none -monitor stdio >/dev/null 2>&1; then\n"
	"\t\taccel=kvm\n"
	"\tfi\n"
	"fi\n"
	"case $accel in\n"
	"kvm|tcg) ;;\n"
	"*) echo \"smolc: SMOLC_ACCEL=$accel: expected kvm, tcg or auto\" >&2; exit 2 ;;\n"
	"esac\n"
	"khz=\n"
	"if [ $accel = tcg ]; then\n"
	"\tkhz=$($B cat /sys/devices/system/cpu/cpu0/tsc_freq_khz 2>/dev/null)\n"
	"\t[ -n \"$khz\" ] || khz=$($B awk -F: '/^cpu MHz/ { printf \"%d\", $2 * 1000 + 0.5; exit }' /proc/cpuinfo 2>/dev/null)\n"
	"fi\n"
	"acpi=1\n"
	"set --\n"
	"while IFS= read -r a; do\n"
	"\tcase $a in\n"
	"\t*tsc_early_khz=*) [ -n \"$khz\" ] && a=$(printf '%s\\n' \"$a\" | $B sed \"s/tsc_early_khz=[0-9]*/tsc_early_khz=$khz/\") ;;\n"
	"\t*acpi=off*) acpi=0 ;;\n"
	"\tesac\n"
	"\tset -- \"$@\" \"$a\"\n"
	"done </smolc/argv.$accel\n"
	"echo \"smolc: booting $($B cat /smolc/service) under $accel\" >&2\n"
	"d=$($B mktemp -d) || exit 1\n"
	"$B mkfifo \"$d/console\" \"$d/qmp.in\" \"$d/qmp.out\" || exit 1\n"
	"# QMP on two FIFOs (busybox has no unix-socket client); fd 3 holds the\n"
	"# input open, so a command written there never blocks\n"
	"exec 3<>\"$d/qmp.in\"\n"
	"set -- \"$@\" -chardev \"pipe,id=smolcqmp,path=$d/qmp\" -mon chardev=smolcqmp,mode=control\n"
	"$B awk -v out=\"$d/rc\" '{ print; fflush() }\n"
	"\t/\\/etc\\/rc exited with status [0-9]+/ { s = $0; sub(/.*\\/etc\\/rc exited with status /, \"\", s);\n"
	"\t\tsub(/[^0-9].*/, \"\", s); print s > out; close(out) }' <\"$d/console\" &\n"
	"apid=$!\n"
	"\"$@\" >\"$d/console\" 2>&1 </dev/null &\n"
	"qpid=$!\n"
	"$B cat \"$d/qmp.out\" >/dev/null &\n"
	"cpid=$!\n"
	"# stopping: 0 running, 1 power button pressed, 2 QEMU sent SIGTERM\n"
	"stopping=0\n"
	"n=0\n"
	"stop() {\n"
	"\t[ $stopping = 0 ] || return 0\n"
	"\tn=0\n"
	"\tif [ $acpi = 1 ]; then\n"
	"\t\techo \"smolc: $1: asking the guest to power down (QMP system_powerdown; QEMU is stopped after ${grace}s)\" >&2\n"
	"\t\tprintf '{\"execute\":\"qmp_capabilities\"}\\n{\"execute\":\"system_powerdown\"}\\n' >&3\n"
	"\t\tstopping=1\n"
	"\telse\n"
	"\t\techo \"smolc: $1: stopping QEMU (the guest has no ACPI power button)\" >&2\n"
	"\t\tstopping=2\n"
	"\t\tkill -TERM $qpid 2>/dev/null\n"
	"\tfi\n"
	"}\n"
	"trap 'stop SIGTERM' TERM\n"
	"trap 'stop SIGINT' INT\n"
	"while kill -0 $qpid 2>/dev/null; do\n"
	"\tif [ -s \"$d/rc\" ] && [ $stopping = 0 ]; then stopping=2; n=0; kill -TERM $qpid 2>/dev/null; fi\n"
	"\tif [ $stopping != 0 ]; then\n"
	"\t\tn=$((n + 1))\n"
	"\t\tif [ $stopping = 1 ] && [ $n -gt $grace ]; then\n"
	"\t\t\techo \"smolc: the guest did not power off within ${grace}s: stopping QEMU\" >&2\n"
	"\t\t\tstopping=2\n"
	"\t\t\tn=0\n"
	"\t\t\tkill -TERM $qpid 2>/dev/null\n"
	"\t\telif [ $stopping = 2 ] && [ $n -gt 5 ]; then\n"
	"\t\t\tkill -KILL $qpid 2>/dev/null\n"
	"\t\tfi\n"
	"\tfi\n"
	"\t$B sleep 1 &\n"
	"\twait $!\n"
	"done\n"
	"wait $qpid\n"
	"st=$?\n"
	"wait $apid\n"
	"kill $cpid 2>/dev/null\n"
	"if [ -s \"$d/rc\" ]; then\n"
	"\tst=$($B cat \"$d/rc\")\n"
	"\techo \"smolc: the guest's /etc/rc exited with status $st\" >&2\n"
	"elif [ $stopping = 1 ] && [ $st = 0 ]; then\n"
	"\techo \"smolc: the guest powered off\" >&2\n"
	"elif [ $stopping != 0 ] && [ $st -ge 128 ]; then\n"
	"\tst=0\n"
	"fi\n"
	"exec 3>&-\n"
	"$B rm -rf \"$d\"\n"
	"exit $st\n";

/* A prepared container image: layers in workdir, the image's JSON. */
struct cimage {
	char *workdir;
	struct container_layer layers[2];
	struct container_image img;
	struct store_meta m;
	char *id;
	struct runconf *rc;       /* the stored run config */
	char *name, *tag;
	struct strvec ports;      /* "8080/tcp" */
	size_t runtime_files;
};

static void cimage_free(struct cimage *c)
{
	for (size_t i = 0; i < 2; i++)
		container_layer_clear(&c->layers[i]);
	container_image_clear(&c->img);
	if (c->workdir)
		remove_tree(c->workdir);
	free(c->workdir);
	store_meta_clear(&c->m);
	runconf_free(c->rc);
	free(c->id);
	free(c->name);
	free(c->tag);
	sv_free(&c->ports);
	memset(c, 0, sizeof(*c));
}

static int64_t layer_mtime(void)
{
	const char *e = getenv("SOURCE_DATE_EPOCH");
	char *end;
	if (e && *e) {
		long long v = strtoll(e, &end, 10);
		if (!*end && v >= 0)
			return v;
	}
	return 0;
}

/* The runtime layer's tree: QEMU, what it loads, busybox, the entrypoint. */
static int runtime_tree(const char *arch, struct container_tree *t, size_t *nfiles, struct error **err)
{
	const char *bin = qemu_binary_name(arch);
	char *qemu = qemu_find_binary(bin);
	char *bb = NULL;
	struct elfdeps deps = {0}, bdeps = {0};
	int rc = -1;
	if (!qemu) {
		error_set(err, "%s is not installed here (Debian package %s): the container's runtime layer is "
				 "made from the host's QEMU",
				 bin, qemu_debian_package(arch));
		goto out;
	}
	if (elfdeps_add(&deps, qemu, err) < 0)
		goto out;
	/* Debian packages TCG as a module QEMU loads on demand */
	char *tcg = xasprintf("%s/accel-tcg-%s.so", MODDIR, !strcmp(arch, "i386") ? "i386" : "x86_64");
	if (access(tcg, R_OK) == 0 && elfdeps_add(&deps, tcg, err) < 0) {
		free(tcg);
		goto out;
	}
	free(tcg);
	for (size_t i = 0; i < deps.n; i++) {
		const char *p = deps.v[i].path;
		if (!strcmp(p, qemu))
			p = NULL;
		char *name = p ? xstrdup(p) : xasprintf("/usr/bin/%s", bin);
		container_tree_file(t, name, deps.v[i].real, 0755);
		free(name);
	}
	*nfiles = deps.n;
	for (size_t i = 0; i < ARRAY_LEN(x86_roms); i++) {
		char *src = xasprintf("%s/%s", DATADIR, x86_roms[i]);
		char *real = realpath(src, NULL);
		if (real) {
			container_tree_file(t, src, real, 0644);
			(*nfiles)++;
		} else if (i == 0) {
			error_set(err, "%s: %s (the microvm firmware; Debian package qemu-system-data)", src,
					 strerror(errno));
			free(src);
			goto out;
		}
		free(real);
		free(src);
	}
	bb = qemu_find_binary("busybox");
	if (!bb || elfdeps_add(&bdeps, bb, err) < 0 || !bdeps.is_static) {
		error_clear(err);
		error_set(err, "a static busybox is needed for the container's entrypoint%s%s (Debian package "
				 "busybox-static)",
				 bb ? ": not static: " : "", bb ? bb : "");
		goto out;
	}
	container_tree_file(t, "bin/busybox", bdeps.v[0].real, 0755);
	container_tree_symlink(t, "bin/sh", "busybox");
	container_tree_data(t, ENTRYPOINT + 1, entrypoint_sh, strlen(entrypoint_sh), 0755);
	container_tree_dir(t, "tmp", 01777);
	*nfiles += 2;
	rc = 0;
out:
	elfdeps_free(&deps);
	elfdeps_free(&bdeps);
	free(qemu);
	free(bb);
	return rc;
}

/* One argument a line: refuse an argument with a newline. */
static int argv_text(const struct strvec *argv, char **out, struct error **err)
{
	struct strbuf sb;
	sb_init(&sb);
	for (size_t i = 0; i < argv->n; i++) {
		if (strchr(argv->v[i], '\n')) {
			error_set(err, "a QEMU argument holds a newline (%.40s…): it cannot be written to the "
					 "container's argv file",
					 argv->v[i]);
			sb_free(&sb);
			return -1;
		}
		sb_printf(&sb, "%s\n", argv->v[i]);
	}
	sb_cstr(&sb);
	*out = sb_detach(&sb);
	return 0;
}

/* The run config as the container runs it, and the two argvs. */
static int guest_tree(struct cimage *c, struct store *s, struct container_tree *t, struct error **err)
{
	struct runconf *rc = c->rc;
	if (rc->nshares || rc->ndrives || rc->bridge) {
		error_set(err, "the run config of %s:%s uses %s of this host: a container image cannot carry it "
				 "(remove it from the recipe to export)",
				 c->name, c->tag,
				 rc->nshares ? "a SHARE directory" : rc->ndrives ? "an extra drive" : "a bridge");
		return -1;
	}
	for (size_t i = 0; i < rc->nfwcfg; i++)
		if (rc->fwcfg[i].is_file) {
			error_set(err, "the run config of %s:%s passes the host file %s through fw_cfg: a container "
					 "image cannot carry it",
					 c->name, c->tag, rc->fwcfg[i].value);
			return -1;
		}
	/* the kernel's viocon, decided as `smolc run` does in the foreground */
	const char *condev = NULL;
	char *kpath = store_path(s, c->id, "kernel");
	if (!rc->console_device && !strcmp(runconf_profile(rc), "netbsd") && qemu_kernel_has_viocon(kpath))
		condev = "viocon";
	/* the container's copy: paths in /smolc, ports on the container's interface */
	free(rc->dir);
	rc->dir = xstrdup("/smolc");
	free(rc->image);
	rc->image = xstrdup("disk.img");
	free(rc->kernel);
	rc->kernel = xstrdup("kernel");
	free(rc->initrd);
	rc->initrd = c->m.has_initrd ? xstrdup("initrd") : NULL;
	if (!c->m.has_initrd) {
		free(rc->initrd_sha256);
		rc->initrd_sha256 = NULL;
	}
	for (size_t i = 0; i < rc->nports; i++) {
		free(rc->ports[i].host_addr);
		rc->ports[i].host_addr = xstrdup("0.0.0.0");
		sv_push(&c->ports, xasprintf("%u/%s", rc->ports[i].host_port,
					     rc->ports[i].proto == RUNCONF_UDP ? "udp" : "tcp"));
	}
	int ret = -1;
	char *yaml = NULL, *qemu_host = NULL, *bin = xasprintf("/usr/bin/%s", qemu_binary_name(rc->arch));
	char *dpath = store_path(s, c->id, "disk.img"), *ipath = store_path(s, c->id, "initrd");
	if (runconf_to_yaml(rc, &yaml, err) < 0)
		goto out;
	container_tree_data(t, "smolc/run.yaml", yaml, strlen(yaml), 0644);
	container_tree_data(t, "smolc/service", rc->service, strlen(rc->service), 0644);
	container_tree_file(t, "smolc/disk.img", dpath, 0644);
	container_tree_file(t, "smolc/kernel", kpath, 0644);
	if (c->m.has_initrd)
		container_tree_file(t, "smolc/initrd", ipath, 0644);
	qemu_host = qemu_find_binary(qemu_binary_name(rc->arch));
	bool bios = qemu_host && !strcmp(runconf_machine(rc), "microvm") && qemu_needs_bios_workaround(qemu_host, NULL);
	static const enum accel_kind kinds[] = {ACCEL_KVM, ACCEL_TCG};
	for (size_t k = 0; k < 2; k++) {
		struct qemu_opts qo = {
			.binary = bin,
			.accel = kinds[k],
			.console = "stdio",
			.console_device = condev,
			.bios_workaround = bios,
			.snapshot = !rc->readonly,
		};
		struct strvec argv = {0};
		char *text = NULL;
		if (qemu_build_argv(rc, &qo, &argv, err) < 0)
			goto out;
		int ar = argv_text(&argv, &text, err);
		sv_free(&argv);
		if (ar < 0)
			goto out;
		container_tree_data(t, k == 0 ? "smolc/argv.kvm" : "smolc/argv.tcg", text, strlen(text), 0644);
		free(text);
	}
	ret = 0;
out:
	free(yaml);
	free(qemu_host);
	free(bin);
	free(dpath);
	free(ipath);
	free(kpath);
	return ret;
}

static char *mem_label(unsigned mib)
{
	return mib % 1024 ? xasprintf("%uM", mib) : xasprintf("%uG", mib / 1024);
}

/* The image config (image-spec config.json). */
static char *config_json(const struct cimage *c)
{
	const struct runconf *rc = c->rc;
	json_t *cfg = json_object();
	json_object_set_new(cfg, "created", json_string(c->m.created));
	json_object_set_new(cfg, "architecture", json_string("amd64"));
	json_object_set_new(cfg, "os", json_string("linux"));
	json_t *cc = json_object();
	json_t *ep = json_array();
	json_array_append_new(ep, json_string(ENTRYPOINT));
	json_object_set_new(cc, "Entrypoint", ep);
	json_t *env = json_array();
	json_array_append_new(env, json_string("PATH=/usr/bin:/bin"));
	json_array_append_new(env, json_string("TMPDIR=/tmp"));
	json_object_set_new(cc, "Env", env);
	json_object_set_new(cc, "WorkingDir", json_string("/smolc"));
	json_object_set_new(cc, "StopSignal", json_string("SIGTERM"));
	if (c->ports.n) {
		json_t *ex = json_object();
		for (size_t i = 0; i < c->ports.n; i++)
			json_object_set_new(ex, c->ports.v[i], json_object());
		json_object_set_new(cc, "ExposedPorts", ex);
	}
	json_t *lab = json_object();
	for (size_t i = 0; i < rc->nlabels; i++)
		json_object_set_new(lab, rc->labels[i].key, json_string(rc->labels[i].value));
	json_object_set_new(lab, "org.opencontainers.image.title", json_string(rc->service));
	json_object_set_new(lab, "org.opencontainers.image.created", json_string(c->m.created));
	json_object_set_new(lab, "org.opencontainers.image.version", json_string(c->tag));
	json_object_set_new(lab, "org.opencontainers.image.description",
			    json_string("a smolc micro VM run by QEMU (smolc export)"));
	if (c->m.key[0])
		json_object_set_new(lab, "dev.smolc.image.key", json_string(c->m.key));
	json_object_set_new(lab, "dev.smolc.service", json_string(rc->service));
	json_object_set_new(lab, "dev.smolc.arch", json_string(rc->arch));
	char *mem = mem_label(runconf_memory(rc));
	json_object_set_new(lab, "dev.smolc.memory", json_string(mem));
	free(mem);
	char *cpus = xasprintf("%u", runconf_cpus(rc));
	json_object_set_new(lab, "dev.smolc.cpus", json_string(cpus));
	free(cpus);
	json_object_set_new(cc, "Labels", lab);
	json_object_set_new(cfg, "config", cc);
	json_t *rootfs = json_object();
	json_object_set_new(rootfs, "type", json_string("layers"));
	json_t *ids = json_array();
	for (size_t i = 0; i < 2; i++)
		json_array_append_new(ids, json_string(c->layers[i].diff_id));
	json_object_set_new(rootfs, "diff_ids", ids);
	json_object_set_new(cfg, "rootfs", rootfs);
	json_t *hist = json_array();
	static const char *const what[] = {"smolc export: the runtime (QEMU, its libraries and firmware, busybox)",
					   "smolc export: the guest (kernel, disk, run config, QEMU argv)"};
	for (size_t i = 0; i < 2; i++) {
		json_t *h = json_object();
		json_object_set_new(h, "created", json_string(c->m.created));
		json_object_set_new(h, "created_by", json_string(what[i]));
		json_array_append_new(hist, h);
	}
	json_object_set_new(cfg, "history", hist);
	char *t = json_dumps(cfg, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(cfg);
	return t;
}

/* The runtime layer is remembered in <cache>/containers/<key>.{tar,tar.gz,json}:
 * key = SHA-256 of smolc's version, the mtime, and every entry (name,
 * kind, mode, and the host file's device, inode, size and mtime in ns, or
 * the bytes of an in-memory file). A changed QEMU, library or busybox
 * gives another key. What is reused is checked against its recorded
 * digests first (a damaged file is made again, never shipped). */
static char *runtime_key(const struct container_tree *t, int64_t mtime)
{
	struct digest *dg = digest_new(DIGEST_SHA256);
	char buf[256];
	digest_update_str(dg, "smolc-runtime-layer-v1");
	digest_update_str(dg, SMOLC_VERSION);
	snprintf(buf, sizeof(buf), "%lld", (long long)mtime);
	digest_update_str(dg, buf);
	for (size_t i = 0; i < t->n; i++) {
		const struct container_entry *e = &t->v[i];
		snprintf(buf, sizeof(buf), "%d %o", (int)e->kind, e->mode);
		digest_update_str(dg, e->name);
		digest_update_str(dg, buf);
		struct stat st;
		if (e->src && stat(e->src, &st) == 0) {
			snprintf(buf, sizeof(buf), "%llu %llu %lld %lld.%09ld", (unsigned long long)st.st_dev,
				 (unsigned long long)st.st_ino, (long long)st.st_size, (long long)st.st_mtim.tv_sec,
				 st.st_mtim.tv_nsec);
			digest_update_str(dg, e->src);
			digest_update_str(dg, buf);
		} else if (e->src) {
			digest_update_str(dg, "missing");
		} else if (e->data) {
			digest_update(dg, e->data, e->len);
		}
		if (e->target)
			digest_update_str(dg, e->target);
	}
	char hex[129];
	digest_final_hex(dg, hex);
	hex[64] = 0;
	return xstrdup(hex);
}

static char *runtime_cache_dir(void)
{
	struct error *e = NULL;
	char *root = cache_default_dir(NULL, &e);
	error_clear(&e);
	if (!root)
		return NULL;
	char *d = path_join(root, "containers");
	free(root);
	if (mkdir_p(d, 0755) < 0) {
		free(d);
		return NULL;
	}
	return d;
}

static bool file_digest_is(const char *path, const char *digest)
{
	char hex[129];
	return digest_file_hex(DIGEST_SHA256, path, hex) == 0 && !strcmp(hex, digest + 7);
}

/* Link (or copy) a cached file into the work directory. */
static int link_in(const char *src, const char *dst)
{
	if (link(src, dst) == 0)
		return 0;
	struct error *err = NULL;
	int rc = store_clone_file(src, dst, false, &err);
	error_clear(&err);
	return rc;
}

static bool runtime_from_cache(const char *cdir, const char *key, const char *workdir, struct container_layer *l)
{
	char *jp = xasprintf("%s/%s.json", cdir, key), *tp = xasprintf("%s/%s.tar", cdir, key),
	     *gp = xasprintf("%s/%s.tar.gz", cdir, key);
	json_t *j = json_load_file(jp, 0, NULL);
	const char *dg = json_string_value(json_object_get(j, "digest"));
	const char *di = json_string_value(json_object_get(j, "diff_id"));
	json_t *sz = json_object_get(j, "size"), *tsz = json_object_get(j, "tar_size");
	bool ok = false;
	memset(l, 0, sizeof(*l));
	if (dg && di && json_is_integer(sz) && json_is_integer(tsz) && strlen(dg) == 71 && strlen(di) == 71 &&
	    file_digest_is(gp, dg) && file_digest_is(tp, di)) {
		l->tar_path = xasprintf("%s/runtime.tar", workdir);
		l->gz_path = xasprintf("%s/runtime.tar.gz", workdir);
		if (link_in(tp, l->tar_path) == 0 && link_in(gp, l->gz_path) == 0) {
			snprintf(l->digest, sizeof(l->digest), "%s", dg);
			snprintf(l->diff_id, sizeof(l->diff_id), "%s", di);
			l->size = (uint64_t)json_integer_value(sz);
			l->tar_size = (uint64_t)json_integer_value(tsz);
			ok = true;
			/* used now: `smolc cache prune --older-than` keeps it */
			utimes(jp, NULL);
			utimes(tp, NULL);
			utimes(gp, NULL);
		} else {
			container_layer_clear(l);
		}
	} else if (j) {
		debugf("export: the cached runtime layer %.12s is damaged: made again", key);
	}
	json_decref(j);
	free(jp);
	free(tp);
	free(gp);
	return ok;
}

static void runtime_to_cache(const char *cdir, const char *key, const struct container_layer *l)
{
	char *jp = xasprintf("%s/%s.json", cdir, key), *tp = xasprintf("%s/%s.tar", cdir, key),
	     *gp = xasprintf("%s/%s.tar.gz", cdir, key);
	char *tt = xasprintf("%s.tmp.%ld", tp, (long)getpid()), *gt = xasprintf("%s.tmp.%ld", gp, (long)getpid());
	json_t *j = json_object();
	json_object_set_new(j, "digest", json_string(l->digest));
	json_object_set_new(j, "diff_id", json_string(l->diff_id));
	json_object_set_new(j, "size", json_integer((json_int_t)l->size));
	json_object_set_new(j, "tar_size", json_integer((json_int_t)l->tar_size));
	char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	/* the files first, the record last: a record names complete files */
	if (text && link_in(l->tar_path, tt) == 0 && rename(tt, tp) == 0 && link_in(l->gz_path, gt) == 0 &&
	    rename(gt, gp) == 0)
		write_file_atomic_nosync(jp, text, strlen(text), 0644);
	unlink(tt);
	unlink(gt);
	free(text);
	free(jp);
	free(tp);
	free(gp);
	free(tt);
	free(gt);
}

/* Look up NAME[:TAG], check it, write both layers and make the image.
 * Returns an exit code; prints its errors. */
static int cimage_make(const char *cmdname, const char *ref, bool quiet, struct cimage *c)
{
	memset(c, 0, sizeof(*c));
	struct error *err = NULL;
	struct store *s = NULL;
	struct container_tree rt = {0}, gt = {0};
	int ex = EXIT_USAGE;
	char id[65];
	if (store_parse_ref(ref, &c->name, &c->tag, &err) < 0)
		goto fail;
	ex = EXIT_FAIL;
	if (!(s = store_open(NULL, &err)))
		goto fail;
	int lr = store_lookup(s, c->name, c->tag, id, &err);
	if (lr == 1) {
		error_set(&err, "no image %s:%s in the store (see 'smolc images'; build it first)", c->name, c->tag);
		goto fail;
	}
	if (lr < 0 || store_verify(s, id, &c->m, &err) < 0)
		goto fail;
	c->id = xstrdup(id);
	char *yp = store_path(s, id, "run.yaml");
	int rr = runconf_read(yp, &c->rc, NULL, &err);
	free(yp);
	if (rr < 0)
		goto fail;
	if (strcmp(c->rc->arch, "amd64") && strcmp(c->rc->arch, "i386")) {
		error_set(&err, "%s:%s is a %s image: only amd64 and i386 guests are exported yet (linux/amd64)",
				c->name, c->tag, c->rc->arch);
		goto fail;
	}
	const char *td = getenv("TMPDIR");
	c->workdir = xasprintf("%s/smolc-export.XXXXXX", td && *td ? td : "/tmp");
	if (!mkdtemp(c->workdir)) {
		error_set(&err, "creating %s: %s", c->workdir, strerror(errno));
		free(c->workdir);
		c->workdir = NULL;
		goto fail;
	}
	double t0 = now_monotonic();
	int64_t mt = layer_mtime();
	if (runtime_tree(c->rc->arch, &rt, &c->runtime_files, &err) < 0)
		goto fail;
	char *rkey = runtime_key(&rt, mt), *cdir = runtime_cache_dir();
	bool cached = cdir && runtime_from_cache(cdir, rkey, c->workdir, &c->layers[0]);
	if (!cached) {
		if (container_layer_write(&rt, c->workdir, "runtime", mt, &c->layers[0], &err) < 0) {
			free(rkey);
			free(cdir);
			goto fail;
		}
		if (cdir)
			runtime_to_cache(cdir, rkey, &c->layers[0]);
	}
	free(rkey);
	free(cdir);
	if (!quiet) {
		char h[32];
		fprintf(stderr, "smolc: %s: runtime layer %.19s… %s (%zu files: QEMU, its libraries, firmware, busybox)%s\n",
			cmdname, c->layers[0].digest, human_bytes(c->layers[0].size, h, sizeof(h)), c->runtime_files,
			cached ? " CACHED" : "");
	}
	if (guest_tree(c, s, &gt, &err) < 0 || container_layer_write(&gt, c->workdir, "guest", mt, &c->layers[1], &err) < 0)
		goto fail;
	if (!quiet) {
		char h[32];
		fprintf(stderr, "smolc: %s: guest layer   %.19s… %s (kernel, disk, run config, QEMU argv)\n", cmdname,
			c->layers[1].digest, human_bytes(c->layers[1].size, h, sizeof(h)));
	}
	char *cfg = config_json(c);
	json_t *ann = json_object();
	json_object_set_new(ann, "org.opencontainers.image.created", json_string(c->m.created));
	json_object_set_new(ann, "org.opencontainers.image.title", json_string(c->rc->service));
	if (c->m.key[0])
		json_object_set_new(ann, "dev.smolc.image.key", json_string(c->m.key));
	char *at = json_dumps(ann, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(ann);
	int ir = container_image_make(&c->img, c->layers, 2, cfg, at, &err);
	free(at);
	if (ir < 0)
		goto fail;
	if (!quiet)
		fprintf(stderr, "smolc: %s: image %s:%s as a container image %.19s… in %.1fs\n", cmdname, c->name, c->tag,
			c->img.manifest_digest, now_monotonic() - t0);
	container_tree_free(&rt);
	container_tree_free(&gt);
	store_free(s);
	return EXIT_OK;
fail:
	fprintf(stderr, "smolc: %s: %s\n", cmdname, err ? error_msg(err) : "failed");
	error_clear(&err);
	container_tree_free(&rt);
	container_tree_free(&gt);
	store_free(s);
	cimage_free(c);
	return ex;
}

/* ---- smolc export ---- */

enum export_format { FMT_OCI_ARCHIVE, FMT_OCI_DIR, FMT_DOCKER_ARCHIVE };

static int format_cb(const struct opt_cmd *cmd, const char *arg, void *value)
{
	enum export_format *f = value;
	if (!strcmp(arg, "oci-dir"))
		*f = FMT_OCI_DIR;
	else if (!strcmp(arg, "oci-archive"))
		*f = FMT_OCI_ARCHIVE;
	else if (!strcmp(arg, "docker-archive"))
		*f = FMT_DOCKER_ARCHIVE;
	else
		return opt_error(cmd, "--format %s: expected oci-dir, oci-archive or docker-archive", arg);
	return 0;
}

/* An empty directory may be the target of oci-dir; anything else there
 * is not overwritten. */
static int dest_free(const char *dest, struct error **err)
{
	struct stat st;
	if (lstat(dest, &st) < 0)
		return errno == ENOENT ? 0 : (error_set(err, "%s: %s", dest, strerror(errno)), -1);
	if (S_ISDIR(st.st_mode) && rmdir(dest) == 0)
		return 0;
	error_set(err, "%s already exists: remove it or choose another destination", dest);
	return -1;
}

int cmd_export(int argc, char **argv)
{
	static const struct opt_cmd cmd = {
		.name = "export",
		.synopsis = "[options] NAME[:TAG] DEST",
		.about = "Write a stored image as an OCI container image that runs the micro VM:\n"
			 "a runtime layer (this host's QEMU, the libraries it loads, its firmware, a\n"
			 "static busybox and the entrypoint; the same digest for every image) and a\n"
			 "guest layer (kernel, disk, run config, the QEMU argv smolc run would use).\n"
			 "The entrypoint uses KVM when /dev/kvm works in the container, else TCG;\n"
			 "the recipe's PORTS listen on the container's interface (ExposedPorts).\n"
			 "Reproducible: the same image exports to the same bytes.\n",
		.footer = "formats:\n"
			  "  oci-archive     DEST is a tar of an OCI image layout (default;\n"
			  "                  podman load -i DEST, skopeo copy oci-archive:DEST …)\n"
			  "  oci-dir         DEST is an OCI image layout directory (skopeo … oci:DEST)\n"
			  "  docker-archive  DEST is a `docker save` tar (docker load -i DEST)\n"
			  "Then: podman run -d -p 127.0.0.1:8080:8080 IMAGE (see SPEC.md 8.6).\n",
		.arg_name = "argument",
		.max_args = 2,
	};
	enum export_format fmt = FMT_OCI_ARCHIVE;
	bool quiet = false, json = false;
	const struct opt opts[] = {
		OPT_CALL_("format", 0, "FORMAT", "oci-archive (default), oci-dir or docker-archive", &fmt, format_cb),
		OPT_JSON(&json, "print the result as JSON on stdout"),
		OPT_QUIET(&quiet),
		OPT_END_(),
	};
	const char *args[2];
	size_t nargs;
	int ex = opt_parse(&cmd, opts, argc, argv, args, &nargs);
	if (ex >= 0)
		return ex;
	if (nargs != 2)
		return opt_error(&cmd, "needs NAME[:TAG] and DEST");
	struct error *err = NULL;
	char *n = NULL, *t = NULL;
	if (store_parse_ref(args[0], &n, &t, &err) < 0) {
		fprintf(stderr, "smolc: export: %s\n", error_msg(err));
		error_clear(&err);
		return EXIT_USAGE;
	}
	free(n);
	free(t);
	if (dest_free(args[1], &err) < 0) {
		fprintf(stderr, "smolc: export: %s\n", error_msg(err));
		error_clear(&err);
		return EXIT_FAIL;
	}
	struct cimage c;
	ex = cimage_make("export", args[0], quiet, &c);
	if (ex != EXIT_OK)
		return ex;
	char *reftag = xasprintf("%s:%s", c.name, c.tag);
	int wr;
	if (fmt == FMT_OCI_DIR) {
		char *tmp = xasprintf("%s.tmp.%ld", args[1], (long)getpid());
		wr = container_write_oci_dir(&c.img, tmp, reftag, &err);
		if (wr == 0 && rename(tmp, args[1]) < 0) {
			error_set(&err, "renaming %s to %s: %s", tmp, args[1], strerror(errno));
			wr = -1;
		}
		if (wr < 0)
			remove_tree(tmp);
		free(tmp);
	} else if (fmt == FMT_OCI_ARCHIVE) {
		wr = container_write_oci_archive(&c.img, args[1], reftag, &err);
	} else {
		wr = container_write_docker_archive(&c.img, args[1], reftag, &err);
	}
	if (wr < 0) {
		fprintf(stderr, "smolc: export: %s\n", error_msg(err));
		error_clear(&err);
		free(reftag);
		cimage_free(&c);
		return EXIT_FAIL;
	}
	static const char *const fnames[] = {"oci-archive", "oci-dir", "docker-archive"};
	if (json) {
		json_t *o = json_object();
		json_object_set_new(o, "image", json_string(reftag));
		json_object_set_new(o, "format", json_string(fnames[fmt]));
		json_object_set_new(o, "destination", json_string(args[1]));
		json_object_set_new(o, "manifest", json_string(c.img.manifest_digest));
		json_object_set_new(o, "config", json_string(c.img.config_digest));
		json_t *ls = json_array();
		for (size_t i = 0; i < 2; i++) {
			json_t *l = json_object();
			json_object_set_new(l, "role", json_string(i == 0 ? "runtime" : "guest"));
			json_object_set_new(l, "digest", json_string(c.layers[i].digest));
			json_object_set_new(l, "diff_id", json_string(c.layers[i].diff_id));
			json_object_set_new(l, "size", json_integer((json_int_t)c.layers[i].size));
			json_object_set_new(l, "tar_size", json_integer((json_int_t)c.layers[i].tar_size));
			json_array_append_new(ls, l);
		}
		json_object_set_new(o, "layers", ls);
		char *txt = json_dumps(o, JSON_COMPACT);
		puts(txt ? txt : "{}");
		free(txt);
		json_decref(o);
	}
	if (!quiet)
		fprintf(stderr, "smolc: exported %s to %s (%s)\n", reftag, args[1], fnames[fmt]);
	free(reftag);
	cimage_free(&c);
	return EXIT_OK;
}

/* ---- smolc push --container ---- */

int container_push(const char *src, const char *dst, const struct reg_opts *ro, bool json)
{
	struct cimage c;
	int ex = cimage_make("push", src, ro->quiet, &c);
	if (ex != EXIT_OK)
		return ex;
	struct error *err = NULL;
	char *mdig = NULL, *refstr = NULL;
	struct reg_ref ref;
	memset(&ref, 0, sizeof(ref));
	struct reg *r = NULL;
	ex = EXIT_USAGE;
	char *target = dst ? xstrdup(dst) : xasprintf("%s:%s", c.name, c.tag);
	int pr = reg_ref_parse(target, &ref, &err);
	if (pr == 0 && dst && !strchr(path_basename(dst), ':')) {
		free(ref.tag);
		ref.tag = xstrdup(c.tag); /* the target's tag defaults to the source's */
	}
	free(target);
	if (pr < 0)
		goto fail;
	if (ref.digest) {
		error_set(&err, "push to a tag, not to a digest (%s)", ref.digest);
		goto fail;
	}
	ex = EXIT_FAIL;
	if (!(r = reg_new(ref.host, ref.repo, ro, &err)))
		goto fail;
	refstr = reg_ref_str(&ref);
	if (!ro->quiet)
		fprintf(stderr, "smolc: pushing %s:%s as a container image to %s\n", c.name, c.tag, refstr);
	for (size_t i = 0; i < 2; i++) {
		int e = reg_blob_exists(r, c.layers[i].digest, &err);
		if (e < 0 || (e == 0 && reg_blob_put_file(r, c.layers[i].gz_path, c.layers[i].digest, c.layers[i].size,
							  i == 0 ? "runtime layer" : "guest layer", &err) < 0))
			goto fail;
		if (!ro->quiet) {
			char h[32];
			fprintf(stderr, "  %-14s %-10s %.19s… %s\n", i == 0 ? "runtime layer" : "guest layer",
				human_bytes(c.layers[i].size, h, sizeof(h)), c.layers[i].digest, e ? "exists" : "uploaded");
		}
	}
	int e = reg_blob_exists(r, c.img.config_digest, &err);
	if (e < 0 || (e == 0 && reg_blob_put_mem(r, c.img.config, strlen(c.img.config), c.img.config_digest, &err) < 0))
		goto fail;
	if (reg_manifest_put(r, ref.tag, OCI_IMAGE_MANIFEST_TYPE, c.img.manifest, strlen(c.img.manifest), &mdig, &err) <
	    0)
		goto fail;
	if (json) {
		json_t *o = json_object();
		json_object_set_new(o, "reference", json_string(refstr));
		json_object_set_new(o, "digest", json_string(mdig));
		json_object_set_new(o, "runtime_layer", json_string(c.layers[0].digest));
		json_object_set_new(o, "guest_layer", json_string(c.layers[1].digest));
		char *txt = json_dumps(o, JSON_COMPACT);
		puts(txt ? txt : "{}");
		free(txt);
		json_decref(o);
	}
	if (!ro->quiet)
		fprintf(stderr, "smolc: pushed %s@%s\n", refstr, mdig);
	ex = EXIT_OK;
	goto out;
fail:
	fprintf(stderr, "smolc: push: %s\n", err ? error_msg(err) : "failed");
out:
	error_clear(&err);
	free(mdig);
	free(refstr);
	reg_free(r);
	reg_ref_clear(&ref);
	cimage_free(&c);
	return ex;
}

/* ---- smolc k8s ---- */

/* A DNS-1123 label from the service name. */
static char *k8s_name(const char *s)
{
	struct strbuf sb;
	sb_init(&sb);
	for (; *s && sb.len < 63; s++) {
		char ch = *s;
		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'))
			sb_addc(&sb, ch);
		else if (sb.len && sb.buf[sb.len - 1] != '-')
			sb_addc(&sb, '-');
	}
	while (sb.len && sb.buf[sb.len - 1] == '-')
		sb.buf[--sb.len] = 0;
	if (!sb.len)
		sb_adds(&sb, "smolc");
	sb_cstr(&sb);
	return sb_detach(&sb);
}

/* Quote for YAML (a double-quoted scalar). */
static char *yq(const char *s)
{
	struct strbuf sb;
	sb_init(&sb);
	sb_addc(&sb, '"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			sb_printf(&sb, "\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			sb_printf(&sb, "\\x%02x", ch);
		else
			sb_addc(&sb, (char)ch);
	}
	sb_addc(&sb, '"');
	return sb_detach(&sb);
}

int cmd_k8s(int argc, char **argv)
{
	static const struct opt_cmd cmd = {
		.name = "k8s",
		.synopsis = "[options] NAME[:TAG]",
		.about = "Print a Kubernetes Deployment and Service that run a stored image as the\n"
			 "container image smolc export / push --container make: the image reference,\n"
			 "the recipe's PORTS (container ports, a Service, a TCP liveness probe),\n"
			 "resources from MEM and CPUS (plus QEMU's own memory), a read-only root\n"
			 "file system with an emptyDir on /tmp (the disk's snapshot overlay), and a\n"
			 "request for /dev/kvm from a KVM device plugin. Without that plugin (or\n"
			 "with --no-kvm) the pod runs the VM under TCG.\n",
		.footer = "The three commands from recipe to pod:\n"
			  "  smolc build -t REGISTRY/REPO:TAG Smolfile\n"
			  "  smolc push --container REGISTRY/REPO:TAG\n"
			  "  smolc k8s REGISTRY/REPO:TAG | kubectl apply -f -\n",
		.arg_name = "image",
		.max_args = 1,
	};
	const char *image = NULL, *kvm_res = "devices.kubevirt.io/kvm";
	bool no_kvm = false;
	const struct opt opts[] = {
		OPT_STRING_("image", 0, "REF", "the container image reference (default: NAME:TAG)", &image),
		OPT_STRING_("kvm-resource", 0, "NAME",
			    "the extended resource of the KVM device plugin\n(default devices.kubevirt.io/kvm)", &kvm_res),
		OPT_FLAG_("no-kvm", 0, "request no /dev/kvm (the VM runs under TCG)", &no_kvm),
		OPT_END_(),
	};
	const char *args[1];
	size_t nargs;
	int ex = opt_parse(&cmd, opts, argc, argv, args, &nargs);
	if (ex >= 0)
		return ex;
	if (nargs != 1)
		return opt_error(&cmd, "needs one NAME[:TAG]");
	struct error *err = NULL;
	char *name = NULL, *tag = NULL;
	struct store *s = NULL;
	struct store_meta m;
	memset(&m, 0, sizeof(m));
	struct runconf *rc = NULL;
	char id[65];
	ex = EXIT_USAGE;
	if (store_parse_ref(args[0], &name, &tag, &err) < 0)
		goto fail;
	ex = EXIT_FAIL;
	if (!(s = store_open(NULL, &err)))
		goto fail;
	int lr = store_lookup(s, name, tag, id, &err);
	if (lr == 1) {
		error_set(&err, "no image %s:%s in the store (see 'smolc images')", name, tag);
		goto fail;
	}
	if (lr < 0 || store_verify(s, id, &m, &err) < 0)
		goto fail;
	char *yp = store_path(s, id, "run.yaml");
	int rr = runconf_read(yp, &rc, NULL, &err);
	free(yp);
	if (rr < 0)
		goto fail;
	char *ref = image ? xstrdup(image) : xasprintf("%s:%s", name, tag);
	char *n = k8s_name(rc->service), *qref = yq(ref), *key = m.key[0] ? yq(m.key) : NULL;
	unsigned mem = runconf_memory(rc), cpus = runconf_cpus(rc);
	printf("# smolc k8s %s:%s — the micro VM %s as a Deployment and a Service.\n", name, tag, rc->service);
	printf("# The image: smolc push --container %s:%s (or smolc export + your registry).\n", name, tag);
	printf("# /dev/kvm: the pod asks for one %s from a KVM device plugin (such as\n"
	       "# KubeVirt's, or the generic device plugin the anchor's example uses);\n"
	       "# without it (smolc k8s --no-kvm) the entrypoint runs the VM under TCG.\n",
	       no_kvm ? "(not requested)" : kvm_res);
	printf("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: %s\n  labels:\n"
	       "    app.kubernetes.io/name: %s\n    app.kubernetes.io/managed-by: smolc\n",
	       n, n);
	printf("spec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: %s\n", n);
	printf("  template:\n    metadata:\n      labels:\n        app.kubernetes.io/name: %s\n", n);
	if (key)
		printf("      annotations:\n        dev.smolc.image.key: %s\n", key);
	printf("    spec:\n      terminationGracePeriodSeconds: 30\n      containers:\n");
	printf("        - name: %s\n          image: %s\n", n, qref);
	if (rc->nports) {
		printf("          ports:\n");
		for (size_t i = 0; i < rc->nports; i++)
			printf("            - name: p%u\n              containerPort: %u\n              protocol: %s\n",
			       rc->ports[i].host_port, rc->ports[i].host_port,
			       rc->ports[i].proto == RUNCONF_UDP ? "UDP" : "TCP");
	}
	/* QEMU's own memory (TCG's translation cache, device state) on top of the guest's */
	printf("          resources:\n            requests:\n              cpu: \"%u\"\n              memory: %uMi\n", cpus,
	       mem + 128);
	printf("            limits:\n              memory: %uMi\n", mem + 256);
	if (!no_kvm) {
		char *qk = yq(kvm_res);
		printf("              %s: \"1\"\n", qk);
		free(qk);
	}
	printf("          securityContext:\n            readOnlyRootFilesystem: true\n            allowPrivilegeEscalation: "
	       "false\n");
	printf("          volumeMounts:\n            - name: tmp\n              mountPath: /tmp\n");
	for (size_t i = 0; i < rc->nports; i++)
		if (rc->ports[i].proto == RUNCONF_TCP) {
			/* the VM boots first: TCG may take a while */
			printf("          livenessProbe:\n            tcpSocket:\n              port: %u\n"
			       "            initialDelaySeconds: 30\n            periodSeconds: 10\n"
			       "            failureThreshold: 6\n",
			       rc->ports[i].host_port);
			break;
		}
	printf("      volumes:\n        - name: tmp\n          emptyDir: {}\n");
	if (rc->nports) {
		printf("---\napiVersion: v1\nkind: Service\nmetadata:\n  name: %s\n  labels:\n"
		       "    app.kubernetes.io/name: %s\n    app.kubernetes.io/managed-by: smolc\n",
		       n, n);
		printf("spec:\n  selector:\n    app.kubernetes.io/name: %s\n  ports:\n", n);
		for (size_t i = 0; i < rc->nports; i++)
			printf("    - name: p%u\n      port: %u\n      targetPort: %u\n      protocol: %s\n",
			       rc->ports[i].host_port, rc->ports[i].host_port, rc->ports[i].host_port,
			       rc->ports[i].proto == RUNCONF_UDP ? "UDP" : "TCP");
	}
	free(ref);
	free(n);
	free(qref);
	free(key);
	ex = EXIT_OK;
	goto out;
fail:
	fprintf(stderr, "smolc: k8s: %s\n", err ? error_msg(err) : "failed");
out:
	error_clear(&err);
	free(name);
	free(tag);
	store_meta_clear(&m);
	runconf_free(rc);
	store_free(s);
	return ex;
}
