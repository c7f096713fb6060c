package tipsim

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Server is a simulator listening for HTTPS.
type Server struct {
	srv    *http.Server
	ln     net.Listener
	cancel context.CancelFunc
	done   chan struct{}
}

// Listen serves sim over TLS on addr (e.g. 127.0.0.1:0) with the server
// certificate of the simulator's credentials. Client certificates are
// verified against the credentials' CA when given, and required when
// Options.RequireClientCert is set.
func Listen(addr string, sim *Sim) (*Server, error) {
	creds := sim.opts.Credentials
	if creds == nil {
		return nil, errors.New("tipsim: the simulator has no credentials to serve TLS with: set Options.Credentials (see NewCredentials)")
	}
	clientAuth := tls.VerifyClientCertIfGiven
	if sim.opts.RequireClientCert {
		clientAuth = tls.RequireAndVerifyClientCert
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("tipsim: listen on %s: %w", addr, err)
	}
	// Requests derive their context from base, so Close also ends requests
	// that a Hang fault holds.
	base, cancel := context.WithCancel(context.Background())
	s := &Server{
		srv: &http.Server{
			Handler: sim.Handler(),
			TLSConfig: &tls.Config{
				MinVersion:   tls.VersionTLS12,
				Certificates: []tls.Certificate{creds.Server},
				ClientCAs:    creds.ClientCAs(),
				ClientAuth:   clientAuth,
			},
			ReadHeaderTimeout: 10 * time.Second,
			BaseContext:       func(net.Listener) context.Context { return base },
			// Failed handshakes (a client without a certificate) are part of
			// what the simulator is for; they are not worth more than debug.
			ErrorLog: slog.NewLogLogger(sim.logger.Handler(), slog.LevelDebug),
		},
		ln:     ln,
		cancel: cancel,
		done:   make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		_ = s.srv.ServeTLS(ln, "", "")
	}()
	return s, nil
}

// URL is the base URL to give a TIP client, e.g. https://127.0.0.1:40123.
func (s *Server) URL() string { return "https://" + s.ln.Addr().String() }

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Shutdown stops accepting connections and waits for lookups in flight until
// ctx ends, then closes whatever is left, hung requests included.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		return errors.Join(err, s.Close())
	}
	s.cancel()
	<-s.done
	return nil
}

// Close stops the server at once, ending every request in flight.
func (s *Server) Close() error {
	s.cancel()
	err := s.srv.Close()
	<-s.done
	return err
}
