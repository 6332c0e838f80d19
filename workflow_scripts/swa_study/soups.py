"""Model soups (Wortsman et al., ICML 2022): average the weights of models fine-tuned from one starting point.

uniform: the mean of all ingredients' weights.
greedy (their Recipe 1): sort the ingredients by their own held-out score, best first; start the soup with the best
and add each next one only if the held-out score of the mean of the soup plus it does not drop (>=, as in their
code), so the soup never scores below its best ingredient on the held-out data.

The held-out data is the `heldout` slice of the training split (data.heldout_size rows kept out of training, the
same for every run); the dev split the tables report is never used for a choice. Averaging assumes the ingredients
start from the same weights, head included: set `student.init_seed` so that seeds differ only in data order and
dropout (with a head initialised per seed, the mean of unrelated heads, and of MiniLM-L3's untrained pooler, is not
a fine-tuned model of anything).
"""
from __future__ import annotations

from typing import Callable, Hashable, Sequence

import torch


def average_state_dicts(states: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The uniform mean of floating-point tensors (in float32, cast back); other tensors (ids, counters) from the
    first state, since they do not differ between fine-tuned copies of one architecture."""
    if not states:
        raise ValueError("a soup needs at least one ingredient")
    averaged = {}
    for key, first in states[0].items():
        if first.is_floating_point():
            averaged[key] = (sum(state[key].float() for state in states) / len(states)).to(first.dtype)
        else:
            averaged[key] = first.clone()
    return averaged


def greedy_soup(ingredients: Sequence[Hashable], own_scores: dict[Hashable, float],
                soup_score: Callable[[list[Hashable]], float]) -> tuple[list[Hashable], list[dict]]:
    """(the chosen ingredients, one trace record per candidate) of Wortsman et al.'s greedy soup.

    `own_scores` holds each ingredient's held-out score; `soup_score(chosen)` is the held-out score of the mean of
    `chosen`. Ties in the order keep the ingredients' given order (a stable sort).
    """
    order = sorted(ingredients, key=lambda i: -own_scores[i])
    chosen, best = [order[0]], own_scores[order[0]]
    trace = [{"ingredient": order[0], "candidate_score": best, "added": True, "soup_score": best}]
    for candidate in order[1:]:
        score = soup_score([*chosen, candidate])
        added = score >= best
        if added:
            chosen, best = [*chosen, candidate], score
        trace.append({"ingredient": candidate, "candidate_score": score, "added": added, "soup_score": best})
    return chosen, trace
