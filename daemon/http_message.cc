#include "daemon/http_message.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "probes/escape.h"

namespace smtp::http_detail {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 3986 §2.1 percent-decoding; '+' means a space in query components (HTML forms). Refuses
// malformed escapes and NUL, which no route or parameter can legitimately contain.
bool PercentDecode(std::string_view in, bool plus_is_space, std::string* out) {
  out->clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      int high = i + 1 < in.size() ? HexValue(in[i + 1]) : -1;
      int low = i + 2 < in.size() ? HexValue(in[i + 2]) : -1;
      if (high < 0 || low < 0) return false;
      c = static_cast<char>(high * 16 + low);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      c = ' ';
    }
    if (c == '\0') return false;
    out->push_back(c);
  }
  return true;
}

// "a=1&b=two" into `query`; the first of repeated names wins.
bool ParseQuery(std::string_view rest, std::map<std::string, std::string>* query) {
  while (!rest.empty()) {
    std::size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (pair.empty()) continue;
    std::size_t equals = pair.find('=');
    std::string key, value;
    if (!PercentDecode(pair.substr(0, equals), true, &key)) return false;
    if (equals != std::string_view::npos && !PercentDecode(pair.substr(equals + 1), true, &value)) {
      return false;
    }
    query->emplace(std::move(key), std::move(value));
  }
  return true;
}

// IMF-fixdate (RFC 9110 §5.6.7), which origin servers with a clock must send (§6.6.1).
std::string HttpDate() {
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  static const char* const kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char text[40];
  std::snprintf(text, sizeof text, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[utc.tm_wday % 7],
                utc.tm_mday, kMonths[utc.tm_mon % 12], utc.tm_year + 1900, utc.tm_hour, utc.tm_min,
                utc.tm_sec);
  return text;
}

