"""The shared Trainer set-up every training method runs on (teacher and students alike).

The Trainer brings what users expect to scale (accelerate/torchrun multi-GPU, mixed precision, gradient
accumulation, checkpoint resume); the method (methods/) supplies the loss, the LR schedule and the end-of-training
weights. Per-step loss and LR go to a JSON-lines file that the MLflow mirror reads later, so training never writes
to the tracking store (parallel jobs cannot race on it).
"""
from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import torch
from torch.optim.lr_scheduler import LambdaLR
from transformers import Trainer, TrainerCallback, TrainingArguments

from .batching import SeededLengthGroupedSampler, token_lengths
from .checkpoints import LOG_COPY, MethodCheckpoints, restore_method_state
from .compute import training_facts
from .distributed import per_device_batch, world_size
from .losses import forward_logits
from .prediction import PAD_MULTIPLE, PadCollator

if TYPE_CHECKING:  # the methods build on this module, never the other way round
    from .methods.base import TrainingMethod


@dataclass
class TrainSettings:
    """Hyper-parameters shared by every method (config sections `teacher` and `student`)."""

    epochs: float
    learning_rate: float
    batch_size: int
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    max_grad_norm: float = 1.0
    gradient_accumulation_steps: int = 1
    logging_steps: int = 10
    precision: str = "fp32"  # fp32 | bf16 (CPU autocast, or GPU) | fp16 (GPU) | auto; the weights stay fp32
    group_by_length: bool = True  # batches of similar length (batching.py): less padding, another data order
    heldout_curve: bool = False  # score the held-out rows after every epoch (the learning curve in the report)
    seed: int = 0

    @classmethod
    def from_params(cls, params: dict[str, Any], seed: int) -> "TrainSettings":
        known = {k: params[k] for k in cls.__dataclass_fields__ if k in params and k != "seed"}
        return cls(seed=seed, **known)


def log_record(state, logs: dict[str, Any] | None) -> dict[str, Any]:
    """One Trainer log event as the training log stores it: step, epoch, wall-clock time, values (`eval_` keys
    renamed `heldout_`: the Trainer only ever evaluates the held-out slice of the training split here)."""
    values = {("heldout_" + k.removeprefix("eval_") if k.startswith("eval_") else k): v for k, v in (logs or {}).items()}
    return {"step": state.global_step, "epoch": state.epoch, "time": round(time.time(), 3), **values}


class JsonlLogger(TrainerCallback):
    """Appends every Trainer log record (loss, learning_rate, grad_norm, held-out metrics) to a file, with its step
    and the wall-clock time it was measured (seconds since the epoch), which MLflow's time axis shows.

    `eval_` keys are written as `heldout_` (see `log_record`), never to be confused with the dev scores the tables
    report.
    """

    def __init__(self, path: str | Path, keep_records: bool = False):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not keep_records:  # a resumed run continues the log its checkpoint saved
            self.path.write_text("")

    def on_log(self, args, state, control, logs=None, **kwargs):
        with self.path.open("a") as handle:
            handle.write(json.dumps(log_record(state, logs)) + "\n")


