// The webhook's HTTPS layer, spoken to directly: only clients with a certificate from the client
// CA get an answer (curl without one, or with one from another CA, fails at the handshake), what
// is not an AdmissionReview gets HTTP 400, an oversized body 413, and whatever cannot be judged
// (caches not synced, the API server out of reach, a request for the wrong resource) is refused,
// never allowed. A new serving certificate or client CA written over the files is used without a
// restart. Informers read the real API server.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import * as k8s from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { createInformers, type Informers } from '../../src/controllers/informers.ts';
import { waitFor } from '../../src/dev/wait.ts';
import { silentLogger } from '../../src/observability/log.ts';
import { createCertificateAuthority, issueCertificate, type KeyAndCertificate } from '../../src/tls/certificates.ts';
import { WebhookMetrics } from '../../src/webhook/metrics.ts';
import type { AdmissionReview } from '../../src/webhook/review.ts';
import { startWebhookServer, type WebhookServer } from '../../src/webhook/server.ts';
import { sharedControlPlane } from '../harness/cluster.ts';

interface Reply {
  status: number;
  body: Record<string, unknown>;
}

/** The client certificate the test presents, as the API server presents its own. */
let client: KeyAndCertificate;

function post(port: number, path: string, body: string, ca: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        ca,
        cert: client.certificatePem,
        key: client.privateKeyPem,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: Record<string, unknown>;
          try {
            body = JSON.parse(text || '{}');
          } catch {
            body = { text }; // express's own 404 page
          }
          resolve({ status: res.statusCode!, body });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The serial number of the certificate the server presents, trusting the given CAs. */
function servedSerial(port: number, ca: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(
      { host: '127.0.0.1', port, ca, cert: client.certificatePem, key: client.privateKeyPem },
      () => {
        const serial = socket.getPeerX509Certificate()!.serialNumber;
        socket.end();
        resolve(serial);
      },
    );
    socket.on('error', reject);
  });
}

const review = (request: Record<string, unknown>) =>
  JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid: 'uid-1', userInfo: { username: 'alice' }, ...request },
  });
const podReview = (object: unknown, resource = 'pods') =>
  review({
    kind: { group: '', version: 'v1', kind: 'Pod' },
    resource: { group: '', version: 'v1', resource },
    namespace: 'default',
    operation: 'CREATE',
    object,
  });
const gpuPod = {
  metadata: { name: 'p' },
  spec: { containers: [{ name: 'c', image: 'x', resources: { limits: { 'nvidia.com/gpu': '1' } } }] },
};

