// `yolonas train data=data.yaml model=yolo_nas_s weights=PATH epochs= batch= imgsz= ...`
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "commands.h"
#include "yolonas/core/text.h"
#include "yolonas/core/error.h"
#include "yolonas/train/qat.h"
#include "yolonas/train/trainer.h"

namespace yolonas::cli {

namespace fs = std::filesystem;

namespace {

// A TCP port free on 127.0.0.1 now (the kernel's choice), for the ranks' rendezvous.
int free_loopback_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) close(fd);
    throw Error("nproc=: no free port on 127.0.0.1 for the rendezvous");
  }
  close(fd);
  return ntohs(a.sin_port);
}

TrainConfig train_config(const Args& args) {
  args.check_known({"data", "model", "weights", "preset", "epochs", "batch", "imgsz", "optimizer", "lr0",
                    "weight_decay", "momentum", "nesterov", "warmup_epochs", "warmup_steps", "warmup_mode", "warmup_initial_lr", "final_lr_ratio",
                    "ema", "ema_decay", "clip_grad", "accumulate", "freeze", "workers", "seed", "threads", "rgb",
                    "cache", "strict", "val_period", "patience", "average_best_models", "max_batches", "plots", "project", "name", "exist_ok", "resume", "device", "match_names",
                    "mosaic", "mosaic_prob", "mixup", "hsv", "fliplr", "degrees", "translate", "scale", "shear", "augment",
                    "teacher", "kd_weight", "kd_temperature", "amp", "amp_dtype", "world_size", "rank", "local_rank", "master_addr", "master_port", "sync_bn", "nproc", "qat", "ignore_regions", "multi_scale"});
  TrainConfig c;
  c.apply_preset(args.str("preset", "finetune"));
  c.data = args.str("data", "");
  c.model = args.str("model", c.model);
  c.weights = args.str("weights", "");
  c.epochs = args.integer("epochs", c.epochs);
  c.batch = args.integer("batch", c.batch);
  c.imgsz = args.imgsz(c.imgsz);
  c.optimizer = args.str("optimizer", c.optimizer);
  c.lr0 = args.real_in("lr0", c.lr0, 0, 10);
  c.weight_decay = args.real("weight_decay", c.weight_decay);
  c.momentum = args.real("momentum", c.momentum);
  c.nesterov = args.boolean("nesterov", c.nesterov);
  c.warmup_mode = args.str("warmup_mode", c.warmup_mode);  // checked by train()
  c.warmup_epochs = args.integer("warmup_epochs", c.warmup_epochs);
  c.warmup_steps = args.integer("warmup_steps", c.warmup_steps);
  c.warmup_initial_lr = args.real("warmup_initial_lr", c.warmup_initial_lr);
  c.final_lr_ratio = args.real("final_lr_ratio", c.final_lr_ratio);
  c.ema = args.boolean("ema", c.ema);
  c.ema_decay = args.real("ema_decay", c.ema_decay);
  c.clip_grad = args.real("clip_grad", c.clip_grad);
  c.accumulate = args.integer("accumulate", c.accumulate);
  const std::string freeze = args.str("freeze", "none");
  if (freeze != "none" && freeze != "backbone" && freeze != "false")
    throw Error("freeze=" + freeze + ": expected none or backbone");
  c.freeze_backbone = freeze == "backbone";
  c.workers = args.integer("workers", c.workers);
  c.seed = static_cast<uint64_t>(args.integer("seed", static_cast<int>(c.seed)));
  c.threads = args.integer("threads", c.threads);
  c.match_names = args.boolean("match_names", c.match_names);
  c.device = args.str("device", "");
  c.rgb = args.boolean("rgb", c.rgb);
  const std::string cache = args.str("cache", "false");
  if (cache != "false" && cache != "ram" && cache != "true") throw Error("cache=" + cache + ": expected false or ram");
  c.cache_ram = cache != "false";
  c.strict = args.boolean("strict", c.strict);
  c.val_period = args.integer("val_period", c.val_period);
  c.patience = args.integer_in("patience", c.patience, 0, 1000000);
  // SG's average_best_models: true (SG's 10 models), false, or how many best epochs to average.
  const std::string avg = args.str("average_best_models", "true");
  if (avg == "true") c.average_best_models = 10;
  else if (avg == "false") c.average_best_models = 0;
  else c.average_best_models = args.integer_in("average_best_models", c.average_best_models, 0, 1000);
  c.max_batches = args.integer("max_batches", c.max_batches);
  c.plots = args.boolean("plots", c.plots);
  c.project = args.str("project", c.project);
  c.name = args.str("name", c.name);
  c.exist_ok = args.boolean("exist_ok", c.exist_ok);
  c.resume = args.str("resume", "");
  if (c.resume == "false") c.resume.clear();
  c.teacher = args.str("teacher", "");
  c.kd_weight = args.real_in("kd_weight", c.kd_weight, 0, 1000);
  c.kd_temperature = args.real_in("kd_temperature", c.kd_temperature, 0.01, 100);
  c.amp = args.str("amp", c.amp);
  c.amp_dtype = args.str("amp_dtype", c.amp_dtype);
  c.sync_bn = args.boolean("sync_bn", c.sync_bn);
  c.ignore_regions = args.boolean("ignore_regions", c.ignore_regions);
  if (args.has("multi_scale")) {  // true = SG's 5 steps of 32, false = 0, or a number of steps
    const std::string v = lower(args.str("multi_scale", ""));
    if (v == "true" || v == "false") {
      c.multi_scale = v == "true" ? 5 : 0;
    } else {
      try {
        c.multi_scale = args.integer_in("multi_scale", 0, 0, 64);
      } catch (const Error&) {
        throw Error("multi_scale=" + clip(args.str("multi_scale", ""), 40) +
                    ": expected true (SG's 5 steps of 32 pixels), false, or a number of steps from 0 to 64");
      }
    }
  }
  // This process's place: keys, else torchrun's environment (WORLD_SIZE, RANK, ...), else one process.
  const DistOptions env = dist_options_from_env();
  c.world_size = args.integer_in("world_size", env.world_size, 1, 65536);
  c.rank = args.integer_in("rank", env.rank, 0, 65535);
  c.local_rank = args.integer_in("local_rank", args.has("rank") ? c.rank : env.local_rank, 0, 65535);
  c.master_addr = args.str("master_addr", env.master_addr);
  c.master_port = args.integer_in("master_port", env.master_port, 1, 65535);
  // Augmentation switches (Ultralytics names where they exist).
  if (args.has("augment") && !args.boolean("augment", true)) c.augment = AugmentConfig::none();
  c.augment.mosaic = args.boolean("mosaic", c.augment.mosaic);
  c.augment.mosaic_prob = args.real("mosaic_prob", c.augment.mosaic_prob);
  if (!(c.augment.mosaic_prob >= 0 && c.augment.mosaic_prob <= 1))
    throw Error("mosaic_prob=" + args.str("mosaic_prob", "") + ": expected a probability in [0, 1]");
  c.augment.mixup = args.boolean("mixup", c.augment.mixup);
  c.augment.hsv = args.boolean("hsv", c.augment.hsv);
  c.augment.flip_prob = args.real("fliplr", c.augment.flip ? c.augment.flip_prob : 0.0);
  c.augment.flip = c.augment.flip_prob > 0;
  c.augment.degrees = args.real("degrees", c.augment.degrees);
  c.augment.translate = args.real("translate", c.augment.translate);
  c.augment.shear = args.real("shear", c.augment.shear);
  if (args.has("scale")) {  // Ultralytics: scale=0.5 -> [0.5, 1.5]
    const double s = args.real("scale", 0.5);
    c.augment.scale_min = 1.0 - s;
    c.augment.scale_max = 1.0 + s;
  }
  if (c.optimizer != "AdamW" && c.optimizer != "Adam" && c.optimizer != "SGD" && c.optimizer != "adamw" &&
      c.optimizer != "adam" && c.optimizer != "sgd")
    throw Error("optimizer=" + c.optimizer + ": expected AdamW, Adam or SGD");
  return c;
}

}  // namespace

