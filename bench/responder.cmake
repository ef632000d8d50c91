# smtp_responder: the benchmark's fast SMTP responder on loopback (see bench/run.sh). Not a test.
add_executable(smtp_responder ${CMAKE_CURRENT_LIST_DIR}/smtp_responder.cc)
target_link_libraries(smtp_responder PRIVATE Boost::headers OpenSSL::SSL OpenSSL::Crypto
  Threads::Threads)
