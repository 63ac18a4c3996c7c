# tests/sandbox/answer_over_memory: a recording whose first answer is 50,000 zeros in a JSON
# list, written here rather than kept in the tree.
string(REPEAT "0," 49999 zeros)
file(WRITE "${WORK}/recording.json" "{
  \"schema\": \"inquest.recording/v1\",
  \"analyzer\": \"sandbox.case\",
  \"connectors\": { \"api\": { \"type\": \"http\" } },
  \"exchanges\": [
    { \"connector\": \"api\", \"request\": { \"method\": \"GET\", \"path\": \"/zeros\" },
      \"response\": { \"status\": 200, \"content_type\": \"application/json\",
                    \"body_json\": [${zeros}0] } },
    { \"connector\": \"api\", \"request\": { \"method\": \"GET\", \"path\": \"/small\" },
      \"response\": { \"status\": 200, \"content_type\": \"application/json\",
                    \"body_json\": { \"ok\": true } } }
  ]
}
")
