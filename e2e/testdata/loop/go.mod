module wisp.e2e/loop

go 1.26
