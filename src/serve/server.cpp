#include "yolonas/serve/server.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "yolonas/core/error.h"
#include "yolonas/serve/batcher.h"
#include "yolonas/serve/metrics.h"
#include "yolonas/serve/request.h"

namespace yolonas::serve {

using json = nlohmann::json;

namespace {

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

void send_json(httplib::Response& res, int status, const std::string& body) {
  res.status = status;
  res.set_content(body, "application/json");
}

void send_error(httplib::Response& res, int status, const std::string& message) {
  send_json(res, status, error_json(status, message));
}

RawRequest raw_from(const httplib::Request& req) {
  RawRequest raw;
  raw.content_type = req.get_header_value("Content-Type");
  raw.body = &req.body;
  for (const auto& [k, v] : req.params) raw.query.emplace(k, v);
  for (const auto& [name, part] : req.files) {
    if (part.filename.empty()) {
      raw.fields.emplace(name, part.content);
    } else {
      if (raw.first_file.empty()) raw.first_file = name;
      raw.files.emplace(name, part.content);
    }
  }
  return raw;
}

}  // namespace

struct Server::Impl {
  ServedModel model;
  ServeOptions opt;
  Metrics metrics;
  std::unique_ptr<Batcher> batcher;
  httplib::Server http;
  std::atomic<bool> draining{false};
  std::atomic<int> in_flight{0};
  std::atomic<int> coming{0};
  int port = 0;

  Impl(ServedModel m, ServeOptions o) : model(std::move(m)), opt(std::move(o)) {
    if (!model.engine) throw Error("serve: no engine");
    batcher = std::make_unique<Batcher>(*model.engine, model.preprocessing,
                                        BatcherOptions{opt.max_batch, opt.max_wait_ms, opt.max_queue},
                                        [this](int n, double ms) { metrics.batch(n, ms / 1000.0); },
                                        [this] { return coming.load(); });
    const int threads = std::max(2, opt.http_threads);
    http.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
    http.set_tcp_nodelay(true);  // no Nagle wait between the headers and the body of an answer
    http.set_payload_max_length(static_cast<size_t>(opt.max_body_mb * 1024 * 1024));
    http.set_read_timeout(std::max<time_t>(1, static_cast<time_t>(opt.timeout_ms / 1000)), 0);
    http.set_write_timeout(std::max<time_t>(1, static_cast<time_t>(opt.timeout_ms / 1000)), 0);
    routes();
  }

  // Runs a handler and counts it in the metrics.
  template <typename F>
  httplib::Server::Handler counted(const std::string& path, F f) {
    return [this, path, f](const httplib::Request& req, httplib::Response& res) {
      const auto t0 = Clock::now();
      try {
        f(req, res);
      } catch (const std::exception& e) {
        send_error(res, 500, std::string("internal error: ") + e.what());
      }
      metrics.request(path, res.status, seconds_since(t0));
    };
  }

  void busy(httplib::Response& res) {
    metrics.rejected("queue_full");
    res.set_header("Retry-After", "1");
    send_error(res, 503, "the server is busy (" + std::to_string(opt.max_queue) + " requests queued): retry after a second");
  }

  void detect(const httplib::Request& req, httplib::Response& res) {
    const auto t0 = Clock::now();
    if (draining) {
      res.set_header("Connection", "close");
      metrics.rejected("shutting_down");
      return send_error(res, 503, "the server is shutting down");
    }
    // in_flight: until the handler returns (shutdown waits for it); coming: until the batcher has
    // answered (the batcher waits for company only while requests are coming).
    struct Count {
      std::atomic<int>* n;
      explicit Count(std::atomic<int>& c) : n(&c) { ++*n; }
      void release() {
        if (n) --*n;
        n = nullptr;
      }
      ~Count() { release(); }
    } guard(in_flight), on_its_way(coming);
    if (batcher->queue_depth() >= opt.max_queue) return busy(res);  // before spending time on decoding
    DetectRequest dr;
    try {
      dr = parse_detect_request(raw_from(req), model.default_nms, model.names, model.preprocessing, opt.max_pixels);
    } catch (const RequestError& e) {
      metrics.rejected("bad_request");
      return send_error(res, e.status(), e.what());
    }
    const auto t_parsed = Clock::now();
    auto job = batcher->submit(std::move(dr.image), dr.nms);
    if (!job) return busy(res);
    const double left = opt.timeout_ms - std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    const bool answered = job->wait_for(std::max(1.0, left));
    on_its_way.release();
    if (!answered) {
      metrics.rejected("timeout");
      return send_error(res, 504, "no answer within timeout_ms=" + std::to_string(static_cast<int>(opt.timeout_ms)));
    }
    if (!job->error.empty()) return send_error(res, 500, "inference failed: " + job->error);
    Timings t;
    t.queue = job->queue_ms;
    t.preprocess = job->result.preprocess_ms + std::chrono::duration<double, std::milli>(t_parsed - t0).count();
    t.inference = job->result.inference_ms;
    t.postprocess = job->result.postprocess_ms;
    t.total = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    send_json(res, 200, detections_json(job->result, model.names, model.name, job->batch_size, t));
  }

