# analyzers/d/a and analyzers/d/b both link to analyzers/: followed, they loop without end.
file(MAKE_DIRECTORY "${WORK}/analyzers/d")
file(COPY_FILE "${CASE}/analyzer.lua" "${WORK}/analyzers/d/spike.lua")
file(CREATE_LINK .. "${WORK}/analyzers/d/a" SYMBOLIC)
file(CREATE_LINK .. "${WORK}/analyzers/d/b" SYMBOLIC)
