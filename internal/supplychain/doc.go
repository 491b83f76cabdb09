// Package supplychain holds the tests that show the CI scans catch what they
// are for: govulncheck (make vulncheck) fails on a module with a known,
// reachable vulnerability; the secret scan (make secretscan) fails on an
// AWS-style key planted in a file or a binary; gosec (make sec) fails on an
// insecure construct. Each runs the same tool, database, configuration and
// exclusions as the make target, against a planted positive control.
//
// It is tests only: nothing imports it.
package supplychain
