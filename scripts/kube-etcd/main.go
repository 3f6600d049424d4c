// A single-member etcd for scripts/kube-up.sh: go.etcd.io/etcd/server/v3's embed package behind
// the few flags the script passes. Built by scripts/build-kube.sh at the version kubernetes pins.
package main

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

func urls(flagName, list string) []url.URL {
	var out []url.URL
	for _, s := range strings.Split(list, ",") {
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil || u.Host == "" {
			fmt.Fprintf(os.Stderr, "etcd: --%s: bad URL %q\n", flagName, s)
			os.Exit(2)
		}
		out = append(out, *u)
	}
	return out
}

func main() {
	name := flag.String("name", "default", "member name")
	dir := flag.String("data-dir", "", "data folder (required)")
	client := flag.String("listen-client-urls", "http://127.0.0.1:2379", "client URLs, comma separated")
	peer := flag.String("listen-peer-urls", "http://127.0.0.1:2380", "peer URL")
	logLevel := flag.String("log-level", "warn", "debug, info, warn or error")
	noFsync := flag.Bool("unsafe-no-fsync", false, "do not fsync (tests only)")
	version := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *version {
		fmt.Println("etcd (vipkeeper embed build)")
		return
	}
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "etcd: --data-dir is required")
		os.Exit(2)
	}

	cfg := embed.NewConfig()
	cfg.Name = *name
	cfg.Dir = *dir
	cfg.ListenClientUrls = urls("listen-client-urls", *client)
	cfg.AdvertiseClientUrls = cfg.ListenClientUrls[:1]
	cfg.ListenPeerUrls = urls("listen-peer-urls", *peer)
	cfg.AdvertisePeerUrls = cfg.ListenPeerUrls
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.LogLevel = *logLevel
	cfg.LogOutputs = []string{"stderr"}
	cfg.UnsafeNoFsync = *noFsync

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "etcd: start: %v\n", err)
		os.Exit(1)
	}
	select {
	case <-e.Server.ReadyNotify():
		fmt.Fprintln(os.Stderr, "etcd: ready")
	case <-time.After(60 * time.Second):
		e.Server.Stop()
		fmt.Fprintln(os.Stderr, "etcd: not ready after 60 s")
		os.Exit(1)
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case s := <-sig:
		fmt.Fprintf(os.Stderr, "etcd: %v, stopping\n", s)
		e.Close()
	case err := <-e.Err():
		fmt.Fprintf(os.Stderr, "etcd: %v\n", err)
		e.Close()
		os.Exit(1)
	}
}
