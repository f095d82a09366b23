package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/flexlabel/flexlabel/config"
	"github.com/flexlabel/flexlabel/internal/auth"
)

// The tests run with deploy/ as the working directory; every path below is
// relative to it.

const shutdownVar = "FLEXLABEL_SHUTDOWN_TIMEOUT"

// secretVars are flexlabel's settings that hold secrets.
var secretVars = []string{"FLEXFORWARD_TOKEN", "REDIS_URL", "FLEXLABEL_API_TOKENS"}

// tokensFileVar names serve's API tokens file. Its value is a path, not a
// secret, but the file's content is: it may come only from a Kubernetes
// Secret volume (never a ConfigMap, never a subPath mount, which no update
// reaches), a compose secret from the git-ignored deploy/secrets/, or a
// group-readable file that the systemd unit can read and reload.
const tokensFileVar = "FLEXLABEL_API_TOKENS_FILE"

// looksLikeTokensFile reports whether text holds a line of an API tokens file
// ("SCOPE TOKEN [KEY_PREFIX...]" with a scope auth knows).
func looksLikeTokensFile(text string) bool {
	for line := range strings.Lines(text) {
		line, _, _ = strings.Cut(line, "#")
		f := strings.Fields(line)
		if len(f) >= 2 && slices.Contains([]auth.Scope{auth.Producer, auth.Operator, auth.Viewer, auth.Metrics}, auth.Scope(f[0])) {
			return true
		}
	}
	return false
}

// isSecretVar reports whether an environment variable holds a secret.
func isSecretVar(name string) bool {
	u := strings.ToUpper(name)
	return slices.Contains(secretVars, u) || strings.Contains(u, "PASSWORD") ||
		strings.Contains(u, "PASSWD") || strings.Contains(u, "SECRET")
}

// ---------------------------------------------------------------------------
// YAML loading

// decodeAll decodes every document of a (multi-document) YAML stream. Empty
// documents are skipped; a document that is not a mapping is an error.
func decodeAll(data []byte) ([]map[string]any, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []map[string]any
	for n := 1; ; n++ {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", n, err)
		}
		if v == nil {
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("document %d is a %T, not a mapping", n, v)
		}
		docs = append(docs, m)
	}
}

