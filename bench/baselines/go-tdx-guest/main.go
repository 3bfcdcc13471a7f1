// Command go-tdx-guest-bench is the go-tdx-guest baseline of bench/tdx.bench.ts: it verifies one
// TDX quote (parse, quote and QE report signatures, PCK chain to the Intel SGX Root CA, given as a trusted pool as ours is pinned; no collateral, no network) in a loop for a
// given time and prints verifications per second.
//
// Usage: go-tdx-guest-bench QUOTE ROOT_PEM SECONDS RFC3339_TIME
package main

import (
	"crypto/x509"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/google/go-tdx-guest/verify"
)

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: go-tdx-guest-bench QUOTE ROOT_PEM SECONDS RFC3339_TIME")
		os.Exit(2)
	}
	raw, err := os.ReadFile(os.Args[1])
	must(err)
	rootPem, err := os.ReadFile(os.Args[2])
	must(err)
	seconds, err := strconv.ParseFloat(os.Args[3], 64)
	must(err)
	now, err := time.Parse(time.RFC3339, os.Args[4])
	must(err)
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(rootPem) {
		must(fmt.Errorf("no certificate in %s", os.Args[2]))
	}
	// An explicit pool also keeps go-tdx-guest from logging a warning on every call.
	options := &verify.Options{CheckRevocations: false, GetCollateral: false, Now: now, TrustedRoots: roots}

	// RawTdxQuote parses the raw bytes and verifies the chain every time, like "cold".
	once := func() error { return verify.RawTdxQuote(raw, options) }
	must(once())
	deadline := time.Now().Add(time.Duration(seconds * float64(time.Second)))
	start := time.Now()
	n := 0
	for time.Now().Before(deadline) {
		must(once())
		n++
	}
	fmt.Printf("%.1f\n", float64(n)/time.Since(start).Seconds())
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
