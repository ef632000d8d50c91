// smtp_exporter_test: the safety belt of the throwaway Haraka instances that
// tests/mta/haraka_test.sh starts on 127.0.0.1.
//   - answers the reverse lookup of the client itself, so Haraka sends no DNS query
//     (without a lookup_rdns plugin, Haraka calls dns.reverse() on every connection);
//   - refuses DATA (and BDAT is not offered by Haraka): the prober must never send it,
//     and should it, nothing is accepted;
//   - claims every queue hook and drops the message, so nothing could ever be delivered.
'use strict'

exports.register = function () {
    this.register_hook('lookup_rdns', 'no_dns')
    this.register_hook('data', 'refuse_data')
    this.register_hook('queue', 'never_deliver')
    this.register_hook('queue_outbound', 'never_deliver')
}

exports.no_dns = function (next) {
    next(OK, 'localhost')
}

exports.refuse_data = function (next, connection) {
    connection.logwarn(this, 'DATA received: refused (the prober must never send DATA)')
    next(DENY, 'integration test instance refuses DATA')
}

exports.never_deliver = function (next, connection) {
    connection.logwarn(this, 'queue hook reached: message dropped, never delivered')
    next(DENY, 'integration test instance never delivers')
}
