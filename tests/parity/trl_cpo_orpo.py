#!/usr/bin/env python3
"""Parity harness: TRL 1.16's reference-free preference trainers, CPOTrainer (CPO, SimPO,
AlphaPO; trl.experimental.cpo) and ORPOTrainer (trl.experimental.orpo), against `dpo cpo` and
`dpo orpo`, on the same rows, from the same initial LoRA adapter, metric by metric and step by
step (trl_dpo.py's twin; it shares that script's data, adapter, data-order check and
comparison).

For each case it
  1. writes trl_dpo.py's preference dataset (24 train rows, 7 eval rows; standard prompt /
     chosen / rejected strings; 7 is not a multiple of the eval batch size 4),
  2. makes the PEFT LoRA adapter of trl_dpo.make_adapter (r 8, alpha 16, dropout 0, every
     projection; lora_B random and non-zero) and saves it,
  3. trains it with TRL's CPOTrainer or ORPOTrainer in fp32 on the CPU (PeftModel.from_pretrained
     (..., is_trainable=True)): 10 optimizer steps of batch 4 x gradient accumulation 2, linear
     schedule with 2 warmup steps, max_grad_norm 1, logging every step, evaluation every 5 steps
     with eval batch 4,
  4. trains the same adapter with `dpo cpo` / `dpo orpo` from the equivalent YAML config,
  5. compares TRL's log_history with dpo's key by key at every logged step (rewards/*, logps/*,
     logits/*, nll_loss, log_odds_ratio, log_odds_chosen, loss, grad_norm, learning_rate, epoch;
     their eval_ twins and eval_loss; train_loss) and the final adapter tensors.

logits/chosen and logits/rejected: TRL averages the logits over the whole padded block of the
micro-batch (chosen rows padded to the longest sequence of the batch; ORPO without the last
column), so its value counts padding positions, whose number depends on the batch's mix of
lengths; dpo averages over the sequences' own positions (its batches need not be padded). The
harness records the logits TRL computed in each micro-batch (a forward hook on the model) and
compares dpo's value with their mean over the non-padding positions, TRL's own numbers without
the padding; TRL's logged value is printed beside it where they differ.

usage: tests/parity/trl_cpo_orpo.py [--dpo BINARY] [--model DIR] [--case NAME[,NAME...]]
                                    [--workdir DIR] [--keep] [--trl-only]
NAME: a case, or the group all, cpo (CPOTrainer's cases) or orpo (ORPOTrainer's).
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
from trl_dpo import MAX_STEPS, ROOT, SEED  # noqa: E402

# TRL 1.16's experimental CPO and ORPO trainers log total_flos 0: their batches hold
# prompt_/chosen_/rejected_input_ids but no input_ids, the key transformers' estimate reads. dpo
# counts their batches as DPO's (src/train/flos.h), a deliberate difference.
EXCLUDED_KEYS = {**common.EXCLUDED_KEYS,
                 "total_flos": "TRL's CPO/ORPO batches have no input_ids: it logs 0"}

TOOL = "trl_cpo_orpo"
LEARNING_RATE = common.LEARNING_RATE

# `trainer`: cpo or orpo. `shared`: settings with the same name and meaning in CPOConfig /
# ORPOConfig and dpo's YAML; `dpo`: dpo only; `trl_same_as`: TRL's run is that case's.
CASES = {
    "cpo_sigmoid": {"trainer": "cpo", "shared": {"loss_type": "sigmoid"}},
    "cpo_hinge": {"trainer": "cpo", "shared": {"loss_type": "hinge"}},
    "cpo_ipo": {"trainer": "cpo", "shared": {"loss_type": "ipo"}},
    "cpo_label_smoothing": {"trainer": "cpo",
                            "shared": {"loss_type": "sigmoid", "label_smoothing": 0.1}},
    # SimPO as its paper and TRL's docs run it: no NLL term, a target margin
    "simpo": {"trainer": "cpo", "shared": {"loss_type": "simpo", "cpo_alpha": 0.0,
                                           "simpo_gamma": 0.5, "beta": 2.0}},
    # CPO-SimPO: SimPO's loss plus CPO's NLL term
    "cpo_simpo": {"trainer": "cpo", "shared": {"loss_type": "simpo", "simpo_gamma": 0.3}},
    "alphapo": {"trainer": "cpo", "shared": {"loss_type": "simpo", "cpo_alpha": 0.0,
                                             "alpha": 0.25, "beta": 2.0}},
    "orpo": {"trainer": "orpo", "shared": {"beta": 0.1}},
    "orpo_beta": {"trainer": "orpo", "shared": {"beta": 0.5}},
    # dpo's right-padded rows, and its packed rows without prompt sharing, give the same numbers
    # as its default (packed, each prompt computed once)
    "cpo_padded": {"trainer": "cpo", "shared": {"loss_type": "sigmoid"},
                   "dpo": {"padding_free": False}, "trl_same_as": "cpo_sigmoid"},
    "orpo_padded": {"trainer": "orpo", "shared": {"beta": 0.1},
                    "dpo": {"padding_free": False}, "trl_same_as": "orpo"},
    "orpo_packed": {"trainer": "orpo", "shared": {"beta": 0.1},
                    "dpo": {"prompt_sharing": False}, "trl_same_as": "orpo"},
}
LOGIT_KEYS = ("logits/chosen", "logits/rejected", "eval_logits/chosen", "eval_logits/rejected")


def case_settings(name):
    spec = CASES[name]
    shared = dict(spec.get("shared", {}))
    return spec, dict(shared, **spec.get("trl", {})), dict(shared, **spec.get("dpo", {}))


# ------------------------------------------------------------------------------------- TRL

def trainer_classes(trainer):
    try:
        if trainer == "cpo":
            from trl.experimental.cpo import CPOConfig, CPOTrainer
            return CPOConfig, CPOTrainer
        from trl.experimental.orpo import ORPOConfig, ORPOTrainer
        return ORPOConfig, ORPOTrainer
    except ImportError as e:
        common.missing_reference(f"trl.experimental.{trainer} is not importable ({e})", TOOL)


class RealPositionLogits:
    """Records, per micro-batch, the mean logit over the non-padding positions of the chosen and
    of the rejected rows (what dpo logs as logits/chosen, logits/rejected), and puts it in the
    metrics the trainer stores in place of the padded-block mean (kept as trl_padded/...)."""

    def __init__(self, trainer):
        self.trainer, self.last = trainer, None
        trainer.model.register_forward_hook(self.hook)
        original = trainer.get_batch_loss_metrics

        def patched(model, batch, train_eval="train"):
            self.mask = self.attention_mask(batch)
            loss, metrics = original(model, batch, train_eval)
            prefix = "eval_" if train_eval == "eval" else ""
            chosen, rejected = self.means()
            for key, value in ((f"{prefix}logits/chosen", chosen),
                               (f"{prefix}logits/rejected", rejected)):
                metrics["trl_padded/" + key] = metrics[key]
                metrics[key] = value
            return loss, metrics

        trainer.get_batch_loss_metrics = patched

    @staticmethod
    def attention_mask(batch):
        import torch
        width = max(batch["chosen_input_ids"].shape[1], batch["rejected_input_ids"].shape[1])
        pad = lambda m: torch.nn.functional.pad(m, (0, width - m.shape[1]))  # noqa: E731
        return torch.cat([pad(batch["chosen_attention_mask"]),
                          pad(batch["rejected_attention_mask"])]).bool()

    def hook(self, module, args, output):
        self.last = output.logits.detach()

    def means(self):
        per_position = self.last.float().mean(-1).double()  # (2P, T)
        mask = self.mask.to(per_position.device)
        p = mask.shape[0] // 2
        values = []
        for rows in (slice(0, p), slice(p, None)):
            m = mask[rows]
            values.append(float((per_position[rows] * m).sum() / m.sum()))
        return values


def run_trl(refs, trainer_kind, trl_settings, model_dir, tokenizer, adapter_dir, train_rows,
            eval_rows, out_dir):
    torch = refs.torch
    Config, Trainer = trainer_classes(trainer_kind)
    settings = {"max_length": 1024, "beta": 0.1, "disable_dropout": True}
    if trainer_kind == "cpo":
        settings.update({"loss_type": "sigmoid", "label_smoothing": 0.0, "cpo_alpha": 1.0,
                         "simpo_gamma": 0.5, "alpha": 0.0})
    settings.update(trl_settings)
    args = Config(**common.training_arguments(out_dir, learning_rate=LEARNING_RATE), **settings)
    model, tokenizer = common.trl_model_and_tokenizer(refs, model_dir, adapter_dir, tokenizer)
    if tokenizer.pad_token is None:  # CPO/ORPO's collator is made before they set one
        tokenizer.pad_token = tokenizer.eos_token
    trainer = Trainer(model=model, args=args, processing_class=tokenizer,
                      train_dataset=refs.datasets.Dataset.from_list(train_rows),
                      eval_dataset=refs.datasets.Dataset.from_list(eval_rows))
    RealPositionLogits(trainer)

    # Record which rows each collated batch holds (the order TRL really trained on).
    index = {}
    for i, ex in enumerate(trainer.train_dataset):
        index[(tuple(ex["prompt_input_ids"]), tuple(ex["chosen_input_ids"]))] = i
    collate, seen = trainer.data_collator, []

    def recording_collator(examples):
        seen.append([index.get((tuple(e["prompt_input_ids"]), tuple(e["chosen_input_ids"])), -1)
                     for e in examples])
        return collate(examples)

    trainer.data_collator = recording_collator
    trainer.remove_callback(refs.transformers.trainer_callback.PrinterCallback)
    trainer.train()
    adapter = refs.peft.get_peft_model_state_dict(trainer.model, adapter_name="default")
    adapter = {k: v.detach().to(torch.float32).cpu().clone() for k, v in adapter.items()}
    history, padded = [], []
    for entry in trainer.state.log_history:
        entry = dict(entry)
        padded.append({k[len("trl_padded/"):]: entry.pop(k) for k in list(entry)
                       if k.startswith("trl_padded/")})
        history.append(entry)
    return {"log_history": history, "padded_logits": padded, "adapter": adapter,
            "train_batches": [b for b in seen if b and min(b) >= 0],
            "num_train": len(trainer.train_dataset)}


# ------------------------------------------------------------------------------------- dpo

# dpo train keys that dpo cpo / dpo orpo refuse (they belong to the reference model).
DPO_ONLY_KEYS = ("loss_weights", "precompute_ref_log_probs", "ref_cache_dir")


def dpo_config(trainer_kind, dpo_settings, model_dir, adapter_dir, train_path, eval_path, out_dir,
               threads):
    """trl_dpo.py's `dpo train` config, less the reference's keys (ORPO: less loss_type and
    label_smoothing too), with the case's settings."""
    c = common.dpo_config({}, model_dir, adapter_dir, train_path, eval_path, out_dir, "", threads)
    for key in DPO_ONLY_KEYS:
        c.pop(key, None)
    if trainer_kind == "orpo":
        c.pop("loss_type")
        c.pop("label_smoothing")
    else:
        c.update({"cpo_alpha": 1.0, "simpo_gamma": 0.5, "alpha": 0.0})
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
                        help="cases separated by commas, or a group (all, cpo, orpo): "
                             + ", ".join(CASES))
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
    groups = {"all": list(CASES),
              "cpo": [c for c, spec in CASES.items() if spec["trainer"] == "cpo"],
              "orpo": [c for c, spec in CASES.items() if spec["trainer"] == "orpo"]}
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
    workdir = os.path.abspath(args.workdir or tempfile.mkdtemp(prefix="trl_cpo_orpo_"))
    os.makedirs(workdir, exist_ok=True)
    train_records, eval_records = common.make_records()
    train_rows = common.standard_rows(train_records)
    eval_rows = common.standard_rows(eval_records)
    train_path = os.path.join(workdir, "train.jsonl")
    eval_path = os.path.join(workdir, "eval.jsonl")
    common.write_jsonl(train_path, train_rows)
    common.write_jsonl(eval_path, eval_rows)
    adapter_dir = os.path.join(workdir, "start_adapter")
    common.make_adapter(refs, model_dir, adapter_dir, "random")
    tokenizer, note = common.trl_tokenizer(
        refs, model_dir, [row["prompt"] + row[key] for row in train_rows + eval_rows
                          for key in ("chosen", "rejected")])
    if note:
        print(f"{TOOL}: note: {note}")

    results, trl_runs = {}, {}
    for case in cases:
        spec, trl_settings, dpo_settings = case_settings(case)
        kind = spec["trainer"]
        case_dir = os.path.join(workdir, case)
        shutil.rmtree(case_dir, ignore_errors=True)
        os.makedirs(case_dir)
        print(f"\n== {case}: {kind.upper()}Trainer / dpo {kind}, shared {spec.get('shared', {})}"
              + (f", dpo {spec['dpo']}" if spec.get("dpo") else ""))
        problems = []
        t = time.time()
        reuse = spec.get("trl_same_as")
        if reuse and reuse in trl_runs:
            trl = trl_runs[reuse]
            print(f"   TRL: the {reuse} run (identical for TRL)")
        else:
            trl = run_trl(refs, kind, trl_settings, model_dir, tokenizer, adapter_dir, train_rows,
                          eval_rows, os.path.join(case_dir, "trl"))
            trl_runs[case] = trl
            with open(os.path.join(case_dir, "trl_log_history.json"), "w") as f:
                json.dump(trl["log_history"], f, indent=1)
            print(f"   TRL: {len(trl['log_history'])} log entries, {trl['num_train']} train rows,"
                  f" {time.time() - t:.1f}s")
        expected = common.expected_batches(common.torch_epoch_order, trl["num_train"], 4,
                                           MAX_STEPS, 2, SEED)
        if trl["train_batches"][:len(expected)] != expected:
            problems.append("TRL trained on another order than torch_epoch_order gives")
        if args.trl_only:
            for entry in trl["log_history"]:
                print("   ", json.dumps(entry))
            results[case] = problems
            continue

        config = dpo_config(kind, dpo_settings, model_dir, adapter_dir, train_path, eval_path,
                            os.path.join(case_dir, "dpo"), args.threads)
        dpo = common.run_dpo(binary, config, case_dir, command=kind)
        if "error" not in dpo and "reference" in dpo["log"] and \
                "no reference pass" not in dpo["log"]:
            problems.append("dpo's log mentions a reference pass")
        problems += common.check_dpo_run(
            refs, trl, dpo, note=" (logits/* over TRL's non-padding positions)",
            excluded=EXCLUDED_KEYS)
        results[case] = problems

    return common.finish(results, t0, workdir, made_workdir and not args.keep, width=22)


if __name__ == "__main__":
    sys.exit(main())
