"""How long one phone photo takes to read in each format ``predict`` and ``serve`` take, side by side.

The same 12-megapixel picture (4032 x 3024, an iPhone's and many Android phones' size: a printed digit on
paper, with sensor noise) is saved as JPEG, HEIC, WebP and PNG, then decoded by
:func:`mnist_rnn.user_images.decode_image` and prepared by :func:`mnist_rnn.preparation.prepare`, the formats
taking turns in each round. Prints the median milliseconds over the rounds and each format's decoding time
as a multiple of JPEG's.

    python -m benchmarks.decode_formats [--rounds 5]
"""

from __future__ import annotations

import argparse
import io
import statistics
import time

import numpy as np
from PIL import Image, ImageDraw

from benchmarks.own_digits import font_of, fonts
from mnist_rnn.preparation import prepare
from mnist_rnn.user_images import FORMATS, SHOWN_AS, decode_image

SIZE = (4032, 3024)
SAVED = {"JPEG": {"quality": 90}, "HEIF": {"quality": 80}, "WEBP": {"quality": 90}, "PNG": {}}


def phone_photo(seed: int = 0) -> Image.Image:
    """A printed 4 on warm paper filling the frame, with a phone sensor's noise."""
    picture = Image.new("RGB", SIZE, (205, 195, 175))
    font = font_of(list(fonts().values())[0], 1500)
    ImageDraw.Draw(picture).text((1500, 600), "4", fill=(30, 30, 40), font=font)
    noise = np.random.default_rng(seed).normal(0, 4, (SIZE[1], SIZE[0], 1))
    return Image.fromarray(np.clip(np.asarray(picture, dtype=np.float32) + noise, 0, 255).astype(np.uint8))


def main_cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be 1 or more")
    photo = phone_photo()
    files = {}
    for name, options in SAVED.items():
        if name in FORMATS:  # HEIF needs pillow-heif, a dependency
            buffer = io.BytesIO()
            photo.save(buffer, name, **options)
            files[name] = buffer.getvalue()
    decoding: dict[str, list[float]] = {name: [] for name in files}
    preparing: dict[str, list[float]] = {name: [] for name in files}
    for _ in range(args.rounds):
        for name, data in files.items():
            start = time.perf_counter()
            picture = decode_image(data)
            decoded = time.perf_counter()
            prepare(picture)
            decoding[name].append(1000 * (decoded - start))
            preparing[name].append(1000 * (time.perf_counter() - decoded))
    jpeg = statistics.median(decoding["JPEG"])
    print(f"{SIZE[0]} x {SIZE[1]} pixels, the median of {args.rounds} rounds:")  # above the table, not in its header
    print("| format | file | decode (ms) | x JPEG's | prepare (ms) |")
    print("|---|---|---|---|---|")
    for name, data in files.items():
        decode = statistics.median(decoding[name])
        print(
            f"| {SHOWN_AS.get(name, name)} | {len(data) / 1e6:.1f} MB | {decode:.0f} | {decode / jpeg:.1f} | "
            f"{statistics.median(preparing[name]):.0f} |"
        )


if __name__ == "__main__":
    main_cli()
