# Builds samples/plugin-example out of tree against an installed diorama, installs it, and runs the
# installed CLI on it. Called by ctest with BUILD_DIR, SRC_DIR, WORK and TEST_EXE defined.
file(REMOVE_RECURSE ${WORK})
macro(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
endmacro()
run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK}/prefix)
run(${CMAKE_COMMAND} -S ${SRC_DIR}/samples/plugin-example -B ${WORK}/build
    -DCMAKE_PREFIX_PATH=${WORK}/prefix -DCMAKE_INSTALL_PREFIX=${WORK}/prefix)
run(${CMAKE_COMMAND} --build ${WORK}/build)
run(${CMAKE_COMMAND} --install ${WORK}/build)
# pkg-config sees the installed package too.
find_program(PKG_CONFIG pkg-config)
if(PKG_CONFIG)
  file(GLOB pcdir ${WORK}/prefix/lib*/pkgconfig)
  execute_process(COMMAND ${CMAKE_COMMAND} -E env PKG_CONFIG_PATH=${pcdir} ${PKG_CONFIG} --cflags --variable=plugindir diorama
    RESULT_VARIABLE rc OUTPUT_VARIABLE out)
  if(NOT rc EQUAL 0 OR NOT out MATCHES "prefix/lib[^ ]*/diorama")
    message(FATAL_ERROR "pkg-config diorama failed: ${rc} ${out}")
  endif()
endif()
file(GLOB plugindir LIST_DIRECTORIES true ${WORK}/prefix/lib*/diorama)
execute_process(COMMAND ${CMAKE_COMMAND} -E env DIORAMA_PLUGIN_PATH= ${WORK}/prefix/bin/diorama plugins
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "component +example-affine" OR NOT out MATCHES "backend +cpu")
  message(FATAL_ERROR "installed diorama does not list example-affine and cpu:\n${out}\n${err}")
endif()
message(STATUS "${out}")
run(${TEST_EXE} ${WORK}/prefix/bin/diorama ${plugindir} ${WORK}/run)
