"""Users' image files: finding them, decoding each once, and the set ``predict`` reads.

:func:`decode_image` is the one way a user's picture becomes a PIL image, for ``predict`` (a path) and
``serve`` (an upload's bytes) alike: the same formats, the same size limits, the same EXIF turn and the
same errors, each a :class:`ImageError` subclass whose message says what is wrong. :class:`UserImages`
holds a whole set for ``predict``: the prepared tensors, the files they came from, the files that could
not be read and what :func:`mnist_rnn.preparation.prepare` noticed in each (blank, several digits, a small one).
"""

from __future__ import annotations

import contextlib
import fnmatch
import glob
import io
import math
import multiprocessing
import os
import re
import signal
import stat
import struct
import sys
import time
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from mnist_rnn import stopping
from mnist_rnn.errors import UserError, first_few, first_line, pasted, shown_name, tell, warn
from mnist_rnn.garments import SMALL_GARMENT, prepare_garment
from mnist_rnn.preparation import FRAME, PREPARED_SIDE, SMALL_DIGIT, Prepared, prepare, prepare_character

# The picture formats read, by the file suffixes looked for in a folder. PIL may decode these and no others, so
# an upload reaches only their decoders: PNG, JPEG, BMP and GIF; WebP (pictures saved from the web, Android's
# screenshots) and TIFF (scanners); AVIF where Pillow reads it (11.3 and newer); HEIC, an iPhone's photos,
# through pillow-heif (a dependency; HEIC is left out where it is missing). A JPEG goes by other suffixes too:
# Windows' browsers save one as .jfif, others .jpe, .jif, .pjpeg or .pjp; a folder of them was "no images found".
SUFFIX_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".jfif": "JPEG",
    ".jpe": "JPEG",
    ".jif": "JPEG",
    ".pjpeg": "JPEG",
    ".pjp": "JPEG",
    ".bmp": "BMP",
    ".gif": "GIF",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".avif": "AVIF",
    ".heic": "HEIF",
    ".heif": "HEIF",
}
SHOWN_AS = {"WEBP": "WebP", "HEIF": "HEIC"}  # the names people know them by


def _readable_formats() -> tuple[str, ...]:
    """The formats of SUFFIX_FORMATS this Pillow can open (HEIF once pillow-heif has registered its opener)."""
    try:
        from pillow_heif import register_heif_opener

        register_heif_opener()
    except ImportError:
        pass
    Image.init()
    return tuple(dict.fromkeys(name for name in SUFFIX_FORMATS.values() if name in Image.OPEN))


FORMATS = _readable_formats()
IMAGE_SUFFIXES = tuple(suffix for suffix, name in SUFFIX_FORMATS.items() if name in FORMATS)


def listed(formats: tuple[str, ...] = FORMATS) -> str:
    """``formats`` for a message: "PNG, JPEG, BMP, GIF, WebP, TIFF, AVIF or HEIC"."""
    names = shown(formats)
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]


def shown(formats: tuple[str, ...] = FORMATS) -> list[str]:
    """``formats`` by the names people know them by (and :func:`format_by_signature` gives): "WebP", "HEIC"."""
    return [SHOWN_AS.get(name, name) for name in formats]


def cannot_read(name: str) -> str:
    """Why a picture in format ``name`` (as :func:`shown` names it), one of SUFFIX_FORMATS', is not read here: the
    plugin or the library Pillow needs for it is missing (HEIC without pillow-heif; AVIF before Pillow 11.3)."""
    how = {"HEIC": "pip install pillow-heif", "AVIF": "Pillow 11.3 or newer, built with AVIF, reads it"}
    return f"this installation reads no {name}: {how.get(name, f'a Pillow built with {name} reads it')}"


# The most pixels taken (a 48-megapixel phone photo has 48 million): a picture's size is read from its
# header before anything is decoded, so a small file that would unpack into gigabytes is refused cheaply.
MAX_PIXELS = 50_000_000
# What PIL's EXIF (TIFF) parser raises on a malformed block: "not a TIFF file" is a SyntaxError; short or
# inconsistent data an OSError, ValueError, KeyError or struct.error.
EXIF_ERRORS = (SyntaxError, OSError, ValueError, KeyError, struct.error)
# Preparing pictures is CPU work in numpy and scipy, file by file, so ``predict`` shares it out over worker
# processes, one per core it may use, when each worker gets at least this many files: below that, starting
# them costs more than they save on small PNGs.
MIN_FILES_PER_WORKER = 32
# From this many files on, predict says that it is preparing them before it does: it takes a while.
ANNOUNCED_FILES = 100
# The most files a worker is handed at once: a stop waits for the share in hand (64 phone photos: about a
# second), and more per message saves the parent little.
MAX_SHARE = 64
# While workers prepare, the loader is asked for a batch at least this often, so a stop is seen at once.
POLL_SECONDS = 0.25
# While pictures are prepared, a line on stderr says how far it got at most this often: a folder of phone photos
# was minutes of silence after "preparing N pictures". By time, not by count: a run shorter than this gets none.
PROGRESS_SECONDS = 10.0


