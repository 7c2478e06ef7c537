# Embeds files into a C source file at build time (run by CMake with -P, see CMakeLists.txt).
#
#   -DMODE=migrations -DOUT=out.c "-DFILES=a.sql|b.sql|..." [-DNAME=sym]
#       const struct je_migration sym[] (je_migrations by default): one {version, name, sql} per
#       NNN_name.sql, in the order given, ending with {0, NULL, NULL}.
#   -DMODE=file -DOUT=out.c -DIN=path -DNAME=sym
#       const char sym[] (the bytes of IN plus a NUL) and const size_t sym_len (without the NUL).
#   -DMODE=assets -DOUT=out.c -DBASE=dir "-DFILES=dir/a.html|dir/sub/b.js|..."
#       const struct je_console_asset je_console_assets[]: one {path relative to BASE, bytes,
#       length, content type, ETag} per file, ending with {NULL, ...}. The content type comes from
#       the extension (application/octet-stream for an unknown one); the ETag is the strong tag
#       "<SHA-256 of the bytes, hex>", so it changes exactly when the content does.
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
elseif(MODE STREQUAL "assets")
  set(types
    html "text/html\; charset=utf-8" css "text/css\; charset=utf-8"
    js "text/javascript\; charset=utf-8" mjs "text/javascript\; charset=utf-8"
    json "application/json" svg "image/svg+xml" png "image/png" ico "image/x-icon"
    txt "text/plain\; charset=utf-8" woff2 "font/woff2")
  set(body "/* Generated from console/ by scripts/embed_files.cmake. */\n")
  string(APPEND body "#include <stddef.h>\n")
  set(table "")
  set(i 0)
  string(REPLACE "|" ";" FILES "${FILES}")
  foreach(f ${FILES})
    file(RELATIVE_PATH rel ${BASE} ${f})
    # The path is a C string and a URL path: plain names only, so neither needs escaping.
    if(NOT rel MATCHES "^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$")
      message(FATAL_ERROR "embed_files.cmake: console file '${rel}': use letters, digits, "
                          "'_', '-' and '.' only (no leading '.')")
    endif()
    string(REGEX MATCH "[^.]*$" ext "${rel}")
    string(TOLOWER "${ext}" ext)
    list(FIND types "${ext}" k)
    if(k EQUAL -1 OR rel STREQUAL ext)  # no extension, or one not in the list
      set(type "application/octet-stream")
    else()
      math(EXPR k "${k} + 1")
      list(GET types ${k} type)
    endif()
    file(SHA256 ${f} sha)
    file(SIZE ${f} size)
    c_bytes(${f} bytes)
    string(APPEND body "static const char je_console_asset_${i}[] = {${bytes}};\n")
    string(APPEND table
      "    {\"${rel}\", je_console_asset_${i}, ${size}, \"${type}\", \"\\\"${sha}\\\"\"},\n")
    math(EXPR i "${i} + 1")
  endforeach()
  string(APPEND body "struct je_console_asset {\n")
  string(APPEND body "    const char *path, *data;\n    size_t len;\n")
  string(APPEND body "    const char *content_type, *etag;\n};\n")
  string(APPEND body
    "const struct je_console_asset je_console_assets[] = {\n${table}"
    "    {NULL, NULL, 0, NULL, NULL}};\n")
else()
  message(FATAL_ERROR
    "embed_files.cmake: MODE must be 'migrations', 'file' or 'assets', not '${MODE}'")
endif()
file(WRITE ${OUT} "${body}")
