package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"text/tabwriter"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/flexlabel/flexlabel/config"
	"github.com/flexlabel/flexlabel/queue"
)

// env is the parsed configuration plus the Redis client and queue built from it.
type deps struct {
	cfg *config.Config
	rdb *redis.Client
	q   *queue.Queue
}

func (d *deps) Close() error { return d.rdb.Close() }

// openQueue parses the configuration and connects to Redis. A configuration
// problem or an unreachable Redis is an operational error (exit 2).
func (a *app) openQueue(ctx context.Context) (*deps, error) {
	cfg, err := config.Parse(a.env)
	if err != nil {
		return nil, err
	}
	return a.openQueueWith(ctx, cfg)
}

func (a *app) openQueueWith(ctx context.Context, cfg *config.Config, onEnqueue ...func(queue.Lane, queue.Outcome)) (*deps, error) {
	d, err := a.connectQueue(cfg, onEnqueue...)
	if err != nil {
		return nil, err
	}
	if err := d.q.Ping(ctx); err != nil {
		d.Close()
		return nil, fmt.Errorf("redis at %s: %w", cfg.RedisAddr(), err)
	}
	if err := a.useAccount(ctx, d); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// How a command takes --account (app.accountUse).
const (
	accountRead  = 1 // status, track, dlq: any account's jobs, run or not (a removed account's dead letters are still there)
	accountWrite = 2 // enqueue, bulk: an account the fleet runs, or its jobs would wait for ever
)

// accountFlag gives cmd the --account flag (on its subcommands too when
// persistent).
func (a *app) accountFlag(cmd *cobra.Command, use int, persistent bool) {
	fs := cmd.Flags()
	if persistent {
		fs = cmd.PersistentFlags()
	}
	fs.StringVar(&a.account, "account", "", "the Flex Forward account (FLEXLABEL_ACCOUNTS_FILE's name; default: the default account)")
	prev := cmd.PersistentPreRunE
	cmd.PersistentPreRunE = func(c *cobra.Command, args []string) error {
		a.accountUse = use
		if prev != nil {
			return prev(c, args)
		}
		return nil
	}
}

// useAccount makes d's queue the --account's.
func (a *app) useAccount(ctx context.Context, d *deps) error {
	if a.accountUse == 0 {
		return nil
	}
	name := a.account
	if name == "" {
		name = queue.DefaultAccount
	}
	if !queue.ValidAccountName(name) {
		return &config.Error{Problems: []string{fmt.Sprintf("--account: %q is not an account name (1 to 32 of a-z, 0-9 and -)", name)}}
	}
	q, err := d.q.ForAccount(name)
	if err != nil {
		return err
	}
	if a.accountUse == accountWrite {
		if err := q.CheckAccount(ctx); errors.Is(err, queue.ErrUnknownAccount) {
			return &config.Error{Problems: []string{"--account: " + err.Error()}}
		} else if err != nil {
			return err
		}
	}
	d.q = q
	return nil
}

// connectQueue builds the Redis client and the queue from cfg without
// talking to Redis. The long-running commands (serve, worker) use it, so
// that they start while Redis is down and wait for it (waitForRedis); a
// one-shot command uses openQueue and fails at once.
func (a *app) connectQueue(cfg *config.Config, onEnqueue ...func(queue.Lane, queue.Outcome)) (*deps, error) {
	rdb := cfg.NewRedisClient()
	opts := queue.Options{
		Namespace: cfg.Queue,
		MaxRetry:  cfg.MaxRetry,
		Retention: cfg.ResultRetention,

		MinReplicas:    cfg.RedisMinReplicas,
		ReplicaTimeout: cfg.RedisMinReplicasTimeout,
	}
	if len(onEnqueue) > 0 {
		opts.OnEnqueue = onEnqueue[0]
	}
	q, err := queue.New(rdb, opts)
	if err != nil {
		rdb.Close()
		return nil, err
	}
	return &deps{cfg: cfg, rdb: rdb, q: q}, nil
}

// newLogger builds the slog logger from FLEXLABEL_LOG_LEVEL and _FORMAT,
// and routes go-redis's own log lines (connection failures) into it, so a
// JSON log stays JSON.
func newLogger(cfg *config.Config, w io.Writer, format string) *slog.Logger {
	level, _ := config.ParseLevel(cfg.LogLevel)
	if format == "" {
		format = cfg.LogFormat
	}
	opts := &slog.HandlerOptions{Level: level}
	var log *slog.Logger
	if format == "text" {
		log = slog.New(slog.NewTextHandler(w, opts))
	} else {
		log = slog.New(slog.NewJSONHandler(w, opts))
	}
	redis.SetLogger(redisLogger{log.With(slog.String("component", "go-redis"))})
	return log
}

func init() {
	// go-redis logs through one process-wide logger, to stderr by default:
	// "connection pool: failed to dial after 5 attempts", once per command
	// it retries, in front of the one line the command itself prints about
	// the same failure. Commands without a log drop those lines; newLogger
	// routes them into the log.
	redis.SetLogger(redisLogger{slog.New(slog.DiscardHandler)})
}

// redisLogger adapts slog to go-redis's logger. go-redis logs only trouble
// (dial failures, pool problems) that flexlabel reports itself, in the error
// a command returns or in the worker's and asynq's own lines, so its lines
// are detail: debug. Its messages carry addresses, never passwords.
type redisLogger struct{ l *slog.Logger }

func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	r.l.DebugContext(ctx, fmt.Sprintf(format, v...))
}

// jsonLines writes one JSON object per line.
type jsonLines struct{ enc *json.Encoder }

func newJSONLines(w io.Writer) *jsonLines {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &jsonLines{enc: enc}
}

func (j *jsonLines) write(v any) error { return j.enc.Encode(v) }

func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
}

// openInput opens FILE, or standard input for "-" or no argument.
func (a *app) openInput(args []string) (io.ReadCloser, string, error) {
	if len(args) == 0 || args[0] == "-" {
		return io.NopCloser(a.stdin), "stdin", nil
	}
	f, err := os.Open(args[0])
	if err != nil {
		return nil, "", err
	}
	return f, args[0], nil
}

func strOr(p *string, def string) string {
	if p == nil {
		return def
	}
	return *p
}
