package tip

import (
	"context"
	"crypto/x509"
	"errors"

	"github.com/tipgate/tipgate/internal/indicator"
)

// Client is TIP's HTTP client. (Placeholder: replaced by the real client.)
type Client struct{}

// New builds a client.
func New(cfg Config) (*Client, error) { return nil, errors.New("not implemented") }

// Lookup asks TIP about one indicator.
func (c *Client) Lookup(ctx context.Context, ind indicator.Indicator, sections []string, count int) (*Result, error) {
	return nil, errors.New("not implemented")
}

// Certificate returns the client certificate's leaf, nil in token mode.
func (c *Client) Certificate() *x509.Certificate { return nil }
