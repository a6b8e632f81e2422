// Activation (gradient) checkpointing: run a block without keeping its activations, and recompute
// it during backward. Gradients equal those of the plain forward.
#pragma once
#include <ATen/ATen.h>

#include <functional>

namespace dpo {

using BlockFunction = std::function<at::Tensor(const at::Tensor&)>;

// Returns block(input) computed without saving intermediates; backward recomputes the block (with
// the same RNG state, so dropout masks repeat) and back-propagates through it, which also
// accumulates .grad of any leaf the block uses (LoRA parameters inside Linear adapters, base
// weights that require grad). Like PyTorch's reentrant checkpoint, gradients reach those leaves
// through backward() (.grad), not through autograd::grad(). If `input` does not require grad, a
// detached copy that does is used so that backward reaches the block at all.
at::Tensor checkpoint_block(const BlockFunction& block, const at::Tensor& input);

}  // namespace dpo
