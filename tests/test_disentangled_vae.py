"""Disentangled-VAE head: each ablation's shapes and gradients, batch re-combining, its noise and seen draw,
a real CUB fit. The contract every head keeps is in test_heads_contract.py."""

import pytest
import torch

from zsl_app.core.heads import create_head, disentangled_vae, head_config
from zsl_app.core.heads.disentangled_vae import recombine, reparameterise, warmup

from conftest import XLSA17, needs_real_cub

DIMS = {"feature_dim": 12, "attribute_dim": 7, "n_classes": 5}
TINY = {"latent": 4, "visual_encoder_hidden": 16, "visual_decoder_hidden": 16,
        "semantic_encoder_hidden": 8, "semantic_decoder_hidden": 8, "seen_samples": 6}
ABLATIONS = ("base", "dis", "full")


def tiny_head(ablation: str, seed: int = 0):
    torch.manual_seed(seed)
    return create_head("dvae", head_config("dvae", {**TINY, "ablation": ablation}), **DIMS)


def batch(n: int = 10, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, DIMS["feature_dim"], generator=g)
    y = torch.arange(n) % DIMS["n_classes"]
    class_att = torch.rand(DIMS["n_classes"], DIMS["attribute_dim"], generator=g)
    return x, y, class_att


@pytest.mark.parametrize("ablation", ABLATIONS)
def test_shapes_and_finite_outputs(ablation):
    head = tiny_head(ablation)
    x, y, att = batch()
    losses = head.training_step(x, y, att, step=500, total=1000)
    assert all(torch.isfinite(v) for v in losses.values())
    head.eval()
    g = torch.Generator().manual_seed(0)
    assert head.embed(x).shape == (10, 4) and head.embed_dim == 4
    z, labels = head.embed_train(x, y, g)
    assert z.shape == (5 * 6, 4) and labels.tolist() == [c for c in range(5) for _ in range(6)]
    assert head.synthesize(att[:2], 3, g).shape == (6, 4)
    assert head.decode_attributes(x).shape == (10, 7)
    assert all(torch.isfinite(t).all() for t in (z, head.embed(x), head.decode_attributes(x)))


