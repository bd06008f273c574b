package samplegen

import "testing"

// The coordinator's own test vectors (coordinators/backup.rs
// test_get_batch_range, docs/aptos-format.md §10 item 7).
func TestGetBatchRange(t *testing.T) {
	p := func(v uint64) *uint64 { return &v }
	cases := []struct {
		last         *uint64
		b            uint64
		first, last2 uint64
	}{
		{nil, 100, 0, 0},
		{p(0), 100, 1, 100},
		{p(100), 50, 101, 150},
		{p(150), 100, 151, 200},
		{p(200), 100, 201, 300},
		{p(0), 1_000_000, 1, 1_000_000},
		{p(1_000_000), 1_000_000, 1_000_001, 2_000_000},
	}
	for _, c := range cases {
		f, l := getBatchRange(c.last, c.b)
		if f != c.first || l != c.last2 {
			t.Errorf("getBatchRange(%v, %d) = (%d, %d), want (%d, %d)", c.last, c.b, f, l, c.first, c.last2)
		}
	}
}
