package tip_test

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/tipgate/tipgate/internal/tip"
	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

func TestLoadPFX(t *testing.T) {
	creds := newCreds(t)
	cert, err := tip.LoadPFX(creds.ClientPFX, creds.PFXPassword)
	if err != nil {
		t.Fatalf("LoadPFX: %v", err)
	}
	if cert.Leaf == nil || !cert.Leaf.Equal(creds.ClientCert) {
		t.Fatalf("Leaf = %v, want the client certificate", cert.Leaf)
	}
	if len(cert.Certificate) != 2 {
		t.Fatalf("chain has %d certificates, want 2 (leaf and CA)", len(cert.Certificate))
	}
	if string(cert.Certificate[0]) != string(creds.ClientCert.Raw) {
		t.Error("chain[0] is not the client certificate")
	}
	if string(cert.Certificate[1]) != string(creds.CA.Raw) {
		t.Error("chain[1] is not the CA certificate")
	}
	if _, ok := cert.PrivateKey.(*ecdsa.PrivateKey); !ok {
		t.Errorf("PrivateKey is %T, want *ecdsa.PrivateKey", cert.PrivateKey)
	}
}

// testPKI is a CA and helpers to issue leaves for hand-made PFX files.
type testPKI struct {
	ca    *x509.Certificate
	caKey *ecdsa.PrivateKey
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testPKI{ca: ca, caKey: key}
}

func (p *testPKI) issue(t *testing.T, pub any) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "test client"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, pub, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestLoadPFXLeafAfterCA(t *testing.T) {
	pki := newTestPKI(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := pki.issue(t, &key.PublicKey)
	// Some exporters write the CA first; go-pkcs12 would call it the leaf.
	pfx, err := pkcs12.Modern.Encode(key, pki.ca, []*x509.Certificate{leaf}, "pw")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tip.LoadPFX(pfx, "pw")
	if err != nil {
		t.Fatalf("LoadPFX: %v", err)
	}
	if !cert.Leaf.Equal(leaf) {
		t.Errorf("Leaf = %s, want %s", cert.Leaf.Subject, leaf.Subject)
	}
	if len(cert.Certificate) != 2 || string(cert.Certificate[0]) != string(leaf.Raw) || string(cert.Certificate[1]) != string(pki.ca.Raw) {
		t.Error("chain is not [leaf, CA]")
	}
}

func TestLoadPFXErrors(t *testing.T) {
	creds := newCreds(t)
	pki := newTestPKI(t)

	xKey, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// x509 cannot issue a certificate for an X25519 key, and nothing checks
	// that a PFX's key matches its certificate, so any certificate will do.
	x25519PFX, err := pkcs12.Modern.Encode(xKey, pki.ca, nil, "pw")
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	mismatchedPFX, err := pkcs12.Modern.Encode(key, pki.issue(t, &otherKey.PublicKey), nil, "pw")
	if err != nil {
		t.Fatal(err)
	}
	truncated := creds.ClientPFX[:len(creds.ClientPFX)/2]

	tests := []struct {
		name         string
		data         []byte
		password     string
		want         string
		wantPassword bool
	}{
		{name: "wrong password", data: creds.ClientPFX, password: "wrong", want: "password is wrong", wantPassword: true},
		{name: "empty password", data: creds.ClientPFX, password: "", want: "password is wrong", wantPassword: true},
		{name: "empty file", data: nil, password: "x", want: "empty"},
		{name: "garbage", data: []byte("this is not a certificate"), password: "x", want: "not a PFX"},
		{name: "PEM", data: creds.CAPEM, password: "x", want: "PEM, not PFX"},
		{name: "truncated", data: truncated, password: creds.PFXPassword, want: "not a PFX"},
		{name: "unusable key type", data: x25519PFX, password: "pw", want: "cannot sign a TLS handshake"},
		{name: "key of another certificate", data: mismatchedPFX, password: "pw", want: "does not belong"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tip.LoadPFX(tt.data, tt.password)
			if err == nil {
				t.Fatal("LoadPFX succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if got := errors.Is(err, tip.ErrPFXPassword); got != tt.wantPassword {
				t.Errorf("errors.Is(err, tip.ErrPFXPassword) = %v, want %v", got, tt.wantPassword)
			}
			if strings.Contains(err.Error(), creds.PFXPassword) {
				t.Errorf("error %q contains the PFX password", err)
			}
		})
	}
}
