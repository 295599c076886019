import pytest
import torch

from hddm.errors import HddmError
from hddm.models.dit import DIT_SIZES, DiT, DiTConfig, get_dit_size

SMALL = DiTConfig(hidden_size=32, depth=2, num_heads=4, patch_size=2)


def make(channels=1, image=8, text_dim=12, seed=0):
    torch.manual_seed(seed)
    return DiT(SMALL, channels, image, text_dim)


def inputs(channels=1, image=8, text_dim=12, batch=3, tokens=5):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(batch, channels, image, image, generator=g)
    t = torch.rand(batch, generator=g) * 999
    text = torch.randn(batch, tokens, text_dim, generator=g)
    return x, t, text, torch.ones(batch, tokens, dtype=torch.bool)


@pytest.mark.parametrize("channels,image", [(1, 28), (4, 32), (3, 8)])
def test_output_shape_any_channel_count(channels, image):
    model = DiT(DiTConfig(32, 1, 4, 4 if image == 28 else 2), channels, image, 12)
    x, t, text, mask = inputs(channels, image)
    assert model(x, t, text, mask).shape == x.shape


def test_unpatchify_inverts_patch_layout():
    model = make(channels=4)
    p, g = 2, 4
    image = torch.randn(2, 4, 8, 8)
    # patch tokens with channel index fastest within each patch, as DiT lays them out
    tokens = image.reshape(2, 4, g, p, g, p).permute(0, 2, 4, 3, 5, 1).reshape(2, g * g, p * p * 4)
    torch.testing.assert_close(model.unpatchify(tokens), image)


def test_zero_initialised_output_and_cross_attention():
    model = make()
    x, t, text, mask = inputs()
    assert torch.count_nonzero(model(x, t, text, mask)) == 0  # final layer starts at zero
    assert all(torch.count_nonzero(b.cross_attn.proj.weight) == 0 for b in model.blocks)


def trained_like(model):
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return model


def test_masked_text_tokens_are_ignored():
    model = trained_like(make())
    x, t, text, mask = inputs()
    mask[:, 3:] = False
    other = text.clone()
    other[:, 3:] = torch.randn_like(other[:, 3:])
    torch.testing.assert_close(model(x, t, text, mask), model(x, t, other, mask))
    assert not torch.allclose(model(x, t, text, None), model(x, t, other, None))


def test_samples_do_not_interact_within_a_batch():
    model = trained_like(make())
    x, t, text, mask = inputs()
    torch.testing.assert_close(
        model(x, t, text, mask)[:1], model(x[:1], t[:1], text[:1], mask[:1]), atol=1e-5, rtol=1e-5
    )


def test_dit_checkpoint_names_are_kept():
    names = set(make().state_dict())
    for name in [
        "x_embedder.proj.weight",
        "t_embedder.mlp.0.weight",
        "blocks.0.attn.qkv.weight",
        "blocks.1.mlp.fc2.bias",
        "blocks.0.scale_shift_table",
        "t_block.1.weight",
        "final_layer.linear.weight",
    ]:
        assert name in names


def test_size_registry_matches_dit_paper():
    assert (DIT_SIZES["dit_xl2"].hidden_size, DIT_SIZES["dit_xl2"].depth, DIT_SIZES["dit_xl2"].num_heads) == (
        1152,
        28,
        16,
    )
    assert (DIT_SIZES["dit_b2"].hidden_size, DIT_SIZES["dit_b2"].depth) == (768, 12)
    assert (DIT_SIZES["dit_s2"].hidden_size, DIT_SIZES["dit_s2"].depth) == (384, 12)
    with pytest.raises(HddmError, match="model=<name>"):
        get_dit_size("dit_huge")


def test_indivisible_image_size_is_refused():
    with pytest.raises(HddmError, match="not divisible"):
        DiT(DiTConfig(32, 1, 4, 4), 1, 30, 12)
