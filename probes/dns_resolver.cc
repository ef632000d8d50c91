// DnsResolver on c-ares, driven by the Asio loop.
//
// c-ares never blocks here: it tells us which sockets it wants watched (ARES_OPT_SOCK_STATE_CB),
// we watch them with posix::stream_descriptor::async_wait and hand readiness back with
// ares_process_fd, and a steady_timer fires when ares_timeout says a retry or a timeout is due.
// The sockets belong to c-ares: descriptors are release()d, never closed, by this code.
//
// Query callbacks never resume a coroutine directly: the completion is posted to the awaiting
// coroutine's executor, so user code never runs inside c-ares (which is not re-entrant) and a
// resolver may be destroyed by the very coroutine a lookup resumes.
#include <utility>
// ^ Before any Boost.Asio header (g++ 12 coroutines); this line stops include sorting moving it.
#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <poll.h>

#include <algorithm>
#include <array>
#include <boost/asio/append.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>

#include "probes/dns_resolver.h"

namespace smtp {

const char* ToString(DnsStatus status) {
  switch (status) {
    case DnsStatus::kOk:
      return "ok";
    case DnsStatus::kNxDomain:
      return "nxdomain";
    case DnsStatus::kNoData:
      return "nodata";
    case DnsStatus::kTimeout:
      return "timeout";
    case DnsStatus::kServFail:
      return "servfail";
    case DnsStatus::kCancelled:
      return "cancelled";
    case DnsStatus::kNullMx:
      return "null_mx";
    case DnsStatus::kError:
      return "error";
  }
  return "error";
}

namespace {

using Executor = boost::asio::any_io_executor;

// Per try; c-ares doubles it for each further round over the server list, so with kTries = 2 a
// silent server costs 2 s + 4 s. The prober's own deadline (via Cancel) usually comes first.
constexpr int kTryTimeoutMs = 2000;
constexpr int kTries = 2;
constexpr int kDefaultDnsPort = 53;  // RFC 1035 §4.2

// The outcome of one c-ares query: its status and, on success, the whole DNS message.
struct RawAnswer {
  int status = ARES_ENOTINITIALIZED;
  std::vector<unsigned char> message;
};

struct Query {
  std::string name;
  int type = ns_t_a;
  // true: ares_search, which applies the resolv.conf search list and ndots like getaddrinfo;
  // false: ares_query, for names that are absolute by construction (in-addr.arpa, ip6.arpa).
  bool search = true;
};

// Type-erased completion of a batch of queries. Holds outstanding work on the handler's executor
// so that the awaiting coroutine's io_context does not run out of work before we post to it.
class BatchCompletion {
 public:
  virtual ~BatchCompletion() = default;
  virtual void Complete(std::vector<RawAnswer> answers) = 0;
};

template <typename Handler>
class HandlerCompletion final : public BatchCompletion {
 public:
  HandlerCompletion(Handler handler, const Executor& fallback)
      : work_(boost::asio::make_work_guard(handler, fallback)), handler_(std::move(handler)) {}

  void Complete(std::vector<RawAnswer> answers) override {
    auto executor = work_.get_executor();
    boost::asio::post(executor, boost::asio::append(std::move(handler_), std::move(answers)));
    work_.reset();
  }

