"""How models read text: decoder LMs' pad token and pair separator, the longest-first cut, pooling at the last
real token with either padding side, the truncation warning, and the planner's reading of tokenizer files."""
import datasets
import pytest
import torch
from transformers import AutoTokenizer

from swa_study.data import count_truncated, tokenize
from swa_study.models import load_for_training
from swa_study.prediction import predict_logits
from swa_study.study.assets import tokenizer_vocabulary
from swa_study.study.tasks import builtin_task
from swa_study.text_inputs import _cut_longest_first, encode_texts, load_tokenizer
from tiny_architectures import DECODERS, ENCODERS, build_architecture
from tiny_study import TOKENIZER

STSB, SST2 = builtin_task("stsb"), builtin_task("sst2")
FIRST = ["the film of anna is good and red .", "a cast is here .", "the"]
SECOND = ["a film is here .", "the story of emma is superb .", "a"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("architectures")
    for kind in (*ENCODERS, *DECODERS):
        build_architecture(root / kind, kind)
    return root


def test_a_decoder_pads_with_its_end_of_sequence_token_unless_the_config_names_another(models):
    gpt2 = load_tokenizer(str(models / "gpt2"))
    assert gpt2.pad_token == gpt2.eos_token == "<|endoftext|>"
    llama = load_tokenizer(str(models / "llama"), pad_token="<s>")
    assert llama.pad_token == "<s>" and llama.pad_token_id == llama.bos_token_id
    assert load_tokenizer(str(models / "roberta"), pad_token="<s>").pad_token == "[PAD]"  # its own one stays
    with pytest.raises(ValueError, match=r"gpt2: models.pad_token '<pad>' is not a token of this tokenizer"):
        load_tokenizer(str(models / "gpt2"), pad_token="<pad>")


def test_a_tokenizer_without_pad_or_end_of_sequence_token_is_one_line_naming_the_key(models, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(str(models / "gpt2"))
    tokenizer.eos_token = tokenizer.bos_token = tokenizer.unk_token = None
    tokenizer.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"no pad token and no end-of-sequence token; set models.pad_token"):
        load_tokenizer(str(tmp_path))


@pytest.mark.parametrize("kind", DECODERS)
def test_a_decoder_pair_is_joined_by_its_end_of_sequence_token(models, kind):
    tokenizer = load_tokenizer(str(models / kind))
    encoded = encode_texts(tokenizer, FIRST, SECOND, max_length=None)
    prefix = [tokenizer.bos_token_id] if kind == "llama" else []  # Llama's <s>, once, as for one sentence
    for ids, first, second in zip(encoded["input_ids"], FIRST, SECOND):
        plain = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in (first, second)]
        assert ids == [*prefix, *plain[0], tokenizer.eos_token_id, *plain[1]]
    assert encoded["attention_mask"] == [[1] * len(ids) for ids in encoded["input_ids"]]


def test_the_decoders_cut_is_the_encoders_longest_first(models):
    """The cut of a decoder pair keeps the same counts as the fast WordPiece tokenizer's own longest_first."""
    tokenizer = AutoTokenizer.from_pretrained(str(TOKENIZER))
    words = "the film of anna is good and red and the cast is dull .".split()
    for a in range(1, 14):
        for b in range(1, 14):
            first, second = " ".join(words[:a]), " ".join(words[:b])
            for budget in (4, 7, 12):
                ids = tokenizer(first, second, truncation="longest_first", max_length=budget + 3)
                kept = sum(ids["token_type_ids"][1:]) - 1, len(ids["input_ids"]) - sum(ids["token_type_ids"][1:]) - 2
                cut = _cut_longest_first(list(range(a)), list(range(b)), budget)
                assert (len(cut[1]), len(cut[0])) == kept, (a, b, budget)


def test_encoder_pairs_are_the_tokenizers_own():
    tokenizer = AutoTokenizer.from_pretrained(str(TOKENIZER))
    assert encode_texts(tokenizer, FIRST, SECOND, 8)["input_ids"] == \
        tokenizer(FIRST, SECOND, truncation=True, max_length=8)["input_ids"]


@pytest.mark.parametrize("kind", DECODERS)
def test_a_decoder_scores_a_padded_batch_as_each_row_alone(models, kind):
    """The head pools at the last real token on either padding side (GPT-2 pads right, this Llama left)."""
    model, tokenizer = load_for_training(str(models / kind), STSB, seed=0)
    assert model.config.pad_token_id == tokenizer.pad_token_id == tokenizer.eos_token_id
    rows = datasets.Dataset.from_dict({"idx": [0, 1, 2], "text_a": FIRST, "text_b": SECOND, "label": [1.0, 2.0, 3.0]})
    encoded = tokenize(rows, tokenizer, STSB, max_length=64)
    batched = predict_logits(model, encoded, tokenizer, batch_size=3)
    alone = [predict_logits(model, encoded.select([i]), tokenizer, batch_size=1) for i in range(3)]
    assert len({len(ids) for ids in encoded["input_ids"]}) == 3  # three lengths: the batch is padded
    torch.testing.assert_close(torch.tensor(batched), torch.tensor(alone).squeeze(1), rtol=1e-4, atol=1e-5)


def test_truncation_of_more_than_a_few_per_cent_of_rows_is_a_warning_naming_the_task(models, capfd):
    tokenizer = load_tokenizer(str(models / "gpt2"))
    rows = datasets.Dataset.from_dict({"idx": list(range(20)), "text_a": ["the film is good ."] * 20,
                                       "text_b": ["a cast is here ."] * 19 + ["a " * 40], "label": [1.0] * 20})
    assert count_truncated(rows, tokenizer, STSB, max_length=16, split_name="train") == 1  # 5 %: no warning
    assert "warning" not in capfd.readouterr().err
    assert count_truncated(rows, tokenizer, STSB, max_length=8, split_name="validation") == 20
    assert "warning: task 'stsb': 20 of 20 validation rows (100%) are longer than max_length 8" in capfd.readouterr().err


@pytest.mark.parametrize("kind", (*ENCODERS, *DECODERS))
def test_the_planner_reads_the_vocabulary_the_tokenizer_loads(models, kind):
    assert tokenizer_vocabulary(str(models / kind)) == AutoTokenizer.from_pretrained(str(models / kind)).get_vocab()


def test_the_planner_reads_the_offline_checkpoints_vocabulary():
    assert tokenizer_vocabulary(str(TOKENIZER)) == AutoTokenizer.from_pretrained(str(TOKENIZER)).get_vocab()
    teacher = TOKENIZER.parent / "all-MiniLM-L6-v2"  # the default study's pair shares one vocabulary
    assert tokenizer_vocabulary(str(teacher)) == tokenizer_vocabulary(str(TOKENIZER))
