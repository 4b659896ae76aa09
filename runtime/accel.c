/* accel.c — accelerator choice and the KVM probe (see accel.h).
 *
 * Why a probe and a module check: on the machines this project runs on,
 * /dev/kvm is served by kvm_pvm (a paravirtual nested KVM). It opens, it
 * even runs the tiny real-mode probe below, but real guests die with
 * "emulation failure" and `-cpu host` aborts. So a usable KVM needs: the
 * device opens, the API is 12, the backend is not kvm_pvm, and the probe
 * guest reaches KVM_EXIT_IO then KVM_EXIT_HLT. The probe costs ~1 ms. */
#include "accel.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "util.h"

#if defined(__linux__) && (defined(__x86_64__) || defined(__i386__))
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#define HAVE_KVM_X86_PROBE 1
#endif

const char *accel_name(enum accel_kind k)
{
	switch (k) {
	case ACCEL_KVM:
		return "kvm";
	case ACCEL_TCG:
		return "tcg";
	case ACCEL_HVF:
		return "hvf";
	case ACCEL_NVMM:
		return "nvmm";
	}
	abort();
}

static bool guest_is_native(const char *guest_arch, char *why, size_t whylen)
{
	struct utsname u;
	if (uname(&u) < 0) {
		snprintf(why, whylen, "cannot tell the host architecture: %s", strerror(errno));
		return false;
	}
	bool x86 = !strcmp(u.machine, "x86_64") || !strcmp(u.machine, "i686") || !strcmp(u.machine, "i386");
	bool arm64 = !strcmp(u.machine, "aarch64");
	bool guest_arm = guest_arch && !strcmp(guest_arch, "evbarm-aarch64");
	if ((x86 && !guest_arm) || (arm64 && guest_arm))
		return true;
	snprintf(why, whylen, "the host is %s and the guest is %s", u.machine,
		 guest_arch ? guest_arch : "?");
	return false;
}

#ifdef HAVE_KVM_X86_PROBE
/* Run a one-page real-mode guest: store a byte to memory, load it back,
 * write it to port 0x3f8, hlt. */
static bool kvm_probe_guest(int kvm, char *why, size_t whylen)
{
	static const unsigned char code[] = {
		0xc7, 0x06, 0x00, 0x05, 0x53, 0x00, /* mov word [0x500], 'S' */
		0xa0, 0x00, 0x05,                   /* mov al, [0x500]       */
		0xba, 0xf8, 0x03,                   /* mov dx, 0x3f8         */
		0xee,                               /* out dx, al            */
		0xf4,                               /* hlt                   */
	};
	bool ok = false;
	int vm = -1, vcpu = -1;
	void *mem = MAP_FAILED, *runp = MAP_FAILED;
	long runsz = 0;
	const size_t memsz = 0x2000;

	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0) {
		snprintf(why, whylen, "KVM_CREATE_VM failed: %s", strerror(errno));
		goto out;
	}
	mem = mmap(NULL, memsz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		snprintf(why, whylen, "mmap: %s", strerror(errno));
		goto out;
	}
	memcpy((char *)mem + 0x1000, code, sizeof(code));
	struct kvm_userspace_memory_region region = {
		.slot = 0, .guest_phys_addr = 0, .memory_size = memsz,
		.userspace_addr = (unsigned long)mem,
	};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
		snprintf(why, whylen, "KVM_SET_USER_MEMORY_REGION failed: %s", strerror(errno));
		goto out;
	}
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0) {
		snprintf(why, whylen, "KVM_CREATE_VCPU failed: %s", strerror(errno));
		goto out;
	}
	runsz = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (runsz <= 0) {
		snprintf(why, whylen, "KVM_GET_VCPU_MMAP_SIZE failed");
		goto out;
	}
	runp = mmap(NULL, (size_t)runsz, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (runp == MAP_FAILED) {
		snprintf(why, whylen, "mmap of the vcpu: %s", strerror(errno));
		goto out;
	}
	struct kvm_sregs sregs;
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) {
		snprintf(why, whylen, "KVM_GET_SREGS failed: %s", strerror(errno));
		goto out;
	}
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	sregs.ds.base = 0;
	sregs.ds.selector = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) {
		snprintf(why, whylen, "KVM_SET_SREGS failed: %s", strerror(errno));
		goto out;
	}
	struct kvm_regs regs;
	memset(&regs, 0, sizeof(regs));
	regs.rip = 0x1000;
	regs.rflags = 2;
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) {
		snprintf(why, whylen, "KVM_SET_REGS failed: %s", strerror(errno));
		goto out;
	}
	struct kvm_run *run = runp;
	int state = 0; /* 0: want IO, 1: want HLT */
	for (int i = 0; i < 4; i++) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR)
				continue;
			snprintf(why, whylen, "KVM_RUN of a probe guest failed: %s", strerror(errno));
			goto out;
		}
		if (state == 0 && run->exit_reason == KVM_EXIT_IO && run->io.port == 0x3f8 &&
		    run->io.direction == KVM_EXIT_IO_OUT &&
		    *((unsigned char *)run + run->io.data_offset) == 'S') {
			state = 1;
			continue;
		}
		if (state == 1 && run->exit_reason == KVM_EXIT_HLT) {
			ok = true;
			goto out;
		}
		break;
	}
	snprintf(why, whylen, "a probe guest did not run (exit reason %u%s)", run->exit_reason,
		 run->exit_reason == KVM_EXIT_INTERNAL_ERROR ? ", internal error" : "");
