#!/usr/bin/env python3
"""Parity harness: Hugging Face TRL's DPOTrainer against `dpo train`, on the same rows, from the
same initial LoRA adapter, metric by metric and step by step.

For each case it
  1. writes a small preference dataset (24 train rows, 7 eval rows; standard prompt / chosen /
     rejected strings of varied lengths; 7 is not a multiple of the eval batch size 4, so the
     sample-weighted eval_loss and the batch-averaged eval_ metrics are both exercised); the
     conversational and implicit cases get the same content as prompt / chosen / rejected
     message lists (rendered with the llama-2 chat template on both sides: the fixture tokenizer
     has none) or as chosen / rejected strings with the prompt inside,
  2. makes a PEFT LoRA adapter on the model from a fixed torch seed (r 8, alpha 16, dropout 0,
     q,k,v,o,gate,up,down; lora_B random and non-zero by default, so that the reference "base +
     starting adapter, frozen" differs from the base model) and saves it,
  3. trains it with TRL's DPOTrainer in fp32 on the CPU (PeftModel.from_pretrained(...,
     is_trainable=True): TRL copies the adapter into a frozen "ref" adapter for the reference):
     10 optimizer steps of batch 4 x gradient accumulation 2, linear schedule with 2 warmup
     steps, max_grad_norm 1, logging every step, evaluation every 5 steps with eval batch 4,
  4. trains the same adapter with `dpo train` from the equivalent YAML config
     (adapter_name_or_path = the saved adapter; every key whose dpo default differs from TRL's
     set explicitly),
  5. compares TRL's trainer.state.log_history with dpo's trainer_state.json log_history (or
     metrics.jsonl) key by key at every logged step (train, eval_ and the final summary) and the
     final adapter tensors, and prints a table of every mismatch.

usage: tests/parity/trl_dpo.py [--dpo BINARY] [--model DIR] [--case NAME[,NAME...]]
                               [--workdir DIR] [--keep] [--b-init random|zero] [--trl-only]
NAME: a case, or the group all (CASES) or extended (EXTENDED_CASES: more row formats and loss
options, out of all to keep it short).
exit: 0 every case matches; 1 a mismatch, a metric TRL logs that dpo does not, or an error;
77 torch / transformers / peft / trl / datasets / tokenizers / safetensors are not importable (CTest
SKIP_RETURN_CODE), except with CI=true, where a missing reference is a failure (1).

Tolerances: a metric matches when |dpo - trl| <= ATOL + RTOL * |trl| (RTOL 1e-4, ATOL 1e-6 for
values near zero; 1e-5 for rewards/chosen, rewards/rejected, rewards/margins: beta x differences
of fp32 log-probs of magnitude ~100, they carry ~1e-6 of rounding while they are near 0; 5e-5 for
KTO's kl, the same differences unscaled). rewards/accuracies is skipped in an
entry where the policy equals the reference up to rounding (at_reference). An adapter tensor
matches when max |dpo - trl| <= ADAPTER_TOL * max |trl| (per tensor).

Keys not compared (EXCLUDED_KEYS): the wall-clock timings train_runtime,
train_samples_per_second, train_steps_per_second, eval_runtime, eval_samples_per_second,
eval_steps_per_second (they measure the machine, not the training). total_flos (transformers'
estimate, 6 x TRL's padded input_ids positions x the parameters outside the embeddings) is
compared like any number (src/train/flos.h). Keys only dpo logs
(tokens_per_second, elapsed_seconds, reference_forwards, ...) are listed, not failed.

Data order: dpo's sampler (src/data/sampler.cpp) draws the order TRL's Trainer draws
(accelerate's SeedableRandomSampler: epoch e, a CPU torch.Generator seeded with seed + e, then
torch.randperm(n)), so TRL runs with its own, untouched sampling; the harness records the order
TRL trained on and checks it against that specification (torch_epoch_order below).
"""
import argparse
import copy
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SKIP = 77
RTOL = 1e-4
ATOL = 1e-6
# rewards (chosen, rejected, margins) are beta x differences of fp32 log-probs of magnitude ~100:
# they carry ~1e-6 of rounding in absolute terms, which is all there is while they are near 0.
ATOL_REWARDS = 1e-5
# KTO's kl: the batch mean of (policy - reference) log-probs of the KL sequences, each of
# magnitude ~100 in fp32 (~1e-5 of rounding each), not scaled by beta; near 0 early on.
ATOL_KL = 5e-5
ADAPTER_TOL = 1e-4
SEED = 42  # the training seed (TRL seed and data_seed, dpo seed)
ADAPTER_SEED = 1234  # torch seed of the starting adapter
LEARNING_RATE = 2e-3  # large enough that the metrics move visibly in 10 steps on a random model
MAX_STEPS = 10
TRUNCATION_MAX_LENGTH = 24  # the truncation case: drops 4 train rows (prompt >= 24 tokens: 20
# rows, so the last step of each epoch has one micro-batch), cuts 18 train and 5 eval sequences
TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

EXCLUDED_KEYS = {
    "train_runtime": "wall-clock time",
    "train_samples_per_second": "wall-clock rate",
    "train_steps_per_second": "wall-clock rate",
    "eval_runtime": "wall-clock time",
    "eval_samples_per_second": "wall-clock rate",
    "eval_steps_per_second": "wall-clock rate",
}

