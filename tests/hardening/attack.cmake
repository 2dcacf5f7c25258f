# Attack checkpoints (tests/hardening/attack/, from tests/reference/gen_attack_pickles.py) opened in a
# seccomp-sandboxed child: each refused with its reason, nothing spawned or written. Skipped (77) where
# seccomp is unavailable.
add_executable(test_attack ${CMAKE_CURRENT_LIST_DIR}/test_attack.c)
target_link_libraries(test_attack PRIVATE diorama)
add_test(NAME hardening.attack COMMAND test_attack ${CMAKE_CURRENT_LIST_DIR}/attack)
set_tests_properties(hardening.attack PROPERTIES SKIP_RETURN_CODE 77)

# One step past every input limit (safetensors, graph, prompt, media): each refused naming the limit.
# The 2^20-tensor safetensors case (a 60 MB header) runs only outside the sanitizer build.
add_executable(test_limits ${CMAKE_CURRENT_LIST_DIR}/test_limits.c)
target_link_libraries(test_limits PRIVATE diorama)
add_dependencies(test_limits diorama_cli dio_text dio_text_tokenizer dio_cpu)
if(DIO_SANITIZE)
  set(dio_limits_heavy "")
else()
  set(dio_limits_heavy "--heavy")
endif()
add_test(NAME hardening.limits COMMAND test_limits ${CMAKE_CURRENT_BINARY_DIR}/limits_scratch
  $<TARGET_FILE:diorama_cli> ${DIO_TEST_PLUGIN_DIR} ${PROJECT_SOURCE_DIR} ${dio_limits_heavy})
