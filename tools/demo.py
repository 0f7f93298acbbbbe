#!/usr/bin/env python
"""Parse people in images, folders and videos with a trained humanparse_d2 model; no annotations.

    python tools/demo.py --config-file projects/QANet/configs/quick/QANet_R18_synth.yaml --whole-image-box \\
        --input photo.jpg photos/ clip.mp4 --output out/ --opts MODEL.WEIGHTS model_final.pth

QANet needs person boxes: its config's detector (MODEL.QANET.BOX_SOURCE detector, e.g. detectron2's
COCO Faster R-CNN), a COCO results JSON (--box-file, matched on the image file stem), or one box
per image (--whole-image-box, for single-person photos). Ground-truth ("oracle") boxes need
annotations and are refused here. Models that return a semantic map ("sem_seg", e.g. MMAN) are
drawn from it; for one person per photo, e.g. the released MMAN LIP model after conversion:

    python tools/demo.py --config-file projects/MMAN/configs/LIP/mman_R101_30ep_release.yaml \\
        --input photo.jpg --output out/ --opts MODEL.WEIGHTS mman_lip_release.pth

Per image: <stem>_overlay.jpg (colour overlay, person boxes and QAM scores), <stem>_label.png
(palette PNG whose pixel values are the class ids) and <stem>.json (per person: box, scores, part
scores and per-part COCO RLE). Per video: <stem>_parsed.mp4 and <stem>.jsonl (one line per frame).
Unreadable files and broken video frames are reported and counted, never fatal.
"""

import argparse
import json
import logging
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

IMAGE_EXT = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm"}
VIDEO_EXT = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"}

logger = logging.getLogger("humanparse_d2.demo")


def expand_inputs(paths):
    """Files, folders (images and videos inside, sorted) -> [(path, kind)]; missing paths reported."""
    items, missing = [], []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            for f in sorted(p.iterdir()):
                ext = f.suffix.lower()
                if f.is_file() and ext in IMAGE_EXT | VIDEO_EXT:
                    items.append((f, "video" if ext in VIDEO_EXT else "image"))
        elif p.is_file():
            items.append((p, "video" if p.suffix.lower() in VIDEO_EXT else "image"))
        else:
            missing.append(str(p))
    return items, missing


class Predictor:
    """Model + drawing for one RGB frame.

    Not detectron2's ``DefaultPredictor``: that one resizes the frame to ``INPUT.MIN_SIZE_TEST``
    and loads weights with ``DetectionCheckpointer``; the demo feeds the original frame (QANet crops
    each person out of it) and loads with ``HumanParseCheckpointer``, which refuses backbone-only
    weights and warns about untrained parameters.
    """

    def __init__(self, cfg):
        import torch
        from detectron2.data import MetadataCatalog

        from humanparse_d2.projects.qanet.visualize import palette_for

        self.cfg = cfg
        self.model = _load_model(cfg)
        self.format = cfg.INPUT.FORMAT
        names = list(cfg.DATASETS.TEST) + list(cfg.DATASETS.TRAIN)
        self.meta = MetadataCatalog.get(names[0]) if names else None
        self.num_classes = getattr(self.model, "num_classes", None) or (
            self.meta.get("num_parsing", 20) if self.meta is not None else 20
        )
        self.class_names = self.meta.get("stuff_classes", None) if self.meta is not None else None
        self.palette = palette_for(self.meta, self.num_classes)
        self.torch = torch

    def __call__(self, rgb, image_id):
        """(H, W, 3) uint8 RGB frame -> (overlay (H, W, 3) RGB, label (H, W) uint8, JSON info)."""
        import numpy as np

        arr = rgb[:, :, ::-1] if self.format == "BGR" else rgb
        t = self.torch.as_tensor(np.ascontiguousarray(arr.transpose(2, 0, 1)))
        inp = {"image": t, "height": rgb.shape[0], "width": rgb.shape[1], "image_id": image_id}
        with self.torch.no_grad():
            out = self.model([inp])[0]
        if "instances" in out and out["instances"].has("pred_parsing"):
            return self._draw_persons(rgb, out["instances"].to("cpu"))
        if "sem_seg" in out:
            return self._draw_semantic(rgb, out["sem_seg"].argmax(0).to("cpu").numpy())
        raise RuntimeError(
            f"the model returned {sorted(out)}; expected 'instances' with pred_parsing or 'sem_seg'"
        )

    def _draw_persons(self, rgb, inst):
        """Parsing NMS + global map of the persons (the evaluator's post-processing), drawn."""
        from humanparse_d2.modeling import parsing_postprocess
        from humanparse_d2.projects.qanet.visualize import draw_boxes, overlay, person_records

        ev = self.cfg.HUMANPARSE_EVALUATION
        res = parsing_postprocess(
            inst.pred_parsing,
            inst.scores,
            inst.box_scores if inst.has("box_scores") else None,
            inst.part_scores if inst.has("part_scores") else None,
            self.num_classes,
            semseg_score_thresh=ev.SEMSEG_SCORE_THRESH,
            nms_thresh=ev.PARSING_NMS_THRESH,
            score_thresh=ev.SCORE_THRESH,
            image_size=inst.image_size,
        )
        keep = [int(i) for i in res.person_indices]
        label = res.global_map
        vis = overlay(rgb, label, self.palette)
        boxes = inst.pred_boxes.tensor.numpy()[keep]
        vis = draw_boxes(vis, boxes, inst.scores.numpy()[keep], "q=")
        persons = person_records(inst[keep], self.class_names) if keep else []
        info = {"box_source": getattr(self.model, "box_source", None), "persons": persons}
        return vis, label, info

    def _draw_semantic(self, rgb, label):
        """A semantic (H, W) class map (e.g. MMAN): overlay and per-class COCO RLE."""
        import numpy as np

        from humanparse_core.io import encode_mask
        from humanparse_d2.projects.qanet.visualize import overlay

        label = label.astype(np.uint8)
        vis = overlay(rgb, label, self.palette)
        names = self.class_names
        parts = []
        for c in np.unique(label):
            if c == 0:
                continue
            name = names[c] if names and c < len(names) else str(int(c))
            parts.append({"class_id": int(c), "class_name": name, "rle": encode_mask(label == c)})
        info = {"classes_present": [p["class_id"] for p in parts], "parts": parts}
        return vis, label, info