class ImageError(UserError):
    """A picture that cannot be read; the message names the file (when there is one) and the reason."""

    def __init__(self, source: str | Path | None, reason: str) -> None:
        super().__init__(f"{source}: {reason}" if source is not None else reason)
        self.path = Path(source) if source is not None else None
        self.reason = reason


class NotAnImage(ImageError):
    """Empty, or not in one of :data:`FORMATS` (an HTTP server answers 415, or 400 when empty)."""


class VectorDrawing(NotAnImage):
    """An SVG file: lines and shapes, no pixels (a minified one is a single line, as ``curl -d`` leaves a file)."""


class ImageTooLarge(ImageError):
    """More pixels than the limit, or a decompression bomb (an HTTP server answers 413)."""


class DamagedImage(ImageError):
    """A known format whose data is truncated or damaged (an HTTP server answers 400)."""


def decode_image(
    source: bytes | str | Path, *, formats: tuple[str, ...] = FORMATS, max_pixels: int = MAX_PIXELS
) -> Image.Image:
    """A user's picture, fully decoded and turned upright by its EXIF orientation tag. A JPEG at least twice
    :data:`~mnist_rnn.preparation.PREPARED_SIDE` across is decoded at a reduced scale that keeps its longer
    side at least that: all the preparation uses.

    ``source`` is a file's path or a file's bytes (an upload). PIL opens lazily; the size is checked from
    the header first, then ``load()`` forces the decoding that finds truncated data, so a bad picture fails
    here with a reason, never later. Of an animated GIF (or PNG, WebP), or a multi-page TIFF, only the first
    frame is read; how many it holds is in ``info["frames"]`` (``predict`` says that the others were not read).

    Raises:
        ImageError: the file does not exist or cannot be opened (a folder, no permission).
        NotAnImage: empty, or not in one of ``formats`` (:data:`FORMATS`: PNG, JPEG, BMP, GIF, WebP, TIFF,
            AVIF, HEIC).
        ImageTooLarge: more than ``max_pixels`` pixels, or what PIL takes for a decompression bomb.
        DamagedImage: truncated or damaged data.
    """
    name = None if isinstance(source, bytes) else source
    if isinstance(source, bytes):
        data = source
    else:
        try:
            data = Path(source).read_bytes()
        except FileNotFoundError as error:
            raise ImageError(name, what_is_missing(source)) from error
        except OSError as error:
            raise ImageError(name, f"cannot be read ({error.strerror or error})") from error
    if not data:
        raise NotAnImage(name, "not a readable image (empty file)")
    # PIL's warnings: of a picture over 89 million pixels (refused below, in a line) and of corrupt EXIF or
    # metadata (a damaged file is refused in a line too, a readable one read): not for the user's terminal.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module="PIL")
        return _decode(data, name, formats, max_pixels)


def _bomb_refused(error: Exception, name: str | Path | None, max_pixels: int) -> ImageTooLarge:
    """Pillow's refusal of a picture of over twice its own limit (as it reads the header, or decodes a frame),
    told with this limit: its message named its own (178,956,970 pixels)."""
    found = re.search(r"\((\d+) pixels\)", str(error))
    pixels = int(found[1]) if found else None
    # Pillow's limit is below this one only where a program set it so (Image.MAX_IMAGE_PIXELS).
    limit = max_pixels if pixels is None or pixels > max_pixels else 2 * Image.MAX_IMAGE_PIXELS
    size = f"{pixels:,} pixels" if pixels is not None else f"over {2 * Image.MAX_IMAGE_PIXELS:,} pixels"
    return ImageTooLarge(name, f"image of {size}: the limit is {limit:,} pixels{_scaled_down(pixels, limit)}")


def _scaled_down(pixels: int | None, limit: int) -> str:
    """What to do with a picture of ``pixels`` over ``limit``: the scale that brings it under, with a command that
    makes it. A 200-megapixel photo was told only the limit, and the user was left to work out how much smaller."""
    percent = int(100 * math.sqrt(limit / pixels)) if pixels else 0
    if percent < 1:  # no photo: a file made to unpack into gigabytes
        return ""
    return (
        f"; scale it to {percent}% of its width and height or less (e.g. magick big.jpg -resize {percent}% "
        "small.jpg): a digit needs far fewer pixels"
    )


