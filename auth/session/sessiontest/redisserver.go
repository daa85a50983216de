package sessiontest

import (
	"net"
	"os/exec"
	"testing"
	"time"
)

// RedisServer is a redis-server of a test's own on a free loopback port,
// without persistence, for tests that must stop, restart or reconfigure
// Redis without disturbing the shared one. It is killed when the test ends.
type RedisServer struct {
	// Addr is host:port; it stays the same across Stop and Start.
	Addr string
	t    *testing.T
	bin  string
	dir  string
	cmd  *exec.Cmd
}

// StartRedisServer starts a RedisServer, failing the test when redis-server
// is not installed or does not start.
func StartRedisServer(t *testing.T) *RedisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not installed (the test needs a Redis of its own): %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &RedisServer{Addr: l.Addr().String(), t: t, bin: bin, dir: t.TempDir()}
	l.Close()
	t.Cleanup(r.Stop)
	r.Start()
	return r
}

// Start starts the server again after Stop, on the same address, and waits
// until it accepts connections.
func (r *RedisServer) Start() {
	r.t.Helper()
	_, port, _ := net.SplitHostPort(r.Addr)
	r.cmd = exec.Command(r.bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", r.dir)
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		if c, err := net.Dial("tcp", r.Addr); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatal("redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the server (its data is gone).
func (r *RedisServer) Stop() {
	if r.cmd != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}
