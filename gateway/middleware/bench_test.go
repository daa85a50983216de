package middleware_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/civicgate/civicgate/auth"
	"github.com/civicgate/civicgate/auth/session"
	redisstore "github.com/civicgate/civicgate/auth/session/redis"
	mw "github.com/civicgate/civicgate/gateway/middleware"
)

// BenchmarkSessionHotPath measures what every logged-in request pays: the
// cookie is read, the session is looked up (and its idle timeout extended) in
// the real Redis in one round trip, the identity is put in the context, and
// a handler that needs substantial LoA runs.
func BenchmarkSessionHotPath(b *testing.B) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer client.Close()
	if err := client.Ping(context.Background()).Err(); err != nil {
		if os.Getenv("CIVICGATE_NO_REDIS") == "1" {
			b.Skip("no Redis")
		}
		b.Fatalf("Redis: %v", err)
	}
	prefix := fmt.Sprintf("cgbench-%d:", time.Now().UnixNano())
	store := redisstore.New(client, redisstore.Options{Prefix: prefix})
	ctx := context.Background()
	s := &session.Session{
		ID:          session.NewID(),
		Identity:    auth.Identity{Kind: auth.Citizen, PersonalNumber: "198107249289", GivenName: "Tolvan", FamilyName: "Tolvansson", LoA: auth.LoASubstantial, IdP: "bankid", Method: "saml", SessionIndex: "idx"},
		CSRF:        "t",
		Created:     time.Now(),
		Expires:     time.Now().Add(time.Hour),
		IdleTimeout: 15 * time.Minute,
	}
	if err := store.Put(ctx, s); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = store.Delete(ctx, s.ID) }()
	cookies := mw.NewCookies(false)
	fail := func(w http.ResponseWriter, r *http.Request, status int, key string) { w.WriteHeader(status) }
	login := func(w http.ResponseWriter, r *http.Request, min auth.LoA, stepUp bool) {
		w.WriteHeader(http.StatusSeeOther)
	}
	final := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if auth.FromContext(r.Context()) == nil {
			w.WriteHeader(500)
		}
	})
	h := mw.LoadSession(store, cookies, slog.New(slog.NewTextHandler(io.Discard, nil)))(mw.RequireLoA(auth.LoASubstantial, login, fail)(final))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodGet, "/mina-sidor", nil)
			req.AddCookie(cookies.SessionCookie(s.ID))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d", rec.Code)
			}
		}
	})
}
