package hooks

import "time"

// SetClockForTest makes e read the time from now.
func SetClockForTest(e *Endpoints, now func() time.Time) { e.now = now }
