package dashboard

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// ErrTokenRequired is returned by CheckListen for an address other machines
// can reach when no token is set.
var ErrTokenRequired = errors.New("dashboard: a token is required to listen on an address other than loopback")

// TokenCookie is the cookie the page keeps its token in once it was opened
// with ?token= (EventSource and <img> cannot send headers).
const TokenCookie = "corb_dashboard_token"

// CheckListen refuses to serve addr (host:port) without a token unless its
// host is a loopback address or "localhost". An empty host (":8088") is every
// interface.
func CheckListen(addr, token string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("dashboard: listen address %q: %w", addr, err)
	}
	if token == "" && !isLoopback(host) {
		return fmt.Errorf("%w: %s (set --token or CORB_DASHBOARD_TOKEN)", ErrTokenRequired, addr)
	}
	return nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	return ip != nil && ip.IsLoopback()
}

// guard serves only what a read-only page needs: GET and HEAD, with the
// token when there is one, else only to loopback Host names (a page of
// another site that rebinds its name to 127.0.0.1 sends its own Host).
func guard(token string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer") // the token may be in the address
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' blob:; frame-ancestors 'none'")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "the dashboard is read-only", http.StatusMethodNotAllowed)
			return
		}
		if token == "" {
			host := r.Host
			if hp, _, err := net.SplitHostPort(host); err == nil {
				host = hp
			}
			if !isLoopback(host) {
				http.Error(w, "this dashboard answers only on localhost; give it a --token to serve other names", http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		if q := r.URL.Query().Get("token"); q != "" && tokenEqual(q, token) {
			http.SetCookie(w, &http.Cookie{Name: TokenCookie, Value: token, Path: "/", HttpOnly: true,
				SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
			// Take the token out of the address bar and the history.
			u := *r.URL
			v := u.Query()
			v.Del("token")
			u.RawQuery = v.Encode()
			http.Redirect(w, r, (&url.URL{Path: u.Path, RawQuery: u.RawQuery}).String(), http.StatusSeeOther)
			return
		}
		if !tokenEqual(presented(r), token) {
			h.Set("WWW-Authenticate", `Bearer realm="corb dashboard"`)
			http.Error(w, "this dashboard needs its token: open it once as /?token=TOKEN, or send Authorization: Bearer TOKEN", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// presented is the token the request carries: the Authorization header's,
// else the cookie's.
func presented(r *http.Request) string {
	if a := r.Header.Get("Authorization"); a != "" {
		if t, ok := strings.CutPrefix(a, "Bearer "); ok {
			return t
		}
		return ""
	}
	if c, err := r.Cookie(TokenCookie); err == nil {
		return c.Value
	}
	return ""
}

func tokenEqual(got, want string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
