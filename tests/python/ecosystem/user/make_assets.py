"""Makes what a researcher brings: a small word-level tokenizer trained on generated text (vocab 512 with
[PAD] [BOS] [EOS] [UNK]) and a data set of rows of different lengths (rows.jsonl, one {"text": ...} a line)."""
import json
import random
import sys
from pathlib import Path

from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

VOCAB = 512
SPECIALS = ["[PAD]", "[BOS]", "[EOS]", "[UNK]"]


def words(rng, count):
    syllables = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
    found = set()
    while len(found) < count:
        found.add("".join(rng.choice(syllables) for _ in range(rng.randint(1, 3))))
    return sorted(found)


def main(out):
    rng = random.Random(0)
    vocabulary = words(rng, VOCAB - len(SPECIALS))
    # Every word appears, so training keeps all of them: the vocab is exactly VOCAB.
    corpus = [" ".join(vocabulary[i:i + 12]) for i in range(0, len(vocabulary), 12)]
    corpus += [" ".join(rng.choices(vocabulary, k=rng.randint(3, 30))) for _ in range(400)]

    tokenizer = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.train_from_iterator(corpus, trainers.WordLevelTrainer(vocab_size=VOCAB, special_tokens=SPECIALS))
    tokenizer.post_processor = processors.TemplateProcessing(single="[BOS] $A", special_tokens=[("[BOS]", 1)])
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="[PAD]", bos_token="[BOS]",
                                      eos_token="[EOS]", unk_token="[UNK]",
                                      model_input_names=["input_ids", "attention_mask"])
    assert [wrapped.convert_tokens_to_ids(t) for t in SPECIALS] == [0, 1, 2, 3]
    wrapped.save_pretrained(out / "tokenizer")

    rows = [" ".join(rng.choices(vocabulary, k=n)) for n in (rng.randint(3, 24) for _ in range(32))]
    with open(out / "rows.jsonl", "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps({"text": row}) + "\n")
    print(json.dumps({"vocab": len(wrapped), "rows": len(rows)}))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
