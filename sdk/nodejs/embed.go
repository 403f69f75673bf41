// Package nodejs holds Wisp's Node.js SDK (the npm package @wispfaas/wisp)
// for Go code that ships it: the runtimes package puts it in the nodejs:20
// runtime's global module folder.
package nodejs

import "embed"

// Files are the package's files: package.json, index.js and index.d.ts.
//
//go:embed package.json index.js index.d.ts
var Files embed.FS
