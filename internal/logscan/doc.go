// Package logscan finds secrets in the logs the end-to-end test harnesses
// kept (internal/testlog): Scan reports every log holding a secret a test
// used, or anything shaped like a costwarden credential. Its suite-wide test
// (build tag logscan) runs after the whole suite — `make test` runs it last
// with COSTWARDEN_TEST_LOG_DIR — and fails on any leak, and also when too few
// logs or secrets were kept for the scan to mean anything.
//
// It is test support: production code must not import it.
package logscan
