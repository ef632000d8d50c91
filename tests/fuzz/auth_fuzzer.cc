// libFuzzer target for the AUTH dialogue (probes/auth.h): wire bytes through the reply parser,
// every reply into an AuthDialogue of a mechanism chosen by the first byte. Checks the contract:
// at most kMaxAuthRounds challenges are answered, after the exchange ends no line is asked for,
// and no line shown in the transcript carries SASL data.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "probes/auth.h"
#include "probes/reply_parser.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using smtp_fuzz::Check;

void CheckShown(const smtp::AuthDialogue::Line& line, const std::string& mechanism) {
  Check(line.shown == "*" || line.shown == "<redacted>" || line.shown == "AUTH " + mechanism ||
        line.shown == "AUTH " + mechanism + " <redacted>");
  Check(line.wire.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto& mechanisms = smtp::SupportedAuthMechanisms();
  const std::string& mechanism = mechanisms[data[0] % mechanisms.size()];
  std::string error;
  std::unique_ptr<smtp::AuthDialogue> dialogue =
      smtp::AuthDialogue::Start(mechanism, "fuzz@example.org", "fuzz-password", &error);
  Check(dialogue != nullptr);
  smtp::AuthDialogue::Action action = dialogue->Begin();
  Check(action.line.has_value());
  CheckShown(*action.line, mechanism);
  smtp::ReplyParser parser;
  parser.Feed(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  int lines = 1;
  while (auto reply = parser.Next()) {
    if (!action.line) break;  // over: the session would say QUIT
    action = dialogue->OnReply(*reply);
    if (action.line) {
      CheckShown(*action.line, mechanism);
      ++lines;
    }
    Check(dialogue->rounds() <= smtp::kMaxAuthRounds);
  }
  // AUTH, one line per answered challenge, the cancelling "*".
  Check(lines <= smtp::kMaxAuthRounds + 2);
  return 0;
}