// yamlFiles lists every .yaml/.yml file under deploy/, sorted.
func yamlFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != "." && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if ext := filepath.Ext(path); !d.IsDir() && (ext == ".yaml" || ext == ".yml") {
			files = append(files, filepath.ToSlash(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	return files
}

// loadYAML decodes every YAML file under deploy/, failing the test on any that
// does not parse.
func loadYAML(t *testing.T) map[string][]map[string]any {
	t.Helper()
	out := make(map[string][]map[string]any)
	for _, f := range yamlFiles(t) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs, err := decodeAll(data)
		if err != nil {
			t.Errorf("%s: invalid YAML: %v", f, err)
			continue
		}
		out[f] = docs
	}
	return out
}

// k8sObject is one Kubernetes manifest.
type k8sObject struct {
	File string
	Doc  map[string]any
}

func (o k8sObject) Kind() string { return str(o.Doc["kind"]) }
func (o k8sObject) Name() string { return str(dig(o.Doc, "metadata", "name")) }
func (o k8sObject) String() string {
	return fmt.Sprintf("%s: %s/%s", o.File, o.Kind(), o.Name())
}

// k8sObjects returns the Kubernetes manifests among the loaded documents.
func k8sObjects(files map[string][]map[string]any) []k8sObject {
	var objs []k8sObject
	for f, docs := range files {
		for _, d := range docs {
			if _, ok := d["apiVersion"]; ok && d["kind"] != nil {
				objs = append(objs, k8sObject{File: f, Doc: d})
			}
		}
	}
	sort.SliceStable(objs, func(i, j int) bool { return objs[i].String() < objs[j].String() })
	return objs
}

// ---------------------------------------------------------------------------
// Generic helpers for decoded YAML

func dig(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func asMap(v any) map[string]any { m, _ := v.(map[string]any); return m }
func asList(v any) []any         { l, _ := v.([]any); return l }

// str renders a scalar as a string; nil is "".
func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// has reports whether key is present in m (even with a null value).
func has(m map[string]any, key string) bool { _, ok := m[key]; return ok }

// strList renders a YAML list of scalars, or a single string, as strings.
func strList(v any) []string {
	if s, ok := v.(string); ok {
		return []string{s}
	}
	var out []string
	for _, x := range asList(v) {
		out = append(out, str(x))
	}
	return out
}

// listenPort is the port of a Go listen address such as ":9090".
func listenPort(addr string) string {
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		return ""
	}
	return addr[i+1:]
}

// urlPassword returns the password in a URL's user info ("" if none).
func urlPassword(s string) string {
	_, rest, ok := strings.Cut(s, "://")
	if !ok {
		return ""
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return ""
	}
	if slash := strings.Index(rest, "/"); slash >= 0 && slash < at {
		return ""
	}
	_, pw, _ := strings.Cut(rest[:at], ":")
	return pw
}

// ---------------------------------------------------------------------------
// Durations

// parseSystemdSpan parses a systemd time span ("45", "45s", "1min 30s").
func parseSystemdSpan(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "infinity" {
		return 0, fmt.Errorf("%q is not a finite time span", s)
	}
	units := map[string]time.Duration{
		"": time.Second, "s": time.Second, "sec": time.Second, "second": time.Second, "seconds": time.Second,
		"ms": time.Millisecond, "msec": time.Millisecond,
		"m": time.Minute, "min": time.Minute, "minute": time.Minute, "minutes": time.Minute,
		"h": time.Hour, "hr": time.Hour, "hour": time.Hour, "hours": time.Hour,
	}
	re := regexp.MustCompile(`^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-z]*)`)
	var total time.Duration
	for rest := s; strings.TrimSpace(rest) != ""; {
		m := re.FindStringSubmatch(rest)
		if m == nil {
			return 0, fmt.Errorf("cannot parse time span %q", s)
		}
		unit, ok := units[m[2]]
		if !ok {
			return 0, fmt.Errorf("unknown unit %q in time span %q", m[2], s)
		}
		f, _ := strconv.ParseFloat(m[1], 64)
		total += time.Duration(f * float64(unit))
		rest = rest[len(m[0]):]
	}
	return total, nil
}

// ---------------------------------------------------------------------------
// Compose interpolation

var interpRe = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}`)

// interpolations lists the ${...} expressions in a compose value; $$ escapes
// are not interpolations.
func interpolations(v string) [][]string {
	return interpRe.FindAllStringSubmatch(strings.ReplaceAll(v, "$$", ""), -1)
}

// resolveDefault returns a compose value with each ${VAR:-default} replaced by
// its default; ok is false when some interpolation has no default.
func resolveDefault(v string) (string, bool) {
	ok := true
	out := interpRe.ReplaceAllStringFunc(v, func(expr string) string {
		m := interpRe.FindStringSubmatch(expr)
		if m[2] == "-" || m[2] == ":-" {
			return m[3]
		}
		ok = false
		return ""
	})
	return out, ok
}

// composeSecretProblem says what is wrong with a secret-holding compose
// variable, or "" when it is interpolated properly.
func composeSecretProblem(name, value string) string {
	exprs := interpolations(value)
	if len(exprs) == 0 {
		return "holds a literal value; use ${" + name + ":?...} and deploy/.env"
	}
	for _, m := range exprs {
		if (m[2] == "-" || m[2] == ":-") && m[3] != "" {
			if strings.Contains(value, "://") && !strings.Contains(m[3], "://") && !isSecretVar(m[1]) {
				// A default for a part of a URL that is not its password,
				// such as REDIS_URL's host (compose's sentinel profile).
				continue
			}
			if strings.Contains(m[3], "://") {
				if urlPassword(m[3]) != "" {
					return "interpolation default carries a literal password"
				}
			} else {
				return "interpolation has a literal default " + strconv.Quote(m[3])
			}
		}
	}
	literal := interpRe.ReplaceAllString(strings.ReplaceAll(value, "$$", ""), "")
	if strings.Contains(value, "://") {
		if urlPassword(literal) != "" {
			return "URL carries a literal password"
		}
		return ""
	}
	if strings.TrimSpace(literal) != "" {
		return "mixes literal text " + strconv.Quote(literal) + " into a secret"
	}
	return ""
}

// composeEnv returns a service's environment as name -> value; a bare name
// (passed through from the shell) maps to nil.
func composeEnv(svc map[string]any) map[string]*string {
	env := make(map[string]*string)
	switch e := svc["environment"].(type) {
	case map[string]any:
		for k, v := range e {
			if v == nil {
				env[k] = nil
				continue
			}
			s := str(v)
			env[k] = &s
		}
	case []any:
		for _, x := range e {
			k, v, ok := strings.Cut(str(x), "=")
			if !ok {
				env[k] = nil
				continue
			}
			env[k] = &v
		}
	}
	return env
}

// ---------------------------------------------------------------------------
// redis.conf

// redisDirectives parses redis.conf text: the last occurrence of a directive
// wins, except `save`, whose lines accumulate.
func redisDirectives(text string) map[string][]string {
	d := make(map[string][]string)
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		key := strings.ToLower(f[0])
		val := strings.Join(f[1:], " ")
		if key == "save" {
			d[key] = append(d[key], val)
		} else {
			d[key] = []string{val}
		}
	}
	return d
}

func last(vals []string) string {
	if len(vals) == 0 {
		return ""
	}
	return vals[len(vals)-1]
}

// checkRedisSettings checks the settings that must hold wherever Redis runs.
func checkRedisSettings(where string, get func(string) (string, bool)) []string {
	var p []string
	if v, _ := get("appendonly"); strings.ToLower(v) != "yes" {
		p = append(p, fmt.Sprintf("%s: appendonly must be yes, got %q", where, v))
	}
	if v, _ := get("maxmemory-policy"); strings.ToLower(v) != "noeviction" {
		p = append(p, fmt.Sprintf("%s: maxmemory-policy must be noeviction, got %q", where, v))
	}
	for _, k := range []string{"requirepass", "masterauth"} {
		if _, ok := get(k); ok {
			p = append(p, fmt.Sprintf("%s: %s must not be set inline; use an ACL file or secret", where, k))
		}
	}
	return p
}

// checkRedisConf checks a redis.conf file.
func checkRedisConf(where, text string) []string {
	d := redisDirectives(text)
	get := func(k string) (string, bool) { v, ok := d[k]; return last(v), ok }
	p := checkRedisSettings(where, get)
	if v, _ := get("appendfsync"); v != "everysec" {
		p = append(p, fmt.Sprintf("%s: appendfsync must be everysec, got %q", where, v))
	}
	if v, _ := get("maxmemory"); v == "" || v == "0" {
		p = append(p, fmt.Sprintf("%s: maxmemory must be set (see the sizing comment), got %q", where, v))
	}
	if v, _ := get("protected-mode"); v != "yes" {
		p = append(p, fmt.Sprintf("%s: protected-mode must be yes, got %q", where, v))
	}
	if s := d["save"]; len(s) == 0 || slices.Contains(s, `""`) {
		p = append(p, fmt.Sprintf("%s: save points must be set (RDB snapshots for backups)", where))
	}
	return p
}

// ---------------------------------------------------------------------------
// compose.yaml

// commandTokens splits a compose command (list or string, possibly a
// `sh -c` script) into whitespace-separated tokens.
func commandTokens(v any) []string {
	var toks []string
	for _, s := range strList(v) {
		toks = append(toks, strings.Fields(s)...)
	}
	return toks
}

// checkComposeRedis checks that the compose Redis service runs with
// noeviction and appendonly, from command-line flags or from a mounted
// redis.conf (read with readFile, relative to the compose file).
func checkComposeRedis(where string, svc map[string]any, readFile func(string) ([]byte, error)) []string {
	var p []string
	if img := str(svc["image"]); !strings.HasPrefix(img, "redis:7") {
		p = append(p, fmt.Sprintf("%s: image must be redis:7-..., got %q", where, img))
	}
	toks := commandTokens(svc["command"])
	settings := make(map[string]string)
	var confPath string
	for i, t := range toks {
		// The configuration file is redis-server's first argument (a
		// replica's command also writes a replica.conf it includes).
		if strings.HasSuffix(t, ".conf") && confPath == "" && i > 0 && path.Base(toks[i-1]) == "redis-server" {
			confPath = t
		}
		if strings.HasPrefix(t, "--") && i+1 < len(toks) {
			settings[strings.TrimPrefix(t, "--")] = toks[i+1]
		}
	}
	if _, ok := settings["requirepass"]; ok {
		p = append(p, fmt.Sprintf("%s: --requirepass on the command line exposes the password; use an ACL file", where))
		delete(settings, "requirepass")
	}
	conf := map[string][]string{}
	if confPath != "" {
		src := ""
		for _, v := range strList(svc["volumes"]) {
			parts := strings.Split(v, ":")
			if len(parts) >= 2 && parts[1] == confPath {
				src = parts[0]
			}
		}
		if src == "" {
			p = append(p, fmt.Sprintf("%s: %s is not mounted from the repository", where, confPath))
		} else if data, err := readFile(src); err != nil {
			p = append(p, fmt.Sprintf("%s: reading %s: %v", where, src, err))
		} else {
			conf = redisDirectives(string(data))
			p = append(p, checkRedisConf(where+" "+src, string(data))...)
		}
	}
	get := func(k string) (string, bool) {
		if v, ok := settings[k]; ok {
			return v, true
		}
		v, ok := conf[k]
		return last(v), ok
	}
	return append(p, checkRedisSettings(where+" (effective)", get)...)
}

// isSentinelService reports whether a compose service runs Redis Sentinel.
func isSentinelService(svc map[string]any) bool {
	toks := commandTokens(svc["command"])
	return slices.Contains(toks, "--sentinel") || slices.ContainsFunc(toks, func(t string) bool { return path.Base(t) == "redis-sentinel" })
}

// checkComposeSentinel checks a sentinel of the compose file's sentinel
// profile: in that profile only, monitoring with a quorum of 2, and
// authenticating with a password that comes from the environment.
func checkComposeSentinel(where string, svc map[string]any) []string {
	var p []string
	if !slices.Contains(strList(svc["profiles"]), "sentinel") {
		p = append(p, where+": a sentinel must be in the sentinel profile, so the default deployment stays one Redis")
	}
	cmd := strings.Join(strList(svc["command"]), "\n")
	if !regexp.MustCompile(`(?m)^\s*sentinel monitor \S+ \S+ \d+ 2\s*$`).MatchString(cmd) {
		p = append(p, where+": want sentinel monitor NAME HOST PORT 2 (a quorum of 2 of 3)")
	}
	if m := regexp.MustCompile(`(?m)^\s*sentinel auth-pass \S+ (\S+)`).FindStringSubmatch(cmd); m == nil || !strings.HasPrefix(m[1], "$$") {
		p = append(p, where+": sentinel auth-pass must come from the environment ($$REDIS_PASSWORD), not a literal")
	}
	return p
}

func isFlexlabelService(svc map[string]any) bool {
	return svc["build"] != nil || strings.Contains(str(svc["image"]), "flexlabel")
}

func isRootUser(u string) bool {
	name, _, _ := strings.Cut(u, ":")
	return name == "" || name == "0" || name == "root"
}

// checkCompose checks a compose file. defaultShutdown is flexlabel's default
// FLEXLABEL_SHUTDOWN_TIMEOUT.
func checkCompose(file string, doc map[string]any, readFile func(string) ([]byte, error), defaultShutdown time.Duration) []string {
	var p []string
	services := asMap(doc["services"])
	if len(services) == 0 {
		return []string{file + ": no services"}
	}
	names := make([]string, 0, len(services))
	for n := range services {
		names = append(names, n)
	}
	sort.Strings(names)
	redis, workers, serve, replicas := 0, 0, 0, 0
	var sentinels []string
	for _, name := range names {
		svc := asMap(services[name])
		where := file + ": services." + name
		env := composeEnv(svc)
		for k, v := range env {
			if v == nil {
				continue
			}
			if isSecretVar(k) {
				if msg := composeSecretProblem(k, *v); msg != "" {
					p = append(p, fmt.Sprintf("%s: %s %s", where, k, msg))
				}
			} else if lit, _ := resolveDefault(*v); urlPassword(lit) != "" {
				p = append(p, fmt.Sprintf("%s: %s carries a literal password", where, k))
			}
		}
		hc := asMap(svc["healthcheck"])
		if len(strList(hc["test"])) == 0 || hc["disable"] == true {
			p = append(p, where+": no healthcheck")
		}
		if isSentinelService(svc) {
			sentinels = append(sentinels, name)
			p = append(p, checkComposeSentinel(where, svc)...)
			continue
		}
		if strings.HasPrefix(str(svc["image"]), "redis") {
			redis++
			if slices.Contains(strList(svc["profiles"]), "sentinel") {
				replicas++
			}
			p = append(p, checkComposeRedis(where, svc, readFile)...)
			continue
		}
		if !isFlexlabelService(svc) {
			continue
		}
		cmd := commandTokens(svc["command"])
		role := ""
		if len(cmd) > 0 {
			role = cmd[0]
		}
		replicas := 1
		if r := dig(svc, "deploy", "replicas"); r != nil {
			replicas, _ = strconv.Atoi(str(r))
		}
		switch role {
		case "worker", "":
			workers += replicas
			if v := env["FLEXFORWARD_TOKEN"]; v == nil {
				p = append(p, where+": worker needs FLEXFORWARD_TOKEN")
			}
		case "serve":
			serve += replicas
			p = append(p, checkComposeTokensFile(where, doc, svc, env)...)
		}
		if u := str(svc["user"]); isRootUser(u) {
			p = append(p, fmt.Sprintf("%s: user must be a non-root uid (65532), got %q", where, u))
		}
		shutdown := defaultShutdown
		if v := env[shutdownVar]; v != nil {
			lit, ok := resolveDefault(*v)
			d, err := time.ParseDuration(lit)
			switch {
			case !ok:
				p = append(p, fmt.Sprintf("%s: %s %q has no default to check the grace period against", where, shutdownVar, *v))
			case err != nil:
				p = append(p, fmt.Sprintf("%s: %s: %v", where, shutdownVar, err))
			default:
				shutdown = d
			}
		}
		grace, err := time.ParseDuration(str(svc["stop_grace_period"]))
		if err != nil {
			p = append(p, fmt.Sprintf("%s: stop_grace_period must be set above %s %s (Docker's default is 10s): %v", where, shutdownVar, shutdown, err))
		} else if grace <= shutdown {
			p = append(p, fmt.Sprintf("%s: stop_grace_period %s is not above %s %s", where, grace, shutdownVar, shutdown))
		}
	}
	if redis == 0 {
		p = append(p, file+": no redis service")
	}
	if len(sentinels) > 0 && (len(sentinels) < 3 || len(sentinels)%2 == 0) {
		p = append(p, fmt.Sprintf("%s: want an odd number of sentinels, at least 3, got %d", file, len(sentinels)))
	}
	if len(sentinels) > 0 && replicas == 0 {
		p = append(p, file+": the sentinel profile has no Redis replica to promote")
	}
	if workers < 2 {
		p = append(p, fmt.Sprintf("%s: want at least 2 worker replicas, got %d", file, workers))
	}
	if serve < 1 {
		p = append(p, file+": no serve service")
	}
	return p
}

// composeTarget is where a compose secret or config reference is mounted in
// the container (long or short syntax).
func composeTarget(ref any, dir string) (source, target string) {
	if m := asMap(ref); m != nil {
		source, target = str(m["source"]), str(m["target"])
	} else {
		source = str(ref)
	}
	if target == "" {
		target = source
	}
	if !path.IsAbs(target) {
		target = path.Join(dir, target)
	}
	return source, target
}

// checkComposeTokensFile checks that a compose serve service reads its
// FLEXLABEL_API_TOKENS_FILE from a compose secret whose file lies in the
// git-ignored deploy/secrets/, and from nothing else.
func checkComposeTokensFile(where string, doc, svc map[string]any, env map[string]*string) []string {
	v := env[tokensFileVar]
	if v == nil || *v == "" {
		return []string{fmt.Sprintf("%s: serve needs %s, the target of a secret from ./secrets/", where, tokensFileVar)}
	}
	if len(interpolations(*v)) > 0 || !path.IsAbs(*v) {
		return []string{fmt.Sprintf("%s: %s must be a literal absolute path, got %q", where, tokensFileVar, *v)}
	}
	file := path.Clean(*v)
	var p []string
	for _, c := range asList(svc["configs"]) {
		if _, target := composeTarget(c, "/"); target == file {
			p = append(p, fmt.Sprintf("%s: %s %s comes from configs:; API tokens come only from secrets:", where, tokensFileVar, file))
		}
	}
	for _, vol := range asList(svc["volumes"]) {
		target := str(dig(vol, "target"))
		if s, ok := vol.(string); ok {
			if parts := strings.Split(s, ":"); len(parts) >= 2 {
				target = parts[1]
			}
		}
		if target != "" && (path.Clean(target) == file || strings.HasPrefix(file, path.Clean(target)+"/")) {
			p = append(p, fmt.Sprintf("%s: %s %s comes from volume %s; mount the tokens file with secrets:", where, tokensFileVar, file, target))
		}
	}
	source := ""
	for _, ref := range asList(svc["secrets"]) {
		if src, target := composeTarget(ref, "/run/secrets"); target == file {
			source = src
		}
	}
	if source == "" {
		return append(p, fmt.Sprintf("%s: %s %s is the target of no secret of the service; mount the tokens file with secrets:", where, tokensFileVar, file))
	}
	def := asMap(dig(doc, "secrets", source))
	src := str(def["file"])
	switch {
	case def == nil:
		p = append(p, fmt.Sprintf("%s: secret %q is not defined under the top-level secrets:", where, source))
	case src == "":
		p = append(p, fmt.Sprintf("%s: secret %q must come from a file under ./secrets/ (git-ignored)", where, source))
	case !strings.HasPrefix(path.Clean(src), "secrets/"):
		p = append(p, fmt.Sprintf("%s: secret %q: file %q must be under ./secrets/, which deploy/.gitignore and the build context leave out", where, source, src))
	}
	return p
}

// ---------------------------------------------------------------------------
// Kubernetes

// podSpec returns the pod spec and pod template metadata of a workload.
func podSpec(o k8sObject) (spec, meta map[string]any, ok bool) {
	switch o.Kind() {
	case "Pod":
		return asMap(o.Doc["spec"]), asMap(o.Doc["metadata"]), true
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job":
		t := dig(o.Doc, "spec", "template")
		return asMap(dig(t, "spec")), asMap(dig(t, "metadata")), true
	case "CronJob":
		t := dig(o.Doc, "spec", "jobTemplate", "spec", "template")
		return asMap(dig(t, "spec")), asMap(dig(t, "metadata")), true
	}
	return nil, nil, false
}

// envVar is one resolved container environment variable.
type envVar struct {
	Value     string // literal or from a ConfigMap
	Literal   bool   // set with `value:` in the pod spec
	SecretRef string // "secret/key" when from secretKeyRef
}

// containerEnv resolves a container's environment: envFrom ConfigMaps first,
// then env entries. Problems are references to unknown ConfigMaps.
func containerEnv(c map[string]any, configMaps map[string]map[string]string) (map[string]envVar, []string) {
	env := make(map[string]envVar)
	var p []string
	for _, ef := range asList(c["envFrom"]) {
		ref := asMap(dig(ef, "configMapRef"))
		if ref == nil {
			continue
		}
		cm, ok := configMaps[str(ref["name"])]
		if !ok && dig(ref, "optional") != true {
			p = append(p, fmt.Sprintf("envFrom configMapRef %q: no such ConfigMap under deploy/", str(ref["name"])))
		}
		for k, v := range cm {
			env[k] = envVar{Value: v}
		}
	}
	for _, e := range asList(c["env"]) {
		em := asMap(e)
		name := str(em["name"])
		switch {
		case has(em, "value"):
			env[name] = envVar{Value: str(em["value"]), Literal: true}
		case dig(em, "valueFrom", "secretKeyRef") != nil:
			ref := asMap(dig(em, "valueFrom", "secretKeyRef"))
			env[name] = envVar{SecretRef: str(ref["name"]) + "/" + str(ref["key"])}
		case dig(em, "valueFrom", "configMapKeyRef") != nil:
			ref := asMap(dig(em, "valueFrom", "configMapKeyRef"))
			env[name] = envVar{Value: configMaps[str(ref["name"])][str(ref["key"])]}
		default:
			env[name] = envVar{}
		}
	}
	return env, p
}

// flexlabelRole is the subcommand a container runs ("" if not flexlabel).
func flexlabelRole(c map[string]any) string {
	if !strings.Contains(str(c["image"]), "flexlabel") {
		return ""
	}
	args := append(strList(c["command"]), strList(c["args"])...)
	for _, a := range args {
		if a == "/flexlabel" || strings.HasSuffix(a, "/flexlabel") || strings.HasPrefix(a, "-") {
			continue
		}
		return a
	}
	return "worker" // the image's CMD
}

// portNumber resolves a probe or Service port (number or name) against a
// container's ports.
func portNumber(port any, containers []any) string {
	s := str(port)
	if _, err := strconv.Atoi(s); err == nil {
		return s
	}
	for _, c := range containers {
		for _, cp := range asList(dig(c, "ports")) {
			if str(dig(cp, "name")) == s {
				return str(dig(cp, "containerPort"))
			}
		}
	}
	return ""
}

func boolAt(m map[string]any, path ...string) (bool, bool) {
	v, ok := dig(m, path...).(bool)
	return v, ok
}

// checkKubernetes checks a set of Kubernetes manifests. defaultShutdown is
// flexlabel's default FLEXLABEL_SHUTDOWN_TIMEOUT.
func checkKubernetes(objs []k8sObject, defaultShutdown time.Duration) []string {
	var p []string
	configMaps := make(map[string]map[string]string)
	type workload struct {
		obj    k8sObject
		spec   map[string]any
		labels map[string]any
	}
	var workloads []workload
	var pdbs, services []k8sObject
	secrets := make(map[string]bool) // names of the Secrets documented under deploy/
	for _, o := range objs {
		if o.Name() == "" && o.Kind() != "Kustomization" {
			p = append(p, o.String()+": no metadata.name")
		}
		if ns := dig(o.Doc, "metadata", "namespace"); ns != nil {
			p = append(p, fmt.Sprintf("%s: sets metadata.namespace %q; manifests must be namespace-agnostic", o, str(ns)))
		}
		switch o.Kind() {
		case "Namespace":
			p = append(p, o.String()+": manifests must be namespace-agnostic; do not create a Namespace")
		case "Kustomization":
			if ns := o.Doc["namespace"]; ns != nil {
				p = append(p, fmt.Sprintf("%s: sets namespace %q; manifests must be namespace-agnostic", o, str(ns)))
			}
		case "ConfigMap":
			data := make(map[string]string)
			for k, v := range asMap(o.Doc["data"]) {
				data[k] = str(v)
				if isSecretVar(k) {
					p = append(p, fmt.Sprintf("%s: holds secret %s; put it in the Secret and use secretKeyRef", o, k))
				} else if looksLikeTokensFile(str(v)) || strings.Contains(strings.ToLower(k), "token") && k != tokensFileVar {
					p = append(p, fmt.Sprintf("%s: %s holds API tokens; the tokens file belongs in the Secret flexlabel-api-tokens, mounted as a volume", o, k))
				} else if urlPassword(str(v)) != "" {
					p = append(p, fmt.Sprintf("%s: %s carries a literal password", o, k))
				}
			}
			configMaps[o.Name()] = data
		case "Secret":
			secrets[o.Name()] = true
			for _, field := range []string{"data", "stringData"} {
				if len(asMap(o.Doc[field])) > 0 {
					p = append(p, fmt.Sprintf("%s: has %s values committed; create the Secret out of band", o, field))
				}
			}
		case "PodDisruptionBudget":
			pdbs = append(pdbs, o)
		case "Service":
			services = append(services, o)
		}
		if spec, meta, ok := podSpec(o); ok {
			workloads = append(workloads, workload{o, spec, asMap(meta["labels"])})
		}
	}

	for _, w := range workloads {
		o, spec := w.obj, w.spec
		if spec == nil {
			p = append(p, o.String()+": no pod spec")
			continue
		}
		_, meta, _ := podSpec(o)
		podNonRoot, podNonRootSet := boolAt(spec, "securityContext", "runAsNonRoot")
		containers := asList(spec["containers"])
		var grace time.Duration
		graceSet := spec["terminationGracePeriodSeconds"] != nil
		if graceSet {
			n, err := strconv.Atoi(str(spec["terminationGracePeriodSeconds"]))
			if err != nil {
				p = append(p, fmt.Sprintf("%s: terminationGracePeriodSeconds: %v", o, err))
			}
			grace = time.Duration(n) * time.Second
		}
		runsFlexlabel := false
		inits := asList(spec["initContainers"])
		for i, c := range append(slices.Clone(inits), containers...) {
			cm := asMap(c)
			where := fmt.Sprintf("%s: container %s", o, str(cm["name"]))
			env, envProblems := containerEnv(cm, configMaps)
			for _, msg := range envProblems {
				p = append(p, where+": "+msg)
			}
			for _, e := range asList(cm["env"]) {
				em := asMap(e)
				name := str(em["name"])
				switch {
				case isSecretVar(name) && has(em, "value"):
					p = append(p, fmt.Sprintf("%s: %s has a literal value; use valueFrom.secretKeyRef", where, name))
				case isSecretVar(name) && dig(em, "valueFrom", "secretKeyRef") == nil:
					p = append(p, fmt.Sprintf("%s: %s must come from valueFrom.secretKeyRef", where, name))
				case isSecretVar(name) && str(dig(em, "valueFrom", "secretKeyRef", "name")) != "flexlabel":
					p = append(p, fmt.Sprintf("%s: %s must come from the Secret named flexlabel", where, name))
				case urlPassword(str(em["value"])) != "":
					p = append(p, fmt.Sprintf("%s: %s carries a literal password", where, name))
				}
			}

			// Non-root, read-only, no capabilities.
			sc := asMap(cm["securityContext"])
			nonRoot, set := boolAt(sc, "runAsNonRoot")
			if !set {
				nonRoot, set = podNonRoot, podNonRootSet
			}
			if !set || !nonRoot {
				p = append(p, where+": runAsNonRoot must be true (pod or container securityContext)")
			}
			uid := dig(sc, "runAsUser")
			if uid == nil {
				uid = dig(spec, "securityContext", "runAsUser")
			}
			if uid != nil && str(uid) == "0" {
				p = append(p, where+": runAsUser must not be 0")
			}
			if v, _ := boolAt(sc, "readOnlyRootFilesystem"); !v {
				p = append(p, where+": readOnlyRootFilesystem must be true")
			}
			if v, ok := boolAt(sc, "allowPrivilegeEscalation"); !ok || v {
				p = append(p, where+": allowPrivilegeEscalation must be false")
			}
			if v, _ := boolAt(sc, "privileged"); v {
				p = append(p, where+": must not be privileged")
			}
			if !slices.Contains(strList(dig(sc, "capabilities", "drop")), "ALL") {
				p = append(p, where+": capabilities.drop must include ALL")
			}
			if dig(cm, "resources", "requests") == nil || dig(cm, "resources", "limits", "memory") == nil {
				p = append(p, where+": resources.requests and resources.limits.memory must be set")
			}

			role := flexlabelRole(cm)
			if role == "" || i < len(inits) { // init containers: security checks only
				continue
			}
			runsFlexlabel = true

			// The secrets each role needs, from secretKeyRef. serve's API
			// tokens come from the tokens file; FLEXLABEL_API_TOKENS is
			// optional (and, when set, a secretKeyRef like every secret).
			need := map[string][]string{
				"worker": {"FLEXFORWARD_TOKEN", "REDIS_URL"},
				"serve":  {"REDIS_URL"},
			}[role]
			for _, n := range need {
				if env[n].SecretRef == "" {
					p = append(p, fmt.Sprintf("%s: %s needs %s from secretKeyRef", where, role, n))
				}
			}
			if role == "serve" {
				p = append(p, checkTokensFileMount(where, cm, spec, env[tokensFileVar].Value, secrets)...)
			}

			// Shutdown timeout vs grace period.
			shutdown := defaultShutdown
			if v, ok := env[shutdownVar]; !ok || v.Value == "" {
				p = append(p, fmt.Sprintf("%s: %s is not set (ConfigMap)", where, shutdownVar))
			} else if d, err := time.ParseDuration(v.Value); err != nil {
				p = append(p, fmt.Sprintf("%s: %s: %v", where, shutdownVar, err))
			} else {
				shutdown = d
			}
			if !graceSet {
				p = append(p, fmt.Sprintf("%s: terminationGracePeriodSeconds must be set above %s %s (the default, 30s, is not)", o, shutdownVar, shutdown))
			} else if grace <= shutdown {
				p = append(p, fmt.Sprintf("%s: terminationGracePeriodSeconds %s is not above %s %s", o, grace, shutdownVar, shutdown))
			}

			// Probes on the port the process listens on.
			var addr string
			switch role {
			case "worker":
				addr = env["FLEXLABEL_METRICS_ADDR"].Value
				if addr == "" {
					p = append(p, where+": worker needs FLEXLABEL_METRICS_ADDR for /healthz, /readyz and /metrics")
				}
			case "serve":
				addr = env["FLEXLABEL_HTTP_ADDR"].Value
				if addr == "" {
					addr = ":8080"
				}
			}
			port := listenPort(addr)
			for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
				pr := asMap(cm[probe])
				if pr == nil {
					p = append(p, fmt.Sprintf("%s: no %s", where, probe))
					continue
				}
				if got := str(dig(pr, "httpGet", "path")); got != path {
					p = append(p, fmt.Sprintf("%s: %s must GET %s, got %q", where, probe, path, got))
				}
				if got := portNumber(dig(pr, "httpGet", "port"), []any{c}); port != "" && got != port {
					p = append(p, fmt.Sprintf("%s: %s port %s is not the listen port %s", where, probe, got, port))
				}
			}

			// Prometheus scrape annotations.
			ann := asMap(meta["annotations"])
			if str(ann["prometheus.io/scrape"]) != "true" {
				p = append(p, o.String()+": pod template needs annotation prometheus.io/scrape: \"true\"")
			}
			if got := str(ann["prometheus.io/port"]); port != "" && got != port {
				p = append(p, fmt.Sprintf("%s: annotation prometheus.io/port is %q, want %s", o, got, port))
			}
			if got := str(ann["prometheus.io/path"]); got != "/metrics" {
				p = append(p, fmt.Sprintf("%s: annotation prometheus.io/path is %q, want /metrics", o, got))
			}
		}

		if !runsFlexlabel || o.Kind() != "Deployment" {
			continue
		}
		if n, _ := strconv.Atoi(str(dig(o.Doc, "spec", "replicas"))); n < 2 {
			p = append(p, fmt.Sprintf("%s: replicas must be at least 2 (a PodDisruptionBudget of minAvailable 1 would block every drain), got %d", o, n))
		}
		covered := false
		for _, pdb := range pdbs {
			sel := asMap(dig(pdb.Doc, "spec", "selector", "matchLabels"))
			if len(sel) == 0 || !labelsMatch(sel, w.labels) {
				continue
			}
			covered = true
			if got := str(dig(pdb.Doc, "spec", "minAvailable")); got != "1" {
				p = append(p, fmt.Sprintf("%s: minAvailable must be 1, got %q", pdb, got))
			}
		}
		if !covered {
			p = append(p, o.String()+": no PodDisruptionBudget selects its pods")
		}
	}

	for _, s := range services {
		sel := asMap(dig(s.Doc, "spec", "selector"))
		var target *workload
		for i := range workloads {
			if len(sel) > 0 && labelsMatch(sel, workloads[i].labels) {
				target = &workloads[i]
			}
		}
		if target == nil {
			p = append(p, s.String()+": selects no workload under deploy/")
			continue
		}
		for _, sp := range asList(dig(s.Doc, "spec", "ports")) {
			tp := dig(sp, "targetPort")
			if tp == nil {
				tp = dig(sp, "port")
			}
			if portNumber(tp, asList(target.spec["containers"])) == "" {
				p = append(p, fmt.Sprintf("%s: targetPort %v is no container port of %s", s, tp, target.obj))
			}
		}
	}
	return p
}

// checkTokensFileMount checks that serve's FLEXLABEL_API_TOKENS_FILE (file)
// lies in a read-only, whole-directory mount of a Secret volume that
// deploy/ documents (secrets), readable by the non-root process through
// fsGroup and by no one else.
func checkTokensFileMount(where string, c, spec map[string]any, file string, secrets map[string]bool) []string {
	if file == "" {
		return []string{fmt.Sprintf("%s: serve needs %s, a path in a volume mounted from the Secret of API tokens", where, tokensFileVar)}
	}
	if !path.IsAbs(file) {
		return []string{fmt.Sprintf("%s: %s %q must be an absolute path", where, tokensFileVar, file)}
	}
	var mount map[string]any
	var dir string
	for _, vm := range asList(c["volumeMounts"]) {
		mp := path.Clean(str(dig(vm, "mountPath")))
		if strings.HasPrefix(file, strings.TrimSuffix(mp, "/")+"/") && len(mp) > len(dir) {
			mount, dir = asMap(vm), mp
		}
	}
	if mount == nil {
		return []string{fmt.Sprintf("%s: %s %s is in no volumeMount; mount the Secret of API tokens there", where, tokensFileVar, file)}
	}
	var p []string
	if has(mount, "subPath") || has(mount, "subPathExpr") {
		p = append(p, fmt.Sprintf("%s: the mount at %s uses subPath: a Secret update never reaches a subPath mount, so rotated tokens would not be seen; mount the volume as a directory", where, dir))
	}
	if v, _ := boolAt(mount, "readOnly"); !v {
		p = append(p, fmt.Sprintf("%s: the mount at %s must be readOnly: true", where, dir))
	}
	var vol map[string]any
	for _, v := range asList(spec["volumes"]) {
		if str(dig(v, "name")) == str(mount["name"]) {
			vol = asMap(v)
		}
	}
	sec := asMap(vol["secret"])
	if sec == nil {
		return append(p, fmt.Sprintf("%s: volume %q holding %s is not a secret volume; API tokens come only from a Secret (never a ConfigMap)", where, str(mount["name"]), tokensFileVar))
	}
	if name := str(sec["secretName"]); !secrets[name] {
		p = append(p, fmt.Sprintf("%s: volume %q mounts the Secret %q, which no Secret under deploy/ documents (k8s/secret.template.yaml)", where, str(mount["name"]), name))
	}
	rel := strings.TrimPrefix(file, dir+"/")
	mode := sec["defaultMode"]
	if items := asList(sec["items"]); len(items) > 0 {
		var item map[string]any
		for _, it := range items {
			if path.Clean(str(dig(it, "path"))) == rel {
				item = asMap(it)
			}
		}
		if item == nil {
			return append(p, fmt.Sprintf("%s: %s %s: no item of volume %q has path %s", where, tokensFileVar, file, str(mount["name"]), rel))
		}
		if item["mode"] != nil {
			mode = item["mode"]
		}
	} else if strings.Contains(rel, "/") {
		p = append(p, fmt.Sprintf("%s: %s %s: a Secret volume without items has no subdirectory %s", where, tokensFileVar, file, path.Dir(rel)))
	}
	n, err := strconv.Atoi(str(mode))
	switch {
	case mode == nil || err != nil:
		p = append(p, fmt.Sprintf("%s: volume %q: defaultMode must be set (0440 with fsGroup; the default 0644 lets every user in the container read the tokens)", where, str(mount["name"])))
	case n&0o007 != 0:
		p = append(p, fmt.Sprintf("%s: volume %q: mode %#o lets other users read the tokens; use 0440 with fsGroup", where, str(mount["name"]), n))
	case n&0o040 == 0 || dig(spec, "securityContext", "fsGroup") == nil:
		p = append(p, fmt.Sprintf("%s: volume %q: with mode %#o and fsGroup %v the non-root process cannot read the tokens; set the pod's fsGroup and mode 0440", where, str(mount["name"]), n, dig(spec, "securityContext", "fsGroup")))
	}
	return p
}

func labelsMatch(selector, labels map[string]any) bool {
	for k, v := range selector {
		if str(labels[k]) != str(v) {
			return false
		}
	}
	return true
}

// ---------------------------------------------------------------------------
// systemd

// unitSettings parses a systemd unit into section.key -> values.
func unitSettings(text string) map[string][]string {
	out := make(map[string][]string)
	section := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";") {
			continue
		}
		if strings.HasPrefix(line, "[") {
			section = strings.Trim(line, "[]")
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		key := section + "." + strings.TrimSpace(k)
		out[key] = append(out[key], strings.TrimSpace(v))
	}
	return out
}

// unitEnvironment returns the assignments of a unit's Environment= lines.
func unitEnvironment(u map[string][]string) map[string]string {
	env := make(map[string]string)
	for _, line := range u["Service.Environment"] {
		for _, f := range strings.Fields(line) {
			k, v, _ := strings.Cut(strings.Trim(f, `"'`), "=")
			env[k] = v
		}
	}
	return env
}

