/* launcher.h — the launcher's way to boot an image (runtime/qemu.h,
 * runtime/accel.h) handed to the compiler's builder VM (compiler/builder.h
 * struct builder_launcher), which may not include runtime/ itself. */
#ifndef SMOLC_LAUNCHER_H
#define SMOLC_LAUNCHER_H

#include "builder.h"

/* argv: qemu_build_argv with the console on stdio and `-nic none` without
 * the network; the binary is $SMOLC_QEMU or the arch's qemu-system-*,
 * which must be installed; the accelerator is accel_choose(auto or
 * $QEMU_ACCEL), as `smolc run` chooses it. */
extern const struct builder_launcher cli_launcher;

#endif
