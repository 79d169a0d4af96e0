"""The GZSL softmax classifier: its init options and that it learns separable data."""

import math

import pytest
import torch

from zsl_app.classifier import ClassifierConfig, predict_logits, train_classifier


def blobs(n_classes=4, per_class=50, dim=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = 3 * torch.randn(n_classes, dim, generator=g)
    y = torch.arange(n_classes).repeat_interleave(per_class)
    return centres[y] + 0.3 * torch.randn(len(y), dim, generator=g), y


def test_unknown_init_is_rejected():
    with pytest.raises(ValueError, match="unknown classifier init 'zeros'"):
        ClassifierConfig(init="zeros")


def test_xavier_init_is_cada_vaes_and_default_is_pytorchs():
    x, y = blobs()
    xavier = train_classifier(x, y, 4, ClassifierConfig(epochs=0, init="xavier"), generator=torch.Generator())
    default = train_classifier(x, y, 4, ClassifierConfig(epochs=0), generator=torch.Generator())
    bound = 0.5 * math.sqrt(6 / (8 + 4))  # xavier-uniform, gain 0.5
    assert torch.all(xavier.linear.bias == 0) and xavier.linear.weight.abs().max() <= bound
    assert torch.any(default.linear.bias != 0)


@pytest.mark.parametrize("init", ["default", "xavier"])
def test_classifier_learns_separable_classes(init):
    x, y = blobs()
    model = train_classifier(x, y, 4, ClassifierConfig(epochs=20, batch_size=32, lr=0.05, init=init),
                             generator=torch.Generator().manual_seed(0))
    assert (predict_logits(model, x).argmax(1) == y).float().mean() > 0.95
