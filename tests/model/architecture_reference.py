"""transformers 5.23 + peft 0.21 references for the architectures beyond the committed fixtures.

usage: architecture_reference.py OUT_DIR [CASE ...]
       architecture_reference.py logits MODEL_DIR IDS OUT   (float32 logits (T, V) of the
                                                             comma-separated IDS, to OUT)

For every case (default: all of CASES) it draws a tiny model of that architecture from a fixed
seed, writes it as a Hugging Face folder, draws a PEFT LoRA adapter on it, and computes what the C++
test (tests/model/architecture_reference_test.cpp) compares, all in float32 on the CPU with eager
attention:

  OUT_DIR/CASE/model/          config.json, model.safetensors (save_pretrained), and the llama
                               fixture's tokenizer files (so the CLI can load the folder)
  OUT_DIR/CASE/adapter/        adapter_config.json, adapter_model.safetensors (LoRA r 4, random A
                               and B: init_lora_weights=False)
  OUT_DIR/CASE/expected.json   the token ids of each sequence, the greedy continuation
  OUT_DIR/CASE/expected.safetensors
      base.logits.I          (T, V) logits of sequence I run alone
      base.token_logps.I     (T-1) log p(id_t | <t) of sequence I
      base.hidden.H          (T, C) hidden state H of sequence 0 (output_hidden_states)
      lora.token_logps.I     (T-1) the same with the adapter on
      grad.NAME              gradient of the sum of every lora.token_logps over the adapter's
                             parameters (PEFT names)
      merged.logits.0        (T, V) logits of sequence 0 after merge_and_unload

The sequences are longer than every sliding window of the cases, so the window is exercised.
"""
import json
import os
import shutil
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
TOKENIZER_DIR = os.path.join(HERE, "..", "fixtures", "hf", "llama", "model")
VOCAB = 32000  # the llama fixture's tokenizer
LENGTHS = [11, 7, 9]
GREEDY_PROMPT = 1  # sequence 1 (7 tokens) continued greedily by GREEDY_TOKENS tokens
GREEDY_TOKENS = 8

COMMON = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
              num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
              rms_norm_eps=1e-6, bos_token_id=1, eos_token_id=2, pad_token_id=0)

