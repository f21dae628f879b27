package sasltest

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/saslkit/saslkit/internal/redact"
	"github.com/saslkit/saslkit/mechanisms/scram"
	"github.com/saslkit/saslkit/sasl"
)

// InboxName is the mailbox SMTP delivers into and POP3 serves.
const InboxName = "INBOX"

// scramIterations is the iteration count of stored SCRAM credentials, the
// minimum RFC 7677 asks for (and the clients' default minimum).
const scramIterations = 4096

// MailStore is the in-memory mail store a MailServer's IMAP, SMTP and POP3
// servers share: users with their passwords, and per user the mailboxes of
// go-imap's imapmemserver with messages numbered by UID. SMTP delivers into
// a recipient's INBOX, IMAP serves every mailbox and POP3 serves the INBOX,
// so what one protocol writes the others read back.
//
// A MailStore is safe for concurrent use. User names compare without
// regard to case.
type MailStore struct {
	clock func() time.Time

	mu    sync.Mutex
	users map[string]*storeUser
}

// storeUser is one account. mu guards the fields below it.
type storeUser struct {
	name string
	mem  *imapmemserver.User

	mu       sync.Mutex
	password string
	scram    map[string]sasl.SCRAMCredentials // by hash name, derived on demand
	salt     []byte
	raw      map[string]map[imap.UID][]byte // mailbox → UID → message
	popLock  bool
}

// StoredMessage is a message in a mailbox.
type StoredMessage struct {
	// UID is the message's IMAP UID in its mailbox.
	UID imap.UID
	// Raw is the message as stored, with CRLF line endings.
	Raw []byte
}

func newMailStore(clock func() time.Time) *MailStore {
	return &MailStore{clock: clock, users: map[string]*storeUser{}}
}

// Format prints the store's user count, never a password.
func (s *MailStore) Format(f fmt.State, verb rune) {
	s.mu.Lock()
	n := len(s.users)
	s.mu.Unlock()
	redact.Format(f, verb, fmt.Sprintf("sasltest.MailStore{Users:%d}", n))
}

func userKey(name string) string { return strings.ToLower(name) }

// AddUser creates the account name with an INBOX if it does not exist, and
// sets its password ("" leaves a new account without one, so that only
// token and certificate mechanisms open it; an existing password is kept).
func (s *MailStore) AddUser(name, password string) error {
	u, err := s.ensure(name)
	if err != nil {
		return err
	}
	if password != "" {
		u.setPassword(password)
	}
	return nil
}

// SetPassword sets (or with "" removes) the password of an existing
// account; the password mechanisms (PLAIN, LOGIN, CRAM-MD5, SCRAM) and
// POP3 USER/PASS check it.
func (s *MailStore) SetPassword(name, password string) error {
	u := s.user(name)
	if u == nil {
		return fmt.Errorf("sasltest: no user %q", name)
	}
	u.setPassword(password)
	return nil
}

func (u *storeUser) setPassword(password string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.password = password
	u.scram = map[string]sasl.SCRAMCredentials{}
	u.salt = scram.NewSalt()
}

// Users returns the account names, sorted.
func (s *MailStore) Users() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, u := range s.users {
		out = append(out, u.name)
	}
	slices.Sort(out)
	return out
}

// HasUser reports whether the account exists.
func (s *MailStore) HasUser(name string) bool { return s.user(name) != nil }

func (s *MailStore) user(name string) *storeUser {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.users[userKey(name)]
}