describe('admission webhook server (HTTPS)', function () {
  let informers: Informers;
  let server: WebhookServer;
  let ca: KeyAndCertificate;
  let otherCa: KeyAndCertificate;
  let clientCa: KeyAndCertificate;
  let strangerCa: KeyAndCertificate;
  let dir: string;
  const registry = new Registry();

  before(async function () {
    const cp = await sharedControlPlane();
    informers = createInformers(cp.kubeConfig(), silentLogger);
    informers.manifests.start();
    await informers.manifests.waitForSync();
    // An API server nobody listens on: reading a pod fails like an outage does.
    const dead = new k8s.KubeConfig();
    dead.loadFromOptions({
      clusters: [{ name: 'dead', server: 'https://127.0.0.1:1', skipTLSVerify: true }],
      users: [{ name: 'u' }],
      contexts: [{ name: 'c', cluster: 'dead', user: 'u' }],
      currentContext: 'c',
    });
    ca = await createCertificateAuthority('webhook test CA');
    otherCa = await createCertificateAuthority('rotated webhook CA');
    clientCa = await createCertificateAuthority('webhook client CA');
    strangerCa = await createCertificateAuthority("someone else's CA");
    client = await issueCertificate(clientCa, { commonName: 'kube-apiserver-webhook-client', usage: 'client' });
    const serving = await issueCertificate(ca, { commonName: 'webhook', usage: 'server', ipAddresses: ['127.0.0.1'] });
    dir = mkdtempSync(join(tmpdir(), 'attestor-webhook-server-'));
    writeFileSync(join(dir, 'tls.crt'), serving.certificatePem);
    writeFileSync(join(dir, 'tls.key'), serving.privateKeyPem);
    writeFileSync(join(dir, 'ca.crt'), ca.certificatePem);
    writeFileSync(join(dir, 'client-ca.crt'), clientCa.certificatePem);
    server = await startWebhookServer({
      host: '127.0.0.1',
      port: 0,
      tls: { certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key'), reloadIntervalMs: 200 },
      clientAuth: { caFile: join(dir, 'client-ca.crt') },
      manifests: informers.manifests,
      // Not started yet: the binding webhook must refuse until it has synced.
      nodeAttestations: informers.nodeAttestations,
      pods: dead.makeApiClient(k8s.CoreV1Api),
      log: silentLogger,
      metrics: new WebhookMetrics(registry),
      bodyLimitBytes: 64 * 1024,
    });
  });

  after(async function () {
    await server?.close();
    for (const informer of Object.values(informers ?? {})) await informer.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const pem = () => ca.certificatePem;
  const errors = async (webhook: string) =>
    (await registry.getSingleMetric('attestor_webhook_requests_total')!.get()).values.find(
      (v) => v.labels.webhook === webhook && v.labels.verdict === 'error',
    )?.value ?? 0;

  it('answers HTTP 400 to a body that is not JSON or not an AdmissionReview, and counts an error', async function () {
    const before = await errors('validate-pods');
    assert.equal((await post(server.port, '/validate-pods', '{"apiVersion":', pem())).status, 400);
    const wrong = await post(
      server.port,
      '/validate-pods',
      JSON.stringify({ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: { uid: 'x' } }),
      pem(),
    );
    assert.equal(wrong.status, 400);
    assert.match(String(wrong.body.error), /expected admission\.k8s\.io\/v1 AdmissionReview/);
    assert.equal(await errors('validate-pods'), before + 2);
  });

  it('answers HTTP 413 to a body over the limit', async function () {
    const big = podReview({ ...gpuPod, metadata: { name: 'p', annotations: { padding: 'x'.repeat(100 * 1024) } } });
    assert.equal((await post(server.port, '/validate-pods', big, pem())).status, 413);
  });

  it('refuses a review for a resource the webhook does not judge', async function () {
    const nodeReview = review({
      kind: { group: '', version: 'v1', kind: 'Node' },
      resource: { group: '', version: 'v1', resource: 'nodes' },
      operation: 'UPDATE',
      object: { metadata: { name: 'n' } },
    });
    const reply = await post(server.port, '/validate-pods', nodeReview, pem());
    assert.equal(reply.status, 200);
    const response = (reply.body as unknown as AdmissionReview).response!;
    assert.equal(response.uid, 'uid-1');
    assert.equal(response.allowed, false);
    assert.equal(response.status!.code, 400);
    assert.match(
      response.status!.message,
      /this webhook judges pods pods\/ephemeralcontainers, pods\/status, not nodes/,
    );
  });

  it('has no webhook for nodes any more: the API server judges them (ValidatingAdmissionPolicy)', async function () {
    assert.equal((await post(server.port, '/validate-nodes', review({}), pem())).status, 404);
  });

  it('answers a mutation with a base64 JSON patch', async function () {
    const response = (await post(server.port, '/mutate-pods', podReview(gpuPod), pem())).body
      .response as AdmissionReview['response'];
    assert.equal(response!.allowed, true);
    assert.equal(response!.patchType, 'JSONPatch');
    assert.deepEqual(JSON.parse(Buffer.from(response!.patch!, 'base64').toString()), [
      { op: 'add', path: '/spec/nodeSelector', value: { 'attestor.dev/gpu-attested': 'true' } },
    ]);
  });

  /** curl (a client nobody here wrote) posting the binding review; its exit code and output. Asynchronous: the server runs in this process. */
  const curl = (...auth: string[]) =>
    new Promise<{ status: number | null; out: string }>((resolve, reject) => {
      const child = spawn('curl', [
        '-sS',
        '--max-time',
        '10',
        '--cacert',
        join(dir, 'ca.crt'),
        ...auth,
        '-H',
        'content-type: application/json',
        '--data-binary',
        '@-',
        '-w',
        '\nHTTP %{http_code}',
        `https://127.0.0.1:${server.port}/validate-bindings`,
      ]);
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      child.on('error', reject);
      child.on('close', (status) => resolve({ status, out }));
      child.stdin.end(bindingReview);
    });
  const writeClient = (name: string, credentials: KeyAndCertificate) => {
    writeFileSync(join(dir, `${name}.crt`), credentials.certificatePem);
    writeFileSync(join(dir, `${name}.key`), credentials.privateKeyPem);
    return ['--cert', join(dir, `${name}.crt`), '--key', join(dir, `${name}.key`)];
  };

  it('refuses a client without a certificate at the TLS handshake: no answer, not even whether a pod exists (issue 7 item 17)', async function () {
    const anonymous = await curl();
    assert.notEqual(anonymous.status, 0, anonymous.out);
    assert.doesNotMatch(anonymous.out, /HTTP [1-9]/, 'no HTTP answer at all');
    assert.match(anonymous.out, /certificate required|alert|handshake|SSL|reset/i);
  });

  it('refuses a client certificate from another CA at the TLS handshake', async function () {
    const stranger = await curl(
      ...writeClient(
        'stranger',
        await issueCertificate(strangerCa, { commonName: 'kube-apiserver-webhook-client', usage: 'client' }),
      ),
    );
    assert.notEqual(stranger.status, 0, stranger.out);
    assert.doesNotMatch(stranger.out, /HTTP [1-9]/);
  });

  it('answers a client with a certificate from the client CA', async function () {
    const apiServer = await curl(...writeClient('client', client));
    assert.equal(apiServer.status, 0, apiServer.out);
    assert.match(apiServer.out, /"kind":"AdmissionReview"[\s\S]*HTTP 200$/);
  });

  it('does not serve /metrics on its HTTPS port, even to the API server: metrics are on the probe port only', async function () {
    const metrics = await new Promise<{ status: number | null; out: string }>((resolve, reject) => {
      const child = spawn('curl', [
        '-sS',
        '--max-time',
        '10',
        '--cacert',
        join(dir, 'ca.crt'),
        ...writeClient('client', client),
        '-o',
        '/dev/null',
        '-w',
        'HTTP %{http_code}',
        `https://127.0.0.1:${server.port}/metrics`,
      ]);
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      child.on('error', reject);
      child.on('close', (status) => resolve({ status, out }));
    });
    assert.equal(metrics.status, 0, metrics.out);
    assert.equal(metrics.out, 'HTTP 404');
  });

  it('trusts a new client CA written over the file, without a restart', async function () {
    const rotatedClient = await issueCertificate(strangerCa, {
      commonName: 'kube-apiserver-webhook-client',
      usage: 'client',
    });
    const args = writeClient('rotated', rotatedClient);
    writeFileSync(join(dir, 'client-ca.crt'), strangerCa.certificatePem);
    await waitFor(async () => (await curl(...args)).status === 0, {
      timeoutMs: 10_000,
      description: 'new client CA trusted',
    });
    assert.notEqual((await curl(...writeClient('client', client))).status, 0, 'the old CA is no longer trusted');
    writeFileSync(join(dir, 'client-ca.crt'), clientCa.certificatePem);
    await waitFor(async () => (await curl(...writeClient('client', client))).status === 0, {
      timeoutMs: 10_000,
      description: 'first client CA trusted again',
    });
  });

  const bindingReview = review({
    kind: { group: '', version: 'v1', kind: 'Binding' },
    resource: { group: '', version: 'v1', resource: 'pods' },
    subResource: 'binding',
    namespace: 'default',
    name: 'p',
    operation: 'CREATE',
    object: { metadata: { name: 'p', namespace: 'default' }, target: { kind: 'Node', name: 'gpu-1' } },
  });

  it('refuses bindings until the NodeAttestation cache has synced (and says it is not ready)', async function () {
    assert.equal(server.notReady(), 'NodeAttestation cache not synced');
    const response = (await post(server.port, '/validate-bindings', bindingReview, pem())).body
      .response as AdmissionReview['response'];
    assert.equal(response!.allowed, false);
    assert.equal(response!.status!.code, 503);
    assert.match(response!.status!.message, /not ready: the NodeAttestation cache has not synced yet/);
  });

  it('refuses a GPU pod that names a node until the NodeAttestation cache has synced', async function () {
    const placed = { ...gpuPod, spec: { ...gpuPod.spec, nodeName: 'gpu-1' } };
    const response = (await post(server.port, '/validate-gpu-pods', podReview(placed), pem())).body
      .response as AdmissionReview['response'];
    assert.equal(response!.allowed, false);
    assert.equal(response!.status!.code, 503);
    assert.match(
      response!.status!.message,
      /^attestor validate-gpu-pods: not ready: the NodeAttestation cache has not synced yet/,
    );
  });

  it('refuses a binding when the API server cannot be asked about the pod (fail closed)', async function () {
    informers.nodeAttestations.start();
    await informers.nodeAttestations.waitForSync();
    assert.equal(server.notReady(), undefined);
    const before = await errors('validate-bindings');
    const response = (await post(server.port, '/validate-bindings', bindingReview, pem())).body
      .response as AdmissionReview['response'];
    assert.equal(response!.allowed, false);
    assert.equal(response!.status!.code, 500);
    assert.match(response!.status!.message, /^attestor validate-bindings: internal error: /);
    assert.equal(await errors('validate-bindings'), before + 1);
  });

  it('serves a new certificate written over the files, without a restart', async function () {
    const first = await servedSerial(server.port, [ca.certificatePem]);
    const rotated = await issueCertificate(otherCa, {
      commonName: 'webhook',
      usage: 'server',
      ipAddresses: ['127.0.0.1'],
    });
    writeFileSync(join(dir, 'tls.key'), rotated.privateKeyPem);
    writeFileSync(join(dir, 'tls.crt'), rotated.certificatePem);
    const serial = await waitFor(
      async () => {
        const s = await servedSerial(server.port, [ca.certificatePem, otherCa.certificatePem]);
        return s !== first ? s : undefined;
      },
      { timeoutMs: 10_000, description: 'rotated certificate served' },
    );
    assert.equal(serial, rotated.certificate.serialNumber.toUpperCase());
    // And admission still works over the new certificate.
    assert.equal(
      (
        (await post(server.port, '/mutate-pods', podReview(gpuPod), otherCa.certificatePem)).body.response as {
          allowed: boolean;
        }
      ).allowed,
      true,
    );
    await assert.rejects(servedSerial(server.port, [ca.certificatePem]), /certificate/);
  });

  it('answers liveness on /healthz', async function () {
    const status = await new Promise<number>((resolve, reject) => {
      request(
        {
          host: '127.0.0.1',
          port: server.port,
          path: '/healthz',
          ca: [ca.certificatePem, otherCa.certificatePem],
          cert: client.certificatePem,
          key: client.privateKeyPem,
        },
        (res) => {
          res.resume();
          resolve(res.statusCode!);
        },
      )
        .on('error', reject)
        .end();
    });
    assert.equal(status, 200);
  });
});
