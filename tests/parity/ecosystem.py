#!/usr/bin/env python3
"""Ecosystem harness: what dpo.cpp writes is read by PEFT and transformers as dpo reads it, and
what PEFT writes is read by dpo as PEFT reads it.

On each tiny fixture model (tests/fixtures/hf/{llama,qwen2,llama3rope}/model), in float32 on the
CPU, it
  1. runs `dpo train` (3 steps, a fresh LoRA adapter, a checkpoint at step 2, eval at steps 2
     and 3) and `dpo sft` (3 steps of full fine-tuning: a model folder), then loads with PEFT
     0.21 the final adapter and checkpoint-2's (PeftModel.from_pretrained, and
     AutoPeftModelForCausalLM for the final one) and with transformers the SFT model folders,
     and compares the sequence log-probs
     (sum of the completion tokens' log-probs of chosen and of rejected, pretokenized rows) with
     `dpo eval --per-example` (rtol 1e-4); the adapter's tensors must be exactly those PEFT holds
     after loading;
  2. merges the final adapter with `dpo merge` (--dtype f32, bf16, f16, and f32 with a
     --max-shard-size that shards it) and loads each with transformers (no missing, unexpected
     or mismatched weights; config.json's dtype; generation_config.json; the tokenizer files):
     f32 log-probs against `dpo eval` of base + adapter (rtol 1e-4), the tensors against PEFT's
     merge_and_unload(); bf16 / f16 against PEFT's merge rounded to that dtype (tensors within
     one unit in the last place, log-probs rtol 1e-4) and against base + adapter in f32 within
     4 units of roundoff of the dtype (bf16 1.6e-2, f16 2e-3 relative);
  3. reads two adapters PEFT wrote (the fixture's adapter/, and one made here from a seeded
     init: r 6, rank_pattern, alpha_pattern, lora_B random) with `dpo eval` (log-probs against
     PEFT, rtol 1e-4) and `dpo generate` (greedy, --prompt-ids, --max-new-tokens 8) against
     PEFT + transformers' generate(do_sample=False): the same token ids (also for dpo's own
     final adapter); `dpo merge` of the seeded one gives PEFT's merge_and_unload() tensors;
  4. loads every trainer_state.json (final and checkpoint, train and sft) as transformers'
     TrainerState, checks global_step and the keys of its log_history (train, eval and summary
     entries), feeds it to transformers.modelcard.parse_log_history, and checks that
     transformers' get_last_checkpoint finds dpo's last checkpoint.

usage: tests/parity/ecosystem.py [--dpo BINARY] [--models llama,qwen2,llama3rope] [--workdir DIR]
                                 [--keep] [--threads N]
exit: 0 every check passes; 1 a mismatch or an error; 77 torch / transformers / peft / safetensors
are not importable (CTest SKIP_RETURN_CODE), except with CI=true, where that is a failure (1).
"""
import argparse
import json
import logging
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "hf")
SFT_DATA = os.path.join(ROOT, "examples", "data", "tiny_sft.jsonl")
MODELS = ["llama", "qwen2", "llama3rope"]
SKIP = 77
RTOL = 1e-4  # float32 log-probs of magnitude ~10-100
ATOL = 1e-5  # their absolute rounding (sums of ~10 float32 log-softmax values)
# Half-precision merges against the float32 base + adapter: each weight rounded to the dtype
# (relative error <= the unit roundoff u = 2^-p, p the significand bits: bf16 2^-8, f16 2^-11)
# moves the log-probs by a few u relative; 4u is the bound (seen: bf16 <= 1.1e-3, f16 <= 1.8e-4).
HALF_RTOL = {"bf16": 4 * 2.0 ** -8, "f16": 4 * 2.0 ** -11}
# explicit significand bits and smallest normal exponent: one ulp of x is 2^(max(e(x), emin) - bits)
ULP_BITS = {"bf16": (7, -126), "f16": (10, -14)}
MIN_EFFECT = 1e-2  # an adapter (or fine-tuning) must move some log-prob by this many nats, else
# the comparison could not tell a right load from a wrong one
MAX_NEW_TOKENS = 8
SEED = 42
DPO_TIMEOUT = 300
SHARD_SIZE = "40KB"  # shards the tiny models into 4-5 files (the embeddings alone exceed it)

# dpo's LoRA settings per model: varied, so that PEFT reads each way dpo writes them
LORA = {
    "llama": {"lora_r": 8, "lora_alpha": 16},
    "qwen2": {"lora_r": 4, "lora_alpha": 8, "use_rslora": True,
              "lora_target_modules": ["q_proj", "v_proj", "o_proj", "down_proj"]},
    "llama3rope": {"lora_r": 6, "lora_alpha": 12,
                   "lora_target_modules": r".*\.(q_proj|k_proj|up_proj)"},
}

# log_history keys transformers' Trainer and TRL 1.16 log, per entry kind
TRAIN_KEYS = ["loss", "grad_norm", "learning_rate", "epoch", "step"]
DPO_TRAIN_KEYS = TRAIN_KEYS + ["rewards/chosen", "rewards/rejected", "rewards/accuracies",
                               "rewards/margins", "logps/chosen", "logps/rejected",
                               "logits/chosen", "logits/rejected", "num_tokens"]
SFT_TRAIN_KEYS = TRAIN_KEYS + ["entropy", "num_tokens", "mean_token_accuracy"]
EVAL_KEYS = ["eval_loss", "eval_runtime", "eval_samples_per_second", "eval_steps_per_second",
             "epoch", "step"]
