"""DiffMoE layers (paper 003): global token pool, capacity predictor, thresholds, C_infer, baselines."""

import pytest
import torch

from hddm.errors import HddmError
from hddm.models.dit import DiT, get_dit_size
from hddm.models.moe import DiffMoEFFN, ExpertChoiceFFN, TokenChoiceFFN, make_moe_ffn
from hddm.models.moe_accounting import (
    CapacityMeter,
    activated_parameters,
    capacity_of_last_forward,
    capacity_predictor_loss,
    set_moe_inference,
)

DIM, HIDDEN, N = 16, 32, 4


def layer(seed=0):
    torch.manual_seed(seed)
    return DiffMoEFFN(DIM, HIDDEN, N)


def test_each_expert_takes_exactly_pool_over_n_tokens_in_training():
    moe = layer().train()
    x = torch.randn(3, 8, DIM)  # pool of 24 tokens, 6 per expert
    moe(x)
    assert moe.last_counts.tolist() == [6, 6, 6, 6]
    # The selection is global: one sample may give an expert more (or fewer) than S/N of its tokens.
    scores = moe.scores(x.reshape(-1, DIM))
    chosen = scores.t().topk(6, dim=-1).indices
    per_sample = torch.stack([(chosen // 8 == b).sum(1) for b in range(3)])
    assert per_sample.sum(0).tolist() == [6, 6, 6, 6]


def test_training_output_is_the_gated_sum_of_selected_experts():
    moe = layer().train()
    x = torch.randn(2, 6, DIM)
    out = moe(x).reshape(-1, DIM)
    pool = x.reshape(-1, DIM)
    scores = moe.scores(pool)
    expected = torch.zeros_like(pool)
    for i in range(N):
        for s in scores[:, i].topk(3).indices:
            expected[s] += scores[s, i] * moe.experts.one(i, pool[s : s + 1])[0]
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode", ["dynamic", "gamma", "topk"])
def test_inference_output_of_a_sample_does_not_depend_on_the_batch(mode):
    moe = layer().eval()
    moe.inference, moe.gamma = mode, 0.5
    x = torch.randn(5, 8, DIM)
    with torch.no_grad():
        alone = moe(x[:1])
        together = moe(torch.cat([x[:1], x[1:] * 3.0]))
    torch.testing.assert_close(together[:1], alone, atol=1e-6, rtol=1e-6)


def test_thresholds_follow_an_ema_of_the_kth_predictor_score():
    moe = layer().train()
    x = torch.randn(2, 8, DIM)
    before = moe.thresholds.clone()
    moe(x)
    with torch.no_grad():
        kth = moe.predictor(x.reshape(-1, DIM)).sigmoid().topk(16 // N, dim=0).values[-1]
    torch.testing.assert_close(moe.thresholds, 0.95 * before + 0.05 * kth)
    second = moe.thresholds.clone()
    moe(x)
    torch.testing.assert_close(moe.thresholds, 0.95 * second + 0.05 * kth)


def test_gamma_zero_activates_every_expert_and_gamma_one_none():
    torch.manual_seed(0)
    model = DiT(get_dit_size("diffmoe_tiny_e4"), 1, 8, 8).eval()
    x, t, text = torch.randn(2, 1, 8, 8), torch.tensor([10.0, 900.0]), torch.randn(2, 3, 8)
    set_moe_inference(model, "gamma", gamma=0.0)
    with torch.no_grad():
        model(x, t, text)
    assert capacity_of_last_forward(model) == 4.0  # every token in every expert: C = N
    set_moe_inference(model, "gamma", gamma=1.0)
    with torch.no_grad():
        out = model(x, t, text)
    assert capacity_of_last_forward(model) == 0.0
    assert torch.isfinite(out).all()
    # No expert ran: the MoE blocks add nothing, exactly like blocks whose FFN output is zero.
    for block in model.blocks[1::2]:
        assert block.mlp(torch.randn(2, 4, 128)).abs().max() == 0


def test_c_infer_matches_a_hand_count():
    model = DiT(get_dit_size("diffmoe_tiny_e2"), 1, 8, 8).eval()  # 2 MoE layers, 2 experts, 4 tokens per sample
    first, second = model.blocks[1].mlp, model.blocks[3].mlp
    # Thresholds that let layer 1 take every token in expert 0 only and layer 2 nothing: C = (8/8 + 0/8) / 2.
    first.thresholds.data = torch.tensor([-1.0, 2.0])
    second.thresholds.data = torch.tensor([2.0, 2.0])
    meter = CapacityMeter(model)
    with torch.no_grad():
        model(torch.randn(2, 1, 8, 8), torch.tensor([1.0, 2.0]), torch.randn(2, 3, 8))
        first.thresholds.data = torch.tensor([-1.0, -1.0])  # now layer 1 takes 16 of 8 tokens: C = (2 + 0) / 2
        model(torch.randn(2, 1, 8, 8), torch.tensor([1.0, 2.0]), torch.randn(2, 3, 8))
    assert first.last_counts.tolist() == [8, 8] and second.last_counts.tolist() == [0, 0]
    assert meter.per_step == [0.5, 1.0]
    assert meter.summary()["c_infer_avg"] == 0.75


def test_activated_parameters_follow_eq_40():
    torch.manual_seed(0)
    dense = DiT(get_dit_size("tiny"), 1, 8, 8)
    moe = DiT(get_dit_size("diffmoe_tiny_e4"), 1, 8, 8)
    ffn = sum(p.numel() for b in dense.blocks for p in b.mlp.parameters())  # 4 dense FFNs
    extra = sum(p.numel() for b in moe.blocks[1::2] for p in [*b.mlp.gate.parameters(), *b.mlp.predictor.parameters()])
    # At C = 1 the MoE model activates the dense model's parameters plus its gates and predictors.
    thresholds = 2 * 4
    assert activated_parameters(moe, 1.0) == activated_parameters(dense) + extra + thresholds
    moe_ffn = 2 * ffn // 4 + 2 * 4 * ffn // 4
    total = sum(p.numel() for p in moe.parameters())
    assert activated_parameters(moe, 0.5) == round(1.5 / 5 * moe_ffn + total - moe_ffn)


def test_train_and_eval_outputs_agree_once_the_predictor_is_fitted():
    moe = layer(1)
    x = torch.randn(4, 8, DIM)
    optimizer = torch.optim.Adam(moe.predictor.parameters(), lr=1e-2)
    moe.train()
    for _ in range(400):  # only the predictor learns; the thresholds track its k-th score
        out_train = moe(x)
        optimizer.zero_grad()
        moe.cp_loss.backward()
        optimizer.step()
    assert moe.cp_loss.item() < 0.02
    moe.eval()
    with torch.no_grad():
        out_eval = moe(x)
    assert moe.last_counts.tolist() == [8, 8, 8, 8]
    torch.testing.assert_close(out_eval, out_train.detach(), atol=1e-5, rtol=1e-5)


def test_capacity_predictor_loss_leaves_diffusion_gradients_untouched():
    torch.manual_seed(0)
    model = DiT(get_dit_size("diffmoe_tiny_e4"), 1, 8, 8).train()
    x, t, text = torch.randn(4, 1, 8, 8), torch.rand(4) * 999, torch.randn(4, 3, 8)
    model(x, t, text).square().mean().backward()
    diffusion_grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    assert not any("predictor" in n for n in diffusion_grads)
    model.zero_grad()
    model(x, t, text).square().mean().add(capacity_predictor_loss(model)).backward()
    for name, grad in diffusion_grads.items():
        torch.testing.assert_close(model.get_parameter(name).grad, grad)


def test_baselines_keep_capacity_one():
    torch.manual_seed(0)
    x = torch.randn(3, 8, DIM)
    tc, ec = TokenChoiceFFN(DIM, HIDDEN, N), ExpertChoiceFFN(DIM, HIDDEN, N)
    tc(x)
    assert int(tc.last_counts.sum()) == 24  # one expert per token
    out = ec(x)
    assert ec.last_counts.tolist() == [6, 6, 6, 6]  # S/N = 2 tokens per sample and expert
    torch.testing.assert_close(ec(x[:1]), out[:1], atol=1e-6, rtol=1e-6)  # EC selects within a sample
    scores = ec.scores(x[0])
    expected = torch.zeros(8, DIM)
    for i in range(N):
        for s in scores[:, i].topk(2).indices:
            expected[s] += scores[s, i] * ec.experts.one(i, x[0, s : s + 1])[0]
    torch.testing.assert_close(out[0], expected, atol=1e-5, rtol=1e-5)


def test_unknown_kind_and_mode_are_one_line_errors():
    with pytest.raises(HddmError, match="unknown MoE kind"):
        make_moe_ffn("switch", DIM, HIDDEN, N)
    with pytest.raises(HddmError, match="inference mode"):
        set_moe_inference(DiT(get_dit_size("diffmoe_tiny_e2"), 1, 8, 8), "sometimes")


def test_dense_dit_is_unchanged_by_the_moe_option():
    keys = set(DiT(get_dit_size("tiny"), 1, 8, 8).state_dict())
    assert not any("experts" in k or "gate" in k for k in keys)
    moe_keys = set(DiT(get_dit_size("diffmoe_tiny_e2"), 1, 8, 8).state_dict())
    assert {k for k in keys if ".blocks.1.mlp" not in "." + k and ".blocks.3.mlp" not in "." + k} <= moe_keys


FAST = [
    "data.batch_size=16",
    "sample.n=2",
    "sample.steps=2",
    "trainer=debug",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
]


@pytest.mark.parametrize("objective", ["ddpm", "fm"])
def test_a_diffmoe_expert_trains_exports_and_reloads(compose, tmp_path, objective):
    from hddm.ensemble.members import load_expert
    from hddm.train import train

    result = train(compose([f"objective={objective}", "cluster=1", "model=diffmoe_tiny_e4", *FAST]), tmp_path)
    expert = load_expert(result["bundle"])
    assert expert.manifest["model"]["moe"] == "diffmoe" and expert.manifest["model"]["num_experts"] == 4
    moe_blocks = [b.mlp for b in expert.network.blocks[1::2]]
    assert all(isinstance(m, DiffMoEFFN) for m in moe_blocks)
    assert all(not torch.equal(m.thresholds, torch.full((4,), 0.5)) for m in moe_blocks)  # the trained EMA arrived
    meter = CapacityMeter(expert.network)
    with torch.no_grad():
        expert.network(
            torch.randn(2, 1, 28, 28), torch.tensor([100.0, 800.0]), expert.null_text[None].expand(2, -1, -1)
        )
    assert meter.summary()["c_infer_avg"] == capacity_of_last_forward(expert.network)


def cfg_overrides(experts):  # no digit named in the prompt: no classifier to build
    return [
        f"ensemble.experts={experts}",
        "routing=threshold",
        "n=3",
        "steps=2",
        "batch_size=2",
        'prompt="a handwritten mark"',
    ]


def test_a_diffmoe_expert_samples_in_a_heterogeneous_ensemble_and_records_c_infer(compose, tmp_path):
    from hddm.sample import sample
    from hddm.train import train

    train(compose(["objective=fm", "cluster=0", "model=diffmoe_tiny_e4", *FAST]), tmp_path / "moe")
    train(compose(["objective=ddpm", "cluster=1", *FAST]), tmp_path / "dense")
    experts = f"[{tmp_path / 'moe' / 'expert'},{tmp_path / 'dense' / 'expert'}]"
    cfg = compose(cfg_overrides(experts), config_name="sample")
    record = sample(cfg, tmp_path / "samples")
    ((name, capacity),) = record["c_infer"].items()  # only the MoE expert has an entry
    assert name == "c0_fm" and capacity["c_infer_avg"] > 0
    # Two batches (2 + 1 samples); threshold routing at tau = 0.5 gives the FM expert the first of 2 steps.
    assert len(capacity["c_infer_per_step"]) == 2
    assert capacity["c_infer_avg"] == pytest.approx(sum(capacity["c_infer_per_step"]) / 2, abs=1e-4)
    # moe.mode=gamma with gamma = 0 sends every token to all 4 experts of each MoE layer: C_infer = 4.
    every = sample(
        compose([*cfg_overrides(experts), "moe.mode=gamma", "moe.gamma=0.0"], config_name="sample"), tmp_path / "all"
    )
    assert every["c_infer"]["c0_fm"]["c_infer_avg"] == pytest.approx(4.0)
    assert every["settings"]["moe"] == {"mode": "gamma", "gamma": 0.0, "capacity": 1.0}


@pytest.mark.parametrize("kind", ["tc", "ec"])
def test_baseline_experts_train(compose, tmp_path, kind):
    from hddm.train import train

    result = train(compose(["objective=fm", "cluster=0", f"model={kind}_tiny_e16", *FAST]), tmp_path)
    assert (tmp_path / "samples.png").stat().st_size > 0 and result["bundle"]


@pytest.mark.slow
def test_diffmoe_trains_under_ddp_on_cpu(cache_dir, tmp_path):
    import json

    from conftest import REPO, run_cli

    args = [
        "hddm.train",
        "trainer=ddp_cpu",
        "model=diffmoe_tiny_e4",
        "trainer.max_steps=3",
        "trainer.val_check_interval=3",
        "trainer.limit_val_batches=1",
        "checkpoint.every_n_steps=3",
        "data.batch_size=8",
        "sample.n=2",
        "sample.steps=2",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        f"hydra.run.dir={tmp_path}",
    ]
    result = run_cli(args, cwd=REPO, env_extra={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads((tmp_path / "result.json").read_text())
    assert record["steps"] == 3 and record["world_size"] == 2


def test_token_choice_balance_loss_is_one_when_balanced_and_reaches_the_gate():
    layer = TokenChoiceFFN(8, 16, 4).train()
    torch.nn.init.zeros_(layer.gate.weight)
    layer(torch.randn(2, 8, 8))
    assert torch.isclose(layer.balance_loss, torch.tensor(1.0))  # all tokens on expert 0, P uniform: 4 * 1 * 1/4
    with torch.no_grad():
        layer.gate.weight[0] = 5.0  # expert 0 takes (almost) everything, with (almost) all the probability
    x = torch.ones(2, 8, 8)
    layer(x)
    assert layer.balance_loss > 3.5
    layer.balance_loss.backward()
    assert layer.gate.weight.grad.abs().sum() > 0
