"""Class-conditional accuracy: does a cGAN draw the class it is asked for?

A frozen classifier trained on real data labels generated samples; the score is
the share of samples labelled with their conditioning class. For the bundled
digits this is a logistic regression on 8x8 images (held-out accuracy ~0.96).
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def _to_digit_features(images: Tensor) -> np.ndarray:
    """Images in [-1, 1] (N, 1, H, W) -> 8x8 features in [0, 16] as the original digits."""
    x = images.detach().float().cpu()
    if x.shape[-1] != 8:
        x = F.adaptive_avg_pool2d(x, 8)
    return ((x.clamp(-1, 1) + 1) * 8).flatten(1).numpy()


class DigitsClassifier:
    """Logistic regression on the bundled digits' train split, seen at the model's size.

    Args:
        image_size: Size of the images the GAN generates (the training images are
            resized to it and back to 8x8, so real and generated pass the same path).
        split_seed: Seed of the dataset split (must match the GAN's dataset).
    """

    def __init__(self, image_size: int = 16, split_seed: int = 0) -> None:
        from sklearn.linear_model import LogisticRegression

        from ..datasets.labelled import SklearnDigitsDataset
        train = SklearnDigitsDataset('train', image_size=image_size, split_seed=split_seed)
        self.test = SklearnDigitsDataset('test', image_size=image_size, split_seed=split_seed)
        self.clf = LogisticRegression(max_iter=3000, C=1.0)
        self.clf.fit(_to_digit_features(train.images), train.labels.numpy())

    def predict(self, images: Tensor) -> np.ndarray:
        """Predicted class of each image in [-1, 1]."""
        return self.clf.predict(_to_digit_features(images))

    def held_out_accuracy(self) -> float:
        """Accuracy on the real test split (how far the classifier can be trusted)."""
        return float((self.predict(self.test.images) == self.test.labels.numpy()).mean())


def conditional_accuracy(model, classifier: DigitsClassifier, per_class: int = 100,
                         seed: int = 0, num_classes: Optional[int] = None) -> float:
    """Share of ``model.sample`` images that ``classifier`` labels as their class."""
    k = num_classes or model.num_classes
    labels = torch.arange(k).repeat_interleave(per_class)
    images = model.sample(len(labels), seed=seed, labels=labels)
    return float((classifier.predict(images) == labels.numpy()).mean())
