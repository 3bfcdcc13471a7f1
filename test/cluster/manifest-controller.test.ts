// The Manifest controller against the real API server: canonical hash, history of earlier
// hashes, exactly one active Manifest, conditions and events.
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import type { Manifest, ManifestSpec } from '../../src/api/manifest.ts';
import { manifestHash } from '../../src/api/manifest-hash.ts';
import type { ControlPlane } from '../../src/dev/control-plane.ts';
import { waitFor } from '../../src/dev/wait.ts';
import type { RunningOperator } from '../../src/operator/operator.ts';
import { sharedControlPlane, startTestOperator, uniqueName } from '../harness/cluster.ts';
import { buildKstatus, kstatus } from '../harness/kstatus.ts';
import { buildLuaHealth, LUA_HEALTH_BUILD_TIMEOUT_MS, luaHealth } from '../harness/lua-health.ts';

const group = { group: 'attestor.dev', version: 'v1alpha1', plural: 'manifests' };

function spec(measurementByte = 'ab'): ManifestSpec {
  return {
    referenceValues: {
      snp: [
        { measurements: [measurementByte.repeat(48)], minimumTCB: { bootloader: 3, tee: 0, snp: 8, microcode: 115 } },
      ],
      gpu: { architectures: ['HOPPER'], driverVersions: ['550.90.07'], vbiosVersions: ['96.00.9F.00.01'] },
    },
    policies: [{ name: 'p', hash: '0f'.repeat(32) }],
    runtimeClasses: ['kata'],
  };
}

