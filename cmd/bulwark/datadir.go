package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// prepareDataDir makes sure dir is a directory only its owner can reach,
// creating it (mode 0700) when create is set. The data directory holds the
// database and private keys: a directory that group or others can read or
// enter is refused, not silently fixed, because it may already have leaked.
func prepareDataDir(dir string, create bool) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if !create {
			return fmt.Errorf("no data directory at %s: start the server once (bulwark serve) or run bulwark migrate, or point --data at it", dir)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("create data directory: %w", err)
		}
		// MkdirAll applies the umask, which can only remove bits; set the
		// mode exactly anyway.
		return os.Chmod(dir, 0o700)
	}
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("data directory %s is not a directory", dir)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("data directory %s has mode %04o: group and others can reach it; it holds the database and private keys, so it must be 0700 (run: chmod 700 %s)", dir, perm, dir)
	}
	return nil
}
