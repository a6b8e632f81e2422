#!/usr/bin/env python3
"""Parity harness: TRL 1.16's KTOTrainer against `dpo kto`, on the same rows, from the same
initial LoRA adapter, metric by metric and step by step (trl_dpo.py's twin; it shares that
script's data, adapter and comparison).

For each case it
  1. writes a KTO dataset made from trl_dpo.py's records: unpaired rows (prompt, completion,
     label), every chosen answer desirable and two of every three rejected ones undesirable,
     interleaved record by record (train 24 + 16 = 40 rows, eval 7 + 5 = 12 rows), or the
     records as preference pairs (which both sides unpair), or as conversational rows,
  2. makes the PEFT LoRA adapter of trl_dpo.make_adapter (lora_B random and non-zero: TRL copies
     it into a frozen "ref" adapter, dpo keeps a frozen copy of base + adapter) and saves it,
  3. trains it with TRL's KTOTrainer in fp32 on the CPU: 10 optimizer steps of batch 4 x
     gradient accumulation 2, linear schedule with 2 warmup steps, max_grad_norm 1, logging every
     step, evaluation every 5 steps with eval batch 4; KTOConfig's sequential sampling (the KL
     completions are fixed against their dataset-order batch neighbours),
  4. trains the same adapter with `dpo kto` from the equivalent YAML config,
  5. compares TRL's log_history with dpo's key by key at every logged step (loss, grad_norm,
     learning_rate, kl, entropy, num_tokens, rewards/*, logps/*, logits/*, epoch; their eval_
     twins and eval_loss; train_loss) and the final adapter tensors.

usage: tests/parity/trl_kto.py [--dpo BINARY] [--model DIR] [--case NAME[,NAME...]]
                               [--workdir DIR] [--keep] [--trl-only]
exit: 0 every case matches; 1 a mismatch or an error; 77 the references are not importable
(CTest SKIP_RETURN_CODE), except with CI=true, where that is a failure (1).
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
from trl_dpo import CHAT_TEMPLATE_NAME, MAX_STEPS, ROOT, SEED  # noqa: E402

TOOL = "trl_kto"
LEARNING_RATE = common.LEARNING_RATE
TRUNCATION_MAX_LENGTH = 24  # drops the long prompt's rows, cuts many completions and KL ones

# `rows`: unpaired (text), pairs (standard preference rows, unpaired by both sides) or
# conversational (unpaired message lists). `shared`: same name and meaning in KTOConfig and dpo's
# YAML.
CASES = {
    "kto": {"rows": "unpaired"},
    "kto_pairs": {"rows": "pairs"},
    "kto_weights": {"rows": "unpaired",
                    "shared": {"desirable_weight": 1.0, "undesirable_weight": 1.25}},
    "apo_zero_unpaired": {"rows": "unpaired", "shared": {"loss_type": "apo_zero_unpaired"}},
    "kto_truncation": {"rows": "unpaired", "shared": {"max_length": TRUNCATION_MAX_LENGTH}},
    "kto_precompute": {"rows": "unpaired", "shared": {"precompute_ref_log_probs": True}},
    "kto_conversational": {"rows": "conversational"},
}


def unpaired_records(records):
    """(system, question, completion, label) rows: each record's chosen answer (desirable) and,
    for two records of every three, its rejected one (undesirable), record by record."""
    out = []
    for i, (system, question, chosen, rejected) in enumerate(records):
        out.append((system, question, chosen, True))
        if i % 3 != 2:
            out.append((system, question, rejected, False))
    return out


def make_rows(kind, records):
    if kind == "pairs":
        return common.standard_rows(records)
    rows = []
    for system, question, completion, label in unpaired_records(records):
        if kind == "conversational":
            rows.append({"prompt": common.chat_prompt(system, question),
                         "completion": [{"role": "assistant", "content": completion}],
                         "label": label})
        else:
            rows.append({"prompt": common.standard_prompt(system, question),
                         "completion": " " + completion, "label": label})
    return rows


# Two CTest entries of about 5 minutes each: basic, and the rest (extended).
BASIC = ["kto", "kto_pairs", "kto_weights", "apo_zero_unpaired"]

ROW_FORMATS = {"unpaired": "unpaired", "pairs": "standard", "conversational": "unpaired"}


def case_settings(name):
    spec = CASES[name]
    shared = dict(spec.get("shared", {}))
    return spec, dict(shared, **spec.get("trl", {})), dict(shared, **spec.get("dpo", {}))


def sequential_order(n, epoch, seed):
    return list(range(n))


# ------------------------------------------------------------------------------------- TRL

def run_trl(refs, trl_settings, model_dir, tokenizer, adapter_dir, train_rows, eval_rows,
            out_dir, chat_template=None):
    torch = refs.torch
    from trl import KTOConfig, KTOTrainer
    settings = {"max_length": 1024, "beta": 0.1, "loss_type": "kto", "desirable_weight": 1.0,
                "undesirable_weight": 1.0, "precompute_ref_log_probs": False,
                "disable_dropout": True}
    settings.update(trl_settings)
    args = KTOConfig(**common.training_arguments(out_dir, learning_rate=LEARNING_RATE),
                     **settings)
    model, tokenizer = common.trl_model_and_tokenizer(refs, model_dir, adapter_dir, tokenizer,
                                                      chat_template)
    if tokenizer.pad_token is None:  # KTOTrainer requires one
        tokenizer.pad_token = tokenizer.eos_token
    trainer = KTOTrainer(model=model, args=args, processing_class=tokenizer,
                         train_dataset=refs.datasets.Dataset.from_list(train_rows),
                         eval_dataset=refs.datasets.Dataset.from_list(eval_rows))
    index = {}
    for i, ex in enumerate(trainer.train_dataset):
        index[(tuple(ex["prompt_ids"]), tuple(ex["completion_ids"]))] = i
    collate, seen = trainer.data_collator, []

    def recording_collator(examples):
        seen.append([index.get((tuple(e["prompt_ids"]), tuple(e["completion_ids"])), -1)
                     for e in examples])
        return collate(examples)

    trainer.data_collator = recording_collator
    trainer.remove_callback(refs.transformers.trainer_callback.PrinterCallback)
    labels = list(trainer.train_dataset["label"])
    trainer.train()
    adapter = refs.peft.get_peft_model_state_dict(trainer.model, adapter_name="default")
    adapter = {k: v.detach().to(torch.float32).cpu().clone() for k, v in adapter.items()}
    return {"log_history": [dict(e) for e in trainer.state.log_history], "adapter": adapter,
            "train_batches": [b for b in seen if b and min(b) >= 0],
            "num_train": len(trainer.train_dataset), "desirable": sum(labels)}


# ------------------------------------------------------------------------------------- dpo

# dpo train keys that dpo kto refuses (KTOConfig has no such key).
NOT_KTO_KEYS = ("loss_weights", "label_smoothing", "max_prompt_length", "max_completion_length",
                "truncation_mode")


def dpo_config(dpo_settings, model_dir, adapter_dir, train_path, eval_path, out_dir, cache_dir,
               threads):
    c = common.dpo_config({}, model_dir, adapter_dir, train_path, eval_path, out_dir, cache_dir,
                          threads)
    for key in NOT_KTO_KEYS:
        c.pop(key, None)
    c.update({"loss_type": ["kto"], "desirable_weight": 1.0, "undesirable_weight": 1.0,
              "train_sampling_strategy": "sequential"})
    for key, value in dpo_settings.items():
        c[key] = [value] if key == "loss_type" else value
    return c


# ------------------------------------------------------------------------------------ main

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dpo", help="the dpo binary (default: build/dpo, else build-debian/dpo)")
    parser.add_argument("--model", default=os.path.join(ROOT, "tests/fixtures/hf/llama/model"),
                        help="HF model folder (default: tests/fixtures/hf/llama/model)")
    parser.add_argument("--case", default="all",
                        help="cases separated by commas, or a group (all, basic: "
                             + ", ".join(BASIC) + "; extended: the rest): " + ", ".join(CASES))
    parser.add_argument("--workdir", help="where runs go (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the run folders")
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
            print(f"{TOOL}: no dpo binary; build it or pass --dpo", file=sys.stderr)
            return 1
    groups = {"all": list(CASES), "basic": BASIC, "extended": [c for c in CASES if c not in BASIC]}
    cases = []
    for name in args.case.split(","):
        for case in groups.get(name, [name]):
            if case not in CASES:
                parser.error(f"unknown case {case} (cases: {', '.join(CASES)}; groups: "
                             f"{', '.join(groups)})")
            if case not in cases:
                cases.append(case)
    model_dir = os.path.abspath(args.model)
    print(f"{TOOL}: {refs.versions()}; model {os.path.relpath(model_dir, ROOT)}; dpo {binary}")

    made_workdir = args.workdir is None
    workdir = os.path.abspath(args.workdir or tempfile.mkdtemp(prefix="trl_kto_"))
    os.makedirs(workdir, exist_ok=True)
    train_records, eval_records = common.make_records()
    data = {}
    for kind in ROW_FORMATS:
        train_rows, eval_rows = make_rows(kind, train_records), make_rows(kind, eval_records)
        train_path = os.path.join(workdir, f"train_{kind}.jsonl")
        eval_path = os.path.join(workdir, f"eval_{kind}.jsonl")
        common.write_jsonl(train_path, train_rows)
        common.write_jsonl(eval_path, eval_rows)
        data[kind] = (train_rows, eval_rows, train_path, eval_path)
    adapter_dir = os.path.join(workdir, "start_adapter")
    common.make_adapter(refs, model_dir, adapter_dir, "random")
    chat_template, template_source = common.builtin_chat_template(binary, model_dir)
    plain = data["pairs"][0] + data["pairs"][1]
    tokenizer, note = common.trl_tokenizer(
        refs, model_dir, [row["prompt"] + row[key] for row in plain
                          for key in ("chosen", "rejected")])
    if note:
        print(f"{TOOL}: note: {note}")

    results = {}
    for case in cases:
        spec, trl_settings, dpo_settings = case_settings(case)
        kind = spec["rows"]
        train_rows, eval_rows, train_path, eval_path = data[kind]
        dpo_settings["dataset_format"] = ROW_FORMATS[kind]
        template = None
        if kind == "conversational":
            template = chat_template
            dpo_settings["chat_template"] = CHAT_TEMPLATE_NAME
        case_dir = os.path.join(workdir, case)
        shutil.rmtree(case_dir, ignore_errors=True)
        os.makedirs(case_dir)
        print(f"\n== {case}: {kind} rows, shared {spec.get('shared', {})}"
              + (f", chat template {CHAT_TEMPLATE_NAME} (TRL: {template_source})"
                 if template else ""))
        problems = []
        t = time.time()
        trl = run_trl(refs, trl_settings, model_dir, tokenizer, adapter_dir, train_rows,
                      eval_rows, os.path.join(case_dir, "trl"), template)
        with open(os.path.join(case_dir, "trl_log_history.json"), "w") as f:
            json.dump(trl["log_history"], f, indent=1)
        print(f"   TRL: {len(trl['log_history'])} log entries, {trl['num_train']} train examples "
              f"({trl['desirable']} desirable), {time.time() - t:.1f}s")
        expected = common.expected_batches(sequential_order, trl["num_train"], 4, MAX_STEPS, 2,
                                           SEED)
        if trl["train_batches"][:len(expected)] != expected:
            problems.append("TRL trained on another order than the sequential one")
        if args.trl_only:
            for entry in trl["log_history"]:
                print("   ", json.dumps(entry))
            results[case] = problems
            continue

        config = dpo_config(dpo_settings, model_dir, adapter_dir, train_path, eval_path,
                            os.path.join(case_dir, "dpo"), os.path.join(case_dir, "ref_cache"),
                            args.threads)
        dpo = common.run_dpo(binary, config, case_dir, command="kto")
        problems += common.check_dpo_run(refs, trl, dpo)
        results[case] = problems

    return common.finish(results, t0, workdir, made_workdir and not args.keep, width=22)


if __name__ == "__main__":
    sys.exit(main())
