// The Argo CD health checks of charts/attestor/health/, run in gopher-lua (Lua 5.1) as Argo CD
// runs them, on statuses made by the controllers' own status builders (the code that writes them
// in the cluster): Healthy, Progressing and Degraded for each kind; and kstatus as cli-utils
// computes it (what Flux reads) agrees on every one of them.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import type { AIWorker } from '../../../src/api/aiworker.ts';
import type { Manifest, ManifestSpec } from '../../../src/api/manifest.ts';
import type { NodeAttestation, NodeAttestationStatus } from '../../../src/api/node-attestation.ts';
import type { NodeClaims } from '../../../src/attestation/node-appraisal.ts';
import { reason } from '../../../src/attestation/verdict.ts';
import { desiredAIWorkerStatus } from '../../../src/controllers/aiworker/status.ts';
import { desiredManifestStatus } from '../../../src/controllers/manifest/status.ts';
import { activatedStatus, manifestChangedStatus, verdictStatus } from '../../../src/coordinator/status.ts';
import { buildKstatus, kstatus } from '../../harness/kstatus.ts';
import { buildLuaHealth, type Health, LUA_HEALTH_BUILD_TIMEOUT_MS, luaHealth } from '../../harness/lua-health.ts';

/** What kstatus (cli-utils, as Flux computes it) must say where the Argo CD check says this. */
const KSTATUS_OF: Record<string, string> = { Healthy: 'Current', Progressing: 'InProgress', Degraded: 'Failed' };

/**
 * The Argo CD health of an object that has a status, checked against kstatus: the Lua checks and
 * the conditions the controllers write must tell Argo CD and Flux the same thing.
 */
async function judge(script: string, object: { status?: unknown }): Promise<Health> {
  const [health, computed] = await Promise.all([luaHealth(script, object), kstatus(object)]);
  assert.equal(
    computed.status,
    KSTATUS_OF[health.status],
    `kstatus says ${JSON.stringify(computed)}, Argo CD ${JSON.stringify(health)}`,
  );
  return health;
}

const now = new Date('2026-06-01T12:00:00Z');
const HASH = 'ab'.repeat(32);
const MANIFEST = 'charts/attestor/health/manifest.lua';
const AIWORKER = 'charts/attestor/health/aiworker.lua';
const NODE = 'charts/attestor/health/nodeattestation.lua';

