module wisp.e2e/reactor

go 1.26
