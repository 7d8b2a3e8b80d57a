"""SRNTT and SRNTT-rec (Zhang et al., CVPR 2019): network, release-weight converters, texture swap."""
