package web

import (
	"net/http"
	"time"
)

// SetCookie sets a cookie on rw for the request r: HttpOnly, SameSite=Strict,
// Path=/, and Secure when r reached the portal over TLS (see Secure).
// maxAge > 0 sets Max-Age (rounded up to whole seconds), 0 makes a session
// cookie, < 0 deletes the cookie.
func (w *Web) SetCookie(rw http.ResponseWriter, r *http.Request, name, value string, maxAge time.Duration) {
	c := &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
		Secure:   w.Secure(r),
	}
	switch {
	case maxAge < 0:
		c.MaxAge = -1
		c.Value = ""
	case maxAge > 0:
		c.MaxAge = int((maxAge + time.Second - 1) / time.Second)
	}
	http.SetCookie(rw, c)
}
