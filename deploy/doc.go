// Package deploy holds flexlabel's deployment files — the container image
// (Dockerfile), a Docker Compose stack (compose.yaml, redis.conf), Kubernetes
// manifests (k8s/), systemd units (systemd/) and Prometheus alerting rules
// (prometheus/) — and the tests that keep them honest.
//
// There is no Go code to import here. deploy_test.go parses every YAML file
// under deploy/ and checks the invariants that a reviewer would otherwise
// have to remember:
//
//   - Redis runs with maxmemory-policy noeviction and appendonly yes;
//   - every grace period (Kubernetes terminationGracePeriodSeconds, compose
//     stop_grace_period, systemd TimeoutStopSec) exceeds
//     FLEXLABEL_SHUTDOWN_TIMEOUT, so SIGKILL never cuts an in-flight call;
//   - no secret (FLEXFORWARD_TOKEN, REDIS_URL, FLEXLABEL_API_TOKENS, any
//     *PASSWORD*) is written inline: Kubernetes reads them through
//     secretKeyRef, compose through ${...} interpolation, systemd from an
//     EnvironmentFile outside the repository;
//   - serve's API tokens file (FLEXLABEL_API_TOKENS_FILE) can change under a
//     running serve: a Secret volume mounted without subPath in Kubernetes
//     (never a ConfigMap), a compose secret from the git-ignored
//     deploy/secrets/, a group-readable file and ExecReload=SIGHUP in
//     systemd;
//   - pods have liveness and readiness probes on the port the process
//     listens on, run as non-root with a read-only root filesystem and no
//     capabilities, and are covered by a PodDisruptionBudget;
//   - every setting is one flexlabel knows and accepts (config.Parse).
//
// prometheus_test.go runs Prometheus' promtool over the alerting rules
// (prometheus/alerts.yaml and its rule tests); redisconf_test.go starts
// redis-server with redis.conf and the flags the docs use.
//
// See deploy/README.md for how to use the files and docs/OPERATIONS.md for
// running flexlabel in production.
package deploy
