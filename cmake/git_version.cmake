# Writes the generated version.h from src/util/version.h.in with `git describe` of the tree as
# it is at build time (not at configure time), so a checkpoint's `build` attribute names the
# commit that built its binary. configure_file rewrites the header only when the text changes,
# so an unchanged tree recompiles nothing.
#   cmake -DSOURCE_DIR=<repo> -DOUTPUT=<build>/generated/version.h -DPROJECT_VERSION=<x.y.z> -P git_version.cmake
set(HFEDMOE_GIT_DESCRIBE "unknown")
find_package(Git QUIET)
if(GIT_FOUND)
  execute_process(COMMAND ${GIT_EXECUTABLE} describe --always --dirty --tags
    WORKING_DIRECTORY ${SOURCE_DIR} OUTPUT_VARIABLE described
    OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(described)
    set(HFEDMOE_GIT_DESCRIBE "${described}")
  endif()
endif()
configure_file(${SOURCE_DIR}/src/util/version.h.in ${OUTPUT} @ONLY)
