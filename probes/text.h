// Small text helpers shared by the parsers, the engine and the renderers. Pure.
//
// Case rules are ASCII-only on purpose: SMTP keywords, reply codes and host names are ASCII
// (RFC 5321 §2.4, §4.1.2), and locale-dependent case mapping must not change what a parser sees.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace smtp {

bool EqualsIgnoreCase(std::string_view a, std::string_view b);
std::string ToLowerAscii(std::string_view text);
std::string ToUpperAscii(std::string_view text);

// Words separated by runs of SP or HTAB (RFC 5321 separates parameters with SP; some servers pad
// with HTAB). Empty words are dropped. The views point into `text`.
std::vector<std::string_view> SplitWords(std::string_view text);

// Length of the valid UTF-8 sequence at the start of `text` (RFC 3629 §4: no overlong forms, no
// UTF-16 surrogates, nothing past U+10FFFF): 1 for an ASCII byte, 2 to 4 for a multi-byte
// character, 0 when the first byte does not start a valid sequence (or `text` is empty).
std::size_t Utf8SequenceLength(std::string_view text);

// An IPv4 or IPv6 address literal without brackets ("192.0.2.1", "2001:db8::1").
bool IsIpLiteral(std::string_view text);

// A loopback address literal: 127.0.0.0/8, ::1 or an IPv4-mapped 127.x (RFC 1122, RFC 4291).
bool IsLoopbackAddress(std::string_view text);

// `items` joined with `separator` between them.
std::string Join(const std::vector<std::string>& items, std::string_view separator);

// A reply code as shown to people: "250", or "-" for 0 (no reply).
std::string ReplyCodeText(int code);

// Seconds since the Unix epoch: with their fraction (Prometheus timestamps), or whole seconds
// rounded down (dates shown to people, certificate arithmetic).
double UnixSeconds(std::chrono::system_clock::time_point time);
std::int64_t WholeUnixSeconds(std::chrono::system_clock::time_point time);

// Unix seconds as "2026-11-30 06:00:00 UTC".
std::string UtcTime(std::int64_t unix_seconds);

}  // namespace smtp
