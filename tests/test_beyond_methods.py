"""EMA, LAWA, SWAG, SAM and SAM+SWA against closed forms and hand-computed values (issue 11)."""
import copy
import math

import pytest
import torch

from swa_study.compute import non_embedding_parameters
from swa_study.methods import build_method
from swa_study.methods.ema import EMACollector, ema_decay
from swa_study.methods.lawa import lawa_steps
from swa_study.methods.sam import sam_perturbation
from swa_study.methods.swag import SWAGCollector, diagonal_variance, sample_weights, split_moments
from swa_study.study.tasks import builtin_task as get_task
from swa_study.training import TrainSettings, train_model, training_arguments
from test_swa import FakeState, SnapshotEveryStep


def random_steps(model, collector, steps, seed=0):
    """Give the model new random weights before each step's callback; return the snapshots by step."""
    torch.manual_seed(seed)
    snapshots = {}
    for step in range(steps + 1):
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(torch.randn_like(p))
        snapshots[step] = copy.deepcopy(model.state_dict())
        if step == 0:
            collector.on_train_begin(None, FakeState(step), None, model=model)
        else:
            collector.on_step_end(None, FakeState(step), None, model=model)
    return snapshots


# --- EMA --------------------------------------------------------------------------------------------------------

def test_ema_with_a_fixed_decay_equals_the_closed_form():
    """w_ema(n) = d^n w(0) + sum_i (1 - d) d^(n-i) w(i)."""
    model, d, n = torch.nn.Linear(3, 2), 0.8, 7
    collector = EMACollector(decay=d, warmup=False)
    snapshots = random_steps(model, collector, n)
    for name, value in collector.averaged.module.state_dict().items():
        expected = d ** n * snapshots[0][name] + sum((1 - d) * d ** (n - i) * snapshots[i][name] for i in range(1, n + 1))
        torch.testing.assert_close(value, expected)
    assert collector.updates == n


def test_ema_decay_warms_up_as_one_plus_n_over_ten_plus_n():
    assert ema_decay(0.999, 1, warmup=True) == pytest.approx(2 / 11)
    assert ema_decay(0.999, 90, warmup=True) == pytest.approx(91 / 100)
    assert ema_decay(0.9, 200, warmup=True) == 0.9 and ema_decay(0.999, 1, warmup=False) == 0.999
    model, n = torch.nn.Linear(2, 2), 5
    collector = EMACollector(decay=0.999, warmup=True)
    snapshots = random_steps(model, collector, n, seed=1)
    decays = [None] + [(1 + i) / (10 + i) for i in range(1, n + 1)]
    for name, value in collector.averaged.module.state_dict().items():
        expected = math.prod(decays[1:]) * snapshots[0][name] + sum(
            (1 - decays[i]) * math.prod(decays[i + 1:]) * snapshots[i][name] for i in range(1, n + 1))
        torch.testing.assert_close(value, expected)


def test_ema_training_saves_the_ema_of_every_step(tiny_classifier, tmp_path):
    model, tokenizer, train = tiny_classifier
    hp = {"epochs": 2, "learning_rate": 1e-3, "batch_size": 4, "ema_decay": 0.5, "ema_decay_warmup": False}
    method, spy = build_method("ema", get_task("sst2"), hp), SnapshotEveryStep()
    method.callbacks = lambda: [method.collector, spy]
    facts = train_model(model, tokenizer, method, train, training_arguments(TrainSettings.from_params(hp, 3),
                                                                            tmp_path / "t"), tmp_path / "log.jsonl")
    n = facts["optimizer_steps"]
    assert facts["ema_updates"] == n == 12
    weight = model.state_dict()["classifier.weight"]
    expected = 0.5 ** n * spy.snapshots[0]["classifier.weight"] + sum(
        0.5 * 0.5 ** (n - i) * spy.snapshots[i]["classifier.weight"] for i in range(1, n + 1))
    torch.testing.assert_close(weight, expected)
    assert not torch.allclose(weight, spy.snapshots[n]["classifier.weight"])


