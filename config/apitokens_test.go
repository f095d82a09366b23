package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/config"
	"github.com/flexlabel/flexlabel/internal/auth"
)

func TestLoadAPITokens_EnvAndFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "tokens")
	require.NoError(t, os.WriteFile(path, []byte("# ops\noperator oper-0123456789abcdef\nproducer prod-0123456789abcdef shop-a-\n"), 0o600))
	cfg := parseOK(t, map[string]string{"FLEXLABEL_API_TOKENS": "envtoken-0123456789", "FLEXLABEL_API_TOKENS_FILE": path})
	require.Equal(t, path, cfg.APITokensFile)
	tokens, err := cfg.LoadAPITokens()
	require.NoError(t, err)
	require.Equal(t, []auth.Token{{Scope: auth.All, Secret: "envtoken-0123456789"}}, tokens.Env)
	require.Equal(t, []auth.Token{
		{Scope: auth.Operator, Secret: "oper-0123456789abcdef"},
		{Scope: auth.Producer, Secret: "prod-0123456789abcdef", Prefixes: []string{"shop-a-"}},
	}, tokens.File)
	require.Len(t, tokens.All(), 3)
	require.NotZero(t, tokens.FileSum)

	// Without the file, FLEXLABEL_API_TOKENS alone.
	tokens, err = parseOK(t, map[string]string{"FLEXLABEL_API_TOKENS": "envtoken-0123456789"}).LoadAPITokens()
	require.NoError(t, err)
	require.Len(t, tokens.All(), 1)
}

func TestLoadAPITokens_BadFile_ErrorNamesVariableAndLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const secret = "oper-0123456789abcdef"
	cases := []struct{ name, content, env, want string }{
		{"missing", "", "", "FLEXLABEL_API_TOKENS_FILE: reading the tokens file: open " + filepath.Join(dir, "missing")},
		{"bad line", "operator " + secret + "\nviewer " + secret[:10] + "\n", "", "FLEXLABEL_API_TOKENS_FILE: " + filepath.Join(dir, "bad line") + ":2: token is shorter than 16 characters"},
		{"in env too", "operator " + secret + "\n", secret, "FLEXLABEL_API_TOKENS_FILE: " + filepath.Join(dir, "in env too") + ": token " + auth.TokenID(secret) + " is in FLEXLABEL_API_TOKENS too"},
	}
	for _, c := range cases {
		path := filepath.Join(dir, c.name)
		if c.name != "missing" {
			require.NoError(t, os.WriteFile(path, []byte(c.content), 0o600))
		}
		env := map[string]string{"FLEXLABEL_API_TOKENS_FILE": path}
		if c.env != "" {
			env["FLEXLABEL_API_TOKENS"] = c.env
		}
		_, err := parseOK(t, env).LoadAPITokens()
		var cerr *config.Error
		require.True(t, errors.As(err, &cerr), "%s: %v", c.name, err)
		require.Contains(t, problemFor(t, cerr, "FLEXLABEL_API_TOKENS_FILE"), c.want, c.name)
		require.NotContains(t, err.Error(), secret[:10], c.name)
	}
}