# The cases. `shared`: settings with the same name and meaning in DPOConfig and dpo's YAML.
# `trl` / `dpo`: settings for one side only. `trl_same_as`: TRL's run is identical to that
# case's (padding_free: TRL 1.16 ignores it and pads), so it is reused.
CASES = {
    "sigmoid": {"shared": {}},
    "ipo": {"shared": {"loss_type": ["ipo"]}},
    "hinge": {"shared": {"loss_type": ["hinge"]}},
    "multi": {"shared": {"loss_type": ["sigmoid", "bco_pair"], "loss_weights": [0.8, 0.2]}},
    "label_smoothing": {"shared": {"label_smoothing": 0.1}},
    "precompute": {"shared": {"precompute_ref_log_probs": True}},
    "truncation": {
        "shared": {"max_length": TRUNCATION_MAX_LENGTH, "truncation_mode": "keep_start"},
    },
    # dpo's default layout: packed rows, each pair's prompt computed once (prompt_sharing)
    "padding_free": {"dpo": {"padding_free": True}, "trl_same_as": "sigmoid"},
    "packed": {"dpo": {"padding_free": True, "prompt_sharing": False}, "trl_same_as": "sigmoid"},
}
# `--case extended`: more row formats and loss options, compared like the cases above. Kept out of
# `all` so that `all` stays under 4 minutes with 1 thread on a 2-core machine (each is a TRL run
# of ~15-30 s; `all` is ~2.5 minutes).
EXTENDED_CASES = {
    "conversational": {"rows": "conversational"},
    "implicit": {"rows": "implicit"},
    "implicit_conversational": {"rows": "implicit_conversational"},
    "use_weighting": {"shared": {"use_weighting": True}},
    "ld_alpha": {"shared": {"ld_alpha": 0.5}},
    "f_divergence": {"shared": {"loss_type": ["ipo"], "f_divergence_type": "alpha_divergence",
                                "f_alpha_divergence_coef": 0.3}},
    "sigmoid_norm": {"shared": {"loss_type": ["sigmoid_norm"]}},
    "sft_term": {"shared": {"loss_type": ["sigmoid", "sft"]}},
}
# `--case losses`: every other loss type TRL 1.16 has, one case each (their formulas are also
# unit-tested in tests/train/losses_test.cpp; here the whole 10-step runs are compared).
LOSS_CASES = {
    "exo_pair": {"shared": {"loss_type": ["exo_pair"], "label_smoothing": 1e-3}},
    "nca_pair": {"shared": {"loss_type": ["nca_pair"]}},
    "robust": {"shared": {"loss_type": ["robust"], "label_smoothing": 0.1}},
    "bco_pair": {"shared": {"loss_type": ["bco_pair"]}},
    "sppo_hard": {"shared": {"loss_type": ["sppo_hard"]}},
    "aot": {"shared": {"loss_type": ["aot"]}},
    "aot_unpaired": {"shared": {"loss_type": ["aot_unpaired"]}},
    "apo_zero": {"shared": {"loss_type": ["apo_zero"]}},
    "apo_down": {"shared": {"loss_type": ["apo_down"]}},
    "discopop": {"shared": {"loss_type": ["discopop"]}},
}
# Not in `all`: TRL's deprecated keep_end cuts chosen and rejected each on its own, dpo cuts the
# shared prompt once (src/data/truncate.h documents it): expected to differ where lengths differ.
EXTRA_CASES = {
    "truncation_keep_end": {
        "shared": {"max_length": TRUNCATION_MAX_LENGTH, "truncation_mode": "keep_end"},
    },
}


def missing_reference(what, tool="trl_dpo"):
    if os.environ.get("CI", "").lower() == "true":
        print(f"{tool}: {what}, and CI=true: failing", file=sys.stderr)
        sys.exit(1)
    print(f"{tool}: SKIP: {what} (bash scripts/setup.sh makes .venv with requirements.txt)",
          file=sys.stderr)
    sys.exit(SKIP)


# ------------------------------------------------------------------------------------- data

