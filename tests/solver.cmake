# Solver: independent numpy cross-check, when /usr/bin/python3 has numpy.
execute_process(COMMAND /usr/bin/python3 -c "import numpy"
                RESULT_VARIABLE LRSC_SOLVER_NUMPY OUTPUT_QUIET ERROR_QUIET)
if(LRSC_SOLVER_NUMPY EQUAL 0)
  add_test(NAME solver_numpy_ref
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/solver_ref.py
                   $<TARGET_FILE:test_solver> ${CMAKE_CURRENT_BINARY_DIR}/solver_ref)
  set_tests_properties(solver_numpy_ref PROPERTIES
    ENVIRONMENT "OPENBLAS_NUM_THREADS=2;ASAN_OPTIONS=detect_leaks=1")
endif()
