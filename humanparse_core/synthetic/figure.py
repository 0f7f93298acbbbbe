"""One synthetic person: attribute sampling, skeleton, and painting class ids back to front.

Every drawing call paints integer class ids into a (H, W) uint8 canvas; later strokes cover
earlier ones, so the call order below is the depth order of the body parts.
"""

from dataclasses import dataclass

import cv2
import numpy as np

from .textures import _TEX_CLOTH, _TEX_FINE, _TEX_STRANDS

# class ids shared by CIHP and LIP (LIP's 10 is Jumpsuits, CIHP's 10 is Torso-skin)
BG, HAT, HAIR, GLOVE, SUNGLASSES, UPPER, DRESS, COAT, SOCKS, PANTS = range(10)
TORSO_SKIN = JUMPSUIT = 10
SCARF, SKIRT, FACE, LARM, RARM, LLEG, RLEG, LSHOE, RSHOE = range(11, 20)
NUM_CLASSES = 20

_SKIN = np.array(
    [
        (255, 224, 196),
        (241, 194, 160),
        (224, 172, 130),
        (198, 134, 94),
        (160, 102, 66),
        (118, 74, 44),
        (84, 52, 32),
    ],
    np.float32,
)
_HAIR = np.array(
    [
        (22, 16, 12),
        (45, 30, 20),
        (80, 52, 30),
        (120, 85, 50),
        (190, 160, 105),
        (150, 150, 150),
        (140, 62, 30),
        (230, 220, 190),
    ],
    np.float32,
)
_CLOTH_CLASSES = (HAT, GLOVE, UPPER, DRESS, COAT, SOCKS, PANTS, SCARF, SKIRT)

# --------------------------------------------------------------------------------------------
# drawing primitives (sub-pixel: coordinates x16 with shift=4)
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


# --------------------------------------------------------------------------------------------
# attributes (the rng call order is part of the dataset: do not reorder the draws)
def _sample_outfit(rng, lip: bool) -> dict:
    """View, pose and clothing choices of one person."""
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
    lower = rng.choice(
        ["pants", "shorts", "skirt", "dress", "jumpsuit"]
        if lip
        else ["pants", "shorts", "skirt", "dress"],
        p=[0.45, 0.15, 0.15, 0.15, 0.10] if lip else [0.5, 0.17, 0.16, 0.17],
    )
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
    a["arm"] = {
        s: (
            float(rng.uniform(-15, 100) if rng.random() < 0.8 else rng.uniform(-35, 150)),
            float(rng.uniform(-40, 140)),
        )
        for s in (-1, 1)
    }
    walk = rng.random() < 0.5
    a["leg"] = {
        s: (
            float(rng.uniform(-6, 25 if not walk else 12)),
            float(rng.uniform(-10, 45 if walk else 15)),
        )
        for s in (-1, 1)
    }
    return a


def _sample_colors(rng, lip: bool) -> np.ndarray:
    """(NUM_CLASSES, 3) float32 RGB base colour per class."""
    skin = _SKIN[rng.integers(len(_SKIN))] * rng.uniform(0.92, 1.08)
    hairc = _HAIR[rng.integers(len(_HAIR))] * rng.uniform(0.85, 1.15)

    def cloth():
        hsv = np.uint8([[[rng.integers(0, 180), rng.integers(30, 240), rng.integers(40, 250)]]])
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)

    col = np.zeros((NUM_CLASSES, 3), np.float32)
    col[[FACE, LARM, RARM, LLEG, RLEG]] = skin
    col[TORSO_SKIN] = skin
    col[HAIR] = hairc
    for c in _CLOTH_CLASSES:
        col[c] = cloth()
    if lip:
        col[JUMPSUIT] = cloth()
    col[SUNGLASSES] = (15, 15, 20)
    shoe = cloth() * 0.45 if rng.random() < 0.6 else cloth()
    col[LSHOE] = col[RSHOE] = shoe
    return col


def _sample_textures(rng, lip: bool) -> tuple[np.ndarray, np.ndarray]:
    """(NUM_CLASSES,) texture-bank index and (NUM_CLASSES,) texture amplitude per class."""
    tex = np.zeros(NUM_CLASSES, np.int64)
    amp = np.zeros(NUM_CLASSES, np.float32)
    for c in _CLOTH_CLASSES + ((JUMPSUIT,) if lip else ()):
        tex[c] = rng.choice(_TEX_CLOTH)
        amp[c] = rng.uniform(0.08, 0.3)
    for c in (FACE, LARM, RARM, LLEG, RLEG) + (() if lip else (TORSO_SKIN,)):
        tex[c], amp[c] = _TEX_FINE, 0.04
    tex[HAIR], amp[HAIR] = _TEX_STRANDS, 0.35
    tex[LSHOE] = tex[RSHOE] = _TEX_FINE
    amp[LSHOE] = amp[RSHOE] = 0.1
    return tex, amp


