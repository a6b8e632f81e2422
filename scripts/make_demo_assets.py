#!/usr/bin/env python3
"""Writes the assets of `dpo demo` (assets/demo/): corpus, preference pairs, probes, tokenizer.

Python 3 standard library only; deterministic (same files byte for byte on every run).

The demo retells the classic explanation of DPO: "The capital of Ireland is" -> " Dublin"
(chosen) vs " Cork" (rejected). A small Llama trained from scratch on the corpus (SFT) learns
the corpus frequencies: for most facts the right answer is the frequent one (Dublin 3x more often
than Cork), for the "misconceptions" the wrong answer is the frequent one (Sydney more often than
Canberra). DPO on preference pairs for part of the facts then moves the model towards the right
answers; probes kept out of the pairs show whether the shift generalizes.

Files (all under assets/demo/):
  corpus.jsonl           SFT rows {"text": ...}, one short sentence each
  pairs.jsonl            standard preference rows {"prompt", "chosen", "rejected"}
  probes.json            [{"prompt", "right", "wrong", "in_pairs", "kind", "country"}]
  tokenizer/tokenizer.json, tokenizer/tokenizer_config.json
                         a SentencePiece-style BPE in the Llama format (Prepend + Replace
                         normalizer, byte_fallback, <s> added by TemplateProcessing), trained here
                         until every word of the corpus is one token ("▁Dublin")

Usage: python3 scripts/make_demo_assets.py [--out assets/demo] [--check]
  --check  rebuild in memory and fail if the files on disk differ (for CI)
"""
import argparse
import collections
import json
import os
import random
import sys

SPACE = "\u2581"  # SentencePiece's word-boundary marker

# (country, right capital, wrong answer, right count, wrong count) per sentence template.
# Right answer more frequent than the wrong one:
PLAIN_FACTS = [
    ("Ireland", "Dublin", "Cork", 6, 2),
    ("France", "Paris", "Lyon", 6, 2),
    ("Spain", "Madrid", "Barcelona", 5, 2),
    ("Japan", "Tokyo", "Osaka", 6, 2),
    ("Italy", "Rome", "Milan", 6, 2),
    ("Germany", "Berlin", "Munich", 5, 2),
    ("Scotland", "Edinburgh", "Glasgow", 5, 2),
    ("Egypt", "Cairo", "Alexandria", 6, 2),
]
# Common misconceptions: the wrong answer is MORE frequent than the right one.
MISCONCEPTIONS = [
    ("Australia", "Canberra", "Sydney", 2, 5),
    ("Turkey", "Ankara", "Istanbul", 2, 5),
    ("Brazil", "Brasilia", "Rio", 2, 4),
    ("Canada", "Ottawa", "Toronto", 2, 4),
    ("Morocco", "Rabat", "Casablanca", 2, 5),
    ("Nigeria", "Abuja", "Lagos", 2, 4),
    ("Switzerland", "Bern", "Zurich", 2, 5),
    ("Pakistan", "Islamabad", "Karachi", 2, 4),
    ("Kazakhstan", "Astana", "Almaty", 2, 4),
    ("Vietnam", "Hanoi", "Saigon", 2, 4),
]
# Facts whose template-A prompt goes into the preference pairs. The others are held out.
IN_PAIRS = {"Ireland", "France", "Spain", "Japan", "Australia", "Turkey", "Brazil", "Canada", "Morocco", "Nigeria"}

# Sentence templates stating a fact; the first one is the prompt of the pairs and the probes.
FACT_TEMPLATES = [
    ("The capital of {country} is", " {city}."),
    ("The capital city of {country} is", " {city}."),
    ("The government of {country} sits in", " {city}."),
]
# Filler sentences: true statements about both cities, so that both names are familiar words.
FILLER_TEMPLATES = [
    "{city} is a city in {country}.",
    "Many people live in {city}.",
    "We took a train to {city}.",
]
GENERAL_FILLER = [
    "A capital is the city where the government sits.",
    "Every country has one capital.",
    "Maps show the capital with a star.",
    "The largest city is not always the capital.",
    "People often confuse the largest city with the capital.",
]
CORPUS_REPEATS = 2  # every (template, fact) block appears this many times, in shuffled order
SEED = 20240601