_FACTS = [
    ("What is the capital of Ireland?", "Dublin.", "Cork, I believe, although I am not sure."),
    ("Name the largest planet in the solar system.", "Jupiter is the largest planet.", "Mars."),
    ("How many legs does a spider have?", "A spider has eight legs.", "Six legs, like an insect."),
    ("What is the boiling point of water at sea level in Celsius?",
     "Water boils at one hundred degrees Celsius at sea level.", "Fifty degrees."),
    ("Who wrote the play Hamlet?", "William Shakespeare wrote Hamlet.",
     "It was written by Charles Dickens in the nineteenth century, as far as I remember."),
    ("What is the chemical symbol for gold?", "Au.", "Go, short for gold."),
    ("Which ocean lies between Europe and North America?", "The Atlantic Ocean.",
     "The Pacific Ocean, which is the largest ocean on the planet."),
    ("What is seven times eight?", "Seven times eight is fifty-six.", "Fifty-four."),
    ("What gas do plants absorb from the air for photosynthesis?",
     "Plants absorb carbon dioxide and release oxygen.", "Oxygen."),
    ("What is the capital of Australia?", "Canberra is the capital of Australia.",
     "Sydney, the biggest and best known city of the country."),
    ("How many continents are there?", "There are seven continents.", "Five."),
    ("What is the freezing point of water in Fahrenheit?", "Thirty-two degrees Fahrenheit.",
     "Zero degrees Fahrenheit, the same as in Celsius."),
    ("Which metal is liquid at room temperature?", "Mercury is liquid at room temperature.",
     "Iron."),
    ("What is the square root of eighty-one?", "Nine.", "Eight, or maybe nine point five."),
    ("Who painted the Mona Lisa?", "Leonardo da Vinci painted the Mona Lisa.",
     "Vincent van Gogh painted it in Paris."),
    ("What is the longest river in Africa?", "The Nile is the longest river in Africa.",
     "The Congo."),
    ("How many days are there in a leap year?", "A leap year has three hundred sixty-six days.",
     "Three hundred sixty-five days, the same as every year."),
    ("What is the hardest natural substance?", "Diamond.", "Granite, which is very hard."),
    ("Which planet is known as the red planet?", "Mars is known as the red planet.", "Venus."),
    ("What language has the most native speakers?",
     "Mandarin Chinese has the most native speakers.", "English."),
    ("In which year did the first person walk on the Moon?", "In 1969.",
     "In 1975, during the space shuttle program."),
    ("What is the main ingredient of guacamole?", "Avocado is the main ingredient.",
     "Tomato."),
    ("What is the smallest prime number?", "Two is the smallest prime number.",
     "One, because it can only be divided by itself."),
    ("Which organ pumps blood through the human body?", "The heart pumps blood.",
     "The lungs pump blood, and the heart stores oxygen."),
    ("What is the capital of Canada?", "Ottawa.", "Toronto, the largest city in Canada."),
    ("How many sides does a hexagon have?", "A hexagon has six sides.", "Eight sides."),
    ("What do bees make?", "Bees make honey and wax.", "Milk."),
    ("Which is the tallest mountain above sea level?",
     "Mount Everest is the tallest mountain above sea level.", "Kilimanjaro."),
    ("What is the currency of Japan?", "The yen.", "The yuan, which is also used in China."),
    ("What is the opposite of north?", "South.", "East, if you turn around."),
]
_LONG_PROMPT = (
    "You are a careful assistant. Read the following background before answering. The city was "
    "founded on a river crossing, grew into a trading port over several centuries, became the "
    "seat of government after a long dispute with a rival town, and is today known for its "
    "libraries, its old bridges and its many small theatres.\nQuestion: Which of these facts "
    "explains why the city became a trading port?")


_SYSTEM = "Answer briefly and correctly."


def make_records():
    """(train, eval): 24 and 7 records (system or None, question, chosen, rejected), the content
    every row format is made from; one train question is long (the truncation case drops it
    under keep_start)."""
    records = []
    for i, (question, chosen, rejected) in enumerate(_FACTS):
        records.append((_SYSTEM if i % 5 == 3 else None, question, chosen, rejected))
    records.insert(7, (None, _LONG_PROMPT, "It grew around the river crossing.", "Its theatres."))
    train, evaluation = records[:24], records[24:]
    assert len(train) == 24 and len(evaluation) == 7
    return train, evaluation


def standard_prompt(system, question):
    if question == _LONG_PROMPT:
        return _LONG_PROMPT + "\nAnswer:"
    prompt = f"Question: {question}\nAnswer:"
    return f"{system}\n{prompt}" if system else prompt


def standard_rows(records):
    """prompt / chosen / rejected strings; a few prompts span two lines."""
    return [{"prompt": standard_prompt(system, question), "chosen": " " + chosen,
             "rejected": " " + rejected} for system, question, chosen, rejected in records]


def chat_prompt(system, question):
    return ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": question}]


def conversational_rows(records):
    """prompt / chosen / rejected message lists (a system message where the standard prompt has
    its extra line)."""
    return [{"prompt": chat_prompt(system, question),
             "chosen": [{"role": "assistant", "content": chosen}],
             "rejected": [{"role": "assistant", "content": rejected}]}
            for system, question, chosen, rejected in records]


def implicit_rows(records):
    """chosen / rejected strings holding the prompt (TRL's extract_prompt finds it: up to the
    first character where they differ, less a space before it; answers that start alike, such as
    " The Atlantic" / " The Pacific" or " In 1969" / " In 1975", move the split into them)."""
    return [{"chosen": row["prompt"] + row["chosen"], "rejected": row["prompt"] + row["rejected"]}
            for row in standard_rows(records)]


def implicit_conversational_rows(records):
    """chosen / rejected message lists holding the prompt's messages (TRL's extract_prompt: the
    leading messages they share)."""
    return [{"chosen": row["prompt"] + row["chosen"], "rejected": row["prompt"] + row["rejected"]}
            for row in conversational_rows(records)]


ROW_FORMATS = {  # rows key of a case -> (row maker, dpo's dataset_format, chat template needed)
    "standard": (standard_rows, "standard", False),
    "conversational": (conversational_rows, "conversational", True),
    "implicit": (implicit_rows, "implicit", False),
    "implicit_conversational": (implicit_conversational_rows, "conversational", True),
}

# Llama 2's chat template, the source of dpo's built-in `llama-2` (`dpo chat render
# --chat-template llama-2 --print-template` prints it; the harness uses that when it has the
# binary): the fixture tokenizer has no chat template, so both sides get this one.
LLAMA2_CHAT_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set "
    "system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set "
    "system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] "
    "== 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate "
    "user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != "
    "false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + "
    "message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if "
    "message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif "
    "message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}"
    "{% endfor %}")
CHAT_TEMPLATE_NAME = "llama-2"


