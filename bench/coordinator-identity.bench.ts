/**
 * The Coordinator proving itself (node bench/coordinator-identity.bench.ts): the round trip of
 * POST /v1/coordinator/attest against a bare HTTPS round trip on the same stack, and a client's
 * whole check (`verifyCoordinator`: fetch, then the Manifest hash, the chain, the CAs and the SNP
 * evidence under the simulated roots) against the same floor.
 *
 * - bare: express over HTTPS (TLS 1.3, express.json with the same body limit), answering a
 *   POSTed nonce with a small JSON object, nothing else: no server can answer faster.
 * - attest: startCoordinatorServer's POST /v1/coordinator/attest on the leader: a fresh simulated
 *   SEV-SNP report whose REPORT_DATA binds the nonce, the latest transition and both CAs, with
 *   the Manifest (canonical JSON), the chain and the CAs.
 * - verify: the client's whole check of such an answer, fetch included.
 *
 * One client over keep-alive HTTPS, requests one after another; the three run interleaved
 * COORD_BENCH_ROUNDS times (default 5) for COORD_BENCH_SECONDS each (default 3); medians.
 * The simulated report is signed in this process (P-384 ECDSA); on hardware the firmware makes
 * it (configfs-tsm), which this machine cannot measure.
 */

import { randomBytes } from 'node:crypto';
import { Agent, createServer, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import express from 'express';
import {
  createSimulatedPlatform,
  SIMULATED_COORDINATOR_MEASUREMENT,
  SIMULATED_COORDINATOR_POLICY_HASH,
  SIMULATED_SNP_MEASUREMENT,
} from '../src/agent/evidence/simulated.ts';
import type { Manifest } from '../src/api/manifest.ts';
import { manifestHash } from '../src/api/manifest-hash.ts';
import { readSimulatedRoots, simulatedRootsFile } from '../src/client/simulated-roots.ts';
import { verifyCoordinator } from '../src/client/verify-coordinator.ts';
import { CoordinatorIdentity } from '../src/coordinator/identity.ts';
import { startCoordinatorServer } from '../src/coordinator/server.ts';
import { simulatedCollateral, simulatedCoordinatorEvidence } from '../src/dev/local-coordinator.ts';
import { silentLogger } from '../src/observability/log.ts';
import { MAX_COORDINATOR_ATTEST_BODY_BYTES } from '../src/protocol/coordinator-attest.ts';
import { createCertificateAuthority, issueCertificate } from '../src/tls/certificates.ts';
import { coordinatorWithoutAgents } from './lib/coordinator-without-agents.ts';
import { median, rateAsync } from './lib/rate.ts';

const SECONDS = Number(process.env.COORD_BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.COORD_BENCH_ROUNDS ?? 5);

const platform = await createSimulatedPlatform();
const manifest: Manifest = {
  apiVersion: 'attestor.dev/v1alpha1',
  kind: 'Manifest',
  metadata: { name: 'bench', creationTimestamp: new Date() },
  spec: {
    referenceValues: {
      snp: [
        {
          role: 'pod',
          measurements: [SIMULATED_SNP_MEASUREMENT],
          minimumTCB: { bootloader: 0, tee: 0, snp: 0, microcode: 0 },
        },
        {
          role: 'coordinator',
          measurements: [SIMULATED_COORDINATOR_MEASUREMENT],
          minimumTCB: { bootloader: 0, tee: 0, snp: 0, microcode: 0 },
        },
      ],
      gpu: { architectures: ['HOPPER'], driverVersions: ['550.90.07'], vbiosVersions: ['96.00.9F.00.01'] },
    },
    policies: [
      { name: 'worker', hash: '0e'.repeat(32) },
      { name: 'coordinator', hash: SIMULATED_COORDINATOR_POLICY_HASH, role: 'coordinator' },
    ],
    runtimeClasses: ['kata'],
    development: { acceptSimulatedEvidence: true },
  },
};
manifest.status = { hash: manifestHash(manifest.spec) };
const manifests = { list: () => [manifest] };
const trust = { production: {}, simulated: platform.trust, simulatedCollateral: simulatedCollateral(platform) };

const identity = await CoordinatorIdentity.create({
  manifests,
  evidence: simulatedCoordinatorEvidence(platform),
  trust,
  log: silentLogger,
});
await identity.settle();
if (identity.standing?.state !== 'accepted')
  throw new Error(`own evidence not accepted: ${JSON.stringify(identity.standing)}`);
const leader = await coordinatorWithoutAgents(manifests, trust);

const ca = await createCertificateAuthority('bench CA');
const serving = await issueCertificate(ca, { commonName: 'bench', usage: 'server', ipAddresses: ['127.0.0.1'] });
const tls = { cert: serving.certificatePem, key: serving.privateKeyPem, minVersion: 'TLSv1.2' as const };

const coordinator = await startCoordinatorServer({
  host: '127.0.0.1',
  port: 0,
  tls,
  authenticator: { authenticate: async () => ({ ok: false, status: 401, reason: 'no agents' }) },
  coordinator: () => leader,
  identity: () => identity,
  clientAttestRate: { burst: 1_000_000, intervalMs: 1 },
  log: silentLogger,
});

// The floor: the same stack answering a nonce with a small object.
const app = express();
app.disable('x-powered-by');
app.post('/bare', express.json({ limit: MAX_COORDINATOR_ATTEST_BODY_BYTES }), (req, res) => {
  res.json({ nonce: req.body?.nonce, ok: true });
});
const bare = createServer(tls, app);
await new Promise<void>((resolve) => bare.listen(0, '127.0.0.1', () => resolve()));
const barePort = (bare.address() as AddressInfo).port;

const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: ca.certificatePem });
function post(port: number, path: string): Promise<number> {
  const body = JSON.stringify({ nonce: randomBytes(32).toString('hex') });
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
        });
        res.on('end', () => (res.statusCode === 200 ? resolve(size) : reject(new Error(`HTTP ${res.statusCode}`))));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const roots = readSimulatedRoots(
  simulatedRootsFile({
    snp: [platform.snp.rootSet],
    tdx: platform.tdx.roots,
    ...(platform.collateral.tdx ? { tdxCollateral: platform.collateral.tdx } : {}),
  }),
);
const url = `https://127.0.0.1:${coordinator.port}`;
const answerBytes = await post(coordinator.port, '/v1/coordinator/attest');

const rows = {
  bare: async () => (await post(barePort, '/bare')) > 0,
  attest: async () => (await post(coordinator.port, '/v1/coordinator/attest')) > 0,
  verify: async () =>
    (await verifyCoordinator({ coordinator: url, manifestHash: manifest.status!.hash!, simulatedRoots: roots }))
      .verified,
};
const results: Record<keyof typeof rows, number[]> = { bare: [], attest: [], verify: [] };
for (let round = 0; round < ROUNDS; round++)
  for (const [name, f] of Object.entries(rows)) results[name as keyof typeof rows].push(await rateAsync(SECONDS, f));

const bareRate = median(results.bare);
console.log(`answer: ${answerBytes} bytes of JSON (SNP report, certificate table, Manifest, chain, two CAs)`);
console.log('| path | per second | ms per call | ratio of time to bare |');
console.log('|---|---:|---:|---:|');
for (const name of Object.keys(rows) as Array<keyof typeof rows>) {
  const r = median(results[name]);
  console.log(`| ${name} | ${r.toFixed(0)} | ${(1000 / r).toFixed(2)} | ${(bareRate / r).toFixed(1)} |`);
}

agent.destroy();
await coordinator.close();
bare.close();
leader.close();
