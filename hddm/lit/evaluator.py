"""EnsembleEvaluator: a LightningModule that samples a routed ensemble and feeds torchmetrics metrics.

Lightning places it on devices and runs one copy per process; the work is a fixed list of batches (fixed by n,
the batch size and the diversity layout, never by the number of processes), dealt round-robin to the
processes without padding, so exactly the planned samples are drawn once each. Sample i's starting noise
comes from its own generator seeded by (seed, i) and a batch's routing randomness from seed + its first index,
so every image is the same for any number of processes. Metric states sync across processes at compute().
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import lightning as L
import torch
from scipy.stats import binomtest
from torch.utils.data import DataLoader
from torchmetrics import MetricCollection
from torchmetrics.aggregation import CatMetric, SumMetric
from torchmetrics.classification import MulticlassAccuracy
from torchmetrics.image.fid import FrechetInceptionDistance

from hddm.config import EvaluateConfig, MetricsConfig, TextConfig
from hddm.data.embedded import EMBEDDED
from hddm.data.image_set import read_index, wanted_class
from hddm.data.latents import VAEDecoder
from hddm.ensemble.factory import build_field_factory, default_prompts, draw, sample_noise
from hddm.ensemble.field import UsageStats
from hddm.errors import HddmError
from hddm.io import write_json
from hddm.lit.data import prompt_embeddings
from hddm.metrics.adherence import METRIC_NAME as ADHERENCE_NAME
from hddm.metrics.adherence import prompted_digit
from hddm.metrics.class_adherence import METRIC_NAME as CLASS_ADHERENCE
from hddm.metrics.clip_score import clip_implementation, make_clip_score
from hddm.metrics.diversity import mean_pairwise_distance, perceptual_distance, summarize
from hddm.metrics.domain_fid import domain_fid_implementation, domain_fid_name, make_domain_fid
from hddm.metrics.fid import METRIC_NAME as FID_NAME
from hddm.metrics.fid import fid_implementation, make_fid, to_uint8
from hddm.metrics.precision_recall import precision_recall
from hddm.metrics.reference_stats import STATES, folder_reference, load_reference, reference_images
from hddm.metrics.styled import DIGIT_ADHERENCE, DOMAIN_ADHERENCE, styled_logits, wanted_labels
from hddm.models.digit_cnn import FEATURE_DIM, cached_digit_cnn
from hddm.models.moe_accounting import CapacityMeter
from hddm.models.styled_cnn import shipped_styled_cnn

MAIN, DIVERSITY = "main", "diversity"
FEATURES = "classifier_features"  # the generated images' metric-classifier features, for k-NN precision/recall


class Batch(NamedTuple):
    kind: str  # main: the n samples of fid/clip; diversity: whole groups of M images of one prompt
    start: int  # first sample index (noise seed) of the batch
    stop: int


def plan_batches(n: int, batch_size: int, prompts: int = 0, per_prompt: int = 0) -> list[Batch]:
    """main samples 0..n-1 in batches of batch_size, then diversity groups of per_prompt images, whole groups
    per batch."""
    batches = [Batch(MAIN, s, min(s + batch_size, n)) for s in range(0, n, batch_size)]
    groups_per_batch = max(1, batch_size // max(per_prompt, 1))
    for group in range(0, prompts, groups_per_batch):
        last = min(group + groups_per_batch, prompts)
        batches.append(Batch(DIVERSITY, n + group * per_prompt, n + last * per_prompt))
    return batches


def shard(batches: list[Batch], rank: int, world_size: int) -> list[Batch]:
    """Round-robin, no padding: the shards of all ranks partition the batches."""
    return batches[rank::world_size]


def first_manifest(experts: list[str]) -> dict:
    path = Path(experts[0]) / "manifest.json" if experts else None
    if path is None or not path.is_file():
        raise HddmError(f"{path} not found: ensemble.experts must list expert bundle folders")
    return json.loads(path.read_text())


def class_names_of(data: dict, image_set: str | None) -> list[str] | None:
    """The classes a prompt can name: the digits of the embedded data, a labelled image set's classes."""
    if image_set is not None:  # the set's index says it: no shard read
        index = read_index(image_set)
        return index["class_names"] if index["labelled"] else None
    return [str(d) for d in range(10)] if data["name"] in EMBEDDED else None


