/* qemu.h — build the QEMU argument vector for a run config.
 *
 * Never a shell string: the result is a strvec handed to execv. The flags
 * follow the anchor (smolBSD startnb.sh) for x86:
 *   qemu-system-x86_64|i386 -M microvm,rtc=on,acpi=off,pic=off (pic=on for
 *     the linux profile: Linux has no timer under TCG without the PIC)
 *     -accel A -cpu host,+invtsc (kvm) | qemu64 (tcg; qemu32 for i386)
 *     -m MEM -smp N -kernel K [-initrd I] -append CMDLINE
 *       (linux profile under TCG on x86: CMDLINE gets tsc_early_khz=<host
 *       TSC kHz> unless it has one: see qemu_host_tsc_khz())
 *     -drive if=none,file=IMG,format=raw,id=hd0[,readonly=on]
 *     -device virtio-blk-device,drive=hd0
 *     -netdev user,id=net0,ipv6=off[,hostfwd=tcp:127.0.0.1:H-:G ...]
 *     -device virtio-net-device,netdev=net0   (or -nic none: no_network)
 *     -global virtio-mmio.force-legacy=false -display none -no-reboot
 *     -rtc base=utc,clock=host,driftfix=slew
 *     [-fsdev local,id=fsN,path=P,security_model=none[,readonly=on]
 *      -device virtio-9p-device,fsdev=fsN,mount_tag=TAG]
 *     -serial mon:stdio | -serial pty | -chardev file,... -serial chardev:con0
 *       | -serial tcp:127.0.0.1:PORT,server=on,wait=off | -serial none
 *     [-pidfile P] [-qmp unix:S,server=on,wait=off] [-daemonize]
 * and for evbarm-aarch64: qemu-system-aarch64 -M virt,highmem=off,
 * gic-version=host|3 -cpu host|max, virtio-*-pci devices,
 * -device virtio-rng-pci. Option values that QEMU splits on ',' have
 * their commas doubled.
 *
 * The anchor's launcher options, from the run config (runconf.h):
 *   console_device viocon: -chardev <backend>,id=con0 -device
 *     virtio-serial-device,max_ports=1+N -device virtconsole,chardev=con0,
 *     name=con0 and console=viocon on a netbsd command line;
 *   console_ports N: -chardev socket,path=consK.sock,server=on,wait=off,
 *     id=consK -device virtconsole,chardev=consK,name=consK (K = 1..N);
 *   drives: -drive if=none,file=P,format=raw,id=hdK[,readonly=on]
 *     -device virtio-blk-device,drive=hdK; share_rw: share-rw=on on hd0;
 *   network none: no NIC; bridge BR: -netdev bridge,id=net1,br=BR
 *     -device virtio-net-device,netdev=net1;
 *   fw_cfg: -fw_cfg opt/org.smolbsd.var.NAME,string=V |
 *     opt/org.smolbsd.file.NAME,file=P; qemu_args last. */
#ifndef SMOLC_QEMU_H
#define SMOLC_QEMU_H

#include <stdbool.h>
#include <stddef.h>

#include "accel.h"
#include "runconf.h"
#include "util.h"

/* Per-run options layered over the run config. All pointers borrowed. */
struct qemu_opts {
	const char *binary;              /* QEMU path; NULL = qemu_binary_name(arch) */
	enum accel_kind accel;
	const char *console;             /* NULL = runconf_console(rc) */
	unsigned memory_mib;             /* 0 = from the run config */
	unsigned cpus;                   /* 0 = from the run config */
	const char *extra_append;        /* appended to the kernel cmdline */
	const char *initrd;              /* --initrd: replaces the run config's; NULL = its */
	unsigned tsc_khz;                /* tsc_early_khz= value; 0 = qemu_host_tsc_khz() */
	const struct runconf_port *ports;        /* extra -p ports */
	size_t nports;
	const struct runconf_share *shares;      /* extra --share */
	size_t nshares;
	const char *console_device;      /* "com" | "viocon"; NULL = the run
					  * config's, else com (the caller
					  * resolves "auto": qemu_kernel_has_viocon) */
	bool bios_workaround;            /* -bios bios-microvm.bin (QEMU 9.0/9.1 microvm) */
	const char *pidfile;             /* -pidfile when set */
	const char *qmp_socket;          /* -qmp unix:...,server=on,wait=off when set */
	bool daemonize;                  /* -daemonize */
	bool no_network;                 /* `-nic none` instead of -netdev user (the
					    build's RUN steps without --network);
					    forwarded ports are then ignored */
	bool snapshot;                   /* the disk's writes go to a temp overlay (snapshot=on) */
};

/* "qemu-system-x86_64" / "qemu-system-i386" / "qemu-system-aarch64". */
const char *qemu_binary_name(const char *arch);
/* Debian package that ships it ("qemu-system-x86", "qemu-system-arm"). */
const char *qemu_debian_package(const char *arch);

/* The -M value of the microvm machine for a profile ("netbsd" or NULL,
 * "linux"): netbsd keeps the anchor's "microvm,rtc=on,acpi=off,pic=off";
 * linux is "microvm,rtc=on,acpi=on,pic=on" (a distribution kernel such as
 * Debian's has VIRTIO_MMIO_CMDLINE_DEVICES off, so it finds the virtio-mmio
 * devices only in the ACPI tables; QEMU writes those only with acpi=on, and
 * then no longer lists the devices on the command line). */
const char *qemu_machine_options(const char *profile);

/* The host's TSC frequency in kHz, or 0 when unknown: under TCG the
 * guest's TSC is the host's, and a Linux guest that calibrates it against
 * the emulated PIT often fails ("Marking TSC unstable") and then hangs in
 * about 1 boot of 5. Read from /sys/devices/system/cpu/cpu0/tsc_freq_khz
 * when the host kernel offers it, else from "cpu MHz" of /proc/cpuinfo. */
unsigned qemu_host_tsc_khz(void);

/* Search PATH for an executable `name` (or check it when it has a '/').
 * Returns the full path (caller frees) or NULL. */
char *qemu_find_binary(const char *name);

/* Build argv (argv->v[0] = binary). Paths from the run config are
 * resolved against its directory. Returns 0, or -1 with *err (bad console
 * spec). argv must be empty on entry; on failure it is left empty. */
int qemu_build_argv(const struct runconf *rc, const struct qemu_opts *o,
		    struct strvec *argv, struct error **err);

/* Does the kernel at path define the symbol viocon_earlyinit (NetBSD's
 * virtio console early init, as startnb.sh checks with nm)? Reads the
 * ELF section headers and the symbol string table only (bounded: at most
 * 16 MiB of it); false for anything that is not an ELF file. */
bool qemu_kernel_has_viocon(const char *path);

/* Is the QEMU at qemu_path version 9.0.x or 9.1.x (whose microvm needs
 * -bios bios-microvm.bin, as the anchor does)? Read from the "QEMU
 * emulator version X.Y" literal in the executable (it is not run), and
 * remembered in cache_file (may be NULL) under the binary's device,
 * inode, size and mtime. False when unknown. */
bool qemu_needs_bios_workaround(const char *qemu_path, const char *cache_file);

/* Quote one word for a POSIX shell (only when needed). Caller frees. */
char *qemu_shell_quote(const char *s);
/* The whole argv shell-quoted, space-joined. Caller frees. */
char *qemu_argv_string(const struct strvec *argv);

#endif
