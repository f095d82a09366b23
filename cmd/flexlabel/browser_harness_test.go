package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cdpfetch "github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// The browser harness: a real headless Chromium (Debian's chromium package)
// driven over the DevTools protocol with chromedp, against `flexlabel serve`
// run in-process on a real listener, with a real redis-server (queuetest)
// and a real worker calling the fake Flex Forward API (flexapitest).

// envScreenshots names the folder the browser test writes its screenshots
// of the console's pages to, absolute or relative to the repository's root
// (make screenshots sets it to docs/screenshots).
const envScreenshots = "FLEXLABEL_SCREENSHOTS"

// browserStep bounds one step of a person in the browser (a navigation, a
// click and the page it loads): a console that never shows what a step
// waits for fails the test instead of hanging it.
const browserStep = 30 * time.Second

// chromiumPath finds Debian's chromium. Without it the browser tests skip,
// saying so, unless FLEXLABEL_TEST_NO_FALLBACK is true (CI sets it, as it
// does to forbid queuetest's in-process Redis): then they fail.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "chromium not found on PATH (Debian: apt-get install chromium); the browser test needs a real browser"
	if v, err := strconv.ParseBool(os.Getenv(queuetest.EnvNoFallback)); err == nil && v {
		t.Fatalf("%s, and %s=1 forbids skipping it", msg, queuetest.EnvNoFallback)
	}
	t.Skip(msg)
	return ""
}

// browser is one headless Chromium for a test. Each person who logs in gets
// a browser context of their own (like a separate profile), so the Basic
// credentials one person's browser cached are not another's.
type browser struct {
	root context.Context
	out  *queuetest.Buffer // chromium's own output, shown when a test fails
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := chromiumPath(t)
	out := &queuetest.Buffer{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.WindowSize(1280, 900),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.CombinedOutput(out),
	)
	if os.Geteuid() == 0 {
		// Chromium refuses to start its sandbox as root (CI and this
		// machine run tests as root).
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	root, cancelRoot := chromedp.NewContext(actx)
	if err := chromedp.Do(root); err != nil { // starts the browser
		cancelRoot()
		cancelAlloc()
		t.Fatalf("starting %s: %v\n%s", path, err, out.String())
	}
	t.Cleanup(func() {
		cancelRoot()
		cancelAlloc()
		if t.Failed() {
			t.Logf("chromium output (without its complaints about D-Bus):\n%s", withoutDBus(out.String()))
		}
	})
	return &browser{root: root, out: out}
}

// person is someone at the browser, in a tab of their own browser context.
type person struct {
	t        *testing.T
	name     string
	ctx      context.Context
	answered atomic.Int64 // Basic-auth challenges the browser answered
	dialogs  chan string  // messages of the JavaScript dialogs the page opened (and that were dismissed)
	noLogin  atomic.Bool  // cancel Basic-auth challenges instead of answering them
}

// login opens a tab for name whose browser answers the console's Basic-auth
// challenge with token as the password, as a person types it into the
// browser's login dialog: the DevTools Fetch domain reports the challenge
// (authRequired) and the harness answers it. No header is injected; once
// answered, the browser caches the credentials and sends them itself, also
// on requests a hostile page makes it send.
func (b *browser) login(t *testing.T, name, token string) *person {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.root, chromedp.WithNewBrowserContext())
	p := &person{t: t, name: name, ctx: ctx, dialogs: make(chan string, 16)}
	if err := chromedp.Do(ctx); err != nil { // opens the tab
		cancel()
		t.Fatalf("%s: opening a tab: %v", name, err)
	}
	auth := chromedp.Events(ctx, cdpfetch.AuthRequired)
	paused := chromedp.Events(ctx, cdpfetch.RequestPaused)
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			select {
			case p.dialogs <- ev.Message:
			default:
			}
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	go func() {
		defer wg.Done()
		for ev, err := range auth {
			if err != nil {
				return
			}
			resp := cdpfetch.AuthChallengeResponse{Response: cdpfetch.AuthChallengeResponseResponseProvideCredentials, Username: name, Password: token}
			// With noLogin, only the credentials the browser has cached
			// can reach the console.
			if p.noLogin.Load() || p.answered.Add(1) > 20 {
				// A console that keeps refusing the token would loop.
				resp = cdpfetch.AuthChallengeResponse{Response: cdpfetch.AuthChallengeResponseResponseCancelAuth}
			}
			_, _ = chromedp.Call(ctx, cdpfetch.ContinueWithAuth, cdpfetch.ContinueWithAuthParams{RequestID: ev.RequestID, AuthChallengeResponse: &resp})
		}
	}()
	go func() {
		defer wg.Done()
		for ev, err := range paused {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(ctx, cdpfetch.ContinueRequest, cdpfetch.ContinueRequestParams{RequestID: ev.RequestID})
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	_, err := chromedp.Call(ctx, cdpfetch.Enable, cdpfetch.EnableParams{HandleAuthRequests: new(true)})
	require.NoError(t, err, "%s: enabling the Fetch domain", name)
	return p
}

// step runs actions with a timeout.
func (p *person) step(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserStep)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("%s: %s: %v (at %s)\n%s", p.name, what, err, p.location(), p.bodyText())
	}
}

