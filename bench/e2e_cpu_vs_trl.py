#!/usr/bin/env python3
"""End to end on the CPU: the same DPO + LoRA run through TRL 1.16's DPOTrainer and through
`dpo train`, each a whole process (imports, model load, data, training, evaluation, saving),
timed by /usr/bin/time: wall seconds and peak resident memory.

The run is examples/smollm2-135m-cpu.yaml on SmolLM2-135M-Instruct (scripts/real_model.sh): its
80 conversational pairs, 16 held out (dpo splits them with its seed, TRL with datasets'
train_test_split and the same seed: the same sizes, not the same rows), 16 steps of 8 pairs,
LoRA r 16 / alpha 32 on the seven projections, learning rate 2e-4 constant, beta 0.1, DPO plus
the chosen answers' NLL (loss_type [sigmoid, sft]; the example's rpo_alpha 1.0), an evaluation
every 4 steps, checkpoints every 8, float32, the same thread count. dpo.cpp's eval_prompts
generations (TRL has none) are off. TRL runs twice: with its default gradient_checkpointing
(true: less memory, a third more compute) and without (dpo.cpp's default).

usage: bench/e2e_cpu_vs_trl.py [--dpo build/dpo] [--model DIR] [--threads 2] [--steps 16]
                               [--workdir DIR] [--keep]
Prints one markdown table and writes runs/e2e-cpu-vs-trl.json. Needs the project venv
(scripts/setup.sh) for TRL.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
EXAMPLE = os.path.join(ROOT, "examples", "smollm2-135m-cpu.yaml")
DATA = os.path.join(ROOT, "examples", "data", "smollm2_rule_pairs.jsonl")
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

# The TRL side, run as its own process so that its time and memory are its own.
TRL_RUN = r"""
import json, sys
import torch
settings = json.loads(sys.argv[1])
torch.set_num_threads(settings["threads"])
import datasets, peft, transformers, trl
model = transformers.AutoModelForCausalLM.from_pretrained(settings["model"], dtype=torch.float32)
tokenizer = transformers.AutoTokenizer.from_pretrained(settings["model"])
rows = datasets.load_dataset("json", data_files=settings["data"], split="train")
split = rows.train_test_split(test_size=0.2, seed=42)
args = trl.DPOConfig(
    output_dir=settings["out"], max_steps=settings["steps"], per_device_train_batch_size=8,
    per_device_eval_batch_size=16, gradient_accumulation_steps=1, learning_rate=2e-4,
    lr_scheduler_type="constant", beta=0.1, loss_type=["sigmoid", "sft"], max_length=128,
    logging_steps=2, eval_strategy="steps", eval_steps=4, save_strategy="steps", save_steps=8,
    save_total_limit=1, report_to=[], seed=42, bf16=False, fp16=False, use_cpu=True,
    dataloader_num_workers=0, gradient_checkpointing=settings["gradient_checkpointing"],
    disable_tqdm=True)
trainer = trl.DPOTrainer(
    model=model, args=args, train_dataset=split["train"], eval_dataset=split["test"],
    processing_class=tokenizer,
    peft_config=peft.LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0,
                                target_modules=settings["targets"], task_type="CAUSAL_LM"))
trainer.train()
trainer.save_model(settings["out"])
last = [e for e in trainer.state.log_history if "eval_loss" in e][-1]
print("RESULT " + json.dumps({"eval_loss": last["eval_loss"],
                              "eval_rewards/accuracies": last.get("eval_rewards/accuracies")}))