def _decode(data: bytes, name: str | Path | None, formats: tuple[str, ...], max_pixels: int) -> Image.Image:
    """:func:`decode_image` of a file's bytes."""
    try:
        image = Image.open(io.BytesIO(data), formats=formats)
    except Image.DecompressionBombError as error:
        raise _bomb_refused(error, name, max_pixels) from error
    except (OSError, SyntaxError, ValueError) as error:  # PIL's UnidentifiedImageError is an OSError
        started = format_by_signature(data)
        if started is not None and started not in shown(formats):
            # A whole HEIC photo where pillow-heif is missing: it was "truncated or damaged HEIC data", and the
            # user looked for what was wrong with the file.
            raise NotAnImage(name, f"not a readable image (a {started} file, and {cannot_read(started)})") from error
        if started is not None:  # a file cut off within its header: PIL cannot tell its format, its first bytes can
            raise DamagedImage(name, f"not a readable image (truncated or damaged {started} data)") from error
        if b"<svg" in data[:4096].lower():
            raise VectorDrawing(name, "not a readable image (an SVG drawing, not pixels: export it as PNG)") from error
        if data.startswith(b"%PDF-"):  # a scan or a page saved as PDF: the one document users send most
            raise NotAnImage(name, "not a readable image (a PDF document: export its page as PNG)") from error
        raise NotAnImage(name, f"not a readable image (not a {listed(formats)} file)") from error
    width, height = image.size
    if width * height > max_pixels:
        raise ImageTooLarge(
            name,
            f"image of {width} x {height} pixels: the limit is {max_pixels:,} pixels"
            f"{_scaled_down(width * height, max_pixels)}",
        )
    # An animation's frames, a scan's pages: counted from their headers, none decoded (after load() a GIF's or a
    # TIFF's count seeks back to the first frame, and decodes it again). A phone's multi-picture JPEG (MPO) holds
    # a smaller preview of the same photo beside it: one picture.
    image.info["frames"] = 1 if image.format == "MPO" else getattr(image, "n_frames", 1)
    if image.format in ("JPEG", "MPO") and max(width, height) >= 2 * PREPARED_SIDE:
        # libjpeg decodes at 1/2, 1/4 or 1/8 scale directly (DCT scaling), the cheapest way to the size the
        # preparation reduces a picture to anyway: a 12-megapixel photo at 1/4 decodes in about a third of the time.
        # (A phone's MPO too, a JPEG with a preview: it was decoded at full size.)
        scale = max(width, height) / PREPARED_SIDE
        image.draft(image.mode, (int(width / scale), int(height / scale)))
    try:
        image.load()
    except Image.DecompressionBombError as error:
        raise _bomb_refused(error, name, max_pixels) from error
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        reason = f"not a readable image (truncated or damaged {image.format} data: {first_line(error)})"
        raise DamagedImage(name, reason) from error
    if image.format == "PNG" and (damaged := _bad_png_chunk(data)) is not None:
        reason = f"not a readable image (damaged PNG data: the checksum of its {damaged} chunk does not match)"
        raise DamagedImage(name, reason)
    if image.mode == "LAB":  # a TIFF in CIELAB: Pillow converts it to nothing; its L channel is the lightness
        image = image.getchannel("L")
    return _upright(image)


def _bad_png_chunk(data: bytes) -> str | None:
    """The type of the first critical chunk of a PNG (IHDR, PLTE, IDAT, IEND: its first letter upper case)
    whose CRC does not match its data, or None. Pillow checks the other chunks' as it opens a file but not the
    pixels' (IDAT): a file damaged in them (a flaky download, a failing card) decoded into a picture with
    blocks of it wrong, and a 5 was read as a 3, 99% sure, without a word. libpng, and so a browser or an image
    viewer, refuses such a file. A CRC costs little beside decoding the same bytes."""
    at = len(SIGNATURES["PNG"][0])
    while at + 12 <= len(data):
        (length,) = struct.unpack_from(">I", data, at)
        kind = data[at + 4 : at + 8]
        end = at + 8 + length
        if end + 4 > len(data):  # cut short: load() has read what there is, and said so where it mattered
            return None
        if kind[:1].isupper() and zlib.crc32(data[at + 4 : end]) != struct.unpack_from(">I", data, end)[0]:
            return kind.decode("latin-1")
        if kind == b"IEND":
            return None
        at = end + 4
    return None


# The first bytes of each format read, as their specifications fix them.
SIGNATURES = {
    "PNG": (b"\x89PNG\r\n\x1a\n",),
    "JPEG": (b"\xff\xd8\xff",),
    "GIF": (b"GIF87a", b"GIF89a"),
    "TIFF": (b"II*\x00", b"MM\x00*"),
}
# The sizes of a BMP's second header (its first bytes, "BM", begin too many other files to say BMP alone).
BMP_HEADER_SIZES = (12, 40, 52, 56, 64, 108, 124)


