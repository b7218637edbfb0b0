// yolonas serve: request parsing, dynamic batching, metrics, the HTTP server end to end (with the
// built-in default model on the oneDNN runtime) and the CLI's graceful SIGTERM.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <sstream>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "test_util.h"
#include "yolonas/runtime/rt_detector.h"
#include "yolonas/serve/batcher.h"
#include "yolonas/serve/metrics.h"
#include "yolonas/serve/request.h"
#include "yolonas/serve/server.h"

namespace yolonas::serve {
namespace {

using json = nlohmann::json;

const std::string kDog = "/usr/share/darknet/data/dog.jpg";
const std::string kHorses = "/usr/share/darknet/data/horses.jpg";

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string encode(const cv::Mat& img, const std::string& ext) {
  std::vector<uchar> buf;
  cv::imencode(ext, img, buf);
  return std::string(buf.begin(), buf.end());
}

cv::Mat test_image(int h, int w) {
  cv::Mat img(h, w, CV_8UC3, cv::Scalar(40, 90, 160));
  cv::circle(img, {w / 2, h / 2}, std::min(h, w) / 3, cv::Scalar(200, 30, 30), -1);
  return img;
}

std::string base64(const std::string& bytes) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
  }
  if (i + 1 == bytes.size()) {
    const unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    out += {t[v >> 18], t[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == bytes.size()) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], '='};
  }
  return out;
}

const std::vector<std::string> kNames = {"car", "dog", "person"};

int status_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const RequestError& e) {
    return e.status();
  }
  return 0;
}

// ---- request parsing ----------------------------------------------------------------------------

TEST(ServeRequest, Base64DecodesAndRefusesGarbage) {
  for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10 binary", 10)})
    EXPECT_EQ(decode_base64(base64(s)), s);
  EXPECT_EQ(decode_base64("aGVs\nbG8="), "hello");      // whitespace ignored
  EXPECT_EQ(decode_base64("aGVsbG8"), "hello");         // padding optional
  EXPECT_EQ(status_of([] { decode_base64("aGV*bG8="); }), 400);
  EXPECT_EQ(status_of([] { decode_base64("aGVsbG8=x"); }), 400);
  EXPECT_EQ(status_of([] { decode_base64("a"); }), 400);  // one char: not even one byte
}

TEST(ServeRequest, EveryBodyFormGivesTheSameImageAndOptions) {
  const cv::Mat img = test_image(48, 64);
  const std::string png = encode(img, ".png");
  const PreprocessParams pp = PreprocessParams::for_imgsz(320, 320);
  const NmsParams defaults;

  RawRequest raw_bytes;
  raw_bytes.content_type = "image/png";
  raw_bytes.body = &png;
  raw_bytes.query = {{"conf", "0.4"}, {"classes", "dog,0"}, {"max_det", "7"}, {"agnostic", "true"}};
  const DetectRequest a = parse_detect_request(raw_bytes, defaults, kNames, pp);
  EXPECT_EQ(a.image.rows, 48);
  EXPECT_EQ(a.image.cols, 64);
  EXPECT_EQ(cv::norm(a.image, img, cv::NORM_INF), 0);
  EXPECT_FLOAT_EQ(a.nms.conf, 0.4f);
  EXPECT_EQ(a.nms.classes, (std::vector<int>{1, 0}));
  EXPECT_EQ(a.nms.max_det, 7);
  EXPECT_TRUE(a.nms.agnostic);

  RawRequest multipart;
  multipart.content_type = "multipart/form-data; boundary=x";
  multipart.files = {{"upload", png}};
  multipart.first_file = "upload";
  multipart.fields = {{"iou", "0.5"}};
  const DetectRequest b = parse_detect_request(multipart, defaults, kNames, pp);
  EXPECT_EQ(cv::norm(b.image, img, cv::NORM_INF), 0);
  EXPECT_FLOAT_EQ(b.nms.iou, 0.5f);
  EXPECT_FLOAT_EQ(b.nms.conf, defaults.conf);

  const std::string body = json({{"image", "data:image/png;base64," + base64(png)}, {"conf", 0.6}, {"classes", {"person"}}}).dump();
  RawRequest js;
  js.content_type = "application/json";
  js.body = &body;
  js.query = {{"conf", "0.7"}};  // the query overrides the body
  const DetectRequest c = parse_detect_request(js, defaults, kNames, pp);
  EXPECT_EQ(cv::norm(c.image, img, cv::NORM_INF), 0);
  EXPECT_FLOAT_EQ(c.nms.conf, 0.7f);
  EXPECT_EQ(c.nms.classes, std::vector<int>{2});
}

