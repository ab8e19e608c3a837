# Malformed models are refused with one clear line (see tests/bad_models.sh).
add_test(NAME bad_models
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/bad_models.sh $<TARGET_FILE:onnx-lrsc>
          ${PROJECT_SOURCE_DIR}/fixtures/bad)