// nproc=N: N local processes of this program, ranks 0..N-1, rendezvous on a free loopback port.
// The first one that fails stops the others; the exit code is the first failure's (0 when all end well).
static int launch_local(const Args& args, int nproc) {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec || exe.filename() != "yolonas")
    throw Error("nproc=: starts `yolonas train` processes; run it from the yolonas program (or start the ranks with "
                "torchrun-style WORLD_SIZE/RANK/MASTER_ADDR/MASTER_PORT yourself)");
  if (args.has("world_size") || args.has("rank"))
    throw Error("nproc= sets world_size and rank itself: give one or the other");
  const int port = free_loopback_port();
  const int threads = args.has("threads") ? args.integer("threads", 0)
                                          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / nproc);
  std::vector<pid_t> pids;
  for (int r = 0; r < nproc; ++r) {
    std::vector<std::string> argv{exe.string(), "train"};
    for (const auto& [k, v] : args.values())
      if (k != "nproc" && k != "threads") argv.push_back(k + "=" + v);
    for (const std::string& kv : {"world_size=" + std::to_string(nproc), "rank=" + std::to_string(r),
                                  "local_rank=" + std::to_string(r), std::string("master_addr=127.0.0.1"),
                                  "master_port=" + std::to_string(port), "threads=" + std::to_string(threads)})
      argv.push_back(kv);
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    pid_t pid = -1;
    if (posix_spawn(&pid, exe.c_str(), nullptr, nullptr, cargv.data(), environ) != 0) {
      for (pid_t p : pids) kill(p, SIGTERM);
      throw Error("nproc=: cannot start rank " + std::to_string(r));
    }
    pids.push_back(pid);
  }
  std::printf("started %d processes (ranks 0-%d, rendezvous 127.0.0.1:%d, %d threads each)\n", nproc, nproc - 1, port,
              threads);
  std::fflush(stdout);
  int result = 0;
  for (size_t left = pids.size(); left > 0; --left) {
    int status = 0;
    const pid_t done = wait(&status);
    if (done < 0) break;
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (code != 0 && result == 0) {
      result = code;
      const auto it = std::find(pids.begin(), pids.end(), done);
      std::fprintf(stderr, "rank %ld exited with %d: stopping the others\n", static_cast<long>(it - pids.begin()), code);
      for (pid_t p : pids)
        if (p != done) kill(p, SIGTERM);
    }
  }
  return result;
}

