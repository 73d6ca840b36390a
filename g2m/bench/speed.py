"""Inference latency of a teacher GNN against its graph-free student, on unseen (held-out) nodes.

Two regimes:

- **cold start**: a request brings ``B`` nodes. The teacher must gather their L-hop neighbourhood (L = its
  receptive field) from the graph in memory, exactly (``k_hop_subgraph``) or with its training fan-out
  (`g2m.graph_inputs.sample_around`), gather the subgraph's features, then run; the student reads the ``B``
  nodes' feature rows and runs, in torch eager, TorchScript and onnxruntime (files from `g2m.export`).
- **full graph**: the teacher on the whole graph (adjacency prepared once, untimed) against the student on
  every node.

Teachers run in torch eager (PyG layers over a sparse adjacency have no TorchScript/ONNX export in g2m).
Every measurement: ``warmup`` untimed calls, then ``repeats`` calls timed one by one with
``time.perf_counter``; median and p95 in milliseconds. Batches are drawn from the held-out test nodes of
the inductive split (never seen in training) with a fixed seed; every model sees the same batches.

```python
from g2m.bench import measure_speed

result = measure_speed("runs/glnn-cora", batch_sizes=(1, 100), repeats=20, threads=2)
result["speedup"]["100"]      # {"exact": ..., "sampled": ..., "student_runtime": ...}
```
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import torch
from torch import Tensor

from g2m.bench.runners import PositionInputs, StudentRunner, TeacherRunner, student_runtimes
from g2m.bench.runs import RunModels, load_run
from g2m.bench.sparse import first_layer_crossover
from g2m.utils.io import file_sha256
from g2m.bench.timing import load_average, machine_environment, time_calls
from g2m.errors import ConfigError
from g2m.utils.threads import torch_threads

DEFAULT_BATCH_SIZES = (1, 10, 100, 1024)
RUNTIMES = ("eager", "torchscript", "torchscript-dense", "onnx", "onnx-int8")
NOTES = [
    "Teachers run in torch eager; students in each runtime listed.",
    "The graph is held in memory as a COO edge_index; the teacher's cold-start time includes gathering the "
    "neighbourhood (exact: torch_geometric.utils.k_hop_subgraph; sampled: g2m.graph_inputs.sample_around with the "
    "teacher's training fan-out), gathering its features, building its adjacency and the forward pass.",
    "The student's cold-start time includes gathering the B nodes' feature rows and the forward pass with "
    "softmax. Eager and torchscript read the features as g2m keeps them (sparse CSR when at most "
    "g2m.graph_inputs.SPARSE_MAX_DENSITY of the values are non-zero: a sparse first layer), torchscript-dense the "
    "same features dense, onnx and onnx-int8 dense rows (ONNX has no CSR input). onnx-int8 is the student "
    "exported with `g2m export --quantize int8` (onnxruntime dynamic quantization).",
    "Full graph: the teacher's adjacency is prepared once, untimed; the student runs on every node at once.",
    "A position-aware student (method …+pos) is not graph-free for new nodes: its cold-start time also includes "
    "reading the batch's neighbours in the graph in memory (CSR by target) and averaging their training-graph "
    "positions (g2m.bench.runners.PositionInputs); its full-graph inputs are prepared once, untimed.",
    "Speed-up = teacher median / student median, the student in its fastest runtime at that batch size.",
]

Progress = Callable[[str], None]


def measure_speed(run_dir_or_dataset: str | Path, batch_sizes: Iterable[int] = DEFAULT_BATCH_SIZES,
                  repeats: int = 100, warmup: int = 10, threads: int | None = None,
                  runtimes: Sequence[str] = RUNTIMES, seed: int = 0, *, method: str | None = None,
                  fan_out: int | None = None, root: str | Path | None = None, output: str | Path | None = None,
                  teacher_params: dict[str, Any] | None = None, student_params: dict[str, Any] | None = None,
                  progress: Progress | None = None) -> dict[str, Any]:
    """Time a run's teacher (cold start exact and sampled, full graph) against its student's runtimes.

    Args:
        run_dir_or_dataset: a run folder written by `g2m distill` (its inductive checkpoints of ``seed``,
            else of its lowest seed; transductive ones only when it has no inductive run), or a dataset name:
            then a SAGE teacher and a GLNN student are trained for ``seed`` (inductive setting) into
            ``output`` (default a temporary folder, removed afterwards).
        batch_sizes: cold-start batch sizes (nodes per request).
        repeats: timed calls per measurement.
        warmup: untimed calls before each measurement.
        threads: intra-op threads for torch and onnxruntime (default: torch's current count); restored after.
        runtimes: student runtimes, from `RUNTIMES` (ONNX ones skipped, with the reason recorded, when
            onnx/onnxruntime are missing).
        seed: the run's seed, and the seed of the batch draws and of neighbour sampling.
        method: the student method in a run folder holding several.
        fan_out: neighbours sampled per node and hop for the sampled teacher (default: the teacher's training
            fan-out; 0 or none recorded: the sampled variant is skipped).
        root: data root for the dataset.
        output: where to keep the run trained for a dataset name (ignored for a run folder).
        teacher_params: teacher overrides when training (e.g. ``{"max_epochs": 50}``).
        student_params: student overrides when training.
        progress: called with a short label before each measurement.

    Returns:
        a JSON-ready dict: ``dataset``, ``teacher``, ``student_method``, ``environment``, ``cold_start``
        (per batch size: ``teacher_exact``, ``teacher_sampled``, ``student`` per runtime), ``full_graph``,
        ``speedup`` (per batch size: ``exact`` and ``sampled`` ratios), ``accuracy`` on the held-out nodes,
        and how it was measured.
    """
    sizes = _check_args(batch_sizes, repeats, warmup, runtimes)
    say = progress or (lambda _label: None)
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="g2m-speed-")))
        source = Path(run_dir_or_dataset)
        trained = not (source / "config.json").is_file()  # else a dataset name (or a folder of user files)
        if trained:
            source = _train(str(run_dir_or_dataset), seed, Path(output) if output else tmp / "run", root,
                            teacher_params, student_params, say)
        n_threads = stack.enter_context(torch_threads(threads))
        stack.enter_context(torch.random.fork_rng(devices=[]))
        stack.enter_context(torch.no_grad())
        torch.manual_seed(seed)
        run = load_run(source, seed, method, fan_out, root)
        env = machine_environment(n_threads)
        result = _measure(run, sizes, repeats, warmup, list(runtimes), seed, n_threads, tmp, say)
        env["load_average_1m_after"] = load_average()
        result["environment"] = env
        result["run_dir"] = None if trained and output is None else str(source)
        result["trained_for_this_measurement"] = trained
        return result


def _check_args(batch_sizes: Iterable[int], repeats: int, warmup: int, runtimes: Sequence[str]) -> list[int]:
    given = list(batch_sizes)
    sizes = list(dict.fromkeys(int(b) for b in given))
    if not sizes or min(sizes) < 1:
        raise ConfigError(f"batch sizes must be positive integers, got {given}.")
    if repeats < 1 or warmup < 0:
        raise ConfigError(f"repeats must be at least 1 and warmup at least 0, got {repeats} and {warmup}.")
    unknown = [r for r in runtimes if r not in RUNTIMES]
    if unknown or not runtimes:
        raise ConfigError(f"unknown student runtime(s) {unknown or runtimes}; choose from {', '.join(RUNTIMES)}.")
    return sizes


def _train(dataset: str, seed: int, out: Path, root: str | Path | None, teacher_params: dict[str, Any] | None,
           student_params: dict[str, Any] | None, say: Progress) -> Path:
    """A SAGE teacher and a GLNN student of one seed, inductive setting, written to ``out``."""
    from g2m.api import distill

    say(f"training a sage teacher and a glnn student on {dataset} (seed {seed}) into {out}")
    distill(dataset, teacher="sage", method="glnn", seeds=[seed], setting="ind", root=root, output=out,
            teacher_params=teacher_params, student_params=student_params, device="cpu")
    return out


def _measure(run: RunModels, sizes: list[int], repeats: int, warmup: int, runtimes: list[str], seed: int,
             threads: int, tmp: Path, say: Progress) -> dict[str, Any]:
    from g2m.datasets import node_split
    from g2m.graph_inputs import as_model_input

    data = run.dataset.data
    held_out = node_split(run.dataset, run.seed, "ind").test_ind
    x_teacher = as_model_input(data.x)  # as models read features in training (sparse CSR if mostly 0)
    x_dense = (data.x.to_dense() if data.x.layout != torch.strided else data.x).float().contiguous()
    students, skipped = student_runtimes(run, runtimes, x_teacher, threads, tmp)
    teacher = TeacherRunner(run, x_teacher) if run.teacher is not None else None
    no_teacher = {"skipped": f"the {run.student_ckpt['name']!r} student was trained without a teacher"}

    cold: dict[str, Any] = {}
    speedup: dict[str, Any] = {}
    for size in sizes:
        batches = draw_batches(held_out, size, warmup + repeats, seed)
        entry: dict[str, Any] = {"teacher_exact": no_teacher, "teacher_sampled": no_teacher, "student": {},
                                 "with_replacement": size > held_out.numel()}
        if teacher is not None:
            say(f"batch {size}: teacher, exact neighbourhood")
            entry["teacher_exact"] = time_calls(teacher.cold(None), batches, warmup, repeats)
            if run.fan_out:
                say(f"batch {size}: teacher, fan-out {run.fan_out}")
                entry["teacher_sampled"] = {**time_calls(teacher.cold(run.fan_out), batches, warmup, repeats),
                                            "fan_out": run.fan_out}
            else:
                entry["teacher_sampled"] = {"skipped": "the teacher was trained on full neighbourhoods (no fan-out)"}
        for name, runner in students.items():
            say(f"batch {size}: student, {name}")
            entry["student"][name] = time_calls(runner.cold, batches, warmup, repeats)
        entry["student"].update(skipped)
        cold[str(size)] = entry
        speedup[str(size)] = speedups(entry["teacher_exact"], entry["teacher_sampled"], entry["student"])

    say("first layer: sparse or dense features")
    first = run.student.lins[0]
    layout = (first_layer_crossover(x_dense, first.weight, first.bias) if run.student_ckpt.get("positions") is None
              else {"skipped": "a position-aware student reads features and positions, dense"})
    say("full graph")
    full = full_graph(teacher, students, skipped, warmup, repeats, data.num_nodes, data.edge_index.size(1))
    return {
        "dataset": run.dataset.name,
        "teacher": run.teacher_ckpt["name"] if run.teacher_ckpt else None,
        "student_method": run.student_ckpt["name"],
        "seed": run.seed, "setting": run.setting, "batch_seed": seed,
        "held_out_nodes": int(held_out.numel()),
        "measurement": {"batch_sizes": sizes, "repeats": repeats, "warmup": warmup, "threads": threads,
                        "runtimes": runtimes, "teacher_runtime": "eager",
                        "batches": "drawn from the held-out test nodes of the inductive split, without "
                                   "replacement (with replacement when a batch is larger than the held-out set)"},
        "teacher_details": _teacher_details(run),
        "student_details": {"checkpoint": run.student_path.name, "sha256": file_sha256(run.student_path),
                            **{k: run.student_ckpt["kwargs"].get(k) for k in ("hidden_channels", "num_layers")}},
        "graph": {"nodes": data.num_nodes, "edges": int(data.edge_index.size(1)), "features": run.dataset.num_features,
                  "teacher_feature_layout": "sparse_csr" if x_teacher.layout == torch.sparse_csr else "dense"},
        "cold_start": cold,
        "full_graph": full,
        "speedup": speedup,
        "accuracy": held_out_accuracy(run, teacher, x_dense, held_out, seed),
        "runtime_outputs": runtime_outputs(run, students, x_dense, held_out),
        "first_layer": layout,
        "notes": NOTES + (["Only transductive checkpoints: the held-out nodes were seen in training."]
                          if run.setting == "tran" else []),
    }


def draw_batches(pool: Tensor, size: int, count: int, seed: int) -> list[Tensor]:
    """``count`` seeded batches of ``size`` nodes from ``pool`` (with replacement only if ``size > len(pool)``)."""
    if pool.numel() == 0:
        raise ConfigError("the inductive split holds no held-out nodes to time on.")
    gen = torch.Generator().manual_seed(seed * 1_000_003 + size)
    if size <= pool.numel():
        return [pool[torch.randperm(pool.numel(), generator=gen)[:size]] for _ in range(count)]
    return [pool[torch.randint(pool.numel(), (size,), generator=gen)] for _ in range(count)]


def full_graph(teacher: TeacherRunner | None, students: dict[str, StudentRunner], skipped: dict[str, Any],
               warmup: int, repeats: int, nodes: int, edges: int) -> dict[str, Any]:
    """The teacher on the whole graph vs the student on every node, with the speed-up."""
    calls = [None] * (max(warmup, 1) + repeats)  # at least one warm-up: it prepares the teacher's adjacency
    teacher_stats = (time_calls(teacher.full, calls, max(warmup, 1), repeats) if teacher is not None
                     else {"skipped": "no teacher"})
    student = {name: time_calls(r.full, calls, max(warmup, 1), repeats) for name, r in students.items()}
    student.update(skipped)
    ratio = speedups(teacher_stats, {}, student)
    return {"nodes": nodes, "edges": edges, "teacher": teacher_stats, "student": student,
            "speedup": ratio["exact"], "student_runtime": ratio["student_runtime"]}


def speedups(exact: dict[str, Any], sampled: dict[str, Any], student: dict[str, Any]) -> dict[str, Any]:
    """Teacher median / the fastest student runtime's median (None where a side was not measured)."""
    timed = {name: s["median_ms"] for name, s in student.items() if "median_ms" in s}
    if not timed:
        return {"exact": None, "sampled": None, "student_runtime": None}
    best = min(timed, key=timed.get)

    def ratio(teacher: dict[str, Any]) -> float | None:
        return teacher["median_ms"] / max(timed[best], 1e-9) if "median_ms" in teacher else None

    return {"exact": ratio(exact), "sampled": ratio(sampled), "student_runtime": best}


def runtime_outputs(run: RunModels, students: dict[str, StudentRunner], x: Tensor,
                    held_out: Tensor) -> dict[str, dict[str, float]]:
    """Each runtime's full-graph probabilities against the student in torch on dense features: the largest
    difference, the share of nodes whose predicted class agrees, and its accuracy on the held-out nodes."""
    from g2m.training import accuracy

    if run.student_ckpt.get("positions") is not None:
        data = run.dataset.data
        x = PositionInputs(x, run.student_ckpt, data.edge_index, data.num_nodes)(torch.arange(data.num_nodes))
    reference = run.student.eval()(x).softmax(-1)
    y = run.dataset.data.y[held_out]
    out = {}
    for name, runner in students.items():
        got = _probabilities(runner.full())
        out[name] = {"max_abs_difference": float((got - reference).abs().max()),
                     "argmax_agreement": float((got.argmax(-1) == reference.argmax(-1)).float().mean()),
                     "held_out_accuracy": accuracy(got[held_out], y)}
    return out


def _probabilities(output: Any) -> Tensor:
    """A runtime's probabilities: eager returns them, TorchScript ``(logits, probabilities)``, onnxruntime
    ``[probabilities]``."""
    if isinstance(output, tuple):
        return output[1]
    if isinstance(output, list):
        return torch.from_numpy(output[0])
    return output


def held_out_accuracy(run: RunModels, teacher: TeacherRunner | None, x: Tensor, held_out: Tensor,
                      seed: int) -> dict[str, Any]:
    """Accuracy (percent) on the held-out nodes: teacher on the full graph and on sampled neighbourhoods,
    student from features; plus the run's ``metrics.json`` values for this seed when it records them."""
    from g2m.training import accuracy

    y = run.dataset.data.y[held_out]
    rows = x[held_out]
    if run.student_ckpt.get("positions") is not None:  # a position-aware student: features and positions
        data = run.dataset.data
        rows = PositionInputs(x, run.student_ckpt, data.edge_index, data.num_nodes)(held_out)
    out: dict[str, Any] = {"nodes": int(held_out.numel()), "student": accuracy(run.student(rows), y),
                           "teacher_exact": None, "teacher_sampled": None}
    if teacher is not None:
        out["teacher_exact"] = accuracy(teacher.full()[held_out], y)
        if run.fan_out:
            torch.manual_seed(seed)
            out["teacher_sampled"] = accuracy(teacher.predict(held_out, run.fan_out)[0], y)
    out["metrics_json"] = _reported(run)
    return out


def _reported(run: RunModels) -> dict[str, float | None] | None:
    """This seed's inductive accuracies as the run's ``metrics.json`` records them."""
    path = run.run_dir / "metrics.json"
    if run.setting != "ind" or not path.is_file():
        return None
    try:
        metrics = json.loads(path.read_text())
        index = list(metrics.get("seeds", [])).index(run.seed)
    except (ValueError, OSError):
        return None

    def pick(part: Any) -> float | None:
        runs = ((part or {}).get("inductive") or {}).get("runs") or []
        return runs[index] if index < len(runs) else None

    return {"teacher": pick(metrics.get("teacher")), "student": pick(metrics.get("student"))}


def _teacher_details(run: RunModels) -> dict[str, Any] | None:
    if run.teacher_ckpt is None:
        return None
    kwargs = run.teacher_ckpt["kwargs"]
    return {"checkpoint": run.teacher_path.name, "sha256": file_sha256(run.teacher_path),
            "trainer": run.teacher_ckpt.get("trainer", "standard"),
            "receptive_field": int(run.teacher.receptive_field), "fan_out": run.fan_out,
            **{k: kwargs.get(k) for k in ("hidden_channels", "num_layers", "aggr") if k in kwargs}}


def summary_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per batch size (and a last one for the full graph): medians in ms and the speed-ups."""
    rows = []

    def median(entry: dict[str, Any] | None) -> float | None:
        return (entry or {}).get("median_ms")

    runtimes = list(result["measurement"]["runtimes"])
    for size, entry in result["cold_start"].items():
        rows.append({"batch": size, "teacher_exact": median(entry["teacher_exact"]),
                     "teacher_sampled": median(entry["teacher_sampled"]),
                     **{r: median(entry["student"].get(r)) for r in runtimes},
                     "speedup_exact": result["speedup"][size]["exact"],
                     "speedup_sampled": result["speedup"][size]["sampled"]})
    full = result["full_graph"]
    rows.append({"batch": "full graph", "teacher_exact": median(full["teacher"]), "teacher_sampled": None,
                 **{r: median(full["student"].get(r)) for r in runtimes},
                 "speedup_exact": full["speedup"], "speedup_sampled": None})
    return rows


def per_node_us(stats: dict[str, Any] | None, batch: int) -> float | None:
    """Median latency per node in microseconds."""
    return None if not stats or "median_ms" not in stats else stats["median_ms"] * 1e3 / batch


__all__ = ["measure_speed", "draw_batches", "speedups", "summary_rows", "per_node_us", "DEFAULT_BATCH_SIZES",
           "RUNTIMES"]
