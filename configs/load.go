package configs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Overrides are the agent's command-line flags. Each non-zero field replaces
// what the config files say; a list replaces the files' list.
type Overrides struct {
	// Dev runs both roles in one process for trying jetcron out: server and
	// client enabled, bootstrap_expect 1, bind_addr 127.0.0.1, raw_exec
	// allowed, data_dir optional. These are defaults: files and flags still
	// apply over them.
	Dev bool
	// DataDir replaces data_dir.
	DataDir string
	// BindAddr replaces bind_addr.
	BindAddr string
	// Name replaces name.
	Name string
	// LogLevel replaces log_level.
	LogLevel string
	// Datacenter replaces datacenter.
	Datacenter string
	// Region replaces region.
	Region string
	// RetryJoin replaces server.retry_join.
	RetryJoin []string
	// Servers replaces client.servers.
	Servers []string
	// NATSURL replaces nats.url.
	NATSURL string
}

// Load reads the configuration from the operating system's files. It starts
// from the defaults, applies each path in order (a folder contributes its
// *.yaml and *.yml files in lexical order, skipping hidden files and
// subfolders), then the non-zero fields of o, and validates the result.
//
// An error lists every problem found, each a *FieldError naming the file,
// line and field it concerns: first the problems of the files taken one by
// one (unknown keys, wrong types, unreadable files); when there are none, the
// problems of the merged configuration.
func Load(paths []string, o Overrides) (*Config, error) {
	return LoadFS(osFS{}, paths, o)
}

// LoadFS is Load reading from fsys, such as Examples; paths are then
// slash-separated names within fsys.
func LoadFS(fsys fs.FS, paths []string, o Overrides) (*Config, error) {
	var errs []error
	origins := make(map[string]origin)
	merged := emptyMapping()
	apply := func(file string, root *yaml.Node) {
		if problems := check(file, root, origins); len(problems) > 0 {
			errs = append(errs, problems...)
			return
		}
		merge(merged, root)
	}
	for _, p := range paths {
		files, err := expand(fsys, p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, file := range files {
			root, err := readFile(fsys, file)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			apply(file, root)
		}
	}
	flags, err := o.node()
	if err != nil {
		return nil, err
	}
	apply("", flags)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	c := defaults(o.Dev)
	if err := merged.Decode(c); err != nil {
		return nil, fmt.Errorf("decode merged config: %w", err)
	}
	if errs := validate(c, o.Dev, origins); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	c.LogLevel = strings.ToUpper(c.LogLevel)
	return c, nil
}

// osFS opens files by their operating-system paths, relative or absolute.
type osFS struct{}

// Open opens the named file with os.Open.
func (osFS) Open(name string) (fs.File, error) {
	return os.Open(name)
}

// expand lists the files that the path p names: p itself, or a folder's
// *.yaml and *.yml files in lexical order, leaving out hidden files.
func expand(fsys fs.FS, p string) ([]string, error) {
	info, err := fs.Stat(fsys, p)
	if err != nil {
		return nil, fileError(p, err)
	}
	if !info.IsDir() {
		return []string{p}, nil
	}
	entries, err := fs.ReadDir(fsys, p) // sorted by name
	if err != nil {
		return nil, fileError(p, err)
	}
	var files []string
	for _, e := range entries {
		ext := path.Ext(e.Name())
		if !e.IsDir() && !strings.HasPrefix(e.Name(), ".") && (ext == ".yaml" || ext == ".yml") {
			files = append(files, path.Join(p, e.Name()))
		}
	}
	if len(files) == 0 {
		return nil, &FieldError{File: p, Err: ErrEmptyFolder}
	}
	return files, nil
}

// fileError reports a path that cannot be read.
func fileError(p string, err error) error {
	var pe *fs.PathError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		err = ErrNoSuchFile
	case errors.As(err, &pe):
		err = pe.Err
	}
	return &FieldError{File: p, Err: err}
}

// yamlLine splits yaml.v3's "yaml: line 3: what" parse errors.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// readFile parses a file holding one YAML document and returns its root
// mapping; an empty file (or one of only comments) gives an empty mapping.
func readFile(fsys fs.FS, file string) (*yaml.Node, error) {
	data, err := fs.ReadFile(fsys, file)
	if err != nil {
		return nil, fileError(file, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return emptyMapping(), nil
		}
		return nil, parseError(file, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, parseError(file, err)
		}
		return nil, &FieldError{File: file, Line: extra.Line, Err: errors.New("a config file holds one YAML document, found a second")}
	}
	root := doc.Content[0]
	if isNull(root) {
		return emptyMapping(), nil
	}
	return root, nil
}

// parseError turns a YAML syntax error into a FieldError with its line.
func parseError(file string, err error) error {
	m := yamlLine.FindStringSubmatch(err.Error())
	if m == nil {
		return &FieldError{File: file, Err: err}
	}
	line, _ := strconv.Atoi(m[1]) // the pattern admits only digits
	return &FieldError{File: file, Line: line, Err: errors.New(m[2])}
}

// merge folds the mapping src into the mapping dst: mappings merge key by
// key, any other value replaces dst's, and null values are skipped. dst gets
// its own copy of every mapping, so merging never changes src.
func merge(dst, src *yaml.Node) {
	for i := 0; i+1 < len(src.Content); i += 2 {
		key, val := resolve(src.Content[i]), resolve(src.Content[i+1])
		if isNull(val) {
			continue
		}
		at := -1
		for j := 0; j+1 < len(dst.Content); j += 2 {
			if dst.Content[j].Value == key.Value {
				at = j + 1
				break
			}
		}
		switch {
		case val.Kind == yaml.MappingNode && at >= 0 && dst.Content[at].Kind == yaml.MappingNode:
			merge(dst.Content[at], val)
			continue
		case val.Kind == yaml.MappingNode:
			fresh := emptyMapping()
			merge(fresh, val)
			val = fresh
		}
		if at < 0 {
			dst.Content = append(dst.Content, key, val)
		} else {
			dst.Content[at] = val
		}
	}
}

// emptyMapping returns a new YAML mapping with no keys.
func emptyMapping() *yaml.Node {
	return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
}

// node returns the non-zero overrides as a YAML mapping shaped like a
// config file, so that they merge and report problems as a file's values do.
func (o Overrides) node() (*yaml.Node, error) {
	m := map[string]any{}
	for key, v := range map[string]string{
		"data_dir":   o.DataDir,
		"bind_addr":  o.BindAddr,
		"name":       o.Name,
		"log_level":  o.LogLevel,
		"datacenter": o.Datacenter,
		"region":     o.Region,
	} {
		if v != "" {
			m[key] = v
		}
	}
	if len(o.RetryJoin) > 0 {
		m["server"] = map[string]any{"retry_join": o.RetryJoin}
	}
	if len(o.Servers) > 0 {
		m["client"] = map[string]any{"servers": o.Servers}
	}
	if o.NATSURL != "" {
		m["nats"] = map[string]any{"url": o.NATSURL}
	}
	var n yaml.Node
	if err := n.Encode(m); err != nil {
		return nil, fmt.Errorf("encode overrides: %w", err)
	}
	return &n, nil
}
