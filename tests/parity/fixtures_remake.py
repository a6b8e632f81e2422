#!/usr/bin/env python3
"""The golden fixtures are reproducible: remakes them and compares with the committed ones.

Runs tests/fixtures/make_fixtures.py --out TMP (the pinned torch / transformers / peft /
tokenizers, float32 eager attention on the CPU, one thread) and compares every file it wrote with
the committed file of the same path under tests/fixtures:
  - JSON / JSONL: structurally (same keys in the same order, same list lengths); integers,
    strings, booleans and null exactly; floats within rtol 1e-4 + atol 1e-6 (the project's
    float32 tolerance: the remake runs on another CPU, whose SIMD width reorders float32 sums,
    and an Adam step carries that noise into the trained values). One value is a
    bound rather than a result and passes when both sides are below it:
    `batched_vs_single_maxdiff` (float32 noise of padding, < 1e-4). versions.json compares the
    public versions (a local tag such as torch's +cu130 / +cpu is left out): another installed
    transformers / peft / tokenizers than the pinned ones is a difference.
  - safetensors: the same tensor names, dtypes and shapes; values within rtol 1e-4 + an atol of
    1e-4 x the tensor's largest |value| (at least 1e-6): a logit near zero is a sum of terms of
    the tensor's scale, and its reordering noise is of that scale, not of its own size.
  - anything else (report/*.yaml): byte for byte.
It also remakes tests/chat/jinja_cases.json with tests/chat/make_jinja_cases.py (jinja2 only)
in a temporary copy of its layout, compared the same way.

Prints one row per file (exact bytes / within tolerance / DIFFERENT, with the worst difference)
and the differing values.

usage: tests/parity/fixtures_remake.py [--dpo BINARY] [--keep] [--show N]
  --dpo is accepted and ignored (CMake's dpo_parity_test passes it to every harness).
exit: 0 every file matches; 1 a difference or an error; 77 torch, transformers, peft, tokenizers,
safetensors or jinja2 not importable (CTest's SKIP_RETURN_CODE), except with CI=true, where a
missing reference is a failure (1). About 40 s on 2 cores (make_fixtures.py: ~20 s).
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
MAKE = os.path.join(FIXTURES, "make_fixtures.py")
JINJA_MAKE = os.path.join(ROOT, "tests", "chat", "make_jinja_cases.py")
JINJA_CASES = os.path.join(ROOT, "tests", "chat", "jinja_cases.json")
RTOL, ATOL = 1e-4, 1e-6
SCALE_ATOL = 1e-4  # safetensors: atol = max(ATOL, SCALE_ATOL * max |committed tensor|)
BOUNDS = {"batched_vs_single_maxdiff": 1e-4}
SKIP = 77
MODULES = ["torch", "transformers", "peft", "tokenizers", "safetensors", "jinja2"]


def missing_reference(what):
    if os.environ.get("CI", "").lower() == "true":
        print(f"fixtures_remake: {what} not importable, and CI=true: failing", file=sys.stderr)
        sys.exit(1)
    print(f"fixtures_remake: SKIP: {what} not importable (scripts/setup.sh installs requirements.txt)",
          file=sys.stderr)
    sys.exit(SKIP)


def check_modules():
    import importlib
    missing = []
    for name in MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # an ImportError, or a broken install
            missing.append(name)
    if missing:
        missing_reference(", ".join(missing))


# ------------------------------------------------------------------------------------- comparing


class Diffs:
    def __init__(self):
        self.items = []      # (path, message)
        self.worst = 0.0     # largest |a-b| / (atol + rtol |b|) among the floats compared
        self.worst_abs = 0.0
        self.worst_rel = 0.0
        self.floats = 0

    def add(self, path, message):
        self.items.append((path, message))

    def close(self, path, made, committed):
        self.floats += 1
        d = abs(made - committed)
        self.worst_abs = max(self.worst_abs, d)
        if committed != 0:
            self.worst_rel = max(self.worst_rel, d / abs(committed))
        ratio = d / (ATOL + RTOL * abs(committed))
        self.worst = max(self.worst, ratio)
        if not (ratio <= 1.0) or math.isnan(made) != math.isnan(committed):
            self.add(path, f"{made!r} vs committed {committed!r} (|diff| {d:.3g}, rel {d / max(abs(committed), 1e-30):.3g})")


def compare_json(made, committed, path, diffs):
    key = path.rsplit(".", 1)[-1]
    if isinstance(committed, dict):
        if not isinstance(made, dict):
            return diffs.add(path, f"{type(made).__name__} vs committed object")
        if list(made) != list(committed):
            return diffs.add(path, f"keys {list(made)} vs committed {list(committed)}")
        for k in committed:
            compare_json(made[k], committed[k], f"{path}.{k}", diffs)
    elif isinstance(committed, list):
        if not isinstance(made, list):
            return diffs.add(path, f"{type(made).__name__} vs committed list")
        if len(made) != len(committed):
            return diffs.add(path, f"length {len(made)} vs committed {len(committed)}")
        for i, (a, b) in enumerate(zip(made, committed)):
            compare_json(a, b, f"{path}[{i}]", diffs)
    elif isinstance(committed, float) and not isinstance(made, bool) and isinstance(made, (int, float)):
        if key in BOUNDS:
            if not (made < BOUNDS[key] and committed < BOUNDS[key]):
                diffs.add(path, f"{made!r} and committed {committed!r} must both be < {BOUNDS[key]}")
        else:
            diffs.close(path, float(made), committed)
    elif type(made) is not type(committed) or made != committed:
        diffs.add(path, f"{made!r:.80} vs committed {committed!r:.80}")


def public_versions(obj):
    return {k: v.split("+")[0] if isinstance(v, str) else v for k, v in obj.items()}


def compare_json_file(made_path, committed_path, rel, diffs):
    with open(made_path, encoding="utf-8") as f:
        made = json.load(f)
    with open(committed_path, encoding="utf-8") as f:
        committed = json.load(f)
    if os.path.basename(rel) == "versions.json":
        made, committed = public_versions(made), public_versions(committed)
    before = len(diffs.items)
    compare_json(made, committed, rel, diffs)
    if os.path.basename(rel) == "versions.json" and len(diffs.items) > before:
        diffs.add(rel, "the installed packages are not the ones the fixtures were made with "
                       "(requirements.txt pins them; scripts/setup.sh installs them)")


def compare_jsonl_file(made_path, committed_path, rel, diffs):
    def rows(p):
        with open(p, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    compare_json(rows(made_path), rows(committed_path), rel, diffs)


def compare_safetensors_file(made_path, committed_path, rel, diffs):
    import torch
    from safetensors.torch import load_file
    made, committed = load_file(made_path), load_file(committed_path)
    if sorted(made) != sorted(committed):
        extra, missing = sorted(set(made) - set(committed)), sorted(set(committed) - set(made))
        diffs.add(rel, f"tensor names differ: new {extra[:5]}, missing {missing[:5]}")
    for name in sorted(set(made) & set(committed)):
        a, b = made[name], committed[name]
        where = f"{rel}:{name}"
        if a.dtype != b.dtype or list(a.shape) != list(b.shape):
            diffs.add(where, f"{a.dtype} {list(a.shape)} vs committed {b.dtype} {list(b.shape)}")
            continue
        a, b = a.double(), b.double()
        d = (a - b).abs()
        diffs.floats += a.numel()
        if a.numel() == 0:
            continue
        diffs.worst_abs = max(diffs.worst_abs, float(d.max()))
        nz = b != 0
        if bool(nz.any()):
            diffs.worst_rel = max(diffs.worst_rel, float((d[nz] / b[nz].abs()).max()))
        atol = max(ATOL, SCALE_ATOL * float(b.abs().max()))
        ratio = d / (atol + RTOL * b.abs())
        worst_i = int(ratio.flatten().argmax())
        diffs.worst = max(diffs.worst, float(ratio.flatten()[worst_i]))
        bad = int((~(ratio <= 1.0)).sum())
        if bad:
            diffs.add(where, f"{bad}/{a.numel()} values off; worst [{worst_i}] "
                             f"{float(a.flatten()[worst_i])!r} vs {float(b.flatten()[worst_i])!r} "
                             f"(max |diff| {float(d.max()):.3g})")


def compare_file(made_path, committed_path, rel):
    diffs = Diffs()
    if not os.path.exists(committed_path):
        diffs.add(rel, "no committed file (a new golden file: commit it, or the generator is wrong)")
        return "MISSING", diffs
    with open(made_path, "rb") as f:
        made_bytes = f.read()
    with open(committed_path, "rb") as f:
        committed_bytes = f.read()
    if made_bytes == committed_bytes:
        return "exact bytes", diffs
    try:
        if rel.endswith(".json"):
            compare_json_file(made_path, committed_path, rel, diffs)
        elif rel.endswith(".jsonl"):
            compare_jsonl_file(made_path, committed_path, rel, diffs)
        elif rel.endswith(".safetensors"):
            compare_safetensors_file(made_path, committed_path, rel, diffs)
        else:
            diffs.add(rel, f"bytes differ ({len(made_bytes)} vs committed {len(committed_bytes)} bytes)")
    except Exception as e:  # an unreadable file is a difference, with the reason
        diffs.add(rel, f"cannot compare: {type(e).__name__}: {e}")
    return ("DIFFERENT" if diffs.items else "within tolerance"), diffs


# ------------------------------------------------------------------------------------- running


def run(cmd, what, cwd=None):
    t0 = time.time()
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        print(proc.stdout[-6000:])
        print(f"fixtures_remake: {what} failed (exit {proc.returncode})", file=sys.stderr)
        sys.exit(1)
    return proc.stdout, time.time() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dpo", help="ignored (the CMake helper passes the binary to every harness)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder and print it")
    ap.add_argument("--show", type=int, default=20, help="differing values printed per file")
    args = ap.parse_args()
    check_modules()

    tmp = tempfile.mkdtemp(prefix="dpo-fixtures-remake-")
    try:
        out = os.path.join(tmp, "fixtures")
        env_cmd = [sys.executable, MAKE, "--out", out]
        log, seconds = run(env_cmd, "make_fixtures.py")
        made = sorted(line.split("wrote ", 1)[1].strip() for line in log.splitlines()
                      if line.startswith("make_fixtures: wrote "))
        pairs = [(os.path.join(out, rel), os.path.join(FIXTURES, rel), "tests/fixtures/" + rel) for rel in made]
        print(f"fixtures_remake: make_fixtures.py wrote {len(made)} files in {seconds:.1f} s")

        # tests/chat/jinja_cases.json: its script writes next to itself and reads
        # ../fixtures/chat_template_cases.json, so it runs in a copy of that layout.
        jdir = os.path.join(tmp, "jinja")
        os.makedirs(os.path.join(jdir, "chat"))
        os.makedirs(os.path.join(jdir, "fixtures"))
        shutil.copy(JINJA_MAKE, os.path.join(jdir, "chat"))
        shutil.copy(os.path.join(FIXTURES, "chat_template_cases.json"), os.path.join(jdir, "fixtures"))
        run([sys.executable, os.path.join(jdir, "chat", "make_jinja_cases.py")], "make_jinja_cases.py")
        pairs.append((os.path.join(jdir, "chat", "jinja_cases.json"), JINJA_CASES, "tests/chat/jinja_cases.json"))

        failed = 0
        width = max(len(rel) for _, _, rel in pairs)
        print(f"{'file':<{width}}  {'result':<16}  {'values':>8}  {'max |diff|':>10}  {'max rel':>9}  {'worst/tol':>9}")
        reports = []
        for made_path, committed_path, rel in pairs:
            result, diffs = compare_file(made_path, committed_path, rel)
            failed += result in ("DIFFERENT", "MISSING")
            if result == "exact bytes":
                print(f"{rel:<{width}}  {result:<16}  {'':>8}  {'0':>10}  {'0':>9}  {'0':>9}")
            else:
                print(f"{rel:<{width}}  {result:<16}  {diffs.floats:>8}  {diffs.worst_abs:>10.3g}  "
                      f"{diffs.worst_rel:>9.3g}  {diffs.worst:>9.3g}")
            if diffs.items:
                reports.append((rel, diffs))
        for rel, diffs in reports:
            print(f"\n{rel}: {len(diffs.items)} differences")
            for path, message in diffs.items[:args.show]:
                print(f"  {path}: {message}")
            if len(diffs.items) > args.show:
                print(f"  ... and {len(diffs.items) - args.show} more")
        print()
        if failed:
            print(f"fixtures_remake: FAIL: {failed} of {len(pairs)} files differ from the committed ones "
                  f"(tolerance rtol {RTOL:g} + atol {ATOL:g}, tensors atol {SCALE_ATOL:g} x their largest value); remake them with "
                  f".venv/bin/python3 tests/fixtures/make_fixtures.py and see tests/fixtures/PROVENANCE.md")
            return 1
        print(f"fixtures_remake: OK: all {len(pairs)} files match (rtol {RTOL:g} + atol {ATOL:g})")
        return 0
    finally:
        if args.keep:
            print(f"fixtures_remake: kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