def _sample_person_attrs(rng, kind: str) -> dict:
    """All random attributes of one person: outfit and pose, then colours, then textures."""
    lip = kind == "lip"
    a = _sample_outfit(rng, lip)
    a["colors"] = _sample_colors(rng, lip)
    a["tex"], a["amp"] = _sample_textures(rng, lip)
    return a


# --------------------------------------------------------------------------------------------
# skeleton and painting
@dataclass
class _Figure:
    """One person placed in the image: attributes, joints (pixels) and garment classes."""

    a: dict
    kind: str
    u: float  # person height in pixels
    pelvis: np.ndarray  # (2,) image xy
    arms: dict  # image side s in (-1, 1) -> (shoulder, elbow, wrist, hand), each (2,)
    legs: dict  # image side s -> (hip, knee, ankle), each (2,)
    upper_cls: int
    lower_cls: int | None

    @property
    def frontal(self) -> bool:
        return self.a["frontal"]

    def body(self, p) -> np.ndarray:
        """Torso-local points (units of u, y down from the pelvis) -> image, with yaw and lean."""
        p = np.asarray(p, np.float64).copy()
        p[..., 0] *= self.a["yaw"]
        return self.pelvis + _rot(p * self.u, self.a["lean"])


def _place_figure(cx: float, feet_y: float, u: float, a: dict, kind: str) -> _Figure:
    """Joints of arms and legs for a person whose ankles centre at (cx, feet_y)."""
    yaw, lean = a["yaw"], a["lean"]
    upper_cls = {"jumpsuit": JUMPSUIT, "dress": DRESS}.get(a["lower"], UPPER)
    lower_cls = {"pants": PANTS, "shorts": PANTS, "jumpsuit": JUMPSUIT}.get(a["lower"])
    fig = _Figure(a, kind, u, np.array([cx, feet_y - 0.49 * u]), {}, {}, upper_cls, lower_cls)
    for s in (-1, 1):
        abd, bend = a["arm"][s]
        shoulder = fig.body([s * 0.105, -0.315])
        th1 = s * abd + lean
        elbow = shoulder + _dir(th1) * 0.165 * u
        th2 = th1 + s * bend
        wrist = elbow + _dir(th2) * 0.15 * u
        hand = wrist + _dir(th2) * 0.035 * u
        fig.arms[s] = (shoulder, elbow, wrist, hand)
    for s in (-1, 1):
        abd, bend = a["leg"][s]
        hip = fig.pelvis + np.array([s * 0.07 * u * (0.7 + 0.3 * yaw), 0.0])
        th1 = s * abd * 0.5
        knee = hip + _dir(th1) * 0.245 * u
        th2 = th1 - s * bend * 0.4
        ankle = knee + _dir(th2) * 0.225 * u
        fig.legs[s] = (hip, knee, ankle)
    return fig


def _side_class(fig: _Figure, s: int, left: int, right: int) -> int:
    """Class of the part on image side ``s``: the person's LEFT is image right when frontal."""
    s_left = 1 if fig.frontal else -1
    return left if s == s_left else right


def _draw_arm(canvas: np.ndarray, fig: _Figure, s: int) -> None:
    """Arm on image side ``s``: skin, sleeve (of the coat or the upper garment), glove."""
    a, u = fig.a, fig.u
    sh, el, wr, ha = fig.arms[s]
    wa = (0.05 * u, 0.04 * u, 0.032 * u)
    c = _side_class(fig, s, LARM, RARM)
    _limb(canvas, sh, el, wa[0], wa[1], c)
    _limb(canvas, el, wr, wa[1], wa[2], c)
    _limb(canvas, wr, ha, wa[2], wa[2] * 1.15, c)
    _circle(canvas, ha, wa[2] * 0.8, c)
    sl = a["sleeve"]
    sc = COAT if a["coat"] else fig.upper_cls
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


