# Compression quality: --max-drop on the Fashion-MNIST fixture, the written
# model's agreement with the original checked in ONNX Runtime on held-out and
# unseen images (tests/max_drop_check.py).  Skipped (77) without onnx/ORT.
if(EXISTS /usr/bin/python3)
  add_test(NAME quality_max_drop
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/max_drop_check.py
            --lrsc $<TARGET_FILE:onnx-lrsc> --src ${PROJECT_SOURCE_DIR}
            --work ${CMAKE_CURRENT_BINARY_DIR}/quality_max_drop)
  set_tests_properties(quality_max_drop PROPERTIES SKIP_RETURN_CODE 77 LABELS e2e
    ENVIRONMENT "OPENBLAS_NUM_THREADS=2;ASAN_OPTIONS=detect_leaks=1")
endif()
