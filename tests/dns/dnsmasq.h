// Test doubles for DNS: a private dnsmasq on loopback and a UDP socket that never answers.
//
// Both only ever bind 127.0.0.1 or ::1. dnsmasq runs with --no-resolv and no --server, so it
// answers from the records it is given and never forwards a query anywhere.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

namespace smtp::testing {

class Dnsmasq {
 public:
  static constexpr const char* kBinary = "/usr/sbin/dnsmasq";

  static bool Available();

  // Starts dnsmasq in the foreground on a free port of 127.0.0.1 (and ::1 when `listen_ip6`)
  // with `config_lines` as its configuration file (mx-host=..., host-record=..., ...). Waits
  // until it accepts TCP. Returns nullptr and sets *error (with dnsmasq's log) on failure.
  static std::unique_ptr<Dnsmasq> Start(const std::vector<std::string>& config_lines,
                                        bool listen_ip6, std::string* error);
  ~Dnsmasq();

  Dnsmasq(const Dnsmasq&) = delete;
  Dnsmasq& operator=(const Dnsmasq&) = delete;

  int port() const { return port_; }
  bool listens_ip6() const { return listens_ip6_; }
  std::string Log() const;  // dnsmasq's stderr, with --log-queries

 private:
  Dnsmasq() = default;

  pid_t pid_ = -1;
  int port_ = 0;
  bool listens_ip6_ = false;
  std::string dir_;  // private temp dir: config and log
};

// A UDP socket bound on loopback that reads nothing and answers nothing: a DNS server that
// never replies.
class SilentUdpServer {
 public:
  // `ip6`: bind ::1 instead of 127.0.0.1. Check ok() after construction.
  explicit SilentUdpServer(bool ip6 = false);
  ~SilentUdpServer();

  SilentUdpServer(const SilentUdpServer&) = delete;
  SilentUdpServer& operator=(const SilentUdpServer&) = delete;

  bool ok() const { return fd_ >= 0; }
  int port() const { return port_; }
  // "127.0.0.1:port" or "[::1]:port", for DnsResolver::Create.
  std::string Address() const;
  // Datagrams that arrived so far (drains the socket without blocking).
  int DrainDatagrams();

 private:
  int fd_ = -1;
  int port_ = 0;
  bool ip6_ = false;
};

// A port free for both TCP and UDP on 127.0.0.1 a moment ago (a DNS server serves both on one
// port); 0 when none was found.
int FreeLoopbackPort();
// Whether something accepts TCP connections on 127.0.0.1:port.
bool AcceptsTcp(int port);

// True when a socket can be bound to ::1 here (containers sometimes have no IPv6 loopback).
bool Ip6LoopbackUsable();

// A UDP port on 127.0.0.1 that was free a moment ago and has nobody listening now: queries sent
// there are refused by the kernel (ICMP port unreachable).
int ClosedUdpPort();

}  // namespace smtp::testing
