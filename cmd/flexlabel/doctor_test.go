package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi/flexapitest"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

const doctorToken = "tok-DOCTOR-SECRET-81c2d4"

// doctorEnv points doctor at redisURL and a fake API that accepts doctorToken.
func doctorEnv(t *testing.T, redisURL, token string) (map[string]string, *flexapitest.Server) {
	t.Helper()
	fake := flexapitest.NewTestServer(t, doctorToken)
	return map[string]string{
		"REDIS_URL":            redisURL,
		"FLEXLABEL_QUEUE":      queuetest.Prefix(t),
		"FLEXFORWARD_TOKEN":    token,
		"FLEXFORWARD_BASE_URL": fake.URL(),
	}, fake
}

func runDoctor(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	r := (&cli{env: env}).run(t, "", append([]string{"doctor"}, args...)...)
	for _, out := range []string{r.stdout, r.stderr} {
		require.NotContains(t, out, doctorToken)
		require.NotContains(t, out, "tok-WRONG")
	}
	return r
}

func doctorJSON(t *testing.T, r result) doctorReport {
	t.Helper()
	var rep doctorReport
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep), r.stdout)
	return rep
}

func TestDoctor_RedisRightAndTokenAccepted_ExitsZero(t *testing.T) {
	t.Parallel()
	rp := queuetest.StartRedis(t, "--appendonly", "yes", "--maxmemory-policy", "noeviction")
	env, fake := doctorEnv(t, rp.URL(), doctorToken)
	// one job waiting, so the queue sizes are read from Redis, not assumed
	enq := (&cli{env: env}).run(t, string(queuetest.RequestJSON("doc-1", "HKMUZXR")), "enqueue")
	require.Equal(t, 0, enq.code, enq.stderr)

	r := runDoctor(t, env, "--json")
	require.Equal(t, 0, r.code, "stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	rep := doctorJSON(t, r)
	require.Empty(t, rep.Problems)
	require.True(t, rep.Redis.Reachable)
	require.Equal(t, rp.Addr(), rep.Redis.Addr)
	require.NotEmpty(t, rep.Redis.Version)
	require.Equal(t, "noeviction", rep.Redis.MaxmemoryPolicy)
	require.NotNil(t, rep.Redis.AppendOnly)
	require.True(t, *rep.Redis.AppendOnly)
	require.Equal(t, env["FLEXLABEL_QUEUE"], rep.Namespace)
	require.Equal(t, []doctorQueue{
		{Name: env["FLEXLABEL_QUEUE"], Lane: "interactive", Pending: 1},
		{Name: env["FLEXLABEL_QUEUE"] + "-bulk", Lane: "bulk"},
	}, rep.Queues)
	require.Equal(t, "accepted", rep.FlexForward.Token)
	require.Contains(t, rep.Config, doctorSetting{Name: "FLEXFORWARD_TOKEN", Value: "[redacted]"})
	require.Equal(t, 1, fake.Ledger().TotalCalls, "one cheap call checks the token")
	require.Zero(t, fake.Ledger().CreateCalls)

	text := runDoctor(t, env)
	require.Equal(t, 0, text.code, text.stderr)
	require.Contains(t, text.stdout, "No problems found.")
	require.Regexp(t, `(?m)^  FLEXFORWARD_TOKEN +\[redacted\]$`, text.stdout, "the token's line, aligned with the longest name")
}

func TestDoctor_RedisWrongAndTokenRefused_SaysWhatToDo(t *testing.T) {
	t.Parallel()
	rp := queuetest.StartRedis(t, "--appendonly", "no", "--maxmemory-policy", "allkeys-lru")
	env, _ := doctorEnv(t, rp.URL(), "tok-WRONG-0000000")

	r := runDoctor(t, env, "--json")
	require.Equal(t, 1, r.code, r.stderr)
	rep := doctorJSON(t, r)
	require.Len(t, rep.Problems, 3, "%q", rep.Problems)
	require.Contains(t, rep.Problems[0], `maxmemory-policy is "allkeys-lru": set it to noeviction`)
	require.Contains(t, rep.Problems[1], "AOF is off: set appendonly yes")
	require.Contains(t, rep.Problems[2], "FLEXFORWARD_TOKEN")
	require.Contains(t, rep.Problems[2], "401 Unauthorized")
	require.Equal(t, "refused", rep.FlexForward.Token)
	require.Equal(t, 401, rep.FlexForward.HTTPStatus)

	text := runDoctor(t, env)
	require.Equal(t, 1, text.code)
	require.Contains(t, text.stdout, "3 problem(s):\n  - Redis maxmemory-policy")
	require.Contains(t, text.stderr, "doctor: 3 problem(s) found")
}

func TestDoctor_TokenForbidden_Is403Problem(t *testing.T) {
	t.Parallel()
	env, fake := doctorEnv(t, queuetest.RedisURL(t), doctorToken)
	fake.Forbid(doctorToken)
	rep := doctorJSON(t, runDoctor(t, env, "--json"))
	require.Equal(t, 403, rep.FlexForward.HTTPStatus)
	require.Condition(t, func() bool {
		for _, p := range rep.Problems {
			if strings.HasPrefix(p, "FLEXFORWARD_TOKEN: ") && strings.Contains(p, "403 Forbidden") {
				return true
			}
		}
		return false
	}, "%q", rep.Problems)
}

func TestDoctor_RedisUnreachable_StillChecksTheToken(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	const password = "redisPW-DOCTOR-do-not-print"
	env, _ := doctorEnv(t, "redis://flex:"+password+"@"+addr+"/0", doctorToken)
	r := runDoctor(t, env, "--json")
	require.Equal(t, 1, r.code)
	require.NotContains(t, r.stdout+r.stderr, password)
	require.Contains(t, r.stdout, `"name":"REDIS_URL","value":"redis://xxxxx:xxxxx@`+addr+`/0"`)
	rep := doctorJSON(t, r)
	require.False(t, rep.Redis.Reachable)
	require.Len(t, rep.Problems, 1)
	require.Contains(t, rep.Problems[0], "Redis at "+addr+" is unreachable")
	require.Contains(t, rep.Problems[0], "REDIS_URL")
	require.Equal(t, "accepted", rep.FlexForward.Token)
}

func TestDoctor_NoTokenOrAPIDown_AreProblems(t *testing.T) {
	t.Parallel()
	env, _ := doctorEnv(t, queuetest.RedisURL(t), "")
	rep := doctorJSON(t, runDoctor(t, env, "--json"))
	require.Equal(t, "missing", rep.FlexForward.Token)
	require.Contains(t, strings.Join(rep.Problems, "\n"), "FLEXFORWARD_TOKEN is not set")

	env, _ = doctorEnv(t, queuetest.RedisURL(t), doctorToken)
	env["FLEXFORWARD_BASE_URL"] = "http://" + freeAddr(t)
	r := runDoctor(t, env, "--json")
	require.Equal(t, 1, r.code)
	rep = doctorJSON(t, r)
	require.Equal(t, "unchecked", rep.FlexForward.Token)
	require.Contains(t, strings.Join(rep.Problems, "\n"), "could not be reached")
}

func TestDoctor_InvalidConfiguration_ExitsTwoNamingVariables(t *testing.T) {
	t.Parallel()
	r := runDoctor(t, map[string]string{"FLEXLABEL_CONCURRENCY": "0", "REDIS_URL": "redis://x:port/0"})
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, "FLEXLABEL_CONCURRENCY")
	require.Contains(t, r.stderr, "REDIS_URL")
	require.Empty(t, r.stdout)
}

