# Hostile input and interrupted writes (issue 8).
add_executable(save_helper ${CMAKE_CURRENT_SOURCE_DIR}/save_helper.c)
target_link_libraries(save_helper PRIVATE lrsc)
# Interrupted saves leave nothing behind and never touch the input or an
# existing output.  MIB: size of the generated model (200 MiB when run by hand;
# the ctest run uses 16 MiB and four moments to stay quick on a shared machine).
add_test(NAME kill_mid_write
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/kill_mid_write.sh $<TARGET_FILE:save_helper> 16 "5 30 60 90")
set_tests_properties(kill_mid_write PROPERTIES ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1")