// envFileVars parses KEY=VALUE lines of an environment file.
func envFileVars(text string) map[string]string {
	env := make(map[string]string)
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		env[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"'`)
	}
	return env
}

// checkEnvFile checks a committed environment file: secrets stay empty.
func checkEnvFile(where, text string) []string {
	var p []string
	for k, v := range envFileVars(text) {
		if isSecretVar(k) && v != "" {
			p = append(p, fmt.Sprintf("%s: %s has a value; committed env files leave secrets empty", where, k))
		} else if urlPassword(v) != "" {
			p = append(p, fmt.Sprintf("%s: %s carries a literal password", where, k))
		}
	}
	return p
}

// reloadSendsHUP reports whether an ExecReload= command line signals the
// main process with SIGHUP.
func reloadSendsHUP(cmd string) bool {
	f := strings.Fields(strings.TrimLeft(cmd, "-@:+!"))
	if len(f) < 3 || path.Base(f[0]) != "kill" || (f[len(f)-1] != "$MAINPID" && f[len(f)-1] != "${MAINPID}") {
		return false
	}
	sig := strings.Join(f[1:len(f)-1], " ")
	return slices.Contains([]string{"-HUP", "-SIGHUP", "-1", "-s HUP", "-s SIGHUP", "--signal HUP", "--signal=HUP"}, sig)
}

