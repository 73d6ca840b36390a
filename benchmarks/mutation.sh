#!/usr/bin/env bash
# Mutation testing (mutmut 3) of the modules that hold g2m's mathematics. Not part of CI's default run.
#
#   benchmarks/mutation.sh                      # every module listed in TESTS_FOR below (long: hours on 2 cores)
#   benchmarks/mutation.sh g2m/utils/io.py ...  # only these modules
#
# Each module is mutated in a throw-away copy of the committed files (HEAD) and tested with the test files that
# exercise it (TESTS_FOR), in mutmut's own test selection (only the tests that reach the mutated function).
# Decorated functions are rewritten first (benchmarks/mutation_undecorate.py), since mutmut 3 skips them.
# Tests marked `slow` (whole training runs) are left out: mutants that only they reach count as "no tests".
# Per-module results go to docs/results/mutation/<module>.json; benchmarks/mutation_report.py renders
# docs/results/mutation.md (score per module, every surviving mutant with its diff and a reviewed reason).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python -c "import mutmut" 2>/dev/null || { echo "mutmut is not installed: pip install mutmut" >&2; exit 2; }

declare -A TESTS_FOR=(
  [g2m/distill/losses.py]="tests/distill/test_methods.py tests/test_properties.py"
  [g2m/distill/ffg2m.py]="tests/distill/test_ffg2m.py tests/distill/test_methods.py"
  [g2m/distill/vqgraph.py]="tests/models/test_vq.py tests/models/test_vq_tokenizer.py tests/distill/test_vq_teacher.py tests/distill/test_vqgraph.py"
  [g2m/distill/vq_teacher.py]="tests/models/test_vq.py tests/models/test_vq_tokenizer.py tests/distill/test_vq_teacher.py tests/distill/test_vqgraph.py tests/test_inference.py"
  [g2m/models/vq_tokenizer.py]="tests/models/test_vq.py tests/models/test_vq_tokenizer.py tests/distill/test_vq_teacher.py tests/distill/test_vqgraph.py tests/test_inference.py"
  [g2m/models/vq.py]="tests/models/test_vq.py tests/models/test_vq_tokenizer.py tests/distill/test_vq_teacher.py tests/distill/test_vqgraph.py"
  [g2m/evaluate.py]="tests/test_evaluate.py"
  [g2m/datasets/splits.py]="tests/datasets/test_splits.py tests/datasets/test_reference_splits.py"
  [g2m/condense/trees.py]="tests/condense/test_trees.py"
  [g2m/condense/mining.py]="tests/condense/test_mirage.py tests/graphcls/test_protocol.py"
  [g2m/training.py]="tests/test_training.py"
  [g2m/graph_inputs.py]="tests/test_graph_inputs.py tests/test_teacher.py tests/models/test_gnn.py"
  [g2m/utils/io.py]="tests/utils/test_io.py"
  [g2m/distill/nosmog.py]="tests/distill/test_nosmog.py"
  [g2m/distill/position.py]="tests/distill/test_nosmog.py"
  [g2m/inference.py]="tests/test_inference.py"
  [g2m/tune.py]="tests/test_tune.py"
  [g2m/config.py]="tests/test_config.py"
  [g2m/registry.py]="tests/test_registry.py"
  [g2m/teacher_outputs.py]="tests/test_teacher_outputs.py"
)
modules=("$@")
[ ${#modules[@]} -gt 0 ] || modules=("${!TESTS_FOR[@]}")
# One torch thread: mutmut forks a worker per mutant, and a forked child of a process whose OpenMP pool is
# running can deadlock (every mutant would time out).
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
out="$repo/docs/results/mutation"
mkdir -p "$out"

for module in "${modules[@]}"; do
  tests="${TESTS_FOR[$module]:-}"
  [ -n "$tests" ] || { echo "no test files listed for $module in TESTS_FOR" >&2; exit 2; }
  work="$(mktemp -d)"
  # the committed code (HEAD), not the working tree: edits in progress must not break the run (docs/results/tune:
  # tests/test_tune.py checks the shipped tuned defaults against those studies)
  git -C "$repo" archive HEAD g2m tests pyproject.toml docs/results/tune | tar xf - -C "$work"
  # mutmut 3 never mutates a decorated function, so `@register_loss(...)`, `@TEACHER_TRAINERS.register(...)` and
  # `@torch.no_grad()` functions would go unmeasured: in this copy only, rewrite each of them as a plain `def`
  # followed by `name = (decorator)(name)` (the same thing; @property/@staticmethod/@classmethod stay as they are).
  python "$repo/benchmarks/mutation_undecorate.py" "$work/$module"
  # a rewritten module that no longer imports or passes its tests would make every mutant look killed: check first
  (cd "$work" && python -m pytest -q -x -p no:cacheprovider -m "not slow" $tests > pretest.log 2>&1) \
    || { echo "the tests fail on the rewritten $module (unmutated); see $work/pretest.log" >&2; exit 1; }
  python - "$work/pyproject.toml" "$module" $tests <<'PY'
import json, sys
path, module, *tests = sys.argv[1:]
with open(path, "a") as fh:
    fh.write("\n[tool.mutmut]\nsource_paths = [\"g2m\"]\n"
             f"only_mutate = {json.dumps([module])}\n"
             f"pytest_add_cli_args_test_selection = {json.dumps(tests)}\n"
             "pytest_add_cli_args = [\"-p\", \"no:cacheprovider\", \"-m\", \"not slow\"]\n"
             "also_copy = [\"docs/results/tune\"]\n")
PY
  echo "== $module ($tests)"
  start=$(date +%s)
  (cd "$work" && mutmut run --max-children "${MUTMUT_CHILDREN:-2}" > mutmut.log 2>&1 || true)
  seconds=$(( $(date +%s) - start ))
  # a run in which mutmut tested nothing (it failed first) keeps the previous results and the work folder
  result="$out/$(echo "$module" | tr / _).json"
  python "$repo/benchmarks/mutation_report.py" collect "$work" "$module" "$seconds" $tests > "$result.tmp" \
    || { rm -f "$result.tmp"; exit 1; }
  mv "$result.tmp" "$result"
  rm -rf "$work"
done
python "$repo/benchmarks/mutation_report.py" render
