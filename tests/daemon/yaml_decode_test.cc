// The strict YAML kit both config files decode with (daemon/yaml_decode.h), read as a
// specification. Each test decodes a small document with a toy decoder and checks the one-line
// error, or the values, the contract promises.
#include "daemon/yaml_decode.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

namespace smtp::strict {
namespace {

// A toy schema: {name: string, on: bool, items: [string], sub: {a: string}}. Returns the error,
// or "" and the decoded values (path -> text) in *values.
std::string DecodeToy(std::string_view yaml, std::map<std::string, std::string>* values = nullptr) {
  std::map<std::string, std::string> decoded;
  const std::string error = DecodeDocument(yaml, "toy", [&](const Field& root) {
    if (root.value.IsNull()) return;
    for (const Field& field : Fields(root, {"name", "on", "items", "sub", "names"})) {
      if (field.key == "name") {
        decoded[field.path] = String(field);
      } else if (field.key == "on") {
        decoded[field.path] = Bool(field) ? "true" : "false";
      } else if (field.key == "items") {
        for (const Field& item : Items(field)) decoded[item.path] = String(item);
      } else if (field.key == "sub") {
        for (const Field& sub : Fields(field, {"a"})) decoded[sub.path] = String(sub);
      } else if (field.key == "names") {
        for (const Field& name : Fields(field, {}, Nulls::kKeep)) {
          decoded[name.path] = name.value.IsNull() ? "(null)" : String(name);
        }
      }
    }
  });
  if (values != nullptr) *values = decoded;
  return error;
}

TEST(StrictYaml, KeyPathsAreDottedWithZeroBasedIndexesAndBareAtTheTop) {
  std::map<std::string, std::string> values;
  ASSERT_EQ(DecodeToy("name: x\nitems: [a, b]\nsub: {a: y}\n", &values), "");
  EXPECT_EQ(values, (std::map<std::string, std::string>{
                        {"name", "x"}, {"items[0]", "a"}, {"items[1]", "b"}, {"sub.a", "y"}}));
  EXPECT_EQ(DecodeToy("items:\n  - a\n  - [b]\n"),
            "items[1]: expected a string, got a sequence (line 3)");
}

TEST(StrictYaml, UnknownKeysListTheKnownOnes) {
  EXPECT_EQ(DecodeToy("sub:\n  b: 1\n"), "sub.b: unknown key (expected one of: a) (line 2)");
  EXPECT_EQ(DecodeToy("nmae: x\n"),
            "nmae: unknown key (expected one of: name, on, items, sub, names) (line 1)");
}

TEST(StrictYaml, DuplicateAndNonStringKeysAreErrors) {
  EXPECT_EQ(DecodeToy("name: x\nname: y\n"), "name: duplicate key (line 2)");
  EXPECT_EQ(DecodeToy("sub:\n  ? [a]\n  : x\n"),
            "sub: keys must be strings, got a sequence (line 2)");
}

TEST(StrictYaml, NullMeansAbsentUnlessTheKeyAloneMeansSomething) {
  std::map<std::string, std::string> values;
  ASSERT_EQ(DecodeToy("name:\nsub: ~\nnames: {alice: , bob: x}\n", &values), "");
  EXPECT_EQ(values,
            (std::map<std::string, std::string>{{"names.alice", "(null)"}, {"names.bob", "x"}}));
  // A null item has no line of its own: the error points at its sequence.
  EXPECT_EQ(DecodeToy("items:\n  -\n"), "items[0]: expected a string, got null (line 2)");
}

TEST(StrictYaml, BooleansArePlainTrueOrFalse) {
  for (const char* yes : {"true", "True", "TRUE", "!!bool true"}) {
    std::map<std::string, std::string> values;
    ASSERT_EQ(DecodeToy(std::string("on: ") + yes, &values), "") << yes;
    EXPECT_EQ(values["on"], "true") << yes;
  }
  // YAML 1.1 said yes/on are booleans, 1.2 says they are strings: refuse both readings.
  EXPECT_EQ(DecodeToy("on: yes"), "on: expected true or false, got \"yes\" (line 1)");
  EXPECT_EQ(DecodeToy("on: \"true\""), "on: expected true or false, got \"true\" (line 1)");
  EXPECT_EQ(DecodeToy("on: [true]"), "on: expected a string, got a sequence (line 1)");
}

TEST(StrictYaml, TheDocumentItselfIsNamedByItsRootName) {
  EXPECT_EQ(DecodeToy(""), "");
  EXPECT_EQ(DecodeToy("- a\n"),
            "toy: expected a mapping at the top level, got a sequence (line 1)");
  EXPECT_EQ(DecodeToy("name: x\n---\nname: y\n"), "toy: more than one YAML document (line 3)");
  EXPECT_EQ(DecodeToy("name: [x\n"), "toy: invalid YAML: end of sequence flow not found (line 2)");
}

// yaml-cpp 0.7 returns an empty document at the same place forever on a token no rule consumes,
// so YAML::LoadAll never ends (found by config_fuzzer: 9 GB in 20 s). Answered at once.
TEST(StrictYaml, ATokenThatStartsNoNodeIsAnErrorNotALoop) {
  EXPECT_EQ(DecodeToy(",\n"), "toy: invalid YAML: a token that starts no node (line 1)");
  EXPECT_EQ(DecodeToy(",name: x\n"), "toy: invalid YAML: a token that starts no node (line 1)");
}

TEST(StrictYaml, PathsAreShownUpToTheirOwnBound) {
  const std::string path = "/etc/smtp_exporter/" + std::string(237, 'p');
  ASSERT_EQ(path.size(), kMaxQuotedPath);
  EXPECT_EQ(QuotePath(path), "\"" + path + "\"");
  EXPECT_EQ(ShownPath(path), path);
  EXPECT_EQ(QuotePath(path + "x"), "<path of 257 bytes>");
  EXPECT_EQ(ShownPath(path + "x"), "<path of 257 bytes>");
}

TEST(StrictYaml, ErrorsStayOnOneLine) {
  EXPECT_EQ(DecodeToy("\"na\\nme\": x\n"),
            "toy: an unknown key (expected one of: name, on, items, sub, names) (line 1)");
  EXPECT_EQ(DecodeToy("names: {\"a\\x1b]0;b\\a\": [1]}\n"),
            "names.a\\x1b]0;b\\x07: expected a string, got a sequence (line 1)");
  EXPECT_EQ(DecodeToy("on: \"a\\tb\\\"c\\x01\"\n"),
            "on: expected true or false, got \"a\\tb\\\"c\\x01\" (line 1)");
}

TEST(ReadConfigFile, NamesThePathOfWhatCannotBeRead) {
  EXPECT_EQ(ReadConfigFile("/nonexistent/x.yml").error,
            "/nonexistent/x.yml: No such file or directory");
  EXPECT_EQ(ReadConfigFile("/").error, "/: is a directory");
}

// A config file's content never reaches an error (issue 13, item 7): it may be a secret that a
// mistaken or swapped path points at. Typos of key names are still named; anything else is not.
TEST(StrictYaml, ErrorsQuoteOnlyShortTokensNeverTheFile) {
  const std::string shadow =
      "root:$y$j9T$Qk1Yb7o8pPL0J6wxXn5Jq.$2kq3gk7sJm3Qd1N0K9S1z0qKZcF1yD8w7lQ6v0b8gU6:19700:0:"
      "99999:7"
      ":::\n";
  EXPECT_EQ(DecodeToy(shadow),
            "toy: an unknown key (expected one of: name, on, items, sub, names) (line 1)");
  EXPECT_EQ(DecodeToy("root:*:19700:0:99999:7:::\n"),
            "toy: an unknown key (expected one of: name, on, items, sub, names) (line 1)");
  EXPECT_EQ(DecodeToy("nmae: x\n"),
            "nmae: unknown key (expected one of: name, on, items, sub, names) (line 1)");
  EXPECT_EQ(DecodeToy("on: " + std::string(65, 'x') + "\n"),
            "on: expected true or false, got <value of 65 bytes> (line 1)");
  EXPECT_EQ(DecodeToy("names: {" + std::string(65, 'k') + ": [1]}\n"),
            "names.<key of 65 bytes>: expected a string, got a sequence (line 1)");
  EXPECT_EQ(DecodeToy("sub: {" + std::string(65, 'k') + ": x}\n"),
            "sub: an unknown key (expected one of: a) (line 1)");
  EXPECT_EQ(DecodeToy("on: \"" + std::string(64, 'y') + "\"\n"),
            "on: expected true or false, got \"" + std::string(64, 'y') + "\" (line 1)");
}

// Only regular files are read, and only up to a size cap (issue 13, item 6): a device never
// ends, a FIFO blocks its reader until someone writes, and a huge file takes the loader's memory.
class ReadConfigFileTest : public ::testing::Test {
 protected:
  ReadConfigFileTest() {
    char pattern[] = "/tmp/smtp-exporter-read-XXXXXX";
    dir_ = ::mkdtemp(pattern);
  }
  ~ReadConfigFileTest() override { std::filesystem::remove_all(dir_); }
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }
  std::string dir_;
};

TEST_F(ReadConfigFileTest, OnlyRegularFilesAreRead) {
  EXPECT_EQ(ReadConfigFile("/dev/zero").error, "/dev/zero: not a regular file");
  EXPECT_EQ(ReadConfigFile("/dev/null").error, "/dev/null: not a regular file");
  // A symlink is followed: to /dev/zero it is refused, to a regular file it is read (Kubernetes
  // mounts ConfigMaps through symlinks).
  std::filesystem::create_symlink("/dev/zero", Path("zero.yml"));
  EXPECT_EQ(ReadConfigFile(Path("zero.yml")).error, Path("zero.yml") + ": not a regular file");
  std::ofstream(Path("real.yml")) << "targets: []\n";
  std::filesystem::create_symlink(Path("real.yml"), Path("link.yml"));
  const FileText linked = ReadConfigFile(Path("link.yml"));
  EXPECT_EQ(linked.error, "");
  EXPECT_EQ(linked.text, "targets: []\n");
  // A FIFO nobody writes: refused at once, without waiting for a writer.
  ASSERT_EQ(::mkfifo(Path("fifo.yml").c_str(), 0600), 0);
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(ReadConfigFile(Path("fifo.yml")).error, Path("fifo.yml") + ": not a regular file");
  EXPECT_EQ(CheckRegularFile(Path("fifo.yml")), "not a regular file");
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(1));
  EXPECT_EQ(CheckRegularFile("/dev/zero"), "not a regular file");
  EXPECT_EQ(CheckRegularFile("/"), "is a directory");
  EXPECT_EQ(CheckRegularFile(Path("real.yml")), "");
}

