package clustertest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/ermine-rt/ermine/internal/testlog"
)

const (
	etcdStartAttempts = 3                // a free port can be taken before etcd binds it
	etcdStartTimeout  = 15 * time.Second // a single-member etcd is healthy within a second here
	etcdStopTimeout   = 10 * time.Second
)

// StartEtcd starts a single-member etcd server (the etcd binary, Debian's etcd-server package that
// scripts/install-tools.sh installs) on free loopback ports with a temporary data directory, waits
// until it reports itself healthy and stops it when the test ends. It returns the client endpoint,
// "http://127.0.0.1:PORT", as clientv3.Config.Endpoints takes it.
//
// Without an etcd binary the test is skipped, unless the CI environment variable is set: there it
// fails, so that CI never passes by skipping the tests that need etcd.
func StartEtcd(t testing.TB) (endpoint string) {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		if _, ci := os.LookupEnv("CI"); ci {
			t.Fatalf("clustertest: no etcd binary (%v) although CI is set: scripts/install-tools.sh installs Debian's etcd-server", err)
		}
		t.Skipf("clustertest: no etcd binary (%v): run scripts/install-tools.sh (Debian's etcd-server) to run this test", err)
	}
	var errs []error
	for range etcdStartAttempts {
		endpoint, err := startEtcd(t, bin)
		if err == nil {
			return endpoint
		}
		errs = append(errs, err)
	}
	t.Fatalf("clustertest: start etcd: %v", errors.Join(errs...))
	return ""
}

func startEtcd(t testing.TB, bin string) (string, error) {
	ports := FreePorts(t, 2)
	client := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peer := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	cmd := exec.Command(bin,
		"--name", "clustertest",
		"--data-dir", t.TempDir(),
		"--listen-client-urls", client,
		"--advertise-client-urls", client,
		"--listen-peer-urls", peer,
		"--initial-advertise-peer-urls", peer,
		"--initial-cluster", "clustertest="+peer,
		"--initial-cluster-state", "new",
		"--logger", "zap",
		"--log-outputs", "stderr",
	)
	cmd.Env = etcdFreeEnv(os.Environ())
	cmd.SysProcAttr = childProcAttr()
	var logs testlog.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("run %s: %w", bin, err)
	}
	var waitErr error // cmd.Wait's, set before exited is closed
	exited := make(chan struct{})
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()

	if err := waitHealthy(client, exited); err != nil {
		_ = cmd.Process.Kill()
		<-exited
		return "", fmt.Errorf("%w (etcd: %v); etcd's log:\n%s", err, waitErr, logs.String())
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(etcdStopTimeout):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("clustertest: etcd's log:\n%s", logs.String())
		}
	})
	return client, nil
}

// waitHealthy polls etcd's /health until it answers {"health":"true"}, etcd exits or time runs out.
func waitHealthy(endpoint string, exited <-chan struct{}) error {
	httpc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(etcdStartTimeout)
	for {
		ok, err := healthy(httpc, endpoint)
		if ok {
			return nil
		}
		select {
		case <-exited:
			return errors.New("etcd exited before it was healthy")
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("etcd not healthy after %v: %w", etcdStartTimeout, err)
		}
	}
}

func healthy(httpc *http.Client, endpoint string) (bool, error) {
	resp, err := httpc.Get(endpoint + "/health")
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	var body struct {
		Health string `json:"health"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return false, fmt.Errorf("GET /health: %s: %w", resp.Status, err)
	}
	if body.Health != "true" {
		return false, fmt.Errorf("GET /health: %s: health %q", resp.Status, body.Health)
	}
	return true, nil
}

// etcdFreeEnv drops ETCD_* variables: etcd reads them as flags and refuses to start when one
// conflicts with a flag given on the command line.
func etcdFreeEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, "ETCD_") {
			out = append(out, kv)
		}
	}
	return out
}

// EtcdConfig returns a client configuration for endpoint with the client's own zap logging off
// (it bypasses slog and would otherwise print to stderr). It suits both clientv3.New and
// protoactor's etcd.NewWithConfig.
func EtcdConfig(endpoint string) clientv3.Config {
	return clientv3.Config{
		Endpoints:   []string{endpoint},
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	}
}

// EtcdClient returns a client of the etcd server at endpoint, closed when the test ends.
func EtcdClient(t testing.TB, endpoint string) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(EtcdConfig(endpoint))
	if err != nil {
		t.Fatalf("clustertest: etcd client for %s: %v", endpoint, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
