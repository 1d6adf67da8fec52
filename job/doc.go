// Package job parses and validates jetcron job files, decides which nodes
// may run a job, and computes when a job launches.
//
// # Job files
//
// Parse reads the YAML job file stored under a key in the `jobs` bucket
// (see DESIGN.md, "The job file"). Decoding is strict: an unknown field is an
// error that suggests the field meant ("did you mean"), and every problem in
// a file is reported at once, with its field and line, in a
// *ValidationError. A file larger than MaxFileSize, or one whose YAML
// aliases expand to an excessive size, is rejected before it is decoded
// further. YAML merge keys (<<) are not supported.
//
// A job's name is its key: 1 to 64 letters, digits, "-" and "_". A Job
// travels on the wire as JSON, with the same field names as the YAML.
//
// # Schedules
//
// ParseSchedule reads cron expressions as Nomad does (Nomad uses
// github.com/hashicorp/cronexpr), and in UTC computes the same launches as
// cronexpr:
//
//	5 fields: minute hour day-of-month month day-of-week (second 0, any year)
//	6 fields: the 5 and year
//	7 fields: second, the 5, and year
//
// Each field is a comma-separated list of "*", "?", values, ranges "a-b" and
// steps "*/n", "a/n" and "a-b/n". Months and weekdays take names, in any
// case: jan or january, mon or monday; weekday 7 is Sunday, as 0 is. Years
// run from 1970 to 2099; no launch comes after 2099. Day-of-month takes L
// (the last day), LW (the last weekday) and 15W (the weekday nearest the
// 15th, within the month). Day-of-week takes 5L (the last Friday) and 5#3
// (the third Friday). When both day fields are restricted (not * or ?), a
// day matching either one matches.
//
// Descriptors: @yearly and @annually, @monthly, @weekly, @daily and
// @midnight, @hourly; and @every <duration>, a whole number of seconds, at
// least 1s, which launches at whole multiples of the duration since the
// Unix epoch, whatever the time zone.
//
// Where cronexpr misreads an expression, ParseSchedule rejects it with an
// error that says so, rather than running it at surprising times:
//   - a day-of-week with a leading zero, such as "05" (cronexpr reads Sunday);
//   - a day-of-week range ending on Sunday, such as "1-7" or "mon-sun"
//     (cronexpr ends it on Saturday; "0-0" becomes every day);
//   - a range whose start is after its end (cronexpr matches nothing);
//   - an empty list entry, such as "1,,2", or more than 7 fields (cronexpr
//     ignores them);
//   - a year step over 59 (cronexpr takes steps such as 1990);
//   - a descriptor that is not the whole expression.
//
// An expression that can never fire, such as "0 0 30 2 *", or whose launches
// are all in the past, is an error.
//
// # Time zones and DST
//
// Fields are read on the wall clock of the job's time zone (an IANA name;
// the zone database is embedded in the binary). Around DST changes the
// schedule follows ISC cron, not Nomad:
//   - a wall-clock time that a spring-forward gap skips launches once, at
//     the first instant after the gap: with New York's gap from 02:00 to
//     03:00, "30 2 * * *" launches at 03:00, and "0 * * * *" once at 03:00;
//     with Lord Howe's 30-minute gap from 02:00 to 02:30, "0 * * * *"
//     launches at 02:30 for 02:00, then at 03:00;
//   - a wall-clock time that a fall-back repeats launches once, at its first
//     occurrence, unless the hour field is "*", "?" or has a step ("*/2",
//     "1-23/2"): then it launches in both repeated hours.
package job
