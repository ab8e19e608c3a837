# Calibration: the Python/Pillow preprocessing reference runs at test time (when
# /usr/bin/python3 with Pillow and numpy is present) and writes .npy files that
# test_calib_preprocess compares against.  Without it only the committed
# reference (fixtures/calib_ref) is checked.
set(LRSC_REF_PYTHON "/usr/bin/python3" CACHE FILEPATH "Python with Pillow + numpy for references")
if(EXISTS "${LRSC_REF_PYTHON}")
  execute_process(COMMAND "${LRSC_REF_PYTHON}" -c "import PIL, numpy"
                  RESULT_VARIABLE calib_pil_rc OUTPUT_QUIET ERROR_QUIET)
else()
  set(calib_pil_rc 1)
endif()
if(calib_pil_rc EQUAL 0 AND TEST test_calib_preprocess)
  file(GLOB calib_images "${PROJECT_SOURCE_DIR}/fixtures/images/*")
  list(SORT calib_images)
  set(calib_ref_dir "${PROJECT_BINARY_DIR}/calib_ref")
  # name|reference options; test_calib_preprocess knows the same list.
  set(calib_ref_configs
    "tv_224|--size 224x224 --preset torchvision"
    "caffe_32_nhwc|--size 32x32 --preset caffe --layout nhwc"
    "signed_24x30_stretch|--size 24x30 --preset signed --resize 0"
    "unit_64_gray|--size 64x64 --preset unit --channels 1"
    "raw_100_r100|--size 100x100 --preset raw --resize 100")
  foreach(cfg IN LISTS calib_ref_configs)
    string(FIND "${cfg}" "|" bar)
    string(SUBSTRING "${cfg}" 0 ${bar} cname)
    math(EXPR bar "${bar} + 1")
    string(SUBSTRING "${cfg}" ${bar} -1 opts)
    separate_arguments(parts UNIX_COMMAND "${opts}")
    add_test(NAME calib_ref_${cname}
             COMMAND ${CMAKE_COMMAND} -E env
                     "${LRSC_REF_PYTHON}" "${PROJECT_SOURCE_DIR}/tools/ref_preprocess.py"
                     "${calib_ref_dir}/${cname}.npy" ${calib_images} ${parts})
    set_tests_properties(calib_ref_${cname} PROPERTIES FIXTURES_SETUP calib_ref)
  endforeach()
  file(MAKE_DIRECTORY "${calib_ref_dir}")
  set_tests_properties(test_calib_preprocess PROPERTIES FIXTURES_REQUIRED calib_ref)
endif()
