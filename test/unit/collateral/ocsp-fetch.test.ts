// GPU revocation in production: the collateral store asks a real OCSP responder (Debian's
// `openssl ocsp`, one per issuing CA, on loopback) about every certificate above the leaf of a
// GPU's device chain and of the RIM signer chain, POSTing a DER OCSPRequest with a nonce to the
// URL in the certificate's Authority Information Access (or, for the GSP BROM certificate, which
// names none, to the configured NVIDIA responder URL). The answers are cached, handed to the
// appraisal as collateral, and checked there: signature, status, freshness and nonce.
import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { appraiseGpu, gpuPolicy } from '../../../src/attestation/nvidia/appraise.ts';
import type { OcspAnswer } from '../../../src/attestation/nvidia/ocsp-answer.ts';
import type { RimInput } from '../../../src/attestation/nvidia/rim-choice.ts';
import { verifyGpu } from '../../../src/attestation/nvidia/verify.ts';
import type { GpuReferenceValues } from '../../../src/attestation/reference-values.ts';
import {
  createGpuSimulator,
  type GpuSimulator,
  type SimulatedGpu,
  type SimulatedIssuer,
} from '../../../src/attestation/sim/gpu.ts';
import { gpuOcsp } from '../../../src/collateral/gpu.ts';
import { prepareCollateral } from '../../../src/collateral/prepare.ts';
import { CollateralStore } from '../../../src/collateral/store.ts';
import { freePorts } from '../../../src/dev/ports.ts';
import { OcspResponder } from '../../harness/ocsp-responder.ts';
import { filesIn, removeDir, tempDir } from './fixtures.ts';

const NONCE = new Uint8Array(32).fill(5);
const REFERENCE: GpuReferenceValues = {
  architectures: ['HOPPER'],
  driverVersions: ['550.90.07'],
  vbiosVersions: ['96.00.9F.00.01'],
};
const HOUR = 3_600_000;

