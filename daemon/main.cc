// smtp_exporter: wiring only. `smtp_exporter probe ...` runs one probe; the daemon (scheduled
// probes served as Prometheus metrics) is built on the same engine.
#include <cstring>
#include <iostream>

#include "daemon/probe_command.h"

#ifndef SMTP_EXPORTER_VERSION
#define SMTP_EXPORTER_VERSION "dev"
#endif

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "probe") == 0) {
    return smtp::RunProbeCommand(argc - 1, argv + 1);
  }
  if (argc >= 2 && std::strcmp(argv[1], "--version") == 0) {
    std::cout << "smtp_exporter version " << SMTP_EXPORTER_VERSION << "\n";
    return 0;
  }
  std::cerr << "usage: smtp_exporter probe HOST[:PORT] [options]   (see smtp_exporter probe --help)\n"
               "the scheduling daemon is not part of this build yet\n";
  return 2;
}
