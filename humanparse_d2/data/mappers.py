"""Dataset mappers for human parsing (contract A), registered by name in :data:`MAPPERS`.

- :class:`InstanceParsingMapper`: top-down training, one sample per PERSON (QANet).
- :class:`WholeImageParsingMapper`: detectron2-style whole image with boxes, masks and per-person
  parsing maps (detector + parser training, evaluation, oracle boxes).
- :class:`SinglePersonParsingMapper`: whole-image single-person parsing (MMAN).

All mappers are ``@configurable`` (``Mapper(cfg, is_train)`` or explicit keyword arguments), never
return ``None`` and raise :class:`BadAnnotationError` naming the file for unreadable inputs. Left/right
labels are swapped on every horizontal flip with the record's dataset ``flip_lut``.
"""
import copy
import logging
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np
import pycocotools.mask as mask_util
import torch
from PIL import Image

from detectron2.config import configurable
from detectron2.data import MetadataCatalog
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T
from detectron2.structures import BitMasks, Boxes, BoxMode, Instances

from .affine import source_roi, warp_crop
from .catalog.common import BadAnnotationError, read_image, read_label
from .transforms import MMANRandomGeometry, ProcessRNG, RandomPersonCrop, apply_flip_lut, is_flipped

logger = logging.getLogger(__name__)

__all__ = [
    "MAPPERS",
    "register_mapper",
    "flatten_persons",
    "load_person_label",
    "InstanceParsingMapper",
    "WholeImageParsingMapper",
    "SinglePersonParsingMapper",
]

MAPPERS: Dict[str, type] = {}


def register_mapper(cls):
    """Class decorator: ``MAPPERS[cls.__name__] = cls`` (selected by ``cfg.INPUT.PARSING.MAPPER``)."""
    MAPPERS[cls.__name__] = cls
    return cls


# ---------------------------------------------------------------------------------------------
def flatten_persons(dicts: List[Dict], *, log: bool = True) -> List[Dict]:
    """One record per valid person (an epoch is a pass over persons).

    Each output record holds the image-level fields plus ``annotation`` (the person); crowd
    annotations, zero-area boxes and records without persons are dropped and counted in one log line.
    """
    out, n_crowd, n_zero, n_empty = [], 0, 0, 0
    for d in dicts:
        anns = d.get("annotations") or []
        if not anns:
            n_empty += 1
            continue
        base = {k: v for k, v in d.items() if k != "annotations"}
        for a in anns:
            if a.get("iscrowd", 0):
                n_crowd += 1
                continue
            x0, y0, x1, y1 = BoxMode.convert(list(a["bbox"]), a["bbox_mode"], BoxMode.XYXY_ABS)
            if not (x1 > x0 and y1 > y0) or a.get("area", 1.0) <= 0:
                n_zero += 1
                continue
            r = dict(base)
            r["annotation"] = a
            out.append(r)
    if log and (n_crowd or n_zero or n_empty):
        logger.warning("flatten_persons: %d persons kept; dropped %d crowd, %d zero-area; %d images without persons",
                       len(out), n_crowd, n_zero, n_empty)
    if not out and dicts:
        raise BadAnnotationError(
            f"flatten_persons: none of the {len(dicts)} images has a usable person annotation "
            "(semantic-only datasets need person boxes for top-down training)")
    return out


