# Attack checkpoints (tests/hardening/attack/, from tests/reference/gen_attack_pickles.py) opened in a
# seccomp-sandboxed child: each refused with its reason, nothing spawned or written. Skipped (77) where
# seccomp is unavailable.
add_executable(test_attack ${CMAKE_CURRENT_LIST_DIR}/test_attack.c)
target_link_libraries(test_attack PRIVATE diorama)
add_test(NAME hardening.attack COMMAND test_attack ${CMAKE_CURRENT_LIST_DIR}/attack)
set_tests_properties(hardening.attack PROPERTIES SKIP_RETURN_CODE 77)