 private:
  boost::asio::executor_work_guard<boost::asio::associated_executor_t<Handler, Executor>> work_;
  Handler handler_;
};

// Several queries awaited together (AAAA and A in parallel for kBoth): completes once, when the
// last of them has called back. c-ares calls every query callback exactly once, including on
// ares_cancel (ARES_ECANCELLED) and ares_destroy (ARES_EDESTRUCTION).
struct Batch {
  std::unique_ptr<BatchCompletion> completion;
  std::vector<RawAnswer> answers;
  std::size_t remaining = 0;
};

struct QueryContext {
  std::shared_ptr<Batch> batch;
  std::size_t index = 0;
};

void OnQueryDone(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
  std::unique_ptr<QueryContext> context(static_cast<QueryContext*>(arg));
  Batch& batch = *context->batch;
  RawAnswer& answer = batch.answers[context->index];
  answer.status = status;
  if (status == ARES_SUCCESS && abuf != nullptr && alen > 0) {
    answer.message.assign(abuf, abuf + alen);
  }
  if (--batch.remaining == 0) batch.completion->Complete(std::move(batch.answers));
}

struct ServerAddress {
  int family = AF_INET;
  std::array<unsigned char, 16> bytes{};
  int port = kDefaultDnsPort;
  std::string label;  // for error messages: "192.0.2.53:53", "[2001:db8::53]:53"
};

std::optional<int> ParsePort(std::string_view text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  int port = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    port = port * 10 + (c - '0');
  }
  if (port < 1 || port > 65535) return std::nullopt;
  return port;
}

// "IP", "IP:port", "[IPv6]:port", "[IPv6]" or a bare IPv6 literal. Host names are refused: the
// resolver cannot resolve its own server without another resolver.
std::optional<ServerAddress> ParseServer(std::string_view text, std::string* error) {
  std::string_view host = text;
  std::optional<int> port = kDefaultDnsPort;
  if (!text.empty() && text.front() == '[') {
    std::size_t close = text.find(']');
    if (close == std::string_view::npos) {
      *error = "dns server \"" + std::string(text) + "\": missing ']'";
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      port = rest.front() == ':' ? ParsePort(rest.substr(1)) : std::nullopt;
    }
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    std::size_t colon = text.find(':');
    host = text.substr(0, colon);
    port = ParsePort(text.substr(colon + 1));
  }
  if (!port) {
    *error = "dns server \"" + std::string(text) + "\": bad port";
    return std::nullopt;
  }
  ServerAddress server;
  server.port = *port;
  std::string host_text(host);
  if (inet_pton(AF_INET, host_text.c_str(), server.bytes.data()) == 1) {
    server.family = AF_INET;
    server.label = host_text + ":" + std::to_string(*port);
  } else if (inet_pton(AF_INET6, host_text.c_str(), server.bytes.data()) == 1) {
    server.family = AF_INET6;
    server.label = "[" + host_text + "]:" + std::to_string(*port);
  } else {
    *error =
        "dns server \"" + std::string(text) + "\": not an IP address (IP, IP:port or [IPv6]:port)";
    return std::nullopt;
  }
  return server;
}

bool IsIpLiteral(const std::string& text) {
  unsigned char buffer[16];
  return inet_pton(AF_INET, text.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, text.c_str(), buffer) == 1;
}

std::string StripBrackets(std::string text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    return text.substr(1, text.size() - 2);
  }
  return text;
}

std::string StripTrailingDot(std::string name) {
  if (!name.empty() && name.back() == '.') name.pop_back();
  return name;
}

const char* TypeName(int type) {
  switch (type) {
    case ns_t_a:
      return "A";
    case ns_t_aaaa:
      return "AAAA";
    case ns_t_mx:
      return "MX";
    case ns_t_ptr:
      return "PTR";
    default:
      return "?";
  }
}

DnsStatus MapStatus(int ares_status) {
  switch (ares_status) {
    case ARES_SUCCESS:
      return DnsStatus::kOk;
    case ARES_ENOTFOUND:
      return DnsStatus::kNxDomain;
    case ARES_ENODATA:
      return DnsStatus::kNoData;
    case ARES_ETIMEOUT:
      return DnsStatus::kTimeout;
    case ARES_ESERVFAIL:
    case ARES_EREFUSED:
    case ARES_ECONNREFUSED:
    case ARES_EBADRESP:
    case ARES_EFORMERR:  // the server could not parse our query: its fault or a middlebox's
    case ARES_ENOTIMP:
      return DnsStatus::kServFail;
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION:
      return DnsStatus::kCancelled;
    default:
      return DnsStatus::kError;
  }
}

