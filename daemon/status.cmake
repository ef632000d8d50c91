# The HTML status page on `/` and the transcript page it links to (pure renderers: snapshots in,
# HTML out). Included from daemon/CMakeLists.txt after metrics.cmake, which defines exporter_state (the
# TargetSnapshot it reads).
add_library(exporter_status STATIC
  ${CMAKE_CURRENT_LIST_DIR}/status_html.cc
  ${CMAKE_CURRENT_LIST_DIR}/status_page.cc
  ${CMAKE_CURRENT_LIST_DIR}/status_table.cc
  ${CMAKE_CURRENT_LIST_DIR}/transcript_page.cc
)
target_include_directories(exporter_status PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(exporter_status PUBLIC exporter_state smtp_parsers)
