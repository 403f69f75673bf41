module wisp.e2e/notjson

go 1.26
