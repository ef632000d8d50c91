# The exporter's HTTP server and its web config (--web.config.file): Beast on the probe loop, TLS,
# bcrypt basic auth (libcrypt), gzip (zlib). Boost stays out of the headers, so only
# http_server.cc pays for Beast's compile time.
find_package(yaml-cpp REQUIRED)
find_package(ZLIB REQUIRED)
find_library(CRYPT_LIBRARY crypt REQUIRED)

add_library(exporter_http STATIC
  ${CMAKE_CURRENT_LIST_DIR}/http_server.cc
  ${CMAKE_CURRENT_LIST_DIR}/web_config.cc
)
target_include_directories(exporter_http PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(exporter_http
  PUBLIC OpenSSL::SSL OpenSSL::Crypto
  PRIVATE Boost::headers yaml-cpp ZLIB::ZLIB ${CRYPT_LIBRARY} Threads::Threads
)