// unitRole is the flexlabel subcommand a unit's ExecStart runs.
func unitRole(execStart string) string {
	f := strings.Fields(execStart)
	for i, a := range f {
		if path.Base(a) == "flexlabel" && i+1 < len(f) {
			return f[i+1]
		}
	}
	return ""
}

// checkUnit checks a systemd service unit. envFile is what the
// EnvironmentFile sets (it overrides the unit's Environment=); shutdown is
// the FLEXLABEL_SHUTDOWN_TIMEOUT it runs with unless either sets its own.
func checkUnit(where, text string, envFile map[string]string, shutdown time.Duration) []string {
	var p []string
	u := unitSettings(text)
	get := func(k string) string { return last(u["Service."+k]) }
	env := unitEnvironment(u)
	for k := range env {
		if isSecretVar(k) {
			p = append(p, fmt.Sprintf("%s: Environment=%s inlines a secret; keep it in the EnvironmentFile", where, k))
		}
	}
	if v, ok := env[shutdownVar]; ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			p = append(p, fmt.Sprintf("%s: %s: %v", where, shutdownVar, err))
		} else {
			shutdown = d
		}
	}
	if !strings.Contains(get("ExecStart"), "flexlabel") {
		p = append(p, where+": ExecStart does not run flexlabel")
	}
	if !slices.Contains(u["Service.EnvironmentFile"], "/etc/flexlabel/flexlabel.env") {
		p = append(p, where+": EnvironmentFile=/etc/flexlabel/flexlabel.env missing")
	}
	stop := get("TimeoutStopSec")
	if stop == "" {
		stop = get("TimeoutSec")
	}
	if d, err := parseSystemdSpan(stop); err != nil {
		p = append(p, fmt.Sprintf("%s: TimeoutStopSec must be set above %s %s: %v", where, shutdownVar, shutdown, err))
	} else if d <= shutdown {
		p = append(p, fmt.Sprintf("%s: TimeoutStopSec %s is not above %s %s", where, d, shutdownVar, shutdown))
	}
	for k, want := range map[string]string{
		"KillSignal":      "SIGTERM",
		"Restart":         "on-failure",
		"NoNewPrivileges": "yes",
		"ProtectSystem":   "strict",
		"PrivateTmp":      "yes",
	} {
		if got := get(k); got != want {
			p = append(p, fmt.Sprintf("%s: %s must be %s, got %q", where, k, want, got))
		}
	}
	if user := get("User"); get("DynamicUser") != "yes" && isRootUser(user) {
		p = append(p, fmt.Sprintf("%s: needs DynamicUser=yes or a dedicated non-root User=, got User=%q", where, user))
	}

	reload := u["Service.ExecReload"]
	switch unitRole(get("ExecStart")) {
	case "serve":
		if !slices.ContainsFunc(reload, reloadSendsHUP) {
			p = append(p, fmt.Sprintf("%s: serve needs ExecReload=/bin/kill -HUP $MAINPID (systemctl reload re-reads the tokens file), got %q", where, reload))
		}
		file, ok := envFile[tokensFileVar]
		if !ok {
			file = env[tokensFileVar]
		}
		p = append(p, checkUnitTokensFile(where, u, file)...)
	default:
		if slices.ContainsFunc(reload, reloadSendsHUP) {
			p = append(p, fmt.Sprintf("%s: ExecReload sends SIGHUP, which only serve handles: any other flexlabel process exits on it", where))
		}
	}
	return p
}

