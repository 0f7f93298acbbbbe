"""Per-dataset parsing metadata: class names, palettes, flip pairs, label merges.

Everything here is plain data plus a few pure helpers; ``MetadataCatalog`` entries are filled by
:func:`parsing_metadata` (one dict per dataset, never a global class attribute), so mixing datasets
with different flip maps is safe.
"""

from collections.abc import Sequence

import numpy as np

__all__ = [
    "CIHP_CLASSES",
    "LIP_CLASSES",
    "MHP_V2_CLASSES",
    "PASCAL_PERSON_PART_CLASSES",
    "PPSS_CLASSES",
    "CIHP_COLORS",
    "LIP_COLORS",
    "MHP_V2_COLORS",
    "PASCAL_PERSON_PART_COLORS",
    "PPSS_COLORS",
    "CIHP_FLIP_MAP",
    "LIP_FLIP_MAP",
    "MHP_V2_FLIP_MAP",
    "LIP_TO_PPSS_LUT",
    "PPSS_GRAY_VALUES",
    "IGNORE_LABEL",
    "make_flip_lut",
    "generated_palette",
    "class_palette",
    "parsing_metadata",
    "DATASET_FAMILIES",
]

IGNORE_LABEL = 255

# --- class lists --------------------------------------------------------------
CIHP_CLASSES = [
    "Background",
    "Hat",
    "Hair",
    "Glove",
    "Sunglasses",
    "Upper-clothes",
    "Dress",
    "Coat",
    "Socks",
    "Pants",
    "Torso-skin",
    "Scarf",
    "Skirt",
    "Face",
    "Left-arm",
    "Right-arm",
    "Left-leg",
    "Right-leg",
    "Left-shoe",
    "Right-shoe",
]
# LIP differs from CIHP only at id 10 (Jumpsuits vs Torso-skin).
LIP_CLASSES = CIHP_CLASSES[:10] + ["Jumpsuits"] + CIHP_CLASSES[11:]

MHP_V2_CLASSES = [
    "Background",
    "Cap/hat",
    "Helmet",
    "Face",
    "Hair",
    "Left-arm",
    "Right-arm",
    "Left-hand",
    "Right-hand",
    "Protector",
    "Bikini/bra",
    "Jacket/windbreaker/hoodie",
    "T-shirt",
    "Polo-shirt",
    "Sweater",
    "Singlet",
    "Torso-skin",
    "Pants",
    "Shorts/swim-shorts",
    "Skirt",
    "Stockings",
    "Socks",
    "Left-boot",
    "Right-boot",
    "Left-shoe",
    "Right-shoe",
    "Left-highheel",
    "Right-highheel",
    "Left-sandal",
    "Right-sandal",
    "Left-leg",
    "Right-leg",
    "Left-foot",
    "Right-foot",
    "Coat",
    "Dress",
    "Robe",
    "Jumpsuit",
    "Other-full-body-clothes",
    "Headwear",
    "Backpack",
    "Ball",
    "Bats",
    "Belt",
    "Bottle",
    "Carrybag",
    "Cases",
    "Sunglasses",
    "Eyewear",
    "Glove",
    "Scarf",
    "Umbrella",
    "Wallet/purse",
    "Watch",
    "Wristband",
    "Tie",
    "Other-accessary",
    "Other-upper-body-clothes",
    "Other-lower-body-clothes",
]
PASCAL_PERSON_PART_CLASSES = [
    "Background",
    "Head",
    "Torso",
    "Upper-arms",
    "Lower-arms",
    "Upper-legs",
    "Lower-legs",
]
PPSS_CLASSES = [
    "Background",
    "Hair",
    "Face",
    "Upper-clothes",
    "Arms",
    "Lower-clothes",
    "Legs",
    "Shoes",
]

# --- palettes, RGB ------------------------------------------------------------
CIHP_COLORS = [
    (0, 0, 0),
    (128, 0, 0),
    (255, 0, 0),
    (0, 85, 0),
    (170, 0, 51),
    (255, 85, 0),
    (0, 0, 85),
    (0, 119, 221),
    (85, 85, 0),
    (0, 85, 85),
    (85, 51, 0),
    (52, 86, 128),
    (0, 128, 0),
    (0, 0, 255),
    (51, 170, 221),
    (0, 255, 255),
    (85, 255, 170),
    (170, 255, 85),
    (255, 255, 0),
    (255, 170, 0),
]
LIP_COLORS = list(CIHP_COLORS)
PASCAL_PERSON_PART_COLORS = [
    (0, 0, 0),
    (128, 0, 0),
    (0, 128, 0),
    (128, 128, 0),
    (0, 0, 128),
    (128, 0, 128),
    (0, 128, 128),
]
PPSS_COLORS = [
    (0, 0, 0),
    (0, 32, 255),
    (0, 191, 255),
    (96, 255, 159),
    (255, 80, 0),
    (255, 255, 0),
    (175, 0, 0),
    (143, 0, 0),
]


