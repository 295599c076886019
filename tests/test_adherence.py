import torch

from hddm.data import mnist
from hddm.metrics.adherence import mnist_prompt_adherence, prompted_digit


def test_digit_words_and_numerals_are_read():
    assert prompted_digit("a handwritten digit seven") == 7
    assert prompted_digit("the number 3, written by hand") == 3
    assert prompted_digit("a cat") is None


def test_adherence_is_high_on_real_digits_and_near_chance_on_noise(cache_dir):
    images, labels = mnist.load_split(cache_dir, "test")
    x = torch.from_numpy(images[:300]).float()[:, None] / 127.5 - 1
    prompts = [f"a handwritten digit {mnist.DIGIT_WORDS[d]}" for d in labels[:300]]
    assert mnist_prompt_adherence(x, prompts, cache_dir)["accuracy"] > 0.95
    noise = torch.rand(300, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert mnist_prompt_adherence(noise, prompts, cache_dir)["accuracy"] < 0.3
    assert mnist_prompt_adherence(x, ["a cat"] * 300, cache_dir) is None