# --- LAWA -------------------------------------------------------------------------------------------------------

def test_lawa_takes_the_last_k_checkpoints_counted_back_from_the_last_step():
    assert lawa_steps(12, 3, 4) == [4, 8, 12]
    assert lawa_steps(10, 5, 4) == [2, 6, 10]  # only three fit
    assert lawa_steps(141, 5, 8) == [109, 117, 125, 133, 141]
    assert lawa_steps(8, 3, 4) == [4, 8]  # never step 0, the weights before the first update
    assert lawa_steps(12, 7, 2) == [2, 4, 6, 8, 10, 12]
    assert lawa_steps(1, 3, 4) == [1]


@pytest.mark.parametrize("k, steps", [(3, [8, 10, 12]), (7, [2, 4, 6, 8, 10, 12])])
def test_lawa_training_saves_the_mean_of_the_last_k_snapshots(k, steps, tiny_classifier, tmp_path):
    """k = 7 checkpoints 2 steps apart would reach back to step 0 of 12: six are averaged, and the facts say so."""
    model, tokenizer, train = tiny_classifier
    hp = {"epochs": 2, "learning_rate": 1e-3, "batch_size": 4, "lawa_k": k, "lawa_every_steps": 2}
    method, spy = build_method("lawa", get_task("sst2"), hp), SnapshotEveryStep()
    method.callbacks = lambda: [method.collector, spy]
    facts = train_model(model, tokenizer, method, train, training_arguments(TrainSettings.from_params(hp, 3),
                                                                            tmp_path / "t"), tmp_path / "log.jsonl")
    assert facts["lawa_collected_steps"] == steps and facts["lawa_models_averaged"] == len(steps)
    assert facts["lawa_k"] == k
    for name, value in model.state_dict().items():
        if value.is_floating_point():
            expected = torch.stack([spy.snapshots[s][name] for s in steps]).mean(0)
            torch.testing.assert_close(value, expected)


# --- SWAG -------------------------------------------------------------------------------------------------------

def swag_on_toy(rank, steps=(2, 4, 6, 8, 10), seed=0):
    model = torch.nn.Linear(3, 2)
    collector = SWAGCollector(rank)
    collector.steps = set(steps)
    snapshots = random_steps(model, collector, max(steps), seed=seed)
    return collector, [snapshots[s] for s in steps]


def test_swag_moments_are_the_swa_mean_and_the_collected_second_moment():
    collector, collected = swag_on_toy(rank=3)
    mean = dict(collector.averaged.module.named_parameters())
    sq_mean, deviations = split_moments(collector.moments())
    variance = diagonal_variance({k: v.detach() for k, v in mean.items()}, sq_mean)
    for name in mean:
        stacked = torch.stack([s[name] for s in collected])
        torch.testing.assert_close(mean[name].detach(), stacked.mean(0))  # the SWA mean
        torch.testing.assert_close(sq_mean[name], (stacked ** 2).mean(0))
        torch.testing.assert_close(variance[name], stacked.var(0, unbiased=False))  # sq_mean - mean^2
        # the last 3 columns: w_i minus the running mean after adding w_i
        running = [stacked[: i + 1].mean(0) for i in range(len(collected))]
        expected = torch.stack([stacked[i] - running[i] for i in (2, 3, 4)])
        torch.testing.assert_close(deviations[name], expected)


@pytest.mark.parametrize("rank", [0, 3])
def test_swag_samples_have_the_swa_mean_and_the_scaled_swag_variance(rank):
    collector, _ = swag_on_toy(rank=rank, seed=2)
    mean = {k: v.detach().clone() for k, v in collector.averaged.module.named_parameters()}
    sq_mean, deviations = split_moments(collector.moments())
    generator, scale, draws = torch.Generator().manual_seed(0), 0.5, 20000
    samples = [sample_weights(mean, sq_mean, deviations, scale, generator) for _ in range(draws)]
    variance = diagonal_variance(mean, sq_mean)
    for name in mean:
        stacked = torch.stack([s[name] for s in samples])
        expected_var = variance[name] + ((deviations[name] ** 2).sum(0) / (rank - 1) if rank else 0)
        # mean within 5 standard errors; variance within 5 %
        tolerance = 5 * (scale * expected_var / draws).sqrt()
        assert ((stacked.mean(0) - mean[name]).abs() <= tolerance).all()
        torch.testing.assert_close(stacked.var(0), scale * expected_var, rtol=0.05, atol=0)