// ensure returns the account, creating it with an INBOX.
func (s *MailStore) ensure(name string) (*storeUser, error) {
	if name == "" || strings.ContainsAny(name, "\x00\r\n") || len(name) > 256 {
		return nil, fmt.Errorf("sasltest: invalid user name %q", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.users[userKey(name)]; ok {
		return u, nil
	}
	// imapmemserver's own password check is never used: the session
	// authenticates through saslkit before it opens the user.
	mem := imapmemserver.NewUser(name, "")
	if err := mem.Create(InboxName, nil); err != nil {
		return nil, fmt.Errorf("sasltest: creating INBOX: %w", err)
	}
	u := &storeUser{name: name, mem: mem, raw: map[string]map[imap.UID][]byte{}}
	s.users[userKey(name)] = u
	return u, nil
}

// Deliver appends msg to the INBOX of to, creating the account if needed,
// and returns the message's UID. Line endings are normalised to CRLF.
func (s *MailStore) Deliver(to string, msg []byte) (imap.UID, error) {
	return s.Append(to, InboxName, msg)
}

// Append appends msg to mailbox of user (creating the account, not the
// mailbox) and returns its UID.
func (s *MailStore) Append(user, mailbox string, msg []byte) (imap.UID, error) {
	u, err := s.ensure(user)
	if err != nil {
		return 0, err
	}
	raw := crlf(msg)
	data, err := u.mem.Append(mailbox, bytes.NewReader(raw), &imap.AppendOptions{Time: s.clock()})
	if err != nil {
		return 0, fmt.Errorf("sasltest: appending to %s of %s: %w", mailbox, user, err)
	}
	u.record(mailbox, data.UID, raw)
	return data.UID, nil
}

// Messages returns the messages of mailbox of user in UID order, as IMAP
// shows them now (expunged messages are gone).
func (s *MailStore) Messages(user, mailbox string) ([]StoredMessage, error) {
	u := s.user(user)
	if u == nil {
		return nil, fmt.Errorf("sasltest: no user %q", user)
	}
	return u.sync(mailbox)
}

// record remembers the bytes of a message that entered mailbox.
func (u *storeUser) record(mailbox string, uid imap.UID, raw []byte) {
	u.mu.Lock()
	defer u.mu.Unlock()
	m := u.raw[mailbox]
	if m == nil {
		m = map[imap.UID][]byte{}
		u.raw[mailbox] = m
	}
	m[uid] = raw
}

func (u *storeUser) rawOf(mailbox string, uid imap.UID) ([]byte, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	b, ok := u.raw[mailbox][uid]
	return b, ok
}

func (u *storeUser) renameMailbox(from, to string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if m, ok := u.raw[from]; ok {
		delete(u.raw, from)
		u.raw[to] = m
	}
}

func (u *storeUser) deleteMailbox(name string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.raw, name)
}

// sync lists the UIDs imapmemserver holds in mailbox, forgets the bytes of
// messages expunged since, and returns what remains. Messages that entered
// the mailbox by a path the store did not see are left out.
func (u *storeUser) sync(mailbox string) ([]StoredMessage, error) {
	uids, err := u.uids(mailbox)
	if err != nil {
		return nil, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	m := u.raw[mailbox]
	keep := make(map[imap.UID][]byte, len(uids))
	var out []StoredMessage
	for _, uid := range uids {
		if b, ok := m[uid]; ok {
			keep[uid] = b
			out = append(out, StoredMessage{UID: uid, Raw: b})
		}
	}
	if m != nil {
		u.raw[mailbox] = keep
	}
	return out, nil
}

// uids returns the UIDs in mailbox, ascending.
func (u *storeUser) uids(mailbox string) ([]imap.UID, error) {
	sess := imapmemserver.NewUserSession(u.mem)
	defer sess.Close()
	if _, err := sess.Select(mailbox, &imap.SelectOptions{ReadOnly: true}); err != nil {
		return nil, fmt.Errorf("sasltest: selecting %s: %w", mailbox, err)
	}
	data, err := sess.Search(imapserver.NumKindUID, &imap.SearchCriteria{}, &imap.SearchOptions{ReturnAll: true})
	if err != nil {
		return nil, fmt.Errorf("sasltest: listing %s: %w", mailbox, err)
	}
	set, _ := data.All.(imap.UIDSet)
	nums, _ := set.Nums()
	slices.Sort(nums)
	return nums, nil
}

// validity returns the UIDVALIDITY of the INBOX.
func (u *storeUser) validity() uint32 {
	sess := imapmemserver.NewUserSession(u.mem)
	defer sess.Close()
	data, err := sess.Select(InboxName, &imap.SelectOptions{ReadOnly: true})
	if err != nil {
		return 0
	}
	return data.UIDValidity
}

// expunge removes the messages with uids from mailbox, in imapmemserver
// (IMAP sessions see EXPUNGE) and in the store.
func (u *storeUser) expunge(mailbox string, uids []imap.UID) error {
	if len(uids) == 0 {
		return nil
	}
	sess := imapmemserver.NewUserSession(u.mem)
	defer sess.Close()
	if _, err := sess.Select(mailbox, nil); err != nil {
		return fmt.Errorf("sasltest: selecting %s: %w", mailbox, err)
	}
	set := imap.UIDSetNum(uids...)
	flags := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}
	if err := sess.Store(nil, set, flags, nil); err != nil {
		return fmt.Errorf("sasltest: flagging messages deleted: %w", err)
	}
	if err := sess.Expunge(nil, &set); err != nil {
		return fmt.Errorf("sasltest: expunging: %w", err)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, uid := range uids {
		delete(u.raw[mailbox], uid)
	}
	return nil
}

// lockMaildrop takes the POP3 maildrop lock (RFC 1939 §8: one session at a
// time per maildrop).
func (u *storeUser) lockMaildrop() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.popLock {
		return false
	}
	u.popLock = true
	return true
}

func (u *storeUser) unlockMaildrop() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.popLock = false
}

