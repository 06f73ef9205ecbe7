package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/bench"
)

// child is a real `bulwark serve` process (this test binary as main).
type child struct {
	cmd *exec.Cmd
	url string
}

func startChildServe(t *testing.T, data string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve", "--data", data, "--addr", "127.0.0.1:0", "--metrics-addr", "off", "--log-level", "error")
	cmd.Env = append(os.Environ(), "BULWARK_TEST_MAIN=1")
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "Bulwark is serving "); ok {
				urls <- u
			}
		}
		close(urls)
	}()
	select {
	case u, ok := <-urls:
		if !ok {
			cmd.Wait()
			t.Fatalf("serve exited before it was ready: %s", stderr.String())
		}
		return &child{cmd: cmd, url: u}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatal("serve not ready within 60s")
	}
	return nil
}

// TestCrashKeepsAcknowledgedWrites kills a real server with SIGKILL in the
// middle of concurrent writes, several times, and restarts it: every write
// that was acknowledged is there, there is exactly one audit entry per
// stored record, and `bulwark audit verify` passes (DATA-5, DATA-6;
// security-tests (e) 28).
func TestCrashKeepsAcknowledgedWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: several server starts")
	}
	ctx := context.Background()
	data := filepath.Join(t.TempDir(), "data")
	c := startChildServe(t, data)

	// A tenant with a collection and an owner token, made through the
	// database as the CLI does.
	cfg := DefaultConfig()
	cfg.DataDir = data
	if err := cfg.finish(); err != nil {
		t.Fatal(err)
	}
	cfg.keys = defaultKeys(data)
	db, err := openStore(ctx, &cfg, newLogger(&env{stderr: io.Discard}, "error"), false)
	if err != nil {
		t.Fatal(err)
	}
	owner, _ := bulwark.BuiltInRole(bulwark.RoleOwner)
	ten, err := prepareTenant(ctx, db, 0, 0, owner)
	if err != nil {
		t.Fatal(err)
	}
	p, err := db.Authenticate(ctx, ten.Token)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	asOwner := bulwark.NewContext(ctx, p)

	acked := map[string]bool{}
	var mu sync.Mutex
	for round := 0; round < 3; round++ {
		client, err := bench.NewClient(c.url, filepath.Join(data, "ca.pem"), 16)
		if err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := 0; w < 16; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					var rec bulwark.Record
					_, err := client.Do(ctx, "POST", "/api/v1/collections/"+bench.Collection+"/records", ten.Token, nil, bench.RecordBody(w*100000+i), &rec, 201)
					if err != nil {
						continue // the server is gone: unacknowledged
					}
					mu.Lock()
					acked[rec.ID] = true
					mu.Unlock()
				}
			}()
		}
		time.Sleep(time.Duration(700+300*round) * time.Millisecond)
		c.cmd.Process.Signal(syscall.SIGKILL)
		c.cmd.Wait()
		close(stop)
		wg.Wait()
		c = startChildServe(t, data)
	}
	// A clean stop: the sequencer's last round numbers and ships the rest.
	c.cmd.Process.Signal(syscall.SIGTERM)
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("serve did not stop cleanly: %v", err)
	}
	if len(acked) == 0 {
		t.Fatal("no write was acknowledged before the crashes")
	}

	db, err = openStore(ctx, &cfg, newLogger(&env{stderr: io.Discard}, "error"), false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stored := map[string]bool{}
	cursor := ""
	for {
		page, next, err := db.ListRecords(asOwner, bench.Collection, bulwark.ListOptions{Limit: bulwark.MaxPageSize, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page {
			stored[r.ID] = true
		}
		if next == "" {
			break
		}
		cursor = next
	}
	for id := range acked {
		if !stored[id] {
			t.Errorf("acknowledged record %s is gone after the crashes", id)
		}
	}
	creates := 0
	cursor = ""
	for {
		page, next, err := db.SearchAudit(asOwner, bulwark.AuditFilter{Action: "record.create", Limit: bulwark.MaxPageSize, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			if e.Outcome == bulwark.OutcomeSuccess {
				creates++
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if creates != len(stored) {
		t.Errorf("%d record.create audit entries for %d stored records", creates, len(stored))
	}
	t.Logf("%d writes acknowledged, %d stored, %d audit entries, over 3 crashes", len(acked), len(stored), creates)
	var out, errOut strings.Builder
	if code := run(ctx, []string{"audit", "verify", "--data", data}, func(string) string { return "" }, strings.NewReader(""), &out, &errOut); code != exitOK {
		t.Fatalf("audit verify after the crashes: exit %d\n%s%s", code, out.String(), errOut.String())
	}
}