DPO_EVAL_KEYS = EVAL_KEYS + ["eval_rewards/chosen", "eval_rewards/rejected",
                             "eval_rewards/accuracies", "eval_rewards/margins",
                             "eval_logps/chosen", "eval_logps/rejected"]
SUMMARY_KEYS = ["train_runtime", "train_samples_per_second", "train_steps_per_second",
                "total_flos", "train_loss", "epoch", "step"]


def missing_reference(what):
    if os.environ.get("CI", "").lower() == "true":
        print(f"ecosystem: {what}, and CI=true: failing", file=sys.stderr)
        sys.exit(1)
    print(f"ecosystem: SKIP: {what} (bash scripts/setup.sh makes .venv with requirements.txt)",
          file=sys.stderr)
    sys.exit(SKIP)


class Refs:
    """The Python references, imported once."""

    def __init__(self, threads):
        for key, value in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"),
                           ("HF_HUB_DISABLE_TELEMETRY", "1"), ("TOKENIZERS_PARALLELISM", "false"),
                           ("TQDM_DISABLE", "1"), ("HF_HUB_DISABLE_PROGRESS_BARS", "1")):
            os.environ.setdefault(key, value)
        warnings.filterwarnings("ignore")
        try:
            import torch
            import peft
            import safetensors
            import safetensors.torch
            import transformers
            from transformers.modelcard import parse_log_history
            from transformers.trainer_callback import TrainerState
            from transformers.trainer_utils import get_last_checkpoint
        except ImportError as e:
            missing_reference(f"a reference module is not importable ({e})")
        self.torch, self.peft, self.transformers = torch, peft, transformers
        self.safetensors, self.load_file = safetensors, safetensors.torch.load_file
        self.TrainerState, self.parse_log_history = TrainerState, parse_log_history
        self.get_last_checkpoint = get_last_checkpoint
        transformers.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
        logging.getLogger("peft").setLevel(logging.ERROR)
        torch.set_num_threads(threads)
        for name, version, want in (("transformers", transformers.__version__, "5.23."),
                                    ("peft", peft.__version__, "0.21.")):
            if not version.startswith(want):
                print(f"ecosystem: note: {name} {version} (the harness was written against "
                      f"{want}x)", file=sys.stderr)

    def versions(self):
        return (f"torch {self.torch.__version__}, transformers {self.transformers.__version__}, "
                f"peft {self.peft.__version__}")


# --------------------------------------------------------------------------------- results

class Checks:
    def __init__(self):
        self.rows = []  # (model, check, status, detail)

    def add(self, model, check, ok, detail=""):
        status = "PASS" if ok else "FAIL"
        self.rows.append((model, check, status, detail))
        return ok

    def note(self, model, check, detail):
        self.rows.append((model, check, "NOTE", detail))

    def fail(self, model, check, detail):
        return self.add(model, check, False, detail)

    def failed(self):
        return [r for r in self.rows if r[2] == "FAIL"]

    def print_table(self):
        header = ("model", "check", "result", "detail")
        lines = [header] + [(m, c, s, d.splitlines()[0] if d else "") for m, c, s, d in self.rows]
        widths = [max(len(line[i]) for line in lines) for i in range(3)]
        for line in lines:
            print("  " + "  ".join(line[i].ljust(widths[i]) for i in range(3)) + "  " + line[3])
        for m, c, s, d in self.rows:  # multi-line details (errors) in full after the table
            if s == "FAIL" and d and "\n" in d:
                print(f"\n  {m} / {c}:")
                for line in d.splitlines():
                    print("    | " + line)


class DpoError(Exception):
    pass


# ------------------------------------------------------------------------------------ data

