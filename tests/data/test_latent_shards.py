import pytest
import torch
from safetensors.torch import save_file

from hddm.data.datasets import LatentShardDataset
from hddm.errors import HddmError


def write_shards(folder, sizes, channels=4, image=4, tokens=3, dim=5):
    rows = []
    for number, n in enumerate(sizes):
        latents = torch.randn(n, channels, image, image).half()
        text = torch.randn(n, tokens, dim).half()
        mask = torch.rand(n, tokens) > 0.3
        save_file(
            {"latents": latents, "text": text, "text_mask": mask}, str(folder / f"shard-{number:05d}.safetensors")
        )
        rows += [(latents[i], text[i], mask[i]) for i in range(n)]
    return rows


def test_rows_are_read_across_shards_by_global_index(tmp_path):
    rows = write_shards(tmp_path, [3, 4, 2])
    dataset = LatentShardDataset(tmp_path, indices=[0, 2, 3, 6, 8], scale_factor=2.0)
    assert len(dataset) == 5
    for position, row in enumerate([0, 2, 3, 6, 8]):
        item = dataset[position]
        torch.testing.assert_close(item["x"], rows[row][0].float() * 2.0)
        torch.testing.assert_close(item["text"], rows[row][1].float())
        assert torch.equal(item["text_mask"], rows[row][2])


def test_empty_shard_folder_names_the_fix(tmp_path):
    with pytest.raises(HddmError, match="data.shard_dir"):
        LatentShardDataset(tmp_path)
