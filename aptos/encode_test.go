package aptos_test

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/metactl/metactl/aptos"
)

// TestAppendTimestampsLine: given the map's keys sorted, the line is
// AppendLine's; given anything else (unsorted, missing or extra keys, a
// key AppendLine sanitizes), it is AppendLine's all the same.
func TestAppendTimestampsLine(t *testing.T) {
	u := func(v uint64) *uint64 { return &v }
	big := map[string]*uint64{}
	for i := range 1000 {
		big[fmt.Sprintf("metadata/transaction_%d-%d.meta", i*100, i*100+99)] = u(uint64(1700000000 + i%7))
	}
	big["metadata/identity.meta"] = nil
	sortedKeys := func(m map[string]*uint64) []string { return slices.Sorted(maps.Keys(m)) }
	for _, tc := range []struct {
		name   string
		m      map[string]*uint64
		sorted func(map[string]*uint64) []string
	}{
		{"empty", map[string]*uint64{}, sortedKeys},
		{"nil map", nil, sortedKeys},
		{"sorted", map[string]*uint64{"b": u(5), "a": nil, "c\"\n": u(0)}, sortedKeys},
		{"large sorted", big, sortedKeys},
		{"unsorted", map[string]*uint64{"b": u(5), "a": nil}, func(map[string]*uint64) []string { return []string{"b", "a"} }},
		{"repeated key", map[string]*uint64{"b": u(5), "a": nil}, func(map[string]*uint64) []string { return []string{"a", "a"} }},
		{"missing key", map[string]*uint64{"b": u(5), "a": nil, "c": u(1)}, func(map[string]*uint64) []string { return []string{"a", "c"} }},
		{"key not in map", map[string]*uint64{"b": u(5), "a": nil}, func(map[string]*uint64) []string { return []string{"a", "x"} }},
		{"nil list", map[string]*uint64{"a": nil}, func(map[string]*uint64) []string { return nil }},
		// "a\xff" is written "a\uFFFD", which sorts after "a\xef..." raw keys
		// differently and collides with a key already spelled so.
		{"invalid UTF-8", map[string]*uint64{"a\xff": u(1), "a\ufffd": u(2), "a\xef": u(3), "b": nil}, sortedKeys},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := aptos.CompactionTimestamps{FileCompactedAt: 1700000123, Timestamps: tc.m}
			m := aptos.NewCompactionTimestamps(c)
			want := aptos.AppendLine([]byte("x"), &m)
			got := aptos.AppendTimestampsLine([]byte("x"), &c, tc.sorted(tc.m))
			if string(got) != string(want) {
				t.Errorf("AppendTimestampsLine = %s\nAppendLine          = %s", got, want)
			}
		})
	}
}