"""


def timed(command, log_path, env=None):
    """(wall seconds, peak RSS GiB, exit status) of `command` under /usr/bin/time."""
    time_file = log_path + ".time"
    with open(log_path, "w") as log:
        status = subprocess.call(["/usr/bin/time", "-f", "%e %M", "-o", time_file] + command,
                                 stdout=log, stderr=subprocess.STDOUT, env=env)
    wall, kib = open(time_file).read().split()[-2:]
    return float(wall), int(kib) / (1024.0 * 1024.0), status


def real_model():
    out = subprocess.run(["bash", os.path.join(ROOT, "scripts", "real_model.sh")],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"e2e: scripts/real_model.sh failed: {out.stderr.strip()}")
    return out.stdout.strip()


def run_dpo(binary, model, threads, steps, out, log):
    command = [binary, "train", EXAMPLE, f"model_name_or_path={model}", f"output_dir={out}",
               f"threads={threads}", f"max_steps={steps}", "eval_steps=4", "save_steps=8",
               "logging_steps=2", "eval_prompts=[]",
               "loss_type=[sigmoid,sft]", "rpo_alpha=null", "--no-progress"]
    wall, gib, status = timed(command, log)
    if status != 0:
        sys.exit(f"e2e: dpo train failed, see {log}")
    evals = [e for e in json.load(open(os.path.join(out, "trainer_state.json")))["log_history"]
             if "eval_loss" in e]
    return {"wall_s": wall, "peak_rss_gib": gib, "eval_loss": evals[-1]["eval_loss"],
            "eval_rewards/accuracies": evals[-1].get("eval_rewards/accuracies")}


def run_trl(model, threads, steps, out, log, checkpointing):
    settings = {"model": model, "data": DATA, "out": out, "threads": threads, "steps": steps,
                "targets": TARGETS, "gradient_checkpointing": checkpointing}
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), TOKENIZERS_PARALLELISM="false")
    wall, gib, status = timed([sys.executable, "-c", TRL_RUN, json.dumps(settings)], log, env)
    if status != 0:
        sys.exit(f"e2e: the TRL run failed, see {log}")
    result = [line for line in open(log) if line.startswith("RESULT ")][-1]
    return dict(json.loads(result[len("RESULT "):]), wall_s=wall, peak_rss_gib=gib)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dpo", default=os.path.join(ROOT, "build", "dpo"))
    parser.add_argument("--model", help="the SmolLM2 folder (default: scripts/real_model.sh)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--workdir")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    model = args.model or real_model()
    workdir = args.workdir or tempfile.mkdtemp(prefix="e2e_cpu_vs_trl_")
    os.makedirs(workdir, exist_ok=True)
    runs = {}
    runs["dpo.cpp"] = run_dpo(args.dpo, model, args.threads, args.steps,
                              os.path.join(workdir, "dpo"), os.path.join(workdir, "dpo.log"))
    for name, checkpointing in (("TRL 1.16 (gradient_checkpointing, its default)", True),
                                ("TRL 1.16 (no gradient_checkpointing)", False)):
        tag = "trl_ckpt" if checkpointing else "trl"
        runs[name] = run_trl(model, args.threads, args.steps, os.path.join(workdir, tag),
                             os.path.join(workdir, tag + ".log"), checkpointing)
    ours = runs["dpo.cpp"]
    print(f"| run ({args.steps} steps x 8 pairs, {args.threads} threads, fp32) | wall s | "
          "peak RSS GiB | dpo.cpp faster | dpo.cpp memory | final eval_loss | "
          "eval_rewards/accuracies |")
    print("|---|---|---|---|---|---|---|")
    for name, r in runs.items():
        print(f"| {name} | {r['wall_s']:.1f} | {r['peak_rss_gib']:.2f} | "
              f"{r['wall_s'] / ours['wall_s']:.2f}x | "
              f"{ours['peak_rss_gib'] / r['peak_rss_gib']:.2f} | {r['eval_loss']:.4f} | "
              f"{r['eval_rewards/accuracies']} |")
    os.makedirs(os.path.join(ROOT, "runs"), exist_ok=True)
    with open(os.path.join(ROOT, "runs", "e2e-cpu-vs-trl.json"), "w") as f:
        json.dump({"threads": args.threads, "steps": args.steps, "runs": runs}, f, indent=2)
    if not args.keep and not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
