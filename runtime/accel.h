/* accel.h — choose the QEMU accelerator for a guest.
 *
 * `auto` (the default; `--accel` or the QEMU_ACCEL environment variable
 * override it) must pick an accelerator that can actually run a guest.
 * On Linux that means KVM only when all of these hold:
 *   - the guest arch runs natively on the host (amd64/i386 on x86_64,
 *     evbarm-aarch64 on aarch64);
 *   - /dev/kvm opens read-write and KVM_GET_API_VERSION is 12;
 *   - /dev/kvm is not the paravirtual kvm_pvm module (it opens and runs
 *     trivial code, but ordinary guests die with "KVM internal error ...
 *     emulation failure"): /sys/module/kvm_pvm present = not usable;
 *   - a tiny real-mode guest (one page, `mov [mem]; out 0x3f8; hlt`) runs:
 *     KVM_CREATE_VM, one memory slot, KVM_CREATE_VCPU, KVM_RUN, expecting
 *     KVM_EXIT_IO with the byte written, then KVM_EXIT_HLT (< 2 ms).
 * Otherwise TCG, with a one-line reason. Nothing is cached.
 *
 * No printing here: the caller prints `smolc: accel: tcg (kvm: ...)`. */
#ifndef SMOLC_ACCEL_H
#define SMOLC_ACCEL_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>

enum accel_kind { ACCEL_KVM, ACCEL_TCG, ACCEL_HVF, ACCEL_NVMM };

/* The outcome of accel_choose. */
struct accel_choice {
	enum accel_kind kind;
	bool automatic;              /* chosen by `auto` (not by the user) */
	char reason[256];            /* why (always set; "" never) */
};

/* "kvm", "tcg", "hvf", "nvmm". */
const char *accel_name(enum accel_kind k);

/* Where to look; tests point these at fakes. NULL fields = defaults
 * (/dev/kvm, /sys/module). */
struct accel_env {
	const char *kvm_dev;
	const char *sys_module_dir;
};

/* Probe KVM. Returns true when usable; otherwise false with why filled
 * ("/dev/kvm is the paravirtual kvm_pvm, which cannot run ordinary
 * guests", "/dev/kvm: Permission denied", ...). */
bool accel_kvm_usable(const struct accel_env *env, const char *guest_arch,
		      char *why, size_t whylen);

/* Resolve the request: requested = "auto"|"kvm"|"tcg"|"hvf"|"nvmm" or
 * NULL (then $QEMU_ACCEL, then "auto"). An explicit accelerator is taken
 * as given, except that kvm needs /dev/kvm to open and hvf/nvmm are
 * refused on Linux hosts. Returns 0, or -1 with *err (bad name, explicit
 * kvm unavailable); the caller exits 2 on a bad name, 1 otherwise — *bad_usage
 * tells which. */
int accel_choose(const struct accel_env *env, const char *requested,
		 const char *guest_arch, struct accel_choice *out,
		 bool *bad_usage, struct error **err);

#endif
