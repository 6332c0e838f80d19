"""Plain fine-tuning: supervised loss, warm-up then linear decay, the last weights are the model."""
from .base import TrainingMethod


class FineTune(TrainingMethod):
    name = "finetune"