TEST(ServeRequest, BadRequestsGetTheirStatus) {
  const PreprocessParams pp = PreprocessParams::for_imgsz(320, 320);
  const std::string png = encode(test_image(20, 20), ".png");
  auto with = [&](const std::string& ct, const std::string& body, std::map<std::string, std::string> query = {}) {
    return status_of([&] {
      RawRequest r;
      r.content_type = ct;
      r.body = &body;
      r.query = std::move(query);
      parse_detect_request(r, NmsParams{}, kNames, pp);
    });
  };
  EXPECT_EQ(with("image/png", png), 0);
  EXPECT_EQ(with("image/png", ""), 400);                             // empty
  EXPECT_EQ(with("image/jpeg", "not an image"), 400);                // undecodable
  EXPECT_EQ(with("image/png", png.substr(0, png.size() / 2)), 400);  // truncated
  EXPECT_EQ(with("text/plain", png), 415);
  EXPECT_EQ(with("application/json", "{\"image\": 3}"), 400);
  EXPECT_EQ(with("application/json", "{not json"), 400);
  EXPECT_EQ(with("image/png", png, {{"conf", "abc"}}), 400);
  EXPECT_EQ(with("image/png", png, {{"conf", "1.5"}}), 400);
  EXPECT_EQ(with("image/png", png, {{"classes", "unicorn"}}), 400);
  EXPECT_EQ(with("image/png", png, {{"classes", "3"}}), 400);  // only 3 classes: ids 0..2
  EXPECT_EQ(with("image/png", png, {{"max_det", "0"}}), 400);
  EXPECT_EQ(with("image/png", encode(test_image(1, 2000), ".png")), 400);  // rescales to nothing

  // A PNG header declaring 100000 x 100000 pixels is refused before decoding (a decompression bomb).
  std::string bomb = png.substr(0, 33);
  auto put32 = [&](size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) bomb[at + i] = static_cast<char>((v >> (24 - 8 * i)) & 0xFF);
  };
  put32(16, 100000);
  put32(20, 100000);
  EXPECT_EQ(with("image/png", bomb), 413);
}

TEST(ServeRequest, ImageSizeFromPngAndJpegHeaders) {
  int w = 0, h = 0;
  ASSERT_TRUE(image_size_from_header(encode(test_image(37, 123), ".png"), &w, &h));
  EXPECT_EQ(w, 123);
  EXPECT_EQ(h, 37);
  ASSERT_TRUE(image_size_from_header(encode(test_image(51, 77), ".jpg"), &w, &h));
  EXPECT_EQ(w, 77);
  EXPECT_EQ(h, 51);
  EXPECT_FALSE(image_size_from_header(encode(test_image(10, 10), ".bmp"), &w, &h));
  EXPECT_FALSE(image_size_from_header("\xff\xd8\xff", &w, &h));  // truncated JPEG: unknown, not a crash
}

TEST(ServeRequest, DetectionsJsonClipsBoxesAndNamesClasses) {
  ImageResult r;
  r.letterbox.src_w = 100;
  r.letterbox.src_h = 50;
  r.detections = {{-5.f, 10.f, 120.f, 40.123f, 0.91234f, 1}};
  const json j = json::parse(detections_json(r, kNames, "m", 3, Timings{1, 2, 3, 4, 10}));
  EXPECT_EQ(j["detections"][0]["name"], "dog");
  EXPECT_EQ(j["detections"][0]["box"], json({0.0, 10.0, 100.0, 40.12}));
  EXPECT_DOUBLE_EQ(j["detections"][0]["score"].get<double>(), 0.9123);
  EXPECT_EQ(j["batch_size"], 3);
  EXPECT_EQ(j["image"]["width"], 100);
  EXPECT_DOUBLE_EQ(j["timings_ms"]["total"].get<double>(), 10.0);
}