// checkUnitTokensFile checks that a serve unit's FLEXLABEL_API_TOKENS_FILE
// (file) is a path the sandboxed service can read again whenever it
// changes.
func checkUnitTokensFile(where string, u map[string][]string, file string) []string {
	get := func(k string) string { return last(u["Service."+k]) }
	switch {
	case file == "":
		return []string{fmt.Sprintf("%s: serve needs %s (Environment= or the EnvironmentFile), e.g. /etc/flexlabel/api-tokens", where, tokensFileVar)}
	case strings.Contains(file, "CREDENTIALS_DIRECTORY") || strings.HasPrefix(file, "%d") || strings.HasPrefix(file, "/run/credentials/"):
		return []string{fmt.Sprintf("%s: %s %s is a credential: systemd copies it once at start, so a rotated token would not be seen before a restart; point it at the file itself", where, tokensFileVar, file)}
	case !path.IsAbs(file):
		return []string{fmt.Sprintf("%s: %s %q must be an absolute path", where, tokensFileVar, file)}
	}
	var p []string
	for dir, setting := range map[string]string{"/tmp/": "PrivateTmp", "/var/tmp/": "PrivateTmp", "/home/": "ProtectHome", "/root/": "ProtectHome", "/run/user/": "ProtectHome"} {
		if strings.HasPrefix(file, dir) && get(setting) != "" && get(setting) != "no" {
			p = append(p, fmt.Sprintf("%s: %s %s is hidden from the service by %s=%s", where, tokensFileVar, file, setting, get(setting)))
		}
	}
	for _, inaccessible := range strings.Fields(strings.Join(u["Service.InaccessiblePaths"], " ")) {
		if d := path.Clean(strings.TrimLeft(inaccessible, "-+")); file == d || strings.HasPrefix(file, d+"/") {
			p = append(p, fmt.Sprintf("%s: %s %s is under InaccessiblePaths=%s", where, tokensFileVar, file, inaccessible))
		}
	}
	if get("DynamicUser") == "yes" && strings.TrimSpace(strings.Join(u["Service.SupplementaryGroups"], " ")) == "" {
		p = append(p, fmt.Sprintf("%s: with DynamicUser=yes the service's uid changes at every start, so %s %s must be readable through a static group: set SupplementaryGroups= (the file root:GROUP, mode 0640)", where, tokensFileVar, file))
	}
	return p
}

// ---------------------------------------------------------------------------
// Tests of the files under deploy/

func report(t *testing.T, problems []string) {
	t.Helper()
	for _, msg := range problems {
		t.Error(msg)
	}
}