def make_rows(seed, n, vocab):
    """Pretokenized preference rows (dpo reads them as given): BOS + 0-19 random prompt tokens,
    1-11 random completion tokens, most ending with EOS (id 2); one prompt is BOS alone."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        prompt = [1] + [rng.randrange(3, vocab) for _ in range(0 if i == 1 else rng.randint(2, 19))]
        row = {"prompt_ids": prompt}
        for key in ("chosen_ids", "rejected_ids"):
            ids = [rng.randrange(3, vocab) for _ in range(rng.randint(1, 10))]
            row[key] = ids + ([2] if rng.random() < 0.8 else [rng.randrange(3, vocab)])
        rows.append(row)
    return rows


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")


def write_yaml(path, config):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)  # JSON is YAML
        f.write("\n")


# ------------------------------------------------------------------------------------- dpo

class Dpo:
    def __init__(self, binary, threads, logdir):
        self.binary, self.threads, self.logdir = binary, threads, logdir
        self.calls, self.seconds = 0, 0.0

    def run(self, name, args):
        """Runs `dpo ARGS`; its stdout. DpoError with the end of the log on failure."""
        log_path = os.path.join(self.logdir, f"{name}.log")
        start = time.time()
        proc = subprocess.run([self.binary] + args, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=DPO_TIMEOUT)
        self.calls += 1
        self.seconds += time.time() - start
        with open(log_path, "w", encoding="utf-8") as f:
            f.write("$ dpo " + " ".join(args) + "\n" + proc.stdout + proc.stderr)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-12:])
            raise DpoError(f"`dpo {' '.join(args[:1])}` exited with {proc.returncode}:\n{tail}")
        return proc.stdout

    def eval(self, name, model_dir, adapter, data, out):
        args = ["eval", "--model", model_dir, "--data", data, "--per-example", out, "--json",
                "--device", "cpu", "--dtype", "f32", "--threads", str(self.threads)]
        if adapter:
            args += ["--adapter", adapter]
        self.run(name, args)
        rows = {}
        with open(out, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    row = json.loads(line)
                    rows[int(row["index"])] = row
        return rows

    def generate(self, name, model_dir, adapter, prompt_ids):
        args = ["generate", "--model", model_dir, "--prompt-ids",
                ",".join(str(i) for i in prompt_ids), "--max-new-tokens", str(MAX_NEW_TOKENS),
                "--json", "--device", "cpu", "--dtype", "f32", "--threads", str(self.threads)]
        if adapter:
            args += ["--adapter", adapter]
        lines = [line for line in self.run(name, args).splitlines() if line.startswith("{")]
        return json.loads(lines[-1])["output_ids"]


# ------------------------------------------------------------------------------- reference

def seq_logps(refs, model, rows):
    """[(chosen, rejected)]: the sum of the completion tokens' log-probs, one sequence per
    forward pass (no padding), log-softmax of the float32 logits."""
    torch = refs.torch
    out = []
    with torch.no_grad():
        for row in rows:
            pair = []
            for key in ("chosen_ids", "rejected_ids"):
                ids = torch.tensor([row["prompt_ids"] + row[key]])
                logits = model(input_ids=ids).logits[0].float()
                logp = torch.log_softmax(logits[:-1], dim=-1).gather(1, ids[0, 1:, None])[:, 0]
                pair.append(float(logp[len(row["prompt_ids"]) - 1:].double().sum()))
            out.append(tuple(pair))
    return out


def dpo_logps(per_example, n, which="policy"):
    return [(per_example[i][f"{which}_chosen_logps"], per_example[i][f"{which}_rejected_logps"])
            for i in range(n)]


def compare_logps(got, want, rtol=RTOL, atol=ATOL):
    """(ok, worst relative difference, worst absolute difference)."""
    ok, worst_rel, worst_abs = True, 0.0, 0.0
    for g_pair, w_pair in zip(got, want):
        for g, w in zip(g_pair, w_pair):
            diff = abs(g - w)
            worst_abs = max(worst_abs, diff)
            worst_rel = max(worst_rel, diff / max(abs(w), 1e-30))
            if not (math.isfinite(g) and diff <= atol + rtol * abs(w)):
                ok = False
    return ok and len(got) == len(want), worst_rel, worst_abs


def effect(a, b):
    return max(abs(x - y) for pa, pb in zip(a, b) for x, y in zip(pa, pb))


def python_generate(refs, model, prompt_ids):
    torch = refs.torch
    ids = torch.tensor([prompt_ids])
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                             max_new_tokens=MAX_NEW_TOKENS, do_sample=False, num_beams=1,
                             pad_token_id=2)
    return out[0, len(prompt_ids):].tolist()


class Loader:
    def __init__(self, refs, model_dir):
        self.refs, self.model_dir = refs, model_dir

    def base(self):
        m = self.refs.transformers.AutoModelForCausalLM.from_pretrained(
            self.model_dir, dtype=self.refs.torch.float32)
        return m.eval()

    def peft(self, adapter_dir):
        model = self.refs.peft.PeftModel.from_pretrained(self.base(), adapter_dir)
        return model.eval()

    def hf(self, folder, dtype="float32"):
        """transformers' model of a folder dpo wrote and the loading problems it reports."""
        torch = self.refs.torch
        model, info = self.refs.transformers.AutoModelForCausalLM.from_pretrained(
            folder, dtype=(getattr(torch, dtype) if dtype != "auto" else "auto"),
            output_loading_info=True)
        problems = {k: sorted(v) for k, v in info.items() if v}
        return model.eval(), problems


def adapter_tensors_loaded(refs, model, adapter_dir):
    """Problems (list of strings) when PEFT's adapter state differs from the file: a tensor of
    the file PEFT did not take, one PEFT expects that the file lacks, or a value that differs."""
    torch = refs.torch
    state = refs.peft.get_peft_model_state_dict(model)
    file = refs.load_file(os.path.join(adapter_dir, "adapter_model.safetensors"))
    problems = []
    for key in sorted(set(file) - set(state)):
        problems.append(f"file tensor {key} not taken by PEFT")
    for key in sorted(set(state) - set(file)):
        problems.append(f"PEFT expects {key}, not in the file")
    for key in sorted(set(state) & set(file)):
        if state[key].shape != file[key].shape or not torch.equal(state[key].float().cpu(),
                                                                  file[key].float()):
            problems.append(f"{key}: PEFT holds other values or shape")
    return problems


# ---------------------------------------------------------------------------------- checks

def check_logps(checks, model, name, got, want, base=None, rtol=RTOL, atol=ATOL,
                min_effect=MIN_EFFECT, extra=""):
    ok, rel, absd = compare_logps(got, want, rtol, atol)
    detail = f"worst rel {rel:.2e}, abs {absd:.2e} (tol rtol {rtol:.1e})"
    if base is not None:
        moved = effect(want, base)
        detail += f"; moves log-probs by up to {moved:.3g} nats from the base"
        if moved < min_effect:
            ok = False
            detail += f" (< {min_effect}: the check cannot see a wrong load)"
    return checks.add(model, name, ok, detail + extra)


