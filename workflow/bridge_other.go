//go:build !unix

package workflow

// noFollow: no O_NOFOLLOW here (metactl's CLI is Unix only).
const noFollow = 0
