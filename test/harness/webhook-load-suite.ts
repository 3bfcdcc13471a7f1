/**
 * The webhook under sustained load (issue 12, fault 5), as one suite that `npm test` runs for a
 * few seconds (test/cluster/webhook-load.test.ts) and `npm run test:chaos` for a minute
 * (test/chaos/webhook-load.test.ts), asserting the same: the real webhook server (client
 * certificates, informers on the real API server, bound pods read from it) answers every one of
 * `rate` x `seconds` AdmissionReviews, with no error, every request that must be refused refused
 * (no fail-open), every one that must be allowed allowed, and p99 reported.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { KATA_POLICY_ANNOTATION, POLICY_HASH_ANNOTATION } from '../../src/api/aiworker-labels.ts';
import { attestationState } from '../../src/api/node-gating.ts';
import { policyHash } from '../../src/controllers/aiworker/policy.ts';
import { waitFor } from '../../src/dev/wait.ts';
import { silentLogger } from '../../src/observability/log.ts';
import { instrumentedKubeConfig, RestClientMetrics } from '../../src/observability/rest-client-metrics.ts';
import type { RunningOperator } from '../../src/operator/operator.ts';
import { createCertificateAuthority, issueCertificate, type KeyAndCertificate } from '../../src/tls/certificates.ts';
import { DEFAULT_TIMEOUT_SECONDS } from '../../src/webhook/configuration.ts';
import { startWebhookServer, type WebhookServer } from '../../src/webhook/server.ts';
import { type LoadReport, type LoadRequest, runAdmissionLoad } from './admission-load.ts';
import {
  activeManifestHash,
  sharedControlPlane,
  startTestOperator,
  uniqueName,
  writeCurrentAttestation,
} from './cluster.ts';
import { gatingManifest } from './gating.ts';

const GROUP = { group: 'attestor.dev', version: 'v1alpha1' };
const POLICY = 'package agent_policy\ndefault CreateContainerRequest := true\n';
const IMAGE = `registry.example/vllm@sha256:${'ab'.repeat(32)}`;
export const WEBHOOK_LOAD_RATE = 500;

export function describeWebhookLoad(seconds: number): void {
  describe(`admission webhook under sustained load: ${WEBHOOK_LOAD_RATE} requests/s for ${seconds} s`, function () {
    this.timeout(120_000 + seconds * 3000);
    let kc: k8s.KubeConfig;
    let core: k8s.CoreV1Api;
    let custom: k8s.CustomObjectsApi;
    let operator: RunningOperator;
    let server: WebhookServer;
    let ca: KeyAndCertificate;
    let client: KeyAndCertificate;
    let dir: string;
    let manifestHash: string;
    const namespace = uniqueName('webhook-load');
    const manifestName = uniqueName('load');
    const runtimeClass = uniqueName('kata-load');
    const attested = uniqueName('load-attested');
    const unattested = uniqueName('load-unattested');

    before(async () => {
      const cp = await sharedControlPlane();
      kc = cp.kubeConfig();
      core = kc.makeApiClient(k8s.CoreV1Api);
      custom = kc.makeApiClient(k8s.CustomObjectsApi);
      await core.createNamespace({ body: { metadata: { name: namespace } } });
      // The class exists, so that the RuntimeClass admission plugin admits the bound pod.
      await kc
        .makeApiClient(k8s.NodeV1Api)
        .createRuntimeClass({ body: { metadata: { name: runtimeClass }, handler: 'kata' } });
      await custom.createClusterCustomObject({
        ...GROUP,
        plural: 'manifests',
        body: gatingManifest(manifestName, { policy: { name: 'llama', hash: policyHash(POLICY) }, runtimeClass }),
      });
      operator = await startTestOperator(kc);
      manifestHash = await activeManifestHash(operator, manifestName, {
        description: 'load Manifest active with a hash',
      });
      await cp.createGpuNode(attested, { gpus: 2 });
      await writeCurrentAttestation(kc, attested, manifestHash, 2);
      await waitFor(
        () => {
          const na = operator.informers.nodeAttestations.get(attested);
          return na !== undefined && attestationState(na, manifestHash, new Date()).current;
        },
        { description: `${attested} current in the webhook's cache` },
      );
      // The pod the binding requests name: read from the API server on every one of them.
      await core.createNamespacedPod({ namespace, body: pod('bound', { gpus: 1 }) });

      ca = await createCertificateAuthority('load webhook CA');
      const clientCa = await createCertificateAuthority('load webhook client CA');
      client = await issueCertificate(clientCa, { commonName: 'kube-apiserver-webhook-client', usage: 'client' });
      const serving = await issueCertificate(ca, {
        commonName: 'webhook',
        usage: 'server',
        ipAddresses: ['127.0.0.1'],
      });
      dir = mkdtempSync(join(tmpdir(), 'attestor-webhook-load-'));
      writeFileSync(join(dir, 'tls.crt'), serving.certificatePem);
      writeFileSync(join(dir, 'tls.key'), serving.privateKeyPem, { mode: 0o600 });
      writeFileSync(join(dir, 'client-ca.crt'), clientCa.certificatePem);
      server = await startWebhookServer({
        host: '127.0.0.1',
        port: 0,
        tls: { certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key') },
        clientAuth: { caFile: join(dir, 'client-ca.crt') },
        manifests: operator.informers.manifests,
        nodeAttestations: operator.informers.nodeAttestations,
        // As the operator reads them: through its instrumented KubeConfig (one connection pool).
        pods: instrumentedKubeConfig(kc, new RestClientMetrics(new Registry())).makeApiClient(k8s.CoreV1Api),
        log: silentLogger,
      });
    });

    after(async () => {
      await server?.close();
      await operator?.stop();
      await core?.deleteNamespacedPod({ namespace, name: 'bound', gracePeriodSeconds: 0 }).catch(() => undefined);
      await core?.deleteNamespace({ name: namespace }).catch(() => undefined);
      await kc
        ?.makeApiClient(k8s.NodeV1Api)
        .deleteRuntimeClass({ name: runtimeClass })
        .catch(() => undefined);
      await core?.deleteNode({ name: attested }).catch(() => undefined);
      await custom
        ?.deleteClusterCustomObject({ ...GROUP, plural: 'nodeattestations', name: attested })
        .catch(() => undefined);
      await custom
        ?.deleteClusterCustomObject({ ...GROUP, plural: 'manifests', name: manifestName })
        .catch(() => undefined);
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    function pod(name: string, options: { gpus?: number; image?: string; nodeName?: string } = {}): k8s.V1Pod {
      return {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name,
          namespace,
          labels: { app: name },
          annotations: {
            [KATA_POLICY_ANNOTATION]: Buffer.from(POLICY).toString('base64'),
            [POLICY_HASH_ANNOTATION]: policyHash(POLICY),
          },
        },
        spec: {
          schedulerName: 'nonexistent',
          runtimeClassName: runtimeClass,
          containers: [
            {
              name: 'server',
              image: options.image ?? IMAGE,
              ...(options.gpus ? { resources: { limits: { 'nvidia.com/gpu': String(options.gpus) } } } : {}),
            },
          ],
          ...(options.nodeName ? { nodeName: options.nodeName } : {}),
        },
      };
    }
    const podReview = (object: k8s.V1Pod) =>
      JSON.stringify({
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        request: {
          uid: '__UID__',
          kind: { group: '', version: 'v1', kind: 'Pod' },
          resource: { group: '', version: 'v1', resource: 'pods' },
          namespace,
          operation: 'CREATE',
          userInfo: { username: 'alice' },
          object,
        },
      });
    const bindingReview = (node: string) =>
      JSON.stringify({
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        request: {
          uid: '__UID__',
          kind: { group: '', version: 'v1', kind: 'Binding' },
          resource: { group: '', version: 'v1', resource: 'pods' },
          subResource: 'binding',
          name: 'bound',
          namespace,
          operation: 'CREATE',
          userInfo: { username: 'system:kube-scheduler' },
          object: {
            apiVersion: 'v1',
            kind: 'Binding',
            metadata: { name: 'bound', namespace },
            target: { apiVersion: 'v1', kind: 'Node', name: node },
          },
        },
      });
    /** Each webhook that decides, once each way. */
    const requests = (): LoadRequest[] => [
      { label: 'pod meeting the Manifest', path: '/validate-pods', body: podReview(pod('ok')), expectAllowed: true },
      {
        label: 'pod with an unpinned image',
        path: '/validate-pods',
        body: podReview(pod('unpinned', { image: 'registry.example/vllm:latest' })),
        expectAllowed: false,
      },
      {
        label: 'GPU pod on an attested node',
        path: '/validate-gpu-pods',
        body: podReview(pod('on-attested', { gpus: 1, nodeName: attested })),
        expectAllowed: true,
      },
      {
        label: 'GPU pod on an unattested node',
        path: '/validate-gpu-pods',
        body: podReview(pod('on-unattested', { gpus: 1, nodeName: unattested })),
        expectAllowed: false,
      },
      {
        label: 'binding to an attested node',
        path: '/validate-bindings',
        body: bindingReview(attested),
        expectAllowed: true,
      },
      {
        label: 'binding to an unattested node',
        path: '/validate-bindings',
        body: bindingReview(unattested),
        expectAllowed: false,
      },
    ];

    it(`answers all ${WEBHOOK_LOAD_RATE * seconds} reviews with no error and no fail-open, and within the API server's webhook timeout`, async () => {
      const kinds = requests();
      const report: LoadReport = await runAdmissionLoad({
        port: server.port,
        caPem: ca.certificatePem,
        clientCertPem: client.certificatePem,
        clientKeyPem: client.privateKeyPem,
        rate: WEBHOOK_LOAD_RATE,
        seconds,
        requests: kinds,
      });
      const total = WEBHOOK_LOAD_RATE * seconds;
      console.log(
        `      webhook load: ${report.answered}/${report.sent} answered in ${(report.elapsedMs / 1000).toFixed(1)} s ` +
          `(${Math.round(report.answered / (report.elapsedMs / 1000))}/s), p50 ${report.p50Ms.toFixed(1)} ms, ` +
          `p99 ${report.p99Ms.toFixed(1)} ms, max ${report.maxMs.toFixed(1)} ms, errors ${report.errors}, fail-open ${report.failOpen}`,
      );
      assert.equal(report.sent, total);
      assert.deepEqual(report.problems, [], 'no problems');
      assert.equal(report.errors, 0, 'no errors');
      assert.equal(report.failOpen, 0, 'no fail-open');
      assert.equal(report.answered, total);
      // Every kind was asked its share of the cycle, and each was decided its own way every time.
      kinds.forEach((k, i) => {
        const asked = Math.floor(total / kinds.length) + (i < total % kinds.length ? 1 : 0);
        const tally = k.expectAllowed ? report.allowedByLabel : report.refusedByLabel;
        assert.equal(tally[k.label], asked, `${k.label}: ${k.expectAllowed ? 'allowed' : 'refused'} ${asked} times`);
      });
      // Every answer came within the API server's webhook timeout: beyond it the API server
      // refuses the request itself (the webhooks fail closed), which would be an error here.
      assert.ok(report.maxMs < DEFAULT_TIMEOUT_SECONDS * 1000, `slowest answer ${report.maxMs.toFixed(0)} ms`);
    });
  });
}
