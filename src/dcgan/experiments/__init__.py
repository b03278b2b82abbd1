"""The paper's experiments as tools: `classify` (PAPER §5, D's features for few-label
classification)."""
