module example.com/hello

go 1.26

require github.com/wispfaas/wisp/sdk/go v0.0.0

replace github.com/wispfaas/wisp/sdk/go => ../..
