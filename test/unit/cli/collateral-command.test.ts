// attestor collateral fetch|check, the real CLI in a child process, against a loopback HTTP mirror
// that serves the real vendor files of test/vectors under the vendors' paths (no internet here).
// What the mirror lacks (an AMD CRL, the RIMs of hopper-550, any OCSP answer) it answers 404, as
// a mirror that is missing an item would; the command must then name that item and exit 1.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSnpReport } from '../../../src/attestation/snp/report.ts';
import { projectRoot } from '../../../src/dev/control-plane.ts';
import { vectorBytes, vectorPath } from '../../vectors/paths.ts';

const VBIOS_RIM = 'NV_GPU_VBIOS_1010_0200_882_96005E0001';
const MILAN_CHIP = Buffer.from(parseSnpReport(vectorBytes('snp/milan-gosevguest/report.bin')).chipId).toString('hex');
const ISSUER_CHAIN = encodeURIComponent(readFileSync(vectorPath('tdx/tcbinfo-issuer-chain.pem'), 'utf8'));
/** When the 2023 Intel samples are current (TCB info until 2023-07-18, PCK CRL until 2023-07-08). */
const INTEL_TIME = '2023-06-20T00:00:00Z';

interface Route {
  readonly status: number;
  readonly body?: Uint8Array | string;
  readonly headers?: Record<string, string>;
}

/** The vendors' paths, answered from test/vectors. */
function route(method: string, url: URL): Route {
  const p = url.pathname;
  if (method === 'POST') return { status: 404 }; // OCSP: no real answers in the vectors
  if (p === `/vcek/v1/Milan/${MILAN_CHIP}` && url.searchParams.get('ucodeSPL') === '68')
    return { status: 200, body: vectorBytes('snp/milan-gosevguest/vcek.der') };
  if (p === '/vcek/v1/Milan/cert_chain') return { status: 200, body: vectorBytes('roots/ask_ark_milan.pem') };
  if (p === '/tdx/certification/v4/tcb' && url.searchParams.get('fmspc') === '50806f000000')
    return {
      status: 200,
      body: vectorBytes('tdx/collateral/sample_tcbInfo_response'),
      headers: { 'tcb-info-issuer-chain': ISSUER_CHAIN },
    };
  if (p === '/tdx/certification/v4/qe/identity')
    return {
      status: 200,
      body: vectorBytes('tdx/collateral/sample_qeIdentity_response'),
      headers: { 'sgx-enclave-identity-issuer-chain': ISSUER_CHAIN },
    };
  if (p === '/sgx/certification/v4/pckcrl') return { status: 200, body: vectorBytes('tdx/collateral/pckcrl') };
  if (p === '/IntelSGXRootCA.der') return { status: 200, body: vectorBytes('tdx/collateral/rootcrl.der') };
  const rim = /^\/v1\/rim\/(.+)$/.exec(p);
  if (rim && rim[1] === VBIOS_RIM) {
    const xml = vectorBytes(`nvidia/rims/${VBIOS_RIM}.xml`);
    return { status: 200, body: JSON.stringify({ id: VBIOS_RIM, rim: Buffer.from(xml).toString('base64') }) };
  }
  return { status: 404, body: 'not on this mirror' };
}

