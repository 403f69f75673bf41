package blobs

import (
	"context"
	"fmt"
	"time"
)

// GCOptions configure one garbage collection.
type GCOptions struct {
	// Grace keeps blobs (and staged uploads) written or touched less than
	// this long ago: an upload comes before the action that references
	// it, and a create may be on its way. 1 h when 0.
	Grace time.Duration
	// DryRun reports what would be deleted and deletes nothing.
	DryRun bool
	// Now is the time ages are measured from; time.Now() when zero.
	Now time.Time
}

// GCReport is what a collection found and did.
type GCReport struct {
	DryRun bool          `json:"dryRun"`
	Grace  time.Duration `json:"graceNs"`
	// Blobs is how many blobs the store holds; Referenced and Young how
	// many were kept because an action uses them or they are new.
	Blobs      int `json:"blobs"`
	Referenced int `json:"referenced"`
	Young      int `json:"young"`
	// Deleted are the blobs and staged uploads removed (or, in a dry run,
	// that would be), DeletedBytes their size.
	Deleted      []Object `json:"deleted"`
	DeletedBytes int64    `json:"deletedBytes"`
	// Errors are deletions that failed; the collection goes on past them.
	Errors []string `json:"errors,omitempty"`
}

// GC deletes the blobs of s that no action references (referenced says
// whether one does) and that are older than the grace period, and the
// leftovers of uploads older than it. referenced is asked again right
// before each deletion, so that an action created during the walk keeps
// its blob. It returns the first error that stops the walk; failed
// deletions are listed in the report.
func GC(ctx context.Context, s Store, referenced func(digest string) bool, opts GCOptions) (*GCReport, error) {
	if opts.Grace == 0 {
		opts.Grace = time.Hour
	}
	if opts.Grace < 0 {
		return nil, fmt.Errorf("the grace period must not be negative, not %s", opts.Grace)
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	rep := &GCReport{DryRun: opts.DryRun, Grace: opts.Grace, Deleted: []Object{}}
	var doomed []Object
	err := s.Walk(ctx, func(o Object) error {
		if o.Staged == "" {
			rep.Blobs++
			if referenced(o.Digest) {
				rep.Referenced++
				return nil
			}
		}
		if now.Sub(o.Modified) < opts.Grace {
			if o.Staged == "" {
				rep.Young++
			}
			return nil
		}
		doomed = append(doomed, o)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("garbage collection: %w", err)
	}
	for _, o := range doomed {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if o.Staged == "" && referenced(o.Digest) {
			rep.Referenced++ // created meanwhile
			continue
		}
		if !opts.DryRun {
			var err error
			if o.Staged != "" {
				err = s.DeleteStaged(ctx, o)
			} else {
				err = s.Delete(ctx, o.Digest)
			}
			if err != nil {
				rep.Errors = append(rep.Errors, err.Error())
				continue
			}
		}
		rep.Deleted = append(rep.Deleted, o)
		rep.DeletedBytes += o.Size
	}
	return rep, nil
}
