"""The invertible person-crop affine (SimpleBaseline / QANet convention), in one place.

A person box becomes a crop box of aspect ``aspect_wh`` (w/h, 0.75 for 384x512) enlarged by ``scale``;
:func:`get_affine_matrix` maps the crop box centre to the output centre with uniform scale
``out_w / w`` and rotation ``r``:

    [x_out, y_out]^T = diag(out_w / w, out_h / h) @ Rot(-r) @ ([x, y]^T - center) + [out_w / 2, out_h / 2]^T

(for a box made to the output aspect the two scales are equal). ``warp_crop`` applies it with
``cv2.warpAffine``, bilinear for images and nearest for labels, border 0. OpenCV's pixel convention
(no half-pixel offset) is used, as in QANet's training code.
"""

import cv2
import numpy as np

__all__ = [
    "crop_box_size",
    "expand_boxes_to_aspect",
    "get_affine_matrix",
    "invert_affine",
    "compose_hflip",
    "apply_affine_to_points",
    "warp_crop",
    "warp_window",
    "source_roi",
]


def _np(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def crop_box_size(w, h, aspect_wh: float, scale: float):
    """QANet's crop box size, the one formula of training and test time: extend the short side of
    (w, h) to the aspect ``aspect_wh`` (w/h), then multiply both sides by ``scale``. ``w`` and ``h``
    are numpy arrays or torch tensors (the same type and dtype come back, computed in that dtype).
    Returns (w', h')."""
    if isinstance(w, np.ndarray):
        where = np.where
    else:
        import torch

        where = torch.where
    wide = w > aspect_wh * h
    h2 = where(wide, w / aspect_wh, h)
    w2 = where(wide, w, h * aspect_wh)
    return w2 * scale, h2 * scale


def expand_boxes_to_aspect(boxes_xyxy, aspect_wh: float = 0.75, scale: float = 1.25):
    """Make boxes ``aspect_wh`` (w/h) by extending the short side, then multiply both sides by ``scale``.

    Args:
        boxes_xyxy: (N, 4) array or tensor, absolute XYXY.
        aspect_wh: target width / height (0.75 for a 512x384 HxW crop).
        scale: context enlargement (1.25 in the QANet code, 1.0 for the paper reading).

    Returns:
        centers (N, 2) and sizes_wh (N, 2), float64 numpy arrays (tensors in, tensors out).
    """
    is_tensor = hasattr(boxes_xyxy, "detach")
    b = _np(boxes_xyxy).reshape(-1, 4)
    w = b[:, 2] - b[:, 0]
    h = b[:, 3] - b[:, 1]
    centers = np.stack([b[:, 0] + w * 0.5, b[:, 1] + h * 0.5], 1)
    sizes = np.stack(crop_box_size(w, h, aspect_wh, scale), 1)
    if is_tensor:
        import torch

        dev = boxes_xyxy.device
        return torch.as_tensor(centers, device=dev), torch.as_tensor(sizes, device=dev)
    return centers, sizes


def get_affine_matrix(
    center, size_wh, rotation_deg: float, out_size_wh, inverse: bool = False
) -> np.ndarray:
    """(2, 3) float64 matrix mapping image coordinates to crop coordinates (or back if ``inverse``).

    Args:
        center: (2,) crop box centre in the image (x, y).
        size_wh: (2,) crop box size in the image (w, h).
        rotation_deg: rotation of the crop box in degrees, SimpleBaseline convention: the box's up
            axis is (0, -1) rotated by +r in image coordinates (y down), i.e. clockwise on screen,
            so the content appears rotated counter-clockwise in the crop.
        out_size_wh: (2,) output size (W, H), e.g. (384, 512).
        inverse: return the crop -> image matrix instead.
    """
    cx, cy = _np(center).reshape(2)
    w, h = _np(size_wh).reshape(2)
    ow, oh = _np(out_size_wh).reshape(2)
    if w <= 0 or h <= 0:
        raise ValueError(f"crop size must be positive, got {(w, h)}")
    t = np.deg2rad(rotation_deg)
    c, s = np.cos(t), np.sin(t)
    sx, sy = ow / w, oh / h
    # A = diag(sx, sy) @ Rot(-t),  Rot(-t) = [[c, s], [-s, c]]
    A = np.array([[sx * c, sx * s], [-sy * s, sy * c]])
    b = np.array([ow * 0.5, oh * 0.5]) - A @ np.array([cx, cy])
    M = np.concatenate([A, b[:, None]], 1)
    return invert_affine(M) if inverse else M


def invert_affine(M) -> np.ndarray:
    """Inverse of a (2, 3) affine matrix (numpy or torch in, float64 numpy out)."""
    return cv2.invertAffineTransform(_np(M))


def compose_hflip(M, image_width: int) -> np.ndarray:
    """``M @ F`` where F flips the image horizontally (x -> W - 1 - x, QANet's convention).

    Cropping the flipped image with M equals cropping the original image with the returned matrix.
    """
    M = _np(M)
    F = np.array([[-1.0, 0.0, image_width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    return M @ F


def apply_affine_to_points(M, pts) -> np.ndarray:
    """(N, 2) points through a (2, 3) matrix."""
    pts = _np(pts).reshape(-1, 2)
    M = _np(M)
    return pts @ M[:, :2].T + M[:, 2]


def source_roi(M, out_size_wh, image_hw, margin: int = 2):
    """Integer image window [x0, y0, x1, y1) that the crop samples from (clipped), or None if empty."""
    ow, oh = int(out_size_wh[0]), int(out_size_wh[1])
    Mi = invert_affine(M)
    corners = np.array([[0, 0], [ow - 1, 0], [0, oh - 1], [ow - 1, oh - 1]], np.float64)
    src = apply_affine_to_points(Mi, corners)
    H, W = int(image_hw[0]), int(image_hw[1])
    x0 = max(int(np.floor(src[:, 0].min())) - margin, 0)
    y0 = max(int(np.floor(src[:, 1].min())) - margin, 0)
    x1 = min(int(np.ceil(src[:, 0].max())) + margin + 1, W)
    y1 = min(int(np.ceil(src[:, 1].max())) + margin + 1, H)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def warp_crop(
    image: np.ndarray,
    matrix,
    out_size_wh,
    is_label=False,
    border_value: int | tuple = 0,
    four_channel_out: bool = False,
) -> np.ndarray:
    """Crop ``image`` (H, W[, C]) through ``matrix`` (image -> crop) to ``out_size_wh`` (W, H).

    The same pixels as ``cv2.warpAffine(image, matrix, ...)`` on the whole image: labels use
    nearest-neighbour sampling, images bilinear; everything outside the image is ``border_value``
    (0: background for labels, black for images). 3-channel uint8 images are warped as 4-channel
    (OpenCV's vectorised path, ~2.5x faster), converting only the window the crop reads;
    ``four_channel_out=True`` returns that (H, W, 4) result without dropping the padding channel.
    """
    M = _np(matrix)
    fast3 = not is_label and image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8
    if not fast3:
        return _warp(image, M, out_size_wh, is_label, border_value)
    roi = source_roi(M, out_size_wh, image.shape[:2])
    if roi is None:  # the crop reads no image pixel: all border
        roi, window = (0, 0, 0, 0), np.zeros((0, 0, 4), image.dtype)
    else:
        x0, y0, x1, y1 = roi
        window = cv2.cvtColor(image[y0:y1, x0:x1], cv2.COLOR_BGR2BGRA)
    out = warp_window(window, roi, image.shape[:2], M, out_size_wh, False, border_value)
    return out if four_channel_out else np.ascontiguousarray(out[:, :, :3])


def warp_window(
    window: np.ndarray,
    roi,
    image_hw,
    matrix,
    out_size_wh,
    is_label=True,
    border_value: int | tuple = 0,
) -> np.ndarray:
    """:func:`warp_crop` of an image of which only ``window`` = image[y0:y1, x0:x1] is at hand.

    ``roi`` = (x0, y0, x1, y1) must cover :func:`source_roi` of the crop. The window is placed in a
    lazily zeroed (H, W) canvas (``np.zeros`` maps pages on first touch, so only the window's memory
    is written) and warped with the image's own matrix: shifting the matrix to the window's origin
    instead changes the rounding of OpenCV's sampling coordinates, and OpenCV >= 5 then breaks the
    exact .5 ties of nearest sampling differently from a whole-image warp.
    """
    x0, y0, x1, y1 = (int(v) for v in roi)
    H, W = int(image_hw[0]), int(image_hw[1])
    canvas = np.zeros((H, W) + window.shape[2:], window.dtype)
    canvas[y0:y1, x0:x1] = window
    return _warp(canvas, _np(matrix), out_size_wh, is_label, border_value)


def _warp(image, M, out_size_wh, is_label, border_value) -> np.ndarray:
    nch = image.shape[2] if image.ndim == 3 else 1
    if np.isscalar(border_value) and nch > 1:
        border_value = (border_value,) * nch
    out = cv2.warpAffine(
        image,
        M,
        (int(out_size_wh[0]), int(out_size_wh[1])),
        flags=cv2.INTER_NEAREST if is_label else cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=border_value,
    )
    if image.ndim == 3 and out.ndim == 2:
        out = out[:, :, None]
    return out
