package operator

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jetcron/jetcron/subjects"
)

// MaxHistoryRuns bounds the runs RunsSince returns; the newest are kept.
const MaxHistoryRuns = 5000

// RunsSince returns job's runs whose tick is at or after since, oldest first, listed
// as Runs lists them (a sysbatch tick as its runs on each node), at most
// MaxHistoryRuns: the newest. It reads the job's records in one pass over the run
// state bucket, not one request per run, so that a week of a frequent job reads
// fast; the week is as far back as records are kept (subjects.DefaultLayout).
func (c *Client) RunsSince(ctx context.Context, name string, since time.Time) ([]subjects.Run, error) {
	kv, err := c.Bucket(ctx, subjects.RunStateBucket)
	if err != nil {
		return nil, err
	}
	es, err := Entries(ctx, kv, subjects.JobRunsFilter(name))
	if err != nil {
		return nil, err
	}
	values := make(map[string][]byte, len(es))
	keys := make([]string, len(es))
	for i, e := range es {
		keys[i] = e.Key()
		values[e.Key()] = e.Value()
	}
	ks := listed(keys, since.Unix())
	if len(ks) > MaxHistoryRuns {
		ks = ks[len(ks)-MaxHistoryRuns:]
	}
	runs := make([]subjects.Run, 0, len(ks))
	for _, k := range ks {
		var r subjects.Run
		if err := json.Unmarshal(values[k.key], &r); err != nil {
			return nil, fmt.Errorf("read run %s: %w", k.key, err)
		}
		setID(&r, name, k)
		runs = append(runs, r)
	}
	return runs, nil
}
