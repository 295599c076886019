import torch

from hddm.models.text import MiniLMTextEncoder, OpenCLIPTextEncoder


def test_packaged_minilm_encodes_offline():
    encoder = MiniLMTextEncoder(max_length=16)
    tokens, mask = encoder(["a handwritten digit seven", ""])
    assert tokens.shape == (2, 16, 384) and mask.shape == (2, 16)
    assert mask[1].sum() == 2  # the empty prompt is [CLS] [SEP]
    assert mask[0].sum() > mask[1].sum()
    assert not torch.allclose(tokens[0, 1], tokens[1, 1])


def test_open_clip_text_tower_code_path_without_download():
    # Same code as ViT-L/14 with weights from the hub; a small architecture with random weights keeps it fast.
    encoder = OpenCLIPTextEncoder("ViT-B-32", pretrained=None)
    tokens, mask = encoder(["a photograph of a red sports car", ""])
    assert tokens.shape == (2, 77, encoder.dim) and mask.all()
    assert encoder.encoder_id == "open_clip/ViT-B-32/random-init"
