"""The GZSL softmax classifier: its init, weight-decay and weight-averaging options, and that it learns separable data."""

import math

import pytest
import torch

from zsl_app.core.classifier import ClassifierConfig, predict_logits, train_classifier


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


@pytest.mark.parametrize("ema", [-0.1, 1.0])
def test_ema_outside_unit_interval_is_rejected(ema):
    with pytest.raises(ValueError, match="classifier ema must be in"):
        ClassifierConfig(ema=ema)


def test_ema_returns_the_moving_average_of_the_iterates():
    x, y = blobs()

    def weights(epochs, ema=0.0):  # full batch: one step per epoch, the same trajectory every call
        torch.manual_seed(0)
        config = ClassifierConfig(epochs=epochs, batch_size=len(x), lr=0.05, ema=ema)
        return train_classifier(x, y, 4, config, generator=torch.Generator().manual_seed(0)).linear.weight

    decay, average = 0.6, weights(0)
    for epoch in range(1, 4):
        average = decay * average + (1 - decay) * weights(epoch)
    assert torch.allclose(weights(3, ema=decay), average, atol=1e-6)
    assert not torch.allclose(weights(3), average, atol=1e-3)


def test_negative_weight_decay_is_rejected():
    with pytest.raises(ValueError, match="classifier weight_decay must be >= 0"):
        ClassifierConfig(weight_decay=-1e-3)


def test_weight_decay_shrinks_the_weights_of_a_separable_problem():
    x, y = blobs()  # separable: without a penalty the weights keep growing

    def weight_norm(decay):
        torch.manual_seed(0)
        config = ClassifierConfig(epochs=30, batch_size=32, lr=0.05, weight_decay=decay)
        model = train_classifier(x, y, 4, config, generator=torch.Generator().manual_seed(0))
        assert (predict_logits(model, x).argmax(1) == y).float().mean() > 0.95
        return model.linear.weight.norm().item()

    assert weight_norm(0.1) < 0.5 * weight_norm(0.0)