  void routes() {
    http.Post("/v1/detect", counted("/v1/detect", [this](const httplib::Request& q, httplib::Response& r) { detect(q, r); }));
    http.Get("/v1/models", counted("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
      const PreprocessParams& pp = model.preprocessing;
      json m = {{"name", model.name},
                {"description", model.description},
                {"engine", model.engine_name},
                {"classes", model.names},
                {"num_classes", model.names.size()},
                {"input", {{"height", pp.input_h}, {"width", pp.input_w}}},
                {"preprocessing", pp.describe()},
                {"defaults", {{"conf", model.default_nms.conf}, {"iou", model.default_nms.iou},
                              {"max_det", model.default_nms.max_det}}},
                {"batching", {{"max_batch", opt.max_batch}, {"max_wait_ms", opt.max_wait_ms},
                              {"max_queue", opt.max_queue}}}};
      send_json(res, 200, json({{"models", json::array({m})}}).dump());
    }));
    http.Get("/healthz", counted("/healthz", [this](const httplib::Request&, httplib::Response& res) {
      if (draining) return send_json(res, 503, R"({"status":"draining"})");
      send_json(res, 200, R"({"status":"ok"})");
    }));
    http.Get("/metrics", counted("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(metrics.render(batcher->queue_depth(), in_flight.load()), "text/plain; version=0.0.4");
    }));
    http.Get("/", counted("/", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(web_page(), "text/html; charset=utf-8");
    }));
    // Answers the library produced without a handler (404, 413 body too large, ...) get a JSON body
    // and are counted.
    http.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;
      std::string msg = "HTTP " + std::to_string(res.status);
      if (res.status == 404) msg = "no such endpoint: " + clip(req.path, 100) +
                                   " (POST /v1/detect, GET /v1/models, /healthz, /metrics, /)";
      if (res.status == 413) {
        char mb[32];
        std::snprintf(mb, sizeof mb, "%g", opt.max_body_mb);
        msg = "request body too large (max_body_mb=" + std::string(mb) + ")";
        if (req.get_header_value("Content-Type").rfind("application/x-www-form-urlencoded", 0) == 0)
          msg = "Content-Type application/x-www-form-urlencoded is for small forms: send the image as image/*, "
                "application/octet-stream, multipart/form-data or JSON";
      }
      if (res.status == 405) msg = "method not allowed";
      send_error(res, res.status, msg);
      if (res.status == 413 || res.status == 404) metrics.request(res.status == 404 ? "other" : req.path, res.status, 0);
    });
  }
};

Server::Server(ServedModel model, ServeOptions options) : impl_(std::make_unique<Impl>(std::move(model), std::move(options))) {}

Server::~Server() {
  impl_->http.stop();
  impl_->batcher->stop();
}

int Server::bind() {
  Impl& s = *impl_;
  if (s.opt.port == 0) {
    s.port = s.http.bind_to_any_port(s.opt.host);
    if (s.port <= 0) throw Error("serve: cannot bind " + s.opt.host + " to any port");
  } else {
    if (!s.http.bind_to_port(s.opt.host, s.opt.port))
      throw Error("serve: cannot bind " + s.opt.host + ":" + std::to_string(s.opt.port) +
                  " (in use, a privileged port, or not an address of this machine)");
    s.port = s.opt.port;
  }
  return s.port;
}

void Server::serve() { impl_->http.listen_after_bind(); }

void Server::shutdown(double grace_ms) {
  Impl& s = *impl_;
  s.draining = true;
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double, std::milli>(grace_ms));
  while (s.in_flight.load() > 0 && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  s.http.stop();
  s.batcher->stop();
}

int Server::port() const { return impl_->port; }
int Server::in_flight() const { return impl_->in_flight.load(); }

}  // namespace yolonas::serve
