# --- whole-library checks ---------------------------------------------------
# Exactly the functions declared NID_API in the public headers are exported
# (the list generated from them, cmake/nid_exports.cmake) and the SONAME
# carries the major version.
add_test(NAME exported_symbols
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/check_symbols.sh $<TARGET_FILE:noduleid>
          ${NID_EXPORT_LIST})

# Each public header compiles alone (C and C++, -Wall -Wextra -Werror
# -pedantic, gcc and clang when installed) with C linkage, the umbrella
# includes every module header, NID_DEPRECATED warns with its message, and
# the export check fails on a list with a name too many or too few.
set(_nid_header_compilers --cc ${CMAKE_C_COMPILER} --cxx ${CMAKE_CXX_COMPILER})
find_program(NID_HEADER_TEST_CLANG clang)
find_program(NID_HEADER_TEST_CLANGXX clang++)
if(NID_HEADER_TEST_CLANG AND NID_HEADER_TEST_CLANGXX
   AND NOT CMAKE_C_COMPILER_ID STREQUAL "Clang")
  list(APPEND _nid_header_compilers
    --cc ${NID_HEADER_TEST_CLANG} --cxx ${NID_HEADER_TEST_CLANGXX})
endif()
add_test(NAME public_headers
  COMMAND ${NID_TEST_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/headers/check_headers.py
          --include ${PROJECT_SOURCE_DIR}/include ${_nid_header_compilers}
          --library $<TARGET_FILE:noduleid> --exports ${NID_EXPORT_LIST}
          --check-symbols ${CMAKE_CURRENT_SOURCE_DIR}/check_symbols.sh)
set_tests_properties(public_headers PROPERTIES TIMEOUT 120)

# C++ applications are first-class users: a C++ consumer built in-tree.
add_executable(test_cxx_consumer install/consumer.cpp)
target_link_libraries(test_cxx_consumer PRIVATE noduleid)
add_test(NAME cxx_consumer COMMAND test_cxx_consumer)

# Install into a scratch prefix and build against it with pkg-config and
# find_package. Skipped under sanitizers: the consumers are plain builds and
# cannot load a sanitizer-instrumented library.
if(NOT NID_SANITIZE)
  add_test(NAME install_consumers
    COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/install/run.sh
            ${PROJECT_BINARY_DIR} ${CMAKE_CURRENT_BINARY_DIR}/install-test)
  set_tests_properties(install_consumers PROPERTIES TIMEOUT 300)
endif()

# The noduleid program: behaviour, JSON output, errors and exit codes.
if(TARGET noduleid-cli)
  add_test(NAME cli
    COMMAND ${NID_TEST_PYTHON} -m pytest -q -p no:cacheprovider
            ${CMAKE_CURRENT_SOURCE_DIR}/cli)
  set_tests_properties(cli PROPERTIES
    ENVIRONMENT "NID_CLI=$<TARGET_FILE:noduleid-cli>;NID_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
    TIMEOUT 300)
endif()

# The phantom generator (phantom/): its own pytest suite, and its output
# feeding the library end to end (exam JSON -> tracklets -> clips -> PNG).
# Both need FFmpeg; they run once, in the full (unsanitized) build.
if(NID_WITH_VIDEO AND NOT NID_SANITIZE)
  add_test(NAME phantom
    COMMAND ${NID_TEST_PYTHON} -m pytest -q -p no:cacheprovider
            ${PROJECT_SOURCE_DIR}/phantom/tests
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(phantom PROPERTIES TIMEOUT 600)
  if(TARGET noduleid-cli)
    add_test(NAME phantom_pipeline
      COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/phantom_pipeline.sh
              $<TARGET_FILE:noduleid-cli> ${CMAKE_CURRENT_BINARY_DIR}/phantom-pipeline)
    set_tests_properties(phantom_pipeline PROPERTIES TIMEOUT 600)
  endif()
endif()

# The training code (training/, issue 7): generates the phantom `ci` set,
# overfits the CM and VM on a fixed batch, trains each for a few iterations
# on tiny clips, exports packages and checks that the C library's
# embeddings equal PyTorch's. Uses the Python binding built by the
# python_binding_build fixture (bindings/python/CMakeLists.txt); needs
# FFmpeg and libtorch, so only in the full, unsanitized build.
if(NID_WITH_VIDEO AND NID_WITH_TORCH AND NID_BUILD_PYTHON AND NOT NID_SANITIZE)
  # nid_binding_pytest(NAME DIR [VAR=VALUE...]): pytest on DIR, run from the
  # source tree, with the binding of the nid_python fixture importable.
  function(nid_binding_pytest name dir)
    set(work ${PROJECT_BINARY_DIR}/bindings/python/python-test)
    set(env "PYTHONPATH=${work}/site"
            "LD_LIBRARY_PATH=${work}/prefix/${CMAKE_INSTALL_LIBDIR}"
            PYTHONDONTWRITEBYTECODE=1 OMP_WAIT_POLICY=PASSIVE ${ARGN})
    add_test(NAME ${name}
      COMMAND ${NID_TEST_PYTHON} -m pytest -q -p no:cacheprovider ${dir}
      WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
    set_tests_properties(${name} PROPERTIES
      FIXTURES_REQUIRED nid_python
      TIMEOUT 300
      ENVIRONMENT "${env}")
  endfunction()
  nid_binding_pytest(training ${PROJECT_SOURCE_DIR}/training/tests)

  # The evaluation commands (evaluation/, issue 9): `reid` and `cluster` on
  # the phantom `ci` set with random-weight CM/VM packages; the tables are
  # recomputed from the written per-pair scores and per-tracklet labels
  # (scikit-learn AUC, numpy DeLong, brute-force pair counts and BCubed).
  nid_binding_pytest(evaluation ${PROJECT_SOURCE_DIR}/evaluation/tests
    MPLBACKEND=Agg)

  # phantom/generate, python3 -m training, python3 -m evaluation: bad
  # arguments give one line (what to change), exit 2, no traceback
  # (issue 17). About 15 s.
  nid_binding_pytest(python_commands
    ${CMAKE_CURRENT_SOURCE_DIR}/python_commands)
endif()

# The library links no backend library; each module exports its entry only.
set(_nid_module_files "")
foreach(_b IN LISTS NID_BACKENDS)
  list(APPEND _nid_module_files $<TARGET_FILE:${_b}>)
endforeach()
add_test(NAME backend_symbols
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/check_backend_symbols.sh
          $<TARGET_FILE:noduleid> ${_nid_module_files})

# Backend modules (lib/core/backend.h, issue 14), one process per case:
# a program that only clusters maps no libtorch/FFmpeg/DCMTK; with
# NODULEID_BACKEND_DIR at an empty directory model and video calls return
# NID_ENOTSUP naming the module and everything else works; 8 threads
# racing to the first video open load the FFmpeg module once.
add_executable(backend_probe backend_probe.c)
target_link_libraries(backend_probe PRIVATE noduleid Threads::Threads)
set(NID_EMPTY_BACKEND_DIR ${CMAKE_CURRENT_BINARY_DIR}/no-backends)
file(MAKE_DIRECTORY ${NID_EMPTY_BACKEND_DIR})
set(_nid_probe_video ${PROJECT_SOURCE_DIR}/examples/sample-exam/P0001/v0.mp4)
add_test(NAME backend_lazy COMMAND backend_probe core-only)
add_test(NAME backend_missing COMMAND backend_probe missing ${_nid_probe_video})
set_tests_properties(backend_missing PROPERTIES
  ENVIRONMENT "NODULEID_BACKEND_DIR=${NID_EMPTY_BACKEND_DIR}")
if(NID_WITH_VIDEO)
  add_test(NAME backend_threads COMMAND backend_probe threads ${_nid_probe_video})
endif()
set_tests_properties(backend_lazy backend_missing PROPERTIES TIMEOUT 60)
if(NID_SANITIZE)
  # libtorch, FFmpeg, DCMTK are linked in there (lib/CMakeLists.txt)
  set(_nid_probe_tests backend_lazy backend_missing)
  if(NID_WITH_VIDEO)
    list(APPEND _nid_probe_tests backend_threads)
  endif()
  set_property(TEST ${_nid_probe_tests} backend_symbols APPEND PROPERTY ENVIRONMENT
    "NID_PROBE_PRELOADED=1")
endif()

# The installed tree is relocatable: install into a scratch prefix, move
# it, run the installed noduleid (cluster; group on the sample exam with the
# installed default model, compared with this build's output) without
# LD_LIBRARY_PATH; with NODULEID_BACKEND_DIR at an empty directory the
# model commands say which module is missing and `cluster` still works.
if(NOT NID_SANITIZE AND TARGET noduleid-cli)
  add_test(NAME install_relocated
    COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/install/relocate.sh
            ${PROJECT_BINARY_DIR} ${CMAKE_CURRENT_BINARY_DIR}/install-relocated
            $<TARGET_FILE:noduleid-cli> ${PROJECT_SOURCE_DIR})
  set_tests_properties(install_relocated PROPERTIES TIMEOUT 300
    ENVIRONMENT "OMP_WAIT_POLICY=PASSIVE")
endif()
