"""Backbones: registry, shapes on tiny inputs, BatchNorm folding, weights handling, and conformance
of effnet-lite2 with the published features of real CUB photos."""

import copy
import csv
import os

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

from zsl_app.core.backbones import BACKBONES, RANDOM, BackboneError, backbone_names, create_backbone
from zsl_app.core.backbones import resnet
from zsl_app.core.backbones.base import optimise_for_inference

from conftest import SAMPLES, XLSA17, needs_samples


def test_registry_names_every_backbone():
    assert backbone_names() == ["effnet-lite0", "effnet-lite2", "resnet101"]
    with pytest.raises(KeyError, match="available: effnet-lite0"):
        create_backbone("vgg16")


@pytest.fixture(scope="module", params=backbone_names())
def random_backbone(request):
    return create_backbone(request.param, weights=RANDOM)


def test_random_backbone_embeds_tiny_batch(random_backbone):
    backbone = random_backbone
    out = backbone.embed(torch.randn(3, 3, 40, 56))
    assert out.shape == (3, backbone.feature_dim) and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    assert "RANDOM" in backbone.recipe  # random weights never pass for a feature space


def test_preprocess_gives_the_crop_for_any_shape(random_backbone):
    backbone = random_backbone
    crop = backbone.transform.crop
    for size in [(1, 1), (500, 333), (200, 900)]:
        x = backbone.preprocess(Image.new("RGB", size, (255, 0, 0)))
        assert x.shape == (3, crop, crop) and x.dtype == torch.float32
    feats = backbone.embed_images([Image.new("RGB", (7, 5)), Image.new("L", (30, 60))])  # full size
    assert feats.shape == (2, backbone.feature_dim) and feats.dtype == np.float32


@pytest.mark.parametrize("name", backbone_names())
def test_batchnorm_folding_keeps_outputs(name):
    net = BACKBONES.get(name).build_network().eval()
    gen = torch.Generator().manual_seed(0)
    for bn in (m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)):  # non-trivial statistics
        c = bn.num_features
        bn.running_mean.normal_(0, 0.1, generator=gen)
        bn.running_var.uniform_(0.5, 2.0, generator=gen)
        bn.weight.data.uniform_(0.5, 1.5, generator=gen)
        bn.bias.data.normal_(0, 0.1, generator=gen)
        assert bn.running_mean.shape == (c,)
    x = torch.randn(2, 3, 40, 32, generator=gen)
    with torch.inference_mode():
        expected = net(x)
        folded = optimise_for_inference(copy.deepcopy(net))
        got = folded(x.contiguous(memory_format=torch.channels_last))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert (got - expected).abs().max() <= 1e-4 * expected.abs().max()


def test_weights_file_of_another_network_is_refused():
    lite0 = BACKBONES.get("effnet-lite0").default_weights()
    with pytest.raises(BackboneError, match="does not hold effnet-lite2 weights"):
        create_backbone("effnet-lite2", weights=lite0)
    with pytest.raises(BackboneError, match="does not exist"):
        create_backbone("effnet-lite2", weights="/nonexistent/lite2.pth")


def test_own_weights_file_is_named_in_the_recipe(tmp_path):
    torch.save(BACKBONES.get("effnet-lite0").build_network().state_dict(), tmp_path / "finetuned.pth")
    backbone = create_backbone("effnet-lite0", weights=tmp_path / "finetuned.pth")
    assert backbone.recipe == f"{type(backbone).recipe}; weights finetuned.pth"


@pytest.mark.parametrize("name, side, resize", [("effnet-lite0", 160, 183), ("resnet101", 320, 331)])
def test_another_input_resolution_is_a_feature_space_of_its_own(name, side, resize):
    native = create_backbone(name, weights=RANDOM)
    other = create_backbone(name, weights=RANDOM, resolution=side)
    assert (other.transform.crop, other.transform.resize, other.resolution) == (side, resize, side)
    assert f"crop {side}, resize {resize}" in other.recipe and other.recipe != native.recipe
    assert other.features_name == f"{native.features_name}-{side}"
    assert other.preprocess(Image.new("RGB", (90, 60))).shape == (3, side, side)
    same = create_backbone(name, weights=RANDOM, resolution=native.resolution)
    assert (same.recipe, same.features_name) == (native.recipe, native.features_name)
    with pytest.raises(BackboneError, match="64-1024 px"):
        create_backbone(name, weights=RANDOM, resolution=5000)


def test_resnet101_without_weights_says_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setattr(resnet, "WEIGHTS_DIR", tmp_path / "weights")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))

    def offline(url, dst, hash_prefix=None):
        raise OSError("network unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(BackboneError, match=r"network unreachable.*put it at .*weights/resnet101-cd907fc2\.pth"):
        create_backbone("resnet101")


def test_effnet_lite0_imagenet_weights_load():
    backbone = create_backbone("effnet-lite0")
    assert backbone.recipe == type(backbone).recipe and backbone.features_name == "effnetlite0"
    feats = backbone.embed_images([Image.new("RGB", (300, 200), (90, 140, 60))])
    assert feats.shape == (1, 1280) and feats.min() >= 0 and feats.max() <= 6  # ReLU6 activations


@needs_samples
def test_effnet_lite2_reproduces_published_features():
    mat = scipy.io.loadmat(XLSA17 / "CUB" / "effnetlite2.mat", variable_names=["features", "backbone"])
    rows = list(csv.DictReader(open(SAMPLES / "manifest.csv")))
    reference = np.stack([mat["features"][:, int(r["image_id"]) - 1] for r in rows])  # (16, 1280)
    backbone = create_backbone("effnet-lite2")
    assert backbone.recipe == str(mat["backbone"][0]).strip()
    assert backbone.features_name == "effnetlite2" and backbone.feature_dim == 1280
    feats = backbone.embed_images([Image.open(SAMPLES / r["file"]).convert("RGB") for r in rows])
    assert np.abs(feats - reference).max() < 1e-5  # the README quotes 5.2e-6
