// Specification of the greeting parser (RFC 5321 §4.2, §3.1): which software, which version,
// and never a timestamp.
#include "probes/banner.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>

namespace smtp {
namespace {

struct BannerCase {
  std::string name;
  std::string text;  // the greeting's first line after "220 "
  std::string hostname;
  std::string software;
  std::string version;
  bool esmtp;
  friend void PrintTo(const BannerCase& c, std::ostream* os) { *os << c.name; }
};

class Greeting : public ::testing::TestWithParam<BannerCase> {};

TEST_P(Greeting, IsRecognised) {
  const BannerCase& c = GetParam();
  GreetingInfo info = ParseGreeting(c.text);
  EXPECT_EQ(info.hostname, c.hostname);
  EXPECT_EQ(info.software, c.software);
  EXPECT_EQ(info.version, c.version);
  EXPECT_EQ(info.esmtp_word, c.esmtp);
}

// One line per banner shape, with where the shape comes from. "nmap" is nmap-service-probes
// (match smtp lines, an index of shapes seen in the wild); "Greenbone" is the example banners in
// the comments of Greenbone's smtpserver_detect.nasl / gb_os_detection (SMTP) checks.
INSTANTIATE_TEST_SUITE_P(
    KnownSoftware, Greeting,
    ::testing::Values(
        // Postfix postconf(5): smtpd_banner default "$myhostname ESMTP $mail_name".
        BannerCase{"PostfixDefault", "mx.example.com ESMTP Postfix", "mx.example.com", "Postfix",
                   "", true},
        // Debian's and Ubuntu's packaged main.cf append "(Debian/GNU)" / "(Ubuntu)".
        BannerCase{"PostfixDebian", "mx.example.com ESMTP Postfix (Debian/GNU)", "mx.example.com",
                   "Postfix", "", true},
        BannerCase{"PostfixUbuntu", "mail.example.org ESMTP Postfix (Ubuntu)", "mail.example.org",
                   "Postfix", "", true},
        // A server that leaves its name out names none; the protocol word is not a host.
        BannerCase{"NoDomainPostfix", "ESMTP Postfix", "", "Postfix", "", true},
        BannerCase{"NoDomainSmtp", "SMTP Exim 4.96 ready", "", "Exim", "4.96", false},
        // nmap: "ESMTP PostFix ([\d.]+)".
        BannerCase{"PostfixWithMailVersion", "mx.example.com ESMTP Postfix 3.7.11",
                   "mx.example.com", "Postfix", "3.7.11", true},
        // Postfix's documented "$myhostname ESMTP $mail_name ($mail_version)".
        BannerCase{"PostfixParenthesisedVersion", "mx.test ESMTP Postfix (3.7.11)", "mx.test",
                   "Postfix", "3.7.11", true},
        // Zimbra's MTA is Postfix; zimbraMtaSmtpdBanner defaults to "$myhostname ESMTP
        // $mail_name": a Zimbra server says Postfix and nothing of Zimbra.
        BannerCase{"ZimbraIsPostfix", "zimbra.example.com ESMTP Postfix", "zimbra.example.com",
                   "Postfix", "", true},
        // Exim spec, smtp_banner default "$smtp_active_hostname ESMTP Exim $version_number
        // $tod_full".
        BannerCase{"Exim", "mx.example.com ESMTP Exim 4.96 Mon, 28 Nov 2026 10:11:12 +0000",
                   "mx.example.com", "Exim", "4.96", true},
        BannerCase{"EximDebianVersion",
                   "mx.example.com ESMTP Exim 4.94.2-7 Tue, 01 Feb 2022 00:00:00 +0100",
                   "mx.example.com", "Exim", "4.94.2-7", true},
        // Sendmail cf/m4/proto.m4 confSMTP_LOGIN_MSG "$j Sendmail $v/$Z; $b"; sendmail inserts
        // "ESMTP" after the first word.
        BannerCase{"Sendmail",
                   "mx.example.com ESMTP Sendmail 8.15.2/8.15.2; Mon, 28 Nov 2026 10:11:12 GMT",
                   "mx.example.com", "Sendmail", "8.15.2", true},
        BannerCase{"SendmailDebian",
                   "mx.example.com ESMTP Sendmail 8.17.1.9/8.17.1.9/Debian-2; Mon, 1 Jan 2024",
                   "mx.example.com", "Sendmail", "8.17.1.9", true},
        // OpenSMTPD smtp_session.c: "220 %s ESMTP %s" with SMTPD_NAME "OpenSMTPD"; no version.
        BannerCase{"OpenSmtpd", "mx.example.com ESMTP OpenSMTPD", "mx.example.com", "OpenSMTPD", "",
                   true},
        // Haraka 3 connection.js: `${host} ESMTP ${info} ready` + ` (${uuid.slice(0, 6)})`, info
        // "Haraka/<version>" (headers.show_version and uuid.banner_chars=6 are the defaults).
        BannerCase{"Haraka3", "mx.example.com ESMTP Haraka/3.1.6 ready (5D2C3E)", "mx.example.com",
                   "Haraka", "3.1.6", true},
        BannerCase{"HarakaSlash", "mx.example.com ESMTP Haraka/3.0.3 ready", "mx.example.com",
                   "Haraka", "3.0.3", true},
        // nmap: "ESMTP Haraka (\d[\w._-]*) ready" (Haraka 2.x).
        BannerCase{"Haraka", "mx.example.com ESMTP Haraka 2.8.28 ready", "mx.example.com", "Haraka",
                   "2.8.28", true},
        // aiosmtpd smtp.py: __ident__ = 'Python SMTP {}'.format(__version__), greeting
        // '220 {} {}'.format(hostname, __ident__). No "ESMTP" word.
        BannerCase{"Aiosmtpd", "mx.example.com Python SMTP 1.4.3", "mx.example.com", "aiosmtpd",
                   "1.4.3", false},
        BannerCase{"AiosmtpdCurrent", "host.example.org Python SMTP 1.4.6", "host.example.org",
                   "aiosmtpd", "1.4.6", false},
        // qmail-smtpd.c / notqmail: "220 " + control/smtpgreeting + " ESMTP"; only an admin's
        // smtpgreeting can name it (nmap lists such greetings).
        BannerCase{"Qmail", "mx.example.com ESMTP qmail", "mx.example.com", "qmail", "", true},
        BannerCase{"QmailVersion", "mx.example.com ESMTP qmail 1.03", "mx.example.com", "qmail",
                   "1.03", true},
        BannerCase{"NotqmailInSmtpgreeting", "mx.example.com notqmail 1.08 ESMTP", "mx.example.com",
                   "qmail", "1.08", true},
        // nmap: "\[host\] Courier Mail Server ([-\w_.]+) ESMTP service ready" (Courier's default,
        // below, names nothing).
        BannerCase{"CourierMailServer",
                   "[mail.example.com] Courier Mail Server 0.47 ESMTP "
                   "service ready",
                   "[mail.example.com]", "Courier", "0.47", true},
        // Exchange 2003 (and the IIS SMTP service): nmap "Microsoft ESMTP MAIL Service, Version:
        // ([-\w.]+) ready".
        BannerCase{"ExchangeIis",
                   "host.example.com Microsoft ESMTP MAIL Service, Version: 6.0.3790.0 ready at "
                   " Mon, 28 Nov 2026 10:11:12 +0100",
                   "host.example.com", "Microsoft Exchange", "6.0.3790.0", true},
        BannerCase{"Exchange2003",
                   "mail.example.com Microsoft ESMTP MAIL Service, Version: "
                   "6.0.3790.4675 ready at  Thu, 5 Nov 2009 10:00:00 +0100",
                   "mail.example.com", "Microsoft Exchange", "6.0.3790.4675", true},
        // Greenbone: the IIS SMTP service of Windows Server 2012 says the same with its version.
        BannerCase{"IisSmtp2012",
                   "smtp.example.com Microsoft ESMTP MAIL Service, Version: "
                   "8.0.9200.16384 ready at  Tue, 7 Mar 2023 04:33:01 -0800",
                   "smtp.example.com", "Microsoft Exchange", "8.0.9200.16384", true},
        // Exchange 2007-2019 Set-ReceiveConnector -Banner default: "220 <ServerName> Microsoft
        // ESMTP MAIL service ready at <RegionalDay-Date-24HourTimeFormat><RegionalTimeZoneOffset>".
        BannerCase{"ExchangeModern",
                   "EXCH01.corp.example.com Microsoft ESMTP MAIL Service ready at Mon, 28 Nov "
                   "2026 10:11:12 +0100",
                   "EXCH01.corp.example.com", "Microsoft Exchange", "", true},
        // Greenbone: "$hostname MICROSOFT ESMTP MAIL SERVICE READY AT Sun, 26 Feb 2023 ...".
        BannerCase{"ExchangeUpperCase",
                   "mail.example.com MICROSOFT ESMTP MAIL SERVICE READY AT Sun, 26 Feb 2023 "
                   "02:34:03 +0100",
                   "mail.example.com", "Microsoft Exchange", "", true},
        // Exchange 5.5, nmap: "ESMTP Server \(Microsoft Exchange Internet Mail Service ([-\w.]+)\)
        // ready".
        BannerCase{"Exchange55",
                   "mail.example.com ESMTP Server (Microsoft Exchange Internet Mail Service "
                   "5.5.2653.13) ready",
                   "mail.example.com", "Microsoft Exchange", "5.5.2653.13", true},
        // Stalwart crates/common/src/config/smtp/session.rs: session.connect.greeting default
        // "config_get('server.hostname') + ' Stalwart ESMTP at your service'".
        BannerCase{"Stalwart", "mx.example.org Stalwart ESMTP at your service", "mx.example.org",
                   "Stalwart", "", true},
        // nmap: "ESMTP hMailServer ([\w.-]+)" (an admin's welcome message; the default is below).
        BannerCase{"HMailServerNamed", "mail.example.com ESMTP hMailServer 5.6.7",
                   "mail.example.com", "hMailServer", "5.6.7", true},
        // Greenbone: "mail.example.com ESMTP MDaemon 20.0.3; Tue, 19 Jan 2021 17:52:35 -0700".
        BannerCase{"MDaemon", "mail.example.com ESMTP MDaemon 21.0.1; Mon, 28 Nov 2026 10:11:12",
                   "mail.example.com", "MDaemon", "21.0.1", true},
        // nmap: "ESMTP MSA MDaemon ([\w._-]+)(?: UNREGISTERED)?; ".
        BannerCase{"MDaemonMsaUnregistered",
                   "mail.example.com ESMTP MSA MDaemon 9.6.2 UNREGISTERED; Tue, 19 Jan 2021 "
                   "17:52:35 -0700",
                   "mail.example.com", "MDaemon", "9.6.2", true},
        // Greenbone: "220 example.com Kerio Connect 9.2.1 ESMTP ready or 220 example.com Kerio
        // MailServer 6.5.2 ESMTP ready"; nmap: "Kerio Connect ([\w._ -]+) ESMTP ready".
        BannerCase{"KerioConnect", "mail.example.com Kerio Connect 9.2.1 ESMTP ready",
                   "mail.example.com", "Kerio Connect", "9.2.1", true},
        BannerCase{"KerioConnectPatch", "mail.example.com Kerio Connect 8.0.0 patch 1 ESMTP ready",
                   "mail.example.com", "Kerio Connect", "8.0.0", true},
        BannerCase{"KerioMailServer", "mail.example.com Kerio MailServer 6.5.2 ESMTP ready",
                   "mail.example.com", "Kerio Connect", "6.5.2", true},
        // Greenbone: "example.com ESMTP IceWarp 11.4.6.0 x64; Tue, 22 May 2018 15:53:07 +0200"
        // and "ESMTP IceWarp 10.0.7; ..."; Merak is IceWarp's former name (nmap).
        BannerCase{"IceWarp",
                   "mail.example.com ESMTP IceWarp 11.4.6.0 x64; Tue, 22 May 2018 15:53:07 +0200",
                   "mail.example.com", "IceWarp", "11.4.6.0", true},
        BannerCase{"IceWarpSemicolon",
                   "mail.example.com ESMTP IceWarp 10.0.7; Tue, 22 May 2018 20:58:03 +0700",
                   "mail.example.com", "IceWarp", "10.0.7", true},
        BannerCase{"Merak", "mail.example.com ESMTP Merak 8.9.1; Mon, 15 Sep 2003 13:48:11 -0400",
                   "mail.example.com", "IceWarp", "8.9.1", true},
        // nmap: "([-\w_.]+) Axigen ESMTP ready"; Axigen shows no version in SMTP.
        BannerCase{"Axigen", "mail.example.com Axigen ESMTP ready", "mail.example.com", "Axigen",
                   "", true},
        // nmap: "ESMTP CommuniGate Pro (\d[-.\w]+) is glad to see you!" and without the phrase.
        BannerCase{"CommuniGatePro",
                   "mail.example.com ESMTP CommuniGate Pro 6.3.20 is glad to see you!",
                   "mail.example.com", "CommuniGate Pro", "6.3.20", true},
        BannerCase{"CommuniGateProLetterVersion",
                   "mail.example.com ESMTP CommuniGate Pro 5.1.4i is glad to see you!",
                   "mail.example.com", "CommuniGate Pro", "5.1.4i", true},
        BannerCase{"CommuniGateProPlain", "mail.stalker.com ESMTP CommuniGate Pro 4.1.3",
                   "mail.stalker.com", "CommuniGate Pro", "4.1.3", true},
        // Barracuda Email Security Gateway, Greenbone and nmap: "<host> ESMTP (<32 hex digits>)".
        BannerCase{"BarracudaGateway",
                   "barracuda.test.local ESMTP (09678d23bc13369ca0f4a4c15ae7f1d4)",
                   "barracuda.test.local", "Barracuda", "", true},
        // Greenbone: "mail.example.com ESMTP Sophos Email Appliance v4.5.3.6" and "ESMTP Example
        // Sophos Email Appliance v4.4.1.1".
        BannerCase{"SophosEmailAppliance", "mail.example.com ESMTP Sophos Email Appliance v4.5.3.6",
                   "mail.example.com", "Sophos", "4.5.3.6", true},
        BannerCase{"SophosEmailApplianceCustomised",
                   "mail.example.com ESMTP Example Sophos Email Appliance v4.4.1.1",
                   "mail.example.com", "Sophos", "4.4.1.1", true},
        BannerCase{"CaseInsensitiveSoftware", "mx.example.com esmtp POSTFIX", "mx.example.com",
                   "Postfix", "", true}),
    [](const auto& test_info) { return test_info.param.name; });

// Hosted services: the name under the operator's domain identifies them; the text is generic.
INSTANTIATE_TEST_SUITE_P(
    HostedServices, Greeting,
    ::testing::Values(
        // Exchange Online Protection (MX), O365Troubleshooters / Microsoft docs: "220
        // BN1BFFO11FD038.mail.protection.outlook.com Microsoft ESMTP MAIL Service ready at Mon, 18
        // Apr 2016 07:36:51 +0000"; current front ends append a session id in brackets.
        BannerCase{
            "Microsoft365Mx",
            "BN8NAM12FT053.mail.protection.outlook.com Microsoft ESMTP MAIL Service ready at "
            "Mon, 18 Apr 2016 07:36:51 +0000",
            "BN8NAM12FT053.mail.protection.outlook.com", "Microsoft 365", "", true},
        BannerCase{"Microsoft365MxSessionId",
                   "CH3PEPF00000015.mail.protection.outlook.com Microsoft ESMTP MAIL Service ready "
                   "at Sun, 22 Jun 2025 05:58:00 +0000 [08DDB07650EC6878]",
                   "CH3PEPF00000015.mail.protection.outlook.com", "Microsoft 365", "", true},
        // smtp.office365.com, Microsoft Learn "Fix issues with printers, scanners, and LOB apps":
        // "220 BY1PR10CA0041.outlook.office365.com Microsoft ESMTP MAIL Service ready at Mon, 1
        // Jun 2015 12:00:00 +0000".
        BannerCase{"Microsoft365Submission",
                   "BY1PR10CA0041.outlook.office365.com Microsoft ESMTP MAIL Service ready at Mon, "
                   "1 Jun 2015 12:00:00 +0000",
                   "BY1PR10CA0041.outlook.office365.com", "Microsoft 365", "", true},
        // Gmail MX: "mx.google.com ESMTP <id> - gsmtp" (the id contains a dot: never a version).
        BannerCase{"Gmail", "mx.google.com ESMTP a1-20020a05600c000000b000000000000si1 - gsmtp",
                   "mx.google.com", "Gmail", "", true},
        BannerCase{"GmailIdWithDot",
                   "mx.google.com ESMTP 586e51a60fabf-2b28f1504ccsi401649fac.13 - gsmtp",
                   "mx.google.com", "Gmail", "", true},
        // smtp.gmail.com / smtp-relay.gmail.com name themselves so; "gsmtp" alone also counts.
        BannerCase{"GmailSubmission",
                   "smtp.gmail.com ESMTP 5b1f17b1804b1-42f5b3c55c5sm123.4 - gsmtp",
                   "smtp.gmail.com", "Gmail", "", true},
        BannerCase{"GsmtpMarker", "smtp-relay.example.net ESMTP abc123.45 - gsmtp",
                   "smtp-relay.example.net", "Gmail", "", true},
        // Proofpoint hosted (Stanford CS144 lab transcript): "220 mx0b-00000d03.pphosted.com ESMTP
        // mfa-m0214089". Proofpoint Essentials hosts are *.ppe-hosted.com (dispatch1-us1 in
        // Received headers); the text after its name is not documented, "ESMTP" stands for it.
        BannerCase{"Proofpoint", "mx0b-00000d03.pphosted.com ESMTP mfa-m0214089",
                   "mx0b-00000d03.pphosted.com", "Proofpoint", "", true},
        BannerCase{"ProofpointEssentials", "mx1-us1.ppe-hosted.com ESMTP", "mx1-us1.ppe-hosted.com",
                   "Proofpoint", "", true},
        // Mimecast (transcripts, not vendor docs): "220 eu-smtp-inbound-1.mimecast.com ESMTP" and
        // the outbound relays'
        // "<region>-smtp-outbound-1.mimecast.com ESMTP; Sat, 27 Jul 2024 09:26:38 +0100".
        BannerCase{"MimecastInbound", "eu-smtp-inbound-1.mimecast.com ESMTP",
                   "eu-smtp-inbound-1.mimecast.com", "Mimecast", "", true},
        BannerCase{"MimecastOutbound",
                   "us-smtp-outbound-1.mimecast.com ESMTP; Sat, 27 Jul 2024 09:26:38 +0100",
                   "us-smtp-outbound-1.mimecast.com", "Mimecast", "", true},
        // Cisco Secure Email Cloud Gateway: AsyncOS's default "<hostname> ESMTP" with its hosts
        // under iphmx.com (esa1.hc3370-68.iphmx.com in Received headers).
        BannerCase{"CiscoSecureEmailCloud", "esa1.hc3370-68.iphmx.com ESMTP",
                   "esa1.hc3370-68.iphmx.com", "Cisco Secure Email", "", true},
        // Barracuda Email Security Service MX hosts: d<n>a.ess.barracudanetworks.com (MX records);
        // the text after the name is assumed to be the gateway's, the name alone decides.
        BannerCase{"BarracudaCloud",
                   "d174024a.ess.barracudanetworks.com ESMTP (09678d23bc13369ca0f4a4c15ae7f1d4)",
                   "d174024a.ess.barracudanetworks.com", "Barracuda", "", true},
        // Sophos Email (Central) MX hosts: mx-01-<region>.prod.hydra.sophos.com (MX records). Its
        // text is not documented (its infrastructure runs Postfix): the name alone decides.
        BannerCase{"SophosCentralEmail", "mx-01-eu-west-1.prod.hydra.sophos.com ESMTP Postfix",
                   "mx-01-eu-west-1.prod.hydra.sophos.com", "Sophos", "", true},
        BannerCase{"HostedNameCaseAndRootDot", "MX.GOOGLE.COM. ESMTP x - gsmtp", "MX.GOOGLE.COM.",
                   "Gmail", "", true}),
    [](const auto& test_info) { return test_info.param.name; });

// Default banners that do not name their software: reported as unknown, never guessed.
INSTANTIATE_TEST_SUITE_P(
    NotIdentifiable, Greeting,
    ::testing::Values(
        // qmail / notqmail default: control/smtpgreeting = control/me, then " ESMTP".
        BannerCase{"QmailDefault", "mx.example.com ESMTP", "mx.example.com", "", "", true},
        // Courier libs/comesmtpidstring.c: esmtpgreeting defaults to "<me> ESMTP".
        BannerCase{"CourierDefault", "mail.example.com ESMTP", "mail.example.com", "", "", true},
        // hMailServer SMTPConnection::SendBanner_: empty welcome message -> "<ComputerName>
        // ESMTP".
        BannerCase{"HMailServerDefault", "MAILSRV01 ESMTP", "MAILSRV01", "", "", true},
        // Maddy serves SMTP with go-smtp, conn.go greet(): "%v ESMTP Service Ready".
        BannerCase{"MaddyDefault", "mx.example.org ESMTP Service Ready", "mx.example.org", "", "",
                   true},
        // Cisco Secure Email (ESA) on premises, Cisco technote 214630: "220 C680.lab.test ESMTP".
        BannerCase{"CiscoSecureEmailDefault", "C680.lab.test ESMTP", "C680.lab.test", "", "", true},
        // Python's old smtpd module (not aiosmtpd): __version__ 'Python SMTP proxy version 0.3'.
        BannerCase{"PythonSmtpdIsNotAiosmtpd", "mp Python SMTP proxy version 0.3", "mp", "", "",
                   false}),
    [](const auto& test_info) { return test_info.param.name; });

INSTANTIATE_TEST_SUITE_P(
    Unknown, Greeting,
    ::testing::Values(
        BannerCase{"GenericEsmtp", "mx.example.com ESMTP ready", "mx.example.com", "", "", true},
        BannerCase{"PlainSmtp", "mx.example.com Simple Mail Transfer Service Ready",
                   "mx.example.com", "", "", false},
        BannerCase{"HostnameOnly", "mx.example.com", "mx.example.com", "", "", false},
        BannerCase{"Empty", "", "", "", "", false}, BannerCase{"Blank", "   ", "", "", "", false},
        BannerCase{"AddressLiteral", "[192.0.2.1] ESMTP", "[192.0.2.1]", "", "", true},
        BannerCase{"EsmtpGluedToPunctuation", "mx.example.com ESMTP; ready", "mx.example.com", "",
                   "", true},
        BannerCase{"EsmtpInsideAWordDoesNotCount", "mx.example.com ESMTPS ready", "mx.example.com",
                   "", "", false},
        BannerCase{"EnhancedCodeSkipped", "2.0.0 mx.example.com ESMTP Postfix", "mx.example.com",
                   "Postfix", "", true},
        BannerCase{"HostnameNamedLikeSoftwareDoesNotCount", "postfix ESMTP ready", "postfix", "",
                   "", true},
        BannerCase{"DateAfterSoftwareIsNotAVersion", "mx.example.com ESMTP Exim Mon, 28 Nov 2026",
                   "mx.example.com", "Exim", "", true},
        BannerCase{"TimeAfterSoftwareIsNotAVersion", "mx.example.com ESMTP Sendmail 10:11:12",
                   "mx.example.com", "Sendmail", "", true},
        // A product named in free text after the date is not the server's software.
        BannerCase{"ProductAfterDateIsFreeText",
                   "mx.example.com ESMTP ready; Mon, 28 Nov 2026 10:11:12 +0000; we moved off "
                   "Microsoft Exchange 6.5.1",
                   "mx.example.com", "", "", true},
        BannerCase{"NoticeAfterSendmailDate",
                   "mx.example.com ESMTP Sendmail 8.15.2/8.15.2; Mon, 28 Nov 2026 10:11:12 GMT; "
                   "No UCE, Postfix 3.7.11 relays refused",
                   "mx.example.com", "Sendmail", "8.15.2", true},
        // The first product named wins; a later mention does not override it.
        BannerCase{"FirstProductWins",
                   "mx.example.com ESMTP Postfix - not Microsoft ESMTP MAIL "
                   "Service 6.0.1",
                   "mx.example.com", "Postfix", "", true},
        BannerCase{"PhraseCutByDate", "mx.example.com ESMTP Kerio Mon, 28 Nov 2026 Connect 9.2.1",
                   "mx.example.com", "", "", true},
        // Look-alike names are not under the operator's domain.
        BannerCase{"LookalikeHostedName", "evil-outlook.com ESMTP", "evil-outlook.com", "", "",
                   true},
        BannerCase{"HostedNameAsSubdomain", "outlook.com.example.net ESMTP",
                   "outlook.com.example.net", "", "", true},
        // A hex tag of the wrong length, or unparenthesised, is not Barracuda's.
        BannerCase{"ShortHexTag", "mx.example.com ESMTP (09678d23bc13369ca0f4a4c15ae7f1d)",
                   "mx.example.com", "", "", true},
        BannerCase{"BareHexTag", "mx.example.com ESMTP 09678d23bc13369ca0f4a4c15ae7f1d4",
                   "mx.example.com", "", "", true},
        // An over-long "version" is no version.
        BannerCase{"OverlongVersion",
                   "mx.example.com ESMTP Exim 4.123456789012345678901234567890123",
                   "mx.example.com", "Exim", "", true},
        BannerCase{"OnlyEnhancedCode", "2.0.0", "", "", "", false}),
    [](const auto& test_info) { return test_info.param.name; });

TEST(GreetingTest, VeryLongGreetingIsParsed) {
  std::string text = "mx.example.com ESMTP";
  for (int i = 0; i < 20000; ++i) text += " Microsoft";
  text += " Postfix 3.7.11";
  GreetingInfo info = ParseGreeting(text);
  EXPECT_EQ(info.hostname, "mx.example.com");
  EXPECT_EQ(info.software, "Postfix");
  EXPECT_EQ(info.version, "3.7.11");
  EXPECT_TRUE(info.esmtp_word);

  GreetingInfo word = ParseGreeting(std::string(100000, 'x') + " ESMTP Exim 4.96");
  EXPECT_EQ(word.hostname.size(), 100000u);
  EXPECT_EQ(word.software, "Exim");
  EXPECT_EQ(word.version, "4.96");
}

TEST(GreetingTest, NoTimestampEverReachesTheResult) {
  // Two greetings from the same server a second apart must give identical info, or every probe
  // would create a new metric series.
  GreetingInfo a = ParseGreeting("mx ESMTP Exim 4.96 Mon, 28 Nov 2026 10:11:12 +0000");
  GreetingInfo b = ParseGreeting("mx ESMTP Exim 4.96 Mon, 28 Nov 2026 10:11:13 +0000");
  EXPECT_EQ(a, b);
  GreetingInfo c = ParseGreeting(
      "h Microsoft ESMTP MAIL Service, Version: 6.0.3790.0 ready at  Mon, 28 Nov 2026 10:11:12");
  GreetingInfo d = ParseGreeting(
      "h Microsoft ESMTP MAIL Service, Version: 6.0.3790.0 ready at  Tue, 29 Nov 2026 01:00:00");
  EXPECT_EQ(c, d);
  // Session ids and queue ids in hosted greetings change on every connection.
  EXPECT_EQ(
      ParseGreeting("mx.google.com ESMTP 586e51a60fabf-2b28f1504ccsi401649fac.13 - gsmtp"),
      ParseGreeting("mx.google.com ESMTP a1-20020a05600c4e5000b0038c77be9b2dsi2262.72 - gsmtp"));
  EXPECT_EQ(ParseGreeting("X.mail.protection.outlook.com Microsoft ESMTP MAIL Service ready at "
                          "Sun, 22 Jun 2025 05:58:00 +0000 [08DDB07650EC6878]"),
            ParseGreeting("X.mail.protection.outlook.com Microsoft ESMTP MAIL Service ready at "
                          "Sun, 22 Jun 2025 05:58:01 +0000 [08DDB07650EC6879]"));
  EXPECT_EQ(ParseGreeting("mx ESMTP Haraka/3.1.6 ready (5D2C3E)"),
            ParseGreeting("mx ESMTP Haraka/3.1.6 ready (A01B2F)"));
}

}  // namespace
}  // namespace smtp
