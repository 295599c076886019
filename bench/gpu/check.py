"""The GPU path, measured in one run: `bash bench/gpu/run.sh` on a bare H100/H200 (about 5 minutes), or
`python bench/gpu/check.py --dry-run` on any CPU (tiny sizes, a few steps: what the test suite runs).

Four parts, each a list of rows in one JSON file and one markdown table (printed last):
  1. correctness under bf16 autocast, against fp32 on the same weights and inputs: one training step of a DDPM and
     a Flow Matching expert (relative error of the loss and of the gradient), and one routed Top-2 field evaluation
     of both experts (relative error, and whether every value is finite) at t = 1, 0.5, 1e-3 and 0, where the
     DDPM conversion divides by alpha_t;
  2. training throughput of DiT-B/2 and DiT-XL/2 experts at 256 px latents (32x32x4), hddm against diffusers'
     PixArtTransformer2DModel of the same size (weights copied, outputs compared), eager, and with torch.compile at
     XL (on the GPU only): images/s,
     model FLOP utilisation against the bf16 matmul peak measured in the same run, peak memory;
  3. routed sampling with K=8 DiT-XL/2 experts (random weights): Top-1, Top-2 and full against one expert, with and
     without offload (seconds per Euler step with CFG), and the largest Top-2 batch that fits;
  4. the embedded benchmark at GPU sizes: tiny-expert training steps/s at batch 256 and routed sampling images/s,
     and the time of a GPU-sized experiment set extrapolated from them (the formula is in the row).
Nothing is downloaded: text is random tensors of CLIP's shape (77 x 768) at real scale and MiniLM's (16 x 384)
embedded; experts and routers have random weights (their cost does not depend on the values).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import platform
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from hddm.diffusion.conversion import Conversion  # noqa: E402
from hddm.diffusion.objectives import make_objective  # noqa: E402
from hddm.diffusion.schedules import get_schedule  # noqa: E402
from hddm.ensemble.field import EnsembleField  # noqa: E402
from hddm.ensemble.members import Expert  # noqa: E402
from hddm.lit.optim import adamw  # noqa: E402
from hddm.models.dit import DIT_SIZES, DiT  # noqa: E402
from hddm.models.router import Router  # noqa: E402
from hddm.routing.scores import TrainedRouterScores  # noqa: E402
from hddm.routing.strategies import Routing  # noqa: E402


@dataclass(frozen=True)
class Plan:
    """Sizes and repeat counts of one run (the GPU plan, or the CPU dry run)."""

    real_sizes: tuple[str, ...] = ("dit_b2", "dit_xl2")
    channels: int = 4
    image_size: int = 32
    text_len: int = 77
    text_dim: int = 768
    train_batch: dict = None  # size -> batch
    train_steps: int = 10  # timed optimizer steps (after warm-up)
    warmup: int = 3
    compiled_sizes: tuple[str, ...] = ("dit_xl2",)  # torch.compile costs about a minute per model: the target size only
    peak_size: int = 8192  # the bf16 matmul of the peak measurement
    routed_size: str = "dit_xl2"
    experts: int = 8
    sample_batch: int = 32
    sample_steps: int = 5  # timed Euler steps
    max_batch_cap: int = 2048  # bounds the search to a minute or two at XL
    embedded_train_batch: int = 256
    embedded_sample_batch: int = 500
    embedded_steps: int = 20


GPU = Plan(train_batch={"dit_b2": 256, "dit_xl2": 64})
DRY = Plan(
    real_sizes=("tiny",),
    image_size=16,
    text_len=8,
    text_dim=32,
    train_batch={"tiny": 4},
    train_steps=2,
    warmup=1,
    compiled_sizes=("tiny",),
    peak_size=256,
    routed_size="tiny",
    experts=3,
    sample_batch=2,
    sample_steps=2,
    max_batch_cap=8,
    embedded_train_batch=4,
    embedded_sample_batch=4,
    embedded_steps=2,
)


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(call, device, repeats: int) -> float:
    """Seconds per call, averaged over `repeats` calls after the caller's warm-up."""
    synchronize(device)
    started = time.perf_counter()
    for _ in range(repeats):
        call()
    synchronize(device)
    return (time.perf_counter() - started) / repeats


