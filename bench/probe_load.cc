// probe_load: an HTTP/1.1 load generator for `/probe`-style endpoints (bench/compare.sh). Not a
// test and not a general HTTP client: it exists so that two exporters can be driven the same way.
//
//   probe_load --url-host 127.0.0.1 --port 9025
//     --path '/probe?target=127.1.0.1:2525&module=banner' --concurrency 500 --duration 20
//     [--header 'X-Prometheus-Scrape-Timeout-Seconds: 10']
//     [--metric 'smtp_probe_step_duration_seconds{step="greeting"}' --expect-seconds 0.1]
//     [--drain 15]   (one command line)
//
// C persistent connections (RFC 9112 section 9.3), each sending the next request as soon as the
// previous answer has arrived completely, for --duration seconds; then no new request is sent and
// the answers still in flight are awaited for up to --drain seconds (those still missing are
// reported as `unfinished`). A connection reset, or an EOF before a complete response (RFC 9112
// section 6.3: a response framed by Content-Length or chunked coding that ends early is
// incomplete), counts as an error and the connection is re-opened; a complete answer with
// `Connection: close` re-opens it without an error. A failed connect counts as an error too and
// is retried after 50 ms.
//
// Prints one line of key=value figures on stdout: requests sent, answers by HTTP status, errors
// (resets, early EOFs, connect failures, other), answers/s over the time to the last answer,
// latency p50/p99/max (request written to response complete), and with --metric, for every 200
// answer, the value of that sample parsed from the text exposition in the body: mean, p99 and
// max of |value - expect| in ms (`metric_missing` counts 200 answers without the sample); with
// --success-metric, how many 200 answers had that sample equal to 1 (`success`).
//
// Loopback only: --url-host must be an address in 127.0.0.0/8 or ::1. One thread, one
// io_context, callbacks. Raises RLIMIT_NOFILE to its hard limit.
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxResponse = 64 << 20;  // a longer response is an error, not a hang

struct Options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 9025;
  std::string path = "/probe";
  int concurrency = 1;
  double duration = 10;
  double drain = 15;
  std::vector<std::string> headers;
  std::string metric;          // name or name{label="value",...}
  std::string success_metric;  // e.g. probe_success: counts 200 answers where it is 1
  double expect_seconds = 0;
};

// A sample selector: the metric name and the label pairs that must all be present.
struct Selector {
  std::string name;
  std::vector<std::string> pairs;  // each `label="value"`, as written in the exposition
};

bool ParseSelector(const std::string& text, Selector* out) {
  const std::size_t brace = text.find('{');
  out->name = text.substr(0, brace);
  if (out->name.empty()) return false;
  if (brace == std::string::npos) return true;
  if (text.back() != '}') return false;
  const std::string inner = text.substr(brace + 1, text.size() - brace - 2);
  std::size_t begin = 0;
  while (begin < inner.size()) {
    // Split at commas outside quotes; label values in a selector rarely hold commas, but may.
    bool quoted = false;
    std::size_t end = begin;
    for (; end < inner.size(); ++end) {
      if (inner[end] == '\\' && quoted) {
        ++end;
      } else if (inner[end] == '"') {
        quoted = !quoted;
      } else if (inner[end] == ',' && !quoted) {
        break;
      }
    }
    std::string pair = inner.substr(begin, end - begin);
    if (pair.find("=\"") == std::string::npos || pair.back() != '"') return false;
    out->pairs.push_back(std::move(pair));
    begin = end + 1;
  }
  return true;
}

