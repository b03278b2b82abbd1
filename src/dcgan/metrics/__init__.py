"""Sample-quality measures and their feature extractors.

`fidelity` (the metric math, by name: fid, kid, is, pr), `extractors` (Inception-v3, the
shipped MNIST classifier, trained classifiers), `inception_nvidia` (the offline TF FID
Inception of `dcgan pull inception`, NVIDIA's preprocessing), `reference` (cached real
statistics), `evaluate` (generator -> metrics, shared by `dcgan evaluate` and training; the training
hook is dcgan.training_eval), `train_extractor` (a classifier for any labelled
data), `mnist_classifier` (the small CNN behind the offline extractors).
"""

from dcgan.metrics.evaluate import Evaluator, evaluate, format_table
from dcgan.metrics.extractors import get_extractor
from dcgan.metrics.fidelity import METRICS, compute

__all__ = ["METRICS", "Evaluator", "compute", "evaluate", "format_table", "get_extractor"]
