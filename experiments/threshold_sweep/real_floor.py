"""The domain-FID floor of experiments 3-5: real MNIST-train threes, in subsets of the experiments' n, scored like a
generated set against the same reference (the MNIST-test threes, the same cached statistics). Their mean is what a
perfect generator would score at that n, their spread how far two equally good rows can differ by chance.
Writes experiments/threshold_sweep/real_floor.json. Usage: .venv/bin/python experiments/threshold_sweep/real_floor.py [N] [SUBSETS]
"""

import json
import os
import sys
from pathlib import Path

import torch

from hddm.data.mnist import load_split
from hddm.metrics.domain_fid import METRIC_NAME, domain_fid_implementation, make_domain_fid
from hddm.metrics.reference_stats import load_reference, reference_images

N, SUBSETS = (int(sys.argv[1]) if len(sys.argv) > 1 else 100), (int(sys.argv[2]) if len(sys.argv) > 2 else 10)
cache = os.environ.get("HDDM_CACHE", str(Path.home() / ".cache/hddm"))
metric = make_domain_fid(cache)
images, source = reference_images("mnist", "test", cache, labels=[3])
reference = load_reference(metric, METRIC_NAME, domain_fid_implementation(metric.inception), images, source, cache, 500)
train_images, train_labels = load_split(cache, "train")
threes = torch.from_numpy(train_images[train_labels == 3])[:, None]
scores = []
for subset in range(SUBSETS):
    chosen = torch.randperm(len(threes), generator=torch.Generator().manual_seed(subset))[:N]
    metric.reset()
    metric.update(threes[chosen], real=False)
    scores.append(float(metric.compute()))
mean = sum(scores) / len(scores)
std = (sum((s - mean) ** 2 for s in scores) / (len(scores) - 1)) ** 0.5
result = {
    "what": f"domain FID (mnist-cnn) of {N} real MNIST-train threes vs the MNIST-test threes, {SUBSETS} subsets "
    "(randperm seeds 0..)",
    "n": N,
    "mean": round(mean, 2),
    "std": round(std, 2),
    "min": round(min(scores), 2),
    "max": round(max(scores), 2),
    "reference_sha256": reference["sha256"],
}
Path("experiments/threshold_sweep/real_floor.json").write_text(json.dumps(result, indent=1) + "\n")
print(result)