@pytest.mark.parametrize("ablation", ABLATIONS)
def test_every_parameter_gets_a_gradient(ablation):
    head = tiny_head(ablation)
    x, y, att = batch()
    head.training_step(x, y, att, step=999, total=1000)["loss"].backward()  # every warm-up is on
    missing = [n for n, p in head.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


def test_recombine_pairs_each_distilling_latent_with_another_rows_dispersing_latent():
    zt = torch.arange(6.0)[:, None] * 100  # row i carries i in the hundreds
    zp = torch.arange(6.0)[:, None]  # row j carries j in the units
    perm = torch.tensor([3, 0, 5, 1, 2, 4])
    mixed = recombine(zt, zp, perm)
    assert (mixed // 100).flatten().tolist() == list(range(6))  # zt (and its label) stays in place
    assert (mixed % 100).flatten().tolist() == perm.tolist()


def test_shuffled_loss_uses_permuted_dispersing_latents_and_unpermuted_labels():
    head = tiny_head("full").eval()  # eval: latents are the means, so losses are deterministic
    x, y, att = batch()
    perm = torch.roll(torch.arange(10), 3)
    out = head.losses(x, y, att[y], epoch=200, perm=perm)
    expected = 0
    for modality, encoder, inputs in (("visual", head.visual_encoder, x), ("semantic", head.semantic_encoder, att[y])):
        post = encoder(inputs)
        mixed = post["distilling"][0] + post["dispersing"][0][perm]
        expected = expected + torch.nn.functional.cross_entropy(head.classifiers[modality](mixed), y)
    assert torch.allclose(out["sc_shuffled"], expected)
    identity = head.losses(x, y, att[y], epoch=200, perm=torch.arange(10))
    assert not torch.allclose(out["sc_shuffled"], identity["sc_shuffled"])
    assert torch.allclose(identity["sc_shuffled"], identity["sc"])


def test_training_step_draws_a_fresh_permutation_for_the_full_model_only(monkeypatch):
    calls = []
    monkeypatch.setattr(disentangled_vae, "recombine", lambda zt, zp, perm: calls.append(perm) or zt + zp[perm])
    x, y, att = batch()
    for ablation in ABLATIONS:
        calls.clear()
        keys = set(tiny_head(ablation).training_step(x, y, att, step=0, total=10))
        assert ("sc_shuffled" in keys) == (ablation == "full") and ("sc" in keys) == (ablation != "base")
        assert len(calls) == (2 if ablation == "full" else 0)  # one re-combination per modality
    assert sorted(calls[0].tolist()) == list(range(10))


def test_ablations_change_exactly_the_parts_they_name():
    params = {a: {n: p.shape for n, p in tiny_head(a).named_parameters()} for a in ABLATIONS}
    assert params["dis"] == params["full"]  # re-combining adds no parameters
    extra = set(params["full"]) - set(params["base"])
    assert extra and all("dispersing" in n or n.startswith("classifiers.") for n in extra)
    assert set(params["base"]) <= set(params["full"])
    assert not any("dispersing" in n or "classifiers" in n for n in params["base"])
    x, y, att = batch()
    dis, full = tiny_head("dis").eval(), tiny_head("full").eval()
    out_dis = dis.losses(x, y, att[y], epoch=200, perm=None)
    out_full = full.losses(x, y, att[y], epoch=200, perm=torch.roll(torch.arange(10), 1))
    for key in out_dis:  # same seed, same weights: only the shuffled term (and so the total) differs
        if key != "loss":
            assert torch.allclose(out_dis[key], out_full[key])
    weight = full.config.lsc_weight
    assert torch.allclose(out_full["loss"], out_dis["loss"] + weight * out_full["sc_shuffled"])


def test_warmup_follows_cada_vae():
    assert [warmup(e, (21, 75)) for e in (0, 21, 48, 75, 140)] == [0.0, 0.0, 0.5, 1.0, 1.0]


def test_noise_is_one_draw_per_row_along_exp_logvar():
    mu, logvar = torch.randn(50, 4), torch.randn(50, 4)
    eps = (reparameterise(mu, logvar, torch.Generator().manual_seed(0)) - mu) / torch.exp(logvar)
    assert torch.allclose(eps, eps[:, :1].expand(-1, 4), atol=1e-5)  # the same draw in every dimension
    assert eps[:, 0].std() > 0.5  # and a different one per row


def test_seen_samples_cycle_through_each_class_images_in_turn(monkeypatch):
    head, (x, y, _) = tiny_head("full").eval(), batch()
    monkeypatch.setattr(disentangled_vae, "reparameterise", lambda mu, logvar, generator: mu)  # means show the rows
    z, labels = head.embed_train(x, y, torch.Generator().manual_seed(0))
    for c in range(5):
        images = torch.nonzero(y == c).squeeze(1)  # two per class, used in order three times each
        expected = head.embed(x[images.repeat(3)])
        assert torch.allclose(z[labels == c], expected)


def test_unknown_ablation_is_rejected():
    with pytest.raises(ValueError, match="base, dis, full"):
        head_config("dvae", {"ablation": "nope"})


@needs_real_cub
def test_short_cub_training_beats_chance_by_a_wide_margin():
    from zsl_app.protocol import resolve_spec
    from zsl_app.protocol.run import run_protocol
    from zsl_app.storage.data import load_benchmark

    torch.set_num_threads(1)
    bench = load_benchmark(XLSA17, "CUB", "effnetlite2")
    head = {"epochs": 2, "cross_warmup": (0, 1), "distance_warmup": (0, 1)}  # align from the start
    spec = resolve_spec("CUB", "dvae", head=head, classifier={"epochs": 3}, protocol={"select": False})
    result = run_protocol(spec, bench)
    # Chance: ZSL 2% (50 unseen classes), U 0.5% (200 classes): demand 10x and 20x chance. S is not
    # asserted: after 2 epochs the tight synthetic unseen clusters still capture seen images (S ~ 0;
    # measured U 27, ZSL 27); S takes off later in training.
    assert result.test["ZSL"] > 20 and result.test["U"] > 10, result.test


def test_classifier_settings_follow_the_head_then_the_caller():
    from zsl_app.protocol import resolve_spec

    assert resolve_spec("CUB", "dvae").classifier.batch_size == 32  # CADA-VAE's latent classifier
    assert resolve_spec("CUB", "vae-cflow").classifier.batch_size == 256
    mine = {"epochs": 7, "batch_size": 64}
    assert resolve_spec("CUB", "dvae", classifier=mine).classifier == resolve_spec("CUB", classifier=mine).classifier