def _load_model(cfg):
    """``build_model`` + ``HumanParseCheckpointer`` (safe loading) in eval mode; refuses
    ImageNet-only backbone weights rather than drawing noise."""
    from detectron2.modeling import build_model

    from humanparse_d2.checkpoint.checkpointer import (
        HumanParseCheckpointer,
        is_backbone_only_weights,
        warn_untrained,
    )

    model = build_model(cfg).eval()
    if is_backbone_only_weights(cfg.MODEL.WEIGHTS):
        raise SystemExit(
            f"demo: MODEL.WEIGHTS is {cfg.MODEL.WEIGHTS!r}, ImageNet weights of the backbone only. "
            "Pass a trained or converted model: --opts MODEL.WEIGHTS model.pth (for the released "
            "MMAN: tools/convert_official_weights.py --format mman, projects/MMAN/README.md)"
        )
    ckpt = HumanParseCheckpointer(model)  # remembers which weights were missing
    if cfg.MODEL.WEIGHTS:
        ckpt.load(cfg.MODEL.WEIGHTS)
    warn_untrained(model, cfg.MODEL.WEIGHTS, ckpt)  # empty or ImageNet-only weights
    return model


def setup_cfg(args):
    from humanparse_d2.engine import load_config

    opts = list(args.opts)
    if args.whole_image_box:
        opts += ["MODEL.QANET.BOX_SOURCE", "whole_image"]
    if args.box_file:
        opts += ["MODEL.QANET.BOX_SOURCE", "file", "MODEL.QANET.BOX_FILE", args.box_file]
    opts += ["MODEL.DEVICE", args.device]
    cfg = load_config(args.config_file, opts)
    if cfg.MODEL.META_ARCHITECTURE == "QANet" and cfg.MODEL.QANET.BOX_SOURCE == "oracle":
        raise SystemExit(
            "demo: MODEL.QANET.BOX_SOURCE is 'oracle' (ground-truth boxes), which needs annotations. "
            "Use --whole-image-box (one person per image), --box-file boxes.json (COCO results JSON, "
            "image_id = file stem) or the detector box source (--opts MODEL.QANET.BOX_SOURCE detector)."
        )
    cfg.freeze()
    return cfg


def _skip(stats, path, why):
    from tqdm import tqdm

    stats["skipped_files"].append(f"{path}: {why}")
    tqdm.write(f"demo: skipped {path}: {why}")


def process_image(pred, path, out_dir, stats):
    """<stem>_overlay.jpg, <stem>_label.png and <stem>.json of one image file."""
    import cv2

    from humanparse_core.io import read_image
    from humanparse_d2.projects.qanet.visualize import save_palette_png

    stem = path.stem
    try:
        rgb = read_image(str(path), "RGB", exif=True)
    except ValueError as e:
        _skip(stats, path, e)
        return
    vis, label, info = pred(rgb, stem)
    cv2.imwrite(str(out_dir / f"{stem}_overlay.jpg"), vis[:, :, ::-1])
    save_palette_png(str(out_dir / f"{stem}_label.png"), label, pred.palette)
    info.update(file_name=str(path), height=int(rgb.shape[0]), width=int(rgb.shape[1]))
    (out_dir / f"{stem}.json").write_text(json.dumps(info))
    stats["images"] += 1
    stats["persons"] += len(info.get("persons", []))


