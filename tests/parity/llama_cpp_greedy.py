#!/usr/bin/env python3
"""dpo.cpp's GGUF files run by llama.cpp itself (scripts/llama_cpp.sh: llama-completion built from
the llama.cpp tree of llama-cpp-python's source distribution): greedy text equal to
`dpo generate`'s, token for token.

The model: SmolLM2-135M-Instruct (scripts/real_model.sh) with a seeded PEFT adapter (lora_B
random, as real_model.py makes it). Not the random fixture models: their logits are so close that
float32 summation order flips greedy choices between any two implementations, and the llama
fixture's synthetic SentencePiece vocabulary tokenizes differently under llama.cpp's score-based
merging than under its tokenizer.json merges (both seen: "def fibonacci(n):" becomes
' def',' fib','ona','cc','i' in llama.cpp and ' def',' fib','on','acci' in dpo and transformers).
Per prompt (raw text, no chat template; greedy, N new tokens):
  export   `dpo export gguf --type f32` run by llama-completion --temp 0  ==  `dpo generate`
  lora     the f32 export + `dpo export gguf-lora` applied with --lora    ==  `dpo generate --adapter`
  merged   `dpo export gguf --adapter` (merged, f32)                      ==  `dpo generate --adapter`
The texts compared are the generated continuations (llama-completion --no-display-prompt; its
"[end of text]" marker removed; dpo's text without the prompt).

Not part of CI (building llama.cpp takes about 5 minutes on 2 cores); run by hand:
  .venv/bin/python tests/parity/llama_cpp_greedy.py [--dpo build/dpo] [--tokens 24] [--keep]
exit: 0 every check matches; 1 a mismatch or an error; 77 llama.cpp or the model cannot be had.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
PROMPTS = ["The capital of France is", "Once upon a time, there was", "def fibonacci(n):",
           "Three things to pack for a hike:"]


def run(command, what):
    out = subprocess.run(command, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{what} failed ({out.returncode}): {out.stderr.strip()[-2000:]}")
    return out.stdout


def llama_cpp_bin():
    out = subprocess.run(["bash", os.path.join(ROOT, "scripts", "llama_cpp.sh")],
                         capture_output=True, text=True)
    if out.returncode == 77:
        print(f"llama_cpp_greedy: SKIP: {out.stderr.strip()}")
        sys.exit(77)
    if out.returncode != 0:
        sys.exit(f"llama_cpp_greedy: scripts/llama_cpp.sh failed: {out.stderr.strip()[-2000:]}")
    return out.stdout.strip()


def dpo_text(binary, model, prompt, tokens, adapter=None):
    command = [binary, "generate", "--model", model, "--prompt", prompt, "--max-new-tokens",
               str(tokens), "--json", "--threads", "2"]
    if adapter:
        command += ["--adapter", adapter]
    line = run(command, "dpo generate").strip().splitlines()[-1]
    return json.loads(line)["text"]


def llama_text(bin_dir, gguf, prompt, tokens, lora=None):
    command = [os.path.join(bin_dir, "llama-completion"), "-m", gguf, "-p", prompt, "-n",
               str(tokens), "--temp", "0", "-no-cnv", "--no-display-prompt", "-c", "256",
               "-t", "2", "--seed", "0"]
    if lora:
        command += ["--lora", lora]
    text = run(command, "llama-completion")
    if text.endswith("\n\n"):  # llama-completion's own, after the continuation
        text = text[:-2]
    marker = " [end of text]"  # after an end-of-generation token
    return text[:-len(marker)] if text.endswith(marker) else text


def smollm2():
    out = subprocess.run(["bash", os.path.join(ROOT, "scripts", "real_model.sh")],
                         capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else None


def smollm2_adapter(model, out_dir):
    """real_model.py's seeded PEFT adapter for the model folder."""
    sys.path.insert(0, HERE)
    import peft
    import torch
    import transformers
    import real_model
    base = transformers.AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32)
    real_model.make_adapter(torch, peft, base, out_dir)
    return out_dir


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dpo", default=os.path.join(ROOT, "build", "dpo"))
    parser.add_argument("--tokens", type=int, default=24)
    parser.add_argument("--adapter", help="a LoRA adapter folder for the model (default: "
                        "real_model.py's seeded one), e.g. a run of examples/smollm2-135m-cpu.yaml")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    bin_dir = llama_cpp_bin()
    work = tempfile.mkdtemp(prefix="llama_cpp_greedy_")
    real = smollm2()
    if not real:
        print("llama_cpp_greedy: SKIP: SmolLM2-135M-Instruct cannot be had (scripts/real_model.sh)")
        return 77
    models = [("SmolLM2-135M-Instruct", real, args.adapter)]
    failures, checks, changed = 0, 0, 0
    for name, model, adapter in models:
        folder = os.path.join(work, name.split()[0])
        os.makedirs(folder)
        if adapter is None:
            adapter = smollm2_adapter(model, os.path.join(folder, "adapter"))
        base = os.path.join(folder, "base-f32.gguf")
        lora = os.path.join(folder, "lora-f32.gguf")
        merged = os.path.join(folder, "merged-f32.gguf")
        run([args.dpo, "export", "gguf", "--model", model, "--output", base, "--type", "f32"],
            "dpo export gguf")
        run([args.dpo, "export", "gguf-lora", "--model", model, "--adapter", adapter, "--output",
             lora, "--type", "f32"], "dpo export gguf-lora")
        run([args.dpo, "export", "gguf", "--model", model, "--adapter", adapter, "--output",
             merged, "--type", "f32"], "dpo export gguf --adapter")
        print(f"== {name}")
        for prompt in PROMPTS:
            plain = dpo_text(args.dpo, model, prompt, args.tokens)
            tuned = dpo_text(args.dpo, model, prompt, args.tokens, adapter)
            changed += tuned != plain
            for check, ours, gguf, lora_file in (("export", plain, base, None),
                                                 ("lora", tuned, base, lora),
                                                 ("merged", tuned, merged, None)):
                theirs = llama_text(bin_dir, gguf, prompt, args.tokens, lora_file)
                checks += 1
                same = theirs == ours
                failures += not same
                print(f"  {check:7} {'PASS' if same else 'FAIL'}  {prompt!r} -> {ours!r}")
                if not same:
                    print(f"          llama.cpp: {theirs!r}")
    print(f"llama_cpp_greedy: {checks - failures} of {checks} checks pass; the adapter changes "
          f"{changed} of {len(PROMPTS)} continuations")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"kept {work}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