// ---- metrics ------------------------------------------------------------------------------------

TEST(ServeMetrics, PrometheusTextHasCumulativeBuckets) {
  Metrics m;
  m.request("/v1/detect", 200, 0.02);
  m.request("/v1/detect", 200, 0.2);
  m.request("/v1/detect", 503, 0.001);
  m.batch(3, 0.05);
  m.rejected("queue_full");
  const std::string text = m.render(5, 2);
  EXPECT_NE(text.find("yolonas_requests_total{path=\"/v1/detect\",code=\"200\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("yolonas_requests_total{path=\"/v1/detect\",code=\"503\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("yolonas_request_duration_seconds_bucket{path=\"/v1/detect\",le=\"0.005\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("yolonas_request_duration_seconds_bucket{path=\"/v1/detect\",le=\"0.025\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("yolonas_request_duration_seconds_bucket{path=\"/v1/detect\",le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("yolonas_request_duration_seconds_count{path=\"/v1/detect\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("yolonas_batch_size_bucket{le=\"2\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("yolonas_batch_size_bucket{le=\"4\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("yolonas_images_total 3\n"), std::string::npos);
  EXPECT_NE(text.find("yolonas_rejected_total{reason=\"queue_full\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("yolonas_queue_depth 5\n"), std::string::npos);
  EXPECT_NE(text.find("yolonas_in_flight 2\n"), std::string::npos);
}

// ---- batching -----------------------------------------------------------------------------------

// An engine that blocks until released and records the batch sizes it ran (no detections).
class GateEngine : public InferenceEngine {
 public:
  void run(const float*, int batch, int height, int width, std::vector<float>& boxes, std::vector<float>& scores) override {
    std::unique_lock<std::mutex> lk(m_);
    batches_.push_back(batch);
    ++started_;
    cv_.notify_all();
    cv_.wait(lk, [&] { return open_; });
    const size_t a = static_cast<size_t>(height / 8) * (width / 8);
    boxes.assign(batch * a * 4, 0.f);
    scores.assign(batch * a * 2, 0.f);
  }
  int num_classes() const override { return 2; }
  std::string describe() const override { return "gate"; }
  void open() {
    std::lock_guard<std::mutex> lk(m_);
    open_ = true;
    cv_.notify_all();
  }
  void wait_started(int n) {
    std::unique_lock<std::mutex> lk(m_);
    cv_.wait(lk, [&] { return started_ >= n; });
  }
  std::vector<int> batches() {
    std::lock_guard<std::mutex> lk(m_);
    return batches_;
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  bool open_ = false;
  int started_ = 0;
  std::vector<int> batches_;
};

TEST(ServeBatcher, FullQueueRefusesAndAbandonedJobsAreSkipped) {
  GateEngine engine;
  Batcher b(engine, PreprocessParams::for_imgsz(64, 64), {1, 0, 2});
  auto first = b.submit(test_image(30, 30), {});
  ASSERT_TRUE(first);
  engine.wait_started(1);  // the worker holds the first; the queue is empty again
  auto second = b.submit(test_image(30, 30), {});
  auto third = b.submit(test_image(30, 30), {});
  ASSERT_TRUE(second && third);
  EXPECT_EQ(b.queue_depth(), 2);
  EXPECT_EQ(b.submit(test_image(30, 30), {}), nullptr);  // max_queue=2
  EXPECT_FALSE(second->wait_for(1));                    // gives up: abandoned
  engine.open();
  EXPECT_TRUE(first->wait_for(10000));
  EXPECT_TRUE(third->wait_for(10000));
  b.stop();
  EXPECT_EQ(engine.batches(), (std::vector<int>{1, 1}));  // the abandoned one never ran
  EXPECT_EQ(b.submit(test_image(30, 30), {}), nullptr);   // stopped
}

TEST(ServeBatcher, BatchesSplitIntoPowersOfTwo) {
  EXPECT_EQ(split_batch(7, 8), (std::vector<int>{4, 2, 1}));
  EXPECT_EQ(split_batch(8, 8), (std::vector<int>{8}));
  EXPECT_EQ(split_batch(6, 6), (std::vector<int>{4, 2}));
  EXPECT_EQ(split_batch(1, 1), (std::vector<int>{1}));
  EXPECT_EQ(split_batch(5, 1), (std::vector<int>{1, 1, 1, 1, 1}));
  EXPECT_EQ(engine_batch_sizes(12), (std::vector<int>{1, 2, 4, 8}));
  for (int max_batch = 1; max_batch <= 20; ++max_batch)
    for (int n = 1; n <= max_batch; ++n) {
      int sum = 0;
      for (int k : split_batch(n, max_batch)) sum += k;
      EXPECT_EQ(sum, n);
    }
}

TEST(ServeBatcher, ALoneRequestDoesNotWaitForCompany) {
  GateEngine engine;
  engine.open();
  std::atomic<int> coming{0};
  Batcher b(engine, PreprocessParams::for_imgsz(64, 64), {8, 3000, 8}, {}, [&] { return coming.load(); });
  coming = 1;
  const auto t0 = Clock::now();
  auto job = b.submit(test_image(30, 30), {});
  ASSERT_TRUE(job && job->wait_for(10000));
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  EXPECT_LT(ms, 1500) << "waited for company although no other request was coming (max_wait_ms=3000)";
  EXPECT_EQ(job->batch_size, 1);
  // Two coming: the first waits for the second, and both run as one batch.
  coming = 2;
  auto a = b.submit(test_image(30, 30), {});
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto c = b.submit(test_image(30, 30), {});
  ASSERT_TRUE(a->wait_for(10000) && c->wait_for(10000));
  EXPECT_EQ(a->batch_size, 2);
  EXPECT_EQ(engine.batches(), (std::vector<int>{1, 2}));
}

std::string default_model_file() { return YOLONAS_DEFAULT_YNAS; }

TEST(ServeBatcher, BatchedResultsEqualOneByOneWithEachRequestsOwnOptions) {
  const rt::Detector det = rt::Detector::load(default_model_file(), 2);
  std::vector<cv::Mat> images;
  for (const std::string& p : {kDog, kHorses, std::string("/usr/share/darknet/data/eagle.jpg"),
                               std::string("/usr/share/darknet/data/giraffe.jpg"), kDog})
    if (std::filesystem::exists(p)) images.push_back(cv::imread(p));
  if (images.size() < 5) GTEST_SKIP() << "darknet's sample photos are missing (apt-get install darknet)";
  std::vector<NmsParams> nms(images.size(), det.default_nms());
  for (auto& n : nms) n.conf = 0.05f;
  nms[1].classes = {7};  // horse only
  nms[4].max_det = 2;

  std::vector<int> sizes;
  std::mutex m;
  Batcher b(det.engine(), det.preprocessing(), {4, 2000, 16}, [&](int n, double) {
    std::lock_guard<std::mutex> lk(m);
    sizes.push_back(n);
  });
  std::vector<std::shared_ptr<Job>> jobs;
  for (size_t i = 0; i < images.size(); ++i) jobs.push_back(b.submit(images[i], nms[i]));
  for (auto& j : jobs) ASSERT_TRUE(j && j->wait_for(60000));
  b.stop();
  EXPECT_EQ(sizes, (std::vector<int>{4, 1}));  // four fill a batch at once; the fifth waits its 2 s alone
  for (size_t i = 0; i < images.size(); ++i) {
    const ImageResult alone = det.predict(images[i], nms[i]);
    const auto& got = jobs[i]->result.detections;
    ASSERT_EQ(got.size(), alone.detections.size()) << "image " << i;
    EXPECT_EQ(jobs[i]->batch_size, i < 4 ? 4 : 1);
    for (size_t k = 0; k < got.size(); ++k) {
      EXPECT_EQ(got[k].cls, alone.detections[k].cls);
      EXPECT_NEAR(got[k].score, alone.detections[k].score, 1e-4);
      EXPECT_NEAR(got[k].x1, alone.detections[k].x1, 0.05);
      EXPECT_NEAR(got[k].y2, alone.detections[k].y2, 0.05);
      if (i == 1) EXPECT_EQ(got[k].cls, 7);
    }
  }
  EXPECT_LE(jobs[4]->result.detections.size(), 2u);
  EXPECT_GT(jobs[0]->result.detections.size(), 0u);
}

// ---- the server over HTTP -----------------------------------------------------------------------

struct RunningServer {
  std::unique_ptr<Server> server;
  std::thread thread;
  int port = 0;
  RunningServer(ServedModel m, ServeOptions o) {
    o.port = 0;
    server = std::make_unique<Server>(std::move(m), o);
    port = server->bind();
    thread = std::thread([this] { server->serve(); });
  }
  ~RunningServer() {
    server->shutdown(1000);
    thread.join();
  }
};

ServedModel served(const rt::Detector& det) {
  ServedModel m;
  m.engine = &det.engine();
  m.preprocessing = det.preprocessing();
  m.names = det.names();
  m.default_nms = det.default_nms();
  m.name = "yolonas_default";
  m.engine_name = "onednn";
  m.description = det.describe();
  return m;
}

TEST(ServeHttp, DetectModelsHealthMetricsAndBadInput) {
  if (!std::filesystem::exists(kDog)) GTEST_SKIP() << kDog << " missing (apt-get install darknet)";
  const rt::Detector det = rt::Detector::load(default_model_file(), 2);
  ServeOptions o;
  o.max_body_mb = 1;
  RunningServer s(served(det), o);
  httplib::Client c("127.0.0.1", s.port);
  c.set_read_timeout(60, 0);

  const std::string dog = read_bytes(kDog);
  auto r = c.Post("/v1/detect?conf=0.1", dog, "image/jpeg");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json j = json::parse(r->body);
  NmsParams nms = det.default_nms();
  nms.conf = 0.1f;
  const ImageResult want = det.predict(cv::imread(kDog), nms);
  ASSERT_EQ(j["detections"].size(), want.detections.size());
  ASSERT_GT(want.detections.size(), 0u);
  for (size_t k = 0; k < want.detections.size(); ++k) {
    EXPECT_EQ(j["detections"][k]["name"], det.names()[want.detections[k].cls]);
    EXPECT_NEAR(j["detections"][k]["score"].get<double>(), want.detections[k].score, 1e-4);
    EXPECT_NEAR(j["detections"][k]["box"][1].get<double>(), std::max(0.f, want.detections[k].y1), 0.01);
  }
  EXPECT_EQ(j["image"]["width"], 768);
  EXPECT_GT(j["timings_ms"]["inference"].get<double>(), 0);

  // The web page's JS asks like this: multipart works too.
  httplib::MultipartFormDataItems form = {{"image", dog, "dog.jpg", "image/jpeg"}, {"max_det", "1", "", ""}};
  r = c.Post("/v1/detect", form);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_LE(json::parse(r->body)["detections"].size(), 1u);

  r = c.Post("/v1/detect", "definitely not an image", "image/jpeg");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(json::parse(r->body)["error"].get<std::string>().find("cannot decode"), std::string::npos);
  r = c.Post("/v1/detect", std::string(2 * 1024 * 1024, 'x'), "image/jpeg");  // over max_body_mb=1
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);

  r = c.Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);  // still up after the bad requests
  r = c.Get("/v1/models");
  ASSERT_TRUE(r);
  const json models = json::parse(r->body)["models"][0];
  EXPECT_EQ(models["num_classes"], det.names().size());
  EXPECT_EQ(models["input"]["width"], det.preprocessing().input_w);
  EXPECT_EQ(models["engine"], "onednn");
  r = c.Get("/");
  ASSERT_TRUE(r);
  EXPECT_NE(r->body.find("/v1/detect"), std::string::npos);
  EXPECT_EQ(r->get_header_value("Content-Type").rfind("text/html", 0), 0u);
  r = c.Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_NE(r->body.find("yolonas_requests_total{path=\"/v1/detect\",code=\"200\"} 2\n"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("yolonas_requests_total{path=\"/v1/detect\",code=\"400\"} 1\n"), std::string::npos);
  EXPECT_NE(r->body.find("yolonas_requests_total{path=\"/v1/detect\",code=\"413\"} 1\n"), std::string::npos);
  EXPECT_NE(r->body.find("yolonas_images_total 2\n"), std::string::npos);
}

TEST(ServeHttp, FullQueueAnswers503AndShutdownFinishesWhatIsInFlight) {
  GateEngine engine;
  ServedModel m;
  m.engine = &engine;
  m.preprocessing = PreprocessParams::for_imgsz(64, 64);
  m.names = {"a", "b"};
  ServeOptions o;
  o.max_batch = 1;
  o.max_queue = 1;
  auto s = std::make_unique<RunningServer>(m, o);
  const std::string png = encode(test_image(40, 40), ".png");
  auto post = [&] {
    httplib::Client c("127.0.0.1", s->port);
    c.set_read_timeout(30, 0);
    auto r = c.Post("/v1/detect", png, "image/png");
    return r ? r->status : -1;
  };
  auto running = std::async(std::launch::async, post);
  engine.wait_started(1);                               // in the engine
  auto queued = std::async(std::launch::async, post);  // fills the queue of 1
  httplib::Client c("127.0.0.1", s->port);
  for (int i = 0; i < 500; ++i) {  // until the second one waits in the queue
    auto metrics = c.Get("/metrics");
    if (metrics && metrics->body.find("yolonas_queue_depth 1\n") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto busy = c.Post("/v1/detect", png, "image/png");
  ASSERT_TRUE(busy);
  EXPECT_EQ(busy->status, 503);
  EXPECT_EQ(busy->get_header_value("Retry-After"), "1");

  // Shutdown while two are in flight: both finish with 200, then the server stops.
  std::thread stopper([&] { s->server->shutdown(20000); });
  for (int i = 0; i < 100; ++i) {
    auto h = c.Get("/healthz");
    if (h && h->status == 503) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto refused = c.Post("/v1/detect", png, "image/png");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);  // draining
  engine.open();
  EXPECT_EQ(running.get(), 200);
  EXPECT_EQ(queued.get(), 200);
  stopper.join();
  s->thread.join();
  s->thread = std::thread([] {});  // the destructor joins again
}

// ---- the CLI: serve, then SIGTERM -----------------------------------------------------------------

TEST(ServeCli, SigtermExitsZeroAfterServing) {
  if (!std::filesystem::exists(kDog)) GTEST_SKIP() << kDog << " missing (apt-get install darknet)";
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    dup2(out[1], 1);
    close(out[0]);
    execl(YOLONAS_BINARY, YOLONAS_BINARY, "serve", "port=0", "threads=2", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  FILE* f = fdopen(out[0], "r");
  char line[1024];
  int port = 0;
  std::string printed;
  while (port == 0 && std::fgets(line, sizeof line, f)) {
    printed += line;
    const char* at = std::strstr(line, "serving on http://127.0.0.1:");
    if (at) port = std::atoi(at + std::strlen("serving on http://127.0.0.1:"));
  }
  ASSERT_GT(port, 0) << printed;
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(60, 0);
  auto r = c.Post("/v1/detect", read_bytes(kDog), "image/jpeg");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  while (std::fgets(line, sizeof line, f)) printed += line;
  fclose(f);
  ASSERT_TRUE(WIFEXITED(status)) << printed;
  EXPECT_EQ(WEXITSTATUS(status), 0) << printed;
  EXPECT_NE(printed.find("stopped"), std::string::npos) << printed;
}

}  // namespace
}  // namespace yolonas::serve