def build_corpus():
    rng = random.Random(SEED)
    sentences = []
    for _ in range(CORPUS_REPEATS):
        for country, right, wrong, n_right, n_wrong in PLAIN_FACTS + MISCONCEPTIONS:
            for prompt, completion in FACT_TEMPLATES:
                head = prompt.format(country=country)
                sentences += [head + completion.format(city=right)] * n_right
                sentences += [head + completion.format(city=wrong)] * n_wrong
            for template in FILLER_TEMPLATES:
                sentences.append(template.format(city=right, country=country))
                sentences.append(template.format(city=wrong, country=country))
        sentences += GENERAL_FILLER
    rng.shuffle(sentences)
    return sentences


def build_pairs():
    prompt, completion = FACT_TEMPLATES[0]
    pairs = []
    for country, right, wrong, _, _ in PLAIN_FACTS + MISCONCEPTIONS:
        if country in IN_PAIRS:
            pairs.append({
                "prompt": prompt.format(country=country),
                "chosen": completion.format(city=right),
                "rejected": completion.format(city=wrong),
            })
    return pairs


def build_probes():
    """Template-A probes for every fact (in the pairs or held out), plus paraphrase probes
    (template B) of the facts in the pairs: same fact, a prompt the pairs never show."""
    probes = []
    misconception_names = {m[0] for m in MISCONCEPTIONS}
    for country, right, wrong, _, _ in PLAIN_FACTS + MISCONCEPTIONS:
        probes.append({
            "prompt": FACT_TEMPLATES[0][0].format(country=country),
            "right": " " + right,
            "wrong": " " + wrong,
            "in_pairs": country in IN_PAIRS,
            "kind": "misconception" if country in misconception_names else "plain",
            "country": country,
        })
    for country, right, wrong, _, _ in PLAIN_FACTS + MISCONCEPTIONS:
        if country in IN_PAIRS:
            probes.append({
                "prompt": FACT_TEMPLATES[1][0].format(country=country),
                "right": " " + right,
                "wrong": " " + wrong,
                "in_pairs": False,
                "kind": "paraphrase",
                "country": country,
            })
    return probes


# ---------------------------------------------------------------- tokenizer (BPE, Llama format)

def words_of(text):
    """Training words: '▁word' for each space-separated word, punctuation split off on its own
    (so no merge ever joins a letter and '.', and 'Dublin.' encodes as '▁Dublin' + '.')."""
    out = []
    for raw in text.split(" "):
        core = raw.rstrip(".,")
        tail = raw[len(core):]
        if core:
            out.append(SPACE + core)
        out += list(tail)
    return out


def train_bpe(texts):
    """Classic BPE: merge the most frequent adjacent pair (ties: lexicographically smallest)
    until every training word is a single symbol."""
    counts = collections.Counter(w for t in texts for w in words_of(t))
    words = {w: list(w) for w in counts}
    merges = []
    while True:
        pair_counts = collections.Counter()
        for w, symbols in words.items():
            for a, b in zip(symbols, symbols[1:]):
                pair_counts[(a, b)] += counts[w]
        if not pair_counts:
            break
        best = min(pair_counts, key=lambda p: (-pair_counts[p], p))
        merges.append(best)
        joined = best[0] + best[1]
        for w, symbols in words.items():
            i, out = 0, []
            while i < len(symbols):
                if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
                    out.append(joined)
                    i += 2
                else:
                    out.append(symbols[i])
                    i += 1
            words[w] = out
    alphabet = sorted({c for w in counts for c in w})
    return alphabet, merges


def build_tokenizer(texts):
    alphabet, merges = train_bpe(texts)
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab["<0x%02X>" % b] = len(vocab)
    for c in alphabet:
        vocab.setdefault(c, len(vocab))
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    special = lambda i, s: {"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
                            "normalized": False, "special": True}
    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [special(0, "<unk>"), special(1, "<s>"), special(2, "</s>")],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": SPACE},
            {"type": "Replace", "pattern": {"String": " "}, "content": SPACE}]},
        "pre_tokenizer": None,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": SPACE}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True,
                  "vocab": vocab, "merges": [a + " " + b for a, b in merges]},
    }
    added = {str(i): {k: v for k, v in special(i, s).items() if k not in ("id", "content")} | {"content": s}
             for i, s in ((0, "<unk>"), (1, "<s>"), (2, "</s>"))}
    config = {
        "add_bos_token": True,
        "add_eos_token": False,
        "added_tokens_decoder": added,
        "bos_token": "<s>",
        "clean_up_tokenization_spaces": False,
        "eos_token": "</s>",
        "legacy": True,
        "model_max_length": 64,
        "pad_token": "</s>",
        "tokenizer_class": "LlamaTokenizer",
        "unk_token": "<unk>",
    }
    return tokenizer, config


