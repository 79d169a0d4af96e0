"""The photo reading beside a checkpoint: the trained attribute reader, the out-of-domain check, their file,
and how predictions and the photos route use them."""

import time
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from conftest import SAMPLES, XLSA17, needs_real_cub, needs_samples, write_tiny_xlsa17
from PIL import Image
from tiny_model import tiny_checkpoint, tiny_recognizer

from zsl_app.app.classes import ClassError
from zsl_app.app.photo_classes import MAX_PHOTOS, STRETCH
from zsl_app.app.predictor import Predictor
from zsl_app.app.recognizer import Recognizer
from zsl_app.core.attribute_reader import fit_readers, row_correlations
from zsl_app.core.backbones import RANDOM, create_backbone
from zsl_app.core.domain import IMAGENET_DOMAINS, DomainCheck
from zsl_app.protocol.reading import PENALTIES, fit_reading, reading_for
from zsl_app.storage.checkpoint import CheckpointError, load_model
from zsl_app.storage.data import load_benchmark
from zsl_app.storage.paths import WEIGHTS_DIR
from zsl_app.storage.reading_file import load_reading, reading_path, save_reading

EXAMPLES = Path(__file__).resolve().parents[1] / "assets" / "examples"


def test_ridge_reader_recovers_a_linear_map_and_clips_to_the_scale():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 6))
    y = x @ rng.normal(size=(6, 4)) + 50
    small, large = fit_readers(x, y, [1e-6, 1e6], low=-1e3, high=1e3)
    assert np.abs(small.read(x) - y).max() < 1e-3
    assert np.abs(large.read(x) - y.mean(axis=0)).max() < 0.1  # a huge penalty answers the mean
    assert fit_readers(x, y, [1e-6], low=0, high=50)[0].read(x).max() == 50


def test_row_correlations_by_hand():
    read = np.array([[1.0, 2, 3], [1, 2, 3]])
    assert np.allclose(row_correlations(read, np.array([[2.0, 4, 6], [3, 2, 1]])), [1, -1])


def test_imagenet_bird_classes_are_torchvision_s():
    categories = pytest.importorskip("torchvision").models.ResNet101_Weights.IMAGENET1K_V2.meta["categories"]
    name, classes = IMAGENET_DOMAINS["CUB"]
    assert name == "bird" and len(classes) == 59
    firsts_and_lasts = {i: categories[i] for i in (7, 24, 80, 100, 127, 146)}
    assert firsts_and_lasts == {7: "cock", 24: "great grey owl", 80: "black grouse", 100: "black swan",
                                127: "white stork", 146: "albatross"}
    assert [categories[i] for i in (6, 25, 79, 101, 126, 147)] == [  # the neighbours are no birds
        "stingray", "European fire salamander", "centipede", "tusker", "isopod", "grey whale"]