def format_by_signature(data: bytes) -> str | None:
    """The format a file's first bytes say it is (WebP, AVIF and HEIC: by their container's brand)."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        return "AVIF" if brand.startswith(b"avi") else "HEIC" if brand[:3] in (b"hei", b"hev", b"mif") else None
    if data[:2] == b"BM" and (len(data) < 18 or int.from_bytes(data[14:18], "little") in BMP_HEADER_SIZES):
        return "BMP"
    return next((name for name, starts in SIGNATURES.items() if data.startswith(starts)), None)


def _upright(image: Image.Image) -> Image.Image:
    """Turned as its EXIF orientation tag says (phones store pictures sideways and set the tag). A
    malformed EXIF block is ignored (the pixels are still there, as stored); only the errors PIL's EXIF
    parser raises are caught, not bugs. In place: Pillow's copy, made even when there is nothing to turn, cost
    every large picture a full copy's time and memory."""
    try:
        ImageOps.exif_transpose(image, in_place=True)
    except EXIF_ERRORS:
        pass
    return image


def missing(path_or_glob: str | Path) -> bool:
    """A path that names nothing: no such file or folder, and no wildcard that a glob would expand."""
    return not Path(path_or_glob).exists() and not any(wildcard in str(path_or_glob) for wildcard in "*?[")


def what_is_missing(path: str | Path) -> str:
    """Why a :func:`missing` path names nothing: a link to nothing is named as one, not as "no such file" of a
    name the user can see in the folder."""
    if Path(path).is_symlink():
        return f"a symbolic link to {shown_name(os.readlink(path))}, which does not exist"
    if str(path) == "-":  # as many commands read the standard input: this one reads a path, so name its pipe
        return "no such file or folder (to read a picture piped in, name the standard input: /dev/stdin)"
    return "no such file or folder"


def _a_pipe(path: Path) -> bool:
    """Whether ``path`` is a pipe: ``/dev/stdin`` with a picture piped in, or a shell's ``<(curl -s URL)``. Named
    explicitly, it is read as a file is (once); it was "no images found", as a folder of none. (Not a device:
    ``/dev/zero`` would be read for ever.)"""
    try:
        return stat.S_ISFIFO(path.stat().st_mode)
    except OSError:
        return False


def natural_order(path: Path) -> tuple[list[str | int], str]:
    """The order a file manager lists files in: ``2.png`` before ``10.png`` (their numbers as numbers; the plain
    order put ``10.png``, ``100.png`` and ``1000.png`` before ``2.png``), ``Scan`` beside ``scan``."""
    text = str(path)
    parts = re.split(r"(\d+)", text.lower())  # text at even places, digits at odd ones: each compares with its kind
    return [int(part) if index % 2 else part for index, part in enumerate(parts)], text


