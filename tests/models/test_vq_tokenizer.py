"""VQGraph's tokenizer model (g2m/models/vq_tokenizer.py): construction, tokenize, forward, checkpoint rebuild."""

from __future__ import annotations

import pytest
import torch

from g2m.errors import ConfigError
from g2m.models import build_teacher
from g2m.models.vq_tokenizer import VQTokenizerGNN, build_vq_model


# --- tokenizer construction, tokenize outputs, structure loss, target cache (issue 17, vqgraph.py survivors) ---
class _FlatGNN(torch.nn.Module):
    """A GNN-like module with an encode/classify split but no layer-by-layer interface and no num_layers."""

    hidden_channels = 6

    def __init__(self, num_layers=None):
        super().__init__()
        self.enc, self.cls = torch.nn.Linear(4, 6), torch.nn.Linear(6, 3)
        if num_layers is not None:
            self.num_layers = num_layers

    def encode(self, x, edge_index):
        return self.enc(x)

    def classify(self, h, edge_index):
        return self.cls(h)


def test_tokenizer_defaults_and_forwarded_quantizer_options():
    gnn = build_teacher("sage", 4, 3, hidden_channels=8)
    vq = VQTokenizerGNN(gnn, 4).quantizer
    assert (vq.num_codes, vq.embedding_dim, vq.decay, vq.beta, vq.dead_threshold, vq.revive_every, vq.metric) == \
        (512, 64, 0.95, 0.25, 1e-2, 10, "euclidean")
    net = VQTokenizerGNN(gnn, 4, codebook_size=5, code_dim=3, ema_decay=0.5, commitment=0.7, dead_threshold=0.2,
                         revive_every=3, code_metric="cosine")
    vq = net.quantizer
    assert (vq.num_codes, vq.embedding_dim, vq.decay, vq.beta, vq.dead_threshold, vq.revive_every, vq.metric) == \
        (5, 3, 0.5, 0.7, 0.2, 3, "cosine")
    assert (net.feature_decoder.in_features, net.feature_decoder.out_features) == (3, 4)  # code → input features
    assert net.split_at is None and net.code_layer == "embedding"


def test_tokenizer_construction_errors_and_code_layer_rule():
    with pytest.raises(ConfigError, match=r"^Linear has no encode/classify split; the VQ tokenizer needs one\.$"):
        VQTokenizerGNN(torch.nn.Linear(4, 3), 4)
    half = torch.nn.Linear(4, 3)
    half.encode = lambda x, ei: x  # encode without classify is not enough
    with pytest.raises(ConfigError, match="encode/classify"):
        VQTokenizerGNN(half, 4)
    with pytest.raises(ConfigError, match=r"^code_layer must be one of embedding, first, got 'last'\.$"):
        VQTokenizerGNN(_FlatGNN(), 4, code_layer="last")
    # "first" differs from "embedding" only with more than two layers
    assert VQTokenizerGNN(build_teacher("sage", 4, 3, hidden_channels=8), 4, code_layer="first").split_at is None
    assert VQTokenizerGNN(build_teacher("sage", 4, 3, hidden_channels=8, num_layers=3), 4,
                          code_layer="first").split_at == 1
    # a GNN without num_layers counts as two layers; without a layer-by-layer interface it still works on "embedding"
    for layer in ("embedding", "first"):
        net = VQTokenizerGNN(_FlatGNN(), 4, codebook_size=4, code_dim=2, code_layer=layer).eval()
        assert net.split_at is None
        net.quantizer.init_codebook(torch.randn(20, 2))
        assert net.tokenize(torch.randn(5, 4), torch.zeros(2, 0, dtype=torch.long))["logits"].shape == (5, 3)
    with pytest.raises(ConfigError, match=r"^code_layer 'first' needs a layer-by-layer GNN; _FlatGNN is not one\.$"):
        VQTokenizerGNN(_FlatGNN(num_layers=3), 4, code_layer="first")


