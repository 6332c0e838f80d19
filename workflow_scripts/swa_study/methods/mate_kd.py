"""MATE-KD (Rashid et al., ACL 2021): distillation on text perturbed by an adversarial masked-LM generator.

The generator masks a fraction p of the real tokens (not [CLS]/[SEP]/padding) and fills them by straight-through
Gumbel-softmax: a hard one-hot token forward, the softmax's gradient backward. One-hot rows times each model's own
input-embedding matrix give the perturbed inputs (`inputs_embeds`), so the teacher and student see the same text.
Training alternates n_G generator steps (Adam; lr 1e-3 and n_S 20 by default, not the paper's 5e-7 and 100, which
suit a pre-trained generator and long training: config/methods.yaml) that maximise D(z_t(x~), z_s(x~)) with n_S
student steps on 1/3 CE(y, z_s(x)) + 1/3 D(z_s(x~), z_t(x~)) + 1/3 D(z_s(x), z_t(x)); D is KL(teacher ||
student) at T = 1, MSE for regression (`kd.kd_loss`'s soft term). The teacher runs on every perturbed batch (nothing
to cache); z_t(x) of the clean input is the cached logits. The student steps are the Trainer's optimizer steps (the
same budget as fine-tuning); generator steps come on top and are counted in `generator_steps` / `generator_seconds`,
their passes in the FLOPs (`pass_tokens`). Each round records whether the generator learned (`generator_round`).

Generator: config `generator` (a model name or folder); null = `AutoModelForMaskedLM` on the student checkpoint, i.e.
its own MLM head. A BERT checkpoint saved without MLM weights (paraphrase-MiniLM-L3-v2, the tiny test models) gets a
freshly initialised, untrained head: the generator then starts from noise, and `generator_untrained_weights` in
train_info.json says how many tensors were new. The generator runs without dropout: its randomness is the masking
and the Gumbel noise, drawn from its own seeded generator so runs repeat exactly.
Student steps feed the sampled token ids instead of one-hot embeddings: a hard one-hot row times the embedding
matrix is that token's embedding, so the forward pass and the student's gradient are identical, at a fraction of the
cost of a (masked tokens x vocabulary) x (vocabulary x hidden) product. Generator steps need the one-hot path.
"""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch
import torch.nn.functional as F
from transformers import AutoModelForMaskedLM, AutoTokenizer, TrainerCallback

from ..study.assets import mirror_root, resolve_model
from ..losses import forward_logits, supervised_loss
from ..prediction import PadCollator
from .base import TrainingMethod, cached_teacher_logits
from .kd import kd_loss


@dataclass
class Draw:
    """The randomness of one perturbation: the masked positions (B, L) and the Gumbel noise at them (M, V)."""

    mask: torch.Tensor
    noise: torch.Tensor


def straight_through(logits: torch.Tensor, noise: torch.Tensor, tau: float) -> torch.Tensor:
    """Hard one-hot samples forward, the Gumbel-softmax gradient backward."""
    soft = F.softmax((logits + noise) / tau, dim=-1)
    hard = F.one_hot(soft.argmax(-1), soft.shape[-1]).to(soft.dtype)
    return hard - soft.detach() + soft


def embed_with(model: torch.nn.Module, input_ids: torch.Tensor, mask: torch.Tensor,
               onehots: torch.Tensor) -> torch.Tensor:
    """The model's input embeddings of `input_ids`, with the masked positions replaced by one-hot rows x its matrix."""
    table = model.get_input_embeddings()
    return table(input_ids).masked_scatter(mask.unsqueeze(-1), onehots @ table.weight)


class GeneratorRounds(TrainerCallback):
    """Runs the n_G generator steps before student steps 0, n_S, 2 n_S, ... (`state.global_step` counts them)."""

    def __init__(self, method: "MateKD"):
        self.method = method

    def on_step_begin(self, args, state, control, model=None, **kwargs):
        if state.global_step % int(self.method.params["student_steps"]) == 0:
            self.method.generator_round(model)


