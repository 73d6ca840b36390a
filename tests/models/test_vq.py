"""The vector quantizer (g2m/models/vq.py): assignment, EMA codebook, k-means, revival, code similarity."""

from __future__ import annotations

import pytest
import torch

from g2m.models.vq import VectorQuantizer, code_similarity, kmeans, soft_code_assignment


def test_assignment_is_nearest_code():
    torch.manual_seed(0)
    vq = VectorQuantizer(16, 4, kmeans_init=False).eval()
    z = torch.randn(100, 4)
    _, codes, _ = vq(z)
    brute = torch.cdist(z, vq.codebook).argmin(-1)
    assert torch.equal(codes, brute)
    assert torch.allclose(code_similarity(z, vq.codebook), -torch.cdist(z, vq.codebook) ** 2, atol=1e-4)


def test_straight_through_and_commitment():
    vq = VectorQuantizer(4, 3, kmeans_init=False).eval()
    z = torch.randn(10, 3, requires_grad=True)
    q, codes, commit = vq(z)
    assert torch.allclose(q, vq.codebook[codes])
    (q.sum() + commit).backward()
    assert z.grad is not None and z.grad.abs().sum() > 0


def test_ema_update_moves_codes_towards_assigned_vectors():
    vq = VectorQuantizer(2, 2, decay=0.5, kmeans_init=False, revive_every=0)
    vq.codebook.copy_(torch.tensor([[0.0, 0.0], [10.0, 10.0]]))
    vq.ema_sum.copy_(vq.codebook * vq.ema_count[:, None])
    z = torch.tensor([[1.0, 1.0], [1.2, 0.8], [9.0, 9.0]])
    before = vq.codebook.clone()
    vq.train()
    for _ in range(20):
        vq(z)
    target = torch.tensor([[1.1, 0.9], [9.0, 9.0]])
    assert ((vq.codebook - target).norm(dim=1) < (before - target).norm(dim=1)).all()
    assert torch.allclose(vq.codebook, target, atol=1e-2)


def test_kmeans_init_from_data():
    torch.manual_seed(0)
    centres = torch.tensor([[5.0, 0.0], [-5.0, 0.0], [0.0, 5.0]])
    z = torch.cat([c + 0.1 * torch.randn(50, 2) for c in centres])
    vq = VectorQuantizer(3, 2).train()
    vq(z)
    # every true centre has a code within 0.5 of it
    d = torch.cdist(centres, vq.codebook).min(dim=1).values
    assert (d < 0.5).all(), d
    assert kmeans(z, 3).shape == (3, 2)


def test_dead_code_revival():
    torch.manual_seed(0)
    vq = VectorQuantizer(8, 2, decay=0.5, kmeans_init=False, dead_threshold=0.05, revive_every=5)
    vq.codebook.copy_(torch.tensor([[0.0, 0.0]] + [[100.0, 100.0]] * 7))
    vq.ema_sum.copy_(vq.codebook * vq.ema_count[:, None])
    z = torch.randn(64, 2)
    vq.train()
    for _ in range(5):
        vq(z)
    assert vq.revived == 7
    # revived codes sit on data and now win assignments
    assert (vq.codebook.abs() < 10).all()
    assert vq.usage(vq.assign(z))["used_codes"] > 1


# --- fast code search and soft-code loss (issue 11) ----------------------------------------------------
def test_chunked_nearest_code_equals_brute_force():
    from g2m.models.vq import nearest_code

    gen = torch.Generator().manual_seed(0)
    z, codebook = torch.randn(1037, 16, generator=gen), torch.randn(300, 16, generator=gen)
    brute = torch.cdist(z, codebook).argmin(-1)
    for chunk in (1, 100, 512, 5000):
        assert torch.equal(nearest_code(z, codebook, chunk=chunk), brute)


def test_cosine_codebook_keeps_unit_codes_and_picks_the_most_similar():
    torch.manual_seed(0)
    vq = VectorQuantizer(16, 4, decay=0.5, metric="cosine", revive_every=0)
    z = torch.randn(200, 4) * torch.rand(200, 1) * 10  # lengths vary; only directions matter
    q, codes, _ = vq(z)
    assert torch.allclose(vq.codebook.norm(dim=-1), torch.ones(16), atol=1e-5)  # renormalised after EMA
    sims = torch.nn.functional.normalize(z, dim=-1) @ vq.codebook.t()
    assert torch.equal(vq.assign(z), sims.argmax(-1))
    assert torch.equal(vq.assign(3.0 * z), vq.assign(z))  # scale-invariant, unlike the Euclidean codebook
    assert torch.allclose(q.norm(dim=-1), torch.ones(200), atol=1e-5)
    with pytest.raises(ValueError, match="metric must be one of"):
        VectorQuantizer(4, 4, metric="manhattan")


