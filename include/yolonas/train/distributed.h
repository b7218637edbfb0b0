// Multi-process training on PyTorch's own distributed engine (c10d): a TCPStore rendezvous and a
// Gloo process group (CPU tensors; NCCL for CUDA tensors where LibTorch was built with it).
// Names follow torchrun, so `torchrun` or a cluster scheduler can start the ranks:
//   WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT (keys world_size= rank= ... win).
//
// What training does with it (train/trainer.cpp): parameters and buffers are broadcast from rank 0
// at the start; each rank loads its own shard of every global batch (data/loader.h); the loss
// normalizer is all-reduced as SG does; gradients are all-reduced (mean) before each optimizer step;
// BatchNorm is per rank, or synchronized (sync_bn=true: batch statistics all-reduced, differentiably);
// rank 0 alone validates and writes checkpoints and logs, and its decisions (stop) are broadcast.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

namespace yolonas {

struct DistOptions {
  int world_size = 1;
  int rank = 0;
  int local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  // Rendezvous and collectives. Long: the other ranks wait in a collective while rank 0 validates.
  double timeout_s = 3600;
};

// torchrun's environment, or the defaults (a single process) where it is not set. Throws
// yolonas::Error on a malformed value.
DistOptions dist_options_from_env();

class Distributed {
 public:
  // Rendezvous of all ranks (rank 0 hosts the TCPStore at master_addr:master_port) and the process
  // group: Gloo for CPU tensors, NCCL for CUDA tensors (when built in). Throws yolonas::Error with the
  // address and the rank when the rendezvous fails or times out.
  static std::unique_ptr<Distributed> init(const DistOptions& options, const torch::Device& device);
  ~Distributed();

  int rank() const { return opt_.rank; }
  int world_size() const { return opt_.world_size; }
  bool is_main() const { return opt_.rank == 0; }
  const std::string& backend() const { return backend_; }

  void allreduce_sum_(torch::Tensor& t);
  // Every parameter's .grad averaged over the ranks (flattened into one buffer per dtype).
  void allreduce_mean_gradients(const std::vector<torch::Tensor>& params);
  // Tensors from `root` to every rank, in place.
  void broadcast_(std::vector<torch::Tensor> tensors, int root = 0);
  // The same value on every rank, from rank 0.
  double broadcast_value(double v);
  void barrier();

  struct Impl;

 private:
  explicit Distributed(DistOptions o);
  DistOptions opt_;
  std::string backend_;
  torch::Device device_{torch::kCPU};  // where small tensors of the collectives live (NCCL: the GPU)
  std::unique_ptr<Impl> impl_;
};

// A sum over the ranks of the process's group (the last Distributed::init) that autograd sees
// through: forward all-reduces the tensor, backward all-reduces the incoming gradient
// (d(sum over ranks)/d(this rank's input)).
torch::Tensor differentiable_allreduce_sum(const torch::Tensor& t);

// SyncBatchNorm for as long as it lives: every BatchNorm2d of YOLO-NAS in training mode normalizes
// with the statistics of the whole global batch (model/model.h's batch-norm override).
class SyncBatchNormScope {
 public:
  SyncBatchNormScope();  // the process's group (Distributed::init first)
  ~SyncBatchNormScope();
  SyncBatchNormScope(const SyncBatchNormScope&) = delete;
  SyncBatchNormScope& operator=(const SyncBatchNormScope&) = delete;
};

}  // namespace yolonas
