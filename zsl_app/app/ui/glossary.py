"""One line of plain language for each term the page uses, kept together so every tab says it the same way."""

# What each dataset's classes are, for the page's first line.
DATASETS = {"CUB": "bird species, mostly North American (CUB-200-2011)",
            "AWA1": "animal species (Animals with Attributes)", "AWA2": "animal species (Animals with Attributes 2)",
            "SUN": "kinds of scene (SUN attributes)", "APY": "kinds of object (aPascal-aYahoo)"}

KINDS = "seen: learned from photos · unseen: known only by attributes · user-added: described here"
GENERALIZED = ("It is a *generalized* zero-shot classifier: every photo is ranked against all classes at once, seen "
               "and unseen, as in real use.")
METRICS = ("**U**: top-1 accuracy (%) on photos of unseen classes, **S**: on photos of seen classes, both choosing "
           "among all classes; **H**: their harmonic mean, high only when both are; **ZSL**: accuracy on unseen "
           "photos when only unseen classes may be chosen. Each is the mean over classes of their accuracy.")
EVALUATIONS = ("**val**: the validation split the settings were chosen on; **test**: the one evaluation on the "
               "test split; **test_uncalibrated**: the same test without calibrated stacking, the offset that lowers "
               "seen-class scores so that unseen classes get a fair chance.")
LENGTH = "How long the head trains: iterations for VAE-cFlow, epochs for the Disentangled-VAE."
SAMPLES = "Synthetic feature vectors made for each unseen class to train the final classifier on."
CLASSIFIER_EPOCHS = "The most passes of the final softmax classifier over its training set; validation picks the best."
SELECT = "Choose the length, temperature and calibration on a validation split of the seen classes (recommended)."
SEED = "Fixes every random choice, so the same settings give the same model."
LOSS = ("The head's training loss per step: lower is better and only its trend matters. VAE-cFlow's is a negative "
        "log-likelihood of 1280 feature values, so values far below zero are normal.")
RANKED = ("The same top classes as data, as the API returns them: `name` is the class id (what --add-class, "
          "--remove-class and the Classes tab's id column use), with its probability and kind.")

FINETUNE = ("adapts the top stage of the backbone to the seen classes on the CUB photos found on this server, "
            "one fine-tune per protocol stage (never on a test photo); the model then reads photos in its own "
            "feature space. Adds about 20 minutes on a 2-core CPU, 40 the first time (the photos' activations "
            "are cached once)")
NO_PHOTOS = ("no CUB photos on this server: put the CUB_200_2011 folder under the data root, or run "
             "`python app.py --download cub-images`")
DESCRIBE = ("Describe the class the way people do: in words, from 1-5 photos of it, or by its parts. The editor "
            "above gets the vector, to check and edit before adding; what a description leaves unsaid comes from "
            "the class chosen in 'start from' (from the typical seen class when that is all zeros). A class read "
            "from photos also keeps the photos themselves as examples of it.")


def intro(dataset: str | None, kinds: list[str]) -> str:
    """The page's first line: what the active model knows and what "unseen" means."""
    what = DATASETS.get(dataset or "", f"classes of {dataset}")
    seen, unseen = kinds.count("seen"), kinds.count("unseen")
    return (f"# zsl-app\nRecognises **{len(kinds)} {what}** in a photo: {seen} it learned from photos, and {unseen} "
            f"**unseen** ones it never saw a photo of and knows only by their attributes (colours, shapes, "
            f"patterns). Add classes of your own the same way, by their attributes. {GENERALIZED}")


def temperature(choices) -> str:
    """The temperature field's help; `choices` are the values validation picks among."""
    return (f"How widely the synthetic features of unseen classes spread (VAE-cFlow only); 0 lets validation choose "
            f"among {', '.join(f'{t:g}' for t in choices)}.")
