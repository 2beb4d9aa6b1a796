# The consumer test (tests/CMakeLists.txt): install the build into PREFIX, configure and build the
# example project SOURCE_DIR in BINARY_DIR against the installed package only, run it, expect 0.
# Run with cmake -P and -D BUILD_DIR, CONFIG, PREFIX, DEPS_PREFIX_PATH ('|'-separated), SOURCE_DIR,
# BINARY_DIR, GENERATOR, CXX_COMPILER. Any failing step fails the test with what it printed.
cmake_minimum_required(VERSION 3.20)

foreach(var BUILD_DIR PREFIX SOURCE_DIR BINARY_DIR GENERATOR CXX_COMPILER)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "lib_consumer_test.cmake: -D${var}=... is required")
  endif()
endforeach()

function(step name)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "${name} failed (${status}):\n${ARGN}\n${out}")
  endif()
  message(STATUS "${name}: ok")
  set(step_output "${out}" PARENT_SCOPE)
endfunction()

# Fresh each time: a stale prefix or consumer build would hide a broken install.
file(REMOVE_RECURSE "${PREFIX}" "${BINARY_DIR}")

set(config_args)
if(CONFIG)
  set(config_args --config "${CONFIG}")
endif()
step("install" "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${PREFIX}" ${config_args})

# Only the public API is installed, and the package asks for nothing of the tool's: the headers
# are exactly include/ctxrun/ of the source tree (internals live in src/), and no installed CMake
# file names CLI11 or spdlog.
file(GLOB installed RELATIVE "${PREFIX}/include/ctxrun" "${PREFIX}/include/ctxrun/*")
file(GLOB public RELATIVE "${SOURCE_DIR}/../../include/ctxrun" "${SOURCE_DIR}/../../include/ctxrun/*.h")
list(SORT installed)
list(SORT public)
if(NOT installed STREQUAL public)
  message(FATAL_ERROR "installed headers '${installed}' are not the public API '${public}'")
endif()
file(GLOB_RECURSE package_files "${PREFIX}/lib*/cmake/ctxrun/*.cmake")
foreach(f ${package_files})
  file(READ "${f}" text)
  if(text MATCHES "CLI11|spdlog")
    message(FATAL_ERROR "${f} names a dependency of the tool, not of the library (CLI11 or spdlog)")
  endif()
endforeach()
message(STATUS "public headers only (${installed}); no CLI11 or spdlog in the package")

# The installed package, and where the build found its dependencies; no package registry, so that
# nothing but PREFIX can provide ctxrun.
string(REPLACE "|" ";" prefix_path "${PREFIX};${DEPS_PREFIX_PATH}")
step("configure" "${CMAKE_COMMAND}" -S "${SOURCE_DIR}" -B "${BINARY_DIR}" -G "${GENERATOR}"
     "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}" "-DCMAKE_PREFIX_PATH=${prefix_path}"
     -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_BUILD_TYPE=${CONFIG})

# The package found must be the one just installed.
file(STRINGS "${BINARY_DIR}/CMakeCache.txt" found REGEX "^ctxrun_DIR:")
string(REGEX REPLACE "^ctxrun_DIR:[A-Z]+=" "" found "${found}")
file(REAL_PATH "${PREFIX}" real_prefix)
file(REAL_PATH "${found}" real_found)
string(FIND "${real_found}" "${real_prefix}/" at)
if(NOT at EQUAL 0)
  message(FATAL_ERROR "the example found ctxrun in '${found}', not in the installed prefix '${PREFIX}'")
endif()

step("build" "${CMAKE_COMMAND}" --build "${BINARY_DIR}" ${config_args})

set(app "${BINARY_DIR}/run_with_timeout")
if(CONFIG AND NOT EXISTS "${app}")
  set(app "${BINARY_DIR}/${CONFIG}/run_with_timeout")  # multi-config generators
endif()
step("run" "${app}")
message(STATUS "${step_output}")