class EnsembleEvaluator(L.LightningModule):
    def __init__(self, cfg: EvaluateConfig, default_metrics: bool = False):
        """default_metrics: cfg.metrics is the default set, not the user's choice, so the metrics this data cannot
        support are left out (named in self.skipped and the result) instead of stopping the run."""
        super().__init__()
        self.default_metrics, self.skipped = default_metrics, {}
        self.cfg = cfg
        self.make_field = self.experts = self.router_manifest = self.decoder = (
            None  # loaded by prepare(), on the module's device
        )
        self.capacity_meters: list[CapacityMeter] = []
        first = first_manifest(cfg.ensemble.experts)
        self.data = first["data"]
        self.image_set = self.data.get("image_set")  # the prepared folder of a data=images ensemble
        self.class_names = class_names_of(self.data, self.image_set)
        self.text = TextConfig(name=first["text"]["name"], kwargs=first["text"]["kwargs"])
        prompts = default_prompts(cfg, self.data)
        diversity = cfg.metrics.diversity
        self.main_prompts = [prompts[i % len(prompts)] for i in range(cfg.n)]
        self.group_prompts = [prompts[p % len(prompts)] for p in range(diversity.prompts)] if diversity else []
        self.per_prompt = diversity.images_per_prompt if diversity else 0
        self.batches = plan_batches(cfg.n, cfg.batch_size, len(self.group_prompts), self.per_prompt)
        self.implementations: dict = {}
        self.references: dict = {}
        self.domain_fid_name = domain_fid_name(self.data["name"], self.image_set)
        self.per_class: dict[str, list[int]] = {}  # metric -> the classes it has one Frechet metric per
        self.floors: dict[str, dict] = {}  # metric -> its value on real training images (rank 0)
        self.metrics = MetricCollection(self.build_metrics(), compute_groups=False)
        self.counts = MetricCollection({MAIN: SumMetric(), DIVERSITY: SumMetric()}, compute_groups=False)
        self.distance = perceptual_distance(diversity.lpips_weights, diversity.lpips_net) if diversity else None
        if diversity:
            self.implementations["diversity"] = self.distance.implementation
        self.usage = UsageStats(len(cfg.ensemble.experts))
        self.grid: torch.Tensor | None = None
        self.results: dict = {}

    def applicable(self, chosen: MetricsConfig) -> MetricsConfig:
        """The default set less the classifier metrics where the data has no classifier (the embedded data and a
        labelled image set have one); CLIP score is left out in build_metrics where its weights do not load."""
        if self.data["name"] in EMBEDDED or (self.image_set is not None and self.class_names is not None):
            return chosen
        dropped = [name for name in ("domain_fid", "precision_recall") if getattr(chosen, name)]
        for name in dropped:
            self.leave_out(name, f"data={self.data['name']} has no classifier (a labelled data=images set has one)")
        return replace(chosen, **{name: None for name in dropped})

    def leave_out(self, name: str, why: str) -> None:
        print(f"hddm: metrics: {name} left out of the default set ({why}); choose metrics=[...] to require it")
        self.skipped[name] = why

    def build_metrics(self) -> dict:
        chosen, metrics, mnist = self.cfg.metrics, {}, self.data["name"] == "mnist"
        if self.default_metrics:
            chosen = self.applicable(chosen)
        styled = self.data["name"] == "styled_digits"
        if not (chosen.fid or chosen.domain_fid or chosen.clip or chosen.diversity or chosen.precision_recall):
            raise HddmError(
                "no metric chosen: add metrics=[fid,clip,diversity] (any of fid, domain_fid, clip, diversity, "
                "precision_recall)"
            )
        if self.data["space"] == "latent" and not self.cfg.vae.pretrained:
            raise HddmError(
                "this ensemble generates latents: set vae.pretrained=<the shards' VAE, a hub id or local "
                "AutoencoderKL folder> to decode them for image metrics"
            )
        if chosen.fid:
            metrics[FID_NAME] = make_fid()
            self.implementations[FID_NAME] = fid_implementation()
        if chosen.fid and chosen.fid.per_class:
            self.add_per_class(metrics, FID_NAME, chosen.fid)
        if chosen.domain_fid or chosen.precision_recall:
            if self.data["name"] not in EMBEDDED and self.image_set is None:
                raise HddmError(
                    f"domain_fid and precision_recall read a classifier of the data: data={self.data['name']} has "
                    "none (a labelled data=images set has one), so drop them from metrics=[...]"
                )
        if chosen.domain_fid:
            name = self.domain_fid_name
            metrics[name] = make_domain_fid(self.cfg.cache_dir, self.data["name"], self.image_set)
            self.implementations[name] = domain_fid_implementation(metrics[name].inception)
            if chosen.domain_fid.per_class:
                self.add_per_class(metrics, name, chosen.domain_fid)
        if chosen.precision_recall:
            metrics[FEATURES] = CatMetric()
            extractor = "metric classifier" if self.image_set else "styled-cnn" if styled else "mnist-cnn"
            self.implementations["precision_recall"] = {
                "name": "knn_precision_recall",
                "k": chosen.precision_recall.k,
                "reference_split": chosen.precision_recall.reference_split,
                "features": f"{extractor} penultimate, 128-d, float64",
                "reference": "a fixed-seed subset of the split as large as the generated set "
                "(Kynkaanniemi et al. 2019)",
            }
        if chosen.clip and styled:  # no CLIP offline: the styled-cnn's digit and domain heads
            _, manifest = shipped_styled_cnn()
            self.domain_names = manifest["domains"]
            metrics[DIGIT_ADHERENCE] = MulticlassAccuracy(num_classes=10, average="micro")
            metrics[f"{DIGIT_ADHERENCE}_per_digit"] = MulticlassAccuracy(num_classes=10, average=None)
            if any(d is not None for d in wanted_labels(self.main_prompts, self.domain_names)[1]):
                metrics[DOMAIN_ADHERENCE] = MulticlassAccuracy(num_classes=len(self.domain_names), average="micro")
            self.implementations[DIGIT_ADHERENCE] = {
                "name": DIGIT_ADHERENCE,
                "note": "offline stand-in for CLIP score: accuracy of the styled-cnn's digit head on "
                "images generated for 'digit N'; domain adherence: its domain head on prompts that name a domain",
                "classifier_sha256": manifest["sha256"],
                "classifier_test_accuracy": manifest["test_accuracy"],
            }
        elif chosen.clip and mnist:  # no CLIP offline at the embedded scale: the digit classifier's adherence
            self.classifier, manifest = cached_digit_cnn(self.cfg.cache_dir)
            metrics[ADHERENCE_NAME] = MulticlassAccuracy(num_classes=10, average="micro")
            metrics[f"{ADHERENCE_NAME}_per_digit"] = MulticlassAccuracy(num_classes=10, average=None)
            self.implementations[ADHERENCE_NAME] = {
                "name": ADHERENCE_NAME,
                "note": "offline stand-in for CLIP score: accuracy of the project's digit "
                "classifier on images generated for 'digit N'",
                "classifier_sha256": manifest["sha256"],
                "classifier_test_accuracy": manifest["test_accuracy"],
            }
        elif chosen.clip and self.image_set is not None and self.class_names is not None:
            # no CLIP offline, and CLIP may not know the classes: the set's own metric classifier
            from hddm.metrics.domain_fid import ClassifierFeatures

            self._features = ClassifierFeatures(self.cfg.cache_dir, self.data["name"], self.image_set)
            manifest = self._features.manifest
            if unnamed := sorted({p for p in self.main_prompts if self.prompt_class(p) is None}):
                raise HddmError(
                    "class adherence (metric classifier) needs prompts that name a class "
                    f"({', '.join(self.class_names)}); {unnamed[0]!r} names none: fix prompts=[...]"
                )
            classes = len(self.class_names)
            metrics[CLASS_ADHERENCE] = MulticlassAccuracy(num_classes=classes, average="micro")
            metrics[f"{CLASS_ADHERENCE}_per_class"] = MulticlassAccuracy(num_classes=classes, average=None)
            self.implementations[CLASS_ADHERENCE] = {
                "name": CLASS_ADHERENCE,
                "note": "offline stand-in for CLIP score: accuracy of the metric classifier trained by hddm.prepare "
                "on this set's labels, on images generated for prompts that name a class",
                "classifier_sha256": manifest["sha256"],
                "classifier_test_accuracy": manifest["test_accuracy"],
                "classes": self.class_names,
            }
        elif chosen.clip:
            try:  # loads CLIP once: from the hub cache or a local folder
                metrics["clip_score"] = make_clip_score(chosen.clip.model)
                self.implementations["clip_score"] = clip_implementation(chosen.clip.model)
            except HddmError as error:
                if not self.default_metrics:
                    raise
                self.leave_out("clip", str(error))
        if chosen.diversity:
            metrics["diversity"] = CatMetric()
        return metrics

    def prompt_class(self, prompt: str) -> int | None:
        if self.image_set is not None:
            return wanted_class(prompt, self.class_names)
        return prompted_digit(prompt)

    def add_per_class(self, metrics: dict, name: str, spec) -> None:
        """One more Frechet metric per prompted class, sharing the main one's extractor, against the reference
        images of that class: per-class FID (and per-class domain FID)."""
        if self.class_names is None:
            raise HddmError(f"{name} per_class needs labelled data: data={self.data['name']} has no classes")
        if spec.reference_path or spec.reference_labels:
            raise HddmError(f"{name} per_class uses the split's labels: drop reference_path and reference_labels")
        classes = sorted({c for p in self.main_prompts if (c := self.prompt_class(p)) is not None})
        if not classes:
            raise HddmError(f"{name} per_class needs prompts that name a class ({', '.join(self.class_names)})")
        self.per_class[name] = classes
        for c in classes:
            metrics[f"{name}_class{c}"] = FrechetInceptionDistance(
                feature=metrics[name].inception, reset_real_features=False, normalize=False
            )

    def on_test_start(self) -> None:
        self.prepare()

    def on_predict_start(self) -> None:
        self.prepare()

    def prepare(self) -> None:
        """Load the members onto this process's device and the reference statistics into the metrics (after
        Lightning has moved the module: setup() runs before that)."""
        if self.make_field is None:  # members stay plain attributes: no checkpoint or device hooks touch them
            self.make_field, self.experts, self.router_manifest = build_field_factory(self.cfg, self.device)
            self.capacity_meters = [CapacityMeter(expert.network) for expert in self.experts]  # MoE experts only
            if self.data["space"] == "latent":
                vae = self.cfg.vae
                self.decoder = VAEDecoder(
                    vae.pretrained, self.device, vae.precision, vae.scale_factor, self.data["scale_factor"]
                )
                self.implementations["decoder"] = {
                    "vae": self.decoder.decoder_id,
                    "scale_factor": vae.scale_factor,
                    "data_scale_factor": self.data["scale_factor"],
                }
        for name, spec, labels, main in self.frechet_metrics():
            if name in self.references:
                continue
            if spec.reference_path:
                images, source = folder_reference(
                    spec.reference_path, spec.reference_resolution, spec.reference_max_items
                )
            else:
                images, source = reference_images(
                    self.data["name"],
                    spec.reference_split,
                    self.cfg.cache_dir,
                    spec.reference_max_items if labels is None else None,
                    spec.reference_labels if labels is None else labels,
                    self.image_set,
                )
            self.references[name] = load_reference(
                self.metrics[name],
                main,
                self.implementations[main],
                images,
                source,
                self.cfg.cache_dir,
                spec.batch_size,
                self.global_rank,
            )

    def frechet_metrics(self):
        """(metric name, its config, the classes of its reference or None for all, the metric it is a class of)."""
        for main in (FID_NAME, self.domain_fid_name):
            if main in self.metrics:
                spec = getattr(self.cfg.metrics, "fid" if main == FID_NAME else "domain_fid")
                yield main, spec, None, main
                for c in self.per_class.get(main, []):
                    yield f"{main}_class{c}", spec, [c], main

    def test_dataloader(self):
        mine = shard(self.batches, self.global_rank, self.trainer.world_size)
        return DataLoader(mine, batch_size=None, collate_fn=lambda batch: batch)

    def prompts_of(self, batch: Batch) -> list[str]:
        if batch.kind == MAIN:
            return self.main_prompts[batch.start : batch.stop]
        first = batch.start - self.cfg.n
        return [self.group_prompts[(first + i) // self.per_prompt] for i in range(batch.stop - batch.start)]

    def generate(self, batch: Batch) -> torch.Tensor:
        """Images [B, C, H, W] in [-1, 1] of the batch's samples (latents decoded by the VAE)."""
        prompts = self.prompts_of(batch)
        tokens, mask = prompt_embeddings(prompts, self.text, self.cfg.cache_dir)
        shape = (self.data["channels"], self.data["image_size"], self.data["image_size"])
        noise = sample_noise(batch.start, batch.stop, shape, self.cfg.seed).to(self.device)
        samples = draw(
            self.cfg,
            self.make_field,
            self.experts,
            tokens.to(self.device),
            mask.to(self.device),
            noise,
            self.cfg.seed + batch.start,
            self.usage,
            prompts,
        )
        return samples if self.decoder is None else self.decoder(samples)

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        images = self.generate(batch)
        self.counts[batch.kind].update(torch.tensor(float(len(images)), device=self.device))
        if batch.kind == DIVERSITY:
            groups = images.float().clamp(-1, 1).split(self.per_prompt)
            self.metrics["diversity"].update(
                torch.tensor([mean_pairwise_distance(g, self.distance) for g in groups], device=self.device)
            )
            return
        if self.grid is None or len(self.grid) < self.cfg.grid_size:
            kept = images[: self.cfg.grid_size - (0 if self.grid is None else len(self.grid))].cpu()
            self.grid = kept if self.grid is None else torch.cat([self.grid, kept])
        pixels = to_uint8(images)
        for name in (FID_NAME, self.domain_fid_name):
            if name in self.metrics:
                self.metrics[name].update(pixels, real=False)
        wanted_classes = None  # per image, the class its prompt names (-1: none)
        if self.class_names is not None:
            named = [self.prompt_class(p) for p in self.prompts_of(batch)]
            wanted_classes = torch.tensor([-1 if c is None else c for c in named])
        for main, classes in self.per_class.items():
            for c in classes:
                chosen = (wanted_classes == c).nonzero().flatten().to(self.device)
                if len(chosen):
                    self.metrics[f"{main}_class{c}"].update(pixels[chosen], real=False)
        if CLASS_ADHERENCE in self.metrics:  # every prompt names a class: checked before sampling
            wanted = wanted_classes.to(self.device)
            logits = self._features.classifier(images.clamp(-1, 1).float().to(self.features_device()))
            self.metrics[CLASS_ADHERENCE].update(logits, wanted)
            self.metrics[f"{CLASS_ADHERENCE}_per_class"].update(logits, wanted)
        if FEATURES in self.metrics:
            self.metrics[FEATURES].update(self.classifier_features(pixels))
        if DIGIT_ADHERENCE in self.metrics:
            digits, domains = wanted_labels(self.prompts_of(batch), self.domain_names)
            if None in digits:
                raise HddmError("digit adherence (styled-cnn) needs prompts that name a digit: fix prompts=[...]")
            digit_logits, domain_logits = (logits.to(self.device) for logits in styled_logits(images))
            wanted = torch.tensor(digits, device=self.device)
            self.metrics[DIGIT_ADHERENCE].update(digit_logits, wanted)
            self.metrics[f"{DIGIT_ADHERENCE}_per_digit"].update(digit_logits, wanted)
            named = [i for i, d in enumerate(domains) if d is not None]
            if named and DOMAIN_ADHERENCE in self.metrics:
                self.metrics[DOMAIN_ADHERENCE].update(
                    domain_logits[named], torch.tensor([domains[i] for i in named], device=self.device)
                )
        if ADHERENCE_NAME in self.metrics:
            digits = [prompted_digit(p) for p in self.prompts_of(batch)]
            if None in digits:
                raise HddmError("prompt adherence (mnist-cnn) needs prompts that name a digit: fix prompts=[...]")
            wanted = torch.tensor(digits, device=self.device)
            predicted = self.classifier(images.clamp(-1, 1).float())
            self.metrics[ADHERENCE_NAME].update(predicted, wanted)
            self.metrics[f"{ADHERENCE_NAME}_per_digit"].update(predicted, wanted)
        if "clip_score" in self.metrics:
            rgb = pixels.expand(-1, 3, -1, -1) if pixels.shape[1] == 1 else pixels
            self.metrics["clip_score"].update(list(rgb), self.prompts_of(batch))

    def classifier_features(self, pixels: torch.Tensor) -> torch.Tensor:
        """float64 [N, 128] features of uint8 images: the same extractor as domain FID's."""
        if not hasattr(self, "_features"):
            from hddm.metrics.domain_fid import ClassifierFeatures

            self._features = ClassifierFeatures(self.cfg.cache_dir, self.data["name"], self.image_set)
        return self._features(pixels.to(self.features_device())).to(self.device)

    def features_device(self) -> torch.device:
        """Where the classifier sits: on the module's device when built with the metrics (a submodule), on the CPU
        when built lazily during the test loop."""
        return next(self._features.parameters()).device

    def floor_split(self) -> str:
        """The real training images the floors score: a prepared set's training split, the embedded data's train."""
        return "trainval" if self.image_set else "train"

    def real_images(self, split: str, count: int, labels: list[int] | None = None):
        return reference_images(self.data["name"], split, self.cfg.cache_dir, count, labels, self.image_set)

    def knn_precision_recall(self, fake: torch.Tensor) -> dict:
        spec = self.cfg.metrics.precision_recall
        images, source = self.real_images(spec.reference_split, len(fake))
        real = torch.cat([self.classifier_features(chunk) for chunk in images.split(1000)]).cpu()
        self.references["precision_recall"] = {**source, "sha256": source["split_sha256"]}
        result = precision_recall(real, fake.cpu(), spec.k)
        if self.global_rank == 0:  # the floor: training images in place of generated ones
            train, train_source = self.real_images(self.floor_split(), len(fake))
            train_features = torch.cat([self.classifier_features(c) for c in train.split(1000)]).cpu()
            floor = precision_recall(real, train_features, spec.k)
            self.floors.update(
                {
                    name: {"value": value, "n": len(train), "split": train_source["split"]}
                    for name, value in floor.items()
                }
            )
        return result

    def real_floor(self, main: str) -> dict | None:
        """The Frechet metric of n real training images against the same reference: the best a generator can
        score with n samples (n of the data itself). Cached beside the reference statistics."""
        spec = getattr(self.cfg.metrics, "fid" if main == FID_NAME else "domain_fid")
        if spec.reference_path or main not in self.references:
            return None
        split = self.floor_split()
        reference = self.references[main]
        path = Path(reference["path"]).with_name(f"{Path(reference['path']).stem}_floor_{split}_n{self.cfg.n}.json")
        if path.is_file():
            return json.loads(path.read_text())
        images, source = self.real_images(split, self.cfg.n, spec.reference_labels)
        metric = FrechetInceptionDistance(  # rank 0 alone: no cross-process sync, which would wait forever
            feature=self.metrics[main].inception, reset_real_features=False, normalize=False, sync_on_compute=False
        )
        for state in STATES:  # the same reference statistics, already loaded on this (global zero) process
            setattr(metric, state, getattr(self.metrics[main], state).clone())
        for chunk in images.split(spec.batch_size):
            metric.update(chunk.to(self.device), real=False)
        floor = {"value": float(metric.compute()), "n": len(images), "split": split, "reference": reference["sha256"]}
        write_json(path, floor)
        return floor

    def on_test_epoch_end(self) -> None:
        counts = {kind: int(self.counts[kind].compute()) for kind in (MAIN, DIVERSITY)}
        planned = {MAIN: self.cfg.n, DIVERSITY: len(self.group_prompts) * self.per_prompt}
        if counts != planned:  # a sharding bug would silently bias every number below
            raise RuntimeError(f"generated {counts} samples, planned {planned}")
        values: dict = {}
        for name, metric in self.metrics.items():
            if any(name.startswith(f"{main}_class") for main in self.per_class):
                continue  # per-class distances below, only where a class has the 2 samples a covariance needs
            value = metric.compute()
            if name == FEATURES:
                values.update(self.knn_precision_recall(value.view(-1, FEATURE_DIM)))  # CatMetric flattens
            elif name == "diversity":
                distance = self.distance.implementation
                values[f"diversity_{distance['name']}"] = summarize(value.flatten().cpu(), distance)
            elif name.endswith("_per_digit"):
                prompted = sorted({prompted_digit(p) for p in self.main_prompts})
                values[name] = {str(d): float(value[d]) for d in prompted}
            elif name.endswith("_per_class"):
                prompted = sorted({self.prompt_class(p) for p in self.main_prompts} - {None})
                values[name] = {self.class_names[c]: float(value[c]) for c in prompted}
            elif name in (ADHERENCE_NAME, DIGIT_ADHERENCE, DOMAIN_ADHERENCE, CLASS_ADHERENCE):
                values[name] = float(value)
                values.update(self.share_interval(name, float(value), counts[MAIN]))
            else:
                values[name] = float(value)
        prompted = Counter(self.prompt_class(p) for p in self.main_prompts)  # all processes' samples per class
        for main, classes in self.per_class.items():
            values[f"{main}_per_class"] = {
                self.class_names[c]: {
                    "value": float(self.metrics[f"{main}_class{c}"].compute()) if prompted[c] >= 2 else None,
                    "n": prompted[c],
                }
                for c in classes
            }
        if self.global_rank == 0:
            for main in (FID_NAME, self.domain_fid_name):
                if main in self.metrics and (floor := self.real_floor(main)) is not None:
                    self.floors[main] = floor
        self.results = {"values": values, "counts": counts, "real_floors": self.floors}

    def share_interval(self, name: str, share: float, scored: int) -> dict[str, float]:
        """The 95 % Wilson interval of an adherence share (name_low, name_high): every main sample is scored, for
        domain adherence those whose prompt names a domain."""
        if name == DOMAIN_ADHERENCE:
            scored = sum(d is not None for d in wanted_labels(self.main_prompts, self.domain_names)[1])
        interval = binomtest(round(share * scored), scored).proportion_ci(method="wilson")
        return {f"{name}_low": float(interval.low), f"{name}_high": float(interval.high)}
