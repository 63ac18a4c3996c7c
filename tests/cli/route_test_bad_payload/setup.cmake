file(WRITE "${WORK}/bad.json" "{\"version\":\"4\",\"alerts\":[{\"status\":\"firing\",\"labels\":{}},{\"status\":\"firing\",\"labels\":[\"x\"]}]}")
