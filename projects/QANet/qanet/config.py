"""Config keys of QANet (defaults follow the official code unless noted)."""

from detectron2.config import CfgNode as CN

__all__ = ["add_qanet_config"]


def add_qanet_config(cfg: CN) -> None:
    """Add the QANet keys to ``cfg`` in place."""
    _add_model_config(cfg)
    _add_test_config(cfg)
    _add_detector_config(cfg)
    _add_box_file_config(cfg)


def _add_model_config(cfg: CN) -> None:
    """``MODEL.QANET``: the box source, the parser's heads and the losses."""
    _C = cfg
    _C.MODEL.QANET = CN()
    # Where person boxes come from at test time: "detector" (a detectron2 model, MODEL.QANET.DETECTOR),
    # "file" (COCO results JSON, MODEL.QANET.BOX_FILE), "oracle" (ground-truth boxes, score 1.0;
    # every result is labelled "boxes: oracle") or "whole_image" (one box = the image, score 1.0;
    # single-person images and the demo). Never falls back from one to another.
    _C.MODEL.QANET.BOX_SOURCE = "detector"
    # Parsing classes including background (CIHP/LIP 20, MHP-v2 59, PASCAL-Person-Part 7).
    _C.MODEL.QANET.NUM_CLASSES = 20
    # Backbone features read by the semantic FPN: p2..p5 (ResNet-FPN) or res2..res5 (timm).
    _C.MODEL.QANET.IN_FEATURES = ["p2", "p3", "p4", "p5"]
    # Channels d of the semantic FPN and of its output (256; 384 for the HRNet 544x416 configs).
    _C.MODEL.QANET.CONV_DIM = 256
    # Norm of the semantic FPN U-blocks ("BN" as in the code; "SyncBN"/"GN" options).
    _C.MODEL.QANET.NORM = "BN"
    # IoU branch on/off and the width of its two 1x1 "fc" convs.
    _C.MODEL.QANET.IOU_ON = True
    # Width of the IoU branch's two 1x1 "fc" convs.
    _C.MODEL.QANET.IOU_FC_DIM = 512
    # Loss weights: L = CE + Lovasz + IoU (all 1.0 in every released config).
    _C.MODEL.QANET.CE_WEIGHT = 1.0
    # Weight of the Lovasz-softmax loss.
    _C.MODEL.QANET.LOVASZ_WEIGHT = 1.0
    # Weight of the IoU-branch regression loss.
    _C.MODEL.QANET.IOU_WEIGHT = 1.0
    # Label ignored by the losses.
    _C.MODEL.QANET.IGNORE_VALUE = 255
    # The crop geometry (size, aspect, x1.25 context) is the data layer's INPUT.PARSING.{CROP_SIZE,
    # ASPECT_RATIO, BOX_EXPAND}: training crops (InstanceParsingMapper) and test crops (QANet) read
    # the same keys; both are normalised once, by the parser (MODEL.PIXEL_MEAN / PIXEL_STD).


def _add_test_config(cfg: CN) -> None:
    """``MODEL.QANET.TEST``: test-time views, batching and box filtering."""
    _C = cfg
    _C.MODEL.QANET.TEST = CN()
    # Flip test (original + mirrored crop, flip-pair channels swapped back); on in all configs.
    _C.MODEL.QANET.TEST.FLIP = True
    # Extra test views on top of the always-present 1.0 view, as the official TEST.AUG.SCALES: the
    # crop box grows by s with the output size fixed, each view with its flip; all views averaged
    # in image space. () = the 1.0 view only; the official LIP multi-scale test is (0.9, 1.1, 1.2, 1.3).
    _C.MODEL.QANET.TEST.SCALES = ()
    # Crops per parser forward at test time (all crops of an image, chunked).
    _C.MODEL.QANET.TEST.CROPS_PER_BATCH = 64
    # Inference-only fast path of the crop parser (qanet/fast_inference.py): "" = the parser as
    # trained; "eager" = a copy with BatchNorm folded into the convs, channels_last; "compile" = that
    # copy through torch.compile (inductor, frozen weights; the first forward of each batch shape
    # compiles, ~1 min on 2 CPU cores). Both change float32 rounding only (outputs within 1e-4).
    _C.MODEL.QANET.TEST.FAST_PATH = ""
    # Boxes below this detector/file score are dropped before parsing (code: all boxes > 0).
    _C.MODEL.QANET.TEST.BOX_SCORE_THRESH = 0.0
    # At most this many boxes per image (highest scores first); 0 = no limit.
    _C.MODEL.QANET.TEST.MAX_BOXES = 100
    # Also return "sem_seg" (C, H, W) image-space probabilities (single-person sets such as LIP,
    # scored by the semantic evaluator): persons pasted in ascending box score, background = 1
    # outside every box.
    _C.MODEL.QANET.TEST.SEMANTIC_OUTPUT = False
    # Evaluation fails when at least this share of the images got no person box from the box
    # source (1.0: only when no image got one); below it the count is reported and warned about.
    _C.MODEL.QANET.TEST.MAX_NO_BOX_SHARE = 1.0


def _add_detector_config(cfg: CN) -> None:
    """``MODEL.QANET.DETECTOR``: the detector of ``BOX_SOURCE`` "detector"."""
    _C = cfg
    # BOX_SOURCE "detector": any detectron2 model config, yaml (CfgNode) or LazyConfig .py.
    _C.MODEL.QANET.DETECTOR = CN()
    # Config path; a path relative to detectron2's model zoo (e.g.
    # "COCO-Detection/faster_rcnn_R_50_FPN_3x.yaml") is found inside the installed detectron2.
    _C.MODEL.QANET.DETECTOR.CONFIG_FILE = "COCO-Detection/faster_rcnn_R_50_FPN_3x.yaml"
    # The detector's own weights (path or detectron2:// URL).
    _C.MODEL.QANET.DETECTOR.WEIGHTS = (
        "detectron2://COCO-Detection/faster_rcnn_R_50_FPN_3x/137849458/model_final_280758.pkl"
    )
    # Extra "KEY VALUE" overrides for the detector config (yaml: merge_from_list; .py: dotted keys).
    _C.MODEL.QANET.DETECTOR.OPTS = []
    # Class index of "person" in the detector's outputs (0 for COCO and for one-class detectors).
    _C.MODEL.QANET.DETECTOR.PERSON_CLASS = 0
    # Detector score threshold applied on top of the detector's own test threshold.
    _C.MODEL.QANET.DETECTOR.SCORE_THRESH = 0.05


def _add_box_file_config(cfg: CN) -> None:
    """``MODEL.QANET.BOX_FILE*``: the box file of ``BOX_SOURCE`` "file"."""
    _C = cfg
    # BOX_SOURCE "file": COCO results JSON [{image_id, category_id, bbox [x,y,w,h], score}].
    _C.MODEL.QANET.BOX_FILE = ""
    # category_id values that mean "person" in the box file (QANet's FCOS files use 1).
    _C.MODEL.QANET.BOX_FILE_PERSON_IDS = [1]
    # COCO-style json whose "images" [{id, file_name}] map the box file's integer image_id to image
    # files (the official COCO-style CIHP json for the official FCOS boxes). "" = the test
    # dataset's own json when it was registered from one, else an integer id matches the numeric
    # file stem (CIHP's 0000001.jpg is id 1); a file that matches no image is an error.
    _C.MODEL.QANET.BOX_FILE_IMAGES = ""
