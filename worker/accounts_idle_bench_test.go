package worker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// idleCost is what an idle worker costs: Redis commands per second, and
// the CPU per second of this process (the worker and the idle fake API)
// and of Redis.
type idleCost struct {
	cmds      float64
	proc, rds time.Duration
}

func (c idleCost) cpu() time.Duration { return c.proc + c.rds }

func (c idleCost) String() string {
	return fmt.Sprintf("%.0f Redis commands/s, CPU %.1f ms/s (process %.1f, Redis %.1f)", c.cmds, ms(c.cpu()), ms(c.proc), ms(c.rds))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// idleRun starts one worker for the accounts (none: the namespace's own
// account alone) with tracking on and nothing to do, lets its pools
// start, and measures its cost over 5 s.
func idleRun(b *testing.B, accounts int) idleCost {
	b.Helper()
	e := newAcctEnv(b, accounts, false)
	e.tracking = true
	e.startWorkers(b, 1, 50, acctRate)
	time.Sleep(2 * time.Second)
	c0, p0, r0 := queuetest.RedisCommands(e.rdb), procCPU(), queuetest.RedisCPU(e.rdb)
	start := time.Now()
	time.Sleep(5 * time.Second)
	took := time.Since(start).Seconds()
	c1, p1, r1 := queuetest.RedisCommands(e.rdb), procCPU(), queuetest.RedisCPU(e.rdb)
	e.stopWorkers()
	perSec := func(d time.Duration) time.Duration { return time.Duration(float64(d) / took) }
	return idleCost{cmds: float64(c1-c0) / took, proc: perSec(p1 - p0), rds: perSec(r1 - r0)}
}

// BenchmarkAccountsIdle measures what several accounts cost a fleet with
// nothing to do (issue 17): one worker running 200 accounts with tracking
// on (FLEXLABEL_TRACKING's default), no label waiting and none followed —
// its release loop, the accounts' two lanes, and each account's document
// fetch and tracking pollers looking for work — against one account
// (what the accounts' path costs whatever their number) and against the
// namespace's own account alone (the single-account setup, the baseline).
// It reports Redis commands and CPU per second, and what each account
// beyond the first adds.
func BenchmarkAccountsIdle(b *testing.B) {
	const accounts = 200
	for range b.N {
		many, one, own := idleRun(b, accounts), idleRun(b, 1), idleRun(b, 0)
		perCmds := (many.cmds - one.cmds) / (accounts - 1)
		perCPU := time.Duration(float64(many.cpu()-one.cpu()) / (accounts - 1))
		b.ReportMetric(many.cmds, "redis_cmds/s")
		b.ReportMetric(own.cmds, "single_account_redis_cmds/s")
		b.ReportMetric(perCmds, "redis_cmds/s_per_account")
		b.ReportMetric(ms(many.cpu()), "cpu_ms/s")
		b.ReportMetric(ms(own.cpu()), "single_account_cpu_ms/s")
		b.ReportMetric(many.cmds/own.cmds, "cmds_ratio")
		b.ReportMetric(float64(many.cpu())/float64(own.cpu()), "cpu_ratio")
		b.Logf("idle, 1 worker, tracking on: %d accounts %s; 1 account %s; the namespace's own account alone %s: ratio %.1f× commands, %.1f× CPU; each account beyond the first %.2f commands/s and %s CPU a second",
			accounts, many, one, own, many.cmds/own.cmds, float64(many.cpu())/float64(own.cpu()), perCmds, perCPU.Round(time.Microsecond))
	}
}
