package app

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/costwarden/costwarden/internal/audit"
	"github.com/costwarden/costwarden/internal/bundle"
	"github.com/costwarden/costwarden/internal/config"
	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/seal"
	"github.com/costwarden/costwarden/internal/sets"
	"github.com/costwarden/costwarden/internal/store"
)

const recipientKey = "bundle/recipient"

func recipientAD() seal.AD { return seal.AD{Tenant: DefaultTenant, Kind: "bundle-recipient", ID: "1"} }

// recipient returns this site's bundle key pair, creating it (sealed in the
// store) on first use.
func (d *data) recipient(ctx context.Context) (*ecdh.PrivateKey, error) {
	blob, err := d.store.GetMeta(ctx, recipientKey)
	if errors.Is(err, store.ErrNotFound) {
		k, gerr := ecdh.X25519().GenerateKey(rand.Reader)
		if gerr != nil {
			return nil, gerr
		}
		sealed, serr := d.keyring.Seal(ctx, recipientAD(), k.Bytes())
		if serr != nil {
			return nil, serr
		}
		if _, err := d.store.PutMetaIfAbsent(ctx, recipientKey, sealed); err != nil {
			return nil, err
		}
		blob, err = d.store.GetMeta(ctx, recipientKey)
	}
	if err != nil {
		return nil, err
	}
	raw, err := d.keyring.Open(ctx, recipientAD(), blob)
	if err != nil {
		return nil, fmt.Errorf("opening this site's bundle key: %w", err)
	}
	return ecdh.X25519().NewPrivateKey(raw)
}

// BundleRecipient prints this site's bundle public key: give it to the site
// that exports bundles for this one.
func BundleRecipient(ctx context.Context, cfg config.Config, env Env) error {
	return audited(ctx, cfg, env, audit.BundleImport, "recipient key", func(d *data, details map[string]string) error {
		k, err := d.recipient(ctx)
		if err != nil {
			return err
		}
		details["recipient"] = bundle.KeyID(k.PublicKey())
		fmt.Fprintf(env.Stdout, "%x\n", k.PublicKey().Bytes())
		fmt.Fprintf(env.Stderr, "this site's bundle key %s: export bundles for it with costwarden export-bundle --to %x\n", bundle.KeyID(k.PublicKey()), k.PublicKey().Bytes())
		return nil
	})
}

// BundleOptions select what ExportBundle writes.
type BundleOptions struct {
	To           string // the receiving site's public key (hex)
	Out          string
	Since, Until time.Time
	Cluster      string // "" every cluster
}

// ExportBundle writes the hourly and daily windows starting in [Since, Until)
// to a bundle sealed to the receiving site's key (created 0600, never
// overwritten).
func ExportBundle(ctx context.Context, cfg config.Config, env Env, o BundleOptions) error {
	to, err := bundle.ParsePublicKey(o.To)
	if err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	if o.Out == "" {
		return errors.New("export-bundle needs --out FILE")
	}
	if o.Until.IsZero() {
		o.Until = env.Now()
	}
	if !o.Until.After(o.Since) {
		return errors.New("--until must be after --since")
	}
	return audited(ctx, cfg, env, audit.BundleExport, o.Out, func(d *data, details map[string]string) error {
		details["recipient"], details["since"], details["until"] = bundle.KeyID(to), o.Since.UTC().Format(time.RFC3339), o.Until.UTC().Format(time.RFC3339)
		tmp, err := os.CreateTemp(filepath.Dir(o.Out), "."+filepath.Base(o.Out)+".partial-")
		if err != nil {
			return err
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		w, err := bundle.NewWriter(tmp, to, bundle.Header{Created: env.Now().UTC(), Program: env.Build.Version, Since: o.Since.UTC(), Until: o.Until.UTC()})
		if err != nil {
			return err
		}
		st := sets.New(d.store, d.keyring, DefaultTenant, env.Now)
		for _, res := range []cost.Resolution{cost.Hourly, cost.Daily} {
			err := st.Scan(ctx, res, o.Since, o.Until, func(s *cost.Set) error {
				if o.Cluster != "" && s.Cluster != o.Cluster {
					return nil
				}
				return w.Add(s)
			})
			if err != nil {
				return err
			}
		}
		n, err := w.Close()
		if err == nil {
			err = tmp.Sync()
		}
		if err != nil {
			return err
		}
		if err := os.Link(tmp.Name(), o.Out); err != nil {
			return fmt.Errorf("--out: %w (bundles are never overwritten)", err)
		}
		details["windows"] = fmt.Sprint(n)
		fmt.Fprintf(env.Stdout, "bundle %s: %d windows sealed to %s\n", o.Out, n, bundle.KeyID(to))
		return nil
	})
}

// ImportBundle verifies a whole bundle with this site's key, then stores each
// window sealed under this site's data keys (replacing windows with the same
// cluster and start: importing twice changes nothing).
func ImportBundle(ctx context.Context, cfg config.Config, env Env, file string) error {
	return audited(ctx, cfg, env, audit.BundleImport, file, func(d *data, details map[string]string) error {
		k, err := d.recipient(ctx)
		if err != nil {
			return err
		}
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		if _, _, err := bundle.Read(f, k, nil); err != nil {
			return fmt.Errorf("%s: %w; nothing was imported", file, err)
		}
		if _, err := f.Seek(0, 0); err != nil {
			return err
		}
		st := sets.New(d.store, d.keyring, DefaultTenant, env.Now)
		clusters := map[string]bool{}
		h, n, err := bundle.Read(f, k, func(s *cost.Set) error {
			clusters[s.Cluster] = true
			_, err := st.Put(ctx, s)
			return err
		})
		if err != nil {
			return err
		}
		details["windows"], details["clusters"] = fmt.Sprint(n), fmt.Sprint(len(clusters))
		fmt.Fprintf(env.Stdout, "imported %d windows of %d clusters (%s to %s, written %s)\n", n, len(clusters),
			h.Since.Format(time.RFC3339), h.Until.Format(time.RFC3339), h.Created.Format(time.RFC3339))
		return nil
	})
}
