// The probe pipeline and its plain steps; see probes/probe_session.h for the other files.
#include "probes/probe_session.h"

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <utility>

#include "probes/command.h"
#include "probes/text.h"

namespace smtp {
namespace {

constexpr std::size_t kMaxTranscriptLines = 400;
constexpr std::size_t kMaxTranscriptLineBytes = 512;
constexpr std::size_t kMaxPtrNamesChecked = 4;

FailureReason FromDns(DnsStatus status, bool deadline_passed) {
  if (deadline_passed || status == DnsStatus::kCancelled) return FailureReason::kTimeout;
  return FailureReason::kDns;
}

// Line `index` of a reply as it was on the wire (RFC 5321 §4.2.1), for the transcript: rebuilt
// from the code and the text, or as received when the server's framing needed repair.
std::string ReplyLineText(const Reply& reply, std::size_t index) {
  if (reply.wire_lines.size() == reply.lines.size()) return reply.wire_lines[index];
  const bool last = index + 1 == reply.lines.size();
  std::string text = std::to_string(reply.code) + (last ? " " : "-") + reply.lines[index];
  if (last && reply.lines[index].empty()) text.pop_back();
  return text;
}

}  // namespace

void ProbeSession::BeginStep(Step step) {
  StepResult entry;
  entry.step = step;
  result_.steps.push_back(std::move(entry));
  step_start_ = Clock::now();
}

void ProbeSession::FinishStep() {
  current().duration = Clock::now() - step_start_;
  current().ok = true;
}

void ProbeSession::FailStep(FailureReason reason, std::string detail, bool fatal) {
  current().duration = Clock::now() - step_start_;
  current().ok = false;
  current().reason = reason;
  if (!detail.empty()) current().detail = detail;
  Note('*',
       std::string(ToString(current().step)) + " failed (" + ToString(reason) + "): " + detail);
  if (fatal && !result_.failed_step) {
    result_.failed_step = current().step;
    result_.failure_reason = reason;
    result_.failure_detail = std::move(detail);
  }
}

void ProbeSession::Note(char direction, std::string text) {
  if (result_.transcript.size() >= kMaxTranscriptLines) return;
  if (result_.transcript.size() + 1 == kMaxTranscriptLines) {
    direction = '*';
    text = "transcript truncated";
  }
  for (const std::string& secret : secrets_) {
    constexpr std::string_view kRedacted = "<redacted>";
    for (std::size_t at = text.find(secret); at != std::string::npos;
         at = text.find(secret, at + kRedacted.size())) {
      text.replace(at, secret.size(), kRedacted);
    }
  }
  if (text.size() > kMaxTranscriptLineBytes) {
    text.resize(kMaxTranscriptLineBytes);
    text += "...";
  }
  result_.transcript.push_back({Clock::now() - start_, direction, std::move(text)});
}

void ProbeSession::NoteAnomaly(const std::string& anomaly) {
  Note('*', "tolerated a malformed reply: " + anomaly);
  auto& anomalies = result_.reply_anomalies;
  if (std::find(anomalies.begin(), anomalies.end(), anomaly) == anomalies.end()) {
    anomalies.push_back(anomaly);
  }
}

void ProbeSession::RecordReply(const Reply& reply) {
  current().reply_code = reply.code;
  current().enhanced_code = reply.enhanced;
}

asio::awaitable<std::variant<Reply, IoFailure>> ProbeSession::Talk(std::string_view verb,
                                                                   std::string_view argument) {
  if (verb.empty()) co_return co_await TalkLine("", "", "the greeting");
  std::optional<std::string> line = FormatCommand(verb, argument);
  if (!line) {
    // Config validation keeps CR/LF out of names; this guards the wire regardless.
    co_return IoFailure{FailureReason::kProtocol,
                        "refusing to send malformed command " + std::string(verb)};
  }
  std::string shown = line->substr(0, line->size() - 2);
  co_return co_await TalkLine(std::move(*line), std::move(shown), std::string(verb));
}

asio::awaitable<std::variant<Reply, IoFailure>> ProbeSession::TalkLine(std::string wire,
                                                                       std::string shown,
                                                                       std::string what) {
  const std::string awaited = wire.empty() ? what : "the reply to " + what;
  if (!wire.empty()) {
    // Nothing may arrive between a reply and our next command (we never pipeline). A reply the
    // server sent unasked would be read as the answer to this command and shift every later
    // one, so it is dropped and noted.
    if (connection_->HasBufferedBytes()) {
      connection_->DiscardBuffered();
      NoteAnomaly("unsolicited reply discarded");
    }
    Note('C', std::move(shown));
    if (auto failure = co_await connection_->Write(wire)) {
      channel_sane_ = false;
      failure->detail += " (sending " + what + ")";
      co_return *failure;
    }
  }
  auto outcome = co_await connection_->ReadReply();
  if (auto* failure = std::get_if<IoFailure>(&outcome)) {
    channel_sane_ = false;
    failure->detail += " (waiting for " + awaited + ")";
    co_return outcome;
  }
  channel_sane_ = true;
  const Reply& reply = std::get<Reply>(outcome);
  for (std::size_t i = 0; i < reply.lines.size(); ++i) {
    // RFC 4954 §4: a 334 carries SASL data (a SCRAM salt, a CRAM-MD5 challenge), which with the
    // client's answer would allow an offline guess of the password: not shown.
    Note('S', reply.code == 334 ? std::string("334 <redacted>") : ReplyLineText(reply, i));
  }
  for (const std::string& anomaly : ReplyAnomalyNames(reply.anomalies)) NoteAnomaly(anomaly);
  if (reply.code == 421) server_closing_ = true;
  co_return outcome;
}

asio::awaitable<std::optional<Reply>> ProbeSession::Exchange(std::string_view verb,
                                                             std::string_view argument,
                                                             bool fatal) {
  auto outcome = co_await Talk(verb, argument);
  if (auto* failure = std::get_if<IoFailure>(&outcome)) {
    FailStep(failure->reason, failure->detail, fatal);
    co_return std::nullopt;
  }
  RecordReply(std::get<Reply>(outcome));
  co_return std::get<Reply>(std::move(outcome));
}

DnsResolver* ProbeSession::Resolver() {
  if (!resolver_ && resolver_error_.empty()) {
    resolver_ = DnsResolver::Create(executor_, spec_.dns_server, &resolver_error_);
    if (!resolver_ && resolver_error_.empty()) resolver_error_ = "cannot start DNS resolver";
  }
  return resolver_.get();
}

asio::awaitable<bool> ProbeSession::ResolveAndConnect() {
  std::vector<std::string> addresses;
  if (spec_.address) {
    addresses.push_back(*spec_.address);
  } else if (IsIpLiteral(spec_.host)) {
    addresses.push_back(spec_.host);
  } else {
    BeginStep(Step::kResolve);
    DnsResolver* resolver = Resolver();
    if (resolver == nullptr) {
      FailStep(FailureReason::kDns, resolver_error_);
      co_return false;
    }
    auto answer = co_await resolver->LookupAddresses(spec_.host, spec_.ip_protocol);
    if (!answer.ok() || answer.value.empty()) {
      FailStep(FromDns(answer.status, deadline_passed()),
               deadline_passed() ? "deadline exceeded during DNS lookup"
                                 : "cannot resolve " + spec_.host + ": " + answer.error);
      co_return false;
    }
    addresses = answer.value;
    result_.dns.addresses = addresses;
    Note('*', "resolved " + spec_.host + " to " + addresses.front() +
                  (addresses.size() > 1 ? " (+" + std::to_string(addresses.size() - 1) + ")" : ""));
    FinishStep();
  }

  BeginStep(Step::kConnect);
  std::optional<IoFailure> failure;
  for (const std::string& address : addresses) {
    boost::system::error_code error;
    asio::ip::address ip = asio::ip::make_address(address, error);
    if (error) {
      failure = IoFailure{FailureReason::kDns, "not an IP address: " + address};
      continue;
    }
    if (spec_.address_allowed && !spec_.address_allowed(address, spec_.port)) {
      // A connect failure of another address says more: keep it.
      if (!failure)
        failure = IoFailure{FailureReason::kForbidden,
                            address + " port " + std::to_string(spec_.port) + " is not allowed"};
      Note('*', "not connecting to " + address + " port " + std::to_string(spec_.port) +
                    ": not allowed");
      continue;
    }
    failure = co_await connection_->Connect({ip, spec_.port});
    if (!failure) {
      result_.dns.connected_address = address;
      Note('*', "connected to " + address + " port " + std::to_string(spec_.port));
      FinishStep();
      co_return true;
    }
    if (deadline_passed()) break;
  }
  FailStep(failure->reason, failure->detail);
  co_return false;
}

asio::awaitable<bool> ProbeSession::Greeting() {
  BeginStep(Step::kGreeting);
  // RFC 5321 §4.3.2 / postscreen: say nothing until the final "220 " line; ReadReply returns
  // only complete (possibly multi-line) replies, so the latency ends at that final line.
  std::optional<Reply> reply = co_await Exchange("", "");
  if (!reply) co_return false;
  result_.greeting_lines = reply->lines;
  if (reply->code != 220) {
    // 554: no service for us, the server waits for QUIT (§3.1); 421: it is closing (§3.8).
    // Only a 220 greeting starts with the server's name (§4.2), so nothing is parsed here.
    FailStep(reply->IsPositive() || reply->IsIntermediate() ? FailureReason::kProtocol
                                                            : FailureReason::kRejected,
             "greeting " + std::to_string(reply->code) + " instead of 220");
    co_return false;
  }
  result_.greeting = ParseGreeting(reply->lines.empty() ? "" : reply->lines.front());
  FinishStep();
  co_return true;
}

asio::awaitable<bool> ProbeSession::Hello() {
  BeginStep(Step::kEhlo);
  std::optional<Reply> reply = co_await Exchange("EHLO", spec_.ehlo_name);
  if (!reply) co_return false;
  if (reply->code == 250) {
    result_.esmtp = true;
    result_.capabilities = ParseEhloReply(*reply);
    result_.starttls_offered = result_.capabilities->starttls;
    FinishStep();
    co_return true;
  }
  if (!reply->IsPermanent() || server_closing_) {
    FailStep(reply->IsTransient() ? FailureReason::kRejected : FailureReason::kProtocol,
             "EHLO answered " + std::to_string(reply->code));
    co_return false;
  }
  // RFC 1869 §4.5 / RFC 5321 §4.1.4: a server that does not speak ESMTP refuses EHLO with 5xx
  // (500/502, old ones 501/550); the client falls back to HELO. Not a probe failure by itself.
  FailStep(FailureReason::kRejected, "EHLO refused, falling back to HELO", /*fatal=*/false);
  BeginStep(Step::kHelo);
  reply = co_await Exchange("HELO", spec_.ehlo_name);
  if (!reply) co_return false;
  if (reply->code != 250) {
    FailStep(FailureReason::kRejected, "HELO answered " + std::to_string(reply->code));
    co_return false;
  }
  result_.esmtp = false;
  result_.starttls_offered = false;  // no extensions without EHLO (RFC 1869 §4.5)
  result_.capabilities = Capabilities{};
  result_.capabilities->domain = reply->lines.empty() ? "" : reply->lines.front();
  FinishStep();
  co_return true;
}

asio::awaitable<void> ProbeSession::Quit() {
  if (!channel_sane_ || server_closing_ || deadline_passed()) co_return;
  BeginStep(Step::kQuit);
  // A server that hangs up without its 221 has still served the dialogue: recorded, not fatal.
  std::optional<Reply> reply = co_await Exchange("QUIT", "", /*fatal=*/false);
  if (!reply) co_return;
  if (reply->code != 221) {
    FailStep(FailureReason::kProtocol, "QUIT answered " + std::to_string(reply->code), false);
    co_return;
  }
  FinishStep();
}

asio::awaitable<void> ProbeSession::ReverseDns() {
  const std::string& address = result_.dns.connected_address;
  if (!spec_.check_fcrdns || address.empty() || deadline_passed()) co_return;
  if (spec_.dns_server.empty() && IsLoopbackAddress(address)) co_return;
  BeginStep(Step::kReverseDns);
  DnsResolver* resolver = Resolver();
  if (resolver == nullptr) {
    FailStep(FailureReason::kDns, resolver_error_, false);
    co_return;
  }
  auto ptr = co_await resolver->LookupPtr(address);
  if (!ptr.ok()) {
    result_.dns.fcrdns_match = false;
    FailStep(FromDns(ptr.status, deadline_passed()), "PTR of " + address + ": " + ptr.error, false);
    co_return;
  }
  result_.dns.ptr_names = ptr.value;
  const IpProtocol family =
      address.find(':') != std::string::npos ? IpProtocol::kIp6 : IpProtocol::kIp4;
  bool match = false;
  bool banner_match = false;
  for (std::size_t i = 0; i < ptr.value.size() && i < kMaxPtrNamesChecked; ++i) {
    auto forward = co_await resolver->LookupAddresses(ptr.value[i], family);
    if (!forward.ok()) continue;
    if (std::find(forward.value.begin(), forward.value.end(), address) == forward.value.end()) {
      continue;
    }
    match = true;
    if (result_.greeting && EqualsIgnoreCase(result_.greeting->hostname, ptr.value[i])) {
      banner_match = true;
    }
  }
  result_.dns.fcrdns_match = match;
  if (result_.greeting) result_.dns.banner_matches_ptr = banner_match;
  Note('*', "reverse DNS " + address + " -> " +
                (ptr.value.empty() ? std::string("(none)") : ptr.value.front()) +
                (match ? ", forward-confirmed" : ", NOT forward-confirmed"));
  FinishStep();
}

void ProbeSession::ArmDeadline(Clock::time_point at) {
  if (spec_.max_duration.count() > 0) at = std::min(at, start_ + spec_.max_duration);
  deadline_hit_ = false;
  deadline_.expires_at(at);
  std::weak_ptr<ProbeSession> weak = weak_from_this();
  deadline_.async_wait([weak](const boost::system::error_code& error) {
    auto self = weak.lock();
    if (error || !self) return;
    self->deadline_hit_ = true;
    self->connection_->AbortForDeadline();
    if (self->resolver_) self->resolver_->Cancel();
  });
}

asio::awaitable<ProbeResult> ProbeSession::Run() {
  start_ = Clock::now();
  result_.host = spec_.host;
  result_.port = spec_.port;
  result_.implicit_tls = spec_.implicit_tls;
  result_.started_at = std::chrono::system_clock::now();

  // One deadline for the health steps: when it passes, every pending operation is aborted.
  ArmDeadline(start_ + spec_.timeout);

  bool ok = co_await ResolveAndConnect();
  if (ok && spec_.implicit_tls) {
    BeginStep(Step::kTls);
    ok = co_await HandshakeAndInspect(Step::kTls);
    if (!ok && result_.tls && result_.tls->handshake_ok && !deadline_passed()) {
      // Refused certificate, working channel: read the banner (never speak before it, §4.3.2)
      // so that QUIT ends the session politely and the banner is still reported.
      co_await Greeting();
    }
  }
  ok = ok && co_await Greeting();
  ok = ok && co_await Hello();
  if (ok && spec_.starttls != StartTlsMode::kOff && !spec_.implicit_tls) {
    ok = co_await StartTls();
    if (ok && connection_->is_tls()) ok = co_await TlsEhlo();
  }
  // The relay test never fails the probe: its verdict is separate from the server's health.
  if (ok && spec_.relay.enabled) co_await RelayTest();
  // After the relay test, and before AUTH: both must run as a stranger (an authenticated
  // client may relay and verify users).
  if (ok && spec_.user_enumeration.enabled) co_await UserEnumeration();
  if (ok && spec_.auth.enabled()) ok = co_await Auth();
  co_await Quit();
  connection_->Close();
  co_await ReverseDns();
  co_await RunDomainChecks();

  deadline_.cancel();
  handshake_timer_.cancel();
  result_.success = !result_.failed_step.has_value();
  result_.duration = Clock::now() - start_;
  co_return std::move(result_);
}

}  // namespace smtp
