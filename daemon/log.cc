#include "daemon/log.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>

#include "probes/escape.h"

namespace smtp {
namespace {

const char* Name(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

std::string Timestamp() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.tm_year + 1900,
                parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec,
                static_cast<int>(millis));
  return buffer;
}

}  // namespace

std::optional<LogLevel> ParseLogLevel(std::string_view text) {
  for (LogLevel level : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn, LogLevel::kError}) {
    if (text == Name(level)) return level;
  }
  return std::nullopt;
}

std::optional<LogFormat> ParseLogFormat(std::string_view text) {
  if (text == "logfmt") return LogFormat::kLogfmt;
  if (text == "json") return LogFormat::kJson;
  return std::nullopt;
}

std::string Logger::Format(LogLevel level, std::string_view timestamp, std::string_view message,
                           std::initializer_list<LogField> fields) const {
  std::string line;
  if (format_ == LogFormat::kJson) {
    line += "{\"ts\":";
    AppendJsonString(line, timestamp);
    line += ",\"level\":";
    AppendJsonString(line, Name(level));
    line += ",\"msg\":";
    AppendJsonString(line, message);
    for (const LogField& field : fields) {
      line += ',';
      AppendJsonString(line, field.first);
      line += ':';
      AppendJsonString(line, field.second);
    }
    line += '}';
    return line;
  }
  line += "ts=";
  line += timestamp;
  line += " level=";
  line += Name(level);
  line += " msg=";
  AppendLogfmtValue(line, message);
  for (const LogField& field : fields) {
    line += ' ';
    line += field.first;
    line += '=';
    AppendLogfmtValue(line, field.second);
  }
  return line;
}

void Logger::Log(LogLevel level, std::string_view message, std::initializer_list<LogField> fields) {
  if (!Enabled(level)) return;
  std::string line = Format(level, Timestamp(), message, fields);
  line += '\n';
  if (sink_) {
    sink_(line);
    return;
  }
  // One write per line keeps lines whole when several threads log.
  [[maybe_unused]] ssize_t written = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace smtp
