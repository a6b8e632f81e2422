// c10d behind dist/process_group.h: TCPStore rendezvous, ProcessGroupGloo (or ProcessGroupNCCL
// for CUDA tensors where built with it), and c10d's failures turned into messages that say which
// call failed, on which rank, and what to check.
#include "dist/process_group.h"

#include <fmt/format.h>

#include <cstdlib>
#include <cstring>

#include "util/error.h"
#include "util/log.h"
#include "util/torch_compat.h"

#if defined(DPO_WITH_GLOO)
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif
#if defined(DPO_WITH_NCCL)
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace dpo::dist {

bool group_support_built() {
#if defined(DPO_WITH_GLOO)
  return true;
#else
  return false;
#endif
}

#if defined(DPO_WITH_GLOO)

namespace {

bool is_loopback(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

// Gloo's network device: GLOO_SOCKET_IFNAME's interface when set (as torch.distributed), the
// loopback for a local run, else the address this host's name resolves to.
std::shared_ptr<::gloo::transport::Device> gloo_device(const DistEnv& env) {
  if (const char* interface = std::getenv("GLOO_SOCKET_IFNAME"); interface && *interface)
    return c10d::ProcessGroupGloo::createDeviceForInterface(interface);
  if (is_loopback(env.master_addr))
    return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

// c10d's message without the stack trace it appends (libtorch 1.13 does).
std::string cause_of(const std::exception& e) {
  std::string text = e.what();
  const size_t end = text.find("\nException raised from");
  if (end != std::string::npos) text.resize(end);
  return text.substr(0, 300);
}

std::string seconds_text(std::chrono::milliseconds timeout) {
  return fmt::format("{:g} s", static_cast<double>(timeout.count()) / 1000.0);
}

c10::intrusive_ptr<c10d::Store> open_store(const DistEnv& env, const GroupOptions& options) {
  c10d::TCPStoreOptions store;
  store.port = static_cast<uint16_t>(env.master_port);
  store.isServer = env.is_main();
  store.numWorkers = env.world_size;
  store.waitWorkers = true;
  store.timeout = options.timeout;
  try {
    return c10::make_intrusive<c10d::TCPStore>(env.master_addr, store);
  } catch (const std::exception& e) {
    const std::string cause = cause_of(e);
    if (env.is_main() && (cause.find("EADDRINUSE") != std::string::npos ||
                          cause.find("address already in use") != std::string::npos))
      throw_user_error(
          "MASTER_PORT {}: rank 0 cannot listen on {}:{}, the port is in use (another run, or "
          "a stale process); set MASTER_PORT to a free port",
          env.master_port, env.master_addr, env.master_port);
    if (env.is_main())
      throw_user_error(
          "{}: not all WORLD_SIZE={} ranks arrived at {}:{} within ddp_timeout ({}): start "
          "them all with the same WORLD_SIZE, MASTER_ADDR and MASTER_PORT (c10d: {})",
          describe(env), env.world_size, env.master_addr, env.master_port,
          seconds_text(options.timeout), cause);
    throw_user_error(
        "{}: cannot reach rank 0 at MASTER_ADDR={} MASTER_PORT={} within ddp_timeout ({}): "
        "check that rank 0 runs and that the address is reachable from this host (c10d: {})",
        describe(env), env.master_addr, env.master_port, seconds_text(options.timeout), cause);
  }
}

}  // namespace

struct ProcessGroup::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<compat::C10dBackend> group;
  std::chrono::milliseconds timeout;
  bool nccl = false;
  at::Device device = at::kCPU;  // where the group's collectives take their tensors
};

std::unique_ptr<ProcessGroup> ProcessGroup::connect(const DistEnv& env,
                                                    const GroupOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->timeout = options.timeout;
  impl->store = open_store(env, options);
  try {
#if defined(DPO_WITH_NCCL)
    if (options.device.is_cuda()) {
      auto nccl = c10d::ProcessGroupNCCL::Options::create();
      nccl->timeout = options.timeout;
      impl->group =
          c10::make_intrusive<c10d::ProcessGroupNCCL>(impl->store, env.rank, env.world_size, nccl);
      impl->nccl = true;
      impl->device = options.device;
    }
#endif
    if (!impl->group) {
      auto gloo = c10d::ProcessGroupGloo::Options::create(options.timeout);
      gloo->devices.push_back(gloo_device(env));
      impl->group =
          c10::make_intrusive<c10d::ProcessGroupGloo>(impl->store, env.rank, env.world_size, gloo);
    }
  } catch (const UserError&) {
    throw;
  } catch (const std::exception& e) {
    throw_user_error(
        "{}: the process group (c10d {}) did not form within ddp_timeout ({}): not all "
        "WORLD_SIZE={} ranks arrived, or one could not connect to the others (c10d: {})",
        describe(env), impl->nccl ? "NCCL" : "Gloo", seconds_text(options.timeout), env.world_size,
        cause_of(e));
  }
  return std::unique_ptr<ProcessGroup>(new ProcessGroup(env, std::move(impl)));
}

const char* ProcessGroup::backend() const {
  return impl_->nccl ? "nccl" : "gloo";
}

namespace {

// Runs one collective; a c10d failure (a peer that died, a timeout) becomes a UserError.
template <typename MakeWork>
void run_collective(const DistEnv& env, std::chrono::milliseconds timeout, const std::string& what,
                    MakeWork make_work) {
  try {
    make_work()->wait();
  } catch (const std::exception& e) {
    throw_user_error(
        "{}: {} failed: another rank stopped or stopped answering within ddp_timeout ({}); "
        "its own log says why (c10d: {})",
        describe(env), what, seconds_text(timeout), cause_of(e));
  }
}

}  // namespace

void ProcessGroup::all_reduce_sum(const std::vector<at::Tensor>& tensors, const std::string& what) {
  if (tensors.empty()) return;
  std::vector<at::Tensor> flat_parts;
  for (const at::Tensor& tensor : tensors) flat_parts.push_back(tensor.reshape({-1}));
  std::vector<at::Tensor> buffer{at::cat(flat_parts).to(impl_->device)};  // (sum of numels)
  run_collective(env_, impl_->timeout, what, [&] { return impl_->group->allreduce(buffer); });
  const at::Tensor summed = buffer[0].to(tensors[0].device());
  int64_t offset = 0;
  for (const at::Tensor& tensor : tensors) {
    const int64_t n = tensor.numel();
    tensor.copy_(summed.slice(0, offset, offset + n).view(tensor.sizes()));
    offset += n;
  }
}

std::vector<double> ProcessGroup::sum_values(std::vector<double> values, const std::string& what) {
  if (values.empty()) return values;
  at::Tensor tensor = at::tensor(values, at::kDouble);  // (n)
  all_reduce_sum({tensor}, what);
  std::memcpy(values.data(), tensor.data_ptr<double>(), values.size() * sizeof(double));
  return values;
}

std::vector<std::vector<double>> ProcessGroup::all_gather(const std::vector<double>& values,
                                                          const std::string& what) {
  const int64_t n = static_cast<int64_t>(values.size());
  at::Tensor table = at::zeros({world_size(), n}, at::kDouble);  // (ranks, n): own row filled
  if (n > 0) table[rank()].copy_(at::tensor(values, at::kDouble));
  all_reduce_sum({table}, what);
  std::vector<std::vector<double>> rows(world_size());
  for (int r = 0; r < world_size(); ++r) {
    const double* row = table[r].data_ptr<double>();
    rows[r].assign(row, row + n);
  }
  return rows;
}

std::string ProcessGroup::broadcast_from_main(const std::string& bytes, const std::string& what) {
  const std::vector<double> size =
      sum_values({rank() == 0 ? static_cast<double>(bytes.size()) : 0.0}, what);
  const int64_t n = static_cast<int64_t>(size[0]);
  std::vector<at::Tensor> buffer{at::zeros({std::max<int64_t>(n, 1)}, at::kByte).to(impl_->device)};
  if (rank() == 0 && n > 0)
    buffer[0].slice(0, 0, n).copy_(
        at::from_blob(const_cast<char*>(bytes.data()), {n}, at::kByte).to(impl_->device));
  c10d::BroadcastOptions options;
  options.rootRank = 0;
  run_collective(env_, impl_->timeout, what,
                 [&] { return impl_->group->broadcast(buffer, options); });
  const at::Tensor host = buffer[0].to(at::kCPU).contiguous();
  return std::string(reinterpret_cast<const char*>(host.data_ptr<uint8_t>()),
                     static_cast<size_t>(n));
}

void ProcessGroup::barrier(const std::string& what) {
  // a one-element sum: a barrier that honours the group's timeout on every backend
  (void)sum_values({1.0}, what);
}

#else  // built without Gloo's headers: no group can form

struct ProcessGroup::Impl {};

std::unique_ptr<ProcessGroup> ProcessGroup::connect(const DistEnv& env, const GroupOptions&) {
  throw_user_error(
      "{}: WORLD_SIZE={} asks for a data-parallel run, but this build of dpo has no process "
      "group support (it was built without Gloo's headers: install libgloo-dev and rebuild)",
      describe(env), env.world_size);
}
const char* ProcessGroup::backend() const {
  return "none";
}
void ProcessGroup::all_reduce_sum(const std::vector<at::Tensor>&, const std::string&) {}
std::vector<double> ProcessGroup::sum_values(std::vector<double> values, const std::string&) {
  return values;
}
std::vector<std::vector<double>> ProcessGroup::all_gather(const std::vector<double>& values,
                                                          const std::string&) {
  return {values};
}
std::string ProcessGroup::broadcast_from_main(const std::string& bytes, const std::string&) {
  return bytes;
}
void ProcessGroup::barrier(const std::string&) {}

#endif

ProcessGroup::ProcessGroup(DistEnv env, std::unique_ptr<Impl> impl)
    : env_(std::move(env)), impl_(std::move(impl)) {}

ProcessGroup::~ProcessGroup() = default;

}  // namespace dpo::dist