// A failed answer with a message naming what was asked, of whom, and what went wrong.
template <typename T>
DnsAnswer<T> Failure(int ares_status, const Query& query, const std::string& server) {
  DnsAnswer<T> answer;
  answer.status = MapStatus(ares_status);
  const std::string what = query.name + " " + TypeName(query.type);
  switch (answer.status) {
    case DnsStatus::kNxDomain:
      answer.error = "NXDOMAIN for " + query.name;
      break;
    case DnsStatus::kNoData:
      answer.error = std::string("no ") + TypeName(query.type) + " records for " + query.name;
      break;
    case DnsStatus::kTimeout:
      answer.error = "timeout querying " + server + " for " + what;
      break;
    case DnsStatus::kCancelled:
      answer.error = "lookup of " + what + " cancelled";
      break;
    default:
      answer.error = std::string(ares_strerror(ares_status)) + " (" + server + ", " + what + ")";
      break;
  }
  return answer;
}

// Names c-ares would mangle: it works on C strings. Everything else (label length, total length)
// c-ares checks itself and reports as ARES_EBADNAME.
bool UsableName(const std::string& name) {
  return !name.empty() && name.find('\0') == std::string::npos;
}

template <typename T>
DnsAnswer<T> BadName(const std::string& name) {
  DnsAnswer<T> answer;
  answer.status = DnsStatus::kError;
  answer.error = "invalid DNS name \"" + name + "\"";
  return answer;
}

DnsAnswer<std::vector<std::string>> ParseAddresses(const RawAnswer& raw, const Query& query,
                                                   const std::string& server) {
  using Result = std::vector<std::string>;
  if (raw.status != ARES_SUCCESS) return Failure<Result>(raw.status, query, server);
  hostent* host = nullptr;
  const int length = static_cast<int>(raw.message.size());
  const int status =
      query.type == ns_t_aaaa
          ? ares_parse_aaaa_reply(raw.message.data(), length, &host, nullptr, nullptr)
          : ares_parse_a_reply(raw.message.data(), length, &host, nullptr, nullptr);
  if (status != ARES_SUCCESS) return Failure<Result>(status, query, server);
  DnsAnswer<Result> answer;
  answer.status = DnsStatus::kOk;
  for (char** address = host->h_addr_list; address != nullptr && *address != nullptr; ++address) {
    char text[INET6_ADDRSTRLEN] = {};
    if (inet_ntop(host->h_addrtype, *address, text, sizeof(text)) != nullptr) {
      answer.value.emplace_back(text);
    }
  }
  ares_free_hostent(host);
  if (answer.value.empty()) return Failure<Result>(ARES_ENODATA, query, server);
  return answer;
}

// Orders failures of the two families for kBoth: the most telling one is reported. NXDOMAIN is
// authoritative for the name; "no AAAA" says least when A failed for another reason.
int FailureRank(DnsStatus status) {
  switch (status) {
    case DnsStatus::kNxDomain:
      return 5;
    case DnsStatus::kTimeout:
      return 4;
    case DnsStatus::kServFail:
      return 3;
    case DnsStatus::kError:
      return 2;
    case DnsStatus::kNoData:
      return 1;
    default:
      return 0;
  }
}

bool LessCaseInsensitive(const std::string& a, const std::string& b) {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) <
           std::tolower(static_cast<unsigned char>(y));
  });
}

// RFC 1035 §3.5 (in-addr.arpa) and RFC 3596 §2.5 (ip6.arpa, one label per nibble), both with
// the least significant part first.
std::optional<std::string> ReverseName(const std::string& address, int* family,
                                       std::array<unsigned char, 16>* bytes) {
  if (inet_pton(AF_INET, address.c_str(), bytes->data()) == 1) {
    *family = AF_INET;
    std::string name;
    for (int i = 3; i >= 0; --i) name += std::to_string((*bytes)[i]) + ".";
    return name + "in-addr.arpa";
  }
  if (inet_pton(AF_INET6, address.c_str(), bytes->data()) == 1) {
    *family = AF_INET6;
    static constexpr char kHex[] = "0123456789abcdef";
    std::string name;
    for (int i = 15; i >= 0; --i) {
      name += kHex[(*bytes)[i] & 0xf];
      name += '.';
      name += kHex[(*bytes)[i] >> 4];
      name += '.';
    }
    return name + "ip6.arpa";
  }
  return std::nullopt;
}

