// `yolonas serve`: an HTTP server around one detection engine (cpp-httplib, Debian's
// libcpp-httplib-dev), with dynamic batching (batcher.h), Prometheus metrics (metrics.h) and a web
// page. Endpoints:
//   POST /v1/detect   image -> JSON detections (request.h)
//   GET  /v1/models   the model: name, classes, input size, engine, preprocessing
//   GET  /healthz     200 {"status":"ok"}; 503 {"status":"draining"} once shutdown has begun
//   GET  /metrics     Prometheus text
//   GET  /            the web page (drop an image, webcam snapshot, conf slider, class filter)
// Limits: a body larger than max_body_mb gets 413; a full queue gets 503 with Retry-After; a
// request not answered within timeout_ms gets 504; during shutdown, new detections get 503.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "yolonas/detect/pipeline.h"

namespace yolonas::serve {

struct ServedModel {
  InferenceEngine* engine = nullptr;  // must outlive the server
  PreprocessParams preprocessing;
  std::vector<std::string> names;
  NmsParams default_nms;
  std::string name;         // "yolonas_default", "yolo_nas_s", ...
  std::string engine_name;  // "onednn", "int8", "bf16", "libtorch"
  std::string description;  // Detector::describe()
};

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 8080;           // 0: any free port (port() tells which)
  int max_batch = 8;         // dynamic batching: 1 turns it off
  double max_wait_ms = 5;
  int max_queue = 64;
  double max_body_mb = 20;
  double max_pixels = 64e6;  // PNG/JPEG declaring more pixels are refused before decoding
  double timeout_ms = 30000;
  int http_threads = 32;     // connections served at once
};

class Server {
 public:
  Server(ServedModel model, ServeOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds host:port; throws yolonas::Error when it cannot. Returns the port.
  int bind();
  // Serves until stop() (blocks). bind() first.
  void serve();
  // Graceful shutdown: /v1/detect and /healthz answer 503 from now on, requests in flight finish
  // (waiting at most grace_ms), then the listener stops and serve() returns.
  void shutdown(double grace_ms);
  int port() const;
  int in_flight() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The web page served at "/" (assets/serve/index.html, built in).
const std::string& web_page();

}  // namespace yolonas::serve