def check_trainer_state(refs, checks, model, label, path, kind, expected_step, eval_steps,
                        final):
    """final: the run's own trainer_state.json (with the summary entry), not a checkpoint's."""
    name = f"{label} TrainerState"
    if not os.path.exists(path):
        return checks.fail(model, name, f"{path}: not written")
    try:
        state = refs.TrainerState.load_from_json(path)
    except Exception as e:  # noqa: BLE001 - any failure to load is the finding
        return checks.fail(model, name, f"TrainerState.load_from_json: {type(e).__name__}: {e}")
    problems, notes = [], []
    if state.global_step != expected_step or not isinstance(state.global_step, int):
        problems.append(f"global_step {state.global_step!r}, expected {expected_step}")
    for field in ("max_steps", "logging_steps", "save_steps", "num_train_epochs"):
        if not isinstance(getattr(state, field), int):
            problems.append(f"{field} {getattr(state, field)!r} is not an int")
    if state.eval_steps is None:  # transformers' TrainerState keeps its int default (500)
        notes.append("eval_steps is null (no evaluation; transformers writes 500)")
    elif not isinstance(state.eval_steps, int):
        problems.append(f"eval_steps {state.eval_steps!r} is not an int")
    if not isinstance(state.epoch, (int, float)):
        problems.append(f"epoch {state.epoch!r} is not a number")
    train_keys = DPO_TRAIN_KEYS if kind == "dpo" else SFT_TRAIN_KEYS
    train = [e for e in state.log_history if "loss" in e and "train_loss" not in e]
    evals = [e for e in state.log_history if "eval_loss" in e]
    summary = [e for e in state.log_history if "train_runtime" in e]
    if [e.get("step") for e in train] != list(range(1, expected_step + 1)):
        problems.append(f"train entries at steps {[e.get('step') for e in train]}, expected "
                        f"1..{expected_step} (logging_steps 1)")
    # transformers 5 evaluates every eval_steps and at the last step (DefaultFlowCallback)
    want_evals = [s for s in range(1, expected_step + 1) if eval_steps and
                  (s % eval_steps == 0 or s == state.max_steps)]
    if [e.get("step") for e in evals] != want_evals:
        problems.append(f"eval entries at steps {[e.get('step') for e in evals]}, expected "
                        f"{want_evals}")
    eval_keys = DPO_EVAL_KEYS if kind == "dpo" else EVAL_KEYS
    for entries, keys, what in ((train, train_keys, "train"), (evals, eval_keys, "eval"),
                                (summary, SUMMARY_KEYS, "summary")):
        for entry in entries:
            missing = [k for k in keys if k not in entry]
            if missing:
                problems.append(f"{what} entry at step {entry.get('step')} lacks {missing}")
            bad = [k for k, v in entry.items() if not isinstance(v, (int, float)) or
                   isinstance(v, bool)]
            if bad:
                problems.append(f"{what} entry at step {entry.get('step')}: non-numbers {bad}")
            if not isinstance(entry.get("step"), int):
                problems.append(f"{what} entry: step {entry.get('step')!r} is not an int")
    if len(summary) != (1 if final else 0):
        problems.append(f"{len(summary)} summary entries, expected {1 if final else 0}")
    if not (isinstance(state.total_flos, (int, float)) and state.total_flos > 0):
        problems.append(f"total_flos {state.total_flos!r}: not a positive number")
    for entry in summary:
        if entry.get("total_flos") != state.total_flos:
            problems.append(f"summary total_flos {entry.get('total_flos')!r} is not the "
                            f"state's {state.total_flos!r}")
    try:
        _, lines, _ = refs.parse_log_history(state.log_history)
        if final and len(lines or []) != len(want_evals):  # (only with the summary entry)
            problems.append(f"parse_log_history: {len(lines or [])} eval lines")
    except Exception as e:  # noqa: BLE001
        problems.append(f"transformers.modelcard.parse_log_history: {type(e).__name__}: {e}")
    # round trip through transformers' own writer
    copy_path = path + ".roundtrip.json"
    state.save_to_json(copy_path)
    again = refs.TrainerState.load_from_json(copy_path)
    if again.log_history != state.log_history or again.global_step != state.global_step:
        problems.append("save_to_json / load_from_json round trip changes it")
    os.remove(copy_path)
    detail = (f"global_step {state.global_step}, {len(train)} train / {len(evals)} eval / "
              f"{len(summary)} summary entries")
    checks.add(model, name, not problems, "; ".join(problems) if problems else detail)
    for n in notes:
        checks.note(model, name, n)
    return not problems


def check_config_files(refs, checks, model, label, folder, source_dir, want_dtype):
    """config.json and generation_config.json load, with the source's values and `want_dtype`."""
    tf = refs.transformers
    problems = []
    try:
        config = tf.AutoConfig.from_pretrained(folder)
        source = tf.AutoConfig.from_pretrained(source_dir)
        got_dtype = str(config.dtype).replace("torch.", "")
        if got_dtype != want_dtype:
            problems.append(f"config dtype {got_dtype}, expected {want_dtype}")
        a, b = config.to_dict(), source.to_dict()
        differ = sorted(k for k in set(a) | set(b)
                        if k not in ("dtype", "torch_dtype", "transformers_version",
                                     "_name_or_path")
                        and a.get(k) != b.get(k))
        if differ:
            problems.append(f"config keys differ from the source's: "
                            + ", ".join(f"{k}: {a.get(k)!r} vs {b.get(k)!r}" for k in differ))
        generation = tf.GenerationConfig.from_pretrained(folder)
        source_generation = tf.GenerationConfig.from_pretrained(source_dir)
        for key in ("bos_token_id", "eos_token_id", "pad_token_id", "do_sample"):
            if getattr(generation, key) != getattr(source_generation, key):
                problems.append(f"generation_config {key} {getattr(generation, key)!r} vs "
                                f"{getattr(source_generation, key)!r}")
    except Exception as e:  # noqa: BLE001
        problems.append(f"{type(e).__name__}: {e}")
    checks.add(model, f"{label} config.json + generation_config.json", not problems,
               "; ".join(problems) if problems else f"dtype {want_dtype}, same as the source")


