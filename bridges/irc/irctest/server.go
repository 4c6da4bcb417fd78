// Package irctest gives tests real IRC servers: InspIRCd 3 and ngIRCd 26
// from the Debian packages, each started on a free 127.0.0.1 port with a
// config raised for many connections from one address, and stopped when
// the test ends. It also has a raw IRC client for playing the IRC user.
//
// When a server binary is missing the test is skipped with the reason,
// unless ISTHMUS_REQUIRE_IRC=1 is set (as CI should), when it fails.
package irctest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Kind names an IRC server implementation.
type Kind string

const (
	InspIRCd Kind = "inspircd"
	NgIRCd   Kind = "ngircd"
)

// Kinds lists the servers integration tests run against.
func Kinds() []Kind { return []Kind{InspIRCd, NgIRCd} }

// Oper credentials every test server accepts (OPER root operpass).
const (
	OperName     = "root"
	OperPassword = "operpass"
)

// Server is one running IRC server.
type Server struct {
	Kind Kind
	// Addr is host:port of the client listener.
	Addr string
	// Name is the server name it announces.
	Name string
	// TLSAddr is host:port of the TLS listener (InspIRCd only, with a
	// self-signed certificate), "" when there is none.
	TLSAddr string

	t    testing.TB
	dir  string
	conf string
	port int

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

func binary(kind Kind) string {
	if kind == InspIRCd {
		return "inspircd"
	}
	return "ngircd"
}

// Start starts a server of kind for the test and stops it at cleanup.
func Start(t testing.TB, kind Kind) *Server {
	t.Helper()
	return start(t, kind, options{})
}

// StartWithPassword starts a server that admits only clients giving
// password with PASS.
func StartWithPassword(t testing.TB, kind Kind, password string) *Server {
	t.Helper()
	return start(t, kind, options{password: password})
}

// options are the ways a test server may differ from the default one.
type options struct {
	tls      bool   // InspIRCd only: a TLS listener too
	password string // the server password, "" for none
}

// StartTLS starts an InspIRCd that also listens with TLS on TLSAddr, with
// a self-signed certificate (clients must skip verification).
func StartTLS(t testing.TB) *Server {
	t.Helper()
	return start(t, InspIRCd, options{tls: true})
}

func start(t testing.TB, kind Kind, opts options) *Server {
	t.Helper()
	bin := binary(kind)
	if _, err := exec.LookPath(bin); err != nil {
		for _, dir := range []string{"/usr/sbin", "/usr/local/sbin"} {
			if _, serr := os.Stat(filepath.Join(dir, bin)); serr == nil {
				err = nil
				break
			}
		}
		if err != nil {
			msg := fmt.Sprintf("%s is not installed (apt-get install -y inspircd ngircd)", bin)
			if os.Getenv("ISTHMUS_REQUIRE_IRC") == "1" {
				t.Fatal(msg + ", and ISTHMUS_REQUIRE_IRC=1")
			}
			t.Skip(msg)
		}
	}
	s := &Server{Kind: kind, t: t, dir: t.TempDir(), port: freePort(t)}
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	s.conf = filepath.Join(s.dir, string(kind)+".conf")
	var text string
	switch kind {
	case InspIRCd:
		s.Name = "irc.inspircd.test"
		text = inspircdConfig(s.Name, s.port, s.dir)
		if opts.password != "" {
			text = strings.Replace(text, `<connect allow="*"`, fmt.Sprintf(`<connect allow="*" password="%s"`, opts.password), 1)
		}
		if opts.tls {
			tlsPort := freePort(t)
			s.TLSAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(tlsPort))
			writeCert(t, s.dir)
			text += fmt.Sprintf(`<module name="ssl_gnutls">
<sslprofile name="tls" provider="gnutls" certfile="%[1]s/cert.pem" keyfile="%[1]s/key.pem" dhfile="" hash="sha256" requestclientcert="no">
<bind address="127.0.0.1" port="%[2]d" type="clients" sslprofile="tls">
`, s.dir, tlsPort)
		}
	case NgIRCd:
		s.Name = "irc.ngircd.test"
		text = ngircdConfig(s.Name, s.port)
		if opts.password != "" {
			text = strings.Replace(text, "[Global]\n", "[Global]\n\tPassword = "+opts.password+"\n", 1)
		}
	default:
		t.Fatalf("irctest: unknown server kind %q", kind)
	}
	if err := os.WriteFile(s.conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	s.start()
	t.Cleanup(s.Stop)
	return s
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (s *Server) start() {
	s.t.Helper()
	var cmd *exec.Cmd
	switch s.Kind {
	case InspIRCd:
		cmd = exec.Command(findBinary("inspircd"), "--config", s.conf, "--nofork", "--runasroot")
	case NgIRCd:
		cmd = exec.Command(findBinary("ngircd"), "-n", "-f", s.conf)
	}
	logFile, err := os.OpenFile(filepath.Join(s.dir, "server.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Pdeathsig: a test binary that crashes must not leave servers behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		s.t.Fatalf("start %s: %v", s.Kind, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = logFile.Close()
		close(exited)
	}()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
			s.t.Fatalf("%s exited at start:\n%s", s.Kind, log)
		default:
		}
		if c, err := net.DialTimeout("tcp", s.Addr, time.Second); err == nil {
			_ = c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("%s did not listen on %s", s.Kind, s.Addr)
}

func findBinary(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin"} {
		if p := filepath.Join(dir, name); fileExists(p) {
			return p
		}
	}
	return name
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Stop stops the server; every client connection drops. It is safe to
// call twice.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
	// The port is free once nothing listens on it any more.
	for i := 0; i < 250; i++ {
		c, err := net.DialTimeout("tcp", s.Addr, 100*time.Millisecond)
		if err != nil {
			return
		}
		_ = c.Close()
		time.Sleep(20 * time.Millisecond)
	}
}

// Restart stops the server and starts it again on the same port, with
// every channel and connection gone, as after a crash.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

// Log returns what the server wrote to its log so far.
func (s *Server) Log() string {
	data, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
	return string(data)
}

// inspircdConfig raises every per-address and flood limit: the bridge
// connects hundreds of clients from 127.0.0.1 and the defaults (3 per IP,
// 1 command a second) would throttle or kill them.
func inspircdConfig(name string, port int, dir string) string {
	return fmt.Sprintf(`<server name="%[1]s" description="Isthmus test" network="IsthmusTest">
<admin name="test" nick="test" email="test@isthmus.test">
<bind address="127.0.0.1" port="%[2]d" type="clients">
<power diepass="die-%[2]d" restartpass="restart-%[2]d">
<connect allow="*" timeout="20" threshold="100000" pingfreq="120" hardsendq="10485760" softsendq="1048576"
         recvq="65536" localmax="100000" globalmax="100000" maxconnwarn="off" commandrate="1000000"
         fakelag="no" limit="100000" resolvehostnames="no" useconnectban="no" usednsbl="no" maxchans="1000">
<class name="All" commands="*" privs="*" usermodes="*" chanmodes="*">
<type name="NetAdmin" classes="All" host="netadmin.isthmus.test">
<oper name="%[4]s" password="%[5]s" host="*@*" type="NetAdmin">
<files motd="%[3]s/motd.txt">
<channels users="100000" opers="100000">
<dns server="127.0.0.1" timeout="1">
<pid file="%[3]s/inspircd.pid">
<options prefixquit="Quit: " syntaxhints="no" announcets="yes" hostintopic="yes" pingwarning="15" splitwhois="no" exemptchanops="">
<security hideserver="" userstats="Pu" customversion="" flatlinks="no" hidesplits="no" hideulines="no" hidebans="no" maxtargets="20">
<performance quietbursts="yes" softlimit="100000" somaxconn="4096" netbuffersize="10240">
<limits maxnick="30" maxchan="64" maxmodes="20" maxident="11" maxhost="64" maxquit="255" maxtopic="307" maxkick="255" maxreal="128" maxaway="200">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="%[3]s/inspircd.log">
<module name="cap">
<module name="ircv3">
<module name="ircv3_servertime">
<module name="ircv3_echomessage">
<module name="ircv3_capnotify">
<module name="ircv3_chghost">
<module name="ircv3_batch">
<module name="ircv3_msgid">
<module name="ircv3_accounttag">
<module name="ircv3_ctctags">
<module name="namesx">
<module name="uhnames">
<module name="services_account">
<module name="customprefix">
<customprefix name="halfop" letter="h" prefix="%%" rank="20000" ranktoset="30000" ranktounset="30000" depriv="yes">
`, name, port, dir, OperName, OperPassword) + motdFile(dir)
}

// motdFile writes the MOTD InspIRCd insists on and returns "".
func motdFile(dir string) string {
	_ = os.WriteFile(filepath.Join(dir, "motd.txt"), []byte("Isthmus test server\n"), 0o644)
	return ""
}

// ngircdConfig lifts ngIRCd's per-address, join and penalty limits; it
// drops root to "nobody" itself, so no file it needs after start may be
// private.
func ngircdConfig(name string, port int) string {
	return fmt.Sprintf(`[Global]
	Name = %s
	Info = Isthmus test
	AdminInfo1 = Isthmus
	AdminInfo2 = test
	AdminEMail = test@isthmus.test
	Listen = 127.0.0.1
	Ports = %d
	MotdPhrase = Isthmus test server
[Limits]
	MaxConnections = 0
	MaxConnectionsIP = 0
	MaxJoins = 0
	MaxNickLength = 30
	MaxPenaltyTime = 0
	PingTimeout = 120
	PongTimeout = 20
	MaxListSize = 1000
[Options]
	DNS = no
	Ident = no
	PAM = no
	OperCanUseMode = yes
	MorePrivacy = no
[Operator]
	Name = %s
	Password = %s
`, name, port, OperName, OperPassword)
}

// writeCert writes a self-signed certificate for 127.0.0.1 and its key.
func writeCert(t testing.TB, dir string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "irc.inspircd.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
}
