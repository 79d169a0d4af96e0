"""Command line: serve the web app (default), train, evaluate, predict, manage classes, extract, download."""

import argparse
import dataclasses
import json
import os
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from zsl_app.core import distributed
from zsl_app.core.backbones import BACKBONES, backbone_names
from zsl_app.core.finetune import WHOLE, is_finetuned_features
from zsl_app.core.heads import HEADS, head_names
from zsl_app.protocol import RunSpec, resolve_spec
from zsl_app.protocol.calibration import CALIBRATIONS
from zsl_app.protocol.finetune import (PhotoRun, final_finetune, finetune_base, photo_bench, photo_stages,
                                       refinetuned_folds)
from zsl_app.protocol.reading import reading_for
from zsl_app.protocol.run import evaluate_model, run_protocol
from zsl_app.protocol.stages import FINAL, features_hook
from zsl_app.storage.checkpoint import CheckpointError, load_model, read_metadata, run_name, save_model
from zsl_app.storage.data import DataError, available_features, load_benchmark
from zsl_app.storage.data.cub_images import download_cub_images, find_cub_images
from zsl_app.storage.data.download import DownloadError, download_xlsa17
from zsl_app.storage.extract import extract_features, tqdm_progress
from zsl_app.storage.images import ImageError
from zsl_app.storage.finetuned import backbones_dir, copy_beside, find_finetuned, open_backbone, read_meta
from zsl_app.storage.paths import WEIGHTS_DIR, resolve_data_root, user_data_dir
from zsl_app.storage.reading_file import save_reading
from zsl_app.storage.shards import SHARD_PHOTOS

from .attribute_file import read_attribute_file
from .classes import ClassError
from .names import display_name
from .photos import photo_files
from .predictor import default_checkpoint
from .progress import TqdmProgress
from .recognizer import Recognizer
from .user_classes import saved_class_names

EXAMPLES = """examples:
  python app.py                                  serve the web app on 127.0.0.1:7860
  python app.py --train cub                      VAE-cFlow on CUB, best available features
  python app.py --train cub --features effnetlite2 --seed 1 --iters 3000
  python app.py --eval weights/cub-vae-cflow-effnetlite2-s0
  python app.py --download xlsa17                fetch the original benchmark files
  python app.py --predict bird.jpg --top 5       classify a photo with the default model
  python app.py --add-class My_Bird --attributes my_bird.csv
  python app.py --extract cub --images ~/CUB_200_2011 --backbone effnet-lite2
"""


