"""The GZSL softmax classifier: it learns separable data, from held examples or synthetic ones made per batch, and
reports every epoch to its caller."""

from types import SimpleNamespace

import torch

from zsl_app.core.classifier import ClassifierConfig, SyntheticRows, predict_logits, train_classifier
from zsl_app.core.heads import create_head, head_config
from zsl_app.protocol import prepared


def blobs(n_classes=4, per_class=50, dim=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = 3 * torch.randn(n_classes, dim, generator=g)
    y = torch.arange(n_classes).repeat_interleave(per_class)
    return centres[y] + 0.3 * torch.randn(len(y), dim, generator=g), y


def test_classifier_learns_separable_classes():
    x, y = blobs()
    model = train_classifier(x, y, 4, ClassifierConfig(epochs=20, batch_size=32, lr=0.05),
                             generator=torch.Generator().manual_seed(0))
    assert (predict_logits(model, x).argmax(1) == y).float().mean() > 0.95


def test_on_epoch_sees_every_epoch_in_eval_mode_and_the_returned_model_is_the_last():
    x, y = blobs()
    seen = []

    def on_epoch(epoch, model):
        seen.append((epoch, model.training, model.linear.weight.detach().clone()))

    model = train_classifier(x, y, 4, ClassifierConfig(epochs=3, batch_size=64), generator=torch.Generator(),
                             on_epoch=on_epoch)
    assert [(e, training) for e, training, _ in seen] == [(1, False), (2, False), (3, False)]
    assert not torch.equal(seen[0][2], seen[2][2]) and torch.equal(seen[2][2], model.linear.weight)
    assert not model.training


class Blobs:
    """A stand-in head whose samples are noisy copies of the class attributes."""

    noise_dim = 8

    def generate(self, att, n, noise):
        return att.repeat_interleave(n, 0) + 0.3 * noise


def test_classifier_learns_classes_it_only_sees_synthesized_per_batch():
    x, y = blobs(seed=1)
    centres = torch.stack([x[y == c].mean(0) for c in range(4)])
    made = SyntheticRows(Blobs(), centres[2:], torch.tensor([2, 3]), n=50)
    model = train_classifier(x[y < 2], y[y < 2], 4, ClassifierConfig(epochs=20, batch_size=32, lr=0.05),
                             generator=torch.Generator().manual_seed(0), synthetic=made)
    assert (predict_logits(model, x).argmax(1) == y).float().mean() > 0.95


def test_the_protocol_makes_synthetic_examples_per_batch_only_when_holding_them_is_too_large(monkeypatch):
    head = create_head("vae-cflow", head_config("vae-cflow", {"encoder_hidden": 8, "decoder_hidden": 8,
                                                              "coupling_hidden": 8, "unseen_samples": 5}),
                       feature_dim=6, attribute_dim=4, n_classes=2).eval()
    data = SimpleNamespace(x_train=torch.rand(10, 6), y_train=torch.arange(10) % 2, att=torch.rand(4, 4),
                           unseen_local=torch.tensor([2, 3]))
    head.prepare(data.x_train, None, None)
    x, y, synthetic = prepared.classifier_data(head, data, torch.Generator().manual_seed(0))
    assert synthetic is None and len(x) == len(y) == 10 + 2 * 5 and y[10:].tolist() == [2] * 5 + [3] * 5
    monkeypatch.setattr(prepared, "HOLD_BYTES", 2 * 5 * 6 * 4 - 1)  # one byte less than the synthetic part
    x, y, synthetic = prepared.classifier_data(head, data, torch.Generator().manual_seed(0))
    assert len(x) == len(y) == 10 and len(synthetic) == 10 and synthetic.labels.tolist() == [2, 3]
