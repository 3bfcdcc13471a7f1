// The wire protocol both sides share: what the agent encodes, the Coordinator decodes to the same
// evidence, and every malformed part is named before anything is appraised.
import assert from 'node:assert/strict';
import * as jose from 'jose';
import type { NodeEvidence } from '../../../src/attestation/node-appraisal.ts';
import {
  readActivationReport,
  signActivationReport,
  verifyActivationReport,
} from '../../../src/protocol/activation-report.ts';
import {
  decodeEvidenceRequest,
  encodeEvidenceRequest,
  evidenceDigest,
  jwkToSpki,
  MAX_GPUS_PER_REQUEST,
} from '../../../src/protocol/evidence-request.ts';
import { type GrantClaims, grantMismatch } from '../../../src/protocol/grant.ts';
import type { EvidenceRequest } from '../../../src/protocol/messages.ts';

const NONCE = '5a'.repeat(32);
const EVIDENCE: NodeEvidence = {
  cvm: { platform: 'snp', report: new Uint8Array([1, 2, 3, 250]), auxblob: new Uint8Array([9, 8]) },
  gpus: [
    { uuid: 'GPU-0', report: new Uint8Array([4, 5]), certificateChain: '-----BEGIN CERTIFICATE-----\nAA==\n' },
    { uuid: 'GPU-1', report: new Uint8Array([6]), certificateChain: 'pem' },
  ],
};

describe('protocol: the evidence request', () => {
  let key: { privateKey: jose.CryptoKey; publicJwk: Record<string, unknown>; spkiDer: Uint8Array };
  before(async () => {
    const pair = await jose.generateKeyPair('ES256', { extractable: true });
    const spki = await jose.exportSPKI(pair.publicKey);
    key = {
      privateKey: pair.privateKey,
      publicJwk: (await jose.exportJWK(pair.publicKey)) as Record<string, unknown>,
      spkiDer: new Uint8Array(Buffer.from(spki.replace(/-----[^-]+-----|\s/g, ''), 'base64')),
    };
  });
  const request = (): EvidenceRequest => encodeEvidenceRequest(NONCE, key.publicJwk, EVIDENCE);

  it('decodes what the agent encodes to the same evidence, nonce and key', () => {
    const decoded = decodeEvidenceRequest(request());
    assert.ok(!('error' in decoded), JSON.stringify(decoded));
    assert.deepEqual(decoded.evidence, EVIDENCE);
    assert.deepEqual(decoded.nonce, new Uint8Array(Buffer.from(NONCE, 'hex')));
    assert.deepEqual(decoded.agentKey, { kty: 'EC', crv: 'P-256', x: key.publicJwk.x, y: key.publicJwk.y });
    assert.deepEqual(decoded.agentKeySpki, key.spkiDer, 'the SPKI REPORT_DATA binds is the agent key');
    assert.deepEqual(jwkToSpki(key.publicJwk), key.spkiDer);
  });

  it('leaves an empty auxblob out, as no auxblob', () => {
    const encoded = encodeEvidenceRequest(NONCE, key.publicJwk, {
      ...EVIDENCE,
      cvm: { ...EVIDENCE.cvm, auxblob: new Uint8Array() },
    });
    assert.equal('auxblob' in encoded.cvm, false);
  });

  const malformed: Array<[string, (r: EvidenceRequest) => unknown, RegExp]> = [
    ['not an object', () => null, /the body is not an evidence request/],
    ['an upper-case nonce', (r) => ({ ...r, nonce: NONCE.toUpperCase() }), /^nonce:/],
    ['a short nonce', (r) => ({ ...r, nonce: 'ab' }), /^nonce:/],
    ['a private key', (r) => ({ ...r, agentKey: { ...r.agentKey, d: 'secret' } }), /^agentKey: expected a public/],
    ['another curve', (r) => ({ ...r, agentKey: { ...r.agentKey, crv: 'P-384' } }), /^agentKey: expected/],
    ['a point off the curve', (r) => ({ ...r, agentKey: { ...r.agentKey, x: 'AAAA' } }), /not a valid P-256/],
    ['another platform', (r) => ({ ...r, cvm: { ...r.cvm, platform: 'sev' } }), /^cvm:/],
    ['an auxblob that is no string', (r) => ({ ...r, cvm: { ...r.cvm, auxblob: 5 } }), /^cvm:/],
    ['no GPU list', (r) => ({ ...r, gpus: 'none' }), /^gpus: expected a list of at most 16/],
    [
      'too many GPUs',
      (r) => ({ ...r, gpus: Array.from({ length: MAX_GPUS_PER_REQUEST + 1 }, () => r.gpus[0]) }),
      /^gpus: expected a list/,
    ],
    ['a long GPU UUID', (r) => ({ ...r, gpus: [r.gpus[0], { ...r.gpus[1], uuid: 'U'.repeat(65) }] }), /^gpus\[1\]:/],
    ['a GPU without chain', (r) => ({ ...r, gpus: [{ uuid: 'GPU-0', report: 'AA==' }] }), /^gpus\[0\]:/],
  ];
  for (const [what, change, error] of malformed) {
    it(`refuses ${what}, naming the part`, () => {
      const decoded = decodeEvidenceRequest(change(request()) as EvidenceRequest);
      assert.ok('error' in decoded, 'refused');
      assert.match(decoded.error, error);
    });
  }

  it('digests every part of the evidence (the grant names the evidence by it)', () => {
    const digest = evidenceDigest(request());
    assert.match(digest, /^[0-9a-f]{64}$/);
    assert.equal(evidenceDigest(request()), digest, 'deterministic');
    const other = request();
    other.gpus[1]!.report = Buffer.from([7]).toString('base64');
    assert.notEqual(evidenceDigest(other), digest);
    assert.notEqual(evidenceDigest({ ...request(), nonce: 'ff'.repeat(32) }), digest);
  });
});

