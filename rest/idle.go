package rest

// CloseIdleConnections closes the keep-alive connections of the client's HTTP client that
// carry no request now (http.Client.CloseIdleConnections). A bot calls it when it stops, so that
// no connection of its own outlives it.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }
