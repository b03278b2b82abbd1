"""Sample-quality measures and their feature extractors."""
