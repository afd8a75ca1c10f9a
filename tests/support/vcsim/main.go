// Command vcsim serves govmomi's in-memory vCenter simulator (VPX model) on
// loopback so integration tests can run real vsphere-iso builds offline.
// It prints one JSON line {"url","host","username","password"} on stdout once
// it accepts connections, then serves until SIGTERM/SIGINT (or, with
// -exit-on-stdin-eof, until its parent goes away).
package main

import (
	"crypto/tls"
	"encoding/json"
	"flag"
	"io"
	"log"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/vmware/govmomi/simulator"
	// Registers the REST (vAPI) endpoints: Packer's vSphere driver logs in
	// to /rest as well as to the SOAP SDK.
	_ "github.com/vmware/govmomi/vapi/simulator"
)

func main() {
	port := flag.Int("port", 0, "TCP port on 127.0.0.1 (0 = pick a free one)")
	// Set explicitly: with the built-in default login the simulator accepts any non-empty
	// credentials, and a test of a wrong password needs a real refusal.
	username := flag.String("username", "user", "the only user name the SOAP SDK accepts")
	password := flag.String("password", "pass", "the only password the SOAP SDK accepts")
	watchStdin := flag.Bool("exit-on-stdin-eof", false,
		"also stop when stdin closes, so a parent killed with SIGKILL leaves no orphan")
	flag.Parse()

	model := simulator.VPX()
	if err := model.Create(); err != nil {
		log.Fatalf("vcsim: create model: %v", err)
	}
	defer model.Remove()

	model.Service.TLS = new(tls.Config) // self-signed cert, hence insecure_connection in templates
	model.Service.RegisterEndpoints = true
	model.Service.Listen = &url.URL{
		Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(*port)),
		User: url.UserPassword(*username, *password),
	}
	server := model.Service.NewServer() // listening and serving once this returns
	defer server.Close()

	line, _ := json.Marshal(map[string]string{
		"url":      (&url.URL{Scheme: server.URL.Scheme, Host: server.URL.Host, Path: server.URL.Path}).String(),
		"host":     server.URL.Host,
		"username": *username,
		"password": *password,
	})
	os.Stdout.Write(append(line, '\n'))

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	if *watchStdin {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			stop <- syscall.SIGTERM
		}()
	}
	<-stop
}
