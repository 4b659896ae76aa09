/* main.c — thin entry point: the command table; find the command, hand
 * over its argv. Every command parses its own options with its table
 * (opt.h); `smolc help CMD` is `smolc CMD --help`. */
#include "cli.h"
#include "exitcode.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif


static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *summary;
} commands[] = {
	{"build", cmd_build, "build a Smolfile into a disk image and a run config"},
	{"plan", cmd_plan, "show what a build will do: steps, inputs, layer keys"},
	{"check", cmd_check, "validate a Smolfile without planning or building"},
	{"run", cmd_run, "boot a micro VM (building first when its image is missing or stale)"},
	{"ps", cmd_ps, "list running micro VMs (-a: exited ones too)"},
	{"stop", cmd_stop, "stop a detached micro VM"},
	{"logs", cmd_logs, "show a detached micro VM's console log"},
	{"wait", cmd_wait, "wait until a micro VM's forwarded port accepts connections"},
	{"inspect", cmd_inspect, "show an instance: state, exit status, ports, argv, run config"},
	{"rm", cmd_rm, "remove an exited instance and its logs"},
	{"attach", cmd_attach, "connect the terminal to an instance's pty console"},
	{"lock", cmd_lock, "pin every remote input (sets, packages, kernel) in Smolfile.lock"},
	{"cache", cmd_cache, "inspect, verify and prune the build cache (ls, du, prune, verify)"},
	{"images", cmd_images, "list the images in the local image store"},
	{"tag", cmd_tag, "give a stored image another name"},
	{"rmi", cmd_rmi, "remove images from the local image store"},
	{"push", cmd_push, "upload a stored image to an OCI registry"},
	{"pull", cmd_pull, "download an image from an OCI registry into the store"},
	{"login", cmd_login, "store credentials for an OCI registry"},
	{"export", cmd_export, "write a stored image as an OCI container image (podman, docker)"},
	{"k8s", cmd_k8s, "print a Kubernetes Deployment and Service for a stored image"},
};

static void usage(FILE *f)
{
	fputs("usage: smolc <command> [options] [arguments]\n"
	      "\n"
	      "smolc compiles a Smolfile into a bootable micro-VM disk image and boots it.\n"
	      "\n"
	      "commands:\n",
	      f);
	for (size_t i = 0; i < ARRAY_LEN(commands); i++)
		fprintf(f, "  %-7s %s\n", commands[i].name, commands[i].summary);
	fputs("  help    show help for a command: smolc help <command>\n"
	      "\n"
	      "global options:\n"
	      "  -h, --help       this help\n"
	      "  -V, --version    print the version\n"
	      "      --debug      (before the command) print debugging output\n"
	      "\n"
	      "exit codes:\n"
	      "  0  success\n"
	      "  1  failure (a download, the build, QEMU, an I/O error)\n"
	      "  2  bad usage or a bad recipe (diagnostics name file:line:column)\n"
	      "\n"
	      "environment: SMOLC_CACHE (cache directory), SMOLC_MIRROR (NetBSD mirror),\n"
	      "SMOLC_DATADIR (where sets/ and services/ live), SOURCE_DATE_EPOCH,\n"
	      "SMOLC_STATE_DIR (running VMs), QEMU_ACCEL, SMOLC_COLOR=always|never.\n"
	      "The Smolfile language is described in SPEC.md.\n",
	      f);
}

int main(int argc, char **argv)
{
#ifdef __GLIBC__
	/* Keep the front end's large arrays (IR, AST, source) in the heap
	 * rather than in mmap()s of their own that free() unmaps: memory freed
	 * by one pass is then reused by the next instead of faulted in afresh,
	 * which is most of the cost of a large recipe on hosts with dear page
	 * faults. Bounded by what a run holds at once. */
	mallopt(M_MMAP_THRESHOLD, 16 << 20);
	mallopt(M_TRIM_THRESHOLD, 32 << 20);
#endif
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return EXIT_OK;
		} else if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
			printf("smolc %s\n", SMOLC_VERSION);
			return EXIT_OK;
		} else if (!strcmp(a, "--debug")) {
			smol_debug_enabled = 1;
		} else {
			fprintf(stderr, "smolc: unknown option '%s'\n", a);
			fputs("Run 'smolc --help' for the commands.\n", stderr);
			return EXIT_USAGE;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[i];
	if (!strcmp(cmd, "help")) {
		if (i + 1 >= argc) {
			usage(stdout);
			return EXIT_OK;
		}
		for (size_t k = 0; k < ARRAY_LEN(commands); k++)
			if (!strcmp(argv[i + 1], commands[k].name)) {
				char *hargv[] = {(char *)commands[k].name, (char *)"--help", NULL};
				return commands[k].fn(2, hargv);
			}
		fprintf(stderr, "smolc: no help for '%s': unknown command\n", argv[i + 1]);
		return EXIT_USAGE;
	}
	if (!strcmp(cmd, "version")) {
		printf("smolc %s\n", SMOLC_VERSION);
		return EXIT_OK;
	}
	for (size_t k = 0; k < ARRAY_LEN(commands); k++)
		if (!strcmp(cmd, commands[k].name))
			return commands[k].fn(argc - i, argv + i);
	fprintf(stderr, "smolc: unknown command '%s'\n", cmd);
	/* only a close, real command: at most two edits, and fewer than the
	 * shorter name has letters ("push" is not "ps", "rm" not "run") */
	const char *best = NULL;
	size_t bd = 3;
	for (size_t k = 0; k < ARRAY_LEN(commands); k++) {
		size_t d = levenshtein(cmd, commands[k].name);
		size_t shorter = strlen(cmd) < strlen(commands[k].name) ? strlen(cmd) : strlen(commands[k].name);
		if (d < bd && d < shorter) {
			bd = d;
			best = commands[k].name;
		}
	}
	if (best)
		fprintf(stderr, "Did you mean 'smolc %s'?\n", best);
	fputs("Run 'smolc --help' for the commands.\n", stderr);
	return EXIT_USAGE;
}