class AresResolver final : public DnsResolver {
 public:
  explicit AresResolver(Executor executor) : executor_(std::move(executor)), timer_(executor_) {}

  ~AresResolver() override {
    alive_.reset();  // handlers already queued on the loop must not touch this object
    if (channel_ != nullptr) {
      // Completes every pending query with ARES_EDESTRUCTION (posted, so after we are gone) and
      // reports each socket closed through OnSocketState.
      ares_destroy(channel_);
      channel_ = nullptr;
    }
    for (auto& [fd, watch] : watches_) watch->descriptor.release();
    watches_.clear();
  }

  AresResolver(const AresResolver&) = delete;
  AresResolver& operator=(const AresResolver&) = delete;

  bool Init(std::string_view server_text, std::string* error) {
    std::optional<ServerAddress> server;
    if (!server_text.empty()) {
      server = ParseServer(server_text, error);
      if (!server) return false;
      server_label_ = server->label;
    }

    ares_options options{};
    int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
    options.sock_state_cb = &AresResolver::OnSocketState;
    options.sock_state_cb_data = this;
    options.timeout = kTryTimeoutMs;
    options.tries = kTries;
    if (server) {
      // An explicit server gets exactly the names it is asked: no search list from resolv.conf,
      // which belongs to the system resolver and would leak other queries to this server.
      mask |= ARES_OPT_DOMAINS;
      options.domains = nullptr;
      options.ndomains = 0;
    }
    static std::once_flag library_once;
    static int library_status = ARES_SUCCESS;
    std::call_once(library_once, [] { library_status = ares_library_init(ARES_LIB_INIT_ALL); });
    if (library_status != ARES_SUCCESS) {
      *error = std::string("c-ares: ") + ares_strerror(library_status);
      return false;
    }
    if (int status = ares_init_options(&channel_, &options, mask); status != ARES_SUCCESS) {
      channel_ = nullptr;
      *error = std::string("c-ares init: ") + ares_strerror(status);
      return false;
    }
    if (server) {
      ares_addr_port_node node{};
      node.next = nullptr;
      node.family = server->family;
      if (server->family == AF_INET) {
        std::memcpy(&node.addr.addr4, server->bytes.data(), sizeof(node.addr.addr4));
      } else {
        std::memcpy(&node.addr.addr6, server->bytes.data(), sizeof(node.addr.addr6));
      }
      node.udp_port = server->port;
      node.tcp_port = server->port;  // for truncated answers, RFC 1035 §4.2.2 / RFC 7766
      if (int status = ares_set_servers_ports(channel_, &node); status != ARES_SUCCESS) {
        *error = std::string("c-ares servers: ") + ares_strerror(status);
        return false;
      }
    }
    return true;
  }

  boost::asio::awaitable<DnsAnswer<std::vector<std::string>>> LookupAddresses(
      std::string host, IpProtocol protocol) override {
    using Result = std::vector<std::string>;
    if (std::string literal = StripBrackets(host); IsIpLiteral(literal)) {
      co_return DnsAnswer<Result>{DnsStatus::kOk, "", Result{literal}};
    }
    if (!UsableName(host)) co_return BadName<Result>(host);

    std::vector<Query> queries;
    if (protocol != IpProtocol::kIp4) queries.push_back({host, ns_t_aaaa, true});
    if (protocol != IpProtocol::kIp6) queries.push_back({host, ns_t_a, true});
    // From here on `this` may be gone (a resolver destroyed with lookups pending completes
    // them): after the co_await only locals are used.
    const std::string server = server_label_;
    std::vector<RawAnswer> raw = co_await Run(queries);

    DnsAnswer<Result> combined;
    std::optional<DnsAnswer<Result>> worst;
    for (std::size_t i = 0; i < queries.size(); ++i) {
      DnsAnswer<Result> part = ParseAddresses(raw[i], queries[i], server);
      if (part.ok()) {
        combined.status = DnsStatus::kOk;
        for (auto& address : part.value) combined.value.push_back(std::move(address));
      } else if (part.status == DnsStatus::kCancelled) {
        co_return part;
      } else if (!worst || FailureRank(part.status) > FailureRank(worst->status)) {
        worst = std::move(part);
      }
    }
    if (combined.ok()) co_return combined;
    co_return std::move(*worst);
  }

