"""Layer-wise, chunked teacher inference equals a full-batch forward pass; exported outputs equal in-memory ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from g2m.datasets import load_dataset
from g2m.errors import ConfigError
from g2m.inference import export_teacher_outputs, layerwise_inference, load_teacher_outputs
from g2m.models import build_teacher
from g2m.graph_inputs import as_model_input


@pytest.fixture(scope="module")
def cora():
    data = load_dataset("cora").data
    return as_model_input(data.x), data.edge_index, int(data.y.max()) + 1


@pytest.mark.parametrize("name, kwargs", [("sage", {"aggr": "gcn"}), ("sage", {"aggr": "mean"}), ("gcn", {}),
                                          ("gat", {"heads": 4, "hidden_channels": 32}),
                                          ("sage", {"aggr": "mean", "num_layers": 3, "norm": "batch_norm"})])
def test_layerwise_equals_full_batch(cora, name, kwargs):
    x, ei, classes = cora
    torch.manual_seed(0)
    net = build_teacher(name, x.size(1), classes, **{"hidden_channels": 16, **kwargs}).eval()
    for norm in net.norms if kwargs.get("norm") else ():  # non-trivial running statistics (PyG's BatchNorm)
        norm.module.running_mean.uniform_(-1, 1)
        norm.module.running_var.uniform_(0.5, 2.0)
    with torch.no_grad():
        logits, hidden = net(x, ei, return_hidden=True)
    for chunk in (300, 100_000):  # many chunks (targets whose sources lie in other chunks) and one
        got_logits, got_hidden = layerwise_inference(net, x, ei, chunk_size=chunk)
        torch.testing.assert_close(got_logits, logits, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(got_hidden, hidden, atol=1e-5, rtol=1e-4)


def test_export_is_memory_mapped_and_equals_in_memory(cora, tmp_path):
    x, ei, classes = cora
    torch.manual_seed(0)
    net = build_teacher("sage", x.size(1), classes, hidden_channels=16, aggr="gcn").eval()
    logits, hidden = layerwise_inference(net, x, ei, chunk_size=500)
    out = export_teacher_outputs(net, x, ei, tmp_path / "teacher", chunk_size=500)
    assert sorted(p.name for p in out.iterdir()) == ["hidden.npy", "logits.npy"]  # no layer or temp files left
    loaded = load_teacher_outputs(out)
    assert isinstance(np.load(out / "logits.npy", mmap_mode="r"), np.memmap)
    torch.testing.assert_close(loaded["logits"], logits)
    torch.testing.assert_close(loaded["hidden"], hidden)
    rows = torch.tensor([5, 0, 2000])
    torch.testing.assert_close(loaded["logits"][rows], logits[rows])  # a student's batch reads its rows


def test_refusals(cora, tmp_path):
    x, ei, classes = cora
    with pytest.raises(ConfigError, match="APPNP"):
        layerwise_inference(build_teacher("appnp", x.size(1), classes), x, ei)
    with pytest.raises(ConfigError, match="chunk_size"):
        layerwise_inference(build_teacher("sage", x.size(1), classes), x, ei, chunk_size=0)
    with pytest.raises(ConfigError, match="logits.npy"):
        load_teacher_outputs(tmp_path)


def test_a_student_trains_from_memory_mapped_teacher_outputs_as_from_memory(tmp_path):
    from g2m.datasets import node_split
    from g2m.distill import train_student
    from g2m.teacher import TeacherRun

    ds = load_dataset("cora")
    split = node_split(ds, 0, "tran")
    x, ei = as_model_input(ds.data.x), ds.data.edge_index
    torch.manual_seed(0)
    net = build_teacher("sage", x.size(1), ds.num_classes, hidden_channels=16, aggr="gcn").eval()
    logits, hidden = layerwise_inference(net, x, ei)
    loaded = load_teacher_outputs(export_teacher_outputs(net, x, ei, tmp_path / "t"))
    runs = []
    for knowledge in ({"logits": logits, "hidden": hidden}, loaded):
        teacher = TeacherRun(model=net, name="sage", config={}, split=split, **knowledge)
        torch.manual_seed(0)
        runs.append(train_student(ds, split, "glnn", teacher, max_epochs=5))
    assert runs[0].metrics == runs[1].metrics
    for a, b in zip(runs[0].model.parameters(), runs[1].model.parameters()):
        assert torch.equal(a, b)


def test_export_of_a_one_layer_teacher_writes_its_input_as_the_embedding(cora, tmp_path):
    x, ei, classes = cora
    torch.manual_seed(0)
    net = build_teacher("sage", x.size(1), classes, num_layers=1).eval()
    loaded = load_teacher_outputs(export_teacher_outputs(net, x, ei, tmp_path / "one", chunk_size=700))
    with torch.no_grad():
        torch.testing.assert_close(loaded["logits"], net(x, ei))
    torch.testing.assert_close(loaded["hidden"], x.to_dense())
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == ["hidden.npy", "logits.npy"]


def test_inference_chunk_threshold_and_setting():
    from g2m.config import LARGE_GRAPH_EDGES
    from g2m.datasets import node_split
    from g2m.inference import DEFAULT_CHUNK
    from g2m.teacher import inference_chunk, train_teacher

    assert inference_chunk({}, LARGE_GRAPH_EDGES) == 0  # at the threshold: one full-graph pass
    assert inference_chunk({}, LARGE_GRAPH_EDGES + 1) == DEFAULT_CHUNK
    assert inference_chunk({"inference_chunk_size": 0}, 10 * LARGE_GRAPH_EDGES) == 0  # forced full pass
    assert inference_chunk({"inference_chunk_size": 500}, 10) == 500  # forced chunks on a small graph
    with pytest.raises(ConfigError, match="chunk size must be 0 .* or positive, got -1"):
        inference_chunk({"inference_chunk_size": -1}, 10)
    appnp = build_teacher("appnp", 8, 3)  # K-hop propagation: one pass on any graph, chunks refused up front
    assert inference_chunk({}, LARGE_GRAPH_EDGES + 1, appnp) == 0
    with pytest.raises(ConfigError, match=r"APPNPNet\) has no message-passing layers .*--teacher-chunk-size"):
        inference_chunk({"inference_chunk_size": 500}, 10, appnp)
    ds = load_dataset("cora")
    with pytest.raises(ConfigError, match="K-hop propagation"):  # before any training (max_epochs would be spent)
        train_teacher(ds, node_split(ds, 0, "tran"), "appnp", inference_chunk_size=500, max_epochs=10**6)


def test_a_chunked_teacher_gives_the_full_batch_outputs_on_disk(tmp_path):
    """Same seed, same training: the chunked (memory-mapped) outputs equal the one-pass outputs, inductive included."""
    from torch_geometric import seed_everything

    from g2m.datasets import node_split
    from g2m.teacher import train_teacher

    ds = load_dataset("cora")
    split = node_split(ds, 0, "ind")
    runs = {}
    for chunk in (0, 400):
        seed_everything(0)
        runs[chunk] = train_teacher(ds, split, "sage", outputs_dir=tmp_path / f"out{chunk}", max_epochs=5,
                                    inference_chunk_size=chunk)
    full, chunked = runs[0], runs[400]
    assert not (tmp_path / "out0").exists()  # one full-graph pass keeps its outputs in memory
    on_disk = np.load(tmp_path / "out400" / "logits.npy", mmap_mode="r")
    assert on_disk.shape == (split.observed.numel(), ds.num_classes)
    torch.testing.assert_close(chunked.logits, full.logits, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(chunked.hidden, full.hidden, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(torch.from_numpy(np.asarray(on_disk)), full.logits, atol=1e-5, rtol=1e-4)
    assert chunked.metrics == full.metrics and "test_ind" in full.metrics


def test_distill_cli_writes_chunked_teacher_outputs_to_the_run_folder(tmp_path):
    from typer.testing import CliRunner

    from g2m.cli import app

    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["distill", "-d", "cora", "-m", "glnn", "--setting", "tran", "--seeds", "1",
                                      "--teacher-chunk-size", "1000", "-o", str(out)])
    assert result.exit_code == 0, result.output
    logits = np.load(out / "teacher-outputs" / "tran-seed0" / "logits.npy", mmap_mode="r")
    assert logits.shape == (load_dataset("cora").num_nodes, 7) and (out / "teacher-outputs" / "tran-seed0" / "hidden.npy").is_file()
    config = (out / "config.json").read_text()
    assert '"inference_chunk_size": 1000' in config


def test_a_range_of_layers_applies_those_layers(cora):
    x, ei, classes = cora
    torch.manual_seed(0)
    net = build_teacher("sage", x.size(1), classes, hidden_channels=16, num_layers=3, aggr="mean").eval()
    with torch.no_grad():
        h1 = net.hidden_layers(x, ei, 0, 1)
        h2 = net.hidden_layers(h1, ei, 1, 2)
        logits = net.classify(h2, ei)
    got_h1, got_x = layerwise_inference(net, x, ei, 500, layers=(0, 1))
    torch.testing.assert_close(got_h1, h1, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(got_x, x.to_dense() if x.layout == torch.sparse_csr else x)
    got_logits, got_h2 = layerwise_inference(net, h1, ei, 500, layers=(1, 3))
    torch.testing.assert_close(got_logits, logits, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(got_h2, h2, atol=1e-5, rtol=1e-4)
    assert layerwise_inference(net, h2, ei, 500, layers=(2, 2))[0] is h2  # an empty range leaves the input
    with pytest.raises(ConfigError, match=r"layers \(2, 4\) is not a range of the 3 layers"):
        layerwise_inference(net, x, ei, 500, layers=(2, 4))


@pytest.mark.parametrize("name, kwargs, vq_kwargs", [
    ("sage", {}, {}),
    ("gcn", {}, {"code_metric": "cosine"}),
    ("sage", {"num_layers": 3, "norm": "batch_norm"}, {"code_layer": "first"}),
])
def test_vq_tokenizer_layerwise_equals_tokenize(cora, name, kwargs, vq_kwargs):
    from g2m.models.vq_tokenizer import VQTokenizerGNN

    x, ei, classes = cora
    torch.manual_seed(0)
    gnn = build_teacher(name, x.size(1), classes, **{"hidden_channels": 16, **kwargs})
    net = VQTokenizerGNN(gnn, x.size(1), codebook_size=32, code_dim=8, **vq_kwargs).eval()
    with torch.no_grad():
        full = net.tokenize(x, ei)
    chunked = net.tokenize_layerwise(x, ei, 300)
    assert torch.equal(chunked["codes"], full["codes"]) and len(full["codes"].unique()) > 1
    torch.testing.assert_close(chunked["z"], full["z"], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(chunked["logits"], full["logits"], atol=1e-5, rtol=1e-4)
    assert set(net.tokenize_layerwise(x, ei, 300, quantize=False)) == {"z"}


def test_a_chunked_vq_teacher_gives_the_one_pass_outputs():
    """train_vq_teacher with chunked whole-graph passes (k-means input, final outputs, inductive logits) and
    validation on the validation nodes' subgraph: the same codes, logits and metrics as one full-graph pass."""
    from torch_geometric import seed_everything

    from g2m.datasets import node_split
    from g2m.distill.vq_teacher import train_vq_teacher

    ds = load_dataset("cora")
    split = node_split(ds, 0, "ind")
    runs = {}
    for chunk in (0, 500):
        seed_everything(0)
        runs[chunk] = train_vq_teacher(ds, split, "sage", inference_chunk_size=chunk, max_epochs=3, vq_epochs=3,
                                       codebook_size=16, code_dim=8, warm_start=False, label_source="quantized")
    full, chunked = runs[0], runs[500]
    assert torch.equal(chunked.extra_knowledge["codes"], full.extra_knowledge["codes"])
    torch.testing.assert_close(chunked.extra_knowledge["code_z"], full.extra_knowledge["code_z"], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(chunked.logits, full.logits, atol=1e-5, rtol=1e-4)
    assert chunked.fit.val_history == full.fit.val_history
    assert chunked.metrics == full.metrics and "test_ind" in full.metrics


def test_a_chunked_vq_teacher_runs_its_whole_graph_passes_layer_by_layer_in_chunks_of_that_size(monkeypatch):
    """The chunked outputs equal the one-pass ones (above), so that the chunked path runs at all, and with the
    chosen chunk size for every layer, is checked here; APPNP asked for chunks is refused before any training."""
    import g2m.inference as inference
    from g2m.datasets import node_split
    from g2m.models.vq_tokenizer import VQTokenizerGNN
    from g2m.distill.vq_teacher import train_vq_teacher

    ds = load_dataset("cora")
    split = node_split(ds, 0, "tran")
    cold = dict(warm_start=False, label_source="quantized")
    sizes, calls = [], []
    real_inference, real_tokenize = inference.layerwise_inference, VQTokenizerGNN.tokenize_layerwise
    monkeypatch.setattr(inference, "layerwise_inference",
                        lambda net, x, ei, chunk_size=inference.DEFAULT_CHUNK, **kw: sizes.append(chunk_size)
                        or real_inference(net, x, ei, chunk_size, **kw))
    monkeypatch.setattr(VQTokenizerGNN, "tokenize_layerwise",
                        lambda self, *args, **kw: calls.append(args[2]) or real_tokenize(self, *args, **kw))
    train_vq_teacher(ds, split, "sage", inference_chunk_size=700, max_epochs=1, vq_epochs=1, codebook_size=8,
                     code_dim=4, num_layers=3, code_layer="first", **cold)
    assert calls == [700, 700]  # the k-means input and the final outputs
    # k-means input: the layers up to the code layer (the first); final outputs: those, the layers after it and
    # the classifier layer
    assert len(sizes) == 4 and set(sizes) == {700}
    with pytest.raises(ConfigError, match=r"^this teacher \(APPNPNet\) has no message-passing layers"):
        train_vq_teacher(ds, split, "appnp", inference_chunk_size=700, max_epochs=1, vq_epochs=1, codebook_size=8,
                         code_dim=4, **cold)


# --- layer-wise inference on a tiny directed graph, and the exported files (mutation run of g2m/inference.py) ----
TINY_EDGES = torch.tensor([[0, 1, 2, 3, 3], [1, 2, 0, 1, 2]])  # directed, no self-loops; node 4 has no edges


@pytest.mark.parametrize("name", ["sage", "gcn"])
def test_layerwise_equals_full_batch_on_a_directed_graph_with_an_isolated_last_node(name, tmp_path):
    torch.manual_seed(0)
    x = torch.randn(5, 3)
    net = build_teacher(name, 3, 2, hidden_channels=4).eval()
    with torch.no_grad():
        logits, hidden = net(x, TINY_EDGES, return_hidden=True)
    for chunk in (1, 2, 5):  # one node per chunk is allowed
        got_logits, got_hidden = layerwise_inference(net, x, TINY_EDGES, chunk_size=chunk)
        torch.testing.assert_close(got_logits, logits, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(got_hidden, hidden, atol=1e-6, rtol=1e-5)
    for _ in range(2):  # an existing output folder is reused
        got_logits, _ = layerwise_inference(net, x, TINY_EDGES, chunk_size=2, out_dir=tmp_path / "layers")
        torch.testing.assert_close(got_logits, logits, atol=1e-6, rtol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
@pytest.mark.parametrize("name", ["sage", "gcn"])
def test_layerwise_on_a_gpu_equals_the_cpu_pass(name):
    """A model on the GPU: each chunk's features, edges and (GCN) edge weights are moved to it and the outputs
    kept on the CPU, equal to a full-batch pass on the CPU (a CPU-only run cannot see this)."""
    torch.manual_seed(0)
    x = torch.randn(5, 3)
    net = build_teacher(name, 3, 2, hidden_channels=4).eval()
    with torch.no_grad():
        logits, hidden = net(x, TINY_EDGES, return_hidden=True)
    got_logits, got_hidden = layerwise_inference(net.cuda(), x, TINY_EDGES, chunk_size=2)
    assert got_logits.device.type == got_hidden.device.type == "cpu"
    torch.testing.assert_close(got_logits, logits, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(got_hidden, hidden, atol=1e-5, rtol=1e-4)


def test_a_model_without_the_layerwise_flag_is_refused():
    with pytest.raises(ConfigError, match=r"^layer-wise inference needs a stack of message-passing layers; Linear "):
        layerwise_inference(torch.nn.Linear(3, 2), torch.randn(5, 3), TINY_EDGES)


def test_refusal_messages_name_the_model_and_the_chunk_size():
    with pytest.raises(ConfigError) as err:
        layerwise_inference(build_teacher("appnp", 3, 2), torch.randn(5, 3), TINY_EDGES)
    assert str(err.value) == ("layer-wise inference needs a stack of message-passing layers; APPNPNet (APPNP: K-hop "
                              "propagation) has none: compute its outputs full-batch.")
    with pytest.raises(ConfigError, match=r"^chunk_size must be at least 1, got 0\.$"):
        layerwise_inference(build_teacher("sage", 3, 2), torch.randn(5, 3), TINY_EDGES, chunk_size=0)


def test_export_of_a_three_layer_teacher_leaves_two_files_that_the_loaded_tensors_map(tmp_path):
    torch.manual_seed(0)
    x = torch.randn(5, 3)
    net = build_teacher("sage", 3, 2, hidden_channels=4, num_layers=3).eval()
    logits, hidden = layerwise_inference(net, x, TINY_EDGES, chunk_size=2)
    out = export_teacher_outputs(net, x, TINY_EDGES, tmp_path / "teacher", chunk_size=2)
    assert sorted(p.name for p in out.iterdir()) == ["hidden.npy", "logits.npy"]  # layer0.npy removed as well
    loaded = load_teacher_outputs(out)
    torch.testing.assert_close(loaded["logits"], logits)
    torch.testing.assert_close(loaded["hidden"], hidden)
    # memory-mapped, not read into memory: a later write to the file shows in the loaded tensor
    disk = np.load(out / "logits.npy", mmap_mode="r+")
    disk[0, 0] = 123.0
    disk.flush()
    assert float(loaded["logits"][0, 0]) == 123.0


@pytest.mark.parametrize("name", ["sage", "gcn", "gat"])
def test_models_own_their_layerwise_inference(name):
    """``net.inference`` is the model's own (PyG's BasicGNN.inference pattern): a 3-layer model with batch norm
    equals its full-batch forward in eval mode, layer ranges included."""
    torch.manual_seed(0)
    x = torch.randn(5, 3)
    net = build_teacher(name, 3, 2, hidden_channels=8, num_layers=3, norm="batch_norm", heads=2).eval()
    for norm in net.norms:  # non-trivial running statistics
        norm.module.running_mean.uniform_(-1, 1)
        norm.module.running_var.uniform_(0.5, 2.0)
    with torch.no_grad():
        logits, hidden = net(x, TINY_EDGES, return_hidden=True)
        first = net.hidden_layers(x, TINY_EDGES, 0, 1)
    got_logits, got_hidden = net.inference(x, TINY_EDGES, chunk_size=2)
    torch.testing.assert_close(got_logits, logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got_hidden, hidden, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(net.inference(x, TINY_EDGES, chunk_size=3, layers=(0, 1))[0], first, atol=1e-5,
                               rtol=1e-5)
    assert net.supports_layerwise and not build_teacher("appnp", 3, 2).supports_layerwise


def test_the_chunking_engine_does_not_reach_into_layers():
    import inspect

    from g2m import inference

    source = inspect.getsource(inference)
    for reach in (".convs", ".norms", ".normalize", "GCNConv", ".act("):
        assert reach not in source, reach
