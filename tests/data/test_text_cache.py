"""The prompt-embedding cache: a prompt's embedding does not depend on its list, and a corrupt entry is re-encoded."""

import torch

from hddm.data.text_cache import cached_prompt_embeddings


class CountingEncoder:
    """A stand-in encoder whose output for a prompt depends on the batch it is encoded in, as batched kernels can."""

    def __init__(self):
        self.calls = 0

    def __call__(self, prompts):
        self.calls += 1
        tokens = torch.stack([torch.full((3, 4), float(len(p))) for p in prompts]) + 1e-3 * len(prompts)
        return tokens, torch.ones(len(prompts), 3, dtype=torch.bool)


def test_a_prompts_embedding_does_not_depend_on_its_list(tmp_path):
    encoder = CountingEncoder()
    alone, _ = cached_prompt_embeddings(["a seven"], "counting", lambda: encoder, tmp_path)
    listed, _ = cached_prompt_embeddings(["a one", "a seven", "a seven"], "counting", lambda: encoder, tmp_path)
    assert torch.equal(listed[1], alone[0]) and torch.equal(listed[2], alone[0])


def test_a_corrupt_entry_is_re_encoded_with_one_line(tmp_path, capsys):
    encoder = CountingEncoder()
    first, mask = cached_prompt_embeddings(["a two", "a three"], "counting", lambda: encoder, tmp_path)
    (path,) = (tmp_path / "text").glob("*.safetensors")
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x40  # a flipped exponent bit in the last float
    path.write_bytes(bytes(data))
    calls = encoder.calls
    again, _ = cached_prompt_embeddings(["a two", "a three"], "counting", lambda: encoder, tmp_path)
    assert torch.equal(again, first) and encoder.calls > calls
    assert "corrupt or foreign: re-encoding" in capsys.readouterr().err
    cached, _ = cached_prompt_embeddings(["a two", "a three"], "counting", lambda: encoder, tmp_path)
    assert torch.equal(cached, first)
