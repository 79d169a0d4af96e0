import numpy as np
import torch

from conftest import require_real_cub
from zsl_app.storage.data import load_benchmark
from zsl_app.protocol.run import Protocol, train_and_evaluate
from zsl_app.core.heads import create_head, head_names


def tiny(name):
    return create_head(name, {"iters": 2} if name == "vae-cflow" else None,
                       feature_dim=12, attribute_dim=5, n_classes=3)


def test_registered():
    assert "vae-cflow" in head_names()


def test_step_shapes_grads_no_nan():
    torch.manual_seed(0)
    head = create_head("vae-cflow", {"encoder_hidden": 16, "decoder_hidden": 8, "coupling_hidden": 8},
                       feature_dim=12, attribute_dim=5, n_classes=3)
    x, y, att = torch.rand(20, 12), torch.arange(20) % 3, torch.rand(3, 5)
    head.prepare(x, y, att)
    with torch.no_grad():  # make the zero-initialised coupling outputs non-zero so t() gets gradients
        for step in head.flow.steps:
            step.coupling.t[-1].weight.normal_(0, 0.1)
    losses = head.training_step(x, y, att, 0, 1)
    losses["loss"].backward()
    assert all(torch.isfinite(v) for v in losses.values())
    no_grad = [n for n, p in head.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert no_grad == []
    fake = head.synthesize(att, 4, torch.Generator().manual_seed(0))
    assert fake.shape == (12, 12) and torch.isfinite(fake).all()
    assert head.embed(x) is x and head.decode_attributes(x).shape == (20, 5)


def test_temperature_scales_spread():
    torch.manual_seed(0)
    head = create_head("vae-cflow", {"encoder_hidden": 16, "decoder_hidden": 8, "coupling_hidden": 8},
                       feature_dim=12, attribute_dim=5, n_classes=3)
    head.prepare(torch.rand(20, 12), torch.arange(20) % 3, torch.rand(3, 5))
    att = torch.rand(1, 5)
    spread = [head.synthesize(att, 2000, torch.Generator().manual_seed(1), temperature=t).std(0).mean() for t in (0.5, 2.0)]
    assert spread[1] / spread[0] > 1.8  # std grows with sqrt(T): ratio 2


def test_short_real_training_beats_chance():
    bench = load_benchmark(require_real_cub(), "CUB", "effnetlite2")
    torch.set_num_threads(2)
    result = train_and_evaluate(bench, "vae-cflow", {"iters": 150, "unseen_samples": 60},
                                protocol=Protocol(select=False, calibrate=False), seed=0)
    # chance: 2% ZSL (1 of 50 unseen classes), 0.5% per-class in the joint 200-class space
    assert result.test["ZSL"] > 15
    assert result.test["S"] > 30
    assert np.isfinite(list(result.test.values())).all()
