module wisp.e2e/exit3

go 1.26
