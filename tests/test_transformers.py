"""Hugging Face Trainer + DVICallback on a small randomly initialised BERT (built from a config, no downloads)."""

import json
import os

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")
pytest.importorskip("accelerate")

from tensorboard_dvi import storage  # noqa: E402
from tensorboard_dvi.border import MARGIN, normalised_margin  # noqa: E402

TOPICS = {0: "goal match team score win player", 1: "stock market price bank trade fund",
          2: "rain storm sun cloud wind snow"}
FILLER = "the a of and to in is it this that".split()


def make_texts(n, seed=0):
    """Generated sentences: topic words mixed with filler; the label is the topic."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(n):
        label = i % 3
        words = list(rng.choice(TOPICS[label].split(), size=rng.integers(2, 5))) + \
            list(rng.choice(FILLER, size=rng.integers(2, 6)))
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(label)
    return texts, labels


def make_tokenizer(words=None):
    """A word-level fast tokenizer built in memory (no files, no downloads)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    words = sorted(set(words or ()) | {w for t in TOPICS.values() for w in t.split()} | set(FILLER))
    vocab = {tok: i for i, tok in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + words)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]",
                                                cls_token="[CLS]", sep_token="[SEP]")


def tiny_bert(vocab_size, num_labels=3):
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=vocab_size, hidden_size=16, num_hidden_layers=1,
                                     num_attention_heads=2, intermediate_size=32, max_position_embeddings=32,
                                     num_labels=num_labels)
    return transformers.BertForSequenceClassification(config)


class Encoded(torch.utils.data.Dataset):
    def __init__(self, enc, labels):
        self.enc, self.labels = enc, torch.tensor(labels)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return {**{k: v[i] for k, v in self.enc.items()}, "labels": self.labels[i]}


def test_trainer_callback_logs_each_epoch(tmp_path):
    from tensorboard_dvi.integrations.transformers import DVICallback
    texts, labels = make_texts(96)
    tokenizer = make_tokenizer()
    enc = tokenizer(texts, padding="max_length", max_length=12, truncation=True, return_tensors="pt")
    model = tiny_bert(len(tokenizer))
    cb = DVICallback(enc, labels, texts=texts, class_names=["sport", "finance", "weather"], border_points=12,
                     metadata={"length": [len(t.split()) for t in texts]})
    args = transformers.TrainingArguments(output_dir=str(tmp_path / "out"), num_train_epochs=3,
                                          per_device_train_batch_size=16, learning_rate=5e-3, report_to=[],
                                          use_cpu=True, save_strategy="no", logging_strategy="no",
                                          disable_tqdm=True, seed=0)
    trainer = transformers.Trainer(model=model, args=args, train_dataset=Encoded(enc, labels), callbacks=[cb])
    trainer.train()
    run = str(tmp_path / "out" / "dvi")
    r = storage.RunReader(run)
    assert r.epochs() == [1, 2, 3]
    assert r.meta["border_space"] == "embedding:bert.embeddings.word_embeddings"
    assert cb.writer.head is model.classifier
    e = r.epoch(3)
    model.eval()
    with torch.no_grad():
        out = model(**{k: v for k, v in enc.items()})
    np.testing.assert_allclose(e.logits, out.logits.numpy(), atol=1e-4)
    assert e.representations.shape == (96, 16)
    assert e.info["train_accuracy"] > 0.6  # it learnt something, so border points exist between classes
    assert len(e.border) >= 6
    with torch.no_grad():
        assert float(normalised_margin(e.head_module()(torch.from_numpy(e.border))).max()) < MARGIN
    with open(os.path.join(storage.plugin_dir(run), "static", "texts.json")) as f:
        assert json.load(f) == texts


def test_roberta_classification_head_falls_back_to_out_proj(tmp_path):
    """RoBERTa's classifier is a custom module (dense, tanh, out_proj on the first token): the
    callback's default leaves the guess to the writer, which takes the last Linear called."""
    from tensorboard_dvi.integrations.transformers import DVICallback, _default_head
    texts, labels = make_texts(30)
    tokenizer = make_tokenizer()
    enc = tokenizer(texts, padding="max_length", max_length=12, return_tensors="pt")
    torch.manual_seed(0)
    config = transformers.RobertaConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1,
                                        num_attention_heads=2, intermediate_size=32, max_position_embeddings=40,
                                        num_labels=3, pad_token_id=0)
    model = transformers.RobertaForSequenceClassification(config)
    assert _default_head(model) is None
    cb = DVICallback(enc, labels, logdir=str(tmp_path / "run"), border_points=0)
    state = transformers.TrainerState(epoch=1.0, global_step=4, is_world_process_zero=False)
    cb.on_epoch_end(None, state, None, model=model)
    assert cb.writer is None and not (tmp_path / "run").exists()  # only the main process writes
    state.is_world_process_zero = True
    cb.on_epoch_end(None, state, None, model=model)
    assert cb.writer.head is model.classifier.out_proj
    e = storage.RunReader(str(tmp_path / "run")).epoch(1)
    model.eval()
    with torch.no_grad():
        np.testing.assert_allclose(e.logits, model(**enc).logits.numpy(), atol=1e-5)
    assert e.info["step"] == 4
