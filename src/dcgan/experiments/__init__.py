"""The paper's dataset tools and experiments beyond training: dedup, face crops."""
