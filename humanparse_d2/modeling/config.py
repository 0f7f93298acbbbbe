"""Config keys of the shared modeling pieces (QAM, timm backbone, ROI parsing head, rescoring)."""

from detectron2.config import CfgNode as CN

__all__ = ["add_modeling_config"]


def add_modeling_config(cfg: CN) -> None:
    """Add the shared modeling keys to ``cfg`` in place."""
    _add_qam_config(cfg)
    _add_mask_quality_config(cfg)
    _add_roi_parsing_head_config(cfg)
    _add_timm_config(cfg)


def _add_qam_config(cfg: CN) -> None:
    """``MODEL.QAM``: the QAM fusion of box, IoU and pixel scores."""
    _C = cfg
    _C.MODEL.QAM = CN()
    # (alpha, beta, gamma) exponents of box, IoU and pixel score in the QAM fusion. (1.0, 0.5, 3.0)
    # is the paper's grid-search best used by every released QANet config; (1, 0, 0) = box only.
    _C.MODEL.QAM.WEIGHTS = (1.0, 0.5, 3.0)
    # Confidence threshold T of the pixel score (Algorithm 1).
    _C.MODEL.QAM.PIXEL_THRESH = 0.2
    # Clamp the regressed IoU to [0, 1] before fusion (an unclamped negative value gives NaN).
    _C.MODEL.QAM.CLAMP_IOU = True


def _add_mask_quality_config(cfg: CN) -> None:
    """``MODEL.MASK_QUALITY``: QAM rescoring of Mask R-CNN."""
    _C = cfg
    # QAM rescoring of any Mask R-CNN (humanparse_d2.modeling.rescoring): with ROI_HEADS.NAME
    # QAMStandardROIHeads / QAMCascadeROIHeads / QAMRes5ROIHeads, the score of each detection becomes
    # (S_b^a * S_i^b * S_p^c)^(1/(a+b+c)) with S_p from the soft 28x28 mask before pasting.
    _C.MODEL.MASK_QUALITY = CN()
    # Turn the rescoring on (needs MODEL.MASK_ON); off, the QAM ROI heads equal their parents.
    _C.MODEL.MASK_QUALITY.ENABLED = False
    # (a, b, c) exponents of box score, learned mask IoU and mask pixel score; (1, 0, 1) = paper
    # Table 7 (sqrt(S_b * S_p)); (1, 0, 0) reproduces the box scores exactly.
    _C.MODEL.MASK_QUALITY.WEIGHTS = (1.0, 0.0, 1.0)
    # Mask pixel score: "ratio" = #(p >= high) / #(p >= low) (QANet code), "mean" = mean of p over
    # pixels with p >= 0.5 (Algorithm 1 on a binary mask).
    _C.MODEL.MASK_QUALITY.MASK_SCORE_MODE = "ratio"
    # (low, high) thresholds of the "ratio" mode.
    _C.MODEL.MASK_QUALITY.RATIO_THRESHOLDS = (0.25, 0.75)
    # Optional learned mask-IoU branch (Mask Scoring R-CNN style S_i); adds parameters and the loss
    # loss_mask_iou. Needs a pooled mask head with layers() (MaskRCNNConvUpsampleHead and kin).
    _C.MODEL.MASK_QUALITY.IOU_HEAD_ON = False
    # Number of 3x3 convs of the mask-IoU branch (the last has stride 2).
    _C.MODEL.MASK_QUALITY.IOU_HEAD_NUM_CONV = 4
    # Channels of the mask-IoU branch convs.
    _C.MODEL.MASK_QUALITY.IOU_HEAD_CONV_DIM = 256
    # Width of the two fully connected layers of the mask-IoU branch.
    _C.MODEL.MASK_QUALITY.IOU_HEAD_FC_DIM = 1024
    # Weight of loss_mask_iou (L2 between the regressed IoU and the 28x28 mask IoU).
    _C.MODEL.MASK_QUALITY.IOU_LOSS_WEIGHT = 1.0


