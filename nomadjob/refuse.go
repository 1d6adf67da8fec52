package nomadjob

import "fmt"

// reasons say why a Nomad attribute or block has no jetcron meaning, by name,
// wherever it appears.
var reasons = map[string]string{
	"action":                       "jetcron tasks have no actions to run on demand",
	"affinity":                     "jetcron has no placement preferences, only constraints",
	"artifact":                     "jetcron downloads nothing before a run; put the file on the hosts",
	"cgroup_v1_override":           "jetcron puts a run in no chosen cgroup",
	"cgroup_v2_override":           "jetcron puts a run in no chosen cgroup",
	"consul":                       "jetcron does not talk to Consul",
	"consul_token":                 "jetcron does not talk to Consul",
	"cores":                        "jetcron reserves no CPU cores",
	"csi_plugin":                   "jetcron runs no storage plugins",
	"device":                       "jetcron assigns no devices",
	"disconnect":                   "a run lost with its node is rescheduled as reschedule: says; jetcron has no disconnect policy",
	"denied_envvars":               "jetcron passes the agent's environment as it is, with env added",
	"distinct_hosts":               "jetcron runs one task per tick, so there is nothing to keep apart",
	"distinct_property":            "jetcron runs one task per tick, so there is nothing to keep apart",
	"dispatch_payload":             "jetcron runs periodic jobs only; it dispatches no payloads",
	"ephemeral_disk":               "jetcron gives each run a fresh working directory, and sizes no disk",
	"identity":                     "jetcron issues no workload identity tokens",
	"kill_signal":                  "jetcron stops a run with SIGTERM, then SIGKILL after kill_timeout",
	"leader":                       "a jetcron job runs one task",
	"lifecycle":                    "a jetcron job runs one task, with no hooks before or after it",
	"logs":                         "jetcron keeps a run's output in the runs stream, not in rotated files",
	"max_client_disconnect":        "a run lost with its node is rescheduled as reschedule: says; jetcron has no disconnect policy",
	"max_run_duration":             "jetcron's task.timeout is close but not the same: it bounds each attempt and records a timed-out run as failed (then restarted), where Nomad bounds the allocation and records it complete; set task.timeout after the import if that suits",
	"memory_max":                   "jetcron records resources and enforces none",
	"meta":                         "jetcron jobs carry no meta; pass values to the command in env or args",
	"migrate":                      "jetcron migrates nothing; a run lost with its node is rescheduled as reschedule: says",
	"multiregion":                  "jetcron has no regions",
	"network":                      "jetcron runs a command and allocates no network, ports or addresses",
	"numa":                         "jetcron places no NUMA nodes",
	"oom_score_adj":                "jetcron sets no OOM score",
	"parameterized":                "jetcron runs periodic jobs only; it has no dispatch",
	"prevent_reschedule_on_lost":   "a run lost with its node is rescheduled as reschedule: says",
	"scaling":                      "jetcron runs one execution per tick; it has no scaling policies",
	"schedule":                     "jetcron has no task schedules; the job's periodic block says when it runs",
	"secret":                       "jetcron fetches no secrets",
	"semver":                       "jetcron compares versions with operator \"version\" only",
	"service":                      "jetcron registers no services; a periodic command is not a service",
	"shutdown_delay":               "jetcron registers no services to wait for before a stop",
	"spread":                       "jetcron places each tick on one eligible node; it spreads nothing",
	"stop_after_client_disconnect": "a run lost with its node is rescheduled as reschedule: says; jetcron has no disconnect policy",
	"template":                     "jetcron renders no templates; put the file on the hosts, or pass the values in env",
	"ui":                           "jetcron's views show no job descriptions or links",
	"update":                       "jetcron has no deployments; a changed job applies from its next tick",
	"variable":                     "jetcron import reads literal values only; write the values in the job (nomad job run -output prints it with variables filled in)",
	"variables":                    "jetcron import reads literal values only; write the values in the job",
	"locals":                       "jetcron import reads literal values only; write the values in the job",
	"vault":                        "jetcron fetches no Vault tokens",
	"vault_token":                  "jetcron fetches no Vault tokens",
	"volume":                       "jetcron mounts no volumes; the command sees the host's file system",
	"volume_mount":                 "jetcron mounts no volumes; the command sees the host's file system",
}

// refusal says that name, an attribute or a block, has no jetcron meaning,
// and why.
func refusal(name string, block bool) string {
	kind := name
	if block {
		kind = name + " block"
	}
	why, ok := reasons[name]
	if !ok {
		why = "jetcron import does not know it, so it refuses it rather than drop it"
	}
	return fmt.Sprintf("%s has no jetcron meaning: %s", kind, why)
}
