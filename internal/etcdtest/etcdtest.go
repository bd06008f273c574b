// Package etcdtest starts real etcd servers (etcd's own embed package, the
// same server code as the etcd binary): one member or a 3-member cluster on
// free loopback ports, data in a temporary folder, either in the test
// process (Start) or each member in a process of its own that a test can
// SIGKILL (StartProcesses).
// Tests of the etcd catalog and the CLI's end-to-end suite run against
// them; metactl processes started by a test reach them over loopback like
// any client.
package etcdtest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// Cluster is a running etcd cluster of one or more members.
type Cluster struct {
	Members []*Member
}

// Member is one etcd server of a Cluster.
type Member struct {
	Name      string
	ClientURL string // "http://127.0.0.1:PORT"
	dir       string
	cfg       *embed.Config
	etcd      *embed.Etcd
}

// Options tune the servers. The zero value is etcd's defaults except
// logging (errors only) and fsync (off: tests do not survive power cuts).
type Options struct {
	// Fsync keeps etcd's fsync on (figures that should be honest).
	Fsync bool
	// QuotaBackendBytes overrides etcd's 2 GiB database quota.
	QuotaBackendBytes int64
	// AutoCompactionRevisions, if set, keeps only that many revisions of
	// history (etcd --auto-compaction-mode=revision).
	AutoCompactionRevisions int
	// MaxTxnOps and MaxRequestBytes, if set, raise etcd's transaction
	// limits (--max-txn-ops, --max-request-bytes), for benchmarks that
	// set up large catalogs in fewer transactions.
	MaxTxnOps       uint
	MaxRequestBytes uint
	// CertFile, KeyFile and CAFile, if set, make clients speak TLS and
	// present a certificate signed by CAFile (etcd --cert-file,
	// --key-file, --trusted-ca-file, --client-cert-auth).
	CertFile, KeyFile, CAFile string
}

// Endpoints returns the members' client addresses as "127.0.0.1:PORT",
// comma-separated, the form an etcd:// catalog URL takes.
func (c *Cluster) Endpoints() string {
	var eps []string
	for _, m := range c.Members {
		eps = append(eps, strings.TrimPrefix(strings.TrimPrefix(m.ClientURL, "http://"), "https://"))
	}
	return strings.Join(eps, ",")
}

// Start starts a cluster of n members with data under dir and waits until
// every member serves clients (at most a minute).
func Start(dir string, n int, o Options) (*Cluster, error) {
	c := &Cluster{}
	var initial []string
	for i := range n {
		ports, err := freePorts(2)
		if err != nil {
			return nil, err
		}
		scheme := "http"
		if o.CertFile != "" {
			scheme = "https"
		}
		m := &Member{
			Name:      fmt.Sprintf("m%d", i),
			ClientURL: fmt.Sprintf("%s://127.0.0.1:%d", scheme, ports[0]),
			dir:       filepath.Join(dir, fmt.Sprintf("m%d", i)),
		}
		peer := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
		cfg := embed.NewConfig()
		cfg.Name = m.Name
		cfg.Dir = m.dir
		cu, _ := url.Parse(m.ClientURL)
		pu, _ := url.Parse(peer)
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
		cfg.InitialClusterToken = "metactl-test"
		cfg.LogLevel = "error"
		cfg.LogOutputs = []string{filepath.Join(dir, m.Name+".log")}
		cfg.UnsafeNoFsync = !o.Fsync
		if o.QuotaBackendBytes > 0 {
			cfg.QuotaBackendBytes = o.QuotaBackendBytes
		}
		if o.MaxTxnOps > 0 {
			cfg.MaxTxnOps = o.MaxTxnOps
		}
		if o.MaxRequestBytes > 0 {
			cfg.MaxRequestBytes = o.MaxRequestBytes
		}
		if o.AutoCompactionRevisions > 0 {
			cfg.AutoCompactionMode = "revision"
			cfg.AutoCompactionRetention = fmt.Sprint(o.AutoCompactionRevisions)
		}
		if o.CertFile != "" {
			cfg.ClientTLSInfo.CertFile, cfg.ClientTLSInfo.KeyFile = o.CertFile, o.KeyFile
			cfg.ClientTLSInfo.TrustedCAFile, cfg.ClientTLSInfo.ClientCertAuth = o.CAFile, true
		}
		// Short elections: a test that stops a member wants a new leader
		// quickly.
		cfg.TickMs, cfg.ElectionMs = 50, 500
		m.cfg = cfg
		initial = append(initial, m.Name+"="+peer)
		c.Members = append(c.Members, m)
	}
	for _, m := range c.Members {
		m.cfg.InitialCluster = strings.Join(initial, ",")
	}
	// Members of a new cluster wait for each other: start them together.
	errs := make(chan error, n)
	for _, m := range c.Members {
		go func() { errs <- m.start() }()
	}
	var first error
	for range n {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		c.Stop()
		return nil, first
	}
	return c, nil
}

func (m *Member) start() error {
	if err := os.MkdirAll(m.dir, 0o700); err != nil {
		return err
	}
	e, err := embed.StartEtcd(m.cfg)
	if err != nil {
		return fmt.Errorf("start etcd member %s: %w", m.Name, err)
	}
	select {
	case <-e.Server.ReadyNotify():
		m.etcd = e
		return nil
	case err := <-e.Err():
		e.Close()
		return fmt.Errorf("start etcd member %s: %w", m.Name, err)
	case <-time.After(time.Minute):
		e.Close()
		return fmt.Errorf("start etcd member %s: not ready after a minute", m.Name)
	}
}

// StopMember stops member i (its data stays: RestartMember brings it
// back).
func (c *Cluster) StopMember(i int) {
	if m := c.Members[i]; m.etcd != nil {
		m.etcd.Close()
		m.etcd = nil
	}
}

