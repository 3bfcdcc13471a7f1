// From evidence to the collateral it needs: the real Milan report to its VCEK (and chain), the
// real SPR quote to Intel's collateral for its FMSPC and PCK CA, the real Hopper report to its
// RIM IDs; and what comes back verifies with the project's own verifiers.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { verifySnp } from '../../../src/attestation/snp/index.ts';
import { verifyTdx } from '../../../src/attestation/tdx/verify.ts';
import { gpuRimIds, gpuRims } from '../../../src/collateral/gpu.ts';
import { snpCertificates, snpCrl } from '../../../src/collateral/snp.ts';
import { CollateralStore } from '../../../src/collateral/store.ts';
import { quotePlatform, tdxCollateral } from '../../../src/collateral/tdx.ts';
import {
  answer,
  COLLATERAL_TIME,
  FakeVendor,
  filesIn,
  MILAN_REPORT,
  MILAN_VCEK,
  MILAN_VCEK_FILE,
  MILAN_VCEK_URL,
  put,
  removeDir,
  TCB_SIGNING_CHAIN,
  tempDir,
  vectorBytes,
  vectorPath,
} from './fixtures.ts';

const SNP_TIME = new Date('2025-06-01T00:00:00Z');
const MILAN_CHAIN = vectorBytes('roots/ask_ark_milan.pem');
const SPR_QUOTE = vectorBytes('tdx/spr-v4/quote.dat');
const hopper535 = {
  report: new Uint8Array(Buffer.from(readFileSync(vectorPath('nvidia/hopper-535/report.hex'), 'utf8').trim(), 'hex')),
  certificateChain: readFileSync(vectorPath('nvidia/hopper-535/certs.pem'), 'utf8'),
};

