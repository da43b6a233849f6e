"""Cheap checks of a pair of IDX files (images + labels) before torchvision decodes them.

torchvision's reader trusts the header: a truncated download, a wrong file or a mismatched pair ends in a
cryptic reshape error or, worse, in silently wrong data. These checks read only the headers, the file sizes
and the (small) label file, and say in one line what is wrong and in which file.
"""

from __future__ import annotations

import hashlib
import math
import struct
from pathlib import Path

import torch

from mnist_rnn.errors import DataError, shown_name

IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions (count, rows, columns)
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension (count)


def check_idx_pair(images: Path, labels: Path, image_size: int = 28, num_classes: int = 10) -> int:
    """Check an images/labels pair of IDX files and return how many examples they hold. The files are named as
    :func:`~mnist_rnn.errors.shown_name` writes them: a folder with a line break in its name split the
    message, and the command line's one line joined its halves with a space, naming a file that is not there.

    Raises:
        DataError: a wrong magic number or image size, a file shorter or longer than its header says,
            different counts in the two files, or a label outside ``0..num_classes-1``.
    """
    image_dims = _read_header(images, IMAGES_MAGIC, "image")
    count, rows, columns = image_dims
    if (rows, columns) != (image_size, image_size):
        raise DataError(f"{shown_name(images)}: images are {rows}x{columns} pixels, expected {image_size}x{image_size}")
    (label_count,) = _read_header(labels, LABELS_MAGIC, "label")
    if label_count != count:
        raise DataError(
            f"{shown_name(images)} holds {count:,} images but {shown_name(labels)} holds {label_count:,} labels"
        )
    values = torch.frombuffer(bytearray(labels.read_bytes()[8:]), dtype=torch.uint8)
    bad = (values >= num_classes).nonzero()
    if len(bad):
        first = int(bad[0])
        raise DataError(
            f"{shown_name(labels)}: labels must be 0-{num_classes - 1}, found {int(values[first])} at index {first:,} "
            f"({len(bad):,} of {len(values):,} labels out of range)"
        )
    return count


def fingerprint(path: Path) -> str:
    """Which file this is, cheaply: the SHA-256 of its first MiB (16 hex digits). A file's size and header
    are checked on their own; the start of its pixels or labels tells the family's files apart (every set
    has the same sizes and headers)."""
    with open(path, "rb") as file:
        return hashlib.sha256(file.read(1 << 20)).hexdigest()[:16]


def _read_header(path: Path, magic: int, kind: str) -> tuple[int, ...]:
    """The dimensions in the header of ``path``, after checking its magic number and its size."""
    ndim = magic & 0xFF
    header_size = 4 + 4 * ndim
    try:
        with open(path, "rb") as file:
            header = file.read(header_size)
    except OSError as error:  # no permission, most often on shared storage
        raise DataError(f"{shown_name(path)}: cannot be read ({error.strerror or error})") from error
    if len(header) < 4 or struct.unpack(">I", header[:4])[0] != magic:
        found = f"0x{struct.unpack('>I', header[:4])[0]:08x}" if len(header) >= 4 else "none: the file is empty"
        raise DataError(f"{shown_name(path)}: not an IDX {kind} file (magic number {found}, expected 0x{magic:08x})")
    if len(header) < header_size:
        raise DataError(f"{shown_name(path)}: truncated: the file ends inside its {header_size}-byte header")
    dims = struct.unpack(f">{ndim}I", header[4:])
    expected = header_size + math.prod(dims)
    actual = path.stat().st_size
    if actual != expected:
        what = "truncated" if actual < expected else "too long"
        raise DataError(
            f"{shown_name(path)}: {what}: its header promises {dims[0]:,} {kind}s ({expected:,} bytes) "
            f"but the file has {actual:,} bytes; download it again"
        )
    return dims
