package storage

import (
	"strings"
	"testing"
)

func TestTailBuffer(t *testing.T) {
	big := strings.Repeat("x", stderrTailSize)
	tests := []struct {
		name   string
		writes []string
		want   string
	}{
		{"nothing", nil, ""},
		{"trimmed", []string{"  oops \n"}, "oops"},
		{"several writes", []string{"a", "b\n", "c\n"}, "ab\nc"},
		{"exactly full", []string{big}, big},
		{"one byte over in one write", []string{big + "y"}, "..." + big[1:] + "y"},
		{"over across writes", []string{"head\n", big}, "..." + big},
		{"small write after full", []string{big, "tail"}, "..." + big[4:] + "tail"},
		{"invalid UTF-8 dropped", []string{"a\xffb"}, "ab"},
	}
	for _, tc := range tests {
		var tb tailBuffer
		for _, w := range tc.writes {
			if n, err := tb.Write([]byte(w)); n != len(w) || err != nil {
				t.Fatalf("%s: Write = %d, %v", tc.name, n, err)
			}
		}
		if got := tb.String(); got != tc.want {
			t.Errorf("%s: String = %.40q (%d bytes), want %.40q (%d bytes)", tc.name, got, len(got), tc.want, len(tc.want))
		}
		if len(tb.buf) > stderrTailSize {
			t.Errorf("%s: kept %d bytes", tc.name, len(tb.buf))
		}
	}
}

// TestReadAtMostCapacity: whatever the hint, the buffer never grows past
// maxSize+1 bytes, the most a refused gzip bomb may cost.
func TestReadAtMostCapacity(t *testing.T) {
	const maxSize = 100_000
	for _, hint := range []int64{0, 5, maxSize - 1, maxSize} {
		got, err := readAtMost(strings.NewReader(strings.Repeat("z", maxSize)), maxSize, hint, false)
		if err != nil || len(got) != maxSize || cap(got) > maxSize+1 {
			t.Errorf("hint %d: readAtMost = len %d cap %d, %v; want len %d cap <= %d", hint, len(got), cap(got), err, maxSize, maxSize+1)
		}
		_, err = readAtMost(strings.NewReader(strings.Repeat("z", maxSize+1)), maxSize, hint, false)
		if want := "file too large: more than 100000 bytes"; err == nil || err.Error() != want {
			t.Errorf("hint %d: readAtMost of maxSize+1 bytes = %v, want %q", hint, err, want)
		}
	}
}