// The value of the first sample in a text exposition (Prometheus text format 0.0.4) that matches
// the selector; NaN when there is none.
double FindSample(std::string_view body, const Selector& selector) {
  std::size_t begin = 0;
  while (begin < body.size()) {
    std::size_t end = body.find('\n', begin);
    if (end == std::string_view::npos) end = body.size();
    const std::string_view line = body.substr(begin, end - begin);
    begin = end + 1;
    if (line.empty() || line[0] == '#') continue;
    if (line.size() <= selector.name.size() || line.compare(0, selector.name.size(), selector.name))
      continue;
    const char after = line[selector.name.size()];
    std::size_t value_at;
    if (after == ' ') {
      if (!selector.pairs.empty()) continue;
      value_at = selector.name.size() + 1;
    } else if (after == '{') {
      const std::size_t close = line.rfind('}');
      if (close == std::string_view::npos) continue;
      const std::string_view labels =
          line.substr(selector.name.size(), close + 1 - selector.name.size());
      bool all = true;
      for (const std::string& pair : selector.pairs) {
        // Preceded by `{` or `,` so that step="x" does not match substep="x".
        std::size_t at = 0;
        bool found = false;
        while ((at = labels.find(pair, at)) != std::string_view::npos) {
          if (at > 0 && (labels[at - 1] == '{' || labels[at - 1] == ',')) {
            found = true;
            break;
          }
          ++at;
        }
        if (!found) {
          all = false;
          break;
        }
      }
      if (!all) continue;
      value_at = close + 1;
      while (value_at < line.size() && line[value_at] == ' ') ++value_at;
    } else {
      continue;  // a longer metric name with the same prefix
    }
    const std::string value(line.substr(value_at));
    char* parsed_end = nullptr;
    const double v = std::strtod(value.c_str(), &parsed_end);
    if (parsed_end != value.c_str()) return v;
  }
  return std::nan("");
}

struct Stats {
  std::uint64_t requests = 0;
  std::map<int, std::uint64_t> status;
  std::uint64_t resets = 0;
  std::uint64_t early_eof = 0;
  std::uint64_t connect_errors = 0;
  std::uint64_t other_errors = 0;
  std::uint64_t reconnects = 0;
  std::uint64_t metric_missing = 0;
  std::uint64_t succeeded = 0;
  std::vector<double> latency_ms;
  std::vector<double> metric_error_ms;
  Clock::time_point last_answer;
};

struct Shared {
  Options options;
  Selector selector;
  Selector success;
  tcp::endpoint endpoint;
  std::string request;
  Stats stats;
  bool running = true;
  int in_flight = 0;  // requests written (or being written) and not answered
  int open = 0;       // connections alive; when 0 after the duration, the run is over
  asio::io_context* io = nullptr;
};

// An incremental HTTP/1.1 response parser for one response (RFC 9112 sections 4, 6 and 7.1).
class ResponseParser {
 public:
  enum class State { kIncomplete, kComplete, kBad };

  void Reset() {
    data_.clear();
    header_end_ = 0;
    status_ = 0;
    content_length_ = -1;
    chunked_ = false;
    close_ = false;
    body_.clear();
    chunk_at_ = 0;
  }

  State Feed(const char* bytes, std::size_t n) {
    data_.append(bytes, n);
    if (data_.size() > kMaxResponse) return State::kBad;
    return Parse();
  }

  // At EOF: a response delimited by the close of the connection is complete now.
  bool CompleteAtEof() {
    if (header_end_ == 0 || chunked_ || content_length_ >= 0) return false;
    body_ = data_.substr(header_end_);
    return true;
  }

  bool Empty() const { return data_.empty(); }
  int status() const { return status_; }
  bool close() const { return close_; }
  std::string_view body() const { return body_; }

 private:
  State Parse() {
    if (header_end_ == 0) {
      const std::size_t end = data_.find("\r\n\r\n");
      if (end == std::string::npos) return State::kIncomplete;
      header_end_ = end + 4;
      if (!ParseHead(std::string_view(data_).substr(0, end))) return State::kBad;
    }
    if (status_ / 100 == 1 || status_ == 204 || status_ == 304) {  // no body
      return State::kComplete;
    }
    if (chunked_) return ParseChunks();
    if (content_length_ >= 0) {
      if (data_.size() - header_end_ < static_cast<std::size_t>(content_length_)) {
        return State::kIncomplete;
      }
      body_ = data_.substr(header_end_, static_cast<std::size_t>(content_length_));
      return State::kComplete;
    }
    close_ = true;  // delimited by EOF
    return State::kIncomplete;
  }