describe('GPU OCSP collateral from a real responder on loopback (openssl ocsp)', function () {
  this.timeout(120_000);
  let sim: GpuSimulator;
  let gpu: SimulatedGpu;
  let rims: RimInput[] | undefined;
  let issuers: SimulatedIssuer[];
  let urls: Map<string, string>;
  let ports: Map<string, number>;
  let dir: string;
  let work: string;
  const responders: OcspResponder[] = [];

  const issuer = (cn: string): SimulatedIssuer => issuers.find((i) => i.subject.includes(`CN=${cn}`))!;
  const PROVISIONER = 'Simulated NVIDIA GH100 Provisioner ICA 1';
  const RIM_ROOT = 'Simulated NVIDIA CoRIM signing Root CA';

  /** Starts the responder of one CA (signing with its own key unless a delegate is given). */
  async function serve(
    cn: string,
    change: { revoked?: Map<string, Date>; signer?: { pem: string; key: string } } = {},
  ): Promise<OcspResponder> {
    const ca = issuer(cn);
    const responder = await OcspResponder.start({
      dir: `${work}/${ports.get(ca.subject)}`,
      caPem: ca.certificatePem,
      signerPem: change.signer?.pem ?? ca.certificatePem,
      signerKeyPem: change.signer?.key ?? ca.privateKeyPem,
      index: ca.issued.map((i) => ({
        ...i,
        ...(change.revoked?.has(i.serial) ? { revokedAt: change.revoked.get(i.serial)! } : {}),
      })),
      port: ports.get(ca.subject)!,
    });
    responders.push(responder);
    return responder;
  }

  /** A responder certificate the RIM root delegates OCSP signing to (id-kp-OCSPSigning), as RFC 6960 allows. */
  async function delegate(cn: string): Promise<{ pem: string; key: string }> {
    const ca = issuer(cn);
    const caKey = await webcrypto.subtle.importKey(
      'pkcs8',
      pemBody(ca.privateKeyPem),
      { name: 'ECDSA', namedCurve: 'P-384' },
      false,
      ['sign'],
    );
    const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, true, [
      'sign',
      'verify',
    ])) as webcrypto.CryptoKeyPair;
    const cert = await x509.X509CertificateGenerator.create(
      {
        serialNumber: '7e01',
        subject: 'CN=Simulated NVIDIA OCSP Responder, O=attestor simulation',
        issuer: ca.subject,
        publicKey: keys.publicKey,
        signingKey: caKey,
        notBefore: new Date('2024-01-01T00:00:00Z'),
        notAfter: new Date('2044-01-01T00:00:00Z'),
        signingAlgorithm: { name: 'ECDSA', hash: 'SHA-384' },
        extensions: [
          new x509.ExtendedKeyUsageExtension(['1.3.6.1.5.5.7.3.9']),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        ],
      },
      webcrypto as never,
    );
    const key = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64');
    return {
      pem: cert.toString('pem'),
      key: `-----BEGIN PRIVATE KEY-----\n${key.replace(/.{64}/g, '$&\n')}\n-----END PRIVATE KEY-----\n`,
    };
  }

  const store = (network: boolean, now = new Date()) =>
    new CollateralStore({
      dir,
      network,
      endpoints: { nvidiaOcsp: urls.get(issuer(PROVISIONER).subject)! },
      now: () => now,
    });
  const anchors = () => ({ device: [sim.roots.device], rim: [sim.roots.rim] });
  const appraise = async (
    answers: readonly (OcspAnswer | Uint8Array)[],
    at = new Date(),
    reference: GpuReferenceValues = REFERENCE,
  ) =>
    appraiseGpu(
      await verifyGpu(
        { report: gpu.report, certificateChain: gpu.certificateChainPem, uuid: 'GPU-0' },
        { at, trust: anchors(), collateral: { rims: rims!, ocsp: answers }, policy: gpuPolicy(reference) },
      ),
      reference,
      { nonce: NONCE },
    );
  const checks = (v: { reasons: readonly { check: string }[] }) => [...new Set(v.reasons.map((r) => r.check))].sort();

  before(async () => {
    // The URLs go into the certificates, so the ports are chosen before the simulator issues them.
    const chosen = await freePorts(5);
    const subjects = [
      'CN=Simulated NVIDIA Device Identity CA, O=attestor simulation',
      'CN=Simulated NVIDIA GH100 Identity, O=attestor simulation',
      `CN=${PROVISIONER}, O=attestor simulation`,
      `CN=${RIM_ROOT}, O=attestor simulation`,
      'CN=Simulated NVIDIA Reference Value GH100 CA, O=attestor simulation',
    ];
    ports = new Map(subjects.map((s, i) => [s, chosen[i]!]));
    urls = new Map(subjects.map((s) => [s, `http://127.0.0.1:${ports.get(s)}/`]));
    // Like NVIDIA's GSP BROM certificate, the one the provisioner issues names no responder.
    sim = await createGpuSimulator({
      ocspUrl: (issuerSubject) => (issuerSubject.includes(PROVISIONER) ? undefined : urls.get(issuerSubject)),
    });
    gpu = await sim.gpu('GPU-0', { nonce: NONCE });
    const r = await sim.rims();
    rims = [
      { xml: r.driver, id: r.driverId },
      { xml: r.vbios, id: r.vbiosId },
    ];
    issuers = await sim.issuers();
    work = tempDir('ocsp-responders');
  });
  beforeEach(() => {
    dir = tempDir('collateral-ocsp');
  });
  afterEach(async () => {
    for (const r of responders.splice(0)) await r.stop();
    removeDir(dir);
  });
  after(() => removeDir(work));

  async function serveAll(change: Parameters<typeof serve>[1] = {}): Promise<void> {
    await serve('Simulated NVIDIA Device Identity CA');
    await serve('Simulated NVIDIA GH100 Identity');
    await serve(PROVISIONER, change);
    await serve(RIM_ROOT, { signer: await delegate(RIM_ROOT) });
    await serve('Simulated NVIDIA Reference Value GH100 CA');
  }

  it('fetches an answer for every certificate above the leaf and of the RIM chain, caches it, and the appraisal accepts them', async () => {
    await serveAll();
    const found = await gpuOcsp(
      store(true),
      [{ uuid: 'GPU-0', certificateChain: gpu.certificateChainPem }],
      rims!,
      anchors(),
    );
    assert.deepEqual(found.notes, []);
    assert.equal(found.answers.length, 5, 'BROM, provisioner and identity; RIM signer and RIM CA');
    assert.ok(
      found.answers.every((a) => a.nonce?.length === 32),
      'each fetched answer carries the nonce its request sent',
    );
    assert.equal(filesIn(dir).filter((f) => /^nvidia\/ocsp\/[0-9a-f]{96}\/[0-9a-f]+\.der$/.test(f)).length, 5);

    const v = await appraise(found.answers);
    assert.deepEqual(v.reasons, []);
    assert.deepEqual(
      v.claims.revocation.map((r) => r.status),
      ['good', 'good', 'good'],
    );
    assert.deepEqual(
      v.claims.rims.driver!.revocation.map((r) => r.status),
      ['good', 'good'],
    );

    // Offline now, the cache answers (without a nonce: judged by thisUpdate/nextUpdate alone).
    for (const r of responders.splice(0)) await r.stop();
    const cached = await gpuOcsp(
      store(false),
      [{ uuid: 'GPU-0', certificateChain: gpu.certificateChainPem }],
      rims!,
      anchors(),
    );
    assert.equal(cached.answers.length, 5);
    assert.ok(cached.answers.every((a) => a.nonce === undefined));
    assert.deepEqual((await appraise(cached.answers)).reasons, []);
  });

  it('goes through prepareCollateral: the prepared collateral carries the answers', async () => {
    await serveAll();
    const evidence = {
      cvm: { platform: 'tdx' as const, report: new Uint8Array(0) },
      gpus: [{ uuid: 'GPU-0', report: gpu.report, certificateChain: gpu.certificateChainPem }],
    };
    const prepared = await prepareCollateral(evidence, store(true), {
      base: { gpu: { rims: rims! } },
      gpuAnchors: anchors(),
    });
    assert.equal(prepared.collateral.gpu?.ocsp?.length, 5, prepared.notes.join('\n'));
    assert.deepEqual((await appraise(prepared.collateral.gpu!.ocsp!)).reasons, []);
  });

  it("refuses a GPU whose GSP BROM certificate the responder says is revoked, unless within the Manifest's grace period", async () => {
    const brom = issuer(PROVISIONER).issued.find((i) => i.subject.includes('GSP BROM'))!;
    await serveAll({ revoked: new Map([[brom.serial, new Date(Date.now() - 2 * HOUR)]]) });
    const found = await gpuOcsp(
      store(true),
      [{ uuid: 'GPU-0', certificateChain: gpu.certificateChainPem }],
      rims!,
      anchors(),
    );
    const refused = await appraise(found.answers);
    assert.deepEqual(checks(refused), ['gpu.ocsp']);
    assert.match(refused.reasons[0]!.message, /"GH100 A01 GSP BROM" was revoked at/);
    assert.deepEqual(
      (await appraise(found.answers, new Date(), { ...REFERENCE, ocsp: { revokedGracePeriodHours: 3 } })).reasons,
      [],
    );
    assert.deepEqual(
      checks(await appraise(found.answers, new Date(), { ...REFERENCE, ocsp: { revokedGracePeriodHours: 1 } })),
      ['gpu.ocsp'],
    );
  });

  it('refuses when a responder does not answer: the lookup says why, and the certificate has no answer', async () => {
    await serve('Simulated NVIDIA Device Identity CA');
    await serve('Simulated NVIDIA GH100 Identity');
    await serve(RIM_ROOT, { signer: await delegate(RIM_ROOT) });
    await serve('Simulated NVIDIA Reference Value GH100 CA');
    const found = await gpuOcsp(
      store(true),
      [{ uuid: 'GPU-0', certificateChain: gpu.certificateChainPem }],
      rims!,
      anchors(),
    );
    assert.equal(found.answers.length, 4);
    assert.equal(found.notes.length, 1);
    assert.match(
      found.notes[0]!,
      /^gpu GPU-0: the NVIDIA OCSP responder did not answer for the OCSP answer for "GH100 A01 GSP BROM"/,
    );
    const v = await appraise(found.answers);
    assert.deepEqual(checks(v), ['gpu.ocsp']);
    assert.match(v.reasons[0]!.message, /no OCSP answer for "GH100 A01 GSP BROM"/);
  });

  it('refuses cached answers once they are stale, when fetching is off', async () => {
    await serveAll();
    await gpuOcsp(store(true), [{ uuid: 'GPU-0', certificateChain: gpu.certificateChainPem }], rims!, anchors());
    for (const r of responders.splice(0)) await r.stop();
    const later = new Date(Date.now() + 2 * 24 * HOUR);
    const stale = await gpuOcsp(
      store(false, later),
      [{ uuid: 'GPU-0', certificateChain: gpu.certificateChainPem }],
      rims!,
      anchors(),
    );
    assert.equal(stale.answers.length, 5);
    assert.ok(
      stale.notes.some((n) => /is stale: its nextUpdate .* has passed; fetching is off/.test(n)),
      stale.notes.join('\n'),
    );
    const v = await appraise(stale.answers, later);
    assert.deepEqual(checks(v), ['gpu.ocsp', 'gpu.rim.ocsp']);
    assert.match(v.reasons[0]!.message, /stale since its nextUpdate/);
  });

  it('refuses answers signed by a responder the issuer did not authorise', async () => {
    await serve('Simulated NVIDIA Device Identity CA');
    await serve('Simulated NVIDIA GH100 Identity');
    await serve(PROVISIONER);
    // The RIM root's responder signs with a certificate another CA issued for OCSP signing.
    await serve(RIM_ROOT, { signer: await delegate('Simulated NVIDIA GH100 Identity') });
    await serve('Simulated NVIDIA Reference Value GH100 CA');
    const found = await gpuOcsp(
      store(true),
      [{ uuid: 'GPU-0', certificateChain: gpu.certificateChainPem }],
      rims!,
      anchors(),
    );
    assert.equal(found.answers.length, 5, 'the store keeps what it cannot judge; the verifier judges');
    const v = await appraise(found.answers);
    assert.deepEqual(checks(v), ['gpu.rim.ocsp']);
    assert.match(
      v.reasons[0]!.message,
      /the OCSP answer for "Simulated NVIDIA Reference Value GH100 CA" is not signed by the issuer "Simulated NVIDIA CoRIM signing Root CA" or a responder it authorised/,
    );
  });

  it('asks nothing about a chain that does not lead to the given roots', async () => {
    const other = await createGpuSimulator();
    const found = await gpuOcsp(store(true), [{ uuid: 'GPU-0', certificateChain: gpu.certificateChainPem }], [], {
      device: [other.roots.device],
    });
    assert.deepEqual(found.answers, []);
    assert.deepEqual(found.notes, ['gpu GPU-0: no OCSP lookups: the device chain does not lead to the pinned roots']);
    assert.deepEqual(filesIn(dir), []);
  });
});

function pemBody(pem: string): ArrayBuffer {
  const b = Buffer.from(pem.replace(/-----[^-]+-----|\s+/g, ''), 'base64');
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}
