// Package logscan holds the test that runs after the whole suite (`make test`
// runs it last, with the logscan build tag): it reads every log the end-to-end
// harnesses kept under COSTWARDEN_TEST_LOG_DIR and every secret they recorded
// (internal/testlog), and fails if a secret, or anything shaped like a
// costwarden credential, appears in a log — or if no logs or secrets were kept
// at all, so that it can never pass by looking at nothing.
package logscan