bool SafeFieldValue(std::string_view text) {
  return text.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

bool SafeFieldName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    // RFC 9110 §5.6.2 token characters.
    if (!std::isalnum(static_cast<unsigned char>(c)) &&
        std::string_view("!#$%&'*+-.^_`|~").find(c) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

// Sets `name` to `value`, replacing any field of that name (field names are case-insensitive).
void SetField(std::vector<std::pair<std::string, std::string>>& fields, std::string_view name,
              std::string value) {
  const std::string lower = ToLower(name);
  std::erase_if(fields, [&](const auto& field) { return ToLower(field.first) == lower; });
  fields.emplace_back(std::string(name), std::move(value));
}

}  // namespace

struct GzipWriter::Stream {
  z_stream z{};
  bool ok = false;
};

GzipWriter::GzipWriter() : stream_(std::make_unique<Stream>()) {
  // windowBits 15 + 16 selects the gzip wrapper (RFC 1952) rather than zlib's.
  stream_->ok =
      deflateInit2(&stream_->z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK;
}

GzipWriter::~GzipWriter() {
  if (stream_->ok) deflateEnd(&stream_->z);
}

bool GzipWriter::Write(std::string_view in, bool finish, std::string& out) {
  z_stream& z = stream_->z;
  if (!stream_->ok) return false;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  // Pieces are at most a few MB, far below uInt's range; a bigger one is fed in parts.
  constexpr std::size_t kMaxIn = 1u << 30;
  for (std::size_t left = in.size();;) {
    const std::size_t part = std::min(left, kMaxIn);
    left -= part;
    z.avail_in = static_cast<uInt>(part);
    const int flush = finish && left == 0 ? Z_FINISH : Z_NO_FLUSH;
    int status;
    do {  // until zlib has taken all the input (and, when finishing, written the trailer)
      const std::size_t size = out.size();
      const std::size_t room = deflateBound(&z, z.avail_in) + 64;
      out.resize(size + room);
      z.next_out = reinterpret_cast<Bytef*>(out.data() + size);
      z.avail_out = static_cast<uInt>(room);
      status = deflate(&z, flush);
      out.resize(size + room - z.avail_out);
      if (status == Z_STREAM_ERROR) {
        stream_->ok = false;
        return false;
      }
    } while (z.avail_in > 0 || (flush == Z_FINISH && status != Z_STREAM_END));
    if (left == 0) break;
  }
  if (finish) {
    deflateEnd(&z);
    stream_->ok = false;
  }
  return true;
}

std::string ToLower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

bool ParseTarget(std::string_view target, std::string* path,
                 std::map<std::string, std::string>* query) {
  if (target == "*") {
    *path = "*";
    return true;
  }
  std::string lower = ToLower(target.substr(0, 8));
  for (std::string_view scheme : {"http://", "https://"}) {
    if (lower.compare(0, scheme.size(), scheme) == 0) {
      target.remove_prefix(scheme.size());
      std::size_t slash = target.find_first_of("/?");
      target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
      if (target.front() == '?') return false;
      break;
    }
  }
  if (target.empty() || target.front() != '/') return false;
  if (std::size_t hash = target.find('#'); hash != std::string_view::npos) {
    target = target.substr(0, hash);
  }
  std::size_t question = target.find('?');
  if (!PercentDecode(target.substr(0, question), false, path)) return false;
  if (question == std::string_view::npos) return true;
  return ParseQuery(target.substr(question + 1), query);
}

unsigned TransferCodingRefusal(unsigned version, std::string_view codings) {
  if (version < 11) return 400;
  std::vector<std::string> list;
  while (!codings.empty()) {
    const std::size_t comma = codings.find(',');
    std::string_view element = codings.substr(0, comma);
    codings = comma == std::string_view::npos ? std::string_view() : codings.substr(comma + 1);
    // A transfer-coding may carry parameters ("gzip;q=1" is not one, but "x;a=b" is): the name
    // alone decides. Empty list elements are allowed and ignored (RFC 9110 §5.6.1).
    element = Trim(element.substr(0, element.find(';')));
    if (!element.empty()) list.push_back(ToLower(element));
  }
  if (list.empty() || list.back() != "chunked") return 400;
  return list.size() == 1 ? 0 : 501;
}

bool AcceptsGzip(std::string_view field) {
  std::optional<double> gzip_weight, any_weight;
  while (!field.empty()) {
    std::size_t comma = field.find(',');
    std::string_view element = field.substr(0, comma);
    field = comma == std::string_view::npos ? std::string_view() : field.substr(comma + 1);
    std::size_t semicolon = element.find(';');
    std::string coding = ToLower(Trim(element.substr(0, semicolon)));
    double weight = 1;
    while (semicolon != std::string_view::npos) {
      element = element.substr(semicolon + 1);
      semicolon = element.find(';');
      std::string param = ToLower(Trim(element.substr(0, semicolon)));
      if (param.size() > 2 && param.compare(0, 2, "q=") == 0) {
        weight = std::strtod(param.c_str() + 2, nullptr);
      }
    }
    if (coding == "gzip" || coding == "x-gzip") {
      gzip_weight = std::max(gzip_weight.value_or(0), weight);
    } else if (coding == "*") {
      any_weight = weight;
    }
  }
  if (gzip_weight) return *gzip_weight > 0;
  return any_weight.value_or(0) > 0;
}

WireResponse FormatResponse(const HttpResponse& response, bool head, bool accepts_gzip,
                            std::size_t gzip_min_bytes) {
  WireResponse wire;
  const bool final_status = response.status >= 200 && response.status <= 599;
  wire.status = final_status ? static_cast<unsigned>(response.status) : 500;
  wire.fields.emplace_back("Date", HttpDate());
  if (!response.content_type.empty() && SafeFieldValue(response.content_type)) {
    wire.fields.emplace_back("Content-Type", response.content_type);
  }
  bool handler_encoded = false;
  for (const auto& [name, value] : response.headers) {
    std::string lower = ToLower(name);
    if (lower == "content-length" || lower == "transfer-encoding" || lower == "connection" ||
        lower == "date" || !SafeFieldName(name) || !SafeFieldValue(value)) {
      continue;
    }
    if (lower == "content-encoding") handler_encoded = true;
    wire.fields.emplace_back(name, value);
  }

  const bool bodiless = wire.status == 204 || wire.status == 304;
  if (response.body_pieces && !bodiless) {
    // The length is unknown until the last piece, so compress whatever the size.
    wire.in_pieces = true;
    if (!handler_encoded) {
      SetField(wire.fields, "Vary", "Accept-Encoding");
      if (accepts_gzip) SetField(wire.fields, "Content-Encoding", "gzip");
      wire.gzip_pieces = accepts_gzip;
    }
    return wire;
  }
  std::string body = bodiless ? std::string() : response.body;
  if (!bodiless && !handler_encoded && body.size() > gzip_min_bytes) {
    SetField(wire.fields, "Vary", "Accept-Encoding");
    std::string compressed;
    if (accepts_gzip && GzipWriter().Write(body, true, compressed)) {
      SetField(wire.fields, "Content-Encoding", "gzip");
      body = std::move(compressed);
    }
  }
  if (!bodiless) wire.content_length = body.size();
  if (!head) wire.body = std::move(body);
  return wire;
}

}  // namespace smtp::http_detail

namespace smtp {

HttpResponse TextResponse(int status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.content_type = "text/plain; charset=utf-8";
  // Bodies echo request parts (a module name, a target) and server text (/probe?debug=true):
  // valid UTF-8, as the charset says, and no control byte for the reader's terminal.
  response.body = EscapeTerminalText(body);
  return response;
}

HttpResponse RetryLaterResponse(int status, std::string body) {
  HttpResponse response = TextResponse(status, std::move(body));
  response.headers.emplace_back("Retry-After", "1");
  return response;
}

}  // namespace smtp
