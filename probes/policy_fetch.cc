// MTA-STS policy fetch over HTTPS with Boost.Beast; the rules are in policy_fetch.h.
#include "probes/policy_fetch.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <map>
#include <mutex>

#include "probes/text.h"
#include "probes/tls_inspect.h"

namespace smtp {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr std::uint32_t kMaxHeaderBytes = 16 * 1024;

// A strict client context per CA file: TLS 1.2+ (RFC 8461 §3.3 requires a valid certificate
// over TLS; §5 senders use 1.2+), peer verification that fails the handshake. Kept for the
// process like the SMTP prober's, since loading a trust store costs milliseconds.
SSL_CTX* AcquireStrictContext(const std::string& ca_file, std::string* error) {
  static std::mutex mutex;
  static auto* contexts = new std::map<std::string, SSL_CTX*>();
  std::lock_guard<std::mutex> lock(mutex);
  auto found = contexts->find(ca_file);
  if (found == contexts->end()) {
    SSL_CTX* context = SSL_CTX_new(TLS_client_method());
    if (context == nullptr) {
      *error = "cannot create TLS context: " + TakeOpenSslError();
      return nullptr;
    }
    SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
    SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nullptr);
    const int loaded = ca_file.empty()
                           ? SSL_CTX_set_default_verify_paths(context)
                           : SSL_CTX_load_verify_locations(context, ca_file.c_str(), nullptr);
    if (loaded != 1) {
      *error = "cannot load CA file \"" + ca_file + "\": " + TakeOpenSslError();
      SSL_CTX_free(context);
      return nullptr;
    }
    found = contexts->emplace(ca_file, context).first;
  }
  SSL_CTX_up_ref(found->second);
  return found->second;
}

PolicyFetchResponse Failure(PolicyFetchStatus status, std::string detail, int http_status = 0) {
  PolicyFetchResponse response;
  response.status = status;
  response.detail = std::move(detail);
  response.http_status = http_status;
  return response;
}

bool TimedOut(const boost::system::error_code& error) {
  return error == beast::error::timeout || error == asio::error::operation_aborted;
}

// RFC 8461 §3.2: the policy is served as text/plain (parameters such as charset allowed).
bool IsTextPlain(std::string_view content_type) {
  const std::string type = ToLowerAscii(content_type.substr(0, content_type.find(';')));
  std::string_view trimmed = type;
  while (!trimmed.empty() && trimmed.back() == ' ') trimmed.remove_suffix(1);
  return trimmed == "text/plain";
}

