package eservices

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/civicgate/civicgate/eservices/cases"
	"github.com/civicgate/civicgate/eservices/population"
	"github.com/civicgate/civicgate/gateway/audit"
	"github.com/civicgate/civicgate/web"
)

// Env is what the gateway gives a module: the services it may use. A
// module keeps the pointer it receives in Provision.
type Env struct {
	// Cases stores the module's cases; every change is audited in the same
	// transaction.
	Cases cases.Store
	// Blobs stores attachments; use cases.CheckUpload before Put.
	Blobs cases.BlobStore
	// Audit records reads and other events that are not case changes
	// (e.g. "case.viewed", "population.lookup").
	Audit audit.Logger
	// Population is the population register; lookups of protected persons
	// are audited by the gateway.
	Population population.Register
	// Pages renders the module's templates inside the site layout.
	Pages *web.Renderer
	// Log is a logger tagged with the module ID. Never log a personnummer.
	Log *slog.Logger
	// Now is the clock.
	Now func() time.Time
	// ModuleID is the module's own ID.
	ModuleID string
	// MaxUploadBytes is the largest attachment the municipality accepts
	// (cases.max_upload_bytes).
	MaxUploadBytes int64
}

// Render writes the module's page (a file of its Templates, e.g.
// "form.html") inside the site layout, with title a message key.
func (e *Env) Render(w http.ResponseWriter, r *http.Request, status int, page, title string, data any) {
	e.Pages.Render(w, r, status, e.ModuleID+"/"+page, web.Page{Title: title, Data: data})
}

// CaseActor returns the case-store actor for a request's actor in role.
func CaseActor(r *http.Request, role string) cases.Actor {
	a := ActorFrom(r.Context())
	key := ""
	if a != nil {
		key = a.Key()
	}
	return cases.Actor{Key: key, Role: role, RequestID: RequestID(r.Context())}
}

// RequestID returns the gateway's request ID (the X-Request-ID response
// header), for audit events.
func RequestID(ctx context.Context) string {
	if w, ok := ctx.Value(requestIDKey{}).(string); ok {
		return w
	}
	return ""
}

type requestIDKey struct{}

// WithRequestID stores the gateway's request ID for RequestID.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}