def _add_roi_parsing_head_config(cfg: CN) -> None:
    """``MODEL.ROI_PARSING_HEAD``: the ROI parsing head of Parsing R-CNN."""
    _C = cfg
    # One-stage parsing head on ROI-pooled FPN features (ROI_HEADS.NAME "ParsingROIHeads",
    # META_ARCHITECTURE "ParsingRCNN"; humanparse_d2.modeling.roi_parsing_head).
    _C.MODEL.ROI_PARSING_HEAD = CN()
    # Registered name of the per-ROI head (humanparse_d2.modeling.parsing_head
    # ROI_PARSING_HEAD_REGISTRY; built with build_parsing_head(cfg, input_shape)).
    _C.MODEL.ROI_PARSING_HEAD.NAME = "ParsingRCNNHead"
    # Parsing classes including background (CIHP 20, MHP-v2 59, PASCAL-Person-Part 7).
    _C.MODEL.ROI_PARSING_HEAD.NUM_CLASSES = 20
    # Side of the ROI-pooled features fed to the head.
    _C.MODEL.ROI_PARSING_HEAD.POOLER_RESOLUTION = 14
    # ROIAlign sampling points per bin (0 = adaptive).
    _C.MODEL.ROI_PARSING_HEAD.POOLER_SAMPLING_RATIO = 0
    # ROI pooler type (detectron2 ROIPooler names).
    _C.MODEL.ROI_PARSING_HEAD.POOLER_TYPE = "ROIAlignV2"
    # 3x3 conv stack before upsampling: count and channels.
    _C.MODEL.ROI_PARSING_HEAD.NUM_CONV = 4
    # Channels of the conv stack and of the deconvolution.
    _C.MODEL.ROI_PARSING_HEAD.CONV_DIM = 256
    # Norm of the conv stack ("" = none, "GN", "BN", ...).
    _C.MODEL.ROI_PARSING_HEAD.NORM = ""
    # Per-ROI logit resolution: a stride-2 deconv doubles POOLER_RESOLUTION, then bilinear
    # upsampling reaches RESOLUTION. Training targets are cut from gt_parsing on the same grid.
    _C.MODEL.ROI_PARSING_HEAD.RESOLUTION = 56
    # Foreground proposals train the head only if their IoU with the matched person reaches this.
    _C.MODEL.ROI_PARSING_HEAD.FG_IOU_THRESHOLD = 0.5
    # At most this many foreground ROIs per image train the head (random subset; 0 = all).
    _C.MODEL.ROI_PARSING_HEAD.MAX_TRAIN_ROIS = 64
    # Loss weights: cross-entropy, Lovasz-softmax (0 = off) and the IoU branch.
    _C.MODEL.ROI_PARSING_HEAD.CE_WEIGHT = 1.0
    # Lovasz-softmax weight (humanparse_d2.modeling.losses), 0 disables it.
    _C.MODEL.ROI_PARSING_HEAD.LOVASZ_WEIGHT = 0.0
    # Learned parsing-IoU branch (QANet-style S_i: GAP + FCs on the head features).
    _C.MODEL.ROI_PARSING_HEAD.IOU_ON = False
    # Width of the hidden FC layer of the IoU branch.
    _C.MODEL.ROI_PARSING_HEAD.IOU_FC_DIM = 256
    # Weight of loss_parsing_iou.
    _C.MODEL.ROI_PARSING_HEAD.IOU_WEIGHT = 1.0
    # QAM exponents (box, IoU, pixel) of the parsing scores; (1, 0, 1) = Parsing R-CNN + QAM (Table 6).
    _C.MODEL.ROI_PARSING_HEAD.QAM_WEIGHTS = (1.0, 0.0, 1.0)
    # Memory budget (float elements) of one chunk of the batched paste-back at inference.
    _C.MODEL.ROI_PARSING_HEAD.PASTE_CHUNK_ELEMENTS = 1 << 26


def _add_timm_config(cfg: CN) -> None:
    """``MODEL.TIMM``: the timm feature backbone."""
    _C = cfg
    # timm feature backbone (humanparse_d2.modeling.timm_backbone, MODEL.BACKBONE.NAME
    # "build_timm_backbone"); outputs are named res<k> by stride (4 -> res2 ... 32 -> res5).
    _C.MODEL.TIMM = CN()
    # timm model name, e.g. "hrnet_w48" (QANet's HRNet-W48), "hrnet_w18_small", "resnet50".
    _C.MODEL.TIMM.NAME = "hrnet_w48"
    # timm feature indices to return; HRNet with FEATURE_LOCATION "" has 5 levels (stride 2..32),
    # (1, 2, 3, 4) keeps strides 4..32. Empty = timm's default.
    _C.MODEL.TIMM.OUT_INDICES = [1, 2, 3, 4]
    # timm feature_location: "" gives HRNet's raw branches (QANet); "default" leaves timm's default.
    _C.MODEL.TIMM.FEATURE_LOCATION = ""
    # Load timm's ImageNet weights (downloads through timm on first use). Tests keep it False.
    _C.MODEL.TIMM.PRETRAINED = False
    # Extra keyword arguments of timm.create_model.
    _C.MODEL.TIMM.KWARGS = CN(new_allowed=True)