# --- hand-computed quantizer and tokenizer losses (issue 17 survivors) ------------------------------------
def test_one_ema_step_by_hand():
    vq = VectorQuantizer(2, 1, decay=0.8, eps=0.0, kmeans_init=False, revive_every=0)
    vq.codebook.copy_(torch.tensor([[0.0], [10.0]]))
    vq.ema_count.copy_(torch.tensor([1.0, 1.0]))
    vq.ema_sum.copy_(torch.tensor([[0.0], [10.0]]))
    vq.train()
    vq(torch.tensor([[1.0], [3.0], [9.0]]))  # codes 0, 0, 1
    # count: 0.8·1 + 0.2·2 = 1.2 and 0.8·1 + 0.2·1 = 1.0; sum: 0.8·0 + 0.2·4 = 0.8 and 0.8·10 + 0.2·9 = 9.8
    assert torch.allclose(vq.ema_count, torch.tensor([1.2, 1.0]))
    assert torch.allclose(vq.ema_sum, torch.tensor([[0.8], [9.8]]))
    assert torch.allclose(vq.codebook, torch.tensor([[0.8 / 1.2], [9.8]]))


def test_commitment_gradient_reaches_the_encoder_only():
    vq = VectorQuantizer(2, 2, beta=0.25, kmeans_init=False).eval()
    vq.codebook.copy_(torch.tensor([[0.0, 0.0], [4.0, 4.0]]))
    z = torch.tensor([[1.0, 0.0], [3.0, 5.0]], requires_grad=True)
    _, codes, commit = vq(z)
    assert codes.tolist() == [0, 1]
    # 0.25 · mean((z − q)²) = 0.25 · (1 + 0 + 1 + 1) / 4
    assert float(commit) == pytest.approx(0.25 * 3 / 4)
    commit.backward()
    q = vq.codebook[codes]
    assert torch.allclose(z.grad, 0.25 * 2 * (z.detach() - q) / 4)  # d/dz of beta·mse(z, sg(q))
    assert not vq.codebook.requires_grad  # codes move by EMA only


def test_usage_by_hand():
    vq = VectorQuantizer(4, 2, kmeans_init=False)
    usage = vq.usage(torch.tensor([0, 0, 1, 1]))
    assert usage["perplexity"] == pytest.approx(2.0) and usage["used_codes"] == 2 and usage["dead_codes"] == 2
    assert vq.usage(torch.tensor([0, 1, 2, 3]))["perplexity"] == pytest.approx(4.0)


# --- quantizer functions by hand, defaults and argument checks (issue 17, vq.py survivors) ---------------
def test_code_logits_and_soft_assignment_by_hand():
    from g2m.models.vq import code_logits

    z = torch.tensor([[0.0, 1.0], [2.0, 0.0]])
    codebook = torch.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]])
    sq = torch.tensor([[1.0, 1.0, 5.0], [4.0, 2.0, 0.0]])  # ‖z − c‖² per row and code
    # code_logits drops −‖z‖² (1 and 4 per row): logits = −‖z − c‖² + ‖z‖², default temperature 1
    assert torch.allclose(code_logits(z, codebook), -sq + torch.tensor([[1.0], [4.0]]))
    assert torch.allclose(code_logits(z, codebook, 0.5), 2.0 * (-sq + torch.tensor([[1.0], [4.0]])))
    expected = torch.softmax(-sq, -1)  # default temperature 1
    assert torch.allclose(soft_code_assignment(z, codebook), expected)
    expected_half = torch.softmax(-sq / 0.5, -1)  # the temperature divides the squared distances
    assert torch.allclose(soft_code_assignment(z, codebook, 0.5), expected_half)
    assert not torch.allclose(expected_half, expected, atol=1e-2)
    # log=True gives the log-probabilities over the codes of each row
    assert torch.allclose(soft_code_assignment(z, codebook, 0.5, log=True), expected_half.log(), atol=1e-6)
    assert torch.allclose(soft_code_assignment(z, codebook, log=True).exp().sum(-1), torch.ones(2))


def test_nearest_code_stays_on_the_input_device_and_computes_each_chunk_once(monkeypatch):
    from g2m.models.vq import nearest_code

    z, codebook = torch.randn(7, 3, device="meta"), torch.randn(4, 3, device="meta")
    assert nearest_code(z, codebook).device.type == "meta"  # the output is made on z's device
    calls = []
    real = torch.addmm
    monkeypatch.setattr(torch, "addmm", lambda *a, **k: calls.append(a[1].size(0)) or real(*a, **k))
    z, codebook = torch.randn(1100, 3), torch.randn(4, 3)
    assert torch.equal(nearest_code(z, codebook), torch.cdist(z, codebook).argmin(-1))
    assert calls == [512, 512, 76]  # default chunk of 512 rows, each row scored once
    calls.clear()
    nearest_code(z, codebook, chunk=600)
    assert calls == [600, 500]


