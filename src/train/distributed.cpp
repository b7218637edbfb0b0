#include "yolonas/train/distributed.h"

// c10d's Gloo header is guarded by the macro LibTorch itself is built with (Debian's and PyTorch's
// builds both have Gloo).
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <chrono>
#include <cstdlib>
#include <map>

#include "yolonas/core/error.h"
#include "yolonas/model/model.h"
#include "yolonas/model/torch_compat.h"

namespace yolonas {

namespace {

int env_int(const char* name, int def, int lo, int hi) {
  const char* v = std::getenv(name);
  if (!v || !*v) return def;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  if (*end != '\0' || x < lo || x > hi)
    throw Error(std::string("environment ") + name + "=" + clip(v, 40) + ": expected an integer in [" +
                std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return static_cast<int>(x);
}

}  // namespace

DistOptions dist_options_from_env() {
  DistOptions o;
  o.world_size = env_int("WORLD_SIZE", 1, 1, 65536);
  o.rank = env_int("RANK", 0, 0, 65535);
  o.local_rank = env_int("LOCAL_RANK", o.rank, 0, 65535);
  if (const char* a = std::getenv("MASTER_ADDR"); a && *a) o.master_addr = a;
  o.master_port = env_int("MASTER_PORT", 29500, 1, 65535);
  return o;
}

// LibTorch 2 split the process group into a front (ProcessGroup) and backends (Backend) such as
// ProcessGroupGloo; 1.13's ProcessGroupGloo is itself a ProcessGroup. Both offer the collectives.
#if YOLONAS_TORCH_AT_LEAST(2, 0)
using GroupBase = c10d::Backend;
#else
using GroupBase = c10d::ProcessGroup;
#endif

struct Distributed::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<GroupBase> group;
};

namespace {
// LibTorch >= 2.4 asks its TCPStore for the libuv backend by default, and a LibTorch built without
// libuv (Debian 13's 2.6) then refuses every rendezvous; the classic backend is in every version.
// Older versions have no such option (the overload below is then the only one that compiles).
template <typename Options>
auto use_classic_tcpstore(Options& o, int) -> decltype(o.useLibUV = false, void()) {
  o.useLibUV = false;
}
template <typename Options>
void use_classic_tcpstore(Options&, long) {}

// The process's group (as torch.distributed's default group): what SyncBatchNorm and the
// differentiable all-reduce use. Set by init(), cleared by the destructor.
Distributed*& default_group() {
  static Distributed* d = nullptr;
  return d;
}
}  // namespace

Distributed::Distributed(DistOptions o) : opt_(std::move(o)), impl_(std::make_unique<Impl>()) {}
Distributed::~Distributed() {
  if (default_group() == this) default_group() = nullptr;
}

std::unique_ptr<Distributed> Distributed::init(const DistOptions& o, const torch::Device& device) {
  if (o.world_size < 1 || o.rank < 0 || o.rank >= o.world_size)
    throw Error("distributed: rank=" + std::to_string(o.rank) + " is not in [0, world_size=" +
                std::to_string(o.world_size) + ")");
  std::unique_ptr<Distributed> d(new Distributed(o));
  d->device_ = device;
  const auto timeout = std::chrono::milliseconds(static_cast<long>(o.timeout_s * 1000));
  const std::string where = o.master_addr + ":" + std::to_string(o.master_port);
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<uint16_t>(o.master_port);
    so.isServer = o.rank == 0;
    so.numWorkers = o.world_size;
    so.waitWorkers = true;
    so.timeout = timeout;
    use_classic_tcpstore(so, 0);
    d->impl_->store = c10::make_intrusive<c10d::TCPStore>(o.master_addr, so);
  } catch (const std::exception& e) {
    throw Error("distributed: rank " + std::to_string(o.rank) + " of " + std::to_string(o.world_size) +
                ": rendezvous at " + where + " failed (" + e.what() +
                "); check master_addr/master_port (MASTER_ADDR/MASTER_PORT), that rank 0 runs and the port is free");
  }
  if (device.is_cuda()) {
#ifdef USE_C10D_NCCL
    auto no = c10d::ProcessGroupNCCL::Options::create();
    no->timeout = timeout;
    d->impl_->group = c10::make_intrusive<c10d::ProcessGroupNCCL>(d->impl_->store, o.rank, o.world_size, no);
    d->backend_ = "nccl";
#else
    throw Error("distributed: this LibTorch has no NCCL: multi-process training on CUDA needs a CUDA build with NCCL");
#endif
  } else {
    auto go = c10d::ProcessGroupGloo::Options::create();
    go->timeout = timeout;
    // The interface that reaches master_addr (loopback for a local run).
    go->devices.push_back(o.master_addr == "127.0.0.1" || o.master_addr == "localhost"
                              ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                              : c10d::ProcessGroupGloo::createDefaultDevice());
    d->impl_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(d->impl_->store, o.rank, o.world_size, go);
    d->backend_ = "gloo";
  }
  default_group() = d.get();
  return d;
}

