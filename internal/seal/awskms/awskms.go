// Package awskms is the key-encryption key provider backed by a key in AWS KMS
// (or any server speaking the AWS KMS API): data keys are made by
// GenerateDataKey and unwrapped by Decrypt, so the KEK itself never leaves the
// KMS. It uses the official AWS SDK for Go v2.
//
// Credentials come from the SDK's usual sources — environment variables, a
// shared credentials file, a web identity token (EKS IRSA) — never from
// costwarden's configuration; the EC2 instance metadata service is used only
// when asked for. Every wrapped key is bound to its tenant and version through
// the KMS encryption context. Open checks the key with an Encrypt/Decrypt round
// trip, so an unreachable KMS, bad credentials or a wrong key stop the start
// with a clear message; there is no fallback.
package awskms

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/costwarden/costwarden/internal/seal"
)

// Config configures the provider.
type Config struct {
	// KeyID is the KMS key: key id, key ARN, alias name ("alias/costwarden") or
	// alias ARN. Required.
	KeyID string
	// Region is the AWS region; empty: from the environment (AWS_REGION).
	Region string
	// Endpoint overrides the KMS endpoint URL (a VPC endpoint, a KMS-compatible
	// server). It must be https, except on a loopback address.
	Endpoint string
	// CredentialsFile is a shared credentials file (the [profile] format);
	// empty: the SDK's default chain (environment, ~/.aws/credentials, web
	// identity token).
	CredentialsFile string
	// Profile selects a profile of the shared files; empty: "default".
	Profile string
	// CAFile is a PEM bundle of certificate authorities trusted for the
	// endpoint, in addition to none: when set, only these are trusted.
	CAFile string
	// UseInstanceMetadata allows credentials from the EC2 instance metadata
	// service (an EC2 node's role).
	UseInstanceMetadata bool
	// Timeout bounds each KMS call; default 10s.
	Timeout time.Duration
	// Dial, if set, makes every connection (internal/egress's guarded dialer).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// KEK wraps data keys with a KMS key. It implements seal.KEK and
// seal.KeyGenerator and is safe for concurrent use.
type KEK struct {
	client  *kms.Client
	keyID   string // as configured
	arn     string // the key's ARN, as KMS reports it
	id      string
	timeout time.Duration
}

var (
	_ seal.KEK          = (*KEK)(nil)
	_ seal.KeyGenerator = (*KEK)(nil)
)

// contextKey is the encryption-context entry binding a wrapped key to its
// tenant and version (the seal package's wrap AD, base64).
const contextKey = "costwarden-key"

// Open builds the client and proves the key works: it encrypts and decrypts a
// random probe. Its errors say which of endpoint, credentials or key failed.
func Open(ctx context.Context, c Config) (*KEK, error) {
	if c.KeyID == "" {
		return nil, errors.New("awskms: keys.awskms.keyID is empty")
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	httpClient, err := buildHTTPClient(c)
	if err != nil {
		return nil, err
	}
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithHTTPClient(httpClient),
		awsconfig.WithRetryMaxAttempts(3),
	}
	if c.Region != "" {
		opts = append(opts, awsconfig.WithRegion(c.Region))
	}
	if c.CredentialsFile != "" {
		if _, err := os.Stat(c.CredentialsFile); err != nil {
			return nil, fmt.Errorf("awskms: credentials file: %w", err)
		}
		opts = append(opts, awsconfig.WithSharedCredentialsFiles([]string{c.CredentialsFile}))
	}
	if c.Profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(c.Profile))
	}
	if !c.UseInstanceMetadata {
		opts = append(opts, awsconfig.WithEC2IMDSClientEnableState(imds.ClientDisabled))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("awskms: loading AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, errors.New("awskms: no region: set keys.awskms.region or AWS_REGION")
	}
	client := kms.NewFromConfig(cfg, func(o *kms.Options) {
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
		}
	})
	k := &KEK{client: client, keyID: c.KeyID, timeout: c.Timeout}
	if err := k.probe(ctx); err != nil {
		return nil, err
	}
	return k, nil
}

