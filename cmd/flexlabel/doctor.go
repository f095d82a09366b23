package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/flexlabel/flexlabel/config"
	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/internal/accounts"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/worker"
)

// minRedisVersion is the oldest Redis asynq v0.26 supports.
var minRedisVersion = [2]int{6, 2}

// tokenCheckTimeout bounds the one call that checks the token, whatever
// FLEXLABEL_API_TIMEOUT allows a label call.
const tokenCheckTimeout = 10 * time.Second

func (a *app) doctorCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "doctor [--json]",
		Short: "Check the configuration, Redis and the Flex Forward token, and say what to fix",
		Long: `Print where flexlabel points and whether that works: the configuration in effect
(secrets masked), the Redis server (address, version, maxmemory-policy, AOF), the
replication topology it sees (the server's role, the primary, its replicas with their
lag, and in REDIS_URL's Sentinel form every sentinel, the master name and quorum), the
namespace's queue sizes and dead letters, and the Flex Forward token, checked with
one GET /couriers call on a slot of the account's budget (so that it never pushes
a fleet at its budget past the API's limit; at most 10 s is waited for it). Each
problem found is a line saying what to do.

Exit 0 if nothing is wrong, 1 if any problem was found, 2 if the configuration
itself is invalid (every invalid variable is named).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Parse(a.env)
			if err != nil {
				return err
			}
			r := diagnose(cmd.Context(), cfg)
			if asJSON {
				err = newJSONLines(a.stdout).write(r)
			} else {
				err = r.writeText(a.stdout)
			}
			if err != nil {
				return err
			}
			if n := len(r.Problems); n > 0 {
				return &refusedError{msg: fmt.Sprintf("doctor: %d problem(s) found", n)}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as one JSON object")
	return cmd
}

// doctorReport is what doctor found; its JSON is the contract of
// `flexlabel doctor --json`.
type doctorReport struct {
	// Config is every variable with its value in effect, secrets masked.
	Config      []doctorSetting  `json:"config"`
	Redis       doctorRedis      `json:"redis"`
	Namespace   string           `json:"namespace"`
	Queues      []doctorQueue    `json:"queues"`
	DeadLetters map[string]int64 `json:"deadLetters"`
	FlexForward doctorAPI        `json:"flexForward"`
	// Accounts are FLEXLABEL_ACCOUNTS_FILE's accounts, each token checked
	// (issue 17); absent without the file.
	Accounts []doctorAccount `json:"accounts,omitempty"`
	// Problems are the lines saying what to fix; empty when all is well.
	Problems []string `json:"problems"`
}

type doctorSetting struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type doctorRedis struct {
	Addr            string `json:"addr"`
	DB              int    `json:"db"`
	Reachable       bool   `json:"reachable"`
	Version         string `json:"version,omitempty"`
	MaxmemoryPolicy string `json:"maxmemoryPolicy,omitempty"`
	AppendOnly      *bool  `json:"appendonly,omitempty"`
	// Role is the replication role of the server flexlabel writes to, as
	// INFO replication reports it: "master", or "slave" (a replica, which
	// refuses writes with READONLY).
	Role string `json:"role,omitempty"`
	// Primary is the address of the primary: in the Sentinel form the one
	// the sentinels name, otherwise Addr.
	Primary string `json:"primary,omitempty"`
	// Replicas are the replicas connected to the primary, as it reports them.
	Replicas []doctorReplica `json:"replicas"`
	// Sentinel is what the sentinels say, in the Sentinel form of REDIS_URL.
	Sentinel *doctorSentinel `json:"sentinel,omitempty"`
}

// doctorReplica is one replica as the primary sees it.
type doctorReplica struct {
	Addr  string `json:"addr"`
	State string `json:"state"` // "online" once in sync
	// LagSeconds is the seconds since the replica last acknowledged;
	// OffsetBehind is how many bytes of the replication stream it lacks.
	LagSeconds   int   `json:"lagSeconds"`
	OffsetBehind int64 `json:"offsetBehind"`
}

// doctorSentinel is the Sentinel deployment REDIS_URL names.
type doctorSentinel struct {
	MasterName string `json:"masterName"`
	// Quorum is how many sentinels must agree the primary is down (from
	// SENTINEL MASTER); Known is how many sentinels the first reachable one
	// knows of, itself included.
	Quorum    int              `json:"quorum"`
	Known     int              `json:"known"`
	Sentinels []doctorSentNode `json:"sentinels"`
}

// doctorSentNode is one sentinel REDIS_URL names.
type doctorSentNode struct {
	Addr      string `json:"addr"`
	Reachable bool   `json:"reachable"`
	// Primary is the primary's address this sentinel gives.
	Primary string `json:"primary,omitempty"`
	Error   string `json:"error,omitempty"`
}

type doctorQueue struct {
	Name      string `json:"name"`
	Lane      string `json:"lane"`
	Pending   int    `json:"pending"`
	Scheduled int    `json:"scheduled"`
	Retry     int    `json:"retry"`
	Active    int    `json:"active"`
}

type doctorAPI struct {
	BaseURL string `json:"baseUrl"`
	// Token is "accepted", "refused" (401/403), "unchecked" (the call got
	// no verdict) or "missing".
	Token      string `json:"token"`
	HTTPStatus int    `json:"httpStatus,omitempty"`
}

// doctorAccount is one account of the accounts file.
type doctorAccount struct {
	Name      string  `json:"name"`
	RateLimit float64 `json:"rateLimit"`
	doctorAPI
}

func (r *doctorReport) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// diagnose checks everything it can and never stops at the first problem:
// an unreachable Redis does not keep the token from being checked.
func diagnose(ctx context.Context, cfg *config.Config) *doctorReport {
	r := &doctorReport{Namespace: cfg.Queue, Problems: []string{}, Queues: []doctorQueue{}, DeadLetters: map[string]int64{}}
	for _, attr := range cfg.LogValue().Group() {
		r.Config = append(r.Config, doctorSetting{Name: attr.Key, Value: attr.Value.String()})
	}
	diagnoseRedis(ctx, cfg, r)
	// The token checks take their accounts' budget slots, when Redis
	// answers: doctor is often run beside a fleet.
	var q *queue.Queue
	if r.Redis.Reachable {
		rdb := cfg.NewRedisClient()
		defer rdb.Close()
		q, _ = queue.New(rdb, queue.Options{Namespace: cfg.Queue, MaxRetry: cfg.MaxRetry, Retention: cfg.ResultRetention})
	}
	if cfg.AccountsFile != "" {
		diagnoseAccounts(ctx, cfg, q, r)
	} else {
		diagnoseToken(ctx, cfg, q, r)
	}
	return r
}

// tokenCheckSlot takes, for a token check, a slot of the budget of q's
// account at rate calls per second: a check is flexlabel's one call
// outside a worker's jobs, and one made beside a fleet at its budget went
// past the API's limit (a 429 for it or for a label). With q nil (Redis
// unreachable) there is no slot to take. It gives up after
// tokenCheckTimeout (Redis away, or the budget paused by a 429), and the
// caller checks anyway: the check is worth more than the slot.
func tokenCheckSlot(ctx context.Context, q *queue.Queue, rate float64) error {
	if q == nil {
		return errors.New("Redis unreachable")
	}
	cctx, cancel := context.WithTimeout(ctx, tokenCheckTimeout)
	defer cancel()
	return worker.TakeSlot(cctx, q, rate)
}

// diagnoseAccounts reads FLEXLABEL_ACCOUNTS_FILE as the worker does and
// checks each account's token with one GET /couriers.
func diagnoseAccounts(ctx context.Context, cfg *config.Config, q *queue.Queue, r *doctorReport) {
	r.FlexForward.BaseURL = cfg.FlexForwardBaseURL
	r.FlexForward.Token = "in FLEXLABEL_ACCOUNTS_FILE"
	fa, err := loadAccounts(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		r.problem("%s", err.Error())
		return
	}
	// Each account's check waits for a slot of its budget, up to an
	// interval beside a busy fleet: 8 at a time, as the worker checks them,
	// and reported in the file's order.
	accs := fa.live.Set().Accounts()
	r.Accounts = make([]doctorAccount, len(accs))
	problems := make([]string, len(accs))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, a := range accs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r.Accounts[i], problems[i] = checkAccountToken(ctx, cfg, fa, q, a)
		}()
	}
	wg.Wait()
	for _, p := range problems {
		if p != "" {
			r.problem("%s", p)
		}
	}
}

// checkAccountToken checks one account's token with one GET /couriers on
// a slot of its budget, and says the problem found, if any.
func checkAccountToken(ctx context.Context, cfg *config.Config, fa *fleetAccounts, q *queue.Queue, a accounts.Account) (doctorAccount, string) {
	d := doctorAccount{Name: a.Name, RateLimit: a.RateLimit, doctorAPI: doctorAPI{BaseURL: a.BaseURL}}
	c, err := fa.client(a)
	if err == nil {
		if q != nil {
			if qa, err := q.ForAccount(a.Name); err == nil {
				_ = tokenCheckSlot(ctx, qa, a.RateLimit)
			}
		}
		cctx, cancel := context.WithTimeout(ctx, min(cfg.APITimeout, tokenCheckTimeout))
		_, err = c.GetCouriers(cctx)
		cancel()
	}
	var ae *flexapi.APIError
	switch {
	case err == nil:
		d.Token, d.HTTPStatus = "accepted", 200
		return d, ""
	case errors.As(err, &ae) && tokenRefused(ae.StatusCode):
		d.Token, d.HTTPStatus = "refused", ae.StatusCode
		return d, fmt.Sprintf("account %s: Flex Forward at %s answered %d: its token is wrong, revoked or for the other environment; fix it in FLEXLABEL_ACCOUNTS_FILE (re-read by the workers without a restart)", a.Name, a.BaseURL, ae.StatusCode)
	default:
		d.Token = "unchecked"
		return d, fmt.Sprintf("account %s: its token could not be checked at %s (%v); run doctor again", a.Name, a.BaseURL, err)
	}
}

func diagnoseRedis(ctx context.Context, cfg *config.Config, r *doctorReport) {
	r.Redis.Addr, r.Redis.DB = cfg.RedisAddr(), cfg.RedisDB()
	r.Redis.Replicas = []doctorReplica{}
	if cfg.RedisFailover != nil {
		diagnoseSentinels(ctx, cfg.RedisFailover, r)
	} else {
		r.Redis.Primary = r.Redis.Addr
	}
	rdb := cfg.NewRedisClient()
	defer rdb.Close()
	q, err := queue.New(rdb, queue.Options{Namespace: cfg.Queue, MaxRetry: cfg.MaxRetry, Retention: cfg.ResultRetention})
	if err != nil {
		r.problem("FLEXLABEL_QUEUE: %v", err)
		return
	}
	if err := q.Ping(ctx); err != nil {
		r.problem("Redis at %s is unreachable (%v): start it, or set REDIS_URL to the Redis flexlabel should use", r.Redis.Addr, err)
		return
	}
	r.Redis.Reachable = true

	// INFO rather than CONFIG GET: managed Redis services often disable CONFIG.
	info, err := rdb.Info(ctx).Result()
	if err != nil {
		r.problem("Redis at %s refused INFO (%v): flexlabel cannot check its version, maxmemory-policy and AOF; allow INFO for this user", r.Redis.Addr, err)
	} else {
		m := parseInfo(info)
		checkRedisInfo(m, r)
		checkReplication(m, cfg.RedisFailover != nil, r)
	}

	insp := asynq.NewInspectorFromRedisClient(rdb)
	known, err := insp.Queues()
	if err != nil {
		r.problem("reading the asynq queues in Redis at %s: %v", r.Redis.Addr, err)
	}
	for _, lane := range []queue.Lane{queue.Interactive, queue.Bulk} {
		dq := doctorQueue{Name: q.Name(lane), Lane: lane.String()}
		// asynq registers a queue when its first task is enqueued; until
		// then it has no info to read, and holds nothing.
		if slices.Contains(known, dq.Name) {
			info, err := insp.GetQueueInfo(dq.Name)
			if err != nil {
				r.problem("reading queue %s: %v", dq.Name, err)
			} else {
				dq.Pending, dq.Scheduled, dq.Retry, dq.Active = info.Pending, info.Scheduled, info.Retry, info.Active
			}
		}
		r.Queues = append(r.Queues, dq)
	}
	counts, err := q.DeadLetters().CountByReason(ctx)
	if err != nil {
		r.problem("counting dead letters: %v", err)
	}
	for _, reason := range queue.Reasons {
		r.DeadLetters[string(reason)] = counts[reason]
	}
}

// parseInfo reads the "key:value" lines of an INFO answer.
func parseInfo(info string) map[string]string {
	m := make(map[string]string)
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(line, "#") {
			m[k] = v
		}
	}
	return m
}

// checkRedisInfo checks what flexlabel's guarantees rest on: a Redis asynq
// supports, that never evicts a key (a job, a record, a dead letter), and
// that keeps writes across a restart (AOF; see deploy/redis.conf).
func checkRedisInfo(info map[string]string, r *doctorReport) {
	r.Redis.Version = info["redis_version"]
	switch maj, min, ok := parseVersion(r.Redis.Version); {
	case !ok:
		r.problem("Redis at %s did not report a version flexlabel can read (%q): it needs Redis %d.%d or newer", r.Redis.Addr, r.Redis.Version, minRedisVersion[0], minRedisVersion[1])
	case maj < minRedisVersion[0] || maj == minRedisVersion[0] && min < minRedisVersion[1]:
		r.problem("Redis %s is older than %d.%d, the oldest asynq supports: upgrade Redis", r.Redis.Version, minRedisVersion[0], minRedisVersion[1])
	}
	r.Redis.MaxmemoryPolicy = info["maxmemory_policy"]
	if r.Redis.MaxmemoryPolicy != "noeviction" {
		r.problem("Redis maxmemory-policy is %q: set it to noeviction (maxmemory-policy noeviction in redis.conf, or CONFIG SET maxmemory-policy noeviction), or Redis may evict jobs, idempotency records and dead letters when memory runs out", r.Redis.MaxmemoryPolicy)
	}
	if aof, ok := info["aof_enabled"]; ok {
		on := aof == "1"
		r.Redis.AppendOnly = &on
	}
	if r.Redis.AppendOnly == nil || !*r.Redis.AppendOnly {
		r.problem("Redis AOF is off: set appendonly yes (in redis.conf, or CONFIG SET appendonly yes, then CONFIG REWRITE), or a Redis restart loses the jobs written since its last snapshot")
	}
}

// checkReplication reads the replication role and the replicas from INFO:
// a replica is a problem (every write fails with READONLY), and so is a
// Sentinel deployment whose primary has no replica in sync to promote.
func checkReplication(info map[string]string, sentinel bool, r *doctorReport) {
	r.Redis.Role = info["role"]
	if r.Redis.Role == "slave" {
		r.problem("Redis at %s is a replica (of %s): every write fails with READONLY; point REDIS_URL at the primary (a managed service's primary endpoint), or use REDIS_URL's Sentinel form so flexlabel follows the primary", r.Redis.Addr, net.JoinHostPort(info["master_host"], info["master_port"]))
		return
	}
	offset, _ := strconv.ParseInt(info["master_repl_offset"], 10, 64)
	n, _ := strconv.Atoi(info["connected_slaves"])
	online := 0
	for i := range n {
		rep := parseReplicaLine(info["slave"+strconv.Itoa(i)])
		if rep.Offset >= 0 {
			rep.OffsetBehind = max(offset-rep.Offset, 0)
		}
		if rep.State == "online" {
			online++
		}
		r.Redis.Replicas = append(r.Redis.Replicas, rep.doctorReplica)
	}
	if sentinel && online == 0 {
		r.problem("Redis's primary %s has no replica in sync: Sentinel has nothing to promote if it fails; start a replica (replicaof %s)", r.Redis.Primary, r.Redis.Primary)
	}
}

type replicaLine struct {
	doctorReplica
	Offset int64
}

// parseReplicaLine reads INFO's "ip=…,port=…,state=online,offset=…,lag=…".
func parseReplicaLine(line string) replicaLine {
	kv := map[string]string{}
	for _, f := range strings.Split(line, ",") {
		if k, v, ok := strings.Cut(f, "="); ok {
			kv[k] = v
		}
	}
	rep := replicaLine{Offset: -1}
	rep.Addr, rep.State = net.JoinHostPort(kv["ip"], kv["port"]), kv["state"]
	rep.LagSeconds, _ = strconv.Atoi(kv["lag"])
	if o, err := strconv.ParseInt(kv["offset"], 10, 64); err == nil {
		rep.Offset = o
	}
	return rep
}

// sentinelTimeout bounds each question doctor asks a sentinel.
const sentinelTimeout = 3 * time.Second

// diagnoseSentinels asks every sentinel REDIS_URL names for the primary and
// the master's quorum: an unreachable sentinel, sentinels naming different
// primaries, or fewer reachable sentinels than the quorum are problems.
func diagnoseSentinels(ctx context.Context, fo *redis.FailoverOptions, r *doctorReport) {
	s := &doctorSentinel{MasterName: fo.MasterName, Sentinels: []doctorSentNode{}}
	r.Redis.Sentinel = s
	primaries := map[string]bool{}
	reachable := 0
	for _, addr := range fo.SentinelAddrs {
		node := doctorSentNode{Addr: addr}
		sc := redis.NewSentinelClient(&redis.Options{Addr: addr, Username: fo.SentinelUsername, Password: fo.SentinelPassword,
			TLSConfig: fo.TLSConfig, DialTimeout: sentinelTimeout, ReadTimeout: sentinelTimeout, MaxRetries: -1})
		qctx, cancel := context.WithTimeout(ctx, sentinelTimeout)
		master, err := sc.Master(qctx, fo.MasterName).Result()
		if err == nil {
			var pa []string
			if pa, err = sc.GetMasterAddrByName(qctx, fo.MasterName).Result(); err == nil && len(pa) == 2 {
				node.Primary = net.JoinHostPort(pa[0], pa[1])
			}
		}
		cancel()
		_ = sc.Close()
		if err != nil {
			node.Error = err.Error()
			r.problem("Sentinel at %s did not answer for master %q (%v): check that it runs, and REDIS_URL's master_name and sentinel credentials", addr, fo.MasterName, err)
		} else {
			node.Reachable = true
			reachable++
			primaries[node.Primary] = true
			if s.Quorum == 0 {
				s.Quorum, _ = strconv.Atoi(master["quorum"])
				other, _ := strconv.Atoi(master["num-other-sentinels"])
				s.Known = other + 1
				if flags := master["flags"]; strings.Contains(flags, "s_down") || strings.Contains(flags, "o_down") {
					r.problem("Sentinel at %s sees master %q down (flags %s): a failover is due or under way", addr, fo.MasterName, flags)
				}
			}
		}
		s.Sentinels = append(s.Sentinels, node)
	}
	switch {
	case len(primaries) > 1:
		r.problem("the sentinels name different primaries for %q (%s): a failover is under way, or they do not monitor the same Redis; run doctor again", fo.MasterName, strings.Join(slices.Sorted(maps.Keys(primaries)), ", "))
	case len(primaries) == 1:
		for p := range primaries {
			r.Redis.Primary = p
		}
	}
	if reachable > 0 && s.Quorum > 0 && s.Known < s.Quorum {
		r.problem("Sentinel knows %d sentinel(s) for %q, fewer than its quorum %d: no failover can happen; run at least %d sentinels", s.Known, fo.MasterName, s.Quorum, max(3, s.Quorum))
	}
}

// parseVersion reads major and minor of "7.0.15".
func parseVersion(v string) (major, minor int, ok bool) {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	return major, minor, err1 == nil && err2 == nil
}

func diagnoseToken(ctx context.Context, cfg *config.Config, q *queue.Queue, r *doctorReport) {
	r.FlexForward.BaseURL = cfg.FlexForwardBaseURL
	if cfg.FlexForwardToken == "" {
		r.FlexForward.Token = "missing"
		r.problem("FLEXFORWARD_TOKEN is not set: the worker needs it; set it to the Flex Forward API token for %s", cfg.FlexForwardBaseURL)
		return
	}
	_ = tokenCheckSlot(ctx, q, cfg.RateLimit)
	err := checkToken(ctx, cfg)
	var ae *flexapi.APIError
	var rl *flexapi.RateLimitError
	switch {
	case err == nil:
		r.FlexForward.Token, r.FlexForward.HTTPStatus = "accepted", 200
	case errors.As(err, &ae) && tokenRefused(ae.StatusCode):
		r.FlexForward.Token, r.FlexForward.HTTPStatus = "refused", ae.StatusCode
		r.problem("%s", tokenRefusedMessage(cfg, ae))
	case errors.As(err, &ae):
		r.FlexForward.Token, r.FlexForward.HTTPStatus = "unchecked", ae.StatusCode
		r.problem("Flex Forward at %s answered GET /couriers with HTTP %d (%s): the token could not be checked; check FLEXFORWARD_BASE_URL or FLEXFORWARD_ENV, and the API's status, then run doctor again", cfg.FlexForwardBaseURL, ae.StatusCode, ae.Message)
	case errors.As(err, &rl):
		r.FlexForward.Token, r.FlexForward.HTTPStatus = "unchecked", rl.StatusCode
		r.problem("Flex Forward at %s rate-limited GET /couriers: the token could not be checked; run doctor again in a minute", cfg.FlexForwardBaseURL)
	default:
		r.FlexForward.Token = "unchecked"
		r.problem("Flex Forward at %s could not be reached (%v): check FLEXFORWARD_BASE_URL or FLEXFORWARD_ENV, and the network, then run doctor again", cfg.FlexForwardBaseURL, err)
	}
}

// checkToken makes the one cheap authenticated call, GET /couriers, whose
// answer says whether Flex Forward accepts FLEXFORWARD_TOKEN. It is shared
// by doctor and worker start-up.
func checkToken(ctx context.Context, cfg *config.Config) error {
	api, err := flexapi.NewClient(cfg.FlexForwardBaseURL, cfg.FlexForwardToken.Reveal(),
		flexapi.WithTimeout(min(cfg.APITimeout, tokenCheckTimeout)), flexapi.WithUserAgent("flexlabel/"+flexapi.Version))
	if err != nil {
		return fmt.Errorf("FLEXFORWARD_BASE_URL: %w", err)
	}
	_, err = api.GetCouriers(ctx)
	return err
}

// tokenRefused reports whether an HTTP status means the token is not
// accepted: 401 (missing, wrong, revoked, other environment) or 403 (valid
// but without access), as the contract documents.
func tokenRefused(status int) bool { return status == 401 || status == 403 }

func tokenRefusedMessage(cfg *config.Config, ae *flexapi.APIError) string {
	if ae.StatusCode == 403 {
		return fmt.Sprintf("FLEXFORWARD_TOKEN: Flex Forward at %s answered 403 Forbidden: the token is valid but its account has no access; use the token of the account that ships, or ask Flex Forward to grant access", cfg.FlexForwardBaseURL)
	}
	return fmt.Sprintf("FLEXFORWARD_TOKEN: Flex Forward at %s answered 401 Unauthorized: the token is wrong, revoked, or for the other environment (FLEXFORWARD_ENV=%s); set a valid token (docs/OPERATIONS.md#dead-letters-after-a-token-rotation)", cfg.FlexForwardBaseURL, cfg.FlexForwardEnv)
}

// listSuffix is " (a; b)" for a non-empty list, "" otherwise.
func listSuffix(items []string) string {
	if len(items) == 0 {
		return ""
	}
	return " (" + strings.Join(items, "; ") + ")"
}

func (r *doctorReport) writeText(w io.Writer) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "Configuration (secrets masked)")
	for _, s := range r.Config {
		v := s.Value
		if v == "" {
			v = "(not set)"
		}
		fmt.Fprintf(tw, "  %s\t%s\n", s.Name, v)
	}
	fmt.Fprintln(tw, "\nRedis")
	fmt.Fprintf(tw, "  address\t%s (db %d)\n", r.Redis.Addr, r.Redis.DB)
	if !r.Redis.Reachable {
		fmt.Fprintf(tw, "  reachable\tno\n")
	} else {
		aof := "?"
		if r.Redis.AppendOnly != nil {
			aof = map[bool]string{true: "yes", false: "no"}[*r.Redis.AppendOnly]
		}
		fmt.Fprintf(tw, "  version\t%s\n  maxmemory-policy\t%s\n  appendonly\t%s\n", r.Redis.Version, r.Redis.MaxmemoryPolicy, aof)
		fmt.Fprintf(tw, "  role\t%s\n  primary\t%s\n", r.Redis.Role, r.Redis.Primary)
		reps := make([]string, len(r.Redis.Replicas))
		for i, rep := range r.Redis.Replicas {
			reps[i] = fmt.Sprintf("%s %s, lag %ds, %d bytes behind", rep.Addr, rep.State, rep.LagSeconds, rep.OffsetBehind)
		}
		fmt.Fprintf(tw, "  replicas\t%d%s\n", len(reps), listSuffix(reps))
	}
	if s := r.Redis.Sentinel; s != nil {
		fmt.Fprintln(tw, "\nSentinel")
		fmt.Fprintf(tw, "  master name\t%s\n  quorum\t%d (%d sentinels known)\n", s.MasterName, s.Quorum, s.Known)
		for _, n := range s.Sentinels {
			state := "primary " + n.Primary
			if !n.Reachable {
				state = "unreachable: " + n.Error
			}
			fmt.Fprintf(tw, "  sentinel %s\t%s\n", n.Addr, state)
		}
	}
	if r.Redis.Reachable {
		fmt.Fprintf(tw, "\nNamespace %s\n", r.Namespace)
		fmt.Fprintln(tw, "  queue\tlane\tpending\tscheduled\tretry\tactive")
		for _, q := range r.Queues {
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%d\t%d\n", q.Name, q.Lane, q.Pending, q.Scheduled, q.Retry, q.Active)
		}
		var total int64
		var parts []string
		for _, reason := range queue.Reasons {
			if n := r.DeadLetters[string(reason)]; n > 0 {
				total += n
				parts = append(parts, fmt.Sprintf("%s %d", reason, n))
			}
		}
		line := fmt.Sprint(total)
		if len(parts) > 0 {
			line += " (" + strings.Join(parts, ", ") + "; see flexlabel dlq list)"
		}
		fmt.Fprintf(tw, "  dead letters\t%s\n", line)
	}
	fmt.Fprintln(tw, "\nFlex Forward")
	fmt.Fprintf(tw, "  base URL\t%s\n", r.FlexForward.BaseURL)
	token := r.FlexForward.Token
	if r.FlexForward.HTTPStatus != 0 {
		token += fmt.Sprintf(" (GET /couriers: HTTP %d)", r.FlexForward.HTTPStatus)
	}
	fmt.Fprintf(tw, "  token\t%s\n", token)
	if r.Accounts != nil {
		fmt.Fprintln(tw, "\nAccounts (FLEXLABEL_ACCOUNTS_FILE)")
		for _, a := range r.Accounts {
			t := a.Token
			if a.HTTPStatus != 0 {
				t += fmt.Sprintf(" (GET /couriers: HTTP %d)", a.HTTPStatus)
			}
			fmt.Fprintf(tw, "  %s\t%v/s at %s, token %s\n", a.Name, a.RateLimit, a.BaseURL, t)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Problems) == 0 {
		_, err := fmt.Fprintln(w, "\nNo problems found.")
		return err
	}
	fmt.Fprintf(w, "\n%d problem(s):\n", len(r.Problems))
	for _, p := range r.Problems {
		fmt.Fprintln(w, "  - "+p)
	}
	return nil
}
