#!/usr/bin/env python3
"""timeit.py - time a short command precisely: N runs (after W warm-up
runs), each started with posix_spawn and reaped with wait4, so that the
wall time (perf_counter around spawn..wait), the CPU time (user + system)
and the peak RSS are those of that one child.

usage: timeit.py [-n RUNS] [-w WARMUP] [--cwd DIR] -- CMD [ARG...]
Prints one line: best_ms median_ms cpu_median_ms maxrss_kib
stdout/stderr of the command go to /dev/null; a run that fails (exit != 0)
makes timeit.py fail with its exit status.
"""
import argparse
import os
import statistics
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=11)
    ap.add_argument("-w", type=int, default=2)
    ap.add_argument("--cwd")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    o = ap.parse_args()
    cmd = o.cmd[1:] if o.cmd and o.cmd[0] == "--" else o.cmd
    if not cmd:
        ap.error("no command")
    if o.cwd:
        os.chdir(o.cwd)
    devnull = os.open(os.devnull, os.O_RDWR)
    fa = [(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, devnull, 1),
          (os.POSIX_SPAWN_DUP2, devnull, 2)]
    exe = cmd[0]
    if "/" not in exe:
        for d in os.environ.get("PATH", "/usr/bin:/bin").split(":"):
            if os.access(os.path.join(d, exe), os.X_OK):
                exe = os.path.join(d, exe)
                break
    walls, cpus, rss = [], [], 0
    for i in range(o.w + o.n):
        t0 = time.perf_counter()
        pid = os.posix_spawn(exe, cmd, os.environ, file_actions=fa)
        _, status, ru = os.wait4(pid, 0)
        t1 = time.perf_counter()
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            print("timeit: %s exited with %d" % (" ".join(cmd), code), file=sys.stderr)
            sys.exit(code if code > 0 else 1)
        if i >= o.w:
            walls.append((t1 - t0) * 1000)
            cpus.append((ru.ru_utime + ru.ru_stime) * 1000)
            rss = max(rss, ru.ru_maxrss)
    print("%.1f %.1f %.1f %d" % (min(walls), statistics.median(walls), statistics.median(cpus), rss))


if __name__ == "__main__":
    main()