def check_tokenizer_files(refs, checks, model, label, folder, source_dir):
    tf = refs.transformers
    text = "The capital of Ireland is Dublin. Preference optimisation, naïve café 42!"
    try:
        got = tf.AutoTokenizer.from_pretrained(folder)(text)["input_ids"]
        want = tf.AutoTokenizer.from_pretrained(source_dir)(text)["input_ids"]
        checks.add(model, f"{label} tokenizer (AutoTokenizer)", got == want,
                   "encodes as the source folder's" if got == want
                   else f"{got} vs the source's {want}")
    except Exception as e:  # noqa: BLE001
        checks.fail(model, f"{label} tokenizer (AutoTokenizer)", f"{type(e).__name__}: {e}")


def check_shards(refs, checks, model, folder):
    """The sharded folder: index.json names every tensor, each in the file it names."""
    index_path = os.path.join(folder, "model.safetensors.index.json")
    if not os.path.exists(index_path):
        return checks.fail(model, "merge f32 sharded: index", "no model.safetensors.index.json")
    with open(index_path, encoding="utf-8") as f:
        index = json.load(f)
    weight_map = index.get("weight_map", {})
    files = sorted(set(weight_map.values()))
    problems, total = [], 0
    for file in files:
        with refs.safetensors.safe_open(os.path.join(folder, file), "pt") as f:
            keys = set(f.keys())
            for key in keys:
                t = f.get_slice(key)
                shape, dtype = t.get_shape(), t.get_dtype()
                total += math.prod(shape) * {"F32": 4, "BF16": 2, "F16": 2}.get(dtype, 0)
        mapped = {k for k, v in weight_map.items() if v == file}
        if keys != mapped:
            problems.append(f"{file}: holds {sorted(keys ^ mapped)[:3]} other than the index says")
    if len(files) < 2:
        problems.append(f"{len(files)} shard(s): --max-shard-size {SHARD_SIZE} did not shard")
    if index.get("metadata", {}).get("total_size") != total:
        problems.append(f"metadata.total_size {index.get('metadata', {}).get('total_size')} vs "
                        f"{total} bytes of tensors")
    checks.add(model, "merge f32 sharded: index", not problems,
               "; ".join(problems) if problems else f"{len(files)} shards, {len(weight_map)} "
               "tensors, total_size right")


def compare_merged_tensors(refs, folder, reference_state, dtype):
    """(problems, summary): dpo's merged tensors against PEFT's merge (float32) converted to
    `dtype`: f32 within 1e-5 of each tensor's scale; bf16 / f16 within one ulp."""
    torch = refs.torch
    dpo_state = {}
    for file in sorted(os.listdir(folder)):
        if file.endswith(".safetensors"):
            dpo_state.update(refs.load_file(os.path.join(folder, file)))
    problems, worst, flipped, count = [], 0.0, 0, 0
    torch_dtype = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}[dtype]
    for key, got in dpo_state.items():
        want = reference_state.get(key)
        if want is None:
            problems.append(f"{key}: not in transformers' model")
            continue
        if got.dtype != torch_dtype:
            problems.append(f"{key}: dtype {got.dtype}")
            continue
        want_c = want.to(torch_dtype)
        if got.shape != want_c.shape:
            problems.append(f"{key}: shape {tuple(got.shape)} vs {tuple(want_c.shape)}")
            continue
        count += got.numel()
        g, w = got.float(), want_c.float()
        diff = (g - w).abs()
        if dtype == "f32":
            rel = float(diff.max()) / max(float(w.abs().max()), 1e-30)
            worst = max(worst, rel)
            if rel > 1e-5:
                problems.append(f"{key}: max|diff|/max|w| {rel:.2e}")
        else:
            # one ulp of the reference value (subnormals: 2^(emin - bits))
            bits, emin = ULP_BITS[dtype]
            exponent = torch.floor(torch.log2(w.abs().clamp_min(2.0 ** emin)))
            ulp = torch.pow(2.0, exponent - bits)
            flipped += int((diff > 0).sum())
            over = diff > ulp * 1.0001
            if bool(over.any()):
                problems.append(f"{key}: {int(over.sum())} values more than one ulp off")
            worst = max(worst, float((diff / ulp).max()))
    if dtype == "f32":
        summary = f"tensors vs PEFT merge_and_unload: worst {worst:.2e} of scale"
    else:
        summary = (f"tensors vs PEFT merge rounded to {dtype}: {flipped} of {count} values one "
                   f"ulp off (rounding of near-ties), worst {worst:.2g} ulp")
    return problems, summary


# ------------------------------------------------------------------------------ one model

