"""Times NVIDIA's local GPU verifier (nv-local-gpu-verifier, PyPI) on a report and its chain.

Usage: nvtrust_bench.py REPORT.hex CERTS.pem SECONDS -> prints verifications per second.
Each iteration does what cc_admin.py does for one GPU's report, without NVML, RIMs or network:
parse the report (AttestationReport), verify the certificate chain with the FWID check
(CcAdminUtils.verify_gpu_certificate_chain) and verify the report signature (verify_signature).
"""
import logging
import re
import sys
import time

from OpenSSL import crypto
from verifier.attestation import AttestationReport
from verifier.cc_admin_utils import CcAdminUtils
from verifier.config import HopperSettings, event_log, info_log

event_log.setLevel(logging.CRITICAL)
info_log.setLevel(logging.CRITICAL)


def main():
    report = bytes.fromhex(open(sys.argv[1]).read().strip())
    pems = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?", open(sys.argv[2]).read(), re.S)
    seconds = float(sys.argv[3])
    settings = HopperSettings()

    def once():
        chain = [crypto.load_certificate(crypto.FILETYPE_PEM, p.encode()) for p in pems]
        ar = AttestationReport(report, settings)
        fwid = ar.get_response_message().get_opaque_data().get_data("OPAQUE_FIELD_ID_FWID").hex()
        chain_ok = CcAdminUtils.verify_gpu_certificate_chain(chain, settings, fwid)
        if isinstance(chain_ok, tuple):
            chain_ok = chain_ok[0]
        sig_ok = ar.verify_signature(chain[0].to_cryptography(), settings.signature_length, settings.HashFunction)
        return chain_ok and sig_ok

    if not once():
        raise SystemExit("nvtrust did not verify the report")
    n = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        if not once():
            raise SystemExit("nvtrust did not verify the report")
        n += 1
    print(n / (time.perf_counter() - start))


if __name__ == "__main__":
    main()
