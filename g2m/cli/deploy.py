"""Deployment commands: ``export`` (a student to ONNX / TorchScript) and ``predict`` (from features alone)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from g2m.cli import app
from g2m.cli.common import console
from g2m.errors import ConfigError

PREDICT_SUFFIXES = (".csv", ".npy")
CheckpointOpt = typer.Option(None, "--checkpoint", help="Run folders: the student checkpoint to use, by file name "
                                                        "in RUN_DIR/checkpoints (e.g. student-glnn-ind-seed3); "
                                                        "default the transductive student of the lowest seed.")


@app.command("export")
def export_cmd(
    run_dir: Path = typer.Argument(..., help="A run folder written by `g2m distill`, or a student checkpoint file."),
    format: str = typer.Option("onnx", "--format", "-f", help="onnx (needs the onnx extra) or torchscript."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="The file to write (default "
                                          "RUN_DIR/export/CHECKPOINT.onnx or .torchscript.pt)."),
    checkpoint: Optional[str] = CheckpointOpt,
    quantize: Optional[str] = typer.Option(None, "--quantize", help="int8: an ONNX model with int8 matrix products "
                                           "(onnxruntime dynamic quantization), written only if its validation "
                                           "accuracy stays within --max-drop of the float32 student's."),
    max_drop: float = typer.Option(0.5, "--max-drop", help="With --quantize: the most validation accuracy "
                                   "(percentage points) int8 may lose before the export is refused."),
    root: Optional[Path] = typer.Option(None, "--root", help="With --quantize: the data root holding the run's "
                                        "dataset (default: the run's own)."),
) -> None:
    """Export a student as a self-contained model that needs neither g2m, PyG nor the graph.

    The model takes float32 node features x [N, F] (ONNX: dense; TorchScript: dense or torch sparse CSR) and
    returns logits and probabilities [N, C].

    Examples:

        g2m export runs/glnn-cora --format onnx

        g2m export runs/glnn-cora --quantize int8 -o glnn-int8.onnx

        g2m export runs/glnn-cora --format torchscript -o student.pt

        g2m export runs/glnn-cora --checkpoint student-glnn-ind-seed3 -o glnn-ind.onnx
    """
    from g2m.checkpoints import student_checkpoint
    from g2m.export import export_student

    source = student_checkpoint(run_dir, checkpoint)
    out = export_student(source, format=format, output=output, quantize=quantize, max_drop=max_drop, root=root)
    console.print(f"exported {source} as {format}{' ' + quantize if quantize else ''}")
    if quantize:
        from g2m.predict import load_student

        change = load_student(out).metadata["quantization"]["accuracy"]
        for key, name in (("val", "validation"), ("test", "test"), ("test_ind", "held-out test")):
            if key in change["fp32"]:
                console.print(f"{name} accuracy (%): float32 {change['fp32'][key]:.2f}, {quantize} "
                              f"{change['int8'][key]:.2f} (drop {change['drop'][key]:+.2f})")
    console.print(f"wrote {out}")


@app.command("predict")
def predict_cmd(
    model: Path = typer.Argument(..., help="An exported .onnx or TorchScript file, a student checkpoint, or a run "
                                           "folder."),
    features: Path = typer.Option(..., "--features", "-x", help="Node features [N, F]: .npy, .pt (one tensor) or "
                                                               ".csv (numbers, optional header line)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write every prediction: OUT.csv (node, class, "
                                          "p0, p1, ...) or OUT.npy (probabilities [N, C], float32)."),
    batch_size: int = typer.Option(8192, "--batch-size", help="Nodes per forward pass."),
    show: int = typer.Option(20, "--show", help="Rows printed when there is no --output (0: all)."),
    checkpoint: Optional[str] = CheckpointOpt,
    edges: Optional[Path] = typer.Option(None, "--edges", help="Position-aware students (…+pos) only: a .npy or "
                                         ".csv of E rows 'training-graph node id, new node row' linking the new "
                                         "nodes to the graph the student was trained on."),
    trust_torchscript: bool = typer.Option(False, "--trust-torchscript", help="Load MODEL as a TorchScript file. "
                                           "TorchScript runs the code it holds, so g2m refuses it without this "
                                           "option: use it only for files from a source you trust."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="Intra-op threads of the runtime "
                                          "(onnxruntime or torch); default the runtime's own choice."),
) -> None:
    """Predict node classes from features alone with a student (no graph needed).

    A position-aware student (method …+pos) also needs --edges: each new node's position is the mean position of
    the training-graph nodes it links to.

    Without --output it prints node index, predicted class (the training graph's own label) and its probability for the first --show nodes.

    Examples:

        g2m predict runs/glnn-cora/export/student-glnn-tran-seed0.onnx --features x.npy

        g2m predict student.pt --trust-torchscript --features new_nodes.csv -o predictions.csv

        g2m predict runs/glnn-cora --features x.pt -o probabilities.npy --batch-size 1024 --threads 2
    """
    from g2m.predict import load_student, read_edges, read_features
    from g2m.utils.io import _atomic, write_text_atomic

    if output is not None and output.suffix.lower() not in PREDICT_SUFFIXES:
        raise ConfigError(f"--output {output.name}: use a .csv or .npy file name.")
    if show < 0:
        raise ConfigError(f"--show must be 0 (all) or more, got {show}.")
    student = load_student(model, checkpoint, trust_torchscript=trust_torchscript, threads=threads)
    x = read_features(features)
    proba = student.predict_proba(x, batch_size=batch_size, edges=None if edges is None else read_edges(edges))
    pred = student.labels_of(proba.argmax(-1))  # the training graph's own labels
    labels = student.labels_of(np.arange(proba.shape[1]))
    if output is not None:
        if output.suffix.lower() == ".npy":
            _atomic(output, lambda fh: np.save(fh, proba))
        else:
            write_text_atomic(output, _csv(pred, proba, labels))
        console.print(f"predicted {len(pred)} nodes with {model} ({student.kind})")
        console.print(f"wrote {output}")
        return
    rows = len(pred) if show == 0 else min(show, len(pred))
    table = Table(title=f"predictions of {model.name} ({student.kind})")
    for col in ("node", "class", "probability"):
        table.add_column(col, justify="right")
    for i in range(rows):
        table.add_row(str(i), str(int(pred[i])), f"{float(proba[i].max()):.4f}")
    Console().print(table)
    if rows < len(pred):
        console.print(f"showing {rows} of {len(pred)} nodes; write them all with -o predictions.csv (or --show 0)")


def _csv(pred: np.ndarray, proba: np.ndarray, labels: np.ndarray) -> str:
    """One row per node: its predicted label and the probability of each label (columns ``p<label>``)."""
    header = ",".join(["node", "class", *(f"p{c}" for c in labels)])
    lines = [header]
    lines += [f"{i},{int(pred[i])}," + ",".join(f"{p:.8g}" for p in proba[i]) for i in range(len(pred))]
    return "\n".join(lines) + "\n"
