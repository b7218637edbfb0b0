// Load generator for `yolonas serve` on loopback: C concurrent clients (one keep-alive connection
// each) POST the same image until N requests are answered or T seconds pass. Prints one JSON line:
// clients, requests, seconds, throughput (req/s), p50/p90/p99/max latency (ms), the count of each
// status code, connection errors and the mean batch size the server reported.
//   yolonas_loadtest URL_HOST PORT IMAGE clients=4 requests=200 seconds=60
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

namespace {

int arg_int(int argc, char** argv, const std::string& key, int def) {
  for (int i = 4; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind(key + "=", 0) == 0) return std::atoi(a.c_str() + key.size() + 1);
  }
  return def;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5));
  return v[i];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: yolonas_loadtest HOST PORT IMAGE clients=4 requests=200 seconds=60\n");
    return 2;
  }
  const std::string host = argv[1];
  const int port = std::atoi(argv[2]);
  std::ifstream f(argv[3], std::ios::binary);
  if (!f) {
    std::fprintf(stderr, "error: %s: cannot read\n", argv[3]);
    return 1;
  }
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string image = ss.str();
  const int clients = std::max(1, arg_int(argc, argv, "clients", 4));
  const int requests = std::max(1, arg_int(argc, argv, "requests", 200));
  const int seconds = std::max(1, arg_int(argc, argv, "seconds", 60));

  std::atomic<int> issued{0};
  std::mutex m;
  std::vector<double> latencies;
  std::map<int, int> codes;
  long long batch_sum = 0;
  int errors = 0;
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::seconds(seconds);
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&] {
      httplib::Client cli(host, port);
      cli.set_keep_alive(true);
      cli.set_tcp_nodelay(true);
      cli.set_read_timeout(120, 0);
      while (issued.fetch_add(1) < requests && std::chrono::steady_clock::now() < deadline) {
        const auto t0 = std::chrono::steady_clock::now();
        auto r = cli.Post("/v1/detect", image, "image/jpeg");
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        bool retry_later = false;
        {
          std::lock_guard<std::mutex> lk(m);
          if (!r) {
            ++errors;
            continue;
          }
          ++codes[r->status];
          retry_later = r->status == 503;
          if (r->status == 200) {
            latencies.push_back(ms);
            const size_t at = r->body.find("\"batch_size\":");
            if (at != std::string::npos) batch_sum += std::atoi(r->body.c_str() + at + 13);
          }
        }
        // A well-behaved client waits as Retry-After says (the server says 1 s).
        if (retry_later) std::this_thread::sleep_for(std::chrono::seconds(1));
      }
    });
  }
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::string code_json;
  for (const auto& [code, n] : codes) code_json += (code_json.empty() ? "" : ",") + ("\"" + std::to_string(code) + "\":" + std::to_string(n));
  const size_t ok = latencies.size();
  std::printf("{\"clients\":%d,\"requests\":%zu,\"seconds\":%.2f,\"throughput\":%.2f,\"p50_ms\":%.1f,\"p90_ms\":%.1f,"
              "\"p99_ms\":%.1f,\"max_ms\":%.1f,\"codes\":{%s},\"errors\":%d,\"mean_batch\":%.2f}\n",
              clients, ok, elapsed, static_cast<double>(ok) / elapsed, percentile(latencies, 50), percentile(latencies, 90),
              percentile(latencies, 99), percentile(latencies, 100), code_json.c_str(), errors,
              ok ? static_cast<double>(batch_sum) / static_cast<double>(ok) : 0.0);
  return 0;
}