describe('protocol: the activation report', () => {
  it('is read before it is verified, and verifies only with the key that signed it', async () => {
    const agent = await jose.generateKeyPair('ES256', { extractable: true });
    const stranger = await jose.generateKeyPair('ES256');
    const jws = await signActivationReport({ grant: 'g', gpusReady: true, gpus: ['GPU-0'] }, agent.privateKey);
    assert.deepEqual(readActivationReport(jws), { grant: 'g', gpusReady: true, gpus: ['GPU-0'] });
    assert.equal(jose.decodeProtectedHeader(jws).typ, 'attestor-activation+jws');
    assert.equal(await verifyActivationReport(jws, await jose.exportJWK(agent.publicKey)), true);
    assert.equal(await verifyActivationReport(jws, await jose.exportJWK(stranger.publicKey)), false);
    assert.equal(await verifyActivationReport(jws, { kty: 'EC' }), false, 'an unusable key verifies nothing');
  });

  it('reads a ready state that is not true as false, and GPUs that are not a list as none', async () => {
    const { privateKey } = await jose.generateKeyPair('ES256');
    const odd = await new jose.CompactSign(new TextEncoder().encode(JSON.stringify({ gpusReady: 'yes', gpus: 3 })))
      .setProtectedHeader({ alg: 'ES256' })
      .sign(privateKey);
    assert.deepEqual(readActivationReport(odd), { grant: 'undefined', gpusReady: false, gpus: [] });
  });

  it('names what is wrong with a report that is no JWS or no JSON object', () => {
    assert.deepEqual(readActivationReport('not a jws'), {
      error: 'the activation report is not a compact JWS with a JSON payload',
    });
    const payload = jose.base64url.encode('42');
    assert.deepEqual(readActivationReport(`e30.${payload}.sig`), {
      error: 'the activation report is not a JSON object',
    });
  });
});

describe('protocol: what the agent checks of a verified grant', () => {
  const claims: GrantClaims = {
    iss: 'attestor-coordinator',
    aud: 'attestor-agent',
    sub: 'node-a',
    jti: 'j',
    iat: 0,
    exp: 60,
    gpus: ['GPU-1', 'GPU-0'],
    evidence: 'e'.repeat(64),
    manifest: 'm'.repeat(64),
    cnf: { jkt: 'thumb' },
  };
  const expected = { node: 'node-a', gpus: ['GPU-0', 'GPU-1'], evidence: 'e'.repeat(64), agentKeyThumbprint: 'thumb' };

  it('accepts a grant for its node, its GPUs in any order, its evidence and its key', () => {
    assert.equal(grantMismatch(claims, expected), undefined);
  });

  const cases: Array<[string, Partial<typeof expected>, string]> = [
    ['another node', { node: 'node-b' }, 'the grant is for node node-a'],
    ['fewer GPUs', { gpus: ['GPU-0'] }, 'the grant names GPUs GPU-1,GPU-0, not GPU-0'],
    ['other GPUs', { gpus: ['GPU-0', 'GPU-2'] }, 'the grant names GPUs GPU-1,GPU-0, not GPU-0,GPU-2'],
    ['other evidence', { evidence: 'f'.repeat(64) }, 'the grant was issued for other evidence'],
    ['another key', { agentKeyThumbprint: 'other' }, 'the grant is bound to another key'],
  ];
  for (const [what, change, problem] of cases) {
    it(`refuses a grant for ${what}`, () => {
      assert.equal(grantMismatch(claims, { ...expected, ...change }), problem);
    });
  }
});
