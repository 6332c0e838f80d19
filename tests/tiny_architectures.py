"""Tiny random-init checkpoints of the architectures a researcher picks, built offline, saved as they ship.

Encoders (RoBERTa, DistilBERT, DeBERTa-v2, ELECTRA) take the real offline WordPiece tokenizer, as tiny_study's
BERTs do. Decoder LMs get what their Hub checkpoints ship: a byte-level BPE tokenizer (trained here on the tiny
study's words) with an end-of-sequence token and **no pad token**, a causal-LM checkpoint (GPT2LMHeadModel,
LlamaForCausalLM) and no pad id in its config; the Llama one pads on the left, as Llama-2's tokenizer does.
"""
from __future__ import annotations

from pathlib import Path

from tiny_study import COLORS, NAMES, NEGATIVE, NOUNS, POSITIVE, TOKENIZER

ENCODERS = ("roberta", "distilbert", "deberta-v2", "electra")
DECODERS = ("gpt2", "llama")
CORPUS = [f"the {noun} of {name} is {word} and {color} ." for noun in NOUNS for name in NAMES
          for word, color in zip(POSITIVE + NEGATIVE, COLORS * 3)] + [f"a {noun} is here ." for noun in NOUNS]


def _bpe_tokenizer(special: list[str]):
    """A byte-level BPE (GPT-2's kind) of about 400 tokens: any text encodes, the study's words are single tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=special, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(CORPUS, trainer)
    return tokenizer


def build_decoder(folder: Path, kind: str, layers: int = 1, seed: int = 0, hidden: int = 32) -> None:
    """A GPT-2 or Llama causal LM with its tokenizer, neither of which names a pad token."""
    import torch
    from tokenizers import processors
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    torch.manual_seed(seed)
    if kind == "gpt2":
        backend = _bpe_tokenizer(["<|endoftext|>"])
        tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<|endoftext|>",
                                            eos_token="<|endoftext|>", unk_token="<|endoftext|>")
        eos = tokenizer.eos_token_id
        model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_embd=hidden, n_layer=layers, n_head=2,
                                           n_positions=128, bos_token_id=eos, eos_token_id=eos))
    elif kind == "llama":
        backend = _bpe_tokenizer(["<s>", "</s>"])
        bos, eos = backend.token_to_id("<s>"), backend.token_to_id("</s>")
        backend.post_processor = processors.TemplateProcessing(
            single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos)])  # Llama-2's template
        tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>",
                                            padding_side="left")
        model = LlamaForCausalLM(LlamaConfig(
            vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
            num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=128, bos_token_id=bos,
            eos_token_id=eos))
    else:
        raise ValueError(f"no tiny decoder of kind {kind!r}")
    assert tokenizer.pad_token is None and model.config.pad_token_id is None  # as the Hub checkpoints ship
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def build_encoder(folder: Path, kind: str, layers: int = 1, seed: int = 0, hidden: int = 32) -> None:
    """A RoBERTa, DistilBERT, DeBERTa-v2 or ELECTRA encoder with the offline WordPiece tokenizer."""
    import torch
    from transformers import (AutoTokenizer, DebertaV2Config, DebertaV2Model, DistilBertConfig, DistilBertModel,
                              ElectraConfig, ElectraModel, RobertaConfig, RobertaModel)

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(str(TOKENIZER))
    shared = dict(vocab_size=tokenizer.vocab_size, pad_token_id=tokenizer.pad_token_id)
    body = dict(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2, intermediate_size=2 * hidden,
                **shared)
    if kind == "roberta":  # positions start after the padding index: two more embeddings than tokens
        model = RobertaModel(RobertaConfig(max_position_embeddings=130, **body))
    elif kind == "distilbert":
        model = DistilBertModel(DistilBertConfig(dim=hidden, n_layers=layers, n_heads=2, hidden_dim=2 * hidden,
                                                 max_position_embeddings=128, **shared))
    elif kind == "deberta-v2":
        model = DebertaV2Model(DebertaV2Config(max_position_embeddings=128, relative_attention=True,
                                               position_buckets=16, pos_att_type=["p2c", "c2p"], **body))
    elif kind == "electra":
        model = ElectraModel(ElectraConfig(embedding_size=hidden, max_position_embeddings=128, **body))
    else:
        raise ValueError(f"no tiny encoder of kind {kind!r}")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def build_architecture(folder: Path, kind: str, layers: int = 1, seed: int = 0) -> None:
    (build_decoder if kind in DECODERS else build_encoder)(folder, kind, layers=layers, seed=seed)
