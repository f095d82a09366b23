package queue

// PayloadOf is the canonical JSON a parsed request's job carries; nil for a
// refusal.
func PayloadOf(p Parsed) []byte { return p.job.Payload }
