# Rewrite stage: the models test_rewrite writes (original and rewritten pair per
# op kind and sparse form) must pass the ONNX checker and agree in ONNX Runtime.
set(LRSC_REWRITE_MODELS "${PROJECT_BINARY_DIR}/rewrite_models")
set_tests_properties(test_rewrite PROPERTIES FIXTURES_SETUP rewrite_models)
foreach(mode checker ort)
  add_test(NAME rewrite_${mode}
    COMMAND sh "${CMAKE_CURRENT_SOURCE_DIR}/rewrite_check.sh" ${mode} "${LRSC_REWRITE_MODELS}"
            "${PROJECT_SOURCE_DIR}")
  set_tests_properties(rewrite_${mode} PROPERTIES FIXTURES_REQUIRED rewrite_models
    SKIP_RETURN_CODE 77)
endforeach()
