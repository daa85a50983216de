package contactcentre

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/civicgate/civicgate/auth"
	"github.com/civicgate/civicgate/auth/session"
)

// lookupTTL is how long the result of a lookup may be used to start acting
// for the citizen found.
const lookupTTL = 30 * time.Minute

// A lookup token carries the personnummer found by a lookup to the form that
// starts acting for that person, without putting the number in the page: it
// is sealed (AES-GCM) with a key derived from the agent's session ID, which
// never reaches the page either. So the token is useless in another session,
// works on every replica, and proves that the number went through the
// audited, rate-limited lookup.
func lookupKey(s *session.Session) []byte {
	m := hmac.New(sha256.New, []byte(s.ID))
	m.Write([]byte("civicgate contactcentre lookup token v1"))
	return m.Sum(nil)
}

func sealLookup(s *session.Session, pnr string, expires time.Time) string {
	gcm := lookupAEAD(s)
	nonce := make([]byte, gcm.NonceSize())
	_, _ = rand.Read(nonce)
	plain := pnr + "|" + strconv.FormatInt(expires.Unix(), 10)
	return base64.RawURLEncoding.EncodeToString(gcm.Seal(nonce, nonce, []byte(plain), nil))
}

// openLookup returns the personnummer of a token sealed for s that has not
// expired at now.
func openLookup(s *session.Session, token string, now time.Time) (string, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	gcm := lookupAEAD(s)
	if err != nil || len(raw) < gcm.NonceSize() {
		return "", false
	}
	plain, err := gcm.Open(nil, raw[:gcm.NonceSize()], raw[gcm.NonceSize():], nil)
	if err != nil {
		return "", false
	}
	pnr, exp, ok := strings.Cut(string(plain), "|")
	if !ok || !auth.ValidPersonalNumber(pnr) {
		return "", false
	}
	sec, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || !now.Before(time.Unix(sec, 0)) {
		return "", false
	}
	return pnr, true
}

func lookupAEAD(s *session.Session) cipher.AEAD {
	block, err := aes.NewCipher(lookupKey(s))
	if err != nil {
		panic("contactcentre: " + err.Error()) // a 32-byte key never fails
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		panic("contactcentre: " + err.Error())
	}
	return gcm
}
