package session

import "time"

// SetFirestorePoll sets how often Wait polls when its listener fails.
func SetFirestorePoll(f *Firestore, d time.Duration) { f.poll = d }
