"""Bad input and interruptions: each gives its documented error (class, message, exit code), and no
result file is lost or left half-written (docs/failures.md lists them all)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from g2m.checkpoints import evaluate_run, load_model
from g2m.datasets import from_data, from_files, node_split
from g2m.errors import ConfigError, DatasetError, TrainingError
from g2m.spec import NodeRunSpec

REPO = Path(__file__).resolve().parents[1]


def _cli(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from g2m.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=timeout, cwd=REPO)


def _no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.endswith((".tmp", ".part"))]


def _graph(n=12, c=2, **over) -> Data:
    g = torch.Generator().manual_seed(0)
    data = dict(x=torch.randn(n, 4, generator=g), edge_index=torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]]),
                y=torch.arange(n) % c)
    data.update(over)
    return Data(**data)


# ---------------------------------------------------------------- user graphs (Data objects and folders)

@pytest.mark.parametrize("over,message", [
    (dict(edge_index=torch.tensor([[0, 1], [1, 12]])), "outside 0..11"),
    (dict(edge_index=torch.tensor([[0, -1], [1, 2]])), "outside 0..11"),
    (dict(y=torch.arange(11) % 2), "12 rows but y has 11 labels"),
    (dict(y=torch.tensor([0.0, 1.0, float("nan")] + [0.0] * 9)), "missing or non-integer labels: 2"),
    (dict(y=torch.tensor([0, -1] + [1] * 10)), "negative at nodes 1"),
    (dict(x=torch.empty(0, 4), y=torch.empty(0, dtype=torch.long)), "no nodes"),
    (dict(edge_index=torch.tensor([0, 1, 2])), "shape [2, num_edges]"),
])
def test_malformed_data_objects_are_clear_errors(over, message):
    with pytest.raises(DatasetError, match=message.replace("[", r"\[").replace("]", r"\]")):
        from_data(_graph(**over))


def test_nan_features_name_the_rows():
    x = torch.randn(12, 4)
    x[3, 1], x[7, 0] = float("nan"), float("inf")
    with pytest.raises(DatasetError, match=r"2 feature rows contain NaN or inf \(nodes 3, 7\)"):
        from_data(_graph(x=x))


def test_duplicates_self_loops_and_isolated_nodes_are_handled():
    ei = torch.tensor([[0, 0, 1, 2, 2, 5], [1, 1, 0, 2, 3, 5]])  # duplicate 0→1, reverse 1→0, self-loops
    ds = from_data(_graph(edge_index=ei))
    assert ds.num_nodes == 12  # isolated nodes kept
    assert sorted(map(tuple, ds.data.edge_index.t().tolist())) == [(0, 1), (1, 0), (2, 3), (3, 2)]


def test_classes_too_small_for_the_split_say_how_many_are_needed():
    ds = from_data(_graph(n=22, y=torch.tensor([0] * 10 + [1] * 10 + [2] * 2)))
    with pytest.raises(DatasetError, match=r"at least 5 nodes per class .* \(class 2: 2\)"):
        node_split(ds, 0)
    with pytest.raises(DatasetError, match="needs more than 50"):
        node_split(ds, 0, protocol="cpf")


def _folder(tmp_path: Path, edges="0 1\n1 2\n", features=None, labels=None) -> Path:
    folder = tmp_path / "graph"
    folder.mkdir(exist_ok=True)
    (folder / "edges.txt").write_text(edges)
    (folder / "features.csv").write_text(features or "\n".join("1.0,0.5" for _ in range(10)) + "\n")
    if labels is not False:
        (folder / "labels.txt").write_text(labels or "\n".join(str(i % 2) for i in range(10)) + "\n")
    return folder


@pytest.mark.parametrize("kwargs,message", [
    (dict(edges="0 1\n1 x\n"), "cannot read"),                     # non-numeric field
    (dict(edges="0 1 2\n1 2 3\n"), "exactly two node ids"),
    (dict(edges="0 1\n1 10\n"), "outside 0..9"),
    (dict(labels=False), "no labels file"),
    (dict(labels="0\n1\n"), "10 rows but y has 2 labels"),
    (dict(features="1.0,nan\n" + "1.0,0.5\n" * 9), r"nodes 0\)"),
])
def test_malformed_folders_are_clear_errors(tmp_path, kwargs, message):
    with pytest.raises(DatasetError, match=message):
        from_files(_folder(tmp_path, **kwargs))


def test_malformed_folder_on_the_cli_is_one_line(tmp_path):
    proc = _cli("distill", "-d", str(_folder(tmp_path, edges="0 1\n5 99\n")), "-o", str(tmp_path / "run"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "outside 0..9" in proc.stderr
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------- divergence

def test_nan_loss_stops_with_epoch_and_term():
    from g2m import load_dataset
    from g2m.distill.student import train_student
    from g2m.teacher import TeacherRun

    ds = load_dataset("cora")
    split = node_split(ds, 0, "tran")
    n = split.observed.numel()
    logits = torch.randn(n, ds.num_classes)
    logits[5, 0] = float("inf")  # a teacher gone bad: its soft labels are NaN
    teacher = TeacherRun(model=torch.nn.Identity(), name="fake", config={}, split=split, logits=logits,
                         hidden=torch.randn(n, 4))
    with pytest.raises(TrainingError, match=r"student \(glnn\): epoch 0: .*soft_label_kl = nan"):
        train_student(ds, split, "glnn", teacher)


def test_divergence_keeps_finished_seeds(tmp_path, monkeypatch):
    import g2m.pipeline as pipeline

    real = pipeline.train_student

    def diverge_on_seed_1(ds, split, *args, **kwargs):
        if split.seed == 1:
            raise TrainingError("student (glnn): epoch 3: the loss became nan (soft_label_kl = nan)")
        return real(ds, split, *args, **kwargs)

    monkeypatch.setattr(pipeline, "train_student", diverge_on_seed_1)
    with pytest.raises(TrainingError, match=r"epoch 3.*Finished seeds \[0\] are saved"):
        pipeline.run_node_experiment(NodeRunSpec("cora", methods=["glnn"], seeds=[0, 1], setting="tran",
                                                 device="cpu", output=tmp_path, teacher_overrides={"max_epochs": 5},
                                                 student_overrides={"max_epochs": 5}))
    assert (tmp_path / "seeds" / "seed0.json").exists() and not (tmp_path / "seeds" / "seed1.json").exists()
    assert not (tmp_path / "metrics.json").exists() and _no_temp_files(tmp_path)


# ---------------------------------------------------------------- no lost results

def test_existing_output_needs_overwrite(tmp_path):
    args = ["distill", "-m", "mlp", "--setting", "tran", "-o", str(tmp_path)]
    assert _cli(*args).returncode == 0
    before = (tmp_path / "metrics.json").read_bytes()
    proc = _cli(*args)
    assert proc.returncode == 2 and "--overwrite" in proc.stderr and "Traceback" not in proc.stderr
    assert (tmp_path / "metrics.json").read_bytes() == before  # untouched
    (tmp_path / "notes.txt").write_text("mine")
    assert _cli(*args, "--overwrite").returncode == 0
    assert (tmp_path / "notes.txt").read_text() == "mine"  # only run files are replaced


def test_interrupted_run_resumes_to_the_same_metrics(tmp_path):
    """Ctrl-C after the first seed: it stays on disk, and --resume gives the uninterrupted run's numbers."""
    common = ["distill", "-d", "cora", "-m", "glnn", "--seeds", "3", "--setting", "tran", "--device", "cpu"]
    full = _cli(*common, "-o", str(tmp_path / "full"))
    assert full.returncode == 0, full.stderr
    out = tmp_path / "cut"
    # SIGINT as a terminal delivers it, whatever the test runner inherited (a shell's background job starts
    # with SIGINT ignored, and Python then installs no KeyboardInterrupt handler)
    proc = subprocess.Popen([sys.executable, "-c", "from g2m.cli import main; main()", *common, "-o", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 240
    while not (out / "seeds" / "seed0.json").exists():
        assert proc.poll() is None and time.time() < deadline, "the run ended before its first seed was saved"
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 130 and "--resume" in err and "Traceback" not in err
    assert not (out / "metrics.json").exists() and _no_temp_files(out)
    finished = sorted(p.name for p in (out / "seeds").glob("*.json"))
    assert "seed0.json" in finished and len(finished) < 3
    resumed = _cli(*common, "-o", str(out), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    a, b = (json.loads((d / "metrics.json").read_text()) for d in (tmp_path / "full", out))
    a.pop("timings"), b.pop("timings")
    assert a == b
    mismatch = _cli("distill", "-d", "cora", "-m", "glnn", "--seeds", "3", "--setting", "both", "--device", "cpu",
                    "-o", str(out), "--resume")
    assert mismatch.returncode == 2 and "cannot resume" in mismatch.stderr


def test_same_command_twice_gives_identical_numbers_and_rerun_too(tmp_path):
    common = ["distill", "-d", "cora", "-m", "glnn", "--seeds", "2", "--setting", "both", "--device", "cpu"]
    for name in ("a", "b"):
        assert _cli(*common, "-o", str(tmp_path / name)).returncode == 0
    a, b = (json.loads((tmp_path / n / "metrics.json").read_text()) for n in ("a", "b"))
    for m in (a, b):
        m.pop("timings")
    assert a == b
    proc = _cli("rerun", str(tmp_path / "a"))
    assert proc.returncode == 0 and "every number identical" in proc.stdout + proc.stderr
    again = json.loads((tmp_path / "a" / "rerun" / "metrics.json").read_text())
    again.pop("timings")
    assert again == a



def test_same_vqgraph_command_twice_gives_identical_numbers_and_weights(tmp_path):
    """VQGraph's tokenizer and FF-G2M's edge terms gather edge endpoints: the runs must match bit for bit
    (the weights too: accuracies of a short run can agree while the weights already differ)."""
    common = ["distill", "-d", "cora", "-m", "vqgraph+ffg2m", "--seeds", "1", "--setting", "both", "--device", "cpu",
              "--codebook-size", "64", "-p", "teacher.max_epochs=20", "-p", "teacher.vq_epochs=10",
              "-p", "student.max_epochs=20"]
    for name in ("a", "b"):
        assert _cli(*common, "-o", str(tmp_path / name)).returncode == 0
    a, b = (json.loads((tmp_path / n / "metrics.json").read_text()) for n in ("a", "b"))
    a.pop("timings"), b.pop("timings")
    assert a == b
    files = sorted(p.name for p in (tmp_path / "a" / "checkpoints").glob("*.pt"))
    assert len(files) == 4  # VQ teacher and student, both settings
    for name in files:
        sa, sb = (torch.load(tmp_path / n / "checkpoints" / name, weights_only=False)["state_dict"] for n in ("a", "b"))
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa), name


# ---------------------------------------------------------------- untrusted and mismatched files

@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    proc = _cli("distill", "-m", "mlp", "--setting", "tran", "--device", "cpu", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    return out


def test_truncated_checkpoint_is_a_clear_error(small_run, tmp_path):
    ckpt = next((small_run / "checkpoints").glob("*.pt"))
    cut = tmp_path / "cut.pt"
    cut.write_bytes(ckpt.read_bytes()[:300])
    with pytest.raises(ConfigError, match="truncated, corrupt or not a torch file"):
        load_model(cut)


def test_altered_checkpoint_is_a_clear_error(small_run, tmp_path):
    ckpt = torch.load(next((small_run / "checkpoints").glob("*.pt")), weights_only=True)
    ckpt["kwargs"]["hidden_channels"] = 7
    torch.save(ckpt, tmp_path / "altered.pt")
    with pytest.raises(ConfigError, match="do not fit the model"):
        load_model(tmp_path / "altered.pt")


def test_checkpoint_from_another_dataset_is_refused(small_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    ckpt = torch.load(next((run / "checkpoints").glob("*.pt")), weights_only=True)
    ckpt["in_channels"] = 3703  # citeseer's width
    ckpt["state_dict"] = {k: torch.zeros(v.shape[0], 3703) if v.dim() == 2 and v.shape[1] == 1433 else v
                          for k, v in ckpt["state_dict"].items()}
    torch.save(ckpt, run / "checkpoints" / "student-mlp-tran-seed9.pt")
    with pytest.raises(ConfigError, match="student-mlp-tran-seed9.pt is not a checkpoint this run wrote"):
        evaluate_run(run)
    shutil.rmtree(run / "seeds")  # a run folder without seed records (older g2m): the checkpoint's widths decide
    with pytest.raises(ConfigError, match="comes from another dataset"):
        evaluate_run(run, device="cpu")


def test_pickled_npz_on_the_cli_is_refused(tmp_path):
    import scipy.sparse as sp

    adj = sp.csr_matrix(np.ones((3, 3), dtype=np.float32))
    labels = np.empty(3, dtype=object)
    labels[:] = [0, 1, 0]
    np.savez(tmp_path / "g.npz", adj_data=adj.data, adj_indices=adj.indices, adj_indptr=adj.indptr,
             adj_shape=np.array(adj.shape), attr_matrix=np.eye(3, dtype=np.float32), labels=labels)
    from g2m.datasets.node import load_npz_graph

    with pytest.raises(DatasetError, match="never loads"):
        load_npz_graph(tmp_path / "g.npz", "g")


def test_checkpoint_of_another_method_is_refused(small_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    src = next((run / "checkpoints").glob("student-mlp-*.pt"))
    ckpt = torch.load(src, weights_only=True)
    ckpt["name"] = "glnn"  # a glnn student in an mlp run
    torch.save(ckpt, run / "checkpoints" / "student-glnn-tran-seed0.pt")
    with pytest.raises(ConfigError, match="student-glnn-tran-seed0.pt is not a checkpoint this run wrote"):
        evaluate_run(run)
    shutil.rmtree(run / "seeds")  # without seed records: the checkpoint's own record decides
    with pytest.raises(ConfigError, match="'glnn' student, but this run trained mlp"):
        evaluate_run(run, device="cpu")


def test_sigterm_with_worker_processes_stops_at_once_with_a_message(tmp_path):
    """SIGTERM (as a scheduler or `kill` sends it) to a --jobs 2 run: the running seeds stop, no queued seed
    starts, finished seeds are kept, and the exit is 143 with one line saying so."""
    out = tmp_path / "cut"
    args = ["distill", "-d", "cora", "-m", "glnn", "--seeds", "4", "--setting", "tran", "--jobs", "2", "-o", str(out)]
    proc = subprocess.Popen([sys.executable, "-c", "from g2m.cli import main; main()", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    deadline = time.time() + 600  # a hang guard only: the test waits for the first seed's record, not for time
    while not any((out / "seeds").glob("seed*.json")) if (out / "seeds").exists() else True:
        assert proc.poll() is None and time.time() < deadline, "the run ended before its first seed was saved"
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 143, err
    assert "SIGTERM: interrupted." in err and "--resume" in err and "Traceback" not in err
    finished = sorted(p.name for p in (out / "seeds").glob("*.json"))
    assert 1 <= len(finished) < 4 and "seed3.json" not in finished  # the queued seed never started
    assert not (out / "metrics.json").exists() and _no_temp_files(out)
