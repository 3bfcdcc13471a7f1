// The store with fetching on, against a fake vendor that serves the real files for exactly the
// expected URLs: a miss is fetched once, stored atomically, and served from disk afterwards;
// anything that is not the collateral asked for is refused with a reason and never stored.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CollateralStore } from '../../../src/collateral/store.ts';
import {
  answer,
  COLLATERAL_TIME,
  FakeVendor,
  filesIn,
  MILAN_CHIP,
  MILAN_TCB,
  MILAN_VCEK,
  MILAN_VCEK_FILE,
  MILAN_VCEK_URL,
  removeDir,
  TCB_SIGNING_CHAIN,
  tempDir,
  vectorBytes,
} from './fixtures.ts';

const chip = new Uint8Array(Buffer.from(MILAN_CHIP, 'hex'));
const TCB_INFO_URL = 'https://api.trustedservices.intel.com/tdx/certification/v4/tcb?fmspc=50806f000000';
const RIM_ID = 'NV_GPU_VBIOS_1010_0200_882_96005E0001';

describe('collateral store: fetching on', () => {
  let dir: string;
  let vendor: FakeVendor;
  const store = (options: Partial<ConstructorParameters<typeof CollateralStore>[0]> = {}) =>
    new CollateralStore({ dir, network: true, fetch: vendor.fetch, now: () => COLLATERAL_TIME, ...options });
  beforeEach(() => {
    dir = tempDir('collateral-fetch');
    vendor = new FakeVendor();
  });
  afterEach(() => {
    vendor.assertNoUnexpectedCalls();
    removeDir(dir);
  });

  it('fetches a missing VCEK from KDS, stores exactly its bytes, and serves the next lookup from disk', async () => {
    vendor.route(MILAN_VCEK_URL, answer(MILAN_VCEK));
    const first = await store().snpVcek('Milan', chip, MILAN_TCB);
    assert.equal(first.status === 'found' && first.from, 'vendor');
    assert.deepEqual(vendor.calls, [MILAN_VCEK_URL]);
    // Only the entry itself: no temp file left behind by the write-then-rename.
    assert.deepEqual(filesIn(dir), [MILAN_VCEK_FILE]);
    assert.deepEqual(new Uint8Array(readFileSync(join(dir, MILAN_VCEK_FILE))), MILAN_VCEK);

    const second = await store().snpVcek('Milan', chip, MILAN_TCB);
    assert.equal(second.status === 'found' && second.from, 'cache');
    assert.deepEqual(second.status === 'found' && second.value, MILAN_VCEK);
    assert.equal(vendor.calls.length, 1, 'the second lookup must not reach the vendor');
  });

  it('asks a configured mirror instead of the vendor', async () => {
    const url = `https://kds-mirror.example/vcek/v1/Milan/${MILAN_CHIP}?blSPL=2&teeSPL=0&snpSPL=5&ucodeSPL=68`;
    vendor.route(url, answer(MILAN_VCEK));
    const r = await store({ endpoints: { amdKds: 'https://kds-mirror.example/' } }).snpVcek('Milan', chip, MILAN_TCB);
    assert.equal(r.status, 'found');
    assert.deepEqual(vendor.calls, [url]);
  });

  it('stores TCB info with the issuer chain PCS sends URL-encoded in a header, as PEM', async () => {
    const body = vectorBytes('tdx/collateral/sample_tcbInfo_response');
    vendor.route(TCB_INFO_URL, answer(body, 200, { 'tcb-info-issuer-chain': encodeURIComponent(TCB_SIGNING_CHAIN) }));
    const r = await store().tdxTcbInfo('50806f000000');
    assert.equal(r.status === 'found' && r.value.issuerChain, TCB_SIGNING_CHAIN);
    assert.deepEqual(filesIn(dir), ['tdx/50806f000000/tcbinfo-issuer-chain.pem', 'tdx/50806f000000/tcbinfo.json']);
    assert.deepEqual(new Uint8Array(readFileSync(join(dir, 'tdx/50806f000000/tcbinfo.json'))), body);
    assert.equal(readFileSync(join(dir, 'tdx/50806f000000/tcbinfo-issuer-chain.pem'), 'utf8'), TCB_SIGNING_CHAIN);
  });

  it('stores the XML of a RIM service answer under the RIM ID', async () => {
    const xml = Buffer.from(vectorBytes(`nvidia/rims/${RIM_ID}.xml`)).toString('utf8');
    vendor.route(
      `https://rim.attestation.nvidia.com/v1/rim/${RIM_ID}`,
      answer(JSON.stringify({ id: RIM_ID, rim: Buffer.from(xml).toString('base64') })),
    );
    const r = await store().nvidiaRim(RIM_ID);
    assert.equal(r.status === 'found' && r.value, xml);
    assert.equal(readFileSync(join(dir, `nvidia/rim/${RIM_ID}.xml`), 'utf8'), xml);
  });

  it('refuses a non-200 answer with the service, the item and the URL, and stores nothing', async () => {
    vendor.route(MILAN_VCEK_URL, answer('Not Found', 404));
    const r = await store().snpVcek('Milan', chip, MILAN_TCB);
    assert.deepEqual(r, {
      status: 'failed',
      error: `AMD KDS answered 404 for the VCEK of Milan chip ${MILAN_CHIP.slice(0, 16)}… at TCB 4405000000000002 (${MILAN_VCEK_URL})`,
    });
    assert.deepEqual(filesIn(dir), []);
  });

  it('refuses an answer over the size limit, and stores nothing', async () => {
    vendor.route(MILAN_VCEK_URL, answer(new Uint8Array(101)));
    const r = await store({ limits: { maxBytes: 100 } }).snpVcek('Milan', chip, MILAN_TCB);
    assert.equal(r.status, 'failed');
    assert.match(r.status === 'failed' ? r.error : '', /^AMD KDS answered more than 100 bytes for the VCEK of Milan/);
    assert.deepEqual(filesIn(dir), []);
  });

  it('refuses a 200 answer that is not what was asked for (an error page), and stores nothing', async () => {
    vendor.route(MILAN_VCEK_URL, answer('<html>rate limited</html>'));
    const r = await store().snpVcek('Milan', chip, MILAN_TCB);
    assert.equal(r.status, 'failed');
    assert.match(
      r.status === 'failed' ? r.error : '',
      /answered something else than the VCEK .*: not an X\.509 certificate$/,
    );
    assert.deepEqual(filesIn(dir), []);
  });

  it('reports an unreachable vendor without the credentials of a mirror URL', async () => {
    const url = `https://user:s3cret@kds-mirror.example/vcek/v1/Milan/${MILAN_CHIP}?blSPL=2&teeSPL=0&snpSPL=5&ucodeSPL=68`;
    vendor.route(url, () =>
      Promise.reject(
        Object.assign(new Error('connect ECONNREFUSED for https://user:s3cret@kds-mirror.example'), {
          code: 'ECONNREFUSED',
        }),
      ),
    );
    const r = await store({ endpoints: { amdKds: 'https://user:s3cret@kds-mirror.example' } }).snpVcek(
      'Milan',
      chip,
      MILAN_TCB,
    );
    assert.equal(r.status, 'failed');
    const error = r.status === 'failed' ? r.error : '';
    assert.match(error, /^AMD KDS did not answer for the VCEK .*ECONNREFUSED/);
    assert.doesNotMatch(error, /s3cret/);
  });

  it('asks the vendor once for lookups of the same item that overlap', async () => {
    vendor.route(MILAN_VCEK_URL, answer(MILAN_VCEK));
    const s = store();
    const [a, b] = await Promise.all([s.snpVcek('Milan', chip, MILAN_TCB), s.snpVcek('Milan', chip, MILAN_TCB)]);
    assert.equal(a.status, 'found');
    assert.equal(b.status, 'found');
    assert.equal(vendor.calls.length, 1);
  });

  it('still returns what it fetched when the cache cannot be written, with a warning', async () => {
    const notADir = join(dir, 'file');
    writeFileSync(notADir, 'x');
    vendor.route(MILAN_VCEK_URL, answer(MILAN_VCEK));
    const r = await store({ dir: notADir }).snpVcek('Milan', chip, MILAN_TCB);
    assert.equal(r.status, 'found');
    assert.match(
      r.status === 'found' ? (r.warning ?? '') : '',
      /^fetched but not stored in snp\/vcek\/Milan\/.*ENOTDIR/,
    );
  });
});
