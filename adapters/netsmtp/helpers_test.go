package netsmtp_test

import (
	"context"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/internal/adaptertest"
)

const (
	alice    = adaptertest.Alice
	password = adaptertest.Password
)

type staticToken struct{ tok *oauth2.Token }

func (s staticToken) Token(context.Context) (*oauth2.Token, error) { return s.tok, nil }