out:
	if (runp != MAP_FAILED)
		munmap(runp, (size_t)runsz);
	if (vcpu >= 0)
		close(vcpu);
	if (mem != MAP_FAILED)
		munmap(mem, memsz);
	if (vm >= 0)
		close(vm);
	return ok;
}
#endif

bool accel_kvm_usable(const struct accel_env *env, const char *guest_arch,
		      char *why, size_t whylen)
{
	const char *dev = env && env->kvm_dev ? env->kvm_dev : "/dev/kvm";
	const char *mods = env && env->sys_module_dir ? env->sys_module_dir : "/sys/module";
	if (!guest_is_native(guest_arch, why, whylen))
		return false;
#ifdef __linux__
	int kvm = open(dev, O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		snprintf(why, whylen, "%s: %s", dev, strerror(errno));
		return false;
	}
	bool ok = false;
#ifdef HAVE_KVM_X86_PROBE
	int api = ioctl(kvm, KVM_GET_API_VERSION, 0);
	if (api != KVM_API_VERSION) {
		snprintf(why, whylen, "%s is not a KVM device (API version %d)", dev, api);
		goto out;
	}
#endif
	char *pvm = path_join(mods, "kvm_pvm");
	bool is_pvm = path_exists(pvm);
	free(pvm);
	if (is_pvm) {
		snprintf(why, whylen, "%s is the paravirtual kvm_pvm, which cannot run ordinary guests", dev);
		goto out;
	}
#ifdef HAVE_KVM_X86_PROBE
	if (!kvm_probe_guest(kvm, why, whylen))
		goto out;
#endif
	ok = true;
	snprintf(why, whylen, "%s runs a probe guest", dev);
out:
	close(kvm);
	return ok;
#else
	(void)dev;
	(void)mods;
	snprintf(why, whylen, "KVM exists only on Linux");
	return false;
#endif
}

int accel_choose(const struct accel_env *env, const char *requested,
		 const char *guest_arch, struct accel_choice *out,
		 bool *bad_usage, struct error **err)
{
	*bad_usage = false;
	memset(out, 0, sizeof(*out));
	const char *req = requested;
	const char *src = "--accel";
	if (!req || !*req) {
		req = getenv("QEMU_ACCEL");
		src = "QEMU_ACCEL";
	}
	if (!req || !*req)
		req = "auto";
	char why[200];
	if (!strcmp(req, "auto")) {
		out->automatic = true;
		if (accel_kvm_usable(env, guest_arch, why, sizeof(why))) {
			out->kind = ACCEL_KVM;
			snprintf(out->reason, sizeof(out->reason), "%s", why);
		} else {
			out->kind = ACCEL_TCG;
			snprintf(out->reason, sizeof(out->reason), "kvm: %s", why);
		}
		return 0;
	}
	if (!strcmp(req, "tcg")) {
		out->kind = ACCEL_TCG;
		snprintf(out->reason, sizeof(out->reason), "requested by %s", src);
		return 0;
	}
	if (!strcmp(req, "kvm")) {
		out->kind = ACCEL_KVM;
		snprintf(out->reason, sizeof(out->reason), "requested by %s", src);
#ifdef __linux__
		const char *dev = env && env->kvm_dev ? env->kvm_dev : "/dev/kvm";
		if (access(dev, R_OK | W_OK) < 0) {
			error_set(err, "%s=kvm: %s: %s; use --accel tcg", src, dev, strerror(errno));
			return -1;
		}
#endif
		return 0;
	}
	if (!strcmp(req, "hvf") || !strcmp(req, "nvmm")) {
		out->kind = req[0] == 'h' ? ACCEL_HVF : ACCEL_NVMM;
		snprintf(out->reason, sizeof(out->reason), "requested by %s", src);
#ifdef __linux__
		error_set(err, "%s=%s: %s is not available on Linux; use kvm, tcg or auto", src, req,
				 req[0] == 'h' ? "hvf (macOS)" : "nvmm (NetBSD)");
		return -1;
#else
		return 0;
#endif
	}
	*bad_usage = true;
	error_set(err, "%s: unknown accelerator \"%s\" (expected auto, kvm, tcg, hvf or nvmm)", src, req);
	return -1;
}
