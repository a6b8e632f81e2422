// The only file with a custom autograd Function.
#include "model/checkpoint.h"

#include <ATen/core/ivalue.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

namespace dpo {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Carries the block and the RNG states through ctx->saved_data.
struct BlockHolder : torch::CustomClassHolder {
  BlockFunction block;
  at::Tensor cpu_rng_state;
  at::Tensor cuda_rng_state;  // undefined unless the input is on CUDA
};

at::Generator cuda_generator() {
  return at::globalContext().defaultGenerator(at::kCUDA);
}

class CheckpointFunction : public torch::autograd::Function<CheckpointFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input,
                            c10::intrusive_ptr<BlockHolder> holder) {
    {
      at::Generator cpu = at::globalContext().defaultGenerator(at::kCPU);
      std::lock_guard<std::mutex> lock(cpu.mutex());
      holder->cpu_rng_state = cpu.get_state();
    }
    if (input.is_cuda()) {
      at::Generator cuda = cuda_generator();
      std::lock_guard<std::mutex> lock(cuda.mutex());
      holder->cuda_rng_state = cuda.get_state();
    }
    ctx->save_for_backward({input});
    at::Tensor output = holder->block(input);  // grad mode is off inside forward
    ctx->saved_data["holder"] = c10::IValue::make_capsule(std::move(holder));
    return output;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    auto holder =
        c10::static_intrusive_pointer_cast<BlockHolder>(ctx->saved_data["holder"].toCapsule());
    at::Tensor input = ctx->get_saved_variables()[0].detach().requires_grad_(true);
    at::Tensor output;
    {
      RngRestore restore(*holder, input.is_cuda());
      at::AutoGradMode grad_on(true);
      output = holder->block(input);
    }
    torch::autograd::backward({output}, {grad_outputs[0]});
    return {input.grad(), at::Tensor()};
  }

 private:
  // Sets the RNG states saved in forward; puts the current ones back when done.
  struct RngRestore {
    at::Tensor cpu_now, cuda_now;
    bool cuda;
    RngRestore(const BlockHolder& holder, bool on_cuda) : cuda(on_cuda) {
      at::Generator cpu = at::globalContext().defaultGenerator(at::kCPU);
      std::lock_guard<std::mutex> lock(cpu.mutex());
      cpu_now = cpu.get_state();
      cpu.set_state(holder.cpu_rng_state);
      if (cuda) {
        at::Generator g = cuda_generator();
        std::lock_guard<std::mutex> lock_cuda(g.mutex());
        cuda_now = g.get_state();
        g.set_state(holder.cuda_rng_state);
      }
    }
    ~RngRestore() {
      at::Generator cpu = at::globalContext().defaultGenerator(at::kCPU);
      std::lock_guard<std::mutex> lock(cpu.mutex());
      cpu.set_state(cpu_now);
      if (cuda) {
        at::Generator g = cuda_generator();
        std::lock_guard<std::mutex> lock_cuda(g.mutex());
        g.set_state(cuda_now);
      }
    }
  };
};

}  // namespace

at::Tensor checkpoint_block(const BlockFunction& block, const at::Tensor& input) {
  at::Tensor x = input.requires_grad() ? input : input.detach().requires_grad_(true);
  auto holder = c10::make_intrusive<BlockHolder>();
  holder->block = block;
  return CheckpointFunction::apply(x, holder);
}

}  // namespace dpo
