# The metrics layer (pure: probe results -> Prometheus metric families, rendered per scrape).
# Included from daemon/CMakeLists.txt. prometheus-cpp 1.0.1 on Debian ships a CMake config but no
# version file, hence no version in find_package.
find_package(prometheus-cpp CONFIG REQUIRED)

# The record of a target (latest result, kept relay verdict, greeting histogram) that the metrics,
# the status page and the state log read; none of them links another.
add_library(exporter_state STATIC ${CMAKE_CURRENT_LIST_DIR}/histogram.cc
  ${CMAKE_CURRENT_LIST_DIR}/target_state.cc)
target_include_directories(exporter_state PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(exporter_state PUBLIC smtp_parsers)

add_library(exporter_metrics STATIC ${CMAKE_CURRENT_LIST_DIR}/metrics.cc)
target_include_directories(exporter_metrics PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(exporter_metrics PUBLIC exporter_state smtp_parsers prometheus-cpp::core)