def autocast(device, enabled: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16) if enabled else contextlib.nullcontext()


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).norm() / b.float().norm().clamp(min=1e-12))


def random_dit(size: str, plan: Plan, device, seed: int, channels: int | None = None, image: int | None = None) -> DiT:
    torch.manual_seed(seed)
    model = DiT(DIT_SIZES[size], channels or plan.channels, image or plan.image_size, plan.text_dim)
    with torch.no_grad():  # zero-initialised output layers would make every comparison vacuous
        for block in model.blocks:
            torch.nn.init.normal_(block.cross_attn.proj.weight, std=0.02)
        torch.nn.init.normal_(model.final_layer.linear.weight, std=0.02)
    return model.to(device)


def text_batch(plan: Plan, batch: int, device, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, plan.text_len, plan.text_dim, generator=g).to(device), torch.ones(
        batch, plan.text_len, dtype=torch.bool, device=device
    )


def make_expert(network: DiT, objective: str, cluster: int, plan: Plan, device) -> Expert:
    prediction, schedule = ("epsilon", "cosine") if objective == "ddpm" else ("velocity", "linear")
    null_text, null_mask = text_batch(plan, 1, device, seed=99)
    return Expert(
        network.eval().requires_grad_(False),
        make_objective(prediction, get_schedule(schedule), 999.0),
        null_text[0],
        null_mask[0],
        {"cluster": cluster, "objective": objective},
    )


# ----------------------------------------------------------------------------- 1. correctness under bf16