class MethodTrainer(Trainer):
    """A Trainer whose loss and LR schedule come from a `TrainingMethod`."""

    def __init__(self, *args, method: TrainingMethod, **kwargs):
        super().__init__(*args, **kwargs)
        self.method = method
        self.loss_is_scaled_for_ga = False  # our losses are batch means: let the Trainer divide by GA steps

    def _get_train_sampler(self, train_dataset=None):
        """`group_by_length`: the Trainer's length grouping, seeded per epoch (batching.py), not by the global RNG."""
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        if self.args.train_sampling_strategy != "group_by_length" or not hasattr(dataset, "column_names"):
            return super()._get_train_sampler(train_dataset)
        seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
        # Mega-batches of the *global* batch on every rank: the same order as one process, which accelerate then
        # cuts into per-rank slices (each rank's sampler yields the same sequence: same seed, same epoch).
        batch = self.args.train_batch_size * self.args.gradient_accumulation_steps * self.args.world_size
        self.seeded_sampler = SeededLengthGroupedSampler(token_lengths(dataset), batch, seed)
        return self.seeded_sampler

    def _run_epoch(self, *args, **kwargs):
        """Tell the seeded sampler its epoch directly. A data-parallel run resumed mid-epoch wraps it three deep
        (skipped batches, rank shard, batch sampler), where the Trainer's and accelerate's `set_epoch` never reach,
        and would replay epoch 0's order."""
        sampler = getattr(self, "seeded_sampler", None)
        if sampler is not None and kwargs.get("epoch") is not None:
            sampler.set_epoch(int(kwargs["epoch"]))
        return super()._run_epoch(*args, **kwargs)

    def evaluate(self, *args, **kwargs):
        """Score the held-out rows without touching the random stream training draws from: each DataLoader pass
        takes a seed from the global generator, so an unforked evaluation would shift every later dropout mask."""
        devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
        with torch.random.fork_rng(devices=devices):
            return super().evaluate(*args, **kwargs)

    def set_initial_training_values(self, args, dataloader):
        """The Trainer's own step budget; kept: its updates per epoch (the second value) are the method's."""
        values = super().set_initial_training_values(args, dataloader)
        self.updates_per_epoch = int(values[1])
        return values

    def create_scheduler(self, num_training_steps: int, optimizer: torch.optim.Optimizer | None = None):
        """The method's LR schedule, once it knows the budget: total optimizer steps and the Trainer's updates per
        epoch (exact for any epochs and gradient accumulation, where total / epochs would round a fraction)."""
        if self.lr_scheduler is None:
            self.method.start(num_training_steps, self.updates_per_epoch)
            self.lr_scheduler = LambdaLR(optimizer or self.optimizer, self.method.lr_factor)
        return self.lr_scheduler

    def training_step(self, model, inputs, num_items_in_batch=None):
        """The method runs each micro-batch's step, handed the Trainer's own (forward, backward, GA scaling) to call:
        once for most methods, twice for SAM."""
        return self.method.training_step(super().training_step, model, inputs, num_items_in_batch)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss = self.method.compute_loss(model, inputs)
        if return_outputs:  # evaluation: the Trainer also wants the logits
            with torch.no_grad():
                logits = forward_logits(model, inputs)
            return loss, {"logits": logits}
        return loss


def mean_logged_loss(log_path: Path) -> float:
    """The mean training loss over all steps, from the log's windows (each logged loss is its window's mean).

    Unlike the Trainer's own figure it covers the steps before a resume too.
    """
    previous, total, steps = 0, 0.0, 0
    for record in map(json.loads, log_path.read_text().splitlines()):
        if "loss" in record and record["step"] > previous:
            total += float(record["loss"]) * (record["step"] - previous)
            steps += record["step"] - previous
            previous = record["step"]
    return total / steps if steps else float("nan")


