package sasltest

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// FaultKind is what an injected token endpoint fault does.
type FaultKind int

const (
	// FaultStatus answers with an HTTP error status (Status, default 503)
	// and an OAuth JSON body {"error":"temporarily_unavailable",...}
	// (RFC 6749 §4.1.2.1's code for an overloaded server).
	FaultStatus FaultKind = iota + 1
	// FaultRateLimit answers 429 Too Many Requests with a Retry-After
	// header of RetryAfter (default 1 s), as both providers throttle.
	FaultRateLimit
	// FaultSlow holds the request for Delay on the real clock and then
	// until Hold is closed (either may be unset), then answers normally.
	// It ends early, without an answer, when the client's request context
	// ends or the server closes.
	FaultSlow
	// FaultInvalidGrant answers 400 {"error":"invalid_grant",...} without
	// looking at the request: a refresh token revoked behind the client's
	// back.
	FaultInvalidGrant
	// FaultHTML answers an HTML error page (Status, default 502), like a
	// proxy or load balancer in front of the real endpoint: no OAuth
	// error field at all.
	FaultHTML
	// FaultNonJSON answers 200 OK with a body that is not JSON.
	FaultNonJSON
	// FaultDrop closes the connection without an answer.
	FaultDrop
)

// String names the kind.
func (k FaultKind) String() string {
	switch k {
	case FaultStatus:
		return "status"
	case FaultRateLimit:
		return "rate-limit"
	case FaultSlow:
		return "slow"
	case FaultInvalidGrant:
		return "invalid-grant"
	case FaultHTML:
		return "html"
	case FaultNonJSON:
		return "non-json"
	case FaultDrop:
		return "drop"
	}
	return "FaultKind(" + strconv.Itoa(int(k)) + ")"
}

// OAuthFault is a fault queued on the token endpoint with InjectFault.
type OAuthFault struct {
	// Kind is what the fault does.
	Kind FaultKind
	// Grant limits the fault to requests with this grant_type; "" matches
	// every token request.
	Grant string
	// Times is how many requests the fault answers: 0 means 1, a negative
	// value means every matching request until ClearFaults.
	Times int
	// Status is the HTTP status for FaultStatus and FaultHTML.
	Status int
	// RetryAfter is FaultRateLimit's Retry-After, sent in whole seconds.
	RetryAfter time.Duration
	// Delay is how long FaultSlow holds a request on the real clock.
	Delay time.Duration
	// Hold, when not nil, holds a FaultSlow request (after Delay) until
	// it is closed.
	Hold <-chan struct{}
	// Taken, when not nil, receives a value (without blocking: give it a
	// buffer) each time the fault takes a request, so a test can wait for
	// "the request has arrived" instead of sleeping.
	Taken chan<- struct{}
}

// queuedFault is an OAuthFault with its remaining count.
type queuedFault struct {
	f    OAuthFault
	left int // <0: forever
}

// InjectFault queues f. Each token request takes the first queued fault
// whose Grant matches; faults are answered in the order queued.
func (s *OAuthServer) InjectFault(f OAuthFault) {
	n := f.Times
	if n == 0 {
		n = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &queuedFault{f: f, left: n})
}

// ClearFaults removes every queued fault.
func (s *OAuthServer) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// PendingFaults reports how many requests the queued faults would still
// answer; -1 if some fault is unlimited.
func (s *OAuthServer) PendingFaults() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, q := range s.faults {
		if q.left < 0 {
			return -1
		}
		n += q.left
	}
	return n
}

// takeFaultLocked removes and returns the fault for a request with grant.
func (s *OAuthServer) takeFaultLocked(grant string) (OAuthFault, bool) {
	for i, q := range s.faults {
		if q.f.Grant != "" && q.f.Grant != grant {
			continue
		}
		if q.left > 0 {
			q.left--
			if q.left == 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		s.counters.faults++
		return q.f, true
	}
	return OAuthFault{}, false
}

// serveFault answers a request with f. It reports whether the request was
// answered (false: a FaultSlow that let the request through).
func (s *OAuthServer) serveFault(w http.ResponseWriter, r *http.Request, f OAuthFault) (answered bool) {
	if f.Taken != nil {
		select {
		case f.Taken <- struct{}{}:
		default:
		}
	}
	switch f.Kind {
	case FaultSlow:
		if !s.waitOrDone(r, f.Delay, f.Hold) {
			// The client left or the server is closing: abort the
			// connection as a server that gave up would.
			panic(http.ErrAbortHandler)
		}
		return false
	case FaultRateLimit:
		ra := f.RetryAfter
		if ra <= 0 {
			ra = time.Second
		}
		secs := int((ra + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		writeJSON(w, http.StatusTooManyRequests, map[string]string{
			"error":             "temporarily_unavailable",
			"error_description": "Too many requests; retry after " + strconv.Itoa(secs) + " seconds",
		})
	case FaultInvalidGrant:
		s.writeError(w, oerr(400, "invalid_grant", "Token has been expired or revoked.",
			50173, "The provided grant has expired due to it being revoked, a fresh auth token is needed."))
	case FaultHTML:
		st := f.Status
		if st == 0 {
			st = http.StatusBadGateway
		}
		body := fmt.Sprintf("<!DOCTYPE html>\n<html><head><title>%d %s</title></head><body><h1>%s</h1><p>The server encountered a temporary error and could not complete your request.</p></body></html>\n",
			st, http.StatusText(st), http.StatusText(st))
		w.Header().Set("Content-Type", "text/html; charset=UTF-8")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(st)
		_, _ = w.Write([]byte(body))
	case FaultNonJSON:
		body := "access_token=this is not JSON&token_type=Bearer\n"
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(body))
	case FaultDrop:
		panic(http.ErrAbortHandler)
	default: // FaultStatus and unknown kinds
		st := f.Status
		if st == 0 {
			st = http.StatusServiceUnavailable
		}
		writeJSON(w, st, map[string]string{
			"error":             "temporarily_unavailable",
			"error_description": http.StatusText(st),
		})
	}
	return true
}
