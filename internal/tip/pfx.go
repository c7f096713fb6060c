package tip

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// LoadPFX opens a PKCS#12 (PFX) file as Kaspersky issues it and returns a
// client certificate for TLS: the leaf, then every other certificate of the
// file as its chain, with Leaf set. A wrong password wraps ErrPFXPassword.
func LoadPFX(data []byte, password string) (tls.Certificate, error) {
	if err := checkPFXShape(data); err != nil {
		return tls.Certificate{}, err
	}
	key, first, rest, err := pkcs12.DecodeChain(data, password)
	if err != nil {
		var notImpl pkcs12.NotImplementedError
		switch {
		case errors.Is(err, pkcs12.ErrIncorrectPassword):
			return tls.Certificate{}, fmt.Errorf("read the PFX client certificate: %w", wrongPassword{err})
		case errors.As(err, &notImpl):
			return tls.Certificate{}, fmt.Errorf("read the PFX client certificate: it uses a format this program cannot read (%v); export it again, e.g. with openssl pkcs12 -export", err)
		default:
			return tls.Certificate{}, fmt.Errorf("read the PFX client certificate: the file is damaged or incomplete: %w", err)
		}
	}
	signer, err := tlsSigner(key)
	if err != nil {
		return tls.Certificate{}, err
	}

	// DecodeChain takes the first certificate as the leaf, but some exporters
	// write the CA first; the leaf is the one the private key belongs to.
	all := append([]*x509.Certificate{first}, rest...)
	leafAt := -1
	for i, c := range all {
		if pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool }); ok && pub.Equal(c.PublicKey) {
			leafAt = i
			break
		}
	}
	if leafAt < 0 {
		return tls.Certificate{}, errors.New("read the PFX client certificate: its private key does not belong to any certificate in the file")
	}
	leaf := all[leafAt]
	chain := [][]byte{leaf.Raw}
	for i, c := range all {
		if i != leafAt {
			chain = append(chain, c.Raw)
		}
	}
	return tls.Certificate{Certificate: chain, PrivateKey: signer, Leaf: leaf}, nil
}

// wrongPassword is ErrPFXPassword that keeps the decoder's own error as
// well, so callers can match either.
type wrongPassword struct{ cause error }

func (e wrongPassword) Error() string   { return ErrPFXPassword.Error() }
func (e wrongPassword) Unwrap() []error { return []error{ErrPFXPassword, e.cause} }

// checkPFXShape tells "this is not a PFX at all" apart from a PFX that does not
// open, so that a PEM file or a wrong path gets a useful message instead of an
// ASN.1 parser error.
func checkPFXShape(data []byte) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return errors.New("read the PFX client certificate: the file is empty")
	}
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN")) {
		return errors.New("read the PFX client certificate: the file is PEM, not PFX (PKCS#12); give the .pfx or .p12 file Kaspersky issued")
	}
	var pdu struct {
		Version  int
		AuthSafe asn1.RawValue
		MacData  asn1.RawValue `asn1:"optional"`
	}
	if _, err := asn1.Unmarshal(data, &pdu); err != nil || pdu.Version != 3 {
		return errors.New("read the PFX client certificate: the file is not a PFX (PKCS#12) file")
	}
	return nil
}

// tlsSigner accepts only the key types crypto/tls can sign a handshake with.
func tlsSigner(key any) (crypto.Signer, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("read the PFX client certificate: its private key is of type %T, which cannot sign a TLS handshake; it must be RSA, ECDSA or Ed25519", key)
}
