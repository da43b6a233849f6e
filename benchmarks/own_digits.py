"""How well does a checkpoint read digits that are not MNIST's? (issue 6's second "done when")

Renders the digits 0-9 from fonts in dark ink on large light canvases, off-centre, in a few sizes, ink
colours and canvas sizes; saves them as PNG files; runs ``python -m mnist_rnn predict`` on them in-process
and prints the accuracy, per font and overall, and the mistakes. ``--grid`` saves what the model saw
(the preprocessed 28x28 images, one row per rendering) for a look.

    python -m benchmarks.own_digits --ckpt-path CKPT [--grid own_digits.png]
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from benchmarks.predict_agreement import run_predict
from mnist_rnn.images import load_image, to_mnist

FONT_FOLDER = Path("/usr/share/fonts/truetype/dejavu")
FONTS = ["DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf", "DejaVuSansCondensed.ttf"]
# (canvas size, font size, where the digit's top-left corner goes as a fraction of the free space)
LAYOUTS = [((640, 480), 160, (0.85, 0.2)), ((300, 400), 90, (0.1, 0.8)), ((1000, 800), 400, (0.3, 0.6))]
INKS = [((10, 10, 10), (250, 250, 250)), ((30, 40, 120), (235, 225, 200))]  # black on white; blue on paper


def fonts() -> dict[str, ImageFont.FreeTypeFont]:
    """The DejaVu fonts where installed, and Pillow's own scalable default font everywhere."""
    found = {"pillow-default": None}
    found.update({name.removesuffix(".ttf"): FONT_FOLDER / name for name in FONTS if (FONT_FOLDER / name).is_file()})
    return found


def render(
    digit: int,
    font_path: Path | None,
    canvas: tuple[int, int],
    size: int,
    where: tuple[float, float],
    ink: tuple[int, int, int],
    paper: tuple[int, int, int],
) -> Image.Image:
    font = ImageFont.load_default(size=size) if font_path is None else ImageFont.truetype(str(font_path), size)
    image = Image.new("RGB", canvas, paper)
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = draw.textbbox((0, 0), str(digit), font=font)
    x = int(where[0] * (canvas[0] - (right - left))) - left
    y = int(where[1] * (canvas[1] - (bottom - top))) - top
    draw.text((x, y), str(digit), fill=ink, font=font)
    return image


def main_cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt-path", type=Path, required=True, help="a checkpoint written by fit")
    parser.add_argument("--grid", type=Path, help="save the preprocessed digits as one PNG here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder, workdir = Path(tmp) / "digits", Path(tmp) / "run"
        folder.mkdir()
        workdir.mkdir()
        truth = {}
        for (font, path), (layout_index, layout), (ink_index, (ink, paper)) in itertools.product(
            fonts().items(), enumerate(LAYOUTS), enumerate(INKS)
        ):
            for digit in range(10):
                name = f"{font}_l{layout_index}_i{ink_index}_{digit}.png"
                render(digit, path, *layout, ink, paper).save(folder / name)
                truth[name] = digit
        predicted = run_predict(args.ckpt_path.resolve(), folder, workdir)
        if args.grid:
            rows = [
                sorted(n for n in truth if n.rsplit("_", 1)[0] == stem)
                for stem in sorted({n.rsplit("_", 1)[0] for n in truth})
            ]
            grid = np.concatenate(
                [np.concatenate([to_mnist(load_image(folder / n))[0].numpy() for n in row], 1) for row in rows]
            )
            Image.fromarray(grid).resize((grid.shape[1] * 2, grid.shape[0] * 2), Image.Resampling.NEAREST).save(
                args.grid
            )

    per_font: dict[str, list[bool]] = defaultdict(list)
    mistakes = []
    for name, digit in truth.items():
        right = predicted[name][0] == digit
        per_font[name.split("_l")[0]].append(right)
        if not right:
            mistakes.append(f"{name}: read as {predicted[name][0]} ({predicted[name][1]:.2f})")
    total = sum(sum(v) for v in per_font.values())
    print(f"font digits: {total}/{len(truth)} correct ({total / len(truth):.1%})")
    for font, results in per_font.items():
        print(f"  {font:26s} {sum(results)}/{len(results)}")
    for line in sorted(mistakes):
        print(f"  wrong: {line}")


if __name__ == "__main__":
    main_cli()