def run_model(refs, dpo, checks, name, workdir, threads):
    torch, peft = refs.torch, refs.peft
    model_dir = os.path.join(FIXTURES, name, "model")
    fixture_adapter = os.path.join(FIXTURES, name, "adapter")
    w = os.path.join(workdir, name)
    os.makedirs(w, exist_ok=True)
    dpo.logdir = w
    load = Loader(refs, model_dir)
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
        vocab = json.load(f)["vocab_size"]

    # data
    train_rows = make_rows(SEED + 1, 12, vocab)
    eval_rows = make_rows(SEED + 2, 6, vocab)
    train_path, eval_path = os.path.join(w, "train.jsonl"), os.path.join(w, "eval.jsonl")
    write_jsonl(train_path, train_rows)
    write_jsonl(eval_path, eval_rows)
    n = len(eval_rows)

    base = load.base()
    base_logps = seq_logps(refs, base, eval_rows)

    # ---- dpo train: final adapter + checkpoint-2 (paths relative to the YAML's folder)
    train_cfg = {
        "model_name_or_path": os.path.relpath(model_dir, w),
        "dataset": ["train.jsonl"], "dataset_format": "pretokenized",
        "eval_dataset": ["eval.jsonl"],
        "device": "cpu", "threads": threads, "bf16": False,
        "beta": 0.1, "loss_type": ["sigmoid"],
        "learning_rate": 0.05, "lr_scheduler_type": "constant",
        "per_device_train_batch_size": 4, "per_device_eval_batch_size": 4,
        "gradient_accumulation_steps": 1, "max_steps": 3,
        "logging_steps": 1, "eval_steps": 2, "save_steps": 2,
        "seed": SEED, "output_dir": "dpo_run", "report_to": ["jsonl"],
    }
    train_cfg.update(LORA[name])
    write_yaml(os.path.join(w, "train.yaml"), train_cfg)
    run_dir = os.path.join(w, "dpo_run")
    final, ckpt = run_dir, os.path.join(run_dir, "checkpoint-2")
    trained = True
    try:
        dpo.run("train", ["train", os.path.join(w, "train.yaml"), "--no-progress"])
    except DpoError as e:
        trained = checks.fail(name, "dpo train", str(e))

    policy_final = None  # base + final adapter: dpo eval's log-probs (else PEFT's)
    versus = None
    if trained:
        for label, adapter_dir in (("final adapter", final), ("checkpoint-2 adapter", ckpt)):
            tag = label.split()[0]
            try:
                rows = dpo.eval(f"eval_{tag}", model_dir, adapter_dir, eval_path,
                                os.path.join(w, f"per_example_{tag}.jsonl"))
            except DpoError as e:
                rows = checks.fail(name, f"{label}: dpo eval", str(e)) or None
            try:
                pm = load.peft(adapter_dir)
            except Exception as e:  # noqa: BLE001
                checks.fail(name, f"{label}: PEFT loads", f"{type(e).__name__}: {e}")
                continue
            problems = adapter_tensors_loaded(refs, pm, adapter_dir)
            cfg = pm.peft_config["default"]
            if cfg.r != LORA[name]["lora_r"] or cfg.lora_alpha != LORA[name]["lora_alpha"] or \
                    bool(cfg.use_rslora) != bool(LORA[name].get("use_rslora", False)):
                problems.append(f"PEFT config r {cfg.r} alpha {cfg.lora_alpha} rslora "
                                f"{cfg.use_rslora}, dpo was given {LORA[name]}")
            modules = sum(1 for _, m in pm.named_modules() if hasattr(m, "lora_A")
                          and "default" in getattr(m, "lora_A", {}))
            checks.add(name, f"{label}: PEFT loads", not problems,
                       "; ".join(problems[:3]) if problems
                       else f"{modules} LoRA modules, every tensor of the file taken as is")
            py = seq_logps(refs, pm, eval_rows)
            if rows is not None:
                check_logps(checks, name, f"{label}: log-probs PEFT vs dpo eval",
                            dpo_logps(rows, n), py, base_logps)
            if label != "final adapter":
                continue
            policy_final = dpo_logps(rows, n) if rows is not None else py
            versus = "dpo eval base+adapter" if rows is not None else "PEFT base+adapter"
            if rows is not None:
                check_logps(checks, name, "base model: log-probs transformers vs dpo eval ref",
                            dpo_logps(rows, n, "reference"), base_logps)
            try:
                auto = refs.peft.AutoPeftModelForCausalLM.from_pretrained(
                    adapter_dir, dtype=torch.float32).eval()
                check_logps(checks, name, "final adapter: AutoPeftModelForCausalLM",
                            policy_final, seq_logps(refs, auto, eval_rows))
            except Exception as e:  # noqa: BLE001
                checks.fail(name, "final adapter: AutoPeftModelForCausalLM",
                            f"{type(e).__name__}: {e}")
            # dpo generate with its own adapter, against PEFT
            prompt = max(eval_rows, key=lambda r: len(r["prompt_ids"]))["prompt_ids"]
            try:
                got = dpo.generate("generate_final", model_dir, adapter_dir, prompt)
                want = python_generate(refs, pm, prompt)
                checks.add(name, "final adapter: dpo generate vs PEFT generate",
                           got == want, f"{got}" if got == want else f"dpo {got} vs PEFT {want}")
            except DpoError as e:
                checks.fail(name, "final adapter: dpo generate vs PEFT generate", str(e))
        for label, path, step in (("final", final, 3), ("checkpoint-2", ckpt, 2)):
            check_trainer_state(refs, checks, name, f"{label} dpo train",
                                os.path.join(path, "trainer_state.json"), "dpo", step, 2,
                                final=path == final)
        last = refs.get_last_checkpoint(run_dir)
        want_last = os.path.join(run_dir, "checkpoint-3")
        checks.add(name, "get_last_checkpoint(dpo train output)",
                   last is not None and os.path.samefile(last, want_last),
                   f"{os.path.relpath(last, w) if last else None}")

    # ---- dpo merge of the final adapter: f32, bf16, f16, f32 sharded
    if trained:
        try:
            merged_reference = load.peft(final).merge_and_unload().eval()
            merged_state = {k: v.detach().float().clone()
                            for k, v in merged_reference.state_dict().items()}
        except Exception as e:  # noqa: BLE001
            merged_reference = None
            checks.fail(name, "PEFT merge_and_unload", f"{type(e).__name__}: {e}")
        for label, dtype, extra in (("merge f32", "f32", []), ("merge bf16", "bf16", []),
                                    ("merge f16", "f16", []),
                                    ("merge f32 sharded", "f32", ["--max-shard-size",
                                                                  SHARD_SIZE])):
            out = os.path.join(w, label.replace(" ", "_"))
            try:
                dpo.run(label.replace(" ", "_"),
                        ["merge", "--model", model_dir, "--adapter", final, "--output", out,
                         "--dtype", dtype, "--threads", str(threads)] + extra)
            except DpoError as e:
                checks.fail(name, f"{label}: dpo merge", str(e))
                continue
            hf_dtype = {"f32": "float32", "bf16": "bfloat16", "f16": "float16"}[dtype]
            try:
                model, problems = load.hf(out, "auto")
            except Exception as e:  # noqa: BLE001
                checks.fail(name, f"{label}: transformers loads", f"{type(e).__name__}: {e}")
                continue
            got_dtype = str(model.dtype).replace("torch.", "")
            load_ok = not problems and got_dtype == hf_dtype
            checks.add(name, f"{label}: transformers loads", load_ok,
                       f"dtype auto -> {got_dtype}"
                       + ("" if got_dtype == hf_dtype else f" (expected {hf_dtype})")
                       + (f"; {problems}" if problems else
                                                      ", no missing/unexpected/mismatched keys"))
            if dtype == "f32" and not extra:
                check_config_files(refs, checks, name, label, out, model_dir, hf_dtype)
                check_tokenizer_files(refs, checks, name, label, out, model_dir)
            if dtype != "f32":
                check_config_files(refs, checks, name, label, out, model_dir, hf_dtype)
            if extra:
                check_shards(refs, checks, name, out)
            if merged_reference is not None and not extra:
                tensor_problems, summary = compare_merged_tensors(refs, out, merged_state, dtype)
                checks.add(name, f"{label}: tensors", not tensor_problems,
                           "; ".join(tensor_problems[:3]) if tensor_problems else summary)
            logps = seq_logps(refs, model.float(), eval_rows)
            if dtype == "f32":
                if policy_final is not None:
                    check_logps(checks, name, f"{label}: log-probs transformers vs {versus}",
                                logps, policy_final)
            else:
                if merged_reference is not None:
                    torch_dtype = getattr(torch, hf_dtype)
                    rounded = load.base()
                    rounded.load_state_dict({k: v.to(torch_dtype).float()
                                             for k, v in merged_state.items()}, strict=False)
                    check_logps(checks, name, f"{label}: log-probs vs PEFT merge rounded to "
                                f"{dtype}", logps, seq_logps(refs, rounded, eval_rows))
                if policy_final is not None:
                    check_logps(checks, name, f"{label}: log-probs vs {versus} (f32)",
                                logps, policy_final, rtol=HALF_RTOL[dtype])

    # ---- dpo sft (full fine-tuning): the model folders transformers loads
    sft_cfg = {
        "model_name_or_path": os.path.relpath(model_dir, w),
        "dataset": [SFT_DATA], "device": "cpu", "threads": threads, "bf16": False,
        "use_peft": False, "completion_only_loss": True, "learning_rate": 5e-3,
        "lr_scheduler_type": "constant", "per_device_train_batch_size": 4, "max_steps": 3,
        "logging_steps": 1, "save_steps": 2, "seed": SEED, "output_dir": "sft_run",
        "report_to": ["jsonl"],
    }
    write_yaml(os.path.join(w, "sft.yaml"), sft_cfg)
    sft_dir = os.path.join(w, "sft_run")
    try:
        dpo.run("sft", ["sft", os.path.join(w, "sft.yaml"), "--no-progress"])
        sft_ok = True
    except DpoError as e:
        sft_ok = checks.fail(name, "dpo sft", str(e))
    if sft_ok:
        for label, folder, step in (("sft final", sft_dir, 3),
                                    ("sft checkpoint-2", os.path.join(sft_dir, "checkpoint-2"),
                                     2)):
            try:
                rows = dpo.eval(f"eval_{label.replace(' ', '_')}", folder, None, eval_path,
                                os.path.join(w, f"per_example_{label.replace(' ', '_')}.jsonl"))
            except DpoError as e:
                checks.fail(name, f"{label}: dpo eval", str(e))
                continue
            try:
                model, problems = load.hf(folder, "auto")
            except Exception as e:  # noqa: BLE001
                checks.fail(name, f"{label}: transformers loads", f"{type(e).__name__}: {e}")
                continue
            got_dtype = str(model.dtype).replace("torch.", "")
            checks.add(name, f"{label}: transformers loads",
                       not problems and got_dtype == "float32",
                       f"dtype auto -> {got_dtype}" + (f"; {problems}" if problems else
                                                      ", no missing/unexpected/mismatched keys"))
            check_logps(checks, name, f"{label}: log-probs transformers vs dpo eval",
                        dpo_logps(rows, n), seq_logps(refs, model, eval_rows), base_logps)
            if label == "sft final":
                check_config_files(refs, checks, name, label, folder, model_dir, "float32")
                check_tokenizer_files(refs, checks, name, label, folder, model_dir)
            check_trainer_state(refs, checks, name, label,
                                os.path.join(folder, "trainer_state.json"), "sft", step, 0,
                                final=folder == sft_dir)

    # ---- adapters PEFT made: the fixture's, and one made here from a seeded init
    made = os.path.join(w, "peft_made_adapter")
    torch.manual_seed(SEED)
    made_model = peft.get_peft_model(load.base(), peft.LoraConfig(
        r=6, lora_alpha=10, lora_dropout=0.1, bias="none", task_type="CAUSAL_LM",
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                        "down_proj"],
        rank_pattern={"down_proj": 3, "layers.0.self_attn.q_proj": 2},
        alpha_pattern={"v_proj": 4}))
    generator = torch.Generator().manual_seed(SEED + 7)
    with torch.no_grad():
        for key, param in made_model.named_parameters():
            if "lora_B" in key:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.05)
    made_model.save_pretrained(made)
    del made_model
    prompt = max(eval_rows, key=lambda r: len(r["prompt_ids"]))["prompt_ids"]
    for label, adapter_dir in (("fixture adapter (PEFT)", fixture_adapter),
                               ("seeded adapter (PEFT)", made)):
        pm = load.peft(adapter_dir)
        tag = label.split()[0]
        try:
            rows = dpo.eval(f"eval_{tag}", model_dir, adapter_dir, eval_path,
                            os.path.join(w, f"per_example_{tag}.jsonl"))
            check_logps(checks, name, f"{label}: log-probs dpo eval vs PEFT",
                        dpo_logps(rows, n), seq_logps(refs, pm, eval_rows), base_logps)
            check_logps(checks, name, f"{label}: dpo eval reference vs base",
                        dpo_logps(rows, n, "reference"), base_logps)
        except DpoError as e:
            checks.fail(name, f"{label}: dpo eval", str(e))
        try:
            got = dpo.generate(f"generate_{tag}", model_dir, adapter_dir, prompt)
            want = python_generate(refs, pm, prompt)
            checks.add(name, f"{label}: dpo generate vs PEFT generate", got == want,
                       f"{got}" if got == want else f"dpo {got} vs PEFT {want}")
        except DpoError as e:
            checks.fail(name, f"{label}: dpo generate", str(e))
        if adapter_dir != made:
            continue
        # dpo merge of PEFT's rank_pattern / alpha_pattern adapter, against PEFT's own merge
        out = os.path.join(w, "merge_seeded_f32")
        try:
            dpo.run("merge_seeded", ["merge", "--model", model_dir, "--adapter", made, "--output",
                                     out, "--dtype", "f32", "--threads", str(threads)])
            state = {k: v.detach().float().clone()
                     for k, v in pm.merge_and_unload().state_dict().items()}
            problems, summary = compare_merged_tensors(refs, out, state, "f32")
            checks.add(name, f"{label}: dpo merge tensors", not problems,
                       "; ".join(problems[:3]) if problems else summary)
        except DpoError as e:
            checks.fail(name, f"{label}: dpo merge", str(e))


