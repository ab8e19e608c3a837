# The interpreter must compute what ONNX Runtime computes on every fixture model
# (fixtures/models/*.onnx with its fixed input MODEL.inputs/*.npy), to 1e-4
# relative. ONNX Runtime comes from npm (tools/setup.sh); without it the test
# prints a notice and is reported as skipped.
find_program(LRSC_NODE NAMES node nodejs)
if(LRSC_NODE)
  add_test(NAME ort_agreement
    COMMAND ${LRSC_NODE} ${PROJECT_SOURCE_DIR}/tools/check_ort_agreement.js
            --lrsc $<TARGET_FILE:onnx-lrsc> --tol 1e-4 --threads 1
            --work ${CMAKE_CURRENT_BINARY_DIR}/ort_agreement)
  set_tests_properties(ort_agreement PROPERTIES
    SKIP_RETURN_CODE 77
    ENVIRONMENT "OPENBLAS_NUM_THREADS=2;ASAN_OPTIONS=detect_leaks=1")
else()
  message(STATUS "node not found: ort_agreement test will be skipped")
  add_test(NAME ort_agreement
    COMMAND ${CMAKE_COMMAND} -E echo "SKIP: node not found; ORT agreement not checked")
  set_tests_properties(ort_agreement PROPERTIES DISABLED TRUE)
endif()