  static bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(a[i])) !=
          std::tolower(static_cast<unsigned char>(b[i]))) {
        return false;
      }
    }
    return true;
  }

  static bool ContainsIgnoreCase(std::string_view haystack, std::string_view needle) {
    for (std::size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
      if (EqualsIgnoreCase(haystack.substr(i, needle.size()), needle)) return true;
    }
    return false;
  }

  bool ParseHead(std::string_view head) {
    std::size_t eol = head.find("\r\n");
    const std::string_view status_line = head.substr(0, eol);
    if (status_line.size() < 12 || status_line.substr(0, 7) != "HTTP/1.") return false;
    status_ = std::atoi(std::string(status_line.substr(9, 3)).c_str());
    if (status_ < 100 || status_ > 599) return false;
    if (status_line[7] == '0') close_ = true;
    while (eol != std::string_view::npos) {
      const std::size_t begin = eol + 2;
      eol = head.find("\r\n", begin);
      const std::string_view line =
          head.substr(begin, eol == std::string_view::npos ? std::string_view::npos : eol - begin);
      const std::size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      const std::string_view name = line.substr(0, colon);
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
        value.remove_prefix(1);
      }
      if (EqualsIgnoreCase(name, "content-length")) {
        content_length_ = std::atoll(std::string(value).c_str());
      } else if (EqualsIgnoreCase(name, "transfer-encoding")) {
        chunked_ = ContainsIgnoreCase(value, "chunked");
      } else if (EqualsIgnoreCase(name, "connection")) {
        if (ContainsIgnoreCase(value, "close")) close_ = true;
      }
    }
    return true;
  }

  // Decodes chunks from chunk_at_ on (RFC 9112 section 7.1); trailers are skipped.
  State ParseChunks() {
    if (chunk_at_ == 0) chunk_at_ = header_end_;
    while (true) {
      const std::size_t eol = data_.find("\r\n", chunk_at_);
      if (eol == std::string::npos) return State::kIncomplete;
      char* end = nullptr;
      const unsigned long long size = std::strtoull(data_.c_str() + chunk_at_, &end, 16);
      if (end == data_.c_str() + chunk_at_) return State::kBad;
      if (size == 0) {
        // Last chunk, then trailer lines, then an empty line.
        std::size_t at = eol + 2;
        while (true) {
          const std::size_t line_end = data_.find("\r\n", at);
          if (line_end == std::string::npos) return State::kIncomplete;
          if (line_end == at) return State::kComplete;
          at = line_end + 2;
        }
      }
      if (size > kMaxResponse) return State::kBad;
      if (data_.size() < eol + 2 + size + 2) return State::kIncomplete;
      body_.append(data_, eol + 2, size);
      chunk_at_ = eol + 2 + size + 2;
    }
  }

  std::string data_;
  std::size_t header_end_ = 0;
  int status_ = 0;
  long long content_length_ = -1;
  bool chunked_ = false;
  bool close_ = false;
  std::string body_;
  std::size_t chunk_at_ = 0;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(asio::io_context& io, Shared& shared) : socket_(io), timer_(io), shared_(shared) {
    ++shared_.open;
  }
  ~Connection() {
    if (--shared_.open == 0 && !shared_.running && shared_.io != nullptr) shared_.io->stop();
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void Connect() {
    if (!shared_.running) return;
    auto self = shared_from_this();
    error_code ignored;
    socket_.close(ignored);
    socket_.async_connect(shared_.endpoint, [self](const error_code& error) {
      if (error) {
        ++self->shared_.stats.connect_errors;
        self->timer_.expires_after(std::chrono::milliseconds(50));
        self->timer_.async_wait([self](const error_code& wait_error) {
          if (!wait_error) self->Connect();
        });
        return;
      }
      self->socket_.set_option(tcp::no_delay(true));
      self->Send();
    });
  }

 private:
  void Send() {
    if (!shared_.running) return;
    ++shared_.stats.requests;
    ++shared_.in_flight;
    parser_.Reset();
    started_ = Clock::now();
    auto self = shared_from_this();
    asio::async_write(socket_, asio::buffer(shared_.request),
                      [self](const error_code& error, std::size_t) {
                        if (error) return self->Fail(error);
                        self->Read();
                      });
  }

  void Read() {
    auto self = shared_from_this();
    socket_.async_read_some(asio::buffer(buffer_), [self](const error_code& error, std::size_t n) {
      self->OnRead(error, n);
    });
  }

  void OnRead(const error_code& error, std::size_t n) {
    if (error) {
      if (error == asio::error::eof && parser_.CompleteAtEof()) {
        Answer();
        return Reopen();
      }
      return Fail(error);
    }
    switch (parser_.Feed(buffer_.data(), n)) {
      case ResponseParser::State::kIncomplete:
        return Read();
      case ResponseParser::State::kBad:
        return Fail(asio::error::invalid_argument);
      case ResponseParser::State::kComplete:
        Answer();
        if (parser_.close()) return Reopen();
        return Send();
    }
  }

  void Answer() {
    --shared_.in_flight;
    Stats& stats = shared_.stats;
    const auto now = Clock::now();
    stats.last_answer = now;
    stats.latency_ms.push_back(std::chrono::duration<double, std::milli>(now - started_).count());
    ++stats.status[parser_.status()];
    if (parser_.status() == 200 && !shared_.success.name.empty() &&
        FindSample(parser_.body(), shared_.success) == 1) {
      ++stats.succeeded;
    }
    if (parser_.status() == 200 && !shared_.selector.name.empty()) {
      const double value = FindSample(parser_.body(), shared_.selector);
      if (std::isnan(value)) {
        ++stats.metric_missing;
      } else {
        stats.metric_error_ms.push_back(std::fabs(value - shared_.options.expect_seconds) * 1e3);
      }
    }
  }

  void Fail(const error_code& error) {
    --shared_.in_flight;
    Stats& stats = shared_.stats;
    if (error == asio::error::connection_reset || error == asio::error::broken_pipe) {
      ++stats.resets;
    } else if (error == asio::error::eof) {
      ++stats.early_eof;
    } else {
      ++stats.other_errors;
    }
    Reopen();
  }

  void Reopen() {
    ++shared_.stats.reconnects;
    Connect();
  }

  tcp::socket socket_;
  asio::steady_timer timer_;
  Shared& shared_;
  ResponseParser parser_;
  std::array<char, 16384> buffer_;
  Clock::time_point started_;
};