def load_person_label(record: Dict, ann: Dict, roi=None) -> np.ndarray:
    """The person's label map (uint8), optionally restricted to ``roi`` = (x0, y0, x1, y1).

    - CIHP layout (``human_file``): ``Category_ids * (Human_ids == parsing_id)``; other persons' pixels
      become background, 255 inside the person stays ignore. MHP-v2 records carry this layout too
      (merged from the per-person PNGs, a later person overwriting an earlier one): as in the
      official QANet code, each pixel belongs to one person in the training targets.
    - a ``person_file`` without a ``human_file``: that per-person PNG (R channel), overlaps kept.
    - single person (no human file): the Category map itself.
    """
    sl = (slice(None), slice(None)) if roi is None else (slice(roi[1], roi[3]), slice(roi[0], roi[2]))
    pf = ann.get("person_file")
    if pf and not record.get("human_file"):
        return np.ascontiguousarray(read_label(pf, channel=0)[sl]).astype(np.uint8, copy=False)
    cat_file = record.get("category_file") or record.get("sem_seg_file_name")
    if cat_file is None:
        raise BadAnnotationError(f"record {record.get('file_name')} has no label file (category_file)")
    cat = read_label(cat_file)[sl]
    hf = record.get("human_file")
    seg = ann.get("segmentation")
    # (an MHP-v2 person's RLE is its own, overlapping mask, not Human_ids == parsing_id)
    if hf and not pf and isinstance(seg, dict) and tuple(seg.get("size", ())) == tuple(read_shape(record, cat, roi)):
        # the person mask (Human_ids == parsing_id) is in the record as RLE: decoding it is ~5x
        # cheaper than decoding the Human_ids PNG
        m = mask_util.decode(seg)[sl]
        out = cat * m
    elif hf:
        hum = read_label(hf)[sl]
        if hum.shape != cat.shape:
            raise BadAnnotationError(f"{hf} and {cat_file} differ in size")
        out = np.where(hum == ann["parsing_id"], cat, 0)
    else:
        out = cat
    return np.ascontiguousarray(out).astype(np.uint8, copy=False)


def read_shape(record: Dict, cat: np.ndarray, roi) -> tuple:
    """(H, W) of the full label map (the record's size; ``cat`` itself when no roi was applied)."""
    if roi is None:
        return cat.shape
    return (record["height"], record["width"])


class _FlipLUTs:
    """flip_lut per dataset name (records carry ``dataset_name``), with a default."""

    def __init__(self, default: Optional[Sequence[int]]):
        self.default = list(default) if default is not None else None
        self._cache: Dict[str, Optional[List[int]]] = {}

    def __call__(self, record: Dict) -> Optional[List[int]]:
        name = record.get("dataset_name")
        if name is None:
            return self.default
        if name not in self._cache:
            self._cache[name] = MetadataCatalog.get(name).get("flip_lut", self.default)
        return self._cache[name]

    def __getstate__(self):
        return {"default": self.default, "_cache": self._cache}


def _default_flip_lut(cfg, is_train: bool) -> Optional[List[int]]:
    names = cfg.DATASETS.TRAIN if is_train else cfg.DATASETS.TEST
    luts = [MetadataCatalog.get(n).get("flip_lut", None) for n in names]
    luts = [tuple(lut) for lut in luts if lut is not None]
    if not luts:
        return None
    if len(set(luts)) > 1:
        logger.info("datasets %s have different flip maps; each record uses its own dataset's", list(names))
    return list(luts[0])


def _check_size(img: np.ndarray, record: Dict) -> None:
    h, w = record.get("height"), record.get("width")
    if h is not None and (img.shape[0], img.shape[1]) != (h, w):
        raise BadAnnotationError(
            f"image {record['file_name']} is {img.shape[1]}x{img.shape[0]} but its record says {w}x{h}")


