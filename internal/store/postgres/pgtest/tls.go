package pgtest

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
)

func postgresTLS(s *Server) (*tls.Config, error) {
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("pgtest: bad CA file")
	}
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}, nil
}

// SelfSignedCA writes a fresh, unrelated CA certificate to path (for tests that
// need a CA which did not sign the server).
func SelfSignedCA(path string) error {
	s := &Server{Dir: filepath.Dir(path), DataDir: filepath.Dir(path)}
	if err := s.writeTLS(); err != nil {
		return err
	}
	return os.Rename(s.CAFile, path)
}
