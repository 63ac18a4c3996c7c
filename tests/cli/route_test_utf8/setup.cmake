# An alert whose alertname is 121 bytes of non-ASCII text: the reason a route did not take it
# quotes the value cut at 80 bytes, which falls inside a character.
file(WRITE "${WORK}/utf8.json" "{\"version\":\"4\",\"alerts\":[{\"status\":\"firing\",\"labels\":{\"alertname\":\"déééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé\",\"env\":\"prod\"}}]}")
