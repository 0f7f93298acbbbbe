"""Class ids of the synthetic persons and the random attributes of one person (outfit, pose,
colours, textures).

The rng call order is part of the dataset: reordering a draw changes every image of a seed.
"""

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
