// The verdict on a probe: is the server up, is it an open relay, and what should an operator look
// at. One pure function decides it from a ProbeResult (DESIGN §1); the CLI text, JSON, metrics,
// the status page and the logs all render this one verdict and decide nothing themselves.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "probes/probe_result.h"

namespace smtp {

// The relay verdict is separate from the server's health: a relay test never makes a server DOWN.
enum class RelayVerdict {
  kNotTested,     // no relay test ran (or none is kept)
  kOpen,          // some variant proved that a foreign recipient is accepted (see ClassifyAttempt)
  kClosed,        // every variant ran and none proved it: refused, catch-all, or 530 where the
                  // session was TLS or the server offers no STARTTLS
  kInconclusive,  // not proven open, but not every question got an answer: variants not run (cut
                  // short), 4yz, a hack at a name whose catch-all question got no answer, or a 530
                  // in plaintext from a server that offers STARTTLS
};
const char* ToString(RelayVerdict verdict);  // "not_tested", "open", "closed", "inconclusive"

// The outcome of one attempt from its reply codes (RFC 5321 §4.2.1: the first digit decides) and,
// for an address hack, from the catch-all answer at its `local_domain`:
//   MAIL unanswered, or MAIL 2yz and RCPT unanswered      -> kNotRun
//   530 at MAIL or RCPT                                    -> kAuthRequired
//   RCPT 2yz, not a hack                                   -> kAccepted
//   RCPT 2yz, hack, random local part there refused (5yz)  -> kAccepted (the hack was parsed)
//   RCPT 2yz, hack, random local part there accepted       -> kCatchAll
//   RCPT 2yz, hack, that question unanswered               -> kInconclusive
//   5yz at MAIL or RCPT (501 too)                          -> kRefused
//   anything else (4yz, 3yz)                               -> kInconclusive
RelayOutcome ClassifyAttempt(const RelayAttempt& attempt,
                             const std::vector<CatchAllCheck>& catch_all_checks);

// Sets every attempt's outcome with ClassifyAttempt, and each check's `accepted` from its codes.
void ClassifyRelayResult(RelayResult& relay);

struct RelayJudgement {
  RelayVerdict verdict = RelayVerdict::kNotTested;
  // A random, nonexistent local part was accepted at RCPT at some name (true), refused at every
  // name asked (false), or no answer (nullopt).
  std::optional<bool> catch_all;
  std::vector<std::string> proof;  // the variants that prove an open relay, e.g. "external (250)"
  std::string summary;  // "closed", "OPEN: external accepted (250)", "inconclusive: 4 of 6 ..."
};
RelayJudgement JudgeRelay(const RelayResult& relay);

// What a real and a random name's replies to VRFY or EXPN (RFC 5321 §3.5.3, §4.2.1) say. The
// question is whether the two answers differ: 252 ("cannot verify, will try") is harmless only
// when the random name gets it too; Postfix answers 252 for a known user and 550 for an unknown
// one, which tells them apart as well as 250 does (nmap's smtp-enum-users counts 252 too).
//   either 4yz or unanswered (0)                        -> kInconclusive
//   real 250/251/252, random 550/551/553 (no mailbox)   -> kExposed
//   real 5yz (502 not implemented, 530, 550 ...)        -> kNotExposed
//   real 2yz and random 2yz (anything is "known")       -> kNotExposed
//   anything else (random 500-504: not understood)      -> kInconclusive
EnumerationResult ClassifyEnumeration(int real_code, int random_code);

// The RCPT method (nmap's smtp-enum-users RCPT): the relay test's catch-all question asked a
// random local part at the server's own name. Refused means RCPT tells users apart (exposed),
// accepted means it does not; nullopt when not asked or not answered.
std::optional<EnumerationResult> RcptEnumeration(const RelayJudgement& relay);
// Would a sender that applies the domain's MTA-STS policy deliver to the probed MX (RFC 8461
// §4.1, §4.2)? The MX host must match one of the policy's mx patterns, STARTTLS must work, and
// the certificate must verify (chain and name) for the MX host itself. nullopt when there is no
// policy to apply: the check did not run, no policy was fetched, or its mode is none.
struct MtaStsDelivery {
  MtaStsMode mode = MtaStsMode::kNone;
  bool ok = false;
  std::string reason;  // why not, one line ("" when ok)
};
std::optional<MtaStsDelivery> JudgeMtaStsDelivery(const ProbeResult& result);

struct Verdict {
  bool up = false;  // every health step worked: ProbeResult::success (smtp_probe_success)
  RelayJudgement relay;
  bool healthy = false;  // up and not an open relay: exit code 0 of `smtp_exporter probe`
  // One line: "UP", "DOWN: greeting failed (rejected), reply 554: ...", "UNHEALTHY: open relay
  // (external accepted (250))".
  std::string summary;
  std::vector<std::string> findings;  // what to look at even when healthy, one line each
};

// `relay` is the relay test to judge: by default `result.relay`; the daemon passes the verdict it
// kept from the last relay run when `result` did not run the test (relay tests run on their own,
// longer interval). `now_unix_seconds` dates certificate expiry.
Verdict Judge(const ProbeResult& result, std::int64_t now_unix_seconds,
              const RelayResult* relay = nullptr);

}  // namespace smtp
