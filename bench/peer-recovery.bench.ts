/**
 * Peer recovery between the Coordinator's replicas (node bench/peer-recovery.bench.ts): what a
 * replica's check costs when it holds the leader's identity, and what a whole recovery costs,
 * against the leader's POST /v1/coordinator/attest round trip on the same server, in one run.
 *
 * - attest: POST /v1/coordinator/attest (a fresh simulated SEV-SNP report), the reference.
 * - check: PeerSync.sync on a replica that holds the leader's identity: one nonce call, which
 *   names the identity the leader would hand over; no evidence (the steady state, every 10 s).
 * - recover: PeerSync.sync on a replica with an identity of its own: the nonce, the replica's
 *   report, the leader's appraisal of it, ECDH + HKDF, both CA keys wrapped, the leader's report
 *   over the bundle, then on the replica the chain, both reports appraised, the keys unwrapped and
 *   checked, and the identity adopted. A new replica identity is made before each (not timed).
 *
 * Over the real HTTPS server and PeerClient (keep-alive); the peer token is not reviewed (no API
 * server here: TokenReview is one more round trip to it). COORD_BENCH_CALLS (default 200) calls
 * per row, interleaved; medians. Reports are signed in this process (P-384); on hardware the
 * firmware makes them.
 */

import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import {
  createSimulatedPlatform,
  SIMULATED_COORDINATOR_MEASUREMENT,
  SIMULATED_COORDINATOR_POLICY_HASH,
} from '../src/agent/evidence/simulated.ts';
import type { Manifest } from '../src/api/manifest.ts';
import { manifestHash } from '../src/api/manifest-hash.ts';
import { CoordinatorIdentity } from '../src/coordinator/identity.ts';
import { PeerClient } from '../src/coordinator/peer-client.ts';
import { PeerLeader } from '../src/coordinator/peer-leader.ts';
import { PeerSync } from '../src/coordinator/peer-sync.ts';
import { startCoordinatorServer } from '../src/coordinator/server.ts';
import { simulatedCollateral, simulatedCoordinatorEvidence } from '../src/dev/local-coordinator.ts';
import { silentLogger } from '../src/observability/log.ts';
import { createCertificateAuthority, issueCertificate } from '../src/tls/certificates.ts';
import { coordinatorWithoutAgents } from './lib/coordinator-without-agents.ts';
import { median } from './lib/rate.ts';

const CALLS = Number(process.env.COORD_BENCH_CALLS ?? 200);

const platform = await createSimulatedPlatform();
const manifest: Manifest = {
  apiVersion: 'attestor.dev/v1alpha1',
  kind: 'Manifest',
  metadata: { name: 'bench', creationTimestamp: new Date() },
  spec: {
    referenceValues: {
      snp: [
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
const evidence = simulatedCoordinatorEvidence(platform);

const leaderIdentity = await CoordinatorIdentity.create({
  manifests,
  evidence,
  trust,
  transferable: true,
  log: silentLogger,
});
await leaderIdentity.lead();
if (leaderIdentity.standing?.state !== 'accepted')
  throw new Error(`own evidence not accepted: ${JSON.stringify(leaderIdentity.standing)}`);
const leader = await coordinatorWithoutAgents(manifests, trust);
const peerLeader = new PeerLeader({ identity: leaderIdentity, evidence, trust, log: silentLogger });

const ca = await createCertificateAuthority('bench CA');
const serving = await issueCertificate(ca, { commonName: 'bench', usage: 'server', ipAddresses: ['127.0.0.1'] });
const server = await startCoordinatorServer({
  host: '127.0.0.1',
  port: 0,
  tls: { cert: serving.certificatePem, key: serving.privateKeyPem },
  authenticator: { authenticate: async () => ({ ok: false, status: 401, reason: 'no agents' }) },
  coordinator: () => leader,
  identity: () => leaderIdentity,
  clientAttestRate: { burst: 1_000_000, intervalMs: 1 },
  peers: {
    authenticator: { authenticatePeer: async () => ({ ok: true, username: 'bench', caller: 'bench' }) },
    leader: () => peerLeader,
    rate: { burst: 1_000_000, intervalMs: 1 },
  },
  log: silentLogger,
});
const url = `https://127.0.0.1:${server.port}`;
const client = new PeerClient({ urls: [url], ca: ca.certificatePem, token: async () => 'bench' });
const attestAgent = new Agent({ connect: { ca: ca.certificatePem } });

async function replica(): Promise<PeerSync> {
  const identity = await CoordinatorIdentity.create({
    manifests,
    evidence,
    trust,
    transferable: true,
    log: silentLogger,
  });
  return new PeerSync({ identity, transport: client, evidence, trust, leading: () => false, log: silentLogger });
}
const held = await replica();
if ((await held.sync()).state !== 'synced') throw new Error('the replica did not recover');

async function timed(f: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await f();
  return performance.now() - start;
}

const ms: Record<'attest' | 'check' | 'recover', number[]> = { attest: [], check: [], recover: [] };
for (let i = 0; i < CALLS; i++) {
  ms.attest.push(
    await timed(async () => {
      const res = await request(`${url}/v1/coordinator/attest`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ nonce: randomBytes(32).toString('hex') }),
        dispatcher: attestAgent,
      });
      await res.body.text();
      if (res.statusCode !== 200) throw new Error(`attest: HTTP ${res.statusCode}`);
    }),
  );
  ms.check.push(
    await timed(async () => {
      if ((await held.sync()).state !== 'synced') throw new Error('check: not synced');
    }),
  );
  const fresh = await replica();
  ms.recover.push(
    await timed(async () => {
      const s = await fresh.sync();
      if (s.state !== 'synced') throw new Error(`recover: ${JSON.stringify(s)}`);
    }),
  );
}

const attest = median(ms.attest);
console.log(`${CALLS} calls per row, interleaved; medians`);
console.log('| row | ms per call | ratio to attest |');
console.log('|---|---:|---:|');
for (const [name, values] of Object.entries(ms)) {
  const m = median(values);
  console.log(`| ${name} | ${m.toFixed(2)} | ${(m / attest).toFixed(1)} |`);
}

await client.close();
await attestAgent.close();
await server.close();
leader.close();
