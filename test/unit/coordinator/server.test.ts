// The Coordinator's HTTP layer, driven with curl (issue 7, items 7 and 10): who is asked first,
// how large a body may be (sized from real evidence), and what a node gets when it asks too often.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeSnpCertTable } from '../../../src/attestation/snp/cert-table.ts';
import type { Authenticator } from '../../../src/coordinator/auth.ts';
import { type CoordinatorServer, startCoordinatorServer } from '../../../src/coordinator/server.ts';
import { silentLogger } from '../../../src/observability/log.ts';
import {
  ATTEST_PATH,
  type EvidenceRequest,
  MAX_EVIDENCE_BODY_BYTES,
  NONCE_PATH,
  WATCH_PATH,
} from '../../../src/protocol/messages.ts';
import { createCertificateAuthority, issueCertificate } from '../../../src/tls/certificates.ts';
import { gpuPath, reportBytes } from '../../vectors/nvidia/testdata.ts';
import { gosevguest, vectorPath } from '../../vectors/snp/testdata.ts';
import { SPR_QUOTE, vectorBytes } from '../../vectors/tdx/testdata.ts';
import { createFixture, type Fixture } from './fixture.ts';

/** An evidence request built from real vectors: a Milan report with VCEK, ASK and ARK, or a TDX quote, and `gpus` H100 reports with their chains. */
function realEvidence(gpus: number, platform: 'snp' | 'tdx'): EvidenceRequest {
  const [ask, ark] = readFileSync(vectorPath('roots/ask_ark_milan.pem'), 'utf8')
    .split(/(?=-----BEGIN CERTIFICATE-----)/)
    .map((pem) => new Uint8Array(Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64')));
  const snp = gosevguest();
  const cvm =
    platform === 'snp'
      ? {
          platform,
          report: Buffer.from(snp.report).toString('base64'),
          auxblob: Buffer.from(
            encodeSnpCertTable([
              { kind: 'vcek', der: snp.vcek },
              { kind: 'ask', der: ask! },
              { kind: 'ark', der: ark! },
            ]),
          ).toString('base64'),
        }
      : { platform, report: Buffer.from(vectorBytes(SPR_QUOTE)).toString('base64') };
  const report = Buffer.from(reportBytes('hopper-550/report.hex')).toString('base64');
  const chain = readFileSync(gpuPath('hopper-550/certs.pem'), 'utf8');
  return {
    nonce: 'ab'.repeat(32),
    agentKey: {
      kty: 'EC',
      crv: 'P-256',
      x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU',
      y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0',
    },
    cvm,
    gpus: Array.from({ length: gpus }, (_, i) => ({
      uuid: `GPU-${'0'.repeat(8)}-${'0'.repeat(4)}-${'0'.repeat(4)}-${'0'.repeat(4)}-${String(i).padStart(12, '0')}`,
      report,
      certificateChain: chain,
    })),
  };
}

describe('Coordinator API over HTTPS (curl)', function () {
  this.timeout(120_000);
  let f: Fixture;
  let server: CoordinatorServer;
  let dir: string;
  let caFile: string;
  const authenticated: string[] = [];

  before(async () => {
    f = await createFixture({ requests: { burst: 4, intervalMs: 60_000 } });
    f.addNode('node-a', 8);
    f.addNode('node-b', 8);
    f.addNode('node-c', 8);
    const ca = await createCertificateAuthority('test CA');
    const serving = await issueCertificate(ca, {
      commonName: 'coordinator',
      usage: 'server',
      ipAddresses: ['127.0.0.1'],
    });
    dir = await mkdtemp(join(tmpdir(), 'coordinator-server-'));
    caFile = join(dir, 'ca.crt');
    await writeFile(caFile, ca.certificatePem);
    // Stands in for TokenReview: "Bearer node-x" is node-x's agent.
    const authenticator: Authenticator = {
      authenticate: async (header) => {
        const node = /^Bearer (node-[a-z])$/.exec(header ?? '')?.[1];
        authenticated.push(node ?? 'anonymous');
        return node
          ? { ok: true, username: `agent@${node}`, node }
          : { ok: false, status: 401, reason: 'a bearer token is required' };
      },
    };
    server = await startCoordinatorServer({
      host: '127.0.0.1',
      port: 0,
      tls: { cert: serving.certificatePem, key: serving.privateKeyPem },
      authenticator,
      coordinator: () => f.coordinator,
      log: silentLogger,
    });
  });
  after(async () => {
    await server?.close();
    f?.coordinator.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** curl, with a body from a file; status, headers (lower-case names) and body. */
  async function curl(
    method: 'GET' | 'POST',
    path: string,
    options: { token?: string; body?: string | Buffer } = {},
  ): Promise<{ status: number; headers: Record<string, string>; body: string }> {
    const args = ['-sS', '--cacert', caFile, '-X', method, '-D', '-', '-H', 'content-type: application/json'];
    if (options.token) args.push('-H', `authorization: Bearer ${options.token}`);
    if (options.body !== undefined) {
      const file = join(dir, 'body');
      await writeFile(file, options.body);
      args.push('--data-binary', `@${file}`);
    }
    args.push(`https://127.0.0.1:${server.port}${path}`);
    const out = await new Promise<string>((resolve, reject) =>
      execFile('curl', args, { maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}: ${stderr}`)) : resolve(stdout),
      ),
    );
    const [head, ...rest] = out.split('\r\n\r\n');
    const lines = head!.split('\r\n');
    const headers = Object.fromEntries(
      lines.slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
    );
    return { status: Number(lines[0]!.split(' ')[1]), headers, body: rest.join('\r\n\r\n') };
  }

  it('sizes the evidence limit from real evidence: 8 and 16 H100s with chains fit, with room to spare', () => {
    const sizes = {
      snp8: JSON.stringify(realEvidence(8, 'snp')).length,
      tdx8: JSON.stringify(realEvidence(8, 'tdx')).length,
      snp16: JSON.stringify(realEvidence(16, 'snp')).length,
    };
    assert.ok(sizes.snp8 > 80_000 && sizes.snp8 < 110_000, JSON.stringify(sizes));
    assert.ok(sizes.tdx8 < 110_000, JSON.stringify(sizes));
    assert.ok(sizes.snp16 < MAX_EVIDENCE_BODY_BYTES * 0.75, `16 GPUs: ${sizes.snp16} of ${MAX_EVIDENCE_BODY_BYTES}`);
    assert.ok(MAX_EVIDENCE_BODY_BYTES <= 256 * 1024);
  });

  it('authenticates before it reads the body: an anonymous 1 MiB body is refused with 401, not parsed', async () => {
    const count = authenticated.length;
    const res = await curl('POST', ATTEST_PATH, { body: Buffer.alloc(1 << 20, 0x20) });
    assert.equal(res.status, 401, res.body);
    assert.equal(authenticated.length, count + 1);
  });

  it('reads an authenticated body up to the evidence limit: real 8-GPU evidence is parsed (409: not our nonce), a larger body gets 413', async () => {
    const real = await curl('POST', ATTEST_PATH, { token: 'node-a', body: JSON.stringify(realEvidence(8, 'snp')) });
    assert.equal(real.status, 409, real.body);
    assert.match(JSON.parse(real.body).error, /\[coordinator\.nonce\] unknown nonce/);
    const large = await curl('POST', ATTEST_PATH, {
      token: 'node-a',
      body: JSON.stringify({ ...realEvidence(8, 'snp'), padding: 'x'.repeat(MAX_EVIDENCE_BODY_BYTES) }),
    });
    assert.equal(large.status, 413, large.body);
    const nonce = await curl('POST', NONCE_PATH, {
      token: 'node-a',
      body: JSON.stringify({ padding: 'x'.repeat(4096) }),
    });
    assert.equal(nonce.status, 413, 'a nonce request carries nothing');
  });

  it('answers a malformed body with 400 and the request check', async () => {
    const res = await curl('POST', ATTEST_PATH, { token: 'node-b', body: '{"nonce": ' });
    assert.equal(res.status, 400, res.body);
    assert.match(JSON.parse(res.body).error, /\[coordinator\.request\]/);
    const watch = await curl('GET', `${WATCH_PATH}?manifest=nope`, { token: 'node-b' });
    assert.equal(watch.status, 400, watch.body);
  });

  it('answers a node that asks too often with 429 and Retry-After, and serves the other nodes', async () => {
    const statuses: number[] = [];
    let limited: Awaited<ReturnType<typeof curl>> | undefined;
    for (let i = 0; i < 6; i++) {
      const res = await curl('POST', NONCE_PATH, { token: 'node-c' });
      statuses.push(res.status);
      if (res.status === 429) limited = res;
    }
    assert.deepEqual(statuses, [200, 200, 200, 200, 429, 429]);
    assert.equal(limited!.headers['retry-after'], '60');
    assert.equal((await curl('POST', NONCE_PATH, { token: 'node-b' })).status, 200);
  });
});
