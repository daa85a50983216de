package remote

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

func TestJWKSHandler(t *testing.T) {
	k1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	s, err := NewSigner([]*ecdsa.PrivateKey{k1, k2}, SignerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	s.JWKSHandler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, JWKSPath, nil))
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, content type %q", w.Code, w.Header().Get("Content-Type"))
	}
	if cc := w.Header().Get("Cache-Control"); cc != "public, max-age=300" {
		t.Errorf("Cache-Control = %q", cc)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(w.Body.Bytes(), &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 2 {
		t.Fatalf("%d keys published, want 2", len(set.Keys))
	}
	for i, k := range []*ecdsa.PrivateKey{k1, k2} {
		want, _ := Thumbprint(&k.PublicKey)
		got := set.Keys[i]
		if got.KeyID != want || got.Algorithm != "ES256" || got.Use != "sig" || !got.IsPublic() {
			t.Errorf("key %d = kid %q alg %q use %q public %v, want kid %q", i, got.KeyID, got.Algorithm, got.Use, got.IsPublic(), want)
		}
	}
	if s.KeyID() != set.Keys[0].KeyID {
		t.Errorf("signing kid %q is not the first key's", s.KeyID())
	}
	if strings.Contains(w.Body.String(), `"d"`) {
		t.Errorf("JWKS contains private key material")
	}
	w = httptest.NewRecorder()
	s.JWKSHandler().ServeHTTP(w, httptest.NewRequest(http.MethodPost, JWKSPath, nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: status %d, want 405", w.Code)
	}
}

// TestThumbprintCanonicalForm checks the kid against RFC 7638's canonical
// form of an EC key: the members crv, kty, x, y in that order, no spaces.
func TestThumbprintCanonicalForm(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	got, err := Thumbprint(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	jwk := jose.JSONWebKey{Key: &k.PublicKey}
	b, _ := jwk.MarshalJSON()
	var m map[string]string
	_ = json.Unmarshal(b, &m)
	canon := `{"crv":"` + m["crv"] + `","kty":"EC","x":"` + m["x"] + `","y":"` + m["y"] + `"}`
	if want := sha256b64(canon); got != want {
		t.Errorf("kid %q, want SHA-256 of %s = %q", got, canon, want)
	}
}

func TestLoadSignerFiles(t *testing.T) {
	dir := t.TempDir()
	p8 := filepath.Join(dir, "new.pem")
	if err := GenerateKeyFile(p8); err != nil {
		t.Fatal(err)
	}
	if err := GenerateKeyFile(p8); err == nil {
		t.Error("GenerateKeyFile overwrote an existing key")
	}
	if fi, _ := os.Stat(p8); fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	// A SEC 1 key, as `openssl ecparam -genkey` writes it.
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalECPrivateKey(k)
	sec1 := filepath.Join(dir, "old.pem")
	_ = os.WriteFile(sec1, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)

	s, err := LoadSignerFiles([]string{p8, sec1})
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	_ = json.Unmarshal(s.JWKS(), &set)
	oldKid, _ := Thumbprint(&k.PublicKey)
	if len(set.Keys) != 2 || set.Keys[1].KeyID != oldKid || s.KeyID() == oldKid {
		t.Errorf("want the first file to sign and both published")
	}

	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	rder, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	rsaFile := filepath.Join(dir, "rsa.pem")
	_ = os.WriteFile(rsaFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: rder}), 0o600)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	der384, _ := x509.MarshalECPrivateKey(p384)
	f384 := filepath.Join(dir, "p384.pem")
	_ = os.WriteFile(f384, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der384}), 0o600)
	for _, bad := range [][]string{{rsaFile}, {f384}, {filepath.Join(dir, "missing.pem")}, {p8, p8}, nil} {
		if _, err := LoadSignerFiles(bad); err == nil {
			t.Errorf("LoadSignerFiles(%v) accepted", bad)
		}
	}
}

func TestLoadPseudonymKeyFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	_ = os.WriteFile(good, []byte(strings.Repeat("ab", 32)+"\n"), 0o600)
	if k, err := LoadPseudonymKeyFile(good); err != nil || len(k) != 64 {
		t.Errorf("good key: %d bytes, %v", len(k), err)
	}
	short := filepath.Join(dir, "short")
	_ = os.WriteFile(short, []byte("  tooshort  \n"), 0o600)
	if _, err := LoadPseudonymKeyFile(short); err == nil {
		t.Error("short key accepted")
	}
}

func TestModuleConfigValidate(t *testing.T) {
	good := testModule("felanmalan", "https://felanmalan.intern.example.se/app")
	if err := good.Validate(); err != nil {
		t.Fatalf("good config refused: %v", err)
	}
	bad := ModuleConfig{
		ID: "1abc", Upstream: "https://user:pw@x.example/?q=1", Timeout: -1, MaxBodyBytes: -1,
		Info: Info{MinLoA: "none", Actors: []string{"self", "staff"}, CasePrefix: "x1"},
	}
	err := bad.Validate()
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, want := range []string{
		"id:", "upstream: must not contain credentials", "upstream: must not have a query", "timeout:",
		"max_body_bytes:", "title_sv:", "title_en:", "owner.department:", "owner.name:", "owner.contact:",
		"min_loa:", "actors[1]:", "handler_roles:", "personal_data:", "legal_basis:", "retention:", "case_prefix:",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q", want)
		}
	}
	if strings.Contains(err.Error(), "pw") {
		t.Errorf("error reveals upstream credentials: %v", err)
	}
	if (Info{}).Level().String() != "substantial" || len((Info{}).AllowedActors()) != 1 {
		t.Errorf("defaults: min_loa %v actors %v", (Info{}).Level(), (Info{}).AllowedActors())
	}
}

func sha256b64(s string) string {
	h := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(h[:])
}