def test_quantizer_defaults_beta_and_random_codebook_scale():
    torch.manual_seed(0)
    vq = VectorQuantizer(256, 64, kmeans_init=False).eval()
    # the random codebook has unit mean squared norm (randn / √d), on the scale of normalised encoder outputs
    assert 0.9 < float((vq.codebook ** 2).sum(-1).mean()) < 1.1
    vq.codebook.copy_(torch.zeros(256, 64))
    z = torch.ones(3, 64)
    _, _, commit = vq(z)
    assert float(commit) == pytest.approx(0.25)  # default beta 0.25 · mean((1 − 0)²)


def test_default_revival_schedule_and_threshold():
    vq = VectorQuantizer(2, 1, kmeans_init=False).train()  # decay 0.99, dead below 0.01, check every 10 updates
    vq.codebook.copy_(torch.tensor([[0.0], [50.0]]))
    vq.ema_sum.copy_(torch.tensor([[0.0], [50.0]]))
    vq.ema_count.copy_(torch.tensor([0.5, 0.5]))  # code 0: never assigned below, stays above 0.5·0.99¹⁰ ≈ 0.45
    z = torch.full((4, 1), 50.0)
    for _ in range(9):
        vq(z)
    assert vq.revived == 0 and int(vq.num_updates) == 9
    vq.ema_count[0] = 0.001  # now dead: revived on the 10th update
    vq(z)
    assert vq.revived == 1 and float(vq.codebook[0]) == 50.0
    vq.ema_count[0] = 0.5  # alive (≥ 0.01) although below 1, and never assigned: never revived
    vq.codebook[0], vq.ema_sum[0] = -50.0, -25.0
    for _ in range(10):
        vq(z)
    assert vq.revived == 1


def test_quantizer_argument_checks():
    VectorQuantizer(1, 1)  # one code of one dimension is valid
    for codes, dim in ((0, 4), (4, 0), (0, 0)):
        with pytest.raises(ValueError, match="^num_codes and embedding_dim must be positive$"):
            VectorQuantizer(codes, dim)
    with pytest.raises(ValueError, match="metric must be one of euclidean, cosine, got 'l1'"):
        VectorQuantizer(4, 4, metric="l1")
    VectorQuantizer(4, 4, decay=0.0)  # no memory: the codebook jumps to the batch means
    for decay in (1.0, 1.5, -0.1):
        with pytest.raises(ValueError, match=r"decay must be in \[0, 1\)"):
            VectorQuantizer(4, 4, decay=decay)
    vq = VectorQuantizer(4, 4, kmeans_init=False)
    for bad in (torch.randn(5, 3), torch.randn(2, 3, 4), torch.randn(4)):
        with pytest.raises(ValueError, match=r"expected \[N, 4\] inputs, got \(" + ", ".join(map(str, bad.shape))):
            vq(bad)


def test_cosine_quantizer_normalises_inputs_row_by_row():
    vq = VectorQuantizer(2, 2, beta=1.0, kmeans_init=False, metric="cosine").eval()
    vq.codebook.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    z = torch.tensor([[3.0, 4.0], [0.0, 2.0]])
    assert torch.allclose(vq.prepare(z), torch.tensor([[0.6, 0.8], [0.0, 1.0]]))
    _, codes, commit = vq(z)
    assert codes.tolist() == [1, 1]
    # commitment on the unit vectors: mean((0.6 − 0)², (0.8 − 1)², 0, 0) = 0.1
    assert float(commit) == pytest.approx(0.1)


