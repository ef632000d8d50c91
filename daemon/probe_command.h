// `smtp_exporter probe HOST[:PORT] [options]`: one probe, printed like a telnet session plus a
// verdict. Exit status: 0 healthy, 1 unhealthy (down; STARTTLS required but missing, failed or
// not verified; open relay), 2 bad usage.
#pragma once

namespace smtp {

// `argv[0]` is "probe". Writes to stdout/stderr.
int RunProbeCommand(int argc, char** argv);

}  // namespace smtp
