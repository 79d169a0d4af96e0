"""A class from a few photos of it: the attributes read in each photo, combined into one vector that the
person sees and may edit before adding it."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from zsl_app.core.domain import DomainScore
from zsl_app.storage.images import ImageError

from .classes import MAX_PHOTOS, ClassError
from .predictor import Predictor

# A reading is a ridge regression, so it leans toward the typical class; the class's vector is the readings'
# mean moved this much farther from the typical one. On CUB validation fold 1 (bench/describe.py) 1.2 came
# closest to the true class vectors for 1, 3 and 5 photos (cosine 0.874 / 0.898 / 0.902; the plain mean 0.871 /
# 0.890 / 0.896, 1.5: 0.865 / 0.897 / 0.899).
STRETCH = 1.2


@dataclass
class PhotoReading:
    """What a few photos of one class say about its attributes."""

    attributes: np.ndarray  # (A,) the class's vector on the dataset's scale, from the photos' readings
    per_photo: np.ndarray  # (k, A) each photo's reading
    features: np.ndarray  # (k, D) the photos' backbone features: the class's examples when it is added
    domain: list[DomainScore | None]  # whether each photo looks like what the model knows


def read_photos(predictor: Predictor, images: Sequence, typical: np.ndarray) -> PhotoReading:
    """1-5 photos (paths, bytes, PIL images or arrays) -> their reading, stretched from the `typical` class
    vector; ClassError naming a photo that cannot be read, before anything is added."""
    if isinstance(images, (str, bytes)) or not isinstance(images, Sequence):
        images = [images]
    if not 1 <= len(images) <= MAX_PHOTOS:
        raise ClassError(f"a class is read from 1 to {MAX_PHOTOS} photos of it; got {len(images)}")
    readings, domains, rows = [], [], []
    for i, image in enumerate(images, 1):
        try:
            features, logits = predictor.look(image)
        except ImageError as err:
            raise ClassError(f"photo {i} of {len(images)} cannot be read: {err}") from None
        readings.append(predictor.read_attributes(features))
        rows.append(features)
        domains.append(predictor.domain(features, logits))
    per_photo = np.stack(readings)
    vector = typical + STRETCH * (per_photo.mean(axis=0) - typical)
    return PhotoReading(np.clip(vector, predictor.scale.low, predictor.scale.high), per_photo, np.stack(rows),
                        domains)
