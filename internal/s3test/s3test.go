// Package s3test runs a real S3-compatible server for tests: versitygw
// (github.com/versity/versitygw) with its posix backend, on 127.0.0.1, in
// a temporary directory, with credentials of its own.
package s3test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Version is the versitygw release the tests are written against (and
// .ci/run installs).
const Version = "v1.8.0"

const region = "us-east-1"

// Binary returns the versitygw executable: $BULWARK_VERSITYGW, else
// versitygw on the PATH. Without one the test is skipped, or fails when
// BULWARK_REQUIRE_S3=1 (as .ci/run sets).
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("BULWARK_VERSITYGW"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("BULWARK_VERSITYGW=%s: %v", p, err)
		}
		return p
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	const how = "go install github.com/versity/versitygw/cmd/versitygw@" + Version + " (then put it on the PATH or set BULWARK_VERSITYGW)"
	if os.Getenv("BULWARK_REQUIRE_S3") == "1" {
		t.Fatal("versitygw is required (BULWARK_REQUIRE_S3=1) but not found: " + how)
	}
	t.Skip("skipping S3 tests: versitygw not found; " + how)
	return ""
}

// Server is one versitygw process. Its data outlives Stop, so Start
// brings the same buckets back (an outage, not a loss).
type Server struct {
	bin, dir, addr string
	access, secret string
	// health is the server's health check path, its own so that another
	// versitygw that took the port first cannot answer for it.
	health string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan error // cmd.Wait's result
	out  bytes.Buffer
}

// Start starts versitygw on a free port of 127.0.0.1 and stops it when
// the test ends. It puts its credentials in AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY for the rest of the test (with t.Setenv), because
// that is where s3blob, through the AWS SDK's default chain, finds a
// replica's credentials; shared AWS config files are pointed away so that
// nothing on the machine is used instead.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{bin: Binary(t), dir: filepath.Join(t.TempDir(), "s3"), access: "bulwark" + token(6), secret: token(20), health: "/health-" + token(8)}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	t.Setenv("AWS_ACCESS_KEY_ID", s.access)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s.secret)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(home, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(home, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			s.mu.Lock()
			t.Logf("versitygw output:\n%s", s.out.String())
			s.mu.Unlock()
		}
	})
	// A free port can be taken between finding it and versitygw binding
	// it; try a few.
	var err error
	for range 3 {
		s.addr, err = freeAddr()
		if err != nil {
			t.Fatal(err)
		}
		if err = s.start(); err == nil {
			return s
		}
	}
	t.Fatalf("start versitygw: %v\n%s", err, s.output())
	return nil
}

// Stop stops the server (SIGTERM, then SIGKILL); its data stays.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.stop()
}

// Restart starts the server again on the same address and directory.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if err := s.start(); err != nil {
		t.Fatalf("restart versitygw: %v\n%s", err, s.output())
	}
}

func (s *Server) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// Endpoint is the server's base URL.
func (s *Server) Endpoint() string { return "http://" + s.addr }

// URL is the gocloud.dev/blob URL of bucket on this server, in the form
// docs/audit.md gives for S3-compatible servers, with extra query
// parameters (such as prefix) added.
func (s *Server) URL(bucket string, extra url.Values) string {
	q := url.Values{
		"endpoint":                     {s.Endpoint()},
		"use_path_style":               {"true"},
		"region":                       {region},
		"request_checksum_calculation": {"when_required"},
		"response_checksum_validation": {"when_required"},
	}
	for k, v := range extra {
		q[k] = v
	}
	return "s3://" + bucket + "?" + q.Encode()
}

// CreateBucket creates a bucket owned by the server's credentials and
// returns its URL (see URL).
func (s *Server) CreateBucket(t testing.TB, bucket string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket %s: %v", bucket, err)
	}
	return s.URL(bucket, nil)
}

// Client is an S3 client of the server with its credentials, for what a
// test does besides the code under test (creating buckets, tampering).
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:                     region,
		BaseEndpoint:               aws.String(s.Endpoint()),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(s.access, s.secret, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

func (s *Server) start() error {
	s.mu.Lock()
	if s.cmd != nil {
		s.mu.Unlock()
		return errors.New("already running")
	}
	cmd := exec.Command(s.bin, "--port", s.addr, "--region", region, "--health", s.health, "posix", s.dir)
	// The root account's credentials go through the environment, not the
	// command line, where any process could read them.
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID="+s.access, "ROOT_SECRET_ACCESS_KEY="+s.secret)
	w := &lockedWriter{mu: &s.mu, w: &s.out}
	cmd.Stdout, cmd.Stderr = w, w
	err := cmd.Start()
	s.mu.Unlock()
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	if err := waitHealthy(s.Endpoint()+s.health, done); err != nil {
		cmd.Process.Kill()
		return err
	}
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	return nil
}

func (s *Server) stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd, s.done = nil, nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// waitHealthy polls versitygw's health endpoint until it answers, the
// process exits (the port was taken) or 30 s pass.
func waitHealthy(u string, done <-chan error) error {
	c := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			return fmt.Errorf("versitygw exited: %v", err)
		default:
		}
		if resp, err := c.Get(u); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("versitygw did not answer " + u + " within 30s")
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func token(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// lockedWriter collects the server's output; the process writes it while
// a failing test may read it.
type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}