double Percentile(std::vector<double>& values, double q) {
  if (values.empty()) return std::nan("");
  const std::size_t k = std::min(values.size() - 1, static_cast<std::size_t>(q * values.size()));
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(k), values.end());
  return values[k];
}

void Usage() {
  std::fprintf(stderr,
               "usage: probe_load [--url-host 127.0.0.1] --port N --path '/probe?...'\n"
               "         [--concurrency 1] [--duration 10] [--drain 15]\n"
               "         [--header 'Name: value']... [--metric 'name{label=\"v\"}'\n"
               "         --expect-seconds 0.1] [--success-metric probe_success]\n");
}

bool ParseArgs(int argc, char** argv, Options* options) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h") return false;
    if (i + 1 >= argc) {
      std::fprintf(stderr, "probe_load: %s needs a value\n", argv[i]);
      return false;
    }
    const std::string value = argv[++i];
    char* end = nullptr;
    bool ok = true;
    if (flag == "--url-host") {
      options->host = value;
    } else if (flag == "--port") {
      const long port = std::strtol(value.c_str(), &end, 10);
      ok = *end == '\0' && port > 0 && port < 65536;
      options->port = static_cast<std::uint16_t>(port);
    } else if (flag == "--path") {
      ok = !value.empty() && value[0] == '/';
      options->path = value;
    } else if (flag == "--concurrency") {
      const long c = std::strtol(value.c_str(), &end, 10);
      ok = *end == '\0' && c >= 1 && c <= 100000;
      options->concurrency = static_cast<int>(c);
    } else if (flag == "--duration") {
      options->duration = std::strtod(value.c_str(), &end);
      ok = *end == '\0' && options->duration > 0;
    } else if (flag == "--drain") {
      options->drain = std::strtod(value.c_str(), &end);
      ok = *end == '\0' && options->drain >= 0;
    } else if (flag == "--header") {
      ok = value.find(':') != std::string::npos && value.find('\n') == std::string::npos;
      options->headers.push_back(value);
    } else if (flag == "--metric") {
      options->metric = value;
    } else if (flag == "--success-metric") {
      options->success_metric = value;
    } else if (flag == "--expect-seconds") {
      options->expect_seconds = std::strtod(value.c_str(), &end);
      ok = *end == '\0';
    } else {
      std::fprintf(stderr, "probe_load: unknown flag %s\n", argv[i - 1]);
      return false;
    }
    if (!ok) {
      std::fprintf(stderr, "probe_load: bad value for %s: %s\n", argv[i - 1], value.c_str());
      return false;
    }
  }
  return true;
}

void RaiseFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
}

}  // namespace

