"""TTSR: Learning Texture Transformer Network for Image Super-Resolution (Yang et al., CVPR 2020).

The method itself: network, checkpoint I/O, losses, trainer, single-pair CLI.
Imports nothing from `baselines` or `benchmarks` (docs/interfaces.md, layers).
"""
__version__ = "0.1.0"
