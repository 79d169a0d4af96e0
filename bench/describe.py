"""Describing classes on CUB, measured: the attributes read in photos, the 50 unseen test classes removed and
re-added from photos or words, the out-of-domain check on every CUB photo and on non-bird images, and how
long adding a class takes by each route. Choices were made on validation fold 1 (section "choices"); the
test numbers are reported, never chosen on. The numbers of the README's "Describing classes".

    python bench/describe.py [--model CHECKPOINT ...] [--threads 1] [--skip-readd] [--out FILE]
Results go to bench/results/describe.json (--out); user data to a temporary dir."""

import argparse
import glob
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["ZSL_USER_DIR"] = tempfile.mkdtemp(prefix="zsl-bench-")  # never touch the user's classes
from zsl_app.app.classes import UserClass  # noqa: E402
from zsl_app.app.describe import Lexicon, value_keys  # noqa: E402
from zsl_app.app.overlay import ClassOverlay, RowFitter  # noqa: E402
from zsl_app.app.photo_classes import STRETCH  # noqa: E402
from zsl_app.app.predictor import Predictor, default_checkpoint  # noqa: E402
from zsl_app.app.recognizer import Recognizer  # noqa: E402
from zsl_app.core.attribute_reader import fit_readers, row_correlations  # noqa: E402
from zsl_app.core.metrics import harmonic_mean, mean_class_accuracy  # noqa: E402
from zsl_app.core.model import ZSLModel  # noqa: E402
from zsl_app.storage.data import load_benchmark, validation_split  # noqa: E402
from zsl_app.storage.paths import resolve_data_root  # noqa: E402

SEED = 0  # of the photos drawn per class
KS = (1, 3, 5)  # photos per re-added class; the first 5 of each class's drawn order are never scored
ROUND_TRIP_MIN = 50  # a class "has" an attribute in the round-trip description when >= 50% of its photos do
DESCRIPTIONS = ROOT / "bench" / "descriptions" / "cub_test.txt"
SAMPLES = ROOT.parent / "shared" / "data" / "samples" / "cub"


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", nargs="+", help="checkpoints (default: the three shipped models)")
    p.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data" / "xlsa17"))
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--skip-readd", action="store_true", help="skip re-adding the 50 classes (the slow part)")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "describe.json"), help="results file")
    return p.parse_args()


# --- choices on validation fold 1 --------------------------------------------------------------------
def choices(bench, vocabulary, lexicon) -> dict:
    """The photos route's combination of readings and the words route's defaults, by cosine to the true
    vector of validation classes (readers fit on the fold's training classes)."""
    split = validation_split(bench, 1)
    fit_rows = np.concatenate([split.train, split.eval_seen])
    truth = bench.original_attributes
    reader = fit_readers(bench.features[fit_rows], truth[bench.labels[fit_rows]], [1e4], low=0, high=100)[0]
    typical = truth[split.seen_classes].mean(axis=0)
    rng = np.random.default_rng(SEED)
    photos = {}
    for k in KS:
        for scale in (1.0, 1.2, 1.5):
            cos = []
            for c in split.unseen_classes:
                rows = rng.permutation(split.eval_unseen[bench.labels[split.eval_unseen] == c])[:k]
                vector = np.clip(typical + scale * (reader.read(bench.features[rows]).mean(axis=0) - typical), 0, 100)
                cos.append(cosine(vector, truth[c]))
            photos[f"k={k}, readings' mean {'as is' if scale == 1 else f'x{scale} from the typical'}"] = mean(cos)
    words = {}
    for prior_name, prior in (("typical", typical), ("zeros", np.zeros_like(typical))):
        for strength in (50, 75, 100):
            cos = [cosine(vocabulary.vector(lexicon.read(round_trip(vocabulary, truth[c]), strength).parts, prior,
                                            strength), truth[c]) for c in split.unseen_classes]
            words[f"unsaid = {prior_name}, said = {strength}"] = mean(cos)
    return {"photos_cosine_to_true_vector": photos, "words_round_trip_cosine_to_true_vector": words}


# --- reading attributes in photos -------------------------------------------------------------------
def reading_scores(predictor: Predictor, bench) -> dict:
    """Mean correlation, over test photos of unseen classes, of what is read with the photo's class vector."""
    rows = bench.test_unseen
    truth = bench.original_attributes[bench.labels[rows]]
    typical = bench.original_attributes[bench.seen_classes].mean(axis=0)
    decoder = Predictor(predictor.model, None, model_id=predictor.model_id)  # no reading: the head decodes
    return {"trained_reading": mean(row_correlations(predictor.reading.reader.read(bench.features[rows]), truth)),
            "head_decoder": mean(row_correlations(np.stack([decoder.read_attributes(f) for f in bench.features[rows]]),
                                                  truth)),
            "mean_seen_class": mean(row_correlations(np.tile(typical, (len(rows), 1)), truth)),
            "photos": len(rows)}