def bf16_is_fast(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether bf16 autocast computes in bf16 on this machine: a GPU that supports it, or a CPU with AVX512-BF16 or
    AMX (flags Linux lists in /proc/cpuinfo). Elsewhere a CPU emulates bf16, slower than fp32."""
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    try:
        flags = cpuinfo.read_text()
    except OSError:
        return False
    return bool(re.search(r"\b(avx512_bf16|amx_bf16)\b", flags))


def resolve_precision(precision: str) -> str:
    """`auto` (the offline studies' default) is bf16 where bf16 is fast, else fp32; the other values stand."""
    if precision == "auto":
        return "bf16" if bf16_is_fast() else "fp32"
    return precision


def precision_arguments(precision: str) -> dict[str, Any]:
    """The Trainer's mixed-precision switches for `precision`: autocast of the model's forward pass, fp32 weights.

    bf16 runs on a GPU with bf16 or on the CPU (transformers wants `use_cpu` for that: torch.autocast("cpu")).
    """
    precision = resolve_precision(precision)
    if precision == "fp32":
        return {}
    if precision == "bf16":
        return {"bf16": True, **({} if torch.cuda.is_available() else {"use_cpu": True})}
    if precision == "fp16":
        if not torch.cuda.is_available():
            raise ValueError("precision fp16 needs a GPU (torch sees none); on a CPU use bf16 or fp32")
        return {"fp16": True}
    raise ValueError(f"precision must be auto, fp32, bf16 or fp16, got {precision!r}")


def training_arguments(settings: TrainSettings, output_dir: Path, checkpoint_every: int = 0,
                       **overrides: Any) -> TrainingArguments:
    """TrainingArguments for a CPU laptop or a GPU node alike; nothing is reported to trackers from inside training.

    `checkpoint_every` > 0 saves a resumable checkpoint into `output_dir` every that many optimizer steps (the two
    newest are kept, so one always survives a kill during the next save). Under a torchrun launch of N processes
    each takes `batch_size` / N rows, so the global batch (and every step's update) stays the configured one.
    """
    processes = world_size()
    # one process seeing several GPUs (MATE-KD given `gpus`) runs DataParallel: it splits each batch over them too
    shares = processes if processes > 1 else max(1, torch.cuda.device_count())
    # accelerate sets up a CPU process group (gloo) only when told the job runs on the CPU
    distributed = {"use_cpu": True, "ddp_backend": "gloo"} if processes > 1 and not torch.cuda.is_available() else {}
    options: dict[str, Any] = dict(
        output_dir=str(output_dir),
        num_train_epochs=settings.epochs,
        learning_rate=settings.learning_rate,
        per_device_train_batch_size=per_device_batch(settings.batch_size, shares,
                                                     over="resources.train_processes" if processes > 1 else "GPUs"),
        per_device_eval_batch_size=max(64, settings.batch_size),
        gradient_accumulation_steps=settings.gradient_accumulation_steps,
        weight_decay=settings.weight_decay,  # the Trainer exempts biases and LayerNorm weights
        max_grad_norm=settings.max_grad_norm,
        logging_steps=settings.logging_steps,
        logging_first_step=True,
        seed=settings.seed,
        data_seed=settings.seed,
        optim="adamw_torch_fused",  # fused AdamW: 5x faster optimizer step on CPU than the loop version
        save_strategy="steps" if checkpoint_every > 0 else "no",
        save_steps=max(1, checkpoint_every),
        save_total_limit=2,
        eval_strategy="epoch" if settings.heldout_curve else "no",
        report_to="none",
        include_num_input_tokens_seen="non_padding",  # real tokens, for compute.csv's FLOPs estimate
        remove_unused_columns=False,  # keeps cached teacher logits; datasets carry only the columns we need
        disable_tqdm=True,
        dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
        train_sampling_strategy="group_by_length" if settings.group_by_length else "random",
        **{**precision_arguments(settings.precision), **distributed},  # both may say use_cpu
    )
    options.update(overrides)
    return TrainingArguments(**options)


def train_model(
    model: torch.nn.Module,
    tokenizer,
    method: TrainingMethod,
    train_dataset,
    args: TrainingArguments,
    log_path: str | Path,
    eval_dataset=None,
    compute_metrics: Callable | None = None,
    resume_from: Path | None = None,
    extra_callbacks: tuple = (),
) -> dict[str, Any]:
    """Train in place; return what the run cost (wall time, optimizer steps, tokens, FLOPs, peak memory: compute.py)
    and what the method reports.

    With `resume_from` (a checkpoint written by this set-up) training continues from there: the Trainer restores
    weights, optimizer, scheduler, RNG states and data position, the method its own state, the log its records.
    """
    elapsed_before = 0.0
    if resume_from is not None:
        elapsed_before = restore_method_state(method, model, resume_from)
        if (resume_from / LOG_COPY).is_file():
            shutil.copyfile(resume_from / LOG_COPY, log_path)
    logger = JsonlLogger(log_path, keep_records=resume_from is not None)
    checkpoints = MethodCheckpoints(method, Path(log_path), elapsed_before)
    trainer = MethodTrainer(
        model=model,
        args=args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        data_collator=PadCollator(tokenizer, PAD_MULTIPLE),
        processing_class=tokenizer,
        compute_metrics=compute_metrics,
        callbacks=[logger, checkpoints, *method.callbacks(), *extra_callbacks],
        method=method,
    )
    output = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from is not None else None)
    trainer.accelerator.unwrap_model(trainer.model, keep_fp32_wrapper=False)  # no autocast left for evaluation
    facts = method.finish(trainer.model)
    tokens = int(trainer.state.num_input_tokens_seen)
    return {
        "train_seconds": checkpoints.elapsed(),
        "finished_at": round(time.time(), 3),
        "resumed_from_step": int(resume_from.name.split("-")[-1]) if resume_from is not None else None,
        "optimizer_steps": int(output.global_step),
        "precision": "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32",  # what `auto` became here
        "train_loss": mean_logged_loss(Path(log_path)),
        "train_examples": len(train_dataset),
        **training_facts(method.pass_models(trainer.model), method.pass_tokens(tokens), tokens),
        **facts,
    }