def find_images(path_or_glob: str | Path) -> list[Path]:
    """The image files a user means: one file, the images in a folder, or the images a glob matches.

    A file named explicitly is always taken, whatever its suffix, so that a bad file is reported rather
    than skipped; in a folder or a glob only files with an image suffix count, and a warning names the others
    (a PDF, a Photoshop file: a picture the user meant, perhaps). Hidden files and folders are not read, as
    a glob's ``*`` leaves them out: ``.DS_Store``, and the ``._IMG_0001.jpg`` a Mac writes beside each photo
    on a USB stick or a shared drive (its metadata, not an image, whatever its suffix). Sorted, for a stable
    order.
    """
    path = Path(path_or_glob)
    if path.is_file() or _a_pipe(path):
        return [path]
    if missing(path_or_glob):
        raise UserError(f"{shown_name(path_or_glob)}: {what_is_missing(path_or_glob)}")
    below = False  # a folder's subfolders are not read, but images in them are named (a folder per class)
    linked: list[Path] = []  # ... and links to folders that hold images, which '**' does not follow either
    unreadable: list[tuple[Path, OSError]] = []  # folders this user may not list (their images cannot be seen)
    if path.is_dir():
        try:
            candidates = [p for p in path.iterdir() if not p.name.startswith(".")]
        except OSError as error:
            raise UserError(f"{shown_name(path_or_glob)}: cannot be read ({error.strerror or error})") from error
        folders = [folder for folder in candidates if folder.is_dir()]
        below = any(_holds_images(folder, unreadable) for folder in folders if not folder.is_symlink())
        # The glob named for subfolders does not follow a link to a folder (see _glob): it promised their images, and
        # read none of them, without a word. A link is named, as the path that reads its images (not one back up to
        # this folder or above it, whose images are these).
        here = path.resolve()
        linked = [
            folder
            for folder in folders
            if folder.is_symlink()
            and folder.resolve() not in (here, *here.parents)
            and _holds_images(folder, unreadable)
        ]
    else:
        candidates = _glob(str(path_or_glob), unreadable, linked)
    # A link to nothing is one of the user's files too: with an image suffix it gets its row, with its reason.
    files = [p for p in candidates if p.is_file() or (p.is_symlink() and not p.exists())]
    found = sorted((p for p in files if p.suffix.lower() in IMAGE_SUFFIXES), key=natural_order)
    others = sorted((p for p in files if p.suffix.lower() not in IMAGE_SUFFIXES), key=natural_order)
    # A picture in a format this installation cannot read (an iPhone's HEIC photos without pillow-heif) is said
    # so, with what reads it: "not a ... file by the suffix of its name" made a folder of HEIC photos look wrong.
    unread: dict[str, list[Path]] = {}
    for other in others:
        if other.suffix.lower() in SUFFIX_FORMATS:
            unread.setdefault(shown((SUFFIX_FORMATS[other.suffix.lower()],))[0], []).append(other)
    others = [other for other in others if other.suffix.lower() not in SUFFIX_FORMATS]
    named = first_few([shown_name(other) for other in others])
    # Quoted for the shell as a whole (a quote in a folder's name, "it's pics", opened a string where it was
    # put between quotes as it was); the glob's stars inside the quotes are the program's, not the shell's.
    every_image = f"--data.predict_path {pasted(path / '**' / '*')}"
    if path.is_dir() and (found or below):
        unreadable = []  # a folder's subfolders are not read anyway: said below, when they hold images
    for folder, error in unreadable:
        warn(f"skipped the folder {shown_name(folder)}: cannot be read ({error.strerror or error})")
    for kind, skipped in unread.items():
        names = [shown_name(file) for file in skipped]
        which = f"{len(skipped)} {kind} files ({first_few(names)})" if len(skipped) > 1 else names[0]
        warn(f"skipped {which}: {cannot_read(kind)}")
    for folder in linked:
        warn(
            f"the images in {shown_name(folder)} were not read: a link to a folder is not followed "
            f"(--data.predict_path {pasted(folder)} reads them)"
        )
    if not found and below:
        where = shown_name(path_or_glob)
        raise UserError(f"no images in {where} itself, but in its subfolders: {every_image} reads them all")
    if not found:
        besides = f"; other files there: {named}" if others else ""
        raise UserError(f"no images found at {shown_name(path_or_glob)} (looked for {listed()} files{besides})")
    if others:
        if len(others) == 1:
            warn(f"skipped {named}: not a {listed()} file, by the suffix of its name")
        else:
            warn(f"skipped {len(others)} files, not {listed()} files by the suffix of their names: {named}")
    if below:
        warn(f"the images in subfolders of {shown_name(path_or_glob)} were not read: {every_image} reads them too")
    return found


def _glob(pattern: str, unreadable: list[tuple[Path, OSError]], linked: list[Path]) -> list[Path]:
    """The paths a glob names, hidden files and folders left out as glob's ``*`` leaves them out. A ``**``
    goes through pathlib, which does not follow symbolic links to folders there: ``glob.glob`` followed a link
    to a parent folder round and round (82 rows for 2 files; with two such links, without end). The folders
    below that cannot be listed, which the glob passes over in silence, are added to ``unreadable``; the links
    to folders elsewhere whose images it would have named, followed, to ``linked`` (it passed over them in
    silence too: a Dropbox or a photo library linked into the folder read, say)."""
    pattern = _any_case_suffix(pattern)
    parts = Path(pattern).parts
    if parts and parts[-1] == "**":  # 'DIR/**' as a shell's globstar has it: every file below, on every Python
        parts = (*parts, "*")  # (pathlib's own '**' at the end names folders alone before 3.13, files too from it)
    # The folders it begins with that exist as named are taken as named: 'Trip [2024]/*.jpg' was a glob of the
    # folders 'Trip 2', 'Trip 0' and 'Trip 4', and found no images in the folder that holds them.
    first = next((index for index, part in enumerate(parts) if glob.has_magic(part)), len(parts))
    while first < len(parts) - 1 and Path(*parts[: first + 1]).is_dir():
        first += 1
    root = Path(*parts[:first]) if first else Path(".")
    if "**" not in parts:  # no recursion; a '**' inside a name is a '*' to glob
        return [Path(path) for path in glob.glob(str(Path(glob.escape(str(root)), *parts[first:])))]
    if not root.is_dir():  # a mistyped folder: "no images found", not "skipped the folder ...: cannot be read"
        return []
    found = root.glob(str(Path(*parts[first:])))
    visible = [path for path in found if not any(part.startswith(".") for part in path.relative_to(root).parts)]
    links: list[Path] = []
    _holds_images(root, unreadable, stop_at_first=False, links=links)
    here, named = root.resolve(), Path(glob.escape(str(root)), *parts[first:])
    for link in links:  # not one to a folder the glob reads anyway, or above it (whose images are not elsewhere)
        target = link.resolve()
        if not target.is_relative_to(here) and target not in here.parents and _matched_below(link, named):
            linked.append(link)
    return visible


