"""Batches of similar length: less padding to compute, in training and in prediction.

The collator pads each batch to its longest row, so a batch drawn at random pays for the longest of 32 random rows
(SST-2 here: rows of 13 tokens on average, padded to about 40). Training draws its batches from length-grouped
mega-batches (the Hugging Face Trainer's `group_by_length` algorithm, seeded per epoch, so the order is fixed by the
seed and the epoch alone, the same for every method of a seed, and an interrupted run resumes into the same order).
Prediction runs over the rows sorted by length and puts the outputs back in the rows' order.
"""
from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Sampler
from transformers.trainer_pt_utils import get_length_grouped_indices


def token_lengths(dataset, column: str = "input_ids") -> list[int]:
    """Tokens per row, read from the column at once (the Trainer's own sampler reads the rows one by one)."""
    return [len(ids) for ids in dataset[column]]


class SeededLengthGroupedSampler(Sampler[int]):
    """Row order for training: shuffle, cut into mega-batches of about 50 batches, sort each by length.

    Consecutive `batch_size` rows then have similar lengths, and every row is seen once per epoch. The permutation
    of epoch e comes from a generator seeded with `seed + e` (the Trainer calls `set_epoch` before each epoch),
    never from the global RNG, whose state depends on how much dropout a method's forward passes drew.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int):
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(get_length_grouped_indices(self.lengths, self.batch_size, generator=generator))


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Row indices in batches of rows of similar length, longest first (an out-of-memory error shows at once).

    The sort is stable, so rows of equal length keep their order; callers put outputs back with the indices.
    """
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