# --- re-adding the 50 unseen test classes -----------------------------------------------------------
def routes(predictor: Predictor, bench, lexicon, vocabulary) -> tuple[dict, dict, dict]:
    """{route: {class: human-scale vector}}, {route: {class: photo features it keeps as examples}} and each
    class's photos never used to add it."""
    typical = bench.original_attributes[bench.seen_classes].mean(axis=0)
    hand = dict(line.split(": ", 1) for line in DESCRIPTIONS.read_text().splitlines()
                if line.strip() and not line.startswith("#"))
    rng = np.random.default_rng(SEED)
    out = {"true vector": {}, "words, round trip": {}, "words, hand-written": {}, **{f"{k} photos": {} for k in KS}}
    examples = {f"{k} photos": {} for k in KS}
    scored = {}
    for c in bench.unseen_classes:
        name = bench.class_names[c]
        drawn = rng.permutation(bench.test_unseen[bench.labels[bench.test_unseen] == c])
        scored[name] = drawn[max(KS):]
        out["true vector"][name] = bench.original_attributes[c]
        out["words, round trip"][name] = lexicon.describe(round_trip(vocabulary, bench.original_attributes[c]),
                                                          typical, 100).attributes
        out["words, hand-written"][name] = lexicon.describe(hand[name], typical, 100).attributes
        for k in KS:
            read = predictor.reading.reader.read(bench.features[drawn[:k]]).mean(axis=0)
            out[f"{k} photos"][name] = np.clip(typical + STRETCH * (read - typical), 0, 100)
            examples[f"{k} photos"][name] = bench.features[drawn[:k]]
    return out, examples, scored


def readd(predictor: Predictor, bench, vectors: dict, examples: dict, scored: dict) -> dict:
    """Each route: every class alone re-added among the 199 others (top-1 on its unused photos), and all 50
    re-added one after another among the 150 seen (U on the unused photos, S, H); a photo route's classes keep
    their photos as examples, as the app's do."""
    model, scale = predictor.model, predictor.scale
    unseen = list(vectors["true vector"])
    out = {}
    for route, by_class in vectors.items():
        started = time.perf_counter()
        kept = examples.get(route, {})
        alone = []
        for name in unseen:
            reduced = model.without([name])
            overlay = add_rows(reduced, [(name, by_class[name], kept.get(name, []))], scale)
            predicted = top1(reduced, overlay, bench.features[scored[name]])
            alone.append(float((predicted == len(reduced.class_names)).mean()))
        reduced = model.without(unseen)
        overlay = add_rows(reduced, [(n, by_class[n], kept.get(n, [])) for n in unseen], scale)
        u_rows = np.concatenate([scored[n] for n in unseen])
        u_labels = np.concatenate([np.full(len(scored[n]), len(reduced.class_names) + i) for i, n in enumerate(unseen)])
        s_rows = bench.test_seen
        s_labels = np.array([reduced.class_names.index(bench.class_names[c]) for c in bench.labels[s_rows]])
        u = mean_class_accuracy(top1(reduced, overlay, bench.features[u_rows]), u_labels)
        s = mean_class_accuracy(top1(reduced, overlay, bench.features[s_rows]), s_labels)
        out[route] = {"top1_alone": 100 * mean(alone), "U": 100 * u, "S": 100 * s, "H": 100 * harmonic_mean(s, u),
                      "seconds": time.perf_counter() - started}
        print(f"  {route:22} top-1 alone {out[route]['top1_alone']:5.1f}   U {out[route]['U']:5.1f}  "
              f"S {out[route]['S']:5.1f}  H {out[route]['H']:5.1f}", flush=True)
    return out


def top1(model: ZSLModel, overlay: ClassOverlay, features: np.ndarray) -> np.ndarray:
    """The app's top class of each row of features, among the model's classes and the overlay's."""
    return Predictor(model, None, model_id="re-added").probabilities(features, overlay).argmax(axis=1)


def add_rows(model: ZSLModel, classes: list[tuple[str, np.ndarray, np.ndarray]], scale) -> ClassOverlay:
    """Classes (name, vector, photo features) added one after another, each row fit against everything before
    it, as the app adds them."""
    fitter, overlay = RowFitter(model), ClassOverlay.empty(model)
    for name, human, photos in classes:
        user = UserClass(f"re-added {name}", list(human), [float(v) for v in scale.to_model(np.asarray(human))],
                         [[float(v) for v in row] for row in photos])
        overlay = overlay.plus(user, *fitter.fit(overlay, user))
    return overlay


