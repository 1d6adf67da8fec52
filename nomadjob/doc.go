// Package nomadjob turns a Nomad periodic batch job, written in HCL, into a
// jetcron job file (YAML): `jetcron job import` is built on Convert.
//
// The Nomad file must hold one job of type "batch" (or "sysbatch", passed on
// as it is for jetcron's job file to accept or refuse) with a periodic block, and one task (in one group of count 1, or written directly
// in the job, as Nomad allows) that runs the raw_exec driver with an absolute
// command. What maps:
//
//	job "NAME"                          name
//	datacenters, type, priority         datacenters, type, priority
//	constraint (job, group, task)       constraints (operators =, !=, regexp,
//	                                    set_contains, version; "==", "is",
//	                                    "not" and set_contains_all as those)
//	periodic cron | crons               periodic.cron | periodic.crons
//	periodic prohibit_overlap, time_zone
//	restart attempts, delay             restart (over Nomad's batch default
//	                                    of 3 attempts, 15s apart)
//	reschedule attempts, delay          reschedule, with on_failure: true (over
//	                                    Nomad's batch default of 1, 5s)
//	task "NAME"                         task.name
//	config command, args, work_dir      task.config.command, args, task.work_dir
//	env, user, kill_timeout             task.env, task.user, task.kill_timeout
//	resources cpu, memory               task.resources
//
// Everything else is refused by name and line, never dropped: a network,
// service, template, artifact or volume; another driver; count > 1; a second
// group or task; meta; a Nomad operator jetcron lacks; variables and
// functions. Literal values are read as they are; inside strings,
// ${attr.*}, ${node.*} and ${meta.*} stay as written, which jetcron
// interpolates in task.config.args and reads in a constraint's attribute, and
// are refused elsewhere, since jetcron would not interpolate them there. A
// Nomad restart or reschedule interval, which jetcron has no use for (its
// attempts count per run), is dropped with a comment in the YAML saying so.
//
// Convert checks its result with job.Parse, so a file it returns is one
// jetcron accepts; what job.Parse refuses (an invalid cron expression, an
// unknown attribute) is reported at the line of the Nomad setting.
package nomadjob