def test_tokenize_outputs_with_and_without_quantization():
    torch.manual_seed(0)
    net = VQTokenizerGNN(build_teacher("sage", 4, 3, hidden_channels=8), 4, codebook_size=6, code_dim=2).eval()
    net.quantizer.init_codebook(torch.randn(30, 2))
    x, ei = torch.randn(7, 4), torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]])
    out = net.tokenize(x, ei)  # quantized by default
    assert set(out) == {"z", "q", "codes", "commit", "logits"}
    assert out["z"].shape == (7, 2) and out["logits"].shape == (7, 3) and out["codes"].shape == (7,)
    assert torch.allclose(out["q"], net.codebook[out["codes"]]) and float(out["commit"]) > 0
    before = net.codebook.clone()
    net.train()
    plain = net.tokenize(x, ei, quantize=False)  # warm-up: z itself, no codes, no commitment, codebook untouched
    assert torch.equal(plain["q"], plain["z"]) and torch.equal(net.codebook, before)
    assert plain["codes"].dtype == torch.long and plain["codes"].tolist() == [0] * 7
    assert float(plain["commit"]) == 0.0 and plain["commit"].requires_grad
    assert plain["logits"].shape == (7, 3)


def test_forward_returns_logits_or_logits_and_code_space_embeddings():
    torch.manual_seed(0)
    net = VQTokenizerGNN(build_teacher("sage", 4, 3, hidden_channels=8), 4, codebook_size=5, code_dim=2).eval()
    net.quantizer.init_codebook(torch.randn(20, 2))
    x, ei = torch.randn(6, 4), torch.tensor([[0, 1, 2, 3, 4], [1, 2, 3, 4, 5]])
    out = net.tokenize(x, ei)
    assert torch.equal(net(x, ei), out["logits"])
    logits, z = net(x, ei, return_hidden=True)
    assert torch.equal(logits, out["logits"]) and torch.equal(z, out["z"]) and z.shape == (6, 2)


def test_build_vq_model_splits_gnn_and_tokenizer_settings():
    net = build_vq_model(5, 3, "sage", hidden_channels=8, num_layers=3, codebook_size=6, code_dim=2,
                         code_metric="cosine")
    assert isinstance(net, VQTokenizerGNN) and net.gnn.hidden_channels == 8 and len(net.gnn.convs) == 3
    assert (net.quantizer.num_codes, net.quantizer.embedding_dim, net.quantizer.metric) == (6, 2, "cosine")
    assert net.in_channels == 5 and net.feature_decoder.out_features == 5
    net.eval().quantizer.init_codebook(torch.randn(10, 2))
    assert net(torch.randn(4, 5), torch.tensor([[0, 1], [1, 2]])).shape == (4, 3)  # 5 features in, 3 classes out
    plain = build_vq_model(5, 3, "gcn", hidden_channels=4)  # no tokenizer settings: the tokenizer's defaults
    assert (plain.codebook_size, plain.code_dim, plain.gnn.hidden_channels) == (512, 64, 4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_tokenize_layerwise_on_a_gpu_equals_the_cpu_tokenize():
    """A tokenizer on the GPU reads CPU features chunk by chunk (each chunk moved to it) and keeps its outputs on
    the CPU, equal to a one-pass tokenize on the CPU (a CPU-only run cannot see this)."""
    torch.manual_seed(0)
    net = VQTokenizerGNN(build_teacher("sage", 4, 3, hidden_channels=8, num_layers=3), 4, codebook_size=5,
                         code_dim=2, code_layer="first").eval()
    net.quantizer.init_codebook(torch.randn(20, 2))
    x, ei = torch.randn(6, 4), torch.tensor([[0, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 0]])
    with torch.no_grad():
        full = net.tokenize(x, ei)
    chunked = net.cuda().tokenize_layerwise(x, ei, 2)
    assert {v.device.type for v in chunked.values()} == {"cpu"}
    assert torch.equal(chunked["codes"], full["codes"])
    torch.testing.assert_close(chunked["z"], full["z"], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(chunked["logits"], full["logits"], atol=1e-5, rtol=1e-4)
