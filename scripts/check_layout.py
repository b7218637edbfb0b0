#!/usr/bin/env python3
"""Checks the dependency rules of docs/ARCHITECTURE.md by reading the #include lines.

  python3 scripts/check_layout.py        exit 0 when the rules hold, 1 with one line per violation

Rules:
  1. Every source file lives in a room: src/<room>/*.cpp, include/yolonas/<room>/*.h, cli/, tests/,
     fuzz/, bench/. Nothing lies loose in src/ or include/yolonas/.
  2. A room includes only its own headers and those of the rooms below it (MAY_INCLUDE).
  3. The LibTorch-free rooms (core, detect, data, eval, runtime, export, serve) and the public API header
     api/detector.h never reach a LibTorch header, directly or through the headers they include.
"""
import os
import re
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

# Room -> the rooms whose headers it may include (its own included).
MAY_INCLUDE = {
    "core": {"core"},
    "detect": {"core", "detect"},
    "data": {"core", "detect", "data"},
    "eval": {"core", "detect", "data", "eval"},
    "runtime": {"core", "detect", "runtime"},
    "export": {"core", "detect", "runtime", "export"},
    "serve": {"core", "detect", "serve"},
    "model": {"core", "detect", "runtime", "model"},
    "api": {"core", "detect", "data", "eval", "runtime", "model", "api"},
    "train": {"core", "detect", "data", "eval", "runtime", "model", "train"},
}
TORCH_FREE_ROOMS = {"core", "detect", "data", "eval", "runtime", "export", "serve"}
TORCH_FREE_HEADERS = {"api/detector.h", "model/model_source.h"}  # public, under torch rooms
TORCH_INCLUDE = re.compile(r'#\s*include\s*[<"](torch/|ATen/|c10/|caffe2/)')
PROJECT_INCLUDE = re.compile(r'#\s*include\s*"yolonas/([a-z_]+)/([A-Za-z0-9_./]+)"')
ANY_PROJECT_INCLUDE = re.compile(r'#\s*include\s*"yolonas/([^"]+)"')


def rel(path):
    return os.path.relpath(path, ROOT)


def files_under(folder, exts):
    out = []
    for base, _, names in os.walk(os.path.join(ROOT, folder)):
        out += [os.path.join(base, n) for n in names if n.endswith(exts)]
    return sorted(out)


def includes(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return [(i + 1, line) for i, line in enumerate(f) if line.lstrip().startswith("#")]


def main():
    problems = []
    rooms = set(MAY_INCLUDE)

    # 1. Where files live.
    for path in files_under("src", (".cpp", ".h")):
        parts = rel(path).split(os.sep)
        if len(parts) != 3 or parts[1] not in rooms:
            problems.append(f"{rel(path)}: not in a room (src/<room>/file, rooms: {', '.join(sorted(rooms))})")
    for path in files_under("include/yolonas", (".h",)):
        parts = rel(path).split(os.sep)
        if len(parts) != 4 or parts[2] not in rooms:
            problems.append(f"{rel(path)}: not in a room (include/yolonas/<room>/file.h)")

    # 2. Who includes whom.
    def room_of(path):
        parts = rel(path).split(os.sep)
        if parts[0] == "src" and len(parts) == 3:
            return parts[1]
        if parts[:2] == ["include", "yolonas"] and len(parts) == 4:
            return parts[2]
        return None

    sources = files_under("src", (".cpp", ".h")) + files_under("include/yolonas", (".h",))
    for path in sources:
        room = room_of(path)
        if room not in MAY_INCLUDE:
            continue
        for line_no, line in includes(path):
            m = ANY_PROJECT_INCLUDE.search(line)
            if not m:
                continue
            pm = PROJECT_INCLUDE.search(line)
            if not pm:
                problems.append(f"{rel(path)}:{line_no}: includes yolonas/{m.group(1)}: not a room header")
                continue
            target = pm.group(1)
            if target not in MAY_INCLUDE[room]:
                problems.append(f"{rel(path)}:{line_no}: room '{room}' may not include '{target}/' "
                                f"(it may include: {', '.join(sorted(MAY_INCLUDE[room]))})")
            elif not os.path.exists(os.path.join(ROOT, "include/yolonas", target, pm.group(2))):
                problems.append(f"{rel(path)}:{line_no}: yolonas/{target}/{pm.group(2)} does not exist")

    # 3. LibTorch stays out of the torch-free rooms and public headers, also through includes.
    def header_path(name):
        return os.path.join(ROOT, "include/yolonas", name)

    torch_cache = {}

    def reaches_torch(path, stack=()):
        if path in torch_cache:
            return torch_cache[path]
        if path in stack or not os.path.exists(path):
            return None
        found = None
        for line_no, line in includes(path):
            if TORCH_INCLUDE.search(line):
                found = f"{rel(path)}:{line_no}"
                break
            m = PROJECT_INCLUDE.search(line)
            if m:
                via = reaches_torch(header_path(f"{m.group(1)}/{m.group(2)}"), stack + (path,))
                if via:
                    found = f"{rel(path)}:{line_no} -> {via}"
                    break
        torch_cache[path] = found
        return found

    checked = [p for p in sources if room_of(p) in TORCH_FREE_ROOMS]
    checked += [header_path(h) for h in sorted(TORCH_FREE_HEADERS)]
    for path in checked:
        via = reaches_torch(path)
        if via:
            problems.append(f"{rel(path)}: must not use LibTorch, but reaches it: {via}")

    for p in problems:
        print(p)
    n = len(sources)
    if problems:
        print(f"check_layout: {len(problems)} problem(s) in {n} files (rules: docs/ARCHITECTURE.md)")
        return 1
    print(f"check_layout: {n} files in {len(rooms)} rooms follow the include rules")
    return 0


if __name__ == "__main__":
    sys.exit(main())
