package workflow

import (
	"strconv"
	"strings"
	"testing"

	"github.com/metactl/metactl/internal/adaptersrv"
)

// TestFastPathFuncConstants: the bash function carries the protocol's
// figures literally (a config is text); each is the one the server uses.
func TestFastPathFuncConstants(t *testing.T) {
	for _, want := range []string{
		"m=" + strconv.Itoa(adaptersrv.FastMaxAnswer) + " ",
		"m=" + strconv.Itoa(adaptersrv.FastMaxAnswer1) + "\n",
		" " + adaptersrv.FastMagic + " ",
		"-N " + strconv.Itoa(adaptersrv.FastHeaderLen) + " ",
		"-N " + strconv.Itoa(32+1) + " ", // the proof line
		`"$a "` + strings.Repeat("[0-9]", 8) + `$'\n'`,
	} {
		if !strings.Contains(fastPathFunc, want) {
			t.Errorf("the fast path's function lacks %q", want)
		}
	}
}