# --- out of domain ----------------------------------------------------------------------------------
def domain_scores(predictor: Predictor, bench, frozen) -> dict:
    """Share of CUB photos flagged (from the features files: the model's space for the similarity, the frozen
    ImageNet network's for P(bird)), and of non-bird images, each named."""
    check, backbone = predictor.reading.domain, predictor.backbone
    with torch.inference_mode():  # the ImageNet classifier reads the network as loaded, before any fine-tune
        logits = backbone.imagenet(torch.as_tensor(frozen.features)).numpy()
    passes = check.passes(bench.features, logits)
    cub = {part: 100 * float(1 - passes[rows].mean()) for part, rows in
           (("all", np.arange(len(passes))), ("trainval", bench.trainval), ("test seen", bench.test_seen),
            ("test unseen", bench.test_unseen))}
    images = non_bird_images()
    flagged = {}
    for source, name, image in images:
        features, logits = backbone.look([image])
        score = check.score(features[0], None if logits is None else logits[0])
        flagged.setdefault(source, {})[name] = {"flagged": not score.in_domain, "p": score.probability,
                                                "similarity": round(score.similarity, 3)}
    every = [v["flagged"] for by_name in flagged.values() for v in by_name.values()]
    return {"cub_photos": len(passes), "cub_flagged_percent": cub, "non_bird_images": len(every),
            "non_bird_flagged_percent": 100 * mean(every),
            "not_flagged": [f"{s}/{n}" for s, by_name in flagged.items() for n, v in by_name.items()
                            if not v["flagged"]],
            "by_source": flagged, "thresholds": {"min_probability": check.min_probability,
                                                 "min_similarity": check.min_similarity}}


def non_bird_images() -> list[tuple[str, str, Image.Image]]:
    """Every non-bird image at hand offline: the photos bundled with installed packages, and generated ones."""
    found = []
    folders = {"non-bird example": [ROOT / "assets" / "examples" / "chelsea.jpg"]}
    try:
        import skimage
        folders["scikit-image"] = sorted(Path(skimage.__file__).parent.glob("data/*.[pj][np]g"))
    except ImportError:
        pass
    for package, pattern in (("gradio", "media_assets/images/*"), ("matplotlib", "mpl-data/sample_data/*.[pj][np]g")):
        try:
            folder = Path(__import__(package).__file__).parent
            folders[package] = sorted(Path(p) for p in glob.glob(str(folder / pattern)))
        except ImportError:
            pass
    for source, files in folders.items():
        for path in files:
            try:
                with Image.open(path) as image:
                    found.append((source, path.name, image.convert("RGB")))
            except OSError:
                continue  # not a raster image (an SVG, a GIF that cannot be read)
    return found + [("generated", name, image) for name, image in generated_images()]