// defaultShutdown is flexlabel's own default FLEXLABEL_SHUTDOWN_TIMEOUT.
func defaultShutdown(t *testing.T) time.Duration {
	t.Helper()
	cfg, err := config.Parse(nil)
	if err != nil {
		t.Fatalf("config.Parse(nil): %v", err)
	}
	return cfg.ShutdownTimeout
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestEveryYAMLFileParses(t *testing.T) {
	files := loadYAML(t)
	for _, want := range []string{
		"compose.yaml", "k8s/kustomization.yaml", "k8s/configmap.yaml",
		"k8s/worker.yaml", "k8s/serve.yaml", "k8s/secret.template.yaml",
	} {
		if _, ok := files[want]; !ok {
			t.Errorf("%s: missing or not valid YAML", want)
		}
	}
	for f, docs := range files {
		if len(docs) == 0 {
			t.Errorf("%s: no YAML document", f)
		}
		if strings.HasPrefix(f, "k8s/") {
			for i, d := range docs {
				if d["apiVersion"] == nil || d["kind"] == nil {
					t.Errorf("%s: document %d has no apiVersion/kind", f, i+1)
				}
			}
		}
	}
}

func TestKustomizationListsEveryManifest(t *testing.T) {
	files := loadYAML(t)
	docs := files["k8s/kustomization.yaml"]
	if len(docs) != 1 {
		t.Fatalf("k8s/kustomization.yaml: want one document, got %d", len(docs))
	}
	listed := strList(docs[0]["resources"])
	for _, r := range listed {
		if _, ok := files["k8s/"+r]; !ok {
			t.Errorf("k8s/kustomization.yaml: resource %s does not exist", r)
		}
		if strings.Contains(r, "template") {
			t.Errorf("k8s/kustomization.yaml: must not apply the template %s", r)
		}
	}
	for f := range files {
		name, ok := strings.CutPrefix(f, "k8s/")
		if !ok || name == "kustomization.yaml" || strings.Contains(name, ".template.") {
			continue
		}
		if !slices.Contains(listed, name) {
			t.Errorf("k8s/kustomization.yaml: does not list %s", name)
		}
	}
}

func TestRedisConf(t *testing.T) {
	report(t, checkRedisConf("redis.conf", readFile(t, "redis.conf")))
}

func TestCompose(t *testing.T) {
	files := loadYAML(t)
	docs := files["compose.yaml"]
	if len(docs) != 1 {
		t.Fatalf("compose.yaml: want one document, got %d", len(docs))
	}
	read := func(p string) ([]byte, error) { return os.ReadFile(filepath.Clean(p)) }
	report(t, checkCompose("compose.yaml", docs[0], read, defaultShutdown(t)))
	// The tokens file's secret comes from deploy/secrets/, which git ignores.
	for _, local := range []string{".env", "secrets/"} {
		if !slices.Contains(strings.Fields(readFile(t, ".gitignore")), local) {
			t.Errorf(".gitignore: must ignore %s (local secrets for compose.yaml)", local)
		}
	}
}

func TestKubernetes(t *testing.T) {
	objs := k8sObjects(loadYAML(t))
	kinds := make(map[string]int)
	for _, o := range objs {
		kinds[o.Kind()]++
	}
	for kind, n := range map[string]int{"Deployment": 2, "PodDisruptionBudget": 2, "ConfigMap": 1, "Service": 1, "Secret": 1} {
		if kinds[kind] < n {
			t.Errorf("want at least %d %s under deploy/k8s, got %d", n, kind, kinds[kind])
		}
	}
	report(t, checkKubernetes(objs, defaultShutdown(t)))

	// The worker Deployment the brief asks for, precisely.
	for _, o := range objs {
		if o.Kind() == "Deployment" && o.Name() == "flexlabel-worker" {
			if got := str(dig(o.Doc, "spec", "replicas")); got != "2" {
				t.Errorf("%s: replicas %s, want 2", o, got)
			}
			return
		}
	}
	t.Error("no Deployment flexlabel-worker")
}

func TestServiceMapsPort80To8080(t *testing.T) {
	objs := k8sObjects(loadYAML(t))
	var containers []any
	for _, o := range objs {
		if spec, _, ok := podSpec(o); ok && o.Name() == "flexlabel-serve" {
			containers = asList(spec["containers"])
		}
	}
	for _, o := range objs {
		if o.Kind() != "Service" {
			continue
		}
		for _, sp := range asList(dig(o.Doc, "spec", "ports")) {
			if str(dig(sp, "port")) == "80" && portNumber(dig(sp, "targetPort"), containers) == "8080" {
				return
			}
		}
	}
	t.Error("no Service maps port 80 to the serve container's 8080")
}

func TestSystemdUnits(t *testing.T) {
	// The timeout the units run with: the committed env file's, else the default.
	shutdown := defaultShutdown(t)
	envText := readFile(t, "systemd/flexlabel.env.example")
	report(t, checkEnvFile("systemd/flexlabel.env.example", envText))
	if v, ok := envFileVars(envText)[shutdownVar]; ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("systemd/flexlabel.env.example: %s: %v", shutdownVar, err)
		}
		shutdown = d
	}
	units, _ := filepath.Glob("systemd/*.service")
	for _, want := range []string{"systemd/flexlabel-worker.service", "systemd/flexlabel-serve.service"} {
		if !slices.Contains(units, want) {
			t.Errorf("%s missing", want)
		}
	}
	envFile := envFileVars(envText)
	for _, u := range units {
		report(t, checkUnit(u, readFile(t, u), envFile, shutdown))
	}
	// The env example tells how the tokens file is installed.
	for _, want := range []string{tokensFileVar, "/etc/flexlabel/api-tokens", "0640", "flexlabel-api-tokens", "docs/OPERATIONS.md#rotating-an-api-token"} {
		if !strings.Contains(envText, want) {
			t.Errorf("systemd/flexlabel.env.example: does not mention %q (how the tokens file is installed)", want)
		}
	}
}

func TestComposeEnvExample(t *testing.T) {
	report(t, checkEnvFile(".env.example", readFile(t, ".env.example")))
}

// TestSettingsAreFlexlabels checks that every FLEXLABEL_*, FLEXFORWARD_* and
// REDIS_URL variable set under deploy/ is one flexlabel reads (no typo), and
// that the committed values are accepted by config.Parse.
func TestSettingsAreFlexlabels(t *testing.T) {
	known := make(map[string]bool)
	ct := reflect.TypeFor[config.Config]()
	for i := range ct.NumField() {
		if name, _, _ := strings.Cut(ct.Field(i).Tag.Get("env"), ","); name != "" && name != "-" {
			known[name] = true
		}
	}
	if !known[shutdownVar] || !known["REDIS_URL"] {
		t.Fatalf("could not read the variable names from config.Config: %v", known)
	}
	ours := func(name string) bool {
		return strings.HasPrefix(name, "FLEXLABEL_") || strings.HasPrefix(name, "FLEXFORWARD_") || strings.HasPrefix(name, "REDIS_URL")
	}
	// check validates one environment as a whole; unset secrets are fine.
	check := func(where string, env map[string]string) {
		t.Helper()
		input := make(map[string]string)
		for k, v := range env {
			if !ours(k) {
				continue
			}
			if !known[k] {
				t.Errorf("%s: %s is not a flexlabel setting (typo?)", where, k)
				continue
			}
			if v != "" && !isSecretVar(k) {
				input[k] = v
			}
		}
		if _, err := config.Parse(input); err != nil {
			t.Errorf("%s: config.Parse rejects the settings: %v", where, err)
		}
	}

	files := loadYAML(t)
	objs := k8sObjects(files)
	configMaps := make(map[string]map[string]string)
	for _, o := range objs {
		if o.Kind() == "ConfigMap" {
			configMaps[o.Name()] = make(map[string]string)
			for k, v := range asMap(o.Doc["data"]) {
				configMaps[o.Name()][k] = str(v)
			}
		}
	}
	for _, o := range objs {
		spec, _, ok := podSpec(o)
		if !ok {
			continue
		}
		for _, c := range asList(spec["containers"]) {
			env, _ := containerEnv(asMap(c), configMaps)
			flat := make(map[string]string)
			for k, v := range env {
				flat[k] = v.Value
			}
			check(fmt.Sprintf("%s: container %s", o, str(dig(c, "name"))), flat)
		}
	}

	for _, doc := range files["compose.yaml"] {
		for name, svc := range asMap(doc["services"]) {
			if !isFlexlabelService(asMap(svc)) {
				continue
			}
			flat := make(map[string]string)
			for k, v := range composeEnv(asMap(svc)) {
				if v == nil {
					continue
				}
				if lit, ok := resolveDefault(*v); ok {
					flat[k] = lit
				} else {
					flat[k] = "" // required from deploy/.env: name checked only
				}
			}
			check("compose.yaml: services."+name, flat)
		}
	}

	sysEnv := envFileVars(readFile(t, "systemd/flexlabel.env.example"))
	units, _ := filepath.Glob("systemd/*.service")
	for _, u := range units {
		env := maps.Clone(sysEnv)
		for k, v := range unitEnvironment(unitSettings(readFile(t, u))) {
			if _, ok := env[k]; !ok { // the EnvironmentFile wins
				env[k] = v
			}
		}
		check(u+" with systemd/flexlabel.env.example", env)
	}
}

func TestDockerfile(t *testing.T) {
	df := readFile(t, "Dockerfile")
	gomod := readFile(t, "../go.mod")
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(gomod)
	if goVersion == nil {
		t.Fatal("../go.mod: no go directive")
	}
	for _, want := range []string{
		"ARG GO_VERSION=" + goVersion[1] + "\n",
		"FROM golang:${GO_VERSION} AS build",
		"CGO_ENABLED=0",
		"-trimpath",
		"-X github.com/flexlabel/flexlabel/flexapi.Version=${VERSION}",
		"./cmd/flexlabel",
		"FROM gcr.io/distroless/static-debian12:nonroot",
		`ENTRYPOINT ["/flexlabel"]`,
		`CMD ["worker"]`,
	} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile: missing %q", want)
		}
	}
	users := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindAllStringSubmatch(df, -1)
	if len(users) == 0 || isRootUser(users[len(users)-1][1]) {
		t.Errorf("Dockerfile: the final image must run as a non-root USER (65532), got %v", users)
	}
	for _, local := range []string{"deploy/.env", "deploy/secrets"} {
		if !slices.Contains(strings.Fields(readFile(t, "Dockerfile.dockerignore")), local) {
			t.Errorf("Dockerfile.dockerignore: must keep %s out of the build context", local)
		}
	}
}

// ---------------------------------------------------------------------------
// The checkers must be able to fail.

func mustDecode(t *testing.T, text string) []map[string]any {
	t.Helper()
	docs, err := decodeAll([]byte(text))
	if err != nil {
		t.Fatalf("test fixture: %v", err)
	}
	return docs
}

func wantProblems(t *testing.T, problems []string, want ...string) {
	t.Helper()
	all := strings.Join(problems, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("want a problem mentioning %q; got:\n%s", w, all)
		}
	}
}

func TestDecodeRejectsInvalidYAML(t *testing.T) {
	for _, bad := range []string{"a: [1, 2\n", "a: 1\n---\n- just\n- a list\n", "a: b: c\n"} {
		if _, err := decodeAll([]byte(bad)); err == nil {
			t.Errorf("decodeAll(%q) accepted invalid input", bad)
		}
	}
	docs, err := decodeAll([]byte("# only a comment\n---\na: 1\n---\n"))
	if err != nil || len(docs) != 1 {
		t.Errorf("decodeAll: got %d documents, %v; want 1", len(docs), err)
	}
}

func TestCheckRedisConfRejects(t *testing.T) {
	bad := "appendonly no\nappendfsync always\nmaxmemory-policy allkeys-lru\nrequirepass hunter2\nprotected-mode no\n"
	wantProblems(t, checkRedisConf("bad.conf", bad),
		"appendonly must be yes", "maxmemory-policy must be noeviction", "requirepass must not be set",
		"appendfsync must be everysec", "maxmemory must be set", "protected-mode must be yes", "save points")
	// The last occurrence wins, as in Redis.
	wantProblems(t, checkRedisConf("bad.conf", "maxmemory-policy noeviction\nmaxmemory-policy volatile-lru\n"),
		"maxmemory-policy must be noeviction")
}

