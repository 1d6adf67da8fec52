package runner

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetcron/jetcron/subjects"
)

// NodeIDFile is the name of the file in DataDir that keeps the node's stable ID.
const NodeIDFile = "node-id"

// ErrBadNodeID is returned by Run when DataDir/node-id holds something other than
// 32 hex digits.
var ErrBadNodeID = errors.New("malformed node ID file")

// Attribute names the runner sets on its node (PlacementAttrs adds node.unique.name,
// node.datacenter, node.class and meta.<key>).
const (
	AttrHostname    = "attr.unique.hostname"
	AttrKernelName  = "attr.kernel.name"
	AttrOSName      = "attr.os.name"
	AttrCPUCores    = "attr.cpu.numcores"
	AttrMemoryTotal = "attr.memory.totalbytes"
	AttrVersion     = "attr.jetcron.version"
	AttrRawExec     = "driver.raw_exec"
)

// loadNodeID returns the node ID kept in dir/node-id, making it (32 random hex
// digits) when the file does not exist. Several processes sharing dir agree on one
// ID: the file is made by a hard link of a complete temporary file, which fails for
// every process but the first.
func loadNodeID(dir string) (string, error) {
	path := filepath.Join(dir, NodeIDFile)
	if id, err := readNodeID(path); err == nil || !errors.Is(err, os.ErrNotExist) {
		return id, err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("make data dir: %w", err)
	}
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("make node ID: %w", err)
	}
	tmp, err := os.CreateTemp(dir, NodeIDFile+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("make node ID: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(hex.EncodeToString(raw[:]) + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("write node ID %s: %w", tmp.Name(), err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("write node ID %s: %w", path, err)
	}
	return readNodeID(path)
}

func readNodeID(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read node ID: %w", err)
	}
	id := strings.TrimSpace(string(b))
	if len(id) != 32 {
		return "", fmt.Errorf("%s: %w: want 32 hex digits", path, ErrBadNodeID)
	}
	if _, err := hex.DecodeString(id); err != nil {
		return "", fmt.Errorf("%s: %w: want 32 hex digits", path, ErrBadNodeID)
	}
	return strings.ToLower(id), nil
}

// rawExecEnabled reports whether the client options enable the raw_exec driver.
func rawExecEnabled(opts map[string]string) bool {
	v, _ := strconv.ParseBool(strings.TrimSpace(opts[RawExecOption]))
	return v
}

// nodeAttributes returns the node's facts.
func nodeAttributes(version string, rawExec bool) map[string]string {
	attrs := map[string]string{
		AttrKernelName: runtime.GOOS,
		AttrOSName:     osName("/etc/os-release"),
		AttrCPUCores:   strconv.Itoa(runtime.NumCPU()),
	}
	if h, err := os.Hostname(); err == nil {
		attrs[AttrHostname] = h
	}
	if m := memTotal("/proc/meminfo"); m > 0 {
		attrs[AttrMemoryTotal] = strconv.FormatUint(m, 10)
	}
	if version != "" {
		attrs[AttrVersion] = version
	}
	if rawExec {
		attrs[AttrRawExec] = "1"
	}
	return attrs
}

// osName reads ID from an os-release file, falling back to runtime.GOOS.
func osName(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return runtime.GOOS
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "ID=")
		if !ok {
			continue
		}
		if u, err := strconv.Unquote(v); err == nil {
			v = u
		} else {
			v = strings.Trim(v, `'"`)
		}
		if v != "" {
			return v
		}
	}
	return runtime.GOOS
}

// memTotal reads MemTotal (in bytes) from a meminfo file; 0 if it cannot.
func memTotal(path string) uint64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return 0
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0
		}
		if len(f) > 1 && strings.EqualFold(f[1], "kB") {
			n *= 1024
		}
		return n
	}
	return 0
}

// heartbeat writes the node record once: a revision-checked update from the
// revision last written or read. When another writer changed the record (the
// `node drain` command sets Drain), it re-reads it, keeps that writer's Drain flag,
// and tries again. left marks a clean shutdown.
func (s *session) heartbeat(ctx context.Context, left bool) error {
	key := subjects.Token(s.opts.Name)
	var err error
	for attempt := 0; attempt < 8; attempt++ {
		if s.hbRev == 0 {
			entry, gerr := s.nodes.Get(ctx, key)
			switch {
			case errors.Is(gerr, jetstream.ErrKeyNotFound):
				// No record (first start, or deleted): create it.
				m := s.memberNow(left)
				data, merr := json.Marshal(m)
				if merr != nil {
					return fmt.Errorf("encode node record: %w", merr)
				}
				rev, cerr := s.nodes.Create(ctx, key, data)
				if cerr == nil {
					s.hbRev, s.hbKnown = rev, rev
					return nil
				}
				if errors.Is(cerr, jetstream.ErrKeyExists) {
					err = cerr
					continue // someone else made it meanwhile: read it
				}
				return fmt.Errorf("create node record %s: %w", key, cerr)
			case gerr != nil:
				return fmt.Errorf("read node record %s: %w", key, gerr)
			case entry.Revision() < s.hbKnown:
				err = fmt.Errorf("stale read of revision %d, %d exists", entry.Revision(), s.hbKnown)
				if !sleepCtx(ctx, staleReadWait) {
					return fmt.Errorf("read node record %s: %w", key, ctx.Err())
				}
				continue
			}
			var old subjects.Member
			if jerr := json.Unmarshal(entry.Value(), &old); jerr != nil {
				s.log.Warn().Err(jerr).Msg("node record unreadable; overwriting it")
			} else if old.Drain != s.drain {
				s.log.Info().Bool("drain", old.Drain).Msg("node drain changed")
				s.drain = old.Drain
			}
			s.hbRev = entry.Revision()
			s.hbKnown = max(s.hbKnown, s.hbRev)
		}
		data, merr := json.Marshal(s.memberNow(left))
		if merr != nil {
			return fmt.Errorf("encode node record: %w", merr)
		}
		rev, uerr := s.nodes.Update(ctx, key, data, s.hbRev)
		if uerr == nil {
			s.hbRev, s.hbKnown = rev, rev
			return nil
		}
		if isRevisionConflict(uerr) {
			s.hbKnown = max(s.hbKnown, s.hbRev+1) // the record moved past hbRev
		}
		// Whatever failed, the next attempt starts from a fresh read: after a
		// timeout the write may or may not have happened.
		s.hbRev = 0
		err = uerr
		if !isRevisionConflict(uerr) && !errors.Is(uerr, jetstream.ErrKeyNotFound) {
			return fmt.Errorf("update node record %s: %w", key, uerr)
		}
		s.log.Debug().Err(uerr).Msg("node record changed by another writer; re-reading it")
	}
	s.hbKnown = 0 // trust the next read (the bucket may have been made again)
	return fmt.Errorf("update node record %s: %w", key, err)
}

// memberNow is the node record as of now. A node that left is no longer stopping.
func (s *session) memberNow(left bool) subjects.Member {
	m := s.member
	m.Heartbeat = s.opts.Clock.Now().UTC()
	m.Drain = s.drain
	m.Left = left
	m.Stopping = s.stopping() && !left
	return m
}

// isRevisionConflict reports whether err is a failed revision check: the record
// moved on since the revision the write expected (10071, or 10164 on R3).
func isRevisionConflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists)
}
