# The analyzer must lie under ./analyzers, the default root, in the working directory.
file(COPY "${CASE}/analyzers" DESTINATION "${WORK}")
