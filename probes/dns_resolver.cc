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
//
// What involves no I/O (the server setting, turning c-ares' answers into DnsAnswers) is in
// probes/dns_parse.{h,cc}; the rules applied to answers are in probes/dns_answer.{h,cc}.
#include <utility>
// ^ Before any Boost.Asio header (g++ 12 coroutines); this line stops include sorting moving it.
#include <ares.h>
#include <poll.h>

#include <boost/asio/append.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>

#include "probes/dns_parse.h"
#include "probes/dns_resolver.h"
#include "probes/text.h"

namespace smtp {
namespace {

using dns::Query;
using dns::RawAnswer;
using Executor = boost::asio::any_io_executor;

// Per try; c-ares doubles it for each further round over the server list, so with kTries = 2 a
// silent server costs 2 s + 4 s. The prober's own deadline (via Cancel) usually comes first.
constexpr int kTryTimeoutMs = 2000;
constexpr int kTries = 2;

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
    std::optional<dns::ServerAddress> server;
    if (!server_text.empty()) {
      server = dns::ParseServer(server_text, error);
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
    if (std::string literal = dns::StripBrackets(host); IsIpLiteral(literal)) {
      co_return DnsAnswer<Result>{DnsStatus::kOk, "", Result{literal}};
    }
    if (!dns::UsableName(host))
      co_return DnsAnswer<Result>{DnsStatus::kError, dns::BadNameText(host), {}};

    std::vector<Query> queries;
    if (protocol != IpProtocol::kIp4) queries.push_back({host, ns_t_aaaa, true});
    if (protocol != IpProtocol::kIp6) queries.push_back({host, ns_t_a, true});
    // From here on `this` may be gone (a resolver destroyed with lookups pending completes
    // them): after the co_await only locals are used.
    const std::string server = server_label_;
    std::vector<RawAnswer> raw = co_await Run(queries);
    std::vector<DnsAnswer<Result>> parts;
    for (std::size_t i = 0; i < queries.size(); ++i) {
      parts.push_back(dns::ParseAddresses(raw[i], queries[i], server));
    }
    co_return dns::CombineAddresses(std::move(parts));
  }

  boost::asio::awaitable<DnsAnswer<std::vector<MxRecord>>> LookupMx(std::string domain) override {
    if (!dns::UsableName(domain))
      co_return DnsAnswer<std::vector<MxRecord>>{DnsStatus::kError, dns::BadNameText(domain), {}};
    const Query query{domain, ns_t_mx, true};
    const std::string server = server_label_;  // `this` may be gone after the co_await
    std::vector<RawAnswer> raw = co_await Run(std::vector<Query>(1, query));
    co_return dns::ParseMx(raw[0], query, server);
  }

  boost::asio::awaitable<DnsAnswer<std::vector<std::string>>> LookupPtr(
      std::string address) override {
    std::optional<dns::ReverseQuery> reverse = dns::ReverseName(dns::StripBrackets(address));
    if (!reverse) {
      co_return DnsAnswer<std::vector<std::string>>{
          DnsStatus::kError, "not an IP address: \"" + address + "\"", {}};
    }
    const Query query{reverse->name, ns_t_ptr, false};
    const std::string server = server_label_;  // `this` may be gone after the co_await
    std::vector<RawAnswer> raw = co_await Run(std::vector<Query>(1, query));
    co_return dns::ParsePtr(raw[0], query, server, *reverse);
  }

  boost::asio::awaitable<DnsAnswer<std::vector<std::string>>> LookupTxt(std::string name) override {
    if (!dns::UsableName(name))
      co_return DnsAnswer<std::vector<std::string>>{DnsStatus::kError, dns::BadNameText(name), {}};
    const Query query{name, ns_t_txt, false};
    const std::string server = server_label_;  // `this` may be gone after the co_await
    std::vector<RawAnswer> raw = co_await Run(std::vector<Query>(1, query));
    co_return dns::ParseTxt(raw[0], query, server);
  }

  boost::asio::awaitable<DnsAnswer<std::vector<std::string>>> LookupA(std::string name) override {
    if (!dns::UsableName(name))
      co_return DnsAnswer<std::vector<std::string>>{DnsStatus::kError, dns::BadNameText(name), {}};
    const Query query{name, ns_t_a, false};
    const std::string server = server_label_;  // `this` may be gone after the co_await
    std::vector<RawAnswer> raw = co_await Run(std::vector<Query>(1, query));
    co_return dns::ParseAddresses(raw[0], query, server);
  }

  boost::asio::awaitable<DnsAnswer<TlsaAnswer>> LookupTlsa(std::string name) override {
    if (!dns::UsableName(name))
      co_return DnsAnswer<TlsaAnswer>{DnsStatus::kError, dns::BadNameText(name), {}};
    Query query{name, 52, false};
    query.dnssec = true;
    const std::string server = server_label_;  // `this` may be gone after the co_await
    std::vector<RawAnswer> raw = co_await Run(std::vector<Query>(1, query));
    co_return dns::ParseTlsa(raw[0], query, server);
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
      if (query.dnssec) {
        const std::optional<std::vector<unsigned char>> message =
            dns::DnssecQueryMessage(query.name, query.type);
        if (!message) {
          OnQueryDone(context, ARES_EBADNAME, 0, nullptr, 0);
        } else {
          // c-ares copies the message.
          ares_send(channel_, message->data(), static_cast<int>(message->size()), &OnQueryDone,
                    context);
        }
      } else if (query.search) {
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
  co_return MailHostsOf(domain, std::move(answer));
}

}  // namespace smtp
