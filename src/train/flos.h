// total_flos as transformers' Trainer estimates it (Trainer.floating_point_ops): per training
// micro-batch, 6 x the token positions of the model's input_ids x the model's parameters outside
// its embedding tables (the base model's and the adapters'), summed over the run and the ranks.
// The positions are those of the batch TRL 1.16 builds for the same examples, so that a run moved
// over from TRL reports the same number whatever layout dpo.cpp computes (padding-free, shared
// prompts): an estimate of the work, not a measurement.
#pragma once
#include <cstdint>

#include "data/batch.h"
#include "lora/lora_model.h"
#include "model/llama.h"

namespace dpo {

// The token positions of TRL 1.16's right-padded input_ids for this batch's examples: rows x the
// longest row. A preference batch: its 2P chosen and rejected sequences (DPOTrainer's collator;
// dpo.cpp counts CPO and ORPO batches the same way). `kto`: the P example sequences only (the
// "chosen" half; KTOTrainer's KL sequences are a separate input transformers does not count).
// An SFT batch: its sequences (SFTTrainer pads; its padding_free needs flash attention).
int64_t trl_input_positions(const TokenBatch& batch, bool kto);

// PreTrainedModel.num_parameters(exclude_embeddings=True) of the model TRL trains: every
// parameter but model.embed_tokens.weight (an untied lm_head counts), plus the LoRA adapter's
// (null: full fine-tuning), twice with `reference_adapter`: DPOTrainer and KTOTrainer given a
// PEFT model with an adapter (dpo.cpp: adapter_name_or_path) add a frozen copy of it, the "ref"
// adapter, to the same model as the reference.
int64_t non_embedding_parameters(const LlamaModel& model, const LoraModel* lora,
                                 bool reference_adapter = false);

// 6 x positions x parameters: forward and backward, two FLOPs per multiply-add.
double floating_point_ops(int64_t input_positions, int64_t parameters);

}  // namespace dpo