class MateKD(TrainingMethod):
    name = "mate_kd"  # cached teacher logits for the clean input; the teacher itself scores every perturbed batch

    def __init__(self, task, params: dict[str, Any]):
        super().__init__(task, params)
        self.generator: torch.nn.Module | None = None
        self.generator_steps = 0
        self.generator_rounds = 0
        self.generator_seconds = 0.0
        self.generator_tokens = {"forward": 0, "backward": 0}  # real tokens of the generator steps' batches
        self.rounds: dict[str, dict[str, float]] = {}  # the first and the latest round's record (generator_round)
        self.batches: Iterator[dict[str, torch.Tensor]] | None = None

    def setup(self, *, tokenizer, seed: int, student_path: str, teacher_path: str | None = None,
              mirror: str | None = None) -> None:
        """The frozen teacher (base class), then the generator, its optimizer and its random stream."""
        super().setup(tokenizer=tokenizer, seed=seed, student_path=student_path, teacher_path=teacher_path,
                      mirror=mirror)
        self.require_teacher()
        name = self.params["generator"]
        self.generator_source = (resolve_model(name, mirror_root(mirror), "method_params.mate_kd.generator")
                                 if name else student_path)
        if name and AutoTokenizer.from_pretrained(self.generator_source).get_vocab() != tokenizer.get_vocab():
            raise ValueError(f"mate_kd: generator {name!r} has another vocabulary than the student")
        with torch.random.fork_rng():  # a missing MLM head is initialised from the run's seed alone
            torch.manual_seed(seed)
            self.generator, info = AutoModelForMaskedLM.from_pretrained(
                self.generator_source, use_safetensors=True, output_loading_info=True)
        self.untrained_weights = len(info["missing_keys"])
        self.generator.eval()
        self.optimizer = torch.optim.Adam(self.generator.parameters(), lr=float(self.params["generator_lr"]))
        self.rng = torch.Generator().manual_seed(seed)
        if tokenizer.mask_token_id is None:
            raise ValueError("mate_kd: the student's tokenizer has no mask token for the generator")
        self.mask_token_id = tokenizer.mask_token_id
        self.special_ids = torch.tensor(sorted(tokenizer.all_special_ids))

    def draw(self, batch: dict[str, torch.Tensor]) -> Draw:
        """Mask each real token with probability p; Gumbel(0, 1) noise per masked position and vocabulary entry."""
        ids = batch["input_ids"]
        eligible = batch["attention_mask"].bool() & ~torch.isin(ids, self.special_ids.to(ids.device))
        mask = eligible & (torch.rand(ids.shape, generator=self.rng) < float(self.params["mask_prob"])).to(ids.device)
        vocab = self.generator.get_output_embeddings().weight.shape[0]
        uniform = torch.rand((int(mask.sum()), vocab), generator=self.rng).clamp(1e-10, 1 - 1e-7)
        return Draw(mask=mask, noise=-torch.log(-torch.log(uniform)).to(ids.device))

    def generator_logits(self, batch: dict[str, torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
        """The generator's vocabulary logits at the masked positions only (M, V): the MLM head runs on those rows
        alone for BERT (`cls`) and RoBERTa (`lm_head`), other models pay for every position."""
        extra = {k: batch[k] for k in ("attention_mask", "token_type_ids") if k in batch}
        masked = batch["input_ids"].masked_fill(mask, self.mask_token_id)
        head = getattr(self.generator, "cls", getattr(self.generator, "lm_head", None))
        if not isinstance(head, torch.nn.Module):
            return self.generator(input_ids=masked, **extra).logits[mask]
        return head(self.generator.base_model(input_ids=masked, **extra).last_hidden_state[mask])

    def divergence(self, student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """D = KL(teacher || student) at T = 1, or MSE for regression: kd_loss with alpha = 1 is exactly that."""
        return kd_loss(student, teacher, labels, alpha=1.0, temperature=1.0, regression=self.task.is_regression)

    def generator_divergence(self, student: torch.nn.Module, batch: dict[str, torch.Tensor],
                             draw: Draw) -> torch.Tensor:
        """D(z_s(x~), z_t(x~)) as a differentiable function of the generator: the quantity its steps maximise."""
        logits = self.generator_logits(batch, draw.mask)
        onehots = straight_through(logits, draw.noise, float(self.params["gumbel_tau"]))
        extra = {k: batch[k] for k in ("attention_mask", "token_type_ids") if k in batch}
        ids = batch["input_ids"]
        z_s = student(inputs_embeds=embed_with(student, ids, draw.mask, onehots), **extra).logits
        z_t = self.teacher(inputs_embeds=embed_with(self.teacher, ids, draw.mask, onehots), **extra).logits
        return self.divergence(z_s, z_t, batch["labels"])

    def generator_step(self, student: torch.nn.Module, batch: dict[str, torch.Tensor],
                       draw: Draw | None = None) -> float:
        """One Adam step of the generator up the divergence; gradients reach the generator only, never the student."""
        draw = draw if draw is not None else self.draw(batch)
        value = self.generator_divergence(student, batch, draw)
        tokens = int(batch["attention_mask"].sum())
        self.generator_tokens["forward"] += tokens
        params = [p for p in self.generator.parameters() if p.requires_grad]
        if draw.mask.any():
            grads = torch.autograd.grad(-value, params, allow_unused=True)
            for param, grad in zip(params, grads):
                param.grad = grad
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            self.generator_tokens["backward"] += tokens
        self.generator_steps += 1
        return float(value.detach())

    def generator_round(self, student: torch.nn.Module) -> None:
        """n_G generator steps, each on the next batch of the generator's own stream, then the round's record: the
        mean divergence its steps started from, and its gain, D on the round's first batch and draw after the round
        minus before it (the student is fixed during a round, so the gain is the generator's own progress; batches
        differ too much for step-to-step values to show it). One forward pass on top.

        The student runs without dropout here, whatever mode the Trainer left it in (eval before the first step and
        after a resume, train between steps): the round is then the same in a resumed run, and it draws nothing
        from the global random stream that the student's own steps use."""
        started = time.perf_counter()
        device = next(student.parameters()).device
        values, first, training = [], None, student.training
        student.eval()
        try:
            for _ in range(int(self.params["generator_steps"])):
                batch = {k: v.to(device) for k, v in next(self.batches).items()}
                draw = self.draw(batch)
                first = first or (batch, draw)
                values.append(self.generator_step(student, batch, draw))
            with torch.no_grad():
                after = float(self.generator_divergence(student, *first))
            self.generator_tokens["forward"] += int(first[0]["attention_mask"].sum())
        finally:
            student.train(training)
        record = {"mean": sum(values) / len(values), "gain": after - values[0]}
        if self.generator_rounds == 0:
            self.rounds["first"] = record
        self.rounds["last"] = record
        self.generator_rounds += 1
        self.generator_seconds += time.perf_counter() - started

    def student_loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor], draw: Draw) -> torch.Tensor:
        """1/3 CE(y, z_s(x)) + 1/3 D(z_s(x~), z_t(x~)) + 1/3 D(z_s(x), z_t(x)), x~ sampled by the current generator."""
        extra = {k: batch[k] for k in ("attention_mask", "token_type_ids") if k in batch}
        with torch.no_grad():
            logits = self.generator_logits(batch, draw.mask)
            tokens = ((logits + draw.noise) / float(self.params["gumbel_tau"])).argmax(-1)
            perturbed = batch["input_ids"].masked_scatter(draw.mask, tokens)
            z_t_perturbed = self.teacher(input_ids=perturbed, **extra).logits
            z_t = cached_teacher_logits(self.name, batch)
        z_s = forward_logits(model, batch)
        z_s_perturbed = model(input_ids=perturbed, **extra).logits
        labels = batch["labels"]
        return (supervised_loss(self.task, z_s, labels) + self.divergence(z_s_perturbed, z_t_perturbed, labels)
                + self.divergence(z_s, z_t, labels)) / 3

    def compute_loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if not model.training:  # evaluation: the task loss only
            return supervised_loss(self.task, forward_logits(model, batch), batch["labels"])
        return self.student_loss(model, batch, self.draw(batch))

    def train(self, model: torch.nn.Module, tokenizer, train_dataset, args, log_path: str | Path,
              heldout_dataset=None, job_callbacks: tuple = ()) -> dict[str, Any]:
        """The generator's own shuffled stream of training batches, then the one Trainer run of the base class."""
        vocab = self.generator.get_output_embeddings().weight.shape[0]
        sizes = {model.get_input_embeddings().num_embeddings, self.teacher.get_input_embeddings().num_embeddings}
        if sizes != {vocab}:
            raise ValueError(f"mate_kd: generator vocabulary {vocab} != embedding rows {sorted(sizes)}")
        device = next(model.parameters()).device
        self.teacher.to(device)
        self.generator.to(device)
        loader = torch.utils.data.DataLoader(
            train_dataset, batch_size=args.per_device_train_batch_size, shuffle=True,
            generator=torch.Generator().manual_seed(args.seed + 1), collate_fn=PadCollator(tokenizer))
        self.batches = itertools.chain.from_iterable(itertools.repeat(loader))
        return super().train(model, tokenizer, train_dataset, args, log_path, heldout_dataset, job_callbacks)

    def callbacks(self) -> list[TrainerCallback]:
        return [GeneratorRounds(self)]

    def pass_models(self, model: torch.nn.Module) -> dict[str, torch.nn.Module]:
        return {**super().pass_models(model), "generator": self.generator}

    def pass_tokens(self, tokens: int) -> dict[str, dict[str, int]]:
        """Per student batch: the student's clean and perturbed passes (forward and backward each), the teacher's
        forward on the perturbed input, the generator's sampling forward. Per generator step: the generator's
        forward and backward, the student's and the teacher's forward and the backward through them to their
        inputs (no weight gradients: the teacher is frozen and the student is not updated there)."""
        forward, backward = self.generator_tokens["forward"], self.generator_tokens["backward"]
        return {"student": {"forward": 2 * tokens + forward, "backward": 2 * tokens, "input_backward": backward},
                "teacher": {"forward": tokens + forward, "input_backward": backward},
                "generator": {"forward": tokens + forward, "backward": backward}}

    def state_dict(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """The generator, its Adam state, its random stream and how far its batch stream has gone."""
        tensors = {f"generator.{k}": v.clone() for k, v in self.generator.state_dict().items()}
        optimizer = self.optimizer.state_dict()
        for index, values in optimizer["state"].items():
            tensors.update({f"adam.{index}.{k}": torch.as_tensor(v).clone() for k, v in values.items()})
        tensors["rng"] = self.rng.get_state()
        meta = {"generator_steps": self.generator_steps, "generator_rounds": self.generator_rounds,
                "generator_seconds": self.generator_seconds, "adam_param_groups": optimizer["param_groups"],
                "generator_tokens": dict(self.generator_tokens), "rounds": self.rounds}
        return tensors, meta

    def load_state_dict(self, model: torch.nn.Module, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        self.generator.load_state_dict({k.removeprefix("generator."): v for k, v in tensors.items()
                                        if k.startswith("generator.")})
        state: dict[int, dict[str, torch.Tensor]] = {}
        for key, value in tensors.items():
            if key.startswith("adam."):
                _, index, name = key.split(".", 2)
                state.setdefault(int(index), {})[name] = value
        self.optimizer.load_state_dict({"state": state, "param_groups": meta["adam_param_groups"]})
        self.rng.set_state(tensors["rng"])
        self.generator_steps, self.generator_rounds = meta["generator_steps"], meta["generator_rounds"]
        self.generator_seconds = meta["generator_seconds"]
        self.generator_tokens = dict(meta["generator_tokens"])
        self.rounds = {k: dict(v) for k, v in meta["rounds"].items()}
        for _ in range(self.generator_steps):  # the generator's batch stream continues where it stopped
            next(self.batches)

    def finish(self, model: torch.nn.Module) -> dict[str, Any]:
        """Counts, and whether the generator learned: its objective D averaged over the first and the last round's
        steps, and each of those rounds' gain (`generator_round`)."""
        rounds = {f"generator_{stat}_{which}_round": self.rounds[which][key] if which in self.rounds else None
                  for which in ("first", "last") for stat, key in (("divergence", "mean"), ("gain", "gain"))}
        return {"generator_steps": self.generator_steps, "generator_rounds": self.generator_rounds,
                "generator_seconds": self.generator_seconds, "generator": str(self.generator_source),
                "generator_untrained_weights": self.untrained_weights, **rounds}