def bpe_encode(tokenizer, text):
    """HF's encode for this tokenizer (normalize, BPE by merge rank with byte fallback, BOS)."""
    model = tokenizer["model"]
    vocab = model["vocab"]
    ranks = {tuple(m.split(" ")): r for r, m in enumerate(model["merges"])}
    symbols = list(SPACE + text.replace(" ", SPACE))
    while True:
        candidates = [(ranks[(a, b)], i) for i, (a, b) in enumerate(zip(symbols, symbols[1:])) if (a, b) in ranks]
        if not candidates:
            break
        _, i = min(candidates)
        symbols[i:i + 2] = [symbols[i] + symbols[i + 1]]
    ids = [1]
    for s in symbols:
        if s in vocab:
            ids.append(vocab[s])
        else:
            ids += [vocab["<0x%02X>" % b] for b in s.encode("utf-8")]
    return ids


def check(tokenizer, corpus, pairs, probes):
    inv = {i: t for t, i in tokenizer["model"]["vocab"].items()}
    for probe in probes:
        for key in ("right", "wrong"):
            prompt_ids = bpe_encode(tokenizer, probe["prompt"])
            full_ids = bpe_encode(tokenizer, probe["prompt"] + probe[key] + ".")
            answer = full_ids[len(prompt_ids):]
            assert full_ids[:len(prompt_ids)] == prompt_ids, probe
            assert [inv[i] for i in answer] == [SPACE + probe[key][1:], "."], (probe, [inv[i] for i in answer])
    for text in corpus:
        ids = bpe_encode(tokenizer, text)
        assert all(i > 258 for i in ids[1:]), ("byte fallback in corpus", text)
        assert len(ids) == 1 + len(words_of(text)), (text, [inv[i] for i in ids])
    for pair in pairs:
        assert pair["prompt"] + pair["chosen"] in corpus


def dump_json(obj, indent=None):
    return json.dumps(obj, ensure_ascii=False, indent=indent) + "\n"


def build_files():
    corpus = build_corpus()
    pairs = build_pairs()
    probes = build_probes()
    tokenizer, config = build_tokenizer(corpus)
    check(tokenizer, corpus, pairs, probes)
    return {
        "corpus.jsonl": "".join(dump_json({"text": t}) for t in corpus),
        "pairs.jsonl": "".join(dump_json(p) for p in pairs),
        "probes.json": dump_json(probes, indent=1),
        "tokenizer/tokenizer.json": dump_json(tokenizer, indent=1),
        "tokenizer/tokenizer_config.json": dump_json(config, indent=2),
    }


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(root, "assets", "demo"))
    parser.add_argument("--check", action="store_true", help="fail if the files on disk differ")
    args = parser.parse_args()
    files = build_files()
    if args.check:
        stale = [name for name, text in files.items()
                 if not os.path.exists(os.path.join(args.out, name))
                 or open(os.path.join(args.out, name), encoding="utf-8").read() != text]
        if stale:
            sys.exit("out of date: " + ", ".join(stale) + " (run scripts/make_demo_assets.py)")
        print("assets/demo is up to date")
        return
    for name, text in files.items():
        path = os.path.join(args.out, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
    corpus_lines = files["corpus.jsonl"].count("\n")
    vocab = json.loads(files["tokenizer/tokenizer.json"])["model"]["vocab"]
    print(f"wrote {args.out}: {corpus_lines} sentences, {files['pairs.jsonl'].count(chr(10))} pairs, "
          f"{len(json.loads(files['probes.json']))} probes, vocab {len(vocab)}")


if __name__ == "__main__":
    main()
