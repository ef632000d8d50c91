# The benchmark's tools (see bench/README.md). Not tests; included by bench/CMakeLists.txt and by
# bench/smoke.cmake (the CI smoke run of the harness), whichever comes first.
include_guard(GLOBAL)
# smtp_responder: the benchmark's fast SMTP responder on loopback (bench/run.sh, compare.sh).
add_executable(smtp_responder ${CMAKE_CURRENT_LIST_DIR}/smtp_responder.cc)
target_link_libraries(smtp_responder PRIVATE Boost::headers OpenSSL::SSL OpenSSL::Crypto
  Threads::Threads)
# probe_load: the HTTP/1.1 load generator for /probe (bench/compare.sh).
add_executable(probe_load ${CMAKE_CURRENT_LIST_DIR}/probe_load.cc)
target_link_libraries(probe_load PRIVATE Boost::headers Threads::Threads)
# result_footprint: the heap one stored probe result and its parts take (bench/README "Memory per
# target"), against smtp_responder: result_footprint HOST:PORT [CA_FILE].
add_executable(result_footprint ${CMAKE_CURRENT_LIST_DIR}/result_footprint.cc)
target_link_libraries(result_footprint PRIVATE smtp_probes exporter_state)