// RestartMember starts a stopped member again from its data.
func (c *Cluster) RestartMember(i int) error {
	m := c.Members[i]
	if m.etcd != nil {
		return nil
	}
	m.cfg.ClusterState = embed.ClusterStateFlagExisting
	return m.start()
}

// Stop stops every member.
func (c *Cluster) Stop() {
	for i := range c.Members {
		c.StopMember(i)
	}
}

// DBSize returns the size in bytes of member i's bbolt database file.
func (c *Cluster) DBSize(i int) (int64, error) {
	st, err := os.Stat(filepath.Join(c.Members[i].dir, "member", "snap", "db"))
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// freePorts returns n loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// memberEnv carries a member's configuration to a member process.
const memberEnv = "METACTL_ETCDTEST_MEMBER"

type memberSpec struct {
	Name, Dir, ClientURL, PeerURL, InitialCluster, State string
	Fsync                                                bool
}

// RunMemberIfAsked turns this process into one etcd member if it was
// started by StartProcesses (the test binary re-run): it serves until it
// is killed and never returns. Otherwise it returns at once. Call it first
// thing in TestMain.
func RunMemberIfAsked() {
	spec := os.Getenv(memberEnv)
	if spec == "" {
		return
	}
	var s memberSpec
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		fmt.Fprintln(os.Stderr, "etcdtest member:", err)
		os.Exit(2)
	}
	cfg := embed.NewConfig()
	cfg.Name, cfg.Dir = s.Name, s.Dir
	cu, _ := url.Parse(s.ClientURL)
	pu, _ := url.Parse(s.PeerURL)
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster, cfg.ClusterState = s.InitialCluster, s.State
	cfg.InitialClusterToken = "metactl-test"
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{s.Dir + ".log"}
	cfg.UnsafeNoFsync = !s.Fsync
	cfg.TickMs, cfg.ElectionMs = 50, 500
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "etcdtest member:", err)
		os.Exit(2)
	}
	select {
	case <-e.Server.ReadyNotify():
		fmt.Println("ready")
	case err := <-e.Err():
		fmt.Fprintln(os.Stderr, "etcdtest member:", err)
		os.Exit(2)
	}
	select {} // until SIGKILL
}

// ProcessCluster is a cluster whose members run in processes of their
// own, so a test can SIGKILL one: a real crash, not a shutdown.
type ProcessCluster struct {
	Members []*ProcessMember
}

// ProcessMember is one member process.
type ProcessMember struct {
	ClientURL string
	spec      memberSpec
	cmd       *exec.Cmd
}

// Endpoints returns the members' client addresses, comma-separated.
func (c *ProcessCluster) Endpoints() string {
	var eps []string
	for _, m := range c.Members {
		eps = append(eps, strings.TrimPrefix(m.ClientURL, "http://"))
	}
	return strings.Join(eps, ",")
}

// StartProcesses starts n members, each a re-run of this test binary
// (whose TestMain calls RunMemberIfAsked), and waits until each serves.
func StartProcesses(dir string, n int, o Options) (*ProcessCluster, error) {
	c := &ProcessCluster{}
	var initial []string
	for i := range n {
		ports, err := freePorts(2)
		if err != nil {
			return nil, err
		}
		m := &ProcessMember{ClientURL: fmt.Sprintf("http://127.0.0.1:%d", ports[0])}
		m.spec = memberSpec{Name: fmt.Sprintf("m%d", i), Dir: filepath.Join(dir, fmt.Sprintf("m%d", i)), ClientURL: m.ClientURL,
			PeerURL: fmt.Sprintf("http://127.0.0.1:%d", ports[1]), State: embed.ClusterStateFlagNew, Fsync: o.Fsync}
		initial = append(initial, m.spec.Name+"="+m.spec.PeerURL)
		c.Members = append(c.Members, m)
	}
	errs := make(chan error, n)
	for _, m := range c.Members {
		m.spec.InitialCluster = strings.Join(initial, ",")
		go func() { errs <- m.start() }()
	}
	var first error
	for range n {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		c.Kill()
		return nil, first
	}
	return c, nil
}

func (m *ProcessMember) start() error {
	spec, _ := json.Marshal(m.spec)
	m.cmd = exec.Command(os.Args[0], "-test.run=^$")
	m.cmd.Env = append(os.Environ(), memberEnv+"="+string(spec))
	out, err := m.cmd.StdoutPipe()
	if err != nil {
		return err
	}
	m.cmd.Stderr = os.Stderr
	if err := m.cmd.Start(); err != nil {
		return err
	}
	ready := make(chan bool, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		ready <- strings.TrimSpace(line) == "ready"
		io.Copy(io.Discard, out)
	}()
	select {
	case ok := <-ready:
		if ok {
			return nil
		}
	case <-time.After(time.Minute):
	}
	m.cmd.Process.Kill()
	m.cmd.Wait()
	return fmt.Errorf("etcd member %s did not start", m.spec.Name)
}

// KillMember SIGKILLs member i: it stops at once, mid-request, its data as
// the kernel left it.
func (c *ProcessCluster) KillMember(i int) {
	if m := c.Members[i]; m.cmd != nil {
		m.cmd.Process.Kill()
		m.cmd.Wait()
		m.cmd = nil
	}
}

// Kill SIGKILLs every member.
func (c *ProcessCluster) Kill() {
	for i := range c.Members {
		c.KillMember(i)
	}
}

// RestartMember starts member i again from its data folder, as a member of
// the existing cluster (after KillMember), and waits until it serves.
func (c *ProcessCluster) RestartMember(i int) error {
	m := c.Members[i]
	if m.cmd != nil {
		return nil
	}
	m.spec.State = embed.ClusterStateFlagExisting
	return m.start()
}
