# The exporter's HTTP server and its web config (--web.config.file): Beast on the probe loop, TLS,
# bcrypt basic auth (libcrypt), gzip (zlib). Beast stays out of the headers (http_server.h carries
# only asio's awaitable, for handlers), so only http_session.cc pays for Beast's compile time.
find_package(yaml-cpp REQUIRED)
find_package(ZLIB REQUIRED)
find_library(CRYPT_LIBRARY crypt REQUIRED)

add_library(exporter_http STATIC
  ${CMAKE_CURRENT_LIST_DIR}/http_auth.cc
  ${CMAKE_CURRENT_LIST_DIR}/http_message.cc
  ${CMAKE_CURRENT_LIST_DIR}/http_server.cc
  ${CMAKE_CURRENT_LIST_DIR}/http_session.cc
  ${CMAKE_CURRENT_LIST_DIR}/web_config.cc
)
target_include_directories(exporter_http PUBLIC ${PROJECT_SOURCE_DIR})
# Boost is public now: http_server.h includes <boost/asio/awaitable.hpp>.
target_link_libraries(exporter_http
  PUBLIC Boost::headers OpenSSL::SSL OpenSSL::Crypto
  PRIVATE yaml-cpp smtp_parsers ZLIB::ZLIB ${CRYPT_LIBRARY} Threads::Threads
)
