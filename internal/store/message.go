package store

import (
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// asynq v0.26.0 Redis layout. Only this package knows it (this file, and
// the scripts of scripts.go and events.go); tests ask queuetest.
const asynqAllQueues = "asynq:queues"

func asynqTaskKeyPrefix(q string) string { return "asynq:{" + q + "}:t:" }
func asynqTaskKey(q, id string) string   { return asynqTaskKeyPrefix(q) + id }
func asynqPendingKey(q string) string    { return asynqQueueKey(q, "pending") }

// asynqQueueKey is one of a queue's lists, sets and counters: pending and
// active (lists), scheduled and retry (sorted sets), processed and failed
// (the all-time counters of runs, failed ones included in processed).
func asynqQueueKey(q, what string) string { return "asynq:{" + q + "}:" + what }

// taskMessage is the subset of asynq's TaskMessage (internal/proto) that a
// fresh task carries. Field numbers are asynq v0.26.0's.
type taskMessage struct {
	Type       string
	Payload    []byte
	ID         string
	Queue      string
	Retry      int32
	TimeoutSec int64
}

// encode writes the protobuf wire form asynq stores in a task hash's "msg"
// field. proto3 leaves zero-valued fields out, and so does this.
func (m taskMessage) encode() []byte {
	b := make([]byte, 0, len(m.Payload)+len(m.ID)+len(m.Type)+len(m.Queue)+24)
	str := func(num protowire.Number, s string) {
		if s != "" {
			b = protowire.AppendTag(b, num, protowire.BytesType)
			b = protowire.AppendString(b, s)
		}
	}
	str(1, m.Type)
	if len(m.Payload) > 0 {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendBytes(b, m.Payload)
	}
	str(3, m.ID)
	str(4, m.Queue)
	if m.Retry != 0 {
		b = protowire.AppendTag(b, 5, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(m.Retry))
	}
	if m.TimeoutSec != 0 {
		b = protowire.AppendTag(b, 8, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(m.TimeoutSec))
	}
	return b
}

// message is the asynq task of a label job on queueName.
func (st *Store) message(key, queueName string, payload []byte) []byte {
	return taskMessage{
		Type:       TaskType,
		Payload:    payload,
		ID:         st.TaskID(key),
		Queue:      queueName,
		Retry:      int32(st.opts.MaxRetry + RetryHeadroom),
		TimeoutSec: int64(st.opts.TaskTimeout / time.Second),
	}.encode()
}
