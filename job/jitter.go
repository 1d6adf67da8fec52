package job

import (
	"encoding/binary"
	"hash/fnv"
	"time"
)

// JitterOffset is how long after tick a job with periodic.jitter = jitter launches
// it: a whole number of milliseconds in [0, jitter) from a hash of the job's name
// and the tick, so that every ticker computes the same offset, and the jobs due in
// one second spread evenly over the jitter.
func JitterOffset(jobName string, tick time.Time, jitter time.Duration) time.Duration {
	ms := jitter.Milliseconds()
	if ms <= 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(jobName))
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(tick.Unix())))
	return time.Duration(h.Sum64()%uint64(ms)) * time.Millisecond
}
