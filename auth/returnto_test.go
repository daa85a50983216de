package auth

import "testing"

func TestSafeReturnTo(t *testing.T) {
	tests := map[string]string{
		"/mina-sidor":           "/mina-sidor",
		"/e/bygglov/?step=2":    "/e/bygglov/?step=2",
		"":                      "/",
		"https://evil.example/": "/",
		"//evil.example/":       "/",
		"/\\evil.example":       "/",
		"/%0d%0aSet-Cookie:x":   "/%0d%0aSet-Cookie:x",
		"/\r\nLocation: x":      "/",
		"javascript:alert(1)":   "/",
		"mina-sidor":            "/",
		"/\\/evil":              "/",
		"\\\\evil":              "/",
		"/a\\b":                 "/",
		"/ok#frag":              "/ok#frag",
	}
	for in, want := range tests {
		if got := SafeReturnTo(in); got != want {
			t.Errorf("SafeReturnTo(%q) = %q, want %q", in, got, want)
		}
	}
}
