"""Collect one module's mutmut results (``collect WORKDIR MODULE SECONDS TESTS...``) or render
docs/results/mutation.md from every collected module (``render``). Used by benchmarks/mutation.sh.

Reasons for surviving mutants (equivalent or harmless, reviewed by hand) live in
``benchmarks/mutation_notes.json``: mutant name → one line. A survivor without a reason is listed as
"not reviewed": a test is missing or the reason is. Survivors that only a GPU can tell apart (reason "not
visible on CPU") are rerun on a GPU by benchmarks/gpu_mutants.py; its result, ``GPU`` below, counts those it
killed as killed in the score without equivalents.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "results" / "mutation"
NOTES = Path(__file__).with_name("mutation_notes.json")
GPU = OUT / "gpu_mutants.json"  # benchmarks/gpu_mutants.py: survivors rerun against the GPU tests on a GPU
UNVERIFIED = "not visible on CPU"  # a reason's start: a device mutant not (yet) run on a GPU


def collect(work: str, module: str, seconds: str, tests: list[str]) -> None:
    listing = subprocess.run(["mutmut", "results", "--all", "true"], cwd=work, capture_output=True, text=True).stdout
    status = dict(re.findall(r"^\s*(\S+): (.+)$", listing, flags=re.M))
    if not any(state != "not checked" for state in status.values()):  # mutmut failed before testing anything
        sys.exit(f"mutmut checked no mutant of {module}: see {work}/mutmut.log (results not written).")
    survivors = {}
    for name, state in status.items():
        if state == "survived":
            diff = subprocess.run(["mutmut", "show", name], cwd=work, capture_output=True, text=True).stdout
            survivors[name] = "\n".join(l for l in diff.splitlines()
                                         if l[:1] in ("-", "+") and not l.startswith(("---", "+++")))
    counts = {s: sum(v == s for v in status.values()) for s in sorted(set(status.values()))}
    print(json.dumps({"module": module, "tests": tests, "seconds": int(seconds), "counts": counts,
                      "survivors": survivors}, indent=1))


def render() -> None:
    notes = json.loads(NOTES.read_text()) if NOTES.exists() else {}
    gpu = json.loads(GPU.read_text()) if GPU.exists() else {"mutants": {}}
    gpu_killed = {name for name, m in gpu["mutants"].items() if m["status"] == "killed"}
    rows, details, scores = [], [], []
    total_killed = total_tested = total_equivalent = total_gpu = 0
    for path in sorted(p for p in OUT.glob("*.json") if p != GPU):
        r = json.loads(path.read_text())
        c = r["counts"]
        killed = c.get("killed", 0) + c.get("timeout", 0)
        tested = killed + c.get("survived", 0)
        on_gpu = sum(1 for name in r["survivors"] if name in gpu_killed)
        equivalent = sum(1 for name in r["survivors"] if name in notes and name not in gpu_killed
                         and not notes[name].startswith(UNVERIFIED))
        total_killed, total_tested, total_gpu = total_killed + killed, total_tested + tested, total_gpu + on_gpu
        score = 100.0 * killed / tested if tested else float("nan")
        adjusted = 100.0 * (killed + on_gpu) / (tested - equivalent) if tested > equivalent else float("nan")
        total_equivalent += equivalent
        scores.append((r["module"], score, adjusted))
        rows.append(f"| `{r['module']}` | {tested} | {killed}{f' + {on_gpu} on a GPU' if on_gpu else ''} | "
                    f"{c.get('survived', 0)} ({equivalent} reviewed as equivalent/harmless"
                    f"{f', {on_gpu} killed on a GPU' if on_gpu else ''}) | {c.get('no tests', 0)} | {score:.1f}% | "
                    f"**{adjusted:.1f}%** | {r['seconds']} |")
        for name, diff in r["survivors"].items():
            details.append(f"- `{name}`: {notes.get(name, '**not reviewed**')}\n\n  ```diff\n"
                           + "\n".join("  " + l for l in diff.splitlines()) + "\n  ```")
    figure = plot(scores)
    lines = ["# Mutation testing", "",
             "mutmut 3 plants one small change (a mutant) at a time in a module and runs the tests that reach it; "
             "a mutant is *killed* when a test fails. Score = killed / (killed + survived); the score without equivalents "
             "leaves out survivors reviewed as equivalent (no test can tell them apart) or harmless, each listed "
             "below with its reason. `no tests`: mutants in "
             "functions that the listed test files never call, or that only tests marked `slow` (whole training "
             "runs, left out of mutation runs) reach; not counted. mutmut 3 never mutates a decorated function, so "
             "before each run `benchmarks/mutation_undecorate.py` rewrites the mutated module's decorated functions, "
             "in the throw-away copy only, as a plain `def` followed by `name = (decorator)(name)` (what the "
             "decorator syntax means; `@property`, `@staticmethod` and `@classmethod` are left as they are), and "
             "the module's tests are run once on the rewritten copy before mutmut starts: the registered loss terms "
             "(`label_ce`, `soft_label_kl`, `lfd`, `hfd`, `rsd`, `adversarial_kl`, `soft_code_kl`), the VQ teacher "
             "trainer `train_vq_teacher` and the `@torch.no_grad()` functions (`kmeans`, `init_codebook`, "
             "`ema_update`, `revive_dead_codes`, `usage`, `tokenize_layerwise`, `layerwise_inference`) are measured "
             "like the rest. Survivors that "
             "move a tensor to the wrong device (`device=None` for `device=x.device`, a dropped `.cpu()`) look "
             "the same on the CPU, the mutation runs' only device: `benchmarks/gpu_mutants.py` reran each of "
             f"them on a GPU ({gpu.get('gpu')}, torch {gpu.get('torch')}; `mutation/gpu_mutants.json`) against "
             "the module's GPU tests (`-k on_a_gpu`, skipped without a GPU), one mutant at a time. Those it "
             f"killed ({total_gpu}) count as killed in the score without equivalents (*+ N on a GPU* below; the "
             "raw score is the CPU run's alone), and their reason names the test that failed; those that "
             "survived it are reviewed like the rest. A reason still starting *not visible on CPU* would mark "
             "a device mutant not yet run on a GPU, counted as neither killed nor equivalent. "
             "Made by `benchmarks/mutation.sh` "
             "(which test files serve which module: `TESTS_FOR` there); not part of CI's default run.", "",
             "| module | mutants tested | killed | survived | no tests | score | score without equivalents | seconds |",
             "|---|---|---|---|---|---|---|---|",
             *rows, "", f"![Mutation score per module, with and without reviewed equivalent mutants]({figure})", "",
             f"All modules run so far: {total_killed} of {total_tested} killed on the CPU "
             f"({100.0 * total_killed / max(total_tested, 1):.1f}%), {total_gpu} more on a GPU; "
             f"{100.0 * (total_killed + total_gpu) / max(total_tested - total_equivalent, 1):.1f}% without the "
             f"{total_equivalent} mutants reviewed as equivalent or harmless.", "", "## Surviving mutants", "", *details, ""]
    (ROOT / "docs" / "results" / "mutation.md").write_text("\n".join(lines))


def plot(scores: list[tuple[str, float, float]]) -> str:
    """Bar chart of the score per module (raw and without reviewed equivalents); returns the file name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sys.path.insert(0, str(ROOT))
    from g2m.utils import save_figure_atomic

    fig, ax = plt.subplots(figsize=(7, 0.45 * len(scores) + 1.2))
    y = range(len(scores))
    ax.barh([i + 0.2 for i in y], [s[2] for s in scores], height=0.4, label="without reviewed equivalents")
    ax.barh([i - 0.2 for i in y], [s[1] for s in scores], height=0.4, label="raw")
    ax.axvline(85, color="tab:red", ls="--", label="85% target")
    ax.set_yticks(list(y), [s[0] for s in scores], fontsize=8)
    ax.set_xlim(50, 100)
    ax.set_xlabel("mutation score (%)")
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    save_figure_atomic(ROOT / "docs" / "results" / "mutation.png", fig, dpi=100)
    plt.close(fig)
    return "mutation.png"


if __name__ == "__main__":
    if sys.argv[1] == "collect":
        collect(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
    else:
        render()
