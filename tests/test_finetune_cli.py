"""The photo route end to end on a generated CUB-shaped photo folder: `--train cub --finetune` caches the
frozen stages, writes the frozen features, fine-tunes per stage, trains a head and saves a model whose
photo path reproduces its fine-tuned features; bad photo folders fail before any training."""

import json
import shutil

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

from conftest import write_tiny_xlsa17
from zsl_app.app.cli import build_parser, finetune_overrides, main
from zsl_app.app.predictor import Predictor
from zsl_app.app.recognizer import Recognizer
from zsl_app.core.backbones import create_backbone
from zsl_app.core.finetune import FinetuneConfig
from zsl_app.storage.finetuned import FORMAT, backbones_dir, load_finetuned
from zsl_app.storage.paths import WEIGHTS_DIR, user_data_dir

HEAD = ["--method", "vae-cflow", "--iters", "20", "--classifier-epochs", "2"]
PER_CLASS = 10  # photos per class: 100 in all, cached in seconds
QUICK = ["--backbone", "effnet-lite0", "--ft-epochs", "1", "--workers", "0"]


def cell(value) -> str:
    """A string inside MATLAB cell arrays as scipy reads them (nested object arrays)."""
    while isinstance(value, np.ndarray):
        value = value.reshape(-1)[0]
    return str(value)