// buildHTTPClient enforces https (but for loopback endpoints) and the CA file.
func buildHTTPClient(c Config) (*awshttp.BuildableClient, error) {
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("awskms: endpoint %q is not a URL", c.Endpoint)
		}
		switch u.Scheme {
		case "https":
		case "http":
			ip := net.ParseIP(u.Hostname())
			if u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
				return nil, fmt.Errorf("awskms: endpoint %s: plain http is allowed only on loopback; use https", c.Endpoint)
			}
		default:
			return nil, fmt.Errorf("awskms: endpoint %s: scheme must be https", c.Endpoint)
		}
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("awskms: CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("awskms: CA file %s holds no PEM certificate", c.CAFile)
		}
		tlsCfg.RootCAs = pool
	}
	return awshttp.NewBuildableClient().
		WithTimeout(c.Timeout).
		WithTransportOptions(func(tr *http.Transport) {
			tr.TLSClientConfig = tlsCfg
			if c.Dial != nil {
				tr.DialContext, tr.Proxy = c.Dial, nil
			}
		}), nil
}

func (k *KEK) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*k.timeout)
	defer cancel()
	probe := make([]byte, 32)
	if _, err := rand.Read(probe); err != nil {
		return err
	}
	ec := map[string]string{contextKey: "probe"}
	out, err := k.client.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(k.keyID), Plaintext: probe, EncryptionContext: ec})
	if err != nil {
		return fmt.Errorf("awskms: key %s does not encrypt (is the KMS reachable, are the credentials valid, is the key enabled?): %w", k.keyID, err)
	}
	if out.KeyId == nil || *out.KeyId == "" {
		return fmt.Errorf("awskms: key %s: Encrypt returned no key id", k.keyID)
	}
	k.arn = *out.KeyId
	k.id = "awskms:" + k.arn
	back, err := k.decrypt(ctx, out.CiphertextBlob, ec)
	if err != nil {
		return fmt.Errorf("awskms: key %s does not decrypt what it encrypted: %w", k.keyID, err)
	}
	if subtle.ConstantTimeCompare(back, probe) != 1 {
		return fmt.Errorf("awskms: key %s: Decrypt returned other bytes than were encrypted", k.keyID)
	}
	return nil
}

// ID is "awskms:" and the key's ARN, as KMS reports it.
func (k *KEK) ID() string { return k.id }

func encryptionContext(ad []byte) map[string]string {
	return map[string]string{contextKey: base64.StdEncoding.EncodeToString(ad)}
}

// Wrap encrypts key with the KMS key, bound to ad.
func (k *KEK) Wrap(ctx context.Context, key, ad []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, k.timeout)
	defer cancel()
	out, err := k.client.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(k.arn), Plaintext: key, EncryptionContext: encryptionContext(ad)})
	if err != nil {
		return nil, fmt.Errorf("awskms: Encrypt with %s: %w", k.arn, err)
	}
	return out.CiphertextBlob, nil
}

// GenerateKey asks KMS for a new AES-256 data key, wrapped and in the clear.
func (k *KEK) GenerateKey(ctx context.Context, ad []byte) ([]byte, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, k.timeout)
	defer cancel()
	out, err := k.client.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId: aws.String(k.arn), KeySpec: types.DataKeySpecAes256, EncryptionContext: encryptionContext(ad),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("awskms: GenerateDataKey with %s: %w", k.arn, err)
	}
	if out.KeyId != nil && *out.KeyId != k.arn {
		clear(out.Plaintext)
		return nil, nil, fmt.Errorf("awskms: GenerateDataKey answered for key %s, asked %s", *out.KeyId, k.arn)
	}
	return out.Plaintext, out.CiphertextBlob, nil
}

// Unwrap decrypts wrapped with the KMS key; a blob of another key or another ad
// fails with an error wrapping seal.ErrDecrypt.
func (k *KEK) Unwrap(ctx context.Context, wrapped, ad []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, k.timeout)
	defer cancel()
	return k.decrypt(ctx, wrapped, encryptionContext(ad))
}

func (k *KEK) decrypt(ctx context.Context, blob []byte, ec map[string]string) ([]byte, error) {
	out, err := k.client.Decrypt(ctx, &kms.DecryptInput{KeyId: aws.String(k.arn), CiphertextBlob: bytes.Clone(blob), EncryptionContext: ec})
	if err != nil {
		var inv *types.InvalidCiphertextException
		var inc *types.IncorrectKeyException
		if errors.As(err, &inv) || errors.As(err, &inc) {
			return nil, fmt.Errorf("awskms: Decrypt with %s: %w: %w", k.arn, seal.ErrDecrypt, err)
		}
		return nil, fmt.Errorf("awskms: Decrypt with %s: %w", k.arn, err)
	}
	if out.KeyId != nil && *out.KeyId != k.arn {
		clear(out.Plaintext)
		return nil, fmt.Errorf("awskms: Decrypt answered for key %s, asked %s: %w", *out.KeyId, k.arn, seal.ErrDecrypt)
	}
	return out.Plaintext, nil
}
