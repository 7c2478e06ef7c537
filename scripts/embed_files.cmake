# Embeds files into a C source file at build time (run by CMake with -P, see CMakeLists.txt).
#
#   -DMODE=migrations -DOUT=out.c "-DFILES=a.sql|b.sql|..." [-DNAME=sym]
#       const struct je_migration sym[] (je_migrations by default): one {version, name, sql} per
#       NNN_name.sql, in the order given, ending with {0, NULL, NULL}.
#   -DMODE=file -DOUT=out.c -DIN=path -DNAME=sym
#       const char sym[] (the bytes of IN plus a NUL) and const size_t sym_len (without the NUL).
#
# Bytes are written as a hex array, 16 to a line, so any content (quotes, backslashes, UTF-8)
# comes through unchanged.

get_filename_component(ROOT ${CMAKE_CURRENT_LIST_DIR} DIRECTORY)

# Sets ${out} to the bytes of ${path} as C array elements, a NUL appended.
function(c_bytes path out)
  file(READ ${path} hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
  string(REPEAT "0x..," 16 line)  # CMake regexes have no {16}
  string(REGEX REPLACE "(${line})" "\\1\n    " hex "${hex}")
  set(${out} "\n    ${hex}0x00" PARENT_SCOPE)
endfunction()

if(MODE STREQUAL "migrations")
  if(NOT NAME)
    set(NAME je_migrations)
  endif()
  set(body "/* Generated from src/store/migrations by scripts/embed_files.cmake. */\n")
  string(APPEND body "#include <stddef.h>\n")
  set(table "")
  set(i 0)
  string(REPLACE "|" ";" FILES "${FILES}")
  foreach(f ${FILES})
    get_filename_component(name ${f} NAME_WE)
    string(REGEX MATCH "^[0-9]+" version ${name})
    math(EXPR version "${version}")  # 008 is no C integer: write 8
    c_bytes(${f} bytes)
    string(APPEND body "static const char ${NAME}_${i}[] = {${bytes}};\n")
    string(APPEND table "    {${version}, \"${name}\", ${NAME}_${i}},\n")
    math(EXPR i "${i} + 1")
  endforeach()
  string(APPEND body "struct je_migration { int version; const char *name; const char *sql; };\n")
  string(APPEND body "const struct je_migration ${NAME}[] = {\n${table}    {0, NULL, NULL}};\n")
elseif(MODE STREQUAL "file")
  if(NOT NAME MATCHES "^[A-Za-z_][A-Za-z0-9_]*$")
    message(FATAL_ERROR "embed_files.cmake: NAME '${NAME}' is not a C identifier")
  endif()
  file(RELATIVE_PATH rel ${ROOT} ${IN})
  c_bytes(${IN} bytes)
  set(body "/* Generated from ${rel} by scripts/embed_files.cmake. */\n")
  string(APPEND body "#include <stddef.h>\n")
  string(APPEND body "const char ${NAME}[] = {${bytes}};\n")
  string(APPEND body "const size_t ${NAME}_len = sizeof ${NAME} - 1;\n")
else()
  message(FATAL_ERROR "embed_files.cmake: MODE must be 'migrations' or 'file', not '${MODE}'")
endif()
file(WRITE ${OUT} "${body}")
