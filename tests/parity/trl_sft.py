#!/usr/bin/env python3
"""Parity harness: Hugging Face TRL's SFTTrainer against `dpo sft`, on the same rows, from the
same initial LoRA adapter, metric by metric and step by step (trl_dpo.py's twin for SFT; it
shares that script's data, adapter, data-order check and comparison).

For each case it
  1. writes a small SFT dataset (24 train rows, 7 eval rows, made from trl_dpo.py's questions and
     their chosen answers; 7 is not a multiple of the eval batch size 4, so the sample-weighted
     eval_loss and the batch-averaged eval_ metrics are both exercised) in the case's row format:
     prompt / completion strings, text strings, messages lists (a system message in some, a
     second exchange in others), or prompt / completion message lists,
  2. makes a PEFT LoRA adapter on the model from a fixed torch seed (trl_dpo.make_adapter: r 8,
     alpha 16, dropout 0, q,k,v,o,gate,up,down; lora_B random and non-zero by default) and saves
     it,
  3. trains it with TRL's SFTTrainer in fp32 on the CPU (PeftModel.from_pretrained(...,
     is_trainable=True)): 10 optimizer steps of batch 4 x gradient accumulation 2, AdamW lr
     3e-2, linear schedule with 2 warmup steps, max_grad_norm 1, logging every step, evaluation every 5 steps
     with eval batch 4; chat rows get the llama-2 template (the fixture tokenizer has none): TRL
     as the tokenizer's chat_template, dpo as its built-in `chat_template: llama-2`,
  4. trains the same adapter with `dpo sft` from the equivalent YAML config
     (adapter_name_or_path = the saved adapter; every key whose dpo default differs from TRL's
     set explicitly),
  5. compares TRL's trainer.state.log_history with dpo's trainer_state.json log_history key by key
     at every logged step (loss, grad_norm, learning_rate, entropy, mean_token_accuracy,
     num_tokens, epoch; eval_loss, eval_entropy, eval_mean_token_accuracy, eval_num_tokens; the
     final train_loss) and the final adapter tensors, and prints a table of every mismatch.

usage: tests/parity/trl_sft.py [--dpo BINARY] [--model DIR] [--case NAME[,NAME...]|all]
                               [--workdir DIR] [--keep] [--b-init random|zero] [--trl-only]
exit: 0 every case matches; 1 a mismatch, a metric TRL logs that dpo does not, or an error;
77 torch / transformers / peft / trl / datasets / tokenizers / safetensors are not importable (CTest
SKIP_RETURN_CODE), except with CI=true, where a missing reference is a failure (1).

Tolerances and excluded keys: trl_dpo.py's (RTOL 1e-4, ATOL 1e-6; adapters 1e-4 of each tensor's
scale; wall-clock timings not compared; total_flos compared).
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree for the import below
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import trl_dpo as common  # noqa: E402  (the shared pieces)
from trl_dpo import (  # noqa: E402
    ADAPTER_SEED, EXCLUDED_KEYS, MAX_STEPS, ROOT, SEED, TARGET_MODULES, CHAT_TEMPLATE_NAME)

TOOL = "trl_sft"
# 15 x trl_dpo's: mean_token_accuracy leaves 0 from step 4 on (at 2e-3 the random fixture model
# predicts no token right in 10 steps, and the accuracies would compare 0 with 0)
LEARNING_RATE = 3e-2
TRUNCATION_MAX_LENGTH = 24  # drops 4 train rows (prompt >= 24 tokens) under completion-only loss

# The cases. `rows`: the row format. `shared`: settings with the same name and meaning in
# SFTConfig and dpo's YAML; `trl` / `dpo`: one side only; `trl_same_as`: TRL's run is that case's.
CASES = {
    # TRL's default for prompt-completion rows: completion_only_loss None -> True
    "prompt_completion": {"rows": "prompt_completion"},
    # conversational language modeling: the whole rendered conversation is scored
    "messages": {"rows": "messages"},
    "completion_only_loss_false": {"rows": "prompt_completion",
                                   "shared": {"completion_only_loss": False}},
    "conversational_prompt_completion": {"rows": "conversational_prompt_completion"},
    # language modeling text: TRL's completion_only_loss None -> false, every token scored
    "text": {"rows": "text"},
    "truncation": {"rows": "prompt_completion", "shared": {"max_length": TRUNCATION_MAX_LENGTH}},
    # dpo packs (TRL 1.16 SFT refuses padding_free without flash attention and with max_length)
    "padding_free": {"rows": "prompt_completion", "dpo": {"padding_free": True},
                     "trl_same_as": "prompt_completion"},
    # max_length with the whole sequence scored: every sequence is cut to its first max_length
    # tokens and kept (the prompt is scored too, so no row is left without labels)
    "truncation_full_loss": {"rows": "prompt_completion",
                             "shared": {"max_length": TRUNCATION_MAX_LENGTH,
                                        "completion_only_loss": False}},
}
EXTRA_CASES = {}


# ------------------------------------------------------------------------------------- data

def prompt_completion_rows(records):
    return [{"prompt": common.standard_prompt(system, question), "completion": " " + chosen}
            for system, question, chosen, _ in records]


def text_rows(records):
    """plain text (language modeling: every token scored; TRL and dpo append the EOS text)."""
    return [{"text": common.standard_prompt(system, question) + " " + chosen}
            for system, question, chosen, _ in records]


def messages_rows(records):
    """messages lists: system + user + assistant; every third row a second exchange."""
    rows = []
    for i, (system, question, chosen, _) in enumerate(records):
        messages = common.chat_prompt(system, question) + [
            {"role": "assistant", "content": chosen}]
        if i % 3 == 1:
            messages += [{"role": "user", "content": "Are you sure? Say it again."},
                         {"role": "assistant", "content": "Yes. " + chosen}]
        rows.append({"messages": messages})
    return rows


def conversational_prompt_completion_rows(records):
    return [{"prompt": common.chat_prompt(system, question),
             "completion": [{"role": "assistant", "content": chosen}]}
            for system, question, chosen, _ in records]


ROW_FORMATS = {  # rows -> (row maker, dpo's dataset_format, needs a chat template)
    "prompt_completion": (prompt_completion_rows, "prompt_completion", False),
    "text": (text_rows, "text", False),
    "messages": (messages_rows, "messages", True),
    "conversational_prompt_completion": (conversational_prompt_completion_rows,
                                         "prompt_completion", True),
}


def case_settings(name):
    spec = CASES.get(name) or EXTRA_CASES[name]
    shared = dict(spec.get("shared", {}))
    return spec, dict(shared, **spec.get("trl", {})), dict(shared, **spec.get("dpo", {}))


# ------------------------------------------------------------------------------------- TRL

def run_trl(refs, trl_settings, model_dir, tokenizer, adapter_dir, train_rows, eval_rows,
            out_dir, chat_template=None):
    torch = refs.torch
    settings = {"max_length": 1024, "truncation_mode": "keep_start",
                "completion_only_loss": None, "packing": False, "padding_free": False}
    settings.update(trl_settings)
    args = refs.SFTConfig(**common.training_arguments(out_dir, learning_rate=LEARNING_RATE),
                          **settings)
    model, tokenizer = common.trl_model_and_tokenizer(refs, model_dir, adapter_dir, tokenizer,
                                                      chat_template)
    trainer = refs.SFTTrainer(
        model=model, args=args, processing_class=tokenizer,
        train_dataset=refs.datasets.Dataset.from_list(train_rows),
        eval_dataset=refs.datasets.Dataset.from_list(eval_rows))

    # Record which rows each collated batch holds (the order TRL really trained on).
    index = {tuple(ex["input_ids"]): i for i, ex in enumerate(trainer.train_dataset)}
    collate, seen = trainer.data_collator, []

    def recording_collator(examples):
        seen.append([index.get(tuple(e["input_ids"]), -1) for e in examples])
        return collate(examples)

    trainer.data_collator = recording_collator
    trainer.remove_callback(refs.transformers.trainer_callback.PrinterCallback)
    stats = [(len(ex["input_ids"]), sum(1 for label in ex["labels"] if label != -100))
             for ex in trainer.train_dataset]
    trainer.train()
    train_batches = [b for b in seen if b and min(b) >= 0]
    adapter = refs.peft.get_peft_model_state_dict(trainer.model, adapter_name="default")
    adapter = {k: v.detach().to(torch.float32).cpu().clone() for k, v in adapter.items()}
    return {
        "log_history": [dict(e) for e in trainer.state.log_history],
        "adapter": adapter,
        "train_batches": train_batches,
        "num_train": len(trainer.train_dataset),
        "stats": stats,
        "completion_only_loss": trainer.completion_only_loss,
    }


# ------------------------------------------------------------------------------------- dpo

def dpo_config(dpo_settings, model_dir, adapter_dir, train_path, eval_path, out_dir, threads):
    """The YAML (JSON is YAML) for `dpo sft`. Every key whose dpo default differs from TRL
    1.16's SFTConfig / TrainingArguments, or from this harness's TRL run, is set."""
    c = {
        "model_name_or_path": model_dir,
        "adapter_name_or_path": adapter_dir,
        "dataset": [train_path],
        "dataset_format": "prompt_completion",
        "eval_dataset": [eval_path],
        "device": "cpu",
        "threads": threads,
        "bf16": False,
        "chat_template": "auto",
        "max_length": 1024,
        "max_prompt_length": None,  # dpo.cpp's own key; TRL has none
        "max_completion_length": None,
        "truncation_mode": "keep_start",
        "completion_only_loss": True,  # TRL's None means true for prompt-completion rows
        "use_peft": True,
        "lora_r": 8,  # dpo default 16 (the adapter's config decides)
        "lora_alpha": 16,  # dpo default 32
        "lora_dropout": 0.0,  # dpo default 0.05 (off anyway under disable_dropout)
        "lora_target_modules": TARGET_MODULES,
        "disable_dropout": True,  # (SFTConfig has no such key; the model's dropouts are 0)
        "learning_rate": LEARNING_RATE,
        "lr_scheduler_type": "linear",
        "warmup_ratio": 0.0,
        "warmup_steps": 2,
        "weight_decay": 0.0,
        "adam_beta1": 0.9,
        "adam_beta2": 0.999,
        "adam_epsilon": 1e-8,
        "max_grad_norm": 1.0,
        "per_device_train_batch_size": 4,
        "per_device_eval_batch_size": 4,
        "gradient_accumulation_steps": 2,
        "max_steps": MAX_STEPS,
        "gradient_checkpointing": False,
        "padding_free": False,  # dpo default true; TRL pads
        "seed": SEED,
        "output_dir": out_dir,
        "logging_steps": 1,
        "logging_first_step": False,
        "eval_steps": 5,
        "save_steps": 500,
        "report_to": ["jsonl"],
    }
    c.update(dpo_settings)
    return c


# ------------------------------------------------------------------------------------ main

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dpo", help="the dpo binary (default: build/dpo, else build-debian/dpo)")
    parser.add_argument("--model", default=os.path.join(ROOT, "tests/fixtures/hf/llama/model"),
                        help="HF model folder (default: tests/fixtures/hf/llama/model)")
    names = list(CASES) + list(EXTRA_CASES)
    parser.add_argument("--case", default="prompt_completion",
                        help="a case, several separated by commas, or all (every case but "
                             + ", ".join(EXTRA_CASES) + "); cases: " + ", ".join(names))
    parser.add_argument("--workdir", help="where runs go (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the run folders")
    parser.add_argument("--b-init", choices=["random", "zero"], default="random",
                        help="starting adapter's lora_B: random (default) or PEFT's zeros")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads for TRL (torch) and for dpo (default 1)")
    parser.add_argument("--trl-only", action="store_true",
                        help="run TRL only and print its log (no dpo binary needed)")
    args = parser.parse_args()

    t0 = time.time()
    refs = common.Refs(args.threads, TOOL)  # first: without the references the test skips
    binary = None
    if not args.trl_only:
        binary = common.find_binary(args.dpo)
        if not binary or not os.access(binary, os.X_OK):
            print(f"{TOOL}: no dpo binary ({args.dpo or 'build/dpo, build-debian/dpo'}); "
                  "build it or pass --dpo", file=sys.stderr)
            return 1
    model_dir = os.path.abspath(args.model)
    cases = []
    for name in args.case.split(","):
        for case in (list(CASES) if name == "all" else [name]):
            if case not in names:
                parser.error(f"unknown case {case} (cases: {', '.join(names)}; group: all)")
            if case not in cases:
                cases.append(case)
    print(f"{TOOL}: {refs.versions()}; model {os.path.relpath(model_dir, ROOT)}; "
          f"dpo {binary}; lora_B {args.b_init} (seed {ADAPTER_SEED}); "
          f"import {time.time() - t0:.1f}s")

    made_workdir = args.workdir is None
    workdir = os.path.abspath(args.workdir or tempfile.mkdtemp(prefix="trl_sft_"))
    os.makedirs(workdir, exist_ok=True)
    train_records, eval_records = common.make_records()
    data = {}  # rows -> (train rows, eval rows, train path, eval path)
    for kind, (make, _, _) in ROW_FORMATS.items():
        train_rows, eval_rows = make(train_records), make(eval_records)
        train_path = os.path.join(workdir, f"train_{kind}.jsonl")
        eval_path = os.path.join(workdir, f"eval_{kind}.jsonl")
        common.write_jsonl(train_path, train_rows)
        common.write_jsonl(eval_path, eval_rows)
        data[kind] = (train_rows, eval_rows, train_path, eval_path)
    adapter_dir = os.path.join(workdir, "start_adapter")
    common.make_adapter(refs, model_dir, adapter_dir, args.b_init)
    chat_template, template_source = common.builtin_chat_template(binary, model_dir)

    plain = data["prompt_completion"][0] + data["prompt_completion"][1]
    tokenizer, note = common.trl_tokenizer(refs, model_dir,
                                           [row["prompt"] + row["completion"] for row in plain])
    if note:
        print(f"{TOOL}: note: {note}")
    boundary = common.prompt_boundary_rows(
        tokenizer, [{"prompt": r["prompt"], "chosen": r["completion"], "rejected": r["completion"]}
                    for r in plain])
    if boundary:
        print(f"{TOOL}: note: rows {boundary}: the prompt's tokens are not a prefix of prompt +"
              " completion's (TRL then starts the completion where they diverge)")

    results, trl_runs = {}, {}
    for case in cases:
        spec, trl_settings, dpo_settings = case_settings(case)
        rows_kind = spec["rows"]
        train_rows, eval_rows, train_path, eval_path = data[rows_kind]
        _, dataset_format, chat = ROW_FORMATS[rows_kind]
        dpo_settings["dataset_format"] = dataset_format
        template = None
        if chat:
            template = chat_template
            dpo_settings["chat_template"] = CHAT_TEMPLATE_NAME
        case_dir = os.path.join(workdir, case)
        shutil.rmtree(case_dir, ignore_errors=True)
        os.makedirs(case_dir)
        print(f"\n== {case}: {rows_kind} rows, shared {spec.get('shared', {})}"
              + (f", trl {spec['trl']}" if spec.get("trl") else "")
              + (f", dpo {spec['dpo']}" if spec.get("dpo") else "")
              + (f", chat template {CHAT_TEMPLATE_NAME} (TRL: {template_source})"
                 if template else ""))
        problems = []

        # TRL
        t = time.time()
        reuse = spec.get("trl_same_as")
        if reuse and reuse in trl_runs:
            trl = trl_runs[reuse]
            print(f"   TRL: the {reuse} run (identical for TRL)")
        else:
            trl = run_trl(refs, trl_settings, model_dir, tokenizer, adapter_dir, train_rows,
                          eval_rows, os.path.join(case_dir, "trl"), template)
            trl_runs[case] = trl
            with open(os.path.join(case_dir, "trl_log_history.json"), "w") as f:
                json.dump(trl["log_history"], f, indent=1)
            limit = trl_settings.get("max_length", 1024)
            longest = max(n for n, _ in trl["stats"])
            print(f"   TRL: {len(trl['log_history'])} log entries, {trl['num_train']} train rows "
                  f"(longest {longest} tokens, {sum(s for _, s in trl['stats'])} labels; "
                  f"max_length {limit}; completion_only_loss {trl['completion_only_loss']}), "
                  f"{time.time() - t:.1f}s")
        expected = common.expected_batches(common.torch_epoch_order, trl["num_train"], 4,
                                           MAX_STEPS, 2, SEED)
        got = trl["train_batches"][:len(expected)]
        if got != expected:
            first = next(i for i in range(len(expected)) if i >= len(got) or got[i] != expected[i])
            problems.append(f"TRL trained on another order than torch_epoch_order gives "
                            f"(micro-batch {first}: {got[first] if first < len(got) else None} vs"
                            f" {expected[first]})")
        if args.trl_only:
            for entry in trl["log_history"]:
                print("   ", json.dumps(entry))
            results[case] = problems
            continue

        # dpo
        config = dpo_config(dpo_settings, model_dir, adapter_dir, train_path, eval_path,
                            os.path.join(case_dir, "dpo"), args.threads)
        dpo = common.run_dpo(binary, config, case_dir, command="sft")
        problems += common.check_dpo_run(refs, trl, dpo)
        results[case] = problems

    excluded = f" (excluded keys: {', '.join(sorted(EXCLUDED_KEYS))})"
    return common.finish(results, t0, workdir, made_workdir and not args.keep,
                         "== summary" + ("" if args.trl_only else excluded), width=34)


if __name__ == "__main__":
    sys.exit(main())
