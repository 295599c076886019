import numpy as np
import pytest
import torch
from PIL import Image

from hddm.data.mnist import digit_prompt
from hddm.grids import GAP, labelled_grid, save_labelled_grid

PROMPTS = [digit_prompt(d) for d in range(10)]
CELL = 112  # 28 px images, upscaled x4


def constant_images(count: int, size: int = 28) -> torch.Tensor:
    """Image k is one flat grey level, so every cell of the grid says which image it shows."""
    levels = torch.arange(1, count + 1, dtype=torch.float32) / (count + 1)
    return levels.view(-1, 1, 1, 1).expand(count, 1, size, size).clone()


def test_a_row_per_prompt_a_column_per_image_of_it_and_a_readable_label():
    prompts = [PROMPTS[i % 10] for i in range(40)]  # cycled, as sample and evaluate assign them
    images = constant_images(40)
    grid = np.asarray(labelled_grid(images, prompts))
    height, width, _ = grid.shape
    assert height == GAP + 10 * (CELL + GAP) + 9 * GAP  # 10 prompts, a double gap between them
    left = width - 4 * (CELL + GAP)  # 4 images per prompt: 4 columns, not a fixed 8
    assert 100 < left < 250  # the label column fits "a handwritten digit seven"
    for row, prompt in enumerate(PROMPTS):
        top = GAP + row * (CELL + 2 * GAP)
        label = grid[top : top + CELL, : left - GAP]
        assert (label < 128).any(), f"no label ink beside {prompt!r}"
        for column in range(4):
            shown = row + 10 * column  # the images of prompt `row`, in order
            cell = grid[top : top + CELL, left + column * (CELL + GAP) :][:CELL, :CELL]
            expected = round(float(images[shown, 0, 0, 0]) * 255)
            assert cell.shape[:2] == (CELL, CELL) and (np.abs(cell.astype(int) - expected) <= 1).all()


def test_a_prompt_with_many_images_wraps_and_small_images_are_upscaled_more():
    grid = labelled_grid(constant_images(10), ["a handwritten digit seven"] * 10, max_columns=4)
    rows, columns = 3, 4
    assert grid.height == GAP + rows * (CELL + GAP)
    assert grid.width - columns * (CELL + GAP) < 250
    assert labelled_grid(constant_images(2, size=64), ["x", "y"]).height == GAP + 2 * (128 + GAP) + GAP  # x2


def test_grid_is_written_as_png_and_rejects_unpaired_prompts(tmp_path):
    images = torch.rand(6, 3, 28, 28)
    written = save_labelled_grid(tmp_path / "grid.png", images, ["red", "green", "blue"] * 2)
    with Image.open(tmp_path / "grid.png") as read:
        assert read.size == written.size and read.mode == "RGB"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.png"]  # no temporary file left
    with pytest.raises(ValueError, match="one prompt per image"):
        labelled_grid(images, ["red"])
    with pytest.raises(ValueError, match="channels"):
        labelled_grid(torch.rand(1, 2, 28, 28), ["two channels"])
