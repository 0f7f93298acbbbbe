"""Drawing of parsing results: colour overlay, palette label PNG, per-person JSON records."""

import json
from collections.abc import Sequence

import cv2
import numpy as np

from humanparse_core.metadata import class_palette

__all__ = ["palette_for", "overlay", "save_palette_png", "person_records", "draw_boxes"]


def palette_for(metadata, num_classes: int) -> np.ndarray:
    """(C, 3) uint8 RGB palette from the metadata's ``stuff_colors`` (see ``class_palette``)."""
    colors = metadata.get("stuff_colors", None) if metadata is not None else None
    return class_palette(colors, num_classes)


def overlay(
    image_rgb: np.ndarray, label_map: np.ndarray, palette: np.ndarray, alpha: float = 0.55
) -> np.ndarray:
    """Blend a class-colour map over the image on foreground pixels (H, W, 3 uint8 RGB).

    Not detectron2's ``Visualizer.draw_sem_seg``: the demo draws every video frame, and the
    Visualizer (matplotlib, one text label per segment) is about 15x slower:
    ``benchmarks/overlay_speed.py`` measured 155-176 ms against 8.8-9.3 ms (267 against 18 on a
    busy machine) for a 512x512 frame on 2 CPU cores. tools/visualize_data.py, which browses datasets,
    uses the Visualizer.
    """
    col = palette[np.clip(label_map, 0, len(palette) - 1)]
    out = image_rgb.astype(np.float32).copy()
    fg = label_map > 0
    out[fg] = (1 - alpha) * out[fg] + alpha * col[fg].astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def draw_boxes(
    image_rgb: np.ndarray, boxes: np.ndarray, scores: Sequence[float], label: str = ""
) -> np.ndarray:
    out = image_rgb.copy()
    for (x0, y0, x1, y1), s in zip(np.asarray(boxes).reshape(-1, 4), scores):
        p0, p1 = (int(round(x0)), int(round(y0))), (int(round(x1)), int(round(y1)))
        cv2.rectangle(out, p0, p1, (255, 255, 255), 1, cv2.LINE_AA)
        cv2.putText(
            out,
            f"{label}{s:.2f}",
            (p0[0] + 2, max(p0[1] + 11, 11)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.38,
            (255, 255, 255),
            1,
            cv2.LINE_AA,
        )
    return out


def save_palette_png(path: str, label_map: np.ndarray, palette: np.ndarray) -> None:
    """Palette-mode PNG: pixel values are the labels, the palette shows them in colour."""
    from PIL import Image

    im = Image.fromarray(label_map.astype(np.uint8), mode="P")
    pal = np.zeros((256, 3), np.uint8)
    pal[: len(palette)] = palette
    im.putpalette(pal.reshape(-1).tolist())
    im.save(path)


def person_records(instances, class_names: list[str] | None = None) -> list[dict]:
    """Per-person JSON records: box, scores, per-part COCO RLE and part scores."""
    from humanparse_core.io import encode_mask

    recs = []
    if len(instances) == 0:
        return recs
    boxes = instances.pred_boxes.tensor.numpy()
    maps = instances.pred_parsing.numpy()
    part_scores = instances.part_scores.numpy()
    for i in range(len(instances)):
        parts = []
        for c in np.unique(maps[i]):
            if c == 0:
                continue
            rle = encode_mask(maps[i] == c)
            parts.append(
                {
                    "class_id": int(c),
                    "class_name": class_names[c]
                    if class_names and c < len(class_names)
                    else str(int(c)),
                    "score": float(part_scores[i, c - 1]),
                    "rle": rle,
                }
            )
        rec = {
            "box_xyxy": [round(float(v), 2) for v in boxes[i]],
            "score": float(instances.scores[i]),
            "box_score": float(instances.box_scores[i]),
            "iou_score": float(instances.iou_scores[i]) if instances.has("iou_scores") else None,
            "pixel_score": float(instances.pixel_scores[i])
            if instances.has("pixel_scores")
            else None,
            "parts": parts,
        }
        recs.append(rec)
    return recs


def dump_json(path: str, obj) -> None:
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)