# ------------------------------------------------------------------------------------ main

def find_binary(explicit):
    if explicit:
        return os.path.abspath(explicit)
    for candidate in ("build/dpo", "build-debian/dpo"):
        path = os.path.join(ROOT, candidate)
        if os.access(path, os.X_OK):
            return path
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dpo", help="the dpo binary (default: build/dpo, else build-debian/dpo)")
    parser.add_argument("--models", default=",".join(MODELS),
                        help=f"fixture models, comma-separated (default {','.join(MODELS)})")
    parser.add_argument("--workdir", help="where runs go (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the run folders")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads of torch and of dpo (default 1)")
    args = parser.parse_args()
    models = [m for m in args.models.split(",") if m]
    for m in models:
        if m not in MODELS:
            parser.error(f"--models: unknown fixture {m} (choose from {', '.join(MODELS)})")

    t0 = time.time()
    refs = Refs(args.threads)  # first: without the references the test skips
    binary = find_binary(args.dpo)
    if not binary or not os.access(binary, os.X_OK):
        print(f"ecosystem: no dpo binary ({args.dpo or 'build/dpo, build-debian/dpo'}); build it "
              "or pass --dpo", file=sys.stderr)
        return 1
    print(f"ecosystem: {refs.versions()}; dpo {binary}; import {time.time() - t0:.1f}s")
    made_workdir = args.workdir is None
    workdir = os.path.abspath(args.workdir or tempfile.mkdtemp(prefix="ecosystem_"))
    os.makedirs(workdir, exist_ok=True)
    dpo = Dpo(binary, args.threads, workdir)
    checks = Checks()
    for name in models:
        t = time.time()
        try:
            run_model(refs, dpo, checks, name, workdir, args.threads)
        except Exception as e:  # noqa: BLE001 - an unexpected error fails the model, not the run
            import traceback
            checks.fail(name, "harness", f"{type(e).__name__}: {e}\n" + traceback.format_exc())
        print(f"ecosystem: {name}: {time.time() - t:.1f}s")

    print()
    checks.print_table()
    failed = checks.failed()
    print(f"\necosystem: {len(checks.rows) - len(failed)} of {len(checks.rows)} checks pass"
          f" ({sum(1 for r in checks.rows if r[2] == 'NOTE')} notes); {dpo.calls} dpo runs "
          f"({dpo.seconds:.1f}s); total {time.time() - t0:.1f}s; runs in {workdir}"
          + ("" if (args.keep or not made_workdir) else " (removed)"))
    if made_workdir and not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