TEST_F(ReadConfigFileTest, FilesOverTheCapAreRefusedUnread) {
  {
    std::ofstream file(Path("big.yml"));
    file << std::string(kMaxConfigFileBytes, '#');
  }
  EXPECT_EQ(ReadConfigFile(Path("big.yml")).error, "");
  std::ofstream(Path("big.yml"), std::ios::app) << "#";
  EXPECT_EQ(ReadConfigFile(Path("big.yml")).error,
            Path("big.yml") + ": larger than the limit of 33554432 bytes");
  // Sizes that lie (procfs says 0) are checked while reading.
  EXPECT_EQ(ReadConfigFile("/proc/self/status", 16).error,
            "/proc/self/status: larger than the limit of 16 bytes");
  EXPECT_EQ(ReadConfigFile("/proc/self/status").error, "");
}

TEST(ResolvePath, RelativePathsJoinTheBaseFolder) {
  EXPECT_EQ(ResolvePath("ca.pem", "/etc/smtp_exporter"), "/etc/smtp_exporter/ca.pem");
  EXPECT_EQ(ResolvePath("../ca.pem", "/etc/smtp_exporter"), "/etc/ca.pem");
  EXPECT_EQ(ResolvePath("/abs/ca.pem", "/etc"), "/abs/ca.pem");
  EXPECT_EQ(ResolvePath("ca.pem", ""), "ca.pem");
}

}  // namespace
}  // namespace smtp::strict