def generated_palette(num_classes: int, seed: int = 59) -> list[tuple[int, int, int]]:
    """A deterministic palette: black background, then well-spread saturated colours.

    Used for MHP-v2 (no official palette; a fixed seed, 59) and for custom
    datasets registered without colours. Hues follow the golden-ratio sequence from a seeded offset,
    so neighbouring ids get distinct colours.
    """
    import colorsys

    rng = np.random.default_rng(seed)
    h0 = float(rng.random())
    colors = [(0, 0, 0)]
    for i in range(1, num_classes):
        h = (h0 + i * 0.618033988749895) % 1.0
        s = 0.55 + 0.45 * ((i * 7) % 5) / 4.0
        v = 0.6 + 0.4 * ((i * 3) % 4) / 3.0
        r, g, b = colorsys.hsv_to_rgb(h, s, v)
        colors.append((int(round(r * 255)), int(round(g * 255)), int(round(b * 255))))
    return colors


def class_palette(colors: Sequence[Sequence[int]] | None, num_classes: int) -> np.ndarray:
    """(C, 3) uint8 RGB palette: the first C of ``colors`` (a dataset's ``stuff_colors``) when
    there are at least C of them, else :func:`generated_palette` (C)."""
    if colors is not None and len(colors) >= num_classes:
        return np.asarray(colors[:num_classes], np.uint8)
    return np.asarray(generated_palette(num_classes), np.uint8)


MHP_V2_COLORS = generated_palette(len(MHP_V2_CLASSES), seed=59)

# --- flip pairs --------------------------------------------------------------
CIHP_FLIP_MAP = [(14, 15), (16, 17), (18, 19)]
LIP_FLIP_MAP = list(CIHP_FLIP_MAP)
MHP_V2_FLIP_MAP = [(5, 6), (7, 8), (22, 23), (24, 25), (26, 27), (28, 29), (30, 31), (32, 33)]

# --- LIP -> PPSS merge and PPSS gray encoding ------------------------------------
LIP_TO_PPSS_LUT = [0, 1, 1, 4, 2, 3, 3, 3, 7, 5, 3, 3, 5, 2, 4, 4, 6, 6, 7, 7]
PPSS_GRAY_VALUES = [0, 9, 19, 29, 39, 50, 60, 62]


def make_flip_lut(num_classes: int, flip_map: Sequence[Sequence[int]]) -> list[int]:
    """Permutation ``lut`` of length C with ``lut[c]`` = label of class c after a horizontal flip.

    Raises ValueError for ids outside [0, C) or a class listed in two pairs.
    """
    lut = list(range(num_classes))
    seen = set()
    for pair in flip_map:
        if len(pair) != 2:
            raise ValueError(f"flip_map entries must be (left, right) pairs, got {pair!r}")
        a, b = int(pair[0]), int(pair[1])
        for c in (a, b):
            if not 0 <= c < num_classes:
                raise ValueError(f"flip_map pair {pair!r} has id {c} outside [0, {num_classes})")
            if c in seen:
                raise ValueError(f"class {c} appears in more than one flip_map pair")
            seen.add(c)
        lut[a], lut[b] = b, a
    return lut


def parsing_metadata(
    classes: Sequence[str],
    colors: Sequence[Sequence[int]] | None = None,
    flip_map: Sequence[Sequence[int]] = (),
    *,
    evaluator_type: str = "parsing",
    **extra,
) -> dict:
    """The metadata dict of one parsing dataset (contract A fields).

    Args:
        classes: C class names, background first.
        colors: C RGB triples; a generated palette when None.
        flip_map: (left, right) id pairs.
        evaluator_type: "parsing" (multi-person, CIHP layout) or "sem_seg" (single person / semantic).
        extra: further fields (dataset_root, image_root, label_merge, box_source_default, ...).
    """
    classes = list(classes)
    C = len(classes)
    if colors is None:
        colors = generated_palette(C)
    colors = [tuple(int(v) for v in c) for c in colors]
    if len(colors) != C:
        raise ValueError(f"{len(colors)} colours given for {C} classes")
    flip_map = [tuple(int(v) for v in p) for p in flip_map]
    meta = dict(
        thing_classes=["person"],
        thing_colors=[(220, 20, 60)],
        stuff_classes=classes,
        stuff_colors=colors,
        num_parsing=C,
        flip_map=flip_map,
        flip_lut=make_flip_lut(C, flip_map),
        ignore_label=IGNORE_LABEL,
        evaluator_type=evaluator_type,
    )
    meta.update(extra)
    return meta


# family name -> (classes, colours, flip_map); used by registration and by tools.
DATASET_FAMILIES = {
    "cihp": (CIHP_CLASSES, CIHP_COLORS, CIHP_FLIP_MAP),
    "lip": (LIP_CLASSES, LIP_COLORS, LIP_FLIP_MAP),
    "mhp_v2": (MHP_V2_CLASSES, MHP_V2_COLORS, MHP_V2_FLIP_MAP),
    "pascal_person_part": (PASCAL_PERSON_PART_CLASSES, PASCAL_PERSON_PART_COLORS, []),
    "ppss": (PPSS_CLASSES, PPSS_COLORS, []),
}
