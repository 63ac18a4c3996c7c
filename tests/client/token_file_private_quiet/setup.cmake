file(WRITE "${WORK}/token" "file-token\n")
file(CHMOD "${WORK}/token" FILE_PERMISSIONS OWNER_READ OWNER_WRITE)