def test_domain_check_by_hand():
    check = DomainCheck("bird", (0, 1), np.array([[1.0, 0.0], [0.0, 1.0]]), min_probability=0.5,
                        min_similarity=0.9)
    logits = np.log(np.array([[0.3, 0.3, 0.4], [0.1, 0.1, 0.8]]))
    assert np.allclose(check.probability(logits), [0.6, 0.2])
    features = np.array([[2.0, 0.0], [1.0, 1.0]])
    assert np.allclose(check.similarity(features), [1.0, np.sqrt(0.5)])
    assert check.passes(features, logits).tolist() == [True, False]
    assert check.passes(features[:1], logits[1:]).tolist() == [False]  # similar, but no bird
    score = check.score(features[0])
    assert score.in_domain and score.probability is None and score.similarity == pytest.approx(1)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(benchmark, checkpoint stem) with its photo reading saved beside it."""
    bench, stem = tiny_checkpoint(tmp_path_factory.mktemp("reading"))
    save_reading(stem, fit_reading(bench))
    return bench, stem


def test_fit_reading_chooses_on_validation_and_beats_the_typical_class(tiny):
    bench, stem = tiny
    reading = load_reading(stem, feature_space=bench.feature_space, attribute_dim=8)
    assert reading.meta["penalty"] in PENALTIES and reading.meta["validation_fold"] == 1
    scores = reading.meta["validation"]
    assert max(scores["correlation"].values()) > scores["mean_seen_class_baseline"]
    assert reading.domain.imagenet_classes == ()  # no backbone of the tiny features: the similarity cue alone
    assert len(reading.domain.centroids) == len(bench.seen_classes)
    unseen = bench.test_unseen
    read = reading.reader.read(bench.features[unseen])
    assert row_correlations(read, bench.original_attributes[bench.labels[unseen]]).mean() > 0.5


def test_reading_file_is_checked(tiny, tmp_path):
    bench, stem = tiny
    with pytest.raises(CheckpointError, match="other features or attributes"):
        load_reading(stem, feature_space="another recipe", attribute_dim=8)
    with pytest.raises(CheckpointError, match="other features or attributes"):
        load_reading(stem, feature_space=bench.feature_space, attribute_dim=9)
    assert load_reading(tmp_path / "none", feature_space=bench.feature_space, attribute_dim=8) is None
    reading_path(tmp_path / "broken").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    with pytest.raises(CheckpointError, match="cannot read the photo reading"):
        load_reading(tmp_path / "broken", feature_space=bench.feature_space, attribute_dim=8)


def test_predictions_use_the_reading_when_the_model_has_one(tiny):
    bench, stem = tiny
    reading = load_reading(stem, feature_space=bench.feature_space, attribute_dim=8)
    with_reading = Recognizer(Predictor(load_model(stem), None, model_id=stem.name, reading=reading))
    without = tiny_recognizer(stem)
    features = bench.features[bench.test_unseen[0]]
    a, b = with_reading.predict_features(features), without.predict_features(features)
    assert a.ranked == b.ranked and b.domain is None
    assert a.domain is not None and a.domain.probability is None and a.domain.in_domain
    read = reading.reader.read(features[None])[0]
    assert a.attributes[0] == (with_reading.attribute_names[int(np.argmax(read))], round(float(read.max()), 2))
    far = with_reading.predict_features(np.zeros_like(features) + bench.features.max() * (np.arange(16) % 2))
    assert not far.domain.in_domain and far.domain.similarity < reading.domain.min_similarity


@pytest.mark.parametrize("side", [None, 300])  # the base's own input, and a fine-tune at another resolution
def test_a_finetuned_space_gets_the_imagenet_cue_from_its_base_features_file(tmp_path, side):
    root = write_tiny_xlsa17(tmp_path, dim=1280)
    mat = scipy.io.loadmat(root / "CUB" / "tinyfeat.mat")
    base = create_backbone("effnet-lite0", resolution=side)
    tuned = {**{k: mat[k] for k in ("features", "labels")}, "features": mat["features"] * 1.5}
    scipy.io.savemat(root / "CUB" / "tuned.mat", {**tuned, "backbone": f"{base.recipe}; blocks from 12 fine-tuned (x)"})
    tuned_bench = load_benchmark(root, "CUB", "tuned")
    assert reading_for(tuned_bench).domain.imagenet_classes == ()  # no base features file yet: similarity alone
    scipy.io.savemat(root / "CUB" / f"{base.features_name}.mat", {**{k: mat[k] for k in ("features", "labels")},
                                                                 "backbone": base.recipe})
    reading = reading_for(tuned_bench)
    expected = fit_reading(tuned_bench, base.imagenet_logits(load_benchmark(root, "CUB", base.features_name).features))
    assert reading.domain.imagenet_classes == IMAGENET_DOMAINS["CUB"][1]
    assert reading.domain.min_probability == expected.domain.min_probability > 0


def test_backbone_keeps_its_imagenet_classifier_for_the_network_as_loaded():
    backbone = create_backbone("effnet-lite0")
    assert backbone.imagenet is not None and backbone.imagenet.out_features == 1000
    photo = Image.fromarray(np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8))
    features, logits = backbone.look([photo])
    assert np.allclose(logits, backbone.imagenet_logits(features), atol=1e-5)
    backbone.keep_imagenet_network()
    with np.errstate(all="ignore"):
        backbone.net._conv_head.weight.data *= 0.5  # a fine-tune changes the network and its feature space
    backbone.recipe += "; fine-tuned"
    tuned, kept = backbone.look([photo])
    assert not np.allclose(tuned, features) and np.allclose(kept, logits, atol=1e-4)
    backbone.imagenet_net = None  # changed without keeping the ImageNet network: no logits rather than wrong ones
    assert backbone.look([photo])[1] is None and backbone.imagenet_logits(features) is None
    assert create_backbone("effnet-lite0", weights=RANDOM).imagenet is None


@needs_real_cub
def test_shipped_reading_reads_unseen_photos_and_flags_few_cub_photos():
    checkpoint = WEIGHTS_DIR / "cub-vae-cflow-effnetlite2-s0"  # a shipped model in the space of effnetlite2.mat
    bench = load_benchmark(XLSA17, "CUB", "effnetlite2")
    reading = load_reading(checkpoint, feature_space=bench.feature_space, attribute_dim=312)
    unseen = bench.test_unseen
    truth = bench.original_attributes[bench.labels[unseen]]
    typical = bench.original_attributes[bench.seen_classes].mean(axis=0)
    read = row_correlations(reading.reader.read(bench.features[unseen]), truth).mean()
    assert read > row_correlations(np.tile(typical, (len(unseen), 1)), truth).mean() + 0.1
    logits = create_backbone("effnet-lite2").imagenet_logits(bench.features)
    assert 1 - reading.domain.passes(bench.features, logits).mean() <= 0.01  # every CUB photo: at most 1% flagged


@pytest.fixture(scope="module")
def shipped():
    """The shipped default."""
    if not (SAMPLES / "manifest.csv").is_file():
        pytest.skip(f"sample photos not found at {SAMPLES}")
    return Recognizer.load()


@needs_samples
def test_birds_are_in_domain_and_the_example_cat_is_not(shipped):
    for photo in sorted(SAMPLES.glob("*.jpg"))[:4]:
        assert shipped.predict(photo).domain.in_domain, photo
    cat = shipped.predict(EXAMPLES / "chelsea.jpg").domain
    assert cat.domain == "bird" and not cat.in_domain and cat.probability < 0.1


@needs_samples
def test_a_class_from_photos_is_read_checked_and_added_in_seconds(shipped, tmp_path):
    photos = sorted(SAMPLES.glob("*.jpg"))[:2]
    reading = shipped.read_photos(photos)
    typical = shipped.typical_attributes()
    stretched = np.clip(typical + STRETCH * (reading.per_photo.mean(axis=0) - typical), 0, 100)
    assert reading.per_photo.shape == (2, 312) and np.allclose(reading.attributes, stretched)
    assert all(d.in_domain for d in reading.domain)
    (tmp_path / "not.jpg").write_bytes(b"not an image")
    for images, message in [(photos * 3, f"1 to {MAX_PHOTOS} photos"), ([], "got 0"),
                            ([photos[0], tmp_path / "not.jpg"], "photo 2 of 2 cannot be read")]:
        with pytest.raises(ClassError, match=message):
            shipped.read_photos(images)
    started = time.perf_counter()
    shipped.add_class("From_Photos", reading.attributes)
    assert time.perf_counter() - started < 5
    assert shipped.class_table()[-1] == {"name": "From_Photos", "kind": "user"}
    shipped.remove_class("From_Photos")
