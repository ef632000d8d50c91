// Strict YAML decoding; see yaml_decode.h for the contract.
#include "daemon/yaml_decode.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/eventhandler.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "probes/escape.h"

namespace smtp::strict {
namespace {

std::string KnownKeys(std::initializer_list<std::string_view> known) {
  std::string list;
  for (std::string_view key : known) {
    if (!list.empty()) list += ", ";
    list += key;
  }
  return list;
}

}  // namespace

std::string Escape(std::string_view text) {
  std::string escaped;
  AppendEscapedText(escaped, text, /*quoted=*/false);
  return escaped;
}

bool KeyName(std::string_view key) {
  if (key.empty() || key.size() > kMaxQuoted) return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return (byte < 0x80 && std::isalnum(byte)) || c == '_' || c == '-' || c == '.';
  });
}

std::string ShownPath(std::string_view path) {
  if (path.size() > kMaxQuotedPath) return "<path of " + std::to_string(path.size()) + " bytes>";
  return std::string(path);
}

std::string QuotePath(std::string_view text) {
  if (text.size() > kMaxQuotedPath) return ShownPath(text);
  std::string quoted;
  AppendEscapedText(quoted, text, /*quoted=*/true);
  return quoted;
}

std::string Quote(std::string_view text) {
  if (text.size() > kMaxQuoted) return "<value of " + std::to_string(text.size()) + " bytes>";
  return QuotePath(text);
}

void Fail(std::string_view path, int line, std::string_view message) {
  std::string text = Escape(path);
  text += ": ";
  text += message;
  if (line > 0) text += " (line " + std::to_string(line) + ")";
  throw Error{std::move(text)};
}

int LineOf(const YAML::Node& node, int fallback) {
  const int line = node.Mark().line;
  return line >= 0 ? line + 1 : fallback;
}

std::string KindOf(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a sequence";
    case YAML::NodeType::Scalar:
      return "a string";
    default:
      return "null";
  }
}

std::string ChildPath(const Field& parent, std::string_view key) {
  const std::string shown = key.size() <= kMaxQuoted
                                ? std::string(key)
                                : "<key of " + std::to_string(key.size()) + " bytes>";
  if (parent.root) return shown;
  return parent.path + "." + shown;
}

std::string IndexPath(std::string_view path, std::size_t index) {
  return std::string(path) + "[" + std::to_string(index) + "]";
}

std::vector<Field> Fields(const Field& parent, std::initializer_list<std::string_view> known,
                          Nulls nulls) {
  if (!parent.value.IsMap()) {
    Fail(parent.path, parent.line,
         std::string(parent.root ? "expected a mapping at the top level, got "
                                 : "expected a mapping, got ") +
             KindOf(parent.value));
  }
  std::vector<Field> fields;
  std::set<std::string> seen;
  for (auto it = parent.value.begin(); it != parent.value.end(); ++it) {
    const YAML::Node key = it->first;
    const int key_line = LineOf(key, parent.line);
    if (!key.IsScalar()) Fail(parent.path, key_line, "keys must be strings, got " + KindOf(key));
    const std::string& name = key.Scalar();
    const std::string path = ChildPath(parent, name);
    if (known.size() != 0 && std::find(known.begin(), known.end(), name) == known.end()) {
      if (KeyName(name)) {
        Fail(path, key_line, "unknown key (expected one of: " + KnownKeys(known) + ")");
      }
      // Not even a key name: most likely a file that is no config at all; do not echo it.
      Fail(parent.path, key_line, "an unknown key (expected one of: " + KnownKeys(known) + ")");
    }
    if (!seen.insert(name).second) Fail(path, key_line, "duplicate key");
    if (it->second.IsNull() && nulls == Nulls::kDrop) continue;
    const int line = it->second.IsNull() ? key_line : LineOf(it->second, key_line);
    fields.push_back(Field{name, path, it->second, key_line, line});
  }
  return fields;
}

std::vector<Field> Items(const Field& parent) {
  if (!parent.value.IsSequence()) {
    Fail(parent.path, parent.line, "expected a sequence, got " + KindOf(parent.value));
  }
  std::vector<Field> items;
  for (std::size_t i = 0; i < parent.value.size(); ++i) {
    const YAML::Node item = parent.value[i];
    // A null item has no position of its own (see LineOf): point at the sequence.
    const int line = item.IsNull() ? parent.line : LineOf(item, parent.line);
    items.push_back(Field{"", IndexPath(parent.path, i), item, parent.line, line});
  }
  return items;
}

std::string String(const Field& field) {
  if (!field.value.IsScalar()) {
    Fail(field.path, field.line, "expected a string, got " + KindOf(field.value));
  }
  return field.value.Scalar();
}

bool Bool(const Field& field) {
  const std::string text = String(field);
  // Only plain (unquoted) scalars or an explicit !!bool: "true" in quotes is a string.
  const std::string& tag = field.value.Tag();
  if (tag == "?" || tag == "tag:yaml.org,2002:bool") {
    if (text == "true" || text == "True" || text == "TRUE") return true;
    if (text == "false" || text == "False" || text == "FALSE") return false;
  }
  Fail(field.path, field.line, "expected true or false, got " + Quote(text));
}