def generated_images() -> list[tuple[str, Image.Image]]:
    rng = np.random.default_rng(SEED)
    size = (300, 300)
    pixels = lambda a: Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))  # noqa: E731
    out = [(f"uniform noise {i}", pixels(rng.integers(0, 256, (300, 300, 3), dtype=np.uint8))) for i in range(3)]
    out.append(("gaussian noise", pixels(rng.normal(128, 40, (300, 300, 3)))))
    out.append(("grey noise", Image.fromarray(np.repeat(rng.integers(0, 256, (300, 300, 1), dtype=np.uint8), 3, 2))))
    out.append(("blurred noise", out[0][1].filter(ImageFilter.GaussianBlur(8))))
    out.append(("blobs", Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).resize(size, Image.BICUBIC)))
    out.append(("salt and pepper", pixels(np.repeat((rng.random((300, 300, 1)) > 0.5) * 255, 3, 2))))
    ramp = np.linspace(0, 255, 300)
    out.append(("horizontal gradient", Image.fromarray(np.stack([np.tile(ramp, (300, 1))] * 3, 2).astype(np.uint8))))
    out.append(("colour gradient", Image.fromarray(np.stack([np.tile(ramp, (300, 1)), np.tile(ramp, (300, 1)).T,
                                                            255 - np.tile(ramp, (300, 1))], 2).astype(np.uint8))))
    for width in (5, 20, 60):
        stripes = ((np.arange(300) // width) % 2 * 255).astype(np.uint8)
        out.append((f"stripes {width}px", Image.fromarray(np.stack([np.tile(stripes, (300, 1))] * 3, 2))))
    checker = (((np.arange(300)[:, None] // 30 + np.arange(300)[None] // 30) % 2) * 255).astype(np.uint8)
    out.append(("checkerboard", Image.fromarray(np.stack([checker] * 3, 2))))
    for colour in ("white", "black", "grey", "red", "green", "blue", "yellow", "brown"):
        out.append((f"flat {colour}", Image.new("RGB", size, colour)))
    for i, text in enumerate(("Hello, this is not a bird", "Lorem ipsum dolor sit amet, consectetur", "0123456789")):
        image = Image.new("RGB", (400, 300), "white")
        ImageDraw.Draw(image).multiline_text((20, 60), "\n".join([text] * 6), fill="black", spacing=12)
        out.append((f"text {i + 1}", image))
    return out


# --- speed --------------------------------------------------------------------------------------------
def speed(checkpoint, photos: list[Path]) -> dict:
    """Wall seconds to read a description / photos and add the class it gives (the app's own calls), after a
    first class (which also draws the other classes' synthetic sets, timed apart)."""
    recognizer = Recognizer.load(checkpoint)
    started = time.perf_counter()
    recognizer.add_class("speed first", recognizer.typical_attributes())
    first = time.perf_counter() - started
    steps = {"by parts": lambda: recognizer.describe_parts({"crown color": ["red"], "wing color": ["black"]},
                                                         like="073.Blue_Jay"),
             "in words": lambda: recognizer.describe_words("small, red crown, black wings, white belly, short "
                                                           "cone-shaped bill").attributes,
             "with 3 photos": lambda: recognizer.read_photos(photos[:3]).attributes}
    out = {}
    for route, read in steps.items():
        started = time.perf_counter()
        recognizer.add_class(f"speed {route}", read())
        out[route] = time.perf_counter() - started
    for route in ["first", *steps]:
        recognizer.remove_class(f"speed {route}")
    return {"first class (draws the other classes' synthetic sets)": first, **out}


# --- helpers ------------------------------------------------------------------------------------------
def round_trip(vocabulary, vector: np.ndarray) -> str:
    """The attribute names a class has (>= ROUND_TRIP_MIN) turned into phrases: "red crown, cone bill, ..."."""
    phrases = []
    for group in vocabulary.groups:
        for term in group.terms:
            if vector[term.index] >= ROUND_TRIP_MIN:
                key = value_keys(term.value, group.part)[0]
                phrases.append(key if group.part in ("", "primary") else f"{key} {group.part}")
    return ", ".join(phrases)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def mean(values) -> float:
    return float(np.mean(values))


def main() -> None:
    args = parse()
    torch.set_num_threads(args.threads)
    root = resolve_data_root(args.data_root)
    bench = frozen = load_benchmark(root, "CUB", "effnetlite2")
    checkpoints = args.model or [default_checkpoint(), *(ROOT / "weights" / f"cub-{m}-effnetlite2-s0"
                                                         for m in ("vae-cflow", "dvae"))]
    report = {"command": " ".join(sys.argv), "threads": args.threads, "models": {}}
    vocabulary = Recognizer.load(checkpoints[0]).vocabulary
    lexicon = Lexicon.for_dataset(vocabulary, "CUB")
    report["choices_on_validation_fold_1"] = choices(bench, vocabulary, lexicon)
    print(json.dumps(report["choices_on_validation_fold_1"], indent=1), flush=True)
    photos = sorted(SAMPLES.glob("*.jpg"))
    for checkpoint in checkpoints:
        predictor = Predictor.load(checkpoint)
        name = predictor.model_id
        space = predictor.model.meta["features"]["name"]
        bench = frozen if space == frozen.features_name else load_benchmark(root, "CUB", space)
        entry = report["models"][name] = {"reading": reading_scores(predictor, bench)}
        print(f"{name}: reading {json.dumps(entry['reading'])}", flush=True)
        entry["domain"] = domain_scores(predictor, bench, frozen)
        print(f"{name}: CUB flagged {entry['domain']['cub_flagged_percent']}, non-bird flagged "
              f"{entry['domain']['non_bird_flagged_percent']:.1f}% of {entry['domain']['non_bird_images']} "
              f"(not flagged: {entry['domain']['not_flagged']})", flush=True)
        entry["add_seconds"] = speed(checkpoint, photos)
        print(f"{name}: add seconds {entry['add_seconds']}", flush=True)
        if not args.skip_readd:
            vectors, examples, scored = routes(predictor, bench, lexicon, vocabulary)
            entry["readd"] = readd(predictor, bench, vectors, examples, scored)
        Path(args.out).write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
