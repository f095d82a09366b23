package webhook_test

import (
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// readmeMarker precedes the README's Go receiver ("Receiving webhooks").
const readmeMarker = "<!-- receiving-webhooks-go:"

// TestREADME_ReceiverCompiles type-checks the receiver the README shows,
// against this package as it is, so the code users copy keeps compiling.
func TestREADME_ReceiverCompiles(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	_, rest, ok := strings.Cut(string(readme), readmeMarker)
	require.True(t, ok, "README.md has no %s block", readmeMarker)
	_, rest, ok = strings.Cut(rest, "```go\n")
	require.True(t, ok, "no ```go block after %s", readmeMarker)
	src, _, ok := strings.Cut(rest, "\n```")
	require.True(t, ok, "the README's receiver block is not closed")

	wd, err := os.Getwd()
	require.NoError(t, err)
	fset := token.NewFileSet()
	// Named as a file of this directory, so that imports resolve in this module.
	f, err := parser.ParseFile(fset, filepath.Join(wd, "readme_receiver.go"), src, parser.ParseComments)
	require.NoError(t, err, "the README's receiver does not parse")
	conf := types.Config{Importer: importer.ForCompiler(fset, "source", nil)}
	pkg, err := conf.Check("main", fset, []*ast.File{f}, nil)
	require.NoError(t, err, "the README's receiver does not compile")
	require.NotNil(t, pkg.Scope().Lookup("main"), "the README's receiver has no func main")
}
