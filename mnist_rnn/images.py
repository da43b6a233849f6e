"""Users' own images -> MNIST-style 28x28 uint8 tensors (predict time only).

A model trained on MNIST has only ever seen one kind of picture: a light digit on a black background,
scaled so its longer side is 20 pixels and placed in a 28x28 frame with its centre of mass in the middle.
A scan of dark ink on paper, or a drawing app's PNG with a transparent background, looks nothing like that,
so :func:`to_mnist` redoes MNIST's own normalisation on it. An image that already looks like MNIST goes
through unchanged, or at most shifted by one pixel.
"""

from __future__ import annotations

import glob
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from mnist_rnn.errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
FRAME = 28  # MNIST's image size
BOX = 20  # MNIST's digits fit a 20x20 box inside the frame
CENTRE = 14.0  # where MNIST's centres of mass lie (mean over the test set: 13.99 down, 14.01 across)
INK = 0.05  # pixels fainter than this (in [0, 1], after removing the background) are not ink


class ImageError(UserError):
    """A file that cannot be read as an image; the message names the file."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


def find_images(path_or_glob: str | Path) -> list[Path]:
    """The image files a user means: one file, the images in a folder, or the images a glob matches.

    A file named explicitly is always taken, whatever its suffix, so that a bad file is reported rather
    than skipped; in a folder or a glob only files with an image suffix count. Sorted, for a stable order.
    """
    path = Path(path_or_glob)
    if path.is_file():
        return [path]
    if path.is_dir():
        candidates = path.iterdir()
    else:
        candidates = (Path(p) for p in glob.glob(str(path_or_glob), recursive=True))
    found = sorted(p for p in candidates if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not found:
        raise UserError(f"no images found at {path_or_glob} (looked for {', '.join(IMAGE_SUFFIXES)} files)")
    return found


def load_image(path: str | Path) -> Image.Image:
    """Open and fully decode an image, so an empty, truncated or non-image file fails here, naming itself.

    PIL opens files lazily; ``load()`` forces the decoding that finds truncated data. Of an animated GIF
    only the first frame is read.
    """
    try:
        with Image.open(path) as image:
            image.load()
            return image.copy()
    except FileNotFoundError as error:
        raise ImageError(path, "no such file") from error
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        # PIL's UnidentifiedImageError (not an image, or empty) is an OSError, as is "image file is truncated".
        reason = "empty file" if Path(path).stat().st_size == 0 else str(error).strip() or type(error).__name__
        raise ImageError(path, f"not a readable image ({reason})") from error


def to_mnist(image: Image.Image) -> Tensor:
    """An image of one digit as MNIST would have it: uint8 tensor (1, 28, 28), light digit on black.

    The steps of MNIST's own preparation: grayscale (transparent pixels are background); dark ink on a
    light background inverted; the background level removed and the ink stretched to full brightness;
    cropped to the ink's bounding box; scaled to fit 20x20 keeping the aspect ratio; placed in a 28x28
    frame with its centre of mass in the middle.
    """
    ink = _ink(image)
    rows, cols = np.nonzero(ink > INK)
    if len(rows) == 0:  # a blank image: nothing to centre, and the model will say what it says
        return torch.zeros(1, FRAME, FRAME, dtype=torch.uint8)
    digit = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    digit = _fit(digit, BOX)
    frame = _place(digit, FRAME, CENTRE)
    return torch.from_numpy(np.rint(frame * 255).astype(np.uint8)).unsqueeze(0)


def _ink(image: Image.Image) -> np.ndarray:
    """Ink as float32 in [0, 1] on a background of 0, whatever the mode, transparency and polarity."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.float32) / 255
        gray = np.asarray(rgba.convert("L"), dtype=np.float32) / 255
        # Transparent pixels are background: lay the picture on the colour opposite to its visible
        # strokes (black ink goes on white, white ink on black), and the rest is an opaque picture.
        weight = alpha.sum()
        ink_is_dark = weight > 0 and (gray * alpha).sum() / weight < 0.5
        gray = gray * alpha + (1.0 if ink_is_dark else 0.0) * (1 - alpha)
    else:
        gray = np.asarray(image.convert("L"), dtype=np.float32) / 255
    # The border is (almost always) background: its median tells the polarity and the paper's level.
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background = float(np.median(border))
    if background > 0.5:  # dark ink on light paper
        gray, background = 1 - gray, 1 - background
    ink = np.clip(gray - background, 0, None)
    peak = float(ink.max())
    return ink / peak if peak > 0 else ink


def _fit(digit: np.ndarray, box: int) -> np.ndarray:
    """Scale so the longer side is ``box`` pixels, keeping the aspect ratio (unchanged if it already is)."""
    height, width = digit.shape
    scale = box / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # Mode "F" keeps the float precision; PIL returns a plain copy when the size does not change.
    resized = Image.fromarray(digit.astype(np.float32)).resize(size, Image.Resampling.LANCZOS)
    return np.clip(np.asarray(resized), 0, 1)


def _place(digit: np.ndarray, frame: int, centre: float) -> np.ndarray:
    """Paste ``digit`` into a black ``frame`` x ``frame`` image with its centre of mass nearest ``centre``.

    Shifts are whole pixels, as MNIST's were, so an MNIST image is not blurred by a sub-pixel move.
    """
    height, width = digit.shape
    total = digit.sum()
    centre_row = (digit.sum(axis=1) * np.arange(height)).sum() / total
    centre_col = (digit.sum(axis=0) * np.arange(width)).sum() / total
    top = int(np.clip(round(centre - centre_row), 0, frame - height))
    left = int(np.clip(round(centre - centre_col), 0, frame - width))
    out = np.zeros((frame, frame), dtype=np.float32)
    out[top : top + height, left : left + width] = digit
    return out
