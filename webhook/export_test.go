package webhook

import "net/http"

// NewClientResolving is NewClient with hosts standing in for DNS, so a test
// can give a public-looking name an internal address.
func NewClientResolving(o ClientOptions, hosts map[string]string) *http.Client {
	c := NewClient(o)
	c.Transport.(*guardedTransport).next.(*http.Transport).DialContext = guardedDial(o.AllowPrivate, hosts)
	return c
}

// UsesProxy reports whether c's transport would send through a proxy.
func UsesProxy(c *http.Client) bool {
	return c.Transport.(*guardedTransport).next.(*http.Transport).Proxy != nil
}
