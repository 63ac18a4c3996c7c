# cmake/InquestEmbed.cmake -- inquest_embed(<out.c> <symbol> <file>): a C source defining
# `const char <symbol>[]` (NUL-terminated) and `const size_t <symbol>_len` with the bytes of
# <file>, regenerated when <file> changes. For text that ships inside the binary, such as the
# queue's Redis function library (runtime/rt_queue.lua), so that no install path is needed.

include_guard(GLOBAL)

function(inquest_embed out symbol file)
    add_custom_command(OUTPUT ${out}
        COMMAND ${CMAKE_COMMAND} -DIN=${file} -DOUT=${out} -DSYMBOL=${symbol}
                -P ${CMAKE_SOURCE_DIR}/cmake/InquestEmbed.cmake
        DEPENDS ${file} ${CMAKE_SOURCE_DIR}/cmake/InquestEmbed.cmake
        COMMENT "Embedding ${file}")
endfunction()

# Script mode: write OUT from IN.
if(CMAKE_SCRIPT_MODE_FILE AND DEFINED IN)
    file(READ ${IN} hex HEX)
    string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
    string(LENGTH "${hex}" hex_len)
    math(EXPR len "${hex_len} / 2")
    file(WRITE ${OUT} "/* Generated from ${IN} by cmake/InquestEmbed.cmake. */\n"
        "#include <stddef.h>\n"
        "extern const char ${SYMBOL}[];\nextern const size_t ${SYMBOL}_len;\n"
        "const char ${SYMBOL}[] = {${bytes}0};\n"
        "const size_t ${SYMBOL}_len = ${len};\n")
endif()
