# Fault injection (issue 10, item 4): in a DIO_FAULT_INJECTION build (the sanitizer build), every output
# operation of `diorama generate` (MP4, WebP, PNG folder) and `diorama encode-prompt` is made to fail in
# turn; each run must end cleanly with no half-written output. The full allocation sweeps (--ci, --full)
# take tens of minutes and are run by hand: tests/hardening/fault_sweep.sh --ci DIORAMA PLUGIN_DIR SOURCE WORK.
if(DIO_FAULT_INJECTION)
  add_test(NAME hardening.fault_writes COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/fault_sweep.sh --writes -j 2
    $<TARGET_FILE:diorama_cli> ${DIO_TEST_PLUGIN_DIR} ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/fault_writes)
  # And every 53rd allocation of each scenario (about 330 cases): a CI-sized sample of the allocation
  # sweep; --ci and --full, by hand, run the rest.
  add_test(NAME hardening.fault_allocs COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/fault_sweep.sh --sample 53 -j 2
    $<TARGET_FILE:diorama_cli> ${DIO_TEST_PLUGIN_DIR} ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/fault_allocs)
  set_tests_properties(hardening.fault_writes hardening.fault_allocs PROPERTIES TIMEOUT 900)
endif()