// `train qat=true weights=trained.pth data=...`: quantization-aware fine-tuning into an INT8 model file.
int cmd_qat(const Args& args) {
  args.check_known({"qat", "data", "model", "weights", "epochs", "batch", "imgsz", "lr0", "weight_decay", "workers",
                    "seed", "threads", "max_batches", "project", "name", "exist_ok", "calib_method", "percentile",
                    "int8_heads", "calib_images"});
  QatConfig c;
  c.data = args.str("data", "");
  if (c.data.empty()) throw Error("qat=true needs data= (the dataset the model was trained on)");
  c.weights = args.str("weights", "");
  c.model = args.str("model", "");
  c.epochs = args.integer_in("epochs", c.epochs, 1, 100000);
  c.batch = args.integer_in("batch", c.batch, 1, 4096);
  c.imgsz = args.imgsz(0);
  c.lr0 = args.real_in("lr0", c.lr0, 0, 10);
  c.weight_decay = args.real("weight_decay", c.weight_decay);
  c.workers = args.integer_in("workers", c.workers, 0, 64);
  c.seed = static_cast<uint64_t>(args.integer("seed", static_cast<int>(c.seed)));
  c.threads = args.integer_in("threads", 0, 0, 1024);
  c.max_batches = args.integer_in("max_batches", 0, 0, 1 << 30);
  c.calib_method = parse_calib_method(args.str("calib_method", "max"));
  c.percentile = args.real_in("percentile", c.percentile, 50, 100);
  c.float_heads = !args.boolean("int8_heads", true);
  c.calibration_images = static_cast<size_t>(args.integer_in("calib_images", 32, 1, 100000));
  c.project = args.str("project", c.project);
  c.name = args.str("name", "qat");
  c.exist_ok = args.boolean("exist_ok", false);
  const QatResult r = run_qat(c);
  std::printf("INT8 model: %s\nResults saved to %s\n", r.best.c_str(), r.run_dir.c_str());
  return 0;
}

int cmd_train(const Args& args, TrainOutcome* out) {
  if (args.boolean("qat", false)) return cmd_qat(args);
  const int nproc = args.integer_in("nproc", 1, 1, 1024);
  if (nproc > 1) return launch_local(args, nproc);
  TrainResult r = train(train_config(args));
  if (out) *out = {r.run_dir, r.best, r.last, r.stopped_early, r.average, r.epochs_done, r.best_map50_95, r.best_map50};
  if (!r.stopped_early.empty()) std::printf("stopped after epoch %d: %s\n", r.epochs_done, r.stopped_early.c_str());
  if (r.run_dir.empty()) return 0;  // a rank other than 0: rank 0 reports
  std::printf("training done: best mAP50-95 %.4f, mAP50 %.4f\nweights: %s (best), %s (last)%s%s\nResults saved to %s\n",
              r.best_map50_95, r.best_map50, r.best.c_str(), r.last.c_str(), r.average.empty() ? "" : ", ",
              r.average.empty() ? "" : (r.average + " (average of the best epochs)").c_str(), r.run_dir.c_str());
  return 0;
}

}  // namespace yolonas::cli
