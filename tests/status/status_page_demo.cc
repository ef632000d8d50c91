// Writes a demo status page for a varied fake fleet, to look at in a browser or screenshot with
// headless Chromium:
//   status_page_demo OUT.html               the fleet (thirteen targets)
//   status_page_demo OUT.html sidecar       one healthy target, as in a Kubernetes sidecar
//   status_page_demo OUT.html transcript    the transcript page of the open relay
//   status_page_demo OUT.html large N       N generated targets (a big fleet)
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>

#include "daemon/status_page.h"
#include "tests/status/fleet_fixture.h"

namespace {

using namespace smtp;
using namespace smtp::testing;

std::string Render(const std::string& mode, int count) {
  StatusPageInput input = FleetInput();
  if (mode == "sidecar") {
    input.config_file.clear();
    input.targets = {
        StatusTarget{Snapshot("127.0.0.1:25", Healthy("mail.example.org")), "default"}};
  } else if (mode == "transcript") {
    for (const StatusTarget& target : input.targets) {
      if (target.snapshot.target == "relay.example.net:25") {
        return RenderTranscriptPage(target.snapshot, target.module, input.now_unix);
      }
    }
  } else if (mode == "large") {
    std::vector<StatusTarget> fleet = input.targets;
    input.targets.clear();
    for (int i = 0; i < count; ++i) {
      StatusTarget target = fleet[static_cast<std::size_t>(i) % fleet.size()];
      char name[64];
      std::snprintf(name, sizeof name, "mx%04d.example.org:25", i);
      target.snapshot.target = name;
      input.targets.push_back(std::move(target));
    }
  }
  return RenderStatusPage(input);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: status_page_demo OUT.html [sidecar|transcript|large N]\n";
    return 2;
  }
  const std::string mode = argc > 2 ? argv[2] : "fleet";
  const int count = argc > 3 ? std::atoi(argv[3]) : 300;
  std::ofstream out(argv[1], std::ios::binary);
  out << Render(mode, count);
  if (!out.flush()) {
    std::cerr << "status_page_demo: cannot write " << argv[1] << "\n";
    return 1;
  }
  return 0;
}