# ---------------------------------------------------------------------------------------------
@register_mapper
class InstanceParsingMapper:
    """Top-down person crops (QANet training).

    Per person: the box is made ``aspect_ratio`` (w/h, 4:3 h:w) and enlarged x``box_expand``; scale,
    rotation and flip jitter (train only) give the crop box; ``cv2.warpAffine`` on the needed image
    window produces the ``crop_size`` crop (bilinear, border 0) and the label map (nearest, border 0);
    a flip swaps the dataset's left/right labels.

    Input: one record of :func:`flatten_persons` (image fields + ``annotation``); the trainer calls
    :meth:`prepare_dataset` to flatten.

    Returns:
        dict with "image" (3, H, W) float32 RGB normalised by ``pixel_mean``/``pixel_std`` (0..1
        scale), "parsing" (H, W) int64 (255 = ignore from the dataset), "affine" (2, 3) float32
        image -> crop matrix (a flip is folded in: det < 0), "box" (4,) float32 XYXY person box,
        "flipped", "file_name", "image_id", "parsing_id", "height", "width".
    """

    @configurable
    def __init__(
        self,
        is_train: bool = True,
        *,
        crop_size=(512, 384),
        box_expand: float = 1.25,
        aspect_ratio: float = 0.75,
        scale_factor: float = 0.3,
        scale_mode: str = "gaussian_clipped",
        rotation_factor: float = 40.0,
        rotation_prob: float = 0.6,
        rotation_mode: str = "gaussian_clipped",
        flip_prob: float = 0.5,
        pixel_mean=(0.485, 0.456, 0.406),
        pixel_std=(0.229, 0.224, 0.225),
        flip_lut: Optional[Sequence[int]] = None,
        seed: Optional[int] = None,
    ):
        """
        Args:
            is_train: jitter and flip only in training.
            crop_size: (H, W) of the output.
            flip_lut: default left/right LUT for records without ``dataset_name``.
            seed: seeds the augmentation RNG (None: from np.random, which detectron2 seeds per
                worker); each DataLoader worker gets its own stream either way.
            Other args: see ``INPUT.PARSING.*`` in humanparse_d2/data/config.py.
        """
        for m in (scale_mode, rotation_mode):
            if m not in ("gaussian_clipped", "uniform"):
                raise ValueError(f"augmentation mode must be 'gaussian_clipped' or 'uniform', got {m!r}")
        self.is_train = is_train
        self.crop_size = (int(crop_size[0]), int(crop_size[1]))
        self.augmentation = RandomPersonCrop(
            self.crop_size, box_expand=box_expand, aspect_ratio=aspect_ratio, scale_factor=scale_factor,
            scale_mode=scale_mode, rotation_factor=rotation_factor, rotation_prob=rotation_prob,
            rotation_mode=rotation_mode, flip_prob=flip_prob, is_train=is_train,
            rng=ProcessRNG(seed),
        )
        # normalisation as per-channel 256-entry lookup tables (RGB order): one cv2.LUT per plane
        mean = np.asarray(pixel_mean, np.float32) * 255.0
        std = np.asarray(pixel_std, np.float32) * 255.0
        v = np.arange(256, dtype=np.float32)
        self._luts = [((v - mean[c]) / std[c]).reshape(1, 256).astype(np.float32) for c in range(3)]
        self.flip_luts = _FlipLUTs(flip_lut)

    @classmethod
    def from_config(cls, cfg, is_train: bool = True):
        P = cfg.INPUT.PARSING
        return {
            "is_train": is_train,
            "crop_size": tuple(P.CROP_SIZE),
            "box_expand": P.BOX_EXPAND,
            "aspect_ratio": P.ASPECT_RATIO,
            "scale_factor": P.SCALE_FACTOR,
            "scale_mode": P.SCALE_MODE,
            "rotation_factor": P.ROTATION_FACTOR,
            "rotation_prob": P.ROTATION_PROB,
            "rotation_mode": P.ROTATION_MODE,
            "flip_prob": P.FLIP_PROB if P.FLIP else 0.0,
            "pixel_mean": tuple(P.PIXEL_MEAN),
            "pixel_std": tuple(P.PIXEL_STD),
            "flip_lut": _default_flip_lut(cfg, is_train),
        }

    @staticmethod
    def prepare_dataset(dicts: List[Dict]) -> List[Dict]:
        """Flatten image records to person records (called by the trainer's loader)."""
        return flatten_persons(dicts)

    def normalize(self, crop_bgr: np.ndarray) -> torch.Tensor:
        """(H, W, 3 or 4) uint8 BGR[A] -> (3, H, W) float32 RGB normalised."""
        b, g, r = cv2.split(crop_bgr)[:3]
        out = np.empty((3,) + crop_bgr.shape[:2], np.float32)
        for c, plane in enumerate((r, g, b)):
            out[c] = cv2.LUT(plane, self._luts[c])
        return torch.from_numpy(out)

    def __call__(self, record: Dict) -> Dict:
        ann = record.get("annotation")
        if ann is None:
            raise ValueError("InstanceParsingMapper expects person records: flatten the dataset with "
                             "humanparse_d2.data.flatten_persons (the trainer does it via prepare_dataset)")
        img = read_image(record["file_name"], "BGR")
        _check_size(img, record)
        H, W = img.shape[:2]
        box = np.asarray(BoxMode.convert(list(ann["bbox"]), ann["bbox_mode"], BoxMode.XYXY_ABS), np.float64)
        if not (box[2] > box[0] and box[3] > box[1]):
            raise BadAnnotationError(f"zero-area person box {box.tolist()} in {record['file_name']}")
        tfm = self.augmentation.get_transform_for_size((H, W), box)
        out_wh = tfm.out_size_wh
        roi = source_roi(tfm.matrix, out_wh, (H, W))
        crop = warp_crop(img, tfm.matrix, out_wh, roi=roi, four_channel_out=True)  # BGRA
        if roi is None:
            label = np.zeros((out_wh[1], out_wh[0]), np.uint8)
        else:
            lab_roi = load_person_label(record, ann, roi)
            Ms = tfm.matrix.copy()
            Ms[:, 2] += tfm.matrix[:, :2] @ np.array([roi[0], roi[1]], np.float64)
            label = warp_crop(lab_roi, Ms, out_wh, is_label=True, roi=(0, 0, lab_roi.shape[1], lab_roi.shape[0]))
        if tfm.flipped:
            label = apply_flip_lut(label, self.flip_luts(record))
        return {
            "image": self.normalize(crop),
            "parsing": torch.from_numpy(label).long(),
            "affine": torch.from_numpy(tfm.matrix.astype(np.float32)),
            "box": torch.from_numpy(box.astype(np.float32)),
            "flipped": bool(tfm.flipped),
            "file_name": record["file_name"],
            "image_id": record["image_id"],
            "parsing_id": ann.get("parsing_id"),
            "height": H,
            "width": W,
        }


