"""The interface every training method implements: its loss, its LR schedule, and what happens to the weights.

A method is one small class. The shared Trainer set-up (training.py) calls, in order:
`start(total_steps, steps_per_epoch)` once the step budget is known, `lr_factor(step)` for the scheduler,
`training_step(default_step, ...)` per micro-batch (the Trainer's own step, which SAM runs twice), `compute_loss(model,
batch)` inside it, the Trainer callbacks from `callbacks()`, and `finish(model)` after the last step, which may
replace the weights (SWA loads its average) and returns facts worth recording; `saved_files()` adds tensors to the
saved model folder (SWAG's moments).
Two optional hooks around that, both no-ops for single-phase methods: `setup(...)` loads what a method needs besides
the student (a frozen teacher, a generator), and `train(...)` runs the Trainer once; a multi-phase method (Annealing-KD)
overrides it to run the same Trainer set-up several times.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch
from transformers import TrainerCallback

from ..checkpoints import latest_checkpoint
from ..losses import forward_logits, supervised_loss
from ..metrics import compute_task_metrics, predictions_from_logits
from ..models import load_trained
from ..schedules import warmup_linear_decay
from ..study.tasks import TaskSpec
from ..training import train_model

def frozen_teacher(folder: str | Path, student_tokenizer) -> torch.nn.Module:
    """The trained teacher in eval mode with gradients off, for methods that run it on the student's own batches.

    The student's token ids go straight into the teacher, so both must share one vocabulary (true for the offline
    MiniLM pair and for RoBERTa/DistilRoBERTa); a mismatch would silently feed the teacher garbage, so it is an error.
    """
    teacher, teacher_tokenizer = load_trained(folder)
    if teacher_tokenizer.get_vocab() != student_tokenizer.get_vocab():
        raise ValueError(f"{folder}: the teacher's vocabulary differs from the student's; this method feeds the "
                         "student's token ids to the teacher, so both need the same tokenizer")
    teacher.eval().requires_grad_(False)
    return teacher


def cached_teacher_logits(method: str, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The batch's cached teacher logits; a training batch without them is an error, never a silent switch to CE."""
    if "teacher_logits" not in batch:
        raise ValueError(f"method {method!r}: a training batch carries no teacher logits (the cached "
                         "train_logits.npz was not attached to the training data)")
    return batch["teacher_logits"]


class EpochCounter(TrainerCallback):
    """The 0-based index of the epoch being trained, for losses that change per epoch (Annealing-KD, RAIL-KD).

    Counted from the optimizer steps: the update about to run (`state.global_step` finished ones before it) belongs
    to epoch global_step // the Trainer's updates per epoch (gradient accumulation included: both count optimizer
    steps), which the method learns in `start`. The Trainer's `state.epoch` is no guide: a run resumed mid-epoch
    begins that epoch at the fraction it had reached (2.67 at step 16 of 6 per epoch), which rounds to the next one.
    Each Trainer run (each phase of Annealing-KD) calls `start` again, so the count is the running phase's.
    """

    def __init__(self, method: "TrainingMethod") -> None:
        self.method = method
        self.epoch = 0

    def on_step_begin(self, args, state, control, **kwargs):
        self.epoch = state.global_step // max(1, self.method.steps_per_epoch)