def _matched_below(link: Path, pattern: Path) -> bool:
    """Whether a file with an image suffix below ``link``, a link to a folder, named through it, matches the
    ``**`` glob ``pattern`` (fnmatch's ``*`` spans folders, as ``**`` does; a single one does so too, a little
    more than the glob would). Hidden files and folders are left out, and links below it not followed."""
    for top, folders, names in os.walk(link):
        folders[:] = [name for name in folders if not name.startswith(".")]
        for name in names:
            path = Path(top, name)
            if (
                not name.startswith(".")
                and path.suffix.lower() in IMAGE_SUFFIXES
                and fnmatch.fnmatchcase(str(path), str(pattern))
            ):
                return True
    return False


def _any_case_suffix(pattern: str) -> str:
    """The glob with its image suffix matching in any case: cameras and phones name their photos
    ``IMG_0001.JPG``, and ``'photos/*.jpg'`` passed them over in silence (a glob is case-sensitive on Linux)."""
    name = Path(pattern).name
    stem, dot, suffix = name.rpartition(".")
    if not dot or f".{suffix.lower()}" not in SUFFIX_FORMATS:  # HEIC's too where it is not read: it is named
        return pattern
    any_case = "".join(f"[{letter.lower()}{letter.upper()}]" if letter.isalpha() else letter for letter in suffix)
    return str(Path(pattern).with_name(f"{stem}.{any_case}"))


def _holds_images(
    folder: Path, unreadable: list[tuple[Path, OSError]], stop_at_first: bool = True, links: list[Path] | None = None
) -> bool:
    """Whether ``folder`` or a folder below it holds a file with an image suffix, hidden ones left out as
    ``**/*`` leaves them out (stops at the first, unless told not to). Links to folders are not followed: one
    to a parent folder made ``glob`` go round and round, for ever with two of them; they are added to ``links``,
    where given. The folders that cannot be listed are added to ``unreadable``."""
    found = False

    def note(error: OSError) -> None:
        unreadable.append((Path(error.filename), error))

    for top, folders, names in os.walk(folder, onerror=note):  # followlinks=False
        folders[:] = [name for name in folders if not name.startswith(".")]
        if links is not None:
            links.extend(Path(top, name) for name in folders if os.path.islink(os.path.join(top, name)))
        for name in names:
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES and Path(top, name).is_file():
                found = True
                if stop_at_first:
                    return True
    return found


