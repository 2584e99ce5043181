# cmake/layers.cmake: one target per layer, each compiled against a view of
# the source folders it may include (README "Layout").
#
# A view is a folder in the build tree, build/layers/<name>/, holding one
# symbolic link per source folder the layer may see (its own among them):
# the view of projections/ holds base/ and projections/, so
# `#include "base/mutex.h"` compiles there and `#include "engine/keys.h"`
# does not. The repository root itself is on no include path.

set(AGENTLOG_VIEWS_DIR ${CMAKE_BINARY_DIR}/layers)

# agentlog_view(NAME FOLDER...): build/layers/NAME with a link to each
# FOLDER of the repository; made afresh at every configure, so a folder
# taken out of the list is gone from the view.
function(agentlog_view name)
  set(view ${AGENTLOG_VIEWS_DIR}/${name})
  file(REMOVE_RECURSE ${view})
  file(MAKE_DIRECTORY ${view})
  foreach(folder IN LISTS ARGN)
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/${folder} ${view}/${folder} SYMBOLIC)
  endforeach()
endfunction()

# agentlog_layer(NAME [SEES FOLDER...] [LINKS TARGET...] [SOURCES FILE...]):
# the OBJECT library agentlog_NAME of NAME/*.cc (and SOURCES), seeing the
# public headers, NAME/ and the folders SEES names, built position
# independent with hidden symbols (only AGENTLOG_EXPORT declarations are
# exported from libagentlog).
function(agentlog_layer name)
  cmake_parse_arguments(LAYER "" "" "SEES;LINKS;SOURCES" ${ARGN})
  file(GLOB sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/${name}/*.cc)
  add_library(agentlog_${name} OBJECT ${sources} ${LAYER_SOURCES})
  agentlog_view(${name} ${LAYER_SEES} ${name})
  target_include_directories(agentlog_${name} PRIVATE ${AGENTLOG_VIEWS_DIR}/${name})
  target_include_directories(agentlog_${name} SYSTEM PRIVATE ${AGENTLOG_FLATBUFFERS_INCLUDE})
  target_link_libraries(agentlog_${name} PUBLIC agentlog_contract PRIVATE ${LAYER_LINKS})
  set_target_properties(agentlog_${name} PROPERTIES
    POSITION_INDEPENDENT_CODE ON
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
endfunction()

# agentlog_probe(NAME LAYER_TARGET HEADER): an object library, built only
# on request (EXCLUDE_FROM_ALL), of one file that includes HEADER with the
# include paths of LAYER_TARGET. tests/layering_test.sh builds the probes:
# a reaching include must fail, an allowed one must compile.
function(agentlog_probe name layer_target header)
  set(source ${CMAKE_BINARY_DIR}/layer_probes/${name}.cc)
  file(CONFIGURE OUTPUT ${source}
       CONTENT "// A probe of the layering (cmake/layers.cmake): does ${layer_target} see it?\n#include \"${header}\"\n")
  add_library(agentlog_probe_${name} OBJECT EXCLUDE_FROM_ALL ${source})
  target_include_directories(agentlog_probe_${name} PRIVATE
    $<TARGET_PROPERTY:${layer_target},INCLUDE_DIRECTORIES>)
  target_link_libraries(agentlog_probe_${name} PRIVATE agentlog_contract)
endfunction()
