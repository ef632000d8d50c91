// TLS client contexts and certificate facts, with OpenSSL only (no Asio), so the facts can be
// tested without a network.
//
// Verification policy (DESIGN §1): the handshake always completes, whatever the certificate, so
// its facts are always reported; chain and host-name verification are separate results with a
// reason, and the prober decides whether they fail the probe.
#pragma once

#include <openssl/ssl.h>

#include <string>
#include <vector>

#include "probes/probe_result.h"

namespace smtp {

// A client SSL_CTX trusting `ca_file` (PEM; empty = the system trust store), shared between
// probes with the same ca_file (building one costs milliseconds; a probe must cost far less).
// Returns nullptr and sets *error when the CA file cannot be loaded. The caller owns one
// reference (SSL_CTX_free it).
SSL_CTX* AcquireClientContext(const std::string& ca_file, std::string* error);

// After a completed handshake: version, cipher, the presented chain, the earliest notAfter, and
// verification of the chain (SSL_get_verify_result) and of `expected_name` (a DNS name, checked
// with RFC 6125 wildcard rules, or an IP literal checked against iPAddress SANs).
TlsInfo InspectTlsSession(SSL* ssl, const std::string& expected_name);

// The chain the peer presented, leaf first, each certificate DER-encoded (for DANE matching,
// probes/dane.h); empty without a session.
std::vector<std::string> PeerChainDer(SSL* ssl);

// Facts of one certificate.
CertificateInfo DescribeCertificate(X509* certificate);

// The most recent OpenSSL error as text, and clears the queue ("" when none).
std::string TakeOpenSslError();

}  // namespace smtp
