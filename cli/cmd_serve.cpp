// `yolonas serve model=... host=127.0.0.1 port=8080`: the HTTP server (serve/server.h) around the
// model `predict` would load (the built-in default without model= and weights=). SIGTERM or SIGINT
// starts a graceful shutdown: new requests get 503, those in flight finish, exit code 0.
#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "commands.h"
#include "yolonas/core/error.h"
#include "yolonas/serve/batcher.h"
#include "yolonas/serve/server.h"

namespace yolonas::cli {

int cmd_serve(const Args& args) {
  args.check_known({"model", "weights", "host", "port", "max_batch", "max_wait_ms", "max_queue", "max_body_mb",
                    "max_pixels", "timeout_ms", "http_threads", "conf", "iou", "max_det", "imgsz", "threads", "ema",
                    "fuse", "device", "engine", "calib", "calib_method", "percentile", "int8_select", "int8_heads", "int8_budget",
                    "random_init", "grace_ms", "warmup"});
  serve::ServeOptions so;
  so.host = args.str("host", "127.0.0.1");
  so.port = args.integer_in("port", 8080, 0, 65535);
  so.max_batch = args.integer_in("max_batch", 8, 1, 256);
  so.max_wait_ms = args.real_in("max_wait_ms", 5, 0, 10000);
  so.max_queue = args.integer_in("max_queue", 64, 1, 100000);
  so.max_body_mb = args.real_in("max_body_mb", 20, 0.001, 4096);
  so.max_pixels = args.real_in("max_pixels", 64e6, 0, 1e10);
  so.timeout_ms = args.real_in("timeout_ms", 30000, 1, 3.6e6);
  so.http_threads = args.integer_in("http_threads", 32, 2, 4096);
  const double grace_ms = args.real_in("grace_ms", 30000, 0, 3.6e6);
  DetectorOptions dopt = detector_options(args);

  // SIGTERM and SIGINT are taken by this thread (sigwait), so every thread started from here on,
  // the engine's included, inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  Detector det = Detector::load(dopt);
  std::printf("%s\n", det.describe().c_str());
  serve::ServedModel m;
  m.engine = &det.engine();
  m.preprocessing = det.preprocessing();
  m.names = det.names();
  m.default_nms = det.default_nms();
  if (args.has("conf")) m.default_nms.conf = static_cast<float>(args.real_in("conf", 0.25, 0, 1));
  if (args.has("iou")) m.default_nms.iou = static_cast<float>(args.real_in("iou", 0.7, 0, 1));
  m.default_nms.max_det = args.integer_in("max_det", 300, 1, 10000);
  m.description = det.describe();
  // What actually runs (engine=auto picks the oneDNN runtime on the CPU, LibTorch on a GPU).
  const std::string& d = m.description;
  m.engine_name = d.find("INT8") != std::string::npos   ? "int8"
                  : d.find("BF16") != std::string::npos ? "bf16"
                  : d.find("oneDNN") != std::string::npos ? "onednn"
                                                          : "libtorch";
  m.name = !dopt.weights.empty() ? std::filesystem::path(dopt.weights).stem().string()
           : !dopt.model.empty() ? std::filesystem::path(dopt.model).stem().string()
                                 : std::string("yolonas_default");

  // One run per engine batch size (serve/batcher.h) before the first request: the engine creates its
  // primitives for a batch size on the first run of that size (a request would otherwise wait).
  if (args.boolean("warmup", true)) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto& pp = det.preprocessing();
    const cv::Mat gray(pp.input_h, pp.input_w, CV_8UC3, cv::Scalar(114, 114, 114));
    std::string sizes;
    for (int n : serve::engine_batch_sizes(so.max_batch)) {
      det.predict(std::vector<cv::Mat>(n, gray));
      sizes += (sizes.empty() ? "" : ", ") + std::to_string(n);
    }
    std::printf("warm-up: batch sizes %s in %.1f s\n", sizes.c_str(),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  serve::Server server(m, so);
  const int port = server.bind();
  std::printf("serving on http://%s:%d  (POST /v1/detect, GET /v1/models /healthz /metrics, web page at /)\n",
              so.host.c_str(), port);
  std::printf("dynamic batching: max_batch=%d max_wait_ms=%g, queue %d, timeout %g ms\n", so.max_batch,
              so.max_wait_ms, so.max_queue, so.timeout_ms);
  std::fflush(stdout);
  std::thread listener([&] { server.serve(); });

  int sig = 0;
  sigwait(&signals, &sig);
  std::printf("%s: shutting down: new requests get 503, %d in flight finish (at most %g ms)\n",
              sig == SIGTERM ? "SIGTERM" : "SIGINT", server.in_flight(), grace_ms);
  std::fflush(stdout);
  server.shutdown(grace_ms);
  listener.join();
  std::printf("stopped\n");
  return 0;
}

}  // namespace yolonas::cli
