// Package mail delivers the case store's outbox mail: SMTP sends it to a
// real mail server, DevMailbox keeps it in memory and shows it at
// /dev/mailbox for "civicgate dev".
package mail

import (
	"context"
	"errors"
	"fmt"
	netmail "net/mail"
	"os"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/civicgate/civicgate/eservices/cases"
)

// The TLS policies Config.TLS accepts.
const (
	TLSStartTLS      = "starttls"
	TLSImplicit      = "implicit"
	TLSOpportunistic = "opportunistic"
	TLSNone          = "none"
)

// Config is the mail server confirmation mail is sent through.
type Config struct {
	// Host is the SMTP server's host name. Required.
	Host string `yaml:"host"`
	// Port is the SMTP server's port. Default 587, or 465 when tls is
	// "implicit".
	Port int `yaml:"port"`
	// Username logs in to the server with SMTP AUTH; no login when empty.
	Username string `yaml:"username"`
	// PasswordFile is the path of a file holding the password for
	// username (surrounding white space is removed). Required with
	// username.
	PasswordFile string `yaml:"password_file"`
	// From is the sender address, e.g. "noreply@kommun.se". Required.
	From string `yaml:"from"`
	// TLS is how the connection is protected: "starttls" (default; the
	// server must offer STARTTLS), "implicit" (TLS from the first byte,
	// port 465), "opportunistic" (STARTTLS when offered, else plain text)
	// or "none" (plain text; only for a relay on the same host).
	TLS string `yaml:"tls"`
	// Timeout bounds connecting and each command. Default 30s.
	Timeout time.Duration `yaml:"timeout"`
}

func isLocal(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	if c.Host == "" {
		errs = append(errs, errors.New("host: required"))
	}
	if c.Port < 0 || c.Port > 65535 {
		errs = append(errs, errors.New("port: must be between 1 and 65535"))
	}
	if c.From == "" {
		errs = append(errs, errors.New("from: required"))
	} else if a, err := netmail.ParseAddress(c.From); err != nil || a.Address != c.From {
		errs = append(errs, errors.New("from: not a plain e-mail address"))
	}
	switch {
	case c.Username != "" && c.PasswordFile == "":
		errs = append(errs, errors.New("password_file: required with username"))
	case c.Username == "" && c.PasswordFile != "":
		errs = append(errs, errors.New("username: required with password_file"))
	case c.PasswordFile != "":
		if _, err := readPassword(c.PasswordFile); err != nil {
			errs = append(errs, fmt.Errorf("password_file: %w", err))
		}
	}
	switch c.TLS {
	case "", TLSStartTLS, TLSImplicit, TLSOpportunistic:
	case TLSNone:
		if c.Host != "" && !isLocal(c.Host) {
			errs = append(errs, errors.New("tls: none is allowed only for a server on localhost"))
		}
	default:
		errs = append(errs, errors.New("tls: must be starttls, implicit, opportunistic or none"))
	}
	if c.Timeout < 0 {
		errs = append(errs, errors.New("timeout: must not be negative"))
	}
	return errors.Join(errs...)
}

func readPassword(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", errors.New("cannot read the file")
	}
	p := strings.TrimSpace(string(b))
	if p == "" {
		return "", errors.New("the file is empty")
	}
	return p, nil
}

// SMTP is a cases.Sender that delivers through an SMTP server, one
// connection per mail. It is safe for concurrent use.
type SMTP struct {
	from string
	host string
	opts []gomail.Option
}

var _ cases.Sender = (*SMTP)(nil)

// NewSMTP returns the sender c describes, reading the password file once.
func NewSMTP(c Config) (*SMTP, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	port := c.Port
	if port == 0 {
		port = 587
		if c.TLS == TLSImplicit {
			port = 465
		}
	}
	opts := []gomail.Option{gomail.WithPort(port), gomail.WithTimeout(timeout)}
	switch c.TLS {
	case "", TLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSOpportunistic:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if c.Username != "" {
		pw, err := readPassword(c.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("mail: password_file: %w", err)
		}
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthPlain),
			gomail.WithUsername(c.Username), gomail.WithPassword(pw))
	}
	return &SMTP{from: c.From, host: c.Host, opts: opts}, nil
}

// Send implements cases.Sender: the mail is sent as UTF-8 plain text.
func (s *SMTP) Send(ctx context.Context, m cases.Mail) error {
	msg := gomail.NewMsg()
	if err := msg.From(s.from); err != nil {
		return fmt.Errorf("mail: from: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return fmt.Errorf("mail: recipient: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	msg.SetMessageID()
	msg.SetBodyString(gomail.TypeTextPlain, m.Body)
	client, err := gomail.NewClient(s.host, s.opts...)
	if err != nil {
		return fmt.Errorf("mail: %w", err)
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("mail: send: %w", err)
	}
	return nil
}