func TestCheckRedisInfo(t *testing.T) {
	t.Parallel()
	good := map[string]string{"maxmemory_policy": "noeviction", "aof_enabled": "1"}
	tests := []struct {
		version string
		problem string // "" for none
	}{
		{"7.0.15", ""},
		{"6.2.0", ""},
		{"10.0.1", ""},
		{"6.0.16", "Redis 6.0.16 is older than 6.2"},
		{"5.0.7", "Redis 5.0.7 is older than 6.2"},
		{"", "did not report a version"},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			t.Parallel()
			info := map[string]string{"redis_version": tt.version}
			for k, v := range good {
				info[k] = v
			}
			var r doctorReport
			checkRedisInfo(info, &r)
			if tt.problem == "" {
				require.Empty(t, r.Problems)
				return
			}
			require.Len(t, r.Problems, 1)
			require.Contains(t, r.Problems[0], tt.problem)
		})
	}
}

func TestCheckReplication(t *testing.T) {
	t.Parallel()
	primary := map[string]string{"role": "master", "connected_slaves": "2", "master_repl_offset": "1000",
		"slave0": "ip=10.0.0.2,port=6379,state=online,offset=1000,lag=0",
		"slave1": "ip=10.0.0.3,port=6380,state=wait_bgsave,offset=0,lag=3"}
	tests := []struct {
		name     string
		info     map[string]string
		sentinel bool
		replicas []doctorReplica
		problem  string // "" for none
	}{
		{"primary with replicas", primary, true, []doctorReplica{
			{Addr: "10.0.0.2:6379", State: "online"},
			{Addr: "10.0.0.3:6380", State: "wait_bgsave", LagSeconds: 3, OffsetBehind: 1000},
		}, ""},
		{"standalone", map[string]string{"role": "master", "connected_slaves": "0"}, false, nil, ""},
		{"sentinel without a replica in sync", map[string]string{"role": "master", "connected_slaves": "1", "slave0": "ip=h,port=1,state=send_bulk,offset=-1,lag=0"}, true,
			[]doctorReplica{{Addr: "h:1", State: "send_bulk"}}, "has no replica in sync"},
		{"a replica", map[string]string{"role": "slave", "master_host": "10.0.0.1", "master_port": "6379"}, false, nil, "is a replica (of 10.0.0.1:6379): every write fails with READONLY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := doctorReport{Redis: doctorRedis{Addr: "redis:6379", Primary: "redis:6379"}}
			checkReplication(tt.info, tt.sentinel, &r)
			require.Equal(t, tt.info["role"], r.Redis.Role)
			require.Equal(t, tt.replicas, r.Redis.Replicas)
			if tt.problem == "" {
				require.Empty(t, r.Problems)
				return
			}
			require.Len(t, r.Problems, 1)
			require.Contains(t, r.Problems[0], tt.problem)
		})
	}
}
