"""The paper's §6 experiments: latent walks, arithmetic, nearest neighbours, detectors."""
