"""Run the GPU tests against the surviving mutants that only a GPU can tell apart (``python
benchmarks/gpu_mutants.py --out FILE``); ``--dry-run`` only checks that every mutant applies.

The mutation runs (benchmarks/mutation.sh) had no GPU: survivors whose reason in benchmarks/mutation_notes.json
says *not visible on CPU* move a tensor to the wrong device. Each one's diff (one ``-`` line, one ``+`` line) is
in its module's docs/results/mutation/<module>.json. For each mutant this script copies g2m/, tests/ and
pyproject.toml to a scratch folder, replaces the original line with the mutated one in the mutated function
(the first line after its ``def`` whose stripped text matches), and runs that module's GPU tests (``-k on_a_gpu``
in the files of `GPU_TESTS`): a failing test kills the mutant. The unmutated tests run first (the baseline);
a module whose baseline fails is left out. Results go to ``--out`` as JSON (written after every mutant).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results" / "mutation"
NOTES = Path(__file__).with_name("mutation_notes.json")
MARKERS = ("not visible on CPU", "killed on a GPU", "Survived on a GPU")  # before and after a GPU run
GPU_TESTS = {  # module → the test files holding the GPU tests (``on_a_gpu`` in their names) that reach it
    "g2m/datasets/splits.py": ["tests/datasets/test_splits.py"],
    "g2m/distill/ffg2m.py": ["tests/distill/test_ffg2m.py"],
    "g2m/distill/position.py": ["tests/distill/test_nosmog.py"],
    "g2m/distill/vq_teacher.py": ["tests/distill/test_vq_teacher.py"],
    "g2m/graph_inputs.py": ["tests/test_graph_inputs.py"],
    "g2m/inference.py": ["tests/test_inference.py"],
    "g2m/models/vq_tokenizer.py": ["tests/models/test_vq_tokenizer.py", "tests/distill/test_vq_teacher.py"],
    "g2m/teacher_outputs.py": ["tests/test_teacher_outputs.py"],
    "g2m/utils/io.py": ["tests/utils/test_io.py"],
}
SELECT = "on_a_gpu"


def gpu_mutants() -> dict[str, dict[str, str]]:
    """Mutant id → ``module`` (file), ``old`` and ``new`` (the diff's lines, stripped), for every survivor whose
    reason marks it as visible on a GPU only."""
    notes = json.loads(NOTES.read_text())
    found = {}
    for path in sorted(RESULTS.glob("*.json")):
        result = json.loads(path.read_text())
        if "survivors" not in result:
            continue
        for name, diff in result["survivors"].items():
            if not any(m in notes.get(name, "") for m in MARKERS):
                continue
            old = [l[1:] for l in diff.splitlines() if l.startswith("-")]
            new = [l[1:] for l in diff.splitlines() if l.startswith("+")]
            if len(old) != 1 or len(new) != 1:
                raise SystemExit(f"{name}: expected a one-line diff, got\n{diff}")
            found[name] = {"module": result["module"], "old": old[0].strip(), "new": new[0].strip()}
    return found


def function_of(name: str, module: str) -> tuple[str | None, str]:
    """``(class or None, function)`` of a mutant id such as ``g2m.a.b.x_f__mutmut_3`` or
    ``g2m.a.b.xǁCǁm__mutmut_3``."""
    dotted = module.removesuffix(".py").replace("/", ".")
    rest = name.split("__mutmut_")[0].removeprefix(dotted + ".")
    if rest.startswith("xǁ"):
        cls, method = rest[2:].split("ǁ")
        return cls, method
    return None, rest.removeprefix("x_")


def mutate(source: str, name: str, mutant: dict[str, str]) -> tuple[str, int]:
    """``source`` with the mutant's line replaced inside its function; also how many lines of that function
    match the original (the first one is replaced). Raises ValueError when the function or line is not found."""
    lines = source.splitlines(keepends=True)
    cls, func = function_of(name, mutant["module"])
    start = 0
    if cls is not None:
        start = next((i for i, l in enumerate(lines) if re.match(rf"class {re.escape(cls)}\b", l)), None)
        if start is None:
            raise ValueError(f"class {cls} not found")
    indent = r"\s+" if cls is not None else ""
    pattern = re.compile(rf"{indent}(async\s+)?def {re.escape(func)}\(")
    head = next((i for i in range(start, len(lines)) if pattern.match(lines[i])), None)
    if head is None:
        raise ValueError(f"def {func} not found")
    depth = len(lines[head]) - len(lines[head].lstrip())
    end = head + 1  # the function's body: up to the next non-blank line indented no deeper than its def
    while end < len(lines) and (not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > depth
                                or lines[end].lstrip().startswith(")")):
        end += 1
    matches = [i for i in range(head + 1, end) if lines[i].strip() == mutant["old"]]
    if not matches:
        raise ValueError(f"line not found in {func}: {mutant['old']}")
    i = matches[0]
    ending = "\n" if lines[i].endswith("\n") else ""
    lines[i] = lines[i][: len(lines[i]) - len(lines[i].lstrip())] + mutant["new"] + ending
    return "".join(lines), len(matches)


def scratch_copy(dest: Path) -> None:
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("g2m", "tests"):
        shutil.copytree(ROOT / folder, dest / folder, ignore=skip)
    shutil.copy2(ROOT / "pyproject.toml", dest / "pyproject.toml")


def run_tests(folder: Path, files: list[str], stop_first: bool, timeout: float) -> dict:
    """The GPU tests of ``files`` in ``folder``: return code, per-test outcomes, first error line, seconds."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", "-k", SELECT,
           *(["-x"] if stop_first else []), *files]
    env = {**os.environ, "PYTHONPATH": str(folder), "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=timeout)
        rc, out = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        rc, out = "timeout", (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
    outcomes = dict((t, s) for s, t in re.findall(r"^(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) (\S+)", out, re.M))
    error = next((l.strip() for l in out.splitlines() if l.startswith("E ")), None)
    return {"rc": rc, "outcomes": outcomes, "error": error, "seconds": round(time.perf_counter() - start, 1),
            "tail": out[-3000:]}


def run_mutant(name: str, mutant: dict[str, str], timeout: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="g2m-mutant-") as tmp:
        folder = Path(tmp)
        scratch_copy(folder)
        target = folder / mutant["module"]
        target.write_text(mutate(target.read_text(), name, mutant)[0])
        r = run_tests(folder, GPU_TESTS[mutant["module"]], stop_first=True, timeout=timeout)
    passed = [t for t, s in r["outcomes"].items() if s == "PASSED"]
    failed = [t for t, s in r["outcomes"].items() if s in ("FAILED", "ERROR")]
    if r["rc"] == "timeout":
        status = "killed"  # as mutmut counts a timeout
    elif r["rc"] == 0:
        status = "survived" if passed else "not run"  # every test skipped: no GPU
    else:
        status = "killed"
    out = {"module": mutant["module"], "status": status, "seconds": r["seconds"], "rc": r["rc"]}
    if status == "killed":
        out.update(test=failed[0] if failed else None, error=r["error"])
    else:
        out["passed"] = passed
    if status != "survived" and not failed:
        out["tail"] = r["tail"][-1500:]
    return out


def environment() -> dict:
    import torch

    return {"torch": torch.__version__, "cuda": torch.version.cuda, "python": sys.version.split()[0],
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="JSON result file")
    parser.add_argument("--dry-run", action="store_true", help="only check that every mutant applies")
    parser.add_argument("--jobs", type=int, default=12)
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds per test run")
    parser.add_argument("--budget", type=float, default=420.0, help="start no mutant after this many seconds")
    parser.add_argument("--only", nargs="*", help="these mutant ids only")
    args = parser.parse_args()
    mutants = gpu_mutants()
    if args.only:
        mutants = {k: v for k, v in mutants.items() if k in args.only}
    unknown = sorted({m["module"] for m in mutants.values()} - set(GPU_TESTS))
    if unknown:
        raise SystemExit(f"no GPU test files listed for {unknown} (GPU_TESTS)")
    bad = 0
    for name, m in mutants.items():
        try:
            text, matches = mutate((ROOT / m["module"]).read_text(), name, m)
            compile(text, m["module"], "exec")
        except (ValueError, SyntaxError) as exc:
            bad += 1
            print(f"FAILS TO APPLY {name}: {exc}")
            continue
        if matches > 1:
            print(f"note: {name}: {matches} lines of its function match; the first is replaced")
    by_module = {}
    for m in mutants.values():
        by_module[m["module"]] = by_module.get(m["module"], 0) + 1
    print(f"{len(mutants) - bad} of {len(mutants)} mutants apply (one line each): "
          + ", ".join(f"{k} {v}" for k, v in sorted(by_module.items())))
    if bad or args.dry_run:
        sys.exit(1 if bad else 0)
    if args.out is None:
        raise SystemExit("--out FILE is needed (or --dry-run)")

    start = time.perf_counter()
    result = {**environment(), "jobs": args.jobs, "select": f"-k {SELECT}", "baseline": {}, "mutants": {}}

    def save() -> None:
        statuses = [r["status"] for r in result["mutants"].values()]
        result["counts"] = {s: statuses.count(s) for s in sorted(set(statuses))}
        result["seconds"] = round(time.perf_counter() - start, 1)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")

    print(f"{result['gpu']}, torch {result['torch']}: baseline", flush=True)
    files = sorted({f for m in mutants.values() for f in GPU_TESTS[m["module"]]})
    with tempfile.TemporaryDirectory(prefix="g2m-baseline-") as tmp, ThreadPoolExecutor(args.jobs) as pool:
        scratch_copy(Path(tmp))
        runs = dict(zip(files, pool.map(lambda f: run_tests(Path(tmp), [f], False, args.timeout), files)))
    broken = set()
    for f, r in runs.items():
        result["baseline"][f] = {k: r[k] for k in ("rc", "outcomes", "seconds")}
        ok = r["rc"] == 0 and r["outcomes"] and all(s == "PASSED" for s in r["outcomes"].values())
        print(f"  {f}: {'ok' if ok else 'FAILED'} {r['outcomes']} ({r['seconds']} s)", flush=True)
        if not ok:
            broken.add(f)
            result["baseline"][f]["tail"] = r["tail"]
    save()
    todo = {}
    for name, m in mutants.items():
        if broken & set(GPU_TESTS[m["module"]]):
            result["mutants"][name] = {"module": m["module"], "status": "not run: baseline failed"}
        else:
            todo[name] = m
    # the slow module's mutants first, so that the pool ends together
    order = sorted(todo, key=lambda k: (todo[k]["module"] != "g2m/distill/vq_teacher.py", k))
    with ThreadPoolExecutor(args.jobs) as pool:
        futures = {}
        for name in order:
            futures[pool.submit(lambda n=name: run_mutant(n, todo[n], args.timeout)
                                if time.perf_counter() - start < args.budget
                                else {"module": todo[n]["module"], "status": "not run: out of time"})] = name
        for future in as_completed(futures):
            name = futures[future]
            result["mutants"][name] = r = future.result()
            print(f"  {r['status']:9} {name} ({r.get('seconds', 0)} s) {r.get('test') or ''}", flush=True)
            save()
    save()
    print(json.dumps(result["counts"]), f"{result['seconds']} s")


if __name__ == "__main__":
    main()
