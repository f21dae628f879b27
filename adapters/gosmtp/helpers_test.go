package gosmtp_test

import "github.com/saslkit/saslkit/internal/adaptertest"

const (
	alice    = adaptertest.Alice
	password = adaptertest.Password
)
