# --- noduleid group / embed / compare / info (issue 8) ----------------------
# tests/cli_group/: results against independent references (a numpy clip
# builder + PyTorch on the nid_models packages, a Python Algorithm 1,
# connected components, scikit-learn), the --from-group gallery forms,
# the progress bar, the default-model lookup, the man page, and one-line
# errors with documented exit codes. One ctest entry per file keeps each
# short. Without libtorch or FFmpeg the model tests skip and the others
# (errors, lookup, man page, compare without a model) still run.
# cli_report_chromium renders the HTML report in headless Chromium (full
# unsanitized build only).
if(TARGET noduleid-cli)
  set(_nid_cli_env
    "NID_CLI=$<TARGET_FILE:noduleid-cli>"
    "NID_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
    "NID_TEST_MODELS=${NID_MODEL_DIR}"
    "OMP_WAIT_POLICY=PASSIVE"
    "PYTHONDONTWRITEBYTECODE=1")
  foreach(_part embed group group_verify_online inputs compare_info
                gallery_from_group errors_group errors_other
                errors_commands docs usability)
    add_test(NAME cli_group_${_part}
      COMMAND ${NID_TEST_PYTHON} -m pytest -q -p no:cacheprovider
              ${CMAKE_CURRENT_SOURCE_DIR}/cli_group/test_${_part}.py)
    set_tests_properties(cli_group_${_part} PROPERTIES
      ENVIRONMENT "${_nid_cli_env}" TIMEOUT 300)
    if(NID_WITH_TORCH)
      set_property(TEST cli_group_${_part} APPEND PROPERTY
        FIXTURES_REQUIRED nid_models)
    endif()
  endforeach()
  if(NID_WITH_VIDEO AND NID_WITH_TORCH AND NOT NID_SANITIZE)
    add_test(NAME cli_report_chromium
      COMMAND ${NID_TEST_PYTHON} -m pytest -q -p no:cacheprovider
              ${CMAKE_CURRENT_SOURCE_DIR}/cli_group/test_report_chromium.py)
    set_tests_properties(cli_report_chromium PROPERTIES
      ENVIRONMENT "${_nid_cli_env}" TIMEOUT 300)
  endif()
endif()
