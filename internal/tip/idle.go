package tip

// CloseIdleConnections closes the client's kept-alive connections that
// carry no request now. Requests in flight finish on theirs. When reloaded
// credentials replace a client, this lets the old one's connections (and
// its certificate) go without cutting anyone off.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }
