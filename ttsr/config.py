"""Configuration of the TTSR network and of the paper's ablation variants (Yang et al., CVPR 2020).

`TTSRConfig` holds what the release's `option.py` sets for the network (`n_feats`,
`num_res_blocks`, `res_scale`) plus four switches for the ablations of §4.3:

- ``hard_attention`` — texture transfer through the hard-attention index (§3.2). Off means no
  reference branch at all: the "Base" model of Table 2. As we recall §4.3 (not confirmed from a
  source here), Base is SRNTT re-implemented without BN layers and without its reference part,
  and HA, SA and LTE are then added one at a time; we read that as the same backbone with no
  texture input (no LTE, no search, no fusion heads). Its parameter count is not in the paper.
- ``soft_attention`` — the fused texture residual is multiplied by the soft-attention map S at
  1×, 2× and 4× (§3.2, soft-attention module). Off: the residual is added unweighted. Needs hard attention.
- ``learnable_lte`` — the texture extractor is trained with the network (§3.1, "LTE"). Off: the
  same VGG19 layers stay frozen at their ImageNet weights, which is how the paper describes the
  models without LTE ("use VGG19 features to do relevance embedding").
- ``csfi`` — cross-scale feature integration (§3.3): three stages whose branches at 1×, 2×, 4×
  exchange features, merged by a merge tail. Off ("Base+TT" of Table 3, our reading): the
  texture transformers are stacked on a single branch that is upsampled 1× → 2× → 4×, with no
  coarser branches, no exchange modules and no merging; the tail maps the 4× features to RGB.

Table 3's parameter counts (the paper's figures, unconfirmed, are in benchmarks/published.toml:
TTSR paper Table 3, https://arxiv.org/abs/2006.04139) are reproduced to the printed digits by this
reading when "M" is taken as 2^20 and the LTE is counted: 4,637,327 / 6,729,615 / 6,850,143 /
9,539,887 parameters (`ttsr.model.parameter_count`). Dropping only the exchange modules, or keeping
a merge conv without CSFI, does not reproduce them — which is the evidence for the single-branch
reading above.

`VARIANTS` names the configurations of Tables 2 and 3: the one definition that the training
configs (configs/ablation-*.toml, ``[model] variant = NAME``), the published tables
(benchmarks/published.toml, ``variant = NAME``) and the registry's ``ttsr-*`` methods refer to.
This module is data only (no network): ``python -m benchmarks.parameters`` prints the parameter
counts.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping


def _parse_blocks(value: Any) -> tuple[int, ...]:
    """``(16, 16, 8, 4)``, ``[16, 16, 8, 4]`` or the release's ``'16+16+8+4'`` → a tuple of ints."""
    if isinstance(value, str):
        value = value.replace(",", "+").split("+")
    try:
        blocks = tuple(int(v) for v in value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"num_res_blocks must be four integers such as 16+16+8+4, not {value!r}") from err
    return blocks


@dataclass(frozen=True)
class TTSRConfig:
    """Network hyper-parameters and ablation switches; the defaults are the published TTSR."""

    n_feats: int = 64
    #: residual blocks in the shallow feature extractor, then in each branch of stages 1, 2, 3
    num_res_blocks: tuple[int, ...] = field(default=(16, 16, 8, 4))
    res_scale: float = 1.0
    hard_attention: bool = True
    soft_attention: bool = True
    learnable_lte: bool = True
    csfi: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "num_res_blocks", _parse_blocks(self.num_res_blocks))
        if len(self.num_res_blocks) != 4 or min(self.num_res_blocks) < 0:
            raise ValueError(f"num_res_blocks must be 4 non-negative integers (SFE + 3 stages), "
                             f"not {self.num_res_blocks}")
        if int(self.n_feats) != self.n_feats or self.n_feats < 2:
            raise ValueError(f"n_feats must be an integer ≥ 2, not {self.n_feats!r}")
        if self.soft_attention and not self.hard_attention:
            raise ValueError("soft_attention needs hard_attention: S weights the transferred textures")

    @property
    def uses_reference(self) -> bool:
        """Whether the model has the texture transformer (LTE, search, transfer) at all."""
        return self.hard_attention

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["num_res_blocks"] = list(self.num_res_blocks)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TTSRConfig":
        """Build from `to_dict` output, or from a ``[model]`` table: an optional ``variant`` (a name
        of `VARIANTS`) and the fields that differ from it (from the published TTSR without one).

        Raises ValueError for an unknown key (a typo must not pass silently) or variant name.
        """
        data = dict(data)
        variant = data.pop("variant", None)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown TTSR config keys {unknown}; known: {sorted(known | {'variant'})}")
        return variant_config(variant).replace(**data) if variant is not None else cls(**data)

    def replace(self, **changes: Any) -> "TTSRConfig":
        return dataclasses.replace(self, **changes)


_NO_TT = dict(hard_attention=False, soft_attention=False)

#: The configurations of the paper's ablations (§4.3). Table 2 models have no CSFI: its last row
#: (Base+HA+SA+LTE, 26.92 dB) is the "Base+TT" row of Table 3.
VARIANTS: dict[str, TTSRConfig] = {
    # Table 2: texture transformer modules, added one by one.
    "base": TTSRConfig(csfi=False, learnable_lte=False, **_NO_TT),
    "base+ha": TTSRConfig(csfi=False, learnable_lte=False, soft_attention=False),
    "base+ha+sa": TTSRConfig(csfi=False, learnable_lte=False),
    "base+ha+sa+lte": TTSRConfig(csfi=False),
    # Table 3: cross-scale feature integration and the width of the model without it.
    "base+tt": TTSRConfig(csfi=False),
    "base+tt+csfi": TTSRConfig(),
    "base+tt-c80": TTSRConfig(csfi=False, n_feats=80),
    "base+tt-c96": TTSRConfig(csfi=False, n_feats=96),
    # The published model (TTSR.pt / TTSR-rec.pt).
    "ttsr": TTSRConfig(),
}


def variant_config(name: str) -> TTSRConfig:
    """The configuration of a named variant; ValueError naming the known variants otherwise."""
    try:
        return VARIANTS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown TTSR variant {name!r}; known: {', '.join(VARIANTS)}") from None
