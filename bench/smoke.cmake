# The CI smoke run of the benchmark harness (bench/smoke_test.sh): builds the benchmark's tools
# with the tests and runs compare.sh, run.sh and soak.sh for a few seconds each, then
# result_footprint once plain and once with STARTTLS. Included from
# tests/CMakeLists.txt. Exit code 77 (not root) is reported as skipped.
include(${CMAKE_CURRENT_LIST_DIR}/responder.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/soak.cmake)
add_test(NAME bench.smoke
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/smoke_test.sh $<TARGET_FILE:smtp_exporter>
          $<TARGET_FILE:smtp_responder> $<TARGET_FILE:probe_load>
          $<TARGET_FILE:soak_server> $<TARGET_FILE:result_footprint>)
set_tests_properties(bench.smoke PROPERTIES
  RUN_SERIAL TRUE
  TIMEOUT 120
  SKIP_RETURN_CODE 77
  LABELS "bench")
