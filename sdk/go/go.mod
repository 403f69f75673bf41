module github.com/wispfaas/wisp/sdk/go

go 1.26
