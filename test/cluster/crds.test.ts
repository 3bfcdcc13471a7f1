// biome-ignore-all lint/suspicious/noExplicitAny: this test sends hand-made, partly invalid objects to the API server and reads its raw answers
// The CRD schemas, as the real API server enforces them: bad input is refused with a message
// that names the field; kubectl explain and printer columns work.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import type { ControlPlane } from '../../src/dev/control-plane.ts';
import { apiError, sharedControlPlane, uniqueName, writeCurrentAttestation } from '../harness/cluster.ts';

const hex = (byte: string, n: number) => byte.repeat(n);

function manifest(name: string): any {
  return {
    apiVersion: 'attestor.dev/v1alpha1',
    kind: 'Manifest',
    metadata: { name },
    spec: {
      referenceValues: {
        snp: [
          {
            name: 'genoa',
            measurements: [hex('ab', 48)],
            minimumTCB: { bootloader: 3, tee: 0, snp: 8, microcode: 115 },
            products: ['Genoa'],
          },
        ],
        gpu: { architectures: ['HOPPER'], driverVersions: ['550.90.07'], vbiosVersions: ['96.00.9F.00.01'] },
      },
      policies: [{ name: 'llama', hash: hex('0f', 32) }],
      runtimeClasses: ['kata-qemu-nvidia-gpu-snp'],
    },
  };
}

function aiWorker(name: string): any {
  return {
    apiVersion: 'attestor.dev/v1alpha1',
    kind: 'AIWorker',
    metadata: { name, namespace: 'default' },
    spec: {
      image: `registry.example/vllm@sha256:${hex('a1', 32)}`,
      model: 'm',
      runtimeClassName: 'kata',
      policy: { inline: 'package p' },
    },
  };
}

