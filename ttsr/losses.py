"""Training losses of TTSR (paper §3.4, Eq. 6–10), as the release computes them.

L_overall = λ_rec·L_rec + λ_per·L_per + λ_tpl·L_tpl + λ_adv·L_adv, with λ = 1, 1e-2, 1e-2, 1e-3.

- `reconstruction_loss` (Eq. 7): mean absolute error ‖I_HR − I_SR‖₁ (L1; "l2" = MSE as an option).
- `perceptual_loss` (Eq. 8, first term): MSE between VGG19 relu5_1 features of SR and HR.
- `transferal_perceptual_loss` (Eq. 8, second term): MSE between the LTE features of SR (through a
  frozen copy of the current LTE) and the transferred textures T at the three scales, averaged over
  the scales. Options as in the release: "l1" instead of MSE, and weighting every position by
  sigmoid(S), the soft-attention map bicubically enlarged to each scale (off in the release's run).
- WGAN-GP (Eq. 9–10): critic loss D(fake) − D(real) + 10·(‖∇D(x̂)‖₂ − 1)² with x̂ a random per-sample
  mix of real and fake; generator loss −D(fake). `critic_loss` and `generator_adversarial_loss`.

Every function returns the unweighted mean over the batch; the trainer applies the weights.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F


def reconstruction_loss(sr: torch.Tensor, hr: torch.Tensor, kind: str = "l1") -> torch.Tensor:
    """Eq. 7: L1 (default) or MSE between SR and HR."""
    if kind == "l1":
        return F.l1_loss(sr, hr)
    if kind == "l2":
        return F.mse_loss(sr, hr)
    raise ValueError(f"reconstruction loss kind must be 'l1' or 'l2', not {kind!r}")


def perceptual_loss(sr_features: torch.Tensor, hr_features: torch.Tensor) -> torch.Tensor:
    """Eq. 8, first term: MSE of VGG19 relu5_1 features (HR features carry no gradient)."""
    return F.mse_loss(sr_features, hr_features.detach())


def _attention_weights(S: torch.Tensor, count: int) -> list[torch.Tensor]:
    """sigmoid(S) at lv3, and bicubically enlarged ×2 (lv2) and ×4 (lv1), as the release does."""
    height, width = S.shape[-2:]
    weights = [torch.sigmoid(S)]
    for factor in (2, 4)[: count - 1]:
        weights.append(torch.sigmoid(F.interpolate(S, size=(height * factor, width * factor), mode="bicubic")))
    return weights


def transferal_perceptual_loss(sr_textures: Sequence[torch.Tensor], transferred: Sequence[torch.Tensor],
                               S: torch.Tensor | None = None, kind: str = "l2",
                               use_soft_attention: bool = False) -> torch.Tensor:
    """Eq. 8, second term: mean over scales of ‖LTE(I_SR)_i − T_i‖ (MSE or L1).

    `sr_textures` and `transferred` are ordered the same way, coarsest first: (lv3, lv2, lv1).
    With `use_soft_attention` both sides are multiplied by sigmoid(S) resized to each scale.
    """
    if len(sr_textures) != len(transferred):
        raise ValueError("transferal perceptual loss needs one SR texture per transferred texture")
    distance = {"l2": F.mse_loss, "l1": F.l1_loss}.get(kind)
    if distance is None:
        raise ValueError(f"transferal perceptual loss kind must be 'l1' or 'l2', not {kind!r}")
    if use_soft_attention:
        if S is None:
            raise ValueError("soft-attention weighting needs the soft-attention map S")
        weights = _attention_weights(S, len(sr_textures))
    else:
        weights = [None] * len(sr_textures)
    total = 0.0
    for sr_tex, t_tex, weight in zip(sr_textures, transferred, weights):
        if weight is not None:
            sr_tex, t_tex = sr_tex * weight, t_tex * weight
        total = total + distance(sr_tex, t_tex)
    return total / len(sr_textures)


def mix_real_fake(real: torch.Tensor, fake: torch.Tensor, epsilon: torch.Tensor) -> torch.Tensor:
    """x̂ = ε·real + (1 − ε)·fake, ε ∈ [0, 1) one per sample (shape (N,))."""
    epsilon = epsilon.to(real.dtype).view(-1, *([1] * (real.dim() - 1)))
    return fake * (1 - epsilon) + real * epsilon


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, epsilon: torch.Tensor,
                     output_scale: float | None = None) -> torch.Tensor:
    """Eq. 10 penalty (‖∇_x̂ D(x̂)‖₂ − 1)², averaged over the batch (unweighted).

    `output_scale` (mixed precision with a grad scaler): the critic output is multiplied by it
    before differentiation and the gradient divided by it, so fp16 gradients do not underflow.
    """
    mixed = mix_real_fake(real.detach(), fake.detach(), epsilon).requires_grad_(True)
    score = critic(mixed).sum()
    if output_scale is not None:
        score = score * output_scale
    (grad,) = torch.autograd.grad(score, mixed, create_graph=True)
    if output_scale is not None:
        grad = grad / output_scale
    norm = grad.float().flatten(1).norm(2, dim=1)
    return (norm - 1).pow(2).mean()


def critic_loss(critic, real: torch.Tensor, fake: torch.Tensor, epsilon: torch.Tensor,
                gp_weight: float = 10.0, output_scale: float | None = None) -> tuple[torch.Tensor, dict]:
    """Eq. 9 critic objective: mean D(fake) − mean D(real) + gp_weight·GP; returns (loss, parts)."""
    fake = fake.detach()
    d_fake = critic(fake)
    d_real = critic(real)
    wasserstein = d_fake.float().mean() - d_real.float().mean()
    penalty = gradient_penalty(critic, real, fake, epsilon, output_scale)
    loss = wasserstein + gp_weight * penalty
    return loss, {"d_wasserstein": wasserstein.detach(), "d_gp": penalty.detach()}


def generator_adversarial_loss(critic, fake: torch.Tensor) -> torch.Tensor:
    """Eq. 9 generator objective: −mean D(fake) (gradient flows into the generator only)."""
    return -critic(fake).float().mean()
