"""Dense warp of a photo from moved face landmarks: thin-plate spline + `grid_sample` in torch.

The spline maps each output pixel back to the photo. Its control points are a subset of the face
mesh (outline, brows, eyelids, nose, lips) at their moved positions, plus fixed points on an
ellipse around the head and on the image border. The spline is evaluated on a coarse grid over
the head's box only and upsampled; it is multiplied by a weight that is 1 over the head and falls
to exactly 0 at the fixed ellipse, so everything outside (background, shoulders) keeps its pixels.
The neck lies between the moved chin and the fixed points below it, so it follows the head.

An opened mouth is painted: inside the moved inner-lip contour, a dark cavity with a hint of upper
(and faint lower) teeth, blended in as far as the mouth is more open than in the photo, so the lips
move apart instead of stretching over the gap.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from ml.animate.rig import (
    BROWS,
    LID_CREASES,
    LOWER_INNER,
    LOWER_LIDS,
    UPPER_INNER,
    UPPER_LIDS,
    FaceFrame,
    face_frame,
)
from ml.face_mesh import FACE_OVAL, INNER_LIPS, LEFT_EYE, RIGHT_EYE

NOSE = (1, 4, 5, 6, 168, 197, 195, 98, 327, 2, 94, 331, 102)
CHIN_AREA = (200, 199, 175, 18, 83, 313, 201, 421, 194, 418, 32, 262)
FOREHEAD_AREA = (151, 9, 108, 337, 69, 299, 104, 333)
OUTER_LIPS = (
    61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185,
)  # fmt: skip
# Mid-cheek points are left out: when the head turns they slide past the outline points in depth
# order and the spline folds between them.
CONTROLS = tuple(
    dict.fromkeys(
        FACE_OVAL + RIGHT_EYE + LEFT_EYE + sum(UPPER_LIDS + LOWER_LIDS + LID_CREASES, ())
        + sum(BROWS, ()) + NOSE + CHIN_AREA + FOREHEAD_AREA
        + OUTER_LIPS + UPPER_INNER + LOWER_INNER + (62, 292, 76, 306, 11, 16)
    )
)  # fmt: skip

RING_SEMI_AXES = (1.2, 1.05)  # the fixed ellipse, in face widths / heights from the face centre
RING_POINTS = 28
HEAD_RADIUS = 0.78  # the weight is 1 inside this fraction of the ring, falling to 0 at the ring
MAX_GRID_POINTS = 6_000  # coarse grid size for the spline (the field is smooth)
MAX_DETAIL_POINTS = 5_000  # exact evaluation around the mouth
REGULARIZATION = 1e-5  # in face-width units
MIN_CONTROL_GAP = 0.75  # pixels: of two control points closer than this, the later is dropped


class Warper:
    """Warps one photo to given landmark positions; create once per photo, call per frame."""

    def __init__(self, image: np.ndarray, landmarks: np.ndarray, device: str = "cpu") -> None:
        """`image`: HxWx3 uint8 RGB; `landmarks`: its (478, 3) face mesh."""
        import torch

        self.torch = torch
        self.device = device
        self.image = np.ascontiguousarray(image)
        self.height, self.width = image.shape[:2]
        self.source = np.asarray(landmarks, dtype=np.float64)
        self.frame = face_frame(self.source)
        self.controls = np.array(CONTROLS)
        self.fixed = self._fixed_points(self.frame)
        self.box = self._box()
        x0, y0, x1, y1 = self.box
        self.step = max(2, int(np.ceil(np.sqrt((x1 - x0) * (y1 - y0) / MAX_GRID_POINTS))))
        gx = np.arange(x0, x1 + self.step, self.step, dtype=np.float64)
        gy = np.arange(y0, y1 + self.step, self.step, dtype=np.float64)
        self.coarse_shape = (len(gy), len(gx))
        mesh_x, mesh_y = np.meshgrid(gx, gy)
        coarse = np.stack([mesh_x.ravel(), mesh_y.ravel()], axis=1)
        # Spline coordinates: centred on the face, in face widths (keeps the system and its
        # float32 evaluation well conditioned).
        self.origin = self.frame.centre[:2].copy()
        self.unit = self.frame.width
        self.coarse = torch.as_tensor(
            (coarse - self.origin) / self.unit, dtype=torch.float32, device=device
        )
        fine_x, fine_y = np.meshgrid(np.arange(x0, x1), np.arange(y0, y1))
        weight = self._head_weight(np.stack([fine_x, fine_y], axis=-1).astype(np.float64))
        self.inside = weight > 0
        # The field is upsampled from the coarse grid, weighted, and turned into grid_sample's
        # normalized coordinates in one multiply: (2 / width, 2 / height) per channel.
        scale = np.stack([weight * 2.0 / self.width, weight * 2.0 / self.height])
        self.weight = torch.as_tensor(scale, dtype=torch.float32, device=device)[None]
        self.fine_xy = torch.as_tensor(
            np.stack(
                [(fine_x - x0) / (gx[-1] - x0) * 2 - 1, (fine_y - y0) / (gy[-1] - y0) * 2 - 1],
                axis=-1,
            ),
            dtype=torch.float32,
            device=device,
        )[None]
        identity = np.stack(
            [(fine_x + 0.5) / self.width * 2 - 1, (fine_y + 0.5) / self.height * 2 - 1], axis=-1
        )
        self.identity = torch.as_tensor(identity, dtype=torch.float32, device=device)[None]
        self.coarse_sq = (self.coarse**2).sum(dim=1, keepdim=True)
        self.image_t = (
            torch.as_tensor(self.image, device=device).permute(2, 0, 1)[None].float().contiguous()
        )
        self.source_gap = _mouth_gap(self.source) / self.frame.height
        self.lip_colour, self.skin_luma = self._colours()

    # -- per frame ------------------------------------------------------------------------------

    def field(self, target: np.ndarray) -> np.ndarray:
        """Per-pixel displacement (H, W, 2) from output pixels back to the photo (for tests)."""
        with _single_thread(self.torch, self.device):
            grid = (self._grid(target) - self.identity)[0].cpu().numpy()
        full = np.zeros((self.height, self.width, 2), dtype=np.float32)
        x0, y0, x1, y1 = self.box
        full[y0:y1, x0:x1, 0] = grid[..., 0] * self.width / 2
        full[y0:y1, x0:x1, 1] = grid[..., 1] * self.height / 2
        return full

    def render(self, target: np.ndarray, blinks: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
        """The photo with its face moved to `target` (478, 3 or 2); HxWx3 uint8 RGB.

        `blinks`: how far each eye is shut (image-left eye first; 0 open, 1 closed).
        """
        with _single_thread(self.torch, self.device):
            out = self._render(target)
        target = np.asarray(target, dtype=np.float64)
        for eye, amount in enumerate(blinks):
            if amount > 0.01:
                self._close_eye(out, target, eye, min(float(amount), 1.0))
        return out

    def _close_eye(self, out: np.ndarray, target: np.ndarray, eye: int, amount: float) -> None:
        """Lower the upper lid of one eye, in place: a per-column remap across the lids.

        Between a fixed line above the eye and the lowered lid the lid's skin is stretched
        down; what stays open between the lids is the eye squeezed. Columns follow the eye line
        (u), so a tilted head blinks along its own axes.
        """
        import cv2

        u, v = self.frame.u, self.frame.v
        ring = (RIGHT_EYE, LEFT_EYE)[eye]
        corner_a, corner_b = target[ring[0], :2], target[ring[8], :2]
        upper = np.concatenate([[corner_a], target[list(UPPER_LIDS[eye]), :2], [corner_b]])
        lower = np.concatenate([[corner_a], target[list(LOWER_LIDS[eye]), :2], [corner_b]])
        up_s, up_v = upper @ u, upper @ v
        low_s, low_v = lower @ u, lower @ v
        order_u, order_l = np.argsort(up_s), np.argsort(low_s)
        opening = float(np.max(np.interp(up_s, low_s[order_l], low_v[order_l]) - up_v))
        if opening < 0.5:
            return
        reach = 1.6 * opening  # the stretched skin reaches this far above the lid
        pts = np.concatenate([upper, lower])
        x0, y0 = np.floor(pts.min(axis=0) - reach - 2).astype(int)
        x1, y1 = np.ceil(pts.max(axis=0) + 3).astype(int)
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, self.width), min(y1, self.height)
        if x1 - x0 < 2 or y1 - y0 < 2:
            return
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)
        s = xs * u[0] + ys * u[1]
        t = xs * v[0] + ys * v[1]
        inside = (s > up_s.min()) & (s < up_s.max())
        lid = np.interp(s, up_s[order_u], up_v[order_u])
        bottom = np.interp(s, low_s[order_l], low_v[order_l])
        gap = np.maximum(bottom - lid, 0.0)
        lowered = lid + 0.92 * amount * gap
        top = lid - reach
        src = t.copy()
        skin = inside & (t >= top) & (t <= lowered)
        src[skin] = top[skin] + (t[skin] - top[skin]) * (lid[skin] - top[skin]) / np.maximum(
            lowered[skin] - top[skin], 1e-6
        )
        eyeball = inside & (t > lowered) & (t <= bottom)
        src[eyeball] = lid[eyeball] + (t[eyeball] - lowered[eyeball]) * gap[eyeball] / np.maximum(
            bottom[eyeball] - lowered[eyeball], 1e-6
        )
        shift = src - t
        map_x = (xs - x0 + shift * v[0]).astype(np.float32)
        map_y = (ys - y0 + shift * v[1]).astype(np.float32)
        patch = out[y0:y1, x0:x1].copy()
        out[y0:y1, x0:x1] = cv2.remap(
            patch, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )

    def _render(self, target: np.ndarray) -> np.ndarray:
        torch = self.torch
        sampled = torch.nn.functional.grid_sample(
            self.image_t, self._grid(target), mode="bilinear", padding_mode="border",
            align_corners=False,
        )[0]  # fmt: skip
        patch = sampled.round_().clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).cpu().numpy()
        x0, y0, x1, y1 = self.box
        out = self.image.copy()
        out[y0:y1, x0:x1] = patch  # outside the head the grid is the identity: same pixels
        self._paint_mouth(out, np.asarray(target, dtype=np.float64))
        return out

    def _grid(self, target: np.ndarray):
        """grid_sample's (1, h, w, 2) sampling grid over the head's box."""
        torch = self.torch
        dst = np.concatenate([np.asarray(target, dtype=np.float64)[self.controls, :2], self.fixed])
        src = np.concatenate([self.source[self.controls, :2], self.fixed])
        keep = _separated(dst, MIN_CONTROL_GAP)
        dst, src = dst[keep], src[keep]
        dst_n = (dst - self.origin) / self.unit
        coef = _tps_solve(dst_n, src - dst)
        dst_t = torch.as_tensor(dst_n, dtype=torch.float32, device=self.device)
        w = torch.as_tensor(coef[: len(dst)], dtype=torch.float32, device=self.device)
        a = torch.as_tensor(coef[len(dst) :], dtype=torch.float32, device=self.device)
        r2 = (self.coarse_sq + (dst_t**2).sum(dim=1)[None]) - 2.0 * (self.coarse @ dst_t.T)
        r2.clamp_(min=0.0)
        kernel = torch.xlogy(r2, r2)  # r^2 log r^2 (the 1/2 is folded into the solve)
        disp = torch.addmm(a[0], kernel, w) + self.coarse @ a[1:]
        disp = disp.T.reshape(1, 2, *self.coarse_shape)
        fine = torch.nn.functional.grid_sample(
            disp, self.fine_xy, mode="bilinear", padding_mode="border", align_corners=True
        )
        self._refine(fine, np.asarray(target, dtype=np.float64), dst_t, w, a)
        return self.identity + (fine * self.weight).permute(0, 2, 3, 1)

    def _refine(self, fine, target: np.ndarray, dst_t, w, a) -> None:
        """Evaluate the spline exactly (no upsampling) around the mouth, in place.

        Lips parting from a closed mouth is a fold a few pixels wide that the coarse grid would
        blur. (Blinks are not in the spline; see `_close_eye`.)
        """
        torch = self.torch
        bx0, by0, bx1, by1 = self.box
        boxes = []
        for ring, grow in ((INNER_LIPS, 0.6),):
            pts = np.concatenate([target[list(ring), :2], self.source[list(ring), :2]])
            lo, hi = pts.min(axis=0), pts.max(axis=0)
            pad = grow * (hi - lo).max() / 2 + 2 * self.step
            x0, y0 = np.floor(lo - pad).astype(int)
            x1, y1 = np.ceil(hi + pad).astype(int)
            x0, y0, x1, y1 = max(x0, bx0), max(y0, by0), min(x1, bx1), min(y1, by1)
            if x1 - x0 >= 2 and y1 - y0 >= 2:
                boxes.append((x0, y0, x1, y1))
        if not boxes:
            return
        area = sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in boxes)
        stride = max(1, int(np.ceil(np.sqrt(area / MAX_DETAIL_POINTS))))
        for x0, y0, x1, y1 in boxes:
            xs = torch.arange(x0, x1 - 1 + stride, stride, dtype=torch.float32, device=self.device)
            ys = torch.arange(y0, y1 - 1 + stride, stride, dtype=torch.float32, device=self.device)
            gy, gx = torch.meshgrid(ys, xs, indexing="ij")
            xy = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)
            xy = (xy - torch.as_tensor(self.origin, dtype=torch.float32, device=self.device)) / (
                self.unit
            )
            r2 = (xy**2).sum(dim=1, keepdim=True) + (dst_t**2).sum(dim=1)[None]
            r2 = (r2 - 2.0 * (xy @ dst_t.T)).clamp_(min=0.0)
            exact = torch.addmm(a[0], torch.xlogy(r2, r2), w) + xy @ a[1:]
            exact = exact.T.reshape(1, 2, len(ys), len(xs))
            if stride > 1:
                # Strided samples sit at x0 + k * stride: upsample with corners aligned.
                exact = torch.nn.functional.interpolate(
                    exact, size=((len(ys) - 1) * stride + 1, (len(xs) - 1) * stride + 1),
                    mode="bilinear", align_corners=True,
                )  # fmt: skip
            fine[0, :, y0 - by0 : y1 - by0, x0 - bx0 : x1 - bx0] = exact[0, :, : y1 - y0, : x1 - x0]

    # -- set-up ---------------------------------------------------------------------------------

    def _fixed_points(self, frame: FaceFrame) -> np.ndarray:
        centre = self._ring_centre(frame)
        angles = np.linspace(0, 2 * np.pi, RING_POINTS, endpoint=False)
        a, b = RING_SEMI_AXES[0] * frame.width, RING_SEMI_AXES[1] * frame.height
        ring = (
            centre + np.outer(a * np.cos(angles), frame.u) + np.outer(b * np.sin(angles), frame.v)
        )
        w, h = self.width - 1, self.height - 1
        border = [(x * w, y * h) for x in np.linspace(0, 1, 7) for y in (0, 1)]
        border += [(x * w, y * h) for x in (0, 1) for y in np.linspace(0, 1, 7)[1:-1]]
        points = np.concatenate([ring, np.array(border)])
        return np.unique(np.round(points, 3), axis=0)

    def _ring_centre(self, frame: FaceFrame) -> np.ndarray:
        # Slightly above the mesh centre: the head (hair) reaches higher above the mesh than below.
        return frame.centre[:2] - 0.08 * frame.height * frame.v

    def _head_weight(self, xy: np.ndarray) -> np.ndarray:
        frame = self.frame
        d = xy - self._ring_centre(frame)
        a, b = RING_SEMI_AXES[0] * frame.width, RING_SEMI_AXES[1] * frame.height
        r = np.sqrt((d @ frame.u / a) ** 2 + (d @ frame.v / b) ** 2)
        t = np.clip((1.0 - r) / (1.0 - HEAD_RADIUS), 0.0, 1.0)
        return t * t * (3 - 2 * t)

    def _box(self) -> tuple[int, int, int, int]:
        frame = self.frame
        centre = self._ring_centre(frame)
        a, b = RING_SEMI_AXES[0] * frame.width, RING_SEMI_AXES[1] * frame.height
        ext_x = np.hypot(a * frame.u[0], b * frame.v[0])
        ext_y = np.hypot(a * frame.u[1], b * frame.v[1])
        x0 = int(np.clip(np.floor(centre[0] - ext_x), 0, self.width - 1))
        x1 = int(np.clip(np.ceil(centre[0] + ext_x) + 1, x0 + 1, self.width))
        y0 = int(np.clip(np.floor(centre[1] - ext_y), 0, self.height - 1))
        y1 = int(np.clip(np.ceil(centre[1] + ext_y) + 1, y0 + 1, self.height))
        return x0, y0, x1, y1

    def _colours(self) -> tuple[np.ndarray, float]:
        import cv2

        from ml.face_mesh import polygon_mask

        shape = (self.height, self.width)
        outer = polygon_mask(shape, self.source, OUTER_LIPS)
        inner = polygon_mask(shape, self.source, INNER_LIPS)
        lips = (outer > 0) & (inner == 0)
        lip = self.image[lips].mean(axis=0) if lips.any() else np.array([150.0, 80.0, 80.0])
        face = polygon_mask(shape, self.source, FACE_OVAL) > 0
        grey = cv2.cvtColor(self.image, cv2.COLOR_RGB2GRAY)
        luma = float(grey[face].mean()) if face.any() else 128.0
        return lip.astype(np.float64), luma

    # -- mouth ----------------------------------------------------------------------------------

    def _paint_mouth(self, out: np.ndarray, target: np.ndarray) -> None:
        """Paint the mouth's interior as far as it is opened beyond the photo's own opening."""
        import cv2

        gap = _mouth_gap(target) / self.frame.height
        strength = float(np.clip((gap - self.source_gap - 0.004) / 0.02, 0.0, 1.0))
        if strength <= 0:
            return
        upper = target[list(UPPER_INNER), :2]
        lower = target[list(LOWER_INNER), :2]
        ring = np.concatenate([upper, lower[::-1][1:-1]])
        x0, y0 = np.floor(ring.min(axis=0)).astype(int) - 2
        x1, y1 = np.ceil(ring.max(axis=0)).astype(int) + 3
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, self.width), min(y1, self.height)
        if x1 - x0 < 3 or y1 - y0 < 3:
            return
        mask = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
        poly = np.round((ring - (x0, y0)) * 16).astype(np.int32)
        cv2.fillPoly(mask, [poly], 255, lineType=cv2.LINE_AA, shift=4)
        mask = cv2.erode(mask, np.ones((2, 2), np.uint8))
        alpha = cv2.GaussianBlur(mask, (0, 0), 0.8).astype(np.float64) / 255.0 * strength
        # Each pixel's place between the lips: 0 at the upper inner lip, 1 at the lower.
        u = self.frame.u
        order_up, order_low = np.argsort(upper @ u), np.argsort(lower @ u)
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)
        s = xs * u[0] + ys * u[1]  # position along the mouth
        t_across = xs * -u[1] + ys * u[0]  # position down the face (along v)
        v = np.array([-u[1], u[0]])
        up_v = np.interp(s, (upper @ u)[order_up], (upper @ v)[order_up])
        low_v = np.interp(s, (lower @ u)[order_low], (lower @ v)[order_low])
        opening = np.maximum(low_v - up_v, 1e-3)
        t = np.clip((t_across - up_v) / opening, 0.0, 1.0)
        s0, s1 = (upper @ u).min(), (upper @ u).max()
        along = np.clip((s - s0) / max(s1 - s0, 1e-3), 0.0, 1.0)  # 0..1 corner to corner
        central = np.clip(1.0 - np.abs(along - 0.5) / 0.36, 0.0, 1.0)
        # Cavity: the lip colour darkened, darkest in the middle of the opening.
        depth = 0.55 + 0.45 * np.sin(np.pi * t) * central
        cavity = self.lip_colour * 0.4 * (1.0 - 0.55 * depth)[..., None]
        # The tongue: a dim lip-coloured mound over the lower part of the opening.
        tongue = (_smooth(t, 0.55, 0.9) * _smooth(central, 0.2, 0.7) * 0.55)[..., None]
        cavity = cavity * (1 - tongue) + self.lip_colour * 0.55 * tongue
        # Lower teeth: a faint band over the lower lip.
        shade = np.clip(self.skin_luma / 150.0, 0.55, 1.1)
        tooth = np.array([226.0, 220.0, 206.0]) * shade
        lower_teeth = (_smooth(t, 0.84, 0.97) * _smooth(central, 0.3, 0.7) * 0.35)[..., None]
        interior = cavity * (1 - lower_teeth) + tooth * 0.8 * lower_teeth
        depth_px = t_across - up_v  # pixels below the upper inner lip
        if self.source_gap * self.frame.height > 3.0:
            # The photo shows its own mouth interior (teeth): keep it under the upper lip as it
            # is, moved with the lip and not stretched; the rest of the opening is cavity.
            src_up = self.source[list(UPPER_INNER), :2]
            src_low = self.source[list(LOWER_INNER), :2]
            s_src = np.interp(along, np.linspace(0, 1, len(src_up)), np.arange(len(src_up)))
            k0 = np.clip(np.floor(s_src).astype(int), 0, len(src_up) - 2)
            f = (s_src - k0)[..., None]
            anchor = src_up[k0] * (1 - f) + src_up[k0 + 1] * f
            src_gap = np.linalg.norm((src_low - src_up), axis=1)
            local_gap = src_gap[k0] * (1 - f[..., 0]) + src_gap[k0 + 1] * f[..., 0]
            src_xy = anchor + depth_px[..., None] * self.frame.v
            kept = cv2.remap(
                self.image, src_xy[..., 0].astype(np.float32), src_xy[..., 1].astype(np.float32),
                cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE,
            ).astype(np.float64)  # fmt: skip
            keep = (1 - _smooth(depth_px - 0.8 * local_gap, -1.0, 2.0))[..., None]
            interior = kept * keep + interior * (1 - keep)
        else:
            # A closed mouth in the photo: a hint of upper teeth under the upper lip.
            band = min(0.05 * self.frame.height, 0.4 * float(opening.max()))
            upper_teeth = (1 - _smooth(depth_px, 0.6 * band, band)) * _smooth(central, 0.1, 0.45)
            edge = (0.75 + 0.25 * central)[..., None] * (1 - 0.3 * t)[..., None]
            teeth = (upper_teeth * 0.85)[..., None]
            interior = interior * (1 - teeth) + tooth * edge * teeth
        region = out[y0:y1, x0:x1].astype(np.float64)
        blended = region * (1 - alpha[..., None]) + interior * alpha[..., None]
        out[y0:y1, x0:x1] = np.clip(np.round(blended), 0, 255).astype(np.uint8)


@contextmanager
def _single_thread(torch, device: str) -> Iterator[None]:
    """On the CPU, run torch on one thread: these tensors are small, and on a busy machine
    torch's thread pool costs far more than it gains (measured 7x slower with 2 threads than
    with 1 at a load of 17 on 2 cores)."""
    if device != "cpu":
        yield
        return
    with _THREADS_LOCK:
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(before)


_THREADS_LOCK = threading.RLock()


def _mouth_gap(landmarks: np.ndarray) -> float:
    """Largest gap between the inner lips (pixels)."""
    pts = np.asarray(landmarks, dtype=np.float64)
    return float(
        np.linalg.norm(pts[list(LOWER_INNER), :2] - pts[list(UPPER_INNER), :2], axis=1).max()
    )


def _smooth(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _separated(points: np.ndarray, gap: float) -> np.ndarray:
    """Indices of points keeping, of any two closer than `gap`, only the first."""
    d2 = ((points[:, None, :] - points[None, :, :]) ** 2).sum(axis=-1)
    close = np.triu(d2 < gap * gap, k=1)
    return np.flatnonzero(~close.any(axis=0))


def _tps_solve(points: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Thin-plate spline coefficients (N + 3, D) interpolating `values` (N, D) at `points`."""
    n = len(points)
    r2 = ((points[:, None, :] - points[None, :, :]) ** 2).sum(axis=-1)
    kernel = r2 * np.log(r2 + 1e-300)
    system = np.zeros((n + 3, n + 3))
    system[:n, :n] = kernel + REGULARIZATION * np.eye(n)
    system[:n, n] = 1.0
    system[:n, n + 1 :] = points
    system[n, :n] = 1.0
    system[n + 1 :, :n] = points.T
    rhs = np.zeros((n + 3, values.shape[1]))
    rhs[:n] = values
    return np.linalg.solve(system, rhs)
