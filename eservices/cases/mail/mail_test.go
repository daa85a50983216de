package mail_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	netmail "net/mail"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/civicgate/civicgate/eservices/cases"
	"github.com/civicgate/civicgate/eservices/cases/mail"
)

// smtpServer speaks just enough SMTP (EHLO, AUTH PLAIN, MAIL, RCPT, DATA,
// RSET, NOOP, QUIT) to receive mail and record it.
type smtpServer struct {
	ln         net.Listener
	rejectRcpt bool

	mu    sync.Mutex
	conns []net.Conn
	auth  []string
	mails []received
	wg    sync.WaitGroup
}

type received struct {
	from string
	to   []string
	data string
}

func newSMTPServer(t *testing.T) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *smtpServer) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *smtpServer) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	reply := func(lines ...string) {
		for _, l := range lines {
			_, _ = io.WriteString(c, l+"\r\n")
		}
	}
	readLine := func() (string, bool) {
		l, err := r.ReadString('\n')
		return strings.TrimRight(l, "\r\n"), err == nil
	}
	reply("220 localhost ESMTP test")
	var cur received
	for {
		line, ok := readLine()
		if !ok {
			return
		}
		verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		switch verb {
		case "EHLO":
			reply("250-localhost", "250-8BITMIME", "250-AUTH PLAIN", "250 SMTPUTF8")
		case "HELO":
			reply("250 localhost")
		case "AUTH":
			f := strings.Fields(line)
			resp := ""
			if len(f) == 3 {
				resp = f[2]
			} else {
				reply("334 ")
				resp, _ = readLine()
			}
			dec, _ := base64.StdEncoding.DecodeString(resp)
			s.mu.Lock()
			s.auth = append(s.auth, string(dec))
			s.mu.Unlock()
			reply("235 2.7.0 Authentication successful")
		case "MAIL":
			cur = received{from: addrOf(line)}
			reply("250 2.1.0 Ok")
		case "RCPT":
			if s.rejectRcpt {
				reply("450 4.2.1 Mailbox busy, try again later")
				continue
			}
			cur.to = append(cur.to, addrOf(line))
			reply("250 2.1.5 Ok")
		case "DATA":
			reply("354 End data with <CR><LF>.<CR><LF>")
			var b strings.Builder
			for {
				l, ok := readLine()
				if !ok {
					return
				}
				if l == "." {
					break
				}
				b.WriteString(strings.TrimPrefix(l, ".") + "\r\n")
			}
			cur.data = b.String()
			s.mu.Lock()
			s.mails = append(s.mails, cur)
			s.mu.Unlock()
			reply("250 2.0.0 Ok: queued")
		case "RSET", "NOOP":
			reply("250 2.0.0 Ok")
		case "QUIT":
			reply("221 2.0.0 Bye")
			return
		default:
			reply("502 5.5.2 Error: command not recognized")
		}
	}
}

func addrOf(line string) string {
	i, j := strings.Index(line, "<"), strings.Index(line, ">")
	if i < 0 || j < i {
		return ""
	}
	return line[i+1 : j]
}

func (s *smtpServer) received() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.mails...)
}

