# A token file as `echo … > token` leaves it under the usual umask: readable by all.
file(WRITE "${WORK}/token" "file-token\n")
file(CHMOD "${WORK}/token" FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
