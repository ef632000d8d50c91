// Structured logging to stderr, Prometheus style: logfmt (default) or JSON, with a fixed
// lower-case message and the facts in fields:
//   ts=2026-11-28T18:33:30.123Z level=info msg="reload succeeded" targets=12
// Start, reload, stop and per-target state changes are logged at info; per-probe detail at
// debug; never anything per scrape. Thread-safe (one line per write).
#pragma once

#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace smtp {

enum class LogLevel { kDebug, kInfo, kWarn, kError };
enum class LogFormat { kLogfmt, kJson };

std::optional<LogLevel> ParseLogLevel(std::string_view text);    // debug|info|warn|error
std::optional<LogFormat> ParseLogFormat(std::string_view text);  // logfmt|json

using LogField = std::pair<std::string_view, std::string>;

class Logger {
 public:
  // Receives each formatted line, newline included. Default: one write(2) to stderr per line.
  using Sink = std::function<void(std::string_view line)>;

  Logger(LogLevel level, LogFormat format, Sink sink = nullptr)
      : level_(level), format_(format), sink_(std::move(sink)) {}
  bool Enabled(LogLevel level) const { return level >= level_; }
  void Log(LogLevel level, std::string_view message, std::initializer_list<LogField> fields = {});
  void Debug(std::string_view message, std::initializer_list<LogField> fields = {}) {
    Log(LogLevel::kDebug, message, fields);
  }
  void Info(std::string_view message, std::initializer_list<LogField> fields = {}) {
    Log(LogLevel::kInfo, message, fields);
  }
  void Warn(std::string_view message, std::initializer_list<LogField> fields = {}) {
    Log(LogLevel::kWarn, message, fields);
  }
  void Error(std::string_view message, std::initializer_list<LogField> fields = {}) {
    Log(LogLevel::kError, message, fields);
  }

  // One formatted line without the trailing newline (exposed for tests).
  std::string Format(LogLevel level, std::string_view timestamp, std::string_view message,
                     std::initializer_list<LogField> fields) const;

 private:
  LogLevel level_;
  LogFormat format_;
  Sink sink_;
};

}  // namespace smtp