def nonempty(value: str) -> str:
    """An action's argument: an empty one would silently fall through to serving the web app."""
    if not value.strip():
        raise argparse.ArgumentTypeError("expected a value, got an empty one")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="app.py", formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="zsl-app: generalized zero-shot image classification.",
                                epilog=EXAMPLES)
    act = p.add_mutually_exclusive_group()
    act.add_argument("--train", metavar="DATASET", type=nonempty, help="train and evaluate on an xlsa17 dataset (APY, AWA1, AWA2, CUB, SUN)")
    act.add_argument("--eval", metavar="CHECKPOINT", type=nonempty, help="re-evaluate a saved model on its dataset's test split")
    act.add_argument("--download", choices=["xlsa17", "cub-images"],
                     help="download benchmark files into the data root, or the CUB photos (for --extract)")
    act.add_argument("--predict", metavar="PHOTO", nargs="+", type=nonempty,
                     help="classify photos: files, or folders (the photos directly in them); a progress bar on "
                          "stderr for several")
    act.add_argument("--add-class", metavar="NAME", type=nonempty,
                     help="add a class described by --attributes, --describe or --photos to the model")
    act.add_argument("--remove-class", metavar="NAME", type=nonempty, help="remove a class added with --add-class")
    act.add_argument("--list-classes", action="store_true", help="list the model's classes (user ones last)")
    act.add_argument("--extract", metavar="DATASET", type=nonempty, help="embed a dataset's photos into a features file (CUB)")
    u = p.add_argument_group("prediction and classes")
    u.add_argument("--top", type=int, default=5, help="classes to show (default 5)")
    u.add_argument("--json", action="store_true", help="print the prediction as JSON")
    u.add_argument("--attributes", metavar="FILE", help="a class's attributes: .csv or .json, one value per "
                                                        "attribute on the dataset's scale (CUB: 0-100)")
    u.add_argument("--normalised", action="store_true", help="--attributes is L2-normalised, like att_splits' att")
    u.add_argument("--describe", metavar="TEXT", type=nonempty,
                   help='a class in words, e.g. "small, red crown, black wings, white belly, short cone-shaped bill"')
    u.add_argument("--like", metavar="CLASS", help="--describe starts from this class (default: the typical one)")
    u.add_argument("--photos", metavar="PHOTO", nargs="+",
                   help="1-5 photos of a class: it gets the attributes read in them and keeps the photos as "
                        "examples (with --attributes: that vector, e.g. a --dry-run's edited, and these photos)")
    u.add_argument("--dry-run", action="store_true",
                   help="with --add-class: show what --describe or --photos reads, add nothing (with --json: the "
                        "vector, as --attributes reads it)")
    u.add_argument("--backbone-weights", metavar="PATH", help="backbone weights file instead of the official ones")
    x = p.add_argument_group("feature extraction")
    x.add_argument("--images", metavar="PATH", help="the extracted CUB_200_2011 folder "
                                                    "(default: the one --download cub-images made)")
    x.add_argument("--backbone", default="effnet-lite2", metavar="NAME",
                   help=f"{', '.join(backbone_names())} (default effnet-lite2); with --extract also a fine-tuned "
                        f"backbone: its .json or its features name (e.g. effnetlite2-390-ft-34668e82-mirror)")
    x.add_argument("--batch-size", type=int, default=32, help="photos per network call (default 32)")
    x.add_argument("--workers", type=int, default=2, help="decoding processes (default 2)")
    x.add_argument("--shard-photos", type=int, default=SHARD_PHOTOS,
                   help=f"under torchrun: photos per shard file, the most a killed process redoes (default "
                        f"{SHARD_PHOTOS})")
    s = p.add_argument_group("web app (the default action)")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    s.add_argument("--port", type=int, default=7860, help="port to listen on (default 7860)")
    s.add_argument("--model", metavar="PATH", help="checkpoint to serve, predict with or add classes to "
                                                 "(default: the one named by weights/default.json)")
    s.add_argument("--examples", metavar="DIR", help="folder of example photos (default: assets/examples/)")
    s.add_argument("--read-only", action="store_true",
                   help="a public demo: predicting and browsing only; adding or removing classes, training and "
                        "changing the active model are switched off")
    g = p.add_argument_group("training")
    g.add_argument("--method", default="vae-cflow", choices=head_names(), help="generative head (default: vae-cflow)")
    g.add_argument("--features", help="features file under the dataset folder, e.g. res101 or effnetlite2 "
                                      "(default: res101 if present, else effnetlite2)")
    g.add_argument("--data-root", help="xlsa17 folder (default: $ZSL_DATA_ROOT, else ~/.local/share/zsl-app/xlsa17)")
    g.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    g.add_argument("--iters", type=int, help="training length of the head: iterations (vae-cflow) or epochs (dvae)")
    g.add_argument("--temperature", type=float, help="fix the generation temperature T (vae-cflow) instead of choosing it")
    g.add_argument("--ablation", choices=["base", "dis", "full"], help="Disentangled-VAE ablation (default full)")
    g.add_argument("--classifier-epochs", type=int, help="most epochs of the final softmax (default 25)")
    g.add_argument("--no-calibrate", action="store_true",
                   help="no calibrated stacking (default: its gamma is chosen on validation)")
    g.add_argument("--calibration", choices=CALIBRATIONS,
                   help="how validation's gamma carries to the final model: as a logit offset (gamma) or as the "
                        "share of training seen images sent to unseen classes (rate) (default: the method's)")
    g.add_argument("--no-select", action="store_true", help="skip validation; train once with the given settings")
    g.add_argument("--folds", type=int, nargs="+", default=[1], choices=[1, 2, 3],
                   help="validation folds; several: choose by mean validation H over them (default 1)")
    g.add_argument("--finetune", nargs="?", const=True, metavar="DATASET",
                   help="with --train: adapt the backbone's top to the seen classes on the photos (--images), one "
                        "fine-tune per protocol stage (the default when the photos are found and --features is "
                        "not given); alone, `--finetune cub` fine-tunes on trainval photos and writes the features")
    g.add_argument("--no-finetune", action="store_true", help="with --train: use the features file as it is")
    g.add_argument("--ft-stages", type=stages_arg, metavar="{1,2,all}",
                   help="fine-tune: top stages trained on the activation cache (default 1), or `all`: the whole "
                        "network on the photos decoded every epoch, with --device cuda (hours on a CPU)")
    g.add_argument("--ft-epochs", type=int, help="fine-tune: passes over the photos (default 10)")
    g.add_argument("--ft-lr", type=float, help="fine-tune: learning rate of the backbone's top (default 3e-4)")
    g.add_argument("--ft-resolution", type=int, metavar="PX",
                   help="fine-tune: input side in px (default 390, chosen on validation with effnet-lite2, whose "
                        "own is 260); each resolution is a feature space of its own, with its own activation cache")
    g.add_argument("--ft-augment", action=argparse.BooleanOptionalAction,
                   help="fine-tune: train on mirrored photos and random crops (default: off on the activation "
                        "cache, as chosen on validation; on with --ft-stages all)")
    g.add_argument("--ft-mirror", action=argparse.BooleanOptionalAction,
                   help="fine-tune: describe each photo by the mean of the features of its crop and of its mirrored "
                        "crop (default on, chosen on validation; a feature space of its own; twice the backbone's "
                        "work per photo); --no-ft-mirror: the crop alone, as the models fine-tuned before")
    g.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 ... (default: cuda when present)")
    g.add_argument("--out", help="checkpoint folder (default: weights/runs/)")
    g.add_argument("--half", action="store_true", help="store the checkpoint's tensors as float16 (half the size)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        run = chosen_action(args)
        if run is None:
            from .ui.layout import serve  # the web app is the default action
            return serve(args)
        if run in SHARED_WORK and distributed.launched():
            return in_process_group(run, args)
        return run(args)
    except (DataError, CheckpointError, DownloadError, ValueError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def chosen_action(args):
    """The function of the action asked for (the parser lets at most one through); None: the web app."""
    if args.finetune and not args.train:
        return finetune
    return next((run for action, run in ACTIONS.items() if getattr(args, action)), None)


def in_process_group(run, args) -> int:
    """Under torchrun: every rank runs the action in the job's process group; rank 0 alone prints and draws
    progress (an error still reaches stderr from the rank it happened on)."""
    with distributed.process_group(pick_device(args.device)) as world, open(os.devnull, "w") as quiet, \
            redirect_stdout(sys.stdout if world.main else quiet), redirect_stderr(sys.stderr if world.main else quiet):
        return run(args)


def pick_device(name: str) -> str:
    """'auto' -> cuda when available, else cpu; anything else is checked. Under torchrun "cuda" is this
    process's own GPU (cuda:LOCAL_RANK)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    elif name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: CUDA is not available on this machine; use --device cpu")
    return distributed.local_device(name)


def head_overrides(args) -> dict:
    """The head Config fields set on the command line."""
    out = {HEADS.get(args.method).length_field: args.iters, "temperature": args.temperature,
           "ablation": args.ablation}
    return {k: v for k, v in out.items() if v is not None}


def run_spec(args, dataset: str) -> RunSpec:
    """The command line's run specification (checked before any data is read)."""
    classifier = {} if args.classifier_epochs is None else {"epochs": args.classifier_epochs}
    protocol = {"folds": args.folds, "calibrate": not args.no_calibrate, "calibration": args.calibration,
                "select": not args.no_select}
    return resolve_spec(dataset, args.method, features=args.features, head=head_overrides(args),
                        classifier=classifier, protocol=protocol, seed=args.seed, device=pick_device(args.device),
                        finetune=finetune_overrides(args) if uses_photos(args) else None)


def stages_arg(text: str) -> int | str:
    """--ft-stages: 1, 2 or all."""
    if text not in ("1", "2", WHOLE):
        raise argparse.ArgumentTypeError(f"expected 1, 2 or {WHOLE}, got {text!r}")
    return text if text == WHOLE else int(text)


def finetune_overrides(args) -> dict:
    """The fine-tune settings given on the command line."""
    out = {"stages": args.ft_stages, "epochs": args.ft_epochs, "lr": args.ft_lr, "resolution": args.ft_resolution,
           "mirror": args.ft_mirror}
    augment = args.ft_augment if args.ft_augment is not None else args.ft_stages == WHOLE
    if augment:
        out.update(flip=True, crop=1)  # the top-stage settings before validation chose none
    return {k: v for k, v in out.items() if v is not None}


def uses_photos(args) -> bool:
    """--train fine-tunes when asked to, or by default when it is given no features file and finds the photos."""
    if args.finetune and args.no_finetune:
        raise ValueError("--finetune and --no-finetune contradict each other; give one")
    if args.finetune is not None and args.finetune is not True and args.train and \
            args.finetune.upper() != args.train.upper():
        raise ValueError(f"--train {args.train} --finetune {args.finetune}: give the dataset once, e.g. "
                         f"--train {args.train} --finetune")
    if args.finetune:
        return True
    return not args.no_finetune and args.features is None and photo_folder(args, required=False) is not None


def photo_folder(args, *, required: bool = True) -> Path | None:
    """The CUB_200_2011 folder: --images, else under the data root, else where --download cub-images puts it."""
    if args.images:
        return Path(args.images).expanduser()
    found = find_cub_images(resolve_data_root(args.data_root)) or find_cub_images()
    if found is None and required:
        raise DataError("no CUB photos found: pass --images PATH (the extracted CUB_200_2011 folder), put them "
                        "under the data root, or run `python app.py --download cub-images` first")
    return found


def servable_features(root: Path, dataset: str) -> str:
    """Without photos or --features: a features file of a backbone this app has, so the model serves photos."""
    ours = {BACKBONES.get(name).features_name for name in backbone_names()}
    found = available_features(root, dataset)
    usable = [name for name in found if name in ours or is_finetuned_features(name)]
    if not usable:
        raise DataError(f"no photos and no features file this app can serve photos with under {root}"
                        f"{' (found: ' + ', '.join(found) + ')' if found else ''}. Pass --images PATH/CUB_200_2011 "
                        f"(or run --download cub-images) to train the app's own pipeline, or --features NAME to "
                        f"train on a features file (res101: xlsa17's ResNet-101, for paper comparisons only)")
    return usable[0]


def photo_run(args) -> PhotoRun:
    return PhotoRun(images_root=photo_folder(args), data_root=resolve_data_root(args.data_root),
                    cache_dir=user_data_dir() / "cache", backbone_dir=backbones_dir(), workers=args.workers)


def training_data(args, spec: RunSpec, progress: TqdmProgress):
    """The benchmark to train on, or for a fine-tuned run each protocol stage's own (FeaturesFor)."""
    root = resolve_data_root(args.data_root)
    if spec.finetune is None:
        bench = load_benchmark(root, spec.dataset, spec.features or servable_features(root, spec.dataset))
        print(f"{bench.name}: {len(bench.class_names)} classes, {bench.features.shape[1]}-d {bench.features_name} "
              f"features; method {spec.method}; seed {spec.seed}")
        tuned = find_finetuned(bench.feature_space, [])
        if tuned is None or not spec.protocol.select:
            return bench
        print("these features come from a fine-tuned backbone: each validation fold gets its own fine-tune")
        return refinetuned_folds(bench, read_meta(tuned), photo_run(args), seed=spec.seed,
                                 holdout=spec.protocol.holdout, callback=progress,
                                 extract_progress=tqdm_progress("cache lower stages"))
    base = finetune_base(args.backbone, spec.finetune, weights=args.backbone_weights, device=spec.device)
    warn_whole_on_cpu(spec)
    where = photo_run(args)
    print(f"{spec.dataset}: fine-tuning {spec.finetune.trained_part()} of {base.name} on the photos in "
          f"{where.images_root} (one fine-tune per protocol stage); method {spec.method}; seed {spec.seed}")
    return photo_stages(spec.dataset, base, spec.finetune, where, seed=spec.seed, holdout=spec.protocol.holdout,
                        callback=progress, extract_progress=tqdm_progress("cache lower stages"))


def train(args) -> int:
    spec = run_spec(args, args.train)
    progress = TqdmProgress()
    data = training_data(args, spec, progress)
    result = run_protocol(spec, data, callback=progress)
    progress.close()
    if not distributed.is_main():
        return 0  # every rank holds the same model; rank 0 saves it
    print_table(result.model.meta["metrics"], result.seconds)
    save_trained(result, data, spec, Path(args.out) if args.out else WEIGHTS_DIR / "runs", half=args.half)
    return 0


def save_trained(result, data, spec: RunSpec, out: Path, *, half: bool) -> Path:
    """A trained run into `out`: the model, its fine-tuned backbone (if any) and its photo reading."""
    bench = features_hook(data)(FINAL)
    meta_path = save_model(result.model, out / run_name(out, bench.name, spec.method, bench.features_name,
                                                        spec.seed), half=half)
    if spec.finetune is not None:
        print(f"saved {copy_beside(bench.feature_space, out)} (the fine-tuned backbone)")
    print(f"saved {meta_path.with_suffix('.safetensors')} (+ .json)")
    write_reading(meta_path, bench)
    return meta_path


def finetune(args) -> int:
    """`--finetune DATASET`: fine-tune on trainval photos, save the backbone, write its features file."""
    if args.finetune is True:
        raise ValueError("--finetune needs a dataset (e.g. --finetune cub), or use it with --train cub")
    spec = resolve_spec(args.finetune, args.method, seed=args.seed, device=pick_device(args.device),
                        finetune=finetune_overrides(args))
    base = finetune_base(args.backbone, spec.finetune, weights=args.backbone_weights, device=spec.device)
    warn_whole_on_cpu(spec)
    progress = TqdmProgress()
    bench, photos = photo_bench(spec.dataset, base, spec.finetune, photo_run(args),
                                extract_progress=tqdm_progress("cache lower stages"))
    tuned = final_finetune(bench, photos, base, spec.finetune, seed=spec.seed, backbone_dir=backbones_dir(),
                           callback=progress)
    progress.close()
    print(f"wrote {tuned.root / tuned.features_name}.mat and the backbone in {backbones_dir()}; train on it with "
          f"--train {spec.dataset.lower()} --features {tuned.features_name} (selection fine-tunes each "
          f"validation fold again: pass --images)")
    return 0


def warn_whole_on_cpu(spec: RunSpec) -> None:
    """The whole network decodes and back-propagates every photo every epoch: fine on a GPU, hours on a CPU."""
    if not spec.finetune.cached and torch.device(spec.device).type == "cpu":
        print("note: --ft-stages all trains the whole network on the photos, every epoch: expect many hours on a "
              "CPU; --device cuda is what it is for", file=sys.stderr)


def write_reading(checkpoint: Path, bench) -> None:
    """The photo reading beside a new checkpoint (the attributes "Why" shows, the out-of-domain notice)."""
    try:
        print(f"saved {save_reading(checkpoint, reading_for(bench))}")
    except DataError as err:  # e.g. no validation fold to choose its settings on: predictions go without it
        print(f"no photo reading written ({err})")


def evaluate(args) -> int:
    model = load_model(args.eval, device=pick_device(args.device))
    meta = model.meta
    bench = load_benchmark(resolve_data_root(args.data_root), meta["dataset"], meta["features"]["name"])
    if bench.feature_space != model.feature_space:
        raise CheckpointError(f"{args.eval} was trained on '{model.feature_space}' features but "
                              f"{bench.root}/{bench.features_name}.mat holds '{bench.feature_space}'")
    test = evaluate_model(model, bench)
    print_table({"saved test": meta.get("metrics", {}).get("test"), "test now": test})
    return 0


def print_table(metrics: dict, seconds: float | None = None) -> None:
    """U / S / H / ZSL rows, one per evaluation."""
    print(f"\n{'':12}{'U':>8}{'S':>8}{'H':>8}{'ZSL':>8}")
    for name, row in metrics.items():
        if row:
            print(f"{name:12}" + "".join(f"{row[k]:8.1f}" for k in ("U", "S", "H", "ZSL")))
    if seconds is not None:
        print(f"wall time {seconds / 60:.1f} min")


def download(args) -> int:
    if args.download == "cub-images":
        print(f"CUB photos in {download_cub_images(args.images)}")
    else:
        print(f"downloaded into {download_xlsa17(args.data_root)}")
    return 0


def predict(args) -> int:
    """Every photo named (files, folders): its top classes, what it reads in it, whether it fits the model."""
    photos = photo_files(args.predict)
    predictor = Recognizer.load(args.model, backbone_weights=args.backbone_weights, device=pick_device(args.device))
    model, answers = predictor.info["model"], []
    for photo in tqdm(photos, desc="photos", unit="photo", file=sys.stderr, disable=len(photos) < 2):
        try:
            answers.append((photo, predictor.predict(photo, top=args.top)))
        except ImageError as err:
            if len(photos) == 1:
                raise
            tqdm.write(f"error: {err}", file=sys.stderr)
            answers.append((photo, err))
    if args.json:
        found = [answer_json(photo, model, result) for photo, result in answers]
        print(json.dumps(found[0] if len(found) == 1 else found, indent=1))
    else:
        for i, (photo, result) in enumerate(answers):
            print_answer(photo, model, result, first=i == 0)
    return 2 if any(isinstance(result, ImageError) for _, result in answers) else 0


def answer_json(photo: Path, model: str, result) -> dict:
    """One photo's answer for scripts: class ids with their display names, or the error that stopped it."""
    if isinstance(result, ImageError):
        return {"photo": str(photo), "error": str(result)}
    found = {"photo": str(photo), "model": model, **dataclasses.asdict(result)}
    for r in found["ranked"]:
        r["display_name"] = display_name(r["name"], r["kind"])
    return found


def print_answer(photo: Path, model: str, result, *, first: bool) -> None:
    if isinstance(result, ImageError):
        return  # said on stderr as it happened
    print(("" if first else "\n") + f"{photo}  ({model}, {result.seconds * 1000:.0f} ms)")
    for i, r in enumerate(result.ranked, 1):
        print(f"{i:3}. {display_name(r.name, r.kind):40} {100 * r.probability:6.2f}%  {r.kind}")
    print("reads: " + ", ".join(f"{name} {value:.0f}" for name, value in result.attributes[:5]))
    line = domain_line(result.domain)
    if result.domain is not None and not result.domain.in_domain:
        line = f"NOTICE: this photo {line}; the classes above are the nearest the model knows, not an identification"
    print(line)


def domain_line(domain) -> str:
    """Whether a photo looks like what the model knows, with the cues' values."""
    if domain is None:
        return "domain not checked (this model has no photo reading: python tools/fit_reading.py CHECKPOINT)"
    cues = (f"P({domain.domain}) {domain.probability:.2f}, " if domain.probability is not None else "") + \
        f"similarity to its classes {domain.similarity:.2f}"
    what = f"a {domain.domain}" if domain.domain else "the model's classes"
    return f"{'looks' if domain.in_domain else 'does NOT look'} like {what} ({cues})"


def add_class(args) -> int:
    check_class_source(args)
    predictor = Recognizer.load(args.model, backbone_weights=args.backbone_weights, device=pick_device(args.device))
    if args.attributes:
        examples = described(predictor, args)[1] if args.photos else ()  # an edited --dry-run vector + its photos
        predictor.add_class(args.add_class, read_attribute_file(args.attributes), normalised=args.normalised,
                            examples=examples)
    else:
        vector, examples = described(predictor, args)
        if args.dry_run:
            if args.json:
                print(json.dumps(dict(zip(predictor.attribute_names, np.round(vector, 2).tolist())), indent=1))
            return 0
        predictor.add_class(args.add_class, vector, examples=examples)
    print(f"added {args.add_class} to {predictor.info['model']} (saved in {predictor.classes_path})")
    return 0


def check_class_source(args) -> None:
    """Exactly one of --attributes, --describe, --photos (or --attributes with the --photos it was read from);
    the options that go with each."""
    given = [f for f, v in (("--attributes", args.attributes), ("--describe", args.describe),
                            ("--photos", args.photos)) if v]
    if len(given) != 1 and given != ["--attributes", "--photos"]:
        got = f"; got {' and '.join(given)}" if given else ""
        raise ClassError("--add-class needs --attributes FILE (.csv or .json, one value per attribute), --describe "
                         f"TEXT or --photos PHOTO [PHOTO ...], one of them (or --attributes with the --photos it was "
                         f"read from){got}")
    if args.like and not args.describe:
        raise ClassError("--like CLASS goes with --describe (the class a description starts from)")
    if args.normalised and not args.attributes or args.dry_run and args.attributes:
        raise ClassError("--normalised goes with --attributes; --dry-run with --describe or --photos")


def described(predictor: Recognizer, args) -> tuple[np.ndarray, np.ndarray | tuple]:
    """The vector --describe or --photos gives, after saying (on stderr) how it was read, and the photos'
    features, which join the class's examples."""
    if args.describe:
        description = predictor.describe_words(args.describe, like=args.like)
        for m in description.matches:
            print(f"understood {m.phrase!r}: {', '.join(m.attributes)} = {m.strength:g}", file=sys.stderr)
        if description.unknown:
            print(f"not understood: {', '.join(description.unknown)}", file=sys.stderr)
        return description.attributes, ()
    reading = predictor.read_photos(args.photos)
    for photo, domain in zip(args.photos, reading.domain):
        print(f"{photo}: {domain_line(domain)}", file=sys.stderr)
    strongest = np.argsort(-reading.attributes, kind="stable")[:10]
    print("read: " + ", ".join(f"{predictor.attribute_names[i]} {reading.attributes[i]:.0f}" for i in strongest),
          file=sys.stderr)
    return reading.attributes, reading.features


def remove_class(args) -> int:
    Recognizer.load(args.model, backbone_weights=args.backbone_weights).remove_class(args.remove_class)
    print(f"removed {args.remove_class}")
    return 0


def list_classes(args) -> int:
    """From the metadata and the user's class file: no backbone or weights to load."""
    checkpoint = Path(args.model) if args.model else default_checkpoint()
    meta = read_metadata(checkpoint)
    for name, kind in zip(meta["class_names"], meta["class_kinds"]):
        print(f"{kind:7} {name}")
    for name in saved_class_names(checkpoint):
        print(f"{'user':7} {name}")
    return 0


def extract(args) -> int:
    images = args.images or find_cub_images()
    if images is None:
        raise DataError("no CUB photos found: pass --images PATH (the extracted CUB_200_2011 folder) or "
                        "run `python app.py --download cub-images` first")
    backbone = open_backbone(args.backbone, weights=args.backbone_weights, device=pick_device(args.device))
    out = extract_features(images, resolve_data_root(args.data_root), args.extract, backbone,
                           batch_size=args.batch_size, workers=args.workers, progress=tqdm_progress(),
                           shard_photos=args.shard_photos)
    print(f"wrote {out}; train on it with --train {args.extract} --features {backbone.features_name}")
    return 0


# Command line actions in the order they are tried; none given: the web app.
ACTIONS = {"train": train, "eval": evaluate, "download": download, "predict": predict, "add_class": add_class,
           "remove_class": remove_class, "list_classes": list_classes, "extract": extract}
SHARED_WORK = (train, finetune, extract)  # the actions torchrun's processes share (the others run as one)
