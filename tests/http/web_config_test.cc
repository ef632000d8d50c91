// The web config file (--web.config.file): what a valid file yields, and one bad file per rule
// in testdata/ with the exact one-line error an operator sees.
#include "daemon/web_config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <set>
#include <string>

#include "tests/http/http_test_client.h"

namespace smtp {
namespace {

using testing::BcryptHash;
using testing::GenerateCertificate;
using testing::TempDir;

const std::string kTestdata = HTTP_TESTDATA_DIR;

std::string ErrorOf(const std::string& file) {
  WebConfigResult result = LoadWebConfigFile(kTestdata + "/" + file);
  EXPECT_FALSE(result.config.has_value()) << file;
  return result.error;
}

TEST(WebConfig, EmptyFileMeansPlainHttpWithoutAuth) {
  WebConfigResult result = ParseWebConfig("", "");
  ASSERT_TRUE(result.config.has_value()) << result.error;
  EXPECT_FALSE(result.config->tls.has_value());
  EXPECT_TRUE(result.config->basic_auth_users.empty());
}

TEST(WebConfig, EmptyTlsSectionMeansPlainHttp) {
  WebConfigResult result = ParseWebConfig("tls_server_config:\n", "");
  ASSERT_TRUE(result.config.has_value()) << result.error;
  EXPECT_FALSE(result.config->tls.has_value());
}

TEST(WebConfig, FullFileWithRelativePathsResolvedAgainstItsFolder) {
  TempDir dir;
  ASSERT_TRUE(GenerateCertificate(dir.path(), "server"));
  ASSERT_TRUE(GenerateCertificate(dir.path(), "clients"));
  std::string hash = BcryptHash("secret");
  std::string path = dir.Write("web.yml",
                               "tls_server_config:\n"
                               "  cert_file: server.crt\n"
                               "  key_file: server.key\n"
                               "  client_auth_type: VerifyClientCertIfGiven\n"
                               "  client_ca_file: clients.crt\n"
                               "  min_version: TLS13\n"
                               "  max_version: TLS13\n"
                               "basic_auth_users:\n"
                               "  alice: " +
                                   hash + "\n");
  WebConfigResult result = LoadWebConfigFile(path);
  ASSERT_TRUE(result.config.has_value()) << result.error;
  const TlsServerConfig& tls = *result.config->tls;
  EXPECT_EQ(tls.cert_file, dir.path() + "/server.crt");
  EXPECT_EQ(tls.key_file, dir.path() + "/server.key");
  EXPECT_EQ(tls.client_ca_file, dir.path() + "/clients.crt");
  EXPECT_EQ(tls.client_auth, ClientAuth::kVerifyClientCertIfGiven);
  EXPECT_EQ(tls.min_version, TlsVersion::kTls13);
  EXPECT_EQ(tls.max_version, TlsVersion::kTls13);
  EXPECT_NE(tls.context, nullptr);
  EXPECT_EQ(result.config->basic_auth_users.at("alice"), hash);
}

TEST(WebConfig, DefaultsAreNoClientCertAndTls12) {
  TempDir dir;
  ASSERT_TRUE(GenerateCertificate(dir.path(), "server"));
  WebConfigResult result = ParseWebConfig(
      "tls_server_config: {cert_file: server.crt, key_file: server.key}", dir.path());
  ASSERT_TRUE(result.config.has_value()) << result.error;
  EXPECT_EQ(result.config->tls->client_auth, ClientAuth::kNoClientCert);
  EXPECT_EQ(result.config->tls->min_version, TlsVersion::kTls12);
  EXPECT_FALSE(result.config->tls->max_version.has_value());
}

TEST(WebConfig, UnreadableFileNamesThePath) {
  EXPECT_EQ(ErrorOf("no_such_file.yml"),
            kTestdata + "/no_such_file.yml: No such file or directory");
}

// One bad file per rule, and the exact error an operator sees. The rules shared with the main
// config (daemon/yaml_decode.h) read the same in both: unknown keys list the known ones, a wrong
// type says what it got, errors about the whole file name it "web config".
struct BadFile {
  const char* file;
  std::string error;
};

const BadFile kBadFiles[] = {
    // The document.
    {"invalid_yaml.yml", "web config: invalid YAML: end of map flow not found (line 2)"},
    {"not_a_mapping.yml",
     "web config: expected a mapping at the top level, got a sequence (line 1)"},
    {"multiple_documents.yml", "web config: more than one YAML document (line 4)"},
    {"key_not_a_string.yml", "web config: keys must be strings, got a sequence (line 1)"},
    {"unknown_top_level_key.yml",
     "basic_auth_user: unknown key (expected one of: tls_server_config, basic_auth_users) "
     "(line 1)"},
    // tls_server_config.
    {"tls_not_a_mapping.yml", "tls_server_config: expected a mapping, got a string (line 1)"},
    {"unknown_tls_key.yml",
     "tls_server_config.certfile: unknown key (expected one of: cert_file, key_file, "
     "client_auth_type, client_ca_file, min_version, max_version) (line 4)"},
    {"duplicate_tls_key.yml", "tls_server_config.cert_file: duplicate key (line 4)"},
    {"cert_file_not_a_string.yml",
     "tls_server_config.cert_file: expected a string, got a sequence (line 2)"},
    {"missing_key_file.yml", "tls_server_config.key_file: required (line 2)"},
    {"bad_min_version.yml",
     "tls_server_config.min_version: unknown TLS version \"TLS14\" (line 4)"},
    {"max_below_min_version.yml", "tls_server_config.max_version: below min_version (line 5)"},
    {"bad_client_auth_type.yml",
     "tls_server_config.client_auth_type: unknown client auth type \"RequireClientCerts\" "
     "(line 4)"},
    {"verify_without_client_ca.yml",
     "tls_server_config.client_ca_file: required by client_auth_type "
     "\"RequireAndVerifyClientCert\" (line 4)"},
    {"client_ca_without_policy.yml",
     "tls_server_config.client_ca_file: set, but client_auth_type is NoClientCert (line 4)"},
    {"missing_cert_file.yml", "tls_server_config.cert_file: " + kTestdata +
                                  "/nonexistent.crt: No such file or directory (line 2)"},
    {"cert_file_not_pem.yml", "tls_server_config.cert_file: " + kTestdata +
                                  "/not_a_certificate.pem: no start line (line 2)"},
    // basic_auth_users.
    {"users_not_a_mapping.yml",
     "basic_auth_users: expected a mapping of user names to bcrypt hashes, got a sequence "
     "(line 1)"},
    {"duplicate_user.yml", "basic_auth_users.alice: duplicate key (line 3)"},
    {"empty_user_name.yml", "basic_auth_users: empty user name (line 2)"},
    {"user_name_with_colon.yml", "basic_auth_users.alice:admin: user name contains ':' (line 2)"},
    {"user_without_hash.yml", "basic_auth_users.alice: expected a string, got null (line 2)"},
    {"password_not_hashed.yml", "basic_auth_users.alice: not a bcrypt hash (line 2)"},
};

TEST(WebConfig, BadFilesGiveOneLineErrorsWithKeyPathAndLine) {
  for (const auto& [file, error] : kBadFiles) {
    EXPECT_EQ(ErrorOf(file), error) << file;
  }
}

TEST(WebConfig, EveryTestdataFileIsABadFileCase) {
  std::set<std::string> listed;
  for (const auto& bad : kBadFiles) listed.insert(bad.file);
  for (const auto& entry : std::filesystem::directory_iterator(kTestdata)) {
    if (entry.path().extension() != ".yml") continue;
    EXPECT_TRUE(listed.contains(entry.path().filename().string())) << "no case for " << entry;
  }
}

TEST(WebConfig, DirectoryIsAnErrorNotAnEmptyFile) {
  // An ifstream opens a directory and reads nothing: that must not pass for plain HTTP.
  WebConfigResult result = LoadWebConfigFile(kTestdata);
  EXPECT_FALSE(result.config.has_value());
  EXPECT_EQ(result.error, kTestdata + ": is a directory");
}

// Files that are not regular files are refused without being opened for a blocking read
// (issue 13, item 6): a FIFO as the web config or as its certificate would stall the daemon.
TEST(WebConfig, FifosAndDevicesAreRefusedAtOnce) {
  testing::TempDir dir;
  const std::string fifo = dir.path() + "/fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(LoadWebConfigFile(fifo).error, fifo + ": not a regular file");
  EXPECT_EQ(LoadWebConfigFile("/dev/zero").error, "/dev/zero: not a regular file");
  const WebConfigResult result =
      ParseWebConfig("tls_server_config: {cert_file: " + fifo + ", key_file: " + fifo + "}", "");
  EXPECT_EQ(result.error, "tls_server_config.cert_file: " + fifo + ": not a regular file (line 1)");
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(1));
}

TEST(WebConfig, ControlCharactersInErrorsAreEscaped) {
  WebConfigResult result = ParseWebConfig(
      "tls_server_config: {cert_file: a, key_file: b, min_version: \"TLS1\\n3\"}", "");
  EXPECT_EQ(result.error,
            "tls_server_config.min_version: unknown TLS version \"TLS1\\n3\" (line 1)");
}

TEST(WebConfig, KeyThatDoesNotMatchTheCertificateIsRefused) {
  TempDir dir;
  ASSERT_TRUE(GenerateCertificate(dir.path(), "server"));
  ASSERT_TRUE(GenerateCertificate(dir.path(), "other"));
  std::string path = dir.Write("web.yml",
                               "tls_server_config:\n"
                               "  cert_file: server.crt\n"
                               "  key_file: other.key\n");
  WebConfigResult result = LoadWebConfigFile(path);
  EXPECT_EQ(result.error, "tls_server_config.key_file: " + dir.path() +
                              "/other.key: does not match the certificate in cert_file (line 3)");
}

TEST(WebConfig, NullValueMeansTheDefault) {
  TempDir dir;
  ASSERT_TRUE(GenerateCertificate(dir.path(), "server"));
  WebConfigResult result = ParseWebConfig(
      "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version:\n",
      dir.path());
  ASSERT_TRUE(result.config.has_value()) << result.error;
  EXPECT_EQ(result.config->tls->min_version, TlsVersion::kTls12);
}

}  // namespace
}  // namespace smtp
