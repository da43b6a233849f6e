"""Fashion-MNIST's own preparation, for users' pictures of garments: what ``predict`` and ``serve`` do with an
image when the checkpoint was trained on Fashion-MNIST.

Fashion-MNIST was made from Zalando's product photos, a garment on a plain light background, in these steps
(its README, "Get the data"): trim the edges close to the corner pixels' colour (within 5% of the maximum
intensity); resize so the longer side is 28 pixels; sharpen; extend the shorter side to 28, the garment in
the middle; negate; 8-bit grayscale. The digit search of :mod:`mnist_rnn.preparation` does not fit garments:
it takes anything wider than a third of the picture for background, as a shirt photographed whole is, and
fits the digit into 20 pixels centred by its mass, where Fashion-MNIST's garments fill 28 and are centred by
their box. A Fashion-MNIST image itself (28x28, the garment light on black) comes out as it went in. Here
the scaling is Lanczos's, whose edges are crisp, with no sharpening step of its own: product photos made
from Fashion-MNIST's test images are read right nearly as often as the images themselves (docs/predict.md).
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

from mnist_rnn.preparation import (
    EIGHT_NEIGHBOURS,
    FRAME,
    WORKING_SIZE,
    Prepared,
    as_prepared,
    blank,
    box_around,
    full_size_box,
    grayscale,
    reduced,
    shrink,
)

TRIM = 0.05  # Fashion-MNIST's tolerance: what differs from the background's colour by less is background
# Regions of the garment mask smaller than this fraction of the picture are noise (a JPEG's blocks, a
# sensor's speckle, dust), not part of the garment, so they do not widen the trimmed box.
SPECK = 0.001
# The background's level is fitted to a border this wide (of the picture's shorter side; a pixel at least):
# a plane and a bowl across the picture, so that light falling off from one side or towards the corners (a
# lamp, a window, a phone's vignetting) is background, not garment, where a single level took the whole
# picture for the garment once it had fallen by more than TRIM.
BORDER = 0.02
# A garment under this many pixels on its longer side in the picture (a thumbnail, an icon) is flagged
# ``small``, as a digit under SMALL_DIGIT is: scaled up to 28 pixels it is a blur, and the answers on such
# garments are wrong more often than their calibrated probabilities say; from this size up the two agree
# (Fashion-MNIST's test garments shrunk to each size: docs/predict.md, benchmarks/small_digits.py). Larger than
# SMALL_DIGIT: a garment's texture and outline are lost sooner than a digit's strokes.
SMALL_GARMENT = 12


def prepare_garment(image: Image.Image) -> Prepared:
    """A picture of one garment as Fashion-MNIST has its images: uint8 (1, 28, 28), the garment light on black,
    its longer side 28 pixels, centred by its box. ``blank`` when nothing differs from its background."""
    gray = grayscale(reduced(image))  # a phone's full resolution adds noise at the garment's edge, and time
    if gray is None or min(gray.shape) < 2:
        return blank()
    corners = np.sort(gray[[0, 0, -1, -1], [0, -1, 0, -1]])
    background = float(np.median(corners))  # the corners' colour
    # Already made: a Fashion-MNIST image, as it is. Two of its corners at least are black, in all 70,000; the
    # corners' median is not in 11 of them (9 garments that fill both lower corners, 2 on a faint grey), and two
    # of the test set's were prepared anew by it (up to 51 of 255 apart) until this took them as they are.
    if gray.shape == (FRAME, FRAME) and corners[1] <= TRIM:
        # ... unless nothing in it is lighter than its corners: an all-black 28x28 was answered "Sandal, 74%".
        return as_prepared(gray) if gray.max() - corners[1] > TRIM else blank()
    scale = min(1.0, WORKING_SIZE / max(gray.shape))
    small = shrink(gray, scale) if scale < 1 else gray
    backdrop = _backdrop(small, background)
    box = _garment_box(gray, small, backdrop)
    if box is None:
        return blank()
    part, background = gray[box], backdrop.over(gray.shape, box)
    small = max(part.shape) < SMALL_GARMENT
    # Negated when the garment is darker than its background (a product photo: white -> 0, a black shoe -> 1),
    # taken as it is when it is lighter (Fashion-MNIST's own images, a white shirt on a grey floor); either way
    # the background's level becomes 0. Which, the garment's own pixels tell, not the background's level: a
    # navy shirt on a grey floor is dark on a background darker than 0.5, a white one on a grey wall light on
    # one lighter than 0.5, and deciding by the background alone made them all black or a faint outline.
    if _is_darker(part, background):
        garment_levels = np.clip(1 - part / np.maximum(background, 1 / 255), 0, 1)
    else:
        garment_levels = np.clip((part - background) / np.maximum(1 - background, 1 / 255), 0, 1)
    frame = _fit_centred(garment_levels)
    # Nothing in the frame stands out by Fashion-MNIST's own tolerance, as for a 28x28 picture above: what was
    # found is a few specks of dust on a bare backdrop, or as faint, and such an almost black frame was
    # classified all the same. Measured (docs/predict.md): a garment photographed gives 15 of 255 at the least
    # (a black one on a backdrop of 15), a bare backdrop with specks of dust 1 or 2.
    if frame.max() <= TRIM:
        return blank()
    # Brought to full brightness, as every Fashion-MNIST image is (its brightest pixel 254 or 255, in all
    # 70,000): a navy shirt on a grey floor came out at 190 of 255 at most, a coloured one on a coloured rug
    # often under 160, and the network, which has never seen a garment so dim, read them worse.
    return as_prepared(frame / frame.max(), small=small)


def _is_darker(part: np.ndarray, background: np.ndarray) -> bool:
    """Whether the garment in ``part`` (its box) is darker than ``background``: what differs from the
    background by more than TRIM is the garment, and the sum of its differences says on which side it lies
    (a dark shoe's light sole, a light shirt's shadows count against the rest, by how far they lie)."""
    difference = part - background
    garment = np.abs(difference) > TRIM
    return float(difference[garment].sum() if garment.any() else difference.sum()) < 0


class Backdrop:
    """The background's level across a picture: a quadratic in the position (fractions of the picture's height
    and width from its middle), so the same on a working copy and on the full picture."""

    def __init__(self, coefficients: np.ndarray) -> None:
        self.coefficients = coefficients  # of 1, x, y, x*x, x*y, y*y

    @classmethod
    def flat(cls, level: float) -> Backdrop:
        return cls(np.array([level, 0, 0, 0, 0, 0], dtype=np.float64))

    def over(self, shape: tuple[int, int], box: tuple[slice, slice] = (slice(None), slice(None))) -> np.ndarray:
        """The level at each pixel of ``box`` in a picture of ``shape``."""
        y = ((np.arange(shape[0])[box[0]] + 0.5) / shape[0] - 0.5)[:, None]
        x = ((np.arange(shape[1])[box[1]] + 0.5) / shape[1] - 0.5)[None, :]
        one, a, b, c, d, e = self.coefficients
        return (one + a * x + b * y + c * x * x + d * x * y + e * y * y).astype(np.float32)


def _backdrop(small: np.ndarray, corners: float) -> Backdrop:
    """The background's level, fitted to the border of ``small`` (BORDER wide): the pixels within TRIM of the
    fit, refitted three times from those near the border's median, so that a garment reaching the edge is left
    out. The corners' level ``corners`` all over when the border is too small to fit or half of it or more is
    not background."""
    height, width = small.shape
    if min(height, width) < 8:
        return Backdrop.flat(corners)
    reach = max(1, round(min(height, width) * BORDER))
    ring = np.ones_like(small, dtype=bool)
    ring[reach:-reach, reach:-reach] = False
    rows, cols = np.nonzero(ring)
    values = small[ring].astype(np.float64)
    y, x = (rows + 0.5) / height - 0.5, (cols + 0.5) / width - 0.5
    terms = np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=1)
    keep = np.abs(values - np.median(values)) <= 3 * TRIM
    for _ in range(3):
        if keep.mean() < 0.5:
            return Backdrop.flat(corners)
        kept = terms[keep]  # least squares by its normal equations (6x6): measured much faster than lstsq here
        try:
            coefficients = np.linalg.solve(kept.T @ kept, kept.T @ values[keep])
        except np.linalg.LinAlgError:
            return Backdrop.flat(corners)
        keep = np.abs(values - terms @ coefficients) <= TRIM
    backdrop = Backdrop(coefficients)
    # Within what the border shows, give or take TRIM: a fit from two sides only may bend away inside.
    levels = backdrop.over(small.shape)
    low, high = values[keep].min(initial=1.0) - TRIM, values[keep].max(initial=0.0) + TRIM
    if keep.mean() < 0.5 or levels.min() < low or levels.max() > high:
        return Backdrop.flat(corners)
    return backdrop


def _garment_box(gray: np.ndarray, small: np.ndarray, backdrop: Backdrop) -> tuple[slice, slice] | None:
    """The box of what differs from the ``backdrop`` by more than TRIM, specks left out; None if nothing does.

    The specks are told on ``small``, a copy at most WORKING_SIZE pixels across (a phone's photo has millions of
    pixels to label); the box is then made exact on the full picture, within a working pixel around it."""
    differs = np.abs(small - backdrop.over(small.shape)) > TRIM
    labels, count = ndimage.label(differs, EIGHT_NEIGHBOURS)
    if count == 0:
        return None
    sizes = np.bincount(labels.ravel())[1:]
    large = 1 + np.flatnonzero(sizes >= SPECK * small.size)
    garment = np.isin(labels, large) if large.size else differs  # all specks: a small mark, kept whole
    if small is gray:
        return box_around(garment, 0)
    near = full_size_box(box_around(garment, 1), small.shape, gray.shape)  # a working pixel wider
    region = np.abs(gray[near] - backdrop.over(gray.shape, near)) > TRIM
    if not region.any():  # the shrunk copy's averages passed TRIM where no pixel does: its box, as it is
        return near
    near_rows, near_cols = near
    rows, cols = box_around(region, 0)
    return (
        slice(near_rows.start + rows.start, near_rows.start + rows.stop),
        slice(near_cols.start + cols.start, near_cols.start + cols.stop),
    )


def _fit_centred(part: np.ndarray) -> np.ndarray:
    """``part`` scaled so its longer side is 28 pixels, in the middle of a black 28x28 frame."""
    height, width = part.shape
    scale = FRAME / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if size != (width, height):
        part = np.clip(
            np.asarray(Image.fromarray(part.astype(np.float32)).resize(size, Image.Resampling.LANCZOS)), 0, 1
        )
    frame = np.zeros((FRAME, FRAME), dtype=np.float32)
    top, left = (FRAME - part.shape[0]) // 2, (FRAME - part.shape[1]) // 2
    frame[top : top + part.shape[0], left : left + part.shape[1]] = part
    return frame
