"""How sure is ``predict`` of pictures that are not digits at all?

The calibrated probabilities (``fit`` stores a temperature in the checkpoint) mean "of digits this sure, this
share is read right": they are fitted on MNIST's validation digits. A model of ten digits still names one of
them for anything else. This draws the letters A-Z, and for comparison the digits 0-9, as on the page: light
on black 320x320 canvases, in four DejaVu fonts, at a size and place that vary a little; ``predict`` reads
them (its CSV, as written). Printed: how many digits are read right, and how sure it is of digits and of
letters (the median top probability, and how many are 90% and 99% sure or more).

    python -m benchmarks.not_digits --ckpt-path CKPT [--seed 0]
"""

from __future__ import annotations

import argparse
import statistics
import string
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from benchmarks.desk_notes import FONTS
from benchmarks.options import existing_file
from benchmarks.own_digits import FONT_FOLDER
from benchmarks.predict_agreement import run_predict

CANVAS = 320  # the page's drawing pad, in pixels
CHARACTERS = string.digits + string.ascii_uppercase


def draw_canvases(folder: Path, seed: int) -> dict[str, str]:
    """Write one canvas per font and character into ``folder``; {file name: character}."""
    rng = np.random.default_rng(seed)
    drawn = {}
    for font_name in FONTS:
        for character in CHARACTERS:
            font = ImageFont.truetype(str(FONT_FOLDER / font_name), int(CANVAS * rng.uniform(0.55, 0.75)))
            canvas = Image.new("L", (CANVAS, CANVAS), 0)
            centre = CANVAS / 2 + rng.uniform(-0.08, 0.08, size=2) * CANVAS
            ImageDraw.Draw(canvas).text(tuple(centre), character, fill=255, font=font, anchor="mm")
            name = f"{Path(font_name).stem}-{character}.png"
            canvas.save(folder / name)
            drawn[name] = character
    return drawn


def summary(probabilities: list[float]) -> str:
    count = len(probabilities)
    sure = [sum(p >= bound for p in probabilities) for bound in (0.9, 0.99)]
    return (
        f"median top probability {statistics.median(probabilities):.3f}; 90% sure or more: {sure[0]} "
        f"({sure[0] / count:.0%}), 99% or more: {sure[1]} ({sure[1] / count:.0%})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt-path", required=True, type=existing_file)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work) / "canvases"
        folder.mkdir()
        drawn = draw_canvases(folder, args.seed)
        rows = run_predict(args.ckpt_path, folder, Path(work))
    digits = {name: character for name, character in drawn.items() if character.isdigit()}
    right = sum(rows[name][0] == character for name, character in digits.items())
    digit_probabilities = [float(rows[name][1]) for name in digits]
    letter_probabilities = [float(rows[name][1]) for name in drawn if name not in digits]
    print(f"{args.ckpt_path}: the page's canvases, {len(FONTS)} fonts (seed {args.seed})")
    print(f"digits 0-9 ({len(digits)}): read right {right}; {summary(digit_probabilities)}")
    print(f"letters A-Z ({len(letter_probabilities)}), not digits: {summary(letter_probabilities)}")


if __name__ == "__main__":
    main()
