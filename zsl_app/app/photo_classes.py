"""A class from a few photos of it: the attributes read in each photo, averaged into one vector that the
person sees and may edit before adding it. (On CUB validation fold 1 the plain mean of the readings came
within 0.01 of the best rescaling tried in cosine to the true class vector; bench/describe.py.)"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from zsl_app.core.domain import DomainScore
from zsl_app.storage.images import ImageError

from .classes import ClassError
from .predictor import Predictor

MAX_PHOTOS = 5


@dataclass
class PhotoReading:
    """What a few photos of one class say about its attributes."""

    attributes: np.ndarray  # (A,) the class's vector on the dataset's scale: the mean of the photos' readings
    per_photo: np.ndarray  # (k, A) each photo's reading
    domain: list[DomainScore | None]  # whether each photo looks like what the model knows


def read_photos(predictor: Predictor, images: Sequence) -> PhotoReading:
    """1-5 photos (paths, bytes, PIL images or arrays) -> their reading; ClassError naming a photo that
    cannot be read, before anything is added."""
    if isinstance(images, (str, bytes)) or not isinstance(images, Sequence):
        images = [images]
    if not 1 <= len(images) <= MAX_PHOTOS:
        raise ClassError(f"a class is read from 1 to {MAX_PHOTOS} photos of it; got {len(images)}")
    readings, domains = [], []
    for i, image in enumerate(images, 1):
        try:
            features, logits = predictor.look(image)
        except ImageError as err:
            raise ClassError(f"photo {i} of {len(images)} cannot be read: {err}") from None
        readings.append(predictor.read_attributes(features))
        domains.append(predictor.domain(features, logits))
    per_photo = np.stack(readings)
    return PhotoReading(per_photo.mean(axis=0), per_photo, domains)