# name -> (model_type, config keys over COMMON)
CASES = {
    # head_dim given and unlike hidden_size / heads; grouped-query attention
    "qwen3": ("qwen3", dict(head_dim=12, tie_word_embeddings=False, rope_theta=1000000.0)),
    # biases on q/k/v/o, tied embeddings, as many kv heads as heads
    "qwen3_bias_tied": ("qwen3", dict(head_dim=8, num_key_value_heads=4, attention_bias=True,
                                      tie_word_embeddings=True)),
    # sliding window (5) in the layers from max_window_layers (1) on
    "qwen3_sliding": ("qwen3", dict(head_dim=8, num_hidden_layers=3, use_sliding_window=True,
                                    sliding_window=5, max_window_layers=1,
                                    tie_word_embeddings=False)),
    # every second layer without RoPE, tied embeddings (SmolLM3's default)
    "smollm3": ("smollm3", dict(num_hidden_layers=4, no_rope_layer_interval=2)),
    # explicit no_rope_layers; the window in the layer without RoPE; MLP biases
    "smollm3_sliding": ("smollm3", dict(num_hidden_layers=3, no_rope_layers=[1, 0, 1],
                                        use_sliding_window=True, sliding_window=6,
                                        mlp_bias=True, tie_word_embeddings=False)),
    # mistral's window in every layer
    "mistral_sliding": ("mistral", dict(sliding_window=4, tie_word_embeddings=False)),
    # qwen2 with the window from the second layer on
    "qwen2_sliding": ("qwen2", dict(use_sliding_window=True, sliding_window=6,
                                    max_window_layers=1, tie_word_embeddings=False)),
    # YaRN 4x over an original length of 8 that the sequences pass; cos/sin scaled 1 + 0.1 ln 4
    "llama_yarn": ("llama", dict(rope_scaling={"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 8}, tie_word_embeddings=False)),
    # LongRoPE: short factors up to 8 positions, long past them (per batch; greedy crosses over)
    "qwen3_longrope": ("qwen3", dict(head_dim=8, rope_scaling={"rope_type": "longrope", "short_factor": [1.0, 1.3, 2.1, 3.0], "long_factor": [1.5, 2.5, 5.0, 9.0], "original_max_position_embeddings": 8}, tie_word_embeddings=False)),
    # gemma2: local (window 5) and global layers alternating, soft-caps small enough to bend the
    # scores and logits, a query pre-attention scalar unlike head_dim, tied embeddings
    "gemma2": ("gemma2", dict(head_dim=8, num_hidden_layers=3, sliding_window=5,
                              query_pre_attn_scalar=12, attn_logit_softcapping=0.5,
                              final_logit_softcapping=0.2)),
    # gemma2 with its default soft-caps (50, 30), untied, biases, exact GELU
    "gemma2_untied": ("gemma2", dict(head_dim=8, sliding_window=6, query_pre_attn_scalar=8,
                                     tie_word_embeddings=False, attention_bias=True,
                                     hidden_activation="gelu")),
    # gemma3: q/k norms, local layers with their own RoPE theta, no soft-caps, layer_types given
    "gemma3_text": ("gemma3_text", dict(head_dim=8, num_hidden_layers=3, sliding_window=4,
                                        query_pre_attn_scalar=16, rope_theta=500.0,
                                        rope_local_base_freq=20.0,
                                        layer_types=["sliding_attention", "full_attention",
                                                     "sliding_attention"])),
    # gemma3 with the global layers' RoPE linearly scaled (the local ones not), every 2nd layer
    # global (sliding_window_pattern), untied
    "gemma3_text_scaled": ("gemma3_text", dict(head_dim=8, num_hidden_layers=4, sliding_window=6,
                                               sliding_window_pattern=2, query_pre_attn_scalar=8,
                                               rope_scaling={"rope_type": "linear", "factor": 4.0},
                                               tie_word_embeddings=False)),
    # phi3: fused qkv_proj and gate_up_proj, grouped-query attention, a window in every layer
    "phi3": ("phi3", dict(num_hidden_layers=3, sliding_window=5, tie_word_embeddings=False)),
    # phi3 with LongRoPE past its top-level original_max_position_embeddings (8), old type name
    "phi3_longrope": ("phi3", dict(original_max_position_embeddings=8, tie_word_embeddings=True,
                                   num_key_value_heads=4,
                                   rope_scaling={"type": "longrope",
                                                 "short_factor": [1.0, 1.2, 1.9, 2.5],
                                                 "long_factor": [1.4, 2.0, 4.0, 7.0]})),
}
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
FUSED_LORA_TARGETS = ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"]  # phi3's linear layers


def token_logps(model, ids):
    logits = model(input_ids=torch.tensor([ids])).logits[0]  # (T, V)
    logp = torch.log_softmax(logits[:-1].float(), dim=-1)
    return logp.gather(1, torch.tensor(ids[1:]).unsqueeze(1)).squeeze(1), logits


def draw_model(model_type, keys, seed):
    from transformers import AutoConfig, AutoModelForCausalLM
    config = AutoConfig.for_model(model_type, **dict(COMMON, **keys))
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager",
                                             dtype=torch.float32)
    with torch.no_grad():  # norms away from 1 and biases away from 0, so both are exercised
        for name, p in model.named_parameters():
            if "norm" in name and not p.any():  # gemma's (1 + w) norms start at 0
                p.normal_(0.0, 0.2)
            elif "norm" in name:
                p.mul_(1.0 + 0.2 * torch.randn_like(p))
            elif name.endswith(".bias"):
                p.normal_(0.0, 0.05)
    return model.eval()


def make_case(out, name):
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import save_file
    model_type, keys = CASES[name]
    folder = os.path.join(out, name)
    model_dir, adapter_dir = os.path.join(folder, "model"), os.path.join(folder, "adapter")
    seed = sum(map(ord, name))
    base = draw_model(model_type, keys, seed)
    base.save_pretrained(model_dir)
    for tokenizer_file in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(TOKENIZER_DIR, tokenizer_file), model_dir)

    g = torch.Generator().manual_seed(seed)
    seqs = [torch.randint(3, VOCAB, (n,), generator=g).tolist() for n in LENGTHS]
    tensors = {}
    with torch.no_grad():
        for i, ids in enumerate(seqs):
            tlp, logits = token_logps(base, ids)
            tensors[f"base.logits.{i}"] = logits
            tensors[f"base.token_logps.{i}"] = tlp
        hidden = base(input_ids=torch.tensor([seqs[0]]), output_hidden_states=True).hidden_states
        for h, state in enumerate(hidden):
            tensors[f"base.hidden.{h}"] = state[0]
        prompt = torch.tensor([seqs[GREEDY_PROMPT]])
        generated = base.generate(prompt, attention_mask=torch.ones_like(prompt), do_sample=False,
                                  max_new_tokens=GREEDY_TOKENS, min_new_tokens=GREEDY_TOKENS,
                                  eos_token_id=None, pad_token_id=0, use_cache=True)
        greedy = generated[0, prompt.shape[1]:].tolist()

    torch.manual_seed(seed + 1)
    targets = FUSED_LORA_TARGETS if model_type == "phi3" else LORA_TARGETS
    lora = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=targets,
                      init_lora_weights=False)
    model = get_peft_model(base, lora)
    model.eval()
    model.save_pretrained(adapter_dir)
    total = 0
    for i, ids in enumerate(seqs):
        tlp, _ = token_logps(model, ids)
        tensors[f"lora.token_logps.{i}"] = tlp.detach()
        total = total + tlp.sum()
    total.backward()
    for n, p in model.named_parameters():
        if p.requires_grad:
            # PEFT's saved names: base_model.model.<module>.lora_A.weight (no adapter name)
            tensors["grad." + n.replace(".default", "")] = p.grad.detach()
    merged = model.merge_and_unload()
    with torch.no_grad():
        tensors["merged.logits.0"] = merged(input_ids=torch.tensor([seqs[0]])).logits[0]

    save_file({k: v.float().contiguous() for k, v in tensors.items()},
              os.path.join(folder, "expected.safetensors"))
    with open(os.path.join(folder, "expected.json"), "w", encoding="utf-8") as f:
        json.dump({"case": name, "model_type": model_type, "sequences": seqs,
                   "greedy_prompt": GREEDY_PROMPT, "greedy": greedy}, f, indent=1)


def main(argv):
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    if argv[0] == "logits":
        from transformers import AutoModelForCausalLM
        model = AutoModelForCausalLM.from_pretrained(argv[1], dtype=torch.float32,
                                                     attn_implementation="eager")
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([[int(x) for x in argv[2].split(",")]])).logits
        logits[0].float().numpy().tofile(argv[3])
        return 0
    out, names = argv[0], argv[1:] or list(CASES)
    for name in names:
        if name not in CASES:
            print(f"unknown case {name} (cases: {', '.join(CASES)})", file=sys.stderr)
            return 2
        make_case(out, name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
