"""Model soups: the uniform mean of weights and Wortsman et al.'s greedy recipe."""
import random

import pytest
import torch

from swa_study.soups import average_state_dicts, greedy_soup


def quadratic_score(values, target):
    """The held-out score of a 'soup' of scalar ingredients: minus the squared distance of their mean to `target`."""
    return lambda chosen: -(sum(values[i] for i in chosen) / len(chosen) - target) ** 2


def test_greedy_soup_keeps_only_ingredients_that_do_not_lower_the_heldout_score():
    """Ingredients 0.0, 1.0, 2.0, 10.0, target 1.5. Own scores -2.25, -0.25, -0.25, -72.25, so the order is 1.0, 2.0
    (a tie: given order), 0.0, 10.0. {1.0} scores -0.25; + 2.0: mean 1.5, score 0, kept; + 0.0: mean 1.0, -0.25, dropped;
    + 10.0: mean 13/3, -8.03, dropped."""
    values = {"a": 0.0, "b": 1.0, "c": 2.0, "d": 10.0}
    score = quadratic_score(values, 1.5)
    own = {name: score([name]) for name in values}
    chosen, trace = greedy_soup(list(values), own, score)
    assert chosen == ["b", "c"]
    assert [r["ingredient"] for r in trace] == ["b", "c", "a", "d"]
    assert [r["added"] for r in trace] == [True, True, False, False]
    assert [r["candidate_score"] for r in trace] == pytest.approx([-0.25, 0.0, -0.25, -(13 / 3 - 1.5) ** 2])
    assert [r["soup_score"] for r in trace] == pytest.approx([-0.25, 0.0, 0.0, 0.0])


@pytest.mark.parametrize("seed", range(20))
def test_greedy_soup_never_adds_an_ingredient_that_lowers_its_heldout_score(seed):
    rng = random.Random(seed)
    values = {i: rng.uniform(-3, 3) for i in range(rng.randint(2, 8))}
    score = quadratic_score(values, rng.uniform(-1, 1))
    own = {i: score([i]) for i in values}
    chosen, trace = greedy_soup(list(values), own, score)
    running = own[chosen[0]]
    assert running == max(own.values())  # the soup starts with its best ingredient
    for record in trace[1:]:
        assert record["added"] == (record["candidate_score"] >= running)
        running = max(running, record["candidate_score"]) if record["added"] else running
        assert record["soup_score"] == running
    assert score(chosen) == pytest.approx(running) and score(chosen) >= max(own.values())


def test_uniform_soup_is_the_mean_of_floating_weights_and_keeps_integer_buffers():
    states = [{"w": torch.tensor([1.0, 2.0]), "ids": torch.tensor([0, 1])},
              {"w": torch.tensor([3.0, 6.0]), "ids": torch.tensor([0, 1])},
              {"w": torch.tensor([5.0, 1.0]), "ids": torch.tensor([0, 1])}]
    soup = average_state_dicts(states)
    torch.testing.assert_close(soup["w"], torch.tensor([3.0, 3.0]))
    assert soup["ids"].tolist() == [0, 1] and soup["ids"].dtype == torch.int64
    with pytest.raises(ValueError, match="at least one ingredient"):
        average_state_dicts([])
