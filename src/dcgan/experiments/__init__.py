"""The paper's experiments as tools, one module per section: dedup and face crops (§3),
few-label classification with D's features (§5), latent walks, arithmetic, turn and
nearest neighbours (§6)."""