describe('collateral for evidence', () => {
  let dir: string;
  let vendor: FakeVendor;
  const store = (network: boolean, now = SNP_TIME) =>
    new CollateralStore({ dir, network, fetch: vendor.fetch, now: () => now });
  beforeEach(() => {
    dir = tempDir('collateral-evidence');
    vendor = new FakeVendor();
  });
  afterEach(() => {
    vendor.assertNoUnexpectedCalls();
    removeDir(dir);
  });

  describe('SEV-SNP', () => {
    it('finds the cached VCEK of a version 2 report (no product in it) under any product, with the chain, and it verifies the report', async () => {
      put(dir, MILAN_VCEK_FILE, MILAN_VCEK);
      put(dir, 'snp/cert_chain/Milan.pem', MILAN_CHAIN);
      const r = await snpCertificates(store(true), MILAN_REPORT);
      assert.deepEqual(vendor.calls, [], 'a cache hit needs no vendor');
      assert.equal(r.product, 'Milan');
      assert.deepEqual(r.notes, []);
      assert.equal(r.pem!.match(/BEGIN CERTIFICATE/g)!.length, 3);
      assert.deepEqual(verifySnp({ report: MILAN_REPORT, certificates: r.pem! }, { at: SNP_TIME }).reasons, []);
    });

    it('does not guess the product at KDS for a version 2 report, and says to name it', async () => {
      const r = await snpCertificates(store(true), MILAN_REPORT);
      assert.equal(r.pem, undefined);
      assert.deepEqual(vendor.calls, []);
      assert.match(
        r.notes.join('\n'),
        /version 2\) does not name its product .* name the product to fetch it from KDS/,
      );
    });

    it('fetches the VCEK and the ASK/ARK chain from KDS once the product is named, and the result verifies', async () => {
      vendor
        .route(MILAN_VCEK_URL, answer(MILAN_VCEK))
        .route('https://kdsintf.amd.com/vcek/v1/Milan/cert_chain', answer(MILAN_CHAIN));
      const r = await snpCertificates(store(true), MILAN_REPORT, { product: 'Milan' });
      assert.deepEqual(vendor.calls, [MILAN_VCEK_URL, 'https://kdsintf.amd.com/vcek/v1/Milan/cert_chain']);
      assert.deepEqual(filesIn(dir), ['snp/cert_chain/Milan.pem', MILAN_VCEK_FILE]);
      assert.equal(verifySnp({ report: MILAN_REPORT, certificates: r.pem! }, { at: SNP_TIME }).verified, true);
    });

    it('returns the VCEK alone when no chain can be had: the pinned ASK/ARK still verify it', async () => {
      put(dir, MILAN_VCEK_FILE, MILAN_VCEK);
      const r = await snpCertificates(store(false), MILAN_REPORT, { product: 'Milan' });
      assert.equal(r.pem!.match(/BEGIN CERTIFICATE/g)!.length, 1);
      assert.match(r.notes[0]!, /ASK\/ARK chain is not in the cache .* \(the pinned ASK\/ARK are used\)$/);
      assert.equal(verifySnp({ report: MILAN_REPORT, certificates: r.pem! }, { at: SNP_TIME }).verified, true);
    });

    it('looks up nothing for a VLEK-signed report or one with a masked CHIP_ID', async () => {
      const vlek = MILAN_REPORT.slice();
      vlek[0x48] = 1 << 2; // SIGNING_KEY = 1 (VLEK)
      assert.match(
        (await snpCertificates(store(true), vlek, { product: 'Milan' })).notes[0]!,
        /VLEK, which KDS does not serve/,
      );
      const masked = MILAN_REPORT.slice();
      masked.fill(0, 0x1a0, 0x1e0);
      assert.match((await snpCertificates(store(true), masked, { product: 'Milan' })).notes[0]!, /masks CHIP_ID/);
      assert.deepEqual(vendor.calls, []);
    });

    it('gives a CRL only for a known product: from the report, the VCEK found, or the operator', async () => {
      assert.match(
        (await snpCrl(store(false), MILAN_REPORT)).notes[0]!,
        /no CRL: the report \(version 2\) does not name its product/,
      );
      const r = await snpCrl(store(false), MILAN_REPORT, { foundProduct: 'Milan' });
      assert.deepEqual(r.notes, ['the Milan VCEK CRL is not in the cache (snp/crl/Milan.der) and fetching is off']);
    });
  });

  describe('TDX', () => {
    const prepared = () => {
      put(dir, 'tdx/50806f000000/tcbinfo.json', vectorBytes('tdx/collateral/sample_tcbInfo_response'));
      put(dir, 'tdx/50806f000000/tcbinfo-issuer-chain.pem', TCB_SIGNING_CHAIN);
      put(dir, 'tdx/qeidentity.json', vectorBytes('tdx/collateral/sample_qeIdentity_response'));
      put(dir, 'tdx/qeidentity-issuer-chain.pem', TCB_SIGNING_CHAIN);
      put(dir, 'tdx/pckcrl-platform.der', vectorBytes('tdx/collateral/pckcrl'));
      put(dir, 'tdx/rootcrl.der', vectorBytes('tdx/collateral/rootcrl.der'));
    };

    it("reads FMSPC and PCK CA from the quote's PCK chain", () => {
      assert.deepEqual(quotePlatform(SPR_QUOTE), { fmspc: '50806f000000', ca: 'platform' });
      assert.equal(quotePlatform(new Uint8Array(100)), undefined);
    });

    it('assembles the cached collateral for the quote, which the verifier accepts in full', async () => {
      prepared();
      const r = await tdxCollateral(store(false, COLLATERAL_TIME), SPR_QUOTE);
      assert.deepEqual(r.notes, []);
      const v = verifyTdx({ quote: SPR_QUOTE }, { at: COLLATERAL_TIME, collateral: r.collateral! });
      assert.deepEqual(v.reasons, []);
      assert.equal(v.claims.tcbStatus, 'NotSupported');
      assert.equal(v.claims.qeTcbStatus, 'UpToDate');
    });

    it('fetches each piece from PCS at the URL the quote implies', async () => {
      const chainHeader = encodeURIComponent(TCB_SIGNING_CHAIN);
      const urls = {
        tcb: 'https://api.trustedservices.intel.com/tdx/certification/v4/tcb?fmspc=50806f000000',
        qe: 'https://api.trustedservices.intel.com/tdx/certification/v4/qe/identity',
        pck: 'https://api.trustedservices.intel.com/sgx/certification/v4/pckcrl?ca=platform&encoding=der',
        root: 'https://certificates.trustedservices.intel.com/IntelSGXRootCA.der',
      };
      vendor
        .route(
          urls.tcb,
          answer(vectorBytes('tdx/collateral/sample_tcbInfo_response'), 200, { 'tcb-info-issuer-chain': chainHeader }),
        )
        .route(
          urls.qe,
          answer(vectorBytes('tdx/collateral/sample_qeIdentity_response'), 200, {
            'sgx-enclave-identity-issuer-chain': chainHeader,
          }),
        )
        .route(urls.pck, answer(vectorBytes('tdx/collateral/pckcrl')))
        .route(urls.root, answer(vectorBytes('tdx/collateral/rootcrl.der')));
      const r = await tdxCollateral(store(true, COLLATERAL_TIME), SPR_QUOTE);
      assert.deepEqual([...vendor.calls].sort(), Object.values(urls).sort());
      assert.deepEqual(verifyTdx({ quote: SPR_QUOTE }, { at: COLLATERAL_TIME, collateral: r.collateral! }).reasons, []);
    });

    it('says what is missing offline, and returns no collateral when nothing is cached', async () => {
      const r = await tdxCollateral(store(false, COLLATERAL_TIME), SPR_QUOTE);
      assert.equal(r.collateral, undefined);
      assert.deepEqual(r.notes, [
        'the TDX TCB info for FMSPC 50806f000000 is not in the cache (tdx/50806f000000/tcbinfo.json) and fetching is off',
        'the TD QE identity is not in the cache (tdx/qeidentity.json) and fetching is off',
        'the PCK CRL of the platform CA is not in the cache (tdx/pckcrl-platform.der) and fetching is off',
        'the Intel SGX Root CA CRL is not in the cache (tdx/rootcrl.der) and fetching is off',
      ]);
    });
  });

  describe('NVIDIA GPU', () => {
    const VBIOS = 'NV_GPU_VBIOS_1010_0200_882_96005E0001';
    const DRIVER = 'NV_GPU_DRIVER_GH100_535.86.09';

    it('derives the driver RIM ID (chip from the device chain) and the VBIOS RIM ID from the real report', () => {
      assert.deepEqual(gpuRimIds(hopper535.report, hopper535.certificateChain), { driver: DRIVER, vbios: VBIOS });
      assert.deepEqual(
        gpuRimIds(hopper535.report, ''),
        { vbios: VBIOS },
        'no chip without the chain: no driver RIM ID',
      );
      assert.deepEqual(gpuRimIds(new Uint8Array(10), hopper535.certificateChain), {});
    });

    it('returns the cached VBIOS RIM under its ID and notes the missing driver RIM', async () => {
      put(dir, `nvidia/rim/${VBIOS}.xml`, vectorBytes(`nvidia/rims/${VBIOS}.xml`));
      const r = await gpuRims(store(false), hopper535);
      assert.deepEqual(
        r.rims.map((x) => x.id),
        [VBIOS],
      );
      assert.deepEqual(r.notes, [`RIM ${DRIVER} is not in the cache (nvidia/rim/${DRIVER}.xml) and fetching is off`]);
    });

    it('fetches both RIMs from the RIM service', async () => {
      const serve = (file: string, id: string) =>
        answer(JSON.stringify({ id, rim: Buffer.from(vectorBytes(`nvidia/rims/${file}.xml`)).toString('base64') }));
      // The service's driver RIM for 535.86.09 is not public; a test RIM of that driver stands in (the store does not verify signatures).
      vendor
        .route(
          `https://rim.attestation.nvidia.com/v1/rim/${DRIVER}`,
          serve('NV_GPU_DRIVER_GH100_535.86.09_measurement_mismatch', DRIVER),
        )
        .route(`https://rim.attestation.nvidia.com/v1/rim/${VBIOS}`, serve(VBIOS, VBIOS));
      const r = await gpuRims(store(true), hopper535);
      assert.deepEqual(r.rims.map((x) => x.id).sort(), [DRIVER, VBIOS]);
      assert.deepEqual(r.notes, []);
      assert.deepEqual(filesIn(dir), [`nvidia/rim/${DRIVER}.xml`, `nvidia/rim/${VBIOS}.xml`]);
    });
  });
});
