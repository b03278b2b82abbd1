"""The paper's experiments as tools, one module per section: dedup and face crops (§3),
few-label classification with D's features (§5), the latent-space tools (§6)."""
