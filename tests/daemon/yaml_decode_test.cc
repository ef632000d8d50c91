// The strict YAML kit both config files decode with (daemon/yaml_decode.h), read as a
// specification. Each test decodes a small document with a toy decoder and checks the one-line
// error, or the values, the contract promises.
#include "daemon/yaml_decode.h"

#include <gtest/gtest.h>

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

TEST(StrictYaml, ErrorsStayOnOneLine) {
  EXPECT_EQ(DecodeToy("\"na\\nme\": x\n"),
            "na\\nme: unknown key (expected one of: name, on, items, sub, names) (line 1)");
  EXPECT_EQ(DecodeToy("on: \"a\\tb\\\"c\\x01\"\n"),
            "on: expected true or false, got \"a\\tb\\\"c\\x01\" (line 1)");
}

TEST(ReadConfigFile, NamesThePathOfWhatCannotBeRead) {
  EXPECT_EQ(ReadConfigFile("/nonexistent/x.yml").error,
            "/nonexistent/x.yml: No such file or directory");
  EXPECT_EQ(ReadConfigFile("/").error, "/: is a directory");
}

TEST(ResolvePath, RelativePathsJoinTheBaseFolder) {
  EXPECT_EQ(ResolvePath("ca.pem", "/etc/smtp_exporter"), "/etc/smtp_exporter/ca.pem");
  EXPECT_EQ(ResolvePath("../ca.pem", "/etc/smtp_exporter"), "/etc/ca.pem");
  EXPECT_EQ(ResolvePath("/abs/ca.pem", "/etc"), "/abs/ca.pem");
  EXPECT_EQ(ResolvePath("ca.pem", ""), "ca.pem");
}

}  // namespace
}  // namespace smtp::strict
