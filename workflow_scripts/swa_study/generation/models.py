"""Seq2seq model construction and batched generation.

Two kinds of checkpoints are supported by :func:`build_seq2seq`:

* native encoder-decoder checkpoints (T5, BART, or a saved ``EncoderDecoderModel``),
  loaded as they are;
* encoder-only BERT-style checkpoints, warm-started into a BERT2BERT model
  (Rothe, Narayan & Severyn, 2020, "Leveraging Pre-trained Checkpoints for Sequence
  Generation Tasks"), because no seq2seq checkpoint is available offline.

BERT2BERT as in the paper: encoder and decoder are both initialised from the BERT
checkpoint; the decoder gets causal self-attention (``is_decoder=True``) and new,
randomly initialised cross-attention layers (the only random weights besides the LM
head's bias/transform when the checkpoint has no MLM head). Weight sharing follows the
paper's BERT2BERT (not BERTSHARE): the transformer layers of encoder and decoder are
separate, while one word-embedding matrix serves encoder input, decoder input and the
decoder's output projection. The paper's 221M parameters for BERT2BERT-base only add
up with one shared embedding matrix (separate ones would give ~247M), and BERT itself
ties its MLM output layer to the input embeddings.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from transformers import (
    AutoConfig,
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    EncoderDecoderModel,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

logger = logging.getLogger(__name__)


class SharedEmbeddingEncoderDecoderModel(EncoderDecoderModel):
    """``EncoderDecoderModel`` whose encoder and decoder may share one embedding matrix.

    transformers only knows how to save ties it declares itself (here: decoder LM head
    to decoder input embeddings); a tie added at run time between encoder and decoder
    makes ``save_pretrained`` refuse to write. This subclass saves the shared matrix
    under both names instead, so the checkpoint loads with any ``EncoderDecoderModel``;
    :func:`build_seq2seq` re-shares it on load because both copies are equal.
    """

    def save_pretrained(self, save_directory: Any, *args: Any, state_dict: dict | None = None, **kwargs: Any) -> Any:
        """Save like the parent, storing a runtime-shared embedding as separate copies."""
        if state_dict is None:
            state_dict = self.state_dict()
        shared = self.encoder.get_input_embeddings().weight
        declared = set(getattr(self, "all_tied_weights_keys", {}) or {})
        state_dict = {
            name: tensor.clone()
            if (
                tensor.data_ptr() == shared.data_ptr()
                and not name.startswith("encoder.")
                and name not in declared
            )
            else tensor
            for name, tensor in state_dict.items()
        }
        return super().save_pretrained(save_directory, *args, state_dict=state_dict, **kwargs)


def _share_encoder_decoder_embeddings(model: EncoderDecoderModel) -> bool:
    """Make the decoder use the encoder's word embeddings if both hold the same values.

    Sharing is only done when the two matrices are equal (same checkpoint, or a saved
    BERT2BERT), so it never silently discards pretrained decoder embeddings from a
    different checkpoint. Returns whether the embeddings are now shared.
    """
    encoder_embeddings = model.encoder.get_input_embeddings()
    decoder_embeddings = model.decoder.get_input_embeddings()
    if encoder_embeddings is decoder_embeddings:
        return True
    if encoder_embeddings.weight.shape != decoder_embeddings.weight.shape or not torch.equal(
        encoder_embeddings.weight, decoder_embeddings.weight
    ):
        logger.warning("Encoder and decoder word embeddings differ; they are left unshared.")
        return False
    model.decoder.set_input_embeddings(encoder_embeddings)
    model.tie_weights()  # re-point the decoder LM head at the (now shared) input embeddings
    return True


def _configure_special_tokens(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
    """Set start/pad/eos ids and vocab size where ``generate`` and the loss look for them.

    Warm-started models start with none of these: the decoder starts from ``[CLS]``
    and stops at ``[SEP]`` (BERT's sequence delimiters), falling back to bos/eos for
    tokenizers without them. ``EncoderDecoderModel`` needs ``decoder_start_token_id``
    and ``pad_token_id`` to shift labels into decoder inputs, and ``generate`` reads the
    generation config, so both configs are written.
    """
    config = model.config
    start = config.decoder_start_token_id
    if start is None:
        start = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
    eos = getattr(config, "eos_token_id", None)
    if eos is None:
        eos = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
    pad = config.pad_token_id if config.pad_token_id is not None else tokenizer.pad_token_id
    if start is None or eos is None or pad is None:
        raise ValueError(f"Tokenizer lacks start/eos/pad tokens (start={start}, eos={eos}, pad={pad})")
    config.decoder_start_token_id = start
    config.eos_token_id = eos
    config.pad_token_id = pad
    if getattr(config, "decoder", None) is not None:
        config.vocab_size = config.decoder.vocab_size
    generation_config = model.generation_config
    generation_config.decoder_start_token_id = start
    generation_config.eos_token_id = eos
    generation_config.pad_token_id = pad


def build_seq2seq(
    model_name_or_path: str,
    decoder_name_or_path: str | None = None,
    trust_remote_code: bool = False,
    *,
    share_embeddings: bool = True,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Return ``(model, tokenizer)`` ready for ``model(**batch, labels=...)`` and ``generate``.

    Args:
        model_name_or_path: a seq2seq checkpoint (T5/BART/saved ``EncoderDecoderModel``,
            with its tokenizer), or an encoder-only checkpoint to warm-start from.
        decoder_name_or_path: checkpoint for the warm-started decoder; defaults to
            ``model_name_or_path`` (BERT2BERT). It must share the encoder's vocabulary,
            since one tokenizer (the encoder's) is used for inputs and outputs.
        trust_remote_code: passed to the Auto* loaders.
        share_embeddings: share encoder/decoder word embeddings as in BERT2BERT (only
            applied when both start equal; see :func:`_share_encoder_decoder_embeddings`).
    """
    config = AutoConfig.from_pretrained(model_name_or_path, trust_remote_code=trust_remote_code)
    tokenizer = AutoTokenizer.from_pretrained(model_name_or_path, trust_remote_code=trust_remote_code)
    if getattr(config, "is_encoder_decoder", False):
        if decoder_name_or_path is not None:
            raise ValueError(f"decoder_name_or_path given for a seq2seq checkpoint: {model_name_or_path}")
        if config.model_type == "encoder-decoder":
            model = SharedEmbeddingEncoderDecoderModel.from_pretrained(model_name_or_path)
            if share_embeddings:
                _share_encoder_decoder_embeddings(model)
        else:
            model = AutoModelForSeq2SeqLM.from_pretrained(model_name_or_path, trust_remote_code=trust_remote_code)
        _configure_special_tokens(model, tokenizer)
        return model, tokenizer

    decoder_path = decoder_name_or_path or model_name_or_path
    decoder_config = AutoConfig.from_pretrained(decoder_path, trust_remote_code=trust_remote_code)
    if decoder_config.vocab_size != config.vocab_size:
        raise ValueError(
            f"Decoder vocabulary ({decoder_config.vocab_size}) differs from encoder's ({config.vocab_size}): {decoder_path}"
        )
    # LM head = decoder input embeddings. The encoder keeps BERT's pooler even though
    # seq2seq never uses it: a saved EncoderDecoderModel rebuilds its encoder from the
    # config, which cannot express "no pooler", so dropping it would break round trips.
    kwargs: dict[str, Any] = {"decoder_tie_word_embeddings": True}
    if trust_remote_code:  # only when the config asks for it
        kwargs.update(encoder_trust_remote_code=trust_remote_code, decoder_trust_remote_code=trust_remote_code)
    model = SharedEmbeddingEncoderDecoderModel.from_encoder_decoder_pretrained(
        model_name_or_path, decoder_path, **kwargs
    )
    if share_embeddings:
        _share_encoder_decoder_embeddings(model)
    _configure_special_tokens(model, tokenizer)
    return model, tokenizer


def generate_texts(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    sources: list[str],
    num_beams: int,
    max_new_tokens: int,
    batch_size: int,
    *,
    max_source_length: int | None = None,
) -> list[str]:
    """Generate one output string per source, in input order, with beam search.

    Decoding is deterministic (no sampling) so evaluation numbers are reproducible.
    Only ``input_ids``/``attention_mask`` reach ``generate``: BERT tokenizers also emit
    ``token_type_ids``, which ``EncoderDecoderModel`` would try to route elsewhere.
    The model's train/eval mode is restored afterwards, so this can be called from
    inside a training loop.
    """
    if num_beams < 1 or max_new_tokens < 1 or batch_size < 1:
        raise ValueError(f"num_beams, max_new_tokens, batch_size must be >= 1, got {num_beams}, {max_new_tokens}, {batch_size}")
    was_training = model.training
    model.eval()
    outputs: list[str] = []
    try:
        with torch.inference_mode():
            for start in range(0, len(sources), batch_size):
                encoded = tokenizer(
                    sources[start : start + batch_size],
                    padding=True,
                    truncation=max_source_length is not None,
                    max_length=max_source_length,
                    return_tensors="pt",
                )
                generated = model.generate(
                    input_ids=encoded["input_ids"].to(model.device),
                    attention_mask=encoded["attention_mask"].to(model.device),
                    num_beams=num_beams,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                )
                outputs.extend(text.strip() for text in tokenizer.batch_decode(generated, skip_special_tokens=True))
    finally:
        model.train(was_training)
    return outputs
