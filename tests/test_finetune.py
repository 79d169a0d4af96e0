"""Backbone fine-tuning: the cut network, training on cached maps, the saved backbone, and honest data use
on the real CUB split files (no fine-tune ever sees a test photo, a validation-unseen photo or a held-out one)."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from zsl_app.core.backbones import RANDOM, BackboneError, create_backbone
from zsl_app.core.finetune import FinetuneConfig, Top, top_features, train_top
from zsl_app.protocol import finetune as pipeline
from zsl_app.storage.data import load_benchmark, validation_split
from zsl_app.storage.activations import CacheKey, cached_lower, load_cache
from zsl_app.storage.extract import AugmentedPhotos
from zsl_app.storage.finetuned import load_finetuned, save_finetuned

from conftest import XLSA17, needs_real_cub

QUICK = FinetuneConfig(epochs=1, batch_size=32, lr=1e-3, resolution=None)  # at the test backbone's own input


@pytest.fixture(scope="module")
def lite0():
    torch.manual_seed(0)
    return create_backbone("effnet-lite0", weights=RANDOM)


def channels_into(backbone, cut: int) -> int:
    with torch.no_grad():
        return backbone.net.bottom(torch.rand(1, 3, 32, 32), cut).shape[1]


def test_top_of_bottom_is_the_whole_network(lite0):
    x = torch.randn(2, 3, 64, 64)
    cut = lite0.net.stage_starts[-2]
    with torch.no_grad():
        assert torch.allclose(lite0.net.top(lite0.net.bottom(x, cut), cut), lite0.net(x), atol=1e-5)


def test_training_changes_only_the_top_and_never_the_backbone(lite0):
    cut = lite0.net.stage_starts[-1]
    before = {k: v.clone() for k, v in lite0.net.state_dict().items()}
    top = Top(lite0.net, cut)
    maps = torch.rand(2, 40, channels_into(lite0, cut), 3, 3)
    labels = torch.arange(40) % 4
    trained_before = top.state()
    train_top(top, maps, labels, 4, QUICK, generator=torch.Generator().manual_seed(0))
    after = top.state()
    assert any(not torch.equal(trained_before[k], after[k]) for k in after)
    assert all(k.startswith((f"_blocks.{cut}.", "_conv_head.")) for k in after)
    assert all(torch.equal(v, lite0.net.state_dict()[k]) for k, v in before.items())  # the backbone is untouched
    feats = top_features(top, maps[0])
    assert feats.shape == (40, 1280) and np.isfinite(feats).all()


def test_the_default_fine_tune_runs_at_the_resolution_chosen_on_validation_and_only_on_a_base_at_it(lite0):
    assert pipeline.finetune_base("effnet-lite2", FinetuneConfig(), weights=RANDOM).resolution == 390
    assert pipeline.finetune_base("effnet-lite2", FinetuneConfig(resolution=None), weights=RANDOM).resolution == 260
    photos = pipeline.Photos(["a.jpg"], np.zeros(1, int), np.zeros((1, 1, 8, 2, 2), np.float16), 0, Path("."))
    with pytest.raises(ValueError, match="390 px input; the base runs at 224 px"):
        pipeline.finetune(photos, lite0, np.arange(1), FinetuneConfig(epochs=1), seed=0)


def test_a_recorded_config_without_a_resolution_ran_at_the_bases_own():
    assert FinetuneConfig.recorded({"epochs": 3}) == FinetuneConfig(epochs=3, resolution=None, mirror=False)
    assert FinetuneConfig.recorded({"resolution": 300}).resolution == 300


def test_a_mirror_fine_tune_reads_both_views_of_the_cache_but_trains_on_the_crops_alone(lite0, tmp_path):
    """`mirror` (the default) needs the cache's mirrored view for the features, not for training; older records
    had none."""
    assert (FinetuneConfig().views, FinetuneConfig().trained_views, FinetuneConfig(mirror=False).views) == (2, 1, 1)
    assert FinetuneConfig().mirror and FinetuneConfig.recorded({}).mirror is False
    cut = lite0.net.stage_starts[-1]
    maps = np.random.default_rng(0).random((2, 4, channels_into(lite0, cut), 2, 2), dtype=np.float32)
    photos = pipeline.Photos([f"{i}.jpg" for i in range(4)], np.array([0, 0, 1, 1]), maps, cut, tmp_path)
    plain = pipeline.finetune(photos, lite0, np.arange(4), dataclasses.replace(QUICK, mirror=False), seed=0)
    mirror = pipeline.finetune(photos, lite0, np.arange(4), QUICK, seed=0)
    assert torch.equal(plain.top.state()["_conv_head.weight"], mirror.top.state()["_conv_head.weight"])
    assert np.allclose(mirror.features, (plain.features + top_features(plain.top, maps[1])) / 2, atol=1e-6)
    assert mirror.recipe.startswith(plain.recipe) and mirror.recipe != plain.recipe
    with pytest.raises(ValueError, match="2 views"):
        pipeline.finetune(dataclasses.replace(photos, maps=maps[:1]), lite0, np.arange(4), QUICK, seed=0)


def test_config_refuses_out_of_range_settings():
    with pytest.raises(ValueError, match="stages must be 1 or 2"):
        FinetuneConfig(stages=3)
    assert not FinetuneConfig(stages="all").cached and FinetuneConfig(stages=2).cached
    with pytest.raises(ValueError, match="epochs"):
        FinetuneConfig(epochs=0)
    with pytest.raises(ValueError, match="resolution"):
        FinetuneConfig(resolution=20)


def test_resnet_cannot_be_cut():
    backbone = create_backbone("resnet101", weights=RANDOM)
    with pytest.raises(BackboneError, match="cannot be fine-tuned"):
        backbone.check_finetunable()


@pytest.mark.parametrize("resolution", [None, 256])
def test_saved_finetune_reproduces_its_features_through_the_photo_path(tmp_path, resolution):
    base = create_backbone("effnet-lite0", resolution=resolution)
    cut = base.net.stage_starts[-1]
    top = Top(base.net, cut)
    with torch.no_grad():
        for p in top.trained.values():
            p.add_(0.01 * torch.randn_like(p))
    images = torch.stack([base.preprocess(Image.new("RGB", (300, 200), colour)) for colour in ("red", "teal", "gray")])
    maps = base.embed_lower(images, cut)
    expected = top_features(top, maps)
    save_finetuned(tmp_path / "tuned", base, cut, top.state(), {"features_name": "lite0-ft"})
    tuned = load_finetuned(tmp_path / "tuned")
    assert tuned.features_name == "lite0-ft" and tuned.recipe != base.recipe
    assert tuned.transform == base.transform and tuned.resolution == (resolution or 224)
    assert np.abs(tuned.embed(images).numpy() - expected).max() < 1e-2  # float16 storage
    photos = [Image.new("RGB", (300, 200), colour) for colour in ("red", "teal")]
    features, logits = tuned.look(photos)  # the frozen stages once, then the tuned top and the ImageNet one
    assert np.abs(features - tuned.embed_images(photos)).max() < 1e-5
    assert np.abs(logits - base.imagenet_logits(base.embed_images(photos))).max() < 1e-3
    (tmp_path / "tuned.safetensors").write_bytes((tmp_path / "tuned.safetensors").read_bytes()[:-8] + bytes(8))
    with pytest.raises(BackboneError, match="does not match the hash"):
        load_finetuned(tmp_path / "tuned")


@needs_real_cub
def test_no_finetune_reads_a_photo_it_must_not(lite0, monkeypatch, tmp_path):
    """On the real split files: fold k's fine-tune trains on trainclassesK photos minus the held-out
    seen-validation ones; the final fine-tune on trainval_loc; none on a test photo."""
    bench = load_benchmark(XLSA17, "CUB", "effnetlite2")
    cut = lite0.net.stage_starts[-QUICK.stages]
    photos = pipeline.Photos([f"{c}/x.jpg" for c in bench.labels], bench.labels,
                             np.zeros((2, len(bench.labels), channels_into(lite0, cut), 1, 1), np.float32), cut)
    trained_on = []
    monkeypatch.setattr(pipeline, "train_top", lambda top, maps, labels, *a, **k: trained_on.append(len(labels)))
    real_finetune = pipeline.finetune
    rows_seen = []
    monkeypatch.setattr(pipeline, "finetune", lambda photos, base, rows, *a, **k: (
        rows_seen.append(np.asarray(rows)), real_finetune(photos, base, rows, *a, **k))[1])
    test_rows = np.union1d(bench.test_seen, bench.test_unseen)
    for fold in (1, 2, 3):
        pipeline.validation_bench(bench, photos, lite0, QUICK, fold=fold, holdout=0.2, seed=0)
        split = validation_split(bench, fold, 0.2, 0)
        rows = rows_seen[-1]
        assert np.array_equal(np.sort(rows), split.train)
        assert not np.isin(bench.labels[rows], bench.class_list(f"valclasses{fold}.txt")).any()
        assert not np.intersect1d(rows, split.eval_seen).size and not np.intersect1d(rows, test_rows).size
    monkeypatch.setattr(pipeline, "save_finetuned", lambda *a, **k: None)
    monkeypatch.setattr(pipeline, "write_features", lambda *a, **k: None)
    pipeline.final_finetune(bench, photos, lite0, QUICK, seed=0, backbone_dir=tmp_path)
    assert np.array_equal(rows_seen[-1], bench.trainval) and not np.intersect1d(rows_seen[-1], test_rows).size
    assert trained_on == [len(r) for r in rows_seen]


@needs_real_cub
def test_the_whole_network_route_reads_only_the_photos_its_stage_may_see(lite0, monkeypatch, tmp_path):
    """`stages="all"` decodes photos instead of reading a cache: the same rows as the cached route."""
    bench = load_benchmark(XLSA17, "CUB", "effnetlite2")
    photos = pipeline.Photos([f"{c}/{i}.jpg" for i, c in enumerate(bench.labels)], bench.labels, None, 0, tmp_path)
    read = []
    monkeypatch.setattr(pipeline, "train_top_on_photos", lambda top, dataset, *a, **k: read.append(dataset.paths))
    monkeypatch.setattr(pipeline, "embed_files", lambda paths, *a, **k: np.zeros((len(paths), 1280), np.float32))
    whole = FinetuneConfig(stages="all", epochs=1, resolution=None)
    test_files = {tmp_path / photos.files[i] for i in np.union1d(bench.test_seen, bench.test_unseen)}
    for fold in (1, 2, 3):
        pipeline.validation_bench(bench, photos, lite0, whole, fold=fold, holdout=0.2, seed=0)
        split = validation_split(bench, fold, 0.2, 0)
        assert read[-1] == [tmp_path / photos.files[i] for i in split.train]
    monkeypatch.setattr(pipeline, "save_finetuned", lambda *a, **k: None)
    monkeypatch.setattr(pipeline, "write_features", lambda *a, **k: None)
    pipeline.final_finetune(bench, photos, lite0, whole, seed=0, backbone_dir=tmp_path)
    assert read[-1] == [tmp_path / photos.files[i] for i in bench.trainval]
    assert not test_files & {p for paths in read for p in paths}


def test_whole_network_photos_are_augmented_only_when_the_settings_say(tmp_path):
    """Without flip and crop a photo is shown as the recipe's centre crop, every epoch the same; with them,
    random-resized crops and mirrors at the recipe's size."""
    transform = create_backbone("effnet-lite0", weights=RANDOM).transform
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)).save(tmp_path / "a.jpg")
    plain = AugmentedPhotos([tmp_path / "a.jpg"], np.array([3]), transform, flip=False, crop=False)
    pixels, label = plain[0]
    assert label == 3 and torch.equal(pixels, transform.pixels(Image.open(tmp_path / "a.jpg")))
    augmented = AugmentedPhotos([tmp_path / "a.jpg"], np.array([3]), transform, flip=True, crop=True)
    torch.manual_seed(0)
    views = [augmented[0][0] for _ in range(4)]
    assert all(v.shape == pixels.shape and v.dtype == torch.uint8 for v in views)
    assert any(not torch.equal(v, pixels) for v in views) and any(not torch.equal(v, views[0]) for v in views)