asio::awaitable<PolicyFetchResponse> Fetch(PolicyFetchRequest request) {
  std::string error;
  SSL_CTX* native = AcquireStrictContext(request.ca_file, &error);
  if (native == nullptr) co_return Failure(PolicyFetchStatus::kTls, error);
  asio::ssl::context context(native);  // takes over the reference
  beast::ssl_stream<beast::tcp_stream> stream(co_await asio::this_coro::executor, context);
  // One absolute deadline for every operation below (Beast's tcp_stream timeout).
  beast::get_lowest_layer(stream).expires_at(request.deadline);

  boost::system::error_code failure = asio::error::host_not_found;
  std::string tried;
  for (const std::string& text : request.addresses) {
    boost::system::error_code parse_error;
    const asio::ip::address address = asio::ip::make_address(text, parse_error);
    if (parse_error) continue;
    auto [connect_error] = co_await beast::get_lowest_layer(stream).async_connect(
        asio::ip::tcp::endpoint(address, request.port), kNoThrow);
    failure = connect_error;
    if (!connect_error) break;
    tried = text;
    if (TimedOut(connect_error)) break;
    beast::get_lowest_layer(stream).socket().close();
  }
  if (failure) {
    if (TimedOut(failure)) {
      co_return Failure(PolicyFetchStatus::kTimeout,
                        "deadline exceeded connecting to " + request.host);
    }
    co_return Failure(PolicyFetchStatus::kConnect, "cannot connect to " + request.host +
                                                       (tried.empty() ? "" : " (" + tried + ")") +
                                                       " port " + std::to_string(request.port) +
                                                       ": " + failure.message());
  }

  SSL* ssl = stream.native_handle();
  SSL_set_tlsext_host_name(ssl, request.host.c_str());
  SSL_set1_host(ssl, request.host.c_str());  // RFC 6125 name check during verification
  auto [handshake_error] =
      co_await stream.async_handshake(asio::ssl::stream_base::client, kNoThrow);
  if (handshake_error) {
    if (TimedOut(handshake_error)) {
      co_return Failure(PolicyFetchStatus::kTimeout, "deadline exceeded in the TLS handshake");
    }
    const long verify = SSL_get_verify_result(ssl);
    std::string detail = verify != X509_V_OK
                             ? std::string("certificate not valid for ") + request.host + ": " +
                                   X509_verify_cert_error_string(verify)
                             : "TLS handshake failed: " + handshake_error.message();
    ERR_clear_error();
    co_return Failure(PolicyFetchStatus::kTls, std::move(detail));
  }

  http::request<http::empty_body> get{http::verb::get, std::string(kMtaStsPolicyPath), 11};
  get.set(http::field::host,
          request.port == 443 ? request.host : request.host + ":" + std::to_string(request.port));
  get.set(http::field::user_agent, "smtp_exporter");
  get.set(http::field::connection, "close");
  auto [write_error, written] = co_await http::async_write(stream, get, kNoThrow);
  (void)written;
  if (write_error) {
    co_return Failure(
        TimedOut(write_error) ? PolicyFetchStatus::kTimeout : PolicyFetchStatus::kProtocol,
        "sending the request: " + write_error.message());
  }

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.header_limit(kMaxHeaderBytes);
  parser.body_limit(kMaxMtaStsPolicyBytes);
  auto [read_error, read] = co_await http::async_read(stream, buffer, parser, kNoThrow);
  (void)read;
  // A status line read is worth reporting even when the body then failed.
  const int status = parser.is_header_done() ? parser.get().result_int() : 0;
  if (read_error) {
    if (read_error == http::error::body_limit) {
      co_return Failure(PolicyFetchStatus::kTooLarge,
                        "policy larger than " + std::to_string(kMaxMtaStsPolicyBytes) + " bytes",
                        status);
    }
    if (TimedOut(read_error)) {
      co_return Failure(PolicyFetchStatus::kTimeout, "deadline exceeded reading the response",
                        status);
    }
    co_return Failure(PolicyFetchStatus::kProtocol, "reading the response: " + read_error.message(),
                      status);
  }
  const auto& response = parser.get();
  if (status >= 300 && status < 400) {
    const std::string location(response[http::field::location].substr(0, 200));
    co_return Failure(PolicyFetchStatus::kRedirect,
                      "HTTP " + std::to_string(status) + " redirect" +
                          (location.empty() ? "" : " to " + location) +
                          " (RFC 8461 §3.3: not followed)",
                      status);
  }
  if (status != 200) {
    co_return Failure(PolicyFetchStatus::kHttpStatus, "HTTP " + std::to_string(status), status);
  }
  const std::string content_type(response[http::field::content_type].substr(0, 100));
  if (!IsTextPlain(content_type)) {
    co_return Failure(PolicyFetchStatus::kContentType,
                      "media type \"" + content_type + "\" instead of text/plain", status);
  }
  PolicyFetchResponse ok;
  ok.status = PolicyFetchStatus::kOk;
  ok.http_status = status;
  ok.body = response.body();
  co_return ok;
}

}  // namespace

asio::awaitable<PolicyFetchResponse> FetchPolicy(PolicyFetchRequest request) {
  try {
    co_return co_await Fetch(std::move(request));
  } catch (const std::exception& exception) {
    // Failures are data; an exception here is a bug, reported like a broken response.
    co_return Failure(PolicyFetchStatus::kProtocol,
                      std::string("internal error: ") + exception.what());
  }
}

}  // namespace smtp
