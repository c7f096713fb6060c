package tipsim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// Renewed is a client certificate issued again for the same account.
type Renewed struct {
	Cert        *x509.Certificate
	PFX         []byte
	PFXPassword string
}

// IssueClient issues a new client certificate for the same account, signed
// by the same CA (so the simulator accepts it with the same Basic
// credentials), named commonName and valid for validFor, packed as a PFX
// with a new password: what an operator receives when the yearly
// certificate is renewed, for tests of replacing it on disk.
func (c *Credentials) IssueClient(commonName string, validFor time.Duration) (*Renewed, error) {
	if c.caKey == nil {
		return nil, errors.New("tipsim: these credentials were not made by NewCredentials, so there is no CA key to issue with")
	}
	now := time.Now()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: commonName, Organization: []string{"tipgate simulator customer"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(validFor),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.CA, &key.PublicKey, c.caKey)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	password := randomHex(12)
	pfx, err := pkcs12.Modern.Encode(key, cert, []*x509.Certificate{c.CA}, password)
	if err != nil {
		return nil, fmt.Errorf("encode client PFX: %w", err)
	}
	return &Renewed{Cert: cert, PFX: pfx, PFXPassword: password}, nil
}
