"""transformers 5.23's RoPE for the scaled types, as JSON on stdout, for tests/model/rope_scaling_test.cpp.

usage: rope_reference.py

For every case of CASES (a config.json's keys, in the classic rope_scaling form or transformers
5's rope_parameters), transformers' own functions give:

  inv_freq           ROPE_INIT_FUNCTIONS[type](config): the frequencies at load (longrope: short)
  long_inv_freq      longrope only: the same at seq_len original_max_position_embeddings + 1
  attention_scaling  what the rotary embedding multiplies cos and sin by
  positions / cos / sin
                     LlamaRotaryEmbedding(config)(x, position_ids) for each row of POSITIONS
                     (longrope picks short or long by the largest position, per call)

Floats are written with repr (exact for the fp32 values).
"""
import json
import sys

import torch

COMMON = dict(vocab_size=100, hidden_size=64, intermediate_size=96, num_hidden_layers=1,
              num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256)

SHORT = [1.0, 1.05, 1.1, 1.3, 1.7, 2.2, 3.1, 4.0]  # head_dim 16 -> 8 factors
LONG = [1.2, 1.5, 2.0, 3.5, 6.0, 9.0, 12.5, 16.0]

# name -> config keys over COMMON (head_dim 16 unless given)
CASES = {
    "yarn_factor4": dict(rope_scaling={"rope_type": "yarn", "factor": 4.0,
                                       "original_max_position_embeddings": 8}),
    "yarn_factor8_betas_untruncated": dict(
        head_dim=32, rope_theta=500000.0,
        rope_scaling={"type": "yarn", "factor": 8.0, "original_max_position_embeddings": 4096,
                      "beta_fast": 16, "beta_slow": 2, "truncate": False}),
    "yarn_mscale": dict(rope_scaling={"rope_type": "yarn", "factor": 16.0,
                                      "original_max_position_embeddings": 64,
                                      "mscale": 1.0, "mscale_all_dim": 0.5}),
    "yarn_attention_factor": dict(rope_scaling={"rope_type": "yarn", "factor": 2.0,
                                                "original_max_position_embeddings": 128,
                                                "attention_factor": 1.3}),
    "yarn_factor1": dict(rope_scaling={"rope_type": "yarn", "factor": 1.0,
                                       "original_max_position_embeddings": 256}),
    # factor null: transformers takes max_position_embeddings / original (256 / 32)
    "yarn_rope_parameters_factor_null": dict(
        rope_parameters={"rope_type": "yarn", "rope_theta": 1000000.0, "factor": None,
                         "original_max_position_embeddings": 32}),
    # the ramp's bounds both clamp to 0: transformers widens it by 0.001
    "yarn_tiny_original": dict(rope_scaling={"rope_type": "yarn", "factor": 3.0,
                                             "original_max_position_embeddings": 4}),
    # factor absent: max_position_embeddings / original = 32; attention sqrt(1 + ln 32 / ln 8)
    "longrope": dict(rope_scaling={"rope_type": "longrope", "short_factor": SHORT,
                                   "long_factor": LONG, "original_max_position_embeddings": 8}),
    "longrope_factor_attention": dict(
        rope_parameters={"rope_type": "longrope", "rope_theta": 50000.0, "short_factor": SHORT,
                         "long_factor": LONG, "original_max_position_embeddings": 8,
                         "factor": 2.0, "attention_factor": 1.1}),
    # original = max_position_embeddings: factor 1, attention scaling 1
    "longrope_unscaled": dict(max_position_embeddings=8,
                              rope_scaling={"rope_type": "longrope", "short_factor": SHORT,
                                            "long_factor": LONG,
                                            "original_max_position_embeddings": 8}),
    "llama3": dict(rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                 "high_freq_factor": 4.0,
                                 "original_max_position_embeddings": 16}),
}

# (positions of one call): below, at and past original_max_position_embeddings 8, one decode step
POSITIONS = [list(range(5)), list(range(8)), list(range(9)), list(range(12)), [7], [8], [200]]


def floats(t):
    return [float(x) for x in t.reshape(-1).tolist()]


def main():
    from transformers import AutoConfig
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

    out = []
    for name, keys in CASES.items():
        raw = dict(COMMON, head_dim=16, model_type="llama")
        raw.update(keys)
        config = AutoConfig.for_model("llama", **{k: v for k, v in raw.items() if k != "model_type"})
        rope_type = config.rope_parameters["rope_type"]
        inv_freq, scaling = ROPE_INIT_FUNCTIONS[rope_type](config, None)
        case = {"name": name, "config": raw, "inv_freq": floats(inv_freq),
                "attention_scaling": float(scaling), "positions": POSITIONS, "cos": [], "sin": []}
        if rope_type == "longrope":
            original = config.rope_parameters["original_max_position_embeddings"]
            long_inv_freq, _ = ROPE_INIT_FUNCTIONS[rope_type](config, None, seq_len=original + 1)
            case["long_inv_freq"] = floats(long_inv_freq)
        rotary = LlamaRotaryEmbedding(config)
        for positions in POSITIONS:
            ids = torch.tensor([positions])
            x = torch.zeros(1, len(positions), config.hidden_size)
            cos, sin = rotary(x, ids)
            case["cos"].append(floats(cos[0]))
            case["sin"].append(floats(sin[0]))
        out.append(case)
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