def test_the_cache_holds_the_mirror_images_only_when_a_fine_tune_trains_on_them(lite0, tmp_path):
    """One view without the flip (half the work); a flipping fine-tune rebuilds it with both views, which a
    fine-tune without the flip then reuses; a fine-tune cannot flip on a one-view cache."""
    rng = np.random.default_rng(0)
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"{i}.jpg")
        Image.fromarray(rng.integers(0, 256, (70, 90, 3), dtype=np.uint8)).save(paths[-1])
    cut = lite0.net.stage_starts[-1]
    key = CacheKey.of(lite0.recipe, cut, [p.name for p in paths])
    one = cached_lower(tmp_path, "c", key, paths, lite0, views=FinetuneConfig(mirror=False).views, workers=0)
    assert one.shape[0] == 1 and load_cache(tmp_path, "c", key, views=2) is None
    photos = pipeline.Photos([p.name for p in paths], np.arange(3), one, cut, tmp_path, workers=0)
    with pytest.raises(ValueError, match="2 views"):
        pipeline.finetune(photos, lite0, np.arange(3), dataclasses.replace(QUICK, flip=True), seed=0)
    both = cached_lower(tmp_path, "c", key, paths, lite0, views=FinetuneConfig(flip=True).views, workers=0)
    assert both.shape[0] == 2 and np.array_equal(both[0], one[0]) and not np.array_equal(both[1], both[0])
    assert load_cache(tmp_path, "c", key, views=1).shape[0] == 2