void Distributed::allreduce_sum_(torch::Tensor& t) {
  std::vector<torch::Tensor> v{t};
  impl_->group->allreduce(v)->wait();
}

void Distributed::allreduce_mean_gradients(const std::vector<torch::Tensor>& params) {
  // One flat buffer per dtype and device: a few large all-reduces instead of hundreds of small ones.
  std::map<std::pair<int, std::string>, std::vector<torch::Tensor>> groups;
  for (const auto& p : params)
    if (p.grad().defined())
      groups[{static_cast<int>(p.grad().scalar_type()), p.grad().device().str()}].push_back(p.grad());
  for (auto& [key, grads] : groups) {
    std::vector<torch::Tensor> flat_parts;
    flat_parts.reserve(grads.size());
    for (const auto& g : grads) flat_parts.push_back(g.reshape({-1}));
    torch::Tensor flat = torch::cat(flat_parts);
    allreduce_sum_(flat);
    flat.div_(opt_.world_size);
    int64_t at = 0;
    for (auto& g : grads) {
      const int64_t n = g.numel();
      g.copy_(flat.narrow(0, at, n).view_as(g));
      at += n;
    }
  }
}

void Distributed::broadcast_(std::vector<torch::Tensor> tensors, int root) {
  if (tensors.empty()) return;
  c10d::BroadcastOptions bo;
  bo.rootRank = root;
  for (auto& t : tensors) {
    std::vector<torch::Tensor> v{t};
    impl_->group->broadcast(v, bo)->wait();
  }
}

double Distributed::broadcast_value(double v) {
  torch::Tensor t = torch::tensor({v}, torch::kFloat64).to(device_);
  broadcast_({t}, 0);
  return t.item<double>();
}

void Distributed::barrier() { impl_->group->barrier()->wait(); }

// ---- differentiable all-reduce and SyncBatchNorm ------------------------------------------------

namespace {

struct AllReduceSum : torch::autograd::Function<AllReduceSum> {
  static torch::Tensor forward(torch::autograd::AutogradContext*, torch::Tensor x) {
    torch::Tensor y = x.clone();
    default_group()->allreduce_sum_(y);
    return y;
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext*, torch::autograd::tensor_list grads) {
    torch::Tensor g = grads[0].clone();
    default_group()->allreduce_sum_(g);
    return {g};
  }
};

// BatchNorm2d over the global batch: mean and variance from all-reduced sums (two passes, for the
// same accuracy as a local BatchNorm); running statistics updated as torch does (unbiased variance).
torch::Tensor sync_batch_norm(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x) {
  const int64_t c = x.size(1);
  const double local = static_cast<double>(x.numel() / c);
  torch::Tensor count = torch::tensor({local}, x.options().dtype(torch::kFloat64));
  default_group()->allreduce_sum_(count);
  const double n = count.item<double>();
  const auto shape = std::vector<int64_t>{1, c, 1, 1};
  const torch::Tensor xf = x.to(torch::kFloat32);  // statistics in float32, also under autocast
  torch::Tensor mean = AllReduceSum::apply(xf.sum({0, 2, 3})) / n;
  torch::Tensor d = xf - mean.view(shape);
  torch::Tensor var = AllReduceSum::apply((d * d).sum({0, 2, 3})) / n;
  {
    torch::NoGradGuard ng;
    const double m = bn.options.momentum().value_or(0.1);
    bn.running_mean.mul_(1 - m).add_(mean.detach(), m);
    bn.running_var.mul_(1 - m).add_(var.detach() * (n / std::max(1.0, n - 1)), m);
    bn.num_batches_tracked.add_(1);
  }
  torch::Tensor y = d * torch::rsqrt(var + bn.options.eps()).view(shape);
  if (bn.options.affine()) y = y * bn.weight.view(shape) + bn.bias.view(shape);
  return y.to(x.scalar_type());
}

}  // namespace

torch::Tensor differentiable_allreduce_sum(const torch::Tensor& t) {
  if (!default_group()) throw Error("differentiable_allreduce_sum: no process group (Distributed::init first)");
  return AllReduceSum::apply(t);
}

SyncBatchNormScope::SyncBatchNormScope() {
  if (!default_group()) throw Error("sync_bn: no process group (Distributed::init first)");
  set_batch_norm_override(sync_batch_norm);
}

SyncBatchNormScope::~SyncBatchNormScope() { set_batch_norm_override(nullptr); }

}  // namespace yolonas
