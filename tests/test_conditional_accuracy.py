"""The frozen digits classifier that judges cGAN samples (see docs/benchmarks.md)."""
import torch

from gancore.evaluation.conditional_accuracy import DigitsClassifier, conditional_accuracy


class _Oracle:
    """A 'generator' that returns real test images of the requested class."""

    num_classes = 10

    def __init__(self, dataset, shuffle_labels=False):
        self.ds, self.shuffle = dataset, shuffle_labels

    def sample(self, num, seed=0, labels=None):
        if self.shuffle:
            labels = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))]
        by_class = {k: (self.ds.labels == k).nonzero().flatten() for k in range(10)}
        idx = [by_class[int(k)][i % len(by_class[int(k)])] for i, k in enumerate(labels)]
        return self.ds.images[torch.stack(idx)]


def test_classifier_is_accurate_on_held_out_digits():
    clf = DigitsClassifier(image_size=16)
    assert clf.held_out_accuracy() > 0.93


def test_conditional_accuracy_separates_right_and_wrong_classes():
    clf = DigitsClassifier(image_size=16)
    assert conditional_accuracy(_Oracle(clf.test), clf, per_class=20) > 0.9
    assert conditional_accuracy(_Oracle(clf.test, shuffle_labels=True), clf, per_class=20) < 0.3
