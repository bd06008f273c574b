package boltstore

import (
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/metactl/metactl/catalog"
)

// probe reads every page header below the high-water mark and every key
// and value of every bucket, touching the first and last byte of each, on
// the calling goroutine with faults turned into panics. A damaged file
// whose pages point outside the file faults here, where it is recovered
// and named (the page, or the bucket and the key after the last good one),
// instead of on bbolt's Check goroutine, where it would kill the process.
func probe(tx *bolt.Tx) (err error) {
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	var (
		where   = "the meta pages"
		bucket  []string
		n       int
		lastKey []byte // the last key read whole: safe to print
	)
	defer func() {
		if r := recover(); r != nil {
			if bucket != nil {
				where = fmt.Sprintf("key %d of bucket %s", n+1, strings.Join(bucket, "/"))
				if lastKey != nil {
					where += fmt.Sprintf(" (after key %s)", quoteKey(lastKey))
				}
			}
			err = fmt.Errorf("%w: fault reading %s: %v", catalog.ErrCorrupt, where, r)
		}
	}()
	for id := 0; ; id++ {
		where = "page " + strconv.Itoa(id)
		info, err := tx.Page(id)
		if err != nil {
			return fmt.Errorf("%w: %s: %w", catalog.ErrCorrupt, where, err)
		}
		if info == nil {
			break // the high-water mark
		}
	}
	var sink byte
	var walk func(b *bolt.Bucket) error
	walk = func(b *bolt.Bucket) error {
		n, lastKey = 0, nil
		return b.ForEach(func(k, v []byte) error {
			if len(k) > 0 {
				sink ^= k[0] ^ k[len(k)-1]
			}
			if len(v) > 0 {
				sink ^= v[0] ^ v[len(v)-1]
			}
			if v == nil {
				if sub := b.Bucket(k); sub != nil {
					saveN, saveKey := n, lastKey
					bucket = append(bucket, quoteKey(k))
					if err := walk(sub); err != nil {
						return err
					}
					bucket = bucket[:len(bucket)-1]
					n, lastKey = saveN, saveKey
				}
			}
			n++
			lastKey = k
			return nil
		})
	}
	err = tx.ForEach(func(name []byte, b *bolt.Bucket) error {
		bucket = []string{quoteKey(name)}
		return walk(b)
	})
	probeSink = sink
	return err
}

// probeSink keeps the probe's reads from being optimised away.
var probeSink byte

// quoteKey prints a key of at most 64 bytes as a quoted string.
func quoteKey(k []byte) string {
	if len(k) > 64 {
		return strconv.Quote(string(k[:64])) + "..."
	}
	return strconv.Quote(string(k))
}
