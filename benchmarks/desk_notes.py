"""Can ``predict`` find a digit on a small note photographed on a desk, turned and seen at a slant?

A harder cousin of ``own_digits``' ``surface`` kind: the note covers only 6-25% of the photo, so the light
part of the picture is too small to be taken for paper by its size alone, and it is turned by up to 45
degrees (half of the notes also seen from the side, a trapezoid), on a desk of any shade from near-black
to mid-grey. The digit is printed in one of four DejaVu fonts. Reports how many are read right; the
turned digits themselves are the model's limit (MNIST's digits are upright), so compare versions, not
against 100%. ``--samples DIR`` saves the first eight photos and the 28x28 images the model saw.

    python -m benchmarks.desk_notes --ckpt-path CKPT [--count 60] [--seed 7] [--samples DIR]
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from benchmarks.own_digits import FONT_FOLDER, sensor_noise, to_image
from benchmarks.predict_agreement import run_predict
from mnist_rnn.preparation import prepare
from mnist_rnn.user_images import decode_image

FONTS = ["DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSans-Bold.ttf", "DejaVuSansMono.ttf"]


def desk_notes(count: int, seed: int) -> Iterator[tuple[int, Image.Image]]:
    """``count`` (digit, photo) pairs, the digits 0-9 in turn."""
    rng = np.random.default_rng(seed)
    for index in range(count):
        digit = index % 10
        width, height = int(rng.uniform(600, 1000)), int(rng.uniform(500, 900))
        shade = rng.uniform(30, 140)
        desk = Image.new("RGBA", (width, height), (int(shade), int(shade * 0.8), int(shade * 0.6), 255))
        note_width, note_height = int(width * rng.uniform(0.25, 0.5)), int(height * rng.uniform(0.25, 0.5))
        paper = int(rng.uniform(200, 250))
        note = Image.new("RGBA", (note_width, note_height), (paper, paper, int(paper * 0.95), 255))
        font_size = int(min(note_width, note_height) * rng.uniform(0.4, 0.7))
        font = ImageFont.truetype(str(FONT_FOLDER / FONTS[index % len(FONTS)]), font_size)
        draw = ImageDraw.Draw(note)
        left, top, right, bottom = draw.textbbox((0, 0), str(digit), font=font)
        x = (note_width - (right - left)) / 2 - left + rng.uniform(-0.1, 0.1) * note_width
        y = (note_height - (bottom - top)) / 2 - top + rng.uniform(-0.1, 0.1) * note_height
        draw.text((x, y), str(digit), fill=(20, 20, 60, 255), font=font)
        note = note.rotate(rng.uniform(-45, 45), expand=True, resample=Image.Resampling.BICUBIC)
        if rng.random() < 0.5:  # seen from the side: the far edge looks wider than the near one
            w, h = note.size
            lean = rng.uniform(0.05, 0.2) * w
            corners = (-lean, 0, 0, h, w, h, w + lean, 0)
            note = note.transform(note.size, Image.Transform.QUAD, corners, resample=Image.Resampling.BICUBIC)
        at = (int(rng.uniform(0, max(1, width - note.width))), int(rng.uniform(0, max(1, height - note.height))))
        desk.alpha_composite(note, at)
        yield digit, to_image(sensor_noise(np.asarray(desk.convert("RGB"), dtype=np.float32), rng, 3))


def main_cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt-path", type=Path, required=True, help="a checkpoint written by fit")
    parser.add_argument("--count", type=int, default=60, help="how many photos")
    parser.add_argument("--seed", type=int, default=7, help="seed of the generated photos")
    parser.add_argument("--samples", type=Path, help="save the first eight photos and what the model saw here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder, workdir = Path(tmp) / "notes", Path(tmp) / "run"
        folder.mkdir()
        workdir.mkdir()
        truth = {}
        for index, (digit, photo) in enumerate(desk_notes(args.count, args.seed)):
            name = f"note_{index:03d}_{digit}.jpg"
            photo.save(folder / name, quality=90)
            truth[name] = digit
        predicted = run_predict(args.ckpt_path.resolve(), folder, workdir)
        if args.samples:
            args.samples.mkdir(parents=True, exist_ok=True)
            for name in sorted(truth)[:8]:
                decode_image(folder / name).save(args.samples / name)
                seen = prepare(decode_image(folder / name)).pixels[0].numpy()
                Image.fromarray(seen).save(args.samples / f"{Path(name).stem}_prepared.png")

    right = [name for name, digit in truth.items() if predicted[name][0] == str(digit)]
    print(f"desk notes (seed {args.seed}): {len(right)}/{len(truth)} read right ({len(right) / len(truth):.1%})")
    for name in sorted(set(truth) - set(right)):
        print(f"  wrong: {name}: read as {predicted[name][0]} ({predicted[name][1]})")


if __name__ == "__main__":
    main_cli()
