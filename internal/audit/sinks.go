package audit

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"
)

// Sink receives a copy of every stored record and checkpoint as one JSON line.
// A required sink that fails makes the action fail (it is refused by
// Preflight when the sink is unreachable); others are logged and skipped.
type Sink interface {
	Name() string
	Required() bool
	// Ready reports whether Write would be able to deliver now.
	Ready(ctx context.Context) error
	Write(ctx context.Context, line []byte) error
	Close() error
}

// FileSink appends JSON lines to a file (created 0600), synced after each.
type FileSink struct {
	path     string
	required bool
	mu       sync.Mutex
	f        *os.File
}

// NewFileSink opens (or creates) path for appending.
func NewFileSink(path string, required bool) (*FileSink, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: file sink: %w", err)
	}
	return &FileSink{path: path, required: required, f: f}, nil
}

// Name implements Sink.
func (s *FileSink) Name() string { return "file " + s.path }

// Required implements Sink.
func (s *FileSink) Required() bool { return s.required }

// Ready implements Sink.
func (s *FileSink) Ready(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.f.Stat()
	return err
}

// Write implements Sink.
func (s *FileSink) Write(_ context.Context, line []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.f.Write(append(line[:len(line):len(line)], '\n')); err != nil {
		return err
	}
	return s.f.Sync()
}

// Close implements Sink.
func (s *FileSink) Close() error { return s.f.Close() }

// WriterSink writes JSON lines to a writer (the process's stdout).
type WriterSink struct {
	name string
	mu   sync.Mutex
	w    io.Writer
}

// NewWriterSink returns a sink writing to w.
func NewWriterSink(name string, w io.Writer) *WriterSink { return &WriterSink{name: name, w: w} }

// Name implements Sink.
func (s *WriterSink) Name() string { return s.name }

// Required implements Sink: a stream to stdout is never required.
func (s *WriterSink) Required() bool { return false }

// Ready implements Sink.
func (s *WriterSink) Ready(context.Context) error { return nil }

// Write implements Sink.
func (s *WriterSink) Write(_ context.Context, line []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.w.Write(append(line[:len(line):len(line)], '\n'))
	return err
}

// Close implements Sink.
func (s *WriterSink) Close() error { return nil }

// Dialer makes outbound connections (internal/egress's guarded dialer).
type Dialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// SyslogConfig configures a SyslogSink.
type SyslogConfig struct {
	Address  string      // host:port
	TLS      *tls.Config // nil: plain TCP (RFC 6587); set: TLS (RFC 5425)
	Facility int         // 0-23; default 10 (authpriv)
	AppName  string      // default "costwarden"
	Hostname string      // default os.Hostname
	Required bool
	Timeout  time.Duration // per connect and write; default 5s
}

// SyslogSink sends each line as an RFC 5424 message with octet-counting
// framing over TCP or TLS, reconnecting when the connection breaks.
type SyslogSink struct {
	cfg    SyslogConfig
	dialer Dialer
	pid    int
	mu     sync.Mutex
	conn   net.Conn
}

// NewSyslogSink returns a sink; it connects on first use.
func NewSyslogSink(cfg SyslogConfig, d Dialer) *SyslogSink {
	if cfg.Facility == 0 {
		cfg.Facility = 10
	}
	if cfg.AppName == "" {
		cfg.AppName = "costwarden"
	}
	if cfg.Hostname == "" {
		cfg.Hostname, _ = os.Hostname()
		if cfg.Hostname == "" {
			cfg.Hostname = "-"
		}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	return &SyslogSink{cfg: cfg, dialer: d, pid: os.Getpid()}
}

// Name implements Sink.
func (s *SyslogSink) Name() string { return "syslog " + s.cfg.Address }

// Required implements Sink.
func (s *SyslogSink) Required() bool { return s.cfg.Required }

func (s *SyslogSink) connect(ctx context.Context) error {
	if s.conn != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	c, err := s.dialer.DialContext(ctx, "tcp", s.cfg.Address)
	if err != nil {
		return err
	}
	if s.cfg.TLS != nil {
		tc := tls.Client(c, s.cfg.TLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return fmt.Errorf("TLS handshake: %w", err)
		}
		c = tc
	}
	s.conn = c
	return nil
}

// Ready implements Sink: it connects if not connected.
func (s *SyslogSink) Ready(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connect(ctx)
}

// message formats line as RFC 5424: <PRI>1 TIMESTAMP HOST APP PROCID MSGID - MSG.
func (s *SyslogSink) message(line []byte, now time.Time) []byte {
	pri := s.cfg.Facility*8 + 5 // notice
	msg := fmt.Appendf(nil, "<%d>1 %s %s %s %d audit - ", pri, now.UTC().Format("2006-01-02T15:04:05.000000Z"),
		printable(s.cfg.Hostname, 255), printable(s.cfg.AppName, 48), s.pid)
	msg = append(msg, line...)
	return append([]byte(strconv.Itoa(len(msg))+" "), msg...)
}

// printable keeps a header field to printable US-ASCII without spaces.
func printable(v string, n int) string {
	b := []byte(v)
	for i, c := range b {
		if c < 33 || c > 126 {
			b[i] = '_'
		}
	}
	if len(b) > n {
		b = b[:n]
	}
	return string(b)
}

// Write implements Sink, retrying once on a fresh connection.
func (s *SyslogSink) Write(ctx context.Context, line []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	msg := s.message(line, time.Now())
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		if err = s.connect(ctx); err != nil {
			continue
		}
		_ = s.conn.SetWriteDeadline(time.Now().Add(s.cfg.Timeout))
		if _, err = s.conn.Write(msg); err == nil {
			return nil
		}
		s.conn.Close()
		s.conn = nil
	}
	return err
}

// Close implements Sink.
func (s *SyslogSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
