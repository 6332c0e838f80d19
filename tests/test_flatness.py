"""Flatness measures: checked on quadratics with a known Hessian, and on a tiny BERT against its own losses."""
import copy

import pytest
import torch

from swa_study.flatness import (filter_normalised_direction, hessian_vector_product, hutchinson_trace,
                                interpolation_losses, mean_loss, perturbation_losses, top_eigenvalue, trainable)
from swa_study.losses import forward_logits, supervised_loss
from swa_study.study.tasks import builtin_task
from swa_study.prediction import PadCollator


class Quadratic(torch.nn.Module):
    """L(w) = 1/2 (w - c)^T A (w - c): its Hessian is A everywhere."""

    def __init__(self, matrix: torch.Tensor, centre: torch.Tensor):
        super().__init__()
        self.matrix, self.centre = matrix, centre
        self.w = torch.nn.Parameter(torch.zeros(len(centre), dtype=torch.float64))

    def loss(self) -> torch.Tensor:
        x = self.w - self.centre
        return 0.5 * x @ self.matrix @ x


def known_matrix(eigenvalues: list[float], seed: int = 0) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(len(eigenvalues), len(eigenvalues), generator=torch.Generator().manual_seed(seed),
                                       dtype=torch.float64))
    return q @ torch.diag(torch.tensor(eigenvalues, dtype=torch.float64)) @ q.T


def quadratic_hvp(model: Quadratic):
    return lambda v: hessian_vector_product([model.loss], [model.w], v)


def test_hessian_vector_product_of_a_quadratic_is_the_matrix_times_the_vector():
    matrix = known_matrix([3.0, 1.0, 0.5, -0.2])
    model = Quadratic(matrix, torch.ones(4, dtype=torch.float64))
    v = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64)
    assert torch.allclose(quadratic_hvp(model)([v])[0], matrix @ v)


def test_power_iteration_finds_the_top_eigenvalue_of_a_known_hessian():
    model = Quadratic(known_matrix([5.0, 2.0, 1.0, 0.5, -0.5, 0.1]), torch.zeros(6, dtype=torch.float64))
    value, history, radius = top_eigenvalue(quadratic_hvp(model), [model.w], iterations=200, seed=0,
                                            tolerance=1e-12)
    assert value == pytest.approx(5.0, rel=1e-6) and radius == pytest.approx(5.0, rel=1e-6)
    assert len(history) > 2 and history[0] < history[-1]  # it climbs towards the top from a random start


def test_power_iteration_stops_when_converged():
    model = Quadratic(known_matrix([4.0, 0.1, 0.1]), torch.zeros(3, dtype=torch.float64))
    value, history, _ = top_eigenvalue(quadratic_hvp(model), [model.w], iterations=500, seed=1, tolerance=1e-6)
    assert value == pytest.approx(4.0, rel=1e-5) and len(history) < 50


def test_negative_curvature_does_not_hide_the_top_eigenvalue():
    """Off a minimum the eigenvalue of largest magnitude can be negative, or tie with the top one; λ_max is still
    the largest eigenvalue, and the spectral radius is reported beside it."""
    cases = {(-6.0, 3.0, 1.0, 0.5, -1.0): 3.0,   # a dominant negative curvature
             (5.0, -5.0, 1.0, 0.2): 5.0,         # +a and -a: the Rayleigh quotient settles between them
             (-2.0, -1.0, -0.5): -0.5}           # a maximum: λ_max is negative
    for eigenvalues, expected in cases.items():
        model = Quadratic(known_matrix(list(eigenvalues), seed=3), torch.zeros(len(eigenvalues), dtype=torch.float64))
        value, history, radius = top_eigenvalue(quadratic_hvp(model), [model.w], iterations=2000, seed=0,
                                                tolerance=1e-12)
        assert value == pytest.approx(expected, rel=1e-5, abs=1e-6) and history[-1] == value
        assert radius == pytest.approx(max(abs(e) for e in eigenvalues), rel=1e-2)


def test_the_shifted_pass_stops_on_the_eigenvalue_not_on_the_shift():
    """A Hessian like a network's: a bulk of near-zero curvature, a dominant negative direction. H + rI is about rI
    on the bulk, so a stopping rule relative to the shifted quotient (r + λ) would stop at once, near λ = 0."""
    eigenvalues = [-400.0, 100.0, 50.0] + [0.0] * 300
    model = Quadratic(known_matrix(eigenvalues, seed=4), torch.zeros(len(eigenvalues), dtype=torch.float64))
    value, history, radius = top_eigenvalue(quadratic_hvp(model), [model.w], iterations=200, seed=0, tolerance=1e-2)
    assert radius == pytest.approx(400.0, rel=1e-2)
    assert value == pytest.approx(100.0, rel=3e-2)  # the rule relative to r + λ stopped at 0.13 after 9 steps


def test_hutchinson_is_exact_for_a_diagonal_hessian_and_unbiased_otherwise():
    diagonal = Quadratic(torch.diag(torch.tensor([3.0, 1.0, 0.5, 2.0], dtype=torch.float64)),
                         torch.zeros(4, dtype=torch.float64))
    mean, error = hutchinson_trace(quadratic_hvp(diagonal), [diagonal.w], samples=3, seed=0)
    assert mean == pytest.approx(6.5) and error == pytest.approx(0.0)  # v_i^2 = 1: v^T D v = tr(D) for every v
    dense = Quadratic(known_matrix([3.0, 1.0, 0.5, 2.0, -1.0], seed=2), torch.zeros(5, dtype=torch.float64))
    mean, error = hutchinson_trace(quadratic_hvp(dense), [dense.w], samples=4000, seed=0)
    assert error > 0 and abs(mean - 5.5) < 4 * error


