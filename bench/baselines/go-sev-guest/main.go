// Command go-sev-guest-bench is the go-sev-guest baseline of bench/snp.bench.ts: it verifies one
// SEV-SNP report with its VCEK (chain to go-sev-guest's embedded AMD roots, then the report
// signature) in a loop for a given time and prints verifications per second.
//
// Usage: go-sev-guest-bench REPORT VCEK_DER SECONDS RFC3339_TIME
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/google/go-sev-guest/abi"
	spb "github.com/google/go-sev-guest/proto/sevsnp"
	"github.com/google/go-sev-guest/verify"
)

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: go-sev-guest-bench REPORT VCEK_DER SECONDS RFC3339_TIME")
		os.Exit(2)
	}
	raw, err := os.ReadFile(os.Args[1])
	must(err)
	vcek, err := os.ReadFile(os.Args[2])
	must(err)
	seconds, err := strconv.ParseFloat(os.Args[3], 64)
	must(err)
	now, err := time.Parse(time.RFC3339, os.Args[4])
	must(err)
	// Network off: the ASK and ARK come from go-sev-guest's embedded roots, as ours are pinned.
	options := &verify.Options{DisableCertFetching: true, Now: now}

	once := func() error {
		// Parse every time too: the TypeScript verifier starts from raw bytes as well.
		report, err := abi.ReportToProto(raw)
		if err != nil {
			return err
		}
		return verify.SnpAttestation(&spb.Attestation{Report: report, CertificateChain: &spb.CertificateChain{VcekCert: vcek}}, options)
	}
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