class TrainingMethod:
    """Plain fine-tuning behaviour; subclasses override what they change.

    `params` holds the run's resolved settings: the `student` keys and the method's own keys (config/methods.yaml),
    defaults filled by the study layer. Which task families a method applies to and what it takes from the teacher
    are declared in config/methods.yaml, where the planner reads them; the DAG passes the teacher's files only to
    the methods that need them.
    """

    name: ClassVar[str] = ""

    def __init__(self, task: TaskSpec, params: dict[str, Any]):
        self.task = task
        self.params = dict(params)
        self.warmup_ratio = float(params.get("warmup_ratio", 0.06))
        self.total_steps = 0
        self.steps_per_epoch = 0
        self.warmup_steps = 0
        self.teacher: torch.nn.Module | None = None
        self.step_offset = 0  # steps of earlier phases, for callbacks that number steps across phases

    def setup(self, *, tokenizer, seed: int, student_path: str, teacher_path: str | None = None,
              mirror: str | None = None) -> None:
        """Load what the method needs besides the student: the frozen teacher, when the DAG hands one over."""
        if teacher_path is not None:
            self.teacher = frozen_teacher(teacher_path, tokenizer)

    def require_teacher(self) -> torch.nn.Module:
        if self.teacher is None:
            raise ValueError(f"method {self.name!r} runs the trained teacher during training, but none was given")
        return self.teacher

    def train(self, model: torch.nn.Module, tokenizer, train_dataset, args, log_path: str | Path,
              heldout_dataset=None, job_callbacks: tuple = ()) -> dict[str, Any]:
        """Train in place with one run of the shared Trainer set-up and return its compute facts.

        `args.output_dir` holds the run's checkpoints: training resumes from the newest trustworthy one.
        `heldout_dataset` (the held-out slice of the training split) is offered to every method; single-phase ones
        ignore it. Annealing-KD picks its phase-1 checkpoint on it. The reported dev split never reaches training.
        `job_callbacks` are the job's own Trainer callbacks (live MLflow logging), added to every Trainer run.
        With `heldout_curve` (args.eval_strategy "epoch") the held-out rows are scored after every epoch, on the
        live weights, into the training log (`heldout_<metric>`): the learning curve that shows whether the budget
        reaches a plateau. Scoring runs without dropout and draws no random numbers, so training is unchanged.
        """
        curve = heldout_dataset if args.eval_strategy != "no" and heldout_dataset is not None else None
        return train_model(model, tokenizer, self, train_dataset, args, log_path, eval_dataset=curve,
                           compute_metrics=self.heldout_metrics if curve is not None else None,
                           resume_from=latest_checkpoint(args.output_dir), extra_callbacks=job_callbacks)

    def heldout_metrics(self, prediction) -> dict[str, float]:
        """The task's metrics on the held-out training rows, from the Trainer's evaluation of them."""
        return compute_task_metrics(self.task, predictions_from_logits(self.task, prediction.predictions),
                                    prediction.label_ids)

    def state_dict(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """The method's own state beyond the Trainer's (tensors, and JSON-able facts), saved with each checkpoint."""
        return {}, {}

    def load_state_dict(self, model: torch.nn.Module, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        """Restore what `state_dict` saved, before training resumes from that checkpoint."""

    def start(self, total_steps: int, steps_per_epoch: int) -> None:
        self.total_steps = total_steps
        self.steps_per_epoch = steps_per_epoch
        self.warmup_steps = int(round(self.warmup_ratio * total_steps))

    def lr_factor(self, step: int) -> float:
        return warmup_linear_decay(step, self.total_steps, self.warmup_steps)

    def compute_loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return supervised_loss(self.task, forward_logits(model, batch), batch["labels"])

    def training_step(self, default_step, model: torch.nn.Module, inputs: dict[str, Any],
                      num_items_in_batch=None) -> torch.Tensor:
        """One micro-batch: `default_step` is the Trainer's (forward with `compute_loss`, backward, gradient
        accumulation scaling); a method that needs more passes per batch (SAM) calls it more than once."""
        return default_step(model, inputs, num_items_in_batch)

    def pass_models(self, model: torch.nn.Module) -> dict[str, torch.nn.Module]:
        """The models the run pushes tokens through, by role (compute.MODELS): the student, and the teacher when the
        method holds one."""
        return {"student": model, **({"teacher": self.teacher} if self.teacher is not None else {})}

    def pass_tokens(self, tokens: int) -> dict[str, dict[str, int]]:
        """The real tokens of every pass the run made, {model role: {pass kind: tokens}} (compute.PASS_FLOPS), given
        the `tokens` of the student's training batches (the Trainer's count, summed over data-parallel ranks):
        one forward and one backward pass of the student per batch, plus what a method adds (it overrides this)."""
        return {"student": {"forward": tokens, "backward": tokens}}

    def saved_files(self) -> dict[str, dict[str, torch.Tensor]]:
        """Tensors to save beside the weights in the model folder, {file name: {key: tensor}} (SWAG's moments)."""
        return {}

    def callbacks(self) -> list[TrainerCallback]:
        return []

    def finish(self, model: torch.nn.Module) -> dict[str, Any]:
        return {}