# --- the quantizer's no_grad functions, measured since the mutation run rewrites their decorators ---------------
def test_kmeans_seeds_distinct_rows_follows_its_generator_and_moves_one_member_clusters():
    x = torch.arange(8.0).unsqueeze(1)
    for n in (8, 5):  # n ≥ K: K distinct rows as seeds (no duplicate centre), with n == K as well
        seeds = kmeans(x[:n], n if n == 8 else 3, iters=0, generator=torch.Generator().manual_seed(0))
        assert seeds.unique(dim=0).size(0) == seeds.size(0)
    # the generator alone decides the seeds: the global random state does not matter
    torch.manual_seed(1)
    a = kmeans(x, 3, iters=0, generator=torch.Generator().manual_seed(7))
    torch.manual_seed(2)
    assert torch.equal(a, kmeans(x, 3, iters=0, generator=torch.Generator().manual_seed(7)))
    few = x[:2]  # fewer rows than clusters: seeds drawn with replacement, from the generator too
    torch.manual_seed(1)
    b = kmeans(few, 5, iters=0, generator=torch.Generator().manual_seed(7))
    torch.manual_seed(2)
    assert torch.equal(b, kmeans(few, 5, iters=0, generator=torch.Generator().manual_seed(7)))
    # points 0, 1, 10 seeded at 0 and 1: {0} and {1, 10} → centres 0 and 5.5; then {0, 1} and {10} → 0.5 and 10
    # (a cluster of one member moves onto it)
    pts = torch.tensor([[0.0], [1.0], [10.0]])
    seed = next(s for s in range(100)
                if set(torch.randperm(3, generator=torch.Generator().manual_seed(s))[:2].tolist()) == {0, 1})
    centres = kmeans(pts, 2, iters=3, generator=torch.Generator().manual_seed(seed))
    assert sorted(centres.flatten().tolist()) == pytest.approx([0.5, 10.0])


def test_init_codebook_uses_the_configured_iterations_and_counts_every_code(monkeypatch):
    from g2m.models import vq as vq_mod

    centres = torch.tensor([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0], [100.0, 100.0]])  # the last code gets no vector
    seen = []
    monkeypatch.setattr(vq_mod, "kmeans", lambda z, k, iters=10, generator=None: seen.append(iters) or centres)
    vq = VectorQuantizer(4, 2, kmeans_iters=3)
    vq.init_codebook(torch.tensor([[0.0, 0.0], [1.0, 1.0], [1.0, 1.0], [5.0, 5.0]]))
    assert seen == [3]
    assert torch.equal(vq.codebook, centres)
    assert torch.equal(vq.ema_count, torch.tensor([1.0, 2.0, 1.0, 1.0]))  # counts 1, 2, 1, 0 → at least 1
    assert torch.equal(vq.ema_sum, centres * torch.tensor([[1.0], [2.0], [1.0], [1.0]]))
    assert bool(vq.initialised)


def test_one_ema_step_with_laplace_smoothing_by_hand():
    vq = VectorQuantizer(2, 1, decay=0.5, eps=0.5, kmeans_init=False, revive_every=0)
    vq.codebook.copy_(torch.tensor([[0.0], [10.0]]))
    vq.ema_count.copy_(torch.tensor([1.0, 1.0]))
    vq.ema_sum.copy_(torch.tensor([[0.0], [10.0]]))
    vq.ema_update(torch.tensor([[2.0], [4.0]]), torch.tensor([0, 0]))
    # counts 0.5 + 1 = 1.5 and 0.5; sums 0 + 3 = 3 and 5; n = 2: smoothed (c + ε) / (n + Kε) · n = 2/3·2, 1/3·2
    assert torch.allclose(vq.ema_count, torch.tensor([1.5, 0.5]))
    assert torch.allclose(vq.codebook, torch.tensor([[3.0 / (4.0 / 3.0)], [5.0 / (2.0 / 3.0)]]))


def test_revive_dead_codes_boundaries_by_hand():
    vq = VectorQuantizer(3, 4, kmeans_init=False, dead_threshold=0.5)
    vq.ema_count.copy_(torch.tensor([0.5, 2.0, 3.0]))  # exactly at the threshold: not dead
    assert vq.revive_dead_codes(torch.randn(6, 4)) == 0 and vq.revived == 0
    vq.ema_count.copy_(torch.tensor([0.1, 0.2, 3.0]))
    assert vq.revive_dead_codes(torch.zeros(0, 4)) == 0  # no vectors to revive them with
    torch.manual_seed(0)
    row = torch.tensor([[1.0, 2.0, 3.0, 4.0]])  # a single vector: every dead code becomes it
    assert vq.revive_dead_codes(row) == 2
    assert torch.equal(vq.codebook[:2], row.expand(2, 4)) and torch.equal(vq.ema_sum[:2], row.expand(2, 4))
    assert torch.equal(vq.ema_count, torch.tensor([1.0, 1.0, 3.0]))
    vq.ema_count[2] = 0.0
    assert vq.revive_dead_codes(row) == 1 and vq.revived == 3  # counted over calls


def test_usage_with_one_vector_and_codes_used_once():
    vq = VectorQuantizer(4, 2, kmeans_init=False)
    one = vq.usage(torch.tensor([2]))
    assert one == {"perplexity": pytest.approx(1.0), "used_codes": 1, "dead_codes": 3, "num_codes": 4,
                   "revived_codes": 0}
    assert vq.usage(torch.tensor([0, 1, 1]))["used_codes"] == 2
