"""Project an aligned face into the generator's latent space (W or W+) by gradient descent.

The loss works offline and is computed at the chosen resolution (64...1024). Up to 256 px the
generator is truncated (`TorchStyleGAN.synthesize_at`, ml/stylemix/truncated.py): only the blocks
up to half the resolution run and a refitted head makes the image, several times faster than the
full network; only the W+ layers those blocks use are optimized, and the finer layers are kept
at the average w (which the heads were fitted with; style mixing sets them from either face).
512 and 1024 px (or `truncated=False`) run the full network and area-downsample its 1024 px
output. The terms:

- pixel: mean absolute RGB difference;
- structure: 1 - multi-scale SSIM (as many of the 5 standard scales as the resolution allows);
- landmark: a pixel term weighted by Gaussians around the eyes, nose and mouth, so the features
  the five landmarks mark are matched first (the detectors in ml/ are not differentiable, so the
  landmarks steer the loss's weight instead of being re-detected on the output);
- latent: W+ layers are kept near their own mean and near the average w, so the result stays a
  plausible face instead of an adversarial fit.

FaceNet (TensorFlow) is not in the loss: it cannot be differentiated together with the torch
generator. It measures the result instead (bench and tests).

Callers can change what is compared: `target_transform` maps both the rendering and the target
(N, 3, R, R in [0, 1]) before the built-in terms (e.g. to luminance only, to colourize a grey
face), and `loss_fn(image, target, w_plus)` adds a term of their own (the image and target after
the transform); set the built-in weights to 0 to use only theirs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from ml.stylemix.generator import TorchStyleGAN, downsample, to_rgb01, to_uint8_rgb
from ml.stylemix.truncated import HEAD_SIZES, head_size

MIN_RESOLUTION, MAX_RESOLUTION = 64, 1024
MAX_ITERATIONS = 1000
_MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)

ProgressCallback = Callable[[int, int, float], None]
TargetTransform = Callable[[torch.Tensor], torch.Tensor]
LossFunction = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class ProjectionSettings:
    """How to project: loss resolution, iterations, W or W+, step size and loss weights."""

    resolution: int = 256
    iterations: int = 100
    latent: str = "w+"  # "w": one w for every layer; "w+": one per layer
    learning_rate: float = 0.05
    pixel_weight: float = 1.0
    ssim_weight: float = 1.0
    landmark_weight: float = 1.0
    latent_weight: float = 0.002
    truncated: bool = True  # up to 256 px, stop the generator at that resolution (fast)
    progressive: bool = True  # with truncated: iterations spread over 64, 128, ... resolution

    def __post_init__(self) -> None:
        if not MIN_RESOLUTION <= self.resolution <= MAX_RESOLUTION:
            raise ValueError(f"resolution must be {MIN_RESOLUTION}...{MAX_RESOLUTION}")
        if not 0 <= self.iterations <= MAX_ITERATIONS:
            raise ValueError(f"iterations must be 0...{MAX_ITERATIONS}")
        if self.latent not in {"w", "w+"}:
            raise ValueError("latent must be 'w' or 'w+'")


@dataclass
class Projection:
    """The result: the latent (W+, layers x 512), its 1024 px rendering and the loss history."""

    w_plus: np.ndarray
    reconstruction: np.ndarray  # 1024x1024x3 uint8 RGB
    losses: list[float] = field(default_factory=list)
    settings: ProjectionSettings = field(default_factory=ProjectionSettings)
    snapshots: dict[int, np.ndarray] = field(default_factory=dict)  # step -> W+ at that step


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def _ssim_parts(x: torch.Tensor, y: torch.Tensor, window: torch.Tensor):
    c1, c2 = 0.01**2, 0.03**2
    channels = x.shape[1]
    window = window.expand(channels, -1, -1, -1)
    mu_x = F.conv2d(x, window, groups=channels)
    mu_y = F.conv2d(y, window, groups=channels)
    sxx = F.conv2d(x * x, window, groups=channels) - mu_x**2
    syy = F.conv2d(y * y, window, groups=channels) - mu_y**2
    sxy = F.conv2d(x * y, window, groups=channels) - mu_x * mu_y
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    luminance = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
    return (luminance * cs).mean(), cs.mean()


def ms_ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Multi-scale SSIM of two (N, C, H, W) images in [0, 1], over the scales the size allows."""
    window = _gaussian_window().to(x.device)
    scales = max(1, min(len(_MS_SSIM_WEIGHTS), int(math.log2(x.shape[-1] / 11)) + 1))
    weights = torch.tensor(_MS_SSIM_WEIGHTS[:scales], device=x.device)
    weights = weights / weights.sum()
    values = []
    for scale in range(scales):
        ssim, cs = _ssim_parts(x, y, window)
        values.append(ssim if scale == scales - 1 else cs)
        if scale < scales - 1:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    stacked = torch.stack([v.clamp(min=1e-6) for v in values])
    return torch.prod(stacked**weights)


