"""Paper §5: D's features as a classifier with few labels. `pipeline` runs the protocol
(§5.1, §5.2); `features` pools D's layers, `linear` is the L2-SVM, `kmeans` and `supervised`
the baselines, `splits` draws the labelled examples and `report` writes the table."""

from dcgan.experiments.classify.pipeline import ClassifyConfig, ClassifyResult, classify

__all__ = ["ClassifyConfig", "ClassifyResult", "classify"]
