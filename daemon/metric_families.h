// The catalogue of the metrics layer (internal to daemon/metrics*.cc): every family the exporter
// exports, with its name, type and HELP text, in the order of the exposition (the DESIGN §2 table
// order), and the label names the exporter sets itself. metrics.cc decides which series of these
// families exist for a target.
#pragma once

#include <cstddef>
#include <string_view>

#include "daemon/exposition.h"

namespace smtp::metrics_internal {

// The per-target families, in DESIGN §2 table order (the output order).
enum ProbeFamily : std::size_t {
  kSuccess,
  kDuration,
  kStepDuration,
  kGreetingHistogram,
  kReplyCode,
  kFailureInfo,
  kGreetingInfo,
  kEsmtp,
  kExtensionInfo,
  kSizeLimit,
  kAuthMechanismInfo,
  kStartTlsOffered,
  kStartTlsSuccess,
  kTlsVersionInfo,
  kTlsCipherInfo,
  kCertNotAfter,
  kCertVerified,
  kCertInfo,
  kRelayOpen,
  kRelayVerdict,
  kRelayTestResult,
  kRcptCatchAll,
  kRelayLastRun,
  kLastRun,
  kMxRecords,
  kFcrdnsMatch,
  kAuthSuccess,
  kAuthResult,
  kAuthMechanismUsed,
  kUserEnumerationResult,
  kMtaStsRecordResult,
  kMtaStsIdInfo,
  kMtaStsFetchSuccess,
  kMtaStsFetchFailureInfo,
  kMtaStsMode,
  kMtaStsMaxAge,
  kMtaStsMxMatch,
  kMtaStsMxDeliverable,
  kTlsRptResult,
  kDaneTlsaRecords,
  kDaneTlsaAuthenticated,
  kDaneResult,
  kDaneMatch,
  kDnsblListed,
  kDnsblResult,
  kDnsblListingInfo,
  kProbeFamilyCount,
};

extern const exposition::FamilyDef kProbeFamilyDefs[kProbeFamilyCount];

// The exporter's own families (smtp_exporter_*), after the per-target ones.
enum SelfFamily : std::size_t {
  kBuildInfo,
  kProbesTotal,
  kReloadSuccessful,
  kReloadSuccessTimestamp,
  kInFlight,
  kSchedulerLag,
  kSelfFamilyCount,
};

extern const exposition::FamilyDef kSelfFamilyDefs[kSelfFamilyCount];

// A Prometheus label name: [a-zA-Z_][a-zA-Z0-9_]*.
bool IsLabelName(std::string_view name);

// One of the label names this layer puts on per-target series itself ("target", "step", ...,
// "le", "quantile"): a configured label of that name would make a duplicate label, which
// Prometheus refuses with the whole scrape.
bool IsSeriesLabelName(std::string_view name);

// Reserved beyond those: "module" (two modules may probe one address, and only this label would
// tell their series apart), the labels target expansion adds to a snapshot (domain for mx:
// targets, ip for ip_protocol both), and those Prometheus owns (job, instance).
bool IsOtherOwnLabelName(std::string_view name);

}  // namespace smtp::metrics_internal
