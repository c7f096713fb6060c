package tipsim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// Credentials is everything a TIP account and its server need: a private CA,
// a server certificate for loopback names signed by it, a client certificate
// signed by it packed as a password-protected PFX (as Kaspersky issues them),
// and Basic credentials. Every secret is random.
type Credentials struct {
	CA          *x509.Certificate
	CAPEM       []byte
	Server      tls.Certificate
	ClientCert  *x509.Certificate
	ClientPFX   []byte
	PFXPassword string
	Username    string
	Password    string
	Token       string
	// caKey signs renewed client certificates (IssueClient).
	caKey *ecdsa.PrivateKey
}

// NewCredentials generates a fresh set of credentials valid for validFor.
func NewCredentials(validFor time.Duration) (*Credentials, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "tipsim CA", Organization: []string{"tipgate simulator"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validFor),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}

	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost", "tipsim"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(validFor),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}

	cliKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	username := "tipsim-" + randomHex(4)
	cliTmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: username, Organization: []string{"tipgate simulator customer"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(validFor),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	cliDER, err := x509.CreateCertificate(rand.Reader, cliTmpl, ca, &cliKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	cli, err := x509.ParseCertificate(cliDER)
	if err != nil {
		return nil, err
	}
	pfxPassword := randomHex(12)
	pfx, err := pkcs12.Modern.Encode(cliKey, cli, []*x509.Certificate{ca}, pfxPassword)
	if err != nil {
		return nil, fmt.Errorf("encode client PFX: %w", err)
	}

	return &Credentials{
		CA:          ca,
		CAPEM:       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		Server:      tls.Certificate{Certificate: [][]byte{srvDER, caDER}, PrivateKey: srvKey},
		ClientCert:  cli,
		ClientPFX:   pfx,
		PFXPassword: pfxPassword,
		Username:    username,
		Password:    randomHex(16),
		Token:       randomHex(24),
		caKey:       caKey,
	}, nil
}

// ClientCAs is the pool the simulator verifies client certificates against.
func (c *Credentials) ClientCAs() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.CA)
	return p
}

// Files are the paths WriteFiles wrote.
type Files struct {
	CA         string // PEM: the CA that signed the server and client certificates
	ServerCert string // PEM: server certificate chain
	ServerKey  string // PEM: server private key
	ClientPFX  string // PKCS#12: client certificate, key and CA
	Secrets    string // the passwords and token, one NAME=value per line
}

// WriteFiles writes the credentials into dir with owner-only permissions.
func (c *Credentials) WriteFiles(dir string) (Files, error) {
	f := Files{
		CA:         filepath.Join(dir, "ca.pem"),
		ServerCert: filepath.Join(dir, "server.pem"),
		ServerKey:  filepath.Join(dir, "server-key.pem"),
		ClientPFX:  filepath.Join(dir, "client.pfx"),
		Secrets:    filepath.Join(dir, "secrets.env"),
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.Server.PrivateKey)
	if err != nil {
		return Files{}, err
	}
	var chain []byte
	for _, der := range c.Server.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	secrets := fmt.Sprintf("TIPGATE_TIP_USERNAME=%s\nTIPGATE_TIP_PASSWORD=%s\nTIPGATE_TIP_PFX_PASSWORD=%s\nTIPGATE_TIP_TOKEN=%s\n",
		c.Username, c.Password, c.PFXPassword, c.Token)
	for path, data := range map[string][]byte{
		f.CA:         c.CAPEM,
		f.ServerCert: chain,
		f.ServerKey:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		f.ClientPFX:  c.ClientPFX,
		f.Secrets:    []byte(secrets),
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return Files{}, err
		}
	}
	return f, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return n
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
