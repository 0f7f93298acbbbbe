"""Procedural synthetic humans written in the CIHP (multi-person) or LIP (single-person) layout.

Each person is a 2-D articulated figure: head (face, hair, optional hat / sunglasses), neck, torso
clothes (upper-clothes, coat, dress or LIP jumpsuit, optional torso skin and scarf), two arms with
sleeves and optional gloves, two legs with pants / shorts / skirt, socks and shoes. Poses (arm and
leg angles, elbow and knee bends, body lean, 3/4 yaw), sizes, colours and textures are random.
A person faces the camera (face visible) or shows the back (head all hair); the person's LEFT arm,
leg and shoe are on the image RIGHT in a frontal view and on the image left in a back view, so a
horizontal flip without swapping the left/right labels produces visibly wrong labels.

Scenes: 1-5 persons (CIHP layout) painted back to front, so nearer persons occlude farther ones,
on cluttered backgrounds (gradients, floor, random textured shapes, limb-like sticks in skin and
clothing colours). Labels are painted first and the image is rendered from them, so every
foreground pixel carries exactly the drawn class (no unlabelled person pixels).

Determinism: image ``i`` of (layout, split, seed) uses ``np.random.default_rng([seed, layout, split,
i])``, so results do not depend on the number of worker processes.

Public API: :func:`render_scene`, :func:`generate_dataset`, :func:`ensure_synthetic`.
"""
import json
import logging
import os
import shutil
from multiprocessing import get_context
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["render_scene", "render_person_crop", "generate_dataset", "ensure_synthetic",
           "SYNTH_DEFAULTS", "GENERATOR_VERSION"]

GENERATOR_VERSION = 3

# class ids shared by CIHP and LIP (LIP's 10 is Jumpsuits, CIHP's 10 is Torso-skin)
BG, HAT, HAIR, GLOVE, SUNGLASSES, UPPER, DRESS, COAT, SOCKS, PANTS = range(10)
TORSO_SKIN = JUMPSUIT = 10
SCARF, SKIRT, FACE, LARM, RARM, LLEG, RLEG, LSHOE, RSHOE = range(11, 20)
NUM_CLASSES = 20

# name -> (layout, split, num_images, seed); the contract A sizes
SYNTH_DEFAULTS = {
    "synth_humans_train": ("cihp", "train", 600, 0),
    "synth_humans_val": ("cihp", "val", 100, 1),
    "synth_lip_train": ("lip", "train", 600, 0),
    "synth_lip_val": ("lip", "val", 100, 1),
}
_LAYOUT_CODE = {"cihp": 1, "lip": 2}
_SPLIT_CODE = {"train": 1, "val": 2, "test": 3}

_SKIN = np.array([(255, 224, 196), (241, 194, 160), (224, 172, 130), (198, 134, 94),
                  (160, 102, 66), (118, 74, 44), (84, 52, 32)], np.float32)
_HAIR = np.array([(22, 16, 12), (45, 30, 20), (80, 52, 30), (120, 85, 50), (190, 160, 105),
                  (150, 150, 150), (140, 62, 30), (230, 220, 190)], np.float32)

# --------------------------------------------------------------------------------------------
# texture bank: identical in every process (fixed seed); images pick random offsets into it
_BANK_SIZE = 640
_BANK: Optional[np.ndarray] = None


def _texture_bank() -> np.ndarray:
    """(T, S, S) float32 textures in [-1, 1]: 0 plain, stripes, checks, noise, weave."""
    global _BANK
    if _BANK is not None:
        return _BANK
    S = _BANK_SIZE
    rng = np.random.default_rng(12345)
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)
    tex = [np.zeros((S, S), np.float32)]
    for period in (7.0, 13.0):
        tex.append(np.sign(np.sin(2 * np.pi * yy / period)).astype(np.float32))  # horizontal stripes
        tex.append(np.sign(np.sin(2 * np.pi * xx / period)).astype(np.float32))  # vertical stripes
    tex.append(np.sign(np.sin(2 * np.pi * (xx + yy) / 11.0)).astype(np.float32))  # diagonal
    tex.append((np.sign(np.sin(2 * np.pi * xx / 12)) * np.sign(np.sin(2 * np.pi * yy / 12))).astype(np.float32))
    for sigma in (1.0, 4.0):  # fine and blotchy noise
        n = cv2.GaussianBlur(rng.standard_normal((S, S)).astype(np.float32), (0, 0), sigma)
        tex.append(n / (np.abs(n).max() + 1e-6))
    n = cv2.GaussianBlur(rng.standard_normal((S, S)).astype(np.float32), (0, 0), sigmaX=0.7, sigmaY=5.0)
    tex.append(n / (np.abs(n).max() + 1e-6))  # hair-like vertical strands
    _BANK = np.stack(tex)
    return _BANK