func TestCheckComposeRejects(t *testing.T) {
	docs := mustDecode(t, `
services:
  redis:
    image: redis:6
    command: ["redis-server", "/etc/redis.conf", "--maxmemory-policy", "allkeys-lru", "--requirepass", "x"]
    volumes: ["./good.conf:/etc/redis.conf:ro"]
  worker:
    build: {context: ..}
    command: ["worker"]
    user: root
    stop_grace_period: 30s
    environment:
      FLEXFORWARD_TOKEN: tok_live_abc
      FLEXLABEL_API_TOKENS: ${FLEXLABEL_API_TOKENS:-0123456789abcdef}
      REDIS_URL: redis://:hunter2@redis:6379/0
      REDIS_PASSWORD: hunter2
      FLEXLABEL_SHUTDOWN_TIMEOUT: 30s
    healthcheck: {disable: true}
  serve:
    image: flexlabel:dev
    command: ["serve"]
    user: "65532"
    environment:
      REDIS_URL: ${REDIS_URL:-redis://:hunter2@redis:6379/0}
      FLEXFORWARD_BASE_URL: https://user:pw@api.example
    healthcheck: {test: ["CMD", "/flexlabel", "version"]}
`)
	conf := "appendonly yes\nappendfsync everysec\nmaxmemory-policy noeviction\nmaxmemory 1gb\nprotected-mode yes\nsave 60 1\n"
	read := func(p string) ([]byte, error) {
		if p == "./good.conf" {
			return []byte(conf), nil
		}
		return nil, os.ErrNotExist
	}
	wantProblems(t, checkCompose("bad.yaml", docs[0], read, 30*time.Second),
		"image must be redis:7",
		"--requirepass on the command line",
		"maxmemory-policy must be noeviction",
		"FLEXFORWARD_TOKEN holds a literal value",
		"FLEXLABEL_API_TOKENS interpolation has a literal default",
		"services.worker: REDIS_URL holds a literal value",
		"REDIS_PASSWORD holds a literal value",
		"services.serve: REDIS_URL interpolation default carries a literal password",
		"FLEXFORWARD_BASE_URL carries a literal password",
		"services.worker: user must be a non-root uid",
		"services.worker: stop_grace_period 30s is not above FLEXLABEL_SHUTDOWN_TIMEOUT 30s",
		"services.serve: stop_grace_period must be set",
		"services.redis: no healthcheck",
		"services.worker: no healthcheck",
		"want at least 2 worker replicas",
	)

	// A sentinel profile needs three sentinels (here two), in the profile,
	// with a quorum of 2 and an interpolated password, and a replica.
	docs = mustDecode(t, `
services:
  redis:
    image: redis:7-alpine
    command: ["redis-server", "/etc/redis.conf"]
    volumes: ["./good.conf:/etc/redis.conf:ro"]
    healthcheck: {test: ["CMD", "redis-cli", "ping"]}
  sentinel-1:
    image: redis:7-alpine
    command: ["sh", "-c", "sentinel monitor m redis 6379 1\nsentinel auth-pass m hunter2\nexec redis-server /tmp/s.conf --sentinel"]
    healthcheck: {test: ["CMD", "redis-cli", "-p", "26379", "ping"]}
  sentinel-2:
    image: redis:7-alpine
    profiles: [sentinel]
    command: ["sh", "-c", "sentinel monitor m redis 6379 2\nsentinel auth-pass m $$REDIS_PASSWORD\nexec redis-sentinel /tmp/s.conf"]
    healthcheck: {test: ["CMD", "redis-cli", "-p", "26379", "ping"]}
`)
	wantProblems(t, checkCompose("bad.yaml", docs[0], read, 30*time.Second),
		"services.sentinel-1: a sentinel must be in the sentinel profile",
		"services.sentinel-1: want sentinel monitor NAME HOST PORT 2",
		"services.sentinel-1: sentinel auth-pass must come from the environment",
		"want an odd number of sentinels, at least 3, got 2",
		"the sentinel profile has no Redis replica to promote",
		"want at least 2 worker replicas",
		"no serve service",
	)

	// Interpolated secrets are accepted, and so are defaults for the parts
	// of a URL that are not its password.
	for name, v := range map[string]string{
		"FLEXFORWARD_TOKEN": "${FLEXFORWARD_TOKEN:?set it}",
		"REDIS_URL":         "redis://flexlabel:${REDIS_PASSWORD:?set it}@redis:6379/0",
		"REDIS_URL ":        "redis://flexlabel:${REDIS_PASSWORD:?set it}@${REDIS_ENDPOINT:-redis:6379}/0${REDIS_ENDPOINT_PARAMS:-}",
		"REDIS_PASSWORD":    "${REDIS_PASSWORD}",
	} {
		if msg := composeSecretProblem(name, v); msg != "" {
			t.Errorf("composeSecretProblem(%s, %q) = %q, want none", name, v, msg)
		}
	}
	// A redis.conf that lacks noeviction is caught through the mount, too.
	docs = mustDecode(t, `
services:
  redis:
    image: redis:7-alpine
    command: ["redis-server", "/etc/redis.conf"]
    volumes: ["./good.conf:/etc/redis.conf:ro"]
`)
	conf = "appendonly no\n"
	wantProblems(t, checkCompose("bad.yaml", docs[0], read, 30*time.Second),
		"redis (effective): appendonly must be yes", "redis (effective): maxmemory-policy must be noeviction")
}

func TestCheckKubernetesRejects(t *testing.T) {
	var objs []k8sObject
	for _, d := range mustDecode(t, `
apiVersion: v1
kind: ConfigMap
metadata: {name: flexlabel, namespace: prod}
data:
  FLEXLABEL_SHUTDOWN_TIMEOUT: 30s
  REDIS_URL: redis://redis:6379/0
---
apiVersion: v1
kind: Secret
metadata: {name: flexlabel}
stringData:
  FLEXFORWARD_TOKEN: tok_live_abc
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: flexlabel-worker}
spec:
  replicas: 1
  template:
    metadata:
      labels: {app: worker}
    spec:
      terminationGracePeriodSeconds: 30
      securityContext: {runAsNonRoot: false}
      initContainers:
        - name: init
          image: busybox
          env: [{name: REDIS_PASSWORD, value: hunter2}]
      containers:
        - name: worker
          image: flexlabel
          args: ["worker"]
          envFrom: [{configMapRef: {name: flexlabel}}]
          env:
            - {name: FLEXFORWARD_TOKEN, value: tok_live_abc}
            - {name: DB_PASSWORD, valueFrom: {configMapKeyRef: {name: flexlabel, key: x}}}
          securityContext: {readOnlyRootFilesystem: false}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: flexlabel-serve}
spec:
  replicas: 2
  template:
    metadata:
      labels: {app: serve}
    spec:
      containers:
        - name: serve
          image: flexlabel
          args: ["serve"]
          env:
            - {name: FLEXLABEL_SHUTDOWN_TIMEOUT, value: 1m}
          readinessProbe: {httpGet: {path: /healthz, port: 9999}}
---
apiVersion: v1
kind: Service
metadata: {name: flexlabel}
spec:
  selector: {app: serve}
  ports: [{port: 80, targetPort: http}]
`) {
		objs = append(objs, k8sObject{File: "bad.yaml", Doc: d})
	}
	wantProblems(t, checkKubernetes(objs, 30*time.Second),
		`metadata.namespace "prod"`,
		"ConfigMap/flexlabel: holds secret REDIS_URL",
		"Secret/flexlabel: has stringData values committed",
		"container worker: FLEXFORWARD_TOKEN has a literal value",
		"container init: REDIS_PASSWORD has a literal value",
		"container worker: DB_PASSWORD must come from valueFrom.secretKeyRef",
		"container worker: worker needs FLEXFORWARD_TOKEN from secretKeyRef",
		"container worker: runAsNonRoot must be true",
		"container worker: readOnlyRootFilesystem must be true",
		"container worker: allowPrivilegeEscalation must be false",
		"container worker: capabilities.drop must include ALL",
		"container worker: resources.requests",
		"Deployment/flexlabel-worker: terminationGracePeriodSeconds 30s is not above FLEXLABEL_SHUTDOWN_TIMEOUT 30s",
		"Deployment/flexlabel-serve: terminationGracePeriodSeconds must be set above FLEXLABEL_SHUTDOWN_TIMEOUT 1m0s",
		"container worker: worker needs FLEXLABEL_METRICS_ADDR",
		"container worker: no livenessProbe",
		"container serve: readinessProbe must GET /readyz",
		"container serve: readinessProbe port 9999 is not the listen port 8080",
		"Deployment/flexlabel-worker: pod template needs annotation prometheus.io/scrape",
		"Deployment/flexlabel-worker: replicas must be at least 2",
		"Deployment/flexlabel-worker: no PodDisruptionBudget",
		"Service/flexlabel: targetPort http is no container port",
	)
}

func TestCheckUnitRejects(t *testing.T) {
	unit := `[Service]
ExecStart=/usr/local/bin/flexlabel worker
Environment="FLEXFORWARD_TOKEN=tok_live_abc" FLEXLABEL_SHUTDOWN_TIMEOUT=40s
TimeoutStopSec=40
User=root
`
	wantProblems(t, checkUnit("bad.service", unit, nil, 30*time.Second),
		"Environment=FLEXFORWARD_TOKEN inlines a secret",
		"EnvironmentFile=/etc/flexlabel/flexlabel.env missing",
		"TimeoutStopSec 40s is not above FLEXLABEL_SHUTDOWN_TIMEOUT 40s",
		"KillSignal must be SIGTERM",
		"Restart must be on-failure",
		"NoNewPrivileges must be yes",
		"ProtectSystem must be strict",
		"PrivateTmp must be yes",
		"needs DynamicUser=yes or a dedicated non-root User=",
	)
	wantProblems(t, checkEnvFile("bad.env", "FLEXFORWARD_TOKEN=tok_live_abc\nREDIS_URL=\nFOO=redis://:pw@h\n"),
		"FLEXFORWARD_TOKEN has a value", "FOO carries a literal password")
}

