package mail

import (
	"context"
	"html/template"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/civicgate/civicgate/eservices/cases"
)

// DevMailbox is a cases.Sender for development: it keeps the newest mails
// in memory instead of sending them, and, as an http.Handler, lists them
// on a server-rendered page. It must never be mounted in production: it
// shows every citizen's mail to anyone who can reach it.
type DevMailbox struct {
	mu    sync.Mutex
	max   int
	mails []Delivered
	now   func() time.Time
}

// Delivered is a mail the DevMailbox received, and when.
type Delivered struct {
	cases.Mail
	At time.Time
}

var (
	_ cases.Sender = (*DevMailbox)(nil)
	_ http.Handler = (*DevMailbox)(nil)
)

// NewDevMailbox returns a mailbox keeping the newest max mails (100 when
// max <= 0).
func NewDevMailbox(max int) *DevMailbox {
	if max <= 0 {
		max = 100
	}
	return &DevMailbox{max: max, now: time.Now}
}

// Send implements cases.Sender; it never fails.
func (d *DevMailbox) Send(_ context.Context, m cases.Mail) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.mails = append(d.mails, Delivered{Mail: m, At: d.now()})
	if len(d.mails) > d.max {
		d.mails = slices.Delete(d.mails, 0, len(d.mails)-d.max)
	}
	return nil
}

// Mails returns the kept mails, newest first.
func (d *DevMailbox) Mails() []Delivered {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := slices.Clone(d.mails)
	slices.Reverse(out)
	return out
}

var page = template.Must(template.New("mailbox").Parse(`<!doctype html>
<html lang="sv">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Utvecklingsbrevlåda / Development mailbox</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }
article { border: 1px solid #999; border-radius: .3rem; padding: .5rem 1rem; margin: 1rem 0; }
pre { white-space: pre-wrap; }
dt { font-weight: bold; float: left; clear: left; width: 7rem; }
</style>
</head>
<body>
<h1>Utvecklingsbrevlåda / Development mailbox</h1>
<p>E-post som gatewayen skulle ha skickat. Inget här har skickats. /
Mail the gateway would have sent. Nothing here was sent.</p>
{{if not .}}<p>Inga brev ännu. / No mail yet.</p>{{end}}
{{range .}}<article>
<dl>
<dt>Till / To</dt><dd>{{if .To}}{{.To}}{{else}}(ingen adress / no address){{end}}</dd>
<dt>Ämne / Subject</dt><dd>{{.Subject}}</dd>
<dt>Tid / Time</dt><dd>{{.At.Format "2006-01-02 15:04:05"}}</dd>
</dl>
<pre>{{.Body}}</pre>
</article>
{{end}}
</body>
</html>
`))

// ServeHTTP lists the kept mails, newest first. Only GET and HEAD are
// allowed.
func (d *DevMailbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	_ = page.Execute(w, d.Mails())
}