_TEX_PLAIN, _TEX_FINE, _TEX_BLOTCHY, _TEX_STRANDS = 0, 7, 8, 9
_TEX_CLOTH = (0, 0, 1, 2, 3, 4, 5, 6, 7, 8)


# --------------------------------------------------------------------------------------------
# drawing primitives (sub-pixel: coordinates x16 with shift=4)
_SH = 4
_SC = 16.0


def _pts(p) -> np.ndarray:
    return np.round(np.asarray(p, np.float64) * _SC).astype(np.int32).reshape(-1, 1, 2)


def _poly(canvas, pts, v):
    cv2.fillPoly(canvas, [_pts(pts)], int(v), cv2.LINE_8, _SH)


def _circle(canvas, c, r, v):
    cv2.circle(canvas, tuple(int(round(t * _SC)) for t in c), int(round(max(r, 0.5) * _SC)), int(v), -1,
               cv2.LINE_8, _SH)


def _ellipse(canvas, c, axes, angle, v, a0=0, a1=360):
    cv2.ellipse(canvas, tuple(int(round(t * _SC)) for t in c),
                tuple(int(round(max(a, 0.5) * _SC)) for a in axes), float(angle), a0, a1, int(v), -1,
                cv2.LINE_8, _SH)


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
    t = np.deg2rad(deg)
    c, s = np.cos(t), np.sin(t)
    v = np.asarray(v, np.float64)
    return np.stack([c * v[..., 0] - s * v[..., 1], s * v[..., 0] + c * v[..., 1]], -1)


# --------------------------------------------------------------------------------------------
# person model
def _sample_person_attrs(rng, kind: str) -> Dict:
    lip = kind == "lip"
    a = {}
    a["frontal"] = rng.random() < 0.75
    a["yaw"] = float(rng.uniform(0.6, 1.0)) if rng.random() < 0.5 else 1.0
    a["near_side"] = int(rng.choice([-1, 1]))  # image side that is nearer when yawed
    a["lean"] = float(np.clip(rng.normal(0, 6), -15, 15))
    a["hair"] = rng.choice(["short", "long", "bun"], p=[0.5, 0.4, 0.1])
    a["hat"] = rng.random() < 0.2
    a["sunglasses"] = a["frontal"] and rng.random() < 0.15
    a["scarf"] = rng.random() < 0.12
    a["coat"] = rng.random() < 0.3
    lower = rng.choice(["pants", "shorts", "skirt", "dress", "jumpsuit"] if lip else
                       ["pants", "shorts", "skirt", "dress"],
                       p=[0.45, 0.15, 0.15, 0.15, 0.10] if lip else [0.5, 0.17, 0.16, 0.17])
    a["lower"] = str(lower)
    if a["lower"] in ("dress", "jumpsuit"):
        a["coat"] = a["coat"] and rng.random() < 0.5
    a["sleeve"] = float(rng.choice([0.0, 0.5, 1.1, 2.2], p=[0.15, 0.3, 0.15, 0.4]))
    if a["coat"]:
        a["sleeve"] = 2.2
    a["hem"] = float(rng.uniform(0.12, 0.32))
    a["gloves"] = rng.random() < 0.1
    a["socks"] = rng.random() < 0.35
    a["torso_skin"] = (not lip) and rng.random() < 0.45  # V-neck (CIHP class 10)
    # arms: abduction (deg, outward positive) and elbow bend per image side (-1 = image left)
    a["arm"] = {s: (float(rng.uniform(-15, 100) if rng.random() < 0.8 else rng.uniform(-35, 150)),
                    float(rng.uniform(-40, 140))) for s in (-1, 1)}
    walk = rng.random() < 0.5
    a["leg"] = {s: (float(rng.uniform(-6, 25 if not walk else 12)),
                    float(rng.uniform(-10, 45 if walk else 15))) for s in (-1, 1)}
    # colours
    skin = _SKIN[rng.integers(len(_SKIN))] * rng.uniform(0.92, 1.08)
    hairc = _HAIR[rng.integers(len(_HAIR))] * rng.uniform(0.85, 1.15)

    def cloth():
        hsv = np.uint8([[[rng.integers(0, 180), rng.integers(30, 240), rng.integers(40, 250)]]])
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)

    col = np.zeros((NUM_CLASSES, 3), np.float32)
    col[[FACE, LARM, RARM, LLEG, RLEG]] = skin
    col[TORSO_SKIN] = skin
    col[HAIR] = hairc
    for c in (HAT, GLOVE, UPPER, DRESS, COAT, SOCKS, PANTS, SCARF, SKIRT):
        col[c] = cloth()
    if lip:
        col[JUMPSUIT] = cloth()
    col[SUNGLASSES] = (15, 15, 20)
    shoe = cloth() * 0.45 if rng.random() < 0.6 else cloth()
    col[LSHOE] = col[RSHOE] = shoe
    tex = np.zeros(NUM_CLASSES, np.int64)
    amp = np.zeros(NUM_CLASSES, np.float32)
    for c in (HAT, GLOVE, UPPER, DRESS, COAT, SOCKS, PANTS, SCARF, SKIRT) + ((JUMPSUIT,) if lip else ()):
        tex[c] = rng.choice(_TEX_CLOTH)
        amp[c] = rng.uniform(0.08, 0.3)
    for c in (FACE, LARM, RARM, LLEG, RLEG) + (() if lip else (TORSO_SKIN,)):
        tex[c], amp[c] = _TEX_FINE, 0.04
    tex[HAIR], amp[HAIR] = _TEX_STRANDS, 0.35
    tex[LSHOE] = tex[RSHOE] = _TEX_FINE
    amp[LSHOE] = amp[RSHOE] = 0.1
    a["colors"], a["tex"], a["amp"] = col, tex, amp
    return a


