package app

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/costwarden/costwarden/internal/audit"
	"github.com/costwarden/costwarden/internal/config"
	"github.com/costwarden/costwarden/internal/doctor"
)

// ExitError carries a process exit code other than 1 (doctor's severity).
type ExitError struct {
	Code int
	Msg  string
}

func (e *ExitError) Error() string { return e.Msg }

// ExitCode is the code the process exits with.
func (e *ExitError) ExitCode() int { return e.Code }

// AuditVerify verifies the whole audit trail and prints the result; a broken
// trail is an error naming the first bad record. pinned, when set, is the
// checkpoint public key (hex) to verify against instead of the stored one.
func AuditVerify(ctx context.Context, cfg config.Config, env Env, pinned string) error {
	var pub ed25519.PublicKey
	if pinned != "" {
		b, err := hex.DecodeString(strings.TrimPrefix(pinned, "ed25519:"))
		if err != nil || len(b) != ed25519.PublicKeySize {
			return fmt.Errorf("--public-key: must be the 64 hex digits of an ed25519 public key")
		}
		pub = b
	}
	return audited(ctx, cfg, env, audit.AuditVerify, "audit trail", func(d *data, details map[string]string) error {
		a, err := newAuditor(d, cfg, Env{Now: env.Now, Log: env.Log})
		if err != nil {
			return err
		}
		defer a.Close()
		rep, err := a.Verify(ctx, pub)
		if err != nil {
			return err
		}
		details["records"] = fmt.Sprint(rep.Records)
		if k, err := a.PublicKey(ctx); err == nil {
			fmt.Fprintf(env.Stdout, "checkpoint key: %s (public key %x)\n", audit.KeyID(k), []byte(k))
		}
		fmt.Fprintf(env.Stdout, "records: %d, head: %d, signed checkpoints: %d\n", rep.Records, rep.Head, rep.Checkpoints)
		if rep.OK {
			fmt.Fprintln(env.Stdout, "ok: the hash chain is intact and every checkpoint is signed and matches")
			return nil
		}
		for _, p := range rep.Problems {
			fmt.Fprintf(env.Stdout, "bad: record %d: %s\n", p.Seq, p.Reason)
		}
		details["firstBad"] = fmt.Sprint(rep.FirstBad.Seq)
		return fmt.Errorf("the audit trail fails verification: first bad record %d: %s", rep.FirstBad.Seq, rep.FirstBad.Reason)
	})
}

// AuditExport writes the records (and checkpoints) in [since, until) as JSON
// lines to out ("-" or "": stdout).
func AuditExport(ctx context.Context, cfg config.Config, env Env, since, until time.Time, out string) error {
	return audited(ctx, cfg, env, audit.AuditExport, "audit trail", func(d *data, details map[string]string) error {
		a, err := newAuditor(d, cfg, Env{Now: env.Now, Log: env.Log})
		if err != nil {
			return err
		}
		defer a.Close()
		var w io.Writer = env.Stdout
		if out != "" && out != "-" {
			f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return fmt.Errorf("--out: %w", err)
			}
			defer f.Close()
			w = f
		}
		n, err := a.Export(ctx, audit.Filter{Since: since, Until: until}, w)
		details["records"] = fmt.Sprint(n)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stderr, "exported %d audit records\n", n)
		return nil
	})
}

// Doctor checks the configuration and the data and prints every finding with
// its fix (format "text" or "json"). The returned error is an *ExitError whose
// code reflects the worst severity (0 when nothing worse than info).
func Doctor(ctx context.Context, cfg config.Config, env Env, format string) error {
	var rep doctor.Report
	err := audited(ctx, cfg, env, audit.DoctorRun, "configuration", func(d *data, details map[string]string) error {
		a, err := newAuditor(d, cfg, Env{Now: env.Now, Log: env.Log})
		if err != nil {
			return err
		}
		defer a.Close()
		in, err := gather(ctx, d, cfg, env.Now(), a, telemetryFor(d, cfg, env))
		if err != nil {
			return err
		}
		rep = doctor.Run(in)
		details["worst"], details["score"], details["findings"] = string(rep.Worst), fmt.Sprint(rep.Score), fmt.Sprint(len(rep.Findings))
		return nil
	})
	if err != nil {
		return err
	}
	if format == "json" {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(env.Stdout, "score %d/100, worst severity: %s\n", rep.Score, rep.Worst)
		for _, f := range rep.Findings {
			fmt.Fprintf(env.Stdout, "\n[%s] %s (%s)\n  %s\n  fix: %s\n", strings.ToUpper(string(f.Severity)), f.Title, f.ID, f.Detail, f.Fix)
		}
		if len(rep.Findings) == 0 {
			fmt.Fprintln(env.Stdout, "no findings")
		}
	}
	if code := rep.Worst.ExitCode(); code != 0 {
		return &ExitError{Code: code, Msg: fmt.Sprintf("doctor: worst finding is %s", rep.Worst)}
	}
	return nil
}

// AuditHMAC prints how the audit trail records a sensitive value (read from
// in, so it stays out of shell history and process lists).
func AuditHMAC(ctx context.Context, cfg config.Config, env Env, in io.Reader) error {
	b, err := io.ReadAll(io.LimitReader(in, 4096))
	if err != nil {
		return err
	}
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return fmt.Errorf("audit hmac: give the value on standard input")
	}
	return audited(ctx, cfg, env, audit.AuditHMAC, "value", func(d *data, _ map[string]string) error {
		a, err := newAuditor(d, cfg, Env{Now: env.Now, Log: env.Log})
		if err != nil {
			return err
		}
		defer a.Close()
		h, err := a.HMAC(ctx, v)
		if err != nil {
			return err
		}
		fmt.Fprintln(env.Stdout, h)
		return nil
	})
}