func passwordFile(t *testing.T, pw string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "smtp.pw")
	if err := os.WriteFile(p, []byte(pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func testMail() cases.Mail {
	return cases.Mail{
		ID: "m1", To: "medborgare@example.se",
		Subject: "Ärende BYGG-2026-000123 mottaget / Case BYGG-2026-000123 received",
		Body:    "Vi har tagit emot ditt ärende BYGG-2026-000123.\n\nWe have received your case BYGG-2026-000123.\n",
	}
}

// decode returns a received message's subject and plain-text body.
func decode(t *testing.T, data string) (subject, body string) {
	t.Helper()
	msg, err := netmail.ReadMessage(strings.NewReader(data))
	if err != nil {
		t.Fatalf("unparsable message: %v\n%s", err, data)
	}
	subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	var r io.Reader = msg.Body
	switch strings.ToLower(msg.Header.Get("Content-Transfer-Encoding")) {
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, r)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return subject, strings.ReplaceAll(string(b), "\r\n", "\n")
}

func TestSMTPSend(t *testing.T) {
	srv := newSMTPServer(t)
	s, err := mail.NewSMTP(mail.Config{
		Host: "127.0.0.1", Port: srv.port(), TLS: mail.TLSNone, From: "noreply@kommun.example",
		Username: "gateway", PasswordFile: passwordFile(t, "s3cret"), Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), testMail()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := srv.received()
	if len(got) != 1 {
		t.Fatalf("server received %d mails", len(got))
	}
	if got[0].from != "noreply@kommun.example" || len(got[0].to) != 1 || got[0].to[0] != "medborgare@example.se" {
		t.Errorf("envelope from %q to %q", got[0].from, got[0].to)
	}
	subject, body := decode(t, got[0].data)
	if subject != testMail().Subject {
		t.Errorf("subject %q", subject)
	}
	if body != testMail().Body {
		t.Errorf("body %q, want %q", body, testMail().Body)
	}
	if !strings.Contains(strings.ToLower(got[0].data), "charset=utf-8") {
		t.Errorf("message is not declared UTF-8:\n%s", got[0].data)
	}
	if len(srv.auth) != 1 || srv.auth[0] != "\x00gateway\x00s3cret" {
		t.Errorf("AUTH PLAIN got %q", srv.auth)
	}
}

func TestSMTPRejectedIsRetried(t *testing.T) {
	srv := newSMTPServer(t)
	srv.rejectRcpt = true
	s, err := mail.NewSMTP(mail.Config{Host: "127.0.0.1", Port: srv.port(), TLS: mail.TLSNone, From: "noreply@kommun.example", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), testMail())
	if err == nil {
		t.Fatal("Send succeeded although the server refused the recipient")
	}
	// Through the Mailer the refusal becomes a retry.
	ob := &fakeOutbox{mails: []cases.Mail{testMail()}}
	now := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	m := cases.NewMailer(ob, s, cases.MailerOptions{Now: func() time.Time { return now }, Backoff: time.Minute,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if n, err := m.RunOnce(context.Background()); n != 1 || err != nil {
		t.Fatalf("RunOnce = %d, %v", n, err)
	}
	if len(ob.failed) != 1 || ob.failed[0].giveUp || !ob.failed[0].next.Equal(now.Add(time.Minute)) || !strings.Contains(ob.failed[0].err, "450") {
		t.Errorf("failures recorded %+v", ob.failed)
	}
	if len(ob.sent) != 0 {
		t.Errorf("refused mail marked sent")
	}
}

func TestSMTPServerDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s, err := mail.NewSMTP(mail.Config{Host: "127.0.0.1", Port: port, TLS: mail.TLSNone, From: "noreply@kommun.example", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), testMail()); err == nil {
		t.Error("Send to a closed port succeeded")
	}
}

// TestSMTPStartTLSRequired shows that the default policy refuses to send
// to a server that does not offer STARTTLS rather than send in clear.
func TestSMTPStartTLSRequired(t *testing.T) {
	srv := newSMTPServer(t)
	s, err := mail.NewSMTP(mail.Config{Host: "127.0.0.1", Port: srv.port(), From: "noreply@kommun.example", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), testMail()); err == nil {
		t.Error("Send without STARTTLS succeeded under the default policy")
	}
	if n := len(srv.received()); n != 0 {
		t.Errorf("server received %d mails in clear", n)
	}
}

type failure struct {
	id, err string
	next    time.Time
	giveUp  bool
}

type fakeOutbox struct {
	mails  []cases.Mail
	sent   []string
	failed []failure
}

func (o *fakeOutbox) ClaimMail(_ context.Context, _ time.Time, limit int, _ time.Duration) ([]cases.Mail, error) {
	out := o.mails
	o.mails = nil
	for i := range out {
		out[i].Attempts++
	}
	return out, nil
}

func (o *fakeOutbox) MailSent(_ context.Context, id string, _ time.Time) error {
	o.sent = append(o.sent, id)
	return nil
}

func (o *fakeOutbox) MailFailed(_ context.Context, id, lastError string, next time.Time, giveUp bool) error {
	o.failed = append(o.failed, failure{id, lastError, next, giveUp})
	return nil
}

func TestConfigValidate(t *testing.T) {
	good := mail.Config{Host: "smtp.kommun.example", From: "noreply@kommun.example", Username: "u", PasswordFile: passwordFile(t, "pw")}
	if err := good.Validate(); err != nil {
		t.Errorf("good config: %v", err)
	}
	err := mail.Config{Port: 70000, From: "Kommunen <x@y>", TLS: "sometimes", Username: "u", Timeout: -1}.Validate()
	for _, key := range []string{"host:", "port:", "from:", "password_file:", "tls:", "timeout:"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("Validate does not report %s: %v", key, err)
		}
	}
	if err := (mail.Config{Host: "smtp.kommun.example", From: "a@b.se", TLS: mail.TLSNone}).Validate(); err == nil || !strings.Contains(err.Error(), "tls:") {
		t.Errorf("plain text to a remote server accepted: %v", err)
	}
	if err := (mail.Config{Host: "h", From: "a@b.se", Username: "u", PasswordFile: "/nonexistent/pw"}).Validate(); err == nil ||
		!strings.Contains(err.Error(), "password_file:") {
		t.Errorf("missing password file: %v", err)
	}
	if _, err := mail.NewSMTP(mail.Config{}); err == nil {
		t.Error("NewSMTP accepted an empty config")
	}
}

func TestDevMailbox(t *testing.T) {
	mb := mail.NewDevMailbox(2)
	for i := 1; i <= 3; i++ {
		m := testMail()
		m.Subject = "mail " + strconv.Itoa(i) + " <script>alert(1)</script>"
		if err := mb.Send(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	got := mb.Mails()
	if len(got) != 2 || !strings.HasPrefix(got[0].Subject, "mail 3") || !strings.HasPrefix(got[1].Subject, "mail 2") {
		t.Errorf("Mails = %+v", got)
	}
	rec := httptest.NewRecorder()
	mb.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/dev/mailbox", nil))
	body := rec.Body.String()
	if rec.Code != http.StatusOK || !strings.Contains(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("GET = %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	if !strings.Contains(body, "medborgare@example.se") || !strings.Contains(body, "Vi har tagit emot ditt ärende BYGG-2026-000123") {
		t.Errorf("page lacks the mail:\n%s", body)
	}
	if strings.Contains(body, "<script>") {
		t.Error("subject not escaped")
	}
	if strings.Index(body, "mail 3") > strings.Index(body, "mail 2") {
		t.Error("page not newest first")
	}
	rec = httptest.NewRecorder()
	mb.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/dev/mailbox", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST = %d", rec.Code)
	}
}