describe('Argo CD health checks (gopher-lua)', function () {
  before(async function () {
    this.timeout(2 * LUA_HEALTH_BUILD_TIMEOUT_MS);
    await buildLuaHealth();
    await buildKstatus();
  });

  it('the runner refuses what Argo CD would: a status Argo CD does not know, a script error', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lua-health-'));
    try {
      await writeFile(join(dir, 'fine.lua'), 'return { status = "Fine", message = "" }\n');
      await assert.rejects(luaHealth(join(dir, 'fine.lua'), {}), /status "Fine", which Argo CD does not know/);
      // Lua 5.1 has no integer division operator: a 5.3 idiom fails here as it would in Argo CD.
      await writeFile(join(dir, 'lua53.lua'), 'local x = 7 // 2\nreturn { status = "Healthy", message = "" }\n');
      await assert.rejects(luaHealth(join(dir, 'lua53.lua'), {}), /lua-health/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  describe('Manifest', () => {
    const manifest = (generation = 2): Manifest => ({
      apiVersion: 'attestor.dev/v1alpha1',
      kind: 'Manifest',
      metadata: { name: 'prod', generation },
      spec: { runtimeClasses: ['kata'] } as unknown as ManifestSpec,
    });
    const other = manifest();
    other.metadata = { name: 'next' };
    const withStatus = (m: Manifest, status: Manifest['status']): Manifest => ({ ...m, status });

    it('the active Manifest is Healthy', async () => {
      const m = manifest();
      const health = await judge(
        MANIFEST,
        withStatus(m, desiredManifestStatus(m, { hash: HASH, problems: [], standing: { active: true }, now })),
      );
      assert.deepEqual(health, {
        status: 'Healthy',
        message: 'Active: this is the Manifest the Coordinator appraises evidence against',
      });
    });

    it('a superseded valid Manifest is Healthy; a relaxed one says so', async () => {
      const m = manifest();
      const status = desiredManifestStatus(m, {
        hash: HASH,
        problems: [],
        standing: { active: false, reason: 'Superseded', by: other },
        relaxations: [{ path: 'spec.development.acceptSimulatedEvidence', message: 'accepts simulated evidence' }],
        now,
      });
      const health = await judge(MANIFEST, withStatus(m, status));
      assert.equal(health.status, 'Healthy');
      assert.match(health.message, /^Superseded: .*Manifest next is active \(relaxed: /);
    });

    it('an invalid Manifest, or one its predecessor’s owners did not sign, is Degraded', async () => {
      const m = manifest();
      const invalid = desiredManifestStatus(m, {
        hash: HASH,
        problems: [{ path: 'spec.policies', message: 'is required' }],
        standing: { active: false, reason: 'Invalid' },
        now,
      });
      assert.deepEqual((await judge(MANIFEST, withStatus(m, invalid))).status, 'Degraded');
      const unsigned = desiredManifestStatus(m, {
        hash: HASH,
        problems: [],
        standing: { active: false, reason: 'NotSignedByOwner', by: other, problems: [] },
        now,
      });
      const health = await judge(MANIFEST, withStatus(m, unsigned));
      assert.equal(health.status, 'Degraded');
      assert.match(health.message, /^NotSignedByOwner: /);
    });

    it('is Progressing before the operator wrote a status, and while it has not judged the latest spec', async () => {
      assert.equal((await luaHealth(MANIFEST, manifest())).status, 'Progressing');
      const m = manifest(2);
      const judged = desiredManifestStatus(m, { hash: HASH, problems: [], standing: { active: true }, now });
      const edited = withStatus(manifest(3), judged);
      const health = await judge(MANIFEST, edited);
      assert.equal(health.status, 'Progressing');
      assert.match(health.message, /not judged the latest spec/);
    });
  });

  describe('AIWorker', () => {
    const worker: AIWorker = {
      apiVersion: 'attestor.dev/v1alpha1',
      kind: 'AIWorker',
      metadata: { name: 'llama', namespace: 'ai', generation: 1 },
      spec: {
        image: `registry.example/llm@sha256:${'0'.repeat(64)}`,
        model: 'm',
        replicas: 2,
        runtimeClassName: 'kata',
        policy: { inline: 'p' },
      },
    } as AIWorker;
    const pod = (uid: string): k8s.V1Pod => ({ metadata: { uid }, spec: { nodeName: 'gpu-0', containers: [] } });
    const status = (ready: number, certified: string[], violations = false) =>
      desiredAIWorkerStatus(worker, {
        deployment: { status: { replicas: 2, readyReplicas: ready } },
        pods: [pod('a'), pod('b')],
        nodeLabels: () => undefined,
        certified: new Set(certified),
        policyHash: 'aa'.repeat(32),
        policyError: undefined,
        violations: violations ? [{ reason: 'PolicyNotAllowed', message: 'spec.policy: not allowed by prod' }] : [],
        now,
      });

    it('every replica ready and attested is Healthy', async () => {
      const health = await judge(AIWORKER, { ...worker, status: status(2, ['a', 'b']) });
      assert.deepEqual(health, {
        status: 'Healthy',
        message: 'Available: 2/2 replicas ready, 2 hold a current workload certificate',
      });
    });

    it('ready replicas without workload certificates are Progressing, not Healthy', async () => {
      const health = await judge(AIWORKER, { ...worker, status: status(2, []) });
      assert.equal(health.status, 'Progressing');
      assert.match(health.message, /^AwaitingAttestation: 2\/2 replicas ready, but only 0/);
    });

    it('a worker that breaks the Manifest is Degraded and says why', async () => {
      const health = await judge(AIWORKER, { ...worker, status: status(0, [], true) });
      assert.equal(health.status, 'Degraded');
      assert.match(health.message, /^ManifestViolation: held at 0 replicas.*spec\.policy: not allowed by prod$/);
    });
  });

  describe('NodeAttestation', () => {
    const claims: NodeClaims = {
      cvm: { platform: 'snp', verified: true, reasons: [], details: null },
      gpus: [{ uuid: 'GPU-0', verified: true, measurements: 'matched', reasons: [], details: {} as never }],
    };
    const na = (status?: NodeAttestationStatus): NodeAttestation => ({
      apiVersion: 'attestor.dev/v1alpha1',
      kind: 'NodeAttestation',
      metadata: { name: 'gpu-0', generation: 1 },
      ...(status ? { status: { ...status, observedGeneration: 1 } } : {}),
    });
    const verdict = (accepted: boolean) =>
      verdictStatus(undefined, {
        accepted,
        claims,
        reasons: accepted ? [] : [reason('snp.measurement', 'the measurement is not in the Manifest')],
        manifestHash: HASH,
        simulated: false,
        now,
        expiresAt: new Date('2026-06-01T13:00:00Z'),
      });

    it('attested and activated is Healthy', async () => {
      const health = await judge(NODE, na(activatedStatus(verdict(true), ['GPU-0'], true, now)));
      assert.equal(health.status, 'Healthy');
      assert.match(health.message, /^Attested: CVM and 1 GPUs attested .* expires at 2026-06-01T13:00:00Z$/);
    });

    it('no evidence yet, activation pending, or a new Manifest to attest against is Progressing', async () => {
      assert.equal((await luaHealth(NODE, na())).status, 'Progressing');
      assert.equal((await judge(NODE, na(verdict(true)))).status, 'Progressing');
      const active = activatedStatus(verdict(true), ['GPU-0'], true, now);
      const health = await judge(NODE, na(manifestChangedStatus(active, 'cd'.repeat(32), undefined, now)));
      assert.equal(health.status, 'Progressing');
      assert.match(health.message, /^ManifestChanged: /);
    });

    it('refused evidence is Degraded, with the check that refused it', async () => {
      const health = await judge(NODE, na(verdict(false)));
      assert.equal(health.status, 'Degraded');
      assert.match(health.message, /^EvidenceRefused: \[snp\.measurement\]/);
    });
  });
});