def builtin_chat_template(binary, model_dir, name=CHAT_TEMPLATE_NAME):
    """(source, where): dpo's built-in template as dpo prints it, else the copy above."""
    if binary:
        proc = subprocess.run([binary, "chat", "render", "--tokenizer", model_dir,
                               "--chat-template", name, "--print-template"],
                              capture_output=True, text=True, timeout=60)
        if proc.returncode == 0 and proc.stdout.strip():
            text = proc.stdout  # (printed with a newline after it)
            return (text[:-1] if text.endswith("\n") else text), "dpo --print-template"
    return LLAMA2_CHAT_TEMPLATE, "the harness's copy"


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


# ------------------------------------------------------------------------------- data order

class MT19937:
    """The standard 32-bit Mersenne Twister (std::mt19937; torch's CPU generator engine)."""

    def __init__(self, seed):
        self.mt = [0] * 624
        self.mt[0] = seed & 0xFFFFFFFF
        for i in range(1, 624):
            prev = self.mt[i - 1]
            self.mt[i] = (1812433253 * (prev ^ (prev >> 30)) + i) & 0xFFFFFFFF
        self.index = 624

    def __call__(self):
        if self.index >= 624:
            for k in range(624):
                y = (self.mt[k] & 0x80000000) | (self.mt[(k + 1) % 624] & 0x7FFFFFFF)
                self.mt[k] = self.mt[(k + 397) % 624] ^ (y >> 1) ^ (0x9908B0DF if y & 1 else 0)
            self.index = 0
        y = self.mt[self.index]
        self.index += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C5680
        y ^= (y << 15) & 0xEFC60000
        y ^= y >> 18
        return y


def torch_epoch_order(n, epoch, seed):
    """What TRL's Trainer draws for epoch e (accelerate's SeedableRandomSampler: a CPU
    torch.Generator seeded with seed + e, then torch.randperm(n)), written out as the algorithm
    dpo's sampler (torch_randperm) implements: std::mt19937 gen(seed + e) (torch keeps the low 32 bits of
    the seed); order = 0..n-1; for i in 0..n-2: swap(order[i], order[i + gen() % (n - i)])
    (torch's randperm_cpu for n < 2^32 / 20)."""
    gen = MT19937(seed + epoch)
    order = list(range(n))
    for i in range(n - 1):
        z = gen() % (n - i)
        order[i], order[i + z] = order[i + z], order[i]
    return order


def expected_batches(order_fn, n, batch_size, steps, grad_accum, seed):
    """The micro-batches (lists of dataset positions) of the first `steps` optimizer steps, as
    transformers groups them: gradient_accumulation_steps per step, fewer for the last step of
    an epoch whose micro-batch count is not a multiple."""
    batches, epoch, groups = [], 0, 0
    while groups < steps:
        order = order_fn(n, epoch, seed)
        epoch_batches = [order[i:i + batch_size] for i in range(0, n, batch_size)]
        for g in range(0, len(epoch_batches), grad_accum):
            if groups == steps:
                break
            batches += epoch_batches[g:g + grad_accum]
            groups += 1
        epoch += 1
    return batches


# ------------------------------------------------------------------------------- references

class Refs:
    """The Python references, imported once."""

    def __init__(self, threads, tool="trl_dpo"):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        os.environ.setdefault("TQDM_DISABLE", "1")
        os.environ.setdefault("ACCELERATE_USE_CPU", "true")
        # transformers 5 / TRL deprecation notices (gradient_checkpointing naming, keep_end)
        warnings.filterwarnings("ignore", category=FutureWarning)
        try:
            import torch
            import datasets
            import peft
            import safetensors.torch
            import tokenizers  # noqa: F401
            import transformers
            import trl
            from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer
        except ImportError as e:  # noqa: F841
            missing_reference(f"a reference module is not importable ({e})", tool)
        self.torch, self.datasets, self.peft, self.transformers, self.trl = (
            torch, datasets, peft, transformers, trl)
        self.safetensors = safetensors.torch
        self.DPOConfig, self.DPOTrainer = DPOConfig, DPOTrainer
        self.SFTConfig, self.SFTTrainer = SFTConfig, SFTTrainer
        transformers.logging.set_verbosity_error()
        datasets.disable_progress_bars()
        datasets.logging.set_verbosity_error()
        torch.set_num_threads(threads)
        if not trl.__version__.startswith("1.16."):
            print(f"{tool}: note: trl {trl.__version__} (the harness was written against 1.16)",
                  file=sys.stderr)

    def versions(self):
        return (f"torch {self.torch.__version__}, transformers {self.transformers.__version__}, "
                f"peft {self.peft.__version__}, trl {self.trl.__version__}")


def make_adapter(refs, model_dir, out_dir, b_init):
    """A PEFT LoRA adapter from a fixed seed: PEFT's init (A kaiming-uniform, B zero), then with
    b_init=random B ~ N(0, 0.02^2), so that base + adapter differs from the base."""
    torch, peft = refs.torch, refs.peft
    torch.manual_seed(ADAPTER_SEED)
    base = refs.transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    config = peft.LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=TARGET_MODULES,
                             bias="none", task_type="CAUSAL_LM")
    model = peft.get_peft_model(base, config)
    if b_init == "random":
        generator = torch.Generator().manual_seed(ADAPTER_SEED + 1)
        with torch.no_grad():
            for name, param in model.named_parameters():
                if "lora_B" in name:
                    param.copy_(torch.randn(param.shape, generator=generator) * 0.02)
    model.save_pretrained(out_dir)
    return out_dir


