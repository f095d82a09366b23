package queue_test

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/queue"
)

func methods(t reflect.Type) []string {
	out := make([]string, t.NumMethod())
	for i := range out {
		out[i] = t.Method(i).Name
	}
	return out
}

// The public API is the producer's and the operator's: the worker's
// bookkeeping (Begin, Fail, Complete, DeadLetter, SetURLs, TakeSlot, Pause)
// lives in internal/store, and the dead-letter operations are on
// DeadLetters. A method added here is a decision about the public API.
func TestAPI_IsTheProducersAndTheOperators(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{
		"Account", "CheckAccount", "Counts", "DeadLetters", "Enqueue", "EnqueueLine", "EnqueueLines", "EnqueueMany", "Event", "EventAbout", "FleetAccounts", "ForAccount", "HeldJobs", "History", "LoadScripts",
		"Name", "Options", "PendingDocuments", "Ping", "Redis", "States", "Status", "Tracking", "TrackingDue", "URLs",
	}, methods(reflect.TypeFor[*queue.Queue]()))
	require.Equal(t, []string{
		"Count", "CountByReason", "CountMatching", "Discard", "DiscardEach", "Each", "EachMatching", "Export", "ExportMatching", "Get", "Keys", "KeysMatching", "List",
		"NewKeyLine", "Options", "Redrive", "RedriveEach",
	}, methods(reflect.TypeFor[*queue.DeadLetters]()))
}