function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(projectRoot, 'src/cli/main.ts'), ...args], {
      env: { ...process.env, ...env },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

describe('attestor collateral fetch|check', function () {
  this.timeout(300_000);
  let dir: string;
  let server: Server;
  let base: string;
  const requests: string[] = [];
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'attestor-collateral-cli-'));
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      // Absolute-form URLs arrive when the mirror is also the HTTP proxy (OCSP responders named in certificates).
      const url = new URL(req.url ?? '/', 'http://mirror.invalid');
      requests.push(`${req.method} ${url.host === 'mirror.invalid' ? '' : url.host}${url.pathname}`);
      req.resume();
      req.on('end', () => {
        const r = route(req.method ?? 'GET', url);
        res.writeHead(r.status, r.headers ?? {});
        res.end(r.body === undefined ? undefined : Buffer.from(r.body));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });
  const mirrors = () => [
    '--amd-kds-url',
    base,
    '--intel-pcs-url',
    base,
    '--intel-root-crl-url',
    `${base}/IntelSGXRootCA.der`,
    '--nvidia-rim-url',
    `${base}/v1/rim/`,
    '--nvidia-ocsp-url',
    base,
  ];

  it('fetch fills the cache with the TDX collateral of a quote and a RIM, showing each item, and exits 0; a second run fetches nothing', async () => {
    const cache = join(dir, 'tdx-cache');
    const args = ['collateral', 'fetch', '--cache', cache, '--tdx-quote', vectorPath('tdx/spr-v4/quote.dat')];
    const r = await run([...args, '--rim', VBIOS_RIM, '--no-ocsp', '--at', INTEL_TIME, ...mirrors()]);
    assert.equal(r.code, 0, r.out + r.err);
    for (const file of [
      'tdx/50806f000000/tcbinfo.json',
      'tdx/50806f000000/tcbinfo-issuer-chain.pem',
      'tdx/qeidentity.json',
      'tdx/rootcrl.der',
      `nvidia/rim/${VBIOS_RIM}.xml`,
    ])
      assert.ok(existsSync(join(cache, file)), `${file}\n${r.err}`);
    assert.ok(
      existsSync(join(cache, 'tdx/pckcrl-platform.der')) || existsSync(join(cache, 'tdx/pckcrl-processor.der')),
    );
    // Progress: one line per item on stderr as it completes.
    assert.match(r.err, /^\[1\] fetched /m);
    assert.match(r.err, /^\[5\] fetched /m);
    assert.match(r.out, /^5 items looked up: 5 fetched, 0 current in the cache, 0 expired, 0 missing, 0 failed$/m);
    assert.deepEqual(
      readFileSync(join(cache, 'tdx/rootcrl.der')),
      Buffer.from(vectorBytes('tdx/collateral/rootcrl.der')),
    );

    const before = requests.length;
    const again = await run([...args, '--rim', VBIOS_RIM, '--no-ocsp', '--at', INTEL_TIME, ...mirrors(), '--json']);
    assert.equal(again.code, 0, again.out + again.err);
    const body = JSON.parse(again.out) as { ok: boolean; items: Array<{ state: string }> };
    assert.equal(body.ok, true);
    assert.deepEqual([...new Set(body.items.map((i) => i.state))], ['cached']);
    assert.equal(requests.length, before, 'nothing was fetched again');

    // check: everything present and current at that time.
    const check = await run(['collateral', 'check', '--cache', cache, '--at', INTEL_TIME]);
    assert.equal(check.code, 0, check.out + check.err);
    assert.match(check.out, /^5 items checked at 2023-06-20T00:00:00\.000Z: 0 fetched, 5 current in the cache/m);
  });

  it('fetch exits 1 and names what the mirror lacks: the AMD CRL of an SEV-SNP report, the RIMs and OCSP answers of a GPU', async () => {
    const cache = join(dir, 'snp-gpu-cache');
    const r = await run(
      [
        'collateral',
        'fetch',
        '--cache',
        cache,
        '--snp-report',
        vectorPath('snp/milan-gosevguest/report.bin'),
        '--snp-product',
        'Milan',
        '--gpu-report',
        vectorPath('nvidia/hopper-550/report.hex'),
        '--gpu-certs',
        vectorPath('nvidia/hopper-550/certs.pem'),
        '--at',
        '2025-01-01T00:00:00Z',
        ...mirrors(),
      ],
      // Responders named in the certificates are reached through a proxy: here the mirror.
      { HTTP_PROXY: base, http_proxy: base, HTTPS_PROXY: base, https_proxy: base, NO_PROXY: '', no_proxy: '' },
    );
    assert.equal(r.code, 1, r.out + r.err);
    assert.ok(existsSync(join(cache, `snp/vcek/Milan/${MILAN_CHIP}-4405000000000002.der`)), r.err);
    assert.ok(existsSync(join(cache, 'snp/cert_chain/Milan.pem')), r.err);
    assert.match(r.out, /^ {2}FAILED the Milan VCEK CRL \(snp\/crl\/Milan\.der\): AMD KDS answered 404/m);
    assert.match(r.out, /^ {2}FAILED RIM NV_GPU_DRIVER_GH100_550\.90\.07 .*answered 404/m);
    assert.match(r.out, /^ {2}FAILED the OCSP answer for "NVIDIA GH100 Identity"/m);
    assert.ok(
      requests.some((x) => x.startsWith('POST ')),
      'the OCSP requests reached the mirror',
    );
  });

  it('check exits 1 for a cache with a missing and an expired item, naming both; exit 2 without --cache', async () => {
    const cache = join(dir, 'tdx-cache'); // filled by the first test
    rmSync(join(cache, 'tdx/rootcrl.der'));
    const quote = vectorPath('tdx/spr-v4/quote.dat');
    // The TCB info's nextUpdate is 2023-07-18: a week's validity asked for on 2023-07-15 fails it.
    const r = await run([
      'collateral',
      'check',
      '--cache',
      cache,
      '--tdx-quote',
      quote,
      '--at',
      '2023-07-15T00:00:00Z',
      '--valid-for',
      '168h',
      '--json',
    ]);
    assert.equal(r.code, 1, r.out + r.err);
    const items = (JSON.parse(r.out) as { items: Array<{ state: string; file?: string }> }).items;
    const state = (file: string) => items.find((i) => i.file === file)?.state;
    assert.equal(state('tdx/rootcrl.der'), 'missing');
    assert.equal(state('tdx/50806f000000/tcbinfo.json'), 'expired');
    assert.equal(requests.filter((x) => x.includes('IntelSGXRootCA')).length, 1, 'check never fetches');

    const whole = await run(['collateral', 'check', '--cache', cache, '--at', '2023-08-01T00:00:00Z']);
    assert.equal(whole.code, 1, whole.out);
    assert.match(
      whole.out,
      /^ {2}EXPIRED the TDX TCB info for FMSPC 50806f000000 \(tdx\/50806f000000\/tcbinfo\.json\)/m,
    );

    const usage = await run(['collateral', 'check']);
    assert.equal(usage.code, 2);
    assert.match(usage.err, /^attestor collateral check: required option '--cache <dir>' not specified/);
  });
});