def trl_tokenizer(refs, model_dir, texts):
    """The tokenizer TRL gets: AutoTokenizer, unless it encodes the rows differently from the
    model's tokenizer.json (what dpo reads; its parity with `tokenizers` is
    tests/parity/tokenizer_diff.py's job). transformers 5 picks a tokenizer class from
    config.json's model_type and may rebuild it with that class's own pre-tokenizer (the qwen2
    fixture, which ships Llama's tokenizer.json, gets Qwen2Tokenizer): then TRL gets
    tokenizer.json as it is, so that both sides train on the same token ids. (tokenizer, note)"""
    from tokenizers import Tokenizer
    auto = refs.transformers.AutoTokenizer.from_pretrained(model_dir)
    raw = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    texts = [text + auto.eos_token for text in texts]
    differ = sum(1 for text in texts if auto(text)["input_ids"] != raw.encode(text).ids)
    if not differ:
        return auto, None
    fast = refs.transformers.PreTrainedTokenizerFast(
        tokenizer_object=raw, bos_token=auto.bos_token, eos_token=auto.eos_token,
        unk_token=auto.unk_token, pad_token=auto.pad_token)
    return fast, (f"AutoTokenizer ({type(auto).__name__}) encodes {differ} of {len(texts)} "
                  "sequences differently from tokenizer.json; TRL gets tokenizer.json as it is")


def prompt_boundary_rows(tokenizer, rows):
    """Rows whose tokenized prompt is not a prefix of the tokenized prompt + completion (+ EOS):
    the data avoids them, so that the comparison is about training, not this corner."""
    out = []
    for i, row in enumerate(rows):
        prompt = tokenizer(row["prompt"])["input_ids"]
        for key in ("chosen", "rejected"):
            full = tokenizer(row["prompt"] + row[key] + tokenizer.eos_token)["input_ids"]
            if full[:len(prompt)] != prompt:
                out.append(i)
                break
    return out


def case_settings(name):
    spec = CASES.get(name) or EXTENDED_CASES.get(name) or LOSS_CASES.get(name) or EXTRA_CASES[name]
    shared = dict(spec.get("shared", {}))
    trl = dict(shared, **spec.get("trl", {}))
    dpo = dict(shared, **spec.get("dpo", {}))
    return spec, trl, dpo


# ------------------------------------------------------------------------------------- TRL

def training_arguments(out_dir, learning_rate):
    """The TrainingArguments both TRL trainers get (DPOConfig / SFTConfig): the run every case
    makes, fp32 on the CPU, TRL's defaults that differ from dpo's set explicitly."""
    return dict(
        output_dir=out_dir, max_steps=MAX_STEPS, per_device_train_batch_size=4,
        gradient_accumulation_steps=2, per_device_eval_batch_size=4, learning_rate=learning_rate,
        lr_scheduler_type="linear", warmup_steps=2, weight_decay=0.0, adam_beta1=0.9,
        adam_beta2=0.999, adam_epsilon=1e-8, optim="adamw_torch", max_grad_norm=1.0,
        logging_steps=1, eval_strategy="steps", eval_steps=5, save_strategy="no",
        report_to="none",
        bf16=False,  # DPOConfig's and SFTConfig's default is True
        fp16=False, use_cpu=True,
        gradient_checkpointing=False,  # DPOConfig's and SFTConfig's default is True
        seed=SEED, data_seed=SEED, dataloader_num_workers=0, dataloader_pin_memory=False,
        disable_tqdm=True)


def trl_model_and_tokenizer(refs, model_dir, adapter_dir, tokenizer, chat_template=None):
    """The fp32 base model with the starting PEFT adapter (trainable), and a copy of the
    tokenizer (TRL sets its pad token) with the case's chat template."""
    tokenizer = copy.deepcopy(tokenizer)
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    base = refs.transformers.AutoModelForCausalLM.from_pretrained(model_dir,
                                                                  dtype=refs.torch.float32)
    return refs.peft.PeftModel.from_pretrained(base, adapter_dir, is_trainable=True), tokenizer


def run_trl(refs, trl_settings, model_dir, tokenizer, adapter_dir, train_rows, eval_rows,
            out_dir, chat_template=None):
    torch, DPOTrainer = refs.torch, refs.DPOTrainer
    settings = {
        "max_length": 1024, "truncation_mode": "keep_start", "beta": 0.1,
        "loss_type": ["sigmoid"], "loss_weights": None, "label_smoothing": 0.0,
        "precompute_ref_log_probs": False, "padding_free": False,
    }
    settings.update(trl_settings)
    args = refs.DPOConfig(**training_arguments(out_dir, learning_rate=LEARNING_RATE),
                          disable_dropout=True, **settings)
    model, tokenizer = trl_model_and_tokenizer(refs, model_dir, adapter_dir, tokenizer,
                                               chat_template)
    trainer = DPOTrainer(
        model=model, args=args, processing_class=tokenizer,
        train_dataset=refs.datasets.Dataset.from_list(train_rows),
        eval_dataset=refs.datasets.Dataset.from_list(eval_rows))

    # Record which rows each collated batch holds (the order TRL really trained on).
    index = {}
    for i, ex in enumerate(trainer.train_dataset):
        index[(tuple(ex["prompt_ids"]), tuple(ex["chosen_ids"]))] = i
    collate, seen = trainer.data_collator, []

    def recording_collator(examples):
        seen.append([index.get((tuple(e["prompt_ids"]), tuple(e["chosen_ids"])), -1)
                     for e in examples])
        return collate(examples)

    trainer.data_collator = recording_collator
    trainer.remove_callback(refs.transformers.trainer_callback.PrinterCallback)
    stats = token_stats(trainer)
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
    }


