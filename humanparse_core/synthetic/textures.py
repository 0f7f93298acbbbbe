"""Fixed texture and sensor-noise banks, the same in every process; images read random windows."""

import cv2
import numpy as np

_BANK_SIZE = 640
_BANK: np.ndarray | None = None
_NOISE: np.ndarray | None = None

# indices into the texture bank (see :func:`_texture_bank`)
_TEX_PLAIN, _TEX_FINE, _TEX_BLOTCHY, _TEX_STRANDS = 0, 7, 8, 9
_TEX_CLOTH = (0, 0, 1, 2, 3, 4, 5, 6, 7, 8)


def _texture_bank() -> np.ndarray:
    """(T, S, S) float32 textures in [-1, 1]: 0 plain, stripes, checks, noise, weave."""
    global _BANK
    if _BANK is not None:
        return _BANK
    S = _BANK_SIZE
    rng = np.random.default_rng(12345)
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)
    tex = [np.zeros((S, S), np.float32)]
    for period in (7.0, 13.0):
        tex.append(np.sign(np.sin(2 * np.pi * yy / period)).astype(np.float32))  # horizontal
        tex.append(np.sign(np.sin(2 * np.pi * xx / period)).astype(np.float32))  # vertical
    tex.append(np.sign(np.sin(2 * np.pi * (xx + yy) / 11.0)).astype(np.float32))  # diagonal
    checks = np.sign(np.sin(2 * np.pi * xx / 12)) * np.sign(np.sin(2 * np.pi * yy / 12))
    tex.append(checks.astype(np.float32))
    for sigma in (1.0, 4.0):  # fine and blotchy noise
        n = cv2.GaussianBlur(rng.standard_normal((S, S)).astype(np.float32), (0, 0), sigma)
        tex.append(n / (np.abs(n).max() + 1e-6))
    n = cv2.GaussianBlur(
        rng.standard_normal((S, S)).astype(np.float32), (0, 0), sigmaX=0.7, sigmaY=5.0
    )
    tex.append(n / (np.abs(n).max() + 1e-6))  # hair-like vertical strands
    _BANK = np.stack(tex)
    return _BANK


def _bank_window(rng, H: int, W: int) -> np.ndarray:
    """(T, H, W) view of the texture bank at a random offset (tiled for images larger than it)."""
    bank = _texture_bank()
    if H > bank.shape[1] or W > bank.shape[2]:
        bank = np.tile(bank, (1, -(-H // _BANK_SIZE), -(-W // _BANK_SIZE)))
    oy = int(rng.integers(0, bank.shape[1] - H + 1))
    ox = int(rng.integers(0, bank.shape[2] - W + 1))
    return bank[:, oy : oy + H, ox : ox + W]


def _noise_window(rng, H: int, W: int) -> np.ndarray:
    """(H, W) standard-normal sensor noise from a fixed bank at a random offset."""
    global _NOISE
    if _NOISE is None:
        noise = np.random.default_rng(54321).standard_normal((_BANK_SIZE, _BANK_SIZE))
        _NOISE = noise.astype(np.float32)
    bank = _NOISE
    if H > bank.shape[0] or W > bank.shape[1]:
        bank = np.tile(bank, (-(-H // _BANK_SIZE), -(-W // _BANK_SIZE)))
    oy = int(rng.integers(0, bank.shape[0] - H + 1))
    ox = int(rng.integers(0, bank.shape[1] - W + 1))
    return bank[oy : oy + H, ox : ox + W]
