module wisp.e2e/hello

go 1.26