describe('Manifest controller', function () {
  let cp: ControlPlane;
  let custom: k8s.CustomObjectsApi;
  let core: k8s.CoreV1Api;
  let operator: RunningOperator;
  const created: string[] = [];

  before(async function () {
    // Argo CD's health checks (gopher-lua) and kstatus (cli-utils): built on first use (minutes when cold).
    this.timeout(2 * LUA_HEALTH_BUILD_TIMEOUT_MS);
    await buildLuaHealth();
    await buildKstatus();
    cp = await sharedControlPlane();
    custom = cp.kubeConfig().makeApiClient(k8s.CustomObjectsApi);
    core = cp.kubeConfig().makeApiClient(k8s.CoreV1Api);
    operator = await startTestOperator(cp.kubeConfig());
  });
  after(async () => {
    for (const name of created) await custom.deleteClusterCustomObject({ ...group, name }).catch(() => undefined);
    await operator.stop();
  });

  async function create(name: string, body: Partial<ManifestSpec>): Promise<Manifest> {
    created.push(name);
    return (await custom.createClusterCustomObject({
      ...group,
      body: { apiVersion: 'attestor.dev/v1alpha1', kind: 'Manifest', metadata: { name }, spec: body },
    })) as Manifest;
  }
  const get = async (name: string) => (await custom.getClusterCustomObject({ ...group, name })) as Manifest;
  const condition = (m: Manifest, type: string) => m.status?.conditions?.find((c) => c.type === type);

  it('writes the canonical hash of the stored spec and marks the Manifest Valid and Active', async () => {
    const name = uniqueName('first');
    const stored = await create(name, spec());
    const m = await waitFor(
      async () => {
        const current = await get(name);
        return condition(current, 'Active')?.status === 'True' ? current : undefined;
      },
      { description: 'Manifest active' },
    );
    assert.equal(m.status!.hash, manifestHash(stored.spec));
    assert.equal(condition(m, 'Valid')!.status, 'True');
    assert.equal(condition(m, 'Active')!.observedGeneration, m.metadata.generation);
    assert.ok(m.status!.activeSince);
    // kstatus: Ready with observedGeneration, nothing Reconciling or Stalled.
    assert.equal(condition(m, 'Ready')!.status, 'True');
    assert.equal(condition(m, 'Ready')!.reason, 'Active');
    assert.equal(m.status!.observedGeneration, m.metadata.generation);
    assert.equal(condition(m, 'Stalled'), undefined);
    assert.equal((await luaHealth('charts/attestor/health/manifest.lua', m)).status, 'Healthy');
    assert.equal((await kstatus(m)).status, 'Current', 'kstatus (cli-utils) agrees');
  });

  it('keeps earlier hashes in the history when the spec changes', async () => {
    const name = uniqueName('history');
    await create(name, spec('01'));
    const first = await waitFor(async () => (await get(name)).status?.hash, { description: 'first hash' });
    const current = await get(name);
    await custom.replaceClusterCustomObject({ ...group, name, body: { ...current, spec: spec('02') } });
    const second = await waitFor(
      async () => {
        const m = await get(name);
        return m.status?.hash && m.status.hash !== first ? m : undefined;
      },
      { description: 'new hash' },
    );
    assert.deepEqual(
      second.status!.history!.map((h) => [h.hash, h.generation]),
      [[first, 1]],
    );
    assert.equal(second.status!.observedGeneration, 2);
  });

  it('has exactly one active Manifest: the newest valid one; an invalid one never takes over', async () => {
    const older = uniqueName('older');
    const newer = uniqueName('newer');
    await create(older, spec('03'));
    await waitFor(async () => condition(await get(older), 'Active')?.status === 'True', {
      description: 'older active',
    });
    // creationTimestamp has second precision: make sure the newer one is created in a later second
    const olderCreated = new Date((await get(older)).metadata.creationTimestamp!).getTime();
    await waitFor(() => Date.now() >= olderCreated + 1000 || undefined, { timeoutMs: 3000 });
    await create(newer, spec('04'));
    await waitFor(
      async () =>
        condition(await get(newer), 'Active')?.status === 'True' &&
        condition(await get(older), 'Active')?.status === 'False',
      { description: 'newer active, older superseded' },
    );
    const superseded = condition(await get(older), 'Active')!;
    assert.equal(superseded.reason, 'Superseded');
    assert.match(superseded.message, new RegExp(newer));
    assert.equal(condition(await get(older), 'Ready')!.status, 'True', 'a superseded valid Manifest stays Ready');
    const all = ((await custom.listClusterCustomObject(group)) as { items: Manifest[] }).items;
    assert.equal(all.filter((m) => condition(m, 'Active')?.status === 'True').length, 1, 'exactly one active');

    await waitFor(() => Date.now() >= olderCreated + 2000 || undefined, { timeoutMs: 3000 });
    const invalid = uniqueName('invalid');
    const bad = spec('05');
    delete bad.referenceValues.gpu; // allowed by the schema, refused by the controller
    await create(invalid, bad);
    const refused = await waitFor(
      async () => {
        const m = await get(invalid);
        return condition(m, 'Valid')?.status === 'False' ? m : undefined;
      },
      { description: 'invalid Manifest marked' },
    );
    assert.match(condition(refused, 'Valid')!.message, /spec\.referenceValues\.gpu/);
    assert.equal(condition(refused, 'Active')!.reason, 'Invalid');
    assert.equal(condition(refused, 'Ready')!.status, 'False');
    assert.equal(condition(refused, 'Stalled')!.reason, 'InvalidSpec', 'an invalid Manifest is Stalled (kstatus)');
    assert.equal((await luaHealth('charts/attestor/health/manifest.lua', refused)).status, 'Degraded');
    assert.equal(condition(await get(newer), 'Active')!.status, 'True', 'the valid newer one stays active');

    await custom.deleteClusterCustomObject({ ...group, name: newer });
    await waitFor(async () => condition(await get(older), 'Active')?.status === 'True', {
      description: 'fallback to the older one when the active one is deleted',
    });
  });

  it('records Events that say what happened', async () => {
    const name = uniqueName('events');
    await create(name, { ...spec('06'), development: { acceptSimulatedEvidence: true } });
    const events = await waitFor(
      async () => {
        const list = await core.listNamespacedEvent({
          namespace: 'default',
          fieldSelector: `involvedObject.name=${name}`,
        });
        return list.items.some((e) => e.reason === 'SimulatedEvidenceAccepted') ? list.items : undefined;
      },
      { description: 'events for the Manifest' },
    );
    const byReason = new Map(events.map((e) => [e.reason, e]));
    assert.match(byReason.get('Activated')!.message!, /is now active/);
    assert.equal(byReason.get('SimulatedEvidenceAccepted')!.type, 'Warning');
  });
});
