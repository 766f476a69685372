package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/arbiterd/arbiter/api"
)

func secretPath(name string) string { return "/secrets/" + url.PathEscape(name) }

// SetSecret creates or replaces a secret. The value travels only in the request body, over the
// socket; no answer of the daemon ever carries it back.
func (c *Client) SetSecret(ctx context.Context, name, value string) (api.Secret, error) {
	var s api.Secret
	err := c.do(ctx, http.MethodPut, secretPath(name), nil, api.SecretValue{Value: value}, &s)
	return s, err
}

// ListSecrets lists the secrets' names, sizes and users.
func (c *Client) ListSecrets(ctx context.Context) ([]api.Secret, error) {
	var list api.SecretList
	err := c.do(ctx, http.MethodGet, "/secrets", nil, nil, &list)
	return list.Secrets, err
}

// DeleteSecret removes a secret; without force the daemon refuses while jobs reference it.
func (c *Client) DeleteSecret(ctx context.Context, name string, force bool) error {
	q := url.Values{}
	if force {
		q.Set("force", "1")
	}
	return c.do(ctx, http.MethodDelete, secretPath(name), q, nil, nil)
}

// RotateKey replaces the secrets master key, re-encrypting every secret.
func (c *Client) RotateKey(ctx context.Context) (api.KeyRotation, error) {
	var k api.KeyRotation
	err := c.do(ctx, http.MethodPost, "/secrets/rotate-key", nil, nil, &k)
	return k, err
}