def read_frames(cap, n, stats):
    """Yield (index, RGB frame) of an opened ``cv2.VideoCapture`` with ``n`` frames (0 = unknown).

    A failed read before the last frame is a broken frame: up to 10 in a row are skipped (seeking
    past them) before the stream counts as ended. Each skipped frame is counted in ``stats``.
    """
    import cv2
    import numpy as np

    idx, bad_run = 0, 0
    while True:
        ok, frame = cap.read()
        if not ok:
            if n and idx < n - 1 and bad_run < 10:
                bad_run += 1
                idx += 1
                stats["broken_frames"] += 1
                cap.set(cv2.CAP_PROP_POS_FRAMES, idx)
                continue
            return
        bad_run = 0
        if frame is None or frame.ndim != 3 or frame.size == 0:
            stats["broken_frames"] += 1
            idx += 1
            continue
        yield idx, np.ascontiguousarray(frame[:, :, ::-1])
        idx += 1


def process_video(pred, path, out_dir, stats):
    """<stem>_parsed.mp4 (overlays) and <stem>.jsonl (one line per frame) of one video file."""
    import cv2
    import numpy as np
    from tqdm import tqdm

    stem = path.stem
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        _skip(stats, path, "cannot open video")
        return
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    writer = None
    with open(out_dir / f"{stem}.jsonl", "w") as jf:
        bar = tqdm(total=n or None, desc=stem, unit="frame", leave=False, dynamic_ncols=True)
        for idx, rgb in read_frames(cap, n, stats):
            vis, label, info = pred(rgb, f"{stem}_{idx:06d}")
            if writer is None:
                fourcc = cv2.VideoWriter_fourcc(*"mp4v")
                size = (vis.shape[1], vis.shape[0])
                writer = cv2.VideoWriter(str(out_dir / f"{stem}_parsed.mp4"), fourcc, fps, size)
            if (vis.shape[1], vis.shape[0]) != size:
                vis = cv2.resize(vis, size)
            writer.write(np.ascontiguousarray(vis[:, :, ::-1]))
            info["frame"] = idx
            jf.write(json.dumps(info) + "\n")
            stats["frames"] += 1
            stats["persons"] += len(info.get("persons", []))
            bar.update(1)
        bar.close()
    cap.release()
    if writer is not None:
        writer.release()
        stats["videos"] += 1
    else:
        _skip(stats, path, "no decodable frame")


def run(args):
    """Parse every input file; writes the per-file outputs and demo_summary.json. Returns stats."""
    from tqdm import tqdm

    import humanparse_d2  # noqa: F401

    cfg = setup_cfg(args)
    items, missing = expand_inputs(args.input)
    for m in missing:
        print(f"demo: skipped {m}: no such file or folder", file=sys.stderr)
    if not items:
        raise SystemExit("demo: no image or video found in --input")
    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    pred = Predictor(cfg)
    stats = {
        "images": 0,
        "videos": 0,
        "frames": 0,
        "skipped_files": [],
        "broken_frames": 0,
        "persons": 0,
    }
    t0 = time.time()
    for path, kind in tqdm(items, desc="demo", unit="file", dynamic_ncols=True):
        (process_image if kind == "image" else process_video)(pred, path, out_dir, stats)
    stats["seconds"] = round(time.time() - t0, 2)
    stats["box_source"] = getattr(pred.model, "box_source", None) or "n/a (semantic model)"
    (out_dir / "demo_summary.json").write_text(json.dumps(stats, indent=1))
    print(
        f"demo: {stats['images']} images, {stats['videos']} videos ({stats['frames']} frames), "
        f"{stats['persons']} persons (boxes: {stats['box_source']}), "
        f"{len(stats['skipped_files'])} files skipped, {stats['broken_frames']} broken frames "
        f"skipped, {stats['seconds']} s -> {out_dir}"
    )
    return stats


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--config-file", required=True)
    ap.add_argument("--input", nargs="+", required=True, help="images, folders and/or videos")
    ap.add_argument("--output", required=True, help="output folder")
    ap.add_argument(
        "--whole-image-box", action="store_true", help="QANet: one person box = the whole image"
    )
    ap.add_argument(
        "--box-file",
        default="",
        help="QANet: COCO results JSON of person boxes (image_id = file stem)",
    )
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--opts", nargs=argparse.REMAINDER, default=[], help="config overrides KEY VALUE ..."
    )
    args = ap.parse_args(argv)
    from humanparse_d2.engine import setup_plugin_logger

    setup_plugin_logger(args.output, rank=0)  # timestamps + WARNING prefix, log.txt in --output
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