  boost::asio::awaitable<DnsAnswer<std::vector<MxRecord>>> LookupMx(std::string domain) override {
    using Result = std::vector<MxRecord>;
    if (!UsableName(domain)) co_return BadName<Result>(domain);
    const Query query{domain, ns_t_mx, true};
    const std::string server = server_label_;  // `this` may be gone after the co_await
    std::vector<RawAnswer> raw = co_await Run(std::vector<Query>(1, query));
    if (raw[0].status != ARES_SUCCESS) co_return Failure<Result>(raw[0].status, query, server);

    ares_mx_reply* replies = nullptr;
    const int status = ares_parse_mx_reply(raw[0].message.data(),
                                           static_cast<int>(raw[0].message.size()), &replies);
    if (status != ARES_SUCCESS) co_return Failure<Result>(status, query, server);
    DnsAnswer<Result> answer;
    answer.status = DnsStatus::kOk;
    bool null_mx = false;
    for (ares_mx_reply* reply = replies; reply != nullptr; reply = reply->next) {
      std::string host = StripTrailingDot(reply->host != nullptr ? reply->host : "");
      // RFC 7505: a single MX with the root as exchange ("Null MX") says the domain accepts no
      // mail. It is not a host to probe.
      if (host.empty()) {
        null_mx = true;
        continue;
      }
      answer.value.push_back(MxRecord{reply->priority, std::move(host)});
    }
    ares_free_data(replies);
    if (answer.value.empty()) {
      answer.status = null_mx ? DnsStatus::kNullMx : DnsStatus::kNoData;
      answer.error = null_mx ? "null MX (RFC 7505): " + domain + " accepts no mail"
                             : "no MX records for " + domain;
      co_return answer;
    }
    // RFC 5321 §5.1: lower preference first. Equal preferences would be tried in random order;
    // a monitor wants stable series, so ties are ordered by name (case-insensitive, RFC 4343).
    std::sort(answer.value.begin(), answer.value.end(), [](const MxRecord& a, const MxRecord& b) {
      if (a.preference != b.preference) return a.preference < b.preference;
      if (LessCaseInsensitive(a.host, b.host)) return true;
      if (LessCaseInsensitive(b.host, a.host)) return false;
      return a.host < b.host;
    });
    co_return answer;
  }

  boost::asio::awaitable<DnsAnswer<std::vector<std::string>>> LookupPtr(
      std::string address) override {
    using Result = std::vector<std::string>;
    const std::string literal = StripBrackets(address);
    int family = AF_INET;
    std::array<unsigned char, 16> bytes{};
    std::optional<std::string> reverse = ReverseName(literal, &family, &bytes);
    if (!reverse) {
      co_return DnsAnswer<Result>{DnsStatus::kError, "not an IP address: \"" + address + "\"", {}};
    }
    const Query query{*reverse, ns_t_ptr, false};
    const std::string server = server_label_;  // `this` may be gone after the co_await
    std::vector<RawAnswer> raw = co_await Run(std::vector<Query>(1, query));
    if (raw[0].status != ARES_SUCCESS) co_return Failure<Result>(raw[0].status, query, server);

    hostent* host = nullptr;
    const int status =
        ares_parse_ptr_reply(raw[0].message.data(), static_cast<int>(raw[0].message.size()),
                             bytes.data(), family == AF_INET ? 4 : 16, family, &host);
    if (status != ARES_SUCCESS) co_return Failure<Result>(status, query, server);
    DnsAnswer<Result> answer;
    answer.status = DnsStatus::kOk;
    auto add = [&answer](const char* name) {
      if (name == nullptr) return;
      std::string stripped = StripTrailingDot(name);
      if (stripped.empty()) return;
      if (std::find(answer.value.begin(), answer.value.end(), stripped) == answer.value.end()) {
        answer.value.push_back(std::move(stripped));
      }
    };
    // c-ares lists every PTR target among the aliases (in answer order) and repeats one of them
    // as h_name; aliases first keeps the server's order.
    for (char** alias = host->h_aliases; alias != nullptr && *alias != nullptr; ++alias)
      add(*alias);
    add(host->h_name);
    ares_free_hostent(host);
    if (answer.value.empty()) co_return Failure<Result>(ARES_ENODATA, query, server);
    co_return answer;
  }

