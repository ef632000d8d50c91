// libFuzzer target for the DNS answers c-ares hands over (probes/dns_parse.h): the bytes of a DNS
// message as a hostile or broken server sends them, parsed as an A, AAAA, MX, PTR, TXT and TLSA
// answer (the last one by our own wire parser, not c-ares's). Checks that a success carries only
// what it promises: address literals, MX hosts that are usable names, PTR names without trailing
// dots, at least one TXT string, 1 to 32 TLSA records and the AD bit of the header.
#include <arpa/inet.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "probes/dns_parse.h"
#include "probes/text.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using smtp_fuzz::Check;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace smtp::dns;
  RawAnswer raw;
  raw.status = ARES_SUCCESS;
  raw.message.assign(data, data + size);
  const std::string server = "127.0.0.1:53";
  for (int type : {ns_t_a, ns_t_aaaa}) {
    const auto addresses = ParseAddresses(raw, Query{"mx.example.test", type, true}, server);
    if (addresses.ok()) {
      for (const std::string& address : addresses.value) Check(smtp::IsIpLiteral(address));
    }
  }
  const auto mx = ParseMx(raw, Query{"example.test", ns_t_mx, true}, server);
  if (mx.ok()) {
    for (const auto& record : mx.value) Check(record.host.empty() || record.host.back() != '.');
  }
  if (const auto reverse = ReverseName("192.0.2.25")) {
    const auto ptr = ParsePtr(raw, Query{reverse->name, ns_t_ptr, false}, server, *reverse);
    if (ptr.ok()) {
      for (const std::string& name : ptr.value) Check(name.empty() || name.back() != '.');
    }
  }
  const auto txt = ParseTxt(raw, Query{"_mta-sts.example.test", ns_t_txt, true}, server);
  if (txt.ok()) Check(!txt.value.empty());
  const auto tlsa = ParseTlsa(raw, Query{"_25._tcp.mx.example.test", 52, true}, server);
  if (tlsa.ok()) {
    Check(!tlsa.value.records.empty() && tlsa.value.records.size() <= 32);
    Check(size >= 12 && tlsa.value.authenticated == ((data[3] & 0x20) != 0));
  }
  return 0;
}
