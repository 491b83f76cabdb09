package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/csv"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/server"
)

// syncBuf collects the server's output from its goroutine.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestQueryCommand runs `costwarden serve --demo` and asks it with `costwarden
// query`: verified TLS with --ca, aligned tables with totals, JSON and CSV that
// agree, the token from the environment or a file, and clear errors.
func TestQueryCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuf{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--demo", "--demo-days", "2", "--demo-pods", "60", "--data-dir", dir, "--listen", addr, "--internal-listen", "127.0.0.1:0"}, logs, logs, nil)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	insecure := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	deadline := time.Now().Add(120 * time.Second)
	for {
		resp, err := insecure.Get("https://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 && strings.Contains(logs.String(), "backfill complete") {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready:\n%s", logs.String())
		}
		time.Sleep(250 * time.Millisecond)
	}
	if code, _, errOut := runCLI(t, nil, "user", "add", "q-admin", "--role", "admin", "--data-dir", dir); code != 0 {
		t.Fatal(errOut)
	}
	code, tok, errOut := runCLI(t, nil, "token", "create", "--user", "q-admin", "--data-dir", dir)
	if code != 0 {
		t.Fatal(errOut)
	}
	tok = strings.TrimSpace(tok)
	env := []string{"COSTWARDEN_TOKEN=" + tok}
	ca := filepath.Join(dir, server.SelfSignedCert)
	base := []string{"query", "allocation", "--server", "https://" + addr, "--ca", ca, "--window", "2d", "--aggregate", "namespace"}

	code, out, errOut := runCLI(t, env, base...)
	if code != 0 {
		t.Fatalf("query allocation: %d %s", code, errOut)
	}
	t.Logf("table:\n%s", out)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	var head, total string
	for i, l := range lines {
		if strings.HasPrefix(l, "NAMESPACE") {
			head = l
		}
		if strings.HasPrefix(l, "TOTAL") {
			total = l
			if !strings.HasPrefix(lines[i-1], "───") {
				t.Error("no rule above the totals")
			}
		}
	}
	if head == "" || total == "" || !strings.Contains(out, "__idle__") {
		t.Fatalf("table lacks a head, the idle row or totals:\n%s", out)
	}
	// Aligned: every row ends its TOTAL column where the head does.
	col := strings.Index(head, "TOTAL") + len("TOTAL")
	money := regexp.MustCompile(`\$[0-9,]+\.\d\d`)
	rows := 0
	for _, l := range lines {
		if strings.Contains(l, "$") && !strings.HasPrefix(l, "window") {
			rows++
			m := money.FindAllStringIndex(l, -1)
			if len(m) != 7 || m[6][1] != col {
				t.Errorf("misaligned row (TOTAL should end at %d):\n%s\n%s", col, head, l)
			}
		}
	}
	if rows < 5 {
		t.Errorf("%d rows with costs", rows)
	}

	// JSON and CSV agree with the table's total.
	tableTotal := parseMoney(t, money.FindAllString(total, -1)[6])
	code, out, errOut = runCLI(t, env, append(base, "--output", "json")...)
	var j struct {
		Totals struct{ TotalCost float64 } `json:"totals"`
		Data   []map[string]any
	}
	if code != 0 || json.Unmarshal([]byte(out), &j) != nil || len(j.Data) < 5 {
		t.Fatalf("json: %d %s %.300s", code, errOut, out)
	}
	code, out, errOut = runCLI(t, env, append(base, "--output", "csv")...)
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if code != 0 || err != nil || len(recs) < 6 || recs[0][2] != "name" {
		t.Fatalf("csv: %d %s %v %.300s", code, errOut, err, out)
	}
	csvTotal := 0.0
	for _, r := range recs[1:] {
		v, _ := strconv.ParseFloat(r[24], 64)
		csvTotal += v
	}
	if d := j.Totals.TotalCost - tableTotal; d > 0.01 || d < -0.01 || csvTotal-j.Totals.TotalCost > 0.01 || j.Totals.TotalCost-csvTotal > 0.01 {
		t.Errorf("totals differ: table %.2f json %.4f csv %.4f", tableTotal, j.Totals.TotalCost, csvTotal)
	}

	// Assets and recommendations, token from a file.
	tf := filepath.Join(dir, "token")
	os.WriteFile(tf, []byte(tok+"\n"), 0o600)
	code, out, errOut = runCLI(t, nil, "query", "assets", "--server", "https://"+addr, "--ca", ca, "--token-file", tf, "--window", "1d", "--type", "node")
	if code != 0 || !strings.Contains(out, "Node") || !strings.Contains(out, "TOTAL") || !strings.Contains(out, "yes") {
		t.Errorf("assets: %d %s\n%s", code, errOut, out)
	}
	code, out, errOut = runCLI(t, nil, "query", "recommendations", "--server", "https://"+addr, "--ca", ca, "--token-file", tf, "--window", "1d")
	if code != 0 || !strings.Contains(out, "SAVING/MONTH") || !strings.Contains(out, "TOTAL") {
		t.Errorf("recommendations: %d %s\n%s", code, errOut, out)
	}

	// Without --ca the self-signed certificate is refused; --insecure-skip-verify warns.
	code, _, errOut = runCLI(t, env, "query", "allocation", "--server", "https://"+addr, "--window", "1d")
	if code == 0 || !strings.Contains(errOut, "--ca") {
		t.Errorf("unverified server accepted: %d %s", code, errOut)
	}
	code, _, errOut = runCLI(t, env, "query", "allocation", "--server", "https://"+addr, "--window", "1d", "--insecure-skip-verify")
	if code != 0 || !strings.Contains(errOut, "WARNING") {
		t.Errorf("--insecure-skip-verify: %d %s", code, errOut)
	}
	for _, c := range []struct {
		env  []string
		args []string
		msg  string
	}{
		{nil, base, "COSTWARDEN_TOKEN"},
		{[]string{"COSTWARDEN_TOKEN=cwt_wrong"}, base, "401"},
		{env, append(base[:len(base):len(base)], "--output", "xml"), "--output"},
		{env, []string{"query", "allocation", "--server", "https://" + addr, "--ca", ca, "--window", "soon"}, "parameter window"},
		{env, []string{"query", "allocation", "--server", "http://" + addr, "--window", "1d"}, "https"},
		{env, []string{"query", "planets", "--server", "https://" + addr, "--ca", ca}, "unknown query"},
	} {
		code, out, errOut := runCLI(t, c.env, c.args...)
		if code == 0 || !strings.Contains(errOut, c.msg) || out != "" {
			t.Errorf("%v: code %d stdout %q stderr %q, want %q", c.args, code, out, errOut, c.msg)
		}
	}
}

func parseMoney(t *testing.T, s string) float64 {
	v, err := strconv.ParseFloat(strings.ReplaceAll(strings.TrimPrefix(s, "$"), ",", ""), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