def training_step_error(objective: str, plan: Plan, device) -> dict:
    size = plan.real_sizes[0]
    model = random_dit(size, plan, device, seed=1)
    objective_fn = make_objective(
        "epsilon" if objective == "ddpm" else "velocity",
        get_schedule("cosine" if objective == "ddpm" else "linear"),
        999.0,
    )
    g = torch.Generator().manual_seed(2)
    batch = 4
    x0 = torch.randn(batch, plan.channels, plan.image_size, plan.image_size, generator=g).to(device)
    eps = torch.randn(x0.shape, generator=g).to(device)
    t = torch.tensor([0.0, 1e-3, 0.5, 1.0], device=device)
    text, mask = text_batch(plan, batch, device)
    results = {}
    for bf16 in (False, True):
        model.zero_grad(set_to_none=True)
        with autocast(device, bf16):
            prediction = model(objective_fn.noisy_sample(x0, eps, t), objective_fn.model_time(t), text, mask)
        loss = objective_fn.loss(prediction.float(), x0, eps, t).mean()
        loss.backward()
        results[bf16] = (loss.detach(), torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    return {
        "part": "correctness",
        "case": f"training step, {objective} ({size})",
        "loss_rel_err": relative_error(results[True][0], results[False][0]),
        "grad_rel_err": relative_error(results[True][1], results[False][1]),
        "finite": bool(torch.isfinite(results[True][0]) and torch.isfinite(results[True][1]).all()),
    }


def routed_step_errors(plan: Plan, device) -> list[dict]:
    size = plan.real_sizes[0]
    experts = [
        make_expert(random_dit(size, plan, device, seed=3), "ddpm", 0, plan, device),
        make_expert(random_dit(size, plan, device, seed=4), "fm", 1, plan, device),
    ]
    torch.manual_seed(5)
    router = TrainedRouterScores(
        Router(DIT_SIZES[size], plan.channels, plan.image_size, 2).to(device).eval(), [0, 1], 999.0
    )
    batch = 4
    text, mask = text_batch(plan, batch, device)
    x = torch.randn(
        batch, plan.channels, plan.image_size, plan.image_size, generator=torch.Generator().manual_seed(6)
    ).to(device)
    rows = []
    for t_value in (1.0, 0.5, 1e-3, 0.0):
        t = torch.full((batch,), t_value, device=device)
        outputs = {}
        for bf16 in (False, True):
            field = EnsembleField(
                experts, router, Routing(strategy="topk", k=2), Conversion(), text, mask, cfg_scale=4.0
            )
            with torch.no_grad(), autocast(device, bf16):
                outputs[bf16] = field(x, t)
        rows.append(
            {
                "part": "correctness",
                "case": f"routed Top-2 step, ddpm + fm, t={t_value:g} ({size})",
                "out_rel_err": relative_error(outputs[True], outputs[False]),
                "dtype": str(outputs[True].dtype),
                "finite": bool(torch.isfinite(outputs[True]).all()),
            }
        )
    return rows


# ----------------------------------------------------------------------------- 2. training throughput


def matmul_peak_tflops(plan: Plan, device) -> float:
    n = plan.peak_size
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    return 2 * n**3 / timed(lambda: a @ b, device, 10) / 1e12


def peer_model(size: str, plan: Plan):
    from bench_dit import Case, build_peer, copy_hddm_into_peer, equivalence_error

    case = Case(
        size,
        plan.channels,
        plan.image_size,
        plan.text_len,
        plan.text_dim,
        batch=1,
        sample_batch=1,
        train_warmup=0,
        train_iters=0,
        train_repeats=0,
        sample_repeats=0,
    )
    hddm, peer = DiT(DIT_SIZES[size], plan.channels, plan.image_size, plan.text_dim), build_peer(case)
    error = equivalence_error(case, hddm, peer)  # fp32 on the CPU: both compute the same function
    copy_hddm_into_peer(hddm, peer)
    return peer, error


def forward_of(name: str, model):
    if name == "hddm":
        return model
    return lambda x, t, text, mask: model(
        x, encoder_hidden_states=text, timestep=t, encoder_attention_mask=mask, return_dict=False
    )[0]


def train_flops(size: str, plan: Plan, batch: int) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    model = DiT(DIT_SIZES[size], plan.channels, plan.image_size, plan.text_dim).to("meta")
    x = torch.randn(batch, plan.channels, plan.image_size, plan.image_size, device="meta")
    text, mask = (
        torch.randn(batch, plan.text_len, plan.text_dim, device="meta"),
        torch.ones(batch, plan.text_len, dtype=torch.bool, device="meta"),
    )
    with FlopCounterMode(display=False) as counter:
        F.mse_loss(model(x, torch.rand(batch, device="meta") * 999, text, mask), x).backward()
    return counter.get_total_flops()


def training_rows(plan: Plan, device, peak: float) -> list[dict]:
    rows = []
    for size in plan.real_sizes:
        batch = plan.train_batch[size]
        flops = train_flops(size, plan, batch)
        peer, peer_error = peer_model(size, plan)
        for name in ("hddm", "peer"):
            for compiled in (False, True) if size in plan.compiled_sizes and device.type == "cuda" else (False,):
                model = (random_dit(size, plan, device, seed=7) if name == "hddm" else peer.to(device)).train()
                fn = forward_of(name, torch.compile(model) if compiled else model)
                optimizer = adamw(model.parameters(), device, lr=1e-4)
                x = torch.randn(batch, plan.channels, plan.image_size, plan.image_size, device=device)
                t = torch.rand(batch, device=device) * 999
                text, mask = text_batch(plan, batch, device)

                def step():
                    with autocast(device, device.type == "cuda"):
                        loss = F.mse_loss(fn(x, t, text, mask).float(), x)
                    loss.backward()
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)

                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats()
                for _ in range(plan.warmup + (2 if compiled else 0)):
                    step()
                seconds = timed(step, device, plan.train_steps)
                rows.append(
                    {
                        "part": "training",
                        "case": f"{size} {name}{' compiled' if compiled else ''}",
                        "batch": batch,
                        "img_per_s": batch / seconds,
                        "mfu": flops / seconds / (peak * 1e12),
                        "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None,
                        **({"peer_max_abs_diff_fp32": peer_error} if name == "peer" else {}),
                    }
                )
                model.to("cpu")
                step = optimizer = None  # frees the optimizer state before the next model is built
                if device.type == "cuda":
                    torch.cuda.empty_cache()
        hddm_rows = {r["case"]: r["img_per_s"] for r in rows if r["case"].startswith(size)}
        for suffix in ("", " compiled"):
            if f"{size} hddm{suffix}" in hddm_rows:
                rows.append(
                    {
                        "part": "training",
                        "case": f"{size} hddm / peer{suffix}",
                        "ratio": hddm_rows[f"{size} hddm{suffix}"] / hddm_rows[f"{size} peer{suffix}"],
                    }
                )
    return rows