def _draw_person(canvas: np.ndarray, cx: float, feet_y: float, u: float, a: Dict, kind: str) -> None:
    """Paint one person's class ids into ``canvas`` (H, W) uint8, later strokes on top.

    Args:
        cx, feet_y: image position of the point between the ankles.
        u: person height in pixels.
        a: attributes from :func:`_sample_person_attrs`.
    """
    lip = kind == "lip"
    frontal = a["frontal"]
    sL = 1 if frontal else -1  # image-x sign of the person's LEFT side
    yaw = a["yaw"]
    near = a["near_side"]
    lean = a["lean"]
    pelvis = np.array([cx, feet_y - 0.49 * u])

    def body(p):  # torso-local (units of u, y down from pelvis) -> image, with yaw and lean
        p = np.asarray(p, np.float64).copy()
        p[..., 0] *= yaw
        return pelvis + _rot(p * u, lean)

    neck_base = body([0.0, -0.33])
    head_c = body([0.0, -0.425])
    rx, ry = 0.052 * u * (0.85 + 0.15 * yaw), 0.066 * u
    shoulder = {s: body([s * 0.105, -0.315]) for s in (-1, 1)}
    hip = {s: pelvis + np.array([s * 0.07 * u * (0.7 + 0.3 * yaw), 0.0]) for s in (-1, 1)}

    # skeleton of arms and legs, per image side s
    arm = {}
    for s in (-1, 1):
        abd, bend = a["arm"][s]
        th1 = s * abd + lean
        elbow = shoulder[s] + _dir(th1) * 0.165 * u
        th2 = th1 + s * bend
        wrist = elbow + _dir(th2) * 0.15 * u
        hand = wrist + _dir(th2) * 0.035 * u
        arm[s] = (shoulder[s], elbow, wrist, hand)
    leg = {}
    for s in (-1, 1):
        abd, bend = a["leg"][s]
        th1 = s * abd * 0.5
        knee = hip[s] + _dir(th1) * 0.245 * u
        th2 = th1 - s * bend * 0.4
        ankle = knee + _dir(th2) * 0.225 * u
        leg[s] = (hip[s], knee, ankle)

    cls_arm = {sL: LARM, -sL: RARM}
    cls_leg = {sL: LLEG, -sL: RLEG}
    cls_shoe = {sL: LSHOE, -sL: RSHOE}
    wa = (0.05 * u, 0.04 * u, 0.032 * u)
    wl = (0.085 * u, 0.062 * u, 0.045 * u)
    upper_cls = JUMPSUIT if a["lower"] == "jumpsuit" else (DRESS if a["lower"] == "dress" else UPPER)
    lower_cls = {"pants": PANTS, "shorts": PANTS, "jumpsuit": JUMPSUIT}.get(a["lower"])

    def draw_arm(s):
        sh, el, wr, ha = arm[s]
        c = cls_arm[s]
        _limb(canvas, sh, el, wa[0], wa[1], c)
        _limb(canvas, el, wr, wa[1], wa[2], c)
        _limb(canvas, wr, ha, wa[2], wa[2] * 1.15, c)
        _circle(canvas, ha, wa[2] * 0.8, c)
        sl = a["sleeve"]
        sc = COAT if a["coat"] else upper_cls
        if sl > 0:
            if sl <= 1.0:
                _limb(canvas, sh, sh + (el - sh) * sl, wa[0] * 1.25, wa[0] * 1.15, sc)
            else:
                _limb(canvas, sh, el, wa[0] * 1.25, wa[1] * 1.2, sc)
                t = min(sl - 1.0, 1.0)
                _limb(canvas, el, el + (wr - el) * t, wa[1] * 1.2, wa[2] * 1.25, sc)
        if a["gloves"]:
            _circle(canvas, ha, wa[2] * 0.95, GLOVE)
            _limb(canvas, wr, ha, wa[2] * 1.1, wa[2] * 1.3, GLOVE)

    def draw_leg(s):
        hp, kn, an = leg[s]
        _limb(canvas, hp, kn, wl[0], wl[1], cls_leg[s])
        _limb(canvas, kn, an, wl[1], wl[2], cls_leg[s])
        if a["socks"] and a["lower"] != "pants":
            _limb(canvas, an + (kn - an) * 0.3, an, wl[2] * 1.12, wl[2] * 1.1, SOCKS)
        shoe_c = an + np.array([s * 0.012 * u, 0.028 * u])
        _ellipse(canvas, shoe_c, (0.038 * u, 0.024 * u), s * 12.0, cls_shoe[s])
        if lower_cls is not None:
            if a["lower"] == "shorts":
                _limb(canvas, hp, hp + (kn - hp) * 0.55, wl[0] * 1.18, wl[1] * 1.3, lower_cls)
            else:
                _limb(canvas, hp, kn, wl[0] * 1.15, wl[1] * 1.2, lower_cls)
                _limb(canvas, kn, kn + (an - kn) * 0.95, wl[1] * 1.2, wl[2] * 1.35, lower_cls)

    # ---- back to front ----
    if a["hair"] == "long" and frontal:
        _ellipse(canvas, head_c + _rot(np.array([0, 0.45 * ry]), lean), (rx * 1.35, ry * 1.55), lean, HAIR)
    far = -near if yaw < 0.8 else None
    if far is not None:
        draw_arm(far)
    for s in (-1, 1):
        draw_leg(s)
    if lower_cls is not None:  # crotch / hip block of pants
        _poly(canvas, body([[-0.1, -0.04], [0.1, -0.04], [0.105, 0.05], [0.0, 0.085], [-0.105, 0.05]]), lower_cls)
    if a["lower"] in ("skirt", "dress"):
        hem = a["hem"]
        flare = 0.14 + 0.06 * yaw
        _poly(canvas, body([[-0.095, -0.05], [0.095, -0.05], [flare, hem], [-flare, hem]]),
              SKIRT if a["lower"] == "skirt" else DRESS)
    # neck
    # neck: torso skin in CIHP; LIP has no torso-skin class: face when seen from the front, covered
    # by the collar of the upper garment from the back (so "face" pixels always mean a frontal view)
    neck_cls = TORSO_SKIN if not lip else (FACE if frontal else upper_cls)
    _limb(canvas, body([0, -0.305]), body([0, -0.37]), 0.045 * u, 0.042 * u, neck_cls, caps=False)
    torso = [[-0.125, -0.325], [-0.035, -0.34], [0.035, -0.34], [0.125, -0.325], [0.118, -0.2],
             [0.092, -0.06], [0.098, 0.0], [-0.098, 0.0], [-0.092, -0.06], [-0.118, -0.2]]
    if a["lower"] == "jumpsuit" or lower_cls is None or a["coat"]:
        _poly(canvas, body(torso), upper_cls)
    else:  # shirt slightly over the waistband
        _poly(canvas, body(torso[:6] + [[0.1, 0.02], [-0.1, 0.02]] + torso[8:]), upper_cls)
    if a["torso_skin"] and frontal and upper_cls != DRESS:
        _poly(canvas, body([[-0.04, -0.342], [0.04, -0.342], [0.0, -0.275]]), TORSO_SKIN)
    if a["coat"]:
        bottom = 0.16
        left = [[-0.135, -0.33], [-0.03, -0.345], [-0.03 if frontal else 0.03, bottom], [-0.15, bottom]]
        right = [[0.135, -0.33], [0.03, -0.345], [0.03 if frontal else -0.03, bottom], [0.15, bottom]]
        _poly(canvas, body(left), COAT)
        _poly(canvas, body(right), COAT)
        if not frontal:
            _poly(canvas, body([[-0.135, -0.33], [0.135, -0.33], [0.15, bottom], [-0.15, bottom]]), COAT)
    if a["scarf"]:
        _limb(canvas, body([-0.06, -0.33]), body([0.06, -0.33]), 0.05 * u, 0.05 * u, SCARF)
        if frontal:
            _limb(canvas, body([0.03, -0.33]), body([0.045, -0.2]), 0.035 * u, 0.03 * u, SCARF)
    for s in ((-1, 1) if far is None else (-far,)):
        draw_arm(s)
    # head
    if frontal:
        _ellipse(canvas, head_c, (rx, ry), lean, FACE)
        hair_c = head_c + _rot(np.array([0.0, -0.18 * ry]), lean)
        _ellipse(canvas, hair_c, (rx * 1.08, ry * 0.9), lean, HAIR, 180, 360)
        _ellipse(canvas, hair_c, (rx * 1.08, ry * 0.22), lean, HAIR, 0, 180)
        if a["hair"] == "bun":
            _circle(canvas, head_c + _rot(np.array([0.0, -1.05 * ry]), lean), 0.45 * rx, HAIR)
        if a["sunglasses"]:
            ey = head_c + _rot(np.array([0.0, 0.05 * ry]), lean)
            for s in (-1, 1):
                _ellipse(canvas, ey + _rot(np.array([s * 0.42 * rx, 0.0]), lean), (0.33 * rx, 0.2 * ry), lean,
                         SUNGLASSES)
            _limb(canvas, ey + _rot(np.array([-0.5 * rx, 0]), lean), ey + _rot(np.array([0.5 * rx, 0]), lean),
                  0.08 * ry, 0.08 * ry, SUNGLASSES)
    else:
        _ellipse(canvas, head_c, (rx * 1.04, ry * 1.02), lean, HAIR)
        if a["hair"] == "long":
            _ellipse(canvas, head_c + _rot(np.array([0, 0.55 * ry]), lean), (rx * 1.2, ry * 1.3), lean, HAIR)
    if a["hat"]:
        top = head_c + _rot(np.array([0.0, -0.55 * ry]), lean)
        _ellipse(canvas, top, (rx * 1.05, ry * 0.6), lean, HAT, 180, 360)
        _ellipse(canvas, top, (rx * 1.45, ry * 0.13), lean, HAT)


