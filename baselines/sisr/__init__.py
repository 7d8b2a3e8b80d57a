"""Single-image SR networks, key-compatible with their official checkpoints (one file each)."""
