package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// testCreds is a CA, a server certificate and key it signed, and a client
// certificate it signed packed as a password-protected PFX. It is made here
// rather than by internal/tipsim so that these tests build and run on their
// own, whatever state the simulator and its dependencies are in.
type testCreds struct {
	CAPEM       []byte
	ServerPEM   []byte
	ServerKey   []byte
	ClientPFX   []byte
	PFXPassword string
}

func newTestCreds(t *testing.T) testCreds {
	t.Helper()
	now := time.Now()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	create := func(tmpl, parent *x509.Certificate, pub, signer any) *x509.Certificate {
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	certPEM := func(c *x509.Certificate) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}

	caKey := newKey()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	ca := create(caTmpl, caTmpl, &caKey.PublicKey, caKey)

	srvKey := newKey()
	srv := create(&x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:   now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca, &srvKey.PublicKey, caKey)
	srvKeyDER, err := x509.MarshalPKCS8PrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}

	cliKey := newKey()
	cli := create(&x509.Certificate{
		SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "customer"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca, &cliKey.PublicKey, caKey)
	const pfxPassword = "pfx-Pw7731"
	pfx, err := pkcs12.Modern.Encode(cliKey, cli, []*x509.Certificate{ca}, pfxPassword)
	if err != nil {
		t.Fatal(err)
	}
	return testCreds{
		CAPEM:       certPEM(ca),
		ServerPEM:   certPEM(srv),
		ServerKey:   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: srvKeyDER}),
		ClientPFX:   pfx,
		PFXPassword: pfxPassword,
	}
}

// testFiles are the paths fixture wrote the credentials to.
type testFiles struct {
	CA, ServerCert, ServerKey, ClientPFX string
}

func (c testCreds) writeFiles(t *testing.T, dir string) testFiles {
	t.Helper()
	f := testFiles{
		CA:         filepath.Join(dir, "ca.pem"),
		ServerCert: filepath.Join(dir, "server.pem"),
		ServerKey:  filepath.Join(dir, "server-key.pem"),
		ClientPFX:  filepath.Join(dir, "client.pfx"),
	}
	for path, data := range map[string][]byte{f.CA: c.CAPEM, f.ServerCert: c.ServerPEM, f.ServerKey: c.ServerKey, f.ClientPFX: c.ClientPFX} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}
