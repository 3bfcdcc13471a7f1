// The store reading a prepared cache with fetching off: real vendor files come back under the
// keys the evidence implies, a miss says what is missing and where, and fetch is never called.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CollateralStore } from '../../../src/collateral/store.ts';
import {
  COLLATERAL_TIME,
  FakeVendor,
  MILAN_CHIP,
  MILAN_TCB,
  MILAN_VCEK,
  MILAN_VCEK_FILE,
  put,
  removeDir,
  TCB_SIGNING_CHAIN,
  tempDir,
  vectorBytes,
  vectorPath,
} from './fixtures.ts';

const VBIOS_RIM = 'NV_GPU_VBIOS_1010_0200_882_96005E0001';

describe('collateral store: a prepared cache, fetching off', () => {
  const dir = tempDir('collateral-cache');
  const vendor = new FakeVendor();
  const store = new CollateralStore({ dir, fetch: vendor.fetch, now: () => COLLATERAL_TIME });
  const chip = new Uint8Array(Buffer.from(MILAN_CHIP, 'hex'));

  before(() => {
    put(dir, MILAN_VCEK_FILE, MILAN_VCEK);
    put(dir, 'snp/cert_chain/Milan.pem', vectorBytes('roots/ask_ark_milan.pem'));
    put(dir, 'tdx/50806f000000/tcbinfo.json', vectorBytes('tdx/collateral/sample_tcbInfo_response'));
    put(dir, 'tdx/50806f000000/tcbinfo-issuer-chain.pem', TCB_SIGNING_CHAIN);
    put(dir, 'tdx/qeidentity.json', vectorBytes('tdx/collateral/sample_qeIdentity_response'));
    put(dir, 'tdx/pckcrl-platform.der', vectorBytes('tdx/collateral/pckcrl'));
    put(dir, 'tdx/rootcrl.der', vectorBytes('tdx/collateral/rootcrl.der'));
    put(dir, `nvidia/rim/${VBIOS_RIM}.xml`, vectorBytes(`nvidia/rims/${VBIOS_RIM}.xml`));
  });
  afterEach(() => assert.deepEqual(vendor.calls, [], 'fetching is off: the vendor must never be asked'));
  after(() => removeDir(dir));

  it('returns the Milan VCEK for its chip at its reported TCB', async () => {
    const r = await store.snpVcek('Milan', chip, MILAN_TCB);
    assert.equal(r.status, 'found');
    assert.equal(r.status === 'found' && r.from, 'cache');
    assert.deepEqual(r.status === 'found' && r.value, MILAN_VCEK);
  });

  it('has no VCEK for the same chip at another TCB, and says which file it looked for', async () => {
    const r = await store.snpVcek('Milan', chip, MILAN_TCB + (1n << 48n)); // SNP SPL 6 instead of 5
    assert.deepEqual(r, {
      status: 'missing',
      reason: `the VCEK of Milan chip ${MILAN_CHIP.slice(0, 16)}… at TCB 4406000000000002 is not in the cache (snp/vcek/Milan/${MILAN_CHIP}-4406000000000002.der) and fetching is off`,
    });
  });

  it('returns the ASK/ARK chain of the product, and none for another product', async () => {
    const r = await store.snpCertChain('Milan');
    assert.equal(r.status === 'found' && r.value, readFileSync(vectorPath('roots/ask_ark_milan.pem'), 'utf8'));
    assert.equal((await store.snpCertChain('Genoa')).status, 'missing');
  });

  it('returns TDX TCB info by FMSPC (either case) with its issuer chain, and none for another FMSPC', async () => {
    const r = await store.tdxTcbInfo('50806F000000');
    assert.equal(r.status, 'found');
    assert.equal(
      r.status === 'found' && r.value.body,
      readFileSync(vectorPath('tdx/collateral/sample_tcbInfo_response'), 'utf8'),
    );
    assert.equal(r.status === 'found' && r.value.issuerChain, TCB_SIGNING_CHAIN);
    assert.equal(r.status === 'found' && r.stale, undefined);
    assert.equal((await store.tdxTcbInfo('90c06f000000')).status, 'missing');
  });

  it('returns the QE identity (without an issuer chain file: none), the platform PCK CRL and the root CRL', async () => {
    const qe = await store.tdxQeIdentity();
    assert.equal(qe.status === 'found' && JSON.parse(qe.value.body).enclaveIdentity.id, 'TD_QE');
    assert.equal(qe.status === 'found' && qe.value.issuerChain, undefined);
    const pck = await store.tdxPckCrl('platform');
    assert.deepEqual(pck.status === 'found' && pck.value.crl, vectorBytes('tdx/collateral/pckcrl'));
    assert.equal((await store.tdxPckCrl('processor')).status, 'missing');
    const root = await store.tdxRootCrl();
    assert.deepEqual(root.status === 'found' && root.value, vectorBytes('tdx/collateral/rootcrl.der'));
  });

  it('returns a RIM by its ID, and none for another ID', async () => {
    const r = await store.nvidiaRim(VBIOS_RIM);
    assert.equal(r.status === 'found' && r.value, readFileSync(vectorPath(`nvidia/rims/${VBIOS_RIM}.xml`), 'utf8'));
    assert.equal((await store.nvidiaRim('NV_GPU_DRIVER_GH100_535.86.09')).status, 'missing');
  });

  it('reports a damaged file instead of using it', async () => {
    put(dir, 'snp/crl/Milan.der', '<html>Service Unavailable</html>');
    const r = await store.snpCrl('Milan');
    assert.equal(r.status, 'failed');
    assert.match(r.status === 'failed' ? r.error : '', /^the cached snp\/crl\/Milan\.der is not usable: /);
  });

  it('refuses TCB info filed under another FMSPC than its own', async () => {
    put(dir, 'tdx/aaaaaaaaaaaa/tcbinfo.json', vectorBytes('tdx/collateral/sample_tcbinfo_response_v5'));
    assert.deepEqual(await store.tdxTcbInfo('aaaaaaaaaaaa'), {
      status: 'failed',
      error: 'the cached tdx/aaaaaaaaaaaa/tcbinfo.json is not usable: it is for FMSPC 90c06f000000',
    });
  });

  it('refuses keys that could leave the cache folder, without touching the disk', async () => {
    assert.equal((await store.nvidiaRim('../../etc/passwd')).status, 'failed');
    assert.equal((await store.tdxTcbInfo('../secrets')).status, 'failed');
  });
});
