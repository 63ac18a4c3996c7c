# The analyzer of record_case goes into the scratch folder.
file(COPY "${CASE}/../record_case/analyzers" DESTINATION "${WORK}")
