package dashboard

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestCheckListen(t *testing.T) {
	for _, c := range []struct {
		addr, token string
		want        error // nil, ErrTokenRequired, or any error (errors.ErrUnsupported stands for "some error")
	}{
		{"127.0.0.1:8088", "", nil},
		{"localhost:8088", "", nil},
		{"[::1]:8088", "", nil},
		{"127.0.0.2:0", "", nil}, // all of 127/8 is loopback
		{":8088", "", ErrTokenRequired},
		{"0.0.0.0:8088", "", ErrTokenRequired},
		{"[::]:8088", "", ErrTokenRequired},
		{"192.168.1.10:8088", "", ErrTokenRequired},
		{"dashboard.example.org:8088", "", ErrTokenRequired},
		{":8088", "s3cret", nil},
		{"8088", "", errors.ErrUnsupported},
	} {
		err := CheckListen(c.addr, c.token)
		switch {
		case c.want == nil && err != nil, c.want != nil && err == nil:
			t.Errorf("CheckListen(%q, %q) = %v, want %v", c.addr, c.token, err, c.want)
		case c.want == ErrTokenRequired && !errors.Is(err, ErrTokenRequired):
			t.Errorf("CheckListen(%q, %q) = %v, want ErrTokenRequired", c.addr, c.token, err)
		}
	}
}

// Every request is checked: the token by header, cookie or (once, then
// moved to a cookie) the address; without a token only loopback names; and
// only reads.
func TestGuard(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	for _, c := range []struct {
		name   string
		token  string
		method string
		target string
		host   string
		header string // Authorization
		cookie string
		want   int
	}{
		{name: "loopback, no token", target: "/events", host: "127.0.0.1:8088", want: http.StatusTeapot},
		{name: "localhost, no token", target: "/", host: "localhost:8088", want: http.StatusTeapot},
		{name: "rebinding name, no token", target: "/state", host: "evil.example:8088", want: http.StatusForbidden},
		{name: "a write", method: http.MethodPost, target: "/events", host: "127.0.0.1", want: http.StatusMethodNotAllowed},
		{name: "a write with the token", token: "s3cret", method: http.MethodDelete, target: "/", header: "Bearer s3cret", want: http.StatusMethodNotAllowed},
		{name: "no token presented", token: "s3cret", target: "/events", want: http.StatusUnauthorized},
		{name: "loopback needs it too", token: "s3cret", target: "/events", host: "127.0.0.1", want: http.StatusUnauthorized},
		{name: "bearer", token: "s3cret", target: "/events", header: "Bearer s3cret", want: http.StatusTeapot},
		{name: "wrong bearer", token: "s3cret", target: "/events", header: "Bearer s3cre", want: http.StatusUnauthorized},
		{name: "basic is not bearer", token: "s3cret", target: "/events", header: "Basic s3cret", cookie: "s3cret", want: http.StatusUnauthorized},
		{name: "cookie", token: "s3cret", target: "/frames/vtest?v=1", cookie: "s3cret", want: http.StatusTeapot},
		{name: "wrong cookie", token: "s3cret", target: "/frames/vtest?v=1", cookie: "nope", want: http.StatusUnauthorized},
		{name: "query", token: "s3cret", target: "/?token=s3cret", want: http.StatusSeeOther},
		{name: "wrong query", token: "s3cret", target: "/?token=nope", want: http.StatusUnauthorized},
		{name: "HEAD", token: "s3cret", method: http.MethodHead, target: "/", header: "Bearer s3cret", want: http.StatusTeapot},
	} {
		t.Run(c.name, func(t *testing.T) {
			method := c.method
			if method == "" {
				method = http.MethodGet
			}
			r := httptest.NewRequest(method, c.target, nil)
			if c.host != "" {
				r.Host = c.host
			}
			if c.header != "" {
				r.Header.Set("Authorization", c.header)
			}
			if c.cookie != "" {
				r.AddCookie(&http.Cookie{Name: TokenCookie, Value: c.cookie})
			}
			w := httptest.NewRecorder()
			guard(c.token, ok).ServeHTTP(w, r)
			if w.Code != c.want {
				t.Fatalf("%s %s: %d, want %d (%s)", method, c.target, w.Code, c.want, w.Body)
			}
			if w.Code == http.StatusSeeOther {
				if loc := w.Header().Get("Location"); loc != "/" {
					t.Errorf("redirected to %q, want / without the token", loc)
				}
				cookies := w.Result().Cookies()
				if len(cookies) != 1 || cookies[0].Value != c.token || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode {
					t.Errorf("cookies %+v", cookies)
				}
			}
		})
	}
}