def photo_folder(root, xlsa17):
    """One small photo per row of the tiny benchmark, coloured by class, in CUB's layout."""
    names = [cell(n) for n in scipy.io.loadmat(xlsa17 / "CUB" / "att_splits.mat")["allclasses_names"].reshape(-1)]
    labels = scipy.io.loadmat(xlsa17 / "CUB" / "tinyfeat.mat")["labels"].reshape(-1).astype(int) - 1
    rng = np.random.default_rng(0)
    lines = []
    for i, label in enumerate(labels):
        folder = root / "images" / names[label]
        folder.mkdir(parents=True, exist_ok=True)
        colour = (np.array([label * 25, 255 - label * 20, (label * 70) % 255]) + rng.integers(0, 30, 3)) % 256
        pixels = np.clip(colour + rng.normal(0, 20, (48, 64, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"p{i}.jpg")
        lines.append(f"{i + 1} {names[label]}/p{i}.jpg")
    (root / "images.txt").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("photos")
    xlsa17 = write_tiny_xlsa17(tmp / "xlsa17", per_class=PER_CLASS)
    images = photo_folder(tmp / "CUB_200_2011", xlsa17)
    out = tmp / "runs"
    argv = ["--train", "cub", "--finetune", "--images", str(images), "--data-root", str(xlsa17), "--out", str(out),
            "--device", "cpu", *HEAD, *QUICK]
    assert main(argv) == 0
    return xlsa17, images, out, user_data_dir()


def test_the_photo_route_writes_features_backbone_and_a_servable_model(trained):
    xlsa17, images, out, _ = trained
    assert (xlsa17 / "CUB" / "effnetlite0-390.mat").is_file()  # the frozen space at the default input, from the cache
    tuned = sorted((xlsa17 / "CUB").glob("effnetlite0-390-ft-*.mat"))
    assert len(tuned) == 1
    checkpoint = next(p for p in out.glob("*.json") if json.loads(p.read_text()).get("format") == "zsl-app/1")
    backbone_json = next(p for p in out.glob("*.json")
                         if json.loads(p.read_text()).get("format") == "zsl-app-finetuned-backbone/1")
    predictor = Predictor.load(checkpoint.with_suffix(""))
    mat = scipy.io.loadmat(tuned[0])
    files = [cell(f).removeprefix("CUB_200_2011/images/") for f in mat["image_files"]]
    rows = [0, 37, 99]
    photo_path = np.stack([predictor.features(images / "images" / files[r]) for r in rows])
    assert np.abs(photo_path - mat["features"][:, rows].T).max() < 1e-4
    assert load_finetuned(backbone_json).recipe == predictor.model.feature_space
    assert Recognizer(predictor).predict(images / "images" / files[0]).ranked


def test_a_finetuned_space_is_not_the_frozen_one(trained):
    xlsa17, _, _, _ = trained
    frozen = create_backbone("effnet-lite0", resolution=FinetuneConfig().resolution)
    tuned = sorted((xlsa17 / "CUB").glob("effnetlite0-390-ft-*.mat"))[0]
    assert cell(scipy.io.loadmat(tuned)["backbone"]) != frozen.recipe


def test_a_module_fixtures_fine_tune_keeps_to_a_user_dir_of_its_own(trained, tmp_path_factory):
    *_, user = trained  # the backbone and the activation cache of a fine-tune go to the user data dir
    assert user.is_relative_to(tmp_path_factory.getbasetemp())
    assert list(user.glob("backbones/cub-effnetlite0-390-ft-*.json")) and list(user.glob("cache/*.npy"))


@pytest.mark.parametrize("damage, message", [
    (lambda root: (root / "images.txt").unlink(), "missing .*images.txt"),
    (lambda root: next((root / "images").iterdir()).rename(root / "elsewhere"), "missing|not in"),
])
def test_a_broken_photo_folder_fails_before_any_training(tmp_path, damage, message, capsys):
    xlsa17 = write_tiny_xlsa17(tmp_path / "xlsa17", per_class=PER_CLASS)
    images = photo_folder(tmp_path / "CUB_200_2011", xlsa17)
    damage(images)
    argv = ["--train", "cub", "--finetune", "--images", str(images), "--data-root", str(xlsa17),
            "--out", str(tmp_path / "runs"), "--device", "cpu", *HEAD, *QUICK]
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("error:")
    assert not list((xlsa17 / "CUB").glob("effnetlite0*.mat")) and not (tmp_path / "runs").exists()


def test_no_photos_anywhere_is_a_clear_error(tmp_path, capsys):
    xlsa17 = write_tiny_xlsa17(tmp_path / "xlsa17")
    assert main(["--finetune", "cub", "--data-root", str(xlsa17), "--backbone", "effnet-lite0"]) == 2
    assert "no CUB photos found" in capsys.readouterr().err


def test_train_without_photos_or_a_servable_features_file_says_what_to_do(tmp_path, capsys):
    """The default route never trains, unasked, a head the app would refuse for photos (e.g. on res101)."""
    xlsa17 = write_tiny_xlsa17(tmp_path / "xlsa17", per_class=PER_CLASS)  # only 'tinyfeat', no backbone's
    assert main(["--train", "cub", "--data-root", str(xlsa17), *HEAD]) == 2
    err = capsys.readouterr().err
    assert "--images" in err and "--features NAME" in err and "tinyfeat" in err


def test_the_web_apps_training_job_takes_the_photo_route(tmp_path):
    """/train with "fine-tune" checked: the same per-stage fine-tunes, run in the job's thread."""
    import time

    from zsl_app.app.ui.training import TrainingJob, TrainRequest
    from zsl_app.storage.data import load_benchmark

    xlsa17 = write_tiny_xlsa17(tmp_path / "xlsa17", per_class=PER_CLASS)
    images = photo_folder(tmp_path / "CUB_200_2011", xlsa17)
    job = TrainingJob(tmp_path / "runs", xlsa17)
    job.start(TrainRequest("CUB", "tinyfeat", "vae-cflow", length=20, classifier_epochs=2, images=images),
              load_benchmark(xlsa17, "CUB", "tinyfeat"))
    while not job.snapshot().done:
        time.sleep(0.1)
    done = job.snapshot()
    assert done.error is None, repr(done.error)
    assert "-ft-" in done.checkpoint.name and "fine-tuned (" in Predictor.load(done.checkpoint).backbone.recipe


def test_the_whole_network_fine_tunes_on_the_photos_and_serves_them(tmp_path, capsys):
    """`--ft-stages all` (the --device cuda route) trains every block on decoded, augmented photos, no cache."""
    xlsa17 = write_tiny_xlsa17(tmp_path / "xlsa17", per_class=PER_CLASS)
    images = photo_folder(tmp_path / "CUB_200_2011", xlsa17)
    argv = ["--finetune", "cub", "--ft-stages", "all", "--images", str(images), "--data-root", str(xlsa17),
            "--device", "cpu", *QUICK]
    assert main(argv) == 0
    assert "whole network" in capsys.readouterr().err
    backbone_json = next(backbones_dir().glob("*.json"))
    meta = json.loads(backbone_json.read_text())
    assert meta["cut"] == 0 and meta["config"]["stages"] == "all" and "_blocks.0._project_conv.weight" in meta["trained"]
    assert meta["config"]["flip"] and meta["config"]["crop"] == 1  # augmented by default on this route
    assert not list((user_data_dir() / "cache").glob("*.npy"))  # the photos themselves, no activation cache
    mat = scipy.io.loadmat(xlsa17 / "CUB" / f"{meta['features_name']}.mat")
    backbone = load_finetuned(backbone_json)
    files = [cell(f).removeprefix("CUB_200_2011/images/") for f in mat["image_files"]]
    rows = [0, 55]
    photo_path = backbone.embed_images([Image.open(images / "images" / files[r]).convert("RGB") for r in rows])
    assert np.abs(photo_path - mat["features"][:, rows].T).max() < 1e-4
    frozen = create_backbone("effnet-lite0").embed_images([Image.open(images / "images" / files[0]).convert("RGB")])
    assert np.abs(frozen - photo_path[:1]).max() > 1e-3  # a space of its own


@pytest.mark.parametrize("given, augmented", [([], False), (["--ft-augment"], True),
                                              (["--ft-stages", "all"], True),
                                              (["--ft-stages", "all", "--no-ft-augment"], False)])
def test_augmentation_is_off_on_the_cache_and_on_for_the_whole_network_unless_asked(given, augmented):
    settings = finetune_overrides(build_parser().parse_args(["--train", "cub", *given]))
    config = FinetuneConfig(**settings)
    assert (config.flip, config.crop) == ((True, 1) if augmented else (False, 0))


def test_the_resolution_given_is_the_fine_tunes_and_its_saved_backbones(tmp_path):
    """--ft-resolution: the cache, the frozen and fine-tuned features and the saved backbone are at that input."""
    xlsa17 = write_tiny_xlsa17(tmp_path / "xlsa17", per_class=PER_CLASS)
    images = photo_folder(tmp_path / "CUB_200_2011", xlsa17)
    argv = ["--finetune", "cub", "--ft-resolution", "96", "--images", str(images), "--data-root", str(xlsa17),
            "--device", "cpu", *QUICK]
    assert main(argv) == 0
    assert (xlsa17 / "CUB" / "effnetlite0-96.mat").is_file()
    tuned = sorted((xlsa17 / "CUB").glob("effnetlite0-96-ft-*.mat"))
    assert len(tuned) == 1 and sorted(user_data_dir().glob("cache/cub-effnetlite0-96-cut*.npy"))
    backbone = load_finetuned(backbones_dir() / f"cub-{tuned[0].stem}.json")
    assert backbone.resolution == 96 and json.loads(backbones_dir().joinpath(f"cub-{tuned[0].stem}.json")
                                                     .read_text())["config"]["resolution"] == 96


def test_a_mirror_fine_tune_averages_each_photo_with_its_mirror_image_in_a_space_of_its_own(tmp_path):
    """--ft-mirror (the default): the same fine-tune as --no-ft-mirror, its features file's rows the mean of each
    crop's and mirrored crop's features, which the saved backbone's photo path computes too; its own name, recipe
    and two-view cache."""
    xlsa17 = write_tiny_xlsa17(tmp_path / "xlsa17", per_class=PER_CLASS)
    images = photo_folder(tmp_path / "CUB_200_2011", xlsa17)
    argv = ["--finetune", "cub", "--ft-resolution", "96", "--images", str(images), "--data-root", str(xlsa17),
            "--device", "cpu", *QUICK]
    assert main([*argv, "--no-ft-mirror"]) == 0 and main(argv) == 0
    mirror, plain = sorted((xlsa17 / "CUB").glob("effnetlite0-96-ft-*.mat"), key=lambda f: "-mirror" not in f.stem)
    assert mirror.stem == f"{plain.stem}-mirror"  # the same trained tensors: the mirror changes only the features
    assert np.load(next(user_data_dir().glob("cache/cub-effnetlite0-96-cut*.npy")), mmap_mode="r").shape[0] == 2
    crop_only, both = (load_finetuned(backbones_dir() / f"cub-{f.stem}.json") for f in (plain, mirror))
    assert both.mirror and not crop_only.mirror and both.recipe == f"{crop_only.recipe}; features averaged with the " \
        "mirrored crop's"
    mat = scipy.io.loadmat(mirror)
    files = [cell(f).removeprefix("CUB_200_2011/images/") for f in mat["image_files"]]
    photos = [Image.open(images / "images" / files[r]).convert("RGB") for r in (0, 55)]
    assert np.abs(both.embed_images(photos) - mat["features"][:, [0, 55]].T).max() < 1e-4
    assert np.abs(both.look(photos)[0] - both.embed_images(photos)).max() < 1e-5
    batch = torch.stack([both.preprocess(photo) for photo in photos])
    mean = (crop_only.embed(batch) + crop_only.embed(batch.flip(-1))) / 2
    assert torch.allclose(both.embed(batch), mean, atol=1e-5) and not torch.allclose(mean, crop_only.embed(batch))


def test_extract_through_a_saved_finetune_rebuilds_its_features_file(tmp_path, capsys):
    """`--extract cub --backbone NAME|JSON` embeds the photos through a saved fine-tune: the rows its fine-tune
    wrote, so the features file of a fine-tune in weights/ can be rebuilt on any machine that has the photos."""
    xlsa17 = write_tiny_xlsa17(tmp_path / "xlsa17", per_class=PER_CLASS)
    images = photo_folder(tmp_path / "CUB_200_2011", xlsa17)
    argv = ["--finetune", "cub", "--ft-resolution", "96", "--images", str(images), "--data-root", str(xlsa17),
            "--device", "cpu", *QUICK]
    assert main(argv) == 0
    tuned = next((xlsa17 / "CUB").glob("effnetlite0-96-ft-*.mat"))
    written = scipy.io.loadmat(tuned)
    for n, given in enumerate([tuned.stem, str(backbones_dir() / f"cub-{tuned.stem}.json")]):
        root = tmp_path / f"rebuilt{n}"
        (root / "CUB").mkdir(parents=True)
        shutil.copyfile(xlsa17 / "CUB" / "att_splits.mat", root / "CUB" / "att_splits.mat")
        assert main(["--extract", "cub", "--backbone", given, "--images", str(images), "--data-root", str(root),
                     "--workers", "0"]) == 0
        rebuilt = scipy.io.loadmat(root / "CUB" / tuned.name)
        assert np.abs(rebuilt["features"] - written["features"]).max() < 1e-4
        assert cell(rebuilt["backbone"]) == cell(written["backbone"])
        assert f"--features {tuned.stem}" in capsys.readouterr().out


@pytest.mark.parametrize("given, message", [
    (["--backbone", "effnetlite0-96-ft-00000000"], "unknown backbone 'effnetlite0-96-ft-00000000'"),
    (["--backbone", "no-such-net"], "unknown backbone 'no-such-net'"),
    (["--backbone", "WEIGHTS", "--backbone-weights", "w.pth"], "applies to a registered backbone only"),
])
def test_extract_refuses_an_unknown_backbone_and_writes_nothing(tmp_path, given, message, capsys):
    xlsa17 = write_tiny_xlsa17(tmp_path / "xlsa17", per_class=PER_CLASS)
    images = photo_folder(tmp_path / "CUB_200_2011", xlsa17)
    shipped = next(p for p in sorted(WEIGHTS_DIR.glob("*.json")) if json.loads(p.read_text()).get("format") == FORMAT)
    given = [str(shipped) if arg == "WEIGHTS" else arg for arg in given]
    before = sorted((xlsa17 / "CUB").iterdir())
    assert main(["--extract", "cub", *given, "--images", str(images), "--data-root", str(xlsa17)]) == 2
    assert message in capsys.readouterr().err
    assert sorted((xlsa17 / "CUB").iterdir()) == before