def test_filter_normalised_direction_matches_each_rows_norm_and_skips_vectors():
    weight = torch.randn(5, 7, generator=torch.Generator().manual_seed(0))
    conv = torch.randn(3, 2, 4, generator=torch.Generator().manual_seed(1))
    bias = torch.randn(5)
    d_weight, d_conv, d_bias = filter_normalised_direction([weight, conv, bias], torch.Generator().manual_seed(2))
    assert torch.allclose(d_weight.norm(dim=1), weight.norm(dim=1))
    assert torch.allclose(d_conv.view(3, -1).norm(dim=1), conv.view(3, -1).norm(dim=1))
    assert torch.equal(d_bias, torch.zeros(5))
    again = filter_normalised_direction([weight, conv, bias], torch.Generator().manual_seed(2))
    assert torch.equal(again[0], d_weight)  # seeded


@pytest.fixture
def two_classifiers(tiny_classifier):
    """The tiny BERT classifier fitted to fixed batches of its training rows (near a minimum), a second one nudged
    away from it, and the batches."""
    model, tokenizer, train = tiny_classifier
    model.set_attn_implementation("eager")  # double backward needs the eager attention (no SDPA kernel for it)
    collate = PadCollator(tokenizer)
    batches = [collate([train[i] for i in range(start, start + 8)]) for start in (0, 8, 16)]
    task = builtin_task("sst2")
    loss_fn = lambda m, b: supervised_loss(task, forward_logits(m, b), b["labels"])  # noqa: E731
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.eval()  # no dropout: fit the very loss that is measured
    for _ in range(40):
        for batch in batches:
            loss_fn(model, batch).backward()
            optimizer.step()
            optimizer.zero_grad()
    other = copy.deepcopy(model)
    with torch.no_grad():
        generator = torch.Generator().manual_seed(5)
        for p in other.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=generator))
    return model.eval(), other.eval(), batches, loss_fn


def test_interpolation_at_0_and_1_reproduces_each_models_own_loss(two_classifiers):
    model, other, batches, loss_fn = two_classifiers
    own = mean_loss(model, loss_fn, batches), mean_loss(other, loss_fn, batches)
    before = [p.detach().clone() for p in model.parameters()]
    start = [p.detach().clone() for p in trainable(model)]
    end = [p.detach().clone() for p in trainable(other)]
    line = interpolation_losses(model, start, end, [0.0, 0.5, 1.0, 1.5],
                                lambda m: {"loss": mean_loss(m, loss_fn, batches)})
    assert [point["alpha"] for point in line] == [0.0, 0.5, 1.0, 1.5]
    assert line[0]["loss"] == pytest.approx(own[0], rel=1e-6) and line[2]["loss"] == pytest.approx(own[1], rel=1e-6)
    assert own[0] != own[1] and line[3]["loss"] not in (own[0], own[1])
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # weights restored


def test_perturbation_at_radius_zero_is_the_loss_and_grows_with_the_radius(two_classifiers):
    model, _, batches, loss_fn = two_classifiers
    base = mean_loss(model, loss_fn, batches)
    table = perturbation_losses(model, lambda m: mean_loss(m, loss_fn, batches), [0.0, 0.1, 1.0], directions=2, seed=0)
    assert table[0] == pytest.approx([base, base])
    assert table[1][0] != table[1][1]  # two different directions
    assert base < 0.1 and min(table[1]) > base  # near a minimum, every direction climbs
    assert min(table[2]) > max(table[1])  # perturbing by the weights' own scale ruins the model
    assert mean_loss(model, loss_fn, batches) == base


def test_hessian_vector_product_of_a_bert_matches_finite_differences_of_its_gradient(two_classifiers):
    model, _, batches, loss_fn = two_classifiers
    model = model.double()
    params = trainable(model)
    closures = [lambda b=b: loss_fn(model, b) for b in batches[:2]]
    generator = torch.Generator().manual_seed(0)
    v = [torch.randn(p.shape, generator=generator, dtype=p.dtype) for p in params]
    hv = hessian_vector_product(closures, params, v)

    def gradient() -> list[torch.Tensor]:
        loss = sum(c() for c in closures) / len(closures)
        return [g if g is not None else torch.zeros_like(p)
                for g, p in zip(torch.autograd.grad(loss, params, allow_unused=True), params)]

    eps = 1e-5
    with torch.no_grad():
        for p, x in zip(params, v):
            p.add_(eps * x)
    plus = gradient()
    with torch.no_grad():
        for p, x in zip(params, v):
            p.sub_(2 * eps * x)
    minus = gradient()
    numeric = [(a - b) / (2 * eps) for a, b in zip(plus, minus)]
    flat, reference = torch.cat([h.flatten() for h in hv]), torch.cat([n.flatten() for n in numeric])
    assert torch.allclose(flat, reference, rtol=1e-4, atol=1e-6 * reference.abs().max())
