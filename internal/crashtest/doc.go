// Package crashtest holds the crash-safety tests of the store: the real
// costwarden binary is killed with SIGKILL at random moments during ingestion
// and re-encryption, and the data directory must then open, pass its integrity
// check and have lost nothing but the hour being written; a read-only file
// system must be reported clearly and damage nothing. It has no non-test code.
package crashtest
