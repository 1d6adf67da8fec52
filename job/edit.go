package job

import (
	"bytes"
	"errors"
	"fmt"

	"gopkg.in/yaml.v3"
)

// Top-level keys of the pause, as the job file spells them.
const (
	pausedKey    = "paused"
	pauseNoteKey = "pause_note"
)

// SetPause returns the job file data with the pause set: with paused, the top-level
// `paused: true` and `pause_note: NOTE` (no pause_note when note is empty); without,
// neither key. It edits the file as a YAML node tree, so the other fields, their
// order and the comments stay; a key already there keeps its place and its comment,
// a new one goes at the end. The result is re-encoded with two-space indents.
//
// It does not validate anything: Parse the result.
func SetPause(data []byte, paused bool, note string) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("read the job file: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("the job file is not a mapping of fields")
	}
	m := doc.Content[0]
	if paused {
		setKey(m, pausedKey, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"})
	} else {
		deleteKey(m, pausedKey)
	}
	if paused && note != "" {
		// A plain !!str scalar: the encoder quotes it if it would read as anything else.
		setKey(m, pauseNoteKey, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: note})
	} else {
		deleteKey(m, pauseNoteKey)
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("write the job file: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("write the job file: %w", err)
	}
	return b.Bytes(), nil
}

// setKey sets the value of key in mapping m, or appends key: value. The old value
// node is replaced, not changed (it may be an anchor that other values alias), and
// its comments move to the new one.
func setKey(m *yaml.Node, key string, value *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i]; k.Kind == yaml.ScalarNode && k.Value == key {
			old := m.Content[i+1]
			value.HeadComment, value.LineComment, value.FootComment = old.HeadComment, old.LineComment, old.FootComment
			m.Content[i+1] = value
			return
		}
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, value)
}

// deleteKey removes every key: value pair of mapping m named key. Comments above the
// pair move to the next key (below the previous one when it was the last), comments
// below it below the previous one, so that a comment about the fields around it
// stays.
func deleteKey(m *yaml.Node, key string) {
	var out []*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Value != key {
			out = append(out, k, v)
			continue
		}
		head, foot := k.HeadComment, joinComments(k.FootComment, v.FootComment)
		if head != "" && i+2 < len(m.Content) {
			next := m.Content[i+2]
			next.HeadComment = joinComments(head, next.HeadComment)
			head = ""
		}
		if below := joinComments(head, foot); below != "" {
			if len(out) > 0 {
				prev := out[len(out)-2]
				prev.FootComment = joinComments(prev.FootComment, below)
			} else {
				m.FootComment = joinComments(m.FootComment, below)
			}
		}
	}
	m.Content = out
}

// joinComments joins two comment blocks, either of which may be empty.
func joinComments(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "\n" + b
}
