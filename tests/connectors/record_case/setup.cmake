# The analyzer goes into the scratch folder, where `record --case NAME` puts its case beside it.
file(COPY "${CASE}/analyzers" DESTINATION "${WORK}")
