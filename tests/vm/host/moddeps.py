#!/usr/bin/env python3
"""Module dependency closure for the stas VM rig, without depmod.

Usage: moddeps.py MODDIR MODULES_DEP_OUT NAME...

MODDIR is an unpacked lib/modules/<kver> directory from a Debian linux-image
package. Those packages ship no modules.dep (depmod runs in postinst), so the
`depends=` field of each module's .modinfo section is read directly.

Prints the closure of the requested modules in load order (dependencies
first), one path relative to MODDIR per line, and writes a modules.dep for
exactly that closure to MODULES_DEP_OUT, so that busybox modprobe works in
the guest. Handles .ko, .ko.xz and .ko.zst (the latter needs `zstd`).
Modules built into the kernel (modules.builtin) are skipped silently.
"""
import lzma
import os
import re
import subprocess
import sys


def main() -> int:
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    moddir, dep_out, wanted = sys.argv[1], sys.argv[2], sys.argv[3:]

    def norm(name: str) -> str:
        return name.replace("-", "_")

    index = {}
    for root, _dirs, files in os.walk(os.path.join(moddir, "kernel")):
        for f in files:
            if re.search(r"\.ko(\.xz|\.zst)?$", f):
                rel = os.path.relpath(os.path.join(root, f), moddir)
                index[norm(f.split(".ko")[0])] = rel

    builtin = set()
    try:
        with open(os.path.join(moddir, "modules.builtin")) as fh:
            for line in fh:
                builtin.add(norm(os.path.basename(line.strip()).split(".ko")[0]))
    except FileNotFoundError:
        pass

    def read(rel: str) -> bytes:
        path = os.path.join(moddir, rel)
        if rel.endswith(".xz"):
            return lzma.open(path).read()
        if rel.endswith(".zst"):
            return subprocess.run(["zstd", "-dc", path], check=True, capture_output=True).stdout
        with open(path, "rb") as fh:
            return fh.read()

    deps = {}      # module name -> direct dependencies (names)
    order = []     # module names, dependencies first

    def visit(name: str, chain: tuple) -> None:
        name = norm(name)
        if name in deps:
            return
        if name not in index:
            if name in builtin:
                return
            sys.exit(f"moddeps: module {name} not found (wanted by {' -> '.join(chain) or 'command line'})")
        m = re.search(rb"(?:^|\0)depends=([^\0]*)\0", read(index[name]))
        direct = [d for d in (m.group(1).decode().split(",") if m and m.group(1) else []) if d]
        deps[name] = [norm(d) for d in direct]
        for d in direct:
            visit(d, chain + (name,))
        order.append(name)

    for w in wanted:
        visit(w, ())

    def closure(name: str, acc: list) -> list:
        for d in deps.get(name, []):
            if d in deps and d not in acc:
                acc.append(d)
                closure(d, acc)
        return acc

    with open(dep_out, "w") as fh:
        for name in order:
            # modules.dep lists the dependency to load first last; plain .ko after unpacking
            need = set(closure(name, []))
            rel = [index[d] for d in reversed(order) if d in need]
            fh.write(f"{plain(index[name])}: {' '.join(plain(r) for r in rel)}".rstrip() + "\n")
    print("\n".join(index[n] for n in order))
    return 0


def plain(rel: str) -> str:
    return re.sub(r"\.ko\.(xz|zst)$", ".ko", rel)


if __name__ == "__main__":
    sys.exit(main())
