module wisp.e2e/sleep

go 1.26