def _draw_leg(canvas: np.ndarray, fig: _Figure, s: int) -> None:
    """Leg on image side ``s``: skin, socks, shoe, then the pants / shorts leg."""
    a, u, lower_cls = fig.a, fig.u, fig.lower_cls
    hp, kn, an = fig.legs[s]
    wl = (0.085 * u, 0.062 * u, 0.045 * u)
    cls_leg = _side_class(fig, s, LLEG, RLEG)
    _limb(canvas, hp, kn, wl[0], wl[1], cls_leg)
    _limb(canvas, kn, an, wl[1], wl[2], cls_leg)
    if a["socks"] and a["lower"] != "pants":
        _limb(canvas, an + (kn - an) * 0.3, an, wl[2] * 1.12, wl[2] * 1.1, SOCKS)
    shoe_c = an + np.array([s * 0.012 * u, 0.028 * u])
    _ellipse(canvas, shoe_c, (0.038 * u, 0.024 * u), s * 12.0, _side_class(fig, s, LSHOE, RSHOE))
    if lower_cls is not None:
        if a["lower"] == "shorts":
            _limb(canvas, hp, hp + (kn - hp) * 0.55, wl[0] * 1.18, wl[1] * 1.3, lower_cls)
        else:
            _limb(canvas, hp, kn, wl[0] * 1.15, wl[1] * 1.2, lower_cls)
            _limb(canvas, kn, kn + (an - kn) * 0.95, wl[1] * 1.2, wl[2] * 1.35, lower_cls)


def _draw_hips(canvas: np.ndarray, fig: _Figure) -> None:
    """Crotch block of pants, or the skirt / dress below the waist."""
    a, body = fig.a, fig.body
    if fig.lower_cls is not None:
        _poly(
            canvas,
            body([[-0.1, -0.04], [0.1, -0.04], [0.105, 0.05], [0.0, 0.085], [-0.105, 0.05]]),
            fig.lower_cls,
        )
    if a["lower"] in ("skirt", "dress"):
        hem = a["hem"]
        flare = 0.14 + 0.06 * a["yaw"]
        _poly(
            canvas,
            body([[-0.095, -0.05], [0.095, -0.05], [flare, hem], [-flare, hem]]),
            SKIRT if a["lower"] == "skirt" else DRESS,
        )


def _draw_torso(canvas: np.ndarray, fig: _Figure) -> None:
    """Neck, upper garment, V-neck skin, coat and scarf."""
    a, u, body, frontal, upper_cls = fig.a, fig.u, fig.body, fig.frontal, fig.upper_cls
    # neck: torso skin in CIHP; LIP has no torso-skin class: face when seen from the front,
    # covered by the collar of the upper garment from the back (so "face" means a frontal view)
    neck_cls = TORSO_SKIN if fig.kind != "lip" else (FACE if frontal else upper_cls)
    _limb(canvas, body([0, -0.305]), body([0, -0.37]), 0.045 * u, 0.042 * u, neck_cls, caps=False)
    torso = [
        [-0.125, -0.325],
        [-0.035, -0.34],
        [0.035, -0.34],
        [0.125, -0.325],
        [0.118, -0.2],
        [0.092, -0.06],
        [0.098, 0.0],
        [-0.098, 0.0],
        [-0.092, -0.06],
        [-0.118, -0.2],
    ]
    if a["lower"] == "jumpsuit" or fig.lower_cls is None or a["coat"]:
        _poly(canvas, body(torso), upper_cls)
    else:  # shirt slightly over the waistband
        _poly(canvas, body(torso[:6] + [[0.1, 0.02], [-0.1, 0.02]] + torso[8:]), upper_cls)
    if a["torso_skin"] and frontal and upper_cls != DRESS:
        _poly(canvas, body([[-0.04, -0.342], [0.04, -0.342], [0.0, -0.275]]), TORSO_SKIN)
    if a["coat"]:
        bottom = 0.16
        left = [
            [-0.135, -0.33],
            [-0.03, -0.345],
            [-0.03 if frontal else 0.03, bottom],
            [-0.15, bottom],
        ]
        right = [
            [0.135, -0.33],
            [0.03, -0.345],
            [0.03 if frontal else -0.03, bottom],
            [0.15, bottom],
        ]
        _poly(canvas, body(left), COAT)
        _poly(canvas, body(right), COAT)
        if not frontal:
            _poly(
                canvas,
                body([[-0.135, -0.33], [0.135, -0.33], [0.15, bottom], [-0.15, bottom]]),
                COAT,
            )
    if a["scarf"]:
        _limb(canvas, body([-0.06, -0.33]), body([0.06, -0.33]), 0.05 * u, 0.05 * u, SCARF)
        if frontal:
            _limb(canvas, body([0.03, -0.33]), body([0.045, -0.2]), 0.035 * u, 0.03 * u, SCARF)