  void Cancel() override {
    if (channel_ == nullptr) return;
    ares_cancel(channel_);  // every pending callback runs now with ARES_ECANCELLED
    RescheduleTimer();
  }

 private:
  struct Watch {
    explicit Watch(const Executor& executor) : descriptor(executor) {}
    boost::asio::posix::stream_descriptor descriptor;
    std::uint64_t id = 0;  // tells this socket from a later one that reuses the fd number
    bool want_read = false;
    bool want_write = false;
    bool read_armed = false;  // a wait (or a posted run) for this direction is outstanding
    bool write_armed = false;
    bool broken = false;  // the reactor refused it; c-ares then only advances via the timer
  };

  using WaitType = boost::asio::posix::stream_descriptor::wait_type;

  boost::asio::awaitable<std::vector<RawAnswer>> Run(std::vector<Query> queries) {
    return boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&,
                                       void(std::vector<RawAnswer>)>(
        [this](auto handler, std::vector<Query> batch_queries) {
          Start(std::move(handler), std::move(batch_queries));
        },
        boost::asio::use_awaitable, std::move(queries));
  }

  template <typename Handler>
  void Start(Handler handler, std::vector<Query> queries) {
    auto batch = std::make_shared<Batch>();
    batch->completion = std::make_unique<HandlerCompletion<Handler>>(std::move(handler), executor_);
    batch->answers.resize(queries.size());
    batch->remaining = queries.size();
    if (queries.empty()) {
      batch->completion->Complete({});
      return;
    }
    for (std::size_t i = 0; i < queries.size(); ++i) {
      auto* context = new QueryContext{batch, i};
      const Query& query = queries[i];
      // May call OnQueryDone synchronously (bad name); the completion is posted either way.
      if (query.search) {
        ares_search(channel_, query.name.c_str(), ns_c_in, query.type, &OnQueryDone, context);
      } else {
        ares_query(channel_, query.name.c_str(), ns_c_in, query.type, &OnQueryDone, context);
      }
    }
    RescheduleTimer();
  }

  static void OnSocketState(void* data, ares_socket_t fd, int readable, int writable) {
    static_cast<AresResolver*>(data)->UpdateWatch(fd, readable != 0, writable != 0);
  }

  // c-ares reports interest changes here, and a (0, 0) just before it closes a socket.
  void UpdateWatch(int fd, bool readable, bool writable) {
    if (!readable && !writable) {
      if (auto it = watches_.find(fd); it != watches_.end()) {
        // Deregisters from the reactor and aborts its waits, but leaves the fd to c-ares.
        it->second->descriptor.release();
        watches_.erase(it);
      }
      return;
    }
    std::unique_ptr<Watch>& watch = watches_[fd];
    if (!watch) {
      watch = std::make_unique<Watch>(executor_);
      watch->id = next_watch_id_++;
      boost::system::error_code error;
      watch->descriptor.assign(fd, error);
      watch->broken = static_cast<bool>(error);
    }
    watch->want_read = readable;
    watch->want_write = writable;
    Arm(fd, *watch);
  }

