package aptos

import (
	"fmt"
	"math"
)

// MaxManifestLen bounds a manifest handle. Aptos handles are short relative
// paths; the bound keeps entry keys well under bbolt's key size limit.
const MaxManifestLen = 4096

// ValidateManifest checks a manifest handle: a relative path of
// '/'-separated segments, each non-empty, not "." or "..", not starting
// with '-', made only of letters, digits and "._-+=@:,". That rules out
// absolute paths, traversal, control characters, whitespace and every
// shell or glob metacharacter, so a handle is safe to pass to the command
// adapter's bash and to join under a storage root.
func ValidateManifest(h string) error {
	if h == "" {
		return invalidf("manifest is empty")
	}
	if len(h) > MaxManifestLen {
		return invalidf("manifest is %d bytes, more than %d", len(h), MaxManifestLen)
	}
	segStart := 0
	for i := 0; i <= len(h); i++ {
		if i < len(h) && h[i] != '/' {
			c := h[i]
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
				c == '.' || c == '_' || c == '-' || c == '+' || c == '=' || c == '@' || c == ':' || c == ','
			if !ok {
				return invalidf("manifest %q: character %q at byte %d is not allowed", h, rune(c), i)
			}
			continue
		}
		seg := h[segStart:i]
		switch {
		case seg == "" && segStart == 0:
			return invalidf("manifest %q is absolute", h)
		case seg == "":
			return invalidf("manifest %q has an empty path segment", h)
		case seg == "." || seg == "..":
			return invalidf("manifest %q has a %q segment", h, seg)
		case seg[0] == '-':
			return invalidf("manifest %q has a segment starting with '-'", h)
		}
		segStart = i + 1
	}
	return nil
}

// ValidateEntry checks the rules the catalog adds to Aptos's own:
// inclusive ranges with first <= last, no last value of u64::MAX (the
// next range could not start), a safe manifest handle, and for
// CompactionTimestamps, handles that name metadata files.
func ValidateEntry(m *Metadata) error {
	switch m.Kind {
	case KindEpochEnding:
		e := &m.EpochEnding
		if e.FirstEpoch > e.LastEpoch {
			return invalidf("first_epoch %d > last_epoch %d", e.FirstEpoch, e.LastEpoch)
		}
		if e.FirstVersion > e.LastVersion {
			return invalidf("first_version %d > last_version %d", e.FirstVersion, e.LastVersion)
		}
		if e.LastEpoch == math.MaxUint64 {
			return invalidf("last_epoch %d (u64::MAX): the next range would overflow", e.LastEpoch)
		}
		if e.LastVersion == math.MaxUint64 {
			return invalidf("last_version %d (u64::MAX): the next range would overflow", e.LastVersion)
		}
		return ValidateManifest(e.Manifest)
	case KindStateSnapshot:
		return ValidateManifest(m.StateSnapshot.Manifest)
	case KindTransaction:
		t := &m.Transaction
		if t.FirstVersion > t.LastVersion {
			return invalidf("first_version %d > last_version %d", t.FirstVersion, t.LastVersion)
		}
		if t.LastVersion == math.MaxUint64 {
			return invalidf("last_version %d (u64::MAX): the next range would overflow", t.LastVersion)
		}
		return ValidateManifest(t.Manifest)
	case KindIdentity:
		return nil
	case KindCompactionTimestamps:
		// In map order, without sorting a million keys (a compaction's
		// own map); a bad key sorts them, so the error names the first
		// bad key in sorted order whatever the map's order.
		for h := range m.Timestamps.Timestamps {
			if ValidateHandle(h) == nil {
				continue
			}
			for _, h := range m.Timestamps.SortedHandles() {
				if err := ValidateHandle(h); err != nil {
					return fmt.Errorf("compaction_timestamps key: %w", err)
				}
			}
		}
		return nil
	}
	return invalidf("unknown kind %d", m.Kind)
}

// ValidateHandle checks a metadata file handle: "metadata/<name>" with a
// ShellSafeName name.
func ValidateHandle(h string) error {
	const prefix = MetadataDir + "/"
	if len(h) <= len(prefix) || h[:len(prefix)] != prefix {
		return invalidf("file handle %q is not %s/<name>", h, MetadataDir)
	}
	return ValidName(h[len(prefix):])
}

// invalidError is a rule violation: it matches ErrInvalid with errors.Is
// but does not repeat "invalid input" in every message.
type invalidError struct {
	msg  string
	also error // a second sentinel it matches, or nil
}

func (e *invalidError) Error() string { return e.msg }
func (e *invalidError) Is(target error) bool {
	return target == ErrInvalid || (e.also != nil && target == e.also)
}

func invalidf(format string, args ...any) error {
	return &invalidError{msg: fmt.Sprintf(format, args...)}
}

// Invalidf returns an error that matches ErrInvalid with errors.Is and
// reads exactly as formatted, without a trailing ": invalid input".
func Invalidf(format string, args ...any) error { return invalidf(format, args...) }
