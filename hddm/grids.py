"""Sample grids with one prompt per row: the prompt's images side by side, its text in a label column on the left,
every image upscaled (nearest neighbour, so pixels stay sharp) to a readable size.

Columns follow the data: as many as the prompt with the most images has, wrapping onto further rows past
max_columns so a prompt with hundreds of images stays a picture, not a strip.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from PIL import Image, ImageDraw, ImageFont

from hddm.io import atomic_write

MIN_CELL = 96  # px: the smallest side an image is shown at (28 px MNIST digits: x4, 112 px)
GAP = 4  # px between images and between prompts
LABEL_MAX_WIDTH = 220  # px: longer prompts wrap onto further lines
BACKGROUND, INK = (255, 255, 255), (0, 0, 0)


def upscale(image: torch.Tensor, factor: int) -> Image.Image:
    """[C, H, W] in [0, 1], C 1 or 3, as an RGB picture factor times larger."""
    if image.shape[0] not in (1, 3):
        raise ValueError(f"a grid shows 1- or 3-channel images, got {image.shape[0]} channels")
    pixels = (image.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    picture = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).convert("RGB")
    return picture.resize((picture.width * factor, picture.height * factor), Image.NEAREST)


def group_by_prompt(prompts: Sequence[str]) -> dict[str, list[int]]:
    """prompt -> positions of its images, prompts in order of first appearance."""
    groups: dict[str, list[int]] = {}
    for index, prompt in enumerate(prompts):
        groups.setdefault(prompt, []).append(index)
    return groups


def wrap(text: str, font: ImageFont.FreeTypeFont, width: float) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        candidate = f"{line} {word}".strip()
        if line and font.getlength(candidate) > width:
            lines.append(line)
            line = word
        else:
            line = candidate
    return [*lines, line] if line else lines


def labelled_grid(images: torch.Tensor, prompts: Sequence[str], max_columns: int = 8) -> Image.Image:
    """images [N, C, H, W] in [0, 1]; prompts[i] is the prompt of images[i]."""
    if len(images) != len(prompts) or not len(images):
        raise ValueError(f"a grid needs one prompt per image, got {len(images)} images and {len(prompts)} prompts")
    factor = -(-MIN_CELL // min(images.shape[-2:]))
    cell_h, cell_w = images.shape[-2] * factor, images.shape[-1] * factor
    groups = group_by_prompt(prompts)
    columns = min(max(len(positions) for positions in groups.values()), max(max_columns, 1))
    font = ImageFont.load_default(size=max(12, cell_h // 8))
    line_height = font.getbbox("Ag")[3] + 2
    labels = {prompt: wrap(prompt, font, LABEL_MAX_WIDTH) for prompt in groups}
    label_w = min(max(font.getlength(line) for lines in labels.values() for line in lines or [""]), LABEL_MAX_WIDTH)
    left = int(label_w) + 2 * GAP
    rows = [-(-len(positions) // columns) for positions in groups.values()]
    grid = Image.new(
        "RGB", (left + columns * (cell_w + GAP), GAP + sum(rows) * (cell_h + GAP) + GAP * (len(rows) - 1)), BACKGROUND
    )
    draw = ImageDraw.Draw(grid)
    top = GAP
    for (prompt, positions), height in zip(groups.items(), rows):
        shown = labels[prompt][: max(1, (height * (cell_h + GAP) - GAP) // line_height)]
        for line_number, line in enumerate(shown):
            draw.text((GAP, top + line_number * line_height), line, fill=INK, font=font)
        for k, position in enumerate(positions):
            row, column = divmod(k, columns)
            grid.paste(upscale(images[position], factor), (left + column * (cell_w + GAP), top + row * (cell_h + GAP)))
        top += height * (cell_h + GAP) + GAP  # a double gap between prompts
    return grid


def save_labelled_grid(
    path: str | Path, images: torch.Tensor, prompts: Sequence[str], max_columns: int = 8
) -> Image.Image:
    """Write labelled_grid(...) as a PNG atomically; returns the picture (for loggers)."""
    grid = labelled_grid(images, prompts, max_columns)
    atomic_write(path, lambda tmp: grid.save(tmp, format="png"))
    return grid
