"""Writes a random tiny Qwen2 model with Qwen's own byte-level BPE tokenizer (the qwen3 fixture
tokenizer, 151,669 tokens) into OUT_DIR, for the GGUF export's comparison with llama.cpp's
converter: the qwen2 fixture model carries a SentencePiece-style tokenizer, which the converter's
qwen2 path refuses. The shapes are the qwen2 fixture's (hidden 32, 2 layers) with Qwen's vocabulary
of 151,936.

usage: qwen2_byte_level_model.py FIXTURES_DIR OUT_DIR
"""
import json
import os
import shutil
import sys

import torch
import transformers


def main():
    fixtures, out = sys.argv[1], sys.argv[2]
    settings = json.load(open(os.path.join(fixtures, "hf", "qwen2", "model", "config.json")))
    for key in ("architectures", "transformers_version", "dtype", "bos_token_id", "eos_token_id",
                "pad_token_id"):
        settings.pop(key, None)
    config = transformers.Qwen2Config(**settings)
    config.vocab_size = 151936
    config.bos_token_id, config.eos_token_id = 151643, 151645  # <|endoftext|>, <|im_end|>
    torch.manual_seed(0)
    transformers.Qwen2ForCausalLM(config).save_pretrained(out)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(fixtures, "tokenizers", "qwen3", name), os.path.join(out, name))


if __name__ == "__main__":
    main()