def preparing_workers(count: int) -> int:
    """The worker processes for preparing ``count`` files: one per CPU core this process may use (``taskset``
    and container limits count), none when that would give a worker fewer than ``MIN_FILES_PER_WORKER``
    files. Only where processes start by ``fork`` (Linux): elsewhere each would import torch afresh. None in
    a daemonic process (a DataLoader's worker, say), which may not start processes of its own."""
    if sys.platform != "linux" or multiprocessing.current_process().daemon:
        return 0
    workers = min(len(os.sched_getaffinity(0)), count // MIN_FILES_PER_WORKER)
    return workers if workers > 1 else 0


# One file's outcome: (pixels uint8 (1, 28, 28), blank, several, small, frames), or why it could not be read. Numpy,
# not a tensor: a tensor sent between processes travels through a shared-memory file of its own.
Outcome = tuple[np.ndarray, bool, bool, bool, int] | str


Preparation = Callable[[Image.Image], Prepared]


SUBJECTS = {"mnist": "digit", "fashion_mnist": "garment", "kmnist": "character"}


def subject_of(dataset: str) -> str:
    """What one picture for a model of ``dataset`` shows, for messages: "digit", "garment", "character"."""
    return SUBJECTS.get(dataset, "digit")


def small_size(dataset: str) -> int:
    """Under how many pixels (its longer side, in the picture) a picture's subject is flagged ``small`` for a
    model of ``dataset``: :data:`mnist_rnn.garments.SMALL_GARMENT` for a garment, SMALL_DIGIT otherwise."""
    return SMALL_GARMENT if dataset == "fashion_mnist" else SMALL_DIGIT


def preparation_for(dataset: str) -> Preparation:
    """How a user's picture is made to look like the images of ``dataset``: Fashion-MNIST's garments as that
    data set made them (:func:`mnist_rnn.garments.prepare_garment`); MNIST's digits and KMNIST's characters
    (strokes, fitted and centred as MNIST's) by the digit search (:func:`mnist_rnn.preparation.prepare`),
    which for a character keeps its parts that stand side by side (:func:`mnist_rnn.preparation.prepare_character`)."""
    return {"fashion_mnist": prepare_garment, "kmnist": prepare_character}.get(dataset, prepare)


def _prepare_file(path: Path, preparation: Preparation = prepare) -> Outcome:
    try:
        image = decode_image(path)
        prepared = preparation(image)
    except ImageError as error:
        return error.reason
    return prepared.pixels.numpy(), prepared.blank, prepared.several, prepared.small, image.info.get("frames", 1)


class _PictureFiles(Dataset):
    """Files as their outcomes, for the worker processes of a DataLoader."""

    def __init__(self, paths: list[Path], preparation: Preparation) -> None:
        self.paths = paths
        self.preparation = preparation

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> Outcome:
        return _prepare_file(self.paths[index], self.preparation)


def _ignore_stops(worker_id: int) -> None:
    """In a worker: Ctrl+C reaches the whole process group, and the parent alone answers it (its handler
    prints the one line, then the DataLoader ends its workers); SIGTERM, if it comes, ends one at once."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class _Progress:
    """Says on stderr, every PROGRESS_SECONDS, how many of ``total`` pictures are prepared and about how long the
    rest takes: the line Lightning's progress bar would draw, but on stderr (stdout is the table), and one line
    at a time, so that a log file or a CI job's output shows it as a terminal does."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.start = self.last = time.monotonic()

    def add(self, count: int) -> None:
        """``count`` more pictures are prepared."""
        self.done += count
        now = time.monotonic()
        if now - self.last < PROGRESS_SECONDS or self.done >= self.total:
            return
        self.last = now
        left = max(1, round((now - self.start) / self.done * (self.total - self.done)))
        rest = f"{left} s" if left < 120 else f"{round(left / 60)} min"
        tell(f"prepared {self.done:,} of {self.total:,} pictures ({self.done / self.total:.0%}), about {rest} to go")


def _prepared_files(paths: list[Path], workers: int, preparation: Preparation = prepare) -> list[Outcome]:
    """Each file's outcome, in order, from ``workers`` forked processes (or from this one when 0).

    A DataLoader's workers rather than a ``multiprocessing.Pool``: a pool whose worker dies (the kernel's
    out-of-memory killer, a crash in a decoder) waits forever for its result; a DataLoader says so.

    Ctrl+C and SIGTERM are deferred while the workers run (:func:`mnist_rnn.stopping.deferred_stops`): a stop
    raised in the middle of the DataLoader's own code could leave one of its queues' locks held, and its
    clean-up would then wait for ever (a test hung so). The loader is asked for each batch with a short
    timeout, so that a stop is seen within POLL_SECONDS even while a worker is busy with a large file; the
    loader then ends its workers as usual, and the stop goes on to the command's own handler.

    How far it got is said every PROGRESS_SECONDS (:class:`_Progress`).
    """
    progress = _Progress(len(paths))
    if workers == 0:
        outcomes: list[Outcome] = []
        for path in paths:
            outcomes.append(_prepare_file(path, preparation))
            progress.add(1)
        return outcomes
    loader = DataLoader(
        _PictureFiles(paths, preparation),
        batch_size=max(1, min(MAX_SHARE, len(paths) // (4 * workers))),  # at least four shares each: even ends
        num_workers=workers,
        collate_fn=list,
        worker_init_fn=_ignore_stops,
        multiprocessing_context="fork" if sys.platform == "linux" else None,  # elsewhere the platform's own
        timeout=POLL_SECONDS,
    )
    outcomes = []
    with stopping.deferred_stops() as stops:
        batches = iter(loader)
        while not stops:
            try:
                share = next(batches)
                outcomes.extend(share)
                progress.add(len(share))
            except StopIteration:
                break
            except RuntimeError as error:
                if str(error).startswith("DataLoader timed out"):  # no batch within POLL_SECONDS: ask again
                    continue
                if not str(error).startswith("DataLoader worker"):
                    raise
                raise UserError(
                    f"a process preparing the images ended abruptly ({first_line(error)}): out of memory? "
                    "--data.prepare_workers 0 prepares them one at a time in this process"
                ) from error
        del batches  # its workers are ended here, in order, before a deferred stop is raised
    return outcomes


class UserImages(Dataset):
    """Users' images prepared for the model, and where each came from: the one record ``predict`` keeps.

    ``images[i]`` was prepared from ``files[i]``; ``blank[i]`` says that no digit was found in it and
    ``several[i]`` that it holds more than one (the image shows the heaviest), ``small[i]`` that its digit was
    too small to read as surely as its probability says, and ``frames[i]`` how many frames or pages it holds (the
    first alone is read: an animated GIF, a multi-page TIFF); the files that could not be read are in
    ``failures``, each with its reason, and have no image. A DataLoader batch is
    ``(images uint8 (B, 1, 28, 28), indices)``: the indices point into ``files``, so whoever writes the
    predictions knows which file each row is about.
    """

    def __init__(
        self,
        files: list[Path],
        images: Tensor,
        blank: list[bool],
        failures: list[tuple[Path, str]],
        several: list[bool],
        small: list[bool],
        frames: list[int],
    ) -> None:
        if not len(files) == len(images) == len(blank) == len(several) == len(small) == len(frames):
            counts = f"{len(blank)} blank, {len(several)} several, {len(small)} small, {len(frames)} frames"
            raise ValueError(f"{len(files)} files, {len(images)} images, {counts}")
        self.files = files
        self.images = images
        self.blank = blank
        self.several = several
        self.small = small
        self.frames = frames
        self.failures = failures
        self.saved: list[Path] | None = None  # where save() wrote each file's prepared image, in files' order

    @classmethod
    def load(cls, path_or_glob: str | Path, workers: int | None = None, dataset: str = "mnist") -> UserImages:
        """Read and prepare every image up front: a bad file is recorded with its reason, the others go on.

        ``workers``: processes that share the files out (0: this process alone); by default one per CPU
        core this process may use, when there are enough files (:func:`preparing_workers`). ``dataset``: the
        data set whose images they are made to look like (:func:`preparation_for`).
        """
        paths = find_images(path_or_glob)
        workers = preparing_workers(len(paths)) if workers is None else workers
        if len(paths) >= ANNOUNCED_FILES:  # most of such a run: 2,000 photos were seconds of silence
            tell(f"preparing {len(paths):,} pictures" + (f" in {workers} processes" if workers > 1 else ""))
        files, images, blank, several, small, frames, failures = [], [], [], [], [], [], []
        outcomes = _prepared_files(paths, workers, preparation_for(dataset))
        for path, outcome in zip(paths, outcomes, strict=True):
            if isinstance(outcome, str):
                failures.append((path, outcome))
            else:
                pixels, is_blank, has_several, is_small, count = outcome
                files.append(path)
                images.append(torch.from_numpy(pixels))
                blank.append(is_blank)
                several.append(has_several)
                small.append(is_small)
                frames.append(count)
        stacked = torch.stack(images) if images else torch.zeros(0, 1, FRAME, FRAME, dtype=torch.uint8)
        return cls(files, stacked, blank, failures, several, small, frames)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.images[index], torch.tensor(index)

    def __getitems__(self, indices: list[int]) -> tuple[Tensor, Tensor]:
        """A whole batch in one gather (see :class:`mnist_rnn.data.InMemoryImages`)."""
        index = torch.as_tensor(indices)
        return self.images.index_select(0, index), index

    def save(self, folder: str | Path) -> list[Path]:
        """Write each prepared image as a 28x28 PNG named after its file: ``scan.jpg`` -> ``scan.png``; a
        second file with the same stem (``scan.png``, or ``other/scan.jpg``) -> ``scan-2.png``, and so on.
        Returns the paths written, in the order of ``files``."""
        folder = Path(folder)
        theirs = [path for path in self.files if path.parent.resolve() == folder.resolve()]
        if theirs:
            # Their own folder: scan.png was overwritten by its 28x28 image, and the next run read the others too.
            named = shown_name(theirs[0].name) + (", ..." if len(theirs) > 1 else "")
            raise UserError(
                f"--data.save_prepared {shown_name(folder)}: the folder of {len(theirs)} of the pictures "
                f"themselves ({named}); their prepared images would overwrite or join them: name another folder"
            )
        written: list[Path] = []
        replaced: list[str] = []  # files that were there before: an earlier run's, or the user's own
        current: Path | None = None
        try:
            folder.mkdir(parents=True, exist_ok=True)
            taken: set[str] = set()
            for path, image in zip(self.files, self.images, strict=True):
                name, count = f"{path.stem}.png", 1
                while name in taken:
                    count += 1
                    name = f"{path.stem}-{count}.png"
                taken.add(name)
                current = folder / name
                if current.exists():
                    replaced.append(name)
                Image.fromarray(np.asarray(image[0])).save(current)
                written.append(current)
        except OSError as error:
            if current is not None and current not in written:  # cut short (a full disk): an empty PNG was left
                with contextlib.suppress(OSError):
                    current.unlink()
            raise UserError(
                f"cannot save the prepared images in {shown_name(folder)}: {error.strerror or error}"
            ) from error
        if replaced:  # said, not done silently: a file of the user's own in that folder was overwritten unsaid
            files = f"{len(replaced)} file{'s' if len(replaced) > 1 else ''}"
            named = first_few([shown_name(name) for name in replaced])
            warn(f"--data.save_prepared {shown_name(folder)}: replaced {files} already there: {named}")
        self.saved = written
        return written
