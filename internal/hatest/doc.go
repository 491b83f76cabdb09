// Package hatest holds the end-to-end test of the central deployment: three
// agents (simulated clusters) push to two server replicas on one real
// PostgreSQL, as separate processes on loopback addresses; one replica is
// killed with SIGKILL and PostgreSQL is stopped for a minute; afterwards every
// cluster's every hour is stored exactly once with the totals its agent
// computed. The processes are this test binary run again in a helper role, so
// that they can share an accelerated clock. It has no non-test code.
package hatest
