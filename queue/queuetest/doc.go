// Package queuetest gives tests a real Redis without touching anyone's data.
//
// Redis and RedisURL return a server for the calling test, chosen once per
// test binary:
//
//  1. FLEXLABEL_TEST_REDIS_URL, when set: that server, used as is. It is
//     never flushed; tests isolate themselves by key prefix (see below).
//  2. Otherwise, when redis-server is on PATH: one private redis-server per
//     test binary, listening only on a unix socket in its own temporary
//     directory, with persistence off. It is started on first use and
//     stopped by Main; it is started with a parent-death signal, so it also
//     dies with a test binary that crashes or never calls Main.
//  3. Otherwise an in-process miniredis per test, announced with tb.Log,
//     unless FLEXLABEL_TEST_NO_FALLBACK=1, which makes the test fail instead
//     (CI sets it, so CI always runs against real Redis).
//
// Tests share the server (and DB 0), so each test isolates itself: Prefix
// returns a short name unique to the test, to use as a queue name or
// namespace. Nothing is deleted afterwards; keys of a private server vanish
// with it.
//
// A package whose tests use Redis or RedisURL calls Main from its TestMain,
// so the private server stops when the tests end:
//
//	func TestMain(m *testing.M) { os.Exit(queuetest.Main(m)) }
//
// (A TestMain that just calls queuetest.Main(m) and returns works too: the
// testing package exits with m.Run's code.)
//
// Tests outside package queue do not spell asynq's keys: Pending, Dequeue,
// Registered, Task and AsynqKeyPatterns (asynq.go) read and act on asynq's
// side of a queue, in one place. Buffer is the one goroutine-safe buffer
// tests give loggers and commands as stdout and stderr.
//
// StartRedis is for fault tests that kill and restart Redis: it starts a
// dedicated redis-server for one test, on its own 127.0.0.1 port and data
// directory, which survive Restart (so does the data, when the test enables
// appendonly). Without redis-server it skips the test (or fails it under
// FLEXLABEL_TEST_NO_FALLBACK=1): miniredis cannot lose data the way a killed
// server does.
//
// StartSentinels is for failover tests: a Topology of one primary, replicas
// of it and three sentinels (redis-sentinel, or redis-server --sentinel),
// real processes on their own ports with short Sentinel timeouts, so that
// KillPrimary, WaitFailover and RestartOldPrimaryAsReplica play a failover
// in a few seconds; URL is REDIS_URL in its Sentinel form. It skips or fails
// without redis-server as StartRedis does.
package queuetest
