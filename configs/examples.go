package configs

import "embed"

// Examples holds the example files shipped with jetcron: base.yaml (every
// node), server.yaml (servers), client.yaml (runner hosts), dev.yaml (one
// process on 127.0.0.1), and jobs/hello.yaml (a job that runs every 5
// seconds). Load them with LoadFS(Examples, ...).
//
//go:embed *.yaml jobs/*.yaml
var Examples embed.FS