# ----------------------------------------------------------------------------- 3. routed sampling


def routed_field(plan: Plan, device, offload: bool, batch: int, strategy: str, experts: list[Expert], router):
    text, mask = text_batch(plan, batch, device)
    routing = {
        "one expert": Routing(strategy="top1"),
        "top1": Routing(strategy="top1"),
        "top2": Routing(strategy="topk", k=2),
        "full": Routing(strategy="full"),
    }[strategy]
    members = experts[:1] if strategy == "one expert" else experts
    return EnsembleField(
        members, None if strategy == "one expert" else router, routing, Conversion(), text, mask, 4.0, offload
    )


def sampling_rows(plan: Plan, device) -> list[dict]:
    size = plan.routed_size
    experts = [
        make_expert(
            random_dit(size, plan, device, seed=10 + k).to(torch.bfloat16 if device.type == "cuda" else torch.float32),
            "ddpm" if k < 2 else "fm",
            k,
            plan,
            device,
        )
        for k in range(plan.experts)
    ]
    torch.manual_seed(20)
    router = TrainedRouterScores(
        Router(DIT_SIZES["dit_b2" if size == "dit_xl2" else size], plan.channels, plan.image_size, plan.experts)
        .to(device)
        .eval(),
        list(range(plan.experts)),
        999.0,
    )
    rows = []
    for offload in (False, True):
        if offload:
            for expert in experts:
                expert.network.to("cpu")
        for strategy in ("one expert", "top1", "top2", "full"):
            if offload and strategy == "full":
                continue  # eight transfers of every XL expert per step: measured by Top-2 already
            field = routed_field(plan, device, offload, plan.sample_batch, strategy, experts, router)
            x = torch.randn(plan.sample_batch, plan.channels, plan.image_size, plan.image_size, device=device)
            t = torch.full((plan.sample_batch,), 0.5, device=device)
            with torch.no_grad(), autocast(device, device.type == "cuda"):
                field(x, t)
                seconds = timed(lambda: field(x, t), device, plan.sample_steps)
            rows.append(
                {
                    "part": "sampling",
                    "case": f"{strategy}{' offload' if offload else ''} ({plan.experts} x {size})",
                    "batch": plan.sample_batch,
                    "s_per_step": seconds,
                    "img_per_s_75_steps": plan.sample_batch / (75 * seconds),
                }
            )
    for expert in experts:
        expert.network.to(device)
    rows.append(
        {
            "part": "sampling",
            "case": f"largest Top-2 batch ({plan.experts} x {size})",
            "batch": largest_batch(plan, device, experts, router),
        }
    )
    return rows


