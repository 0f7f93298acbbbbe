"""One synthetic person: skeleton, and painting class ids back to front.

Every drawing call paints integer class ids into a (H, W) uint8 canvas; later strokes cover
earlier ones, so the call order below is the depth order of the body parts.
"""

from dataclasses import dataclass

import numpy as np

from .attributes import (
    COAT,
    DRESS,
    FACE,
    GLOVE,
    HAIR,
    HAT,
    JUMPSUIT,
    LARM,
    LLEG,
    LSHOE,
    PANTS,
    RARM,
    RLEG,
    RSHOE,
    SCARF,
    SKIRT,
    SOCKS,
    SUNGLASSES,
    TORSO_SKIN,
    UPPER,
)
from .primitives import _circle, _dir, _ellipse, _limb, _poly, _rot


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


def _tilted_ellipse(canvas, centre, offset, axes, lean: float, v, a0=0, a1=360) -> None:
    """Ellipse at ``centre + offset`` with ``offset`` (2,) in head-local pixels; the offset and
    the ellipse turn with the body ``lean`` (degrees)."""
    _ellipse(canvas, centre + _rot(np.array(offset), lean), axes, lean, v, a0, a1)


def _draw_long_hair_behind(canvas: np.ndarray, fig: _Figure) -> None:
    """Long hair seen from the front falls behind the shoulders: painted first."""
    if fig.a["hair"] == "long" and fig.frontal:
        head_c, rx, ry = _head_geometry(fig)
        _tilted_ellipse(canvas, head_c, (0, 0.45 * ry), (rx * 1.35, ry * 1.55), fig.a["lean"], HAIR)


def _draw_sunglasses(canvas: np.ndarray, head_c: np.ndarray, rx: float, ry: float, lean: float):
    ey = head_c + _rot(np.array([0.0, 0.05 * ry]), lean)
    for s in (-1, 1):
        _tilted_ellipse(canvas, ey, (s * 0.42 * rx, 0.0), (0.33 * rx, 0.2 * ry), lean, SUNGLASSES)
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
        hair = (0.0, -0.18 * ry)
        _tilted_ellipse(canvas, head_c, hair, (rx * 1.08, ry * 0.9), lean, HAIR, 180, 360)
        _tilted_ellipse(canvas, head_c, hair, (rx * 1.08, ry * 0.22), lean, HAIR, 0, 180)
        if a["hair"] == "bun":
            _circle(canvas, head_c + _rot(np.array([0.0, -1.05 * ry]), lean), 0.45 * rx, HAIR)
        if a["sunglasses"]:
            _draw_sunglasses(canvas, head_c, rx, ry, lean)
    else:
        _ellipse(canvas, head_c, (rx * 1.04, ry * 1.02), lean, HAIR)
        if a["hair"] == "long":
            _tilted_ellipse(canvas, head_c, (0, 0.55 * ry), (rx * 1.2, ry * 1.3), lean, HAIR)
    if a["hat"]:
        top = (0.0, -0.55 * ry)
        _tilted_ellipse(canvas, head_c, top, (rx * 1.05, ry * 0.6), lean, HAT, 180, 360)
        _tilted_ellipse(canvas, head_c, top, (rx * 1.45, ry * 0.13), lean, HAT)


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
