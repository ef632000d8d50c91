// Strict YAML decoding, shared by the daemon's config (config.h) and the web config
// (web_config.h): one home for the rules both files promise their users.
//
//  - Every error is one line, `<key path>: <what is wrong> (line N)`, N 1-based. Key paths join
//    mapping keys with '.' and sequence indexes (0-based) with "[i]", e.g. `targets[2].module`;
//    keys of the top-level mapping are bare. Errors about the document as a whole name it by its
//    root name ("config", "web config"). Control characters in paths and quoted values are
//    escaped (C style), so a hostile or mistyped value cannot break the one-line promise.
//  - An unknown key, a duplicate key, a non-string key or a value of the wrong type is an error.
//  - A key whose value is null (`key:` or `key: ~`) is absent: the default applies.
//  - Booleans are the plain scalars true/false (any case) or an explicit !!bool; "yes", "on" and a
//    quoted "true" are refused, since YAML 1.1 and 1.2 disagree about them.
//  - A file holds one YAML document; a second one is an error, not silently ignored.
//
// Decoders throw strict::Error through Fail (at the first error) and DecodeDocument turns it into
// the returned text, instead of threading a status through a dozen nested decoders. Pure apart
// from ReadConfigFile.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace smtp::strict {

// `text` with CR, LF, TAB as \r \n \t and other control bytes (and DEL) as \xNN.
std::string Escape(std::string_view text);

// Errors never echo a file's content: a config path may point (by mistake, or through a swapped
// symlink) at a secret such as /etc/shadow, and errors reach the logs, the POST /-/reload answer
// and the unauthenticated status page. So an error quotes at most a short, escaped token:
//  - an unknown key is named only when it could be a key name (KeyName: a typo such as
//    "modles"); any other reads "an unknown key" with the list of known ones;
//  - other keys in key paths (module, label and user names) and quoted values are shown when at
//    most kMaxQuoted bytes, else as "<key of N bytes>" or "<value of N bytes>".
inline constexpr std::size_t kMaxQuoted = 64;
// 1..kMaxQuoted bytes of ASCII letters, digits and "_-.".
bool KeyName(std::string_view key);
// `text` between double quotes (escaped as above, '"' and '\' backslash-escaped) when at most
// kMaxQuoted bytes, else "<value of N bytes>".
std::string Quote(std::string_view text);

// The one-line error a decoder throws; only DecodeDocument catches it.
struct Error {
  std::string message;
};

// Throws Error{"<path>: <message> (line <line>)"}; the line part is left out when line <= 0.
// `path` is escaped; `message` is taken as is (quote values with Quote).
[[noreturn]] void Fail(std::string_view path, int line, std::string_view message);

// 1-based line of `node`, or `fallback` for nodes without a position. yaml-cpp places a null value
// at the start of the next token (often the next line), so Field::line points at the key instead.
int LineOf(const YAML::Node& node, int fallback = 0);
// "a mapping", "a sequence", "a string" or "null", for "expected X, got Y" errors.
std::string KindOf(const YAML::Node& node);

// One node being decoded: a mapping value, a sequence item or the document's root.
struct Field {
  std::string key;   // the mapping key; "" for sequence items and the root
  std::string path;  // for errors: "modules.default.timeout", "targets[2]", or the root name
  YAML::Node value;
  int key_line = 0;   // the key's line (the parent's for items and the root)
  int line = 0;       // where errors about the value point: its own line, or the key's when null
  bool root = false;  // children of the root have bare paths ("targets", not "config.targets")
};

// The path of `key` below `parent`: "parent.key", or "key" below the root.
std::string ChildPath(const Field& parent, std::string_view key);
// "path[index]".
std::string IndexPath(std::string_view path, std::size_t index);

enum class Nulls {
  kDrop,  // a key with a null value is absent (the usual case)
  kKeep,  // kept, for maps of user-chosen names where the key alone means something
};

// The entries of mapping `parent`, in file order. Errors: not a mapping, a non-string key, a key
// not in `known` (an empty list accepts any key; the error lists the known ones), a duplicate key
// (yaml-cpp 0.7 keeps duplicates). Entries with a null value are dropped unless Nulls::kKeep.
std::vector<Field> Fields(const Field& parent, std::initializer_list<std::string_view> known,
                          Nulls nulls = Nulls::kDrop);
// The items of sequence `parent`, in order; an error when it is not a sequence. A null item's
// line is the sequence's (yaml-cpp gives it none).
std::vector<Field> Items(const Field& parent);

// The scalar's text; an error for mappings, sequences and null.
std::string String(const Field& field);
// true/false as above; anything else is an error quoting the value.
bool Bool(const Field& field);

// Parses `yaml`, which must hold at most one document, and calls `decode` with its root (a null
// Field for an empty document). Returns "" on success, else the one-line error: the first Fail
// of `decode`, or `<root_name>: invalid YAML: <reason> (line N)` for syntax errors.
std::string DecodeDocument(std::string_view yaml, std::string_view root_name,
                           const std::function<void(const Field& root)>& decode);

// The largest config or web config file read: a fleet of 100,000 targets (issue 9's scale) is
// 5-10 MiB, one target per line. A larger file is refused before it is parsed (decoding YAML
// takes about 40 times the file's size in memory, and time on the loader's thread).
inline constexpr std::size_t kMaxConfigFileBytes = 32 * 1024 * 1024;

// A config file's text and the folder relative paths in it resolve against (absolute, so a
// later chdir does not change their meaning). On failure `error` is `<path>: <reason>` and the
// rest is empty. Only a regular file is read (a symlink to one is fine: Kubernetes mounts
// ConfigMaps that way): a directory, a FIFO (which would block until someone writes it), a
// device such as /dev/zero (which never ends) or a socket is refused without reading, and so is
// a file over `max_bytes` (the size is checked while reading too, for files that grow or lie
// about their size, like those under /proc).
struct FileText {
  std::string text;
  std::string base_dir;
  std::string error;
};
FileText ReadConfigFile(const std::string& path, std::size_t max_bytes = kMaxConfigFileBytes);

// "" when `path` names (through symlinks) a regular file this process can open for reading, else
// the reason: "is a directory", "not a regular file" or the system's ("No such file or
// directory"). Opens without blocking, so a FIFO cannot stall the caller. For files named inside
// a config (CA, certificate, key).
std::string CheckRegularFile(const std::string& path);

// `text` between double quotes, escaped as Escape and with '"' and '\' backslash-escaped, when
// at most kMaxQuotedPath bytes, else "<path of N bytes>": for file paths the config names, which
// are the operator's own words and longer than other tokens, but still bounded.
inline constexpr std::size_t kMaxQuotedPath = 256;
std::string QuotePath(std::string_view text);
// `path` as is (not escaped: Fail's caller escapes the message) when at most kMaxQuotedPath
// bytes, else "<path of N bytes>": for messages that name a path without quotes.
std::string ShownPath(std::string_view path);

// `value` as a path: relative ones are joined to `base_dir` (when not empty), then normalized.
std::string ResolvePath(const std::string& value, const std::string& base_dir);

}  // namespace smtp::strict