# ---------------------------------------------------------------------------------------------
@register_mapper
class WholeImageParsingMapper:
    """Whole image + persons, detectron2 style (detector + parser training and evaluation).

    Augmentations come from ``detectron2.data.detection_utils.build_augmentation`` (resize shortest
    edge, random flip in training). Boxes are recomputed from the transformed person masks (exact
    after crops); persons that vanish are dropped.

    Returns:
        dict with "image" (3, H, W) uint8 in ``image_format``, "height"/"width" (original size),
        "file_name", "image_id", "sem_seg" (H, W) int64 (when labels exist) and "instances":
        Instances(gt_boxes, gt_classes (all 0), gt_parsing (N, H, W) uint8 per-person label maps,
        gt_masks BitMasks when ``use_masks``). Kept in test mode too (oracle boxes).
    """

    @configurable
    def __init__(self, is_train: bool = True, *, augmentations, image_format: str = "BGR",
                 use_masks: bool = True, flip_lut: Optional[Sequence[int]] = None):
        self.is_train = is_train
        self.augmentations = T.AugmentationList(augmentations)
        self.image_format = image_format
        self.use_masks = use_masks
        self.flip_luts = _FlipLUTs(flip_lut)

    @classmethod
    def from_config(cls, cfg, is_train: bool = True):
        return {
            "is_train": is_train,
            "augmentations": utils.build_augmentation(cfg, is_train),
            "image_format": cfg.INPUT.FORMAT,
            "use_masks": cfg.INPUT.PARSING.WHOLE_IMAGE_MASKS,
            "flip_lut": _default_flip_lut(cfg, is_train),
        }

    def __call__(self, record: Dict) -> Dict:
        record = copy.copy(record)
        fmt = self.image_format if self.image_format in ("RGB", "BGR") else "RGB"
        image = read_image(record["file_name"], fmt)
        _check_size(image, record)
        H0, W0 = image.shape[:2]
        cat_file = record.get("category_file") or record.get("sem_seg_file_name")
        cat = read_label(cat_file) if cat_file else None
        aug_input = T.AugInput(image, sem_seg=cat)
        transforms = self.augmentations(aug_input)
        image, sem = aug_input.image, aug_input.sem_seg
        H, W = image.shape[:2]
        flipped = is_flipped(transforms)
        lut = self.flip_luts(record) if flipped else None
        if sem is not None and lut is not None:
            sem = apply_flip_lut(sem, lut)
        out = {
            "file_name": record["file_name"],
            "image_id": record["image_id"],
            "height": record.get("height", H0),
            "width": record.get("width", W0),
            "image": torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1))),
        }
        if sem is not None:
            out["sem_seg"] = torch.as_tensor(sem.astype(np.int64))
        anns = [a for a in record.get("annotations", []) if not a.get("iscrowd", 0)]
        hum = None
        if record.get("human_file"):  # MHP-v2 too: one person per pixel, as the official targets
            hum = transforms.apply_segmentation(read_label(record["human_file"]))
        maps, boxes, masks = [], [], []
        for a in anns:
            if hum is not None:
                m = hum == a["parsing_id"]
                lab = np.where(m, sem, 0).astype(np.uint8)
            elif a.get("person_file"):
                lab = transforms.apply_segmentation(read_label(a["person_file"], channel=0))
                if lut is not None:
                    lab = apply_flip_lut(lab, lut)
                m = (lab > 0) & (lab != 255)
            else:  # single person: the labelled foreground
                m = (sem > 0) & (sem != 255)
                lab = np.where(m, sem, 0).astype(np.uint8)
            ys = np.flatnonzero(m.any(1))
            if ys.size == 0:
                continue
            xs = np.flatnonzero(m.any(0))
            boxes.append([xs[0], ys[0], xs[-1] + 1, ys[-1] + 1])
            maps.append(lab)
            masks.append(m)
        inst = Instances((H, W))
        inst.gt_boxes = Boxes(torch.as_tensor(np.asarray(boxes, np.float32).reshape(-1, 4)))
        inst.gt_classes = torch.zeros(len(boxes), dtype=torch.int64)
        parsing = np.stack(maps) if maps else np.zeros((0, H, W), np.uint8)
        inst.gt_parsing = torch.as_tensor(parsing)
        if self.use_masks:
            inst.gt_masks = BitMasks(torch.as_tensor(np.stack(masks) if masks else np.zeros((0, H, W), bool)))
        out["instances"] = inst
        return out


