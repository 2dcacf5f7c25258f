# Two pipelines on two threads (issue 10, item 6): tiny-text2world and tiny-image2world at once on the
# CPU backend, each checked bit for bit against a run alone. In every build; the DIO_TSAN build
# (tools/test.sh --tsan) runs it under ThreadSanitizer with OpenMP held to one thread, because libgomp
# is not instrumented and its worker threads would only produce reports TSan cannot reason about.
add_executable(test_threads ${CMAKE_CURRENT_SOURCE_DIR}/test_threads.c)
target_link_libraries(test_threads PRIVATE diorama Threads::Threads)
add_dependencies(test_threads dio_cpu dio_dit dio_vae_encoder dio_vae_decoder dio_text dio_text_tokenizer
  dio_sampler_flow_unipc)
add_test(NAME hardening.threads COMMAND test_threads ${DIO_TEST_PLUGIN_DIR} ${PROJECT_SOURCE_DIR}
  ${CMAKE_CURRENT_BINARY_DIR}/threads)
set_tests_properties(hardening.threads PROPERTIES TIMEOUT 900 LABELS threads)
if(DIO_TSAN)
  set_tests_properties(hardening.threads PROPERTIES ENVIRONMENT "OMP_NUM_THREADS=1")
endif()
