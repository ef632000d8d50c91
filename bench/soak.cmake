# soak_server: the hostile far end of the soak benchmark (bench/soak.sh). Included by
# bench/CMakeLists.txt and bench/smoke.cmake, whichever comes first.
include_guard(GLOBAL)
add_executable(soak_server ${CMAKE_CURRENT_LIST_DIR}/soak_server.cc)
target_link_libraries(soak_server PRIVATE Boost::headers Threads::Threads)
