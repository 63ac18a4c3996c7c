# cmake/InquestAssets.cmake -- inquest_embed_assets(<out.c> <dir> <file>...): a C source with the
# table `ig_console_assets` (integrations/ig_console.h) holding the bytes of each <file> of <dir>,
# its name and a strong ETag (the quoted start of its SHA-256), regenerated when a file changes.
# For the web console's pages, scripts and styles (integrations/console/), which ship inside the
# binary as the Redis function libraries do (InquestEmbed.cmake): nothing to install, no build
# step of their own.

include_guard(GLOBAL)

function(inquest_embed_assets out dir)
    set(paths "")
    foreach(name ${ARGN})
        list(APPEND paths ${dir}/${name})
    endforeach()
    string(REPLACE ";" "," names "${ARGN}")
    add_custom_command(OUTPUT ${out}
        COMMAND ${CMAKE_COMMAND} -DDIR=${dir} -DOUT=${out} -DNAMES=${names}
                -P ${CMAKE_SOURCE_DIR}/cmake/InquestAssets.cmake
        DEPENDS ${paths} ${CMAKE_SOURCE_DIR}/cmake/InquestAssets.cmake
        COMMENT "Embedding the console's assets")
endfunction()

# Script mode: write OUT from the files NAMES (comma-separated) of DIR.
if(CMAKE_SCRIPT_MODE_FILE AND DEFINED NAMES)
    string(REPLACE "," ";" names "${NAMES}")
    set(body "")
    set(table "")
    set(i 0)
    foreach(name ${names})
        file(READ ${DIR}/${name} hex HEX)
        file(SHA256 ${DIR}/${name} sha)
        string(SUBSTRING "${sha}" 0 32 tag)
        string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
        string(LENGTH "${hex}" hex_len)
        math(EXPR len "${hex_len} / 2")
        string(APPEND body "static const unsigned char asset_${i}[] = {${bytes}0};\n")
        string(APPEND table "    {\"${name}\", asset_${i}, ${len}, \"\\\"${tag}\\\"\"},\n")
        math(EXPR i "${i} + 1")
    endforeach()
    file(WRITE ${OUT}.tmp "/* Generated from ${DIR} by cmake/InquestAssets.cmake. */\n"
        "#include \"ig_console.h\"\n\n${body}\n"
        "const ig_console_asset ig_console_assets[] = {\n${table}};\n"
        "const size_t ig_console_n_assets = ${i};\n")
    file(RENAME ${OUT}.tmp ${OUT})
endif()