func TestParseSystemdSpan(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"45": 45 * time.Second, "45s": 45 * time.Second, "1min 30s": 90 * time.Second,
		"2min": 2 * time.Minute, "500ms": 500 * time.Millisecond, "1h": time.Hour,
	} {
		if got, err := parseSystemdSpan(in); err != nil || got != want {
			t.Errorf("parseSystemdSpan(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "infinity", "45 parsecs", "soon"} {
		if _, err := parseSystemdSpan(in); err == nil {
			t.Errorf("parseSystemdSpan(%q) accepted", in)
		}
	}
}

// The tokens-file wiring: each case breaks one thing in the committed
// manifests, and the checker must name it.

// servePod returns the committed manifests with the serve Deployment's pod
// spec and container, to be changed by a test.
func servePod(t *testing.T) (objs []k8sObject, spec, container map[string]any) {
	t.Helper()
	objs = k8sObjects(loadYAML(t))
	for _, o := range objs {
		if s, _, ok := podSpec(o); ok && o.Name() == "flexlabel-serve" {
			return objs, s, asMap(asList(s["containers"])[0])
		}
	}
	t.Fatal("no Deployment flexlabel-serve")
	return nil, nil, nil
}

func setEnv(c map[string]any, name, value string) {
	var env []any
	for _, e := range asList(c["env"]) {
		if str(dig(e, "name")) != name {
			env = append(env, e)
		}
	}
	if value != "" {
		env = append(env, map[string]any{"name": name, "value": value})
	}
	c["env"] = env
}

func TestCheckKubernetesTokensFileRejects(t *testing.T) {
	mount := func(c map[string]any) map[string]any { return asMap(asList(c["volumeMounts"])[0]) }
	secretVol := func(spec map[string]any) map[string]any { return asMap(dig(asList(spec["volumes"])[0], "secret")) }
	for name, tc := range map[string]struct {
		change func(objs []k8sObject, spec, c map[string]any)
		want   string
	}{
		"no tokens file": {func(_ []k8sObject, _, c map[string]any) { setEnv(c, tokensFileVar, "") },
			"serve needs FLEXLABEL_API_TOKENS_FILE"},
		"relative path": {func(_ []k8sObject, _, c map[string]any) { setEnv(c, tokensFileVar, "api-tokens") },
			`FLEXLABEL_API_TOKENS_FILE "api-tokens" must be an absolute path`},
		"file outside the mount": {func(_ []k8sObject, _, c map[string]any) { setEnv(c, tokensFileVar, "/run/api-tokens") },
			"FLEXLABEL_API_TOKENS_FILE /run/api-tokens is in no volumeMount"},
		"subPath mount": {func(_ []k8sObject, _, c map[string]any) {
			mount(c)["mountPath"], mount(c)["subPath"] = "/etc/flexlabel/api-tokens", "api-tokens"
			setEnv(c, tokensFileVar, "/etc/flexlabel/api-tokens/api-tokens")
		}, "uses subPath: a Secret update never reaches a subPath mount"},
		"writable mount": {func(_ []k8sObject, _, c map[string]any) { delete(mount(c), "readOnly") },
			"the mount at /etc/flexlabel must be readOnly: true"},
		"from a ConfigMap": {func(_ []k8sObject, spec, _ map[string]any) {
			spec["volumes"] = []any{map[string]any{"name": "api-tokens", "configMap": map[string]any{"name": "flexlabel"}}}
		}, `volume "api-tokens" holding FLEXLABEL_API_TOKENS_FILE is not a secret volume`},
		"undocumented Secret": {func(_ []k8sObject, spec, _ map[string]any) { secretVol(spec)["secretName"] = "tokens" },
			`mounts the Secret "tokens", which no Secret under deploy/ documents`},
		"file not among the items": {func(_ []k8sObject, _, c map[string]any) { setEnv(c, tokensFileVar, "/etc/flexlabel/tokens") },
			"no item of volume \"api-tokens\" has path tokens"},
		"no mode": {func(_ []k8sObject, spec, _ map[string]any) { delete(secretVol(spec), "defaultMode") },
			"defaultMode must be set"},
		"world-readable": {func(_ []k8sObject, spec, _ map[string]any) { secretVol(spec)["defaultMode"] = 0o644 },
			"mode 0644 lets other users read the tokens"},
		"item mode world-readable": {func(_ []k8sObject, spec, _ map[string]any) {
			asMap(asList(secretVol(spec)["items"])[0])["mode"] = 0o444
		}, "mode 0444 lets other users read the tokens"},
		"no fsGroup": {func(_ []k8sObject, spec, _ map[string]any) { delete(asMap(spec["securityContext"]), "fsGroup") },
			"the non-root process cannot read the tokens"},
		"tokens in the ConfigMap": {func(objs []k8sObject, _, _ map[string]any) {
			for _, o := range objs {
				if o.Kind() == "ConfigMap" {
					asMap(o.Doc["data"])["api-tokens"] = "# shop A\nproducer  0123456789abcdef0123  shop-a-\n"
				}
			}
		}, "ConfigMap/flexlabel: api-tokens holds API tokens"},
		"a token variable in the ConfigMap": {func(objs []k8sObject, _, _ map[string]any) {
			for _, o := range objs {
				if o.Kind() == "ConfigMap" {
					asMap(o.Doc["data"])["SHOP_A_TOKEN"] = "0123456789abcdef0123"
				}
			}
		}, "ConfigMap/flexlabel: SHOP_A_TOKEN holds API tokens"},
		"FLEXLABEL_API_TOKENS from elsewhere": {func(_ []k8sObject, _, c map[string]any) { setEnv(c, "FLEXLABEL_API_TOKENS", "0123456789abcdef0123") },
			"container serve: FLEXLABEL_API_TOKENS has a literal value"},
	} {
		t.Run(name, func(t *testing.T) {
			objs, spec, c := servePod(t)
			tc.change(objs, spec, c)
			wantProblems(t, checkKubernetes(objs, 30*time.Second), tc.want)
		})
	}
}

func TestCheckComposeTokensFileRejects(t *testing.T) {
	load := func(t *testing.T) (doc, serve map[string]any) {
		docs := loadYAML(t)["compose.yaml"]
		return docs[0], asMap(dig(docs[0], "services", "serve"))
	}
	for name, tc := range map[string]struct {
		change func(doc, serve map[string]any)
		want   string
	}{
		"no tokens file": {func(_, s map[string]any) { delete(asMap(s["environment"]), tokensFileVar) },
			"services.serve: serve needs FLEXLABEL_API_TOKENS_FILE"},
		"interpolated path": {func(_, s map[string]any) {
			asMap(s["environment"])[tokensFileVar] = "${FLEXLABEL_API_TOKENS_FILE:-/run/secrets/api-tokens}"
		}, "FLEXLABEL_API_TOKENS_FILE must be a literal absolute path"},
		"no secret": {func(_, s map[string]any) { delete(s, "secrets") },
			"FLEXLABEL_API_TOKENS_FILE /run/secrets/api-tokens is the target of no secret of the service"},
		"short syntax elsewhere": {func(_, s map[string]any) { s["secrets"] = []any{"other"} },
			"is the target of no secret of the service"},
		"undefined secret": {func(d, _ map[string]any) { delete(asMap(d["secrets"]), "api-tokens") },
			`secret "api-tokens" is not defined under the top-level secrets:`},
		"secret from the environment": {func(d, _ map[string]any) {
			asMap(d["secrets"])["api-tokens"] = map[string]any{"environment": "FLEXLABEL_API_TOKENS"}
		}, `secret "api-tokens" must come from a file under ./secrets/`},
		"file outside secrets/": {func(d, _ map[string]any) {
			asMap(d["secrets"])["api-tokens"] = map[string]any{"file": "./api-tokens"}
		}, `file "./api-tokens" must be under ./secrets/`},
		"from a volume too": {func(_, s map[string]any) { s["volumes"] = []any{"./tokens:/run/secrets:ro"} },
			"comes from volume /run/secrets"},
		"from a config": {func(_, s map[string]any) {
			s["configs"] = []any{map[string]any{"source": "tokens", "target": "/run/secrets/api-tokens"}}
		}, "comes from configs:"},
	} {
		t.Run(name, func(t *testing.T) {
			doc, serve := load(t)
			tc.change(doc, serve)
			read := func(p string) ([]byte, error) { return os.ReadFile(filepath.Clean(p)) }
			wantProblems(t, checkCompose("compose.yaml", doc, read, 30*time.Second), tc.want)
		})
	}
}

func TestCheckUnitTokensFileRejects(t *testing.T) {
	serve := readFile(t, "systemd/flexlabel-serve.service")
	worker := readFile(t, "systemd/flexlabel-worker.service")
	const reload = "ExecReload=/bin/kill -HUP $MAINPID\n"
	if !strings.Contains(serve, reload) {
		t.Fatalf("systemd/flexlabel-serve.service: no line %q to change", reload)
	}
	for name, tc := range map[string]struct {
		unit    string
		envFile map[string]string
		want    string
	}{
		"no ExecReload": {strings.Replace(serve, reload, "", 1), nil,
			"serve needs ExecReload=/bin/kill -HUP $MAINPID"},
		"reload with TERM": {strings.Replace(serve, reload, "ExecReload=/bin/kill -TERM $MAINPID\n", 1), nil,
			"serve needs ExecReload=/bin/kill -HUP $MAINPID"},
		"worker reloads with HUP": {strings.Replace(worker, "[Service]\n", "[Service]\n"+reload, 1), nil,
			"ExecReload sends SIGHUP, which only serve handles"},
		"tokens file unset by the env file": {serve, map[string]string{tokensFileVar: ""},
			"serve needs FLEXLABEL_API_TOKENS_FILE"},
		"tokens file in /tmp": {serve, map[string]string{tokensFileVar: "/tmp/api-tokens"},
			"FLEXLABEL_API_TOKENS_FILE /tmp/api-tokens is hidden from the service by PrivateTmp=yes"},
		"tokens file in /root": {serve, map[string]string{tokensFileVar: "/root/api-tokens"},
			"is hidden from the service by ProtectHome=yes"},
		"tokens file as a credential": {serve, map[string]string{tokensFileVar: "/run/credentials/flexlabel-serve.service/api-tokens"},
			"is a credential: systemd copies it once at start"},
		"tokens file inaccessible": {strings.Replace(serve, "[Service]\n", "[Service]\nInaccessiblePaths=-/etc/flexlabel\n", 1), nil,
			"is under InaccessiblePaths=-/etc/flexlabel"},
		"no group for the dynamic user": {strings.Replace(serve, "SupplementaryGroups=flexlabel-api-tokens\n", "", 1), nil,
			"must be readable through a static group: set SupplementaryGroups="},
	} {
		t.Run(name, func(t *testing.T) {
			wantProblems(t, checkUnit("unit", tc.unit, tc.envFile, 30*time.Second), tc.want)
		})
	}
	for _, cmd := range []string{"/bin/kill -HUP $MAINPID", "/usr/bin/kill -s HUP ${MAINPID}", "kill -SIGHUP $MAINPID"} {
		if !reloadSendsHUP(cmd) {
			t.Errorf("reloadSendsHUP(%q) = false, want true", cmd)
		}
	}
	for _, cmd := range []string{"/bin/kill -HUP", "/bin/kill -USR1 $MAINPID", "/usr/local/bin/flexlabel reload"} {
		if reloadSendsHUP(cmd) {
			t.Errorf("reloadSendsHUP(%q) = true, want false", cmd)
		}
	}
}
