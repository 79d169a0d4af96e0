"""The contract every registered head keeps (as timm tests every registered model): tiny sizes, real code paths."""

import dataclasses

import numpy as np
import pytest
import torch

from zsl_app.core.classifier import SoftmaxClassifier
from zsl_app.core.heads import HEADS, create_head, head_config
from zsl_app.core.model import ZSLModel
from zsl_app.core.training import fit_head
from zsl_app.storage.checkpoint import load_model, save_model
from zsl_app.storage.data import MinMaxScaler

D, A, SEEN, UNSEEN, N = 12, 7, 4, 2, 40  # feature and attribute sizes, classes, training examples
TINY = {  # small sizes and short training; every warm-up finished by the last step
    "vae-cflow": {"encoder_hidden": 16, "decoder_hidden": 8, "coupling_hidden": 8, "iters": 4, "batch_size": 16,
                  "unseen_samples": 5},
    "dvae": {"latent": 4, "visual_encoder_hidden": 16, "visual_decoder_hidden": 16, "semantic_encoder_hidden": 8,
             "semantic_decoder_hidden": 8, "seen_samples": 6, "unseen_samples": 5, "epochs": 3, "batch_size": 16,
             "kl_warmup": (0, 1), "cross_warmup": (0, 1), "distance_warmup": (0, 1)},
}


def data(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(N, D, generator=g) * (torch.rand(N, D, generator=g) > 0.4)  # sparse, like real features
    y = torch.arange(N) % SEEN
    att = torch.nn.functional.normalize(torch.rand(SEEN + UNSEEN, A, generator=g), dim=1)
    return x, y, att


def trained(name: str):
    """A head of `name` after a short real fit (so no layer still sits at a zero initialisation)."""
    torch.manual_seed(0)
    head = create_head(name, head_config(name, TINY[name]), feature_dim=D, attribute_dim=A, n_classes=SEEN)
    x, y, att = data()
    fit_head(head, x, y, att[:SEEN], generator=torch.Generator().manual_seed(0))
    return head


def test_every_registered_head_has_a_tiny_config():
    assert sorted(TINY) == HEADS.names(), "add the new head's tiny sizes to TINY"


@pytest.mark.parametrize("name", HEADS.names())
def test_operations_have_their_shapes_and_are_finite(name):
    head = trained(name)
    x, y, att = data(1)
    e = head.embed_dim
    z, labels = head.embed_train(x, y, torch.Generator().manual_seed(0))
    fake = head.synthesize(att[SEEN:], 3, torch.Generator().manual_seed(0))
    outputs = {"embed": (head.embed(x), (N, e)), "embed_train": (z, (len(labels), e)),
               "synthesize": (fake, (UNSEEN * 3, e)), "decode_attributes": (head.decode_attributes(x), (N, A))}
    for op, (out, shape) in outputs.items():
        assert out.shape == shape, op
        assert torch.isfinite(out).all(), op
    assert set(labels.tolist()) == set(range(SEEN))


@pytest.mark.parametrize("name", HEADS.names())
def test_every_parameter_gets_a_gradient_from_training_step(name):
    head = trained(name).train()
    x, y, att = data(2)
    total = head.num_steps(N)
    losses = head.training_step(x[:16], y[:16], att[:SEEN], total - 1, total)
    assert all(torch.isfinite(v) for v in losses.values()), losses
    head.zero_grad()
    losses["loss"].backward()
    missing = [n for n, p in head.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


@pytest.mark.parametrize("name", HEADS.names())
def test_save_and_load_give_identical_outputs(name, tmp_path):
    head = trained(name)
    x, _, att = data(3)
    torch.manual_seed(1)
    model = ZSLModel(
        head=head, classifier=SoftmaxClassifier(head.embed_dim, SEEN + UNSEEN).eval(),
        scaler=MinMaxScaler(np.zeros(D, np.float32), np.ones(D, np.float32)),
        class_names=[f"class {c}" for c in range(SEEN + UNSEEN)], class_kinds=["seen"] * SEEN + ["unseen"] * UNSEEN,
        attributes=att.numpy(),
        meta={"method": name, "head_dims": head.dims, "config": dataclasses.asdict(head.config),
              "features": {"name": "tiny", "feature_space": "tiny recipe", "dim": D}})
    save_model(model, tmp_path / name)
    loaded = load_model(tmp_path / name)
    assert loaded.head.config == head.config
    for op in ("embed", "decode_attributes"):
        assert torch.equal(getattr(loaded.head, op)(x), getattr(head, op)(x)), op
    same_draw = [h.synthesize(att[SEEN:], 3, torch.Generator().manual_seed(5)) for h in (head, loaded.head)]
    assert torch.equal(*same_draw)
    assert np.array_equal(loaded.scores(x.numpy()), model.scores(x.numpy()))


@pytest.mark.parametrize("name", HEADS.names())
def test_a_sample_made_alone_from_its_noise_is_the_one_made_with_its_class(name):
    """What the classifier relies on when it makes its synthetic examples per batch (core.classifier.SyntheticRows)."""
    head = trained(name)
    att = data(4)[2][SEEN:]
    noise = torch.randn((UNSEEN * 3, head.noise_dim), generator=torch.Generator().manual_seed(5))
    together = head.generate(att, 3, noise)
    assert torch.equal(together, head.synthesize(att, 3, torch.Generator().manual_seed(5)))
    alone = torch.cat([head.generate(att[[i // 3]], 1, noise[[i]]) for i in range(UNSEEN * 3)])
    assert torch.allclose(alone, together, atol=1e-5) and not torch.allclose(together[0], together[1])
