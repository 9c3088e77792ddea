"""A byte-level BPE tokenizer trained offline with ``tokenizers`` on any corpus (recipe: environment.md section 3).

Used for models trained from scratch: the built-in world's (:mod:`obliviate.world.tokenizer` supplies its corpus)
and ``obliviate finetune --fresh`` on one's own data.
"""

from __future__ import annotations

from collections.abc import Iterable

EOS = "<|endoftext|>"
PAD = "<pad>"


def train_bpe_tokenizer(texts: Iterable[str], vocab_size: int, min_frequency: int = 2):
    """A byte-level BPE ``PreTrainedTokenizerFast`` trained on ``texts``.

    ``<|endoftext|>`` is bos/eos/unk (id 0) and ``<pad>`` the pad token (id 1). Decoding round-trips any Unicode.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[EOS, PAD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    # Built from the in-memory object: transformers v5 silently builds an empty tokenizer from vocab/merges files.
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=EOS, eos_token=EOS, unk_token=EOS, pad_token=PAD)
