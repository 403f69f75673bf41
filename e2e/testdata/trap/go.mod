module wisp.e2e/trap

go 1.26