# --- SAM --------------------------------------------------------------------------------------------------------

class Quadratic(torch.nn.Module):
    """L(w) = 1/2 w^T diag(1, 3) w."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor([1.0, 1.0]))

    def loss(self):
        return 0.5 * (self.w ** 2 * torch.tensor([1.0, 3.0])).sum()


def quadratic_step(model, inputs, num_items_in_batch=None):
    """What the Trainer's step does: forward, backward, return the loss."""
    loss = model.loss()
    loss.backward()
    return loss.detach()


def test_sam_steps_along_the_gradient_taken_at_w_plus_rho_g_over_norm_g():
    """At w = (1, 1): g = (1, 3), |g| = sqrt(10); rho = sqrt(10)/10 gives e = (0.1, 0.3), w + e = (1.1, 1.3), and
    the gradient there is (1.1, 3.9). SGD with lr 0.1 then moves w to (0.89, 0.61)."""
    model = Quadratic()
    method = build_method("sam", get_task("sst2"), {"sam_rho": math.sqrt(10) / 10})
    loss = method.training_step(quadratic_step, model, {})
    assert float(loss) == pytest.approx(2.0)  # L(w), not L(w + e)
    torch.testing.assert_close(model.w.detach(), torch.tensor([1.0, 1.0]))  # weights restored before the step
    torch.testing.assert_close(model.w.grad, torch.tensor([1.1, 3.9]))
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    torch.testing.assert_close(model.w.detach(), torch.tensor([0.89, 0.61]))
    assert method.passes == 2


def test_sam_keeps_the_gradients_of_earlier_micro_batches():
    model = Quadratic()
    model.w.grad = torch.tensor([10.0, 20.0])  # accumulated by an earlier micro-batch
    method = build_method("sam", get_task("sst2"), {"sam_rho": math.sqrt(10) / 10})
    method.training_step(quadratic_step, model, {})
    torch.testing.assert_close(model.w.grad, torch.tensor([11.1, 23.9]))


def test_sam_perturbation_has_norm_rho_and_is_zero_for_a_zero_gradient():
    e = sam_perturbation([torch.tensor([3.0]), None, torch.tensor([[4.0]])], rho=0.5)
    assert e[1] is None and float(torch.cat([e[0], e[2].flatten()]).norm()) == pytest.approx(0.5)
    assert float(sam_perturbation([torch.zeros(3)], rho=0.5)[0].abs().sum()) == 0.0


@pytest.mark.parametrize("name", ["sam", "sam_swa"])
def test_sam_training_records_two_passes_per_micro_batch(name, tiny_classifier, tmp_path):
    model, tokenizer, train = tiny_classifier
    hp = {"epochs": 1, "learning_rate": 1e-3, "batch_size": 4, "gradient_accumulation_steps": 2, "sam_rho": 0.05,
          "swa_start": 0.5, "swa_every_steps": 1}
    method = build_method(name, get_task("sst2"), hp)
    facts = train_model(model, tokenizer, method, train, training_arguments(TrainSettings.from_params(hp, 3),
                                                                            tmp_path / "t"), tmp_path / "log.jsonl")
    assert facts["optimizer_steps"] == 3  # 24 rows / (4 x 2)
    assert facts["forward_backward_passes"] == 2 * 6  # two passes for each of the 6 micro-batches
    assert facts["train_flops"] == 2 * 6 * non_embedding_parameters(model) * facts["tokens"]  # twice finetune's
    if name == "sam_swa":
        assert facts["swa_collected_steps"] == [2, 3] and facts["swa_models_averaged"] == 2