def _head_geometry(fig: _Figure) -> tuple[np.ndarray, float, float]:
    """Head centre (2,) and the face ellipse's half axes (rx, ry) in pixels."""
    yaw, u = fig.a["yaw"], fig.u
    return fig.body([0.0, -0.425]), 0.052 * u * (0.85 + 0.15 * yaw), 0.066 * u


def _draw_long_hair_behind(canvas: np.ndarray, fig: _Figure) -> None:
    """Long hair seen from the front falls behind the shoulders: painted first."""
    if fig.a["hair"] == "long" and fig.frontal:
        head_c, rx, ry = _head_geometry(fig)
        lean = fig.a["lean"]
        _ellipse(
            canvas,
            head_c + _rot(np.array([0, 0.45 * ry]), lean),
            (rx * 1.35, ry * 1.55),
            lean,
            HAIR,
        )


def _draw_sunglasses(canvas: np.ndarray, head_c: np.ndarray, rx: float, ry: float, lean: float):
    ey = head_c + _rot(np.array([0.0, 0.05 * ry]), lean)
    for s in (-1, 1):
        _ellipse(
            canvas,
            ey + _rot(np.array([s * 0.42 * rx, 0.0]), lean),
            (0.33 * rx, 0.2 * ry),
            lean,
            SUNGLASSES,
        )
    _limb(
        canvas,
        ey + _rot(np.array([-0.5 * rx, 0]), lean),
        ey + _rot(np.array([0.5 * rx, 0]), lean),
        0.08 * ry,
        0.08 * ry,
        SUNGLASSES,
    )


def _draw_head(canvas: np.ndarray, fig: _Figure) -> None:
    """Face and hair (or the back of the head), sunglasses, hat."""
    a, lean = fig.a, fig.a["lean"]
    head_c, rx, ry = _head_geometry(fig)
    if fig.frontal:
        _ellipse(canvas, head_c, (rx, ry), lean, FACE)
        hair_c = head_c + _rot(np.array([0.0, -0.18 * ry]), lean)
        _ellipse(canvas, hair_c, (rx * 1.08, ry * 0.9), lean, HAIR, 180, 360)
        _ellipse(canvas, hair_c, (rx * 1.08, ry * 0.22), lean, HAIR, 0, 180)
        if a["hair"] == "bun":
            _circle(canvas, head_c + _rot(np.array([0.0, -1.05 * ry]), lean), 0.45 * rx, HAIR)
        if a["sunglasses"]:
            _draw_sunglasses(canvas, head_c, rx, ry, lean)
    else:
        _ellipse(canvas, head_c, (rx * 1.04, ry * 1.02), lean, HAIR)
        if a["hair"] == "long":
            _ellipse(
                canvas,
                head_c + _rot(np.array([0, 0.55 * ry]), lean),
                (rx * 1.2, ry * 1.3),
                lean,
                HAIR,
            )
    if a["hat"]:
        top = head_c + _rot(np.array([0.0, -0.55 * ry]), lean)
        _ellipse(canvas, top, (rx * 1.05, ry * 0.6), lean, HAT, 180, 360)
        _ellipse(canvas, top, (rx * 1.45, ry * 0.13), lean, HAT)


def _draw_person(
    canvas: np.ndarray, cx: float, feet_y: float, u: float, a: dict, kind: str
) -> None:
    """Paint one person's class ids into ``canvas`` (H, W) uint8, back to front.

    Args:
        cx, feet_y: image position of the point between the ankles.
        u: person height in pixels.
        a: attributes from :func:`_sample_person_attrs`.
    """
    fig = _place_figure(cx, feet_y, u, a, kind)
    _draw_long_hair_behind(canvas, fig)
    # a strongly yawed person shows the far arm behind the torso
    far = -a["near_side"] if a["yaw"] < 0.8 else None
    if far is not None:
        _draw_arm(canvas, fig, far)
    for s in (-1, 1):
        _draw_leg(canvas, fig, s)
    _draw_hips(canvas, fig)
    _draw_torso(canvas, fig)
    for s in (-1, 1) if far is None else (-far,):
        _draw_arm(canvas, fig, s)
    _draw_head(canvas, fig)
