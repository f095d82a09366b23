package queuetest

// SharedServerForTest reports the private server's directory and pid (0 if
// it is not running).
func SharedServerForTest() (dir string, pid int) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.proc != nil {
		pid = shared.proc.cmd.Process.Pid
	}
	return shared.dir, pid
}

// PickBackendForTest exposes pickBackend with the backend as a name.
func PickBackendForTest(getenv func(string) string, lookPath func(string) (string, error)) (string, error) {
	b, err := pickBackend(getenv, lookPath)
	if err != nil {
		return "", err
	}
	return [...]string{"external", "private", "in-process"}[b], nil
}

// InProcessURLForTest starts the miniredis fallback regardless of PATH.
var InProcessURLForTest = inProcessURL
