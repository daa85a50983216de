package auth

import (
	"net/url"
	"strings"
)

// SafeReturnTo returns p if it is a same-origin relative path ("/mina-sidor",
// "/e/bygglov/?x=1") and "/" otherwise. Scheme-relative ("//evil"),
// backslash ("/\evil"), absolute and control-character URLs are refused.
func SafeReturnTo(p string) string {
	if p == "" || len(p) > 2048 || p[0] != '/' {
		return "/"
	}
	if strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") {
		return "/"
	}
	for i := 0; i < len(p); i++ {
		if p[i] < 0x20 || p[i] == 0x7f || p[i] == '\\' {
			return "/"
		}
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return p
}