# --------------------------------------------------------------------------------------------
# background
def _bank_window(rng, H: int, W: int) -> np.ndarray:
    """(T, H, W) view of the texture bank at a random offset (tiled for images larger than the bank)."""
    bank = _texture_bank()
    if H > bank.shape[1] or W > bank.shape[2]:
        bank = np.tile(bank, (1, -(-H // _BANK_SIZE), -(-W // _BANK_SIZE)))
    oy = int(rng.integers(0, bank.shape[1] - H + 1))
    ox = int(rng.integers(0, bank.shape[2] - W + 1))
    return bank[:, oy:oy + H, ox:ox + W]


def _background(rng, H: int, W: int) -> np.ndarray:
    """Cluttered background, (H, W, 3) float32 RGB: gradient, floor, textured shapes and sticks."""
    def rcol():
        return [int(v) for v in rng.integers(0, 256, 3)]

    c0, c1 = np.array(rcol(), np.float32), np.array(rcol(), np.float32)
    vertical = rng.random() < 0.7
    t = np.linspace(0, 1, H if vertical else W, dtype=np.float32)
    grad = (c0[None] * (1 - t[:, None]) + c1[None] * t[:, None]).astype(np.uint8)
    img = np.empty((H, W, 3), np.uint8)
    img[:] = grad[:, None, :] if vertical else grad[None, :, :]
    if rng.random() < 0.7:  # floor
        hy = int(rng.uniform(0.35, 0.75) * H)
        img[hy:] = (img[hy:] * 0.3 + np.array(rcol(), np.float32) * 0.7).astype(np.uint8)
    n = int(rng.integers(15, 45))
    for _ in range(n):
        r = rng.random()
        if rng.random() < 0.2:  # skin-coloured distractors
            col = [int(v) for v in _SKIN[rng.integers(len(_SKIN))]]
        else:
            col = rcol()
        x, y = int(rng.integers(-W // 8, W)), int(rng.integers(-H // 8, H))
        sz = int(rng.integers(8, max(9, min(H, W) // 3)))
        if r < 0.35:
            cv2.rectangle(img, (x, y), (x + int(rng.integers(4, sz * 2)), y + int(rng.integers(4, sz * 2))), col, -1)
        elif r < 0.6:
            cv2.ellipse(img, (x, y), (sz, int(rng.integers(3, sz + 1))), float(rng.uniform(0, 180)), 0, 360, col,
                        -1, cv2.LINE_AA)
        elif r < 0.8:  # limb-like sticks
            x2, y2 = x + int(rng.integers(-sz * 2, sz * 2)), y + int(rng.integers(-sz * 2, sz * 2))
            cv2.line(img, (x, y), (x2, y2), col, int(rng.integers(3, max(4, sz // 2))), cv2.LINE_AA)
        else:
            pts = np.stack([rng.integers(x - sz, x + sz, 5), rng.integers(y - sz, y + sz, 5)], 1).astype(np.int32)
            cv2.fillPoly(img, [pts], col, cv2.LINE_AA)
    k = int(rng.choice([_TEX_FINE, _TEX_BLOTCHY, 1, 3, 6]))
    out = img.astype(np.float32)
    out *= (1.0 + 0.12 * _bank_window(rng, H, W)[k])[:, :, None]
    return out


_NOISE: Optional[np.ndarray] = None


def _noise_window(rng, H: int, W: int) -> np.ndarray:
    """(H, W) standard-normal sensor noise from a fixed bank at a random offset."""
    global _NOISE
    if _NOISE is None:
        _NOISE = np.random.default_rng(54321).standard_normal((_BANK_SIZE, _BANK_SIZE)).astype(np.float32)
    bank = _NOISE
    if H > bank.shape[0] or W > bank.shape[1]:
        bank = np.tile(bank, (-(-H // _BANK_SIZE), -(-W // _BANK_SIZE)))
    oy = int(rng.integers(0, bank.shape[0] - H + 1))
    ox = int(rng.integers(0, bank.shape[1] - W + 1))
    return bank[oy:oy + H, ox:ox + W]


# --------------------------------------------------------------------------------------------
# scene rendering
_KEY_STRIDE = 32  # key = person * 32 + class fits uint8 for up to 7 persons


def _compose(rng, H, W, persons, kind) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Paint persons (list of (cx, feet_y, u, attrs), back to front) and render the RGB image."""
    if len(persons) > 7:
        raise ValueError("at most 7 persons per synthetic image")
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
    # renumber persons 1..N in paint order, dropping fully occluded ones
    counts = np.bincount(hum.ravel(), minlength=len(persons) + 1)
    present = [k for k in range(1, len(persons) + 1) if counts[k] > 0]
    remap = np.zeros(256, np.uint8)
    for new, old in enumerate(present, start=1):
        remap[old] = new
    keep_attrs = [persons[old - 1][3] for old in present]
    hum = cv2.LUT(hum, remap)

    img = _background(rng, H, W)
    if present:
        key = cv2.add(cv2.multiply(hum, _KEY_STRIDE), cat)  # uint8 (<= 7 * 32 + 19)
        col_lut = np.zeros((256, 3), np.float32)
        amp_lut = np.zeros(256, np.float32)
        tex_lut = np.zeros(256, np.uint8)
        for i, a in enumerate(keep_attrs, start=1):
            col_lut[i * _KEY_STRIDE:i * _KEY_STRIDE + NUM_CLASSES] = a["colors"]
            amp_lut[i * _KEY_STRIDE:i * _KEY_STRIDE + NUM_CLASSES] = a["amp"]
            tex_lut[i * _KEY_STRIDE:i * _KEY_STRIDE + NUM_CLASSES] = a["tex"]
        base = cv2.LUT(cv2.merge([key, key, key]), col_lut.reshape(1, 256, 3))
        amp = cv2.LUT(key, amp_lut.reshape(1, 256))
        tex = np.take_along_axis(_bank_window(rng, H, W), cv2.LUT(key, tex_lut)[None].astype(np.intp), 0)[0]
        # shading: darker towards region boundaries (limb outlines, overlaps)
        k3 = np.ones((3, 3), np.uint8)
        edge = (cv2.dilate(key, k3) != cv2.erode(key, k3)).astype(np.float32)
        edge = cv2.GaussianBlur(edge, (0, 0), 1.5)
        shade = (1.0 + amp * tex) * (1.0 - 0.35 * edge)
        fg = (hum > 0)[:, :, None]
        np.copyto(img, base * shade[:, :, None], where=fg)
    # global illumination, blur, sensor noise
    img *= ((1.0 + 0.1 * _bank_window(rng, H, W)[_TEX_BLOTCHY]) * float(rng.uniform(0.75, 1.15)))[:, :, None]
    img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.4, 0.9)))
    img += (_noise_window(rng, H, W) * float(rng.uniform(1.0, 5.0)))[:, :, None]
    np.clip(img, 0, 255, out=img)
    return img.astype(np.uint8), cat, hum


def render_scene(rng: np.random.Generator, image_size: int = 384, max_persons: int = 5, kind: str = "cihp"):
    """One multi-person scene, longer side ``image_size``.

    Returns:
        image (H, W, 3) uint8 RGB, category (H, W) uint8 class ids, human (H, W) uint8 ids 1..N.
    """
    aspect = rng.uniform(0.7, 1.35)  # H / W
    if aspect >= 1:
        H, W = image_size, max(64, int(round(image_size / aspect)))
    else:
        H, W = max(64, int(round(image_size * aspect))), image_size
    n = int(rng.choice(np.arange(1, max_persons + 1),
                       p=np.array([0.2, 0.3, 0.25, 0.15, 0.1][:max_persons]) /
                       sum([0.2, 0.3, 0.25, 0.15, 0.1][:max_persons])))
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


# --------------------------------------------------------------------------------------------
# dataset writer
_CIHP_SPLIT = {"train": ("Training", "train_id.txt"), "val": ("Validation", "val_id.txt"),
               "test": ("Testing", "test_id.txt")}


def _png(path: Path, arr: np.ndarray) -> None:
    if not cv2.imwrite(str(path), arr, [cv2.IMWRITE_PNG_COMPRESSION, 1]):
        raise OSError(f"could not write {path}")


def _work(args):
    root, layout, split, seed, i, image_size = args
    rng = np.random.default_rng([seed, _LAYOUT_CODE[layout], _SPLIT_CODE[split], i])
    stem = f"{split}_{i:06d}"
    root = Path(root)
    if layout == "cihp":
        img, cat, hum = render_scene(rng, image_size, kind="cihp")
        d = root / _CIHP_SPLIT[split][0]
        cv2.imwrite(str(d / "Images" / f"{stem}.jpg"), img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
        _png(d / "Category_ids" / f"{stem}.png", cat)
        _png(d / "Human_ids" / f"{stem}.png", hum)
        key = cv2.add(cv2.multiply(hum, _KEY_STRIDE), cat)
        present = np.flatnonzero(np.bincount(key.ravel(), minlength=256))
        rid_lut = np.zeros(256, np.uint8)
        rows = []
        for kk in present:
            h, c = int(kk) // _KEY_STRIDE, int(kk) % _KEY_STRIDE
            if h == 0 or c == 0:
                continue
            rid = 20 * (h - 1) + c  # the shipped CIHP convention; ids are opaque, mapped via the txt
            rid_lut[kk] = rid
            rows.append(f"{rid} {c} {h}")
        inst = cv2.LUT(key, rid_lut)
        _png(d / "Instance_ids" / f"{stem}.png", inst)
        with open(d / "Instance_ids" / f"{stem}.txt", "w") as f:
            f.write("\n".join(rows) + ("\n" if rows else ""))
    else:
        size = max(64, int(round(image_size * 2 / 3)))  # 384 -> 256
        img, cat, _ = render_person_crop(rng, size, kind="lip")
        cv2.imwrite(str(root / "TrainVal_images" / f"{split}_images" / f"{stem}.jpg"), img[:, :, ::-1],
                    [cv2.IMWRITE_JPEG_QUALITY, 92])
        _png(root / "TrainVal_parsing_annotations" / f"{split}_segmentations" / f"{stem}.png", cat)
    return stem


def _marker(root: Path, layout: str, split: str) -> Path:
    return root / f".synthetic_{layout}_{split}.json"


def _prepare_dirs(root: Path, layout: str, split: str) -> None:
    if layout == "cihp":
        d = root / _CIHP_SPLIT[split][0]
        if d.exists():
            shutil.rmtree(d)
        for sub in ("Images", "Category_ids", "Human_ids", "Instance_ids"):
            (d / sub).mkdir(parents=True, exist_ok=True)
    else:
        for top, sub in (("TrainVal_images", f"{split}_images"),
                         ("TrainVal_parsing_annotations", f"{split}_segmentations")):
            d = root / top / sub
            if d.exists():
                shutil.rmtree(d)
            d.mkdir(parents=True, exist_ok=True)


def generate_dataset(root, layout: str = "cihp", split: str = "train", num_images: int = 600, seed: int = 0,
                     image_size: int = 384, num_workers: Optional[int] = None, progress: bool = True) -> Path:
    """Write a synthetic split under ``root`` in the official CIHP or LIP layout.

    CIHP layout: ``root/{Training,Validation}/{Images,Category_ids,Human_ids,Instance_ids}`` with
    ``Instance_ids/<id>.txt`` lines ``<region_id> <class_id> <human_id>`` and ``<split>_id.txt``;
    images' longer side is ``image_size``. LIP layout: ``root/TrainVal_images/<split>_images``,
    ``root/TrainVal_parsing_annotations/<split>_segmentations``, ``root/TrainVal_images/<split>_id.txt``;
    crops of about ``2/3 * image_size`` px (256 for the default).

    The split folder is rebuilt from scratch; a marker file (written last) records the parameters.
    Returns the dataset root.
    """
    if layout not in _LAYOUT_CODE:
        raise ValueError(f"layout must be 'cihp' or 'lip', got {layout!r}")
    if split not in _SPLIT_CODE:
        raise ValueError(f"split must be one of {list(_SPLIT_CODE)}, got {split!r}")
    if num_images < 1:
        raise ValueError("num_images must be >= 1")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    marker = _marker(root, layout, split)
    if marker.exists():
        marker.unlink()
    _prepare_dirs(root, layout, split)
    jobs = [(str(root), layout, split, int(seed), i, int(image_size)) for i in range(num_images)]
    if num_workers is None:
        num_workers = min(os.cpu_count() or 1, 8)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=num_images, desc=f"synthetic {layout}/{split}", unit="img")
    stems: List[str] = []
    prev_threads = cv2.getNumThreads()
    try:
        if num_workers > 1 and num_images >= 8:
            ctx = get_context("fork") if hasattr(os, "fork") else get_context()
            with ctx.Pool(num_workers, initializer=cv2.setNumThreads, initargs=(1,)) as pool:
                for stem in pool.imap(_work, jobs, chunksize=8):
                    stems.append(stem)
                    if bar is not None:
                        bar.update(1)
        else:
            cv2.setNumThreads(1)
            for j in jobs:
                stems.append(_work(j))
                if bar is not None:
                    bar.update(1)
    finally:
        cv2.setNumThreads(prev_threads)
        if bar is not None:
            bar.close()
    if layout == "cihp":
        id_file = root / _CIHP_SPLIT[split][0] / _CIHP_SPLIT[split][1]
    else:
        id_file = root / "TrainVal_images" / f"{split}_id.txt"
    id_file.write_text("\n".join(stems) + "\n")
    marker.write_text(json.dumps({"layout": layout, "split": split, "num_images": num_images, "seed": seed,
                                  "image_size": image_size, "version": GENERATOR_VERSION}))
    return root


def _marker_matches(root: Path, layout, split, num_images, seed, image_size) -> bool:
    m = _marker(root, layout, split)
    if not m.is_file():
        return False
    try:
        info = json.loads(m.read_text())
    except (OSError, ValueError):
        return False
    return info == {"layout": layout, "split": split, "num_images": num_images, "seed": seed,
                    "image_size": image_size, "version": GENERATOR_VERSION}


def ensure_synthetic(root, layout: str, split: str, num_images: int, seed: int, image_size: int = 384,
                     progress: bool = True) -> Path:
    """Generate the split under ``root`` unless a complete one with the same parameters is there.

    A file lock (``root/.lock_<layout>_<split>``) makes concurrent callers wait for one writer, so no
    process ever reads half a dataset.
    """
    from filelock import FileLock

    root = Path(root)
    if _marker_matches(root, layout, split, num_images, seed, image_size):
        return root
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / f".lock_{layout}_{split}")):
        if not _marker_matches(root, layout, split, num_images, seed, image_size):
            logger.info("Generating synthetic %s/%s (%d images) in %s", layout, split, num_images, root)
            generate_dataset(root, layout, split, num_images, seed, image_size, progress=progress)
    return root