// open navigates to u and requires the page to load with status 200.
func (p *person) open(u string) {
	p.t.Helper()
	p.load("opening "+u, chromedp.Navigate(u))
}

// must fails the test at once when the page has no element sel: pages are
// rendered on the server, so what a step needs is there once it loaded.
func (p *person) must(sel string) {
	p.t.Helper()
	if p.count(sel) == 0 {
		p.t.Fatalf("%s: no %s on %s:\n%s", p.name, sel, p.location(), p.bodyText())
	}
}

// click clicks the element sel, as a person does, and waits for the page
// the click loads; it requires status 200 and returns the new URL.
func (p *person) click(sel string) string {
	p.t.Helper()
	p.must(sel)
	return p.load("clicking "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// load runs an action that loads a page (a navigation, a click, a
// submit), waits for the page, requires status 200 and returns its URL. A
// JavaScript dialog the page opens instead (an alert) is dismissed and
// fails the test with its message, rather than leaving the step to time out.
func (p *person) load(what string, action chromedp.Action[chromedp.Void]) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserStep)
	defer cancel()
	var dialog atomic.Pointer[string]
	go func() {
		select {
		case m := <-p.dialogs:
			dialog.Store(&m)
			cancel()
		case <-ctx.Done():
		}
	}()
	resp, err := chromedp.RunResponse(ctx, action)
	if m := dialog.Load(); m != nil {
		p.t.Fatalf("%s: %s: the page opened a dialog instead of loading a page: %q (at %s)", p.name, what, *m, p.location())
	}
	if err != nil {
		p.t.Fatalf("%s: %s: %v (at %s)\n%s", p.name, what, err, p.location(), p.bodyText())
	}
	if resp.Status != http.StatusOK {
		p.t.Fatalf("%s: %s loaded %s with status %d:\n%s", p.name, what, resp.URL, resp.Status, p.bodyText())
	}
	return resp.URL
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](p *person, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserStep)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("%s: evaluating %s: %v (at %s)", p.name, expr, err, p.location())
	}
	return v
}

// requireCount requires n elements matching sel on the page, and shows
// where the person is and what the page says when there are not.
func (p *person) requireCount(n int, sel string, msgAndArgs ...any) {
	p.t.Helper()
	if got := p.count(sel); got != n {
		msg := ""
		if len(msgAndArgs) > 0 {
			msg = fmt.Sprintf(msgAndArgs[0].(string), msgAndArgs[1:]...) + ": "
		}
		p.t.Fatalf("%s: %s%d of %s on %s, want %d:\n%s", p.name, msg, got, sel, p.location(), n, p.bodyText())
	}
}

// count is how many elements match sel on the page now.
func (p *person) count(sel string) int {
	p.t.Helper()
	return eval[int](p, fmt.Sprintf(`document.querySelectorAll(%s).length`, strconv.Quote(sel)))
}

// text is the visible text of the first element matching sel, trimmed.
func (p *person) text(sel string) string {
	p.t.Helper()
	p.must(sel)
	ctx, cancel := context.WithTimeout(p.ctx, browserStep)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		p.t.Fatalf("%s: reading %s: %v (at %s)\n%s", p.name, sel, err, p.location(), p.bodyText())
	}
	return strings.TrimSpace(s)
}

// bodyText is the page's visible text, for failure messages.
func (p *person) bodyText() string {
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if err != nil {
		return "(page text unavailable: " + err.Error() + ")"
	}
	return s
}

