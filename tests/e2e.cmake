# End-to-end: `onnx-lrsc compress` on the fixture models with several option
# sets; each output must pass the ONNX checker, run in ONNX Runtime with the
# same result as `onnx-lrsc run`, be reproducible byte for byte, keep the
# graph's inputs/outputs and come with a valid JSON report (tests/e2e_check.py).
# Skipped (77) when python onnx or onnxruntime-node is missing.
set(LRSC_E2E_MODELS tiny_cnn mlp_gemm matmul_const constant_weights residual_branches
    conv_autopad conv_depthwise conv_dilations conv_groups conv_pads_strides old_ir3
    external_data fashion_mnist_alexnetish cifar10_vggish)
set(LRSC_E2E_PY /usr/bin/python3)
if(EXISTS ${LRSC_E2E_PY})
  foreach(m ${LRSC_E2E_MODELS})
    add_test(NAME e2e_${m}
      COMMAND ${LRSC_E2E_PY} ${CMAKE_CURRENT_SOURCE_DIR}/e2e_check.py
              --lrsc $<TARGET_FILE:onnx-lrsc> --src ${PROJECT_SOURCE_DIR}
              --work ${CMAKE_CURRENT_BINARY_DIR}/e2e --model ${m})
    set_tests_properties(e2e_${m} PROPERTIES SKIP_RETURN_CODE 77 LABELS e2e
      ENVIRONMENT "OPENBLAS_NUM_THREADS=2;ASAN_OPTIONS=detect_leaks=1")
  endforeach()
  add_test(NAME e2e_bad_usage
    COMMAND ${LRSC_E2E_PY} ${CMAKE_CURRENT_SOURCE_DIR}/e2e_check.py
            --lrsc $<TARGET_FILE:onnx-lrsc> --src ${PROJECT_SOURCE_DIR}
            --work ${CMAKE_CURRENT_BINARY_DIR}/e2e --bad-usage)
  set_tests_properties(e2e_bad_usage PROPERTIES SKIP_RETURN_CODE 77 LABELS e2e
    ENVIRONMENT "OPENBLAS_NUM_THREADS=2;ASAN_OPTIONS=detect_leaks=1")
else()
  message(STATUS "${LRSC_E2E_PY} not found: end-to-end tests will be skipped")
endif()
