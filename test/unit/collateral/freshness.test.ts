// Collateral that expires (CRLs, TCB info, QE identity): used while current; once its nextUpdate
// has passed, fetched again where fetching is on, and otherwise used with a note that it is
// stale (the verifier then decides what stale collateral means). Immutable items never expire.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSnpSimulator } from '../../../src/attestation/sim/snp.ts';
import { CollateralStore } from '../../../src/collateral/store.ts';
import {
  answer,
  COLLATERAL_TIME,
  FakeVendor,
  MILAN_CHIP,
  MILAN_TCB,
  MILAN_VCEK,
  MILAN_VCEK_FILE,
  put,
  removeDir,
  tempDir,
  vectorBytes,
} from './fixtures.ts';

const TCB_INFO_URL = 'https://api.trustedservices.intel.com/tdx/certification/v4/tcb?fmspc=50806f000000';
const PCK_CRL_URL = 'https://api.trustedservices.intel.com/sgx/certification/v4/pckcrl?ca=platform&encoding=der';
const TCB_INFO_FILE = 'tdx/50806f000000/tcbinfo.json';
/** After the samples' nextUpdate (TCB info 2023-07-18, PCK CRL 2023-07-08). */
const LATER = new Date('2024-01-01T00:00:00Z');

describe('collateral store: freshness of CRLs and TCB info', () => {
  let dir: string;
  let vendor: FakeVendor;
  const store = (now: Date, network: boolean) =>
    new CollateralStore({ dir, network, fetch: vendor.fetch, now: () => now });
  const sample = Buffer.from(vectorBytes('tdx/collateral/sample_tcbInfo_response')).toString('utf8');
  // The store checks FMSPC and nextUpdate, not signatures (the verifier does): a re-dated copy
  // stands in for the newer TCB info PCS would publish.
  const newer = sample.replace('"nextUpdate":"2023-07-18T08:42:58Z"', '"nextUpdate":"2024-02-01T00:00:00Z"');
  beforeEach(() => {
    dir = tempDir('collateral-fresh');
    vendor = new FakeVendor();
    put(dir, TCB_INFO_FILE, sample);
    put(dir, 'tdx/pckcrl-platform.der', vectorBytes('tdx/collateral/pckcrl'));
  });
  afterEach(() => {
    vendor.assertNoUnexpectedCalls();
    removeDir(dir);
  });

  it('uses current collateral from the cache without asking the vendor, even with fetching on', async () => {
    const r = await store(COLLATERAL_TIME, true).tdxTcbInfo('50806f000000');
    assert.deepEqual(r.status === 'found' && [r.from, r.stale], ['cache', undefined]);
    assert.deepEqual(vendor.calls, []);
  });

  it('offline, keeps using expired TCB info and a PCK CRL, and says they are stale and since when', async () => {
    const tcb = await store(LATER, false).tdxTcbInfo('50806f000000');
    assert.equal(
      tcb.status === 'found' && tcb.stale,
      'the TDX TCB info for FMSPC 50806f000000 is stale: its nextUpdate 2023-07-18T08:42:58.000Z has passed; fetching is off, so the cached copy is used',
    );
    const crl = await store(LATER, false).tdxPckCrl('platform');
    assert.match(
      crl.status === 'found' ? (crl.stale ?? '') : '',
      /^the PCK CRL of the platform CA is stale: its nextUpdate 2023-07-08T07:27:52\.000Z has passed/,
    );
    assert.deepEqual(vendor.calls, []);
  });

  it('online, fetches expired TCB info again and replaces the cached copy', async () => {
    vendor.route(TCB_INFO_URL, answer(newer));
    const r = await store(LATER, true).tdxTcbInfo('50806f000000');
    assert.deepEqual(r.status === 'found' && [r.from, r.stale], ['vendor', undefined]);
    assert.equal(readFileSync(join(dir, TCB_INFO_FILE), 'utf8'), newer);
    assert.deepEqual(vendor.calls, [TCB_INFO_URL]);
  });

  it('online, keeps the stale copy when the vendor cannot give a newer one, and says why', async () => {
    vendor.route(TCB_INFO_URL, answer('busy', 503));
    const r = await store(LATER, true).tdxTcbInfo('50806f000000');
    assert.equal(r.status, 'found');
    assert.equal(r.status === 'found' && r.from, 'cache');
    assert.match(
      r.status === 'found' ? (r.stale ?? '') : '',
      /has passed; fetching a newer one failed: Intel PCS answered 503 for the TDX TCB info/,
    );
    assert.equal(readFileSync(join(dir, TCB_INFO_FILE), 'utf8'), sample);
  });

  it("online, says so when even the vendor's copy is past its nextUpdate", async () => {
    vendor.route(PCK_CRL_URL, answer(vectorBytes('tdx/collateral/pckcrl')));
    const r = await store(LATER, true).tdxPckCrl('platform');
    assert.equal(r.status === 'found' && r.from, 'vendor');
    assert.match(r.status === 'found' ? (r.stale ?? '') : '', /has passed, even in the copy just fetched$/);
  });

  it('refreshes an AMD CRL after its nextUpdate', async function () {
    this.timeout(120_000);
    const sim = await createSnpSimulator({ product: 'Milan', rsaModulusLength: 2048 });
    put(dir, 'snp/crl/Milan.der', await sim.crl({ nextUpdate: new Date('2025-01-01T00:00:00Z') }));
    const fresh = await sim.crl({
      thisUpdate: new Date('2025-05-01T00:00:00Z'),
      nextUpdate: new Date('2025-07-01T00:00:00Z'),
    });
    vendor.route('https://kdsintf.amd.com/vcek/v1/Milan/crl', answer(fresh));
    const r = await store(new Date('2025-06-01T00:00:00Z'), true).snpCrl('Milan');
    assert.deepEqual(r.status === 'found' && [r.from, r.stale], ['vendor', undefined]);
    assert.deepEqual(new Uint8Array(readFileSync(join(dir, 'snp/crl/Milan.der'))), fresh);
  });

  it('never fetches a cached VCEK again: it has no nextUpdate, its key names one certificate', async () => {
    put(dir, MILAN_VCEK_FILE, MILAN_VCEK);
    const r = await store(new Date('2040-01-01T00:00:00Z'), true).snpVcek(
      'Milan',
      new Uint8Array(Buffer.from(MILAN_CHIP, 'hex')),
      MILAN_TCB,
    );
    assert.deepEqual(r.status === 'found' && [r.from, r.stale], ['cache', undefined]);
    assert.deepEqual(vendor.calls, []);
  });
});
