//go:build unix

package adaptercall

import "syscall"

// noFollow refuses a symbolic link as the last element of a path the
// bridge opens in a LocalFs folder.
const noFollow = syscall.O_NOFOLLOW