# ---------------------------------------------------------------------------------------------
_INTERP = {"lanczos": Image.LANCZOS, "bilinear": Image.BILINEAR}


@register_mapper
class SinglePersonParsingMapper:
    """Whole-image single-person parsing (MMAN).

    Training: resize ("squash" to ``load_size``^2, or shorter side to ``load_size``), pad to at least
    ``crop_size`` (image 0, label 255), crop ("mman": the code's three geometry branches; "random":
    one random square crop), horizontal flip with left/right swap. Test: resize per ``test_resize``.

    Returns:
        dict with "image" (3, h, w) float32 RGB normalised, "sem_seg" (h, w) int64 aligned with the
        image (255 = ignore/padding), "height"/"width" (original size), "file_name", "image_id",
        "flipped".
    """

    @configurable
    def __init__(self, is_train: bool = True, *, resize: str = "squash", load_size: int = 286,
                 crop_size: int = 256, crop_mode: str = "mman", branch_probs=(0.40, 0.33, 0.27),
                 rrc_area=(0.64, 1.0), rrc_aspect=(0.8, 1.25), flip: bool = True, interp: str = "lanczos",
                 test_resize: str = "squash", test_size: int = 256, pixel_mean=(0.485, 0.456, 0.406),
                 pixel_std=(0.229, 0.224, 0.225), flip_lut: Optional[Sequence[int]] = None,
                 ignore_label: int = 255, seed: Optional[int] = None, thumbnail_size: int = 0):
        # thumbnail_size > 0 (MMAN release preset): training samples also carry "mman_thumbnail",
        # (3, t, t) normalised, a LANCZOS thumbnail of the resized image *before* the crop (flipped
        # with it), the released Macro D's RGB condition.
        if resize not in ("squash", "shortest_edge"):
            raise ValueError(f"resize must be 'squash' or 'shortest_edge', got {resize!r}")
        if crop_mode not in ("mman", "random"):
            raise ValueError(f"crop_mode must be 'mman' or 'random', got {crop_mode!r}")
        if test_resize not in ("squash", "shortest_edge", "none"):
            raise ValueError(f"test_resize must be 'squash', 'shortest_edge' or 'none', got {test_resize!r}")
        self.is_train = is_train
        self.resize, self.load_size, self.crop_size = resize, int(load_size), int(crop_size)
        self.crop_mode = crop_mode
        self.flip = flip
        self.interp = _INTERP[interp]
        self.test_resize, self.test_size = test_resize, int(test_size)
        self.ignore_label = ignore_label
        self.rng = ProcessRNG(seed)  # shared with the geometry augmentation; one stream per worker
        self.geometry = MMANRandomGeometry(self.crop_size, tuple(branch_probs), tuple(rrc_area), tuple(rrc_aspect),
                                           rng=self.rng)
        self.thumbnail_size = int(thumbnail_size)
        self._mean = np.asarray(pixel_mean, np.float32) * 255.0
        self._inv_std = 1.0 / (np.asarray(pixel_std, np.float32) * 255.0)
        self.flip_luts = _FlipLUTs(flip_lut)

    @classmethod
    def from_config(cls, cfg, is_train: bool = True):
        S = cfg.INPUT.PARSING.SINGLE
        return {
            "is_train": is_train, "resize": S.RESIZE, "load_size": S.LOAD_SIZE, "crop_size": S.CROP_SIZE,
            "crop_mode": S.CROP_MODE, "branch_probs": tuple(S.BRANCH_PROBS), "rrc_area": tuple(S.RRC_AREA),
            "rrc_aspect": tuple(S.RRC_ASPECT), "flip": S.FLIP, "interp": S.INTERP,
            "test_resize": S.TEST_RESIZE, "test_size": S.TEST_SIZE,
            "pixel_mean": tuple(cfg.INPUT.PARSING.PIXEL_MEAN), "pixel_std": tuple(cfg.INPUT.PARSING.PIXEL_STD),
            "flip_lut": _default_flip_lut(cfg, is_train),
        }

    def _rng(self):
        return self.rng.get()

    def _resize_aug(self, size: int, mode: str):
        if mode == "squash":
            return T.Resize((size, size), interp=self.interp)
        if mode == "shortest_edge":
            return T.ResizeShortestEdge(size, max_size=10 ** 9, interp=self.interp)
        return None

    def __call__(self, record: Dict) -> Dict:
        image = read_image(record["file_name"], "RGB")
        _check_size(image, record)
        H0, W0 = image.shape[:2]
        lab_file = record.get("sem_seg_file_name") or record.get("category_file")
        label = read_label(lab_file).astype(np.uint8) if lab_file else np.full((H0, W0), self.ignore_label, np.uint8)
        if label.shape != (H0, W0):
            raise BadAnnotationError(f"{lab_file} size differs from the image {record['file_name']}")
        aug_input = T.AugInput(image, sem_seg=label)
        flipped = False
        if self.is_train:
            rng = self._rng()
            T.AugmentationList([self._resize_aug(self.load_size, self.resize)])(aug_input)
            img, lab = aug_input.image, aug_input.sem_seg
            t = self.thumbnail_size
            thumb = np.asarray(Image.fromarray(img).resize((t, t), Image.LANCZOS)) if t > 0 else None
            c = self.crop_size
            if img.shape[0] < c or img.shape[1] < c:  # pad: image 0, label ignore
                ph, pw = max(c - img.shape[0], 0), max(c - img.shape[1], 0)
                img = np.pad(img, ((0, ph), (0, pw), (0, 0)))
                lab = np.pad(lab, ((0, ph), (0, pw)), constant_values=self.ignore_label)
                aug_input = T.AugInput(img, sem_seg=lab)
            if self.crop_mode == "mman":
                if self.resize == "squash":
                    self.geometry(aug_input)
                else:  # branches assume a square input: crop a square first
                    T.AugmentationList([T.RandomCrop("absolute", (c, c))])(aug_input)
            else:
                h, w = aug_input.image.shape[:2]
                y0, x0 = int(rng.integers(0, h - c + 1)), int(rng.integers(0, w - c + 1))
                aug_input.transform(T.CropTransform(x0, y0, c, c))
            if self.flip and rng.random() < 0.5:
                aug_input.transform(T.HFlipTransform(aug_input.image.shape[1]))
                flipped = True
                thumb = thumb[:, ::-1] if thumb is not None else None
        else:
            aug = self._resize_aug(self.test_size, self.test_resize)
            if aug is not None:
                T.AugmentationList([aug])(aug_input)
        img, lab = aug_input.image, aug_input.sem_seg
        if flipped:
            lab = apply_flip_lut(lab, self.flip_luts(record))
        x = img.astype(np.float32)
        x -= self._mean
        x *= self._inv_std
        extra = {}
        if self.is_train and self.thumbnail_size > 0:
            th = (thumb.astype(np.float32) - self._mean) * self._inv_std
            extra["mman_thumbnail"] = torch.from_numpy(np.ascontiguousarray(th.transpose(2, 0, 1)))
        return {
            **extra,
            "image": torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))),
            "sem_seg": torch.from_numpy(lab.astype(np.int64)),
            "height": H0,
            "width": W0,
            "file_name": record["file_name"],
            "image_id": record["image_id"],
            "flipped": flipped,
        }
