// Vendor URLs, checked against URLs written out in upstream code and tests: a wrong character
// here is a 404 (or a wrong certificate) only on a connected cluster, where no test runs.
import assert from 'node:assert/strict';
import { parseSnpReport } from '../../../src/attestation/snp/report.ts';
import { kdsCertChainUrl, kdsCrlUrl, kdsHwid, kdsVcekUrl } from '../../../src/collateral/amd-kds.ts';
import {
  INTEL_ROOT_CA_CRL_URL,
  pckCaOf,
  pcsPckCrlUrl,
  pcsTdxQeIdentityUrl,
  pcsTdxTcbInfoUrl,
} from '../../../src/collateral/intel-pcs.ts';
import { nvidiaOcspUrl, nvidiaRimUrl, rimFromServiceAnswer } from '../../../src/collateral/nvidia-services.ts';
import { vectorBytes } from '../../vectors/paths.ts';

describe('collateral: AMD KDS URLs', () => {
  it('VCEK for Milan: full 64-byte hwid, four SPLs (go-sev-guest kds_test.go TestVCEKCertURL)', () => {
    const hwid = new Uint8Array(64);
    hwid[0] = 0xfe;
    hwid[63] = 0xc0;
    assert.equal(
      kdsVcekUrl('Milan', hwid, 0n),
      'https://kdsintf.amd.com/vcek/v1/Milan/fe0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000c0?blSPL=0&teeSPL=0&snpSPL=0&ucodeSPL=0',
    );
  });

  it('VCEK for the real Milan report: its REPORTED_TCB bl=2 tee=0 snp=5 ucode=68', () => {
    const report = parseSnpReport(vectorBytes('snp/milan-gosevguest/report.bin'));
    const chip = Buffer.from(report.chipId).toString('hex');
    assert.equal(
      kdsVcekUrl('Milan', report.chipId, report.reportedTcb),
      `https://kdsintf.amd.com/vcek/v1/Milan/${chip}?blSPL=2&teeSPL=0&snpSPL=5&ucodeSPL=68`,
    );
  });

  it('VCEK for Turin: 8-byte hwid, fmcSPL first, from a mirror base URL (snphost output quoted in tinfoil go-sev-guest tests)', () => {
    const chipId = new Uint8Array(64);
    chipId.set(Buffer.from('6bb1229b7692b710', 'hex'));
    assert.equal(kdsHwid(chipId, 'Turin'), '6bb1229b7692b710');
    assert.equal(
      kdsVcekUrl('Turin', chipId, 0x5200000004010101n, 'https://kds-proxy.tinfoil.sh/'),
      'https://kds-proxy.tinfoil.sh/vcek/v1/Turin/6bb1229b7692b710?fmcSPL=1&blSPL=1&teeSPL=1&snpSPL=4&ucodeSPL=82',
    );
  });

  it('cert_chain and CRL per product and signer (go-sev-guest ProductCertChainURL, CrlLinkByKey)', () => {
    assert.equal(kdsCertChainUrl('Milan'), 'https://kdsintf.amd.com/vcek/v1/Milan/cert_chain');
    assert.equal(kdsCrlUrl('Milan'), 'https://kdsintf.amd.com/vcek/v1/Milan/crl');
    assert.equal(kdsCertChainUrl('Genoa', 'vlek'), 'https://kdsintf.amd.com/vlek/v1/Genoa/cert_chain');
    assert.equal(kdsCrlUrl('Turin', 'vlek'), 'https://kdsintf.amd.com/vlek/v1/Turin/crl');
  });
});

describe('collateral: Intel PCS URLs', () => {
  it('TDX TCB info by FMSPC, with and without an update channel (go-tdx-guest pcs_test.go)', () => {
    assert.equal(
      pcsTdxTcbInfoUrl('50806F000000'),
      'https://api.trustedservices.intel.com/tdx/certification/v4/tcb?fmspc=50806f000000',
    );
    assert.equal(
      pcsTdxTcbInfoUrl('50806f000000', undefined, 'standard'),
      'https://api.trustedservices.intel.com/tdx/certification/v4/tcb?fmspc=50806f000000&update=standard',
    );
  });

  it('TD QE identity (go-tdx-guest pcs_test.go)', () => {
    assert.equal(pcsTdxQeIdentityUrl(), 'https://api.trustedservices.intel.com/tdx/certification/v4/qe/identity');
    assert.equal(
      pcsTdxQeIdentityUrl(undefined, 'early'),
      'https://api.trustedservices.intel.com/tdx/certification/v4/qe/identity?update=early',
    );
  });

  it('PCK CRL for the platform and the processor CA, DER; the root CA CRL', () => {
    assert.equal(
      pcsPckCrlUrl('platform'),
      'https://api.trustedservices.intel.com/sgx/certification/v4/pckcrl?ca=platform&encoding=der',
    );
    assert.equal(
      pcsPckCrlUrl('processor', 'https://pccs.example/'),
      'https://pccs.example/sgx/certification/v4/pckcrl?ca=processor&encoding=der',
    );
    assert.equal(INTEL_ROOT_CA_CRL_URL, 'https://certificates.trustedservices.intel.com/IntelSGXRootCA.der');
  });

  it('picks the CRL by the PCK issuer, and none for an unknown issuer', () => {
    assert.equal(pckCaOf('Intel SGX PCK Platform CA'), 'platform');
    assert.equal(pckCaOf('Intel SGX PCK Processor CA'), 'processor');
    assert.equal(pckCaOf('Intel SGX Root CA'), undefined);
  });
});

describe('collateral: NVIDIA service URLs', () => {
  it('RIM by ID and the OCSP responder (nvtrust local_gpu_verifier config.py)', () => {
    assert.equal(
      nvidiaRimUrl('NV_GPU_DRIVER_GH100_580.95.05'),
      'https://rim.attestation.nvidia.com/v1/rim/NV_GPU_DRIVER_GH100_580.95.05',
    );
    assert.equal(
      nvidiaRimUrl('NV_GPU_VBIOS_1010_0200_882_96005E0001', 'https://mirror.example/rim'),
      'https://mirror.example/rim/NV_GPU_VBIOS_1010_0200_882_96005E0001',
    );
    assert.equal(nvidiaOcspUrl(), 'https://ocsp.ndis.nvidia.com/');
  });

  it('refuses a RIM ID that could leave the URL path or the cache folder', () => {
    for (const id of ['../etc/passwd', 'a/b', 'x?y=1', '', 'NV..x'])
      assert.throws(() => nvidiaRimUrl(id), /not a RIM ID/);
  });

  it('takes the XML out of a RIM service answer and names what is wrong with one that is not', () => {
    const answer = (o: unknown) => new Uint8Array(Buffer.from(JSON.stringify(o)));
    assert.deepEqual(rimFromServiceAnswer(answer({ id: 'R', rim: Buffer.from('<x/>').toString('base64') }), 'R'), {
      xml: '<x/>',
    });
    assert.deepEqual(rimFromServiceAnswer(new Uint8Array(Buffer.from('<html>')), 'R'), {
      invalid: 'the answer is not JSON',
    });
    assert.deepEqual(rimFromServiceAnswer(answer({ id: 'R' }), 'R'), { invalid: 'the answer has no "rim" member' });
    assert.deepEqual(rimFromServiceAnswer(answer({ id: 'S', rim: 'eA==' }), 'R'), {
      invalid: 'the answer is for RIM "S"',
    });
  });
});
