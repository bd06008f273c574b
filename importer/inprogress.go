package importer

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/internal/timespan"
)

// DefaultFreshFor is how recently a file must have been modified to count
// as still being written (Options.InProgress) when its storage has
// modification times.
const DefaultFreshFor = 5 * time.Minute

// inProgress reports whether a live file that was just read looks like a
// file a writer is still writing in place, as Aptos writes metadata files
// (create, then write, no rename): it is empty or ends mid-line, the
// complete lines before its cut are valid, and it is fresh: modified
// within FreshFor (a storage with modification times), or else the
// newest file of its kind in the listing (a bucket). It returns why, or "".
// A file that is bad anywhere else, or old, is bad input as ever.
func (r *run) inProgress(sf SourceFile, rd toRead, c checked, modTime int64, hasStat bool) string {
	data := sf.Content
	if !r.opts.InProgress || rd.state != catalog.Live {
		return ""
	}
	if len(data) > 0 && (data[len(data)-1] == '\n' || c.bad == 0) {
		return "" // whole lines, or it parses: nothing in progress to see
	}
	if cut := bytes.LastIndexByte(data, '\n'); cut >= 0 {
		head := sf
		head.Content = data[:cut+1]
		if r.check(head).bad > 0 {
			return "" // bad before its last line: not a matter of waiting
		}
	}
	what := "ends mid-line"
	if len(data) == 0 {
		what = "is empty"
	}
	if hasStat {
		age := time.Since(time.Unix(0, modTime))
		if age >= r.opts.freshFor() {
			return ""
		}
		return fmt.Sprintf("still being written (it %s and was modified %s ago); the next run reads it", what, timespan.Format(max(age, 0).Round(time.Second)))
	}
	if !r.newest[rd.name] {
		return ""
	}
	return fmt.Sprintf("still being written (it %s and is the newest file of its kind); the next run reads it", what)
}

func (o Options) freshFor() time.Duration {
	if o.FreshFor > 0 {
		return o.FreshFor
	}
	return DefaultFreshFor
}

// newestOfKind returns the names that are the newest of their kind among
// live names: for each kind (the name up to its first digit, such as
// "transaction_" or "epoch_ending_compacted_"), the name with the highest
// first number. Aptos names every file by the first version, epoch or
// second it holds, and writes them in increasing order.
func newestOfKind(live []string) map[string]bool {
	type best struct {
		name string
		n    uint64
	}
	bests := map[string]best{}
	for _, name := range live {
		i := strings.IndexAny(name, "0123456789")
		if i < 0 {
			continue
		}
		j := i
		for j < len(name) && name[j] >= '0' && name[j] <= '9' {
			j++
		}
		n, err := strconv.ParseUint(name[i:j], 10, 64)
		if err != nil {
			continue
		}
		kind := name[:i]
		if b, ok := bests[kind]; !ok || n > b.n || (n == b.n && name > b.name) {
			bests[kind] = best{name, n}
		}
	}
	out := make(map[string]bool, len(bests))
	for _, b := range bests {
		out[b.name] = true
	}
	return out
}