def largest_batch(plan: Plan, device, experts, router) -> int:
    """Doubling then bisection on the Top-2 batch until an out-of-memory error (capped on CPUs)."""

    def fits(batch: int) -> bool:
        try:
            field = routed_field(plan, device, False, batch, "top2", experts, router)
            x = torch.randn(batch, plan.channels, plan.image_size, plan.image_size, device=device)
            with torch.no_grad(), autocast(device, device.type == "cuda"):
                field(x, torch.full((batch,), 0.5, device=device))
            return True
        except torch.OutOfMemoryError:
            return False
        finally:
            if device.type == "cuda":
                torch.cuda.empty_cache()

    low, high = plan.sample_batch, plan.sample_batch
    while high < plan.max_batch_cap and fits(high * 2):
        low = high = high * 2
    high = min(high * 2, plan.max_batch_cap)
    while high - low > max(1, low // 16):
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return low


# ----------------------------------------------------------------------------- 4. the embedded benchmark


def embedded_rows(plan: Plan, device) -> list[dict]:
    small = replace(plan, text_len=16, text_dim=384)
    model = random_dit("tiny", small, device, seed=30, channels=3, image=28).train()
    optimizer = adamw(model.parameters(), device, lr=1e-3)
    batch = plan.embedded_train_batch
    x = torch.randn(batch, 3, 28, 28, device=device)
    text, mask = text_batch(small, batch, device)

    def step():
        loss = F.mse_loss(model(x, torch.rand(batch, device=device) * 999, text, mask), x)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()
    train_seconds = timed(step, device, plan.embedded_steps)
    experts = [
        make_expert(random_dit("tiny", small, device, seed=31 + k, channels=3, image=28), "fm", k, small, device)
        for k in range(8)
    ]
    router = TrainedRouterScores(Router(DIT_SIZES["tiny"], 3, 28, 8).to(device).eval(), list(range(8)), 999.0)
    n = plan.embedded_sample_batch
    text, mask = text_batch(small, n, device)
    field = EnsembleField(experts, router, Routing(strategy="topk", k=2), Conversion(), text, mask, 3.0)
    x, t = torch.randn(n, 3, 28, 28, device=device), torch.full((n,), 0.5, device=device)
    with torch.no_grad():
        field(x, t)
        step_seconds = timed(lambda: field(x, t), device, plan.embedded_steps)
    # The experiment set at GPU sizes: 2 seeds x (8 experts + 1 monolithic x 8 steps' worth) x 20k steps at batch 256,
    # and 40 evaluated rows x 4 sampling seeds x 5000 images x 50 Euler steps of Top-2 (routed cost per image measured).
    train_steps, images = 2 * 16 * 20_000, 40 * 4 * 5000
    estimate = train_steps * train_seconds + images / n * 50 * step_seconds
    return [
        {"part": "embedded", "case": f"tiny expert training, batch {batch}", "steps_per_s": 1 / train_seconds},
        {
            "part": "embedded",
            "case": f"Top-2 of 8 tiny experts, batch {n}",
            "img_per_s_50_steps": n / (50 * step_seconds),
        },
        {
            "part": "embedded",
            "case": "GPU experiment set (2 seeds x 16 x 20k steps at batch 256 + 800k images x 50 "
            "Top-2 steps), one GPU, extrapolated",
            "hours": estimate / 3600,
        },
    ]


# ----------------------------------------------------------------------------- report


def markdown(rows: list[dict], header: dict) -> str:
    """One table per part, each with the columns its rows have."""
    lines = [
        f"# GPU check: {header['device']} ({header['date']}, torch {header['torch']}, {header['mode']})",
        "",
        f"matmul peak measured in this run ({header['peak_dtype']}): {header['peak_tflops']:.4g} TFLOP/s; "
        f"wall time {header['seconds']:.0f} s",
    ]
    for part in dict.fromkeys(row["part"] for row in rows):
        chosen = [row for row in rows if row["part"] == part]
        keys = [k for k in dict.fromkeys(k for row in chosen for k in row) if k not in ("part", "case")]
        lines += ["", f"## {part}", "", "| case | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
        for row in chosen:
            cells = [
                ("-" if row.get(k) is None else f"{row[k]:.4g}" if isinstance(row[k], float) else str(row[k]))
                for k in keys
            ]
            lines.append(f"| {row['case']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes on the CPU: checks that the script runs")
    parser.add_argument("--out", default=str(REPO / "bench" / "results"), help="folder of gpu_check.{json,md}")
    args = parser.parse_args(argv)
    started = time.time()
    device = torch.device("cpu" if args.dry_run or not torch.cuda.is_available() else "cuda")
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    plan = DRY if args.dry_run else GPU
    peak = matmul_peak_tflops(plan, device)
    rows = [
        training_step_error("ddpm", plan, device),
        training_step_error("fm", plan, device),
        *routed_step_errors(plan, device),
    ]
    for part in (
        lambda: training_rows(plan, device, peak),
        lambda: sampling_rows(plan, device),
        lambda: embedded_rows(plan, device),
    ):
        rows += part()
        print(json.dumps(rows[-1], default=str), flush=True)
    header = {
        "device": torch.cuda.get_device_name()
        if device.type == "cuda"
        else f"CPU ({platform.processor() or platform.machine()})",
        "date": datetime.date.today().isoformat(),
        "torch": torch.__version__,
        "mode": "dry run" if args.dry_run else "full",
        "peak_tflops": peak,
        "peak_dtype": "bf16" if device.type == "cuda" else "fp32",
        "seconds": time.time() - started,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = "gpu_check_dry" if args.dry_run else "gpu_check"
    (out / f"{name}.json").write_text(json.dumps({"header": header, "rows": rows}, indent=2, default=str) + "\n")
    table = markdown(rows, header)
    (out / f"{name}.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