  // Starts a wait for every wanted direction that has none outstanding. Asio's epoll reactor is
  // edge-triggered and a wait only completes on a new edge, so readiness that already exists
  // (say, a second datagram c-ares has not read yet) is checked with poll() first and run at once.
  void Arm(int fd, Watch& watch) {
    if (watch.broken) return;
    for (WaitType type : {WaitType::wait_read, WaitType::wait_write}) {
      const bool read = type == WaitType::wait_read;
      if (!(read ? watch.want_read : watch.want_write) ||
          (read ? watch.read_armed : watch.write_armed)) {
        continue;
      }
      (read ? watch.read_armed : watch.write_armed) = true;
      auto handler = [this, alive = std::weak_ptr<int>(alive_), fd, id = watch.id,
                      read](const boost::system::error_code& error) {
        if (alive.expired()) return;
        OnReady(fd, id, read, error);
      };
      pollfd probe{fd, static_cast<short>(read ? POLLIN : POLLOUT), 0};
      if (::poll(&probe, 1, 0) > 0) {
        boost::asio::post(executor_, [handler] { handler(boost::system::error_code()); });
      } else {
        watch.descriptor.async_wait(type, handler);
      }
    }
  }

  void OnReady(int fd, std::uint64_t id, bool read, const boost::system::error_code& error) {
    Watch* watch = Find(fd, id);
    if (watch == nullptr) return;  // c-ares closed that socket meanwhile
    (read ? watch->read_armed : watch->write_armed) = false;
    if (error == boost::asio::error::operation_aborted) return;
    if (error) watch->broken = true;  // don't spin on a failing wait; the timer still drives
    if (read ? watch->want_read : watch->want_write) {
      ares_process_fd(channel_, read ? fd : ARES_SOCKET_BAD, read ? ARES_SOCKET_BAD : fd);
    }
    if (Watch* current = Find(fd, id)) Arm(fd, *current);
    RescheduleTimer();
  }

  Watch* Find(int fd, std::uint64_t id) {
    auto it = watches_.find(fd);
    return it != watches_.end() && it->second->id == id ? it->second.get() : nullptr;
  }

  // Retries and timeouts happen inside ares_process_fd; ares_timeout says when the next one is
  // due, or returns null when no query is pending.
  void RescheduleTimer() {
    timeval due{};
    if (ares_timeout(channel_, nullptr, &due) == nullptr) {
      timer_.cancel();
      return;
    }
    timer_.expires_after(std::chrono::seconds(due.tv_sec) + std::chrono::microseconds(due.tv_usec));
    timer_.async_wait(
        [this, alive = std::weak_ptr<int>(alive_)](const boost::system::error_code& error) {
          if (error || alive.expired()) return;
          ares_process_fd(channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
          RescheduleTimer();
        });
  }

  Executor executor_;
  ares_channel channel_ = nullptr;
  std::string server_label_ = "system resolver";
  std::map<int, std::unique_ptr<Watch>> watches_;
  std::uint64_t next_watch_id_ = 1;
  boost::asio::steady_timer timer_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // expires when we are destroyed
};

}  // namespace

std::unique_ptr<DnsResolver> DnsResolver::Create(boost::asio::any_io_executor executor,
                                                 std::string_view server, std::string* error) {
  std::string ignored;
  if (error == nullptr) error = &ignored;
  auto resolver = std::make_unique<AresResolver>(std::move(executor));
  if (!resolver->Init(server, error)) return nullptr;
  return resolver;
}

boost::asio::awaitable<DnsAnswer<std::vector<MxRecord>>> LookupMailHosts(DnsResolver& resolver,
                                                                         std::string domain) {
  DnsAnswer<std::vector<MxRecord>> answer = co_await resolver.LookupMx(domain);
  if (answer.status == DnsStatus::kNoData) {
    // RFC 5321 §5.1: "If an empty list of MXs is returned, the address is treated as if it was
    // associated with an implicit MX RR, with a preference of 0, pointing to that host."
    answer.status = DnsStatus::kOk;
    answer.error.clear();
    answer.value = {MxRecord{0, StripTrailingDot(domain)}};
  }
  co_return answer;
}

}  // namespace smtp
