package imap_test

import (
	"context"
	"fmt"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"golang.org/x/oauth2"

	imapadapter "github.com/saslkit/saslkit/adapters/imap"
	"github.com/saslkit/saslkit/providers"
	"github.com/saslkit/saslkit/sasl"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

// A Watcher reports every message that arrives in INBOX, in UID order,
// waiting in IDLE between arrivals, and reconnects with a fresh token when
// the session nears its token's expiry or the server ends it.
func ExampleWatcher() {
	ms, err := sasltest.NewMailServer(nil)
	if err != nil {
		panic(err)
	}
	defer ms.Close()
	const user = "alice@example.test"
	tokens := providers.NewCache(providers.FetcherFunc(func(ctx context.Context) (*oauth2.Token, error) {
		return ms.IssueToken(user)
	}), nil)
	for _, subject := range []string{"one", "two"} {
		if _, err := ms.Store().Deliver(user, []byte("Subject: "+subject+"\r\n\r\nbody\r\n")); err != nil {
			panic(err)
		}
	}

	w := imapadapter.NewWatcher(ms.Addr(sasltest.ProtocolIMAP, sasltest.ImplicitTLS), "INBOX", &imapadapter.WatcherOptions{
		Session: imapadapter.SessionOptions{Options: &imapadapter.Options{
			Credentials: &sasl.Credentials{Username: user, TokenSource: tokens},
			Client:      &imapclient.Options{TLSConfig: ms.ClientTLSConfig()},
		}},
	})
	defer w.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err = w.Run(ctx, func(ctx context.Context, uid imap.UID) error {
		fmt.Println("new message, UID", uid)
		switch uid {
		case 2:
			// One more arrives while the Watcher waits in IDLE.
			_, err := ms.Store().Deliver(user, []byte("Subject: three\r\n\r\nbody\r\n"))
			return err
		case 3:
			cancel()
		}
		return nil
	})
	fmt.Println(err)
	// Output:
	// new message, UID 1
	// new message, UID 2
	// new message, UID 3
	// context canceled
}