// verifyPassword checks a password in constant time.
func (u *storeUser) verifyPassword(password string) bool {
	u.mu.Lock()
	have := u.password
	u.mu.Unlock()
	if have == "" || password == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(have), []byte(password)) == 1
}

// errNoPassword is returned for a user whose account has no password; it
// fails exactly as a wrong password does.
var errNoPassword = fmt.Errorf("sasltest: account has no password: %w", sasl.ErrAuthFailed)

// verifiers returns the password, secret and SCRAM checks of the store.
func (s *MailStore) passwordVerifier() sasl.PasswordVerifier {
	return sasl.PasswordVerifierFunc(func(_ context.Context, authzid, username, password string) (sasl.Identity, error) {
		u := s.user(username)
		if u == nil || !u.verifyPassword(password) {
			return sasl.Identity{}, fmt.Errorf("sasltest: wrong user name or password: %w", sasl.ErrAuthFailed)
		}
		return sasl.Identity{Username: u.name, Authzid: authzid}, nil
	})
}

func (s *MailStore) secretLookup() sasl.SecretLookup {
	return sasl.SecretLookupFunc(func(_ context.Context, username string) (string, error) {
		u := s.user(username)
		if u == nil {
			return "", fmt.Errorf("sasltest: %w", sasl.ErrUnknownUser)
		}
		u.mu.Lock()
		defer u.mu.Unlock()
		if u.password == "" {
			return "", errNoPassword
		}
		return u.password, nil
	})
}

func (s *MailStore) scramLookup() sasl.SCRAMLookup {
	return sasl.SCRAMLookupFunc(func(_ context.Context, hash, username string) (sasl.SCRAMCredentials, error) {
		u := s.user(username)
		if u == nil {
			return sasl.SCRAMCredentials{}, fmt.Errorf("sasltest: %w", sasl.ErrUnknownUser)
		}
		u.mu.Lock()
		defer u.mu.Unlock()
		if u.password == "" {
			// Answer as for an unknown user, so the server sends a fake
			// salt and fails the proof.
			return sasl.SCRAMCredentials{}, fmt.Errorf("sasltest: %w", sasl.ErrUnknownUser)
		}
		if c, ok := u.scram[hash]; ok {
			return c, nil
		}
		c, err := scram.StoredCredentials(hash, u.password, u.salt, scramIterations)
		if err != nil {
			return sasl.SCRAMCredentials{}, errors.New("sasltest: deriving SCRAM credentials failed")
		}
		u.scram[hash] = c
		return c, nil
	})
}

// crlf returns msg with every line ending CRLF (bare LF and bare CR become
// CRLF), as IMAP and POP3 require.
func crlf(msg []byte) []byte {
	out := make([]byte, 0, len(msg)+len(msg)/32+2)
	for i := 0; i < len(msg); i++ {
		switch c := msg[i]; c {
		case '\r':
			out = append(out, '\r', '\n')
			if i+1 < len(msg) && msg[i+1] == '\n' {
				i++
			}
		case '\n':
			out = append(out, '\r', '\n')
		default:
			out = append(out, c)
		}
	}
	return out
}

// Format prints the account's name, never its password or keys.
func (u *storeUser) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, fmt.Sprintf("sasltest.storeUser{Name:%q}", u.name))
}