def token_stats(trainer):
    """(prompt, chosen, rejected) token counts of the prepared train rows."""
    return [(len(ex["prompt_ids"]), len(ex["chosen_ids"]), len(ex["rejected_ids"]))
            for ex in trainer.train_dataset]


# ------------------------------------------------------------------------------------- dpo

def dpo_config(dpo_settings, model_dir, adapter_dir, train_path, eval_path, out_dir, cache_dir,
               threads):
    """The YAML (JSON is YAML) for `dpo train`. Every key whose dpo default differs from TRL
    1.16's DPOConfig / TrainingArguments, or from this harness's TRL run, is set."""
    c = {
        "model_name_or_path": model_dir,
        "adapter_name_or_path": adapter_dir,
        "dataset": [train_path],
        "dataset_format": "standard",
        "eval_dataset": [eval_path],
        "device": "cpu",
        "threads": threads,
        "bf16": False,
        "max_length": 1024,
        "max_prompt_length": None,  # dpo default 512; TRL 1.16 has no max_prompt_length
        "max_completion_length": None,
        "truncation_mode": "keep_start",  # dpo default keep_end; TRL 1.16 default keep_start
        "beta": 0.1,
        "loss_type": ["sigmoid"],
        "loss_weights": [],
        "label_smoothing": 0.0,
        "precompute_ref_log_probs": False,
        "ref_cache_dir": cache_dir,
        "use_peft": True,
        "lora_r": 8,  # dpo default 16 (the adapter's config decides)
        "lora_alpha": 16,  # dpo default 32
        "lora_dropout": 0.0,  # dpo default 0.05 (off anyway under disable_dropout)
        "lora_target_modules": TARGET_MODULES,
        "disable_dropout": True,
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
    for key, value in dpo_settings.items():
        c[key] = [] if (key == "loss_weights" and value is None) else value
    return c


def run_dpo(binary, config, case_dir, command="train"):
    """`dpo COMMAND` (train or sft) on `config`, written to case_dir/dpo_config.yaml."""
    path = os.path.join(case_dir, "dpo_config.yaml")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    log_path = os.path.join(case_dir, f"dpo_{command}.log")
    start = time.time()
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.run([binary, command, path, "--no-progress"], stdout=log,
                              stderr=subprocess.STDOUT, timeout=600)
    seconds = time.time() - start
    with open(log_path, encoding="utf-8", errors="replace") as f:
        log_text = f.read()
    if proc.returncode != 0:
        return {"error": f"`dpo {command}` exited with {proc.returncode}:\n"
                         + "\n".join(log_text.splitlines()[-15:]), "seconds": seconds}
    out = config["output_dir"]
    state_path = os.path.join(out, "trainer_state.json")
    if os.path.exists(state_path):
        with open(state_path, encoding="utf-8") as f:
            history = json.load(f)["log_history"]
        source = "trainer_state.json"
    else:
        history = []
        with open(os.path.join(out, "metrics.jsonl"), encoding="utf-8") as f:
            history = [json.loads(line) for line in f if line.strip()]
        source = "metrics.jsonl"
    return {"log_history": history, "source": source, "seconds": seconds,
            "adapter_path": os.path.join(out, "adapter_model.safetensors"), "log": log_text}


# ------------------------------------------------------------------------------ comparison

def entry_kind(entry):
    keys = entry.keys()
    if "train_loss" in keys or "train_runtime" in keys:
        return "summary"
    if any(k.startswith("eval_") for k in keys):
        return "eval"
    return "train"


def by_step(history):
    out = {}
    for entry in history:
        if "step" not in entry:
            continue
        out.setdefault((entry_kind(entry), int(entry["step"])), {}).update(entry)
    return out


def close(key, a, b):
    reward = any(key.endswith(k) for k in ("rewards/chosen", "rewards/rejected",
                                           "rewards/margins"))
    atol = ATOL_REWARDS if reward else ATOL
    if key in ("kl", "eval_kl"):
        atol = ATOL_KL
    return abs(a - b) <= atol + RTOL * abs(b)


def number(value):
    if value is None:
        return math.nan
    if isinstance(value, bool):
        return float(value)
    return float(value)


def at_reference(entry, accuracies_key):
    """True when the policy equals the reference up to rounding in this entry (every reward
    mean below 1e-5, as at the first steps): whether chosen's reward is above rejected's is then
    decided by rounding noise, so rewards/accuracies is not compared there."""
    prefix = accuracies_key[:-len("rewards/accuracies")]
    values = [entry.get(prefix + k) for k in ("rewards/chosen", "rewards/rejected",
                                              "rewards/margins")]
    return all(v is not None and abs(float(v)) < 1e-5 for v in values)


def compare_logs(trl_history, dpo_history, excluded=None):
    """(mismatches, dpo_only): rows (kind, step, key, trl, dpo, why). `excluded`: the keys not
    compared (default EXCLUDED_KEYS)."""
    excluded = EXCLUDED_KEYS if excluded is None else excluded
    trl, dpo = by_step(trl_history), by_step(dpo_history)
    mismatches, dpo_only = [], set()
    order = {"train": 0, "eval": 1, "summary": 2}
    for kind, step in sorted(trl, key=lambda ks: (ks[1], order[ks[0]])):
        t_entry = trl[(kind, step)]
        d_entry = dpo.get((kind, step))
        if d_entry is None:
            mismatches.append((kind, step, "(entry)", "logged", "absent", "no such log entry"))
            continue
        for key, t_value in t_entry.items():
            if key == "step" or key in excluded:
                continue
            if key.endswith("rewards/accuracies") and at_reference(t_entry, key):
                continue
            if key not in d_entry:
                mismatches.append((kind, step, key, t_value, None, "not logged by dpo"))
                continue
            a, b = number(d_entry[key]), number(t_value)
            if math.isnan(a) and math.isnan(b):
                continue
            if not (math.isfinite(a) and math.isfinite(b) and close(key, a, b)):
                mismatches.append((kind, step, key, b, a, "differs"))
        dpo_only.update(k for k in d_entry if k not in t_entry and k != "step")
    for kind, step in dpo:
        if (kind, step) not in trl:
            mismatches.append((kind, step, "(entry)", "absent", "logged", "extra dpo log entry"))
    return mismatches, sorted(dpo_only)


def compare_adapters(trl_adapter, dpo_adapter):
    rows, worst = [], 0.0
    for key in sorted(set(trl_adapter) | set(dpo_adapter)):
        if key not in dpo_adapter:
            rows.append((key, "missing in dpo's adapter"))
            continue
        if key not in trl_adapter:
            rows.append((key, "not in TRL's adapter"))
            continue
        t, d = trl_adapter[key], dpo_adapter[key].float()
        if tuple(t.shape) != tuple(d.shape):
            rows.append((key, f"shape {tuple(d.shape)} vs TRL {tuple(t.shape)}"))
            continue
        scale = max(float(t.abs().max()), 1e-12)
        rel = float((d - t).abs().max()) / scale
        worst = max(worst, rel)
        if not rel <= ADAPTER_TOL:
            rows.append((key, f"max|diff| / max|trl| = {rel:.3e}"))
    return rows, worst


def fmt(value):
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return f"{float(value):.8g}"


def print_table(rows):
    header = ("kind", "step", "key", "trl", "dpo", "rel diff", "why")
    lines = [header]
    for kind, step, key, t, d, why in rows:
        rel = "-"
        if isinstance(t, (int, float)) and isinstance(d, (int, float)) and t is not None:
            rel = f"{abs(d - t) / max(abs(t), 1e-30):.2e}" if math.isfinite(d) else "-"
        lines.append((kind, str(step), key, fmt(t), fmt(d), rel, why))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    for line in lines:
        print("    " + "  ".join(str(c).ljust(w) for c, w in zip(line, widths)))


def check_dpo_run(refs, trl, dpo, note="", excluded=None):
    """Prints how a dpo run compares with TRL's (the dict run_dpo returns, the dict of a
    harness's run_trl with log_history and adapter) and returns its problems (empty: a match).
    `note` is added to the line that counts the values compared; `excluded`: the keys not
    compared (default EXCLUDED_KEYS)."""
    excluded = EXCLUDED_KEYS if excluded is None else excluded
    if "error" in dpo:
        print("   dpo: FAILED")
        for line in dpo["error"].splitlines():
            print("     | " + line)
        return [dpo["error"]]
    print(f"   dpo: {len(dpo['log_history'])} log entries ({dpo['source']}), "
          f"{dpo['seconds']:.1f}s")
    problems = []
    mismatches, dpo_only = compare_logs(trl["log_history"], dpo["log_history"], excluded)
    if os.path.exists(dpo["adapter_path"]):
        adapter_rows, worst = compare_adapters(trl["adapter"],
                                               refs.safetensors.load_file(dpo["adapter_path"]))
    else:
        adapter_rows, worst = [("adapter_model.safetensors", "not written")], math.nan
    compared = sum(1 for e in trl["log_history"] for k in e
                   if k != "step" and k not in excluded)
    print(f"   compared {compared} values in {len(trl['log_history'])} entries{note}; "
          f"{len(mismatches)} mismatches; adapter: {len(trl['adapter'])} tensors, "
          f"worst max|diff|/max|trl| {worst:.2e}")
    if dpo_only:
        print(f"   dpo-only keys (not compared): {', '.join(dpo_only)}")
    if mismatches:
        print_table(mismatches)
        problems.append(f"{len(mismatches)} metric mismatches")
    for key, why in adapter_rows:
        print(f"    adapter {key}: {why}")
    if adapter_rows:
        problems.append(f"{len(adapter_rows)} adapter tensors differ")
    return problems


def finish(results, t0, workdir, remove, header="== summary", width=24):
    """Prints the summary of every case, removes `workdir` when `remove`; the exit status."""
    print("\n" + header)
    for case, problems in results.items():
        verdict = "PASS" if not problems else "FAIL: " + "; ".join(
            p.splitlines()[0] for p in problems)
        print(f"   {case:<{width}} {verdict}")
    print(f"   total {time.time() - t0:.1f}s; runs in {workdir}" + (" (removed)" if remove else ""))
    if remove:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if all(not p for p in results.values()) else 1


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
    parser.add_argument("--model", default=os.path.join(ROOT, "tests/fixtures/hf/llama/model"),
                        help="HF model folder (default: tests/fixtures/hf/llama/model)")
    names = list(CASES) + list(EXTENDED_CASES) + list(LOSS_CASES) + list(EXTRA_CASES)
    groups = {"all": list(CASES), "extended": list(EXTENDED_CASES), "losses": list(LOSS_CASES)}
    parser.add_argument("--case", default="sigmoid",
                        help="cases or groups separated by commas: all (" + ", ".join(CASES)
                             + "), extended (" + ", ".join(EXTENDED_CASES) + "), losses ("
                             + ", ".join(LOSS_CASES) + "), or one of "
                             + ", ".join(EXTRA_CASES) + " (expected to differ)")
    parser.add_argument("--workdir", help="where runs go (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the run folders")
    parser.add_argument("--b-init", choices=["random", "zero"], default="random",
                        help="starting adapter's lora_B: random (default) or PEFT's zeros")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads for TRL (torch) and for dpo (default 1: with 2 on a "
                             "busy 2-core machine both sides run several times slower)")
    parser.add_argument("--trl-only", action="store_true",
                        help="run TRL only and print its log (no dpo binary needed)")
    args = parser.parse_args()

    t0 = time.time()
    refs = Refs(args.threads)  # first: without the references the test skips
    binary = None
    if not args.trl_only:
        binary = find_binary(args.dpo)
        if not binary or not os.access(binary, os.X_OK):
            print(f"trl_dpo: no dpo binary ({args.dpo or 'build/dpo, build-debian/dpo'}); "
                  "build it or pass --dpo", file=sys.stderr)
            return 1
    model_dir = os.path.abspath(args.model)
    cases = []
    for name in args.case.split(","):
        for case in groups.get(name, [name]):
            if case not in names:
                parser.error(f"unknown case {case} (cases: {', '.join(names)}; groups: "
                             f"{', '.join(groups)})")
            if case not in cases:
                cases.append(case)
    print(f"trl_dpo: {refs.versions()}; model {os.path.relpath(model_dir, ROOT)}; "
          f"dpo {binary}; lora_B {args.b_init}; import {time.time() - t0:.1f}s")

    made_workdir = args.workdir is None
    workdir = os.path.abspath(args.workdir or tempfile.mkdtemp(prefix="trl_dpo_"))
    os.makedirs(workdir, exist_ok=True)
    created = []
    train_records, eval_records = make_records()
    data = {}  # rows kind -> (train rows, eval rows, train path, eval path)
    for kind, (make, _, _) in ROW_FORMATS.items():
        train_rows, eval_rows = make(train_records), make(eval_records)
        train_path = os.path.join(workdir, f"train_{kind}.jsonl")
        eval_path = os.path.join(workdir, f"eval_{kind}.jsonl")
        write_jsonl(train_path, train_rows)
        write_jsonl(eval_path, eval_rows)
        data[kind] = (train_rows, eval_rows, train_path, eval_path)
        created += [train_path, eval_path]
    adapter_dir = os.path.join(workdir, "start_adapter")
    make_adapter(refs, model_dir, adapter_dir, args.b_init)
    created.append(adapter_dir)
    chat_template, template_source = builtin_chat_template(binary, model_dir)

    standard = data["standard"][0] + data["standard"][1]
    tokenizer, note = trl_tokenizer(
        refs, model_dir, [row["prompt"] + row[key] for row in standard
                          for key in ("chosen", "rejected")])
    if note:
        print(f"trl_dpo: note: {note}")
    boundary = prompt_boundary_rows(tokenizer, standard)
    if boundary:
        print(f"trl_dpo: note: rows {boundary}: the prompt's tokens are not a prefix of prompt +"
              " completion's (TRL then starts the completion where they diverge)")

    results, trl_runs = {}, {}
    for case in cases:
        spec, trl_settings, dpo_settings = case_settings(case)
        rows_kind = spec.get("rows", "standard")
        train_rows, eval_rows, train_path, eval_path = data[rows_kind]
        dpo_settings["dataset_format"] = ROW_FORMATS[rows_kind][1]
        template = None
        if ROW_FORMATS[rows_kind][2]:
            template = chat_template
            dpo_settings["chat_template"] = CHAT_TEMPLATE_NAME
        case_dir = os.path.join(workdir, case)
        shutil.rmtree(case_dir, ignore_errors=True)
        os.makedirs(case_dir)
        created.append(case_dir)
        print(f"\n== {case}: {rows_kind} rows, shared {spec.get('shared', {})}"
              + (f", chat template {CHAT_TEMPLATE_NAME} (TRL: {template_source})"
                 if template else "")
              + (f", trl {spec['trl']}" if spec.get("trl") else "")
              + (f", dpo {spec['dpo']}" if spec.get("dpo") else ""))
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
            limit = trl_settings.get("max_length", 1024)
            over = sum(1 for p, c, r in trl["stats"] for n in (c, r) if p + n > limit)
            longest = max(p + max(c, r) for p, c, r in trl["stats"])
            print(f"   TRL: {len(trl['log_history'])} log entries, {trl['num_train']} train rows "
                  f"(longest {longest} tokens; {over} sequences over max_length {limit}), "
                  f"{time.time() - t:.1f}s")
        expected = expected_batches(torch_epoch_order, trl["num_train"], 4, MAX_STEPS, 2, SEED)
        # (accelerate's loader fetches one batch ahead: the last one collated may go unused)
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
        cache_dir = os.path.join(case_dir, "ref_cache")
        config = dpo_config(dpo_settings, model_dir, adapter_dir, train_path, eval_path,
                            os.path.join(case_dir, "dpo"), cache_dir, args.threads)
        dpo = run_dpo(binary, config, case_dir)
        problems += check_dpo_run(refs, trl, dpo)
        results[case] = problems

    excluded = f" (excluded keys: {', '.join(sorted(EXCLUDED_KEYS))})"
    return finish(results, t0, workdir, made_workdir and not args.keep,
                  "== summary" + ("" if args.trl_only else excluded))


if __name__ == "__main__":
    sys.exit(main())
