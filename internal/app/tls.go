package app

import (
	"crypto/tls"
	"log/slog"
	"time"

	"github.com/costwarden/costwarden/internal/config"
	"github.com/costwarden/costwarden/internal/server"
)

// serverTLS loads the configured certificate or, when none is configured, the
// self-signed one in the data directory (generated once), with a warning at every
// start.
func serverTLS(cfg config.Config, now func() time.Time, log *slog.Logger) (*tls.Config, error) {
	certPath, keyPath := cfg.Server.TLS.CertFile, cfg.Server.TLS.KeyFile
	if certPath == "" {
		var created bool
		var err error
		certPath, keyPath, created, err = server.EnsureSelfSigned(cfg.DataDir, now())
		if err != nil {
			return nil, err
		}
		if created {
			log.Warn("generated a self-signed TLS certificate", "cert", certPath)
		}
	}
	files, err := server.LoadCertFiles(certPath, keyPath, now, func(err error) {
		log.Error("reloading the TLS certificate", "error", err)
	})
	if err != nil {
		return nil, err
	}
	leaf, err := files.Leaf()
	if err != nil {
		return nil, err
	}
	if cfg.Server.TLS.CertFile == "" {
		log.Warn("serving a SELF-SIGNED certificate: browsers and clients will warn, and they cannot verify this server. Configure server.tls.certFile and server.tls.keyFile for production",
			"sha256", server.Fingerprint(leaf), "expires", leaf.NotAfter)
	}
	if leaf.NotAfter.Before(now().Add(14 * 24 * time.Hour)) {
		log.Warn("the TLS certificate expires soon", "expires", leaf.NotAfter)
	}
	return server.TLSConfig(files.GetCertificate), nil
}
