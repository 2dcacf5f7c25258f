# dio_add_plugin(<target> <name> <sources>...) for plugins built out of tree against an installed
# diorama: a MODULE library libdio_<name>.so with hidden visibility, installed into <prefix>/lib*/diorama.
include(GNUInstallDirs)
function(dio_add_plugin target name)
  add_library(${target} MODULE ${ARGN})
  target_link_libraries(${target} PRIVATE diorama::abi)
  set_target_properties(${target} PROPERTIES OUTPUT_NAME dio_${name} PREFIX lib C_VISIBILITY_PRESET hidden)
  install(TARGETS ${target} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/diorama)
endfunction()
