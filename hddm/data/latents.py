"""The latents stage: images -> SD-VAE latents and captions -> text-encoder states, in training shards; and back
(VAEDecoder) from generated latents to images for evaluation.

Each shard is what hddm.data.datasets.LatentShardDataset reads: `latents` [n, 4, H/8, W/8] already multiplied
by the scale factor (0.18215 for the SD VAE), `text` [n, L, D], `text_mask` [n, L] bool; the scale factor,
VAE and text-encoder ids and the item keys are in the safetensors metadata and in the shard's record.
Latents are the posterior mean (deterministic: a rebuilt shard is the same shard). A shard whose scaled
latents do not have a std near 1 is refused before it is written: a wrong scale factor would silently give
every expert mis-scaled data.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from hddm.data.caches import ShardedCache, keys_digest
from hddm.data.features import autocast, first_line
from hddm.data.image_captions import ImageSource
from hddm.errors import HddmError
from hddm.io import sha256_file


def vae_id(pretrained: str) -> str:
    """A hub id as given; a local folder by its weights' content hash."""
    folder = Path(pretrained).expanduser()
    if not folder.is_dir():
        return pretrained
    weights = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    if not weights:
        raise HddmError(
            f"no VAE weights (*.safetensors) in {folder}: point vae.pretrained at a diffusers AutoencoderKL folder"
        )
    return f"local:sha256:{sha256_file(weights[0])[:16]}"


def load_vae(pretrained: str, device: torch.device):
    """A diffusers AutoencoderKL from a hub id or a local folder, frozen, in eval mode."""
    from diffusers import AutoencoderKL

    local = Path(pretrained).expanduser()
    try:
        vae = AutoencoderKL.from_pretrained(str(local) if local.is_dir() else pretrained, low_cpu_mem_usage=False)
    except (OSError, ValueError, EnvironmentError) as error:
        raise HddmError(
            f"cannot load the VAE {pretrained!r} ({first_line(error)}): "
            f"set vae.pretrained to a local diffusers AutoencoderKL folder"
        ) from None
    return vae.to(device).eval().requires_grad_(False)


class VAEEncoder:
    def __init__(self, pretrained: str, device: torch.device, precision: str):
        self.vae = load_vae(pretrained, device)
        self.device, self.precision, self.encoder_id = device, precision, vae_id(pretrained)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 [B, C, H, W] -> unscaled posterior-mean latents, float32 [B, 4, H/8, W/8]."""
        x = images.to(self.device).float() / 127.5 - 1.0
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        with autocast(self.device, self.precision):
            return self.vae.encode(x).latent_dist.mean.float().cpu()


class VAEDecoder:
    """Generated latents -> images in [-1, 1]: undoes the scaling the experts were trained on (the shards' VAE
    scale factor, times data.scale_factor applied when the shards are read) before the VAE decodes."""

    def __init__(
        self, pretrained: str, device: torch.device, precision: str, scale_factor: float, data_scale_factor: float
    ):
        self.vae = load_vae(pretrained, device)
        self.device, self.precision, self.decoder_id = device, precision, vae_id(pretrained)
        self.divisor = scale_factor * data_scale_factor

    @torch.no_grad()
    def __call__(self, latents: torch.Tensor) -> torch.Tensor:
        with autocast(self.device, self.precision):
            images = self.vae.decode(latents.to(self.device) / self.divisor).sample
        return images.float().clamp(-1, 1)


def latents_cache(
    shard_dir: str | Path,
    encoder_id: str,
    text_id: str,
    source: ImageSource,
    scale_factor: float,
    dtype: str,
    precision: str,
) -> ShardedCache:
    """The training's shard folder, refused if it already holds shards made with other settings."""
    key = {
        "stage": "latents",
        "vae": encoder_id,
        "text_encoder": text_id,
        "scale_factor": scale_factor,
        "source": source.fingerprint,
        "resolution": source.resolution,
        "crop": source.crop,
        "dtype": dtype,
        "precision": precision,
        "latents": "posterior-mean",
    }
    return ShardedCache(shard_dir, key)


def check_latent_std(std: float, scale_factor: float, std_range: list[float] | None, shard: str) -> None:
    if std_range is not None and not std_range[0] <= std <= std_range[1]:
        raise HddmError(
            f"{shard}: latent std {std:.3f} after scale factor {scale_factor} is outside {list(std_range)}: "
            f"the SD VAE needs vae.scale_factor=0.18215 (vae.std_range=null skips this check)"
        )


def encode_shard(
    vae: VAEEncoder,
    text_encoder,
    source: ImageSource,
    index: int,
    batch_size: int,
    scale_factor: float,
    dtype: torch.dtype,
    std_range: list[float] | None,
    precision: str,
):
    """(tensors, metadata, record info) of one training shard."""
    keys, latents, texts, masks, skipped = [], [], [], [], 0
    for batch in source.iter_shard(index, batch_size):
        skipped += batch.skipped
        if not batch.keys:
            continue
        if batch.captions is None:
            raise HddmError("this source has no captions: the latents stage needs image-caption data (source.path)")
        keys += batch.keys
        latents.append(vae(batch.images) * scale_factor)
        with autocast(vae.device, precision):
            tokens, mask = text_encoder(batch.captions)
        texts.append(tokens.float().cpu().to(dtype))
        masks.append(mask.bool().cpu())
    if not keys:
        raise HddmError(f"shard {index} of the source has no readable images: check the images under source.path")
    scaled = torch.cat(latents)
    std = float(scaled.std())
    name = source.shard_names()[index]
    check_latent_std(std, scale_factor, std_range, name)
    tensors = {"latents": scaled.to(dtype), "text": torch.cat(texts), "text_mask": torch.cat(masks)}
    metadata = {
        "keys": json.dumps(keys),
        "scale_factor": str(scale_factor),
        "vae": vae.encoder_id,
        "text_encoder": text_encoder.encoder_id,
    }
    info = {
        "rows": len(keys),
        "skipped": skipped,
        "keys_sha256": keys_digest(keys),
        "latent_std": round(std, 4),
        "scale_factor": scale_factor,
    }
    return tensors, metadata, info
