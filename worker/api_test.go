package worker_test

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/worker"
)

// A Budget is handed to the worker, which alone takes its slots and sets
// the fleet pause: an importer holding one cannot spend or pause it.
func TestBudget_HasNoExportedMethods(t *testing.T) {
	t.Parallel()
	require.Zero(t, reflect.TypeFor[*worker.Budget]().NumMethod())
}