def landmark_weights(points: np.ndarray, size: int, frame: int = 1024) -> torch.Tensor:
    """A (1, 1, size, size) map of Gaussians on the five aligned points, mean 1."""
    scaled = np.asarray(points, dtype=np.float32) * (size / frame)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    sigma = size * 0.06
    weight = np.zeros((size, size), dtype=np.float32)
    for x, y in scaled:
        weight += np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2))
    weight /= max(float(weight.mean()), 1e-6)
    return torch.from_numpy(weight)[None, None]


def image_tensor(rgb: np.ndarray, size: int, device: str) -> torch.Tensor:
    """An HxWx3 uint8 RGB image -> (1, 3, size, size) float in [0, 1] on `device`."""
    tensor = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float() / 255.0
    return downsample(tensor, size).to(device)


def luminance(image: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB in [0, 1] -> (N, 1, H, W) luma (BT.601), a `target_transform`."""
    r, g, b = image[:, 0:1], image[:, 1:2], image[:, 2:3]
    return 0.299 * r + 0.587 * g + 0.114 * b


def stage_plan(settings: ProjectionSettings) -> list[int]:
    """The loss resolution of each iteration: with `progressive` (and the truncated generator)
    the iterations are split evenly over 64, 128, ... up to the resolution, coarse first (the
    low stages cost a fraction of the last); otherwise all at the resolution."""
    size, total = settings.resolution, settings.iterations
    sizes = [size]
    if settings.progressive and settings.truncated:
        sizes = [s for s in HEAD_SIZES if s < size and head_size(size) != s] + [size]
    plan: list[int] = []
    for index, stage_size in enumerate(sizes):
        plan += [stage_size] * (total * (index + 1) // len(sizes) - len(plan))
    return plan


def project(
    generator: TorchStyleGAN,
    target_rgb: np.ndarray,
    points: np.ndarray | None = None,
    settings: ProjectionSettings | None = None,
    init_w_plus: np.ndarray | None = None,
    progress: ProgressCallback | None = None,
    reconstruct: bool = True,
    checkpoints: frozenset[int] = frozenset(),
    target_transform: TargetTransform | None = None,
    loss_fn: LossFunction | None = None,
) -> Projection:
    """Fit a latent whose rendering matches `target_rgb` (a 1024 px FFHQ-aligned face).

    `points` are the five aligned landmarks (for the landmark term); `init_w_plus` warm-starts
    (the previous video frame's latent); `progress(step, total, loss)` is called every step;
    without `reconstruct` the final rendering is skipped (an empty array is kept); the latent
    after each step in `checkpoints` (0 = the start) is kept in `snapshots`. `target_transform`
    and `loss_fn` change what is compared (see the module docstring).
    """
    settings = settings or ProjectionSettings()
    device = generator.device_name
    size = settings.resolution
    layers = generator.num_layers
    active = generator.active_layers(size) if settings.truncated else layers
    total = settings.iterations
    plan = stage_plan(settings)
    targets: dict[int, tuple[torch.Tensor, torch.Tensor | None]] = {}
    for stage_size in dict.fromkeys(plan):
        target = image_tensor(target_rgb, stage_size, device)
        weights = (
            landmark_weights(points, stage_size, target_rgb.shape[0]).to(device)
            if points is not None and settings.landmark_weight > 0
            else None
        )
        if target_transform is not None:
            target = target_transform(target)
        targets[stage_size] = (target, weights)
    w_avg = generator.w_average().to(device)
    if init_w_plus is not None:
        start = torch.as_tensor(init_w_plus, dtype=torch.float32, device=device)[None]
    else:
        start = generator.broadcast(w_avg).clone()
    if settings.latent == "w":
        latent = start[:, :active].mean(dim=1, keepdim=True).clone().requires_grad_(True)
    else:
        latent = start[:, :active].clone().requires_grad_(True)

    rest = generator.broadcast(w_avg)[:, active:] if active < layers else start[:, active:]

    def full(current: torch.Tensor) -> torch.Tensor:
        # W+ for every layer: the optimized ones, then the finer layers the rendering skips.
        return torch.cat([current.expand(-1, active, -1), rest], 1)

    optimizer = torch.optim.Adam([latent], lr=settings.learning_rate, betas=(0.9, 0.999))
    losses: list[float] = []
    snapshots: dict[int, np.ndarray] = {}

    def keep(step: int) -> None:
        if step in checkpoints:
            snapshots[step] = full(latent.detach())[0].cpu().numpy().copy()

    keep(0)
    for step in range(total):
        # Cosine ramp-down of the step size over the last 25% and a short ramp-up, as in the
        # StyleGAN2 projector.
        t = step / max(total, 1)
        ramp = min(1.0, (1.0 - t) / 0.25)
        ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
        ramp *= min(1.0, t / 0.05) if total > 20 else 1.0
        for group in optimizer.param_groups:
            group["lr"] = settings.learning_rate * max(ramp, 0.05)
        w_plus = full(latent)
        stage_size = plan[step]
        target, weights = targets[stage_size]
        if settings.truncated:
            image = to_rgb01(generator.synthesize_at(w_plus, stage_size))
        else:
            image = downsample(to_rgb01(generator.synthesize(w_plus)), stage_size)
        if target_transform is not None:
            image = target_transform(image)
        loss = _loss(image, target, weights, w_plus[:, :active], w_avg, settings)
        if loss_fn is not None:
            loss = loss + loss_fn(image, target, w_plus)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        keep(step + 1)
        if progress is not None:
            progress(step + 1, total, losses[-1])
    final = full(latent.detach())
    reconstruction = np.zeros((0, 0, 3), dtype=np.uint8)
    if reconstruct:
        with torch.no_grad():
            reconstruction = to_uint8_rgb(generator.synthesize(final))
    return Projection(final[0].cpu().numpy(), reconstruction, losses, settings, snapshots)


def _loss(
    image: torch.Tensor,
    target: torch.Tensor,
    weights: torch.Tensor | None,
    w_plus: torch.Tensor,
    w_avg: torch.Tensor,
    settings: ProjectionSettings,
) -> torch.Tensor:
    diff = (image - target).abs()
    loss = image.new_zeros(()) + settings.pixel_weight * diff.mean()
    if settings.ssim_weight > 0:
        loss = loss + settings.ssim_weight * (1.0 - ms_ssim(image.clamp(0, 1), target))
    if weights is not None:
        loss = loss + settings.landmark_weight * (diff * weights).mean()
    if settings.latent_weight > 0:
        spread = (w_plus - w_plus.mean(dim=1, keepdim=True)).pow(2).mean()
        drift = (w_plus - w_avg[:, None]).pow(2).mean()
        loss = loss + settings.latent_weight * (spread + 0.1 * drift)
    return loss


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two uint8 images."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def identity_crop(aligned: np.ndarray, size: int = 160) -> np.ndarray:
    """The inner face of an FFHQ-framed image, resized for FaceNet (same crop for any face)."""
    import cv2

    side = aligned.shape[0]
    top, bottom, left, right = (round(side * f) for f in (0.22, 0.86, 0.18, 0.82))
    return cv2.resize(aligned[top:bottom, left:right], (size, size), interpolation=cv2.INTER_AREA)
