package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/s3test"
)

// TestAuditS3ReplicaCommands: serve with --audit-replica s3://… ships the
// log to a real S3 server (versitygw); `audit verify` checks the primary
// against it (BULWARK_AUDIT_REPLICA), and `audit verify --replica URL
// --public-key FILE` checks the bucket alone. The bucket's credentials
// are the process's AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (the AWS
// SDK's default chain), not Bulwark's: with a wrong secret it fails.
func TestAuditS3ReplicaCommands(t *testing.T) {
	srv := s3test.Start(t)
	replica := srv.CreateBucket(t, "bulwark-audit")
	data := filepath.Join(t.TempDir(), "data")
	vars := map[string]string{"BULWARK_DATA": data, "BULWARK_LOG_LEVEL": "error", "BULWARK_AUDIT_REPLICA": replica}
	if r := runCmd(t, vars, "migrate"); r.code != exitOK {
		t.Fatalf("migrate: %s", r.stderr)
	}
	if r := runCmd(t, vars, "tenant", "create", "acme", "--name", "Acme", "--admin-email", "a@acme.example"); r.code != exitOK {
		t.Fatalf("tenant create: %s", r.stderr)
	}
	startServe(t, data, "--audit-replica", replica).stop(t) // ships at shutdown

	pub := runCmd(t, vars, "audit", "public-key")
	if pub.code != exitOK {
		t.Fatal(pub.stderr)
	}
	key := filepath.Join(t.TempDir(), "bulwark-audit.pub")
	if err := os.WriteFile(key, []byte(pub.stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runCmd(t, vars, "audit", "verify"); r.code != exitOK {
		t.Fatalf("audit verify (primary and S3 replica): exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runCmd(t, nil, "audit", "verify", "--replica", replica, "--public-key", key); r.code != exitOK {
		t.Fatalf("audit verify --replica s3://…: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// An empty bucket is not a verified log.
	empty := srv.CreateBucket(t, "bulwark-empty")
	if r := runCmd(t, nil, "audit", "verify", "--replica", empty, "--public-key", key); r.code != exitError {
		t.Fatalf("an empty bucket: exit %d\n%s", r.code, r.stdout)
	}
	t.Setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
	if r := runCmd(t, nil, "audit", "verify", "--replica", replica, "--public-key", key); r.code != exitError {
		t.Fatalf("with a wrong secret: exit %d\n%s", r.code, r.stdout)
	}
}
