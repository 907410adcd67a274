# nid_exports.cmake - the export list of libnoduleid, generated from the
# public headers (cmake -P; run at build time by lib/CMakeLists.txt).
#
#   cmake -DINCLUDE_DIR=include -DTEMPLATE=lib/noduleid.map.in
#         -DMAP=build/lib/noduleid.map -DLIST=build/lib/noduleid.exports
#         -P cmake/nid_exports.cmake
#
# Every function declared NID_API in include/noduleid.h and
# include/noduleid/*.h (comments removed) goes into the global list of the
# linker version script MAP (TEMPLATE with @NID_EXPORTS@ replaced; the
# template keeps the version nodes) and, one name a line, into LIST, which
# tests/check_symbols.sh compares with what the built library exports.
# Functions marked NID_EXPERIMENTAL are listed with a comment saying so.
# The outputs are rewritten only when their content changes.
cmake_minimum_required(VERSION 3.18)
foreach(_v INCLUDE_DIR TEMPLATE MAP LIST)
  if(NOT DEFINED ${_v})
    message(FATAL_ERROR "nid_exports.cmake: -D${_v}=... is required")
  endif()
endforeach()

file(GLOB _headers "${INCLUDE_DIR}/noduleid/*.h")
list(SORT _headers)
set(_text "")
foreach(_h "${INCLUDE_DIR}/noduleid.h" ${_headers})
  file(READ "${_h}" _t)
  string(APPEND _text "${_t}\n")
endforeach()
# CMake lists split at ';': make them harmless before any list operation.
string(REPLACE ";" "@SEMI@" _text "${_text}")
# Remove /* ... */ comments, then // comments.
string(REGEX REPLACE "/\\*([^*]|\\*+[^*/])*\\*+/" " " _text "${_text}")
string(REGEX REPLACE "//[^\n]*" "" _text "${_text}")

# A name may be parenthesised, NID_API void (nid_x_init)(nid_x *p), where
# a function-like macro of the same name sits next to it (core.h,
# "Extensible structs").
string(REGEX MATCHALL "(NID_EXPERIMENTAL[ \t\r\n]+)?NID_API[^@(]*[^A-Za-z0-9_]nid_[A-Za-z0-9_]+[ \t\r\n]*[)]?[ \t\r\n]*\\("
       _decls "${_text}")
set(_names "")
set(_experimental "")
foreach(_d IN LISTS _decls)
  string(REGEX MATCH "nid_[A-Za-z0-9_]+[ \t\r\n]*[)]?[ \t\r\n]*\\($" _n "${_d}")
  string(REGEX REPLACE "[ \t\r\n]*[)]?[ \t\r\n]*\\($" "" _n "${_n}")
  if(_n IN_LIST _names)
    message(FATAL_ERROR "nid_exports.cmake: ${_n} is declared NID_API twice")
  endif()
  list(APPEND _names ${_n})
  if(_d MATCHES "^NID_EXPERIMENTAL")
    list(APPEND _experimental ${_n})
  endif()
endforeach()
list(LENGTH _names _count)
if(_count LESS 20)
  message(FATAL_ERROR "nid_exports.cmake: only ${_count} NID_API functions found in ${INCLUDE_DIR}")
endif()
list(SORT _names)

set(NID_EXPORTS "")
set(_list "")
foreach(_n IN LISTS _names)
  if(_n IN_LIST _experimental)
    string(APPEND NID_EXPORTS "    ${_n}; /* NID_EXPERIMENTAL */\n")
  else()
    string(APPEND NID_EXPORTS "    ${_n};\n")
  endif()
  string(APPEND _list "${_n}\n")
endforeach()
string(REGEX REPLACE "\n$" "" NID_EXPORTS "${NID_EXPORTS}")
configure_file("${TEMPLATE}" "${MAP}" @ONLY)
file(CONFIGURE OUTPUT "${LIST}" CONTENT "${_list}" @ONLY)
