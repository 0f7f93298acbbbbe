"""Scenes of synthetic persons: cluttered background, label painting, shading and sensor noise.

Labels are painted first (back to front) and the RGB image is rendered from them, so every
foreground pixel carries exactly the drawn class.
"""

import cv2
import numpy as np

from .attributes import _SKIN, NUM_CLASSES, _sample_person_attrs
from .figure import _draw_person
from .textures import _TEX_BLOTCHY, _TEX_FINE, _bank_window, _noise_window

_KEY_STRIDE = 32  # key = person * 32 + class fits uint8 for up to 7 persons


def _rand_color(rng) -> list[int]:
    return [int(v) for v in rng.integers(0, 256, 3)]


def _clutter_shape(rng, img: np.ndarray, H: int, W: int) -> None:
    """One random rectangle, ellipse, limb-like stick or polygon painted into ``img``."""
    r = rng.random()
    if rng.random() < 0.2:  # skin-coloured distractors
        col = [int(v) for v in _SKIN[rng.integers(len(_SKIN))]]
    else:
        col = _rand_color(rng)
    x, y = int(rng.integers(-W // 8, W)), int(rng.integers(-H // 8, H))
    sz = int(rng.integers(8, max(9, min(H, W) // 3)))
    if r < 0.35:
        x2 = x + int(rng.integers(4, sz * 2))
        y2 = y + int(rng.integers(4, sz * 2))
        cv2.rectangle(img, (x, y), (x2, y2), col, -1)
    elif r < 0.6:
        axes = (sz, int(rng.integers(3, sz + 1)))
        cv2.ellipse(img, (x, y), axes, float(rng.uniform(0, 180)), 0, 360, col, -1, cv2.LINE_AA)
    elif r < 0.8:  # limb-like sticks
        x2, y2 = x + int(rng.integers(-sz * 2, sz * 2)), y + int(rng.integers(-sz * 2, sz * 2))
        cv2.line(img, (x, y), (x2, y2), col, int(rng.integers(3, max(4, sz // 2))), cv2.LINE_AA)
    else:
        xs = rng.integers(x - sz, x + sz, 5)
        pts = np.stack([xs, rng.integers(y - sz, y + sz, 5)], 1).astype(np.int32)
        cv2.fillPoly(img, [pts], col, cv2.LINE_AA)


def _background(rng, H: int, W: int) -> np.ndarray:
    """Cluttered background, (H, W, 3) float32 RGB: gradient, floor, textured shapes and sticks."""
    c0, c1 = np.array(_rand_color(rng), np.float32), np.array(_rand_color(rng), np.float32)
    vertical = rng.random() < 0.7
    t = np.linspace(0, 1, H if vertical else W, dtype=np.float32)
    grad = (c0[None] * (1 - t[:, None]) + c1[None] * t[:, None]).astype(np.uint8)
    img = np.empty((H, W, 3), np.uint8)
    img[:] = grad[:, None, :] if vertical else grad[None, :, :]
    if rng.random() < 0.7:  # floor
        hy = int(rng.uniform(0.35, 0.75) * H)
        img[hy:] = (img[hy:] * 0.3 + np.array(_rand_color(rng), np.float32) * 0.7).astype(np.uint8)
    n = int(rng.integers(15, 45))
    for _ in range(n):
        _clutter_shape(rng, img, H, W)
    k = int(rng.choice([_TEX_FINE, _TEX_BLOTCHY, 1, 3, 6]))
    out = img.astype(np.float32)
    out *= (1.0 + 0.12 * _bank_window(rng, H, W)[k])[:, :, None]
    return out


def _paint_labels(H: int, W: int, persons: list, kind: str) -> tuple[np.ndarray, np.ndarray, list]:
    """Paint persons back to front; returns category (H, W), human ids (H, W) and kept attrs.

    Persons are renumbered 1..N in paint order; fully occluded ones are dropped.
    """
    cat = np.zeros((H, W), np.uint8)
    hum = np.zeros((H, W), np.uint8)
    canvas = np.zeros((H, W), np.uint8)
    for k, (cx, fy, u, a) in enumerate(persons, start=1):
        _draw_person(canvas, cx, fy, u, a, kind)
        x, y, w, h = cv2.boundingRect(canvas)
        if w == 0 or h == 0:
            continue
        sl = (slice(y, y + h), slice(x, x + w))
        c = canvas[sl]
        m = c > 0
        np.copyto(cat[sl], c, where=m)
        np.copyto(hum[sl], np.uint8(k), where=m)
        c.fill(0)
    counts = np.bincount(hum.ravel(), minlength=len(persons) + 1)
    present = [k for k in range(1, len(persons) + 1) if counts[k] > 0]
    remap = np.zeros(256, np.uint8)
    for new, old in enumerate(present, start=1):
        remap[old] = new
    keep_attrs = [persons[old - 1][3] for old in present]
    return cat, cv2.LUT(hum, remap), keep_attrs


def _paint_persons(rng, img: np.ndarray, cat: np.ndarray, hum: np.ndarray, attrs: list) -> None:
    """Render person pixels of ``img`` (H, W, 3) float32 in place: colour x texture x edge shade."""
    H, W = cat.shape
    key = cv2.add(cv2.multiply(hum, _KEY_STRIDE), cat)  # uint8 (<= 7 * 32 + 19)
    col_lut = np.zeros((256, 3), np.float32)
    amp_lut = np.zeros(256, np.float32)
    tex_lut = np.zeros(256, np.uint8)
    for i, a in enumerate(attrs, start=1):
        col_lut[i * _KEY_STRIDE : i * _KEY_STRIDE + NUM_CLASSES] = a["colors"]
        amp_lut[i * _KEY_STRIDE : i * _KEY_STRIDE + NUM_CLASSES] = a["amp"]
        tex_lut[i * _KEY_STRIDE : i * _KEY_STRIDE + NUM_CLASSES] = a["tex"]
    base = cv2.LUT(cv2.merge([key, key, key]), col_lut.reshape(1, 256, 3))
    amp = cv2.LUT(key, amp_lut.reshape(1, 256))
    tex_idx = cv2.LUT(key, tex_lut)[None].astype(np.intp)
    tex = np.take_along_axis(_bank_window(rng, H, W), tex_idx, 0)[0]
    # shading: darker towards region boundaries (limb outlines, overlaps)
    k3 = np.ones((3, 3), np.uint8)
    edge = (cv2.dilate(key, k3) != cv2.erode(key, k3)).astype(np.float32)
    edge = cv2.GaussianBlur(edge, (0, 0), 1.5)
    shade = (1.0 + amp * tex) * (1.0 - 0.35 * edge)
    fg = (hum > 0)[:, :, None]
    np.copyto(img, base * shade[:, :, None], where=fg)


def _compose(rng, H, W, persons, kind) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Paint persons (list of (cx, feet_y, u, attrs), back to front) and render the RGB image.

    Returns image (H, W, 3) uint8 RGB, category (H, W) uint8, human (H, W) uint8 ids 1..N.
    """
    if len(persons) > 7:
        raise ValueError("at most 7 persons per synthetic image")
    cat, hum, keep_attrs = _paint_labels(H, W, persons, kind)
    img = _background(rng, H, W)
    if keep_attrs:
        _paint_persons(rng, img, cat, hum, keep_attrs)
    # global illumination, blur, sensor noise
    light = (1.0 + 0.1 * _bank_window(rng, H, W)[_TEX_BLOTCHY]) * float(rng.uniform(0.75, 1.15))
    img *= light[:, :, None]
    img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.4, 0.9)))
    img += (_noise_window(rng, H, W) * float(rng.uniform(1.0, 5.0)))[:, :, None]
    np.clip(img, 0, 255, out=img)
    return img.astype(np.uint8), cat, hum


def render_scene(
    rng: np.random.Generator, image_size: int = 384, max_persons: int = 5, kind: str = "cihp"
):
    """One multi-person scene, longer side ``image_size``.

    Returns:
        image (H, W, 3) uint8 RGB, category (H, W) uint8 class ids, human (H, W) uint8 ids 1..N.
    """
    aspect = rng.uniform(0.7, 1.35)  # H / W
    if aspect >= 1:
        H, W = image_size, max(64, int(round(image_size / aspect)))
    else:
        H, W = max(64, int(round(image_size * aspect))), image_size
    weights = [0.2, 0.3, 0.25, 0.15, 0.1][:max_persons]
    n = int(rng.choice(np.arange(1, max_persons + 1), p=np.array(weights) / sum(weights)))
    persons = []
    for _ in range(n):
        u = float(rng.uniform(0.35, 1.0)) * H
        fy = float(rng.uniform(0.5 * H + 0.4 * u, H + 0.3 * u))
        cx = float(rng.uniform(0.05, 0.95)) * W
        persons.append((cx, fy, u, _sample_person_attrs(rng, kind)))
    persons.sort(key=lambda p: p[1])  # farther (feet higher) first
    return _compose(rng, H, W, persons, kind)


def render_person_crop(rng: np.random.Generator, size: int = 256, kind: str = "lip"):
    """One single-person crop (LIP style): full body, or upper body cut at the bottom edge.

    Returns image (H, W, 3) uint8 RGB, category (H, W) uint8, human (H, W) uint8 (1 on the person).
    """
    H = int(round(size * rng.uniform(0.9, 1.1)))
    W = int(round(H * rng.uniform(0.55, 1.0)))
    if rng.random() < 0.65:
        u = H * rng.uniform(0.78, 0.95)
        fy = H * 0.5 + u * 0.5 + rng.uniform(-0.03, 0.03) * H
    else:  # half body
        u = H * rng.uniform(1.3, 2.0)
        fy = u * 0.93 + rng.uniform(0.0, 0.05) * H
    cx = W * rng.uniform(0.42, 0.58)
    a = _sample_person_attrs(rng, kind)
    return _compose(rng, H, W, [(cx, fy, u, a)], kind)