describe('CRDs on a real API server', function () {
  let cp: ControlPlane;
  let custom: k8s.CustomObjectsApi;
  before(async () => {
    cp = await sharedControlPlane();
    custom = cp.kubeConfig().makeApiClient(k8s.CustomObjectsApi);
  });

  const createManifest = (body: any) =>
    custom.createClusterCustomObject({ group: 'attestor.dev', version: 'v1alpha1', plural: 'manifests', body });
  const createWorker = (body: any) =>
    custom.createNamespacedCustomObject({
      group: 'attestor.dev',
      version: 'v1alpha1',
      plural: 'aiworkers',
      namespace: 'default',
      body,
    });

  async function refused(create: Promise<unknown>, ...fragments: Array<string | RegExp>): Promise<string> {
    try {
      await create;
    } catch (err) {
      const { code, message } = apiError(err);
      assert.equal(code, 422, message);
      for (const f of fragments)
        assert.match(message, typeof f === 'string' ? new RegExp(f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : f);
      return message;
    }
    assert.fail('the API server accepted it');
  }

  it('accepts a valid Manifest and applies the defaults', async () => {
    const name = uniqueName('valid');
    const created = (await createManifest(manifest(name))) as any;
    assert.equal(
      created.spec.attestation?.evidenceMaxAge,
      undefined,
      'no attestation block given: the block is not defaulted',
    );
    const withTiming = manifest(uniqueName('timing'));
    withTiming.spec.attestation = {};
    const defaulted = (await createManifest(withTiming)) as any;
    assert.equal(defaulted.spec.attestation.evidenceMaxAge, '5m');
    assert.equal(defaulted.spec.attestation.reattestationInterval, '1h');
    assert.equal(defaulted.spec.development?.acceptSimulatedEvidence, undefined);
    // Roles default in the code (a node entry, a worker policy), not in the schema: adding the
    // field changed the stored spec, and the hash, of no existing Manifest.
    assert.equal(created.spec.referenceValues.snp[0].role, undefined, 'no role is stored for a CVM entry without one');
    assert.equal(created.spec.policies[0].role, undefined, 'no role is stored for a policy without one');
    for (const n of [name, withTiming.metadata.name])
      await custom.deleteClusterCustomObject({
        group: 'attestor.dev',
        version: 'v1alpha1',
        plural: 'manifests',
        name: n,
      });
  });

  it('stores every SEV-SNP rule field of an snp entry as given: nothing the appraisal reads is pruned', async () => {
    const m = manifest(uniqueName('snp-rules'));
    const entry = {
      ...m.spec.referenceValues.snp[0],
      role: 'pod',
      maximumVMPL: 1,
      minimumGuestABI: '1.51',
      allowSMT: false,
      allowMigrationAgent: true,
      allowCXL: true,
      requireSingleSocket: true,
      requireMemAES256XTS: true,
      requireRAPLDisabled: true,
      requireCiphertextHiding: true,
      requirePageSwapDisabled: true,
      platformInfo: {
        allowSMT: false,
        allowTSME: false,
        allowTIO: false,
        requireECC: true,
        requireRAPLDisabled: true,
        requireCiphertextHiding: true,
        requireAliasCheckComplete: true,
      },
      allowProvisionalFirmware: true,
      minimumFirmware: { major: 1, minor: 55, build: 21 },
      minimumMitigationVector: { launch: '0000000000000001', current: '8000000000000003' },
      idBlock: {
        idKeyDigests: [hex('1d', 48)],
        authorKeyDigests: [hex('a0', 48)],
        familyIds: [hex('01', 16)],
        imageIds: [hex('02', 16)],
        minimumGuestSVN: 4294967295,
      },
    };
    m.spec.referenceValues.snp = [entry];
    const created = (await createManifest(m)) as any;
    assert.deepEqual(created.spec.referenceValues.snp, [entry]);
    await custom.deleteClusterCustomObject({
      group: 'attestor.dev',
      version: 'v1alpha1',
      plural: 'manifests',
      name: m.metadata.name,
    });
  });

  const manifestCases: Array<{ name: string; mutate: (m: any) => void; expect: Array<string | RegExp> }> = [
    {
      name: 'an SNP mitigation vector that is not 16 lower-case hex digits',
      mutate: (m) => (m.spec.referenceValues.snp[0].minimumMitigationVector = { current: 'FF' }),
      expect: ['spec.referenceValues.snp[0].minimumMitigationVector.current'],
    },
    {
      name: 'an SNP minimum firmware without a build',
      mutate: (m) => (m.spec.referenceValues.snp[0].minimumFirmware = { major: 1, minor: 55 }),
      expect: ['spec.referenceValues.snp[0].minimumFirmware.build', 'Required value'],
    },
    {
      name: 'a measurement that is not 48 bytes of hex',
      mutate: (m) => (m.spec.referenceValues.snp[0].measurements = ['abc']),
      expect: ['spec.referenceValues.snp[0].measurements[0]'],
    },
    {
      name: 'upper-case hex in a policy hash',
      mutate: (m) => (m.spec.policies[0].hash = hex('0F', 32)),
      expect: ['spec.policies[0].hash'],
    },
    {
      name: 'a TCB component above 255',
      mutate: (m) => (m.spec.referenceValues.snp[0].minimumTCB.snp = 256),
      expect: ['spec.referenceValues.snp[0].minimumTCB.snp'],
    },
    {
      name: 'a CVM role that does not exist',
      mutate: (m) => (m.spec.referenceValues.snp[0].role = 'gpu'),
      expect: ['spec.referenceValues.snp[0].role', 'Unsupported value'],
    },
    {
      name: 'a workload role that does not exist',
      mutate: (m) => (m.spec.policies[0].role = 'admin'),
      expect: ['spec.policies[0].role', 'Unsupported value'],
    },
    {
      name: 'an unknown product',
      mutate: (m) => (m.spec.referenceValues.snp[0].products = ['Naples']),
      expect: ['spec.referenceValues.snp[0].products[0]', 'Unsupported value'],
    },
    {
      name: 'no CVM reference values',
      mutate: (m) => delete m.spec.referenceValues.snp,
      expect: ['spec.referenceValues', 'at least one CVM platform (snp or tdx) needs reference values'],
    },
    {
      name: 'a GPU architecture that does not exist',
      mutate: (m) => (m.spec.referenceValues.gpu.architectures = ['VOLTA']),
      expect: ['spec.referenceValues.gpu.architectures[0]'],
    },
    {
      name: 'a VBIOS version in the wrong format',
      mutate: (m) => (m.spec.referenceValues.gpu.vbiosVersions = ['96.0.9f']),
      expect: ['spec.referenceValues.gpu.vbiosVersions[0]'],
    },
    {
      name: 'the same policy hash twice',
      mutate: (m) => m.spec.policies.push({ name: 'other', hash: hex('0f', 32) }),
      expect: ['spec.policies', 'each policy hash may be listed only once'],
    },
    { name: 'no runtime classes', mutate: (m) => (m.spec.runtimeClasses = []), expect: ['spec.runtimeClasses'] },
    {
      name: 'a re-attestation interval under 30s',
      mutate: (m) => (m.spec.attestation = { reattestationInterval: '10s' }),
      expect: ['spec.attestation.reattestationInterval', 'must be at least 30s'],
    },
    {
      name: 'evidenceMaxAge above the re-attestation interval',
      mutate: (m) => (m.spec.attestation = { evidenceMaxAge: '2h', reattestationInterval: '1h' }),
      expect: ['spec.attestation.evidenceMaxAge', 'must not exceed reattestationInterval'],
    },
    {
      name: 'a duration that is not one',
      mutate: (m) => (m.spec.attestation = { evidenceMaxAge: 'five minutes' }),
      expect: ['spec.attestation.evidenceMaxAge'],
    },
  ];
  for (const c of manifestCases) {
    it(`refuses a Manifest with ${c.name}, naming the field`, async () => {
      const m = manifest(uniqueName('bad'));
      c.mutate(m);
      await refused(createManifest(m), ...c.expect);
    });
  }

  it('reports every problem of a Manifest at once', async () => {
    const m = manifest(uniqueName('bad'));
    m.spec.referenceValues.snp[0].measurements = ['x'];
    m.spec.policies[0].hash = 'y';
    const message = await refused(createManifest(m));
    assert.match(message, /spec\.referenceValues\.snp\[0\]\.measurements\[0\]/);
    assert.match(message, /spec\.policies\[0\]\.hash/);
  });

  const workerCases: Array<{ name: string; mutate: (w: any) => void; expect: string[] }> = [
    {
      name: 'an image tag instead of a digest',
      mutate: (w) => (w.spec.image = 'registry.example/vllm:latest'),
      expect: ['spec.image', 'must be pinned by digest'],
    },
    {
      name: 'both a ConfigMap and an inline policy',
      mutate: (w) => (w.spec.policy.configMapRef = { name: 'p' }),
      expect: ['spec.policy', 'set exactly one of configMapRef and inline'],
    },
    {
      name: 'no policy at all',
      mutate: (w) => (w.spec.policy = {}),
      expect: ['spec.policy', 'set exactly one of configMapRef and inline'],
    },
    { name: 'zero GPUs per replica', mutate: (w) => (w.spec.gpusPerReplica = 0), expect: ['spec.gpusPerReplica'] },
    { name: 'a port out of range', mutate: (w) => (w.spec.port = 70000), expect: ['spec.port'] },
    {
      name: 'a runtime class that is not a DNS name',
      mutate: (w) => (w.spec.runtimeClassName = 'Kata_QEMU'),
      expect: ['spec.runtimeClassName'],
    },
    { name: 'no model', mutate: (w) => delete w.spec.model, expect: ['spec.model', 'Required value'] },
  ];
  for (const c of workerCases) {
    it(`refuses an AIWorker with ${c.name}, naming the field`, async () => {
      const w = aiWorker(uniqueName('bad'));
      c.mutate(w);
      await refused(createWorker(w), ...c.expect);
    });
  }

  it('accepts a valid AIWorker and defaults replicas, GPUs and port', async () => {
    const name = uniqueName('ok');
    const created = (await createWorker(aiWorker(name))) as any;
    assert.deepEqual([created.spec.replicas, created.spec.gpusPerReplica, created.spec.port], [1, 1, 8000]);
    await custom.deleteNamespacedCustomObject({
      group: 'attestor.dev',
      version: 'v1alpha1',
      plural: 'aiworkers',
      namespace: 'default',
      name,
    });
  });

  it('keeps a NodeAttestation status-only: a spec is pruned, and status cannot be set except through the status subresource', async () => {
    const name = uniqueName('node');
    const body = {
      apiVersion: 'attestor.dev/v1alpha1',
      kind: 'NodeAttestation',
      metadata: { name },
      spec: { attested: true },
      status: { manifestHash: hex('aa', 32) },
    };
    const created = (await custom.createClusterCustomObject({
      group: 'attestor.dev',
      version: 'v1alpha1',
      plural: 'nodeattestations',
      body,
    })) as any;
    assert.deepEqual(created.spec, {});
    assert.equal(created.status, undefined);
    await custom.deleteClusterCustomObject({
      group: 'attestor.dev',
      version: 'v1alpha1',
      plural: 'nodeattestations',
      name,
    });
  });

  it('kubectl explain describes the status fields of every kind, the kstatus conditions included', () => {
    // kubectl wraps descriptions: compare with the whitespace folded.
    const kubectl = (...args: string[]) =>
      execFileSync(join(cp.binDir, 'kubectl'), ['--kubeconfig', cp.kubeconfigPath, ...args], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      }).replace(/\s+/g, ' ');
    for (const kind of ['manifests', 'aiworkers', 'nodeattestations']) {
      assert.match(kubectl('explain', `${kind}.status.observedGeneration`), /DESCRIPTION: The metadata\.generation/);
      const conditions = kubectl('explain', `${kind}.status.conditions`);
      assert.match(conditions, /Ready \(/, `${kind}.status.conditions names Ready`);
      assert.match(conditions, /Stalled \(/, `${kind}.status.conditions names Stalled`);
    }
    assert.match(kubectl('explain', 'nodeattestations.status.expiresAt'), /stops being current/);
    assert.match(kubectl('explain', 'nodeattestations.status.gpus.uuid'), /GPU UUID/);
    assert.match(kubectl('explain', 'aiworkers.status.conditions.status'), /True, False or Unknown/);
    assert.match(kubectl('explain', 'manifests.status.history.generation'), /metadata\.generation that had this hash/);
    assert.match(
      kubectl('explain', 'manifests.spec.policies'),
      /io\.katacontainers\.config\.agent\.policy/,
      'spec.policies names the annotation pods really carry',
    );
  });

  it("kubectl get nodeattestations shows when an attestation expires, not '<invalid>'", async () => {
    const na = uniqueName('expires');
    await writeCurrentAttestation(cp.kubeConfig(), na, hex('ab', 32), 1, 3_600_000);
    const stored = (await custom.getClusterCustomObject({
      group: 'attestor.dev',
      version: 'v1alpha1',
      plural: 'nodeattestations',
      name: na,
    })) as any;
    const out = execFileSync(join(cp.binDir, 'kubectl'), ['--kubeconfig', cp.kubeconfigPath, 'get', 'na', na], {
      encoding: 'utf8',
    });
    const [header, row] = out.trim().split('\n');
    assert.match(header!, /EXPIRES/);
    assert.doesNotMatch(row!, /<invalid>/);
    assert.ok(row!.includes(stored.status.expiresAt), `the row shows ${stored.status.expiresAt}: ${row}`);
    await custom.deleteClusterCustomObject({
      group: 'attestor.dev',
      version: 'v1alpha1',
      plural: 'nodeattestations',
      name: na,
    });
  });

  it('kubectl explain describes the fields, and kubectl get shows the printer columns and short names', async () => {
    const kubectl = (...args: string[]) =>
      execFileSync(join(cp.binDir, 'kubectl'), ['--kubeconfig', cp.kubeconfigPath, ...args], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    assert.match(
      kubectl('explain', 'manifests.spec.referenceValues.snp.minimumTCB'),
      /every component of REPORTED_TCB/,
    );
    assert.match(kubectl('explain', 'aiworkers.spec.image'), /pinned by digest/);
    const name = uniqueName('columns');
    await createManifest(manifest(name));
    assert.match(kubectl('get', 'mf', name), /^NAME\s+ACTIVE\s+REASON\s+VALID\s+HASH\s+RELAXED\s+AGE/);
    const worker = uniqueName('columns');
    await createWorker(aiWorker(worker));
    assert.match(kubectl('get', 'aiw', worker), /^NAME\s+MODEL\s+DESIRED\s+READY\s+ATTESTED\s+STATUS\s+AGE/);
    assert.match(kubectl('get', 'aiw', worker, '-o', 'wide'), /RUNTIME/);
    const na = uniqueName('node');
    await custom.createClusterCustomObject({
      group: 'attestor.dev',
      version: 'v1alpha1',
      plural: 'nodeattestations',
      body: { apiVersion: 'attestor.dev/v1alpha1', kind: 'NodeAttestation', metadata: { name: na } },
    });
    assert.match(kubectl('get', 'na', na), /^NAME\s+ATTESTED\s+GPUS READY\s+PLATFORM\s+REASON\s+EXPIRES\s+AGE/);
    assert.match(kubectl('get', 'attestor'), /manifest\.attestor\.dev\//, 'the attestor category lists all kinds');
    await custom.deleteClusterCustomObject({ group: 'attestor.dev', version: 'v1alpha1', plural: 'manifests', name });
    await custom.deleteNamespacedCustomObject({
      group: 'attestor.dev',
      version: 'v1alpha1',
      plural: 'aiworkers',
      namespace: 'default',
      name: worker,
    });
    await custom.deleteClusterCustomObject({
      group: 'attestor.dev',
      version: 'v1alpha1',
      plural: 'nodeattestations',
      name: na,
    });
  });
});
