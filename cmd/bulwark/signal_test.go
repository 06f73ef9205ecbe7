package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets a test run this binary as the real command: with
// BULWARK_TEST_MAIN=1 it is main(), arguments, signals and exit code
// included.
func TestMain(m *testing.M) {
	if os.Getenv("BULWARK_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// SIGINT and SIGTERM stop the real process gracefully, with exit code 0.
func TestMainStopsGracefullyOnSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			cmd := exec.Command(os.Args[0], "serve", "--data", data, "--addr", "127.0.0.1:0", "--metrics-addr", "")
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
			ready := make(chan bool, 1)
			go func() {
				sc := bufio.NewScanner(out)
				for sc.Scan() {
					if strings.HasPrefix(sc.Text(), "Stop with Ctrl-C") {
						ready <- true
					}
				}
				close(ready)
			}()
			select {
			case ok := <-ready:
				if !ok {
					cmd.Wait()
					t.Fatalf("serve exited before it was ready: %s", stderr.String())
				}
			case <-time.After(60 * time.Second):
				cmd.Process.Kill()
				t.Fatal("serve not ready within 60s")
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("exit after %s: %v; stderr:\n%s", sig, err, stderr.String())
				}
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("still running 30s after %s", sig)
			}
			if !strings.Contains(stderr.String(), `"msg":"stopped"`) {
				t.Errorf("no clean stop logged:\n%s", stderr.String())
			}
		})
	}
}