func (p *person) location() string {
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "?"
	}
	return s
}

// waitDOM waits, without reloading, until the JavaScript expression cond
// holds on the page (polled every 100ms, up to browserStep).
func (p *person) waitDOM(cond, what string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserStep+5*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](cond,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(browserStep)))
	if err != nil {
		p.t.Fatalf("%s: waiting for %s: %v (at %s)\n%s", p.name, what, err, p.location(), p.bodyText())
	}
}

// waitText reloads u until its visible text contains want.
func (p *person) waitText(u, want string) {
	p.t.Helper()
	deadline := time.Now().Add(browserStep)
	for {
		p.open(u)
		if strings.Contains(p.bodyText(), want) {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: %s never showed %q:\n%s", p.name, u, want, p.bodyText())
		}
		time.Sleep(100 * time.Millisecond) // the interval between reloads, not a synchronisation
	}
}

// screenshot writes the page as $FLEXLABEL_SCREENSHOTS/name.png, when set.
func (p *person) screenshot(name string) {
	p.t.Helper()
	dir := os.Getenv(envScreenshots)
	if dir == "" {
		return
	}
	if !filepath.IsAbs(dir) {
		// Relative to the repository's root, not to this package's
		// folder, where go test runs.
		dir = filepath.Join("..", "..", dir)
	}
	ctx, cancel := context.WithTimeout(p.ctx, browserStep)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(p.t, err, "screenshot %s", name)
	require.NoError(p.t, os.MkdirAll(dir, 0o755))
	path := filepath.Join(dir, name+".png")
	require.NoError(p.t, os.WriteFile(path, png, 0o644))
	p.t.Logf("screenshot: %s", path)
}

// console is flexlabel as operators meet it: `serve` on a real listener
// with scoped tokens from FLEXLABEL_API_TOKENS_FILE, a worker against the
// fake Flex Forward API, and Redis.
type console struct {
	*cli
	base  string // http://127.0.0.1:PORT
	q     *queue.Queue
	logs  *queuetest.Buffer
	serve context.CancelFunc
}

// startConsole starts serve with the tokens file lines ("SCOPE TOKEN").
func startConsole(t *testing.T, c *cli, tokenLines ...string) *console {
	t.Helper()
	file := filepath.Join(t.TempDir(), "tokens")
	require.NoError(t, os.WriteFile(file, []byte("# the browser test's tokens\n"+strings.Join(tokenLines, "\n")+"\n"), 0o600))
	addr := freeAddr(t)
	env := map[string]string{}
	for k, v := range c.env {
		env[k] = v
	}
	env["FLEXLABEL_API_TOKENS_FILE"] = file
	env["FLEXLABEL_HTTP_ADDR"] = addr
	ctx, cancel := context.WithCancel(context.Background())
	logs := &queuetest.Buffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, env, strings.NewReader(""), logs, logs) }()
	base := "http://" + addr
	waitHealthy(t, base, 10*time.Second, logs)
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("serve did not stop")
		}
		for _, l := range tokenLines {
			if f := strings.Fields(l); len(f) > 1 {
				require.NotContains(t, logs.String(), f[1], "a token in serve's logs")
			}
		}
	})
	return &console{cli: c, base: base, q: c.queue(t), logs: logs, serve: cancel}
}

func (c *console) url(path string, query ...string) string {
	u := c.base + path
	if len(query) > 0 {
		v := url.Values{}
		for i := 0; i+1 < len(query); i += 2 {
			v.Set(query[i], query[i+1])
		}
		u += "?" + v.Encode()
	}
	return u
}

// deadSnapshot is every dead letter's key, reason, attempts and failure
// time: what an action that must change nothing must leave as it was.
func (c *console) deadSnapshot(t *testing.T) map[string]string {
	t.Helper()
	snap := map[string]string{}
	require.NoError(t, c.q.DeadLetters().Each(context.Background(), "", func(d *queue.DeadLetter) error {
		snap[d.IdempotencyKey] = fmt.Sprintf("%s attempts=%d failedAt=%s", d.Reason, d.Attempts, d.FailedAt.Format(time.RFC3339Nano))
		return nil
	}))
	return snap
}

// withoutDBus drops chromium's log lines about D-Bus, which a container
// has none of: noise in a failing test's output.
func withoutDBus(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.Contains(l, "dbus") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}
