//go:build !unix

package adaptercall

// noFollow: no O_NOFOLLOW here (metactl's CLI is Unix only).
const noFollow = 0
