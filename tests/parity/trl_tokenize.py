#!/usr/bin/env python3
"""Parity harness: TRL 1.16's own tokenization of preference rows against dpo's, id by id.

For every fixture tokenizer (tests/fixtures/tokenizers/{mistral,llama3,qwen3} and the fixture
models' own) and every row set below, the rows go through
  - TRL: DPOTrainer._prepare_dataset itself (prompt extraction for implicit rows, EOS appended to
    text completions, chat templates through transformers' apply_chat_template, the split where
    the tokenized prompt and prompt + completion stop agreeing), with max_length None so that
    nothing is dropped, on the tokenizer TRL gets (AutoTokenizer; tokenizer.json as it is where
    AutoTokenizer encodes differently, see trl_dpo.trl_tokenizer);
  - dpo: `dpo data tokenize FILE --model DIR --output OUT.jsonl` (the pipeline of dpo train,
    before truncation);
and the prompt_ids, chosen_ids and rejected_ids of every row must be equal.

Row sets: the rows of tests/parity/trl_dpo.py (standard, implicit, conversational,
implicit_conversational; 31 each) and corner rows: a prompt ending in a space (its last token
merges across the boundary), completions already ending in the EOS text, CJK and emoji, tabs and
newlines, a whitespace-only completion, answers that start alike (implicit rows split inside
them), a multi-turn conversation with a system message, and a prompt that starts with the BOS
text. That last row is the one documented difference (docs/trl-compat.md, "BOS"): where the
tokenizer adds a BOS to text that already starts with one (Llama 2 / Mistral-style tokenizers), TRL
gets two and dpo one, and the harness checks exactly that difference; elsewhere (Llama 3's) both
have one and the ids must be equal.

Tokenizers without a chat template get dpo's built-in llama-2 template on both sides (dpo prints
its source: `dpo chat render --print-template`).

usage: tests/parity/trl_tokenize.py [--dpo BINARY] [--keep]
exit: 0 every row matches; 1 a mismatch or an error; 77 trl / transformers / datasets / tokenizers
not importable (CTest's SKIP_RETURN_CODE), except with CI=true, where it fails (1). About 40 s.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import types
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
sys.path.insert(0, HERE)
import trl_dpo  # noqa: E402  (the parity rows, the built-in template, the tokenizer TRL gets)
from tokenizer_diff import TOKENIZERS  # noqa: E402  (name, folder under tests/fixtures)
BOS_ROW_MARK = "bos_prefixed"  # the corner row whose prompt starts with the BOS text


def corner_text_rows(eos, bos):
    rows = [
        {"prompt": "The capital of France is ", "chosen": "Paris.", "rejected": "Lyon."},
        {"prompt": "Say yes.", "chosen": " Yes." + eos, "rejected": " No." + eos},
        {"prompt": "日本の首都はどこですか？", "chosen": "東京です。", "rejected": "大阪です 🙂"},
        {"prompt": "Line one\n\tLine two\nAnswer:", "chosen": " a\n b", "rejected": " c\t\td  "},
        {"prompt": "Reply with nothing:", "chosen": " ", "rejected": " Something."},
        {"prompt": "Which ocean?", "chosen": " The Atlantic Ocean.", "rejected": " The Pacific."},
    ]
    if bos:
        rows.append({"prompt": bos + "Question: what is two plus two?\nAnswer:", "chosen": " Four.",
                     "rejected": " Five.", BOS_ROW_MARK: True})
    return rows


def corner_chat_rows():
    return [
        {"prompt": [{"role": "system", "content": "Be terse."},
                    {"role": "user", "content": "Capital of Ireland?"},
                    {"role": "assistant", "content": "Dublin."},
                    {"role": "user", "content": "And of Wales?"}],
         "chosen": [{"role": "assistant", "content": "Cardiff."}],
         "rejected": [{"role": "assistant", "content": "Swansea, I think."}]},
        {"prompt": [{"role": "user", "content": "日本の首都は？ 🙂"}],
         "chosen": [{"role": "assistant", "content": "東京。"}],
         "rejected": [{"role": "assistant", "content": "  大阪\n"}]},
    ]


def row_sets(eos, bos):
    train, evaluation = trl_dpo.make_records()
    records = train + evaluation
    return {  # name -> (rows, dpo's --format, needs a chat template)
        "standard": (trl_dpo.standard_rows(records), "standard", False),
        "implicit": (trl_dpo.implicit_rows(records), "implicit", False),
        "conversational": (trl_dpo.conversational_rows(records), "conversational", True),
        "implicit_conversational": (trl_dpo.implicit_conversational_rows(records),
                                    "conversational", True),
        "corner_text": (corner_text_rows(eos, bos), "standard", False),
        "corner_chat": (corner_chat_rows(), "conversational", True),
    }


def trl_ids(refs, tokenizer, rows):
    """DPOTrainer._prepare_dataset on `rows`: [(prompt_ids, chosen_ids, rejected_ids)]."""
    args = refs.DPOConfig(output_dir=tempfile.mkdtemp(prefix="trl_tokenize_args_"), max_length=None,
                          report_to=[], bf16=False, use_cpu=True)
    trainer_like = types.SimpleNamespace(_tokenizer=tokenizer)  # all _prepare_dataset reads of self
    clean = [{k: v for k, v in row.items() if k != BOS_ROW_MARK} for row in rows]
    dataset = refs.DPOTrainer._prepare_dataset(
        trainer_like, refs.datasets.Dataset.from_list(clean), tokenizer, args, "train")
    shutil.rmtree(args.output_dir, ignore_errors=True)
    return [(list(r["prompt_ids"]), list(r["chosen_ids"]), list(r["rejected_ids"])) for r in dataset]


def dpo_ids(binary, model_dir, rows, data_format, chat_template, work, tag):
    data = os.path.join(work, f"{tag}.jsonl")
    out = os.path.join(work, f"{tag}.tokens.jsonl")
    with open(data, "w") as f:
        for row in rows:
            f.write(json.dumps({k: v for k, v in row.items() if k != BOS_ROW_MARK}) + "\n")
    cmd = [binary, "data", "tokenize", data, "--model", model_dir, "--output", out,
           "--format", data_format, "--chat-template", chat_template]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()}")
    with open(out) as f:
        return [(r["prompt_ids"], r["chosen_ids"], r["rejected_ids"]) for r in map(json.loads, f)]


def first_difference(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def compare(rows, trl, dpo, bos_id):
    """Messages for the rows whose ids differ (the BOS row: exactly TRL's second BOS)."""
    if len(trl) != len(dpo):
        return [f"TRL kept {len(trl)} rows, dpo {len(dpo)}"]
    problems = []
    for i, (row, t, d) in enumerate(zip(rows, trl, dpo)):
        want = t
        if row.get(BOS_ROW_MARK) and t[0][:2] == [bos_id, bos_id]:
            want = (t[0][1:], t[1], t[2])  # the documented difference: one BOS, not two
        for name, a, b in zip(("prompt_ids", "chosen_ids", "rejected_ids"), d, want):
            if a != b:
                k = first_difference(a, b)
                problems.append(f"row {i} {name}: dpo {a[max(0, k - 2):k + 4]} vs TRL "
                                f"{b[max(0, k - 2):k + 4]} from index {k} (lengths {len(a)} vs {len(b)})")
    return problems


class Refs:
    def __init__(self):
        for key, value in (("HF_HUB_OFFLINE", "1"), ("HF_DATASETS_OFFLINE", "1"),
                           ("TRANSFORMERS_OFFLINE", "1"), ("TOKENIZERS_PARALLELISM", "false"),
                           ("TQDM_DISABLE", "1"), ("ACCELERATE_USE_CPU", "true")):
            os.environ.setdefault(key, value)
        warnings.filterwarnings("ignore", category=FutureWarning)
        try:
            import datasets
            import tokenizers  # noqa: F401  (trl_dpo.trl_tokenizer)
            import transformers
            from trl import DPOConfig
            from trl.trainer.dpo_trainer import DPOTrainer
        except Exception as e:  # an ImportError, or a broken install
            trl_dpo.missing_reference(f"the references are not importable ({e})", "trl_tokenize")
        import logging
        logging.getLogger("trl").setLevel(logging.ERROR)  # its prompt-boundary warning, per set
        datasets.disable_progress_bars()
        transformers.logging.set_verbosity_error()
        self.datasets, self.transformers = datasets, transformers
        self.DPOConfig, self.DPOTrainer = DPOConfig, DPOTrainer


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dpo", help="the dpo binary (default: build/dpo, else build-debian/dpo)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    refs = Refs()
    binary = trl_dpo.find_binary(args.dpo)
    if not binary or not os.access(binary, os.X_OK):
        print(f"trl_tokenize: no dpo binary ({args.dpo or 'build/dpo, build-debian/dpo'})",
              file=sys.stderr)
        return 1
    work = tempfile.mkdtemp(prefix="trl_tokenize_")
    started = time.time()
    failures, compared = 0, 0
    try:
        for name, folder in TOKENIZERS:
            model_dir = os.path.join(FIXTURES, folder)
            auto = refs.transformers.AutoTokenizer.from_pretrained(model_dir)
            sets = row_sets(auto.eos_token, auto.bos_token)
            texts = [r["prompt"] + r[k] for r in sets["standard"][0] for k in ("chosen", "rejected")]
            tokenizer, note = trl_dpo.trl_tokenizer(refs, model_dir, texts)
            own_template = bool(getattr(auto, "chat_template", None))
            template = "auto" if own_template else trl_dpo.CHAT_TEMPLATE_NAME
            if not own_template:
                tokenizer.chat_template = trl_dpo.builtin_chat_template(binary, model_dir)[0]
            print(f"== {name} ({folder}; chat template: {'its own' if own_template else template})"
                  + (f"; {note}" if note else ""))
            for set_name, (rows, data_format, chat) in sets.items():
                tag = f"{name}_{set_name}"
                try:
                    trl = trl_ids(refs, tokenizer, rows)
                    dpo = dpo_ids(binary, model_dir, rows, data_format, template if chat else "auto",
                                  work, tag)
                    problems = compare(rows, trl, dpo, tokenizer.bos_token_id)
                except Exception as e:  # a crash on either side is a failure of this set
                    problems = [f"{type(e).__name__}: {e}"]
                compared += len(rows)
                tokens = sum(len(p) + len(c) + len(r) for p, c, r in (trl if not problems else []))
                status = "PASS" if not problems else "FAIL"
                print(f"   {set_name:<24} {status}  {len(rows)} rows"
                      + (f", {tokens} token ids equal" if not problems else ""))
                for p in problems[:8]:
                    print(f"      {p}")
                failures += bool(problems)
    finally:
        if args.keep:
            print(f"work folder: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\ntrl_tokenize: {'OK' if not failures else 'FAIL'}: {compared} rows over "
          f"{len(TOKENIZERS)} tokenizers, {failures} row sets differ; {time.time() - started:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
