"""Time per 500×332 pair of the evaluation measures; prints a table.

    python -m benchmarks.perf.metrics_speed [--repeats 20] [--device cpu|cuda] [--threads N]

Rows:
- **release transcription** — a plain NumPy transcription of the TTSR release's `calc_psnr` /
  `calc_ssim` (`utils.py`): RGB difference weighted into Y for PSNR; Y = RGB·k/256 + 16 and the
  SSIM moments filtered with the full 2-D 11×11 Gaussian window (the release uses OpenCV
  `filter2D`, BORDER_REFLECT_101; here `scipy.ndimage.correlate`, mode 'mirror', which is the
  same border rule), then the valid region `[5:-5, 5:-5]`. It is also the oracle: the fast
  paths must give the same values (checked, |Δ| printed).
- **ours** — `metrics.psnr_ssim` (NumPy, separable filtering of the valid region),
  `psnr`+`ssim` called separately, and the batched torch path (`psnr_torch`+`ssim_torch`,
  float64) per pair in a batch of 8.
- **scikit-image** — `structural_similarity(gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=255)` on precomputed Y planes (SSIM alone), and
  PSNR+SSIM on Y including the conversion.
- one row per registered extra measure (LPIPS and the piq measures) on the chosen device, or
  "unavailable: reason".

Targets (issue 7): ours ≥ 10× faster than the transcription on CPU and no slower than
scikit-image's SSIM alone, identical values.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import scipy.ndimage as ndi
import torch
from skimage import data as skdata
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

import metrics
from foundation.devices import DEVICE_HELP, device_arg, resolve_device
from foundation.resize import pil_bicubic

# --------------------------------------------------------------------------- the release, transcribed

_RELEASE_K = np.array([65.738, 129.057, 25.064])


def release_psnr(img1: np.ndarray, img2: np.ndarray) -> float:
    diff = (img1.astype(np.float64) - img2.astype(np.float64)) / 255.0
    diff = (diff * (_RELEASE_K / 256.0)).sum(axis=2)
    return -10.0 * np.log10(np.mean(diff ** 2))


def _release_ssim_plane(img1: np.ndarray, img2: np.ndarray) -> float:
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    g = np.exp(-((np.arange(11) - 5.0) ** 2) / (2 * 1.5 ** 2))
    g /= g.sum()
    window = np.outer(g, g)

    def filt(x):
        return ndi.correlate(x, window, mode="mirror")[5:-5, 5:-5]

    mu1, mu2 = filt(img1), filt(img2)
    mu1_sq, mu2_sq, mu1_mu2 = mu1 ** 2, mu2 ** 2, mu1 * mu2
    sigma1_sq = filt(img1 ** 2) - mu1_sq
    sigma2_sq = filt(img2 ** 2) - mu2_sq
    sigma12 = filt(img1 * img2) - mu1_mu2
    ssim_map = ((2 * mu1_mu2 + c1) * (2 * sigma12 + c2)) / ((mu1_sq + mu2_sq + c1) * (sigma1_sq + sigma2_sq + c2))
    return float(ssim_map.mean())


def release_ssim(img1: np.ndarray, img2: np.ndarray) -> float:
    y1 = np.dot(img1.astype(np.float64), _RELEASE_K) / 256.0 + 16.0
    y2 = np.dot(img2.astype(np.float64), _RELEASE_K) / 256.0 + 16.0
    return _release_ssim_plane(y1, y2)


# --------------------------------------------------------------------------- timing

def _pair() -> tuple[np.ndarray, np.ndarray]:
    """A 500×332 HR photo (scikit-image's astronaut, resized) and its PIL bicubic ×4 down-up SR."""
    hr = pil_bicubic(skdata.astronaut(), (500, 332))
    sr = pil_bicubic(pil_bicubic(hr, (125, 83)), (500, 332))
    return sr, hr


def _time(fn, repeats: int, per: int = 1, sync=None) -> tuple[float, object]:
    result = fn()                      # warm-up (and the value)
    if sync:
        sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(time.perf_counter() - start)
    return min(times) * 1e3 / per, result


def run(repeats: int, device: torch.device) -> list[tuple]:
    sr, hr = _pair()
    y_sr, y_hr = metrics.rgb_to_y(sr), metrics.rgb_to_y(hr)
    rows = []
    ref_ms, (ref_p, ref_s) = _time(lambda: (release_psnr(sr, hr), release_ssim(sr, hr)), max(3, repeats // 4))
    rows.append(("release transcription (2-D 11×11)", "cpu", ref_ms, ref_p, ref_s))
    ms, (p, s) = _time(lambda: metrics.psnr_ssim(sr, hr), repeats)
    rows.append(("ours psnr_ssim (NumPy)", "cpu", ms, p, s))
    ms, (p, s) = _time(lambda: (metrics.psnr(sr, hr), metrics.ssim(sr, hr)), repeats)
    rows.append(("ours psnr + ssim (NumPy)", "cpu", ms, p, s))
    for dev in sorted({torch.device("cpu"), device}, key=str):
        sync = torch.cuda.synchronize if dev.type == "cuda" else None
        sr_t = torch.from_numpy(sr).permute(2, 0, 1)[None].repeat(8, 1, 1, 1).to(dev, torch.float64)
        hr_t = torch.from_numpy(hr).permute(2, 0, 1)[None].repeat(8, 1, 1, 1).to(dev, torch.float64)
        ms, (p, s) = _time(lambda: (metrics.psnr_torch(sr_t, hr_t, data_range=255), metrics.ssim_torch(sr_t, hr_t, data_range=255)),
                           repeats, per=8, sync=sync)
        rows.append(("ours psnr_torch + ssim_torch (batch 8)", dev.type, ms, p[0].item(), s[0].item()))
    sk_kw = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)
    ms, s = _time(lambda: structural_similarity(y_sr, y_hr, **sk_kw), repeats)
    rows.append(("scikit-image SSIM alone (Y given)", "cpu", ms, None, s))
    ms, (p, s) = _time(lambda: (peak_signal_noise_ratio(metrics.rgb_to_y(hr), metrics.rgb_to_y(sr), data_range=255),
                                structural_similarity(metrics.rgb_to_y(sr), metrics.rgb_to_y(hr), **sk_kw)), repeats)
    rows.append(("scikit-image PSNR + SSIM (with Y)", "cpu", ms, p, s))
    rows = [(name, dev, ms, p, s, ref_ms / ms,
             max(abs(p - ref_p) if p is not None else 0.0, abs(s - ref_s))) for name, dev, ms, p, s in rows]
    return rows


def run_extra(repeats: int, device: torch.device) -> list[tuple]:
    sr, hr = _pair()
    sync = torch.cuda.synchronize if device.type == "cuda" else None
    rows = []
    for name, spec in metrics.REGISTRY.items():
        if name in ("psnr", "ssim"):
            continue
        ok, reason = spec.available()
        if not ok:
            rows.append((name, device.type, None, None, "unavailable: " + reason.split(";")[0]))
            continue
        for batch in (1, 8):
            sr_t = torch.from_numpy(sr).permute(2, 0, 1)[None].repeat(batch, 1, 1, 1).to(device, torch.float64)
            hr_t = torch.from_numpy(hr).permute(2, 0, 1)[None].repeat(batch, 1, 1, 1).to(device, torch.float64)

            def measure():
                with torch.no_grad():
                    return spec.measure(sr_t, hr_t)
            ms, value = _time(measure, max(3, repeats // 4), per=batch, sync=sync)
            rows.append((name, device.type, batch, ms, f"{value[0].item():.6f}"))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--device", default="auto", type=device_arg, help=DEVICE_HELP)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--no-extra", action="store_true", help="skip the LPIPS/piq rows")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    print(f"# 500×332 pair (astronaut, PIL bicubic ×4 down-up); best of {args.repeats} runs; "
          f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, device {device}")
    rows = run(args.repeats, device)
    print(f"{'PSNR+SSIM':<42} {'dev':<5} {'ms/pair':>9} {'speed-up':>9} {'PSNR':>12} {'SSIM':>10} {'|Δ| vs release':>15}")
    for name, dev, ms, p, s, speedup, delta in rows:
        p_text = f"{p:12.6f}" if p is not None else f"{'—':>12}"
        print(f"{name:<42} {dev:<5} {ms:9.2f} {speedup:8.1f}× {p_text} {s:10.6f} {delta:15.2e}")
    ours = rows[1][2]
    sk_alone = next(r[2] for r in rows if r[0].startswith("scikit-image SSIM alone"))
    values_ok = all(r[6] < 1e-6 for r in rows)
    print(f"# targets: ≥10× vs transcription: {rows[0][2] / ours:.1f}× "
          f"({'met' if rows[0][2] / ours >= 10 else 'NOT met'}); no slower than scikit-image SSIM alone: "
          f"{ours:.2f} vs {sk_alone:.2f} ms ({'met' if ours <= sk_alone else 'NOT met'}); "
          f"identical values (|Δ| < 1e-6): {'yes' if values_ok else 'NO'}")
    if not args.no_extra:
        print()
        print(f"{'measure':<10} {'dev':<5} {'batch':>5} {'ms/pair':>9} {'value (first pair)':>20}")
        for name, dev, batch, ms, value in run_extra(args.repeats, device):
            if ms is None:
                print(f"{name:<10} {dev:<5} {'':>5} {'—':>9} {value}")
            else:
                print(f"{name:<10} {dev:<5} {batch:>5} {ms:9.2f} {value:>20}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
