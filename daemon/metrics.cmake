# The metrics layer (pure: probe results -> Prometheus metric families, rendered per scrape).
# Included from daemon/CMakeLists.txt. prometheus-cpp 1.0.1 on Debian ships a CMake config but no
# version file, hence no version in find_package.
find_package(prometheus-cpp CONFIG REQUIRED)

add_library(exporter_metrics STATIC ${CMAKE_CURRENT_LIST_DIR}/metrics.cc)
target_include_directories(exporter_metrics PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(exporter_metrics PUBLIC smtp_parsers prometheus-cpp::core)
