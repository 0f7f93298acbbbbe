"""Drawing primitives that paint one integer class id into a (H, W) uint8 canvas.

Coordinates are sub-pixel: OpenCV draws them x16 with ``shift=4``, so thin parts of small persons
keep their shape.
"""

import cv2
import numpy as np

_SH = 4
_SC = 16.0


def _pts(p) -> np.ndarray:
    return np.round(np.asarray(p, np.float64) * _SC).astype(np.int32).reshape(-1, 1, 2)


def _poly(canvas, pts, v):
    cv2.fillPoly(canvas, [_pts(pts)], int(v), cv2.LINE_8, _SH)


def _circle(canvas, c, r, v):
    cv2.circle(
        canvas,
        tuple(int(round(t * _SC)) for t in c),
        int(round(max(r, 0.5) * _SC)),
        int(v),
        -1,
        cv2.LINE_8,
        _SH,
    )


def _ellipse(canvas, c, axes, angle, v, a0=0, a1=360):
    cv2.ellipse(
        canvas,
        tuple(int(round(t * _SC)) for t in c),
        tuple(int(round(max(a, 0.5) * _SC)) for a in axes),
        float(angle),
        a0,
        a1,
        int(v),
        -1,
        cv2.LINE_8,
        _SH,
    )


def _limb(canvas, p0, p1, w0, w1, v, caps=True):
    """Tapered segment from p0 (width w0) to p1 (width w1) with round caps."""
    p0 = np.asarray(p0, np.float64)
    p1 = np.asarray(p1, np.float64)
    d = p1 - p0
    n = np.hypot(*d)
    if n < 1e-6:
        _circle(canvas, p0, max(w0, w1) / 2, v)
        return
    nx = np.array([-d[1], d[0]]) / n
    _poly(canvas, [p0 + nx * w0 / 2, p1 + nx * w1 / 2, p1 - nx * w1 / 2, p0 - nx * w0 / 2], v)
    if caps:
        _circle(canvas, p0, w0 / 2, v)
        _circle(canvas, p1, w1 / 2, v)


def _dir(theta_deg: float) -> np.ndarray:
    """Unit vector at angle theta from straight down (image coords, +theta towards +x)."""
    t = np.deg2rad(theta_deg)
    return np.array([np.sin(t), np.cos(t)])


def _rot(v, deg):
    """Rotate (..., 2) vectors by ``deg`` degrees."""
    t = np.deg2rad(deg)
    c, s = np.cos(t), np.sin(t)
    v = np.asarray(v, np.float64)
    return np.stack([c * v[..., 0] - s * v[..., 1], s * v[..., 0] + c * v[..., 1]], -1)
