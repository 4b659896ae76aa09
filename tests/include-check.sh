#!/bin/bash
# include-check: the layers of README's "Where things live" hold.
#   cli/      may include cli/, compiler/, runtime/, oci/, common/
#   compiler/ may include compiler/, common/ (and the generated parser)
#   runtime/  may include runtime/, common/ — never compiler/
#   oci/      may include oci/, common/ (the image store, the registry client)
#   common/   includes only common/
# planning cannot download by construction: plan.c, plan_types, pkgs.c
# do not include fetch.h or resolve.h (they read inputs through inputs.h);
# and no module includes itself back through others: with a module = the
# .c and .h of one name in one directory, the graph of `#include "..."`
# has no cycle (a private header X_int.h belongs to module X); and only the
# backend's modules (Makefile: BACKEND_SRCS) include the heavy libraries' headers. Prints each violation and exits 1; exit 0 when clean.
set -eu
ROOT=${ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
exec python3 - "$ROOT" <<'PY'
import os, re, sys
root = sys.argv[1]
layers = ["common", "compiler", "runtime", "oci", "cli"]
allowed = {
    "common": {"common"},
    "compiler": {"common", "compiler"},
    "runtime": {"common", "runtime"},
    "oci": {"common", "oci"},
    "cli": {"common", "compiler", "runtime", "oci", "cli"},
}
# modules that must not include a header (beyond the layer rules)
forbidden = {
    "compiler/plan": {"fetch.h", "resolve.h"},
    "compiler/plan_types": {"fetch.h", "resolve.h"},
    "compiler/pkgs": {"fetch.h", "resolve.h"},
    "compiler/step": {"fetch.h", "resolve.h"},
}
# every step kind (compiler/step_*.c) is a planner too
for _f in sorted(os.listdir(os.path.join(root, "compiler"))):
    if _f.startswith("step_") and _f.endswith(".c"):
        forbidden["compiler/" + _f[:-2]] = {"fetch.h", "resolve.h"}
generated = {"parser.h", "lexer.h", "backend_gen.h", "backend_abi.h"}  # build/gen
where = {}  # header name -> layer
files = []
for l in layers:
    d = os.path.join(root, l)
    for f in sorted(os.listdir(d)):
        if f.endswith((".c", ".h")):
            files.append((l, f))
            if f.endswith(".h"):
                if f in where:
                    print(f"include-check: {l}/{f} and {where[f]}/{f}: one header name in two layers")
                    sys.exit(1)
                where[f] = l
def modname(layer, name):
    base = name.rsplit(".", 1)[0]
    if base.endswith("_int"):
        base = base[:-4]
    return f"{layer}/{base}"
inc_re = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
# the heavy libraries' headers: only the backend's modules (the Makefile's
# BACKEND_SRCS, linked into libsmolc-backend.so) may include them, or
# ./smolc would need those libraries at start
sys_re = re.compile(r'^\s*#\s*include\s+<([^>]+)>')
heavy_re = re.compile(r'^(curl/|archive|ext2fs/|libfdisk/|zlib\.h$|zstd\.h$|lzma\.h$|libelf\.h$|gelf\.h$|et/com_err\.h$)')
mk = open(os.path.join(root, "Makefile"), encoding="utf-8").read().replace("\\\n", " ")
m = re.search(r'^BACKEND_SRCS\s*=(.*)$', mk, re.M)
backend = set(m.group(1).split()) if m else set()
if not backend:
    print("include-check: no BACKEND_SRCS in the Makefile")
    sys.exit(1)
bad = 0
graph = {}
for l, f in files:
    mod = modname(l, f)
    graph.setdefault(mod, set())
    with open(os.path.join(root, l, f), encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            sm = sys_re.match(line)
            own = f"{l}/{f}" if f.endswith(".c") else f"{l}/{f[:-2].removesuffix('_int')}.c"
            if sm and heavy_re.match(sm.group(1)) and own not in backend:
                print(f"{l}/{f}:{n}: includes <{sm.group(1)}>, a library of the backend: only the Makefile's BACKEND_SRCS may")
                bad += 1
            m = inc_re.match(line)
            if not m:
                continue
            h = m.group(1)
            if h in forbidden.get(mod, ()):
                print(f"{l}/{f}:{n}: {mod} must not include {h} (planning reads inputs through inputs.h and never downloads)")
                bad += 1
            if h in generated:
                if l not in ("compiler", "cli"):
                    print(f"{l}/{f}:{n}: includes the generated {h}, which belongs to compiler/")
                    bad += 1
                continue
            if h not in where:
                print(f"{l}/{f}:{n}: includes \"{h}\", which is in no layer")
                bad += 1
                continue
            hl = where[h]
            if hl not in allowed[l]:
                print(f"{l}/{f}:{n}: {l}/ must not include {hl}/{h} ({l}/ may use: {', '.join(sorted(allowed[l]))})")
                bad += 1
            target = modname(hl, h)
            if target != mod:
                graph[mod].add(target)
# cycles: depth-first search, report each cycle once by its path
state, stack, cycles = {}, [], []
def dfs(u):
    state[u] = 1
    stack.append(u)
    for v in sorted(graph.get(u, ())):
        if state.get(v) == 1:
            cycles.append(stack[stack.index(v):] + [v])
        elif not state.get(v):
            dfs(v)
    stack.pop()
    state[u] = 2
sys.setrecursionlimit(10000)
for u in sorted(graph):
    if not state.get(u):
        dfs(u)
for c in cycles:
    print("include cycle: " + " -> ".join(c))
    bad += 1
if bad:
    print(f"include-check: {bad} problem(s)")
    sys.exit(1)
print(f"include-check: {len(files)} files, {len(graph)} modules, layers and no cycles ok")
PY
