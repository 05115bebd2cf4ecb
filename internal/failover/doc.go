// Package failover holds the acceptance test of coordinator replicas on
// PostgreSQL (issue 17): two real vigil-coordinator processes on one
// database under 1,000 simulated agents (internal/loadgen), the leader
// killed, then paused past its lease. It runs with VIGIL_TEST_STORE=postgres
// (make unit-postgres); VIGIL_FAILOVER_RUNS=N repeats the kill N times and
// logs each failover's time, for docs/performance.md.
package failover