namespace {

// Where each YAML document of a stream starts and where its first node is (0-based lines), read
// from yaml-cpp's event parser without building nodes.
class DocumentMarks : public YAML::EventHandler {
 public:
  struct Document {
    YAML::Mark start;
    std::optional<YAML::Mark> first_node;
  };
  std::vector<Document> documents;

  void OnDocumentStart(const YAML::Mark& mark) override { documents.push_back({mark, {}}); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { Node(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { Node(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    Node(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    Node(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    Node(mark);
  }
  void OnMapEnd() override {}

 private:
  void Node(const YAML::Mark& mark) {
    if (!documents.empty() && !documents.back().first_node) documents.back().first_node = mark;
  }
};

// Fails unless `yaml` holds at most one document. Documents are walked here, at most two, rather
// than with YAML::LoadAll: yaml-cpp 0.7 (Debian 12) has tokens no parser rule consumes (a
// leading ','), and then every call returns an empty document at the same place, so LoadAll
// loops and allocates without end (jbeder/yaml-cpp#1319, fixed after 0.8) and a 56-byte config
// took 9 GB in 20 s. A second document that starts where the first did is that dead end.
void CheckSingleDocument(std::string_view yaml, std::string_view root_name) {
  std::istringstream stream{std::string(yaml)};
  YAML::Parser parser(stream);
  DocumentMarks marks;
  while (marks.documents.size() < 2 && parser.HandleNextDocument(marks)) {
  }
  if (marks.documents.size() < 2) return;
  const DocumentMarks::Document& first = marks.documents[0];
  const DocumentMarks::Document& second = marks.documents[1];
  if (second.start.pos == first.start.pos) {
    Fail(root_name, first.start.line + 1, "invalid YAML: a token that starts no node");
  }
  const YAML::Mark& at = second.first_node ? *second.first_node : second.start;
  Fail(root_name, at.line + 1, "more than one YAML document");
}

}  // namespace

std::string DecodeDocument(std::string_view yaml, std::string_view root_name,
                           const std::function<void(const Field& root)>& decode) {
  try {
    CheckSingleDocument(yaml, root_name);
    const YAML::Node node = YAML::Load(std::string(yaml));
    decode(Field{"", std::string(root_name), node, 1, LineOf(node, 1), /*root=*/true});
  } catch (const Error& error) {
    return error.message;
  } catch (const YAML::Exception& error) {
    // yaml-cpp's messages are fixed texts, but some end with a character of the input.
    std::string message = std::string(root_name) + ": invalid YAML: " + Escape(error.msg);
    if (error.mark.line >= 0) message += " (line " + std::to_string(error.mark.line + 1) + ")";
    return message;
  }
  return "";
}

namespace {

// Opens `path` for reading without blocking (a FIFO's open would wait for a writer) and checks
// that it is a regular file. Returns the descriptor, or -1 with `*error` set.
// The reason has no path in it.
int OpenRegularFile(const std::string& path, std::string* error) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    *error = std::strerror(errno);
    return -1;
  }
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    *error = std::strerror(errno);
  } else if (S_ISDIR(info.st_mode)) {
    *error = "is a directory";
  } else if (!S_ISREG(info.st_mode)) {
    *error = "not a regular file";
  } else {
    return fd;
  }
  ::close(fd);
  return -1;
}

}  // namespace

FileText ReadConfigFile(const std::string& path, std::size_t max_bytes) {
  FileText file;
  const int fd = OpenRegularFile(path, &file.error);
  if (fd < 0) {
    file.error = path + ": " + file.error;
    return file;
  }
  const std::string too_large =
      path + ": larger than the limit of " + std::to_string(max_bytes) + " bytes";
  struct stat info {};
  if (::fstat(fd, &info) == 0 && static_cast<std::uintmax_t>(info.st_size) > max_bytes) {
    ::close(fd);
    file.error = too_large;
    return file;
  }
  std::string text;
  char chunk[64 * 1024];
  for (;;) {
    const ssize_t size = ::read(fd, chunk, sizeof chunk);
    if (size < 0 && errno == EINTR) continue;
    if (size < 0) {
      file.error = path + ": " + std::strerror(errno);
      break;
    }
    if (size == 0) break;
    if (text.size() + static_cast<std::size_t>(size) > max_bytes) {
      file.error = too_large;
      break;
    }
    text.append(chunk, static_cast<std::size_t>(size));
  }
  ::close(fd);
  if (!file.error.empty()) return file;
  std::error_code error;
  std::filesystem::path base = std::filesystem::absolute(path, error).parent_path();
  if (error) base = std::filesystem::path(path).parent_path();
  file.text = std::move(text);
  file.base_dir = base.string();
  return file;
}

std::string CheckRegularFile(const std::string& path) {
  std::string error;
  const int fd = OpenRegularFile(path, &error);
  if (fd >= 0) ::close(fd);
  return error;
}

std::string ResolvePath(const std::string& value, const std::string& base_dir) {
  std::filesystem::path path(value);
  if (path.is_relative() && !base_dir.empty()) path = std::filesystem::path(base_dir) / path;
  return path.lexically_normal().string();
}

}  // namespace smtp::strict
