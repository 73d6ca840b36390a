"""Speed benchmark (g2m.bench): a tiny configuration on bundled cora; structure only, never timings."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch
from torch_geometric.utils import k_hop_subgraph
from typer.testing import CliRunner

from g2m.bench import gather_neighbourhood, measure_speed
from g2m.cli import app
from g2m.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
TINY = {"max_epochs": 3, "patience": 1}
SIZES = (1, 8)
runner = CliRunner()


@pytest.fixture(scope="module")
def measured(tmp_path_factory) -> tuple[dict, Path]:
    """Train a tiny SAGE teacher + GLNN student on cora (one seed, inductive) and time them."""
    run = tmp_path_factory.mktemp("speed") / "run"
    threads = torch.get_num_threads()
    result = measure_speed("cora", batch_sizes=SIZES, repeats=3, warmup=1, threads=1, output=run,
                           teacher_params=TINY, student_params=TINY)
    assert torch.get_num_threads() == threads  # restored
    return result, run


def test_result_has_every_part(measured):
    result, run = measured
    json.loads(json.dumps(result, allow_nan=False))  # plain, finite JSON
    assert (result["dataset"], result["teacher"], result["student_method"]) == ("cora", "sage", "glnn")
    assert result["setting"] == "ind" and result["run_dir"] == str(run)
    assert result["environment"]["threads"] == 1 and result["environment"]["torch"] == torch.__version__
    assert set(result["cold_start"]) == set(result["speedup"]) == {"1", "8"}
    onnx = importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("onnx") is not None
    for size, entry in result["cold_start"].items():
        for key in ("teacher_exact", "teacher_sampled"):
            stats = entry[key]
            assert stats["repeats"] == 3 and 0 < stats["median_ms"] <= stats["p95_ms"] <= stats["max_ms"]
            assert stats["gather"]["median_ms"] > 0 and stats["subgraph_nodes"] >= int(size)
        assert entry["teacher_sampled"]["fan_out"] == 5  # SAGE's training fan-out
        assert set(entry["student"]) == {"eager", "torchscript", "torchscript-dense", "onnx", "onnx-int8"}
        for runtime, stats in entry["student"].items():
            assert ("median_ms" in stats) if not runtime.startswith("onnx") or onnx else ("skipped" in stats)
        for kind in ("exact", "sampled"):
            ratio = result["speedup"][size][kind]
            assert math.isfinite(ratio) and ratio > 0
    full = result["full_graph"]
    assert full["nodes"] == 2485 and full["teacher"]["median_ms"] > 0 and full["speedup"] > 0
    assert result["graph"]["teacher_feature_layout"] == "sparse_csr"  # cora's bag of words: 1.3% non-zero
    outputs = result["runtime_outputs"]  # every float32 runtime predicts what the torch student does on dense rows
    for runtime in ("eager", "torchscript", "torchscript-dense", "onnx"):
        assert outputs[runtime]["argmax_agreement"] == 1.0 and outputs[runtime]["max_abs_difference"] < 1e-5
    assert outputs["onnx-int8"]["argmax_agreement"] > 0.9 and outputs["onnx-int8"]["max_abs_difference"] > 0
    layer = result["first_layer"]
    assert (layer["features"], layer["hidden"], layer["rows"]) == (1433, 128, 2485)
    assert layer["density"] == pytest.approx(0.0128, abs=1e-3)
    assert set(layer["by_batch"]) == {"1", "16", "64", "256", "1024"} and len(layer["by_density"]) == 6
    assert all(v["dense_ms"] > 0 and v["csr_ms"] > 0 for v in layer["by_batch"].values())
    acc = result["accuracy"]
    assert acc["nodes"] == result["held_out_nodes"] > 0
    assert all(0 <= acc[k] <= 100 for k in ("teacher_exact", "teacher_sampled", "student"))
    assert acc["metrics_json"]["teacher"] == pytest.approx(acc["teacher_exact"], abs=1e-2)
    assert acc["metrics_json"]["student"] == pytest.approx(acc["student"], abs=1e-2)


def _toy_graph() -> tuple[torch.Tensor, int]:
    """Node 0 has 10 in-neighbours (1..10); each of those has 4 more of its own (11..50); edges both ways."""
    src, dst = list(range(1, 11)), [0] * 10
    for i in range(1, 11):
        leaves = range(11 + 4 * (i - 1), 11 + 4 * i)
        src += list(leaves)
        dst += [i] * 4
    ei = torch.tensor([src, dst])
    return torch.cat([ei, ei.flip(0)], dim=1), 51


def test_exact_gathering_is_k_hop_subgraph():
    edge_index, n = _toy_graph()
    nodes = torch.tensor([0, 7])
    sub = gather_neighbourhood(edge_index, nodes, 2, n)
    subset, sub_ei, mapping, _ = k_hop_subgraph(nodes, 2, edge_index, relabel_nodes=True, num_nodes=n)
    assert torch.equal(sub.subset, subset) and torch.equal(sub.edge_index, sub_ei)
    assert torch.equal(sub.position, mapping) and torch.equal(sub.subset[sub.position], nodes)


def test_sampled_gathering_keeps_at_most_fan_out_per_node_and_hop():
    edge_index, n = _toy_graph()
    nodes = torch.tensor([0])
    exact = gather_neighbourhood(edge_index, nodes, 2, n)
    torch.manual_seed(0)
    sampled = gather_neighbourhood(edge_index, nodes, 2, n, fan_out=3)
    assert exact.num_nodes == 51 and sampled.num_nodes < exact.num_nodes
    assert torch.equal(sampled.subset[sampled.position], nodes)
    in_degree = torch.bincount(sampled.edge_index[1], minlength=sampled.num_nodes)
    assert int(in_degree.max()) <= 3 and int(in_degree[sampled.position]) == 3
    original = {tuple(e) for e in edge_index.t().tolist()}
    assert all(tuple(e) in original for e in sampled.subset[sampled.edge_index].t().tolist())
    # hop 1: node 0 draws 3 of its 11 in-neighbours; hop 2: each of those draws at most 3 (5 available)
    assert sampled.num_nodes <= 1 + 3 + 3 * 3


def test_cli_bench_speed_end_to_end(measured, tmp_path):
    _, run = measured
    out = tmp_path / "speed.json"
    res = runner.invoke(app, ["bench", "speed", "--run", str(run), "--batch-sizes", "1,8", "--repeats", "3",
                              "--warmup", "1", "--threads", "1", "--runtimes", "eager,torchscript", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "× exact" in res.output and "full graph" in res.output
    data = json.loads(out.read_text())
    assert set(data["speedup"]) == {"1", "8"} and set(data["cold_start"]["8"]["student"]) == {"eager", "torchscript"}


def test_bad_arguments_are_clear(measured):
    _, run = measured
    res = runner.invoke(app, ["bench", "speed", "--batch-sizes", "1"])
    assert isinstance(res.exception, ConfigError) and "--dataset" in str(res.exception)
    res = runner.invoke(app, ["bench", "speed", "--run", str(run), "--batch-sizes", "0,x"])
    assert isinstance(res.exception, ConfigError) and "--batch-sizes" in str(res.exception)
    with pytest.raises(ConfigError, match="runtime"):
        measure_speed(run, runtimes=("tensorrt",))


def test_benchmark_script_renders(measured, tmp_path):
    """benchmarks/speed.py turns results into the markdown report and the accuracy-latency plot."""
    spec = importlib.util.spec_from_file_location("speed_script", REPO / "benchmarks" / "speed.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    result, _ = measured
    data = {"dataset": "cora", "command": "python benchmarks/speed.py", "results": [result]}
    text = script.markdown(data, "speed_accuracy.png")
    assert "| 8 |" in text and "speed-up sampled" in text and "## Environment" in text
    assert "### Sparse or dense features" in text and "| onnx-int8 |" in text and "1 thread" in text
    labels = [p[0] for p in script.plot_points([result])]
    assert labels == ["SAGE teacher (exact)", "SAGE teacher (fan-out 5)", labels[2], "GLNN student (int8)"]
    assert labels[2].startswith("GLNN student (") and "int8" not in labels[2]
    script.plot([result], tmp_path / "plot.png")
    assert (tmp_path / "plot.png").stat().st_size > 1000


def test_a_vq_teacher_is_exact_on_its_gnns_receptive_field():
    """The speed benchmark gathers a VQ teacher's neighbourhood by its GNN's receptive field (codes are per node)."""
    from g2m.datasets import load_dataset
    from g2m.models.vq_tokenizer import VQTokenizerGNN
    from g2m.models import build_teacher

    data = load_dataset("cora").data
    torch.manual_seed(0)
    gnn = build_teacher("gcn", data.num_features, 7, hidden_channels=16)
    net = VQTokenizerGNN(gnn, data.num_features, codebook_size=16, code_dim=8).eval()
    assert net.receptive_field == gnn.receptive_field == 3  # GCN: 2 layers + the sources' degrees
    nodes = torch.tensor([0, 7, 100])
    subset, sub_ei, mapping, _ = k_hop_subgraph(nodes, net.receptive_field, data.edge_index, relabel_nodes=True,
                                                num_nodes=data.num_nodes)
    with torch.no_grad():
        torch.testing.assert_close(net(data.x[subset], sub_ei)[mapping], net(data.x, data.edge_index)[nodes])
    appnp = VQTokenizerGNN(build_teacher("appnp", data.num_features, 7), data.num_features)
    assert appnp.receptive_field is None  # K-hop propagation: refused by the speed benchmark
