module wisp.e2e/alloc

go 1.26