int main(int argc, char** argv) {
  Shared shared;
  if (!ParseArgs(argc, argv, &shared.options)) {
    Usage();
    return 2;
  }
  const Options& options = shared.options;
  if (!options.metric.empty() && !ParseSelector(options.metric, &shared.selector)) {
    std::fprintf(stderr, "probe_load: bad value for --metric: %s\n", options.metric.c_str());
    return 2;
  }
  if (!options.success_metric.empty() && !ParseSelector(options.success_metric, &shared.success)) {
    std::fprintf(stderr, "probe_load: bad value for --success-metric: %s\n",
                 options.success_metric.c_str());
    return 2;
  }
  error_code error;
  const asio::ip::address address = asio::ip::make_address(options.host, error);
  if (error || !address.is_loopback()) {
    std::fprintf(stderr, "probe_load: --url-host must be a loopback address: %s\n",
                 options.host.c_str());
    return 2;
  }
  shared.endpoint = tcp::endpoint(address, options.port);
  const std::string host_header = address.is_v6() ? "[" + options.host + "]" : options.host;
  shared.request = "GET " + options.path + " HTTP/1.1\r\nHost: " + host_header + ":" +
                   std::to_string(options.port) + "\r\nUser-Agent: probe_load\r\nAccept: */*\r\n";
  for (const std::string& header : options.headers) shared.request += header + "\r\n";
  shared.request += "\r\n";
  RaiseFileLimit();

  asio::io_context io(1);
  shared.io = &io;
  const auto start = Clock::now();
  shared.stats.last_answer = start;
  {
    std::vector<std::shared_ptr<Connection>> connections;
    connections.reserve(static_cast<std::size_t>(options.concurrency));
    for (int i = 0; i < options.concurrency; ++i) {
      connections.push_back(std::make_shared<Connection>(io, shared));
    }
    for (auto& connection : connections) connection->Connect();
  }
  asio::steady_timer deadline(io, std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(options.duration)));
  asio::steady_timer drain(io);
  deadline.async_wait([&](const error_code& wait_error) {
    if (wait_error) return;
    shared.running = false;  // no new request; connections end after their answer
    if (shared.open == 0) io.stop();
    drain.expires_after(
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.drain)));
    drain.async_wait([&](const error_code& drain_error) {
      if (!drain_error) io.stop();
    });
  });
  io.run();
  shared.io = nullptr;  // connections still queued are destroyed with io, after this

  Stats& stats = shared.stats;
  std::uint64_t answers = 0;
  for (const auto& [status, count] : stats.status) answers += count;
  const double seconds = std::chrono::duration<double>(stats.last_answer - start).count();
  const std::uint64_t errors =
      stats.resets + stats.early_eof + stats.connect_errors + stats.other_errors;
  std::string by_status;
  for (const auto& [status, count] : stats.status) {
    by_status += " status_" + std::to_string(status) + "=" + std::to_string(count);
  }
  double latency_max = 0;
  for (double v : stats.latency_ms) latency_max = std::max(latency_max, v);
  const double p50 = Percentile(stats.latency_ms, 0.5);
  const double p99 = Percentile(stats.latency_ms, 0.99);
  std::printf(
      "requests=%llu answers=%llu%s errors=%llu resets=%llu early_eof=%llu connect_errors=%llu "
      "other_errors=%llu unfinished=%d seconds=%.3f rps=%.1f p50_ms=%.3f p99_ms=%.3f "
      "max_ms=%.3f",
      static_cast<unsigned long long>(stats.requests), static_cast<unsigned long long>(answers),
      by_status.c_str(), static_cast<unsigned long long>(errors),
      static_cast<unsigned long long>(stats.resets),
      static_cast<unsigned long long>(stats.early_eof),
      static_cast<unsigned long long>(stats.connect_errors),
      static_cast<unsigned long long>(stats.other_errors), std::max(0, shared.in_flight), seconds,
      seconds > 0 ? static_cast<double>(answers) / seconds : 0.0, p50, p99, latency_max);
  if (!shared.success.name.empty()) {
    std::printf(" success=%llu", static_cast<unsigned long long>(stats.succeeded));
  }
  if (!shared.selector.name.empty()) {
    std::vector<double>& e = stats.metric_error_ms;
    double sum = 0;
    double max = 0;
    for (double v : e) {
      sum += v;
      max = std::max(max, v);
    }
    const double mean = e.empty() ? std::nan("") : sum / static_cast<double>(e.size());
    const double p99_error = Percentile(e, 0.99);
    std::printf(
        " metric_n=%zu metric_missing=%llu err_mean_ms=%.3f err_p99_ms=%.3f "
        "err_max_ms=%.3f",
        e.size(), static_cast<unsigned long long>(stats.metric_missing), mean, p99_error,
        e.empty() ? std::nan("") : max);
  }
  std::printf("\n");
  return 0;
}
